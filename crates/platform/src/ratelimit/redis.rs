//! The shared rate store: the same GCRA as [`super::memory`], run by a Lua script on Redis
//! (`SOCIALDEVS_REDIS_URL`), so every replica of every service counts against one budget.
//!
//! A key holds the theoretical arrival time (TAT) of the next request in microseconds of
//! the Redis clock (so replica clocks do not matter) and expires when the budget is full
//! again: idle keys cost nothing.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use super::{Class, Decision, Quotas, RateStore};

/// `KEYS[1]`: the key; `ARGV[1]`: the interval (µs), `ARGV[2]`: the burst.
/// Returns `{allowed, remaining, retry_after_us, reset_us}`.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - interval * burst
if allow_at > now then
  return {0, 0, allow_at - now, tat - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, math.floor((now - allow_at) / interval), 0, new_tat - now}
";

/// Counters on Redis, under `<namespace>:ratelimit:<class>:<key>`.
pub struct RedisRateStore {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    script: redis::Script,
    prefix: String,
    quotas: Quotas,
    /// When connecting last failed: requests do not wait on a Redis that is down.
    failed_at: Mutex<Option<Instant>>,
}

/// How long after a failed connection requests pass without trying again.
const RECONNECT_AFTER: Duration = Duration::from_secs(2);

impl RedisRateStore {
    /// A store on the Redis at `url`; connects on first use.
    pub fn new(url: &str, namespace: &str, quotas: &Quotas) -> anyhow::Result<Self> {
        Ok(Self {
            client: redis::Client::open(url).context("parsing SOCIALDEVS_REDIS_URL")?,
            connection: OnceCell::new(),
            script: redis::Script::new(GCRA),
            prefix: format!("{namespace}:ratelimit:"),
            quotas: quotas.clone(),
            failed_at: Mutex::new(None),
        })
    }

    async fn connection(&self) -> anyhow::Result<ConnectionManager> {
        if let Some(connection) = self.connection.get() {
            return Ok(connection.clone());
        }
        let recently_failed = self
            .failed_at
            .lock()
            .map(|at| at.is_some_and(|at| at.elapsed() < RECONNECT_AFTER))
            .unwrap_or(false);
        anyhow::ensure!(!recently_failed, "Redis for rate limits is unreachable");
        let connection = self
            .connection
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(1)))
                    .set_response_timeout(Some(Duration::from_millis(500)))
                    .set_number_of_retries(1);
                ConnectionManager::new_with_config(self.client.clone(), config)
                    .await
                    .context("connecting to Redis for rate limits")
            })
            .await
            .inspect_err(|_| {
                if let Ok(mut at) = self.failed_at.lock() {
                    *at = Some(Instant::now());
                }
            })?;
        Ok(connection.clone())
    }
}

#[async_trait]
impl RateStore for RedisRateStore {
    async fn acquire(&self, class: Class, key: &str) -> anyhow::Result<Decision> {
        let Some(quota) = self.quotas.get(class) else {
            return Ok(Decision::Unlimited);
        };
        let mut connection = self.connection().await?;
        let interval = u64::try_from(quota.interval().as_micros()).unwrap_or(u64::MAX);
        let (allowed, remaining, retry_after, reset): (u8, u32, u64, u64) = self
            .script
            .key(format!("{}{}:{key}", self.prefix, class.name()))
            .arg(interval)
            .arg(quota.limit())
            .invoke_async(&mut connection)
            .await
            .context("running the rate limit script on Redis")?;
        Ok(if allowed == 1 {
            Decision::Allowed {
                remaining,
                reset: Duration::from_micros(reset),
            }
        } else {
            Decision::Denied {
                retry_after: Duration::from_micros(retry_after),
                reset: Duration::from_micros(reset),
            }
        })
    }

    fn name(&self) -> &'static str {
        "redis"
    }
}
