//! The posts service's rules, independent of HTTP.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{SubsecRound, Utc};
use sha2::{Digest, Sha256};
use socialdevs_domain::{PostText, Tag, Username};
use socialdevs_platform::pagination::{Page, PageParams};
use socialdevs_platform::remote::dependency_error;
use socialdevs_platform::telemetry::store_call;
use socialdevs_platform::ApiError;
use uuid::Uuid;

use crate::authors::AuthorMemo;
use crate::model::{Author, IdempotencyKey, Liker, NewPost, Post, PostFilter, PostRow};
use crate::store::{Created, Deleted, PostStore, StoreError};

/// Who wrote what: user data owned by the users service, asked through this port.
#[async_trait]
pub trait AuthorDirectory: Send + Sync {
    /// Authors by id; unknown ids are left out.
    async fn authors(&self, ids: &[Uuid]) -> anyhow::Result<Vec<Author>>;
    /// Authors by username (any case); unknown names are left out.
    async fn authors_by_username(&self, usernames: &[String]) -> anyhow::Result<Vec<Author>>;
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::NotFound("No such post.".into()),
            StoreError::ReplyTargetMissing => {
                ApiError::invalid("reply_to", "the post you reply to does not exist")
            }
            StoreError::IdempotencyMismatch => ApiError::Conflict {
                detail: "This Idempotency-Key was already used with a different request.".into(),
                errors: vec![socialdevs_platform::FieldError::new(
                    "Idempotency-Key",
                    "already used with a different request",
                )],
            },
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %format!("{cause:#}"), "posts store unavailable");
                ApiError::Unavailable {
                    detail: "The posts database is unavailable; try again shortly.".into(),
                    retry_after_secs: 2,
                }
            }
            StoreError::Other(cause) => ApiError::Internal(cause),
        }
    }
}

/// Raw input of a new post.
#[derive(Debug, Clone)]
pub struct Compose {
    /// Text as typed.
    pub text: String,
    /// Parent post, for a reply.
    pub reply_to: Option<Uuid>,
    /// `Idempotency-Key` header, if sent.
    pub idempotency_key: Option<String>,
}

/// The result of creating a post.
#[derive(Debug, Clone)]
pub struct Composed {
    /// The post.
    pub post: Post,
    /// True when an idempotent retry returned the first result.
    pub replayed: bool,
}

pub use socialdevs_api::internal::{OwnAfter, TimelinePage};

/// The posts service. Its store writes every change's event to the outbox in the change's
/// own transaction; the relay publishes them.
#[derive(Clone)]
pub struct PostsService {
    store: Arc<dyn PostStore>,
    directory: Arc<dyn AuthorDirectory>,
    memo: Arc<AuthorMemo>,
}

