//! The embedded transport: nothing to install. The services' outbox tables are the log (rows
//! in `position` order, assigned by the relay) and consumer groups keep their offsets in the
//! same database, so at-least-once holds across a crash of the whole process.
//!
//! On SQLite (all-in-one) readers are woken in process right after the relay marks a batch;
//! on PostgreSQL they also `LISTEN` for it, so processes sharing the database see each
//! other's events.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use socialdevs_platform::db::{self, migrate_postgres, migrate_sqlite, Migration, PgDb, SqliteDb};
use sqlx::postgres::PgListener;
use tokio::sync::watch;

use crate::envelope::{publish_span, publish_spans_enabled, CloudEvent};
use crate::metrics::PUBLISHED_TOTAL;
use crate::outbox::{Appended, LogSink, OutboxRecord, Publisher};
use crate::transport::{Delivery, Durability, Latency, StartAt, Subscription, Transport};
use crate::types::service_of_topic;

/// The schema (PostgreSQL) or table prefix (SQLite) of the transport's own tables.
pub const SCHEMA: &str = "events";

/// The `LISTEN` channel the relay of `service` notifies after marking a batch.
pub fn log_channel(service: &str) -> String {
    format!("socialdevs_log_{service}")
}

/// The transport's tables on SQLite (`events_*`), applied in order.
pub const SQLITE_MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "consumer offsets, dead letters",
    sql: "CREATE TABLE events_consumer_offsets (
        consumer_group TEXT NOT NULL,
        topic          TEXT NOT NULL,
        position       INTEGER NOT NULL,
        updated_at     TEXT NOT NULL,
        PRIMARY KEY (consumer_group, topic)
    );
    CREATE TABLE events_dead_letters (
        id             INTEGER PRIMARY KEY AUTOINCREMENT,
        consumer_group TEXT NOT NULL,
        topic          TEXT NOT NULL,
        position       INTEGER NOT NULL,
        payload        BLOB NOT NULL,
        error          TEXT NOT NULL,
        created_at     TEXT NOT NULL
    );",
}];

/// The transport's tables in the `events` schema on PostgreSQL, applied in order.
pub const POSTGRES_MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "consumer offsets, dead letters",
    sql: "CREATE TABLE consumer_offsets (
        consumer_group TEXT NOT NULL,
        topic          TEXT NOT NULL,
        position       BIGINT NOT NULL,
        updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (consumer_group, topic)
    );
    CREATE TABLE dead_letters (
        id             BIGSERIAL PRIMARY KEY,
        consumer_group TEXT NOT NULL,
        topic          TEXT NOT NULL,
        position       BIGINT NOT NULL,
        payload        BYTEA NOT NULL,
        error          TEXT NOT NULL,
        created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
    );",
}];

#[derive(Clone)]
enum Db {
    Sqlite(SqliteDb),
    /// A pool on the `events` schema; logs are read schema-qualified (`posts.outbox`).
    Postgres(PgDb),
}

/// Runs `$run` with `$conn` a pooled connection of the transport's database (a reader on
/// SQLite) and `$sql` the first statement on SQLite, the second on PostgreSQL. A macro rather
/// than a function: `$run` is compiled once for each database.
macro_rules! with_conn {
    ($db:expr, $sqlite:expr, $postgres:expr, |$conn:ident, $sql:ident| $run:expr) => {
        match $db {
            Db::Sqlite(db) => {
                let mut $conn = db.read(SCHEMA).await?;
                let $sql = $sqlite;
                $run
            }
            Db::Postgres(db) => {
                let mut $conn = db.acquire(SCHEMA).await?;
                let $sql = $postgres;
                $run
            }
        }
    };
}

