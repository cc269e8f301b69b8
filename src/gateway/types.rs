//! The parts of the Gateway API certgate reads (`gateway.networking.k8s.io`): Gateway,
//! ListenerSet and ReferenceGrant listeners and references, and the parents and
//! hostnames of HTTPRoutes, GRPCRoutes and TLSRoutes. Fields certgate does not read are
//! ignored when decoding.
//!
//! Read side only, and on purpose: these are what the shared watches cache, one
//! copy per object for the life of the process, and the `gateways` benchmark (5,000
//! Gateways x 4 listeners) is where that shows. The `gateway-api` crate's full
//! types would keep every field of every listener, route rule and status. What
//! certgate *writes* (the solver HTTPRoute and TLSRoute) is built from the
//! `gateway-api` crate's typed API (`http01::routes`, `tlsalpn01::routes`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A Gateway.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
#[kube(
    group = "gateway.networking.k8s.io",
    version = "v1",
    kind = "Gateway",
    plural = "gateways",
    namespaced
)]
#[serde(rename_all = "camelCase")]
pub struct GatewaySpec {
    #[serde(default)]
    pub gateway_class_name: String,
    #[serde(default)]
    pub listeners: Vec<Listener>,
}

/// A ListenerSet: listeners attached to a parent Gateway.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
#[kube(
    group = "gateway.networking.k8s.io",
    version = "v1",
    kind = "ListenerSet",
    plural = "listenersets",
    namespaced
)]
#[serde(rename_all = "camelCase")]
pub struct ListenerSetSpec {
    #[serde(default)]
    pub parent_ref: ParentGatewayReference,
    #[serde(default)]
    pub listeners: Vec<Listener>,
}

/// The Gateway a ListenerSet attaches to.
#[derive(Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
pub struct ParentGatewayReference {
    #[serde(default)]
    pub name: String,
    pub namespace: Option<String>,
}

/// A listener.
#[derive(Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Listener {
    #[serde(default)]
    pub name: String,
    pub hostname: Option<String>,
    #[serde(default)]
    pub port: i32,
    #[serde(default)]
    pub protocol: String,
    pub tls: Option<ListenerTls>,
    /// Which routes may attach: their kinds and namespaces.
    pub allowed_routes: Option<AllowedRoutes>,
}

/// A listener's `allowedRoutes`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
pub struct AllowedRoutes {
    /// The namespaces routes may attach from (default: the listener's own).
    pub namespaces: Option<RouteNamespaces>,
    /// The route kinds that may attach; empty: those of the listener's protocol.
    #[serde(default)]
    pub kinds: Vec<RouteGroupKind>,
}

/// `allowedRoutes.namespaces`: where routes may attach from.
#[derive(Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
pub struct RouteNamespaces {
    /// `Same` (default), `All` or `Selector`.
    pub from: Option<String>,
    /// With `from: Selector`: the labels of the namespaces routes may attach from.
    pub selector: Option<LabelSelector>,
}

/// A route kind in `allowedRoutes.kinds`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
pub struct RouteGroupKind {
    /// The route's API group (default `gateway.networking.k8s.io`).
    pub group: Option<String>,
    /// The route's kind (`HTTPRoute`, …).
    #[serde(default)]
    pub kind: String,
}

/// A listener's TLS settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListenerTls {
    /// `Terminate` (default) or `Passthrough`.
    pub mode: Option<String>,
    #[serde(default)]
    pub certificate_refs: Vec<SecretObjectReference>,
}

/// A reference to a Secret (or another certificate holder).
#[derive(Serialize, Deserialize, Clone, Debug, Default, JsonSchema, PartialEq, Eq)]
pub struct SecretObjectReference {
    pub group: Option<String>,
    pub kind: Option<String>,
    #[serde(default)]
    pub name: String,
    pub namespace: Option<String>,
}

/// A ReferenceGrant: lets objects of other namespaces refer to this namespace's objects.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
#[kube(
    group = "gateway.networking.k8s.io",
    version = "v1beta1",
    kind = "ReferenceGrant",
    plural = "referencegrants",
    namespaced
)]
pub struct ReferenceGrantSpec {
    #[serde(default)]
    pub from: Vec<GrantFrom>,
    #[serde(default)]
    pub to: Vec<GrantTo>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
pub struct GrantFrom {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub namespace: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
pub struct GrantTo {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub kind: String,
    pub name: Option<String>,
}

/// A route's `spec.parentRefs` entry: the Gateway, ListenerSet (or listener of one)
/// it asks to attach to.
#[derive(Serialize, Deserialize, Clone, Debug, Default, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ParentReference {
    /// The parent's API group (default `gateway.networking.k8s.io`).
    pub group: Option<String>,
    /// The parent's kind (default `Gateway`).
    pub kind: Option<String>,
    /// The parent's namespace (default: the route's).
    pub namespace: Option<String>,
    /// The parent's name.
    #[serde(default)]
    pub name: String,
    /// The listener the route attaches to (default: every listener that allows it).
    pub section_name: Option<String>,
    /// The port of the listeners the route attaches to (default: any).
    pub port: Option<i32>,
}

/// What certgate reads of any route kind: where it attaches and the hostnames it serves.
pub trait Route: kube::Resource<DynamicType = ()> {
    /// The kind (`HTTPRoute`, …).
    const KIND: &'static str;
    /// `spec.parentRefs`.
    fn parent_refs(&self) -> &[ParentReference];
    /// `spec.hostnames`.
    fn hostnames(&self) -> &[String];
}

/// Declares a lean route kind: metadata, `spec.parentRefs` and `spec.hostnames` only.
macro_rules! lean_route {
    ($(#[$doc:meta])* $spec:ident, $kind:literal, $plural:literal, $name:ident) => {
        $(#[$doc])*
        #[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
        #[kube(
            group = "gateway.networking.k8s.io",
            version = "v1",
            kind = $kind,
            plural = $plural,
            namespaced
        )]
        #[serde(rename_all = "camelCase")]
        pub struct $spec {
            /// Where the route attaches.
            #[serde(default)]
            pub parent_refs: Vec<ParentReference>,
            /// The hostnames the route serves (wildcards allowed).
            #[serde(default)]
            pub hostnames: Vec<String>,
        }

        impl Route for $name {
            const KIND: &'static str = $kind;
            fn parent_refs(&self) -> &[ParentReference] {
                &self.spec.parent_refs
            }
            fn hostnames(&self) -> &[String] {
                &self.spec.hostnames
            }
        }
    };
}

lean_route!(
    /// An HTTPRoute, as far as its parents and hostnames.
    HttpRouteSpec,
    "HTTPRoute",
    "httproutes",
    HTTPRoute
);
lean_route!(
    /// A GRPCRoute, as far as its parents and hostnames.
    GrpcRouteSpec,
    "GRPCRoute",
    "grpcroutes",
    GRPCRoute
);
lean_route!(
    /// A TLSRoute, as far as its parents and hostnames.
    TlsRouteSpec,
    "TLSRoute",
    "tlsroutes",
    TLSRoute
);
