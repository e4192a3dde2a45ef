use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_problem, spawn_app, EventStream};

#[tokio::test]
async fn home_timeline_has_my_and_followed_posts_newest_first() {
    let app = spawn_app().await;
    let ivy = app.register("ivy").await;
    let jon = app.register("jon").await;
    let kim = app.register("kim").await;
    app.create_post(&jon, "jon 1", None).await;
    app.create_post(&kim, "kim 1 (not followed)", None).await;
    app.create_post(&ivy, "ivy 1", None).await;
    app.create_post(&jon, "jon 2", None).await;

    let before = app
        .collect_pages("/api/v1/timeline/home", Some(&ivy.access), 10)
        .await;
    assert_eq!(before.len(), 1, "only my own post before following");
    app.follow(&ivy, "jon").await;
    // The follow reaches the timeline through the event pipeline: within moments (a fresh
    // Kafka consumer group may first take seconds to join).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let home = app
            .collect_pages("/api/v1/timeline/home", Some(&ivy.access), 2)
            .await;
        let texts: Vec<&str> = home.iter().map(|p| p["text"].as_str().unwrap()).collect();
        if texts == ["jon 2", "ivy 1", "jon 1"] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "home after following jon: {texts:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let r = app.get("/api/v1/timeline/home", None).await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn home_stream_delivers_followed_posts_live() {
    let app = spawn_app().await;
    let lea = app.register("lea").await;
    let max = app.register("max").await;
    let ned = app.register("ned").await;
    app.follow(&lea, "max").await;

    let response = app
        .client
        .get(app.url(&format!(
            "/api/v1/timeline/home/stream?access_token={}",
            lea.access
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    // Wait for the stream to be subscribed before posting.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !buffer.contains("event: ready") {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("ready in time")
            .unwrap()
            .unwrap();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
    app.create_post(&ned, "not followed", None).await;
    app.create_post(&max, "live from max", None).await;
    let post: Value = loop {
        if let Some(start) = buffer.find("event: post\n") {
            let rest = &buffer[start..];
            if let Some(end) = rest.find("\n\n") {
                let data = rest[..end]
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .unwrap();
                break serde_json::from_str(data).unwrap();
            }
        }
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("post in time")
            .unwrap()
            .unwrap();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    };
    assert_eq!(post["text"], "live from max");
    assert!(!buffer.contains("not followed"));
}

const HOME_STREAM: &str = "/api/v1/timeline/home/stream";

/// Opens home streams.
struct HomeStream;

impl HomeStream {
    async fn open(app: &crate::helpers::TestApp, access: &str) -> EventStream {
        Self::open_at(app, &app.base, access).await
    }

    async fn open_at(app: &crate::helpers::TestApp, base: &str, access: &str) -> EventStream {
        EventStream::open(app, base, HOME_STREAM, access, None).await
    }
}

#[tokio::test]
async fn follows_made_while_the_stream_is_open_reach_it() {
    // The follow and the post are events of two different services: in the distributed
    // topology both cross processes to reach the timeline service's stream.
    let app = spawn_app().await;
    let ora = app.register("ora").await;
    let pia = app.register("pia").await;
    let mut stream = HomeStream::open(&app, &ora.access).await;

    app.follow(&ora, "pia").await;
    app.create_post(&pia, "after the follow", None).await;
    let (event, data) = stream.next().await;
    assert_eq!(event, "post");
    let post: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(post["text"], "after the follow");
    assert_eq!(post["author"]["username"], "pia");

    let r = app
        .client
        .delete(app.url("/api/v1/users/pia/follow"))
        .bearer_auth(&ora.access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // A stream opened now knows of the unfollow (the follow graph is read at open; a stream
    // already open learns it from the event, which may arrive after posts of the same moment).
    let mut stream = HomeStream::open(&app, &ora.access).await;
    app.create_post(&pia, "after the unfollow", None).await;
    app.create_post(&ora, "my own", None).await;
    let (event, data) = stream.next().await;
    assert_eq!(event, "post");
    let post: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(
        post["text"], "my own",
        "the unfollowed author's post is not streamed"
    );
}

#[tokio::test]
async fn a_post_reaches_the_live_streams_on_every_timeline_replica() {
    let app = spawn_app().await;
    let quinn = app.register("quinn").await;
    let rosa = app.register("rosa").await;
    app.follow(&quinn, "rosa").await;
    let mut streams = Vec::new();
    for base in app.timeline_bases() {
        streams.push(HomeStream::open_at(&app, &base, &quinn.access).await);
    }
    app.create_post(&rosa, "published once", None).await;
    for stream in &mut streams {
        let (event, data) = stream.next().await;
        assert_eq!(event, "post");
        let post: Value = serde_json::from_str(&data).unwrap();
        assert_eq!(post["text"], "published once");
    }
}

/// Writes `n` accounts that `follower` follows straight into the users service's tables:
/// registering them through the API would hash `n` passwords.
async fn follow_many_directly(database_url: &str, follower: &str, n: usize) {
    let now = chrono::Utc::now();
    if database_url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(database_url).await.unwrap();
        let mut tx = pool.begin().await.unwrap();
        for i in 0..n {
            let id = uuid::Uuid::now_v7();
            sqlx::query(
                "INSERT INTO users.users (id, username, username_lower, email, password_hash, \
                 display_name, bio, created_at, updated_at) VALUES ($1, $2, $2, $3, 'x', $2, '', $4, $4)",
            )
            .bind(id)
            .bind(format!("bulk_{i}"))
            .bind(format!("bulk_{i}@example.com"))
            .bind(now)
            .execute(&mut *tx)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO users.follows (id, follower_id, followee_id, created_at) \
                 VALUES ($1, $2::uuid, $3, $4)",
            )
            .bind(uuid::Uuid::now_v7())
            .bind(follower)
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
    } else {
        let pool = sqlx::SqlitePool::connect(database_url).await.unwrap();
        let mut tx = pool.begin().await.unwrap();
        let at = now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        for i in 0..n {
            let id = uuid::Uuid::now_v7().to_string();
            sqlx::query(
                "INSERT INTO users (id, username, username_lower, email, password_hash, \
                 display_name, bio, created_at, updated_at) VALUES (?1, ?2, ?2, ?3, 'x', ?2, '', ?4, ?4)",
            )
            .bind(&id)
            .bind(format!("bulk_{i}"))
            .bind(format!("bulk_{i}@example.com"))
            .bind(&at)
            .execute(&mut *tx)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO follows (id, follower_id, followee_id, created_at) VALUES (?, ?, ?, ?)",
            )
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(follower)
            .bind(&id)
            .bind(&at)
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
    }
}

#[tokio::test]
async fn a_user_following_5000_people_reads_their_home_timeline() {
    let app = spawn_app().await;
    let fan = app.register("fan").await;
    let star = app.register("star").await;
    follow_many_directly(app.database_url(), &fan.id, 5_000).await;
    app.follow(&fan, "star").await;
    app.create_post(&star, "seen by a fan of 5001", None).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = app.get("/api/v1/timeline/home", Some(&fan.access)).await;
        assert_eq!(r.status(), StatusCode::OK);
        let page: Value = r.json().await.unwrap();
        if page["items"][0]["text"] == "seen by a fan of 5001" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let profile: Value = app
        .get("/api/v1/users/fan", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(profile["following_count"], 5_001);
}

#[tokio::test]
async fn last_event_id_replays_what_the_stream_missed() {
    let app = spawn_app().await;
    let uma = app.register("uma").await;
    let vic = app.register("vic").await;
    app.follow(&uma, "vic").await;
    let seen = app.create_post(&vic, "seen before the drop", None).await;
    app.create_post(&vic, "missed 1", None).await;
    app.create_post(&vic, "missed 2", None).await;
    let seen_id = seen["id"].as_str().unwrap();
    // The replay reads the home timeline, which the follow reaches through the pipeline.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let home = app
            .collect_pages("/api/v1/timeline/home", Some(&uma.access), 10)
            .await;
        if home.len() == 3 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{home:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mut stream =
        EventStream::open(&app, &app.base, HOME_STREAM, &uma.access, Some(seen_id)).await;
    for expected in ["missed 1", "missed 2"] {
        let (event, data) = stream.next().await;
        assert_eq!(event, "post");
        let post: Value = serde_json::from_str(&data).unwrap();
        assert_eq!(post["text"], expected, "oldest missed first");
    }

    let r = app
        .client
        .get(app.url(&format!(
            "/api/v1/timeline/home/stream?access_token={}",
            uma.access
        )))
        .header("Last-Event-ID", "not-an-id")
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
}

#[tokio::test]
async fn live_streams_are_bounded_per_user() {
    let app = spawn_app().await;
    let wes = app.register("wes").await;
    let mut open = Vec::new();
    for _ in 0..5 {
        open.push(HomeStream::open(&app, &wes.access).await);
    }
    let r = app
        .get(
            &format!("/api/v1/timeline/home/stream?access_token={}", wes.access),
            None,
        )
        .await;
    assert!(r.headers().get("retry-after").is_some());
    assert_problem(r, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    drop(open.pop());
    // The closed stream's place comes back once the server notices the disconnect.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = app
            .get(
                &format!("/api/v1/timeline/home/stream?access_token={}", wes.access),
                None,
            )
            .await;
        if r.status() == StatusCode::OK {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{}", r.status());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