/// Executes the write `$query` (built from `$sql` with the binds both databases share), with
/// `$sql` the first statement on SQLite and the second on PostgreSQL, stamping the row with the
/// current time: on SQLite by binding it last (a `TEXT` column), in a transaction of its single
/// writer; on PostgreSQL by the statement itself (`now()`).
macro_rules! execute_stamped {
    ($db:expr, $sqlite:expr, $postgres:expr, |$sql:ident| $query:expr) => {
        match $db {
            Db::Sqlite(db) => {
                let $sql = $sqlite;
                let mut tx = db.begin(SCHEMA).await?;
                $query
                    .bind(db::timestamp(Utc::now()))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
            Db::Postgres(db) => {
                let $sql = $postgres;
                let mut conn = db.acquire(SCHEMA).await?;
                $query.execute(&mut *conn).await?;
            }
        }
    };
}

/// How many batches a relay in this process has marked, per service log: a subscription reads
/// only the logs whose count moved since it last found them drained, instead of every log it
/// follows whenever any of them moved.
#[derive(Debug, Default, Clone)]
struct Marked(HashMap<&'static str, u64>);

impl Marked {
    fn of(&self, service: &str) -> u64 {
        self.0.get(service).copied().unwrap_or(0)
    }
}

/// A record of a log: its position, key and payload.
type LogRow = (i64, String, String);

/// How many of each log's newest records [`Tail`] keeps.
const TAIL_ROWS: usize = 1024;

/// The newest records of each service's log, in memory: on SQLite the file has one writer,
/// this process, which tells the transport of every row it adds to a log (written as a log
/// row, [`LogSink`], or marked by a relay, [`Publisher::logged`]), so readers that keep up
/// read them here instead of each reading the same rows from the database and each consumer
/// group once more.
///
/// Each log's rows are contiguous positions. Rows handed over ahead of one still missing (two
/// transactions that committed one after the other and told in the other order) wait aside
/// until it comes; too many waiting start the log's tail over. A reader is served from it
/// only when it holds the position right after the reader's and nothing waits beyond what it
/// holds; otherwise the reader reads the database.
#[derive(Debug, Default)]
struct Tail(Mutex<HashMap<String, TailLog>>);

#[derive(Debug, Default)]
struct TailLog {
    /// Contiguous positions, oldest first.
    rows: VecDeque<LogRow>,
    /// Rows after a gap, by position.
    early: BTreeMap<i64, LogRow>,
}

impl TailLog {
    fn push(&mut self, row: LogRow) {
        let Some(next) = self.rows.back().map(|(last, _, _)| last + 1) else {
            self.rows.push_back(row);
            return;
        };
        if row.0 > next {
            self.early.insert(row.0, row);
            if self.early.len() > TAIL_ROWS {
                *self = Self::default();
            }
            return;
        }
        if row.0 < next {
            // Held already, or older than where the tail started over.
            return;
        }
        self.rows.push_back(row);
        while let Some(entry) = self.early.first_entry() {
            if *entry.key() != self.rows.back().map_or(0, |(last, _, _)| last + 1) {
                break;
            }
            self.rows.push_back(entry.remove());
        }
        while self.rows.len() > TAIL_ROWS {
            self.rows.pop_front();
        }
    }
}

impl Tail {
    fn append(&self, service: &str, rows: impl IntoIterator<Item = LogRow>) {
        let mut logs = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let log = match logs.get_mut(service) {
            Some(log) => log,
            None => logs.entry(service.to_owned()).or_default(),
        };
        for row in rows {
            log.push(row);
        }
    }

    /// Up to `limit` records after position `after`, if the tail holds every one there is
    /// (`None`: read the database).
    fn after(&self, service: &str, after: i64, limit: u32) -> Option<Vec<LogRow>> {
        let logs = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let log = logs.get(service)?;
        let (first, _, _) = log.rows.front()?;
        if *first > after + 1 {
            return None;
        }
        let skip = usize::try_from(after + 1 - first).ok()?;
        if skip >= log.rows.len() && !log.early.is_empty() {
            // Caught up with the held rows, and the database has more.
            return None;
        }
        Some(
            log.rows
                .iter()
                .skip(skip)
                .take(limit as usize)
                .cloned()
                .collect(),
        )
    }
}

/// The embedded transport over one database.
#[derive(Clone)]
pub struct EmbeddedTransport {
    db: Db,
    /// Bumped whenever a relay in this process marks a batch.
    wake: Arc<watch::Sender<Marked>>,
    batch: u32,
    /// On SQLite: the newest records of each log.
    tail: Arc<Tail>,
}

impl EmbeddedTransport {
    /// On the embedded SQLite file (creates the transport's tables).
    pub async fn sqlite(db: SqliteDb) -> anyhow::Result<Self> {
        migrate_sqlite(&db, SCHEMA, SQLITE_MIGRATIONS).await?;
        Ok(Self::on_sqlite(db))
    }

    /// On the embedded SQLite file, whose transport tables are migrated
    /// ([`SQLITE_MIGRATIONS`]).
    pub fn on_sqlite(db: SqliteDb) -> Self {
        Self::with(Db::Sqlite(db))
    }

    /// On PostgreSQL: `db` is a pool on the `events` schema (created and migrated here).
    pub async fn postgres(db: PgDb) -> anyhow::Result<Self> {
        Self::check_schema(&db)?;
        migrate_postgres(&db, POSTGRES_MIGRATIONS).await?;
        Self::on_postgres(db)
    }

    /// On PostgreSQL: `db` is a pool on the migrated `events` schema
    /// ([`POSTGRES_MIGRATIONS`]), whose role may read every service's outbox.
    pub fn on_postgres(db: PgDb) -> anyhow::Result<Self> {
        Self::check_schema(&db)?;
        Ok(Self::with(Db::Postgres(db)))
    }

    fn check_schema(db: &PgDb) -> anyhow::Result<()> {
        anyhow::ensure!(
            db.schema() == SCHEMA,
            "the embedded transport's pool must be on the `{SCHEMA}` schema"
        );
        Ok(())
    }

    fn with(db: Db) -> Self {
        let (wake, _) = watch::channel(Marked::default());
        Self {
            db,
            wake: Arc::new(wake),
            batch: 256,
            tail: Arc::new(Tail::default()),
        }
    }

    fn log_table(&self, topic: &str) -> anyhow::Result<String> {
        let service = service_of_topic(topic)
            .ok_or_else(|| anyhow::anyhow!("no service publishes the topic {topic}"))?;
        Ok(match self.db {
            Db::Sqlite(_) => crate::outbox::sqlite::table(service),
            Db::Postgres(_) => format!("{service}.outbox"),
        })
    }

    async fn latest(&self, table: &str) -> anyhow::Result<i64> {
        let sql = format!("SELECT COALESCE(MAX(position), 0) FROM {table}");
        Ok(with_conn!(&self.db, &sql, &sql, |conn, sql| {
            sqlx::query_scalar(sql).fetch_one(&mut *conn).await?
        }))
    }

    async fn committed(&self, group: &str, topic: &str) -> anyhow::Result<Option<i64>> {
        Ok(with_conn!(
            &self.db,
            "SELECT position FROM events_consumer_offsets WHERE consumer_group = ? AND topic = ?",
            "SELECT position FROM consumer_offsets WHERE consumer_group = $1 AND topic = $2",
            |conn, sql| sqlx::query_scalar(sql)
                .bind(group)
                .bind(topic)
                .fetch_optional(&mut *conn)
                .await?
        ))
    }

    async fn store_offset(&self, group: &str, topic: &str, position: i64) -> anyhow::Result<()> {
        execute_stamped!(
            &self.db,
            "INSERT INTO events_consumer_offsets (consumer_group, topic, position, updated_at) \
             VALUES (?, ?, ?, ?) ON CONFLICT (consumer_group, topic) DO UPDATE \
             SET position = MAX(position, excluded.position), updated_at = excluded.updated_at",
            "INSERT INTO consumer_offsets (consumer_group, topic, position) VALUES ($1, $2, $3) \
             ON CONFLICT (consumer_group, topic) DO UPDATE \
             SET position = GREATEST(consumer_offsets.position, excluded.position), \
             updated_at = now()",
            |sql| sqlx::query(sql).bind(group).bind(topic).bind(position)
        );
        Ok(())
    }

    /// Wakes the readers of `service`'s log in this process.
    fn woken(&self, service: &'static str) {
        self.wake.send_modify(|marked| {
            let n = marked.0.entry(service).or_default();
            *n = n.wrapping_add(1);
        });
    }

    async fn read(&self, table: &str, after: i64, limit: u32) -> anyhow::Result<Vec<LogRow>> {
        let select = |a: &str, b: &str| {
            format!(
                "SELECT position, event_key, payload FROM {table} WHERE position > {a} \
                 ORDER BY position LIMIT {b}"
            )
        };
        if let Db::Sqlite(db) = &self.db {
            // A bounded walk of the position index: on the calling thread.
            let sql = select("?1", "?2");
            return db.inline.read(|conn| {
                conn.prepare_cached(&sql)?
                    .query_map([after, i64::from(limit)], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                    })?
                    .collect()
            });
        }
        Ok(with_conn!(
            &self.db,
            select("?1", "?2"),
            select("$1", "$2"),
            |conn, sql| sqlx::query_as(&sql)
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&mut *conn)
                .await?
        ))
    }
}

