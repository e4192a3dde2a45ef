//! The in-process timeline store, for the all-in-one binary and tests.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use async_trait::async_trait;
use uuid::Uuid;

use super::{
    newest, BuiltPage, Entry, PopularAmong, TimelineError, TimelineStore, TimelineStoreSettings,
};

/// Home timelines in this process's memory, with a hard bound on the memory they take.
///
/// **Memory bound.** At most `max_users` timelines are kept; building one more forgets the
/// least recently used (by its last read or rebuild). A timeline holds at most `cap` entries
/// of 32 bytes (two UUIDs), in a vector whose capacity never grows past `cap`, plus about
/// 150 bytes of bookkeeping (its map slot and its place in the recency index). So the whole
/// store stays under
///
/// ```text
/// max_users × (32 B × cap + ~150 B)
/// ```
///
/// — with the default cap of 800, about 25.8 KB per user: 10,000 users ≈ 258 MB,
/// 1,000 users ≈ 26 MB. [`MemoryTimelines::memory_bound`] computes it for logging.
///
/// Hybrid fan-out adds, outside that bound, the popular authors a timeline's user follows
/// (about 40 B each, in a timeline) and each popular author's recent list (at most `cap`
/// entries: 25.6 KB with the default cap). Popular authors are few by definition (each has more
/// followers than the fan-out limit), and they stay in the set for the process's life.
///
/// Timelines unread for the idle TTL turn cold too (checked when next touched). Nothing is
/// shared between processes: replicas each keep their own, which is fine for one process and
/// for tests, and why production uses Redis.
#[derive(Debug)]
pub struct MemoryTimelines {
    settings: TimelineStoreSettings,
    max_users: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    timelines: HashMap<Uuid, Timeline>,
    /// Users by the tick of their timeline's last read or rebuild: the first is the least
    /// recently used.
    recency: BTreeMap<u64, Uuid>,
    /// Ticks handed out so far.
    clock: u64,
    /// Authors whose posts are not pushed to followers.
    popular: HashSet<Uuid>,
    /// Grows by one whenever an author joins `popular`.
    version: u64,
    /// Popular authors' recent entries: oldest first, without duplicates, at most `cap`, never
    /// empty (an emptied list is removed).
    recent: HashMap<Uuid, Vec<Entry>>,
}

#[derive(Debug)]
struct Timeline {
    /// Oldest first, without duplicates, at most `cap`.
    entries: Vec<Entry>,
    /// Its key in `recency`.
    tick: u64,
    /// When it turns cold unless read or rebuilt before (`None`: a TTL past the clock's range).
    alive_until: Option<Instant>,
    /// The popular authors its user follows.
    popular_followed: BTreeSet<Uuid>,
    /// The popular version it was built at.
    built_at: u64,
}

/// Bookkeeping bytes per user, for the documented bound.
const PER_USER_OVERHEAD: usize = 150;

