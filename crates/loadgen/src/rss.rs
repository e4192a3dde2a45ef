//! Resident memory of the server processes (`--pid`), sampled from `/proc/<pid>/status`
//! while a run goes on: the highest `VmRSS` seen, and `VmHWM` (the kernel's own peak).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

/// `VmRSS` and `VmHWM` of a `/proc/<pid>/status` text, in KiB.
pub fn parse_status(status: &str) -> (Option<u64>, Option<u64>) {
    let field = |name: &str| {
        status.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse::<u64>().ok()
        })
    };
    (field("VmRSS"), field("VmHWM"))
}

/// One process's memory over a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ProcessMemory {
    pub pid: u32,
    /// Highest `VmRSS` sampled during the run, KiB.
    pub peak_rss_kib: u64,
    /// `VmHWM` at the last sample: the process's peak since it started, KiB.
    pub hwm_kib: u64,
    /// Samples read.
    pub samples: u64,
}

impl ProcessMemory {
    fn observe(&mut self, rss: Option<u64>, hwm: Option<u64>) {
        self.samples += 1;
        self.peak_rss_kib = self.peak_rss_kib.max(rss.unwrap_or(0));
        self.hwm_kib = self.hwm_kib.max(hwm.unwrap_or(0));
    }
}

/// The summed peaks of several processes, MiB (`None` without processes).
pub fn total_peak_mib(processes: &[ProcessMemory]) -> Option<f64> {
    if processes.is_empty() {
        return None;
    }
    Some(processes.iter().map(|p| p.peak_rss_kib).sum::<u64>() as f64 / 1024.0)
}

/// Samples the processes in the background until [`Sampler::stop`].
pub struct Sampler {
    pids: Vec<u32>,
    seen: Arc<Mutex<BTreeMap<u32, ProcessMemory>>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Sampler {
    /// Starts sampling `pids` every `interval` (nothing when `pids` is empty).
    pub fn start(pids: &[u32], interval: Duration) -> Self {
        let seen = Arc::new(Mutex::new(BTreeMap::new()));
        if pids.is_empty() {
            return Self {
                pids: Vec::new(),
                seen,
                task: None,
            };
        }
        let shared = seen.clone();
        let sampled = pids.to_vec();
        let task = tokio::spawn(async move {
            let pids = sampled;
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                sample(&pids, &shared);
            }
        });
        Self {
            pids: pids.to_vec(),
            seen,
            task: Some(task),
        }
    }

    /// Stops sampling and returns what was seen (one last sample first).
    pub fn stop(mut self) -> Vec<ProcessMemory> {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        sample(&self.pids, &self.seen);
        lock(&self.seen).values().copied().collect()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn sample(pids: &[u32], seen: &Mutex<BTreeMap<u32, ProcessMemory>>) {
    for &pid in pids {
        // A process that is gone is simply not sampled again.
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let (rss, hwm) = parse_status(&status);
        lock(seen)
            .entry(pid)
            .or_insert(ProcessMemory {
                pid,
                ..ProcessMemory::default()
            })
            .observe(rss, hwm);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Checks that each pid names a running process, before a run relies on it.
pub fn check_pids(pids: &[u32]) -> anyhow::Result<()> {
    for pid in pids {
        anyhow::ensure!(
            std::path::Path::new(&format!("/proc/{pid}/status")).exists(),
            "no process {pid} to sample (--pid)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rss_and_hwm() {
        let status = "Name:\tsocialdevs\nVmPeak:\t  999 kB\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\nThreads:\t9\n";
        assert_eq!(parse_status(status), (Some(40960), Some(51200)));
        assert_eq!(parse_status("Name:\tkthreadd\n"), (None, None));
    }

    #[test]
    fn peaks_and_totals() {
        let mut p = ProcessMemory::default();
        p.observe(Some(100), Some(150));
        p.observe(Some(300), Some(300));
        p.observe(Some(200), None);
        assert_eq!((p.peak_rss_kib, p.hwm_kib, p.samples), (300, 300, 3));
        let q = ProcessMemory {
            peak_rss_kib: 724,
            ..ProcessMemory::default()
        };
        assert_eq!(total_peak_mib(&[p, q]), Some(1.0));
        assert_eq!(total_peak_mib(&[]), None);
    }

    #[tokio::test]
    async fn samples_this_process() {
        let sampler = Sampler::start(&[std::process::id()], Duration::from_millis(10));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let seen = sampler.stop();
        assert_eq!(seen.len(), 1);
        assert!(seen[0].peak_rss_kib > 0 && seen[0].hwm_kib >= seen[0].peak_rss_kib / 2);
        assert!(seen[0].samples >= 2);
    }
}
