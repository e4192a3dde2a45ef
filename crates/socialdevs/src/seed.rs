//! `socialdevs seed`: a realistic demo graph. Popularity follows a power law, so a few users
//! are followed by many, as on any real network.

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::SliceRandom;
use rand::Rng;
use socialdevs_platform::shutdown;
use socialdevs_posts::service::Compose;
use socialdevs_users::service::Registration;
use uuid::Uuid;

use crate::config::Settings;
use crate::keys;
use crate::services::ServiceSet;
use crate::storage::Database;
use crate::wiring::wire;

/// The password of every seeded account.
pub const SEED_PASSWORD: &str = "socialdevs-demo";

const TOPICS: &[&str] = &[
    "rust",
    "vue",
    "kubernetes",
    "postgres",
    "kafka",
    "devops",
    "observability",
    "webassembly",
    "typescript",
    "linux",
    "gitops",
    "testing",
];
const OPENERS: &[&str] = &[
    "Just shipped",
    "Today I learned about",
    "Hot take on",
    "Reading a great post about",
    "Pairing session on",
    "Finally understood",
    "Debugging",
    "Benchmarking",
    "Refactoring",
];
const CLOSERS: &[&str] = &[
    "and it was worth it.",
    "— thoughts?",
    "10/10 would do again.",
    "the docs were excellent.",
    "still not sure how I feel.",
    "ship it!",
    "thread below 👇",
    "🚀",
];
const FIRST: &[&str] = &[
    "ada",
    "linus",
    "grace",
    "ken",
    "barbara",
    "dennis",
    "margaret",
    "alan",
    "radia",
    "guido",
    "bjarne",
    "frances",
    "donald",
    "sophie",
    "tim",
    "katherine",
    "john",
    "hedy",
    "niklaus",
    "anita",
];

fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>8} [{bar:40.cyan/blue}] {pos}/{len} ({eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

struct Seeders {
    users: socialdevs_users::UsersService,
    posts: socialdevs_posts::PostsService,
}

/// Seeds `users` users and `posts` posts (with follows, likes and replies).
pub async fn run(settings: &Settings, users: u32, posts: u32) -> anyhow::Result<()> {
    let db = Database::open(settings).await?;
    let keys = keys::load(settings)?;
    anyhow::ensure!(
        keys.issuer.is_some(),
        "seeding signs in users: configure the private key"
    );
    // Seeding writes through every service's rules, all in this process.
    let (_stop, shutdown) = shutdown::channel();
    let wired = wire(&ServiceSet::all(), &db, settings, &keys, &shutdown).await?;
    let services = Seeders {
        users: wired
            .service(socialdevs_users::SERVICE)
            .context("the users service is not wired")?,
        posts: wired
            .service(socialdevs_posts::SERVICE)
            .context("the posts service is not wired")?,
    };
    let mut rng = rand::thread_rng();
    let run_tag: String = Uuid::now_v7().simple().to_string()[24..].to_owned();

    let progress = bar(u64::from(users), "users");
    let mut ids = Vec::with_capacity(users as usize);
    for i in 0..users {
        let first = FIRST[i as usize % FIRST.len()];
        let username = format!("{first}_{run_tag}_{i}");
        let username: String = username.chars().take(30).collect();
        let user = services
            .users
            .create_account(Registration {
                username: username.clone(),
                email: format!("{username}@example.com"),
                password: SEED_PASSWORD.into(),
                display_name: Some(format!("{}{} {i}", first[..1].to_uppercase(), &first[1..])),
            })
            .await
            .map_err(|e| anyhow::anyhow!("registering {username}: {e}"))?;
        ids.push((user.id, user.username));
        progress.inc(1);
    }
    progress.finish();

    // Power-law popularity: the user at rank r is followed with probability ~ 1/(r+1)^0.8.
    let progress = bar(u64::from(users), "follows");
    let mut follows = 0u64;
    for (follower, _) in &ids {
        for (rank, (_, username)) in ids.iter().enumerate() {
            let p = 1.0 / ((rank + 1) as f64).powf(0.8);
            if rng.gen_bool(p.min(1.0)) && services.users.follow(*follower, username).await.is_ok()
            {
                follows += 1;
            }
        }
        progress.inc(1);
    }
    progress.finish();

    let progress = bar(u64::from(posts), "posts");
    let mut post_ids: Vec<Uuid> = Vec::with_capacity(posts as usize);
    for _ in 0..posts {
        let Some((author, _)) = ids.choose(&mut rng) else {
            break;
        };
        let topic = TOPICS.choose(&mut rng).copied().unwrap_or("rust");
        let mut text = format!(
            "{} #{topic} {}",
            OPENERS.choose(&mut rng).copied().unwrap_or("Shipped"),
            CLOSERS.choose(&mut rng).copied().unwrap_or("")
        );
        if rng.gen_bool(0.2) {
            if let Some((_, mention)) = ids.choose(&mut rng) {
                text.push_str(&format!(" cc @{mention}"));
            }
        }
        let reply_to = if !post_ids.is_empty() && rng.gen_bool(0.15) {
            post_ids.choose(&mut rng).copied()
        } else {
            None
        };
        let composed = services
            .posts
            .create(
                *author,
                Compose {
                    text,
                    reply_to,
                    idempotency_key: None,
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("posting: {e}"))?;
        post_ids.push(composed.post.id);
        for _ in 0..rng.gen_range(0..4) {
            if let Some((liker, name)) = ids.choose(&mut rng) {
                let _ = services.posts.like(composed.post.id, *liker, name).await;
            }
        }
        progress.inc(1);
    }
    progress.finish();
    println!(
        "seeded {} users, {follows} follows, {} posts; every seeded account's password is `{SEED_PASSWORD}`",
        ids.len(),
        post_ids.len()
    );
    Ok(())
}
