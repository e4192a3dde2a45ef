//! Results as JSON (everything) and Markdown (for people), under an `--out` prefix.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use crate::follow::FollowReport;
use crate::machine::{CpuShare, STEAL_WARNING};
use crate::mix::Op;
use crate::rss::{total_peak_mib, ProcessMemory};
use crate::seed::Population;
use crate::stats::{Errors, Summary};
use crate::sweep::SweepResult;
use crate::workload::RunResult;

/// Where and when a result was measured.
#[derive(Debug, Clone, Serialize)]
pub struct Meta {
    pub tool: String,
    pub version: String,
    /// `run`, `sweep`, `follow-latency` or `smoke`.
    pub command: String,
    pub base_url: String,
    pub generated_at: String,
    pub cpus: usize,
    pub population: Option<PopulationInfo>,
}

impl Meta {
    /// Now, on this machine.
    pub fn new(command: &str, base_url: &str, population: Option<&Population>) -> Self {
        Self {
            tool: env!("CARGO_PKG_NAME").to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            command: command.to_owned(),
            base_url: base_url.to_owned(),
            generated_at: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            population: population.map(PopulationInfo::of),
        }
    }

    fn preamble(&self, title: &str) -> String {
        let mut md = format!("# {title}\n\n");
        let _ = writeln!(
            md,
            "Measured by `{} {}` on {} against {}, {} CPU cores seen by the load generator \
             (it shares the machine with the server unless they run apart).",
            self.tool, self.command, self.generated_at, self.base_url, self.cpus
        );
        if let Some(p) = &self.population {
            let _ = writeln!(
                md,
                "Seeded graph{}: {} users, {} follows (Zipf exponent {}, most followed author: {} followers), {} posts per user.",
                if p.reused { " (reused from a state file)" } else { "" },
                p.users, p.follows, p.zipf_exponent, p.top_followers, p.posts_per_user
            );
        }
        md
    }
}

/// The seeded graph, as reports describe it.
#[derive(Debug, Clone, Serialize)]
pub struct PopulationInfo {
    pub users: usize,
    pub follows: usize,
    pub top_followers: usize,
    pub posts_per_user: usize,
    pub zipf_exponent: f64,
    pub reused: bool,
}

impl PopulationInfo {
    fn of(p: &Population) -> Self {
        Self {
            users: p.users(),
            follows: p.follows(),
            top_followers: p.top_followers(),
            posts_per_user: p.posts_per_user,
            zipf_exponent: p.zipf_exponent,
            reused: p.reused,
        }
    }
}

/// One operation of a run.
#[derive(Debug, Clone, Serialize)]
pub struct OpReport {
    pub op: Op,
    pub request: String,
    pub ok: u64,
    pub errors: Errors,
    /// From each request's due time to its whole answer (failed requests included).
    pub latency: Summary,
}

/// One open-loop run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub offered_rate: f64,
    pub achieved_rate: f64,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub mix: String,
    pub connections: usize,
    pub max_in_flight: usize,
    pub timeout_s: f64,
    /// Requests of the measured window.
    pub scheduled: u64,
    pub ok: u64,
    pub errors: Errors,
    pub error_ratio: f64,
    pub latency: Summary,
    /// How late requests left compared with their due time (the generator's own delay).
    pub send_lag: Summary,
    pub ops: Vec<OpReport>,
    pub memory: Vec<ProcessMemory>,
    pub peak_rss_mib: Option<f64>,
    /// The machine's CPU over the run: busy, and stolen by a hypervisor (0 to 1).
    pub cpu: Option<CpuShare>,
}

