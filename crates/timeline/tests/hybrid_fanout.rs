//! Hybrid fan-out gives the same home timelines as fanning every post out: one sequence of
//! posts, follows, unfollows, deletes and evictions is applied to a fake follow graph and post
//! store shared by two timeline services — one whose fan-out limit is 1 follower (nearly every
//! author turns popular along the way), one whose limit is never reached — each with its own
//! in-memory store and fan-out consumer. After every step every user's home timeline, all
//! pages, must be the same in both, and equal to what the follows and posts say.

// Test code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::Utc;
use socialdevs_api::internal::{OwnAfter, TimelinePage};
use socialdevs_api::{Author, Post};
use socialdevs_events::types::{
    EventType, PostCreatedV1, PostDeletedV1, UserFollowedV1, UserUnfollowedV1,
};
use socialdevs_events::{CloudEvent, Handler};
use socialdevs_platform::pagination::PageParams;
use socialdevs_platform::ApiError;
use socialdevs_timeline::store::{Entry, MemoryTimelines, TimelineStore, TimelineStoreSettings};
use socialdevs_timeline::{Fanout, FollowGraph, PostFeed, TimelineService, TimelineSettings};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// The other services, faked
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Data {
    /// (follower, followee).
    follows: BTreeSet<(Uuid, Uuid)>,
    /// Post id -> author, for posts that exist.
    posts: BTreeMap<Uuid, Uuid>,
}

/// Calls to the fake services, by port method.
#[derive(Default)]
struct Calls {
    following_ids: AtomicUsize,
    follower_ids: AtomicUsize,
    timeline_page: AtomicUsize,
    recent_entries: AtomicUsize,
}

impl Calls {
    fn snapshot(&self) -> [usize; 4] {
        [
            self.following_ids.load(Ordering::SeqCst),
            self.follower_ids.load(Ordering::SeqCst),
            self.timeline_page.load(Ordering::SeqCst),
            self.recent_entries.load(Ordering::SeqCst),
        ]
    }
}

/// The users and posts services: the truth both timeline services are built from.
#[derive(Default)]
struct World {
    data: Mutex<Data>,
    calls: Calls,
}

impl World {
    fn data(&self) -> std::sync::MutexGuard<'_, Data> {
        self.data.lock().unwrap()
    }

    /// What `user`'s home timeline must show: their own and followed users' posts, newest
    /// first.
    fn home(&self, user: Uuid) -> Vec<Uuid> {
        let data = self.data();
        data.posts
            .iter()
            .rev()
            .filter(|(_, author)| **author == user || data.follows.contains(&(user, **author)))
            .map(|(post, _)| *post)
            .collect()
    }
}

fn post(id: Uuid, author: Uuid) -> Post {
    Post {
        id,
        author: Author {
            id: author,
            username: format!("u{}", author.simple()),
            display_name: "U".into(),
        },
        text: format!("post {id}"),
        created_at: Utc::now(),
        reply_to: None,
        like_count: 0,
        reply_count: 0,
        liked_by_me: false,
        hashtags: vec![],
        mentions: vec![],
    }
}

struct Graph(Arc<World>);

#[async_trait]
impl FollowGraph for Graph {
    async fn following_ids(&self, user: Uuid) -> Result<Vec<Uuid>, ApiError> {
        self.0.calls.following_ids.fetch_add(1, Ordering::SeqCst);
        let data = self.0.data();
        Ok(data
            .follows
            .iter()
            .filter(|(follower, _)| *follower == user)
            .map(|(_, followee)| *followee)
            .collect())
    }

    async fn follower_ids(&self, user: Uuid, limit: u32) -> Result<Vec<Uuid>, ApiError> {
        self.0.calls.follower_ids.fetch_add(1, Ordering::SeqCst);
        let data = self.0.data();
        Ok(data
            .follows
            .iter()
            .filter(|(_, followee)| *followee == user)
            .map(|(follower, _)| *follower)
            .take(limit as usize)
            .collect())
    }
}

struct Feed(Arc<World>);

#[async_trait]
impl PostFeed for Feed {
    async fn timeline_page(
        &self,
        ids: Vec<Uuid>,
        viewer: Uuid,
        own_after: Option<OwnAfter>,
    ) -> Result<TimelinePage, ApiError> {
        self.0.calls.timeline_page.fetch_add(1, Ordering::SeqCst);
        let data = self.0.data();
        let mut posts: Vec<Post> = ids
            .iter()
            .filter_map(|id| data.posts.get(id).map(|author| post(*id, *author)))
            .collect();
        posts.sort_by_key(|p| std::cmp::Reverse(p.id));
        let own = match own_after {
            None => Vec::new(),
            Some(own) => data
                .posts
                .iter()
                .rev()
                .filter(|(_, author)| **author == viewer)
                .take(own.limit as usize)
                .filter(|(id, _)| own.after.is_none_or(|after| **id > after))
                .map(|(id, author)| post(*id, *author))
                .collect(),
        };
        Ok(TimelinePage { posts, own })
    }

