//! The `TimelineStore` conformance suite: every behaviour written once, as an async function
//! on a [`Backend`], and run against each adapter (`memory::<name>` and `redis::<name>`) by
//! `conformance!` below. Redis tests get a server from `socialdevs-testkit`
//! (`SOCIALDEVS_TEST_REDIS_URL` with a key namespace of their own, else a throwaway
//! `redis-server` each). The outage tests at the bottom always start their own server, to kill
//! it.

// The suite's functions are test code, though not `#[test]`s themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use socialdevs_testkit::redis::RedisServer;
use socialdevs_timeline::store::{
    Entry, MemoryTimelines, RedisOptions, RedisTimelines, TimelineError, TimelineStore,
    TimelineStoreSettings,
};
use tokio::sync::Barrier;
use tokio::task::JoinSet;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// The small cap most tests use.
const CAP: usize = 5;

/// Far more than any test reads.
const ALL: usize = 10_000;

/// Where the stores under test live.
enum Backend {
    Memory,
    Redis(RedisServer),
}

impl Backend {
    fn redis() -> Self {
        Self::Redis(RedisServer::start())
    }

    /// A store with `cap` and an idle TTL long enough for any test (and short enough that an
    /// external server forgets the test's keys soon).
    async fn store_with_cap(&self, cap: usize) -> Arc<dyn TimelineStore> {
        self.store_with(TimelineStoreSettings {
            cap,
            idle_ttl: Duration::from_secs(600),
        })
        .await
    }

    async fn store(&self) -> Arc<dyn TimelineStore> {
        self.store_with_cap(CAP).await
    }

    async fn store_with(&self, settings: TimelineStoreSettings) -> Arc<dyn TimelineStore> {
        match self {
            Self::Memory => Arc::new(MemoryTimelines::new(settings, 100_000)),
            Self::Redis(server) => Arc::new(redis_store(server, settings).await),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Redis(_) => "redis",
        }
    }
}

async fn redis_store(server: &RedisServer, settings: TimelineStoreSettings) -> RedisTimelines {
    let options = RedisOptions {
        namespace: server.namespace().to_owned(),
        ..RedisOptions::default()
    };
    RedisTimelines::connect_with(server.url(), options, settings)
        .await
        .unwrap()
}

/// `n` entries by `author`, oldest first.
fn by(author: Uuid, n: usize) -> Vec<Entry> {
    (0..n)
        .map(|_| Entry {
            post_id: Uuid::now_v7(),
            author_id: author,
        })
        .collect()
}

/// `n` entries by different authors, oldest first.
/// The remaining time to live of a Redis key, in ms (-1: none, -2: no such key).
async fn pttl(
    conn: &mut ::redis::aio::MultiplexedConnection,
    key: impl ::redis::ToRedisArgs,
) -> i64 {
    ::redis::cmd("PTTL")
        .arg(key)
        .query_async(conn)
        .await
        .unwrap()
}

