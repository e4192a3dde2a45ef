//! The signed-in seeded users: their access tokens (15 minutes), refreshed in the background
//! before they expire, and what the state file keeps to sign them in again later.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::api::{Api, AuthSession};

/// A seeded account as the state file keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: String,
    pub username: String,
    pub password: String,
    /// The newest refresh token (they rotate on every use).
    pub refresh_token: String,
}

#[derive(Debug)]
struct Tokens {
    access: Arc<str>,
    refresh: String,
    expires_at: Instant,
}

#[derive(Debug)]
struct User {
    id: String,
    username: String,
    password: String,
    tokens: RwLock<Tokens>,
}

/// Refresh a token this long before it expires.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(180);

/// Every seeded user's current tokens.
#[derive(Debug, Default)]
pub struct Sessions {
    users: Vec<User>,
}

impl Sessions {
    /// Sessions from fresh sign-ins, in user order, with each user's password.
    pub fn new(signed_in: Vec<(AuthSession, String)>) -> Self {
        let now = Instant::now();
        Self {
            users: signed_in
                .into_iter()
                .map(|(session, password)| User {
                    id: session.user.id,
                    username: session.user.username,
                    password,
                    tokens: RwLock::new(Tokens {
                        access: session.access_token.into(),
                        refresh: session.refresh_token,
                        expires_at: now + Duration::from_secs(session.expires_in),
                    }),
                })
                .collect(),
        }
    }

    /// Signs `accounts` in again: with their refresh token, else with their password.
    pub async fn resume(
        api: &Api,
        accounts: &[Account],
        concurrency: usize,
    ) -> anyhow::Result<Self> {
        let signed_in: Vec<(AuthSession, String)> = futures::stream::iter(accounts.iter())
            .map(|account| async move {
                let session = match api.refresh(&account.refresh_token).await {
                    Ok(session) => session,
                    Err(_) => api.login(&account.username, &account.password).await?,
                };
                anyhow::Ok((session, account.password.clone()))
            })
            .buffered(concurrency.max(1))
            .try_collect()
            .await?;
        Ok(Self::new(signed_in))
    }

    /// How many users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// User `i`'s username.
    pub fn username(&self, i: usize) -> &str {
        self.users.get(i).map_or("", |u| u.username.as_str())
    }

    /// User `i`'s current access token.
    pub fn access(&self, i: usize) -> Arc<str> {
        self.users
            .get(i)
            .map_or_else(|| Arc::from(""), |u| read(&u.tokens).access.clone())
    }

    /// What the state file keeps, with the newest refresh tokens.
    pub fn accounts(&self) -> Vec<Account> {
        self.users
            .iter()
            .map(|u| Account {
                id: u.id.clone(),
                username: u.username.clone(),
                password: u.password.clone(),
                refresh_token: read(&u.tokens).refresh.clone(),
            })
            .collect()
    }

    /// Refreshes every token that expires within `margin`; returns how many were.
    pub async fn refresh_due(
        &self,
        api: &Api,
        margin: Duration,
        concurrency: usize,
    ) -> anyhow::Result<usize> {
        let limit = Instant::now() + margin;
        let due: Vec<usize> = (0..self.users.len())
            .filter(|&i| read(&self.users[i].tokens).expires_at <= limit)
            .collect();
        let count = due.len();
        futures::stream::iter(due)
            .map(|i| self.refresh_one(api, i))
            .buffer_unordered(concurrency.max(1))
            .try_collect::<Vec<()>>()
            .await?;
        Ok(count)
    }

    /// A new pair for user `i`: with its refresh token, else with its password.
    async fn refresh_one(&self, api: &Api, i: usize) -> anyhow::Result<()> {
        let Some(user) = self.users.get(i) else {
            return Ok(());
        };
        let refresh = read(&user.tokens).refresh.clone();
        let session = match api.refresh(&refresh).await {
            Ok(session) => session,
            Err(_) => api.login(&user.username, &user.password).await?,
        };
        let mut tokens = user
            .tokens
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *tokens = Tokens {
            access: session.access_token.into(),
            refresh: session.refresh_token,
            expires_at: Instant::now() + Duration::from_secs(session.expires_in),
        };
        Ok(())
    }

    /// Keeps the tokens fresh in the background while the guard lives (checks every 30 s).
    pub fn keep_fresh(self: &Arc<Self>, api: &Api) -> Refresher {
        let sessions = self.clone();
        let api = api.clone();
        Refresher(tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(30)).await;
                if let Err(e) = sessions.refresh_due(&api, REFRESH_MARGIN, 4).await {
                    eprintln!("warning: refreshing access tokens: {e:#}");
                }
            }
        }))
    }
}

/// Stops the background refresh when dropped.
pub struct Refresher(tokio::task::JoinHandle<()>);

impl Drop for Refresher {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn read(tokens: &RwLock<Tokens>) -> std::sync::RwLockReadGuard<'_, Tokens> {
    tokens
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
