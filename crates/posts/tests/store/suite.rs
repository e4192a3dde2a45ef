//! The behaviour every [`PostStore`] adapter must have, written once.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use chrono::{Duration, Utc};
use socialdevs_posts::model::{NewPost, PostFilter, PostRow};
use socialdevs_posts::store::{Created, Deleted, PostStore, StoreError};
use tokio::sync::Barrier;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::support::{
    create, create_many, ids, key, liker, newest_first, post, precise_time, reply, tagged, Backend,
};

type Store = Arc<dyn PostStore>;

// ---- create and get ----

pub async fn create_then_get_round_trips_every_field(store: Store) {
    let author = Uuid::now_v7();
    let new = NewPost {
        hashtags: vec!["rust".into(), "async".into(), "été".into()],
        mentions: vec!["zoe".into(), "adam".into()],
        ..post(author, "Hello #Rust #async #été @zoe @adam 👋🏽")
    };
    let id = create(&*store, new.clone()).await;
    let row = store.post(id, None).await.unwrap().expect("the post");
    assert_eq!(row.id, new.id);
    assert_eq!(row.author_id, author);
    assert_eq!(row.text, "Hello #Rust #async #été @zoe @adam 👋🏽");
    assert_eq!(row.reply_to, None);
    assert_eq!(row.hashtags, ["rust", "async", "été"], "order is kept");
    assert_eq!(row.mentions, ["zoe", "adam"], "order is kept");
    assert_eq!(
        row.created_at.timestamp_micros(),
        new.created_at.timestamp_micros()
    );
    assert_eq!(row.like_count, 0);
    assert_eq!(row.reply_count, 0);
    assert!(!row.liked_by_me);
}

pub async fn post_without_tags_or_mentions_has_empty_lists(store: Store) {
    let id = create(&*store, post(Uuid::now_v7(), "plain")).await;
    let row = store.post(id, Some(Uuid::now_v7())).await.unwrap().unwrap();
    assert!(row.hashtags.is_empty());
    assert!(row.mentions.is_empty());
}

pub async fn created_at_is_kept_to_the_microsecond(store: Store) {
    let at = precise_time();
    let id = create(
        &*store,
        NewPost {
            created_at: at,
            ..post(Uuid::now_v7(), "timed")
        },
    )
    .await;
    let row = store.post(id, None).await.unwrap().unwrap();
    assert_eq!(row.created_at.timestamp(), at.timestamp());
    assert_eq!(
        row.created_at.timestamp_subsec_nanos(),
        123_456_000,
        "microseconds kept, nanoseconds cut"
    );
}

pub async fn get_unknown_post_is_none(store: Store) {
    create(&*store, post(Uuid::now_v7(), "someone else")).await;
    assert!(store.post(Uuid::now_v7(), None).await.unwrap().is_none());
    assert!(store
        .post(Uuid::now_v7(), Some(Uuid::now_v7()))
        .await
        .unwrap()
        .is_none());
}

pub async fn reply_round_trips_and_counts_on_its_parent(store: Store) {
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let parent = create(&*store, post(alice, "question")).await;
    let first = create(&*store, reply(bob, parent, "answer")).await;
    create(&*store, reply(alice, parent, "thanks")).await;
    create(&*store, reply(alice, first, "a reply to the answer")).await;

    let row = store.post(first, None).await.unwrap().unwrap();
    assert_eq!(row.reply_to, Some(parent));
    assert_eq!(row.author_id, bob);
    assert_eq!(row.reply_count, 1, "one reply to the answer");
    let parent_row = store.post(parent, None).await.unwrap().unwrap();
    assert_eq!(parent_row.reply_to, None);
    assert_eq!(parent_row.reply_count, 2, "direct replies only");
}

pub async fn reply_to_unknown_post_is_rejected_and_stores_nothing(store: Store) {
    let author = Uuid::now_v7();
    let orphan = reply(author, Uuid::now_v7(), "to nowhere");
    let err = store.create_post(&orphan, None).await.unwrap_err();
    assert!(matches!(err, StoreError::ReplyTargetMissing), "{err:?}");
    assert!(store.post(orphan.id, None).await.unwrap().is_none());
    assert_eq!(store.count_by_author(author).await.unwrap(), 0);
}

// ---- listing ----

pub async fn list_all_is_newest_first_across_authors(store: Store) {
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let mut created = Vec::new();
    for i in 0..6 {
        let author = if i % 2 == 0 { alice } else { bob };
        created.push(create(&*store, post(author, &format!("post {i}"))).await);
    }
    // A reply is a post too and shows in every listing but the others' replies.
    created.push(create(&*store, reply(bob, created[0], "reply")).await);
    let rows = store.list(&PostFilter::All, None, None, 50).await.unwrap();
    assert_eq!(ids(&rows), newest_first(&created));
    assert_eq!(rows[0].text, "reply");
    assert_eq!(rows.last().unwrap().text, "post 0");
}

pub async fn list_by_author_shows_only_theirs(store: Store) {
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let alices = create_many(&*store, alice, 3).await;
    create_many(&*store, bob, 2).await;
    let alice_reply = create(&*store, reply(alice, alices[0], "me again")).await;
    let rows = store
        .list(&PostFilter::Author(alice), None, None, 50)
        .await
        .unwrap();
    let mut expected = alices.clone();
    expected.push(alice_reply);
    assert_eq!(ids(&rows), newest_first(&expected));
    assert!(rows.iter().all(|r| r.author_id == alice));
    let nobody = store
        .list(&PostFilter::Author(Uuid::now_v7()), None, None, 50)
        .await
        .unwrap();
    assert!(nobody.is_empty());
}

pub async fn list_by_authors_shows_only_theirs(store: Store) {
    let (alice, bob, carol) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let mut expected = Vec::new();
    for i in 0..3 {
        expected.push(create(&*store, post(alice, &format!("a{i}"))).await);
        create(&*store, post(carol, &format!("c{i}"))).await;
        expected.push(create(&*store, post(bob, &format!("b{i}"))).await);
    }
    let filter = PostFilter::Authors(vec![bob, alice, Uuid::now_v7()]);
    let rows = store.list(&filter, None, None, 50).await.unwrap();
    assert_eq!(ids(&rows), newest_first(&expected));
    let page = store
        .list(&filter, None, Some(expected[3]), 2)
        .await
        .unwrap();
    assert_eq!(ids(&page), [expected[2], expected[1]]);
    let none = store
        .list(&PostFilter::Authors(Vec::new()), None, None, 50)
        .await
        .unwrap();
    assert!(none.is_empty(), "no authors, no posts");
}

