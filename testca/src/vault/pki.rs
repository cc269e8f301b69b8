//! The PKI secrets engine's signing endpoints (`<mount>/sign/<role>`,
//! `<mount>/sign-verbatim[/<role>]`): the CSR checked, the names judged by the role as
//! Vault's `generateCreationBundle` and `validateNames` do, the TTL capped by the
//! role, and the leaf signed by the mount's intermediate.

use std::net::IpAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::server::{
    after, body_object, bool_field, duration_field, envelope, go_duration, json_response,
    list_field, string_field,
};
use super::{
    App, Inner, IssuedCertificate, RoleConfig, SYSTEM_MAX_TTL, VaultError, bad_request,
    pem_certificates, pem_trimmed,
};

/// How far back `notBefore` goes (Vault's `not_before_duration` default).
const NOT_BEFORE_BACKDATE: i64 = 30;

/// The parameters the signing endpoints know; others are ignored with a warning.
const KNOWN_PARAMETERS: [&str; 21] = [
    "csr",
    "common_name",
    "alt_names",
    "ip_sans",
    "uri_sans",
    "other_sans",
    "ttl",
    "format",
    "private_key_format",
    "exclude_cn_from_sans",
    "remove_roots_from_chain",
    "user_ids",
    "serial_number",
    "signature_bits",
    "use_pss",
    "issuer_ref",
    "cert_metadata",
    "key_usage",
    "ext_key_usage",
    "ext_key_usage_oids",
    "role",
];

/// Routes a path inside a namespace to a PKI mount's signing endpoint.
pub(super) fn handle(
    app: &App,
    ns: &str,
    rest: &str,
    method: &Method,
    body: &Bytes,
) -> Result<Response, VaultError> {
    let mut st = app.lock();
    let mount = st.namespaces.get(ns).and_then(|space| {
        space
            .pki
            .keys()
            .filter(|m| rest == m.as_str() || rest.starts_with(&format!("{m}/")))
            .max_by_key(|m| m.len())
            .cloned()
    });
    let no_route = || VaultError::NoRoute(rest.to_string());
    let Some(mount) = mount else {
        st.count("other");
        return Err(no_route());
    };
    let endpoint = rest
        .get(mount.len()..)
        .unwrap_or_default()
        .trim_start_matches('/');
    let single = |r: &str| !r.is_empty() && !r.contains('/');
    let (verbatim, role) = match endpoint.split_once('/') {
        Some(("sign", role)) if single(role) => (false, Some(role.to_string())),
        Some(("sign-verbatim", role)) if single(role) => (true, Some(role.to_string())),
        None if endpoint == "sign-verbatim" => (true, None),
        _ => {
            st.count("other");
            return Err(no_route());
        }
    };
    st.count(if verbatim { "sign-verbatim" } else { "sign" });
    if *method != Method::POST && *method != Method::PUT {
        return Err(VaultError::UnsupportedOperation);
    }
    st.sign_requests += 1;
    let parsed = body_object(body);
    st.last_sign_request = Some(match &parsed {
        Ok(map) => Value::Object(map.clone()),
        Err(_) => Value::String(String::from_utf8_lossy(body).into_owned()),
    });
    let request = SignRequest {
        ns,
        mount: &mount,
        role: role.as_deref(),
        verbatim,
        body: &parsed?,
    };
    let (response, issued) = sign(&st, &request)?;
    st.issued.push(issued);
    Ok(json_response(StatusCode::OK, &response))
}

struct SignRequest<'a> {
    ns: &'a str,
    mount: &'a str,
    role: Option<&'a str>,
    verbatim: bool,
    body: &'a Map<String, Value>,
}

/// The names a certificate gets.
#[derive(Default)]
struct Names {
    subject: rcgen::DistinguishedName,
    dns: Vec<String>,
    emails: Vec<String>,
    ips: Vec<IpAddr>,
    uris: Vec<String>,
}

