//! The timeline service's rules: hybrid fan-out. Home timelines are fanned out on write into
//! a timeline store, except for popular authors' posts, which are merged in on read; timelines
//! are rebuilt from the other services' data when cold, and computed on read (bounded) when the
//! store is down.
//!
//! - **Popular authors** are those with more followers than `fanout_max_followers` when they
//!   post or delete a post. The store keeps the set of them (they stay in it), a *popular
//!   version* that changes whenever one joins it, and a recent list per popular author (their
//!   newest `cap` entries, seeded from the posts service when they join).
//! - **Write:** the fan-out consumer ([`Fanout`]) puts each new post of an ordinary author in
//!   the author's and followers' built timelines, and each new post of a popular author in the
//!   author's timeline and recent list only; it takes deleted posts out of the same places. On
//!   a follow it merges an ordinary followee's recent posts into the follower's timeline, or
//!   records a popular followee among the timeline's popular follows; on an unfollow it removes
//!   both.
//! - **Read:** a page of entries from the store, with the popular authors the reader follows
//!   and the popular version the timeline was built at. A timeline built at another version
//!   than the current one is treated as cold (an author it holds may have turned popular since;
//!   authors turn popular rarely, so these rebuilds are rare). Otherwise the page is merged,
//!   newest first and without duplicates, with the popular authors' recent entries, then one
//!   call to the posts service fetches the posts (counts and the reader's likes) plus the
//!   reader's own newest posts, so a post is in its author's timeline as soon as the create
//!   call returns. No other service is called.
//! - **Rebuild:** the newest `cap` posts of the reader and everyone they follow, from the posts
//!   service, answer the read; the timeline stored keeps those of authors not popular (and the
//!   reader's own), with the popular authors among the followed ones and the version read with
//!   them. Rebuilt or kept by fan-out, a timeline shows the same posts: the newest `cap` of the
//!   merge are exactly those the posts service gives. (Past that depth a reader who follows
//!   popular authors may page further back into their recent lists.)

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use socialdevs_api::internal::OwnAfter;
use socialdevs_api::Post;
use socialdevs_events::types::{PostCreatedV1, PostDeletedV1, UserFollowedV1, UserUnfollowedV1};
use socialdevs_events::{CloudEvent, Handler, HandlerError};
use socialdevs_platform::pagination::{encode_cursor, Page, PageParams};
use socialdevs_platform::ApiError;
use uuid::Uuid;

use crate::store::{BuiltPage, Entry, TimelineError, TimelineStore};
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
/// Metric: authors who turned popular (each makes every built timeline rebuild once).
pub const POPULAR_MARKED_TOTAL: &str = "socialdevs_timeline_popular_marked_total";

