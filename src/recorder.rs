//! A stream's record: the [`Outlet`] that hands every event to the blotter
//! before the stream's consumer sees it, inside the session's own task (no
//! relay task between the streams and the blotter writer: a full blotter
//! channel makes the session itself wait, so memory stays flat however
//! many streams run).
//!
//! It also watches the blotter: while writing fails it tells the session
//! ([`Outlet::unrecordable`]), which withdraws its client quote, offers none
//! and refuses accepts, and says why; if the blotter's held buffer fills
//! (events are being lost) the stream is asked to stop and no further
//! client quote is shown: a desk must keep a record of every quote it
//! offers (fail closed).

use std::future::Future;

use futures::future::{self, BoxFuture, Either};

use crate::blotter::BlotterSink;
use crate::rfq::event::BlotterErrorEvent;
use crate::rfq::outlet::Outlet;
use crate::rfq::{EventKind, RfqEvent};

/// Records into `sink`, then hands on to `next`; see the module docs.
pub(crate) struct Recorder<O> {
    sink: BlotterSink,
    next: O,
    /// The held buffer overflowed: the stream is being stopped.
    stopped: bool,
}

impl<O: Outlet> Recorder<O> {
    pub(crate) fn new(sink: BlotterSink, next: O) -> Recorder<O> {
        Recorder {
            sink,
            next,
            stopped: false,
        }
    }
}

impl<O: Outlet> Recorder<O> {
    /// The rest of [`Outlet::send`] when something is out of the ordinary:
    /// `unrecorded` is the copy of `event` still to record (a fill, which
    /// must be committed before anyone sees it, or an event the full
    /// channel handed back), and the stream may have to be told of the
    /// blotter's trouble or stopped.
    async fn send_slowly(&mut self, event: RfqEvent, unrecorded: Option<RfqEvent>) {
        let is_offer = matches!(event.kind, EventKind::ClientQuote(_));
        let notice = |reason: String| RfqEvent {
            kind: EventKind::BlotterError(BlotterErrorEvent { reason }),
            rfq_id: event.rfq_id.clone(),
            t_ms: event.t_ms,
            two_way_side: None,
        };
        match unrecorded {
            // A trade is on disk before anyone is shown FILLED. If it
            // cannot be, it is still shown (it happened at the LP); the
            // blotter's problem says why.
            Some(fill) if matches!(fill.kind, EventKind::Filled(_)) => {
                let committed = self.sink.record_and_commit(fill).await;
                if !committed {
                    tracing::error!(rfq = %event.rfq_id, "a fill could not be committed to the blotter");
                }
            }
            // The channel is full: wait for room.
            Some(held) => self.sink.record_when_room(held).await,
            None => {}
        }
        if !self.stopped && self.sink.overflowed() {
            self.stopped = true;
            let reason = format!(
                "blotter buffer full ({} events held): events are being lost, so this stream stops offering client quotes",
                crate::blotter::MAX_HELD
            );
            self.next.send(notice(reason)).await;
            if is_offer {
                return;
            }
        }
        // A consumer that went away (closed pipe) does not stop the
        // recording: the session still runs to its end.
        self.next.send(event).await;
    }
}

impl<O: Outlet> Outlet for Recorder<O> {
    /// The common case is decided at once, with no future of its own: the
    /// event is in the blotter's channel and goes on to the consumer. The
    /// rest (a fill's commit, a full channel, the blotter's trouble) is a
    /// boxed future: rare, and it would otherwise be part of the future of
    /// every session, thousands of them, all the time.
    fn send(&mut self, event: RfqEvent) -> impl Future<Output = ()> + Send {
        let is_offer = matches!(event.kind, EventKind::ClientQuote(_));
        if self.stopped && is_offer {
            // Not recordable, so never offered (and counted as lost so the
            // exit code says so).
            self.sink.count_lost(1);
            return Either::Right(Either::Left(future::ready(())));
        }
        let unrecorded = if matches!(event.kind, EventKind::Filled(_)) {
            Some(event.clone())
        } else {
            self.sink.try_record(event.clone())
        };
        // A failing blotter is the session's to tell (it stops offering:
        // `unrecordable`); only a lost event stops the stream here.
        let trouble = !self.stopped && self.sink.overflowed();
        if unrecorded.is_none() && !trouble {
            return Either::Left(self.next.send(event));
        }
        let slowly: BoxFuture<'_, ()> = Box::pin(self.send_slowly(event, unrecorded));
        Either::Right(Either::Right(slowly))
    }

    async fn ready(&mut self) {
        self.sink.wait_for_room().await;
        self.next.ready().await;
    }

    fn stop_requested(&self) -> bool {
        self.stopped || self.next.stop_requested()
    }

    fn unrecordable(&self) -> Option<String> {
        self.sink.failure().or_else(|| self.next.unrecordable())
    }
}

#[cfg(test)]
mod tests {

    use tokio::sync::mpsc;

    use super::*;
    use crate::blotter::Blotter;
    use crate::rfq::Session;

    /// Here rather than beside the session: a recorded stream is the
    /// session plus this outlet and the blotter, which the session's
    /// layer must not import.
    ///
    /// Every running stream keeps its session's future (its task), and a
    /// desk or a benchmark runs thousands: this keeps that future from
    /// growing back unnoticed (at 10,000 streams each KB is 10 MB). It was
    /// 5.4 KB when the session kept its state in locals across its awaits
    /// (a future's layout is the same in debug and release builds; see
    /// `-Zprint-type-sizes` in docs/performance.md).
    #[tokio::test]
    async fn a_recorded_stream_future_stays_small() {
        let scratch = tempfile::tempdir().unwrap();
        let blotter = Blotter::open(&scratch.path().join("blotter.db")).unwrap();
        let session = Session::sized_for_tests();
        let (events, _receiver) = mpsc::channel(16);
        let (_commands, inbox) = crate::rfq::inbox::channel(1);
        let outlet = Recorder::new(blotter.sink(), events);
        let stream = session.run_into(outlet, Some(inbox));
        let size = std::mem::size_of_val(&stream);
        // 1,664 until the desk's reference became live (read at every
        // poll: a boxed handle in the stream, its price in the engine).
        assert!(size <= 1_688, "a stream's future is {size} bytes");
        drop(stream);
        blotter.close().await;
    }
}
