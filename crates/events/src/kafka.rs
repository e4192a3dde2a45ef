//! The Kafka transport (feature `kafka`; `SOCIALDEVS_KAFKA_BROKERS`).
//!
//! - Publishing: one idempotent producer (`enable.idempotence`, `acks=all`) for every relay.
//!   A batch is acknowledged only when every record of it is; any failure fails the batch and
//!   the relay sends it again (at least once; the idempotent producer keeps each partition in
//!   send order, so a key's events never overtake each other). The CloudEvent travels in
//!   structured mode as the message value, keyed by its aggregate id, with `ce_id`, `ce_type`
//!   and the W3C trace context (`traceparent`, `tracestate`) as message headers.
//! - Durable subscriptions are Kafka consumer groups that never commit on their own: the
//!   consumer loop commits an offset only after the handler's effect is stored.
//! - Live subscriptions are process-local readers: a group id of their own
//!   (`<group>.<uuid>`), every partition assigned explicitly at the position resolved when
//!   subscribing (so nothing published after `subscribe` returns is missed), never committed.
//! - Dead letters go to [`DEAD_LETTER_TOPIC`] with headers naming the group, the error and
//!   where the message came from.
//!
//! [`KafkaTransport::connect`] creates the topics when they are missing. It works with any
//! Kafka-protocol broker (Apache Kafka, Redpanda, tansu — the one the test suite runs).
//!
//! Broker notes, tansu 0.6 with SQLite storage (librdkafka 2.12): the idempotent producer,
//! consumer groups, manual commits, offset fetches, watermarks and headers work with the
//! default client settings (no `api.version.request` tweaks). Two differences from Apache
//! Kafka: a fetch is always answered only after `fetch.wait.max.ms`, data or not, and every
//! fetch costs it a fixed amount of work (with SQLite storage it plans each statement anew:
//! seven subscriptions polling every 10 ms kept it above one core with nothing to deliver).
//! Hence two waits: short for [`Latency::Interactive`] subscriptions, longer for
//! [`Latency::Background`] ones. Creating a topic that exists logs an error on the broker (the
//! client gets `TopicAlreadyExists`, which `connect` accepts). Its `memory://` storage loses
//! committed offsets: use `sqlite://` (or PostgreSQL). Topic auto-creation is off.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use futures::FutureExt;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use serde::Deserialize;

use crate::outbox::{OutboxRecord, Publisher};
use crate::transport::{Delivery, Durability, Latency, StartAt, Subscription, Transport};
use crate::types::TOPICS;

/// Where consumers put what they cannot handle.
pub const DEAD_LETTER_TOPIC: &str = "socialdevs.deadletter.v1";

/// Dead-letter headers: the consumer group that gave up on the message.
pub const DLQ_GROUP: &str = "dlq_group";
/// Dead-letter headers: why.
pub const DLQ_ERROR: &str = "dlq_error";
/// Dead-letter headers: the topic the message was read from.
pub const DLQ_TOPIC: &str = "dlq_topic";
/// Dead-letter headers: its partition there.
pub const DLQ_PARTITION: &str = "dlq_partition";
/// Dead-letter headers: its offset there.
pub const DLQ_OFFSET: &str = "dlq_offset";

/// At most this many messages per [`Subscription::poll`].
const MAX_BATCH: usize = 500;
/// How long a blocking metadata, watermark or offset request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a consumer waits for an offset commit before reporting it failed.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long dropping a subscription waits for its consumer to leave the group.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the producer keeps trying to deliver a message before it fails the batch (the
/// relay then retries it with backoff, and counts the failure).
const DELIVERY_TIMEOUT_MS: &str = "30000";

/// Where the brokers are and how the topics are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSettings {
    /// Bootstrap servers, `host:port[,host:port…]`.
    pub brokers: String,
    /// Partitions of each topic created here (existing topics are left as they are).
    pub partitions: i32,
    /// Replication factor of each topic created here.
    pub replication: i32,
    /// The clients' `client.id` (broker logs and quotas).
    pub client_id: String,
    /// How long the broker may hold an interactive subscription's fetch
    /// ([`Latency::Interactive`]; `fetch.wait.max.ms`).
    pub fetch_wait: Duration,
    /// The same for background subscriptions ([`Latency::Background`]).
    pub background_fetch_wait: Duration,
    /// Which message headers each event carries besides its payload.
    pub headers: EventHeaders,
}

