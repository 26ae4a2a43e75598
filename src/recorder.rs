//! A stream's record: the [`Outlet`] that hands every event to the blotter
//! before the stream's consumer sees it, inside the session's own task (no
//! relay task between the streams and the blotter writer: a full blotter
//! channel makes the session itself wait, so memory stays flat however
//! many streams run).
//!
//! It also watches the blotter: when writing starts failing the stream is
//! told once (a `blotter_error` before the next event), and if the
//! blotter's held buffer fills (events are being lost) the stream is asked
//! to stop and no further client quote is shown: a desk must keep a record
//! of every quote it offers (fail closed).

use crate::blotter::BlotterSink;
use crate::rfq::event::BlotterErrorEvent;
use crate::rfq::outlet::Outlet;
use crate::rfq::{EventKind, RfqEvent};

/// Records into `sink`, then hands on to `next`; see the module docs.
pub struct Recorder<O> {
    sink: BlotterSink,
    next: O,
    /// The stream has been told that writes fail (until they work again).
    told_failing: bool,
    /// The held buffer overflowed: the stream is being stopped.
    stopped: bool,
}

impl<O: Outlet> Recorder<O> {
    pub fn new(sink: BlotterSink, next: O) -> Recorder<O> {
        Recorder {
            sink,
            next,
            told_failing: false,
            stopped: false,
        }
    }
}

impl<O: Outlet> Outlet for Recorder<O> {
    async fn send(&mut self, event: RfqEvent) {
        let is_offer = matches!(event.kind, EventKind::ClientQuote(_));
        if self.stopped && is_offer {
            // Not recordable, so never offered (and counted as lost so the
            // exit code says so).
            self.sink.count_lost(1);
            return;
        }
        let notice = |reason: String| RfqEvent {
            kind: EventKind::BlotterError(BlotterErrorEvent { reason }),
            rfq_id: event.rfq_id.clone(),
            t_ms: event.t_ms,
        };
        if matches!(event.kind, EventKind::Filled(_)) {
            // A trade is on disk before anyone is shown FILLED. If it cannot
            // be, it is still shown (it happened at the LP); the blotter's
            // problem says why.
            // Boxed: a fill is rare, and its wait would otherwise add to
            // the size of every session's future.
            if !Box::pin(self.sink.record_and_commit(event.clone())).await {
                tracing::error!(rfq = %event.rfq_id, "a fill could not be committed to the blotter");
            }
        } else if let Some(held) = self.sink.try_record(event.clone()) {
            // The channel is full: wait for room (a boxed wait, so that it
            // is not part of every stream's future).
            self.sink.record_when_room(held).await;
        }
        match self.sink.failure() {
            Some(failure) if !self.told_failing => {
                self.told_failing = true;
                let reason = format!(
                    "{failure}; holding events and retrying (this stream's record is not yet on disk)"
                );
                let notice = notice(reason);
                Box::pin(self.next.send(notice)).await;
            }
            None if self.told_failing => self.told_failing = false,
            _ => {}
        }
        if !self.stopped && self.sink.overflowed() {
            self.stopped = true;
            let reason = format!(
                "blotter buffer full ({} events held): events are being lost, so this stream stops offering client quotes",
                crate::blotter::MAX_HELD
            );
            let notice = notice(reason);
            Box::pin(self.next.send(notice)).await;
            if is_offer {
                return;
            }
        }
        // A consumer that went away (closed pipe) does not stop the
        // recording: the session still runs to its end.
        self.next.send(event).await;
    }

    async fn ready(&mut self) {
        self.sink.wait_for_room().await;
        self.next.ready().await;
    }

    fn stop_requested(&self) -> bool {
        self.stopped || self.next.stop_requested()
    }
}
