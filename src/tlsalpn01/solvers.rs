//! TLS-ALPN-01 solvers of an ACME Issuer or ClusterIssuer (pure).
//!
//! cert-manager's `spec.acme.solvers[]` has no TLS-ALPN-01 type, and its schema
//! (which certgate serves unchanged) requires each entry to be `http01` or `dns01`.
//! So certgate reads TLS-ALPN-01 solvers from an annotation on the issuer,
//! [`SOLVERS_ANNOTATION`], a YAML (or JSON) list in the style of `solvers[]`:
//!
//! ```yaml
//! certgate.io/tls-alpn01-solvers: |
//!   - selector: {dnsNames: [db.example.com]}
//!     gatewayTLSRoute:
//!       parentRefs: [{name: edge, namespace: infra, sectionName: tls-passthrough}]
//! ```
//!
//! The issuer stays valid for cert-manager (which ignores the annotation), so going
//! back is a matter of the other solvers. They join the selection after the
//! issuer's `solvers[]` (same rules: `dnsNames` > most specific `dnsZones` >
//! `matchLabels` > first listed) and never solve wildcard names (RFC 8737).
//!
//! The solver chosen for a Challenge travels on it as [`CHALLENGE_SOLVER_ANNOTATION`]
//! (JSON), since the Challenge's `spec.solver` has no place for it either.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::acme::{CertificateDnsNameSelector, ParentReference, ServiceType};
use crate::api::annotations as ann;
use crate::dns01::selection::{ChallengeKind, SolverCandidate};

/// The issuer annotation listing its TLS-ALPN-01 solvers.
pub const SOLVERS_ANNOTATION: &str = "certgate.io/tls-alpn01-solvers";
/// The Challenge annotation holding the TLS-ALPN-01 solver chosen for it.
pub const CHALLENGE_SOLVER_ANNOTATION: &str = "certgate.io/tls-alpn01-solver";

/// The issuer's Ready reason when the annotation cannot be read.
pub const REASON_INVALID: &str = "InvalidTLSALPN01Solvers";

/// Why the TLS-ALPN-01 solvers cannot be read or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SolversError {
    #[error("annotation {SOLVERS_ANNOTATION} is not a valid list of TLS-ALPN-01 solvers: {0}")]
    Invalid(String),
    #[error(
        "annotation {SOLVERS_ANNOTATION}: solver {index} has no gatewayTLSRoute.parentRefs and the Certificate did not come from a Gateway: name the Gateway listener (TLS, mode Passthrough) the CA connects to"
    )]
    NoParentRefs { index: usize },
    #[error("annotation {CHALLENGE_SOLVER_ANNOTATION} on the Challenge is missing or invalid: {0}")]
    ChallengeSolver(String),
}

/// One TLS-ALPN-01 solver.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsAlpn01Solver {
    /// Which names it solves, as a `solvers[]` entry's selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<CertificateDnsNameSelector>,
    /// The temporary TLSRoute that sends the CA's TLS connection to certgate.
    #[serde(rename = "gatewayTLSRoute", default)]
    pub gateway_tls_route: GatewayTlsRoute,
}

/// The temporary TLSRoute of a TLS-ALPN-01 challenge.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayTlsRoute {
    /// The Gateway listeners (TLS, mode Passthrough) it attaches to. When empty,
    /// the Gateway (or ListenerSet) the Certificate came from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parent_refs: Vec<ParentReference>,
    /// Labels added to the TLSRoute.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The per-challenge Service's type: `ClusterIP` (default) or `NodePort`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_type: Option<ServiceType>,
}

impl SolverCandidate for TlsAlpn01Solver {
    fn selector(&self) -> Option<&CertificateDnsNameSelector> {
        self.selector.as_ref()
    }

    fn solves(&self, kind: ChallengeKind, wildcard: bool) -> bool {
        kind == ChallengeKind::TlsAlpn01 && !wildcard
    }
}

/// The TLS-ALPN-01 solvers an issuer's annotations list (none without the
/// annotation).
pub fn from_issuer_annotations(
    annotations: &BTreeMap<String, String>,
) -> Result<Vec<TlsAlpn01Solver>, SolversError> {
    let Some(text) = annotations
        .get(SOLVERS_ANNOTATION)
        .filter(|t| !t.trim().is_empty())
    else {
        return Ok(Vec::new());
    };
    serde_saphyr::from_str::<Vec<TlsAlpn01Solver>>(text)
        .map_err(|e| SolversError::Invalid(e.to_string()))
}

