use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_problem, failing_fields, spawn_app, spawn_app_with};

#[tokio::test]
async fn profile_counts_follow_and_unfollow() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let ben = app.register("ben").await;
    app.create_post(&ben, "first!", None).await;

    app.follow(&ann, "ben").await;
    app.follow(&ann, "BEN").await; // idempotent, any case
    let profile: Value = app
        .get("/api/v1/users/ben", Some(&ann.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(profile["username"], "ben");
    assert_eq!(profile["followers_count"], 1);
    assert_eq!(profile["following_count"], 0);
    assert_eq!(profile["posts_count"], 1);
    assert_eq!(profile["followed_by_me"], true);
    let anonymous: Value = app
        .get("/api/v1/users/ben", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(anonymous["followed_by_me"], false);

    let followers = app
        .collect_pages("/api/v1/users/ben/followers", None, 10)
        .await;
    assert_eq!(followers.len(), 1);
    assert_eq!(followers[0]["username"], "ann");
    let following = app
        .collect_pages("/api/v1/users/ann/following", None, 10)
        .await;
    assert_eq!(following[0]["username"], "ben");

    for _ in 0..2 {
        let r = app.delete("/api/v1/users/ben/follow", &ann.access).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }
    let profile: Value = app
        .get("/api/v1/users/ben", Some(&ann.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(profile["followers_count"], 0);
    assert_eq!(profile["followed_by_me"], false);
}

#[tokio::test]
async fn following_yourself_or_nobody_is_refused() {
    let app = spawn_app().await;
    let cat = app.register("cat").await;
    let r = app.put("/api/v1/users/cat/follow", &cat.access).await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let r = app.put("/api/v1/users/ghost/follow", &cat.access).await;
    assert_problem(r, StatusCode::NOT_FOUND, "not-found").await;
    let r = app.get("/api/v1/users/ghost", None).await;
    assert_problem(r, StatusCode::NOT_FOUND, "not-found").await;
}

#[tokio::test]
async fn settings_update_only_the_callers_profile() {
    let app = spawn_app().await;
    let dan = app.register("dan").await;
    let eve = app.register("eve").await;
    let r = app
        .send(
            Method::PATCH,
            "/api/v1/users/me",
            Some(&dan.access),
            Some(json!({"display_name": "Dan the Dev", "bio": "Rust ❤️"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let user: Value = r.json().await.unwrap();
    assert_eq!(user["display_name"], "Dan the Dev");
    assert_eq!(user["bio"], "Rust ❤️");
    let eve_profile: Value = app
        .get("/api/v1/users/eve", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(eve_profile["display_name"], "eve");
    let _ = eve;

    let r = app
        .send(
            Method::PATCH,
            "/api/v1/users/me",
            Some(&dan.access),
            Some(json!({"bio": "x".repeat(161)})),
        )
        .await;
    let problem = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(failing_fields(&problem), ["bio"]);
    let r = app
        .send(
            Method::PATCH,
            "/api/v1/users/me",
            None,
            Some(json!({"bio": "hi"})),
        )
        .await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let me: Value = app
        .get("/api/v1/users/me", Some(&dan.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["bio"], "Rust ❤️");
}

#[tokio::test]
async fn search_and_suggestions() {
    let app = spawn_app().await;
    let mut sessions = Vec::new();
    for name in [
        "rustacean",
        "rusty_nail",
        "gopher",
        "pythonista",
        "crab_rust",
    ] {
        sessions.push(app.register(name).await);
    }
    let found = app.collect_pages("/api/v1/users?q=RUST", None, 1).await;
    let names: Vec<&str> = found
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["crab_rust", "rustacean", "rusty_nail"]);

    // Everyone follows gopher, so gopher is suggested first to whoever does not follow yet.
    for s in &sessions[1..] {
        if s.username != "gopher" {
            app.follow(s, "gopher").await;
        }
    }
    let suggestions: Value = app
        .get(
            "/api/v1/users/suggestions?limit=3",
            Some(&sessions[0].access),
        )
        .await
        .json()
        .await
        .unwrap();
    let suggestions = suggestions.as_array().unwrap();
    assert_eq!(suggestions[0]["username"], "gopher");
    assert!(suggestions.iter().all(|u| u["username"] != "rustacean"));
}

#[tokio::test]
async fn user_lists_link_to_their_next_page() {
    let app = spawn_app().await;
    let star = app.register("linkstar").await;
    for name in ["linkfan1", "linkfan2", "linkfan3"] {
        let fan = app.register(name).await;
        app.follow(&fan, &star.username).await;
    }
    for path in [
        "/api/v1/users/linkstar/followers?limit=2",
        "/api/v1/users?q=linkfan&limit=2",
    ] {
        let response = app.get(path, None).await;
        assert_eq!(response.status(), StatusCode::OK);
        let link = response
            .headers()
            .get("link")
            .unwrap_or_else(|| panic!("{path}: a Link header"))
            .to_str()
            .unwrap()
            .to_owned();
        let page: Value = response.json().await.unwrap();
        let cursor = page["next_cursor"].as_str().unwrap();
        assert!(
            link.ends_with(&format!("cursor={cursor}>; rel=\"next\"")),
            "{link}"
        );
        // The last page has none.
        let last = app.get(&format!("{path}&cursor={cursor}"), None).await;
        assert!(last.headers().get("link").is_none(), "{path}: last page");
    }
    let following = app
        .get("/api/v1/users/linkfan1/following?limit=5", None)
        .await;
    assert!(following.headers().get("link").is_none(), "a single page");
}

#[tokio::test]
async fn follows_are_capped_per_user() {
    let app = spawn_app_with(|s| s.max_following = 2).await;
    let fan = app.register("fan").await;
    for name in ["idol1", "idol2", "idol3"] {
        app.register(name).await;
    }
    app.follow(&fan, "idol1").await;
    app.follow(&fan, "idol2").await;
    let third = app.put("/api/v1/users/idol3/follow", &fan.access).await;
    let problem = assert_problem(third, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(failing_fields(&problem), ["username"]);
    // At the cap, following someone already followed is still the no-op it always was.
    app.follow(&fan, "idol2").await;
    // Unfollowing makes room.
    let r = app.delete("/api/v1/users/idol1/follow", &fan.access).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    app.follow(&fan, "idol3").await;
    let profile: Value = app
        .get("/api/v1/users/fan", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(profile["following_count"], 2, "{profile}");
}
