//! The open-loop constant-rate workload. Request `i` is due at `start + i/R` whatever
//! became of the earlier ones; once due it waits in a queue for one of the `connections`
//! keep-alive connections, is sent, its whole answer read, and its latency recorded from
//! its due time. A stalled server therefore shows up in the tail (no coordinated omission).
//! Requests due while `max_in_flight` are still open are not sent and count as errors
//! (`not_sent`); a request still queued at its timeout is not sent either (`timeout`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::api::Api;
use crate::http1::{Connection, Target};
use crate::machine::{CpuShare, CpuTimes};
use crate::mix::{Mix, Op};
use crate::progress::Output;
use crate::rss::{ProcessMemory, Sampler};
use crate::schedule::Schedule;
use crate::seed::Population;
use crate::sessions::REFRESH_MARGIN;
use crate::stats::{Errors, Outcome, Recorder};
use crate::texts::post_text;
use crate::timer::DueTimer;

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
    /// The machine's CPU over the run (warm-up included): busy, and stolen by a hypervisor.
    pub cpu: Option<CpuShare>,
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

/// What the workers share.
struct Shared {
    target: Target,
    population: Arc<Population>,
    recorder: Mutex<Recorder>,
    queue: Queue,
    /// Requests released and not finished (queued or in a worker).
    in_flight: AtomicUsize,
    timeout: Duration,
    page_limit: u32,
    last_answer: Mutex<Instant>,
    bar: indicatif::ProgressBar,
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

/// Due requests waiting for a free connection, in due order.
#[derive(Default)]
struct Queue {
    state: Mutex<QueueState>,
    ready: Notify,
}

#[derive(Default)]
struct QueueState {
    pending: VecDeque<Planned>,
    closed: bool,
}

impl Queue {
    fn push(&self, planned: Planned) {
        lock(&self.state).pending.push_back(planned);
        self.ready.notify_one();
    }

    /// No more requests: the workers end once the queue is empty.
    fn close(&self) {
        lock(&self.state).closed = true;
        self.ready.notify_waiters();
    }

    /// The oldest due request, or `None` once closed and empty.
    async fn next(&self) -> Option<Planned> {
        loop {
            let ready = self.ready.notified();
            tokio::pin!(ready);
            // Registered before looking, so a push or close in between still wakes it.
            ready.as_mut().enable();
            {
                let mut state = lock(&self.state);
                if let Some(planned) = state.pending.pop_front() {
                    return Some(planned);
                }
                if state.closed {
                    return None;
                }
            }
            ready.await;
        }
    }
}

/// Runs the workload on `population` and returns what it measured.
///
/// The requests are sent from a thread of their own running a single-threaded runtime:
/// a dispatcher releases each request at its due time (`timer::DueTimer`; the latency
/// counts from the request's own due time, so releasing late shows) into a queue that
/// `connections` workers, one keep-alive connection each, take from in order. One thread
/// and no hand-off between threads keep the generator's own CPU per request small: it
/// shares the machine with the server it measures.
pub async fn run(
    api: &Api,
    population: &Arc<Population>,
    options: &RunOptions,
    out: &Output,
) -> anyhow::Result<RunResult> {
    anyhow::ensure!(population.users() > 0, "the workload needs seeded users");
    let schedule = Schedule::new(options.rate, options.warmup, options.duration)?;
    let target = Target::new(api.base())?;
    // Tokens that would expire during the run are renewed first, then in the background.
    population
        .sessions
        .refresh_due(api, REFRESH_MARGIN + options.warmup + options.duration, 4)
        .await?;
    let bar = out.bar(schedule.total(), &format!("{:.0} req/s", options.rate));
    // Start a little ahead so that the first requests are not late by construction.
    let start = Instant::now() + Duration::from_millis(20);
    let window_start = start + options.warmup;
    let shared = Arc::new(Shared {
        target,
        population: population.clone(),
        recorder: Mutex::new(Recorder::new()?),
        queue: Queue::default(),
        in_flight: AtomicUsize::new(0),
        timeout: options.timeout,
        page_limit: options.page_limit,
        last_answer: Mutex::new(window_start),
        bar: bar.clone(),
    });
    let sampler = Sampler::start(&options.pids, Duration::from_millis(200));
    let cpu_before = CpuTimes::read();
    let _refresher = population.sessions.keep_fresh(api);

    let engine = {
        let (shared, options) = (shared.clone(), options.clone());
        std::thread::Builder::new()
            .name("loadgen-engine".into())
            .spawn(move || -> anyhow::Result<bool> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                Ok(runtime.block_on(engine(shared, schedule, start, options)))
            })?
    };
    let drained = tokio::task::spawn_blocking(move || engine.join())
        .await
        .map_err(|e| anyhow::anyhow!("the load engine stopped: {e}"))?
        .map_err(|_| anyhow::anyhow!("the load engine panicked"))??;
    bar.finish_and_clear();
    let memory = sampler.stop();
    let cpu = CpuTimes::read()
        .zip(cpu_before)
        .and_then(|(after, before)| after.since(&before));

