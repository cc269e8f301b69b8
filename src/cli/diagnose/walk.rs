//! The walk's first half (pure): the Certificate, its issuerRef and issuer (with
//! Vault and the issuer's Secrets) and its CertificateRequest, each judged from the
//! [`Snapshot`] into [`Step`]s. [`steps`] runs the whole walk.

use super::*;

// ---------------------------------------------------------------------------
// The walk (pure)
// ---------------------------------------------------------------------------

/// The steps of the troubleshooting tree for a snapshot, in order.
pub fn steps(s: &Snapshot) -> Vec<Step> {
    let mut out = Vec::new();
    let Some(cert) = &s.certificate else {
        let fix = match closest(&s.name, &s.certificate_names) {
            Some(c) => format!(
                "did you mean {c:?}? certgate diagnose certificate {c} -n {}",
                s.namespace
            ),
            None if s.certificate_names.is_empty() => {
                format!(
                    "there are no Certificates in namespace {:?}: check -n",
                    s.namespace
                )
            }
            None => format!(
                "check the name and -n (Certificates in {:?}: {})",
                s.namespace,
                s.certificate_names.join(", ")
            ),
        };
        out.push(fail(
            "Certificate exists",
            format!("Certificate {}/{} not found", s.namespace, s.name),
            Some(fix),
        ));
        return out;
    };
    let in_progress = certificate_ready(s, cert, &mut out);
    let issuer = issuer_ref(s, cert, &mut out);
    if let Some(issuer) = issuer {
        issuer_ready(s, issuer, &mut out);
        issuer_secrets(s, issuer, &mut out);
    } else if out.last().is_some_and(|st| st.verdict == Verdict::Fail) {
        // Nothing further happens until the issuerRef is fixed.
        return out;
    }
    if let Some(i) = issuer
        && i.config.vault.is_some()
    {
        vault_steps(s, &mut out);
    }
    certificate_request(s, in_progress, &mut out);
    let acme = issuer.and_then(|i| i.config.acme.as_ref());
    let Some(acme) = acme else {
        if issuer.is_some() {
            out.push(step(
                "Order",
                Verdict::Skip,
                "not an ACME issuer: no Order or Challenges",
            ));
        }
        return out;
    };
    let solvers = acme.solvers.clone().unwrap_or_default();
    order(s, &solvers, &mut out);
    for ch in &s.challenges {
        challenge(s, ch, &solvers, &mut out);
    }
    rate_limits(s, &mut out);
    out
}

pub(super) fn condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

pub(super) fn reason_message(reason: Option<&str>, message: Option<&str>) -> String {
    match (reason.unwrap_or_default(), message.unwrap_or_default()) {
        ("", "") => "no reason given".into(),
        (r, "") => r.to_string(),
        ("", m) => m.to_string(),
        (r, m) => format!("{r}: {m}"),
    }
}

/// The Certificate's own state; returns whether an issuance is in progress (or failed).
pub(super) fn certificate_ready(s: &Snapshot, cert: &Certificate, out: &mut Vec<Step>) -> bool {
    let status = cert.status.clone().unwrap_or_default();
    let conditions = status.conditions.clone().unwrap_or_default();
    let ready = condition(&conditions, "Ready");
    let issuing = condition(&conditions, "Issuing");
    let issuing_true = issuing.is_some_and(|c| c.status == ConditionStatus::True);
    let check = "Certificate Ready";
    match ready {
        None => {
            out.push(step(
                check,
                Verdict::Warn,
                "no Ready condition yet: the certgate controller has not looked at it (is it running?)",
            ));
            true
        }
        Some(c) if c.status == ConditionStatus::True => {
            let mut detail = reason_message(c.reason.as_deref(), c.message.as_deref());
            if let Some(t) = &status.not_after {
                let _ = write!(detail, "; expires {}", t.0);
            }
            if issuing_true {
                detail.push_str("; a re-issuance is in progress");
            }
            out.push(step(check, Verdict::Pass, detail));
            issuing_true
        }
        Some(c) => {
            let mut detail = format!(
                "not Ready ({})",
                reason_message(c.reason.as_deref(), c.message.as_deref())
            );
            let failed = status.last_failure_time.as_ref();
            if let Some(last) = failed {
                let attempts = status.failed_issuance_attempts.unwrap_or(1).max(1);
                let next = crate::certificates::renewal::next_issuance_attempt(
                    last.0,
                    u32::try_from(attempts).unwrap_or(1),
                );
                let _ = write!(
                    detail,
                    "; issuance failed {attempts} time(s), last at {}; next attempt at {next} (or `certgate renew {}` once the cause is fixed)",
                    last.0, s.name
                );
                out.push(fail(check, detail, None));
            } else {
                detail.push_str("; issuance in progress");
                out.push(step(check, Verdict::Warn, detail));
            }
            true
        }
    }
}

