//! The temporary routing of one HTTP-01 challenge (pure builders, thin I/O): a
//! Service with no selector and an EndpointSlice that lists the long-running
//! solver's endpoints, and an Ingress (new, or a path added to an existing one) or
//! an HTTPRoute. All are owned by the Challenge and removed when it is cleaned up.
//!
//! Forced HTTPS redirects: the solver Ingress has no `tls` section and carries
//! `nginx.ingress.kubernetes.io/ssl-redirect: "false"`, so ingress-nginx serves its
//! one path over plain HTTP even when the host's other Ingresses redirect; the
//! HTTPRoute matches the exact challenge path, which Gateway API ranks above the
//! prefix match of a catch-all redirect route on the same listener.

use std::collections::BTreeMap;

use gateway_api::apis::standard::httproutes::{
    HttpRoute, HttpRouteParentRefs, HttpRouteRules, HttpRouteRulesBackendRefs,
    HttpRouteRulesMatches, HttpRouteRulesMatchesPath, HttpRouteRulesMatchesPathType, HttpRouteSpec,
};
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort, EndpointSlice};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Resource, ResourceExt};

use crate::api::Challenge;
use crate::api::acme::ServiceType;
use crate::gocompat::fnv32;
use crate::http01::challenge_path;

/// Why temporary routing could not be put in place or removed.
#[derive(Debug, thiserror::Error)]
pub enum RoutesError {
    #[error("API request failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("the Ingress {0} named by the solver's http01.ingress.name does not exist")]
    IngressMissing(String),
}

/// Label on every object made for a challenge (cert-manager's).
pub const LABEL_SOLVER: &str = "acme.cert-manager.io/http01-solver";
pub const LABEL_DOMAIN: &str = "acme.cert-manager.io/http-domain";
pub const LABEL_TOKEN: &str = "acme.cert-manager.io/http-token";

/// The name of the Service, EndpointSlice, Ingress or HTTPRoute of a challenge.
pub fn solver_name(ch: &Challenge) -> String {
    format!(
        "cm-acme-http-solver-{:08x}",
        fnv32(ch.name_any().as_bytes())
    )
}

fn labels(ch: &Challenge) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_SOLVER.to_string(), "true".to_string()),
        (
            LABEL_DOMAIN.to_string(),
            fnv32(ch.spec.dns_name.as_bytes()).to_string(),
        ),
        (
            LABEL_TOKEN.to_string(),
            fnv32(ch.spec.token.as_bytes()).to_string(),
        ),
    ])
}

