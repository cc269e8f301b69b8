//! Certificate signing requests as cert-manager's `pki.GenerateCSR` writes them:
//! the subject (several values per attribute, a literal RFC 4514 subject), SANs
//! (DNS, IP, URI, email, otherName), key usages and name constraints, signed by a
//! [`PrivateKey`]. Also the X.509 extension values the signers share. Pure.

use std::net::IpAddr;

use crate::api::certificate::{CertificateSpec, KeyUsage, NameConstraintItem, NameConstraints};
use crate::pki::key::{KeyError, PrivateKey, SigAlg, csr_sig_alg};
use crate::pki::subject::LiteralValue;
use crate::pki::{der, oids, pem};

// ---------------------------------------------------------------------------
// Key usages.

/// X.509 KeyUsage bits, bit `i` standing for RFC 5280's bit `i`
/// (0 = digitalSignature ... 8 = decipherOnly).
pub(crate) mod ku {
    pub const DIGITAL_SIGNATURE: u16 = 1 << 0;
    pub const CONTENT_COMMITMENT: u16 = 1 << 1;
    pub const KEY_ENCIPHERMENT: u16 = 1 << 2;
    pub const DATA_ENCIPHERMENT: u16 = 1 << 3;
    pub const KEY_AGREEMENT: u16 = 1 << 4;
    pub const CERT_SIGN: u16 = 1 << 5;
    pub const CRL_SIGN: u16 = 1 << 6;
    pub const ENCIPHER_ONLY: u16 = 1 << 7;
    pub const DECIPHER_ONLY: u16 = 1 << 8;
}

/// cert-manager's `DefaultKeyUsages`.
pub const DEFAULT_KEY_USAGES: [KeyUsage; 2] =
    [KeyUsage::DigitalSignature, KeyUsage::KeyEncipherment];

/// The KeyUsage bits and extended key usage OIDs (DER content) for the
/// usages, as cert-manager's `KeyUsagesForCertificateOrCertificateRequest`:
/// defaults when none are given, `cert sign` added for a CA.
pub(crate) fn usages_to_x509(usages: &[KeyUsage], is_ca: bool) -> (u16, Vec<Vec<u8>>) {
    let usages: &[KeyUsage] = if usages.is_empty() {
        &DEFAULT_KEY_USAGES
    } else {
        usages
    };
    let mut bits = if is_ca { ku::CERT_SIGN } else { 0 };
    let mut ekus: Vec<Vec<u8>> = Vec::new();
    for usage in usages {
        let (bit, eku): (u16, Option<&[u64]>) = match usage {
            KeyUsage::Signing | KeyUsage::DigitalSignature => (ku::DIGITAL_SIGNATURE, None),
            KeyUsage::ContentCommitment => (ku::CONTENT_COMMITMENT, None),
            KeyUsage::KeyEncipherment => (ku::KEY_ENCIPHERMENT, None),
            KeyUsage::KeyAgreement => (ku::KEY_AGREEMENT, None),
            KeyUsage::DataEncipherment => (ku::DATA_ENCIPHERMENT, None),
            KeyUsage::CertSign => (ku::CERT_SIGN, None),
            KeyUsage::CrlSign => (ku::CRL_SIGN, None),
            KeyUsage::EncipherOnly => (ku::ENCIPHER_ONLY, None),
            KeyUsage::DecipherOnly => (ku::DECIPHER_ONLY, None),
            KeyUsage::Any => (0, Some(oids::EKU_ANY)),
            KeyUsage::ServerAuth => (0, Some(oids::EKU_SERVER_AUTH)),
            KeyUsage::ClientAuth => (0, Some(oids::EKU_CLIENT_AUTH)),
            KeyUsage::CodeSigning => (0, Some(oids::EKU_CODE_SIGNING)),
            KeyUsage::EmailProtection | KeyUsage::Smime => (0, Some(oids::EKU_EMAIL_PROTECTION)),
            KeyUsage::IpsecEndSystem => (0, Some(oids::EKU_IPSEC_END_SYSTEM)),
            KeyUsage::IpsecTunnel => (0, Some(oids::EKU_IPSEC_TUNNEL)),
            KeyUsage::IpsecUser => (0, Some(oids::EKU_IPSEC_USER)),
            KeyUsage::Timestamping => (0, Some(oids::EKU_TIMESTAMPING)),
            KeyUsage::OcspSigning => (0, Some(oids::EKU_OCSP_SIGNING)),
            KeyUsage::MicrosoftSgc => (0, Some(oids::EKU_MICROSOFT_SGC)),
            KeyUsage::NetscapeSgc => (0, Some(oids::EKU_NETSCAPE_SGC)),
        };
        bits |= bit;
        if let Some(eku) = eku {
            let content = der::oid_content(eku);
            if !ekus.contains(&content) {
                ekus.push(content);
            }
        }
    }
    (bits, ekus)
}

