//! The Certificate fields a source's annotations ask for (cert-manager's
//! `translateAnnotations` and `setIssuerSpecificConfig`): every annotation value
//! checked against the Certificate API's rules, each bad one an [`IntentError`]
//! naming the annotation. Pure. The builder turns the result into Certificates.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

use crate::api::annotations as ann;
use crate::api::certificate::{
    CertificatePrivateKey, CertificateSecretTemplate, KeyUsage, PrivateKeyAlgorithm,
    PrivateKeyEncoding, RotationPolicy, X509Subject,
};
use crate::api::meta::IssuerReference;
use crate::api::{Certificate, CertificateSpec};
use crate::gocompat::{go_duration_string, go_parse_int, split_with_escape_csv};
use crate::gocompat::{go_quote, parse_go_duration};
use crate::pki::csr::DEFAULT_KEY_USAGES;

use crate::intent::ownership::{OWNER_ANNOTATION, OWNER_UID_LABEL};
use crate::intent::plan::*;
use crate::intent::source::*;

use crate::intent::builder::{APPLYSET_LABEL, Group, invalid_host, owner_reference};

/// The Certificate fields from the source's annotations
/// (cert-manager's `translateAnnotations` and `setIssuerSpecificConfig`).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct SpecTemplate {
    common_name: Option<String>,
    extra_dns_names: Vec<String>,
    extra_ip_addresses: Vec<String>,
    uris: Vec<String>,
    email_addresses: Vec<String>,
    subject: Option<X509Subject>,
    duration: Option<String>,
    renew_before: Option<String>,
    renew_before_percentage: Option<i32>,
    usages: Vec<KeyUsage>,
    revision_history_limit: Option<i32>,
    private_key: Option<CertificatePrivateKey>,
    secret_template: Option<CertificateSecretTemplate>,
}

/// `cert-manager.io/secret-template`: unknown fields are rejected.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SecretTemplateAnnotation {
    annotations: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
}

/// The Certificate API's default duration (90 days).
pub(crate) const DEFAULT_DURATION: Duration = Duration::from_secs(2160 * 3600);

