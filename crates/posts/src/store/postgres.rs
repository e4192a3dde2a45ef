//! The posts store on PostgreSQL, inside the service's own schema.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use socialdevs_platform::db::PgDb;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use socialdevs_events::outbox::{postgres::append, OutboxSignal};

use super::author_ids::Range;
use super::pages::{PageCache, PageSource};
use super::{events, Created, Deleted, PostStore, StoreError, StoreResult};
use crate::model::{Author, IdempotencyKey, Liker, NewPost, PostFilter, PostRow};
use crate::SERVICE;

/// PostgreSQL adapter of [`PostStore`].
#[derive(Clone)]
pub struct PgPostStore {
    db: PgDb,
    outbox: OutboxSignal,
    /// The hot pages' rows, author ids and likes, kept current by this store's writes and,
    /// for the other processes' writes, by the posts topic ([`PageCache`]).
    pages: Arc<PageCache>,
}

/// How long the page cache holds anything at most: the longest a change made elsewhere
/// shows late when its event was missed (a live subscription cut off).
pub const PAGE_CACHE_MAX_AGE: Duration = Duration::from_secs(30);

impl PgPostStore {
    /// A store on a pool whose `search_path` is the (migrated) posts schema. Other processes
    /// may write the same schema: feed [`PostStore::shared_pages`] the posts topic.
    pub fn new(db: PgDb) -> Self {
        Self {
            db,
            outbox: OutboxSignal::default(),
            pages: Arc::new(PageCache::shared(PAGE_CACHE_MAX_AGE)),
        }
    }

    /// Wakes this signal (the service's relay in this process) after each commit that wrote
    /// events; relays elsewhere are woken by `NOTIFY`.
    pub fn with_outbox_signal(mut self, signal: OutboxSignal) -> Self {
        self.outbox = signal;
        self
    }
}