fn request_hash(text: &str, reply_to: Option<Uuid>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(text.as_bytes());
    hasher.update([0]);
    hasher.update(
        reply_to
            .map(|r| r.to_string())
            .unwrap_or_default()
            .as_bytes(),
    );
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn parse_idempotency_key(raw: &str) -> Result<String, ApiError> {
    let key = raw.trim();
    if key.is_empty() || key.len() > 255 || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ApiError::invalid(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(key.to_owned())
}

impl PostsService {
    /// Assembles the service.
    pub fn new(store: Arc<dyn PostStore>, directory: Arc<dyn AuthorDirectory>) -> Self {
        Self {
            store,
            directory,
            memo: Arc::new(AuthorMemo::default()),
        }
    }

    /// The in-memory authors of this process (its live feed keeps them current).
    pub fn author_memo(&self) -> Arc<AuthorMemo> {
        self.memo.clone()
    }

    /// Attaches authors to rows, keeping order.
    async fn hydrate(&self, rows: Vec<PostRow>) -> Result<Vec<Post>, ApiError> {
        let mut ids: Vec<Uuid> = rows.iter().map(|r| r.author_id).collect();
        ids.sort_unstable();
        ids.dedup();
        // Names come from this process's memo, then the store's copy of authors (kept by
        // the author-cache consumer), and only then from the users service.
        let (known, missing) = self.memo.lookup(&ids);
        let mut authors: HashMap<Uuid, Author> = known.into_iter().map(|a| (a.id, a)).collect();
        if !missing.is_empty() {
            let cached =
                store_call("posts.cached_authors", self.store.cached_authors(&missing)).await?;
            self.memo.remember(cached.iter().cloned());
            authors.extend(cached.into_iter().map(|a| (a.id, a)));
        }
        let missing: Vec<Uuid> = missing
            .into_iter()
            .filter(|id| !authors.contains_key(id))
            .collect();
        if !missing.is_empty() {
            let found = self
                .directory
                .authors(&missing)
                .await
                .map_err(dependency_error)?;
            self.memo.remember(found.iter().cloned());
            authors.extend(found.into_iter().map(|a| (a.id, a)));
        }
        Ok(rows
            .into_iter()
            .map(|row| {
                let author = authors
                    .get(&row.author_id)
                    .cloned()
                    .unwrap_or_else(|| Author {
                        id: row.author_id,
                        username: "unknown".into(),
                        display_name: "Unknown user".into(),
                    });
                row.into_post(author)
            })
            .collect())
    }

    /// Creates a post or reply; a retried request with the same `Idempotency-Key` returns the
    /// first post and creates nothing.
    pub async fn create(&self, author: Uuid, input: Compose) -> Result<Composed, ApiError> {
        let text = PostText::parse(&input.text).map_err(|e| ApiError::invalid("text", e.0))?;
        let key = input
            .idempotency_key
            .as_deref()
            .map(parse_idempotency_key)
            .transpose()?
            .map(|key| IdempotencyKey {
                key,
                request_hash: request_hash(text.as_str(), input.reply_to),
            });
        let mentioned = text.mentions();
        let found = if mentioned.is_empty() {
            Vec::new()
        } else {
            self.directory
                .authors_by_username(&mentioned)
                .await
                .map_err(dependency_error)?
        };
        // The author's names travel in the `post.created` event and in the answer.
        let author_row = self
            .directory
            .authors(&[author])
            .await
            .map_err(dependency_error)?
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::Unauthorized("The account no longer exists.".into()))?;
        // Keep the order of appearance in the text.
        let mentions: Vec<&Author> = mentioned
            .iter()
            .filter_map(|m| found.iter().find(|a| a.username.eq_ignore_ascii_case(m)))
            .collect();
        let new = NewPost {
            id: Uuid::now_v7(),
            author_id: author,
            author_username: author_row.username.clone(),
            author_display_name: author_row.display_name.clone(),
            hashtags: text.hashtags(),
            mentions: mentions.iter().map(|a| a.username.clone()).collect(),
            mentioned_user_ids: mentions.iter().map(|a| a.id).collect(),
            text: text.into_inner(),
            reply_to: input.reply_to,
            // Stored at microsecond precision: the answer shows what a read will.
            created_at: Utc::now().trunc_subsecs(6),
        };
        let created = store_call(
            "posts.create_post",
            self.store.create_post(&new, key.as_ref()),
        )
        .await?;
        match created {
            Created::New(_) => Ok(Composed {
                post: Post {
                    id: new.id,
                    author: author_row,
                    text: new.text,
                    created_at: new.created_at,
                    reply_to: new.reply_to,
                    like_count: 0,
                    reply_count: 0,
                    liked_by_me: false,
                    hashtags: new.hashtags,
                    mentions: new.mentions,
                },
                replayed: false,
            }),
            Created::Replayed(id) => Ok(Composed {
                post: self.get(id, Some(author)).await?,
                replayed: true,
            }),
        }
    }

    /// One post as seen by `viewer`.
    pub async fn get(&self, id: Uuid, viewer: Option<Uuid>) -> Result<Post, ApiError> {
        let row = store_call("posts.post", self.store.post(id, viewer))
            .await?
            .ok_or_else(|| ApiError::NotFound("No such post.".into()))?;
        let mut posts = self.hydrate(vec![row]).await?;
        posts
            .pop()
            .ok_or_else(|| ApiError::NotFound("No such post.".into()))
    }

    /// A page of posts matching `filter`.
    pub async fn list(
        &self,
        filter: PostFilter,
        viewer: Option<Uuid>,
        params: &PageParams,
    ) -> Result<Page<Post>, ApiError> {
        let page = params.parse::<Uuid>()?;
        let rows = store_call(
            "posts.list",
            self.store.list(&filter, viewer, page.after, page.limit + 1),
        )
        .await?;
        let page = Page::from_overfetch(rows, page.limit, |r| r.id);
        let items = self.hydrate(page.items).await?;
        Ok(Page {
            items,
            next_cursor: page.next_cursor,
        })
    }

    /// These posts as `viewer` sees them, newest first; deleted ones are left out (a home
    /// timeline page). Plus, when `own_after` is given, `viewer`'s own posts newer than it
    /// (at most `own_limit`), so a timeline shows what its reader just posted before the
    /// fan-out has placed it.
    pub async fn timeline_page(
        &self,
        ids: Vec<Uuid>,
        viewer: Uuid,
        own_after: Option<OwnAfter>,
    ) -> Result<TimelinePage, ApiError> {
        // One statement for both: the page's posts and the reader's own newer ones.
        let (filter, limit) = match own_after {
            Some(own) => (
                PostFilter::IdsOrOwn {
                    ids: ids.clone(),
                    author: viewer,
                    after: own.after,
                },
                ids.len() as u32 + own.limit,
            ),
            None => (PostFilter::Ids(ids.clone()), ids.len() as u32),
        };
        if limit == 0 {
            return Ok(TimelinePage {
                posts: Vec::new(),
                own: Vec::new(),
            });
        }
        let rows = store_call(
            "posts.list",
            self.store.list(&filter, Some(viewer), None, limit),
        )
        .await?;
        // The reader's own newer posts not on the page come back as `own`.
        let (posts, own): (Vec<PostRow>, Vec<PostRow>) =
            rows.into_iter().partition(|r| ids.contains(&r.id));
        let split = posts.len();
        let mut all = self.hydrate(posts.into_iter().chain(own).collect()).await?;
        let own = all.split_off(split);
        Ok(TimelinePage { posts: all, own })
    }

    /// The newest `limit` posts (ids and authors) by `authors`, newest first: what a home
    /// timeline is rebuilt from.
    pub async fn recent_entries(
        &self,
        authors: Vec<Uuid>,
        limit: u32,
    ) -> Result<Vec<(Uuid, Uuid)>, ApiError> {
        if authors.is_empty() {
            return Ok(Vec::new());
        }
        let rows = store_call(
            "posts.list",
            self.store
                .list(&PostFilter::Authors(authors), None, None, limit),
        )
        .await?;
        Ok(rows.into_iter().map(|r| (r.id, r.author_id)).collect())
    }

    /// Explore, an author's posts, or a tag's posts (`author` and `tag` combine as "and").
    pub async fn search(
        &self,
        author: Option<&str>,
        tag: Option<&str>,
        viewer: Option<Uuid>,
        params: &PageParams,
    ) -> Result<Page<Post>, ApiError> {
        let author_id = match author.map(str::trim).filter(|a| !a.is_empty()) {
            None => None,
            Some(raw) => {
                let username =
                    Username::parse(raw).map_err(|e| ApiError::invalid("author", e.0))?;
                // Usernames never change: the memo answers most of these without a call.
                let author = match self.memo.by_username(username.as_str()) {
                    Some(author) => author,
                    None => {
                        let found = self
                            .directory
                            .authors_by_username(&[username.to_string()])
                            .await
                            .map_err(dependency_error)?;
                        let author = found.into_iter().next().ok_or_else(|| {
                            ApiError::NotFound(format!("There is no user @{username}."))
                        })?;
                        self.memo.remember([author.clone()]);
                        author
                    }
                };
                Some(author.id)
            }
        };
        let tag = tag
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(Tag::parse)
            .transpose()
            .map_err(|e| ApiError::invalid("tag", e.0))?;
        let filter = match (author_id, tag) {
            (None, None) => PostFilter::All,
            (Some(a), None) => PostFilter::Author(a),
            (None, Some(t)) => PostFilter::Tag(t.into_inner()),
            (Some(a), Some(t)) => PostFilter::AuthorTag(a, t.into_inner()),
        };
        self.list(filter, viewer, params).await
    }

    /// Direct replies to a post, oldest first.
    pub async fn replies(
        &self,
        id: Uuid,
        viewer: Option<Uuid>,
        params: &PageParams,
    ) -> Result<Page<Post>, ApiError> {
        if store_call("posts.post", self.store.post(id, None))
            .await?
            .is_none()
        {
            return Err(ApiError::NotFound("No such post.".into()));
        }
        self.list(PostFilter::Replies(id), viewer, params).await
    }

    /// Deletes the caller's own post; 403 for anyone else's.
    pub async fn delete(&self, id: Uuid, requester: Uuid) -> Result<(), ApiError> {
        match store_call("posts.delete_post", self.store.delete_post(id, requester)).await? {
            Deleted::Deleted => Ok(()),
            Deleted::NotFound => Err(ApiError::NotFound("No such post.".into())),
            Deleted::NotAuthor => Err(ApiError::Forbidden(
                "Only the author can delete this post.".into(),
            )),
        }
    }

    /// Likes a post (idempotent): `user` and their username.
    pub async fn like(&self, id: Uuid, user: Uuid, username: &str) -> Result<(), ApiError> {
        let liker = Liker {
            id: user,
            username: username.to_owned(),
        };
        store_call("posts.like", self.store.like(id, &liker, Utc::now())).await?;
        Ok(())
    }

    /// Removes a like (idempotent).
    pub async fn unlike(&self, id: Uuid, user: Uuid) -> Result<(), ApiError> {
        store_call("posts.unlike", self.store.unlike(id, user, Utc::now())).await?;
        Ok(())
    }

    /// How many posts `author` has.
    pub async fn count_by_author(&self, author: Uuid) -> Result<i64, ApiError> {
        Ok(store_call("posts.count_by_author", self.store.count_by_author(author)).await?)
    }
}
