//! The users store on the embedded SQLite database.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::OptionalExtension;
use socialdevs_platform::db::held::{Held, HeldSets};
use socialdevs_platform::db::inline::{parsed, timestamp};
use socialdevs_platform::db::{self, SqliteDb};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use uuid::Uuid;

use socialdevs_events::outbox::{sqlite::append, OutboxSignal, Written};

use super::{
    contains_pattern, events, user_insert_error, FollowEdge, StoreError, StoreResult, UserStore,
};
use crate::model::{Credentials, NewRefreshToken, NewSignup, NewUser, Rotation, User};
use crate::SERVICE;

/// SQLite adapter of [`UserStore`].
#[derive(Clone)]
pub struct SqliteUserStore {
    db: SqliteDb,
    outbox: OutboxSignal,
    /// Each user's followers, in the order they followed, kept current by this store's follows
    /// and unfollows (the embedded file has one writer, this process): a post's fan-out reads
    /// its author's followers without a statement.
    followers: Arc<HeldSets<Vec<Uuid>>>,
}

/// Followers kept per user (users followed by more are asked of the database), and in all.
const FOLLOWERS_PER_USER: usize = 10_000;
const CACHED_FOLLOWERS: usize = 200_000;

impl SqliteUserStore {
    /// A store on an opened (and migrated) database. Every write to the follows of `db` must
    /// go through this store (or its clones): it keeps followers in memory.
    pub fn new(db: SqliteDb) -> Self {
        Self {
            db,
            outbox: OutboxSignal::default(),
            followers: Arc::new(HeldSets::new(FOLLOWERS_PER_USER, CACHED_FOLLOWERS)),
        }
    }

    /// Wakes this signal (the service's relay) after each commit that wrote events.
    pub fn with_outbox_signal(mut self, signal: OutboxSignal) -> Self {
        self.outbox = signal;
        self
    }

    /// `user`'s first `limit` followers, in the order they followed.
    fn follower_ids_from_db(&self, user: Uuid, limit: u32) -> anyhow::Result<Vec<Uuid>> {
        let user = user.to_string();
        self.db.inline.read(|conn| {
            conn.prepare_cached(
                "SELECT follower_id FROM follows WHERE followee_id = ? ORDER BY id LIMIT ?",
            )?
            .query_map(rusqlite::params![user, i64::from(limit)], |row| {
                parsed(row, 0, Uuid::parse_str)
            })?
            .collect()
        })
    }
}

use db::timestamp as ts;

use db::parse_timestamp as parse_ts;

fn parse_id(s: &str) -> anyhow::Result<Uuid> {
    Ok(Uuid::parse_str(s)?)
}

fn user_from_row(row: &SqliteRow) -> anyhow::Result<User> {
    Ok(User {
        id: parse_id(row.try_get("id")?)?,
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        bio: row.try_get("bio")?,
        created_at: parse_ts(row.try_get("created_at")?)?,
    })
}

fn users_from_rows(rows: &[SqliteRow]) -> StoreResult<Vec<User>> {
    rows.iter()
        .map(|r| user_from_row(r).map_err(StoreError::Other))
        .collect()
}

const USER_COLUMNS: &str = "id, username, display_name, bio, created_at";

/// A user from the inline readers' row of [`USER_COLUMNS`], in their order.
fn inline_user(row: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: parsed(row, 0, Uuid::parse_str)?,
        username: row.get(1)?,
        display_name: row.get(2)?,
        bio: row.get(3)?,
        created_at: timestamp(row, 4)?,
    })
}

#[async_trait]
impl UserStore for SqliteUserStore {
    async fn create_user(&self, user: &NewUser) -> StoreResult<User> {
        let mut tx = self.db.begin(SERVICE).await?;
        let (created, written) = insert_user(&mut tx, &self.outbox, user).await?;
        tx.commit().await?;
        self.outbox.committed_rows(SERVICE, written);
        Ok(created)
    }