    let recorder = lock(&shared.recorder).clone();
    let recorded = recorder.ok() + recorder.errors().total();
    let abandoned = if drained {
        0
    } else {
        schedule.measured().saturating_sub(recorded)
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
        cpu,
    })
}

/// Releases the schedule's requests into the queue and waits for the workers; `false` when
/// some were still open after the last one's timeout and a grace period.
async fn engine(
    shared: Arc<Shared>,
    schedule: Schedule,
    start: Instant,
    options: RunOptions,
) -> bool {
    let workers: Vec<_> = (0..options.connections.max(1))
        .map(|_| tokio::spawn(worker(shared.clone())))
        .collect();
    let mut rng = StdRng::seed_from_u64(options.rng_seed);
    let max_in_flight = options.max_in_flight.max(1);
    let mut timer = DueTimer::new().ok();
    let mut next = 0u64;
    while next < schedule.total() {
        let due_now = schedule.due_by(Instant::now().saturating_duration_since(start));
        while next < due_now {
            let planned = plan(
                &mut rng,
                &options.mix,
                &shared.population,
                start + schedule.offset(next),
                schedule.is_measured(next),
            );
            next += 1;
            if shared.in_flight.load(Ordering::Relaxed) < max_in_flight {
                shared.in_flight.fetch_add(1, Ordering::Relaxed);
                shared.queue.push(planned);
            } else {
                if planned.measured {
                    lock(&shared.recorder).record(planned.op, Outcome::NotSent, None);
                }
                shared.bar.inc(1);
            }
        }
        if next < schedule.total() {
            let due = start + schedule.offset(next);
            // Without a timer of the kernel's, tokio's (to the next millisecond).
            let precise = match timer.as_mut() {
                Some(timer) => timer.sleep_until(due).await.is_ok(),
                None => false,
            };
            if !precise {
                tokio::time::sleep_until(due).await;
            }
        }
    }
    shared.queue.close();
    // Every request ends by its due time plus the timeout; the last is due now.
    let grace = options.timeout + Duration::from_secs(5);
    tokio::time::timeout(grace, futures::future::join_all(workers))
        .await
        .is_ok()
}

/// Sends the queue's requests one at a time on a connection of its own.
async fn worker(shared: Arc<Shared>) {
    let mut connection = Connection::default();
    while let Some(planned) = shared.queue.next().await {
        execute(&shared, &mut connection, planned).await;
        shared.in_flight.fetch_sub(1, Ordering::Relaxed);
        shared.bar.inc(1);
    }
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

/// Sends one request and records it. The timeout counts from the due time, so every
/// request ends by `due + timeout`.
async fn execute(shared: &Shared, connection: &mut Connection, planned: Planned) {
    if planned.measured {
        lock(&shared.recorder).record_lag(Instant::now().saturating_duration_since(planned.due));
    }
    let deadline = planned.due + shared.timeout;
    let outcome = if Instant::now() >= deadline {
        // Waited in the queue past its timeout: not sent to a server that far behind.
        Outcome::Timeout
    } else {
        match build(shared, &planned) {
            Ok(request) => {
                let exchange = connection.send(&shared.target, request);
                match tokio::time::timeout_at(deadline, exchange).await {
                    Ok(Ok(status)) => Outcome::of_status(status),
                    Ok(Err(())) => Outcome::Transport,
                    Err(_) => Outcome::Timeout,
                }
            }
            Err(_) => Outcome::Transport,
        }
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

fn build(shared: &Shared, planned: &Planned) -> anyhow::Result<Request<Full<Bytes>>> {
    let sessions = &shared.population.sessions;
    let token = sessions.access(planned.user);
    let limit = shared.page_limit;
    let target = &shared.target;
    match planned.op {
        Op::Home => target.request(
            Method::GET,
            &format!("/api/v1/timeline/home?limit={limit}"),
            &token,
            None,
        ),
        Op::User => {
            let author = sessions.username(planned.other.unwrap_or(planned.user));
            target.request(
                Method::GET,
                &format!("/api/v1/posts?author={author}&limit={limit}"),
                &token,
                None,
            )
        }
        Op::Compose => {
            let text = planned.text.as_deref().unwrap_or("hello #loadgen");
            let body = serde_json::to_vec(&json!({ "text": text }))?;
            target.request(Method::POST, "/api/v1/posts", &token, Some(body))
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
