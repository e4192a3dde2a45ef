//! The rate sweep: the mix at increasing rates until the p99 bound or the error budget
//! breaks; the answer is the highest rate that kept both.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::api::Api;
use crate::machine::STEAL_WARNING;
use crate::progress::Output;
use crate::seed::Population;
use crate::workload::{self, RunOptions, RunResult};

/// How to sweep.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// The first rate.
    pub start_rate: f64,
    /// Add this much each step; without it, multiply by `factor`.
    pub step: Option<f64>,
    pub factor: f64,
    /// No rate above this.
    pub max_rate: f64,
    /// At most this many steps.
    pub max_steps: usize,
    /// The p99 bound, ms.
    pub p99_ms: f64,
    /// Errors must stay under this share of requests (0.001 = 0.1 %).
    pub max_error_ratio: f64,
    /// Stop after this many failing steps in a row.
    pub stop_after_failures: usize,
    /// Pause between steps so that the server drains its backlog.
    pub cooldown: Duration,
    /// Everything else of each step (its rate is replaced).
    pub run: RunOptions,
}

/// The rates of a sweep: `start`, then `+ step` or `× factor`, rounded to whole requests a
/// second, strictly increasing, at most `max_rate` and `max_steps` of them.
pub fn rates(
    start: f64,
    step: Option<f64>,
    factor: f64,
    max_rate: f64,
    max_steps: usize,
) -> anyhow::Result<Vec<f64>> {
    anyhow::ensure!(
        start.is_finite() && start > 0.0,
        "the start rate must be above 0"
    );
    match step {
        Some(step) => anyhow::ensure!(step.is_finite() && step > 0.0, "the step must be above 0"),
        None => anyhow::ensure!(
            factor.is_finite() && factor > 1.0,
            "the growth factor must be above 1"
        ),
    }
    let mut rates: Vec<f64> = Vec::new();
    let mut rate = start;
    while rates.len() < max_steps && rate <= max_rate {
        let rounded = if rate >= 10.0 { rate.round() } else { rate };
        if rates.last().is_none_or(|&last| rounded > last) {
            rates.push(rounded);
        }
        rate = match step {
            Some(step) => rate + step,
            None => rate * factor,
        };
    }
    Ok(rates)
}

/// Whether a step kept the bounds, and why not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub pass: bool,
    pub reason: String,
}

/// A step passes when its p99 is at most `p99_bound_ms`, its errors are under
/// `max_error_ratio` of its requests, and it recorded at least one latency.
pub fn judge(
    p99_ms: f64,
    recorded: u64,
    errors: u64,
    scheduled: u64,
    p99_bound_ms: f64,
    max_error_ratio: f64,
) -> Verdict {
    let ratio = errors as f64 / scheduled.max(1) as f64;
    let mut reasons = Vec::new();
    if recorded == 0 {
        reasons.push("no request was answered".to_owned());
    }
    if p99_ms > p99_bound_ms {
        reasons.push(format!("p99 {p99_ms:.1} ms > {p99_bound_ms} ms"));
    }
    if ratio >= max_error_ratio {
        reasons.push(format!(
            "errors {:.2} % ≥ {:.2} %",
            ratio * 100.0,
            max_error_ratio * 100.0
        ));
    }
    Verdict {
        pass: reasons.is_empty(),
        reason: if reasons.is_empty() {
            "ok".to_owned()
        } else {
            reasons.join("; ")
        },
    }
}

/// The steps run, with their verdicts, and the highest passing rate.
#[derive(Debug, Clone)]
pub struct SweepResult {
    pub options: SweepOptions,
    pub steps: Vec<(RunResult, Verdict)>,
}

impl SweepResult {
    /// The highest offered rate that passed.
    pub fn best_rate(&self) -> Option<f64> {
        self.steps
            .iter()
            .filter(|(_, verdict)| verdict.pass)
            .map(|(result, _)| result.options.rate)
            .reduce(f64::max)
    }
}

