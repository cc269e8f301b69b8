//! The ACME part of the walk (pure): the Order, which solver covers each name, and
//! each Challenge's state, with the fix for what the CA or a solver said.

use super::*;

pub(super) fn order(s: &Snapshot, solvers: &[AcmeChallengeSolver], out: &mut Vec<Step>) {
    let check = "Order";
    let Some(o) = &s.order else {
        if s.request.is_some() {
            let failed = s
                .request
                .as_ref()
                .and_then(crate::certificates::snapshot::request_failed)
                .is_some();
            if failed {
                out.push(step(
                    check,
                    Verdict::Skip,
                    "the request failed before an Order was made",
                ));
            } else {
                out.push(step(check, Verdict::Warn, "no Order for the request yet"));
            }
        } else {
            out.push(step(check, Verdict::Skip, "no CertificateRequest"));
        }
        return;
    };
    let name = o.name_any();
    let status = o.status.clone().unwrap_or_default();
    let state = status.state;
    let reason = status.reason.clone().unwrap_or_default();
    match state {
        Some(st) if st.is_failure() => {
            // A rate limit is judged (and fixed) at the rate-limit step.
            let fix = if is_rate_limited(&reason) {
                None
            } else {
                ca_error_fix(&reason, &s.name)
            };
            out.push(fail(
                check,
                format!("{name} is {}: {reason}", state_word(state)),
                fix,
            ));
            failed_order_dns_steps(s, o, solvers, out);
            return;
        }
        Some(State::Valid) => {
            out.push(step(check, Verdict::Pass, format!("{name} is valid")));
            return;
        }
        _ => {}
    }
    if reason.starts_with("Failed to determine a valid solver configuration") {
        out.push(fail(check, format!("{name}: {reason}"), None));
        solver_coverage(o, solvers, out);
        return;
    }
    if reason.starts_with("Waiting before ordering again") {
        out.push(step(check, Verdict::Warn, format!("{name}: {reason}")));
        return;
    }
    if reason.starts_with("Failed to create Order") {
        out.push(fail(
            check,
            format!("{name}: {reason}"),
            ca_error_fix(&reason, &s.name),
        ));
        return;
    }
    let authz = status.authorizations.as_ref().map_or(0, Vec::len);
    let mut detail = format!(
        "{name} is {} with {authz} authorization(s) and {} Challenge(s)",
        if state.is_none() {
            "not yet placed at the CA"
        } else {
            state_word(state)
        },
        s.challenges.len()
    );
    if !reason.is_empty() {
        let _ = write!(detail, ": {reason}");
    }
    out.push(step(check, Verdict::Pass, detail));
}

/// The DNS-01 solver that takes `domain` for this Order, if it is a DNS-01 one.
pub(super) fn dns01_solver_for<'a>(
    o: &Order,
    solvers: &'a [AcmeChallengeSolver],
    domain: &str,
) -> Option<&'a AcmeChallengeSolverDns01> {
    let labels = o.metadata.labels.clone().unwrap_or_default();
    let offered = offered_kinds(Some(o), domain);
    select_solver(solvers, domain, &labels, &offered)
        .ok()
        .and_then(|(_, sv)| sv.dns01.as_ref())
}

/// After the CA failed an Order its Challenges are gone: what can still be checked
/// without them is the CNAME delegation of each DNS-01 name.
pub(super) fn failed_order_dns_steps(
    s: &Snapshot,
    o: &Order,
    solvers: &[AcmeChallengeSolver],
    out: &mut Vec<Step>,
) {
    for (domain, p) in &s.domain_probes {
        let solver = dns01_solver_for(o, solvers, domain);
        let follow = solver.is_some_and(|d| d.cname_strategy == Some(CnameStrategy::Follow));
        let acme_dns = solver.is_some_and(|d| d.acme_dns.is_some());
        let mut st = cname_step(&format!("DNS-01 {domain}"), p, follow, acme_dns).0;
        if p.target.is_err() {
            // A side check here: not being able to make it is no cause.
            st.verdict = Verdict::Warn;
            st.fix = None;
        }
        out.push(st);
    }
}

/// The challenge types the CA offered for `domain` (both when unknown).
pub(super) fn offered_kinds(o: Option<&Order>, domain: &str) -> Vec<ChallengeKind> {
    let bare = domain.trim_start_matches("*.");
    let wildcard = domain.starts_with("*.");
    let kinds: Vec<ChallengeKind> = o
        .and_then(|o| o.status.as_ref())
        .and_then(|s| s.authorizations.as_ref())
        .into_iter()
        .flatten()
        .filter(|a| {
            a.identifier.as_deref() == Some(bare) && a.wildcard.unwrap_or(false) == wildcard
        })
        .flat_map(|a| a.challenges.iter().flatten())
        .filter_map(|c| ChallengeKind::from_acme_type(&c.type_))
        .collect();
    if kinds.is_empty() {
        vec![ChallengeKind::Http01, ChallengeKind::Dns01]
    } else {
        kinds
    }
}

