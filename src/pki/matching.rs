//! Whether what was issued still matches what is asked for, as cert-manager's
//! `pkg/util/pki/match.go`: `PrivateKeyMatchesSpec`, `RequestMatchesSpec`,
//! `FuzzyX509AltNamesMatchSpec`, with the literal-subject parser they need. Pure;
//! returns the names of the fields that differ.

use std::collections::BTreeSet;
use std::net::IpAddr;

use base64::Engine as _;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate, X509CertificationRequest, X509Name};

use crate::api::certificate::{CertificateSpec, KeyUsage, OtherName, PrivateKeyAlgorithm};
use crate::api::certificate_request::CertificateRequest;
use crate::gocompat::parse_go_duration_nanos;
use crate::pki::parse::*;

// ---------------------------------------------------------------------------
// Matching (pkg/util/pki/match.go)
// ---------------------------------------------------------------------------

pub(crate) fn issuer_kinds_equal(l: &str, r: &str) -> bool {
    let d = |s: &str| if s.is_empty() { "Issuer" } else { s }.to_string();
    d(l) == d(r)
}

pub(crate) fn issuer_groups_equal(l: &str, r: &str) -> bool {
    let d = |s: &str| if s.is_empty() { crate::api::GROUP } else { s }.to_string();
    d(l) == d(r)
}

pub(crate) fn format_issuer_ref(name: &str, kind: &str, group: &str) -> String {
    let group = if group.is_empty() {
        crate::api::GROUP
    } else {
        group
    };
    let kind = if kind.is_empty() { "Issuer" } else { kind };
    format!("{kind}.{group}/{name}")
}

/// cert-manager's `PrivateKeyMatchesSpec`: `spec.privateKey.algorithm` and
/// `spec.privateKey.size` against the key in the Secret.
pub fn private_key_matches_spec(pk: &PrivateKeyInfo, spec: &CertificateSpec) -> Vec<&'static str> {
    let pks = spec.private_key.as_ref();
    let algorithm = pks
        .and_then(|p| p.algorithm)
        .unwrap_or(PrivateKeyAlgorithm::Rsa);
    let size = pks.and_then(|p| p.size).filter(|s| *s > 0);
    match (algorithm, &pk.algorithm) {
        (PrivateKeyAlgorithm::Rsa, KeyType::Rsa { bits }) => {
            let want = size.unwrap_or(crate::api::certificate::key_sizes::RSA_DEFAULT as i32);
            if i64::from(want) == i64::try_from(*bits).unwrap_or(-1) {
                vec![]
            } else {
                vec!["spec.privateKey.size"]
            }
        }
        (PrivateKeyAlgorithm::Ecdsa, KeyType::Ecdsa { curve }) => {
            let want = size.unwrap_or(crate::api::certificate::key_sizes::ECDSA_DEFAULT as i32);
            if want == curve.bit_size() {
                vec![]
            } else {
                vec!["spec.privateKey.size"]
            }
        }
        (PrivateKeyAlgorithm::Ed25519, KeyType::Ed25519) => vec![],
        _ => vec!["spec.privateKey.algorithm"],
    }
}

pub(crate) fn sorted<T: Ord + Clone>(v: &[T]) -> Vec<T> {
    let mut v = v.to_vec();
    v.sort();
    v
}

pub(crate) fn equal_unsorted(a: &[String], b: &[String]) -> bool {
    sorted(a) == sorted(b)
}

pub(crate) fn canonical_ip_string(s: &str) -> String {
    match s.parse::<IpAddr>() {
        Ok(ip) => ip.to_canonical().to_string(),
        Err(_) => format!("<nil>{s}"),
    }
}

pub(crate) fn ip_bytes_to_string(b: &[u8]) -> String {
    match b.len() {
        4 => {
            let a: [u8; 4] = [b[0], b[1], b[2], b[3]];
            IpAddr::from(a).to_string()
        }
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            IpAddr::from(a).to_canonical().to_string()
        }
        // Go prints invalid lengths as "?" followed by hex.
        _ => format!(
            "?{}",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        ),
    }
}

pub(crate) fn ips_match(parsed: &[String], spec: &[String]) -> bool {
    let spec: Vec<String> = spec.iter().map(|s| canonical_ip_string(s)).collect();
    equal_unsorted(parsed, &spec)
}

