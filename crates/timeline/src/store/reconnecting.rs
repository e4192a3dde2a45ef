//! A Redis timeline store that does not need Redis to be up when the service starts: it
//! connects on first use and again after failing to, at most once a second, answering
//! `Unavailable` meanwhile — so reads fall back to computing timelines, and the service
//! starts and stays ready through a Redis outage.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::Mutex;
use uuid::Uuid;

use super::redis::{RedisOptions, RedisTimelines};
use super::{BuiltPage, Entry, PopularAmong, TimelineError, TimelineStore, TimelineStoreSettings};

/// How often a failed connection is tried again.
const RETRY_EVERY: Duration = Duration::from_secs(1);

struct State {
    connected: Option<RedisTimelines>,
    last_attempt: Option<Instant>,
    last_error: Option<String>,
}

/// [`RedisTimelines`], connected when first needed.
#[derive(Clone)]
pub struct ReconnectingRedis {
    url: String,
    options: RedisOptions,
    settings: TimelineStoreSettings,
    state: Arc<Mutex<State>>,
}

impl ReconnectingRedis {
    /// Connects now if it can; if Redis does not answer, on the first use after it does. A
    /// configuration mistake (a malformed URL) is an error now.
    pub async fn new(
        url: &str,
        options: RedisOptions,
        settings: TimelineStoreSettings,
    ) -> Result<Self, TimelineError> {
        let store = Self {
            url: url.to_owned(),
            options,
            settings,
            state: Arc::new(Mutex::new(State {
                connected: None,
                last_attempt: None,
                last_error: None,
            })),
        };
        match store.connection().await {
            Ok(_) => Ok(store),
            Err(err @ TimelineError::Unavailable(_)) => {
                tracing::warn!(error = %format!("{err:#}"),
                    "Redis is not reachable; timelines are computed on read until it is");
                Ok(store)
            }
            Err(err) => Err(err),
        }
    }

    async fn connection(&self) -> Result<RedisTimelines, TimelineError> {
        let mut state = self.state.lock().await;
        if let Some(connected) = &state.connected {
            return Ok(connected.clone());
        }
        if state
            .last_attempt
            .is_some_and(|at| at.elapsed() < RETRY_EVERY)
        {
            return Err(TimelineError::Unavailable(anyhow::anyhow!(
                "not connected to Redis: {}",
                state.last_error.as_deref().unwrap_or("connecting")
            )));
        }
        state.last_attempt = Some(Instant::now());
        match RedisTimelines::connect_with(&self.url, self.options.clone(), self.settings).await {
            Ok(connected) => {
                tracing::info!("connected to Redis for home timelines");
                state.connected = Some(connected.clone());
                state.last_error = None;
                Ok(connected)
            }
            Err(err) => {
                state.last_error = Some(format!("{err:#}"));
                Err(err)
            }
        }
    }
}

#[async_trait]
impl TimelineStore for ReconnectingRedis {
    async fn page(
        &self,
        user: Uuid,
        before: Option<Uuid>,
        limit: usize,
    ) -> Result<Option<BuiltPage>, TimelineError> {
        self.connection().await?.page(user, before, limit).await
    }

    async fn replace(
        &self,
        user: Uuid,
        entries: &[Entry],
        popular_followed: &[Uuid],
        version: u64,
    ) -> Result<(), TimelineError> {
        self.connection()
            .await?
            .replace(user, entries, popular_followed, version)
            .await
    }

    async fn push(&self, users: &[Uuid], entry: Entry) -> Result<(), TimelineError> {
        self.connection().await?.push(users, entry).await
    }

    async fn merge(&self, user: Uuid, entries: &[Entry]) -> Result<(), TimelineError> {
        self.connection().await?.merge(user, entries).await
    }

    async fn remove_post(&self, users: &[Uuid], post: Uuid) -> Result<(), TimelineError> {
        self.connection().await?.remove_post(users, post).await
    }

    async fn remove_author(&self, user: Uuid, author: Uuid) -> Result<(), TimelineError> {
        self.connection().await?.remove_author(user, author).await
    }

    async fn evict(&self, user: Uuid) -> Result<(), TimelineError> {
        self.connection().await?.evict(user).await
    }

    async fn add_popular_follow(&self, user: Uuid, author: Uuid) -> Result<(), TimelineError> {
        self.connection()
            .await?
            .add_popular_follow(user, author)
            .await
    }

    async fn remove_popular_follow(&self, user: Uuid, author: Uuid) -> Result<(), TimelineError> {
        self.connection()
            .await?
            .remove_popular_follow(user, author)
            .await
    }

    async fn mark_popular(&self, author: Uuid) -> Result<bool, TimelineError> {
        self.connection().await?.mark_popular(author).await
    }

    async fn popular_version(&self) -> Result<u64, TimelineError> {
        self.connection().await?.popular_version().await
    }

    async fn popular_among(&self, authors: &[Uuid]) -> Result<PopularAmong, TimelineError> {
        self.connection().await?.popular_among(authors).await
    }

    async fn push_author_recent(
        &self,
        author: Uuid,
        entries: &[Entry],
    ) -> Result<bool, TimelineError> {
        self.connection()
            .await?
            .push_author_recent(author, entries)
            .await
    }

    async fn remove_author_recent(&self, author: Uuid, post: Uuid) -> Result<(), TimelineError> {
        self.connection()
            .await?
            .remove_author_recent(author, post)
            .await
    }

    async fn author_recent(
        &self,
        authors: &[Uuid],
        before: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<Entry>, TimelineError> {
        self.connection()
            .await?
            .author_recent(authors, before, limit)
            .await
    }

    async fn ping(&self) -> Result<(), TimelineError> {
        self.connection().await?.ping().await
    }

    fn name(&self) -> &'static str {
        "redis"
    }
}
