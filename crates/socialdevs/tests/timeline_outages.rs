//! Home timelines through outages of what they stand on, with real servers:
//! - Redis killed while timelines are read: reads keep answering 200 (computed from the
//!   services), `/readyz` says degraded, not down; after Redis returns (empty) timelines
//!   rebuild and fan-out resumes.
//! - The Kafka broker killed while posts are written: reads keep answering; after it returns
//!   the timelines catch up, each post exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use socialdevs::{Application, Settings};
use socialdevs_testkit::kafka::KafkaBroker;
use socialdevs_testkit::redis::RedisServer;

struct App {
    base: String,
    client: reqwest::Client,
    _server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl App {
    async fn start(settings: Settings) -> Self {
        socialdevs_platform::telemetry::init_for_tests();
        let app = Application::build(settings).await.expect("app builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let server = tokio::spawn(app.run_until(std::future::pending()));
        Self {
            base,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .unwrap(),
            _server: server,
        }
    }

    async fn register(&self, name: &str) -> (String, String) {
        let body: Value = self
            .client
            .post(format!("{}/api/v1/auth/register", self.base))
            .json(
                &json!({"username": name, "email": format!("{name}@example.com"),
                "password": "correct horse battery"}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            body["access_token"].as_str().unwrap().to_owned(),
            body["user"]["id"].as_str().unwrap().to_owned(),
        )
    }

    async fn follow(&self, token: &str, name: &str) {
        let r = self
            .client
            .put(format!("{}/api/v1/users/{name}/follow", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }

    async fn post(&self, token: &str, text: &str) -> String {
        let r = self
            .client
            .post(format!("{}/api/v1/posts", self.base))
            .bearer_auth(token)
            .json(&json!({ "text": text }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let body: Value = r.json().await.unwrap();
        body["id"].as_str().unwrap().to_owned()
    }

    /// Every post of the home timeline (all pages), newest first, as texts.
    async fn home(&self, token: &str) -> Vec<String> {
        let mut texts = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{}/api/v1/timeline/home?limit=5", self.base);
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let r = self
                .client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "home timelines always answer");
            let page: Value = r.json().await.unwrap();
            for item in page["items"].as_array().unwrap() {
                texts.push(item["text"].as_str().unwrap().to_owned());
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return texts,
            }
        }
    }

    async fn wait_for_home(&self, token: &str, expected: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let home = self.home(token).await;
            if home == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "home timeline {home:?}, expected {expected:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn readyz(&self) -> (StatusCode, Value) {
        let r = self
            .client
            .get(format!("{}/readyz", self.base))
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_down_reads_fall_back_and_timelines_rebuild_after_it_returns() {
    let mut redis = RedisServer::start_local();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::for_data_dir(dir.path());
    settings.redis_url = Some(redis.url().to_owned());
    settings.redis_namespace = redis.namespace().to_owned();
    let app = App::start(settings).await;
    let (ann, _) = app.register("ann").await;
    let (bob, _) = app.register("bob").await;
    app.follow(&ann, "bob").await;
    app.post(&bob, "one").await;
    app.wait_for_home(&ann, &["one"]).await;

    redis.kill();
    // Computed from the services while Redis is away, and still correct.
    app.post(&bob, "two").await;
    assert_eq!(app.home(&ann).await, ["two", "one"]);
    let (status, report) = app.readyz().await;
    assert_eq!(status, StatusCode::OK, "degraded, not down: {report}");
    let store = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "timeline.redis")
        .unwrap_or_else(|| panic!("a check for the timeline store: {report}"));
    assert_eq!(store["ok"], false);
    assert_eq!(store["degraded"], true);

    // Back, but empty: the timeline rebuilds on read, and fan-out keeps it from then on.
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.readyz().await.1["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["ok"] == false)
    {
        assert!(Instant::now() < deadline, "Redis never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.home(&ann).await, ["two", "one"]);
    app.post(&bob, "three").await;
    app.wait_for_home(&ann, &["three", "two", "one"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broker_down_timelines_catch_up_without_duplicates() {
    let mut broker = KafkaBroker::start_local();
    let redis = RedisServer::start();
    let database = socialdevs_testkit::postgres::database()
        .await
        .expect("PostgreSQL (install postgresql or set SOCIALDEVS_TEST_DATABASE_URL)");
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::for_data_dir(dir.path());
    settings.database_url = Some(database.url.clone());
    settings.kafka_brokers = Some(broker.brokers().to_owned());
    settings.redis_url = Some(redis.url().to_owned());
    settings.redis_namespace = redis.namespace().to_owned();
    let app = App::start(settings).await;
    let (cid, _) = app.register("cid").await;
    let (dee, _) = app.register("dee").await;
    app.follow(&cid, "dee").await;
    app.post(&dee, "before").await;
    app.wait_for_home(&cid, &["before"]).await;

    broker.kill();
    // Writes go on (the outbox keeps their events); reads go on.
    let mut expected = vec!["before".to_owned()];
    for i in 0..5 {
        let text = format!("during {i}");
        app.post(&dee, &text).await;
        expected.insert(0, text);
    }
    app.home(&cid).await;
    broker.restart();
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    app.wait_for_home(&cid, &expected).await;
}
