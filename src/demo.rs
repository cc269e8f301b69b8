//! `certgate demo`: the whole job on an embedded local stack. Starts in-process the
//! sandbox API server (with the cert-manager and Gateway API CRDs), an ACME CA that
//! validates challenges for real (`certgate-testca`), and the Cloudflare API with the
//! authoritative DNS server behind it (`certgate-emulators`), and a Vault PKI
//! (`certgate_testca::vault`); runs the controllers against them, applies
//! `examples/` — SelfSigned and CA issuers, an ACME ClusterIssuer with DNS-01 and
//! HTTP-01 solvers picked by selector, a Gateway, a ListenerSet, an Ingress and a
//! Vault Issuer — prints each step as it happens, waits until every Certificate is
//! Ready and shows what was issued.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::api::Certificate;
use crate::api::meta::ConditionStatus;
use crate::controller::{ControllerConfig, RunningControllers};

/// The examples, in the order they are applied.
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "examples/00-namespaces.yaml",
        include_str!("../examples/00-namespaces.yaml"),
    ),
    (
        "examples/01-selfsigned-clusterissuer.yaml",
        include_str!("../examples/01-selfsigned-clusterissuer.yaml"),
    ),
    (
        "examples/02-ca-certificate.yaml",
        include_str!("../examples/02-ca-certificate.yaml"),
    ),
    (
        "examples/03-ca-clusterissuer.yaml",
        include_str!("../examples/03-ca-clusterissuer.yaml"),
    ),
    (
        "examples/04-certificates.yaml",
        include_str!("../examples/04-certificates.yaml"),
    ),
    (
        "examples/05-acme-clusterissuer.yaml",
        include_str!("../examples/05-acme-clusterissuer.yaml"),
    ),
    (
        "examples/06-gateway.yaml",
        include_str!("../examples/06-gateway.yaml"),
    ),
    (
        "examples/07-ingress.yaml",
        include_str!("../examples/07-ingress.yaml"),
    ),
    (
        "examples/08-vault-issuer.yaml",
        include_str!("../examples/08-vault-issuer.yaml"),
    ),
];

/// The released Gateway API v1.6.1 standard-channel CRDs the demo installs (the same
/// files the tests apply).
const GATEWAY_API_CRDS: &[(&str, &str)] = &[
    (
        "gateway.networking.k8s.io_gatewayclasses.yaml",
        include_str!("../tests/gateway-api/gateway.networking.k8s.io_gatewayclasses.yaml"),
    ),
    (
        "gateway.networking.k8s.io_gateways.yaml",
        include_str!("../tests/gateway-api/gateway.networking.k8s.io_gateways.yaml"),
    ),
    (
        "gateway.networking.k8s.io_httproutes.yaml",
        include_str!("../tests/gateway-api/gateway.networking.k8s.io_httproutes.yaml"),
    ),
    (
        "gateway.networking.k8s.io_listenersets.yaml",
        include_str!("../tests/gateway-api/gateway.networking.k8s.io_listenersets.yaml"),
    ),
    (
        "gateway.networking.k8s.io_referencegrants.yaml",
        include_str!("../tests/gateway-api/gateway.networking.k8s.io_referencegrants.yaml"),
    ),
];

/// The zone the demo's names live in, served by the in-process Cloudflare.
const DEMO_ZONE: &str = "demo.example";