/// Subject alternative names of a certificate or request.
#[derive(Debug, Default)]
pub(crate) struct Sans {
    pub(crate) dns: Vec<String>,
    pub(crate) ips: Vec<String>,
    pub(crate) uris: Vec<String>,
    pub(crate) emails: Vec<String>,
    pub(crate) other_names: Vec<(String, Result<String, ()>)>,
}

pub(crate) fn collect_sans<'b>(names: impl Iterator<Item = &'b GeneralName<'b>>) -> Sans {
    let mut s = Sans::default();
    for n in names {
        match n {
            GeneralName::DNSName(d) => s.dns.push((*d).to_string()),
            GeneralName::RFC822Name(e) => s.emails.push((*e).to_string()),
            GeneralName::URI(u) => s.uris.push((*u).to_string()),
            GeneralName::IPAddress(b) => s.ips.push(ip_bytes_to_string(b)),
            GeneralName::OtherName(oid, rest) => {
                s.other_names
                    .push((oid.to_id_string(), other_name_utf8(rest)));
            }
            _ => {}
        }
    }
    s
}

/// The value of an otherName: `[0] EXPLICIT UTF8String`.
pub(crate) fn other_name_utf8(rest: &[u8]) -> Result<String, ()> {
    let (tag, content, _) = der_tlv(rest).ok_or(())?;
    let inner = if tag == 0xa0 {
        let (t, c, _) = der_tlv(content).ok_or(())?;
        if t != 0x0c {
            return Err(());
        }
        c
    } else if tag == 0x0c {
        content
    } else {
        return Err(());
    };
    String::from_utf8(inner.to_vec()).map_err(|_| ())
}

pub(crate) fn cert_sans(cert: &X509Certificate<'_>) -> Sans {
    match cert.subject_alternative_name() {
        Ok(Some(ext)) => collect_sans(ext.value.general_names.iter()),
        _ => Sans::default(),
    }
}

pub(crate) fn csr_sans(csr: &X509CertificationRequest<'_>) -> Sans {
    let mut names = Vec::new();
    if let Some(exts) = csr.requested_extensions() {
        for e in exts {
            if let ParsedExtension::SubjectAlternativeName(san) = e {
                names.extend(san.general_names.iter());
            }
        }
    }
    collect_sans(names.into_iter())
}

/// Go's `pkix.Name` view of a subject.
#[derive(Debug, Default)]
pub(crate) struct Subject {
    pub(crate) common_name: String,
    pub(crate) serial_number: String,
    pub(crate) organization: Vec<String>,
    pub(crate) organizational_unit: Vec<String>,
    pub(crate) country: Vec<String>,
    pub(crate) province: Vec<String>,
    pub(crate) locality: Vec<String>,
    pub(crate) street_address: Vec<String>,
    pub(crate) postal_code: Vec<String>,
}

pub(crate) fn subject_of(name: &X509Name<'_>) -> Subject {
    let mut s = Subject::default();
    for attr in name.iter_attributes() {
        let Ok(v) = attr.as_str() else { continue };
        let v = v.to_string();
        match attr.attr_type().to_id_string().as_str() {
            "2.5.4.3" => s.common_name = v,
            "2.5.4.5" => s.serial_number = v,
            "2.5.4.10" => s.organization.push(v),
            "2.5.4.11" => s.organizational_unit.push(v),
            "2.5.4.6" => s.country.push(v),
            "2.5.4.8" => s.province.push(v),
            "2.5.4.7" => s.locality.push(v),
            "2.5.4.9" => s.street_address.push(v),
            "2.5.4.17" => s.postal_code.push(v),
            _ => {}
        }
    }
    s
}

pub(crate) fn opt_vec(v: &Option<Vec<String>>) -> &[String] {
    v.as_deref().unwrap_or(&[])
}

/// The DER of the PEM CSR in a CertificateRequest (`spec.request` is base64 of
/// PEM in JSON; a raw PEM string is accepted too).
pub(crate) fn request_der(req: &CertificateRequest) -> Result<Vec<u8>, CertError> {
    let raw = req.spec.request.trim();
    let pem_bytes = if raw.starts_with("-----BEGIN") {
        raw.as_bytes().to_vec()
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map_err(|_| CertError::NoRequestPem)?
    };
    pem_blocks(&pem_bytes)
        .into_iter()
        .next()
        .map(|(_, der)| der)
        .ok_or(CertError::NoRequestPem)
}

