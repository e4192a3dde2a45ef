//! The outbox in the embedded SQLite file: table `<service>_outbox`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use socialdevs_platform::db::inline::timestamp;
use socialdevs_platform::db::{self, SqliteDb};
use sqlx::{Row, SqliteConnection};

use super::{Appended, Backlog, Cycle, OutboxRecord, OutboxSignal, OutboxStore, Publisher};
use crate::envelope::CloudEvent;
use crate::types::EventType;

/// The outbox table of `service` in the shared SQLite file.
pub fn table(service: &str) -> String {
    format!("{service}_outbox")
}

/// Writes `event` to its service's outbox inside the caller's transaction: for the relay,
/// or, when `signal` says the outbox is the log, at the log's next position (`Some`). Hand
/// what it returns to [`OutboxSignal::committed_rows`] once the transaction commits.
pub async fn append<E: EventType>(
    conn: &mut SqliteConnection,
    signal: &OutboxSignal,
    event: &E,
    at: DateTime<Utc>,
) -> Result<Option<Appended>, sqlx::Error> {
    append_envelope(
        conn,
        signal,
        E::SERVICE,
        E::TOPIC,
        &CloudEvent::of(event, at),
    )
    .await
}

/// The statement that appends to `service`'s outbox: a row for the relay, or (`log`) a row
/// of the log, at the next position and already sent, returning its `seq` and position.
fn insert(service: &str, log: bool) -> String {
    let table = table(service);
    if log {
        format!(
            "INSERT INTO {table} \
             (event_id, topic, event_key, event_type, payload, created_at, position, sent_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, \
                     (SELECT COALESCE(MAX(position), 0) + 1 FROM {table}), ?6) \
             RETURNING seq, position"
        )
    } else {
        format!(
            "INSERT INTO {table} (event_id, topic, event_key, event_type, payload, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        )
    }
}

/// The row [`insert`] wrote to the log.
fn appended(
    (seq, position): (i64, i64),
    row: OutboxRow<'_>,
    created_at: DateTime<Utc>,
) -> Appended {
    Appended {
        position,
        record: OutboxRecord {
            seq,
            topic: row.topic.to_owned(),
            key: row.key.to_owned(),
            event_type: row.kind.to_owned(),
            payload: row.payload,
            created_at,
        },
    }
}

/// An outbox row as the append functions write it: an event's id, topic, key (its subject),
/// type and payload (its CloudEvent JSON).
pub struct OutboxRow<'a> {
    /// The event's id.
    pub id: uuid::Uuid,
    /// The topic it goes to.
    pub topic: &'a str,
    /// Its key: events of a key keep their order.
    pub key: &'a str,
    /// Its type.
    pub kind: &'a str,
    /// What is published: the CloudEvent JSON (anything else is a poison message).
    pub payload: String,
}

impl<'a> OutboxRow<'a> {
    fn of(topic: &'a str, event: &'a CloudEvent) -> serde_json::Result<Self> {
        Ok(Self {
            id: event.id,
            topic,
            key: &event.subject,
            kind: &event.kind,
            payload: serde_json::to_string(event)?,
        })
    }
}