struct EmbeddedPublisher {
    transport: EmbeddedTransport,
}

#[async_trait]
impl Publisher for EmbeddedPublisher {
    async fn publish(&self, _records: &[OutboxRecord]) -> anyhow::Result<()> {
        // The outbox is the log: marking the batch sent gives the rows their positions.
        Ok(())
    }

    async fn flush(&self, _timeout: Duration) -> anyhow::Result<()> {
        Ok(())
    }

    fn logged(&self, service: &str, entries: &[(i64, &OutboxRecord)]) {
        // On PostgreSQL other processes write the log too: only the database knows it all.
        if let Db::Sqlite(_) = self.transport.db {
            let rows = entries
                .iter()
                .map(|(position, record)| (*position, record.key.clone(), record.payload.clone()));
            self.transport.tail.append(service, rows);
        }
    }

    fn reads_outbox(&self) -> bool {
        true
    }

    fn batch_committed(&self, topic: &str) {
        if let Some(service) = service_of_topic(topic) {
            self.transport.woken(service);
        }
    }

    async fn consumed_up_to(&self, topic: &str) -> anyhow::Result<Option<i64>> {
        let min: Option<i64> = with_conn!(
            &self.transport.db,
            "SELECT MIN(position) FROM events_consumer_offsets WHERE topic = ?",
            "SELECT MIN(position) FROM consumer_offsets WHERE topic = $1",
            |conn, sql| sqlx::query_scalar(sql)
                .bind(topic)
                .fetch_one(&mut *conn)
                .await?
        );
        // With no durable consumer yet, keep everything: one may start from the beginning.
        Ok(Some(min.unwrap_or(0)))
    }
}

