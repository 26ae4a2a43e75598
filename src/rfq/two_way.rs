//! A two-way request ("two-way on 50 BTC"): one RFQ quoted on both sides
//! at once. Each side (the client's bid, at which the client sells; its
//! offer, at which it buys) is a one-sided session of its own, with its
//! own book, lock, threshold, corroboration and validity, run in the same
//! task on the same clock; this module joins the two into one stream: one
//! `started` (marked `two_way`), every side's events tagged with their
//! side, the acceptance routed to the side the operator names (the other
//! side then stops offering: an RFQ trades once), a release of an
//! unverified price to the side the operator names, one `ended`.
//!
//! A one-sided request never comes here: its session, its future and its
//! events are exactly what they were.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures::lock::Mutex;

use crate::clock::StreamClock;
use crate::market::Side;
use crate::rfq::event::{EndReason, Ended, EventKind, NotFilled, Outcome, RfqEvent};
use crate::rfq::inbox::{self, CommandSender, Inbox};
use crate::rfq::outlet::{Outlet, UnrecordableProbe};
use crate::rfq::session::{Session, StreamCommand};
use crate::rfq::spec::RfqSpec;

/// Why an acceptance of a two-way request that names no side (by
/// `accept_side`, or by one side's quote id) is refused.
const SIDELESS_ACCEPT: &str =
    "a two-way request's acceptance must name its side (accept_side buy or sell, or a quote id of one side): nothing was sent";

/// Why a release of a two-way request that names no side releases
/// nothing: the operator saw one side's unverified price, and the other
/// side's would become the client's without anyone having seen it.
const SIDELESS_RELEASE: &str =
    "a two-way request's release must name its side (release_unverified_side buy or sell): nothing was released";

/// Commands a side's inbox holds (a stop, a release, an acceptance).
const SIDE_COMMANDS: usize = 4;

/// The two sides' one outlet, and what each side last learned of it.
struct SharedOutlet<O> {
    outlet: Mutex<O>,
    /// The outlet's `unrecordable`, read without it: a side that finds
    /// the outlet busy (the other side is mid-send) asks this, so that an
    /// order never leaves on the strength of not having been able to ask
    /// (a failure since the last look counts at once).
    probe: Option<UnrecordableProbe>,
    /// The outlet's `unrecordable` when last read: what a busy outlet
    /// without a probe is taken to say.
    unrecordable: std::sync::Mutex<Option<String>>,
    stop_requested: AtomicBool,
}

impl<O: Outlet> SharedOutlet<O> {
    fn new(outlet: O) -> SharedOutlet<O> {
        SharedOutlet {
            probe: outlet.unrecordable_probe(),
            outlet: Mutex::new(outlet),
            unrecordable: std::sync::Mutex::new(None),
            stop_requested: AtomicBool::new(false),
        }
    }

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
    /// Why this side's last `order_sent` is not on the record, if it is
    /// not: taken from the shared outlet as the event is handed on, so the
    /// other side's orders never answer for this one's.
    unrecorded_order: Option<String>,
}

impl<O: Outlet> Outlet for SideOutlet<'_, O> {
    fn send(&mut self, mut event: RfqEvent) -> impl Future<Output = ()> + Send {
        let (shared, side) = (self.shared, self.side);
        let unrecorded_order = &mut self.unrecorded_order;
        async move {
            match &mut event.kind {
                EventKind::Started(started) if side == Side::Buy => started.two_way = true,
                EventKind::Started(_) | EventKind::Ended(_) => return,
                _ => event.two_way_side = Some(side),
            }
            let order = matches!(event.kind, EventKind::OrderSent(_));
            let mut outlet = shared.outlet.lock().await;
            outlet.send(event).await;
            if order {
                *unrecorded_order = outlet.take_unrecorded_order();
            }
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
            None => match &self.shared.probe {
                Some(probe) => probe(),
                None => self.shared.last_unrecordable(),
            },
        }
    }

    fn take_unrecorded_order(&mut self) -> Option<String> {
        self.unrecorded_order.take()
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
    let shared = SharedOutlet::new(outlet);
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
            unrecorded_order: None,
        },
        offer_inbox,
        quote_stem(&rfq_id, Side::Buy),
    );
    let bid = one_side(Side::Sell, bid_lps).run_as_side(
        SideOutlet {
            shared: &shared,
            side: Side::Sell,
            unrecorded_order: None,
        },
        bid_inbox,
        quote_stem(&rfq_id, Side::Sell),
    );
    let sides = futures::future::join(offer, bid);
    tokio::pin!(sides);
    let routing = route(&rfq_id, commands, to_offer, to_bid, &shared, clock);
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

