//! Building and signing certificates from CSRs, as cert-manager's
//! `pki.CertificateTemplateFromCSR` + `pki.SignCertificate` do (Go's
//! `x509.CreateCertificate` conventions: extension order and criticality,
//! random 128-bit serial, SKI, AKI from the issuer's SKI).
//!
//! The CSR is parsed and its signature verified here (every signature
//! algorithm rustls/aws-lc verifies: RSA PKCS#1 v1.5 and PSS, ECDSA P-256,
//! P-384, P-521, Ed25519); its subject, public key, SAN extension (including
//! otherNames) and name constraints are copied verbatim into the certificate.

use std::time::Duration;

use thiserror::Error;

use crate::api::certificate::KeyUsage;
use crate::pki::csr::{
    self as keys, basic_constraints_value, ext_key_usage_value, extension, key_usage_value,
    usages_to_x509,
};
use crate::pki::key::{KeyError, PrivateKey};
use crate::pki::{der, oids, pem};

/// How to sign: the parts of the template that come from the request and the issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignOptions {
    /// Lifetime of the certificate (`spec.duration`, default 90 days).
    pub duration: Duration,
    /// Whether a CA certificate is requested (`spec.isCA`).
    pub is_ca: bool,
    /// Requested usages (`spec.usages`); empty: the CSR's, else cert-manager's defaults.
    pub usages: Vec<KeyUsage>,
    /// CRL distribution points of the issuer.
    pub crl_distribution_points: Vec<String>,
    /// OCSP servers of the issuer.
    pub ocsp_servers: Vec<String>,
    /// Issuing certificate URLs (AIA caIssuers) of the issuer.
    pub issuing_certificate_urls: Vec<String>,
    /// notBefore; "now" (tests inject a fixed time).
    pub not_before: jiff::Timestamp,
}

/// cert-manager's default certificate lifetime (90 days).
pub const DEFAULT_DURATION: Duration = Duration::from_secs(90 * 24 * 3600);

impl SignOptions {
    /// Options for a certificate of `duration` starting now, nothing else set.
    pub fn new(duration: Duration) -> SignOptions {
        SignOptions {
            duration,
            is_ca: false,
            usages: Vec::new(),
            crl_distribution_points: Vec::new(),
            ocsp_servers: Vec::new(),
            issuing_certificate_urls: Vec::new(),
            not_before: jiff::Timestamp::now(),
        }
    }
}

/// A signed certificate: what goes to `status.certificate` and `status.ca`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCertificate {
    /// PEM: the leaf, then the chain up to (not including) a self-signed root.
    pub certificate_pem: String,
    /// PEM of the CA certificate (`ca.crt`).
    pub ca_pem: String,
}

/// Signing failures. Never carries key material.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SignError {
    /// The request is not a decodable PKCS#10 CSR.
    #[error("error decoding certificate request PEM block: {0}")]
    DecodeCsr(String),
    /// The CSR's signature does not verify, or uses an unsupported algorithm.
    #[error("CSR signature verification failed: {0}")]
    CsrSignature(String),
    /// The CSR's public key is not the one of the private key that should sign it
    /// (cert-manager: "CSR not signed by referenced private key").
    #[error("CSR not signed by referenced private key")]
    KeyMismatch,
    /// The CSR's basic constraints contradict `isCA`.
    #[error("encoded CA value ({csr}) does not match requested CA value ({requested})")]
    BasicConstraintsMismatch { csr: bool, requested: bool },
    /// The requested validity cannot be represented.
    #[error("invalid certificate validity: {0}")]
    Validity(String),
    /// Randomness was unavailable.
    #[error("failed to generate serial number")]
    Random,
    /// A key operation failed.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// cert-manager's event reason when the self-signing key does not match the CSR.
pub const REASON_ERROR_KEY_MATCH: &str = "ErrorKeyMatch";
/// cert-manager's condition message accompanying [`REASON_ERROR_KEY_MATCH`].
pub const MESSAGE_ERROR_KEY_MATCH: &str = "Error generating certificate template";
/// cert-manager's reason when signing fails.
pub const REASON_ERROR_SIGNING: &str = "ErrorSigning";

