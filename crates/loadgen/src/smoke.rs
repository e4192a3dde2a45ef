//! The smoke test (a CI step): a few seconds of the mix at a low rate after seeding a small
//! graph; any failed request, or an operation without a single recorded latency, fails it.

use std::sync::Arc;
use std::time::Duration;

use crate::api::Api;
use crate::progress::Output;
use crate::seed::{self, Population, SeedOptions};
use crate::stats::Summary;
use crate::workload::{self, RunOptions, RunResult};

/// What to seed and how to load.
#[derive(Debug, Clone)]
pub struct SmokeOptions {
    pub seed: SeedOptions,
    pub run: RunOptions,
}

impl Default for SmokeOptions {
    fn default() -> Self {
        Self {
            seed: SeedOptions {
                users: 20,
                posts_per_user: 2,
                follows_per_user: 5,
                concurrency: 4,
                ..SeedOptions::default()
            },
            run: RunOptions {
                rate: 50.0,
                duration: Duration::from_secs(3),
                warmup: Duration::ZERO,
                connections: 16,
                ..RunOptions::default()
            },
        }
    }
}

/// The seeded graph and the run.
#[derive(Debug)]
pub struct SmokeOutcome {
    pub population: Arc<Population>,
    pub result: RunResult,
}

impl SmokeOutcome {
    /// What went wrong; empty when the smoke test passed.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let errors = self.result.errors();
        if errors.total() > 0 {
            problems.push(format!(
                "{} of {} requests failed ({})",
                errors.total(),
                self.result.scheduled,
                errors.describe()
            ));
        }
        for op in self.result.options.mix.ops() {
            let recorded = self
                .result
                .recorder
                .op(op)
                .map_or(0, |record| Summary::of(&record.latency).count);
            if recorded == 0 {
                problems.push(format!("no {op} request was recorded"));
            }
        }
        problems
    }
}

/// Seeds a fresh small graph and runs the mix on it.
pub async fn run(api: &Api, options: &SmokeOptions, out: &Output) -> anyhow::Result<SmokeOutcome> {
    let population = Arc::new(seed::seed(api, &options.seed, out).await?);
    let result = workload::run(api, &population, &options.run, out).await?;
    Ok(SmokeOutcome { population, result })
}
