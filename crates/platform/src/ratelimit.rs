//! A small fixed-window rate limiter keyed by client address, for sign-up and sign-in.
//!
//! It lives in the process (all-in-one, or per replica: with several replicas each allows the
//! limit). Behind a reverse proxy every request comes from the proxy's address, so the client
//! is read from `X-Forwarded-For` — but only for requests from [`TrustedProxies`], whose
//! entries in that header are the ones they appended themselves: anyone can write the header,
//! so the client is the rightmost address that is not a trusted proxy.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;

use crate::error::ApiError;

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

/// Allows `limit` requests per client per `window`.
#[derive(Clone)]
pub struct RateLimiter {
    limit: u32,
    window: Duration,
    counters: Arc<Mutex<HashMap<IpAddr, (Instant, u32)>>>,
    proxies: TrustedProxies,
}

impl RateLimiter {
    /// A limiter of `limit` requests per minute (0 disables it).
    pub fn per_minute(limit: u32) -> Self {
        Self {
            limit,
            window: Duration::from_secs(60),
            counters: Arc::default(),
            proxies: TrustedProxies::default(),
        }
    }

    /// Counts requests from `proxies` against the client they forwarded.
    pub fn behind(mut self, proxies: TrustedProxies) -> Self {
        self.proxies = proxies;
        self
    }

    /// Counts one request from `client`; `Err(seconds to wait)` when over the limit.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), u64> {
        if self.limit == 0 {
            return Ok(());
        }
        let Ok(mut counters) = self.counters.lock() else {
            return Ok(());
        };
        if counters.len() > 100_000 {
            counters.retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        let entry = counters.entry(client).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit {
            let wait = self.window.saturating_sub(now.duration_since(entry.0));
            return Err(wait.as_secs().max(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

/// Middleware limiting `POST` requests under `/api/v1/auth/`.
pub async fn limit_auth(
    State(limiter): State<RateLimiter>,
    request: Request,
    next: Next,
) -> Response {
    let limited = request.method() == Method::POST
        && request.uri().path().starts_with("/api/v1/auth/")
        && !request.uri().path().ends_with("/logout");
    if limited {
        let client = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| limiter.proxies.client(c.0.ip(), request.headers()));
        if let Some(client) = client {
            if let Err(retry_after_secs) = limiter.check(client, Instant::now()) {
                return ApiError::RateLimited { retry_after_secs }.into_response();
            }
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_client_and_window() {
        let limiter = RateLimiter::per_minute(2);
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        let t = Instant::now();
        assert!(limiter.check(a, t).is_ok());
        assert!(limiter.check(a, t).is_ok());
        assert!(limiter.check(a, t).is_err());
        assert!(limiter.check(b, t).is_ok());
        assert!(limiter.check(a, t + Duration::from_secs(61)).is_ok());
        assert!(RateLimiter::per_minute(0).check(a, t).is_ok());
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
