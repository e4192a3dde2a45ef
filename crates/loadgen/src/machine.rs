//! The machine's CPU time over a run, from `/proc/stat`: how busy it was, and how much of it
//! the hypervisor gave to other guests (`steal`). On a shared virtual machine the same binary
//! can measure twice as fast one hour as the next; the steal share says which runs were
//! measured on a machine that was not all theirs.

use serde::Serialize;

/// Cumulative CPU time of all cores, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTimes {
    total: u64,
    idle: u64,
    steal: u64,
}

/// Shares of all the machine's CPU time over an interval, 0 to 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CpuShare {
    /// Running anything (user, system, interrupts), steal excluded.
    pub busy: f64,
    /// Taken by the hypervisor for other guests.
    pub steal: f64,
}

/// A steal share above this makes a run's numbers those of a slower machine.
pub const STEAL_WARNING: f64 = 0.05;

impl CpuTimes {
    /// The machine's counters now; `None` where `/proc/stat` is not readable.
    pub fn read() -> Option<Self> {
        parse_stat(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    /// The shares of the interval from `earlier` to `self`; `None` when no time passed.
    pub fn since(&self, earlier: &CpuTimes) -> Option<CpuShare> {
        let total = self.total.checked_sub(earlier.total)?;
        if total == 0 {
            return None;
        }
        let idle = self.idle.saturating_sub(earlier.idle);
        let steal = self.steal.saturating_sub(earlier.steal);
        let busy = total.saturating_sub(idle).saturating_sub(steal);
        Some(CpuShare {
            busy: busy as f64 / total as f64,
            steal: steal as f64 / total as f64,
        })
    }
}

/// The `cpu` line of a `/proc/stat` text: user nice system idle iowait irq softirq steal
/// (guest time is already counted in user).
pub fn parse_stat(stat: &str) -> Option<CpuTimes> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let [user, nice, system, idle, iowait, irq, softirq, steal] = fields[..] else {
        return None;
    };
    Some(CpuTimes {
        total: user + nice + system + idle + iowait + irq + softirq + steal,
        idle: idle + iowait,
        steal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_of_an_interval() {
        let before =
            parse_stat("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\n").unwrap();
        let after = parse_stat("cpu  300 0 100 1000 50 0 50 300 0 0\n").unwrap();
        // 800 ticks: 300 busy (200 user, 50 system, 50 softirq), 200 idle, 300 stolen.
        let share = after.since(&before).unwrap();
        assert!((share.steal - 300.0 / 800.0).abs() < 1e-9, "{share:?}");
        assert!((share.busy - 300.0 / 800.0).abs() < 1e-9, "{share:?}");
        assert_eq!(after.since(&after), None);
    }

    #[test]
    fn refuses_what_is_not_a_stat_line() {
        assert_eq!(parse_stat("intr 1 2 3"), None);
        assert_eq!(parse_stat("cpu  1 2 x 4 5 6 7 8"), None);
        assert_eq!(parse_stat("cpu  1 2 3"), None);
    }

    #[test]
    fn reads_this_machine() {
        #[cfg(target_os = "linux")]
        {
            let first = CpuTimes::read().expect("/proc/stat");
            std::thread::sleep(std::time::Duration::from_millis(50));
            let second = CpuTimes::read().expect("/proc/stat");
            assert!(second.total >= first.total);
        }
    }
}
