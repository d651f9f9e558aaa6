//! What /proc says about a process: CPU time (its own, and that of the children it has
//! reaped) and memory (VmRSS, VmHWM), plus a sampler for the peak RSS over an interval.

use anyhow::Context;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// CPU seconds of a process.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTimes {
    /// utime + stime of the process itself.
    pub own: f64,
    /// cutime + cstime: the children it has waited for (and their waited-for children).
    pub children: f64,
}

impl std::ops::Sub for CpuTimes {
    type Output = CpuTimes;

    /// The CPU used between two readings.
    fn sub(self, earlier: CpuTimes) -> CpuTimes {
        CpuTimes {
            own: self.own - earlier.own,
            children: self.children - earlier.children,
        }
    }
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`).
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// The children of `parent`, each with its state letter from /proc/PID/stat (`Z` for a
/// child that exited and was not reaped).
pub fn children(parent: u32) -> Vec<(u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
            let state = fields.next()?.to_string();
            let ppid: u32 = fields.next()?.parse().ok()?;
            (ppid == parent).then_some((pid, state))
        })
        .collect()
}

/// Parses the text of `/proc/PID/stat` into CPU times.
pub fn parse_stat(text: &str) -> anyhow::Result<CpuTimes> {
    // The command name (field 2) may contain spaces: fields are counted after its ')'.
    let after = &text[text.rfind(')').context("no ')' in stat")? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // fields[0] is field 3 (state); utime is field 14.
    let field = |n: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(n - 3)
            .with_context(|| format!("stat has no field {n}"))?
            .parse::<u64>()? as f64)
    };
    let tick = ticks_per_second();
    Ok(CpuTimes {
        own: (field(14)? + field(15)?) / tick,
        children: (field(16)? + field(17)?) / tick,
    })
}

/// CPU times of `pid`.
pub fn cpu_times(pid: u32) -> anyhow::Result<CpuTimes> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("read /proc/{pid}/stat"))?;
    parse_stat(&text)
}

/// A `kB` field of `/proc/PID/status`.
fn status_kib(pid: u32, key: &str) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status"))?;
    parse_status_kib(&text, key).with_context(|| format!("no {key} in /proc/{pid}/status"))
}

/// The value in kB of `key` in the text of a status file.
pub fn parse_status_kib(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

/// Nanoseconds each live thread of `pid` has run, from `/proc/PID/task/TID/schedstat`
/// (the scheduler's own account, to the nanosecond, where `stat` counts 10 ms ticks).
pub fn thread_runtimes(pid: u32) -> anyhow::Result<std::collections::BTreeMap<u32, u64>> {
    let dir = format!("/proc/{pid}/task");
    let mut runtimes = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("read {dir}"))? {
        let Some(tid) = entry?
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<u32>().ok())
        else {
            continue;
        };
        // A thread that exits between the listing and the read is skipped.
        let Ok(text) = std::fs::read_to_string(format!("{dir}/{tid}/schedstat")) else {
            continue;
        };
        runtimes.insert(tid, parse_schedstat(&text)?);
    }
    Ok(runtimes)
}

/// The run time (first field, ns) of a `schedstat` file.
pub fn parse_schedstat(text: &str) -> anyhow::Result<u64> {
    text.split_whitespace()
        .next()
        .context("empty schedstat")?
        .parse()
        .context("schedstat run time")
}

/// CPU used by `pid`'s threads between two [`thread_runtimes`] readings, in nanoseconds,
/// and how many threads of the first reading had exited by the second (their time since
/// the first reading is not counted).
pub fn runtime_between(
    before: &std::collections::BTreeMap<u32, u64>,
    after: &std::collections::BTreeMap<u32, u64>,
) -> (u64, usize) {
    let used = after
        .iter()
        .map(|(tid, ns)| ns.saturating_sub(before.get(tid).copied().unwrap_or(0)))
        .sum();
    let exited = before.keys().filter(|tid| !after.contains_key(tid)).count();
    (used, exited)
}

/// Current resident set (KiB).
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    status_kib(pid, "VmRSS")
}

/// Peak resident set since the process started (KiB).
pub fn hwm_kib(pid: u32) -> anyhow::Result<u64> {
    status_kib(pid, "VmHWM")
}

/// Samples a process's VmRSS on a thread until stopped; keeps the largest value.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    /// Starts sampling `pid` every `every`.
    pub fn start(pid: u32, every: Duration) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Ok(kib) = rss_kib(pid) {
                    p.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(every);
            }
        });
        RssSampler {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    /// Stops and returns the peak VmRSS seen (KiB).
    pub fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

/// CLOCK_MONOTONIC in nanoseconds: the clock `fake-codex` stamps its exit with.
pub fn monotonic_ns() -> u128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write into.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}

/// CPU seconds (user + system) of this process's reaped children so far.
pub fn children_cpu() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we pass.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedstat_run_time_is_its_first_field() {
        assert_eq!(parse_schedstat("123456789 2000 31\n").unwrap(), 123_456_789);
        assert!(parse_schedstat("").is_err());
        assert!(parse_schedstat("x 1 2").is_err());
    }

    #[test]
    fn runtime_between_counts_new_threads_whole_and_reports_exited_ones() {
        let before = std::collections::BTreeMap::from([(1, 100), (2, 50)]);
        let after = std::collections::BTreeMap::from([(1, 160), (3, 7)]);
        // Thread 1 ran 60 ns, thread 3 (new) 7 ns; thread 2 exited.
        assert_eq!(runtime_between(&before, &after), (67, 1));
    }

    #[test]
    fn this_process_has_a_thread_runtime() {
        let runtimes = thread_runtimes(std::process::id()).unwrap();
        assert!(runtimes.contains_key(&std::process::id()));
    }

    #[test]
    fn stat_with_spaces_in_the_name() {
        let text = "1234 (code x) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 30 20 20 0 4 0 1 0 0";
        let t = parse_stat(text).unwrap();
        let tick = ticks_per_second();
        assert!((t.own - 300.0 / tick).abs() < 1e-9);
        assert!((t.children - 50.0 / tick).abs() < 1e-9);
    }

    #[test]
    fn status_fields() {
        let text = "Name:\tcodexd\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(parse_status_kib(text, "VmRSS"), Some(10240));
        assert_eq!(parse_status_kib(text, "VmHWM"), Some(20480));
        assert_eq!(parse_status_kib(text, "VmSwap"), None);
        assert!(rss_kib(std::process::id()).unwrap() > 0);
    }
}
