//! The blotter's SQLite schema and its migrations: opening a file sets the
//! pragmas (WAL, busy timeout) and brings the schema to [`LATEST`], refusing
//! a file written by a newer lp-rfq. The version lives in `PRAGMA user_version`.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::BlotterError;

/// Each entry upgrades the schema from version `index` to `index + 1`.
/// Append only: a released migration is never edited, so that every old
/// file takes the same path to the current shape.
const MIGRATIONS: [&str; 18] = [
    // 1: the tables. Decimals are TEXT exactly as the event shows them;
    // times are UTC ISO-8601 with milliseconds (`*_at`) plus epoch
    // milliseconds (`*_ms`) where the report needs arithmetic. `seq` is the
    // event's index in its stream (started = 0), so the stream can be
    // replayed in order across tables; `t_ms` is stream time.
    r#"
    CREATE TABLE rfqs (
        id                 INTEGER PRIMARY KEY,
        rfq_id             TEXT    NOT NULL,
        side               TEXT    NOT NULL,
        amount             TEXT    NOT NULL,
        pair               TEXT    NOT NULL,
        base               TEXT    NOT NULL,
        quote              TEXT    NOT NULL,
        lps                TEXT    NOT NULL,
        markup_bps         TEXT    NOT NULL,
        threshold_bps      TEXT    NOT NULL,
        validity_buffer_ms INTEGER NOT NULL,
        poll_interval_ms   INTEGER NOT NULL,
        lp_timeout_ms      INTEGER NOT NULL,
        duration_ms        INTEGER NOT NULL,
        started_at         TEXT    NOT NULL,
        started_ms         INTEGER NOT NULL,
        end_seq            INTEGER,
        end_t_ms           INTEGER,
        ended_at           TEXT,
        ended_ms           INTEGER,
        end_reason         TEXT,
        improvements       INTEGER,
        final_quote_id     TEXT,
        final_lp           TEXT,
        final_client_price TEXT
    );
    CREATE TABLE lp_quotes (
        id           INTEGER PRIMARY KEY,
        rfq          INTEGER NOT NULL REFERENCES rfqs(id),
        seq          INTEGER NOT NULL,
        t_ms         INTEGER NOT NULL,
        at           TEXT    NOT NULL,
        at_ms        INTEGER NOT NULL,
        lp           TEXT    NOT NULL,
        poll         INTEGER NOT NULL,
        price        TEXT    NOT NULL,
        quantity     TEXT    NOT NULL,
        latency_ms   INTEGER NOT NULL,
        valid_for_ms INTEGER NOT NULL
    );
    CREATE TABLE lp_errors (
        id         INTEGER PRIMARY KEY,
        rfq        INTEGER NOT NULL REFERENCES rfqs(id),
        seq        INTEGER NOT NULL,
        t_ms       INTEGER NOT NULL,
        at         TEXT    NOT NULL,
        at_ms      INTEGER NOT NULL,
        lp         TEXT    NOT NULL,
        poll       INTEGER NOT NULL,
        kind       TEXT    NOT NULL,
        reason     TEXT    NOT NULL,
        latency_ms INTEGER NOT NULL
    );
    CREATE TABLE client_quotes (
        id                  INTEGER PRIMARY KEY,
        rfq                 INTEGER NOT NULL REFERENCES rfqs(id),
        seq                 INTEGER NOT NULL,
        t_ms                INTEGER NOT NULL,
        at                  TEXT    NOT NULL,
        at_ms               INTEGER NOT NULL,
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
        client_valid_for_ms INTEGER NOT NULL,
        reason              TEXT    NOT NULL
    );
    CREATE TABLE lock_events (
        id          INTEGER PRIMARY KEY,
        rfq         INTEGER NOT NULL REFERENCES rfqs(id),
        seq         INTEGER NOT NULL,
        t_ms        INTEGER NOT NULL,
        at          TEXT    NOT NULL,
        at_ms       INTEGER NOT NULL,
        event       TEXT    NOT NULL,
        lp          TEXT    NOT NULL,
        price       TEXT,
        previous_lp TEXT,
        reason      TEXT
    );
    "#,
    // 2: the report's access paths (RFQs by time and pair, each event
    // table by RFQ). A separate step so the upgrade path is exercised from
    // the first release on.
    r#"
    CREATE INDEX rfqs_started ON rfqs(started_ms);
    CREATE INDEX rfqs_pair_started ON rfqs(pair, started_ms);
    CREATE INDEX lp_quotes_rfq ON lp_quotes(rfq, seq);
    CREATE INDEX lp_errors_rfq ON lp_errors(rfq, seq);
    CREATE INDEX client_quotes_rfq ON client_quotes(rfq, seq);
    CREATE INDEX lock_events_rfq ON lock_events(rfq, seq);
    "#,
    // 3: the replay speed in force (`--speed`), so that wall times can be
    // told from stream times: at = started_at + t_ms / speed.
    r#"
    ALTER TABLE rfqs ADD COLUMN speed TEXT NOT NULL DEFAULT '1';
    "#,
    // 4: execution. The five execution events share one table (they are
    // few per RFQ, and one table keeps an order's attempts and answers in
    // one index range); a column is NULL where the event has no such field.
    // `rfqs.outcome` is how the acceptance ended, NULL until `ended`. Files
    // from before this version were written by versions that could not
    // execute, so their ended RFQs were `not_accepted`. The views are for
    // people reading the file with plain sqlite3; lp-rfq reads the table.
    r#"
    CREATE TABLE executions (
        id              INTEGER PRIMARY KEY,
        rfq             INTEGER NOT NULL REFERENCES rfqs(id),
        seq             INTEGER NOT NULL,
        t_ms            INTEGER NOT NULL,
        at              TEXT    NOT NULL,
        at_ms           INTEGER NOT NULL,
        event           TEXT    NOT NULL CHECK (event IN ('order_sent', 'order_rejected',
                                'filled', 'execution_unknown', 'not_filled')),
        order_id        TEXT,
        quote_id        TEXT,
        lp              TEXT,
        venue_ref       TEXT,
        lp_price        TEXT,
        client_price    TEXT,
        amount          TEXT,
        attempt         INTEGER,
        reason          TEXT,
        hold_ms         INTEGER,
        client_pays     TEXT,
        pays_asset      TEXT,
        client_receives TEXT,
        receives_asset  TEXT,
        desk_pnl        TEXT,
        pnl_asset       TEXT,
        venue_order_id  TEXT
    );
    CREATE INDEX executions_rfq ON executions(rfq, seq);
    ALTER TABLE rfqs ADD COLUMN outcome TEXT;
    UPDATE rfqs SET outcome = 'not_accepted' WHERE end_seq IS NOT NULL;
    -- 1 when every LP was simulated (built-in mocks, a scenario); older
    -- versions only had simulated LPs.
    ALTER TABLE rfqs ADD COLUMN simulated INTEGER NOT NULL DEFAULT 1;
    -- One row per order sent, with the LP's answer to it (the latest, should
    -- an LP ever answer twice): outcome NULL while it is unanswered.
    CREATE VIEW orders AS
    SELECT r.rfq_id, r.pair, r.side, o.rfq, o.seq, o.t_ms, o.at, o.at_ms, o.order_id,
           o.quote_id, o.lp, o.venue_ref, o.lp_price, o.amount, o.attempt,
           CASE a.event WHEN 'order_rejected' THEN 'rejected' WHEN 'filled' THEN 'filled'
                        WHEN 'execution_unknown' THEN 'unknown' END AS outcome,
           a.reason, a.hold_ms,
           CASE a.event WHEN 'filled' THEN a.lp_price END AS fill_price,
           a.at AS answered_at, a.at_ms AS answered_ms
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
           f.hold_ms, f.venue_order_id
    FROM executions f
    JOIN rfqs r ON r.id = f.rfq
    WHERE f.event = 'filled';
    "#,
    // 5: LP health changes, one row per change of an LP's desk-wide state
    // (written once by the desk's health recorder, however many streams
    // saw it; not tied to an RFQ): the state entered, the one left, how
    // long until the LP is asked again, its smoothed last-look reject
    // rate (percent), why, and how many requests were not sent for a rate
    // limit since the LP's previous row.
    r#"
    CREATE TABLE lp_health (
        id          INTEGER PRIMARY KEY,
        lp          TEXT    NOT NULL,
        at          TEXT    NOT NULL,
        at_ms       INTEGER NOT NULL,
        state       TEXT    NOT NULL,
        previous    TEXT    NOT NULL,
        retry_in_ms INTEGER,
        reject_rate TEXT    NOT NULL,
        reason      TEXT,
        throttled   INTEGER NOT NULL
    );
    CREATE INDEX lp_health_lp ON lp_health(lp, at_ms);
    "#,
    // 6: compact LP answers (docs/blotter-storage.md). Every LP answer, valid
    // or not, is one row of an append-only table with integer keys and no
    // secondary index: the `(rfq, seq)` indexes of `lp_quotes`/`lp_errors`
    // took most of the writer's time once a thousand streams interleaved
    // (each kept its own hot index leaf). LP names live once in `lps`.
    // Prices and quantities are packed decimals (see `compact.rs`): an
    // INTEGER `units * 32 + scale` when the units fit, else the decimal's
    // text; the columns have no declared type so SQLite stores either as
    // given (a typed column would turn '100.00' into 100). Wall time is
    // derived from the RFQ's start, `at_ms` being set only for a migrated
    // row whose stored time differs from the derived one. Each RFQ records
    // the id range of its answers (`answers_to` is NULL until it ends), so
    // reading one RFQ scans that range, not the table. `lp_quotes` and
    // `lp_errors` become views with their old columns, so plain sqlite3
    // reads the file as before.
    r#"
    CREATE TABLE lps (
        id   INTEGER PRIMARY KEY,
        name TEXT    NOT NULL UNIQUE
    );
    CREATE TABLE answers (
        id           INTEGER PRIMARY KEY,
        rfq          INTEGER NOT NULL,
        seq          INTEGER NOT NULL,
        t_ms         INTEGER NOT NULL,
        lp           INTEGER NOT NULL,
        poll         INTEGER NOT NULL,
        latency_ms   INTEGER NOT NULL,
        price,
        quantity,
        valid_for_ms INTEGER,
        failure      TEXT,
        reason       TEXT,
        at_ms        INTEGER
    );
    -- Stream ms per 1000 wall ms (`--speed` x 1000, as the writer rounds it):
    -- at_ms = started_ms + t_ms * 1000 / speed_per_mille.
    ALTER TABLE rfqs ADD COLUMN speed_per_mille INTEGER NOT NULL DEFAULT 1000;
    ALTER TABLE rfqs ADD COLUMN answers_from INTEGER;
    ALTER TABLE rfqs ADD COLUMN answers_to INTEGER;
    UPDATE rfqs SET speed_per_mille = max(1, CAST(round(speed * 1000) AS INTEGER));
    INSERT OR IGNORE INTO lps (name) SELECT DISTINCT lp FROM lp_quotes;
    INSERT OR IGNORE INTO lps (name) SELECT DISTINCT lp FROM lp_errors;
    -- Each RFQ's answers stored together, in stream order.
    INSERT INTO answers (rfq, seq, t_ms, lp, poll, latency_ms, price, quantity,
                         valid_for_ms, failure, reason, at_ms)
    SELECT o.rfq, o.seq, o.t_ms, l.id, o.poll, o.latency_ms, o.price, o.quantity,
           o.valid_for_ms, o.failure, o.reason,
           CASE WHEN r.id IS NULL
                  OR o.at_ms IS NOT r.started_ms + o.t_ms * 1000 / r.speed_per_mille
                THEN o.at_ms END
    FROM (SELECT rfq, seq, t_ms, at_ms, lp, poll, latency_ms, price, quantity,
                 valid_for_ms, NULL AS failure, NULL AS reason FROM lp_quotes
          UNION ALL
          SELECT rfq, seq, t_ms, at_ms, lp, poll, latency_ms, NULL, NULL, NULL, kind, reason
          FROM lp_errors) AS o
    JOIN lps l ON l.name = o.lp
    LEFT JOIN rfqs r ON r.id = o.rfq
    ORDER BY o.rfq, o.seq;
    UPDATE rfqs SET answers_from = span.first_id, answers_to = span.last_id
    FROM (SELECT rfq, MIN(id) AS first_id, MAX(id) AS last_id FROM answers GROUP BY rfq) AS span
    WHERE span.rfq = rfqs.id;
    -- An RFQ without answers gets an empty range.
    UPDATE rfqs SET answers_from = (SELECT coalesce(MAX(id), 0) + 1 FROM answers),
                    answers_to = (SELECT coalesce(MAX(id), 0) FROM answers)
    WHERE answers_from IS NULL;
    DROP TABLE lp_quotes;
    DROP TABLE lp_errors;
    -- Every answer as people read it: LP names, decimals as text exactly as
    -- the event showed them, UTC times. `lp_quotes` and `lp_errors` are
    -- its two halves with the columns the tables had.
    CREATE VIEW lp_answers AS
    SELECT id, rfq, seq, t_ms,
           strftime('%Y-%m-%dT%H:%M:%S', at_ms / 1000, 'unixepoch')
               || printf('.%03dZ', at_ms % 1000) AS at,
           at_ms, lp, poll, price, quantity, latency_ms, valid_for_ms, failure, reason
    FROM (SELECT a.id, a.rfq, a.seq, a.t_ms,
                 coalesce(a.at_ms, r.started_ms + a.t_ms * 1000 / r.speed_per_mille) AS at_ms,
                 l.name AS lp, a.poll, a.latency_ms, a.valid_for_ms, a.failure, a.reason,
                 CASE WHEN typeof(a.price) <> 'integer' THEN a.price
                      WHEN a.price & 31 = 0 THEN CAST(a.price >> 5 AS TEXT)
                      ELSE substr(printf('%0*d', (a.price & 31) + 1, a.price >> 5), 1,
                                  length(printf('%0*d', (a.price & 31) + 1, a.price >> 5))
                                  - (a.price & 31))
                           || '.' || substr(printf('%0*d', (a.price & 31) + 1, a.price >> 5),
                                            -(a.price & 31))
                 END AS price,
                 CASE WHEN typeof(a.quantity) <> 'integer' THEN a.quantity
                      WHEN a.quantity & 31 = 0 THEN CAST(a.quantity >> 5 AS TEXT)
                      ELSE substr(printf('%0*d', (a.quantity & 31) + 1, a.quantity >> 5), 1,
                                  length(printf('%0*d', (a.quantity & 31) + 1, a.quantity >> 5))
                                  - (a.quantity & 31))
                           || '.' || substr(printf('%0*d', (a.quantity & 31) + 1,
                                                   a.quantity >> 5),
                                            -(a.quantity & 31))
                 END AS quantity
          FROM answers a
          JOIN lps l ON l.id = a.lp
          LEFT JOIN rfqs r ON r.id = a.rfq);
    CREATE VIEW lp_quotes AS
    SELECT id, rfq, seq, t_ms, at, at_ms, lp, poll, price, quantity, latency_ms, valid_for_ms
    FROM lp_answers WHERE failure IS NULL;
    CREATE VIEW lp_errors AS
    SELECT id, rfq, seq, t_ms, at, at_ms, lp, poll, failure AS kind, reason, latency_ms
    FROM lp_answers WHERE failure IS NOT NULL;
    "#,
    // 7: who each request was for (`rfqs.client`, a client id: 1 to 64
    // letters, digits, '-', '_' or '.'). Every RFQ stored before it was the
    // house's: no front end could name a client. The `orders` and `fills`
    // views gain it as their last column (the others keep their places).
    r#"
    ALTER TABLE rfqs ADD COLUMN client TEXT NOT NULL DEFAULT 'house';
    DROP VIEW orders;
    DROP VIEW fills;
    CREATE VIEW orders AS
    SELECT r.rfq_id, r.pair, r.side, o.rfq, o.seq, o.t_ms, o.at, o.at_ms, o.order_id,
           o.quote_id, o.lp, o.venue_ref, o.lp_price, o.amount, o.attempt,
           CASE a.event WHEN 'order_rejected' THEN 'rejected' WHEN 'filled' THEN 'filled'
                        WHEN 'execution_unknown' THEN 'unknown' END AS outcome,
           a.reason, a.hold_ms,
           CASE a.event WHEN 'filled' THEN a.lp_price END AS fill_price,
           a.at AS answered_at, a.at_ms AS answered_ms, r.client
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
           f.hold_ms, f.venue_order_id, r.client
    FROM executions f
    JOIN rfqs r ON r.id = f.rfq
    WHERE f.event = 'filled';
    "#,
    // 8: which LPs were simulations. `rfqs.simulated_lps` names them (a
    // JSON array like `lps`; every LP of a simulated stream, the simulated
    // ones of a stream that mixed them with real LPs): an answer, a lock or
    // an end rests on a simulated LP when its LP is listed there. Client
    // quotes and execution rows carry their own `simulated` (1: the LP
    // behind it is a simulation), so that a fake fill is never read as a
    // real one, and the `fills` view gains it as its last column. Rows
    // stored before were simulated exactly when their RFQ was.
    r#"
    ALTER TABLE rfqs ADD COLUMN simulated_lps TEXT NOT NULL DEFAULT '[]';
    UPDATE rfqs SET simulated_lps = lps WHERE simulated = 1;
    ALTER TABLE client_quotes ADD COLUMN simulated INTEGER NOT NULL DEFAULT 0;
    UPDATE client_quotes SET simulated = 1
    WHERE rfq IN (SELECT id FROM rfqs WHERE simulated = 1);
    ALTER TABLE executions ADD COLUMN simulated INTEGER NOT NULL DEFAULT 0;
    UPDATE executions SET simulated = 1
    WHERE rfq IN (SELECT id FROM rfqs WHERE simulated = 1);
    DROP VIEW fills;
    CREATE VIEW fills AS
    SELECT r.rfq_id, r.pair, r.base, r.quote, r.side, f.rfq, f.seq, f.t_ms, f.at, f.at_ms,
           f.order_id, f.quote_id, f.lp, f.lp_price, f.client_price, f.amount, f.client_pays,
           f.pays_asset, f.client_receives, f.receives_asset, f.desk_pnl, f.pnl_asset,
           f.hold_ms, f.venue_order_id, r.client, f.simulated
    FROM executions f
    JOIN rfqs r ON r.id = f.rfq
    WHERE f.event = 'filled';
    "#,
    // 9: resolving unknown orders with their venues. `client_order_id` is
    // the id the venue saw for an order (FIX ClOrdID, B2C2's
    // `client_order_id`; NULL for a venue that takes none), on its
    // `order_sent` row. An outcome learned later from the venue (at the
    // next start) is a new `filled` or `order_rejected` row appended after
    // the earlier record, never a change to it: `reconciled_by` says how it
    // was learned (the venue's look-up) and `reconciled_at` when (UTC).
    // The `orders` view gains the three, and the answer's venue order id,
    // as its last columns; its outcome is the order's latest answer, so a
    // reconciled one replaces `unknown` there.
    r#"
    ALTER TABLE executions ADD COLUMN client_order_id TEXT;
    ALTER TABLE executions ADD COLUMN reconciled_by TEXT;
    ALTER TABLE executions ADD COLUMN reconciled_at TEXT;
    DROP VIEW orders;
    CREATE VIEW orders AS
    SELECT r.rfq_id, r.pair, r.side, o.rfq, o.seq, o.t_ms, o.at, o.at_ms, o.order_id,
           o.quote_id, o.lp, o.venue_ref, o.lp_price, o.amount, o.attempt,
           CASE a.event WHEN 'order_rejected' THEN 'rejected' WHEN 'filled' THEN 'filled'
                        WHEN 'execution_unknown' THEN 'unknown' END AS outcome,
           a.reason, a.hold_ms,
           CASE a.event WHEN 'filled' THEN a.lp_price END AS fill_price,
           a.at AS answered_at, a.at_ms AS answered_ms, r.client,
           o.client_order_id, a.venue_order_id, a.reconciled_by, a.reconciled_at
    FROM executions o
    JOIN rfqs r ON r.id = o.rfq
    LEFT JOIN executions a ON a.id = (
        SELECT x.id FROM executions x
        WHERE x.rfq = o.rfq AND x.order_id = o.order_id
          AND x.event IN ('order_rejected', 'filled', 'execution_unknown')
        ORDER BY x.seq DESC LIMIT 1)
    WHERE o.event = 'order_sent';
    "#,
    // 10: which desk server operator asked for each RFQ (the operators
    // file's name; NULL for an RFQ of a single process). Its orders and
    // fills are the RFQ's rows, so they carry it through `rfq`.
    r#"
    ALTER TABLE rfqs ADD COLUMN operator TEXT;
    "#,
    // 11: the channel each RFQ came in by: 'operator' (the console, the
    // prompt, `quote`, a desk server's operator), or a client's own
    // session, 'ws' or 'fix'. Earlier RFQs were all an operator's.
    r#"
    ALTER TABLE rfqs ADD COLUMN channel TEXT NOT NULL DEFAULT 'operator';
    "#,
    // 12: which leg of each RFQ the client fixed: `base` (its amount is
    // in the base currency, as every earlier RFQ's was) or `quote` (its
    // amount is in the quote currency, which the client pays or receives
    // exactly; the base legs of its quotes and fills are derived).
    r#"
    ALTER TABLE rfqs ADD COLUMN fixed TEXT NOT NULL DEFAULT 'base';
    "#,
    // 13: every order a client sent on its own session (WebSocket or FIX),
    // by the client's own order id, so that its status is answered and a
    // repeated id never executes again after a restart. Each change of
    // state is a new row (the latest wins); earlier rows are kept.
    r#"
    CREATE TABLE client_orders (
        id              INTEGER PRIMARY KEY,
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
    // 14: what vouched for each lock ('band', 'second_lp', 'median',
    // 'feed', 'desk_reference', 'released'): only an independently
    // corroborated lock is read back as the desk's reference at start.
    // NULL for earlier locks, which are therefore never read back.
    r#"
    ALTER TABLE lock_events ADD COLUMN corroborated_by TEXT;
    "#,
    // 15: which desk wrote each RFQ and health change (`--desk-name`, the
    // host name by default), so that several desks can share one database
    // (PostgreSQL) and the report can take one of them. Rows from before
    // have an empty desk. `orders` and `fills` keep every column they had
    // and gain it as their last.
    r#"
    ALTER TABLE rfqs ADD COLUMN desk TEXT NOT NULL DEFAULT '';
    ALTER TABLE lp_health ADD COLUMN desk TEXT NOT NULL DEFAULT '';
    DROP VIEW orders;
    DROP VIEW fills;
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
    CREATE VIEW fills AS
    SELECT r.rfq_id, r.pair, r.base, r.quote, r.side, f.rfq, f.seq, f.t_ms, f.at, f.at_ms,
           f.order_id, f.quote_id, f.lp, f.lp_price, f.client_price, f.amount, f.client_pays,
           f.pays_asset, f.client_receives, f.receives_asset, f.desk_pnl, f.pnl_asset,
           f.hold_ms, f.venue_order_id, r.client, f.simulated, r.desk
    FROM executions f
    JOIN rfqs r ON r.id = f.rfq
    WHERE f.event = 'filled';
    "#,
    // 16: two-way requests. `rfqs.two_way` is 1 for an RFQ quoted on both
    // sides (its `side` is then 'buy', as its `started` says). Each of its
    // LP answers and lock events names the side it belongs to (the
    // client's side: 'buy' for the offer, 'sell' for the bid) in `side`;
    // NULL is the RFQ's own side, so a one-sided RFQ's hot answer rows stay
    // as small as before and earlier rows need no rewrite. The answer
    // views (`lp_answers`, `lp_quotes`, `lp_errors`) show every row's side,
    // the RFQ's where the row has none, as their last column.
    r#"
    ALTER TABLE rfqs ADD COLUMN two_way INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE answers ADD COLUMN side TEXT;
    ALTER TABLE lock_events ADD COLUMN side TEXT;
    DROP VIEW lp_quotes;
    DROP VIEW lp_errors;
    DROP VIEW lp_answers;
    CREATE VIEW lp_answers AS
    SELECT id, rfq, seq, t_ms,
           strftime('%Y-%m-%dT%H:%M:%S', at_ms / 1000, 'unixepoch')
               || printf('.%03dZ', at_ms % 1000) AS at,
           at_ms, lp, poll, price, quantity, latency_ms, valid_for_ms, failure, reason, side
    FROM (SELECT a.id, a.rfq, a.seq, a.t_ms, coalesce(a.side, r.side) AS side,
                 coalesce(a.at_ms, r.started_ms + a.t_ms * 1000 / r.speed_per_mille) AS at_ms,
                 l.name AS lp, a.poll, a.latency_ms, a.valid_for_ms, a.failure, a.reason,
                 CASE WHEN typeof(a.price) <> 'integer' THEN a.price
                      WHEN a.price & 31 = 0 THEN CAST(a.price >> 5 AS TEXT)
                      ELSE substr(printf('%0*d', (a.price & 31) + 1, a.price >> 5), 1,
                                  length(printf('%0*d', (a.price & 31) + 1, a.price >> 5))
                                  - (a.price & 31))
                           || '.' || substr(printf('%0*d', (a.price & 31) + 1, a.price >> 5),
                                            -(a.price & 31))
                 END AS price,
                 CASE WHEN typeof(a.quantity) <> 'integer' THEN a.quantity
                      WHEN a.quantity & 31 = 0 THEN CAST(a.quantity >> 5 AS TEXT)
                      ELSE substr(printf('%0*d', (a.quantity & 31) + 1, a.quantity >> 5), 1,
                                  length(printf('%0*d', (a.quantity & 31) + 1, a.quantity >> 5))
                                  - (a.quantity & 31))
                           || '.' || substr(printf('%0*d', (a.quantity & 31) + 1,
                                                   a.quantity >> 5),
                                            -(a.quantity & 31))
                 END AS quantity
          FROM answers a
          JOIN lps l ON l.id = a.lp
          LEFT JOIN rfqs r ON r.id = a.rfq);
    CREATE VIEW lp_quotes AS
    SELECT id, rfq, seq, t_ms, at, at_ms, lp, poll, price, quantity, latency_ms, valid_for_ms,
           side
    FROM lp_answers WHERE failure IS NULL;
    CREATE VIEW lp_errors AS
    SELECT id, rfq, seq, t_ms, at, at_ms, lp, poll, failure AS kind, reason, latency_ms, side
    FROM lp_answers WHERE failure IS NOT NULL;
    "#,
    // 17: what the desk server's operators did beyond starting RFQs, and
    // who did it: pausing and resuming a client, the kill switch, and the
    // accept, release and stop of an RFQ (which may be another operator's:
    // a head of desk attaches and acts). One row per action, appended;
    // the latest pause row of a client (and of the kill switch) is its
    // state at the next start. `orders.accepted_by` names the operator
    // whose accept sent each order (the one who started the RFQ when no
    // accept was recorded: a single process, or an RFQ from before).
    r#"
    CREATE TABLE desk_actions (
        id       INTEGER PRIMARY KEY,
        at       TEXT    NOT NULL,
        at_ms    INTEGER NOT NULL,
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
    // 18: each ended RFQ's answers summed per LP (and per side of a
    // two-way RFQ), written with its end by the writer that saw every one
    // of its answers: the report reads these instead of the answers. An
    // RFQ without them (ended before this version, still running, its
    // writer failed a batch meanwhile) is counted from its answers.
    // `errors` is `kind:count,…`, `latencies` is `ms:count,…` (ms
    // ascending), `distance_units` the distances' exact sum in 1e-28 bps
    // (`distance_spilled`: what did not fit, NULL when nothing).
    r#"
    CREATE TABLE answer_summaries (
        rfq              INTEGER NOT NULL REFERENCES rfqs(id),
        side             TEXT    NOT NULL,
        lp               INTEGER NOT NULL,
        first_answer     INTEGER NOT NULL,
        answers          INTEGER NOT NULL,
        errors           TEXT    NOT NULL,
        latencies        TEXT    NOT NULL,
        distance_units   TEXT    NOT NULL,
        distance_spilled TEXT,
        distances        INTEGER NOT NULL,
        PRIMARY KEY (rfq, side, lp)
    ) WITHOUT ROWID;
    "#,
];

/// The schema version this build writes.
pub const LATEST: u32 = MIGRATIONS.len() as u32;

/// How long a write waits for another process's transaction before it
/// counts as a failure.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens `path` for writing (creating it when `create`), sets WAL mode and
/// brings the schema up to date.
///
/// Two processes opening a new file at the same moment race to create its
/// WAL and schema; SQLite then answers "locked" (or a transient I/O error on
/// the half-made WAL) at once, without waiting for the busy timeout, to
/// avoid a deadlock. Such an open is retried from scratch until the busy
/// timeout is spent.
pub fn open(path: &Path, create: bool, busy_timeout: Duration) -> Result<Connection, BlotterError> {
    let started = Instant::now();
    loop {
        match open_once(path, create, busy_timeout) {
            Err(BlotterError::Open { source, .. })
                if is_contention(&source) && started.elapsed() < busy_timeout =>
            {
                tracing::debug!(path = %path.display(), %source, "blotter busy while opening; retrying");
                std::thread::sleep(Duration::from_millis(10));
            }
            result => return result,
        }
    }
}

/// Errors another process's concurrent open can cause.
fn is_contention(error: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked, SystemIoFailure};
    matches!(
        error.sqlite_error_code(),
        Some(DatabaseBusy | DatabaseLocked | SystemIoFailure)
    )
}