/// One extension of a CSR's extension request.
#[derive(Debug, Clone)]
pub(crate) struct CsrExtension {
    pub oid: Vec<u8>,
    pub critical: bool,
    pub value: Vec<u8>,
}

/// A parsed, signature-verified CSR.
#[derive(Debug, Clone)]
pub(crate) struct ParsedCsr {
    /// The DER subject Name.
    pub subject: Vec<u8>,
    /// The DER SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
    pub extensions: Vec<CsrExtension>,
}

impl ParsedCsr {
    fn extension(&self, oid: &[u64]) -> Option<&CsrExtension> {
        let oid = der::oid_content(oid);
        self.extensions.iter().find(|e| e.oid == oid)
    }
}

fn decode_err(m: &str) -> SignError {
    SignError::DecodeCsr(m.to_string())
}

/// Parses the first `CERTIFICATE REQUEST` PEM block and verifies its signature.
pub(crate) fn parse_csr(csr_pem: &[u8]) -> Result<ParsedCsr, SignError> {
    let blocks = pem::decode_all(csr_pem).map_err(|e| SignError::DecodeCsr(e.to_string()))?;
    let Some(block) = blocks
        .into_iter()
        .find(|b| b.label == "CERTIFICATE REQUEST" || b.label == "NEW CERTIFICATE REQUEST")
    else {
        return Err(decode_err("no CERTIFICATE REQUEST PEM block found"));
    };
    let (outer, rest) = der::read(&block.der).ok_or_else(|| decode_err("malformed CSR"))?;
    if outer.tag != 0x30 || !rest.is_empty() {
        return Err(decode_err("malformed CSR"));
    }
    let parts = der::children(outer.content).ok_or_else(|| decode_err("malformed CSR"))?;
    let [info, sig_alg, sig] = parts.as_slice() else {
        return Err(decode_err("malformed CSR"));
    };
    if info.tag != 0x30 || sig_alg.tag != 0x30 {
        return Err(decode_err("malformed CSR"));
    }
    let signature =
        der::bit_string_bytes(sig).ok_or_else(|| decode_err("malformed CSR signature"))?;
    let fields = der::children(info.content).ok_or_else(|| decode_err("malformed CSR info"))?;
    let (Some(version), Some(subject), Some(spki)) = (fields.first(), fields.get(1), fields.get(2))
    else {
        return Err(decode_err("malformed CSR info"));
    };
    if version.tag != 0x02 || version.content != [0] || subject.tag != 0x30 || spki.tag != 0x30 {
        return Err(decode_err("malformed CSR info"));
    }
    // Subject Name: a SEQUENCE of non-empty SETs.
    for rdn in der::children(subject.content).ok_or_else(|| decode_err("malformed subject"))? {
        if rdn.tag != 0x31 || rdn.content.is_empty() {
            return Err(decode_err("malformed subject"));
        }
    }
    verify_signature(spki.raw, sig_alg.content, info.raw, signature)?;

    let mut extensions = Vec::new();
    if let Some(attrs) = fields.get(3) {
        if attrs.tag != 0xa0 {
            return Err(decode_err("malformed CSR attributes"));
        }
        for attr in
            der::children(attrs.content).ok_or_else(|| decode_err("malformed CSR attributes"))?
        {
            let a =
                der::children(attr.content).ok_or_else(|| decode_err("malformed CSR attribute"))?;
            let (Some(oid), Some(values)) = (a.first(), a.get(1)) else {
                return Err(decode_err("malformed CSR attribute"));
            };
            if oid.content != der::oid_content(oids::EXTENSION_REQUEST) {
                continue;
            }
            let values = der::children(values.content)
                .ok_or_else(|| decode_err("malformed extension request"))?;
            let Some(exts) = values.first() else {
                return Err(decode_err("malformed extension request"));
            };
            for ext in der::children(exts.content)
                .ok_or_else(|| decode_err("malformed extension request"))?
            {
                let f =
                    der::children(ext.content).ok_or_else(|| decode_err("malformed extension"))?;
                let (oid, critical, value) = match f.as_slice() {
                    [oid, value] => (oid, false, value),
                    [oid, crit, value] if crit.tag == 0x01 => {
                        (oid, crit.content.first().is_some_and(|b| *b != 0), value)
                    }
                    _ => return Err(decode_err("malformed extension")),
                };
                if oid.tag != 0x06 || value.tag != 0x04 {
                    return Err(decode_err("malformed extension"));
                }
                extensions.push(CsrExtension {
                    oid: oid.content.to_vec(),
                    critical,
                    value: value.content.to_vec(),
                });
            }
        }
    }
    Ok(ParsedCsr {
        subject: subject.raw.to_vec(),
        spki: spki.raw.to_vec(),
        extensions,
    })
}