/// On SQLite, the outboxes are written as log rows directly ([`LogSink`]): each commit's
/// rows go to the tail and wake the readers, with no relay in between.
struct EmbeddedLog(EmbeddedTransport);

impl LogSink for EmbeddedLog {
    fn appended(&self, service: &'static str, rows: Vec<Appended>) {
        for Appended { record, .. } in &rows {
            if publish_spans_enabled() {
                if let Ok(event) = CloudEvent::from_bytes(record.payload.as_bytes()) {
                    drop(publish_span(&event, &event.kind));
                }
            }
            metrics::counter!(PUBLISHED_TOTAL, "service" => service,
                "transport" => "embedded", "type" => record.event_type.clone())
            .increment(1);
        }
        self.0.tail.append(
            service,
            rows.into_iter()
                .map(|Appended { position, record }| (position, record.key, record.payload)),
        );
        self.0.woken(service);
    }
}

#[async_trait]
impl Transport for EmbeddedTransport {
    fn name(&self) -> &'static str {
        "embedded"
    }

    fn log_sink(&self) -> Option<Arc<dyn LogSink>> {
        match self.db {
            Db::Sqlite(_) => Some(Arc::new(EmbeddedLog(self.clone()))),
            Db::Postgres(_) => None,
        }
    }

    fn publisher(&self) -> Arc<dyn Publisher> {
        Arc::new(EmbeddedPublisher {
            transport: self.clone(),
        })
    }

    /// Events are handed over as soon as a relay marks them: `latency` changes nothing.
    async fn subscribe_with(
        &self,
        group: &str,
        topics: &[&str],
        start: StartAt,
        durability: Durability,
        _latency: Latency,
    ) -> anyhow::Result<Box<dyn Subscription>> {
        let mut logs = Vec::new();
        for topic in topics {
            let table = self.log_table(topic)?;
            let stored = match durability {
                Durability::Durable => self.committed(group, topic).await?,
                Durability::Live => None,
            };
            let position = match (stored, start) {
                (Some(position), _) => position,
                (None, StartAt::Earliest) => 0,
                (None, StartAt::Latest) => self.latest(&table).await?,
            };
            let service = service_of_topic(topic)
                .ok_or_else(|| anyhow::anyhow!("no service publishes the topic {topic}"))?;
            logs.push(Log {
                topic: (*topic).to_owned(),
                service,
                table,
                read: position,
                drained_at: None,
            });
        }
        let listener = match &self.db {
            Db::Postgres(db) => {
                let mut listener = PgListener::connect_with(db.pool()).await?;
                let channels: Vec<String> = topics
                    .iter()
                    .filter_map(|t| service_of_topic(t))
                    .map(log_channel)
                    .collect();
                listener
                    .listen_all(channels.iter().map(String::as_str))
                    .await?;
                Some(listener)
            }
            Db::Sqlite(_) => None,
        };
        Ok(Box::new(EmbeddedSubscription {
            transport: self.clone(),
            group: group.to_owned(),
            durability,
            logs,
            wake: self.wake.subscribe(),
            listener,
            held: HashMap::new(),
            store_by: None,
        }))
    }

    async fn dead_letter(
        &self,
        group: &str,
        delivery: &Delivery,
        error: &str,
    ) -> anyhow::Result<()> {
        execute_stamped!(
            &self.db,
            "INSERT INTO events_dead_letters \
             (consumer_group, topic, position, payload, error, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
            "INSERT INTO dead_letters (consumer_group, topic, position, payload, error) \
             VALUES ($1, $2, $3, $4, $5)",
            |sql| sqlx::query(sql)
                .bind(group)
                .bind(&delivery.topic)
                .bind(delivery.offset)
                .bind(&delivery.payload)
                .bind(error)
        );
        Ok(())
    }

    async fn ping(&self) -> anyhow::Result<()> {
        with_conn!(&self.db, "SELECT 1", "SELECT 1", |conn, sql| {
            sqlx::query(sql).execute(&mut *conn).await?;
        });
        Ok(())
    }
}

