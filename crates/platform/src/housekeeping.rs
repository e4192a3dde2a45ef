//! Housekeeping: periodic jobs that delete what has outlived its use (expired refresh tokens,
//! old idempotency keys), so tables that grow with every request stay bounded.
//!
//! A job runs once shortly after start, then every `every`; a failed run is logged and
//! counted and retried at the next tick (the rows wait, nothing is lost). Several replicas may
//! run the same job: each run is one idempotent `DELETE ... WHERE <older than>`.

use std::future::Future;
use std::time::Duration;

use crate::shutdown::Shutdown;

/// Metric: rows deleted by housekeeping, by `job`.
pub const PURGED_TOTAL: &str = "socialdevs_housekeeping_purged_total";
/// Metric: failed housekeeping runs, by `job`.
pub const FAILURES_TOTAL: &str = "socialdevs_housekeeping_failures_total";

/// How long after start the first run waits (start-up is busy enough).
pub const FIRST_RUN_AFTER: Duration = Duration::from_secs(5);

/// Runs `job` (which returns how many rows it deleted) after [`FIRST_RUN_AFTER`] and then
/// every `every`, until `shutdown`.
pub async fn run<F, Fut>(name: &'static str, every: Duration, shutdown: Shutdown, mut job: F)
where
    F: FnMut() -> Fut + Send,
    Fut: Future<Output = anyhow::Result<u64>> + Send,
{
    metrics::counter!(PURGED_TOTAL, "job" => name).increment(0);
    metrics::counter!(FAILURES_TOTAL, "job" => name).increment(0);
    let mut wait = FIRST_RUN_AFTER.min(every);
    loop {
        tokio::select! {
            () = shutdown.clone().wait() => return,
            () = tokio::time::sleep(wait) => {}
        }
        wait = every;
        match job().await {
            Ok(0) => tracing::debug!(job = name, "housekeeping: nothing to delete"),
            Ok(purged) => {
                metrics::counter!(PURGED_TOTAL, "job" => name).increment(purged);
                tracing::info!(job = name, purged, "housekeeping: deleted expired rows");
            }
            Err(err) => {
                metrics::counter!(FAILURES_TOTAL, "job" => name).increment(1);
                tracing::warn!(job = name, error = %format!("{err:#}"), "housekeeping failed; retrying at the next run");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::shutdown;

    #[tokio::test(start_paused = true)]
    async fn runs_at_start_then_every_interval_through_failures_until_shutdown() {
        let runs = Arc::new(AtomicU32::new(0));
        let (trigger, stop) = shutdown::channel();
        let counter = runs.clone();
        let task = tokio::spawn(run("test", Duration::from_secs(60), stop, move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                anyhow::ensure!(n != 1, "second run fails");
                Ok(u64::from(n))
            }
        }));
        tokio::time::sleep(FIRST_RUN_AFTER + Duration::from_millis(1)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        // The failed second run does not stop the third.
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        trigger.trigger();
        tokio::time::timeout(Duration::from_secs(1), task)
            .await
            .expect("stops on shutdown")
            .expect("did not panic");
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }
}