/// Runs the steps in order until `stop_after_failures` fail in a row.
pub async fn sweep(
    api: &Api,
    population: &Arc<Population>,
    options: &SweepOptions,
    out: &Output,
) -> anyhow::Result<SweepResult> {
    let rates = rates(
        options.start_rate,
        options.step,
        options.factor,
        options.max_rate,
        options.max_steps,
    )?;
    anyhow::ensure!(!rates.is_empty(), "no rate to sweep below the maximum");
    let mut steps = Vec::new();
    let mut failures = 0;
    for (i, rate) in rates.iter().enumerate() {
        if i > 0 && !options.cooldown.is_zero() {
            tokio::time::sleep(options.cooldown).await;
        }
        let run = RunOptions {
            rate: *rate,
            ..options.run.clone()
        };
        let result = workload::run(api, population, &run, out).await?;
        let all = crate::stats::Summary::of(result.recorder.all());
        let verdict = judge(
            all.p99_ms,
            all.count,
            result.errors().total(),
            result.scheduled,
            options.p99_ms,
            options.max_error_ratio,
        );
        out.note(&format!(
            "{rate:>8.0} req/s: achieved {:.0}, p50 {:.1} ms, p99 {:.1} ms, errors {}{} — {}",
            result.achieved_rate(),
            all.p50_ms,
            all.p99_ms,
            result.errors().describe(),
            result
                .cpu
                .filter(|c| c.steal > STEAL_WARNING)
                .map_or_else(String::new, |c| format!(
                    ", {:.0} % of the CPU stolen",
                    c.steal * 100.0
                )),
            verdict.reason
        ));
        failures = if verdict.pass { 0 } else { failures + 1 };
        steps.push((result, verdict));
        if failures >= options.stop_after_failures.max(1) {
            break;
        }
    }
    Ok(SweepResult {
        options: options.clone(),
        steps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiplicative_rates() {
        let r = rates(50.0, None, 1.5, 1000.0, 20).unwrap();
        assert_eq!(
            r,
            vec![50.0, 75.0, 113.0, 169.0, 253.0, 380.0, 570.0, 854.0]
        );
        let r = rates(100.0, None, 2.0, 100_000.0, 3).unwrap();
        assert_eq!(r, vec![100.0, 200.0, 400.0]);
    }

    #[test]
    fn additive_rates() {
        let r = rates(100.0, Some(100.0), 9.0, 500.0, 20).unwrap();
        assert_eq!(r, vec![100.0, 200.0, 300.0, 400.0, 500.0]);
    }

    #[test]
    fn slow_rates_keep_their_fractions_and_never_repeat() {
        let r = rates(1.0, None, 1.1, 13.0, 50).unwrap();
        assert!(r.windows(2).all(|w| w[1] > w[0]), "{r:?}");
        assert_eq!(r[1], 1.1);
        assert!(r.last().is_some_and(|&l| l <= 13.0));
    }

    #[test]
    fn refuses_sweeps_that_do_not_grow() {
        assert!(rates(0.0, None, 2.0, 10.0, 5).is_err());
        assert!(rates(10.0, None, 1.0, 100.0, 5).is_err());
        assert!(rates(10.0, Some(0.0), 2.0, 100.0, 5).is_err());
        assert!(rates(200.0, None, 2.0, 100.0, 5).unwrap().is_empty());
    }

    #[test]
    fn judges_latency_and_errors() {
        assert!(judge(49.9, 1000, 0, 1000, 50.0, 0.001).pass);
        assert!(judge(50.0, 1000, 0, 1000, 50.0, 0.001).pass);
        let slow = judge(50.1, 1000, 0, 1000, 50.0, 0.001);
        assert!(!slow.pass);
        assert!(
            slow.reason.contains("p99 50.1 ms > 50 ms"),
            "{}",
            slow.reason
        );
        // 0.1 % is already too many: errors must stay under it.
        assert!(judge(5.0, 10_000, 9, 10_000, 50.0, 0.001).pass);
        let failing = judge(5.0, 10_000, 10, 10_000, 50.0, 0.001);
        assert!(!failing.pass);
        assert!(
            failing.reason.contains("errors 0.10 %"),
            "{}",
            failing.reason
        );
        assert!(!judge(0.0, 0, 0, 100, 50.0, 0.001).pass);
    }
}