impl MemoryTimelines {
    /// An empty store keeping at most `max_users` timelines (at least one) of at most
    /// `settings.cap` entries each.
    pub fn new(settings: TimelineStoreSettings, max_users: usize) -> Self {
        Self {
            settings,
            max_users: max_users.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The most memory the timelines take, in bytes (see the type's documentation).
    pub fn memory_bound(&self) -> usize {
        let per_user = std::mem::size_of::<Entry>()
            .saturating_mul(self.settings.cap)
            .saturating_add(PER_USER_OVERHEAD);
        per_user.saturating_mul(self.max_users)
    }

    /// How many timelines are kept right now (built, cold ones not yet noticed included).
    pub fn len(&self) -> usize {
        self.lock().timelines.len()
    }

    /// Whether no timeline is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The data stays consistent whatever a panicking holder did: every change is complete
        // before the next statement.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn alive_until(&self, now: Instant) -> Option<Instant> {
        now.checked_add(self.settings.idle_ttl)
    }
}

impl Inner {
    /// The user's timeline if it is built and not idle past its TTL; an idle one is dropped.
    fn live(&mut self, user: Uuid, now: Instant) -> Option<&mut Timeline> {
        let expired = match self.timelines.get(&user) {
            None => return None,
            Some(timeline) => timeline.alive_until.is_some_and(|until| until <= now),
        };
        if expired {
            self.forget(user);
            return None;
        }
        self.timelines.get_mut(&user)
    }

    /// Marks the user's timeline as the most recently used.
    fn touch(&mut self, user: Uuid, alive_until: Option<Instant>) {
        self.clock += 1;
        let tick = self.clock;
        if let Some(timeline) = self.timelines.get_mut(&user) {
            self.recency.remove(&timeline.tick);
            timeline.tick = tick;
            timeline.alive_until = alive_until;
            self.recency.insert(tick, user);
        }
    }

    fn forget(&mut self, user: Uuid) {
        if let Some(timeline) = self.timelines.remove(&user) {
            self.recency.remove(&timeline.tick);
        }
    }

    /// Forgets least recently used timelines until at most `max_users` are left.
    fn shrink_to(&mut self, max_users: usize) {
        while self.timelines.len() > max_users {
            let Some((_, user)) = self.recency.pop_first() else {
                break;
            };
            self.timelines.remove(&user);
        }
    }
}

impl Timeline {
    /// Adds `entry` unless present, keeping the newest `cap`; never grows past `cap`.
    fn insert(&mut self, entry: Entry, cap: usize) {
        insert_capped(&mut self.entries, entry, cap);
    }
}

/// Adds `entry` to an oldest-first list unless present, keeping the newest `cap`; the list
/// never grows past `cap`.
fn insert_capped(entries: &mut Vec<Entry>, entry: Entry, cap: usize) {
    let Err(at) = entries.binary_search(&entry) else {
        return;
    };
    if entries.len() >= cap {
        if at == 0 {
            // Older than everything in a full list: trimmed at once.
            return;
        }
        entries.remove(0);
        entries.insert(at - 1, entry);
        return;
    }
    let len = entries.len();
    if len == entries.capacity() {
        // Double as usual, but never past the cap: keeps the documented bound.
        entries.reserve_exact(len.max(4).min(cap - len));
    }
    entries.insert(at, entry);
}

/// The newest `limit` entries strictly older than `before` of an oldest-first list, newest
/// first.
fn newest_before(entries: &[Entry], before: Option<Uuid>, limit: usize) -> Vec<Entry> {
    let end = match before {
        Some(before) => entries.partition_point(|entry| entry.post_id < before),
        None => entries.len(),
    };
    entries[..end].iter().rev().take(limit).copied().collect()
}

#[async_trait]
impl TimelineStore for MemoryTimelines {
    async fn page(
        &self,
        user: Uuid,
        before: Option<Uuid>,
        limit: usize,
    ) -> Result<Option<BuiltPage>, TimelineError> {
        let now = Instant::now();
        let alive_until = self.alive_until(now);
        let mut inner = self.lock();
        let popular_version = inner.version;
        let Some(timeline) = inner.live(user, now) else {
            return Ok(None);
        };
        let page = BuiltPage {
            entries: newest_before(&timeline.entries, before, limit),
            popular_followed: timeline.popular_followed.iter().copied().collect(),
            built_at_version: timeline.built_at,
            popular_version,
        };
        inner.touch(user, alive_until);
        Ok(Some(page))
    }

    async fn replace(
        &self,
        user: Uuid,
        entries: &[Entry],
        popular_followed: &[Uuid],
        version: u64,
    ) -> Result<(), TimelineError> {
        let mut entries = newest(entries, self.settings.cap);
        entries.shrink_to_fit();
        let alive_until = self.alive_until(Instant::now());
        let mut inner = self.lock();
        inner.forget(user);
        inner.timelines.insert(
            user,
            Timeline {
                entries,
                tick: 0,
                alive_until,
                popular_followed: popular_followed.iter().copied().collect(),
                built_at: version,
            },
        );
        inner.touch(user, alive_until);
        inner.shrink_to(self.max_users);
        Ok(())
    }

    async fn push(&self, users: &[Uuid], entry: Entry) -> Result<(), TimelineError> {
        let now = Instant::now();
        for &user in users {
            // One user at a time: a push to many users does not hold up readers.
            if let Some(timeline) = self.lock().live(user, now) {
                timeline.insert(entry, self.settings.cap);
            }
        }
        Ok(())
    }

    async fn merge(&self, user: Uuid, entries: &[Entry]) -> Result<(), TimelineError> {
        let entries = newest(entries, self.settings.cap);
        let mut inner = self.lock();
        if let Some(timeline) = inner.live(user, Instant::now()) {
            for entry in entries {
                timeline.insert(entry, self.settings.cap);
            }
        }
        Ok(())
    }

    async fn remove_post(&self, users: &[Uuid], post: Uuid) -> Result<(), TimelineError> {
        for user in users {
            if let Some(timeline) = self.lock().timelines.get_mut(user) {
                timeline.entries.retain(|entry| entry.post_id != post);
            }
        }
        Ok(())
    }

    async fn remove_author(&self, user: Uuid, author: Uuid) -> Result<(), TimelineError> {
        if let Some(timeline) = self.lock().timelines.get_mut(&user) {
            timeline.entries.retain(|entry| entry.author_id != author);
        }
        Ok(())
    }

    async fn evict(&self, user: Uuid) -> Result<(), TimelineError> {
        self.lock().forget(user);
        Ok(())
    }

    async fn add_popular_follow(&self, user: Uuid, author: Uuid) -> Result<(), TimelineError> {
        if let Some(timeline) = self.lock().live(user, Instant::now()) {
            timeline.popular_followed.insert(author);
        }
        Ok(())
    }

    async fn remove_popular_follow(&self, user: Uuid, author: Uuid) -> Result<(), TimelineError> {
        if let Some(timeline) = self.lock().timelines.get_mut(&user) {
            timeline.popular_followed.remove(&author);
        }
        Ok(())
    }

    async fn mark_popular(&self, author: Uuid) -> Result<bool, TimelineError> {
        let mut inner = self.lock();
        let added = inner.popular.insert(author);
        if added {
            inner.version += 1;
        }
        Ok(added)
    }

    async fn popular_version(&self) -> Result<u64, TimelineError> {
        Ok(self.lock().version)
    }

    async fn popular_among(&self, authors: &[Uuid]) -> Result<PopularAmong, TimelineError> {
        let inner = self.lock();
        let mut seen = HashSet::new();
        Ok(PopularAmong {
            version: inner.version,
            authors: authors
                .iter()
                .copied()
                .filter(|author| inner.popular.contains(author) && seen.insert(*author))
                .collect(),
        })
    }

    async fn push_author_recent(
        &self,
        author: Uuid,
        entries: &[Entry],
    ) -> Result<bool, TimelineError> {
        let cap = self.settings.cap;
        let entries = newest(entries, cap);
        let mut inner = self.lock();
        let existed = inner.recent.contains_key(&author);
        if !entries.is_empty() {
            let list = inner.recent.entry(author).or_default();
            for entry in entries {
                insert_capped(list, entry, cap);
            }
        }
        Ok(existed)
    }

    async fn remove_author_recent(&self, author: Uuid, post: Uuid) -> Result<(), TimelineError> {
        let mut inner = self.lock();
        if let Some(list) = inner.recent.get_mut(&author) {
            list.retain(|entry| entry.post_id != post);
            if list.is_empty() {
                inner.recent.remove(&author);
            }
        }
        Ok(())
    }

    async fn author_recent(
        &self,
        authors: &[Uuid],
        before: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<Entry>, TimelineError> {
        let inner = self.lock();
        let mut found: Vec<Entry> = authors
            .iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter_map(|author| inner.recent.get(author))
            .flat_map(|list| newest_before(list, before, limit))
            .collect();
        drop(inner);
        found.sort_unstable_by(|a, b| b.cmp(a));
        found.dedup();
        found.truncate(limit);
        Ok(found)
    }

    async fn ping(&self) -> Result<(), TimelineError> {
        Ok(())
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            post_id: Uuid::now_v7(),
            author_id: Uuid::now_v7(),
        }
    }

    #[test]
    fn a_timeline_never_grows_past_its_cap() {
        let cap = 37;
        let mut timeline = Timeline {
            entries: Vec::new(),
            tick: 0,
            alive_until: None,
            popular_followed: BTreeSet::new(),
            built_at: 0,
        };
        for _ in 0..200 {
            timeline.insert(entry(), cap);
            assert!(timeline.entries.len() <= cap);
            assert!(timeline.entries.capacity() <= cap);
        }
        assert_eq!(timeline.entries.len(), cap);
        assert!(timeline.entries.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn the_bound_is_entries_times_cap_times_users_plus_bookkeeping() {
        let store = MemoryTimelines::new(
            TimelineStoreSettings {
                cap: 800,
                ..TimelineStoreSettings::default()
            },
            10_000,
        );
        assert_eq!(std::mem::size_of::<Entry>(), 32);
        assert_eq!(store.memory_bound(), 10_000 * (32 * 800 + 150));
    }

    #[tokio::test]
    async fn keeps_at_most_max_users_dropping_the_least_recently_used() {
        let store = MemoryTimelines::new(TimelineStoreSettings::default(), 2);
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        store.replace(a, &[entry()], &[], 0).await.unwrap();
        store.replace(b, &[entry()], &[], 0).await.unwrap();
        // Reading a makes b the least recently used.
        assert!(store.page(a, None, 10).await.unwrap().is_some());
        store.replace(c, &[entry()], &[], 0).await.unwrap();
        assert_eq!(store.len(), 2);
        assert!(store.page(a, None, 10).await.unwrap().is_some());
        assert_eq!(store.page(b, None, 10).await.unwrap(), None);
        assert!(store.page(c, None, 10).await.unwrap().is_some());
    }
}