pub async fn list_by_tag_shows_only_tagged_posts(store: Store) {
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let a = create(&*store, tagged(alice, "#rust", &["rust"])).await;
    create(&*store, tagged(alice, "#rustlang", &["rustlang"])).await;
    let b = create(&*store, tagged(bob, "#go #rust", &["go", "rust"])).await;
    create(&*store, post(bob, "no tags")).await;
    let c = create(&*store, reply(bob, a, "#rust too")).await;
    // The reply above carries no tags: only stored tags count, not the text.
    let d = create(
        &*store,
        NewPost {
            hashtags: vec!["rust".into()],
            ..reply(alice, b, "#rust")
        },
    )
    .await;
    let rows = store
        .list(&PostFilter::Tag("rust".into()), None, None, 50)
        .await
        .unwrap();
    assert_eq!(ids(&rows), newest_first(&[a, b, d]));
    assert!(!ids(&rows).contains(&c));
    let go = store
        .list(&PostFilter::Tag("go".into()), None, None, 50)
        .await
        .unwrap();
    assert_eq!(ids(&go), [b]);
    assert_eq!(go[0].hashtags, ["go", "rust"]);
    for unknown in ["rus", "RUST", "python"] {
        let rows = store
            .list(&PostFilter::Tag(unknown.into()), None, None, 50)
            .await
            .unwrap();
        assert!(rows.is_empty(), "tag {unknown:?} matched {rows:?}");
    }
}

pub async fn list_by_author_and_tag_needs_both(store: Store) {
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let a1 = create(&*store, tagged(alice, "#rust", &["rust"])).await;
    create(&*store, tagged(alice, "#go", &["go"])).await;
    create(&*store, tagged(bob, "#rust", &["rust"])).await;
    let a2 = create(&*store, tagged(alice, "#go #rust", &["go", "rust"])).await;
    create(&*store, post(alice, "untagged")).await;
    let rows = store
        .list(&PostFilter::AuthorTag(alice, "rust".into()), None, None, 50)
        .await
        .unwrap();
    assert_eq!(ids(&rows), [a2, a1]);
    let page = store
        .list(
            &PostFilter::AuthorTag(alice, "rust".into()),
            None,
            Some(a2),
            50,
        )
        .await
        .unwrap();
    assert_eq!(ids(&page), [a1]);
    let none = store
        .list(&PostFilter::AuthorTag(bob, "go".into()), None, None, 50)
        .await
        .unwrap();
    assert!(none.is_empty());
}

pub async fn replies_are_oldest_first_and_direct_only(store: Store) {
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let parent = create(&*store, post(alice, "parent")).await;
    let other = create(&*store, post(alice, "other")).await;
    let mut replies = Vec::new();
    for i in 0..4 {
        let author = if i % 2 == 0 { bob } else { alice };
        replies.push(create(&*store, reply(author, parent, &format!("reply {i}"))).await);
        create(&*store, reply(bob, other, "elsewhere")).await;
    }
    create(&*store, reply(alice, replies[0], "nested")).await;
    let rows = store
        .list(&PostFilter::Replies(parent), None, None, 50)
        .await
        .unwrap();
    let mut oldest_first = replies.clone();
    oldest_first.sort();
    assert_eq!(ids(&rows), oldest_first);
    assert_eq!(rows[0].text, "reply 0");
    assert!(rows.iter().all(|r| r.reply_to == Some(parent)));
    assert_eq!(
        rows[0].reply_count, 1,
        "the nested reply counts on its parent"
    );
    let none = store
        .list(&PostFilter::Replies(replies[1]), None, None, 50)
        .await
        .unwrap();
    assert!(none.is_empty());
}

pub async fn after_cursor_is_strict(store: Store) {
    let author = Uuid::now_v7();
    let created = create_many(&*store, author, 5).await;
    let desc = newest_first(&created);
    let rows = store
        .list(&PostFilter::All, None, Some(desc[1]), 50)
        .await
        .unwrap();
    assert_eq!(ids(&rows), desc[2..], "the cursor's own post is left out");
    let rows = store
        .list(&PostFilter::Author(author), None, Some(desc[4]), 50)
        .await
        .unwrap();
    assert!(rows.is_empty(), "nothing is older than the oldest");
    // A cursor need not be a stored post: it is a position.
    let between = Uuid::now_v7();
    let newer = create(&*store, post(author, "after the cursor id")).await;
    let rows = store
        .list(&PostFilter::All, None, Some(between), 50)
        .await
        .unwrap();
    assert_eq!(ids(&rows), desc);
    assert!(!ids(&rows).contains(&newer));
}

pub async fn replies_after_cursor_is_strict(store: Store) {
    let author = Uuid::now_v7();
    let parent = create(&*store, post(author, "parent")).await;
    let mut replies = Vec::new();
    for i in 0..4 {
        replies.push(create(&*store, reply(author, parent, &format!("r{i}"))).await);
    }
    let rows = store
        .list(&PostFilter::Replies(parent), None, Some(replies[1]), 50)
        .await
        .unwrap();
    assert_eq!(ids(&rows), replies[2..]);
    let rows = store
        .list(&PostFilter::Replies(parent), None, Some(replies[3]), 50)
        .await
        .unwrap();
    assert!(rows.is_empty());
}

pub async fn limit_caps_the_page(store: Store) {
    let created = create_many(&*store, Uuid::now_v7(), 4).await;
    let desc = newest_first(&created);
    let one = store.list(&PostFilter::All, None, None, 1).await.unwrap();
    assert_eq!(ids(&one), desc[..1]);
    let three = store.list(&PostFilter::All, None, None, 3).await.unwrap();
    assert_eq!(ids(&three), desc[..3]);
    let all = store
        .list(&PostFilter::All, None, None, 1000)
        .await
        .unwrap();
    assert_eq!(ids(&all), desc);
    let none = store.list(&PostFilter::All, None, None, 0).await.unwrap();
    assert!(none.is_empty());
}

