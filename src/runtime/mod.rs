//! What the controllers share at run time: the context every controller has
//! (`context`), one watch per kind shared by every reader (`shared_watch`,
//! `shared_certificates`, `shared_requests`), owner indexes over watches (`owner_index`), events
//! (`events`), leader election (`leader`), work shared across replicas
//! (`shards`), the clock (`clock`) and how loops are
//! run and their failures logged (`reconcile`). Nothing in here knows a feature;
//! features take what they need from it and the wiring (`crate::controller`)
//! hands it to them.

pub mod allocator;
pub mod client;
pub mod clock;
pub mod context;
pub mod events;
pub mod leader;
pub mod owner_index;
pub mod packing;
pub mod recent_writes;
pub mod reconcile;
pub mod shards;
pub mod shared_certificates;
pub mod shared_requests;
pub mod shared_watch;

pub use context::Context;
