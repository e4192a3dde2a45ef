//! The open-loop constant-rate workload. A scheduler releases request `i` at `start + i/R`
//! whatever became of the earlier ones, as its own task; the task waits for one of the
//! `connections` keep-alive connections, sends, reads the whole answer, and records the
//! latency from the request's due time. A stalled server therefore shows up in the tail
//! (no coordinated omission). Requests due while `max_in_flight` are still open are not
//! sent and count as errors (`not_sent`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::RequestBuilder;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::api::Api;
use crate::mix::{Mix, Op};
use crate::progress::Output;
use crate::rss::{ProcessMemory, Sampler};
use crate::schedule::{self, Schedule};
use crate::seed::Population;
use crate::sessions::REFRESH_MARGIN;
use crate::stats::{Errors, Outcome, Recorder};
use crate::texts::post_text;

/// How to load the server.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Requests a second.
    pub rate: f64,
    /// The measured window.
    pub duration: Duration,
    /// Sent at the same rate before the window, not measured.
    pub warmup: Duration,
    pub mix: Mix,
    /// Requests sent at once (each holds one keep-alive connection).
    pub connections: usize,
    /// Requests scheduled but not finished at most (waiting for a connection or answered
    /// late); beyond, due requests are counted as `not_sent`.
    pub max_in_flight: usize,
    /// A request without an answer after this long counts as `timeout`.
    pub timeout: Duration,
    /// Page size of the reads.
    pub page_limit: u32,
    /// Seed of the choice of operations, users and texts.
    pub rng_seed: u64,
    /// Server processes whose memory is sampled during the run.
    pub pids: Vec<u32>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            rate: 100.0,
            duration: Duration::from_secs(30),
            warmup: Duration::from_secs(5),
            mix: Mix::social_network(),
            connections: 64,
            max_in_flight: 10_000,
            timeout: Duration::from_secs(10),
            page_limit: 20,
            rng_seed: 1,
            pids: Vec::new(),
        }
    }
}

/// What one run recorded.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub options: RunOptions,
    /// Requests of the measured window (warm-up excluded).
    pub scheduled: u64,
    pub recorder: Recorder,
    /// From the window's start to the last answer of a measured request (at least the
    /// window): the denominator of the achieved rate.
    pub elapsed: Duration,
    /// Measured requests whose task had not ended when the run stopped waiting (an error).
    pub abandoned: u64,
    pub memory: Vec<ProcessMemory>,
}

impl RunResult {
    /// 2xx answers a second over the window.
    pub fn achieved_rate(&self) -> f64 {
        self.recorder.ok() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Errors by kind, the abandoned requests included.
    pub fn errors(&self) -> Errors {
        let mut errors = self.recorder.errors();
        errors.add("abandoned", self.abandoned);
        errors
    }

    /// Errors over measured requests, 0 to 1.
    pub fn error_ratio(&self) -> f64 {
        self.errors().total() as f64 / (self.scheduled.max(1)) as f64
    }
}

/// What a request task needs, shared.
struct Shared {
    api: Api,
    population: Arc<Population>,
    recorder: Mutex<Recorder>,
    connections: Semaphore,
    timeout: Duration,
    page_limit: u32,
    last_answer: Mutex<Instant>,
}

/// One scheduled request.
struct Planned {
    op: Op,
    /// Who sends it.
    user: usize,
    /// For `user`: whose posts; for `compose`: whom it mentions, if anyone.
    other: Option<usize>,
    text: Option<String>,
    due: Instant,
    measured: bool,
}

/// Runs the workload on `population` and returns what it measured.
pub async fn run(
    api: &Api,
    population: &Arc<Population>,
    options: &RunOptions,
    out: &Output,
) -> anyhow::Result<RunResult> {
    anyhow::ensure!(population.users() > 0, "the workload needs seeded users");
    let schedule = Schedule::new(options.rate, options.warmup, options.duration)?;
    // Tokens that would expire during the run are renewed first, then in the background.
    population
        .sessions
        .refresh_due(api, REFRESH_MARGIN + options.warmup + options.duration, 4)
        .await?;
    let in_flight = Arc::new(Semaphore::new(options.max_in_flight.max(1)));
    // Start a little ahead so that the first requests are not late by construction.
    let start = Instant::now() + Duration::from_millis(20);
    let window_start = start + options.warmup;
    let shared = Arc::new(Shared {
        api: api.clone(),
        population: population.clone(),
        recorder: Mutex::new(Recorder::new()?),
        connections: Semaphore::new(options.connections.max(1)),
        timeout: options.timeout,
        page_limit: options.page_limit,
        last_answer: Mutex::new(window_start),
    });
    let sampler = Sampler::start(&options.pids, Duration::from_millis(200));
    let _refresher = population.sessions.keep_fresh(api);
    let bar = out.bar(schedule.total(), &format!("{:.0} req/s", options.rate));
    let mut rng = StdRng::seed_from_u64(options.rng_seed);

    // The scheduler runs on a thread of its own, so requests leave within microseconds of
    // their due time; each request is a task on the runtime.
    let runtime = tokio::runtime::Handle::current();
    let scheduler = {
        let (shared, in_flight, bar, mix) = (
            shared.clone(),
            in_flight.clone(),
            bar.clone(),
            options.mix.clone(),
        );
        let population = population.clone();
        tokio::task::spawn_blocking(move || {
            schedule::drive(&schedule, start.into_std(), |i, due| {
                let planned = plan(
                    &mut rng,
                    &mix,
                    &population,
                    Instant::from_std(due),
                    schedule.is_measured(i),
                );
                match in_flight.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let (shared, bar) = (shared.clone(), bar.clone());
                        runtime.spawn(async move {
                            execute(&shared, planned).await;
                            bar.inc(1);
                            drop(permit);
                        });
                    }
                    Err(_) => {
                        if planned.measured {
                            lock(&shared.recorder).record(planned.op, Outcome::NotSent, None);
                        }
                        bar.inc(1);
                    }
                }
            });
        })
    };
    scheduler
        .await
        .map_err(|e| anyhow::anyhow!("the scheduler stopped: {e}"))?;

    // Wait for the requests still open: each ends by its due time plus the timeout.
    let all = u32::try_from(options.max_in_flight.max(1)).unwrap_or(u32::MAX);
    let grace = options.timeout + Duration::from_secs(5);
    let drained = tokio::time::timeout(grace, in_flight.acquire_many(all)).await;
    bar.finish_and_clear();
    let memory = sampler.stop();

    let recorder = lock(&shared.recorder).clone();
    let recorded = recorder.ok() + recorder.errors().total();
    let abandoned = if drained.is_err() {
        schedule.measured().saturating_sub(recorded)
    } else {
        0
    };
    let last_answer = *lock(&shared.last_answer);
    let elapsed = last_answer
        .saturating_duration_since(window_start)
        .max(options.duration);
    Ok(RunResult {
        options: options.clone(),
        scheduled: schedule.measured(),
        recorder,
        elapsed,
        abandoned,
        memory,
    })
}

