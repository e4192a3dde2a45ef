//! `spawn_app()` and a small typed client.
//!
//! By default each test runs the all-in-one application in this process on its own SQLite
//! file. With `SOCIALDEVS_TEST_TOPOLOGY=distributed` the same tests run against the
//! distributed topology instead: each service as its own `socialdevs serve --services X`
//! process on a fresh PostgreSQL database, behind the nginx edge (see [`crate::topology`]).

use std::time::Duration;

use futures::StreamExt;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use socialdevs::{Application, Settings};
use tempfile::TempDir;

use crate::topology::Distributed;

/// A running app on a free port with its own database.
pub struct TestApp {
    pub base: String,
    /// Where an in-process app running some services serves `/internal/...`.
    pub internal_base: Option<String>,
    /// The secret its internal listener checks service tokens with.
    pub internal_secret: std::path::PathBuf,
    pub client: reqwest::Client,
    _data_dir: TempDir,
    database_url: String,
    running: Running,
}

enum Running {
    InProcess(tokio::task::JoinHandle<anyhow::Result<()>>),
    Distributed(Box<Distributed>),
}

impl Drop for TestApp {
    fn drop(&mut self) {
        match &mut self.running {
            Running::InProcess(server) => server.abort(),
            Running::Distributed(topology) => topology.stop(),
        }
    }
}

/// Whether this run targets the distributed topology.
pub fn distributed() -> bool {
    std::env::var("SOCIALDEVS_TEST_TOPOLOGY").is_ok_and(|t| t == "distributed")
}

/// A signed-in user.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub username: String,
    pub access: String,
    pub refresh: String,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the platform with adjusted settings: in this process, or — in a distributed run,
/// unless the test picks its own services — as one process per service behind the edge.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    start(configure, distributed()).await
}

/// Starts the all-in-one application in this process whatever the run's topology: for
/// tests of one process's own behaviour (health, metrics, shutdown).
pub async fn spawn_in_process() -> TestApp {
    start(|_| {}, false).await
}

/// [`spawn_in_process`] with adjusted settings.
pub async fn spawn_in_process_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    start(configure, false).await
}

async fn start(configure: impl FnOnce(&mut Settings), distributed: bool) -> TestApp {
    socialdevs_platform::telemetry::init_for_tests();
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings::for_data_dir(data_dir.path());
    settings.web_dir = data_dir.path().join("no-web");
    configure(&mut settings);
    let mut database_url = settings.database_url();
    let internal_secret = settings.internal_secret_file.clone().unwrap_or_else(|| {
        settings
            .data_dir
            .join(socialdevs::keys::INTERNAL_SECRET_FILE)
    });
    let mut internal_base = None;
    let (base, running) = if distributed && settings.services.is_all() {
        let topology = Distributed::start(&settings).await;
        database_url = topology.database_url().to_owned();
        (
            topology.edge_url(),
            Running::Distributed(Box::new(topology)),
        )
    } else {
        let app = Application::build(settings).await.expect("app builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        internal_base = app
            .internal_port()
            .map(|port| format!("http://127.0.0.1:{port}"));
        let server = tokio::spawn(app.run_until(std::future::pending()));
        (base, Running::InProcess(server))
    };
    TestApp {
        base,
        internal_base,
        internal_secret,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        _data_dir: data_dir,
        database_url,
        running,
    }
}

impl TestApp {
    /// The database the app's services use (SQLite file or PostgreSQL).
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// Where the timeline service answers: every replica in the distributed topology, the
    /// one process otherwise.
    pub fn timeline_bases(&self) -> Vec<String> {
        match &self.running {
            Running::Distributed(topology) => topology.timeline_urls(),
            Running::InProcess(_) => vec![self.base.clone()],
        }
    }

    /// Every SocialDevs process of the app: what it runs, its public URL and its internal
    /// listener's URL (none for all-in-one).
    pub fn processes(&self) -> Vec<(String, String, Option<String>)> {
        match &self.running {
            Running::Distributed(topology) => topology
                .process_urls()
                .into_iter()
                .map(|(service, public, internal)| (service.to_owned(), public, Some(internal)))
                .collect(),
            Running::InProcess(_) => vec![(
                "this process".to_owned(),
                self.base.clone(),
                self.internal_base.clone(),
            )],
        }
    }

    /// The Prometheus text of an in-process app, from where a scraper reads it: the internal
    /// listener when there is one, else the public port.
    pub async fn metrics(&self) -> String {
        let base = self.internal_base.as_ref().unwrap_or(&self.base);
        let response = self
            .client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), StatusCode::OK, "/metrics at {base}");
        response.text().await.expect("metrics text")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A call to the internal listener, as another service makes it (with a service token).
    pub async fn internal(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        let credential =
            socialdevs_platform::service_auth::ServiceCredential::from_file(&self.internal_secret)
                .expect("the internal secret");
        let token = credential.token("timeline").expect("a service token");
        let base = self.internal_base.as_ref().expect("an internal listener");
        let mut request = self
            .client
            .request(method, format!("{base}{path}"))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request sent")
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request sent")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.send(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.send(Method::POST, path, token, Some(body)).await
    }

    pub async fn put(&self, path: &str, token: &str) -> Response {
        self.send(Method::PUT, path, Some(token), None).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.send(Method::DELETE, path, Some(token), None).await
    }

    /// Registers `username` (password `correct horse battery`) and returns the session.
    pub async fn register(&self, username: &str) -> Session {
        let response = self
            .post(
                "/api/v1/auth/register",
                None,
                json!({"username": username, "email": format!("{username}@example.com"), "password": "correct horse battery"}),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "registering {username}"
        );
        session(response.json().await.expect("json"))
    }

    /// `POST /api/v1/auth/login` with these credentials.
    pub async fn login(&self, login: &str, password: &str) -> Response {
        self.post(
            "/api/v1/auth/login",
            None,
            json!({"login": login, "password": password}),
        )
        .await
    }

    /// Signs `username` in again (password `correct horse battery`): another session.
    pub async fn sign_in(&self, username: &str) -> Session {
        let response = self.login(username, "correct horse battery").await;
        assert_eq!(response.status(), StatusCode::OK, "signing {username} in");
        session(response.json().await.expect("json"))
    }

    /// Publishes a post and returns it.
    pub async fn create_post(&self, who: &Session, text: &str, reply_to: Option<&str>) -> Value {
        let response = self
            .post(
                "/api/v1/posts",
                Some(&who.access),
                json!({"text": text, "reply_to": reply_to}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "posting {text:?}");
        response.json().await.expect("json")
    }

    pub async fn follow(&self, who: &Session, username: &str) {
        let response = self
            .put(&format!("/api/v1/users/{username}/follow"), &who.access)
            .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }

    /// Every item of a paginated list, following `next_cursor`.
    pub async fn collect_pages(&self, path: &str, token: Option<&str>, limit: u32) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        let sep = if path.contains('?') { '&' } else { '?' };
        for _ in 0..1000 {
            let url = match &cursor {
                Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
                None => format!("{path}{sep}limit={limit}"),
            };
            let page: Value = self.get(&url, token).await.json().await.expect("json");
            items.extend(page["items"].as_array().expect("items").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return items,
            }
        }
        panic!("pagination did not end");
    }
}

