//! The temporary routing of one TLS-ALPN-01 challenge (pure builders, thin I/O): a
//! Service with no selector, an EndpointSlice listing the long-running solver's
//! endpoints, and a TLSRoute for the challenge's name on the solver's parentRefs
//! (a TLS listener in Passthrough mode, so the CA's handshake reaches the solver
//! untouched). All three are owned by the Challenge and removed at clean-up.

use std::collections::BTreeMap;

use gateway_api::apis::standard::tlsroutes::{
    TlsRoute, TlsRouteParentRefs, TlsRouteRules, TlsRouteRulesBackendRefs, TlsRouteSpec,
};
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, DynamicObject, ObjectMeta};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::api::Challenge;
use crate::api::acme::ServiceType;
use crate::gocompat::fnv32;
use crate::http01::routes::{
    create_if_absent, delete_if_present, solver_addresses, solver_endpoint_slice,
};
use crate::tlsalpn01::TlsAlpn01Config;
use crate::tlsalpn01::solvers::{TlsAlpn01Solver, of_challenge};

/// Why the routing could not be put in place or removed.
#[derive(Debug, thiserror::Error)]
pub enum RoutesError {
    #[error("API request failed: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Solver(#[from] crate::tlsalpn01::solvers::SolversError),
    #[error(
        "the API server serves no TLSRoute (gateway.networking.k8s.io v1 or v1alpha2): install the Gateway API CRDs that include TLSRoute"
    )]
    NoTlsRoute,
}

/// Label on every object made for a TLS-ALPN-01 challenge.
pub const LABEL_SOLVER: &str = "certgate.io/tls-alpn01-solver";
/// Label with the FNV-32 hash of the challenge's name (as HTTP-01's `http-domain`).
pub const LABEL_DOMAIN: &str = "certgate.io/tls-alpn01-domain";

/// The port the per-challenge Service offers to the TLSRoute.
pub const SERVICE_PORT: u16 = 443;

/// The name of the Service, EndpointSlice and TLSRoute of a challenge.
pub fn solver_name(ch: &Challenge) -> String {
    format!(
        "certgate-tls-alpn-solver-{:08x}",
        fnv32(ch.name_any().as_bytes())
    )
}

fn meta(ch: &Challenge, extra_labels: &BTreeMap<String, String>) -> ObjectMeta {
    let mut labels = BTreeMap::from([
        (LABEL_SOLVER.to_string(), "true".to_string()),
        (
            LABEL_DOMAIN.to_string(),
            fnv32(ch.spec.dns_name.as_bytes()).to_string(),
        ),
    ]);
    labels.extend(extra_labels.clone());
    ObjectMeta {
        name: Some(solver_name(ch)),
        namespace: ch.namespace(),
        labels: Some(labels),
        owner_references: Some(vec![OwnerReference {
            api_version: Challenge::api_version(&()).to_string(),
            kind: Challenge::kind(&()).to_string(),
            name: ch.name_any(),
            uid: ch.uid().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }]),
        ..Default::default()
    }
}