fn sign(st: &Inner, req: &SignRequest<'_>) -> Result<(Value, IssuedCertificate), VaultError> {
    let mount = st
        .namespaces
        .get(req.ns)
        .and_then(|s| s.pki.get(req.mount))
        .ok_or_else(|| VaultError::NoRoute(req.mount.to_string()))?;
    let role = match req.role {
        Some(name) => Some(
            mount
                .roles
                .get(name)
                .ok_or_else(|| bad_request(format!("unknown role: {name}")))?,
        ),
        None => None,
    };
    let body = req.body;
    let format = string_field(body, "format")?.unwrap_or_default();
    let format = if format.is_empty() { "pem" } else { &format };
    if !matches!(format, "pem" | "der" | "pem_bundle") {
        return Err(bad_request(
            r#"the "format" path parameter must be "pem", "der", or "pem_bundle""#,
        ));
    }
    let csr = parse_csr(&string_field(body, "csr")?.unwrap_or_default())?;
    let names = match (req.verbatim, role) {
        (false, Some(role)) => role_names(role, body, &csr)?,
        _ => Names {
            subject: csr.subject.clone(),
            dns: csr.dns.clone(),
            emails: csr.emails.clone(),
            ips: csr.ips.clone(),
            uris: csr.uris.clone(),
        },
    };

    let mut warnings = Vec::new();
    let mut unknown: Vec<&str> = body
        .keys()
        .map(String::as_str)
        .filter(|k| !KNOWN_PARAMETERS.contains(k))
        .collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        warnings.push(format!(
            "Endpoint ignored these unrecognized parameters: [{}]",
            unknown.join(" ")
        ));
    }
    let ttl = capped_ttl(
        role,
        duration_field(body, "ttl")?.unwrap_or_default(),
        &mut warnings,
    );

    // The leaf.
    let now = Timestamp::now();
    let not_before = Timestamp::from_second(now.as_second() - NOT_BEFORE_BACKDATE)
        .map_err(|e| VaultError::Internal(e.to_string()))?;
    let not_after = Timestamp::from_second(after(now, ttl).as_second())
        .map_err(|e| VaultError::Internal(e.to_string()))?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = names.subject;
    for dns in &names.dns {
        params.subject_alt_names.push(rcgen::SanType::DnsName(
            dns.as_str()
                .try_into()
                .map_err(|e| bad_request(format!("{dns}: {e}")))?,
        ));
    }
    for email in &names.emails {
        params.subject_alt_names.push(rcgen::SanType::Rfc822Name(
            email
                .as_str()
                .try_into()
                .map_err(|e| bad_request(format!("{email}: {e}")))?,
        ));
    }
    params
        .subject_alt_names
        .extend(names.ips.iter().map(|ip| rcgen::SanType::IpAddress(*ip)));
    for uri in &names.uris {
        params.subject_alt_names.push(rcgen::SanType::URI(
            uri.as_str()
                .try_into()
                .map_err(|e| bad_request(format!("{uri}: {e}")))?,
        ));
    }
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    let since_epoch = |t: Timestamp| Duration::from_secs(t.as_second().unsigned_abs());
    params.not_before = epoch + since_epoch(not_before);
    params.not_after = epoch + since_epoch(not_after);
    let serial = random_serial();
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    let default_key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyAgreement,
        rcgen::KeyUsagePurpose::KeyEncipherment,
    ];
    if req.verbatim {
        params.key_usages = csr.key_usages.clone().unwrap_or(default_key_usages);
        params.extended_key_usages = csr.extended_key_usages.clone().unwrap_or_default();
    } else {
        params.key_usages = default_key_usages;
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
    }
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    params.use_authority_key_identifier_extension = true;
    let leaf = params
        .signed_by(&csr.public_key, &mount.issuer)
        .map_err(|e| VaultError::Internal(format!("error signing the certificate: {e}")))?;

    // The answer.
    let leaf_pem = pem_trimmed(leaf.der());
    let mut chain = vec![mount.chain.intermediate_pem.clone()];
    if !bool_field(body, "remove_roots_from_chain")? {
        chain.push(mount.chain.root_pem.clone());
    }
    let der_b64 = |pem: &str| {
        pem_certificates(pem)
            .first()
            .map(|d| STANDARD.encode(d))
            .unwrap_or_default()
    };
    let issuing_ca = mount.chain.intermediate_pem.clone();
    let (certificate, issuing_ca, ca_chain) = match format {
        "der" => (
            STANDARD.encode(leaf.der()),
            der_b64(&issuing_ca),
            chain.iter().map(|p| der_b64(p)).collect(),
        ),
        "pem_bundle" => (format!("{leaf_pem}\n{issuing_ca}"), issuing_ca, chain),
        _ => (leaf_pem.clone(), issuing_ca, chain),
    };
    let serial_number = serial
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    let data = json!({
        "certificate": certificate,
        "issuing_ca": issuing_ca,
        "ca_chain": ca_chain,
        "serial_number": serial_number,
        "expiration": not_after.as_second(),
    });
    let issued = IssuedCertificate {
        namespace: req.ns.to_string(),
        mount: req.mount.to_string(),
        role: req.role.map(str::to_string),
        serial_number,
        certificate_pem: leaf_pem,
        not_after,
    };
    Ok((envelope(Some(data), None, &warnings, "pki"), issued))
}