/// The registrable-looking parent of a name (its last two labels).
pub(super) fn zone_guess(domain: &str) -> String {
    let labels: Vec<&str> = domain
        .trim_start_matches("*.")
        .trim_end_matches('.')
        .split('.')
        .collect();
    let n = labels.len();
    if n <= 2 {
        labels.join(".")
    } else {
        labels[n - 2..].join(".")
    }
}

pub(super) fn describe_selector(
    i: usize,
    solver: &AcmeChallengeSolver,
    labels: &BTreeMap<String, String>,
) -> String {
    let kind = if solver.dns01.is_some() {
        "dns01"
    } else {
        "http01"
    };
    let Some(sel) = &solver.selector else {
        return format!("#{} {kind} (no selector)", i + 1);
    };
    let mut parts = Vec::new();
    if let Some(z) = sel.dns_zones.as_ref().filter(|z| !z.is_empty()) {
        parts.push(format!("dnsZones [{}]", z.join(", ")));
    }
    if let Some(n) = sel.dns_names.as_ref().filter(|n| !n.is_empty()) {
        parts.push(format!("dnsNames [{}]", n.join(", ")));
    }
    if let Some(m) = sel.match_labels.as_ref().filter(|m| !m.is_empty()) {
        let missing: Vec<String> = m
            .iter()
            .filter(|(k, v)| labels.get(*k) != Some(*v))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let all: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if missing.is_empty() {
            parts.push(format!("matchLabels {{{}}}", all.join(", ")));
        } else {
            parts.push(format!(
                "matchLabels {{{}}} (the Certificate lacks {})",
                all.join(", "),
                missing.join(", ")
            ));
        }
    }
    format!("#{} {kind} {}", i + 1, parts.join(" "))
}

pub(super) fn no_solver_fix(
    e: &NoSolver,
    domain: &str,
    solvers: &[AcmeChallengeSolver],
    labels: &BTreeMap<String, String>,
) -> String {
    let existing: Vec<String> = solvers
        .iter()
        .enumerate()
        .map(|(i, sv)| describe_selector(i, sv, labels))
        .collect();
    let zone = zone_guess(domain);
    let bare = domain.trim_start_matches("*.");
    match e {
        NoSolver::NoSolvers { .. } => "add a solver to the issuer's spec.acme.solvers".into(),
        NoSolver::WildcardNeedsDns01 { .. } => format!(
            "a wildcard can only be validated with DNS-01: add a dns01 solver whose selector matches {domain:?} (e.g. dnsZones: [{zone}]); solvers now: {}",
            existing.join("; ")
        ),
        NoSolver::NotOffered { offered, .. } => format!(
            "the CA offers only {offered} for {domain:?}: add a solver of that type whose selector matches it; solvers now: {}",
            existing.join("; ")
        ),
        NoSolver::NoMatch { .. } => format!(
            "add a solver whose selector matches {domain:?} — dnsZones: [{zone}] or dnsNames: [{bare}] — or widen an existing one; solvers now: {}",
            existing.join("; ")
        ),
    }
}

/// Which solver takes each name of the Order; the names without one fail.
pub(super) fn solver_coverage(o: &Order, solvers: &[AcmeChallengeSolver], out: &mut Vec<Step>) {
    let labels = o.metadata.labels.clone().unwrap_or_default();
    for domain in o.spec.dns_names.iter().flatten() {
        let check = format!("solver for {domain}");
        let offered = offered_kinds(Some(o), domain);
        match select_solver(solvers, domain, &labels, &offered) {
            Ok((i, sv)) => out.push(step(
                check,
                Verdict::Pass,
                format!("solver {}", describe_selector(i, sv, &labels)),
            )),
            Err(e) => out.push(fail(
                check,
                e.to_string(),
                Some(no_solver_fix(&e, domain, solvers, &labels)),
            )),
        }
    }
}

pub(super) fn challenge_domain(ch: &Challenge) -> String {
    if ch.spec.wildcard.unwrap_or(false) {
        format!("*.{}", ch.spec.dns_name)
    } else {
        ch.spec.dns_name.clone()
    }
}

