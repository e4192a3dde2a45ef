//! Calls between services in the distributed topology: a small JSON client for another
//! service's `/internal/...` endpoints, with a deadline per attempt, bounded retries with
//! backoff (every internal call is a read, so retrying is safe) and metrics per target.
//!
//! A dependency that cannot be reached, or that answers 503 itself, surfaces as
//! [`RemoteError::Unavailable`], which callers turn into 503 + `Retry-After` for their own
//! clients ([`dependency_error`]), never a 500.

use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{ApiError, FieldError};
use crate::metrics::CLIENT_REQUEST_DURATION_SECONDS;
use crate::service_auth::ServiceCredential;

/// Why a call to another service failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// Not reachable, timed out, or answered 502/503/504 on every attempt.
    #[error("the {service} service is unavailable: {reason}")]
    Unavailable {
        /// The service called.
        service: &'static str,
        /// What went wrong on the last attempt.
        reason: String,
    },
    /// Answered with an unexpected status.
    #[error("the {service} service answered {status}: {detail}")]
    Status {
        /// The service called.
        service: &'static str,
        /// The status it answered.
        status: u16,
        /// Its problem detail or body.
        detail: String,
        /// The failing fields of its problem, if any.
        errors: Vec<FieldError>,
    },
    /// Answered 2xx with a body that does not parse.
    #[error("the {service} service sent an unreadable answer: {reason}")]
    Decode {
        /// The service called.
        service: &'static str,
        /// The parse error.
        reason: String,
    },
}

impl From<RemoteError> for ApiError {
    fn from(err: RemoteError) -> Self {
        match err {
            RemoteError::Unavailable { service, .. } => {
                tracing::warn!(error = %err, "dependency unavailable");
                ApiError::Unavailable {
                    detail: format!(
                        "The {service} service is unavailable right now; try again shortly."
                    ),
                    retry_after_secs: 2,
                }
            }
            // The caller's own mistake, relayed (e.g. a bad cursor): same answer.
            RemoteError::Status {
                status: 422,
                errors,
                ..
            } if !errors.is_empty() => ApiError::Validation(errors),
            RemoteError::Status {
                status: 400,
                detail,
                ..
            } => ApiError::BadRequest(detail),
            RemoteError::Status {
                status: 404,
                detail,
                ..
            } => ApiError::NotFound(detail),
            other => ApiError::Internal(other.into()),
        }
    }
}

#[derive(serde::Deserialize)]
struct RemoteProblem {
    detail: String,
    #[serde(default)]
    errors: Vec<FieldError>,
}

/// Turns a port's `anyhow` error into an answer: the answer itself when an in-process
/// adapter wrapped one (e.g. 503 while the database restarts), 503 when it wraps an
/// unavailable remote dependency, 500 otherwise.
pub fn dependency_error(err: anyhow::Error) -> ApiError {
    let err = match err.downcast::<ApiError>() {
        Ok(answer) => return answer,
        Err(other) => other,
    };
    match err.downcast::<RemoteError>() {
        Ok(remote) => remote.into(),
        Err(other) => ApiError::Internal(other),
    }
}

/// Timeouts and retries of a [`ServiceClient`].
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Deadline of one attempt.
    pub timeout: Duration,
    /// Deadline to open a connection.
    pub connect_timeout: Duration,
    /// Attempts in all (at least 1).
    pub attempts: u32,
    /// Wait before the second attempt; doubled for each later one.
    pub backoff: Duration,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_millis(500),
            attempts: 3,
            backoff: Duration::from_millis(50),
        }
    }
}

/// A client of one other service.
#[derive(Debug, Clone)]
pub struct ServiceClient {
    caller: &'static str,
    service: &'static str,
    base: String,
    http: reqwest::Client,
    settings: ClientSettings,
    credential: Option<ServiceCredential>,
}

