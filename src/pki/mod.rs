//! Public-key infrastructure: private keys (`key`), certificate signing requests
//! (`csr`), PEM and DER (`pem`, `der`, `oids`), certificate chains (`chain`),
//! decoding and matching (`parse`, `matching`), literal subjects (`subject`).
//! The one place keys and requests are encoded and decoded. Pure functions; no
//! Kubernetes, no I/O; nothing here formats private key material.

pub mod chain;
pub mod csr;
pub mod der;
pub mod key;
pub mod matching;
pub mod oids;
pub mod output_formats;
pub mod parse;
pub mod pem;
pub mod subject;
