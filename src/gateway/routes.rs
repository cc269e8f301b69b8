//! Certificate names from the routes attached to a listener without a hostname
//! (pure; opted into with [`HOSTNAMES_FROM_ROUTES_ANNOTATION`]).
//!
//! A route attaches to a listener when one of its `spec.parentRefs` names the
//! listener's Gateway (or ListenerSet), its `sectionName` (if set) is the listener's
//! name and its `port` (if set) the listener's port, its kind is one the listener
//! allows (`allowedRoutes.kinds`, else HTTPRoute and GRPCRoute for HTTPS, TLSRoute for
//! TLS), and its namespace is one the listener allows (`allowedRoutes.namespaces`).
//! Route status is not consulted: no data plane has to accept the route first.
//!
//! The names are the union of the attached routes' `spec.hostnames`, lowercased,
//! de-duplicated and sorted; more than [`MAX_NAMES_PER_CERTIFICATE`] are split into
//! chunks, one Certificate (one Secret) each ([`split_names`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kube::core::{Selector, SelectorExt};

use crate::gateway::types::{Listener, ParentReference, SecretObjectReference};

pub use crate::intent::HOSTNAMES_FROM_ROUTES_ANNOTATION;

/// The Gateway API group: the default group of parent references and route kinds.
pub const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";

/// The most names one Certificate gets (the ACME limit of identifiers per order).
pub const MAX_NAMES_PER_CERTIFICATE: usize = 100;

/// Why the routes of a listener cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutesError {
    /// `allowedRoutes.namespaces.selector` cannot be read as a label selector.
    #[error("allowedRoutes.namespaces.selector is not a valid label selector: {0}")]
    InvalidSelector(String),
    /// `allowedRoutes.namespaces.from` is `Selector` without a selector.
    #[error(
        "allowedRoutes.namespaces.from is Selector but allowedRoutes.namespaces.selector is not set"
    )]
    MissingSelector,
    /// `allowedRoutes.namespaces.from` is none of `All`, `Same`, `Selector`.
    #[error("allowedRoutes.namespaces.from {0:?} is none of All, Same, Selector")]
    UnknownFrom(String),
}

/// Whether a Gateway's or ListenerSet's annotations opt into names from routes (a Go
/// boolean, as Kubernetes annotations are read).
pub fn enabled(annotations: &BTreeMap<String, String>) -> bool {
    annotations
        .get(HOSTNAMES_FROM_ROUTES_ANNOTATION)
        .is_some_and(|v| crate::gocompat::go_parse_bool(v))
}

/// The labels marking the routes certgate (or cert-manager) makes for an ACME
/// challenge: HTTP-01's HTTPRoutes and TLS-ALPN-01's TLSRoutes.
pub const ACME_SOLVER_LABELS: [&str; 2] = [
    crate::api::annotations::LABEL_HTTP01_SOLVER,
    crate::tlsalpn01::routes::LABEL_SOLVER,
];

/// Whether a route with these labels answers an ACME challenge. Such a route names
/// the challenge's host only while it is validated, so it never adds names: else a
/// listener's Certificate would gain and lose another Certificate's names with
/// each challenge.
pub fn is_acme_solver(labels: &BTreeMap<String, String>) -> bool {
    ACME_SOLVER_LABELS
        .iter()
        .any(|l| labels.get(*l).is_some_and(|v| v == "true"))
}

