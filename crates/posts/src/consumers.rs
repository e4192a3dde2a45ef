//! What the posts service does with other services' events.

use std::sync::Arc;

use async_trait::async_trait;
use socialdevs_events::types::{UserRegisteredV1, UserUpdatedV1, USERS_TOPIC};
use socialdevs_events::{
    CloudEvent, Consumer, Durability, Handler, HandlerError, Latency, StartAt,
};

use crate::model::Author;
use crate::store::{PostStore, StoreError};

/// Keeps the posts store's copy of authors' names current from `user.registered` and
/// `user.updated`, so listings need not ask the users service.
///
/// Idempotent by construction: an author row is replaced only by a newer version (the
/// event's time), so a redelivered or late event changes nothing.
pub struct AuthorCache(pub Arc<dyn PostStore>);

impl AuthorCache {
    /// The durable consumer group that runs it.
    pub fn consumer(store: Arc<dyn PostStore>) -> Consumer {
        Consumer {
            group: "socialdevs.posts.authors".into(),
            topics: vec![USERS_TOPIC],
            start: StartAt::Earliest,
            durability: Durability::Durable,
            latency: Latency::Background,
            handler: Arc::new(Self(store)),
        }
    }
}

fn stored(err: StoreError) -> HandlerError {
    // Whatever the store says, the event is valid: try again rather than skip it.
    HandlerError::Transient(anyhow::Error::new(err))
}

#[async_trait]
impl Handler for AuthorCache {
    async fn handle(&self, event: &CloudEvent) -> Result<(), HandlerError> {
        let (author, at) = if let Some(decoded) = event.decode::<UserRegisteredV1>() {
            let e = decoded.map_err(|e| HandlerError::Permanent(e.into()))?;
            let author = Author {
                id: e.user_id,
                username: e.username,
                display_name: e.display_name,
            };
            (author, e.registered_at)
        } else if let Some(decoded) = event.decode::<UserUpdatedV1>() {
            let e = decoded.map_err(|e| HandlerError::Permanent(e.into()))?;
            let author = Author {
                id: e.user_id,
                username: e.username,
                display_name: e.display_name,
            };
            (author, e.updated_at)
        } else {
            // Other user events (follows) are not this consumer's concern.
            return Ok(());
        };
        self.0.upsert_author(&author, at).await.map_err(stored)?;
        Ok(())
    }
}
