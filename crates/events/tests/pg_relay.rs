//! The relay of an outbox on PostgreSQL, on a real server: woken in process by the commits of
//! its own process, by `NOTIFY` by those of other processes, and not a second time by the
//! notification of a commit its process already woke it for.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use socialdevs_events::outbox::postgres::{append_envelope, PgOutbox};
use socialdevs_events::outbox::{OutboxRecord, OutboxSignal, Publisher};
use socialdevs_events::relay::{self, RelaySettings};
use socialdevs_events::types::POSTS_TOPIC;
use socialdevs_events::CloudEvent;
use socialdevs_platform::db::{PgDb, PgPoolSettings};
use socialdevs_platform::shutdown;

const OUTBOX: &str = include_str!("../../posts/migrations/postgres/0002_outbox.sql");
const DEADLINE: Duration = Duration::from_secs(30);

/// Remembers the keys of what it published, in order.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Recorder {
    fn keys(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    async fn wait_for(&self, key: &str) {
        let started = Instant::now();
        while !self.keys().iter().any(|k| k == key) {
            assert!(
                started.elapsed() < DEADLINE,
                "{key} was not published within {DEADLINE:?}; published: {:?}",
                self.keys()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[async_trait]
impl Publisher for Recorder {
    async fn publish(&self, records: &[OutboxRecord]) -> anyhow::Result<()> {
        self.0
            .lock()
            .unwrap()
            .extend(records.iter().map(|r| r.key.clone()));
        Ok(())
    }

    async fn flush(&self, _timeout: Duration) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Commits one outbox row keyed `key`, its notification naming `signal`, without waking any
/// relay in process.
async fn commit(db: &PgDb, signal: &OutboxSignal, key: &str) {
    let mut tx = db.begin("posts").await.unwrap();
    let event = CloudEvent::new(
        "posts",
        "dev.socialdevs.test.v1",
        key,
        serde_json::json!({}),
    );
    append_envelope(&mut tx, signal, "posts", POSTS_TOPIC, &event)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn wakes_once_per_commit_in_process_and_by_notify_across_processes() {
    let database = socialdevs_testkit::postgres::database().await.unwrap();
    let setup = PgDb::connect(&database.url, "public", &PgPoolSettings::default()).unwrap();
    sqlx::raw_sql(&format!(
        "CREATE SCHEMA posts; SET search_path TO posts; {OUTBOX}"
    ))
    .execute(setup.pool())
    .await
    .unwrap();
    let db = PgDb::connect(&database.url, "posts", &PgPoolSettings::default()).unwrap();
    let signal = OutboxSignal::default();
    let published = Arc::new(Recorder::default());
    let (trigger, stop) = shutdown::channel();
    let relay = tokio::spawn(relay::run(
        Arc::new(PgOutbox::new(db.clone(), "posts")),
        published.clone(),
        "test",
        signal.clone(),
        Some(db.clone()),
        RelaySettings {
            // Only a wake-up can publish within the test's deadline.
            poll: Duration::from_secs(600),
            ..RelaySettings::default()
        },
        stop,
    ));

    // This process's commit, reported to its relay in process. Once published, the relay
    // is in its loop and listening.
    commit(&db, &signal, "own-woken").await;
    signal.committed();
    published.wait_for("own-woken").await;

    // A commit of this process whose wake-up has not been reported yet: its notification
    // alone does not wake the relay (that would be a second, empty cycle for every commit).
    // Showing that something does not happen takes a wait; the first one lets the relay's
    // 2 ms pause after a batch (and its look for more) pass.
    tokio::time::sleep(Duration::from_secs(1)).await;
    commit(&db, &signal, "own-unreported").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(published.keys(), ["own-woken"]);
    signal.committed();
    published.wait_for("own-unreported").await;

    // Another process's commit: only its notification can wake this relay.
    commit(&db, &OutboxSignal::default(), "other-process").await;
    published.wait_for("other-process").await;
    assert_eq!(
        published.keys(),
        ["own-woken", "own-unreported", "other-process"]
    );

    trigger.trigger();
    relay.await.unwrap();
}
