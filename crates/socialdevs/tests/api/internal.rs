//! The `/internal/v1/...` endpoints one process serves to the others: mounted only where
//! another process may call them, on an internal listener of their own, for callers with a
//! service token, and as strict with bad input as the public API. Prometheus scrapes
//! `/metrics` on that listener too (no token), never on a public port the edge exposes.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use socialdevs_platform::service_auth::ServiceCredential;

use crate::helpers::{
    assert_problem, distributed, spawn_app, spawn_app_with, spawn_in_process, spawn_in_process_with,
};

#[tokio::test]
async fn internal_endpoints_answer_other_services_and_refuse_bad_input() {
    let app = spawn_app_with(|s| s.services = "users,posts".parse().unwrap()).await;
    let ada = app.register("ada").await;
    let linus = app.register("linus").await;
    app.follow(&ada, "linus").await;
    app.create_post(&linus, "hello from linus", None).await;

    let found: Value = app
        .internal(
            Method::POST,
            "/internal/v1/users/lookup",
            Some(json!({"ids": [ada.id], "usernames": ["LINUS", "nobody"]})),
        )
        .await
        .json()
        .await
        .unwrap();
    let mut names: Vec<&str> = found["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["ada", "linus"]);

    let following: Value = app
        .internal(
            Method::GET,
            &format!("/internal/v1/users/{}/following", ada.id),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(following["ids"], json!([linus.id]));

    let count: Value = app
        .internal(
            Method::GET,
            &format!("/internal/v1/posts/count?author={}", linus.id),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(count["count"], 1);

    let recent: Value = app
        .internal(
            Method::POST,
            "/internal/v1/posts/recent",
            Some(json!({"authors": [linus.id], "limit": 10})),
        )
        .await
        .json()
        .await
        .unwrap();
    let post_id = recent["entries"][0]["post_id"].clone();
    assert_eq!(recent["entries"][0]["author_id"], json!(linus.id));
    let page = app
        .internal(
            Method::POST,
            "/internal/v1/posts/timeline-page",
            Some(json!({"ids": [post_id], "viewer": ada.id})),
        )
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    let page: Value = page.json().await.unwrap();
    assert_eq!(page["posts"][0]["text"], "hello from linus");

    let followers: Value = app
        .internal(
            Method::GET,
            &format!("/internal/v1/users/{}/followers?limit=10", linus.id),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(followers["ids"], json!([ada.id]));

    // Bad input: 4xx problem+json, as on the public API.
    let too_many: Vec<String> = (0..501).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    assert_problem(
        app.internal(
            Method::POST,
            "/internal/v1/users/lookup",
            Some(json!({"ids": too_many})),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
    assert_problem(
        app.internal(
            Method::POST,
            "/internal/v1/users/lookup",
            Some(json!({"ids": ["not-a-uuid"]})),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
    assert_problem(
        app.internal(Method::GET, "/internal/v1/users/not-a-uuid/following", None)
            .await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    let missing_author = app
        .internal(Method::GET, "/internal/v1/posts/count", None)
        .await;
    assert!(missing_author.status().is_client_error());
    assert_eq!(
        missing_author.headers()["content-type"],
        "application/problem+json"
    );
    assert_problem(
        app.internal(
            Method::POST,
            "/internal/v1/posts/recent",
            Some(json!({"authors": [linus.id], "limit": 0})),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
    assert_problem(
        app.internal(
            Method::GET,
            &format!("/internal/v1/users/{}/followers?limit=0", linus.id),
            None,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
}

/// All-in-one does not mount them; a process running some services serves them on its
/// internal listener only, never on the public port (which the edge and Ingress expose).
#[tokio::test]
async fn internal_endpoints_are_not_public() {
    let all = spawn_app().await;
    let some = spawn_app_with(|s| s.services = "users,posts".parse().unwrap()).await;
    for app in [&all, &some] {
        assert_problem(
            app.post("/internal/v1/users/lookup", None, json!({"ids": []}))
                .await,
            StatusCode::NOT_FOUND,
            "not-found",
        )
        .await;
    }
    assert!(
        all.internal_base.is_none(),
        "all-in-one has no internal listener"
    );
}

/// The internal listener answers services only: no token, a user's token, or a token signed
/// with another secret get 401; the public API is not there.
#[tokio::test]
async fn internal_endpoints_refuse_callers_without_a_service_token() {
    let app = spawn_app_with(|s| s.services = "users,posts".parse().unwrap()).await;
    let ada = app.register("ada").await;
    let internal = app.internal_base.clone().unwrap();
    let lookup = format!("{internal}/internal/v1/users/lookup");
    let body = json!({"usernames": ["ada"]});

    let anonymous = app.client.post(&lookup).json(&body).send().await.unwrap();
    assert_problem(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let as_user = app
        .client
        .post(&lookup)
        .bearer_auth(&ada.access)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(as_user, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let elsewhere = tempfile::tempdir().unwrap();
    socialdevs::keys::write_internal_secret(elsewhere.path(), true).unwrap();
    let forged = ServiceCredential::from_file(
        &elsewhere
            .path()
            .join(socialdevs::keys::INTERNAL_SECRET_FILE),
    )
    .unwrap()
    .token("timeline")
    .unwrap();
    let other_secret = app
        .client
        .post(&lookup)
        .bearer_auth(forged)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(other_secret, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let ok = app
        .internal(Method::POST, "/internal/v1/users/lookup", Some(body))
        .await;
    assert_eq!(ok.status(), StatusCode::OK);

    let public_there = app
        .client
        .get(format!("{internal}/api/v1/users/ada"))
        .send()
        .await
        .unwrap();
    assert_eq!(public_there.status(), StatusCode::NOT_FOUND);
}

/// A scrape as Prometheus makes it (no credentials) answers the Prometheus text format with
/// SocialDevs series.
/// Asserts that `response` (to a `/metrics` request) hands out no metrics.
async fn assert_not_scraped(response: reqwest::Response, what: &str) {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.text().await.unwrap();
    assert!(
        !content_type.starts_with("text/plain") && !body.contains("socialdevs_build_info"),
        "{what} serves metrics: {content_type} {body}"
    );
}

async fn assert_scraped(client: &reqwest::Client, base: &str, what: &str) {
    let response = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{what}: /metrics at {base}"
    );
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain"),
        "{what}: {content_type}"
    );
    let text = response.text().await.unwrap();
    assert!(
        text.lines().any(|l| l.starts_with("socialdevs_build_info")),
        "{what}: no socialdevs_ series in:\n{text}"
    );
}

/// A process running one service (as in the distributed topology) serves `/metrics` on its
/// internal listener, without a service token, and not on its public port; `/internal/...`
/// next to it still wants the token; health answers on both.
#[tokio::test]
async fn a_single_service_process_serves_metrics_on_its_internal_listener_only() {
    let app = spawn_app_with(|s| s.services = "posts".parse().unwrap()).await;
    let internal = app.internal_base.clone().unwrap();

    assert_problem(
        app.get("/metrics", None).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    assert_scraped(&app.client, &internal, "posts' internal listener").await;
    // A bearer token the listener would refuse for /internal does not matter here either.
    let with_junk_token = app
        .client
        .get(format!("{internal}/metrics"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(with_junk_token.status(), StatusCode::OK);

    for path in ["/healthz", "/readyz"] {
        assert_eq!(
            app.get(path, None).await.status(),
            StatusCode::OK,
            "public {path}"
        );
        let on_internal = app
            .client
            .get(format!("{internal}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(on_internal.status(), StatusCode::OK, "internal {path}");
    }

    let count = format!("/internal/v1/posts/count?author={}", uuid::Uuid::now_v7());
    let anonymous = app
        .client
        .get(format!("{internal}{count}"))
        .send()
        .await
        .unwrap();
    assert_problem(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(
        app.internal(Method::GET, &count, None).await.status(),
        StatusCode::OK
    );
}

/// All-in-one has no internal listener: `/metrics` stays on its one port.
#[tokio::test]
async fn all_in_one_serves_metrics_on_its_public_port() {
    let app = spawn_in_process().await;
    assert!(app.internal_base.is_none());
    assert_scraped(&app.client, &app.base, "all-in-one").await;
}

/// All-in-one with an internal listener set (as the Kubernetes overlay does, so that its
/// Ingress never reaches `/metrics`): `/metrics` moves there, and the app and API stay.
#[tokio::test]
async fn all_in_one_with_an_internal_listener_serves_metrics_there_only() {
    let app = spawn_in_process_with(|s| s.internal_listen = Some("127.0.0.1:0".into())).await;
    let internal = app.internal_base.clone().expect("an internal listener");
    assert_scraped(&app.client, &internal, "all-in-one, internal listener").await;
    // The public port's fallback is the web app's: whatever answers, it is no scrape.
    assert_not_scraped(app.get("/metrics", None).await, "the public port").await;
    assert_eq!(app.get("/readyz", None).await.status(), StatusCode::OK);
    let posts = app.get("/api/v1/posts", None).await;
    assert_eq!(posts.status(), StatusCode::OK);
}

/// Wherever Prometheus is pointed: every process of the topology under test answers a scrape
/// on its internal listener (or, all-in-one, its public port) and none on a public port that
/// also has an internal listener; the edge never hands out metrics.
#[tokio::test]
async fn every_process_is_scraped_on_its_internal_listener() {
    let app = spawn_app().await;
    let processes = app.processes();
    if distributed() {
        assert!(processes.len() >= 4, "{processes:?}");
    }
    for (what, public, internal) in &processes {
        match internal {
            Some(internal) => {
                assert_scraped(&app.client, internal, what).await;
                let public_metrics = app
                    .client
                    .get(format!("{public}/metrics"))
                    .send()
                    .await
                    .unwrap();
                assert_problem(public_metrics, StatusCode::NOT_FOUND, "not-found").await;
            }
            None => assert_scraped(&app.client, public, what).await,
        }
    }
    if distributed() {
        assert_not_scraped(app.get("/metrics", None).await, "the edge").await;
    }
}