/// Levenshtein distance.
pub(super) fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The name of `names` closest to `name`, when close enough to be a typo.
pub fn closest<'a>(name: &str, names: &'a [String]) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(2);
    names
        .iter()
        .filter(|n| n.as_str() != name)
        .map(|n| (distance(name, n), n))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n.as_str())
}

pub(super) fn issuer_ref<'a>(
    s: &'a Snapshot,
    cert: &Certificate,
    out: &mut Vec<Step>,
) -> Option<&'a IssuerFound> {
    let r = &cert.spec.issuer_ref;
    let check = "issuerRef";
    let group = r.group_or_default();
    if group != crate::api::GROUP {
        out.push(step(
            check,
            Verdict::Skip,
            format!(
                "an external issuer ({} {:?} of group {group}): not checked",
                r.kind_or_default(),
                r.name
            ),
        ));
        return None;
    }
    let kind = r.kind_or_default();
    if kind != "Issuer" && kind != "ClusterIssuer" {
        out.push(fail(
            check,
            format!(
                "issuerRef.kind is {kind:?}; cert-manager.io issuers are Issuer or ClusterIssuer"
            ),
            Some("set issuerRef.kind to Issuer or ClusterIssuer".into()),
        ));
        return None;
    }
    if let Some(found) = &s.issuer {
        out.push(step(
            check,
            Verdict::Pass,
            format!("{} {:?} exists", found.kind, found.name),
        ));
        return Some(found);
    }
    let (same, other, other_kind) = if kind == "ClusterIssuer" {
        (&s.cluster_issuer_names, &s.issuer_names, "Issuer")
    } else {
        (&s.issuer_names, &s.cluster_issuer_names, "ClusterIssuer")
    };
    let where_ = |k: &str| {
        if k == "Issuer" {
            format!(" in namespace {:?}", s.namespace)
        } else {
            String::new()
        }
    };
    let detail = format!("{kind} {:?} does not exist{}", r.name, where_(kind));
    let (detail, fix) = if other.contains(&r.name) {
        (
            format!(
                "{detail}, but {} {other_kind} {:?} exists{}",
                if other_kind == "Issuer" { "an" } else { "a" },
                r.name,
                where_(other_kind)
            ),
            format!("set issuerRef.kind: {other_kind}"),
        )
    } else if let Some(c) = closest(&r.name, same) {
        (
            detail,
            format!("did you mean {kind} {c:?}? set issuerRef.name: {c}"),
        )
    } else if let Some(c) = closest(&r.name, other) {
        (
            detail,
            format!(
                "did you mean {other_kind} {c:?}? set issuerRef.kind: {other_kind} and issuerRef.name: {c}"
            ),
        )
    } else if same.is_empty() {
        (
            detail,
            format!(
                "create the {kind} {:?} (there are no {kind}s{})",
                r.name,
                where_(kind)
            ),
        )
    } else {
        (
            detail,
            format!(
                "create the {kind} {:?}, or refer to an existing one: {}",
                r.name,
                same.join(", ")
            ),
        )
    };
    out.push(fail(check, detail, Some(fix)));
    None
}

