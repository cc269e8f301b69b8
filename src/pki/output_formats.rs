//! What cert-manager writes into a Secret besides `tls.crt`/`tls.key`/`ca.crt`:
//! the certificate-details annotations (`AnnotationsForCertificate`, with Go's CSV
//! quoting) and the additional output formats `tls-combined.pem` and `key.der`.
//! Pure.

use std::collections::BTreeMap;

use x509_parser::prelude::{FromDer, X509Certificate};

use crate::api::annotations as ann;
use crate::pki::matching::{cert_sans, subject_of};
use crate::pki::parse::*;

// ---------------------------------------------------------------------------
// Secret data helpers
// ---------------------------------------------------------------------------

/// The annotations cert-manager puts on a Secret describing its certificate
/// (`AnnotationsForCertificate`): common name, subject fields, and SANs.
pub fn annotations_for_certificate_pem(
    cert_pem: &[u8],
) -> Result<BTreeMap<String, String>, CertError> {
    let der = first_certificate_der(cert_pem)?;
    let (_, cert) =
        X509Certificate::from_der(&der).map_err(|e| CertError::Certificate(e.to_string()))?;
    Ok(annotations_for_certificate(&cert))
}

pub(crate) fn annotations_for_certificate(cert: &X509Certificate<'_>) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    let subject = subject_of(cert.subject());
    let sans = cert_sans(cert);
    a.insert(ann::COMMON_NAME.to_string(), subject.common_name);
    if !subject.serial_number.is_empty() {
        a.insert(
            ann::SUBJECT_SERIAL_NUMBER.to_string(),
            subject.serial_number,
        );
    }
    let mut csv = |keep_empty: bool, key: &str, values: &[String]| {
        if values.is_empty() && !keep_empty {
            return;
        }
        // cert-manager drops an annotation that would not read back as the
        // values (a CRLF inside a value, or a single empty value).
        if values.iter().any(|v| v.contains("\r\n")) || (values.len() == 1 && values[0].is_empty())
        {
            return;
        }
        a.insert(key.to_string(), join_with_escape_csv(values));
    };
    csv(false, ann::SUBJECT_ORGANIZATIONS, &subject.organization);
    csv(
        false,
        ann::SUBJECT_ORGANIZATIONAL_UNITS,
        &subject.organizational_unit,
    );
    csv(false, ann::SUBJECT_COUNTRIES, &subject.country);
    csv(false, ann::SUBJECT_PROVINCES, &subject.province);
    csv(false, ann::SUBJECT_LOCALITIES, &subject.locality);
    csv(false, ann::SUBJECT_POSTAL_CODES, &subject.postal_code);
    csv(
        false,
        ann::SUBJECT_STREET_ADDRESSES,
        &subject.street_address,
    );
    csv(false, ann::EMAIL_SANS, &sans.emails);
    csv(true, ann::ALT_NAMES, &sans.dns);
    csv(true, ann::IP_SANS, &sans.ips);
    csv(true, ann::URI_SANS, &sans.uris);
    a
}

/// Go's `encoding/csv` writer for one record, without the trailing newline
/// (cert-manager's `JoinWithEscapeCSV`).
pub fn join_with_escape_csv(values: &[String]) -> String {
    values
        .iter()
        .map(|f| {
            let needs_quotes = !f.is_empty()
                && (f == r"\."
                    || f.contains([',', '"', '\r', '\n'])
                    || f.chars().next().is_some_and(char::is_whitespace));
            if needs_quotes {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `tls-combined.pem`: the key PEM, a newline, the certificate PEM.
pub fn output_format_combined_pem(key_pem: &[u8], cert_pem: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key_pem.len() + cert_pem.len() + 1);
    out.extend_from_slice(key_pem);
    out.push(b'\n');
    out.extend_from_slice(cert_pem);
    out
}

/// `key.der`: the DER of the first PEM block of the private key.
pub fn output_format_der(key_pem: &[u8]) -> Vec<u8> {
    pem_blocks(key_pem)
        .into_iter()
        .next()
        .map(|(_, der)| der)
        .unwrap_or_default()
}
