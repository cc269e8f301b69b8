//! The solvers' part of the walk (pure): HTTP-01 reachability, DNS-01 records at
//! the authoritative nameservers (CNAME delegation, acme-dns) and the CA's rate
//! limits, from what the probes in [`super::load`] saw.

use super::*;

pub(super) fn http01_steps(s: &Snapshot, ch: &Challenge, domain: &str, out: &mut Vec<Step>) {
    let prefix = format!("HTTP-01 {domain}");
    let (fetch, expected) = match s.probes.get(&ch.name_any()) {
        Some(ChallengeProbe::Http01 {
            fetch,
            expected_addresses,
        }) => (fetch, expected_addresses),
        Some(ChallengeProbe::Unavailable(why)) => {
            out.push(fail(
                format!("{prefix}: probes"),
                format!("could not probe: {why}"),
                Some("set --dns01-recursive-nameservers to nameservers that resolve the name as the CA would".into()),
            ));
            return;
        }
        _ => {
            out.push(step(
                format!("{prefix}: probes"),
                Verdict::Skip,
                "not probed",
            ));
            return;
        }
    };
    // 1. Does the name resolve (to the Ingress/Gateway address)?
    let dns_check = format!("{prefix}: name resolves");
    let expected_ips: Vec<IpAddr> = expected.iter().filter_map(|a| a.parse().ok()).collect();
    let ingress_hint = if expected.is_empty() {
        String::new()
    } else {
        format!(" ({})", expected.join(", "))
    };
    if let FetchOutcome::Unresolved { reason } = &fetch.outcome {
        out.push(fail(
            dns_check,
            reason.clone(),
            Some(format!(
                "create an A/AAAA record for {} pointing at the address of the Ingress or Gateway that serves it{ingress_hint}",
                ch.spec.dns_name
            )),
        ));
        out.push(step(
            format!("{prefix}: port reachable"),
            Verdict::Skip,
            "the name does not resolve",
        ));
        out.push(step(
            format!("{prefix}: challenge path"),
            Verdict::Skip,
            "the name does not resolve",
        ));
        return;
    }
    let resolved: Vec<String> = fetch.resolved.iter().map(ToString::to_string).collect();
    if !expected_ips.is_empty() && !fetch.resolved.iter().any(|ip| expected_ips.contains(ip)) {
        out.push(fail(
            dns_check,
            format!(
                "{} resolves to {}, but the solver's Ingress/Gateway has {}",
                ch.spec.dns_name,
                resolved.join(", "),
                expected.join(", ")
            ),
            Some(format!(
                "point {} at {}",
                ch.spec.dns_name,
                expected.join(", ")
            )),
        ));
    } else {
        let matched = if expected_ips.is_empty() {
            ""
        } else {
            ", the Ingress/Gateway address"
        };
        out.push(step(
            dns_check,
            Verdict::Pass,
            format!(
                "{} resolves to {}{matched}",
                ch.spec.dns_name,
                resolved.join(", ")
            ),
        ));
    }
    // 2. Is the port reachable?
    let port_check = format!("{prefix}: port reachable");
    match &fetch.outcome {
        FetchOutcome::Unreachable { addr, reason } => {
            out.push(fail(
                port_check,
                format!("no connection to {addr}: {reason}"),
                Some(format!(
                    "open port {} on {} to the internet (load balancer listener, firewall, security group): the CA connects there",
                    addr.port(),
                    addr.ip()
                )),
            ));
            out.push(step(
                format!("{prefix}: challenge path"),
                Verdict::Skip,
                "the port is not reachable",
            ));
            return;
        }
        FetchOutcome::NoResponse { addr, .. } | FetchOutcome::Answered { addr, .. } => {
            out.push(step(
                port_check,
                Verdict::Pass,
                format!("connected to {addr}"),
            ));
        }
        FetchOutcome::Unresolved { .. } => {}
    }
    // 3. Does the challenge path answer 200 with the key? (The self-check's own verdict.)
    let path_check = format!("{prefix}: challenge path");
    match fetch.verdict(&ch.spec.key) {
        Ok(()) => out.push(step(
            path_check,
            Verdict::Pass,
            format!("{} answers 200 with the key", fetch.url),
        )),
        Err(e) => {
            let fix = match (&e, fetch.outcome.redirect()) {
                (_, Some(_)) => Some(forced_https_fix()),
                (SelfCheckError::Status { code: 404, .. }, _) => Some(
                    "the request does not reach certgate's solver: check that the solver's ingress class (ingressClassName/class) or Gateway parentRefs match what serves the name".into(),
                ),
                (SelfCheckError::Body { .. }, _) => Some(
                    "another backend answers for the name: the solver's route must take precedence on this host (an exact path match)".into(),
                ),
                (SelfCheckError::Request { .. }, _) => Some(
                    "the server accepted the connection but did not answer: check the load balancer and ingress controller in front of the name".into(),
                ),
                (SelfCheckError::Status { .. }, _) => Some(
                    "the challenge path must answer 200 over plain HTTP: check the routing of the host in front of certgate's solver".into(),
                ),
            };
            let detail = match fetch.outcome.redirect() {
                Some((code, Some(to))) => format!(
                    "forced HTTPS redirect: {} answers {code} to {to}",
                    fetch.url
                ),
                _ => format!("{}: {e}", fetch.url),
            };
            out.push(fail(path_check, detail, fix));
        }
    }
}