pub(super) fn issuer_ready(s: &Snapshot, issuer: &IssuerFound, out: &mut Vec<Step>) {
    let check = format!("{} Ready", issuer.kind);
    let Some(c) = condition(&issuer.conditions, "Ready") else {
        out.push(step(
            check,
            Verdict::Warn,
            "no Ready condition yet: the certgate controller has not looked at it (is it running?)",
        ));
        return;
    };
    let detail = reason_message(c.reason.as_deref(), c.message.as_deref());
    if c.status == ConditionStatus::True {
        out.push(step(check, Verdict::Pass, detail));
        return;
    }
    use crate::issuers::acme::account::{REASON_REGISTER_FAILED, REASON_VERIFY_FAILED};
    let message = c.message.clone().unwrap_or_default();
    let secret_ns = s.secret_namespace();
    let fix = match c.reason.as_deref().unwrap_or_default() {
        REASON_REGISTER_FAILED => Some(if message.contains("External Account Binding") {
            if message.contains("requires") {
                "set spec.acme.externalAccountBinding (keyID and keySecretRef) with the key your CA gave you".to_string()
            } else {
                "check spec.acme.externalAccountBinding.keyID and the HMAC key in its Secret".to_string()
            }
        } else if message.contains("TLS certificate is not trusted") {
            "set spec.acme.caBundle to the CA that signed the ACME server's certificate".to_string()
        } else if message.contains("spec.acme.server") {
            "check spec.acme.server: it must be the ACME directory URL, e.g. https://acme-v02.api.letsencrypt.org/directory".to_string()
        } else {
            "the ACME account could not be registered: fix spec.acme (server, email, externalAccountBinding) as the message says; the issuer retries when it changes".to_string()
        }),
        REASON_VERIFY_FAILED => {
            let secret = issuer
                .config
                .acme
                .as_ref()
                .map(|a| a.private_key_secret_ref.name.clone())
                .unwrap_or_default();
            Some(format!(
                "the ACME account key in Secret {secret_ns}/{secret} cannot be used: delete the Secret to have a new key generated, or restore the account's key"
            ))
        }
        crate::issuers::ca::REASON_ERR_GET_KEY_PAIR => {
            let secret = issuer
                .config
                .ca
                .as_ref()
                .map(|c| c.secret_name.clone())
                .unwrap_or_default();
            Some(format!(
                "create the CA key pair Secret {secret_ns}/{secret} with tls.crt and tls.key"
            ))
        }
        crate::issuers::ca::REASON_ERR_INVALID_KEY_PAIR => Some(
            "the CA Secret must hold a CA certificate (basicConstraints CA:TRUE) and its private key".into(),
        ),
        crate::issuers::vault::REASON_ERROR => vault_fix(&message),
        _ => None,
    };
    out.push(fail(check, detail, fix));
}

/// The live check of a Vault issuer from where `diagnose` runs.
pub(super) fn vault_steps(s: &Snapshot, out: &mut Vec<Step>) {
    let check = "Vault reachable, unsealed, login works";
    match &s.vault_probe {
        None => out.push(step(check, Verdict::Skip, "not probed")),
        Some(Ok(())) => out.push(step(
            check,
            Verdict::Pass,
            "logged in and sys/health says initialized and unsealed (from here; the controller's network may differ)",
        )),
        Some(Err(e)) => out.push(fail(check, e.clone(), vault_fix(e))),
    }
}

