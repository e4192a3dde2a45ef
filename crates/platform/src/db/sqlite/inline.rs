//! Reads of the embedded database on the calling thread.
//!
//! sqlx runs each SQLite connection on a thread of its own and hands every statement, and
//! every row of its answer, to that thread and back over channels. For the hot reads — a page
//! of posts is tens of microseconds of SQLite — the hand-off costs more than the statement:
//! the profile of the all-in-one mix (docs/benchmarks.md, "where the time goes") found half
//! the server's CPU in those threads and another quarter in the kernel waking them. The
//! connections here run the statement where the request already is, with no hand-off.
//!
//! For **short, bounded reads only** (an index walk with a `LIMIT`): the calling thread is an
//! async runtime worker, which runs nothing else meanwhile. Anything that could scan stays on
//! the sqlx pools of [`super::SqliteDb`].
//!
//! The hot writes (a post with its outbox row, the relay's mark) are short too, and their
//! statements cost less than their hand-offs: [`InlineWriter`] runs such a transaction on the
//! calling thread, in the turn of the writer pool's only connection
//! ([`super::SqliteDb::write`]), so it never races the pool's writes.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

/// Prepared statements each connection keeps (the hot reads are a handful of shapes).
const STATEMENT_CACHE: usize = 64;

/// Read-only connections to one database file, opened on first use, each used by one thread
/// at a time. A read takes a free one (or waits for one when every connection is in use,
/// which needs more threads reading at once than there are connections).
pub struct InlineReaders {
    path: PathBuf,
    slots: Box<[Mutex<Option<Connection>>]>,
    next: AtomicUsize,
}

impl fmt::Debug for InlineReaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InlineReaders")
            .field("path", &self.path)
            .field("connections", &self.slots.len())
            .finish()
    }
}

impl InlineReaders {
    /// Up to `connections` (at least one) read-only connections to the database at `path`,
    /// which must exist and be in WAL mode (the writer pool opens it first).
    pub fn new(path: &Path, connections: usize) -> Self {
        Self {
            path: path.to_owned(),
            slots: (0..connections.max(1)).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// Runs `read` on a connection, on this thread.
    pub fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> anyhow::Result<T> {
        let mut slot = self.slot();
        let conn = match &mut *slot {
            Some(conn) => conn,
            empty => empty.insert(self.open()?),
        };
        Ok(read(conn)?)
    }

    /// A free connection slot, else (all busy) the next one in turn once it is free.
    fn slot(&self) -> MutexGuard<'_, Option<Connection>> {
        let n = self.slots.len();
        let first = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            match self.slots[(first + i) % n].try_lock() {
                Ok(slot) => return slot,
                // A read that panicked leaves nothing half-done: statements reset on drop.
                Err(TryLockError::Poisoned(poisoned)) => return poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        self.slots[first % n]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn open(&self) -> anyhow::Result<Connection> {
        // Readers of a WAL database wait only in rare moments (recovery after a crash).
        connect(&self.path, false, Duration::from_secs(1))
    }
}

/// The one read-write connection for short write transactions on the calling thread, opened on
/// first use. Callers take the writer pool's turn first ([`super::SqliteDb::write`]): SQLite
/// has one writer at a time, and queuing in the pool means never waiting on SQLite's lock.
pub struct InlineWriter {
    path: PathBuf,
    conn: Mutex<Option<Connection>>,
}

impl fmt::Debug for InlineWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InlineWriter")
            .field("path", &self.path)
            .finish()
    }
}

impl InlineWriter {
    /// The writer of the database at `path`, which must exist and be in WAL mode.
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            conn: Mutex::new(None),
        }
    }

    /// Runs `work` in an immediate transaction on this thread: committed when it returns
    /// `Ok`, rolled back otherwise. The caller holds the writer pool's turn.
    pub(crate) fn transaction<T, E>(
        &self,
        work: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<rusqlite::Error> + From<anyhow::Error>,
    {
        // A transaction that panicked was rolled back as it unwound (`Transaction`'s drop).
        let mut slot = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let conn = match &mut *slot {
            Some(conn) => conn,
            empty => empty.insert(self.open()?),
        };
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let done = work(&tx)?;
        tx.commit()?;
        Ok(done)
    }

    fn open(&self) -> anyhow::Result<Connection> {
        let conn = connect(&self.path, true, Duration::from_secs(10))?;
        // As the pools' connections (`SqliteDb::open`).
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "journal_size_limit", super::JOURNAL_SIZE_LIMIT)?;
        // Checkpoints (which wait for the disk) stay on the writer pool's thread, whose
        // commits run them; never on a runtime worker.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        Ok(conn)
    }
}

/// A connection to the database at `path`, used by one thread at a time, keeping prepared
/// statements.
fn connect(path: &Path, write: bool, busy: Duration) -> anyhow::Result<Connection> {
    let (access, to) = if write {
        (OpenFlags::SQLITE_OPEN_READ_WRITE, "write")
    } else {
        (OpenFlags::SQLITE_OPEN_READ_ONLY, "read")
    };
    let conn = Connection::open_with_flags(path, access | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .with_context(|| format!("opening {} to {to}", path.display()))?;
    conn.busy_timeout(busy)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// The text in column `idx` (borrowed from the row).
pub fn text<'r>(row: &'r rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<&'r str> {
    row.get_ref(idx)?.as_str().map_err(|err| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(err))
    })
}