struct Log {
    topic: String,
    service: &'static str,
    table: String,
    /// Highest position handed out by `poll`.
    read: i64,
    /// The log's [`Marked`] count when a read last found nothing more: while it stays there,
    /// nothing new was marked (`None`: read it).
    drained_at: Option<u64>,
}

struct EmbeddedSubscription {
    transport: EmbeddedTransport,
    group: String,
    durability: Durability,
    logs: Vec<Log>,
    wake: watch::Receiver<Marked>,
    listener: Option<PgListener>,
    /// Offsets handled but not stored yet, by topic ([`Subscription::commit_soon`]).
    held: HashMap<String, i64>,
    /// When the held offsets are stored at the latest.
    store_by: Option<Instant>,
}

/// A safety net: readers also look now and then, in case a wake-up was missed.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// How long a consumer group's handled offsets may wait to be stored together: under a steady
/// stream of events one offset write per group per interval instead of one per event (each is
/// a write transaction on the database). A crash redelivers at most this much more.
const HOLD_OFFSETS_FOR: Duration = Duration::from_millis(100);

impl EmbeddedSubscription {
    async fn store_held(&mut self) -> anyhow::Result<()> {
        let held: Vec<(String, i64)> = self.held.iter().map(|(t, p)| (t.clone(), *p)).collect();
        for (topic, position) in held {
            // A failed store keeps this and the rest held, for the next try.
            self.transport
                .store_offset(&self.group, &topic, position)
                .await?;
            self.held.remove(&topic);
        }
        self.store_by = None;
        Ok(())
    }