/// Passes the stream's commands to its sides: a stop to both; a release
/// to the side it names (one that names none releases nothing); an
/// acceptance to the side it names (or whose quote it names),
/// and a stop to the other, which may offer nothing more once the client
/// has taken one side. An acceptance that names no side is answered
/// `not_filled` with the reason through `shared` (stamped by `clock`),
/// and the stream offers on: nothing was sent.
async fn route<O: Outlet>(
    rfq_id: &Arc<str>,
    commands: Option<Inbox<StreamCommand>>,
    to_offer: CommandSender<StreamCommand>,
    to_bid: CommandSender<StreamCommand>,
    shared: &SharedOutlet<O>,
    clock: StreamClock,
) {
    let Some(mut commands) = commands else {
        return;
    };
    while let Some(command) = commands.recv().await {
        let side = match &command {
            StreamCommand::Stop => {
                let _ = to_offer.send(command.clone()).await;
                let _ = to_bid.send(command).await;
                continue;
            }
            StreamCommand::ReleaseUnverifiedSide { side } => {
                let to_side = match side {
                    Side::Buy => &to_offer,
                    Side::Sell => &to_bid,
                };
                let _ = to_side.send(command.clone()).await;
                continue;
            }
            StreamCommand::ReleaseUnverified => {
                tracing::warn!(rfq = %rfq_id, "{SIDELESS_RELEASE}");
                continue;
            }
            StreamCommand::AcceptSide { side, .. } => Some(*side),
            StreamCommand::Accept { quote_id } => quote_id
                .as_deref()
                .and_then(|quote_id| side_of_quote(rfq_id, quote_id)),
        };
        let Some(side) = side else {
            let quote_id = match command {
                StreamCommand::Accept { quote_id } => quote_id,
                _ => None,
            };
            let refusal = RfqEvent {
                kind: EventKind::NotFilled(NotFilled {
                    quote_id,
                    reason: SIDELESS_ACCEPT.to_string(),
                }),
                rfq_id: rfq_id.clone(),
                t_ms: clock.now_ms(),
                two_way_side: None,
            };
            let mut outlet = shared.outlet.lock().await;
            outlet.send(refusal).await;
            shared.note(&outlet);
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

    /// An outlet whose record fails when the test says so, readable
    /// through its probe.
    struct Failing {
        failure: Arc<std::sync::Mutex<Option<String>>>,
    }

    impl Outlet for Failing {
        async fn send(&mut self, _event: RfqEvent) {}

        fn unrecordable(&self) -> Option<String> {
            self.failure.lock().unwrap().clone()
        }

        fn unrecordable_probe(&self) -> Option<UnrecordableProbe> {
            let failure = self.failure.clone();
            Some(Arc::new(move || failure.lock().unwrap().clone()))
        }
    }

    #[tokio::test]
    async fn a_side_finding_the_outlet_busy_reads_a_failure_that_came_since() {
        let failure = Arc::new(std::sync::Mutex::new(None));
        let shared = SharedOutlet::new(Failing {
            failure: failure.clone(),
        });
        let bid = SideOutlet {
            shared: &shared,
            side: Side::Sell,
            unrecorded_order: None,
        };
        assert_eq!(bid.unrecordable(), None);
        // The offer side is mid-send when the blotter starts failing.
        let held = shared.outlet.lock().await;
        *failure.lock().unwrap() = Some("blotter 'b.db': disk full".to_string());
        assert_eq!(
            bid.unrecordable().as_deref(),
            Some("blotter 'b.db': disk full")
        );
        drop(held);
    }

    #[tokio::test]
    async fn an_acceptance_naming_no_side_is_answered_not_filled_and_reaches_neither_side() {
        let (events, mut seen) = tokio::sync::mpsc::channel(4);
        let shared = SharedOutlet::new(events);
        let (to_offer, mut offer_inbox) = inbox::channel(SIDE_COMMANDS);
        let (to_bid, mut bid_inbox) = inbox::channel(SIDE_COMMANDS);
        let (commands, inbox) = inbox::channel(SIDE_COMMANDS);
        let rfq_id: Arc<str> = Arc::from("R20250101-120000-7");
        commands
            .try_send(StreamCommand::Accept { quote_id: None })
            .unwrap();
        commands
            .try_send(StreamCommand::Accept {
                quote_id: Some(Arc::from("Q20250101-120000-7-1")),
            })
            .unwrap();
        drop(commands);
        route(
            &rfq_id,
            Some(inbox),
            to_offer,
            to_bid,
            &shared,
            StreamClock::start(),
        )
        .await;
        for quote_id in [None, Some("Q20250101-120000-7-1")] {
            let event = seen.try_recv().unwrap();
            assert_eq!(event.two_way_side, None);
            assert_eq!(
                event.kind,
                EventKind::NotFilled(NotFilled {
                    quote_id: quote_id.map(Arc::from),
                    reason: "a two-way request's acceptance must name its side (accept_side buy or sell, or a quote id of one side): nothing was sent".to_string(),
                })
            );
        }
        assert_eq!(offer_inbox.recv().await, None);
        assert_eq!(bid_inbox.recv().await, None);
    }
}
