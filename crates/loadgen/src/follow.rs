//! Post → follower latency. Each of `authors` authors gets `followers_per_author` followers
//! of its own, each with its live home stream open (`/api/v1/timeline/home/stream`); the
//! authors post at a constant total rate (open loop), and each delivery is timed from the
//! moment the compose request was acknowledged (201) to the post's arrival on the stream.
//! Deliveries that do not arrive within the timeout are missed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;
use serde_json::json;
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;

use crate::api::{Api, AuthSession};
use crate::progress::Output;
use crate::schedule::{self, Schedule};
use crate::sse;
use crate::stats::{self, Errors, Outcome, Summary};
use crate::texts::post_text;

/// How to measure.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    pub authors: usize,
    pub followers_per_author: usize,
    /// Posts a second, all authors together.
    pub rate: f64,
    pub duration: Duration,
    /// A delivery later than this after the acknowledgement is missed.
    pub timeout: Duration,
    /// Requests in flight while registering and following.
    pub concurrency: usize,
    /// Compose requests at once.
    pub connections: usize,
}

impl Default for FollowOptions {
    fn default() -> Self {
        Self {
            authors: 10,
            followers_per_author: 20,
            rate: 200.0,
            duration: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            concurrency: 8,
            connections: 64,
        }
    }
}

/// What it measured.
#[derive(Debug, Clone, Serialize)]
pub struct FollowReport {
    pub authors: usize,
    pub followers_per_author: usize,
    pub rate: f64,
    pub duration_s: f64,
    pub timeout_s: f64,
    /// Compose requests scheduled.
    pub posts_scheduled: u64,
    /// Compose requests acknowledged (201).
    pub posts_acknowledged: u64,
    pub compose_errors: Errors,
    /// Compose latency from the scheduled send time to the acknowledgement.
    pub compose_latency: Summary,
    /// Acknowledged posts × their author's followers.
    pub deliveries_expected: u64,
    /// Arrived within the timeout.
    pub delivered: u64,
    /// Not arrived within the timeout.
    pub missed: u64,
    /// Arrived before the acknowledgement itself (timed as 0).
    pub before_ack: u64,
    /// Acknowledgement → arrival on a follower's stream.
    pub delivery_latency: Summary,
    pub streams_opened: usize,
    /// Streams that ended (or sent `resync`/`expired`) before the measurement did.
    pub streams_ended_early: usize,
}

/// What one follower's stream saw.
struct Arrivals {
    follower: usize,
    posts: Vec<(String, Instant)>,
    ended_early: bool,
}

