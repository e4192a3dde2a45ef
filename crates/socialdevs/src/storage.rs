//! The database a process runs on, and each service's store on it: the embedded SQLite file
//! (all-in-one, the default) or PostgreSQL, where every service owns a schema and a pool —
//! and, configured so, logs in as a role of its own that may use that schema only
//! (`SOCIALDEVS_<SERVICE>_DATABASE_URL`), while migrations run as the role that owns the
//! schemas (`SOCIALDEVS_MIGRATE_DATABASE_URL`; [`migrate`] also grants the services' roles).
//!
//! A service declares its store as a [`StoreSpec`] in its registry entry (migrations and
//! adapter per database); [`Database::open_store`] opens and migrates it (or, with
//! `SOCIALDEVS_MIGRATE_AT_START=false`, checks it is migrated) the same way for every service.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use socialdevs_events::embedded::{self, EmbeddedTransport};
use socialdevs_events::outbox::postgres::PgOutbox;
use socialdevs_events::outbox::sqlite::SqliteOutbox;
use socialdevs_events::{OutboxSignal, OutboxStore};
use socialdevs_platform::db::{
    check_postgres, check_sqlite, grant_roles, migrate_postgres, migrate_sqlite, Backend,
    LoginRole, Migration, PgDb, PgPoolSettings, RoleGrant, SqliteDb,
};
use socialdevs_platform::health::ReadinessCheck;
use socialdevs_platform::metrics::Collector;

use crate::config::{schema_database_url_env, Settings};
use crate::registry;

/// The database the settings name, and whether the process migrates it at start.
#[derive(Clone)]
pub struct Database {
    backing: Backing,
    /// Apply pending migrations when a store opens (`SOCIALDEVS_MIGRATE_AT_START`); else only
    /// check that there are none.
    migrate: bool,
}

#[derive(Clone)]
enum Backing {
    /// One embedded file shared by the process's services (and its URL).
    Sqlite(SqliteDb, String),
    /// A PostgreSQL server; pools open per schema, each with its own URL.
    Postgres(PgUrls),
    /// Nothing this process runs keeps data in a database (no store, events through Kafka),
    /// and no database is configured.
    Unused,
}

/// Where each schema's pool connects, and as whom migrations run.
#[derive(Clone)]
struct PgUrls {
    /// Per schema: the URL of its own setting, else `SOCIALDEVS_DATABASE_URL`.
    schemas: BTreeMap<String, String>,
    /// `SOCIALDEVS_MIGRATE_DATABASE_URL`, when set.
    migrate: Option<String>,
    pool: PgPoolSettings,
}

impl PgUrls {
    fn url(&self, schema: &str) -> anyhow::Result<&str> {
        self.schemas
            .get(schema)
            .map(String::as_str)
            .with_context(|| {
                format!(
                    "no database URL for the {schema} schema: set {} or SOCIALDEVS_DATABASE_URL",
                    schema_database_url_env(schema)
                )
            })
    }

    /// The URL `schema`'s migrations run with.
    fn migration_url(&self, schema: &str) -> anyhow::Result<&str> {
        match &self.migrate {
            Some(url) => Ok(url),
            None => self.url(schema),
        }
    }
}

/// The schemas a process may open: every service's with a store, and the embedded event
/// transport's.
fn schemas() -> impl Iterator<Item = &'static str> {
    registry::ENTRIES
        .iter()
        .filter(|entry| entry.store().is_some())
        .map(|entry| entry.name())
        .chain([embedded::SCHEMA])
}

/// How a service's store opens: its migrations and its adapter, per database. Every store
/// has a transactional outbox, which the registry's relay publishes.
pub struct StoreSpec<S: ?Sized> {
    /// SQLite migrations, applied in order (recorded in `<service>_schema_migrations`).
    pub sqlite_migrations: &'static [Migration],
    /// PostgreSQL migrations, applied in order inside the service's schema.
    pub postgres_migrations: &'static [Migration],
    /// The SQLite adapter; it rings the signal after each commit that wrote events.
    pub sqlite: fn(SqliteDb, OutboxSignal) -> Arc<S>,
    /// The PostgreSQL adapter on the service's pool; it rings the signal likewise.
    pub postgres: fn(PgDb, OutboxSignal) -> Arc<S>,
}

