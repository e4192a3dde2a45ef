//! Prometheus metrics: the HTTP RED middleware and the `/metrics` endpoint.
//!
//! Names follow Prometheus conventions (base units, `_total`, `_seconds`) and are a contract
//! with the dashboards and alert rules under `deploy/observability/`.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Request counter: `service`, `method`, `route` (matched template), `status` (class).
pub const HTTP_REQUESTS_TOTAL: &str = "socialdevs_http_requests_total";
/// Request latency histogram, same labels.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "socialdevs_http_request_duration_seconds";
/// Requests being served right now, per service.
pub const HTTP_REQUESTS_IN_FLIGHT: &str = "socialdevs_http_requests_in_flight";
/// Database pool connections by `state` (`idle`, `in_use`).
pub const DB_POOL_CONNECTIONS: &str = "socialdevs_db_pool_connections";
/// Configured maximum pool size.
pub const DB_POOL_MAX_CONNECTIONS: &str = "socialdevs_db_pool_max_connections";
/// Time spent waiting for a pooled connection.
pub const DB_POOL_ACQUIRE_DURATION_SECONDS: &str = "socialdevs_db_pool_acquire_duration_seconds";
/// Calls to other services (distributed topology), by calling `service`, `target` and `outcome`.
pub const CLIENT_REQUEST_DURATION_SECONDS: &str = "socialdevs_client_request_duration_seconds";
/// Always 1, labelled with `version` and `git_sha`.
pub const BUILD_INFO: &str = "socialdevs_build_info";

const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// End-to-end delays (`*_latency_seconds`, e.g. event delivery): from a millisecond to minutes.
const DELAY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Counts of things (`*_size`, e.g. how many timelines one post was fanned out to).
const COUNT_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once; later calls return the same handle.
pub fn handle() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_duration_seconds".into()),
                    LATENCY_BUCKETS,
                )
                .ok()?
                .set_buckets_for_metric(Matcher::Suffix("_latency_seconds".into()), DELAY_BUCKETS)
                .ok()?
                .set_buckets_for_metric(Matcher::Suffix("_lag_seconds".into()), DELAY_BUCKETS)
                .ok()?
                .set_buckets_for_metric(Matcher::Suffix("_size".into()), COUNT_BUCKETS)
                .ok()?;
            match builder.install_recorder() {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(err) => {
                    tracing::warn!(error = %err, "metrics recorder not installed");
                    None
                }
            }
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!(HTTP_REQUESTS_TOTAL, "HTTP requests served.");
    metrics::describe_histogram!(
        HTTP_REQUEST_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "HTTP request latency."
    );
    metrics::describe_gauge!(HTTP_REQUESTS_IN_FLIGHT, "HTTP requests being served.");
    metrics::describe_gauge!(DB_POOL_CONNECTIONS, "Database pool connections by state.");
    metrics::describe_gauge!(DB_POOL_MAX_CONNECTIONS, "Database pool size limit.");
    metrics::describe_histogram!(
        DB_POOL_ACQUIRE_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Time spent waiting for a database connection."
    );
    metrics::describe_histogram!(
        CLIENT_REQUEST_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Calls to other SocialDevs services, retries included."
    );
    metrics::describe_gauge!(BUILD_INFO, "Build information; always 1.");
    metrics::describe_gauge!(
        "socialdevs_ready",
        "1 while the service's readiness checks pass."
    );
    metrics::gauge!(
        BUILD_INFO,
        "version" => env!("CARGO_PKG_VERSION"),
        "git_sha" => option_env!("SOCIALDEVS_GIT_SHA").unwrap_or("unknown"),
    )
    .set(1.0);
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// A service's public routes with their state and its RED metrics ([`track`]): what every
/// service's `router` returns.
pub fn tracked<S: Clone + Send + Sync + 'static>(
    service: &'static str,
    routes: utoipa_axum::router::OpenApiRouter<S>,
    state: S,
) -> utoipa_axum::router::OpenApiRouter {
    routes
        .route_layer(axum::middleware::from_fn_with_state(service, track))
        .with_state(state)
}

/// Route layer recording RED metrics for one service's routes.
pub async fn track(State(service): State<&'static str>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().as_str().to_owned();
    let in_flight = metrics::gauge!(HTTP_REQUESTS_IN_FLIGHT, "service" => service);
    in_flight.increment(1.0);
    let started = Instant::now();
    let mut response = next.run(request).await;
    in_flight.decrement(1.0);
    response
        .extensions_mut()
        .insert(crate::http::AnsweredBy(service));
    let labels = [
        ("service", service.to_owned()),
        ("method", method),
        ("route", route),
        (
            "status",
            status_class(response.status().as_u16()).to_owned(),
        ),
    ];
    metrics::counter!(HTTP_REQUESTS_TOTAL, &labels).increment(1);
    metrics::histogram!(HTTP_REQUEST_DURATION_SECONDS, &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Something that refreshes gauges right before a scrape (pool sizes, backlog, ...).
pub type Collector = Arc<dyn Fn() + Send + Sync>;

#[derive(Clone)]
struct MetricsState {
    collectors: Vec<Collector>,
    process: Arc<metrics_process::Collector>,
}

async fn render(State(state): State<MetricsState>) -> Response {
    state.process.collect();
    for collect in &state.collectors {
        collect();
    }
    let body = handle().map(|h| h.render()).unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// The `/metrics` route; `collectors` run on every scrape.
pub fn router(collectors: Vec<Collector>) -> Router {
    let _ = handle();
    let process = metrics_process::Collector::default();
    process.describe();
    Router::new()
        .route("/metrics", get(render))
        .with_state(MetricsState {
            collectors,
            process: Arc::new(process),
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn status_classes() {
        assert_eq!(super::status_class(204), "2xx");
        assert_eq!(super::status_class(404), "4xx");
        assert_eq!(super::status_class(503), "5xx");
    }
}
