//! The trigger loop: decides that a Certificate needs (re-)issuance and starts it by
//! setting the Issuing condition, unless a failed issuance asks to back off.

use crate::certificates::policy::{self, PolicyInput, Trigger};
use crate::certificates::snapshot::Snapshot;

/// What the trigger loop wants.
#[derive(Debug, Clone, PartialEq)]
pub enum TriggerAction {
    /// Set Issuing=True with this reason and message.
    Issue(Trigger),
    /// An issuance is due but a recent failure asks to wait this long.
    BackOff {
        remaining: std::time::Duration,
        message: String,
    },
}

/// The trigger decision for a snapshot.
pub fn decide(s: &Snapshot) -> Option<TriggerAction> {
    if s.issuing() {
        return None;
    }
    let input = PolicyInput {
        certificate: &s.certificate,
        secret: s.secret.as_ref(),
        current_request: s.current_request(),
        now: s.now,
    };
    let trigger = policy::needs_issuance(&input)?;
    if let Some(remaining) = policy::backoff_remaining(&s.certificate, s.next_request(), s.now) {
        let next = s.now.saturating_add(remaining).unwrap_or(s.now);
        return Some(TriggerAction::BackOff {
            remaining: remaining.unsigned_abs(),
            message: policy::backoff_message(next),
        });
    }
    Some(TriggerAction::Issue(trigger))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificates::testing::{cert, issued_snapshot, snapshot};

    #[test]
    fn a_missing_secret_starts_issuance() {
        let s = snapshot(cert("web", &["web.example"]), None);
        match decide(&s) {
            Some(TriggerAction::Issue(t)) => {
                assert_eq!(t.reason, "DoesNotExist");
                assert_eq!(t.message, "Issuing certificate as Secret does not exist");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn an_up_to_date_secret_triggers_nothing_and_a_spec_change_does() {
        let s = issued_snapshot(cert("web", &["web.example"]));
        assert_eq!(decide(&s), None);
        let mut changed = s.clone();
        changed.certificate.spec.dns_names = Some(vec!["web.example".into(), "www.example".into()]);
        assert!(matches!(decide(&changed), Some(TriggerAction::Issue(_))));
    }

    #[test]
    fn renewal_time_reached_triggers_renewing() {
        let mut s = issued_snapshot(cert("web", &["web.example"]));
        s.now = s
            .now
            .saturating_add(jiff::SignedDuration::from_hours(24 * 70))
            .unwrap_or(s.now);
        match decide(&s) {
            Some(TriggerAction::Issue(t)) => assert_eq!(t.reason, "Renewing"),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// No renewal window before expiry: renewed at the time without windows, with
    /// cert-manager's reason `WindowError` and its error as the message.
    #[test]
    fn renewal_without_a_window_is_a_window_error() {
        use crate::api::certificate::{
            CertificateRenewal, CertificateRenewalWindow, RenewalPolicy,
        };
        let mut c = cert("web", &["web.example"]);
        c.spec.renewal = Some(Box::new(CertificateRenewal {
            policy: Some(RenewalPolicy::RenewBefore),
            windows: Some(vec![CertificateRenewalWindow {
                cron: "0 0 31 2 *".into(),
                timezone: None,
                window_duration: "1h".into(),
            }]),
        }));
        let mut s = issued_snapshot(c);
        assert_eq!(decide(&s), None, "not before the desired time");
        s.now = s
            .now
            .saturating_add(jiff::SignedDuration::from_hours(24 * 61))
            .unwrap_or(s.now);
        match decide(&s) {
            Some(TriggerAction::Issue(t)) => {
                assert_eq!(t.reason, "WindowError");
                assert!(
                    t.message
                        .starts_with("cannot find a time with the given windows between "),
                    "{}",
                    t.message
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    /// A window moves the renewal: not at the desired time, but when the window opens.
    #[test]
    fn renewal_waits_for_the_window() {
        use crate::api::certificate::{
            CertificateRenewal, CertificateRenewalWindow, RenewalPolicy,
        };
        let mut c = cert("web", &["web.example"]);
        c.spec.renewal = Some(Box::new(CertificateRenewal {
            policy: Some(RenewalPolicy::RenewBefore),
            windows: Some(vec![CertificateRenewalWindow {
                cron: "0 3 * * wed".into(),
                timezone: None,
                window_duration: "1h".into(),
            }]),
        }));
        let s = issued_snapshot(c);
        let rt = crate::certificates::readiness::decide(&s)
            .renewal_time
            .unwrap();
        let local = rt.to_zoned(jiff::tz::TimeZone::UTC);
        assert_eq!(local.weekday(), jiff::civil::Weekday::Wednesday, "{local}");
        assert_eq!(local.hour(), 3, "{local}");
        let at = |t: jiff::Timestamp| {
            let mut s = s.clone();
            s.now = t;
            decide(&s)
        };
        assert_eq!(at(rt - jiff::SignedDuration::from_secs(1)), None);
        match at(rt) {
            Some(TriggerAction::Issue(t)) => assert_eq!(t.reason, "Renewing"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_recent_failure_backs_off() {
        let mut s = snapshot(cert("web", &["web.example"]), None);
        let status = s.certificate.status.get_or_insert_with(Default::default);
        status.failed_issuance_attempts = Some(1);
        status.last_failure_time =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(s.now));
        match decide(&s) {
            Some(TriggerAction::BackOff { remaining, message }) => {
                assert!(
                    remaining.as_secs() > 0 && remaining.as_secs() <= 5 * 60,
                    "{remaining:?}"
                );
                assert!(
                    message.starts_with("Backing off from issuance"),
                    "{message}"
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