/// Walks a listing page by page as the service does, calling `between` after each page.
async fn walk<F, Fut>(
    store: &dyn PostStore,
    filter: &PostFilter,
    size: u32,
    between: F,
) -> Vec<Uuid>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut seen = Vec::new();
    let mut after = None;
    for page in 0.. {
        let rows = store.list(filter, None, after, size).await.unwrap();
        assert!(rows.len() <= size as usize);
        let Some(last) = rows.last() else { break };
        after = Some(last.id);
        seen.extend(ids(&rows));
        between(page).await;
        assert!(page < 100, "pagination does not end");
    }
    seen
}

pub async fn pages_cover_every_post_exactly_once(store: Store) {
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let mut created = create_many(&*store, alice, 7).await;
    created.extend(create_many(&*store, bob, 4).await);
    for size in [1, 3, 4, 11, 50] {
        let seen = walk(&*store, &PostFilter::All, size, |_| async {}).await;
        assert_eq!(seen, newest_first(&created), "page size {size}");
    }
    let seen = walk(&*store, &PostFilter::Author(bob), 3, |_| async {}).await;
    assert_eq!(seen, newest_first(&created[7..]));
}

/// An author with more posts than any store keeps in memory for a page: every page, deep
/// ones included, and the reader's own newer posts on a home page, follow creations and
/// deletions.
pub async fn an_authors_pages_follow_posts_and_deletions_past_any_window(store: Store) {
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let mut created = create_many(&*store, alice, 150).await;
    for size in [7, 20, 64, 100] {
        let seen = walk(&*store, &PostFilter::Author(alice), size, |_| async {}).await;
        assert_eq!(seen, newest_first(&created), "page size {size}");
    }
    // A deletion inside the newest posts, one deep down, then new posts.
    for gone in [created.remove(140), created.remove(3)] {
        assert_eq!(
            store.delete_post(gone, alice).await.unwrap(),
            Deleted::Deleted
        );
    }
    created.extend(create_many(&*store, alice, 5).await);
    let seen = walk(&*store, &PostFilter::Author(alice), 20, |_| async {}).await;
    assert_eq!(seen, newest_first(&created));
    // Alice's newer posts than a point of her home timeline (none of the followed ids).
    let own = |after: Option<Uuid>| PostFilter::IdsOrOwn {
        ids: Vec::new(),
        author: alice,
        after,
    };
    let newest = newest_first(&created);
    for (after, expected) in [
        (Some(newest[3]), &newest[..3]),
        (Some(newest[100]), &newest[..20]),
        (None, &newest[..20]),
    ] {
        let rows = store.list(&own(after), Some(bob), None, 20).await.unwrap();
        assert_eq!(ids(&rows), expected, "own posts after {after:?}");
    }
    // Someone else's deletion attempt changes nothing.
    assert_eq!(
        store.delete_post(newest[0], bob).await.unwrap(),
        Deleted::NotAuthor
    );
    let rows = store
        .list(&PostFilter::Author(alice), None, None, 1)
        .await
        .unwrap();
    assert_eq!(ids(&rows), [newest[0]]);
}

pub async fn pages_are_stable_while_new_posts_arrive(store: Store) {
    let author = Uuid::now_v7();
    let created = create_many(&*store, author, 9).await;
    let seen = walk(&*store, &PostFilter::All, 2, |page| {
        let store = store.clone();
        async move {
            create(&*store, post(author, &format!("arrived after page {page}"))).await;
        }
    })
    .await;
    assert_eq!(
        seen,
        newest_first(&created),
        "new posts are newer than the cursor: every old post once, no new one"
    );
    assert_eq!(store.count_by_author(author).await.unwrap(), 9 + 5);
}

pub async fn reply_pages_cover_every_reply_exactly_once(store: Store) {
    let author = Uuid::now_v7();
    let parent = create(&*store, post(author, "parent")).await;
    let mut replies = Vec::new();
    for i in 0..7 {
        replies.push(create(&*store, reply(author, parent, &format!("r{i}"))).await);
    }
    let filter = PostFilter::Replies(parent);
    let seen = walk(&*store, &filter, 3, |page| {
        let store = store.clone();
        async move {
            if page < 2 {
                create(&*store, reply(author, parent, "late")).await;
            }
        }
    })
    .await;
    // Later replies sort after the cursor, so a reader walking oldest first meets them too.
    assert_eq!(seen[..7], replies[..]);
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "oldest first, no repeats"
    );
    let total = store.post(parent, None).await.unwrap().unwrap().reply_count;
    assert_eq!(total, 9);
    assert_eq!(seen.len() as i64, total, "every reply once");
}

// ---- counts ----

pub async fn counts_and_liked_by_me_follow_the_viewer(store: Store) {
    let (alice, bob, carol) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let liked = create(&*store, post(alice, "liked")).await;
    let plain = create(&*store, post(alice, "plain")).await;
    create(&*store, reply(bob, liked, "r1")).await;
    create(&*store, reply(carol, liked, "r2")).await;
    assert!(store.like(liked, &liker(bob), Utc::now()).await.unwrap());
    assert!(store.like(liked, &liker(carol), Utc::now()).await.unwrap());

    for (viewer, expected) in [
        (Some(bob), true),
        (Some(carol), true),
        (Some(alice), false),
        (None, false),
    ] {
        let row = store.post(liked, viewer).await.unwrap().unwrap();
        assert_eq!(row.like_count, 2);
        assert_eq!(row.reply_count, 2);
        assert_eq!(row.liked_by_me, expected, "viewer {viewer:?}");
        let rows = store
            .list(&PostFilter::Author(alice), viewer, None, 10)
            .await
            .unwrap();
        assert_eq!(ids(&rows), [plain, liked]);
        assert_eq!((rows[1].like_count, rows[1].reply_count), (2, 2));
        assert_eq!(rows[1].liked_by_me, expected, "listed, viewer {viewer:?}");
        assert_eq!((rows[0].like_count, rows[0].reply_count), (0, 0));
        assert!(!rows[0].liked_by_me);
    }
    let replies = store
        .list(&PostFilter::Replies(liked), Some(bob), None, 10)
        .await
        .unwrap();
    assert!(replies.iter().all(|r| r.like_count == 0 && !r.liked_by_me));
}