/// What to do about a challenge that could not be presented.
pub(super) fn present_fix(reason: &str, ch: &Challenge, secret_ns: &str) -> Option<String> {
    let upper = reason.to_ascii_uppercase();
    if reason.contains("tsigSecretSecretRef") {
        let r = ch
            .spec
            .solver
            .dns01
            .as_ref()
            .and_then(|d| d.rfc2136.as_ref())
            .and_then(|r| r.tsig_secret_secret_ref.as_ref());
        return Some(match r {
            Some(r) => format!(
                "create Secret {} in namespace {secret_ns} with the base64 TSIG secret under key {:?}",
                r.name,
                r.key.clone().unwrap_or_default()
            ),
            None => "set rfc2136.tsigSecretSecretRef".into(),
        });
    }
    if upper.contains("BADTIME") || reason.contains("refused the request's timestamp") {
        return Some(
            "the clocks of certgate and the DNS server differ: synchronise them (NTP)".into(),
        );
    }
    if upper.contains("BADKEY") || upper.contains("BADSIG") {
        return Some("the DNS server refused the TSIG signature: check rfc2136.tsigKeyName, tsigAlgorithm and the secret against the server's key".into());
    }
    // The DNS rcodes, as RFC 2136 errors spell them (not an HTTP API's "refused").
    if reason.contains("REFUSED") || reason.contains("NOTAUTH") {
        return Some("the DNS server refused the update: allow updates of the zone with this key (BIND: update-policy or allow-update), and point rfc2136.nameserver at the zone's primary".into());
    }
    // Webhook solvers: what the API server or the webhook said (src/dns01/webhook.rs).
    if reason.contains("may not create") && reason.contains("in API group") {
        return Some("bind certgate's ServiceAccount to a ClusterRole granting create on the solver resource in the webhook's API group (install the webhook's chart with certManager.namespace and certManager.serviceAccountName set to certgate's)".into());
    }
    if reason.contains("no webhook solver serves") {
        return Some("install the webhook solver and check `kubectl get apiservice v1alpha1.<groupName>` is Available; groupName and solverName must be the webhook's".into());
    }
    if reason.contains("cannot reach the webhook solver") {
        return Some("the API server cannot reach the webhook: check its pods and `kubectl get apiservice v1alpha1.<groupName>` (Available, and why not)".into());
    }
    let lower = reason.to_ascii_lowercase();
    if [
        "401",
        "403",
        "unauthorized",
        "forbidden",
        "invalid api token",
        "authentication",
        "access denied",
        "invalidclienttokenid",
        "signaturedoesnotmatch",
        "aadsts",
        "authorizationfailed",
    ]
    .iter()
    .any(|w| lower.contains(w))
    {
        return Some("the DNS provider refused the credentials: check the token or keys in the solver's Secret and that they may edit the zone".into());
    }
    if reason.contains("not supported by certgate yet") {
        return Some(format!(
            "use a DNS-01 provider certgate supports ({}): it does not support this one yet",
            crate::dns01::factory::SUPPORTED.join(", ")
        ));
    }
    if reason.contains("http01.ingress.name") {
        return Some("create the Ingress named by the solver's http01.ingress.name, or remove the name to have certgate create one".into());
    }
    None
}

pub(super) fn challenge(
    s: &Snapshot,
    ch: &Challenge,
    solvers: &[AcmeChallengeSolver],
    out: &mut Vec<Step>,
) {
    let domain = challenge_domain(ch);
    let kind = ch.spec.type_.as_str();
    let check = format!("Challenge {domain} ({kind})");
    let status = ch.status.clone().unwrap_or_default();
    let reason = status.reason.clone().unwrap_or_default();
    let name = ch.name_any();
    let secret_ns = s.secret_namespace();
    match status.state {
        Some(State::Valid) => {
            out.push(step(check, Verdict::Pass, format!("{name} is valid")));
            return;
        }
        Some(st) if st.is_failure() => {
            out.push(fail(
                check,
                format!("{name} is {}: {reason}", state_word(status.state)),
                ca_error_fix(&reason, &s.name),
            ));
            return;
        }
        _ => {}
    }
    let flags = format!(
        "processing: {}, presented: {}",
        status.processing.unwrap_or(false),
        status.presented.unwrap_or(false)
    );
    if let Some(what) = reason.strip_prefix("Error presenting challenge: ") {
        out.push(fail(
            check,
            format!("{name} could not be presented: {what}"),
            present_fix(what, ch, &secret_ns),
        ));
    } else if reason.starts_with("Waiting for") && reason.contains("challenge propagation") {
        out.push(step(
            check,
            Verdict::Warn,
            format!("{name} is pending ({flags}): {reason}"),
        ));
    } else if crate::issuers::acme::challenges::is_accepted(status.state) {
        out.push(step(
            check,
            Verdict::Pass,
            format!("{name}: the CA is validating it"),
        ));
    } else if !status.processing.unwrap_or(false) {
        out.push(step(
            check,
            Verdict::Warn,
            format!("{name} is waiting to be scheduled (at most --max-concurrent-challenges are worked on at once)"),
        ));
    } else {
        let mut detail = format!("{name} is pending ({flags})");
        if !reason.is_empty() {
            let _ = write!(detail, ": {reason}");
        }
        out.push(step(check, Verdict::Pass, detail));
    }
    match ch.spec.type_ {
        AcmeChallengeType::Http01 => http01_steps(s, ch, &domain, out),
        AcmeChallengeType::Dns01 => dns01_steps(s, ch, &domain, solvers, out),
        // Served by certgate's TLS-ALPN-01 responder: the Challenge's reason says
        // what its self-check saw.
        AcmeChallengeType::TlsAlpn01 => {}
    }
}
