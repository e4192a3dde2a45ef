//! Every class of bad input answers a clear 4xx problem+json, never a 500.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{assert_problem, failing_fields, spawn_app};

#[tokio::test]
async fn malformed_bodies() {
    let app = spawn_app().await;
    let s = app.register("oli").await;
    let raw = |body: &'static str, content_type: &'static str| {
        app.client
            .post(app.url("/api/v1/posts"))
            .bearer_auth(&s.access)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    assert_problem(
        raw("{\"text\": ", "application/json").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad-request",
    )
    .await;
    assert_problem(
        raw("text=hi", "application/x-www-form-urlencoded")
            .await
            .unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
    )
    .await;
    assert_problem(
        raw("{}", "text/plain").await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
    )
    .await;
    let missing = assert_problem(
        raw("{}", "application/json").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
    assert_eq!(failing_fields(&missing), ["text"]);
    let wrong_type = assert_problem(
        raw("{\"text\": 1}", "application/json").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
    assert_eq!(failing_fields(&wrong_type), ["text"]);
    let bad_uuid = assert_problem(
        raw(
            "{\"text\": \"hi\", \"reply_to\": \"nope\"}",
            "application/json",
        )
        .await
        .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
    assert_eq!(failing_fields(&bad_uuid), ["reply_to"]);
    assert_problem(
        raw("[1, 2]", "application/json").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;

    let huge = format!("{{\"text\": \"{}\"}}", "a".repeat(200 * 1024));
    let r = app
        .client
        .post(app.url("/api/v1/posts"))
        .bearer_auth(&s.access)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large").await;

    let posts = app.collect_pages("/api/v1/posts", None, 10).await;
    assert!(posts.is_empty(), "no bad request stored anything");
}

#[tokio::test]
async fn unknown_routes_methods_and_ids() {
    let app = spawn_app().await;
    assert_problem(
        app.get("/api/v1/nothing-here", None).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    assert_problem(
        app.get("/api/v2/posts", None).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    assert_problem(
        app.get("/internal/anything", None).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    assert_problem(
        app.get("/api/v1/posts/not-a-uuid", None).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    let r = app
        .send(Method::PATCH, "/api/v1/posts", None, Some(json!({})))
        .await;
    assert_eq!(
        r.headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().contains("GET")),
        Some(true)
    );
    assert_problem(r, StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed").await;
}

#[tokio::test]
async fn bad_query_parameters() {
    let app = spawn_app().await;
    for url in [
        "/api/v1/posts?limit=0",
        "/api/v1/posts?limit=101",
        "/api/v1/posts?limit=ten",
        "/api/v1/posts?limit=-1",
        "/api/v1/posts?cursor=garbage!",
        "/api/v1/posts?cursor=eyJub3QiOiJhbiBpZCJ9",
        "/api/v1/users?cursor=%%%",
    ] {
        let r = app.get(url, None).await;
        assert!(r.status().is_client_error(), "{url}: {}", r.status());
        assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    }
}
