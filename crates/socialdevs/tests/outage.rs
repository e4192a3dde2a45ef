//! PostgreSQL restarts while requests flow: the service answers 503 problem+json with
//! `Retry-After` during the outage, recovers by itself, and loses nothing it acknowledged.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use socialdevs::{Application, Settings};
use socialdevs_testkit::logs::CapturedLogs;
use socialdevs_testkit::postgres::{PgCluster, TestDatabase};
use tokio::sync::watch;

#[derive(Default)]
struct Seen {
    acknowledged: Vec<String>,
    statuses: BTreeMap<u16, usize>,
    unavailable_without_retry_after: usize,
    unavailable_not_problem: usize,
}

/// Captures every thread's warnings and errors (this binary holds this one test), to
/// explain a failure: an unexpected answer's cause is only in the server's log.
fn capture_server_log() -> CapturedLogs {
    let log = CapturedLogs::default();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(log.clone())
        .init();
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restart_answers_503_then_recovers_without_losing_acknowledged_writes() {
    let server_log = capture_server_log();
    let cluster = PgCluster::start().expect("a throwaway PostgreSQL cluster (install postgresql)");
    let database = TestDatabase::create(&cluster.admin_url(), false)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::for_data_dir(dir.path());
    settings.database_url = Some(database.url.clone());
    settings.database_acquire_timeout_secs = 1;
    let app = Application::build(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let server = tokio::spawn(app.run_until(std::future::pending()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let session: Value = client
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({"username": "steady", "email": "steady@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = session["access_token"].as_str().unwrap().to_owned();

    // A writer that keeps posting and records what was acknowledged and what was refused.
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let writer = {
        let (client, base, token, seen) =
            (client.clone(), base.clone(), token.clone(), seen.clone());
        tokio::spawn(async move {
            let mut n = 0u32;
            while !*stop_rx.borrow() {
                n += 1;
                let result = client
                    .post(format!("{base}/api/v1/posts"))
                    .bearer_auth(&token)
                    .json(&json!({"text": format!("steady post {n}")}))
                    .send()
                    .await;
                let Ok(response) = result else {
                    continue;
                };
                let status = response.status();
                let retry_after = response.headers().contains_key("retry-after");
                let problem = response
                    .headers()
                    .get("content-type")
                    .is_some_and(|v| v == "application/problem+json");
                let body: Value = response.json().await.unwrap_or(Value::Null);
                {
                    let mut seen = seen.lock().unwrap();
                    *seen.statuses.entry(status.as_u16()).or_default() += 1;
                    if status == StatusCode::CREATED {
                        seen.acknowledged
                            .push(body["id"].as_str().unwrap().to_owned());
                    } else if status == StatusCode::SERVICE_UNAVAILABLE {
                        seen.unavailable_without_retry_after += usize::from(!retry_after);
                        seen.unavailable_not_problem += usize::from(!problem);
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    let created = || {
        seen.lock()
            .unwrap()
            .statuses
            .get(&201)
            .copied()
            .unwrap_or(0)
    };
    wait_for("writes before the outage", || created() >= 10).await;

    tracing::warn!("test: stopping PostgreSQL");
    cluster.stop().unwrap();
    tracing::warn!("test: PostgreSQL stopped");
    let unavailable = || {
        seen.lock()
            .unwrap()
            .statuses
            .get(&503)
            .copied()
            .unwrap_or(0)
    };
    wait_for("503 answers during the outage", || unavailable() >= 3).await;
    let readiness = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(readiness.status(), StatusCode::SERVICE_UNAVAILABLE);

    tracing::warn!("test: starting PostgreSQL again");
    cluster.restart().unwrap();
    tracing::warn!("test: PostgreSQL started");
    let before_recovery = created();
    wait_for("writes after the restart", || {
        created() >= before_recovery + 10
    })
    .await;
    stop_tx.send(true).unwrap();
    writer.await.unwrap();

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let others: Vec<_> = seen
        .statuses
        .iter()
        .filter(|(status, _)| ![201u16, 503].contains(status))
        .collect();
    assert!(
        others.is_empty(),
        "unexpected answers: {:?}; the server's log:\n{}",
        seen.statuses,
        server_log.text()
    );
    assert_eq!(
        seen.unavailable_without_retry_after, 0,
        "503 without Retry-After"
    );
    assert_eq!(seen.unavailable_not_problem, 0, "503 not problem+json");
    let readiness = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(readiness.status(), StatusCode::OK);

    // Every acknowledged post survived the restart.
    for id in &seen.acknowledged {
        let r = client
            .get(format!("{base}/api/v1/posts/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "acknowledged post {id} is gone");
    }
    let listed = client
        .get(format!("{base}/api/v1/posts?author=steady&limit=100"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert!(
        listed["items"].as_array().unwrap().len() >= seen.acknowledged.len().min(100),
        "listing lost posts"
    );
    eprintln!("answers during the run: {:?}", seen.statuses);
    server.abort();
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..600 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}
