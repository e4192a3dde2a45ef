//! The transport conformance suite: every test runs on the embedded transport (a temporary
//! SQLite file; once with relays publishing the outboxes, once with the outboxes written as
//! its log, as in the all-in-one process), on Kafka (a tansu broker of its own, or `SOCIALDEVS_TEST_KAFKA_BROKERS`), and
//! on Kafka with live subscriptions on Redis pub/sub (a `redis-server` of its own, or
//! `SOCIALDEVS_TEST_REDIS_URL`), with the services' outboxes in SQLite and the real relays
//! publishing them. Events go the
//! production path: written to an outbox in a write transaction, relayed, consumed by
//! `consumer::run` or by subscriptions directly.
//!
//! Tests wait on conditions with deadlines (never on a sleep that hopes something happened),
//! and each works whatever else is on the broker: they only look at the events they wrote,
//! and use groups of their own. The broker and Redis outage tests are Kafka only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::Duration;

use harness::{
    assert_per_key_order, event, eventually, group, has_all, poll_until, Effects, Fixture,
    Recorder, Seen, DEADLINE, SERVICES,
};
use socialdevs_events::live::LIVE_MAX_AGE;
use socialdevs_events::outbox::sqlite::SqliteOutbox;
use socialdevs_events::outbox::OutboxStore;
use socialdevs_events::types::{POSTS_TOPIC, USERS_TOPIC};
use socialdevs_events::{CloudEvent, Delivery, Durability, StartAt, Subscription};
use uuid::Uuid;

