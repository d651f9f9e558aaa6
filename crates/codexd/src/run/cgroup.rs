//! Containment of a run in its own cgroup (v2), where the system lets the daemon create one.
//!
//! Each run's supervisor (`codexd run-task`) joins `<daemon's cgroup>/codexd/<task id>`
//! before it execs (so codex and everything it starts is born inside), and a stopped run, or
//! one whose supervisor died, is ended with `cgroup.kill` (Linux 5.14+; else every pid in
//! `cgroup.procs` is SIGKILLed until none is left). Nothing can leave a cgroup by itself: not
//! with setsid, not with a cleared environment, not by double-forking. Where no cgroup v2
//! hierarchy is mounted writable (macOS, a read-only `/sys/fs/cgroup`, a container without
//! delegation), runs are not contained this way and the process group plus the
//! `CODEXD_TASK_ID` marker sweep ([`super::process`]) are all there is.

use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// The cgroup the daemon creates the runs' cgroups in, if it can: found once.
fn base() -> Option<&'static Path> {
    static BASE: OnceLock<Option<PathBuf>> = OnceLock::new();
    BASE.get_or_init(|| {
        let base = find_base()?;
        match std::fs::create_dir_all(&base) {
            Ok(()) => Some(base),
            Err(e) => {
                tracing::info!(
                    "runs are not contained in cgroups ({}: {e}); the process group and the task marker are used",
                    base.display()
                );
                None
            }
        }
    })
    .as_deref()
}

/// `<cgroup2 mount><own cgroup>/codexd`, if a cgroup v2 hierarchy is mounted.
fn find_base() -> Option<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    // Fields: id parent major:minor root mount-point options ... - fstype source super-options
    let mount = mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        (right.split_whitespace().next()? == "cgroup2")
            .then(|| left.split_whitespace().nth(4).map(PathBuf::from))?
    })?;
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let own = own.lines().find_map(|line| line.strip_prefix("0::"))?;
    let own = own.trim().trim_start_matches('/');
    Some(mount.join(own).join("codexd"))
}

/// The cgroup of task `task_id` (whether or not it exists), if runs can be contained here.
pub fn path(task_id: &str) -> Option<PathBuf> {
    Some(base()?.join(task_id))
}

/// A run's cgroup, created and ready to be joined: write [`Joiner::join_self`] in the
/// child between fork and exec.
pub struct Joiner {
    procs: OwnedFd,
}

impl Joiner {
    /// Creates the cgroup of `task_id` and opens its `cgroup.procs`; `None` (logged) if
    /// this system does not allow it.
    pub fn create(task_id: &str) -> Option<Joiner> {
        let dir = path(task_id)?;
        if let Err(e) = std::fs::create_dir(&dir)
            && e.kind() != io::ErrorKind::AlreadyExists
        {
            tracing::warn!(
                task = task_id,
                "cannot create the run's cgroup {}: {e}",
                dir.display()
            );
            return None;
        }
        match std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join("cgroup.procs"))
        {
            Ok(file) => Some(Joiner { procs: file.into() }),
            Err(e) => {
                tracing::warn!(task = task_id, "cannot join the run's cgroup: {e}");
                let _ = std::fs::remove_dir(&dir);
                None
            }
        }
    }

    /// Moves the calling process into the cgroup. Async-signal-safe (one write(2)): for a
    /// `pre_exec` hook. A failure is ignored there; [`contains`] tells afterwards.
    pub fn join_self(&self) {
        // SAFETY: writing a two-byte buffer to an fd we own; "0" means "the writer".
        unsafe { libc::write(self.procs.as_raw_fd(), b"0\n".as_ptr().cast(), 2) };
    }
}

/// True if process `pid` is in the cgroup of `task_id`.
pub fn contains(task_id: &str, pid: u32) -> bool {
    path(task_id).is_some_and(|dir| pids(&dir).contains(&pid))
}

fn pids(dir: &Path) -> Vec<u32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// Kills everything in the cgroup of `task_id` and removes it once empty (at most 5 s);
/// returns how many processes were in it. Nothing happens if it does not exist.
pub async fn kill_all(task_id: &str) -> usize {
    let Some(dir) = path(task_id).filter(|d| d.is_dir()) else {
        return 0;
    };
    let found = pids(&dir).len();
    let killed_by_kernel = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("cgroup.kill"))
        .and_then(|mut f| f.write_all(b"1"))
        .is_ok();
    for _ in 0..250 {
        let left = pids(&dir);
        if left.is_empty() && std::fs::remove_dir(&dir).is_ok() {
            break;
        }
        if !killed_by_kernel || !left.is_empty() {
            for pid in left {
                if let Ok(pid) = i32::try_from(pid) {
                    // SAFETY: plain kill(2) of a pid listed in the run's own cgroup.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    found
}

/// Removes the cgroup of `task_id` if it is empty (a run that ended by itself); a cgroup
/// something still lives in is left as it is.
pub fn remove_if_empty(task_id: &str) {
    if let Some(dir) = path(task_id) {
        let _ = std::fs::remove_dir(dir);
    }
}

/// [`remove_if_empty`], retried for up to a second while the cgroup holds no process: the
/// kernel reports a cgroup busy for a moment after its last process has exited.
pub async fn remove_when_empty(task_id: String) {
    let Some(dir) = path(&task_id).filter(|d| d.is_dir()) else {
        return;
    };
    for _ in 0..50 {
        if !pids(&dir).is_empty() || std::fs::remove_dir(&dir).is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_escaped_process_is_killed_with_its_cgroup() {
        use std::os::unix::process::CommandExt;
        let id = format!("cgtest{}", std::process::id());
        let Some(joiner) = Joiner::create(&id) else {
            eprintln!("no writable cgroup v2 here: skipped");
            return;
        };
        let mut cmd = std::process::Command::new("sh");
        cmd.args(["-c", "setsid env -i sleep 4399 & wait"]);
        // SAFETY: join_self is one write(2).
        unsafe {
            cmd.pre_exec(move || {
                joiner.join_self();
                Ok(())
            });
        }
        let mut child = cmd.spawn().unwrap();
        assert!(contains(&id, child.id()));
        std::thread::sleep(Duration::from_millis(200));
        assert!(kill_all(&id).await >= 2);
        child.wait().unwrap();
        assert!(!path(&id).unwrap().exists());
    }
}