/// The value of a KeyUsage extension (a minimal BIT STRING, as Go writes it).
pub(crate) fn key_usage_value(bits: u16) -> Vec<u8> {
    let b0 = (bits as u8).reverse_bits();
    let b1 = ((bits >> 8) as u8).reverse_bits();
    let bytes: Vec<u8> = if b1 != 0 { vec![b0, b1] } else { vec![b0] };
    let unused = bytes
        .last()
        .map_or(0, |b| if *b == 0 { 0 } else { b.trailing_zeros() as u8 });
    let mut content = vec![unused];
    content.extend_from_slice(&bytes);
    der::tlv(0x03, &content)
}

/// The value of an ExtendedKeyUsage extension.
pub(crate) fn ext_key_usage_value(ekus: &[Vec<u8>]) -> Vec<u8> {
    let parts: Vec<Vec<u8>> = ekus.iter().map(|c| der::tlv(0x06, c)).collect();
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    der::seq(&refs)
}

/// The value of a BasicConstraints extension.
pub(crate) fn basic_constraints_value(is_ca: bool, path_len: Option<u64>) -> Vec<u8> {
    let mut parts = Vec::new();
    if is_ca {
        parts.push(der::boolean(true));
    }
    if let Some(len) = path_len {
        parts.push(der::uint(len));
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    der::seq(&refs)
}

/// One DER Extension.
pub(crate) fn extension(oid: &[u64], critical: bool, value: &[u8]) -> Vec<u8> {
    if critical {
        der::seq(&[
            &der::oid(oid),
            &der::boolean(true),
            &der::octet_string(value),
        ])
    } else {
        der::seq(&[&der::oid(oid), &der::octet_string(value)])
    }
}

// ---------------------------------------------------------------------------
// CSR building.

/// Builds the PEM `CERTIFICATE REQUEST` cert-manager's `pki.GenerateCSR`
/// would build for `spec`, signed with `key`.
pub fn build_csr(spec: &CertificateSpec, key: &PrivateKey) -> Result<String, KeyError> {
    let is_ca = spec.is_ca.unwrap_or(false);
    let subject = build_subject(spec)?;
    let subject_empty = subject == der::seq(&[]);

    let mut extensions: Vec<Vec<u8>> = Vec::new();
    let sans = build_general_names(spec)?;
    if !sans.is_empty() {
        let refs: Vec<&[u8]> = sans.iter().map(Vec::as_slice).collect();
        extensions.push(extension(oids::EXT_SAN, subject_empty, &der::seq(&refs)));
    }
    if spec.encode_usages_in_request != Some(false) {
        let (bits, ekus) = usages_to_x509(spec.usages.as_deref().unwrap_or(&[]), is_ca);
        if bits != 0 {
            extensions.push(extension(oids::EXT_KEY_USAGE, true, &key_usage_value(bits)));
        }
        if !ekus.is_empty() {
            extensions.push(extension(
                oids::EXT_EXT_KEY_USAGE,
                false,
                &ext_key_usage_value(&ekus),
            ));
        }
    }
    if is_ca {
        extensions.push(extension(
            oids::EXT_BASIC_CONSTRAINTS,
            true,
            &basic_constraints_value(true, None),
        ));
    }
    if let Some(nc) = &spec.name_constraints
        && let Some(value) = name_constraints_value(nc)?
    {
        extensions.push(extension(
            oids::EXT_NAME_CONSTRAINTS,
            nc.critical.unwrap_or(false),
            &value,
        ));
    }

    let attributes = if extensions.is_empty() {
        der::tlv(0xa0, &[])
    } else {
        let refs: Vec<&[u8]> = extensions.iter().map(Vec::as_slice).collect();
        let attr = der::seq(&[
            &der::oid(oids::EXTENSION_REQUEST),
            &der::set(&[&der::seq(&refs)]),
        ]);
        der::tlv(0xa0, &attr)
    };
    let info = der::seq(&[
        &der::small_int(0),
        &subject,
        &key.public_key_der(),
        &attributes,
    ]);
    let sig_alg = match spec.signature_algorithm {
        Some(requested) => SigAlg::from_api(requested),
        None => csr_sig_alg(key.algorithm()),
    };
    let signature = key.sign(sig_alg, &info)?;
    let csr = der::seq(&[
        &info,
        &sig_alg.algorithm_identifier(),
        &der::bit_string(&signature),
    ]);
    Ok(pem::encode("CERTIFICATE REQUEST", &csr))
}

/// One attribute value as Go's asn1 encodes a string: PrintableString when
/// every character is printable (`*` allowed), UTF8String otherwise.
fn directory_string(value: &str) -> Vec<u8> {
    let printable = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?*".contains(&b));
    if printable {
        der::tlv(0x13, value.as_bytes())
    } else {
        der::tlv(0x0c, value.as_bytes())
    }
}

fn attribute(oid_content: &[u8], value: &[u8]) -> Vec<u8> {
    der::seq(&[&der::tlv(0x06, oid_content), value])
}

/// The subject Name: from `literalSubject`, or from `subject` and
/// `commonName` in the order of Go's `pkix.Name.ToRDNSequence`.
fn build_subject(spec: &CertificateSpec) -> Result<Vec<u8>, KeyError> {
    if let Some(literal) = spec.literal_subject.as_deref().filter(|s| !s.is_empty()) {
        return literal_subject_der(literal);
    }
    let mut rdns: Vec<Vec<u8>> = Vec::new();
    let mut push_all = |oid: &[u64], values: Option<&Vec<String>>| {
        for value in values.into_iter().flatten() {
            let attr = attribute(&der::oid_content(oid), &directory_string(value));
            rdns.push(der::set(&[&attr]));
        }
    };
    let subject = spec.subject.clone().unwrap_or_default();
    push_all(oids::AT_COUNTRY, subject.countries.as_ref());
    push_all(oids::AT_ORGANIZATION, subject.organizations.as_ref());
    push_all(
        oids::AT_ORGANIZATIONAL_UNIT,
        subject.organizational_units.as_ref(),
    );
    push_all(oids::AT_LOCALITY, subject.localities.as_ref());
    push_all(oids::AT_PROVINCE, subject.provinces.as_ref());
    push_all(oids::AT_STREET_ADDRESS, subject.street_addresses.as_ref());
    push_all(oids::AT_POSTAL_CODE, subject.postal_codes.as_ref());
    let serial = subject
        .serial_number
        .clone()
        .filter(|s| !s.is_empty())
        .map(|s| vec![s]);
    push_all(oids::AT_SERIAL_NUMBER, serial.as_ref());
    let cn = spec
        .common_name
        .clone()
        .filter(|s| !s.is_empty())
        .map(|s| vec![s]);
    push_all(oids::AT_COMMON_NAME, cn.as_ref());
    let refs: Vec<&[u8]> = rdns.iter().map(Vec::as_slice).collect();
    Ok(der::seq(&refs))
}

/// The DER Name of a literal subject, its RDNs as [`crate::pki::subject`] reads
/// them: text values of `E`/`DC` as IA5String (ASCII only), other text as Go's
/// `asn1` writes a string (PrintableString when it can, else UTF8String), `#` hex
/// values as the BER element given.
pub(crate) fn literal_subject_der(literal: &str) -> Result<Vec<u8>, KeyError> {
    let rdns = crate::pki::subject::parse_literal_subject(literal)
        .map_err(|e| KeyError::LiteralSubject(e.to_string()))?;
    let mut out: Vec<Vec<u8>> = Vec::new();
    for rdn in rdns {
        let mut attrs: Vec<Vec<u8>> = Vec::new();
        for a in rdn {
            let value = match a.value {
                LiteralValue::Ber(bytes) => bytes,
                LiteralValue::Text(text)
                    if a.oid == oids::AT_EMAIL_ADDRESS || a.oid == oids::AT_DOMAIN_COMPONENT =>
                {
                    if !text.is_ascii() {
                        return Err(KeyError::LiteralSubject(
                            "email and DC values must be ASCII".into(),
                        ));
                    }
                    der::tlv(0x16, text.as_bytes())
                }
                LiteralValue::Text(text) => directory_string(&text),
            };
            attrs.push(attribute(&der::oid_content(&a.oid), &value));
        }
        attrs.sort();
        let refs: Vec<&[u8]> = attrs.iter().map(Vec::as_slice).collect();
        out.push(der::set(&refs));
    }
    let refs: Vec<&[u8]> = out.iter().map(Vec::as_slice).collect();
    Ok(der::seq(&refs))
}

fn ia5(field: &str, value: &str) -> Result<(), KeyError> {
    if value.is_ascii() {
        Ok(())
    } else {
        Err(KeyError::InvalidField {
            field: field.to_string(),
            reason: format!("{value:?} is not ASCII"),
        })
    }
}

fn ip_bytes(field: &str, value: &str) -> Result<Vec<u8>, KeyError> {
    let ip: IpAddr = value.parse().map_err(|_| KeyError::InvalidField {
        field: field.to_string(),
        reason: format!("{value:?} is not an IP address"),
    })?;
    Ok(match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.octets().to_vec(),
            None => v6.octets().to_vec(),
        },
    })
}

