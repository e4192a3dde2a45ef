//! In-process adapters: the ports satisfied by direct function calls when the services
//! share one process.

use std::sync::Arc;

use async_trait::async_trait;
use socialdevs_platform::pagination::{Page, PageParams};
use socialdevs_platform::ApiError;
use socialdevs_posts::model::{Author, Post, PostFilter};
use socialdevs_posts::store::PostStore;
use socialdevs_posts::{AuthorDirectory, PostsService};
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

/// Timeline asks users whom someone follows.
pub struct InProcessFollowGraph(pub UsersService);

#[async_trait]
impl FollowGraph for InProcessFollowGraph {
    async fn following_ids(&self, user: Uuid) -> Result<Vec<Uuid>, ApiError> {
        self.0.following_ids(user).await
    }
}

/// Timeline asks posts for posts by a set of authors.
pub struct InProcessPostFeed(pub PostsService);

#[async_trait]
impl PostFeed for InProcessPostFeed {
    async fn posts_by_authors(
        &self,
        authors: Vec<Uuid>,
        viewer: Uuid,
        params: &PageParams,
    ) -> Result<Page<Post>, ApiError> {
        self.0
            .list(PostFilter::Authors(authors), Some(viewer), params)
            .await
    }
}
