//! Open-loop schedule arithmetic: request `i` is due `i / rate` seconds after the start,
//! whatever happened to the requests before it. Latency counts from that due time, so a
//! server that stalls shows up in the tail instead of slowing the load down (no coordinated
//! omission).

use std::time::{Duration, Instant};

/// A constant-rate schedule: a warm-up (sent, not measured), then the measured window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    rate: f64,
    warmup: Duration,
    duration: Duration,
    total: u64,
    warmup_count: u64,
}

impl Schedule {
    /// `rate` requests a second for `warmup` and then `duration`.
    pub fn new(rate: f64, warmup: Duration, duration: Duration) -> anyhow::Result<Self> {
        anyhow::ensure!(
            rate.is_finite() && rate > 0.0,
            "the rate must be a positive number of requests a second, not {rate}"
        );
        anyhow::ensure!(!duration.is_zero(), "the duration must be above 0");
        let mut schedule = Self {
            rate,
            warmup,
            duration,
            total: 0,
            warmup_count: 0,
        };
        schedule.total = schedule.count_before(warmup + duration);
        schedule.warmup_count = schedule.count_before(warmup);
        Ok(schedule)
    }

    /// Requests a second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The warm-up.
    pub fn warmup(&self) -> Duration {
        self.warmup
    }

    /// The measured window.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// Every request of the schedule, warm-up included.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The requests of the measured window.
    pub fn measured(&self) -> u64 {
        self.total - self.warmup_count
    }

    /// Whether request `i` falls in the measured window (after the warm-up).
    pub fn is_measured(&self, i: u64) -> bool {
        i >= self.warmup_count
    }

    /// When request `i` is due, from the start.
    pub fn offset(&self, i: u64) -> Duration {
        Duration::from_nanos(self.offset_nanos(i))
    }

    /// How many requests are due once `elapsed` has passed (those due at or before it),
    /// at most [`Self::total`].
    pub fn due_by(&self, elapsed: Duration) -> u64 {
        let at = elapsed.as_nanos();
        // An estimate from floating point, then corrected against `offset` exactly.
        let mut n = ((elapsed.as_secs_f64() * self.rate).floor() as u64).saturating_add(1);
        while n > 0 && u128::from(self.offset_nanos(n - 1)) > at {
            n -= 1;
        }
        while n < self.total && u128::from(self.offset_nanos(n)) <= at {
            n += 1;
        }
        n.min(self.total)
    }

    /// How many requests are due strictly before `limit`.
    fn count_before(&self, limit: Duration) -> u64 {
        let at = limit.as_nanos();
        let mut n = (limit.as_secs_f64() * self.rate).ceil() as u64;
        while n > 0 && u128::from(self.offset_nanos(n - 1)) >= at {
            n -= 1;
        }
        while u128::from(self.offset_nanos(n)) < at {
            n += 1;
        }
        n
    }

    fn offset_nanos(&self, i: u64) -> u64 {
        (i as f64 * 1e9 / self.rate).round() as u64
    }
}

/// Releases the requests of `schedule` from `start`: calls `release(i, due)` for each
/// request once it is due, in order, late ones at once (with their original due time). Meant
/// for a thread of its own (`tokio::task::spawn_blocking`): the OS sleep wakes within tens of
/// microseconds, where the async runtime's timer rounds up to the next millisecond.
pub fn drive(schedule: &Schedule, start: Instant, mut release: impl FnMut(u64, Instant)) {
    let mut next = 0u64;
    while next < schedule.total() {
        let due_now = schedule.due_by(Instant::now().saturating_duration_since(start));
        while next < due_now {
            release(next, start + schedule.offset(next));
            next += 1;
        }
        if next < schedule.total() {
            let wait = (start + schedule.offset(next)).saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
        }
    }
}

