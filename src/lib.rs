//! certgate: a Kubernetes certificate controller serving the cert-manager API.

pub mod api;
pub mod certificates;
pub mod issuers;
pub mod controller;
pub mod manifests;
pub mod metrics;
pub mod demo;
