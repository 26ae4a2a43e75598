//! The client orders' record kept off the async workers: one thread of
//! its own ([`OrderRecorder`]) owns the store's `client_orders`
//! (SQLite's or PostgreSQL's) and does every read and write in turn, so
//! a database that is down or half-open stalls that thread, never the
//! runtime that carries every client's heartbeats, quotes and timers. A
//! caller waits for an answer at most [`ANSWER_WITHIN`]; past it the
//! store counts as failing for that call.

use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::blotter::client_orders::{ClientOrderRecords, ClientOrderRow};

/// How long a caller waits for the store's answer: a client's order is
/// refused rather than held longer (PostgreSQL's own waits are bounded
/// below this, `blotter::postgres::client_orders`).
pub(crate) const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// Calls queued for the thread at most: beyond it the store is too far
/// behind to be waited for, and a call fails at once.
const QUEUE: usize = 1024;

enum Job {
    Record {
        row: ClientOrderRow,
        /// `None`: nobody waits (the outcome of an order already told).
        done: Option<oneshot::Sender<Result<(), String>>>,
    },
    Latest {
        client: String,
        client_order_id: String,
        done: oneshot::Sender<Result<Option<ClientOrderRow>, String>>,
    },
}

/// The thread that owns the record; it ends when this is dropped.
pub(crate) struct OrderRecorder {
    jobs: SyncSender<Job>,
    /// [`ANSWER_WITHIN`], but in tests.
    answer_within: Duration,
}

impl OrderRecorder {
    /// The thread owning `record`, its callers waiting for an answer at
    /// most `answer_within`.
    pub(crate) fn start(
        record: Box<dyn ClientOrderRecords>,
        answer_within: Duration,
    ) -> OrderRecorder {
        let (jobs, inbox) = sync_channel::<Job>(QUEUE);
        std::thread::Builder::new()
            .name("client-orders".into())
            .spawn(move || {
                for job in inbox {
                    match job {
                        Job::Record { row, done } => {
                            let written = record.record(&row).map_err(|error| error.to_string());
                            match done {
                                Some(done) => {
                                    let _ = done.send(written);
                                }
                                None => {
                                    if let Err(error) = written {
                                        tracing::error!(client = %row.client, client_order_id = %row.client_order_id, "a client order's state cannot be recorded: {error}");
                                    }
                                }
                            }
                        }
                        Job::Latest {
                            client,
                            client_order_id,
                            done,
                        } => {
                            let row = record
                                .latest(&client, &client_order_id)
                                .map_err(|error| error.to_string());
                            let _ = done.send(row);
                        }
                    }
                }
            })
            .expect("a thread for the client orders' record");
        OrderRecorder {
            jobs,
            answer_within,
        }
    }

    /// Appends `row`, waiting for the store to say it is written.
    pub(crate) async fn record(&self, row: ClientOrderRow) -> Result<(), String> {
        let (done, answer) = oneshot::channel();
        self.queue(Job::Record {
            row,
            done: Some(done),
        })?;
        wait(answer, self.answer_within).await?
    }

    /// Appends `row` in its turn, after every call queued before it; a
    /// failure is logged.
    pub(crate) fn record_later(&self, row: ClientOrderRow) {
        let client_order_id = row.client_order_id.clone();
        if let Err(error) = self.queue(Job::Record { row, done: None }) {
            tracing::error!(%client_order_id, "a client order's state cannot be recorded: {error}");
        }
    }

    /// The latest recorded state of `client`'s order `client_order_id`.
    pub(crate) async fn latest(
        &self,
        client: &str,
        client_order_id: &str,
    ) -> Result<Option<ClientOrderRow>, String> {
        let (done, answer) = oneshot::channel();
        self.queue(Job::Latest {
            client: client.to_string(),
            client_order_id: client_order_id.to_string(),
            done,
        })?;
        wait(answer, self.answer_within).await?
    }

    fn queue(&self, job: Job) -> Result<(), String> {
        self.jobs.try_send(job).map_err(|error| match error {
            TrySendError::Full(_) => {
                format!("the order record is {QUEUE} calls behind")
            }
            TrySendError::Disconnected(_) => "the order record has stopped".to_string(),
        })
    }
}

async fn wait<T>(answer: oneshot::Receiver<T>, within: Duration) -> Result<T, String> {
    match tokio::time::timeout(within, answer).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(_)) => Err("the order record has stopped".into()),
        Err(_) => Err(format!(
            "the order record did not answer within {} ms",
            within.as_millis()
        )),
    }
}
