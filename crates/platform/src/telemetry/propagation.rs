//! W3C trace context: which trace a request belongs to, and passing it on.
//!
//! Incoming requests continue the trace of their `traceparent` header, or start one. With
//! traces exported, the ids are those of the OpenTelemetry server span; without, the trace id
//! is the caller's (or a new random one) and the span id a new random one, so the request log
//! line has a `trace_id` either way and logs of services calling each other share it.
//!
//! Outgoing calls pass the trace on with [`inject_context`]; events carry it in their
//! `traceparent` extension attribute (see [`crate::events`]).

use std::collections::HashMap;
use std::future::Future;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags, TraceState};
use opentelemetry::Context;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
use tracing::instrument::Instrumented;
use tracing::{Instrument, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The W3C `traceparent` header.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// The W3C `tracestate` header.
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

tokio::task_local! {
    /// The trace of the request being handled, for when no OTel span carries it.
    static REQUEST_TRACE: SpanContext;
}

/// Reads a `traceparent` value (and an optional `tracestate`); `None` when absent or invalid.
pub fn parse_traceparent(traceparent: &str, tracestate: Option<&str>) -> Option<SpanContext> {
    let mut carrier = HashMap::with_capacity(2);
    carrier.insert("traceparent".to_owned(), traceparent.to_owned());
    if let Some(state) = tracestate {
        carrier.insert("tracestate".to_owned(), state.to_owned());
    }
    remote_span_context(&TraceContextPropagator::new().extract(&carrier))
}

/// The caller's trace context from request headers; `None` when absent or invalid.
pub fn extract(headers: &HeaderMap) -> Option<SpanContext> {
    remote_span_context(
        &TraceContextPropagator::new().extract(&opentelemetry_http::HeaderExtractor(headers)),
    )
}

fn remote_span_context(cx: &Context) -> Option<SpanContext> {
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| sc.clone())
}

/// The `traceparent` value for a span context: `00-<trace id>-<span id>-<flags>`.
pub fn format_traceparent(sc: &SpanContext) -> String {
    format!(
        "00-{}-{}-{:02x}",
        sc.trace_id(),
        sc.span_id(),
        sc.trace_flags() & TraceFlags::SAMPLED
    )
}

/// The OTel span context of a `tracing` span, when traces are exported and the span is on.
fn otel_span_context(span: &Span) -> Option<SpanContext> {
    remote_span_context(&span.context())
}

/// Makes `span` continue the trace in `headers` and returns the trace context the request
/// runs in: the OTel span's own when traces are exported, otherwise the caller's trace id
/// (or a new one) with a new span id.
pub fn continue_trace(span: &Span, headers: &HeaderMap) -> SpanContext {
    let remote = extract(headers);
    if let Some(parent) = &remote {
        // Fails only without the OTel layer (traces off) or for a disabled span.
        let _ = span.set_parent(Context::new().with_remote_span_context(parent.clone()));
    }
    if let Some(own) = otel_span_context(span) {
        return own;
    }
    let ids = RandomIdGenerator::default();
    match remote {
        Some(parent) => SpanContext::new(
            parent.trace_id(),
            ids.new_span_id(),
            parent.trace_flags(),
            false,
            parent.trace_state().clone(),
        ),
        None => SpanContext::new(
            ids.new_trace_id(),
            ids.new_span_id(),
            TraceFlags::default(),
            false,
            TraceState::default(),
        ),
    }
}

/// Runs `future` (a request) with `trace` as its fallback trace context, read by
/// [`current_trace`] when no OTel span is current.
pub async fn in_request_trace<F: Future>(trace: SpanContext, future: F) -> F::Output {
    REQUEST_TRACE.scope(trace, future).await
}

/// The trace context of `span` (when exported) or else of the request being handled.
pub fn trace_of(span: &Span) -> Option<SpanContext> {
    otel_span_context(span).or_else(|| REQUEST_TRACE.try_with(SpanContext::clone).ok())
}

/// The trace context to pass on from here: the current span's, else the current request's.
pub fn current_trace() -> Option<SpanContext> {
    trace_of(&Span::current())
}