/// The message headers of a published event. The CloudEvent itself (id, type, trace
/// context) is always the whole payload (structured mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventHeaders {
    /// `content-type`, `ce_type`, `ce_id`, `traceparent`, `tracestate`: tools that read
    /// headers and not payloads can route and trace by them.
    All,
    /// `content-type` only (what structured mode requires): for brokers that pay per header
    /// stored — tansu on SQLite writes each header as a row of its own and reads them back
    /// without an index.
    ContentType,
}

impl std::str::FromStr for EventHeaders {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s.trim() {
            "all" => Ok(Self::All),
            "content-type" => Ok(Self::ContentType),
            other => anyhow::bail!("unknown Kafka event headers {other:?}: all or content-type"),
        }
    }
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            partitions: 3,
            replication: 1,
            client_id: "socialdevs".into(),
            fetch_wait: Duration::from_millis(10),
            background_fetch_wait: Duration::from_millis(100),
            headers: EventHeaders::All,
        }
    }
}

impl KafkaSettings {
    /// The defaults with these brokers.
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            ..Self::default()
        }
    }

    fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", &self.client_id)
            // Brokers that restart come back quickly: reconnect soon, without a long backoff.
            .set("reconnect.backoff.ms", "50")
            .set("reconnect.backoff.max.ms", "1000");
        config
    }

    fn producer_config(&self) -> ClientConfig {
        let mut config = self.client_config();
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", DELIVERY_TIMEOUT_MS)
            // A relay batch goes out together; low latency matters more than big batches.
            .set("linger.ms", "2")
            // The Java clients' partitioner: a key lands on the same partition whichever
            // client wrote it.
            .set("partitioner", "murmur2_random");
        config
    }

    fn consumer_config(&self, group: &str, start: StartAt, latency: Latency) -> ClientConfig {
        let wait = match latency {
            Latency::Interactive => self.fetch_wait,
            Latency::Background => self.background_fetch_wait,
        };
        let mut config = self.client_config();
        config
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set(
                "auto.offset.reset",
                match start {
                    StartAt::Earliest => "earliest",
                    StartAt::Latest => "latest",
                },
            )
            .set("enable.partition.eof", "false")
            // The longest a broker holds a fetch. Apache Kafka answers as soon as data
            // arrives; tansu (0.6) always waits this long, so it bounds delivery latency
            // (about 1.5 times it per hop), and every fetch costs the broker the same work
            // whether data came or not: short for what people watch, longer for the rest.
            .set("fetch.wait.max.ms", wait.as_millis().max(1).to_string());
        config
    }
}

/// The Kafka transport. Cheap to clone.
#[derive(Clone)]
pub struct KafkaTransport {
    settings: KafkaSettings,
    publisher: Arc<KafkaPublisher>,
}

impl KafkaTransport {
    /// Connects to the brokers and creates the topics ([`TOPICS`] and [`DEAD_LETTER_TOPIC`])
    /// that are missing.
    pub async fn connect(settings: KafkaSettings) -> anyhow::Result<Self> {
        anyhow::ensure!(
            settings.partitions >= 1,
            "Kafka topics need at least one partition"
        );
        anyhow::ensure!(
            settings.replication >= 1,
            "the Kafka replication factor must be at least 1"
        );
        create_topics(&settings).await?;
        let publisher = Arc::new(KafkaPublisher {
            producer: Mutex::new(producer(&settings)?),
            settings: settings.clone(),
        });
        tracing::info!(brokers = %settings.brokers, "Kafka transport connected");
        Ok(Self {
            settings,
            publisher,
        })
    }

    /// The settings it was made with.
    pub fn settings(&self) -> &KafkaSettings {
        &self.settings
    }
}

fn producer(settings: &KafkaSettings) -> anyhow::Result<FutureProducer> {
    settings
        .producer_config()
        .create()
        .context("creating the Kafka producer")
}

async fn create_topics(settings: &KafkaSettings) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = settings
        .client_config()
        .create()
        .context("creating the Kafka admin client")?;
    let names: Vec<&str> = TOPICS
        .iter()
        .copied()
        .chain(std::iter::once(DEAD_LETTER_TOPIC))
        .collect();
    let topics: Vec<NewTopic<'_>> = names
        .iter()
        .map(|name| {
            NewTopic::new(
                name,
                settings.partitions,
                TopicReplication::Fixed(settings.replication),
            )
        })
        .collect();
    let options = AdminOptions::new()
        .request_timeout(Some(REQUEST_TIMEOUT))
        .operation_timeout(Some(REQUEST_TIMEOUT));
    let results = admin
        .create_topics(topics.iter(), &options)
        .await
        .with_context(|| format!("creating the Kafka topics on {}", settings.brokers))?;
    for result in results {
        match result {
            Ok(topic) => tracing::info!(topic = %topic, partitions = settings.partitions,
                replication = settings.replication, "Kafka topic created"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => anyhow::bail!("creating the Kafka topic {topic}: {code}"),
        }
    }
    Ok(())
}