/// Verifies `signature` over `message` with the SPKI, using the signature
/// algorithms of rustls' aws-lc-rs provider.
fn verify_signature(
    spki: &[u8],
    sig_alg: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignError> {
    let (spki_outer, _) = der::read(spki).ok_or_else(|| decode_err("malformed public key"))?;
    let spki_fields =
        der::children(spki_outer.content).ok_or_else(|| decode_err("malformed public key"))?;
    let (Some(key_alg), Some(key_bits)) = (spki_fields.first(), spki_fields.get(1)) else {
        return Err(decode_err("malformed public key"));
    };
    let public =
        der::bit_string_bytes(key_bits).ok_or_else(|| decode_err("malformed public key"))?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let mut candidates = provider
        .signature_verification_algorithms
        .all
        .iter()
        .filter(|a| {
            a.signature_alg_id().as_ref() == sig_alg
                && a.public_key_alg_id().as_ref() == key_alg.content
        })
        .peekable();
    if candidates.peek().is_none() {
        return Err(SignError::CsrSignature(format!(
            "unsupported signature algorithm {}",
            der::read(sig_alg)
                .and_then(|(o, _)| der::oid_to_string(o.content))
                .unwrap_or_else(|| "?".into())
        )));
    }
    if candidates.any(|a| a.verify_signature(public, message, signature).is_ok()) {
        Ok(())
    } else {
        Err(SignError::CsrSignature("invalid signature".into()))
    }
}

/// The issuer side of a signature.
pub(crate) struct IssuerInfo<'a> {
    /// DER Name of the issuer (the CSR's subject when self-signing).
    pub subject: &'a [u8],
    /// The issuer's subject key identifier (becomes the AKI), if any.
    pub key_id: Option<&'a [u8]>,
    /// The issuer's key.
    pub key: &'a PrivateKey,
    /// Latest notAfter allowed (the CA's notAfter), in Unix seconds.
    pub not_after_limit: Option<i64>,
}

/// SHA-256 of `data` (via rustls' aws-lc-rs provider).
fn sha256(data: &[u8]) -> Vec<u8> {
    match rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256.tls13() {
        Some(suite) => suite.common.hash_provider.hash(data).as_ref().to_vec(),
        None => Vec::new(),
    }
}

/// The subject key identifier Go (≥ 1.25) generates: the leftmost 160 bits
/// of the SHA-256 of the subjectPublicKey (RFC 7093 method 1).
pub(crate) fn key_identifier(spki: &[u8]) -> Option<Vec<u8>> {
    let (_, bits) = der::spki_public_bits(spki)?;
    let digest = sha256(&bits);
    digest.get(..20).map(<[u8]>::to_vec)
}

fn random_serial() -> Result<Vec<u8>, SignError> {
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let mut bytes = [0u8; 16];
    loop {
        provider
            .secure_random
            .fill(&mut bytes)
            .map_err(|_| SignError::Random)?;
        if bytes.iter().any(|b| *b != 0) {
            return Ok(der::uint_bytes(&bytes));
        }
    }
}

fn asn1_time(ts: jiff::Timestamp) -> Vec<u8> {
    let zoned = ts.to_zoned(jiff::tz::TimeZone::UTC);
    if (1950..2050).contains(&zoned.year()) {
        der::tlv(0x17, zoned.strftime("%y%m%d%H%M%SZ").to_string().as_bytes())
    } else {
        der::tlv(0x18, zoned.strftime("%Y%m%d%H%M%SZ").to_string().as_bytes())
    }
}