    async fn credentials(&self, login_lower: &str) -> StoreResult<Option<Credentials>> {
        let mut conn = self.db.read(SERVICE).await?;
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, password_hash FROM users WHERE username_lower = ?1 OR email = ?1"
        ))
        .bind(login_lower)
        .fetch_optional(&mut *conn)
        .await?;
        row.map(|r| {
            Ok(Credentials {
                user: user_from_row(&r)?,
                password_hash: r.try_get("password_hash")?,
            })
        })
        .transpose()
        .map_err(StoreError::Other)
    }

    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<User>> {
        let id = id.to_string();
        Ok(self.db.inline.read(|conn| {
            conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))?
                .query_row([id], inline_user)
                .optional()
        })?)
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        let username = username.to_ascii_lowercase();
        Ok(self.db.inline.read(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE username_lower = ?"
            ))?
            .query_row([username], inline_user)
            .optional()
        })?)
    }

    async fn users_by_ids(&self, ids: &[Uuid]) -> StoreResult<Vec<User>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids_json = serde_json::to_string(&ids.iter().map(Uuid::to_string).collect::<Vec<_>>())
            .map_err(anyhow::Error::from)?;
        Ok(self.db.inline.read(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE id IN (SELECT value FROM json_each(?))"
            ))?
            .query_map([ids_json], inline_user)?
            .collect()
        })?)
    }

    async fn update_profile(
        &self,
        id: Uuid,
        display_name: Option<&str>,
        bio: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreResult<User> {
        let mut tx = self.db.begin(SERVICE).await?;
        let row = sqlx::query(&format!(
            "UPDATE users SET display_name = COALESCE(?, display_name), bio = COALESCE(?, bio), \
             updated_at = ? WHERE id = ? RETURNING {USER_COLUMNS}"
        ))
        .bind(display_name)
        .bind(bio)
        .bind(ts(at))
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let user = row
            .map(|r| user_from_row(&r))
            .transpose()?
            .ok_or(StoreError::NotFound)?;
        let event = events::updated(&user, at);
        let written = Written::from(append(&mut tx, &self.outbox, &event, at).await?);
        tx.commit().await?;
        self.outbox.committed_rows(SERVICE, written);
        Ok(user)
    }

    async fn search(
        &self,
        query: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        // Folds ASCII only, like SQLite's lower(): a Unicode-lowercased query would miss
        // display names with non-ASCII capitals (`Émile`).
        let pattern = query.map(contains_pattern);
        let mut conn = self.db.read(SERVICE).await?;
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users \
             WHERE (?1 IS NULL OR username_lower LIKE ?1 ESCAPE '\\' OR lower(display_name) LIKE ?1 ESCAPE '\\') \
             AND (?2 IS NULL OR username_lower > ?2) \
             ORDER BY username_lower LIMIT ?3"
        ))
        .bind(pattern)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
        users_from_rows(&rows)
    }

    async fn follow(&self, follower: Uuid, followee: Uuid, at: DateTime<Utc>) -> StoreResult<bool> {
        let mut tx = self.db.begin(SERVICE).await?;
        let followee_name: String = sqlx::query_scalar("SELECT username FROM users WHERE id = ?")
            .bind(followee.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let done = sqlx::query(
            "INSERT INTO follows (id, follower_id, followee_id, created_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (follower_id, followee_id) DO NOTHING",
        )
        .bind(Uuid::now_v7().to_string())
        .bind(follower.to_string())
        .bind(followee.to_string())
        .bind(ts(at))
        .execute(&mut *tx)
        .await?;
        let new = done.rows_affected() == 1;
        let mut written = Written::default();
        if new {
            // The insert passed the foreign key: the follower exists.
            let follower_name: String =
                sqlx::query_scalar("SELECT username FROM users WHERE id = ?")
                    .bind(follower.to_string())
                    .fetch_one(&mut *tx)
                    .await?;
            let event = events::followed((follower, follower_name), (followee, followee_name), at);
            written.push(append(&mut tx, &self.outbox, &event, at).await?);
        }
        tx.commit().await?;
        if new {
            self.followers.added(followee, follower);
            self.outbox.committed_rows(SERVICE, written);
        }
        Ok(new)
    }

    async fn unfollow(
        &self,
        follower: Uuid,
        followee: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.db.begin(SERVICE).await?;
        let done = sqlx::query("DELETE FROM follows WHERE follower_id = ? AND followee_id = ?")
            .bind(follower.to_string())
            .bind(followee.to_string())
            .execute(&mut *tx)
            .await?;
        let removed = done.rows_affected() == 1;
        let mut written = Written::default();
        if removed {
            let event = events::unfollowed(follower, followee, at);
            written.push(append(&mut tx, &self.outbox, &event, at).await?);
        }
        tx.commit().await?;
        if removed {
            self.followers.removed(followee, follower);
            self.outbox.committed_rows(SERVICE, written);
        }
        Ok(removed)
    }

    async fn is_following(&self, follower: Uuid, followee: Uuid) -> StoreResult<bool> {
        let (follower, followee) = (follower.to_string(), followee.to_string());
        Ok(self.db.inline.read(|conn| {
            conn.prepare_cached("SELECT 1 FROM follows WHERE follower_id = ? AND followee_id = ?")?
                .exists([follower, followee])
        })?)
    }

    async fn follow_counts(&self, user: Uuid) -> StoreResult<(i64, i64)> {
        let mut conn = self.db.read(SERVICE).await?;
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM follows WHERE followee_id = ?1) AS followers, \
                    (SELECT COUNT(*) FROM follows WHERE follower_id = ?1) AS following",
        )
        .bind(user.to_string())
        .fetch_one(&mut *conn)
        .await?;
        Ok((row.try_get("followers")?, row.try_get("following")?))
    }

    async fn followers(
        &self,
        user: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<FollowEdge>> {
        self.edges("followee_id", "follower_id", user, after, limit)
            .await
    }

    async fn following(
        &self,
        user: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<FollowEdge>> {
        self.edges("follower_id", "followee_id", user, after, limit)
            .await
    }

    async fn following_ids(&self, user: Uuid) -> StoreResult<Vec<Uuid>> {
        let user = user.to_string();
        Ok(self.db.inline.read(|conn| {
            conn.prepare_cached("SELECT followee_id FROM follows WHERE follower_id = ?")?
                .query_map([user], |row| parsed(row, 0, Uuid::parse_str))?
                .collect()
        })?)
    }

    async fn follower_ids(&self, user: Uuid, limit: u32) -> StoreResult<Vec<Uuid>> {
        let first = |followers: &Vec<Uuid>| -> Vec<Uuid> {
            followers.iter().take(limit as usize).copied().collect()
        };
        let read_at = match self.followers.with(user, first) {
            Held::Members(ids) => return Ok(ids),
            Held::TooMany => return Ok(self.follower_ids_from_db(user, limit)?),
            Held::Unknown(read_at) => read_at,
        };
        let all = self.follower_ids_from_db(user, self.followers.read_limit())?;
        Ok(match self.followers.keep(read_at, user, all) {
            Some(followers) => first(&followers),
            None => self.follower_ids_from_db(user, limit)?,
        })
    }

    async fn suggestions(&self, user: Uuid, limit: u32) -> StoreResult<Vec<User>> {
        let mut conn = self.db.read(SERVICE).await?;
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u \
             WHERE u.id <> ?1 AND NOT EXISTS \
               (SELECT 1 FROM follows f WHERE f.follower_id = ?1 AND f.followee_id = u.id) \
             ORDER BY (SELECT COUNT(*) FROM follows f2 WHERE f2.followee_id = u.id) DESC, u.id DESC \
             LIMIT ?2"
        ))
        .bind(user.to_string())
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
        users_from_rows(&rows)
    }

    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> StoreResult<()> {
        let mut tx = self.db.begin(SERVICE).await?;
        insert_token(&mut tx, token).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn rotate_refresh_token(
        &self,
        presented_hash: &str,
        next: &NewRefreshToken,
        now: DateTime<Utc>,
    ) -> StoreResult<Rotation> {
        let mut tx = self.db.begin(SERVICE).await?;
        let row = sqlx::query(
            "SELECT family_id, user_id, expires_at, used_at, revoked_at FROM refresh_tokens \
             WHERE token_hash = ?",
        )
        .bind(presented_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Rotation::Invalid);
        };
        let family: String = row.try_get("family_id")?;
        let used_at: Option<String> = row.try_get("used_at")?;
        let revoked_at: Option<String> = row.try_get("revoked_at")?;
        let expires_at = parse_ts(row.try_get("expires_at")?)?;
        if revoked_at.is_some() || expires_at <= now {
            return Ok(Rotation::Invalid);
        }
        if used_at.is_some() {
            sqlx::query(
                "UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL",
            )
            .bind(ts(now))
            .bind(&family)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(Rotation::ReuseDetected);
        }
        let user_id = parse_id(row.try_get("user_id")?)?;
        sqlx::query("UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ?")
            .bind(ts(now))
            .bind(presented_hash)
            .execute(&mut *tx)
            .await?;
        let next = NewRefreshToken {
            family_id: parse_id(&family)?,
            user_id,
            ..next.clone()
        };
        insert_token(&mut tx, &next).await?;
        tx.commit().await?;
        Ok(Rotation::Rotated { user_id })
    }

    async fn revoke_family_of(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let mut tx = self.db.begin(SERVICE).await?;
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = ? WHERE revoked_at IS NULL AND family_id = \
             (SELECT family_id FROM refresh_tokens WHERE token_hash = ?)",
        )
        .bind(ts(now))
        .bind(token_hash)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn revoke_user_tokens(&self, user: Uuid, now: DateTime<Utc>) -> StoreResult<u64> {
        let mut tx = self.db.begin(SERVICE).await?;
        let revoked = revoke_all(&mut tx, user, now).await?;
        tx.commit().await?;
        Ok(revoked)
    }

    async fn change_password(
        &self,
        user: Uuid,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin(SERVICE).await?;
        let done = sqlx::query("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?")
            .bind(password_hash)
            .bind(ts(now))
            .bind(user.to_string())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        revoke_all(&mut tx, user, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn purge_expired_tokens(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let mut tx = self.db.begin(SERVICE).await?;
        let done = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at <= ?")
            .bind(ts(now))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    async fn create_signup(&self, signup: &NewSignup) -> StoreResult<()> {
        let mut tx = self.db.begin(SERVICE).await?;
        let user = &signup.user;
        sqlx::query(
            "INSERT INTO signups (token_hash, id, username, email, password_hash, display_name, \
             created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&signup.token_hash)
        .bind(user.id.to_string())
        .bind(&user.username)
        .bind(&user.email)
        .bind(&user.password_hash)
        .bind(&user.display_name)
        .bind(ts(user.created_at))
        .bind(ts(signup.expires_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn complete_signup(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        let mut tx = self.db.begin(SERVICE).await?;
        let row = sqlx::query(
            "DELETE FROM signups WHERE token_hash = ? AND expires_at > ? \
             RETURNING id, username, email, password_hash, display_name",
        )
        .bind(token_hash)
        .bind(ts(now))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let new = NewUser {
            id: parse_id(row.try_get("id")?)?,
            username: row.try_get("username")?,
            email: row.try_get("email")?,
            password_hash: row.try_get("password_hash")?,
            display_name: row.try_get("display_name")?,
            created_at: now,
        };
        // A taken username or e-mail rolls the deletion back with the rest.
        let (created, written) = insert_user(&mut tx, &self.outbox, &new).await?;
        tx.commit().await?;
        self.outbox.committed_rows(SERVICE, written);
        Ok(Some(created))
    }

    async fn purge_expired_signups(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let mut tx = self.db.begin(SERVICE).await?;
        let done = sqlx::query("DELETE FROM signups WHERE expires_at <= ?")
            .bind(ts(now))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}

/// Inserts `user` and its `user.registered` event.
async fn insert_user(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    outbox: &OutboxSignal,
    user: &NewUser,
) -> StoreResult<(User, Written)> {
    // RETURNING: the caller gets the user as stored (timestamps at stored precision).
    let row = sqlx::query(&format!(
        "INSERT INTO users (id, username, username_lower, email, password_hash, display_name, \
         bio, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, '', ?, ?) \
         RETURNING {USER_COLUMNS}"
    ))
    .bind(user.id.to_string())
    .bind(&user.username)
    .bind(user.username.to_ascii_lowercase())
    .bind(&user.email)
    .bind(&user.password_hash)
    .bind(&user.display_name)
    .bind(ts(user.created_at))
    .bind(ts(user.created_at))
    .fetch_one(&mut **tx)
    .await
    .map_err(user_insert_error)?;
    let created = user_from_row(&row)?;
    let event = events::registered(&created);
    let written = Written::from(append(tx, outbox, &event, created.created_at).await?);
    Ok((created, written))
}

/// Revokes every live refresh token of `user` (SQLite has one writer: nothing races this).
async fn revoke_all(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    user: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    let done = sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
    )
    .bind(ts(now))
    .bind(user.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

async fn insert_token(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    token: &NewRefreshToken,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_at, expires_at) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(&token.token_hash)
    .bind(token.family_id.to_string())
    .bind(token.user_id.to_string())
    .bind(ts(token.created_at))
    .bind(ts(token.expires_at))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl SqliteUserStore {
    async fn edges(
        &self,
        anchor_col: &str,
        other_col: &str,
        user: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<FollowEdge>> {
        let mut conn = self.db.read(SERVICE).await?;
        let rows = sqlx::query(&format!(
            "SELECT f.id AS follow_id, u.id, u.username, u.display_name, u.bio, u.created_at \
             FROM follows f JOIN users u ON u.id = f.{other_col} \
             WHERE f.{anchor_col} = ? AND (? IS NULL OR f.id < ?) \
             ORDER BY f.id DESC LIMIT ?"
        ))
        .bind(user.to_string())
        .bind(after.map(|a| a.to_string()))
        .bind(after.map(|a| a.to_string()))
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(FollowEdge {
                    follow_id: parse_id(r.try_get("follow_id")?)?,
                    user: user_from_row(r)?,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()
            .map_err(StoreError::Other)
    }
}
