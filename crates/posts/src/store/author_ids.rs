//! Each author's newest post ids, kept in memory (a part of [`super::pages::PageCache`]).
//!
//! An author's page and the reader's own newer posts on a home page are an index range of
//! `posts_by_author`; on a file written all the time each such read starts from an empty page
//! cache (see [`super::rows`]). Every post created or deleted is told to this index after its
//! commit, by the store that made it, or, made by another process, by its event (which
//! forgets the author's window).
//!
//! For each author it holds the newest ids, newest first, up to a window: every post of the
//! author at least as new as the oldest id held is there (the window is contiguous), and
//! `complete` says the window reaches the author's first post. A page the window cannot
//! answer (deep pagination) is read from the database, as before.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use uuid::Uuid;

/// Newest post ids per author, bounded in total: when full, it starts over.
pub struct AuthorIds {
    inner: RwLock<Inner>,
    /// Ids held per author at most.
    window: usize,
    /// Ids held in all at most.
    max: usize,
}

#[derive(Default)]
struct Inner {
    authors: HashMap<Uuid, Window>,
    held: usize,
    /// Bumped by every post created or deleted: a window read from the database before a
    /// change is not kept after it.
    generation: u64,
}

struct Window {
    /// Newest first.
    ids: Vec<Uuid>,
    /// The author has no post older than the last id.
    complete: bool,
}

/// When a read started, to keep its window only if nothing changed meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

/// Which ids of an author a page asks for, newest first, at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// Older than the id (all when `None`).
    Before(Option<Uuid>),
    /// Newer than the id (all when `None`).
    After(Option<Uuid>),
}

impl Window {
    /// The page, if this window holds every id it could contain.
    fn answer(&self, range: Range, limit: usize) -> Option<Vec<Uuid>> {
        let (matching, covered): (Vec<Uuid>, bool) = match range {
            Range::Before(bound) => {
                let ids = self
                    .ids
                    .iter()
                    .copied()
                    .filter(|id| bound.is_none_or(|b| *id < b))
                    .take(limit)
                    .collect();
                (ids, false)
            }
            Range::After(bound) => {
                let ids: Vec<Uuid> = self
                    .ids
                    .iter()
                    .copied()
                    .filter(|id| bound.is_none_or(|b| *id > b))
                    .take(limit)
                    .collect();
                // Every id newer than the bound is held when the oldest held is not newer.
                let covered = match (bound, self.ids.last()) {
                    (Some(b), Some(oldest)) => *oldest <= b,
                    _ => false,
                };
                (ids, covered)
            }
        };
        (matching.len() >= limit || covered || self.complete).then_some(matching)
    }
}

impl AuthorIds {
    /// At most `window` ids per author and `max` in all.
    pub fn new(window: usize, max: usize) -> Self {
        Self {
            inner: RwLock::new(Inner::default()),
            window: window.max(1),
            max: max.max(1),
        }
    }

    /// How many ids to read for an author the index does not hold: one more than the window,
    /// to know whether it is complete.
    pub fn read_limit(&self) -> u32 {
        u32::try_from(self.window + 1).unwrap_or(u32::MAX)
    }