/// Asserts the sorted set `key` holds `entries`, oldest first, as `post:author` with score 0.
async fn assert_members(
    conn: &mut ::redis::aio::MultiplexedConnection,
    key: &str,
    entries: &[Entry],
) {
    let members: Vec<(String, f64)> = ::redis::cmd("ZRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(conn)
        .await
        .unwrap();
    let expected: Vec<(String, f64)> = entries
        .iter()
        .map(|e| (format!("{}:{}", e.post_id, e.author_id), 0.0))
        .collect();
    assert_eq!(members, expected, "oldest first, score 0");
}

fn entries(n: usize) -> Vec<Entry> {
    (0..n).flat_map(|_| by(Uuid::now_v7(), 1)).collect()
}

/// Newest first: the order pages come in.
fn newest_first(entries: &[Entry]) -> Vec<Entry> {
    let mut entries = entries.to_vec();
    entries.sort_unstable_by(|a, b| b.cmp(a));
    entries.dedup();
    entries
}

/// A page's entries, or `None` when cold.
async fn page(
    store: &dyn TimelineStore,
    user: Uuid,
    before: Option<Uuid>,
    limit: usize,
) -> Option<Vec<Entry>> {
    store
        .page(user, before, limit)
        .await
        .unwrap()
        .map(|page| page.entries)
}

/// The whole timeline, newest first, or `None` when cold.
async fn all(store: &dyn TimelineStore, user: Uuid) -> Option<Vec<Entry>> {
    page(store, user, None, ALL).await
}

async fn built(store: &dyn TimelineStore, entries: &[Entry]) -> Uuid {
    let user = Uuid::now_v7();
    store.replace(user, entries, &[], 0).await.unwrap();
    user
}

// ---------------------------------------------------------------------------------------------
// Behaviours
// ---------------------------------------------------------------------------------------------

async fn a_timeline_is_cold_until_built_and_built_empty_is_not_cold(backend: &Backend) {
    let store = backend.store().await;
    let user = Uuid::now_v7();
    assert_eq!(all(&*store, user).await, None, "never built");
    assert_eq!(
        page(&*store, user, Some(Uuid::now_v7()), 10).await,
        None,
        "cold whatever the cursor"
    );
    store.replace(user, &[], &[], 0).await.unwrap();
    assert_eq!(all(&*store, user).await, Some(vec![]), "built, empty");
    assert_eq!(
        page(&*store, user, Some(Uuid::now_v7()), 10).await,
        Some(vec![])
    );
    assert_eq!(all(&*store, Uuid::now_v7()).await, None, "others stay cold");
}

async fn replace_keeps_the_newest_cap_and_drops_what_was_there(backend: &Backend) {
    let store = backend.store().await;
    let posts = entries(CAP + 3);
    // Shuffled, with duplicates: the store sorts and deduplicates.
    let mut given: Vec<Entry> = posts.iter().rev().step_by(2).copied().collect();
    given.extend(posts.iter().step_by(2).copied());
    given.extend_from_slice(&posts[CAP..]);
    let user = built(&*store, &given).await;
    assert_eq!(
        all(&*store, user).await,
        Some(newest_first(&posts[3..])),
        "the newest {CAP}, newest first"
    );

    let again = entries(2);
    store.replace(user, &again, &[], 0).await.unwrap();
    assert_eq!(all(&*store, user).await, Some(newest_first(&again)));
    store.replace(user, &[], &[], 0).await.unwrap();
    assert_eq!(
        all(&*store, user).await,
        Some(vec![]),
        "replaced by nothing"
    );
}

async fn pages_are_newest_first_and_the_before_cursor_is_strict(backend: &Backend) {
    let store = backend.store_with_cap(50).await;
    let posts = entries(23);
    let user = built(&*store, &posts).await;

    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let got = page(&*store, user, before, 4).await.unwrap();
        assert!(got.len() <= 4);
        if got.is_empty() {
            break;
        }
        assert!(
            got.windows(2).all(|w| w[0].post_id > w[1].post_id),
            "newest first"
        );
        if let Some(before) = before {
            assert!(got.iter().all(|e| e.post_id < before), "strictly older");
        }
        before = got.last().map(|e| e.post_id);
        seen.extend(got);
    }
    assert_eq!(seen, newest_first(&posts), "every entry exactly once");

    // A cursor that is no entry of the timeline (a deleted post) works as well.
    let between = Uuid::now_v7();
    let later = entries(3);
    store
        .replace(user, &[posts.clone(), later.clone()].concat(), &[], 0)
        .await
        .unwrap();
    assert_eq!(
        page(&*store, user, Some(between), ALL).await,
        Some(newest_first(&posts))
    );
    assert_eq!(
        page(&*store, user, Some(posts[0].post_id), ALL).await,
        Some(vec![]),
        "nothing older than the oldest"
    );
    assert_eq!(
        page(&*store, user, Some(posts[10].post_id), 3).await,
        Some(newest_first(&posts[7..10]))
    );
    assert_eq!(page(&*store, user, None, 0).await, Some(vec![]));
}

async fn push_reaches_only_built_timelines(backend: &Backend) {
    let store = backend.store().await;
    let old = entries(2);
    let reader = built(&*store, &old).await;
    let empty = built(&*store, &[]).await;
    let cold = Uuid::now_v7();
    let post = entries(1)[0];
    store.push(&[reader, empty, cold], post).await.unwrap();
    assert_eq!(
        all(&*store, reader).await,
        Some(newest_first(&[old.clone(), vec![post]].concat()))
    );
    assert_eq!(all(&*store, empty).await, Some(vec![post]));
    assert_eq!(all(&*store, cold).await, None, "a cold timeline stays cold");
    store.push(&[], post).await.unwrap();
}

async fn push_and_merge_are_idempotent(backend: &Backend) {
    let store = backend.store().await;
    let user = built(&*store, &[]).await;
    let posts = entries(3);
    store.push(&[user, user], posts[0]).await.unwrap();
    store.push(&[user], posts[0]).await.unwrap();
    assert_eq!(all(&*store, user).await, Some(vec![posts[0]]));

    store.merge(user, &posts).await.unwrap();
    store.merge(user, &posts).await.unwrap();
    store.merge(user, &[posts[1], posts[1]]).await.unwrap();
    assert_eq!(all(&*store, user).await, Some(newest_first(&posts)));
    store.push(&[user], posts[2]).await.unwrap();
    assert_eq!(all(&*store, user).await, Some(newest_first(&posts)));
}

