//! Event-pipeline metrics. Names are a contract with the dashboards' "Event pipeline" row and
//! the alert rules under `deploy/observability/`.

/// Outbox rows not yet published, per `service`.
pub const OUTBOX_PENDING: &str = "socialdevs_events_outbox_pending";
/// Age of the oldest unpublished outbox row, per `service` (0 when none waits).
pub const OUTBOX_OLDEST_AGE_SECONDS: &str = "socialdevs_events_outbox_oldest_age_seconds";
/// Events published by the relays, per `service`, `transport` and `type`.
pub const PUBLISHED_TOTAL: &str = "socialdevs_events_published_total";
/// Relay batches that failed (the broker or the database did not answer), per `service`.
pub const PUBLISH_FAILURES_TOTAL: &str = "socialdevs_events_publish_failures_total";
/// Events handled by consumers, per `group`, `type` and `outcome`
/// (`ok`, `dead_letter`).
pub const CONSUMED_TOTAL: &str = "socialdevs_events_consumed_total";
/// Handler attempts that failed transiently and will be retried, per `group`.
pub const HANDLER_RETRIES_TOTAL: &str = "socialdevs_events_handler_retries_total";
/// Time a handler took, per `group`.
pub const HANDLER_DURATION_SECONDS: &str = "socialdevs_events_handler_duration_seconds";
/// From the event's time (its commit) to its handling by `group`: end-to-end delivery latency.
pub const DELIVERY_LATENCY_SECONDS: &str = "socialdevs_events_delivery_latency_seconds";
/// Messages published but not yet committed by `group`, per `topic`.
pub const CONSUMER_LAG: &str = "socialdevs_events_consumer_lag";
/// Open live-hub subscriptions (SSE streams), per `hub`.
pub const LIVE_SUBSCRIBERS: &str = "socialdevs_live_subscribers";
/// Live subscriptions dropped because their client read too slowly, per `hub`.
pub const LIVE_DROPPED_TOTAL: &str = "socialdevs_live_dropped_total";

/// Batches of live events (Redis pub/sub) that could not be published, so streams missed them.
pub const LIVE_PUBLISH_FAILURES_TOTAL: &str = "socialdevs_live_publish_failures_total";

/// Every name above, for the dashboards' metric-name test.
pub const ALL: &[&str] = &[
    OUTBOX_PENDING,
    OUTBOX_OLDEST_AGE_SECONDS,
    PUBLISHED_TOTAL,
    PUBLISH_FAILURES_TOTAL,
    CONSUMED_TOTAL,
    HANDLER_RETRIES_TOTAL,
    HANDLER_DURATION_SECONDS,
    DELIVERY_LATENCY_SECONDS,
    CONSUMER_LAG,
    LIVE_SUBSCRIBERS,
    LIVE_DROPPED_TOTAL,
    LIVE_PUBLISH_FAILURES_TOTAL,
];

/// Describes the metrics (HELP lines); call once after the recorder is installed.
pub fn describe() {
    metrics::describe_gauge!(OUTBOX_PENDING, "Outbox rows not yet published.");
    metrics::describe_gauge!(
        OUTBOX_OLDEST_AGE_SECONDS,
        metrics::Unit::Seconds,
        "Age of the oldest unpublished outbox row."
    );
    metrics::describe_counter!(PUBLISHED_TOTAL, "Events published by the outbox relays.");
    metrics::describe_counter!(PUBLISH_FAILURES_TOTAL, "Relay batches that failed.");
    metrics::describe_counter!(CONSUMED_TOTAL, "Events handled by consumers, by outcome.");
    metrics::describe_counter!(
        HANDLER_RETRIES_TOTAL,
        "Transient handler failures, retried."
    );
    metrics::describe_histogram!(
        HANDLER_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Time spent in event handlers."
    );
    metrics::describe_histogram!(
        DELIVERY_LATENCY_SECONDS,
        metrics::Unit::Seconds,
        "From an event's commit to its handling."
    );
    metrics::describe_gauge!(
        CONSUMER_LAG,
        "Messages not yet processed by a consumer group."
    );
    metrics::describe_gauge!(LIVE_SUBSCRIBERS, "Open live-hub subscriptions.");
    metrics::describe_counter!(
        LIVE_DROPPED_TOTAL,
        "Live subscriptions dropped for lagging."
    );
    metrics::describe_counter!(
        LIVE_PUBLISH_FAILURES_TOTAL,
        "Batches of live events not published (streams missed them)."
    );
    // Zero until a relay fails to publish live (or forever, without live events over Redis).
    metrics::counter!(LIVE_PUBLISH_FAILURES_TOTAL).increment(0);
}