    /// Waits until the held offsets are due (forever when none are held).
    async fn held_due(store_by: Option<Instant>) {
        match store_by {
            Some(at) => tokio::time::sleep_until(at.into()).await,
            None => std::future::pending().await,
        }
    }
}

#[async_trait]
impl Subscription for EmbeddedSubscription {
    async fn poll(&mut self) -> anyhow::Result<Vec<Delivery>> {
        loop {
            // Marks the current wake-up seen before reading, so a batch marked while we read
            // wakes the next wait instead of being missed.
            let marked = self.wake.borrow_and_update().clone();
            let mut out = Vec::new();
            for log in &mut self.logs {
                let count = marked.of(log.service);
                if log.drained_at == Some(count) {
                    continue;
                }
                let batch = self.transport.batch;
                let rows = match self.transport.tail.after(log.service, log.read, batch) {
                    Some(rows) => rows,
                    None => self.transport.read(&log.table, log.read, batch).await?,
                };
                // A short batch is the end of the log as of `count`; a full one may have more.
                log.drained_at = (rows.len() < self.transport.batch as usize).then_some(count);
                for (position, key, payload) in rows {
                    log.read = position;
                    out.push(Delivery {
                        topic: log.topic.clone(),
                        partition: 0,
                        offset: position,
                        key: Some(key),
                        payload: payload.into_bytes(),
                    });
                }
            }
            if !out.is_empty() {
                return Ok(out);
            }
            let wake = self.wake.changed();
            let held_due = Self::held_due(self.store_by);
            // Woken by this process's relays, only the logs they marked are read again; by
            // another process (`NOTIFY`) or the safety-net timer, every log is. Held offsets
            // falling due are stored while idle.
            let woken = match &mut self.listener {
                Some(listener) => {
                    tokio::select! {
                        _ = wake => Some(true),
                        notified = listener.recv() => { notified?; Some(false) }
                        () = tokio::time::sleep(POLL_INTERVAL) => Some(false),
                        () = held_due => None,
                    }
                }
                None => {
                    tokio::select! {
                        _ = wake => Some(true),
                        () = tokio::time::sleep(POLL_INTERVAL) => Some(false),
                        () = held_due => None,
                    }
                }
            };
            let Some(local) = woken else {
                self.store_held().await?;
                continue;
            };
            if !local {
                for log in &mut self.logs {
                    log.drained_at = None;
                }
            }
        }
    }

    async fn commit(&mut self, delivery: &Delivery) -> anyhow::Result<()> {
        if self.durability == Durability::Durable {
            // Whatever is held for this topic is stored with it.
            let held = self.held.remove(&delivery.topic).unwrap_or(0);
            self.transport
                .store_offset(&self.group, &delivery.topic, delivery.offset.max(held))
                .await?;
        }
        Ok(())
    }

    async fn commit_soon(&mut self, delivery: &Delivery) -> anyhow::Result<()> {
        if self.durability == Durability::Durable {
            let held = self.held.entry(delivery.topic.clone()).or_insert(0);
            *held = (*held).max(delivery.offset);
            let now = Instant::now();
            match self.store_by {
                None => self.store_by = Some(now + HOLD_OFFSETS_FOR),
                Some(at) if at <= now => self.store_held().await?,
                Some(_) => {}
            }
        }
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        self.store_held().await
    }

    async fn lag(&mut self) -> anyhow::Result<Vec<(String, i64)>> {
        let mut lags = Vec::new();
        for log in &self.logs {
            let latest = self.transport.latest(&log.table).await?;
            let committed = match self.durability {
                Durability::Durable => self
                    .transport
                    .committed(&self.group, &log.topic)
                    .await?
                    .unwrap_or(0)
                    .max(self.held.get(&log.topic).copied().unwrap_or(0)),
                Durability::Live => log.read,
            };
            lags.push((log.topic.clone(), (latest - committed).max(0)));
        }
        Ok(lags)
    }
}

