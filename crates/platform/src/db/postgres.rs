//! PostgreSQL: one pool per service, each confined to its own schema (`search_path`), with
//! statement timeouts, bounded connection waits and automatic reconnection.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::Connection;
use sqlx::{PgPool, Postgres};

use super::{is_unavailable, publish_pool_sizes, timed_acquire, Migration};
use crate::health::ReadinessCheck;
use crate::metrics::{Collector, DB_POOL_ACQUIRE_DURATION_SECONDS};

/// A pooled connection idle at least this long is pinged before it is handed out.
const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);

/// Pool settings for PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgPoolSettings {
    /// Connections per service pool.
    pub max_connections: u32,
    /// How long a request waits for a connection before answering 503.
    pub acquire_timeout: Duration,
    /// Server-side limit for one statement.
    pub statement_timeout: Duration,
    /// How long startup waits for the database to accept connections.
    pub startup_wait: Duration,
}

impl Default for PgPoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(5),
            startup_wait: Duration::from_secs(30),
        }
    }
}

/// One service's PostgreSQL pool, whose sessions see only the service's own schema.
#[derive(Clone, Debug)]
pub struct PgDb {
    pool: PgPool,
    schema: String,
    startup_wait: Duration,
}

impl PgDb {
    /// A pool on `url` for the service owning `schema`. Connects lazily: the pool opens (and
    /// after a database restart, reopens) connections as requests need them.
    pub fn connect(url: &str, schema: &str, settings: &PgPoolSettings) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !schema.is_empty() && schema.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "schema names are lowercase letters and underscores, not {schema:?}"
        );
        let options = PgConnectOptions::from_str(url)
            .with_context(|| format!("parsing the database URL of the {schema} schema"))?
            .application_name(&format!("socialdevs-{schema}"))
            .options([
                ("search_path", schema.to_owned()),
                (
                    "statement_timeout",
                    format!("{}ms", settings.statement_timeout.as_millis()),
                ),
            ]);
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .min_connections(0)
            .acquire_timeout(settings.acquire_timeout)
            .idle_timeout(Duration::from_secs(300))
            // A connection is pinged before use only when it sat idle a while (it may have been
            // cut by a restart or a proxy meanwhile); one in steady use is not, which saves a
            // round trip to the server per statement.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_WHEN_IDLE_FOR {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_lazy_with(options);
        Ok(Self {
            pool,
            schema: schema.to_owned(),
            startup_wait: settings.startup_wait,
        })
    }

    /// The pool, for statements that need no timing.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The service's schema.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// A connection, timing the wait for `socialdevs_db_pool_acquire_duration_seconds`.
    pub async fn acquire(
        &self,
        service: &'static str,
    ) -> Result<PoolConnection<Postgres>, sqlx::Error> {
        timed_acquire(&self.pool, service).await
    }

    /// Begins a transaction.
    pub async fn begin(
        &self,
        service: &'static str,
    ) -> Result<sqlx::Transaction<'static, Postgres>, sqlx::Error> {
        let started = Instant::now();
        let tx = self.pool.begin().await?;
        metrics::histogram!(DB_POOL_ACQUIRE_DURATION_SECONDS, "service" => service)
            .record(started.elapsed().as_secs_f64());
        Ok(tx)
    }

    /// A scrape-time collector publishing the pool's size for `service`.
    pub fn collector(&self, service: &'static str) -> Collector {
        let pool = self.pool.clone();
        Arc::new(move || {
            let size = u64::from(pool.size());
            let idle = pool.num_idle() as u64;
            let max = u64::from(pool.options().get_max_connections());
            publish_pool_sizes(service, idle, size.saturating_sub(idle), max);
        })
    }

    /// A readiness check that runs `SELECT 1`.
    pub fn readiness(&self) -> Arc<dyn ReadinessCheck> {
        Arc::new(PgPing(self.pool.clone()))
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

struct PgPing(PgPool);

#[async_trait]
impl ReadinessCheck for PgPing {
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

/// Applies a service's pending migrations inside its own schema (created if missing),
/// recording them in `<schema>.schema_migrations`. A transaction-scoped advisory lock makes
/// processes that start together take turns. Waits up to the pool's startup wait for the
/// database to come up.
///
/// A schema that already has every migration is left alone, without a lock or any DDL: a
/// login role that may only use the schema (no `CREATE`) starts on a current schema too.
pub async fn migrate_postgres(db: &PgDb, migrations: &[Migration]) -> anyhow::Result<usize> {
    let deadline = Instant::now() + db.startup_wait;
    loop {
        match try_migrate(db, migrations).await {
            Ok(count) => return Ok(count),
            Err(MigrateError::Sql(err)) if is_unavailable(&err) && Instant::now() < deadline => {
                tracing::warn!(schema = %db.schema, error = %err, "waiting for PostgreSQL");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(MigrateError::Sql(err)) => return Err(migrate_failed(db, err)),
            Err(MigrateError::Other(err)) => return Err(err),
        }
    }
}

/// Checks, without changing anything, that a service's schema has every one of `migrations`
/// (a process that does not migrate at start); an error says which are missing and what to
/// run. Migrations of a newer release that this build does not know are fine (they are
/// written so that the previous release keeps working). Waits up to the pool's startup wait
/// for the database to come up.
pub async fn check_postgres(db: &PgDb, migrations: &[Migration]) -> anyhow::Result<()> {
    let deadline = Instant::now() + db.startup_wait;
    loop {
        match applied_versions(db).await {
            Ok(applied) => return super::check_applied(&db.schema, migrations, applied),
            Err(err) if is_unavailable(&err) && Instant::now() < deadline => {
                tracing::warn!(schema = %db.schema, error = %err, "waiting for PostgreSQL");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(err) => {
                let denied = is_permission_denied(&err);
                let err = anyhow::Error::new(err)
                    .context(format!("reading the {} schema's migrations", db.schema));
                return Err(with_denied_hint(err, denied, &db.schema));
            }
        }
    }
}

/// The versions recorded in the schema's `schema_migrations`; `None` when the schema or the
/// table does not exist, or the session may not see them (no `USAGE` on the schema).
async fn applied_versions(db: &PgDb) -> Result<Option<Vec<i64>>, sqlx::Error> {
    let mut conn = db.pool.acquire().await?;
    let table: Option<String> =
        sqlx::query_scalar("SELECT to_regclass(format('%I.schema_migrations', $1::text))::text")
            .bind(&db.schema)
            .fetch_one(&mut *conn)
            .await?;
    if table.is_none() {
        return Ok(None);
    }
    let applied = sqlx::query_scalar("SELECT version FROM schema_migrations")
        .fetch_all(&mut *conn)
        .await?;
    Ok(Some(applied))
}

/// A failed migration as the operator should read it: a role without rights on the schema
/// is told which role migrates and grants.
fn migrate_failed(db: &PgDb, err: sqlx::Error) -> anyhow::Error {
    let denied = is_permission_denied(&err);
    let schema = &db.schema;
    with_denied_hint(
        anyhow::Error::new(err).context(format!("migrating the {schema} schema")),
        denied,
        schema,
    )
}

fn is_permission_denied(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(e) if e.code().as_deref() == Some("42501"))
}

fn with_denied_hint(err: anyhow::Error, denied: bool, schema: &str) -> anyhow::Error {
    if denied {
        err.context(format!(
            "this database role lacks rights on the {schema} schema: the role that owns the \
             schemas applies the migrations and grants the services' roles \
             (`socialdevs migrate --grant-roles` with SOCIALDEVS_MIGRATE_DATABASE_URL)"
        ))
    } else {
        err
    }
}

enum MigrateError {
    Sql(sqlx::Error),
    Other(anyhow::Error),
}

impl From<sqlx::Error> for MigrateError {
    fn from(err: sqlx::Error) -> Self {
        Self::Sql(err)
    }
}

async fn try_migrate(db: &PgDb, migrations: &[Migration]) -> Result<usize, MigrateError> {
    if let Some(applied) = applied_versions(db).await? {
        if migrations.iter().all(|m| applied.contains(&m.version)) {
            return Ok(0);
        }
    }
    let schema = &db.schema;
    let mut tx = db.pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(format!("socialdevs.migrate.{schema}"))
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql(&format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}; SET LOCAL search_path TO {schema}; \
         CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, \
         name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());"
    ))
    .execute(&mut *tx)
    .await?;
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations")
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
            .map_err(|err| {
                let denied = is_permission_denied(&err);
                let err = anyhow::Error::new(err).context(format!(
                    "applying {schema} migration {} ({})",
                    migration.version, migration.name
                ));
                MigrateError::Other(with_denied_hint(err, denied, schema))
            })?;
        sqlx::query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)")
            .bind(migration.version)
            .bind(migration.name)
            .execute(&mut *tx)
            .await?;
        count += 1;
    }
    tx.commit().await?;
    if count > 0 {
        tracing::info!(schema = %schema, applied = count, "database migrated");
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn db(
        schema: &str,
        settings: &PgPoolSettings,
    ) -> (PgDb, socialdevs_testkit::postgres::TestDatabase) {
        let database = socialdevs_testkit::postgres::database().await.unwrap();
        let db = PgDb::connect(&database.url, schema, settings).unwrap();
        (db, database)
    }

    const TABLE: &[Migration] = &[Migration {
        version: 1,
        name: "t",
        sql: "CREATE TABLE things (id BIGINT PRIMARY KEY);",
    }];

    #[tokio::test]
    async fn concurrent_migrations_apply_once_inside_the_service_schema() {
        let (db, _database) = db("alpha", &PgPoolSettings::default()).await;
        // Four migrations racing on four connections (polled together).
        let runs = (0..4).map(|_| migrate_postgres(&db, TABLE));
        let applied: usize = futures::future::join_all(runs)
            .await
            .into_iter()
            .map(Result::unwrap)
            .sum();
        assert_eq!(applied, 1);
        assert_eq!(migrate_postgres(&db, TABLE).await.unwrap(), 0);
        let schema: String = sqlx::query_scalar(
            "SELECT table_schema::text FROM information_schema.tables WHERE table_name = 'things'",
        )
        .fetch_one(db.pool())
        .await
        .unwrap();
        assert_eq!(schema, "alpha");
        // Unqualified names resolve in the service's own schema.
        sqlx::query("INSERT INTO things (id) VALUES (1)")
            .execute(db.pool())
            .await
            .unwrap();
    }

    /// A service's own role may use its schema but not change it: on a current schema it
    /// starts (no DDL is attempted), on an outdated one it is told what to run.
    #[tokio::test]
    async fn a_role_without_create_starts_on_a_current_schema_and_is_told_otherwise() {
        let settings = PgPoolSettings::default();
        let (owner, database) = db("delta", &settings).await;
        assert_eq!(migrate_postgres(&owner, TABLE).await.unwrap(), 1);
        let role = database.role_name("svc");
        sqlx::raw_sql(&format!(
            "CREATE ROLE {role} LOGIN PASSWORD 'x'; GRANT USAGE ON SCHEMA delta TO {role}; \
             GRANT SELECT ON delta.schema_migrations TO {role}"
        ))
        .execute(owner.pool())
        .await
        .unwrap();
        let service = PgDb::connect(&database.role_url("svc", "x"), "delta", &settings).unwrap();
        assert_eq!(migrate_postgres(&service, TABLE).await.unwrap(), 0);
        check_postgres(&service, TABLE).await.unwrap();

        let next = [
            TABLE[0],
            Migration {
                version: 2,
                name: "more things",
                sql: "CREATE TABLE more_things (id BIGINT PRIMARY KEY);",
            },
        ];
        let err = format!("{:#}", check_postgres(&service, &next).await.unwrap_err());
        assert!(
            err.contains("lacks migration 2 (more things)") && err.contains("socialdevs migrate"),
            "{err}"
        );
        let err = format!("{:#}", migrate_postgres(&service, &next).await.unwrap_err());
        assert!(err.contains("lacks rights on the delta schema"), "{err}");
        assert!(err.contains("SOCIALDEVS_MIGRATE_DATABASE_URL"), "{err}");

        // A role with no rights at all is told where they come from.
        sqlx::raw_sql(&format!("CREATE ROLE {role}2 LOGIN PASSWORD 'x'"))
            .execute(owner.pool())
            .await
            .unwrap();
        let stranger = PgDb::connect(&database.role_url("svc2", "x"), "delta", &settings).unwrap();
        let err = format!("{:#}", check_postgres(&stranger, TABLE).await.unwrap_err());
        assert!(err.contains("--grant-roles"), "{err}");
        // A schema never migrated is missing every migration.
        let fresh = PgDb::connect(&database.url, "epsilon", &settings).unwrap();
        let err = format!("{:#}", check_postgres(&fresh, TABLE).await.unwrap_err());
        assert!(
            err.contains("epsilon schema lacks migration 1 (t)"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn sessions_carry_the_statement_timeout() {
        let settings = PgPoolSettings {
            statement_timeout: Duration::from_millis(300),
            ..PgPoolSettings::default()
        };
        let (db, _database) = db("beta", &settings).await;
        let shown: String = sqlx::query_scalar("SHOW statement_timeout")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(shown, "300ms");
        let err = sqlx::query("SELECT pg_sleep(2)")
            .execute(db.pool())
            .await
            .unwrap_err();
        // A statement cut by the timeout is an overloaded database: 503, not 500.
        assert!(is_unavailable(&err), "{err}");
    }

    #[tokio::test]
    async fn an_unreachable_server_is_unavailable_not_an_error() {
        let port = socialdevs_testkit::postgres::free_port().unwrap();
        let db = impatient_pool(port, "gamma");
        let err = db.acquire("gamma").await.unwrap_err();
        assert!(is_unavailable(&err), "{err}");
        assert!(db.readiness().check().await.is_err());
    }

    /// A pool on `127.0.0.1:port` that gives up acquiring after half a second.
    fn impatient_pool(port: u16, schema: &str) -> PgDb {
        let settings = PgPoolSettings {
            acquire_timeout: Duration::from_millis(500),
            ..PgPoolSettings::default()
        };
        PgDb::connect(
            &format!("postgres://postgres@127.0.0.1:{port}/x"),
            schema,
            &settings,
        )
        .unwrap()
    }

    /// A server that accepts and hangs up before answering (PostgreSQL between a fast stop
    /// and its exit, a proxy whose backend is restarting) is unavailable too, not an error.
    #[tokio::test]
    async fn a_server_that_hangs_up_at_once_is_unavailable_not_an_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hang_up = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                // Read what the client sent first (its startup message), then close.
                let mut request = [0u8; 1024];
                let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut request).await;
                drop(socket);
            }
        });
        let db = impatient_pool(port, "delta");
        let err = db.acquire("delta").await.unwrap_err();
        assert!(is_unavailable(&err), "{err:?}");
        hang_up.abort();
    }

    #[test]
    fn schema_names_are_checked() {
        let settings = PgPoolSettings::default();
        assert!(PgDb::connect("postgres://h/db", "users; DROP", &settings).is_err());
        assert!(PgDb::connect("postgres://h/db", "", &settings).is_err());
    }
}
