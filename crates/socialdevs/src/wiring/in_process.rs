//! In-process adapters: the ports satisfied by direct function calls when the services
//! share one process.

use std::sync::Arc;

use async_trait::async_trait;
use socialdevs_api::Post;
use socialdevs_notifications::{PostViews, UserDirectory};
use socialdevs_platform::ApiError;
use socialdevs_posts::model::Author;
use socialdevs_posts::store::PostStore;
use socialdevs_posts::{AuthorDirectory, OwnAfter, PostsService, TimelinePage};
use socialdevs_timeline::store::Entry;
use socialdevs_timeline::{FollowGraph, PostFeed};
use socialdevs_users::model::User;
use socialdevs_users::{PostCounts, UsersService};
use uuid::Uuid;

/// Users asks posts how many posts someone has.
pub struct InProcessPostCounts(pub Arc<dyn PostStore>);

#[async_trait]
impl PostCounts for InProcessPostCounts {
    async fn posts_count(&self, user: Uuid) -> anyhow::Result<i64> {
        self.0
            .count_by_author(user)
            .await
            .map_err(|err| api_to_anyhow(err.into()))
    }
}

fn author(user: User) -> Author {
    Author {
        id: user.id,
        username: user.username,
        display_name: user.display_name,
    }
}

fn api_to_anyhow(err: ApiError) -> anyhow::Error {
    // Kept whole, so the caller answers the same (503 stays 503): see `dependency_error`.
    anyhow::Error::new(err)
}

/// Posts asks users who wrote what.
pub struct InProcessAuthors(pub UsersService);

#[async_trait]
impl AuthorDirectory for InProcessAuthors {
    async fn authors(&self, ids: &[Uuid]) -> anyhow::Result<Vec<Author>> {
        let users = self.0.users_by_ids(ids).await.map_err(api_to_anyhow)?;
        Ok(users.into_iter().map(author).collect())
    }

    async fn authors_by_username(&self, usernames: &[String]) -> anyhow::Result<Vec<Author>> {
        let users = self
            .0
            .users_by_usernames(usernames)
            .await
            .map_err(api_to_anyhow)?;
        Ok(users.into_iter().map(author).collect())
    }
}

/// Timeline asks users whom someone follows, and who follows someone.
pub struct InProcessFollowGraph(pub UsersService);

#[async_trait]
impl FollowGraph for InProcessFollowGraph {
    async fn following_ids(&self, user: Uuid) -> Result<Vec<Uuid>, ApiError> {
        self.0.following_ids(user).await
    }

    async fn follower_ids(&self, user: Uuid, limit: u32) -> Result<Vec<Uuid>, ApiError> {
        self.0.follower_ids(user, limit).await
    }
}

/// Timeline asks posts for a page's posts and for authors' recent posts.
pub struct InProcessPostFeed(pub PostsService);

#[async_trait]
impl PostFeed for InProcessPostFeed {
    async fn timeline_page(
        &self,
        ids: Vec<Uuid>,
        viewer: Uuid,
        own_after: Option<OwnAfter>,
    ) -> Result<TimelinePage, ApiError> {
        self.0.timeline_page(ids, viewer, own_after).await
    }

    async fn recent_entries(&self, authors: Vec<Uuid>, limit: u32) -> Result<Vec<Entry>, ApiError> {
        Ok(self
            .0
            .recent_entries(authors, limit)
            .await?
            .into_iter()
            .map(|(post_id, author_id)| Entry { post_id, author_id })
            .collect())
    }
}

/// Notifications ask users who the actors are.
pub struct InProcessUserDirectory(pub UsersService);

#[async_trait]
impl UserDirectory for InProcessUserDirectory {
    async fn users(&self, ids: &[Uuid]) -> Result<Vec<User>, ApiError> {
        self.0.users_by_ids(ids).await
    }
}

/// Notifications ask posts for the posts they are about.
pub struct InProcessPostViews(pub PostsService);

#[async_trait]
impl PostViews for InProcessPostViews {
    async fn posts(&self, ids: Vec<Uuid>, viewer: Uuid) -> Result<Vec<Post>, ApiError> {
        Ok(self.0.timeline_page(ids, viewer, None).await?.posts)
    }
}
