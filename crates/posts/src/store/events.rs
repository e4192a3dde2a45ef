//! The events the posts store writes to its outbox, built the same way by both adapters.

use chrono::{DateTime, Utc};
use socialdevs_events::types::{PostCreatedV1, PostDeletedV1, PostLikedV1, PostUnlikedV1};
use uuid::Uuid;

use crate::model::{Liker, NewPost};

pub(super) fn created(post: &NewPost, reply_to_author_id: Option<Uuid>) -> PostCreatedV1 {
    PostCreatedV1 {
        post_id: post.id,
        author_id: post.author_id,
        author_username: post.author_username.clone(),
        author_display_name: post.author_display_name.clone(),
        text: post.text.clone(),
        hashtags: post.hashtags.clone(),
        mentions: post.mentions.clone(),
        mentioned_user_ids: post.mentioned_user_ids.clone(),
        reply_to: post.reply_to,
        reply_to_author_id,
        created_at: post.created_at,
    }
}

pub(super) fn deleted(
    post_id: Uuid,
    author_id: Uuid,
    reply_to: Option<Uuid>,
    at: DateTime<Utc>,
) -> PostDeletedV1 {
    PostDeletedV1 {
        post_id,
        author_id,
        reply_to,
        deleted_at: at,
    }
}

pub(super) fn liked(
    post_id: Uuid,
    post_author_id: Uuid,
    user: &Liker,
    at: DateTime<Utc>,
) -> PostLikedV1 {
    PostLikedV1 {
        post_id,
        post_author_id,
        user_id: user.id,
        user_username: user.username.clone(),
        liked_at: at,
    }
}

pub(super) fn unliked(
    post_id: Uuid,
    post_author_id: Uuid,
    user_id: Uuid,
    at: DateTime<Utc>,
) -> PostUnlikedV1 {
    PostUnlikedV1 {
        post_id,
        post_author_id,
        user_id,
        unliked_at: at,
    }
}
