//! The notifications store conformance suite: one set of behaviours, run against every
//! adapter, each behaviour a test of its own (`sqlite::…`, `postgres::…`).
//!
//! The PostgreSQL tests use the server named by `SOCIALDEVS_TEST_DATABASE_URL`, or start a
//! throwaway cluster (see `socialdevs_testkit::postgres`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use socialdevs_events::types::NotificationCreatedV1;
use socialdevs_events::CloudEvent;
use socialdevs_notifications::migrations::{POSTGRES, SQLITE};
use socialdevs_notifications::model::{Kind, NewNotification, NotificationRow, Window};
use socialdevs_notifications::store::{
    NotificationStore, PgNotificationStore, SqliteNotificationStore,
};
use socialdevs_notifications::SERVICE;
use socialdevs_platform::db::{migrate_postgres, migrate_sqlite, PgDb, PgPoolSettings, SqliteDb};
use uuid::Uuid;

/// What a behaviour sees of a store's database besides the store.
#[async_trait(?Send)]
trait Probe {
    /// Every event in the service's outbox, in write order.
    async fn outbox(&self) -> Vec<CloudEvent>;
    /// Runs the migrations again; how many were applied.
    async fn migrate_again(&self) -> usize;
}

struct Backend {
    store: Arc<dyn NotificationStore>,
    probe: Box<dyn Probe>,
    _keep: Box<dyn Any>,
}

fn events(payloads: Vec<String>) -> Vec<CloudEvent> {
    payloads
        .iter()
        .map(|p| serde_json::from_str(p).unwrap())
        .collect()
}

struct SqliteProbe(SqliteDb);

#[async_trait(?Send)]
impl Probe for SqliteProbe {
    async fn outbox(&self) -> Vec<CloudEvent> {
        events(
            sqlx::query_scalar("SELECT payload FROM notifications_outbox ORDER BY seq")
                .fetch_all(&self.0.reader)
                .await
                .unwrap(),
        )
    }

    async fn migrate_again(&self) -> usize {
        migrate_sqlite(&self.0, SERVICE, SQLITE).await.unwrap()
    }
}

async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("socialdevs.db").display());
    let db = SqliteDb::open(&url).await.unwrap();
    assert_eq!(
        migrate_sqlite(&db, SERVICE, SQLITE).await.unwrap(),
        SQLITE.len()
    );
    Backend {
        store: Arc::new(SqliteNotificationStore::new(db.clone())),
        probe: Box::new(SqliteProbe(db)),
        _keep: Box::new(dir),
    }
}

struct PgProbe(PgDb);

#[async_trait(?Send)]
impl Probe for PgProbe {
    async fn outbox(&self) -> Vec<CloudEvent> {
        events(
            sqlx::query_scalar("SELECT payload FROM outbox ORDER BY seq")
                .fetch_all(self.0.pool())
                .await
                .unwrap(),
        )
    }

    async fn migrate_again(&self) -> usize {
        migrate_postgres(&self.0, POSTGRES).await.unwrap()
    }
}

async fn postgres() -> Backend {
    let database = socialdevs_testkit::postgres::database().await.unwrap();
    let db = PgDb::connect(&database.url, SERVICE, &PgPoolSettings::default()).unwrap();
    assert_eq!(
        migrate_postgres(&db, POSTGRES).await.unwrap(),
        POSTGRES.len()
    );
    Backend {
        store: Arc::new(PgNotificationStore::new(db.clone())),
        probe: Box::new(PgProbe(db)),
        _keep: Box::new(database),
    }
}

macro_rules! conformance {
    ($($backend:ident),+ $(,)?) => {
        $(
            mod $backend {
                conformance!(@tests $backend;
                    add_then_list_round_trips_every_field,
                    a_repeat_stores_and_publishes_nothing,
                    every_new_notification_writes_its_event,
                    lists_are_per_recipient_and_newest_first,
                    pages_cover_every_notification_exactly_once,
                    newer_than_and_only_windows,
                    an_unread_like_taken_back_is_hidden_and_comes_back_without_an_event,
                    a_read_like_taken_back_stays,
                    removing_a_post_removes_its_notifications_only,
                    unread_count_and_mark_all_read,
                    mark_read_up_to_marks_that_one_and_older,
                    migrations_are_idempotent,
                );
            }
        )+
    };
    (@tests $backend:ident; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let backend = crate::$backend().await;
                crate::$name(&backend).await;
            }
        )+
    };
}

conformance!(sqlite, postgres);

fn note(recipient: Uuid, kind: Kind, actor: Uuid, post: Option<Uuid>) -> NewNotification {
    NewNotification {
        id: Uuid::now_v7(),
        recipient_id: recipient,
        kind,
        actor_id: actor,
        post_id: post,
        created_at: Utc::now(),
    }
}

fn ids(rows: &[NotificationRow]) -> Vec<Uuid> {
    rows.iter().map(|r| r.id).collect()
}

