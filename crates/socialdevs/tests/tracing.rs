//! Traces end to end: the real app exports spans over OTLP/HTTP to a receiver started here,
//! continues the caller's `traceparent`, and its request log lines carry the trace id.
//!
//! Its own test binary: it installs the process-wide subscriber (with the OTel layer and a
//! log writer the tests read), which the API suite must not share.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
#[path = "api/topology.rs"]
#[allow(dead_code)]
mod topology;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::{json, Value};
use socialdevs::Settings;
use socialdevs_platform::telemetry::{self, LogFormat, Telemetry};
use socialdevs_testkit::logs::CapturedLogs;

/// A span as received, with the `service.name` of its resource.
#[derive(Clone, Debug)]
struct Received {
    service: String,
    span: Span,
}

#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Received>>>);

impl Collector {
    fn spans_of(&self, trace_id: &str) -> Vec<Received> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|r| hex(&r.span.trace_id) == trace_id)
            .cloned()
            .collect()
    }
}

async fn receive(State(collector): State<Collector>, body: Bytes) -> (StatusCode, Vec<u8>) {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return (StatusCode::BAD_REQUEST, Vec::new());
    };
    let mut spans = collector.0.lock().unwrap();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| match &v.value {
                Some(any_value::Value::StringValue(s)) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                spans.push(Received {
                    service: service.clone(),
                    span,
                });
            }
        }
    }
    (
        StatusCode::OK,
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
}

/// Starts an OTLP/HTTP receiver (POST /v1/traces, protobuf) on its own thread and runtime,
/// so it outlives each test's runtime.
fn start_receiver() -> (SocketAddr, Collector) {
    let collector = Collector::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let state = collector.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let app = Router::new()
                .route("/v1/traces", post(receive))
                .with_state(state);
            axum::serve(listener, app).await.unwrap();
        });
    });
    (addr, collector)
}

/// Log lines written by the subscriber, kept for the tests to read.
#[derive(Clone, Default)]
struct Logs(CapturedLogs);

impl Logs {
    fn lines(&self) -> Vec<Value> {
        self.0
            .text()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

struct Harness {
    endpoint: String,
    collector: Collector,
    logs: Logs,
    telemetry: Telemetry,
}

/// The receiver and the process-wide subscriber, set up once for every test here. The
/// endpoint goes through `Settings` like `OTEL_EXPORTER_OTLP_ENDPOINT` would, without
/// touching the process environment.
fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let (addr, collector) = start_receiver();
        let endpoint = format!("http://{addr}");
        let mut settings = Settings::for_data_dir(std::env::temp_dir());
        settings.otlp_endpoint = Some(endpoint.clone());
        let logs = Logs::default();
        let telemetry =
            telemetry::init_with_writer(LogFormat::Json, &settings.traces(), logs.0.clone());
        assert!(telemetry.exports_traces());
        Harness {
            endpoint,
            collector,
            logs,
            telemetry,
        }
    })
}

async fn spawn_app() -> helpers::TestApp {
    let endpoint = harness().endpoint.clone();
    helpers::spawn_app_with(|s| s.otlp_endpoint = Some(endpoint)).await
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh caller trace: (trace id, caller span id, traceparent).
fn caller_trace() -> (String, String, String) {
    let trace_id = uuid::Uuid::now_v7().simple().to_string();
    let span_id = uuid::Uuid::now_v7().simple().to_string()[16..].to_owned();
    let traceparent = format!("00-{trace_id}-{span_id}-01");
    (trace_id, span_id, traceparent)
}

/// Flushes the exporter and waits until the receiver has a span named `name` in `trace_id`.
async fn wait_for_span(trace_id: &str, name: &str) -> Vec<Received> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        tokio::task::spawn_blocking(|| harness().telemetry.force_flush())
            .await
            .unwrap()
            .unwrap();
        let spans = harness().collector.spans_of(trace_id);
        if spans.iter().any(|r| r.span.name == name) {
            return spans;
        }
        if Instant::now() > deadline {
            let names: Vec<_> = spans.iter().map(|r| r.span.name.clone()).collect();
            panic!("no span {name:?} in trace {trace_id}; got {names:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn named<'a>(spans: &'a [Received], name: &str) -> &'a Received {
    spans
        .iter()
        .find(|r| r.span.name == name)
        .unwrap_or_else(|| panic!("no span {name:?}"))
}

fn string_attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match &v.value {
            Some(any_value::Value::StringValue(s)) => Some(s.clone()),
            _ => None,
        })
}

#[tokio::test]
async fn requests_are_exported_as_spans_continuing_the_callers_trace() {
    let app = spawn_app().await;
    let (trace_id, caller_span, traceparent) = caller_trace();

    let response = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .header("traceparent", &traceparent)
        .json(&json!({"username": "traced", "email": "traced@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);

    let spans = wait_for_span(&trace_id, "POST /api/v1/auth/register").await;
    let server = named(&spans, "POST /api/v1/auth/register");
    assert_eq!(server.service, "socialdevs-all");
    assert_eq!(server.span.kind, SpanKind::Server as i32);
    assert_eq!(
        hex(&server.span.parent_span_id),
        caller_span,
        "child of the caller's span"
    );
    assert_eq!(
        string_attribute(&server.span, "http.route").as_deref(),
        Some("/api/v1/auth/register")
    );

    // Store calls and the event publish run inside the server span (through the handler's).
    let spans = wait_for_span(&trace_id, "users.create_user").await;
    let server_id = hex(&named(&spans, "POST /api/v1/auth/register").span.span_id);
    for (name, kind) in [
        ("users.create_user", SpanKind::Client),
        ("users.insert_refresh_token", SpanKind::Client),
        (
            "publish dev.socialdevs.user.registered.v1",
            SpanKind::Producer,
        ),
    ] {
        let span = &named(&spans, name).span;
        assert_eq!(span.kind, kind as i32, "{name}");
        assert!(
            ancestors(&spans, span).contains(&server_id),
            "{name} descends from the request span"
        );
    }
}

/// Span ids from `span`'s parent up to the root, within `spans`.
fn ancestors(spans: &[Received], span: &Span) -> Vec<String> {
    let mut chain = Vec::new();
    let mut parent = hex(&span.parent_span_id);
    while let Some(up) = spans.iter().find(|r| hex(&r.span.span_id) == parent) {
        chain.push(parent);
        parent = hex(&up.span.parent_span_id);
    }
    chain.push(parent);
    chain
}

#[tokio::test]
async fn request_log_lines_carry_the_callers_trace_id_and_the_server_span_id() {
    let app = spawn_app().await;
    let (trace_id, _, traceparent) = caller_trace();

    let response = app
        .client
        .get(app.url("/api/v1/users/nobody-here"))
        .header("traceparent", &traceparent)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let lines = harness().logs.lines();
    let line = lines
        .iter()
        .find(|l| l["message"] == "request finished" && l["trace_id"] == trace_id.as_str())
        .unwrap_or_else(|| panic!("no request line with trace_id {trace_id}"));
    assert_eq!(line["route"], "/api/v1/users/{username}");
    assert_eq!(line["status"], 404);

    // The line's span id is the exported server span's.
    let spans = wait_for_span(&trace_id, "GET /api/v1/users/{username}").await;
    let server = named(&spans, "GET /api/v1/users/{username}");
    assert_eq!(line["span_id"], hex(&server.span.span_id));
}
