//! What the notifications service does with other services' events: the notifier, a durable
//! consumer that turns follows, likes, replies and mentions into stored notifications.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use socialdevs_events::types::{
    PostCreatedV1, PostDeletedV1, PostLikedV1, PostUnlikedV1, UserFollowedV1, POSTS_TOPIC,
    USERS_TOPIC,
};
use socialdevs_events::{
    CloudEvent, Consumer, Durability, Handler, HandlerError, Latency, StartAt,
};
use uuid::Uuid;

use crate::model::{Kind, NewNotification};
use crate::store::{NotificationStore, StoreError};

/// Metric: notifications stored, by kind.
pub const CREATED_TOTAL: &str = "socialdevs_notifications_created_total";

/// Stores one notification per recipient of each event that concerns someone else:
/// `user.followed` → `followed`; `post.liked` → `liked`; `post.created` → `replied` for the
/// parent's author and `mentioned` for each mentioned user (one `replied` when the parent's
/// author is also mentioned). Nobody is notified of their own acts. `post.unliked` hides the
/// unread `liked`; `post.deleted` removes the notifications about the post.
///
/// Idempotent by construction: the store keeps one notification per recipient, kind, actor
/// and post, so a redelivered event stores and publishes nothing.
pub struct Notifier(pub Arc<dyn NotificationStore>);

impl Notifier {
    /// The durable consumer group that runs it.
    pub fn consumer(store: Arc<dyn NotificationStore>) -> Consumer {
        for kind in Kind::ALL {
            metrics::counter!(CREATED_TOTAL, "kind" => kind.as_str()).increment(0);
        }
        Consumer {
            group: "socialdevs.notifications.notifier".into(),
            topics: vec![USERS_TOPIC, POSTS_TOPIC],
            start: StartAt::Earliest,
            durability: Durability::Durable,
            latency: Latency::Background,
            handler: Arc::new(Self(store)),
        }
    }
}

fn notification(
    recipient: Uuid,
    kind: Kind,
    actor: Uuid,
    post: Option<Uuid>,
    at: DateTime<Utc>,
) -> NewNotification {
    NewNotification {
        id: Uuid::now_v7(),
        recipient_id: recipient,
        kind,
        actor_id: actor,
        post_id: post,
        created_at: at,
    }
}

/// The notifications a new post makes: the parent's author is `replied`, each other
/// mentioned user `mentioned`; never the author themself.
pub fn of_post(post: &PostCreatedV1) -> Vec<NewNotification> {
    let mut out: Vec<NewNotification> = Vec::new();
    let mut notified: Vec<Uuid> = vec![post.author_id];
    if let Some(parent_author) = post.reply_to_author_id {
        if !notified.contains(&parent_author) {
            notified.push(parent_author);
            out.push(notification(
                parent_author,
                Kind::Replied,
                post.author_id,
                Some(post.post_id),
                post.created_at,
            ));
        }
    }
    for &mentioned in &post.mentioned_user_ids {
        if !notified.contains(&mentioned) {
            notified.push(mentioned);
            out.push(notification(
                mentioned,
                Kind::Mentioned,
                post.author_id,
                Some(post.post_id),
                post.created_at,
            ));
        }
    }
    out
}

fn decoded<E>(result: Result<E, serde_json::Error>) -> Result<E, HandlerError> {
    result.map_err(|e| HandlerError::Permanent(e.into()))
}

fn stored(err: StoreError) -> HandlerError {
    // Whatever the store says, the event is valid: try again rather than skip it.
    HandlerError::Transient(anyhow::Error::new(err))
}

#[async_trait]
impl Handler for Notifier {
    async fn handle(&self, event: &CloudEvent) -> Result<(), HandlerError> {
        let items = if let Some(e) = event.decode::<UserFollowedV1>() {
            let e = decoded(e)?;
            if e.follower_id == e.followee_id {
                return Ok(());
            }
            vec![notification(
                e.followee_id,
                Kind::Followed,
                e.follower_id,
                None,
                e.followed_at,
            )]
        } else if let Some(e) = event.decode::<PostLikedV1>() {
            let e = decoded(e)?;
            if e.user_id == e.post_author_id {
                return Ok(());
            }
            vec![notification(
                e.post_author_id,
                Kind::Liked,
                e.user_id,
                Some(e.post_id),
                e.liked_at,
            )]
        } else if let Some(e) = event.decode::<PostCreatedV1>() {
            of_post(&decoded(e)?)
        } else if let Some(e) = event.decode::<PostUnlikedV1>() {
            let e = decoded(e)?;
            self.0
                .withdraw_like(e.post_author_id, e.user_id, e.post_id)
                .await
                .map_err(stored)?;
            return Ok(());
        } else if let Some(e) = event.decode::<PostDeletedV1>() {
            let e = decoded(e)?;
            self.0.remove_post(e.post_id).await.map_err(stored)?;
            return Ok(());
        } else {
            return Ok(());
        };
        for added in self.0.add(&items).await.map_err(stored)? {
            metrics::counter!(CREATED_TOTAL, "kind" => added.kind.as_str()).increment(1);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(author: Uuid, parent_author: Option<Uuid>, mentioned: Vec<Uuid>) -> PostCreatedV1 {
        PostCreatedV1 {
            post_id: Uuid::now_v7(),
            author_id: author,
            author_username: "a".into(),
            author_display_name: "A".into(),
            text: "hi".into(),
            hashtags: vec![],
            mentions: vec![],
            mentioned_user_ids: mentioned,
            reply_to: parent_author.map(|_| Uuid::now_v7()),
            reply_to_author_id: parent_author,
            created_at: Utc::now(),
        }
    }

    fn kinds(items: &[NewNotification]) -> Vec<(Uuid, Kind)> {
        items.iter().map(|n| (n.recipient_id, n.kind)).collect()
    }

    #[test]
    fn a_reply_that_mentions_the_parents_author_is_one_replied() {
        let (me, parent, other) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let made = of_post(&post(me, Some(parent), vec![parent, other, other, me]));
        assert_eq!(
            kinds(&made),
            [(parent, Kind::Replied), (other, Kind::Mentioned)]
        );
    }

    #[test]
    fn nobody_is_notified_of_their_own_post() {
        let me = Uuid::now_v7();
        assert!(of_post(&post(me, Some(me), vec![me])).is_empty());
        assert!(of_post(&post(me, None, vec![])).is_empty());
    }
}