/// What to do about a Vault error message, when certgate knows.
pub fn vault_fix(message: &str) -> Option<String> {
    let l = message.to_ascii_lowercase();
    let fix = if l.contains("vault is sealed") {
        "Vault is sealed: unseal it (`vault operator unseal`), or point spec.vault.server at an unsealed node"
    } else if l.contains("not initialized") {
        "Vault is not initialized: run `vault operator init` and unseal it"
    } else if l.contains("multiple auth methods") {
        "keep exactly one of spec.vault.auth's methods (tokenSecretRef, appRole, clientCertificate, kubernetes, aws)"
    } else if l.contains("unknownissuer")
        || l.contains("invalid peer certificate")
        || l.contains("certificate verify")
    {
        "Vault's TLS certificate is not trusted: set spec.vault.caBundle (or caBundleSecretRef) to the CA that signed it, and spec.vault.serverName when its certificate names another host"
    } else if l.contains("cannot reach vault") {
        "check spec.vault.server (scheme, host, port) and that certgate's pod can reach it (NetworkPolicy, Service, proxy)"
    } else if l.contains("not allowed by this role") {
        "the Vault PKI role does not allow these names: add their domains to the role's allowed_domains (with allow_subdomains, allow_bare_domains or allow_glob_domains as needed) or use a role that allows them in spec.vault.path"
    } else if l.contains("unknown role") {
        "spec.vault.path names a role the PKI mount does not have: it must be <mount>/sign/<role> with an existing role"
    } else if l.contains("no handler for route") {
        "spec.vault.path is not a PKI sign endpoint: it must be <pki mount>/sign/<role> or <pki mount>/sign-verbatim"
    } else if l.contains("using the kubernetes auth") {
        "the Kubernetes login was refused: check the Vault role (bound ServiceAccount names and namespaces, audience vault://<namespace>/<issuer>), and that Vault can review tokens (its token_reviewer_jwt or the auth method's config)"
    } else if l.contains("using the approle auth") {
        "the AppRole login was refused: check roleId and that the secret id in the Secret is current (rotated secret ids must be written to the Secret)"
    } else if l.contains("using the aws auth") {
        "the AWS IAM login was refused: check the Vault role's bound_iam_principal_arn, spec.vault.auth.aws.iamRoleArn and the IAM role's trust policy, and vaultHeaderValue against the auth method's iam_server_id_header_value"
    } else if l.contains("using the clientcertificate auth") {
        "the TLS certificate login was refused: check that the cert auth role trusts the client certificate in the Secret (and its name in clientCertificate.name)"
    } else if l.contains("permission denied") || l.contains("http 403") {
        "Vault refused the token: check that its policy allows update on spec.vault.path, and that the token in the Secret has not expired or been revoked"
    } else {
        return None;
    };
    Some(fix.to_string())
}

/// The Secrets an issuer config refers to directly: (field, name, key).
pub(super) fn issuer_secret_refs(config: &IssuerConfig) -> Vec<(String, String, Option<String>)> {
    let mut refs = Vec::new();
    if let Some(acme) = &config.acme
        && let Some(eab) = &acme.external_account_binding
    {
        refs.push((
            "spec.acme.externalAccountBinding.keySecretRef".to_string(),
            eab.key_secret_ref.name.clone(),
            Some(eab.key_secret_ref.key.clone().unwrap_or_default()),
        ));
    }
    if let Some(ca) = &config.ca {
        refs.push((
            "spec.ca.secretName".to_string(),
            ca.secret_name.clone(),
            None,
        ));
    }
    if let Some(v) = &config.vault {
        let key_or = |k: &Option<String>, default: &str| {
            Some(
                k.clone()
                    .filter(|k| !k.is_empty())
                    .unwrap_or(default.into()),
            )
        };
        let a = &v.auth;
        if let Some(t) = &a.token_secret_ref {
            refs.push((
                "spec.vault.auth.tokenSecretRef".into(),
                t.name.clone(),
                key_or(&t.key, "token"),
            ));
        }
        if let Some(r) = &a.app_role {
            refs.push((
                "spec.vault.auth.appRole.secretRef".into(),
                r.secret_ref.name.clone(),
                r.secret_ref.key.clone(),
            ));
        }
        if let Some(k) = &a.kubernetes
            && let Some(t) = k.secret_ref.as_ref().filter(|t| !t.name.is_empty())
        {
            refs.push((
                "spec.vault.auth.kubernetes.secretRef".into(),
                t.name.clone(),
                key_or(&t.key, "token"),
            ));
        }
        if let Some(name) = a
            .client_certificate
            .as_ref()
            .and_then(|c| c.secret_name.clone())
        {
            refs.push((
                "spec.vault.auth.clientCertificate.secretName".into(),
                name.clone(),
                Some("tls.crt".into()),
            ));
            refs.push((
                "spec.vault.auth.clientCertificate.secretName".into(),
                name,
                Some("tls.key".into()),
            ));
        }
        for (field, r, default) in [
            (
                "spec.vault.caBundleSecretRef",
                &v.ca_bundle_secret_ref,
                "ca.crt",
            ),
            (
                "spec.vault.clientCertSecretRef",
                &v.client_cert_secret_ref,
                "tls.crt",
            ),
            (
                "spec.vault.clientKeySecretRef",
                &v.client_key_secret_ref,
                "tls.key",
            ),
        ] {
            if let Some(r) = r {
                refs.push((field.into(), r.name.clone(), key_or(&r.key, default)));
            }
        }
    }
    refs
}

