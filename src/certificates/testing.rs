//! Builders for the loops' table tests: Certificates, issued Secrets, next keys and
//! CertificateRequests made with the real key, CSR and signing code.

use base64::Engine;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use std::collections::BTreeMap;

use crate::api::annotations as ann;
use crate::api::certificate::{CertificatePrivateKey, PrivateKeyAlgorithm, PrivateKeyEncoding};
use crate::api::meta::{Condition, ConditionStatus, IssuerReference};
use crate::api::{
    Certificate, CertificateRequest, CertificateRequestSpec, CertificateSpec, CertificateStatus,
};
use crate::certificates::policy::SecretSnapshot;
use crate::certificates::snapshot::{NextKey, Snapshot};
use crate::issuers::signer::SignOptions;
use crate::pki::csr::build_csr;
use crate::pki::key::{KeyAlgorithm, PrivateKey};

/// A Certificate with an ECDSA P-256 key, issued by the `ca` ClusterIssuer.
pub fn cert(name: &str, dns: &[&str]) -> Certificate {
    let mut c = Certificate::new(
        name,
        CertificateSpec {
            secret_name: format!("{name}-tls"),
            dns_names: Some(dns.iter().map(|d| d.to_string()).collect()),
            private_key: Some(CertificatePrivateKey {
                algorithm: Some(PrivateKeyAlgorithm::Ecdsa),
                size: Some(256),
                ..Default::default()
            }),
            issuer_ref: IssuerReference {
                name: "ca".into(),
                kind: Some("ClusterIssuer".into()),
                group: None,
            },
            ..Default::default()
        },
    );
    c.metadata.namespace = Some("ns".into());
    c.metadata.uid = Some("uid-1".into());
    c.metadata.generation = Some(1);
    c
}

pub fn snapshot(certificate: Certificate, secret: Option<SecretSnapshot>) -> Snapshot {
    Snapshot {
        certificate,
        secret,
        next_key: None,
        stale_keys: Vec::new(),
        requests: Vec::new(),
        now: jiff::Timestamp::now(),
    }
}

/// Issuing=True.
pub fn issuing(mut s: Snapshot) -> Snapshot {
    let status = s
        .certificate
        .status
        .get_or_insert_with(CertificateStatus::default);
    status
        .conditions
        .get_or_insert_with(Vec::new)
        .push(Condition {
            type_: "Issuing".into(),
            status: ConditionStatus::True,
            last_transition_time: Some(Time(s.now)),
            reason: Some("DoesNotExist".into()),
            message: Some("Issuing certificate as Secret does not exist".into()),
            observed_generation: Some(1),
        });
    s
}

fn key_for(c: &Certificate) -> PrivateKey {
    PrivateKey::generate(KeyAlgorithm::from_spec(c.spec.private_key.as_ref()).expect("algorithm"))
        .expect("key")
}

/// A next key Secret matching the spec.
pub fn with_next_key(mut s: Snapshot) -> Snapshot {
    let key = key_for(&s.certificate);
    let pem = key.to_pem(PrivateKeyEncoding::Pkcs8).expect("pem");
    s.next_key = Some(NextKey {
        name: format!("{}-next", s.name()),
        pem: Some(pem.into_bytes()),
    });
    s.certificate
        .status
        .get_or_insert_with(Default::default)
        .next_private_key_secret_name = s.next_key.as_ref().map(|k| k.name.clone());
    s
}

/// The CertificateRequest the request manager would make for `revision`.
pub fn request_for(s: &Snapshot, revision: i32) -> CertificateRequest {
    let pem = s
        .next_key
        .as_ref()
        .and_then(|k| k.pem.clone())
        .expect("a next key");
    let key = PrivateKey::from_pem(&pem).expect("key");
    let csr = build_csr(&s.certificate.spec, &key).expect("csr");
    let mut annotations = BTreeMap::new();
    annotations.insert(ann::CERTIFICATE_REVISION.to_string(), revision.to_string());
    annotations.insert(ann::CERTIFICATE_NAME.to_string(), s.name().to_string());
    CertificateRequest {
        metadata: ObjectMeta {
            name: Some(format!("{}-{revision}", s.name())),
            namespace: Some(s.namespace().to_string()),
            annotations: Some(annotations),
            ..Default::default()
        },
        spec: CertificateRequestSpec {
            request: base64::engine::general_purpose::STANDARD.encode(csr),
            issuer_ref: s.certificate.spec.issuer_ref.clone(),
            ..Default::default()
        },
        status: None,
    }
}

/// A Certificate whose Secret holds a certificate issued for its spec (revision 1).
pub fn issued_snapshot(certificate: Certificate) -> Snapshot {
    let mut s = with_next_key(issuing(snapshot(certificate, None)));
    let req = request_for(&s, 1);
    let key = PrivateKey::from_pem(
        s.next_key
            .as_ref()
            .and_then(|k| k.pem.as_deref())
            .expect("key"),
    )
    .expect("key");
    let csr = build_csr(&s.certificate.spec, &key).expect("csr");
    let signed = crate::issuers::selfsigned::sign(
        csr.as_bytes(),
        &key,
        &SignOptions::new(std::time::Duration::from_secs(90 * 86_400)),
    )
    .expect("signs");
    let built = crate::certificates::secret_data::build(
        &s.certificate,
        signed.certificate_pem.as_bytes(),
        Some(signed.ca_pem.as_bytes()),
        s.next_key
            .as_ref()
            .and_then(|k| k.pem.as_deref())
            .expect("key"),
        None,
        &Default::default(),
    )
    .expect("secret");
    s.secret = Some(SecretSnapshot {
        name: s.certificate.spec.secret_name.clone(),
        type_: Some("kubernetes.io/tls".into()),
        data: built.data,
        annotations: built.annotations,
        labels: built.labels,
        owner_references: Vec::new(),
    });
    s.requests.push(req);
    s.next_key = None;
    let status = s.certificate.status.get_or_insert_with(Default::default);
    status.revision = Some(1);
    status.next_private_key_secret_name = None;
    status.conditions = None;
    s
}