/// Every way a page is read shows each change made after an earlier read of that page
/// (stores that keep rows in memory must forget what a change made stale).
pub async fn pages_read_before_a_change_show_it_after(store: Store) {
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let first = create(&*store, post(alice, "first")).await;
    let second = create(&*store, post(alice, "second")).await;
    // Every read below: (like count, reply count, liked by bob) of `first`, or None when
    // the read does not show it.
    let reads = |store: Store| async move {
        let by_id = store
            .post(first, Some(bob))
            .await
            .unwrap()
            .map(|r| (r.like_count, r.reply_count, r.liked_by_me));
        let mut seen = vec![by_id];
        for filter in [
            PostFilter::Ids(vec![first, second]),
            PostFilter::Author(alice),
            PostFilter::IdsOrOwn {
                ids: vec![first],
                author: bob,
                after: None,
            },
        ] {
            let rows = store.list(&filter, Some(bob), None, 10).await.unwrap();
            seen.push(
                rows.iter()
                    .find(|r| r.id == first)
                    .map(|r| (r.like_count, r.reply_count, r.liked_by_me)),
            );
        }
        seen
    };
    assert_eq!(reads(store.clone()).await, vec![Some((0, 0, false)); 4]);
    assert!(store.like(first, &liker(bob), Utc::now()).await.unwrap());
    assert_eq!(reads(store.clone()).await, vec![Some((1, 0, true)); 4]);
    let answer = create(&*store, reply(bob, first, "answer")).await;
    assert_eq!(reads(store.clone()).await, vec![Some((1, 1, true)); 4]);
    assert!(store.unlike(first, bob, Utc::now()).await.unwrap());
    assert_eq!(reads(store.clone()).await, vec![Some((0, 1, false)); 4]);
    assert_eq!(
        store.delete_post(answer, bob).await.unwrap(),
        Deleted::Deleted
    );
    assert_eq!(reads(store.clone()).await, vec![Some((0, 0, false)); 4]);
    assert_eq!(
        store.delete_post(first, alice).await.unwrap(),
        Deleted::Deleted
    );
    assert_eq!(reads(store.clone()).await, vec![None; 4]);
    // The other post was not touched.
    let rows = store
        .list(&PostFilter::Ids(vec![first, second]), None, None, 10)
        .await
        .unwrap();
    assert_eq!(ids(&rows), [second]);
}

// ---- delete ----

pub async fn author_deletes_own_post(store: Store) {
    let author = Uuid::now_v7();
    let gone = create(&*store, post(author, "bye")).await;
    let kept = create(&*store, post(author, "stays")).await;
    assert_eq!(
        store.delete_post(gone, author).await.unwrap(),
        Deleted::Deleted
    );
    assert!(store.post(gone, None).await.unwrap().is_none());
    assert!(store.post(kept, None).await.unwrap().is_some());
    let rows = store.list(&PostFilter::All, None, None, 10).await.unwrap();
    assert_eq!(ids(&rows), [kept]);
    assert_eq!(store.count_by_author(author).await.unwrap(), 1);
    assert_eq!(
        store.delete_post(gone, author).await.unwrap(),
        Deleted::NotFound,
        "deleting twice"
    );
}

pub async fn someone_else_cannot_delete_a_post(store: Store) {
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let id = create(&*store, tagged(alice, "mine #rust", &["rust"])).await;
    assert!(store.like(id, &liker(bob), Utc::now()).await.unwrap());
    assert_eq!(
        store.delete_post(id, bob).await.unwrap(),
        Deleted::NotAuthor
    );
    let row = store.post(id, Some(bob)).await.unwrap().unwrap();
    assert_eq!(row.like_count, 1);
    assert!(row.liked_by_me);
    let tagged_rows = store
        .list(&PostFilter::Tag("rust".into()), None, None, 10)
        .await
        .unwrap();
    assert_eq!(ids(&tagged_rows), [id]);
}

pub async fn deleting_unknown_post_is_not_found(store: Store) {
    let author = Uuid::now_v7();
    create(&*store, post(author, "unrelated")).await;
    assert_eq!(
        store.delete_post(Uuid::now_v7(), author).await.unwrap(),
        Deleted::NotFound
    );
    assert_eq!(store.count_by_author(author).await.unwrap(), 1);
}

