//! The users store on PostgreSQL, in the service's own schema (the pool's `search_path`, so
//! the SQL is unqualified). Behaves exactly like the SQLite adapter: both pass one
//! conformance suite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use socialdevs_platform::db::PgDb;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row, Transaction};
use uuid::Uuid;

use socialdevs_events::outbox::{postgres::append, OutboxSignal};

use super::{
    contains_pattern, events, user_insert_error, FollowEdge, StoreError, StoreResult, UserStore,
};
use crate::model::{Credentials, NewRefreshToken, NewSignup, NewUser, Rotation, User};
use crate::SERVICE;

/// PostgreSQL adapter of [`UserStore`].
#[derive(Clone)]
pub struct PgUserStore {
    db: PgDb,
    outbox: OutboxSignal,
}

impl PgUserStore {
    /// A store on the service's (migrated) pool.
    pub fn new(db: PgDb) -> Self {
        Self {
            db,
            outbox: OutboxSignal::default(),
        }
    }

    /// Wakes this signal (the service's relay in this process) after each commit that wrote
    /// events; relays elsewhere are woken by `NOTIFY`.
    pub fn with_outbox_signal(mut self, signal: OutboxSignal) -> Self {
        self.outbox = signal;
        self
    }
}

const USER_COLUMNS: &str = "id, username, display_name, bio, created_at";

fn user_from_row(row: &PgRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        bio: row.try_get("bio")?,
        created_at: row.try_get("created_at")?,
    })
}

fn users_from_rows(rows: &[PgRow]) -> StoreResult<Vec<User>> {
    rows.iter()
        .map(|r| user_from_row(r).map_err(StoreError::from))
        .collect()
}