impl RunReport {
    /// The report of `result`.
    pub fn of(result: &RunResult) -> Self {
        let options = &result.options;
        Self {
            offered_rate: options.rate,
            achieved_rate: result.achieved_rate(),
            duration_s: options.duration.as_secs_f64(),
            warmup_s: options.warmup.as_secs_f64(),
            mix: options.mix.to_string(),
            connections: options.connections,
            max_in_flight: options.max_in_flight,
            timeout_s: options.timeout.as_secs_f64(),
            scheduled: result.scheduled,
            ok: result.recorder.ok(),
            errors: result.errors(),
            error_ratio: result.error_ratio(),
            latency: Summary::of(result.recorder.all()),
            send_lag: Summary::of(result.recorder.lag()),
            ops: result
                .recorder
                .ops()
                .map(|(op, record)| OpReport {
                    op,
                    request: op.request().to_owned(),
                    ok: record.ok,
                    errors: record.errors.clone(),
                    latency: Summary::of(&record.latency),
                })
                .collect(),
            memory: result.memory.clone(),
            peak_rss_mib: total_peak_mib(&result.memory),
            cpu: result.cpu,
        }
    }
}

const LATENCY_NOTE: &str = "Open loop: requests leave on a fixed schedule whatever the latency of \
earlier ones, and latency counts from each request's scheduled send time (no coordinated \
omission). Milliseconds.";

fn ms(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

fn warmup(seconds: f64) -> String {
    if seconds > 0.0 {
        format!("after a {seconds} s warm-up")
    } else {
        "with no warm-up".to_owned()
    }
}

fn memory_line(memory: &[ProcessMemory]) -> Option<String> {
    if memory.is_empty() {
        return None;
    }
    let each: Vec<String> = memory
        .iter()
        .map(|p| {
            format!(
                "pid {} peak {:.1} MiB (VmHWM {:.1} MiB)",
                p.pid,
                p.peak_rss_kib as f64 / 1024.0,
                p.hwm_kib as f64 / 1024.0
            )
        })
        .collect();
    Some(format!(
        "Server resident memory during the run: {}; total peak {:.1} MiB.",
        each.join(", "),
        total_peak_mib(memory).unwrap_or(0.0)
    ))
}

/// The share of the machine's CPU time a hypervisor took, as a table cell.
fn stolen(cpu: Option<CpuShare>) -> String {
    cpu.map_or_else(|| "–".to_owned(), |c| format!("{:.0} %", c.steal * 100.0))
}

fn steal_note(rates: &[String]) -> String {
    format!(
        "The hypervisor took more than {:.0} % of the machine's CPU time during the steps at \
         {} req/s (CPU stolen): they measured a slower machine than the others, and runs of \
         another hour or day compare only with care.",
        STEAL_WARNING * 100.0,
        rates.join(", ")
    )
}

/// Markdown of a run.
pub fn run_markdown(meta: &Meta, run: &RunReport) -> String {
    let mut md = meta.preamble("SocialDevs under load: open-loop run");
    let _ = writeln!(
        md,
        "Offered {} req/s for {} s {}; mix {}; {} connections, in-flight cap {}, timeout {} s.\n",
        run.offered_rate,
        run.duration_s,
        warmup(run.warmup_s),
        run.mix,
        run.connections,
        run.max_in_flight,
        run.timeout_s
    );
    let _ = writeln!(md, "{LATENCY_NOTE}\n");
    md.push_str("| operation | request | ok | errors | p50 | p90 | p99 | p99.9 | max |\n");
    md.push_str("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for op in &run.ops {
        let _ = writeln!(
            md,
            "| {} | `{}` | {} | {} | {} | {} | {} | {} | {} |",
            op.op.name(),
            op.request,
            op.ok,
            op.errors.total(),
            ms(op.latency.p50_ms),
            ms(op.latency.p90_ms),
            ms(op.latency.p99_ms),
            ms(op.latency.p999_ms),
            ms(op.latency.max_ms)
        );
    }
    let _ = writeln!(
        md,
        "| **all** | | {} | {} | {} | {} | {} | {} | {} |\n",
        run.ok,
        run.errors.total(),
        ms(run.latency.p50_ms),
        ms(run.latency.p90_ms),
        ms(run.latency.p99_ms),
        ms(run.latency.p999_ms),
        ms(run.latency.max_ms)
    );
    let _ = writeln!(
        md,
        "Achieved {:.1} req/s (2xx) of {} scheduled requests. Errors: {} ({:.3} %). \
         Send lag behind the schedule (the load generator's own delay, included in the \
         latencies): p50 {} ms, p99 {} ms, max {} ms.",
        run.achieved_rate,
        run.scheduled,
        run.errors.describe(),
        run.error_ratio * 100.0,
        ms(run.send_lag.p50_ms),
        ms(run.send_lag.p99_ms),
        ms(run.send_lag.max_ms)
    );
    if let Some(line) = memory_line(&run.memory) {
        let _ = writeln!(md, "\n{line}");
    }
    if let Some(cpu) = run.cpu {
        let _ = writeln!(
            md,
            "\nThe machine's CPU over the run: {:.0} % busy, {:.0} % stolen by the hypervisor.",
            cpu.busy * 100.0,
            cpu.steal * 100.0
        );
        if cpu.steal > STEAL_WARNING {
            let _ = writeln!(md, "\n{}", steal_note(&[run.offered_rate.to_string()]));
        }
    }
    md
}

/// One step of a sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepStep {
    #[serde(flatten)]
    pub run: RunReport,
    pub pass: bool,
    pub reason: String,
}

