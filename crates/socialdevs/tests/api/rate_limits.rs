//! Rate limits, black-box: per client address behind trusted proxies only, per account,
//! per user, 429 problem+json with `Retry-After` and `RateLimit-*` headers, shared by
//! processes on one Redis.

use reqwest::{Response, StatusCode};
use serde_json::json;
use socialdevs_testkit::redis::RedisServer;

use crate::helpers::{assert_problem, spawn_app_with, spawn_in_process_with, TestApp};

/// Limits off, then `entries` (the `SOCIALDEVS_RATE_LIMITS` syntax).
fn only(entries: &[&str]) -> Vec<String> {
    std::iter::once("off")
        .chain(entries.iter().copied())
        .map(str::to_owned)
        .collect()
}

/// The proxies of the test: the edge (distributed) and the test's own client share 127.0.0.1.
fn trusting_loopback() -> Vec<String> {
    vec!["127.0.0.1".into(), "::1".into()]
}

/// Signs in as `login` (with a wrong password) as the client `forwarded_for` claims to be.
async fn login_from(app: &TestApp, forwarded_for: &str, login: &str) -> Response {
    app.client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"login": login, "password": "not the password"}))
        .send()
        .await
        .unwrap()
}

fn header(response: &Response, name: &str) -> u64 {
    response.headers()[name]
        .to_str()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("{name} is a number"))
}

async fn assert_limited(response: Response, retry_within: std::ops::RangeInclusive<u64>) {
    let retry_after = header(&response, "retry-after");
    assert!(
        retry_within.contains(&retry_after),
        "Retry-After {retry_after}"
    );
    assert_eq!(header(&response, "ratelimit-remaining"), 0);
    assert!(response.headers().contains_key("ratelimit-limit"));
    assert!(response.headers().contains_key("ratelimit-reset"));
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "rate-limited").await;
}

