//! The WebSocket edge every desk connection shares, an operator's
//! (`server`) or a client's (`client_api::ws`): the deadline on the
//! upgrade, the bounded outbox a connection's messages wait in, and the
//! one writer that drains it. Offering never waits: a connection a whole
//! outbox behind is told why and closed, even while a send to it is
//! stuck, so that no connection can hold the desk back, grow its memory
//! or keep the server from stopping.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::{Sink, SinkExt};
use tokio::sync::{mpsc, watch, Notify};
use tokio_tungstenite::tungstenite::Message;

/// How long a new connection has to finish its WebSocket upgrade (and an
/// operator's to say hello): a socket that never does is dropped.
pub(crate) const HANDSHAKE_WITHIN: Duration = Duration::from_secs(10);
/// How long a closing connection's last words may take to leave.
pub(crate) const FAREWELL_WITHIN: Duration = Duration::from_secs(2);

/// Runs a connection's `upgrade` until it finishes, [`HANDSHAKE_WITHIN`]
/// passes, or the desk stops (`stop` turns true); the error says which,
/// for the log.
pub(crate) async fn handshake<T>(
    upgrade: impl Future<Output = T>,
    stop: &mut watch::Receiver<bool>,
) -> Result<T, String> {
    tokio::select! {
        done = tokio::time::timeout(HANDSHAKE_WITHIN, upgrade) => done.map_err(|_| {
            format!("no WebSocket handshake within {} s", HANDSHAKE_WITHIN.as_secs())
        }),
        _ = stop.wait_for(|stopping| *stopping) => {
            Err("the desk is stopping".to_string())
        }
    }
}

/// A connection's bounded queue of messages out; see the module docs.
pub(crate) struct Outbox<T> {
    sender: mpsc::Sender<T>,
    overflow: Overflow,
    capacity: usize,
}

impl<T> Clone for Outbox<T> {
    fn clone(&self) -> Self {
        Outbox {
            sender: self.sender.clone(),
            overflow: self.overflow.clone(),
            capacity: self.capacity,
        }
    }
}

/// Whether (and why) a connection fell a whole outbox behind: what the
/// writer watches, without holding the queue open itself.
#[derive(Clone)]
pub(crate) struct Overflow {
    reason: Arc<OnceLock<String>>,
    kick: Arc<Notify>,
}

impl<T> Outbox<T> {
    /// A queue of `capacity` messages and its far end, for the writer.
    pub(crate) fn new(capacity: usize) -> (Outbox<T>, mpsc::Receiver<T>) {
        let (sender, receiver) = mpsc::channel(capacity);
        let overflow = Overflow {
            reason: Arc::new(OnceLock::new()),
            kick: Arc::new(Notify::new()),
        };
        let outbox = Outbox {
            sender,
            overflow,
            capacity,
        };
        (outbox, receiver)
    }