/// The Secrets a DNS-01 solver's provider refers to: (field, name, key).
pub(super) fn provider_secret_refs(
    dns01: &AcmeChallengeSolverDns01,
) -> Vec<(String, String, String)> {
    fn walk(path: &str, v: &serde_json::Value, out: &mut Vec<(String, String, String)>) {
        let serde_json::Value::Object(map) = v else {
            return;
        };
        for (k, child) in map {
            let here = format!("{path}.{k}");
            if k.ends_with("SecretRef") || k.ends_with("secretRef") {
                if let Some(name) = child.get("name").and_then(|n| n.as_str()) {
                    let key = child
                        .get("key")
                        .and_then(|n| n.as_str())
                        .unwrap_or_default();
                    out.push((here, name.to_string(), key.to_string()));
                }
            } else {
                walk(&here, child, out);
            }
        }
    }
    let mut out = Vec::new();
    if let Ok(v) = serde_json::to_value(dns01) {
        walk("dns01", &v, &mut out);
    }
    out
}

pub(super) fn provider_name(dns01: &AcmeChallengeSolverDns01) -> &'static str {
    if dns01.rfc2136.is_some() {
        "rfc2136"
    } else if dns01.cloudflare.is_some() {
        "cloudflare"
    } else if dns01.route53.is_some() {
        "route53"
    } else if dns01.cloud_dns.is_some() {
        "cloudDNS"
    } else if dns01.azure_dns.is_some() {
        "azureDNS"
    } else if dns01.digitalocean.is_some() {
        "digitalocean"
    } else if dns01.acme_dns.is_some() {
        "acmeDNS"
    } else if dns01.akamai.is_some() {
        "akamai"
    } else if dns01.webhook.is_some() {
        "webhook"
    } else {
        "none"
    }
}

/// The CNAME delegation of a challenge record, and whether the solver follows it;
/// also says whether the CNAME situation keeps the CA from the value (a CNAME the
/// solver does not follow; for acme-dns, which writes at an account's `fulldomain`
/// whatever `cnameStrategy` says, no CNAME).
pub(super) fn cname_step(
    prefix: &str,
    p: &Dns01Probe,
    follow: bool,
    acme_dns: bool,
) -> (Step, bool) {
    let check = format!("{prefix}: CNAME delegation");
    match &p.target {
        Err(e) => (
            fail(
                check,
                format!("could not look up {}: {e}", p.record),
                Some("check --dns01-recursive-nameservers: they must answer for the zone".into()),
            ),
            false,
        ),
        Ok(t) if acme_dns && t == &p.record => (
            fail(
                check,
                format!(
                    "{} has no CNAME: acme-dns serves challenge values only at an account's fulldomain",
                    p.record
                ),
                Some(format!(
                    "create `{} CNAME <fulldomain>.` with the fulldomain of the domain's account in the acmeDNS.accountSecretRef Secret",
                    p.record
                )),
            ),
            true,
        ),
        Ok(t) if acme_dns => (
            step(
                check,
                Verdict::Pass,
                format!(
                    "{} is a CNAME to {t}, where acme-dns writes the value (through the account: cnameStrategy does not matter)",
                    p.record
                ),
            ),
            false,
        ),
        Ok(t) if t == &p.record => {
            let detail = if follow {
                format!(
                    "{} has no CNAME (cnameStrategy: Follow has nothing to follow)",
                    p.record
                )
            } else {
                format!("{} has no CNAME", p.record)
            };
            (step(check, Verdict::Pass, detail), false)
        }
        Ok(t) if follow => (
            step(
                check,
                Verdict::Pass,
                format!(
                    "{} is a CNAME to {t}, followed (cnameStrategy: Follow)",
                    p.record
                ),
            ),
            false,
        ),
        Ok(t) => (
            fail(
                check,
                format!(
                    "{} is a CNAME to {t}, but the solver does not follow CNAMEs: the TXT record is written at {}, and the CA, following the CNAME, looks at {t}",
                    p.record, p.record
                ),
                Some(format!(
                    "set cnameStrategy: Follow on the solver's dns01 so the record is written at {t} (the provider must be able to update that zone)"
                )),
            ),
            true,
        ),
    }
}