/// A Gateway or ListenerSet that routes attach to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ParentKey {
    /// `Gateway` or `ListenerSet`.
    pub kind: String,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl ParentKey {
    /// The parent of this kind, namespace and name.
    pub fn new(kind: &str, namespace: &str, name: &str) -> ParentKey {
        ParentKey {
            kind: kind.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

/// A route, borrowed, as far as attaching it to a listener needs.
#[derive(Clone, Copy, Debug)]
pub struct RouteView<'a> {
    /// `HTTPRoute`, `GRPCRoute` or `TLSRoute`.
    pub kind: &'a str,
    /// The route's namespace.
    pub namespace: &'a str,
    /// `spec.parentRefs`.
    pub parent_refs: &'a [ParentReference],
    /// `spec.hostnames`.
    pub hostnames: &'a [String],
}

/// The route kinds that may attach to `listener`: those in `allowedRoutes.kinds` of the
/// Gateway API group, or when none are listed, those of its protocol (HTTPRoute and
/// GRPCRoute for HTTPS, TLSRoute for TLS).
pub fn allowed_kinds(listener: &Listener) -> Vec<&str> {
    let listed = listener
        .allowed_routes
        .as_ref()
        .map(|a| a.kinds.as_slice())
        .unwrap_or_default();
    if !listed.is_empty() {
        return listed
            .iter()
            .filter(|k| k.group.as_deref().unwrap_or(GATEWAY_GROUP) == GATEWAY_GROUP)
            .map(|k| k.kind.as_str())
            .collect();
    }
    match listener.protocol.as_str() {
        "HTTPS" => vec!["HTTPRoute", "GRPCRoute"],
        "TLS" => vec!["TLSRoute"],
        _ => Vec::new(),
    }
}

/// Whether the parent reference `parent_ref` of a route in `route_namespace` names
/// `parent` (any of its listeners).
pub fn names_parent(
    parent_ref: &ParentReference,
    route_namespace: &str,
    parent: &ParentKey,
) -> bool {
    parent_ref.group.as_deref().unwrap_or(GATEWAY_GROUP) == GATEWAY_GROUP
        && parent_ref.kind.as_deref().unwrap_or("Gateway") == parent.kind
        && parent_ref.namespace.as_deref().unwrap_or(route_namespace) == parent.namespace
        && parent_ref.name == parent.name
}

/// Whether the parent reference `parent_ref` of a route in `route_namespace` names
/// `listener` of `parent`.
pub fn names_listener(
    parent_ref: &ParentReference,
    route_namespace: &str,
    parent: &ParentKey,
    listener: &Listener,
) -> bool {
    names_parent(parent_ref, route_namespace, parent)
        && parent_ref
            .section_name
            .as_deref()
            .is_none_or(|s| s == listener.name)
        && parent_ref.port.is_none_or(|p| p == listener.port)
}

/// The parents (Gateways and ListenerSets) a route in `route_namespace` names.
pub fn parents_of(route_namespace: &str, parent_refs: &[ParentReference]) -> BTreeSet<ParentKey> {
    parent_refs
        .iter()
        .filter(|r| r.group.as_deref().unwrap_or(GATEWAY_GROUP) == GATEWAY_GROUP)
        .filter_map(|r| {
            let kind = r.kind.as_deref().unwrap_or("Gateway");
            (kind == "Gateway" || kind == "ListenerSet").then(|| {
                ParentKey::new(
                    kind,
                    r.namespace.as_deref().unwrap_or(route_namespace),
                    &r.name,
                )
            })
        })
        .collect()
}

/// The namespaces a listener takes routes from (`allowedRoutes.namespaces`).
#[derive(Clone, Debug)]
pub enum NamespacePolicy {
    /// The Gateway's (ListenerSet's) own namespace (`Same`, the default).
    Same,
    /// Every namespace (`All`).
    All,
    /// The namespaces whose labels the selector matches (`Selector`).
    Selector(Selector),
}

impl NamespacePolicy {
    /// The policy of `listener`.
    pub fn of(listener: &Listener) -> Result<NamespacePolicy, RoutesError> {
        let namespaces = listener
            .allowed_routes
            .as_ref()
            .and_then(|a| a.namespaces.as_ref());
        let from = namespaces.and_then(|n| n.from.as_deref()).unwrap_or("Same");
        match from {
            "Same" => Ok(NamespacePolicy::Same),
            "All" => Ok(NamespacePolicy::All),
            "Selector" => {
                let selector = namespaces
                    .and_then(|n| n.selector.clone())
                    .ok_or(RoutesError::MissingSelector)?;
                Selector::try_from(selector)
                    .map(NamespacePolicy::Selector)
                    .map_err(|e| RoutesError::InvalidSelector(e.to_string()))
            }
            other => Err(RoutesError::UnknownFrom(other.to_string())),
        }
    }

    /// Whether it needs the labels of the routes' namespaces.
    pub fn needs_namespace_labels(&self) -> bool {
        matches!(self, NamespacePolicy::Selector(_))
    }

    /// Whether a route in `route_namespace` may attach to a listener of a parent in
    /// `parent_namespace`; `namespace_labels` holds the labels of the namespaces known
    /// (a namespace missing from it is not selected).
    pub fn allows(
        &self,
        parent_namespace: &str,
        route_namespace: &str,
        namespace_labels: &BTreeMap<String, BTreeMap<String, String>>,
    ) -> bool {
        match self {
            NamespacePolicy::Same => parent_namespace == route_namespace,
            NamespacePolicy::All => true,
            NamespacePolicy::Selector(selector) => namespace_labels
                .get(route_namespace)
                .is_some_and(|labels| selector.matches(labels)),
        }
    }
}

/// The names the routes attached to `listener` of `parent` bring: their hostnames,
/// lowercased, de-duplicated and sorted (wildcards kept). Routes without hostnames add
/// nothing.
pub fn hostnames_from_routes(
    parent: &ParentKey,
    listener: &Listener,
    routes: &[RouteView<'_>],
    namespace_labels: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<Vec<String>, RoutesError> {
    let policy = NamespacePolicy::of(listener)?;
    let kinds = allowed_kinds(listener);
    let names: BTreeSet<String> = routes
        .iter()
        .filter(|r| kinds.contains(&r.kind))
        .filter(|r| {
            r.parent_refs
                .iter()
                .any(|p| names_listener(p, r.namespace, parent, listener))
        })
        .filter(|r| policy.allows(&parent.namespace, r.namespace, namespace_labels))
        .flat_map(|r| r.hostnames.iter())
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    Ok(names.into_iter().collect())
}

/// One Certificate's share of a listener's names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameChunk {
    /// At most [`MAX_NAMES_PER_CERTIFICATE`] names.
    pub names: Vec<String>,
    /// The Secret the chunk's Certificate fills.
    pub certificate_ref: SecretObjectReference,
    /// Whether the listener lists `certificate_ref` (else certgate made up its name,
    /// and the Gateway serves these names only once the listener lists it).
    pub listed: bool,
}

/// `names` (sorted) in chunks of [`MAX_NAMES_PER_CERTIFICATE`], each with its Secret:
/// chunk 0 the listener's first Secret certificateRef, chunk `i` its `i+1`-th if it
/// lists one, else a Secret named `<first ref name>-<i+1>` in the first ref's
/// namespace. No refs, no chunks.
pub fn split_names(names: &[String], secret_refs: &[&SecretObjectReference]) -> Vec<NameChunk> {
    let Some(first) = secret_refs.first() else {
        return Vec::new();
    };
    names
        .chunks(MAX_NAMES_PER_CERTIFICATE)
        .enumerate()
        .map(|(i, chunk)| {
            let (certificate_ref, listed) = match secret_refs.get(i) {
                Some(r) => ((*r).clone(), true),
                None => (
                    SecretObjectReference {
                        name: format!("{}-{}", first.name, i + 1),
                        ..(*first).clone()
                    },
                    false,
                ),
            };
            NameChunk {
                names: chunk.to_vec(),
                certificate_ref,
                listed,
            }
        })
        .collect()
}

/// The parents each route named when last seen, so that a route's change reaches the
/// parents it left as well as those it joined, and a deleted route its last ones.
#[derive(Debug, Default)]
pub struct ParentTracker {
    by_route_uid: HashMap<String, BTreeSet<ParentKey>>,
}

impl ParentTracker {
    /// A route (by uid) now names `parents`: those and the ones it named before.
    pub fn applied(&mut self, uid: &str, parents: BTreeSet<ParentKey>) -> BTreeSet<ParentKey> {
        let mut touched = parents.clone();
        let previous = if parents.is_empty() {
            self.by_route_uid.remove(uid)
        } else {
            self.by_route_uid.insert(uid.to_string(), parents)
        };
        touched.extend(previous.unwrap_or_default());
        touched
    }

    /// A route (by uid) was deleted, naming `parents` last: those and the ones it
    /// named before.
    pub fn deleted(&mut self, uid: &str, parents: BTreeSet<ParentKey>) -> BTreeSet<ParentKey> {
        let mut touched = parents;
        touched.extend(self.by_route_uid.remove(uid).unwrap_or_default());
        touched
    }

    /// How many routes it remembers.
    pub fn len(&self) -> usize {
        self.by_route_uid.len()
    }

    /// Whether it remembers no route.
    pub fn is_empty(&self) -> bool {
        self.by_route_uid.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::types::{AllowedRoutes, RouteGroupKind, RouteNamespaces};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

    fn listener(name: &str, protocol: &str, port: i32) -> Listener {
        Listener {
            name: name.into(),
            protocol: protocol.into(),
            port,
            ..Default::default()
        }
    }

    fn with_namespaces(mut l: Listener, from: &str, selector: Option<LabelSelector>) -> Listener {
        l.allowed_routes = Some(AllowedRoutes {
            namespaces: Some(RouteNamespaces {
                from: Some(from.into()),
                selector,
            }),
            kinds: Vec::new(),
        });
        l
    }

    fn parent_ref(name: &str) -> ParentReference {
        ParentReference {
            name: name.into(),
            ..Default::default()
        }
    }

    fn gw() -> ParentKey {
        ParentKey::new("Gateway", "infra", "edge")
    }

    #[test]
    fn a_parent_ref_names_a_listener_by_group_kind_namespace_name_section_and_port() {
        let https = listener("https", "HTTPS", 443);
        let cases: Vec<(&str, ParentReference, &str, bool)> = vec![
            (
                "defaults, same namespace",
                parent_ref("edge"),
                "infra",
                true,
            ),
            (
                "defaults, other namespace",
                parent_ref("edge"),
                "apps",
                false,
            ),
            (
                "explicit namespace",
                ParentReference {
                    namespace: Some("infra".into()),
                    ..parent_ref("edge")
                },
                "apps",
                true,
            ),
            ("other name", parent_ref("core"), "infra", false),
            (
                "explicit group and kind",
                ParentReference {
                    group: Some(GATEWAY_GROUP.into()),
                    kind: Some("Gateway".into()),
                    ..parent_ref("edge")
                },
                "infra",
                true,
            ),
            (
                "other group",
                ParentReference {
                    group: Some("example.com".into()),
                    ..parent_ref("edge")
                },
                "infra",
                false,
            ),
            (
                "a ListenerSet of the same name",
                ParentReference {
                    kind: Some("ListenerSet".into()),
                    ..parent_ref("edge")
                },
                "infra",
                false,
            ),
            (
                "its section",
                ParentReference {
                    section_name: Some("https".into()),
                    ..parent_ref("edge")
                },
                "infra",
                true,
            ),
            (
                "another section",
                ParentReference {
                    section_name: Some("admin".into()),
                    ..parent_ref("edge")
                },
                "infra",
                false,
            ),
            (
                "its port",
                ParentReference {
                    port: Some(443),
                    ..parent_ref("edge")
                },
                "infra",
                true,
            ),
            (
                "another port",
                ParentReference {
                    port: Some(8443),
                    ..parent_ref("edge")
                },
                "infra",
                false,
            ),
        ];
        for (what, r, route_ns, want) in cases {
            assert_eq!(names_listener(&r, route_ns, &gw(), &https), want, "{what}");
        }
        let ls = ParentKey::new("ListenerSet", "infra", "edge");
        let to_ls = ParentReference {
            kind: Some("ListenerSet".into()),
            ..parent_ref("edge")
        };
        assert!(names_listener(&to_ls, "infra", &ls, &https));
        assert!(!names_listener(&parent_ref("edge"), "infra", &ls, &https));
    }

    #[test]
    fn allowed_kinds_follow_the_protocol_unless_listed() {
        assert_eq!(
            allowed_kinds(&listener("h", "HTTPS", 443)),
            ["HTTPRoute", "GRPCRoute"]
        );
        assert_eq!(allowed_kinds(&listener("t", "TLS", 443)), ["TLSRoute"]);
        assert!(allowed_kinds(&listener("p", "HTTP", 80)).is_empty());
        let mut listed = listener("h", "HTTPS", 443);
        listed.allowed_routes = Some(AllowedRoutes {
            namespaces: None,
            kinds: vec![
                RouteGroupKind {
                    group: None,
                    kind: "GRPCRoute".into(),
                },
                RouteGroupKind {
                    group: Some("example.com".into()),
                    kind: "HTTPRoute".into(),
                },
            ],
        });
        assert_eq!(allowed_kinds(&listed), ["GRPCRoute"]);
    }

    #[test]
    fn namespace_policies_same_all_and_selector() {
        let labels = BTreeMap::from([
            (
                "apps".to_string(),
                BTreeMap::from([
                    ("team".to_string(), "a".to_string()),
                    ("env".to_string(), "prod".to_string()),
                ]),
            ),
            (
                "dev".to_string(),
                BTreeMap::from([("team".to_string(), "b".to_string())]),
            ),
        ]);
        let requirement = |key: &str, operator: &str, values: &[&str]| LabelSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        };
        let by_labels = |pairs: &[(&str, &str)]| LabelSelector {
            match_labels: Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            match_expressions: None,
        };
        let by_expressions = |rs: Vec<LabelSelectorRequirement>| LabelSelector {
            match_labels: None,
            match_expressions: Some(rs),
        };
        let l = || listener("https", "HTTPS", 443);
        // (what, listener, route namespace, allowed)
        let cases: Vec<(&str, Listener, &str, bool)> = vec![
            ("default is Same: same", l(), "infra", true),
            ("default is Same: other", l(), "apps", false),
            (
                "Same: other",
                with_namespaces(l(), "Same", None),
                "apps",
                false,
            ),
            ("All", with_namespaces(l(), "All", None), "anything", true),
            (
                "matchLabels match",
                with_namespaces(l(), "Selector", Some(by_labels(&[("team", "a")]))),
                "apps",
                true,
            ),
            (
                "matchLabels miss",
                with_namespaces(l(), "Selector", Some(by_labels(&[("team", "a")]))),
                "dev",
                false,
            ),
            (
                "namespace without known labels",
                with_namespaces(l(), "Selector", Some(LabelSelector::default())),
                "unknown",
                false,
            ),
            (
                "empty selector selects every known namespace",
                with_namespaces(l(), "Selector", Some(LabelSelector::default())),
                "dev",
                true,
            ),
            (
                "Selector does not imply Same",
                with_namespaces(l(), "Selector", Some(by_labels(&[("team", "a")]))),
                "infra",
                false,
            ),
            (
                "In",
                with_namespaces(
                    l(),
                    "Selector",
                    Some(by_expressions(vec![requirement("team", "In", &["b", "c"])])),
                ),
                "dev",
                true,
            ),
            (
                "NotIn",
                with_namespaces(
                    l(),
                    "Selector",
                    Some(by_expressions(vec![requirement("team", "NotIn", &["b"])])),
                ),
                "dev",
                false,
            ),
            (
                "Exists",
                with_namespaces(
                    l(),
                    "Selector",
                    Some(by_expressions(vec![requirement("env", "Exists", &[])])),
                ),
                "apps",
                true,
            ),
            (
                "DoesNotExist",
                with_namespaces(
                    l(),
                    "Selector",
                    Some(by_expressions(vec![requirement(
                        "env",
                        "DoesNotExist",
                        &[],
                    )])),
                ),
                "apps",
                false,
            ),
            (
                "labels and expressions both hold",
                with_namespaces(
                    l(),
                    "Selector",
                    Some(LabelSelector {
                        match_labels: Some(BTreeMap::from([("team".into(), "a".into())])),
                        match_expressions: Some(vec![requirement("env", "In", &["dev"])]),
                    }),
                ),
                "apps",
                false,
            ),
        ];
        let labels = BTreeMap::from([("infra".to_string(), BTreeMap::new())])
            .into_iter()
            .chain(labels)
            .collect();
        for (what, listener, route_ns, want) in cases {
            let policy = NamespacePolicy::of(&listener).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(policy.allows("infra", route_ns, &labels), want, "{what}");
        }
    }

    #[test]
    fn a_bad_namespace_policy_is_an_error_naming_the_field() {
        let l = || listener("https", "HTTPS", 443);
        let bad_operator = LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "team".into(),
                operator: "Near".into(),
                values: None,
            }]),
        };
        let cases = [
            (with_namespaces(l(), "Selector", None), "is not set"),
            (
                with_namespaces(l(), "Selector", Some(bad_operator)),
                "not a valid label selector",
            ),
            (with_namespaces(l(), "Elsewhere", None), "\"Elsewhere\""),
        ];
        for (listener, want) in cases {
            let err = NamespacePolicy::of(&listener)
                .err()
                .unwrap_or_else(|| panic!("{want}: accepted"));
            assert!(err.to_string().contains(want), "{err} lacks {want}");
            let names = hostnames_from_routes(&gw(), &listener, &[], &BTreeMap::new());
            assert_eq!(names, Err(err));
        }
        assert!(
            !NamespacePolicy::of(&with_namespaces(l(), "All", None))
                .is_ok_and(|p| p.needs_namespace_labels())
        );
        assert!(
            NamespacePolicy::of(&with_namespaces(
                l(),
                "Selector",
                Some(LabelSelector::default())
            ))
            .is_ok_and(|p| p.needs_namespace_labels())
        );
    }

    struct OwnedRoute {
        kind: &'static str,
        namespace: &'static str,
        parent_refs: Vec<ParentReference>,
        hostnames: Vec<String>,
    }

    fn route(
        kind: &'static str,
        namespace: &'static str,
        parent_refs: Vec<ParentReference>,
        hostnames: &[&str],
    ) -> OwnedRoute {
        OwnedRoute {
            kind,
            namespace,
            parent_refs,
            hostnames: hostnames.iter().map(|h| h.to_string()).collect(),
        }
    }

    fn views(routes: &[OwnedRoute]) -> Vec<RouteView<'_>> {
        routes
            .iter()
            .map(|r| RouteView {
                kind: r.kind,
                namespace: r.namespace,
                parent_refs: &r.parent_refs,
                hostnames: &r.hostnames,
            })
            .collect()
    }

    #[test]
    fn names_are_the_sorted_lowercased_union_of_the_attached_routes_hostnames() {
        let section = |s: &str| ParentReference {
            section_name: Some(s.into()),
            ..parent_ref("edge")
        };
        let routes = [
            route(
                "HTTPRoute",
                "infra",
                vec![parent_ref("edge")],
                &["b.example.com", "*.B.example.com"],
            ),
            route(
                "GRPCRoute",
                "infra",
                vec![section("https")],
                &["a.example.com", "b.example.com"],
            ),
            route("HTTPRoute", "infra", vec![parent_ref("edge")], &[]),
            route(
                "HTTPRoute",
                "infra",
                vec![section("admin")],
                &["admin.example.com"],
            ),
            route(
                "HTTPRoute",
                "apps",
                vec![ParentReference {
                    namespace: Some("infra".into()),
                    ..parent_ref("edge")
                }],
                &["apps.example.com"],
            ),
            route(
                "TLSRoute",
                "infra",
                vec![parent_ref("edge")],
                &["tls.example.com"],
            ),
            route(
                "HTTPRoute",
                "infra",
                vec![parent_ref("core"), parent_ref("edge")],
                &["both.example.com"],
            ),
        ];
        let https = listener("https", "HTTPS", 443);
        let names = hostnames_from_routes(&gw(), &https, &views(&routes), &BTreeMap::new());
        assert_eq!(
            names,
            Ok(vec![
                "*.b.example.com".to_string(),
                "a.example.com".into(),
                "b.example.com".into(),
                "both.example.com".into(),
            ])
        );
        // All namespaces: the route in `apps` counts too.
        let all = with_namespaces(https.clone(), "All", None);
        let names = hostnames_from_routes(&gw(), &all, &views(&routes), &BTreeMap::new())
            .unwrap_or_default();
        assert!(names.contains(&"apps.example.com".to_string()), "{names:?}");
        // A TLS listener takes TLSRoutes only.
        let tls = listener("tls", "TLS", 443);
        let names = hostnames_from_routes(&gw(), &tls, &views(&routes), &BTreeMap::new());
        assert_eq!(names, Ok(vec!["tls.example.com".to_string()]));
        // No route at all, or none with hostnames: no names.
        assert_eq!(
            hostnames_from_routes(&gw(), &https, &[], &BTreeMap::new()),
            Ok(Vec::new())
        );
    }

    fn secret(name: &str, namespace: Option<&str>) -> SecretObjectReference {
        SecretObjectReference {
            name: name.into(),
            namespace: namespace.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn names_split_in_chunks_of_100_over_the_listed_refs_then_made_up_ones() {
        let names: Vec<String> = (0..250).map(|i| format!("h{i:03}.example.com")).collect();
        let first = secret("app-tls", Some("certs"));
        let second = secret("app-tls-b", None);
        // (what, refs, (secret, namespace, listed, count, first name) per chunk)
        type Want<'a> = (&'a str, Option<&'a str>, bool, usize, &'a str);
        let cases: Vec<(&str, Vec<&SecretObjectReference>, usize, Vec<Want>)> = vec![
            (
                "one ref",
                vec![&first],
                250,
                vec![
                    ("app-tls", Some("certs"), true, 100, "h000.example.com"),
                    ("app-tls-2", Some("certs"), false, 100, "h100.example.com"),
                    ("app-tls-3", Some("certs"), false, 50, "h200.example.com"),
                ],
            ),
            (
                "two refs",
                vec![&first, &second],
                250,
                vec![
                    ("app-tls", Some("certs"), true, 100, "h000.example.com"),
                    ("app-tls-b", None, true, 100, "h100.example.com"),
                    ("app-tls-3", Some("certs"), false, 50, "h200.example.com"),
                ],
            ),
            (
                "exactly 100",
                vec![&first],
                100,
                vec![("app-tls", Some("certs"), true, 100, "h000.example.com")],
            ),
            (
                "101",
                vec![&first],
                101,
                vec![
                    ("app-tls", Some("certs"), true, 100, "h000.example.com"),
                    ("app-tls-2", Some("certs"), false, 1, "h100.example.com"),
                ],
            ),
            ("no refs", vec![], 250, vec![]),
            ("no names", vec![&first], 0, vec![]),
        ];
        for (what, refs, count, want) in cases {
            let chunks = split_names(&names[..count], &refs);
            let got: Vec<Want> = chunks
                .iter()
                .map(|c| {
                    (
                        c.certificate_ref.name.as_str(),
                        c.certificate_ref.namespace.as_deref(),
                        c.listed,
                        c.names.len(),
                        c.names.first().map(String::as_str).unwrap_or_default(),
                    )
                })
                .collect();
            assert_eq!(got, want, "{what}");
            let rejoined: Vec<String> = chunks.into_iter().flat_map(|c| c.names).collect();
            if !refs.is_empty() {
                assert_eq!(rejoined, names[..count], "{what}: every name exactly once");
            }
        }
    }

    #[test]
    fn parents_of_a_route_are_the_gateways_and_listener_sets_it_names() {
        let refs = [
            parent_ref("edge"),
            ParentReference {
                kind: Some("ListenerSet".into()),
                namespace: Some("infra".into()),
                ..parent_ref("team-a")
            },
            ParentReference {
                kind: Some("Service".into()),
                group: Some(String::new()),
                ..parent_ref("mesh")
            },
            ParentReference {
                group: Some("example.com".into()),
                ..parent_ref("other")
            },
            ParentReference {
                section_name: Some("https".into()),
                ..parent_ref("edge")
            },
        ];
        assert_eq!(
            parents_of("apps", &refs),
            BTreeSet::from([
                ParentKey::new("Gateway", "apps", "edge"),
                ParentKey::new("ListenerSet", "infra", "team-a"),
            ])
        );
    }

    #[test]
    fn acme_solver_routes_are_told_by_their_labels() {
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(is_acme_solver(&labels(&[(
            "acme.cert-manager.io/http01-solver",
            "true"
        )])));
        assert!(is_acme_solver(&labels(&[(
            "certgate.io/tls-alpn01-solver",
            "true"
        )])));
        assert!(!is_acme_solver(&labels(&[(
            "acme.cert-manager.io/http01-solver",
            "false"
        )])));
        assert!(!is_acme_solver(&labels(&[("app", "shop")])));
        assert!(!is_acme_solver(&BTreeMap::new()));
    }

    #[test]
    fn the_tracker_reports_the_parents_a_route_left_and_a_deleted_routes_last_ones() {
        let a = ParentKey::new("Gateway", "ns", "a");
        let b = ParentKey::new("Gateway", "ns", "b");
        let mut tracker = ParentTracker::default();
        // (what, deleted, parents now, touched)
        let steps: Vec<(&str, bool, Vec<&ParentKey>, Vec<&ParentKey>)> = vec![
            ("created on a", false, vec![&a], vec![&a]),
            ("unchanged", false, vec![&a], vec![&a]),
            ("moved to b", false, vec![&b], vec![&a, &b]),
            ("on both", false, vec![&a, &b], vec![&a, &b]),
            ("detached", false, vec![], vec![&a, &b]),
            ("attached to b", false, vec![&b], vec![&b]),
            ("deleted (last seen on a)", true, vec![&a], vec![&a, &b]),
            ("deleted again", true, vec![], vec![]),
        ];
        for (what, deleted, now, want) in steps {
            let now: BTreeSet<ParentKey> = now.into_iter().cloned().collect();
            let touched = if deleted {
                tracker.deleted("uid-1", now)
            } else {
                tracker.applied("uid-1", now)
            };
            let want: BTreeSet<ParentKey> = want.into_iter().cloned().collect();
            assert_eq!(touched, want, "{what}");
        }
        assert!(tracker.is_empty(), "a deleted route is forgotten");
        tracker.applied("uid-2", BTreeSet::from([a.clone()]));
        tracker.applied("uid-3", BTreeSet::new());
        assert_eq!(tracker.len(), 1, "routes without parents are not kept");
    }
}
