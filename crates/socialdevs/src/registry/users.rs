//! The users service's entry: accounts, tokens, profiles and follows. Its store counts
//! nothing of posts: post counts come from the posts store in process, else over HTTP.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use socialdevs_posts::store::PostStore;
use socialdevs_users::passwords::HashingLimits;
use socialdevs_users::store::{PgUserStore, SqliteUserStore, UserStore};
use socialdevs_users::{EmailVerification, PostCounts, UsersParts, UsersService, SERVICE};

use super::{Dependency, Entry, Module, StartContext};
use crate::config::Settings;
use crate::keys::Keys;
use crate::storage::{StoreOpener, StoreSpec};
use crate::wiring::{InProcessPostCounts, RemotePostCounts};

/// The users service.
pub struct Users;

const NO_ISSUER: &str = "the users service signs tokens: set SOCIALDEVS_JWT_PRIVATE_KEY_FILE";

static STORE: StoreSpec<dyn UserStore> = StoreSpec {
    sqlite_migrations: socialdevs_users::migrations::SQLITE,
    postgres_migrations: socialdevs_users::migrations::POSTGRES,
    sqlite: |db, signal| Arc::new(SqliteUserStore::new(db).with_outbox_signal(signal)),
    postgres: |db, signal| Arc::new(PgUserStore::new(db).with_outbox_signal(signal)),
};

#[async_trait]
impl Entry for Users {
    fn name(&self) -> &'static str {
        SERVICE
    }

    fn default_port(&self) -> u16 {
        8081
    }

    fn dependencies(&self) -> &'static [Dependency] {
        // Post counts read the posts store, so posts need not start first (posts calls us).
        &[Dependency::Store(socialdevs_posts::SERVICE)]
    }

    fn store(&self) -> Option<&'static dyn StoreOpener> {
        Some(&STORE)
    }

    fn openapi(&self) -> utoipa::openapi::OpenApi {
        socialdevs_users::http::openapi()
    }

    fn check(&self, _settings: &Settings, keys: &Keys) -> anyhow::Result<()> {
        keys.issuer.as_ref().map(drop).context(NO_ISSUER)
    }

    async fn start(&self, cx: &StartContext<'_>) -> anyhow::Result<Module> {
        let issuer = cx.issuer.cloned().context(NO_ISSUER)?;
        let counts: Arc<dyn PostCounts> =
            match cx.store::<dyn PostStore>(socialdevs_posts::SERVICE)? {
                Some(posts) => Arc::new(InProcessPostCounts(posts)),
                None => Arc::new(RemotePostCounts(cx.client(socialdevs_posts::SERVICE)?)),
            };
        let defaults = HashingLimits::default();
        let mut users = UsersService::new(cx.own_store::<dyn UserStore>()?, issuer, counts)
            .with_hashing_limits(HashingLimits {
                concurrent: cx
                    .settings
                    .password_hash_concurrency
                    .unwrap_or(defaults.concurrent),
                waiting: cx.settings.password_hash_queue,
            })
            .with_max_following(cx.settings.max_following);
        if cx.settings.signup_email_verification {
            let mailer = cx.settings.mailer().context("outgoing mail")?;
            if mailer.transport() == "file" {
                tracing::warn!(
                    "sign-ups confirm their e-mail address, but no SMTP server is set: \
                     the mails are written to files (set SOCIALDEVS_SMTP_URL)"
                );
            } else {
                tracing::info!("sign-ups confirm their e-mail address (mail by SMTP)");
            }
            users = users.with_email_verification(EmailVerification {
                mailer,
                public_url: cx.settings.public_url.clone(),
                link_ttl: chrono::Duration::hours(i64::from(cx.settings.signup_link_ttl_hours)),
            });
        }
        let purge = users.clone();
        let tokens = cx.housekeeping("refresh-tokens", move || {
            let users = purge.clone();
            async move { users.purge_expired_tokens().await }
        });
        let purge = users.clone();
        let signups = cx.housekeeping("signups", move || {
            let users = purge.clone();
            async move { users.purge_expired_signups().await }
        });
        let router = socialdevs_users::router(
            UsersParts {
                service: users.clone(),
                verifier: cx.verifier.clone(),
            }
            .into(),
        );
        Ok(cx
            .module(router)
            .internal(socialdevs_users::http::internal::router(users.clone()))
            .worker(tokens)
            .worker(signups)
            .export(users))
    }
}
