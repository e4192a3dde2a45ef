//! What every transport test runs on: a temporary SQLite file holding the services' outboxes,
//! the real relays publishing them through the transport under test, and helpers to write
//! events, consume them and wait for conditions with deadlines.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use socialdevs_events::consumer::{self, Consumer, Handler, HandlerError};
use socialdevs_events::embedded::EmbeddedTransport;
use socialdevs_events::kafka::{KafkaSettings, KafkaTransport};
use socialdevs_events::live::RedisLive;
use socialdevs_events::outbox::sqlite::{append_envelope, append_row, OutboxRow, SqliteOutbox};
use socialdevs_events::outbox::{Backlog, OutboxSignal, OutboxStore, Written};
use socialdevs_events::relay::{self, RelaySettings};
use socialdevs_events::types::{POSTS_TOPIC, USERS_TOPIC};
use socialdevs_events::{
    CloudEvent, Delivery, Durability, Latency, StartAt, Subscription, Transport,
};
use socialdevs_platform::db::{migrate_sqlite, Migration, SqliteDb};
use socialdevs_platform::shutdown::{self, ShutdownTrigger};
use socialdevs_testkit::kafka::KafkaBroker;
use socialdevs_testkit::redis::RedisServer;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// The type of the events the tests write.
pub const KIND: &str = "dev.socialdevs.test.sequenced.v1";

/// Long enough for a slow CI machine; conditions usually hold within milliseconds.
pub const DEADLINE: Duration = Duration::from_secs(60);

const USERS_OUTBOX: &str = include_str!("../../../users/migrations/sqlite/0002_outbox.sql");
const POSTS_OUTBOX: &str = include_str!("../../../posts/migrations/sqlite/0002_outbox.sql");

/// The services whose outboxes the tests write to, with their topics.
pub const SERVICES: [(&str, &str); 2] = [("users", USERS_TOPIC), ("posts", POSTS_TOPIC)];

/// A transport under test with its outbox database and relays.
pub struct Fixture {
    /// `embedded` or `kafka`.
    pub name: &'static str,
    pub dir: tempfile::TempDir,
    /// The services' database (their outboxes; the embedded transport's log and offsets).
    pub db: SqliteDb,
    pub transport: Arc<dyn Transport>,
    /// The Kafka broker, for the Kafka fixtures.
    pub broker: Option<KafkaBroker>,
    /// The Redis whose pub/sub carries live subscriptions, for the Kafka + Redis fixtures.
    pub redis: Option<RedisServer>,
    signals: HashMap<&'static str, OutboxSignal>,
    relays: Vec<(ShutdownTrigger, JoinHandle<()>)>,
}

impl Fixture {
    /// The embedded transport on a temporary SQLite file.
    pub async fn embedded() -> Self {
        let (dir, db) = open().await;
        let transport = EmbeddedTransport::sqlite(db.clone()).await.unwrap();
        Self::with("embedded", dir, db, Arc::new(transport), None)
    }

    /// The embedded transport on a temporary SQLite file whose outboxes are its log: rows
    /// take their positions as they are written, as in the all-in-one process.
    pub async fn embedded_log() -> Self {
        let fx = Self::embedded().await;
        let sink = fx
            .transport
            .log_sink()
            .expect("the embedded transport on SQLite");
        for signal in fx.signals.values() {
            signal.attach_log(sink.clone());
        }
        fx
    }

    /// The Kafka transport on the test broker (`SOCIALDEVS_TEST_KAFKA_BROKERS`, else a tansu
    /// of its own); the outboxes stay in a temporary SQLite file.
    pub async fn kafka() -> Self {
        Self::kafka_on(KafkaBroker::start()).await
    }

    /// The Kafka transport on a tansu broker of its own, which the test may kill.
    pub async fn kafka_local() -> Self {
        Self::kafka_on(KafkaBroker::start_local()).await
    }

