//! certgate: a Kubernetes certificate controller serving the cert-manager API.

pub mod acmesolver;
pub mod admission;
pub mod api;
pub mod cainjector;
pub mod certificates;
pub mod cli;
pub mod controller;
pub mod demo;
pub mod dns01;
pub mod gateway;
pub mod gocompat;
pub mod http01;
pub mod ingress_shim;
pub mod intent;
pub mod issuers;
pub mod manifests;
pub mod metrics;
pub mod pki;
pub mod runtime;
pub mod tlsalpn01;