/// Runs `$test(fixture)` once per transport, as `$test::embedded` (and `$test::embedded_log`,
/// its outboxes written as its log), `$test::kafka` and `$test::kafka_redis_live`.
macro_rules! on_both_transports {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() {
                super::$test(super::harness::Fixture::embedded().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded_log() {
                super::$test(super::harness::Fixture::embedded_log().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn kafka() {
                super::$test(super::harness::Fixture::kafka().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn kafka_redis_live() {
                super::$test(super::harness::Fixture::kafka_redis_live().await).await;
            }
        }
    )*};
}

on_both_transports!(
    each_keys_events_arrive_in_write_order_and_none_is_lost,
    uncommitted_events_come_again_and_committed_ones_do_not,
    offsets_committed_soon_are_stored_by_a_flush_or_while_idle,
    a_consumer_killed_between_its_effect_and_its_commit_applies_the_event_once,
    every_live_subscription_gets_every_event,
    an_undecodable_message_is_dead_lettered_and_the_consumer_moves_on,
    the_transport_answers_pings,
);

/// When the outboxes are the embedded transport's log, a row is in the log as its
/// transaction commits: nothing waits for a relay, and readers get the rows in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_rows_are_in_the_log_as_they_commit() {
    let fx = Fixture::embedded_log().await;
    let mut sub = durable_users(&fx, &group("log")).await;
    let events: Vec<CloudEvent> = (0..3).map(|n| event("users", "log", n)).collect();
    fx.write("users", &events).await;
    assert_eq!(
        fx.backlog("users").await.pending,
        0,
        "no row left for a relay"
    );
    let delivered = poll_until(sub.as_mut(), "the three rows", |got| got.len() >= 3).await;
    let ids: Vec<Uuid> = delivered.iter().map(|d| d.event().unwrap().id).collect();
    assert_eq!(ids, events.iter().map(|e| e.id).collect::<Vec<_>>());
    let offsets: Vec<i64> = delivered.iter().map(|d| d.offset).collect();
    assert_eq!(offsets, [1, 2, 3], "positions in write order");
}

/// Durable group `group` on the users topic, from its committed offset (the earliest event
/// for a new group).
async fn durable_users(fx: &Fixture, group: &str) -> Box<dyn Subscription> {
    fx.subscribe(
        group,
        &[USERS_TOPIC],
        StartAt::Earliest,
        Durability::Durable,
    )
    .await
}

/// `keys` new keys, alternately of the users and the posts service.
fn keys(count: usize) -> Vec<(&'static str, String)> {
    (0..count)
        .map(|i| (SERVICES[i % 2].0, Uuid::now_v7().to_string()))
        .collect()
}

fn ids(events: &[CloudEvent]) -> HashSet<Uuid> {
    events.iter().map(|e| e.id).collect()
}

fn seen_of(deliveries: &[Delivery], ids: &HashSet<Uuid>) -> Vec<Seen> {
    deliveries
        .iter()
        .filter_map(Seen::of_delivery)
        .filter(|s| ids.contains(&s.id))
        .collect()
}

/// Writes `each` events per key, interleaving the keys (in a rotating order) and grouping
/// them into transactions of 1 to 7 events per service. Returns the events in write order.
async fn write_interleaved(
    fx: &Fixture,
    keys: &[(&'static str, String)],
    each: u32,
) -> Vec<CloudEvent> {
    let mut all = Vec::new();
    let mut pending: HashMap<&'static str, Vec<CloudEvent>> = HashMap::new();
    let mut size = 1;
    for n in 0..each {
        let rotation = n as usize % keys.len();
        for (service, key) in keys[rotation..].iter().chain(&keys[..rotation]) {
            let event = event(service, key, n);
            all.push(event.clone());
            let batch = pending.entry(service).or_default();
            batch.push(event);
            if batch.len() >= size {
                fx.write(service, &std::mem::take(batch)).await;
                size = size % 7 + 1;
            }
        }
    }
    for (service, batch) in pending {
        if !batch.is_empty() {
            fx.write(service, &batch).await;
        }
    }
    all
}

fn counts(keys: &[(&'static str, String)], each: u32) -> HashMap<String, u32> {
    keys.iter().map(|(_, key)| (key.clone(), each)).collect()
}

/// Per-key order and at-least-once: many keys of two services, their events interleaved
/// and written while the relays and a consumer run; every event arrives, and each key's
/// events are handled in the order they were written.
async fn each_keys_events_arrive_in_write_order_and_none_is_lost(fx: Fixture) {
    const KEYS: usize = 24;
    const EACH: u32 = 40;
    let keys = keys(KEYS);
    let recorder = Recorder::of_keys(keys.iter().map(|(_, key)| key));
    let (stop, task) = fx.run_consumer(
        &group("order"),
        &[USERS_TOPIC, POSTS_TOPIC],
        recorder.clone(),
    );
    let written = write_interleaved(&fx, &keys, EACH).await;
    assert_eq!(written.len(), KEYS * EACH as usize);
    recorder
        .wait_for_all("every event to be handled", &ids(&written))
        .await;
    let repeats = assert_per_key_order(&recorder.seen(), &counts(&keys, EACH));
    stop.trigger();
    task.await.unwrap();
    eprintln!(
        "{}: {} events of {KEYS} keys handled in per-key order ({repeats} repeats)",
        fx.name,
        written.len()
    );
}

/// A subscriber that stops without committing (a crash) gets its uncommitted events again
/// when its group resubscribes; what it committed never comes again.
async fn uncommitted_events_come_again_and_committed_ones_do_not(fx: Fixture) {
    let group = group("redelivery");
    let keys: Vec<String> = (0..6).map(|_| Uuid::now_v7().to_string()).collect();
    let mut first = Vec::new();
    for n in 0..5 {
        let batch: Vec<CloudEvent> = keys.iter().map(|k| event("users", k, n)).collect();
        fx.write("users", &batch).await;
        first.extend(batch);
    }
    let first_ids = ids(&first);

    // The first member reads everything, commits the first half of what each partition
    // delivered, and crashes.
    let mut sub = durable_users(&fx, &group).await;
    let got = poll_until(sub.as_mut(), "the first events", |d| has_all(d, &first_ids)).await;
    let mut by_partition: HashMap<i32, Vec<&Delivery>> = HashMap::new();
    for delivery in &got {
        if Seen::of_delivery(delivery).is_some_and(|s| first_ids.contains(&s.id)) {
            by_partition
                .entry(delivery.partition)
                .or_default()
                .push(delivery);
        }
    }
    let mut committed = HashSet::new();
    for deliveries in by_partition.values() {
        // Half, rounded down: a partition with committed events has uncommitted ones after
        // them, so a committed event delivered again would show up before those.
        let half = &deliveries[..deliveries.len() / 2];
        if let Some(last) = half.last() {
            sub.commit(last).await.unwrap();
        }
        committed.extend(
            half.iter()
                .filter_map(|d| Seen::of_delivery(d))
                .map(|s| s.id),
        );
    }
    assert!(!committed.is_empty());
    drop(sub);
    let uncommitted: HashSet<Uuid> = first_ids.difference(&committed).copied().collect();

    // The group again: exactly the uncommitted events come back.
    let mut sub = durable_users(&fx, &group).await;
    let again = poll_until(sub.as_mut(), "the uncommitted events again", |d| {
        has_all(d, &uncommitted)
    })
    .await;
    let redelivered_committed: Vec<Uuid> = seen_of(&again, &committed)
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert!(
        redelivered_committed.is_empty(),
        "committed events came again: {redelivered_committed:?}"
    );
    // Commits everything this time.
    let mut last: HashMap<i32, &Delivery> = HashMap::new();
    for delivery in &again {
        last.insert(delivery.partition, delivery);
    }
    for delivery in last.values() {
        sub.commit(delivery).await.unwrap();
    }
    drop(sub);

    // After a full commit only new events come.
    let second: Vec<CloudEvent> = keys.iter().map(|k| event("users", k, 5)).collect();
    fx.write("users", &second).await;
    let second_ids = ids(&second);
    let mut sub = durable_users(&fx, &group).await;
    let after = poll_until(sub.as_mut(), "the new events", |d| has_all(d, &second_ids)).await;
    let old = seen_of(&after, &first_ids);
    assert!(
        old.is_empty(),
        "{} committed events came again after a full commit",
        old.len()
    );
    let mut last: HashMap<i32, &Delivery> = HashMap::new();
    for delivery in &after {
        last.insert(delivery.partition, delivery);
    }
    for delivery in last.values() {
        sub.commit(delivery).await.unwrap();
    }
    if fx.isolated() {
        // Lag is measured with requests to the broker, which may fail now and then (it is a
        // metric); what it says must be right.
        let deadline = tokio::time::Instant::now() + DEADLINE;
        let lag = loop {
            match sub.lag().await {
                Ok(lag) => break lag,
                Err(err) if tokio::time::Instant::now() < deadline => {
                    eprintln!("{}: measuring lag failed, trying again: {err:#}", fx.name);
                }
                Err(err) => panic!("measuring lag: {err:#}"),
            }
        };
        assert_eq!(
            lag,
            vec![(USERS_TOPIC.to_owned(), 0)],
            "nothing left to read"
        );
    }
    eprintln!(
        "{}: {} of {} events committed before the crash, {} redelivered, none after the commit",
        fx.name,
        committed.len(),
        first.len(),
        uncommitted.len()
    );
}

/// `commit_soon` may hold offsets (the embedded transport stores a group's offsets together,
/// every 100 ms at most): they are stored by `flush`, and while the subscription waits for
/// more, without one.
async fn offsets_committed_soon_are_stored_by_a_flush_or_while_idle(fx: Fixture) {
    let group = group("soon");
    let key = Uuid::now_v7().to_string();
    let mut written = Vec::new();
    for round in 0..3 {
        let batch: Vec<CloudEvent> = (0..3)
            .map(|n| event("users", &key, round * 3 + n))
            .collect();
        fx.write("users", &batch).await;
        let batch_ids = ids(&batch);
        let mut sub = durable_users(&fx, &group).await;
        let got = poll_until(sub.as_mut(), "this round's events", |d| {
            has_all(d, &batch_ids)
        })
        .await;
        let again = seen_of(&got, &ids(&written));
        assert!(
            again.is_empty(),
            "{}: round {round}: {} events committed before came again",
            fx.name,
            again.len()
        );
        let last = got.last().expect("events").clone();
        sub.commit_soon(&last).await.unwrap();
        if round == 0 {
            // Stored on request.
            sub.flush().await.unwrap();
        } else {
            // Stored while waiting for more (nothing comes).
            let idle = tokio::time::timeout(Duration::from_millis(600), sub.poll()).await;
            assert!(idle.is_err(), "nothing new was written");
        }
        drop(sub);
        written.extend(batch);
    }
}

/// A consumer killed right after storing an event's effect, before committing its offset,
/// gets the event again after a restart and does not apply it twice (the effect and the
/// processed event id are stored in one transaction).
async fn a_consumer_killed_between_its_effect_and_its_commit_applies_the_event_once(fx: Fixture) {
    let group = group("effects");
    let keys: Vec<String> = (0..4).map(|_| Uuid::now_v7().to_string()).collect();
    let effects = Effects::open(fx.dir.path(), &keys).await;
    let events: Vec<CloudEvent> = (0..10)
        .flat_map(|n| keys.iter().map(move |k| event("users", k, n)))
        .collect();
    let killed_at = events[25].id;
    let stalled = effects.stall_after(killed_at);

    let (_stop, task) = fx.run_consumer(&group, &[USERS_TOPIC], effects.clone());
    for batch in events.chunks(10) {
        fx.write("users", batch).await;
    }
    tokio::time::timeout(DEADLINE, stalled)
        .await
        .expect("the consumer reached the event it is killed after")
        .unwrap();
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());

    let (stop, task) = fx.run_consumer(&group, &[USERS_TOPIC], effects.clone());
    effects.wait_for_applied(events.len()).await;
    eventually(
        "the event whose commit was lost to come again",
        DEADLINE,
        || async { effects.repeats.lock().unwrap().contains(&killed_at) },
    )
    .await;
    stop.trigger();
    task.await.unwrap();

    let applied = effects.effects().await;
    assert_eq!(applied.len(), events.len(), "every event has its effect");
    let twice: Vec<_> = applied.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "applied more than once: {twice:?}");
    eprintln!(
        "{}: killed after the effect of event 26 of {}; {} redelivered and skipped, each \
         applied once",
        fx.name,
        events.len(),
        effects.repeats.lock().unwrap().len()
    );
}

/// Two live subscriptions of the same name (two processes of one service) each get every
/// event published after they subscribed, in per-key order, and nothing from before.
async fn every_live_subscription_gets_every_event(fx: Fixture) {
    let before: Vec<CloudEvent> = (0..5)
        .map(|n| event("users", &Uuid::now_v7().to_string(), n))
        .collect();
    fx.write("users", &before).await;
    fx.drained().await;
    let before_ids = ids(&before);

    let group = group("live");
    let topics = [USERS_TOPIC, POSTS_TOPIC];
    let mut a = fx
        .subscribe(&group, &topics, StartAt::Latest, Durability::Live)
        .await;
    let mut b = fx
        .subscribe(&group, &topics, StartAt::Latest, Durability::Live)
        .await;
    let keys = keys(8);
    let written = write_interleaved(&fx, &keys, 6).await;
    let written_ids = ids(&written);
    for (name, sub) in [("a", &mut a), ("b", &mut b)] {
        let got = poll_until(sub.as_mut(), "every event on a live subscription", |d| {
            has_all(d, &written_ids)
        })
        .await;
        assert_per_key_order(&seen_of(&got, &written_ids), &counts(&keys, 6));
        assert!(
            seen_of(&got, &before_ids).is_empty(),
            "live subscription {name} got events from before it subscribed"
        );
        // Live subscriptions keep no offsets; committing is harmless.
        if let Some(last) = got.last() {
            sub.commit(last).await.unwrap();
        }
    }
    eprintln!(
        "{}: both live subscriptions got all {} events",
        fx.name,
        written.len()
    );
}

/// A message that is not a CloudEvent, and one its handler rejects for good, go to the dead
/// letters with why; the consumer handles what follows, and after a restart neither comes
/// again.
async fn an_undecodable_message_is_dead_lettered_and_the_consumer_moves_on(fx: Fixture) {
    let group = group("deadletter");
    let key = Uuid::now_v7().to_string();
    let garbage = format!("{{not a CloudEvent {key}");
    let good0 = event("users", &key, 0);
    let mut poison = event("users", &key, 1);
    poison.data["poison"] = serde_json::Value::Bool(true);
    let good2 = event("users", &key, 2);
    fx.write("users", std::slice::from_ref(&good0)).await;
    fx.write_raw("users", &key, &garbage).await;
    fx.write("users", &[poison.clone(), good2.clone()]).await;

    let recorder = Recorder::of_keys([&key]);
    let (stop, task) = fx.run_consumer(&group, &[USERS_TOPIC], recorder.clone());
    recorder
        .wait_for_all("the events around the poison ones", &ids(&[good0, good2]))
        .await;
    assert_eq!(recorder.rejected.load(Ordering::SeqCst), 1);
    stop.trigger();
    task.await.unwrap();

    let letters = dead_letters(&fx, &group, &key).await;
    assert_eq!(letters.len(), 2, "{letters:?}");
    let undecodable = letters
        .iter()
        .find(|l| l.payload == garbage.as_bytes())
        .expect("the undecodable message is a dead letter");
    assert!(
        undecodable.error.contains("undecodable"),
        "{}",
        undecodable.error
    );
    assert_eq!(undecodable.topic, USERS_TOPIC);
    let rejected = letters
        .iter()
        .find(|l| CloudEvent::from_bytes(&l.payload).is_ok_and(|e| e.id == poison.id))
        .expect("the rejected event is a dead letter");
    assert!(
        rejected.error.contains("invalid for the handler"),
        "{}",
        rejected.error
    );

    // Restarted, the group goes on from after them.
    let good3 = event("users", &key, 3);
    fx.write("users", std::slice::from_ref(&good3)).await;
    let recorder = Recorder::of_keys([&key]);
    let (stop, task) = fx.run_consumer(&group, &[USERS_TOPIC], recorder.clone());
    recorder
        .wait_for_all("the next event", &ids(std::slice::from_ref(&good3)))
        .await;
    stop.trigger();
    task.await.unwrap();
    assert_eq!(
        recorder.seen().iter().map(|s| s.n).collect::<Vec<_>>(),
        vec![3],
        "nothing before the restart came again"
    );
    assert_eq!(recorder.rejected.load(Ordering::SeqCst), 0);
    assert_eq!(dead_letters(&fx, &group, &key).await.len(), 2);
    eprintln!(
        "{}: an undecodable and a rejected message dead-lettered; the consumer went on",
        fx.name
    );
}

async fn the_transport_answers_pings(fx: Fixture) {
    fx.transport.ping().await.unwrap();
    // Live events over Redis keep the broker's name (the durable log, in metrics and logs).
    assert_eq!(fx.transport.name(), fx.name.trim_end_matches("+redis-live"));
}

/// A dead letter as the transport kept it.
#[derive(Debug)]
struct DeadLetter {
    topic: String,
    payload: Vec<u8>,
    error: String,
}

/// The dead letters `group` left of events about `key` (the consumer dead-letters whatever
/// poison it finds, other tests' included).
async fn dead_letters(fx: &Fixture, group: &str, key: &str) -> Vec<DeadLetter> {
    let all = match &fx.broker {
        None => {
            let rows: Vec<(String, Vec<u8>, String)> = sqlx::query_as(
                "SELECT topic, payload, error FROM events_dead_letters \
                 WHERE consumer_group = ? ORDER BY id",
            )
            .bind(group)
            .fetch_all(&fx.db.reader)
            .await
            .unwrap();
            rows.into_iter()
                .map(|(topic, payload, error)| DeadLetter {
                    topic,
                    payload,
                    error,
                })
                .collect()
        }
        Some(broker) => kafka::dead_letters(broker.brokers(), group).await,
    };
    all.into_iter()
        .filter(|letter| String::from_utf8_lossy(&letter.payload).contains(key))
        .collect()
}

mod kafka {
    //! Reading the dead-letter topic with a plain Kafka consumer, headers included.

    use std::collections::HashMap;
    use std::time::Duration;

    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Headers, Message};
    use rdkafka::{ClientConfig, Offset, TopicPartitionList};
    use socialdevs_events::kafka::{
        DEAD_LETTER_TOPIC, DLQ_ERROR, DLQ_GROUP, DLQ_OFFSET, DLQ_PARTITION, DLQ_TOPIC,
    };

    use super::DeadLetter;

    /// Every dead letter `group` left, read from the start of the topic to its end.
    pub async fn dead_letters(brokers: &str, group: &str) -> Vec<DeadLetter> {
        let (brokers, group) = (brokers.to_owned(), group.to_owned());
        tokio::task::spawn_blocking(move || read(&brokers, &group))
            .await
            .unwrap()
    }

    fn read(brokers: &str, group: &str) -> Vec<DeadLetter> {
        let timeout = Duration::from_secs(10);
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", format!("{group}.dead-letter-reader"))
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let metadata = consumer
            .fetch_metadata(Some(DEAD_LETTER_TOPIC), timeout)
            .unwrap();
        let mut assignment = TopicPartitionList::new();
        let mut end: HashMap<i32, i64> = HashMap::new();
        for partition in metadata.topics()[0].partitions() {
            let (low, high) = consumer
                .fetch_watermarks(DEAD_LETTER_TOPIC, partition.id(), timeout)
                .unwrap();
            if high > low {
                assignment
                    .add_partition_offset(DEAD_LETTER_TOPIC, partition.id(), Offset::Offset(low))
                    .unwrap();
                end.insert(partition.id(), high);
            }
        }
        let mut letters = Vec::new();
        if end.is_empty() {
            return letters;
        }
        consumer.assign(&assignment).unwrap();
        let deadline = std::time::Instant::now() + super::DEADLINE;
        while !end.is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "reading the dead letters timed out"
            );
            let Some(message) = consumer.poll(Duration::from_millis(500)) else {
                continue;
            };
            let message = message.unwrap();
            if end.get(&message.partition()) <= Some(&(message.offset() + 1)) {
                end.remove(&message.partition());
            }
            let headers: HashMap<String, String> = message
                .headers()
                .map(|headers| {
                    headers
                        .iter()
                        .map(|h| {
                            (
                                h.key.to_owned(),
                                String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            if headers.get(DLQ_GROUP).map(String::as_str) != Some(group) {
                continue;
            }
            for header in [DLQ_PARTITION, DLQ_OFFSET] {
                assert!(
                    headers
                        .get(header)
                        .is_some_and(|v| v.parse::<i64>().is_ok()),
                    "dead letter header {header}: {headers:?}"
                );
            }
            letters.push(DeadLetter {
                topic: headers[DLQ_TOPIC].clone(),
                payload: message.payload().unwrap_or_default().to_vec(),
                error: headers[DLQ_ERROR].clone(),
            });
        }
        letters
    }
}

/// Kafka only: the broker is killed (SIGKILL) while events are written to the outbox and
/// relayed, and restarted. Afterwards every written event is on its topic in per-key order,
/// a consumer that deduplicates on event ids applied each exactly once, and the relays'
/// backlog is empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_broker_killed_while_events_are_written_loses_nothing() {
    const KEYS: usize = 12;
    const EACH: u32 = 25;
    let mut fx = Fixture::kafka_local().await;
    let keys = keys(KEYS);
    let effects = Effects::open(fx.dir.path(), keys.iter().map(|(_, key)| key)).await;
    let group = group("outage");
    let topics = [USERS_TOPIC, POSTS_TOPIC];
    let (stop, task) = fx.run_consumer(&group, &topics, effects.clone());

    // Events of every key, in transactions of two, a few milliseconds apart.
    let mut transactions: Vec<(&'static str, Vec<CloudEvent>)> = Vec::new();
    for n in 0..EACH {
        for pair in keys.chunks(2) {
            for (service, key) in pair {
                match transactions.last_mut() {
                    Some((s, batch)) if s == service && batch.len() < 2 => {
                        batch.push(event(service, key, n))
                    }
                    _ => transactions.push((service, vec![event(service, key, n)])),
                }
            }
        }
    }
    let written: Vec<CloudEvent> = transactions
        .iter()
        .flat_map(|(_, batch)| batch.clone())
        .collect();
    let total = transactions.len();

    // The writer pauses at a quarter until the broker is down and at three quarters until it
    // is back, so writing goes on before, during and after the outage.
    let (progress, mut progressed) = tokio::sync::watch::channel(0usize);
    let (phase, mut phased) = tokio::sync::watch::channel(Phase::Up);
    let mut broker = fx.broker.take().unwrap();
    let transport = fx.transport.clone();
    let outboxes: Vec<_> = SERVICES
        .iter()
        .map(|(service, _)| SqliteOutbox::new(fx.db.clone(), service))
        .collect();
    let applied_before = effects.clone();
    let outage = tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Handle::current();
        runtime
            .block_on(progressed.wait_for(|n| *n >= total / 4))
            .map(|_| ())
            .unwrap();
        // Events flow end to end before the crash.
        runtime.block_on(applied_before.wait_for_applied(20));
        broker.kill();
        phase.send_replace(Phase::Killed);
        assert!(
            runtime.block_on(transport.ping()).is_err(),
            "the transport answers pings while the broker is down"
        );
        runtime
            .block_on(progressed.wait_for(|n| *n >= total * 3 / 4))
            .map(|_| ())
            .unwrap();
        let mut stuck = 0;
        for outbox in &outboxes {
            stuck += runtime.block_on(outbox.backlog()).unwrap().pending;
        }
        assert!(stuck > 0, "events written during the outage were published");
        broker.restart();
        phase.send_replace(Phase::Restarted);
        (broker, stuck)
    });
    for (i, (service, batch)) in transactions.iter().enumerate() {
        if i == total / 4 {
            phased.wait_for(|p| *p == Phase::Killed).await.unwrap();
        }
        if i == total * 3 / 4 {
            phased.wait_for(|p| *p == Phase::Restarted).await.unwrap();
        }
        fx.write(service, batch).await;
        progress.send_replace(i + 1);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let (_broker, stuck) = outage.await.unwrap();

    // The relays catch up, the consumer applies everything once.
    fx.drained().await;
    for (service, _) in SERVICES {
        assert_eq!(fx.backlog(service).await.pending, 0);
    }
    effects.wait_for_applied(written.len()).await;
    stop.trigger();
    task.await.unwrap();
    let applied = effects.effects().await;
    assert_eq!(applied.len(), written.len(), "every event has its effect");
    let twice: Vec<_> = applied.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "applied more than once: {twice:?}");

    // Everything is on the topics, in per-key order.
    let written_ids = ids(&written);
    let mut reader = fx
        .subscribe(&group, &topics, StartAt::Earliest, Durability::Live)
        .await;
    let log = poll_until(reader.as_mut(), "every event on the topics", |d| {
        has_all(d, &written_ids)
    })
    .await;
    let on_topics = seen_of(&log, &written_ids);
    let duplicates = assert_per_key_order(&on_topics, &counts(&keys, EACH));
    eprintln!(
        "kafka: broker killed and restarted while {} events were written ({stuck} waiting in \
         the outboxes at the restart): all on their topics in per-key order ({duplicates} \
         duplicates in the log), {} redelivered to the consumer and skipped, each applied once, \
         backlog 0",
        written.len(),
        effects.repeats.lock().unwrap().len()
    );
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Up,
    Killed,
    Restarted,
}

/// Kafka with live subscriptions on Redis: Redis is killed (SIGKILL) and restarted. While it is
/// down the relays go on publishing to the broker (a durable consumer gets every event, the
/// backlog drains); afterwards the live subscription opened before the crash reconnects by
/// itself and gets what is published from then on, in per-key order — and nothing from the
/// outage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_live_subscriptions_resume_and_the_log_loses_nothing() {
    let mut fx = Fixture::kafka_redis_live_local().await;
    let topics = [USERS_TOPIC, POSTS_TOPIC];
    let mut live = fx
        .subscribe(&group("live"), &topics, StartAt::Latest, Durability::Live)
        .await;
    let first = write_interleaved(&fx, &keys(4), 3).await;
    poll_until(live.as_mut(), "live events before the crash", |d| {
        has_all(d, &ids(&first))
    })
    .await;

    fx.redis.as_mut().unwrap().kill();
    let during = write_interleaved(&fx, &keys(4), 3).await;
    fx.drained().await;
    // Each of them has been handed to the live sender by now; once Redis is back they are too
    // old to go out live, whatever the sender was doing meanwhile.
    let too_old = tokio::time::Instant::now() + LIVE_MAX_AGE;
    let recorder = Recorder::of_keys(during.iter().map(|e| &e.subject));
    let (stop, task) = fx.run_consumer(&group("durable"), &topics, recorder.clone());
    recorder
        .wait_for_all("the events written while Redis was down", &ids(&during))
        .await;
    stop.trigger();
    task.await.unwrap();
    let lost = tokio::time::timeout(DEADLINE, live.poll())
        .await
        .expect("a live poll returns once Redis is gone");
    assert!(
        lost.is_err(),
        "the live subscription reports its lost connection"
    );

    tokio::time::sleep_until(too_old).await;
    fx.redis.as_mut().unwrap().restart();
    // Polling reconnects by itself; events are published meanwhile, a round every 200 ms.
    let keys = keys(4);
    let mut after: Vec<CloudEvent> = Vec::new();
    let mut got = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while seen_of(&got, &ids(&after)).len() < 8 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the live subscription is back within {DEADLINE:?} after Redis restarted"
        );
        tokio::select! {
            _ = tick.tick() => after.extend(write_interleaved(&fx, &keys, 1).await),
            polled = live.poll() => match polled {
                Ok(batch) => got.extend(batch),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            },
        }
    }
    let seen = seen_of(&got, &ids(&after));
    assert!(
        seen_of(&got, &ids(&during)).is_empty(),
        "nothing published while Redis was down is delivered live"
    );
    eprintln!(
        "kafka+redis-live: Redis killed and restarted; {} events durable meanwhile, {} live \
         after it came back",
        during.len(),
        seen.len()
    );
}