    /// Queues `message`; `false` when it was not (the connection is too
    /// slow and is being closed, or already gone).
    pub(crate) fn offer(&self, message: T) -> bool {
        if self.overflow.reason.get().is_some() {
            return false;
        }
        match self.sender.try_send(message) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                let _ = self.overflow.reason.set(format!(
                    "the connection fell {} messages behind the desk: closed so that it cannot hold the desk back",
                    self.capacity
                ));
                self.overflow.kick.notify_one();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// What the writer watches for overflow.
    pub(crate) fn overflow(&self) -> Overflow {
        self.overflow.clone()
    }
}

impl Overflow {
    /// Resolves, with the reason, once the connection has fallen a whole
    /// outbox behind.
    pub(crate) async fn happened(&self) -> String {
        loop {
            if let Some(reason) = self.reason.get() {
                return reason.clone();
            }
            // `notify_one` keeps a permit when no one waits, so an
            // overflow between the check and this wait is not missed.
            self.kick.notified().await;
        }
    }
}

/// The most messages taken from the outbox for one flush. A busy
/// connection's writer finds hundreds queued at each wake-up; taking them
/// in slices this size keeps the batch's own buffer small while still
/// paying one `write` for many frames (tungstenite writes its buffer out
/// by itself past 128 KiB, so a batch never holds more than that unsent).
const MESSAGES_PER_FLUSH: usize = 256;

/// Writes the outbox to `sink` (each message as `frame` makes it) until
/// every sender is gone (then closes it), the socket fails, or the
/// connection overflows, noticed even while a send is stuck: then the
/// reason goes out as `farewell` makes it, within [`FAREWELL_WITHIN`], and
/// the socket is closed.
///
/// Every message already queued when the writer wakes is fed to the sink
/// and flushed once, in order: a `write` (and a wake-up of the reader at
/// the far end) per frame is what made a connection carrying thousands
/// of events a second fall behind.
pub(crate) async fn write_out<T, S>(
    mut sink: S,
    mut to_send: mpsc::Receiver<T>,
    overflow: Overflow,
    frame: impl Fn(T) -> Message,
    farewell: impl FnOnce(String) -> Message,
) where
    S: Sink<Message> + Unpin,
{
    let mut batch = Vec::with_capacity(MESSAGES_PER_FLUSH);
    let too_slow = loop {
        tokio::select! {
            biased;
            reason = overflow.happened() => break Some(reason),
            taken = to_send.recv_many(&mut batch, MESSAGES_PER_FLUSH) => {
                if taken == 0 {
                    break None;
                }
                let written = async {
                    for message in batch.drain(..) {
                        sink.feed(frame(message)).await?;
                    }
                    sink.flush().await
                };
                tokio::select! {
                    sent = written => if sent.is_err() { return },
                    reason = overflow.happened() => break Some(reason),
                }
            }
        }
    };
    let _ = tokio::time::timeout(FAREWELL_WITHIN, async {
        if let Some(reason) = too_slow {
            tracing::warn!("{reason}");
            let _ = sink.send(farewell(reason)).await;
        }
        let _ = sink.close().await;
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that never takes a message: a peer that stopped reading.
    struct Stuck;

    impl Sink<Message> for Stuck {
        type Error = ();
        fn poll_ready(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), ()>> {
            std::task::Poll::Pending
        }
        fn start_send(self: std::pin::Pin<&mut Self>, _: Message) -> Result<(), ()> {
            Ok(())
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), ()>> {
            std::task::Poll::Pending
        }
        fn poll_close(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), ()>> {
            std::task::Poll::Pending
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_writer_stuck_in_a_send_notices_the_overflow_and_gives_up() {
        let (outbox, to_send) = Outbox::<u32>::new(2);
        let writer = tokio::spawn(write_out(
            Stuck,
            to_send,
            outbox.overflow(),
            |n| Message::text(n.to_string()),
            Message::text,
        ));
        assert!(outbox.offer(0));
        tokio::task::yield_now().await;
        // The writer is now stuck sending 0; two more fill the queue and
        // the next overflows it.
        let offered: Vec<bool> = (1..5).map(|n| outbox.offer(n)).collect();
        assert_eq!(offered, [true, true, false, false]);
        let started = tokio::time::Instant::now();
        tokio::time::timeout(Duration::from_secs(60), writer)
            .await
            .expect("the writer gives up on a stuck peer")
            .unwrap();
        assert_eq!(started.elapsed(), FAREWELL_WITHIN);
        assert_eq!(
            outbox.overflow().happened().await,
            "the connection fell 2 messages behind the desk: closed so that it cannot hold the desk back"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_writer_closes_at_once_when_its_senders_are_gone() {
        let (outbox, to_send) = Outbox::<u32>::new(4);
        let (sink, mut sent) = futures::channel::mpsc::unbounded::<Message>();
        let overflow = outbox.overflow();
        assert!(outbox.offer(7));
        drop(outbox);
        let started = tokio::time::Instant::now();
        write_out(
            sink,
            to_send,
            overflow,
            |n| Message::text(n.to_string()),
            Message::text,
        )
        .await;
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(
            futures::StreamExt::collect::<Vec<_>>(&mut sent).await,
            [Message::text("7")]
        );
    }

    /// What a sink was asked to do, in order.
    #[derive(Debug, PartialEq)]
    enum Asked {
        Frame(String),
        Flush,
        Close,
    }

    /// A sink that takes everything at once and notes each call.
    #[derive(Clone, Default)]
    struct Noting(Arc<std::sync::Mutex<Vec<Asked>>>);

    impl Noting {
        fn note(&self, asked: Asked) {
            self.0.lock().unwrap().push(asked);
        }

        fn asked(&self) -> Vec<Asked> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }

    impl Sink<Message> for Noting {
        type Error = ();
        fn poll_ready(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), ()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn start_send(self: std::pin::Pin<&mut Self>, message: Message) -> Result<(), ()> {
            self.note(Asked::Frame(message.into_text().unwrap().to_string()));
            Ok(())
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), ()>> {
            self.note(Asked::Flush);
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_close(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), ()>> {
            self.note(Asked::Close);
            std::task::Poll::Ready(Ok(()))
        }
    }

    fn frames(seqs: impl IntoIterator<Item = u32>) -> Vec<Asked> {
        seqs.into_iter()
            .map(|seq| Asked::Frame(format!("seq {seq}")))
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn messages_queued_while_the_writer_slept_go_out_in_order_under_one_flush() {
        let (outbox, to_send) = Outbox::<u32>::new(1024);
        let sink = Noting::default();
        let writer = tokio::spawn(write_out(
            sink.clone(),
            to_send,
            outbox.overflow(),
            |seq| Message::text(format!("seq {seq}")),
            Message::text,
        ));
        for seq in 1..=5 {
            assert!(outbox.offer(seq));
        }
        tokio::task::yield_now().await;
        let mut expected = frames(1..=5);
        expected.push(Asked::Flush);
        assert_eq!(sink.asked(), expected);

        // The next wake-up finds a single message: written and flushed
        // alone, at once.
        assert!(outbox.offer(6));
        tokio::task::yield_now().await;
        assert_eq!(sink.asked(), [Asked::Frame("seq 6".into()), Asked::Flush]);

        // More than one flush's worth: flushed every MESSAGES_PER_FLUSH,
        // still in order.
        let many = 7..7 + MESSAGES_PER_FLUSH as u32 + 10;
        for seq in many.clone() {
            assert!(outbox.offer(seq));
        }
        drop(outbox);
        writer.await.unwrap();
        let (first, rest) = many
            .clone()
            .partition::<Vec<u32>, _>(|seq| *seq < 7 + MESSAGES_PER_FLUSH as u32);
        let mut expected = frames(first);
        expected.push(Asked::Flush);
        expected.extend(frames(rest));
        expected.extend([Asked::Flush, Asked::Close]);
        assert_eq!(sink.asked(), expected);
    }

    #[tokio::test(start_paused = true)]
    async fn a_handshake_that_never_finishes_times_out_or_yields_to_stop() {
        let (stopping, mut stop) = watch::channel(false);
        let started = tokio::time::Instant::now();
        let never = handshake(std::future::pending::<()>(), &mut stop).await;
        assert_eq!(never, Err("no WebSocket handshake within 10 s".to_string()));
        assert_eq!(started.elapsed(), HANDSHAKE_WITHIN);
        stopping.send(true).unwrap();
        let stopped = handshake(std::future::pending::<()>(), &mut stop).await;
        assert_eq!(stopped, Err("the desk is stopping".to_string()));
    }
}