/// Makes the transaction's operations on one refresh-token family take turns with every other
/// transaction's (rotation, reuse detection, revocation): a rotation committing while a
/// revocation runs could otherwise add a token the revocation's snapshot does not see. The
/// lock is released at commit or rollback.
async fn lock_family(tx: &mut Transaction<'static, Postgres>, family: Uuid) -> StoreResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('users.refresh_tokens'), hashtext($1))")
        .bind(family.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The family of the token with this hash, if it exists.
async fn family_of(
    tx: &mut Transaction<'static, Postgres>,
    token_hash: &str,
) -> StoreResult<Option<Uuid>> {
    Ok(
        sqlx::query_scalar("SELECT family_id FROM refresh_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&mut **tx)
            .await?,
    )
}

async fn insert_token(
    tx: &mut Transaction<'static, Postgres>,
    token: &NewRefreshToken,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&token.token_hash)
    .bind(token.family_id)
    .bind(token.user_id)
    .bind(token.created_at)
    .bind(token.expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[async_trait]
impl UserStore for PgUserStore {
    async fn create_user(&self, user: &NewUser) -> StoreResult<User> {
        let mut tx = self.db.begin(SERVICE).await?;
        let created = insert_user(&mut tx, &self.outbox, user).await?;
        tx.commit().await?;
        self.outbox.committed();
        Ok(created)
    }

    async fn credentials(&self, login_lower: &str) -> StoreResult<Option<Credentials>> {
        let mut conn = self.db.acquire(SERVICE).await?;
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, password_hash FROM users WHERE username_lower = $1 OR email = $1"
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
    }

    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<User>> {
        let mut conn = self.db.acquire(SERVICE).await?;
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        Ok(row.map(|r| user_from_row(&r)).transpose()?)
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        let mut conn = self.db.acquire(SERVICE).await?;
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE username_lower = $1"
        ))
        .bind(username.to_ascii_lowercase())
        .fetch_optional(&mut *conn)
        .await?;
        Ok(row.map(|r| user_from_row(&r)).transpose()?)
    }

    async fn users_by_ids(&self, ids: &[Uuid]) -> StoreResult<Vec<User>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.db.acquire(SERVICE).await?;
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE id = ANY($1)"
        ))
        .bind(ids)
        .fetch_all(&mut *conn)
        .await?;
        users_from_rows(&rows)
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
            "UPDATE users SET display_name = COALESCE($1, display_name), bio = COALESCE($2, bio), \
             updated_at = $3 WHERE id = $4 RETURNING {USER_COLUMNS}"
        ))
        .bind(display_name)
        .bind(bio)
        .bind(at)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let user = row
            .map(|r| user_from_row(&r))
            .transpose()?
            .ok_or(StoreError::NotFound)?;
        append(&mut tx, &self.outbox, &events::updated(&user, at), at).await?;
        tx.commit().await?;
        self.outbox.committed();
        Ok(user)
    }

    async fn search(
        &self,
        query: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        // `username_lower` has the "C" collation (byte order, like SQLite's); lower() under
        // "C" folds ASCII only, like SQLite's lower(), whatever the database's locale.
        let pattern = query.map(contains_pattern);
        let mut conn = self.db.acquire(SERVICE).await?;
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users \
             WHERE ($1::text IS NULL OR username_lower LIKE $1 ESCAPE '\\' \
                    OR lower(display_name COLLATE \"C\") LIKE $1 ESCAPE '\\') \
             AND ($2::text IS NULL OR username_lower > $2) \
             ORDER BY username_lower LIMIT $3"
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
        // KEY SHARE: the followee cannot be deleted before the edge is in.
        let followee_name: String =
            sqlx::query_scalar("SELECT username FROM users WHERE id = $1 FOR KEY SHARE")
                .bind(followee)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
        let done = sqlx::query(
            "INSERT INTO follows (id, follower_id, followee_id, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (follower_id, followee_id) DO NOTHING",
        )
        .bind(Uuid::now_v7())
        .bind(follower)
        .bind(followee)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        let new = done.rows_affected() == 1;
        if new {
            // The insert passed the foreign key: the follower exists.
            let follower_name: String =
                sqlx::query_scalar("SELECT username FROM users WHERE id = $1")
                    .bind(follower)
                    .fetch_one(&mut *tx)
                    .await?;
            let event = events::followed((follower, follower_name), (followee, followee_name), at);
            append(&mut tx, &self.outbox, &event, at).await?;
        }
        tx.commit().await?;
        if new {
            self.outbox.committed();
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
        let done = sqlx::query("DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2")
            .bind(follower)
            .bind(followee)
            .execute(&mut *tx)
            .await?;
        let removed = done.rows_affected() == 1;
        if removed {
            append(
                &mut tx,
                &self.outbox,
                &events::unfollowed(follower, followee, at),
                at,
            )
            .await?;
        }
        tx.commit().await?;
        if removed {
            self.outbox.committed();
        }
        Ok(removed)
    }

    async fn is_following(&self, follower: Uuid, followee: Uuid) -> StoreResult<bool> {
        let mut conn = self.db.acquire(SERVICE).await?;
        let found: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM follows WHERE follower_id = $1 AND followee_id = $2")
                .bind(follower)
                .bind(followee)
                .fetch_optional(&mut *conn)
                .await?;
        Ok(found.is_some())
    }

    async fn follow_counts(&self, user: Uuid) -> StoreResult<(i64, i64)> {
        let mut conn = self.db.acquire(SERVICE).await?;
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM follows WHERE followee_id = $1) AS followers, \
                    (SELECT COUNT(*) FROM follows WHERE follower_id = $1) AS following",
        )
        .bind(user)
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
        let mut conn = self.db.acquire(SERVICE).await?;
        Ok(
            sqlx::query_scalar("SELECT followee_id FROM follows WHERE follower_id = $1")
                .bind(user)
                .fetch_all(&mut *conn)
                .await?,
        )
    }

    async fn follower_ids(&self, user: Uuid, limit: u32) -> StoreResult<Vec<Uuid>> {
        let mut conn = self.db.acquire(SERVICE).await?;
        Ok(sqlx::query_scalar(
            "SELECT follower_id FROM follows WHERE followee_id = $1 ORDER BY id LIMIT $2",
        )
        .bind(user)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?)
    }

    async fn suggestions(&self, user: Uuid, limit: u32) -> StoreResult<Vec<User>> {
        let mut conn = self.db.acquire(SERVICE).await?;
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u \
             WHERE u.id <> $1 AND NOT EXISTS \
               (SELECT 1 FROM follows f WHERE f.follower_id = $1 AND f.followee_id = u.id) \
             ORDER BY (SELECT COUNT(*) FROM follows f2 WHERE f2.followee_id = u.id) DESC, u.id DESC \
             LIMIT $2"
        ))
        .bind(user)
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
        let Some(family) = family_of(&mut tx, presented_hash).await? else {
            return Ok(Rotation::Invalid);
        };
        lock_family(&mut tx, family).await?;
        // Read after taking the lock (a fresh snapshot: READ COMMITTED), so a rotation that
        // committed meanwhile is seen and this one counts as reuse. FOR UPDATE for good
        // measure: the row is about to change.
        let row = sqlx::query(
            "SELECT user_id, expires_at, used_at, revoked_at FROM refresh_tokens \
             WHERE token_hash = $1 FOR UPDATE",
        )
        .bind(presented_hash)
        .fetch_one(&mut *tx)
        .await?;
        let used_at: Option<DateTime<Utc>> = row.try_get("used_at")?;
        let revoked_at: Option<DateTime<Utc>> = row.try_get("revoked_at")?;
        let expires_at: DateTime<Utc> = row.try_get("expires_at")?;
        if revoked_at.is_some() || expires_at <= now {
            return Ok(Rotation::Invalid);
        }
        if used_at.is_some() {
            sqlx::query(
                "UPDATE refresh_tokens SET revoked_at = $1 \
                 WHERE family_id = $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(family)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(Rotation::ReuseDetected);
        }
        let user_id: Uuid = row.try_get("user_id")?;
        sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2")
            .bind(now)
            .bind(presented_hash)
            .execute(&mut *tx)
            .await?;
        let next = NewRefreshToken {
            family_id: family,
            user_id,
            ..next.clone()
        };
        insert_token(&mut tx, &next).await?;
        tx.commit().await?;
        Ok(Rotation::Rotated { user_id })
    }

    async fn revoke_family_of(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let mut tx = self.db.begin(SERVICE).await?;
        let Some(family) = family_of(&mut tx, token_hash).await? else {
            return Ok(());
        };
        lock_family(&mut tx, family).await?;
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(family)
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
        let done =
            sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
                .bind(password_hash)
                .bind(now)
                .bind(user)
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
        let mut conn = self.db.acquire(SERVICE).await?;
        let done = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *conn)
            .await?;
        Ok(done.rows_affected())
    }

    async fn create_signup(&self, signup: &NewSignup) -> StoreResult<()> {
        let mut conn = self.db.acquire(SERVICE).await?;
        let user = &signup.user;
        sqlx::query(
            "INSERT INTO signups (token_hash, id, username, email, password_hash, display_name, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&signup.token_hash)
        .bind(user.id)
        .bind(&user.username)
        .bind(&user.email)
        .bind(&user.password_hash)
        .bind(&user.display_name)
        .bind(user.created_at)
        .bind(signup.expires_at)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn complete_signup(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        let mut tx = self.db.begin(SERVICE).await?;
        // The row stays locked until commit: of two confirmations of one sign-up, the second
        // finds it gone.
        let row = sqlx::query(
            "DELETE FROM signups WHERE token_hash = $1 AND expires_at > $2 \
             RETURNING id, username, email, password_hash, display_name",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let new = NewUser {
            id: row.try_get("id")?,
            username: row.try_get("username")?,
            email: row.try_get("email")?,
            password_hash: row.try_get("password_hash")?,
            display_name: row.try_get("display_name")?,
            created_at: now,
        };
        // A taken username or e-mail rolls the deletion back with the rest.
        let created = insert_user(&mut tx, &self.outbox, &new).await?;
        tx.commit().await?;
        self.outbox.committed();
        Ok(Some(created))
    }

    async fn purge_expired_signups(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let mut conn = self.db.acquire(SERVICE).await?;
        let done = sqlx::query("DELETE FROM signups WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *conn)
            .await?;
        Ok(done.rows_affected())
    }
}

/// Inserts `user` and its `user.registered` event.
async fn insert_user(
    tx: &mut Transaction<'static, Postgres>,
    outbox: &OutboxSignal,
    user: &NewUser,
) -> StoreResult<User> {
    // RETURNING: the caller gets the user as stored (timestamps at stored precision).
    let row = sqlx::query(&format!(
        "INSERT INTO users (id, username, username_lower, email, password_hash, display_name, \
         bio, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, '', $7, $7) \
         RETURNING {USER_COLUMNS}"
    ))
    .bind(user.id)
    .bind(&user.username)
    .bind(user.username.to_ascii_lowercase())
    .bind(&user.email)
    .bind(&user.password_hash)
    .bind(&user.display_name)
    .bind(user.created_at)
    .fetch_one(&mut **tx)
    .await
    .map_err(user_insert_error)?;
    let created = user_from_row(&row)?;
    append(
        tx,
        outbox,
        &events::registered(&created),
        created.created_at,
    )
    .await?;
    Ok(created)
}

/// Revokes every live refresh token of `user`. Each of their families is locked first, as a
/// rotation locks it: a rotation that got there first has committed its new token, which the
/// update (a statement started after the locks) then sees and revokes; one that comes later
/// reads its token revoked.
async fn revoke_all(
    tx: &mut Transaction<'static, Postgres>,
    user: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    let families: Vec<Uuid> = sqlx::query_scalar(
        "SELECT DISTINCT family_id FROM refresh_tokens \
         WHERE user_id = $1 AND revoked_at IS NULL ORDER BY family_id",
    )
    .bind(user)
    .fetch_all(&mut **tx)
    .await?;
    for family in families {
        lock_family(tx, family).await?;
    }
    let done = sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(user)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

impl PgUserStore {
    async fn edges(
        &self,
        anchor_col: &str,
        other_col: &str,
        user: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<FollowEdge>> {
        let mut conn = self.db.acquire(SERVICE).await?;
        let rows = sqlx::query(&format!(
            "SELECT f.id AS follow_id, u.id, u.username, u.display_name, u.bio, u.created_at \
             FROM follows f JOIN users u ON u.id = f.{other_col} \
             WHERE f.{anchor_col} = $1 AND ($2::uuid IS NULL OR f.id < $2) \
             ORDER BY f.id DESC LIMIT $3"
        ))
        .bind(user)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(FollowEdge {
                    follow_id: r.try_get("follow_id")?,
                    user: user_from_row(r)?,
                })
            })
            .collect()
    }
}