fn uri_names(field: &str, uris: &[String]) -> Result<(), SignError> {
    match uris.iter().find(|u| u.is_empty() || !u.is_ascii()) {
        Some(u) => Err(SignError::Key(KeyError::InvalidField {
            field: field.into(),
            reason: format!("{u:?} is not a valid URL"),
        })),
        None => Ok(()),
    }
}

/// Parses the CSR's KeyUsage BIT STRING into bits (bit `i` = RFC 5280 bit `i`).
fn parse_key_usage(value: &[u8]) -> Result<u16, SignError> {
    let (bits, _) = der::read(value).ok_or_else(|| decode_err("malformed key usage"))?;
    let Some((_, bytes)) = bits.content.split_first().filter(|_| bits.tag == 0x03) else {
        return Err(decode_err("malformed key usage"));
    };
    let mut out = 0u16;
    for i in 0..9u16 {
        let byte = bytes.get(usize::from(i / 8)).copied().unwrap_or(0);
        if byte & (0x80 >> (i % 8)) != 0 {
            out |= 1 << i;
        }
    }
    Ok(out)
}

fn parse_ext_key_usage(value: &[u8]) -> Result<Vec<Vec<u8>>, SignError> {
    let (seq, _) = der::read(value).ok_or_else(|| decode_err("malformed extended key usage"))?;
    let oids =
        der::children(seq.content).ok_or_else(|| decode_err("malformed extended key usage"))?;
    Ok(oids
        .iter()
        .filter(|o| o.tag == 0x06)
        .map(|o| o.content.to_vec())
        .collect())
}

fn parse_basic_constraints(value: &[u8]) -> Result<(bool, Option<u64>), SignError> {
    let (seq, _) = der::read(value).ok_or_else(|| decode_err("malformed basic constraints"))?;
    let mut ca = false;
    let mut path_len = None;
    for f in der::children(seq.content).ok_or_else(|| decode_err("malformed basic constraints"))? {
        match f.tag {
            0x01 => ca = f.content.first().is_some_and(|b| *b != 0),
            0x02 if f.content.len() <= 8 => {
                path_len = Some(
                    f.content
                        .iter()
                        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)),
                );
            }
            _ => return Err(decode_err("malformed basic constraints")),
        }
    }
    Ok((ca, path_len))
}

