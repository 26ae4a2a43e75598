//! The RFQ itself: the event stream it produces, the pure pricing and
//! validation rules, the state machine that decides (split into request
//! bookkeeping, the book, the lock rules and the client offer), the
//! session task that drives it, a request's own terms (`request`), what
//! its client may see of it (`client_view`) and the desk's reference
//! prices that corroborate a lone LP (`reference`), and a two-way
//! request's two sides joined into one stream (`two_way`), its LPs
//! asked once per poll for both sides where they can be (`paired_lp`).

pub(crate) mod book;
pub(crate) mod client_id;
pub mod client_view;
pub mod engine;
pub mod event;
pub mod execution;
pub mod inbox;
pub(crate) mod lock;
pub(crate) mod offer;
pub mod outlet;
pub(crate) mod paired_lp;
pub mod pricing;
pub(crate) mod probe;
pub mod reference;
pub(crate) mod request;
pub(crate) mod requests;
pub mod sanity;
pub mod session;
pub(crate) mod spec;
pub mod two_way;
pub(crate) mod validate;

pub use client_id::{Channel, ClientId};
pub use engine::EngineParams;
pub use event::{EndReason, EventKind, RfqEvent};
pub use request::{QuoteRequest, RequestParams};
pub use session::{Session, StreamCommand};
pub use spec::RfqSpec;
