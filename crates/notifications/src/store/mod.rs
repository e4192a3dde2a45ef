//! The notifications store port and its adapters.

mod postgres;
mod sqlite;

use async_trait::async_trait;
use socialdevs_events::types::NotificationCreatedV1;
use socialdevs_platform::db;
use uuid::Uuid;

use crate::model::{NewNotification, NotificationRow, Window};

pub use postgres::PgNotificationStore;
pub use sqlite::SqliteNotificationStore;

/// Store failures the service turns into answers.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
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

/// Where notifications are kept. Every change that creates a notification writes its
/// `notification.created` event to the outbox in the same transaction.
#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Stores each notification unless the same one (recipient, kind, actor, post) is stored
    /// already. A new one gets its `notification.created` event; a hidden one (an unread like
    /// that was taken back) is shown again, as it was, with no event. Returns the new ones.
    async fn add(&self, items: &[NewNotification]) -> StoreResult<Vec<NotificationRow>>;

    /// Hides the unread `liked` notification of `recipient` about `actor` liking `post` (a
    /// like taken back); a read one stays. True when one was hidden.
    async fn withdraw_like(&self, recipient: Uuid, actor: Uuid, post: Uuid) -> StoreResult<bool>;

    /// Removes every notification about `post` (it was deleted). How many went.
    async fn remove_post(&self, post: Uuid) -> StoreResult<u64>;

    /// Up to `limit` of `recipient`'s notifications in `window`, newest first.
    async fn list(
        &self,
        recipient: Uuid,
        window: Window,
        limit: u32,
    ) -> StoreResult<Vec<NotificationRow>>;

    /// How many of `recipient`'s notifications are unread.
    async fn unread_count(&self, recipient: Uuid) -> StoreResult<i64>;

    /// Marks `recipient`'s notifications read: all, or those up to and including `up_to`.
    /// How many changed.
    async fn mark_read(&self, recipient: Uuid, up_to: Option<Uuid>) -> StoreResult<u64>;
}

/// The event a new notification publishes.
fn created_event(row: &NewNotification) -> NotificationCreatedV1 {
    NotificationCreatedV1 {
        notification_id: row.id,
        recipient_id: row.recipient_id,
        kind: row.kind.as_str().to_owned(),
        actor_id: row.actor_id,
        post_id: row.post_id,
        created_at: row.created_at,
    }
}

/// The stored row of a notification just added.
fn stored(item: &NewNotification) -> NotificationRow {
    NotificationRow {
        id: item.id,
        recipient_id: item.recipient_id,
        kind: item.kind,
        actor_id: item.actor_id,
        post_id: item.post_id,
        created_at: item.created_at,
        read: false,
    }
}
