//! The database a process runs on, and each service's store on it: the embedded SQLite file
//! (all-in-one, the default) or PostgreSQL, where every service owns a schema and a pool.
//!
//! A service declares its store as a [`StoreSpec`] in its registry entry (migrations and
//! adapter per database); [`Database::open_store`] opens and migrates it the same way for
//! every service.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use socialdevs_events::embedded::EmbeddedTransport;
use socialdevs_events::outbox::postgres::PgOutbox;
use socialdevs_events::outbox::sqlite::SqliteOutbox;
use socialdevs_events::{OutboxSignal, OutboxStore};
use socialdevs_platform::db::{
    migrate_postgres, migrate_sqlite, Backend, Migration, PgDb, PgPoolSettings, SqliteDb,
};
use socialdevs_platform::health::ReadinessCheck;
use socialdevs_platform::metrics::Collector;

use crate::config::Settings;

/// The database named by `SOCIALDEVS_DATABASE_URL`.
#[derive(Clone)]
pub enum Database {
    /// One embedded file shared by the process's services.
    Sqlite(SqliteDb),
    /// A PostgreSQL server; pools open per service.
    Postgres {
        /// Connection URL.
        url: String,
        /// Pool settings for every service's pool.
        pool: PgPoolSettings,
    },
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

/// A service's database, migrated.
enum Migrated {
    Sqlite(SqliteDb),
    Postgres(PgDb),
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
/// future is not `Send`: the compiler cannot prove the migrations' database futures `Send`
/// behind a trait object, and the process awaits startup on its main task anyway.
#[async_trait(?Send)]
pub trait StoreOpener: Send + Sync {
    /// Opens and migrates `service`'s store on `db`.
    async fn open(&self, service: &'static str, db: &Database) -> anyhow::Result<AnyOpened>;
}

#[async_trait(?Send)]
impl<S: ?Sized + Send + Sync + 'static> StoreOpener for StoreSpec<S> {
    async fn open(&self, service: &'static str, db: &Database) -> anyhow::Result<AnyOpened> {
        Ok(db.open_store(service, self).await?.erase())
    }
}

impl Database {
    /// Opens the database the settings name (SQLite: creating the file if missing).
    pub async fn open(settings: &Settings) -> anyhow::Result<Self> {
        let url = settings.database_url();
        Ok(match Backend::of(&url) {
            Backend::Sqlite => Self::Sqlite(SqliteDb::open(&url).await?),
            Backend::Postgres => Self::Postgres {
                url,
                pool: settings.pg_pool(),
            },
        })
    }

    /// `service`'s store as `spec` declares it, migrated.
    pub async fn open_store<S: ?Sized>(
        &self,
        service: &'static str,
        spec: &StoreSpec<S>,
    ) -> anyhow::Result<Opened<S>> {
        let migrated = self
            .migrate_store(service, spec.sqlite_migrations, spec.postgres_migrations)
            .await?;
        let signal = OutboxSignal::default();
        Ok(match migrated {
            Migrated::Sqlite(db) => Opened {
                store: (spec.sqlite)(db.clone(), signal.clone()),
                outbox: Arc::new(SqliteOutbox::new(db.clone(), service)),
                signal,
                listen: None,
                readiness: db.readiness(),
                collector: db.collector(service),
            },
            Migrated::Postgres(db) => Opened {
                store: (spec.postgres)(db.clone(), signal.clone()),
                outbox: Arc::new(PgOutbox::new(db.clone(), service)),
                signal,
                listen: Some(db.clone()),
                readiness: db.readiness(),
                collector: db.collector(service),
            },
        })
    }

    /// Applies `service`'s migrations for this database; the handle its store opens on.
    async fn migrate_store(
        &self,
        service: &'static str,
        sqlite: &'static [Migration],
        postgres: &'static [Migration],
    ) -> anyhow::Result<Migrated> {
        Ok(match self {
            Self::Sqlite(db) => {
                migrate_sqlite(db, service, sqlite).await?;
                Migrated::Sqlite(db.clone())
            }
            Self::Postgres { url, pool } => {
                let db = PgDb::connect(url, service, pool)?;
                migrate_postgres(&db, postgres).await?;
                Migrated::Postgres(db)
            }
        })
    }

    /// Opens the embedded event transport on this database: the outbox tables are the log
    /// (its offsets and dead-letter tables migrated).
    pub async fn embedded_transport(&self) -> anyhow::Result<EmbeddedTransport> {
        match self {
            Self::Sqlite(db) => EmbeddedTransport::sqlite(db.clone()).await,
            Self::Postgres { url, pool } => {
                let db = PgDb::connect(url, socialdevs_events::embedded::SCHEMA, pool)?;
                EmbeddedTransport::postgres(db).await
            }
        }
    }
}

/// Applies the migrations of the services the settings select (those with a store), then
/// closes.
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let db = Database::open(settings).await?;
    for service in settings.services.iter() {
        if let Some(store) = service.entry().store() {
            drop(store.open(service.name(), &db).await?);
        }
    }
    Ok(())
}