/// A service's store with what operations need of it.
pub struct Opened<S: ?Sized> {
    /// The store.
    pub store: Arc<S>,
    /// The relay's side of the service's outbox.
    pub outbox: Arc<dyn OutboxStore>,
    /// Rung by the store after each commit that wrote events.
    pub signal: OutboxSignal,
    /// On PostgreSQL, the service's pool, for the relay to `LISTEN` for other processes'
    /// commits.
    pub listen: Option<PgDb>,
    /// Pings the store's database for `/readyz`.
    pub readiness: Arc<dyn ReadinessCheck>,
    /// Publishes the pool's sizes at scrape time.
    pub collector: Collector,
}

/// An opened store whatever its type, as the registry keeps it (see [`Opened::store_as`]).
pub type AnyOpened = Opened<dyn Any + Send + Sync>;

impl AnyOpened {
    /// The store as its port type, e.g. `Arc<dyn PostStore>`; `None` for another type.
    pub fn store_as<S: ?Sized + Send + Sync + 'static>(&self) -> Option<Arc<S>> {
        self.store.downcast_ref::<Arc<S>>().cloned()
    }
}

impl<S: ?Sized + Send + Sync + 'static> Opened<S> {
    /// The same store with its type erased, so stores of different services share a list.
    pub fn erase(self) -> AnyOpened {
        Opened {
            store: Arc::new(self.store),
            outbox: self.outbox,
            signal: self.signal,
            listen: self.listen,
            readiness: self.readiness,
            collector: self.collector,
        }
    }
}

/// A [`StoreSpec`] whatever its store type, so registry entries can declare one. Its
/// futures are not `Send`: the compiler cannot prove the migrations' database futures `Send`
/// behind a trait object, and the process awaits startup on its main task anyway.
#[async_trait(?Send)]
pub trait StoreOpener: Send + Sync {
    /// Opens and migrates `service`'s store on `db`.
    async fn open(&self, service: &'static str, db: &Database) -> anyhow::Result<AnyOpened>;

    /// Applies `service`'s pending migrations on `db` (as the migration role), opening nothing.
    async fn migrate(&self, service: &'static str, db: &Database) -> anyhow::Result<()>;
}

#[async_trait(?Send)]
impl<S: ?Sized + Send + Sync + 'static> StoreOpener for StoreSpec<S> {
    async fn open(&self, service: &'static str, db: &Database) -> anyhow::Result<AnyOpened> {
        Ok(db.open_store(service, self).await?.erase())
    }

    async fn migrate(&self, service: &'static str, db: &Database) -> anyhow::Result<()> {
        db.migrate_only(service, self.sqlite_migrations, self.postgres_migrations)
            .await
    }
}

impl Database {
    /// Opens the database the settings name (SQLite: creating the file if missing).
    ///
    /// PostgreSQL when any database URL setting names it; the embedded SQLite file when none
    /// is set — unless nothing this process runs keeps data in a database (no store, events
    /// through Kafka), when no database is opened at all.
    pub async fn open(settings: &Settings) -> anyhow::Result<Self> {
        let backing = match configured_backend(settings)? {
            Some(Backend::Postgres) => Backing::Postgres(PgUrls {
                schemas: schemas()
                    .filter_map(|schema| {
                        settings
                            .schema_database_url(schema)
                            .map(|url| (schema.to_owned(), url))
                    })
                    .collect(),
                migrate: settings
                    .migrate_database_url
                    .clone()
                    .filter(|url| !url.trim().is_empty()),
                pool: settings.pg_pool(),
            }),
            None if !needs_database(settings) => Backing::Unused,
            Some(Backend::Sqlite) | None => {
                let url = settings.database_url();
                Backing::Sqlite(SqliteDb::open(&url).await?, url)
            }
        };
        Ok(Self {
            backing,
            migrate: settings.migrate_at_start,
        })
    }

