//! Post rows kept in memory for the hot pages (a part of [`super::pages::PageCache`]).
//!
//! A home page or an author's page is a handful of ids; reading their rows from SQLite costs
//! two B-tree descents per post (the text key's index, then the table), and on a file that is
//! written all the time each read starts from an empty page cache (SQLite drops a connection's
//! cache whenever another connection has committed), so those descents are `pread`s. The
//! profile of the all-in-one mix put a third of the server's CPU there. On PostgreSQL each
//! page was a statement: a round trip to another process.
//!
//! Every change to a post row (its creation, deletion, like count and reply count) is told to
//! this cache after its commit, by the store that made it or, for another process's change,
//! by its event; a read that began before a change is not kept after it.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use uuid::Uuid;

use crate::model::PostRow;

/// Rows by id, bounded: the newest half and the half before it. When the newest half is
/// full it becomes the older one and the older one is dropped (outside the lock), so the
/// rows of recent posts stay, instead of every page missing at once after a clear.
pub struct RowCache {
    inner: RwLock<Inner>,
    /// Rows in each half at most.
    half: usize,
}

#[derive(Default)]
struct Inner {
    rows: HashMap<Uuid, PostRow>,
    older: HashMap<Uuid, PostRow>,
    /// Bumped by every change to rows that may be cached: a row read from the database
    /// before a change is not kept after it.
    generation: u64,
}

impl Inner {
    fn get(&self, id: &Uuid) -> Option<&PostRow> {
        self.rows.get(id).or_else(|| self.older.get(id))
    }

    /// Makes room for `more` rows in the newest half: the half dropped, if any, to free
    /// once the lock is released.
    fn make_room(&mut self, more: usize, half: usize) -> Option<HashMap<Uuid, PostRow>> {
        if self.rows.len() + more <= half {
            return None;
        }
        let newest = std::mem::take(&mut self.rows);
        Some(std::mem::replace(&mut self.older, newest))
    }
}

/// When a read started, to keep its rows only if nothing changed meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

impl RowCache {
    /// A cache of at most about `max` rows.
    pub fn new(max: usize) -> Self {
        Self {
            inner: RwLock::new(Inner::default()),
            half: (max / 2).max(1),
        }
    }

    /// The cached rows among `ids` (`liked_by_me` false), the ids it does not hold, and the
    /// generation to give [`keep`](Self::keep) with the missing rows once read.
    pub fn lookup(&self, ids: &[Uuid]) -> (HashMap<Uuid, PostRow>, Vec<Uuid>, Generation) {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let mut found = HashMap::with_capacity(ids.len());
        let mut missing = Vec::new();
        for id in ids {
            match inner.get(id) {
                Some(row) => {
                    found.insert(*id, row.clone());
                }
                None => missing.push(*id),
            }
        }
        (found, missing, Generation(inner.generation))
    }

    /// Keeps `rows` read since `read_at`, unless a row changed meanwhile.
    pub fn keep(&self, read_at: Generation, rows: &[PostRow]) {
        if rows.is_empty() {
            return;
        }
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if inner.generation != read_at.0 {
            return;
        }
        let dropped = inner.make_room(rows.len(), self.half);
        for row in rows {
            inner.rows.insert(
                row.id,
                PostRow {
                    liked_by_me: false,
                    ..row.clone()
                },
            );
        }
        drop(inner);
        drop(dropped);
    }

    /// A post just created (committed): no read of it can be older.
    pub fn created(&self, row: PostRow) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let dropped = inner.make_room(1, self.half);
        inner.rows.insert(row.id, row);
        drop(inner);
        drop(dropped);
    }

    /// These posts changed (committed): forget them, and any read that started before.
    pub fn changed(&self, ids: &[Uuid]) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        inner.generation = inner.generation.wrapping_add(1);
        for id in ids {
            inner.rows.remove(id);
            inner.older.remove(id);
        }
    }

    /// Forgets every row, and any read that began before.
    pub fn clear(&self) {
        let dropped = {
            let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
            inner.generation = inner.generation.wrapping_add(1);
            (
                std::mem::take(&mut inner.rows),
                std::mem::take(&mut inner.older),
            )
        };
        drop(dropped);
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn row(likes: i64) -> PostRow {
        PostRow {
            id: Uuid::now_v7(),
            author_id: Uuid::now_v7(),
            text: "hello".into(),
            reply_to: None,
            hashtags: Vec::new(),
            mentions: Vec::new(),
            created_at: Utc::now(),
            like_count: likes,
            reply_count: 0,
            liked_by_me: true,
        }
    }

    #[test]
    fn kept_rows_are_found_without_the_viewers_like() {
        let cache = RowCache::new(10);
        let a = row(3);
        let (found, missing, at) = cache.lookup(&[a.id]);
        assert!(found.is_empty());
        assert_eq!(missing, vec![a.id]);
        cache.keep(at, std::slice::from_ref(&a));
        let (found, missing, _) = cache.lookup(&[a.id]);
        assert!(missing.is_empty());
        assert_eq!(found[&a.id].like_count, 3);
        assert!(!found[&a.id].liked_by_me);
    }

    #[test]
    fn a_read_that_started_before_a_change_is_not_kept() {
        let cache = RowCache::new(10);
        let stale = row(1);
        let (_, _, at) = cache.lookup(&[stale.id]);
        // The like commits while the page is being read.
        cache.changed(&[stale.id]);
        cache.keep(at, std::slice::from_ref(&stale));
        let (found, missing, _) = cache.lookup(&[stale.id]);
        assert!(found.is_empty());
        assert_eq!(missing, vec![stale.id]);
    }

    #[test]
    fn a_change_forgets_the_row() {
        let cache = RowCache::new(10);
        let a = row(0);
        cache.created(a.clone());
        assert_eq!(cache.lookup(&[a.id]).0.len(), 1);
        cache.changed(&[a.id]);
        assert_eq!(cache.lookup(&[a.id]).1, vec![a.id]);
    }

    #[test]
    fn it_stays_bounded_and_keeps_the_newest_rows() {
        let cache = RowCache::new(4);
        let rows: Vec<PostRow> = (0..7).map(row).collect();
        for r in &rows {
            cache.created(r.clone());
        }
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let (found, missing, _) = cache.lookup(&ids);
        assert!(found.len() <= 4, "{} rows kept", found.len());
        assert_eq!(
            missing,
            ids[..4],
            "the oldest rows went, the three newest stayed"
        );
        let (_, _, at) = cache.lookup(&[]);
        cache.keep(at, &[row(1)]);
        let (found, _, _) = cache.lookup(&ids[4..]);
        assert_eq!(found.len(), 3, "the half before is still there");
        cache.changed(&[ids[4], ids[6]]);
        assert_eq!(
            cache.lookup(&ids[4..]).1,
            [ids[4], ids[6]],
            "forgotten in either half"
        );
    }
}