/// The `traceparent` value naming `span` as the parent (see [`trace_of`]).
pub fn traceparent_for(span: &Span) -> Option<String> {
    trace_of(span).map(|sc| format_traceparent(&sc))
}

/// Writes `traceparent` (and `tracestate`, when there is one) for the current span into the
/// headers of an outgoing request, so the callee continues this trace. Works with any
/// `http` 1.x header map, e.g. reqwest 0.12's `RequestBuilder::headers`:
///
/// ```
/// let mut headers = axum::http::HeaderMap::new();
/// socialdevs_platform::telemetry::inject_context(&mut headers);
/// // Outside a request and a span there is nothing to pass on.
/// assert!(headers.is_empty());
/// ```
pub fn inject_context(headers: &mut HeaderMap) {
    let Some(sc) = current_trace() else {
        return;
    };
    if let Ok(value) = HeaderValue::from_str(&format_traceparent(&sc)) {
        headers.insert(TRACEPARENT, value);
    }
    let state = sc.trace_state().header();
    if !state.is_empty() {
        if let Ok(value) = HeaderValue::from_str(&state) {
            headers.insert(TRACESTATE, value);
        }
    }
}

/// A span for one store call: an OTel client span named after the operation, e.g.
/// `users.create_user`.
pub fn store_span(operation: &'static str) -> Span {
    tracing::info_span!(
        "store",
        otel.name = operation,
        otel.kind = "client",
        db.operation.name = operation,
    )
}

/// Runs a store call inside [`store_span`]:
/// `store_call("users.user_by_id", self.store.user_by_id(id)).await`.
pub fn store_call<F: Future>(operation: &'static str, call: F) -> Instrumented<F> {
    call.instrument(store_span(operation))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::SpanId;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn traceparent_round_trips() {
        let sc = parse_traceparent(PARENT, None).unwrap();
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(sc.span_id().to_string(), "00f067aa0ba902b7");
        assert!(sc.is_sampled());
        assert!(sc.is_remote());
        assert_eq!(format_traceparent(&sc), PARENT);
    }

    #[test]
    fn invalid_traceparents_are_ignored() {
        for bad in [
            "",
            "garbage",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        ] {
            assert!(parse_traceparent(bad, None).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn without_the_otel_layer_a_request_continues_the_callers_trace_id() {
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, HeaderValue::from_static(PARENT));
        headers.insert(TRACESTATE, HeaderValue::from_static("vendor=1"));
        let sc = continue_trace(&Span::none(), &headers);
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_ne!(sc.span_id().to_string(), "00f067aa0ba902b7");
        assert_ne!(sc.span_id(), SpanId::INVALID);
        assert!(sc.is_sampled(), "the caller's sampling decision is kept");
        assert_eq!(sc.trace_state().header(), "vendor=1");
    }

    #[test]
    fn without_a_caller_a_request_starts_a_trace() {
        let a = continue_trace(&Span::none(), &HeaderMap::new());
        let b = continue_trace(&Span::none(), &HeaderMap::new());
        assert!(a.is_valid() && b.is_valid());
        assert_ne!(a.trace_id(), b.trace_id());
        assert_eq!(a.trace_id().to_string().len(), 32);
        assert_eq!(a.span_id().to_string().len(), 16);
        assert!(!a.is_sampled());
    }

    #[tokio::test]
    async fn inject_context_passes_the_request_trace_on() {
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, HeaderValue::from_static(PARENT));
        let trace = continue_trace(&Span::none(), &headers);
        let expected = format_traceparent(&trace);
        let injected = in_request_trace(trace, async {
            let mut outgoing = HeaderMap::new();
            inject_context(&mut outgoing);
            outgoing
        })
        .await;
        assert_eq!(injected.get(TRACEPARENT).unwrap(), expected.as_str());
        assert!(injected.get(TRACESTATE).is_none());
        assert!(expected.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));

        let mut outside = HeaderMap::new();
        inject_context(&mut outside);
        assert!(outside.is_empty());
    }
}
