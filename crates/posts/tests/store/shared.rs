//! Two processes of the posts service on one PostgreSQL database: each keeps the hot pages in
//! memory, and learns of the other's changes from the posts topic's events (`PageCacheFeed`).
//! Here the events are handed over from the outbox by hand, one at a time, so the test sees
//! both what a page shows before the event arrives and that it shows the change after.

use chrono::Utc;
use socialdevs_events::Handler;
use socialdevs_posts::model::{PostFilter, PostRow};
use socialdevs_posts::store::{Deleted, PageCacheFeed, PostStore};
use uuid::Uuid;

use crate::support::{create, ids, liker, post, postgres_shared, reply, Backend};

/// Hands the events written since `seen` to `feed`; the new count of events.
async fn deliver(backend: &Backend, feed: &PageCacheFeed, seen: usize) -> usize {
    let events = backend.probe.outbox().await;
    for event in &events[seen..] {
        feed.handle(event).await.unwrap();
    }
    events.len()
}

async fn author_page(store: &dyn PostStore, author: Uuid) -> Vec<Uuid> {
    ids(&store
        .list(&PostFilter::Author(author), None, None, 20)
        .await
        .unwrap())
}

async fn seen_by(store: &dyn PostStore, id: Uuid, viewer: Uuid) -> PostRow {
    store.post(id, Some(viewer)).await.unwrap().unwrap()
}

#[tokio::test]
async fn another_process_changes_show_once_their_events_arrive() {
    let (backend, other) = postgres_shared().await;
    let writer = &*backend.store;
    let feed = PageCacheFeed(
        other
            .shared_pages()
            .expect("a shared store has a page cache"),
    );
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());

    let first = create(writer, post(alice, "first")).await;
    let mut seen = deliver(&backend, &feed, 0).await;
    assert_eq!(author_page(&*other, alice).await, [first]);
    assert_eq!(seen_by(&*other, first, bob).await.like_count, 0);

    // A like, a reply and a new post in the writer: the other process's pages are held.
    assert!(writer.like(first, &liker(bob), Utc::now()).await.unwrap());
    let answer = create(writer, reply(bob, first, "answer")).await;
    let second = create(writer, post(alice, "second")).await;
    let held = seen_by(&*other, first, bob).await;
    assert_eq!(
        (held.like_count, held.reply_count, held.liked_by_me),
        (0, 0, false),
        "served from memory until the events arrive"
    );
    assert_eq!(author_page(&*other, alice).await, [first]);

    seen = deliver(&backend, &feed, seen).await;
    let fresh = seen_by(&*other, first, bob).await;
    assert_eq!(
        (fresh.like_count, fresh.reply_count, fresh.liked_by_me),
        (1, 1, true)
    );
    assert_eq!(author_page(&*other, alice).await, [second, first]);

    // An unlike, and deletes of a post and of the reply.
    assert!(writer.unlike(first, bob, Utc::now()).await.unwrap());
    assert_eq!(
        writer.delete_post(second, alice).await.unwrap(),
        Deleted::Deleted
    );
    assert_eq!(
        writer.delete_post(answer, bob).await.unwrap(),
        Deleted::Deleted
    );
    deliver(&backend, &feed, seen).await;
    let fresh = seen_by(&*other, first, bob).await;
    assert_eq!(
        (fresh.like_count, fresh.reply_count, fresh.liked_by_me),
        (0, 0, false)
    );
    assert_eq!(author_page(&*other, alice).await, [first]);
    assert!(other.post(second, None).await.unwrap().is_none());

    // The writer's own pages followed its own changes all along, and its own events,
    // delivered back to it, change nothing it shows.
    let own = PageCacheFeed(writer.shared_pages().unwrap());
    deliver(&backend, &own, 0).await;
    assert_eq!(author_page(writer, alice).await, [first]);
    assert!(!seen_by(writer, first, bob).await.liked_by_me);
}