/// The parts of a CloudEvent that also travel as message headers.
#[derive(Deserialize, Default)]
struct HeaderFields {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    traceparent: Option<String>,
    #[serde(default)]
    tracestate: Option<String>,
}

fn headers_of(record: &OutboxRecord, which: EventHeaders) -> OwnedHeaders {
    let headers = OwnedHeaders::new_with_capacity(5).insert(Header {
        key: "content-type",
        value: Some("application/cloudevents+json; charset=UTF-8"),
    });
    if which == EventHeaders::ContentType {
        return headers;
    }
    // A payload that is not a CloudEvent is published all the same (its consumers
    // dead-letter it); it just has fewer headers.
    let fields: HeaderFields = serde_json::from_str(&record.payload).unwrap_or_default();
    let mut headers = headers.insert(Header {
        key: "ce_type",
        value: Some(record.event_type.as_str()),
    });
    for (key, value) in [
        ("ce_id", fields.id),
        ("traceparent", fields.traceparent),
        ("tracestate", fields.tracestate),
    ] {
        if let Some(value) = value {
            headers = headers.insert(Header {
                key,
                value: Some(value.as_str()),
            });
        }
    }
    headers
}

/// The relays' producer.
struct KafkaPublisher {
    settings: KafkaSettings,
    /// Replaced when it hits a fatal error (an idempotent producer that lost its sequence
    /// cannot send again).
    producer: Mutex<FutureProducer>,
}

impl KafkaPublisher {
    fn producer(&self) -> FutureProducer {
        self.producer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// After a failure: a producer in a fatal state is replaced by a new one.
    fn renew_if_fatal(&self, used: &FutureProducer) {
        let Some((code, reason)) = used.client().fatal_error() else {
            return;
        };
        tracing::warn!(%code, %reason, "the Kafka producer failed fatally; creating a new one");
        match producer(&self.settings) {
            Ok(fresh) => {
                *self.producer.lock().unwrap_or_else(PoisonError::into_inner) = fresh;
            }
            Err(err) => {
                tracing::warn!(error = %format!("{err:#}"), "recreating the Kafka producer")
            }
        }
    }
}

#[async_trait]
impl Publisher for KafkaPublisher {
    async fn publish(&self, records: &[OutboxRecord]) -> anyhow::Result<()> {
        let producer = self.producer();
        let mut pending = Vec::with_capacity(records.len());
        let mut failure = None;
        // Enqueued in order: the producer keeps each partition in this order.
        for record in records {
            let message = FutureRecord::to(&record.topic)
                .key(record.key.as_bytes())
                .payload(record.payload.as_bytes())
                .headers(headers_of(record, self.settings.headers));
            match producer.send_result(message) {
                Ok(delivery) => pending.push((record, delivery)),
                Err((err, _)) => {
                    failure = Some(anyhow::anyhow!(
                        "enqueuing outbox row {} for {}: {err}",
                        record.seq,
                        record.topic
                    ));
                    break;
                }
            }
        }
        // Waits for every acknowledgement, even after a failure, so a retry never races
        // the batch it replaces.
        for (record, delivery) in pending {
            let outcome = match delivery.await {
                Ok(Ok(_)) => continue,
                Ok(Err((err, _))) => anyhow::anyhow!(
                    "publishing outbox row {} to {}: {err}",
                    record.seq,
                    record.topic
                ),
                Err(_) => anyhow::anyhow!("the Kafka producer went away"),
            };
            failure.get_or_insert(outcome);
        }
        match failure {
            None => Ok(()),
            Some(err) => {
                self.renew_if_fatal(&producer);
                Err(err)
            }
        }
    }

    async fn flush(&self, timeout: Duration) -> anyhow::Result<()> {
        let producer = self.producer();
        tokio::task::spawn_blocking(move || producer.flush(timeout))
            .await
            .context("flushing the Kafka producer")?
            .context("flushing the Kafka producer")
    }
}

#[async_trait]
impl Transport for KafkaTransport {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn publisher(&self) -> Arc<dyn Publisher> {
        self.publisher.clone()
    }

