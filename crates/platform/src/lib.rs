//! Platform code shared by every SocialDevs service.
//!
//! Nothing here knows about users or posts: it is the plumbing each service plugs into —
//! problem+json errors, JSON/query extractors, access tokens, cursors, health and readiness,
//! metrics, logs and traces (OpenTelemetry, W3C trace context), outgoing mail and graceful
//! shutdown.
//! Events live in their own crate, `socialdevs-events`.

pub mod auth;
pub mod error;
pub mod extract;
pub mod health;
pub mod housekeeping;
pub mod http;
pub mod mail;
pub mod metrics;
pub mod pagination;
pub mod ratelimit;
pub mod remote;
pub mod service_auth;
pub mod shutdown;
pub mod streams;
pub mod telemetry;

pub use error::{ApiError, FieldError};
pub mod db;