/// A sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepReport {
    pub p99_bound_ms: f64,
    pub max_error_ratio: f64,
    /// The highest offered rate whose p99 and errors stayed within the bounds.
    pub best_rate: Option<f64>,
    pub steps: Vec<SweepStep>,
}

impl SweepReport {
    /// The report of `result`.
    pub fn of(result: &SweepResult) -> Self {
        Self {
            p99_bound_ms: result.options.p99_ms,
            max_error_ratio: result.options.max_error_ratio,
            best_rate: result.best_rate(),
            steps: result
                .steps
                .iter()
                .map(|(run, verdict)| SweepStep {
                    run: RunReport::of(run),
                    pass: verdict.pass,
                    reason: verdict.reason.clone(),
                })
                .collect(),
        }
    }
}

/// Markdown of a sweep; `plot` names the picture beside it, if any.
pub fn sweep_markdown(meta: &Meta, sweep: &SweepReport, plot: Option<&str>) -> String {
    let mut md = meta.preamble("SocialDevs under load: rate sweep");
    if let Some(first) = sweep.steps.first() {
        let _ = writeln!(
            md,
            "Each step: {} s {}; mix {}; {} connections, in-flight cap {}, timeout {} s.\n",
            first.run.duration_s,
            warmup(first.run.warmup_s),
            first.run.mix,
            first.run.connections,
            first.run.max_in_flight,
            first.run.timeout_s
        );
    }
    let _ = writeln!(md, "{LATENCY_NOTE}\n");
    let bound = format!(
        "p99 ≤ {} ms and errors < {} %",
        sweep.p99_bound_ms,
        sweep.max_error_ratio * 100.0
    );
    match sweep.best_rate {
        Some(rate) => {
            let _ = writeln!(md, "Highest offered rate with {bound}: **{rate} req/s**.\n");
        }
        None => {
            let _ = writeln!(md, "No step kept {bound}.\n");
        }
    }
    md.push_str("| offered req/s | achieved req/s | p50 | p90 | p99 | p99.9 | max | errors | error % | peak RSS MiB | CPU stolen | verdict |\n");
    md.push_str(
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n",
    );
    for step in &sweep.steps {
        let run = &step.run;
        let _ = writeln!(
            md,
            "| {} | {:.1} | {} | {} | {} | {} | {} | {} | {:.3} | {} | {} | {} |",
            run.offered_rate,
            run.achieved_rate,
            ms(run.latency.p50_ms),
            ms(run.latency.p90_ms),
            ms(run.latency.p99_ms),
            ms(run.latency.p999_ms),
            ms(run.latency.max_ms),
            run.errors.total(),
            run.error_ratio * 100.0,
            run.peak_rss_mib
                .map_or_else(|| "–".to_owned(), |m| format!("{m:.1}")),
            stolen(run.cpu),
            if step.pass {
                "pass".to_owned()
            } else {
                format!("fail: {}", step.reason)
            }
        );
    }
    let failing: Vec<String> = sweep
        .steps
        .iter()
        .filter(|s| s.run.errors.total() > 0)
        .map(|s| format!("{} req/s: {}", s.run.offered_rate, s.run.errors.describe()))
        .collect();
    if !failing.is_empty() {
        let _ = writeln!(md, "\nErrors by kind: {}.", failing.join("; "));
    }
    let robbed: Vec<String> = sweep
        .steps
        .iter()
        .filter(|s| s.run.cpu.is_some_and(|c| c.steal > STEAL_WARNING))
        .map(|s| format!("{}", s.run.offered_rate))
        .collect();
    if !robbed.is_empty() {
        let _ = writeln!(md, "\n{}", steal_note(&robbed));
    }
    if let Some(plot) = plot {
        let _ = writeln!(md, "\n![p50 and p99 against offered rate]({plot})");
    }
    md
}