pub fn session(body: Value) -> Session {
    Session {
        id: body["user"]["id"].as_str().expect("id").to_owned(),
        username: body["user"]["username"]
            .as_str()
            .expect("username")
            .to_owned(),
        access: body["access_token"].as_str().expect("access").to_owned(),
        refresh: body["refresh_token"].as_str().expect("refresh").to_owned(),
    }
}

/// Asserts a problem+json answer with this status and problem type; returns the document.
pub async fn assert_problem(response: Response, status: StatusCode, kind: &str) -> Value {
    assert_eq!(response.status(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("problem json");
    assert_eq!(
        body["type"],
        format!("https://socialdevs.dev/problems/{kind}"),
        "{body}"
    );
    assert_eq!(body["status"], status.as_u16());
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "detail: {body}"
    );
    body
}

/// The field names a validation problem lists.
pub fn failing_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// An open live stream (SSE): reads `text/event-stream` frames as `(event, data)`.
pub struct EventStream {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<Vec<u8>>> + Send>>,
    buffer: String,
}

impl EventStream {
    /// Opens the stream at `base` + `path` as the holder of `access`, resuming after
    /// `last_event_id` when given, and waits for its `ready` event.
    pub async fn open(
        app: &TestApp,
        base: &str,
        path: &str,
        access: &str,
        last_event_id: Option<&str>,
    ) -> Self {
        let mut request = app
            .client
            .get(format!("{base}{path}?access_token={access}"));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        let mut stream = Self {
            body: Box::pin(
                response
                    .bytes_stream()
                    .map(|chunk| chunk.map(|b| b.to_vec())),
            ),
            buffer: String::new(),
        };
        assert_eq!(stream.next().await.0, "ready");
        stream
    }

    /// The next frame that is not a keep-alive comment.
    pub async fn next(&mut self) -> (String, String) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let field = |name: &str| {
                    frame
                        .lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(str::to_owned)
                };
                if let Some(event) = field("event: ") {
                    return (event, field("data: ").unwrap_or_default());
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .expect("an event in time")
                .expect("the stream stays open")
                .unwrap();
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// The users service's tables, read and written around the service (housekeeping tests): its
/// schema on PostgreSQL, the one SQLite file all-in-one.
pub enum UsersDb {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

impl UsersDb {
    pub async fn open(database_url: &str) -> Self {
        if database_url.starts_with("postgres") {
            Self::Postgres(sqlx::PgPool::connect(database_url).await.unwrap())
        } else {
            Self::Sqlite(sqlx::SqlitePool::connect(database_url).await.unwrap())
        }
    }

    /// How many rows the users service's `table` holds.
    pub async fn count(&self, table: &str) -> i64 {
        match self {
            Self::Postgres(pool) => {
                sqlx::query_scalar(&format!("SELECT COUNT(*) FROM users.{table}"))
                    .fetch_one(pool)
                    .await
                    .unwrap()
            }
            Self::Sqlite(pool) => sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(pool)
                .await
                .unwrap(),
        }
    }
}