pub(super) fn dns01_steps(
    s: &Snapshot,
    ch: &Challenge,
    domain: &str,
    solvers: &[AcmeChallengeSolver],
    out: &mut Vec<Step>,
) {
    let prefix = format!("DNS-01 {domain}");
    let dns01 = ch.spec.solver.dns01.clone().unwrap_or_default();
    let probe = match s.probes.get(&ch.name_any()) {
        Some(ChallengeProbe::Dns01(p)) => Some(p),
        _ => None,
    };
    // 1. Does a solver selector match the name (and is it the one the Challenge uses)?
    let labels = s
        .order
        .as_ref()
        .and_then(|o| o.metadata.labels.clone())
        .unwrap_or_default();
    let offered = offered_kinds(s.order.as_ref(), domain);
    let zone = probe
        .and_then(|p| p.zone.as_ref().ok())
        .map(|z| format!(" (zone {z})"))
        .unwrap_or_default();
    let solver_check = format!("{prefix}: solver selector");
    match select_solver(solvers, domain, &labels, &offered) {
        Ok((i, sv)) if *sv == ch.spec.solver => out.push(step(
            solver_check,
            Verdict::Pass,
            format!("solver {} matches {domain:?}{zone}", describe_selector(i, sv, &labels)),
        )),
        Ok((i, sv)) => out.push(step(
            solver_check,
            Verdict::Warn,
            format!(
                "the issuer's solvers changed since the Challenge was made: solver {} would take {domain:?} now{zone}; the next Order uses it",
                describe_selector(i, sv, &labels)
            ),
        )),
        Err(e) => out.push(fail(
            solver_check,
            format!("{e}{zone}"),
            Some(no_solver_fix(&e, domain, solvers, &labels)),
        )),
    }
    // 2. Are the provider's credentials there?
    let provider = provider_name(&dns01);
    let creds_check = format!("{prefix}: {provider} credentials");
    let refs = provider_secret_refs(&dns01);
    let secret_ns = s.secret_namespace();
    if refs.is_empty() {
        let detail = match crate::dns01::factory::ambient_credentials(&dns01) {
            // Route53, Cloud DNS, Azure DNS managed / workload identity.
            Some(p) => format!(
                "the solver refers to no Secret: {p} uses the controller's own cloud identity (ambient credentials)"
            ),
            None => "the solver refers to no Secret".to_string(),
        };
        out.push(step(creds_check.clone(), Verdict::Skip, detail));
    }
    for (field, name, key) in refs {
        let mut st = secret_step(s, &creds_check, &secret_ns, &name, Some(&key));
        st.detail = format!("{field}: {}", st.detail);
        out.push(st);
    }
    let Some(p) = probe else {
        let detail = match s.probes.get(&ch.name_any()) {
            Some(ChallengeProbe::Unavailable(why)) => why.clone(),
            _ => "not probed".into(),
        };
        let verdict = if detail == "not probed" {
            Verdict::Skip
        } else {
            Verdict::Fail
        };
        out.push(Step {
            check: format!("{prefix}: DNS lookups"),
            verdict,
            detail,
            fix: (verdict == Verdict::Fail).then(|| {
                "set --dns01-recursive-nameservers to nameservers that can resolve the zone".into()
            }),
        });
        return;
    };
    // 3. CNAME delegation, and whether the solver follows it.
    let follow = dns01.cname_strategy == Some(CnameStrategy::Follow);
    let acme_dns = dns01.acme_dns.is_some();
    let (cname, cname_unfollowed) = cname_step(&prefix, p, follow, acme_dns);
    let lookup_failed = p.target.is_err();
    out.push(cname);
    if lookup_failed {
        // Nothing else can be looked up either.
        return;
    }
    // 4. Is the TXT value visible at each nameserver?
    let target = p.target.clone().unwrap_or_else(|_| p.record.clone());
    let presented = ch
        .status
        .as_ref()
        .and_then(|st| st.presented)
        .unwrap_or(false);
    let servers = match (&p.zone, &p.nameservers) {
        (Err(e), _) if !p.recursive_only => {
            out.push(fail(
                format!("{prefix}: zone"),
                e.clone(),
                Some(
                    "make sure the zone exists and --dns01-recursive-nameservers resolve it".into(),
                ),
            ));
            return;
        }
        (_, Err(e)) => {
            out.push(fail(
                format!("{prefix}: nameservers"),
                e.clone(),
                Some(
                    "make sure the zone's NS records resolve from --dns01-recursive-nameservers"
                        .into(),
                ),
            ));
            return;
        }
        (_, Ok(servers)) => servers,
    };
    if servers.is_empty() {
        out.push(fail(
            format!("{prefix}: nameservers"),
            "no nameservers to ask",
            None,
        ));
    }
    let where_ = if p.recursive_only {
        "recursive nameserver"
    } else {
        "authoritative nameserver"
    };
    for ns in servers {
        let check = format!("{prefix}: TXT at {where_} {}", ns.server);
        let missing_fix = || {
            Some(if cname_unfollowed && acme_dns {
                "see the CNAME delegation check: delegate the name to the account's fulldomain"
                    .to_string()
            } else if cname_unfollowed {
                "see the CNAME delegation check: set cnameStrategy: Follow".to_string()
            } else if !presented {
                "the record is not presented yet: see the Challenge's reason".to_string()
            } else {
                format!(
                    "the provider accepted the record but {} does not serve it: point the solver at the zone's primary and check that {} gets the zone's updates (NOTIFY, transfers)",
                    ns.server, ns.server
                )
            })
        };
        match &ns.values {
            Ok(values) if values.iter().any(|v| v == &ch.spec.key) => out.push(step(
                check,
                Verdict::Pass,
                format!("{target} holds the challenge's value"),
            )),
            Ok(values) if values.is_empty() => out.push(fail(
                check,
                format!("{target} has no TXT record"),
                missing_fix(),
            )),
            Ok(values) => out.push(fail(
                check,
                format!(
                    "{target} has {} TXT value(s), none is the challenge's",
                    values.len()
                ),
                missing_fix(),
            )),
            Err(e) => out.push(fail(check, e.clone(), None)),
        }
    }
}

