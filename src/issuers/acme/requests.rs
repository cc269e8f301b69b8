//! CertificateRequests of ACME issuers: each becomes one Order, named from the
//! request as cert-manager names it; the request mirrors the Order's fate.

use base64::Engine;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Resource;
use kube::ResourceExt;
use kube::api::{Api, ObjectMeta, PostParams};

use crate::api::annotations as ann;
use crate::api::order::State;
use crate::api::{AcmeIssuer, CertificateRequest, Order, OrderSpec};
use crate::issuers::Context;
use crate::issuers::acme::naming::compute_name;
use crate::issuers::request_controller::Outcome;
use crate::issuers::signer::SignedCertificate;

/// The names a CSR asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CsrNames {
    pub common_name: Option<String>,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<String>,
}

/// Reads the subject common name and SANs of a PEM CSR.
pub fn csr_names(csr_pem: &[u8]) -> Result<CsrNames, String> {
    use x509_parser::extensions::{GeneralName, ParsedExtension};
    use x509_parser::prelude::FromDer;
    let block = x509_parser::pem::Pem::iter_from_buffer(csr_pem)
        .find_map(Result::ok)
        .ok_or("no PEM block")?;
    let (_, csr) =
        x509_parser::certification_request::X509CertificationRequest::from_der(&block.contents)
            .map_err(|e| format!("not a CSR: {e}"))?;
    let info = &csr.certification_request_info;
    let common_name = info
        .subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string);
    let mut names = CsrNames {
        common_name,
        ..Default::default()
    };
    for ext in csr.requested_extensions().into_iter().flatten() {
        if let ParsedExtension::SubjectAlternativeName(san) = ext {
            for n in &san.general_names {
                match n {
                    GeneralName::DNSName(d) => names.dns_names.push(d.to_string()),
                    GeneralName::IPAddress(b) => {
                        let ip = match b.len() {
                            4 => <[u8; 4]>::try_from(*b).ok().map(std::net::IpAddr::from),
                            16 => <[u8; 16]>::try_from(*b).ok().map(std::net::IpAddr::from),
                            _ => None,
                        };
                        if let Some(ip) = ip {
                            names.ip_addresses.push(ip.to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(names)
}

/// Why no Order can be made for a request (for good: the request fails).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderBuildError {
    #[error("Failed to decode CSR in spec.request: {0}")]
    Csr(String),
    #[error(
        "The CSR PEM requests a commonName that is not present in the list of dnsNames or ipAddresses. If a commonName is set, ACME requires that the value is also present in the list of dnsNames or ipAddresses: {0:?} does not exist in {1:?} or {2:?}"
    )]
    CommonNameNotInSans(String, Vec<String>, Vec<String>),
}

/// The Order cert-manager would create for this request (pure).
pub fn build_order(req: &CertificateRequest, acme: &AcmeIssuer) -> Result<Order, OrderBuildError> {
    let pem = base64::engine::general_purpose::STANDARD
        .decode(&req.spec.request)
        .map_err(|e| OrderBuildError::Csr(e.to_string()))?;
    let names = csr_names(&pem).map_err(OrderBuildError::Csr)?;
    if let Some(cn) = names.common_name.as_ref().filter(|c| !c.is_empty())
        && !names.dns_names.contains(cn)
        && !names.ip_addresses.contains(cn)
    {
        return Err(OrderBuildError::CommonNameNotInSans(
            cn.clone(),
            names.dns_names.clone(),
            names.ip_addresses.clone(),
        ));
    }
    let profile = req
        .annotations()
        .get(ann::ACME_PROFILE)
        .cloned()
        .or_else(|| acme.profile.clone())
        .filter(|p| !p.is_empty());
    let mut spec = OrderSpec {
        request: String::new(),
        issuer_ref: req.spec.issuer_ref.clone(),
        common_name: names.common_name.filter(|c| !c.is_empty()),
        dns_names: Some(names.dns_names).filter(|d| !d.is_empty()),
        ip_addresses: Some(names.ip_addresses).filter(|d| !d.is_empty()),
        duration: if acme.enable_duration_feature.unwrap_or(false) {
            req.spec.duration.clone()
        } else {
            None
        },
        profile,
    };
    // The name hashes the spec without the CSR, as cert-manager's does.
    let name = compute_name(&req.name_any(), &spec);
    spec.request = req.spec.request.clone();
    let owner = OwnerReference {
        api_version: CertificateRequest::api_version(&()).to_string(),
        kind: CertificateRequest::kind(&()).to_string(),
        name: req.name_any(),
        uid: req.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    Ok(Order {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: req.namespace(),
            labels: req.metadata.labels.clone(),
            annotations: req.metadata.annotations.clone(),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec,
        status: None,
    })
}

/// Takes an approved request of an ACME issuer one step: create its Order, or
/// report the Order's state, or hand out the certificate it got.
pub async fn sync(
    ctx: &Context,
    req: &CertificateRequest,
    acme: &AcmeIssuer,
) -> Result<Outcome, kube::Error> {
    let expected = match build_order(req, acme) {
        Ok(o) => o,
        Err(e) => return Ok(Outcome::Failed(e.to_string())),
    };
    let ns = req.namespace().unwrap_or_default();
    let name = expected.name_any();
    let api: Api<Order> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(order) = api.get_opt(&name).await? else {
        api.create(&PostParams::default(), &expected).await?;
        return Ok(Outcome::PendingWith(
            "OrderCreated".into(),
            format!("Created Order resource {ns}/{name}"),
        ));
    };
    let owned = order
        .owner_references()
        .iter()
        .any(|o| o.controller == Some(true) && Some(&o.uid) == req.uid().as_ref());
    if !owned {
        return Ok(Outcome::Pending(format!(
            "Order {ns}/{name} exists but is not owned by this CertificateRequest; waiting for it to go away"
        )));
    }
    let status = order.status.clone().unwrap_or_default();
    match status.state {
        Some(state) if state.is_failure() => Ok(Outcome::FailedWith(
            "OrderFailed".into(),
            format!(
                "Failed to wait for order resource {name:?} to become ready: order is in {:?} state: {}",
                state_str(state),
                status.reason.unwrap_or_default()
            ),
        )),
        Some(State::Valid) => {
            let pem = status
                .certificate
                .as_deref()
                .and_then(|c| base64::engine::general_purpose::STANDARD.decode(c).ok())
                .and_then(|c| String::from_utf8(c).ok())
                .unwrap_or_default();
            if pem.is_empty() {
                return Ok(Outcome::Pending(format!(
                    "Order {ns}/{name} is valid but holds no certificate yet"
                )));
            }
            Ok(Outcome::Issued(acme_issued(&pem)))
        }
        state => {
            let mut message = format!(
                "Waiting on certificate issuance from order {ns}/{name}: {:?}",
                state.map(state_str).unwrap_or("")
            );
            // Why the Order waits (a rate limit and until when, a solver problem):
            // shown on the request and so on its Certificate.
            if let Some(reason) = status.reason.as_deref().filter(|r| !r.is_empty()) {
                message = format!("{message}: {reason}");
            }
            Ok(Outcome::PendingWith("OrderPending".into(), message))
        }
    }
}

/// ACME state names as they appear in status.
pub fn state_str(s: State) -> &'static str {
    match s {
        State::Valid => "valid",
        State::Ready => "ready",
        State::Pending => "pending",
        State::Processing => "processing",
        State::Invalid => "invalid",
        State::Expired => "expired",
        State::Errored => "errored",
    }
}

/// The chain an ACME server sends: the leaf and its intermediates. `ca.crt` stays
/// empty, as cert-manager leaves it for ACME (the root is not sent).
pub fn acme_issued(pem: &str) -> SignedCertificate {
    SignedCertificate {
        certificate_pem: pem.to_string(),
        ca_pem: String::new(),
    }
}
