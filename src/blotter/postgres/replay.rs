//! Replaying a PostgreSQL blotter's streams: its stream tables copied into
//! SQLite's temporary database at SQLite's current schema ([`stream_copy`]),
//! so that one reader (`blotter::read`) rebuilds the events from either
//! store, and a stream replays the same whichever store holds it. The copy
//! is what an older SQLite file is read through too: its pages spill to a
//! temporary file, and it holds no more than the replay itself returns.

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use rusqlite::Connection;

use super::super::{schema as sqlite_schema, BlotterError};
use super::{describe, schema, PgUrl};

/// The tables a replay reads, in an order that keeps every row's
/// references (an RFQ, an LP) copied before it.
const STREAM_TABLES: [&str; 6] = [
    "rfqs",
    "lps",
    "answers",
    "client_quotes",
    "lock_events",
    "executions",
];

/// Why the copy failed: the database's side, or SQLite's.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CopyError {
    #[error(transparent)]
    Database(#[from] BlotterError),
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// Every stream row of the database at `url`, in a private SQLite copy at
/// SQLite's current schema, rows keeping their ids (an RFQ's answers are
/// found by their id span). The database must hold this build's schema.
/// Call it off the desk's runtime ([`super::off_runtime`]).
pub(crate) fn stream_copy(url: &PgUrl) -> Result<Connection, CopyError> {
    let cannot = |error: postgres::Error| BlotterError::Database {
        url: url.to_string(),
        detail: describe(&error),
    };
    let mut client = url.connect().map_err(cannot)?;
    schema::readable(&mut client, url)?;
    let mut copy = Connection::open("")?;
    sqlite_schema::migrate(&mut copy, sqlite_schema::LATEST).map_err(|error| match error {
        sqlite_schema::MigrateError::Sql(error) => error,
        sqlite_schema::MigrateError::TooNew(_) => rusqlite::Error::InvalidQuery,
    })?;
    // One snapshot for every table: a desk writing meanwhile adds nothing
    // half-way.
    let mut tx = client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .map_err(cannot)?;
    let into = copy.transaction()?;
    for table in STREAM_TABLES {
        let copied: Vec<String> = {
            let columns = into.prepare(&format!("SELECT * FROM {table} LIMIT 0"))?;
            let sqlite_columns: Vec<String> = columns
                .column_names()
                .iter()
                .map(|c| c.to_string())
                .collect();
            let postgres_columns: Vec<String> = tx
                .prepare(&format!("SELECT * FROM {table} LIMIT 0"))
                .map_err(cannot)?
                .columns()
                .iter()
                .map(|c| c.name().to_string())
                .collect();
            // Both stores' columns: a column only one of them has is left
            // to the copy's default.
            sqlite_columns
                .into_iter()
                .filter(|c| postgres_columns.contains(c))
                .collect()
        };
        // As text: SQLite's column affinity turns an integer's text back
        // into the integer, and keeps a decimal's text as it was written.
        let select = format!(
            "SELECT {} FROM {table} ORDER BY id",
            copied
                .iter()
                .map(|c| match (table, c.as_str()) {
                    // An answer's decimals are packed into integers where
                    // they fit (the text column then NULL): as their text.
                    ("answers", "price" | "quantity") => {
                        format!("coalesce({c}, unpacked_decimal({c}_packed))")
                    }
                    _ => format!("{c}::text"),
                })
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut insert = into.prepare(&format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            copied.join(", "),
            (1..=copied.len())
                .map(|i| format!("?{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))?;
        let mut rows = tx
            .query_raw(&select, std::iter::empty::<&dyn ToSql>())
            .map_err(cannot)?;
        while let Some(row) = rows.next().map_err(cannot)? {
            let values: Vec<Option<String>> = (0..copied.len())
                .map(|i| row.try_get(i))
                .collect::<Result<_, _>>()
                .map_err(cannot)?;
            insert.execute(rusqlite::params_from_iter(values))?;
        }
    }
    into.commit()?;
    tx.commit().map_err(cannot)?;
    Ok(copy)
}
