//! Sets an embedded store keeps in memory beside its SQLite tables: for each key (a reader, an
//! author) its members (the posts they liked, their followers), read once and then kept current
//! by the store's own writes.
//!
//! That is coherent only because the embedded file has one writer, this process, and every
//! write to the rows behind a set goes through the store that holds it, which tells it after
//! each commit ([`HeldSets::added`], [`HeldSets::removed`]); a store shared with other
//! processes forgets what they changed ([`HeldSets::forget`], [`HeldSets::clear`]), as their
//! events tell it. A read from the database that
//! began before such a change is not kept after it (a generation counter). Sets larger than a
//! bound are not held (the key is marked, and the store asks the database), and the whole is
//! bounded: when full, it starts over.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::{PoisonError, RwLock};

use uuid::Uuid;

/// The members of one key, as a held set keeps them.
pub trait Members: Clone {
    type Item: Copy + Eq + Hash;
    /// From the database's rows.
    fn from_rows(rows: Vec<Self::Item>) -> Self;
    /// Adds `item`; false if it was there.
    fn add(&mut self, item: Self::Item) -> bool;
    /// Removes `item`; false if it was not there.
    fn remove(&mut self, item: &Self::Item) -> bool;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Unordered members, for "is it among them".
impl Members for HashSet<Uuid> {
    type Item = Uuid;
    fn from_rows(rows: Vec<Uuid>) -> Self {
        rows.into_iter().collect()
    }
    fn add(&mut self, item: Uuid) -> bool {
        self.insert(item)
    }
    fn remove(&mut self, item: &Uuid) -> bool {
        HashSet::remove(self, item)
    }
    fn len(&self) -> usize {
        HashSet::len(self)
    }
}

/// Members in the order they were added (the database's order of an increasing key).
impl Members for Vec<Uuid> {
    type Item = Uuid;
    fn from_rows(rows: Vec<Uuid>) -> Self {
        rows
    }
    fn add(&mut self, item: Uuid) -> bool {
        if self.contains(&item) {
            return false;
        }
        self.push(item);
        true
    }
    fn remove(&mut self, item: &Uuid) -> bool {
        let before = Vec::len(self);
        self.retain(|held| held != item);
        Vec::len(self) != before
    }
    fn len(&self) -> usize {
        Vec::len(self)
    }
}

/// What a held set knows of a key.
#[derive(Debug, PartialEq, Eq)]
pub enum Held<M> {
    /// Its members, all of them.
    Members(M),
    /// Not held: read its members (at most [`HeldSets::read_limit`]) and
    /// [`keep`](HeldSets::keep) them with this.
    Unknown(Generation),
    /// It has too many members to hold: ask the database.
    TooMany,
}

/// When a read started, to keep its members only if nothing changed meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

/// Members per key, bounded per key and in all.
pub struct HeldSets<M: Members> {
    inner: RwLock<Inner<M>>,
    per_key: usize,
    max: usize,
}

struct Inner<M> {
    /// `None`: the key has more members than a set holds.
    keys: HashMap<Uuid, Option<M>>,
    held: usize,
    generation: u64,
}

impl<M: Members> HeldSets<M> {
    /// At most `per_key` members per key and `max` in all.
    pub fn new(per_key: usize, max: usize) -> Self {
        Self {
            inner: RwLock::new(Inner {
                keys: HashMap::new(),
                held: 0,
                generation: 0,
            }),
            per_key: per_key.max(1),
            max: max.max(1),
        }
    }

    /// How many members to read of a key not held: one more than a set holds, to know whether
    /// it is whole.
    pub fn read_limit(&self) -> u32 {
        u32::try_from(self.per_key + 1).unwrap_or(u32::MAX)
    }

    /// What is known of `key`; `answer` runs on its members under the lock (no copy).
    pub fn with<R>(&self, key: Uuid, answer: impl FnOnce(&M) -> R) -> Held<R> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        match inner.keys.get(&key) {
            Some(Some(members)) => Held::Members(answer(members)),
            Some(None) => Held::TooMany,
            None => Held::Unknown(Generation(inner.generation)),
        }
    }

    /// Keeps `rows` (`key`'s members, at most [`read_limit`](Self::read_limit)) read since
    /// `read_at`, unless a member was added or removed meanwhile. Returns the members to answer
    /// from, or `None` when the key has too many.
    pub fn keep(&self, read_at: Generation, key: Uuid, rows: Vec<M::Item>) -> Option<M> {
        let members = (rows.len() <= self.per_key).then(|| M::from_rows(rows));
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if inner.generation == read_at.0 {
            let size = members.as_ref().map_or(0, M::len);
            if inner.held + size > self.max || inner.keys.len() >= self.max {
                inner.keys.clear();
                inner.held = 0;
            }
            inner.held += size;
            if let Some(Some(old)) = inner.keys.insert(key, members.clone()) {
                inner.held -= old.len();
            }
        }
        members
    }

