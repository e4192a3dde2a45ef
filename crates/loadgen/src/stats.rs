//! What a run records: latency histograms (HdrHistogram, microseconds) per operation and for
//! the whole mix, errors by HTTP status or transport failure, and the summaries reports show.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::mix::Op;

/// Microseconds from 1 µs to one hour, three significant digits.
pub fn histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3)
        .map_err(|e| anyhow::anyhow!("creating a histogram: {e}"))
}

/// Records `latency` (saturating at the histogram's bounds).
pub fn record(histogram: &mut Histogram<u64>, latency: Duration) {
    let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    histogram.saturating_record(micros.max(1));
}

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer.
    Ok,
    /// Any other HTTP status.
    Status(u16),
    /// No answer within the request timeout.
    Timeout,
    /// Connection refused or reset, or an unreadable answer.
    Transport,
    /// Never sent: the in-flight cap was reached when it was due.
    NotSent,
}

impl Outcome {
    /// The outcome of an HTTP status.
    pub fn of_status(status: u16) -> Self {
        if (200..300).contains(&status) {
            Outcome::Ok
        } else {
            Outcome::Status(status)
        }
    }
}

/// Errors by kind: HTTP status (`"503"`), `"timeout"`, `"transport"`, `"not_sent"`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Errors(BTreeMap<String, u64>);

impl Errors {
    /// Counts a failed outcome (a success is not an error).
    pub fn count(&mut self, outcome: Outcome) {
        let key = match outcome {
            Outcome::Ok => return,
            Outcome::Status(status) => status.to_string(),
            Outcome::Timeout => "timeout".to_owned(),
            Outcome::Transport => "transport".to_owned(),
            Outcome::NotSent => "not_sent".to_owned(),
        };
        *self.0.entry(key).or_default() += 1;
    }

    /// Adds `n` errors of kind `key` (none when `n` is 0).
    pub fn add(&mut self, key: &str, n: u64) {
        if n > 0 {
            *self.0.entry(key.to_owned()).or_default() += n;
        }
    }

    /// Adds another set of errors.
    pub fn merge(&mut self, other: &Errors) {
        for (key, n) in &other.0 {
            *self.0.entry(key.clone()).or_default() += n;
        }
    }

