//! The embedded SQLite database: one file shared by every service of the process, each with
//! its own tables and migration history.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};

pub mod held;
pub mod inline;

pub use inline::{InlineReaders, InlineWriter};

use super::{publish_pool_sizes, timed_acquire, Migration};
use crate::health::ReadinessCheck;
use crate::metrics::{Collector, DB_POOL_ACQUIRE_DURATION_SECONDS};

/// One embedded database: a single-connection writer pool (SQLite allows one writer; queuing
/// here avoids `SQLITE_BUSY`), a reader pool for concurrent reads (WAL mode), read-only
/// connections for the hot, short reads on the calling thread, and one connection for the
/// hot, short write transactions on the calling thread, in the writer pool's turn.
#[derive(Clone, Debug)]
pub struct SqliteDb {
    /// Use for transactions and statements that write.
    pub writer: SqlitePool,
    /// Use for reads.
    pub reader: SqlitePool,
    /// Use for the hot reads that are short and bounded (a page by an index with a `LIMIT`):
    /// no hand-off to a connection thread ([`InlineReaders`]).
    pub inline: Arc<InlineReaders>,
    /// Runs the short, hot write transactions on the calling thread ([`Self::write`]).
    write_inline: Arc<InlineWriter>,
}

const READERS: u32 = 8;

/// Bytes the write-ahead log keeps once checkpointed: after a burst (seeding, a backlog) it
/// is cut back to this, not left at its high-water size.
pub(crate) const JOURNAL_SIZE_LIMIT: i64 = 16 * 1024 * 1024;

impl SqliteDb {
    /// Opens (creating if missing) the database at a `sqlite://` URL or file path.
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        let options = if url.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(url).with_context(|| format!("parsing {url}"))?
        } else {
            SqliteConnectOptions::new().filename(url)
        };
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .pragma("journal_size_limit", JOURNAL_SIZE_LIMIT.to_string())
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        if let Some(parent) = options.get_filename().parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
        }
        // No ping before each checkout (sqlx's default): an embedded connection cannot have
        // gone away, and the ping is one more round trip to the connection's thread per
        // statement.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await
            .with_context(|| format!("opening the database {url}"))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone().read_only(false))
            .await
            .with_context(|| format!("opening the database {url}"))?;
        let inline = Arc::new(InlineReaders::new(options.get_filename(), READERS as usize));
        let write_inline = Arc::new(InlineWriter::new(options.get_filename()));
        Ok(Self {
            writer,
            reader,
            inline,
            write_inline,
        })
    }

    /// The default database file inside a data directory.
    pub fn default_url(data_dir: &Path) -> String {
        format!("sqlite://{}", data_dir.join("socialdevs.db").display())
    }

    /// A reader connection, timing the wait for `socialdevs_db_pool_acquire_duration_seconds`.
    pub async fn read(&self, service: &'static str) -> Result<PoolConnection<Sqlite>, sqlx::Error> {
        timed_acquire(&self.reader, service).await
    }

    /// Begins a write transaction on the writer connection.
    pub async fn begin(
        &self,
        service: &'static str,
    ) -> Result<sqlx::Transaction<'static, Sqlite>, sqlx::Error> {
        let started = Instant::now();
        let tx = self.writer.begin().await?;
        metrics::histogram!(DB_POOL_ACQUIRE_DURATION_SECONDS, "service" => service)
            .record(started.elapsed().as_secs_f64());
        Ok(tx)
    }

    /// Runs `work` as one write transaction on the calling thread, in the turn of the writer
    /// pool's only connection (so after the pool's earlier writes and before its later
    /// ones): committed when `work` returns `Ok`, rolled back otherwise.
    ///
    /// For **short transactions only** (a few indexed statements, as a post with its outbox
    /// row): the thread is an async runtime worker. One hand-off in all (the pool's check of
    /// the connection it gets back) instead of two per statement, `BEGIN` and `COMMIT`.
    pub async fn write<T, E>(
        &self,
        service: &'static str,
        work: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<rusqlite::Error> + From<anyhow::Error> + From<sqlx::Error>,
    {
        let started = Instant::now();
        let turn = self.writer.acquire().await?;
        metrics::histogram!(DB_POOL_ACQUIRE_DURATION_SECONDS, "service" => service)
            .record(started.elapsed().as_secs_f64());
        let done = self.write_inline.transaction(work);
        drop(turn);
        done
    }

    /// A scrape-time collector publishing both pools' sizes for `service`.
    pub fn collector(&self, service: &'static str) -> Collector {
        let pools = [self.writer.clone(), self.reader.clone()];
        Arc::new(move || {
            let (mut idle, mut in_use, mut max) = (0u64, 0u64, 0u64);
            for pool in &pools {
                let size = u64::from(pool.size());
                let free = pool.num_idle() as u64;
                idle += free;
                in_use += size.saturating_sub(free);
                max += u64::from(pool.options().get_max_connections());
            }
            publish_pool_sizes(service, idle, in_use, max);
        })
    }

    /// A readiness check that runs `SELECT 1`.
    pub fn readiness(&self) -> Arc<dyn ReadinessCheck> {
        Arc::new(SqlitePing(self.reader.clone()))
    }
}

struct SqlitePing(SqlitePool);

