//! The users service's rules, independent of HTTP: what registration, login, token rotation,
//! profiles and follows mean. Other services in the same process call it directly.

use std::sync::Arc;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{Duration, Utc};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use socialdevs_domain::{Bio, DisplayName, Email, Password, Username};
use socialdevs_platform::auth::{TokenIssuer, ACCESS_TOKEN_TTL_SECS};
use socialdevs_platform::mail::{self, Mail, Mailer};
use socialdevs_platform::pagination::{Page, PageParams};
use socialdevs_platform::remote::dependency_error;
use socialdevs_platform::telemetry::store_call;
use socialdevs_platform::{ApiError, FieldError};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::model::{NewRefreshToken, NewSignup, NewUser, Profile, Rotation, User};
use crate::passwords::{HashingLimits, Passwords};
use crate::store::{FollowEdge, StoreError, UserStore};

/// How long a refresh token lives.
const REFRESH_TOKEN_TTL_DAYS: i64 = 30;

/// How many posts a user has: owned by the posts service, asked through this port.
#[async_trait]
pub trait PostCounts: Send + Sync {
    /// The number of posts `user` has.
    async fn posts_count(&self, user: Uuid) -> anyhow::Result<i64>;
}

/// What register, login and refresh answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuthSession {
    /// The signed-in user.
    pub user: User,
    /// EdDSA JWT for `Authorization: Bearer`, valid `expires_in` seconds.
    pub access_token: String,
    /// Opaque; exchange it at `/api/v1/auth/refresh`. Each works once.
    pub refresh_token: String,
    /// Access-token lifetime in seconds.
    pub expires_in: i64,
    /// Always `Bearer`.
    pub token_type: &'static str,
}

/// Sign-up by e-mail confirmation: registering mails a link instead of signing in, and the
/// answer is the same whether or not the address already has an account (its owner gets a
/// mail saying so). The account exists once the link is opened.
#[derive(Clone)]
pub struct EmailVerification {
    /// Sends the mails.
    pub mailer: Arc<dyn Mailer>,
    /// Where the web app is served, for the links (`https://socialdevs.example`).
    pub public_url: String,
    /// How long a link works.
    pub link_ttl: Duration,
}

/// What registering did.
#[derive(Debug)]
pub enum Registered {
    /// The account exists and is signed in (no e-mail confirmation).
    SignedIn(AuthSession),
    /// A confirmation link was mailed (e-mail confirmation on).
    ConfirmationSent(SignupPending),
}

/// The answer to a sign-up waiting for its address to be confirmed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SignupPending {
    /// Always `confirmation_sent`.
    #[schema(example = "confirmation_sent")]
    pub status: &'static str,
    /// The address the link was mailed to.
    pub email: String,
    /// How long the link works, in seconds.
    pub expires_in: i64,
}

/// Raw registration input.
#[derive(Debug, Clone)]
pub struct Registration {
    /// Desired username.
    pub username: String,
    /// E-mail address.
    pub email: String,
    /// Password.
    pub password: String,
    /// Optional display name (defaults to the username).
    pub display_name: Option<String>,
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Taken(field) => {
                ApiError::conflict(field, format!("That {field} is already taken."))
            }
            StoreError::NotFound => ApiError::NotFound("No such user.".into()),
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %format!("{cause:#}"), "users store unavailable");
                ApiError::Unavailable {
                    detail: "The users database is unavailable; try again shortly.".into(),
                    retry_after_secs: 2,
                }
            }
            StoreError::Other(cause) => ApiError::Internal(cause),
        }
    }
}

/// The users service.
#[derive(Clone)]
pub struct UsersService {
    store: Arc<dyn UserStore>,
    issuer: TokenIssuer,
    post_counts: Arc<dyn PostCounts>,
    passwords: Passwords,
    max_following: u32,
    verification: Option<EmailVerification>,
}

/// How many accounts one user may follow unless configured otherwise (Mastodon's limit).
pub const MAX_FOLLOWING: u32 = 7_500;

fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The sign-in (token family) a refresh token names: tokens are `<family>.<random>` (still
/// opaque to clients), so a refresh can be rate limited per family before any database read.
/// `None` for a token of another shape (e.g. one issued before families were written in).
pub fn token_family(token: &str) -> Option<Uuid> {
    let (family, _) = token.trim().split_once('.')?;
    Uuid::try_parse(family).ok()
}

/// 256 random bits, URL-safe base64 (no padding).
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The confirmation mail. The token travels in the link's fragment, which browsers never
/// send to a server: it stays out of access logs and `Referer` headers.
fn confirmation_text(public_url: &str, username: &str, token: &str, ttl: Duration) -> String {
    let base = public_url.trim_end_matches('/');
    let hours = ttl.num_hours().max(1);
    format!(
        "Hello @{username},\n\n\
         To finish creating your SocialDevs account, open this link within {hours} hours:\n\n\
         {base}/verify-email#token={token}\n\n\
         If you did not sign up, ignore this message: no account is created without the link.\n"
    )
}

/// The mail to an address that already has an account.
fn already_registered_text(public_url: &str, username: &str) -> String {
    let base = public_url.trim_end_matches('/');
    format!(
        "Hello,\n\n\
         Someone, maybe you, tried to create a SocialDevs account (as @{username}) with this \
         e-mail address. It already has an account, so nothing was created.\n\n\
         If it was you, sign in with your username or this address:\n\n\
         {base}/login\n\n\
         If it was not you, ignore this message: your account is unchanged.\n"
    )
}

fn new_refresh_token(user_id: Uuid, family_id: Uuid) -> (String, NewRefreshToken) {
    let token = format!("{}.{}", family_id.simple(), random_token());
    let now = Utc::now();
    let record = NewRefreshToken {
        token_hash: hash_token(&token),
        family_id,
        user_id,
        created_at: now,
        expires_at: now + Duration::days(REFRESH_TOKEN_TTL_DAYS),
    };
    (token, record)
}

fn collect<T>(
    field: &str,
    result: Result<T, socialdevs_domain::Invalid>,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(FieldError::new(field, e.0));
            None
        }
    }
}

impl UsersService {
    /// Assembles the service.
    pub fn new(
        store: Arc<dyn UserStore>,
        issuer: TokenIssuer,
        post_counts: Arc<dyn PostCounts>,
    ) -> Self {
        Self {
            store,
            issuer,
            post_counts,
            passwords: Passwords::new(HashingLimits::default()),
            max_following: MAX_FOLLOWING,
            verification: None,
        }
    }

    /// Signs new accounts up by e-mail confirmation (see [`EmailVerification`]).
    pub fn with_email_verification(mut self, verification: EmailVerification) -> Self {
        self.verification = Some(verification);
        self
    }

    /// Whether sign-ups wait for their e-mail address to be confirmed.
    pub fn verifies_email(&self) -> bool {
        self.verification.is_some()
    }

    /// Lets each user follow at most `max` accounts.
    pub fn with_max_following(mut self, max: u32) -> Self {
        self.max_following = max;
        self
    }

    /// Bounds concurrent password hashing (memory) to `limits`.
    pub fn with_hashing_limits(mut self, limits: HashingLimits) -> Self {
        self.passwords = Passwords::new(limits);
        self
    }

    async fn session(&self, user: User, family: Option<Uuid>) -> Result<AuthSession, ApiError> {
        let (refresh_token, record) =
            new_refresh_token(user.id, family.unwrap_or_else(Uuid::now_v7));
        if family.is_none() {
            store_call(
                "users.insert_refresh_token",
                self.store.insert_refresh_token(&record),
            )
            .await?;
        }
        self.session_with(user, refresh_token)
    }

    fn session_with(&self, user: User, refresh_token: String) -> Result<AuthSession, ApiError> {
        let access_token = self.issuer.issue(user.id, &user.username)?;
        Ok(AuthSession {
            user,
            access_token,
            refresh_token,
            expires_in: ACCESS_TOKEN_TTL_SECS,
            token_type: "Bearer",
        })
    }

    /// Creates an account and signs it in; with e-mail confirmation on, mails a link that
    /// does (see [`EmailVerification`]).
    pub async fn register(&self, input: Registration) -> Result<Registered, ApiError> {
        let new = self.new_user(input).await?;
        match &self.verification {
            None => {
                let user = self.insert_user(&new).await?;
                Ok(Registered::SignedIn(self.session(user, None).await?))
            }
            Some(verification) => self.sign_up(verification, new).await,
        }
    }

