//! Live streams (SSE) of a service: bounds on how many are open, per user and in total (a
//! stream holds a [`StreamSlot`] for as long as it is open; opening one beyond a bound
//! answers 503 with `Retry-After`), and the two rules every stream follows: `Last-Event-ID`
//! resumes after an id, and a stream ends when its access token expires.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::http::HeaderMap;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::ApiError;

/// How often an idle stream sends a keep-alive comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The `Last-Event-ID` a reconnecting client sends (an id of the stream's items), if any.
pub fn last_event_id(headers: &HeaderMap) -> Result<Option<Uuid>, ApiError> {
    match headers.get("last-event-id") {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| Uuid::parse_str(v.trim()).ok())
            .map(Some)
            .ok_or_else(|| ApiError::invalid("Last-Event-ID", "must be an id this stream sent")),
    }
}

/// When the caller's stream must end: its access token's expiry (the client reconnects with
/// a fresh token).
pub fn token_deadline(caller: &AuthUser) -> tokio::time::Instant {
    let expires_in = u64::try_from(caller.expires_at - chrono::Utc::now().timestamp()).unwrap_or(0);
    tokio::time::Instant::now() + Duration::from_secs(expires_in)
}

/// How many live streams may be open.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// Per user (tabs, devices).
    pub per_user: usize,
    /// In this process.
    pub total: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            per_user: 5,
            total: 10_000,
        }
    }
}

#[derive(Default)]
struct Counts {
    total: usize,
    by_user: HashMap<Uuid, usize>,
}

/// The open streams of one kind in this process.
#[derive(Clone)]
pub struct OpenStreams {
    limits: StreamLimits,
    gauge: &'static str,
    counts: Arc<Mutex<Counts>>,
}

/// A place among the open streams, given back when dropped.
pub struct StreamSlot {
    user: Uuid,
    gauge: &'static str,
    counts: Arc<Mutex<Counts>>,
}

impl OpenStreams {
    /// No stream open yet; `gauge` is the metric that counts them.
    pub fn new(limits: StreamLimits, gauge: &'static str) -> Self {
        metrics::gauge!(gauge).set(0.0);
        Self {
            limits,
            gauge,
            counts: Arc::default(),
        }
    }

    /// A slot for one more stream of `user`, or 503 when a bound is reached.
    pub fn open(&self, user: Uuid) -> Result<StreamSlot, ApiError> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let mine = counts.by_user.get(&user).copied().unwrap_or(0);
        if mine >= self.limits.per_user {
            return Err(ApiError::Unavailable {
                detail: format!(
                    "At most {} live streams per user; close one (another tab?) and retry.",
                    self.limits.per_user
                ),
                retry_after_secs: 10,
            });
        }
        if counts.total >= self.limits.total {
            return Err(ApiError::Unavailable {
                detail: "Too many live streams are open; retry shortly.".into(),
                retry_after_secs: 5,
            });
        }
        counts.total += 1;
        *counts.by_user.entry(user).or_insert(0) += 1;
        metrics::gauge!(self.gauge).set(counts.total as f64);
        Ok(StreamSlot {
            user,
            gauge: self.gauge,
            counts: self.counts.clone(),
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.by_user.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                counts.by_user.remove(&self.user);
            }
        }
        metrics::gauge!(self.gauge).set(counts.total as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_per_user_and_in_total_and_slots_come_back() {
        let streams = OpenStreams::new(
            StreamLimits {
                per_user: 2,
                total: 3,
            },
            "test_streams_open",
        );
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let a1 = streams.open(a).unwrap();
        let _a2 = streams.open(a).unwrap();
        assert!(streams.open(a).is_err(), "a third for one user");
        let _b1 = streams.open(b).unwrap();
        assert!(streams.open(b).is_err(), "the process is full");
        drop(a1);
        assert!(streams.open(b).is_ok(), "a closed stream frees its place");
    }
}
