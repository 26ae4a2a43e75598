//! lp-rfq: a terminal RFQ aggregator for OTC desks.
//!
//! An operator's request ([`rfq::RfqSpec`]) becomes one [`rfq::Session`]
//! task that asks every liquidity provider ([`lp`]) for a firm quote at
//! once, picks the best, adds the desk's markup, locks the winner and keeps
//! polling the competitors. Everything the session learns leaves it as one
//! ordered stream of [`rfq::RfqEvent`]s that the outputs only consume.
//!
//! Where things live, from the bottom up (a module imports only from its
//! own layer or those before it; `tests/integration/layers.rs` checks that
//! `lp` imports nothing above it and that no two modules import each
//! other):
//! - [`market`]: sides, pairs, amounts, bps, price bands — parsed once,
//!   never invalid. [`clock`]: the one stream clock (paused-time exact,
//!   speed-adjustable). `ids`: RFQ and quote ids. [`secret`]: API
//!   tokens, keys and passwords that cannot be printed. [`signals`]:
//!   Ctrl+C, SIGTERM and SIGHUP as messages. `private_files`: records
//!   created 0600 in directories created 0700.
//! - [`lp`]: the `LiquidityProvider` trait, mock and scripted providers,
//!   the venue adapters (`lp::adapter` what they all share, `lp::http`
//!   the REST ones, `lp::fix` the FIX 4.4 RFQ venue: codec, session
//!   actor, adapter), each venue LP's shared health (`lp::health`,
//!   `lp::guarded`) and its own thread (`lp::isolated`).
//! - [`rfq`]: the request (`rfq::spec`), events, pure
//!   pricing/validation/sanity, the engine state machine, the session
//!   task that drives it, and `rfq::two_way` (a two-way request's bid and
//!   offer sessions joined into one stream). [`scenario`]: replayable casts of scripted LPs
//!   (`--scenario`).
//! - [`blotter`]: the quote blotter: the writer thread's policy over a
//!   store (`blotter::store`; SQLite's schema and migrations, and
//!   PostgreSQL's in `blotter::postgres`), replaying
//!   stored streams, and `lp-rfq report`, computed from the rows a store
//!   yields (`blotter::report_rows`); `blotter::orders`: orders on
//!   record, the unresolved ones, and outcomes learned later, appended.
//!   `recorder`: a stream's record: every event into the blotter before
//!   its consumer sees it, inside the session's own task.
//!   [`streams`]: the desk's registry of live streams: snapshots,
//!   numbered events and commands for any number of subscribers, the
//!   desk-wide facts pushed to them, and which clients the desk has
//!   paused (`streams::ClientPauses`; operators' actions on the record
//!   in `blotter::desk_actions`).
//! - [`config`]: settings from defaults, `.env`, environment and flags
//!   (`flags`). [`venues`]: the venues file (`[[lp]]` and `[[reference]]`
//!   tables, `[bands]`) parsed
//!   into typed specs. [`operators`]: the desk server's operators file.
//!   [`clients`]: the clients file (`[[client]]` tables): each client's
//!   markup and limits, held before any LP is asked. [`tls`]: the desk
//!   server's certificate and key opening its sockets, and the CA a
//!   console trusts it by (`--desk wss://…`). [`desk`]: what
//!   lives for the whole process: the LP registry (`desk::registry`), the
//!   blotter, starting streams, `lp-rfq lps --check` (`desk::check`),
//!   start-up reconciliation of unknown orders with their venues
//!   (`desk::reconcile`), the desk server's wire (`desk::protocol`), an
//!   operator's connection to it (`desk::remote`) and `desk::link`, the
//!   desk a consumer talks to (this process's or a server's).
//! - [`output`]: the headless outputs (`--plain` lines, `--json` lines).
//!   [`prompt`]: the line-by-line operator prompt (non-terminals,
//!   `--plain`). [`ui`]: the full-screen operator console: view state
//!   split by what it reduces (`ui::state`: stream, history, keys, desk),
//!   the form, and drawing one file per panel (`ui::render`) in the
//!   colours of `ui::theme`.
//! - [`client_api`]: clients asking for quotes themselves (the messages,
//!   a session's requests, quotes and orders built from the client view,
//!   the WebSocket and FIX 4.4 transports). `ws_edge`: what every WebSocket
//!   connection shares (the upgrade's deadline, the bounded outbox and
//!   its writer). [`server`]: `lp-rfq serve`, the desk server operators
//!   attach to, and clients' sessions.
//!   `bench`: the `lp-rfq bench` load harness and the timings it takes
//!   of each session (the product's sessions carry none of it). [`cli`]: the
//!   subcommands. [`app`]: the commands the binary runs, wiring the above
//!   together.
//!
//! The public surface is what the binary, the integration tests and the
//! benches use; everything else is `pub(crate)`, and `bench`, `flags`,
//! `ids`, `private_files`, `recorder` and `ws_edge` are internal modules.

// `unsafe` is allowed only where it pays: the report's SQLite row reader
// (`blotter::sqlite_rows::raw`) and the bench's timer registration.
#![deny(unsafe_code)]

// First: its macro is textually scoped to the modules declared after it.
#[macro_use]
mod wire_enum;

pub mod app;
pub(crate) mod bench;
pub mod blotter;
pub mod cli;
pub mod client_api;
pub mod clients;
pub mod clock;
pub mod config;
pub mod desk;
pub(crate) mod flags;
pub(crate) mod ids;
pub mod logging;
pub mod lp;
pub mod market;
pub mod operators;
pub mod output;
pub(crate) mod private_files;
pub mod prompt;
pub(crate) mod recorder;
pub mod rfq;
pub mod scenario;
pub mod secret;
pub mod server;
pub mod signals;
pub mod streams;
pub mod tls;
pub mod ui;
pub mod venues;
pub(crate) mod ws_edge;
