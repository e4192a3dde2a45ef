//! Domain events as CloudEvents 1.0 (structured JSON), and the event bus port.
//!
//! All-in-one runs the in-process bus below; the distributed adapter (Kafka) implements the
//! same trait. Publishing goes through each service's transactional outbox once event
//! streaming lands; today services publish right after their transaction commits.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use uuid::Uuid;

/// A CloudEvents 1.0 envelope.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CloudEvent {
    /// Always `1.0`.
    pub specversion: String,
    /// Unique event id (UUIDv7); consumers deduplicate on it.
    pub id: Uuid,
    /// The producing service, e.g. `/socialdevs/posts`.
    pub source: String,
    /// e.g. `dev.socialdevs.post.created.v1`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When the change happened.
    pub time: DateTime<Utc>,
    /// The aggregate id the event is about (also the partition key).
    pub subject: String,
    /// Always `application/json`.
    pub datacontenttype: String,
    /// The payload.
    pub data: serde_json::Value,
}

impl CloudEvent {
    /// A new event of `kind` about `subject` from `service`.
    pub fn new(service: &str, kind: &str, subject: impl ToString, data: serde_json::Value) -> Self {
        Self {
            specversion: "1.0".into(),
            id: Uuid::now_v7(),
            source: format!("/socialdevs/{service}"),
            kind: kind.into(),
            time: Utc::now(),
            subject: subject.to_string(),
            datacontenttype: "application/json".into(),
            data,
        }
    }
}

/// The event bus port: publish events; subscribe to everything published.
#[async_trait]
pub trait EventBus: Send + Sync {
    /// Publishes one event. Returns once the bus has accepted it.
    async fn publish(&self, event: CloudEvent) -> anyhow::Result<()>;
    /// A live subscription to every event published from now on.
    fn subscribe(&self) -> broadcast::Receiver<CloudEvent>;
}

/// In-process bus for all-in-one mode: a broadcast channel.
#[derive(Clone)]
pub struct InProcessBus {
    sender: broadcast::Sender<CloudEvent>,
}

impl Default for InProcessBus {
    fn default() -> Self {
        let (sender, _) = broadcast::channel(1024);
        Self { sender }
    }
}

#[async_trait]
impl EventBus for InProcessBus {
    async fn publish(&self, event: CloudEvent) -> anyhow::Result<()> {
        // No subscriber is not an error: nobody is listening yet.
        let _ = self.sender.send(event);
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<CloudEvent> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_receive_published_events() {
        let bus = InProcessBus::default();
        let mut rx = bus.subscribe();
        let event = CloudEvent::new(
            "posts",
            "dev.socialdevs.post.created.v1",
            "p1",
            serde_json::json!({"x": 1}),
        );
        bus.publish(event.clone()).await.unwrap();
        assert_eq!(rx.recv().await.unwrap(), event);
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["specversion"], "1.0");
        assert_eq!(json["type"], "dev.socialdevs.post.created.v1");
    }
}
