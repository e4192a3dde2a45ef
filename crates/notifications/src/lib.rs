//! The notifications service: someone followed you, liked your post, mentioned you or replied
//! to you — stored per recipient, listed with an unread count, delivered live over SSE and,
//! when `SOCIALDEVS_MQTT_URL` is set, to devices over MQTT.
//!
//! Layout: [`model`] (records and the public `notification` shape), [`store`] (the
//! `NotificationStore` port and its adapters), [`consumer`] (the notifier: events in,
//! notifications out), [`service`] (showing them: actors and posts from the other services
//! through two ports), [`http`] (routes and the live stream), [`mqtt`] (the device bridge).

pub mod consumer;
pub mod http;
pub mod migrations;
pub mod model;
pub mod mqtt;
pub mod service;
pub mod store;

pub use http::{router, NotificationsParts, NotificationsState};
pub use service::{NotificationsService, PostViews, UserDirectory};

/// The service name used in metrics, logs and `--services`.
pub const SERVICE: &str = "notifications";

/// Metric: open notification streams in this process.
pub const STREAMS_OPEN: &str = "socialdevs_notifications_streams_open";
