//! The readiness loop: the Ready condition and notBefore / notAfter / renewalTime,
//! computed from the Secret as it is.

use jiff::Timestamp;

use crate::certificates::policy::{self, PolicyInput, ReadyCondition};
use crate::certificates::renewal;
use crate::certificates::snapshot::Snapshot;

/// The status the readiness loop wants.
#[derive(Debug, Clone, PartialEq)]
pub struct Readiness {
    pub ready: ReadyCondition,
    pub not_before: Option<Timestamp>,
    pub not_after: Option<Timestamp>,
    pub renewal_time: Option<Timestamp>,
}

/// The validity of the certificate in the Secret, if it parses.
pub fn validity(s: &Snapshot) -> Option<(Timestamp, Timestamp)> {
    let pem = s
        .secret
        .as_ref()?
        .data
        .get(crate::api::annotations::TLS_CRT)?;
    let (_, parsed) = x509_parser::pem::parse_x509_pem(pem).ok()?;
    let cert = parsed.parse_x509().ok()?;
    let nb = Timestamp::from_second(cert.validity().not_before.timestamp()).ok()?;
    let na = Timestamp::from_second(cert.validity().not_after.timestamp()).ok()?;
    Some((nb, na))
}

/// The readiness of a snapshot.
pub fn decide(s: &Snapshot) -> Readiness {
    let input = PolicyInput {
        certificate: &s.certificate,
        secret: s.secret.as_ref(),
        current_request: s.current_request(),
        now: s.now,
    };
    let mut ready = policy::readiness(&input);
    // While issuing, say what the request waits for: the first thing a user needs to know
    // when a Certificate does not become Ready (an unknown issuer, a broken CA...).
    if ready.status != crate::api::ConditionStatus::True
        && s.issuing()
        && let Some(req) = s.next_request()
        && let Some(c) = crate::certificates::snapshot::request_condition(req, "Ready")
            .filter(|c| c.status == crate::api::ConditionStatus::False)
    {
        ready.message = format!(
            "{}; CertificateRequest \"{}\" is {}: {}",
            ready.message,
            req.metadata.name.as_deref().unwrap_or_default(),
            c.reason.as_deref().unwrap_or("not ready"),
            c.message.as_deref().unwrap_or_default()
        );
    }
    let (not_before, not_after, renewal_time) = match validity(s) {
        Some((nb, na)) => {
            let rt = match renewal::renewal_time_checked(
                nb,
                na,
                &s.certificate.spec,
                crate::certificates::snapshot::ari_renewal_time(s.current_request()),
            ) {
                Ok(rt) => rt,
                // As cert-manager's readiness controller: Ready=False (WindowError).
                Err(e) => {
                    ready = ReadyCondition {
                        status: crate::api::ConditionStatus::False,
                        reason: renewal::WINDOW_ERROR,
                        message: format!("Could not calculate renewal time: {e}"),
                    };
                    Some(e.renewal_time)
                }
            };
            (Some(nb), Some(na), rt)
        }
        None => (None, None, None),
    };
    Readiness {
        ready,
        not_before,
        not_after,
        renewal_time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::meta::ConditionStatus;
    use crate::certificates::testing::{cert, issued_snapshot, snapshot};

    #[test]
    fn an_issued_certificate_is_ready_with_its_times() {
        let s = issued_snapshot(cert("web", &["web.example"]));
        let r = decide(&s);
        assert_eq!(r.ready.status, ConditionStatus::True);
        assert_eq!(
            r.ready.message,
            "Certificate is up to date and has not expired"
        );
        let (nb, na, rt) = (
            r.not_before.unwrap(),
            r.not_after.unwrap(),
            r.renewal_time.unwrap(),
        );
        assert!(nb < rt && rt < na);
        // 2/3 of the 90 days by default.
        let renew_after = nb.duration_until(rt).as_secs();
        assert!((renew_after - 60 * 86_400).abs() <= 1, "{renew_after}");
    }

    fn with_windows(windows: &[(&str, &str, &str)]) -> crate::api::Certificate {
        use crate::api::certificate::{
            CertificateRenewal, CertificateRenewalWindow, RenewalPolicy,
        };
        let mut c = cert("web", &["web.example"]);
        c.spec.renewal = Some(Box::new(CertificateRenewal {
            policy: Some(RenewalPolicy::RenewBefore),
            windows: Some(
                windows
                    .iter()
                    .map(|(tz, cron, d)| CertificateRenewalWindow {
                        cron: (*cron).into(),
                        timezone: (!tz.is_empty()).then(|| (*tz).into()),
                        window_duration: (*d).into(),
                    })
                    .collect(),
            ),
        }));
        c
    }

    /// The desired renewal time of a 90-day certificate: 2/3 of its life.
    fn desired(r: &Readiness) -> Timestamp {
        r.not_before.unwrap() + jiff::SignedDuration::from_hours(60 * 24)
    }

    #[test]
    fn the_renewal_time_falls_in_a_renewal_window() {
        let s = issued_snapshot(with_windows(&[("America/Denver", "0 2 * * sat,sun", "3h")]));
        let r = decide(&s);
        assert_eq!(r.ready.status, ConditionStatus::True);
        let rt = r.renewal_time.unwrap();
        assert!(rt >= desired(&r), "{rt} before {}", desired(&r));
        assert!(rt <= desired(&r) + jiff::SignedDuration::from_hours(7 * 24));
        let local = rt.to_zoned(jiff::tz::TimeZone::get("America/Denver").unwrap());
        assert!(
            matches!(
                local.weekday(),
                jiff::civil::Weekday::Saturday | jiff::civil::Weekday::Sunday
            ) && (2..5).contains(&local.hour()),
            "{local}"
        );
    }

    #[test]
    fn windows_cert_manager_refuses_make_the_certificate_not_ready() {
        let s = issued_snapshot(with_windows(&[("Mars/Base", "0 2 * * *", "3h")]));
        let r = decide(&s);
        assert_eq!(r.ready.status, ConditionStatus::False);
        assert_eq!(r.ready.reason, "WindowError");
        assert!(
            r.ready.message.starts_with(
                "Could not calculate renewal time: [spec.renewal.windows[0].timezone: Invalid value: \"Mars/Base\": invalid value for timezone. timezone must be IANA compliant, "
            ),
            "{}",
            r.ready.message
        );
        // Renewal still happens, at the time without windows.
        let rt = r.renewal_time.unwrap();
        assert!(
            (rt.as_second() - desired(&r).as_second()).abs() <= 1,
            "{rt}"
        );
    }

    #[test]
    fn no_window_before_expiry_is_a_window_error() {
        let s = issued_snapshot(with_windows(&[("", "0 0 31 2 *", "1h")]));
        let r = decide(&s);
        assert_eq!(r.ready.status, ConditionStatus::False);
        assert_eq!(r.ready.reason, "WindowError");
        assert!(
            r.ready.message.starts_with(
                "Could not calculate renewal time: cannot find a time with the given windows between "
            ),
            "{}",
            r.ready.message
        );
        let rt = r.renewal_time.unwrap();
        assert!(
            (rt.as_second() - desired(&r).as_second()).abs() <= 1,
            "{rt}"
        );
    }

    #[test]
    fn no_secret_is_not_ready() {
        let r = decide(&snapshot(cert("web", &["web.example"]), None));
        assert_eq!(r.ready.status, ConditionStatus::False);
        assert_eq!(r.ready.reason, "DoesNotExist");
        assert_eq!(r.not_after, None);
    }
}
