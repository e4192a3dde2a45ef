//! The posts store on the embedded SQLite database.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::ValueRef;
use rusqlite::{params, OptionalExtension};
use socialdevs_platform::db::inline::{parsed, text, timestamp};
use socialdevs_platform::db::{self, SqliteDb};
use sqlx::Row;
use uuid::Uuid;

use socialdevs_events::outbox::sqlite::{append, append_inline};
use socialdevs_events::outbox::{OutboxSignal, Written};

use super::author_ids::Range;
use super::pages::{PageCache, PageSource};
use super::{events, Created, Deleted, PostStore, StoreError, StoreResult};
use crate::model::{Author, IdempotencyKey, Liker, NewPost, PostFilter, PostRow};
use crate::SERVICE;

/// SQLite adapter of [`PostStore`].
#[derive(Clone)]
pub struct SqlitePostStore {
    db: SqliteDb,
    outbox: OutboxSignal,
    /// The hot pages' rows, author ids and likes, kept current by this store's writes: the
    /// embedded file has one writer, this process (see [`PageCache`]).
    pages: Arc<PageCache>,
}

impl SqlitePostStore {
    /// A store on an opened (and migrated) database. Every write to the posts of `db` must go
    /// through this store (or its clones): it keeps their rows in memory.
    pub fn new(db: SqliteDb) -> Self {
        Self {
            db,
            outbox: OutboxSignal::default(),
            pages: Arc::new(PageCache::sole_writer()),
        }
    }

    /// Wakes this signal (the service's relay) after each commit that wrote events.
    pub fn with_outbox_signal(mut self, signal: OutboxSignal) -> Self {
        self.outbox = signal;
        self
    }
}

use db::timestamp as ts;

/// A post from the columns of [`POST_SELECT`], in its order.
fn row_to_post(row: &rusqlite::Row<'_>) -> rusqlite::Result<PostRow> {
    let reply_to = match row.get_ref(3)? {
        ValueRef::Null => None,
        _ => Some(parsed(row, 3, Uuid::parse_str)?),
    };
    Ok(PostRow {
        id: parsed(row, 0, Uuid::parse_str)?,
        author_id: parsed(row, 1, Uuid::parse_str)?,
        text: text(row, 2)?.to_owned(),
        reply_to,
        hashtags: parsed(row, 4, |s| serde_json::from_str(s))?,
        mentions: parsed(row, 5, |s| serde_json::from_str(s))?,
        created_at: timestamp(row, 6)?,
        like_count: row.get(7)?,
        reply_count: row.get(8)?,
        liked_by_me: row.get(9)?,
    })
}

/// Columns of a post with its counts (kept on the row by triggers); `?1` is the viewer id (or
/// NULL). Read by the inline readers (on the calling thread: every use is an index walk with a
/// `LIMIT`).
macro_rules! post_select {
    () => {
        "SELECT p.id, p.author_id, p.text, p.reply_to, p.hashtags, p.mentions, p.created_at, \
         p.like_count, p.reply_count, \
         EXISTS (SELECT 1 FROM likes l WHERE l.post_id = p.id AND l.user_id = ?1) AS liked_by_me \
         FROM posts p"
    };
}
const POST_SELECT: &str = post_select!();
/// Posts by id (`?2`, a JSON array), without the viewer's likes.
const POSTS_BY_IDS: &str = concat!(
    post_select!(),
    " WHERE p.id IN (SELECT value FROM json_each(?2))"
);
/// Which of the posts `?2` (a JSON array) the user `?1` liked.
const LIKED_AMONG: &str = "SELECT value FROM json_each(?2) \
     WHERE EXISTS (SELECT 1 FROM likes WHERE post_id = value AND user_id = ?1)";
/// The posts the user `?1` liked, at most `?2`.
const LIKED_BY: &str = "SELECT post_id FROM likes WHERE user_id = ?1 LIMIT ?2";
/// An author's (`?1`) post ids older than `?2` (all when NULL), newest first: the covering
/// `posts_by_author` index alone.
const AUTHOR_IDS_BEFORE: &str = "SELECT id FROM posts WHERE author_id = ?1 \
     AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3";
/// An author's (`?1`) post ids newer than `?2` (all when NULL), newest first.
const AUTHOR_IDS_AFTER: &str = "SELECT id FROM posts WHERE author_id = ?1 \
     AND id > coalesce(?2, '') ORDER BY id DESC LIMIT ?3";