fn owner(ch: &Challenge) -> OwnerReference {
    OwnerReference {
        api_version: Challenge::api_version(&()).to_string(),
        kind: Challenge::kind(&()).to_string(),
        name: ch.name_any(),
        uid: ch.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn meta(ch: &Challenge, extra_labels: &BTreeMap<String, String>) -> ObjectMeta {
    let mut l = labels(ch);
    l.extend(extra_labels.clone());
    ObjectMeta {
        name: Some(solver_name(ch)),
        namespace: ch.namespace(),
        labels: Some(l),
        owner_references: Some(vec![owner(ch)]),
        ..Default::default()
    }
}

/// The per-challenge Service (no selector: its EndpointSlice lists the solver).
pub fn service(ch: &Challenge, service_type: Option<ServiceType>, port: u16) -> Service {
    let t = match service_type.unwrap_or(ServiceType::NodePort) {
        ServiceType::NodePort => "NodePort",
        ServiceType::ClusterIP => "ClusterIP",
    };
    Service {
        metadata: meta(ch, &BTreeMap::new()),
        spec: Some(ServiceSpec {
            type_: Some(t.to_string()),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: i32::from(port),
                target_port: Some(
                    k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(i32::from(port)),
                ),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        status: None,
    }
}

/// The EndpointSlice of the per-challenge Service: the solver's ready addresses.
pub fn endpoint_slice(ch: &Challenge, addresses: &[String], port: u16) -> EndpointSlice {
    solver_endpoint_slice(
        meta(ch, &BTreeMap::new()),
        &solver_name(ch),
        addresses,
        port,
        "http",
    )
}

/// The EndpointSlice of a per-challenge Service `service` (HTTP-01 or TLS-ALPN-01):
/// `addresses` on `port`, named `port_name`, with `metadata` plus the service-name
/// and managed-by labels.
pub(crate) fn solver_endpoint_slice(
    metadata: ObjectMeta,
    service: &str,
    addresses: &[String],
    port: u16,
    port_name: &str,
) -> EndpointSlice {
    let mut m = metadata;
    if let Some(l) = m.labels.as_mut() {
        l.insert("kubernetes.io/service-name".into(), service.to_string());
        l.insert(
            "endpointslice.kubernetes.io/managed-by".into(),
            "certgate".into(),
        );
    }
    EndpointSlice {
        metadata: m,
        address_type: "IPv4".into(),
        endpoints: Some(
            addresses
                .iter()
                .map(|a| Endpoint {
                    addresses: vec![a.clone()],
                    ..Default::default()
                })
                .collect(),
        ),
        ports: Some(vec![EndpointPort {
            name: Some(port_name.to_string()),
            port: Some(i32::from(port)),
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
    }
}

fn ingress_path(ch: &Challenge, service: &str, port: u16) -> HTTPIngressPath {
    HTTPIngressPath {
        path: Some(challenge_path(&ch.spec.token)),
        path_type: "ImplementationSpecific".into(),
        backend: IngressBackend {
            service: Some(IngressServiceBackend {
                name: service.to_string(),
                port: Some(ServiceBackendPort {
                    number: Some(i32::from(port)),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        },
    }
}

/// A new solver Ingress for the challenge (when `http01.ingress.name` is unset).
pub fn ingress(ch: &Challenge, port: u16) -> Ingress {
    let cfg = ch
        .spec
        .solver
        .http01
        .as_ref()
        .and_then(|h| h.ingress.clone())
        .unwrap_or_default();
    let template = cfg
        .ingress_template
        .and_then(|t| t.metadata)
        .unwrap_or_default();
    let mut m = meta(ch, &template.labels.unwrap_or_default());
    let mut annotations = BTreeMap::from([(
        "nginx.ingress.kubernetes.io/ssl-redirect".to_string(),
        "false".to_string(),
    )]);
    if let Some(class) = &cfg.class {
        annotations.insert(crate::api::annotations::INGRESS_CLASS.into(), class.clone());
        if class == "nginx" {
            annotations.insert(
                "nginx.ingress.kubernetes.io/whitelist-source-range".into(),
                "0.0.0.0/0,::/0".into(),
            );
        }
    }
    annotations.extend(template.annotations.unwrap_or_default());
    m.annotations = Some(annotations);
    Ingress {
        metadata: m,
        spec: Some(IngressSpec {
            ingress_class_name: cfg.ingress_class_name.clone(),
            rules: Some(vec![IngressRule {
                host: Some(ch.spec.dns_name.clone()),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![ingress_path(ch, &solver_name(ch), port)],
                }),
            }]),
            ..Default::default()
        }),
        status: None,
    }
}

/// An existing Ingress with the challenge path added (edit in place).
pub fn with_challenge_path(existing: &Ingress, ch: &Challenge, port: u16) -> Ingress {
    let mut out = existing.clone();
    let spec = out.spec.get_or_insert_with(Default::default);
    let rules = spec.rules.get_or_insert_with(Vec::new);
    let path = ingress_path(ch, &solver_name(ch), port);
    let host = Some(ch.spec.dns_name.clone());
    match rules.iter_mut().find(|r| r.host == host) {
        Some(rule) => {
            let http = rule
                .http
                .get_or_insert_with(|| HTTPIngressRuleValue { paths: vec![] });
            if !http.paths.iter().any(|p| p.path == path.path) {
                http.paths.push(path);
            }
        }
        None => rules.push(IngressRule {
            host,
            http: Some(HTTPIngressRuleValue { paths: vec![path] }),
        }),
    }
    out
}

/// An existing Ingress with the challenge path taken out again.
pub fn without_challenge_path(existing: &Ingress, ch: &Challenge) -> Ingress {
    let mut out = existing.clone();
    let want = Some(challenge_path(&ch.spec.token));
    if let Some(rules) = out.spec.as_mut().and_then(|s| s.rules.as_mut()) {
        for r in rules.iter_mut() {
            if let Some(http) = r.http.as_mut() {
                http.paths.retain(|p| p.path != want);
            }
        }
        rules.retain(|r| r.http.as_ref().is_none_or(|h| !h.paths.is_empty()));
    }
    out
}

/// The Gateway API HTTPRoute kind.
pub fn http_route_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute"),
        "httproutes",
    )
}

/// The solver HTTPRoute for a `gatewayHTTPRoute` solver: the exact challenge path
/// on the challenge's hostname, to the per-challenge Service.
pub fn http_route(ch: &Challenge, port: u16) -> HttpRoute {
    let cfg = ch
        .spec
        .solver
        .http01
        .as_ref()
        .and_then(|h| h.gateway_http_route.clone())
        .unwrap_or_default();
    let parent_refs = cfg
        .parent_refs
        .unwrap_or_default()
        .into_iter()
        .map(|p| HttpRouteParentRefs {
            group: p.group,
            kind: p.kind,
            name: p.name,
            namespace: p.namespace,
            port: p.port,
            section_name: p.section_name,
        })
        .collect();
    HttpRoute {
        metadata: meta(ch, &cfg.labels.clone().unwrap_or_default()),
        spec: HttpRouteSpec {
            parent_refs: Some(parent_refs),
            hostnames: Some(vec![ch.spec.dns_name.clone()]),
            rules: Some(vec![HttpRouteRules {
                matches: Some(vec![HttpRouteRulesMatches {
                    path: Some(HttpRouteRulesMatchesPath {
                        r#type: Some(HttpRouteRulesMatchesPathType::Exact),
                        value: Some(challenge_path(&ch.spec.token)),
                    }),
                    ..Default::default()
                }]),
                backend_refs: Some(vec![HttpRouteRulesBackendRefs {
                    name: solver_name(ch),
                    port: Some(i32::from(port)),
                    ..Default::default()
                }]),
                ..Default::default()
            }]),
        },
        status: None,
    }
}

pub(crate) async fn create_if_absent<K>(api: &Api<K>, obj: &K) -> Result<(), kube::Error>
where
    K: Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.create(&PostParams::default(), obj).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

pub(crate) async fn delete_if_present<K>(api: &Api<K>, name: &str) -> Result<(), kube::Error>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// The ready addresses of the long-running solver's Service.
pub(crate) async fn solver_addresses(
    client: &kube::Client,
    solver: Option<&(String, String)>,
) -> Result<Vec<String>, kube::Error> {
    let Some((ns, name)) = solver else {
        return Ok(Vec::new());
    };
    let slices = Api::<EndpointSlice>::namespaced(client.clone(), ns)
        .list(
            &kube::api::ListParams::default().labels(&format!("kubernetes.io/service-name={name}")),
        )
        .await?;
    let mut out: Vec<String> = slices
        .items
        .iter()
        .flat_map(|s| s.endpoints.iter().flatten())
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
        .flat_map(|e| e.addresses.iter().cloned())
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// Puts the challenge's routing in place (idempotent).
pub async fn ensure(
    client: &kube::Client,
    ch: &Challenge,
    config: &crate::http01::Http01Config,
) -> Result<(), RoutesError> {
    let ns = ch.namespace().unwrap_or_default();
    let http01 = ch.spec.solver.http01.clone().unwrap_or_default();
    let service_type = http01
        .ingress
        .as_ref()
        .and_then(|i| i.service_type)
        .or(http01
            .gateway_http_route
            .as_ref()
            .and_then(|g| g.service_type));
    let port = config.solver_port;
    create_if_absent(
        &Api::<Service>::namespaced(client.clone(), &ns),
        &service(ch, service_type, port),
    )
    .await?;
    let addresses = solver_addresses(client, config.solver_service.as_ref()).await?;
    create_if_absent(
        &Api::<EndpointSlice>::namespaced(client.clone(), &ns),
        &endpoint_slice(ch, &addresses, port),
    )
    .await?;
    if http01.gateway_http_route.is_some() {
        let api = Api::<HttpRoute>::namespaced(client.clone(), &ns);
        return Ok(create_if_absent(&api, &http_route(ch, port)).await?);
    }
    let ingresses = Api::<Ingress>::namespaced(client.clone(), &ns);
    match http01.ingress.as_ref().and_then(|i| i.name.clone()) {
        Some(existing) => {
            let current = ingresses
                .get_opt(&existing)
                .await?
                .ok_or_else(|| RoutesError::IngressMissing(format!("{ns}/{existing}")))?;
            let next = with_challenge_path(&current, ch, port);
            if next != current {
                ingresses
                    .replace(&existing, &PostParams::default(), &next)
                    .await?;
            }
            Ok(())
        }
        None => Ok(create_if_absent(&ingresses, &ingress(ch, port)).await?),
    }
}

/// Removes the challenge's routing (idempotent).
pub async fn remove(client: &kube::Client, ch: &Challenge) -> Result<(), RoutesError> {
    let ns = ch.namespace().unwrap_or_default();
    let name = solver_name(ch);
    let http01 = ch.spec.solver.http01.clone().unwrap_or_default();
    if http01.gateway_http_route.is_some() {
        let api = Api::<HttpRoute>::namespaced(client.clone(), &ns);
        delete_if_present(&api, &name).await?;
    }
    let ingresses = Api::<Ingress>::namespaced(client.clone(), &ns);
    match http01.ingress.as_ref().and_then(|i| i.name.clone()) {
        Some(existing) => {
            if let Some(current) = ingresses.get_opt(&existing).await? {
                let next = without_challenge_path(&current, ch);
                if next != current {
                    ingresses
                        .replace(&existing, &PostParams::default(), &next)
                        .await?;
                }
            }
        }
        None => delete_if_present(&ingresses, &name).await?,
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
    use crate::api::acme::{
        AcmeChallengeSolverHttp01, AcmeChallengeSolverHttp01Ingress,
        AcmeChallengeSolverHttp01IngressTemplate, ObjectMetaTemplate,
    };
    use crate::api::challenge::AcmeChallengeType;
    use crate::api::{AcmeChallengeSolver, ChallengeSpec, IssuerReference};

    #[test]
    fn the_solver_httproute_is_gateway_apis_typed_route_with_the_exact_path() {
        let mut ch = challenge(Default::default());
        let http01 = ch.spec.solver.http01.as_mut().unwrap();
        http01.ingress = None;
        http01.gateway_http_route = Some(
            crate::api::acme::AcmeChallengeSolverHttp01GatewayHttpRoute {
                labels: Some(BTreeMap::from([("team".to_string(), "a".to_string())])),
                parent_refs: Some(vec![crate::api::acme::ParentReference {
                    name: "edge".into(),
                    namespace: Some("infra".into()),
                    section_name: Some("http".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            },
        );
        let route = http_route(&ch, 8089);
        assert_eq!(
            route.metadata.name.as_deref(),
            Some(solver_name(&ch).as_str())
        );
        assert_eq!(route.metadata.labels.as_ref().unwrap()["team"], "a");
        let spec = serde_json::to_value(&route.spec).unwrap();
        assert_eq!(
            spec,
            serde_json::json!({
                "parentRefs": [{"name": "edge", "namespace": "infra", "sectionName": "http"}],
                "hostnames": ["app.example.com"],
                "rules": [{
                    "matches": [{"path": {"type": "Exact", "value": "/.well-known/acme-challenge/tok"}}],
                    "backendRefs": [{"name": solver_name(&ch), "port": 8089}],
                }],
            })
        );
    }

    fn challenge(ingress: AcmeChallengeSolverHttp01Ingress) -> Challenge {
        let mut ch = Challenge::new(
            "web-1-123-456",
            ChallengeSpec {
                url: "https://ca/chall/1".into(),
                authorization_url: "https://ca/authz/1".into(),
                dns_name: "app.example.com".into(),
                wildcard: Some(false),
                type_: AcmeChallengeType::Http01,
                token: "tok".into(),
                key: "tok.thumb".into(),
                solver: AcmeChallengeSolver {
                    http01: Some(AcmeChallengeSolverHttp01 {
                        ingress: Some(ingress),
                        gateway_http_route: None,
                    }),
                    ..Default::default()
                },
                issuer_ref: IssuerReference {
                    name: "le".into(),
                    kind: Some("ClusterIssuer".into()),
                    group: None,
                },
            },
        );
        ch.metadata.namespace = Some("web".into());
        ch.metadata.uid = Some("uid-1".into());
        ch
    }

    #[test]
    fn a_new_ingress_routes_the_challenge_path_over_plain_http() {
        let ch = challenge(AcmeChallengeSolverHttp01Ingress {
            class: Some("nginx".into()),
            ingress_template: Some(AcmeChallengeSolverHttp01IngressTemplate {
                metadata: Some(ObjectMetaTemplate {
                    labels: Some(BTreeMap::from([("team".into(), "web".into())])),
                    annotations: Some(BTreeMap::from([("a".into(), "b".into())])),
                }),
            }),
            ..Default::default()
        });
        let ing = ingress(&ch, 8089);
        let a = ing.metadata.annotations.clone().unwrap();
        assert_eq!(a["kubernetes.io/ingress.class"], "nginx");
        assert_eq!(a["nginx.ingress.kubernetes.io/ssl-redirect"], "false");
        assert_eq!(a["a"], "b");
        assert_eq!(ing.metadata.labels.clone().unwrap()["team"], "web");
        assert_eq!(
            ing.metadata.owner_references.clone().unwrap()[0].uid,
            "uid-1"
        );
        let spec = ing.spec.unwrap();
        assert!(spec.tls.is_none());
        let rule = &spec.rules.unwrap()[0];
        assert_eq!(rule.host.as_deref(), Some("app.example.com"));
        let path = &rule.http.as_ref().unwrap().paths[0];
        assert_eq!(
            path.path.as_deref(),
            Some("/.well-known/acme-challenge/tok")
        );
        assert_eq!(
            path.backend.service.as_ref().unwrap().name,
            solver_name(&ch)
        );
    }

    #[test]
    fn edit_in_place_adds_and_removes_only_the_challenge_path() {
        let ch = challenge(AcmeChallengeSolverHttp01Ingress {
            name: Some("web".into()),
            ..Default::default()
        });
        let existing = Ingress {
            spec: Some(IngressSpec {
                rules: Some(vec![IngressRule {
                    host: Some("app.example.com".into()),
                    http: Some(HTTPIngressRuleValue {
                        paths: vec![ingress_path(&ch, "web-svc", 80)],
                    }),
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        // The existing path happens to be the same path: make it different.
        let mut existing = existing;
        existing.spec.as_mut().unwrap().rules.as_mut().unwrap()[0]
            .http
            .as_mut()
            .unwrap()
            .paths[0]
            .path = Some("/".into());
        let edited = with_challenge_path(&existing, &ch, 8089);
        let paths = &edited.spec.as_ref().unwrap().rules.as_ref().unwrap()[0]
            .http
            .as_ref()
            .unwrap()
            .paths;
        assert_eq!(paths.len(), 2);
        assert_eq!(
            with_challenge_path(&edited, &ch, 8089),
            edited,
            "idempotent"
        );
        assert_eq!(without_challenge_path(&edited, &ch), existing);
    }

    #[test]
    fn services_have_no_selector_and_slices_list_the_solver() {
        let ch = challenge(Default::default());
        let s = service(&ch, None, 8089);
        let spec = s.spec.unwrap();
        assert_eq!(spec.type_.as_deref(), Some("NodePort"));
        assert!(spec.selector.is_none());
        let e = endpoint_slice(&ch, &["10.0.0.7".into()], 8089);
        assert_eq!(
            e.endpoints.unwrap()[0].addresses,
            vec!["10.0.0.7".to_string()]
        );
        assert_eq!(
            e.metadata.labels.unwrap()["kubernetes.io/service-name"],
            solver_name(&ch)
        );
    }
}
