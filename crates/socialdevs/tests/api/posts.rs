use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, failing_fields, spawn_app};

#[tokio::test]
async fn post_reply_like_and_delete() {
    let app = spawn_app().await;
    let ana = app.register("ana").await;
    let bo = app.register("boz").await;

    let post = app
        .create_post(&ana, "Hello #Rust and #rust, ping @boz and @nobody", None)
        .await;
    assert_eq!(post["author"]["username"], "ana");
    assert_eq!(post["hashtags"], json!(["rust"]));
    assert_eq!(post["mentions"], json!(["boz"]));
    let id = post["id"].as_str().unwrap().to_owned();

    let reply = app.create_post(&bo, "Welcome!", Some(&id)).await;
    assert_eq!(reply["reply_to"], id.as_str());

    for _ in 0..2 {
        let r = app
            .put(&format!("/api/v1/posts/{id}/like"), &bo.access)
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }
    let seen_by_bo: Value = app
        .get(&format!("/api/v1/posts/{id}"), Some(&bo.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen_by_bo["like_count"], 1);
    assert_eq!(seen_by_bo["liked_by_me"], true);
    assert_eq!(seen_by_bo["reply_count"], 1);
    let seen_by_ana: Value = app
        .get(&format!("/api/v1/posts/{id}"), Some(&ana.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen_by_ana["liked_by_me"], false);

    let replies = app
        .collect_pages(&format!("/api/v1/posts/{id}/replies"), None, 10)
        .await;
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0]["text"], "Welcome!");

    let r = app
        .delete(&format!("/api/v1/posts/{id}/like"), &bo.access)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let after: Value = app
        .get(&format!("/api/v1/posts/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after["like_count"], 0);

    // Only the author deletes.
    let r = app.delete(&format!("/api/v1/posts/{id}"), &bo.access).await;
    assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(
        app.get(&format!("/api/v1/posts/{id}"), None).await.status(),
        StatusCode::OK
    );
    let r = app
        .delete(&format!("/api/v1/posts/{id}"), &ana.access)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app.get(&format!("/api/v1/posts/{id}"), None).await;
    assert_problem(r, StatusCode::NOT_FOUND, "not-found").await;
    let r = app
        .put(&format!("/api/v1/posts/{id}/like"), &bo.access)
        .await;
    assert_problem(r, StatusCode::NOT_FOUND, "not-found").await;
}

#[tokio::test]
async fn post_text_is_counted_in_graphemes() {
    let app = spawn_app().await;
    let cy = app.register("cyd").await;
    app.create_post(&cy, &"👍🏽".repeat(280), None).await;
    let r = app
        .post(
            "/api/v1/posts",
            Some(&cy.access),
            json!({"text": "👍🏽".repeat(281)}),
        )
        .await;
    let problem = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(failing_fields(&problem), ["text"]);
    let r = app
        .post("/api/v1/posts", Some(&cy.access), json!({"text": "   "}))
        .await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let r = app
        .post(
            "/api/v1/posts",
            Some(&cy.access),
            json!({"text": "hi", "reply_to": uuid::Uuid::now_v7()}),
        )
        .await;
    let problem = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(failing_fields(&problem), ["reply_to"]);
    let mine: Value = app
        .get("/api/v1/posts?author=cyd", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        mine["items"].as_array().unwrap().len(),
        1,
        "rejected posts were not stored"
    );
}

#[tokio::test]
async fn idempotency_key_returns_the_first_post() {
    let app = spawn_app().await;
    let di = app.register("dia").await;
    let send = |text: &'static str, key: &'static str| {
        app.client
            .post(app.url("/api/v1/posts"))
            .bearer_auth(&di.access)
            .header("idempotency-key", key)
            .json(&json!({"text": text}))
            .send()
    };
    let first = send("once only", "key-1").await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let retry = send("once only", "key-1").await.unwrap();
    assert_eq!(retry.status(), StatusCode::CREATED);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(first["id"], retry["id"]);
    let other_body = send("something else", "key-1").await.unwrap();
    assert_problem(other_body, StatusCode::CONFLICT, "conflict").await;
    let posts = app
        .collect_pages("/api/v1/posts?author=dia", None, 10)
        .await;
    assert_eq!(posts.len(), 1);

    // Keys belong to a user: someone else may use the same key.
    let ed = app.register("edd").await;
    let r = app
        .client
        .post(app.url("/api/v1/posts"))
        .bearer_auth(&ed.access)
        .header("idempotency-key", "key-1")
        .json(&json!({"text": "once only"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn explore_author_and_tag_listings() {
    let app = spawn_app().await;
    let fay = app.register("fay").await;
    let gil = app.register("gil").await;
    app.create_post(&fay, "Learning #Vue", None).await;
    app.create_post(&gil, "More #vue and #rust", None).await;
    app.create_post(&gil, "Just #rust", None).await;

    let explore = app.collect_pages("/api/v1/posts", None, 2).await;
    let texts: Vec<&str> = explore
        .iter()
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["Just #rust", "More #vue and #rust", "Learning #Vue"]
    );
    assert_eq!(
        app.collect_pages("/api/v1/posts?author=gil", None, 5)
            .await
            .len(),
        2
    );
    assert_eq!(
        app.collect_pages("/api/v1/posts?tag=vue", None, 5)
            .await
            .len(),
        2
    );
    assert_eq!(
        app.collect_pages("/api/v1/posts?tag=%23RUST", None, 5)
            .await
            .len(),
        2
    );
    assert_eq!(
        app.collect_pages("/api/v1/posts?tag=vue&author=gil", None, 5)
            .await
            .len(),
        1
    );
    let r = app.get("/api/v1/posts?author=nobody", None).await;
    assert_problem(r, StatusCode::NOT_FOUND, "not-found").await;
    let r = app.get("/api/v1/posts?tag=no%20spaces", None).await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
}

#[tokio::test]
async fn pagination_stays_correct_while_posts_arrive() {
    let app = spawn_app().await;
    let hal = app.register("hal").await;
    let mut expected = Vec::new();
    for i in 0..25 {
        expected.push(
            app.create_post(&hal, &format!("post {i}"), None).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    expected.reverse();

    // Walk pages of 7 while a writer keeps posting between pages.
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let url = match &cursor {
            Some(c) => format!("/api/v1/posts?author=hal&limit=7&cursor={c}"),
            None => "/api/v1/posts?author=hal&limit=7".to_owned(),
        };
        let response = app.get(&url, None).await;
        let link = response
            .headers()
            .get("link")
            .map(|l| l.to_str().unwrap().to_owned());
        let page: Value = response.json().await.unwrap();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_str().unwrap().to_owned()),
        );
        app.create_post(&hal, &format!("interloper {pages}"), None)
            .await;
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(c) => {
                assert!(link.unwrap().contains(&format!("cursor={c}")));
                cursor = Some(c.to_owned());
            }
            None => {
                assert!(link.is_none());
                break;
            }
        }
    }
    assert_eq!(pages, 4);
    assert_eq!(seen, expected, "no duplicates, no gaps, newest first");
}