/// Why the demo failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("starting the sandbox: {0}")]
    Sandbox(#[from] certgate_sandbox::SandboxError),
    #[error("generating the CRDs: {0}")]
    Crd(#[from] crate::api::crd::CrdError),
    #[error(transparent)]
    Manifest(#[from] crate::manifests::ManifestError),
    #[error("API request failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("starting the in-process Cloudflare API: {0}")]
    Emulator(#[from] certgate_emulators::EmulatorError),
    #[error("the in-process HTTP-01 solver: {0}")]
    Io(#[from] std::io::Error),
    #[error("starting Pebble: {0}")]
    Pebble(String),
    #[error("setting up the in-process Vault: {0}")]
    Vault(String),
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Demo options.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub timeout: Duration,
    pub keep_running: bool,
    pub kubeconfig: Option<std::path::PathBuf>,
    /// The ACME CA to issue from.
    pub ca: DemoCa,
}

/// The ACME CA of the demo (`certgate demo --ca`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DemoCa {
    /// certgate-testca, in this process.
    #[default]
    InProcess,
    /// Let's Encrypt's test CA, `pebble` from PATH (Debian's package, or v2.10).
    Pebble,
}

/// The running CA, kept until the demo ends.
enum RunningCa {
    InProcess(certgate_testca::AcmeMock),
    Pebble(pebble::Pebble),
}

impl RunningCa {
    fn start(
        ca: DemoCa,
        solver: std::net::SocketAddr,
        dns: std::net::SocketAddr,
    ) -> Result<Self, DemoError> {
        Ok(match ca {
            DemoCa::InProcess => {
                let mock = certgate_testca::AcmeMock::start();
                mock.set_validation(certgate_testca::Validation::Real {
                    http01: solver,
                    dns,
                });
                RunningCa::InProcess(mock)
            }
            DemoCa::Pebble => RunningCa::Pebble(pebble::Pebble::start(dns, solver.port())?),
        })
    }

    fn directory_url(&self) -> String {
        match self {
            RunningCa::InProcess(ca) => ca.directory_url(),
            RunningCa::Pebble(p) => p.directory_url.clone(),
        }
    }

    fn ca_bundle_b64(&self) -> String {
        match self {
            RunningCa::InProcess(ca) => ca.ca_bundle_b64(),
            RunningCa::Pebble(p) => p.ca_bundle_b64.clone(),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            RunningCa::InProcess(_) => "in-process ACME CA",
            RunningCa::Pebble(_) => "Pebble",
        }
    }
}

fn ready_of(c: &Certificate) -> Option<(ConditionStatus, String)> {
    let cond = c
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")?;
    Some((cond.status, cond.message.clone().unwrap_or_default()))
}

fn status_word(s: Option<ConditionStatus>) -> &'static str {
    match s {
        Some(ConditionStatus::True) => "True",
        Some(ConditionStatus::False) => "False",
        Some(ConditionStatus::Unknown) => "Unknown",
        None => "",
    }
}

/// Points the ACME ClusterIssuers of the examples at the in-process CA.
fn point_at_ca(doc: &mut serde_json::Value, directory: &str, ca_bundle: &str) {
    if doc["kind"] == "ClusterIssuer" && doc["spec"]["acme"].is_object() {
        doc["spec"]["acme"]["server"] = serde_json::json!(directory);
        doc["spec"]["acme"]["caBundle"] = serde_json::json!(ca_bundle);
    }
}

/// Points the Vault Issuer of the examples at the in-process Vault, and its token
/// Secret at a token that Vault knows.
fn point_at_vault(
    doc: &mut serde_json::Value,
    vault: &certgate_testca::vault::VaultEmulator,
    token: &str,
) {
    if doc["kind"] == "Issuer" && doc["spec"]["vault"].is_object() {
        doc["spec"]["vault"]["server"] = serde_json::json!(vault.base_url());
        doc["spec"]["vault"]["caBundle"] = serde_json::json!(vault.ca_bundle_b64());
    }
    if doc["kind"] == "Secret" && doc["metadata"]["name"] == "vault-token" {
        doc["stringData"]["token"] = serde_json::json!(token);
    }
}

/// An in-process Vault with the PKI mount and role the Vault example names.
fn start_vault() -> Result<(certgate_testca::vault::VaultEmulator, String), DemoError> {
    use certgate_testca::vault::{RoleConfig, VaultEmulator};
    let err = |e: certgate_testca::vault::VaultError| DemoError::Vault(e.to_string());
    let vault = VaultEmulator::start();
    vault.add_pki_mount(None, "pki_int").map_err(err)?;
    vault
        .add_role(
            None,
            "pki_int",
            "demo",
            RoleConfig {
                allowed_domains: vec!["demo.example".into()],
                allow_subdomains: true,
                require_cn: false,
                max_ttl: Duration::from_secs(30 * 24 * 3600),
                ..RoleConfig::default()
            },
        )
        .map_err(err)?;
    let token = vault.create_token(None, &["pki"], Duration::from_secs(3600), true);
    Ok((vault, token))
}

/// A free port on 127.0.0.1 for the HTTP-01 solver.
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

/// Runs the demo; true when every Certificate became Ready.
pub async fn run(opts: DemoOptions, out: &mut (dyn Write + Send)) -> Result<bool, DemoError> {
    let started = Instant::now();
    let sandbox =
        certgate_sandbox::Sandbox::start(certgate_sandbox::SandboxOptions::default()).await?;
    let mut crds: Vec<serde_json::Value> = crate::api::crd::all()?
        .into_iter()
        .map(|c| c.json)
        .collect();
    for (file, text) in GATEWAY_API_CRDS {
        crds.extend(crate::manifests::parse_documents(file, text)?);
    }
    sandbox.install_crds(&crds)?;
    let client = sandbox.client().await?;
    let _ = writeln!(
        out,
        "sandbox API server at {} with the cert-manager and Gateway API v1.6.1 CRDs",
        sandbox.https_url
    );

    // The outside world, in-process: Cloudflare with its DNS, and an ACME CA that
    // checks HTTP-01 answers at the solver and DNS-01 records at that DNS server.
    let cloudflare =
        certgate_emulators::cloudflare::CloudflareEmulator::start(&[DEMO_ZONE]).await?;
    let dns = cloudflare.dns_addr();
    let solver_port = free_port()?;
    let solver = std::net::SocketAddr::from(([127, 0, 0, 1], solver_port));
    let ca = RunningCa::start(opts.ca, solver, dns)?;
    let _ = writeln!(
        out,
        "{} at {} (validates HTTP-01 at {solver}, DNS-01 at {dns}); Cloudflare API at {} for zone {DEMO_ZONE}",
        ca.name(),
        ca.directory_url(),
        cloudflare.api_url()
    );

    let (vault, vault_token) = start_vault()?;
    let _ = writeln!(
        out,
        "Vault (PKI mount pki_int, role demo) at {}",
        vault.base_url()
    );

    let mut acme = crate::controller::AcmeSettings::default();
    acme.dns01.recursive_nameservers = vec![dns.into()];
    acme.dns01.authoritative_port = dns.port();
    acme.dns01.poll_period = Duration::from_millis(250);
    acme.dns01.api_endpoints.cloudflare = Some(cloudflare.api_url());
    acme.http01.self_check_port = solver_port;
    acme.http01.self_check_nameservers = vec![dns];
    acme.http01_solver_listen = Some(solver);
    let config = ControllerConfig {
        cluster_resource_namespace: "cert-manager".into(),
        acme,
        ..Default::default()
    };
    let controllers = RunningControllers::start(client.clone(), config);
    // The steps, as the watches see them, timed when they arrive.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watching = tokio::spawn({
        use futures::StreamExt;
        let mut lines = Box::pin(progress::Steps::lines(&client));
        async move {
            while let Some(line) = lines.next().await {
                if tx.send((started.elapsed(), line)).is_err() {
                    break;
                }
            }
        }
    });
    let mut print_steps = |out: &mut (dyn Write + Send)| {
        while let Ok((at, line)) = rx.try_recv() {
            let _ = writeln!(out, "{:>6.2}s  {line}", at.as_secs_f64());
        }
    };
    for (file, text) in EXAMPLES {
        let mut docs = crate::manifests::parse_documents(file, text)?;
        for d in &mut docs {
            point_at_ca(d, &ca.directory_url(), &ca.ca_bundle_b64());
            point_at_vault(d, &vault, &vault_token);
        }
        let applied = crate::manifests::apply(&client, file, &docs, "certgate-demo").await?;
        let _ = writeln!(out, "applied {file}: {}", applied.join(", "));
    }
    let _ = writeln!(out);

    let certs: Api<Certificate> = Api::all(client.clone());
    let deadline = Instant::now() + opts.timeout;
    let all_ready = loop {
        print_steps(out);
        let list = certs.list(&ListParams::default()).await?.items;
        let ready = list
            .iter()
            .filter(|c| ready_of(c).is_some_and(|(s, _)| s == ConditionStatus::True))
            .count();
        // The Gateway, ListenerSet and Ingress make 3 more Certificates than the 5 of
        // the SelfSigned/CA/Vault examples: wait until they exist too.
        if list.len() >= 8 && ready == list.len() {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The last steps (the final Ready) may still be on their way.
    tokio::time::sleep(Duration::from_millis(100)).await;
    print_steps(out);
    watching.abort();
    let list = certs.list(&ListParams::default()).await?.items;
    let _ = writeln!(
        out,
        "\n{:<14} {:<14} {:<6} {:<16} STATUS",
        "NAMESPACE", "NAME", "READY", "SECRET"
    );
    for c in &list {
        let (status, message) = ready_of(c)
            .map(|(s, m)| (Some(s), m))
            .unwrap_or((None, String::new()));
        let _ = writeln!(
            out,
            "{:<14} {:<14} {:<6} {:<16} {}",
            c.metadata.namespace.as_deref().unwrap_or_default(),
            c.metadata.name.as_deref().unwrap_or_default(),
            status_word(status),
            c.spec.secret_name,
            message
        );
    }
    let _ = writeln!(out);
    for c in &list {
        let ns = c.metadata.namespace.clone().unwrap_or_default();
        let secret = Api::<Secret>::namespaced(client.clone(), &ns)
            .get_opt(&c.spec.secret_name)
            .await?;
        let Some(pem) = secret
            .and_then(|s| s.data)
            .and_then(|d| d.get("tls.crt").cloned())
        else {
            continue;
        };
        let _ = writeln!(
            out,
            "{ns}/{}: {}",
            c.spec.secret_name,
            describe_certificate(&pem.0)
        );
    }
    let _ = writeln!(
        out,
        "\n{} of {} Certificates Ready in {:.1}s",
        list.iter()
            .filter(|c| ready_of(c).is_some_and(|(s, _)| s == ConditionStatus::True))
            .count(),
        list.len(),
        started.elapsed().as_secs_f64()
    );
    if opts.keep_running {
        let path = opts
            .kubeconfig
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("certgate-demo.kubeconfig"));
        sandbox.write_kubeconfig(&path)?;
        let p = path.display();
        let _ = writeln!(
            out,
            "\nkubeconfig: {p}. Try:\n  KUBECONFIG={p} kubectl get certificate,certificaterequest,order,challenge -A\n  KUBECONFIG={p} certgate status certificate apps-tls -n demo\n  KUBECONFIG={p} certgate inspect secret apps-tls -n demo\nCtrl-C to stop"
        );
        let _ = tokio::signal::ctrl_c().await;
    }
    controllers.stop().await;
    drop(Arc::new(sandbox));
    Ok(all_ready)
}

/// Subject, SANs and notAfter of the first certificate in a PEM bundle.
pub fn describe_certificate(pem: &[u8]) -> String {
    let Ok((_, parsed)) = x509_parser::pem::parse_x509_pem(pem) else {
        return "not a PEM certificate".into();
    };
    let Ok(cert) = parsed.parse_x509() else {
        return "not a certificate".into();
    };
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for n in &ext.value.general_names {
            sans.push(match n {
                x509_parser::extensions::GeneralName::DNSName(d) => format!("DNS:{d}"),
                x509_parser::extensions::GeneralName::IPAddress(b) => match b.len() {
                    4 => format!("IP:{}", std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3])),
                    16 => {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(b);
                        format!("IP:{}", std::net::Ipv6Addr::from(a))
                    }
                    _ => "IP:?".into(),
                },
                x509_parser::extensions::GeneralName::URI(u) => format!("URI:{u}"),
                x509_parser::extensions::GeneralName::RFC822Name(e) => format!("email:{e}"),
                other => format!("{other:?}"),
            });
        }
    }
    format!(
        "subject \"{}\", SANs [{}], notAfter {}",
        cert.subject(),
        sans.join(", "),
        jiff::Timestamp::from_second(cert.validity().not_after.timestamp())
            .map(|t| t.to_string())
            .unwrap_or_else(|_| "?".into())
    )
}

