//! The command line: `seed`, `run`, `sweep`, `follow-latency`, `smoke`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::api::Api;
use crate::follow::{self, FollowOptions};
use crate::mix::Mix;
use crate::plot::{self, Point};
use crate::progress::Output;
use crate::report::{self, Meta, RunReport, SweepReport};
use crate::rss;
use crate::schedule::parse_duration;
use crate::seed::{self, Population, SeedOptions};
use crate::smoke::{self, SmokeOptions};
use crate::sweep::{self, SweepOptions};
use crate::workload::{self, RunOptions};

/// Load generator for SocialDevs: seeds a realistic graph through the public API, then
/// measures open-loop latency (from each request's scheduled send time), rate sweeps and
/// post → follower delivery.
#[derive(Debug, Parser)]
#[command(name = "socialdevs-loadgen", version)]
pub struct Cli {
    /// No progress bars and no notes (bars are hidden anyway when stdout is not a terminal).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Seed users, a power-law follow graph and posts; save them to the state file.
    Seed(SeedCommand),
    /// One open-loop run at a constant rate.
    Run(RunCommand),
    /// Runs at increasing rates: the highest whose p99 stays under a bound with < 0.1 % errors.
    Sweep(SweepCommand),
    /// Post → follower latency on live home streams.
    FollowLatency(FollowCommand),
    /// A few seconds at a low rate on a fresh small graph; fails if any request failed.
    Smoke(SmokeCommand),
}

#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// The server (all-in-one, or the edge of the distributed topology).
    #[arg(
        long,
        env = "SOCIALDEVS_LOADGEN_BASE_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub base_url: String,
    /// Requests sent at once, each on its own keep-alive connection (the pool keeps that
    /// many idle connections).
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
}

#[derive(Debug, Clone, Args)]
pub struct SeedArgs {
    /// Users to seed.
    #[arg(long, default_value_t = 200)]
    pub users: usize,
    /// Posts each user publishes while seeding.
    #[arg(long, default_value_t = 5)]
    pub posts_per_user: usize,
    /// Authors each user follows, drawn by Zipf popularity.
    #[arg(long, default_value_t = 20)]
    pub follows_per_user: usize,
    /// Exponent of the authors' Zipf popularity (0 = uniform).
    #[arg(long, default_value_t = 1.0)]
    pub zipf: f64,
    /// Requests in flight while seeding.
    #[arg(long, default_value_t = 8)]
    pub seed_concurrency: usize,
    /// What was seeded (with passwords and refresh tokens): reused when it exists, has as
    /// many users and the server knows its first user; written otherwise.
    #[arg(long, default_value = "bench/results/loadgen-state.json")]
    pub state: PathBuf,
    /// Seed anew even if the state file could be reused.
    #[arg(long)]
    pub fresh: bool,
}