/// Builds and signs the certificate for `csr`; returns its DER.
pub(crate) fn issue(
    csr: &ParsedCsr,
    opts: &SignOptions,
    issuer: &IssuerInfo<'_>,
) -> Result<Vec<u8>, SignError> {
    uri_names("crlDistributionPoints", &opts.crl_distribution_points)?;
    uri_names("ocspServers", &opts.ocsp_servers)?;
    uri_names("issuingCertificateURLs", &opts.issuing_certificate_urls)?;

    // Validity.
    let not_before = jiff::Timestamp::from_second(opts.not_before.as_second())
        .map_err(|e| SignError::Validity(e.to_string()))?;
    let duration = jiff::SignedDuration::try_from(opts.duration)
        .map_err(|e| SignError::Validity(e.to_string()))?;
    let mut not_after = not_before
        .checked_add(duration)
        .map_err(|e| SignError::Validity(e.to_string()))?;
    if let Some(limit) = issuer.not_after_limit
        && limit < not_after.as_second()
    {
        not_after =
            jiff::Timestamp::from_second(limit).map_err(|e| SignError::Validity(e.to_string()))?;
    }

    // Basic constraints.
    let mut path_len = None;
    if let Some(bc) = csr.extension(oids::EXT_BASIC_CONSTRAINTS) {
        let (ca, len) = parse_basic_constraints(&bc.value)?;
        if ca != opts.is_ca {
            return Err(SignError::BasicConstraintsMismatch {
                csr: ca,
                requested: opts.is_ca,
            });
        }
        path_len = len.filter(|_| ca);
    }

    // Key usages: the requested ones, else the CSR's, else cert-manager's defaults.
    let csr_ku = csr.extension(oids::EXT_KEY_USAGE);
    let csr_eku = csr.extension(oids::EXT_EXT_KEY_USAGE);
    let (ku_bits, ekus) = if opts.usages.is_empty() && (csr_ku.is_some() || csr_eku.is_some()) {
        let mut bits = match csr_ku {
            Some(ext) => parse_key_usage(&ext.value)?,
            None => 0,
        };
        if opts.is_ca {
            bits |= keys::ku::CERT_SIGN;
        }
        let ekus = match csr_eku {
            Some(ext) => parse_ext_key_usage(&ext.value)?,
            None => Vec::new(),
        };
        (bits, ekus)
    } else {
        usages_to_x509(&opts.usages, opts.is_ca)
    };

    // Extensions, in the order Go's x509.CreateCertificate writes them.
    let mut exts: Vec<Vec<u8>> = Vec::new();
    if ku_bits != 0 {
        exts.push(extension(
            oids::EXT_KEY_USAGE,
            true,
            &key_usage_value(ku_bits),
        ));
    }
    if !ekus.is_empty() {
        exts.push(extension(
            oids::EXT_EXT_KEY_USAGE,
            false,
            &ext_key_usage_value(&ekus),
        ));
    }
    exts.push(extension(
        oids::EXT_BASIC_CONSTRAINTS,
        true,
        &basic_constraints_value(opts.is_ca, path_len),
    ));
    let ski = key_identifier(&csr.spki);
    if let Some(ski) = &ski {
        exts.push(extension(
            oids::EXT_SUBJECT_KEY_IDENTIFIER,
            false,
            &der::octet_string(ski),
        ));
    }
    let self_signed = issuer.subject == csr.subject.as_slice();
    if let Some(aki) = issuer.key_id.filter(|_| !self_signed) {
        exts.push(extension(
            oids::EXT_AUTHORITY_KEY_IDENTIFIER,
            false,
            &der::seq(&[&der::tlv(0x80, aki)]),
        ));
    }
    if !opts.ocsp_servers.is_empty() || !opts.issuing_certificate_urls.is_empty() {
        let mut ads: Vec<Vec<u8>> = Vec::new();
        for url in &opts.ocsp_servers {
            ads.push(der::seq(&[
                &der::oid(oids::AD_OCSP),
                &der::tlv(0x86, url.as_bytes()),
            ]));
        }
        for url in &opts.issuing_certificate_urls {
            ads.push(der::seq(&[
                &der::oid(oids::AD_CA_ISSUERS),
                &der::tlv(0x86, url.as_bytes()),
            ]));
        }
        let refs: Vec<&[u8]> = ads.iter().map(Vec::as_slice).collect();
        exts.push(extension(
            oids::EXT_AUTHORITY_INFO_ACCESS,
            false,
            &der::seq(&refs),
        ));
    }
    if let Some(san) = csr.extension(oids::EXT_SAN) {
        let subject_empty = csr.subject == der::seq(&[]);
        exts.push(extension(oids::EXT_SAN, subject_empty, &san.value));
    }
    if let Some(nc) = csr.extension(oids::EXT_NAME_CONSTRAINTS) {
        exts.push(extension(
            oids::EXT_NAME_CONSTRAINTS,
            nc.critical,
            &nc.value,
        ));
    }
    if !opts.crl_distribution_points.is_empty() {
        let dps: Vec<Vec<u8>> = opts
            .crl_distribution_points
            .iter()
            .map(|url| {
                der::seq(&[&der::tlv(
                    0xa0,
                    &der::tlv(0xa0, &der::tlv(0x86, url.as_bytes())),
                )])
            })
            .collect();
        let refs: Vec<&[u8]> = dps.iter().map(Vec::as_slice).collect();
        exts.push(extension(
            oids::EXT_CRL_DISTRIBUTION_POINTS,
            false,
            &der::seq(&refs),
        ));
    }

    let sig_alg = issuer.key.default_sig_alg();
    let ext_refs: Vec<&[u8]> = exts.iter().map(Vec::as_slice).collect();
    let tbs = der::seq(&[
        &der::tlv(0xa0, &der::small_int(2)),
        &random_serial()?,
        &sig_alg.algorithm_identifier(),
        issuer.subject,
        &der::seq(&[&asn1_time(not_before), &asn1_time(not_after)]),
        &csr.subject,
        &csr.spki,
        &der::tlv(0xa3, &der::seq(&ext_refs)),
    ]);
    let signature = issuer.key.sign(sig_alg, &tbs)?;
    Ok(der::seq(&[
        &tbs,
        &sig_alg.algorithm_identifier(),
        &der::bit_string(&signature),
    ]))
}

