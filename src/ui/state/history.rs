//! The session's history: one line per finished stream, kept on screen
//! only (nothing here is saved).

use std::sync::Arc;

use rust_decimal::Decimal;

use super::stream::ConsoleState;
use super::{App, Screen};
use crate::rfq::event::{EndReason, Outcome};
use crate::rfq::RfqSpec;

/// One finished stream in the session's history panel.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub time: String,
    pub spec: RfqSpec,
    /// Both sides were asked (`spec.side` is then the offer's).
    pub two_way: bool,
    pub final_lp: Option<Arc<str>>,
    pub client_price: Option<Decimal>,
    pub improvements: u32,
    pub reason: EndReason,
    /// How the client's acceptance ended: a filled RFQ must not look like
    /// one that was only stopped.
    pub outcome: Outcome,
}

impl HistoryEntry {
    /// The history line for a stream that has ended.
    pub fn from_state(state: &ConsoleState) -> Option<HistoryEntry> {
        let request = state.request.as_ref()?;
        let ended = state.ended.as_ref()?;
        Some(HistoryEntry {
            time: request.started_local.clone(),
            spec: request.spec(),
            two_way: request.two_way,
            final_lp: ended.lp.clone(),
            client_price: ended.client_price,
            improvements: ended.improvements,
            reason: ended.reason,
            outcome: ended.outcome,
        })
    }
}

impl App {
    /// The stream is over: its `ended` arrived, or it failed with `error`.
    pub(crate) fn stream_ended(&mut self, error: Option<String>) {
        if self.screen != Screen::Stream {
            return;
        }
        self.confirm = None;
        self.choosing_side = None;
        self.stream_notice = None;
        if let Some(entry) = HistoryEntry::from_state(&self.stream) {
            self.history.push(entry);
        }
        self.notice = error;
        if self.back_to_form || self.notice.is_some() {
            self.open_form();
        } else {
            self.screen = Screen::Summary;
        }
    }
}
