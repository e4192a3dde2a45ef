//! Relational-store plumbing shared by the services' adapters: the embedded SQLite database
//! (all-in-one) and PostgreSQL (production), per-service migrations, pool metrics and
//! readiness, and error classification.

mod postgres;
mod roles;
mod sqlite;

pub use postgres::{check_postgres, migrate_postgres, PgDb, PgPoolSettings};
pub use roles::{grant_roles, LoginRole, RoleGrant};
pub use sqlite::{check_sqlite, held, inline, migrate_sqlite, InlineReaders, SqliteDb};

use std::time::Instant;

use sqlx::pool::PoolConnection;
use sqlx::{Database, Pool};

use crate::metrics::{
    DB_POOL_ACQUIRE_DURATION_SECONDS, DB_POOL_CONNECTIONS, DB_POOL_MAX_CONNECTIONS,
};

/// One forward-only schema change of a service.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Strictly increasing version.
    pub version: i64,
    /// Short description.
    pub name: &'static str,
    /// The SQL to run (several statements allowed).
    pub sql: &'static str,
}

/// Whether a schema (or, on SQLite, a service's tables) has every one of `migrations`, given
/// the versions it records (`None`: never migrated). Versions this build does not know come
/// from a newer release and are fine: migrations keep the previous release working.
fn check_applied(
    schema: &str,
    migrations: &[Migration],
    applied: Option<Vec<i64>>,
) -> anyhow::Result<()> {
    let applied = applied.unwrap_or_default();
    let missing: Vec<String> = migrations
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .map(|m| format!("{} ({})", m.version, m.name))
        .collect();
    anyhow::ensure!(
        missing.is_empty(),
        "the {schema} schema lacks migration{} {}, and this process does not migrate at \
         start (SOCIALDEVS_MIGRATE_AT_START=false): run `socialdevs migrate` first",
        if missing.len() == 1 { "" } else { "s" },
        missing.join(", ")
    );
    let known = |v: &i64| migrations.iter().any(|m| m.version == *v);
    if let Some(newer) = applied.iter().filter(|v| !known(v)).max() {
        tracing::info!(
            schema,
            version = newer,
            "the schema has migrations of a newer release"
        );
    }
    Ok(())
}

/// Which kind of database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite://...` or a plain file path: the embedded database.
    Sqlite,
    /// `postgres://...` or `postgresql://...`.
    Postgres,
}

impl Backend {
    /// The backend a database URL names.
    pub fn of(url: &str) -> Self {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::Postgres
        } else {
            Self::Sqlite
        }
    }
}

/// A timestamp as stored in SQLite: RFC 3339 UTC with microseconds, so text order is time
/// order (PostgreSQL's `timestamptz` has the same microsecond precision).
pub fn timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Parses a stored timestamp.
pub fn parse_timestamp(s: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    Ok(chrono::DateTime::parse_from_rfc3339(s)?.with_timezone(&chrono::Utc))
}

/// If `err` is a unique-constraint violation, the violated constraint's message (PostgreSQL's
/// names the constraint, e.g. `users_email_key`; SQLite's the columns, e.g. `users.email`).
pub fn unique_violation(err: &sqlx::Error) -> Option<String> {
    match err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            let mut message = db.message().to_owned();
            if let Some(constraint) = db.constraint() {
                message.push(' ');
                message.push_str(constraint);
            }
            Some(message)
        }
        _ => None,
    }
}

/// Whether `err` means the database could not be reached or is restarting (answer 503 with
/// `Retry-After`, not 500): pool exhaustion, broken connections, and PostgreSQL's connection
/// exceptions (SQLSTATE class 08), shutdowns (57P01–57P03), connection limits (53300) and
/// statements cut by `statement_timeout` (57014: the database is overloaded).
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300" | "57014")
        }),
        // A connection that died mid-conversation reports a protocol error.
        sqlx::Error::Protocol(message) => {
            message.contains("closed") || message.contains("unexpected end")
        }
        _ => false,
    }
}

/// [`is_unavailable`] for the statements run on the calling thread ([`SqliteDb::write`],
/// [`InlineReaders`]): SQLite busy or locked past its timeout, an I/O error, a file
/// that cannot be opened, or a full disk — the database cannot take the request now.
pub fn is_sqlite_unavailable(err: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode;
    match err {
        rusqlite::Error::SqliteFailure(failure, _) => matches!(
            failure.code,
            ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::SystemIoFailure
                | ErrorCode::CannotOpen
                | ErrorCode::DiskFull
        ),
        _ => false,
    }
}

/// Publishes a service's pool sizes (`socialdevs_db_pool_*`).
fn publish_pool_sizes(service: &'static str, idle: u64, in_use: u64, max: u64) {
    metrics::gauge!(DB_POOL_CONNECTIONS, "service" => service, "state" => "idle").set(idle as f64);
    metrics::gauge!(DB_POOL_CONNECTIONS, "service" => service, "state" => "in_use")
        .set(in_use as f64);
    metrics::gauge!(DB_POOL_MAX_CONNECTIONS, "service" => service).set(max as f64);
}

/// A connection from `pool`, timing the wait for `socialdevs_db_pool_acquire_duration_seconds`.
async fn timed_acquire<DB: Database>(
    pool: &Pool<DB>,
    service: &'static str,
) -> Result<PoolConnection<DB>, sqlx::Error> {
    let started = Instant::now();
    let conn = pool.acquire().await?;
    metrics::histogram!(DB_POOL_ACQUIRE_DURATION_SECONDS, "service" => service)
        .record(started.elapsed().as_secs_f64());
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A second writer that finds the file locked past its timeout is told "unavailable"; a
    /// broken constraint is not.
    #[test]
    fn sqlite_busy_is_unavailable_and_a_constraint_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut first = rusqlite::Connection::open(&path).unwrap();
        first
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER PRIMARY KEY);")
            .unwrap();
        let second = rusqlite::Connection::open(&path).unwrap();
        second.busy_timeout(std::time::Duration::ZERO).unwrap();

        let held = first
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .unwrap();
        let busy = second
            .execute("INSERT INTO t (n) VALUES (1)", [])
            .unwrap_err();
        assert!(is_sqlite_unavailable(&busy), "{busy}");
        held.commit().unwrap();

        second.execute("INSERT INTO t (n) VALUES (1)", []).unwrap();
        let duplicate = second
            .execute("INSERT INTO t (n) VALUES (1)", [])
            .unwrap_err();
        assert!(!is_sqlite_unavailable(&duplicate), "{duplicate}");
    }
}
