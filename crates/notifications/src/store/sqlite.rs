//! The notifications store on the embedded SQLite database.

use async_trait::async_trait;
use chrono::SubsecRound;
use socialdevs_events::outbox::sqlite::append_inline;
use socialdevs_events::outbox::{OutboxSignal, Written};
use socialdevs_platform::db::{self, SqliteDb};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use uuid::Uuid;

use super::{created_event, stored, NotificationStore, StoreResult};
use crate::model::{dedupe_key, Kind, NewNotification, NotificationRow, Window};
use crate::SERVICE;

/// SQLite adapter of [`NotificationStore`].
#[derive(Clone)]
pub struct SqliteNotificationStore {
    db: SqliteDb,
    outbox: OutboxSignal,
}

impl SqliteNotificationStore {
    /// A store on an opened (and migrated) database.
    pub fn new(db: SqliteDb) -> Self {
        Self {
            db,
            outbox: OutboxSignal::default(),
        }
    }

    /// Wakes this signal (the service's relay) after each commit that wrote events.
    pub fn with_outbox_signal(mut self, signal: OutboxSignal) -> Self {
        self.outbox = signal;
        self
    }
}

fn row_to_notification(row: &SqliteRow) -> anyhow::Result<NotificationRow> {
    let kind: String = row.try_get("kind")?;
    let post_id: Option<String> = row.try_get("post_id")?;
    let created_at: String = row.try_get("created_at")?;
    let read_at: Option<String> = row.try_get("read_at")?;
    Ok(NotificationRow {
        id: Uuid::parse_str(row.try_get("id")?)?,
        recipient_id: Uuid::parse_str(row.try_get("recipient_id")?)?,
        kind: Kind::parse(&kind).ok_or_else(|| anyhow::anyhow!("unknown kind {kind}"))?,
        actor_id: Uuid::parse_str(row.try_get("actor_id")?)?,
        post_id: post_id.as_deref().map(Uuid::parse_str).transpose()?,
        created_at: db::parse_timestamp(&created_at)?,
        read: read_at.is_some(),
    })
}

const SELECT: &str = "SELECT id, recipient_id, kind, actor_id, post_id, created_at, read_at \
    FROM notifications WHERE recipient_id = ?1 AND hidden = 0";

#[async_trait]
impl NotificationStore for SqliteNotificationStore {
    async fn add(&self, items: &[NewNotification]) -> StoreResult<Vec<NotificationRow>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        // One short transaction on the calling thread (`SqliteDb::write`).
        let (added, written) = self
            .db
            .write(
                SERVICE,
                |tx| -> StoreResult<(Vec<NotificationRow>, Written)> {
                    let mut added = Vec::new();
                    let mut written = Written::default();
                    for item in items {
                        let item = NewNotification {
                            created_at: item.created_at.trunc_subsecs(6),
                            ..item.clone()
                        };
                        let inserted = tx
                            .prepare_cached(
                                "INSERT INTO notifications (id, recipient_id, kind, actor_id, \
                             post_id, dedupe_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) \
                             ON CONFLICT (dedupe_key) DO NOTHING",
                            )?
                            .execute((
                                item.id.to_string(),
                                item.recipient_id.to_string(),
                                item.kind.as_str(),
                                item.actor_id.to_string(),
                                item.post_id.map(|p| p.to_string()),
                                item.dedupe_key(),
                                db::timestamp(item.created_at),
                            ))?;
                        if inserted == 1 {
                            let event = created_event(&item);
                            written.push(append_inline(tx, &self.outbox, &event, item.created_at)?);
                            added.push(stored(&item));
                        } else {
                            tx.prepare_cached(
                                "UPDATE notifications SET hidden = 0 \
                             WHERE dedupe_key = ? AND hidden = 1",
                            )?
                            .execute([item.dedupe_key()])?;
                        }
                    }
                    Ok((added, written))
                },
            )
            .await?;
        if !added.is_empty() {
            self.outbox.committed_rows(SERVICE, written);
        }
        Ok(added)
    }

    async fn withdraw_like(&self, recipient: Uuid, actor: Uuid, post: Uuid) -> StoreResult<bool> {
        let mut tx = self.db.begin(SERVICE).await?;
        let hidden = sqlx::query(
            "UPDATE notifications SET hidden = 1 \
             WHERE dedupe_key = ? AND read_at IS NULL AND hidden = 0",
        )
        .bind(dedupe_key(recipient, Kind::Liked, actor, Some(post)))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(hidden.rows_affected() == 1)
    }

    async fn remove_post(&self, post: Uuid) -> StoreResult<u64> {
        let mut tx = self.db.begin(SERVICE).await?;
        let removed = sqlx::query("DELETE FROM notifications WHERE post_id = ?")
            .bind(post.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(removed.rows_affected())
    }

    async fn list(
        &self,
        recipient: Uuid,
        window: Window,
        limit: u32,
    ) -> StoreResult<Vec<NotificationRow>> {
        let (condition, id) = match window {
            Window::OlderThan(None) => ("?2 IS NULL", None),
            Window::OlderThan(Some(id)) => ("id < ?2", Some(id)),
            Window::NewerThan(id) => ("id > ?2", Some(id)),
            Window::Only(id) => ("id = ?2", Some(id)),
        };
        let mut conn = self.db.read(SERVICE).await?;
        let rows = sqlx::query(&format!(
            "{SELECT} AND {condition} ORDER BY id DESC LIMIT ?3"
        ))
        .bind(recipient.to_string())
        .bind(id.map(|id| id.to_string()))
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
        Ok(rows
            .iter()
            .map(row_to_notification)
            .collect::<anyhow::Result<_>>()?)
    }

    async fn unread_count(&self, recipient: Uuid) -> StoreResult<i64> {
        let mut conn = self.db.read(SERVICE).await?;
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM notifications \
             WHERE recipient_id = ? AND read_at IS NULL AND hidden = 0",
        )
        .bind(recipient.to_string())
        .fetch_one(&mut *conn)
        .await?)
    }

    async fn mark_read(&self, recipient: Uuid, up_to: Option<Uuid>) -> StoreResult<u64> {
        let mut tx = self.db.begin(SERVICE).await?;
        let changed = sqlx::query(
            "UPDATE notifications SET read_at = ?1 \
             WHERE recipient_id = ?2 AND read_at IS NULL AND (?3 IS NULL OR id <= ?3)",
        )
        .bind(db::timestamp(chrono::Utc::now()))
        .bind(recipient.to_string())
        .bind(up_to.map(|id| id.to_string()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(changed.rows_affected())
    }
}
