//! The users store port and its adapters.

mod events;
mod postgres;
mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use socialdevs_platform::db;
use uuid::Uuid;

use crate::model::{Credentials, NewRefreshToken, NewSignup, NewUser, Rotation, User};

pub use postgres::PgUserStore;
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
    /// The database cannot be reached right now (pool exhausted, connection lost, server
    /// restarting): worth retrying shortly.
    #[error("the database is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Anything else, including violated constraints other than the unique fields (a
    /// self-follow, a follower that does not exist).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        if db::is_unavailable(&err) {
            StoreError::Unavailable(err.into())
        } else {
            StoreError::Other(err.into())
        }
    }
}

/// The error for a failed insert of a user: `Taken` naming the field when a unique
/// constraint on the username or e-mail was violated. Both adapters' messages name the
/// column (SQLite: `users.email`; PostgreSQL: the constraint `users_email_key`).
fn user_insert_error(err: sqlx::Error) -> StoreError {
    match db::unique_violation(&err) {
        Some(message) if message.contains("email") => StoreError::Taken("email"),
        Some(message) if message.contains("username") => StoreError::Taken("username"),
        _ => err.into(),
    }
}

/// The `LIKE` pattern (escape character `\`) matching values that contain `query`, ASCII
/// case-folded: `%`, `_` and `\` in the query match themselves.
fn contains_pattern(query: &str) -> String {
    let escaped = query
        .to_ascii_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
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
///
/// Every change that others care about writes its event (`user.registered`, `user.updated`,
/// `user.followed`, `user.unfollowed`) to the service's outbox in the same transaction.
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
    /// lowercased username (byte order), after `after` (a lowercased username, exclusive).
    /// Matching ignores ASCII case only; `%`, `_` and `\` in `query` match themselves.
    async fn search(
        &self,
        query: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<User>>;

    /// Follows; returns whether a new edge was created (false when it already existed).
    /// `NotFound` when `followee` does not exist; following oneself is refused with `Other`
    /// (a database constraint: the service rejects it before asking).
    async fn follow(&self, follower: Uuid, followee: Uuid, at: DateTime<Utc>) -> StoreResult<bool>;
    /// Unfollows; returns whether an edge was removed.
    async fn unfollow(
        &self,
        follower: Uuid,
        followee: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Whether `follower` follows `followee`.
    async fn is_following(&self, follower: Uuid, followee: Uuid) -> StoreResult<bool>;
    /// (followers, following) counts.
    async fn follow_counts(&self, user: Uuid) -> StoreResult<(i64, i64)>;
    /// Who follows `user`, newest first (by follow id), after the follow id `after`.
    async fn followers(
        &self,
        user: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<FollowEdge>>;
    /// Whom `user` follows, newest first (by follow id), after the follow id `after`.
    async fn following(
        &self,
        user: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<FollowEdge>>;
    /// Ids of everyone `user` follows, in no particular order.
    async fn following_ids(&self, user: Uuid) -> StoreResult<Vec<Uuid>>;
    /// Ids of `user`'s first `limit` followers, in the order they followed (a timeline fan-out
    /// asks for one more than its threshold).
    async fn follower_ids(&self, user: Uuid, limit: u32) -> StoreResult<Vec<Uuid>>;
    /// Popular users other than `user` that `user` does not follow yet: most followers first,
    /// then newest account (highest id) first.
    async fn suggestions(&self, user: Uuid, limit: u32) -> StoreResult<Vec<User>>;

    /// Stores a refresh token.
    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> StoreResult<()>;
    /// Atomically marks `presented_hash` used and stores `next` in the same family (and for
    /// the same user: `next`'s `family_id` and `user_id` are replaced by the presented
    /// token's). Unknown, revoked or expired tokens are `Invalid`. Presenting a token that was
    /// already used is `ReuseDetected` and revokes the whole family. Of concurrent rotations
    /// of one token exactly one is `Rotated`; the others find it used (reuse) or, once the
    /// family is revoked, `Invalid`.
    async fn rotate_refresh_token(
        &self,
        presented_hash: &str,
        next: &NewRefreshToken,
        now: DateTime<Utc>,
    ) -> StoreResult<Rotation>;
    /// Revokes the family of the token with this hash, if any.
    async fn revoke_family_of(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<()>;
    /// Revokes every live refresh token of `user` ("sign out everywhere"). A rotation racing
    /// it either finishes first (and its new token is revoked too) or finds its token revoked.
    /// Returns how many tokens were revoked.
    async fn revoke_user_tokens(&self, user: Uuid, now: DateTime<Utc>) -> StoreResult<u64>;
    /// Replaces `user`'s password hash and revokes every refresh token of theirs, in one
    /// transaction; `NotFound` for an unknown user.
    async fn change_password(
        &self,
        user: Uuid,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Deletes the refresh tokens that expired at or before `now` (housekeeping: presenting
    /// one is `Invalid` whether it is still stored or not). Returns how many.
    async fn purge_expired_tokens(&self, now: DateTime<Utc>) -> StoreResult<u64>;

    /// Keeps a sign-up until its e-mail address is confirmed or it expires. Several sign-ups
    /// may name the same username or e-mail: the first confirmed gets the account.
    async fn create_signup(&self, signup: &NewSignup) -> StoreResult<()>;
    /// Confirms the sign-up whose token hashes to `token_hash`, in one transaction: creates
    /// its account (created at `now`, with its `user.registered` event) and deletes the
    /// sign-up. `None` when there is no such sign-up or it expired at or before `now`;
    /// `Taken` when its username or e-mail was taken since (nothing changes).
    async fn complete_signup(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>>;
    /// Deletes the sign-ups that expired at or before `now` (housekeeping). Returns how many.
    async fn purge_expired_signups(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}
