//! What the notifications service stores and returns.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use socialdevs_api::{Post, User};
use utoipa::ToSchema;
use uuid::Uuid;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The actor followed the recipient.
    Followed,
    /// The actor liked the recipient's post.
    Liked,
    /// The actor mentioned the recipient in a post.
    Mentioned,
    /// The actor replied to the recipient's post.
    Replied,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 4] = [Kind::Followed, Kind::Liked, Kind::Mentioned, Kind::Replied];

    /// Its name in the API, the store and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Followed => "followed",
            Kind::Liked => "liked",
            Kind::Mentioned => "mentioned",
            Kind::Replied => "replied",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// A notification to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    /// UUIDv7.
    pub id: Uuid,
    /// Who it is for.
    pub recipient_id: Uuid,
    /// What happened.
    pub kind: Kind,
    /// Who did it.
    pub actor_id: Uuid,
    /// The post it is about (none for `followed`).
    pub post_id: Option<Uuid>,
    /// When it happened.
    pub created_at: DateTime<Utc>,
}

impl NewNotification {
    /// What makes two notifications the same one: a repeat of these stores nothing new.
    pub fn dedupe_key(&self) -> String {
        dedupe_key(self.recipient_id, self.kind, self.actor_id, self.post_id)
    }
}

/// The key of the notification of `recipient` about `actor` doing `kind` (to `post`).
pub fn dedupe_key(recipient: Uuid, kind: Kind, actor: Uuid, post: Option<Uuid>) -> String {
    match post {
        Some(post) => format!("{recipient}:{}:{actor}:{post}", kind.as_str()),
        None => format!("{recipient}:{}:{actor}", kind.as_str()),
    }
}

/// A stored notification, before its actor and post are attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRow {
    /// Id.
    pub id: Uuid,
    /// Recipient.
    pub recipient_id: Uuid,
    /// Kind.
    pub kind: Kind,
    /// Actor.
    pub actor_id: Uuid,
    /// Post.
    pub post_id: Option<Uuid>,
    /// When it happened.
    pub created_at: DateTime<Utc>,
    /// Whether the recipient has read it.
    pub read: bool,
}

/// A notification as clients see it (the API, the live stream and MQTT messages).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Notification {
    /// UUIDv7; newer notifications have greater ids.
    pub id: Uuid,
    /// What happened.
    pub kind: Kind,
    /// Who did it.
    pub actor: User,
    /// The post liked, or the post that mentions or replies; null for `followed`.
    pub post: Option<Post>,
    /// When it happened.
    #[serde(serialize_with = "socialdevs_api::time::serialize")]
    pub created_at: DateTime<Utc>,
    /// Whether the recipient has read it.
    pub read: bool,
}

/// A page of notifications (its schema).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct NotificationPage {
    items: Vec<Notification>,
    next_cursor: Option<String>,
}

/// Which of a recipient's notifications a listing shows (hidden ones never), newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Older than this id (all when `None`): a page.
    OlderThan(Option<Uuid>),
    /// Newer than this id: what a reconnecting stream missed.
    NewerThan(Uuid),
    /// Just this one.
    Only(Uuid),
}