pub async fn deleting_cascades_likes_and_tags(backend: &Backend) {
    let store = &*backend.store;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let gone = create(store, tagged(alice, "#a #b", &["a", "b"])).await;
    let kept = create(store, tagged(alice, "#a", &["a"])).await;
    for user in [alice, bob] {
        assert!(store.like(gone, &liker(user), Utc::now()).await.unwrap());
    }
    assert!(store.like(kept, &liker(bob), Utc::now()).await.unwrap());
    assert_eq!(backend.probe.rows("post_tags").await, 3);
    assert_eq!(backend.probe.rows("likes").await, 3);

    assert_eq!(
        store.delete_post(gone, alice).await.unwrap(),
        Deleted::Deleted
    );
    assert_eq!(
        backend.probe.rows("post_tags").await,
        1,
        "its tags went with it"
    );
    assert_eq!(
        backend.probe.rows("likes").await,
        1,
        "its likes went with it"
    );
    let a = store
        .list(&PostFilter::Tag("a".into()), None, None, 10)
        .await
        .unwrap();
    assert_eq!(ids(&a), [kept]);
    assert!(store
        .list(&PostFilter::Tag("b".into()), None, None, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        store.like(gone, &liker(bob), Utc::now()).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.unlike(gone, bob, Utc::now()).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store
            .post(kept, Some(bob))
            .await
            .unwrap()
            .unwrap()
            .like_count,
        1
    );
}

pub async fn deleting_a_reply_lowers_its_parents_count(store: Store) {
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let parent = create(&*store, post(alice, "parent")).await;
    let r1 = create(&*store, reply(bob, parent, "r1")).await;
    let r2 = create(&*store, reply(alice, parent, "r2")).await;
    let nested = create(&*store, reply(alice, r1, "nested")).await;
    assert!(store.like(r1, &liker(alice), Utc::now()).await.unwrap());
    assert_eq!(
        store.post(parent, None).await.unwrap().unwrap().reply_count,
        2
    );
    assert_eq!(
        store.delete_post(r2, alice).await.unwrap(),
        Deleted::Deleted
    );
    let row = store.post(parent, None).await.unwrap().unwrap();
    assert_eq!(row.reply_count, 1, "r2 no longer counts");
    // Deleting r1 (liked, replied to) changes no other post's like count.
    assert_eq!(store.delete_post(r1, bob).await.unwrap(), Deleted::Deleted);
    let row = store.post(parent, None).await.unwrap().unwrap();
    assert_eq!((row.reply_count, row.like_count), (0, 0));
    let row = store.post(nested, None).await.unwrap().unwrap();
    assert_eq!((row.reply_count, row.like_count), (0, 0));
}

pub async fn deleting_a_parent_keeps_its_replies(store: Store) {
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let parent = create(&*store, post(alice, "parent")).await;
    let r1 = create(&*store, reply(bob, parent, "r1")).await;
    let r2 = create(&*store, reply(alice, parent, "r2")).await;
    assert_eq!(
        store.delete_post(parent, alice).await.unwrap(),
        Deleted::Deleted
    );
    // Replies stay, still naming the deleted parent.
    let row = store.post(r1, None).await.unwrap().unwrap();
    assert_eq!(row.reply_to, Some(parent));
    let replies = store
        .list(&PostFilter::Replies(parent), None, None, 10)
        .await
        .unwrap();
    assert_eq!(ids(&replies), [r1, r2]);
    assert_eq!(store.count_by_author(bob).await.unwrap(), 1);
    assert_eq!(store.count_by_author(alice).await.unwrap(), 1);
    // But no new reply can be made to it.
    let err = store
        .create_post(&reply(bob, parent, "too late"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ReplyTargetMissing), "{err:?}");
}

// ---- likes ----

pub async fn like_is_idempotent(store: Store) {
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let id = create(&*store, post(alice, "like me")).await;
    assert!(
        store.like(id, &liker(bob), Utc::now()).await.unwrap(),
        "new like"
    );
    assert!(
        !store
            .like(id, &liker(bob), Utc::now() + Duration::seconds(1))
            .await
            .unwrap(),
        "liking again stores nothing"
    );
    let row = store.post(id, Some(bob)).await.unwrap().unwrap();
    assert_eq!(row.like_count, 1);
    assert!(row.liked_by_me);
}

pub async fn unlike_is_idempotent(store: Store) {
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let id = create(&*store, post(alice, "like me")).await;
    assert!(
        !store.unlike(id, bob, Utc::now()).await.unwrap(),
        "nothing to remove"
    );
    assert!(store.like(id, &liker(bob), Utc::now()).await.unwrap());
    assert!(store.like(id, &liker(alice), Utc::now()).await.unwrap());
    assert!(store.unlike(id, bob, Utc::now()).await.unwrap(), "removed");
    assert!(
        !store.unlike(id, bob, Utc::now()).await.unwrap(),
        "already removed"
    );
    let row = store.post(id, Some(bob)).await.unwrap().unwrap();
    assert_eq!(row.like_count, 1, "alice's like stays");
    assert!(!row.liked_by_me);
    assert!(
        store.like(id, &liker(bob), Utc::now()).await.unwrap(),
        "likes again"
    );
    assert_eq!(store.post(id, None).await.unwrap().unwrap().like_count, 2);
}

pub async fn like_and_unlike_unknown_post_are_not_found(store: Store) {
    let user = Uuid::now_v7();
    create(&*store, post(user, "exists")).await;
    let unknown = Uuid::now_v7();
    let err = store
        .like(unknown, &liker(user), Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    let err = store.unlike(unknown, user, Utc::now()).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

// ---- idempotency keys ----

pub async fn replayed_key_returns_first_post(store: Store) {
    let author = Uuid::now_v7();
    let first = tagged(author, "once #rust", &["rust"]);
    let k = key("retry-me", "hash-1");
    assert_eq!(
        store.create_post(&first, Some(&k)).await.unwrap(),
        Created::New(first.id)
    );
    let retry = tagged(author, "once #rust", &["rust"]);
    assert_ne!(retry.id, first.id);
    assert_eq!(
        store.create_post(&retry, Some(&k)).await.unwrap(),
        Created::Replayed(first.id)
    );
    assert!(store.post(retry.id, None).await.unwrap().is_none());
    assert_eq!(store.count_by_author(author).await.unwrap(), 1);
    let tagged_rows = store
        .list(&PostFilter::Tag("rust".into()), None, None, 10)
        .await
        .unwrap();
    assert_eq!(ids(&tagged_rows), [first.id], "no second set of tags");
    // Another key is another request.
    let other = post(author, "once #rust");
    assert_eq!(
        store
            .create_post(&other, Some(&key("another", "hash-1")))
            .await
            .unwrap(),
        Created::New(other.id)
    );
}

pub async fn reused_key_with_different_request_is_a_mismatch(store: Store) {
    let author = Uuid::now_v7();
    let first = post(author, "first");
    store
        .create_post(&first, Some(&key("k", "hash-1")))
        .await
        .unwrap();
    let different = post(author, "different");
    let err = store
        .create_post(&different, Some(&key("k", "hash-2")))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::IdempotencyMismatch), "{err:?}");
    assert!(store.post(different.id, None).await.unwrap().is_none());
    assert_eq!(store.count_by_author(author).await.unwrap(), 1);
    // The key still stands for the first request.
    assert_eq!(
        store
            .create_post(&post(author, "first"), Some(&key("k", "hash-1")))
            .await
            .unwrap(),
        Created::Replayed(first.id)
    );
}

pub async fn different_users_may_reuse_a_key(store: Store) {
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let k = key("same-key", "same-hash");
    let a = post(alice, "same");
    let b = post(bob, "same");
    assert_eq!(
        store.create_post(&a, Some(&k)).await.unwrap(),
        Created::New(a.id)
    );
    assert_eq!(
        store.create_post(&b, Some(&k)).await.unwrap(),
        Created::New(b.id)
    );
    let b_other = post(bob, "other");
    let err = store
        .create_post(&b_other, Some(&key("same-key", "other-hash")))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::IdempotencyMismatch), "{err:?}");
    assert_eq!(store.count_by_author(alice).await.unwrap(), 1);
    assert_eq!(store.count_by_author(bob).await.unwrap(), 1);
}