impl SeedArgs {
    fn options(&self) -> SeedOptions {
        SeedOptions {
            users: self.users,
            posts_per_user: self.posts_per_user,
            follows_per_user: self.follows_per_user,
            zipf_exponent: self.zipf,
            concurrency: self.seed_concurrency,
            ..SeedOptions::default()
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Operations and weights: home (home timeline), user (one author's posts), compose.
    #[arg(long, default_value = "home=60,user=30,compose=10")]
    pub mix: Mix,
    /// Requests scheduled but unfinished at most; requests due beyond count as errors.
    #[arg(long, default_value_t = 10_000)]
    pub max_in_flight: usize,
    /// A request without an answer this long after its due time counts as a timeout.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Page size of the reads.
    #[arg(long, default_value_t = 20)]
    pub page_limit: u32,
    /// Seed of the random choice of operations, users and texts.
    #[arg(long, default_value_t = 1)]
    pub rng_seed: u64,
    /// A server process whose resident memory is sampled during the run (repeatable).
    #[arg(long = "pid")]
    pub pids: Vec<u32>,
}

#[derive(Debug, Clone, Args)]
pub struct SeedCommand {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub seed: SeedArgs,
}

#[derive(Debug, Clone, Args)]
pub struct RunCommand {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub seed: SeedArgs,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Requests a second.
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// The measured window.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Load at the same rate before the window, not measured.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Results go to PREFIX.json and PREFIX.md.
    #[arg(long, default_value = "bench/results/loadgen-run")]
    pub out: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct SweepCommand {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub seed: SeedArgs,
    #[command(flatten)]
    pub load: LoadArgs,
    /// The first rate (requests a second).
    #[arg(long, default_value_t = 50.0)]
    pub start_rate: f64,
    /// Add this to the rate each step (instead of multiplying by --factor).
    #[arg(long)]
    pub step: Option<f64>,
    /// Multiply the rate by this each step.
    #[arg(long, default_value_t = 1.5)]
    pub factor: f64,
    /// No step above this rate.
    #[arg(long, default_value_t = 100_000.0)]
    pub max_rate: f64,
    /// At most this many steps.
    #[arg(long, default_value_t = 20)]
    pub max_steps: usize,
    /// Measured window of each step.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Warm-up of each step.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Pause between steps.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub cooldown: Duration,
    /// The p99 bound, ms.
    #[arg(long, default_value_t = 50.0)]
    pub p99_ms: f64,
    /// Errors must stay under this percentage of requests.
    #[arg(long, default_value_t = 0.1)]
    pub max_error_percent: f64,
    /// Stop after this many failing steps in a row.
    #[arg(long, default_value_t = 1)]
    pub stop_after_failures: usize,
    /// Results go to PREFIX.json, PREFIX.md and PREFIX.png.
    #[arg(long, default_value = "bench/results/loadgen-sweep")]
    pub out: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct FollowCommand {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Authors who post.
    #[arg(long, default_value_t = 10)]
    pub authors: usize,
    /// Followers of each author, each with its home stream open.
    #[arg(long, default_value_t = 20)]
    pub followers: usize,
    /// Posts a second, all authors together.
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// How long the authors post.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// A delivery later than this after the acknowledgement is missed.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Requests in flight while registering and following.
    #[arg(long, default_value_t = 8)]
    pub seed_concurrency: usize,
    /// Results go to PREFIX.json and PREFIX.md.
    #[arg(long, default_value = "bench/results/loadgen-follow")]
    pub out: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct SmokeCommand {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Users seeded (fresh each time).
    #[arg(long, default_value_t = 20)]
    pub users: usize,
    /// Requests a second.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// How long.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Operations and weights.
    #[arg(long, default_value = "home=60,user=30,compose=10")]
    pub mix: Mix,
    /// Wait this long for the server to be ready first.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub wait: Duration,
    /// Also write PREFIX.json and PREFIX.md.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs a command; a failed smoke test is `ExitCode::FAILURE`.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let out = Output::new(cli.quiet);
    match cli.command {
        Command::Seed(command) => seed_command(command, &out).await,
        Command::Run(command) => run_command(command, &out).await,
        Command::Sweep(command) => sweep_command(command, &out).await,
        Command::FollowLatency(command) => follow_command(command, &out).await,
        Command::Smoke(command) => smoke_command(command, &out).await,
    }
}

async fn connect(target: &TargetArgs) -> anyhow::Result<Api> {
    let api = Api::new(&target.base_url, target.connections)?;
    api.wait_ready(Duration::from_secs(5)).await?;
    Ok(api)
}

async fn population(api: &Api, args: &SeedArgs, out: &Output) -> anyhow::Result<Population> {
    seed::prepare(api, &args.options(), Some(&args.state), args.fresh, out).await
}

fn run_options(target: &TargetArgs, load: &LoadArgs) -> RunOptions {
    RunOptions {
        mix: load.mix.clone(),
        connections: target.connections,
        max_in_flight: load.max_in_flight,
        timeout: load.timeout,
        page_limit: load.page_limit,
        rng_seed: load.rng_seed,
        pids: load.pids.clone(),
        ..RunOptions::default()
    }
}

fn written(out: &Output, paths: &[PathBuf]) {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    out.note(&format!("wrote {}", names.join(", ")));
}

async fn seed_command(command: SeedCommand, out: &Output) -> anyhow::Result<ExitCode> {
    let api = connect(&command.target).await?;
    let population = population(&api, &command.seed, out).await?;
    println!("{}", population.describe());
    Ok(ExitCode::SUCCESS)
}

async fn run_command(command: RunCommand, out: &Output) -> anyhow::Result<ExitCode> {
    rss::check_pids(&command.load.pids)?;
    let api = connect(&command.target).await?;
    let population = Arc::new(population(&api, &command.seed, out).await?);
    let options = RunOptions {
        rate: command.rate,
        duration: command.duration,
        warmup: command.warmup,
        ..run_options(&command.target, &command.load)
    };
    let result = workload::run(&api, &population, &options, out).await?;
    population.state().save(&command.seed.state)?;
    let meta = Meta::new("run", api.base(), Some(&population));
    let report = RunReport::of(&result);
    let markdown = report::run_markdown(&meta, &report);
    let paths = report::write(&command.out, &meta, &report, &markdown)?;
    println!("{markdown}");
    written(out, &paths);
    Ok(ExitCode::SUCCESS)
}

async fn sweep_command(command: SweepCommand, out: &Output) -> anyhow::Result<ExitCode> {
    rss::check_pids(&command.load.pids)?;
    let api = connect(&command.target).await?;
    let population = Arc::new(population(&api, &command.seed, out).await?);
    let options = SweepOptions {
        start_rate: command.start_rate,
        step: command.step,
        factor: command.factor,
        max_rate: command.max_rate,
        max_steps: command.max_steps,
        p99_ms: command.p99_ms,
        max_error_ratio: command.max_error_percent / 100.0,
        stop_after_failures: command.stop_after_failures,
        cooldown: command.cooldown,
        run: RunOptions {
            duration: command.duration,
            warmup: command.warmup,
            ..run_options(&command.target, &command.load)
        },
    };
    let result = sweep::sweep(&api, &population, &options, out).await?;
    population.state().save(&command.seed.state)?;
    let meta = Meta::new("sweep", api.base(), Some(&population));
    let report = SweepReport::of(&result);
    let png = report::with_suffix(&command.out, "png");
    let points: Vec<Point> = report
        .steps
        .iter()
        .map(|s| Point {
            rate: s.run.offered_rate,
            p50_ms: s.run.latency.p50_ms,
            p99_ms: s.run.latency.p99_ms,
        })
        .collect();
    let title = format!(
        "SocialDevs latency against offered rate (mix {})",
        options.run.mix
    );
    let plotted = match plot::sweep_png(&png, &title, &points, command.p99_ms) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("warning: no plot: {e:#}");
            false
        }
    };
    let png_name = png.file_name().map(|n| n.to_string_lossy().into_owned());
    let markdown = report::sweep_markdown(&meta, &report, png_name.as_deref().filter(|_| plotted));
    let mut paths = report::write(&command.out, &meta, &report, &markdown)?;
    if plotted {
        paths.push(png);
    }
    println!("{markdown}");
    written(out, &paths);
    Ok(ExitCode::SUCCESS)
}

async fn follow_command(command: FollowCommand, out: &Output) -> anyhow::Result<ExitCode> {
    let api = connect(&command.target).await?;
    let options = FollowOptions {
        authors: command.authors,
        followers_per_author: command.followers,
        rate: command.rate,
        duration: command.duration,
        timeout: command.timeout,
        concurrency: command.seed_concurrency,
        connections: command.target.connections,
    };
    let report = follow::run(&api, &options, out).await?;
    let meta = Meta::new("follow-latency", api.base(), None);
    let markdown = report::follow_markdown(&meta, &report);
    let paths = report::write(&command.out, &meta, &report, &markdown)?;
    println!("{markdown}");
    written(out, &paths);
    Ok(ExitCode::SUCCESS)
}

async fn smoke_command(command: SmokeCommand, out: &Output) -> anyhow::Result<ExitCode> {
    let api = Api::new(&command.target.base_url, command.target.connections)?;
    api.wait_ready(command.wait).await?;
    let defaults = SmokeOptions::default();
    let options = SmokeOptions {
        seed: SeedOptions {
            users: command.users,
            ..defaults.seed
        },
        run: RunOptions {
            rate: command.rate,
            duration: command.duration,
            mix: command.mix,
            connections: command.target.connections,
            ..defaults.run
        },
    };
    let outcome = smoke::run(&api, &options, out).await?;
    let meta = Meta::new("smoke", api.base(), Some(&outcome.population));
    let report = RunReport::of(&outcome.result);
    let markdown = report::run_markdown(&meta, &report);
    if let Some(prefix) = &command.out {
        written(out, &report::write(prefix, &meta, &report, &markdown)?);
    }
    println!("{markdown}");
    let problems = outcome.problems();
    if problems.is_empty() {
        println!("smoke passed: {} requests, no error", report.ok);
        Ok(ExitCode::SUCCESS)
    } else {
        for problem in &problems {
            eprintln!("smoke failed: {problem}");
        }
        Ok(ExitCode::FAILURE)
    }
}

/// The default state file, relative to the working directory.
pub fn default_state() -> &'static Path {
    Path::new("bench/results/loadgen-state.json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_a_sweep() {
        let cli = Cli::try_parse_from([
            "socialdevs-loadgen",
            "sweep",
            "--base-url",
            "http://127.0.0.1:9000",
            "--mix",
            "home=1,compose=1",
            "--duration",
            "5s",
            "--pid",
            "12",
            "--pid",
            "13",
            "--p99-ms",
            "20",
        ])
        .unwrap();
        let Command::Sweep(sweep) = cli.command else {
            panic!("not a sweep");
        };
        assert_eq!(sweep.target.base_url, "http://127.0.0.1:9000");
        assert_eq!(sweep.load.mix.to_string(), "home=1,compose=1");
        assert_eq!(sweep.duration, Duration::from_secs(5));
        assert_eq!(sweep.load.pids, vec![12, 13]);
        assert_eq!(sweep.p99_ms, 20.0);
        assert_eq!(sweep.seed.state, default_state());
        assert!(Cli::try_parse_from(["socialdevs-loadgen", "run", "--mix", "nope"]).is_err());
    }
}
