//! Loading and probing (I/O): reads the objects the walk judges and runs the
//! probes the controller would run (its resolver configuration, its HTTP-01
//! self-check, its DNS-01 lookups) into a [`Snapshot`].

use super::*;

// ---------------------------------------------------------------------------
// Loading and probing (I/O)
// ---------------------------------------------------------------------------

/// How `diagnose` looks things up: as the controller would.
#[derive(Debug, Clone)]
pub struct Options {
    /// The controller's DNS-01 lookup settings (`--dns01-recursive-nameservers`, ...).
    pub dns01: crate::dns01::Dns01Config,
    /// The port HTTP-01 probes connect to (80; tests use another).
    pub http01_port: u16,
    /// Where ClusterIssuers keep their Secrets (`--cluster-resource-namespace`).
    pub cluster_resource_namespace: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dns01: Default::default(),
            http01_port: 80,
            cluster_resource_namespace: "cert-manager".into(),
        }
    }
}

pub(super) async fn names<K>(api: Api<K>) -> Vec<String>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.list(&ListParams::default())
        .await
        .map(|l| l.items.iter().map(ResourceExt::name_any).collect())
        .unwrap_or_default()
}

/// The Secrets the issuer and the Challenges' solvers refer to.
pub(super) fn referenced_secrets(s: &Snapshot) -> BTreeSet<(String, String)> {
    let ns = s.secret_namespace();
    let mut set = BTreeSet::new();
    if let Some(i) = &s.issuer {
        for (_, name, _) in issuer_secret_refs(&i.config) {
            set.insert((ns.clone(), name));
        }
    }
    for ch in &s.challenges {
        if let Some(d) = &ch.spec.solver.dns01 {
            for (_, name, _) in provider_secret_refs(d) {
                set.insert((ns.clone(), name));
            }
        }
    }
    set
}

/// The addresses the solver's Ingress or Gateway reports.
pub(super) async fn solver_addresses(client: &kube::Client, ch: &Challenge) -> Vec<String> {
    let ns = ch.namespace().unwrap_or_default();
    let Some(http01) = &ch.spec.solver.http01 else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(ing) = &http01.ingress {
        let name = ing
            .name
            .clone()
            .unwrap_or_else(|| crate::http01::routes::solver_name(ch));
        if let Ok(Some(i)) = Api::<Ingress>::namespaced(client.clone(), &ns)
            .get_opt(&name)
            .await
        {
            for lb in i
                .status
                .and_then(|s| s.load_balancer)
                .and_then(|l| l.ingress)
                .unwrap_or_default()
            {
                out.extend(lb.ip.or(lb.hostname));
            }
        }
    }
    if let Some(route) = &http01.gateway_http_route {
        let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(
            "gateway.networking.k8s.io",
            "v1",
            "Gateway",
        ));
        for parent in route.parent_refs.iter().flatten() {
            let gw_ns = parent.namespace.clone().unwrap_or_else(|| ns.clone());
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &gw_ns, &ar);
            if let Ok(Some(gw)) = api.get_opt(&parent.name).await {
                for a in gw.data["status"]["addresses"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    if let Some(v) = a["value"].as_str() {
                        out.push(v.to_string());
                    }
                }
            }
        }
    }
    out
}

pub(super) async fn dns01_probe(
    resolver: &crate::dns01::resolver::Resolver,
    config: &crate::dns01::Dns01Config,
    ch: &Challenge,
) -> Dns01Probe {
    let record = crate::dns01::challenge_record_name(&ch.spec.dns_name);
    let target = resolver
        .follow_cname(&record)
        .await
        .map_err(|e| e.to_string());
    let lookup_at = target.clone().unwrap_or_else(|_| record.clone());
    let zone = resolver
        .find_zone(&lookup_at)
        .await
        .map_err(|e| e.to_string());
    let servers: Result<Vec<crate::dns01::Nameserver>, String> =
        if config.recursive_nameservers_only {
            Ok(resolver.recursive_nameservers().to_vec())
        } else {
            match &zone {
                Ok(z) => resolver
                    .authoritative_nameservers(z)
                    .await
                    .map(|list| list.into_iter().map(Into::into).collect())
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.clone()),
            }
        };
    let nameservers = match servers {
        Err(e) => Err(e),
        Ok(list) => {
            let answers = futures::future::join_all(list.iter().map(|server| {
                let lookup_at = lookup_at.clone();
                async move {
                    NameserverTxt {
                        server: server.clone(),
                        values: resolver
                            .txt_values(server.clone(), &lookup_at)
                            .await
                            .map_err(|e| e.to_string()),
                    }
                }
            }))
            .await;
            Ok(answers)
        }
    };
    Dns01Probe {
        record,
        target,
        zone,
        nameservers,
        recursive_only: config.recursive_nameservers_only,
    }
}

