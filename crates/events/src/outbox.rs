//! The transactional outbox: a store writes each event in the same database transaction as
//! the change it describes ([`sqlite::append`], [`postgres::append`]); the relay
//! ([`crate::relay`]) publishes the rows in order and marks them sent.
//!
//! Each service has its own outbox in its own schema (SQLite, one shared file: the table
//! `<service>_outbox`; PostgreSQL: `<service>.outbox`), ordered by `seq`. Marking a batch
//! sent also gives each row a `position`: the embedded transport's log order, assigned by the
//! one active relay in commit order (PostgreSQL sequences are not commit-ordered, so `seq`
//! alone could let a reader skip a row that commits late).

pub mod postgres;
pub mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Notify;

/// One outbox row.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRecord {
    /// Write order within the service's outbox.
    pub seq: i64,
    /// Topic to publish on.
    pub topic: String,
    /// Partition key (the aggregate id).
    pub key: String,
    /// CloudEvents type.
    pub event_type: String,
    /// The structured-mode CloudEvent JSON.
    pub payload: String,
    /// When the row was written.
    pub created_at: DateTime<Utc>,
}

/// Wakes a service's relay right after a transaction that wrote to its outbox commits.
/// Cheap to clone; the store adapters hold one and call [`OutboxSignal::committed`].
#[derive(Clone, Default, Debug)]
pub struct OutboxSignal(Arc<Notify>);

impl OutboxSignal {
    /// A transaction with outbox rows committed.
    pub fn committed(&self) {
        self.0.notify_one();
    }

    /// Waits for the next commit, or `timeout`, whichever comes first.
    pub async fn wait(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.0.notified()).await;
    }
}

/// How many unsent rows there are, and since when the oldest waits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backlog {
    /// Unsent rows.
    pub pending: i64,
    /// When the oldest unsent row was written.
    pub oldest: Option<DateTime<Utc>>,
}

/// What one relay cycle did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cycle {
    /// Published (and marked sent) this many rows.
    Published(usize),
    /// Another relay of this service is active; this one stands by.
    Standby,
}

/// Publishes a batch of outbox rows, in order, returning once the transport has accepted
/// every one (Kafka: acknowledged by all in-sync replicas).
#[async_trait]
pub trait Publisher: Send + Sync {
    /// Publishes `records` in order.
    async fn publish(&self, records: &[OutboxRecord]) -> anyhow::Result<()>;
    /// Waits for anything still in flight (at shutdown).
    async fn flush(&self, timeout: Duration) -> anyhow::Result<()>;
    /// Called after a batch was marked sent (the embedded transport wakes its readers).
    fn batch_committed(&self, _topic: &str) {}
    /// Called with each record of a batch just marked sent and the log position it got, in
    /// order, before [`Self::batch_committed`], by an outbox that is the log itself (on
    /// SQLite): the embedded transport keeps the newest in memory for its readers.
    fn logged(&self, _service: &str, _entries: &[(i64, &OutboxRecord)]) {}
    /// The highest outbox position of `topic` that every durable consumer has passed, when
    /// the outbox itself is the log; `None` when sent rows are no longer needed.
    async fn consumed_up_to(&self, _topic: &str) -> anyhow::Result<Option<i64>> {
        Ok(None)
    }
}

/// The relay's side of a service's outbox. Both adapters pass the same conformance tests.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// The service whose outbox this is.
    fn service(&self) -> &'static str;
    /// Publishes up to `limit` unsent rows in `seq` order through `publisher`, then marks
    /// them sent and assigns their log positions — unless another relay of the service is
    /// active (PostgreSQL advisory lock), in which case it does nothing.
    async fn relay_batch(&self, publisher: &dyn Publisher, limit: u32) -> anyhow::Result<Cycle>;
    /// Unsent rows and the age of the oldest.
    async fn backlog(&self) -> anyhow::Result<Backlog>;
    /// Deletes sent rows older than `sent_before` whose position is at most `up_to_position`
    /// (`None`: no position limit). The newest row always stays: positions continue from it.
    /// Returns how many went.
    async fn prune(
        &self,
        sent_before: DateTime<Utc>,
        up_to_position: Option<i64>,
    ) -> anyhow::Result<u64>;
}
