//! The notifications service through the public API: who is notified of what (and who is
//! not), unread counts, marking read, the live stream and its resumption.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, spawn_app, EventStream, Session, TestApp};

const STREAM: &str = "/api/v1/notifications/stream";

/// `who`'s notifications as `(kind, actor username, post id)`, newest first.
async fn summary(app: &TestApp, who: &Session) -> Vec<(String, String, Option<String>)> {
    app.collect_pages("/api/v1/notifications", Some(&who.access), 2)
        .await
        .iter()
        .map(|n| {
            (
                n["kind"].as_str().unwrap().to_owned(),
                n["actor"]["username"].as_str().unwrap().to_owned(),
                n["post"]["id"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

/// Waits until `who`'s notifications are `expected`, in any order (the pipeline is
/// asynchronous, and events of different topics or keys may be handled in either order),
/// then checks that nothing else arrives.
async fn expect_exactly(app: &TestApp, who: &Session, expected: &[(&str, &str, Option<&str>)]) {
    let mut expected: Vec<(String, String, Option<String>)> = expected
        .iter()
        .map(|(k, a, p)| ((*k).to_owned(), (*a).to_owned(), p.map(str::to_owned)))
        .collect();
    expected.sort();
    let sorted = |mut got: Vec<_>| {
        got.sort();
        got
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got = sorted(summary(app, who).await);
        if got == expected {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}'s notifications: {got:?}, expected {expected:?}",
            who.username
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        sorted(summary(app, who).await),
        expected,
        "and nothing more"
    );
}

async fn unread(app: &TestApp, who: &Session) -> i64 {
    let r = app
        .get("/api/v1/notifications/unread_count", Some(&who.access))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Value>().await.unwrap()["count"].as_i64().unwrap()
}

async fn like(app: &TestApp, who: &Session, post: &str) {
    let r = app
        .put(&format!("/api/v1/posts/{post}/like"), &who.access)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

async fn unlike(app: &TestApp, who: &Session, post: &str) {
    let r = app
        .delete(&format!("/api/v1/posts/{post}/like"), &who.access)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn follows_likes_mentions_and_replies_notify_exactly_the_right_users() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let cyd = app.register("cyd").await;

    app.follow(&bob, "ada").await;
    let post = app.create_post(&ada, "hello @bob", None).await;
    let post_id = post["id"].as_str().unwrap();
    like(&app, &bob, post_id).await;
    like(&app, &ada, post_id).await; // her own: nobody is told
    unlike(&app, &bob, post_id).await;
    like(&app, &bob, post_id).await; // like, unlike, like again: one notification
    let reply = app
        .create_post(&cyd, "@ada @bob @cyd agreed", Some(post_id))
        .await;
    let reply_id = reply["id"].as_str().unwrap();
    app.create_post(&ada, "talking to myself @ada", None).await;

    expect_exactly(
        &app,
        &ada,
        &[
            ("replied", "cyd", Some(reply_id)),
            ("liked", "bob", Some(post_id)),
            ("followed", "bob", None),
        ],
    )
    .await;
    expect_exactly(
        &app,
        &bob,
        &[
            ("mentioned", "cyd", Some(reply_id)),
            ("mentioned", "ada", Some(post_id)),
        ],
    )
    .await;
    expect_exactly(&app, &cyd, &[]).await;

    // Items carry the actor as a user and the post as its recipient sees it. (Events of
    // different topics and keys may be handled in either order, so find the reply by kind.)
    let page: Value = app
        .get("/api/v1/notifications?limit=1", Some(&ada.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(page["next_cursor"].is_string());
    let items = app
        .collect_pages("/api/v1/notifications", Some(&ada.access), 10)
        .await;
    let replied = items.iter().find(|n| n["kind"] == "replied").unwrap();
    assert_eq!(replied["actor"]["display_name"], "cyd");
    assert!(replied["actor"]["created_at"].is_string());
    assert_eq!(replied["post"]["reply_to"], post_id);
    assert_eq!(replied["read"], false);

    // Unread counts, then marking read up to one notification and then all.
    assert_eq!(unread(&app, &ada).await, 3);
    // Up to the middle one (newest first): it and the oldest become read.
    let middle = items[1]["id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            "/api/v1/notifications/read",
            Some(&ada.access),
            json!({"up_to": middle}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(unread(&app, &ada).await, 1, "the newest stays unread");
    let read: Vec<bool> = app
        .collect_pages("/api/v1/notifications", Some(&ada.access), 10)
        .await
        .iter()
        .map(|n| n["read"].as_bool().unwrap())
        .collect();
    assert_eq!(read, [false, true, true]);
    let r = app
        .post("/api/v1/notifications/read", Some(&ada.access), json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(unread(&app, &ada).await, 0);
    assert_eq!(unread(&app, &bob).await, 2, "others' stay unread");
}

#[tokio::test]
async fn deleting_a_post_takes_its_notifications_and_an_unlike_hides_the_unread_like() {
    let app = spawn_app().await;
    let eve = app.register("eve").await;
    let fay = app.register("fay").await;
    let kept = app.create_post(&eve, "kept", None).await;
    let kept_id = kept["id"].as_str().unwrap();
    let doomed = app.create_post(&eve, "doomed", None).await;
    let doomed_id = doomed["id"].as_str().unwrap();
    like(&app, &fay, kept_id).await;
    like(&app, &fay, doomed_id).await;
    expect_exactly(
        &app,
        &eve,
        &[
            ("liked", "fay", Some(doomed_id)),
            ("liked", "fay", Some(kept_id)),
        ],
    )
    .await;

    let r = app
        .delete(&format!("/api/v1/posts/{doomed_id}"), &eve.access)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    unlike(&app, &fay, kept_id).await;
    expect_exactly(&app, &eve, &[]).await;
    assert_eq!(unread(&app, &eve).await, 0);
}

#[tokio::test]
async fn the_stream_delivers_new_notifications_live_and_resumes_after_the_last_seen() {
    let app = spawn_app().await;
    let gus = app.register("gus").await;
    let hal = app.register("hal").await;
    let mut stream = EventStream::open(&app, &app.base, STREAM, &gus.access, None).await;

    app.follow(&hal, "gus").await;
    let (event, data) = stream.next().await;
    assert_eq!(event, "notification");
    let first: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(first["kind"], "followed");
    assert_eq!(first["actor"]["username"], "hal");
    assert_eq!(first["read"], false);
    drop(stream);

    // Missed while away: a mention and a like, replayed after the last seen.
    let mention = app.create_post(&hal, "hi @gus", None).await;
    let post = app.create_post(&gus, "mine", None).await;
    like(&app, &hal, post["id"].as_str().unwrap()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while unread(&app, &gus).await < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "notifications in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut stream = EventStream::open(
        &app,
        &app.base,
        STREAM,
        &gus.access,
        Some(first["id"].as_str().unwrap()),
    )
    .await;
    let mut replayed = Vec::new();
    for _ in 0..2 {
        let (event, data) = stream.next().await;
        assert_eq!(event, "notification");
        let n: Value = serde_json::from_str(&data).unwrap();
        replayed.push((
            n["kind"].as_str().unwrap().to_owned(),
            n["post"]["id"].clone(),
        ));
    }
    replayed.sort_by_key(|(kind, _)| kind.clone());
    assert_eq!(
        replayed,
        [
            ("liked".to_owned(), post["id"].clone()),
            ("mentioned".to_owned(), mention["id"].clone()),
        ]
    );

    // Others' notifications never reach this stream; the next own one does.
    let ivy = app.register("ivy").await;
    app.follow(&ivy, "hal").await;
    app.follow(&ivy, "gus").await;
    let (event, data) = stream.next().await;
    assert_eq!(event, "notification");
    let n: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(
        (n["kind"].as_str(), n["actor"]["username"].as_str()),
        (Some("followed"), Some("ivy"))
    );
}

#[tokio::test]
async fn bad_requests_get_problems() {
    let app = spawn_app().await;
    let joe = app.register("joe").await;
    for path in [
        "/api/v1/notifications",
        "/api/v1/notifications/unread_count",
    ] {
        let r = app.get(path, None).await;
        assert_problem(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let r = app
        .post("/api/v1/notifications/read", None, json!({}))
        .await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = app
        .post(
            "/api/v1/notifications/read",
            Some(&joe.access),
            json!({"up_to": "not-an-id"}),
        )
        .await;
    assert_problem(r, StatusCode::BAD_REQUEST, "bad-request").await;
    let r = app
        .get("/api/v1/notifications?limit=0", Some(&joe.access))
        .await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let r = app
        .get("/api/v1/notifications?cursor=garbage", Some(&joe.access))
        .await;
    assert_eq!(r.status().as_u16() / 100, 4, "{}", r.status());
    let r = app
        .client
        .get(app.url(&format!("{STREAM}?access_token={}", joe.access)))
        .header("Last-Event-ID", "nope")
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    // An empty body marks everything read, like `{}`.
    let r = app
        .client
        .post(app.url("/api/v1/notifications/read"))
        .bearer_auth(&joe.access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

/// A device subscribed to one user's notifications topic.
struct Device {
    client: rumqttc::AsyncClient,
    received: tokio::sync::mpsc::UnboundedReceiver<(String, Value)>,
    poll: tokio::task::JoinHandle<()>,
}

impl Drop for Device {
    fn drop(&mut self) {
        // Gone for good: its event loop would otherwise reconnect with the same client id.
        self.poll.abort();
    }
}

impl Device {
    /// Connects to the broker at `host:port` and subscribes (QoS 1) to `user`'s topic.
    async fn subscribe(name: &str, (host, port): (String, u16), user: &str) -> Self {
        let mut options = rumqttc::MqttOptions::new(name, host, port);
        options.set_keep_alive(Duration::from_secs(5));
        let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 16);
        let (sender, received) = tokio::sync::mpsc::unbounded_channel();
        let (subscribed, mut acked) = tokio::sync::mpsc::unbounded_channel();
        let poll = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                        let _ = subscribed.send(());
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                        let json = serde_json::from_slice(&p.payload).unwrap_or(Value::Null);
                        let _ = sender.send((p.topic.clone(), json));
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        client
            .subscribe(
                format!("socialdevs/users/{user}/notifications"),
                rumqttc::QoS::AtLeastOnce,
            )
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), acked.recv())
            .await
            .expect("subscribed in time");
        Self {
            client,
            received,
            poll,
        }
    }

    /// The next message, within 20 seconds.
    async fn next(&mut self) -> (String, Value) {
        tokio::time::timeout(Duration::from_secs(20), self.received.recv())
            .await
            .expect("an MQTT message in time")
            .expect("the device is connected")
    }
}

#[tokio::test]
async fn the_mqtt_bridge_publishes_each_notification_and_survives_the_broker_going_away() {
    let mut broker = socialdevs_testkit::mosquitto::MosquittoServer::start_local();
    let url = broker.url().to_owned();
    let app = crate::helpers::spawn_app_with(|s| s.mqtt_url = Some(url)).await;
    let kim = app.register("kim").await;
    let lou = app.register("lou").await;
    let mut device = Device::subscribe("kims-phone", broker.host_port(), &kim.id).await;

    // Not for kim: another user's topic. Then kim's own.
    app.follow(&kim, "lou").await;
    app.follow(&lou, "kim").await;
    let (topic, message) = device.next().await;
    assert_eq!(topic, format!("socialdevs/users/{}/notifications", kim.id));
    assert_eq!(message["kind"], "followed");
    assert_eq!(message["actor"]["username"], "lou");
    assert_eq!(message["read"], false);
    assert!(message["id"].is_string());
    drop(device);

    // The broker goes away: the API keeps answering and notifications keep being stored.
    broker.kill();
    app.create_post(&lou, "while the broker is down @kim", None)
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while unread(&app, &kim).await < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the notifier keeps up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // It comes back: the bridge reconnects and publishes again.
    broker.restart();
    let mut device = Device::subscribe("kims-phone", broker.host_port(), &kim.id).await;
    let post = app.create_post(&kim, "back", None).await;
    like(&app, &lou, post["id"].as_str().unwrap()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        // The mention queued while the broker was away may come first.
        let (_, message) = device.next().await;
        if message["kind"] == "liked" {
            assert_eq!(message["post"]["id"], post["id"]);
            break;
        }
        assert_eq!(message["kind"], "mentioned");
        assert!(tokio::time::Instant::now() < deadline);
    }
    device.client.disconnect().await.unwrap();
}
