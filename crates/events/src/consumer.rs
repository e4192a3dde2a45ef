//! Durable consumers: a named group, a handler, and a loop that advances the group's offset
//! only after the handler's effect is stored.
//!
//! Delivery is at least once: after a crash the events since the last commit come again, so
//! every handler says how it avoids applying one twice (processed event ids, or effects that
//! are idempotent by construction). A message that cannot be decoded, or whose handler fails
//! permanently, goes to the dead letters with the error and the consumer moves on; transient
//! failures (a database or broker down) are retried with backoff and never skipped. Unknown
//! event types are the handler's to ignore (forward compatibility).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use socialdevs_platform::shutdown::Shutdown;
use tracing::Instrument;

use crate::envelope::{consumer_span, CloudEvent};
use crate::metrics::{
    CONSUMED_TOTAL, CONSUMER_LAG, DELIVERY_LATENCY_SECONDS, HANDLER_DURATION_SECONDS,
    HANDLER_RETRIES_TOTAL,
};
use crate::transport::{Delivery, Durability, Latency, StartAt, Subscription, Transport};

/// Why a handler could not apply an event.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Worth retrying: a dependency is down. The event is tried again, never skipped.
    #[error("transient: {0:#}")]
    Transient(anyhow::Error),
    /// Will never work (the event is invalid for this handler): dead-lettered.
    #[error("permanent: {0:#}")]
    Permanent(anyhow::Error),
}

/// Applies events.
#[async_trait]
pub trait Handler: Send + Sync {
    /// Applies one event. Must tolerate seeing the same event again.
    async fn handle(&self, event: &CloudEvent) -> Result<(), HandlerError>;
}

/// A consumer to run.
#[derive(Clone)]
pub struct Consumer {
    /// Group name, e.g. `socialdevs.timeline.fanout`.
    pub group: String,
    /// Topics it reads.
    pub topics: Vec<&'static str>,
    /// Where a group with no stored offset starts.
    pub start: StartAt,
    /// Durable group or process-local live reader.
    pub durability: Durability,
    /// How soon it needs what is published.
    pub latency: Latency,
    /// The handler.
    pub handler: Arc<dyn Handler>,
}

const MAX_BACKOFF: Duration = Duration::from_secs(5);

async fn sleep_or_stop(delay: Duration, shutdown: &Shutdown) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => false,
        () = shutdown.clone().wait() => true,
    }
}

/// Opens `consumer`'s subscription now, so that what is published from here on reaches it
/// (a live feed must be subscribed before the process serves). `None` if the transport does
/// not answer yet: [`run_subscribed`] then keeps trying.
pub async fn subscribe(
    transport: &dyn Transport,
    consumer: &Consumer,
) -> Option<Box<dyn Subscription>> {
    match transport
        .subscribe_with(
            &consumer.group,
            &consumer.topics,
            consumer.start,
            consumer.durability,
            consumer.latency,
        )
        .await
    {
        Ok(subscription) => Some(subscription),
        Err(err) => {
            tracing::warn!(group = %consumer.group, error = %format!("{err:#}"),
                "cannot subscribe yet; retrying in the background");
            None
        }
    }
}

/// Runs `consumer` on `transport` until `shutdown`; commits what it handled before returning.
pub async fn run(transport: Arc<dyn Transport>, consumer: Consumer, shutdown: Shutdown) {
    run_subscribed(transport, consumer, None, shutdown).await;
}

