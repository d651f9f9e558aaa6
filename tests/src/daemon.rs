//! Running the workspace's own binaries (`codexd`, `codexctl`) in tests.
//!
//! The binaries are found in the target directory this test binary was built into
//! (`target/debug/`); [`bin_dir`] brings them up to date once per test process.

use crate::codex_cli::{codex_bin, codex_home, mock_config_overrides};
use crate::model_server::MockModelServer;
use anyhow::{Context, bail};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The directory holding the workspace binaries (`target/<profile>`), with every workspace
/// binary built from the current sources.
///
/// `cargo test` builds the test binaries but not the workspace's own binaries, so the first
/// call (once per test process) runs `cargo build --bins --workspace`: a no-op when they are
/// fresh, and without it a test would silently run binaries built from older sources.
/// Test binaries run one at a time, so the nested build never waits on another.
pub fn bin_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("current_exe");
        // target/<profile>/deps/<test-binary>
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test binary lives in target/<profile>/deps")
            .to_path_buf();
        let mut build = Command::new(env!("CARGO"));
        build
            .args(["build", "--bins", "--workspace"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if dir.file_name().is_some_and(|name| name == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(
            status.success(),
            "cargo build of the workspace binaries failed"
        );
        dir
    })
    .clone()
}

/// Path of a workspace binary.
pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(name)
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it held.
/// For conditions on other processes' state (files, process tables) that have no event to
/// wait on; never used as a fixed sleep.
pub fn eventually(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Longest any single CLI invocation may take in a test before it is killed and the test
/// fails (so a hang fails fast instead of stalling the suite).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `cmd` to completion with captured output, killing it after [`COMMAND_TIMEOUT`].
pub fn output(cmd: &mut Command) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn command");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(COMMAND_TIMEOUT) {
        Ok(out) => out.expect("wait for command"),
        Err(_) => {
            // SAFETY: killing the child we spawned.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("command {cmd:?} did not finish within {COMMAND_TIMEOUT:?}");
        }
    }
}

/// The most tasks that ran at once, from the `started_at` and `finished_at` of finished
/// tasks (`show --json` objects). An end at the same millisecond as a start counts first:
/// a slot freed, then reused.
pub fn peak_running(tasks: &[Value]) -> i32 {
    let ms = |task: &Value, field: &str| {
        let text = task[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} of a finished task: {task}"));
        humantime::parse_rfc3339(text)
            .unwrap_or_else(|e| panic!("{field} {text}: {e}"))
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i128)
    };
    let mut edges: Vec<(i128, i32)> = tasks
        .iter()
        .flat_map(|t| [(ms(t, "started_at"), 1), (ms(t, "finished_at"), -1)])
        .collect();
    edges.sort();
    let (mut running, mut peak) = (0, 0);
    for (_, delta) in edges {
        running += delta;
        peak = peak.max(running);
    }
    peak
}

/// Pids of live processes whose environment has `CODEXD_TASK_ID=<task_id>`.
pub fn task_processes(task_id: &str) -> Vec<u32> {
    let needle = format!("CODEXD_TASK_ID={task_id}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    s.rfind(')')
                        .map(|i| s[i + 1..].trim_start().starts_with('Z'))
                })
                .unwrap_or(true);
            !zombie
                && std::fs::read(format!("/proc/{pid}/environ"))
                    .map(|env| env.split(|&b| b == 0).any(|v| v == needle.as_bytes()))
                    .unwrap_or(false)
        })
        .collect()
}

/// One isolated codexd setup: a temp dir with the socket, the state dir, a CODEX_HOME and a
/// work directory; the loopback model server; and (while started) the daemon process.
pub struct TestEnv {
    /// The temp dir holding everything.
    pub root: tempfile::TempDir,
    /// The daemon's socket.
    pub socket: PathBuf,
    /// The daemon's state dir.
    pub state_dir: PathBuf,
    /// CODEX_HOME for the runs.
    pub codex_home: PathBuf,
    /// Where codex works (canonical).
    pub work: PathBuf,
    /// The model server.
    pub server: MockModelServer,
    /// The codex binary the daemon runs.
    pub codex: PathBuf,
    daemon: Option<Child>,
}

impl TestEnv {
    /// A new environment around `server` (the daemon is not started).
    pub fn new(server: MockModelServer) -> anyhow::Result<TestEnv> {
        let root = tempfile::tempdir()?;
        let work = root.path().join("work");
        std::fs::create_dir_all(&work)?;
        let work = work.canonicalize()?;
        Ok(TestEnv {
            socket: root.path().join("run").join("codexd.sock"),
            state_dir: root.path().join("state"),
            codex_home: codex_home(root.path()),
            work,
            server,
            codex: codex_bin()?,
            daemon: None,
            root,
        })
    }

    /// Starts codexd with extra flags and waits until it answers.
    pub fn start_daemon(&mut self, extra: &[&str]) -> anyhow::Result<()> {
        self.start_daemon_with_env(extra, &[])
    }

