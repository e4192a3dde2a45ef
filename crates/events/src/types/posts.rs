//! Events of the posts service, on `socialdevs.posts.v1`, keyed by post id.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::POSTS_TOPIC;

/// A post or reply was created. Carries everything a timeline or a notification needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostCreatedV1 {
    /// The post.
    pub post_id: Uuid,
    /// Its author.
    pub author_id: Uuid,
    /// The author's username when posting.
    pub author_username: String,
    /// The author's display name when posting.
    pub author_display_name: String,
    /// The text.
    pub text: String,
    /// Lowercased hashtags without `#`.
    pub hashtags: Vec<String>,
    /// Usernames mentioned (existing users only), without `@`, in order of appearance.
    pub mentions: Vec<String>,
    /// Ids of the mentioned users, in the same order.
    pub mentioned_user_ids: Vec<Uuid>,
    /// The post replied to.
    pub reply_to: Option<Uuid>,
    /// The author of the post replied to.
    pub reply_to_author_id: Option<Uuid>,
    /// When it was posted.
    pub created_at: DateTime<Utc>,
}

/// A post was deleted by its author (its replies stay; their `reply_to` dangles).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostDeletedV1 {
    /// The post.
    pub post_id: Uuid,
    /// Its author.
    pub author_id: Uuid,
    /// The post it replied to, if it was a reply.
    pub reply_to: Option<Uuid>,
    /// When.
    pub deleted_at: DateTime<Utc>,
}

/// Someone liked a post (only when the like is new).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostLikedV1 {
    /// The post.
    pub post_id: Uuid,
    /// The post's author.
    pub post_author_id: Uuid,
    /// Who liked it.
    pub user_id: Uuid,
    /// Their username.
    pub user_username: String,
    /// When.
    pub liked_at: DateTime<Utc>,
}

/// Someone took back a like (only when a like was removed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostUnlikedV1 {
    /// The post.
    pub post_id: Uuid,
    /// The post's author.
    pub post_author_id: Uuid,
    /// Who unliked it.
    pub user_id: Uuid,
    /// When.
    pub unliked_at: DateTime<Utc>,
}

// Each type's CloudEvents type and partition key (`types::EventType`).
event_types! {
    service "posts", topic POSTS_TOPIC;
    PostCreatedV1: "dev.socialdevs.post.created.v1", key post_id;
    PostDeletedV1: "dev.socialdevs.post.deleted.v1", key post_id;
    PostLikedV1: "dev.socialdevs.post.liked.v1", key post_id;
    PostUnlikedV1: "dev.socialdevs.post.unliked.v1", key post_id;
}