/// The TTL: the requested one, else the role's, else the system's; capped (with
/// Vault's warning) by the role's `max_ttl`, else the system's.
fn capped_ttl(
    role: Option<&RoleConfig>,
    requested: Duration,
    warnings: &mut Vec<String>,
) -> Duration {
    let (role_ttl, role_max) =
        role.map_or((Duration::ZERO, Duration::ZERO), |r| (r.ttl, r.max_ttl));
    let mut ttl = if requested.is_zero() {
        role_ttl
    } else {
        requested
    };
    if ttl.is_zero() {
        ttl = SYSTEM_MAX_TTL;
    }
    let max = if role_max.is_zero() {
        SYSTEM_MAX_TTL
    } else {
        role_max
    };
    if ttl > max {
        warnings.push(format!(
            "TTL {:?} is longer than permitted maxTTL {:?}, so using maxTTL",
            go_duration(ttl),
            go_duration(max)
        ));
        ttl = max;
    }
    ttl
}

/// 20 random bytes, positive and without a leading zero byte.
fn random_serial() -> Vec<u8> {
    let mut serial: Vec<u8> = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()]
        .iter()
        .flat_map(|u| u.as_bytes().to_vec())
        .take(20)
        .collect();
    if let Some(first) = serial.first_mut() {
        *first &= 0x7f;
        if *first == 0 {
            *first = 1;
        }
    }
    serial
}

// ---------------------------------------------------------------------------------
// The CSR

struct Csr {
    common_name: Option<String>,
    subject: rcgen::DistinguishedName,
    dns: Vec<String>,
    emails: Vec<String>,
    ips: Vec<IpAddr>,
    uris: Vec<String>,
    key_usages: Option<Vec<rcgen::KeyUsagePurpose>>,
    extended_key_usages: Option<Vec<rcgen::ExtendedKeyUsagePurpose>>,
    public_key: rcgen::SubjectPublicKeyInfo,
}

