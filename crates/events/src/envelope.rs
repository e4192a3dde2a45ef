//! The CloudEvents 1.0 envelope (structured JSON mode) every SocialDevs event travels in, and
//! the trace spans around producing and consuming one.
//!
//! Tracing: an event is stamped, when it is written to the outbox, with the CloudEvents
//! distributed-tracing extension (`traceparent`, `tracestate`) of the span that caused it; the
//! relay publishes it inside a producer span ([`publish_span`]) and consumers continue the
//! trace with [`consumer_span`].

use chrono::{DateTime, Utc};
use opentelemetry::trace::TraceContextExt;
use serde::{Deserialize, Serialize};
use socialdevs_platform::telemetry::propagation;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use uuid::Uuid;

use crate::types::EventType;

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
    /// The payload: one of the versioned types of [`crate::types`].
    pub data: serde_json::Value,
    /// Distributed-tracing extension: the W3C trace context of the span that produced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// Distributed-tracing extension: vendor trace state that goes with `traceparent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracestate: Option<String>,
}

impl CloudEvent {
    /// A new event of `kind` about `subject` from `service`, with no trace context.
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

    /// The envelope of a versioned event, stamped with the current span's trace context:
    /// what a store writes to its outbox.
    pub fn of<E: EventType>(event: &E, time: DateTime<Utc>) -> Self {
        let data = serde_json::to_value(event).unwrap_or(serde_json::Value::Null);
        let mut envelope = Self::new(E::SERVICE, E::TYPE, event.key(), data);
        envelope.time = time;
        envelope.stamp_current_trace();
        envelope
    }

    /// Records the current span's (or request's) trace context as the parent of this event.
    pub fn stamp_current_trace(&mut self) {
        if let Some(sc) = propagation::current_trace() {
            self.traceparent = Some(propagation::format_traceparent(&sc));
            let state = sc.trace_state().header();
            self.tracestate = (!state.is_empty()).then_some(state);
        }
    }

    /// The producer's trace context carried by the event, if any and valid.
    pub fn trace_context(&self) -> Option<opentelemetry::trace::SpanContext> {
        propagation::parse_traceparent(self.traceparent.as_deref()?, self.tracestate.as_deref())
    }

    /// The payload as the versioned type `E`, when this event is of that type.
    pub fn decode<E: EventType>(&self) -> Option<Result<E, serde_json::Error>> {
        (self.kind == E::TYPE).then(|| serde_json::from_value(self.data.clone()))
    }

    /// The JSON bytes of the structured-mode envelope.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses a structured-mode envelope.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

fn with_parent(span: Span, event: &CloudEvent) -> Span {
    if let Some(parent) = event.trace_context() {
        // Fails only when traces are off: then there is no span to attach.
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(parent));
    }
    span
}

/// Whether anything records the spans [`publish_span`] makes (with traces off nothing does,
/// and the relay need not decode each event to make one).
pub fn publish_spans_enabled() -> bool {
    tracing::span_enabled!(tracing::Level::INFO)
}

/// A producer span (`publish <type>`) for the relay sending `event` to `destination`, child
/// of the span that wrote it to the outbox.
pub fn publish_span(event: &CloudEvent, destination: &str) -> Span {
    let span = tracing::info_span!(
        "event_publish",
        otel.name = %format_args!("publish {}", event.kind),
        otel.kind = "producer",
        messaging.operation.type = "send",
        messaging.destination.name = %destination,
        messaging.message.id = %event.id,
        cloudevents.event_id = %event.id,
        cloudevents.event_source = %event.source,
        cloudevents.event_type = %event.kind,
        cloudevents.event_subject = %event.subject,
    );
    with_parent(span, event)
}

/// A consumer span (`process <type>`) for handling `event`, child of the span that produced
/// it. `consumer` names who handles it, e.g. `timeline.live`. Enter it (or `.instrument` the
/// handling future with it) while processing the event.
pub fn consumer_span(event: &CloudEvent, consumer: &str) -> Span {
    let span = tracing::info_span!(
        "event_process",
        otel.name = %format_args!("process {}", event.kind),
        otel.kind = "consumer",
        messaging.operation.type = "process",
        messaging.destination.name = %event.kind,
        messaging.consumer.group.name = %consumer,
        messaging.message.id = %event.id,
        cloudevents.event_id = %event.id,
        cloudevents.event_type = %event.kind,
        cloudevents.event_subject = %event.subject,
    );
    with_parent(span, event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trace_context_travels_as_cloudevents_extension_attributes() {
        let mut event = CloudEvent::new(
            "posts",
            "dev.socialdevs.post.created.v1",
            "p1",
            serde_json::json!({}),
        );
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["specversion"], "1.0");
        assert_eq!(json["type"], "dev.socialdevs.post.created.v1");
        assert!(
            json.get("traceparent").is_none(),
            "absent when there is no trace"
        );
        assert!(event.trace_context().is_none());

        event.traceparent = Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into());
        let back = CloudEvent::from_bytes(&event.to_bytes()).unwrap();
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

    #[test]
    fn stamping_outside_any_trace_leaves_the_extension_out() {
        let mut event = CloudEvent::new("posts", "x", "p1", serde_json::json!({}));
        event.stamp_current_trace();
        assert_eq!(event.traceparent, None);
    }
}