pub async fn purged_keys_are_forgotten_and_newer_ones_kept(store: Store) {
    let author = Uuid::now_v7();
    let now = Utc::now();
    let old = NewPost {
        created_at: now - Duration::hours(2),
        ..post(author, "long ago")
    };
    let recent = post(author, "just now");
    store
        .create_post(&old, Some(&key("old", "hash-old")))
        .await
        .unwrap();
    store
        .create_post(&recent, Some(&key("recent", "hash-recent")))
        .await
        .unwrap();
    let cutoff = now - Duration::hours(1);
    assert_eq!(store.purge_idempotency_keys(cutoff).await.unwrap(), 1);
    assert_eq!(store.purge_idempotency_keys(cutoff).await.unwrap(), 0);
    // The purged key is free again (a new request); the recent one still replays. The
    // posts themselves stay.
    let again = post(author, "long ago");
    assert_eq!(
        store
            .create_post(&again, Some(&key("old", "hash-old")))
            .await
            .unwrap(),
        Created::New(again.id)
    );
    assert_eq!(
        store
            .create_post(
                &post(author, "just now"),
                Some(&key("recent", "hash-recent"))
            )
            .await
            .unwrap(),
        Created::Replayed(recent.id)
    );
    assert!(store.post(old.id, None).await.unwrap().is_some());
}

pub async fn failed_create_does_not_use_up_its_key(store: Store) {
    let author = Uuid::now_v7();
    let k = key("k", "hash");
    let orphan = reply(author, Uuid::now_v7(), "to nowhere");
    let err = store.create_post(&orphan, Some(&k)).await.unwrap_err();
    assert!(matches!(err, StoreError::ReplyTargetMissing), "{err:?}");
    let next = post(author, "works");
    assert_eq!(
        store.create_post(&next, Some(&k)).await.unwrap(),
        Created::New(next.id),
        "the failed attempt left no key behind"
    );
}

pub async fn key_check_comes_before_the_reply_check(store: Store) {
    let author = Uuid::now_v7();
    let parent = create(&*store, post(author, "parent")).await;
    let first = reply(author, parent, "reply");
    let k = key("k", "hash");
    store.create_post(&first, Some(&k)).await.unwrap();
    assert_eq!(
        store.delete_post(parent, author).await.unwrap(),
        Deleted::Deleted
    );
    // A retry after the parent went is still a replay, not a missing reply target.
    assert_eq!(
        store
            .create_post(&reply(author, parent, "reply"), Some(&k))
            .await
            .unwrap(),
        Created::Replayed(first.id)
    );
    let err = store
        .create_post(&reply(author, parent, "reply"), Some(&key("k", "other")))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::IdempotencyMismatch), "{err:?}");
}

pub async fn key_replays_its_post_even_after_the_post_is_deleted(store: Store) {
    let author = Uuid::now_v7();
    let first = post(author, "short-lived");
    let k = key("k", "hash");
    store.create_post(&first, Some(&k)).await.unwrap();
    assert_eq!(
        store.delete_post(first.id, author).await.unwrap(),
        Deleted::Deleted
    );
    let retry = post(author, "short-lived");
    assert_eq!(
        store.create_post(&retry, Some(&k)).await.unwrap(),
        Created::Replayed(first.id),
        "the key outlives its post: a late retry creates nothing"
    );
    assert_eq!(store.count_by_author(author).await.unwrap(), 0);
}

// ---- concurrency ----

/// Runs `n` operations at once: connections are opened first and the operations start
/// together behind a barrier, so they overlap inside the database.
async fn race<T, F, Fut>(store: &Store, n: usize, op: F) -> Vec<T>
where
    F: Fn(Store, usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let mut warm = JoinSet::new();
    for _ in 0..n {
        let store = store.clone();
        warm.spawn(async move { store.count_by_author(Uuid::nil()).await.unwrap() });
    }
    warm.join_all().await;
    let barrier = Arc::new(Barrier::new(n));
    let mut tasks = JoinSet::new();
    for i in 0..n {
        let barrier = barrier.clone();
        let op = op(store.clone(), i);
        tasks.spawn(async move {
            barrier.wait().await;
            op.await
        });
    }
    tasks.join_all().await
}

pub async fn concurrent_creates_with_one_key_create_one_post(store: Store) {
    for round in 0..3 {
        let author = Uuid::now_v7();
        let outcomes = race(&store, 10, |store, _| async move {
            let attempt = tagged(author, "double click #rust", &["rust"]);
            let created = store
                .create_post(&attempt, Some(&key("click", "hash")))
                .await
                .unwrap();
            (attempt.id, created)
        })
        .await;
        let new: Vec<Uuid> = outcomes
            .iter()
            .filter_map(|(attempted, created)| match created {
                Created::New(id) => {
                    assert_eq!(id, attempted);
                    Some(*id)
                }
                Created::Replayed(_) => None,
            })
            .collect();
        assert_eq!(new.len(), 1, "round {round}: one new post: {outcomes:?}");
        let winner = new[0];
        for (_, created) in &outcomes {
            assert!(
                *created == Created::New(winner) || *created == Created::Replayed(winner),
                "{outcomes:?}"
            );
        }
        assert_eq!(store.count_by_author(author).await.unwrap(), 1);
        let rows = store
            .list(&PostFilter::Author(author), None, None, 50)
            .await
            .unwrap();
        assert_eq!(ids(&rows), [winner]);
    }
    let tagged_rows = store
        .list(&PostFilter::Tag("rust".into()), None, None, 50)
        .await
        .unwrap();
    assert_eq!(tagged_rows.len(), 3, "one set of tags per round");
}

pub async fn concurrent_creates_with_different_keys_all_succeed(store: Store) {
    let author = Uuid::now_v7();
    let parent = create(&*store, post(author, "parent")).await;
    let created = race(&store, 10, |store, i| async move {
        let attempt = reply(author, parent, &format!("reply {i}"));
        let created = store
            .create_post(&attempt, Some(&key(&format!("k{i}"), "hash")))
            .await
            .unwrap();
        assert_eq!(created, Created::New(attempt.id));
        attempt.id
    })
    .await;
    let created: HashSet<Uuid> = created.into_iter().collect();
    assert_eq!(created.len(), 10);
    assert_eq!(store.count_by_author(author).await.unwrap(), 11);
    let row = store.post(parent, None).await.unwrap().unwrap();
    assert_eq!(row.reply_count, 10);
}

