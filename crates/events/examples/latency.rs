//! Publish-to-consume latency of the event transports: from the commit of the transaction
//! that wrote an event to its outbox, to the consumer's handler — relay, transport and
//! consumer included — on the embedded transport (SQLite) and on Kafka.
//!
//! ```text
//! cargo run -p socialdevs-events --example latency --features kafka [-- EVENTS [INTERVAL_MS]]
//! ```
//!
//! Writes EVENTS (default 500) single-event transactions, one every INTERVAL_MS (default 10),
//! after a warm-up event, and prints p50/p90/p99/max. Kafka: the broker of
//! `SOCIALDEVS_TEST_KAFKA_BROKERS`, else a tansu broker started for the run (see
//! `scripts/install-tansu.sh`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use socialdevs_events::consumer::{self, Consumer, Handler, HandlerError};
use socialdevs_events::embedded::EmbeddedTransport;
use socialdevs_events::kafka::{KafkaSettings, KafkaTransport};
use socialdevs_events::outbox::sqlite::{append_envelope, SqliteOutbox};
use socialdevs_events::outbox::OutboxSignal;
use socialdevs_events::relay::{self, RelaySettings};
use socialdevs_events::types::USERS_TOPIC;
use socialdevs_events::{CloudEvent, Durability, Latency, StartAt, Transport};
use socialdevs_platform::db::{migrate_sqlite, Migration, SqliteDb};
use socialdevs_platform::shutdown;
use socialdevs_testkit::kafka::KafkaBroker;
use tokio::sync::mpsc;
use uuid::Uuid;

const USERS_OUTBOX: &str = include_str!("../../users/migrations/sqlite/0002_outbox.sql");

/// Commit instants of the events written, and where the handler reports each latency.
struct Clock {
    committed: Mutex<HashMap<Uuid, Instant>>,
    latencies: mpsc::UnboundedSender<Duration>,
}

#[async_trait]
impl Handler for Clock {
    async fn handle(&self, event: &CloudEvent) -> Result<(), HandlerError> {
        let now = Instant::now();
        let committed = self
            .committed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&event.id);
        if let Some(at) = committed {
            let _ = self.latencies.send(now - at);
        }
        Ok(())
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let events: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(500);
    let interval = Duration::from_millis(args.next().map(|a| a.parse()).transpose()?.unwrap_or(10));

    let dir = tempfile::tempdir()?;
    let db = open(&dir.path().join("embedded.db")).await?;
    let embedded = EmbeddedTransport::sqlite(db.clone()).await?;
    let mut results = vec![(
        "embedded",
        measure(Arc::new(embedded), db, events, interval).await?,
    )];

    let broker = KafkaBroker::start();
    let kafka = KafkaTransport::connect(KafkaSettings::new(broker.brokers())).await?;
    let db = open(&dir.path().join("kafka.db")).await?;
    results.push((
        "kafka",
        measure(Arc::new(kafka), db, events, interval).await?,
    ));

    println!(
        "publish-to-consume latency, outbox commit -> handler ({events} events, one every {interval:?})"
    );
    println!(
        "{:<10} {:>9} {:>9} {:>9} {:>9}",
        "transport", "p50", "p90", "p99", "max"
    );
    for (name, mut latencies) in results {
        latencies.sort();
        let at = |q: usize| latencies[(latencies.len() * q / 100).min(latencies.len() - 1)];
        println!(
            "{name:<10} {:>9} {:>9} {:>9} {:>9}",
            ms(at(50)),
            ms(at(90)),
            ms(at(99)),
            ms(at(100))
        );
    }
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.2}ms", d.as_secs_f64() * 1000.0)
}

async fn open(path: &std::path::Path) -> anyhow::Result<SqliteDb> {
    let db = SqliteDb::open(&format!("sqlite://{}", path.display())).await?;
    migrate_sqlite(
        &db,
        "users",
        &[Migration {
            version: 2,
            name: "outbox",
            sql: USERS_OUTBOX,
        }],
    )
    .await?;
    Ok(db)
}

async fn measure(
    transport: Arc<dyn Transport>,
    db: SqliteDb,
    events: usize,
    interval: Duration,
) -> anyhow::Result<Vec<Duration>> {
    anyhow::ensure!(events > 0, "at least one event");
    let signal = OutboxSignal::default();
    let (stop, stopped) = shutdown::channel();
    let relay = tokio::spawn(relay::run(
        Arc::new(SqliteOutbox::new(db.clone(), "users")),
        transport.publisher(),
        transport.name(),
        signal.clone(),
        None,
        RelaySettings::default(),
        stopped.clone(),
    ));
    let (latencies, mut measured) = mpsc::unbounded_channel();
    let clock = Arc::new(Clock {
        committed: Mutex::new(HashMap::new()),
        latencies,
    });
    let consumer = tokio::spawn(consumer::run(
        transport.clone(),
        Consumer {
            group: format!("socialdevs.latency.{}", Uuid::now_v7().simple()),
            topics: vec![USERS_TOPIC],
            start: StartAt::Earliest,
            durability: Durability::Durable,
            latency: Latency::Interactive,
            handler: clock.clone(),
        },
        stopped,
    ));

    let mut out = Vec::with_capacity(events);
    // The first event warms up the path (a Kafka consumer joins its group); not counted.
    for i in 0..=events {
        let event = CloudEvent::new(
            "users",
            "dev.socialdevs.test.latency.v1",
            Uuid::now_v7(),
            serde_json::json!({ "i": i }),
        );
        let mut tx = db.begin("users").await?;
        let written = append_envelope(&mut tx, &signal, "users", USERS_TOPIC, &event).await?;
        tx.commit().await?;
        clock
            .committed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(event.id, Instant::now());
        signal.committed_rows("users", written.into());
        if i == 0 {
            tokio::time::timeout(Duration::from_secs(60), measured.recv())
                .await
                .context("the warm-up event did not arrive within a minute")?;
            continue;
        }
        tokio::time::sleep(interval).await;
        while let Ok(latency) = measured.try_recv() {
            out.push(latency);
        }
    }
    while out.len() < events {
        let latency = tokio::time::timeout(Duration::from_secs(60), measured.recv())
            .await
            .with_context(|| format!("{} of {events} events arrived", out.len()))?
            .context("the consumer stopped")?;
        out.push(latency);
    }
    stop.trigger();
    relay.await?;
    consumer.await?;
    Ok(out)
}