    async fn recent_entries(&self, authors: Vec<Uuid>, limit: u32) -> Result<Vec<Entry>, ApiError> {
        self.0.calls.recent_entries.fetch_add(1, Ordering::SeqCst);
        let data = self.0.data();
        Ok(data
            .posts
            .iter()
            .rev()
            .filter(|(_, author)| authors.contains(author))
            .take(limit as usize)
            .map(|(post_id, author_id)| Entry {
                post_id: *post_id,
                author_id: *author_id,
            })
            .collect())
    }
}

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// Far more than any run posts: both services keep every post.
const CAP: usize = 800;

/// Small pages: every timeline spans several.
const PAGE: u32 = 3;

/// One timeline service with its own store and fan-out consumer.
struct Side {
    name: &'static str,
    service: TimelineService,
    store: Arc<MemoryTimelines>,
    fanout: Fanout,
}

impl Side {
    fn new(name: &'static str, world: &Arc<World>, fanout_max_followers: u32) -> Self {
        let store = Arc::new(MemoryTimelines::new(
            TimelineStoreSettings {
                cap: CAP,
                ..TimelineStoreSettings::default()
            },
            10_000,
        ));
        let service = TimelineService::new(
            store.clone(),
            Arc::new(Graph(world.clone())),
            Arc::new(Feed(world.clone())),
            TimelineSettings {
                cap: CAP,
                fanout_max_followers,
                ..TimelineSettings::default()
            },
        );
        Self {
            name,
            fanout: Fanout(service.clone()),
            service,
            store,
        }
    }

    /// `user`'s whole home timeline, page by page.
    async fn home(&self, user: Uuid) -> Vec<Uuid> {
        let mut ids = Vec::new();
        let mut cursor = None;
        for _ in 0..1_000 {
            let page = self
                .service
                .home(
                    user,
                    &PageParams {
                        limit: Some(PAGE),
                        cursor,
                    },
                )
                .await
                .unwrap();
            ids.extend(page.items.iter().map(|p| p.id));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return ids,
            }
        }
        panic!("{}: the pages of {user} never end", self.name);
    }
}

/// The world, the two services, and the users.
struct Run {
    world: Arc<World>,
    hybrid: Side,
    plain: Side,
    users: Vec<Uuid>,
    rng: u64,
}

impl Run {
    fn new(users: usize, seed: u64) -> Self {
        let world = Arc::new(World::default());
        Self {
            hybrid: Side::new("hybrid", &world, 1),
            plain: Side::new("plain", &world, 1_000_000),
            world,
            users: (0..users).map(|_| Uuid::now_v7()).collect(),
            rng: seed.max(1),
        }
    }

    /// xorshift64*: deterministic for a seed.
    fn below(&mut self, n: usize) -> usize {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }

    /// Delivers an event to both fan-out consumers (now and then twice: redelivery).
    async fn deliver<E: EventType>(&mut self, event: &E) {
        let event = CloudEvent::of(event, Utc::now());
        let times = if self.below(10) == 0 { 2 } else { 1 };
        for _ in 0..times {
            self.hybrid.fanout.handle(&event).await.unwrap();
            self.plain.fanout.handle(&event).await.unwrap();
        }
    }

    async fn follow(&mut self, follower: Uuid, followee: Uuid) {
        assert!(self.world.data().follows.insert((follower, followee)));
        self.deliver(&UserFollowedV1 {
            follower_id: follower,
            follower_username: "follower".into(),
            followee_id: followee,
            followee_username: "followee".into(),
            followed_at: Utc::now(),
        })
        .await;
    }

    async fn unfollow(&mut self, follower: Uuid, followee: Uuid) {
        assert!(self.world.data().follows.remove(&(follower, followee)));
        self.deliver(&UserUnfollowedV1 {
            follower_id: follower,
            followee_id: followee,
            unfollowed_at: Utc::now(),
        })
        .await;
    }

    async fn post(&mut self, author: Uuid) -> Uuid {
        let id = Uuid::now_v7();
        self.world.data().posts.insert(id, author);
        self.deliver(&PostCreatedV1 {
            post_id: id,
            author_id: author,
            author_username: "author".into(),
            author_display_name: "Author".into(),
            text: "hello".into(),
            hashtags: vec![],
            mentions: vec![],
            mentioned_user_ids: vec![],
            reply_to: None,
            reply_to_author_id: None,
            created_at: Utc::now(),
        })
        .await;
        id
    }

    async fn delete(&mut self, post: Uuid) {
        let author = self.world.data().posts.remove(&post).unwrap();
        self.deliver(&PostDeletedV1 {
            post_id: post,
            author_id: author,
            reply_to: None,
            deleted_at: Utc::now(),
        })
        .await;
    }

    /// Every user's home timeline is the same on both sides, and what the data says.
    async fn check(&self, step: &str) {
        for &user in &self.users {
            let expected = self.world.home(user);
            let hybrid = self.hybrid.home(user).await;
            let plain = self.plain.home(user).await;
            assert_eq!(hybrid, plain, "{step}: user {user}, hybrid vs plain");
            assert_eq!(hybrid, expected, "{step}: user {user}, hybrid vs the data");
        }
    }

