//! Events of the notifications service, on `socialdevs.notifications.v1` (key: recipient id).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::NOTIFICATIONS_TOPIC;

/// A notification was stored for its recipient (once: repeats are collapsed before this).
/// Its live streams and the MQTT bridge deliver it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationCreatedV1 {
    pub notification_id: Uuid,
    pub recipient_id: Uuid,
    /// `followed`, `liked`, `mentioned` or `replied`.
    pub kind: String,
    pub actor_id: Uuid,
    pub post_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

event_types! {
    service "notifications", topic NOTIFICATIONS_TOPIC;
    NotificationCreatedV1: "dev.socialdevs.notification.created.v1", key recipient_id;
}
