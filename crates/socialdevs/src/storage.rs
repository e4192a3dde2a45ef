//! The database a process runs on, and each service's store on it: the embedded SQLite file
//! (all-in-one, the default) or PostgreSQL, where every service owns a schema and a pool.

use std::sync::Arc;

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
                opened_sqlite(db, service, Arc::new(SqliteUserStore::new(db.clone())))
            }
            Self::Postgres { url, pool } => {
                let db = PgDb::connect(url, service, pool)?;
                migrate_postgres(&db, socialdevs_users::migrations::POSTGRES).await?;
                opened_pg(&db, service, Arc::new(PgUserStore::new(db.clone())))
            }
        })
    }

    /// The posts store, migrated.
    pub async fn posts(&self) -> anyhow::Result<Opened<dyn PostStore>> {
        let service = socialdevs_posts::SERVICE;
        Ok(match self {
            Self::Sqlite(db) => {
                migrate_sqlite(db, service, socialdevs_posts::migrations::SQLITE).await?;
                opened_sqlite(db, service, Arc::new(SqlitePostStore::new(db.clone())))
            }
            Self::Postgres { url, pool } => {
                let db = PgDb::connect(url, service, pool)?;
                migrate_postgres(&db, socialdevs_posts::migrations::POSTGRES).await?;
                opened_pg(&db, service, Arc::new(PgPostStore::new(db.clone())))
            }
        })
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

fn opened_sqlite<S: ?Sized>(db: &SqliteDb, service: &'static str, store: Arc<S>) -> Opened<S> {
    Opened {
        store,
        readiness: db.readiness(),
        collector: db.collector(service),
    }
}

fn opened_pg<S: ?Sized>(db: &PgDb, service: &'static str, store: Arc<S>) -> Opened<S> {
    Opened {
        store,
        readiness: db.readiness(),
        collector: db.collector(service),
    }
}
