//! What the Certificate loops read besides the shared runtime: the indexes of
//! CertificateRequests and temporary key Secrets by Certificate, and the two
//! flags that shape what is written (copied annotations, Secret owner
//! references). Derefs to [`crate::runtime::Context`].

use std::sync::{Arc, OnceLock};

use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::Store;

use crate::api::{Certificate, CertificateRequest};
use crate::runtime::owner_index::OwnerIndex;
use crate::runtime::recent_writes::{KEEP_AT_MOST, KnownAbsent, RecentWrites};

pub struct Context {
    runtime: Arc<crate::runtime::Context>,
    /// CertificateRequests by the uid of their Certificate (kept from the process's
    /// request watch, packed: read when a Certificate is reconciled).
    pub requests_by_owner: OwnerIndex<CertificateRequest>,
    /// Secret metadata by owner uid (temporary key Secrets by their Certificate).
    pub secrets_by_owner: OwnerIndex<PartialObjectMeta<Secret>>,
    /// The Certificate annotations copied to its CertificateRequests
    /// (`--copied-annotation-prefixes`).
    pub copied_annotation_prefixes: Vec<String>,
    /// Set an ownerReference from each Secret to its Certificate.
    pub enable_certificate_owner_ref: bool,
    /// The process's Certificate cache (set when the controller starts): a
    /// reconcile reads the Certificate from it, or from `recent_certificates`
    /// while the cache has not caught up with this controller's last write.
    pub certificate_cache: OnceLock<Store<Certificate>>,
    /// The Certificates this controller last wrote (their status).
    pub recent_certificates: RecentWrites<Certificate>,
    /// The Secrets (TLS Secret, temporary key) this controller last wrote, with
    /// their data: read back instead of fetched while no one else changed them
    /// (the Secret watch tells; Secrets are not cached with their data).
    pub recent_secrets: RecentWrites<Secret>,
    /// Secrets a GET found missing and the Secret watch has not seen since (a
    /// TLS Secret before its first issuance is looked up by every reconcile).
    pub absent_secrets: KnownAbsent,
}

impl Context {
    pub fn new(
        runtime: Arc<crate::runtime::Context>,
        copied_annotation_prefixes: Vec<String>,
        enable_certificate_owner_ref: bool,
    ) -> Arc<Context> {
        Arc::new(Context {
            runtime,
            // Issued certificates are read from the API when issuing, not kept here.
            // Kept from the process's one request watch, packed (the watch's cache
            // keeps only the requests still worked on); the requests this
            // controller creates are filed at once, trimmed alike.
            requests_by_owner: OwnerIndex::packed(
                crate::runtime::shared_requests::trim,
                crate::runtime::shared_requests::packing(),
            ),
            // Temporary key Secrets are found by their owner Certificate and read
            // by name and next-private-key label only: nothing else is kept.
            secrets_by_owner: OwnerIndex::with_owners(trim_secret_metadata, certificate_owners),
            copied_annotation_prefixes,
            enable_certificate_owner_ref,
            certificate_cache: OnceLock::new(),
            recent_certificates: RecentWrites::new(KEEP_AT_MOST),
            recent_secrets: RecentWrites::new(KEEP_AT_MOST),
            absent_secrets: KnownAbsent::new(KEEP_AT_MOST),
        })
    }
}

impl std::ops::Deref for Context {
    type Target = crate::runtime::Context;
    fn deref(&self) -> &crate::runtime::Context {
        &self.runtime
    }
}

/// What the Certificate controller reads of an indexed Secret's metadata: its name,
/// namespace, owners and next-private-key label.
fn trim_secret_metadata(s: &mut PartialObjectMeta<Secret>) {
    let meta = &mut s.metadata;
    meta.annotations = None;
    meta.managed_fields = None;
    if let Some(labels) = meta.labels.as_mut() {
        labels.retain(|k, _| k == crate::api::annotations::LABEL_NEXT_PRIVATE_KEY);
    }
}

/// The uids of the Certificates (cert-manager.io) that own a Secret.
fn certificate_owners(s: &PartialObjectMeta<Secret>) -> Vec<String> {
    s.metadata
        .owner_references
        .iter()
        .flatten()
        .filter(|o| o.kind == "Certificate" && o.api_version.starts_with("cert-manager.io/"))
        .map(|o| o.uid.clone())
        .collect()
}
