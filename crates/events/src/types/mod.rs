//! Versioned event types: the publishers' contract with their consumers.
//!
//! Each type is a plain struct owned by the service that publishes it (not an API view) and
//! carries what its consumers need, so they never call back. A type's name ends in its
//! version: a change that is not backward compatible is a new type (`...v2`) published beside
//! the old one until no consumer reads it. Consumers ignore unknown types and unknown fields.
//! `docs/events.md` documents every type; a test holds it to this code.

/// Implements [`EventType`] for a service's types: the service and its topic, then each type
/// with its CloudEvents type and the `Uuid` field that is its key (`KEY_FIELD` is that field's
/// name, as serialized).
macro_rules! event_types {
    (
        service $service:literal, topic $topic:expr;
        $($event:ty: $kind:literal, key $key:ident;)+
    ) => {
        $(
            impl $crate::types::EventType for $event {
                const TYPE: &'static str = $kind;
                const SERVICE: &'static str = $service;
                const TOPIC: &'static str = $topic;
                const KEY_FIELD: &'static str = stringify!($key);
                fn key(&self) -> ::uuid::Uuid {
                    self.$key
                }
            }
        )+
    };
}

pub mod notifications;
pub mod posts;
pub mod users;

use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

pub use notifications::NotificationCreatedV1;
pub use posts::{PostCreatedV1, PostDeletedV1, PostLikedV1, PostUnlikedV1};
pub use users::{UserFollowedV1, UserRegisteredV1, UserUnfollowedV1, UserUpdatedV1};

/// The users service's topic: events keyed by user id.
pub const USERS_TOPIC: &str = "socialdevs.users.v1";
/// The posts service's topic: events keyed by post id.
pub const POSTS_TOPIC: &str = "socialdevs.posts.v1";
/// The notifications service's topic: events keyed by recipient id.
pub const NOTIFICATIONS_TOPIC: &str = "socialdevs.notifications.v1";
/// Every topic, in the order services start.
pub const TOPICS: [&str; 3] = [USERS_TOPIC, POSTS_TOPIC, NOTIFICATIONS_TOPIC];

/// The service whose outbox feeds `topic`.
pub fn service_of_topic(topic: &str) -> Option<&'static str> {
    match topic {
        USERS_TOPIC => Some("users"),
        POSTS_TOPIC => Some("posts"),
        NOTIFICATIONS_TOPIC => Some("notifications"),
        _ => None,
    }
}

/// The topic a service publishes on.
pub fn topic_of_service(service: &str) -> Option<&'static str> {
    TOPICS
        .into_iter()
        .find(|topic| service_of_topic(topic) == Some(service))
}

/// A versioned event type.
pub trait EventType: Serialize + DeserializeOwned + Send + Sync {
    /// The CloudEvents `type`, e.g. `dev.socialdevs.post.created.v1`.
    const TYPE: &'static str;
    /// The publishing service (its outbox, the envelope's `source`).
    const SERVICE: &'static str;
    /// The topic it is published on.
    const TOPIC: &'static str;
    /// The name of the field that is the partition key (the aggregate id).
    const KEY_FIELD: &'static str;
    /// The aggregate id: partition key and CloudEvents `subject`. Events with the same key
    /// are delivered in the order they were written.
    fn key(&self) -> Uuid;
}

/// What `docs/events.md` must say about one type.
#[derive(Debug, Clone)]
pub struct TypeInfo {
    /// CloudEvents type.
    pub kind: &'static str,
    /// Topic.
    pub topic: &'static str,
    /// Key field.
    pub key_field: &'static str,
    /// An example payload (every optional field set), whose keys are the type's fields.
    pub example: serde_json::Value,
}

fn info<E: EventType>(example: E) -> TypeInfo {
    TypeInfo {
        kind: E::TYPE,
        topic: E::TOPIC,
        key_field: E::KEY_FIELD,
        example: serde_json::to_value(&example).unwrap_or(serde_json::Value::Null),
    }
}

/// Every event type with an example, for documentation and its test.
pub fn catalogue() -> Vec<TypeInfo> {
    let (a, b, p) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let at = chrono::Utc::now();
    vec![
        info(UserRegisteredV1 {
            user_id: a,
            username: "ada".into(),
            display_name: "Ada".into(),
            registered_at: at,
        }),
        info(UserUpdatedV1 {
            user_id: a,
            username: "ada".into(),
            display_name: "Ada L.".into(),
            bio: "Engines".into(),
            updated_at: at,
        }),
        info(UserFollowedV1 {
            follower_id: a,
            follower_username: "ada".into(),
            followee_id: b,
            followee_username: "linus".into(),
            followed_at: at,
        }),
        info(UserUnfollowedV1 {
            follower_id: a,
            followee_id: b,
            unfollowed_at: at,
        }),
        info(PostCreatedV1 {
            post_id: p,
            author_id: a,
            author_username: "ada".into(),
            author_display_name: "Ada".into(),
            text: "Hello #rust @linus".into(),
            hashtags: vec!["rust".into()],
            mentions: vec!["linus".into()],
            mentioned_user_ids: vec![b],
            reply_to: Some(Uuid::now_v7()),
            reply_to_author_id: Some(b),
            created_at: at,
        }),
        info(PostDeletedV1 {
            post_id: p,
            author_id: a,
            reply_to: Some(Uuid::now_v7()),
            deleted_at: at,
        }),
        info(PostLikedV1 {
            post_id: p,
            post_author_id: a,
            user_id: b,
            user_username: "linus".into(),
            liked_at: at,
        }),
        info(PostUnlikedV1 {
            post_id: p,
            post_author_id: a,
            user_id: b,
            unliked_at: at,
        }),
        info(NotificationCreatedV1 {
            notification_id: Uuid::now_v7(),
            recipient_id: a,
            kind: "liked".into(),
            actor_id: b,
            post_id: Some(p),
            created_at: at,
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_is_versioned_and_published_on_its_service_topic() {
        for info in catalogue() {
            assert!(info.kind.starts_with("dev.socialdevs."), "{}", info.kind);
            assert!(info.kind.ends_with(".v1"), "{}", info.kind);
            let service = service_of_topic(info.topic).unwrap();
            assert!(info
                .kind
                .contains(&format!(".{}.", &service[..service.len() - 1])));
            assert!(info.example.get(info.key_field).is_some(), "{}", info.kind);
        }
        assert_eq!(topic_of_service("posts"), Some(POSTS_TOPIC));
        assert_eq!(topic_of_service("timeline"), None);
    }
}
