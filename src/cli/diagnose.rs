//! `certgate diagnose certificate`: walks the troubleshooting tree users walk by hand
//! (Certificate → issuerRef → issuer → CertificateRequest → Order → Challenges →
//! HTTP-01 / DNS-01 checks → rate limits) and prints each step's verdict and fix.
//!
//! Two parts: [`steps`] is pure — it judges a [`Snapshot`] of the objects and of
//! what the live probes saw; [`load`] reads the objects and runs the probes the way
//! the controller would (its resolver configuration, its HTTP-01 self-check, its
//! DNS-01 lookups).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Event, Secret};
use k8s_openapi::api::networking::v1::Ingress;
use kube::ResourceExt;
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde::Serialize;

use crate::api::acme_dns01::{AcmeChallengeSolverDns01, CnameStrategy};
use crate::api::challenge::AcmeChallengeType;
use crate::api::meta::ConditionStatus;
use crate::api::order::State;
use crate::api::{
    AcmeChallengeSolver, Certificate, CertificateRequest, Challenge, ClusterIssuer, Condition,
    Issuer, IssuerConfig, Order,
};
use crate::cli::CliError;
use crate::cli::status::{acme_objects, state_word};
use crate::dns01::selection::{ChallengeKind, NoSolver, select_solver};
use crate::http01::self_check::{Fetch, FetchOutcome, SelfCheckError};

/// A step's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Warn,
    Fail,
    Skip,
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "SKIP",
        }
    }
}

/// One step of the walk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub check: String,
    pub verdict: Verdict,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn step(check: impl Into<String>, verdict: Verdict, detail: impl Into<String>) -> Step {
    Step {
        check: check.into(),
        verdict,
        detail: detail.into(),
        fix: None,
    }
}

fn fail(check: impl Into<String>, detail: impl Into<String>, fix: Option<String>) -> Step {
    Step {
        check: check.into(),
        verdict: Verdict::Fail,
        detail: detail.into(),
        fix,
    }
}

/// The issuer the Certificate refers to, as found.
#[derive(Debug, Clone, PartialEq)]
pub struct IssuerFound {
    /// `Issuer` or `ClusterIssuer`.
    pub kind: String,
    pub name: String,
    pub config: IssuerConfig,
    pub conditions: Vec<Condition>,
}

/// An Event about one of the objects.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventInfo {
    /// The kind of the object it is about.
    pub kind: String,
    pub name: String,
    pub type_: String,
    pub reason: String,
    pub message: String,
}

/// A TXT lookup at one nameserver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameserverTxt {
    pub server: crate::dns01::Nameserver,
    pub values: Result<Vec<String>, String>,
}

/// What the DNS-01 lookups of one challenge found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dns01Probe {
    /// `_acme-challenge.<domain>.`
    pub record: String,
    /// Where its CNAMEs lead (the record itself without CNAME): where the CA looks.
    pub target: Result<String, String>,
    /// The zone of `target`.
    pub zone: Result<String, String>,
    /// The TXT values of `target` at each nameserver asked.
    pub nameservers: Result<Vec<NameserverTxt>, String>,
    /// Only the recursive nameservers were asked (`--dns01-recursive-nameservers-only`).
    pub recursive_only: bool,
}

/// What the live probes of one challenge saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChallengeProbe {
    Http01 {
        fetch: Fetch,
        /// The addresses the solver's Ingress or Gateway reports (may be empty).
        expected_addresses: Vec<String>,
    },
    Dns01(Dns01Probe),
    /// The probe could not be made (e.g. no nameservers to ask).
    Unavailable(String),
}

/// Everything the walk judges.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub namespace: String,
    pub name: String,
    pub certificate: Option<Certificate>,
    /// The namespace's Certificates, to suggest a name when it does not exist.
    pub certificate_names: Vec<String>,
    pub issuer: Option<IssuerFound>,
    /// The Issuers of the namespace and the ClusterIssuers, to explain a wrong issuerRef.
    pub issuer_names: Vec<String>,
    pub cluster_issuer_names: Vec<String>,
    /// Where ClusterIssuers keep their Secrets.
    pub cluster_resource_namespace: String,
    pub request: Option<CertificateRequest>,
    pub order: Option<Order>,
    pub challenges: Vec<Challenge>,
    /// The Secrets the issuer and solvers refer to (`namespace/name`): the names of
    /// their keys, or why they could not be read. Absent: the Secret does not exist.
    pub secrets: BTreeMap<String, Result<Vec<String>, String>>,
    pub events: Vec<EventInfo>,
    /// By Challenge name.
    pub probes: BTreeMap<String, ChallengeProbe>,
    /// CNAME lookups of the `_acme-challenge` records of a failed Order's DNS-01
    /// names, by name (its Challenges are gone; only `record` and `target` are set).
    pub domain_probes: BTreeMap<String, Dns01Probe>,
    /// A Vault issuer's live check from here (log in, `sys/health`), as the
    /// controller makes it; `None` when not a Vault issuer or not probed.
    pub vault_probe: Option<Result<(), String>>,
}

impl Snapshot {
    /// An empty snapshot for `namespace/name` (the Certificate not found).
    pub fn new(namespace: &str, name: &str) -> Snapshot {
        Snapshot {
            namespace: namespace.to_string(),
            name: name.to_string(),
            certificate: None,
            certificate_names: Vec::new(),
            issuer: None,
            issuer_names: Vec::new(),
            cluster_issuer_names: Vec::new(),
            cluster_resource_namespace: "cert-manager".into(),
            request: None,
            order: None,
            challenges: Vec::new(),
            secrets: BTreeMap::new(),
            events: Vec::new(),
            probes: BTreeMap::new(),
            domain_probes: BTreeMap::new(),
            vault_probe: None,
        }
    }