/// The per-challenge Service: port 443 to the solver's port, no selector.
pub fn service(ch: &Challenge, solver: &TlsAlpn01Solver, solver_port: u16) -> Service {
    let service_type = match solver.gateway_tls_route.service_type {
        Some(ServiceType::NodePort) => "NodePort",
        Some(ServiceType::ClusterIP) | None => "ClusterIP",
    };
    Service {
        metadata: meta(ch, &BTreeMap::new()),
        spec: Some(ServiceSpec {
            type_: Some(service_type.to_string()),
            ports: Some(vec![ServicePort {
                name: Some("tls".into()),
                port: i32::from(SERVICE_PORT),
                target_port: Some(IntOrString::Int(i32::from(solver_port))),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        status: None,
    }
}

/// The EndpointSlice of the per-challenge Service: the solver's ready addresses.
pub fn endpoint_slice(ch: &Challenge, addresses: &[String], solver_port: u16) -> EndpointSlice {
    solver_endpoint_slice(
        meta(ch, &BTreeMap::new()),
        &solver_name(ch),
        addresses,
        solver_port,
        "tls",
    )
}

/// The TLSRoute kind at `version` (`v1`, or `v1alpha2` on older Gateway API installs).
pub fn tls_route_resource(version: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("gateway.networking.k8s.io", version, "TLSRoute"),
        "tlsroutes",
    )
}

/// The solver TLSRoute: the challenge's name on the solver's parentRefs, to the
/// per-challenge Service. Built as Gateway API's typed `TLSRoute` (v1); the same
/// spec is served as `v1alpha2` by older Gateway API installs, so it is sent at
/// `version`.
pub fn tls_route(ch: &Challenge, solver: &TlsAlpn01Solver, version: &str) -> DynamicObject {
    let route = &solver.gateway_tls_route;
    let typed = TlsRoute {
        metadata: meta(ch, &route.labels),
        spec: TlsRouteSpec {
            parent_refs: Some(
                route
                    .parent_refs
                    .iter()
                    .map(|p| TlsRouteParentRefs {
                        group: p.group.clone(),
                        kind: p.kind.clone(),
                        name: p.name.clone(),
                        namespace: p.namespace.clone(),
                        port: p.port,
                        section_name: p.section_name.clone(),
                    })
                    .collect(),
            ),
            hostnames: vec![ch.spec.dns_name.clone()],
            rules: vec![TlsRouteRules {
                backend_refs: vec![TlsRouteRulesBackendRefs {
                    name: solver_name(ch),
                    port: Some(i32::from(SERVICE_PORT)),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        },
        status: None,
    };
    let mut obj = DynamicObject::new(&solver_name(ch), &tls_route_resource(version));
    obj.metadata = typed.metadata;
    obj.data = json!({ "spec": typed.spec });
    obj
}

/// The TLSRoute version the API server serves (`v1` first).
async fn served_tls_route_version(client: &kube::Client) -> Result<&'static str, RoutesError> {
    for version in ["v1", "v1alpha2"] {
        let served = client
            .list_api_group_resources(&format!("gateway.networking.k8s.io/{version}"))
            .await
            .is_ok_and(|l| l.resources.iter().any(|r| r.name == "tlsroutes"));
        if served {
            return Ok(version);
        }
    }
    Err(RoutesError::NoTlsRoute)
}

/// Puts the challenge's routing in place (idempotent).
pub async fn ensure(
    client: &kube::Client,
    ch: &Challenge,
    config: &TlsAlpn01Config,
) -> Result<(), RoutesError> {
    let solver = of_challenge(ch.annotations())?;
    let ns = ch.namespace().unwrap_or_default();
    let version = served_tls_route_version(client).await?;
    create_if_absent(
        &Api::<Service>::namespaced(client.clone(), &ns),
        &service(ch, &solver, config.solver_port),
    )
    .await?;
    let addresses = solver_addresses(client, config.solver_service.as_ref()).await?;
    create_if_absent(
        &Api::<EndpointSlice>::namespaced(client.clone(), &ns),
        &endpoint_slice(ch, &addresses, config.solver_port),
    )
    .await?;
    let routes: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ns, &tls_route_resource(version));
    create_if_absent(&routes, &tls_route(ch, &solver, version)).await?;
    Ok(())
}

/// Removes the challenge's routing (idempotent; without a TLSRoute kind served
/// there is no TLSRoute to remove).
pub async fn remove(client: &kube::Client, ch: &Challenge) -> Result<(), RoutesError> {
    let ns = ch.namespace().unwrap_or_default();
    let name = solver_name(ch);
    if let Ok(version) = served_tls_route_version(client).await {
        let routes: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), &ns, &tls_route_resource(version));
        delete_if_present(&routes, &name).await?;
    }
    delete_if_present(
        &Api::<EndpointSlice>::namespaced(client.clone(), &ns),
        &name,
    )
    .await?;
    delete_if_present(&Api::<Service>::namespaced(client.clone(), &ns), &name).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::acme::ParentReference;
    use crate::api::challenge::AcmeChallengeType;
    use crate::api::{ChallengeSpec, IssuerReference};
    use crate::tlsalpn01::solvers::GatewayTlsRoute;

    fn challenge() -> Challenge {
        let mut ch = Challenge::new(
            "db-1-123-456",
            ChallengeSpec {
                url: "https://ca/chall/1".into(),
                authorization_url: "https://ca/authz/1".into(),
                dns_name: "db.example.com".into(),
                wildcard: Some(false),
                type_: AcmeChallengeType::TlsAlpn01,
                token: "tok".into(),
                key: "tok.thumb".into(),
                solver: Default::default(),
                issuer_ref: IssuerReference {
                    name: "le".into(),
                    kind: Some("ClusterIssuer".into()),
                    group: None,
                },
            },
        );
        ch.metadata.namespace = Some("db".into());
        ch.metadata.uid = Some("uid-1".into());
        ch
    }

    fn solver() -> TlsAlpn01Solver {
        TlsAlpn01Solver {
            selector: None,
            gateway_tls_route: GatewayTlsRoute {
                parent_refs: vec![ParentReference {
                    name: "edge".into(),
                    namespace: Some("infra".into()),
                    section_name: Some("tls-passthrough".into()),
                    ..Default::default()
                }],
                labels: BTreeMap::from([("team".into(), "db".into())]),
                service_type: None,
            },
        }
    }

    #[test]
    fn the_tls_route_sends_the_name_to_the_per_challenge_service() {
        let ch = challenge();
        let route = tls_route(&ch, &solver(), "v1");
        assert_eq!(
            route.types.as_ref().map(|t| t.api_version.as_str()),
            Some("gateway.networking.k8s.io/v1")
        );
        let spec = &route.data["spec"];
        assert_eq!(spec["hostnames"], json!(["db.example.com"]));
        assert_eq!(spec["parentRefs"][0]["sectionName"], "tls-passthrough");
        assert_eq!(spec["parentRefs"][0]["namespace"], "infra");
        assert_eq!(
            spec["rules"][0]["backendRefs"][0],
            json!({"name": solver_name(&ch), "port": 443})
        );
        let labels = route.metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels["team"], "db");
        assert_eq!(labels[LABEL_SOLVER], "true");
        assert_eq!(
            route.metadata.owner_references.clone().unwrap_or_default()[0].uid,
            "uid-1"
        );
    }

    #[test]
    fn the_service_has_no_selector_and_its_slice_lists_the_solver() {
        let ch = challenge();
        let svc = service(&ch, &solver(), 8443);
        let spec = svc.spec.unwrap_or_default();
        assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
        assert!(spec.selector.is_none());
        let port = &spec.ports.unwrap_or_default()[0];
        assert_eq!(
            (port.port, port.target_port.clone()),
            (443, Some(IntOrString::Int(8443)))
        );
        let slice = endpoint_slice(&ch, &["10.0.0.9".into()], 8443);
        assert_eq!(
            slice.endpoints.unwrap_or_default()[0].addresses,
            ["10.0.0.9"]
        );
        assert_eq!(
            slice.metadata.labels.unwrap_or_default()["kubernetes.io/service-name"],
            solver_name(&ch)
        );
    }
}
