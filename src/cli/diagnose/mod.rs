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

mod acme;
mod load;
mod solvers;
mod walk;

use acme::*;
pub use load::{Options, certificate, load};
use solvers::*;
use walk::*;
pub use walk::{closest, steps, vault_fix};

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
                "reason": "Error presenting challenge: the Secret cert-manager/tsig named by rfc2136.tsigSecretSecretRef does not exist"}),
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
