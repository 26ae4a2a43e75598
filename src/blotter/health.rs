//! LP health in the blotter: the recorder that writes each change of an
//! LP's desk-wide health (one row per change in `lp_health`, however many
//! streams saw it), and the report's per-LP health figures read back from
//! it. Health changes are rare (a breaker opening, a pause, a fade), so the
//! recorder keeps a connection of its own on a thread of its own and
//! commits each row at once; the events' writer is not involved.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{params, Connection};
use rust_decimal::Decimal;
use serde::Serialize;

use super::report_rows::HealthRow;
use super::BlotterError;
use crate::lp::guarded::RecordedChange;
use crate::rfq::event::HealthState;

/// Writes LP health changes to the blotter; see the module docs.
pub struct HealthRecorder {
    sender: mpsc::Sender<RecordedChange>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<u64>,
}

impl HealthRecorder {
    /// Starts recording into the blotter at `path` (already opened and
    /// upgraded by [`super::Blotter::open`]).
    pub fn start(path: &Path) -> Result<HealthRecorder, BlotterError> {
        let open_error = |source| BlotterError::Open {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(open_error)?;
        conn.busy_timeout(super::schema::BUSY_TIMEOUT)
            .map_err(open_error)?;
        let (sender, changes) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let path = path.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("blotter-health".into())
            .spawn(move || record(conn, path, changes, stopping, FIRST_RETRY_WAIT))
            .map_err(BlotterError::Thread)?;
        Ok(HealthRecorder {
            sender,
            stop,
            thread,
        })
    }

    /// Where the LPs send their changes.
    pub fn sender(&self) -> mpsc::Sender<RecordedChange> {
        self.sender.clone()
    }

    /// Writes what was sent so far and stops; returns how many changes
    /// could not be written (counted with the blotter's lost events).
    pub async fn close(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let thread = self.thread;
        match tokio::task::spawn_blocking(move || thread.join()).await {
            Ok(Ok(lost)) => lost,
            // The thread died: nothing says what it wrote.
            _ => 1,
        }
    }
}

fn record(
    conn: Connection,
    path: PathBuf,
    changes: mpsc::Receiver<RecordedChange>,
    stop: Arc<AtomicBool>,
    first_wait: Duration,
) -> u64 {
    let mut failed = false;
    let mut lost = 0;
    loop {
        let change = match changes.recv_timeout(Duration::from_millis(50)) {
            Ok(change) => change,
            Err(mpsc::RecvTimeoutError::Timeout) if !stop.load(Ordering::Relaxed) => continue,
            // Stopping: everything already sent is written first.
            Err(_) => match changes.try_recv() {
                Ok(change) => change,
                Err(_) => return lost,
            },
        };
        // A busy or failing file gets a few tries with growing waits (the
        // writer may hold the lock for a batch): a change is a small row,
        // kept in order, and one that still cannot be written is counted
        // as lost, so the run ends saying so.
        let mut result = insert(&conn, &change);
        let mut wait = first_wait;
        for _ in 0..RETRIES {
            if result.is_ok() {
                break;
            }
            std::thread::sleep(wait);
            wait *= 2;
            result = insert(&conn, &change);
        }
        if result.is_err() {
            lost += 1;
        }
        match result {
            Ok(()) if failed => {
                failed = false;
                tracing::info!(path = %path.display(), "LP health rows are written again");
            }
            Ok(()) => {}
            // A health row is worth a log line, not a stopped desk.
            Err(error) if !failed => {
                failed = true;
                tracing::warn!(path = %path.display(), %error, lp = %change.lp, "cannot write an LP health change to the blotter");
            }
            Err(_) => {}
        }
    }
}

/// Retries of a change that could not be written, the first after
/// [`FIRST_RETRY_WAIT`], each wait twice the last (0.1 s to 1.6 s).
const RETRIES: usize = 5;
const FIRST_RETRY_WAIT: Duration = Duration::from_millis(100);

fn insert(conn: &Connection, recorded: &RecordedChange) -> rusqlite::Result<()> {
    let change = &recorded.change;
    conn.execute(
        "INSERT INTO lp_health (lp, at, at_ms, state, previous, retry_in_ms, reject_rate, reason, throttled)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            &*recorded.lp,
            crate::clock::iso_millis(recorded.at),
            recorded.at.timestamp_millis(),
            change.state.as_str(),
            change.previous.as_str(),
            change.retry_in_ms.map(|ms| i64::try_from(ms).unwrap_or(i64::MAX)),
            change.reject_rate.to_string(),
            change.reason.as_deref(),
            i64::try_from(change.throttled).unwrap_or(i64::MAX),
        ],
    )?;
    Ok(())
}