fn parse_csr(pem: &str) -> Result<Csr, VaultError> {
    use x509_parser::extensions::{GeneralName, ParsedExtension};
    use x509_parser::prelude::FromDer as _;

    if pem.is_empty() {
        return Err(bad_request("\"csr\" is empty"));
    }
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.trim_start().as_bytes())
        .map_err(|_| bad_request("csr contains no data"))?;
    let (_, csr) =
        x509_parser::certification_request::X509CertificationRequest::from_der(&block.contents)
            .map_err(|e| bad_request(format!("certificate request could not be parsed: {e}")))?;
    csr.verify_signature()
        .map_err(|_| bad_request("request signature invalid"))?;
    let info = &csr.certification_request_info;
    let public_key = rcgen::SubjectPublicKeyInfo::from_der(info.subject_pki.raw).map_err(|e| {
        bad_request(format!(
            "certificate request could not be parsed: unsupported public key: {e}"
        ))
    })?;

    let mut parsed = Csr {
        common_name: info
            .subject
            .iter_common_name()
            .find_map(|c| c.as_str().ok())
            .map(str::to_string),
        subject: subject_of(&info.subject),
        dns: Vec::new(),
        emails: Vec::new(),
        ips: Vec::new(),
        uris: Vec::new(),
        key_usages: None,
        extended_key_usages: None,
        public_key,
    };
    for extension in csr.requested_extensions().into_iter().flatten() {
        match extension {
            ParsedExtension::SubjectAlternativeName(san) => {
                for name in &san.general_names {
                    match name {
                        GeneralName::DNSName(d) => parsed.dns.push(d.to_string()),
                        GeneralName::RFC822Name(e) => parsed.emails.push(e.to_string()),
                        GeneralName::URI(u) => parsed.uris.push(u.to_string()),
                        GeneralName::IPAddress(bytes) => {
                            let ip = match bytes.len() {
                                4 => <[u8; 4]>::try_from(*bytes).ok().map(IpAddr::from),
                                16 => <[u8; 16]>::try_from(*bytes).ok().map(IpAddr::from),
                                _ => None,
                            }
                            .ok_or_else(|| {
                                bad_request(
                                    "certificate request could not be parsed: bad IP address",
                                )
                            })?;
                            parsed.ips.push(ip);
                        }
                        _ => {}
                    }
                }
            }
            ParsedExtension::KeyUsage(ku) => {
                use rcgen::KeyUsagePurpose as K;
                let flags = [
                    (ku.digital_signature(), K::DigitalSignature),
                    (ku.non_repudiation(), K::ContentCommitment),
                    (ku.key_encipherment(), K::KeyEncipherment),
                    (ku.data_encipherment(), K::DataEncipherment),
                    (ku.key_agreement(), K::KeyAgreement),
                    (ku.key_cert_sign(), K::KeyCertSign),
                    (ku.crl_sign(), K::CrlSign),
                    (ku.encipher_only(), K::EncipherOnly),
                    (ku.decipher_only(), K::DecipherOnly),
                ];
                parsed.key_usages = Some(
                    flags
                        .into_iter()
                        .filter(|(on, _)| *on)
                        .map(|(_, k)| k)
                        .collect(),
                );
            }
            ParsedExtension::ExtendedKeyUsage(eku) => {
                use rcgen::ExtendedKeyUsagePurpose as E;
                let flags = [
                    (eku.any, E::Any),
                    (eku.server_auth, E::ServerAuth),
                    (eku.client_auth, E::ClientAuth),
                    (eku.code_signing, E::CodeSigning),
                    (eku.email_protection, E::EmailProtection),
                    (eku.time_stamping, E::TimeStamping),
                    (eku.ocsp_signing, E::OcspSigning),
                ];
                let mut usages: Vec<E> = flags
                    .into_iter()
                    .filter(|(on, _)| *on)
                    .map(|(_, e)| e)
                    .collect();
                usages.extend(
                    eku.other
                        .iter()
                        .filter_map(|oid| oid.iter())
                        .map(|arcs| E::Other(arcs.collect())),
                );
                parsed.extended_key_usages = Some(usages);
            }
            _ => {}
        }
    }
    Ok(parsed)
}

/// The subject of a CSR as rcgen writes one (string attributes only).
fn subject_of(name: &x509_parser::x509::X509Name<'_>) -> rcgen::DistinguishedName {
    use x509_parser::oid_registry as oids;
    let mut dn = rcgen::DistinguishedName::new();
    for attribute in name.iter_attributes() {
        let Ok(value) = attribute.as_str() else {
            continue;
        };
        let oid = attribute.attr_type();
        let kind = if *oid == oids::OID_X509_COMMON_NAME {
            rcgen::DnType::CommonName
        } else if *oid == oids::OID_X509_ORGANIZATION_NAME {
            rcgen::DnType::OrganizationName
        } else if *oid == oids::OID_X509_ORGANIZATIONAL_UNIT {
            rcgen::DnType::OrganizationalUnitName
        } else if *oid == oids::OID_X509_COUNTRY_NAME {
            rcgen::DnType::CountryName
        } else if *oid == oids::OID_X509_STATE_OR_PROVINCE_NAME {
            rcgen::DnType::StateOrProvinceName
        } else if *oid == oids::OID_X509_LOCALITY_NAME {
            rcgen::DnType::LocalityName
        } else {
            match oid.iter() {
                Some(arcs) => rcgen::DnType::CustomDnType(arcs.collect()),
                None => continue,
            }
        };
        dn.push(kind, value);
    }
    dn
}

