//! The OpenTelemetry trace pipeline: settings from the standard `OTEL_*` variables, the
//! sampler, the OTLP/HTTP exporter and the `tracing` layer that turns spans into OTel spans.

use std::time::Duration;

use async_trait::async_trait;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_http::hyper::HyperClient;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing::level_filters::LevelFilter;
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::filter::{Filtered, Targets};
use tracing_subscriber::{Layer as _, Registry};

/// The OTel layer as it sits in the subscriber stack of [`super::init_with`]. It has a filter
/// of its own, so `RUST_LOG` changes how much is logged but not what is traced.
pub(crate) type OtelLayer = Filtered<OpenTelemetryLayer<Registry, SdkTracer>, Targets, Registry>;

/// Spans (and the events inside them) at INFO and above become OTel spans (and span events);
/// the exporter's own diagnostics (targets `opentelemetry*`, matched as a prefix) never do.
fn trace_filter() -> Targets {
    Targets::new()
        .with_default(LevelFilter::INFO)
        .with_target("opentelemetry", LevelFilter::OFF)
}

/// How long one export request may take (the OTLP default).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how to send traces. The binary fills it from the standard variables; no
/// endpoint means traces are off.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceSettings {
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: the collector's base URL, e.g. `http://tempo:4318`;
    /// spans go to `<endpoint>/v1/traces`.
    pub endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`: the full URL for spans; wins over `endpoint`.
    pub traces_endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf` (the default and the only one built in).
    pub protocol: Option<String>,
    /// `service.name` of every span (`OTEL_SERVICE_NAME`, else chosen by the binary).
    pub service_name: String,
    /// `OTEL_TRACES_SAMPLER`: `parentbased_always_on` (default), `parentbased_traceidratio`,
    /// `parentbased_always_off`, `always_on`, `always_off` or `traceidratio`.
    pub sampler: Option<String>,
    /// `OTEL_TRACES_SAMPLER_ARG`: the ratio for the ratio samplers (0..=1, default 1).
    pub sampler_arg: Option<String>,
}

/// The OTLP transport named by `OTEL_EXPORTER_OTLP_PROTOCOL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// `http/protobuf`: supported.
    HttpProtobuf,
    /// `http/json`: sent as `http/protobuf` instead (collectors take both on the same port).
    HttpJson,
    /// `grpc`: not built in.
    Grpc,
}

impl OtlpProtocol {
    /// Parses a protocol name; `None` for an unknown one.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "http/protobuf" => Some(Self::HttpProtobuf),
            "http/json" => Some(Self::HttpJson),
            "grpc" => Some(Self::Grpc),
            _ => None,
        }
    }
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl TraceSettings {
    /// The URL spans are posted to; `None` when traces are off.
    pub fn traces_url(&self) -> Option<String> {
        if let Some(url) = non_empty(&self.traces_endpoint) {
            return Some(url.to_owned());
        }
        non_empty(&self.endpoint).map(|base| format!("{}/v1/traces", base.trim_end_matches('/')))
    }

    fn service_name(&self) -> String {
        match self.service_name.trim() {
            "" => "socialdevs".to_owned(),
            name => name.to_owned(),
        }
    }

    /// The sampler, and a note when the settings had to be corrected.
    fn sampler(&self) -> (Sampler, Option<String>) {
        let name = non_empty(&self.sampler)
            .unwrap_or("parentbased_always_on")
            .to_ascii_lowercase();
        let mut note = None;
        let mut ratio = || match non_empty(&self.sampler_arg) {
            None => 1.0,
            Some(arg) => match arg.parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => r,
                _ => {
                    note = Some(format!(
                        "OTEL_TRACES_SAMPLER_ARG={arg} is not a ratio between 0 and 1; using 1"
                    ));
                    1.0
                }
            },
        };
        let sampler = match name.as_str() {
            "always_on" => Sampler::AlwaysOn,
            "always_off" => Sampler::AlwaysOff,
            "traceidratio" => Sampler::TraceIdRatioBased(ratio()),
            "parentbased_always_on" => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            "parentbased_always_off" => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
            "parentbased_traceidratio" => {
                Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio())))
            }
            other => {
                note = Some(format!(
                    "OTEL_TRACES_SAMPLER={other} is not supported; using parentbased_always_on"
                ));
                Sampler::ParentBased(Box::new(Sampler::AlwaysOn))
            }
        };
        (sampler, note)
    }
}

