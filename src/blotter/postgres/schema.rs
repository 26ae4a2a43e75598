//! The blotter's PostgreSQL schema and its migrations: the same tables,
//! columns and views as SQLite's (`super::super::schema`), the version kept
//! in a `schema_version` table, a database written by a newer lp-rfq
//! refused naming both versions.
//!
//! Differences that readers do not see: integers are BIGINT, ids come
//! from each table's sequence (shared by every desk writing the database,
//! so they never collide; answers' in blocks), LP answers' decimals are
//! packed into integers where they fit as SQLite's are, in columns of
//! their own (`price_packed`: PostgreSQL's columns have one type; the
//! `lp_answers` view shows both as the same text), and there are no
//! foreign keys (SQLite's are declared but not enforced: the writer
//! attaches rows to RFQs itself).

use postgres::Client;

use super::super::BlotterError;
use super::{describe, PgUrl};

/// Each entry upgrades the schema from version `index` to `index + 1`.
/// Append only, as SQLite's list.
const MIGRATIONS: [&str; 9] = [
    // 1: the shape SQLite's file has at its version 8 plus the desk that
    // wrote each RFQ and health change (`desk`, as SQLite's version 9).
    r#"
    CREATE TABLE rfqs (
        id                 BIGSERIAL PRIMARY KEY,
        rfq_id             TEXT    NOT NULL,
        side               TEXT    NOT NULL,
        amount             TEXT    NOT NULL,
        pair               TEXT    NOT NULL,
        base               TEXT    NOT NULL,
        quote              TEXT    NOT NULL,
        lps                TEXT    NOT NULL,
        markup_bps         TEXT    NOT NULL,
        threshold_bps      TEXT    NOT NULL,
        validity_buffer_ms BIGINT  NOT NULL,
        poll_interval_ms   BIGINT  NOT NULL,
        lp_timeout_ms      BIGINT  NOT NULL,
        duration_ms        BIGINT  NOT NULL,
        started_at         TEXT    NOT NULL,
        started_ms         BIGINT  NOT NULL,
        end_seq            BIGINT,
        end_t_ms           BIGINT,
        ended_at           TEXT,
        ended_ms           BIGINT,
        end_reason         TEXT,
        improvements       BIGINT,
        final_quote_id     TEXT,
        final_lp           TEXT,
        final_client_price TEXT,
        speed              TEXT    NOT NULL DEFAULT '1',
        outcome            TEXT,
        simulated          INTEGER NOT NULL DEFAULT 1,
        speed_per_mille    BIGINT  NOT NULL DEFAULT 1000,
        answers_from       BIGINT,
        answers_to         BIGINT,
        client             TEXT    NOT NULL DEFAULT 'house',
        simulated_lps      TEXT    NOT NULL DEFAULT '[]',
        desk               TEXT    NOT NULL DEFAULT ''
    );
    CREATE INDEX rfqs_started ON rfqs(started_ms);
    CREATE INDEX rfqs_pair_started ON rfqs(pair, started_ms);
    CREATE INDEX rfqs_open ON rfqs(rfq_id) WHERE end_seq IS NULL;
    CREATE TABLE lps (
        id   BIGSERIAL PRIMARY KEY,
        name TEXT NOT NULL UNIQUE
    );
    CREATE TABLE answers (
        id           BIGSERIAL PRIMARY KEY,
        rfq          BIGINT NOT NULL,
        seq          BIGINT NOT NULL,
        t_ms         BIGINT NOT NULL,
        lp           BIGINT NOT NULL,
        poll         BIGINT NOT NULL,
        latency_ms   BIGINT NOT NULL,
        price        TEXT,
        quantity     TEXT,
        valid_for_ms BIGINT,
        failure      TEXT,
        reason       TEXT,
        at_ms        BIGINT
    );
    CREATE TABLE client_quotes (
        id                  BIGSERIAL PRIMARY KEY,
        rfq                 BIGINT  NOT NULL,
        seq                 BIGINT  NOT NULL,
        t_ms                BIGINT  NOT NULL,
        at                  TEXT    NOT NULL,
        at_ms               BIGINT  NOT NULL,
        quote_id            TEXT    NOT NULL,
        lp                  TEXT    NOT NULL,
        side                TEXT    NOT NULL,
        lp_price            TEXT    NOT NULL,
        client_price        TEXT    NOT NULL,
        markup_bps          TEXT    NOT NULL,
        amount              TEXT    NOT NULL,
        client_pays         TEXT    NOT NULL,
        pays_asset          TEXT    NOT NULL,
        client_receives     TEXT    NOT NULL,
        receives_asset      TEXT    NOT NULL,
        client_valid_for_ms BIGINT  NOT NULL,
        reason              TEXT    NOT NULL,
        simulated           INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX client_quotes_rfq ON client_quotes(rfq, seq);
    CREATE TABLE lock_events (
        id          BIGSERIAL PRIMARY KEY,
        rfq         BIGINT NOT NULL,
        seq         BIGINT NOT NULL,
        t_ms        BIGINT NOT NULL,
        at          TEXT   NOT NULL,
        at_ms       BIGINT NOT NULL,
        event       TEXT   NOT NULL,
        lp          TEXT   NOT NULL,
        price       TEXT,
        previous_lp TEXT,
        reason      TEXT
    );
    CREATE INDEX lock_events_rfq ON lock_events(rfq, seq);
    CREATE TABLE executions (
        id              BIGSERIAL PRIMARY KEY,
        rfq             BIGINT NOT NULL,
        seq             BIGINT NOT NULL,
        t_ms            BIGINT NOT NULL,
        at              TEXT   NOT NULL,
        at_ms           BIGINT NOT NULL,
        event           TEXT   NOT NULL CHECK (event IN ('order_sent', 'order_rejected',
                               'filled', 'execution_unknown', 'not_filled')),
        order_id        TEXT,
        quote_id        TEXT,
        lp              TEXT,
        venue_ref       TEXT,
        lp_price        TEXT,
        client_price    TEXT,
        amount          TEXT,
        attempt         BIGINT,
        reason          TEXT,
        hold_ms         BIGINT,
        client_pays     TEXT,
        pays_asset      TEXT,
        client_receives TEXT,
        receives_asset  TEXT,
        desk_pnl        TEXT,
        pnl_asset       TEXT,
        venue_order_id  TEXT,
        simulated       INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX executions_rfq ON executions(rfq, seq);
    CREATE TABLE lp_health (
        id          BIGSERIAL PRIMARY KEY,
        lp          TEXT   NOT NULL,
        at          TEXT   NOT NULL,
        at_ms       BIGINT NOT NULL,
        state       TEXT   NOT NULL,
        previous    TEXT   NOT NULL,
        retry_in_ms BIGINT,
        reject_rate TEXT   NOT NULL,
        reason      TEXT,
        throttled   BIGINT NOT NULL,
        desk        TEXT   NOT NULL DEFAULT ''
    );
    CREATE INDEX lp_health_lp ON lp_health(lp, at_ms);
    CREATE VIEW lp_answers AS
    SELECT a.id, a.rfq, a.seq, a.t_ms,
           to_char(timestamp '1970-01-01' + a.at_ms * interval '1 millisecond',
                   'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at,
           a.at_ms, a.lp, a.poll, a.price, a.quantity, a.latency_ms, a.valid_for_ms,
           a.failure, a.reason
    FROM (SELECT a.id, a.rfq, a.seq, a.t_ms,
                 coalesce(a.at_ms, r.started_ms + a.t_ms * 1000 / r.speed_per_mille) AS at_ms,
                 l.name AS lp, a.poll, a.price, a.quantity, a.latency_ms, a.valid_for_ms,
                 a.failure, a.reason
          FROM answers a
          JOIN lps l ON l.id = a.lp
          LEFT JOIN rfqs r ON r.id = a.rfq) AS a;
    CREATE VIEW lp_quotes AS
    SELECT id, rfq, seq, t_ms, at, at_ms, lp, poll, price, quantity, latency_ms, valid_for_ms
    FROM lp_answers WHERE failure IS NULL;
    CREATE VIEW lp_errors AS
    SELECT id, rfq, seq, t_ms, at, at_ms, lp, poll, failure AS kind, reason, latency_ms
    FROM lp_answers WHERE failure IS NOT NULL;
    CREATE VIEW orders AS
    SELECT r.rfq_id, r.pair, r.side, o.rfq, o.seq, o.t_ms, o.at, o.at_ms, o.order_id,
           o.quote_id, o.lp, o.venue_ref, o.lp_price, o.amount, o.attempt,
           CASE a.event WHEN 'order_rejected' THEN 'rejected' WHEN 'filled' THEN 'filled'
                        WHEN 'execution_unknown' THEN 'unknown' END AS outcome,
           a.reason, a.hold_ms,
           CASE a.event WHEN 'filled' THEN a.lp_price END AS fill_price,
           a.at AS answered_at, a.at_ms AS answered_ms, r.client, r.desk
    FROM executions o
    JOIN rfqs r ON r.id = o.rfq
    LEFT JOIN executions a ON a.id = (
        SELECT x.id FROM executions x
        WHERE x.rfq = o.rfq AND x.order_id = o.order_id
          AND x.event IN ('order_rejected', 'filled', 'execution_unknown')
        ORDER BY x.seq DESC LIMIT 1)
    WHERE o.event = 'order_sent';
    CREATE VIEW fills AS
    SELECT r.rfq_id, r.pair, r.base, r.quote, r.side, f.rfq, f.seq, f.t_ms, f.at, f.at_ms,
           f.order_id, f.quote_id, f.lp, f.lp_price, f.client_price, f.amount, f.client_pays,
           f.pays_asset, f.client_receives, f.receives_asset, f.desk_pnl, f.pnl_asset,
           f.hold_ms, f.venue_order_id, r.client, f.simulated, r.desk
    FROM executions f
    JOIN rfqs r ON r.id = f.rfq
    WHERE f.event = 'filled';
    "#,
    // 2: what SQLite's versions 9 to 11 added: resolving unknown orders
    // with their venues (`client_order_id` on `order_sent`, and
    // `reconciled_by` / `reconciled_at` on an outcome learned later), the
    // desk server operator who asked for each RFQ and the channel it came
    // in by. `orders` keeps SQLite's columns in SQLite's order, `desk`
    // last.
    r#"
    ALTER TABLE executions ADD COLUMN client_order_id TEXT;
    ALTER TABLE executions ADD COLUMN reconciled_by TEXT;
    ALTER TABLE executions ADD COLUMN reconciled_at TEXT;
    ALTER TABLE rfqs ADD COLUMN operator TEXT;
    ALTER TABLE rfqs ADD COLUMN channel TEXT NOT NULL DEFAULT 'operator';
    DROP VIEW orders;
    CREATE VIEW orders AS
    SELECT r.rfq_id, r.pair, r.side, o.rfq, o.seq, o.t_ms, o.at, o.at_ms, o.order_id,
           o.quote_id, o.lp, o.venue_ref, o.lp_price, o.amount, o.attempt,
           CASE a.event WHEN 'order_rejected' THEN 'rejected' WHEN 'filled' THEN 'filled'
                        WHEN 'execution_unknown' THEN 'unknown' END AS outcome,
           a.reason, a.hold_ms,
           CASE a.event WHEN 'filled' THEN a.lp_price END AS fill_price,
           a.at AS answered_at, a.at_ms AS answered_ms, r.client,
           o.client_order_id, a.venue_order_id, a.reconciled_by, a.reconciled_at, r.desk
    FROM executions o
    JOIN rfqs r ON r.id = o.rfq
    LEFT JOIN executions a ON a.id = (
        SELECT x.id FROM executions x
        WHERE x.rfq = o.rfq AND x.order_id = o.order_id
          AND x.event IN ('order_rejected', 'filled', 'execution_unknown')
        ORDER BY x.seq DESC LIMIT 1)
    WHERE o.event = 'order_sent';
    "#,
    // 3: SQLite's version 12: the leg the client fixed (`base`, as every
    // earlier RFQ's, or `quote`).
    r#"
    ALTER TABLE rfqs ADD COLUMN fixed TEXT NOT NULL DEFAULT 'base';
    "#,
    // 4: SQLite's version 14: what vouched for each lock, so that only an
    // independently corroborated lock is read back as the desk's
    // reference. NULL for earlier locks, never read back.
    r#"
    ALTER TABLE lock_events ADD COLUMN corroborated_by TEXT;
    "#,
    // 5: SQLite's version 16: two-way requests. The columns and the views'
    // `side` as SQLite has them: a two-way RFQ's answers and lock events
    // carry their side; NULL is the RFQ's own (every row written before).
    r#"
    ALTER TABLE rfqs ADD COLUMN two_way INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE answers ADD COLUMN side TEXT;
    ALTER TABLE lock_events ADD COLUMN side TEXT;
    DROP VIEW lp_quotes;
    DROP VIEW lp_errors;
    DROP VIEW lp_answers;
    CREATE VIEW lp_answers AS
    SELECT a.id, a.rfq, a.seq, a.t_ms,
           to_char(timestamp '1970-01-01' + a.at_ms * interval '1 millisecond',
                   'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at,
           a.at_ms, a.lp, a.poll, a.price, a.quantity, a.latency_ms, a.valid_for_ms,
           a.failure, a.reason, a.side
    FROM (SELECT a.id, a.rfq, a.seq, a.t_ms, coalesce(a.side, r.side) AS side,
                 coalesce(a.at_ms, r.started_ms + a.t_ms * 1000 / r.speed_per_mille) AS at_ms,
                 l.name AS lp, a.poll, a.price, a.quantity, a.latency_ms, a.valid_for_ms,
                 a.failure, a.reason
          FROM answers a
          JOIN lps l ON l.id = a.lp
          LEFT JOIN rfqs r ON r.id = a.rfq) AS a;
    CREATE VIEW lp_quotes AS
    SELECT id, rfq, seq, t_ms, at, at_ms, lp, poll, price, quantity, latency_ms, valid_for_ms,
           side
    FROM lp_answers WHERE failure IS NULL;
    CREATE VIEW lp_errors AS
    SELECT id, rfq, seq, t_ms, at, at_ms, lp, poll, failure AS kind, reason, latency_ms, side
    FROM lp_answers WHERE failure IS NOT NULL;
    "#,
    // 6: SQLite's version 13: every order a client sent on its own session,
    // by its own order id (each state a new row, the latest wins), so that
    // a desk on PostgreSQL answers its status and never executes a
    // repeated id again after a restart, as on SQLite.
    r#"
    CREATE TABLE client_orders (
        id              BIGSERIAL PRIMARY KEY,
        client          TEXT NOT NULL,
        client_order_id TEXT NOT NULL,
        channel         TEXT NOT NULL,
        quote_id        TEXT,
        status          TEXT NOT NULL,
        price           TEXT,
        amount          TEXT,
        reason          TEXT,
        recorded_at     TEXT NOT NULL
    );
    CREATE INDEX client_orders_by_order ON client_orders (client, client_order_id, id);
    "#,
    // 7: SQLite's version 17: operators' actions (`desk_actions`) and
    // `orders.accepted_by`.
    r#"
    CREATE TABLE desk_actions (
        id       BIGSERIAL PRIMARY KEY,
        at       TEXT    NOT NULL,
        at_ms    BIGINT  NOT NULL,
        desk     TEXT    NOT NULL DEFAULT '',
        operator TEXT    NOT NULL,
        action   TEXT    NOT NULL,
        client   TEXT,
        rfq_id   TEXT,
        quote_id TEXT,
        side     TEXT
    );
    CREATE INDEX desk_actions_by_rfq ON desk_actions (rfq_id, id);
    DROP VIEW orders;
    CREATE VIEW orders AS
    SELECT r.rfq_id, r.pair, r.side, o.rfq, o.seq, o.t_ms, o.at, o.at_ms, o.order_id,
           o.quote_id, o.lp, o.venue_ref, o.lp_price, o.amount, o.attempt,
           CASE a.event WHEN 'order_rejected' THEN 'rejected' WHEN 'filled' THEN 'filled'
                        WHEN 'execution_unknown' THEN 'unknown' END AS outcome,
           a.reason, a.hold_ms,
           CASE a.event WHEN 'filled' THEN a.lp_price END AS fill_price,
           a.at AS answered_at, a.at_ms AS answered_ms, r.client,
           o.client_order_id, a.venue_order_id, a.reconciled_by, a.reconciled_at, r.desk,
           coalesce((SELECT d.operator FROM desk_actions d
                     WHERE d.rfq_id = r.rfq_id AND d.action = 'accept'
                       AND (d.quote_id IS NULL OR d.quote_id = o.quote_id)
                     ORDER BY d.quote_id IS NULL, d.id DESC LIMIT 1),
                    r.operator) AS accepted_by
    FROM executions o
    JOIN rfqs r ON r.id = o.rfq
    LEFT JOIN executions a ON a.id = (
        SELECT x.id FROM executions x
        WHERE x.rfq = o.rfq AND x.order_id = o.order_id
          AND x.event IN ('order_rejected', 'filled', 'execution_unknown')
        ORDER BY x.seq DESC LIMIT 1)
    WHERE o.event = 'order_sent';
    "#,
    // 8: LP answers' decimals packed as SQLite packs them (`compact`: the
    // INTEGER `units * 32 + scale` when the units fit), in BIGINT columns
    // beside the text ones, which keep only a value that does not fit:
    // the writer sends two words instead of formatting two decimals, and
    // the report reads them back without parsing text. Answer ids are
    // taken in blocks of 1024 (one `nextval` a block, not one an answer:
    // the sequence's calls were a large part of each batch's time on the
    // server); a desk's ids still only grow and never collide with
    // another's. The views show the same text as before.
    r#"
    ALTER TABLE answers ADD COLUMN price_packed BIGINT;
    ALTER TABLE answers ADD COLUMN quantity_packed BIGINT;
    ALTER SEQUENCE answers_id_seq INCREMENT BY 1024;
    CREATE FUNCTION unpacked_decimal(packed bigint) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
        SELECT CASE WHEN s = 0 THEN u ELSE left(d, -s) || '.' || right(d, s) END
        FROM (SELECT u, s, lpad(u, greatest(length(u), s + 1), '0') AS d
              FROM (SELECT (packed >> 5)::text AS u, (packed & 31)::int AS s) AS parts)
             AS padded
    $$;
    DROP VIEW lp_quotes;
    DROP VIEW lp_errors;
    DROP VIEW lp_answers;
    CREATE VIEW lp_answers AS
    SELECT a.id, a.rfq, a.seq, a.t_ms,
           to_char(timestamp '1970-01-01' + a.at_ms * interval '1 millisecond',
                   'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at,
           a.at_ms, a.lp, a.poll, a.price, a.quantity, a.latency_ms, a.valid_for_ms,
           a.failure, a.reason, a.side
    FROM (SELECT a.id, a.rfq, a.seq, a.t_ms, coalesce(a.side, r.side) AS side,
                 coalesce(a.at_ms, r.started_ms + a.t_ms * 1000 / r.speed_per_mille) AS at_ms,
                 l.name AS lp, a.poll,
                 coalesce(a.price, unpacked_decimal(a.price_packed)) AS price,
                 coalesce(a.quantity, unpacked_decimal(a.quantity_packed)) AS quantity,
                 a.latency_ms, a.valid_for_ms, a.failure, a.reason
          FROM answers a
          JOIN lps l ON l.id = a.lp
          LEFT JOIN rfqs r ON r.id = a.rfq) AS a;
    CREATE VIEW lp_quotes AS
    SELECT id, rfq, seq, t_ms, at, at_ms, lp, poll, price, quantity, latency_ms, valid_for_ms,
           side
    FROM lp_answers WHERE failure IS NULL;
    CREATE VIEW lp_errors AS
    SELECT id, rfq, seq, t_ms, at, at_ms, lp, poll, failure AS kind, reason, latency_ms, side
    FROM lp_answers WHERE failure IS NOT NULL;
    "#,
    // 9: SQLite's version 18: each ended RFQ's answers summed per LP and
    // side, written with its end, which the report reads instead of the
    // answers (the same columns and text; the primary key's index serves
    // the report's read by RFQ id span).
    r#"
    CREATE TABLE answer_summaries (
        rfq              BIGINT NOT NULL REFERENCES rfqs(id),
        side             TEXT   NOT NULL,
        lp               BIGINT NOT NULL,
        first_answer     BIGINT NOT NULL,
        answers          BIGINT NOT NULL,
        errors           TEXT   NOT NULL,
        latencies        TEXT   NOT NULL,
        distance_units   TEXT   NOT NULL,
        distance_spilled TEXT,
        distances        BIGINT NOT NULL,
        PRIMARY KEY (rfq, side, lp)
    );
    "#,
];

/// The first version that keeps `answer_summaries`, found by its
/// migration as [`packed_answers`] is.
pub(crate) fn answer_summaries() -> u32 {
    MIGRATIONS
        .iter()
        .position(|sql| sql.contains("CREATE TABLE answer_summaries"))
        .map_or(u32::MAX, |index| index as u32 + 1)
}

/// The first version whose answers have packed prices (`price_packed`),
/// found by its migration so that renumbering the list keeps it true.
pub(crate) fn packed_answers() -> u32 {
    MIGRATIONS
        .iter()
        .position(|sql| sql.contains("ADD COLUMN price_packed"))
        .map_or(u32::MAX, |index| index as u32 + 1)
}

/// The schema version this build writes.
pub const LATEST: u32 = MIGRATIONS.len() as u32;

/// Any fixed number: the advisory lock that makes desks opening a fresh
/// database at the same moment upgrade it once.
const MIGRATION_LOCK: i64 = 0x6c70_7266_7120_3239;

/// What stopped the upgrade.
#[derive(Debug)]
pub(crate) enum MigrateError {
    Sql(postgres::Error),
    TooNew(u32),
}

impl From<postgres::Error> for MigrateError {
    fn from(error: postgres::Error) -> MigrateError {
        MigrateError::Sql(error)
    }
}

/// The schema version of the database (0: nothing of lp-rfq's yet).
pub(crate) fn version(client: &mut Client) -> Result<u32, postgres::Error> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let version: Option<i32> = client
        .query_one("SELECT max(version) FROM schema_version", &[])?
        .get(0);
    Ok(version.unwrap_or(0).max(0) as u32)
}

/// Refuses, for a reader that never upgrades (`lp-rfq orders`, a
/// replay), a database without lp-rfq's tables, one a newer lp-rfq wrote
/// (naming both versions) and one older than this build's (a desk
/// started on it upgrades it).
pub(crate) fn readable(client: &mut Client, url: &PgUrl) -> Result<(), BlotterError> {
    let cannot = |detail: String| BlotterError::Database {
        url: url.to_string(),
        detail,
    };
    match version(client).map_err(|error| cannot(describe(&error)))? {
        0 => Err(BlotterError::Missing {
            path: url.to_string().into(),
        }),
        found if found > LATEST => Err(BlotterError::TooNew {
            path: url.to_string().into(),
            found,
            supported: LATEST,
        }),
        found if found < LATEST => Err(cannot(format!(
            "its schema version {found} is older than this lp-rfq's ({LATEST}): start the desk on it once to upgrade it"
        ))),
        _ => Ok(()),
    }
}

/// Brings the schema to version `target`, in one transaction under an
/// advisory lock, refusing a database a newer lp-rfq wrote.
pub(crate) fn migrate(client: &mut Client, target: u32) -> Result<(), MigrateError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    let found: Option<i32> = tx
        .query_one("SELECT max(version) FROM schema_version", &[])?
        .get(0);
    let found = found.unwrap_or(0).max(0) as u32;
    if found > LATEST {
        return Err(MigrateError::TooNew(found));
    }
    for (index, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .take(target as usize)
        .skip(found as usize)
    {
        tx.batch_execute(sql)?;
        tracing::info!(version = index + 1, "postgres blotter schema upgraded");
    }
    if target > found {
        tx.execute("DELETE FROM schema_version", &[])?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&(target as i32)],
        )?;
    }
    tx.commit()?;
    Ok(())
}
