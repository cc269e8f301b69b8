//! The process's one watch of CertificateRequests: the request controller
//! reconciles from its cache, which keeps the requests still being worked on, and
//! the Certificate controller's index of requests by owner keeps every request,
//! packed (an index hook is handed in: which requests a Certificate owns is the
//! certificates module's rule). Issued certificates are not cached. Dropped: the
//! watch stops.

use std::sync::Arc;

use crate::api::CertificateRequest;
use crate::runtime::Context;
use crate::runtime::shared_watch::{Hook, SharedWatch};

pub struct SharedRequests {
    pub watch: Arc<SharedWatch<CertificateRequest>>,
    driver: tokio::task::JoinHandle<()>,
}

/// What the cache keeps of a CertificateRequest: everything but the issued
/// certificate and CA (read from the API when a Certificate is issued), and, once
/// the request is finished (issued, failed or denied), its labels (read only to
/// label the Order of a pending ACME request; a label map costs more than half a
/// kilobyte per request). The CSR stays: the Certificate controller compares the
/// current request with its spec. The annotations stay: the revision, the
/// Certificate's name and the ACME renewal information are read from them.
pub fn trim(r: &mut CertificateRequest) {
    if is_finished(r) {
        r.metadata.labels = None;
    }
    if let Some(st) = r.status.as_mut() {
        st.certificate = None;
        st.ca = None;
    }
}

/// Whether the request controller still works on the request: it is not finished,
/// or its ACME CA gave renewal information (ARI), which the controller asks for
/// again when the CA said to.
pub fn is_worked_on(r: &CertificateRequest) -> bool {
    !is_finished(r)
        || r.metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(crate::api::annotations::ACME_ARI_RENEWAL_TIME))
}

/// Whether no controller will act on the request any more: its Ready condition is
/// True, or False with reason Failed or Denied.
fn is_finished(r: &CertificateRequest) -> bool {
    crate::api::certificate_request::request_condition(r, "Ready").is_some_and(|c| {
        c.status == crate::api::ConditionStatus::True
            || matches!(c.reason.as_deref(), Some("Failed" | "Denied"))
    })
}

impl SharedRequests {
    /// Starts watching the CertificateRequests `ctx` serves (its namespace, or all;
    /// this replica's share when sharded), calling `hooks` on each event.
    /// The cache keeps the requests a controller still works on
    /// ([`is_worked_on`]); another is announced to subscribers and the hooks, then
    /// left to the index a hook keeps (the Certificate controller's, packed),
    /// which `not_kept` reads.
    pub fn start(
        ctx: &Context,
        hooks: Vec<Hook<CertificateRequest>>,
        not_kept: crate::runtime::shared_watch::NotKept<CertificateRequest>,
    ) -> Arc<SharedRequests> {
        let (watch, driver) =
            SharedWatch::start_keeping(ctx.api(), &ctx.config.shards, is_worked_on, trim, hooks);
        watch.set_not_kept(not_kept);
        Arc::new(SharedRequests { watch, driver })
    }
}

impl Drop for SharedRequests {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ConditionStatus;
    use crate::api::meta::RequestCondition;

    fn request(ready: Option<(ConditionStatus, &str)>) -> CertificateRequest {
        let mut r = CertificateRequest::new("r", Default::default());
        r.metadata.labels = Some([("team".to_string(), "a".to_string())].into());
        r.metadata.annotations = Some(
            [(
                "cert-manager.io/certificate-revision".to_string(),
                "1".to_string(),
            )]
            .into(),
        );
        r.spec.request = "Q1NS".into();
        r.status = Some(crate::api::certificate_request::CertificateRequestStatus {
            conditions: ready.map(|(status, reason)| {
                vec![RequestCondition {
                    type_: "Ready".into(),
                    status,
                    reason: Some(reason.into()),
                    last_transition_time: None,
                    message: None,
                }]
            }),
            certificate: Some("Y2VydA==".into()),
            ca: Some("Y2E=".into()),
            failure_time: None,
        });
        r
    }

    #[test]
    fn the_cache_keeps_requests_still_worked_on() {
        for (ready, ari, kept) in [
            (None, false, true),
            (Some((ConditionStatus::False, "Pending")), false, true),
            (Some((ConditionStatus::True, "Issued")), false, false),
            (Some((ConditionStatus::True, "Issued")), true, true),
            (Some((ConditionStatus::False, "Failed")), false, false),
            (Some((ConditionStatus::False, "Denied")), false, false),
        ] {
            let mut r = request(ready);
            if ari {
                r.metadata.annotations.get_or_insert_default().insert(
                    crate::api::annotations::ACME_ARI_RENEWAL_TIME.into(),
                    "2027-01-01T00:00:00Z".into(),
                );
            }
            assert_eq!(is_worked_on(&r), kept, "{ready:?}, ARI {ari}");
        }
    }

    #[test]
    fn a_pending_request_keeps_its_labels_for_the_order_a_finished_one_does_not() {
        for (ready, finished) in [
            (None, false),
            (Some((ConditionStatus::False, "Pending")), false),
            (Some((ConditionStatus::True, "Issued")), true),
            (Some((ConditionStatus::False, "Failed")), true),
            (Some((ConditionStatus::False, "Denied")), true),
        ] {
            let mut r = request(ready);
            trim(&mut r);
            assert_eq!(r.metadata.labels.is_none(), finished, "{ready:?}");
            // Always kept: the annotations and the CSR; always dropped: the
            // issued certificate and CA.
            assert!(r.metadata.annotations.is_some());
            assert_eq!(r.spec.request, "Q1NS");
            let st = r.status.as_ref().expect("status");
            assert!(st.certificate.is_none() && st.ca.is_none());
        }
    }
}
