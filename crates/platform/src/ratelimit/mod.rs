//! Rate limits: a budget per kind of request ([`Class`]) and per key (client address,
//! account, user), counted by a generic cell rate algorithm (GCRA) in a [`RateStore`] —
//! in process ([`memory`]) or on Redis ([`redis`]), where every replica of every service
//! shares the counts. Over budget: 429 problem+json with `Retry-After`; every limited
//! response carries `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` and
//! `RateLimit-Policy`.
//!
//! Behind a reverse proxy every request comes from the proxy's address, so the client
//! is read from `X-Forwarded-For` — but only for requests from [`TrustedProxies`], whose
//! entries in that header are the ones they appended themselves: anyone can write the header,
//! so the client is the rightmost address that is not a trusted proxy. IPv6 clients count
//! per /64 network (one host usually holds a whole one).

pub mod memory;
mod quota;
pub mod redis;

pub use quota::{Class, Quota, Quotas};

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;

use crate::auth::TokenVerifier;
use crate::error::{ApiError, Budget};

/// The networks of the reverse proxies in front of the service (`SOCIALDEVS_TRUSTED_PROXIES`).
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Arc<Vec<IpNet>>);

impl TrustedProxies {
    /// From networks (`10.0.0.0/8`) and single addresses (`127.0.0.1`, `::1`).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        let mut nets = Vec::new();
        for entry in entries
            .iter()
            .map(|e| e.as_ref().trim())
            .filter(|e| !e.is_empty())
        {
            let net = match entry.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => entry
                    .parse::<IpAddr>()
                    .map(IpNet::from)
                    .map_err(|_| format!("{entry:?} is neither an address nor a network"))?,
            };
            nets.push(net);
        }
        Ok(Self(Arc::new(nets)))
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        // IPv4 clients of a dual-stack listener arrive as IPv4-mapped IPv6 addresses.
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request that came from `peer` with `headers`: `peer` itself unless it
    /// is a trusted proxy; then, walking `X-Forwarded-For` from the right (the entries trusted
    /// proxies appended), the first address that is not a trusted proxy. An entry that is not
    /// an address stops the walk at the proxy that appended it.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect::<Vec<_>>();
        for hop in hops.iter().rev() {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip.to_canonical();
                    if !self.trusts(client) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        client
    }
}

/// Metric: requests refused with 429, by `class`.
pub const LIMITED_TOTAL: &str = "socialdevs_rate_limited_total";
/// Metric: rate store failures, by `store` (the request was let through).
pub const STORE_ERRORS_TOTAL: &str = "socialdevs_rate_limit_store_errors_total";

/// What a [`RateStore`] answers for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The class is not limited.
    Unlimited,
    /// Counted; `remaining` more may follow at once; the budget is whole again after `reset`.
    Allowed {
        /// Requests left in the burst.
        remaining: u32,
        /// Until the budget is whole again.
        reset: Duration,
    },
    /// Over budget: nothing was counted; the next request is allowed after `retry_after`.
    Denied {
        /// Until one more request is allowed.
        retry_after: Duration,
        /// Until the budget is whole again.
        reset: Duration,
    },
}

/// Where the counts live: each implementation passes the conformance suite in
/// `crates/platform/tests/ratelimit.rs`.
#[async_trait]
pub trait RateStore: Send + Sync {
    /// Counts one request of `key` in `class` (unless it is over budget).
    async fn acquire(&self, class: Class, key: &str) -> anyhow::Result<Decision>;

    /// `memory` or `redis`, for metrics and logs.
    fn name(&self) -> &'static str;
}

/// One class's answer for one request.
#[derive(Clone, Copy, Debug)]
pub struct Checked {
    /// The class.
    pub class: Class,
    /// Its quota (`None`: not limited).
    pub quota: Option<Quota>,
    /// The store's answer.
    pub decision: Decision,
}

impl Checked {
    fn remaining(&self) -> u32 {
        match self.decision {
            Decision::Unlimited => u32::MAX,
            Decision::Allowed { remaining, .. } => remaining,
            Decision::Denied { .. } => 0,
        }
    }

    /// The budget, as the `RateLimit-*` headers tell it.
    pub fn budget(&self) -> Option<Budget> {
        let reset = match self.decision {
            Decision::Unlimited => return None,
            Decision::Allowed { reset, .. } | Decision::Denied { reset, .. } => reset,
        };
        self.quota.map(|quota| Budget {
            limit: quota.limit(),
            window_secs: ceil_secs(quota.period()),
            reset_secs: ceil_secs(reset),
        })
    }

