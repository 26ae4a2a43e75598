//! One read-only SQL statement stepped through SQLite's C interface, for
//! the report's pass over millions of answers: the crate's only `unsafe`
//! (`#![deny(unsafe_code)]` everywhere else). rusqlite's `Row::get_ref`
//! makes three calls into SQLite per value (the column count, the type,
//! the value) and checks each; here an integer column is one call. On 9.7
//! million answers of 7 columns that is ~1 s of a ~3 s pass.

use std::ffi::{c_int, CStr, CString};
use std::ptr::NonNull;

use rusqlite::ffi;
use rusqlite::types::ValueRef;
use rusqlite::Connection;

/// A prepared statement borrowed from its connection; finalized on drop.
pub(super) struct RawStatement<'conn> {
    stmt: NonNull<ffi::sqlite3_stmt>,
    conn: &'conn Connection,
    /// How many columns its rows have: a column index is checked against
    /// it before SQLite is asked.
    columns: c_int,
    /// The last step gave a row: only then may its columns be read
    /// (SQLite leaves reading them otherwise undefined).
    on_row: bool,
}

impl<'conn> RawStatement<'conn> {
    pub(crate) fn prepare(conn: &'conn Connection, sql: &str) -> rusqlite::Result<Self> {
        let sql = CString::new(sql).map_err(|_| rusqlite::Error::InvalidQuery)?;
        let mut stmt = std::ptr::null_mut();
        // SAFETY: the handle is the live connection's (borrowed for 'conn,
        // and a Connection is never shared between threads); `sql` is a
        // NUL-terminated string that outlives the call.
        let code = unsafe {
            ffi::sqlite3_prepare_v2(
                conn.handle(),
                sql.as_ptr(),
                -1,
                &mut stmt,
                std::ptr::null_mut(),
            )
        };
        if code != ffi::SQLITE_OK {
            return Err(error(conn, code));
        }
        let stmt = NonNull::new(stmt).ok_or(rusqlite::Error::InvalidQuery)?;
        // SAFETY: `stmt` was just prepared on the live connection and is
        // finalized only on drop.
        let columns = unsafe { ffi::sqlite3_column_count(stmt.as_ptr()) };
        Ok(RawStatement {
            stmt,
            conn,
            columns,
            on_row: false,
        })
    }

    /// Binds `value` to the parameter `name` if the SQL has it.
    pub(crate) fn bind(&mut self, name: &str, value: i64) -> rusqlite::Result<()> {
        let Ok(name) = CString::new(name) else {
            return Err(rusqlite::Error::InvalidQuery);
        };
        // SAFETY: a live statement (finalized only on drop), not being
        // stepped (binding is done before the first step); `name` is a
        // NUL-terminated string that outlives the calls. An index of 0
        // (no such parameter) is never passed to the bind call.
        let code = unsafe {
            let index = ffi::sqlite3_bind_parameter_index(self.stmt.as_ptr(), name.as_ptr());
            if index == 0 {
                return Ok(());
            }
            ffi::sqlite3_bind_int64(self.stmt.as_ptr(), index, value)
        };
        match code {
            ffi::SQLITE_OK => Ok(()),
            code => Err(error(self.conn, code)),
        }
    }

    /// The next row: `true` when there is one to read.
    pub(crate) fn step(&mut self) -> rusqlite::Result<bool> {
        // SAFETY: a live statement (finalized only on drop); the `&mut`
        // borrow means no value borrowed from the previous row is still
        // in use when SQLite moves on.
        let code = unsafe { ffi::sqlite3_step(self.stmt.as_ptr()) };
        self.on_row = code == ffi::SQLITE_ROW;
        match code {
            ffi::SQLITE_ROW => Ok(true),
            ffi::SQLITE_DONE => Ok(false),
            code => Err(error(self.conn, code)),
        }
    }

    /// Whether `column` can be read now: a row is current and the
    /// statement has that column.
    fn readable(&self, column: c_int) -> bool {
        self.on_row && (0..self.columns).contains(&column)
    }

    /// An INTEGER column of the current row (SQLite converts anything
    /// else; the answers' integer columns are NOT NULL and only ever
    /// written as integers). 0 when there is no current row or no such
    /// column.
    pub(crate) fn int(&self, column: c_int) -> i64 {
        if !self.readable(column) {
            return 0;
        }
        // SAFETY: a live statement whose last step gave a row, and a
        // column index checked against its column count.
        unsafe { ffi::sqlite3_column_int64(self.stmt.as_ptr(), column) }
    }

