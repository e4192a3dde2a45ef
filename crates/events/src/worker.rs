//! Background workers (relays, consumers) as the application runs them: a task that stops
//! with the process, and a readiness check that fails if the task died.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use socialdevs_platform::health::ReadinessCheck;
use tokio::task::JoinHandle;

/// A running worker.
pub struct Worker {
    /// What it is, e.g. `relay posts` or `consumer timeline.live`.
    pub name: String,
    /// Its task; resolves when it has stopped (after shutdown: flushed and committed).
    pub task: JoinHandle<()>,
    running: Arc<AtomicBool>,
}

impl Worker {
    /// Spawns `work` as a worker named `name`.
    pub fn spawn(name: impl Into<String>, work: impl Future<Output = ()> + Send + 'static) -> Self {
        let running = Arc::new(AtomicBool::new(true));
        let flag = running.clone();
        let name = name.into();
        let label = name.clone();
        let task = tokio::spawn(async move {
            work.await;
            flag.store(false, Ordering::SeqCst);
            tracing::info!(worker = %label, "worker stopped");
        });
        Self {
            name,
            task,
            running,
        }
    }

    /// A readiness check that fails once the worker has stopped.
    pub fn readiness(&self) -> Arc<dyn ReadinessCheck> {
        Arc::new(Running {
            name: self.name.clone(),
            running: self.running.clone(),
        })
    }
}

struct Running {
    name: String,
    running: Arc<AtomicBool>,
}

#[async_trait]
impl ReadinessCheck for Running {
    fn name(&self) -> &str {
        &self.name
    }

    async fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.running.load(Ordering::SeqCst), "stopped");
        Ok(())
    }
}
