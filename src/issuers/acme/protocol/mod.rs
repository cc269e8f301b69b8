//! certgate's own ACME client (RFC 8555), the ACME issuer's client: account keys of
//! the kinds cert-manager's Secrets hold (RSA 2048–4096, ECDSA P-256/P-384, in
//! PKCS#1, SEC1 or PKCS#8 PEM), external account binding, orders for DNS names
//! and IP addresses with profiles and ARI `replaces`, certificate download with
//! the alternate chains of the `Link` headers and `preferredChain` selection, and
//! renewal information (RFC 9773).
//!
//! One file per job: [`jws`] signs, [`keys`] loads and makes account keys,
//! [`directory`], [`nonce`], [`http`] (transport, metrics, Retry-After, size cap),
//! [`links`], [`problem`] (RFC 7807 and the [`Error`] type), [`resources`] (the
//! ACME objects), [`renewal`] (ARI), [`chains`] (preferred chain, pure) and
//! [`client`] (the operations).

pub mod chains;
pub mod client;
pub mod directory;
pub mod http;
pub mod jws;
pub mod keys;
pub mod links;
pub mod nonce;
pub mod problem;
pub mod renewal;
pub mod resources;

pub use client::{Account, CertificateChain, Client, ClientOptions, Registration};
pub use http::HttpOptions;
pub use jws::EabKey;
pub use keys::{AccountKey, AccountKeyAlgorithm};
pub use problem::{Error, Problem};
pub use resources::{
    Authorization, AuthorizationStatus, Challenge, ChallengeStatus, Identifier, NewAccount,
    NewOrder, Order, OrderStatus,
};
