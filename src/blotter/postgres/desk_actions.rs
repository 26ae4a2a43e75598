//! Operators' actions on the record in PostgreSQL ([`PgDeskActions`], the
//! `desk_actions` table of its schema 7): the same rows as SQLite's
//! (`blotter::desk_actions`), written by a thread of their own that owns
//! the connection, so the desk's async tasks only ever hand a row over and
//! never wait on the database. Rows are written in the order they were
//! handed over; a connection lost is made again, and the queue is drained
//! before the desk closes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use postgres::Client;

use super::super::desk_actions::{stamp_now, DeskActionRecords, DeskActionRow, RecordedPause};
use super::super::BlotterError;
use super::{describe, PgUrl};

/// Actions waiting for the writer: far more than operators can type
/// while a database is briefly away.
const QUEUE: usize = 1024;
/// Tries per row before it is given up (and said in the log): a lost row
/// loses who did something, never the thing done.
const ATTEMPTS: u32 = 3;
/// Between two tries of one row.
const RETRY_PAUSE: Duration = Duration::from_millis(500);
/// How long a read of the pauses in force may take, queue included.
const READ_WAIT: Duration = Duration::from_secs(30);

enum Job {
    Record {
        row: DeskActionRow,
        at: String,
        at_ms: i64,
    },
    PausesInForce(SyncSender<Result<Vec<RecordedPause>, String>>),
}

/// The `desk_actions` of the database at a URL, as desk `desk` writes
/// and reads them.
pub struct PgDeskActions {
    url: PgUrl,
    /// Taken when dropped: the writer then drains what is left and ends.
    jobs: Option<SyncSender<Job>>,
    writer: Option<JoinHandle<()>>,
    /// Set when dropped: a database that fails a row then gets no more
    /// tries, so that closing the desk waits for it once, not per row.
    closing: Arc<AtomicBool>,
}

impl PgDeskActions {
    /// The desk actions of the database at `url` (which the desk has
    /// already brought to the current schema), written as desk `desk`.
    /// Connects before it answers, so that a database that cannot be
    /// reached is said at start.
    pub fn open(url: &PgUrl, desk: &str) -> Result<PgDeskActions, BlotterError> {
        let failed = |detail: String| BlotterError::Database {
            url: url.to_string(),
            detail,
        };
        let (jobs, queued) = mpsc::sync_channel(QUEUE);
        let (ready, connected) = mpsc::sync_channel(1);
        let writer_url = url.clone();
        let desk = desk.to_string();
        let closing = Arc::new(AtomicBool::new(false));
        let writer_closing = closing.clone();
        let writer = std::thread::Builder::new()
            .name("desk-actions".into())
            .spawn(move || {
                let mut client = None;
                let first = connection(&writer_url, &mut client).map(drop);
                let _ = ready.send(first.map_err(|error| describe(&error)));
                write_all(&writer_url, &desk, client, queued, &writer_closing);
            })
            .map_err(BlotterError::Thread)?;
        let actions = PgDeskActions {
            url: url.clone(),
            jobs: Some(jobs),
            writer: Some(writer),
            closing,
        };
        match connected.recv() {
            Ok(Ok(())) => Ok(actions),
            Ok(Err(detail)) => Err(failed(detail)),
            Err(_) => Err(failed("the desk actions' writer ended".into())),
        }
    }

    fn send(&self, job: Job) -> Result<(), BlotterError> {
        let sent = match &self.jobs {
            Some(jobs) => jobs.try_send(job),
            None => Err(TrySendError::Disconnected(job)),
        };
        let detail = match sent {
            Ok(()) => return Ok(()),
            Err(TrySendError::Full(_)) => format!(
                "{QUEUE} operators' actions are already waiting for the database: this one is not recorded"
            ),
            Err(TrySendError::Disconnected(_)) => "the desk actions' writer has ended".to_string(),
        };
        Err(BlotterError::Database {
            url: self.url.to_string(),
            detail,
        })
    }
}

impl DeskActionRecords for PgDeskActions {
    /// Hands `row` to the writer: it is on the record a moment later (a
    /// row that cannot be written after a few tries is said in the log).
    fn record(&self, row: &DeskActionRow) -> Result<String, BlotterError> {
        let (at, at_ms) = stamp_now();
        self.send(Job::Record {
            row: row.clone(),
            at: at.clone(),
            at_ms,
        })?;
        Ok(at)
    }

