//! ACME Renewal Information (RFC 9773): a certificate's identifier
//! (`base64url(AKI keyIdentifier) "." base64url(serial)`), and the renewalInfo
//! response — the suggested window, the explanation URL and the server's
//! Retry-After.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use jiff::Timestamp;
use serde::Deserialize;

/// When the CA suggests renewing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuggestedWindow {
    pub start: Timestamp,
    pub end: Timestamp,
}

/// A renewalInfo response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenewalInfo {
    pub suggested_window: SuggestedWindow,
    /// A page explaining the window (e.g. an incident's), if the CA gives one.
    pub explanation_url: Option<String>,
    /// When to ask again (`Retry-After`), if the server said.
    pub retry_after: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    suggested_window: WireWindow,
    #[serde(default, rename = "explanationURL")]
    explanation_url: Option<String>,
}

#[derive(Deserialize)]
struct WireWindow {
    start: String,
    end: String,
}

impl RenewalInfo {
    /// Parses a renewalInfo body; the window must be well-formed (start before end).
    pub fn parse(body: &[u8], retry_after: Option<Duration>) -> Result<RenewalInfo, String> {
        let wire: Wire = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        let time = |s: &str| {
            s.parse::<Timestamp>()
                .map_err(|e| format!("invalid suggestedWindow time {s:?}: {e}"))
        };
        let start = time(&wire.suggested_window.start)?;
        let end = time(&wire.suggested_window.end)?;
        if start >= end {
            return Err("invalid suggestedWindow: start must be before end".into());
        }
        Ok(RenewalInfo {
            suggested_window: SuggestedWindow { start, end },
            explanation_url: wire.explanation_url,
            retry_after,
        })
    }
}

/// The RFC 9773 identifier of a DER certificate, or why it has none (no authority
/// key identifier, or not a certificate).
pub fn certificate_id(cert_der: &[u8]) -> Result<String, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|e| format!("not a certificate: {e}"))?;
    let aki = cert
        .extensions()
        .iter()
        .find_map(|ext| match ext.parsed_extension() {
            x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(aki) => {
                aki.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        })
        .ok_or("the certificate has no authority key identifier")?;
    // The serial's DER INTEGER content octets, leading zero included.
    let serial = cert.tbs_certificate.raw_serial();
    Ok(format!("{}.{}", B64URL.encode(aki), B64URL.encode(serial)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_and_must_be_well_formed() {
        let info = RenewalInfo::parse(
            br#"{"suggestedWindow": {"start": "2025-01-02T04:00:00Z", "end": "2025-01-03T04:00:00Z"},
                 "explanationURL": "https://acme.example.com/docs/ari"}"#,
            Some(Duration::from_secs(21600)),
        )
        .unwrap();
        assert_eq!(
            info.suggested_window.start,
            "2025-01-02T04:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(
            info.explanation_url.as_deref(),
            Some("https://acme.example.com/docs/ari")
        );
        assert_eq!(info.retry_after, Some(Duration::from_secs(21600)));

        let backwards = RenewalInfo::parse(
            br#"{"suggestedWindow": {"start": "2025-01-03T04:00:00Z", "end": "2025-01-02T04:00:00Z"}}"#,
            None,
        );
        assert!(backwards.unwrap_err().contains("start must be before end"));
        assert!(
            RenewalInfo::parse(
                br#"{"suggestedWindow": {"start": "soon", "end": "later"}}"#,
                None
            )
            .is_err()
        );
        assert!(RenewalInfo::parse(b"{}", None).is_err());
    }

    #[test]
    fn rfc9773_certificate_identifier() {
        // RFC 9773 §4.1's example: AKI 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4
        // and serial 00:87:65:43:21 give "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE".
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.key_identifier_method = rcgen::KeyIdMethod::PreSpecified(vec![
            0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3, 0x7B, 0x84, 0x7B, 0xA0,
            0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4,
        ]);
        let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["a.example.com".into()]).unwrap();
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(rcgen::SerialNumber::from(vec![0x87, 0x65, 0x43, 0x21]));
        let cert = params.signed_by(&key, &issuer).unwrap();
        assert_eq!(
            certificate_id(cert.der()).unwrap(),
            "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
        );

        let mut no_aki = rcgen::CertificateParams::new(vec!["b.example.com".into()]).unwrap();
        no_aki.use_authority_key_identifier_extension = false;
        let plain = no_aki.self_signed(&key).unwrap();
        assert!(
            certificate_id(plain.der())
                .unwrap_err()
                .contains("authority key identifier")
        );
        assert!(certificate_id(b"junk").is_err());
    }
}