/// Runs the measurement.
pub async fn run(api: &Api, options: &FollowOptions, out: &Output) -> anyhow::Result<FollowReport> {
    anyhow::ensure!(
        options.authors > 0 && options.followers_per_author > 0,
        "follow-latency needs at least one author and one follower"
    );
    // Streams end when their access token expires (15 minutes).
    anyhow::ensure!(
        options.duration + options.timeout <= Duration::from_secs(600),
        "follow-latency runs for at most 10 minutes, as its streams' tokens are not refreshed"
    );
    let schedule = Schedule::new(options.rate, Duration::ZERO, options.duration)?;
    let tag = format!("{:06x}", rand::random::<u32>() & 0x00ff_ffff);
    let password = format!("loadgen-{:016x}", rand::random::<u64>());
    let followers_total = options.authors * options.followers_per_author;

    // Authors, then their followers, each following exactly one author.
    let bar = out.bar((options.authors + followers_total) as u64, "accounts");
    let names: Vec<String> = (0..options.authors)
        .map(|a| format!("lf{tag}_a{a}"))
        .chain((0..followers_total).map(|f| format!("lf{tag}_f{f}")))
        .collect();
    let sessions: Vec<AuthSession> = futures::stream::iter(names)
        .map(|name| {
            let (password, bar) = (&password, &bar);
            async move {
                let session = api
                    .register(&name, &format!("{name}@example.com"), password)
                    .await?;
                bar.inc(1);
                anyhow::Ok(session)
            }
        })
        .buffered(options.concurrency.max(1))
        .try_collect()
        .await?;
    bar.finish_and_clear();
    let (authors, followers) = sessions.split_at(options.authors);
    let author_of = |follower: usize| follower / options.followers_per_author;
    let bar = out.bar(followers.len() as u64, "follows");
    futures::stream::iter(followers.iter().enumerate())
        .map(|(f, session)| {
            let author = &authors[author_of(f)].user.username;
            let bar = &bar;
            async move {
                api.follow(&session.access_token, author).await?;
                bar.inc(1);
                anyhow::Ok(())
            }
        })
        .buffer_unordered(options.concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    bar.finish_and_clear();

    // Open every follower's stream and wait for its `ready`.
    let bar = out.bar(followers.len() as u64, "streams");
    let stream_client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        .build()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut readers = Vec::with_capacity(followers.len());
    let mut ready = Vec::with_capacity(followers.len());
    for (f, session) in followers.iter().enumerate() {
        let url = api.url(&format!(
            "/api/v1/timeline/home/stream?access_token={}",
            session.access_token
        ));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        ready.push(ready_rx);
        readers.push(tokio::spawn(read_stream(
            stream_client.clone(),
            url,
            f,
            ready_tx,
            stop_rx.clone(),
        )));
    }
    for ready_rx in ready {
        match tokio::time::timeout(Duration::from_secs(30), ready_rx).await {
            Ok(Ok(Ok(()))) => bar.inc(1),
            Ok(Ok(Err(e))) => {
                let _ = stop_tx.send(true);
                return Err(e.context("opening a follower's home stream"));
            }
            _ => {
                let _ = stop_tx.send(true);
                anyhow::bail!("a follower's home stream did not become ready in 30 s");
            }
        }
    }
    bar.finish_and_clear();

    // Post on schedule (from a thread of its own, see `schedule::drive`); note each
    // acknowledgement.
    let composer = Arc::new(Composer {
        api: api.clone(),
        tokens: authors.iter().map(|s| s.access_token.clone()).collect(),
        connections: Semaphore::new(options.connections.max(1)),
        timeout: options.timeout,
        acks: Mutex::new(Vec::new()),
        record: Mutex::new((stats::histogram()?, Errors::default())),
    });
    let bar = out.bar(schedule.total(), "posts");
    let start = Instant::now() + Duration::from_millis(20);
    let runtime = tokio::runtime::Handle::current();
    let scheduler = {
        let (composer, bar, authors) = (composer.clone(), bar.clone(), options.authors);
        tokio::task::spawn_blocking(move || {
            let mut rng = StdRng::seed_from_u64(7);
            let mut tasks = Vec::new();
            schedule::drive(&schedule, start.into_std(), |i, due| {
                let author = usize::try_from(i).unwrap_or(0) % authors;
                let text = post_text(&mut rng, None);
                let (composer, bar) = (composer.clone(), bar.clone());
                tasks.push(runtime.spawn(async move {
                    composer.compose(author, text, Instant::from_std(due)).await;
                    bar.inc(1);
                }));
            });
            tasks
        })
    };
    let tasks = scheduler
        .await
        .map_err(|e| anyhow::anyhow!("the scheduler stopped: {e}"))?;
    for task in tasks {
        let _ = task.await;
    }
    bar.finish_and_clear();
    out.note(&format!(
        "posted; waiting {:.1} s for the last deliveries",
        options.timeout.as_secs_f64()
    ));
    tokio::time::sleep(options.timeout).await;
    let _ = stop_tx.send(true);
    let mut arrivals = Vec::with_capacity(readers.len());
    for reader in readers {
        arrivals.push(reader.await?);
    }

    let acks = std::mem::take(&mut *lock(&composer.acks));
    let (compose_hist, compose_errors) = {
        let record = lock(&composer.record);
        (record.0.clone(), record.1.clone())
    };
    tally(
        options,
        schedule.total(),
        &acks,
        &arrivals,
        &compose_hist,
        compose_errors,
    )
}

/// Sends the authors' posts and notes when each was acknowledged.
struct Composer {
    api: Api,
    /// Each author's access token.
    tokens: Vec<String>,
    connections: Semaphore,
    timeout: Duration,
    /// Post id, author, when the 201 arrived.
    acks: Mutex<Vec<(String, usize, Instant)>>,
    /// Compose latency from the due time, and compose errors.
    record: Mutex<(Histogram<u64>, Errors)>,
}

impl Composer {
    async fn compose(&self, author: usize, text: String, due: Instant) {
        let attempt = async {
            let _connection = self.connections.acquire().await.map_err(drop)?;
            let token = self.tokens.get(author).map_or("", String::as_str);
            let response = self
                .api
                .client()
                .post(self.api.url("/api/v1/posts"))
                .bearer_auth(token)
                .json(&json!({"text": text}))
                .send()
                .await
                .map_err(drop)?;
            let acked = Instant::now();
            let status = response.status().as_u16();
            let body = response.bytes().await.map_err(drop)?;
            Ok::<_, ()>((status, acked, body))
        };
        let outcome = match tokio::time::timeout_at(due + self.timeout, attempt).await {
            Ok(Ok((status, acked, body))) => {
                let id = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["id"].as_str().map(str::to_owned));
                match (Outcome::of_status(status), id) {
                    (Outcome::Ok, Some(id)) => {
                        lock(&self.acks).push((id, author, acked));
                        Outcome::Ok
                    }
                    (Outcome::Ok, None) => Outcome::Transport,
                    (failed, _) => failed,
                }
            }
            Ok(Err(())) => Outcome::Transport,
            Err(_) => Outcome::Timeout,
        };
        let mut record = lock(&self.record);
        stats::record(&mut record.0, Instant::now().saturating_duration_since(due));
        record.1.count(outcome);
    }
}

