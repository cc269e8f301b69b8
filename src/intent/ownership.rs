//! Which Certificates a source owns: by a controlling ownerReference (same
//! namespace) or by the [`OWNER_UID_LABEL`] of a Certificate made in another
//! namespace (a ReferenceGrant'ed certificateRef), and the one index of
//! Certificates by source the shims read, filed under both.

use crate::api::Certificate;
use crate::runtime::owner_index::OwnerIndex;

/// The label holding the source's UID on a Certificate in another namespace
/// than its source (an ownerReference cannot cross namespaces: the garbage
/// collector would delete the Certificate). Adapters select on it to list the
/// cross-namespace Certificates a source owns; see [`is_owned_by`].
pub const OWNER_UID_LABEL: &str = "certgate.io/owner-uid";
/// `<Kind>/<namespace>/<name>` of the source, on a cross-namespace Certificate.
pub const OWNER_ANNOTATION: &str = "certgate.io/owner";
/// Whether `cert` belongs to the source with UID `source_uid`: a controller
/// ownerReference to it, or (cross-namespace) [`OWNER_UID_LABEL`].
pub fn is_owned_by(cert: &Certificate, source_uid: &str) -> bool {
    owner_uids(cert).iter().any(|uid| uid == source_uid)
}

/// Whether `cert` was made for a source in another namespace (it carries
/// [`OWNER_UID_LABEL`]): sharded, the replica working on the source keeps it too.
pub fn is_cross_namespace(cert: &Certificate) -> bool {
    cert.metadata
        .labels
        .as_ref()
        .is_some_and(|l| l.contains_key(OWNER_UID_LABEL))
}

/// The uids of the sources that own a Certificate: its controlling ownerReference,
/// and the [`OWNER_UID_LABEL`] of a cross-namespace one.
pub fn owner_uids(cert: &Certificate) -> Vec<String> {
    let by_ref = cert
        .metadata
        .owner_references
        .iter()
        .flatten()
        .filter(|o| o.controller == Some(true))
        .map(|o| o.uid.clone());
    let by_label = cert
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(OWNER_UID_LABEL))
        .cloned();
    by_ref.chain(by_label).collect()
}

/// An index of Certificates by the source that owns them, for the shims: the
/// builder compares metadata and spec only, so status is not kept. A Certificate
/// is filed under its controlling owner and under the source its
/// [`OWNER_UID_LABEL`] names.
pub fn certificate_index() -> OwnerIndex<Certificate> {
    OwnerIndex::with_owners(|c| c.status = None, owner_uids)
}
