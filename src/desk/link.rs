//! The desk a consumer talks to: this process's own [`Desk`] (local mode)
//! or a desk server over its connection ([`RemoteDesk`], `--desk`). The
//! console, the prompt and headless `quote` are written once against
//! [`DeskLink`]; streams look the same from either.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::blotter::BlotterStats;
use crate::config::Settings;
use crate::desk::protocol::DeskFacts;
use crate::desk::registry::Quotable;
use crate::desk::remote::RemoteDesk;
use crate::desk::{Desk, PauseControl, StreamHandle};
use crate::rfq::QuoteRequest;
use crate::streams::DeskEvent;

/// Who pauses a client on a desk in this process: whoever runs it (a
/// desk server names its operators).
const LOCAL_OPERATOR: &str = "local";

/// See the module docs.
pub enum DeskLink<'a> {
    /// This process's desk.
    Local(&'a Desk),
    /// A desk server. `settings` are this operator's own: the entry
    /// checks (MAX_NOTIONAL, MIN_NOTIONAL) and the log file; the desk's
    /// terms come from its welcome (`facts`), and it checks every request
    /// again itself.
    Remote {
        desk: RemoteDesk,
        settings: &'a Settings,
        /// The operator confirmed any notional limit beforehand
        /// (`quote --confirm-notional`).
        confirm_notional: bool,
    },
}

impl DeskLink<'_> {
    /// The settings the consumer checks entries against and logs by.
    pub fn settings(&self) -> &Settings {
        match self {
            DeskLink::Local(desk) => desk.settings(),
            DeskLink::Remote { settings, .. } => settings,
        }
    }

    /// The desk's terms and LPs.
    pub fn facts(&self) -> DeskFacts {
        match self {
            DeskLink::Local(desk) => desk.facts(),
            DeskLink::Remote { desk, .. } => desk.facts().clone(),
        }
    }

    /// The pairs the desk's LPs quote.
    pub fn quotable(&self) -> Quotable {
        match self {
            DeskLink::Local(desk) => desk.registry().quotable().clone(),
            DeskLink::Remote { desk, .. } => desk.facts().quotable(),
        }
    }

    /// Every LP of the desk is a simulation.
    pub fn simulated(&self) -> bool {
        match self {
            DeskLink::Local(desk) => desk.registry().simulated(),
            DeskLink::Remote { desk, .. } => desk.facts().simulated,
        }
    }

    /// Whom requests may be for. A desk server names its clients in its
    /// welcome and keeps their terms: a request names one of them, and
    /// the server holds it to the client's terms when it starts.
    pub fn clients(&self) -> crate::clients::Clients {
        match self {
            DeskLink::Local(desk) => desk.clients().clone(),
            DeskLink::Remote { desk, .. } => {
                crate::clients::Clients::named_by_desk(&desk.facts().clients)
            }
        }
    }

    /// Whether `request`'s client may make it now (see [`Desk::admit`]); a
    /// desk server checks it when the request reaches it.
    pub fn admit(&self, request: &QuoteRequest) -> Result<(), crate::clients::ClientRefusal> {
        match self {
            DeskLink::Local(desk) => desk.admit(request),
            DeskLink::Remote { .. } => Ok(()),
        }
    }

    /// Starts a stream; a refusal comes as a stream that says why and
    /// ends (as [`Desk::start`]).
    pub async fn start(&self, request: impl Into<QuoteRequest>) -> StreamHandle {
        match self {
            DeskLink::Local(desk) => desk.start(request),
            DeskLink::Remote { desk, .. } => {
                let request = request.into();
                let confirmed = self.notional_confirmed(&request);
                match desk.try_start(request, confirmed).await {
                    Ok(handle) => handle,
                    Err(error) => crate::desk::refused_stream(format!("{error:#}")),
                }
            }
        }
    }

    /// Starts a stream, or says why the desk would not.
    pub async fn try_start(
        &self,
        request: impl Into<QuoteRequest>,
    ) -> anyhow::Result<StreamHandle> {
        match self {
            DeskLink::Local(desk) => Ok(desk.try_start(request)?),
            DeskLink::Remote { desk, .. } => {
                let request = request.into();
                let confirmed = self.notional_confirmed(&request);
                desk.try_start(request, confirmed).await
            }
        }
    }

    /// Whether the operator has confirmed `request`'s notional, as the
    /// desk server asks before it takes one above its own limits: the
    /// console and the prompt send a request above the operator's limits
    /// only once confirmed, and `quote` only with --confirm-notional.
    fn notional_confirmed(&self, request: &QuoteRequest) -> bool {
        match self {
            DeskLink::Local(_) => true,
            DeskLink::Remote {
                settings,
                confirm_notional,
                ..
            } => {
                *confirm_notional
                    || settings
                        .notional_limits()
                        .check(request.spec.pair, request.spec.fixed, request.spec.amount)
                        .warning()
                        .is_some()
            }
        }
    }

    /// Every desk-wide fact from now on.
    pub fn subscribe_desk(&self) -> broadcast::Receiver<DeskEvent> {
        match self {
            DeskLink::Local(desk) => desk.subscribe_desk(),
            DeskLink::Remote { desk, .. } => desk.subscribe_desk(),
        }
    }

    /// The desk view now, when this process holds the desk; a desk
    /// server's arrives as a [`DeskEvent::Resync`] once subscribed.
    pub fn desk_view(&self) -> Option<crate::streams::DeskView> {
        match self {
            DeskLink::Local(desk) => Some(desk.desk_view()),
            DeskLink::Remote { .. } => None,
        }
    }

    /// Completes once a desk server's connection is lost (never for this
    /// process's own desk).
    pub async fn lost(&self) -> crate::desk::remote::DeskGone {
        match self {
            DeskLink::Local(_) => std::future::pending().await,
            DeskLink::Remote { desk, .. } => desk.lost().await,
        }
    }

    /// The first blotter write problem this process knows of (a desk
    /// server's blotter trouble reaches its operators as desk events).
    pub fn blotter_problem(&self) -> Option<String> {
        match self {
            DeskLink::Local(desk) => desk.blotter_problem(),
            DeskLink::Remote { .. } => None,
        }
    }

    /// Pauses or resumes a client, or turns the kill switch, on the desk:
    /// a line saying what came of it, or why it was not done. In this
    /// process the operator is the one running it (`local`).
    pub async fn control(&self, control: PauseControl) -> Result<String, String> {
        match self {
            DeskLink::Local(desk) => desk
                .control(&Arc::from(LOCAL_OPERATOR), &control)
                .map(|change| control.outcome(&change, LOCAL_OPERATOR))
                .map_err(|error| error.to_string()),
            DeskLink::Remote { desk, .. } => desk
                .control(control.clone())
                .await
                .map(|change| control.outcome(&change, desk.operator())),
        }
    }

    /// The blotter's counters, if this process has one open.
    pub fn blotter_stats(&self) -> Option<BlotterStats> {
        match self {
            DeskLink::Local(desk) => desk.blotter_stats(),
            DeskLink::Remote { .. } => None,
        }
    }
}
