//! SocialDevs events: what services tell each other, and how it gets there without loss.
//!
//! - [`envelope`]: the CloudEvents 1.0 envelope and its trace context.
//! - [`types`]: the versioned event types, the publishers' contract (`docs/events.md`).
//! - [`outbox`]: stores write events in the same transaction as the change.
//! - [`relay`]: publishes outbox rows in order and marks them sent (one active per service).
//! - [`consumer`]: durable consumer groups that commit only after the effect is stored.
//! - [`hub`]: process-local fan-out to live streams.
//! - [`transport`]: the port both transports implement — [`embedded`] (the outbox tables are
//!   the log; all-in-one) and `kafka` (feature `kafka`; `SOCIALDEVS_KAFKA_BROKERS`).
//! - [`live`]: live subscriptions over Redis pub/sub beside the broker (distributed).

pub mod consumer;
pub mod embedded;
pub mod envelope;
pub mod hub;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod live;
pub mod metrics;
pub mod outbox;
pub mod relay;
pub mod transport;
pub mod types;
pub mod worker;

pub use consumer::{Consumer, Handler, HandlerError};
pub use envelope::CloudEvent;
pub use hub::LiveHub;
pub use outbox::{OutboxSignal, OutboxStore, Publisher};
pub use transport::{Delivery, Durability, Latency, StartAt, Subscription, Transport};
pub use types::EventType;
