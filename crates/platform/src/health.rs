//! Liveness and readiness: `/healthz` answers while the process runs; `/readyz` answers 200
//! only while every registered dependency answers and the process is not shutting down.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

/// A dependency whose health decides readiness (a database pool, a broker, another service).
#[async_trait]
pub trait ReadinessCheck: Send + Sync {
    /// A short name for the check, shown in `/readyz`.
    fn name(&self) -> &str;
    /// Returns an error when the dependency does not answer.
    async fn check(&self) -> anyhow::Result<()>;
    /// Whether the process is not ready while this check fails. A non-critical dependency
    /// (a cache the service can work without) that fails shows as `degraded` in `/readyz`.
    fn critical(&self) -> bool {
        true
    }
}

/// Everything that decides whether this process is ready.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<(String, Arc<dyn ReadinessCheck>)>,
    services: Vec<String>,
    draining: Arc<AtomicBool>,
}

/// What `/readyz` says of a failing check; the cause is logged.
const PUBLIC_FAILURE: &str = "failing (the cause is in the service's log)";

#[derive(Serialize)]
struct CheckReport {
    name: String,
    ok: bool,
    /// A failing non-critical check: the service works, with less.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    degraded: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct ReadinessReport {
    status: &'static str,
    checks: Vec<CheckReport>,
}

impl Readiness {
    /// Adds a check for the given service.
    pub fn add(&mut self, service: &str, check: Arc<dyn ReadinessCheck>) {
        self.register(service);
        self.checks.push((service.to_owned(), check));
    }

    /// Registers a service of this process, so `socialdevs_ready` reports it even when it has
    /// no dependency to check.
    pub fn register(&mut self, service: &str) {
        if !self.services.iter().any(|s| s == service) {
            self.services.push(service.to_owned());
        }
    }

    /// Marks the process as draining: `/readyz` answers 503 from now on.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Runs every check (each with a 2 s deadline) and records `socialdevs_ready`. Failing
    /// non-critical checks are reported but leave the process ready.
    pub async fn evaluate(&self) -> (bool, Vec<CheckOutcome>) {
        let mut results = Vec::new();
        let mut all_ok = !self.draining.load(Ordering::SeqCst);
        for (service, check) in &self.checks {
            let outcome = match tokio::time::timeout(Duration::from_secs(2), check.check()).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(err)) => Err(format!("{err:#}")),
                Err(_) => Err("timed out after 2 s".to_string()),
            };
            let critical = check.critical();
            all_ok &= outcome.is_ok() || !critical;
            results.push(CheckOutcome {
                service: service.clone(),
                name: check.name().to_owned(),
                critical,
                outcome,
            });
        }
        for service in &self.services {
            let ok = !self.draining.load(Ordering::SeqCst)
                && results
                    .iter()
                    .filter(|r| &r.service == service)
                    .all(|r| r.outcome.is_ok() || !r.critical);
            metrics::gauge!("socialdevs_ready", "service" => service.clone()).set(if ok {
                1.0
            } else {
                0.0
            });
        }
        (all_ok, results)
    }
}

/// One check's result.
#[derive(Debug, Clone)]
pub struct CheckOutcome {
    /// The service it belongs to.
    pub service: String,
    /// The check.
    pub name: String,
    /// Whether readiness depends on it.
    pub critical: bool,
    /// Its result.
    pub outcome: Result<(), String>,
}

async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({"status": "ok"}))
}

async fn readyz(State(readiness): State<Readiness>) -> impl IntoResponse {
    let (ok, results) = readiness.evaluate().await;
    let checks = results
        .into_iter()
        .map(|r| {
            if let Err(err) = &r.outcome {
                tracing::warn!(service = %r.service, check = %r.name, error = %err,
                    "readiness check failed");
            }
            CheckReport {
                name: format!("{}.{}", r.service, r.name),
                ok: r.outcome.is_ok(),
                degraded: r.outcome.is_err() && !r.critical,
                // The cause (addresses, driver messages) goes to the log, not to whoever asks.
                error: r.outcome.err().map(|_| PUBLIC_FAILURE.to_owned()),
            }
        })
        .collect();
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let report = ReadinessReport {
        status: if ok { "ready" } else { "not ready" },
        checks,
    };
    (status, Json(report))
}

/// The `/healthz` and `/readyz` routes.
pub fn router(readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(readiness)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    struct Leaky;

    #[async_trait]
    impl ReadinessCheck for Leaky {
        fn name(&self) -> &str {
            "database"
        }

        async fn check(&self) -> anyhow::Result<()> {
            anyhow::bail!("connect to postgres://app:s3cret@10.0.0.7:5432/socialdevs refused")
        }
    }

    #[tokio::test]
    async fn readyz_names_the_failing_check_but_not_its_cause() {
        let mut readiness = Readiness::default();
        readiness.add("users", Arc::new(Leaky));
        let response = router(readiness)
            .oneshot(Request::get("/readyz").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("users.database"), "{text}");
        assert!(
            !text.contains("s3cret") && !text.contains("10.0.0.7"),
            "{text}"
        );
    }
}
