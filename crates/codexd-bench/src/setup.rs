//! The run's fixed parts: where the binaries are, the machine and version facts printed at
//! the top of the report, and the sizes of a full or quick run.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace binaries the harness drives.
#[derive(Debug, Clone)]
pub struct Bins {
    /// Their directory (`target/release` or `target/debug`).
    pub dir: PathBuf,
    /// The daemon.
    pub codexd: PathBuf,
    /// The CLI.
    pub codexctl: PathBuf,
    /// The stand-in for codex.
    pub fake_codex: PathBuf,
}

impl Bins {
    /// Finds the binaries in `dir`, by default the directory of this executable.
    pub fn locate(dir: Option<PathBuf>) -> anyhow::Result<Bins> {
        let dir = match dir {
            Some(dir) => dir,
            None => std::env::current_exe()
                .context("cannot find this executable")?
                .parent()
                .context("this executable has no directory")?
                .to_path_buf(),
        };
        let dir = dir
            .canonicalize()
            .with_context(|| format!("binary directory {}", dir.display()))?;
        let bins = Bins {
            codexd: dir.join("codexd"),
            codexctl: dir.join("codexctl"),
            fake_codex: dir.join("fake-codex"),
            dir,
        };
        for bin in [&bins.codexd, &bins.codexctl, &bins.fake_codex] {
            if !bin.is_file() {
                bail!(
                    "{} is missing; build the binaries first: \
                     cargo build --release -p codexd -p codexctl -p fake-codex -p codexd-bench \
                     (or pass --bin-dir)",
                    bin.display()
                );
            }
        }
        Ok(bins)
    }

    /// The build profile the binaries come from (the directory's name).
    pub fn profile(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// The cargo target directory (parent of the profile directory).
    pub fn target_dir(&self) -> PathBuf {
        self.dir.parent().unwrap_or(&self.dir).to_path_buf()
    }
}

/// The first line of `program args` output, or `None` if it cannot run.
pub fn first_line(program: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next()?.trim().to_string();
    (!line.is_empty()).then_some(line)
}

/// A field of /proc/cpuinfo (first occurrence).
fn cpuinfo(key: &str) -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

/// Machine facts for the report: CPU, cores, memory, kernel, rustc, date.
pub fn machine() -> Vec<(String, String)> {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get().to_string())
        .unwrap_or_else(|_| "?".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| crate::procfs::parse_status_kib(&t, "MemTotal"))
        .map(|kib| format!("{:.0} GiB", kib as f64 / 1024.0 / 1024.0))
        .unwrap_or_else(|| "?".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into());
    let rustc = first_line(Path::new("rustc"), &["--version"]).unwrap_or_else(|| "?".into());
    let date = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    vec![
        (
            "Machine".into(),
            format!(
                "{}, {cores} cores, {mem}, Linux {kernel}",
                cpuinfo("model name").unwrap_or_else(|| "unknown CPU".into())
            ),
        ),
        ("Toolchain".into(), rustc),
        ("Date".into(), date),
    ]
}

/// How much of everything a run does.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Quick mode (CI): tiny counts.
    pub quick: bool,
    /// Round trips per RPC-floor series.
    pub rpc_iters: usize,
    /// Registry sizes at which durable start is measured (the largest is also the memory
    /// figure's).
    pub start_points: Vec<usize>,
    /// Starts measured at each point.
    pub start_samples: usize,
    /// Tasks recorded for the "big" CLI comparison.
    pub cli_tasks: usize,
    /// Interleaved pairs per CLI comparison.
    pub cli_pairs: usize,
    /// Completion-notice samples per codexd waiter.
    pub notice_samples: usize,
    /// Completion-notice samples for `pueue wait`.
    pub pueue_notice_samples: usize,
    /// Tasks in the throughput run.
    pub throughput_tasks: usize,
    /// Events per throughput task.
    pub throughput_events: usize,
    /// Bytes streamed per ingestion run.
    pub ingest_bytes: usize,
    /// Ingestion runs without a subscriber (one more runs with one).
    pub ingest_runs: usize,
    /// Fake runs at once for the memory figure.
    pub memory_runs: usize,
    /// Real-codex samples per way.
    pub codex_samples: usize,
    /// Pause that lets a daemon settle before an idle reading.
    pub settle: std::time::Duration,
    /// How long a completion-notice fake run stays alive.
    pub hold_ms: u64,
    /// How long the memory figure's fake runs stay alive.
    pub memory_hold_ms: u64,
}

impl Plan {
    /// The full run (issue 6 sizes) or the quick one.
    pub fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                quick,
                rpc_iters: 100,
                start_points: vec![0, 6],
                start_samples: 2,
                cli_tasks: 6,
                cli_pairs: 1,
                notice_samples: 1,
                pueue_notice_samples: 1,
                throughput_tasks: 3,
                throughput_events: 50,
                ingest_bytes: 256 << 10,
                ingest_runs: 0,
                memory_runs: 2,
                codex_samples: 1,
                settle: std::time::Duration::from_millis(200),
                hold_ms: 150,
                memory_hold_ms: 600,
            }
        } else {
            Plan {
                quick,
                rpc_iters: 5000,
                start_points: vec![0, 1000, 10_000],
                start_samples: 200,
                cli_tasks: 2500,
                cli_pairs: 100,
                notice_samples: 50,
                pueue_notice_samples: 12,
                throughput_tasks: 1000,
                throughput_events: 50,
                ingest_bytes: 100 << 20,
                ingest_runs: 3,
                memory_runs: 100,
                codex_samples: 20,
                settle: std::time::Duration::from_secs(1),
                hold_ms: 300,
                memory_hold_ms: 8000,
            }
        }
    }
}

/// The source the harness was built from: `git` commit of the workspace, and whether the
/// work tree had uncommitted changes (read-only git commands).
pub fn source() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(&root)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(commit) => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("commit {commit} with uncommitted changes")
            } else {
                format!("commit {commit}")
            }
        }
        None => "unknown (not a git checkout)".into(),
    }
}

/// When `binary` was last written (its mtime, UTC), for telling which source it was built
/// from.
pub fn built_at(binary: &Path) -> String {
    std::fs::metadata(binary)
        .and_then(|m| m.modified())
        .map(|t| humantime::format_rfc3339_seconds(t).to_string())
        .unwrap_or_else(|_| "?".into())
}