    /// The 429 for a denied check.
    pub fn error(&self) -> Option<ApiError> {
        match self.decision {
            Decision::Denied { retry_after, .. } => Some(ApiError::RateLimited {
                retry_after_secs: ceil_secs(retry_after).max(1),
                budget: self.budget(),
            }),
            _ => None,
        }
    }
}

fn ceil_secs(duration: Duration) -> u64 {
    duration
        .as_millis()
        .div_ceil(1000)
        .try_into()
        .unwrap_or(u64::MAX)
}

/// The limits of a process: quotas, the store that counts, the proxies it trusts and the
/// token verifier that tells users apart. Cheap to clone.
#[derive(Clone)]
pub struct RateLimits {
    quotas: Quotas,
    store: Arc<dyn RateStore>,
    proxies: TrustedProxies,
    verifier: Option<TokenVerifier>,
}

impl RateLimits {
    /// Limits counted by `store` (which holds the same `quotas`).
    pub fn new(quotas: Quotas, store: Arc<dyn RateStore>) -> Self {
        Self {
            quotas,
            store,
            proxies: TrustedProxies::default(),
            verifier: None,
        }
    }

    /// Limits counted in this process.
    pub fn in_memory(quotas: Quotas) -> Self {
        let store = Arc::new(memory::MemoryRateStore::new(&quotas));
        Self::new(quotas, store)
    }

    /// Counts requests from `proxies` against the client they forwarded.
    pub fn behind(mut self, proxies: TrustedProxies) -> Self {
        self.proxies = proxies;
        self
    }

    /// Counts requests with a valid access token per user ([`Class::Api`], [`Class::Posts`]).
    pub fn verifying(mut self, verifier: TokenVerifier) -> Self {
        self.verifier = Some(verifier);
        self
    }

    /// Registers the metrics at zero.
    pub fn describe(&self) {
        for class in Class::ALL {
            metrics::counter!(LIMITED_TOTAL, "class" => class.name()).increment(0);
        }
        metrics::counter!(STORE_ERRORS_TOTAL, "store" => self.store.name()).increment(0);
    }

    /// Counts one request of `key` in `class`. A store that fails lets the request through
    /// (limits protect the service; they must not take it down with Redis).
    pub async fn check(&self, class: Class, key: &str) -> Checked {
        let quota = self.quotas.get(class);
        let decision = if quota.is_none() {
            Decision::Unlimited
        } else {
            match self.store.acquire(class, key).await {
                Ok(decision) => decision,
                Err(err) => {
                    metrics::counter!(STORE_ERRORS_TOTAL, "store" => self.store.name())
                        .increment(1);
                    tracing::warn!(error = %format!("{err:#}"), class = %class, "rate limit not checked");
                    Decision::Unlimited
                }
            }
        };
        if matches!(decision, Decision::Denied { .. }) {
            metrics::counter!(LIMITED_TOTAL, "class" => class.name()).increment(1);
        }
        Checked {
            class,
            quota,
            decision,
        }
    }

