//! The desk's recent corroborated prices as the blotter holds them: per
//! pair, the locks of real LPs in streams where the operator released
//! nothing, since a given time. Read once when the desk opens, so that a
//! restarted desk still has its reference prices.

use std::path::Path;

use rust_decimal::Decimal;

use crate::blotter::read::{open_read_only, ReadError};

/// One lock the blotter holds: pair symbol, LP price, unix ms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecentLock {
    pub pair: String,
    pub price: Decimal,
    pub at_ms: i64,
}

/// Every lock of a real LP at or after unix ms `since_ms`, oldest first,
/// leaving out the streams in which the operator released a price (their
/// locks may rest on the operator's word alone).
pub(crate) fn recent_locks(path: &Path, since_ms: i64) -> Result<Vec<RecentLock>, String> {
    let conn = open_read_only(path).map_err(|error: ReadError| error.to_string())?;
    read_locks(&conn, since_ms).map_err(|error| {
        format!(
            "blotter '{}': reading its recent locks: {error}",
            path.display()
        )
    })
}

fn read_locks(conn: &rusqlite::Connection, since_ms: i64) -> rusqlite::Result<Vec<RecentLock>> {
    let mut statement = conn.prepare(
        "SELECT r.pair, l.price, l.at_ms, l.lp, r.simulated_lps
           FROM lock_events l JOIN rfqs r ON r.id = l.rfq
          WHERE l.event = 'locked' AND l.at_ms >= ?1 AND l.price IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM lock_events x
                             WHERE x.rfq = l.rfq AND x.event = 'released')
          ORDER BY l.at_ms",
    )?;
    let rows = statement.query_map([since_ms], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, i64>(2)?,
            row.get::<_, String>(3)?,
            row.get::<_, String>(4)?,
        ))
    })?;
    let mut locks = Vec::new();
    for row in rows {
        let (pair, price, at_ms, lp, simulated_lps) = row?;
        // A simulation's price vouches for no real LP.
        let simulated: Vec<String> = serde_json::from_str(&simulated_lps).unwrap_or_default();
        if simulated.contains(&lp) {
            continue;
        }
        let Ok(price) = price.parse::<Decimal>() else {
            continue;
        };
        locks.push(RecentLock { pair, price, at_ms });
    }
    Ok(locks)
}