/// [`append`] inside the caller's transaction on the inline writer ([`SqliteDb::write`]).
pub fn append_inline<E: EventType>(
    tx: &rusqlite::Transaction<'_>,
    signal: &OutboxSignal,
    event: &E,
    at: DateTime<Utc>,
) -> anyhow::Result<Option<Appended>> {
    let event = CloudEvent::of(event, at);
    let row = OutboxRow::of(E::TOPIC, &event)?;
    let now = Utc::now();
    let log = signal.is_log();
    let mut statement = tx.prepare_cached(&insert(E::SERVICE, log))?;
    let params = (
        row.id.to_string(),
        row.topic,
        row.key,
        row.kind,
        &row.payload,
        db::timestamp(now),
    );
    if !log {
        statement.execute(params)?;
        return Ok(None);
    }
    let ids = statement.query_row(params, |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(Some(appended(ids, row, now)))
}

/// Writes an envelope to `service`'s outbox inside the caller's transaction, as [`append`].
pub async fn append_envelope(
    conn: &mut SqliteConnection,
    signal: &OutboxSignal,
    service: &str,
    topic: &str,
    event: &CloudEvent,
) -> Result<Option<Appended>, sqlx::Error> {
    let row = OutboxRow::of(topic, event).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    append_row(conn, signal, service, row).await
}

/// Writes `row` to `service`'s outbox inside the caller's transaction, as [`append`]; for a
/// payload that is not made from an event (a test's poison message).
pub async fn append_row(
    conn: &mut SqliteConnection,
    signal: &OutboxSignal,
    service: &str,
    row: OutboxRow<'_>,
) -> Result<Option<Appended>, sqlx::Error> {
    let now = Utc::now();
    let log = signal.is_log();
    let sql = insert(service, log);
    let query = sqlx::query(&sql)
        .bind(row.id.to_string())
        .bind(row.topic)
        .bind(row.key)
        .bind(row.kind)
        .bind(&row.payload)
        .bind(db::timestamp(now));
    if !log {
        query.execute(conn).await?;
        return Ok(None);
    }
    let written = query.fetch_one(conn).await?;
    let ids = (written.try_get(0)?, written.try_get(1)?);
    Ok(Some(appended(ids, row, now)))
}

/// The relay's side of a service's outbox on SQLite.
#[derive(Clone)]
pub struct SqliteOutbox {
    db: SqliteDb,
    service: &'static str,
    table: String,
}

impl SqliteOutbox {
    /// `service`'s outbox in `db`.
    pub fn new(db: SqliteDb, service: &'static str) -> Self {
        Self {
            db,
            service,
            table: table(service),
        }
    }
}

#[async_trait]
impl OutboxStore for SqliteOutbox {
    fn service(&self) -> &'static str {
        self.service
    }

    async fn relay_batch(&self, publisher: &dyn Publisher, limit: u32) -> anyhow::Result<Cycle> {
        // One process owns an embedded file, so it has the only relay. Read on an inline
        // reader (a walk of the unsent rows' index with a LIMIT): the single writer stays free
        // while the batch is published.
        let sql = format!(
            "SELECT seq, topic, event_key, event_type, payload, created_at FROM {} \
             WHERE sent_at IS NULL ORDER BY seq LIMIT ?",
            self.table
        );
        let records = self.db.inline.read(|conn| {
            conn.prepare_cached(&sql)?
                .query_map([i64::from(limit)], |r| {
                    Ok(OutboxRecord {
                        seq: r.get(0)?,
                        topic: r.get(1)?,
                        key: r.get(2)?,
                        event_type: r.get(3)?,
                        payload: r.get(4)?,
                        created_at: timestamp(r, 5)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()
        })?;
        if records.is_empty() {
            return Ok(Cycle::Published(0));
        }
        publisher.publish(&records).await?;
        // One statement (atomic on its own): the batch gets the next positions in seq order.
        // A single statement keeps the single writer connection free for the requests.
        // On the calling thread (a short, indexed write).
        let seqs = serde_json::to_string(&records.iter().map(|r| r.seq).collect::<Vec<_>>())?;
        let mark = format!(
            "UPDATE {t} SET sent_at = ?1, position = base.last + batch.rank \
             FROM (SELECT value AS seq, ROW_NUMBER() OVER (ORDER BY value) AS rank \
                   FROM json_each(?2)) AS batch, \
                  (SELECT COALESCE(MAX(position), 0) AS last FROM {t}) AS base \
             WHERE {t}.seq = batch.seq AND {t}.sent_at IS NULL \
             RETURNING {t}.seq, {t}.position",
            t = self.table
        );
        let mut positions: Vec<(i64, i64)> = self
            .db
            .write(self.service, |tx| -> anyhow::Result<_> {
                Ok(tx
                    .prepare_cached(&mark)?
                    .query_map((db::timestamp(Utc::now()), seqs), |row| {
                        Ok((row.get(0)?, row.get(1)?))
                    })?
                    .collect::<Result<_, _>>()?)
            })
            .await?;
        // The log as it now is, for readers in this process: each record at its position.
        positions.sort_unstable_by_key(|&(_, position)| position);
        let by_seq: std::collections::HashMap<i64, &OutboxRecord> =
            records.iter().map(|r| (r.seq, r)).collect();
        let entries: Vec<(i64, &OutboxRecord)> = positions
            .iter()
            .filter_map(|(seq, position)| by_seq.get(seq).map(|r| (*position, *r)))
            .collect();
        publisher.logged(self.service, &entries);
        Ok(Cycle::Published(records.len()))
    }

    async fn backlog(&self) -> anyhow::Result<Backlog> {
        let mut conn = self.db.read(self.service).await?;
        let row = sqlx::query(&format!(
            "SELECT COUNT(*) AS pending, MIN(created_at) AS oldest FROM {} WHERE sent_at IS NULL",
            self.table
        ))
        .fetch_one(&mut *conn)
        .await?;
        let oldest: Option<String> = row.try_get("oldest")?;
        Ok(Backlog {
            pending: row.try_get("pending")?,
            oldest: oldest.as_deref().map(db::parse_timestamp).transpose()?,
        })
    }

    async fn prune(
        &self,
        sent_before: DateTime<Utc>,
        up_to_position: Option<i64>,
    ) -> anyhow::Result<u64> {
        let mut tx = self.db.begin(self.service).await?;
        let done = sqlx::query(&format!(
            "DELETE FROM {t} WHERE sent_at IS NOT NULL AND sent_at < ? \
             AND (? IS NULL OR position <= ?) AND position < (SELECT MAX(position) FROM {t})",
            t = self.table
        ))
        .bind(db::timestamp(sent_before))
        .bind(up_to_position)
        .bind(up_to_position)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}