    /// Kafka for the log, with live subscriptions on Redis pub/sub (`SOCIALDEVS_TEST_REDIS_URL`,
    /// else a `redis-server` of its own): the distributed topology's transport.
    pub async fn kafka_redis_live() -> Self {
        Self::kafka_redis_live_on(RedisServer::start()).await
    }

    /// The same on a `redis-server` of its own, which the test may kill.
    pub async fn kafka_redis_live_local() -> Self {
        Self::kafka_redis_live_on(RedisServer::start_local()).await
    }

    async fn kafka_redis_live_on(redis: RedisServer) -> Self {
        let mut fx = Self::kafka_on(KafkaBroker::start()).await;
        for (trigger, task) in fx.relays.drain(..) {
            trigger.trigger();
            task.await.unwrap();
        }
        let live = RedisLive::new(fx.transport.clone(), redis.url(), redis.namespace()).unwrap();
        fx.name = "kafka+redis-live";
        fx.transport = Arc::new(live);
        fx.redis = Some(redis);
        fx.start_relays();
        fx
    }

    async fn kafka_on(broker: KafkaBroker) -> Self {
        let (dir, db) = open().await;
        let transport = KafkaTransport::connect(KafkaSettings {
            brokers: broker.brokers().to_owned(),
            partitions: 3,
            replication: 1,
            client_id: "socialdevs-test".into(),
            ..KafkaSettings::default()
        })
        .await
        .unwrap();
        Self::with("kafka", dir, db, Arc::new(transport), Some(broker))
    }

    fn with(
        name: &'static str,
        dir: tempfile::TempDir,
        db: SqliteDb,
        transport: Arc<dyn Transport>,
        broker: Option<KafkaBroker>,
    ) -> Self {
        let mut fixture = Self {
            name,
            dir,
            db,
            transport,
            broker,
            redis: None,
            signals: SERVICES
                .iter()
                .map(|(service, _)| (*service, OutboxSignal::default()))
                .collect(),
            relays: Vec::new(),
        };
        fixture.start_relays();
        fixture
    }

    /// Whether the broker is one of this test's own (not shared with anyone).
    pub fn isolated(&self) -> bool {
        self.broker.as_ref().is_none_or(KafkaBroker::is_local)
    }

    /// Starts both services' relays, publishing through the transport.
    pub fn start_relays(&mut self) {
        for (service, _) in SERVICES {
            let (trigger, shutdown) = shutdown::channel();
            let task = tokio::spawn(relay::run(
                Arc::new(SqliteOutbox::new(self.db.clone(), service)),
                self.transport.publisher(),
                self.transport.name(),
                self.signals[service].clone(),
                None,
                RelaySettings {
                    batch: 100,
                    poll: Duration::from_millis(500),
                    max_backoff: Duration::from_millis(500),
                    ..RelaySettings::default()
                },
                shutdown,
            ));
            self.relays.push((trigger, task));
        }
    }

    /// Writes `events` to `service`'s outbox in one transaction, as a store does, and wakes
    /// its relay.
    pub async fn write(&self, service: &'static str, events: &[CloudEvent]) {
        let topic = topic_of(service);
        let signal = &self.signals[service];
        let mut tx = self.db.begin(service).await.unwrap();
        let mut written = Written::default();
        for event in events {
            written.push(
                append_envelope(&mut tx, signal, service, topic, event)
                    .await
                    .unwrap(),
            );
        }
        tx.commit().await.unwrap();
        signal.committed_rows(service, written);
    }

    /// Writes a row whose payload is not a CloudEvent (a poison message).
    pub async fn write_raw(&self, service: &'static str, key: &str, payload: &str) {
        let signal = &self.signals[service];
        let mut tx = self.db.begin(service).await.unwrap();
        let row = OutboxRow {
            id: Uuid::now_v7(),
            topic: topic_of(service),
            key,
            kind: KIND,
            payload: payload.to_owned(),
        };
        let appended = append_row(&mut tx, signal, service, row).await.unwrap();
        tx.commit().await.unwrap();
        signal.committed_rows(service, Written::from(appended));
    }