async fn all(store: &dyn NotificationStore, recipient: Uuid) -> Vec<NotificationRow> {
    store
        .list(recipient, Window::OlderThan(None), 100)
        .await
        .unwrap()
}

fn precise_time() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 123_456_789).unwrap()
}

async fn add_then_list_round_trips_every_field(b: &Backend) {
    let (me, actor, post) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let liked = NewNotification {
        created_at: precise_time(),
        ..note(me, Kind::Liked, actor, Some(post))
    };
    let followed = note(me, Kind::Followed, actor, None);
    let added = b
        .store
        .add(&[liked.clone(), followed.clone()])
        .await
        .unwrap();
    assert_eq!(ids(&added), [liked.id, followed.id]);
    let rows = all(b.store.as_ref(), me).await;
    assert_eq!(rows.len(), 2);
    let (f, l) = (&rows[0], &rows[1]);
    assert_eq!(
        (f.id, f.recipient_id, f.kind, f.actor_id, f.post_id, f.read),
        (followed.id, me, Kind::Followed, actor, None, false)
    );
    assert_eq!(
        (l.id, l.kind, l.post_id, l.read),
        (liked.id, Kind::Liked, Some(post), false)
    );
    assert_eq!(
        l.created_at,
        DateTime::from_timestamp(1_767_225_600, 123_456_000).unwrap(),
        "kept to the microsecond"
    );
    assert_eq!(added, rows.iter().rev().cloned().collect::<Vec<_>>());
}

async fn a_repeat_stores_and_publishes_nothing(b: &Backend) {
    let (me, actor, post) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let first = b
        .store
        .add(&[note(me, Kind::Mentioned, actor, Some(post))])
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    let again = b
        .store
        .add(&[note(me, Kind::Mentioned, actor, Some(post))])
        .await
        .unwrap();
    assert!(again.is_empty(), "the same recipient, kind, actor and post");
    assert_eq!(ids(&all(b.store.as_ref(), me).await), ids(&first));
    assert_eq!(b.probe.outbox().await.len(), 1);
    // Another kind, actor or post is another notification.
    let other = b
        .store
        .add(&[
            note(me, Kind::Replied, actor, Some(post)),
            note(me, Kind::Mentioned, Uuid::now_v7(), Some(post)),
            note(me, Kind::Mentioned, actor, Some(Uuid::now_v7())),
        ])
        .await
        .unwrap();
    assert_eq!(other.len(), 3);
}

async fn every_new_notification_writes_its_event(b: &Backend) {
    let (me, actor, post) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let items = [
        note(me, Kind::Followed, actor, None),
        note(me, Kind::Replied, actor, Some(post)),
    ];
    b.store.add(&items).await.unwrap();
    let outbox = b.probe.outbox().await;
    let decoded: Vec<NotificationCreatedV1> = outbox
        .iter()
        .map(|e| e.decode::<NotificationCreatedV1>().unwrap().unwrap())
        .collect();
    assert_eq!(decoded.len(), 2);
    for (event, item) in decoded.iter().zip(&items) {
        assert_eq!(event.notification_id, item.id);
        assert_eq!(event.recipient_id, me);
        assert_eq!(event.kind, item.kind.as_str());
        assert_eq!(event.actor_id, actor);
        assert_eq!(event.post_id, item.post_id);
    }
    assert!(
        outbox.iter().all(|e| e.subject == me.to_string()),
        "keyed by recipient"
    );
}

async fn lists_are_per_recipient_and_newest_first(b: &Backend) {
    let (me, you, actor) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let mine: Vec<NewNotification> = (0..3)
        .map(|_| note(me, Kind::Liked, actor, Some(Uuid::now_v7())))
        .collect();
    b.store.add(&mine).await.unwrap();
    b.store
        .add(&[note(you, Kind::Followed, actor, None)])
        .await
        .unwrap();
    let listed = ids(&all(b.store.as_ref(), me).await);
    let mut expected: Vec<Uuid> = mine.iter().map(|n| n.id).collect();
    expected.reverse();
    assert_eq!(listed, expected);
    assert_eq!(all(b.store.as_ref(), you).await.len(), 1);
    assert!(all(b.store.as_ref(), Uuid::now_v7()).await.is_empty());
}

async fn pages_cover_every_notification_exactly_once(b: &Backend) {
    let (me, actor) = (Uuid::now_v7(), Uuid::now_v7());
    let items: Vec<NewNotification> = (0..7)
        .map(|_| note(me, Kind::Mentioned, actor, Some(Uuid::now_v7())))
        .collect();
    b.store.add(&items).await.unwrap();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = b.store.list(me, Window::OlderThan(after), 3).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 3);
        after = page.last().map(|r| r.id);
        seen.extend(ids(&page));
    }
    let mut expected: Vec<Uuid> = items.iter().map(|n| n.id).collect();
    expected.reverse();
    assert_eq!(seen, expected);
}

