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
use tracing::Instrument;

use crate::error::{ApiError, LoggedCause};
use crate::extract::MAX_JSON_BODY_BYTES;

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
/// user, request id) that Loki, Alloy and ELK read without extra parsing.
async fn log_request(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let context = RequestContext::default();
    request.extensions_mut().insert(context.clone());
    let span = tracing::info_span!("http_request", method = %method, route = %route, request_id = %request_id);
    let response = next.run(request).instrument(span).await;
    let status = response.status().as_u16();
    let latency_ms = (started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
    let service = response
        .extensions()
        .get::<AnsweredBy>()
        .map(|s| s.0)
        .unwrap_or("socialdevs");
    let user_id = context.user().unwrap_or_default();
    let method = method.as_str();
    let route = route.as_str();
    if let Some(LoggedCause(cause)) = response.extensions().get::<LoggedCause>() {
        tracing::error!(service, method, route, status, latency_ms, user_id, request_id, error = %cause, "request failed");
    } else if status >= 500 {
        tracing::error!(
            service,
            method,
            route,
            status,
            latency_ms,
            user_id,
            request_id,
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