pub async fn concurrent_likes_by_one_user_store_one_like(store: Store) {
    let alice = Uuid::now_v7();
    let id = create(&*store, post(alice, "popular")).await;
    for round in 0..5 {
        let user = Uuid::now_v7();
        let stored = race(&store, 10, |store, _| async move {
            store.like(id, &liker(user), Utc::now()).await.unwrap()
        })
        .await;
        assert_eq!(
            stored.iter().filter(|s| **s).count(),
            1,
            "round {round}: exactly one like was new: {stored:?}"
        );
        let row = store.post(id, Some(user)).await.unwrap().unwrap();
        assert_eq!(row.like_count, round + 1);
        assert!(row.liked_by_me);
    }
}

pub async fn concurrent_unlikes_remove_one_like(store: Store) {
    let alice = Uuid::now_v7();
    let id = create(&*store, post(alice, "popular")).await;
    for round in 0..5 {
        let user = Uuid::now_v7();
        assert!(store.like(id, &liker(user), Utc::now()).await.unwrap());
        let removed = race(&store, 10, |store, _| async move {
            store.unlike(id, user, Utc::now()).await.unwrap()
        })
        .await;
        assert_eq!(
            removed.iter().filter(|r| **r).count(),
            1,
            "round {round}: {removed:?}"
        );
        assert_eq!(store.post(id, None).await.unwrap().unwrap().like_count, 0);
    }
}

pub async fn concurrent_likes_by_many_users_all_count(store: Store) {
    let alice = Uuid::now_v7();
    let id = create(&*store, post(alice, "popular")).await;
    let stored = race(&store, 10, |store, _| async move {
        store
            .like(id, &liker(Uuid::now_v7()), Utc::now())
            .await
            .unwrap()
    })
    .await;
    assert!(stored.into_iter().all(|s| s), "every like is new");
    assert_eq!(store.post(id, None).await.unwrap().unwrap().like_count, 10);
}

pub async fn concurrent_delete_and_likes_leave_no_like_behind(backend: &Backend) {
    let store = backend.store.clone();
    let alice = Uuid::now_v7();
    for _ in 0..30 {
        let id = create(&*store, post(alice, "short-lived")).await;
        let outcomes = race(&store, 8, |store, i| async move {
            if i == 0 {
                let deleted = store.delete_post(id, alice).await.unwrap();
                assert_eq!(deleted, Deleted::Deleted);
                None
            } else {
                Some(store.like(id, &liker(Uuid::now_v7()), Utc::now()).await)
            }
        })
        .await;
        for outcome in outcomes.into_iter().flatten() {
            match outcome {
                Ok(stored) => assert!(stored, "a like before the delete is new"),
                Err(StoreError::NotFound) => {}
                Err(other) => panic!("a like racing a delete failed: {other:?}"),
            }
        }
        assert!(store.post(id, None).await.unwrap().is_none());
    }
    assert_eq!(
        backend.probe.rows("likes").await,
        0,
        "no like outlives its post"
    );
}

// ---- counting ----

pub async fn count_by_author_counts_posts_and_replies(store: Store) {
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    assert_eq!(store.count_by_author(alice).await.unwrap(), 0);
    let alices = create_many(&*store, alice, 3).await;
    create(&*store, reply(alice, alices[0], "reply")).await;
    create_many(&*store, bob, 2).await;
    assert_eq!(store.count_by_author(alice).await.unwrap(), 4);
    assert_eq!(store.count_by_author(bob).await.unwrap(), 2);
    store.delete_post(alices[1], alice).await.unwrap();
    assert_eq!(store.count_by_author(alice).await.unwrap(), 3);
    assert_eq!(store.count_by_author(Uuid::now_v7()).await.unwrap(), 0);
}

// ---- schema ----

pub async fn migrations_are_idempotent(backend: &Backend) {
    let author = Uuid::now_v7();
    let id = create(&*backend.store, tagged(author, "#kept", &["kept"])).await;
    assert_eq!(
        backend.probe.migrate_again().await,
        0,
        "nothing left to apply"
    );
    assert_eq!(backend.probe.migrate_again().await, 0);
    let row = backend.store.post(id, None).await.unwrap().unwrap();
    assert_eq!(row.hashtags, ["kept"]);
    assert_eq!(backend.store.count_by_author(author).await.unwrap(), 1);
}

pub async fn counts_migration_recounts_existing_likes_and_replies(backend: &Backend) {
    let store = &backend.store;
    let (alice, bob, carol) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let parent = create(&**store, post(alice, "parent")).await;
    let quiet = create(&**store, post(alice, "quiet")).await;
    let r1 = create(&**store, reply(bob, parent, "r1")).await;
    create(&**store, reply(carol, parent, "r2")).await;
    create(&**store, reply(alice, r1, "nested")).await;
    for user in [alice, bob, carol] {
        assert!(store.like(parent, &liker(user), Utc::now()).await.unwrap());
    }
    assert!(store.like(r1, &liker(carol), Utc::now()).await.unwrap());
    // The database as the release before the counts left it: the migration runs on it again.
    backend.probe.undo_last_migration().await;
    assert_eq!(backend.probe.migrate_again().await, 1);
    let counts = |row: PostRow| (row.like_count, row.reply_count);
    assert_eq!(
        counts(store.post(parent, None).await.unwrap().unwrap()),
        (3, 2)
    );
    assert_eq!(counts(store.post(r1, None).await.unwrap().unwrap()), (1, 1));
    assert_eq!(
        counts(store.post(quiet, None).await.unwrap().unwrap()),
        (0, 0)
    );
    // And the triggers keep them from then on.
    assert!(store.unlike(parent, bob, Utc::now()).await.unwrap());
    create(&**store, reply(bob, quiet, "late")).await;
    assert_eq!(
        counts(store.post(parent, None).await.unwrap().unwrap()),
        (2, 2)
    );
    assert_eq!(
        counts(store.post(quiet, None).await.unwrap().unwrap()),
        (0, 1)
    );
}

// ---- the transactional outbox ----

fn decode<E: socialdevs_events::EventType>(event: &socialdevs_events::CloudEvent) -> E {
    event
        .decode::<E>()
        .unwrap_or_else(|| panic!("expected {}, got {}", E::TYPE, event.kind))
        .unwrap()
}