/// One LP's health over the report's time filters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthFigures {
    pub lp: String,
    /// Requests not sent for a rate limit (ours, or a pause the LP asked for).
    pub throttled: u64,
    /// Times its breaker opened (a failed probe opens it again).
    pub breaker_openings: u64,
    /// Time from a breaker opening until the LP was back (its state
    /// neither `down` nor `probing`), ms; a spell still open at the last
    /// row counts until its cool-off ended.
    pub down_ms: u64,
    /// Times it refused our credentials.
    pub auth_failures: u64,
    /// Its smoothed last-look reject rate at its latest row, percent.
    pub latest_reject_rate: Option<Decimal>,
}

/// The health figures per LP from `lp_health` rows between `since_ms`
/// (inclusive) and `until_ms` (exclusive), for `lp` only if given; in
/// order of first appearance. A blotter without the table (read through
/// an upgraded copy, it always has it) gives none.
pub fn figures(
    conn: &Connection,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    lp: Option<&str>,
) -> rusqlite::Result<Vec<HealthFigures>> {
    figures_of(|each| super::sqlite_rows::health_rows(conn, since_ms, until_ms, lp, each))
}

/// The health figures per LP from the rows `read` yields (in the order
/// recorded), in order of first appearance.
pub(super) fn figures_of<E>(
    read: impl FnOnce(&mut dyn FnMut(HealthRow<'_>)) -> Result<(), E>,
) -> Result<Vec<HealthFigures>, E> {
    let mut out: Vec<HealthFigures> = Vec::new();
    // Per LP: when its current down spell began, and when its cool-off ends.
    let mut down_since: Vec<Option<(i64, i64)>> = Vec::new();
    read(&mut |row| {
        let at_ms = row.at_ms;
        let state = HealthState::from_wire(row.state);
        let retry_in_ms = row.retry_in_ms;
        let index = match out.iter().position(|figures| figures.lp == row.lp) {
            Some(index) => index,
            None => {
                out.push(HealthFigures {
                    lp: row.lp.to_string(),
                    throttled: 0,
                    breaker_openings: 0,
                    down_ms: 0,
                    auth_failures: 0,
                    latest_reject_rate: None,
                });
                down_since.push(None);
                out.len() - 1
            }
        };
        let figures = &mut out[index];
        figures.throttled += u64::try_from(row.throttled).unwrap_or(0);
        figures.latest_reject_rate = row.reject_rate.parse().ok();
        let down = matches!(state, Some(HealthState::Down | HealthState::Probing));
        match (down_since[index], down) {
            (None, true) => down_since[index] = Some((at_ms, at_ms + retry_in_ms.unwrap_or(0))),
            (Some((since, _)), false) => {
                figures.down_ms += u64::try_from(at_ms - since).unwrap_or(0);
                down_since[index] = None;
            }
            (Some((since, _)), true) => {
                down_since[index] = Some((since, at_ms + retry_in_ms.unwrap_or(0)));
            }
            (None, false) => {}
        }
        match state {
            Some(HealthState::Down) => figures.breaker_openings += 1,
            Some(HealthState::AuthFailed) => figures.auth_failures += 1,
            _ => {}
        }
    })?;
    for (figures, spell) in out.iter_mut().zip(down_since) {
        if let Some((since, until)) = spell {
            figures.down_ms += u64::try_from(until - since).unwrap_or(0);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lp::health::HealthChange;
    use rust_decimal_macros::dec;

    #[test]
    fn figures_count_openings_time_down_and_throttled_requests() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::blotter::schema::migrate(&mut conn, crate::blotter::schema::LATEST).unwrap();
        let row = |lp: &str,
                   at_ms: i64,
                   state: &str,
                   retry: Option<i64>,
                   rate: &str,
                   throttled: i64| {
            conn.execute(
                "INSERT INTO lp_health (lp, at, at_ms, state, previous, retry_in_ms, reject_rate, reason, throttled)
                 VALUES (?1, '', ?2, ?3, 'ok', ?4, ?5, NULL, ?6)",
                params![lp, at_ms, state, retry, rate, throttled],
            )
            .unwrap();
        };
        row("A", 1_000, "throttled", None, "10", 3);
        row("A", 9_000, "ok", None, "10", 40);
        row("A", 10_000, "down", Some(30_000), "10", 0);
        row("A", 40_100, "probing", None, "10", 0);
        row("A", 40_300, "down", Some(30_000), "10", 0);
        row("A", 70_400, "probing", None, "10", 0);
        row("A", 70_500, "fading", None, "29.2", 0);
        row("B", 5_000, "auth_failed", None, "10", 0);
        row("C", 50_000, "down", Some(30_000), "10", 0);
        let all = figures(&conn, None, None, None).unwrap();
        assert_eq!(all.len(), 3);
        let a = &all[0];
        assert_eq!(
            (a.throttled, a.breaker_openings, a.down_ms, a.auth_failures),
            (43, 2, 60_500, 0)
        );
        assert_eq!(a.latest_reject_rate, Some(dec!(29.2)));
        assert_eq!((all[1].lp.as_str(), all[1].auth_failures), ("B", 1));
        // Still down at its last row: counted until its cool-off ends.
        assert_eq!((all[2].breaker_openings, all[2].down_ms), (1, 30_000));
        let only_b = figures(&conn, Some(2_000), None, Some("B")).unwrap();
        assert_eq!(only_b.len(), 1);
        let later = figures(&conn, Some(9_500), Some(70_000), Some("A")).unwrap();
        assert_eq!((later[0].breaker_openings, later[0].throttled), (2, 0));
    }

    #[test]
    fn a_change_that_cannot_be_written_is_retried_then_counted_as_lost_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blotter.db");
        let mut conn = Connection::open(&path).unwrap();
        crate::blotter::schema::migrate(&mut conn, crate::blotter::schema::LATEST).unwrap();
        // LP X's rows fail as a full disk would; the others are written.
        conn.execute_batch(
            "CREATE TRIGGER full BEFORE INSERT ON lp_health WHEN NEW.lp = 'X'
             BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END;",
        )
        .unwrap();
        let (sender, changes) = mpsc::channel();
        for lp in ["A", "X", "B"] {
            sender
                .send(RecordedChange {
                    lp: Arc::from(lp),
                    at: chrono::DateTime::from_timestamp_millis(1_000).unwrap(),
                    change: HealthChange {
                        state: HealthState::Down,
                        previous: HealthState::Ok,
                        retry_in_ms: Some(30_000),
                        reject_rate: dec!(10),
                        reason: None,
                        throttled: 0,
                    },
                })
                .unwrap();
        }
        drop(sender);
        let stop = Arc::new(AtomicBool::new(true));
        let lost = record(
            Connection::open(&path).unwrap(),
            path.clone(),
            changes,
            stop,
            Duration::from_micros(1),
        );
        assert_eq!(lost, 1);
        let written: Vec<String> = conn
            .prepare("SELECT lp FROM lp_health ORDER BY id")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(written, ["A", "B"]);
    }
}