impl SpecTemplate {
    /// Every bad annotation, as one error each.
    pub(crate) fn from_annotations(a: &BTreeMap<String, String>) -> Result<Self, Vec<IntentError>> {
        let mut t = SpecTemplate::default();
        let mut errs: Vec<IntentError> = Vec::new();
        let mut fail = |key: &str, reason: String| {
            errs.push(IntentError::Annotation {
                key: key.to_string(),
                reason,
            })
        };

        if let Some(cn) = a.get(ann::COMMON_NAME) {
            if cn.len() > 64 {
                fail(
                    ann::COMMON_NAME,
                    format!("common name {} is longer than 64 bytes", go_quote(cn)),
                );
            } else if !cn.is_empty() {
                t.common_name = Some(cn.clone());
            }
        }

        if let Some(v) = a.get(ann::ALT_NAMES) {
            for name in split_list(v) {
                match invalid_host(&name) {
                    Some(why) => fail(
                        ann::ALT_NAMES,
                        format!("invalid DNS name {}: {why}", go_quote(&name)),
                    ),
                    None => t.extra_dns_names.push(name),
                }
            }
        }
        if let Some(v) = a.get(ann::IP_SANS) {
            for ip in split_list(v) {
                if ip.parse::<IpAddr>().is_ok() {
                    t.extra_ip_addresses.push(ip);
                } else {
                    fail(
                        ann::IP_SANS,
                        format!("invalid IP address {}", go_quote(&ip)),
                    );
                }
            }
        }
        if let Some(v) = a.get(ann::URI_SANS) {
            for uri in split_list(v) {
                if is_uri(&uri) {
                    t.uris.push(uri);
                } else {
                    fail(ann::URI_SANS, format!("invalid URI {}", go_quote(&uri)));
                }
            }
        }
        if let Some(v) = a.get(ann::EMAIL_SANS) {
            for email in split_list(v) {
                if is_email(&email) {
                    t.email_addresses.push(email);
                } else {
                    fail(
                        ann::EMAIL_SANS,
                        format!("invalid email address {}", go_quote(&email)),
                    );
                }
            }
        }

        let mut subject = X509Subject::default();
        let csv_fields: [(&str, &mut Option<Vec<String>>); 7] = [
            (ann::SUBJECT_ORGANIZATIONS, &mut subject.organizations),
            (
                ann::SUBJECT_ORGANIZATIONAL_UNITS,
                &mut subject.organizational_units,
            ),
            (ann::SUBJECT_COUNTRIES, &mut subject.countries),
            (ann::SUBJECT_PROVINCES, &mut subject.provinces),
            (ann::SUBJECT_LOCALITIES, &mut subject.localities),
            (ann::SUBJECT_STREET_ADDRESSES, &mut subject.street_addresses),
            (ann::SUBJECT_POSTAL_CODES, &mut subject.postal_codes),
        ];
        for (key, field) in csv_fields {
            if let Some(v) = a.get(key) {
                match split_with_escape_csv(v) {
                    Ok(values) => *field = Some(values),
                    Err(reason) => fail(key, reason),
                }
            }
        }
        if let Some(serial) = a.get(ann::SUBJECT_SERIAL_NUMBER)
            && !serial.is_empty()
        {
            subject.serial_number = Some(serial.clone());
        }
        if subject != X509Subject::default() {
            t.subject = Some(subject);
        }

        let mut duration = None;
        if let Some(v) = a.get(ann::DURATION) {
            match parse_go_duration(v) {
                Err(e) => fail(ann::DURATION, e.to_string()),
                Ok(d) if d < Duration::from_secs(3600) => fail(
                    ann::DURATION,
                    format!("duration {} must be at least 1h", go_quote(v)),
                ),
                Ok(d) => {
                    duration = Some(d);
                    t.duration = Some(go_duration_string(d));
                }
            }
        }
        if let Some(v) = a.get(ann::RENEW_BEFORE) {
            match parse_go_duration(v) {
                Err(e) => fail(ann::RENEW_BEFORE, e.to_string()),
                Ok(d) if d < Duration::from_secs(300) => fail(
                    ann::RENEW_BEFORE,
                    format!("renew before {} must be at least 5m", go_quote(v)),
                ),
                Ok(d) if d >= duration.unwrap_or(DEFAULT_DURATION) => fail(
                    ann::RENEW_BEFORE,
                    format!(
                        "renew before {} must be shorter than the duration ({})",
                        go_quote(v),
                        go_duration_string(duration.unwrap_or(DEFAULT_DURATION))
                    ),
                ),
                Ok(d) => t.renew_before = Some(go_duration_string(d)),
            }
        }
        if let Some(v) = a.get(ann::RENEW_BEFORE_PERCENTAGE) {
            match go_parse_int(v, "strconv.ParseInt", i32::MIN.into(), i32::MAX.into()) {
                Err(e) => fail(ann::RENEW_BEFORE_PERCENTAGE, e),
                Ok(p) if !(1..=99).contains(&p) => fail(
                    ann::RENEW_BEFORE_PERCENTAGE,
                    format!(
                        "renew before percentage must be between 1 and 99 {}",
                        go_quote(v)
                    ),
                ),
                Ok(_) if a.contains_key(ann::RENEW_BEFORE) => fail(
                    ann::RENEW_BEFORE_PERCENTAGE,
                    format!(
                        "{} may not be set together with {}",
                        go_quote(ann::RENEW_BEFORE_PERCENTAGE),
                        go_quote(ann::RENEW_BEFORE)
                    ),
                ),
                Ok(p) => t.renew_before_percentage = i32::try_from(p).ok(),
            }
        }

        match a.get(ann::USAGES) {
            None => t.usages = DEFAULT_KEY_USAGES.to_vec(),
            Some(v) => {
                for name in v.split(',') {
                    let trimmed = name.trim_matches(' ');
                    match serde_json::from_value::<KeyUsage>(serde_json::Value::String(
                        trimmed.to_string(),
                    )) {
                        Ok(u) => t.usages.push(u),
                        Err(_) => fail(
                            ann::USAGES,
                            format!("invalid key usage name {}", go_quote(name)),
                        ),
                    }
                }
            }
        }

        if let Some(v) = a.get(ann::REVISION_HISTORY_LIMIT) {
            match go_parse_int(v, "strconv.ParseInt", i32::MIN.into(), i32::MAX.into()) {
                Err(e) => fail(ann::REVISION_HISTORY_LIMIT, e),
                Ok(l) if l < 1 => fail(
                    ann::REVISION_HISTORY_LIMIT,
                    format!(
                        "revision history limit must be a positive number {}",
                        go_quote(v)
                    ),
                ),
                Ok(l) => t.revision_history_limit = i32::try_from(l).ok(),
            }
        }

        let mut key = CertificatePrivateKey::default();
        if let Some(v) = a.get(ann::PRIVATE_KEY_ALGORITHM) {
            match v.as_str() {
                "RSA" => key.algorithm = Some(PrivateKeyAlgorithm::Rsa),
                "ECDSA" => key.algorithm = Some(PrivateKeyAlgorithm::Ecdsa),
                "Ed25519" => key.algorithm = Some(PrivateKeyAlgorithm::Ed25519),
                _ => fail(
                    ann::PRIVATE_KEY_ALGORITHM,
                    format!("invalid private key algorithm {}", go_quote(v)),
                ),
            }
        }
        if let Some(v) = a.get(ann::PRIVATE_KEY_ENCODING) {
            match v.as_str() {
                "PKCS1" => key.encoding = Some(PrivateKeyEncoding::Pkcs1),
                "PKCS8" => key.encoding = Some(PrivateKeyEncoding::Pkcs8),
                _ => fail(
                    ann::PRIVATE_KEY_ENCODING,
                    format!("invalid private key encoding {}", go_quote(v)),
                ),
            }
        }
        if let Some(v) = a.get(ann::PRIVATE_KEY_SIZE) {
            match go_parse_int(v, "strconv.Atoi", i64::MIN, i64::MAX) {
                Err(e) => fail(ann::PRIVATE_KEY_SIZE, e),
                Ok(size) => {
                    // An unparsable algorithm was reported above; judge the
                    // size against the algorithm it would default to.
                    let algo = key.algorithm.unwrap_or(PrivateKeyAlgorithm::Rsa);
                    // Ed25519 has no size: any value that fits is passed on.
                    let ok = crate::api::certificate::key_sizes::allowed(algo, size)
                        .unwrap_or_else(|| i32::try_from(size).is_ok());
                    let algorithm = match key.algorithm.unwrap_or(PrivateKeyAlgorithm::Rsa) {
                        PrivateKeyAlgorithm::Rsa => "RSA",
                        PrivateKeyAlgorithm::Ecdsa => "ECDSA",
                        PrivateKeyAlgorithm::Ed25519 => "Ed25519",
                    };
                    if ok {
                        key.size = i32::try_from(size).ok();
                    } else {
                        fail(
                            ann::PRIVATE_KEY_SIZE,
                            format!(
                                "invalid private key size for {algorithm} algorithm {}",
                                go_quote(v)
                            ),
                        );
                    }
                }
            }
        }
        if let Some(v) = a.get(ann::PRIVATE_KEY_ROTATION_POLICY) {
            match v.as_str() {
                "Never" => key.rotation_policy = Some(RotationPolicy::Never),
                "Always" => key.rotation_policy = Some(RotationPolicy::Always),
                _ => fail(
                    ann::PRIVATE_KEY_ROTATION_POLICY,
                    format!("invalid private key rotation policy {}", go_quote(v)),
                ),
            }
        }
        if key != CertificatePrivateKey::default() {
            t.private_key = Some(key);
        }

        if let Some(v) = a.get(ann::SECRET_TEMPLATE) {
            match serde_json::from_str::<SecretTemplateAnnotation>(v) {
                Err(e) => fail(
                    ann::SECRET_TEMPLATE,
                    format!("error parsing secret template JSON {}: {e}", go_quote(v)),
                ),
                Ok(st) => {
                    let reserved = st
                        .annotations
                        .iter()
                        .flatten()
                        .map(|(k, _)| k)
                        .find(|k| k.starts_with("cert-manager.io/"));
                    if let Some(k) = reserved {
                        fail(
                            ann::SECRET_TEMPLATE,
                            format!(
                                "secretTemplate must not have cert-manager.io/ annotations: {}",
                                go_quote(k)
                            ),
                        );
                    } else {
                        let annotations = st.annotations.filter(|m| !m.is_empty());
                        let labels = st.labels.filter(|m| !m.is_empty());
                        if annotations.is_some() || labels.is_some() {
                            t.secret_template = Some(CertificateSecretTemplate {
                                annotations,
                                labels,
                            });
                        }
                    }
                }
            }
        }

        if errs.is_empty() { Ok(t) } else { Err(errs) }
    }

