//! Seeding through the public API: users, a power-law follow graph (Zipf over authors) and
//! their first posts, with bounded concurrency; saved to a state file so that a later run
//! against the same server can reuse it.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::api::{Api, AuthSession};
use crate::progress::Output;
use crate::sessions::{Account, Sessions};
use crate::texts::post_text;
use crate::zipf::{assign_follows, follower_counts, Zipf};

/// What to seed.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    pub users: usize,
    pub posts_per_user: usize,
    pub follows_per_user: usize,
    /// Exponent of the authors' Zipf popularity.
    pub zipf_exponent: f64,
    /// Requests in flight while seeding.
    pub concurrency: usize,
    pub rng_seed: u64,
}

impl Default for SeedOptions {
    fn default() -> Self {
        Self {
            users: 200,
            posts_per_user: 5,
            follows_per_user: 20,
            zipf_exponent: 1.0,
            concurrency: 8,
            rng_seed: 42,
        }
    }
}

/// The state file: what was seeded on which server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub base_url: String,
    pub created_at: String,
    /// Part of every seeded username, unique to this seeding.
    pub tag: String,
    pub zipf_exponent: f64,
    pub posts_per_user: usize,
    /// User 0 is the most popular author, then 1, and so on.
    pub users: Vec<Account>,
    /// Whom each user follows (indexes into `users`).
    pub following: Vec<Vec<usize>>,
    /// The posts seeded for each user.
    pub posts: Vec<Vec<String>>,
}

const STATE_VERSION: u32 = 1;

impl State {
    /// Reads a state file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the state file {}", path.display()))?;
        let state: Self = serde_json::from_str(&text)
            .with_context(|| format!("decoding the state file {}", path.display()))?;
        anyhow::ensure!(
            state.version == STATE_VERSION,
            "state file {} is version {}, this load generator writes {STATE_VERSION}",
            path.display(),
            state.version
        );
        anyhow::ensure!(
            !state.users.is_empty() && state.following.len() == state.users.len(),
            "state file {} has no users or an inconsistent graph",
            path.display()
        );
        Ok(state)
    }

    /// Writes the state file (its folder is created).
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let text = serde_json::to_string_pretty(self)?;
        let partial = path.with_extension("json.partial");
        std::fs::write(&partial, text).with_context(|| format!("writing {}", partial.display()))?;
        std::fs::rename(&partial, path).with_context(|| format!("writing {}", path.display()))
    }
}

/// The seeded users, signed in, and their graph: what a workload draws from.
#[derive(Debug)]
pub struct Population {
    pub sessions: Arc<Sessions>,
    /// Whom each user follows.
    pub following: Vec<Vec<usize>>,
    /// Popularity of the authors (rank = user index).
    pub zipf: Zipf,
    pub zipf_exponent: f64,
    pub posts_per_user: usize,
    pub tag: String,
    /// Whether it came from a state file rather than a fresh seeding.
    pub reused: bool,
    base_url: String,
    created_at: String,
    posts: Vec<Vec<String>>,
}

impl Population {
    /// Number of users.
    pub fn users(&self) -> usize {
        self.sessions.len()
    }

    /// Number of follow edges.
    pub fn follows(&self) -> usize {
        self.following.iter().map(Vec::len).sum()
    }

    /// Followers of the most followed user.
    pub fn top_followers(&self) -> usize {
        follower_counts(&self.following)
            .into_iter()
            .max()
            .unwrap_or(0)
    }

    /// The state to save, with the newest refresh tokens.
    pub fn state(&self) -> State {
        State {
            version: STATE_VERSION,
            base_url: self.base_url.clone(),
            created_at: self.created_at.clone(),
            tag: self.tag.clone(),
            zipf_exponent: self.zipf_exponent,
            posts_per_user: self.posts_per_user,
            users: self.sessions.accounts(),
            following: self.following.clone(),
            posts: self.posts.clone(),
        }
    }

    /// One line describing it.
    pub fn describe(&self) -> String {
        format!(
            "{} users{}, {} follows (most followed: {} followers), {} posts each",
            self.users(),
            if self.reused { " (reused)" } else { "" },
            self.follows(),
            self.top_followers(),
            self.posts_per_user
        )
    }
}

/// The seeded population: reused from `state` when the file exists and the server knows its
/// first user (unless `fresh`), seeded anew otherwise — and then saved to `state`.
pub async fn prepare(
    api: &Api,
    options: &SeedOptions,
    state: Option<&Path>,
    fresh: bool,
    out: &Output,
) -> anyhow::Result<Population> {
    if let Some(path) = state.filter(|p| !fresh && p.exists()) {
        match reuse(api, path, options, out).await? {
            Some(population) => {
                // Refresh tokens rotated: keep the new ones.
                population.state().save(path)?;
                return Ok(population);
            }
            None => out.note(&format!(
                "state file {} does not match {} or --users {}: seeding anew",
                path.display(),
                api.base(),
                options.users
            )),
        }
    }
    let population = seed(api, options, out).await?;
    if let Some(path) = state {
        population.state().save(path)?;
        out.note(&format!("saved the seeded graph to {}", path.display()));
    }
    Ok(population)
}