/// The text in column `idx` parsed by `parse`, its failure reported as the column's.
pub fn parsed<T, E>(
    row: &rusqlite::Row<'_>,
    idx: usize,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> rusqlite::Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
{
    parse(text(row, idx)?).map_err(|err| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(err))
    })
}

/// The timestamp (RFC 3339 text, as the stores write them) in column `idx`.
pub fn timestamp(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    parsed(row, idx, |s| {
        DateTime::parse_from_rfc3339(s).map(|at| at.with_timezone(&Utc))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::SqliteDb;

    /// A fresh database after `statements`, run on the writer.
    async fn database(statements: &[&str]) -> (tempfile::TempDir, SqliteDb) {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(&SqliteDb::default_url(dir.path()))
            .await
            .unwrap();
        for statement in statements {
            sqlx::query(statement).execute(&db.writer).await.unwrap();
        }
        (dir, db)
    }

    #[tokio::test]
    async fn reads_what_the_writer_committed_on_the_calling_thread() {
        let (_dir, db) = database(&[
            "CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER NOT NULL, at TEXT NOT NULL)",
            "INSERT INTO t VALUES ('a', 1, '2026-12-01T10:00:00.000001Z'), \
             ('b', 2, '2026-12-01T11:00:00Z')",
        ])
        .await;
        let rows = db
            .inline
            .read(|conn| {
                conn.prepare_cached("SELECT id, n, at FROM t ORDER BY id")?
                    .query_map([], |row| {
                        Ok((text(row, 0)?.to_owned(), row.get(1)?, timestamp(row, 2)?))
                    })?
                    .collect::<rusqlite::Result<Vec<(String, i64, DateTime<Utc>)>>>()
            })
            .unwrap();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(
            rows,
            vec![
                ("a".into(), 1, at("2026-12-01T10:00:00.000001Z")),
                ("b".into(), 2, at("2026-12-01T11:00:00Z")),
            ]
        );
    }

    #[tokio::test]
    async fn refuses_to_write_and_reports_bad_columns() {
        let (_dir, db) = database(&[
            "CREATE TABLE t (id TEXT)",
            "INSERT INTO t (id) VALUES ('not a uuid')",
        ])
        .await;
        let write = db
            .inline
            .read(|conn| conn.execute("INSERT INTO t (id) VALUES ('x')", []));
        assert!(write.is_err(), "an inline reader must not write");
        let bad = db.inline.read(|conn| {
            conn.query_row("SELECT id FROM t", [], |row| {
                parsed(row, 0, uuid::Uuid::parse_str)
            })
        });
        let message = format!("{:#}", bad.unwrap_err());
        assert!(message.contains("Conversion error"), "{message}");
    }

    #[tokio::test]
    async fn inline_writes_commit_roll_back_and_wait_for_the_writer_pool() {
        let (_dir, db) = database(&["CREATE TABLE t (n INTEGER PRIMARY KEY)"]).await;
        let count = |db: &SqliteDb| {
            db.inline
                .read(|conn| conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0)))
                .unwrap()
        };
        db.write("test", |tx| -> anyhow::Result<()> {
            tx.execute("INSERT INTO t (n) VALUES (1)", [])?;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(count(&db), 1, "committed on Ok");
        let failed = db
            .write("test", |tx| -> anyhow::Result<()> {
                tx.execute("INSERT INTO t (n) VALUES (2)", [])?;
                anyhow::bail!("changed my mind")
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(count(&db), 1, "rolled back on Err");

        // While a pool transaction is open, an inline write waits for it, then follows it.
        let mut open = db.begin("test").await.unwrap();
        sqlx::query("INSERT INTO t (n) VALUES (3)")
            .execute(&mut *open)
            .await
            .unwrap();
        let later = tokio::spawn({
            let db = db.clone();
            async move {
                db.write("test", |tx| -> anyhow::Result<i64> {
                    tx.execute("INSERT INTO t (n) VALUES (4)", [])?;
                    Ok(tx.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))?)
                })
                .await
            }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !later.is_finished(),
            "the inline write waited for the pool's turn"
        );
        open.commit().await.unwrap();
        assert_eq!(
            later.await.unwrap().unwrap(),
            3,
            "it saw the pool's row and its own"
        );
        assert_eq!(count(&db), 3);
    }

    #[test]
    fn every_slot_is_used_before_any_is_waited_for() {
        let readers = InlineReaders::new(Path::new("unused.db"), 3);
        let held: Vec<_> = (0..3).map(|_| readers.slot()).collect();
        // All three are held: the slots handed out were three different ones.
        assert_eq!(held.len(), 3);
        assert!(readers.slots.iter().all(|slot| slot.try_lock().is_err()));
    }
}
