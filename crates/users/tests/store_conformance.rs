//! The `UserStore` conformance suite: every behaviour written once, as an async function on a
//! [`Harness`], and run against each adapter (`sqlite::<name>` and `postgres::<name>`) by
//! `conformance!` at the bottom. PostgreSQL tests get a fresh database each from
//! `socialdevs-testkit` (`SOCIALDEVS_TEST_DATABASE_URL`, else a throwaway cluster).

// The suite's functions are test code, though not `#[test]`s themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, SubsecRound, TimeZone, Utc};
use socialdevs_platform::db::{migrate_postgres, migrate_sqlite, PgDb, PgPoolSettings, SqliteDb};
use socialdevs_testkit::postgres::TestDatabase;
use socialdevs_users::migrations::{POSTGRES, SQLITE};
use socialdevs_users::model::{NewRefreshToken, NewSignup, NewUser, Rotation, User};
use socialdevs_users::store::{PgUserStore, SqliteUserStore, StoreError, UserStore};
use socialdevs_users::SERVICE;
use tokio::sync::Barrier;
use tokio::task::JoinSet;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

enum Backing {
    Sqlite {
        db: SqliteDb,
        _dir: tempfile::TempDir,
    },
    Postgres {
        db: PgDb,
        _database: TestDatabase,
    },
}

/// A migrated, empty store plus what it lives on.
struct Harness {
    store: Arc<dyn UserStore>,
    /// How many migrations the first run applied.
    first_migration_run: usize,
    backing: Backing,
}

impl Harness {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(&SqliteDb::default_url(dir.path()))
            .await
            .unwrap();
        let applied = migrate_sqlite(&db, SERVICE, SQLITE).await.unwrap();
        Self {
            store: Arc::new(SqliteUserStore::new(db.clone())),
            first_migration_run: applied,
            backing: Backing::Sqlite { db, _dir: dir },
        }
    }

    async fn postgres() -> Self {
        let database = socialdevs_testkit::postgres::database().await.unwrap();
        let db = PgDb::connect(&database.url, "users", &PgPoolSettings::default()).unwrap();
        let applied = migrate_postgres(&db, POSTGRES).await.unwrap();
        Self {
            store: Arc::new(PgUserStore::new(db.clone())),
            first_migration_run: applied,
            backing: Backing::Postgres {
                db,
                _database: database,
            },
        }
    }

    /// Runs the migrations again; returns how many were applied.
    async fn migrate_again(&self) -> usize {
        match &self.backing {
            Backing::Sqlite { db, .. } => migrate_sqlite(db, SERVICE, SQLITE).await.unwrap(),
            Backing::Postgres { db, .. } => migrate_postgres(db, POSTGRES).await.unwrap(),
        }
    }

    async fn close(&self) {
        match &self.backing {
            Backing::Sqlite { db, .. } => {
                db.writer.close().await;
                db.reader.close().await;
            }
            Backing::Postgres { db, .. } => db.close().await,
        }
    }

    /// Every event in the service's outbox, in write order.
    async fn outbox(&self) -> Vec<socialdevs_events::CloudEvent> {
        let payloads: Vec<String> = match &self.backing {
            Backing::Sqlite { db, .. } => {
                sqlx::query_scalar("SELECT payload FROM users_outbox ORDER BY seq")
                    .fetch_all(&db.reader)
                    .await
                    .unwrap()
            }
            Backing::Postgres { db, .. } => {
                sqlx::query_scalar("SELECT payload FROM outbox ORDER BY seq")
                    .fetch_all(db.pool())
                    .await
                    .unwrap()
            }
        };
        payloads
            .iter()
            .map(|p| serde_json::from_str(p).unwrap())
            .collect()
    }

    fn store(&self) -> &dyn UserStore {
        self.store.as_ref()
    }

    async fn user(&self, username: &str) -> User {
        self.user_named(username, username).await
    }

    async fn user_named(&self, username: &str, display_name: &str) -> User {
        self.store()
            .create_user(&new_user(username, display_name))
            .await
            .unwrap()
    }

    async fn follow(&self, follower: &User, followee: &User) {
        assert!(self
            .store()
            .follow(follower.id, followee.id, at(0))
            .await
            .unwrap());
    }

    /// `n` new users `fan0`, `fan1`… who follow `star`, in that order.
    async fn fans_of(&self, star: &User, n: usize) -> Vec<User> {
        let mut fans = Vec::with_capacity(n);
        for i in 0..n {
            let fan = self.user(&format!("fan{i}")).await;
            self.follow(&fan, star).await;
            fans.push(fan);
        }
        fans
    }
}

/// A fixed instant (whole microseconds, which both databases keep) plus `secs`.
fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 14, 15, 9, 26).unwrap()
        + Duration::microseconds(535_897)
        + Duration::seconds(secs)
}

fn new_user(username: &str, display_name: &str) -> NewUser {
    NewUser {
        id: Uuid::now_v7(),
        username: username.to_owned(),
        email: format!("{}@example.com", username.to_ascii_lowercase()),
        password_hash: format!("$argon2id$hash-of-{username}"),
        display_name: display_name.to_owned(),
        created_at: at(0),
    }
}

fn token(hash: &str, family: Uuid, user: Uuid, expires_at: DateTime<Utc>) -> NewRefreshToken {
    NewRefreshToken {
        token_hash: hash.to_owned(),
        family_id: family,
        user_id: user,
        created_at: at(0),
        expires_at,
    }
}

/// A token to store on rotation. Its family and owner are deliberately wrong: the store must
/// take both from the presented token.
fn next_token(hash: &str) -> NewRefreshToken {
    token(hash, Uuid::now_v7(), Uuid::now_v7(), at(60 * 86_400))
}

fn usernames(users: &[User]) -> Vec<String> {
    users.iter().map(|u| u.username.clone()).collect()
}

fn sorted_ids(users: &[User]) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
    ids.sort();
    ids
}

async fn search(h: &Harness, query: Option<&str>) -> Vec<String> {
    usernames(&h.store().search(query, None, 100).await.unwrap())
}

// ---------------------------------------------------------------------------------------------
// Accounts
// ---------------------------------------------------------------------------------------------

