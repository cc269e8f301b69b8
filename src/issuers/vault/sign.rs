//! The sign request and its answer (pure). The request is cert-manager's: every
//! value a string, the names taken from the CSR, `ttl` the request's duration as
//! Go prints it, `exclude_cn_from_sans` so the CN is not added to the SANs. The
//! answer's `ca_chain` (else `issuing_ca`) and certificate are ordered into one
//! chain: the leaf up to below the root, the top-most certificate as the CA.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::{Value, json};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use super::VaultError;
use crate::issuers::signer::SignedCertificate;
use crate::pki::chain;

/// The names a CSR asks for.
#[derive(Debug, Default, PartialEq, Eq)]
struct CsrNames {
    common_name: String,
    dns: Vec<String>,
    ips: Vec<String>,
    uris: Vec<String>,
}

fn csr_names(csr_pem: &str) -> Result<CsrNames, VaultError> {
    let bad = |e: String| VaultError::Config(format!("failed to decode CSR for signing: {e}"));
    let der =
        pem_block(csr_pem, "CERTIFICATE REQUEST").ok_or_else(|| bad("no PEM block".into()))?;
    let (_, csr) = X509CertificationRequest::from_der(&der).map_err(|e| bad(e.to_string()))?;
    let info = &csr.certification_request_info;
    let mut names = CsrNames {
        common_name: info
            .subject
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .unwrap_or_default()
            .to_string(),
        ..CsrNames::default()
    };
    for ext in csr.requested_extensions().into_iter().flatten() {
        let ParsedExtension::SubjectAlternativeName(san) = ext else {
            continue;
        };
        for name in &san.general_names {
            match name {
                GeneralName::DNSName(d) => names.dns.push(d.to_string()),
                GeneralName::URI(u) => names.uris.push(u.to_string()),
                GeneralName::IPAddress(bytes) => {
                    let ip = match bytes.len() {
                        4 => <[u8; 4]>::try_from(*bytes).ok().map(IpAddr::from),
                        16 => <[u8; 16]>::try_from(*bytes).ok().map(IpAddr::from),
                        _ => None,
                    };
                    if let Some(ip) = ip {
                        names.ips.push(ip.to_canonical().to_string());
                    }
                }
                _ => {}
            }
        }
    }
    Ok(names)
}

/// The DER of the first `label` block of `text`.
fn pem_block(text: &str, label: &str) -> Option<Vec<u8>> {
    crate::pki::pem::decode_all(text.as_bytes())
        .ok()?
        .into_iter()
        .find(|b| b.label == label)
        .map(|b| b.der)
}

/// The JSON body of `POST /v1/<path>`, as cert-manager sends it.
pub fn request_body(csr_pem: &str, duration: Duration) -> Result<Value, VaultError> {
    let names = csr_names(csr_pem)?;
    Ok(json!({
        "common_name": names.common_name,
        "alt_names": names.dns.join(","),
        "ip_sans": names.ips.join(","),
        "uri_sans": names.uris.join(","),
        "ttl": crate::gocompat::go_duration_string(duration),
        "csr": csr_pem,
        "exclude_cn_from_sans": "true",
    }))
}

/// `spec.vault.path` cleaned as Go's `path.Join("/v1", path)` cleans it, without
/// the `/v1/` the transport adds.
pub fn request_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