/// The steps of each issuance as they happen, read from the API: a line whenever a
/// Certificate, CertificateRequest, Order or Challenge appears or changes state.
mod progress {
    use super::*;
    use crate::api::{CertificateRequest, Challenge, Order};
    use kube::ResourceExt;
    use std::collections::BTreeMap;

    /// What was last said of each object.
    #[derive(Default)]
    pub struct Steps {
        seen: BTreeMap<String, String>,
    }

    fn key<K: ResourceExt>(kind: &str, o: &K) -> String {
        format!(
            "{kind} {}/{}",
            o.namespace().unwrap_or_default(),
            o.name_any()
        )
    }

    /// `reason: message` of a condition.
    fn said(reason: Option<&String>, message: Option<&String>) -> String {
        let (r, m) = (
            reason.cloned().unwrap_or_default(),
            message.cloned().unwrap_or_default(),
        );
        if m.is_empty() { r } else { format!("{r}: {m}") }
    }

    fn certificate(c: &Certificate) -> String {
        let sans = c.spec.dns_names.clone().unwrap_or_default().join(", ");
        let state = match ready_of(c) {
            Some((ConditionStatus::True, _)) => {
                format!("Ready, Secret {} written", c.spec.secret_name)
            }
            _ => c
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .and_then(|cs| cs.iter().find(|c| c.type_ == "Issuing"))
                .map(|c| format!("Issuing ({})", said(c.reason.as_ref(), None)))
                .or_else(|| {
                    let revision = c.status.as_ref()?.revision?;
                    Some(format!("issued (revision {revision})"))
                })
                .unwrap_or_else(|| "created".into()),
        };
        if sans.is_empty() {
            state
        } else {
            format!("[{sans}] {state}")
        }
    }

