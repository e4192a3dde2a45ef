//! The events the users store writes to its outbox, built the same way by both adapters.

use chrono::{DateTime, Utc};
use socialdevs_events::types::{UserFollowedV1, UserRegisteredV1, UserUnfollowedV1, UserUpdatedV1};
use uuid::Uuid;

use crate::model::User;

pub(super) fn registered(user: &User) -> UserRegisteredV1 {
    UserRegisteredV1 {
        user_id: user.id,
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        registered_at: user.created_at,
    }
}

pub(super) fn updated(user: &User, at: DateTime<Utc>) -> UserUpdatedV1 {
    UserUpdatedV1 {
        user_id: user.id,
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        bio: user.bio.clone(),
        updated_at: at,
    }
}

pub(super) fn followed(
    follower: (Uuid, String),
    followee: (Uuid, String),
    at: DateTime<Utc>,
) -> UserFollowedV1 {
    UserFollowedV1 {
        follower_id: follower.0,
        follower_username: follower.1,
        followee_id: followee.0,
        followee_username: followee.1,
        followed_at: at,
    }
}

pub(super) fn unfollowed(follower: Uuid, followee: Uuid, at: DateTime<Utc>) -> UserUnfollowedV1 {
    UserUnfollowedV1 {
        follower_id: follower,
        followee_id: followee,
        unfollowed_at: at,
    }
}
