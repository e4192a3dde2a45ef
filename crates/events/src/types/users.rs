//! Events of the users service, on `socialdevs.users.v1`, keyed by user id (a follow by the
//! follower's id, so one user's follows and unfollows stay in order).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{EventType, USERS_TOPIC};

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

impl EventType for UserRegisteredV1 {
    const TYPE: &'static str = "dev.socialdevs.user.registered.v1";
    const SERVICE: &'static str = "users";
    const TOPIC: &'static str = USERS_TOPIC;
    const KEY_FIELD: &'static str = "user_id";
    fn key(&self) -> Uuid {
        self.user_id
    }
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

impl EventType for UserUpdatedV1 {
    const TYPE: &'static str = "dev.socialdevs.user.updated.v1";
    const SERVICE: &'static str = "users";
    const TOPIC: &'static str = USERS_TOPIC;
    const KEY_FIELD: &'static str = "user_id";
    fn key(&self) -> Uuid {
        self.user_id
    }
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

impl EventType for UserFollowedV1 {
    const TYPE: &'static str = "dev.socialdevs.user.followed.v1";
    const SERVICE: &'static str = "users";
    const TOPIC: &'static str = USERS_TOPIC;
    const KEY_FIELD: &'static str = "follower_id";
    fn key(&self) -> Uuid {
        self.follower_id
    }
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

impl EventType for UserUnfollowedV1 {
    const TYPE: &'static str = "dev.socialdevs.user.unfollowed.v1";
    const SERVICE: &'static str = "users";
    const TOPIC: &'static str = USERS_TOPIC;
    const KEY_FIELD: &'static str = "follower_id";
    fn key(&self) -> Uuid {
        self.follower_id
    }
}