/// A timestamp cut to the microsecond, as SQLite stores it (rather than left to the driver,
/// which rounds toward 2000-01-01 and so differs before it).
fn micros(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

fn row_to_post(row: &PgRow) -> Result<PostRow, sqlx::Error> {
    Ok(PostRow {
        id: row.try_get("id")?,
        author_id: row.try_get("author_id")?,
        text: row.try_get("text")?,
        reply_to: row.try_get("reply_to")?,
        hashtags: row.try_get("hashtags")?,
        mentions: row.try_get("mentions")?,
        created_at: row.try_get("created_at")?,
        like_count: row.try_get("like_count")?,
        reply_count: row.try_get("reply_count")?,
        liked_by_me: row.try_get("liked_by_me")?,
    })
}

/// Columns of a post with its counts (kept on the row by triggers); `$1` is the viewer id (or
/// NULL).
const POST_SELECT: &str = "SELECT p.id, p.author_id, p.text, p.reply_to, p.hashtags, p.mentions, \
    p.created_at, p.like_count, p.reply_count, \
    EXISTS (SELECT 1 FROM likes l WHERE l.post_id = p.id AND l.user_id = $1) AS liked_by_me \
    FROM posts p";

/// Columns of a post with its counts, without the viewer's like.
const POST_ROW_SELECT: &str = "SELECT p.id, p.author_id, p.text, p.reply_to, p.hashtags, \
    p.mentions, p.created_at, p.like_count, p.reply_count, false AS liked_by_me FROM posts p";

#[async_trait]
impl PageSource for PgPostStore {
    async fn rows_by_ids(&self, ids: &[Uuid]) -> anyhow::Result<Vec<PostRow>> {
        let mut conn = self.db.acquire(SERVICE).await?;
        let rows = sqlx::query(&format!("{POST_ROW_SELECT} WHERE p.id = ANY($1)"))
            .bind(ids)
            .fetch_all(&mut *conn)
            .await?;
        Ok(rows.iter().map(row_to_post).collect::<Result<_, _>>()?)
    }

    async fn liked_by(&self, viewer: Uuid, limit: u32) -> anyhow::Result<Vec<Uuid>> {
        let mut conn = self.db.acquire(SERVICE).await?;
        Ok(
            sqlx::query_scalar("SELECT post_id FROM likes WHERE user_id = $1 LIMIT $2")
                .bind(viewer)
                .bind(i64::from(limit))
                .fetch_all(&mut *conn)
                .await?,
        )
    }

    async fn liked_among(&self, viewer: Uuid, posts: &[Uuid]) -> anyhow::Result<Vec<Uuid>> {
        let mut conn = self.db.acquire(SERVICE).await?;
        Ok(
            sqlx::query_scalar(
                "SELECT post_id FROM likes WHERE user_id = $1 AND post_id = ANY($2)",
            )
            .bind(viewer)
            .bind(posts)
            .fetch_all(&mut *conn)
            .await?,
        )
    }

    async fn author_ids(
        &self,
        author: Uuid,
        range: Range,
        limit: u32,
    ) -> anyhow::Result<Vec<Uuid>> {
        // Either bound defaults to an id no post has, so both are one range of
        // `posts_by_author` whatever the plan.
        let (sql, bound) = match range {
            Range::Before(bound) => (
                "SELECT id FROM posts WHERE author_id = $1 \
                 AND id < COALESCE($2, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid) \
                 ORDER BY id DESC LIMIT $3",
                bound,
            ),
            Range::After(bound) => (
                "SELECT id FROM posts WHERE author_id = $1 \
                 AND id > COALESCE($2, '00000000-0000-0000-0000-000000000000'::uuid) \
                 ORDER BY id DESC LIMIT $3",
                bound,
            ),
        };
        let mut conn = self.db.acquire(SERVICE).await?;
        Ok(sqlx::query_scalar(sql)
            .bind(author)
            .bind(bound)
            .bind(i64::from(limit))
            .fetch_all(&mut *conn)
            .await?)
    }
}

/// The post's author if the post exists, holding a key-share lock on it until the transaction
/// ends so that it cannot be deleted meanwhile.
async fn lock_post(conn: &mut PgConnection, id: Uuid) -> StoreResult<Option<Uuid>> {
    Ok(
        sqlx::query_scalar("SELECT author_id FROM posts WHERE id = $1 FOR KEY SHARE")
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// What an idempotency key already stands for.
enum KeyClaim {
    /// The key is new: this transaction holds it until it commits or rolls back.
    Claimed,
    /// The key belongs to an earlier post, whose request had this hash.
    Used { request_hash: String, post_id: Uuid },
}

/// Claims `key` for `post`. A concurrent transaction holding the same key makes the insert
/// wait for its outcome: if it commits, the key reads back as used; if it rolls back, the
/// key is claimed here.
async fn claim_key(
    conn: &mut PgConnection,
    post: &NewPost,
    key: &IdempotencyKey,
) -> StoreResult<KeyClaim> {
    // Keys are never deleted, so a key that was not inserted can be read back (READ
    // COMMITTED: the next statement sees the committed row); the loop is only a safeguard.
    for _ in 0..3 {
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (user_id, key, request_hash, post_id, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, key) DO NOTHING",
        )
        .bind(post.author_id)
        .bind(&key.key)
        .bind(&key.request_hash)
        .bind(post.id)
        .bind(micros(post.created_at))
        .execute(&mut *conn)
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(KeyClaim::Claimed);
        }
        let previous = sqlx::query(
            "SELECT request_hash, post_id FROM idempotency_keys WHERE user_id = $1 AND key = $2",
        )
        .bind(post.author_id)
        .bind(&key.key)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(row) = previous {
            return Ok(KeyClaim::Used {
                request_hash: row.try_get("request_hash")?,
                post_id: row.try_get("post_id")?,
            });
        }
    }
    Err(StoreError::Other(anyhow::anyhow!(
        "the idempotency key could neither be stored nor read back"
    )))
}

#[async_trait]
impl PostStore for PgPostStore {
    async fn create_post(
        &self,
        post: &NewPost,
        key: Option<&IdempotencyKey>,
    ) -> StoreResult<Created> {
        let mut tx = self.db.begin(SERVICE).await?;
        if let Some(key) = key {
            if let KeyClaim::Used {
                request_hash,
                post_id,
            } = claim_key(&mut tx, post, key).await?
            {
                return if request_hash == key.request_hash {
                    Ok(Created::Replayed(post_id))
                } else {
                    Err(StoreError::IdempotencyMismatch)
                };
            }
        }
        let reply_to_author = match post.reply_to {
            // Rolling back (on drop) releases the claimed key.
            Some(parent) => Some(
                lock_post(&mut tx, parent)
                    .await?
                    .ok_or(StoreError::ReplyTargetMissing)?,
            ),
            None => None,
        };
        sqlx::query(
            "INSERT INTO posts (id, author_id, text, reply_to, hashtags, mentions, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(post.id)
        .bind(post.author_id)
        .bind(&post.text)
        .bind(post.reply_to)
        .bind(&post.hashtags)
        .bind(&post.mentions)
        .bind(micros(post.created_at))
        .execute(&mut *tx)
        .await?;
        if !post.hashtags.is_empty() {
            sqlx::query("INSERT INTO post_tags (tag, post_id) SELECT tag, $2 FROM UNNEST($1) tag")
                .bind(&post.hashtags)
                .bind(post.id)
                .execute(&mut *tx)
                .await?;
        }
        append(
            &mut tx,
            &self.outbox,
            &events::created(post, reply_to_author),
            micros(post.created_at),
        )
        .await?;
        tx.commit().await?;
        self.pages.created(post);
        self.outbox.committed();
        Ok(Created::New(post.id))
    }

    async fn post(&self, id: Uuid, viewer: Option<Uuid>) -> StoreResult<Option<PostRow>> {
        Ok(self.pages.rows_of(self, &[id], viewer).await?.pop())
    }

    async fn list(
        &self,
        filter: &PostFilter,
        viewer: Option<Uuid>,
        after: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<PostRow>> {
        if let Some(ids) = self.pages.page_ids(self, filter, after, limit).await? {
            let mut rows = self.pages.rows_of(self, &ids, viewer).await?;
            rows.truncate(limit as usize);
            return Ok(rows);
        }
        // $1 viewer, $2 limit, then the filter's own arguments, then the cursor (if any): the
        // statement names only the parameters it uses, so each shape gets a plan that can use
        // its index.
        let (condition, next) = match filter {
            PostFilter::All => ("TRUE", 3),
            PostFilter::Author(_) => ("p.author_id = $3", 4),
            PostFilter::Authors(_) => ("p.author_id = ANY($3)", 4),
            PostFilter::Ids(_) => ("p.id = ANY($3)", 4),
            // Two index lookups whatever the plan: the page's ids by primary key, and a range
            // of the author index for the reader's own newer posts (an `OR` of both made
            // the generic plan scan the table).
            PostFilter::IdsOrOwn { .. } => (
                "p.id IN (SELECT UNNEST($3::uuid[]) UNION ALL \
                 (SELECT o.id FROM posts o WHERE o.author_id = $4 \
                  AND o.id > COALESCE($5::uuid, '00000000-0000-0000-0000-000000000000') \
                  ORDER BY o.id DESC LIMIT $2))",
                6,
            ),
            PostFilter::Tag(_) => (
                "p.id IN (SELECT t.post_id FROM post_tags t WHERE t.tag = $3)",
                4,
            ),
            PostFilter::AuthorTag(..) => (
                "p.author_id = $3 AND \
                 p.id IN (SELECT t.post_id FROM post_tags t WHERE t.tag = $4)",
                5,
            ),
            PostFilter::Replies(_) => ("p.reply_to = $3", 4),
        };
        let (order, cmp) = if matches!(filter, PostFilter::Replies(_)) {
            ("ASC", ">")
        } else {
            ("DESC", "<")
        };
        let cursor = match after {
            Some(_) => format!(" AND p.id {cmp} ${next}"),
            None => String::new(),
        };
        let sql =
            format!("{POST_SELECT} WHERE ({condition}){cursor} ORDER BY p.id {order} LIMIT $2");
        let query = sqlx::query(&sql).bind(viewer).bind(i64::from(limit));
        let query = match filter {
            PostFilter::All => query,
            PostFilter::Author(id) | PostFilter::Replies(id) => query.bind(*id),
            PostFilter::Authors(ids) | PostFilter::Ids(ids) => query.bind(ids.as_slice()),
            PostFilter::IdsOrOwn { ids, author, after } => {
                query.bind(ids.as_slice()).bind(*author).bind(*after)
            }
            PostFilter::Tag(tag) => query.bind(tag.as_str()),
            PostFilter::AuthorTag(author, tag) => query.bind(*author).bind(tag.as_str()),
        };
        let query = match after {
            Some(after) => query.bind(after),
            None => query,
        };
        let mut conn = self.db.acquire(SERVICE).await?;
        let rows = query.fetch_all(&mut *conn).await?;
        Ok(rows.iter().map(row_to_post).collect::<Result<_, _>>()?)
    }

    async fn delete_post(&self, id: Uuid, requester: Uuid) -> StoreResult<Deleted> {
        let mut tx = self.db.begin(SERVICE).await?;
        let row: Option<(Uuid, Option<Uuid>)> =
            sqlx::query_as("SELECT author_id, reply_to FROM posts WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((author, reply_to)) = row else {
            return Ok(Deleted::NotFound);
        };
        if author != requester {
            return Ok(Deleted::NotAuthor);
        }
        sqlx::query("DELETE FROM posts WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let now = micros(Utc::now());
        append(
            &mut tx,
            &self.outbox,
            &events::deleted(id, author, reply_to, now),
            now,
        )
        .await?;
        tx.commit().await?;
        self.pages.deleted(author, id, reply_to);
        self.outbox.committed();
        Ok(Deleted::Deleted)
    }

    async fn like(&self, post: Uuid, user: &Liker, at: DateTime<Utc>) -> StoreResult<bool> {
        let mut tx = self.db.begin(SERVICE).await?;
        let author = lock_post(&mut tx, post)
            .await?
            .ok_or(StoreError::NotFound)?;
        let at = micros(at);
        let done = sqlx::query(
            "INSERT INTO likes (post_id, user_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (post_id, user_id) DO NOTHING",
        )
        .bind(post)
        .bind(user.id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        let new = done.rows_affected() == 1;
        if new {
            append(
                &mut tx,
                &self.outbox,
                &events::liked(post, author, user, at),
                at,
            )
            .await?;
        }
        tx.commit().await?;
        if new {
            self.pages.liked(user.id, post);
            self.outbox.committed();
        }
        Ok(new)
    }

    async fn unlike(&self, post: Uuid, user: Uuid, at: DateTime<Utc>) -> StoreResult<bool> {
        let mut tx = self.db.begin(SERVICE).await?;
        let author = lock_post(&mut tx, post)
            .await?
            .ok_or(StoreError::NotFound)?;
        let done = sqlx::query("DELETE FROM likes WHERE post_id = $1 AND user_id = $2")
            .bind(post)
            .bind(user)
            .execute(&mut *tx)
            .await?;
        let removed = done.rows_affected() == 1;
        if removed {
            let at = micros(at);
            append(
                &mut tx,
                &self.outbox,
                &events::unliked(post, author, user, at),
                at,
            )
            .await?;
        }
        tx.commit().await?;
        if removed {
            self.pages.unliked(user, post);
            self.outbox.committed();
        }
        Ok(removed)
    }

    async fn purge_idempotency_keys(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let mut conn = self.db.acquire(SERVICE).await?;
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(before)
            .execute(&mut *conn)
            .await?;
        Ok(done.rows_affected())
    }

    async fn count_by_author(&self, author: Uuid) -> StoreResult<i64> {
        let mut conn = self.db.acquire(SERVICE).await?;
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM posts WHERE author_id = $1")
                .bind(author)
                .fetch_one(&mut *conn)
                .await?,
        )
    }

    async fn upsert_author(&self, author: &Author, at: DateTime<Utc>) -> StoreResult<bool> {
        let mut conn = self.db.acquire(SERVICE).await?;
        let done = sqlx::query(
            "INSERT INTO authors (id, username, display_name, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET username = excluded.username, \
             display_name = excluded.display_name, updated_at = excluded.updated_at \
             WHERE excluded.updated_at > authors.updated_at",
        )
        .bind(author.id)
        .bind(&author.username)
        .bind(&author.display_name)
        .bind(micros(at))
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    fn shared_pages(&self) -> Option<Arc<PageCache>> {
        Some(self.pages.clone())
    }

    async fn cached_authors(&self, ids: &[Uuid]) -> StoreResult<Vec<Author>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.db.acquire(SERVICE).await?;
        let rows: Vec<(Uuid, String, String)> =
            sqlx::query_as("SELECT id, username, display_name FROM authors WHERE id = ANY($1)")
                .bind(ids)
                .fetch_all(&mut *conn)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(id, username, display_name)| Author {
                id,
                username,
                display_name,
            })
            .collect())
    }
}
