//! Health, readiness, metrics, headers, the web app, and graceful shutdown.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use socialdevs::{Application, Settings};

use crate::helpers::{assert_problem, spawn_app, spawn_app_with, spawn_in_process};

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_in_process().await;
    let r = app.get("/healthz", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.get("/readyz", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    // Every service that owns data checks its database.
    let checks = body["checks"].as_array().unwrap();
    for service in ["users", "posts"] {
        assert!(
            checks
                .iter()
                .any(|c| c["name"] == format!("{service}.database") && c["ok"] == true),
            "{body}"
        );
    }
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    for service in ["users", "posts", "timeline"] {
        assert_eq!(
            sample(
                &metrics,
                "socialdevs_ready",
                &[&format!(r#"service="{service}""#)]
            ),
            1.0,
            "socialdevs_ready for {service}"
        );
    }
}

fn sample(metrics: &str, name: &str, labels: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|lbl| l.contains(lbl)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn metrics_count_real_traffic() {
    let app = spawn_in_process().await;
    let labels = [
        r#"service="users""#,
        r#"route="/api/v1/users/{username}""#,
        r#"status="4xx""#,
    ];
    let before = app.get("/metrics", None).await.text().await.unwrap();
    let before = sample(&before, "socialdevs_http_requests_total", &labels);
    for _ in 0..3 {
        app.get("/api/v1/users/nobody_here", None).await;
    }
    let r = app.get("/metrics", None).await;
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = r.text().await.unwrap();
    // Other tests share the process-wide recorder, so compare before and after.
    assert!(sample(&text, "socialdevs_http_requests_total", &labels) >= before + 3.0);
    for family in [
        "socialdevs_http_request_duration_seconds_bucket",
        "socialdevs_http_requests_in_flight",
        "socialdevs_db_pool_connections",
        "socialdevs_db_pool_max_connections",
        "socialdevs_build_info",
        "process_resident_memory_bytes",
    ] {
        assert!(text.contains(family), "{family} missing from /metrics");
    }
}

#[tokio::test]
async fn security_headers_and_request_ids() {
    let app = spawn_app().await;
    let r = app.get("/api/v1/posts", None).await;
    let h = r.headers();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'self'"));
    assert!(!h["x-request-id"].is_empty());
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let app = spawn_app_with(|s| s.cors_origins = vec!["https://app.example".into()]).await;
    let allowed = app
        .client
        .get(app.url("/api/v1/posts"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let other = app
        .client
        .get(app.url("/api/v1/posts"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn web_app_is_served_with_history_fallback() {
    let app = spawn_app_with(|s| {
        let dir = s.data_dir.join("web");
        std::fs::create_dir_all(dir.join("assets")).unwrap();
        std::fs::write(dir.join("index.html"), "<html>SocialDevs app</html>").unwrap();
        std::fs::write(dir.join("assets/app-123.js"), "console.log(1)").unwrap();
        s.web_dir = dir;
    })
    .await;
    for path in ["/", "/@alice", "/posts/123", "/tags/rust"] {
        let r = app.get(path, None).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(r.headers()["cache-control"], "no-cache");
        assert!(r.text().await.unwrap().contains("SocialDevs app"), "{path}");
    }
    let asset = app.get("/assets/app-123.js", None).await;
    assert_eq!(asset.status(), StatusCode::OK);
    assert!(asset.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    assert_problem(
        app.get("/assets/missing.js", None).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    assert_problem(
        app.get("/api/v1/missing", None).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
}

#[tokio::test]
async fn a_single_service_process_mounts_only_its_routes() {
    let app = spawn_app_with(|s| s.services = "posts".parse().unwrap()).await;
    assert_eq!(
        app.get("/api/v1/posts", None).await.status(),
        StatusCode::OK
    );
    assert_problem(
        app.get("/api/v1/users", None).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    let doc: Value = app
        .get("/api/v1/openapi.json", None)
        .await
        .json()
        .await
        .unwrap();
    // Every process serves the whole platform's document, so the edge may route it anywhere.
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/api/v1/posts"));
    assert!(paths.contains_key("/api/v1/users/{username}"));
    assert!(paths.contains_key("/api/v1/timeline/home"));
}

#[tokio::test]
async fn shutdown_drains_and_ends_streams() {
    let dir = tempfile::tempdir().unwrap();
    let app = Application::build(Settings::for_data_dir(dir.path()))
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stop_rx.await;
    }));
    let client = reqwest::Client::new();
    let session: Value = client
        .post(format!("{base}/api/v1/auth/register"))
        .json(&serde_json::json!({"username": "pat", "email": "pat@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = session["access_token"].as_str().unwrap();
    let stream = client
        .get(format!(
            "{base}/api/v1/timeline/home/stream?access_token={token}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    stop_tx.send(()).unwrap();
    // The open stream ends by itself and the server stops well within the grace period.
    let body = tokio::time::timeout(Duration::from_secs(10), stream.text())
        .await
        .expect("stream ended");
    assert!(body.unwrap().contains("event: ready"));
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("server stopped")
        .unwrap()
        .unwrap();
}

/// Every metric name the shipped dashboards and alert rules query is one the services expose,
/// so no panel shows "no data" because of a typo.
#[tokio::test]
async fn dashboards_and_alerts_use_only_exposed_metrics() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/observability/tools/metric_names.py");
    let output = std::process::Command::new("python3")
        .arg(&script)
        .arg("--with-events")
        .output()
        .expect("python3 runs (install python3)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let names: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect();
    assert!(
        names.len() >= 10,
        "the dashboards reference our metrics: {names:?}"
    );

    // Two processes' worth of traffic in this process (metrics are process-wide): users and
    // posts in one app, timeline and notifications in another calling them over /internal,
    // so the metrics of the distributed topology exist too.
    let keys = tempfile::tempdir().unwrap();
    socialdevs::keys::write_key_pair(keys.path(), true).unwrap();
    socialdevs::keys::write_internal_secret(keys.path(), true).unwrap();
    let use_keys = |s: &mut Settings| {
        s.jwt_private_key_file = Some(keys.path().join(socialdevs::keys::PRIVATE_KEY_FILE));
        s.jwt_public_key_file = Some(keys.path().join(socialdevs::keys::PUBLIC_KEY_FILE));
        s.internal_secret_file = Some(keys.path().join(socialdevs::keys::INTERNAL_SECRET_FILE));
    };
    // One database for both, as in production: the timeline process reads the events the
    // other one's outbox relays (the embedded transport's log is in the database).
    let shared = tempfile::tempdir().unwrap();
    let database = socialdevs_platform::db::SqliteDb::default_url(shared.path());
    let app = spawn_app_with(|s| {
        s.services = "users,posts".parse().unwrap();
        s.database_url = Some(database.clone());
        use_keys(s);
    })
    .await;
    // Notifications too, with its MQTT bridge on a broker of the test's own.
    let broker = socialdevs_testkit::mosquitto::MosquittoServer::start_local();
    let timeline = spawn_app_with(|s| {
        s.services = "timeline,notifications".parse().unwrap();
        s.database_url = Some(database.clone());
        s.users_url = app.internal_base.clone();
        s.posts_url = app.internal_base.clone();
        s.mqtt_url = Some(broker.url().to_owned());
        use_keys(s);
    })
    .await;
    let session = app.register("metrics_user").await;
    app.create_post(&session, "traffic for the metrics test", None)
        .await;
    let home = timeline
        .get("/api/v1/timeline/home", Some(&session.access))
        .await;
    assert_eq!(home.status(), StatusCode::OK);
    let home: Value = home.json().await.unwrap();
    assert_eq!(home["items"][0]["text"], "traffic for the metrics test");
    app.get("/readyz", None).await;
    // The event pipeline's metrics appear as the relays and consumers work: wait for them.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        // Its internal listener: a process running some services has no public /metrics.
        let exposed = app.metrics().await;
        let missing: Vec<&String> = names
            .iter()
            .filter(|name| {
                !exposed.lines().any(|l| {
                    l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} "))
                })
            })
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "used in dashboards/rules but not exposed: {missing:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn healthcheck_command_reports_readiness() {
    let app = spawn_in_process().await;
    let port = app.base.rsplit(':').next().unwrap().to_owned();
    let run = |port: String| {
        std::process::Command::new(env!("CARGO_BIN_EXE_socialdevs"))
            .arg("healthcheck")
            .env_clear()
            .env("SOCIALDEVS_LISTEN", format!("127.0.0.1:{port}"))
            .output()
            .unwrap()
    };
    let ready = tokio::task::spawn_blocking(move || run(port))
        .await
        .unwrap();
    assert!(ready.status.success(), "{ready:?}");
    assert!(String::from_utf8_lossy(&ready.stdout).contains("ready"));
    let closed = socialdevs_testkit::postgres::free_port()
        .unwrap()
        .to_string();
    let down = tokio::task::spawn_blocking(move || run(closed))
        .await
        .unwrap();
    assert!(!down.status.success());
}

/// A fresh process exposes the series its services register at start (at zero) from its
/// first scrape: the recorder exists before they are wired, so alerts on them see 0, not
/// "no data".
#[tokio::test]
async fn a_fresh_process_exposes_its_zero_series_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = socialdevs_testkit::postgres::free_port().unwrap();
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_socialdevs"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("SOCIALDEVS_LISTEN", format!("127.0.0.1:{port}"))
        .env("SOCIALDEVS_DATA_DIR", dir.path())
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let metrics = format!("http://127.0.0.1:{port}/metrics");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let exposed = loop {
        if let Ok(r) = client.get(&metrics).send().await {
            break r.text().await.unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "the server answers");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    server.start_kill().unwrap();
    for series in [
        "socialdevs_notifications_created_total{kind=\"liked\"} 0",
        "socialdevs_live_dropped_total{hub=\"timeline\"} 0",
        "socialdevs_notifications_streams_open 0",
    ] {
        assert!(
            exposed.lines().any(|l| l == series),
            "{series} in:\n{exposed}"
        );
    }
}