    async fn popular(&self, side: &Side) -> Vec<Uuid> {
        side.store.popular_among(&self.users).await.unwrap().authors
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_author_crossing_the_limit_midway_changes_no_home_timeline() {
    let mut run = Run::new(5, 7);
    let [star, fan1, fan2, fan3, other] = run.users[..] else {
        unreachable!()
    };
    run.follow(fan1, star).await;
    let s1 = run.post(star).await;
    run.post(star).await;
    let o1 = run.post(other).await;
    run.follow(fan1, other).await;
    // Every timeline is read, so built: from here on the fan-out keeps them.
    run.check("one follower each").await;
    assert!(run.popular(&run.hybrid).await.is_empty());

    run.follow(fan2, star).await;
    run.check("star has two followers, not posted since").await;
    assert!(
        run.popular(&run.hybrid).await.is_empty(),
        "marked when posting"
    );

    let s3 = run.post(star).await;
    assert_eq!(run.popular(&run.hybrid).await, vec![star], "crossed");
    run.check("star posted past the limit").await;

    run.follow(fan3, star).await;
    run.post(star).await;
    run.check("a new follower of a popular author").await;

    run.delete(s3).await;
    run.delete(s1).await;
    run.check("a popular author deleted posts").await;

    run.unfollow(fan1, star).await;
    run.check("unfollowed a popular author").await;

    // `other` crosses the limit by followers alone, and first deletes a post.
    run.follow(fan2, other).await;
    run.follow(fan3, other).await;
    run.check("other has three followers").await;
    run.delete(o1).await;
    assert_eq!(run.popular(&run.hybrid).await, vec![star, other]);
    run.check("a delete past the limit").await;
    run.post(other).await;
    run.check("other posted").await;

    // Losing followers does not make an author ordinary again: still the same answers.
    run.unfollow(fan2, star).await;
    run.unfollow(fan3, star).await;
    run.post(star).await;
    run.follow(fan1, star).await;
    run.post(star).await;
    run.check("star is down to one follower").await;

    assert!(run.popular(&run.plain).await.is_empty());
}

#[tokio::test]
async fn reading_a_home_timeline_calls_the_posts_service_once_and_nothing_else() {
    let mut run = Run::new(4, 11);
    let [star, fan1, fan2, reader] = run.users[..] else {
        unreachable!()
    };
    run.follow(fan1, star).await;
    run.follow(fan2, star).await;
    run.follow(reader, fan1).await;
    run.post(star).await;
    run.post(fan1).await;
    run.follow(reader, star).await;
    run.post(star).await;
    assert_eq!(run.popular(&run.hybrid).await, vec![star]);
    run.check("built").await;

    let before = run.world.calls.snapshot();
    let page = run
        .hybrid
        .service
        .home(
            reader,
            &PageParams {
                limit: Some(20),
                cursor: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 3, "two by the popular author, one not");
    let after = run.world.calls.snapshot();
    assert_eq!(
        [
            after[0] - before[0],
            after[1] - before[1],
            after[2] - before[2],
            after[3] - before[3]
        ],
        [0, 0, 1, 0],
        "following_ids, follower_ids, timeline_page, recent_entries"
    );
}

#[tokio::test]
async fn random_histories_give_the_same_home_timelines_either_way() {
    for seed in [1, 2, 3, 2024] {
        let mut run = Run::new(7, seed);
        for step in 0..150 {
            let n = run.users.len();
            let (i, j) = (run.below(n), run.below(n));
            let (a, b) = (run.users[i], run.users[j]);
            let dice = run.below(100);
            let what = if dice < 25 {
                if a == b || run.world.data().follows.contains(&(a, b)) {
                    continue;
                }
                run.follow(a, b).await;
                "follow"
            } else if dice < 35 {
                let follows: Vec<(Uuid, Uuid)> = run.world.data().follows.iter().copied().collect();
                if follows.is_empty() {
                    continue;
                }
                let (follower, followee) = follows[run.below(follows.len())];
                run.unfollow(follower, followee).await;
                "unfollow"
            } else if dice < 75 {
                run.post(a).await;
                "post"
            } else if dice < 90 {
                let posts: Vec<Uuid> = run.world.data().posts.keys().copied().collect();
                if posts.is_empty() {
                    continue;
                }
                let post = posts[run.below(posts.len())];
                run.delete(post).await;
                "delete"
            } else {
                // Cold timelines rebuild; the others are kept by the fan-out.
                let side = if run.below(2) == 0 {
                    &run.hybrid
                } else {
                    &run.plain
                };
                side.store.evict(a).await.unwrap();
                "evict"
            };
            run.check(&format!("seed {seed}, step {step} ({what})"))
                .await;
        }
        assert!(
            run.popular(&run.hybrid).await.len() > 1,
            "seed {seed}: authors turned popular along the way"
        );
    }
}
