//! The rate store conformance suite: every [`RateStore`] — in memory, and on a real Redis
//! (`redis-server` started per test, or `SOCIALDEVS_TEST_REDIS_URL`) — counts the same.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use socialdevs_platform::ratelimit::memory::MemoryRateStore;
use socialdevs_platform::ratelimit::redis::RedisRateStore;
use socialdevs_platform::ratelimit::{Class, Decision, Quota, Quotas, RateLimits, RateStore};
use socialdevs_testkit::redis::RedisServer;

/// A store under test, with what keeps it alive.
struct Fixture {
    store: Arc<dyn RateStore>,
    _redis: Option<RedisServer>,
}

fn memory(quotas: &Quotas) -> Fixture {
    Fixture {
        store: Arc::new(MemoryRateStore::new(quotas)),
        _redis: None,
    }
}

fn redis(quotas: &Quotas) -> Fixture {
    let server = RedisServer::start();
    let store = RedisRateStore::new(server.url(), server.namespace(), quotas).unwrap();
    Fixture {
        store: Arc::new(store),
        _redis: Some(server),
    }
}

/// Makes a store with these quotas.
type MakeStore = fn(&Quotas) -> Fixture;

const FIXTURES: [(&str, MakeStore); 2] = [("memory", memory), ("redis", redis)];

fn quotas(class: Class, limit: u32, period: Duration) -> Quotas {
    let mut quotas = Quotas::off();
    quotas.set(class, Quota::new(limit, period));
    quotas
}

fn remaining(decision: Decision) -> Option<u32> {
    match decision {
        Decision::Allowed { remaining, .. } => Some(remaining),
        _ => None,
    }
}

#[tokio::test]
async fn a_burst_of_the_limit_passes_then_one_waits_an_interval() {
    let quotas = quotas(Class::Login, 3, Duration::from_secs(30));
    for (name, fixture) in FIXTURES {
        let fixture = fixture(&quotas);
        let store = &fixture.store;
        for left in [2, 1, 0] {
            let decision = store.acquire(Class::Login, "203.0.113.1").await.unwrap();
            assert_eq!(remaining(decision), Some(left), "{name}: {decision:?}");
        }
        match store.acquire(Class::Login, "203.0.113.1").await.unwrap() {
            Decision::Denied { retry_after, reset } => {
                assert!(
                    retry_after > Duration::from_secs(8) && retry_after <= Duration::from_secs(10),
                    "{name}: one more after one interval (10 s), not {retry_after:?}"
                );
                assert!(
                    reset > Duration::from_secs(28) && reset <= Duration::from_secs(30),
                    "{name}: whole again after the period, not {reset:?}"
                );
            }
            other => panic!("{name}: the 4th of 3 passed: {other:?}"),
        }
    }
}

#[tokio::test]
async fn keys_and_classes_count_apart() {
    let mut quotas = quotas(Class::Login, 1, Duration::from_secs(60));
    quotas.set(Class::Register, Quota::new(1, Duration::from_secs(60)));
    for (name, fixture) in FIXTURES {
        let fixture = fixture(&quotas);
        let store = &fixture.store;
        assert_eq!(
            remaining(store.acquire(Class::Login, "a").await.unwrap()),
            Some(0),
            "{name}"
        );
        assert!(
            matches!(
                store.acquire(Class::Login, "a").await.unwrap(),
                Decision::Denied { .. }
            ),
            "{name}"
        );
        assert_eq!(
            remaining(store.acquire(Class::Login, "b").await.unwrap()),
            Some(0),
            "{name}: another key has a budget of its own"
        );
        assert_eq!(
            remaining(store.acquire(Class::Register, "a").await.unwrap()),
            Some(0),
            "{name}: another class has a budget of its own"
        );
        assert_eq!(
            store.acquire(Class::Api, "a").await.unwrap(),
            Decision::Unlimited,
            "{name}: a class without a quota is not counted"
        );
    }
}