#[async_trait]
impl ReadinessCheck for SqlitePing {
    fn name(&self) -> &str {
        "database"
    }

    async fn check(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.0)
            .await
            .context("SELECT 1")?;
        Ok(())
    }
}

/// Applies a service's pending migrations, recording them in `<service>_schema_migrations`,
/// so services sharing one embedded file never see each other's history.
pub async fn migrate_sqlite(
    db: &SqliteDb,
    service: &str,
    migrations: &[Migration],
) -> anyhow::Result<usize> {
    let table = format!("{service}_schema_migrations");
    let mut tx = db.writer.begin().await?;
    sqlx::query(&format!(
        "CREATE TABLE IF NOT EXISTS {table} (version INTEGER PRIMARY KEY, name TEXT NOT NULL, \
         applied_at TEXT NOT NULL)"
    ))
    .execute(&mut *tx)
    .await
    .with_context(|| format!("creating {table}"))?;
    let applied: Vec<i64> = sqlx::query_scalar(&format!("SELECT version FROM {table}"))
        .fetch_all(&mut *tx)
        .await?;
    let mut count = 0;
    for migration in migrations {
        if applied.contains(&migration.version) {
            continue;
        }
        sqlx::raw_sql(migration.sql)
            .execute(&mut *tx)
            .await
            .with_context(|| {
                format!(
                    "applying {service} migration {} ({})",
                    migration.version, migration.name
                )
            })?;
        sqlx::query(&format!(
            "INSERT INTO {table} (version, name, applied_at) VALUES (?, ?, ?)"
        ))
        .bind(migration.version)
        .bind(migration.name)
        .bind(chrono::Utc::now().to_rfc3339())
        .execute(&mut *tx)
        .await?;
        count += 1;
    }
    tx.commit().await?;
    if count > 0 {
        tracing::info!(service, applied = count, "database migrated");
    }
    Ok(count)
}

/// Checks, without changing anything, that a service has every one of `migrations` (a
/// process that does not migrate at start); see [`super::check_postgres`].
pub async fn check_sqlite(
    db: &SqliteDb,
    service: &str,
    migrations: &[Migration],
) -> anyhow::Result<()> {
    let table = format!("{service}_schema_migrations");
    let mut conn = db.reader.acquire().await?;
    let exists: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?")
            .bind(&table)
            .fetch_optional(&mut *conn)
            .await
            .with_context(|| format!("looking for {table}"))?;
    let applied = match exists {
        Some(_) => Some(
            sqlx::query_scalar(&format!("SELECT version FROM {table}"))
                .fetch_all(&mut *conn)
                .await
                .with_context(|| format!("reading {table}"))?,
        ),
        None => None,
    };
    super::check_applied(service, migrations, applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn migrations_apply_once_per_service() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(&SqliteDb::default_url(dir.path()))
            .await
            .unwrap();
        let a = [Migration {
            version: 1,
            name: "t",
            sql: "CREATE TABLE a (x INTEGER); CREATE TABLE a2 (y INTEGER);",
        }];
        let b = [Migration {
            version: 1,
            name: "t",
            sql: "CREATE TABLE b (x INTEGER);",
        }];
        assert_eq!(migrate_sqlite(&db, "alpha", &a).await.unwrap(), 1);
        assert_eq!(migrate_sqlite(&db, "beta", &b).await.unwrap(), 1);
        assert_eq!(migrate_sqlite(&db, "alpha", &a).await.unwrap(), 0);
        sqlx::query("INSERT INTO a2 (y) VALUES (1)")
            .execute(&db.writer)
            .await
            .unwrap();
    }

    /// After a burst the write-ahead log grows past the limit; once checkpointed, the next
    /// write (inline or on the pool) cuts it back instead of keeping its high-water size.
    #[tokio::test]
    async fn the_write_ahead_log_is_cut_back_after_a_burst() {
        let dir = tempfile::tempdir().unwrap();
        let url = SqliteDb::default_url(dir.path());
        let db = SqliteDb::open(&url).await.unwrap();
        let wal = dir.path().join("socialdevs.db-wal");
        let wal_size = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        sqlx::query("CREATE TABLE blobs (b BLOB NOT NULL)")
            .execute(&db.writer)
            .await
            .unwrap();
        let limit = u64::try_from(JOURNAL_SIZE_LIMIT).unwrap();
        let burst = usize::try_from(limit / (256 * 1024)).unwrap() + 8;
        db.write("test", |tx| -> anyhow::Result<()> {
            for _ in 0..burst {
                tx.execute("INSERT INTO blobs (b) VALUES (zeroblob(256 * 1024))", [])?;
            }
            Ok(())
        })
        .await
        .unwrap();
        assert!(
            wal_size() > limit,
            "the burst went to the log: {}",
            wal_size()
        );
        let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&db.writer)
            .await
            .unwrap();
        assert_eq!(busy, 0);
        db.write("test", |tx| -> anyhow::Result<()> {
            tx.execute("DELETE FROM blobs WHERE rowid = 1", [])?;
            Ok(())
        })
        .await
        .unwrap();
        assert!(
            wal_size() <= limit,
            "the log was cut back to {limit} bytes: {}",
            wal_size()
        );
    }
}
