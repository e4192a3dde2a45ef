//! The timeline service's rules: home timelines fanned out on write into a timeline store,
//! rebuilt from the other services' data when cold, computed on read (bounded) when the store
//! is down.
//!
//! - **Write:** the fan-out consumer ([`Fanout`]) puts each new post in its author's and
//!   followers' built timelines, takes deleted posts out, merges a followee's recent posts on
//!   follow and removes them on unfollow. Authors with more followers than
//!   `fanout_max_followers` are not fanned out (only their own timeline gets the post); their
//!   posts reach followers when those rebuild (hybrid fan-out, see `docs/events.md`).
//! - **Read:** a page of entries from the store, then one call to the posts service for the
//!   posts (counts and the reader's likes) plus the reader's own newest posts, so a post is in
//!   its author's timeline as soon as the create call returns.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use socialdevs_events::types::{PostCreatedV1, PostDeletedV1, UserFollowedV1, UserUnfollowedV1};
use socialdevs_events::{CloudEvent, Handler, HandlerError};
use socialdevs_platform::pagination::{encode_cursor, Page, PageParams};
use socialdevs_platform::ApiError;
use socialdevs_posts::model::Post;
use socialdevs_posts::OwnAfter;
use uuid::Uuid;

use crate::store::{Entry, TimelineError, TimelineStore};
use crate::{FollowGraph, PostFeed};

/// Metric: home timeline reads by `source` (`store`, `rebuilt`, `fallback`).
pub const READS_TOTAL: &str = "socialdevs_timeline_reads_total";
/// Metric: timelines rebuilt from the services' data.
pub const REBUILDS_TOTAL: &str = "socialdevs_timeline_rebuilds_total";
/// Metric: timeline store errors by `operation`.
pub const STORE_ERRORS_TOTAL: &str = "socialdevs_timeline_store_errors_total";
/// Metric: how many timelines one post was fanned out to.
pub const FANOUT_SIZE: &str = "socialdevs_timeline_fanout_size";
/// Metric: time to fan one post out.
pub const FANOUT_DURATION_SECONDS: &str = "socialdevs_timeline_fanout_duration_seconds";
/// Metric: from a post's creation to its fan-out into the follower timelines.
pub const FANOUT_LAG_SECONDS: &str = "socialdevs_timeline_fanout_lag_seconds";

/// How timelines behave.
#[derive(Debug, Clone)]
pub struct TimelineSettings {
    /// Entries kept per timeline (and read back when rebuilding).
    pub cap: usize,
    /// Authors with more followers are not fanned out on write.
    pub fanout_max_followers: u32,
    /// How many of the reader's own newest posts a first page may add.
    pub own_posts: u32,
}

impl Default for TimelineSettings {
    fn default() -> Self {
        Self {
            cap: 800,
            fanout_max_followers: 10_000,
            own_posts: 20,
        }
    }
}

/// Authors per rebuild request: keeps each request body small whatever the follow count.
const REBUILD_CHUNK: usize = 500;

/// Home timelines.
#[derive(Clone)]
pub struct TimelineService {
    store: Arc<dyn TimelineStore>,
    graph: Arc<dyn FollowGraph>,
    feed: Arc<dyn PostFeed>,
    settings: TimelineSettings,
}

fn store_error(operation: &'static str, err: &TimelineError) {
    metrics::counter!(STORE_ERRORS_TOTAL, "operation" => operation).increment(1);
    tracing::warn!(operation, error = %format!("{err:#}"), "timeline store failed");
}

impl TimelineService {
    /// Assembles the service.
    pub fn new(
        store: Arc<dyn TimelineStore>,
        graph: Arc<dyn FollowGraph>,
        feed: Arc<dyn PostFeed>,
        settings: TimelineSettings,
    ) -> Self {
        for source in ["store", "rebuilt", "fallback"] {
            metrics::counter!(READS_TOTAL, "source" => source).increment(0);
        }
        metrics::counter!(REBUILDS_TOTAL).increment(0);
        Self {
            store,
            graph,
            feed,
            settings,
        }
    }

    /// The timeline store (readiness).
    pub fn store(&self) -> &Arc<dyn TimelineStore> {
        &self.store
    }

    /// A page of `user`'s home timeline: their own and followed users' posts, newest first.
    pub async fn home(&self, user: Uuid, params: &PageParams) -> Result<Page<Post>, ApiError> {
        let page = params.parse::<Uuid>()?;
        let limit = page.limit as usize;
        let entries = match self.store.page(user, page.after, limit + 1).await {
            Ok(Some(entries)) => {
                metrics::counter!(READS_TOTAL, "source" => "store").increment(1);
                entries
            }
            Ok(None) => {
                metrics::counter!(READS_TOTAL, "source" => "rebuilt").increment(1);
                let all = self.rebuild(user).await?;
                if let Err(err) = self.store.replace(user, &all).await {
                    store_error("replace", &err);
                }
                window(all, page.after, limit + 1)
            }
            Err(err) => {
                // The store is down: compute this page from the services' data instead.
                store_error("page", &err);
                metrics::counter!(READS_TOTAL, "source" => "fallback").increment(1);
                window(self.rebuild(user).await?, page.after, limit + 1)
            }
        };
        let more = entries.len() > limit;
        let shown: Vec<Entry> = entries.into_iter().take(limit).collect();
        let own_after = page.after.is_none().then(|| OwnAfter {
            after: shown.first().map(|e| e.post_id),
            limit: self.settings.own_posts,
        });
        let next_cursor = more
            .then(|| shown.last().map(|e| encode_cursor(&e.post_id)))
            .flatten();
        let ids = shown.iter().map(|e| e.post_id).collect();
        let fetched = self.feed.timeline_page(ids, user, own_after).await?;
        let mut posts = fetched.own;
        posts.extend(fetched.posts);
        posts.sort_by_key(|p| std::cmp::Reverse(p.id));
        posts.dedup_by_key(|p| p.id);
        Ok(Page {
            items: posts,
            next_cursor,
        })
    }

