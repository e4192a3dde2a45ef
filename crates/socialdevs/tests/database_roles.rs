//! Least-privilege database roles against a real PostgreSQL: `socialdevs migrate
//! --grant-roles`, run as a migration role that is no superuser, gives each service a login
//! role confined to its own schema; with only those roles, the platform serves.
//!
//! The distributed API suite (`SOCIALDEVS_TEST_TOPOLOGY=distributed`) runs every API test on
//! these roles too: one process per service, each with nothing but its own role.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use socialdevs::{Application, Settings};
use socialdevs_testkit::postgres::TestDatabase;
use sqlx::{Connection, PgConnection};

const SERVICES: [&str; 4] = ["users", "posts", "notifications", "events"];

/// A test database with a migration role (`CREATEROLE`, `CREATE` on the database, nothing
/// more) and a login role URL per schema.
struct Roles {
    database: TestDatabase,
    migrate: String,
}

impl Roles {
    async fn new() -> Self {
        let database = socialdevs_testkit::postgres::database()
            .await
            .expect("PostgreSQL for the roles test (install the postgresql package)");
        let migrate = database.create_migration_role("migrate").await.unwrap();
        Self { database, migrate }
    }

    fn url(&self, schema: &str) -> String {
        self.database
            .role_url(schema, &format!("{schema}-password"))
    }

