//! Test doubles: a subscriber that keeps its JSON log lines and, optionally, the finished
//! OpenTelemetry spans in memory. Install it with `tracing::subscriber::set_default` in a
//! current-thread test so nothing global changes.

use std::io::Write;
use std::sync::{Arc, Mutex};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

/// Finished spans, in the order they ended.
#[derive(Clone, Debug, Default)]
pub(crate) struct Spans(Arc<Mutex<Vec<SpanData>>>);

impl Spans {
    pub(crate) fn all(&self) -> Vec<SpanData> {
        self.0.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub(crate) fn named(&self, name: &str) -> SpanData {
        let all = self.all();
        all.iter()
            .find(|s| s.name == name)
            .cloned()
            .unwrap_or_else(|| {
                let names: Vec<_> = all.iter().map(|s| s.name.to_string()).collect();
                panic!("no span named {name:?} among {names:?}")
            })
    }
}

impl SpanExporter for Spans {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        if let Ok(mut spans) = self.0.lock() {
            spans.extend(batch);
        }
        Ok(())
    }
}

/// Log output, one JSON object per line.
#[derive(Clone, Debug, Default)]
pub(crate) struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    pub(crate) fn lines(&self) -> Vec<serde_json::Value> {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The first line whose `message` is `message`.
    pub(crate) fn line(&self, message: &str) -> serde_json::Value {
        let lines = self.lines();
        lines
            .iter()
            .find(|l| l["message"] == message)
            .cloned()
            .unwrap_or_else(|| panic!("no log line {message:?} in {lines:?}"))
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut bytes) = self.0.lock() {
            bytes.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// A subscriber writing JSON logs to `Logs`, with an OTel layer exporting to `Spans` when
/// `traces` is true (spans are exported as each one ends).
pub(crate) fn subscriber(
    traces: bool,
) -> (
    impl Subscriber + Send + Sync,
    Logs,
    Spans,
    SdkTracerProvider,
) {
    let logs = Logs::default();
    let spans = Spans::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(spans.clone())
        .build();
    let otel = traces.then(|| tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let subscriber = tracing_subscriber::registry().with(otel).with(
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(logs.clone()),
    );
    (subscriber, logs, spans, provider)
}
