//! What the desk reads from its blotter when it opens, so that a restart
//! loses neither: its recent corroborated prices (per pair, the locks of
//! real LPs in streams where the operator released nothing, since a given
//! time) and the fills that count towards the clients' daily limits today.
//! Any store yields them through [`ReportRows`] (`recent_locks`,
//! `client_fills`): an SQLite file's or a PostgreSQL database's.

use crate::blotter::read::{open_read_only, ReadError};
use crate::blotter::report_rows::ReportRows;
use crate::blotter::sqlite_rows::SqliteRows;
use crate::blotter::BlotterAt;

pub(crate) use crate::blotter::report_rows::{ClientFill, RecentLock};

/// Every lock of a real LP at or after unix ms `since_ms` in the blotter
/// `at`, oldest first, leaving out the streams in which the operator
/// released a price (their locks may rest on the operator's word alone).
pub(crate) fn recent_locks(at: &BlotterAt, since_ms: i64) -> Result<Vec<RecentLock>, String> {
    let read = match at {
        BlotterAt::File(path) => {
            let conn = open_read_only(path).map_err(|error: ReadError| error.to_string())?;
            let locks = SqliteRows::alone(&conn).recent_locks(since_ms);
            locks.map_err(|error| error.to_string())
        }
        BlotterAt::Postgres(url) => crate::blotter::postgres::off_runtime(|| {
            crate::blotter::postgres::read_rows(url, |rows| rows.recent_locks(since_ms))
        }),
    };
    read.map_err(|error| format!("blotter '{at}': reading its recent locks: {error}"))
}

/// Every fill recorded at or after `since_ms` (epoch ms) in the blotter
/// `at` (a file or a PostgreSQL database, read through its store's
/// [`crate::blotter::report_rows::ReportRows`]), for the clients' daily limits: so
/// what a client filled today survives a restart.
pub(crate) fn client_fills_since(
    at: &BlotterAt,
    since_ms: i64,
) -> Result<Vec<ClientFill>, ReadError> {
    match at {
        BlotterAt::File(path) => {
            let conn = open_read_only(path)?;
            SqliteRows::alone(&conn)
                .client_fills(since_ms)
                .map_err(|source| {
                    crate::blotter::BlotterError::Read {
                        path: path.to_path_buf(),
                        source,
                    }
                    .into()
                })
        }
        BlotterAt::Postgres(url) => crate::blotter::postgres::off_runtime(|| {
            crate::blotter::postgres::read_rows(url, |rows| rows.client_fills(since_ms))
        })
        .map_err(|detail| {
            crate::blotter::BlotterError::Database {
                url: url.to_string(),
                detail,
            }
            .into()
        }),
    }
}