/// How timelines behave.
#[derive(Debug, Clone)]
pub struct TimelineSettings {
    /// Entries kept per timeline (and read back when rebuilding).
    pub cap: usize,
    /// Authors with more followers are popular: not fanned out on write, merged in on read.
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
        metrics::counter!(POPULAR_MARKED_TOTAL).increment(0);
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
            Ok(Some(built)) if built.is_current() => {
                match self.with_popular(built, page.after, limit + 1).await {
                    Ok(entries) => {
                        metrics::counter!(READS_TOTAL, "source" => "store").increment(1);
                        entries
                    }
                    Err(err) => {
                        self.fallback("author_recent", &err, user, page.after, limit + 1)
                            .await?
                    }
                }
            }
            Ok(_) => {
                // Cold, or built before an author it holds turned popular.
                metrics::counter!(READS_TOTAL, "source" => "rebuilt").increment(1);
                let rebuilt = self.rebuild(user).await?;
                self.store_rebuilt(user, &rebuilt).await;
                window(rebuilt.entries, page.after, limit + 1)
            }
            Err(err) => {
                self.fallback("page", &err, user, page.after, limit + 1)
                    .await?
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

    /// A built page merged with the recent entries of the popular authors its user follows:
    /// up to `n` entries older than `before`, newest first, once each.
    async fn with_popular(
        &self,
        built: BuiltPage,
        before: Option<Uuid>,
        n: usize,
    ) -> Result<Vec<Entry>, TimelineError> {
        let mut entries = built.entries;
        if built.popular_followed.is_empty() {
            return Ok(entries);
        }
        entries.extend(
            self.store
                .author_recent(&built.popular_followed, before, n)
                .await?,
        );
        entries.sort_unstable_by_key(|e| std::cmp::Reverse(e.post_id));
        entries.dedup_by_key(|e| e.post_id);
        entries.truncate(n);
        Ok(entries)
    }

    /// The store failed: up to `n` entries older than `before` computed from the services'
    /// data instead.
    async fn fallback(
        &self,
        operation: &'static str,
        err: &TimelineError,
        user: Uuid,
        before: Option<Uuid>,
        n: usize,
    ) -> Result<Vec<Entry>, ApiError> {
        store_error(operation, err);
        metrics::counter!(READS_TOTAL, "source" => "fallback").increment(1);
        Ok(window(self.rebuild(user).await?.entries, before, n))
    }

    /// `user`'s timeline computed from the follow graph and the posts: the newest `cap`
    /// posts of the user and everyone they follow (popular or not), asked in chunks of
    /// authors.
    async fn rebuild(&self, user: Uuid) -> Result<Rebuilt, ApiError> {
        metrics::counter!(REBUILDS_TOTAL).increment(1);
        let following = self.graph.following_ids(user).await?;
        let mut authors = following.clone();
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
        Ok(Rebuilt { following, entries })
    }

    /// Stores a rebuilt timeline: the entries of authors not popular (and the user's own),
    /// the popular authors the user follows, and the popular version read with them. A store
    /// failure is logged: the read is answered anyway.
    async fn store_rebuilt(&self, user: Uuid, rebuilt: &Rebuilt) {
        let popular = match self.store.popular_among(&rebuilt.following).await {
            Ok(popular) => popular,
            Err(err) => return store_error("popular_among", &err),
        };
        let kept: Vec<Entry> = if popular.authors.is_empty() {
            rebuilt.entries.clone()
        } else {
            let merged_in: HashSet<Uuid> = popular.authors.iter().copied().collect();
            rebuilt
                .entries
                .iter()
                .filter(|e| e.author_id == user || !merged_in.contains(&e.author_id))
                .copied()
                .collect()
        };
        if let Err(err) = self
            .store
            .replace(user, &kept, &popular.authors, popular.version)
            .await
        {
            store_error("replace", &err);
        }
    }

    /// Whose timelines a post of `author` goes to: the author's and, unless the author is
    /// popular, every follower's.
    async fn audience(&self, author: Uuid) -> Result<Audience, HandlerError> {
        if self.is_popular(author).await? {
            return Ok(Audience::Popular { marked: true });
        }
        let limit = self.settings.fanout_max_followers;
        let mut followers = self
            .graph
            .follower_ids(author, limit.saturating_add(1))
            .await
            .map_err(transient)?;
        if followers.len() > limit as usize {
            return Ok(Audience::Popular { marked: false });
        }
        followers.push(author);
        Ok(Audience::Followers(followers))
    }

    /// Whether `author` is in the store's popular set.
    async fn is_popular(&self, author: Uuid) -> Result<bool, HandlerError> {
        let popular = self
            .store
            .popular_among(&[author])
            .await
            .map_err(transient)?;
        Ok(popular.authors.contains(&author))
    }

    /// Seeds `author`'s recent list from the posts service (plus `entry`, a post that may not
    /// be listed yet), before they are marked popular or after their list was lost.
    async fn seed_author_recent(
        &self,
        author: Uuid,
        entry: Option<Entry>,
    ) -> Result<(), HandlerError> {
        let mut entries = self
            .feed
            .recent_entries(vec![author], self.settings.cap as u32)
            .await
            .map_err(transient)?;
        entries.extend(entry);
        self.store
            .push_author_recent(author, &entries)
            .await
            .map_err(transient)?;
        Ok(())
    }

    /// Marks `author` popular: seeds their recent list first, so a timeline rebuilt at the
    /// new popular version finds their posts there.
    async fn mark_popular(&self, author: Uuid, entry: Option<Entry>) -> Result<(), HandlerError> {
        self.seed_author_recent(author, entry).await?;
        if self.store.mark_popular(author).await.map_err(transient)? {
            metrics::counter!(POPULAR_MARKED_TOTAL).increment(1);
            tracing::info!(%author, "author turned popular: their posts are merged in on read");
        }
        Ok(())
    }
}

/// A timeline computed from the services' data.
struct Rebuilt {
    /// Whom the user follows.
    following: Vec<Uuid>,
    /// The newest `cap` posts of the user and everyone they follow, newest first.
    entries: Vec<Entry>,
}

/// Where a post goes.
enum Audience {
    /// These timelines (the followers' and the author's).
    Followers(Vec<Uuid>),
    /// The author's timeline and recent list: the author is popular (already `marked` in the
    /// store, or not yet: more followers than the fan-out limit).
    Popular { marked: bool },
}

/// Up to `n` entries older than `before`, from a newest-first list.
fn window(entries: Vec<Entry>, before: Option<Uuid>, n: usize) -> Vec<Entry> {
    entries
        .into_iter()
        .filter(|e| before.is_none_or(|b| e.post_id < b))
        .take(n)
        .collect()
}

/// The fan-out consumer: keeps built timelines and popular authors' recent lists current from
/// the posts and follows events.
///
/// Idempotent by construction: pushing an entry that is there, removing one that is not,
/// merging entries already merged and marking a popular author again change nothing, so
/// redelivered events are harmless.
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
        let store = &service.store;
        if let Some(created) = decoded::<PostCreatedV1>(event) {
            let created = created?;
            let started = Instant::now();
            let author = created.author_id;
            let entry = Entry {
                post_id: created.post_id,
                author_id: author,
            };
            let audience = match service.audience(author).await? {
                Audience::Followers(audience) => audience,
                Audience::Popular { marked: false } => {
                    service.mark_popular(author, Some(entry)).await?;
                    vec![author]
                }
                Audience::Popular { marked: true } => {
                    let kept = store
                        .push_author_recent(author, &[entry])
                        .await
                        .map_err(transient)?;
                    if !kept {
                        // The list was emptied by deletes, or lost: seed it again.
                        service.seed_author_recent(author, Some(entry)).await?;
                    }
                    vec![author]
                }
            };
            store.push(&audience, entry).await.map_err(transient)?;
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
            let author = deleted.author_id;
            let audience = match service.audience(author).await? {
                Audience::Followers(audience) => audience,
                Audience::Popular { marked } => {
                    if !marked {
                        // Its followers' timelines are too many to clean: mark the author
                        // popular, so they rebuild (without the deleted post).
                        service.mark_popular(author, None).await?;
                    }
                    store
                        .remove_author_recent(author, deleted.post_id)
                        .await
                        .map_err(transient)?;
                    vec![author]
                }
            };
            store
                .remove_post(&audience, deleted.post_id)
                .await
                .map_err(transient)?;
        } else if let Some(followed) = decoded::<UserFollowedV1>(event) {
            let followed = followed?;
            if service.is_popular(followed.followee_id).await? {
                store
                    .add_popular_follow(followed.follower_id, followed.followee_id)
                    .await
                    .map_err(transient)?;
            } else {
                let entries = service
                    .feed
                    .recent_entries(vec![followed.followee_id], service.settings.cap as u32)
                    .await
                    .map_err(transient)?;
                store
                    .merge(followed.follower_id, &entries)
                    .await
                    .map_err(transient)?;
            }
        } else if let Some(unfollowed) = decoded::<UserUnfollowedV1>(event) {
            let unfollowed = unfollowed?;
            store
                .remove_author(unfollowed.follower_id, unfollowed.followee_id)
                .await
                .map_err(transient)?;
            store
                .remove_popular_follow(unfollowed.follower_id, unfollowed.followee_id)
                .await
                .map_err(transient)?;
        }
        Ok(())
    }
}
