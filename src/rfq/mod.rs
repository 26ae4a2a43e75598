//! The RFQ itself: the event stream it produces, the pure pricing and
//! validation rules, the state machine that decides, and the session task
//! that drives it.

pub mod engine;
pub mod event;
pub mod pricing;
pub mod probe;
pub mod session;
pub mod validate;

pub use engine::{EngineParams, RfqSpec};
pub use event::{EndReason, EventKind, RfqEvent};
pub use session::Session;