    /// The namespace of the issuer's Secrets.
    pub fn secret_namespace(&self) -> String {
        match &self.issuer {
            Some(i) if i.kind == "ClusterIssuer" => self.cluster_resource_namespace.clone(),
            _ => self.namespace.clone(),
        }
    }
}

/// The overall outcome, and the exit status that tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// No step failed (exit 0); warnings may say an issuance is still in progress.
    Healthy,
    /// A step failed and says how to fix it (exit 1).
    Fixable,
    /// Failing for reasons outside what certgate can tell how to fix, e.g. a CA
    /// error without a known remedy (exit 2).
    Failing,
}

impl Outcome {
    /// Judges the steps: failing when some failure has no fix and none has one.
    pub fn of(steps: &[Step]) -> Outcome {
        let failures: Vec<&Step> = steps
            .iter()
            .filter(|s| s.verdict == Verdict::Fail)
            .collect();
        if failures.is_empty() {
            Outcome::Healthy
        } else if failures.iter().any(|s| s.fix.is_some()) {
            Outcome::Fixable
        } else {
            Outcome::Failing
        }
    }

    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Healthy => 0,
            Outcome::Fixable => 1,
            Outcome::Failing => 2,
        }
    }
}

/// What `diagnose certificate` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// `namespace/name`.
    pub certificate: String,
    pub outcome: Outcome,
    pub exit_code: u8,
    pub steps: Vec<Step>,
}

impl Report {
    pub fn new(snapshot: &Snapshot) -> Report {
        let steps = steps(snapshot);
        let outcome = Outcome::of(&steps);
        Report {
            certificate: format!("{}/{}", snapshot.namespace, snapshot.name),
            outcome,
            exit_code: outcome.exit_code(),
            steps,
        }
    }

    /// One line per step, `[PASS] check — detail`, and an indented `fix:` line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for s in &self.steps {
            let _ = writeln!(out, "[{}] {} — {}", s.verdict.label(), s.check, s.detail);
            if let Some(fix) = &s.fix {
                let _ = writeln!(out, "       fix: {fix}");
            }
        }
        let _ = writeln!(
            out,
            "Result: {}",
            match self.outcome {
                Outcome::Healthy => "healthy",
                Outcome::Fixable => "fixable (see the fixes above)",
                Outcome::Failing => "failing (no known fix; see the failures above)",
            }
        );
        out
    }
}

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

fn condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

fn reason_message(reason: Option<&str>, message: Option<&str>) -> String {
    match (reason.unwrap_or_default(), message.unwrap_or_default()) {
        ("", "") => "no reason given".into(),
        (r, "") => r.to_string(),
        ("", m) => m.to_string(),
        (r, m) => format!("{r}: {m}"),
    }
}

