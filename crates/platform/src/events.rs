//! Domain events as CloudEvents 1.0 (structured JSON), and the event bus port.
//!
//! All-in-one runs the in-process bus below; the distributed adapter (Kafka) implements the
//! same trait. Publishing goes through each service's transactional outbox once event
//! streaming lands; today services publish right after their transaction commits.
//!
//! Tracing: [`publish_traced`] publishes inside a producer span and stamps the event with the
//! CloudEvents distributed-tracing extension (`traceparent`, `tracestate`), so whoever
//! consumes it, in process or later from Kafka, continues the trace with [`consumer_span`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use opentelemetry::trace::TraceContextExt;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tracing::{Instrument, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use uuid::Uuid;

use crate::telemetry::propagation;

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
    /// Distributed-tracing extension: the W3C trace context of the span that produced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// Distributed-tracing extension: vendor trace state that goes with `traceparent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracestate: Option<String>,
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
            traceparent: None,
            tracestate: None,
        }
    }

    /// The producer's trace context carried by the event, if any and valid.
    pub fn trace_context(&self) -> Option<opentelemetry::trace::SpanContext> {
        propagation::parse_traceparent(self.traceparent.as_deref()?, self.tracestate.as_deref())
    }
}

/// Publishes `event` inside a producer span (`publish <type>`) and records that span in the
/// event's `traceparent`, so consumers continue the trace. Every service publishes this way,
/// whatever the bus.
pub async fn publish_traced(bus: &dyn EventBus, mut event: CloudEvent) -> anyhow::Result<()> {
    let span = tracing::info_span!(
        "event_publish",
        otel.name = %format_args!("publish {}", event.kind),
        otel.kind = "producer",
        messaging.operation.type = "send",
        messaging.destination.name = %event.kind,
        messaging.message.id = %event.id,
        cloudevents.event_id = %event.id,
        cloudevents.event_source = %event.source,
        cloudevents.event_type = %event.kind,
        cloudevents.event_subject = %event.subject,
    );
    if let Some(sc) = propagation::trace_of(&span) {
        event.traceparent = Some(propagation::format_traceparent(&sc));
        let state = sc.trace_state().header();
        event.tracestate = (!state.is_empty()).then_some(state);
    }
    bus.publish(event).instrument(span).await
}

/// A consumer span (`process <type>`) for handling `event`, child of the span that published
/// it. `consumer` names who handles it, e.g. `timeline.home_stream`. Enter it (or
/// `.instrument` the handling future with it) while processing the event.
pub fn consumer_span(event: &CloudEvent, consumer: &'static str) -> Span {
    let span = tracing::info_span!(
        "event_process",
        otel.name = %format_args!("process {}", event.kind),
        otel.kind = "consumer",
        messaging.operation.type = "process",
        messaging.destination.name = %event.kind,
        messaging.consumer.group.name = consumer,
        messaging.message.id = %event.id,
        cloudevents.event_id = %event.id,
        cloudevents.event_type = %event.kind,
        cloudevents.event_subject = %event.subject,
    );
    if let Some(parent) = event.trace_context() {
        // Fails only when traces are off: then there is no span to attach.
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(parent));
    }
    span
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

    #[test]
    fn the_trace_context_travels_as_cloudevents_extension_attributes() {
        let mut event = CloudEvent::new(
            "posts",
            "dev.socialdevs.post.created.v1",
            "p1",
            serde_json::json!({}),
        );
        let json = serde_json::to_value(&event).unwrap();
        assert!(
            json.get("traceparent").is_none(),
            "absent when there is no trace"
        );
        assert!(event.trace_context().is_none());

        event.traceparent = Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into());
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(
            json["traceparent"],
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        let back: CloudEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
        let sc = back.trace_context().unwrap();
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(sc.is_remote());

        event.traceparent = Some("not a traceparent".into());
        assert!(event.trace_context().is_none());
    }

    #[tokio::test]
    async fn publishing_outside_any_trace_leaves_the_extension_out() {
        let bus = InProcessBus::default();
        let mut rx = bus.subscribe();
        let event = CloudEvent::new(
            "posts",
            "dev.socialdevs.post.created.v1",
            "p1",
            serde_json::json!({}),
        );
        publish_traced(&bus, event).await.unwrap();
        assert_eq!(rx.recv().await.unwrap().traceparent, None);
    }
}
