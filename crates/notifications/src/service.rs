//! The notifications service's rules, independent of HTTP: who is notified of what, and how
//! a stored notification is shown (its actor from the users service, its post from the posts
//! service, both asked once per page).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use socialdevs_api::{Post, User};
use socialdevs_platform::pagination::{Page, PageParams};
use socialdevs_platform::telemetry::store_call;
use socialdevs_platform::ApiError;
use uuid::Uuid;

use crate::model::{Notification, NotificationRow, Window};
use crate::store::{NotificationStore, StoreError};

/// Users, as the users service shows them.
#[async_trait]
pub trait UserDirectory: Send + Sync {
    /// Users by id (at most 500 a call); unknown ids are left out.
    async fn users(&self, ids: &[Uuid]) -> Result<Vec<User>, ApiError>;
}

/// Posts, as the posts service shows them to a viewer.
#[async_trait]
pub trait PostViews: Send + Sync {
    /// These posts as `viewer` sees them (at most 500 a call); deleted ones are left out.
    async fn posts(&self, ids: Vec<Uuid>, viewer: Uuid) -> Result<Vec<Post>, ApiError>;
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %format!("{cause:#}"), "notifications store unavailable");
                ApiError::Unavailable {
                    detail: "The notifications database is unavailable; try again shortly.".into(),
                    retry_after_secs: 2,
                }
            }
            StoreError::Other(cause) => ApiError::Internal(cause),
        }
    }
}

/// How many missed notifications a reconnecting stream gets at most.
pub const REPLAY_LIMIT: u32 = 100;

/// The notifications service.
#[derive(Clone)]
pub struct NotificationsService {
    store: Arc<dyn NotificationStore>,
    users: Arc<dyn UserDirectory>,
    posts: Arc<dyn PostViews>,
}

impl NotificationsService {
    /// The service on its store and the two ports it shows notifications with.
    pub fn new(
        store: Arc<dyn NotificationStore>,
        users: Arc<dyn UserDirectory>,
        posts: Arc<dyn PostViews>,
    ) -> Self {
        Self {
            store,
            users,
            posts,
        }
    }

    /// The store (for the consumer that fills it).
    pub fn store(&self) -> &Arc<dyn NotificationStore> {
        &self.store
    }

    /// A page of `recipient`'s notifications, newest first.
    pub async fn list(
        &self,
        recipient: Uuid,
        params: &PageParams,
    ) -> Result<Page<Notification>, ApiError> {
        let page = params.parse::<Uuid>()?;
        let rows = store_call(
            "notifications.list",
            self.store
                .list(recipient, Window::OlderThan(page.after), page.limit + 1),
        )
        .await?;
        let page = Page::from_overfetch(rows, page.limit, |row| row.id);
        let items = self.render(recipient, page.items).await?;
        Ok(Page {
            items,
            next_cursor: page.next_cursor,
        })
    }

    /// `recipient`'s notifications newer than `after`, oldest first (at most
    /// [`REPLAY_LIMIT`], the newest of them): what a reconnecting stream missed.
    pub async fn newer(&self, recipient: Uuid, after: Uuid) -> Result<Vec<Notification>, ApiError> {
        let rows = store_call(
            "notifications.list",
            self.store
                .list(recipient, Window::NewerThan(after), REPLAY_LIMIT),
        )
        .await?;
        let mut items = self.render(recipient, rows).await?;
        items.reverse();
        Ok(items)
    }

    /// One of `recipient`'s notifications, shown; `None` when it is gone (or hidden).
    pub async fn one(&self, recipient: Uuid, id: Uuid) -> Result<Option<Notification>, ApiError> {
        let rows = store_call(
            "notifications.list",
            self.store.list(recipient, Window::Only(id), 1),
        )
        .await?;
        Ok(self.render(recipient, rows).await?.pop())
    }

    /// How many of `recipient`'s notifications are unread.
    pub async fn unread_count(&self, recipient: Uuid) -> Result<i64, ApiError> {
        Ok(store_call(
            "notifications.unread_count",
            self.store.unread_count(recipient),
        )
        .await?)
    }

    /// Marks `recipient`'s notifications read: all, or up to and including `up_to`.
    pub async fn mark_read(&self, recipient: Uuid, up_to: Option<Uuid>) -> Result<(), ApiError> {
        store_call(
            "notifications.mark_read",
            self.store.mark_read(recipient, up_to),
        )
        .await?;
        Ok(())
    }

    /// Attaches actors and posts: one call to each service for the lot. A notification
    /// whose actor or post is gone (a post deleted a moment ago, before its notifications
    /// were removed) is left out.
    async fn render(
        &self,
        recipient: Uuid,
        rows: Vec<NotificationRow>,
    ) -> Result<Vec<Notification>, ApiError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut actor_ids: Vec<Uuid> = rows.iter().map(|r| r.actor_id).collect();
        actor_ids.sort_unstable();
        actor_ids.dedup();
        let mut post_ids: Vec<Uuid> = rows.iter().filter_map(|r| r.post_id).collect();
        post_ids.sort_unstable();
        post_ids.dedup();
        let (actors, posts) = futures::try_join!(self.users.users(&actor_ids), async {
            if post_ids.is_empty() {
                Ok(Vec::new())
            } else {
                self.posts.posts(post_ids, recipient).await
            }
        })?;
        let actors: HashMap<Uuid, User> = actors.into_iter().map(|u| (u.id, u)).collect();
        let posts: HashMap<Uuid, Post> = posts.into_iter().map(|p| (p.id, p)).collect();
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let actor = actors.get(&row.actor_id)?.clone();
                let post = match row.post_id {
                    None => None,
                    Some(id) => Some(posts.get(&id).cloned()?),
                };
                Some(Notification {
                    id: row.id,
                    kind: row.kind,
                    actor,
                    post,
                    created_at: row.created_at,
                    read: row.read,
                })
            })
            .collect())
    }
}