fn open_once(
    path: &Path,
    create: bool,
    busy_timeout: Duration,
) -> Result<Connection, BlotterError> {
    let cannot = |source: rusqlite::Error| BlotterError::Open {
        path: path.to_path_buf(),
        source,
    };
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
        // Made 0600 here rather than by SQLite (0644 under the usual
        // umask); its -wal and -shm then take the file's mode. A failure
        // is left to SQLite's open, which names the cause.
        let _ = crate::private_files::create_if_missing(path);
    }
    let mut conn = Connection::open_with_flags(path, flags).map_err(cannot)?;
    conn.busy_timeout(busy_timeout).map_err(cannot)?;
    // The first statement that reads the file: a non-database fails here.
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
        .map_err(cannot)?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(path = %path.display(), mode, "blotter is not in WAL mode");
    }
    // WAL with NORMAL sync: a commit is durable against a process kill
    // (the WAL is in the OS), and only a power loss may lose the last ones.
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(cannot)?;
    // Concurrent streams interleave their rows, so each (rfq, seq) index
    // keeps a hot leaf page per running RFQ; SQLite's default 2 MB page
    // cache thrashes past a few hundred of them and halves the insert
    // rate. 16 MB (allocated only as it fills) holds the hot pages of
    // ~2000 concurrent RFQs; beyond that the rate degrades gently.
    conn.pragma_update(None, "cache_size", -16_384)
        .map_err(cannot)?;
    migrate(&mut conn, LATEST).map_err(|error| match error {
        MigrateError::Sql(source) => cannot(source),
        MigrateError::TooNew(found) => BlotterError::TooNew {
            path: path.to_path_buf(),
            found,
            supported: LATEST,
        },
    })?;
    if create {
        check_writable(&conn, path)?;
    }
    Ok(conn)
}

