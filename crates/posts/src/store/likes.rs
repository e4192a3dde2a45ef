//! What each reader liked, kept in memory by the embedded (SQLite) store.
//!
//! Every page a signed-in reader gets says which of its posts they liked; asking SQLite is one
//! index probe per post, each from an empty page cache on a file written all the time (see
//! [`super::rows`]). Like the row cache this is coherent because the embedded file has one
//! writer, this process, and every like and unlike goes through [`super::SqlitePostStore`],
//! which tells this cache after each commit. A deleted post's likes go with it in the
//! database; here its id may stay in a set, which is harmless: no page shows a deleted post.
//!
//! A reader who liked more posts than a set holds is marked as such and asked of the database,
//! as before.

use std::collections::{HashMap, HashSet};
use std::sync::{PoisonError, RwLock};

use uuid::Uuid;

/// Liked post ids per reader, bounded in total: when full, it starts over.
pub struct Likes {
    inner: RwLock<Inner>,
    /// Likes held per reader at most.
    per_reader: usize,
    /// Likes held in all at most.
    max: usize,
}

#[derive(Default)]
struct Inner {
    /// `None`: the reader liked more than a set holds.
    readers: HashMap<Uuid, Option<HashSet<Uuid>>>,
    held: usize,
    /// Bumped by every like and unlike: a set read from the database before a change is not
    /// kept after it.
    generation: u64,
}

/// When a read started, to keep its set only if nothing changed meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

/// What the cache knows of a reader.
#[derive(Debug, PartialEq, Eq)]
pub enum Known {
    /// These of the asked posts are liked (and no other).
    Liked(Vec<Uuid>),
    /// Not held: read the reader's likes (at most [`Likes::read_limit`]) and keep them.
    Unknown(Generation),
    /// The reader liked too many posts to hold: ask the database.
    TooMany,
}

impl Likes {
    /// At most `per_reader` likes per reader and `max` in all.
    pub fn new(per_reader: usize, max: usize) -> Self {
        Self {
            inner: RwLock::new(Inner::default()),
            per_reader: per_reader.max(1),
            max: max.max(1),
        }
    }

    /// How many of a reader's likes to read: one more than a set holds, to know it is whole.
    pub fn read_limit(&self) -> usize {
        self.per_reader + 1
    }

