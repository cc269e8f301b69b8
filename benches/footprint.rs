//! What one cached object costs (#18): each kind the controllers keep per
//! Certificate is decoded from the JSON the API server sends, trimmed as its cache
//! trims it, and kept, a thousand times; a counting allocator reports the heap it
//! holds (malloc's usable size of each allocation, so allocator rounding counts).
//!
//! `cargo bench --bench footprint` prints bytes per object and the inline size of
//! each type: where the memory of `benches/scale.rs` goes, one kind at a time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};

use certgate::api::{Certificate, CertificateRequest};
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use serde_json::json;

/// Bytes the program holds from malloc.
static LIVE: AtomicIsize = AtomicIsize::new(0);

struct Counting;

fn usable(p: *mut u8) -> isize {
    // SAFETY: p was returned by the system allocator and is not yet freed.
    unsafe { libc::malloc_usable_size(p.cast()) as isize }
}

// SAFETY: every call is forwarded to the system allocator unchanged; the counter
// only reads the size of the blocks it hands out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as given.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(usable(p), Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        LIVE.fetch_sub(usable(p), Ordering::Relaxed);
        // SAFETY: forwarded as given.
        unsafe { System.dealloc(p, layout) }
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let before = usable(p);
        // SAFETY: forwarded as given.
        let q = unsafe { System.realloc(p, layout, new_size) };
        if !q.is_null() {
            LIVE.fetch_add(usable(q) - before, Ordering::Relaxed);
        }
        q
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const N: usize = 1000;

/// Heap bytes per object kept of `make(i)` for i in 0..N.
fn per_object<T>(make: impl Fn(usize) -> T) -> f64 {
    let before = LIVE.load(Ordering::Relaxed);
    let kept: Vec<Arc<T>> = (0..N).map(|i| Arc::new(make(i))).collect();
    let after = LIVE.load(Ordering::Relaxed);
    let vec_bytes = (kept.capacity() * std::mem::size_of::<Arc<T>>()) as isize;
    drop(kept);
    (after - before - vec_bytes) as f64 / N as f64
}

fn meta(i: usize, kind: &str) -> serde_json::Value {
    json!({"name": format!("c{i:05}"), "namespace": "default",
        "uid": uuid::Uuid::new_v4().to_string(), "resourceVersion": format!("{}", 100_000 + i),
        "generation": 1, "creationTimestamp": "2026-12-05T09:00:00Z",
        "managedFields": [{"manager": kind, "operation": "Update", "apiVersion": "cert-manager.io/v1",
            "time": "2026-12-05T09:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:secretName": {}, "f:dnsNames": {}}}}]})
}

fn condition(type_: &str, reason: &str, message: &str) -> serde_json::Value {
    json!({"type": type_, "status": "True", "reason": reason, "message": message,
        "lastTransitionTime": "2026-12-05T09:00:05Z", "observedGeneration": 1})
}

/// An issued Certificate as the API server sends it.
fn certificate_json(i: usize) -> String {
    json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": meta(i, "bench"),
        "spec": {"secretName": format!("c{i:05}-tls"), "dnsNames": [format!("c{i}.bench.example")],
            "privateKey": {"algorithm": "ECDSA", "size": 256}, "issuerRef": {"name": "ca"}},
        "status": {"conditions": [condition("Ready", "Ready", "Certificate is up to date and has not expired")],
            "notBefore": "2026-12-05T09:00:05Z", "notAfter": "2027-03-05T09:00:05Z",
            "renewalTime": "2027-02-03T09:00:05Z", "revision": 1}})
    .to_string()
}

/// An issued CertificateRequest as the API server sends it.
fn request_json(i: usize) -> String {
    let mut m = meta(i, "certgate");
    m["name"] = json!(format!("c{i:05}-1"));
    m["annotations"] = json!({"cert-manager.io/certificate-name": format!("c{i:05}"),
        "cert-manager.io/certificate-revision": "1",
        "cert-manager.io/private-key-secret-name": format!("c{i:05}-x7k2p")});
    m["ownerReferences"] = json!([{"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "name": format!("c{i:05}"), "uid": uuid::Uuid::new_v4().to_string(),
        "controller": true, "blockOwnerDeletion": true}]);
    let csr = "A".repeat(640);
    let pem = "B".repeat(900);
    json!({"apiVersion": "cert-manager.io/v1", "kind": "CertificateRequest", "metadata": m,
        "spec": {"issuerRef": {"name": "ca"}, "request": csr, "usages": ["digital signature", "key encipherment"]},
        "status": {"conditions": [condition("Approved", "cert-manager.io", "Certificate request has been approved by cert-manager.io"),
            condition("Ready", "Issued", "Certificate fetched from issuer successfully")],
            "certificate": pem, "ca": pem}})
    .to_string()
}

