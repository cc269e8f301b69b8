//! What the controllers share at run time. Today: one watch per kind, shared by
//! every controller that reads the kind (`shared_watch`). The context, events,
//! leader election and clock of `src/controller/` move here as #17 goes on.
//! Nothing in here knows a feature; features take what they need from it.

pub mod shared_watch;