/// Reads the objects and runs the live probes of the Challenges still pending.
pub async fn load(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    opts: &Options,
) -> Result<Snapshot, CliError> {
    let mut s = Snapshot::new(namespace, name);
    s.cluster_resource_namespace = opts.cluster_resource_namespace.clone();
    let certs: Api<Certificate> = Api::namespaced(client.clone(), namespace);
    let Some(cert) = certs.get_opt(name).await? else {
        s.certificate_names = names(certs).await;
        return Ok(s);
    };
    s.issuer_names = names(Api::<Issuer>::namespaced(client.clone(), namespace)).await;
    s.cluster_issuer_names = names(Api::<ClusterIssuer>::all(client.clone())).await;
    let r = &cert.spec.issuer_ref;
    if r.group_or_default() == crate::api::GROUP {
        s.issuer = match r.kind_or_default() {
            "ClusterIssuer" => Api::<ClusterIssuer>::all(client.clone())
                .get_opt(&r.name)
                .await?
                .map(|i| IssuerFound {
                    kind: "ClusterIssuer".into(),
                    name: i.name_any(),
                    conditions: i.status.and_then(|st| st.conditions).unwrap_or_default(),
                    config: i.spec.config,
                }),
            "Issuer" => Api::<Issuer>::namespaced(client.clone(), namespace)
                .get_opt(&r.name)
                .await?
                .map(|i| IssuerFound {
                    kind: "Issuer".into(),
                    name: i.name_any(),
                    conditions: i.status.and_then(|st| st.conditions).unwrap_or_default(),
                    config: i.spec.config,
                }),
            _ => None,
        };
    }
    if let Some(i) = &s.issuer
        && let Some(v) = &i.config.vault
    {
        let cluster = i.kind == "ClusterIssuer";
        let resource_ns = if cluster {
            s.cluster_resource_namespace.clone()
        } else {
            namespace.to_string()
        };
        let identity =
            crate::issuers::issuer_controller::vault_identity(cluster, &i.name, &resource_ns);
        let probe = match crate::issuers::vault::Vault::connect(
            client,
            &identity,
            v,
            &Default::default(),
            Default::default(),
        )
        .await
        {
            Ok(vault) => vault.verify().await,
            Err(e) => Err(e.to_string()),
        };
        s.vault_probe = Some(probe);
    }
    let (request, order, challenges) = acme_objects(client, namespace, &cert).await?;
    s.request = request;
    s.order = order;
    s.challenges = challenges;
    s.certificate = Some(cert);

    for (ns, secret) in referenced_secrets(&s) {
        let got = Api::<Secret>::namespaced(client.clone(), &ns)
            .get_opt(&secret)
            .await;
        let key = format!("{ns}/{secret}");
        match got {
            Ok(None) => {}
            Ok(Some(sec)) => {
                let mut keys: Vec<String> = sec.data.unwrap_or_default().into_keys().collect();
                keys.extend(sec.string_data.unwrap_or_default().into_keys());
                s.secrets.insert(key, Ok(keys));
            }
            Err(e) => {
                s.secrets.insert(key, Err(e.to_string()));
            }
        }
    }

    let mut about: BTreeSet<(String, String)> = BTreeSet::new();
    about.insert(("Certificate".into(), name.to_string()));
    if let Some(r) = &s.request {
        about.insert(("CertificateRequest".into(), r.name_any()));
    }
    if let Some(o) = &s.order {
        about.insert(("Order".into(), o.name_any()));
    }
    for c in &s.challenges {
        about.insert(("Challenge".into(), c.name_any()));
    }
    let mut events: Vec<Event> = Api::<Event>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    events.sort_by_key(|e| e.last_timestamp.clone().map(|t| t.0));
    s.events = events
        .into_iter()
        .filter_map(|e| {
            let kind = e.involved_object.kind.clone().unwrap_or_default();
            let obj = e.involved_object.name.clone().unwrap_or_default();
            about
                .contains(&(kind.clone(), obj.clone()))
                .then(|| EventInfo {
                    kind,
                    name: obj,
                    type_: e.type_.unwrap_or_default(),
                    reason: e.reason.unwrap_or_default(),
                    message: e.message.unwrap_or_default(),
                })
        })
        .collect();

    // Live probes of the Challenges still pending, as the controller makes them.
    let pending: Vec<&Challenge> = s
        .challenges
        .iter()
        .filter(|c| {
            !c.status
                .as_ref()
                .and_then(|st| st.state)
                .is_some_and(State::is_final)
        })
        .collect();
    let resolver = if pending
        .iter()
        .any(|c| c.spec.type_ == AcmeChallengeType::Dns01)
    {
        Some(crate::dns01::resolver::Resolver::new(&opts.dns01).map_err(|e| e.to_string()))
    } else {
        None
    };
    let http01 = crate::http01::Http01Config {
        self_check_port: opts.http01_port,
        // The HTTP-01 self-check asks plain DNS servers only (no DNS-over-HTTPS).
        self_check_nameservers: opts
            .dns01
            .recursive_nameservers
            .iter()
            .filter_map(crate::dns01::Nameserver::socket_addr)
            .collect(),
        ..Default::default()
    };
    let failed_order = s.order.as_ref().filter(|o| {
        o.status
            .as_ref()
            .and_then(|st| st.state)
            .is_some_and(State::is_failure)
    });
    let solvers = s
        .issuer
        .as_ref()
        .and_then(|i| i.config.acme.as_ref())
        .and_then(|a| a.solvers.clone())
        .unwrap_or_default();
    if let Some(o) = failed_order
        && pending.is_empty()
    {
        let domains: Vec<String> = o
            .spec
            .dns_names
            .iter()
            .flatten()
            .filter(|d| dns01_solver_for(o, &solvers, d).is_some())
            .cloned()
            .collect();
        if !domains.is_empty() {
            match crate::dns01::resolver::Resolver::new(&opts.dns01) {
                Ok(r) => {
                    for d in domains {
                        let record = crate::dns01::challenge_record_name(&d);
                        let target = r.follow_cname(&record).await.map_err(|e| e.to_string());
                        let not_checked = "not checked".to_string();
                        s.domain_probes.insert(
                            d,
                            Dns01Probe {
                                record,
                                target,
                                zone: Err(not_checked.clone()),
                                nameservers: Err(not_checked),
                                recursive_only: opts.dns01.recursive_nameservers_only,
                            },
                        );
                    }
                }
                Err(e) => {
                    for d in domains {
                        let record = crate::dns01::challenge_record_name(&d);
                        let why = format!("cannot make DNS lookups: {e}");
                        s.domain_probes.insert(
                            d,
                            Dns01Probe {
                                record,
                                target: Err(why.clone()),
                                zone: Err(why.clone()),
                                nameservers: Err(why),
                                recursive_only: false,
                            },
                        );
                    }
                }
            }
        }
    }
    let mut probes = BTreeMap::new();
    for ch in pending {
        let probe = match ch.spec.type_ {
            AcmeChallengeType::Http01 => ChallengeProbe::Http01 {
                fetch: crate::http01::self_check::probe(&ch.spec.dns_name, &ch.spec.token, &http01)
                    .await,
                expected_addresses: solver_addresses(client, ch).await,
            },
            AcmeChallengeType::Dns01 => match &resolver {
                Some(Ok(r)) => ChallengeProbe::Dns01(dns01_probe(r, &opts.dns01, ch).await),
                Some(Err(e)) => {
                    ChallengeProbe::Unavailable(format!("cannot make DNS lookups: {e}"))
                }
                None => ChallengeProbe::Unavailable("no resolver".into()),
            },
            AcmeChallengeType::TlsAlpn01 => ChallengeProbe::Unavailable(
                "TLS-ALPN-01 challenges are checked by the controller's self-check only".into(),
            ),
        };
        probes.insert(ch.name_any(), probe);
    }
    s.probes = probes;
    Ok(s)
}

/// Diagnoses a Certificate: loads, probes and judges.
pub async fn certificate(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    opts: &Options,
) -> Result<Report, CliError> {
    let snapshot = load(client, namespace, name, opts).await?;
    Ok(Report::new(&snapshot))
}