pub(super) fn issuer_secrets(s: &Snapshot, issuer: &IssuerFound, out: &mut Vec<Step>) {
    let ns = s.secret_namespace();
    for (field, name, key) in issuer_secret_refs(&issuer.config) {
        out.push(secret_step(
            s,
            &format!("{} Secret {field}", issuer.kind),
            &ns,
            &name,
            key.as_deref(),
        ));
    }
}

/// Whether Secret `ns/name` exists (with `key`, when given).
pub(super) fn secret_step(
    s: &Snapshot,
    check: &str,
    ns: &str,
    name: &str,
    key: Option<&str>,
) -> Step {
    match s.secrets.get(&format!("{ns}/{name}")) {
        None => fail(
            check,
            format!("Secret {ns}/{name} does not exist"),
            Some(match key {
                Some(k) => format!("create Secret {name} in namespace {ns} with key {k:?}"),
                None => format!("create Secret {name} in namespace {ns}"),
            }),
        ),
        Some(Err(e)) => step(
            check,
            Verdict::Warn,
            format!("Secret {ns}/{name} could not be read: {e}"),
        ),
        Some(Ok(keys)) => match key {
            Some(k) if !keys.iter().any(|have| have == k) => fail(
                check,
                format!(
                    "Secret {ns}/{name} has no key {k:?} (it has: {})",
                    if keys.is_empty() {
                        "none".to_string()
                    } else {
                        keys.join(", ")
                    }
                ),
                Some(format!(
                    "add the key {k:?} to Secret {ns}/{name}, or name the right key in the reference"
                )),
            ),
            Some(k) => step(
                check,
                Verdict::Pass,
                format!("Secret {ns}/{name} has key {k:?}"),
            ),
            None => step(check, Verdict::Pass, format!("Secret {ns}/{name} exists")),
        },
    }
}

pub(super) fn request_condition<'a>(
    req: &'a CertificateRequest,
    type_: &str,
) -> Option<&'a crate::api::meta::RequestCondition> {
    crate::certificates::snapshot::request_condition(req, type_)
}

pub(super) fn certificate_request(s: &Snapshot, in_progress: bool, out: &mut Vec<Step>) {
    let check = "CertificateRequest";
    let Some(req) = &s.request else {
        if in_progress {
            out.push(step(
                check,
                Verdict::Warn,
                "no CertificateRequest for this issuance yet (the controller makes one once the private key is ready, or waits out a back-off)",
            ));
        } else {
            out.push(step(check, Verdict::Skip, "no issuance in progress"));
        }
        return;
    };
    let name = req.name_any();
    let is_true =
        |t: &str| request_condition(req, t).is_some_and(|c| c.status == ConditionStatus::True);
    if is_true("Denied") {
        let c = request_condition(req, "Denied");
        out.push(fail(
            check,
            format!(
                "{name} was denied ({})",
                reason_message(c.and_then(|c| c.reason.as_deref()), c.and_then(|c| c.message.as_deref()))
            ),
            Some(format!(
                "an approver denied the request: review the approval policy for this issuer (e.g. approver-policy's CertificateRequestPolicy); once it allows the request, `certgate renew {}` makes a new one",
                s.name
            )),
        ));
        return;
    }
    if is_true("InvalidRequest") {
        let c = request_condition(req, "InvalidRequest");
        out.push(fail(
            check,
            format!(
                "{name} is invalid ({})",
                reason_message(
                    c.and_then(|c| c.reason.as_deref()),
                    c.and_then(|c| c.message.as_deref())
                )
            ),
            Some(
                "fix the Certificate's spec as the message says; a spec change makes a new request"
                    .into(),
            ),
        ));
        return;
    }
    let ready = request_condition(req, "Ready");
    match ready {
        Some(c) if c.status == ConditionStatus::True => {
            out.push(step(check, Verdict::Pass, format!("{name} is issued")));
        }
        Some(c) if c.reason.as_deref() == Some("Failed") => {
            let message = c.message.clone().unwrap_or_default();
            // An Order's failure is judged (and fixed) at the Order step.
            if s.order.is_some() && message.contains("order is in") {
                out.push(fail(check, format!("{name} failed because its Order failed (see Order)"), None));
            } else {
                let fix = ca_error_fix(&message, &s.name).or_else(|| vault_fix(&message));
                out.push(fail(check, format!("{name} failed: {message}"), fix));
            }
        }
        Some(c) => {
            let approved = request_condition(req, "Approved").is_some_and(|c| c.status == ConditionStatus::True);
            let detail = format!(
                "{name} is pending ({})",
                reason_message(c.reason.as_deref(), c.message.as_deref())
            );
            out.push(step(check, if approved { Verdict::Pass } else { Verdict::Warn }, detail));
        }
        None if request_condition(req, "Approved").is_none() => out.push(step(
            check,
            Verdict::Warn,
            format!("{name} is neither approved nor denied yet: an approver must approve it (certgate's built-in approver approves requests for cert-manager.io issuers)"),
        )),
        None => out.push(step(check, Verdict::Pass, format!("{name} is approved and waiting for its issuer"))),
    }
}

