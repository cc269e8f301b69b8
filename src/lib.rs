//! certgate: a Kubernetes certificate controller serving the cert-manager API.

pub mod api;