async fn create_user_returns_the_stored_user(h: &Harness) {
    let input = new_user("Grace", "Grace Hopper");
    let created = h.store().create_user(&input).await.unwrap();
    assert_eq!(
        created,
        User {
            id: input.id,
            username: "Grace".into(),
            display_name: "Grace Hopper".into(),
            bio: String::new(),
            created_at: at(0),
        }
    );
    assert_eq!(h.store().user_by_id(input.id).await.unwrap(), Some(created));
    assert_eq!(h.store().user_by_id(Uuid::now_v7()).await.unwrap(), None);
}

async fn created_at_is_kept_to_the_microsecond(h: &Harness) {
    let mut input = new_user("nanos", "Nanos");
    input.created_at = at(0) + Duration::nanoseconds(999);
    let created = h.store().create_user(&input).await.unwrap();
    // What create returns is what later reads return: both databases keep microseconds.
    assert_eq!(created.created_at, input.created_at.trunc_subsecs(6));
    assert_eq!(h.store().user_by_id(input.id).await.unwrap(), Some(created));
}

async fn user_by_username_ignores_case(h: &Harness) {
    let user = h.user("MixedCase").await;
    for name in ["MixedCase", "mixedcase", "MIXEDCASE"] {
        assert_eq!(
            h.store().user_by_username(name).await.unwrap().as_ref(),
            Some(&user),
            "{name}"
        );
    }
    assert_eq!(h.store().user_by_username("mixedcas").await.unwrap(), None);
}

async fn credentials_by_lowercase_username_or_email(h: &Harness) {
    let user = h.user("LoginMe").await;
    for login in ["loginme", "loginme@example.com"] {
        let found = h.store().credentials(login).await.unwrap().unwrap();
        assert_eq!(found.user, user, "{login}");
        assert_eq!(found.password_hash, "$argon2id$hash-of-LoginMe");
    }
    // The caller lowercases: the store compares as given.
    assert!(h.store().credentials("LoginMe").await.unwrap().is_none());
    assert!(h.store().credentials("nobody").await.unwrap().is_none());
}

async fn users_by_ids_skips_unknown_ids(h: &Harness) {
    let a = h.user("ann").await;
    let _b = h.user("ben").await;
    let c = h.user("cat").await;
    let found = h
        .store()
        .users_by_ids(&[c.id, Uuid::now_v7(), a.id, c.id])
        .await
        .unwrap();
    assert_eq!(sorted_ids(&found), sorted_ids(&[a.clone(), c.clone()]));
    assert!(found.contains(&a) && found.contains(&c));
    assert!(h.store().users_by_ids(&[]).await.unwrap().is_empty());
    assert!(h
        .store()
        .users_by_ids(&[Uuid::now_v7()])
        .await
        .unwrap()
        .is_empty());
}

async fn duplicate_username_is_taken_ignoring_case(h: &Harness) {
    let first = h.user("alice").await;
    let mut dup = new_user("ALICE", "Other Alice");
    dup.email = "other@example.com".into();
    let err = h.store().create_user(&dup).await.unwrap_err();
    assert!(matches!(err, StoreError::Taken("username")), "{err:?}");
    assert_eq!(search(h, None).await, ["alice"]);
    assert_eq!(
        h.store().user_by_username("Alice").await.unwrap(),
        Some(first)
    );
}

async fn duplicate_email_is_taken(h: &Harness) {
    h.user("bob").await;
    let mut dup = new_user("robert", "Robert");
    dup.email = "bob@example.com".into();
    let err = h.store().create_user(&dup).await.unwrap_err();
    assert!(matches!(err, StoreError::Taken("email")), "{err:?}");
    assert_eq!(h.store().user_by_username("robert").await.unwrap(), None);
}

async fn duplicate_id_is_an_error_not_a_taken_field(h: &Harness) {
    let first = h.user("first").await;
    let mut dup = new_user("second", "Second");
    dup.id = first.id;
    let err = h.store().create_user(&dup).await.unwrap_err();
    assert!(matches!(err, StoreError::Other(_)), "{err:?}");
    assert_eq!(h.store().user_by_id(first.id).await.unwrap(), Some(first));
}

async fn update_profile_changes_only_the_given_fields(h: &Harness) {
    let user = h.user_named("ada", "Ada").await;
    let store = h.store();

    let renamed = store
        .update_profile(user.id, Some("Ada Lovelace"), None, at(10))
        .await
        .unwrap();
    assert_eq!(renamed.display_name, "Ada Lovelace");
    assert_eq!(renamed.bio, "");

    let described = store
        .update_profile(user.id, None, Some("First programmer."), at(20))
        .await
        .unwrap();
    assert_eq!(described.display_name, "Ada Lovelace");
    assert_eq!(described.bio, "First programmer.");

    let unchanged = store
        .update_profile(user.id, None, None, at(30))
        .await
        .unwrap();
    assert_eq!(unchanged, described);

    let both = store
        .update_profile(user.id, Some("A. L."), Some(""), at(40))
        .await
        .unwrap();
    assert_eq!(
        both,
        User {
            display_name: "A. L.".into(),
            bio: String::new(),
            ..user.clone()
        }
    );
    assert_eq!(store.user_by_id(user.id).await.unwrap(), Some(both));
}

async fn update_profile_of_unknown_user_is_not_found(h: &Harness) {
    let err = h
        .store()
        .update_profile(Uuid::now_v7(), Some("Ghost"), None, at(0))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// Search
// ---------------------------------------------------------------------------------------------

async fn search_matches_username_or_display_name_ignoring_case(h: &Harness) {
    h.user_named("alice", "Alice Liddell").await;
    h.user_named("bob", "Bobby Tables").await;
    h.user_named("carol", "Carol Alison").await;
    h.user_named("dave", "Dave").await;
    assert_eq!(search(h, Some("ALI")).await, ["alice", "carol"]);
    assert_eq!(search(h, Some("tables")).await, ["bob"]);
    assert_eq!(search(h, Some("by TA")).await, ["bob"]);
    assert_eq!(search(h, Some("AV")).await, ["dave"]);
    assert!(search(h, Some("zed")).await.is_empty());
    assert_eq!(search(h, None).await, ["alice", "bob", "carol", "dave"]);
}

async fn search_orders_by_lowercased_username_bytewise(h: &Harness) {
    for name in ["B", "AA", "a_b", "a9", "a1", "Ab"] {
        h.user(name).await;
    }
    // Byte order of the lowercased names: digits < '_' < letters.
    assert_eq!(search(h, None).await, ["a1", "a9", "a_b", "AA", "Ab", "B"]);
}

async fn search_pages_with_after_cover_every_user_once(h: &Harness) {
    for name in [
        "Kilo", "alpha", "Echo", "delta", "juliet", "Golf", "bravo", "hotel",
    ] {
        h.user_named(name, &format!("Team {name}")).await;
    }
    h.user_named("zulu", "Other").await;
    for query in [None, Some("team")] {
        let all = h.store().search(query, None, 100).await.unwrap();
        let mut paged = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = h.store().search(query, after.as_deref(), 3).await.unwrap();
            assert!(page.len() <= 3);
            let Some(last) = page.last() else { break };
            after = Some(last.username.to_ascii_lowercase());
            paged.extend(page);
        }
        assert_eq!(paged, all, "{query:?}");
    }
    let all = search(h, Some("team")).await;
    assert_eq!(
        all,
        ["alpha", "bravo", "delta", "Echo", "Golf", "hotel", "juliet", "Kilo"]
    );
    let after_echo = h
        .store()
        .search(Some("TEAM"), Some("echo"), 2)
        .await
        .unwrap();
    assert_eq!(usernames(&after_echo), ["Golf", "hotel"]);
    // `after` need not be a username that exists.
    let after_f = h.store().search(None, Some("f"), 100).await.unwrap();
    assert_eq!(
        usernames(&after_f),
        ["Golf", "hotel", "juliet", "Kilo", "zulu"]
    );
}

