//! The issuing loop: when the next revision's CertificateRequest is ready, stores the
//! certificate and the next key in the Secret; when it failed, records the failure.

use crate::certificates::snapshot::{Snapshot, request_condition, request_failed};

/// What the issuing loop wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuingAction {
    /// Write the Secret from this request and the next key, then bump the revision.
    Issue { request: String },
    /// The request failed: Issuing=False, count the failure.
    Fail { request: String, message: String },
}

/// The issuing decision for a snapshot.
pub fn decide(s: &Snapshot) -> Option<IssuingAction> {
    if !s.issuing() {
        return None;
    }
    let key = s.next_key.as_ref()?;
    key.pem.as_ref()?;
    let req = s.next_request()?;
    let name = req.metadata.name.clone().unwrap_or_default();
    if let Some(message) = request_failed(req) {
        return Some(IssuingAction::Fail {
            request: name,
            message,
        });
    }
    // The issued certificate itself is read when issuing: the controller's cache of
    // requests does not keep it.
    let ready = request_condition(req, "Ready")
        .is_some_and(|c| c.status == crate::api::ConditionStatus::True);
    ready.then_some(IssuingAction::Issue { request: name })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::meta::{ConditionStatus, RequestCondition};
    use crate::certificates::testing::{cert, issuing, request_for, snapshot, with_next_key};

    fn with_ready(
        mut req: crate::api::CertificateRequest,
        status: ConditionStatus,
        reason: &str,
    ) -> crate::api::CertificateRequest {
        let st = req.status.get_or_insert_with(Default::default);
        st.conditions = Some(vec![RequestCondition {
            type_: "Ready".into(),
            status,
            reason: Some(reason.into()),
            message: Some("the issuer said so".into()),
            last_transition_time: None,
        }]);
        if status == ConditionStatus::True {
            st.certificate = Some("Y2VydA==".into());
        }
        req
    }

    #[test]
    fn a_ready_request_issues_and_a_failed_one_fails() {
        let s = with_next_key(issuing(snapshot(cert("web", &["web.example"]), None)));
        let req = request_for(&s, 1);
        let mut waiting = s.clone();
        waiting.requests.push(req.clone());
        assert_eq!(decide(&waiting), None);
        let mut ready = s.clone();
        ready
            .requests
            .push(with_ready(req.clone(), ConditionStatus::True, "Issued"));
        assert!(matches!(decide(&ready), Some(IssuingAction::Issue { .. })));
        let mut failed = s.clone();
        failed
            .requests
            .push(with_ready(req, ConditionStatus::False, "Failed"));
        assert_eq!(
            decide(&failed),
            Some(IssuingAction::Fail {
                request: "web-1".into(),
                message: "the issuer said so".into()
            })
        );
    }
}
