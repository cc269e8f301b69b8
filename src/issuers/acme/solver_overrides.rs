//! The Order annotations that adjust the chosen HTTP-01 solver for one Order (pure),
//! as cert-manager's `applyIngressParameterAnnotationOverrides` and
//! `applyGatewayAPIAnnotationParentRefOverride` do. The Ingress and Gateway shims
//! write them on the Certificates they make; they reach the Order through the
//! CertificateRequest:
//!
//! * `acme.cert-manager.io/http01-override-ingress-name` (edit the source Ingress in
//!   place), `…-override-ingress-class`, `…-override-ingress-ingressclassname`: at
//!   most one, replacing the solver's `ingress.name`, `class` and `ingressClassName`;
//! * `acme.cert-manager.io/http01-parentrefkind` + `…-parentrefname` (+ optional
//!   `…-parentrefnamespace`, else the Order's namespace): the Gateway or ListenerSet
//!   the Certificate came from becomes a parentRef of the solver HTTPRoute, replacing
//!   an issuer-configured parentRef to the same object. This is what lets a
//!   `gatewayHTTPRoute: {}` solver with no parentRefs serve every Gateway.

use std::collections::BTreeMap;

use crate::api::AcmeChallengeSolver;
use crate::api::acme::ParentReference;
use crate::api::annotations as ann;

/// Why the Order's annotations cannot be applied (cert-manager's messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverrideError {
    #[error("may not specify more than one of: name, class, ingressClassName override annotations")]
    ManyIngressOverrides,
    #[error("cannot specify only one of parentRefName, parentRefKind override annotations")]
    HalfParentRef,
    #[error("must specify parentRefs either through annotations or solver config")]
    NoParentRefs,
}

/// Applies both kinds of override to `solver` (a copy of the issuer's, chosen for
/// one authorization).
pub fn apply(
    annotations: &BTreeMap<String, String>,
    order_namespace: &str,
    solver: &mut AcmeChallengeSolver,
) -> Result<(), OverrideError> {
    apply_ingress(annotations, solver)?;
    apply_parent_ref(annotations, order_namespace, solver)
}

fn apply_ingress(
    annotations: &BTreeMap<String, String>,
    solver: &mut AcmeChallengeSolver,
) -> Result<(), OverrideError> {
    let Some(ingress) = solver.http01.as_mut().and_then(|h| h.ingress.as_mut()) else {
        return Ok(());
    };
    let name = annotations.get(ann::HTTP01_OVERRIDE_INGRESS_NAME);
    let class = annotations.get(ann::HTTP01_OVERRIDE_INGRESS_CLASS);
    let class_name = annotations.get(ann::HTTP01_OVERRIDE_INGRESS_INGRESSCLASSNAME);
    let given = [name, class, class_name].iter().flatten().count();
    if given > 1 {
        return Err(OverrideError::ManyIngressOverrides);
    }
    if given == 1 {
        ingress.name = name.cloned();
        ingress.class = class.cloned();
        ingress.ingress_class_name = class_name.cloned();
    }
    Ok(())
}