    /// The intended Certificate for one Secret.
    pub(crate) fn certificate(
        &self,
        source: &Source,
        group: &Group,
        issuer: &IssuerReference,
    ) -> Certificate {
        let cross_namespace = group.key.namespace != source.namespace;

        // Hosts then annotation SANs, de-duplicated (IPs by value).
        let mut dns_names: Vec<String> = Vec::new();
        let mut ips: Vec<(IpAddr, String)> = Vec::new();
        let all_hosts = group.hosts.iter().chain(&self.extra_dns_names);
        for host in all_hosts.chain(&self.extra_ip_addresses) {
            match host.parse::<IpAddr>() {
                Ok(ip) => {
                    if !ips.iter().any(|(seen, _)| *seen == ip) {
                        ips.push((ip, host.clone()));
                    }
                }
                Err(_) => {
                    if !dns_names.contains(host) {
                        dns_names.push(host.clone());
                    }
                }
            }
        }
        let ip_addresses: Vec<String> = ips.into_iter().map(|(_, s)| s).collect();
        let non_empty = |v: Vec<String>| (!v.is_empty()).then_some(v);

        let mut labels = source.labels.clone();
        labels.remove(APPLYSET_LABEL);
        if cross_namespace {
            labels.insert(OWNER_UID_LABEL.to_string(), source.uid.clone());
        }

        // cert-manager's setIssuerSpecificConfig.
        let a = &source.annotations;
        let mut annotations = BTreeMap::new();
        if a.get(ann::HTTP01_EDIT_IN_PLACE)
            .is_some_and(|v| v == "true")
        {
            annotations.insert(
                ann::HTTP01_OVERRIDE_INGRESS_NAME.to_string(),
                source.name.clone(),
            );
            annotations.insert(ann::ISSUE_TEMPORARY_CERTIFICATE.to_string(), "true".into());
        }
        if let Some(class) = a.get(ann::HTTP01_INGRESS_CLASS).filter(|v| !v.is_empty()) {
            annotations.insert(
                ann::HTTP01_OVERRIDE_INGRESS_CLASS.to_string(),
                class.clone(),
            );
        }
        if let Some(class) = a
            .get(ann::HTTP01_INGRESS_INGRESSCLASSNAME)
            .filter(|v| !v.is_empty())
        {
            annotations.insert(
                ann::HTTP01_OVERRIDE_INGRESS_INGRESSCLASSNAME.to_string(),
                class.clone(),
            );
        }
        if let Some(parent) = &source.http01_parent {
            annotations.insert(ann::HTTP01_PARENTREF_KIND.to_string(), parent.kind.clone());
            annotations.insert(ann::HTTP01_PARENTREF_NAME.to_string(), parent.name.clone());
            annotations.insert(
                ann::HTTP01_PARENTREF_NAMESPACE.to_string(),
                parent.namespace.clone(),
            );
        } else if source.kind != SourceKind::Ingress {
            annotations.insert(
                ann::HTTP01_PARENTREF_KIND.to_string(),
                source.kind.as_str().to_string(),
            );
            annotations.insert(ann::HTTP01_PARENTREF_NAME.to_string(), source.name.clone());
            if cross_namespace {
                annotations.insert(
                    ann::HTTP01_PARENTREF_NAMESPACE.to_string(),
                    source.namespace.clone(),
                );
            }
        }
        if cross_namespace {
            annotations.insert(
                OWNER_ANNOTATION.to_string(),
                format!(
                    "{}/{}/{}",
                    source.kind.as_str(),
                    source.namespace,
                    source.name
                ),
            );
        }

        Certificate {
            metadata: ObjectMeta {
                name: Some(group.key.name.clone()),
                namespace: Some(group.key.namespace.clone()),
                labels: (!labels.is_empty()).then_some(labels),
                annotations: (!annotations.is_empty()).then_some(annotations),
                owner_references: (!cross_namespace).then(|| vec![owner_reference(source)]),
                ..ObjectMeta::default()
            },
            spec: CertificateSpec {
                subject: self.subject.clone().map(Box::new),
                common_name: self.common_name.clone(),
                duration: self.duration.clone(),
                renew_before: self.renew_before.clone(),
                renew_before_percentage: self.renew_before_percentage,
                dns_names: non_empty(dns_names),
                ip_addresses: non_empty(ip_addresses),
                uris: non_empty(self.uris.clone()),
                email_addresses: non_empty(self.email_addresses.clone()),
                secret_name: group.key.name.clone(),
                secret_template: self.secret_template.clone(),
                issuer_ref: issuer.clone(),
                usages: (!self.usages.is_empty()).then(|| self.usages.clone()),
                private_key: self.private_key.clone(),
                revision_history_limit: self.revision_history_limit,
                ..CertificateSpec::default()
            },
            status: None,
        }
    }
}

/// A comma-separated list, entries trimmed; an empty value is an empty list.
pub(crate) fn split_list(v: &str) -> Vec<String> {
    if v.trim().is_empty() {
        return Vec::new();
    }
    v.split(',').map(|s| s.trim().to_string()).collect()
}

/// `^[^@\s]+@[^@\s]+$`, at most 254 characters (the API's rule).
pub(crate) fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let ok = |p: &str| !p.is_empty() && !p.contains(|c: char| c == '@' || c.is_whitespace());
    s.len() <= 254 && ok(local) && ok(domain)
}

/// An absolute URI: `^[a-zA-Z][a-zA-Z0-9+.-]*:` then something, no
/// whitespace, at most 2048 characters (the API's rule).
pub(crate) fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'))
        && !rest.is_empty()
        && !s.contains(char::is_whitespace)
        && s.len() <= 2048
}