    async fn subscribe_with(
        &self,
        group: &str,
        topics: &[&str],
        start: StartAt,
        durability: Durability,
        latency: Latency,
    ) -> anyhow::Result<Box<dyn Subscription>> {
        let group_id = match durability {
            Durability::Durable => group.to_owned(),
            // Its own group: every process (and every live subscription) sees every event.
            Durability::Live => format!("{group}.{}", uuid::Uuid::now_v7().simple()),
        };
        let consumer: Arc<StreamConsumer> = Arc::new(
            self.settings
                .consumer_config(&group_id, start, latency)
                .create()
                .with_context(|| format!("creating the Kafka consumer of {group_id}"))?,
        );
        let topics: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
        let mut next = HashMap::new();
        match durability {
            Durability::Durable => {
                let names: Vec<&str> = topics.iter().map(String::as_str).collect();
                consumer
                    .subscribe(&names)
                    .with_context(|| format!("subscribing {group_id} to {topics:?}"))?;
            }
            Durability::Live => {
                // Resolves where to start now, so nothing published after this is missed.
                let (c, t) = (consumer.clone(), topics.clone());
                next = tokio::task::spawn_blocking(move || live_positions(&c, &t, start))
                    .await
                    .context("assigning a live Kafka subscription")??;
                let mut assignment = TopicPartitionList::new();
                for ((topic, partition), offset) in &next {
                    assignment.add_partition_offset(topic, *partition, Offset::Offset(*offset))?;
                }
                consumer
                    .assign(&assignment)
                    .with_context(|| format!("assigning {topics:?} to {group_id}"))?;
            }
        }
        Ok(Box::new(KafkaSubscription {
            consumer: Some(consumer),
            durability,
            topics,
            next,
        }))
    }

    async fn dead_letter(
        &self,
        group: &str,
        delivery: &Delivery,
        error: &str,
    ) -> anyhow::Result<()> {
        let (partition, offset) = (delivery.partition.to_string(), delivery.offset.to_string());
        let headers = OwnedHeaders::new_with_capacity(5)
            .insert(Header {
                key: DLQ_GROUP,
                value: Some(group),
            })
            .insert(Header {
                key: DLQ_ERROR,
                value: Some(error),
            })
            .insert(Header {
                key: DLQ_TOPIC,
                value: Some(delivery.topic.as_str()),
            })
            .insert(Header {
                key: DLQ_PARTITION,
                value: Some(partition.as_str()),
            })
            .insert(Header {
                key: DLQ_OFFSET,
                value: Some(offset.as_str()),
            });
        let mut message = FutureRecord::to(DEAD_LETTER_TOPIC)
            .payload(delivery.payload.as_slice())
            .headers(headers);
        if let Some(key) = &delivery.key {
            message = message.key(key.as_bytes());
        }
        let producer = self.publisher.producer();
        let sent = producer.send(message, REQUEST_TIMEOUT).await;
        if let Err((err, _)) = sent {
            self.publisher.renew_if_fatal(&producer);
            anyhow::bail!("dead-lettering {}: {err}", delivery.topic);
        }
        Ok(())
    }

    async fn ping(&self) -> anyhow::Result<()> {
        let producer = self.publisher.producer();
        tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(Some(crate::types::USERS_TOPIC), Duration::from_secs(2))
        })
        .await
        .context("asking the Kafka brokers for metadata")?
        .context("asking the Kafka brokers for metadata")?;
        Ok(())
    }
}

/// Every partition of `topics` and the offset a live reader starts from.
fn live_positions(
    consumer: &StreamConsumer,
    topics: &[String],
    start: StartAt,
) -> anyhow::Result<HashMap<(String, i32), i64>> {
    let mut positions = HashMap::new();
    for (topic, partition) in partitions(consumer, topics)? {
        let (low, high) = consumer
            .fetch_watermarks(&topic, partition, REQUEST_TIMEOUT)
            .with_context(|| format!("watermarks of {topic}/{partition}"))?;
        let offset = match start {
            StartAt::Earliest => low,
            StartAt::Latest => high,
        };
        positions.insert((topic, partition), offset);
    }
    Ok(positions)
}

