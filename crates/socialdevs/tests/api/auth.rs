use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_problem, failing_fields, session, spawn_app, spawn_app_with, UsersDb};

#[tokio::test]
async fn register_login_refresh_rotates_and_detects_reuse() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;

    // Login by username and by e-mail, any case.
    for login in ["alice", "ALICE", "alice@example.com"] {
        let response = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({"login": login, "password": "correct horse battery"}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{login}");
    }

    // The access token works.
    let me: serde_json::Value = app
        .get("/api/v1/auth/me", Some(&alice.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "alice");
    assert_eq!(me["id"], alice.id.as_str());

    // Refresh rotates: a new pair, and the old refresh token stops working.
    let response = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": alice.refresh}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let rotated = session(response.json().await.unwrap());
    assert_ne!(rotated.refresh, alice.refresh);
    let me = app.get("/api/v1/auth/me", Some(&rotated.access)).await;
    assert_eq!(me.status(), StatusCode::OK);

    // Reusing the old token is theft: 401, and the whole family is revoked.
    let reuse = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": alice.refresh}),
        )
        .await;
    assert_problem(reuse, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let after = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": rotated.refresh}),
        )
        .await;
    assert_problem(after, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn logout_revokes_the_refresh_token() {
    let app = spawn_app().await;
    let bob = app.register("bob").await;
    let response = app
        .post(
            "/api/v1/auth/logout",
            None,
            json!({"refresh_token": bob.refresh}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": bob.refresh}),
        )
        .await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn wrong_user_and_wrong_password_answer_the_same() {
    let app = spawn_app().await;
    app.register("carol").await;
    let wrong_password = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"login": "carol", "password": "not the password"}),
        )
        .await;
    let wrong_user = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"login": "nobody", "password": "not the password"}),
        )
        .await;
    let a = assert_problem(wrong_password, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let b = assert_problem(wrong_user, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(a, b);
}

#[tokio::test]
async fn registration_validates_every_field_and_rejects_duplicates() {
    let app = spawn_app().await;
    let response = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"username": "x!", "email": "nope", "password": "short"}),
        )
        .await;
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let mut fields = failing_fields(&problem);
    fields.sort();
    assert_eq!(fields, ["email", "password", "username"]);

    app.register("dave").await;
    let taken_name = app
        .post("/api/v1/auth/register", None, json!({"username": "DAVE", "email": "other@example.com", "password": "correct horse battery"}))
        .await;
    let problem = assert_problem(taken_name, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(failing_fields(&problem), ["username"]);
    let taken_mail = app
        .post("/api/v1/auth/register", None, json!({"username": "dave2", "email": "Dave@Example.com", "password": "correct horse battery"}))
        .await;
    let problem = assert_problem(taken_mail, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(failing_fields(&problem), ["email"]);

    // Nothing was half-written: the rejected names do not exist.
    let users: serde_json::Value = app
        .get("/api/v1/users?q=dave", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(users["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_tokens_are_rejected() {
    let app = spawn_app().await;
    let response = app.get("/api/v1/auth/me", None).await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let response = app.get("/api/v1/auth/me", Some("not.a.jwt")).await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let response = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

/// Password hashing is bounded: beyond the hashes running and waiting, sign-ins are refused
/// at once with 503 and `Retry-After` (memory stays bounded), and none fails otherwise.
#[tokio::test]
async fn parallel_sign_ins_beyond_the_hashing_bound_get_503_not_memory() {
    let app = spawn_app_with(|s| {
        s.password_hash_concurrency = Some(1);
        s.password_hash_queue = 1;
    })
    .await;
    app.register("hasher").await;
    let attempts: Vec<_> = (0..24)
        .map(|_| {
            let client = app.client.clone();
            let url = app.url("/api/v1/auth/login");
            tokio::spawn(async move {
                client
                    .post(url)
                    .json(&json!({"login": "hasher", "password": "correct horse battery"}))
                    .send()
                    .await
                    .unwrap()
            })
        })
        .collect();
    let (mut ok, mut refused) = (0, 0);
    for attempt in attempts {
        let r = attempt.await.unwrap();
        match r.status() {
            StatusCode::OK => ok += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(r.headers().get("retry-after").is_some());
                assert_problem(r, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
                refused += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(ok >= 2, "the running and the waiting one get through: {ok}");
    assert!(
        refused > 0,
        "the others are refused, not queued without bound"
    );
}

#[tokio::test]
async fn new_passwords_need_twelve_characters() {
    let app = spawn_app().await;
    let eleven = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"username": "eleven", "email": "eleven@example.com", "password": "abcdefghijk"}),
        )
        .await;
    let problem = assert_problem(eleven, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(failing_fields(&problem), ["password"]);
    let twelve = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"username": "twelve", "email": "twelve@example.com", "password": "abcdefghijkl"}),
        )
        .await;
    assert_eq!(twelve.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn changing_the_password_signs_out_every_other_session() {
    let app = spawn_app().await;
    let phone = app.register("changer").await;
    let laptop = app.sign_in("changer").await;
    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});

    // Needs a signed-in caller; a wrong current password, a short or unchanged new one: 422.
    let anonymous = app
        .post(
            "/api/v1/auth/password",
            None,
            change("correct horse battery", "a brand new passphrase"),
        )
        .await;
    assert_problem(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
    for (body, field) in [
        (
            change("not my password", "a brand new passphrase"),
            "current_password",
        ),
        (change("correct horse battery", "too short"), "new_password"),
        (
            change("correct horse battery", "correct horse battery"),
            "new_password",
        ),
    ] {
        let refused = app
            .post("/api/v1/auth/password", Some(&phone.access), body)
            .await;
        let problem = assert_problem(refused, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
        assert_eq!(failing_fields(&problem), [field]);
    }
    // Nothing changed by those: the laptop still refreshes.
    let laptop = session(
        app.post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": laptop.refresh}),
        )
        .await
        .json()
        .await
        .unwrap(),
    );

    let changed = app
        .post(
            "/api/v1/auth/password",
            Some(&phone.access),
            change("correct horse battery", "a brand new passphrase"),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    let fresh = session(changed.json().await.unwrap());
    assert_eq!(fresh.username, "changer");

    // Every earlier session's refresh token is dead; the new session's works.
    for old in [&phone.refresh, &laptop.refresh] {
        let refused = app
            .post("/api/v1/auth/refresh", None, json!({"refresh_token": old}))
            .await;
        assert_problem(refused, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let refreshed = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": fresh.refresh}),
        )
        .await;
    assert_eq!(refreshed.status(), StatusCode::OK);

    // The old password no longer signs in; the new one does.
    let old_password = app.login("changer", "correct horse battery").await;
    assert_problem(old_password, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let new_password = app.login("changer", "a brand new passphrase").await;
    assert_eq!(new_password.status(), StatusCode::OK);
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session_of_that_user_only() {
    let app = spawn_app().await;
    let first = app.register("roamer").await;
    let second = app.sign_in("roamer").await;
    let other = app.register("homebody").await;

    let anonymous = app.post("/api/v1/auth/logout-all", None, json!({})).await;
    assert_problem(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let done = app
        .post("/api/v1/auth/logout-all", Some(&first.access), json!({}))
        .await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);

    for refresh in [&first.refresh, &second.refresh] {
        let refused = app
            .post(
                "/api/v1/auth/refresh",
                None,
                json!({"refresh_token": refresh}),
            )
            .await;
        assert_problem(refused, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let theirs = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": other.refresh}),
        )
        .await;
    assert_eq!(theirs.status(), StatusCode::OK);
    // Signing in again works.
    app.sign_in("roamer").await;
}

/// Housekeeping deletes expired refresh tokens in the running platform and leaves live ones.
#[tokio::test]
async fn expired_refresh_tokens_are_purged() {
    let app = spawn_app_with(|s| s.housekeeping_interval_secs = 1).await;
    let keeper = app.register("keeper").await;
    let users_db = UsersDb::open(app.database_url()).await;
    insert_expired_token(&users_db, &keeper.id).await;
    assert_eq!(users_db.count("refresh_tokens").await, 2);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while users_db.count("refresh_tokens").await > 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the expired token is still there after 15 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // The live one stayed: it still refreshes.
    let refreshed = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": keeper.refresh}),
        )
        .await;
    assert_eq!(refreshed.status(), StatusCode::OK);
}

/// Stores a refresh token of `user_id` that expired a day ago, around the service.
async fn insert_expired_token(db: &UsersDb, user_id: &str) {
    let expired = chrono::Utc::now() - chrono::Duration::days(1);
    let family = uuid::Uuid::now_v7();
    match db {
        UsersDb::Postgres(pool) => {
            sqlx::query(
                "INSERT INTO users.refresh_tokens \
                 (token_hash, family_id, user_id, created_at, expires_at) \
                 VALUES ('stale', $1, $2::uuid, $3, $3)",
            )
            .bind(family)
            .bind(user_id)
            .bind(expired)
            .execute(pool)
            .await
            .unwrap();
        }
        UsersDb::Sqlite(pool) => {
            let at = expired.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            sqlx::query(
                "INSERT INTO refresh_tokens \
                 (token_hash, family_id, user_id, created_at, expires_at) \
                 VALUES ('stale', ?1, ?2, ?3, ?3)",
            )
            .bind(family.to_string())
            .bind(user_id)
            .bind(at)
            .execute(pool)
            .await
            .unwrap();
        }
    }
}
