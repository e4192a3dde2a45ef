//! Sign-up by e-mail confirmation (`SOCIALDEVS_SIGNUP_EMAIL_VERIFICATION`), against a real
//! SMTP server in the test process: registering mails a link and answers 202 whether or not
//! the address has an account; the link creates the account.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use socialdevs_testkit::smtp::{ReceivedMail, SmtpServer};

use crate::helpers::{assert_problem, failing_fields, session, spawn_app_with, TestApp, UsersDb};

const PUBLIC_URL: &str = "http://socialdevs.test";

async fn app_mailing_to(
    smtp: &SmtpServer,
    configure: impl FnOnce(&mut socialdevs::Settings),
) -> TestApp {
    let url = smtp.url();
    spawn_app_with(move |s| {
        s.signup_email_verification = true;
        s.smtp_url = Some(url);
        s.public_url = PUBLIC_URL.into();
        configure(s);
    })
    .await
}

async fn sign_up(app: &TestApp, username: &str, email: &str) -> reqwest::Response {
    app.post(
        "/api/v1/auth/register",
        None,
        json!({"username": username, "email": email, "password": "correct horse battery"}),
    )
    .await
}

/// Waits for the `n`th message (1-based) and returns it.
async fn nth_mail(smtp: &SmtpServer, n: usize) -> ReceivedMail {
    let received = smtp.wait_for(n, Duration::from_secs(10)).await;
    assert!(received.len() >= n, "mail {n} never arrived: {received:?}");
    received[n - 1].clone()
}