#[tokio::test]
async fn sign_in_is_limited_per_client_with_retry_after_and_ratelimit_headers() {
    let app = spawn_app_with(|s| s.rate_limits = only(&["login=3/1m"])).await;
    for left in [2, 1, 0] {
        let r = app.login("nobody", "y").await;
        assert_eq!(header(&r, "ratelimit-limit"), 3);
        assert_eq!(header(&r, "ratelimit-remaining"), left);
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // One request comes back every 20 s.
    assert_limited(app.login("nobody", "y").await, 1..=20).await;
}

/// Behind a trusted proxy the limit counts per forwarded client: sixty tries from one client
/// use up its own budget only; another client signs in.
#[tokio::test]
async fn sixty_sign_ins_from_one_client_do_not_lock_out_another() {
    let app = spawn_app_with(|s| {
        s.rate_limits = only(&["login=25/5m"]);
        s.trusted_proxies = trusting_loopback();
    })
    .await;
    app.register("bystander").await;
    let mut refused = 0;
    for i in 0..60 {
        let r = login_from(&app, "203.0.113.1", &format!("guess{i}")).await;
        match r.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::TOO_MANY_REQUESTS => refused += 1,
            other => panic!("try {i}: {other}"),
        }
    }
    assert_eq!(refused, 35, "25 tries pass, the other 35 are refused");
    let r = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", "203.0.113.2")
        .json(&json!({"login": "bystander", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "another client signs in");
}

/// Without trusted proxies `X-Forwarded-For` is anyone's to write, so it is ignored: a client
/// cannot dodge the limit by claiming new addresses.
#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_does_not_change_the_bucket() {
    // The distributed topology always has the edge in front: trusting nobody there means
    // every request is the edge's, which the test below shows just as well.
    let app = spawn_app_with(|s| s.rate_limits = only(&["login=2/1m"])).await;
    for claimed in ["203.0.113.1", "203.0.113.2"] {
        let r = login_from(&app, claimed, "x").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    assert_limited(login_from(&app, "203.0.113.3", "x").await, 1..=30).await;
}

/// Guessing one account's password from many addresses hits the account's own budget; the
/// budget is the same whether the account exists or not (the answer tells nothing).
#[tokio::test]
async fn sign_in_attempts_per_account_are_limited_from_any_address() {
    let app = spawn_app_with(|s| {
        s.rate_limits = only(&["login-account=3/1m"]);
        s.trusted_proxies = trusting_loopback();
    })
    .await;
    app.register("victim").await;
    for (i, login) in ["victim", "@Victim", "VICTIM"].iter().enumerate() {
        let r = login_from(&app, &format!("198.51.100.{i}"), login).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    assert_limited(login_from(&app, "198.51.100.9", "victim").await, 1..=20).await;
    assert_limited(login_from(&app, "198.51.100.10", "victim").await, 1..=20).await;
    for login in ["ghost", "ghost", "ghost"] {
        let r = login_from(&app, "198.51.100.11", login).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = login_from(&app, "198.51.100.12", "ghost").await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "an unknown account is limited the same"
    );
}

/// Refreshing counts per sign-in (the token family), whatever the address: one sign-in's
/// budget does not touch another's.
#[tokio::test]
async fn refresh_is_limited_per_sign_in() {
    let app = spawn_app_with(|s| s.rate_limits = only(&["refresh-family=2/1m"])).await;
    let first = app.register("refresher").await;
    let refresh = |token: String| {
        let app = &app;
        async move {
            app.post(
                "/api/v1/auth/refresh",
                None,
                json!({"refresh_token": token}),
            )
            .await
        }
    };
    let r = refresh(first.refresh.clone()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let next = crate::helpers::session(r.json().await.unwrap());
    let r = refresh(next.refresh.clone()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let last = crate::helpers::session(r.json().await.unwrap());
    assert_limited(refresh(last.refresh.clone()).await, 1..=30).await;
    let other = app.sign_in("refresher").await;
    let r = refresh(other.refresh).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "another sign-in has its own budget"
    );
}

#[tokio::test]
async fn registration_is_limited_per_client() {
    let app = spawn_app_with(|s| s.rate_limits = only(&["register=2/30m"])).await;
    app.register("first").await;
    app.register("second").await;
    let r = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"username": "third", "email": "third@example.com", "password": "correct horse battery"}),
        )
        .await;
    // One registration comes back every 15 minutes.
    assert_limited(r, 800..=900).await;
}

/// Anonymous calls count per client address, signed-in ones per user: one budget does not
/// spend the other, and each answer says what is left.
#[tokio::test]
async fn api_calls_count_per_user_or_per_anonymous_client() {
    let app = spawn_app_with(|s| s.rate_limits = only(&["anonymous=4/1m", "api=5/1m"])).await;
    let alice = app.register("alice").await; // anonymous call 1
    for left in [2, 1, 0] {
        let r = app.get("/api/v1/users/alice", None).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "ratelimit-remaining"), left);
    }
    assert_limited(app.get("/api/v1/users/alice", None).await, 1..=15).await;
    let r = app.get("/api/v1/users/alice", Some(&alice.access)).await;
    assert_eq!(r.status(), StatusCode::OK, "alice has a budget of her own");
    assert_eq!(header(&r, "ratelimit-limit"), 5);
    assert_eq!(header(&r, "ratelimit-remaining"), 4);
    // A bad token is anonymous for counting (and 401 for the handler).
    let r = app.get("/api/v1/auth/me", Some("not.a.jwt")).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // Health, metrics and the web app are not API calls.
    assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn posting_is_limited_per_user() {
    let app = spawn_app_with(|s| s.rate_limits = only(&["posts=2/1m"])).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.create_post(&alice, "one", None).await;
    app.create_post(&alice, "two", None).await;
    let r = app
        .post(
            "/api/v1/posts",
            Some(&alice.access),
            json!({"text": "three"}),
        )
        .await;
    assert_limited(r, 1..=30).await;
    app.create_post(&bob, "bob's own budget", None).await;
    // Reading is not posting.
    let r = app.get("/api/v1/timeline/home", Some(&alice.access)).await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// With Redis, two processes (replicas) count against one budget.
#[tokio::test]
async fn limits_are_shared_by_two_processes_on_one_redis() {
    let redis = RedisServer::start();
    let configure = |s: &mut socialdevs::Settings| {
        s.rate_limits = only(&["login=3/1m"]);
        s.redis_url = Some(redis.url().to_owned());
        s.redis_namespace = redis.namespace().to_owned();
    };
    let one = spawn_in_process_with(configure).await;
    let two = spawn_in_process_with(configure).await;
    for app in [&one, &two, &one] {
        assert_eq!(app.login("x", "y").await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_limited(two.login("x", "y").await, 1..=20).await;
}