/// Builds the exporter, provider and layer when an endpoint is set. Also returns notes about
/// settings that were ignored or corrected, to log once logging works.
pub(crate) fn pipeline(
    settings: &TraceSettings,
) -> (Option<(OtelLayer, SdkTracerProvider)>, Vec<String>) {
    let mut notes = Vec::new();
    let Some(url) = settings.traces_url() else {
        return (None, notes);
    };
    match non_empty(&settings.protocol).map(|p| (p, OtlpProtocol::parse(p))) {
        None | Some((_, Some(OtlpProtocol::HttpProtobuf))) => {}
        Some((_, Some(OtlpProtocol::HttpJson))) => notes.push(
            "OTEL_EXPORTER_OTLP_PROTOCOL=http/json: sending http/protobuf to the same endpoint"
                .to_owned(),
        ),
        Some((_, Some(OtlpProtocol::Grpc))) => {
            notes.push(
                "OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported by this build; traces are \
                 off. Use http/protobuf and the collector's OTLP/HTTP port (4318)"
                    .to_owned(),
            );
            return (None, notes);
        }
        Some((other, None)) => notes.push(format!(
            "OTEL_EXPORTER_OTLP_PROTOCOL={other} is unknown; using http/protobuf"
        )),
    }
    if non_empty(&settings.protocol).is_none() && url.contains(":4317") {
        notes.push(format!(
            "the trace endpoint {url} uses port 4317, which collectors keep for OTLP/gRPC; this \
             build sends OTLP/HTTP (usually port 4318)"
        ));
    }
    let (sampler, note) = settings.sampler();
    notes.extend(note);

    let client = match ExportClient::new(EXPORT_TIMEOUT) {
        Ok(client) => client,
        Err(err) => {
            notes.push(format!(
                "traces are off: starting the exporter failed: {err}"
            ));
            return (None, notes);
        }
    };
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url.clone())
        .build()
    {
        Ok(exporter) => exporter,
        Err(err) => {
            notes.push(format!(
                "traces are off: the exporter for {url} failed: {err}"
            ));
            return (None, notes);
        }
    };
    let resource = Resource::builder()
        .with_service_name(settings.service_name())
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(sampler)
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("socialdevs");
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_threads(false)
        .with_filter(trace_filter());
    (Some((layer, provider)), notes)
}

/// The exporter's HTTP client: hyper (plain HTTP, no TLS stack) on a small runtime of its
/// own. The batch span processor exports from its own thread, outside any Tokio runtime, and
/// flushing at shutdown must not depend on the application's runtime still running.
#[derive(Debug)]
struct ExportClient {
    inner: HyperClient,
    runtime: Option<tokio::runtime::Runtime>,
}

impl ExportClient {
    fn new(timeout: Duration) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("otlp-export")
            .enable_all()
            .build()?;
        Ok(Self {
            inner: HyperClient::with_default_connector(timeout, None),
            runtime: Some(runtime),
        })
    }
}

#[async_trait]
impl HttpClient for ExportClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or("the trace export runtime is stopped")?;
        let inner = self.inner.clone();
        runtime
            .spawn(async move { inner.send_bytes(request).await })
            .await?
    }
}

impl Drop for ExportClient {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside async code; this does not.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> TraceSettings {
        TraceSettings {
            service_name: "socialdevs-test".into(),
            ..TraceSettings::default()
        }
    }

    #[test]
    fn no_endpoint_means_traces_off() {
        assert_eq!(settings().traces_url(), None);
        let blank = TraceSettings {
            endpoint: Some("  ".into()),
            ..settings()
        };
        assert_eq!(blank.traces_url(), None);
        let (pipeline, notes) = pipeline(&blank);
        assert!(pipeline.is_none());
        assert!(notes.is_empty());
    }

    #[test]
    fn the_traces_path_is_appended_to_the_base_endpoint() {
        for base in ["http://tempo:4318", "http://tempo:4318/"] {
            let s = TraceSettings {
                endpoint: Some(base.into()),
                ..settings()
            };
            assert_eq!(
                s.traces_url().as_deref(),
                Some("http://tempo:4318/v1/traces")
            );
        }
        let s = TraceSettings {
            endpoint: Some("http://tempo:4318".into()),
            traces_endpoint: Some("http://collector/custom".into()),
            ..settings()
        };
        assert_eq!(s.traces_url().as_deref(), Some("http://collector/custom"));
    }

