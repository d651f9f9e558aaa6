//! The peer: pueue 4.0.4, installed into `target/bench-tools` with `cargo install` when
//! missing, run as its own `pueued` with a private config, data and runtime directory.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The pinned pueue version.
pub const PUEUE_VERSION: &str = "4.0.4";

/// The `pueue` and `pueued` binaries.
#[derive(Debug, Clone)]
pub struct PueueBins {
    /// The client.
    pub pueue: PathBuf,
    /// The daemon.
    pub pueued: PathBuf,
}

/// Finds pueue in `root/bin`; installs it there first when `install` and missing.
pub fn locate(root: &Path, install: bool) -> anyhow::Result<Option<PueueBins>> {
    let bins = PueueBins {
        pueue: root.join("bin").join("pueue"),
        pueued: root.join("bin").join("pueued"),
    };
    let present = || bins.pueue.is_file() && bins.pueued.is_file();
    if present() {
        return Ok(Some(bins));
    }
    if !install {
        return Ok(None);
    }
    eprintln!(
        "codexd-bench: installing pueue {PUEUE_VERSION} into {} (a few minutes) ...",
        root.display()
    );
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "install",
            "pueue",
            "--version",
            PUEUE_VERSION,
            "--locked",
            "--root",
        ])
        .arg(root)
        .stdin(Stdio::null())
        .status()
        .context("run cargo install pueue")?;
    if !status.success() || !present() {
        bail!("cargo install pueue --version {PUEUE_VERSION} failed ({status})");
    }
    Ok(Some(bins))
}

/// A running pueued with its own directories.
pub struct Pueued {
    bins: PueueBins,
    config: PathBuf,
    child: Option<Child>,
}

impl Pueued {
    /// Writes a config under `dir` and starts `pueued` on it with `parallel` slots in the
    /// default group; waits until `pueue status` answers.
    pub fn start(bins: &PueueBins, dir: &Path, parallel: u32) -> anyhow::Result<Pueued> {
        let data = dir.join("data");
        let runtime = dir.join("runtime");
        for d in [&data, &runtime] {
            std::fs::create_dir_all(d)?;
        }
        let config = dir.join("pueue.yml");
        let quote = |p: &Path| serde_json::Value::String(p.display().to_string()).to_string();
        std::fs::write(
            &config,
            format!(
                "shared:\n  pueue_directory: {}\n  runtime_directory: {}\n  use_unix_socket: true\n  unix_socket_path: {}\n  alias_file: {}\n",
                quote(&data),
                quote(&runtime),
                quote(&runtime.join("pueue.socket")),
                quote(&dir.join("aliases.yml")),
            ),
        )?;
        let log = std::fs::File::create(dir.join("pueued.log"))?;
        let mut command = Command::new(&bins.pueued);
        command
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        crate::daemon::die_with_parent(&mut command);
        let child = command.spawn().context("spawn pueued")?;
        let daemon = Pueued {
            bins: bins.clone(),
            config,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = daemon
                .cmd()
                .args(["status", "--json"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "pueued did not answer within 30 s (see {})",
                    dir.join("pueued.log").display()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        daemon.run(&["parallel", &parallel.to_string()])?;
        Ok(daemon)
    }

    /// A `pueue -c CONFIG` command.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(&self.bins.pueue);
        cmd.arg("-c").arg(&self.config).stdin(Stdio::null());
        cmd
    }

    /// Runs `pueue ARGS` and returns its stdout; fails if it fails.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.cmd().args(args).output().context("run pueue")?;
        if !out.status.success() {
            bail!(
                "pueue {args:?} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// `pueue add --print-task-id -- ARGS`: the new task's id.
    pub fn add(&self, command: &[&str], env: &[(&str, String)]) -> anyhow::Result<u64> {
        let out = self
            .cmd()
            .args(["add", "--print-task-id", "--"])
            .args(command)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .context("run pueue add")?;
        if !out.status.success() {
            bail!(
                "pueue add failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .context("pueue add --print-task-id printed no id")
    }

    /// Number of tasks and how many of them are done, from `pueue status --json`.
    pub fn counts(&self) -> anyhow::Result<(usize, usize)> {
        let status: serde_json::Value = serde_json::from_str(&self.run(&["status", "--json"])?)?;
        let tasks = status["tasks"].as_object().context("status has no tasks")?;
        let done = tasks
            .values()
            .filter(|t| t["status"].get("Done").is_some())
            .count();
        Ok((tasks.len(), done))
    }

    /// Polls until every task is done.
    pub fn until_all_done(&self, every: Duration) -> anyhow::Result<()> {
        loop {
            let (total, done) = self.counts()?;
            if total == done {
                return Ok(());
            }
            std::thread::sleep(every);
        }
    }

    /// Stops pueued.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Pueued {
    /// Stops pueued with the harness.
    fn drop(&mut self) {
        self.stop();
    }
}
