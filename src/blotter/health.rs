//! LP health in the blotter: the report's per-LP health figures, read
//! back from the `lp_health` rows (one per change of an LP's desk-wide
//! health, however many streams saw it). The rows are written by the
//! blotter's writer like every other record (`HealthSink`, `sqlite_store`).

use rusqlite::Connection;
use rust_decimal::Decimal;
use serde::Serialize;

use super::report_rows::HealthRow;
use crate::rfq::event::HealthState;

/// One LP's health over the report's time filters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthFigures {
    pub lp: String,
    /// Requests not sent for a rate limit (ours, or a pause the LP asked for).
    pub(crate) throttled: u64,
    /// Times its breaker opened (a failed probe opens it again).
    pub(crate) breaker_openings: u64,
    /// Time from a breaker opening until the LP was back (its state
    /// neither `down` nor `probing`), ms; a spell still open at the last
    /// row counts until its cool-off ended.
    pub(crate) down_ms: u64,
    /// Times it refused our credentials.
    pub(crate) auth_failures: u64,
    /// Its smoothed last-look reject rate at its latest row, percent.
    pub(crate) latest_reject_rate: Option<Decimal>,
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
    figures_of(|each| super::sqlite_rows::health_rows(conn, since_ms, until_ms, lp, None, each))
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
    use rusqlite::params;
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
}