// ---------------------------------------------------------------------------------
// Names, as the role allows them

/// Vault's `generateCreationBundle` for `sign/<role>`: the CN and SANs, each checked.
fn role_names(
    role: &RoleConfig,
    body: &Map<String, Value>,
    csr: &Csr,
) -> Result<Names, VaultError> {
    let mut cn = if role.use_csr_common_name {
        csr.common_name.clone().unwrap_or_default()
    } else {
        String::new()
    };
    if cn.is_empty() {
        cn = string_field(body, "common_name")?.unwrap_or_default();
    }
    if cn.is_empty() && role.require_cn {
        return Err(bad_request(
            r#"the common_name field is required, or must be provided in a CSR with "use_csr_common_name" set to true, unless "require_cn" is set to false"#,
        ));
    }

    let (mut dns, mut emails) = if role.use_csr_sans {
        (csr.dns.clone(), csr.emails.clone())
    } else {
        (Vec::new(), Vec::new())
    };
    if !cn.is_empty() && !bool_field(body, "exclude_cn_from_sans")? {
        if cn.contains('@') {
            emails.push(cn.clone());
        } else if is_hostname(&cn) {
            dns.push(cn.clone());
        }
    }
    if !role.use_csr_sans {
        let mut alt_names: Vec<String> = string_field(body, "alt_names")?
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        alt_names.sort();
        alt_names.dedup();
        for name in alt_names {
            if name.contains('@') {
                emails.push(name);
            } else {
                dns.push(name);
            }
        }
    }
    if !cn.is_empty()
        && let Some(bad) = disallowed_name(role, std::slice::from_ref(&cn))
    {
        return Err(bad_request(format!(
            "common name {bad} not allowed by this role"
        )));
    }
    if let Some(bad) = disallowed_name(role, &dns) {
        return Err(bad_request(format!(
            "subject alternate name {bad} not allowed by this role"
        )));
    }
    if let Some(bad) = disallowed_name(role, &emails) {
        return Err(bad_request(format!(
            "email address {bad} not allowed by this role"
        )));
    }
    // The role allows no other SANs (allowed_other_sans is not modelled).
    if let Some(other) = list_field(body, "other_sans")?.first() {
        let (oid, value) = other.split_once(';').unwrap_or((other.as_str(), ""));
        let value = value.split_once(':').map_or(value, |(_, v)| v);
        return Err(bad_request(format!(
            "other SAN {value} not allowed for OID {oid} by this role"
        )));
    }

    let ips = if role.use_csr_sans {
        if !csr.ips.is_empty() && !role.allow_ip_sans {
            return Err(bad_request(
                "IP Subject Alternative Names are not allowed in this role, but was provided some via CSR",
            ));
        }
        csr.ips.clone()
    } else {
        let requested = list_field(body, "ip_sans")?;
        if !requested.is_empty() && !role.allow_ip_sans {
            return Err(bad_request(format!(
                "IP Subject Alternative Names are not allowed in this role, but was provided [{}]",
                requested.join(" ")
            )));
        }
        requested
            .iter()
            .map(|v| {
                v.parse::<IpAddr>()
                    .map_err(|_| bad_request(format!("the value {v:?} is not a valid IP address")))
            })
            .collect::<Result<_, _>>()?
    };

    let uri_allowed = |uri: &str| role.allowed_uri_sans.iter().any(|a| glob(a, uri));
    let uris = if role.use_csr_sans {
        if !csr.uris.is_empty() && role.allowed_uri_sans.is_empty() {
            return Err(bad_request(
                "URI Subject Alternative Names are not allowed in this role, but were provided via CSR",
            ));
        }
        if let Some(bad) = csr.uris.iter().find(|u| !uri_allowed(u)) {
            return Err(bad_request(format!(
                "URI Subject Alternative Names were provided via CSR which are not valid for this role: {bad}"
            )));
        }
        csr.uris.clone()
    } else {
        let requested = list_field(body, "uri_sans")?;
        if !requested.is_empty() && role.allowed_uri_sans.is_empty() {
            return Err(bad_request(
                "URI Subject Alternative Names are not allowed in this role, but were provided via the API",
            ));
        }
        if let Some(bad) = requested.iter().find(|u| !uri_allowed(u)) {
            return Err(bad_request(format!(
                "URI Subject Alternative Names were provided via the API which are not valid for this role: {bad}"
            )));
        }
        requested
    };

    let mut subject = rcgen::DistinguishedName::new();
    if !cn.is_empty() {
        subject.push(rcgen::DnType::CommonName, cn);
    }
    Ok(Names {
        subject,
        dns: dedup_stable(dns),
        emails: dedup_stable(emails),
        ips,
        uris,
    })
}