async fn pushes_trim_to_the_cap(backend: &Backend) {
    let store = backend.store().await;
    let first = entries(CAP);
    let user = built(&*store, &first).await;
    let newer = entries(3);
    for post in &newer {
        store.push(&[user], *post).await.unwrap();
    }
    let expected = newest_first(&[&first[3..], &newer[..]].concat());
    assert_eq!(all(&*store, user).await, Some(expected.clone()));

    // Older than everything in a full timeline: trimmed at once, again and again.
    store.push(&[user], first[0]).await.unwrap();
    store.push(&[user], first[0]).await.unwrap();
    assert_eq!(all(&*store, user).await, Some(expected));

    let growing = built(&*store, &[]).await;
    let posts = entries(CAP * 2 + 1);
    for post in &posts {
        store.push(&[growing], *post).await.unwrap();
        let len = all(&*store, growing).await.unwrap().len();
        assert!(len <= CAP, "{len} entries, cap {CAP}");
    }
    assert_eq!(
        all(&*store, growing).await,
        Some(newest_first(&posts[posts.len() - CAP..]))
    );
}

async fn merge_adds_to_a_built_timeline_and_trims(backend: &Backend) {
    let store = backend.store().await;
    let mine = entries(3);
    let user = built(&*store, &mine).await;
    let followee = Uuid::now_v7();
    // Interleaved in time with the timeline's own entries, and more than the cap.
    let theirs = by(followee, CAP + 2);
    store.merge(user, &theirs).await.unwrap();
    let expected: Vec<Entry> = newest_first(&[mine, theirs].concat())
        .into_iter()
        .take(CAP)
        .collect();
    assert_eq!(all(&*store, user).await, Some(expected));
    store.merge(user, &[]).await.unwrap();
}

async fn merge_into_a_cold_timeline_is_a_no_op(backend: &Backend) {
    let store = backend.store().await;
    let user = Uuid::now_v7();
    store.merge(user, &entries(3)).await.unwrap();
    assert_eq!(all(&*store, user).await, None);
}

async fn remove_post_removes_it_from_every_given_timeline(backend: &Backend) {
    let store = backend.store().await;
    let shared = entries(3);
    let doomed = shared[1];
    let a = built(&*store, &shared).await;
    let b = built(&*store, &shared).await;
    let untouched = built(&*store, &shared).await;
    let cold = Uuid::now_v7();
    store
        .remove_post(&[a, b, cold], doomed.post_id)
        .await
        .unwrap();
    let rest = newest_first(&[shared[0], shared[2]]);
    assert_eq!(all(&*store, a).await, Some(rest.clone()));
    assert_eq!(all(&*store, b).await, Some(rest.clone()));
    assert_eq!(all(&*store, untouched).await, Some(newest_first(&shared)));
    assert_eq!(all(&*store, cold).await, None);

    store.remove_post(&[a, b], doomed.post_id).await.unwrap();
    store.remove_post(&[a], Uuid::now_v7()).await.unwrap();
    assert_eq!(all(&*store, a).await, Some(rest));
    store.remove_post(&[], doomed.post_id).await.unwrap();
}

async fn remove_author_removes_only_that_authors_entries(backend: &Backend) {
    let store = backend.store_with_cap(50).await;
    let (gone, kept) = (Uuid::now_v7(), Uuid::now_v7());
    let mut mixed = Vec::new();
    for _ in 0..4 {
        mixed.extend(by(gone, 1));
        mixed.extend(by(kept, 1));
    }
    let user = built(&*store, &mixed).await;
    let other = built(&*store, &mixed).await;
    store.remove_author(user, gone).await.unwrap();
    let expected: Vec<Entry> = newest_first(&mixed)
        .into_iter()
        .filter(|e| e.author_id == kept)
        .collect();
    assert_eq!(expected.len(), 4);
    assert_eq!(all(&*store, user).await, Some(expected.clone()));
    assert_eq!(
        all(&*store, other).await,
        Some(newest_first(&mixed)),
        "only that user's timeline"
    );
    store.remove_author(user, gone).await.unwrap();
    assert_eq!(all(&*store, user).await, Some(expected));

    let cold = Uuid::now_v7();
    store.remove_author(cold, gone).await.unwrap();
    assert_eq!(all(&*store, cold).await, None);
}

async fn evict_makes_a_timeline_cold(backend: &Backend) {
    let store = backend.store().await;
    let posts = entries(3);
    let user = built(&*store, &posts).await;
    let other = built(&*store, &posts).await;
    store.evict(user).await.unwrap();
    assert_eq!(all(&*store, user).await, None);
    store.push(&[user], entries(1)[0]).await.unwrap();
    store.merge(user, &posts).await.unwrap();
    assert_eq!(all(&*store, user).await, None, "writes do not revive it");
    store.evict(user).await.unwrap();
    assert_eq!(all(&*store, other).await, Some(newest_first(&posts)));
    store.replace(user, &posts[..1], &[], 0).await.unwrap();
    assert_eq!(all(&*store, user).await, Some(posts[..1].to_vec()));
}