pub async fn every_change_writes_its_event_in_the_same_transaction(backend: &Backend) {
    use socialdevs_events::types::{PostCreatedV1, PostDeletedV1, PostLikedV1, PostUnlikedV1};
    let store = &*backend.store;
    let (alice, bob, zoe) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let parent = create(store, post(alice, "parent")).await;
    let new = NewPost {
        hashtags: vec!["rust".into()],
        mentions: vec!["zoe".into()],
        mentioned_user_ids: vec![zoe],
        ..reply(bob, parent, "#rust @zoe")
    };
    let child = create(store, new.clone()).await;
    assert!(store.like(parent, &liker(bob), Utc::now()).await.unwrap());
    assert!(!store.like(parent, &liker(bob), Utc::now()).await.unwrap());
    assert!(store.unlike(parent, bob, Utc::now()).await.unwrap());
    assert!(!store.unlike(parent, bob, Utc::now()).await.unwrap());
    assert_eq!(
        store.delete_post(child, bob).await.unwrap(),
        Deleted::Deleted
    );

    let events = backend.probe.outbox().await;
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "dev.socialdevs.post.created.v1",
            "dev.socialdevs.post.created.v1",
            "dev.socialdevs.post.liked.v1",
            "dev.socialdevs.post.unliked.v1",
            "dev.socialdevs.post.deleted.v1",
        ],
        "one event per change, none for a no-op"
    );
    let created: PostCreatedV1 = decode(&events[1]);
    assert_eq!(created.post_id, child);
    assert_eq!(created.author_id, bob);
    assert_eq!(created.author_username, "author");
    assert_eq!(created.text, "#rust @zoe");
    assert_eq!(created.hashtags, ["rust"]);
    assert_eq!(created.mentions, ["zoe"]);
    assert_eq!(created.mentioned_user_ids, [zoe]);
    assert_eq!(created.reply_to, Some(parent));
    assert_eq!(
        created.reply_to_author_id,
        Some(alice),
        "the parent's author, read in the same transaction"
    );
    assert_eq!(events[1].subject, child.to_string(), "keyed by the post");
    let liked: PostLikedV1 = decode(&events[2]);
    assert_eq!(
        (liked.post_id, liked.post_author_id, liked.user_id),
        (parent, alice, bob)
    );
    assert_eq!(liked.user_username, liker(bob).username);
    let unliked: PostUnlikedV1 = decode(&events[3]);
    assert_eq!((unliked.post_id, unliked.post_author_id), (parent, alice));
    let deleted: PostDeletedV1 = decode(&events[4]);
    assert_eq!(
        (deleted.post_id, deleted.author_id, deleted.reply_to),
        (child, bob, Some(parent))
    );
}

pub async fn refused_and_failed_changes_write_no_event(backend: &Backend) {
    let store = &*backend.store;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let id = create(store, post(alice, "mine")).await;
    let before = backend.probe.outbox().await.len();
    assert_eq!(before, 1);
    // Refused before anything is written.
    assert!(store
        .create_post(&reply(bob, Uuid::now_v7(), "orphan"), None)
        .await
        .is_err());
    assert_eq!(
        store.delete_post(id, bob).await.unwrap(),
        Deleted::NotAuthor
    );
    assert!(store
        .like(Uuid::now_v7(), &liker(bob), Utc::now())
        .await
        .is_err());
    // Fails after the post row is written (the same tag twice breaks the tags' primary key):
    // the transaction rolls back whole, the event with it.
    let broken = NewPost {
        hashtags: vec!["dup".into(), "dup".into()],
        ..post(bob, "#dup #dup")
    };
    assert!(store.create_post(&broken, None).await.is_err());
    assert!(store.post(broken.id, None).await.unwrap().is_none());
    assert_eq!(
        backend.probe.outbox().await.len(),
        before,
        "no event for a change that did not commit"
    );
}

// ---- the authors cache ----

pub async fn author_cache_keeps_the_newest_version_only(store: Store) {
    use socialdevs_posts::model::Author;
    let id = Uuid::now_v7();
    let version = |name: &str| Author {
        id,
        username: "ada".into(),
        display_name: name.into(),
    };
    let t0 = precise_time();
    assert!(store.upsert_author(&version("Ada"), t0).await.unwrap());
    assert!(
        !store.upsert_author(&version("Ada"), t0).await.unwrap(),
        "the same version again changes nothing"
    );
    assert!(store
        .upsert_author(&version("Ada L."), t0 + Duration::seconds(2))
        .await
        .unwrap());
    assert!(
        !store
            .upsert_author(&version("Ada (late)"), t0 + Duration::seconds(1))
            .await
            .unwrap(),
        "an older version arriving late is ignored"
    );
    let unknown = Uuid::now_v7();
    let cached = store.cached_authors(&[id, unknown]).await.unwrap();
    assert_eq!(cached, [version("Ada L.")]);
    assert!(store.cached_authors(&[]).await.unwrap().is_empty());
}

pub async fn list_by_ids_shows_those_that_exist_newest_first(store: Store) {
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let a = create(&*store, post(alice, "a")).await;
    let b = create(&*store, post(bob, "b")).await;
    let c = create(&*store, post(alice, "c")).await;
    create(&*store, post(bob, "not asked for")).await;
    assert_eq!(store.delete_post(c, alice).await.unwrap(), Deleted::Deleted);
    let rows = store
        .list(
            &PostFilter::Ids(vec![a, c, b, Uuid::now_v7()]),
            Some(bob),
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(ids(&rows), [b, a], "deleted and unknown ids are left out");
    assert!(store
        .list(&PostFilter::Ids(vec![]), None, None, 10)
        .await
        .unwrap()
        .is_empty());
}

pub async fn list_by_ids_or_own_adds_the_readers_newer_posts(store: Store) {
    let (me, other) = (Uuid::now_v7(), Uuid::now_v7());
    let old_mine = create(&*store, post(me, "old mine")).await;
    let theirs = create(&*store, post(other, "theirs")).await;
    let newer_mine = create(&*store, post(me, "newer mine")).await;
    create(&*store, post(other, "not asked for")).await;
    let filter = |after| PostFilter::IdsOrOwn {
        ids: vec![theirs],
        author: me,
        after,
    };
    let rows = store
        .list(&filter(Some(theirs)), Some(me), None, 10)
        .await
        .unwrap();
    assert_eq!(
        ids(&rows),
        [newer_mine, theirs],
        "own posts after `after` only"
    );
    let rows = store.list(&filter(None), Some(me), None, 10).await.unwrap();
    assert_eq!(ids(&rows), [newer_mine, theirs, old_mine]);
}
