//! The operator's commands (`certgate status | renew | inspect | check | diagnose |
//! approve | deny | create`), in cmctl's spirit:
//! one screen with everything needed to see why a Certificate is (not) Ready.

pub mod approve;
pub mod check;
pub mod compat_flags;
pub mod controller_config;
pub mod create;
pub mod diagnose;
pub mod inspect;
pub mod renew;
pub mod status;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{kind} {namespace}/{name} not found")]
    NotFound {
        kind: &'static str,
        namespace: String,
        name: String,
    },
    #[error("API request failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("Secret {0} holds no certificate in tls.crt")]
    NoCertificate(String),
}