impl ServiceClient {
    /// A client with which `caller` calls `service` at `base` (e.g. `http://users:8081`).
    pub fn new(
        caller: &'static str,
        service: &'static str,
        base: &str,
        settings: ClientSettings,
    ) -> anyhow::Result<Self> {
        let base = base.trim_end_matches('/').to_owned();
        anyhow::ensure!(
            base.starts_with("http://") || base.starts_with("https://"),
            "the {service} service URL must start with http:// or https://, not {base:?}"
        );
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("socialdevs/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            caller,
            service,
            base,
            http,
            settings,
            credential: None,
        })
    }

    /// Signs every call with a service token from `credential` (the callee's internal
    /// listener refuses calls without one).
    pub fn with_credential(mut self, credential: ServiceCredential) -> Self {
        self.credential = Some(credential);
        self
    }

    /// The service this client calls.
    pub fn service(&self) -> &'static str {
        self.service
    }

    /// `GET base + path`, decoded as JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, RemoteError> {
        self.call(path, || self.http.get(format!("{}{path}", self.base)))
            .await
    }

    /// `POST base + path` with a JSON body, decoded as JSON. Only for reads.
    pub async fn query<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, RemoteError> {
        self.call(path, || {
            self.http.post(format!("{}{path}", self.base)).json(body)
        })
        .await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        path: &str,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<T, RemoteError> {
        let started = Instant::now();
        let token = match &self.credential {
            Some(credential) => {
                Some(
                    credential
                        .token(self.caller)
                        .map_err(|err| RemoteError::Unavailable {
                            service: self.service,
                            reason: format!("signing the service token: {err:#}"),
                        })?,
                )
            }
            None => None,
        };
        let attempts = self.settings.attempts.max(1);
        let mut backoff = self.settings.backoff;
        let mut last = String::new();
        for attempt in 1..=attempts {
            if attempt > 1 {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            let mut request = request();
            let mut headers = reqwest::header::HeaderMap::new();
            crate::telemetry::inject_context(&mut headers);
            request = request.headers(headers);
            if let Some(token) = &token {
                request = request.bearer_auth(token);
            }
            match request.send().await {
                Ok(response) if response.status().is_success() => {
                    let result = response
                        .json::<T>()
                        .await
                        .map_err(|err| RemoteError::Decode {
                            service: self.service,
                            reason: err.to_string(),
                        });
                    self.observe(started, if result.is_ok() { "ok" } else { "error" });
                    return result;
                }
                Ok(response)
                    if matches!(response.status().as_u16(), 502..=504)
                        || response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS =>
                {
                    last = format!("{} answered {}", path, response.status());
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    if status == 401 {
                        tracing::error!(
                            caller = self.caller,
                            service = self.service,
                            "the {} service refused this service's credential: every service \
                             needs the same SOCIALDEVS_INTERNAL_SECRET_FILE",
                            self.service
                        );
                    }
                    let body = response.text().await.unwrap_or_default();
                    let problem = serde_json::from_str::<RemoteProblem>(&body).ok();
                    self.observe(started, "error");
                    return Err(match problem {
                        Some(problem) => RemoteError::Status {
                            service: self.service,
                            status,
                            detail: problem.detail,
                            errors: problem.errors,
                        },
                        None => RemoteError::Status {
                            service: self.service,
                            status,
                            detail: body,
                            errors: Vec::new(),
                        },
                    });
                }
                Err(err) => last = format!("{path}: {err}"),
            }
        }
        self.observe(started, "unavailable");
        Err(RemoteError::Unavailable {
            service: self.service,
            reason: last,
        })
    }

    fn observe(&self, started: Instant, outcome: &'static str) {
        metrics::histogram!(
            CLIENT_REQUEST_DURATION_SECONDS,
            "service" => self.caller,
            "target" => self.service,
            "outcome" => outcome
        )
        .record(started.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    use axum::http::StatusCode;
    use axum::routing::get;
    use axum::Router;

    async fn serve(router: Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        base
    }

    #[tokio::test]
    async fn retries_a_flapping_dependency_then_succeeds() {
        let calls = Arc::new(AtomicU32::new(0));
        let counter = calls.clone();
        let base = serve(Router::new().route(
            "/n",
            get(move || {
                let counter = counter.clone();
                async move {
                    if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                        Err(StatusCode::SERVICE_UNAVAILABLE)
                    } else {
                        Ok(axum::Json(serde_json::json!({"n": 7})))
                    }
                }
            }),
        ))
        .await;
        let client =
            ServiceClient::new("users", "posts", &base, ClientSettings::default()).unwrap();
        let answer: serde_json::Value = client.get("/n").await.unwrap();
        assert_eq!(answer["n"], 7);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_unreachable_dependency_is_a_503() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let client = ServiceClient::new(
            "posts",
            "users",
            &format!("http://127.0.0.1:{port}"),
            ClientSettings {
                backoff: Duration::from_millis(1),
                ..ClientSettings::default()
            },
        )
        .unwrap();
        let err = client.get::<serde_json::Value>("/x").await.unwrap_err();
        assert!(matches!(err, RemoteError::Unavailable { .. }), "{err}");
        let api = dependency_error(anyhow::Error::new(err));
        assert_eq!(api.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test]
    async fn a_client_error_is_not_retried() {
        let calls = Arc::new(AtomicU32::new(0));
        let counter = calls.clone();
        let base = serve(Router::new().route(
            "/missing",
            get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async { StatusCode::NOT_FOUND }
            }),
        ))
        .await;
        let client =
            ServiceClient::new("users", "posts", &base, ClientSettings::default()).unwrap();
        let err = client
            .get::<serde_json::Value>("/missing")
            .await
            .unwrap_err();
        assert!(
            matches!(err, RemoteError::Status { status: 404, .. }),
            "{err}"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn calls_carry_the_request_trace() {
        use crate::telemetry::propagation::{in_request_trace, parse_traceparent};
        let base = serve(Router::new().route(
            "/echo",
            get(|headers: axum::http::HeaderMap| async move {
                axum::Json(serde_json::json!({
                    "traceparent": headers.get("traceparent").and_then(|v| v.to_str().ok()),
                }))
            }),
        ))
        .await;
        let client =
            ServiceClient::new("timeline", "users", &base, ClientSettings::default()).unwrap();
        let trace = parse_traceparent(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            None,
        )
        .unwrap();
        let answer: serde_json::Value = in_request_trace(trace, client.get("/echo")).await.unwrap();
        let sent = answer["traceparent"].as_str().unwrap();
        assert!(
            sent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
            "{sent}"
        );
    }
}