/// The Certificate's own state; returns whether an issuance is in progress (or failed).
fn certificate_ready(s: &Snapshot, cert: &Certificate, out: &mut Vec<Step>) -> bool {
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
fn distance(a: &str, b: &str) -> usize {
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

fn issuer_ref<'a>(
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

fn issuer_ready(s: &Snapshot, issuer: &IssuerFound, out: &mut Vec<Step>) {
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
fn vault_steps(s: &Snapshot, out: &mut Vec<Step>) {
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
fn issuer_secret_refs(config: &IssuerConfig) -> Vec<(String, String, Option<String>)> {
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

fn issuer_secrets(s: &Snapshot, issuer: &IssuerFound, out: &mut Vec<Step>) {
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
fn secret_step(s: &Snapshot, check: &str, ns: &str, name: &str, key: Option<&str>) -> Step {
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

fn request_condition<'a>(
    req: &'a CertificateRequest,
    type_: &str,
) -> Option<&'a crate::api::meta::RequestCondition> {
    crate::certificates::snapshot::request_condition(req, type_)
}

fn certificate_request(s: &Snapshot, in_progress: bool, out: &mut Vec<Step>) {
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
fn is_rate_limited(text: &str) -> bool {
    let l = text.to_ascii_lowercase();
    l.contains("ratelimited") || (l.contains("too many ") && l.contains("retry after"))
}

/// What to do about an error from the CA, when certgate knows.
fn ca_error_fix(text: &str, cert: &str) -> Option<String> {
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

fn forced_https_fix() -> String {
    "a forced HTTPS redirect catches the challenge path: exempt /.well-known/acme-challenge/ from it (ingress-nginx: no global force-ssl-redirect, `nginx.ingress.kubernetes.io/ssl-redirect: \"false\"` on the host's Ingresses; Gateway API: put the redirect on a route that does not match the challenge path)".into()
}

/// `retry after …` in a CA's rate-limit message.
fn retry_after(text: &str) -> Option<String> {
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

fn rate_limit_fix(text: &str) -> String {
    let when = retry_after(text)
        .map(|t| format!("until {t}"))
        .unwrap_or_else(|| {
            "until the CA's limit window passes (see the CA's rate-limit documentation)".into()
        });
    format!(
        "wait {when}; certgate retries by itself after its back-off. Do not delete and recreate the Certificate to retry: every new order counts against the limit"
    )
}

fn order(s: &Snapshot, solvers: &[AcmeChallengeSolver], out: &mut Vec<Step>) {
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
fn dns01_solver_for<'a>(
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
fn failed_order_dns_steps(
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
fn offered_kinds(o: Option<&Order>, domain: &str) -> Vec<ChallengeKind> {
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
fn zone_guess(domain: &str) -> String {
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

fn describe_selector(
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

fn no_solver_fix(
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
fn solver_coverage(o: &Order, solvers: &[AcmeChallengeSolver], out: &mut Vec<Step>) {
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

fn challenge_domain(ch: &Challenge) -> String {
    if ch.spec.wildcard.unwrap_or(false) {
        format!("*.{}", ch.spec.dns_name)
    } else {
        ch.spec.dns_name.clone()
    }
}

/// What to do about a challenge that could not be presented.
fn present_fix(reason: &str, ch: &Challenge, secret_ns: &str) -> Option<String> {
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
            crate::dns01::solver::SUPPORTED.join(", ")
        ));
    }
    if reason.contains("http01.ingress.name") {
        return Some("create the Ingress named by the solver's http01.ingress.name, or remove the name to have certgate create one".into());
    }
    None
}

fn challenge(s: &Snapshot, ch: &Challenge, solvers: &[AcmeChallengeSolver], out: &mut Vec<Step>) {
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
    } else if reason == crate::issuers::acme::challenges::REASON_ACCEPTED {
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

fn http01_steps(s: &Snapshot, ch: &Challenge, domain: &str, out: &mut Vec<Step>) {
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
fn provider_secret_refs(dns01: &AcmeChallengeSolverDns01) -> Vec<(String, String, String)> {
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

fn provider_name(dns01: &AcmeChallengeSolverDns01) -> &'static str {
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
fn cname_step(prefix: &str, p: &Dns01Probe, follow: bool, acme_dns: bool) -> (Step, bool) {
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

fn dns01_steps(
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
        let detail = match crate::dns01::solver::ambient_credentials(&dns01) {
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

fn rate_limits(s: &Snapshot, out: &mut Vec<Step>) {
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

async fn names<K>(api: Api<K>) -> Vec<String>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.list(&ListParams::default())
        .await
        .map(|l| l.items.iter().map(ResourceExt::name_any).collect())
        .unwrap_or_default()
}

/// The Secrets the issuer and the Challenges' solvers refer to.
fn referenced_secrets(s: &Snapshot) -> BTreeSet<(String, String)> {
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
async fn solver_addresses(client: &kube::Client, ch: &Challenge) -> Vec<String> {
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

async fn dns01_probe(
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::net::SocketAddr;

    const NS: &str = "apps";

    fn from<T: serde::de::DeserializeOwned>(v: Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    fn ready(type_: &str, status: &str, reason: &str, message: &str) -> Value {
        json!({"type": type_, "status": status, "reason": reason, "message": message})
    }

    fn certificate(issuer_ref: Value, conditions: Vec<Value>) -> Certificate {
        from(json!({
            "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": "web", "namespace": NS, "uid": "cert-uid"},
            "spec": {"secretName": "web-tls", "dnsNames": ["web.example.com"], "issuerRef": issuer_ref},
            "status": {"conditions": conditions, "revision": 1}
        }))
    }

    fn issuer(kind: &str, name: &str, spec: Value, conditions: Vec<Value>) -> IssuerFound {
        IssuerFound {
            kind: kind.into(),
            name: name.into(),
            config: from(spec),
            conditions: from(json!(conditions)),
        }
    }

    fn acme_spec(solvers: Value) -> Value {
        json!({"acme": {"server": "https://acme.example/dir", "privateKeySecretRef": {"name": "le-account"}, "solvers": solvers}})
    }

    fn request(conditions: Vec<Value>) -> CertificateRequest {
        from(json!({
            "apiVersion": "cert-manager.io/v1", "kind": "CertificateRequest",
            "metadata": {"name": "web-2", "namespace": NS, "uid": "cr-uid",
                "annotations": {"cert-manager.io/certificate-revision": "2"},
                "ownerReferences": [{"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "name": "web", "uid": "cert-uid"}]},
            "spec": {"request": "", "issuerRef": {"name": "le", "kind": "ClusterIssuer"}},
            "status": {"conditions": conditions}
        }))
    }

    fn order(dns_names: &[&str], status: Value) -> Order {
        from(json!({
            "apiVersion": "acme.cert-manager.io/v1", "kind": "Order",
            "metadata": {"name": "web-2-123", "namespace": NS, "uid": "order-uid"},
            "spec": {"request": "", "issuerRef": {"name": "le", "kind": "ClusterIssuer"}, "dnsNames": dns_names},
            "status": status
        }))
    }

    fn challenge(type_: &str, domain: &str, solver: Value, status: Value) -> Challenge {
        from(json!({
            "apiVersion": "acme.cert-manager.io/v1", "kind": "Challenge",
            "metadata": {"name": format!("web-2-123-{}", domain.len()), "namespace": NS},
            "spec": {"url": "https://acme.example/chall/1", "authorizationURL": "https://acme.example/authz/1",
                "dnsName": domain, "type": type_, "token": "tok", "key": "tok.thumb",
                "solver": solver, "issuerRef": {"name": "le", "kind": "ClusterIssuer"}},
            "status": status
        }))
    }

    fn pending_cert() -> Certificate {
        certificate(
            json!({"name": "le", "kind": "ClusterIssuer"}),
            vec![
                ready(
                    "Ready",
                    "False",
                    "DoesNotExist",
                    "Issuing certificate as Secret does not exist",
                ),
                ready(
                    "Issuing",
                    "True",
                    "DoesNotExist",
                    "Issuing certificate as Secret does not exist",
                ),
            ],
        )
    }

    /// An ACME issuance in progress: Certificate, ready ClusterIssuer, pending request.
    fn acme_base(solvers: Value) -> Snapshot {
        let mut s = Snapshot::new(NS, "web");
        s.cluster_resource_namespace = "cert-manager".into();
        s.certificate = Some(pending_cert());
        s.cluster_issuer_names = vec!["le".into()];
        s.issuer = Some(issuer(
            "ClusterIssuer",
            "le",
            acme_spec(solvers),
            vec![ready(
                "Ready",
                "True",
                "ACMEAccountRegistered",
                "The ACME account was registered with the ACME server",
            )],
        ));
        s.request = Some(request(vec![
            ready(
                "Approved",
                "True",
                "cert-manager.io",
                "Certificate request has been approved by cert-manager.io",
            ),
            ready(
                "Ready",
                "False",
                "Pending",
                "Waiting on certificate issuance from order apps/web-2-123: \"pending\"",
            ),
        ]));
        s
    }

    fn find<'a>(steps: &'a [Step], check: &str) -> &'a Step {
        steps
            .iter()
            .find(|s| s.check == check)
            .unwrap_or_else(|| panic!("no step {check:?} in {steps:#?}"))
    }

    fn dns_solver(follow: bool) -> Value {
        let mut d = json!({"rfc2136": {"nameserver": "10.0.0.53", "tsigKeyName": "acme-key",
            "tsigSecretSecretRef": {"name": "tsig", "key": "secret"}}});
        if follow {
            d["cnameStrategy"] = json!("Follow");
        }
        json!({"dns01": d})
    }

    fn http_fetch(outcome: FetchOutcome) -> ChallengeProbe {
        ChallengeProbe::Http01 {
            fetch: Fetch {
                url: "http://web.example.com/.well-known/acme-challenge/tok".into(),
                resolved: vec!["192.0.2.10".parse().unwrap()],
                outcome,
            },
            expected_addresses: vec!["192.0.2.10".into()],
        }
    }

    /// One fixture per verdict: the step that must carry it, and the outcome.
    #[test]
    fn one_fixture_per_verdict() {
        let addr: SocketAddr = "192.0.2.10:80".parse().unwrap();
        struct Case {
            name: &'static str,
            snapshot: Snapshot,
            check: &'static str,
            verdict: Verdict,
            detail: &'static str,
            fix: Option<&'static str>,
            outcome: Outcome,
        }
        let mut cases = Vec::new();

        // issuerRef typo: the closest existing name is suggested.
        let mut s = Snapshot::new(NS, "web");
        s.certificate = Some(certificate(
            json!({"name": "letsencrpyt-prod", "kind": "ClusterIssuer"}),
            vec![ready("Ready", "False", "Pending", "waiting")],
        ));
        s.cluster_issuer_names = vec!["letsencrypt-prod".into(), "selfsigned".into()];
        cases.push(Case {
            name: "issuerRef typo",
            snapshot: s,
            check: "issuerRef",
            verdict: Verdict::Fail,
            detail: "ClusterIssuer \"letsencrpyt-prod\" does not exist",
            fix: Some("did you mean ClusterIssuer \"letsencrypt-prod\"? set issuerRef.name: letsencrypt-prod"),
            outcome: Outcome::Fixable,
        });

        // Wrong kind: an Issuer is referred to, a ClusterIssuer of that name exists.
        let mut s = Snapshot::new(NS, "web");
        s.certificate = Some(certificate(json!({"name": "ca"}), vec![]));
        s.cluster_issuer_names = vec!["ca".into()];
        cases.push(Case {
            name: "wrong kind",
            snapshot: s,
            check: "issuerRef",
            verdict: Verdict::Fail,
            detail: "Issuer \"ca\" does not exist in namespace \"apps\", but a ClusterIssuer \"ca\" exists",
            fix: Some("set issuerRef.kind: ClusterIssuer"),
            outcome: Outcome::Fixable,
        });

        // Issuer not Ready: a CA issuer without its Secret.
        let mut s = Snapshot::new(NS, "web");
        s.certificate = Some(certificate(json!({"name": "ca"}), vec![]));
        s.issuer_names = vec!["ca".into()];
        s.issuer = Some(issuer(
            "Issuer",
            "ca",
            json!({"ca": {"secretName": "ca-kp"}}),
            vec![ready(
                "Ready",
                "False",
                "ErrGetKeyPair",
                "Error getting keypair for CA issuer: secret \"ca-kp\" not found",
            )],
        ));
        cases.push(Case {
            name: "issuer not Ready",
            snapshot: s,
            check: "Issuer Ready",
            verdict: Verdict::Fail,
            detail: "ErrGetKeyPair: Error getting keypair for CA issuer: secret \"ca-kp\" not found",
            fix: Some("create the CA key pair Secret apps/ca-kp with tls.crt and tls.key"),
            outcome: Outcome::Fixable,
        });

        // ACME account not registered.
        let mut s = acme_base(json!([{"http01": {"ingress": {}}}]));
        s.request = None;
        s.issuer = Some(issuer(
            "ClusterIssuer",
            "le",
            acme_spec(json!([])),
            vec![ready(
                "Ready",
                "False",
                "ErrRegisterACMEAccount",
                "Failed to register ACME account: urn:ietf:params:acme:error:externalAccountRequired: External account binding required: this ACME server requires External Account Binding: set spec.acme.externalAccountBinding with the key ID and HMAC key your CA gave you",
            )],
        ));
        cases.push(Case {
            name: "ACME account error",
            snapshot: s,
            check: "ClusterIssuer Ready",
            verdict: Verdict::Fail,
            detail: "ErrRegisterACMEAccount: Failed to register ACME account: urn:ietf:params:acme:error:externalAccountRequired",
            fix: Some("set spec.acme.externalAccountBinding (keyID and keySecretRef) with the key your CA gave you"),
            outcome: Outcome::Fixable,
        });

        // The request was denied.
        let mut s = acme_base(json!([]));
        s.request = Some(request(vec![
            ready(
                "Denied",
                "True",
                "policy.cert-manager.io",
                "No policy approved this request",
            ),
            ready(
                "Ready",
                "False",
                "Denied",
                "The CertificateRequest was denied by an approval controller",
            ),
        ]));
        cases.push(Case {
            name: "request denied",
            snapshot: s,
            check: "CertificateRequest",
            verdict: Verdict::Fail,
            detail: "web-2 was denied (policy.cert-manager.io: No policy approved this request)",
            fix: Some("an approver denied the request: review the approval policy"),
            outcome: Outcome::Fixable,
        });

        // The Order is invalid with a CA error certgate has no remedy for.
        let mut s = acme_base(json!([{"http01": {"ingress": {}}}]));
        s.order = Some(order(
            &["web.example.com"],
            json!({"state": "invalid", "reason": "acme: authorization error for web.example.com: urn:ietf:params:acme:error:rejectedIdentifier: Error creating new order :: Cannot issue for \"web.example.com\": The ACME server refuses to issue a certificate for this domain name, because it is forbidden by policy"}),
        ));
        cases.push(Case {
            name: "order invalid with a CA error",
            snapshot: s,
            check: "Order",
            verdict: Verdict::Fail,
            detail: "web-2-123 is invalid: acme: authorization error for web.example.com: urn:ietf:params:acme:error:rejectedIdentifier",
            fix: None,
            outcome: Outcome::Failing,
        });

        // No solver matches a name of the Order.
        let mut s = acme_base(
            json!([{"selector": {"dnsZones": ["example.com"]}, "dns01": {"rfc2136": {"nameserver": "10.0.0.53"}}}]),
        );
        s.order = Some(order(
            &["app.example.org"],
            json!({"state": "pending", "reason": "Failed to determine a valid solver configuration for the set of domains on the Order: no configured challenge solvers can be used for this challenge: no solver matches \"app.example.org\""}),
        ));
        cases.push(Case {
            name: "no solver for the domain",
            snapshot: s,
            check: "solver for app.example.org",
            verdict: Verdict::Fail,
            detail: "no solver matches \"app.example.org\"",
            fix: Some("add a solver whose selector matches \"app.example.org\" — dnsZones: [example.org] or dnsNames: [app.example.org] — or widen an existing one; solvers now: #1 dns01 dnsZones [example.com]"),
            outcome: Outcome::Fixable,
        });

        // A Challenge waiting on the HTTP-01 self-check, caught by a forced HTTPS redirect.
        let mut s = acme_base(json!([{"http01": {"ingress": {}}}]));
        s.order = Some(order(&["web.example.com"], json!({"state": "pending"})));
        let ch = challenge(
            "HTTP-01",
            "web.example.com",
            json!({"http01": {"ingress": {}}}),
            json!({"state": "pending", "processing": true, "presented": true,
                "reason": "Waiting for HTTP-01 challenge propagation: wrong status code '301', expected '200'"}),
        );
        s.probes.insert(
            ch.name_any(),
            http_fetch(FetchOutcome::Answered {
                addr,
                status: 301,
                location: Some("https://web.example.com/.well-known/acme-challenge/tok".into()),
                body: String::new(),
            }),
        );
        s.challenges = vec![ch];
        cases.push(Case {
            name: "HTTP-01 self-check: forced HTTPS redirect",
            snapshot: s,
            check: "HTTP-01 web.example.com: challenge path",
            verdict: Verdict::Fail,
            detail: "forced HTTPS redirect: http://web.example.com/.well-known/acme-challenge/tok answers 301 to https://web.example.com/",
            fix: Some("a forced HTTPS redirect catches the challenge path"),
            outcome: Outcome::Fixable,
        });

        // DNS-01 without its TSIG Secret.
        let mut s = acme_base(json!([dns_solver(false)]));
        s.order = Some(order(&["web.example.com"], json!({"state": "pending"})));
        let ch = challenge(
            "DNS-01",
            "web.example.com",
            dns_solver(false),
            json!({"state": "pending", "processing": true, "presented": false,
                "reason": "Error presenting challenge: the TSIG Secret cert-manager/tsig named by rfc2136.tsigSecretSecretRef does not exist"}),
        );
        s.challenges = vec![ch];
        cases.push(Case {
            name: "DNS-01 missing TSIG Secret",
            snapshot: s,
            check: "DNS-01 web.example.com: rfc2136 credentials",
            verdict: Verdict::Fail,
            detail: "dns01.rfc2136.tsigSecretSecretRef: Secret cert-manager/tsig does not exist",
            fix: Some("create Secret tsig in namespace cert-manager with key \"secret\""),
            outcome: Outcome::Fixable,
        });

        // Rate limited by the CA.
        let mut s = acme_base(json!([{"http01": {"ingress": {}}}]));
        s.order = Some(order(
            &["web.example.com"],
            json!({"state": "errored", "reason": "Failed to create Order: urn:ietf:params:acme:error:rateLimited: too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s, retry after 2025-06-04 21:41:09 UTC: see https://letsencrypt.org/docs/rate-limits/"}),
        ));
        cases.push(Case {
            name: "rate limited",
            snapshot: s,
            check: "CA rate limits",
            verdict: Verdict::Fail,
            detail: "the CA refuses for now: Failed to create Order: urn:ietf:params:acme:error:rateLimited",
            fix: Some("wait until 2025-06-04 21:41:09 UTC; certgate retries by itself"),
            outcome: Outcome::Fixable,
        });

        // Healthy.
        let mut s = acme_base(json!([{"http01": {"ingress": {}}}]));
        s.certificate = Some(certificate(
            json!({"name": "le", "kind": "ClusterIssuer"}),
            vec![ready(
                "Ready",
                "True",
                "Ready",
                "Certificate is up to date and has not expired",
            )],
        ));
        s.request = Some(request(vec![
            ready("Approved", "True", "cert-manager.io", "approved"),
            ready(
                "Ready",
                "True",
                "Issued",
                "Certificate fetched from issuer successfully",
            ),
        ]));
        s.order = Some(order(&["web.example.com"], json!({"state": "valid"})));
        cases.push(Case {
            name: "healthy",
            snapshot: s,
            check: "Certificate Ready",
            verdict: Verdict::Pass,
            detail: "Ready: Certificate is up to date and has not expired",
            fix: None,
            outcome: Outcome::Healthy,
        });

        for c in cases {
            let steps = super::steps(&c.snapshot);
            let st = find(&steps, c.check);
            assert_eq!(st.verdict, c.verdict, "{}: {st:#?}", c.name);
            assert!(
                st.detail.contains(c.detail),
                "{}: detail {:?} lacks {:?}",
                c.name,
                st.detail,
                c.detail
            );
            match c.fix {
                None => assert_eq!(st.fix, None, "{}", c.name),
                Some(f) => assert!(
                    st.fix.as_deref().is_some_and(|have| have.contains(f)),
                    "{}: fix {:?} lacks {f:?}",
                    c.name,
                    st.fix
                ),
            }
            assert_eq!(Outcome::of(&steps), c.outcome, "{}: {steps:#?}", c.name);
            if c.outcome == Outcome::Healthy {
                assert!(
                    steps
                        .iter()
                        .all(|s| matches!(s.verdict, Verdict::Pass | Verdict::Skip)),
                    "{steps:#?}"
                );
            }
        }
    }

    #[test]
    fn dns01_cname_without_follow_and_per_nameserver_verdicts() {
        let mut s = acme_base(json!([dns_solver(false)]));
        s.secrets
            .insert("cert-manager/tsig".into(), Ok(vec!["secret".into()]));
        s.order = Some(order(&["fail.example.com"], json!({"state": "pending"})));
        let ch = challenge(
            "DNS-01",
            "fail.example.com",
            dns_solver(false),
            json!({"state": "pending", "processing": true, "presented": true,
                "reason": "Waiting for DNS-01 challenge propagation: DNS record for \"_acme-challenge.fail.example.com.\" (CNAME to \"_acme-challenge.wrong.example.com.\") not yet propagated"}),
        );
        let ns1: SocketAddr = "192.0.2.53:53".parse().unwrap();
        let ns2: SocketAddr = "192.0.2.54:53".parse().unwrap();
        s.probes.insert(
            ch.name_any(),
            ChallengeProbe::Dns01(Dns01Probe {
                record: "_acme-challenge.fail.example.com.".into(),
                target: Ok("_acme-challenge.wrong.example.com.".into()),
                zone: Ok("example.com.".into()),
                nameservers: Ok(vec![
                    NameserverTxt {
                        server: ns1.into(),
                        values: Ok(vec!["not-the-key".into()]),
                    },
                    NameserverTxt {
                        server: ns2.into(),
                        values: Ok(vec!["tok.thumb".into()]),
                    },
                ]),
                recursive_only: false,
            }),
        );
        s.challenges = vec![ch];
        let steps = super::steps(&s);
        let challenge = find(&steps, "Challenge fail.example.com (DNS-01)");
        assert_eq!(challenge.verdict, Verdict::Warn);
        let creds = find(&steps, "DNS-01 fail.example.com: rfc2136 credentials");
        assert_eq!(creds.verdict, Verdict::Pass, "{creds:?}");
        let selector = find(&steps, "DNS-01 fail.example.com: solver selector");
        assert_eq!(selector.verdict, Verdict::Pass, "{selector:?}");
        assert!(
            selector.detail.contains("(zone example.com.)"),
            "{selector:?}"
        );
        let cname = find(&steps, "DNS-01 fail.example.com: CNAME delegation");
        assert_eq!(cname.verdict, Verdict::Fail);
        assert!(
            cname
                .detail
                .contains("is a CNAME to _acme-challenge.wrong.example.com."),
            "{cname:?}"
        );
        assert!(
            cname
                .fix
                .as_deref()
                .unwrap()
                .starts_with("set cnameStrategy: Follow"),
            "{cname:?}"
        );
        let at1 = find(
            &steps,
            "DNS-01 fail.example.com: TXT at authoritative nameserver 192.0.2.53:53",
        );
        assert_eq!(at1.verdict, Verdict::Fail);
        assert_eq!(
            at1.detail,
            "_acme-challenge.wrong.example.com. has 1 TXT value(s), none is the challenge's"
        );
        let at2 = find(
            &steps,
            "DNS-01 fail.example.com: TXT at authoritative nameserver 192.0.2.54:53",
        );
        assert_eq!(at2.verdict, Verdict::Pass);
        assert_eq!(Outcome::of(&steps), Outcome::Fixable);

        // Followed: the CNAME passes.
        let mut followed = s.clone();
        followed.issuer = Some(issuer(
            "ClusterIssuer",
            "le",
            acme_spec(json!([dns_solver(true)])),
            vec![],
        ));
        followed.challenges[0].spec.solver = from(dns_solver(true));
        let steps = super::steps(&followed);
        assert_eq!(
            find(&steps, "DNS-01 fail.example.com: CNAME delegation").verdict,
            Verdict::Pass
        );
    }

    #[test]
    fn http01_unresolved_and_unreachable() {
        let base = || {
            let mut s = acme_base(json!([{"http01": {"ingress": {}}}]));
            s.order = Some(order(&["web.example.com"], json!({"state": "pending"})));
            s.challenges = vec![challenge(
                "HTTP-01",
                "web.example.com",
                json!({"http01": {"ingress": {}}}),
                json!({"state": "pending", "processing": true, "presented": true}),
            )];
            s
        };
        let name = base().challenges[0].name_any();
        let mut s = base();
        s.probes.insert(
            name.clone(),
            ChallengeProbe::Http01 {
                fetch: Fetch {
                    url: "http://web.example.com/.well-known/acme-challenge/tok".into(),
                    resolved: vec![],
                    outcome: FetchOutcome::Unresolved {
                        reason: "lookup web.example.com: no such host".into(),
                    },
                },
                expected_addresses: vec!["192.0.2.10".into()],
            },
        );
        let steps = super::steps(&s);
        let dns = find(&steps, "HTTP-01 web.example.com: name resolves");
        assert_eq!(dns.verdict, Verdict::Fail);
        assert!(
            dns.fix.as_deref().unwrap().contains("(192.0.2.10)"),
            "{dns:?}"
        );
        assert_eq!(
            find(&steps, "HTTP-01 web.example.com: port reachable").verdict,
            Verdict::Skip
        );

        let mut s = base();
        let addr: SocketAddr = "192.0.2.10:80".parse().unwrap();
        s.probes.insert(
            name.clone(),
            http_fetch(FetchOutcome::Unreachable {
                addr,
                reason: "dial tcp 192.0.2.10:80: connection refused".into(),
            }),
        );
        let steps = super::steps(&s);
        assert_eq!(
            find(&steps, "HTTP-01 web.example.com: name resolves").verdict,
            Verdict::Pass
        );
        let port = find(&steps, "HTTP-01 web.example.com: port reachable");
        assert_eq!(port.verdict, Verdict::Fail);
        assert!(
            port.fix
                .as_deref()
                .unwrap()
                .starts_with("open port 80 on 192.0.2.10"),
            "{port:?}"
        );

        let mut s = base();
        s.probes.insert(
            name,
            http_fetch(FetchOutcome::Answered {
                addr,
                status: 200,
                location: None,
                body: "tok.thumb\n".into(),
            }),
        );
        let steps = super::steps(&s);
        assert_eq!(
            find(&steps, "HTTP-01 web.example.com: challenge path").verdict,
            Verdict::Pass
        );
        assert_eq!(Outcome::of(&steps), Outcome::Healthy, "{steps:#?}");
    }

    #[test]
    fn missing_certificate_suggests_a_name_and_typos_are_found() {
        let mut s = Snapshot::new(NS, "wbe");
        s.certificate_names = vec!["web".into(), "api".into()];
        let steps = super::steps(&s);
        assert_eq!(steps.len(), 1);
        assert_eq!(
            steps[0].fix.as_deref(),
            Some("did you mean \"web\"? certgate diagnose certificate web -n apps")
        );
        assert_eq!(
            closest("letsencrypt-prd", &["letsencrypt-prod".into()]),
            Some("letsencrypt-prod")
        );
        assert_eq!(closest("ca", &["vault".into()]), None);
        assert_eq!(
            retry_after("x, retry after 2025-01-01 00:00:00 UTC: see y").as_deref(),
            Some("2025-01-01 00:00:00 UTC")
        );
    }

    #[test]
    fn the_table_has_one_line_per_step_and_an_indented_fix() {
        let mut s = Snapshot::new(NS, "web");
        s.certificate = Some(certificate(json!({"name": "ca"}), vec![]));
        s.cluster_issuer_names = vec!["ca".into()];
        let report = Report::new(&s);
        assert_eq!(report.exit_code, 1);
        let text = report.render();
        assert!(
            text.contains("[FAIL] issuerRef — Issuer \"ca\" does not exist"),
            "{text}"
        );
        assert!(
            text.contains("\n       fix: set issuerRef.kind: ClusterIssuer\n"),
            "{text}"
        );
        let v = serde_json::to_value(&report).unwrap();
        assert_eq!(v["outcome"], "fixable");
        assert_eq!(v["steps"][1]["verdict"], "fail");
    }

    #[test]
    fn a_failed_order_without_challenges_still_gets_its_cname_checked() {
        let mut s = acme_base(json!([dns_solver(false)]));
        s.order = Some(order(
            &["fail.example.com"],
            json!({"state": "invalid", "reason": "acme: authorization error for fail.example.com: urn:ietf:params:acme:error:unauthorized: Correct value not found for DNS challenge"}),
        ));
        s.domain_probes.insert(
            "fail.example.com".into(),
            Dns01Probe {
                record: "_acme-challenge.fail.example.com.".into(),
                target: Ok("_acme-challenge.wrong.example.com.".into()),
                zone: Err("not checked".into()),
                nameservers: Err("not checked".into()),
                recursive_only: false,
            },
        );
        let steps = super::steps(&s);
        let o = find(&steps, "Order");
        assert_eq!(o.verdict, Verdict::Fail);
        assert!(
            o.fix
                .as_deref()
                .unwrap()
                .contains("the CA did not find the challenge's TXT value"),
            "{o:?}"
        );
        let cname = find(&steps, "DNS-01 fail.example.com: CNAME delegation");
        assert_eq!(cname.verdict, Verdict::Fail);
        assert!(
            cname
                .fix
                .as_deref()
                .unwrap()
                .starts_with("set cnameStrategy: Follow")
        );
    }

    #[test]
    fn refused_provider_credentials_are_explained() {
        let ch = challenge("DNS-01", "a.example.com", dns_solver(false), json!({}));
        let fix =
            present_fix("cloudflare: 403 Forbidden: Authentication error", &ch, "ns").unwrap();
        assert!(
            fix.starts_with("the DNS provider refused the credentials"),
            "{fix}"
        );
        let fix = present_fix("a.example.com. answered BADTIME", &ch, "ns").unwrap();
        assert!(fix.contains("NTP"), "{fix}");
        let fix = present_fix(
            "this DNS-01 provider is not supported by certgate yet (supported: rfc2136)",
            &ch,
            "ns",
        )
        .unwrap();
        assert!(fix.contains("digitalocean, acmeDNS"), "{fix}");
        assert!(fix.contains("azureDNS, akamai"), "{fix}");
        let fix = present_fix(
            "Entra ID refused the service principal c of tenant t with the client secret from Secret ns/azuredns key \"client-secret\" (HTTP 400, invalid_client, AADSTS7000215: Invalid client secret provided)",
            &ch,
            "ns",
        )
        .unwrap();
        assert!(
            fix.starts_with("the DNS provider refused the credentials"),
            "{fix}"
        );
        let fix = present_fix(
            "Akamai refused the request's timestamp (HTTP 400, Bad request: Invalid timestamp) when reading the TXT record set",
            &ch,
            "ns",
        )
        .unwrap();
        assert!(fix.contains("NTP"), "{fix}");
    }

    #[test]
    fn acme_dns_needs_the_cname_whatever_cname_strategy_says() {
        let probe = |target: &str| Dns01Probe {
            record: "_acme-challenge.a.example.com.".into(),
            target: Ok(target.into()),
            zone: Err("not checked".into()),
            nameservers: Err("not checked".into()),
            recursive_only: false,
        };
        let fulldomain = "d420c923-bbd7-4056-ab64-c3ca54c9b3cf.auth.acme-dns.io.";
        let (st, misplaced) = cname_step("DNS-01 a.example.com", &probe(fulldomain), false, true);
        assert_eq!(st.verdict, Verdict::Pass, "{st:?}");
        assert!(!misplaced);
        let (st, misplaced) = cname_step(
            "DNS-01 a.example.com",
            &probe("_acme-challenge.a.example.com."),
            false,
            true,
        );
        assert_eq!(st.verdict, Verdict::Fail);
        assert!(misplaced);
        assert!(
            st.fix
                .as_deref()
                .unwrap()
                .contains("acmeDNS.accountSecretRef"),
            "{st:?}"
        );
        // Without acme-dns, an unfollowed CNAME is still the problem it was.
        let (st, misplaced) = cname_step("DNS-01 a.example.com", &probe(fulldomain), false, false);
        assert_eq!(st.verdict, Verdict::Fail);
        assert!(misplaced);
    }

    #[test]
    fn a_vault_issuer_gets_its_secrets_its_probe_and_fixes_checked() {
        let mut s = Snapshot::new(NS, "web");
        s.certificate = Some(certificate(
            json!({"name": "vault", "kind": "Issuer"}),
            vec![ready("Ready", "False", "Issuing", "pending")],
        ));
        s.issuer = Some(issuer(
            "Issuer",
            "vault",
            json!({"vault": {"server": "https://vault:8200", "path": "pki/sign/web",
                "auth": {"tokenSecretRef": {"name": "vault-token"}}}}),
            vec![ready(
                "Ready",
                "False",
                "VaultError",
                "Failed to verify Vault is initialized and unsealed: Vault is sealed",
            )],
        ));
        s.vault_probe = Some(Err(
            "cannot reach Vault at https://vault:8200: invalid peer certificate: UnknownIssuer"
                .into(),
        ));
        s.request = Some(request(vec![ready(
            "Ready",
            "False",
            "Failed",
            "Vault failed to sign certificate: Vault said HTTP 400 to POST /v1/pki/sign/web: common name web.evil not allowed by this role",
        )]));
        let steps = steps(&s);
        let find = |check: &str| {
            steps
                .iter()
                .find(|st| st.check.starts_with(check))
                .unwrap_or_else(|| panic!("no step {check}: {steps:#?}"))
        };
        let ready_step = find("Issuer Ready");
        assert_eq!(ready_step.verdict, Verdict::Fail);
        assert!(
            ready_step
                .fix
                .as_deref()
                .unwrap_or_default()
                .contains("unseal")
        );
        let secret = find("Issuer Secret spec.vault.auth.tokenSecretRef");
        assert_eq!(secret.verdict, Verdict::Fail);
        assert!(
            secret
                .fix
                .as_deref()
                .unwrap_or_default()
                .contains("\"token\"")
        );
        let probe = find("Vault reachable");
        assert_eq!(probe.verdict, Verdict::Fail);
        assert!(
            probe
                .fix
                .as_deref()
                .unwrap_or_default()
                .contains("caBundle")
        );
        let request = find("CertificateRequest");
        assert!(
            request
                .fix
                .as_deref()
                .unwrap_or_default()
                .contains("allowed_domains"),
            "{request:?}"
        );
    }

    #[test]
    fn webhook_solver_failures_are_explained() {
        let ch = challenge("DNS-01", "a.example.com", dns_solver(false), json!({}));
        let fix = present_fix(
            "certgate may not create hetzner in API group acme.example.com (HTTP 403): bind certgate's ServiceAccount",
            &ch,
            "ns",
        )
        .unwrap();
        assert!(fix.contains("certManager.serviceAccountName"), "{fix}");
        let fix = present_fix(
            "no webhook solver serves acme.example.com/v1alpha1 hetzner (HTTP 404): install the webhook",
            &ch,
            "ns",
        )
        .unwrap();
        assert!(fix.contains("kubectl get apiservice"), "{fix}");
    }
}