async fn search_treats_wildcards_literally(h: &Harness) {
    h.user_named("a_b", "Plain").await;
    h.user_named("axb", "Discount 100% off").await;
    h.user_named("ab", "Back\\slash").await;
    h.user_named("a1b", "Nothing special").await;
    assert_eq!(search(h, Some("a_b")).await, ["a_b"]);
    assert_eq!(search(h, Some("_")).await, ["a_b"]);
    assert_eq!(search(h, Some("%")).await, ["axb"]);
    assert_eq!(search(h, Some("0%")).await, ["axb"]);
    assert_eq!(search(h, Some("\\")).await, ["ab"]);
    assert_eq!(search(h, Some("k\\s")).await, ["ab"]);
    assert!(search(h, Some("a%b")).await.is_empty());
}

async fn search_folds_ascii_case_only(h: &Harness) {
    h.user_named("emile", "Émile Zola").await;
    h.user_named("other", "Someone").await;
    assert_eq!(search(h, Some("Émile")).await, ["emile"]);
    assert_eq!(search(h, Some("ÉMILE ZOLA")).await, ["emile"]);
    // Non-ASCII letters match only as typed, on every store whatever its locale.
    assert!(search(h, Some("émile")).await.is_empty());
}

async fn search_respects_the_limit(h: &Harness) {
    for name in ["e1", "e2", "e3", "e4", "e5"] {
        h.user(name).await;
    }
    let two = h.store().search(None, None, 2).await.unwrap();
    assert_eq!(usernames(&two), ["e1", "e2"]);
    let filtered = h.store().search(Some("e"), Some("e2"), 2).await.unwrap();
    assert_eq!(usernames(&filtered), ["e3", "e4"]);
    assert!(h.store().search(None, None, 0).await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Follow graph
// ---------------------------------------------------------------------------------------------

async fn follow_and_unfollow_are_idempotent(h: &Harness) {
    let a = h.user("follower").await;
    let b = h.user("followee").await;
    let store = h.store();
    assert!(!store.is_following(a.id, b.id).await.unwrap());
    assert!(store.follow(a.id, b.id, at(1)).await.unwrap());
    assert!(!store.follow(a.id, b.id, at(2)).await.unwrap());
    assert!(store.is_following(a.id, b.id).await.unwrap());
    assert!(!store.is_following(b.id, a.id).await.unwrap());
    assert_eq!(store.follow_counts(b.id).await.unwrap(), (1, 0));
    assert_eq!(store.follow_counts(a.id).await.unwrap(), (0, 1));

    assert!(store.unfollow(a.id, b.id, at(1)).await.unwrap());
    assert!(!store.unfollow(a.id, b.id, at(1)).await.unwrap());
    assert!(!store.is_following(a.id, b.id).await.unwrap());
    assert_eq!(store.follow_counts(b.id).await.unwrap(), (0, 0));
    assert!(!store.unfollow(b.id, a.id, at(1)).await.unwrap());

    // Following again after unfollowing makes a new edge.
    assert!(store.follow(a.id, b.id, at(3)).await.unwrap());
    assert!(store.is_following(a.id, b.id).await.unwrap());
}

async fn follow_of_an_unknown_user_is_not_found(h: &Harness) {
    let a = h.user("lonely").await;
    let err = h
        .store()
        .follow(a.id, Uuid::now_v7(), at(0))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    // An unknown follower breaks a reference: an error, but not a missing followee.
    let err = h
        .store()
        .follow(Uuid::now_v7(), a.id, at(0))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Other(_)), "{err:?}");
    assert_eq!(h.store().follow_counts(a.id).await.unwrap(), (0, 0));
}

async fn self_follow_is_refused(h: &Harness) {
    let a = h.user("narcissus").await;
    let err = h.store().follow(a.id, a.id, at(0)).await.unwrap_err();
    assert!(matches!(err, StoreError::Other(_)), "{err:?}");
    assert!(!h.store().is_following(a.id, a.id).await.unwrap());
    assert_eq!(h.store().follow_counts(a.id).await.unwrap(), (0, 0));
    assert!(h.store().following_ids(a.id).await.unwrap().is_empty());
}

async fn follow_counts_count_both_directions(h: &Harness) {
    let a = h.user("a").await;
    let b = h.user("b").await;
    let c = h.user("c").await;
    h.follow(&a, &b).await;
    h.follow(&a, &c).await;
    h.follow(&b, &a).await;
    h.follow(&c, &b).await;
    let store = h.store();
    assert_eq!(store.follow_counts(a.id).await.unwrap(), (1, 2));
    assert_eq!(store.follow_counts(b.id).await.unwrap(), (2, 1));
    assert_eq!(store.follow_counts(c.id).await.unwrap(), (1, 1));
    assert_eq!(store.follow_counts(Uuid::now_v7()).await.unwrap(), (0, 0));
}

