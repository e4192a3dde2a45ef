//! Bounds on open live streams: per user and in total. A stream holds a [`StreamSlot`] for
//! as long as it is open; opening one beyond a bound answers 503 with `Retry-After`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use socialdevs_platform::ApiError;
use uuid::Uuid;

/// Metric: open home streams in this process.
pub const STREAMS_OPEN: &str = "socialdevs_timeline_streams_open";

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

/// The open streams of this process.
#[derive(Clone)]
pub struct OpenStreams {
    limits: StreamLimits,
    counts: Arc<Mutex<Counts>>,
}

/// A place among the open streams, given back when dropped.
pub struct StreamSlot {
    user: Uuid,
    counts: Arc<Mutex<Counts>>,
}

impl OpenStreams {
    /// No stream open yet.
    pub fn new(limits: StreamLimits) -> Self {
        metrics::gauge!(STREAMS_OPEN).set(0.0);
        Self {
            limits,
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
        metrics::gauge!(STREAMS_OPEN).set(counts.total as f64);
        Ok(StreamSlot {
            user,
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
        metrics::gauge!(STREAMS_OPEN).set(counts.total as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_per_user_and_in_total_and_slots_come_back() {
        let streams = OpenStreams::new(StreamLimits {
            per_user: 2,
            total: 3,
        });
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