/// The certificate and CA of Vault's answer to a sign request.
pub fn certificates_from_answer(body: &Value) -> Result<SignedCertificate, VaultError> {
    let data = body.get("data").ok_or_else(|| VaultError::Decode {
        path: "sign".into(),
        cause: "the answer has no \"data\"".into(),
    })?;
    let text = |k: &str| data.get(k).and_then(Value::as_str).unwrap_or_default();
    let leaf = text("certificate");
    if leaf.trim().is_empty() {
        return Err(VaultError::Decode {
            path: "sign".into(),
            cause: "the answer has no \"certificate\"".into(),
        });
    }
    let ca_chain: Vec<&str> = data
        .get("ca_chain")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut bag: Vec<&str> = if ca_chain.is_empty() {
        vec![text("issuing_ca")]
    } else {
        ca_chain
    };
    bag.push(leaf);
    let joined = bag
        .into_iter()
        .filter(|s| !s.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    let parsed =
        chain::parse_single_chain(&joined).map_err(|e| VaultError::Chain(e.to_string()))?;
    Ok(SignedCertificate {
        certificate_pem: parsed.chain_pem,
        ca_pem: parsed.ca_pem,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};

    fn csr() -> String {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec!["a.example.com".to_string()]).unwrap();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "a.example.com");
        p.subject_alt_names
            .push(SanType::DnsName("*.b.example.com".try_into().unwrap()));
        p.subject_alt_names
            .push(SanType::IpAddress("10.0.0.1".parse().unwrap()));
        p.subject_alt_names
            .push(SanType::IpAddress("2001:db8::1".parse().unwrap()));
        p.subject_alt_names.push(SanType::URI(
            "spiffe://cluster.local/ns/a/sa/b".try_into().unwrap(),
        ));
        p.serialize_request(&key).unwrap().pem().unwrap()
    }

    #[test]
    fn the_body_is_cert_managers() {
        let pem = csr();
        let body = request_body(&pem, Duration::from_secs(90 * 24 * 3600)).unwrap();
        assert_eq!(
            body,
            json!({
                "common_name": "a.example.com",
                "alt_names": "a.example.com,*.b.example.com",
                "ip_sans": "10.0.0.1,2001:db8::1",
                "uri_sans": "spiffe://cluster.local/ns/a/sa/b",
                "ttl": "2160h0m0s",
                "csr": pem,
                "exclude_cn_from_sans": "true",
            })
        );
        assert!(matches!(
            request_body("garbage", Duration::from_secs(60)),
            Err(VaultError::Config(m)) if m.starts_with("failed to decode CSR for signing")
        ));
    }

    #[test]
    fn paths_are_cleaned_as_go_cleans_them() {
        assert_eq!(request_path("pki_int/sign/web"), "pki_int/sign/web");
        assert_eq!(request_path("/pki_int//sign/web/"), "pki_int/sign/web");
        assert_eq!(request_path("./pki/./sign-verbatim"), "pki/sign-verbatim");
    }

    #[test]
    fn the_answer_becomes_chain_and_ca() {
        let ca = |cn: &str| {
            let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
            p.distinguished_name.push(rcgen::DnType::CommonName, cn);
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p
        };
        let root_key = KeyPair::generate().unwrap();
        let root = ca("root").self_signed(&root_key).unwrap();
        let root_issuer = Issuer::new(ca("root"), root_key);
        let int_key = KeyPair::generate().unwrap();
        let int = ca("int").signed_by(&int_key, &root_issuer).unwrap();
        let int_issuer = Issuer::new(ca("int"), int_key);
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["a.example.com".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &int_issuer)
            .unwrap();
        let der = |pem: &str| chain::certificates_der(pem).unwrap();
        let answer = json!({"data": {
            "certificate": leaf.pem(),
            "issuing_ca": int.pem(),
            "ca_chain": [int.pem(), root.pem()],
        }});
        let signed = certificates_from_answer(&answer).unwrap();
        assert_eq!(
            der(&signed.certificate_pem),
            der(&format!("{}{}", leaf.pem(), int.pem()))
        );
        assert_eq!(der(&signed.ca_pem), der(&root.pem()));
        let no_chain = json!({"data": {"certificate": leaf.pem(), "issuing_ca": int.pem()}});
        let signed = certificates_from_answer(&no_chain).unwrap();
        assert_eq!(der(&signed.ca_pem), der(&int.pem()));
        let unrelated = json!({"data": {"certificate": leaf.pem(), "ca_chain": [root.pem()]}});
        assert!(matches!(
            certificates_from_answer(&unrelated),
            Err(VaultError::Chain(m)) if m == "certificate chain is malformed or broken"
        ));
    }
}