    /// Which of `posts` `reader` liked, if known.
    pub fn liked_among<'a>(&self, reader: Uuid, posts: impl Iterator<Item = &'a Uuid>) -> Known {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        match inner.readers.get(&reader) {
            Some(Some(set)) => Known::Liked(posts.filter(|p| set.contains(p)).copied().collect()),
            Some(None) => Known::TooMany,
            None => Known::Unknown(Generation(inner.generation)),
        }
    }

    /// Keeps `liked` (`reader`'s likes, at most [`read_limit`](Self::read_limit)) read since
    /// `read_at`, unless a like or unlike committed meanwhile. Returns what to answer from:
    /// the set, or `None` when the reader liked too many.
    pub fn keep(
        &self,
        read_at: Generation,
        reader: Uuid,
        liked: Vec<Uuid>,
    ) -> Option<HashSet<Uuid>> {
        let set: Option<HashSet<Uuid>> =
            (liked.len() <= self.per_reader).then(|| liked.into_iter().collect());
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if inner.generation == read_at.0 {
            let size = set.as_ref().map_or(0, HashSet::len);
            if inner.held + size > self.max || inner.readers.len() >= self.max {
                inner.readers.clear();
                inner.held = 0;
            }
            inner.held += size;
            if let Some(Some(old)) = inner.readers.insert(reader, set.clone()) {
                inner.held -= old.len();
            }
        }
        set
    }

    /// `reader` liked `post` (committed).
    pub fn liked(&self, reader: Uuid, post: Uuid) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        inner.generation = inner.generation.wrapping_add(1);
        let per_reader = self.per_reader;
        let (added, removed) = match inner.readers.get_mut(&reader) {
            Some(entry @ Some(_)) => {
                let set = entry.get_or_insert_default();
                if !set.insert(post) {
                    (0, 0)
                } else if set.len() > per_reader {
                    let dropped = set.len() - 1;
                    *entry = None;
                    (0, dropped)
                } else {
                    (1, 0)
                }
            }
            _ => (0, 0),
        };
        inner.held = inner.held + added - removed;
    }

    /// `reader` no longer likes `post` (committed).
    pub fn unliked(&self, reader: Uuid, post: Uuid) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        inner.generation = inner.generation.wrapping_add(1);
        let removed = match inner.readers.get_mut(&reader) {
            Some(Some(set)) => usize::from(set.remove(&post)),
            _ => 0,
        };
        inner.held -= removed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn liked(known: Known) -> Vec<Uuid> {
        match known {
            Known::Liked(ids) => ids,
            other => panic!("not held: {other:?}"),
        }
    }

    #[test]
    fn a_kept_set_answers_and_follows_likes_and_unlikes() {
        let likes = Likes::new(10, 100);
        let (reader, a, b) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let Known::Unknown(at) = likes.liked_among(reader, [a, b].iter()) else {
            panic!("an empty cache holds nobody");
        };
        likes.keep(at, reader, vec![a]);
        assert_eq!(liked(likes.liked_among(reader, [a, b].iter())), vec![a]);
        likes.liked(reader, b);
        assert_eq!(liked(likes.liked_among(reader, [a, b].iter())), vec![a, b]);
        likes.unliked(reader, a);
        assert_eq!(liked(likes.liked_among(reader, [a, b].iter())), vec![b]);
        // Another reader's like does not show here.
        likes.liked(Uuid::now_v7(), a);
        assert_eq!(liked(likes.liked_among(reader, [a, b].iter())), vec![b]);
    }

    #[test]
    fn a_set_read_before_a_like_is_not_kept() {
        let likes = Likes::new(10, 100);
        let (reader, post) = (Uuid::now_v7(), Uuid::now_v7());
        let Known::Unknown(at) = likes.liked_among(reader, [post].iter()) else {
            panic!("an empty cache holds nobody");
        };
        // The like commits while the set is being read (the read did not see it).
        likes.liked(reader, post);
        let answered = likes.keep(at, reader, Vec::new());
        assert_eq!(
            answered.map(|s| s.len()),
            Some(0),
            "the read answers itself"
        );
        assert!(matches!(
            likes.liked_among(reader, [post].iter()),
            Known::Unknown(_)
        ));
    }

    #[test]
    fn a_reader_with_too_many_likes_is_asked_of_the_database() {
        let likes = Likes::new(2, 100);
        let reader = Uuid::now_v7();
        let Known::Unknown(at) = likes.liked_among(reader, std::iter::empty()) else {
            panic!("an empty cache holds nobody");
        };
        let many: Vec<Uuid> = (0..likes.read_limit()).map(|_| Uuid::now_v7()).collect();
        assert_eq!(likes.keep(at, reader, many.clone()), None);
        assert_eq!(likes.liked_among(reader, many.iter()), Known::TooMany);
        // A set that grows past the bound becomes "too many" too.
        let other = Uuid::now_v7();
        let Known::Unknown(at) = likes.liked_among(other, std::iter::empty()) else {
            panic!("not held yet");
        };
        likes.keep(at, other, vec![Uuid::now_v7(), Uuid::now_v7()]);
        likes.liked(other, Uuid::now_v7());
        assert_eq!(likes.liked_among(other, many.iter()), Known::TooMany);
        assert_eq!(likes.inner.read().unwrap().held, 0);
    }

    #[test]
    fn it_stays_bounded() {
        let likes = Likes::new(4, 10);
        for _ in 0..10 {
            let reader = Uuid::now_v7();
            let Known::Unknown(at) = likes.liked_among(reader, std::iter::empty()) else {
                panic!("not held yet");
            };
            likes.keep(at, reader, (0..4).map(|_| Uuid::now_v7()).collect());
            assert!(likes.inner.read().unwrap().held <= 10);
        }
    }
}