    /// Creates an account at once, without confirming its e-mail address or signing it in
    /// (operators' tools: `socialdevs seed`).
    pub async fn create_account(&self, input: Registration) -> Result<User, ApiError> {
        let new = self.new_user(input).await?;
        self.insert_user(&new).await
    }

    async fn insert_user(&self, new: &NewUser) -> Result<User, ApiError> {
        let user = store_call("users.create_user", self.store.create_user(new)).await?;
        tracing::info!(user_id = %user.id, "user registered");
        Ok(user)
    }

    /// The account `input` describes, validated, its password hashed.
    async fn new_user(&self, input: Registration) -> Result<NewUser, ApiError> {
        let mut errors = Vec::new();
        let username = collect("username", Username::parse(&input.username), &mut errors);
        let email = collect("email", Email::parse(&input.email), &mut errors);
        let password = collect("password", Password::parse(&input.password), &mut errors);
        let display_name = match input.display_name.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => collect("display_name", DisplayName::parse(raw), &mut errors),
        };
        if let (Some(email), Some(_)) = (&email, &self.verification) {
            if let Err(reason) = mail::check_address(email.as_str()) {
                errors.push(FieldError::new(
                    "email",
                    format!("is not an address mail can be sent to ({reason})"),
                ));
            }
        }
        let (Some(username), Some(email), Some(password), true) =
            (username, email, password, errors.is_empty())
        else {
            return Err(ApiError::Validation(errors));
        };
        Ok(NewUser {
            id: Uuid::now_v7(),
            display_name: display_name
                .map(DisplayName::into_inner)
                .unwrap_or_else(|| username.to_string()),
            username: username.into_inner(),
            email: email.into_inner(),
            password_hash: self.passwords.hash(password).await?,
            created_at: Utc::now(),
        })
    }

    /// Keeps the sign-up and mails its link, or tells the address's owner it has an account.
    /// The answer is the same either way; a taken username is still told (usernames are
    /// public).
    async fn sign_up(
        &self,
        verification: &EmailVerification,
        new: NewUser,
    ) -> Result<Registered, ApiError> {
        if store_call(
            "users.user_by_username",
            self.store.user_by_username(&new.username),
        )
        .await?
        .is_some()
        {
            return Err(StoreError::Taken("username").into());
        }
        let registered = store_call("users.credentials", self.store.credentials(&new.email))
            .await?
            .is_some();
        let link_ttl = verification.link_ttl;
        let mail = if registered {
            tracing::info!("sign-up with an address that has an account: its owner is told");
            Mail {
                to: new.email.clone(),
                subject: "You already have a SocialDevs account".into(),
                text: already_registered_text(&verification.public_url, &new.username),
            }
        } else {
            let token = random_token();
            let signup = NewSignup {
                token_hash: hash_token(&token),
                expires_at: new.created_at + link_ttl,
                user: new.clone(),
            };
            store_call("users.create_signup", self.store.create_signup(&signup)).await?;
            Mail {
                to: new.email.clone(),
                subject: "Confirm your e-mail address for SocialDevs".into(),
                text: confirmation_text(&verification.public_url, &new.username, &token, link_ttl),
            }
        };
        verification.mailer.send(&mail).await.map_err(|err| {
            tracing::warn!(error = %format!("{err:#}"), transport = verification.mailer.transport(),
                "the sign-up mail could not be sent");
            ApiError::Unavailable {
                detail: "The confirmation e-mail could not be sent; try again shortly.".into(),
                retry_after_secs: 30,
            }
        })?;
        Ok(Registered::ConfirmationSent(SignupPending {
            status: "confirmation_sent",
            email: new.email,
            expires_in: link_ttl.num_seconds(),
        }))
    }

    /// Confirms a sign-up's e-mail address with the token its link carried: the account is
    /// created and signed in.
    pub async fn confirm_email(&self, token: &str) -> Result<AuthSession, ApiError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(ApiError::invalid("token", "is required"));
        }
        let user = store_call(
            "users.complete_signup",
            self.store.complete_signup(&hash_token(token), Utc::now()),
        )
        .await?
        .ok_or_else(|| {
            ApiError::invalid(
                "token",
                "is not valid or has expired (links work once, for a limited time): sign up again",
            )
        })?;
        tracing::info!(user_id = %user.id, "user registered (e-mail address confirmed)");
        self.session(user, None).await
    }

    /// Deletes the sign-ups whose links expired (housekeeping); how many.
    pub async fn purge_expired_signups(&self) -> anyhow::Result<u64> {
        Ok(self.store.purge_expired_signups(Utc::now()).await?)
    }

    /// Signs in with a username or e-mail and a password. Wrong user and wrong password
    /// answer the same, in about the same time.
    pub async fn login(&self, login: &str, password: &str) -> Result<AuthSession, ApiError> {
        let mut errors = Vec::new();
        if login.trim().is_empty() {
            errors.push(FieldError::new("login", "is required"));
        }
        if password.is_empty() {
            errors.push(FieldError::new("password", "is required"));
        }
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        let login_lower = login.trim().trim_start_matches('@').to_lowercase();
        let found = store_call("users.credentials", self.store.credentials(&login_lower)).await?;
        let (user, hash) = match found {
            Some(c) => (Some(c.user), Some(c.password_hash)),
            None => (None, None),
        };
        let ok = self.passwords.verify(password.to_owned(), hash).await?;
        match (user, ok) {
            (Some(user), true) => self.session(user, None).await,
            _ => Err(ApiError::Unauthorized(
                "Wrong username, e-mail or password.".into(),
            )),
        }
    }

    /// Exchanges a refresh token for a new pair; reusing an old one revokes the family.
    pub async fn refresh(&self, presented: &str) -> Result<AuthSession, ApiError> {
        if presented.trim().is_empty() {
            return Err(ApiError::invalid("refresh_token", "is required"));
        }
        // The store keeps the presented token's family for the next one (and ignores the ids
        // here); the new token names that family too. A token without one (issued before
        // families were written in) starts naming a fresh id, counted on its own.
        let family = token_family(presented).unwrap_or_else(Uuid::now_v7);
        let (token, next) = new_refresh_token(Uuid::nil(), family);
        let outcome = store_call(
            "users.rotate_refresh_token",
            self.store
                .rotate_refresh_token(&hash_token(presented.trim()), &next, Utc::now()),
        )
        .await?;
        match outcome {
            Rotation::Rotated { user_id } => {
                let user = store_call("users.user_by_id", self.store.user_by_id(user_id))
                    .await?
                    .ok_or_else(|| {
                        ApiError::Unauthorized("The account no longer exists.".into())
                    })?;
                self.session_with(user, token)
            }
            Rotation::ReuseDetected => {
                tracing::warn!("refresh token reuse detected; token family revoked");
                Err(ApiError::Unauthorized(
                    "This refresh token was already used; every session from it is now signed out."
                        .into(),
                ))
            }
            Rotation::Invalid => Err(ApiError::Unauthorized(
                "The refresh token is not valid or has expired.".into(),
            )),
        }
    }

    /// Signs out the session the refresh token belongs to.
    pub async fn logout(&self, presented: &str) -> Result<(), ApiError> {
        if presented.trim().is_empty() {
            return Err(ApiError::invalid("refresh_token", "is required"));
        }
        store_call(
            "users.revoke_family_of",
            self.store
                .revoke_family_of(&hash_token(presented.trim()), Utc::now()),
        )
        .await?;
        Ok(())
    }

    /// Signs out every session of `user` (every refresh token; access tokens already issued
    /// stay valid until they expire, at most [`ACCESS_TOKEN_TTL_SECS`]).
    pub async fn sign_out_everywhere(&self, user: Uuid) -> Result<(), ApiError> {
        let revoked = store_call(
            "users.revoke_user_tokens",
            self.store.revoke_user_tokens(user, Utc::now()),
        )
        .await?;
        tracing::info!(user_id = %user, revoked, "signed out everywhere");
        Ok(())
    }

    /// Changes `user`'s password when `current` is right, signs out every session (every
    /// refresh token) and signs in anew: the answer is the caller's new session.
    pub async fn change_password(
        &self,
        user: Uuid,
        current: &str,
        new: &str,
    ) -> Result<AuthSession, ApiError> {
        let mut errors = Vec::new();
        if current.is_empty() {
            errors.push(FieldError::new("current_password", "is required"));
        }
        let new = collect("new_password", Password::parse(new), &mut errors);
        if new.as_ref().is_some_and(|new| new.expose() == current) {
            errors.push(FieldError::new(
                "new_password",
                "must differ from the current password",
            ));
        }
        let (Some(new), true) = (new, errors.is_empty()) else {
            return Err(ApiError::Validation(errors));
        };
        let account = self.user(user).await?;
        let credentials = store_call(
            "users.credentials",
            self.store.credentials(&account.username.to_lowercase()),
        )
        .await?;
        let hash = credentials.map(|c| c.password_hash);
        if !self.passwords.verify(current.to_owned(), hash).await? {
            return Err(ApiError::Validation(vec![FieldError::new(
                "current_password",
                "is not your current password",
            )]));
        }
        let hash = self.passwords.hash(new).await?;
        store_call(
            "users.change_password",
            self.store.change_password(user, &hash, Utc::now()),
        )
        .await?;
        tracing::info!(user_id = %user, "password changed; every other session signed out");
        self.session(account, None).await
    }

    /// Deletes the refresh tokens that have expired (housekeeping); how many.
    pub async fn purge_expired_tokens(&self) -> anyhow::Result<u64> {
        Ok(self.store.purge_expired_tokens(Utc::now()).await?)
    }

    /// The user with this id.
    pub async fn user(&self, id: Uuid) -> Result<User, ApiError> {
        store_call("users.user_by_id", self.store.user_by_id(id))
            .await?
            .ok_or_else(|| ApiError::NotFound("No such user.".into()))
    }

    async fn by_username(&self, username: &str) -> Result<User, ApiError> {
        store_call(
            "users.user_by_username",
            self.store
                .user_by_username(username.trim_start_matches('@')),
        )
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("There is no user @{username}.")))
    }

    /// A profile with counts, as seen by `viewer`.
    pub async fn profile(&self, username: &str, viewer: Option<Uuid>) -> Result<Profile, ApiError> {
        let user = self.by_username(username).await?;
        let (followers_count, following_count) =
            store_call("users.follow_counts", self.store.follow_counts(user.id)).await?;
        let posts_count = self
            .post_counts
            .posts_count(user.id)
            .await
            .map_err(dependency_error)?;
        let followed_by_me = match viewer {
            Some(v) if v != user.id => {
                store_call("users.is_following", self.store.is_following(v, user.id)).await?
            }
            _ => false,
        };
        Ok(Profile {
            user,
            followers_count,
            following_count,
            posts_count,
            followed_by_me,
        })
    }

    /// Updates the caller's display name and/or bio.
    pub async fn update_profile(
        &self,
        id: Uuid,
        display_name: Option<&str>,
        bio: Option<&str>,
    ) -> Result<User, ApiError> {
        let mut errors = Vec::new();
        let display_name =
            display_name.and_then(|d| collect("display_name", DisplayName::parse(d), &mut errors));
        let bio = bio.and_then(|b| collect("bio", Bio::parse(b), &mut errors));
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        let user = store_call(
            "users.update_profile",
            self.store.update_profile(
                id,
                display_name.as_ref().map(DisplayName::as_str),
                bio.as_ref().map(Bio::as_str),
                Utc::now(),
            ),
        )
        .await?;
        Ok(user)
    }

    /// Searches users by username or display name, ordered by username.
    pub async fn search(
        &self,
        query: Option<&str>,
        params: &PageParams,
    ) -> Result<Page<User>, ApiError> {
        let page = params.parse::<String>()?;
        let query = query.map(str::trim).filter(|q| !q.is_empty());
        if query.is_some_and(|q| q.chars().count() > 100) {
            return Err(ApiError::invalid(
                "q",
                "must be at most 100 characters long",
            ));
        }
        let users = store_call(
            "users.search",
            self.store
                .search(query, page.after.as_deref(), page.limit + 1),
        )
        .await?;
        Ok(Page::from_overfetch(users, page.limit, |u| {
            u.username.to_ascii_lowercase()
        }))
    }

    /// `follower` follows `username`. Idempotent.
    pub async fn follow(&self, follower: Uuid, username: &str) -> Result<(), ApiError> {
        let followee = self.by_username(username).await?;
        if followee.id == follower {
            return Err(ApiError::invalid("username", "you cannot follow yourself"));
        }
        // The cap is checked before the insert, not in it: concurrent follows by one user may
        // pass it by as many as run at once.
        let (_, following) =
            store_call("users.follow_counts", self.store.follow_counts(follower)).await?;
        if following >= i64::from(self.max_following)
            && !self.is_following(follower, followee.id).await?
        {
            return Err(ApiError::invalid(
                "username",
                format!(
                    "you follow {following} accounts, the most allowed is {}: unfollow some first",
                    self.max_following
                ),
            ));
        }
        store_call(
            "users.follow",
            self.store.follow(follower, followee.id, Utc::now()),
        )
        .await?;
        Ok(())
    }

    /// `follower` unfollows `username`. Idempotent.
    pub async fn unfollow(&self, follower: Uuid, username: &str) -> Result<(), ApiError> {
        let followee = self.by_username(username).await?;
        store_call(
            "users.unfollow",
            self.store.unfollow(follower, followee.id, Utc::now()),
        )
        .await?;
        Ok(())
    }

    /// Who follows `username`, newest first.
    pub async fn followers(
        &self,
        username: &str,
        params: &PageParams,
    ) -> Result<Page<User>, ApiError> {
        let user = self.by_username(username).await?;
        let page = params.parse::<Uuid>()?;
        let edges = store_call(
            "users.followers",
            self.store.followers(user.id, page.after, page.limit + 1),
        )
        .await?;
        Ok(edge_page(edges, page.limit))
    }

    /// Whom `username` follows, newest first.
    pub async fn following(
        &self,
        username: &str,
        params: &PageParams,
    ) -> Result<Page<User>, ApiError> {
        let user = self.by_username(username).await?;
        let page = params.parse::<Uuid>()?;
        let edges = store_call(
            "users.following",
            self.store.following(user.id, page.after, page.limit + 1),
        )
        .await?;
        Ok(edge_page(edges, page.limit))
    }

    /// Ids of everyone `user` follows (for the home timeline).
    pub async fn following_ids(&self, user: Uuid) -> Result<Vec<Uuid>, ApiError> {
        Ok(store_call("users.following_ids", self.store.following_ids(user)).await?)
    }

    /// Ids of at most `limit` followers of `user` (for a timeline fan-out).
    pub async fn follower_ids(&self, user: Uuid, limit: u32) -> Result<Vec<Uuid>, ApiError> {
        Ok(store_call("users.follower_ids", self.store.follower_ids(user, limit)).await?)
    }

    /// Whether `follower` follows `followee`.
    pub async fn is_following(&self, follower: Uuid, followee: Uuid) -> Result<bool, ApiError> {
        Ok(store_call(
            "users.is_following",
            self.store.is_following(follower, followee),
        )
        .await?)
    }

    /// Users by id (for other services' denormalised reads).
    pub async fn users_by_ids(&self, ids: &[Uuid]) -> Result<Vec<User>, ApiError> {
        Ok(store_call("users.users_by_ids", self.store.users_by_ids(ids)).await?)
    }

    /// Users by username, ignoring case; unknown names are left out.
    pub async fn users_by_usernames(&self, usernames: &[String]) -> Result<Vec<User>, ApiError> {
        let mut found = Vec::with_capacity(usernames.len());
        for name in usernames {
            if let Some(user) =
                store_call("users.user_by_username", self.store.user_by_username(name)).await?
            {
                found.push(user);
            }
        }
        Ok(found)
    }

    /// Who-to-follow suggestions for `user`.
    pub async fn suggestions(&self, user: Uuid, limit: u32) -> Result<Vec<User>, ApiError> {
        if !(1..=50).contains(&limit) {
            return Err(ApiError::invalid("limit", "must be between 1 and 50"));
        }
        Ok(store_call("users.suggestions", self.store.suggestions(user, limit)).await?)
    }
}

fn edge_page(edges: Vec<FollowEdge>, limit: u32) -> Page<User> {
    Page::from_overfetch(edges, limit, |e| e.follow_id).map(|e| e.user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_name_their_family_and_nothing_else_does() {
        let family = Uuid::now_v7();
        let (token, record) = new_refresh_token(Uuid::now_v7(), family);
        assert_eq!(token_family(&token), Some(family));
        assert_eq!(token_family(&format!(" {token}\n")), Some(family));
        assert_eq!(record.token_hash, hash_token(&token));
        let (other, _) = new_refresh_token(Uuid::now_v7(), family);
        assert_ne!(other, token, "same family, another secret");
        for shape in [
            "",
            "no-dot",
            "not-a-uuid.abc",
            ".abc",
            "zAq9-_legacy43charsTokenWithoutAFamily00000",
        ] {
            assert_eq!(token_family(shape), None, "{shape:?}");
        }
    }
}
