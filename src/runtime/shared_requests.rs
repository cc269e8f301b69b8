//! The process's one watch of CertificateRequests: the request controller
//! reconciles from its cache, which keeps the requests still being worked on, and
//! the Certificate controller's index of requests by owner keeps every request,
//! packed (an index hook is handed in: which requests a Certificate owns is the
//! certificates module's rule). Issued certificates are not cached. Dropped: the
//! watch stops.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::api::CertificateRequest;
use crate::runtime::Context;
use crate::runtime::packing::Packing;
use crate::runtime::shared_watch::{Hook, SharedWatch};

pub struct SharedRequests {
    pub watch: Arc<SharedWatch<CertificateRequest>>,
    driver: tokio::task::JoinHandle<()>,
}

/// What the cache keeps of a CertificateRequest: everything but the issued
/// certificate and CA (read from the API when a Certificate is issued), and, once
/// the request is finished (issued, failed or denied), its labels (read only to
/// label the Order of a pending ACME request; a label map costs more than half a
/// kilobyte per request). The CSR stays: the Certificate controller compares the
/// current request with its spec. The annotations stay: the revision, the
/// Certificate's name and the ACME renewal information are read from them.
pub fn trim(r: &mut CertificateRequest) {
    if is_finished(r) {
        r.metadata.labels = None;
    }
    if let Some(st) = r.status.as_mut() {
        st.certificate = None;
        st.ca = None;
    }
}

/// How the Certificate controller's index packs CertificateRequests: against the
/// JSON of an issued request as certgate makes them (keys, annotations, owner
/// reference, conditions), with the CSR held as its DER instead of base64 of PEM.
pub fn packing() -> Packing<CertificateRequest> {
    Packing::new(&typical_request(), csr_as_der, csr_as_pem)
}

/// Marks a CSR held as DER while packed: `*` is not base64, and the API server
/// accepts only base64 in `spec.request` (`format: byte`).
const DER_MARK: char = '*';

const CSR_LABEL: &str = "CERTIFICATE REQUEST";

/// `spec.request` (base64 of a PEM CSR) as `*` and the base64 of its DER, when
/// [`csr_as_pem`] gives back exactly the same text; otherwise unchanged.
fn csr_as_der(r: &mut CertificateRequest) {
    let request = &r.spec.request;
    let Ok(pem) = BASE64.decode(request) else {
        return;
    };
    let Ok(mut blocks) = crate::pki::pem::decode_all(&pem) else {
        return;
    };
    if blocks.len() != 1 || blocks[0].label != CSR_LABEL {
        return;
    }
    let der = std::mem::take(&mut blocks[0].der);
    let folded = format!("{DER_MARK}{}", BASE64.encode(&der));
    if unfolded(&folded).as_deref() == Some(request.as_str()) {
        r.spec.request = folded;
    }
}

/// Undoes [`csr_as_der`].
fn csr_as_pem(r: &mut CertificateRequest) {
    if let Some(request) = unfolded(&r.spec.request) {
        r.spec.request = request;
    }
}

fn unfolded(request: &str) -> Option<String> {
    let der = BASE64.decode(request.strip_prefix(DER_MARK)?).ok()?;
    Some(BASE64.encode(crate::pki::pem::encode(CSR_LABEL, &der)))
}