async fn followers_and_following_are_newest_first(h: &Harness) {
    let star = h.user("star").await;
    let fans = h.fans_of(&star, 4).await;
    h.follow(&star, &fans[2]).await;
    h.follow(&star, &fans[0]).await;

    let followers = h.store().followers(star.id, None, 10).await.unwrap();
    let newest_first: Vec<User> = fans.iter().rev().cloned().collect();
    assert_eq!(
        followers.iter().map(|e| e.user.clone()).collect::<Vec<_>>(),
        newest_first
    );
    assert!(followers
        .windows(2)
        .all(|w| w[0].follow_id > w[1].follow_id));

    let following = h.store().following(star.id, None, 10).await.unwrap();
    assert_eq!(
        usernames(&following.iter().map(|e| e.user.clone()).collect::<Vec<_>>()),
        ["fan0", "fan2"]
    );
    let fan_follows = h.store().following(fans[1].id, None, 10).await.unwrap();
    assert_eq!(fan_follows.len(), 1);
    assert_eq!(fan_follows[0].user, star);
    assert_eq!(fan_follows[0].follow_id, followers[2].follow_id);
    assert!(h
        .store()
        .followers(fans[3].id, None, 10)
        .await
        .unwrap()
        .is_empty());
}

async fn follow_pages_cover_every_edge_exactly_once(h: &Harness) {
    let hub = h.user("hub").await;
    let mut others = Vec::new();
    for i in 0..7 {
        let other = h.user(&format!("node{i}")).await;
        h.follow(&other, &hub).await;
        h.follow(&hub, &other).await;
        others.push(other);
    }
    let hub = hub.id;
    for following in [false, true] {
        let list = |after, limit| async move {
            if following {
                h.store().following(hub, after, limit).await.unwrap()
            } else {
                h.store().followers(hub, after, limit).await.unwrap()
            }
        };
        let all = list(None, 100).await;
        assert_eq!(all.len(), 7);
        let mut seen = Vec::new();
        let mut after = None;
        let mut pages = 0;
        loop {
            let page = list(after, 3).await;
            assert!(page.len() <= 3);
            let Some(last) = page.last() else { break };
            after = Some(last.follow_id);
            seen.extend(page.iter().map(|e| (e.follow_id, e.user.id)));
            pages += 1;
        }
        assert_eq!(pages, 3, "following: {following}");
        let expected: Vec<(Uuid, Uuid)> = all.iter().map(|e| (e.follow_id, e.user.id)).collect();
        assert_eq!(seen, expected, "following: {following}");
        let distinct: HashSet<Uuid> = seen.iter().map(|(_, user)| *user).collect();
        assert_eq!(distinct.len(), 7);
        assert_eq!(
            seen.iter().map(|(_, user)| *user).rev().collect::<Vec<_>>(),
            others.iter().map(|u| u.id).collect::<Vec<_>>()
        );
    }
}

async fn following_ids_lists_every_followee(h: &Harness) {
    let me = h.user("me").await;
    let x = h.user("x").await;
    let y = h.user("y").await;
    let z = h.user("z").await;
    h.follow(&me, &x).await;
    h.follow(&me, &z).await;
    h.follow(&y, &me).await;
    let mut ids = h.store().following_ids(me.id).await.unwrap();
    ids.sort();
    assert_eq!(ids, sorted_ids(&[x, z]));
    assert!(h
        .store()
        .following_ids(Uuid::now_v7())
        .await
        .unwrap()
        .is_empty());
    assert_eq!(h.store().following_ids(y.id).await.unwrap(), [me.id]);
}

async fn suggestions_exclude_self_and_followed_users(h: &Harness) {
    let me = h.user("me").await;
    let followed = h.user("followed").await;
    let free = h.user("free").await;
    h.follow(&me, &followed).await;
    h.follow(&free, &me).await;
    let suggested = h.store().suggestions(me.id, 10).await.unwrap();
    assert_eq!(suggested, [free]);
    let for_unknown = h.store().suggestions(Uuid::now_v7(), 10).await.unwrap();
    assert_eq!(for_unknown.len(), 3);
}

async fn suggestions_rank_by_followers_then_newest(h: &Harness) {
    // Created in this order, so ids increase in this order (UUIDv7).
    let a = h.user("a").await;
    let b = h.user("b").await;
    let c = h.user("c").await;
    let d = h.user("d").await;
    let e = h.user("e").await;
    let v = h.user("viewer").await;
    for (from, to) in [
        (&a, &b),
        (&c, &b),
        (&d, &b),
        (&a, &c),
        (&e, &c),
        (&e, &d),
        (&e, &a),
        (&v, &c),
    ] {
        h.follow(from, to).await;
    }
    // Followers: b 3, c 2 (followed by the viewer), d 1, a 1, e 0; ties go to the newest id.
    let suggested = h.store().suggestions(v.id, 10).await.unwrap();
    assert_eq!(usernames(&suggested), ["b", "d", "a", "e"]);
    let top = h.store().suggestions(v.id, 2).await.unwrap();
    assert_eq!(top, [b.clone(), d.clone()]);
    // e follows a, c and d: b remains, then the viewer (no followers).
    let for_e = h.store().suggestions(e.id, 10).await.unwrap();
    assert_eq!(for_e, [b, v]);
}

// ---------------------------------------------------------------------------------------------
// Refresh tokens
// ---------------------------------------------------------------------------------------------

async fn refresh_token_rotates_into_the_same_family_and_owner(h: &Harness) {
    let user = h.user("owner").await;
    let family = Uuid::now_v7();
    let store = h.store();
    store
        .insert_refresh_token(&token("t1", family, user.id, at(86_400)))
        .await
        .unwrap();
    assert_eq!(
        store
            .rotate_refresh_token("t1", &next_token("t2"), at(10))
            .await
            .unwrap(),
        Rotation::Rotated { user_id: user.id }
    );
    // The new token works once too, for the same user.
    assert_eq!(
        store
            .rotate_refresh_token("t2", &next_token("t3"), at(20))
            .await
            .unwrap(),
        Rotation::Rotated { user_id: user.id }
    );
    // And it joined the family: reusing t1 revokes t3.
    assert_eq!(
        store
            .rotate_refresh_token("t1", &next_token("t4"), at(30))
            .await
            .unwrap(),
        Rotation::ReuseDetected
    );
    assert_eq!(
        store
            .rotate_refresh_token("t3", &next_token("t5"), at(40))
            .await
            .unwrap(),
        Rotation::Invalid
    );
}

