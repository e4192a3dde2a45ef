//! The home timeline store: fan-out on write keeps each user's home timeline as a capped,
//! ordered set of post ids; popular authors' posts are kept once, per author, and merged in on
//! read (hybrid fan-out).
//!
//! [`TimelineStore`] is the port; [`MemoryTimelines`] (one process, bounded memory) and
//! [`RedisTimelines`] (shared by every replica) are its adapters, both checked by the same
//! conformance suite (`tests/store_conformance.rs`).
//!
//! A timeline is either *built* (it holds the newest entries of the user's home timeline, up
//! to the cap, possibly none) or *cold* (never built, unread for the idle TTL of
//! [`TimelineStoreSettings`], evicted, or lost when the store was flushed). Readers rebuild a
//! cold timeline from the follow graph and the posts with [`TimelineStore::replace`]; writers
//! ([`TimelineStore::push`], [`TimelineStore::merge`], [`TimelineStore::add_popular_follow`])
//! only touch built ones, so a cold timeline is never half built.
//!
//! **Popular authors.** The store also keeps a global set of *popular* authors (authors whose
//! posts are not pushed to their followers) with a *popular version* that changes whenever an
//! author joins the set, a capped list of each popular author's recent entries, and, with each
//! built timeline, the popular authors its user follows and the popular version it was built
//! at. A timeline built at another popular version than the current one may hold entries of an
//! author who has since turned popular, and lacks that author among its popular follows: the
//! service treats it as cold.

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

/// A page of a built timeline, with what a reader needs to merge popular authors' posts in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuiltPage {
    /// The timeline's own entries, newest first.
    pub entries: Vec<Entry>,
    /// The popular authors the user follows (as of the rebuild, then kept by follow and
    /// unfollow events), sorted.
    pub popular_followed: Vec<Uuid>,
    /// The popular version the timeline was built at.
    pub built_at_version: u64,
    /// The current popular version, read with the page.
    pub popular_version: u64,
}

impl BuiltPage {
    /// Whether the timeline was built at the current popular version: if not, an author it
    /// holds entries of may have turned popular since, and it must be rebuilt.
    pub fn is_current(&self) -> bool {
        self.built_at_version == self.popular_version
    }
}

/// The popular authors among some, and the popular version they were read at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PopularAmong {
    /// The popular version, read before the set: every author who turned popular at or before
    /// it is in `authors` (when asked about).
    pub version: u64,
    /// Those of the authors asked about who are popular, in the order asked, once each.
    pub authors: Vec<Uuid>,
}

/// Where home timelines are kept.
#[async_trait]
pub trait TimelineStore: Send + Sync {
    /// The newest entries strictly older than `before` (post ids are UUIDv7: id order is time
    /// order), newest first, at most `limit`, with the timeline's popular follows and versions.
    /// `None` when the user has no cached timeline (cold: never built, evicted, or the store
    /// was flushed) — an empty but built timeline is `Some` with no entries. A read keeps the
    /// timeline alive for another idle TTL.
    async fn page(
        &self,
        user: Uuid,
        before: Option<Uuid>,
        limit: usize,
    ) -> Result<Option<BuiltPage>, TimelineError>;

    /// Replaces the user's whole timeline (a rebuild), keeping the newest `cap`, with the
    /// popular authors the user follows and the popular version it was built at (from
    /// [`TimelineStore::popular_among`]); marks it built.
    async fn replace(
        &self,
        user: Uuid,
        entries: &[Entry],
        popular_followed: &[Uuid],
        version: u64,
    ) -> Result<(), TimelineError>;

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

    /// Forgets a user's timeline, popular follows included (it rebuilds on the next read).
    async fn evict(&self, user: Uuid) -> Result<(), TimelineError>;

    /// Adds `author` to the popular authors the user follows (after following a popular
    /// author); no-op when cold. Idempotent.
    async fn add_popular_follow(&self, user: Uuid, author: Uuid) -> Result<(), TimelineError>;

    /// Removes `author` from the popular authors the user follows (after an unfollow).
    /// Idempotent.
    async fn remove_popular_follow(&self, user: Uuid, author: Uuid) -> Result<(), TimelineError>;

    /// Adds `author` to the popular authors; the popular version changes (grows) when the
    /// author is new to the set. Whether they were new.
    async fn mark_popular(&self, author: Uuid) -> Result<bool, TimelineError>;

    /// The current popular version.
    async fn popular_version(&self) -> Result<u64, TimelineError>;

    /// Those of `authors` who are popular, and the popular version (read first, atomically
    /// with the set): what a rebuild records with the timeline.
    async fn popular_among(&self, authors: &[Uuid]) -> Result<PopularAmong, TimelineError>;

    /// Adds entries (all by `author`) to the author's recent list, keeping the newest `cap`.
    /// Whether the list held anything before (`false`: never seeded, emptied by deletes, or
    /// lost — the caller seeds it from the posts). Idempotent.
    async fn push_author_recent(
        &self,
        author: Uuid,
        entries: &[Entry],
    ) -> Result<bool, TimelineError>;

    /// Removes `post` from the author's recent list (after a delete). Idempotent.
    async fn remove_author_recent(&self, author: Uuid, post: Uuid) -> Result<(), TimelineError>;

    /// The newest entries of these authors' recent lists strictly older than `before`, newest
    /// first, at most `limit`.
    async fn author_recent(
        &self,
        authors: &[Uuid],
        before: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<Entry>, TimelineError>;

    /// Checks the store answers (readiness).
    async fn ping(&self) -> Result<(), TimelineError>;

    /// `memory` or `redis`, for metrics and logs.
    fn name(&self) -> &'static str;
}

/// How big timelines get and how long unread ones are kept; the same for every adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineStoreSettings {
    /// The most entries a timeline keeps (the newest ones), and a popular author's recent
    /// list too. Default 800.
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