#[tokio::test]
async fn the_budget_comes_back_one_request_per_interval_and_refusals_do_not_count() {
    let quotas = quotas(Class::Posts, 2, Duration::from_millis(800));
    for (name, fixture) in FIXTURES {
        let fixture = fixture(&quotas);
        let store = &fixture.store;
        let key = "0190c0de-0000-7000-8000-000000000001";
        for _ in 0..2 {
            assert!(remaining(store.acquire(Class::Posts, key).await.unwrap()).is_some());
        }
        // Hammering while refused does not push the next allowed request further away.
        for _ in 0..5 {
            assert!(
                matches!(
                    store.acquire(Class::Posts, key).await.unwrap(),
                    Decision::Denied { .. }
                ),
                "{name}"
            );
        }
        tokio::time::sleep(Duration::from_millis(450)).await;
        assert_eq!(
            remaining(store.acquire(Class::Posts, key).await.unwrap()),
            Some(0),
            "{name}: one interval (400 ms) gives one request back"
        );
        assert!(
            matches!(
                store.acquire(Class::Posts, key).await.unwrap(),
                Decision::Denied { .. }
            ),
            "{name}: and only one"
        );
        tokio::time::sleep(Duration::from_millis(850)).await;
        assert_eq!(
            remaining(store.acquire(Class::Posts, key).await.unwrap()),
            Some(1),
            "{name}: after a whole period the whole burst is back"
        );
    }
}

/// On Redis, every process counts against one budget, and keys go away when the budget is
/// whole again.
#[tokio::test]
async fn redis_counts_are_shared_by_stores_and_expire() {
    let quotas = quotas(Class::Login, 2, Duration::from_millis(600));
    let server = RedisServer::start();
    let one = RedisRateStore::new(server.url(), server.namespace(), &quotas).unwrap();
    let two = RedisRateStore::new(server.url(), server.namespace(), &quotas).unwrap();
    assert!(remaining(one.acquire(Class::Login, "c").await.unwrap()).is_some());
    assert!(remaining(two.acquire(Class::Login, "c").await.unwrap()).is_some());
    assert!(matches!(
        one.acquire(Class::Login, "c").await.unwrap(),
        Decision::Denied { .. }
    ));
    let client = redis::Client::open(server.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("{}:ratelimit:login:c", server.namespace());
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(
        (1..=600).contains(&ttl),
        "the key expires with the budget: {ttl}"
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    let exists: bool = redis::cmd("EXISTS")
        .arg(&key)
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(!exists, "an idle key costs nothing");
}

/// A Redis that is down does not take the service with it: requests pass, quickly.
#[tokio::test]
async fn requests_pass_when_redis_is_down() {
    let quotas = quotas(Class::Login, 1, Duration::from_secs(60));
    let mut server = RedisServer::start_local();
    let store = Arc::new(RedisRateStore::new(server.url(), server.namespace(), &quotas).unwrap());
    let limits = RateLimits::new(quotas.clone(), store.clone());
    assert!(limits.check(Class::Login, "d").await.error().is_none());
    assert!(limits.check(Class::Login, "d").await.error().is_some());
    server.kill();
    let started = std::time::Instant::now();
    for _ in 0..3 {
        assert!(store.acquire(Class::Login, "d").await.is_err());
        assert!(limits.check(Class::Login, "d").await.error().is_none());
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a down Redis answers fast: {:?}",
        started.elapsed()
    );
    server.restart();
    let mut limited = false;
    for _ in 0..50 {
        if limits.check(Class::Login, "e").await.error().is_none()
            && limits.check(Class::Login, "e").await.error().is_some()
        {
            limited = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(limited, "limits count again once Redis is back");
}

/// Memory stays bounded under a flood of new keys.
#[tokio::test]
async fn memory_keys_are_bounded() {
    let quotas = quotas(Class::Anonymous, 5, Duration::from_secs(60));
    let store = MemoryRateStore::new(&quotas);
    let cap = socialdevs_platform::ratelimit::memory::MAX_KEYS_PER_CLASS;
    for i in 0..(cap + 2_100) {
        store
            .acquire(Class::Anonymous, &format!("k{i}"))
            .await
            .unwrap();
    }
    assert!(
        store.len(Class::Anonymous) <= cap,
        "{}",
        store.len(Class::Anonymous)
    );
}
