//! The notifications store on PostgreSQL, inside the service's own schema.

use async_trait::async_trait;
use chrono::SubsecRound;
use socialdevs_events::outbox::{postgres::append, OutboxSignal};
use socialdevs_platform::db::PgDb;
use sqlx::postgres::PgRow;
use sqlx::Row;
use uuid::Uuid;

use super::{created_event, stored, NotificationStore, StoreResult};
use crate::model::{dedupe_key, Kind, NewNotification, NotificationRow, Window};
use crate::SERVICE;

/// PostgreSQL adapter of [`NotificationStore`].
#[derive(Clone)]
pub struct PgNotificationStore {
    db: PgDb,
    outbox: OutboxSignal,
}

impl PgNotificationStore {
    /// A store on a pool whose `search_path` is the (migrated) notifications schema.
    pub fn new(db: PgDb) -> Self {
        Self {
            db,
            outbox: OutboxSignal::default(),
        }
    }

    /// Wakes this signal (the service's relay in this process) after each commit that wrote
    /// events; relays elsewhere are woken by `NOTIFY`.
    pub fn with_outbox_signal(mut self, signal: OutboxSignal) -> Self {
        self.outbox = signal;
        self
    }
}

fn row_to_notification(row: &PgRow) -> anyhow::Result<NotificationRow> {
    let kind: String = row.try_get("kind")?;
    let read_at: Option<chrono::DateTime<chrono::Utc>> = row.try_get("read_at")?;
    Ok(NotificationRow {
        id: row.try_get("id")?,
        recipient_id: row.try_get("recipient_id")?,
        kind: Kind::parse(&kind).ok_or_else(|| anyhow::anyhow!("unknown kind {kind}"))?,
        actor_id: row.try_get("actor_id")?,
        post_id: row.try_get("post_id")?,
        created_at: row.try_get("created_at")?,
        read: read_at.is_some(),
    })
}

const SELECT: &str = "SELECT id, recipient_id, kind, actor_id, post_id, created_at, read_at \
    FROM notifications WHERE recipient_id = $1 AND NOT hidden";

#[async_trait]
impl NotificationStore for PgNotificationStore {
    async fn add(&self, items: &[NewNotification]) -> StoreResult<Vec<NotificationRow>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.db.begin(SERVICE).await?;
        let mut added = Vec::new();
        for item in items {
            let item = NewNotification {
                created_at: item.created_at.trunc_subsecs(6),
                ..item.clone()
            };
            let inserted = sqlx::query(
                "INSERT INTO notifications (id, recipient_id, kind, actor_id, post_id, \
                 dedupe_key, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (dedupe_key) DO NOTHING",
            )
            .bind(item.id)
            .bind(item.recipient_id)
            .bind(item.kind.as_str())
            .bind(item.actor_id)
            .bind(item.post_id)
            .bind(item.dedupe_key())
            .bind(item.created_at)
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 1 {
                append(
                    &mut tx,
                    &self.outbox,
                    &created_event(&item),
                    item.created_at,
                )
                .await?;
                added.push(stored(&item));
            } else {
                sqlx::query(
                    "UPDATE notifications SET hidden = FALSE WHERE dedupe_key = $1 AND hidden",
                )
                .bind(item.dedupe_key())
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        if !added.is_empty() {
            self.outbox.committed();
        }
        Ok(added)
    }

    async fn withdraw_like(&self, recipient: Uuid, actor: Uuid, post: Uuid) -> StoreResult<bool> {
        let mut conn = self.db.acquire(SERVICE).await?;
        let hidden = sqlx::query(
            "UPDATE notifications SET hidden = TRUE \
             WHERE dedupe_key = $1 AND read_at IS NULL AND NOT hidden",
        )
        .bind(dedupe_key(recipient, Kind::Liked, actor, Some(post)))
        .execute(&mut *conn)
        .await?;
        Ok(hidden.rows_affected() == 1)
    }

    async fn remove_post(&self, post: Uuid) -> StoreResult<u64> {
        let mut conn = self.db.acquire(SERVICE).await?;
        let removed = sqlx::query("DELETE FROM notifications WHERE post_id = $1")
            .bind(post)
            .execute(&mut *conn)
            .await?;
        Ok(removed.rows_affected())
    }

    async fn list(
        &self,
        recipient: Uuid,
        window: Window,
        limit: u32,
    ) -> StoreResult<Vec<NotificationRow>> {
        let (condition, id) = match window {
            Window::OlderThan(None) => ("$2::uuid IS NULL", None),
            Window::OlderThan(Some(id)) => ("id < $2", Some(id)),
            Window::NewerThan(id) => ("id > $2", Some(id)),
            Window::Only(id) => ("id = $2", Some(id)),
        };
        let mut conn = self.db.acquire(SERVICE).await?;
        let rows = sqlx::query(&format!(
            "{SELECT} AND {condition} ORDER BY id DESC LIMIT $3"
        ))
        .bind(recipient)
        .bind(id)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
        Ok(rows
            .iter()
            .map(row_to_notification)
            .collect::<anyhow::Result<_>>()?)
    }

    async fn unread_count(&self, recipient: Uuid) -> StoreResult<i64> {
        let mut conn = self.db.acquire(SERVICE).await?;
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM notifications \
             WHERE recipient_id = $1 AND read_at IS NULL AND NOT hidden",
        )
        .bind(recipient)
        .fetch_one(&mut *conn)
        .await?)
    }

    async fn mark_read(&self, recipient: Uuid, up_to: Option<Uuid>) -> StoreResult<u64> {
        let mut conn = self.db.acquire(SERVICE).await?;
        let changed = sqlx::query(
            "UPDATE notifications SET read_at = now() \
             WHERE recipient_id = $1 AND read_at IS NULL AND ($2::uuid IS NULL OR id <= $2)",
        )
        .bind(recipient)
        .bind(up_to)
        .execute(&mut *conn)
        .await?;
        Ok(changed.rows_affected())
    }
}