async fn concurrent_pushes_lose_nothing(backend: &Backend) {
    const TASKS: usize = 8;
    const EACH: usize = 20;
    let store = backend.store_with_cap(TASKS * EACH).await;
    let users = [
        built(&*store, &[]).await,
        built(&*store, &[]).await,
        built(&*store, &[]).await,
    ];
    let posts = entries(TASKS * EACH);
    let barrier = Arc::new(Barrier::new(TASKS));
    let mut tasks = JoinSet::new();
    for chunk in posts.chunks(EACH) {
        let (store, barrier, chunk) = (store.clone(), barrier.clone(), chunk.to_vec());
        tasks.spawn(async move {
            barrier.wait().await;
            for post in chunk {
                store.push(&users, post).await.unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    for user in users {
        assert_eq!(all(&*store, user).await, Some(newest_first(&posts)));
    }
}

async fn one_push_reaches_thousands_of_timelines(backend: &Backend) {
    let store = backend.store().await;
    let mut readers = Vec::new();
    let mut audience = Vec::new();
    for i in 0..2_500 {
        let user = Uuid::now_v7();
        if i % 2 == 0 {
            store.replace(user, &[], &[], 0).await.unwrap();
            readers.push(user);
        }
        audience.push(user);
    }
    let post = entries(1)[0];
    store.push(&audience, post).await.unwrap();
    let readers: HashSet<Uuid> = readers.into_iter().collect();
    for user in audience {
        let expected = readers.contains(&user).then(|| vec![post]);
        assert_eq!(all(&*store, user).await, expected, "user {user}");
    }
}

async fn idle_timelines_turn_cold_and_reads_keep_them(backend: &Backend) {
    let ttl = Duration::from_secs(2);
    let store = backend
        .store_with(TimelineStoreSettings {
            cap: CAP,
            idle_ttl: ttl,
        })
        .await;
    let posts = entries(2);
    let user = built(&*store, &posts).await;
    tokio::time::sleep(ttl * 3 / 5).await;
    assert!(all(&*store, user).await.is_some(), "read within the TTL");
    tokio::time::sleep(ttl * 3 / 5).await;
    // Past the TTL of the rebuild, within that of the read.
    assert!(all(&*store, user).await.is_some(), "the read renewed it");
    // Writes do not renew it.
    store.push(&[user], entries(1)[0]).await.unwrap();
    store.merge(user, &entries(1)).await.unwrap();
    tokio::time::sleep(ttl + ttl / 4).await;
    assert_eq!(all(&*store, user).await, None, "idle past the TTL");
}

async fn popular_authors_join_once_and_each_addition_changes_the_version(backend: &Backend) {
    let store = backend.store().await;
    let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let start = store.popular_among(&[a, b]).await.unwrap();
    assert!(start.authors.is_empty(), "nobody is popular yet");
    assert_eq!(store.popular_version().await.unwrap(), start.version);

    assert!(store.mark_popular(a).await.unwrap(), "a joins");
    let after_a = store.popular_version().await.unwrap();
    assert!(after_a > start.version, "{after_a} after {}", start.version);
    assert!(!store.mark_popular(a).await.unwrap(), "a is already there");
    assert_eq!(
        store.popular_version().await.unwrap(),
        after_a,
        "no change, no new version"
    );
    assert!(store.mark_popular(b).await.unwrap());
    let after_b = store.popular_version().await.unwrap();
    assert!(after_b > after_a);

    let among = store.popular_among(&[c, b, a, b]).await.unwrap();
    assert_eq!(among.authors, vec![b, a], "in the order asked, once each");
    assert_eq!(among.version, after_b);
    assert!(store.popular_among(&[c]).await.unwrap().authors.is_empty());
    assert_eq!(store.popular_among(&[]).await.unwrap().version, after_b);

    // Marking the same author from many tasks at once adds them once.
    let d = Uuid::now_v7();
    let barrier = Arc::new(Barrier::new(8));
    let mut tasks = JoinSet::new();
    for _ in 0..8 {
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            store.mark_popular(d).await.unwrap()
        });
    }
    let mut added = 0;
    while let Some(done) = tasks.join_next().await {
        added += usize::from(done.unwrap());
    }
    assert_eq!(added, 1, "exactly one task added d");
    assert!(store.popular_version().await.unwrap() > after_b);
}

async fn a_timeline_keeps_its_popular_follows_and_the_version_it_was_built_at(backend: &Backend) {
    let store = backend.store().await;
    let (p1, p2, p3) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let posts = entries(3);
    let user = Uuid::now_v7();
    store.replace(user, &posts, &[p2, p1], 7).await.unwrap();
    let read = store.page(user, None, ALL).await.unwrap().unwrap();
    assert_eq!(read.entries, newest_first(&posts));
    assert_eq!(read.popular_followed, vec![p1, p2], "sorted");
    assert_eq!(read.built_at_version, 7);
    assert_eq!(
        read.popular_version,
        store.popular_version().await.unwrap(),
        "the current version comes with the page"
    );
    let limited = store.page(user, None, 0).await.unwrap().unwrap();
    assert!(limited.entries.is_empty());
    assert_eq!(limited.popular_followed, vec![p1, p2], "whatever the limit");

    let follows = |store: Arc<dyn TimelineStore>| async move {
        store
            .page(user, None, 1)
            .await
            .unwrap()
            .map(|page| page.popular_followed)
    };
    store.add_popular_follow(user, p3).await.unwrap();
    store.add_popular_follow(user, p3).await.unwrap();
    assert_eq!(follows(store.clone()).await, Some(vec![p1, p2, p3]));
    store.remove_popular_follow(user, p1).await.unwrap();
    store.remove_popular_follow(user, p1).await.unwrap();
    store.remove_author(user, p2).await.unwrap();
    assert_eq!(
        follows(store.clone()).await,
        Some(vec![p2, p3]),
        "remove_author leaves popular follows alone"
    );
    assert_eq!(
        all(&*store, user).await,
        Some(newest_first(&posts)),
        "popular follows leave entries alone"
    );

    // Cold timelines stay cold.
    let cold = Uuid::now_v7();
    store.add_popular_follow(cold, p1).await.unwrap();
    store.remove_popular_follow(cold, p1).await.unwrap();
    assert_eq!(store.page(cold, None, ALL).await.unwrap(), None);

    // A rebuild replaces them; an eviction forgets them.
    store.replace(user, &[], &[p1], 8).await.unwrap();
    let read = store.page(user, None, ALL).await.unwrap().unwrap();
    assert_eq!(
        (read.popular_followed, read.built_at_version),
        (vec![p1], 8)
    );
    store.evict(user).await.unwrap();
    assert_eq!(store.page(user, None, ALL).await.unwrap(), None);
    store.replace(user, &[], &[], 9).await.unwrap();
    assert_eq!(follows(store.clone()).await, Some(Vec::<Uuid>::new()));

    // Built at the current version it is current, until an author turns popular.
    let current = store.popular_among(&[]).await.unwrap().version;
    store.replace(user, &posts, &[], current).await.unwrap();
    assert!(store
        .page(user, None, 1)
        .await
        .unwrap()
        .unwrap()
        .is_current());
    store.mark_popular(Uuid::now_v7()).await.unwrap();
    let read = store.page(user, None, 1).await.unwrap().unwrap();
    assert!(!read.is_current(), "{read:?}");
}

async fn author_recent_lists_keep_the_newest_cap_and_read_merged_newest_first(backend: &Backend) {
    let store = backend.store().await;
    let (a, b, unknown) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    // Interleaved in time: a, b, a, b, ... then more of a.
    let mut of_a = Vec::new();
    let mut of_b = Vec::new();
    for _ in 0..3 {
        of_a.extend(by(a, 1));
        of_b.extend(by(b, 1));
    }
    of_a.extend(by(a, CAP - 1));

    assert!(!store.push_author_recent(a, &[]).await.unwrap(), "empty");
    assert_eq!(store.author_recent(&[a], None, ALL).await.unwrap(), vec![]);
    assert!(!store.push_author_recent(a, &of_a[..2]).await.unwrap());
    assert!(store.push_author_recent(a, &of_a[2..]).await.unwrap());
    assert!(store.push_author_recent(a, &of_a).await.unwrap());
    let newest_a = newest_first(&of_a[of_a.len() - CAP..]);
    assert_eq!(
        store.author_recent(&[a], None, ALL).await.unwrap(),
        newest_a,
        "the newest {CAP}, once each"
    );
    // Older than everything in a full list: trimmed at once.
    store.push_author_recent(a, &of_a[..1]).await.unwrap();
    assert_eq!(
        store.author_recent(&[a], None, ALL).await.unwrap(),
        newest_a
    );

    for entry in &of_b {
        store.push_author_recent(b, &[*entry]).await.unwrap();
    }
    let merged = newest_first(&[&of_a[of_a.len() - CAP..], &of_b[..]].concat());
    assert_eq!(
        store
            .author_recent(&[a, b, a, unknown], None, ALL)
            .await
            .unwrap(),
        merged,
        "merged newest first; unknown authors have nothing"
    );
    let cursor = merged[2].post_id;
    assert_eq!(
        store.author_recent(&[b, a], Some(cursor), 3).await.unwrap(),
        merged[3..6].to_vec(),
        "strictly older than the cursor, at most the limit"
    );
    assert_eq!(store.author_recent(&[], None, ALL).await.unwrap(), vec![]);
    assert_eq!(store.author_recent(&[a, b], None, 0).await.unwrap(), vec![]);

    let doomed = newest_a[0];
    store.remove_author_recent(a, doomed.post_id).await.unwrap();
    store.remove_author_recent(a, doomed.post_id).await.unwrap();
    store
        .remove_author_recent(unknown, doomed.post_id)
        .await
        .unwrap();
    assert_eq!(
        store.author_recent(&[a], None, ALL).await.unwrap(),
        newest_a[1..].to_vec()
    );
    for entry in &of_b {
        store.remove_author_recent(b, entry.post_id).await.unwrap();
    }
    assert_eq!(store.author_recent(&[b], None, ALL).await.unwrap(), vec![]);
    assert!(
        !store.push_author_recent(b, &by(b, 1)).await.unwrap(),
        "an emptied list reads as not kept: it gets seeded again"
    );
}

async fn concurrent_author_recent_pushes_lose_nothing(backend: &Backend) {
    const TASKS: usize = 8;
    const EACH: usize = 20;
    let store = backend.store_with_cap(TASKS * EACH).await;
    let author = Uuid::now_v7();
    let posts = by(author, TASKS * EACH);
    let barrier = Arc::new(Barrier::new(TASKS));
    let mut tasks = JoinSet::new();
    for chunk in posts.chunks(EACH) {
        let (store, barrier, chunk) = (store.clone(), barrier.clone(), chunk.to_vec());
        tasks.spawn(async move {
            barrier.wait().await;
            for post in chunk {
                store.push_author_recent(author, &[post]).await.unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    assert_eq!(
        store.author_recent(&[author], None, ALL).await.unwrap(),
        newest_first(&posts)
    );
}

async fn ping_answers_and_the_store_names_itself(backend: &Backend) {
    let store = backend.store().await;
    store.ping().await.unwrap();
    assert_eq!(store.name(), backend.name());
}

macro_rules! conformance {
    ($($test:ident),+ $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(&super::Backend::Memory).await;
                }
            )+
        }

        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let backend = super::Backend::redis();
                    super::$test(&backend).await;
                }
            )+
        }
    };
}