/// Positions of every group, for tests and tools: `(group, topic) -> position`.
pub async fn offsets(
    transport: &EmbeddedTransport,
) -> anyhow::Result<HashMap<(String, String), i64>> {
    let rows: Vec<(String, String, i64)> = with_conn!(
        &transport.db,
        "SELECT consumer_group, topic, position FROM events_consumer_offsets",
        "SELECT consumer_group, topic, position FROM consumer_offsets",
        |conn, sql| sqlx::query_as(sql).fetch_all(&mut *conn).await?
    );
    Ok(rows.into_iter().map(|(g, t, p)| ((g, t), p)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(tail: &Tail, positions: impl IntoIterator<Item = i64>) {
        tail.append(
            "posts",
            positions
                .into_iter()
                .map(|p| (p, format!("k{p}"), format!("p{p}"))),
        );
    }

    fn positions(rows: Option<Vec<LogRow>>) -> Option<Vec<i64>> {
        rows.map(|rows| rows.into_iter().map(|(p, _, _)| p).collect())
    }

    #[test]
    fn the_tail_serves_only_readers_whose_next_record_it_holds() {
        let tail = Tail::default();
        assert_eq!(
            tail.after("posts", 0, 10),
            None,
            "nothing held: the database"
        );
        append(&tail, 5..=7);
        assert_eq!(tail.after("posts", 3, 10), None, "position 4 is not held");
        assert_eq!(positions(tail.after("posts", 4, 10)), Some(vec![5, 6, 7]));
        assert_eq!(positions(tail.after("posts", 5, 1)), Some(vec![6]));
        assert_eq!(
            positions(tail.after("posts", 7, 10)),
            Some(vec![]),
            "caught up"
        );
        assert_eq!(tail.after("users", 7, 10), None, "another log");
        let rows = tail.after("posts", 6, 10).unwrap();
        assert_eq!(rows, vec![(7, "k7".into(), "p7".into())]);
    }

    #[test]
    fn it_keeps_only_the_newest() {
        let tail = Tail::default();
        append(&tail, 5..=6);
        let last = 6 + TAIL_ROWS as i64;
        append(&tail, 7..=last);
        assert_eq!(tail.after("posts", 5, 10), None, "6 fell out");
        assert_eq!(
            positions(tail.after("posts", last - 2, 10)),
            Some(vec![last - 1, last])
        );
    }

    #[test]
    fn rows_told_out_of_order_wait_for_the_missing_one() {
        let tail = Tail::default();
        append(&tail, 1..=2);
        append(&tail, [4, 5]);
        assert_eq!(
            tail.after("posts", 2, 10),
            None,
            "3 is committed but not told yet: the database has it"
        );
        assert_eq!(positions(tail.after("posts", 0, 10)), Some(vec![1, 2]));
        append(&tail, [3]);
        assert_eq!(
            positions(tail.after("posts", 1, 10)),
            Some(vec![2, 3, 4, 5])
        );
        assert_eq!(positions(tail.after("posts", 5, 10)), Some(vec![]));
        append(&tail, [5, 2]);
        assert_eq!(
            positions(tail.after("posts", 0, 10)),
            Some(vec![1, 2, 3, 4, 5]),
            "rows held already are not held twice"
        );
    }

    #[test]
    fn too_many_rows_waiting_start_the_tail_over() {
        let tail = Tail::default();
        append(&tail, [1]);
        append(&tail, 3..=(3 + TAIL_ROWS as i64));
        assert_eq!(
            tail.after("posts", 0, 10),
            None,
            "started over: nothing held"
        );
        append(&tail, [2]);
        assert_eq!(
            positions(tail.after("posts", 1, 10)),
            Some(vec![2]),
            "the next row starts it again"
        );
    }
}
