//! The database a process runs on, and each service's store on it: the embedded SQLite file
//! (all-in-one, the default) or PostgreSQL, where every service owns a schema and a pool.

use std::sync::Arc;

use socialdevs_events::embedded::EmbeddedTransport;
use socialdevs_events::outbox::postgres::PgOutbox;
use socialdevs_events::outbox::sqlite::SqliteOutbox;
use socialdevs_events::{OutboxSignal, OutboxStore};
use socialdevs_platform::db::{
    migrate_postgres, migrate_sqlite, Backend, PgDb, PgPoolSettings, SqliteDb,
};
use socialdevs_platform::health::ReadinessCheck;
use socialdevs_platform::metrics::Collector;
use socialdevs_posts::store::{PgPostStore, PostStore, SqlitePostStore};
use socialdevs_users::store::{PgUserStore, SqliteUserStore, UserStore};

use crate::config::Settings;
use crate::services::Service;

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

    /// The users store, migrated.
    pub async fn users(&self) -> anyhow::Result<Opened<dyn UserStore>> {
        let service = socialdevs_users::SERVICE;
        Ok(match self {
            Self::Sqlite(db) => {
                migrate_sqlite(db, service, socialdevs_users::migrations::SQLITE).await?;
                let signal = OutboxSignal::default();
                let store = SqliteUserStore::new(db.clone()).with_outbox_signal(signal.clone());
                opened_sqlite(db, service, Arc::new(store), signal)
            }
            Self::Postgres { url, pool } => {
                let db = PgDb::connect(url, service, pool)?;
                migrate_postgres(&db, socialdevs_users::migrations::POSTGRES).await?;
                let signal = OutboxSignal::default();
                let store = PgUserStore::new(db.clone()).with_outbox_signal(signal.clone());
                opened_pg(&db, service, Arc::new(store), signal)
            }
        })
    }

    /// The posts store, migrated.
    pub async fn posts(&self) -> anyhow::Result<Opened<dyn PostStore>> {
        let service = socialdevs_posts::SERVICE;
        Ok(match self {
            Self::Sqlite(db) => {
                migrate_sqlite(db, service, socialdevs_posts::migrations::SQLITE).await?;
                let signal = OutboxSignal::default();
                let store = SqlitePostStore::new(db.clone()).with_outbox_signal(signal.clone());
                opened_sqlite(db, service, Arc::new(store), signal)
            }
            Self::Postgres { url, pool } => {
                let db = PgDb::connect(url, service, pool)?;
                migrate_postgres(&db, socialdevs_posts::migrations::POSTGRES).await?;
                let signal = OutboxSignal::default();
                let store = PgPostStore::new(db.clone()).with_outbox_signal(signal.clone());
                opened_pg(&db, service, Arc::new(store), signal)
            }
        })
    }
}

/// The embedded event transport on this database: the outbox tables are the log.
impl Database {
    /// Opens the embedded transport (its offsets and dead-letter tables migrated).
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

/// Applies the migrations of the services the settings select, then closes.
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let db = Database::open(settings).await?;
    for service in settings.services.iter() {
        match service {
            Service::Users => drop(db.users().await?),
            Service::Posts => drop(db.posts().await?),
            Service::Timeline => {}
        }
    }
    Ok(())
}

fn opened_sqlite<S: ?Sized>(
    db: &SqliteDb,
    service: &'static str,
    store: Arc<S>,
    signal: OutboxSignal,
) -> Opened<S> {
    Opened {
        store,
        outbox: Arc::new(SqliteOutbox::new(db.clone(), service)),
        signal,
        listen: None,
        readiness: db.readiness(),
        collector: db.collector(service),
    }
}

fn opened_pg<S: ?Sized>(
    db: &PgDb,
    service: &'static str,
    store: Arc<S>,
    signal: OutboxSignal,
) -> Opened<S> {
    Opened {
        store,
        outbox: Arc::new(PgOutbox::new(db.clone(), service)),
        signal,
        listen: Some(db.clone()),
        readiness: db.readiness(),
        collector: db.collector(service),
    }
}