fn ids_json<'a>(ids: impl IntoIterator<Item = &'a Uuid>) -> String {
    let mut json = String::from("[");
    for (i, id) in ids.into_iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push('"');
        json.push_str(id.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
        json.push('"');
    }
    json.push(']');
    json
}

#[async_trait]
impl PageSource for SqlitePostStore {
    async fn rows_by_ids(&self, ids: &[Uuid]) -> anyhow::Result<Vec<PostRow>> {
        let json = ids_json(ids);
        self.db.inline.read(|conn| {
            conn.prepare_cached(POSTS_BY_IDS)?
                .query_map(params![Option::<String>::None, json], row_to_post)?
                .collect()
        })
    }

    async fn liked_by(&self, viewer: Uuid, limit: u32) -> anyhow::Result<Vec<Uuid>> {
        let viewer = viewer.to_string();
        self.db.inline.read(|conn| {
            conn.prepare_cached(LIKED_BY)?
                .query_map(params![viewer, i64::from(limit)], |row| {
                    parsed(row, 0, Uuid::parse_str)
                })?
                .collect()
        })
    }

    async fn liked_among(&self, viewer: Uuid, posts: &[Uuid]) -> anyhow::Result<Vec<Uuid>> {
        let json = ids_json(posts);
        let viewer = viewer.to_string();
        self.db.inline.read(|conn| {
            conn.prepare_cached(LIKED_AMONG)?
                .query_map(params![viewer, json], |row| parsed(row, 0, Uuid::parse_str))?
                .collect()
        })
    }

    async fn author_ids(
        &self,
        author: Uuid,
        range: Range,
        limit: u32,
    ) -> anyhow::Result<Vec<Uuid>> {
        let (sql, bound) = match range {
            Range::Before(bound) => (AUTHOR_IDS_BEFORE, bound),
            Range::After(bound) => (AUTHOR_IDS_AFTER, bound),
        };
        let author = author.to_string();
        let bound = bound.map(|b| b.to_string());
        self.db.inline.read(|conn| {
            conn.prepare_cached(sql)?
                .query_map(params![author, bound, i64::from(limit)], |row| {
                    parsed(row, 0, Uuid::parse_str)
                })?
                .collect()
        })
    }
}

/// The post's author, if the post exists.
async fn post_author(conn: &mut sqlx::SqliteConnection, id: Uuid) -> StoreResult<Option<Uuid>> {
    let found: Option<String> = sqlx::query_scalar("SELECT author_id FROM posts WHERE id = ?")
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    Ok(found
        .as_deref()
        .map(Uuid::parse_str)
        .transpose()
        .map_err(anyhow::Error::from)?)
}