/// The token of the confirmation link in `mail`.
fn link_token(mail: &ReceivedMail) -> String {
    let text = mail.body();
    let prefix = format!("{PUBLIC_URL}/verify-email#token=");
    let start = text
        .find(&prefix)
        .unwrap_or_else(|| panic!("no confirmation link in:\n{text}"))
        + prefix.len();
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

async fn confirm(app: &TestApp, token: &str) -> reqwest::Response {
    app.post("/api/v1/auth/verify-email", None, json!({ "token": token }))
        .await
}

#[tokio::test]
async fn the_mailed_link_creates_the_account_once() {
    let smtp = SmtpServer::start();
    let app = app_mailing_to(&smtp, |_| {}).await;

    let response = sign_up(&app, "grace", "Grace@Example.com").await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"status": "confirmation_sent", "email": "grace@example.com", "expires_in": 86_400})
    );

    // Nothing exists until the link is opened.
    let login = app.login("grace", "correct horse battery").await;
    assert_problem(login, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(
        app.get("/api/v1/users/grace", None).await.status(),
        StatusCode::NOT_FOUND
    );

    let mail = nth_mail(&smtp, 1).await;
    assert_eq!(mail.to, ["grace@example.com"]);
    let token = link_token(&mail);
    assert!(token.len() >= 43, "256 bits: {token}");

    let confirmed = confirm(&app, &token).await;
    assert_eq!(confirmed.status(), StatusCode::CREATED);
    let grace = session(confirmed.json().await.unwrap());
    assert_eq!(grace.username, "grace");
    let me = app.get("/api/v1/auth/me", Some(&grace.access)).await;
    assert_eq!(me.status(), StatusCode::OK);
    let login = app
        .login("grace@example.com", "correct horse battery")
        .await;
    assert_eq!(login.status(), StatusCode::OK);

    // A link works once; a made-up one never.
    for token in [token.as_str(), "not-a-token", " "] {
        let again = confirm(&app, token).await;
        let problem = assert_problem(again, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
        assert_eq!(failing_fields(&problem), ["token"], "{token:?}");
    }
    assert_eq!(smtp.received().len(), 1, "one mail, nothing more");
}

#[tokio::test]
async fn a_taken_address_gets_the_same_answer_and_its_owner_a_mail() {
    let smtp = SmtpServer::start();
    let app = app_mailing_to(&smtp, |_| {}).await;
    sign_up(&app, "ada", "ada@example.com").await;
    let token = link_token(&nth_mail(&smtp, 1).await);
    assert_eq!(confirm(&app, &token).await.status(), StatusCode::CREATED);

    // Someone signs up with Ada's address, and someone with a fresh one: same answers.
    let taken = sign_up(&app, "mallory", "ADA@example.com").await;
    let fresh = sign_up(&app, "linus", "linus@example.com").await;
    assert_eq!(taken.status(), StatusCode::ACCEPTED);
    assert_eq!(fresh.status(), StatusCode::ACCEPTED);
    let (mut taken, mut fresh): (Value, Value) =
        (taken.json().await.unwrap(), fresh.json().await.unwrap());
    assert_eq!(taken["email"], "ada@example.com");
    taken["email"] = Value::Null;
    fresh["email"] = Value::Null;
    assert_eq!(taken, fresh, "the answers differ only in the address");

    // Ada is told, with no link that could create anything.
    let told = nth_mail(&smtp, 2).await;
    assert_eq!(told.to, ["ada@example.com"]);
    let text = told.body();
    assert!(text.contains("already has an account"), "{text}");
    assert!(text.contains(&format!("{PUBLIC_URL}/login")), "{text}");
    assert!(!text.contains("verify-email"), "{text}");
    // Linus gets his link.
    let linus = nth_mail(&smtp, 3).await;
    assert_eq!(linus.to, ["linus@example.com"]);
    link_token(&linus);
    // No "mallory" was made, nor can be from that mail.
    assert_eq!(
        app.get("/api/v1/users/mallory", None).await.status(),
        StatusCode::NOT_FOUND
    );

    // Usernames are public: a taken one is still told, and nothing is mailed for it.
    let taken_name = sign_up(&app, "ADA", "someone@example.com").await;
    let problem = assert_problem(taken_name, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(failing_fields(&problem), ["username"]);
    assert_eq!(smtp.received().len(), 3);
}

#[tokio::test]
async fn of_two_pending_signups_for_one_name_the_first_confirmed_wins() {
    let smtp = SmtpServer::start();
    let app = app_mailing_to(&smtp, |_| {}).await;
    sign_up(&app, "twin", "one@example.com").await;
    sign_up(&app, "twin", "two@example.com").await;
    let one = link_token(&nth_mail(&smtp, 1).await);
    let two = link_token(&nth_mail(&smtp, 2).await);
    assert_eq!(confirm(&app, &two).await.status(), StatusCode::CREATED);
    let late = confirm(&app, &one).await;
    let problem = assert_problem(late, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(failing_fields(&problem), ["username"]);
}

#[tokio::test]
async fn when_mail_cannot_be_sent_the_answer_says_try_again() {
    let smtp = SmtpServer::start();
    let app = app_mailing_to(&smtp, |_| {}).await;
    smtp.refuse_mail(true);
    let refused = sign_up(&app, "hopper", "hopper@example.com").await;
    let retry_after = refused.headers().get("retry-after").cloned();
    assert_problem(refused, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert!(retry_after.is_some(), "503 says when to retry");

    smtp.refuse_mail(false);
    let again = sign_up(&app, "hopper", "hopper@example.com").await;
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    let token = link_token(&nth_mail(&smtp, 1).await);
    assert_eq!(confirm(&app, &token).await.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn addresses_mail_cannot_reach_are_refused_up_front() {
    let smtp = SmtpServer::start();
    let app = app_mailing_to(&smtp, |_| {}).await;
    // The domain's e-mail rule lets a comma through; no SMTP envelope can carry it.
    let response = sign_up(&app, "comma", "ada,lovelace@example.com").await;
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(failing_fields(&problem), ["email"]);
    assert!(smtp.received().is_empty());
}

#[tokio::test]
async fn confirmation_mails_per_address_are_limited() {
    let smtp = SmtpServer::start();
    let app = app_mailing_to(&smtp, |s| {
        s.rate_limits = vec!["off".into(), "signup-email=2/1h".into()];
    })
    .await;
    for name in ["bomb1", "bomb2"] {
        assert_eq!(
            sign_up(&app, name, "victim@example.com").await.status(),
            StatusCode::ACCEPTED
        );
    }
    let third = sign_up(&app, "bomb3", "VICTIM@example.com").await;
    assert!(third.headers().contains_key("retry-after"));
    assert_problem(third, StatusCode::TOO_MANY_REQUESTS, "rate-limited").await;
    assert_eq!(
        smtp.received().len(),
        2,
        "the victim got two mails, not three"
    );
    // Another address has its own budget.
    assert_eq!(
        sign_up(&app, "fine", "other@example.com").await.status(),
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn expired_links_create_nothing_and_are_purged() {
    let smtp = SmtpServer::start();
    let app = app_mailing_to(&smtp, |s| {
        s.signup_link_ttl_hours = 0;
        s.housekeeping_interval_secs = 1;
    })
    .await;
    assert_eq!(
        sign_up(&app, "slowpoke", "slow@example.com").await.status(),
        StatusCode::ACCEPTED
    );
    let token = link_token(&nth_mail(&smtp, 1).await);
    let late = confirm(&app, &token).await;
    assert_problem(late, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let users_db = UsersDb::open(app.database_url()).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while users_db.count("signups").await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the expired sign-up is still stored after 15 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
