//! lp-rfq: a terminal RFQ aggregator for OTC desks.
//!
//! An operator's request ([`rfq::RfqSpec`]) becomes one [`rfq::Session`]
//! task that asks every liquidity provider ([`lp`]) for a firm quote at
//! once, picks the best, adds the desk's markup, locks the winner and keeps
//! polling the competitors. Everything the session learns leaves it as one
//! ordered stream of [`rfq::RfqEvent`]s that the outputs only consume.
//!
//! Where things live:
//! - [`market`]: sides, pairs, amounts, bps — parsed once, never invalid.
//! - [`clock`]: the one stream clock (paused-time exact, speed-adjustable).
//! - [`ids`]: RFQ and quote ids.
//! - [`lp`]: the `LiquidityProvider` trait, mock and scripted providers,
//!   and the FIX 4.4 RFQ venue (`lp::fix`: codec, session actor, adapter);
//!   each venue LP's shared health (`lp::health`, `lp::guarded`).
//! - [`rfq`]: events, pure pricing/validation, the engine state machine,
//!   and the session task that drives it.
//! - [`scenario`]: replayable casts of scripted LPs (`--scenario`).
//! - [`config`]: settings from defaults, `.env`, environment and flags.
//! - [`secret`]: API tokens, keys and passwords that cannot be printed.
//! - [`venues`]: the venues file (`[[lp]]` tables) parsed into typed specs.
//! - [`blotter`]: the quote blotter: the writer thread's policy over a
//!   store (`blotter::store`; SQLite's schema and migrations), replaying
//!   stored streams, and `lp-rfq report`, computed from the rows a store
//!   yields (`blotter::report_rows`).
//! - [`output`]: the headless outputs (`--plain` lines, `--json` lines).
//! - [`prompt`]: the line-by-line operator prompt (non-terminals, `--plain`).
//! - [`ui`]: the full-screen operator console: view state, form, drawing.
//! - [`recorder`]: a stream's record: every event into the blotter before
//!   its consumer sees it, inside the session's own task.
//! - [`bench`]: the `lp-rfq bench` load harness.
//! - [`app`]: the commands the binary runs, wiring the above together.

// `unsafe` is allowed only where it pays: the report's SQLite row reader
// (`blotter::sqlite_rows::raw`) and the bench's timer registration.
#![deny(unsafe_code)]

pub mod app;
pub mod bench;
pub mod blotter;
pub mod cli;
pub mod clock;
pub mod config;
pub mod desk;
pub mod flags;
pub mod ids;
pub mod logging;
pub mod lp;
pub mod market;
pub mod output;
pub mod prompt;
pub mod recorder;
pub mod rfq;
pub mod scenario;
pub mod secret;
pub mod signals;
pub mod ui;
pub mod venues;