/// Parses `30s`, `500ms`, `2m`, `1h` or a bare number of seconds (`1.5`).
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| anyhow::anyhow!("{text:?} is not a duration (e.g. 30s, 500ms, 2m)"))?;
    let seconds = match unit.trim() {
        "" | "s" | "sec" | "secs" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => anyhow::bail!("unknown unit {other:?} in {text:?}: use ms, s, m or h"),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| anyhow::anyhow!("{text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn counts_requests_of_warmup_and_window() {
        let s = Schedule::new(50.0, secs(1.0), secs(3.0)).unwrap();
        assert_eq!(s.total(), 200);
        assert_eq!(s.measured(), 150);
        assert!(!s.is_measured(49));
        assert!(s.is_measured(50));
        assert_eq!(s.offset(50), secs(1.0));
        let s = Schedule::new(50.0, Duration::ZERO, secs(3.0)).unwrap();
        assert_eq!((s.total(), s.measured()), (150, 150));
        assert!(s.is_measured(0));
    }

    #[test]
    fn requests_are_evenly_spaced() {
        let s = Schedule::new(4000.0, Duration::ZERO, secs(1.0)).unwrap();
        assert_eq!(s.offset(0), Duration::ZERO);
        assert_eq!(s.offset(1), Duration::from_micros(250));
        assert_eq!(s.offset(3999), Duration::from_micros(999_750));
        let third = Schedule::new(3.0, Duration::ZERO, secs(1.0)).unwrap();
        assert_eq!(third.offset(1), Duration::from_nanos(333_333_333));
        assert_eq!(third.offset(2), Duration::from_nanos(666_666_667));
    }

    #[test]
    fn fractional_rates_and_windows() {
        // One request every 2 s over 3 s: at 0 s and 2 s.
        let s = Schedule::new(0.5, Duration::ZERO, secs(3.0)).unwrap();
        assert_eq!(s.total(), 2);
        // 3/s over 2.5 s: 0, 0.33, 0.67, 1, 1.33, 1.67, 2, 2.33.
        let s = Schedule::new(3.0, Duration::ZERO, secs(2.5)).unwrap();
        assert_eq!(s.total(), 8);
        // 0.1 s at 10/s is one request (at 0), not two from rounding.
        let s = Schedule::new(10.0, Duration::ZERO, secs(0.1)).unwrap();
        assert_eq!(s.total(), 1);
    }

    #[test]
    fn due_counts_what_is_due_at_or_before_now() {
        let s = Schedule::new(50.0, Duration::ZERO, secs(1.0)).unwrap();
        assert_eq!(s.due_by(Duration::ZERO), 1);
        assert_eq!(s.due_by(Duration::from_micros(19_999)), 1);
        assert_eq!(s.due_by(Duration::from_millis(20)), 2);
        assert_eq!(s.due_by(Duration::from_millis(990)), 50);
        // Late or stalled: everything due is released at once, never more than the schedule.
        assert_eq!(s.due_by(secs(10.0)), 50);
        for ms in 0..1000 {
            let due = s.due_by(Duration::from_millis(ms));
            assert!(s.offset(due - 1) <= Duration::from_millis(ms));
            if due < s.total() {
                assert!(s.offset(due) > Duration::from_millis(ms));
            }
        }
    }

    #[test]
    fn drive_releases_every_request_in_order_and_on_time() {
        let s = Schedule::new(200.0, Duration::ZERO, secs(0.1)).unwrap();
        let start = Instant::now();
        let mut released = Vec::new();
        drive(&s, start, |i, due| released.push((i, due, Instant::now())));
        assert_eq!(released.len(), 20);
        for (n, (i, due, at)) in released.iter().enumerate() {
            assert_eq!(*i, n as u64);
            assert_eq!(*due, start + s.offset(*i));
            assert!(at >= due, "released early");
        }
        // Started late: everything already due goes at once, keeping its due time.
        let late = Instant::now() - Duration::from_millis(50);
        let mut first_batch = 0;
        drive(&s, late, |_, due| {
            if due <= late + Duration::from_millis(50) {
                first_batch += 1;
            }
        });
        assert!(first_batch >= 10, "{first_batch}");
    }

    #[test]
    fn refuses_bad_rates() {
        assert!(Schedule::new(0.0, Duration::ZERO, secs(1.0)).is_err());
        assert!(Schedule::new(-5.0, Duration::ZERO, secs(1.0)).is_err());
        assert!(Schedule::new(f64::INFINITY, Duration::ZERO, secs(1.0)).is_err());
        assert!(Schedule::new(10.0, Duration::ZERO, Duration::ZERO).is_err());
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("30s").unwrap(), secs(30.0));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), secs(120.0));
        assert_eq!(parse_duration("1.5").unwrap(), secs(1.5));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
