//! Live events over Redis pub/sub, beside a broker that keeps the durable log.
//!
//! What people watch (home timeline and notification streams) needs each event in every
//! process at once, once, from now on — not a durable log read by polling: a broker answers a
//! poll only after its fetch wait, so every live delivery paid one or two waits, and every
//! process's live reader kept the broker busy polling. [`RedisLive`] wraps the broker's
//! transport: its relays hand each outbox batch to a live sender, which publishes it to Redis
//! channels (`PUBLISH <namespace>:live:<topic>`, the CloudEvent JSON as the message), then
//! publish it to the broker; [`Durability::Live`] subscriptions read the channels, and durable
//! ones the broker, as before. A slow or unreachable Redis never holds up the broker: the
//! live sender is a task of its own behind a bounded queue.
//!
//! Guarantees of a live subscription are those of a live feed: what is published while it is
//! connected arrives once, in publish order; what is published while Redis is unreachable is
//! not delivered live (the stores and timelines still have it, through the broker), and neither
//! is an event that waited more than [`LIVE_MAX_AGE`] for Redis — so nothing from before an
//! outage is published once Redis is back. The relay retries a batch the broker refused, so
//! each topic remembers the highest outbox position it sent live and a retried batch goes out
//! live only once.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use futures::{FutureExt, Stream, StreamExt};
use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::metrics::LIVE_PUBLISH_FAILURES_TOTAL;
use crate::outbox::{OutboxRecord, Publisher};
use crate::transport::{Delivery, Durability, Latency, StartAt, Subscription, Transport};

/// How long publishing or subscribing waits for Redis before giving up.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// Most messages handed over by one poll, or published in one round trip.
const MAX_BATCH: usize = 512;
/// Batches that may wait for the live sender before new ones are not sent live.
const LIVE_QUEUE: usize = 256;
/// The longest an event waits for Redis and is still published live: later, the people
/// watching have seen it through their stores, or stopped waiting.
pub const LIVE_MAX_AGE: Duration = Duration::from_secs(5);

/// A transport whose live subscriptions read Redis pub/sub, everything else the wrapped one.
pub struct RedisLive {
    inner: Arc<dyn Transport>,
    client: redis::Client,
    prefix: String,
    publisher: Arc<LivePublisher>,
}

impl RedisLive {
    /// Wraps `inner`; channels are named `<namespace>:live:<topic>` on the Redis at `url`.
    /// Starts the live sender on the current Tokio runtime.
    pub fn new(inner: Arc<dyn Transport>, url: &str, namespace: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("parsing SOCIALDEVS_REDIS_URL")?;
        let prefix = format!("{namespace}:live:");
        let publisher = Arc::new(LivePublisher::start(
            inner.publisher(),
            client.clone(),
            prefix.clone(),
        ));
        Ok(Self {
            inner,
            client,
            prefix,
            publisher,
        })
    }

    /// The channel `topic`'s events go to.
    pub fn channel(&self, topic: &str) -> String {
        format!("{}{topic}", self.prefix)
    }
}

/// One message for a live channel.
type LiveMessage = (String, Vec<u8>);

/// Messages handed to the live sender together, and when.
struct LiveBatch {
    at: Instant,
    messages: Vec<LiveMessage>,
}

/// Hands each batch to the live sender (Redis), then publishes it durably (the wrapped
/// publisher). The live sender is a task of its own behind a bounded queue, so a slow or
/// unreachable Redis never holds up the durable path: when the queue is full, batches are
/// not sent live (and counted).
struct LivePublisher {
    inner: Arc<dyn Publisher>,
    prefix: String,
    queue: mpsc::Sender<LiveBatch>,
    /// Per topic, the highest outbox position already sent live.
    sent: Mutex<HashMap<String, i64>>,
}

impl LivePublisher {
    /// Starts the live sender (on the current Tokio runtime).
    fn start(inner: Arc<dyn Publisher>, client: redis::Client, prefix: String) -> Self {
        let (queue, batches) = mpsc::channel(LIVE_QUEUE);
        tokio::spawn(send_live(client, batches));
        Self {
            inner,
            prefix,
            queue,
            sent: Mutex::new(HashMap::new()),
        }
    }

    /// The messages for the records of `records` not sent live before, marking them sent.
    fn unsent(&self, records: &[OutboxRecord]) -> Vec<LiveMessage> {
        let mut sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
        records
            .iter()
            .filter(|r| {
                let last = sent.entry(r.topic.clone()).or_insert(i64::MIN);
                if r.seq > *last {
                    *last = r.seq;
                    true
                } else {
                    false
                }
            })
            .map(|r| {
                (
                    format!("{}{}", self.prefix, r.topic),
                    r.payload.as_bytes().to_vec(),
                )
            })
            .collect()
    }
}