/// Refuses, before any stream starts, a blotter that would silently lose
/// every event: a damaged file, or one this process cannot write (a file
/// or directory without write permission, a read-only mount). SQLite opens
/// a read-only file read-only without a word, so permission bits alone
/// say nothing; the only proof is a committed write. `quick_check` reads
/// every page once (about a second per GB), the price of not appending to
/// a file whose b-trees are already broken.
fn check_writable(conn: &Connection, path: &Path) -> Result<(), BlotterError> {
    let damaged = |detail: String| BlotterError::Damaged {
        path: path.to_path_buf(),
        detail,
    };
    let verdict: String = conn
        .query_row("PRAGMA quick_check(1)", [], |row| row.get(0))
        .map_err(|error| damaged(error.to_string()))?;
    if verdict != "ok" {
        return Err(damaged(verdict));
    }
    let not_writable = |source: rusqlite::Error| BlotterError::NotWritable {
        path: path.to_path_buf(),
        source,
    };
    if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
        return Err(not_writable(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_READONLY),
            Some("the file is read-only for this user".into()),
        )));
    }
    // Rewrite the schema version with its own value and commit: a real
    // write through the WAL that changes nothing.
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(not_writable)?;
    conn.execute_batch(&format!(
        "BEGIN IMMEDIATE; PRAGMA user_version = {version}; COMMIT;"
    ))
    .map_err(|error| {
        let _ = conn.execute_batch("ROLLBACK");
        not_writable(error)
    })
}

#[derive(Debug)]
pub enum MigrateError {
    Sql(rusqlite::Error),
    TooNew(u32),
}

impl From<rusqlite::Error> for MigrateError {
    fn from(error: rusqlite::Error) -> MigrateError {
        MigrateError::Sql(error)
    }
}

/// Brings the schema to version `target`. The check and the upgrade run in
/// one write transaction, so two processes opening an old file at once
/// upgrade it exactly once.
pub fn migrate(conn: &mut Connection, target: u32) -> Result<(), MigrateError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: u32 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version > LATEST {
        return Err(MigrateError::TooNew(version));
    }
    for (index, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .take(target as usize)
        .skip(version as usize)
    {
        tx.execute_batch(sql)?;
        tracing::info!(version = index + 1, "blotter schema upgraded");
    }
    if target > version {
        tx.pragma_update(None, "user_version", target)?;
    }
    tx.commit()?;
    Ok(())
}
