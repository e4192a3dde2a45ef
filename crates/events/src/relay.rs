//! The relay: publishes a service's outbox rows in order and marks them sent. Woken right
//! after a commit (in process, and on PostgreSQL by `LISTEN`), with a slow poll as a safety
//! net; a transport outage delays events and never loses or reorders them (the same rows are
//! tried again, in the same order, until they are acknowledged).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use socialdevs_platform::db::PgDb;
use socialdevs_platform::shutdown::Shutdown;
use sqlx::postgres::PgListener;
use tracing::Instrument;

use crate::envelope::{publish_span, publish_spans_enabled, CloudEvent};
use crate::metrics::{
    OUTBOX_OLDEST_AGE_SECONDS, OUTBOX_PENDING, PUBLISHED_TOTAL, PUBLISH_FAILURES_TOTAL,
};
use crate::outbox::{Cycle, OutboxRecord, OutboxSignal, OutboxStore, Publisher};
use crate::types::topic_of_service;

/// After a batch went out, how long the relay waits for more commits before the next one.
const COALESCE: Duration = Duration::from_millis(2);

/// How a relay behaves.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// Rows per batch.
    pub batch: u32,
    /// Looks for rows this often even without a wake-up.
    pub poll: Duration,
    /// Sent rows are kept this long before they are pruned (embedded: also until every
    /// durable consumer has passed them).
    pub retention: Duration,
    /// Longest wait between retries while the transport is down.
    pub max_backoff: Duration,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            batch: 500,
            poll: Duration::from_secs(1),
            retention: Duration::from_secs(24 * 3600),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// A publisher that records a producer span and the published counter for each record.
struct Instrumented<'a> {
    inner: &'a dyn Publisher,
    service: &'static str,
    transport: &'static str,
}

#[async_trait]
impl Publisher for Instrumented<'_> {
    async fn publish(&self, records: &[OutboxRecord]) -> anyhow::Result<()> {
        // A span needs the event's envelope: decoded only when something records spans.
        let spans: Vec<_> = if publish_spans_enabled() {
            records
                .iter()
                .filter_map(|r| serde_json::from_str::<CloudEvent>(&r.payload).ok())
                .map(|event| publish_span(&event, &event.kind.clone()))
                .collect()
        } else {
            Vec::new()
        };
        let batch_span = spans.last().cloned().unwrap_or_else(tracing::Span::none);
        self.inner.publish(records).instrument(batch_span).await?;
        drop(spans);
        for record in records {
            metrics::counter!(PUBLISHED_TOTAL, "service" => self.service,
                "transport" => self.transport, "type" => record.event_type.clone())
            .increment(1);
        }
        Ok(())
    }

    async fn flush(&self, timeout: Duration) -> anyhow::Result<()> {
        self.inner.flush(timeout).await
    }

    fn logged(&self, service: &str, entries: &[(i64, &OutboxRecord)]) {
        self.inner.logged(service, entries);
    }

    fn reads_outbox(&self) -> bool {
        self.inner.reads_outbox()
    }
}