    /// `item` became a member of `key` (committed).
    pub fn added(&self, key: Uuid, item: M::Item) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        inner.generation = inner.generation.wrapping_add(1);
        let Some(entry) = inner.keys.get_mut(&key) else {
            return;
        };
        let Some(members) = entry.as_mut() else {
            return;
        };
        if !members.add(item) {
            return;
        }
        if members.len() > self.per_key {
            let dropped = members.len() - 1;
            *entry = None;
            inner.held -= dropped;
        } else {
            inner.held += 1;
        }
    }

    /// `item` is no longer a member of `key` (committed).
    pub fn removed(&self, key: Uuid, item: M::Item) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        inner.generation = inner.generation.wrapping_add(1);
        if let Some(Some(members)) = inner.keys.get_mut(&key) {
            if members.remove(&item) {
                inner.held -= 1;
            }
        }
    }

    /// Forgets `key` (its members changed elsewhere): the next read asks the database, and a
    /// read that began before is not kept.
    pub fn forget(&self, key: Uuid) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        inner.generation = inner.generation.wrapping_add(1);
        if let Some(Some(members)) = inner.keys.remove(&key) {
            inner.held -= members.len();
        }
    }

    /// Forgets every key, and any read that began before.
    pub fn clear(&self) {
        let dropped = {
            let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
            inner.generation = inner.generation.wrapping_add(1);
            inner.held = 0;
            std::mem::take(&mut inner.keys)
        };
        drop(dropped);
    }

    /// Members held in all (for tests and gauges).
    pub fn held(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Sets = HeldSets<HashSet<Uuid>>;

    fn unknown<R>(held: Held<R>) -> Generation {
        match held {
            Held::Unknown(at) => at,
            _ => panic!("expected a key not held"),
        }
    }

    fn members(sets: &Sets, key: Uuid) -> Option<usize> {
        match sets.with(key, HashSet::len) {
            Held::Members(n) => Some(n),
            _ => None,
        }
    }

    #[test]
    fn kept_members_follow_additions_and_removals() {
        let sets = Sets::new(10, 100);
        let (key, a, b) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let at = unknown(sets.with(key, |_| ()));
        sets.keep(at, key, vec![a]);
        assert_eq!(sets.with(key, |m| m.contains(&a)), Held::Members(true));
        sets.added(key, b);
        sets.removed(key, a);
        assert_eq!(
            sets.with(key, |m| (m.contains(&a), m.contains(&b))),
            Held::Members((false, true))
        );
        // Another key's change does not show here.
        sets.added(Uuid::now_v7(), a);
        assert_eq!(members(&sets, key), Some(1));
        assert_eq!(sets.held(), 1);
    }

    #[test]
    fn members_read_before_a_change_are_not_kept() {
        let sets = Sets::new(10, 100);
        let (key, item) = (Uuid::now_v7(), Uuid::now_v7());
        let at = unknown(sets.with(key, |_| ()));
        // The change commits while the members are being read (the read did not see it).
        sets.added(key, item);
        assert_eq!(sets.keep(at, key, Vec::new()).map(|m| m.len()), Some(0));
        unknown(sets.with(key, |_| ()));
    }

    #[test]
    fn a_key_with_too_many_members_is_asked_of_the_database() {
        let sets = Sets::new(2, 100);
        let key = Uuid::now_v7();
        let at = unknown(sets.with(key, |_| ()));
        let many: Vec<Uuid> = (0..sets.read_limit()).map(|_| Uuid::now_v7()).collect();
        assert_eq!(sets.keep(at, key, many), None);
        assert_eq!(sets.with(key, |_| ()), Held::TooMany);
        // A set that grows past the bound is given up too.
        let other = Uuid::now_v7();
        let at = unknown(sets.with(other, |_| ()));
        sets.keep(at, other, vec![Uuid::now_v7(), Uuid::now_v7()]);
        sets.added(other, Uuid::now_v7());
        assert_eq!(sets.with(other, |_| ()), Held::TooMany);
        assert_eq!(sets.held(), 0);
    }

    #[test]
    fn ordered_members_keep_the_order_they_were_added_in() {
        let sets = HeldSets::<Vec<Uuid>>::new(10, 100);
        let key = Uuid::now_v7();
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let at = unknown(sets.with(key, |_| ()));
        sets.keep(at, key, vec![a, b]);
        sets.added(key, c);
        sets.added(key, a);
        sets.removed(key, b);
        assert_eq!(sets.with(key, Clone::clone), Held::Members(vec![a, c]));
    }

    #[test]
    fn it_stays_bounded() {
        let sets = Sets::new(4, 10);
        for _ in 0..10 {
            let key = Uuid::now_v7();
            let at = unknown(sets.with(key, |_| ()));
            sets.keep(at, key, (0..4).map(|_| Uuid::now_v7()).collect());
            assert!(sets.held() <= 10);
        }
    }
    #[test]
    fn forgotten_keys_are_read_again_and_reads_before_are_not_kept() {
        let sets = Sets::new(10, 100);
        let (key, other, a) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        for k in [key, other] {
            let at = unknown(sets.with(k, |_| ()));
            sets.keep(at, k, vec![a]);
        }
        let before = unknown(sets.with(Uuid::now_v7(), |_| ()));
        sets.forget(key);
        unknown(sets.with(key, |_| ()));
        assert_eq!(members(&sets, other), Some(1), "other keys stay");
        assert_eq!(sets.held(), 1);
        sets.keep(before, key, vec![a]);
        unknown(sets.with(key, |_| ()));
        sets.clear();
        unknown(sets.with(other, |_| ()));
        assert_eq!(sets.held(), 0);
    }
}
