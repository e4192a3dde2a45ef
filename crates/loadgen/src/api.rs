//! The SocialDevs public API as the load generator uses it: a keep-alive HTTP client and the
//! calls that seeding and set-up make (the measured requests are built in `workload`).

use std::time::Duration;

use anyhow::Context;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

/// Where the server answers, and the client that talks to it.
#[derive(Debug, Clone)]
pub struct Api {
    base: String,
    client: reqwest::Client,
}

/// `{user, access_token, refresh_token, expires_in}` of register, login and refresh.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthSession {
    pub user: UserRef,
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds the access token lasts.
    pub expires_in: u64,
}

/// The part of a user the load generator keeps.
#[derive(Debug, Clone, Deserialize)]
pub struct UserRef {
    pub id: String,
    pub username: String,
}

/// The part of a post the load generator keeps.
#[derive(Debug, Clone, Deserialize)]
pub struct PostRef {
    pub id: String,
}

/// A refused call: its status and what the server said.
#[derive(Debug)]
pub struct Refused {
    pub status: StatusCode,
    pub body: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body: String = self.body.chars().take(300).collect();
        write!(f, "HTTP {}: {body}", self.status)
    }
}

impl std::error::Error for Refused {}

/// Set-up calls are retried this many times on 429, 5xx or a transport error.
const ATTEMPTS: u32 = 4;
/// Set-up calls give up after this long.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);

impl Api {
    /// A client for `base_url` keeping up to `connections` idle keep-alive connections.
    pub fn new(base_url: &str, connections: usize) -> anyhow::Result<Self> {
        let base = base_url.trim_end_matches('/').to_owned();
        anyhow::ensure!(
            base.starts_with("http://") || base.starts_with("https://"),
            "the base URL must start with http:// or https://, not {base_url:?}"
        );
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(connections.max(1))
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the HTTP client")?;
        Ok(Self { base, client })
    }

    /// The base URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The shared client (its pool holds the keep-alive connections).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Waits until `GET /readyz` answers 200 (`/healthz` where there is no `/readyz`, as on
    /// the nginx edge), for at most `wait`.
    pub async fn wait_ready(&self, wait: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let failure = match self.probe("/readyz").await {
                Ok(StatusCode::OK) => return Ok(()),
                Ok(StatusCode::NOT_FOUND) => match self.probe("/healthz").await {
                    Ok(StatusCode::OK) => return Ok(()),
                    Ok(status) => anyhow::anyhow!("/healthz answers HTTP {status}"),
                    Err(e) => e,
                },
                Ok(status) => anyhow::anyhow!("/readyz answers HTTP {status}"),
                Err(e) => e,
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(failure.context(format!("{} is not ready", self.base)));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn probe(&self, path: &str) -> anyhow::Result<StatusCode> {
        let response = self
            .client
            .get(self.url(path))
            .timeout(Duration::from_secs(2))
            .send()
            .await?;
        Ok(response.status())
    }

    /// `POST /api/v1/auth/register`.
    pub async fn register(
        &self,
        username: &str,
        email: &str,
        password: &str,
    ) -> anyhow::Result<AuthSession> {
        let body = json!({"username": username, "email": email, "password": password});
        self.call(Method::POST, "/api/v1/auth/register", None, Some(body))
            .await
            .with_context(|| format!("registering {username}"))
    }

    /// `POST /api/v1/auth/login`.
    pub async fn login(&self, login: &str, password: &str) -> anyhow::Result<AuthSession> {
        let body = json!({"login": login, "password": password});
        self.call(Method::POST, "/api/v1/auth/login", None, Some(body))
            .await
            .with_context(|| format!("signing in as {login}"))
    }

    /// `POST /api/v1/auth/refresh`: a new pair for a refresh token (which stops working).
    pub async fn refresh(&self, refresh_token: &str) -> anyhow::Result<AuthSession> {
        let body = json!({"refresh_token": refresh_token});
        self.call(Method::POST, "/api/v1/auth/refresh", None, Some(body))
            .await
            .context("refreshing a session")
    }

    /// `PUT /api/v1/users/{username}/follow`.
    pub async fn follow(&self, token: &str, username: &str) -> anyhow::Result<()> {
        let path = format!("/api/v1/users/{username}/follow");
        self.call_empty(Method::PUT, &path, Some(token), None)
            .await
            .with_context(|| format!("following {username}"))
    }

    /// `POST /api/v1/posts`, with an `Idempotency-Key` so that a retry creates nothing new.
    pub async fn compose(&self, token: &str, text: &str) -> anyhow::Result<PostRef> {
        let body = json!({"text": text});
        let key = format!("loadgen-{:032x}", rand::random::<u128>());
        let text = self
            .send(
                Method::POST,
                "/api/v1/posts",
                Some(token),
                Some(body),
                Some(&key),
            )
            .await
            .context("publishing a post")?;
        serde_json::from_str(&text).context("decoding a created post")
    }

    /// Whether `GET /api/v1/users/{username}` finds the user.
    pub async fn user_exists(&self, username: &str) -> anyhow::Result<bool> {
        let response = self
            .client
            .get(self.url(&format!("/api/v1/users/{username}")))
            .timeout(SETUP_TIMEOUT)
            .send()
            .await
            .with_context(|| format!("looking up {username} at {}", self.base))?;
        match response.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            status => anyhow::bail!("looking up {username}: HTTP {status}"),
        }
    }

    /// A request with a bearer token and a JSON body, decoded from JSON.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<T> {
        let text = self.send(method, path, token, body, None).await?;
        serde_json::from_str(&text).with_context(|| format!("decoding the answer of {path}"))
    }

    async fn call_empty(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<()> {
        self.send(method, path, token, body, None).await.map(drop)
    }

    /// Sends with retries on 429, 5xx and transport errors; returns the body of a 2xx.
    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
        idempotency_key: Option<&str>,
    ) -> anyhow::Result<String> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request: RequestBuilder = self
                .client
                .request(method.clone(), self.url(path))
                .timeout(SETUP_TIMEOUT);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if let Some(body) = &body {
                request = request.json(body);
            }
            if let Some(key) = idempotency_key {
                request = request.header("idempotency-key", key);
            }
            let mut wait = Duration::from_millis(100 * 2u64.pow(attempt));
            let failure: anyhow::Error = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    if let Some(seconds) = retry_after(&response) {
                        wait = Duration::from_secs(seconds.clamp(1, 5));
                    }
                    let text = response.text().await.unwrap_or_default();
                    if status.is_success() {
                        return Ok(text);
                    }
                    let refused = Refused { status, body: text };
                    let transient =
                        status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                    if !transient {
                        return Err(refused.into());
                    }
                    refused.into()
                }
                Err(e) => anyhow::Error::new(e).context(format!("{method} {}", self.url(path))),
            };
            if attempt >= ATTEMPTS {
                return Err(failure);
            }
            tokio::time::sleep(wait).await;
        }
    }
}

/// Seconds of a `Retry-After` header, if it has some.
fn retry_after(response: &reqwest::Response) -> Option<u64> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}