/// Runs `outbox`'s relay until `shutdown`, then publishes what is left and flushes.
/// `listen`: on PostgreSQL, the service's pool, to be woken by commits in other processes.
pub async fn run(
    outbox: Arc<dyn OutboxStore>,
    publisher: Arc<dyn Publisher>,
    transport: &'static str,
    signal: OutboxSignal,
    listen: Option<PgDb>,
    settings: RelaySettings,
    shutdown: Shutdown,
) {
    let service = outbox.service();
    let topic = topic_of_service(service).unwrap_or_default();
    let mut listener = match listen {
        Some(db) => match PgListener::connect_with(db.pool()).await {
            Ok(mut l) => match l.listen(&crate::outbox::postgres::channel(service)).await {
                Ok(()) => Some(l),
                Err(err) => {
                    tracing::warn!(service, error = %err, "relay cannot LISTEN; polling");
                    None
                }
            },
            Err(err) => {
                tracing::warn!(service, error = %err, "relay cannot LISTEN; polling");
                None
            }
        },
        None => None,
    };
    let instrumented = Instrumented {
        inner: publisher.as_ref(),
        service,
        transport,
    };
    // Present from the start, so rate() and increase() see the first failure.
    metrics::counter!(PUBLISH_FAILURES_TOTAL, "service" => service).increment(0);
    let mut backoff = Duration::from_millis(100);
    let mut published_last = false;
    let mut last_housekeeping = std::time::Instant::now() - Duration::from_secs(3600);
    loop {
        let stopping = shutdown.is_triggered();
        let result = outbox.relay_batch(&instrumented, settings.batch).await;
        let mut more = false;
        match result {
            Ok(Cycle::Published(n)) => {
                backoff = Duration::from_millis(100);
                if n > 0 {
                    publisher.batch_committed(topic);
                    tracing::debug!(service, published = n, "outbox batch relayed");
                }
                more = n as u32 == settings.batch;
                published_last = n > 0;
            }
            Ok(Cycle::Standby) => {}
            Err(err) => {
                metrics::counter!(PUBLISH_FAILURES_TOTAL, "service" => service).increment(1);
                tracing::warn!(service, error = %format!("{err:#}"), "outbox relay failed; retrying");
                if last_housekeeping.elapsed() >= Duration::from_secs(5) {
                    // Keeps the backlog gauges current while the transport is down: the
                    // stuck-outbox alert reads them.
                    last_housekeeping = std::time::Instant::now();
                    housekeeping(outbox.as_ref(), publisher.as_ref(), topic, &settings).await;
                }
                if !stopping {
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = shutdown.clone().wait() => {}
                    }
                    backoff = (backoff * 2).min(settings.max_backoff);
                    continue;
                }
            }
        }
        if last_housekeeping.elapsed() >= Duration::from_secs(5) || stopping {
            last_housekeeping = std::time::Instant::now();
            housekeeping(outbox.as_ref(), publisher.as_ref(), topic, &settings).await;
        }
        if stopping && !more {
            break;
        }
        if more {
            continue;
        }
        if published_last {
            // Under load commits arrive faster than batches go out: gather the next ones for
            // a moment, so one batch (one write) carries many events.
            tokio::time::sleep(COALESCE).await;
            published_last = false;
            continue;
        }
        let wait = signal.wait(settings.poll);
        match &mut listener {
            Some(l) => {
                tokio::pin!(wait);
                loop {
                    tokio::select! {
                        () = &mut wait => break,
                        notified = l.recv() => match notified {
                            // A commit of this process: `signal` has woken (or will wake)
                            // this relay for it already.
                            Ok(n) if n.payload() == signal.token() => {}
                            Ok(_) => break,
                            Err(err) => {
                                tracing::warn!(service, error = %err, "relay LISTEN connection lost");
                                break;
                            }
                        },
                        () = shutdown.clone().wait() => break,
                    }
                }
            }
            None => {
                tokio::select! {
                    () = wait => {}
                    () = shutdown.clone().wait() => {}
                }
            }
        }
    }
    if let Err(err) = publisher.flush(Duration::from_secs(5)).await {
        tracing::warn!(service, error = %format!("{err:#}"), "flushing the producer at shutdown");
    }
}

/// Backlog gauges and pruning of sent rows past retention.
async fn housekeeping(
    outbox: &dyn OutboxStore,
    publisher: &dyn Publisher,
    topic: &str,
    settings: &RelaySettings,
) {
    let service = outbox.service();
    match outbox.backlog().await {
        Ok(backlog) => {
            metrics::gauge!(OUTBOX_PENDING, "service" => service).set(backlog.pending as f64);
            let age = backlog
                .oldest
                .map(|at| (Utc::now() - at).num_milliseconds().max(0) as f64 / 1000.0)
                .unwrap_or(0.0);
            metrics::gauge!(OUTBOX_OLDEST_AGE_SECONDS, "service" => service).set(age);
        }
        Err(err) => tracing::debug!(service, error = %format!("{err:#}"), "outbox backlog"),
    }
    let Ok(retention) = chrono::Duration::from_std(settings.retention) else {
        return;
    };
    let limit = match publisher.consumed_up_to(topic).await {
        Ok(limit) => limit,
        Err(_) => return,
    };
    match outbox.prune(Utc::now() - retention, limit).await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(service, pruned = n, "outbox rows pruned"),
        Err(err) => tracing::debug!(service, error = %format!("{err:#}"), "outbox prune"),
    }
}
