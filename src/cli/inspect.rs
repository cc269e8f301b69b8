//! `certgate inspect secret`: what a TLS Secret holds and whether it matches its Certificate.

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use std::fmt::Write;

use crate::api::Certificate;
use crate::api::annotations as ann;
use crate::cli::CliError;

/// A readable description of a PEM chain (no key material is ever printed).
pub fn describe_pem(pem: &[u8]) -> String {
    let mut out = String::new();
    for (i, p) in x509_parser::pem::Pem::iter_from_buffer(pem).enumerate() {
        let Ok(p) = p else { break };
        let Ok(cert) = p.parse_x509() else { continue };
        let role = if i == 0 { "Certificate" } else { "Chain" };
        let _ = writeln!(out, "{role} #{i}:");
        let _ = writeln!(out, "  Subject:    {}", cert.subject());
        let _ = writeln!(out, "  Issuer:     {}", cert.issuer());
        let _ = writeln!(
            out,
            "  Not Before: {}",
            cert.validity().not_before.to_datetime()
        );
        let _ = writeln!(
            out,
            "  Not After:  {}",
            cert.validity().not_after.to_datetime()
        );
        let _ = writeln!(out, "  Serial:     {}", cert.raw_serial_as_string());
        let _ = writeln!(out, "  Is CA:      {}", cert.is_ca());
        if i == 0 {
            let _ = writeln!(
                out,
                "  SANs:       {}",
                crate::demo::describe_certificate(pem)
                    .split("SANs [")
                    .nth(1)
                    .and_then(|s| s.split(']').next())
                    .unwrap_or("")
            );
            let alg = cert.public_key().algorithm.algorithm.to_id_string();
            let _ = writeln!(out, "  Public key: {}", key_name(&alg));
        }
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
        .and_then(|k| crate::certificates::keys::PrivateKey::from_pem(&k.0).ok())
        .map(|k| crate::certificates::keys::public_key_matches_cert(&crt, &k).unwrap_or(false));
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