/// The solver as it goes on a Challenge: without parentRefs of its own, the
/// Gateway the Certificate came from (the Order's `http01-parentref*` annotations,
/// written by the Gateway shim).
pub fn for_challenge(
    solver: &TlsAlpn01Solver,
    index: usize,
    order_annotations: &BTreeMap<String, String>,
    order_namespace: &str,
) -> Result<TlsAlpn01Solver, SolversError> {
    let mut chosen = solver.clone();
    if chosen.gateway_tls_route.parent_refs.is_empty() {
        let name = order_annotations.get(ann::HTTP01_PARENTREF_NAME);
        let kind = order_annotations.get(ann::HTTP01_PARENTREF_KIND);
        let (Some(name), Some(kind)) = (name, kind) else {
            return Err(SolversError::NoParentRefs { index });
        };
        let namespace = order_annotations
            .get(ann::HTTP01_PARENTREF_NAMESPACE)
            .filter(|ns| !ns.is_empty())
            .map_or(order_namespace, String::as_str);
        chosen.gateway_tls_route.parent_refs = vec![ParentReference {
            kind: Some(kind.clone()),
            name: name.clone(),
            namespace: Some(namespace.to_string()),
            ..Default::default()
        }];
    }
    Ok(chosen)
}

/// The TLS-ALPN-01 solver a Challenge carries.
pub fn of_challenge(
    annotations: &BTreeMap<String, String>,
) -> Result<TlsAlpn01Solver, SolversError> {
    let text = annotations
        .get(CHALLENGE_SOLVER_ANNOTATION)
        .ok_or_else(|| SolversError::ChallengeSolver("not set".into()))?;
    serde_json::from_str(text).map_err(|e| SolversError::ChallengeSolver(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_annotation_reads_as_yaml_or_json_and_unknown_fields_are_refused() {
        let yaml = "- selector: {dnsNames: [db.example.com]}\n  gatewayTLSRoute:\n    parentRefs: [{name: edge, namespace: infra, sectionName: tls}]\n    labels: {team: db}\n";
        let solvers = from_issuer_annotations(&annotations(&[(SOLVERS_ANNOTATION, yaml)])).unwrap();
        assert_eq!(solvers.len(), 1);
        let s = &solvers[0];
        assert_eq!(
            s.selector.as_ref().and_then(|sel| sel.dns_names.clone()),
            Some(vec!["db.example.com".to_string()])
        );
        assert_eq!(s.gateway_tls_route.parent_refs[0].name, "edge");
        assert_eq!(
            s.gateway_tls_route.parent_refs[0].section_name.as_deref(),
            Some("tls")
        );
        assert_eq!(s.gateway_tls_route.labels["team"], "db");

        let json = r#"[{"gatewayTLSRoute": {"parentRefs": [{"name": "edge"}]}}]"#;
        let solvers = from_issuer_annotations(&annotations(&[(SOLVERS_ANNOTATION, json)])).unwrap();
        assert!(solvers[0].selector.is_none());

        assert!(
            from_issuer_annotations(&BTreeMap::new())
                .unwrap()
                .is_empty()
        );
        let typo = "- gatewayTLSRoutes: {parentRefs: [{name: edge}]}";
        let err = from_issuer_annotations(&annotations(&[(SOLVERS_ANNOTATION, typo)])).unwrap_err();
        assert!(
            err.to_string().contains(SOLVERS_ANNOTATION)
                && err.to_string().contains("gatewayTLSRoutes"),
            "{err}"
        );
    }

    #[test]
    fn tls_alpn_solvers_never_take_wildcards_or_other_types() {
        let s = TlsAlpn01Solver::default();
        assert!(s.solves(ChallengeKind::TlsAlpn01, false));
        assert!(!s.solves(ChallengeKind::TlsAlpn01, true));
        assert!(!s.solves(ChallengeKind::Http01, false));
        assert!(!s.solves(ChallengeKind::Dns01, false));
    }

    #[test]
    fn without_parent_refs_the_source_gateway_is_the_parent() {
        let bare = TlsAlpn01Solver::default();
        let order = annotations(&[
            (ann::HTTP01_PARENTREF_KIND, "Gateway"),
            (ann::HTTP01_PARENTREF_NAME, "edge"),
        ]);
        let chosen = for_challenge(&bare, 0, &order, "app").unwrap();
        assert_eq!(
            chosen.gateway_tls_route.parent_refs,
            [ParentReference {
                kind: Some("Gateway".into()),
                name: "edge".into(),
                namespace: Some("app".into()),
                ..Default::default()
            }]
        );
        assert_eq!(
            for_challenge(&bare, 2, &BTreeMap::new(), "app"),
            Err(SolversError::NoParentRefs { index: 2 })
        );
        // Configured parentRefs are kept as they are.
        let configured = TlsAlpn01Solver {
            gateway_tls_route: GatewayTlsRoute {
                parent_refs: vec![ParentReference {
                    name: "shared".into(),
                    ..Default::default()
                }],
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            for_challenge(&configured, 0, &order, "app").unwrap(),
            configured
        );
    }

    #[test]
    fn the_challenge_annotation_round_trips() {
        let s = TlsAlpn01Solver {
            gateway_tls_route: GatewayTlsRoute {
                parent_refs: vec![ParentReference {
                    name: "edge".into(),
                    ..Default::default()
                }],
                ..Default::default()
            },
            ..Default::default()
        };
        let text = serde_json::to_string(&s).unwrap();
        let back = of_challenge(&annotations(&[(CHALLENGE_SOLVER_ANNOTATION, &text)])).unwrap();
        assert_eq!(back, s);
        assert!(of_challenge(&BTreeMap::new()).is_err());
    }
}
