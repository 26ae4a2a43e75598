//! A two-way request ("two-way on 50 BTC"): one RFQ quoted on both sides
//! at once. Each side (the client's bid, at which the client sells; its
//! offer, at which it buys) is a one-sided session of its own, with its
//! own book, lock, threshold, corroboration and validity, run in the same
//! task on the same clock; this module joins the two into one stream: one
//! `started` (marked `two_way`), every side's events tagged with their
//! side, the acceptance routed to the side the operator names (the other
//! side then stops offering: an RFQ trades once), one `ended`.
//!
//! A one-sided request never comes here: its session, its future and its
//! events are exactly what they were.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures::lock::Mutex;

use crate::market::Side;
use crate::rfq::event::{EndReason, Ended, EventKind, Outcome, RfqEvent};
use crate::rfq::inbox::{self, CommandSender, Inbox};
use crate::rfq::outlet::Outlet;
use crate::rfq::session::{Session, StreamCommand};
use crate::rfq::spec::RfqSpec;

/// Commands a side's inbox holds (a stop, a release, an acceptance).
const SIDE_COMMANDS: usize = 4;

/// The two sides' one outlet, and what each side last learned of it.
struct SharedOutlet<O> {
    outlet: Mutex<O>,
    /// The outlet's `unrecordable` when last read: a side that finds the
    /// outlet busy (the other side is mid-send) goes by this, so that an
    /// order never leaves on the strength of not having been able to ask.
    unrecordable: std::sync::Mutex<Option<String>>,
    stop_requested: AtomicBool,
}

impl<O: Outlet> SharedOutlet<O> {
    fn note(&self, outlet: &O) {
        self.stop_requested
            .fetch_or(outlet.stop_requested(), Ordering::Relaxed);
        *self
            .unrecordable
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = outlet.unrecordable();
    }

    fn last_unrecordable(&self) -> Option<String> {
        self.unrecordable
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

/// One side's view of the shared outlet: tags its events with the side,
/// lets only the offer side's `started` through (as the stream's) and
/// holds every `ended` back (the stream's own is sent once both sides are
/// done).
struct SideOutlet<'a, O> {
    shared: &'a SharedOutlet<O>,
    side: Side,
}

impl<O: Outlet> Outlet for SideOutlet<'_, O> {
    fn send(&mut self, mut event: RfqEvent) -> impl Future<Output = ()> + Send {
        let (shared, side) = (self.shared, self.side);
        async move {
            match &mut event.kind {
                EventKind::Started(started) if side == Side::Buy => started.two_way = true,
                EventKind::Started(_) | EventKind::Ended(_) => return,
                _ => event.two_way_side = Some(side),
            }
            let mut outlet = shared.outlet.lock().await;
            outlet.send(event).await;
            shared.note(&outlet);
        }
    }

    fn ready(&mut self) -> impl Future<Output = ()> + Send {
        let shared = self.shared;
        async move { shared.outlet.lock().await.ready().await }
    }

    fn stop_requested(&self) -> bool {
        match self.shared.outlet.try_lock() {
            Some(outlet) => {
                self.shared.note(&outlet);
                outlet.stop_requested()
            }
            None => self.shared.stop_requested.load(Ordering::Relaxed),
        }
    }

    fn unrecordable(&self) -> Option<String> {
        match self.shared.outlet.try_lock() {
            Some(outlet) => {
                self.shared.note(&outlet);
                outlet.unrecordable()
            }
            None => self.shared.last_unrecordable(),
        }
    }
}

/// The quote-id stem of one side: `R…-bid` issues `Q…-bid-1`, `Q…-bid-2`…
fn quote_stem(rfq_id: &str, side: Side) -> Arc<str> {
    let name = match side {
        Side::Buy => "offer",
        Side::Sell => "bid",
    };
    Arc::from(format!("{rfq_id}-{name}"))
}

/// The side whose stem issued `quote_id`, if either did.
fn side_of_quote(rfq_id: &str, quote_id: &str) -> Option<Side> {
    [Side::Buy, Side::Sell].into_iter().find(|&side| {
        let stem = quote_stem(rfq_id, side);
        let stem = stem.strip_prefix('R').unwrap_or(&stem);
        quote_id
            .strip_prefix('Q')
            .and_then(|rest| rest.strip_prefix(stem))
            .is_some_and(|rest| rest.starts_with('-'))
    })
}

/// [`Session::run`] for a two-way request: runs `session` (whose
/// `spec.side` is not used) to its end as a two-way stream, its events
/// into `events`, commanded through `commands`.
pub fn run(
    session: Session,
    events: tokio::sync::mpsc::Sender<RfqEvent>,
    commands: Inbox<StreamCommand>,
) -> impl Future<Output = Ended> + Send + 'static {
    run_two_way(session, events, Some(commands))
}