/// Markdown of a post → follower measurement.
pub fn follow_markdown(meta: &Meta, follow: &FollowReport) -> String {
    let mut md = meta.preamble("SocialDevs under load: post → follower delivery");
    let _ = writeln!(
        md,
        "{} authors with {} followers each, every follower's live home stream open; the authors \
         post {} times a second in all for {} s (open loop). Delivery latency: from the compose \
         request's acknowledgement (201) to the post's arrival on a follower's stream; a \
         delivery later than {} s is missed. Milliseconds.\n",
        follow.authors,
        follow.followers_per_author,
        follow.rate,
        follow.duration_s,
        follow.timeout_s
    );
    md.push_str("| posts acknowledged | deliveries expected | delivered | missed | p50 | p90 | p99 | p99.9 | max |\n");
    md.push_str("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    let d = &follow.delivery_latency;
    let _ = writeln!(
        md,
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
        follow.posts_acknowledged,
        follow.deliveries_expected,
        follow.delivered,
        follow.missed,
        ms(d.p50_ms),
        ms(d.p90_ms),
        ms(d.p99_ms),
        ms(d.p999_ms),
        ms(d.max_ms)
    );
    let c = &follow.compose_latency;
    let _ = writeln!(
        md,
        "Compose: {} scheduled, errors {}; latency from the scheduled send p50 {} ms, p99 {} ms. \
         Streams: {} opened, {} ended early. Deliveries seen before their acknowledgement: {}.",
        follow.posts_scheduled,
        follow.compose_errors.describe(),
        ms(c.p50_ms),
        ms(c.p99_ms),
        follow.streams_opened,
        follow.streams_ended_early,
        follow.before_ack
    );
    md
}

/// `prefix.json` and `prefix.md`, with their folder; returns their paths.
pub fn write<T: Serialize>(
    prefix: &Path,
    meta: &Meta,
    result: &T,
    markdown: &str,
) -> anyhow::Result<Vec<PathBuf>> {
    if let Some(dir) = prefix.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let json_path = with_suffix(prefix, "json");
    let document = serde_json::json!({ "meta": meta, "result": result });
    std::fs::write(&json_path, serde_json::to_string_pretty(&document)? + "\n")
        .with_context(|| format!("writing {}", json_path.display()))?;
    let md_path = with_suffix(prefix, "md");
    std::fs::write(&md_path, markdown).with_context(|| format!("writing {}", md_path.display()))?;
    Ok(vec![json_path, md_path])
}

/// `prefix` + `.` + `extension` (a prefix may itself contain dots).
pub fn with_suffix(prefix: &Path, extension: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(".");
    name.push(extension);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(p50: f64, p99: f64) -> Summary {
        Summary {
            count: 100,
            mean_ms: p50,
            p50_ms: p50,
            p90_ms: p50,
            p99_ms: p99,
            p999_ms: p99,
            max_ms: p99,
        }
    }

    fn run(rate: f64, p99: f64, errors: u64) -> RunReport {
        let mut e = Errors::default();
        e.add("503", errors);
        RunReport {
            offered_rate: rate,
            achieved_rate: rate,
            duration_s: 10.0,
            warmup_s: 2.0,
            mix: "home=60,user=30,compose=10".into(),
            connections: 64,
            max_in_flight: 10_000,
            timeout_s: 10.0,
            scheduled: 1000,
            ok: 1000 - errors,
            errors: e,
            error_ratio: errors as f64 / 1000.0,
            latency: summary(1.5, p99),
            send_lag: summary(0.1, 0.9),
            ops: vec![OpReport {
                op: Op::Home,
                request: Op::Home.request().into(),
                ok: 600,
                errors: Errors::default(),
                latency: summary(1.2, p99),
            }],
            memory: vec![ProcessMemory {
                pid: 42,
                peak_rss_kib: 51200,
                hwm_kib: 52224,
                samples: 10,
            }],
            peak_rss_mib: Some(50.0),
            cpu: Some(CpuShare {
                busy: 0.9,
                steal: if p99 > 40.0 { 0.2 } else { 0.0 },
            }),
        }
    }

    fn meta() -> Meta {
        Meta {
            tool: "socialdevs-loadgen".into(),
            version: "0.1.0".into(),
            command: "sweep".into(),
            base_url: "http://127.0.0.1:8080".into(),
            generated_at: "2026-01-01 00:00 UTC".into(),
            cpus: 2,
            population: None,
        }
    }

    #[test]
    fn run_markdown_lists_percentiles_errors_and_memory() {
        let md = run_markdown(&meta(), &run(500.0, 12.345, 3));
        assert!(md.contains("| home | `GET /api/v1/timeline/home` | 600 | 0 | 1.20 | 1.20 | 12.3 | 12.3 | 12.3 |"), "{md}");
        assert!(md.contains("| **all** | | 997 | 3 | 1.50 |"), "{md}");
        assert!(md.contains("Errors: 503: 3 (0.300 %)"), "{md}");
        assert!(md.contains("pid 42 peak 50.0 MiB (VmHWM 51.0 MiB)"), "{md}");
    }

    #[test]
    fn sweep_markdown_names_the_best_rate_and_the_failures() {
        let report = SweepReport {
            p99_bound_ms: 50.0,
            max_error_ratio: 0.001,
            best_rate: Some(200.0),
            steps: vec![
                SweepStep {
                    run: run(100.0, 4.0, 0),
                    pass: true,
                    reason: "ok".into(),
                },
                SweepStep {
                    run: run(200.0, 9.0, 0),
                    pass: true,
                    reason: "ok".into(),
                },
                SweepStep {
                    run: run(400.0, 180.0, 5),
                    pass: false,
                    reason: "p99 180.0 ms > 50 ms".into(),
                },
            ],
        };
        let md = sweep_markdown(&meta(), &report, Some("loadgen-sweep.png"));
        assert!(md.contains("**200 req/s**"), "{md}");
        assert!(md.contains("| 400 | 400.0 | 1.50 | 1.50 | 180 | 180 | 180 | 5 | 0.500 | 50.0 | 20 % | fail: p99 180.0 ms > 50 ms |"), "{md}");
        assert!(md.contains("| 200 | 200.0 | 1.50 | 1.50 | 9.00 | 9.00 | 9.00 | 0 | 0.000 | 50.0 | 0 % | pass |"), "{md}");
        assert!(
            md.contains("more than 5 % of the machine's CPU time during the steps at 400 req/s"),
            "{md}"
        );
        assert!(md.contains("Errors by kind: 400 req/s: 503: 5."), "{md}");
        assert!(md.contains("![p50 and p99 against offered rate](loadgen-sweep.png)"));
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["steps"][0]["offered_rate"], 100.0);
        assert_eq!(json["steps"][2]["errors"]["503"], 5);
        assert_eq!(json["best_rate"], 200.0);
    }

    #[test]
    fn suffixes_keep_dots_in_prefixes() {
        assert_eq!(
            with_suffix(Path::new("bench/results/run.v2"), "json"),
            PathBuf::from("bench/results/run.v2.json")
        );
    }
}
