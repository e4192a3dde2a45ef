//! The HTTP plumbing every service shares: request logging, problem+json for framework
//! errors, security headers, CORS, body limits, timeouts and request ids.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tracing::field::Empty;
use tracing::Instrument;

use crate::error::{ApiError, LoggedCause};
use crate::extract::MAX_JSON_BODY_BYTES;
use crate::telemetry::propagation;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Settings for the shared HTTP layers.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Origins allowed by CORS; empty means same-origin only.
    pub cors_origins: Vec<String>,
    /// Deadline for producing a response (streams are not cut once started).
    pub request_timeout: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            cors_origins: Vec::new(),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Answer for unknown routes.
pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("There is nothing at {}.", uri.path()))
}

/// Turns bodiless framework errors (405, 408, 413, ...) into problem+json.
async fn problemize(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.headers().contains_key(header::CONTENT_TYPE)
    {
        return response;
    }
    let error = match status {
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => ApiError::Timeout,
        StatusCode::NOT_FOUND => ApiError::NotFound("Not found.".into()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::UnsupportedMediaType("Unsupported content type.".into())
        }
        s if s.is_client_error() => ApiError::BadRequest("The request is not valid.".into()),
        _ => ApiError::Internal(anyhow::anyhow!("bodiless {status} response")),
    };
    let mut problem = error.into_response();
    // Keep headers such as `Allow` on 405.
    for (name, value) in response.headers() {
        problem.headers_mut().entry(name).or_insert(value.clone());
    }
    problem
}

/// Filled in while a request is handled, read when it is logged: who called.
#[derive(Clone, Default, Debug)]
pub struct RequestContext(Arc<Mutex<Option<String>>>);

impl RequestContext {
    /// Records the authenticated caller.
    pub fn set_user(&self, user_id: impl ToString) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(user_id.to_string());
        }
    }

    fn user(&self) -> Option<String> {
        self.0.lock().ok().and_then(|slot| slot.clone())
    }
}

