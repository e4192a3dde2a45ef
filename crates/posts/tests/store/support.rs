//! The stores under test, and small builders for the suite.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use socialdevs_events::CloudEvent;
use socialdevs_platform::db::{migrate_postgres, migrate_sqlite, PgDb, PgPoolSettings, SqliteDb};
use socialdevs_posts::migrations::{POSTGRES, SQLITE};
use socialdevs_posts::model::{IdempotencyKey, Liker, NewPost, PostRow};
use socialdevs_posts::store::{Created, PgPostStore, PostStore, SqlitePostStore};
use socialdevs_posts::SERVICE;
use uuid::Uuid;

/// What the suite can see of a store's database besides the store itself (awaited in place:
/// the migration futures are not `Send`).
#[async_trait(?Send)]
pub trait Probe: Send + Sync {
    /// How many rows one of the posts tables holds.
    async fn rows(&self, table: &str) -> i64;
    /// Runs the posts migrations again; how many were applied.
    async fn migrate_again(&self) -> usize;
    /// Takes back the last migration (the counts on the post row), as if the database had been
    /// left by the release before it.
    async fn undo_last_migration(&self);
    /// Every event in the service's outbox, in write order.
    async fn outbox(&self) -> Vec<CloudEvent>;
}

fn events(payloads: Vec<String>) -> Vec<CloudEvent> {
    payloads
        .iter()
        .map(|p| serde_json::from_str(p).unwrap())
        .collect()
}

/// A migrated store on a fresh database of its own.
pub struct Backend {
    pub store: Arc<dyn PostStore>,
    pub probe: Arc<dyn Probe>,
    /// Keeps the database (temporary folder or test database) alive.
    _keep: Box<dyn Any + Send + Sync>,
}

struct SqliteProbe(SqliteDb);

#[async_trait(?Send)]
impl Probe for SqliteProbe {
    async fn rows(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&self.0.reader)
            .await
            .unwrap()
    }

    async fn migrate_again(&self) -> usize {
        migrate_sqlite(&self.0, SERVICE, SQLITE).await.unwrap()
    }

    async fn undo_last_migration(&self) {
        assert_eq!(SQLITE.last().unwrap().version, 5, "this undoes migration 5");
        sqlx::raw_sql(
            "DROP TRIGGER likes_count_insert; DROP TRIGGER likes_count_delete; \
             DROP TRIGGER replies_count_insert; DROP TRIGGER replies_count_delete; \
             ALTER TABLE posts DROP COLUMN like_count; ALTER TABLE posts DROP COLUMN reply_count; \
             DELETE FROM posts_schema_migrations WHERE version = 5;",
        )
        .execute(&self.0.writer)
        .await
        .unwrap();
    }

    async fn outbox(&self) -> Vec<CloudEvent> {
        events(
            sqlx::query_scalar("SELECT payload FROM posts_outbox ORDER BY seq")
                .fetch_all(&self.0.reader)
                .await
                .unwrap(),
        )
    }
}

/// The SQLite store on a file in a temporary folder.
pub async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("socialdevs.db").display());
    let db = SqliteDb::open(&url).await.unwrap();
    assert_eq!(
        migrate_sqlite(&db, SERVICE, SQLITE).await.unwrap(),
        SQLITE.len()
    );
    Backend {
        store: Arc::new(SqlitePostStore::new(db.clone())),
        probe: Arc::new(SqliteProbe(db)),
        _keep: Box::new(dir),
    }
}

struct PgProbe(PgDb);

#[async_trait(?Send)]
impl Probe for PgProbe {
    async fn rows(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(self.0.pool())
            .await
            .unwrap()
    }

    async fn migrate_again(&self) -> usize {
        migrate_postgres(&self.0, POSTGRES).await.unwrap()
    }