    /// Starts codexd with extra flags and environment variables, and waits until it answers.
    pub fn start_daemon_with_env(
        &mut self,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.path().join("codexd.log"))?;
        let child = Command::new(bin("codexd"))
            .arg("--socket")
            .arg(&self.socket)
            .arg("--state-dir")
            .arg(&self.state_dir)
            .arg("--codex-bin")
            .arg(&self.codex)
            .arg("--kill-grace")
            .arg("2s")
            .args(extra)
            // No config file of the machine's user: an empty config home.
            .env("XDG_CONFIG_HOME", self.root.path().join("no-config"))
            .env_remove("CODEXD_CONFIG")
            .envs(env.iter().copied())
            .env("RUST_LOG", "codexd=debug,info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("spawn codexd")?;
        self.daemon = Some(child);
        let ready = eventually(Duration::from_secs(20), || {
            std::os::unix::net::UnixStream::connect(&self.socket).is_ok()
        });
        if !ready {
            bail!("codexd did not come up; log:\n{}", self.daemon_log());
        }
        Ok(())
    }

    /// The daemon's pid, while started.
    pub fn daemon_pid(&self) -> Option<u32> {
        self.daemon.as_ref().map(Child::id)
    }

    /// Stops the daemon with SIGTERM and waits for it.
    pub fn stop_daemon(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        let mut child = self.daemon.take().context("daemon not started")?;
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        Ok(child.wait()?)
    }

    /// Kills the daemon with SIGKILL (a crash) and reaps it.
    pub fn kill_daemon(&mut self) -> anyhow::Result<()> {
        let mut child = self.daemon.take().context("daemon not started")?;
        child.kill()?;
        child.wait()?;
        Ok(())
    }

    /// The daemon's stderr so far.
    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.root.path().join("codexd.log")).unwrap_or_default()
    }

    /// A `codexctl` command against this environment (no autostart, mock provider env).
    pub fn codexctl(&self) -> Command {
        let mut cmd = Command::new(bin("codexctl"));
        cmd.arg("--socket")
            .arg(&self.socket)
            .arg("--no-autostart")
            .env("CODEX_HOME", &self.codex_home)
            .env("XDG_CONFIG_HOME", self.root.path().join("no-config"))
            .env_remove("CODEXD_CONFIG")
            .env_remove("CODEXD_SOCKET")
            .current_dir(&self.work)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs codexctl with `args` and returns its output.
    pub fn ctl(&self, args: &[&str]) -> Output {
        self.codexctl().args(args).output().expect("run codexctl")
    }

    /// Runs codexctl with extra environment variables and `args`; returns its output.
    pub fn ctl_with_env(&self, vars: &[(&str, &Path)], args: &[&str]) -> Output {
        let mut cmd = self.codexctl();
        for (key, value) in vars {
            cmd.env(key, value);
        }
        output(cmd.args(args))
    }

    /// `start --sandbox workspace-write -c ... -m MODEL`: the `codexctl` arguments that
    /// start a task on the mock provider (the prompt and any extra flags go after them).
    pub fn start_args(&self) -> Vec<String> {
        let mut args: Vec<String> =
            vec!["start".into(), "--sandbox".into(), "workspace-write".into()];
        for kv in mock_config_overrides(&self.server.base_url()) {
            args.push("-c".into());
            args.push(kv);
        }
        args.extend(["-m".to_string(), crate::codex_cli::MOCK_MODEL.to_string()]);
        args
    }

    /// `codexctl start` with the mock provider's config, workspace-write sandbox and the
    /// given extra flags; returns the task id.
    pub fn start_task(&self, prompt: &str, extra: &[&str]) -> String {
        let mut args = self.start_args();
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push(prompt.into());
        let out = output(self.codexctl().args(&args));
        assert!(
            out.status.success(),
            "codexctl start failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.daemon_log()
        );
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(id.len(), 8, "start prints the id alone: {id:?}");
        id
    }

    /// `codexctl show ID --json`, parsed.
    pub fn show(&self, id: &str) -> Value {
        let out = self.ctl(&["show", id, "--json"]);
        assert!(
            out.status.success(),
            "show failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("show --json is JSON")
    }

    /// `codexctl wait ID... --timeout 120s`: (exit code, stdout).
    pub fn wait(&self, ids: &[&str]) -> (i32, String) {
        let mut args = vec!["wait", "--timeout", "120s"];
        args.extend_from_slice(ids);
        let out = self.ctl(&args);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// The task's raw event lines (`codexctl logs ID --json`), parsed.
    pub fn events(&self, id: &str) -> Vec<Value> {
        let out = self.ctl(&["logs", id, "--json"]);
        assert!(out.status.success(), "logs failed");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("each event line is JSON"))
            .collect()
    }

    /// The path of a task's directory in the state dir (`tasks/<first two chars>/<id>`).
    pub fn task_dir(&self, id: &str) -> PathBuf {
        self.state_dir.join("tasks").join(&id[..2]).join(id)
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A shell command that waits until `gate` exists, then prints `word`: the test creates the
/// gate when it is ready, so a run's end is decided by the test, not by the machine's speed.
pub fn wait_for_gate(gate: &Path, word: &str) -> String {
    format!(
        "while [ ! -e {} ]; do sleep 0.05; done; echo {word}",
        gate.display()
    )
}

/// Runs git with `args` in `dir` (a fixed author and committer) and returns its stdout;
/// panics with git's stderr when it fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = output(
        Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.invalid"),
    );
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