conformance!(
    a_timeline_is_cold_until_built_and_built_empty_is_not_cold,
    replace_keeps_the_newest_cap_and_drops_what_was_there,
    pages_are_newest_first_and_the_before_cursor_is_strict,
    push_reaches_only_built_timelines,
    push_and_merge_are_idempotent,
    pushes_trim_to_the_cap,
    merge_adds_to_a_built_timeline_and_trims,
    merge_into_a_cold_timeline_is_a_no_op,
    remove_post_removes_it_from_every_given_timeline,
    remove_author_removes_only_that_authors_entries,
    evict_makes_a_timeline_cold,
    concurrent_pushes_lose_nothing,
    one_push_reaches_thousands_of_timelines,
    idle_timelines_turn_cold_and_reads_keep_them,
    popular_authors_join_once_and_each_addition_changes_the_version,
    a_timeline_keeps_its_popular_follows_and_the_version_it_was_built_at,
    author_recent_lists_keep_the_newest_cap_and_read_merged_newest_first,
    concurrent_author_recent_pushes_lose_nothing,
    ping_answers_and_the_store_names_itself,
);

// ---------------------------------------------------------------------------------------------
// Redis only: the key layout, and outages
// ---------------------------------------------------------------------------------------------

/// How soon a dead Redis must be reported.
const UNAVAILABLE_WITHIN: Duration = Duration::from_millis(2_500);

