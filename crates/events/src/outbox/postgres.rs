//! The outbox in PostgreSQL: table `outbox` in the service's own schema.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use socialdevs_platform::db::PgDb;
use sqlx::{PgConnection, Row};

use super::{Backlog, Cycle, OutboxRecord, OutboxSignal, OutboxStore, Publisher};
use crate::envelope::CloudEvent;
use crate::types::EventType;

/// The `LISTEN` channel a commit with outbox rows of `service` notifies.
pub fn channel(service: &str) -> String {
    format!("socialdevs_outbox_{service}")
}

/// Writes `event` to its service's outbox inside the caller's transaction, and asks
/// PostgreSQL to wake that service's relays when the transaction commits (`pg_notify` is
/// delivered on commit only). The notification carries `signal`'s token: the relay in this
/// process, which `signal` wakes once the caller reports the commit, ignores it; relays in
/// other processes do not.
pub async fn append<E: EventType>(
    conn: &mut PgConnection,
    signal: &OutboxSignal,
    event: &E,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    append_envelope(
        conn,
        signal,
        E::SERVICE,
        E::TOPIC,
        &CloudEvent::of(event, at),
    )
    .await
}

/// Writes an envelope to the outbox of the schema the connection is on.
pub async fn append_envelope(
    conn: &mut PgConnection,
    signal: &OutboxSignal,
    service: &str,
    topic: &str,
    event: &CloudEvent,
) -> Result<(), sqlx::Error> {
    let payload = serde_json::to_string(event).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "WITH written AS (INSERT INTO outbox (event_id, topic, event_key, event_type, payload) \
         VALUES ($1, $2, $3, $4, $5) RETURNING 1) SELECT pg_notify($6, $7) FROM written",
    )
    .bind(event.id)
    .bind(topic)
    .bind(&event.subject)
    .bind(&event.kind)
    .bind(payload)
    .bind(channel(service))
    .bind(signal.token())
    .execute(conn)
    .await?;
    Ok(())
}

/// The relay's side of a service's outbox on PostgreSQL.
#[derive(Clone)]
pub struct PgOutbox {
    db: PgDb,
    service: &'static str,
}

impl PgOutbox {
    /// `service`'s outbox, on that service's pool (its schema).
    pub fn new(db: PgDb, service: &'static str) -> Self {
        Self { db, service }
    }

    /// The pool, for `LISTEN`.
    pub fn db(&self) -> &PgDb {
        &self.db
    }
}

#[async_trait]
impl OutboxStore for PgOutbox {
    fn service(&self) -> &'static str {
        self.service
    }

    async fn relay_batch(&self, publisher: &dyn Publisher, limit: u32) -> anyhow::Result<Cycle> {
        // Most wake-ups after a batch find nothing new: one statement tells, before the four
        // round trips of a batch's transaction.
        let pending: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM outbox WHERE sent_at IS NULL)")
                .fetch_one(self.db.pool())
                .await?;
        if !pending {
            return Ok(Cycle::Published(0));
        }
        // One transaction per batch under a transaction-scoped advisory lock: of a service's
        // replicas, one relays at a time and the others stand by, so rows go out in order
        // and positions are assigned in commit order.
        let mut tx = self.db.begin(self.service).await?;
        // The lock and the batch in one round trip: the batch is read only once the lock is
        // held (the lateral read depends on it); a relay standing by gets one row, not active.
        let rows = sqlx::query(
            "WITH relay AS MATERIALIZED \
               (SELECT pg_try_advisory_xact_lock(hashtext($1)) AS active) \
             SELECT relay.active, o.seq, o.topic, o.event_key, o.event_type, o.payload, \
               o.created_at \
             FROM relay LEFT JOIN LATERAL \
               (SELECT seq, topic, event_key, event_type, payload, created_at FROM outbox \
                WHERE relay.active AND sent_at IS NULL ORDER BY seq LIMIT $2) o ON TRUE",
        )
        .bind(format!("socialdevs.relay.{}", self.service))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        let active = match rows.first() {
            Some(row) => row.try_get::<bool, _>("active")?,
            None => false,
        };
        if !active {
            return Ok(Cycle::Standby);
        }
        let mut records = Vec::with_capacity(rows.len());
        for r in &rows {
            let Some(seq) = r.try_get::<Option<i64>, _>("seq")? else {
                continue; // the lock was taken and nothing is unsent
            };
            records.push(OutboxRecord {
                seq,
                topic: r.try_get("topic")?,
                key: r.try_get("event_key")?,
                event_type: r.try_get("event_type")?,
                payload: r.try_get("payload")?,
                created_at: r.try_get("created_at")?,
            });
        }
        if records.is_empty() {
            return Ok(Cycle::Published(0));
        }
        publisher.publish(&records).await?;
        let seqs: Vec<i64> = records.iter().map(|r| r.seq).collect();
        sqlx::query(
            "UPDATE outbox AS o SET sent_at = now(), position = base.max + batch.ord \
             FROM unnest($1::bigint[]) WITH ORDINALITY AS batch(seq, ord), \
                  (SELECT COALESCE(MAX(position), 0) AS max FROM outbox) AS base \
             WHERE o.seq = batch.seq",
        )
        .bind(&seqs)
        .execute(&mut *tx)
        .await?;
        if publisher.reads_outbox() {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(crate::embedded::log_channel(self.service))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Cycle::Published(records.len()))
    }

    async fn backlog(&self) -> anyhow::Result<Backlog> {
        let mut conn = self.db.acquire(self.service).await?;
        let row = sqlx::query(
            "SELECT COUNT(*) AS pending, MIN(created_at) AS oldest FROM outbox \
             WHERE sent_at IS NULL",
        )
        .fetch_one(&mut *conn)
        .await?;
        Ok(Backlog {
            pending: row.try_get("pending")?,
            oldest: row.try_get("oldest")?,
        })
    }

    async fn prune(
        &self,
        sent_before: DateTime<Utc>,
        up_to_position: Option<i64>,
    ) -> anyhow::Result<u64> {
        let mut conn = self.db.acquire(self.service).await?;
        let done = sqlx::query(
            "DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < $1 \
             AND ($2::bigint IS NULL OR position <= $2) \
             AND position < (SELECT MAX(position) FROM outbox)",
        )
        .bind(sent_before)
        .bind(up_to_position)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected())
    }
}
