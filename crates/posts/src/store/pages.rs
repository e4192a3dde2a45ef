//! The hot pages (a home page's posts, an author's page, one post) answered from memory: the
//! rows of the posts shown ([`RowCache`]), each author's newest post ids ([`AuthorIds`]) and
//! what each reader liked (a [`HeldSets`]), in front of a store's database ([`PageSource`]).
//!
//! **Coherence.** The store that holds a [`PageCache`] tells it of each change it commits
//! ([`PageCache::created`] and the like), precisely, after the commit; a read from the
//! database that began before a change is not kept after it (each part's generation). That
//! is enough when the store is the only writer, as the embedded SQLite store is.
//!
//! A store shared by several processes (PostgreSQL) also learns of the others' changes from
//! the posts topic ([`PageCacheFeed`], a live subscription in every process), and forgets
//! what they touched: the rows of the posts concerned, the author's ids, the liker's likes.
//! Forgetting is right in whatever order the events arrive. Until an event arrives, a page
//! served by this process may show another process's change late (a like count, a new post
//! on its author's page), by the event's delay: milliseconds. A live subscription does not
//! redeliver what was published while it was cut off, so such a cache also forgets
//! everything every [`PageCache::max_age`]: that bounds how long a missed event can show.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::SubsecRound;
use socialdevs_events::types::{PostCreatedV1, PostDeletedV1, PostLikedV1, PostUnlikedV1};
use socialdevs_events::{CloudEvent, Handler, HandlerError};
use socialdevs_platform::db::held::{Held, HeldSets};
use uuid::Uuid;

use super::author_ids::{AuthorIds, Range};
use super::rows::RowCache;
use crate::model::{NewPost, PostFilter, PostRow};

/// Post rows kept in memory at most (a few MiB).
const CACHED_ROWS: usize = 20_000;
/// Newest post ids kept per author (pages up to this size come from memory), and in all.
const AUTHOR_WINDOW: usize = 64;
const CACHED_AUTHOR_IDS: usize = 100_000;
/// Likes kept per reader (readers who liked more are asked of the database), and in all.
const LIKES_PER_READER: usize = 2_000;
const CACHED_LIKES: usize = 100_000;

/// The reads a [`PageCache`] makes of its store's database when memory cannot answer.
#[async_trait]
pub trait PageSource: Send + Sync {
    /// The rows among `ids` that exist, any order, `liked_by_me` false.
    async fn rows_by_ids(&self, ids: &[Uuid]) -> anyhow::Result<Vec<PostRow>>;
    /// The posts `viewer` liked, at most `limit`.
    async fn liked_by(&self, viewer: Uuid, limit: u32) -> anyhow::Result<Vec<Uuid>>;
    /// Which of `posts` `viewer` liked.
    async fn liked_among(&self, viewer: Uuid, posts: &[Uuid]) -> anyhow::Result<Vec<Uuid>>;
    /// `author`'s post ids in `range`, newest first, at most `limit` (the author index).
    async fn author_ids(&self, author: Uuid, range: Range, limit: u32)
        -> anyhow::Result<Vec<Uuid>>;
}

/// Rows, author ids and likes in memory, for one store (see the module's documentation).
pub struct PageCache {
    rows: RowCache,
    author_ids: AuthorIds,
    /// What each reader liked (post ids). A deleted post's id may stay in a set: harmless,
    /// no page shows a deleted post.
    likes: HeldSets<HashSet<Uuid>>,
    /// Everything is forgotten this often (`None`: never; the store is the only writer).
    max_age: Option<Duration>,
    /// Since when (ms after `epoch`) what is held was read.
    cleared_at: AtomicU64,
    epoch: Instant,
}

impl PageCache {
    /// A cache for a store that is the only writer of its posts.
    pub fn sole_writer() -> Self {
        Self::new(None)
    }

    /// A cache for a store other processes write too: it forgets everything every `max_age`,
    /// on top of what [`PageCacheFeed`] tells it.
    pub fn shared(max_age: Duration) -> Self {
        Self::new(Some(max_age))
    }