    /// The page of `author`'s ids in `range`, if the index can tell; otherwise whether it holds
    /// the author at all (`None`: read a window and [`keep`](Self::keep) it) and the generation
    /// to keep it with.
    pub fn page(
        &self,
        author: Uuid,
        range: Range,
        limit: usize,
    ) -> Result<Vec<Uuid>, (bool, Generation)> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        match inner.authors.get(&author) {
            Some(window) => window
                .answer(range, limit)
                .ok_or((true, Generation(inner.generation))),
            None => Err((false, Generation(inner.generation))),
        }
    }

    /// Keeps `newest` (the author's newest ids, newest first, at most
    /// [`read_limit`](Self::read_limit) of them) read since `read_at`, unless a post was
    /// created or deleted meanwhile; answers the page from them either way.
    pub fn keep(
        &self,
        read_at: Generation,
        author: Uuid,
        mut newest: Vec<Uuid>,
        range: Range,
        limit: usize,
    ) -> Option<Vec<Uuid>> {
        let complete = newest.len() <= self.window;
        newest.truncate(self.window);
        let window = Window {
            ids: newest,
            complete,
        };
        let page = window.answer(range, limit);
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if inner.generation == read_at.0 {
            if inner.held + window.ids.len() > self.max {
                inner.authors.clear();
                inner.held = 0;
            }
            inner.held += window.ids.len();
            if let Some(old) = inner.authors.insert(author, window) {
                inner.held -= old.ids.len();
            }
        }
        page
    }

    /// `author` posted `id` (committed).
    pub fn created(&self, author: Uuid, id: Uuid) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        inner.generation = inner.generation.wrapping_add(1);
        let Some(window) = inner.authors.get_mut(&author) else {
            return;
        };
        let at = window.ids.partition_point(|held| *held > id);
        if window.ids.get(at) == Some(&id) {
            return;
        }
        if at == window.ids.len() && !window.complete {
            // Older than the window: outside it, the window stays contiguous.
            return;
        }
        window.ids.insert(at, id);
        let mut added = 1;
        if window.ids.len() > self.window {
            window.ids.pop();
            window.complete = false;
            added = 0;
        }
        inner.held += added;
    }

    /// `author`'s post `id` was deleted (committed).
    pub fn deleted(&self, author: Uuid, id: Uuid) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        inner.generation = inner.generation.wrapping_add(1);
        let Some(window) = inner.authors.get_mut(&author) else {
            return;
        };
        let before = window.ids.len();
        window.ids.retain(|held| *held != id);
        let removed = before - window.ids.len();
        inner.held -= removed;
    }

    /// Forgets `author`'s window (a post of theirs was created or deleted elsewhere): the
    /// next page reads it again, and a read that began before is not kept.
    pub fn forget(&self, author: Uuid) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        inner.generation = inner.generation.wrapping_add(1);
        if let Some(window) = inner.authors.remove(&author) {
            inner.held -= window.ids.len();
        }
    }

    /// Forgets every window, and any read that began before.
    pub fn clear(&self) {
        let dropped = {
            let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
            inner.generation = inner.generation.wrapping_add(1);
            inner.held = 0;
            std::mem::take(&mut inner.authors)
        };
        drop(dropped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` ids, oldest first.
    fn ids(n: usize) -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
        ids.sort();
        ids
    }

    fn newest_first(ids: &[Uuid]) -> Vec<Uuid> {
        ids.iter().rev().copied().collect()
    }

    /// Reads through the index as the store does, with `all` the author's ids in the database.
    fn page(
        index: &AuthorIds,
        author: Uuid,
        all: &[Uuid],
        range: Range,
        limit: usize,
    ) -> Vec<Uuid> {
        match index.page(author, range, limit) {
            Ok(page) => page,
            Err((_, at)) => {
                let newest: Vec<Uuid> = newest_first(all)
                    .into_iter()
                    .take(index.read_limit() as usize)
                    .collect();
                index
                    .keep(at, author, newest, range, limit)
                    .unwrap_or_else(|| expected(all, range, limit))
            }
        }
    }

    fn expected(all: &[Uuid], range: Range, limit: usize) -> Vec<Uuid> {
        newest_first(all)
            .into_iter()
            .filter(|id| match range {
                Range::Before(b) => b.is_none_or(|b| *id < b),
                Range::After(a) => a.is_none_or(|a| *id > a),
            })
            .take(limit)
            .collect()
    }

    #[test]
    fn pages_match_the_database_inside_and_past_the_window() {
        let index = AuthorIds::new(8, 1000);
        let author = Uuid::now_v7();
        let all = ids(20);
        let mut ranges = vec![Range::Before(None), Range::After(None)];
        for id in &all {
            ranges.push(Range::Before(Some(*id)));
            ranges.push(Range::After(Some(*id)));
        }
        for range in ranges {
            for limit in [1, 3, 8, 9, 30] {
                assert_eq!(
                    page(&index, author, &all, range, limit),
                    expected(&all, range, limit),
                    "{range:?} limit {limit}"
                );
            }
        }
        // A short author is complete: every page comes from memory.
        let short = Uuid::now_v7();
        let few = ids(3);
        page(&index, short, &few, Range::Before(None), 1);
        assert_eq!(
            index.page(short, Range::Before(Some(few[2])), 10),
            Ok(vec![few[1], few[0]])
        );
    }

    #[test]
    fn creations_and_deletions_keep_the_window_exact() {
        let index = AuthorIds::new(4, 1000);
        let author = Uuid::now_v7();
        let mut all = ids(2);
        page(&index, author, &all, Range::Before(None), 10);
        for _ in 0..5 {
            let id = Uuid::now_v7();
            all.push(id);
            index.created(author, id);
            assert_eq!(
                page(&index, author, &all, Range::Before(None), 4),
                expected(&all, Range::Before(None), 4)
            );
        }
        // The window slid: older pages are not claimed from memory any more.
        assert!(index.page(author, Range::Before(Some(all[3])), 10).is_err());
        let gone = all.remove(5);
        index.deleted(author, gone);
        assert_eq!(
            page(&index, author, &all, Range::Before(None), 3),
            expected(&all, Range::Before(None), 3)
        );
        // Reading past what is left of the window goes to the database again.
        assert!(index.page(author, Range::Before(None), 4).is_err());
    }

    #[test]
    fn a_window_read_before_a_change_is_not_kept() {
        let index = AuthorIds::new(4, 1000);
        let author = Uuid::now_v7();
        let stale = ids(2);
        let Err((false, at)) = index.page(author, Range::Before(None), 10) else {
            panic!("an empty index holds nothing");
        };
        // The author posts while the window is being read.
        index.created(author, Uuid::now_v7());
        let answered = index.keep(at, author, newest_first(&stale), Range::Before(None), 10);
        assert_eq!(
            answered.map(|p| p.len()),
            Some(2),
            "the read answers itself"
        );
        assert!(matches!(
            index.page(author, Range::Before(None), 10),
            Err((false, _))
        ));
    }

    #[test]
    fn it_stays_bounded() {
        let index = AuthorIds::new(4, 10);
        for _ in 0..10 {
            let author = Uuid::now_v7();
            let all = ids(4);
            page(&index, author, &all, Range::Before(None), 4);
            assert!(index.inner.read().unwrap().held <= 10);
        }
    }
}
