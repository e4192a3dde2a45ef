//! The home timeline store: fan-out on write keeps each user's home timeline as a capped,
//! ordered set of post ids.
//!
//! [`TimelineStore`] is the port; [`MemoryTimelines`] (one process, bounded memory) and
//! [`RedisTimelines`] (shared by every replica) are its adapters, both checked by the same
//! conformance suite (`tests/store_conformance.rs`).
//!
//! A timeline is either *built* (it holds the newest entries of the user's home timeline, up
//! to the cap, possibly none) or *cold* (never built, unread for the idle TTL of
//! [`TimelineStoreSettings`], evicted, or lost when the store was flushed). Readers rebuild a
//! cold timeline from the follow graph and the posts with [`TimelineStore::replace`]; writers
//! ([`TimelineStore::push`], [`TimelineStore::merge`]) only touch built ones, so a cold
//! timeline is never half built.

use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

pub mod memory;
pub mod reconnecting;
pub mod redis;

pub use self::memory::MemoryTimelines;
pub use self::redis::{RedisOptions, RedisTimelines};

/// One entry of a home timeline: a post and its author.
///
/// Entries order by post id first: post ids are UUIDv7, so that is time order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Entry {
    /// The post.
    pub post_id: Uuid,
    /// Its author (for removing an author's posts after an unfollow).
    pub author_id: Uuid,
}

/// Why a timeline store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TimelineError {
    /// The store cannot be reached right now (reads fall back; writes are retried).
    #[error("the timeline store is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Anything else (a bug, a misconfiguration, data the store cannot read).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Where home timelines are kept.
#[async_trait]
pub trait TimelineStore: Send + Sync {
    /// The newest entries strictly older than `before` (post ids are UUIDv7: id order is time
    /// order), newest first, at most `limit`. `None` when the user has no cached timeline
    /// (cold: never built, evicted, or the store was flushed) — an empty but built timeline is
    /// `Some(vec![])`. A read keeps the timeline alive for another idle TTL.
    async fn page(
        &self,
        user: Uuid,
        before: Option<Uuid>,
        limit: usize,
    ) -> Result<Option<Vec<Entry>>, TimelineError>;

    /// Replaces the user's whole timeline (a rebuild), keeping the newest `cap`; marks it
    /// built.
    async fn replace(&self, user: Uuid, entries: &[Entry]) -> Result<(), TimelineError>;

    /// Adds `entry` to the timelines of those of `users` whose timeline is built (cold ones
    /// stay cold; they rebuild on read), trimming each to the cap. Idempotent.
    async fn push(&self, users: &[Uuid], entry: Entry) -> Result<(), TimelineError>;

    /// Adds entries to one built timeline (after a follow: the followee's recent posts),
    /// trimming to the cap; no-op when cold. Idempotent.
    async fn merge(&self, user: Uuid, entries: &[Entry]) -> Result<(), TimelineError>;

    /// Removes `post` from the timelines of `users` (after a delete). Idempotent.
    async fn remove_post(&self, users: &[Uuid], post: Uuid) -> Result<(), TimelineError>;

    /// Removes every entry by `author` from the user's timeline (after an unfollow).
    async fn remove_author(&self, user: Uuid, author: Uuid) -> Result<(), TimelineError>;

    /// Forgets a user's timeline (it rebuilds on the next read).
    async fn evict(&self, user: Uuid) -> Result<(), TimelineError>;

    /// Checks the store answers (readiness).
    async fn ping(&self) -> Result<(), TimelineError>;

    /// `memory` or `redis`, for metrics and logs.
    fn name(&self) -> &'static str;
}

/// How big timelines get and how long unread ones are kept; the same for every adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineStoreSettings {
    /// The most entries a timeline keeps (the newest ones). Default 800.
    pub cap: usize,
    /// A timeline neither read nor rebuilt for this long is forgotten (cold). Writes (push,
    /// merge, removals) do not extend it: timelines of users who stopped reading expire even
    /// while the people they follow keep posting. Default 7 days.
    pub idle_ttl: Duration,
}

impl TimelineStoreSettings {
    /// The default cap.
    pub const DEFAULT_CAP: usize = 800;
    /// The default idle time to live.
    pub const DEFAULT_IDLE_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);
}

impl Default for TimelineStoreSettings {
    fn default() -> Self {
        Self {
            cap: Self::DEFAULT_CAP,
            idle_ttl: Self::DEFAULT_IDLE_TTL,
        }
    }
}

/// The newest `cap` of `entries`, without duplicates, oldest first.
///
/// Only these can survive a merge of `entries` into a timeline trimmed to `cap`: each other
/// entry has at least `cap` newer ones in `entries` alone.
fn newest(entries: &[Entry], cap: usize) -> Vec<Entry> {
    let mut entries = entries.to_vec();
    entries.sort_unstable();
    entries.dedup();
    let excess = entries.len().saturating_sub(cap);
    entries.drain(..excess);
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_keeps_the_newest_cap_once_each_oldest_first() {
        let ids: Vec<Entry> = (0..5)
            .map(|_| Entry {
                post_id: Uuid::now_v7(),
                author_id: Uuid::now_v7(),
            })
            .collect();
        let input = [ids[3], ids[0], ids[4], ids[1], ids[3], ids[2], ids[4]];
        assert_eq!(newest(&input, 3), vec![ids[2], ids[3], ids[4]]);
        assert_eq!(newest(&input, 10), ids);
        assert!(newest(&input, 0).is_empty());
    }
}