    fn new(max_age: Option<Duration>) -> Self {
        Self {
            rows: RowCache::new(CACHED_ROWS),
            author_ids: AuthorIds::new(AUTHOR_WINDOW, CACHED_AUTHOR_IDS),
            likes: HeldSets::new(LIKES_PER_READER, CACHED_LIKES),
            max_age,
            cleared_at: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// How long anything is held at most (`None`: until it changes).
    pub fn max_age(&self) -> Option<Duration> {
        self.max_age
    }

    /// Forgets everything when it is older than `max_age`.
    fn expire(&self) {
        let Some(max_age) = self.max_age else {
            return;
        };
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let cleared = self.cleared_at.load(Ordering::Relaxed);
        let due = now.saturating_sub(cleared) >= u64::try_from(max_age.as_millis()).unwrap_or(0);
        if due
            && self
                .cleared_at
                .compare_exchange(cleared, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.clear();
        }
    }

    /// Forgets everything, and any read that began before.
    pub fn clear(&self) {
        self.rows.clear();
        self.author_ids.clear();
        self.likes.clear();
    }

    /// The ids a page of `filter` shows (before dropping those that no longer exist), for
    /// the filters the hot pages use; `None` for the others.
    pub async fn page_ids(
        &self,
        source: &dyn PageSource,
        filter: &PostFilter,
        after: Option<Uuid>,
        limit: u32,
    ) -> anyhow::Result<Option<Vec<Uuid>>> {
        self.expire();
        let before = |id: &Uuid| after.is_none_or(|a| *id < a);
        let mut ids: Vec<Uuid> = match filter {
            PostFilter::Ids(ids) => ids.iter().copied().filter(before).collect(),
            PostFilter::IdsOrOwn {
                ids,
                author,
                after: own_after,
            } => {
                let mut all: Vec<Uuid> = ids.iter().copied().filter(before).collect();
                all.extend(
                    self.author_page(source, *author, Range::After(*own_after), limit)
                        .await?
                        .into_iter()
                        .filter(before),
                );
                all
            }
            PostFilter::Author(author) => {
                self.author_page(source, *author, Range::Before(after), limit)
                    .await?
            }
            _ => return Ok(None),
        };
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids.dedup();
        Ok(Some(ids))
    }

    /// `author`'s post ids in `range`, newest first, at most `limit`: from memory when the
    /// author's window holds them, else from the author index.
    async fn author_page(
        &self,
        source: &dyn PageSource,
        author: Uuid,
        range: Range,
        limit: u32,
    ) -> anyhow::Result<Vec<Uuid>> {
        let limit_n = limit as usize;
        let (held, read_at) = match self.author_ids.page(author, range, limit_n) {
            Ok(page) => return Ok(page),
            Err(miss) => miss,
        };
        if !held {
            // Not held: read the author's newest window, keep it, answer from it if it can.
            let newest = source
                .author_ids(author, Range::Before(None), self.author_ids.read_limit())
                .await?;
            if let Some(page) = self
                .author_ids
                .keep(read_at, author, newest, range, limit_n)
            {
                return Ok(page);
            }
        }
        source.author_ids(author, range, limit).await
    }

    /// Which of `posts` `viewer` liked: from memory once their likes were read.
    async fn liked_among(
        &self,
        source: &dyn PageSource,
        viewer: Uuid,
        posts: &[Uuid],
    ) -> anyhow::Result<Vec<Uuid>> {
        let among = |liked: &HashSet<Uuid>| -> Vec<Uuid> {
            posts
                .iter()
                .filter(|p| liked.contains(p))
                .copied()
                .collect()
        };
        let read_at = match self.likes.with(viewer, among) {
            Held::Members(liked) => return Ok(liked),
            Held::TooMany => return source.liked_among(viewer, posts).await,
            Held::Unknown(read_at) => read_at,
        };
        let all = source.liked_by(viewer, self.likes.read_limit()).await?;
        match self.likes.keep(read_at, viewer, all) {
            Some(liked) => Ok(among(&liked)),
            None => source.liked_among(viewer, posts).await,
        }
    }

    /// The rows of `ids` that exist, in that order, with `viewer`'s likes: from memory, and
    /// one statement for those not there.
    pub async fn rows_of(
        &self,
        source: &dyn PageSource,
        ids: &[Uuid],
        viewer: Option<Uuid>,
    ) -> anyhow::Result<Vec<PostRow>> {
        self.expire();
        let (mut found, missing, read_at) = self.rows.lookup(ids);
        if !missing.is_empty() {
            let read = source.rows_by_ids(&missing).await?;
            self.rows.keep(read_at, &read);
            found.extend(read.into_iter().map(|row| (row.id, row)));
        }
        if let Some(viewer) = viewer.filter(|_| !found.is_empty()) {
            let shown: Vec<Uuid> = found.keys().copied().collect();
            for id in self.liked_among(source, viewer, &shown).await? {
                if let Some(row) = found.get_mut(&id) {
                    row.liked_by_me = true;
                }
            }
        }
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    /// This store created `post` (committed).
    pub fn created(&self, post: &NewPost) {
        if let Some(parent) = post.reply_to {
            self.rows.changed(&[parent]);
        }
        self.rows.created(PostRow {
            id: post.id,
            author_id: post.author_id,
            text: post.text.clone(),
            reply_to: post.reply_to,
            hashtags: post.hashtags.clone(),
            mentions: post.mentions.clone(),
            // As stored (microseconds) and read back.
            created_at: post.created_at.trunc_subsecs(6),
            like_count: 0,
            reply_count: 0,
            liked_by_me: false,
        });
        self.author_ids.created(post.author_id, post.id);
    }

    /// This store deleted `author`'s post `id`, a reply to `reply_to` if any (committed).
    pub fn deleted(&self, author: Uuid, id: Uuid, reply_to: Option<Uuid>) {
        self.author_ids.deleted(author, id);
        match reply_to {
            Some(parent) => self.rows.changed(&[id, parent]),
            None => self.rows.changed(&[id]),
        }
    }

    /// This store recorded `user`'s like of `post` (committed).
    pub fn liked(&self, user: Uuid, post: Uuid) {
        self.likes.added(user, post);
        self.rows.changed(&[post]);
    }

    /// This store removed `user`'s like of `post` (committed).
    pub fn unliked(&self, user: Uuid, post: Uuid) {
        self.likes.removed(user, post);
        self.rows.changed(&[post]);
    }

    /// Some process (maybe this one) committed the change `event` tells of: forget what it
    /// touched. Events of other topics and types change nothing.
    pub fn forget_changed(&self, event: &CloudEvent) -> Result<(), HandlerError> {
        let permanent = |e: serde_json::Error| HandlerError::Permanent(e.into());
        if let Some(created) = event.decode::<PostCreatedV1>() {
            let created = created.map_err(permanent)?;
            self.author_ids.forget(created.author_id);
            if let Some(parent) = created.reply_to {
                self.rows.changed(&[parent]);
            }
        } else if let Some(deleted) = event.decode::<PostDeletedV1>() {
            let deleted = deleted.map_err(permanent)?;
            self.author_ids.forget(deleted.author_id);
            match deleted.reply_to {
                Some(parent) => self.rows.changed(&[deleted.post_id, parent]),
                None => self.rows.changed(&[deleted.post_id]),
            }
        } else if let Some(liked) = event.decode::<PostLikedV1>() {
            let liked = liked.map_err(permanent)?;
            self.likes.forget(liked.user_id);
            self.rows.changed(&[liked.post_id]);
        } else if let Some(unliked) = event.decode::<PostUnlikedV1>() {
            let unliked = unliked.map_err(permanent)?;
            self.likes.forget(unliked.user_id);
            self.rows.changed(&[unliked.post_id]);
        }
        Ok(())
    }
}

/// The live consumer of the posts topic that keeps a shared store's [`PageCache`] coherent
/// with the other processes' changes (every process reads every event; nothing is stored).
pub struct PageCacheFeed(pub Arc<PageCache>);

#[async_trait]
impl Handler for PageCacheFeed {
    async fn handle(&self, event: &CloudEvent) -> Result<(), HandlerError> {
        self.0.forget_changed(event)
    }
}
