//! The desk view's state (the `d` screen, for a head of desk): every live
//! RFQ on the desk, the few that ended last with their outcome, every
//! LP's health, and the desk's clients with their pauses and the kill
//! switch, reduced from the desk's pushed facts. Time left counts down
//! between rows on the view's own clock, so an idle desk sends nothing
//! and the view still moves. The client selected (↑/↓) is the one `p`
//! pauses or resumes; `K` asks before it turns the kill switch.

use std::collections::VecDeque;

use crate::rfq::ClientId;
use crate::streams::{ClientPauses, DeskEvent, DeskView, LiveRfq, LpHealthRow, RfqState};

/// RFQs that ended kept under the live ones, newest first: enough to see
/// how the last few orders went.
pub const ENDED_KEPT: usize = 8;

/// A row and when (view ms) it arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub rfq: LiveRfq,
    seen_ms: u64,
}

/// See the module docs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeskViewState {
    /// Live RFQs, in the order of their ids (the order they started).
    pub live: Vec<Seen>,
    /// Newest first, at most [`ENDED_KEPT`].
    pub ended: VecDeque<Seen>,
    pub lps: Vec<LpHealthRow>,
    /// The clients the desk has paused, and its kill switch.
    pub pauses: ClientPauses,
    /// The desk's clients, in its clients file's order (none without
    /// one): the rows `p` acts on.
    pub clients: Vec<ClientId>,
    /// The client row selected.
    pub selected: usize,
    /// `K` was pressed: `y` turns the kill switch to this.
    pub kill_switch_asked: Option<bool>,
    /// What the last pause did, or why it was not done.
    pub notice: Option<String>,
    /// The view's clock, in ms: rows count down by it.
    now_ms: u64,
}

impl DeskViewState {
    /// Everything the view holds, replaced by the desk's view at `now_ms`
    /// (on opening, and after missing pushed facts). The ended rows stay:
    /// the desk keeps none.
    pub fn replace(&mut self, view: DeskView, now_ms: u64) {
        self.now_ms = now_ms;
        self.live = view
            .rfqs
            .into_iter()
            .map(|rfq| Seen {
                rfq,
                seen_ms: now_ms,
            })
            .collect();
        self.lps = view.lps;
        self.pauses = view.pauses;
    }

    /// One desk fact at view time `now_ms`.
    pub fn apply(&mut self, event: &DeskEvent, now_ms: u64) {
        self.now_ms = now_ms;
        match event {
            DeskEvent::Rfq(rfq) => self.row(rfq.clone(), now_ms),
            DeskEvent::StreamEnded { rfq_id } => {
                // A stream whose task failed sends no `ended` row.
                if let Some(at) = self.live.iter().position(|seen| seen.rfq.rfq_id == *rfq_id) {
                    let mut seen = self.live.remove(at);
                    seen.rfq.state = RfqState::Ended;
                    seen.rfq.left_ms = 0;
                    self.push_ended(seen);
                }
            }
            DeskEvent::LpHealth(changed) => {
                let row = LpHealthRow {
                    lp: changed.lp.clone(),
                    state: Some(changed.change.state),
                    retry_in_ms: changed.change.retry_in_ms,
                    reject_rate: Some(changed.change.reject_rate),
                    reason: changed.change.reason.clone(),
                };
                match self.lps.iter_mut().find(|lp| lp.lp == changed.lp) {
                    Some(lp) => *lp = row,
                    None => self.lps.push(row),
                }
            }
            DeskEvent::Resync(view) => self.replace(view.clone(), now_ms),
            DeskEvent::ClientPauses(pauses) => self.pauses = pauses.clone(),
            DeskEvent::StreamStarted { .. } | DeskEvent::BlotterTrouble(_) => {}
        }
    }

    fn row(&mut self, rfq: LiveRfq, now_ms: u64) {
        let at = self
            .live
            .iter()
            .position(|seen| seen.rfq.rfq_id == rfq.rfq_id);
        if let Some(at) = at {
            // A row the view already has a newer one of (the desk view it
            // started from was read after this change was pushed).
            if self.live[at].rfq.seq >= rfq.seq {
                return;
            }
        }
        let seen = Seen {
            rfq,
            seen_ms: now_ms,
        };
        match (at, seen.rfq.state) {
            (Some(at), RfqState::Ended) => {
                self.live.remove(at);
                self.push_ended(seen);
            }
            (None, RfqState::Ended) => self.push_ended(seen),
            (Some(at), _) => self.live[at] = seen,
            (None, _) => {
                let at = self
                    .live
                    .partition_point(|other| other.rfq.rfq_id < seen.rfq.rfq_id);
                self.live.insert(at, seen);
            }
        }
    }

    fn push_ended(&mut self, seen: Seen) {
        self.ended
            .retain(|other| other.rfq.rfq_id != seen.rfq.rfq_id);
        self.ended.push_front(seen);
        self.ended.truncate(ENDED_KEPT);
    }

    /// Moves the client selection by `step` rows, within the list.
    pub fn select(&mut self, step: isize) {
        let last = self.clients.len().saturating_sub(1);
        self.selected = self.selected.saturating_add_signed(step).min(last);
    }

    /// The client `p` acts on, and whether it is paused by name now.
    pub fn selected_client(&self) -> Option<(&ClientId, bool)> {
        let client = self.clients.get(self.selected)?;
        Some((client, self.pauses.is_paused(client)))
    }

    /// Time passed on the view's clock: counts down what is shown.
    pub fn tick(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
    }

    /// `seen`'s stream time left now.
    pub fn left_ms(&self, seen: &Seen) -> u64 {
        let real = self.now_ms.saturating_sub(seen.seen_ms);
        let stream = real.saturating_mul(seen.rfq.speed_per_mille) / 1000;
        seen.rfq.left_ms.saturating_sub(stream)
    }
}