/// Joins acknowledgements and arrivals.
fn tally(
    options: &FollowOptions,
    scheduled: u64,
    acks: &[(String, usize, Instant)],
    arrivals: &[Arrivals],
    compose: &Histogram<u64>,
    compose_errors: Errors,
) -> anyhow::Result<FollowReport> {
    let mut seen: HashMap<(&str, usize), Instant> = HashMap::new();
    for stream in arrivals {
        for (id, at) in &stream.posts {
            seen.entry((id.as_str(), stream.follower)).or_insert(*at);
        }
    }
    let mut latency = stats::histogram()?;
    let (mut delivered, mut missed, mut before_ack) = (0u64, 0u64, 0u64);
    for (id, author, acked) in acks {
        let first = author * options.followers_per_author;
        for follower in first..first + options.followers_per_author {
            match seen.get(&(id.as_str(), follower)) {
                Some(at) if at.saturating_duration_since(*acked) <= options.timeout => {
                    if *at < *acked {
                        before_ack += 1;
                    }
                    stats::record(&mut latency, at.saturating_duration_since(*acked));
                    delivered += 1;
                }
                _ => missed += 1,
            }
        }
    }
    Ok(FollowReport {
        authors: options.authors,
        followers_per_author: options.followers_per_author,
        rate: options.rate,
        duration_s: options.duration.as_secs_f64(),
        timeout_s: options.timeout.as_secs_f64(),
        posts_scheduled: scheduled,
        posts_acknowledged: acks.len() as u64,
        compose_errors,
        compose_latency: Summary::of(compose),
        deliveries_expected: acks.len() as u64 * options.followers_per_author as u64,
        delivered,
        missed,
        before_ack,
        delivery_latency: Summary::of(&latency),
        streams_opened: arrivals.len(),
        streams_ended_early: arrivals.iter().filter(|a| a.ended_early).count(),
    })
}

/// Reads one follower's stream until told to stop; says when it is ready.
async fn read_stream(
    client: reqwest::Client,
    url: String,
    follower: usize,
    ready: tokio::sync::oneshot::Sender<anyhow::Result<()>>,
    mut stop: watch::Receiver<bool>,
) -> Arrivals {
    let mut arrivals = Arrivals {
        follower,
        posts: Vec::new(),
        ended_early: false,
    };
    let mut response = match client.get(&url).send().await {
        Ok(response) if response.status().is_success() => response,
        Ok(response) => {
            let _ = ready.send(Err(anyhow::anyhow!("HTTP {}", response.status())));
            return arrivals;
        }
        Err(e) => {
            let _ = ready.send(Err(e.into()));
            return arrivals;
        }
    };
    let mut ready = Some(ready);
    let mut parser = sse::Parser::default();
    loop {
        let chunk = tokio::select! {
            _ = stop.changed() => break,
            chunk = response.chunk() => chunk,
        };
        let Ok(Some(chunk)) = chunk else {
            arrivals.ended_early = true;
            break;
        };
        let at = Instant::now();
        for event in parser.push(&chunk) {
            match event.event.as_str() {
                "ready" => {
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(Ok(()));
                    }
                }
                "post" => {
                    if let Some(id) = event.id {
                        arrivals.posts.push((id, at));
                    }
                }
                "resync" | "expired" => arrivals.ended_early = true,
                _ => {}
            }
        }
    }
    if let Some(ready) = ready.take() {
        let _ = ready.send(Err(anyhow::anyhow!("the stream ended before `ready`")));
    }
    arrivals
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_times_deliveries_from_the_acknowledgement() {
        let options = FollowOptions {
            authors: 2,
            followers_per_author: 2,
            timeout: Duration::from_secs(1),
            ..FollowOptions::default()
        };
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        // Post p1 by author 0 (followers 0, 1); p2 by author 1 (followers 2, 3).
        let acks = vec![("p1".to_owned(), 0, ms(100)), ("p2".to_owned(), 1, ms(200))];
        let arrivals = vec![
            Arrivals {
                follower: 0,
                posts: vec![("p1".into(), ms(110))],
                ended_early: false,
            },
            Arrivals {
                follower: 1,
                posts: vec![("p1".into(), ms(90))],
                ended_early: false,
            },
            Arrivals {
                follower: 2,
                posts: vec![("p2".into(), ms(1500))],
                ended_early: true,
            },
            Arrivals {
                follower: 3,
                posts: vec![("p1".into(), ms(120))],
                ended_early: false,
            },
        ];
        let report = tally(
            &options,
            3,
            &acks,
            &arrivals,
            &stats::histogram().unwrap(),
            Errors::default(),
        )
        .unwrap();
        assert_eq!(report.deliveries_expected, 4);
        // Follower 0 in 10 ms, follower 1 before the ack (0 ms); follower 2 too late,
        // follower 3 never got p2.
        assert_eq!(
            (report.delivered, report.missed, report.before_ack),
            (2, 2, 1)
        );
        assert!((report.delivery_latency.max_ms - 10.0).abs() < 0.1);
        assert_eq!(report.streams_ended_early, 1);
        assert_eq!(report.posts_acknowledged, 2);
    }
}
