//! Certificate intents: what an annotated Ingress, Gateway or ListenerSet asks for.
//! The shims reduce their objects to a [`Source`] (`source`); one pure builder
//! (`builder`) turns a Source, the Certificates it owns and those it collides with
//! into a [`Plan`] (`plan`); `apply` carries the plan out; `ownership` says which
//! Certificates a source owns (by reference or, across namespaces, by label) and
//! keeps the one index of them. This module must not know Ingresses or Gateways.

pub mod annotations;
pub mod apply;
pub mod builder;
pub mod ownership;
pub mod plan;
pub mod source;

pub use builder::*;
pub use ownership::{OWNER_ANNOTATION, OWNER_UID_LABEL, is_owned_by, owner_uids};
pub use plan::*;
pub use source::*;