/// Which service answered; set on responses by the metrics route layer.
#[derive(Clone, Copy, Debug)]
pub struct AnsweredBy(pub &'static str);

/// One log line per request with flat fields (method, route, status, latency, service,
/// user, request id, trace and span ids) that Loki, Alloy and ELK read without extra parsing.
///
/// The request runs in an OpenTelemetry server span that continues the caller's
/// `traceparent`; the log line's `trace_id`/`span_id` are that span's (see
/// [`crate::telemetry::propagation`] for when traces are not exported).
async fn log_request(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let matched = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let route = matched.clone().unwrap_or_else(|| "unmatched".into());
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let context = RequestContext::default();
    request.extensions_mut().insert(context.clone());
    // OTel names server spans `METHOD /route/{template}`, or just `METHOD` when unrouted.
    let span_name = match &matched {
        Some(route) => format!("{method} {route}"),
        None => method.to_string(),
    };
    let span = tracing::info_span!(
        "http_request",
        otel.name = %span_name,
        otel.kind = "server",
        otel.status_code = Empty,
        method = %method,
        route = %route,
        request_id = %request_id,
        http.request.method = %method,
        http.route = matched.as_deref(),
        url.path = request.uri().path(),
        http.response.status_code = Empty,
        enduser.id = Empty,
    );
    let trace = propagation::continue_trace(&span, request.headers());
    let trace_id = trace.trace_id().to_string();
    let span_id = trace.span_id().to_string();
    let response = propagation::in_request_trace(trace, next.run(request))
        .instrument(span.clone())
        .await;
    let status = response.status().as_u16();
    let latency_ms = (started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
    let service = response
        .extensions()
        .get::<AnsweredBy>()
        .map(|s| s.0)
        .unwrap_or("socialdevs");
    let user_id = context.user().unwrap_or_default();
    span.record("http.response.status_code", i64::from(status));
    if !user_id.is_empty() {
        span.record("enduser.id", user_id.as_str());
    }
    if status >= 500 {
        span.record("otel.status_code", "error");
    }
    drop(span);
    let method = method.as_str();
    let route = route.as_str();
    if let Some(LoggedCause(cause)) = response.extensions().get::<LoggedCause>() {
        tracing::error!(service, method, route, status, latency_ms, user_id, request_id, trace_id, span_id, error = %cause, "request failed");
    } else if status >= 500 {
        tracing::error!(
            service,
            method,
            route,
            status,
            latency_ms,
            user_id,
            request_id,
            trace_id,
            span_id,
            "request failed"
        );
    } else {
        tracing::info!(
            service,
            method,
            route,
            status,
            latency_ms,
            user_id,
            request_id,
            trace_id,
            span_id,
            "request finished"
        );
    }
    response
}

fn cors(settings: &HttpSettings) -> CorsLayer {
    let origins: Vec<HeaderValue> = settings
        .cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([header::LINK, header::RETRY_AFTER, REQUEST_ID])
        .max_age(Duration::from_secs(600))
}

fn security_header(name: &'static str, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(
        HeaderName::from_static(name),
        HeaderValue::from_static(value),
    )
}

/// Wraps a fully assembled router (with its fallback set) in the shared layers.
pub fn harden(router: Router, settings: &HttpSettings) -> Router {
    router
        .layer(middleware::from_fn(problemize))
        .layer(middleware::from_fn(log_request))
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            settings.request_timeout,
        ))
        .layer(cors(settings))
        .layer(security_header("x-content-type-options", "nosniff"))
        .layer(security_header("x-frame-options", "DENY"))
        .layer(security_header("referrer-policy", "no-referrer"))
        .layer(security_header(
            "content-security-policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
             script-src 'self'; connect-src 'self'; font-src 'self' data:; \
             frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
        ))
        .layer(security_header(
            "permissions-policy",
            "camera=(), microphone=(), geolocation=()",
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Declares a service's route state `$state` as its parts `$parts` behind one `Arc`. axum
/// copies the state for every request, through every layer: one count each time, instead of
/// one per `Arc` among the parts (a dozen contended atomic counts per request, up and down).
/// `$state` derefs to `$parts`, is made from it with `.into()`, and gives handlers the parts'
/// `verifier` as their [`TokenVerifier`](crate::auth::TokenVerifier).
#[macro_export]
macro_rules! route_state {
    ($(#[$doc:meta])* $vis:vis struct $state:ident($parts:ty);) => {
        $(#[$doc])*
        #[derive(Clone)]
        $vis struct $state(::std::sync::Arc<$parts>);

        impl ::std::convert::From<$parts> for $state {
            fn from(parts: $parts) -> Self {
                Self(::std::sync::Arc::new(parts))
            }
        }

        impl ::std::ops::Deref for $state {
            type Target = $parts;

            fn deref(&self) -> &$parts {
                &self.0
            }
        }

        impl ::axum::extract::FromRef<$state> for $crate::auth::TokenVerifier {
            fn from_ref(state: &$state) -> Self {
                state.verifier.clone()
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::routing::get;
    use opentelemetry::trace::{SpanKind, Status, TraceId};
    use opentelemetry::Value;
    use tower::ServiceExt;

    use super::*;
    use std::sync::{Arc, Mutex};

    use crate::telemetry::{propagation, store_call, testing};

    const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    /// What a handler recorded as the trace context to stamp on an event (as a store writing
    /// to its outbox does).
    type Stamped = Arc<Mutex<Vec<Option<String>>>>;

    /// A router whose handler makes a store call and stamps an event, as services do.
    fn app(stamped: Stamped) -> Router {
        let router = Router::new()
            .route(
                "/things/{id}",
                get(move || async move {
                    let _ = store_call("things.thing_by_id", async { Ok::<_, ()>(1) }).await;
                    let traceparent =
                        propagation::current_trace().map(|sc| propagation::format_traceparent(&sc));
                    stamped.lock().unwrap().push(traceparent);
                    "ok"
                }),
            )
            .route("/boom", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
            .fallback(not_found);
        harden(router, &HttpSettings::default())
    }

    async fn call(app: Router, path: &str, traceparent: Option<&str>) -> Response {
        let mut request = axum::http::Request::get(path);
        if let Some(tp) = traceparent {
            request = request.header("traceparent", tp);
        }
        app.oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    fn attribute(span: &opentelemetry_sdk::trace::SpanData, key: &str) -> Option<Value> {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.clone())
    }

    #[tokio::test]
    async fn requests_continue_the_callers_trace_in_spans_and_logs() {
        let (subscriber, logs, spans, _provider) = testing::subscriber(true);
        let _guard = tracing::subscriber::set_default(subscriber);
        let stamped = Stamped::default();
        let response = call(app(stamped.clone()), "/things/7", Some(PARENT)).await;
        assert_eq!(response.status(), StatusCode::OK);

        let server = spans.named("GET /things/{id}");
        assert_eq!(server.span_kind, SpanKind::Server);
        assert_eq!(server.span_context.trace_id().to_string(), TRACE_ID);
        assert_eq!(server.parent_span_id.to_string(), "00f067aa0ba902b7");
        assert!(server.parent_span_is_remote);
        assert_eq!(
            attribute(&server, "http.route"),
            Some("/things/{id}".into())
        );
        assert_eq!(
            attribute(&server, "http.response.status_code"),
            Some(200i64.into())
        );

        let store = spans.named("things.thing_by_id");
        assert_eq!(store.span_kind, SpanKind::Client);
        assert_eq!(
            store.span_context.trace_id(),
            server.span_context.trace_id()
        );
        assert_eq!(store.parent_span_id, server.span_context.span_id());

        // An event written while handling the request names the request's span as parent.
        let expected = format!("00-{TRACE_ID}-{}-01", server.span_context.span_id());
        assert_eq!(
            stamped.lock().unwrap().as_slice(),
            &[Some(expected)],
            "the trace context an event is stamped with"
        );

        let line = logs.line("request finished");
        assert_eq!(line["trace_id"], TRACE_ID);
        assert_eq!(line["span_id"], server.span_context.span_id().to_string());
        assert_eq!(line["route"], "/things/{id}");
    }

    #[tokio::test]
    async fn server_errors_mark_the_span_failed() {
        let (subscriber, _logs, spans, _provider) = testing::subscriber(true);
        let _guard = tracing::subscriber::set_default(subscriber);
        let response = call(app(Stamped::default()), "/boom", None).await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let server = spans.named("GET /boom");
        assert!(
            matches!(server.status, Status::Error { .. }),
            "{:?}",
            server.status
        );
        assert!(!server.parent_span_is_remote);
        assert_ne!(server.span_context.trace_id(), TraceId::INVALID);
    }

    #[tokio::test]
    async fn without_exported_traces_log_lines_still_carry_the_trace_id() {
        let (subscriber, logs, spans, _provider) = testing::subscriber(false);
        let _guard = tracing::subscriber::set_default(subscriber);
        let stamped = Stamped::default();
        call(app(stamped.clone()), "/things/7", Some(PARENT)).await;
        let line = logs.line("request finished");
        assert_eq!(line["trace_id"], TRACE_ID);
        let span_id = line["span_id"].as_str().unwrap().to_owned();
        assert_eq!(span_id.len(), 16);
        assert_ne!(span_id, "00f067aa0ba902b7");
        // Events still carry the request's trace.
        assert_eq!(
            stamped.lock().unwrap().as_slice(),
            &[Some(format!("00-{TRACE_ID}-{span_id}-01"))]
        );
        assert!(spans.all().is_empty());

        // No caller: a fresh trace id per request, unsampled.
        call(app(stamped.clone()), "/nowhere", None).await;
        let lines = logs.lines();
        let unrouted = lines
            .iter()
            .find(|l| l["route"] == "unmatched")
            .expect("a line for the unrouted request");
        let fresh = unrouted["trace_id"].as_str().unwrap();
        assert_eq!(fresh.len(), 32);
        assert_ne!(fresh, TRACE_ID);
        assert_ne!(fresh, "00000000000000000000000000000000");
        assert_eq!(stamped.lock().unwrap().len(), 1, "no event for a 404");
    }
}