/// The GeneralNames of the SAN extension, in Go's order (DNS, email, IP,
/// URI), then otherNames (UTF8String values, as cert-manager encodes them).
fn build_general_names(spec: &CertificateSpec) -> Result<Vec<Vec<u8>>, KeyError> {
    let mut names = Vec::new();
    for dns in spec.dns_names.iter().flatten() {
        ia5("dnsNames", dns)?;
        names.push(der::tlv(0x82, dns.as_bytes()));
    }
    for email in spec.email_addresses.iter().flatten() {
        ia5("emailAddresses", email)?;
        names.push(der::tlv(0x81, email.as_bytes()));
    }
    for ip in spec.ip_addresses.iter().flatten() {
        names.push(der::tlv(0x87, &ip_bytes("ipAddresses", ip)?));
    }
    for uri in spec.uris.iter().flatten() {
        ia5("uris", uri)?;
        if !uri.contains(':') {
            return Err(KeyError::InvalidField {
                field: "uris".into(),
                reason: format!("{uri:?} is not an absolute URI"),
            });
        }
        names.push(der::tlv(0x86, uri.as_bytes()));
    }
    for other in spec.other_names.iter().flatten() {
        let oid = other.oid.as_deref().unwrap_or_default();
        let parts: Option<Vec<u64>> = oid.split('.').map(|p| p.parse().ok()).collect();
        let parts = match parts {
            Some(p) if p.len() >= 2 => p,
            _ => {
                return Err(KeyError::InvalidField {
                    field: "otherNames.oid".into(),
                    reason: format!("{oid:?} is not a dotted object identifier"),
                });
            }
        };
        let value = other.utf8_value.as_deref().unwrap_or_default();
        let explicit = der::tlv(0xa0, &der::tlv(0x0c, value.as_bytes()));
        let mut content = der::oid(&parts);
        content.extend_from_slice(&explicit);
        names.push(der::tlv(0xa0, &content));
    }
    Ok(names)
}

