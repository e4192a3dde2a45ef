//! The users store port and its adapters.

mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::model::{Credentials, NewRefreshToken, NewUser, Rotation, User};

pub use sqlite::SqliteUserStore;

/// Store failures the service turns into answers.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique field is taken; names the field (`username`, `email`).
    #[error("{0} is already taken")]
    Taken(&'static str),
    /// The row referred to does not exist.
    #[error("not found")]
    NotFound,
    /// The database cannot be reached right now.
    #[error("the database is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Anything else.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Store result.
pub type StoreResult<T> = Result<T, StoreError>;

/// An edge of the follow graph, with the user on the other end.
#[derive(Debug, Clone)]
pub struct FollowEdge {
    /// The follow's own id (UUIDv7): the pagination key.
    pub follow_id: Uuid,
    /// The follower (in a followers list) or followee (in a following list).
    pub user: User,
}

/// Persistence of the users service. Every adapter passes the same conformance suite.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates an account; `Taken("username" | "email")` on a duplicate.
    async fn create_user(&self, user: &NewUser) -> StoreResult<User>;
    /// Finds login data by lowercased username or e-mail.
    async fn credentials(&self, login_lower: &str) -> StoreResult<Option<Credentials>>;
    /// A user by id.
    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<User>>;
    /// A user by username, ignoring case.
    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>>;
    /// Users by id, in no particular order; unknown ids are skipped.
    async fn users_by_ids(&self, ids: &[Uuid]) -> StoreResult<Vec<User>>;
    /// Updates the given profile fields; `NotFound` for an unknown user.
    async fn update_profile(
        &self,
        id: Uuid,
        display_name: Option<&str>,
        bio: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreResult<User>;
    /// Users whose username or display name contains `query` (all when `None`), ordered by
    /// lowercased username, after `after`.
    async fn search(
        &self,
        query: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<User>>;

    /// Follows; returns whether a new edge was created (false when it already existed).
    async fn follow(&self, follower: Uuid, followee: Uuid, at: DateTime<Utc>) -> StoreResult<bool>;
    /// Unfollows; returns whether an edge was removed.
    async fn unfollow(&self, follower: Uuid, followee: Uuid) -> StoreResult<bool>;
    /// Whether `follower` follows `followee`.
    async fn is_following(&self, follower: Uuid, followee: Uuid) -> StoreResult<bool>;
    /// (followers, following) counts.
    async fn follow_counts(&self, user: Uuid) -> StoreResult<(i64, i64)>;
    /// Who follows `user`, newest first, after the follow id `after`.
    async fn followers(
        &self,
        user: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<FollowEdge>>;
    /// Whom `user` follows, newest first, after the follow id `after`.
    async fn following(
        &self,
        user: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<FollowEdge>>;
    /// Ids of everyone `user` follows.
    async fn following_ids(&self, user: Uuid) -> StoreResult<Vec<Uuid>>;
    /// Popular users `user` does not follow yet (most followers first).
    async fn suggestions(&self, user: Uuid, limit: u32) -> StoreResult<Vec<User>>;

    /// Stores a refresh token.
    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> StoreResult<()>;
    /// Atomically marks `presented_hash` used and stores `next` in the same family; detects
    /// reuse of an already-used token and then revokes the whole family.
    async fn rotate_refresh_token(
        &self,
        presented_hash: &str,
        next: &NewRefreshToken,
        now: DateTime<Utc>,
    ) -> StoreResult<Rotation>;
    /// Revokes the family of the token with this hash, if any.
    async fn revoke_family_of(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<()>;
}