/// Publishes the queued batches in order, several per round trip, on one connection, which it
/// opens again after a failure. A batch that fails is dropped, and so is one that waited more
/// than [`LIVE_MAX_AGE`]: live events are not worth delivering late.
async fn send_live(client: redis::Client, mut batches: mpsc::Receiver<LiveBatch>) {
    let mut conn: Option<MultiplexedConnection> = None;
    while let Some(first) = batches.recv().await {
        let mut round = vec![first];
        let mut count = round[0].messages.len();
        while count < MAX_BATCH {
            match batches.try_recv() {
                Ok(more) => {
                    count += more.messages.len();
                    round.push(more);
                }
                Err(_) => break,
            }
        }
        if let Err(err) = publish_live(&client, &mut conn, round).await {
            conn = None;
            metrics::counter!(LIVE_PUBLISH_FAILURES_TOTAL).increment(1);
            tracing::warn!(error = %format!("{err:#}"), events = count,
                "live events not published (streams miss them; stores get them)");
        }
    }
}

/// Publishes `round` on `conn`, connecting first if there is none. Only what is younger than
/// [`LIVE_MAX_AGE`] once connected is published, so that nothing from before a Redis outage
/// goes out after it.
async fn publish_live(
    client: &redis::Client,
    conn: &mut Option<MultiplexedConnection>,
    round: Vec<LiveBatch>,
) -> anyhow::Result<()> {
    let conn = match conn {
        Some(conn) => conn,
        None => {
            // One attempt: the next batch is the next attempt.
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(REDIS_TIMEOUT))
                .set_response_timeout(Some(REDIS_TIMEOUT));
            let fresh = tokio::time::timeout(
                REDIS_TIMEOUT.saturating_mul(2),
                client.get_multiplexed_async_connection_with_config(&config),
            )
            .await
            .context("connecting to Redis timed out")?
            .context("connecting to Redis")?;
            conn.insert(fresh)
        }
    };
    let now = Instant::now();
    let mut pipe = redis::pipe();
    let mut stale = 0;
    for batch in round {
        if now.saturating_duration_since(batch.at) > LIVE_MAX_AGE {
            stale += batch.messages.len();
            continue;
        }
        for (channel, payload) in batch.messages {
            pipe.cmd("PUBLISH").arg(channel).arg(payload).ignore();
        }
    }
    if stale > 0 {
        metrics::counter!(LIVE_PUBLISH_FAILURES_TOTAL).increment(1);
        tracing::warn!(
            events = stale,
            "live events not published: they waited too long for Redis (streams miss them; \
             stores get them)"
        );
    }
    if pipe.is_empty() {
        return Ok(());
    }
    tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async::<()>(conn))
        .await
        .context("publishing to Redis timed out")?
        .context("publishing to Redis")
}

#[async_trait]
impl Publisher for LivePublisher {
    async fn publish(&self, records: &[OutboxRecord]) -> anyhow::Result<()> {
        // Live first: the events are committed, and people are waiting for them; the broker's
        // acknowledgement can take a fetch wait of its own.
        let unsent = self.unsent(records);
        if !unsent.is_empty() {
            let count = unsent.len();
            let batch = LiveBatch {
                at: Instant::now(),
                messages: unsent,
            };
            if self.queue.try_send(batch).is_err() {
                metrics::counter!(LIVE_PUBLISH_FAILURES_TOTAL).increment(1);
                tracing::warn!(
                    events = count,
                    "live events not published: Redis is behind (streams miss them; stores get them)"
                );
            }
        }
        self.inner.publish(records).await
    }

    async fn flush(&self, timeout: Duration) -> anyhow::Result<()> {
        self.inner.flush(timeout).await
    }

    fn batch_committed(&self, topic: &str) {
        self.inner.batch_committed(topic);
    }

    async fn consumed_up_to(&self, topic: &str) -> anyhow::Result<Option<i64>> {
        self.inner.consumed_up_to(topic).await
    }
}

type Messages = Pin<Box<dyn Stream<Item = redis::Msg> + Send>>;

/// A live subscription: the channels of its topics, on a connection of its own.
struct LiveSubscription {
    client: redis::Client,
    /// Channel name → topic.
    topics: HashMap<String, String>,
    messages: Option<Messages>,
    /// Delivery positions (per subscription; nothing is committed).
    next: i64,
}