/// PEM of a DER certificate.
pub(crate) fn certificate_pem(der_bytes: &[u8]) -> String {
    pem::encode("CERTIFICATE", der_bytes)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::certificate::{CertificateSpec, X509Subject};
    use crate::pki::csr::build_csr;
    use crate::pki::key::KeyAlgorithm;
    use crate::pki::pem;
    use x509_parser::prelude::*;

    pub(crate) fn fixed_now() -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_767_225_600).unwrap() // 2026-01-01T00:00:00Z
    }

    pub(crate) fn spec(cn: &str) -> CertificateSpec {
        CertificateSpec {
            common_name: Some(cn.into()),
            subject: Some(Box::new(X509Subject {
                organizations: Some(vec!["Example Org".into()]),
                ..Default::default()
            })),
            dns_names: Some(vec![format!("{cn}.example.com")]),
            ip_addresses: Some(vec!["192.0.2.1".into()]),
            uris: Some(vec!["https://example.com/x".into()]),
            email_addresses: Some(vec!["a@example.com".into()]),
            secret_name: "s".into(),
            ..Default::default()
        }
    }

    pub(crate) fn options(duration: Duration) -> SignOptions {
        SignOptions {
            not_before: fixed_now(),
            ..SignOptions::new(duration)
        }
    }

    #[test]
    fn parse_csr_rejects_garbage_and_tampering() {
        assert!(parse_csr(b"nope").is_err());
        let key = PrivateKey::generate(KeyAlgorithm::Ecdsa(256)).unwrap();
        let csr = build_csr(&spec("a"), &key).unwrap();
        let parsed = parse_csr(csr.as_bytes()).unwrap();
        assert!(parsed.extension(oids::EXT_SAN).is_some());
        // Flip one byte of the subject: the signature no longer verifies.
        let mut der_bytes = pem::decode_all(csr.as_bytes()).unwrap().remove(0).der;
        let pos = der_bytes.windows(7).position(|w| w == b"Example").unwrap();
        der_bytes[pos] = b'F';
        let tampered = pem::encode("CERTIFICATE REQUEST", &der_bytes);
        assert!(matches!(
            parse_csr(tampered.as_bytes()),
            Err(SignError::CsrSignature(_))
        ));
    }

    #[test]
    fn key_usage_roundtrip() {
        for bits in [1u16, 0b101, 1 << 8 | 1, 0x1ff, 1 << 5] {
            assert_eq!(parse_key_usage(&key_usage_value(bits)).unwrap(), bits);
        }
        let (_, ku) = x509_parser::extensions::KeyUsage::from_der(&key_usage_value(0b101)).unwrap();
        assert!(ku.digital_signature() && ku.key_encipherment() && !ku.non_repudiation());
    }

    #[test]
    fn validity_is_truncated_to_the_issuer_limit() {
        let key = PrivateKey::generate(KeyAlgorithm::Ecdsa(256)).unwrap();
        let csr = parse_csr(build_csr(&spec("a"), &key).unwrap().as_bytes()).unwrap();
        let opts = options(Duration::from_secs(3600 * 24 * 365));
        let limit = fixed_now().as_second() + 3600;
        let der_bytes = issue(
            &csr,
            &opts,
            &IssuerInfo {
                subject: &csr.subject,
                key_id: None,
                key: &key,
                not_after_limit: Some(limit),
            },
        )
        .unwrap();
        let (_, cert) = X509Certificate::from_der(&der_bytes).unwrap();
        assert_eq!(cert.validity().not_after.timestamp(), limit);
        assert_eq!(
            cert.validity().not_before.timestamp(),
            fixed_now().as_second()
        );
    }

    #[test]
    fn far_future_uses_generalized_time() {
        let t = jiff::Timestamp::from_second(2_556_144_000).unwrap(); // 2051-01-01
        assert_eq!(asn1_time(t)[0], 0x18);
        assert_eq!(asn1_time(fixed_now())[0], 0x17);
    }
}