pub(super) fn rate_limits(s: &Snapshot, out: &mut Vec<Step>) {
    let check = "CA rate limits";
    let mut texts: Vec<String> = Vec::new();
    if let Some(o) = &s.order
        && let Some(r) = o.status.as_ref().and_then(|st| st.reason.clone())
    {
        texts.push(r);
    }
    for ch in &s.challenges {
        if let Some(r) = ch.status.as_ref().and_then(|st| st.reason.clone()) {
            texts.push(r);
        }
    }
    if let Some(req) = &s.request {
        for c in req
            .status
            .iter()
            .flat_map(|st| st.conditions.iter().flatten())
        {
            if let Some(m) = &c.message {
                texts.push(m.clone());
            }
        }
    }
    texts.extend(s.events.iter().map(|e| e.message.clone()));
    let limited = texts.iter().find(|t| is_rate_limited(t));
    if let Some(t) = limited {
        out.push(fail(
            check,
            format!("the CA refuses for now: {t}"),
            Some(rate_limit_fix(t)),
        ));
        return;
    }
    if let Some(t) = texts
        .iter()
        .find(|t| t.starts_with("Waiting before ordering again"))
    {
        out.push(step(
            check,
            Verdict::Warn,
            format!("certgate holds back new orders to stay within the CA's limits: {t}"),
        ));
        return;
    }
    out.push(step(
        check,
        Verdict::Pass,
        "no rate limit reported by the CA",
    ));
}