async fn newer_than_and_only_windows(b: &Backend) {
    let (me, actor) = (Uuid::now_v7(), Uuid::now_v7());
    let items: Vec<NewNotification> = (0..4)
        .map(|_| note(me, Kind::Liked, actor, Some(Uuid::now_v7())))
        .collect();
    b.store.add(&items).await.unwrap();
    let newer = b
        .store
        .list(me, Window::NewerThan(items[1].id), 10)
        .await
        .unwrap();
    assert_eq!(ids(&newer), [items[3].id, items[2].id]);
    let only = b
        .store
        .list(me, Window::Only(items[2].id), 10)
        .await
        .unwrap();
    assert_eq!(ids(&only), [items[2].id]);
    let not_mine = b
        .store
        .list(Uuid::now_v7(), Window::Only(items[2].id), 10)
        .await
        .unwrap();
    assert!(not_mine.is_empty(), "only the recipient sees it");
}

async fn an_unread_like_taken_back_is_hidden_and_comes_back_without_an_event(b: &Backend) {
    let (me, actor, post) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let liked = b
        .store
        .add(&[note(me, Kind::Liked, actor, Some(post))])
        .await
        .unwrap();
    assert!(b.store.withdraw_like(me, actor, post).await.unwrap());
    assert!(all(b.store.as_ref(), me).await.is_empty());
    assert_eq!(b.store.unread_count(me).await.unwrap(), 0);
    assert!(
        !b.store.withdraw_like(me, actor, post).await.unwrap(),
        "nothing left to hide"
    );
    let again = b
        .store
        .add(&[note(me, Kind::Liked, actor, Some(post))])
        .await
        .unwrap();
    assert!(again.is_empty(), "liking again notifies once");
    assert_eq!(ids(&all(b.store.as_ref(), me).await), ids(&liked));
    assert_eq!(b.store.unread_count(me).await.unwrap(), 1);
    assert_eq!(b.probe.outbox().await.len(), 1);
}

async fn a_read_like_taken_back_stays(b: &Backend) {
    let (me, actor, post) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    b.store
        .add(&[note(me, Kind::Liked, actor, Some(post))])
        .await
        .unwrap();
    b.store.mark_read(me, None).await.unwrap();
    assert!(!b.store.withdraw_like(me, actor, post).await.unwrap());
    let rows = all(b.store.as_ref(), me).await;
    assert_eq!(rows.len(), 1);
    assert!(rows[0].read);
}

async fn removing_a_post_removes_its_notifications_only(b: &Backend) {
    let (me, you, actor) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let (gone, kept) = (Uuid::now_v7(), Uuid::now_v7());
    b.store
        .add(&[
            note(me, Kind::Liked, actor, Some(gone)),
            note(you, Kind::Mentioned, actor, Some(gone)),
            note(me, Kind::Liked, actor, Some(kept)),
            note(me, Kind::Followed, actor, None),
        ])
        .await
        .unwrap();
    assert_eq!(b.store.remove_post(gone).await.unwrap(), 2);
    let left: Vec<Option<Uuid>> = all(b.store.as_ref(), me)
        .await
        .iter()
        .map(|r| r.post_id)
        .collect();
    assert_eq!(left, [None, Some(kept)]);
    assert!(all(b.store.as_ref(), you).await.is_empty());
    assert_eq!(b.store.remove_post(gone).await.unwrap(), 0);
}

async fn unread_count_and_mark_all_read(b: &Backend) {
    let (me, you, actor) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let items: Vec<NewNotification> = (0..3)
        .map(|_| note(me, Kind::Replied, actor, Some(Uuid::now_v7())))
        .collect();
    b.store.add(&items).await.unwrap();
    b.store
        .add(&[note(you, Kind::Followed, actor, None)])
        .await
        .unwrap();
    assert_eq!(b.store.unread_count(me).await.unwrap(), 3);
    assert_eq!(b.store.mark_read(me, None).await.unwrap(), 3);
    assert_eq!(b.store.unread_count(me).await.unwrap(), 0);
    assert!(all(b.store.as_ref(), me).await.iter().all(|r| r.read));
    assert_eq!(
        b.store.unread_count(you).await.unwrap(),
        1,
        "others' stay unread"
    );
    assert_eq!(b.store.mark_read(me, None).await.unwrap(), 0);
}

async fn mark_read_up_to_marks_that_one_and_older(b: &Backend) {
    let (me, actor) = (Uuid::now_v7(), Uuid::now_v7());
    let items: Vec<NewNotification> = (0..4)
        .map(|_| note(me, Kind::Mentioned, actor, Some(Uuid::now_v7())))
        .collect();
    b.store.add(&items).await.unwrap();
    assert_eq!(b.store.mark_read(me, Some(items[1].id)).await.unwrap(), 2);
    let read: Vec<bool> = all(b.store.as_ref(), me)
        .await
        .iter()
        .map(|r| r.read)
        .collect();
    assert_eq!(read, [false, false, true, true]);
    assert_eq!(b.store.unread_count(me).await.unwrap(), 2);
}

async fn migrations_are_idempotent(b: &Backend) {
    assert_eq!(b.probe.migrate_again().await, 0);
}