/// An issued request as certgate makes them, for the packing's dictionary (its CSR
/// left out: random bytes are no use to a dictionary).
fn typical_request() -> CertificateRequest {
    use crate::api::annotations as ann;
    use crate::api::certificate::KeyUsage;
    use crate::api::certificate_request::{CertificateRequestSpec, CertificateRequestStatus};
    use crate::api::meta::{ConditionStatus, IssuerReference, RequestCondition};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
    let time = Time(jiff::Timestamp::from_second(1_767_225_600).unwrap_or_default());
    let condition = |type_: &str, reason: &str, message: &str| RequestCondition {
        type_: type_.to_string(),
        status: ConditionStatus::True,
        last_transition_time: Some(time.clone()),
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
    };
    let name = "example-com-tls";
    CertificateRequest {
        metadata: ObjectMeta {
            name: Some(format!("{name}-1")),
            namespace: Some("default".to_string()),
            uid: Some("00000000-0000-0000-0000-000000000000".to_string()),
            resource_version: Some("100000".to_string()),
            generation: Some(1),
            creation_timestamp: Some(time.clone()),
            annotations: Some(
                [
                    (ann::CERTIFICATE_NAME, name),
                    (ann::CERTIFICATE_REVISION, "1"),
                    (ann::PRIVATE_KEY_SECRET_NAME, "example-com-tls-abcde"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ),
            owner_references: Some(vec![OwnerReference {
                api_version: "cert-manager.io/v1".to_string(),
                kind: "Certificate".to_string(),
                name: name.to_string(),
                uid: "00000000-0000-0000-0000-000000000000".to_string(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..Default::default()
        },
        spec: CertificateRequestSpec {
            duration: Some("2160h0m0s".to_string()),
            issuer_ref: IssuerReference {
                name: "letsencrypt".to_string(),
                kind: Some("ClusterIssuer".to_string()),
                group: Some("cert-manager.io".to_string()),
            },
            request: format!("{DER_MARK}MIIB"),
            usages: Some(vec![KeyUsage::DigitalSignature, KeyUsage::KeyEncipherment]),
            ..Default::default()
        },
        status: Some(CertificateRequestStatus {
            conditions: Some(vec![
                condition(
                    "Approved",
                    "cert-manager.io",
                    "Certificate request has been approved by cert-manager.io",
                ),
                condition(
                    "Ready",
                    "Issued",
                    "Certificate fetched from issuer successfully",
                ),
            ]),
            ..Default::default()
        }),
    }
}

/// Whether the request controller still works on the request: it is not finished,
/// or its ACME CA gave renewal information (ARI), which the controller asks for
/// again when the CA said to.
pub fn is_worked_on(r: &CertificateRequest) -> bool {
    !is_finished(r)
        || r.metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(crate::api::annotations::ACME_ARI_RENEWAL_TIME))
}

/// Whether no controller will act on the request any more: its Ready condition is
/// True, or False with reason Failed or Denied.
fn is_finished(r: &CertificateRequest) -> bool {
    crate::api::certificate_request::request_condition(r, "Ready").is_some_and(|c| {
        c.status == crate::api::ConditionStatus::True
            || matches!(c.reason.as_deref(), Some("Failed" | "Denied"))
    })
}

impl SharedRequests {
    /// Starts watching the CertificateRequests `ctx` serves (its namespace, or all;
    /// this replica's share when sharded), calling `hooks` on each event.
    /// The cache keeps the requests a controller still works on
    /// ([`is_worked_on`]); another is announced to subscribers and the hooks, then
    /// left to the index a hook keeps (the Certificate controller's, packed),
    /// which `not_kept` reads.
    pub fn start(
        ctx: &Context,
        hooks: Vec<Hook<CertificateRequest>>,
        not_kept: crate::runtime::shared_watch::NotKept<CertificateRequest>,
    ) -> Arc<SharedRequests> {
        let (watch, driver) =
            SharedWatch::start_keeping(ctx.api(), &ctx.config.shards, is_worked_on, trim, hooks);
        watch.set_not_kept(not_kept);
        Arc::new(SharedRequests { watch, driver })
    }
}

impl Drop for SharedRequests {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ConditionStatus;
    use crate::api::meta::RequestCondition;

    fn request(ready: Option<(ConditionStatus, &str)>) -> CertificateRequest {
        let mut r = CertificateRequest::new("r", Default::default());
        r.metadata.labels = Some([("team".to_string(), "a".to_string())].into());
        r.metadata.annotations = Some(
            [(
                "cert-manager.io/certificate-revision".to_string(),
                "1".to_string(),
            )]
            .into(),
        );
        r.spec.request = "Q1NS".into();
        r.status = Some(crate::api::certificate_request::CertificateRequestStatus {
            conditions: ready.map(|(status, reason)| {
                vec![RequestCondition {
                    type_: "Ready".into(),
                    status,
                    reason: Some(reason.into()),
                    last_transition_time: None,
                    message: None,
                }]
            }),
            certificate: Some("Y2VydA==".into()),
            ca: Some("Y2E=".into()),
            failure_time: None,
        });
        r
    }

    #[test]
    fn the_cache_keeps_requests_still_worked_on() {
        for (ready, ari, kept) in [
            (None, false, true),
            (Some((ConditionStatus::False, "Pending")), false, true),
            (Some((ConditionStatus::True, "Issued")), false, false),
            (Some((ConditionStatus::True, "Issued")), true, true),
            (Some((ConditionStatus::False, "Failed")), false, false),
            (Some((ConditionStatus::False, "Denied")), false, false),
        ] {
            let mut r = request(ready);
            if ari {
                r.metadata.annotations.get_or_insert_default().insert(
                    crate::api::annotations::ACME_ARI_RENEWAL_TIME.into(),
                    "2027-01-01T00:00:00Z".into(),
                );
            }
            assert_eq!(is_worked_on(&r), kept, "{ready:?}, ARI {ari}");
        }
    }

    #[test]
    fn a_pending_request_keeps_its_labels_for_the_order_a_finished_one_does_not() {
        for (ready, finished) in [
            (None, false),
            (Some((ConditionStatus::False, "Pending")), false),
            (Some((ConditionStatus::True, "Issued")), true),
            (Some((ConditionStatus::False, "Failed")), true),
            (Some((ConditionStatus::False, "Denied")), true),
        ] {
            let mut r = request(ready);
            trim(&mut r);
            assert_eq!(r.metadata.labels.is_none(), finished, "{ready:?}");
            // Always kept: the annotations and the CSR; always dropped: the
            // issued certificate and CA.
            assert!(r.metadata.annotations.is_some());
            assert_eq!(r.spec.request, "Q1NS");
            let st = r.status.as_ref().expect("status");
            assert!(st.certificate.is_none() && st.ca.is_none());
        }
    }

    /// A P-256 CSR for one DNS name, as `spec.request` holds it (base64 of the PEM).
    fn real_csr() -> String {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let params = rcgen::CertificateParams::new(vec!["web.example.com".to_string()]).unwrap();
        BASE64.encode(params.serialize_request(&key).unwrap().pem().unwrap())
    }

    fn issued(name: &str) -> CertificateRequest {
        let mut r = typical_request();
        r.metadata.name = Some(format!("{name}-1"));
        r.metadata.uid = Some(uuid::Uuid::new_v4().to_string());
        r.metadata.annotations.get_or_insert_default().insert(
            crate::api::annotations::CERTIFICATE_NAME.into(),
            name.into(),
        );
        r.spec.request = real_csr();
        r
    }

    #[test]
    fn a_csr_is_packed_as_its_der_and_unpacked_as_it_was() {
        let mut r = issued("web");
        let original = r.clone();
        csr_as_der(&mut r);
        assert!(r.spec.request.starts_with(DER_MARK), "{}", r.spec.request);
        // The DER is about three quarters of the PEM's bytes, which base64 again.
        assert!(r.spec.request.len() * 3 < original.spec.request.len() * 2);
        csr_as_pem(&mut r);
        assert_eq!(r, original);
        // Not a CSR in canonical PEM: left as it is, both ways.
        for request in [
            "Q1NS".to_string(),
            BASE64.encode(
                "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n",
            ),
            BASE64.encode(crate::pki::pem::encode("CERTIFICATE", b"0123")),
            BASE64
                .encode(crate::pki::pem::encode(CSR_LABEL, b"0123"))
                .replace('\n', "\r\n"),
        ] {
            let mut r = original.clone();
            r.spec.request = request.clone();
            csr_as_der(&mut r);
            csr_as_pem(&mut r);
            assert_eq!(r.spec.request, request);
        }
    }

    #[test]
    fn the_index_packs_a_request_to_under_half_of_its_deflated_json() {
        let packing = packing();
        for name in ["web", "api-gateway-tls", "a"] {
            let r = issued(name);
            let packed = packing.pack(r.clone()).ok().unwrap();
            assert_eq!(packing.unpack(&packed), Some(r.clone()));
            let alone = miniz_oxide::deflate::compress_to_vec(&serde_json::to_vec(&r).unwrap(), 1);
            assert!(
                packed.len() * 2 < alone.len(),
                "{name}: packed {} bytes, deflated alone {}",
                packed.len(),
                alone.len()
            );
        }
    }
}
