//! The shapes services exchange, owned by no single service.
//!
//! A service that shows another service's resources (the timeline shows posts; notifications
//! show users and posts) depends on this crate, not on that service's crate: the public
//! resources ([`User`], [`Author`], [`Post`] and their pages) and the bodies of the internal
//! calls between services ([`internal`]). The public requests' bodies ([`requests`]) and the
//! page cursors' coding ([`cursor`]) live here too, so they can be fuzzed without the I/O
//! stack. Like `socialdevs-domain`, it does no I/O (CI checks this); the owning service still
//! decides what goes in each shape.

pub mod cursor;
pub mod internal;
pub mod requests;
pub mod time;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A user as everyone may see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct User {
    /// UUIDv7.
    pub id: Uuid,
    /// Unique, case-insensitively.
    pub username: String,
    /// Name shown next to posts.
    pub display_name: String,
    /// Up to 160 characters.
    pub bio: String,
    /// When the account was created.
    #[serde(serialize_with = "time::serialize")]
    pub created_at: DateTime<Utc>,
}

/// The author of a post, as shown next to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Author {
    /// User id.
    pub id: Uuid,
    /// Username.
    pub username: String,
    /// Display name.
    pub display_name: String,
}

/// A post as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Post {
    /// UUIDv7; newer posts have greater ids.
    pub id: Uuid,
    /// Who wrote it.
    pub author: Author,
    /// Up to 280 characters.
    pub text: String,
    /// When it was posted.
    #[serde(serialize_with = "time::serialize")]
    pub created_at: DateTime<Utc>,
    /// The post this one replies to, if any.
    pub reply_to: Option<Uuid>,
    /// How many likes it has.
    pub like_count: i64,
    /// How many direct replies it has.
    pub reply_count: i64,
    /// Whether the caller likes it (false when anonymous).
    pub liked_by_me: bool,
    /// Lowercased hashtags without `#`.
    pub hashtags: Vec<String>,
    /// Usernames mentioned (existing users only), without `@`.
    pub mentions: Vec<String>,
}

/// A page of posts (its schema; handlers answer `platform::pagination::Page<Post>`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PostPage {
    items: Vec<Post>,
    next_cursor: Option<String>,
}

/// A page of users (its schema; handlers answer `platform::pagination::Page<User>`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UserPage {
    items: Vec<User>,
    next_cursor: Option<String>,
}