    /// Unsent outbox rows of `service`.
    pub async fn backlog(&self, service: &'static str) -> Backlog {
        SqliteOutbox::new(self.db.clone(), service)
            .backlog()
            .await
            .unwrap()
    }

    /// Waits until every outbox row is published.
    pub async fn drained(&self) {
        eventually("the outboxes to drain", DEADLINE, || async {
            let mut pending = 0;
            for (service, _) in SERVICES {
                pending += self.backlog(service).await.pending;
            }
            pending == 0
        })
        .await;
    }

    /// Opens a subscription of `group`.
    pub async fn subscribe(
        &self,
        group: &str,
        topics: &[&str],
        start: StartAt,
        durability: Durability,
    ) -> Box<dyn Subscription> {
        self.transport
            .subscribe(group, topics, start, durability)
            .await
            .unwrap()
    }

    /// Runs a consumer until the returned trigger fires (or its task is aborted).
    pub fn run_consumer(
        &self,
        group: &str,
        topics: &[&'static str],
        handler: Arc<dyn Handler>,
    ) -> (ShutdownTrigger, JoinHandle<()>) {
        let (trigger, shutdown) = shutdown::channel();
        let task = tokio::spawn(consumer::run(
            self.transport.clone(),
            Consumer {
                group: group.to_owned(),
                topics: topics.to_vec(),
                start: StartAt::Earliest,
                durability: Durability::Durable,
                latency: Latency::Interactive,
                handler,
            },
            shutdown,
        ));
        (trigger, task)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for (trigger, task) in &self.relays {
            trigger.trigger();
            task.abort();
        }
    }
}

async fn open() -> (tempfile::TempDir, SqliteDb) {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&SqliteDb::default_url(dir.path()))
        .await
        .unwrap();
    for (service, sql) in [("users", USERS_OUTBOX), ("posts", POSTS_OUTBOX)] {
        migrate_sqlite(
            &db,
            service,
            &[Migration {
                version: 2,
                name: "outbox",
                sql,
            }],
        )
        .await
        .unwrap();
    }
    (dir, db)
}

pub fn topic_of(service: &str) -> &'static str {
    SERVICES
        .iter()
        .find(|(s, _)| *s == service)
        .map(|(_, topic)| *topic)
        .unwrap()
}

/// A unique consumer group name.
pub fn group(name: &str) -> String {
    format!("socialdevs.test.{name}.{}", Uuid::now_v7().simple())
}

/// The `n`-th event about `key` of `service`.
pub fn event(service: &str, key: &str, n: u32) -> CloudEvent {
    CloudEvent::new(
        service,
        KIND,
        key,
        serde_json::json!({ "key": key, "n": n }),
    )
}

/// What a consumer saw of one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub id: Uuid,
    pub key: String,
    pub n: u32,
}

impl Seen {
    pub fn of(event: &CloudEvent) -> Self {
        Self {
            id: event.id,
            key: event.data["key"].as_str().unwrap_or_default().to_owned(),
            n: event.data["n"]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(u32::MAX),
        }
    }

    pub fn of_delivery(delivery: &Delivery) -> Option<Self> {
        delivery.event().ok().map(|event| Self::of(&event))
    }
}

/// Records what a handler saw of the test's own keys, in order, and lets tests wait for it.
/// Events of other keys (other tests on a shared broker) are ignored.
pub struct Recorder {
    keys: HashSet<String>,
    seen: Mutex<Vec<Seen>>,
    count: watch::Sender<usize>,
    /// Events whose `data.poison` is set fail permanently.
    pub rejected: AtomicUsize,
}

