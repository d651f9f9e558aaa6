//! One codexd instance under test: its own state dir and socket in the run's scratch
//! directory, started with `--codex-bin` pointing at `fake-codex` (or the real CLI), plus
//! the helpers that start fake tasks through the client crate and the CLI.

use crate::setup::Bins;
use anyhow::{Context, bail};
use codexd_client::Client;
use codexd_client::api::{StartRequest, Task};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running codexd.
pub struct Codexd {
    /// The instance's directory (socket, state, log).
    pub dir: PathBuf,
    /// The socket.
    pub socket: PathBuf,
    /// The state directory.
    pub state_dir: PathBuf,
    codex_bin: PathBuf,
    max_running: u32,
    codexd: PathBuf,
    codexctl: PathBuf,
    child: Option<Child>,
}

impl Codexd {
    /// Starts a daemon in `dir` (created if needed; an existing state dir is reused) and
    /// waits until it answers on its socket.
    pub fn start(
        bins: &Bins,
        dir: &Path,
        codex_bin: &Path,
        max_running: u32,
    ) -> anyhow::Result<Codexd> {
        std::fs::create_dir_all(dir)?;
        let mut daemon = Codexd {
            dir: dir.to_path_buf(),
            socket: dir.join("run").join("codexd.sock"),
            state_dir: dir.join("state"),
            codex_bin: codex_bin.to_path_buf(),
            max_running,
            codexd: bins.codexd.clone(),
            codexctl: bins.codexctl.clone(),
            child: None,
        };
        daemon.spawn()?;
        Ok(daemon)
    }

    /// Spawns the daemon process and waits until its socket answers.
    fn spawn(&mut self) -> anyhow::Result<()> {
        // An empty config file: the run must not depend on this machine's settings.
        let config = self.dir.join("config.toml");
        std::fs::write(&config, "")?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("codexd.log"))?;
        let mut command = Command::new(&self.codexd);
        command
            .arg("--socket")
            .arg(&self.socket)
            .arg("--state-dir")
            .arg(&self.state_dir)
            .arg("--codex-bin")
            .arg(&self.codex_bin)
            .arg("--max-running")
            .arg(self.max_running.to_string())
            .arg("--kill-grace")
            .arg("2s")
            .arg("--retention")
            .arg("off")
            .arg("--config")
            .arg(&config)
            .env_remove("CODEXD_SOCKET")
            .env_remove("CODEXD_STATE_DIR")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        die_with_parent(&mut command);
        let mut child = command
            .spawn()
            .with_context(|| format!("spawn {}", self.codexd.display()))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                break;
            }
            if let Some(status) = child.try_wait()? {
                bail!(
                    "codexd exited ({status}) at start-up; log:\n{}",
                    self.log_tail()
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!(
                    "codexd did not answer within 60 s; log:\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        self.child = Some(child);
        Ok(())
    }

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// The end of the daemon's log (for error messages).
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("codexd.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// A new client connection.
    pub async fn client(&self) -> anyhow::Result<Client> {
        Client::connect(&self.socket)
            .await
            .with_context(|| format!("connect to {}", self.socket.display()))
    }

    /// A `codexctl --socket S --no-autostart` command.
    pub fn ctl(&self) -> Command {
        let mut cmd = Command::new(&self.codexctl);
        cmd.arg("--socket")
            .arg(&self.socket)
            .arg("--no-autostart")
            .env_remove("CODEXD_SOCKET")
            .stdin(Stdio::null());
        cmd
    }

    /// Stops the daemon (SIGTERM) and waits for it to exit.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(20);
            while child.try_wait()?.is_none() {
                if Instant::now() > deadline {
                    child.kill()?;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        Ok(())
    }

    /// Stops the daemon and starts a new one on the same state dir and socket.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop()?;
        self.spawn()
    }
}

impl Drop for Codexd {
    /// Stops the daemon with the harness.
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// A start request for `fake-codex` in `cwd`, with its `FAKE_CODEX_*` settings.
pub fn fake_request(cwd: &Path, settings: &[(&str, String)]) -> StartRequest {
    let env: BTreeMap<String, String> = settings
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    StartRequest {
        prompt: "benchmark task: run the tests and report".into(),
        cwd: cwd.to_path_buf(),
        env,
        ..StartRequest::default()
    }
}

/// Longest the harness waits for a daemon that makes no progress at all (same numbers of
/// running and queued tasks) before it gives up with an error.
const STALL: Duration = Duration::from_secs(120);

/// Waits until the daemon has nothing queued or running (polls `version`); fails if the
/// daemon makes no progress for [`STALL`], naming its unreaped (zombie) children.
pub async fn until_idle(client: &Client) -> anyhow::Result<()> {
    let mut last = (u32::MAX, u32::MAX);
    let mut since = Instant::now();
    loop {
        let v = match tokio::time::timeout(STALL, client.version()).await {
            Ok(v) => v?,
            Err(_) => bail!(
                "codexd did not answer `version` within {} s (deadlocked?); tasks: {last:?} \
                 (running, queued) at the last answer",
                STALL.as_secs()
            ),
        };
        if v.running == 0 && v.queued == 0 {
            return Ok(());
        }
        if (v.running, v.queued) != last {
            last = (v.running, v.queued);
            since = Instant::now();
        } else if since.elapsed() > STALL {
            bail!(
                "codexd (pid {}) made no progress for {} s: {} running, {} queued; its \
                 zombie children: {:?}",
                v.pid,
                STALL.as_secs(),
                v.running,
                v.queued,
                zombie_children(v.pid)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Pids of `parent`'s children that have exited but were not reaped.
pub fn zombie_children(parent: u32) -> Vec<u32> {
    crate::procfs::children(parent)
        .into_iter()
        .filter(|(_, state)| state == "Z")
        .map(|(pid, _)| pid)
        .collect()
}

/// Starts `count` fake tasks through `client` as fast as the daemon takes them, then waits
/// until all have ended. Returns the tasks as acknowledged.
pub async fn populate(client: &Client, cwd: &Path, count: usize) -> anyhow::Result<Vec<Task>> {
    let request = fake_request(cwd, &[]);
    let mut tasks = Vec::with_capacity(count);
    for _ in 0..count {
        tasks.push(client.start(request.clone()).await?);
    }
    until_idle(client).await?;
    Ok(tasks)
}

/// Makes `command`'s process get SIGTERM when the harness dies, so an interrupted run
/// leaves no daemon behind.
pub fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe; it only sets this process's parent-death signal.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
}