/// Whether a CA's message says it is rate limiting.
pub(super) fn is_rate_limited(text: &str) -> bool {
    let l = text.to_ascii_lowercase();
    l.contains("ratelimited") || (l.contains("too many ") && l.contains("retry after"))
}

/// What to do about an error from the CA, when certgate knows.
pub(super) fn ca_error_fix(text: &str, cert: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    if is_rate_limited(text) {
        return Some(rate_limit_fix(text));
    }
    if lower.contains("error:caa") || lower.contains("caa record") {
        return Some("the domain's CAA records do not allow this CA: add a CAA record `issue \"<the CA's domain>\"` (or remove the restriction), then `certgate renew` the Certificate".into());
    }
    if lower.contains("correct value not found for dns challenge")
        || lower.contains("incorrect txt record")
        || lower.contains("no txt record found")
    {
        return Some(format!(
            "the CA did not find the challenge's TXT value: fix the DNS-01 checks (CNAME delegation and cnameStrategy, the provider's zone), then `certgate renew {cert}`"
        ));
    }
    if lower.contains("timeout during connect") || lower.contains("connection refused") {
        return Some("the CA could not connect to port 80 of the name: open port 80 to the internet on the load balancer and firewalls".into());
    }
    if lower.contains("invalid response from")
        && (lower.contains("301") || lower.contains("302") || lower.contains("https"))
    {
        return Some(forced_https_fix());
    }
    if lower.contains("invalid response from") {
        return Some("the CA's request did not reach certgate's solver: check that the solver's ingress class or Gateway parentRefs match what serves the name".into());
    }
    if lower.contains("nxdomain") || lower.contains("no valid ip addresses found") {
        return Some("the name does not resolve in public DNS: create its A/AAAA record (HTTP-01) or check the zone (DNS-01)".into());
    }
    None
}

pub(super) fn forced_https_fix() -> String {
    "a forced HTTPS redirect catches the challenge path: exempt /.well-known/acme-challenge/ from it (ingress-nginx: no global force-ssl-redirect, `nginx.ingress.kubernetes.io/ssl-redirect: \"false\"` on the host's Ingresses; Gateway API: put the redirect on a route that does not match the challenge path)".into()
}

/// `retry after …` in a CA's rate-limit message.
pub(super) fn retry_after(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let at = lower.find("retry after ")? + "retry after ".len();
    let rest = &text[at..];
    let end = [rest.find(": "), rest.find(','), rest.find(';')]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(rest.len());
    Some(rest[..end].trim().to_string()).filter(|s| !s.is_empty())
}

pub(super) fn rate_limit_fix(text: &str) -> String {
    let when = retry_after(text)
        .map(|t| format!("until {t}"))
        .unwrap_or_else(|| {
            "until the CA's limit window passes (see the CA's rate-limit documentation)".into()
        });
    format!(
        "wait {when}; certgate retries by itself after its back-off. Do not delete and recreate the Certificate to retry: every new order counts against the limit"
    )
}
