//! HTTP adapters: the ports satisfied by another service's `/internal/...` endpoints when it
//! runs in another process.

use async_trait::async_trait;
use socialdevs_api::{Post, User};
use socialdevs_notifications::{PostViews, UserDirectory};
use socialdevs_platform::remote::ServiceClient;
use socialdevs_platform::ApiError;
use socialdevs_posts::http::internal::{
    PostCount, RecentEntries, RecentRequest, TimelinePageRequest,
};
use socialdevs_posts::model::Author;
use socialdevs_posts::{AuthorDirectory, OwnAfter, TimelinePage};
use socialdevs_timeline::store::Entry;
use socialdevs_timeline::{FollowGraph, PostFeed};
use socialdevs_users::http::internal::{FollowingIds, UserLookup, Users};
use socialdevs_users::PostCounts;
use uuid::Uuid;

/// Users asks the posts service how many posts someone has.
pub struct RemotePostCounts(pub ServiceClient);

#[async_trait]
impl PostCounts for RemotePostCounts {
    async fn posts_count(&self, user: Uuid) -> anyhow::Result<i64> {
        let answer: PostCount = self
            .0
            .get(&format!("/internal/v1/posts/count?author={user}"))
            .await?;
        Ok(answer.count)
    }
}

/// Posts asks the users service who wrote what.
pub struct RemoteAuthors(pub ServiceClient);

impl RemoteAuthors {
    async fn lookup(&self, lookup: &UserLookup) -> anyhow::Result<Vec<Author>> {
        let answer: Users = self.0.query("/internal/v1/users/lookup", lookup).await?;
        Ok(answer
            .users
            .into_iter()
            .map(|user| Author {
                id: user.id,
                username: user.username,
                display_name: user.display_name,
            })
            .collect())
    }
}

#[async_trait]
impl AuthorDirectory for RemoteAuthors {
    async fn authors(&self, ids: &[Uuid]) -> anyhow::Result<Vec<Author>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.lookup(&UserLookup {
            ids: ids.to_vec(),
            usernames: Vec::new(),
        })
        .await
    }

    async fn authors_by_username(&self, usernames: &[String]) -> anyhow::Result<Vec<Author>> {
        if usernames.is_empty() {
            return Ok(Vec::new());
        }
        self.lookup(&UserLookup {
            ids: Vec::new(),
            usernames: usernames.to_vec(),
        })
        .await
    }
}

/// Timeline asks the users service whom someone follows, and who follows someone.
pub struct RemoteFollowGraph(pub ServiceClient);

#[async_trait]
impl FollowGraph for RemoteFollowGraph {
    async fn following_ids(&self, user: Uuid) -> Result<Vec<Uuid>, ApiError> {
        let answer: FollowingIds = self
            .0
            .get(&format!("/internal/v1/users/{user}/following"))
            .await?;
        Ok(answer.ids)
    }

    async fn follower_ids(&self, user: Uuid, limit: u32) -> Result<Vec<Uuid>, ApiError> {
        let answer: FollowingIds = self
            .0
            .get(&format!(
                "/internal/v1/users/{user}/followers?limit={limit}"
            ))
            .await?;
        Ok(answer.ids)
    }
}

/// Timeline asks the posts service for a page's posts and for authors' recent posts.
pub struct RemotePostFeed(pub ServiceClient);

#[async_trait]
impl PostFeed for RemotePostFeed {
    async fn timeline_page(
        &self,
        ids: Vec<Uuid>,
        viewer: Uuid,
        own_after: Option<OwnAfter>,
    ) -> Result<TimelinePage, ApiError> {
        Ok(self
            .0
            .query(
                "/internal/v1/posts/timeline-page",
                &TimelinePageRequest {
                    ids,
                    viewer,
                    own_after,
                },
            )
            .await?)
    }

    async fn recent_entries(&self, authors: Vec<Uuid>, limit: u32) -> Result<Vec<Entry>, ApiError> {
        let answer: RecentEntries = self
            .0
            .query(
                "/internal/v1/posts/recent",
                &RecentRequest { authors, limit },
            )
            .await?;
        Ok(answer
            .entries
            .into_iter()
            .map(|e| Entry {
                post_id: e.post_id,
                author_id: e.author_id,
            })
            .collect())
    }
}

/// Notifications ask the users service who the actors are.
pub struct RemoteUserDirectory(pub ServiceClient);

#[async_trait]
impl UserDirectory for RemoteUserDirectory {
    async fn users(&self, ids: &[Uuid]) -> Result<Vec<User>, ApiError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let answer: Users = self
            .0
            .query(
                "/internal/v1/users/lookup",
                &UserLookup {
                    ids: ids.to_vec(),
                    usernames: Vec::new(),
                },
            )
            .await?;
        Ok(answer.users)
    }
}

/// Notifications ask the posts service for the posts they are about.
pub struct RemotePostViews(pub ServiceClient);

#[async_trait]
impl PostViews for RemotePostViews {
    async fn posts(&self, ids: Vec<Uuid>, viewer: Uuid) -> Result<Vec<Post>, ApiError> {
        let page: TimelinePage = self
            .0
            .query(
                "/internal/v1/posts/timeline-page",
                &TimelinePageRequest {
                    ids,
                    viewer,
                    own_after: None,
                },
            )
            .await?;
        Ok(page.posts)
    }
}