impl LiveSubscription {
    async fn connect(&mut self) -> anyhow::Result<()> {
        let channels: Vec<&String> = self.topics.keys().collect();
        let client = self.client.clone();
        let mut pubsub = tokio::time::timeout(REDIS_TIMEOUT, client.get_async_pubsub())
            .await
            .context("connecting to Redis for live events timed out")?
            .context("connecting to Redis for live events")?;
        tokio::time::timeout(REDIS_TIMEOUT, pubsub.subscribe(channels))
            .await
            .context("subscribing to live events timed out")?
            .context("subscribing to live events")?;
        self.messages = Some(Box::pin(pubsub.into_on_message()));
        Ok(())
    }

    fn delivery(&mut self, msg: &redis::Msg) -> Option<Delivery> {
        let topic = self.topics.get(msg.get_channel_name())?.clone();
        let offset = self.next;
        self.next += 1;
        Some(Delivery {
            topic,
            partition: 0,
            offset,
            key: None,
            payload: msg.get_payload_bytes().to_vec(),
        })
    }
}

#[async_trait]
impl Subscription for LiveSubscription {
    async fn poll(&mut self) -> anyhow::Result<Vec<Delivery>> {
        if self.messages.is_none() {
            // Lost (Redis restarted): subscribe again; what was published meanwhile is gone.
            self.connect().await?;
        }
        let Some(messages) = self.messages.as_mut() else {
            anyhow::bail!("no live subscription");
        };
        let Some(first) = messages.next().await else {
            self.messages = None;
            anyhow::bail!("the Redis connection for live events closed");
        };
        let mut batch = vec![first];
        // Whatever else has already arrived goes in the same batch.
        while batch.len() < MAX_BATCH {
            match messages.next().now_or_never() {
                Some(Some(msg)) => batch.push(msg),
                Some(None) => {
                    self.messages = None;
                    break;
                }
                None => break,
            }
        }
        Ok(batch.iter().filter_map(|m| self.delivery(m)).collect())
    }

    async fn commit(&mut self, _delivery: &Delivery) -> anyhow::Result<()> {
        Ok(())
    }

    async fn lag(&mut self) -> anyhow::Result<Vec<(String, i64)>> {
        Ok(Vec::new())
    }
}

#[async_trait]
impl Transport for RedisLive {
    fn name(&self) -> &'static str {
        self.inner.name()
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
        if durability == Durability::Durable || start == StartAt::Earliest {
            return self
                .inner
                .subscribe_with(group, topics, start, durability, latency)
                .await;
        }
        let mut subscription = LiveSubscription {
            client: self.client.clone(),
            topics: topics
                .iter()
                .map(|t| (self.channel(t), (*t).to_owned()))
                .collect(),
            messages: None,
            next: 0,
        };
        // Subscribed before returning, so everything published from here on arrives.
        subscription.connect().await?;
        Ok(Box::new(subscription))
    }

    async fn dead_letter(
        &self,
        group: &str,
        delivery: &Delivery,
        error: &str,
    ) -> anyhow::Result<()> {
        self.inner.dead_letter(group, delivery, error).await
    }

    async fn ping(&self) -> anyhow::Result<()> {
        self.inner.ping().await
    }
}

#[cfg(test)]
mod tests {
    use socialdevs_testkit::redis::RedisServer;

    use super::*;

    fn batch(age: Duration, payload: &str, channel: &str) -> LiveBatch {
        LiveBatch {
            at: Instant::now() - age,
            messages: vec![(channel.to_owned(), payload.as_bytes().to_vec())],
        }
    }

    /// What waited longer than `LIVE_MAX_AGE` for Redis is dropped; the rest of the round
    /// goes out, in order.
    #[tokio::test]
    async fn events_that_waited_too_long_are_not_published() {
        let redis = RedisServer::start();
        let client = redis::Client::open(redis.url()).unwrap();
        let channel = format!("{}:live:test", redis.namespace());
        let mut pubsub = client.get_async_pubsub().await.unwrap();
        pubsub.subscribe(&channel).await.unwrap();
        let mut messages = pubsub.into_on_message();

        let mut conn = None;
        let round = vec![
            batch(Duration::ZERO, "fresh-1", &channel),
            batch(LIVE_MAX_AGE + Duration::from_secs(1), "stale", &channel),
            batch(LIVE_MAX_AGE / 2, "fresh-2", &channel),
        ];
        publish_live(&client, &mut conn, round).await.unwrap();
        publish_live(
            &client,
            &mut conn,
            vec![batch(Duration::ZERO, "last", &channel)],
        )
        .await
        .unwrap();

        let mut got = Vec::new();
        while got.len() < 3 {
            let msg = tokio::time::timeout(REDIS_TIMEOUT, messages.next())
                .await
                .expect("a published message arrives")
                .expect("the subscription stays open");
            got.push(String::from_utf8(msg.get_payload_bytes().to_vec()).unwrap());
        }
        assert_eq!(got, ["fresh-1", "fresh-2", "last"]);
    }
}