/// The population of a state file, if it has as many users as asked and the server knows
/// its first user.
async fn reuse(
    api: &Api,
    path: &Path,
    options: &SeedOptions,
    out: &Output,
) -> anyhow::Result<Option<Population>> {
    let state = match State::load(path) {
        Ok(state) => state,
        Err(e) => {
            out.note(&format!("{e:#}"));
            return Ok(None);
        }
    };
    if state.users.len() != options.users {
        return Ok(None);
    }
    let first = &state.users[0].username;
    if !api.user_exists(first).await? {
        return Ok(None);
    }
    out.note(&format!(
        "reusing {} users from {} (signing them in)",
        state.users.len(),
        path.display()
    ));
    let sessions = Sessions::resume(api, &state.users, options.concurrency).await?;
    Ok(Some(Population {
        sessions: Arc::new(sessions),
        zipf: Zipf::new(state.users.len(), state.zipf_exponent)?,
        zipf_exponent: state.zipf_exponent,
        following: state.following,
        posts_per_user: state.posts_per_user,
        tag: state.tag,
        reused: true,
        base_url: api.base().to_owned(),
        created_at: state.created_at,
        posts: state.posts,
    }))
}

/// A fresh tag for usernames: 6 lowercase hex digits.
fn new_tag() -> String {
    format!("{:06x}", rand::random::<u32>() & 0x00ff_ffff)
}

/// Seeds `options.users` users with the API, their follows and their posts.
pub async fn seed(api: &Api, options: &SeedOptions, out: &Output) -> anyhow::Result<Population> {
    anyhow::ensure!(options.users > 0, "seeding needs at least one user");
    let concurrency = options.concurrency.max(1);
    let tag = new_tag();
    let password = format!("loadgen-{:016x}", rand::random::<u64>());
    let mut rng = StdRng::seed_from_u64(options.rng_seed);
    let zipf = Zipf::new(options.users, options.zipf_exponent)?;
    let following = assign_follows(&zipf, options.follows_per_user, &mut rng);

    let bar = out.bar(options.users as u64, "users");
    let mut signed_in: Vec<(usize, AuthSession)> = futures::stream::iter(0..options.users)
        .map(|i| {
            let (password, tag, bar) = (&password, &tag, &bar);
            async move {
                let username = format!("lg{tag}_{i}");
                let session = api
                    .register(&username, &format!("{username}@example.com"), password)
                    .await?;
                bar.inc(1);
                anyhow::Ok((i, session))
            }
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    bar.finish_and_clear();
    signed_in.sort_by_key(|(i, _)| *i);
    let sessions = Sessions::new(
        signed_in
            .into_iter()
            .map(|(_, session)| (session, password.clone()))
            .collect(),
    );

    let edges: Vec<(usize, usize)> = following
        .iter()
        .enumerate()
        .flat_map(|(follower, authors)| authors.iter().map(move |&author| (follower, author)))
        .collect();
    let bar = out.bar(edges.len() as u64, "follows");
    futures::stream::iter(edges)
        .map(|(follower, author)| {
            let (sessions, bar) = (&sessions, &bar);
            async move {
                api.follow(&sessions.access(follower), sessions.username(author))
                    .await?;
                bar.inc(1);
                anyhow::Ok(())
            }
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<()>>()
        .await?;
    bar.finish_and_clear();

    let jobs: Vec<(usize, String)> = (0..options.users)
        .flat_map(|user| (0..options.posts_per_user).map(move |_| user))
        .map(|user| {
            let mention = rng
                .gen_bool(0.2)
                .then(|| sessions.username(zipf.sample(&mut rng)).to_owned());
            (user, post_text(&mut rng, mention.as_deref()))
        })
        .collect();
    let bar = out.bar(jobs.len() as u64, "posts");
    let created: Vec<(usize, String)> = futures::stream::iter(jobs)
        .map(|(user, text)| {
            let (sessions, bar) = (&sessions, &bar);
            async move {
                let post = api.compose(&sessions.access(user), &text).await?;
                bar.inc(1);
                anyhow::Ok((user, post.id))
            }
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    bar.finish_and_clear();
    let mut posts = vec![Vec::new(); options.users];
    for (user, id) in created {
        if let Some(list) = posts.get_mut(user) {
            list.push(id);
        }
    }

    let population = Population {
        sessions: Arc::new(sessions),
        following,
        zipf,
        zipf_exponent: options.zipf_exponent,
        posts_per_user: options.posts_per_user,
        tag,
        reused: false,
        base_url: api.base().to_owned(),
        created_at: chrono::Utc::now().to_rfc3339(),
        posts,
    };
    out.note(&format!("seeded {}", population.describe()));
    Ok(population)
}