    /// Any column of the current row, borrowed until the next step; NULL
    /// when there is no current row or no such column.
    pub(crate) fn value(&self, column: c_int) -> ValueRef<'_> {
        if !self.readable(column) {
            return ValueRef::Null;
        }
        let stmt = self.stmt.as_ptr();
        // SAFETY: a live statement whose last step gave a row, and a
        // column index checked against its column count. Text and blob
        // pointers stay valid until the next step, finalize or type
        // conversion of this column, and the borrow of `self` keeps the
        // statement from being stepped or dropped while they are used; the
        // length is read after the pointer, as SQLite documents.
        unsafe {
            match ffi::sqlite3_column_type(stmt, column) {
                ffi::SQLITE_INTEGER => ValueRef::Integer(ffi::sqlite3_column_int64(stmt, column)),
                ffi::SQLITE_FLOAT => ValueRef::Real(ffi::sqlite3_column_double(stmt, column)),
                ffi::SQLITE_TEXT => {
                    let text = ffi::sqlite3_column_text(stmt, column);
                    let len = ffi::sqlite3_column_bytes(stmt, column);
                    ValueRef::Text(bytes(text, len))
                }
                ffi::SQLITE_BLOB => {
                    let blob = ffi::sqlite3_column_blob(stmt, column).cast::<u8>();
                    let len = ffi::sqlite3_column_bytes(stmt, column);
                    ValueRef::Blob(bytes(blob, len))
                }
                _ => ValueRef::Null,
            }
        }
    }
}

/// # Safety
/// `data` points at `len` readable bytes (or is null with `len` 0) that
/// live as long as the returned slice is used.
unsafe fn bytes<'a>(data: *const u8, len: c_int) -> &'a [u8] {
    match usize::try_from(len) {
        // SAFETY: the caller's promise: `len` readable bytes at a non-null
        // `data`, alive while the slice is.
        Ok(len) if len > 0 && !data.is_null() => unsafe { std::slice::from_raw_parts(data, len) },
        _ => &[],
    }
}

impl Drop for RawStatement<'_> {
    fn drop(&mut self) {
        // SAFETY: the statement is live (prepared, never finalized before)
        // and, being dropped, is never used again.
        unsafe {
            ffi::sqlite3_finalize(self.stmt.as_ptr());
        }
    }
}

/// The connection's error for a failed call, as rusqlite reports it.
fn error(conn: &Connection, code: c_int) -> rusqlite::Error {
    // SAFETY: the connection is live; the message is copied before any
    // other call on it.
    let message = unsafe {
        let text = ffi::sqlite3_errmsg(conn.handle());
        (!text.is_null()).then(|| CStr::from_ptr(text).to_string_lossy().into_owned())
    };
    rusqlite::Error::SqliteFailure(ffi::Error::new(code), message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::types::{Type, Value};

    #[test]
    fn rows_read_as_rusqlite_reads_them_and_errors_name_the_cause() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (a INTEGER, b);
             INSERT INTO t VALUES (1, 320000002), (2, 'text'), (3, NULL), (4, 1.5), (5, x'0102');",
        )
        .unwrap();
        let mut select = RawStatement::prepare(&conn, "SELECT a, b FROM t WHERE a >= ?1").unwrap();
        select.bind("?1", 1).unwrap();
        select.bind("?2", 7).unwrap(); // absent: nothing to bind
                                       // No row before the first step or after the last: nothing is read.
        assert_eq!((select.int(0), select.value(1)), (0, ValueRef::Null));
        let mut rows = Vec::new();
        while select.step().unwrap() {
            rows.push((select.int(0), Value::from(select.value(1))));
        }
        assert_eq!((select.int(0), select.value(1)), (0, ValueRef::Null));
        // A column the statement does not have reads as nothing, on a row
        // too.
        let mut first = RawStatement::prepare(&conn, "SELECT a, b FROM t ORDER BY a").unwrap();
        assert!(first.step().unwrap());
        assert_eq!(
            (first.int(0), first.int(2), first.int(-1), first.value(2)),
            (1, 0, 0, ValueRef::Null)
        );
        let mut typed = conn.prepare("SELECT a, b FROM t WHERE a >= 1").unwrap();
        let expected: Vec<(i64, Value)> = typed
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(rows, expected);
        assert_eq!(
            rows.iter()
                .map(|(_, value)| value.data_type())
                .collect::<Vec<_>>(),
            [
                Type::Integer,
                Type::Text,
                Type::Null,
                Type::Real,
                Type::Blob
            ]
        );
        let Err(rusqlite::Error::SqliteFailure(_, Some(message))) =
            RawStatement::prepare(&conn, "SELECT nope FROM t")
        else {
            panic!("a bad column is an error")
        };
        assert_eq!(message, "no such column: nope");
    }
}