/// [`run`], starting from a subscription opened beforehand (or opening one when `None`).
pub async fn run_subscribed(
    transport: Arc<dyn Transport>,
    consumer: Consumer,
    subscription: Option<Box<dyn Subscription>>,
    shutdown: Shutdown,
) {
    let group = consumer.group.clone();
    let mut backoff = Duration::from_millis(100);
    let mut subscription = match subscription {
        Some(subscription) => subscription,
        None => loop {
            match transport
                .subscribe_with(
                    &group,
                    &consumer.topics,
                    consumer.start,
                    consumer.durability,
                    consumer.latency,
                )
                .await
            {
                Ok(s) => break s,
                Err(err) => {
                    tracing::warn!(group = %group, error = %format!("{err:#}"), "cannot subscribe; retrying");
                    if sleep_or_stop(backoff, &shutdown).await {
                        return;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        },
    };
    tracing::info!(group = %group, topics = ?consumer.topics, transport = transport.name(), "consumer started");
    // Present from the start, so rate() and increase() see the first retry.
    metrics::counter!(HANDLER_RETRIES_TOTAL, "group" => group.clone()).increment(0);
    report_lag(subscription.as_mut(), &group).await;
    let mut last_lag = Instant::now();
    loop {
        let batch = tokio::select! {
            batch = subscription.poll() => batch,
            () = shutdown.clone().wait() => break,
        };
        let batch = match batch {
            Ok(batch) => {
                backoff = Duration::from_millis(100);
                batch
            }
            Err(err) => {
                tracing::warn!(group = %group, error = %format!("{err:#}"), "consumer poll failed; retrying");
                if sleep_or_stop(backoff, &shutdown).await {
                    break;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let mut handled: HashMap<(String, i32), Delivery> = HashMap::new();
        let mut stopped = false;
        for delivery in batch {
            if !apply(
                transport.as_ref(),
                &consumer,
                &delivery,
                subscription.as_mut(),
                &shutdown,
            )
            .await
            {
                stopped = true;
                break;
            }
            handled.insert((delivery.topic.clone(), delivery.partition), delivery);
        }
        commit(subscription.as_mut(), &group, handled.values()).await;
        if stopped {
            break;
        }
        if last_lag.elapsed() >= Duration::from_secs(5) {
            last_lag = Instant::now();
            report_lag(subscription.as_mut(), &group).await;
        }
    }
    flush(subscription.as_mut(), &group).await;
}

async fn report_lag(subscription: &mut dyn Subscription, group: &str) {
    if let Ok(lags) = subscription.lag().await {
        for (topic, lag) in lags {
            metrics::gauge!(CONSUMER_LAG, "group" => group.to_owned(), "topic" => topic)
                .set(lag as f64);
        }
    }
}

async fn commit<'a>(
    subscription: &mut dyn Subscription,
    group: &str,
    handled: impl Iterator<Item = &'a Delivery>,
) {
    for delivery in handled {
        if let Err(err) = subscription.commit_soon(delivery).await {
            // Not fatal: the events come again and the handler tolerates repeats.
            tracing::warn!(group, error = %format!("{err:#}"), "committing the offset failed");
        }
    }
}

/// Stores the offsets the subscription still holds (on the way out).
async fn flush(subscription: &mut dyn Subscription, group: &str) {
    if let Err(err) = subscription.flush().await {
        tracing::warn!(group, error = %format!("{err:#}"), "storing the held offsets failed");
    }
}

/// Handles one delivery until it is applied or dead-lettered. False when shutdown came first
/// (the delivery is then not committed and comes again).
async fn apply(
    transport: &dyn Transport,
    consumer: &Consumer,
    delivery: &Delivery,
    subscription: &mut dyn Subscription,
    shutdown: &Shutdown,
) -> bool {
    let group = consumer.group.as_str();
    let mut backoff = Duration::from_millis(100);
    let (event, failure) = match delivery.event() {
        Err(err) => (None, Some(format!("undecodable CloudEvent: {err}"))),
        Ok(event) => loop {
            let started = Instant::now();
            let span = consumer_span(&event, group);
            let result = consumer.handler.handle(&event).instrument(span).await;
            metrics::histogram!(HANDLER_DURATION_SECONDS, "group" => group.to_owned())
                .record(started.elapsed().as_secs_f64());
            match result {
                Ok(()) => break (Some(event), None),
                Err(HandlerError::Permanent(err)) => break (Some(event), Some(format!("{err:#}"))),
                Err(HandlerError::Transient(err)) => {
                    metrics::counter!(HANDLER_RETRIES_TOTAL, "group" => group.to_owned())
                        .increment(1);
                    tracing::warn!(group, event_id = %event.id, error = %format!("{err:#}"),
                        "handler failed transiently; retrying");
                    if sleep_or_stop(backoff, shutdown).await {
                        return false;
                    }
                    // A group stuck on one event still reports its growing lag.
                    report_lag(subscription, group).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        },
    };
    let kind = event
        .as_ref()
        .map(|e| e.kind.clone())
        .unwrap_or_else(|| "undecodable".into());
    if let Some(error) = failure {
        tracing::error!(group, topic = %delivery.topic, offset = delivery.offset, error = %error,
            "event dead-lettered");
        let mut backoff = Duration::from_millis(100);
        while let Err(err) = transport.dead_letter(group, delivery, &error).await {
            tracing::warn!(group, error = %format!("{err:#}"), "storing a dead letter failed; retrying");
            if sleep_or_stop(backoff, shutdown).await {
                return false;
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        metrics::counter!(CONSUMED_TOTAL, "group" => group.to_owned(), "type" => kind,
            "outcome" => "dead_letter")
        .increment(1);
        return true;
    }
    if let Some(event) = &event {
        let latency = (Utc::now() - event.time)
            .num_microseconds()
            .unwrap_or(0)
            .max(0) as f64
            / 1e6;
        metrics::histogram!(DELIVERY_LATENCY_SECONDS, "group" => group.to_owned()).record(latency);
    }
    metrics::counter!(CONSUMED_TOTAL, "group" => group.to_owned(), "type" => kind, "outcome" => "ok")
        .increment(1);
    true
}