/// cert-manager's `RequestMatchesSpec`: the fields of `spec` that differ from
/// the CertificateRequest (its CSR and its spec). `Err` when the CSR cannot be
/// decoded or the literal subject cannot be parsed.
pub fn request_matches_spec(
    req: &CertificateRequest,
    spec: &CertificateSpec,
) -> Result<Vec<&'static str>, CertError> {
    let der = request_der(req)?;
    let (_, csr) =
        X509CertificationRequest::from_der(&der).map_err(|e| CertError::Request(e.to_string()))?;
    let info = &csr.certification_request_info;
    let sans = csr_sans(&csr);
    let mut v = Vec::new();

    if !ips_match(&sans.ips, opt_vec(&spec.ip_addresses)) {
        v.push("spec.ipAddresses");
    }
    if !equal_unsorted(&sans.uris, opt_vec(&spec.uris)) {
        v.push("spec.uris");
    }
    if !equal_unsorted(&sans.emails, opt_vec(&spec.email_addresses)) {
        v.push("spec.emailAddresses");
    }
    if !equal_unsorted(&sans.dns, opt_vec(&spec.dns_names)) {
        v.push("spec.dnsNames");
    }
    if let Some(want) = &spec.other_names {
        let mut got = Vec::new();
        for (oid, val) in &sans.other_names {
            // cert-manager errors on a non-UTF8String otherName.
            let val = val.clone().map_err(|()| {
                CertError::Request(format!("otherName {oid} is not an utf8 value"))
            })?;
            got.push((oid.clone(), val));
        }
        let want: Vec<(String, String)> = want
            .iter()
            .map(|OtherName { oid, utf8_value }| {
                (
                    oid.clone().unwrap_or_default(),
                    utf8_value.clone().unwrap_or_default(),
                )
            })
            .collect();
        if sorted(&got) != sorted(&want) {
            v.push("spec.otherNames");
        }
    }

    match spec.literal_subject.as_deref().filter(|s| !s.is_empty()) {
        None => {
            let got = subject_of(&info.subject);
            let want = spec.subject.clone().unwrap_or_default();
            if got.common_name != spec.common_name.clone().unwrap_or_default() {
                v.push("spec.commonName");
            }
            if got.serial_number != want.serial_number.clone().unwrap_or_default() {
                v.push("spec.subject.serialNumber");
            }
            if !equal_unsorted(&got.organization, opt_vec(&want.organizations)) {
                v.push("spec.subject.organizations");
            }
            if !equal_unsorted(&got.country, opt_vec(&want.countries)) {
                v.push("spec.subject.countries");
            }
            if !equal_unsorted(&got.locality, opt_vec(&want.localities)) {
                v.push("spec.subject.localities");
            }
            if !equal_unsorted(
                &got.organizational_unit,
                opt_vec(&want.organizational_units),
            ) {
                v.push("spec.subject.organizationalUnits");
            }
            // cert-manager reports both postal codes and provinces as
            // "spec.subject.postCodes" (sic).
            if !equal_unsorted(&got.postal_code, opt_vec(&want.postal_codes)) {
                v.push("spec.subject.postCodes");
            }
            if !equal_unsorted(&got.province, opt_vec(&want.provinces)) {
                v.push("spec.subject.postCodes");
            }
            if !equal_unsorted(&got.street_address, opt_vec(&want.street_addresses)) {
                v.push("spec.subject.streetAddresses");
            }
        }
        Some(literal) => {
            let want = parse_literal_subject(literal)?;
            let got: Vec<Vec<(String, String)>> = info
                .subject
                .iter_rdn()
                .map(|rdn| {
                    let mut set: Vec<(String, String)> = rdn
                        .iter()
                        .map(|a| {
                            (
                                a.attr_type().to_id_string(),
                                a.as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|_| format!("#{}", hex(a.attr_value().data))),
                            )
                        })
                        .collect();
                    set.sort();
                    set
                })
                .collect();
            if got != want {
                v.push("spec.literalSubject");
            }
        }
    }

    if req.spec.is_ca.unwrap_or(false) != spec.is_ca.unwrap_or(false) {
        v.push("spec.isCA");
    }
    let usages = |u: &Option<Vec<KeyUsage>>| sorted(u.as_deref().unwrap_or(&[]));
    if usages(&req.spec.usages) != usages(&spec.usages) {
        v.push("spec.usages");
    }
    if let (Some(a), Some(b)) = (&req.spec.duration, &spec.duration)
        && parse_go_duration_nanos(a).ok() != parse_go_duration_nanos(b).ok()
    {
        v.push("spec.duration");
    }
    let (rr, sr) = (&req.spec.issuer_ref, &spec.issuer_ref);
    if rr.name != sr.name
        || !issuer_kinds_equal(
            rr.kind.as_deref().unwrap_or(""),
            sr.kind.as_deref().unwrap_or(""),
        )
        || !issuer_groups_equal(
            rr.group.as_deref().unwrap_or(""),
            sr.group.as_deref().unwrap_or(""),
        )
    {
        v.push("spec.issuerRef");
    }
    Ok(v)
}

