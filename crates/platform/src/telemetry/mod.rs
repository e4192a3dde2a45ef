//! Logs and traces.
//!
//! - Logs: JSON lines for machines (Loki, Alloy, ELK), pretty text for people. Every request
//!   log line carries the W3C `trace_id` and `span_id` of its request (see [`propagation`]).
//! - Traces: OpenTelemetry spans for HTTP requests, store calls and events, exported over
//!   OTLP/HTTP (protobuf) when an endpoint is configured ([`TraceSettings`], read from the
//!   standard `OTEL_*` variables by the binary). Without an endpoint no exporter, layer or
//!   background thread exists; request log lines still get a trace id, taken from the
//!   incoming `traceparent` header or made up, so logs of one request chain stay joined.
//!
//! [`init_with`] installs both and returns a [`Telemetry`] handle whose
//! [`Telemetry::shutdown`] flushes the spans still buffered.

pub mod propagation;
#[cfg(test)]
pub(crate) mod testing;
mod traces;

use std::io::IsTerminal;

use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::{self, FilterExt as _};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer, Registry};

pub use opentelemetry::trace::SpanContext;
pub use propagation::{
    current_trace, inject_context, parse_traceparent, store_call, store_span, traceparent_for,
    TRACEPARENT,
};
pub use traces::{OtlpProtocol, TraceSettings};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable, coloured when on a terminal.
    Pretty,
}

impl LogFormat {
    /// Parses `json` or `pretty`; anything else is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Some(Self::Json),
            "pretty" | "text" => Some(Self::Pretty),
            _ => None,
        }
    }

    /// JSON unless stdout is a terminal.
    pub fn detect() -> Self {
        if std::io::stdout().is_terminal() {
            Self::Pretty
        } else {
            Self::Json
        }
    }
}

/// How long shutdown waits for the last spans to be sent.
const SHUTDOWN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The installed telemetry: holds the tracer provider, when traces are exported.
#[must_use = "call shutdown() before exiting so buffered spans are sent"]
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exports_traces(&self) -> bool {
        self.provider.is_some()
    }

    /// Sends every finished span now (blocks until the exporter answered or timed out).
    pub fn force_flush(&self) -> anyhow::Result<()> {
        match &self.provider {
            Some(provider) => provider
                .force_flush()
                .map_err(|e| anyhow::anyhow!("flushing spans: {e}")),
            None => Ok(()),
        }
    }

    /// Flushes the buffered spans and stops the exporter. Call it once the server stopped.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        let result =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT))
                .await;
        match result {
            Ok(Ok(())) => tracing::debug!("trace exporter flushed and stopped"),
            Ok(Err(err)) => tracing::warn!(error = %err, "stopping the trace exporter failed"),
            Err(err) => tracing::warn!(error = %err, "stopping the trace exporter failed"),
        }
    }
}

fn env_filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // `opentelemetry` also covers opentelemetry_sdk, opentelemetry-otlp, ...
        EnvFilter::new("info,sqlx=warn,tower_http=warn,opentelemetry=warn")
    })
}

/// Installs the global subscriber (logs only, no traces). `RUST_LOG` filters (default
/// `info`). Safe to call twice.
pub fn init(format: LogFormat) {
    let _no_provider = init_with(format, &TraceSettings::default());
}

/// Installs the global subscriber writing logs to stdout, and the OpenTelemetry layer when
/// `traces` names an endpoint. Safe to call twice: the second call changes nothing.
pub fn init_with(format: LogFormat, traces: &TraceSettings) -> Telemetry {
    init_with_writer(format, traces, std::io::stdout)
}

/// [`init_with`], writing log lines to `writer` (tests capture them this way).
pub fn init_with_writer<W>(format: LogFormat, traces: &TraceSettings, writer: W) -> Telemetry
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let (pipeline, notes) = traces::pipeline(traces);
    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = Vec::new();
    let provider = pipeline.map(|(layer, provider)| {
        layers.push(layer.boxed());
        provider
    });
    // Each layer filters for itself: RUST_LOG is about logs, not about what is traced. The
    // layers are a list, not an `Option` of the trace layer: a `None` layer enables every
    // callsite, so with traces off every span would still be built and entered for no one.
    layers.push(match format {
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_target(true)
            .with_writer(writer)
            // These lines carry no span fields (no current span, no span list), so the layer
            // takes no spans: otherwise it formats every span's fields into a JSON string as
            // the span opens, for nothing. With traces off no layer wants spans and they cost
            // next to nothing (`bench/results/hot-path-log-spans.md`). Span-field directives
            // of RUST_LOG (`[span{field}]=level`) therefore do not apply to JSON lines.
            .with_filter(env_filter().and(filter::filter_fn(|meta| meta.is_event())))
            .boxed(),
        LogFormat::Pretty => fmt::layer()
            .with_target(false)
            .with_writer(writer)
            .with_filter(env_filter())
            .boxed(),
    });
    let result = tracing_subscriber::registry().with(layers).try_init();
    if result.is_err() {
        tracing::debug!("a tracing subscriber was already installed");
        if let Some(provider) = provider {
            // Nothing will feed it: stop its background thread.
            let _ = provider.shutdown();
        }
        return Telemetry::default();
    }
    for note in notes {
        tracing::warn!("{note}");
    }
    if let Some(endpoint) = provider.as_ref().and(traces.traces_url()) {
        tracing::info!(
            endpoint = %endpoint,
            service_name = %traces.service_name,
            "exporting traces over OTLP/HTTP"
        );
    }
    Telemetry { provider }
}

/// For tests: logs only when `TEST_LOG` is set, so test output stays quiet.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_some() {
        init(LogFormat::Pretty);
    }
}
