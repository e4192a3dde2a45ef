//! The in-process rate store: `governor`'s GCRA, one keyed limiter per class. Each process
//! (each replica) counts on its own.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::RateLimiter;

use super::{Class, Decision, Quota, Quotas, RateStore};

type Keyed =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// Keys held per class before the idle ones are dropped; if they are all active (a flood of
/// new addresses), the class starts over rather than grow without bound.
pub const MAX_KEYS_PER_CLASS: usize = 100_000;

struct Limiter {
    quota: Quota,
    keyed: RwLock<Arc<Keyed>>,
    /// Requests since the size was last checked.
    since_check: AtomicU32,
}

/// Requests between two checks of the number of keys.
const CHECK_EVERY: u32 = 1_024;

impl Limiter {
    fn new(quota: Quota) -> Self {
        Self {
            quota,
            keyed: RwLock::new(Arc::new(Self::keyed(quota))),
            since_check: AtomicU32::new(0),
        }
    }

    fn keyed(quota: Quota) -> Keyed {
        let burst = NonZeroU32::new(quota.limit()).unwrap_or(NonZeroU32::MIN);
        let gcra = governor::Quota::with_period(quota.interval())
            .unwrap_or_else(|| governor::Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        RateLimiter::dashmap(gcra).with_middleware::<StateInformationMiddleware>()
    }

    fn current(&self) -> Arc<Keyed> {
        match self.keyed.read() {
            Ok(keyed) => keyed.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn bound(&self, keyed: &Keyed) {
        if self.since_check.fetch_add(1, Ordering::Relaxed) < CHECK_EVERY {
            return;
        }
        self.since_check.store(0, Ordering::Relaxed);
        if keyed.len() < MAX_KEYS_PER_CLASS {
            return;
        }
        keyed.retain_recent();
        if keyed.len() >= MAX_KEYS_PER_CLASS {
            tracing::warn!(
                keys = keyed.len(),
                "rate limiter full of active keys; starting the class over"
            );
            let fresh = Arc::new(Self::keyed(self.quota));
            match self.keyed.write() {
                Ok(mut slot) => *slot = fresh,
                Err(poisoned) => *poisoned.into_inner() = fresh,
            }
        }
    }

    fn acquire(&self, key: &str) -> Decision {
        let keyed = self.current();
        self.bound(&keyed);
        let interval = self.quota.interval();
        match keyed.check_key(&key.to_owned()) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                Decision::Allowed {
                    remaining,
                    reset: interval * (self.quota.limit() - remaining.min(self.quota.limit())),
                }
            }
            Err(not_until) => {
                let retry_after = not_until.wait_time_from(DefaultClock::default().now());
                Decision::Denied {
                    retry_after,
                    reset: retry_after + interval * (self.quota.limit() - 1),
                }
            }
        }
    }
}

/// In-process counters.
pub struct MemoryRateStore {
    limiters: [Option<Limiter>; Class::ALL.len()],
}

impl MemoryRateStore {
    /// Counters for the limited classes of `quotas`.
    pub fn new(quotas: &Quotas) -> Self {
        Self {
            limiters: Class::ALL.map(|class| quotas.get(class).map(Limiter::new)),
        }
    }

    /// How many keys `class` holds now.
    pub fn len(&self, class: Class) -> usize {
        self.limiters[class.index()]
            .as_ref()
            .map_or(0, |limiter| limiter.current().len())
    }
}

#[async_trait]
impl RateStore for MemoryRateStore {
    async fn acquire(&self, class: Class, key: &str) -> anyhow::Result<Decision> {
        Ok(match &self.limiters[class.index()] {
            Some(limiter) => limiter.acquire(key),
            None => Decision::Unlimited,
        })
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}
