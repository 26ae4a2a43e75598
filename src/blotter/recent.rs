//! The desk's recent corroborated prices as the blotter holds them: per
//! pair, the locks of real LPs in streams where the operator released
//! nothing, since a given time. Read once when the desk opens, so that a
//! restarted desk still has its reference prices. Any store yields them
//! through [`ReportRows::recent_locks`]; this reads SQLite's.

use std::path::Path;

use crate::blotter::read::{open_read_only, ReadError};
use crate::blotter::report_rows::ReportRows;
use crate::blotter::sqlite_rows::SqliteRows;

pub(crate) use crate::blotter::report_rows::RecentLock;

/// Every lock of a real LP at or after unix ms `since_ms` in the SQLite
/// blotter at `path`, oldest first, leaving out the streams in which the
/// operator released a price (their locks may rest on the operator's
/// word alone).
pub(crate) fn recent_locks(path: &Path, since_ms: i64) -> Result<Vec<RecentLock>, String> {
    let conn = open_read_only(path).map_err(|error: ReadError| error.to_string())?;
    SqliteRows::alone(&conn)
        .recent_locks(since_ms)
        .map_err(|error| {
            format!(
                "blotter '{}': reading its recent locks: {error}",
                path.display()
            )
        })
}
