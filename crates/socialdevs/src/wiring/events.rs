//! The event pipeline of one process: the transport (embedded, or Kafka when
//! `SOCIALDEVS_KAFKA_BROKERS` is set), a relay per service whose outbox lives here, and the
//! consumers of the services that run here.

use std::sync::Arc;

use socialdevs_events::consumer::{self, Consumer};
use socialdevs_events::live::RedisLive;
use socialdevs_events::outbox::Cycle;
use socialdevs_events::relay::{self, RelaySettings};
use socialdevs_events::worker::Worker;
use socialdevs_events::{Durability, Latency, LiveHub, StartAt, Transport};
use socialdevs_platform::shutdown::Shutdown;

use crate::config::Settings;
use crate::storage::{Database, Opened};

/// Opens the transport the settings name.
pub async fn transport(settings: &Settings, db: &Database) -> anyhow::Result<Arc<dyn Transport>> {
    if let Some(brokers) = settings
        .kafka_brokers
        .as_deref()
        .filter(|b| !b.trim().is_empty())
    {
        let broker = kafka(settings, brokers).await?;
        return live_over_redis(settings, broker);
    }
    Ok(Arc::new(db.embedded_transport().await?))
}

/// With a broker, live subscriptions read Redis pub/sub when `SOCIALDEVS_LIVE_EVENTS` says so
/// (`auto`: when a Redis is configured); see `socialdevs_events::live`.
fn live_over_redis(
    settings: &Settings,
    broker: Arc<dyn Transport>,
) -> anyhow::Result<Arc<dyn Transport>> {
    let redis = settings
        .redis_url
        .as_deref()
        .filter(|u| !u.trim().is_empty());
    let url = match (settings.live_events.as_str(), redis) {
        ("broker", _) | ("auto", None) => return Ok(broker),
        ("redis" | "auto", Some(url)) => url,
        ("redis", None) => {
            anyhow::bail!("SOCIALDEVS_LIVE_EVENTS=redis needs SOCIALDEVS_REDIS_URL")
        }
        (other, _) => {
            anyhow::bail!("SOCIALDEVS_LIVE_EVENTS is auto, redis or broker, not {other:?}")
        }
    };
    tracing::info!("live events over Redis pub/sub");
    Ok(Arc::new(RedisLive::new(
        broker,
        url,
        &settings.redis_namespace,
    )?))
}

#[cfg(feature = "kafka")]
async fn kafka(settings: &Settings, brokers: &str) -> anyhow::Result<Arc<dyn Transport>> {
    use anyhow::Context as _;
    use socialdevs_events::kafka::{KafkaSettings, KafkaTransport};
    let transport = KafkaTransport::connect(KafkaSettings {
        brokers: brokers.to_owned(),
        partitions: settings.kafka_partitions,
        fetch_wait: std::time::Duration::from_millis(settings.kafka_fetch_wait_ms.max(1)),
        background_fetch_wait: std::time::Duration::from_millis(
            settings.kafka_background_fetch_wait_ms.max(1),
        ),
        headers: settings
            .kafka_headers
            .parse()
            .context("SOCIALDEVS_KAFKA_HEADERS")?,
        client_id: format!(
            "socialdevs-{}",
            settings.services.to_string().replace(',', "-")
        ),
        ..KafkaSettings::default()
    })
    .await?;
    Ok(Arc::new(transport))
}

#[cfg(not(feature = "kafka"))]
async fn kafka(_settings: &Settings, _brokers: &str) -> anyhow::Result<Arc<dyn Transport>> {
    anyhow::bail!("SOCIALDEVS_KAFKA_BROKERS is set but this build has no Kafka transport")
}

/// Starts the relay of a service's outbox. When the outbox is the transport's log (the
/// embedded transport on SQLite), what earlier runs left unsent is published first and the
/// store then writes log rows directly: the relay only keeps the backlog gauges and prunes.
pub async fn relay<S: ?Sized>(
    service: &'static str,
    opened: &Opened<S>,
    transport: &Arc<dyn Transport>,
    shutdown: &Shutdown,
) -> anyhow::Result<Worker> {
    let publisher = transport.publisher();
    if let Some(sink) = transport.log_sink() {
        // Positions stay in commit order: nothing is left for the relay once rows take
        // theirs as they are written (nothing else writes yet).
        while let Cycle::Published(n @ 1..) = opened.outbox.relay_batch(&*publisher, 500).await? {
            tracing::info!(service, published = n, "outbox rows left unsent relayed");
        }
        opened.signal.attach_log(sink);
    }
    Ok(Worker::spawn(
        format!("{service}-relay"),
        relay::run(
            opened.outbox.clone(),
            publisher,
            transport.name(),
            opened.signal.clone(),
            opened.listen.clone(),
            RelaySettings::default(),
            shutdown.clone(),
        ),
    ))
}

/// Starts the live consumer feeding `hub` with every event of `topics`, from now on, in this
/// process.
/// Subscribes before returning, so every event committed after the process serves reaches
/// the live streams.
pub async fn live_feed(
    service: &'static str,
    hub: LiveHub,
    topics: &[&'static str],
    transport: &Arc<dyn Transport>,
    shutdown: &Shutdown,
) -> Worker {
    let consumer = Consumer {
        group: format!("socialdevs.{service}.live"),
        topics: topics.to_vec(),
        start: StartAt::Latest,
        durability: Durability::Live,
        // People watch these streams.
        latency: Latency::Interactive,
        handler: Arc::new(hub),
    };
    let subscription = consumer::subscribe(transport.as_ref(), &consumer).await;
    Worker::spawn(
        format!("{service}-live"),
        consumer::run_subscribed(transport.clone(), consumer, subscription, shutdown.clone()),
    )
}

/// Starts a consumer of a service of this process (durable, or a process-local reader),
/// subscribed before returning when the transport answers.
pub async fn durable(
    service: &'static str,
    consumer: Consumer,
    transport: &Arc<dyn Transport>,
    shutdown: &Shutdown,
) -> Worker {
    let subscription = consumer::subscribe(transport.as_ref(), &consumer).await;
    Worker::spawn(
        format!("{service}-{}", consumer.group),
        consumer::run_subscribed(transport.clone(), consumer, subscription, shutdown.clone()),
    )
}