    fn request(r: &CertificateRequest) -> String {
        r.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
            .map(|c| said(c.reason.as_ref(), c.message.as_ref()))
            .unwrap_or_else(|| "created".into())
    }

    fn order(o: &Order) -> String {
        o.status
            .as_ref()
            .and_then(|s| s.state)
            .map(|s| format!("{s:?}").to_lowercase())
            .unwrap_or_else(|| "created".into())
    }

    fn challenge(ch: &Challenge) -> String {
        let st = ch.status.as_ref();
        let state = st
            .and_then(|s| s.state)
            .map(|s| format!("{s:?}").to_lowercase());
        match (state.as_deref(), st.and_then(|s| s.presented)) {
            (Some(s), _) if s != "pending" => s.to_string(),
            (_, Some(true)) => "presented, checking propagation".into(),
            _ => "created".into(),
        }
    }

    impl Steps {
        /// What changed: a line when an object appears or changes state. Watches see
        /// every state, even one that lasts a few milliseconds.
        pub fn lines(
            client: &kube::Client,
        ) -> impl futures::Stream<Item = String> + Send + 'static {
            use futures::{StreamExt, TryStreamExt};
            use kube::runtime::{WatchStreamExt, watcher};
            let cfg = || watcher::Config::default();
            let states = futures::stream::select_all(vec![
                watcher(Api::<Certificate>::all(client.clone()), cfg())
                    .applied_objects()
                    .map_ok(|c| (key("Certificate", &c), certificate(&c)))
                    .boxed(),
                watcher(Api::<CertificateRequest>::all(client.clone()), cfg())
                    .applied_objects()
                    .map_ok(|r| (key("CertificateRequest", &r), request(&r)))
                    .boxed(),
                watcher(Api::<Order>::all(client.clone()), cfg())
                    .applied_objects()
                    .map_ok(|o| (key("Order", &o), order(&o)))
                    .boxed(),
                watcher(Api::<Challenge>::all(client.clone()), cfg())
                    .applied_objects()
                    .map_ok(|ch| {
                        let wildcard = if ch.spec.wildcard == Some(true) {
                            "*."
                        } else {
                            ""
                        };
                        let kind = ch.spec.type_.as_str();
                        let what = format!(
                            "{} ({kind} for {wildcard}{})",
                            key("Challenge", &ch),
                            ch.spec.dns_name
                        );
                        (what, challenge(&ch))
                    })
                    .boxed(),
            ]);
            let mut steps = Steps::default();
            states.filter_map(move |item| {
                let line = match item {
                    Ok((k, state)) if steps.seen.get(&k) != Some(&state) => {
                        let line = format!("{k}: {state}");
                        steps.seen.insert(k, state);
                        Some(line)
                    }
                    _ => None,
                };
                futures::future::ready(line)
            })
        }
    }
}