/// Every `(topic, partition)` of `topics`.
fn partitions(consumer: &StreamConsumer, topics: &[String]) -> anyhow::Result<Vec<(String, i32)>> {
    let mut out = Vec::new();
    for topic in topics {
        let metadata = consumer
            .fetch_metadata(Some(topic), REQUEST_TIMEOUT)
            .with_context(|| format!("metadata of {topic}"))?;
        for t in metadata.topics() {
            if let Some(err) = t.error() {
                anyhow::bail!("metadata of {topic}: {:?}", RDKafkaErrorCode::from(err));
            }
            out.extend(t.partitions().iter().map(|p| (t.name().to_owned(), p.id())));
        }
    }
    Ok(out)
}

struct KafkaSubscription {
    /// Always set; taken only by `drop`.
    consumer: Option<Arc<StreamConsumer>>,
    durability: Durability,
    topics: Vec<String>,
    /// Live subscriptions: the next offset to read per partition (their lag).
    next: HashMap<(String, i32), i64>,
}

impl KafkaSubscription {
    fn consumer(&self) -> anyhow::Result<Arc<StreamConsumer>> {
        self.consumer
            .clone()
            .ok_or_else(|| anyhow::anyhow!("the Kafka subscription is closed"))
    }
}

fn delivery_of<M: Message>(message: &M) -> Delivery {
    Delivery {
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
        key: message
            .key()
            .map(|key| String::from_utf8_lossy(key).into_owned()),
        payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
    }
}

#[async_trait]
impl Subscription for KafkaSubscription {
    async fn poll(&mut self) -> anyhow::Result<Vec<Delivery>> {
        let consumer = self.consumer()?;
        let first = consumer
            .recv()
            .await
            .context("receiving from the Kafka brokers")?;
        let mut batch = vec![delivery_of(&first)];
        drop(first);
        while batch.len() < MAX_BATCH {
            match consumer.recv().now_or_never() {
                Some(Ok(message)) => batch.push(delivery_of(&message)),
                Some(Err(err)) => {
                    // Not a message: delivers what came before; the next poll reports it.
                    tracing::debug!(error = %err, "Kafka consumer error while draining");
                    break;
                }
                None => break,
            }
        }
        if self.durability == Durability::Live {
            for delivery in &batch {
                self.next.insert(
                    (delivery.topic.clone(), delivery.partition),
                    delivery.offset + 1,
                );
            }
        }
        Ok(batch)
    }

    async fn commit(&mut self, delivery: &Delivery) -> anyhow::Result<()> {
        if self.durability == Durability::Live {
            return Ok(());
        }
        let consumer = self.consumer()?;
        let mut offsets = TopicPartitionList::new();
        offsets.add_partition_offset(
            &delivery.topic,
            delivery.partition,
            Offset::Offset(delivery.offset + 1),
        )?;
        // librdkafka's synchronous commit waits as long as the group coordinator is away,
        // with no deadline of its own. On a thread of its own (not the runtime's blocking
        // pool, which a stopping runtime waits for) and with a deadline here, a commit during
        // a broker outage is reported as failed — the events come again, and handlers
        // tolerate repeats — instead of holding up the consumer or the process's shutdown.
        let (done, result) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("kafka-commit".into())
            .spawn(move || {
                let _ = done.send(consumer.commit(&offsets, CommitMode::Sync));
            })
            .context("starting a Kafka commit")?;
        let what = || {
            format!(
                "committing {}/{} offset {}",
                delivery.topic,
                delivery.partition,
                delivery.offset + 1
            )
        };
        match tokio::time::timeout(COMMIT_TIMEOUT, result).await {
            Ok(Ok(committed)) => committed.with_context(what),
            Ok(Err(_)) => {
                Err(anyhow::anyhow!("the commit thread ended without an answer")).with_context(what)
            }
            Err(_) => Err(anyhow::anyhow!(
                "no answer within {} s (is the broker down?)",
                COMMIT_TIMEOUT.as_secs()
            ))
            .with_context(what),
        }
    }

    async fn lag(&mut self) -> anyhow::Result<Vec<(String, i64)>> {
        let consumer = self.consumer()?;
        let (topics, durability, next) = (self.topics.clone(), self.durability, self.next.clone());
        tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<(String, i64)>> {
            let all = partitions(&consumer, &topics)?;
            let committed = match durability {
                Durability::Durable => {
                    let mut list = TopicPartitionList::new();
                    for (topic, partition) in &all {
                        list.add_partition(topic, *partition);
                    }
                    consumer
                        .committed_offsets(list, REQUEST_TIMEOUT)
                        .context("committed offsets")?
                        .to_topic_map()
                        .into_iter()
                        .filter_map(|(tp, offset)| match offset {
                            Offset::Offset(o) => Some((tp, o)),
                            _ => None,
                        })
                        .collect()
                }
                Durability::Live => next,
            };
            let mut lags: Vec<(String, i64)> = topics.iter().map(|t| (t.clone(), 0)).collect();
            for (topic, partition) in all {
                let (low, high) = consumer
                    .fetch_watermarks(&topic, partition, REQUEST_TIMEOUT)
                    .with_context(|| format!("watermarks of {topic}/{partition}"))?;
                let done = committed
                    .get(&(topic.clone(), partition))
                    .copied()
                    .unwrap_or(low)
                    .max(low);
                if let Some(entry) = lags.iter_mut().find(|(t, _)| *t == topic) {
                    entry.1 += (high - done).max(0);
                }
            }
            Ok(lags)
        })
        .await
        .context("measuring Kafka consumer lag")?
    }
}