fn apply_parent_ref(
    annotations: &BTreeMap<String, String>,
    order_namespace: &str,
    solver: &mut AcmeChallengeSolver,
) -> Result<(), OverrideError> {
    let Some(route) = solver
        .http01
        .as_mut()
        .and_then(|h| h.gateway_http_route.as_mut())
    else {
        return Ok(());
    };
    let name = annotations.get(ann::HTTP01_PARENTREF_NAME);
    let kind = annotations.get(ann::HTTP01_PARENTREF_KIND);
    let mut refs = route.parent_refs.take().unwrap_or_default();
    match (name, kind) {
        (Some(name), Some(kind)) => {
            let namespace = annotations
                .get(ann::HTTP01_PARENTREF_NAMESPACE)
                .filter(|ns| !ns.is_empty())
                .map_or(order_namespace, String::as_str);
            // An issuer-configured parentRef to the same object gives way (a parentRef
            // without a kind matches any kind; sections are not compared).
            refs.retain(|r| {
                let same = r.namespace.as_deref() == Some(namespace)
                    && r.name == *name
                    && r.kind.as_deref().is_none_or(|k| k == kind);
                !same
            });
            refs.push(ParentReference {
                name: name.clone(),
                namespace: Some(namespace.to_string()),
                kind: Some(kind.clone()),
                ..Default::default()
            });
        }
        (None, None) => {}
        _ => return Err(OverrideError::HalfParentRef),
    }
    if refs.is_empty() {
        return Err(OverrideError::NoParentRefs);
    }
    route.parent_refs = Some(refs);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::acme::{
        AcmeChallengeSolverHttp01, AcmeChallengeSolverHttp01GatewayHttpRoute,
        AcmeChallengeSolverHttp01Ingress,
    };

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn ingress_solver() -> AcmeChallengeSolver {
        AcmeChallengeSolver {
            http01: Some(AcmeChallengeSolverHttp01 {
                ingress: Some(AcmeChallengeSolverHttp01Ingress {
                    class: Some("nginx".into()),
                    ..Default::default()
                }),
                gateway_http_route: None,
            }),
            ..Default::default()
        }
    }

    fn route_solver(refs: Option<Vec<ParentReference>>) -> AcmeChallengeSolver {
        AcmeChallengeSolver {
            http01: Some(AcmeChallengeSolverHttp01 {
                ingress: None,
                gateway_http_route: Some(AcmeChallengeSolverHttp01GatewayHttpRoute {
                    parent_refs: refs,
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }
    }

    fn parent(name: &str, ns: Option<&str>, kind: Option<&str>) -> ParentReference {
        ParentReference {
            name: name.into(),
            namespace: ns.map(str::to_string),
            kind: kind.map(str::to_string),
            ..Default::default()
        }
    }

    fn refs(s: &AcmeChallengeSolver) -> Vec<ParentReference> {
        s.http01
            .as_ref()
            .and_then(|h| h.gateway_http_route.as_ref())
            .and_then(|g| g.parent_refs.clone())
            .unwrap_or_default()
    }

    #[test]
    fn one_ingress_override_replaces_name_class_and_class_name() {
        let mut s = ingress_solver();
        apply(
            &annotations(&[(ann::HTTP01_OVERRIDE_INGRESS_NAME, "web")]),
            "app",
            &mut s,
        )
        .unwrap();
        let ing = s.http01.unwrap().ingress.unwrap();
        assert_eq!(ing.name.as_deref(), Some("web"));
        assert_eq!(ing.class, None, "the issuer's class gives way");

        let mut s = ingress_solver();
        apply(
            &annotations(&[(ann::HTTP01_OVERRIDE_INGRESS_INGRESSCLASSNAME, "internal")]),
            "app",
            &mut s,
        )
        .unwrap();
        let ing = s.http01.unwrap().ingress.unwrap();
        assert_eq!(ing.ingress_class_name.as_deref(), Some("internal"));
        assert_eq!(ing.class, None);

        let mut untouched = ingress_solver();
        apply(&BTreeMap::new(), "app", &mut untouched).unwrap();
        assert_eq!(untouched, ingress_solver());

        let mut s = ingress_solver();
        let two = annotations(&[
            (ann::HTTP01_OVERRIDE_INGRESS_NAME, "web"),
            (ann::HTTP01_OVERRIDE_INGRESS_CLASS, "nginx"),
        ]);
        assert_eq!(
            apply(&two, "app", &mut s),
            Err(OverrideError::ManyIngressOverrides)
        );
    }

    #[test]
    fn the_source_gateway_becomes_the_parent_ref_of_a_solver_without_one() {
        let gw = annotations(&[
            (ann::HTTP01_PARENTREF_KIND, "Gateway"),
            (ann::HTTP01_PARENTREF_NAME, "edge"),
        ]);
        let mut s = route_solver(None);
        apply(&gw, "app", &mut s).unwrap();
        assert_eq!(refs(&s), [parent("edge", Some("app"), Some("Gateway"))]);

        // With a namespace annotation (a parent Gateway elsewhere).
        let mut across = gw.clone();
        across.insert(ann::HTTP01_PARENTREF_NAMESPACE.into(), "infra".into());
        let mut s = route_solver(Some(vec![]));
        apply(&across, "app", &mut s).unwrap();
        assert_eq!(refs(&s), [parent("edge", Some("infra"), Some("Gateway"))]);
    }

    #[test]
    fn an_issuer_parent_ref_to_the_same_object_gives_way_and_others_stay() {
        let gw = annotations(&[
            (ann::HTTP01_PARENTREF_KIND, "Gateway"),
            (ann::HTTP01_PARENTREF_NAME, "edge"),
        ]);
        let mut s = route_solver(Some(vec![
            ParentReference {
                section_name: Some("http".into()),
                ..parent("edge", Some("app"), None)
            },
            parent("shared", Some("infra"), Some("Gateway")),
            // Another namespace: not the same object.
            parent("edge", Some("other"), Some("Gateway")),
        ]));
        apply(&gw, "app", &mut s).unwrap();
        assert_eq!(
            refs(&s),
            [
                parent("shared", Some("infra"), Some("Gateway")),
                parent("edge", Some("other"), Some("Gateway")),
                parent("edge", Some("app"), Some("Gateway")),
            ]
        );
    }

    #[test]
    fn parent_refs_need_both_annotations_or_a_configured_parent() {
        let half = annotations(&[(ann::HTTP01_PARENTREF_NAME, "edge")]);
        let mut s = route_solver(Some(vec![parent("edge", None, None)]));
        assert_eq!(
            apply(&half, "app", &mut s),
            Err(OverrideError::HalfParentRef)
        );
        let mut s = route_solver(None);
        assert_eq!(
            apply(&BTreeMap::new(), "app", &mut s),
            Err(OverrideError::NoParentRefs)
        );
        let configured = vec![parent("edge", Some("infra"), None)];
        let mut s = route_solver(Some(configured.clone()));
        apply(&BTreeMap::new(), "app", &mut s).unwrap();
        assert_eq!(refs(&s), configured);
        // Ingress solvers ignore the parentRef annotations.
        let mut s = ingress_solver();
        apply(&half, "app", &mut s).unwrap();
        assert_eq!(s, ingress_solver());
    }
}