    /// The database for logs: its URLs without passwords.
    pub fn describe(&self) -> String {
        match &self.backing {
            Backing::Sqlite(_, url) => url.clone(),
            Backing::Postgres(urls) => {
                let mut shown: Vec<String> = urls
                    .schemas
                    .values()
                    .chain(&urls.migrate)
                    .map(|url| crate::app::redact(url))
                    .collect();
                shown.sort();
                shown.dedup();
                shown.join(", ")
            }
            Backing::Unused => "none".into(),
        }
    }

    /// `service`'s store as `spec` declares it, migrated.
    pub async fn open_store<S: ?Sized>(
        &self,
        service: &'static str,
        spec: &StoreSpec<S>,
    ) -> anyhow::Result<Opened<S>> {
        let signal = OutboxSignal::default();
        Ok(match &self.backing {
            Backing::Sqlite(db, _) => {
                self.prepare_sqlite(db, service, spec.sqlite_migrations)
                    .await?;
                Opened {
                    store: (spec.sqlite)(db.clone(), signal.clone()),
                    outbox: Arc::new(SqliteOutbox::new(db.clone(), service)),
                    signal,
                    listen: None,
                    readiness: db.readiness(),
                    collector: db.collector(service),
                }
            }
            Backing::Postgres(urls) => {
                let db = self
                    .prepare_postgres(urls, service, spec.postgres_migrations)
                    .await?;
                Opened {
                    store: (spec.postgres)(db.clone(), signal.clone()),
                    outbox: Arc::new(PgOutbox::new(db.clone(), service)),
                    signal,
                    listen: Some(db.clone()),
                    readiness: db.readiness(),
                    collector: db.collector(service),
                }
            }
            Backing::Unused => anyhow::bail!(no_database(service)),
        })
    }

    /// Applies `service`'s migrations for this database, whatever `SOCIALDEVS_MIGRATE_AT_START`
    /// says; on PostgreSQL with the migration URL only.
    async fn migrate_only(
        &self,
        service: &'static str,
        sqlite: &'static [Migration],
        postgres: &'static [Migration],
    ) -> anyhow::Result<()> {
        match &self.backing {
            Backing::Sqlite(db, _) => {
                migrate_sqlite(db, service, sqlite).await?;
            }
            Backing::Postgres(urls) => {
                let db = PgDb::connect(urls.migration_url(service)?, service, &urls.pool)?;
                let migrated = migrate_postgres(&db, postgres).await;
                db.close().await;
                migrated?;
            }
            Backing::Unused => anyhow::bail!(no_database(service)),
        }
        Ok(())
    }

    /// Migrates (or checks) a service's tables in the embedded file.
    async fn prepare_sqlite(
        &self,
        db: &SqliteDb,
        service: &str,
        migrations: &[Migration],
    ) -> anyhow::Result<()> {
        if self.migrate {
            migrate_sqlite(db, service, migrations).await?;
        } else {
            check_sqlite(db, service, migrations).await?;
        }
        Ok(())
    }

    /// `schema`'s pool, on its own URL, once its migrations are applied (with the migration
    /// URL when one is set) or, when the process does not migrate at start, checked.
    async fn prepare_postgres(
        &self,
        urls: &PgUrls,
        schema: &str,
        migrations: &[Migration],
    ) -> anyhow::Result<PgDb> {
        let url = urls.url(schema)?;
        let db = PgDb::connect(url, schema, &urls.pool)?;
        if !self.migrate {
            check_postgres(&db, migrations).await?;
            return Ok(db);
        }
        let migration_url = urls.migration_url(schema)?;
        if migration_url == url {
            migrate_postgres(&db, migrations).await?;
        } else {
            let owner = PgDb::connect(migration_url, schema, &urls.pool)?;
            let migrated = migrate_postgres(&owner, migrations).await;
            owner.close().await;
            migrated?;
        }
        Ok(db)
    }

