//! Events of the users service, on `socialdevs.users.v1`, keyed by user id (a follow by the
//! follower's id, so one user's follows and unfollows stay in order).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::USERS_TOPIC;

/// An account was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRegisteredV1 {
    /// The new user's id.
    pub user_id: Uuid,
    /// Username as chosen.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// When the account was created.
    pub registered_at: DateTime<Utc>,
}

/// A profile changed; carries the whole public profile as it is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserUpdatedV1 {
    /// The user.
    pub user_id: Uuid,
    /// Username.
    pub username: String,
    /// Display name now.
    pub display_name: String,
    /// Bio now.
    pub bio: String,
    /// When it changed.
    pub updated_at: DateTime<Utc>,
}

/// `follower` started following `followee` (only when the edge is new).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserFollowedV1 {
    /// Who follows.
    pub follower_id: Uuid,
    /// The follower's username.
    pub follower_username: String,
    /// Who is followed.
    pub followee_id: Uuid,
    /// The followee's username.
    pub followee_username: String,
    /// When.
    pub followed_at: DateTime<Utc>,
}

/// `follower` stopped following `followee` (only when an edge was removed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserUnfollowedV1 {
    /// Who followed.
    pub follower_id: Uuid,
    /// Who was followed.
    pub followee_id: Uuid,
    /// When.
    pub unfollowed_at: DateTime<Utc>,
}

// Each type's CloudEvents type and partition key (`types::EventType`).
event_types! {
    service "users", topic USERS_TOPIC;
    UserRegisteredV1: "dev.socialdevs.user.registered.v1", key user_id;
    UserUpdatedV1: "dev.socialdevs.user.updated.v1", key user_id;
    UserFollowedV1: "dev.socialdevs.user.followed.v1", key follower_id;
    UserUnfollowedV1: "dev.socialdevs.user.unfollowed.v1", key follower_id;
}
