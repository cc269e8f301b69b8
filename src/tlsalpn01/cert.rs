//! The TLS-ALPN-01 challenge certificate (RFC 8737 §3): self-signed, one
//! subjectAltName dNSName (the identifier), and the critical
//! `id-pe-acmeIdentifier` extension holding SHA-256 of the key authorization.

use rustls::pki_types::{DnsName, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

use super::TlsAlpnError;

/// The OID of the `id-pe-acmeIdentifier` certificate extension (RFC 8737 §6.1).
pub const ACME_IDENTIFIER_OID: &str = "1.3.6.1.5.5.7.1.31";

/// SHA-256 of a key authorization: the value the `id-pe-acmeIdentifier`
/// extension carries (as a DER OCTET STRING).
pub fn key_authorization_digest(key_authorization: &str) -> [u8; 32] {
    let digest =
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key_authorization.as_bytes());
    let mut sha256 = [0u8; 32];
    sha256.copy_from_slice(digest.as_ref());
    sha256
}

/// The name a TLS-ALPN-01 challenge for `dns_name` answers to: lowercased, and
/// refused when it is a wildcard or not a valid DNS name (an IP address, a
/// trailing dot, empty labels).
pub fn challenge_name(dns_name: &str) -> Result<String, TlsAlpnError> {
    if dns_name.contains('*') {
        return Err(TlsAlpnError::WildcardName(dns_name.to_string()));
    }
    let lowercase_name = dns_name.to_ascii_lowercase();
    if lowercase_name.ends_with('.') || DnsName::try_from(lowercase_name.as_str()).is_err() {
        return Err(TlsAlpnError::InvalidName(dns_name.to_string()));
    }
    Ok(lowercase_name)
}

/// The self-signed certificate (ECDSA P-256) answering the TLS-ALPN-01 challenge
/// for `dns_name` with `key_authorization`, ready to serve with rustls.
pub fn challenge_certificate(
    dns_name: &str,
    key_authorization: &str,
) -> Result<CertifiedKey, TlsAlpnError> {
    let name = challenge_name(dns_name)?;
    let san = rcgen::string::Ia5String::try_from(name.as_str())?;

    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name.as_str());
    params.subject_alt_names = vec![rcgen::SanType::DnsName(san)];
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(
        &key_authorization_digest(key_authorization),
    )];

    let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let certificate = params.self_signed(&key_pair)?;

    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pair.serialize_der()));
    let signing_key =
        rustls::crypto::aws_lc_rs::sign::any_ecdsa_type(&key_der).map_err(TlsAlpnError::Key)?;
    Ok(CertifiedKey::new(
        vec![certificate.der().clone()],
        signing_key,
    ))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use x509_parser::extensions::GeneralName;

    /// The raw value (extnValue contents) and critical flag of the certificate's
    /// `id-pe-acmeIdentifier` extension, when it has one.
    pub(in crate::tlsalpn01) fn acme_identifier_extension(der: &[u8]) -> Option<(Vec<u8>, bool)> {
        let (_, parsed) = x509_parser::parse_x509_certificate(der).expect("parses as X.509");
        parsed
            .extensions()
            .iter()
            .find(|ext| ext.oid.to_id_string() == ACME_IDENTIFIER_OID)
            .map(|ext| (ext.value.to_vec(), ext.critical))
    }

    /// The DER OCTET STRING encoding of a 32-byte digest.
    pub(in crate::tlsalpn01) fn der_octet_string(digest: &[u8; 32]) -> Vec<u8> {
        let mut encoded = vec![0x04, 0x20];
        encoded.extend_from_slice(digest);
        encoded
    }

    fn dns_names(der: &[u8]) -> Vec<String> {
        let (_, parsed) = x509_parser::parse_x509_certificate(der).expect("parses as X.509");
        let san = parsed
            .subject_alternative_name()
            .expect("well-formed SAN")
            .expect("has a SAN");
        san.value
            .general_names
            .iter()
            .map(|general_name| match general_name {
                GeneralName::DNSName(name) => name.to_string(),
                other => panic!("unexpected SAN entry {other:?}"),
            })
            .collect()
    }

    #[test]
    fn digest_is_sha256_of_the_key_authorization() {
        // SHA-256("abc"), FIPS 180-2 test vector.
        let expected = [
            0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae,
            0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61,
            0xf2, 0x00, 0x15, 0xad,
        ];
        assert_eq!(key_authorization_digest("abc"), expected);
    }

    #[test]
    fn certificate_has_exactly_the_lowercased_dns_name() {
        let certified = challenge_certificate("WWW.Example.COM", "token.thumbprint").unwrap();
        assert_eq!(certified.cert.len(), 1);
        assert_eq!(dns_names(&certified.cert[0]), vec!["www.example.com"]);
    }

    #[test]
    fn certificate_carries_critical_acme_identifier_of_the_key_authorization() {
        let key_authorization = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.nysa3KHYm6LdLbV5vbrhENsb9Y7LLr9jGwG6c0DEqWg";
        let certified = challenge_certificate("example.com", key_authorization).unwrap();
        let (value, critical) =
            acme_identifier_extension(&certified.cert[0]).expect("has id-pe-acmeIdentifier");
        assert!(critical, "id-pe-acmeIdentifier must be critical");
        assert_eq!(
            value,
            der_octet_string(&key_authorization_digest(key_authorization))
        );
        assert_ne!(
            value,
            der_octet_string(&key_authorization_digest("another.authorization"))
        );
    }

    #[test]
    fn certificate_key_is_ecdsa_p256_and_matches() {
        let certified = challenge_certificate("example.com", "k.a").unwrap();
        assert_eq!(certified.key.algorithm(), rustls::SignatureAlgorithm::ECDSA);
        let (_, parsed) = x509_parser::parse_x509_certificate(&certified.cert[0]).unwrap();
        assert_eq!(
            parsed.signature_algorithm.algorithm.to_id_string(),
            "1.2.840.10045.4.3.2",
            "ecdsa-with-SHA256"
        );
        // rustls' `keys_match` goes through webpki, which (rightly, for a normal
        // client) refuses the unknown critical extension; compare the SPKIs.
        let key_spki = certified
            .key
            .public_key()
            .expect("the key exposes its SPKI");
        assert_eq!(
            key_spki.as_ref(),
            parsed.tbs_certificate.subject_pki.raw,
            "the private key belongs to the certificate"
        );
    }

    #[test]
    fn certificate_is_self_signed() {
        let certified = challenge_certificate("example.com", "k.a").unwrap();
        let (_, parsed) = x509_parser::parse_x509_certificate(&certified.cert[0]).unwrap();
        assert_eq!(parsed.subject(), parsed.issuer());
        parsed
            .verify_signature(None)
            .expect("signed by its own key");
    }

    #[test]
    fn wildcard_names_are_refused() {
        assert!(matches!(
            challenge_certificate("*.example.com", "k.a"),
            Err(TlsAlpnError::WildcardName(_))
        ));
    }

    #[test]
    fn invalid_names_are_refused() {
        for name in [
            "",
            "192.0.2.1",
            "example.com.",
            "exa mple.com",
            "-bad.example",
        ] {
            assert!(
                matches!(
                    challenge_certificate(name, "k.a"),
                    Err(TlsAlpnError::InvalidName(_))
                ),
                "{name:?} should be refused"
            );
        }
    }
}
