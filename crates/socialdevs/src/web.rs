//! Serving the built web app at `/` with history-mode fallback to `index.html`.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::ServeDir;

/// Where the web app's files are.
#[derive(Clone)]
pub struct WebApp {
    dir: Option<PathBuf>,
}

impl WebApp {
    /// The app in `dir`, if it has been built there.
    pub fn new(dir: &Path) -> Self {
        let built = dir.join("index.html").is_file();
        if !built {
            tracing::warn!(dir = %dir.display(), "web app not built; `/` shows a placeholder");
        }
        Self {
            dir: built.then(|| dir.to_path_buf()),
        }
    }
}

const PLACEHOLDER: &str = "<!doctype html><meta charset=utf-8><title>SocialDevs</title>\
<h1>SocialDevs</h1><p>The API is running. The web app has not been built: run <code>make run</code> \
from the repository (it builds <code>web/</code>), or browse the API at <a href=/api/docs/>/api/docs</a>.</p>";

/// Fallback for every path no API route matched.
pub async fn serve(web: WebApp, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    if path.starts_with("/api/") || path.starts_with("/internal/") || path == "/api" {
        return socialdevs_platform::http::not_found(request.uri().clone())
            .await
            .into_response();
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return socialdevs_platform::ApiError::MethodNotAllowed.into_response();
    }
    let Some(dir) = web.dir else {
        return Html(PLACEHOLDER).into_response();
    };
    let is_asset = path.starts_with("/assets/");
    let served = ServeDir::new(&dir)
        .append_index_html_on_directories(true)
        .oneshot(request)
        .await;
    let mut response = match served {
        Ok(r) if r.status() != StatusCode::NOT_FOUND => r.map(Body::new),
        _ if is_asset => {
            return socialdevs_platform::ApiError::NotFound("No such asset.".into()).into_response()
        }
        _ => match tokio::fs::read(dir.join("index.html")).await {
            Ok(html) => (StatusCode::OK, Html(html)).into_response(),
            Err(err) => {
                return socialdevs_platform::ApiError::Internal(err.into()).into_response();
            }
        },
    };
    let cache = if is_asset {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}
