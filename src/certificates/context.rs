//! What the Certificate loops read besides the shared runtime: the indexes of
//! CertificateRequests and temporary key Secrets by Certificate, and the two
//! flags that shape what is written (copied annotations, Secret owner
//! references). Derefs to [`crate::runtime::Context`].

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;

use crate::api::CertificateRequest;
use crate::runtime::owner_index::OwnerIndex;

pub struct Context {
    runtime: Arc<crate::runtime::Context>,
    /// CertificateRequests by the uid of their Certificate (kept from the controller's watch).
    pub requests_by_owner: OwnerIndex<CertificateRequest>,
    /// Secret metadata by owner uid (temporary key Secrets by their Certificate).
    pub secrets_by_owner: OwnerIndex<PartialObjectMeta<Secret>>,
    /// The Certificate annotations copied to its CertificateRequests
    /// (`--copied-annotation-prefixes`).
    pub copied_annotation_prefixes: Vec<String>,
    /// Set an ownerReference from each Secret to its Certificate.
    pub enable_certificate_owner_ref: bool,
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
            requests_by_owner: OwnerIndex::with_trim(|r| {
                if let Some(st) = r.status.as_mut() {
                    st.certificate = None;
                    st.ca = None;
                }
            }),
            secrets_by_owner: Default::default(),
            copied_annotation_prefixes,
            enable_certificate_owner_ref,
        })
    }
}

impl std::ops::Deref for Context {
    type Target = crate::runtime::Context;
    fn deref(&self) -> &crate::runtime::Context {
        &self.runtime
    }
}
