//! Authors' names kept in this process's memory for the hot read paths, in front of the
//! store's copy (`authors` table) and the users service: most pages then need no statement
//! and no call for their authors.
//!
//! Kept current by a live consumer of the users topic in every process
//! ([`AuthorMemoFeed`]); entries also expire after a while, so a missed update costs at most
//! that long. Bounded: when full, it starts over.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use socialdevs_events::types::{UserRegisteredV1, UserUpdatedV1};
use socialdevs_events::{CloudEvent, Handler, HandlerError};
use uuid::Uuid;

use crate::model::Author;

/// Authors by id (and by username, which never changes), in memory.
pub struct AuthorMemo {
    entries: RwLock<Entries>,
    ttl: Duration,
    max: usize,
}

#[derive(Default)]
struct Entries {
    by_id: HashMap<Uuid, (Author, Instant)>,
    /// Lowercased username → id.
    by_name: HashMap<String, Uuid>,
}

impl Default for AuthorMemo {
    fn default() -> Self {
        Self::new(Duration::from_secs(300), 100_000)
    }
}

impl AuthorMemo {
    /// A memo whose entries live `ttl`, holding at most `max`.
    pub fn new(ttl: Duration, max: usize) -> Self {
        Self {
            entries: RwLock::new(Entries::default()),
            ttl,
            max: max.max(1),
        }
    }

    /// The remembered authors among `ids`, and the ids it does not know (or no longer trusts).
    pub fn lookup(&self, ids: &[Uuid]) -> (Vec<Author>, Vec<Uuid>) {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let mut found = Vec::with_capacity(ids.len());
        let mut missing = Vec::new();
        for id in ids {
            match entries.by_id.get(id) {
                Some((author, at)) if at.elapsed() < self.ttl => found.push(author.clone()),
                _ => missing.push(*id),
            }
        }
        (found, missing)
    }

    /// The remembered author called `username` (any case), if still trusted.
    pub fn by_username(&self, username: &str) -> Option<Author> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let id = entries.by_name.get(&username.to_lowercase())?;
        match entries.by_id.get(id) {
            Some((author, at)) if at.elapsed() < self.ttl => Some(author.clone()),
            _ => None,
        }
    }

    /// Remembers `authors` as they are now.
    pub fn remember(&self, authors: impl IntoIterator<Item = Author>) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        for author in authors {
            if entries.by_id.len() >= self.max && !entries.by_id.contains_key(&author.id) {
                entries.by_id.clear();
                entries.by_name.clear();
            }
            entries
                .by_name
                .insert(author.username.to_lowercase(), author.id);
            entries.by_id.insert(author.id, (author, now));
        }
    }
}

/// The live consumer that keeps a process's [`AuthorMemo`] current: every process reads
/// every `user.registered` and `user.updated` (no stored effect; nothing to deduplicate).
pub struct AuthorMemoFeed(pub Arc<AuthorMemo>);

#[async_trait]
impl Handler for AuthorMemoFeed {
    async fn handle(&self, event: &CloudEvent) -> Result<(), HandlerError> {
        let author = if let Some(Ok(e)) = event.decode::<UserRegisteredV1>() {
            Author {
                id: e.user_id,
                username: e.username,
                display_name: e.display_name,
            }
        } else if let Some(Ok(e)) = event.decode::<UserUpdatedV1>() {
            Author {
                id: e.user_id,
                username: e.username,
                display_name: e.display_name,
            }
        } else {
            return Ok(());
        };
        self.0.remember([author]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn author(name: &str) -> Author {
        Author {
            id: Uuid::now_v7(),
            username: name.into(),
            display_name: name.into(),
        }
    }

    #[test]
    fn remembers_updates_expires_and_stays_bounded() {
        let memo = AuthorMemo::new(Duration::from_secs(60), 2);
        let (a, b, c) = (author("a"), author("b"), author("c"));
        memo.remember([a.clone(), b.clone()]);
        let (found, missing) = memo.lookup(&[a.id, c.id]);
        assert_eq!(found, std::slice::from_ref(&a));
        assert_eq!(missing, [c.id]);
        memo.remember([Author {
            display_name: "A.".into(),
            ..a.clone()
        }]);
        assert_eq!(memo.lookup(&[a.id]).0[0].display_name, "A.");
        assert_eq!(memo.by_username("B"), Some(b.clone()), "any case");
        assert_eq!(memo.by_username("c"), None);
        memo.remember([c.clone()]);
        assert_eq!(
            memo.lookup(&[c.id]).0,
            std::slice::from_ref(&c),
            "full: starts over"
        );
        assert_eq!(memo.lookup(&[b.id]).1, [b.id]);
        assert_eq!(memo.by_username("b"), None, "forgotten with its entry");
        assert_eq!(memo.by_username("c"), Some(c));

        let expired = AuthorMemo::new(Duration::ZERO, 10);
        expired.remember([a.clone()]);
        assert_eq!(expired.lookup(&[a.id]).1, [a.id]);
        assert_eq!(expired.by_username("a"), None);
    }
}
