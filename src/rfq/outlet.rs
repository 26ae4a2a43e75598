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
