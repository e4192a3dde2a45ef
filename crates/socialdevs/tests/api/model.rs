//! The timeline correctness checker: a seeded random sequence of register / follow /
//! unfollow / post / reply / delete / like across a few dozen users, applied through the
//! public API and to a small reference model; once the event pipeline has caught up, every
//! user's home timeline (all pages) must equal the model's — the same posts, newest first, no
//! duplicates, nothing from unfollowed authors, nothing deleted, the right like counts.
//!
//! `SOCIALDEVS_TEST_SEED=<n>` replays a run; the seed is printed on failure.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;

use crate::helpers::{spawn_app, Session};

const USERS: usize = 30;
const OPERATIONS: usize = 300;

#[derive(Default)]
struct Model {
    /// (follower, followee) by user index.
    follows: BTreeSet<(usize, usize)>,
    /// Post id -> (author index, likers), for posts that exist.
    posts: BTreeMap<String, (usize, BTreeSet<usize>)>,
}

impl Model {
    /// What `user`'s home timeline must show: (post id, like count), newest first.
    fn home(&self, user: usize) -> Vec<(String, usize)> {
        let mut posts: Vec<(String, usize)> = self
            .posts
            .iter()
            .filter(|(_, (author, _))| *author == user || self.follows.contains(&(user, *author)))
            .map(|(id, (_, likers))| (id.clone(), likers.len()))
            .collect();
        // UUIDv7 strings sort like time.
        posts.sort_by(|a, b| b.0.cmp(&a.0));
        posts
    }
}

#[tokio::test]
async fn home_timelines_match_a_reference_model() {
    let seed: u64 = std::env::var("SOCIALDEVS_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let mut rng = StdRng::seed_from_u64(seed);
    let app = spawn_app().await;
    let mut users: Vec<Session> = Vec::new();
    for i in 0..USERS {
        users.push(app.register(&format!("model_{i}")).await);
    }
    // Read every timeline once, so each is built and from here on kept by the fan-out (not
    // rebuilt on the final read).
    for user in &users {
        let r = app.get("/api/v1/timeline/home", Some(&user.access)).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let mut model = Model::default();
    for step in 0..OPERATIONS {
        let actor = rng.gen_range(0..USERS);
        let who = &users[actor];
        let dice = rng.gen_range(0..100);
        if dice < 25 {
            let other = rng.gen_range(0..USERS);
            if other == actor {
                continue;
            }
            app.follow(who, &users[other].username).await;
            model.follows.insert((actor, other));
        } else if dice < 35 {
            let other = rng.gen_range(0..USERS);
            let r = app
                .delete(
                    &format!("/api/v1/users/{}/follow", users[other].username),
                    &who.access,
                )
                .await;
            if other == actor {
                continue;
            }
            assert_eq!(
                r.status(),
                StatusCode::NO_CONTENT,
                "seed {seed}, step {step}"
            );
            model.follows.remove(&(actor, other));
        } else if dice < 65 {
            let reply_to = if rng.gen_bool(0.3) && !model.posts.is_empty() {
                let n = rng.gen_range(0..model.posts.len());
                model.posts.keys().nth(n).cloned()
            } else {
                None
            };
            let post = app
                .create_post(who, &format!("step {step} by {actor}"), reply_to.as_deref())
                .await;
            let id = post["id"].as_str().unwrap().to_owned();
            model.posts.insert(id, (actor, BTreeSet::new()));
        } else if dice < 75 {
            let own: Vec<String> = model
                .posts
                .iter()
                .filter(|(_, (author, _))| *author == actor)
                .map(|(id, _)| id.clone())
                .collect();
            if own.is_empty() {
                continue;
            }
            let id = own[rng.gen_range(0..own.len())].clone();
            let r = app
                .delete(&format!("/api/v1/posts/{id}"), &who.access)
                .await;
            assert_eq!(
                r.status(),
                StatusCode::NO_CONTENT,
                "seed {seed}, step {step}"
            );
            model.posts.remove(&id);
        } else if !model.posts.is_empty() {
            let n = rng.gen_range(0..model.posts.len());
            let id = model.posts.keys().nth(n).cloned().unwrap();
            let like = rng.gen_bool(0.7);
            let path = format!("/api/v1/posts/{id}/like");
            let r = if like {
                app.put(&path, &who.access).await
            } else {
                app.delete(&path, &who.access).await
            };
            assert_eq!(
                r.status(),
                StatusCode::NO_CONTENT,
                "seed {seed}, step {step}"
            );
            let likers = &mut model.posts.get_mut(&id).unwrap().1;
            if like {
                likers.insert(actor);
            } else {
                likers.remove(&actor);
            }
        }
    }

    // The pipeline is asynchronous: compare until every timeline matches or time runs out.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut pending: Vec<usize> = (0..USERS).collect();
    loop {
        let mut mismatches = HashMap::new();
        for &user in &pending {
            let pages = app
                .collect_pages("/api/v1/timeline/home", Some(&users[user].access), 7)
                .await;
            let actual: Vec<(String, usize)> = pages
                .iter()
                .map(|p| {
                    (
                        p["id"].as_str().unwrap().to_owned(),
                        p["like_count"].as_u64().unwrap() as usize,
                    )
                })
                .collect();
            let expected = model.home(user);
            if actual != expected {
                mismatches.insert(user, (expected, actual, pages));
            }
        }
        if mismatches.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            let (user, (expected, actual, _)) = mismatches.iter().next().unwrap();
            let expected_ids: Vec<&String> = expected.iter().map(|(id, _)| id).collect();
            let actual_ids: Vec<&String> = actual.iter().map(|(id, _)| id).collect();
            panic!(
                "seed {seed}: {} of {USERS} home timelines differ from the model; user \
                 {user}:\n expected {expected:?}\n actual   {actual:?}\n missing {:?}\n extra {:?}",
                mismatches.len(),
                expected_ids
                    .iter()
                    .filter(|id| !actual_ids.contains(id))
                    .collect::<Vec<_>>(),
                actual_ids
                    .iter()
                    .filter(|id| !expected_ids.contains(id))
                    .collect::<Vec<_>>(),
            );
        }
        pending = mismatches.into_keys().collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
