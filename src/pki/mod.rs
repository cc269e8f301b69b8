//! Public-key infrastructure helpers shared by the issuers and the Certificate
//! loops: today the certificate-chain parser; the key and CSR code of
//! `certificates::keys` moves here (#17). Pure functions; no Kubernetes, no I/O.

pub mod chain;