impl Drop for KafkaSubscription {
    fn drop(&mut self) {
        let Some(consumer) = self.consumer.take() else {
            return;
        };
        // A member that leaves its group cleanly hands its partitions over at once; one that
        // just vanishes holds them until its session times out. Closing blocks until the
        // broker answers, so it runs on a thread of its own, waited for a bounded time (a
        // broker that is down must not hold up a shutdown).
        let (done, closed) = std::sync::mpsc::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name("kafka-consumer-close".into())
            .spawn(move || {
                drop(consumer);
                let _ = done.send(());
            });
        if let Err(err) = spawned {
            tracing::warn!(error = %err, "closing a Kafka consumer");
            return;
        }
        let wait = || {
            if closed.recv_timeout(CLOSE_TIMEOUT).is_err() {
                tracing::warn!(
                    "a Kafka consumer did not close in time; it closes in the background"
                );
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::Headers;

    #[test]
    fn the_cloudevent_id_type_and_trace_context_travel_as_headers() {
        let record = OutboxRecord {
            seq: 1,
            topic: crate::types::POSTS_TOPIC.into(),
            key: "p1".into(),
            event_type: "dev.socialdevs.post.created.v1".into(),
            payload: serde_json::json!({
                "id": "0190c6d2-0000-7000-8000-000000000001",
                "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "tracestate": "congo=t61rcWkgMzE",
            })
            .to_string(),
            created_at: chrono::Utc::now(),
        };
        let headers = headers_of(&record, EventHeaders::All);
        let map: HashMap<String, String> = headers
            .iter()
            .map(|h| {
                (
                    h.key.to_owned(),
                    String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                )
            })
            .collect();
        assert_eq!(map["ce_id"], "0190c6d2-0000-7000-8000-000000000001");
        assert_eq!(map["ce_type"], "dev.socialdevs.post.created.v1");
        assert_eq!(
            map["traceparent"],
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        assert_eq!(map["tracestate"], "congo=t61rcWkgMzE");

        let garbage = OutboxRecord {
            payload: "not json".into(),
            ..record
        };
        let headers = headers_of(&garbage, EventHeaders::All);
        assert_eq!(headers.count(), 2, "content type and type only");
    }

    #[test]
    fn background_subscriptions_let_the_broker_wait_longer() {
        let settings = KafkaSettings {
            fetch_wait: Duration::from_millis(20),
            background_fetch_wait: Duration::from_millis(250),
            ..KafkaSettings::default()
        };
        let wait = |latency| {
            settings
                .consumer_config("g", StartAt::Latest, latency)
                .get("fetch.wait.max.ms")
                .map(str::to_owned)
        };
        assert_eq!(wait(Latency::Interactive).as_deref(), Some("20"));
        assert_eq!(wait(Latency::Background).as_deref(), Some("250"));
    }

    #[test]
    fn content_type_only_leaves_the_rest_to_the_payload() {
        let record = OutboxRecord {
            seq: 1,
            topic: crate::types::POSTS_TOPIC.into(),
            key: "p1".into(),
            event_type: "dev.socialdevs.post.created.v1".into(),
            payload: serde_json::json!({"id": "x", "traceparent": "y"}).to_string(),
            created_at: chrono::Utc::now(),
        };
        let headers = headers_of(&record, EventHeaders::ContentType);
        assert_eq!(headers.count(), 1);
        assert_eq!(headers.get(0).key, "content-type");
        assert_eq!(
            "content-type".parse::<EventHeaders>().unwrap(),
            EventHeaders::ContentType
        );
        assert_eq!(" all ".parse::<EventHeaders>().unwrap(), EventHeaders::All);
        assert!("some".parse::<EventHeaders>().is_err());
    }
}
