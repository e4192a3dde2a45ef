//! The posts store port and its adapters.

mod author_ids;
mod events;
mod pages;
mod postgres;
mod rows;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use socialdevs_platform::db;
use uuid::Uuid;

use crate::model::{Author, IdempotencyKey, Liker, NewPost, PostFilter, PostRow};

pub use pages::{PageCache, PageCacheFeed};
pub use postgres::{PgPostStore, PAGE_CACHE_MAX_AGE};
pub use sqlite::SqlitePostStore;

/// Store failures the service turns into answers.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The post referred to does not exist.
    #[error("not found")]
    NotFound,
    /// The post replied to does not exist.
    #[error("the post replied to does not exist")]
    ReplyTargetMissing,
    /// The idempotency key was used before with a different request.
    #[error("the idempotency key was used with a different request")]
    IdempotencyMismatch,
    /// The database cannot be reached right now.
    #[error("the database is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Anything else.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        if db::is_sqlite_unavailable(&err) {
            StoreError::Unavailable(err.into())
        } else {
            StoreError::Other(err.into())
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        if db::is_unavailable(&err) {
            StoreError::Unavailable(err.into())
        } else {
            StoreError::Other(err.into())
        }
    }
}

/// Store result.
pub type StoreResult<T> = Result<T, StoreError>;

/// What creating a post did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// A new post with this id.
    New(Uuid),
    /// The idempotency key had been used for this same request: the first post's id.
    Replayed(Uuid),
}

/// What deleting a post did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// Gone.
    Deleted,
    /// No such post.
    NotFound,
    /// Someone else's post: nothing changed.
    NotAuthor,
}

/// Persistence of the posts service. Every adapter passes the same conformance suite.
///
/// Every change writes its event (`post.created`, `post.deleted`, `post.liked`,
/// `post.unliked`) to the service's outbox in the same transaction: no change commits
/// without its event, and no event is written for a change that rolled back.
#[async_trait]
pub trait PostStore: Send + Sync {
    /// Creates a post (and its tags) in one transaction, honouring an idempotency key.
    async fn create_post(
        &self,
        post: &NewPost,
        key: Option<&IdempotencyKey>,
    ) -> StoreResult<Created>;
    /// One post with counts as seen by `viewer`.
    async fn post(&self, id: Uuid, viewer: Option<Uuid>) -> StoreResult<Option<PostRow>>;
    /// A page of posts: newest first (replies: oldest first), strictly after `after`.
    async fn list(
        &self,
        filter: &PostFilter,
        viewer: Option<Uuid>,
        after: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<PostRow>>;
    /// Deletes a post if `requester` wrote it.
    async fn delete_post(&self, id: Uuid, requester: Uuid) -> StoreResult<Deleted>;
    /// Likes; whether a new like was stored. `NotFound` for an unknown post.
    async fn like(&self, post: Uuid, user: &Liker, at: DateTime<Utc>) -> StoreResult<bool>;
    /// Unlikes; whether a like was removed. `NotFound` for an unknown post.
    async fn unlike(&self, post: Uuid, user: Uuid, at: DateTime<Utc>) -> StoreResult<bool>;
    /// How many posts `author` has.
    async fn count_by_author(&self, author: Uuid) -> StoreResult<i64>;
    /// Remembers `author`'s names as of `at`, unless a newer version is already stored;
    /// whether it changed anything. Applying the same or an older version again is a no-op,
    /// so replayed events are harmless.
    async fn upsert_author(&self, author: &Author, at: DateTime<Utc>) -> StoreResult<bool>;
    /// The remembered authors among `ids` (unknown ids are left out).
    async fn cached_authors(&self, ids: &[Uuid]) -> StoreResult<Vec<Author>>;
    /// Deletes the idempotency keys stored before `before` (housekeeping: a key is honoured
    /// for its retention, then forgotten). Returns how many.
    async fn purge_idempotency_keys(&self, before: DateTime<Utc>) -> StoreResult<u64>;
    /// The page cache to keep coherent with other processes' changes ([`PageCacheFeed`]), when
    /// other processes may write this store's posts; `None` when this store is their only
    /// writer.
    fn shared_pages(&self) -> Option<Arc<PageCache>> {
        None
    }
}
