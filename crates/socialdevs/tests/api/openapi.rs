//! The served OpenAPI document lists exactly the routes the router mounts.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::spawn_app;

/// Every public route: API.md's contract plus our additions.
const ROUTES: &[(&str, &str)] = &[
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/verify-email"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/logout"),
    ("post", "/api/v1/auth/logout-all"),
    ("post", "/api/v1/auth/password"),
    ("get", "/api/v1/auth/me"),
    ("get", "/api/v1/users"),
    ("get", "/api/v1/users/suggestions"),
    ("get", "/api/v1/users/me"),
    ("patch", "/api/v1/users/me"),
    ("get", "/api/v1/users/{username}"),
    ("put", "/api/v1/users/{username}/follow"),
    ("delete", "/api/v1/users/{username}/follow"),
    ("get", "/api/v1/users/{username}/followers"),
    ("get", "/api/v1/users/{username}/following"),
    ("post", "/api/v1/posts"),
    ("get", "/api/v1/posts"),
    ("get", "/api/v1/posts/{id}"),
    ("delete", "/api/v1/posts/{id}"),
    ("get", "/api/v1/posts/{id}/replies"),
    ("put", "/api/v1/posts/{id}/like"),
    ("delete", "/api/v1/posts/{id}/like"),
    ("get", "/api/v1/timeline/home"),
    ("get", "/api/v1/timeline/home/stream"),
    ("get", "/api/v1/notifications"),
    ("get", "/api/v1/notifications/unread_count"),
    ("post", "/api/v1/notifications/read"),
    ("get", "/api/v1/notifications/stream"),
];

#[tokio::test]
async fn document_lists_every_mounted_route() {
    let app = spawn_app().await;
    let doc: Value = app
        .get("/api/v1/openapi.json", None)
        .await
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                documented.push((method.clone(), path.clone()));
            }
        }
    }
    documented.sort();
    let mut expected: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    expected.sort();
    assert_eq!(documented, expected);

    // Each documented operation is mounted: it never falls through to the 404 fallback
    // or answers 405.
    for (method, path) in &documented {
        let concrete = path
            .replace("{id}", &uuid::Uuid::now_v7().to_string())
            .replace("{username}", "somebody");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let r = app
            .client
            .request(method.clone(), app.url(&concrete))
            .send()
            .await
            .unwrap();
        let status = r.status();
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        if status == StatusCode::NOT_FOUND {
            let body: Value = r.json().await.unwrap();
            assert!(
                !body["detail"]
                    .as_str()
                    .unwrap()
                    .starts_with("There is nothing at"),
                "{method} {path} is documented but not mounted"
            );
        }
    }
}

#[tokio::test]
async fn docs_page_is_served_from_the_binary() {
    let app = spawn_app().await;
    let r = app.get("/api/docs/", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    let r = app.get("/api/docs/swagger-ui-bundle.js", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.bytes().await.unwrap().len() > 100_000,
        "the UI's code is bundled, not fetched"
    );
}