/// Runs `session` (whose `spec.side` is ignored) as a two-way stream into
/// `outlet`, commanded through `commands`; see the module docs.
pub(crate) async fn run_two_way<O: Outlet>(
    session: Session,
    outlet: O,
    commands: Option<Inbox<StreamCommand>>,
) -> Ended {
    let shared = SharedOutlet {
        outlet: Mutex::new(outlet),
        unrecordable: std::sync::Mutex::new(None),
        stop_requested: AtomicBool::new(false),
    };
    let rfq_id = session.rfq_id.clone();
    let clock = session.clock;
    // A venue with a two-way form is asked once per poll for both sides.
    let (offer_lps, bid_lps) = crate::rfq::paired_lp::pair_sides(&session.lps);
    let one_side = |side: Side, lps: Vec<crate::lp::SharedLp>| Session {
        spec: RfqSpec {
            side,
            ..session.spec
        },
        lps,
        ..session.clone()
    };
    let (to_offer, offer_inbox) = inbox::channel(SIDE_COMMANDS);
    let (to_bid, bid_inbox) = inbox::channel(SIDE_COMMANDS);
    // The offer side first: its `started` is the stream's.
    let offer = one_side(Side::Buy, offer_lps).run_as_side(
        SideOutlet {
            shared: &shared,
            side: Side::Buy,
        },
        offer_inbox,
        quote_stem(&rfq_id, Side::Buy),
    );
    let bid = one_side(Side::Sell, bid_lps).run_as_side(
        SideOutlet {
            shared: &shared,
            side: Side::Sell,
        },
        bid_inbox,
        quote_stem(&rfq_id, Side::Sell),
    );
    let sides = futures::future::join(offer, bid);
    tokio::pin!(sides);
    let routing = route(&rfq_id, commands, to_offer, to_bid);
    let (offer, bid) = tokio::select! {
        biased;
        ended = &mut sides => ended,
        // The routing ends when nobody can command the stream any
        // more; the sides run on to their own end.
        () = routing => sides.await,
    };
    let ended = merge(offer, bid);
    let mut outlet = shared.outlet.lock().await;
    let event = RfqEvent {
        kind: EventKind::Ended(ended.clone()),
        rfq_id,
        t_ms: clock.now_ms(),
        two_way_side: None,
    };
    outlet.send(event).await;
    ended
}

/// Passes the stream's commands to its sides: a stop or a release to
/// both; an acceptance to the side it names (or whose quote it names),
/// and a stop to the other, which may offer nothing more once the client
/// has taken one side.
async fn route(
    rfq_id: &str,
    commands: Option<Inbox<StreamCommand>>,
    to_offer: CommandSender<StreamCommand>,
    to_bid: CommandSender<StreamCommand>,
) {
    let Some(mut commands) = commands else {
        return;
    };
    while let Some(command) = commands.recv().await {
        let side = match &command {
            StreamCommand::Stop | StreamCommand::ReleaseUnverified => {
                let _ = to_offer.send(command.clone()).await;
                let _ = to_bid.send(command).await;
                continue;
            }
            StreamCommand::AcceptSide { side, .. } => Some(*side),
            StreamCommand::Accept { quote_id } => quote_id
                .as_deref()
                .and_then(|quote_id| side_of_quote(rfq_id, quote_id)),
        };
        let Some(side) = side else {
            tracing::warn!(rfq = %rfq_id, "an acceptance of a two-way request must name its side: ignored");
            continue;
        };
        let (taken, other) = match side {
            Side::Buy => (&to_offer, &to_bid),
            Side::Sell => (&to_bid, &to_offer),
        };
        let _ = taken.send(command).await;
        let _ = other.send(StreamCommand::Stop).await;
    }
}

/// The stream's `ended`: the accepted side's, if the client accepted one
/// (its outcome, quote, LP and price are the stream's); otherwise why
/// the stream ended (a stop over the duration over every LP declining)
/// and the improvements of both sides, with no one quote to name.
fn merge(offer: Ended, bid: Ended) -> Ended {
    let accepted = |ended: &Ended| ended.outcome != Outcome::NotAccepted;
    if accepted(&offer) {
        return offer;
    }
    if accepted(&bid) {
        return bid;
    }
    let reason = [
        EndReason::Interrupted,
        EndReason::Duration,
        EndReason::NoQuotes,
    ]
    .into_iter()
    .find(|reason| offer.reason == *reason || bid.reason == *reason)
    .unwrap_or(offer.reason);
    Ended {
        reason,
        outcome: Outcome::NotAccepted,
        improvements: offer.improvements + bid.improvements,
        quote_id: None,
        lp: None,
        client_price: None,
        simulated: offer.simulated && bid.simulated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_side_issues_its_own_quote_ids_and_an_id_names_its_side() {
        let rfq = "R20250101-120000-7";
        assert_eq!(&*quote_stem(rfq, Side::Sell), "R20250101-120000-7-bid");
        let offer = crate::ids::quote_id(&quote_stem(rfq, Side::Buy), 3);
        let bid = crate::ids::quote_id(&quote_stem(rfq, Side::Sell), 12);
        assert_eq!(&*offer, "Q20250101-120000-7-offer-3");
        assert_eq!(side_of_quote(rfq, &offer), Some(Side::Buy));
        assert_eq!(side_of_quote(rfq, &bid), Some(Side::Sell));
        assert_eq!(side_of_quote(rfq, "Q20250101-120000-7-1"), None);
        assert_eq!(side_of_quote("R20250101-120000-70", &bid), None);
    }
}