    /// Waits (at most [`READ_WAIT`]) for the writer to read them, after
    /// every row handed over before: for the desk's start, not its tasks.
    fn pauses_in_force(&self) -> Result<Vec<RecordedPause>, BlotterError> {
        let (answer, answered) = mpsc::sync_channel(1);
        self.send(Job::PausesInForce(answer))?;
        let detail = match answered.recv_timeout(READ_WAIT) {
            Ok(Ok(pauses)) => return Ok(pauses),
            Ok(Err(detail)) => detail,
            Err(_) => format!(
                "the pauses in force were not read within {} s",
                READ_WAIT.as_secs()
            ),
        };
        Err(BlotterError::Database {
            url: self.url.to_string(),
            detail,
        })
    }
}

impl Drop for PgDeskActions {
    /// Waits for the writer to write what it holds (each try bounded by
    /// the connection's timeouts; once one fails, the rest are given up
    /// and counted in the log).
    fn drop(&mut self) {
        self.closing.store(true, Ordering::Relaxed);
        drop(self.jobs.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// The writer's loop: each job in turn, until every sender is gone.
fn write_all(
    url: &PgUrl,
    desk: &str,
    mut client: Option<Client>,
    jobs: Receiver<Job>,
    closing: &AtomicBool,
) {
    let mut given_up = 0u64;
    for job in jobs {
        match job {
            Job::Record { .. } if given_up > 0 => given_up += 1,
            Job::Record { row, at, at_ms } => {
                let mut tries = 0;
                let written = loop {
                    tries += 1;
                    let done = run(url, &mut client, |db| insert(db, desk, &row, &at, at_ms));
                    match done {
                        Ok(()) => break Ok(()),
                        Err(error) if tries >= ATTEMPTS || closing.load(Ordering::Relaxed) => {
                            break Err(describe(&error))
                        }
                        Err(_) => std::thread::sleep(RETRY_PAUSE),
                    }
                };
                if let Err(detail) = written {
                    tracing::error!(operator = %row.operator, action = row.action.as_str(), %url, "an operator's action cannot be recorded: {detail}");
                    if closing.load(Ordering::Relaxed) {
                        given_up = 1;
                    }
                }
            }
            Job::PausesInForce(answer) => {
                let read = run(url, &mut client, |db| pauses_in_force(db, desk));
                let _ = answer.send(read.map_err(|error| describe(&error)));
            }
        }
    }
    if given_up > 1 {
        tracing::error!(%url, "{} more operators' actions not recorded: the database failed while the desk was closing", given_up - 1);
    }
}

/// The open connection, made (again) when there is none or it was lost;
/// every wait on it bounded as the client orders' are.
fn connection<'a>(
    url: &PgUrl,
    client: &'a mut Option<Client>,
) -> Result<&'a mut Client, postgres::Error> {
    if client.as_ref().is_none_or(Client::is_closed) {
        *client = Some(super::client_orders::bounded(url).connect(postgres::NoTls)?);
    }
    Ok(client.as_mut().expect("connected above"))
}

fn run<T>(
    url: &PgUrl,
    client: &mut Option<Client>,
    work: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
) -> Result<T, postgres::Error> {
    let done = work(connection(url, client)?);
    if client.as_ref().is_some_and(Client::is_closed) {
        *client = None;
    }
    done
}

fn insert(
    db: &mut Client,
    desk: &str,
    row: &DeskActionRow,
    at: &str,
    at_ms: i64,
) -> Result<(), postgres::Error> {
    db.execute(
        "INSERT INTO desk_actions
             (at, at_ms, desk, operator, action, client, rfq_id, quote_id, side)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &at,
            &at_ms,
            &desk,
            &row.operator,
            &row.action.as_str(),
            &row.client,
            &row.rfq_id,
            &row.quote_id,
            &row.side,
        ],
    )?;
    Ok(())
}

/// SQLite's `pauses_in_force` on PostgreSQL: desk `desk`'s rows only.
fn pauses_in_force(db: &mut Client, desk: &str) -> Result<Vec<RecordedPause>, postgres::Error> {
    let rows = db.query(
        "SELECT d.client, d.operator, d.at FROM desk_actions d
         WHERE d.desk = $1 AND d.action IN ('pause_client', 'kill_switch_on')
           AND d.id = (SELECT max(x.id) FROM desk_actions x
                       WHERE x.desk = d.desk AND x.client IS NOT DISTINCT FROM d.client
                         AND x.action IN ('pause_client', 'resume_client',
                                          'kill_switch_on', 'kill_switch_off'))
         ORDER BY d.id",
        &[&desk],
    )?;
    Ok(rows
        .iter()
        .map(|row| RecordedPause {
            client: row.get(0),
            operator: row.get(1),
            at: row.get(2),
        })
        .collect())
}
