//! The transactional outbox: a store writes each event in the same database transaction as
//! the change it describes ([`sqlite::append`], [`postgres::append`]); the relay
//! ([`crate::relay`]) publishes the rows in order and marks them sent.
//!
//! Each service has its own outbox in its own schema (SQLite, one shared file: the table
//! `<service>_outbox`; PostgreSQL: `<service>.outbox`), ordered by `seq`. Marking a batch
//! sent also gives each row a `position`: the embedded transport's log order, assigned by the
//! one active relay in commit order (PostgreSQL sequences are not commit-ordered, so `seq`
//! alone could let a reader skip a row that commits late). On SQLite with the embedded
//! transport the outbox is the log itself: rows take their positions as they are written
//! ([`LogSink`]), and the relay finds nothing to publish.

pub mod postgres;
pub mod sqlite;

use std::sync::{Arc, OnceLock};
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

/// Where an outbox that is itself the log hands the rows its transactions committed: on the
/// embedded SQLite file with the embedded transport, a row gets its log position as it is
/// written (one process, one writer: write order is commit order), so nothing is left for a
/// relay to publish; the transport keeps the newest rows in memory and wakes its readers.
pub trait LogSink: Send + Sync {
    /// Rows of `service`'s log just committed, each with its position. Transactions that
    /// commit one after the other may hand theirs over in the other order.
    fn appended(&self, service: &'static str, rows: Vec<Appended>);
}

/// An outbox row as written to a log directly (see [`LogSink`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Appended {
    /// Its log position.
    pub position: i64,
    /// The row.
    pub record: OutboxRecord,
}

/// What a store's transaction wrote to its outbox, for [`OutboxSignal::committed_rows`] once
/// it commits: rows already in the log, or rows left for the relay.
#[derive(Debug, Default)]
#[must_use = "hand the rows to the outbox's signal once the transaction commits"]
pub struct Written {
    logged: Vec<Appended>,
    for_relay: bool,
}

impl Written {
    /// Adds a row: appended to the log (`Some`), or left for the relay (`None`).
    pub fn push(&mut self, row: Option<Appended>) {
        match row {
            Some(row) => self.logged.push(row),
            None => self.for_relay = true,
        }
    }
}

impl From<Option<Appended>> for Written {
    fn from(row: Option<Appended>) -> Self {
        let mut written = Self::default();
        written.push(row);
        written
    }
}

/// Wakes a service's relay right after a transaction that wrote to its outbox commits, or,
/// when the outbox is the log ([`LogSink`], attached at start), hands the committed rows to
/// the log. Cheap to clone; the store adapters hold one.
#[derive(Clone)]
pub struct OutboxSignal {
    relay: Arc<Notify>,
    log: Arc<OnceLock<Arc<dyn LogSink>>>,
    /// Names this signal in the commits' notifications on PostgreSQL
    /// ([`postgres::append`]): the relay woken by this signal ignores them, since the
    /// in-process wake already covers those commits.
    token: Arc<str>,
}

impl Default for OutboxSignal {
    fn default() -> Self {
        Self {
            relay: Arc::default(),
            log: Arc::default(),
            token: uuid::Uuid::now_v7().to_string().into(),
        }
    }
}

impl std::fmt::Debug for OutboxSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxSignal")
            .field("is_log", &self.is_log())
            .finish()
    }
}

impl OutboxSignal {
    /// The payload of the notifications that commits signalled here send on PostgreSQL.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// A transaction with outbox rows for the relay committed.
    pub fn committed(&self) {
        self.relay.notify_one();
    }

    /// A transaction that wrote `rows` committed: rows in the log go to the log's sink; a
    /// row left for the relay (none once the outbox is the log) wakes it.
    pub fn committed_rows(&self, service: &'static str, rows: Written) {
        if rows.for_relay {
            self.committed();
        }
        if let (Some(sink), false) = (self.log.get(), rows.logged.is_empty()) {
            sink.appended(service, rows.logged);
        }
    }

    /// Whether the outbox is the log: rows take their positions as they are written.
    pub fn is_log(&self) -> bool {
        self.log.get().is_some()
    }

    /// Makes the outbox the log from now on (once; later calls change nothing). Call it
    /// before anything writes, with no unsent rows left, so that positions stay in commit
    /// order.
    pub fn attach_log(&self, sink: Arc<dyn LogSink>) {
        let _ = self.log.set(sink);
    }

    /// Waits for the next commit, or `timeout`, whichever comes first.
    pub async fn wait(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.relay.notified()).await;
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
    /// Whether the transport's readers read the outbox itself (the embedded transport): an
    /// outbox on PostgreSQL then notifies readers in other processes of each marked batch.
    fn reads_outbox(&self) -> bool {
        false
    }
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
