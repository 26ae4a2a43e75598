//! Where a session's events go. An [`Outlet`] takes each event in order,
//! inside the session's own task, and makes the session wait while it
//! cannot take more (back-pressure: a slow consumer slows its producer,
//! nothing piles up). A channel to a consumer is the simplest outlet; the
//! desk's recorder (blotter first, then the consumer) and the bench's tally
//! are others, so no relay task sits between thousands of streams and the
//! blotter writer.

use std::future::Future;
use std::sync::Arc;

use futures::future::{self, Either};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use crate::rfq::event::EventKind;
use crate::rfq::RfqEvent;

/// Takes a session's events, in order; see the module docs.
pub trait Outlet: Send {
    /// Takes `event`, waiting while there is no room for it. An outlet
    /// whose consumer went away drops the event: the session still runs
    /// to its end (its record may still be kept elsewhere).
    fn send(&mut self, event: RfqEvent) -> impl Future<Output = ()> + Send;

    /// Waits until the outlet has room again. The session calls it before
    /// asking its LPs for a new poll, so a stream whose consumer is behind
    /// holds no requests in flight while it waits (its memory stays the
    /// session's own state), and the answers of the poll find room.
    fn ready(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// True once the outlet can no longer keep the stream's record: the
    /// session ends (as if stopped) and offers nothing more.
    fn stop_requested(&self) -> bool {
        false
    }

    /// Why the stream's record cannot be kept right now (the blotter
    /// fails), if it cannot: the session then withdraws its client quote,
    /// offers none and refuses accepts until this is `None` again. Asked
    /// every turn: a flag read while all is well.
    fn unrecordable(&self) -> Option<String> {
        None
    }

    /// Why the last `order_sent` handed on is not committed to the record,
    /// if it is not (taken: asked once per order). An outlet that keeps a
    /// record commits an `order_sent` before it hands it on, so that a
    /// crash after the order leaves cannot leave an order at the venue
    /// that the record does not know; the session sends no order whose
    /// record failed. An outlet that keeps no record has none to fail.
    fn take_unrecorded_order(&mut self) -> Option<String> {
        None
    }

    /// [`Outlet::unrecordable`] readable without the outlet (atomic flags
    /// behind it), for a session that shares the outlet and finds it busy
    /// (a two-way stream's other side mid-send): it must not go by what
    /// it last saw. `None`: the outlet never fails to record.
    fn unrecordable_probe(&self) -> Option<UnrecordableProbe> {
        None
    }
}

/// Why a shared outlet's record cannot be kept right now, asked without
/// holding the outlet; see [`Outlet::unrecordable_probe`].
pub type UnrecordableProbe = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// An outlet that takes only the events `keep` passes and lets the rest
/// go by: a consumer that acts on a few kinds (a client's view of its
/// RFQ has no use for an LP's quote, error or health) is then not woken
/// for the ~100 events a second per stream it would only drop.
pub(crate) struct Only<O> {
    pub(crate) outlet: O,
    pub(crate) keep: fn(&EventKind) -> bool,
}

impl<O: Outlet> Outlet for Only<O> {
    fn send(&mut self, event: RfqEvent) -> impl Future<Output = ()> + Send {
        match (self.keep)(&event.kind) {
            true => Either::Left(self.outlet.send(event)),
            false => Either::Right(future::ready(())),
        }
    }

    fn ready(&mut self) -> impl Future<Output = ()> + Send {
        self.outlet.ready()
    }

    fn stop_requested(&self) -> bool {
        self.outlet.stop_requested()
    }

    fn unrecordable(&self) -> Option<String> {
        self.outlet.unrecordable()
    }

    fn take_unrecorded_order(&mut self) -> Option<String> {
        self.outlet.take_unrecorded_order()
    }

    fn unrecordable_probe(&self) -> Option<UnrecordableProbe> {
        self.outlet.unrecordable_probe()
    }
}

impl Outlet for mpsc::Sender<RfqEvent> {
    fn send(&mut self, event: RfqEvent) -> impl Future<Output = ()> + Send {
        // Taken at once when there is room (the common case): the future
        // then holds nothing. The wait for room is boxed, so that it (and
        // the event) is not part of the future of every session that
        // sends through a channel.
        let full = match self.try_send(event) {
            Ok(()) | Err(TrySendError::Closed(_)) => None,
            Err(TrySendError::Full(event)) => Some(event),
        };
        match full {
            None => Either::Left(future::ready(())),
            Some(event) => Either::Right(Box::pin(async move {
                let _ = mpsc::Sender::send(self, event).await;
            })),
        }
    }

    async fn ready(&mut self) {
        // Room for one more; the permit is handed back at once.
        let _ = self.reserve().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rfq::event::{BlotterErrorEvent, LockExpired};

    fn event(kind: EventKind) -> RfqEvent {
        RfqEvent {
            kind,
            rfq_id: Arc::from("R-1"),
            t_ms: 0,
            two_way_side: None,
        }
    }

    /// Only the kinds kept reach the consumer, in order; the rest take
    /// no room in its channel.
    #[tokio::test]
    async fn only_hands_on_the_kinds_it_keeps_and_lets_the_rest_go_by() {
        let (sender, mut events) = mpsc::channel(1);
        let mut only = Only {
            outlet: sender,
            keep: |kind| matches!(kind, EventKind::BlotterError(_)),
        };
        let expired = || {
            event(EventKind::LockExpired(LockExpired {
                lp: Arc::from("LP1"),
            }))
        };
        // Dropped ones never wait for room, even in a full channel.
        only.send(event(EventKind::BlotterError(BlotterErrorEvent {
            reason: "disk full".into(),
        })))
        .await;
        only.send(expired()).await;
        only.send(expired()).await;
        let kept = events.try_recv().unwrap();
        assert!(matches!(kept.kind, EventKind::BlotterError(_)), "{kept:?}");
        assert!(events.try_recv().is_err());
        drop(only);
        assert!(events.recv().await.is_none());
    }
}