/// Pebble (`certgate demo --ca pebble`): Let's Encrypt's test CA as a child process on
/// 127.0.0.1, with an HTTPS certificate from a CA made here, resolving names at the
/// demo's DNS server and checking HTTP-01 at the solver's port.
mod pebble {
    use super::DemoError;
    use base64::Engine;
    use std::net::SocketAddr;
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    pub struct Pebble {
        child: Child,
        dir: PathBuf,
        pub directory_url: String,
        pub ca_bundle_b64: String,
    }

    impl Drop for Pebble {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn err(what: &str, e: impl std::fmt::Display) -> DemoError {
        DemoError::Pebble(format!("{what}: {e}"))
    }

    impl Pebble {
        pub fn start(dns: SocketAddr, http_port: u16) -> Result<Pebble, DemoError> {
            let dir =
                std::env::temp_dir().join(format!("certgate-demo-pebble-{}", std::process::id()));
            std::fs::create_dir_all(&dir).map_err(|e| err("creating its directory", e))?;
            // Its HTTPS certificate, from a CA of our own that the issuer trusts.
            let ca_key = rcgen::KeyPair::generate().map_err(|e| err("a key", e))?;
            let mut ca_params =
                rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| err("CA", e))?;
            ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            ca_params
                .distinguished_name
                .push(rcgen::DnType::CommonName, "certgate demo Pebble TLS CA");
            let ca_cert = ca_params.self_signed(&ca_key).map_err(|e| err("CA", e))?;
            let key = rcgen::KeyPair::generate().map_err(|e| err("a key", e))?;
            let params = rcgen::CertificateParams::new(vec![
                "localhost".to_string(),
                "127.0.0.1".to_string(),
            ])
            .map_err(|e| err("certificate", e))?;
            let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
            let cert = params
                .signed_by(&key, &issuer)
                .map_err(|e| err("certificate", e))?;
            std::fs::write(dir.join("cert.pem"), cert.pem()).map_err(|e| err("cert.pem", e))?;
            std::fs::write(dir.join("key.pem"), key.serialize_pem())
                .map_err(|e| err("key.pem", e))?;
            let port = super::free_port()?;
            let config = serde_json::json!({"pebble": {
                "listenAddress": format!("127.0.0.1:{port}"),
                "managementListenAddress": format!("127.0.0.1:{}", super::free_port()?),
                "certificate": dir.join("cert.pem"),
                "privateKey": dir.join("key.pem"),
                "httpPort": http_port,
                "tlsPort": super::free_port()?,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false,
            }});
            let path = dir.join("pebble.json");
            std::fs::write(&path, config.to_string()).map_err(|e| err("pebble.json", e))?;
            let child = Command::new("pebble")
                .arg("-config")
                .arg(&path)
                .arg("-dnsserver")
                .arg(dns.to_string())
                .env("PEBBLE_VA_NOSLEEP", "1")
                .env("PEBBLE_WFE_NONCEREJECT", "0")
                .env("PEBBLE_AUTHZREUSE", "0")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| err("running `pebble` (apt-get install -y pebble)", e))?;
            let mut pebble = Pebble {
                child,
                dir,
                directory_url: format!("https://127.0.0.1:{port}/dir"),
                ca_bundle_b64: base64::engine::general_purpose::STANDARD.encode(ca_cert.pem()),
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Ok(pebble);
                }
                if let Ok(Some(status)) = pebble.child.try_wait() {
                    return Err(err("pebble exited", status));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(DemoError::Pebble(
                "pebble did not listen within 10 s".into(),
            ))
        }
    }
}
