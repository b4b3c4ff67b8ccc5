//! A prepared INSERT whose text parameters SQLite reads in place.
//!
//! rusqlite binds every text as `SQLITE_TRANSIENT`: SQLite copies it into a
//! buffer of its own, which the row's record then copies again. A first
//! import binds ten texts a member, ten million at a million rows, and those
//! copies (a `malloc`, a `memcpy` and a `free` each) were a fifth of the
//! writer's time spent binding. Here they are bound `SQLITE_STATIC`: SQLite
//! reads the caller's bytes while the statement runs, and every parameter is
//! unbound again before [`StaticInsert::insert`] returns, so no pointer to
//! them outlives the borrow.

use std::ffi::c_int;
use std::ptr::NonNull;

use rusqlite::{Connection, ffi};

/// One parameter's value.
#[derive(Clone, Copy)]
pub(super) enum Bind<'a> {
    Null,
    Int(i64),
    Text(&'a str),
}

impl<'a> From<Option<&'a str>> for Bind<'a> {
    fn from(text: Option<&'a str>) -> Self {
        text.map_or(Bind::Null, Bind::Text)
    }
}

/// A prepared statement of `conn`, finalized when dropped (before the
/// connection: it borrows it).
pub(super) struct StaticInsert<'c> {
    conn: &'c Connection,
    stmt: NonNull<ffi::sqlite3_stmt>,
}

impl<'c> StaticInsert<'c> {
    pub fn prepare(conn: &'c Connection, sql: &str) -> rusqlite::Result<Self> {
        let len = c_int::try_from(sql.len()).map_err(|_| ffi_error(ffi::SQLITE_TOOBIG, None))?;
        let mut stmt = std::ptr::null_mut();
        // SAFETY: the handle is the open connection `conn` borrows; the SQL
        // text is read during the call only.
        let code = unsafe {
            ffi::sqlite3_prepare_v3(
                conn.handle(),
                sql.as_ptr().cast(),
                len,
                ffi::SQLITE_PREPARE_PERSISTENT as _,
                &mut stmt,
                std::ptr::null_mut(),
            )
        };
        if code != ffi::SQLITE_OK {
            return Err(last_error(conn, code));
        }
        let stmt = NonNull::new(stmt).ok_or_else(|| ffi_error(ffi::SQLITE_MISUSE, None))?;
        Ok(Self { conn, stmt })
    }

    /// Binds `values` to `?1`, `?2`, … runs the statement once, and returns
    /// the rowid it inserted.
    pub fn insert(&mut self, values: &[Bind<'_>]) -> rusqlite::Result<i64> {
        let stmt = self.stmt.as_ptr();
        let mut result = Ok(());
        for (i, value) in values.iter().enumerate() {
            let index = i as c_int + 1;
            // SAFETY: `stmt` is this statement, not finalized; a text's
            // bytes are bound SQLITE_STATIC and stay borrowed until the
            // bindings are cleared below, before this returns.
            let code = unsafe {
                match *value {
                    Bind::Null => ffi::sqlite3_bind_null(stmt, index),
                    Bind::Int(n) => ffi::sqlite3_bind_int64(stmt, index, n),
                    Bind::Text(text) => ffi::sqlite3_bind_text64(
                        stmt,
                        index,
                        text.as_ptr().cast(),
                        text.len() as ffi::sqlite3_uint64,
                        ffi::SQLITE_STATIC(),
                        ffi::SQLITE_UTF8 as _,
                    ),
                }
            };
            if code != ffi::SQLITE_OK {
                result = Err(last_error(self.conn, code));
                break;
            }
        }
        if result.is_ok() {
            // SAFETY: as above; every parameter is bound.
            let code = unsafe { ffi::sqlite3_step(stmt) };
            if code != ffi::SQLITE_DONE {
                result = Err(last_error(self.conn, code));
            }
        }
        // SAFETY: as above. Reset and unbound whatever happened, so that no
        // binding points at `values` once they are no longer borrowed.
        unsafe {
            ffi::sqlite3_reset(stmt);
            ffi::sqlite3_clear_bindings(stmt);
        }
        result.map(|()| self.conn.last_insert_rowid())
    }
}

impl Drop for StaticInsert<'_> {
    fn drop(&mut self) {
        // SAFETY: finalized once, here; the connection is still open (borrowed).
        unsafe {
            ffi::sqlite3_finalize(self.stmt.as_ptr());
        }
    }
}

/// The connection's error for a failed call that returned `code`.
fn last_error(conn: &Connection, code: c_int) -> rusqlite::Error {
    // SAFETY: the handle is the open connection; the message is copied
    // before any other call on it.
    let (extended, message) = unsafe {
        let db = conn.handle();
        let message = ffi::sqlite3_errmsg(db);
        let message = (!message.is_null()).then(|| {
            std::ffi::CStr::from_ptr(message)
                .to_string_lossy()
                .into_owned()
        });
        (ffi::sqlite3_extended_errcode(db), message)
    };
    // The extended code when it belongs to this failure (a constraint's kind).
    let code = if extended & 0xff == code & 0xff {
        extended
    } else {
        code
    };
    ffi_error(code, message)
}

fn ffi_error(code: c_int, message: Option<String>) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(ffi::Error::new(code), message)
}