#[async_trait]
impl PostStore for SqlitePostStore {
    async fn create_post(
        &self,
        post: &NewPost,
        key: Option<&IdempotencyKey>,
    ) -> StoreResult<Created> {
        // One short transaction on the calling thread (`SqliteDb::write`): the idempotency
        // check, the post, its tags, the key and the outbox row.
        let (created, written) = self
            .db
            .write(SERVICE, |tx| -> StoreResult<(Created, Written)> {
                if let Some(key) = key {
                    let previous = tx
                        .prepare_cached(
                            "SELECT request_hash, post_id FROM idempotency_keys \
                             WHERE user_id = ? AND key = ?",
                        )?
                        .query_row(params![post.author_id.to_string(), key.key], |row| {
                            Ok((text(row, 0)?.to_owned(), parsed(row, 1, Uuid::parse_str)?))
                        })
                        .optional()?;
                    if let Some((hash, id)) = previous {
                        if hash != key.request_hash {
                            return Err(StoreError::IdempotencyMismatch);
                        }
                        return Ok((Created::Replayed(id), Written::default()));
                    }
                }
                let reply_to_author = match post.reply_to {
                    Some(parent) => Some(
                        tx.prepare_cached("SELECT author_id FROM posts WHERE id = ?")?
                            .query_row([parent.to_string()], |row| parsed(row, 0, Uuid::parse_str))
                            .optional()?
                            .ok_or(StoreError::ReplyTargetMissing)?,
                    ),
                    None => None,
                };
                let id = post.id.to_string();
                tx.prepare_cached(
                    "INSERT INTO posts (id, author_id, text, reply_to, hashtags, mentions, \
                     created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                )?
                .execute(params![
                    id,
                    post.author_id.to_string(),
                    post.text,
                    post.reply_to.map(|r| r.to_string()),
                    serde_json::to_string(&post.hashtags).map_err(anyhow::Error::from)?,
                    serde_json::to_string(&post.mentions).map_err(anyhow::Error::from)?,
                    ts(post.created_at),
                ])?;
                for tag in &post.hashtags {
                    tx.prepare_cached("INSERT INTO post_tags (tag, post_id) VALUES (?, ?)")?
                        .execute(params![tag, id])?;
                }
                if let Some(key) = key {
                    tx.prepare_cached(
                        "INSERT INTO idempotency_keys \
                         (user_id, key, request_hash, post_id, created_at) VALUES (?, ?, ?, ?, ?)",
                    )?
                    .execute(params![
                        post.author_id.to_string(),
                        key.key,
                        key.request_hash,
                        id,
                        ts(post.created_at),
                    ])?;
                }
                let event = events::created(post, reply_to_author);
                let row = append_inline(tx, &self.outbox, &event, post.created_at)?;
                Ok((Created::New(post.id), row.into()))
            })
            .await?;
        if let Created::Replayed(_) = created {
            return Ok(created);
        }
        self.pages.created(post);
        self.outbox.committed_rows(SERVICE, written);
        Ok(created)
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
        let (condition, arg): (&str, Option<String>) = match filter {
            PostFilter::All => ("1 = 1 OR ?2 IS NULL", None),
            PostFilter::Author(id) => ("p.author_id = ?2", Some(id.to_string())),
            PostFilter::Authors(ids) => (
                "p.author_id IN (SELECT value FROM json_each(?2))",
                Some(
                    serde_json::to_string(&ids.iter().map(Uuid::to_string).collect::<Vec<_>>())
                        .map_err(anyhow::Error::from)?,
                ),
            ),
            PostFilter::Tag(tag) => (
                "p.id IN (SELECT post_id FROM post_tags WHERE tag = ?2)",
                Some(tag.clone()),
            ),
            PostFilter::AuthorTag(author, tag) => (
                "p.author_id = json_extract(?2, '$.author') AND p.id IN \
                 (SELECT post_id FROM post_tags WHERE tag = json_extract(?2, '$.tag'))",
                Some(serde_json::json!({"author": author.to_string(), "tag": tag}).to_string()),
            ),
            PostFilter::Replies(parent) => ("p.reply_to = ?2", Some(parent.to_string())),
            PostFilter::Ids(ids) => (
                "p.id IN (SELECT value FROM json_each(?2))",
                Some(
                    serde_json::to_string(&ids.iter().map(Uuid::to_string).collect::<Vec<_>>())
                        .map_err(anyhow::Error::from)?,
                ),
            ),
            PostFilter::IdsOrOwn { ids, author, after } => (
                // The own branch is a range of the author index (`id > after`, or every id
                // when there is no `after`: '' sorts before any), not a walk of every post
                // the reader ever wrote.
                "p.id IN (SELECT value FROM json_each(?2, '$.ids')) OR \
                 (p.author_id = json_extract(?2, '$.author') AND \
                  p.id > coalesce(json_extract(?2, '$.after'), ''))",
                Some(
                    serde_json::json!({
                        "ids": ids.iter().map(Uuid::to_string).collect::<Vec<_>>(),
                        "author": author.to_string(),
                        "after": after.map(|a| a.to_string()),
                    })
                    .to_string(),
                ),
            ),
        };
        let (order, cmp) = if matches!(filter, PostFilter::Replies(_)) {
            ("ASC", ">")
        } else {
            ("DESC", "<")
        };
        let sql = format!(
            "{POST_SELECT} WHERE ({condition}) AND (?3 IS NULL OR p.id {cmp} ?3) \
             ORDER BY p.id {order} LIMIT ?4"
        );
        let viewer = viewer.map(|v| v.to_string());
        let after = after.map(|a| a.to_string());
        Ok(self.db.inline.read(|conn| {
            conn.prepare_cached(&sql)?
                .query_map(params![viewer, arg, after, i64::from(limit)], row_to_post)?
                .collect()
        })?)
    }

    async fn delete_post(&self, id: Uuid, requester: Uuid) -> StoreResult<Deleted> {
        let mut tx = self.db.begin(SERVICE).await?;
        let row = sqlx::query("SELECT author_id, reply_to FROM posts WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(Deleted::NotFound);
        };
        let author: String = row.try_get("author_id")?;
        if author != requester.to_string() {
            return Ok(Deleted::NotAuthor);
        }
        let reply_to: Option<String> = row.try_get("reply_to")?;
        let reply_to = reply_to
            .as_deref()
            .map(Uuid::parse_str)
            .transpose()
            .map_err(anyhow::Error::from)?;
        sqlx::query("DELETE FROM posts WHERE id = ?")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let now = Utc::now();
        let event = events::deleted(id, requester, reply_to, now);
        let written = Written::from(append(&mut tx, &self.outbox, &event, now).await?);
        tx.commit().await?;
        self.pages.deleted(requester, id, reply_to);
        self.outbox.committed_rows(SERVICE, written);
        Ok(Deleted::Deleted)
    }

    async fn like(&self, post: Uuid, user: &Liker, at: DateTime<Utc>) -> StoreResult<bool> {
        let mut tx = self.db.begin(SERVICE).await?;
        let author = post_author(&mut tx, post)
            .await?
            .ok_or(StoreError::NotFound)?;
        let done = sqlx::query(
            "INSERT INTO likes (post_id, user_id, created_at) VALUES (?, ?, ?) \
             ON CONFLICT (post_id, user_id) DO NOTHING",
        )
        .bind(post.to_string())
        .bind(user.id.to_string())
        .bind(ts(at))
        .execute(&mut *tx)
        .await?;
        let new = done.rows_affected() == 1;
        let mut written = Written::default();
        if new {
            let event = events::liked(post, author, user, at);
            written.push(append(&mut tx, &self.outbox, &event, at).await?);
        }
        tx.commit().await?;
        if new {
            self.pages.liked(user.id, post);
            self.outbox.committed_rows(SERVICE, written);
        }
        Ok(new)
    }

    async fn unlike(&self, post: Uuid, user: Uuid, at: DateTime<Utc>) -> StoreResult<bool> {
        let mut tx = self.db.begin(SERVICE).await?;
        let author = post_author(&mut tx, post)
            .await?
            .ok_or(StoreError::NotFound)?;
        let done = sqlx::query("DELETE FROM likes WHERE post_id = ? AND user_id = ?")
            .bind(post.to_string())
            .bind(user.to_string())
            .execute(&mut *tx)
            .await?;
        let removed = done.rows_affected() == 1;
        let mut written = Written::default();
        if removed {
            let event = events::unliked(post, author, user, at);
            written.push(append(&mut tx, &self.outbox, &event, at).await?);
        }
        tx.commit().await?;
        if removed {
            self.pages.unliked(user, post);
            self.outbox.committed_rows(SERVICE, written);
        }
        Ok(removed)
    }

    async fn purge_idempotency_keys(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let mut tx = self.db.begin(SERVICE).await?;
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < ?")
            .bind(ts(before))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    async fn count_by_author(&self, author: Uuid) -> StoreResult<i64> {
        let mut conn = self.db.read(SERVICE).await?;
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM posts WHERE author_id = ?")
                .bind(author.to_string())
                .fetch_one(&mut *conn)
                .await?,
        )
    }

    async fn upsert_author(&self, author: &Author, at: DateTime<Utc>) -> StoreResult<bool> {
        let mut tx = self.db.begin(SERVICE).await?;
        let done = sqlx::query(
            "INSERT INTO authors (id, username, display_name, updated_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET username = excluded.username, \
             display_name = excluded.display_name, updated_at = excluded.updated_at \
             WHERE excluded.updated_at > authors.updated_at",
        )
        .bind(author.id.to_string())
        .bind(&author.username)
        .bind(&author.display_name)
        .bind(ts(at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn cached_authors(&self, ids: &[Uuid]) -> StoreResult<Vec<Author>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids_json = serde_json::to_string(&ids.iter().map(Uuid::to_string).collect::<Vec<_>>())
            .map_err(anyhow::Error::from)?;
        let mut conn = self.db.read(SERVICE).await?;
        let rows = sqlx::query(
            "SELECT id, username, display_name FROM authors \
             WHERE id IN (SELECT value FROM json_each(?))",
        )
        .bind(ids_json)
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Author {
                    id: Uuid::parse_str(r.try_get("id")?)?,
                    username: r.try_get("username")?,
                    display_name: r.try_get("display_name")?,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()
            .map_err(StoreError::Other)
    }
}