    /// `user`'s timeline computed from the follow graph and the posts: the newest `cap`
    /// posts of the user and everyone they follow, asked in chunks of authors.
    async fn rebuild(&self, user: Uuid) -> Result<Vec<Entry>, ApiError> {
        metrics::counter!(REBUILDS_TOTAL).increment(1);
        let mut authors = self.graph.following_ids(user).await?;
        authors.push(user);
        let mut entries = Vec::new();
        for chunk in authors.chunks(REBUILD_CHUNK) {
            entries.extend(
                self.feed
                    .recent_entries(chunk.to_vec(), self.settings.cap as u32)
                    .await?,
            );
        }
        entries.sort_by_key(|e| std::cmp::Reverse(e.post_id));
        entries.dedup_by_key(|e| e.post_id);
        entries.truncate(self.settings.cap);
        Ok(entries)
    }

    /// Whose timelines a post of `author` goes to: the author's and, unless the author is
    /// popular, every follower's.
    async fn audience(&self, author: Uuid) -> Result<Vec<Uuid>, ApiError> {
        let limit = self.settings.fanout_max_followers;
        let mut followers = self
            .graph
            .follower_ids(author, limit.saturating_add(1))
            .await?;
        if followers.len() > limit as usize {
            // Hybrid: a popular author's posts are not pushed to every follower.
            followers.clear();
        }
        followers.push(author);
        Ok(followers)
    }
}

/// Up to `n` entries older than `before`, from a newest-first list.
fn window(entries: Vec<Entry>, before: Option<Uuid>, n: usize) -> Vec<Entry> {
    entries
        .into_iter()
        .filter(|e| before.is_none_or(|b| e.post_id < b))
        .take(n)
        .collect()
}

/// The fan-out consumer: keeps built timelines current from the posts and follows events.
///
/// Idempotent by construction: pushing an entry that is there, removing one that is not, and
/// merging entries already merged change nothing, so redelivered events are harmless.
pub struct Fanout(pub TimelineService);

fn transient(err: impl Into<anyhow::Error>) -> HandlerError {
    HandlerError::Transient(err.into())
}

fn decoded<E: socialdevs_events::EventType>(event: &CloudEvent) -> Option<Result<E, HandlerError>> {
    event
        .decode::<E>()
        .map(|r| r.map_err(|e| HandlerError::Permanent(e.into())))
}

#[async_trait]
impl Handler for Fanout {
    async fn handle(&self, event: &CloudEvent) -> Result<(), HandlerError> {
        let service = &self.0;
        if let Some(created) = decoded::<PostCreatedV1>(event) {
            let created = created?;
            let started = Instant::now();
            let audience = service
                .audience(created.author_id)
                .await
                .map_err(transient)?;
            let entry = Entry {
                post_id: created.post_id,
                author_id: created.author_id,
            };
            service
                .store
                .push(&audience, entry)
                .await
                .map_err(transient)?;
            metrics::histogram!(FANOUT_SIZE).record(audience.len() as f64);
            metrics::histogram!(FANOUT_DURATION_SECONDS).record(started.elapsed().as_secs_f64());
            let lag = (chrono::Utc::now() - created.created_at)
                .num_microseconds()
                .unwrap_or(0)
                .max(0) as f64
                / 1e6;
            metrics::histogram!(FANOUT_LAG_SECONDS).record(lag);
        } else if let Some(deleted) = decoded::<PostDeletedV1>(event) {
            let deleted = deleted?;
            let audience = service
                .audience(deleted.author_id)
                .await
                .map_err(transient)?;
            service
                .store
                .remove_post(&audience, deleted.post_id)
                .await
                .map_err(transient)?;
        } else if let Some(followed) = decoded::<UserFollowedV1>(event) {
            let followed = followed?;
            let entries = service
                .feed
                .recent_entries(vec![followed.followee_id], service.settings.cap as u32)
                .await
                .map_err(transient)?;
            service
                .store
                .merge(followed.follower_id, &entries)
                .await
                .map_err(transient)?;
        } else if let Some(unfollowed) = decoded::<UserUnfollowedV1>(event) {
            let unfollowed = unfollowed?;
            service
                .store
                .remove_author(unfollowed.follower_id, unfollowed.followee_id)
                .await
                .map_err(transient)?;
        }
        Ok(())
    }
}
