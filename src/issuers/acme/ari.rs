//! ACME Renewal Information (RFC 9773): ask the CA when to renew a certificate it
//! issued, record the time picked in its window on the CertificateRequest (the
//! Certificate's renewal follows it), and say which certificate a new order
//! replaces.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::api::annotations as ann;
use crate::api::{AcmeIssuer, CertificateRequest};
use crate::gocompat::fnv32;
use crate::issuers::Context;
use crate::issuers::acme::AcmeIssuerRef;

/// The RFC 9773 identifier (`base64url(AKI).base64url(serial)`) of the first
/// certificate in a PEM text, when it has an authority key identifier.
pub fn certificate_id(pem: &[u8]) -> Option<String> {
    let der = x509_parser::pem::Pem::iter_from_buffer(pem)
        .filter_map(Result::ok)
        .find(|p| p.label == "CERTIFICATE")?
        .contents;
    crate::issuers::acme::protocol::renewal::certificate_id(&der).ok()
}

/// Checks an identifier stored by [`certificate_id`]: two non-empty base64url
/// parts joined by a dot.
pub fn parse_certificate_id(id: &str) -> Option<String> {
    let (aki, serial) = id.split_once('.')?;
    let valid = |part: &str| !part.is_empty() && B64URL.decode(part).is_ok();
    (valid(aki) && valid(serial)).then(|| id.to_string())
}

/// How long until asking again when the CA sends no Retry-After (as when the
/// renewal information cannot be had).
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A time in `[start, end)`: the same for the same certificate (so a restart does
/// not move it) and spread over the window across certificates, as RFC 9773 §4.2
/// asks ("uniformly at random").
pub fn pick_in_window(start: Timestamp, end: Timestamp, cert_id: &str) -> Timestamp {
    let span = end.as_second() - start.as_second();
    if span <= 0 {
        return start;
    }
    let offset = i64::from(fnv32(cert_id.as_bytes())) % span;
    Timestamp::from_second(start.as_second() + offset).unwrap_or(start)
}

/// How long until asking again, from the CA's Retry-After, kept within
/// `[min, 24 h]` so a CA can neither make us hammer it nor forget it.
pub fn next_poll(retry_after: Duration, min: Duration) -> Duration {
    retry_after.clamp(min, Duration::from_secs(24 * 3600))
}

/// Asks the CA for the renewal window of the certificate `req` issued and records
/// the time picked in it. `None`: the CA offers no ARI (nothing more to do).
pub async fn poll(
    ctx: &Context,
    req: &CertificateRequest,
    issuer: &AcmeIssuerRef,
    acme: &AcmeIssuer,
) -> Option<Duration> {
    let ns = req.namespace().unwrap_or_default();
    let api: Api<CertificateRequest> = Api::namespaced(ctx.client.clone(), &ns);
    // The controllers' cache drops issued certificates: read it.
    let full = api.get(&req.name_any()).await.ok()?;
    let pem = full
        .status
        .as_ref()
        .and_then(|s| s.certificate.as_deref())
        .and_then(|c| base64::engine::general_purpose::STANDARD.decode(c).ok())?;
    let id_text = certificate_id(&pem)?;
    let id = parse_certificate_id(&id_text)?;
    let account = issuer.account(ctx, acme).await.ok()?;
    let min = ctx.acme.ari_min_poll;
    let info = match crate::issuers::acme::client::with_action(
        "get_renewal_info",
        account.account.renewal_info(&id),
    )
    .await
    {
        Ok(r) => r,
        Err(crate::issuers::acme::protocol::Error::Unsupported(_)) => return None,
        Err(e) => {
            tracing::info!(request = %req.name_any(), error = %e, "ACME renewal information not available");
            return Some(next_poll(Duration::from_secs(3600), min));
        }
    };
    let retry_after = info.retry_after.unwrap_or(DEFAULT_RETRY_AFTER);
    let (start, end) = (info.suggested_window.start, info.suggested_window.end);
    let picked = pick_in_window(start, end, &id_text).to_string();
    if req.annotations().get(ann::ACME_ARI_RENEWAL_TIME) != Some(&picked) {
        let patch = json!({"metadata": {"annotations": {ann::ACME_ARI_RENEWAL_TIME: picked}}});
        if let Err(e) = api
            .patch(
                &req.name_any(),
                &PatchParams::default(),
                &Patch::Merge(patch),
            )
            .await
        {
            tracing::warn!(request = %req.name_any(), error = %e, "recording the ARI renewal time failed");
        }
    }
    Some(next_poll(retry_after, min))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_picked_inside_the_window_and_stay_put() {
        let start: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
        let end: Timestamp = "2026-12-03T00:00:00Z".parse().unwrap();
        let a = pick_in_window(start, end, "aki.serial1");
        assert!(a >= start && a < end);
        assert_eq!(a, pick_in_window(start, end, "aki.serial1"));
        let spread: std::collections::BTreeSet<Timestamp> = (0..20)
            .map(|i| pick_in_window(start, end, &format!("aki.serial{i}")))
            .collect();
        assert!(spread.len() > 10, "{spread:?}");
        assert_eq!(
            pick_in_window(end, start, "x"),
            end,
            "an empty window is its start"
        );
    }

    #[test]
    fn polls_are_bounded() {
        let min = Duration::from_secs(60);
        assert_eq!(next_poll(Duration::from_secs(1), min), min);
        assert_eq!(
            next_poll(Duration::from_secs(6 * 3600), min),
            Duration::from_secs(6 * 3600)
        );
        assert_eq!(
            next_poll(Duration::from_secs(9 * 24 * 3600), min),
            Duration::from_secs(24 * 3600)
        );
    }

    #[test]
    fn certificate_ids_round_trip() {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.key_identifier_method = rcgen::KeyIdMethod::Sha256;
        let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["a.example.com".into()]).unwrap();
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(rcgen::SerialNumber::from(vec![0x01, 0x02, 0x03]));
        let cert = params.signed_by(&key, &issuer).unwrap();
        let id = certificate_id(cert.pem().as_bytes()).unwrap();
        assert!(id.ends_with(".AQID"), "{id}");
        assert_eq!(parse_certificate_id(&id).unwrap().to_string(), id);
        assert!(certificate_id(b"no certificate").is_none());
    }
}
