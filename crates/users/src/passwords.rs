//! Password hashing (Argon2id, the crate's defaults: 19 MiB and 2 passes per hash) with a
//! bound on memory: at most [`HashingLimits::concurrent`] hashes run at once, at most
//! [`HashingLimits::waiting`] more wait for a turn, and a request beyond that is answered 503
//! with `Retry-After` at once instead of piling up memory (40 parallel sign-ins used to take a
//! process to ~800 MB).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString,
};
use argon2::Argon2;
use socialdevs_domain::Password;
use socialdevs_platform::ApiError;
use tokio::sync::Semaphore;

/// Metric: password hashes refused because too many were running and waiting.
pub const HASHES_REFUSED_TOTAL: &str = "socialdevs_users_password_hashes_refused_total";

/// How many password hashes may run and wait at once.
#[derive(Debug, Clone, Copy)]
pub struct HashingLimits {
    /// Running at once (each holds ~19 MiB while it runs).
    pub concurrent: usize,
    /// Waiting for a turn; beyond, 503.
    pub waiting: usize,
}

impl Default for HashingLimits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self {
            concurrent: cores.clamp(1, 4),
            waiting: 64,
        }
    }
}

/// Hashes and verifies passwords within [`HashingLimits`].
#[derive(Clone)]
pub struct Passwords {
    running: Arc<Semaphore>,
    queued: Arc<AtomicUsize>,
    limits: HashingLimits,
}

/// A place in line, given back when dropped.
struct Queued(Arc<AtomicUsize>);

impl Drop for Queued {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Passwords {
    /// A hasher within `limits`.
    pub fn new(limits: HashingLimits) -> Self {
        let limits = HashingLimits {
            concurrent: limits.concurrent.max(1),
            waiting: limits.waiting,
        };
        metrics::counter!(HASHES_REFUSED_TOTAL).increment(0);
        Self {
            running: Arc::new(Semaphore::new(limits.concurrent)),
            queued: Arc::new(AtomicUsize::new(0)),
            limits,
        }
    }

    /// Runs `work` on the blocking pool once a hashing slot is free, or refuses with 503 when
    /// the line is full.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let in_line = self.queued.fetch_add(1, Ordering::SeqCst) + 1;
        let _queued = Queued(self.queued.clone());
        if in_line > self.limits.concurrent + self.limits.waiting {
            metrics::counter!(HASHES_REFUSED_TOTAL).increment(1);
            return Err(ApiError::Unavailable {
                detail: "Too many sign-ins at once; try again in a moment.".into(),
                retry_after_secs: 1,
            });
        }
        let _running = self
            .running
            .acquire()
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ApiError::Internal(e.into()))?
            .map_err(ApiError::Internal)
    }

    /// The PHC string of a new salted hash of `password`.
    pub async fn hash(&self, password: Password) -> Result<String, ApiError> {
        self.run(move || {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(password.expose().as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
        })
        .await
    }

    /// Whether `password` matches the PHC string `hash`; without a hash (unknown account), a
    /// dummy one is checked so that a wrong username costs as much as a wrong password.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, ApiError> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(dummy_hash);
        let matches = self
            .run(move || {
                let parsed =
                    PasswordHash::new(&hash).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
                Ok(Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok())
            })
            .await?;
        Ok(known && matches)
    }
}

/// A real hash to verify against when the account does not exist.
fn dummy_hash() -> String {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY
        .get_or_init(|| {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(b"socialdevs-not-a-password", &salt)
                .map(|h| h.to_string())
                .unwrap_or_default()
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn beyond_the_running_and_waiting_hashes_requests_are_refused_with_503() {
        let passwords = Passwords::new(HashingLimits {
            concurrent: 1,
            waiting: 2,
        });
        let hash = passwords
            .hash(Password::parse("correct horse battery").unwrap())
            .await
            .unwrap();
        let attempts: Vec<_> = (0..12)
            .map(|_| {
                let passwords = passwords.clone();
                let hash = hash.clone();
                tokio::spawn(async move {
                    passwords
                        .verify("correct horse battery".into(), Some(hash))
                        .await
                })
            })
            .collect();
        let (mut ok, mut refused) = (0, 0);
        for attempt in attempts {
            match attempt.await.unwrap() {
                Ok(true) => ok += 1,
                Err(ApiError::Unavailable {
                    retry_after_secs, ..
                }) => {
                    assert!(retry_after_secs > 0);
                    refused += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(ok >= 3, "one running and two waiting get through: {ok}");
        assert!(
            refused > 0,
            "the rest are refused, not queued without bound"
        );
        assert_eq!(ok + refused, 12);
        assert_eq!(
            passwords.queued.load(Ordering::SeqCst),
            0,
            "places come back"
        );
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        let passwords = Passwords::new(HashingLimits::default());
        assert!(!passwords
            .verify("socialdevs-not-a-password".into(), None)
            .await
            .unwrap());
    }
}