/// A P-256 CSR for one DNS name, as `spec.request` holds it (base64 of the PEM).
fn real_csr_b64() -> String {
    use base64::Engine as _;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let params = rcgen::CertificateParams::new(vec!["c1.bench.example".to_string()]).unwrap();
    let pem = params.serialize_request(&key).unwrap().pem().unwrap();
    base64::engine::general_purpose::STANDARD.encode(pem)
}

/// The metadata of an issued TLS Secret as a metadata-only watch sends it.
fn secret_meta_json(i: usize) -> String {
    let mut m = meta(i, "certgate");
    m["name"] = json!(format!("c{i:05}-tls"));
    m["labels"] = json!({"controller.cert-manager.io/fao": "true"});
    m["annotations"] = json!({"cert-manager.io/alt-names": format!("c{i}.bench.example"),
        "cert-manager.io/certificate-name": format!("c{i:05}"), "cert-manager.io/common-name": "",
        "cert-manager.io/ip-sans": "", "cert-manager.io/issuer-group": "", "cert-manager.io/issuer-kind": "Issuer",
        "cert-manager.io/issuer-name": "ca", "cert-manager.io/uri-sans": ""});
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": m}).to_string()
}

fn main() {
    let certs: Vec<String> = (0..N).map(certificate_json).collect();
    let requests: Vec<String> = (0..N).map(request_json).collect();
    let secrets: Vec<String> = (0..N).map(secret_meta_json).collect();
    let trim_meta =
        |m: &mut kube::api::ObjectMeta| certgate::runtime::reconcile::drop_unread_metadata(m);

    let certificate = per_object(|i| {
        let mut c: Certificate = serde_json::from_str(&certs[i]).unwrap();
        trim_meta(&mut c.metadata);
        c
    });
    let request = per_object(|i| {
        let mut r: CertificateRequest = serde_json::from_str(&requests[i]).unwrap();
        trim_meta(&mut r.metadata);
        certgate::runtime::shared_requests::trim(&mut r);
        r
    });
    // As the Certificate controller's index keeps every request: trimmed alike,
    // its JSON deflated (the request cache itself keeps only unfinished requests).
    // The filler CSR of `request_json` would deflate better than a real one's
    // base64: a real one is used here.
    let csr = real_csr_b64();
    let issued = |i: usize| {
        let mut r: CertificateRequest = serde_json::from_str(&requests[i]).unwrap();
        trim_meta(&mut r.metadata);
        certgate::runtime::shared_requests::trim(&mut r);
        r.spec.request = csr.clone();
        r
    };
    // Deflated alone (how the index packed them until the dictionary).
    let request_deflated = per_object(|i| {
        let json = serde_json::to_vec(&issued(i)).unwrap();
        miniz_oxide::deflate::compress_to_vec(&json, 1).into_boxed_slice()
    });
    let packing = certgate::runtime::shared_requests::packing();
    let request_packed = per_object(|i| packing.pack(issued(i)).ok().unwrap());
    let secret = per_object(|i| {
        let mut s: PartialObjectMeta<Secret> = serde_json::from_str(&secrets[i]).unwrap();
        trim_meta(&mut s.metadata);
        s
    });
    println!("footprint: heap held per cached object (malloc usable sizes, {N} objects each)");
    for (what, bytes, inline) in [
        (
            "Certificate (issued)",
            certificate,
            std::mem::size_of::<Certificate>(),
        ),
        (
            "CertificateRequest (issued, as the shared request cache trims it)",
            request,
            std::mem::size_of::<CertificateRequest>(),
        ),
        (
            "CertificateRequest (issued, real P-256 CSR), its JSON deflated alone",
            request_deflated,
            std::mem::size_of::<Box<[u8]>>(),
        ),
        (
            "CertificateRequest (issued, real P-256 CSR), packed as the index of requests by owner keeps it (CSR as DER, deflated against a typical request)",
            request_packed,
            std::mem::size_of::<Box<[u8]>>(),
        ),
        (
            "Secret metadata (issued TLS Secret)",
            secret,
            std::mem::size_of::<PartialObjectMeta<Secret>>(),
        ),
    ] {
        println!("  {what}: {bytes:.0} bytes ({inline} inline)");
    }
}