    /// Opens the embedded event transport on this database: the outbox tables are the log
    /// (its offsets and dead-letter tables migrated, or checked).
    pub async fn embedded_transport(&self) -> anyhow::Result<EmbeddedTransport> {
        match &self.backing {
            Backing::Sqlite(db, _) => {
                self.prepare_sqlite(db, embedded::SCHEMA, embedded::SQLITE_MIGRATIONS)
                    .await?;
                Ok(EmbeddedTransport::on_sqlite(db.clone()))
            }
            Backing::Postgres(urls) => {
                let db = self
                    .prepare_postgres(urls, embedded::SCHEMA, embedded::POSTGRES_MIGRATIONS)
                    .await?;
                EmbeddedTransport::on_postgres(db)
            }
            Backing::Unused => anyhow::bail!(no_database("the embedded event transport")),
        }
    }

    /// Applies the embedded event transport's migrations, whatever
    /// `SOCIALDEVS_MIGRATE_AT_START` says; on PostgreSQL with the migration URL only.
    async fn migrate_embedded_transport(&self) -> anyhow::Result<()> {
        self.migrate_only(
            embedded::SCHEMA,
            embedded::SQLITE_MIGRATIONS,
            embedded::POSTGRES_MIGRATIONS,
        )
        .await
    }
}

fn no_database(what: &str) -> String {
    format!("{what} needs a database, and none is configured: set SOCIALDEVS_DATABASE_URL")
}

/// The backend the database URL settings name; `None` when none is set.
fn configured_backend(settings: &Settings) -> anyhow::Result<Option<Backend>> {
    let own = [
        (
            "SOCIALDEVS_MIGRATE_DATABASE_URL",
            &settings.migrate_database_url,
        ),
        (
            "SOCIALDEVS_USERS_DATABASE_URL",
            &settings.users_database_url,
        ),
        (
            "SOCIALDEVS_POSTS_DATABASE_URL",
            &settings.posts_database_url,
        ),
        (
            "SOCIALDEVS_NOTIFICATIONS_DATABASE_URL",
            &settings.notifications_database_url,
        ),
        (
            "SOCIALDEVS_EVENTS_DATABASE_URL",
            &settings.events_database_url,
        ),
    ];
    let set = |url: &Option<String>| url.as_deref().filter(|u| !u.trim().is_empty()).is_some();
    for (name, url) in own {
        if let Some(url) = url.as_deref().filter(|u| !u.trim().is_empty()) {
            anyhow::ensure!(
                Backend::of(url) == Backend::Postgres,
                "{name} is for PostgreSQL: a postgres:// URL naming a role of its own"
            );
        }
    }
    let any_own = own.iter().any(|(_, url)| set(url));
    match settings.database_url.as_deref().filter(|u| !u.trim().is_empty()) {
        Some(url) if Backend::of(url) == Backend::Sqlite && any_own => anyhow::bail!(
            "SOCIALDEVS_DATABASE_URL names an SQLite file, while the per-role database URLs              (SOCIALDEVS_MIGRATE_DATABASE_URL, SOCIALDEVS_<SERVICE>_DATABASE_URL) are for              PostgreSQL"
        ),
        Some(url) => Ok(Some(Backend::of(url))),
        None if any_own => Ok(Some(Backend::Postgres)),
        None => Ok(None),
    }
}

/// Whether anything the settings select keeps data in a database: a service with a store,
/// or events through the embedded transport (no Kafka).
fn needs_database(settings: &Settings) -> bool {
    !settings.uses_kafka()
        || settings
            .services
            .iter()
            .any(|service| service.entry().store().is_some())
}

/// Applies the migrations of the services the settings select (those with a store), and
/// of the embedded event transport when events travel through the database (no Kafka), as
/// the migration role (`SOCIALDEVS_MIGRATE_DATABASE_URL`, else `SOCIALDEVS_DATABASE_URL`).
/// With `grant_roles`, then creates or updates each service's login role — the one its own
/// URL (`SOCIALDEVS_<SERVICE>_DATABASE_URL`) names — and grants it its schema and nothing
/// else. Returns what it did, a line each, for the operator.
pub async fn migrate(settings: &Settings, grant_roles: bool) -> anyhow::Result<Vec<String>> {
    let settings = Settings {
        migrate_at_start: true,
        ..settings.clone()
    };
    let db = Database::open(&settings).await?;
    let mut done = Vec::new();
    let mut migrated = Vec::new();
    for service in settings.services.iter() {
        if let Some(store) = service.entry().store() {
            store.migrate(service.name(), &db).await?;
            migrated.push(service.name());
        }
    }
    if !settings.uses_kafka() {
        db.migrate_embedded_transport().await?;
        migrated.push(embedded::SCHEMA);
    }
    done.push(format!(
        "migrations applied to {} ({})",
        crate::app::redact(
            &settings
                .migrate_url()
                .unwrap_or_else(|| settings.database_url())
        ),
        migrated.join(", ")
    ));
    if grant_roles {
        done.extend(grant(&settings, &db, &migrated).await?);
    }
    Ok(done)
}

/// `socialdevs migrate --grant-roles`: each migrated schema whose own URL setting names a
/// role gets that role, with its schema's rights only; the embedded transport's role may
/// also read every migrated service's outbox.
async fn grant(
    settings: &Settings,
    db: &Database,
    migrated: &[&'static str],
) -> anyhow::Result<Vec<String>> {
    anyhow::ensure!(
        matches!(db.backing, Backing::Postgres(_)),
        "--grant-roles is for PostgreSQL: the embedded SQLite file has no roles"
    );
    let owner_url = settings.migrate_url().context(
        "--grant-roles needs the migration role's URL (SOCIALDEVS_MIGRATE_DATABASE_URL)",
    )?;
    let outboxes: Vec<(String, String)> = migrated
        .iter()
        .filter(|schema| **schema != embedded::SCHEMA)
        .map(|schema| ((*schema).to_owned(), "outbox".to_owned()))
        .collect();
    let mut grants = Vec::new();
    let mut notes = Vec::new();
    for schema in migrated {
        let own = match *schema {
            socialdevs_users::SERVICE => &settings.users_database_url,
            socialdevs_posts::SERVICE => &settings.posts_database_url,
            socialdevs_notifications::SERVICE => &settings.notifications_database_url,
            embedded::SCHEMA => &settings.events_database_url,
            _ => &None,
        };
        let own = own
            .clone()
            .or_else(|| std::env::var(schema_database_url_env(schema)).ok())
            .filter(|url| !url.trim().is_empty());
        let Some(url) = own else {
            notes.push(format!(
                "the {schema} schema has no role of its own ({} is not set): its service                  connects with SOCIALDEVS_DATABASE_URL",
                schema_database_url_env(schema)
            ));
            continue;
        };
        let role = LoginRole::from_url(&url)
            .with_context(|| format!("the role in {}", schema_database_url_env(schema)))?;
        let reads = if *schema == embedded::SCHEMA {
            outboxes.clone()
        } else {
            Vec::new()
        };
        grants.push(RoleGrant {
            role,
            schema: (*schema).to_owned(),
            reads,
        });
    }
    anyhow::ensure!(
        !grants.is_empty(),
        "--grant-roles found no role to grant: name each service's role in its URL,          SOCIALDEVS_USERS_DATABASE_URL, SOCIALDEVS_POSTS_DATABASE_URL,          SOCIALDEVS_NOTIFICATIONS_DATABASE_URL (and SOCIALDEVS_EVENTS_DATABASE_URL without Kafka)"
    );
    let managed: Vec<&str> = schemas().collect();
    let mut done = grant_roles(&owner_url, &managed, &grants).await?;
    done.extend(notes);
    Ok(done)
}
