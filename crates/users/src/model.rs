//! What the users service stores and returns.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub use socialdevs_api::User;

/// A user's profile: the user plus counts and the caller's relation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Profile {
    /// The user.
    #[serde(flatten)]
    pub user: User,
    /// How many follow this user.
    pub followers_count: i64,
    /// How many this user follows.
    pub following_count: i64,
    /// How many posts this user has.
    pub posts_count: i64,
    /// Whether the caller follows this user (false when anonymous).
    pub followed_by_me: bool,
}

/// A new account, validated.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// UUIDv7.
    pub id: Uuid,
    /// As typed.
    pub username: String,
    /// Lowercased.
    pub email: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Display name.
    pub display_name: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A sign-up waiting for its e-mail address to be confirmed: the account to create, and the
/// (hashed) token that confirms it.
#[derive(Debug, Clone)]
pub struct NewSignup {
    /// SHA-256 of the token mailed to the address, hex.
    pub token_hash: String,
    /// The account created when the address is confirmed.
    pub user: NewUser,
    /// After this the token no longer confirms anything.
    pub expires_at: DateTime<Utc>,
}

/// What login needs.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The user.
    pub user: User,
    /// Argon2id PHC string.
    pub password_hash: String,
}

/// A refresh token as stored (hashed).
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// Every token rotated from one login shares a family.
    pub family_id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Issued at.
    pub created_at: DateTime<Utc>,
    /// Expires at.
    pub expires_at: DateTime<Utc>,
}

/// Outcome of presenting a refresh token for rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was valid; it is now used and the new one stored.
    Rotated {
        /// Owner.
        user_id: Uuid,
    },
    /// The token had been used before: theft is assumed and the family revoked.
    ReuseDetected,
    /// Unknown, expired or revoked.
    Invalid,
}