fn plan(
    rng: &mut StdRng,
    mix: &Mix,
    population: &Population,
    due: Instant,
    measured: bool,
) -> Planned {
    let op = mix.pick(rng);
    let users = population.users();
    let user = rng.gen_range(0..users);
    let (other, text) = match op {
        Op::Home => (None, None),
        // Popular authors are read more, as they are followed more.
        Op::User => (Some(population.zipf.sample(rng)), None),
        Op::Compose => {
            let mention = rng.gen_bool(0.2).then(|| population.zipf.sample(rng));
            let name = mention.map(|m| population.sessions.username(m).to_owned());
            (mention, Some(post_text(rng, name.as_deref())))
        }
    };
    Planned {
        op,
        user,
        other,
        text,
        due,
        measured,
    }
}

/// Sends one request when a connection is free and records it. The timeout counts from the
/// due time, so every task ends by `due + timeout`.
async fn execute(shared: &Shared, planned: Planned) {
    let attempt = async {
        let _connection = shared.connections.acquire().await.map_err(drop)?;
        if planned.measured {
            lock(&shared.recorder)
                .record_lag(Instant::now().saturating_duration_since(planned.due));
        }
        send(build(shared, &planned)).await
    };
    let outcome = match tokio::time::timeout_at(planned.due + shared.timeout, attempt).await {
        Ok(Ok(status)) => Outcome::of_status(status),
        Ok(Err(())) => Outcome::Transport,
        Err(_) => Outcome::Timeout,
    };
    let answered = Instant::now();
    if planned.measured {
        lock(&shared.recorder).record(
            planned.op,
            outcome,
            Some(answered.saturating_duration_since(planned.due)),
        );
        let mut last = lock(&shared.last_answer);
        if answered > *last {
            *last = answered;
        }
    }
}

/// Sends and reads the whole answer; the status, or `Err` on a transport failure.
async fn send(request: RequestBuilder) -> Result<u16, ()> {
    let response = request.send().await.map_err(drop)?;
    let status = response.status().as_u16();
    response.bytes().await.map_err(drop)?;
    Ok(status)
}

fn build(shared: &Shared, planned: &Planned) -> RequestBuilder {
    let api = &shared.api;
    let sessions = &shared.population.sessions;
    let token = sessions.access(planned.user);
    let limit = shared.page_limit;
    let request = match planned.op {
        Op::Home => api
            .client()
            .get(api.url(&format!("/api/v1/timeline/home?limit={limit}"))),
        Op::User => {
            let author = sessions.username(planned.other.unwrap_or(planned.user));
            api.client()
                .get(api.url(&format!("/api/v1/posts?author={author}&limit={limit}")))
        }
        Op::Compose => api
            .client()
            .post(api.url("/api/v1/posts"))
            .json(&json!({"text": planned.text.as_deref().unwrap_or("hello #loadgen")})),
    };
    request.bearer_auth(&*token)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
