//! What the desk server's operators did beyond starting RFQs, on the
//! record (`desk_actions`, SQLite's schema 17, PostgreSQL's 7): pausing
//! and resuming a client, the kill switch, and the accept, release and
//! stop of an RFQ, each with the operator who did it. Written by the
//! server through a connection of its own to whichever store the desk's
//! blotter is ([`DeskActionRecords`]: SQLite's here, one short transaction
//! per action before the action takes effect; PostgreSQL's in
//! `postgres::desk_actions`); the latest pause rows of a desk are the
//! pauses it comes back with when restarted.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection};

use super::{schema, BlotterError};

/// What an operator did, as `desk_actions.action` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeskAction {
    PauseClient,
    ResumeClient,
    KillSwitchOn,
    KillSwitchOff,
    Accept,
    Release,
    Stop,
}

impl DeskAction {
    pub fn as_str(self) -> &'static str {
        match self {
            DeskAction::PauseClient => "pause_client",
            DeskAction::ResumeClient => "resume_client",
            DeskAction::KillSwitchOn => "kill_switch_on",
            DeskAction::KillSwitchOff => "kill_switch_off",
            DeskAction::Accept => "accept",
            DeskAction::Release => "release",
            DeskAction::Stop => "stop",
        }
    }
}

/// One action, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskActionRow {
    pub operator: String,
    pub action: DeskAction,
    /// The client paused or resumed.
    pub client: Option<String>,
    /// The RFQ accepted, released or stopped.
    pub rfq_id: Option<String>,
    /// The client quote an accept named (none: whichever was live).
    pub quote_id: Option<String>,
    /// The side a two-way accept named.
    pub side: Option<String>,
}

/// A pause in force on the record: who set it and when (UTC ISO-8601).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedPause {
    /// The client paused; `None` for the kill switch.
    pub client: Option<String>,
    pub operator: String,
    pub at: String,
}

/// A store's `desk_actions`, as one desk (by its name) writes and reads
/// them. Called from the desk's async tasks: an implementation never
/// keeps a tokio worker waiting on its database for long.
pub trait DeskActionRecords: Send + Sync {
    /// Appends `row` as done now; gives the time (UTC ISO-8601, to the
    /// millisecond) it is recorded with.
    fn record(&self, row: &DeskActionRow) -> Result<String, BlotterError>;

    /// The pauses in force on this desk's record: every client whose
    /// latest pause row is a pause, and the kill switch when its latest
    /// row turned it on; oldest first. Other desks' rows are theirs.
    fn pauses_in_force(&self) -> Result<Vec<RecordedPause>, BlotterError>;
}

/// When a row is recorded, as `desk_actions.at` and `at_ms` hold it.
pub(crate) fn stamp_now() -> (String, i64) {
    let now = chrono::Utc::now();
    (
        now.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        now.timestamp_millis(),
    )
}

/// The `desk_actions` table of one blotter file.
pub struct SqliteDeskActions {
    path: PathBuf,
    desk: String,
    conn: Mutex<Connection>,
}

impl SqliteDeskActions {
    /// Opens the blotter at `path` (which the desk has already created and
    /// brought to the current schema); rows are written as desk `desk`.
    pub fn open(path: &Path, desk: &str) -> Result<SqliteDeskActions, BlotterError> {
        let conn = schema::open(path, false, schema::BUSY_TIMEOUT)?;
        Ok(SqliteDeskActions {
            path: path.to_path_buf(),
            desk: desk.to_string(),
            conn: Mutex::new(conn),
        })
    }
}

impl DeskActionRecords for SqliteDeskActions {
    fn record(&self, row: &DeskActionRow) -> Result<String, BlotterError> {
        let (at, at_ms) = stamp_now();
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        conn.execute(
            "INSERT INTO desk_actions
                 (at, at_ms, desk, operator, action, client, rfq_id, quote_id, side)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                at,
                at_ms,
                self.desk,
                row.operator,
                row.action.as_str(),
                row.client,
                row.rfq_id,
                row.quote_id,
                row.side
            ],
        )
        .map_err(|source| BlotterError::NotWritable {
            path: self.path.clone(),
            source,
        })?;
        Ok(at)
    }

    fn pauses_in_force(&self) -> Result<Vec<RecordedPause>, BlotterError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let read = |source| BlotterError::Read {
            path: self.path.clone(),
            source,
        };
        let mut statement = conn
            .prepare(
                "SELECT d.client, d.operator, d.at FROM desk_actions d
                 WHERE d.desk = ?1 AND d.action IN ('pause_client', 'kill_switch_on')
                   AND d.id = (SELECT max(x.id) FROM desk_actions x
                               WHERE x.desk = d.desk AND x.client IS d.client
                                 AND x.action IN ('pause_client', 'resume_client',
                                                  'kill_switch_on', 'kill_switch_off'))
                 ORDER BY d.id",
            )
            .map_err(read)?;
        let rows = statement
            .query_map(params![self.desk], |row| {
                Ok(RecordedPause {
                    client: row.get(0)?,
                    operator: row.get(1)?,
                    at: row.get(2)?,
                })
            })
            .map_err(read)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pause(operator: &str, action: DeskAction, client: Option<&str>) -> DeskActionRow {
        DeskActionRow {
            operator: operator.into(),
            action,
            client: client.map(str::to_string),
            rfq_id: None,
            quote_id: None,
            side: None,
        }
    }

    #[test]
    fn the_latest_pause_row_of_each_client_and_of_the_kill_switch_is_what_a_restart_restores() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blotter.db");
        drop(schema::open(&path, true, schema::BUSY_TIMEOUT).unwrap());
        let actions = SqliteDeskActions::open(&path, "desk-a").unwrap();
        actions
            .record(&pause("alice", DeskAction::PauseClient, Some("acme")))
            .unwrap();
        actions
            .record(&pause("alice", DeskAction::PauseClient, Some("beta")))
            .unwrap();
        actions
            .record(&pause("bob", DeskAction::ResumeClient, Some("acme")))
            .unwrap();
        actions
            .record(&pause("bob", DeskAction::KillSwitchOn, None))
            .unwrap();
        actions
            .record(&pause("bob", DeskAction::KillSwitchOff, None))
            .unwrap();
        actions
            .record(&pause("alice", DeskAction::KillSwitchOn, None))
            .unwrap();
        // Another desk sharing the file keeps its own pauses.
        SqliteDeskActions::open(&path, "desk-b")
            .unwrap()
            .record(&pause("carol", DeskAction::PauseClient, Some("acme")))
            .unwrap();
        drop(actions);
        let reopened = SqliteDeskActions::open(&path, "desk-a").unwrap();
        let in_force: Vec<(Option<String>, String)> = reopened
            .pauses_in_force()
            .unwrap()
            .into_iter()
            .map(|pause| (pause.client, pause.operator))
            .collect();
        assert_eq!(
            in_force,
            [
                (Some("beta".to_string()), "alice".to_string()),
                (None, "alice".to_string())
            ]
        );
    }
}
