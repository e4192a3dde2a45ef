//! The all-in-one process killed with SIGKILL while it takes writes, then started again on
//! the same data: every acknowledged change has its event in the outbox, and the durable
//! consumers resume from their stored offsets until nothing acknowledged is missing from
//! their effects.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use socialdevs_platform::db::SqliteDb;
use socialdevs_testkit::postgres::free_port;
use tokio::process::{Child, Command};

fn start(data: &Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_socialdevs"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("SOCIALDEVS_LISTEN", format!("127.0.0.1:{port}"))
        .env("SOCIALDEVS_DATA_DIR", data)
        .env("SOCIALDEVS_WEB_DIR", data.join("no-web"))
        .env("SOCIALDEVS_RATE_LIMITS", "off")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting socialdevs")
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(Instant::now() < deadline, "socialdevs did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_writes_loses_no_acknowledged_event_and_consumers_resume() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut process = start(dir.path(), port);
    wait_ready(&client, &base).await;

    // Writers register accounts (each a `user.registered` event that the posts service's
    // author cache consumes) and record which ones were acknowledged.
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (client, base, acknowledged) = (client.clone(), base.clone(), acknowledged.clone());
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let name = format!("crash_{w}_{i}");
                let sent = client
                    .post(format!("{base}/api/v1/auth/register"))
                    .json(
                        &json!({"username": name, "email": format!("{name}@example.com"),
                        "password": "correct horse battery"}),
                    )
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == 201 => {
                        let body: Value = r.json().await.unwrap();
                        let id = body["user"]["id"].as_str().unwrap().to_owned();
                        acknowledged.lock().unwrap().push(id);
                    }
                    // The process is gone: stop writing.
                    _ => break,
                }
            }
        }));
    }
    // Kill in the middle of the writes, once enough are in.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().unwrap().len() < 40 {
        assert!(Instant::now() < deadline, "writes did not go through");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    process.start_kill().unwrap();
    process.wait().await.unwrap();
    for writer in writers {
        writer.await.unwrap();
    }
    let acknowledged: HashSet<String> = acknowledged.lock().unwrap().iter().cloned().collect();
    assert!(acknowledged.len() >= 40);

    // No change without its event: every acknowledged account's event is in the outbox,
    // whether or not the relay got to it before the kill.
    let db = SqliteDb::open(&SqliteDb::default_url(dir.path()))
        .await
        .unwrap();
    let outboxed: Vec<String> = sqlx::query_scalar(
        "SELECT event_key FROM users_outbox WHERE event_type = 'dev.socialdevs.user.registered.v1'",
    )
    .fetch_all(&db.reader)
    .await
    .unwrap();
    let outboxed: HashSet<String> = outboxed.into_iter().collect();
    let missing: Vec<&String> = acknowledged.difference(&outboxed).collect();
    assert!(
        missing.is_empty(),
        "acknowledged without an event: {missing:?}"
    );

    // Started again, the relay and the consumers resume: every acknowledged account reaches
    // the posts service's copy of authors.
    let mut process = start(dir.path(), port);
    wait_ready(&client, &base).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let cached: Vec<String> = sqlx::query_scalar("SELECT id FROM authors")
            .fetch_all(&db.reader)
            .await
            .unwrap();
        let cached: HashSet<String> = cached.into_iter().collect();
        let missing = acknowledged.difference(&cached).count();
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} acknowledged accounts never reached the author cache"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The group's stored offset caught up with the log.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let latest: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM users_outbox")
            .fetch_one(&db.reader)
            .await
            .unwrap();
        let committed: Option<i64> = sqlx::query_scalar(
            "SELECT position FROM events_consumer_offsets \
             WHERE consumer_group = 'socialdevs.posts.authors' AND topic = 'socialdevs.users.v1'",
        )
        .fetch_optional(&db.reader)
        .await
        .unwrap();
        let pending: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM users_outbox WHERE sent_at IS NULL")
                .fetch_one(&db.reader)
                .await
                .unwrap();
        if pending == 0 && committed == Some(latest) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "offset {committed:?} of {latest}, {pending} unsent"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    process.start_kill().unwrap();
    let _ = process.wait().await;
}