async fn unknown_refresh_token_is_invalid(h: &Harness) {
    let rotation = h
        .store()
        .rotate_refresh_token("nope", &next_token("t2"), at(0))
        .await
        .unwrap();
    assert_eq!(rotation, Rotation::Invalid);
    // Nothing was stored for it.
    let again = h
        .store()
        .rotate_refresh_token("t2", &next_token("t3"), at(0))
        .await
        .unwrap();
    assert_eq!(again, Rotation::Invalid);
}

async fn expired_refresh_token_is_invalid(h: &Harness) {
    let user = h.user("late").await;
    let store = h.store();
    store
        .insert_refresh_token(&token("t1", Uuid::now_v7(), user.id, at(100)))
        .await
        .unwrap();
    // Expired at the very instant it expires.
    for now in [at(100), at(101)] {
        assert_eq!(
            store
                .rotate_refresh_token("t1", &next_token("t2"), now)
                .await
                .unwrap(),
            Rotation::Invalid
        );
    }
    // Refusing an expired token neither used nor revoked it.
    assert_eq!(
        store
            .rotate_refresh_token("t1", &next_token("t2"), at(99))
            .await
            .unwrap(),
        Rotation::Rotated { user_id: user.id }
    );
}

async fn reused_refresh_token_revokes_the_family(h: &Harness) {
    let user = h.user("victim").await;
    let store = h.store();
    let family = Uuid::now_v7();
    store
        .insert_refresh_token(&token("t1", family, user.id, at(86_400)))
        .await
        .unwrap();
    store
        .insert_refresh_token(&token("other", Uuid::now_v7(), user.id, at(86_400)))
        .await
        .unwrap();
    assert_eq!(
        store
            .rotate_refresh_token("t1", &next_token("t2"), at(10))
            .await
            .unwrap(),
        Rotation::Rotated { user_id: user.id }
    );
    assert_eq!(
        store
            .rotate_refresh_token("t1", &next_token("x"), at(20))
            .await
            .unwrap(),
        Rotation::ReuseDetected
    );
    // The whole family is revoked: the current token and the reused one alike.
    for presented in ["t2", "t1"] {
        assert_eq!(
            store
                .rotate_refresh_token(presented, &next_token("y"), at(30))
                .await
                .unwrap(),
            Rotation::Invalid,
            "{presented}"
        );
    }
    // Another family (another device) is unaffected.
    assert_eq!(
        store
            .rotate_refresh_token("other", &next_token("z"), at(40))
            .await
            .unwrap(),
        Rotation::Rotated { user_id: user.id }
    );
}

async fn revoke_family_of_revokes_every_token_of_the_family(h: &Harness) {
    let user = h.user("leaver").await;
    let store = h.store();
    store
        .insert_refresh_token(&token("t1", Uuid::now_v7(), user.id, at(86_400)))
        .await
        .unwrap();
    store
        .insert_refresh_token(&token("other", Uuid::now_v7(), user.id, at(86_400)))
        .await
        .unwrap();
    assert_eq!(
        store
            .rotate_refresh_token("t1", &next_token("t2"), at(10))
            .await
            .unwrap(),
        Rotation::Rotated { user_id: user.id }
    );
    // Revoking through an old member of the family reaches the current one.
    store.revoke_family_of("t1", at(20)).await.unwrap();
    assert_eq!(
        store
            .rotate_refresh_token("t2", &next_token("t3"), at(30))
            .await
            .unwrap(),
        Rotation::Invalid
    );
    // A revoked token presented again is invalid, not reuse.
    assert_eq!(
        store
            .rotate_refresh_token("t1", &next_token("t3"), at(30))
            .await
            .unwrap(),
        Rotation::Invalid
    );
    store.revoke_family_of("unknown", at(20)).await.unwrap();
    assert_eq!(
        store
            .rotate_refresh_token("other", &next_token("t4"), at(40))
            .await
            .unwrap(),
        Rotation::Rotated { user_id: user.id }
    );
}

async fn revoke_user_tokens_signs_out_every_family_of_that_user_only(h: &Harness) {
    let user = h.user("everywhere").await;
    let other = h.user("bystander").await;
    let store = h.store();
    for (hash, owner) in [("phone", &user), ("laptop", &user), ("theirs", &other)] {
        store
            .insert_refresh_token(&token(hash, Uuid::now_v7(), owner.id, at(86_400)))
            .await
            .unwrap();
    }
    // A family with history: only its current token is live.
    assert!(matches!(
        store
            .rotate_refresh_token("phone", &next_token("phone2"), at(10))
            .await
            .unwrap(),
        Rotation::Rotated { .. }
    ));
    // The used "phone" token is revoked too (three rows): presenting it later is invalid,
    // like the live ones.
    assert_eq!(store.revoke_user_tokens(user.id, at(20)).await.unwrap(), 3);
    for presented in ["phone2", "laptop", "phone"] {
        assert_eq!(
            store
                .rotate_refresh_token(presented, &next_token("x"), at(30))
                .await
                .unwrap(),
            Rotation::Invalid,
            "{presented}"
        );
    }
    assert!(matches!(
        store
            .rotate_refresh_token("theirs", &next_token("theirs2"), at(30))
            .await
            .unwrap(),
        Rotation::Rotated { user_id } if user_id == other.id
    ));
    // Nothing left to revoke; signing in again still works.
    assert_eq!(store.revoke_user_tokens(user.id, at(40)).await.unwrap(), 0);
    store
        .insert_refresh_token(&token("fresh", Uuid::now_v7(), user.id, at(86_400)))
        .await
        .unwrap();
    assert!(matches!(
        store
            .rotate_refresh_token("fresh", &next_token("fresh2"), at(50))
            .await
            .unwrap(),
        Rotation::Rotated { .. }
    ));
}