impl Recorder {
    pub fn of_keys<'a>(keys: impl IntoIterator<Item = &'a String>) -> Arc<Self> {
        Arc::new(Self {
            keys: keys.into_iter().cloned().collect(),
            seen: Mutex::new(Vec::new()),
            count: watch::channel(0).0,
            rejected: AtomicUsize::new(0),
        })
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until `done` holds for what was seen so far.
    pub async fn wait_until(&self, what: &str, done: impl Fn(&[Seen]) -> bool) {
        let mut changes = self.count.subscribe();
        let waited = tokio::time::timeout(DEADLINE, async {
            loop {
                if done(&self.seen.lock().unwrap()) {
                    return;
                }
                changes.changed().await.unwrap();
            }
        })
        .await;
        if waited.is_err() {
            let seen = self.seen();
            panic!(
                "timed out after {DEADLINE:?} waiting for {what}; saw {} events",
                seen.len()
            );
        }
    }

    /// Waits until every one of `ids` was seen.
    pub async fn wait_for_all(&self, what: &str, ids: &HashSet<Uuid>) {
        self.wait_until(what, |seen| {
            let got: HashSet<Uuid> = seen.iter().map(|s| s.id).collect();
            ids.is_subset(&got)
        })
        .await;
    }
}

#[async_trait]
impl Handler for Recorder {
    async fn handle(&self, event: &CloudEvent) -> Result<(), HandlerError> {
        if !self.keys.contains(&event.subject) {
            return Ok(());
        }
        if event.data.get("poison").is_some() {
            self.rejected.fetch_add(1, Ordering::SeqCst);
            return Err(HandlerError::Permanent(anyhow::anyhow!(
                "this event is invalid for the handler"
            )));
        }
        self.seen.lock().unwrap().push(Seen::of(event));
        self.count.send_modify(|n| *n += 1);
        Ok(())
    }
}

/// A handler whose effect and processed event id are stored in one SQLite transaction (the
/// dedup every durable consumer does), in a database of its own (the consuming service's).
pub struct Effects {
    pub db: SqliteDb,
    /// The test's keys: events of others are ignored.
    keys: HashSet<String>,
    /// After storing this event's effect: say so, then hang (to be killed right there).
    stall: Mutex<Option<(Uuid, oneshot::Sender<()>)>>,
    /// Events delivered again after their effect was stored (and so skipped).
    pub repeats: Mutex<Vec<Uuid>>,
    applied: watch::Sender<usize>,
}

impl Effects {
    pub async fn open<'a>(
        dir: &std::path::Path,
        keys: impl IntoIterator<Item = &'a String>,
    ) -> Arc<Self> {
        let db = SqliteDb::open(&format!("sqlite://{}", dir.join("consumer.db").display()))
            .await
            .unwrap();
        migrate_sqlite(
            &db,
            "consumer",
            &[Migration {
                version: 1,
                name: "effects",
                sql: "CREATE TABLE consumer_processed (event_id TEXT PRIMARY KEY);
                      CREATE TABLE consumer_effects (event_key TEXT NOT NULL, n INTEGER NOT NULL,
                          applied INTEGER NOT NULL, PRIMARY KEY (event_key, n));",
            }],
        )
        .await
        .unwrap();
        Arc::new(Self {
            db,
            keys: keys.into_iter().cloned().collect(),
            stall: Mutex::new(None),
            repeats: Mutex::new(Vec::new()),
            applied: watch::channel(0).0,
        })
    }

    /// Hangs right after storing the effect of `id`; the receiver fires then.
    pub fn stall_after(&self, id: Uuid) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        *self.stall.lock().unwrap() = Some((id, tx));
        rx
    }

    /// `(key, n) -> times applied`.
    pub async fn effects(&self) -> HashMap<(String, u32), i64> {
        let rows: Vec<(String, i64, i64)> =
            sqlx::query_as("SELECT event_key, n, applied FROM consumer_effects")
                .fetch_all(&self.db.reader)
                .await
                .unwrap();
        rows.into_iter()
            .map(|(key, n, applied)| ((key, u32::try_from(n).unwrap()), applied))
            .collect()
    }

    /// Waits until `count` distinct events have their effect stored.
    pub async fn wait_for_applied(&self, count: usize) {
        let mut changes = self.applied.subscribe();
        let waited = tokio::time::timeout(DEADLINE, changes.wait_for(|n| *n >= count)).await;
        if waited.is_err() {
            panic!(
                "timed out after {DEADLINE:?}: {} of {count} effects applied",
                *self.applied.borrow()
            );
        }
    }
}