fn dedup_stable(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// One DNS label: letters, digits and inner hyphens.
fn is_label(label: &str) -> bool {
    !label.is_empty()
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// Vault's `hostnameRegex`: labels, an optional leading `*.` and trailing dot.
fn is_hostname(name: &str) -> bool {
    let name = name.strip_prefix("*.").unwrap_or(name);
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty() && name.split('.').all(is_label)
}

/// Vault's `leftWildLabelRegex`: `*`, `*x`, `x*` or `x*y`.
fn is_wildcard_label(label: &str) -> bool {
    label.split_once('*').is_some_and(|(pre, post)| {
        (pre.is_empty() || is_label(pre)) && (post.is_empty() || is_label(post))
    })
}

/// Vault's `validateNames`: the first name the role does not allow.
fn disallowed_name(role: &RoleConfig, names: &[String]) -> Option<String> {
    names.iter().find(|name| !name_allowed(role, name)).cloned()
}

fn name_allowed(role: &RoleConfig, name: &str) -> bool {
    let mut reduced = name;
    let mut email_domain = name;
    let mut is_email = false;
    if name.contains('@') {
        let parts: Vec<&str> = name.split('@').collect();
        let [_, domain] = parts.as_slice() else {
            return false;
        };
        reduced = domain;
        email_domain = domain;
        is_email = true;
    }
    let is_wildcard = reduced.contains('*');
    let mut wildcard_label = "";
    if is_wildcard {
        if !role.allow_wildcard_certificates || reduced.matches('*').count() > 1 {
            return false;
        }
        match reduced.split_once('.') {
            None => {
                wildcard_label = reduced;
                reduced = "";
            }
            Some((label, rest)) => {
                if rest.contains('*') {
                    return false;
                }
                wildcard_label = label;
                reduced = rest;
            }
        }
    }
    if is_email && is_wildcard {
        return false;
    }
    if role.enforce_hostnames {
        if !reduced.is_empty() && !is_hostname(reduced) {
            return false;
        }
        if is_wildcard && !is_wildcard_label(wildcard_label) {
            return false;
        }
    }
    if role.allow_any_name {
        return true;
    }
    if role.allow_localhost {
        if ["localhost", "localdomain"].contains(&reduced)
            || (is_email && ["localhost", "localdomain"].contains(&email_domain))
        {
            return true;
        }
        if role.allow_subdomains
            && ["localhost", "localdomain"]
                .iter()
                .any(|d| reduced.ends_with(&format!(".{d}")) || (is_wildcard && reduced == *d))
        {
            return true;
        }
    }
    role.allowed_domains
        .iter()
        .filter(|d| !d.is_empty())
        .any(|domain| {
            (role.allow_bare_domains
                && (name.eq_ignore_ascii_case(domain)
                    || (is_email && email_domain.eq_ignore_ascii_case(domain))))
                || (role.allow_subdomains
                    && (reduced.ends_with(&format!(".{domain}"))
                        || (is_wildcard && reduced.eq_ignore_ascii_case(domain))))
                || (role.allow_glob_domains && domain.contains('*') && glob(domain, name))
        })
}

/// `github.com/ryanuber/go-glob`, which Vault uses: `*` matches any run of characters.
fn glob(pattern: &str, subject: &str) -> bool {
    if pattern.is_empty() {
        return subject.is_empty();
    }
    if pattern == "*" {
        return true;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let Some((last, leading)) = parts.split_last() else {
        return false;
    };
    if leading.is_empty() {
        return subject == pattern;
    }
    let mut rest = subject;
    for (i, part) in leading.iter().enumerate() {
        let Some(index) = rest.find(part) else {
            return false;
        };
        if i == 0 && !pattern.starts_with('*') && index != 0 {
            return false;
        }
        rest = &rest[index + part.len()..];
    }
    pattern.ends_with('*') || rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(domains: &[&str]) -> RoleConfig {
        RoleConfig {
            allowed_domains: domains.iter().map(|d| d.to_string()).collect(),
            ..RoleConfig::default()
        }
    }

    #[test]
    fn names_follow_the_role_flags() {
        let mut r = role(&["example.com"]);
        assert!(!name_allowed(&r, "example.com"));
        assert!(!name_allowed(&r, "www.example.com"));
        assert!(name_allowed(&r, "localhost"));
        r.allow_bare_domains = true;
        assert!(name_allowed(&r, "example.com"));
        assert!(name_allowed(&r, "EXAMPLE.com"));
        assert!(!name_allowed(&r, "www.example.com"));
        r.allow_subdomains = true;
        assert!(name_allowed(&r, "www.example.com"));
        assert!(name_allowed(&r, "*.example.com"));
        assert!(name_allowed(&r, "*.a.example.com"));
        assert!(!name_allowed(&r, "*.*.example.com"));
        assert!(!name_allowed(&r, "a.*.example.com"));
        assert!(!name_allowed(&r, "wwwexample.com"));
        assert!(!name_allowed(&r, "example.com.evil"));
        assert!(name_allowed(&r, "admin@example.com"));
        assert!(!name_allowed(&r, "under_score.example.com"));
        r.allow_wildcard_certificates = false;
        assert!(!name_allowed(&r, "*.example.com"));

        let mut any = role(&[]);
        any.allow_any_name = true;
        assert!(name_allowed(&any, "anything.test"));
        assert!(!name_allowed(&any, "not a hostname"));
        any.enforce_hostnames = false;
        assert!(name_allowed(&any, "not a hostname"));

        let mut globbed = role(&["*.svc.cluster.local"]);
        assert!(!name_allowed(&globbed, "web.ns.svc.cluster.local"));
        globbed.allow_glob_domains = true;
        assert!(name_allowed(&globbed, "web.ns.svc.cluster.local"));
    }

    #[test]
    fn glob_matches_as_go_glob_does() {
        assert!(glob(
            "spiffe://cluster.local/*",
            "spiffe://cluster.local/ns/a"
        ));
        assert!(!glob("spiffe://cluster.local/*", "spiffe://other/ns/a"));
        assert!(glob("a*c*e", "abcde"));
        assert!(!glob("a*c*e", "abcdf"));
        assert!(glob("*", ""));
        assert!(glob("exact", "exact"));
        assert!(!glob("exact", "exactly"));
    }

    #[test]
    fn ttl_caps_with_vaults_warning() {
        let r = RoleConfig {
            ttl: Duration::from_secs(3600),
            max_ttl: Duration::from_secs(720 * 3600),
            ..RoleConfig::default()
        };
        let mut warnings = Vec::new();
        assert_eq!(
            capped_ttl(Some(&r), Duration::ZERO, &mut warnings),
            Duration::from_secs(3600)
        );
        assert!(warnings.is_empty());
        assert_eq!(
            capped_ttl(Some(&r), Duration::from_secs(2160 * 3600), &mut warnings),
            Duration::from_secs(720 * 3600)
        );
        assert_eq!(
            warnings,
            [r#"TTL "2160h0m0s" is longer than permitted maxTTL "720h0m0s", so using maxTTL"#]
        );
        assert_eq!(
            capped_ttl(None, Duration::ZERO, &mut Vec::new()),
            SYSTEM_MAX_TTL
        );
    }
}
