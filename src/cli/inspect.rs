//! `certgate inspect secret`: what a TLS Secret holds and whether it matches its Certificate.

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use std::fmt::Write;

use crate::api::Certificate;
use crate::api::annotations as ann;
use crate::cli::CliError;

/// What one certificate of a PEM chain says (no key material).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertSummary {
    pub subject: String,
    pub issuer: String,
    pub not_before: String,
    pub not_after: String,
    pub serial: String,
    pub is_ca: bool,
    /// `DNS:…`, `IP:…`, `URI:…` (the leaf only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sans: Option<String>,
    /// RSA, ECDSA or Ed25519 (the leaf only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
}

/// The certificates of a PEM chain, leaf first.
pub fn summarize_pem(pem: &[u8]) -> Vec<CertSummary> {
    let mut out = Vec::new();
    for (i, p) in x509_parser::pem::Pem::iter_from_buffer(pem).enumerate() {
        let Ok(p) = p else { break };
        let Ok(cert) = p.parse_x509() else { continue };
        let leaf = i == 0;
        out.push(CertSummary {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            not_before: cert.validity().not_before.to_datetime().to_string(),
            not_after: cert.validity().not_after.to_datetime().to_string(),
            serial: cert.raw_serial_as_string(),
            is_ca: cert.is_ca(),
            sans: leaf.then(|| {
                crate::demo::describe_certificate(pem)
                    .split("SANs [")
                    .nth(1)
                    .and_then(|s| s.split(']').next())
                    .unwrap_or("")
                    .to_string()
            }),
            public_key: leaf.then(|| {
                key_name(&cert.public_key().algorithm.algorithm.to_id_string()).to_string()
            }),
        });
    }
    out
}

/// The lines describing one certificate (indented by two spaces).
pub fn describe_summary(out: &mut String, c: &CertSummary) {
    let _ = writeln!(out, "  Subject:    {}", c.subject);
    let _ = writeln!(out, "  Issuer:     {}", c.issuer);
    let _ = writeln!(out, "  Not Before: {}", c.not_before);
    let _ = writeln!(out, "  Not After:  {}", c.not_after);
    let _ = writeln!(out, "  Serial:     {}", c.serial);
    let _ = writeln!(out, "  Is CA:      {}", c.is_ca);
    if let Some(sans) = &c.sans {
        let _ = writeln!(out, "  SANs:       {sans}");
    }
    if let Some(k) = &c.public_key {
        let _ = writeln!(out, "  Public key: {k}");
    }
}

/// A readable description of a PEM chain (no key material is ever printed).
pub fn describe_pem(pem: &[u8]) -> String {
    let mut out = String::new();
    for (i, c) in summarize_pem(pem).iter().enumerate() {
        let role = if i == 0 { "Certificate" } else { "Chain" };
        let _ = writeln!(out, "{role} #{i}:");
        describe_summary(&mut out, c);
    }
    out
}

fn key_name(oid: &str) -> &str {
    match oid {
        "1.2.840.113549.1.1.1" => "RSA",
        "1.2.840.10045.2.1" => "ECDSA",
        "1.3.101.112" => "Ed25519",
        other => other,
    }
}

/// Inspects a Secret; says whether its key matches the certificate and which
/// Certificate it belongs to.
pub async fn secret(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<String, CliError> {
    let secret = Api::<Secret>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await?
        .ok_or_else(|| CliError::NotFound {
            kind: "Secret",
            namespace: namespace.to_string(),
            name: name.to_string(),
        })?;
    let data = secret.data.clone().unwrap_or_default();
    let crt = data
        .get(ann::TLS_CRT)
        .map(|b| b.0.clone())
        .ok_or_else(|| CliError::NoCertificate(format!("{namespace}/{name}")))?;
    let mut out = format!(
        "Secret {namespace}/{name} (type {})\n",
        secret.type_.clone().unwrap_or_default()
    );
    out.push_str(&describe_pem(&crt));
    let key_matches = data
        .get(ann::TLS_KEY)
        .and_then(|k| crate::pki::key::PrivateKey::from_pem(&k.0).ok())
        .map(|k| crate::pki::key::public_key_matches_cert(&crt, &k).unwrap_or(false));
    let _ = writeln!(
        out,
        "Private key:  {}",
        match key_matches {
            Some(true) => "present, matches the certificate",
            Some(false) => "present, DOES NOT match the certificate",
            None => "missing or unreadable",
        }
    );
    let _ = writeln!(
        out,
        "CA (ca.crt):  {}",
        if data.contains_key(ann::CA_CRT) {
            "present"
        } else {
            "absent"
        }
    );
    let annotations = secret.metadata.annotations.clone().unwrap_or_default();
    match annotations.get(ann::CERTIFICATE_NAME) {
        Some(cert_name) => {
            let cert = Api::<Certificate>::namespaced(client.clone(), namespace)
                .get_opt(cert_name)
                .await?;
            let verdict = match cert {
                None => format!("names Certificate {cert_name:?}, which does not exist"),
                Some(c) => {
                    let want: Vec<String> = c.spec.dns_names.clone().unwrap_or_default();
                    let have = crate::demo::describe_certificate(&crt);
                    let missing: Vec<&String> = want
                        .iter()
                        .filter(|d| !have.contains(&format!("DNS:{d}")))
                        .collect();
                    if missing.is_empty() {
                        format!("Certificate {cert_name:?}: the DNS names match its spec")
                    } else {
                        format!(
                            "Certificate {cert_name:?}: spec asks for {missing:?}, which the certificate lacks (it will be re-issued)"
                        )
                    }
                }
            };
            let _ = writeln!(out, "Belongs to:   {verdict}");
        }
        None => {
            let _ = writeln!(
                out,
                "Belongs to:   no Certificate (no cert-manager.io/certificate-name annotation)"
            );
        }
    }
    Ok(out)
}