fn settings() -> TimelineStoreSettings {
    TimelineStoreSettings {
        cap: CAP,
        idle_ttl: Duration::from_secs(600),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_keys_follow_the_documented_layout() {
    let server = RedisServer::start();
    let store = redis_store(&server, settings()).await;
    let client = ::redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let ns = server.namespace();

    let posts = entries(2);
    let user = built(&store, &posts).await;
    let set = format!("{ns}:timeline:{{{user}}}");
    let marker = format!("{set}:built");
    assert_eq!(store.timeline_key(user), set);
    assert_eq!(store.built_key(user), marker);
    assert_members(&mut conn, &set, &posts).await;
    for key in [&set, &marker] {
        let ttl: i64 = pttl(&mut conn, key).await;
        assert!(ttl > 0 && ttl <= 600_000, "{key} expires: {ttl} ms");
    }

    // A push into a built, empty timeline creates the set: it expires with the marker.
    let empty = built(&store, &[]).await;
    let exists: i64 = ::redis::cmd("EXISTS")
        .arg(store.timeline_key(empty))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(exists, 0, "a built, empty timeline is its marker alone");
    store.push(&[empty], posts[0]).await.unwrap();
    let ttl: i64 = pttl(&mut conn, store.timeline_key(empty)).await;
    assert!(ttl > 0 && ttl <= 600_000, "the new set expires: {ttl} ms");

    // Writes to a cold timeline leave no key behind (it would never expire).
    let cold = Uuid::now_v7();
    store.push(&[cold], posts[0]).await.unwrap();
    store.merge(cold, &posts).await.unwrap();
    let exists: i64 = ::redis::cmd("EXISTS")
        .arg(store.timeline_key(cold))
        .arg(store.built_key(cold))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(exists, 0, "nothing stored for a cold timeline");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_popular_keys_follow_the_documented_layout() {
    let server = RedisServer::start();
    let store = redis_store(&server, settings()).await;
    let client = ::redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let ns = server.namespace();
    let (user, author) = (Uuid::now_v7(), Uuid::now_v7());

    store
        .replace(user, &entries(1), &[author], 42)
        .await
        .unwrap();
    let follows_key = format!("{ns}:timeline:{{{user}}}:popular");
    assert_eq!(store.popular_follows_key(user), follows_key);
    let marker: String = ::redis::cmd("GET")
        .arg(store.built_key(user))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(marker, "v42", "the marker holds the version built at");
    let follows: Vec<String> = ::redis::cmd("SMEMBERS")
        .arg(&follows_key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(follows, vec![author.to_string()]);
    let ttl: i64 = pttl(&mut conn, &follows_key).await;
    assert!(
        ttl > 0 && ttl <= 600_000,
        "popular follows expire: {ttl} ms"
    );

    assert!(store.mark_popular(author).await.unwrap());
    assert_eq!(store.popular_key(), format!("{ns}:popular:{{authors}}"));
    assert_eq!(
        store.popular_version_key(),
        format!("{ns}:popular:{{authors}}:version")
    );
    let popular: Vec<String> = ::redis::cmd("SMEMBERS")
        .arg(store.popular_key())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(popular, vec![author.to_string()]);
    let version: u64 = ::redis::cmd("GET")
        .arg(store.popular_version_key())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(version, store.popular_version().await.unwrap());

    let posts = by(author, 2);
    store.push_author_recent(author, &posts).await.unwrap();
    let recent_key = format!("{ns}:recent:{{{author}}}");
    assert_eq!(store.recent_key(author), recent_key);
    assert_members(&mut conn, &recent_key, &posts).await;
    for key in [store.popular_key(), store.popular_version_key(), recent_key] {
        let ttl: i64 = pttl(&mut conn, &key).await;
        assert_eq!(ttl, -1, "{key} does not expire");
    }

    // Following a popular author creates the set with the marker's remaining time.
    let bare = built(&store, &[]).await;
    store.add_popular_follow(bare, author).await.unwrap();
    let ttl: i64 = pttl(&mut conn, store.popular_follows_key(bare)).await;
    assert!(ttl > 0 && ttl <= 600_000, "the new set expires: {ttl} ms");
    // ... and nothing for a cold timeline.
    let cold = Uuid::now_v7();
    store.add_popular_follow(cold, author).await.unwrap();
    let exists: i64 = ::redis::cmd("EXISTS")
        .arg(store.popular_follows_key(cold))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(exists, 0, "nothing stored for a cold timeline");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeline_built_before_hybrid_fanout_reads_as_cold() {
    let server = RedisServer::start();
    let store = redis_store(&server, settings()).await;
    let user = built(&store, &entries(2)).await;
    let client = ::redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    // The marker of earlier releases.
    let () = ::redis::cmd("SET")
        .arg(store.built_key(user))
        .arg(1)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(store.page(user, None, 10).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_popular_version_never_comes_back_to_an_old_value() {
    let server = RedisServer::start();
    let store = redis_store(&server, settings()).await;
    store.mark_popular(Uuid::now_v7()).await.unwrap();
    let before = store.popular_among(&[]).await.unwrap().version;
    let user = Uuid::now_v7();
    store.replace(user, &entries(1), &[], before).await.unwrap();
    assert!(store
        .page(user, None, 1)
        .await
        .unwrap()
        .unwrap()
        .is_current());

    let client = ::redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: i64 = ::redis::cmd("DEL")
        .arg(store.popular_version_key())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(store.popular_version().await.unwrap(), 0, "missing reads 0");
    assert!(
        !store
            .page(user, None, 1)
            .await
            .unwrap()
            .unwrap()
            .is_current(),
        "timelines built before the loss rebuild"
    );
    // A rebuild recreates it from the clock; marking moves past it.
    let recreated = store.popular_among(&[]).await.unwrap().version;
    assert_ne!(recreated, 0);
    let _: i64 = ::redis::cmd("DEL")
        .arg(store.popular_version_key())
        .query_async(&mut conn)
        .await
        .unwrap();
    store.mark_popular(Uuid::now_v7()).await.unwrap();
    let after = store.popular_version().await.unwrap();
    assert!(after >= recreated && after != before, "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbled_entry_in_redis_is_an_error_not_unavailable() {
    let server = RedisServer::start();
    let store = redis_store(&server, settings()).await;
    let user = built(&store, &entries(1)).await;
    let client = ::redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: i64 = ::redis::cmd("ZADD")
        .arg(store.timeline_key(user))
        .arg(0)
        .arg("zzz-not-an-entry")
        .query_async(&mut conn)
        .await
        .unwrap();
    let err = store.page(user, None, 10).await.unwrap_err();
    assert!(matches!(err, TimelineError::Other(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_to_no_redis_is_unavailable_quickly() {
    let port = socialdevs_testkit::postgres::free_port().unwrap();
    let started = Instant::now();
    let err = RedisTimelines::connect(&format!("redis://127.0.0.1:{port}/"), settings())
        .await
        .unwrap_err();
    assert!(matches!(err, TimelineError::Unavailable(_)), "{err:?}");
    assert!(
        started.elapsed() < UNAVAILABLE_WITHIN,
        "{:?}",
        started.elapsed()
    );
}

async fn unavailable_quickly<T: std::fmt::Debug>(
    operation: &str,
    call: impl std::future::Future<Output = Result<T, TimelineError>>,
) {
    let started = Instant::now();
    let outcome = call.await;
    let took = started.elapsed();
    assert!(
        matches!(outcome, Err(TimelineError::Unavailable(_))),
        "{operation} with Redis down: {outcome:?}"
    );
    assert!(took < UNAVAILABLE_WITHIN, "{operation} took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_redis_is_unavailable_quickly_and_works_again_cold_after_a_restart() {
    let mut server = RedisServer::start_local();
    let store = redis_store(&server, settings()).await;
    let posts = entries(3);
    let user = built(&store, &posts).await;
    assert_eq!(all(&store, user).await, Some(newest_first(&posts)));

    server.kill();
    let post = entries(1)[0];
    // Several rounds: the first finds the dropped connection, later ones the reconnects
    // failing.
    for _ in 0..3 {
        unavailable_quickly("page", store.page(user, None, 10)).await;
        unavailable_quickly("ping", store.ping()).await;
        unavailable_quickly("replace", store.replace(user, &posts, &[], 0)).await;
        unavailable_quickly("push", store.push(&[user], post)).await;
        unavailable_quickly("merge", store.merge(user, &posts)).await;
        unavailable_quickly("remove_post", store.remove_post(&[user], post.post_id)).await;
        unavailable_quickly("remove_author", store.remove_author(user, post.author_id)).await;
        unavailable_quickly("evict", store.evict(user)).await;
        unavailable_quickly(
            "add_popular_follow",
            store.add_popular_follow(user, post.author_id),
        )
        .await;
        unavailable_quickly(
            "remove_popular_follow",
            store.remove_popular_follow(user, post.author_id),
        )
        .await;
        unavailable_quickly("mark_popular", store.mark_popular(post.author_id)).await;
        unavailable_quickly("popular_version", store.popular_version()).await;
        unavailable_quickly("popular_among", store.popular_among(&[user])).await;
        unavailable_quickly(
            "push_author_recent",
            store.push_author_recent(post.author_id, &[post]),
        )
        .await;
        unavailable_quickly(
            "remove_author_recent",
            store.remove_author_recent(post.author_id, post.post_id),
        )
        .await;
        unavailable_quickly(
            "author_recent",
            store.author_recent(&[post.author_id], None, 10),
        )
        .await;
    }

    server.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match store.ping().await {
            Ok(()) => break,
            Err(err) if Instant::now() >= deadline => {
                panic!("the store did not reconnect after the restart: {err:?}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    assert_eq!(
        all(&store, user).await,
        None,
        "the restarted server is empty: cold"
    );
    // Scripts work again though the server forgot them.
    store.replace(user, &posts, &[], 0).await.unwrap();
    store.push(&[user], post).await.unwrap();
    store.merge(user, &entries(1)).await.unwrap();
    store.remove_author(user, post.author_id).await.unwrap();
    let timeline = all(&store, user).await.unwrap();
    assert_eq!(timeline.len(), 4);
    assert!(!timeline.contains(&post));
    assert!(store.mark_popular(post.author_id).await.unwrap());
    let among = store.popular_among(&[post.author_id]).await.unwrap();
    assert_eq!(among.authors, vec![post.author_id]);
    store
        .add_popular_follow(user, post.author_id)
        .await
        .unwrap();
    assert!(!store
        .push_author_recent(post.author_id, &[post])
        .await
        .unwrap());
    assert_eq!(
        store
            .author_recent(&[post.author_id], None, 10)
            .await
            .unwrap(),
        vec![post]
    );
    let read = store.page(user, None, 10).await.unwrap().unwrap();
    assert_eq!(read.popular_followed, vec![post.author_id]);
}