    /// `socialdevs migrate --grant-roles` as the migration role, with each service's URL;
    /// what it printed.
    fn migrate_and_grant(&self) -> String {
        let mut command = Command::new(env!("CARGO_BIN_EXE_socialdevs"));
        command
            .args(["migrate", "--grant-roles"])
            .env_clear()
            .env("SOCIALDEVS_MIGRATE_DATABASE_URL", &self.migrate)
            .env("SOCIALDEVS_LOG_FORMAT", "json")
            .env("RUST_LOG", "warn");
        for schema in SERVICES {
            command.env(
                format!("SOCIALDEVS_{}_DATABASE_URL", schema.to_uppercase()),
                self.url(schema),
            );
        }
        let output = command.output().expect("running socialdevs migrate");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "socialdevs migrate --grant-roles failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }

    async fn connect(&self, schema: &str) -> PgConnection {
        PgConnection::connect(&self.url(schema)).await.unwrap()
    }

    /// Settings of a process that has nothing but the services' own roles: no migration
    /// URL, no shared URL, no migrations at start.
    fn service_settings(&self, data_dir: &std::path::Path) -> Settings {
        let mut settings = Settings::for_data_dir(data_dir);
        settings.users_database_url = Some(self.url("users"));
        settings.posts_database_url = Some(self.url("posts"));
        settings.notifications_database_url = Some(self.url("notifications"));
        settings.events_database_url = Some(self.url("events"));
        settings.migrate_at_start = false;
        settings.housekeeping_interval_secs = 1;
        // The embedded transport holds a connection per subscription (its `LISTEN`).
        settings.database_max_connections = 10;
        settings
    }
}

/// The SQLSTATE a statement ends with (`None`: it succeeded).
async fn outcome(conn: &mut PgConnection, sql: &str) -> Option<String> {
    match sqlx::raw_sql(sql).execute(&mut *conn).await {
        Ok(_) => None,
        Err(sqlx::Error::Database(err)) => Some(err.code().unwrap_or_default().into_owned()),
        Err(err) => panic!("{sql}: {err}"),
    }
}

const DENIED: Option<&str> = Some("42501");

macro_rules! assert_outcome {
    ($conn:expr, $sql:expr, $expected:expr) => {
        assert_eq!(
            outcome(&mut $conn, $sql).await.as_deref(),
            $expected,
            "{}",
            $sql
        )
    };
}

#[tokio::test]
async fn each_service_role_works_in_its_own_schema_and_nowhere_else() {
    let roles = Roles::new().await;
    let printed = roles.migrate_and_grant();
    for schema in SERVICES {
        assert!(
            printed.contains(&format!(
                "role {} may use the {schema} schema",
                roles.database.role_name(schema)
            )),
            "{printed}"
        );
    }
    assert!(
        !printed.contains("-password"),
        "a password was printed: {printed}"
    );

    let mut posts = roles.connect("posts").await;
    // Its own work: rows in its tables (the like's trigger keeps the post's count), the
    // outbox and its sequence with the wake-up, the relay's lock, housekeeping's delete.
    assert_outcome!(
        posts,
        "INSERT INTO posts.posts (id, author_id, text, created_at) \
         VALUES ('00000000-0000-7000-8000-000000000001', gen_random_uuid(), 'hi', now())",
        None
    );
    assert_outcome!(
        posts,
        "INSERT INTO posts.likes (post_id, user_id, created_at) \
         VALUES ('00000000-0000-7000-8000-000000000001', gen_random_uuid(), now())",
        None
    );
    let likes: i64 = sqlx::query_scalar("SELECT like_count FROM posts.posts")
        .fetch_one(&mut posts)
        .await
        .unwrap();
    assert_eq!(likes, 1);
    assert_outcome!(
        posts,
        "WITH written AS (INSERT INTO posts.outbox (event_id, topic, event_key, event_type, \
         payload) VALUES (gen_random_uuid(), 't', 'k', 'e', '{}') RETURNING 1) \
         SELECT pg_notify('socialdevs_outbox_posts', '') FROM written",
        None
    );
    assert_outcome!(
        posts,
        "SELECT pg_try_advisory_xact_lock(hashtext('socialdevs.relay.posts'))",
        None
    );
    assert_outcome!(
        posts,
        "DELETE FROM posts.idempotency_keys WHERE created_at < now()",
        None
    );
    assert_outcome!(posts, "LISTEN socialdevs_outbox_posts", None);
    // Nothing of another service, and no DDL anywhere.
    assert_outcome!(posts, "SELECT * FROM users.users", DENIED);
    assert_outcome!(posts, "SELECT * FROM users.refresh_tokens", DENIED);
    assert_outcome!(posts, "SELECT * FROM notifications.notifications", DENIED);
    assert_outcome!(posts, "SELECT * FROM events.consumer_offsets", DENIED);
    assert_outcome!(posts, "SELECT * FROM users.outbox", DENIED);
    assert_outcome!(posts, "CREATE TABLE posts.mine (id INT)", DENIED);
    assert_outcome!(posts, "CREATE TABLE public.mine (id INT)", DENIED);
    assert_outcome!(posts, "CREATE SCHEMA mine", DENIED);
    assert_outcome!(
        posts,
        "ALTER TABLE posts.posts ADD COLUMN x INT",
        Some("42501")
    );
    assert_outcome!(posts, "DROP TABLE posts.likes", DENIED);
    assert_outcome!(posts, "TRUNCATE posts.posts CASCADE", DENIED);
    assert_outcome!(
        posts,
        "INSERT INTO posts.schema_migrations (version, name) VALUES (99, 'x')",
        DENIED
    );

    let mut users = roles.connect("users").await;
    assert_outcome!(users, "SELECT count(*) FROM users.users", None);
    assert_outcome!(users, "SELECT * FROM posts.posts", DENIED);
    assert_outcome!(users, "CREATE TABLE users.mine (id INT)", DENIED);

    // The embedded event log's role keeps its offsets and reads the outboxes, nothing more.
    let mut events = roles.connect("events").await;
    assert_outcome!(
        events,
        "INSERT INTO events.consumer_offsets (consumer_group, topic, position) \
         VALUES ('g', 't', 1)",
        None
    );
    assert_outcome!(events, "SELECT position FROM posts.outbox", None);
    assert_outcome!(events, "SELECT * FROM posts.posts", DENIED);
    assert_outcome!(events, "DELETE FROM posts.outbox", DENIED);
    assert_outcome!(events, "SELECT * FROM users.users", DENIED);

    // Granting again changes nothing.
    roles.migrate_and_grant();
    assert_outcome!(posts, "SELECT count(*) FROM posts.posts", None);
    assert_outcome!(posts, "SELECT * FROM users.users", DENIED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_serves_with_nothing_but_the_services_roles() {
    socialdevs_platform::telemetry::init_for_tests();
    let roles = Roles::new().await;
    roles.migrate_and_grant();
    let dir = tempfile::tempdir().unwrap();
    let app = Application::build(roles.service_settings(dir.path()))
        .await
        .expect("the platform starts on the services' roles");
    let base = format!("http://127.0.0.1:{}", app.port());
    let server = tokio::spawn(app.run_until(std::future::pending()));
    let client = reqwest::Client::new();
    let register = |name: &'static str| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let response = client
                .post(format!("{base}/api/v1/auth/register"))
                .json(
                    &json!({"username": name, "email": format!("{name}@example.com"),
                              "password": "correct horse battery"}),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
            response.json::<Value>().await.unwrap()
        }
    };
    let ada = register("ada").await;
    let bob = register("bob").await;
    let token = |session: &Value| session["access_token"].as_str().unwrap().to_owned();

    let followed = client
        .put(format!("{base}/api/v1/users/ada/follow"))
        .bearer_auth(token(&bob))
        .send()
        .await
        .unwrap();
    assert_eq!(followed.status(), StatusCode::NO_CONTENT);
    let post: Value = client
        .post(format!("{base}/api/v1/posts"))
        .bearer_auth(token(&ada))
        .header("Idempotency-Key", "first")
        .json(&json!({"text": "least privilege, @bob #security"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let post_id = post["id"].as_str().expect("a post").to_owned();
    let liked = client
        .put(format!("{base}/api/v1/posts/{post_id}/like"))
        .bearer_auth(token(&bob))
        .send()
        .await
        .unwrap();
    assert_eq!(liked.status(), StatusCode::NO_CONTENT);

    // Events through the embedded log: bob's home timeline and both notifications.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let home = get_json(
            &client,
            &format!("{base}/api/v1/timeline/home"),
            &token(&bob),
        )
        .await;
        let bobs = get_json(
            &client,
            &format!("{base}/api/v1/notifications"),
            &token(&bob),
        )
        .await;
        let adas = get_json(
            &client,
            &format!("{base}/api/v1/notifications"),
            &token(&ada),
        )
        .await;
        let has = |page: &Value, kind: &str| {
            page["items"]
                .as_array()
                .is_some_and(|items| items.iter().any(|n| n["kind"] == kind))
        };
        let on_home = home["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|p| p["id"] == post_id.as_str()));
        if on_home && has(&bobs, "mentioned") && has(&adas, "followed") && has(&adas, "liked") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "events did not arrive: home {home}, bob {bobs}, ada {adas}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Housekeeping deletes as the services' roles: an expired refresh token and an old
    // idempotency key (written here as the server's superuser) go.
    let mut admin = PgConnection::connect(&roles.database.url).await.unwrap();
    sqlx::raw_sql(&format!(
        "INSERT INTO users.refresh_tokens (token_hash, family_id, user_id, created_at, expires_at) \
         VALUES ('expired', gen_random_uuid(), '{}', now() - interval '60 days', \
                 now() - interval '30 days'); \
         UPDATE posts.idempotency_keys SET created_at = now() - interval '30 days';",
        ada["user"]["id"].as_str().unwrap()
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM users.refresh_tokens WHERE token_hash = 'expired') \
                  + (SELECT count(*) FROM posts.idempotency_keys)",
        )
        .fetch_one(&mut admin)
        .await
        .unwrap();
        if left == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "housekeeping did not delete");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    server.abort();
}

#[tokio::test]
async fn a_service_role_on_an_outdated_schema_refuses_to_start_and_says_what_to_run() {
    let roles = Roles::new().await;
    let dir = tempfile::tempdir().unwrap();
    let mut admin = PgConnection::connect(&roles.database.url).await.unwrap();
    for schema in SERVICES {
        let role = roles.database.role_name(schema);
        // With the password its URL carries (servers other than the throwaway one check it).
        sqlx::raw_sql(&format!(
            "CREATE ROLE {role} LOGIN PASSWORD '{schema}-password'"
        ))
        .execute(&mut admin)
        .await
        .unwrap();
    }
    // Nothing migrated yet: told to migrate first.
    let err = Application::build(roles.service_settings(dir.path()))
        .await
        .err()
        .expect("no start on an unmigrated database");
    let err = format!("{err:#}");
    assert!(
        err.contains("schema lacks migration") && err.contains("run `socialdevs migrate`"),
        "{err}"
    );

    // Migrating at start with a role that may not create anything: told which role migrates.
    let mut settings = Settings::for_data_dir(dir.path());
    settings.database_url = Some(roles.url("users"));
    let err = Application::build(settings)
        .await
        .err()
        .expect("no DDL as a service's role");
    let err = format!("{err:#}");
    assert!(
        err.contains("lacks rights on the") && err.contains("SOCIALDEVS_MIGRATE_DATABASE_URL"),
        "{err}"
    );
}

/// `GET url` as the holder of `token`, as JSON.
async fn get_json(client: &reqwest::Client, url: &str, token: &str) -> Value {
    client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