/// cert-manager's (deprecated) `FuzzyX509AltNamesMatchSpec`, used when the
/// current CertificateRequest is gone: names may move between the common name
/// and the DNS names.
pub(crate) fn fuzzy_x509_alt_names_match_spec(
    cert: &X509Certificate<'_>,
    spec: &CertificateSpec,
) -> Vec<&'static str> {
    let mut v = Vec::new();
    let sans = cert_sans(cert);
    let cert_cn = subject_of(cert.subject()).common_name;
    let spec_cn = spec.common_name.clone().unwrap_or_default();
    let spec_dns = opt_vec(&spec.dns_names);

    let mut expected: BTreeSet<&str> = spec_dns.iter().map(String::as_str).collect();
    if !spec_cn.is_empty() {
        expected.insert(&spec_cn);
    }
    let mut all: BTreeSet<&str> = sans.dns.iter().map(String::as_str).collect();
    if !cert_cn.is_empty() {
        all.insert(&cert_cn);
    }
    if all != expected {
        if (!spec_cn.is_empty() && !all.contains(spec_cn.as_str()))
            || (!cert_cn.is_empty() && !expected.contains(cert_cn.as_str()))
        {
            v.push("spec.commonName");
        }
        if !spec_dns.iter().all(|d| all.contains(d.as_str()))
            || !sans.dns.iter().all(|d| expected.contains(d.as_str()))
        {
            v.push("spec.dnsNames");
        }
    }
    if !ips_match(&sans.ips, opt_vec(&spec.ip_addresses)) {
        v.push("spec.ipAddresses");
    }
    if !equal_unsorted(&sans.uris, opt_vec(&spec.uris)) {
        v.push("spec.uris");
    }
    if !equal_unsorted(&sans.emails, opt_vec(&spec.email_addresses)) {
        v.push("spec.emailAddresses");
    }
    v
}

/// A literal subject's RDNs in DER order as `(dotted OID, value)` sets, sorted, to
/// compare with a certificate's subject (a `#` hex value as its string when it is a
/// string type, else `#` and the hex of its content).
pub(crate) fn parse_literal_subject(s: &str) -> Result<Vec<Vec<(String, String)>>, CertError> {
    use crate::pki::subject::{self, LiteralValue};
    let rdns =
        subject::parse_literal_subject(s).map_err(|e| CertError::LiteralSubject(e.to_string()))?;
    Ok(rdns
        .into_iter()
        .map(|rdn| {
            let mut set: Vec<(String, String)> = rdn
                .into_iter()
                .map(|a| {
                    let value = match a.value {
                        LiteralValue::Text(t) => t,
                        LiteralValue::Ber(bytes) => match crate::pki::der::read(&bytes) {
                            Some((tlv, _)) if matches!(tlv.tag, 0x0c | 0x13 | 0x14 | 0x16) => {
                                String::from_utf8_lossy(tlv.content).into_owned()
                            }
                            Some((tlv, _)) => format!("#{}", hex(tlv.content)),
                            None => format!("#{}", hex(&bytes)),
                        },
                    };
                    (subject::dotted(&a.oid), value)
                })
                .collect();
            set.sort();
            set
        })
        .collect())
}