/// The value of a NameConstraints extension, as Go writes it; `None` when
/// nothing is constrained.
pub(crate) fn name_constraints_value(nc: &NameConstraints) -> Result<Option<Vec<u8>>, KeyError> {
    fn subtrees(item: &NameConstraintItem) -> Result<Vec<Vec<u8>>, KeyError> {
        let mut out = Vec::new();
        for dns in item.dns_domains.iter().flatten() {
            ia5("nameConstraints.dnsDomains", dns)?;
            out.push(der::seq(&[&der::tlv(0x82, dns.as_bytes())]));
        }
        for cidr in item.ip_ranges.iter().flatten() {
            let bad = || KeyError::InvalidField {
                field: "nameConstraints.ipRanges".into(),
                reason: format!("{cidr:?} is not a CIDR"),
            };
            let (ip, prefix) = cidr.split_once('/').ok_or_else(bad)?;
            let ip: IpAddr = ip.parse().map_err(|_| bad())?;
            let prefix: u32 = prefix.parse().map_err(|_| bad())?;
            let (addr, len): (Vec<u8>, u32) = match ip {
                IpAddr::V4(v4) => (v4.octets().to_vec(), 32),
                IpAddr::V6(v6) => (v6.octets().to_vec(), 128),
            };
            if prefix > len {
                return Err(bad());
            }
            let mask: Vec<u8> = (0..addr.len() as u32)
                .map(|i| {
                    let bits = prefix.saturating_sub(i * 8).min(8);
                    if bits == 0 { 0 } else { 0xffu8 << (8 - bits) }
                })
                .collect();
            let mut content: Vec<u8> = addr.iter().zip(&mask).map(|(a, m)| a & m).collect();
            content.extend_from_slice(&mask);
            out.push(der::seq(&[&der::tlv(0x87, &content)]));
        }
        for email in item.email_addresses.iter().flatten() {
            ia5("nameConstraints.emailAddresses", email)?;
            out.push(der::seq(&[&der::tlv(0x81, email.as_bytes())]));
        }
        for uri in item.uri_domains.iter().flatten() {
            ia5("nameConstraints.uriDomains", uri)?;
            out.push(der::seq(&[&der::tlv(0x86, uri.as_bytes())]));
        }
        Ok(out)
    }
    let mut parts = Vec::new();
    if let Some(permitted) = &nc.permitted {
        let trees = subtrees(permitted)?;
        if !trees.is_empty() {
            let refs: Vec<&[u8]> = trees.iter().map(Vec::as_slice).collect();
            parts.push(der::tlv(0xa0, &refs.concat()));
        }
    }
    if let Some(excluded) = &nc.excluded {
        let trees = subtrees(excluded)?;
        if !trees.is_empty() {
            let refs: Vec<&[u8]> = trees.iter().map(Vec::as_slice).collect();
            parts.push(der::tlv(0xa1, &refs.concat()));
        }
    }
    if parts.is_empty() {
        return Ok(None);
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    Ok(Some(der::seq(&refs)))
}