    /// All errors.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// `503: 12, timeout: 3`, or `none`.
    pub fn describe(&self) -> String {
        if self.0.is_empty() {
            return "none".to_owned();
        }
        self.0
            .iter()
            .map(|(key, n)| format!("{key}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Percentiles of a histogram, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Recorded values.
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Summary {
    /// The summary of `histogram` (all zeros when it is empty).
    pub fn of(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return Self::default();
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        Self {
            count: histogram.len(),
            mean_ms: histogram.mean() / 1000.0,
            p50_ms: ms(histogram.value_at_quantile(0.50)),
            p90_ms: ms(histogram.value_at_quantile(0.90)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            p999_ms: ms(histogram.value_at_quantile(0.999)),
            max_ms: ms(histogram.max()),
        }
    }
}

/// One operation's record.
#[derive(Debug, Clone)]
pub struct OpRecord {
    /// Latency of every request that was sent (successful or not), from its due time.
    pub latency: Histogram<u64>,
    /// 2xx answers.
    pub ok: u64,
    /// Failures by kind.
    pub errors: Errors,
}

/// Everything a run records, per operation and for the mix.
#[derive(Debug, Clone)]
pub struct Recorder {
    ops: BTreeMap<Op, OpRecord>,
    all: Histogram<u64>,
    lag: Histogram<u64>,
}

impl Recorder {
    /// An empty record.
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            ops: BTreeMap::new(),
            all: histogram()?,
            lag: histogram()?,
        })
    }

    /// Records one request: its outcome and, if it was sent, its latency from its due time.
    pub fn record(&mut self, op: Op, outcome: Outcome, latency: Option<Duration>) {
        let entry = match self.ops.entry(op) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => e.insert(OpRecord {
                latency: Histogram::new_from(&self.all),
                ok: 0,
                errors: Errors::default(),
            }),
        };
        if outcome == Outcome::Ok {
            entry.ok += 1;
        } else {
            entry.errors.count(outcome);
        }
        if let Some(latency) = latency {
            record(&mut entry.latency, latency);
            record(&mut self.all, latency);
        }
    }

    /// Records how late a request left compared with its due time (the generator's own
    /// delay: timer granularity, a busy machine, or waiting for a free connection).
    pub fn record_lag(&mut self, lag: Duration) {
        record(&mut self.lag, lag);
    }

    /// The record of `op`, if any request of it was recorded.
    pub fn op(&self, op: Op) -> Option<&OpRecord> {
        self.ops.get(&op)
    }

    /// Every operation recorded.
    pub fn ops(&self) -> impl Iterator<Item = (Op, &OpRecord)> {
        self.ops.iter().map(|(op, record)| (*op, record))
    }

    /// Latency of the whole mix.
    pub fn all(&self) -> &Histogram<u64> {
        &self.all
    }

    /// Send delay behind the schedule.
    pub fn lag(&self) -> &Histogram<u64> {
        &self.lag
    }

    /// 2xx answers of every operation.
    pub fn ok(&self) -> u64 {
        self.ops.values().map(|r| r.ok).sum()
    }

    /// Errors of every operation.
    pub fn errors(&self) -> Errors {
        let mut errors = Errors::default();
        for record in self.ops.values() {
            errors.merge(&record.errors);
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_in_milliseconds() {
        let mut h = histogram().unwrap();
        for ms in 1..=1000u64 {
            record(&mut h, Duration::from_millis(ms));
        }
        let s = Summary::of(&h);
        assert_eq!(s.count, 1000);
        let close = |got: f64, want: f64| (got - want).abs() <= want * 0.001 + 0.001;
        assert!(close(s.p50_ms, 500.0), "{s:?}");
        assert!(close(s.p90_ms, 900.0), "{s:?}");
        assert!(close(s.p99_ms, 990.0), "{s:?}");
        assert!(close(s.p999_ms, 999.0), "{s:?}");
        assert!(close(s.max_ms, 1000.0), "{s:?}");
        assert!(close(s.mean_ms, 500.5), "{s:?}");
    }

    #[test]
    fn a_tail_shows_in_the_high_percentiles_only() {
        let mut h = histogram().unwrap();
        for _ in 0..990 {
            record(&mut h, Duration::from_millis(2));
        }
        for _ in 0..10 {
            record(&mut h, Duration::from_secs(3));
        }
        let s = Summary::of(&h);
        assert!((s.p50_ms - 2.0).abs() < 0.01);
        assert!((s.p99_ms - 2.0).abs() < 0.01);
        assert!((s.p999_ms - 3000.0).abs() < 3.0);
        assert!((s.max_ms - 3000.0).abs() < 3.0);
    }

    #[test]
    fn empty_and_out_of_range() {
        assert_eq!(Summary::of(&histogram().unwrap()), Summary::default());
        let mut h = histogram().unwrap();
        record(&mut h, Duration::ZERO);
        record(&mut h, Duration::from_secs(100_000));
        let s = Summary::of(&h);
        assert_eq!(s.count, 2);
        assert!(s.max_ms >= 3_600_000.0 * 0.999);
    }

    #[test]
    fn errors_by_status_and_kind() {
        let mut r = Recorder::new().unwrap();
        r.record(
            Op::Home,
            Outcome::of_status(200),
            Some(Duration::from_millis(3)),
        );
        r.record(
            Op::Home,
            Outcome::of_status(503),
            Some(Duration::from_millis(1)),
        );
        r.record(
            Op::Compose,
            Outcome::of_status(201),
            Some(Duration::from_millis(9)),
        );
        r.record(Op::Compose, Outcome::Timeout, Some(Duration::from_secs(10)));
        r.record(Op::Compose, Outcome::NotSent, None);
        r.record(Op::User, Outcome::Transport, Some(Duration::from_millis(1)));
        assert_eq!(r.ok(), 2);
        let errors = r.errors();
        assert_eq!(errors.total(), 4);
        assert_eq!(
            errors.describe(),
            "503: 1, not_sent: 1, timeout: 1, transport: 1"
        );
        assert_eq!(
            serde_json::to_value(&errors).unwrap(),
            serde_json::json!({"503": 1, "not_sent": 1, "timeout": 1, "transport": 1})
        );
        // Unsent requests have no latency; every sent one has.
        assert_eq!(r.all().len(), 5);
        assert_eq!(r.op(Op::Compose).unwrap().latency.len(), 2);
        assert_eq!(r.op(Op::Compose).unwrap().errors.total(), 2);
        assert_eq!(Errors::default().describe(), "none");
    }
}
