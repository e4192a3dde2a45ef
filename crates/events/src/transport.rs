//! The consumer side of a transport: subscriptions that deliver what relays published.
//!
//! Two transports implement it with the same guarantees, held by one conformance suite
//! (`tests/transport.rs`): per-key order, at-least-once delivery, redelivery of whatever a
//! group had not committed when it stopped (crash included), and no redelivery of what it
//! had committed.

use std::sync::Arc;

use async_trait::async_trait;

use crate::envelope::CloudEvent;
use crate::outbox::{LogSink, Publisher};

/// One message as delivered to a subscription.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Topic.
    pub topic: String,
    /// Partition (always 0 on the embedded transport).
    pub partition: i32,
    /// Offset within the partition (embedded: the log position).
    pub offset: i64,
    /// Partition key.
    pub key: Option<String>,
    /// The raw structured-mode CloudEvent.
    pub payload: Vec<u8>,
}

impl Delivery {
    /// The envelope, or why it cannot be read (a poison message).
    pub fn event(&self) -> Result<CloudEvent, serde_json::Error> {
        CloudEvent::from_bytes(&self.payload)
    }
}

/// Where a subscription with no stored offset starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// The oldest retained message (durable consumers).
    Earliest,
    /// Only what is published from now on (live feeds).
    Latest,
}

/// What a subscription is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// A named consumer group whose committed offsets survive restarts.
    Durable,
    /// A process-local reader: offsets live in memory only; each process reads everything.
    Live,
}

/// How soon a subscription needs what is published: how often a transport that polls its
/// broker asks (Kafka's `fetch.wait.max.ms`). Transports that hand events over at once (the
/// embedded one) ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latency {
    /// Someone is watching: live streams of home timelines and notifications.
    Interactive,
    /// Caches, fan-out, stored notifications, devices: a fraction of a second is fine, and
    /// the broker is asked several times less often.
    Background,
}

/// An open subscription to some topics.
#[async_trait]
pub trait Subscription: Send {
    /// The next messages in order (per partition), waiting until there is at least one.
    async fn poll(&mut self) -> anyhow::Result<Vec<Delivery>>;
    /// Records that `delivery` and everything before it in its partition are processed.
    async fn commit(&mut self, delivery: &Delivery) -> anyhow::Result<()>;
    /// [`commit`](Subscription::commit), but the transport may hold the offset a moment and
    /// store it with later ones (a crash then redelivers a little more: consumers tolerate
    /// repeats); [`flush`](Subscription::flush) stores what is held. By default, at once.
    async fn commit_soon(&mut self, delivery: &Delivery) -> anyhow::Result<()> {
        self.commit(delivery).await
    }
    /// Stores every offset [`commit_soon`](Subscription::commit_soon) still holds.
    async fn flush(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
    /// Messages published but not yet committed by this subscription, per topic.
    async fn lag(&mut self) -> anyhow::Result<Vec<(String, i64)>>;
}

/// A transport: what relays publish to and consumers subscribe to.
#[async_trait]
pub trait Transport: Send + Sync {
    /// `embedded` or `kafka`, for logs and metrics.
    fn name(&self) -> &'static str;
    /// The publisher the relays use.
    fn publisher(&self) -> Arc<dyn Publisher>;
    /// Where outboxes that are this transport's log hand their rows directly (the embedded
    /// transport on SQLite; see [`LogSink`]); `None` when relays publish them.
    fn log_sink(&self) -> Option<Arc<dyn LogSink>> {
        None
    }
    /// Opens a subscription of `group` to `topics` that needs events within `latency` (a
    /// transport that polls its broker asks less often for background work; one that hands
    /// events over at once ignores it).
    async fn subscribe_with(
        &self,
        group: &str,
        topics: &[&str],
        start: StartAt,
        durability: Durability,
        latency: Latency,
    ) -> anyhow::Result<Box<dyn Subscription>>;
    /// [`subscribe_with`](Transport::subscribe_with) for interactive use.
    async fn subscribe(
        &self,
        group: &str,
        topics: &[&str],
        start: StartAt,
        durability: Durability,
    ) -> anyhow::Result<Box<dyn Subscription>> {
        self.subscribe_with(group, topics, start, durability, Latency::Interactive)
            .await
    }
    /// Keeps a message that cannot be handled, with why, so the consumer can move on.
    async fn dead_letter(
        &self,
        group: &str,
        delivery: &Delivery,
        error: &str,
    ) -> anyhow::Result<()>;
    /// Checks that the transport answers (for `/readyz`).
    async fn ping(&self) -> anyhow::Result<()>;
}