    #[test]
    fn samplers_follow_the_standard_names() {
        let with = |name: &str, arg: Option<&str>| TraceSettings {
            sampler: Some(name.into()),
            sampler_arg: arg.map(str::to_owned),
            ..settings()
        };
        let debug = |s: &TraceSettings| format!("{:?}", s.sampler().0);
        assert_eq!(debug(&settings()), "ParentBased(AlwaysOn)");
        assert_eq!(debug(&with("always_off", None)), "AlwaysOff");
        assert_eq!(debug(&with("ALWAYS_ON", None)), "AlwaysOn");
        assert_eq!(
            debug(&with("parentbased_traceidratio", Some("0.25"))),
            "ParentBased(TraceIdRatioBased(0.25))"
        );
        assert_eq!(debug(&with("traceidratio", None)), "TraceIdRatioBased(1.0)");
        let (sampler, note) = with("traceidratio", Some("2")).sampler();
        assert_eq!(format!("{sampler:?}"), "TraceIdRatioBased(1.0)");
        assert!(note.is_some_and(|n| n.contains("OTEL_TRACES_SAMPLER_ARG")));
        let (sampler, note) = with("jaeger_remote", None).sampler();
        assert_eq!(format!("{sampler:?}"), "ParentBased(AlwaysOn)");
        assert!(note.is_some());
    }

    #[test]
    fn the_exporters_own_diagnostics_are_never_traced() {
        use tracing::Level;
        let filter = trace_filter();
        assert!(filter.would_enable("socialdevs_platform::http", &Level::INFO));
        assert!(!filter.would_enable("socialdevs_platform::http", &Level::DEBUG));
        for target in [
            "opentelemetry_sdk",
            "opentelemetry-otlp",
            "opentelemetry-http",
        ] {
            assert!(!filter.would_enable(target, &Level::ERROR), "{target}");
        }
    }

    #[test]
    fn grpc_turns_traces_off_with_a_note() {
        let s = TraceSettings {
            endpoint: Some("http://tempo:4317".into()),
            protocol: Some("grpc".into()),
            ..settings()
        };
        let (pipeline, notes) = pipeline(&s);
        assert!(pipeline.is_none());
        assert!(notes[0].contains("grpc"), "{notes:?}");
        assert_eq!(
            OtlpProtocol::parse("HTTP/protobuf"),
            Some(OtlpProtocol::HttpProtobuf)
        );
        assert_eq!(OtlpProtocol::parse("thrift"), None);
    }

    #[test]
    fn an_endpoint_builds_an_exporter_and_warns_about_the_grpc_port() {
        let s = TraceSettings {
            endpoint: Some("http://127.0.0.1:4317".into()),
            ..settings()
        };
        let (pipeline, notes) = pipeline(&s);
        let (_layer, provider) = pipeline.expect("pipeline");
        assert!(notes.iter().any(|n| n.contains("4318")), "{notes:?}");
        provider
            .shutdown_with_timeout(Duration::from_millis(100))
            .ok();
    }

    #[tokio::test]
    async fn shutdown_sends_the_buffered_spans() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;

        use axum::body::Bytes;
        use axum::routing::post;
        use tracing_subscriber::layer::SubscriberExt;

        let posts = Arc::new(AtomicUsize::new(0));
        let seen = posts.clone();
        let receiver = axum::Router::new().route(
            "/v1/traces",
            post(move |body: Bytes| async move {
                if !body.is_empty() {
                    seen.fetch_add(1, Ordering::SeqCst);
                }
                axum::http::StatusCode::OK
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, receiver).await });

        let s = TraceSettings {
            endpoint: Some(format!("http://{addr}")),
            ..settings()
        };
        let (pipeline, notes) = pipeline(&s);
        assert!(notes.is_empty(), "{notes:?}");
        let (layer, provider) = pipeline.unwrap();
        {
            let _guard =
                tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
            tracing::info_span!("work").in_scope(|| tracing::info!("inside"));
        }
        // The batch waits seconds before sending; shutdown must not wait for it.
        assert_eq!(posts.load(Ordering::SeqCst), 0);
        let telemetry = super::super::Telemetry {
            provider: Some(provider),
        };
        assert!(telemetry.exports_traces());
        telemetry.shutdown().await;
        assert_eq!(posts.load(Ordering::SeqCst), 1);
    }
}