async fn change_password_replaces_the_hash_and_revokes_every_token(h: &Harness) {
    let user = h.user("rotator").await;
    let store = h.store();
    store
        .insert_refresh_token(&token("t1", Uuid::now_v7(), user.id, at(86_400)))
        .await
        .unwrap();
    store
        .change_password(user.id, "$argon2id$new-hash", at(10))
        .await
        .unwrap();
    let credentials = store.credentials("rotator").await.unwrap().unwrap();
    assert_eq!(credentials.password_hash, "$argon2id$new-hash");
    assert_eq!(
        store
            .rotate_refresh_token("t1", &next_token("t2"), at(20))
            .await
            .unwrap(),
        Rotation::Invalid
    );
    assert!(matches!(
        store
            .change_password(Uuid::now_v7(), "$argon2id$x", at(10))
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn purge_deletes_only_expired_tokens(h: &Harness) {
    let user = h.user("tidy").await;
    let store = h.store();
    for (hash, expires) in [("gone", 100), ("edge", 200), ("kept", 300)] {
        store
            .insert_refresh_token(&token(hash, Uuid::now_v7(), user.id, at(expires)))
            .await
            .unwrap();
    }
    assert_eq!(store.purge_expired_tokens(at(200)).await.unwrap(), 2);
    assert_eq!(store.purge_expired_tokens(at(200)).await.unwrap(), 0);
    assert!(matches!(
        store
            .rotate_refresh_token("kept", &next_token("kept2"), at(250))
            .await
            .unwrap(),
        Rotation::Rotated { .. }
    ));
    assert_eq!(
        store
            .rotate_refresh_token("gone", &next_token("x"), at(50))
            .await
            .unwrap(),
        Rotation::Invalid
    );
}

async fn sign_out_everywhere_racing_a_rotation_leaves_no_live_token(h: &Harness) {
    race_revocation_with_rotation(h, "racing", |store, user, _presented| async move {
        store.revoke_user_tokens(user, at(10)).await.unwrap();
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Concurrency and migrations
// ---------------------------------------------------------------------------------------------

async fn concurrent_follows_of_one_pair_make_one_edge(h: &Harness) {
    const TASKS: usize = 20;
    let a = h.user("eager").await;
    let b = h.user("popular").await;
    let barrier = Arc::new(Barrier::new(TASKS));
    let mut tasks = JoinSet::new();
    for _ in 0..TASKS {
        let (store, barrier) = (h.store.clone(), barrier.clone());
        tasks.spawn(async move {
            store.user_by_id(a.id).await.unwrap();
            barrier.wait().await;
            store.follow(a.id, b.id, at(0)).await.unwrap()
        });
    }
    let created = tasks.join_all().await;
    assert_eq!(created.len(), TASKS);
    assert_eq!(created.iter().filter(|new| **new).count(), 1);
    assert_eq!(h.store().follow_counts(b.id).await.unwrap(), (1, 0));
    assert_eq!(h.store().follow_counts(a.id).await.unwrap(), (0, 1));
    assert_eq!(h.store().followers(b.id, None, 50).await.unwrap().len(), 1);
}

async fn concurrent_rotations_of_one_token_have_one_winner(h: &Harness) {
    const TASKS: usize = 10;
    let user = h.user("racer").await;
    h.store()
        .insert_refresh_token(&token("t0", Uuid::now_v7(), user.id, at(86_400)))
        .await
        .unwrap();
    let barrier = Arc::new(Barrier::new(TASKS));
    let mut tasks = JoinSet::new();
    for i in 0..TASKS {
        let (store, barrier) = (h.store.clone(), barrier.clone());
        tasks.spawn(async move {
            // Every task holds a warm connection of its own before the race starts.
            store.user_by_id(user.id).await.unwrap();
            barrier.wait().await;
            let next = format!("next{i}");
            let rotation = store
                .rotate_refresh_token("t0", &next_token(&next), at(10))
                .await
                .unwrap();
            (next, rotation)
        });
    }
    let outcomes = tasks.join_all().await;
    let winners: Vec<&String> = outcomes
        .iter()
        .filter(|(_, r)| *r == Rotation::Rotated { user_id: user.id })
        .map(|(next, _)| next)
        .collect();
    let reuses = outcomes
        .iter()
        .filter(|(_, r)| *r == Rotation::ReuseDetected)
        .count();
    let invalid = outcomes
        .iter()
        .filter(|(_, r)| *r == Rotation::Invalid)
        .count();
    // One wins; the next one in line sees a used token (reuse) and revokes the family; the
    // rest find it revoked.
    assert_eq!((winners.len(), reuses, invalid), (1, 1, TASKS - 2));
    assert_eq!(
        h.store()
            .rotate_refresh_token(winners[0], &next_token("after"), at(20))
            .await
            .unwrap(),
        Rotation::Invalid
    );
}

async fn revocation_racing_a_rotation_leaves_no_live_token(h: &Harness) {
    race_revocation_with_rotation(h, "logout", |store, _user, presented| async move {
        store.revoke_family_of(&presented, at(10)).await.unwrap();
    })
    .await;
}

/// Races `revoke` (given the store, the user and the presented token) against a rotation of
/// that token, 25 times: whichever goes first, the token the rotation may have made is dead.
async fn race_revocation_with_rotation<F, Fut>(h: &Harness, username: &str, revoke: F)
where
    F: Fn(Arc<dyn UserStore>, Uuid, String) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    const ROUNDS: usize = 25;
    let user = h.user(username).await;
    for round in 0..ROUNDS {
        let (presented, next) = (format!("old{round}"), format!("new{round}"));
        h.store()
            .insert_refresh_token(&token(&presented, Uuid::now_v7(), user.id, at(86_400)))
            .await
            .unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let rotate = {
            let (store, barrier, presented, next) = (
                h.store.clone(),
                barrier.clone(),
                presented.clone(),
                next.clone(),
            );
            tokio::spawn(async move {
                store.user_by_id(user.id).await.unwrap();
                barrier.wait().await;
                store
                    .rotate_refresh_token(&presented, &next_token(&next), at(10))
                    .await
                    .unwrap()
            })
        };
        let revocation = {
            let (store, revoke) = (h.store.clone(), revoke.clone());
            tokio::spawn(async move {
                store.user_by_id(user.id).await.unwrap();
                barrier.wait().await;
                revoke(store, user.id, presented).await;
            })
        };
        let rotation = rotate.await.unwrap();
        revocation.await.unwrap();
        assert!(
            matches!(rotation, Rotation::Rotated { .. } | Rotation::Invalid),
            "{rotation:?}"
        );
        // Whichever went first, the new token (if any) is revoked too.
        assert_eq!(
            h.store()
                .rotate_refresh_token(&next, &next_token("later"), at(20))
                .await
                .unwrap(),
            Rotation::Invalid,
            "round {round}: {rotation:?}"
        );
    }
}

async fn migrations_are_idempotent(h: &Harness) {
    assert_eq!(h.first_migration_run, SQLITE.len());
    assert_eq!(SQLITE.len(), POSTGRES.len());
    let user = h.user("survivor").await;
    assert_eq!(h.migrate_again().await, 0);
    assert_eq!(h.migrate_again().await, 0);
    assert_eq!(h.store().user_by_id(user.id).await.unwrap(), Some(user));
}

// ---------------------------------------------------------------------------------------------
// Sign-ups awaiting e-mail confirmation
// ---------------------------------------------------------------------------------------------

fn signup(hash: &str, username: &str, email: &str, expires: i64) -> NewSignup {
    NewSignup {
        token_hash: hash.to_owned(),
        user: NewUser {
            email: email.to_owned(),
            ..new_user(username, &format!("{username} (pending)"))
        },
        expires_at: at(expires),
    }
}

async fn a_confirmed_signup_becomes_its_account_once(h: &Harness) {
    let store = h.store();
    let pending = signup("s1", "Grace", "grace@example.com", 100);
    store.create_signup(&pending).await.unwrap();
    assert!(
        store.user_by_username("grace").await.unwrap().is_none(),
        "no account before confirmation"
    );
    let before = h.outbox().await.len();
    let user = store
        .complete_signup("s1", at(50))
        .await
        .unwrap()
        .expect("confirmed");
    assert_eq!(
        (user.id, user.username.as_str(), user.display_name.as_str()),
        (pending.user.id, "Grace", "Grace (pending)")
    );
    assert_eq!(user.created_at, at(50), "created when confirmed");
    let credentials = store
        .credentials("grace@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(credentials.user.id, user.id);
    assert_eq!(credentials.password_hash, pending.user.password_hash);
    let events = h.outbox().await;
    assert_eq!(events.len(), before + 1);
    assert_eq!(events[before].kind, "dev.socialdevs.user.registered.v1");
    // A link works once.
    assert!(store.complete_signup("s1", at(51)).await.unwrap().is_none());
    assert!(store
        .complete_signup("unknown", at(51))
        .await
        .unwrap()
        .is_none());
}

async fn an_expired_signup_confirms_nothing(h: &Harness) {
    let store = h.store();
    store
        .create_signup(&signup("late", "late", "late@example.com", 100))
        .await
        .unwrap();
    assert!(store
        .complete_signup("late", at(100))
        .await
        .unwrap()
        .is_none());
    assert!(store.user_by_username("late").await.unwrap().is_none());
}

async fn a_signup_whose_name_was_taken_since_stays_and_writes_nothing(h: &Harness) {
    let store = h.store();
    store
        .create_signup(&signup("first", "ada", "ada@example.com", 100))
        .await
        .unwrap();
    store
        .create_signup(&signup("second", "ADA", "ada2@example.com", 100))
        .await
        .unwrap();
    store
        .create_signup(&signup("third", "ada3", "ada@example.com", 100))
        .await
        .unwrap();
    let ada = store
        .complete_signup("second", at(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ada.username, "ADA");
    let before = h.outbox().await.len();
    assert!(matches!(
        store.complete_signup("first", at(2)).await,
        Err(StoreError::Taken("username"))
    ));
    assert!(store
        .complete_signup("third", at(2))
        .await
        .unwrap()
        .is_some());
    // The third took ada@example.com: the first is refused for its e-mail now too, and
    // stays (until it expires) rather than vanish half-done.
    store
        .create_signup(&signup("fourth", "ada4", "ada@example.com", 100))
        .await
        .unwrap();
    assert!(matches!(
        store.complete_signup("fourth", at(3)).await,
        Err(StoreError::Taken("email"))
    ));
    assert!(matches!(
        store.complete_signup("fourth", at(4)).await,
        Err(StoreError::Taken("email"))
    ));
    assert_eq!(h.outbox().await.len(), before + 1, "only the third's event");
}

async fn purge_deletes_only_expired_signups(h: &Harness) {
    let store = h.store();
    for (hash, expires) in [("gone", 100), ("edge", 200), ("kept", 300)] {
        store
            .create_signup(&signup(hash, hash, &format!("{hash}@example.com"), expires))
            .await
            .unwrap();
    }
    assert_eq!(store.purge_expired_signups(at(200)).await.unwrap(), 2);
    assert_eq!(store.purge_expired_signups(at(200)).await.unwrap(), 0);
    assert!(store
        .complete_signup("kept", at(250))
        .await
        .unwrap()
        .is_some());
}

async fn concurrent_confirmations_of_one_signup_have_one_winner(h: &Harness) {
    let store = h.store.clone();
    store
        .create_signup(&signup("once", "racer", "racer@example.com", 100))
        .await
        .unwrap();
    let barrier = Arc::new(Barrier::new(8));
    let mut tasks = JoinSet::new();
    for _ in 0..8 {
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            store.complete_signup("once", at(1)).await
        });
    }
    let mut created = 0;
    while let Some(outcome) = tasks.join_next().await {
        match outcome.unwrap() {
            Ok(Some(_)) => created += 1,
            Ok(None) => {}
            Err(e) => panic!("a confirmation failed: {e}"),
        }
    }
    assert_eq!(created, 1);
}

async fn every_change_writes_its_event_in_the_same_transaction(h: &Harness) {
    use socialdevs_events::types::{
        UserFollowedV1, UserRegisteredV1, UserUnfollowedV1, UserUpdatedV1,
    };
    let ada = h.user_named("ada", "Ada").await;
    let linus = h.user("linus").await;
    let store = h.store();
    store
        .update_profile(ada.id, Some("Ada L."), Some("Engines"), at(2))
        .await
        .unwrap();
    assert!(store.follow(ada.id, linus.id, at(3)).await.unwrap());
    assert!(!store.follow(ada.id, linus.id, at(4)).await.unwrap());
    assert!(store.unfollow(ada.id, linus.id, at(5)).await.unwrap());
    assert!(!store.unfollow(ada.id, linus.id, at(6)).await.unwrap());

    let events = h.outbox().await;
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "dev.socialdevs.user.registered.v1",
            "dev.socialdevs.user.registered.v1",
            "dev.socialdevs.user.updated.v1",
            "dev.socialdevs.user.followed.v1",
            "dev.socialdevs.user.unfollowed.v1",
        ],
        "one event per change, none for a no-op"
    );
    let registered: UserRegisteredV1 = events[0].decode().unwrap().unwrap();
    assert_eq!(
        (
            registered.user_id,
            registered.username.as_str(),
            registered.display_name.as_str()
        ),
        (ada.id, "ada", "Ada")
    );
    let updated: UserUpdatedV1 = events[2].decode().unwrap().unwrap();
    assert_eq!(
        (updated.display_name.as_str(), updated.bio.as_str()),
        ("Ada L.", "Engines")
    );
    let followed: UserFollowedV1 = events[3].decode().unwrap().unwrap();
    assert_eq!(
        (followed.follower_id, followed.followee_id),
        (ada.id, linus.id)
    );
    assert_eq!(
        (
            followed.follower_username.as_str(),
            followed.followee_username.as_str()
        ),
        ("ada", "linus")
    );
    assert_eq!(
        events[3].subject,
        ada.id.to_string(),
        "keyed by the follower"
    );
    let unfollowed: UserUnfollowedV1 = events[4].decode().unwrap().unwrap();
    assert_eq!(
        (unfollowed.follower_id, unfollowed.followee_id),
        (ada.id, linus.id)
    );
}

async fn refused_changes_write_no_event(h: &Harness) {
    let ada = h.user("ada").await;
    let before = h.outbox().await.len();
    let store = h.store();
    assert!(matches!(
        store.create_user(&new_user("ADA", "dup")).await,
        Err(StoreError::Taken(_))
    ));
    assert!(matches!(
        store.follow(ada.id, Uuid::now_v7(), at(1)).await,
        Err(StoreError::NotFound)
    ));
    assert!(store.follow(ada.id, ada.id, at(1)).await.is_err());
    assert!(matches!(
        store
            .update_profile(Uuid::now_v7(), Some("x"), None, at(1))
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(h.outbox().await.len(), before, "no event without a change");
}

async fn follower_ids_lists_followers_up_to_the_limit(h: &Harness) {
    let star = h.user("star").await;
    let fans: HashSet<Uuid> = h.fans_of(&star, 5).await.iter().map(|f| f.id).collect();
    let all: HashSet<Uuid> = h
        .store()
        .follower_ids(star.id, 10)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(all, fans);
    let some = h.store().follower_ids(star.id, 3).await.unwrap();
    assert_eq!(some.len(), 3);
    assert!(some.iter().all(|id| fans.contains(id)));
    assert!(h
        .store()
        .follower_ids(Uuid::now_v7(), 10)
        .await
        .unwrap()
        .is_empty());
}

/// Read once, then followed, unfollowed and followed again: every read shows the follows as
/// they are, in the order they were made (an embedded store keeps followers in memory).
async fn follower_ids_show_each_follow_and_unfollow_in_order(h: &Harness) {
    let star = h.user("star").await;
    let fans = h.fans_of(&star, 3).await;
    let ids = |fans: &[&User]| fans.iter().map(|f| f.id).collect::<Vec<_>>();
    let read = || async { h.store().follower_ids(star.id, 10).await.unwrap() };
    assert_eq!(read().await, ids(&[&fans[0], &fans[1], &fans[2]]));
    let late = h.user("late").await;
    h.follow(&late, &star).await;
    assert!(h
        .store()
        .unfollow(fans[1].id, star.id, at(2))
        .await
        .unwrap());
    assert_eq!(read().await, ids(&[&fans[0], &fans[2], &late]));
    assert_eq!(
        h.store().follower_ids(star.id, 2).await.unwrap(),
        ids(&[&fans[0], &fans[2]])
    );
    h.follow(&fans[1], &star).await;
    assert_eq!(read().await, ids(&[&fans[0], &fans[2], &late, &fans[1]]));
    // Following someone else is not following the star.
    h.follow(&fans[0], &late).await;
    assert_eq!(read().await.len(), 4);
}

// ---------------------------------------------------------------------------------------------
// Instantiation
// ---------------------------------------------------------------------------------------------

macro_rules! conformance {
    ($($test:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let harness = super::Harness::sqlite().await;
                    super::$test(&harness).await;
                    harness.close().await;
                }
            )+
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let harness = super::Harness::postgres().await;
                    super::$test(&harness).await;
                    harness.close().await;
                }
            )+
        }
    };
}

conformance!(
    a_confirmed_signup_becomes_its_account_once,
    an_expired_signup_confirms_nothing,
    a_signup_whose_name_was_taken_since_stays_and_writes_nothing,
    purge_deletes_only_expired_signups,
    concurrent_confirmations_of_one_signup_have_one_winner,
    create_user_returns_the_stored_user,
    created_at_is_kept_to_the_microsecond,
    user_by_username_ignores_case,
    credentials_by_lowercase_username_or_email,
    users_by_ids_skips_unknown_ids,
    duplicate_username_is_taken_ignoring_case,
    duplicate_email_is_taken,
    duplicate_id_is_an_error_not_a_taken_field,
    update_profile_changes_only_the_given_fields,
    update_profile_of_unknown_user_is_not_found,
    search_matches_username_or_display_name_ignoring_case,
    search_orders_by_lowercased_username_bytewise,
    search_pages_with_after_cover_every_user_once,
    search_treats_wildcards_literally,
    search_folds_ascii_case_only,
    search_respects_the_limit,
    follow_and_unfollow_are_idempotent,
    follow_of_an_unknown_user_is_not_found,
    self_follow_is_refused,
    follow_counts_count_both_directions,
    followers_and_following_are_newest_first,
    follow_pages_cover_every_edge_exactly_once,
    following_ids_lists_every_followee,
    suggestions_exclude_self_and_followed_users,
    suggestions_rank_by_followers_then_newest,
    refresh_token_rotates_into_the_same_family_and_owner,
    unknown_refresh_token_is_invalid,
    expired_refresh_token_is_invalid,
    reused_refresh_token_revokes_the_family,
    revoke_family_of_revokes_every_token_of_the_family,
    concurrent_follows_of_one_pair_make_one_edge,
    concurrent_rotations_of_one_token_have_one_winner,
    revocation_racing_a_rotation_leaves_no_live_token,
    migrations_are_idempotent,
    every_change_writes_its_event_in_the_same_transaction,
    refused_changes_write_no_event,
    follower_ids_lists_followers_up_to_the_limit,
    follower_ids_show_each_follow_and_unfollow_in_order,
    revoke_user_tokens_signs_out_every_family_of_that_user_only,
    change_password_replaces_the_hash_and_revokes_every_token,
    purge_deletes_only_expired_tokens,
    sign_out_everywhere_racing_a_rotation_leaves_no_live_token,
);
