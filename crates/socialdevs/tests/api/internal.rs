//! The `/internal/v1/...` endpoints one process serves to the others: mounted only where
//! another process may call them, and as strict with bad input as the public API.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn internal_endpoints_answer_other_services_and_refuse_bad_input() {
    let app = spawn_app_with(|s| s.services = "users,posts".parse().unwrap()).await;
    let ada = app.register("ada").await;
    let linus = app.register("linus").await;
    app.follow(&ada, "linus").await;
    app.create_post(&linus, "hello from linus", None).await;

    let found: Value = app
        .post(
            "/internal/v1/users/lookup",
            None,
            json!({"ids": [ada.id], "usernames": ["LINUS", "nobody"]}),
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
        .get(&format!("/internal/v1/users/{}/following", ada.id), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(following["ids"], json!([linus.id]));

    let count: Value = app
        .get(
            &format!("/internal/v1/posts/count?author={}", linus.id),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(count["count"], 1);

    let recent: Value = app
        .post(
            "/internal/v1/posts/recent",
            None,
            json!({"authors": [linus.id], "limit": 10}),
        )
        .await
        .json()
        .await
        .unwrap();
    let post_id = recent["entries"][0]["post_id"].clone();
    assert_eq!(recent["entries"][0]["author_id"], json!(linus.id));
    let page = app
        .post(
            "/internal/v1/posts/timeline-page",
            None,
            json!({"ids": [post_id], "viewer": ada.id}),
        )
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    let page: Value = page.json().await.unwrap();
    assert_eq!(page["posts"][0]["text"], "hello from linus");

    let followers: Value = app
        .get(
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
        app.post("/internal/v1/users/lookup", None, json!({"ids": too_many}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
    assert_problem(
        app.post(
            "/internal/v1/users/lookup",
            None,
            json!({"ids": ["not-a-uuid"]}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
    assert_problem(
        app.get("/internal/v1/users/not-a-uuid/following", None)
            .await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    let missing_author = app.get("/internal/v1/posts/count", None).await;
    assert!(missing_author.status().is_client_error());
    assert_eq!(
        missing_author.headers()["content-type"],
        "application/problem+json"
    );
    assert_problem(
        app.post(
            "/internal/v1/posts/recent",
            None,
            json!({"authors": [linus.id], "limit": 0}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
    assert_problem(
        app.get(
            &format!("/internal/v1/users/{}/followers?limit=0", linus.id),
            None,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
}

/// All-in-one does not mount them; the distributed topology's edge refuses them.
#[tokio::test]
async fn internal_endpoints_are_not_public() {
    let app = spawn_app().await;
    assert_problem(
        app.post("/internal/v1/users/lookup", None, json!({"ids": []}))
            .await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
}