    /// [`RateLimits::check`] as a handler's early return: 429 when over budget.
    pub async fn enforce(&self, class: Class, key: &str) -> Result<(), ApiError> {
        match self.check(class, key).await.error() {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

/// The key a client address counts under: itself, or its /64 network for IPv6.
pub fn client_key(client: IpAddr) -> String {
    match client.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
        }
    }
}

/// The key an account name counts under (as typed at sign-in: any case, `@` or not).
pub fn account_key(login: &str) -> String {
    login
        .trim()
        .trim_start_matches('@')
        .to_lowercase()
        .chars()
        .take(254)
        .collect()
}

/// The class a request has besides [`Class::Api`] / [`Class::Anonymous`], by route.
fn route_class(method: &Method, path: &str) -> Option<Class> {
    if method != Method::POST {
        return None;
    }
    match path {
        "/api/v1/auth/login" => Some(Class::Login),
        "/api/v1/auth/register" => Some(Class::Register),
        "/api/v1/auth/refresh" => Some(Class::Refresh),
        "/api/v1/posts" => Some(Class::Posts),
        _ => None,
    }
}

/// Middleware: counts every `/api/` request against its route's class and against the
/// caller's general budget (per user with a valid token, else per client address), answers
/// 429 over budget, and hands the limits to handlers (for [`Class::LoginAccount`]).
pub async fn limit(State(limits): State<RateLimits>, request: Request, next: Next) -> Response {
    if !request.uri().path().starts_with("/api/") || !limits.quotas.any() {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let client = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| client_key(limits.proxies.client(c.0.ip(), &parts.headers)));
    let user = limits
        .verifier
        .as_ref()
        .and_then(|verifier| crate::auth::verified_caller(&mut parts, verifier));
    let mut checks: [Option<(Class, String)>; 2] = [None, None];
    match route_class(&parts.method, parts.uri.path()) {
        Some(Class::Posts) => checks[0] = user.map(|id| (Class::Posts, id.to_string())),
        Some(class) => checks[0] = client.clone().map(|key| (class, key)),
        None => {}
    }
    checks[1] = match (user, client) {
        (Some(id), _) => Some((Class::Api, id.to_string())),
        (None, Some(key)) => Some((Class::Anonymous, key)),
        (None, None) => None,
    };
    let mut shown: Option<Checked> = None;
    for (class, key) in checks.iter().flatten() {
        let checked = limits.check(*class, key).await;
        if let Some(err) = checked.error() {
            return err.into_response();
        }
        if checked.quota.is_some()
            && shown.is_none_or(|shown| checked.remaining() < shown.remaining())
        {
            shown = Some(checked);
        }
    }
    parts.extensions.insert(limits);
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if let Some((checked, budget)) = shown.and_then(|c| c.budget().map(|b| (c, b))) {
        budget.write_headers(response.headers_mut(), checked.remaining());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_count_per_network() {
        assert_eq!(client_key(ip("203.0.113.9")), "203.0.113.9");
        assert_eq!(client_key(ip("::ffff:203.0.113.9")), "203.0.113.9");
        assert_eq!(
            client_key(ip("2001:db8:1:2:aaaa::1")),
            client_key(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(
            client_key(ip("2001:db8:1:2::1")),
            client_key(ip("2001:db8:1:3::1"))
        );
    }

    #[test]
    fn accounts_count_by_name_whatever_the_case() {
        assert_eq!(account_key(" @Alice "), account_key("alice"));
        assert_eq!(account_key(&"x".repeat(10_000)).len(), 254);
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_client_is_the_rightmost_address_not_a_trusted_proxy() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8", "127.0.0.1", "::1"]).unwrap();
        let edge = ip("10.1.2.3");
        // Directly connected clients are themselves, whatever they claim.
        assert_eq!(
            proxies.client(ip("203.0.113.9"), &forwarded(&["198.51.100.1"])),
            ip("203.0.113.9")
        );
        // Through the edge: the address it appended.
        assert_eq!(
            proxies.client(edge, &forwarded(&["203.0.113.9"])),
            ip("203.0.113.9")
        );
        // A forged entry on the left does not help: the edge's own entry wins.
        assert_eq!(
            proxies.client(edge, &forwarded(&["198.51.100.1, 203.0.113.9"])),
            ip("203.0.113.9")
        );
        // Two proxies (ingress, then edge), in one header or two.
        assert_eq!(
            proxies.client(edge, &forwarded(&["203.0.113.9, 10.0.0.7"])),
            ip("203.0.113.9")
        );
        assert_eq!(
            proxies.client(edge, &forwarded(&["203.0.113.9", "10.0.0.7"])),
            ip("203.0.113.9")
        );
        // Only proxies: the leftmost; no header: the proxy; garbage: the proxy that added it.
        assert_eq!(
            proxies.client(edge, &forwarded(&["10.0.0.8, 10.0.0.7"])),
            ip("10.0.0.8")
        );
        assert_eq!(proxies.client(edge, &HeaderMap::new()), edge);
        assert_eq!(
            proxies.client(edge, &forwarded(&["junk, 10.0.0.7"])),
            ip("10.0.0.7")
        );
        // IPv6 and IPv4-mapped peers.
        assert_eq!(
            proxies.client(ip("::1"), &forwarded(&["2001:db8::1"])),
            ip("2001:db8::1")
        );
        assert_eq!(
            proxies.client(ip("::ffff:127.0.0.1"), &forwarded(&["203.0.113.9"])),
            ip("203.0.113.9")
        );
        // Nobody trusted (the default): the peer, always.
        assert_eq!(
            TrustedProxies::default().client(edge, &forwarded(&["203.0.113.9"])),
            edge
        );
    }

    #[test]
    fn trusted_proxies_are_networks_or_addresses() {
        assert!(TrustedProxies::parse(&["10.0.0.0/8", " fd00::/8 ", "127.0.0.1", ""]).is_ok());
        let err = TrustedProxies::parse(&["10.0.0.0/33"]).unwrap_err();
        assert!(err.contains("10.0.0.0/33"), "{err}");
        assert!(TrustedProxies::parse(&["proxy.local"]).is_err());
    }
}
