//! A small fixed-window rate limiter keyed by client address, for sign-up and sign-in.
//!
//! It lives in the process (all-in-one, or per replica); a shared Redis counter replaces it
//! when `SOCIALDEVS_REDIS_URL` is set in the distributed topology.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Allows `limit` requests per client per `window`.
#[derive(Clone)]
pub struct RateLimiter {
    limit: u32,
    window: Duration,
    counters: Arc<Mutex<HashMap<IpAddr, (Instant, u32)>>>,
}

impl RateLimiter {
    /// A limiter of `limit` requests per minute (0 disables it).
    pub fn per_minute(limit: u32) -> Self {
        Self {
            limit,
            window: Duration::from_secs(60),
            counters: Arc::default(),
        }
    }

    /// Counts one request from `client`; `Err(seconds to wait)` when over the limit.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), u64> {
        if self.limit == 0 {
            return Ok(());
        }
        let Ok(mut counters) = self.counters.lock() else {
            return Ok(());
        };
        if counters.len() > 100_000 {
            counters.retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        let entry = counters.entry(client).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit {
            let wait = self.window.saturating_sub(now.duration_since(entry.0));
            return Err(wait.as_secs().max(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

/// Middleware limiting `POST` requests under `/api/v1/auth/`.
pub async fn limit_auth(
    State(limiter): State<RateLimiter>,
    request: Request,
    next: Next,
) -> Response {
    let limited = request.method() == Method::POST
        && request.uri().path().starts_with("/api/v1/auth/")
        && !request.uri().path().ends_with("/logout");
    if limited {
        let client = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        if let Some(client) = client {
            if let Err(retry_after_secs) = limiter.check(client, Instant::now()) {
                return ApiError::RateLimited { retry_after_secs }.into_response();
            }
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_client_and_window() {
        let limiter = RateLimiter::per_minute(2);
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        let t = Instant::now();
        assert!(limiter.check(a, t).is_ok());
        assert!(limiter.check(a, t).is_ok());
        assert!(limiter.check(a, t).is_err());
        assert!(limiter.check(b, t).is_ok());
        assert!(limiter.check(a, t + Duration::from_secs(61)).is_ok());
        assert!(RateLimiter::per_minute(0).check(a, t).is_ok());
    }
}