#[async_trait]
impl Handler for Effects {
    async fn handle(&self, event: &CloudEvent) -> Result<(), HandlerError> {
        if !self.keys.contains(&event.subject) {
            return Ok(());
        }
        let seen = Seen::of(event);
        let mut tx = self
            .db
            .begin("consumer")
            .await
            .map_err(|e| HandlerError::Transient(e.into()))?;
        let first = sqlx::query(
            "INSERT INTO consumer_processed (event_id) VALUES (?) ON CONFLICT DO NOTHING",
        )
        .bind(event.id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(|e| HandlerError::Transient(e.into()))?
        .rows_affected()
            == 1;
        if first {
            sqlx::query(
                "INSERT INTO consumer_effects (event_key, n, applied) VALUES (?, ?, 1) \
                 ON CONFLICT (event_key, n) DO UPDATE SET applied = applied + 1",
            )
            .bind(&seen.key)
            .bind(seen.n)
            .execute(&mut *tx)
            .await
            .map_err(|e| HandlerError::Transient(e.into()))?;
        }
        tx.commit()
            .await
            .map_err(|e| HandlerError::Transient(e.into()))?;
        if first {
            self.applied.send_modify(|n| *n += 1);
        } else {
            self.repeats.lock().unwrap().push(event.id);
        }
        let stall = {
            let mut stall = self.stall.lock().unwrap();
            match stall.take() {
                Some((id, tx)) if id == event.id => Some(tx),
                other => {
                    *stall = other;
                    None
                }
            }
        };
        if let Some(stalled) = stall {
            let _ = stalled.send(());
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

/// Polls `subscription` until `done` holds for everything delivered so far (in order).
pub async fn poll_until(
    subscription: &mut dyn Subscription,
    what: &str,
    done: impl Fn(&[Delivery]) -> bool,
) -> Vec<Delivery> {
    let mut got = Vec::new();
    let waited = tokio::time::timeout(DEADLINE, async {
        while !done(&got) {
            got.extend(subscription.poll().await.unwrap());
        }
    })
    .await;
    if waited.is_err() {
        panic!(
            "timed out after {DEADLINE:?} waiting for {what}; {} deliveries",
            got.len()
        );
    }
    got
}

/// Whether every one of `ids` is among `deliveries`.
pub fn has_all(deliveries: &[Delivery], ids: &HashSet<Uuid>) -> bool {
    let got: HashSet<Uuid> = deliveries
        .iter()
        .filter_map(Seen::of_delivery)
        .map(|s| s.id)
        .collect();
    ids.is_subset(&got)
}

/// Waits until the async condition holds, checking again every few milliseconds.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Checks per-key order and completeness: for every key of `written` (`key -> count`), the
/// events seen for the first time come in write order (`n` = 0, 1, 2, …) with none missing;
/// a repeat of an event already seen (at-least-once redelivery) is allowed. Returns the
/// number of repeats.
pub fn assert_per_key_order(seen: &[Seen], written: &HashMap<String, u32>) -> usize {
    let mut next: HashMap<&str, u32> = HashMap::new();
    let mut repeats = 0;
    for s in seen {
        let Some(count) = written.get(&s.key) else {
            continue;
        };
        let expected = next.entry(s.key.as_str()).or_insert(0);
        if s.n == *expected {
            *expected += 1;
        } else if s.n < *expected {
            repeats += 1;
        } else {
            panic!(
                "key {}: event {} arrived before event {} (of {count})",
                s.key, s.n, expected
            );
        }
    }
    for (key, count) in written {
        let got = next.get(key.as_str()).copied().unwrap_or(0);
        assert_eq!(got, *count, "key {key}: {got} of {count} events arrived");
    }
    repeats
}