    async fn undo_last_migration(&self) {
        assert_eq!(
            POSTGRES.last().unwrap().version,
            5,
            "this undoes migration 5"
        );
        sqlx::raw_sql(
            "DROP TRIGGER likes_count ON likes; DROP FUNCTION likes_count(); \
             DROP TRIGGER replies_count_insert ON posts; DROP TRIGGER replies_count_delete ON posts; \
             DROP FUNCTION replies_count(); \
             ALTER TABLE posts DROP COLUMN like_count, DROP COLUMN reply_count; \
             DELETE FROM schema_migrations WHERE version = 5;",
        )
        .execute(self.0.pool())
        .await
        .unwrap();
    }

    async fn outbox(&self) -> Vec<CloudEvent> {
        events(
            sqlx::query_scalar("SELECT payload FROM outbox ORDER BY seq")
                .fetch_all(self.0.pool())
                .await
                .unwrap(),
        )
    }
}

/// The PostgreSQL store in the `posts` schema of a fresh test database.
pub async fn postgres() -> Backend {
    postgres_shared().await.0
}

/// The PostgreSQL store in the `posts` schema of a fresh test database, and a second store
/// on the same database, as another process of the service would have.
pub async fn postgres_shared() -> (Backend, Arc<PgPostStore>) {
    let database = socialdevs_testkit::postgres::database().await.unwrap();
    let db = PgDb::connect(&database.url, "posts", &PgPoolSettings::default()).unwrap();
    assert_eq!(
        migrate_postgres(&db, POSTGRES).await.unwrap(),
        POSTGRES.len()
    );
    let other = Arc::new(PgPostStore::new(db.clone()));
    let backend = Backend {
        store: Arc::new(PgPostStore::new(db.clone())),
        probe: Arc::new(PgProbe(db)),
        _keep: Box::new(database),
    };
    (backend, other)
}

/// A post by `author` now, without tags, mentions or parent.
pub fn post(author: Uuid, text: &str) -> NewPost {
    NewPost {
        id: Uuid::now_v7(),
        author_id: author,
        author_username: "author".into(),
        author_display_name: "The Author".into(),
        text: text.to_owned(),
        reply_to: None,
        hashtags: Vec::new(),
        mentions: Vec::new(),
        mentioned_user_ids: Vec::new(),
        created_at: Utc::now(),
    }
}

/// A liker with a made-up username.
pub fn liker(id: Uuid) -> Liker {
    Liker {
        id,
        username: format!("user_{}", &id.simple().to_string()[24..]),
    }
}

/// A post with hashtags.
pub fn tagged(author: Uuid, text: &str, tags: &[&str]) -> NewPost {
    NewPost {
        hashtags: tags.iter().map(|t| (*t).to_owned()).collect(),
        ..post(author, text)
    }
}

/// A reply to `parent`.
pub fn reply(author: Uuid, parent: Uuid, text: &str) -> NewPost {
    NewPost {
        reply_to: Some(parent),
        ..post(author, text)
    }
}

/// An idempotency key with its request hash.
pub fn key(key: &str, request_hash: &str) -> IdempotencyKey {
    IdempotencyKey {
        key: key.to_owned(),
        request_hash: request_hash.to_owned(),
    }
}

/// Stores a new post (no key) and returns its id.
pub async fn create(store: &dyn PostStore, post: NewPost) -> Uuid {
    match store.create_post(&post, None).await.unwrap() {
        Created::New(id) => {
            assert_eq!(id, post.id);
            id
        }
        other => panic!("expected a new post, got {other:?}"),
    }
}

/// `n` posts by `author`, oldest first.
pub async fn create_many(store: &dyn PostStore, author: Uuid, n: usize) -> Vec<Uuid> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(create(store, post(author, &format!("post {i}"))).await);
    }
    ids
}

/// The ids of rows, in order.
pub fn ids(rows: &[PostRow]) -> Vec<Uuid> {
    rows.iter().map(|r| r.id).collect()
}

/// `ids` newest first.
pub fn newest_first(ids: &[Uuid]) -> Vec<Uuid> {
    let mut ids = ids.to_vec();
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids
}

/// A time with nanoseconds, which the stores keep to the microsecond.
pub fn precise_time() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 123_456_789).unwrap()
}
