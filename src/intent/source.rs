//! What a source becomes before the builder sees it: an Ingress's `tls[]`
//! entries or a Gateway's / ListenerSet's listener certificateRefs as
//! [`TlsBlock`]s of one [`Source`], and the `--default-issuer-*` [`Defaults`].
//! The shims (`crate::gateway`, `crate::ingress_shim`) fill these; nothing here
//! reads the API.

use std::collections::BTreeMap;

use crate::api::annotations as ann;
#[allow(unused_imports)]
use crate::intent::ownership::OWNER_UID_LABEL;

/// The kind of object Certificates are made for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SourceKind {
    #[default]
    Ingress,
    Gateway,
    ListenerSet,
}

impl SourceKind {
    /// The Kubernetes kind.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Ingress => "Ingress",
            SourceKind::Gateway => "Gateway",
            SourceKind::ListenerSet => "ListenerSet",
        }
    }
}

/// An Ingress, Gateway or ListenerSet, as far as the builder needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Source {
    pub kind: SourceKind,
    /// `apiVersion` of the source, for the ownerReference
    /// (`networking.k8s.io/v1`, `gateway.networking.k8s.io/v1`).
    pub api_version: String,
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub annotations: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// An Ingress's `tls[]` entries in order, or one block per certificateRef
    /// of a Gateway's HTTPS/TLS listeners in Terminate mode.
    pub tls: Vec<TlsBlock>,
    /// Gateway and ListenerSet: the object the HTTP-01 solver route attaches to
    /// when it is not the source itself (a ListenerSet's parent Gateway).
    pub http01_parent: Option<Http01Parent>,
}

/// The parent (`kind`, `namespace`, `name`) of the HTTP-01 solver HTTPRoute for a
/// source's Certificates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Http01Parent {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

/// One Secret to fill for some hosts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsBlock {
    /// The hosts (an Ingress TLS entry's, a listener's hostname); IP literals
    /// go to `ipAddresses`, the rest to `dnsNames`.
    pub hosts: Vec<String>,
    pub secret_name: String,
    /// The namespace of a Gateway certificateRef, when it has one.
    pub secret_namespace: Option<String>,
    /// The listener's name (Gateway, ListenerSet), for messages and
    /// per-listener issuers.
    pub listener: Option<String>,
    /// Whether a ReferenceGrant lets the source refer to `secret_namespace`
    /// when it is another namespace (checked by the adapter). Without it the
    /// block is skipped with `BadConfig`. With it the Certificate is made in
    /// that namespace, without ownerReference but with [`OWNER_UID_LABEL`].
    pub allowed_cross_namespace: bool,
}

/// The `--default-issuer-*` flags, used with `kubernetes.io/tls-acme: "true"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Defaults {
    pub issuer_name: Option<String>,
    pub issuer_kind: String,
    pub issuer_group: String,
    /// `--auto-certificate-annotations`: the Ingress annotations that, set to a Go
    /// boolean true, ask for a Certificate from the default issuer
    /// (`kubernetes.io/tls-acme`).
    pub auto_certificate_annotations: Vec<String>,
    /// `--extra-certificate-annotations`: annotations copied from the source (Ingress,
    /// Gateway, ListenerSet) to the Certificates made from it, when it has them.
    pub extra_certificate_annotations: Vec<String>,
}

impl Default for Defaults {
    /// cert-manager's defaults: no name, kind `Issuer`, group `cert-manager.io`.
    fn default() -> Self {
        Defaults {
            issuer_name: None,
            issuer_kind: "Issuer".to_string(),
            issuer_group: crate::api::GROUP.to_string(),
            auto_certificate_annotations: vec![ann::TLS_ACME.to_string()],
            extra_certificate_annotations: Vec::new(),
        }
    }
}
