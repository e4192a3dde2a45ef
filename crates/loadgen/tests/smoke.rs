//! The load generator against the real all-in-one application, started in this process on
//! its own SQLite file: seeding through the API, a short open-loop smoke run, a state file
//! that a second run reuses, and post → follower delivery on live streams.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use socialdevs::{Application, Settings};
use socialdevs_loadgen::api::Api;
use socialdevs_loadgen::follow::{self, FollowOptions};
use socialdevs_loadgen::mix::Op;
use socialdevs_loadgen::progress::Output;
use socialdevs_loadgen::seed::{self, SeedOptions};
use socialdevs_loadgen::smoke::{self, SmokeOptions};
use socialdevs_loadgen::stats::Summary;
use socialdevs_loadgen::workload::{self, RunOptions};
use tempfile::TempDir;

struct App {
    base: String,
    _data: TempDir,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Drop for App {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn spawn_app() -> App {
    let data = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings::for_data_dir(data.path());
    settings.web_dir = data.path().join("no-web");
    let app = Application::build(settings).await.expect("app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let server = tokio::spawn(app.run_until(std::future::pending()));
    App {
        base,
        _data: data,
        server,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_run_against_the_all_in_one_app_has_no_errors() {
    let app = spawn_app().await;
    let api = Api::new(&app.base, 16).unwrap();
    api.wait_ready(Duration::from_secs(30)).await.unwrap();
    let mut options = SmokeOptions::default();
    options.seed.users = 12;
    options.run.rate = 40.0;
    options.run.duration = Duration::from_secs(2);

    let outcome = smoke::run(&api, &options, &Output::silent()).await.unwrap();

    assert_eq!(outcome.population.users(), 12);
    assert_eq!(outcome.population.follows(), 12 * 5);
    let result = &outcome.result;
    assert_eq!(result.scheduled, 80);
    assert!(outcome.problems().is_empty(), "{:?}", outcome.problems());
    assert_eq!(result.errors().total(), 0, "{}", result.errors().describe());
    assert_eq!(result.recorder.ok(), 80);
    assert_eq!(Summary::of(result.recorder.all()).count, 80);
    for op in Op::ALL {
        let record = result.recorder.op(op).expect("each operation ran");
        let summary = Summary::of(&record.latency);
        assert!(summary.count > 0, "{op}");
        assert!(
            summary.p50_ms > 0.0 && summary.max_ms >= summary.p99_ms,
            "{op}: {summary:?}"
        );
    }
    assert!(result.achieved_rate() > 30.0, "{}", result.achieved_rate());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_file_is_reused_against_the_same_server_only() {
    let app = spawn_app().await;
    let api = Api::new(&app.base, 8).unwrap();
    api.wait_ready(Duration::from_secs(30)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let options = SeedOptions {
        users: 6,
        posts_per_user: 1,
        follows_per_user: 2,
        concurrency: 4,
        ..SeedOptions::default()
    };
    let out = Output::silent();

    let first = seed::prepare(&api, &options, Some(&state), false, &out)
        .await
        .unwrap();
    assert!(!first.reused);
    let saved = seed::State::load(&state).unwrap();
    assert_eq!(saved.users.len(), 6);
    assert_eq!(saved.posts.iter().map(Vec::len).sum::<usize>(), 6);

    let again = Arc::new(
        seed::prepare(&api, &options, Some(&state), false, &out)
            .await
            .unwrap(),
    );
    assert!(again.reused);
    assert_eq!(again.tag, first.tag);
    assert_eq!(again.following, first.following);
    // The reused sessions work (their refresh tokens rotated and were saved).
    let run = RunOptions {
        rate: 20.0,
        duration: Duration::from_secs(1),
        warmup: Duration::ZERO,
        connections: 4,
        ..RunOptions::default()
    };
    let result = workload::run(&api, &again, &run, &out).await.unwrap();
    assert_eq!(result.errors().total(), 0, "{}", result.errors().describe());
    let resaved = seed::State::load(&state).unwrap();
    assert_ne!(resaved.users[0].refresh_token, saved.users[0].refresh_token);

    // Another server does not know these users: seed anew.
    let other = spawn_app().await;
    let other_api = Api::new(&other.base, 8).unwrap();
    other_api.wait_ready(Duration::from_secs(30)).await.unwrap();
    let fresh = seed::prepare(&other_api, &options, Some(&state), false, &out)
        .await
        .unwrap();
    assert!(!fresh.reused);
    assert_ne!(fresh.tag, first.tag);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_reach_the_followers_streams() {
    let app = spawn_app().await;
    let api = Api::new(&app.base, 8).unwrap();
    api.wait_ready(Duration::from_secs(30)).await.unwrap();
    let options = FollowOptions {
        authors: 2,
        followers_per_author: 3,
        rate: 10.0,
        duration: Duration::from_secs(1),
        timeout: Duration::from_secs(3),
        concurrency: 4,
        connections: 4,
    };
    let report = follow::run(&api, &options, &Output::silent())
        .await
        .unwrap();
    assert_eq!(report.posts_scheduled, 10);
    assert_eq!(report.posts_acknowledged, 10, "{:?}", report.compose_errors);
    assert_eq!(report.deliveries_expected, 30);
    assert_eq!(report.missed, 0, "{report:?}");
    assert_eq!(report.delivered, 30);
    assert_eq!(report.delivery_latency.count, 30);
    assert_eq!(report.streams_opened, 6);
    assert_eq!(report.streams_ended_early, 0);
}
