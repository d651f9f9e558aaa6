//! Process-level helpers for supervising runs: identity (pid + start time), signalling a
//! whole process group, finding every process of a task, and waiting for the exit of a
//! process this daemon did not spawn.

use std::io;
use std::time::Duration;

/// Environment variable set on every run; inherited by everything codex starts, so the
/// processes of a task can be found even when they left its process group.
pub const TASK_MARKER_ENV: &str = "CODEXD_TASK_ID";

/// The start time of `pid` in clock ticks since boot (field 22 of `/proc/PID/stat`).
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces: skip past it.
    let after_comm = &stat[stat.rfind(')')? + 1..];
    after_comm.split_whitespace().nth(19)?.parse().ok()
}

/// True if `pid` is alive, not a zombie, and started at `expected_start` (so it is the same
/// process, not a reused pid).
pub fn is_same_process_alive(pid: u32, expected_start: Option<u64>) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(close) = stat.rfind(')') else {
        return false;
    };
    let mut fields = stat[close + 1..].split_whitespace();
    if fields.next() == Some("Z") {
        return false;
    }
    match expected_start {
        Some(expected) => start_time(pid) == Some(expected),
        None => true,
    }
}

/// Sends `signal` to every process in group `pgid`. Missing groups are not an error.
pub fn signal_group(pgid: u32, signal: i32) -> io::Result<()> {
    let Ok(pgid) = i32::try_from(pgid) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "pgid out of range",
        ));
    };
    if pgid <= 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "refusing to signal group <= 1",
        ));
    }
    // SAFETY: kill has no memory-safety preconditions; a negative pid names a group.
    let rc = unsafe { libc::kill(-pgid, signal) };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ESRCH) {
        Ok(())
    } else {
        Err(err)
    }
}

/// Pids of live processes whose environment carries `CODEXD_TASK_ID=<task_id>`.
pub fn marked_processes(task_id: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let me = std::process::id();
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me && is_task_process(pid, task_id))
        .collect()
}

/// True if `pid` is alive (not a zombie) and carries `CODEXD_TASK_ID=<task_id>` in its
/// environment: a process of that task, not one that reused the pid.
pub fn is_task_process(pid: u32, task_id: &str) -> bool {
    let needle = format!("{TASK_MARKER_ENV}={task_id}");
    std::fs::read(format!("/proc/{pid}/environ"))
        .map(|env| env.split(|&b| b == 0).any(|var| var == needle.as_bytes()))
        .unwrap_or(false)
        && is_same_process_alive(pid, None)
}

/// SIGKILLs every live process of the task (by its environment marker); returns how many.
pub fn kill_marked_processes(task_id: &str) -> usize {
    let pids = marked_processes(task_id);
    for &pid in &pids {
        if let Ok(pid) = i32::try_from(pid) {
            // SAFETY: plain kill(2) of a pid we just found.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    pids.len()
}

/// Waits until `pid` exits, for a process this daemon did not spawn (so cannot `wait` for).
/// Uses a pidfd on Linux (no polling); falls back to checking every 200 ms elsewhere or when
/// pidfds are unavailable.
pub async fn wait_for_exit(pid: u32, start: Option<u64>) {
    #[cfg(target_os = "linux")]
    if let Ok(fd) = pidfd_open(pid) {
        // SAFETY: we own `fd` and it stays open (inside the AsyncFd) until dropped.
        let registered = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
        };
        if let Ok(async_fd) = registered {
            // A pidfd becomes readable when the process exits.
            if let Ok(mut guard) = async_fd.readable().await {
                guard.retain_ready();
            }
            return;
        }
    }
    while is_same_process_alive(pid, start) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(target_os = "linux")]
fn pidfd_open(pid: u32) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::c_int, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the syscall returned a fresh fd that we now own.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_start_time_is_readable_and_identity_holds() {
        let me = std::process::id();
        let start = start_time(me);
        assert!(start.is_some());
        assert!(is_same_process_alive(me, start));
        assert!(!is_same_process_alive(me, start.map(|s| s + 1)));
    }

    #[tokio::test]
    async fn wait_for_exit_returns_when_a_process_ends() {
        let mut child = std::process::Command::new("sleep")
            .arg("0.2")
            .spawn()
            .unwrap();
        let pid = child.id();
        let start = start_time(pid);
        let reaper = std::thread::spawn(move || child.wait());
        tokio::time::timeout(Duration::from_secs(10), wait_for_exit(pid, start))
            .await
            .expect("exit noticed");
        reaper.join().unwrap().unwrap();
    }

    #[test]
    fn marked_processes_are_found_and_killed() {
        let marker = format!("test{}", std::process::id());
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env(TASK_MARKER_ENV, &marker)
            .spawn()
            .unwrap();
        assert_eq!(marked_processes(&marker), vec![child.id()]);
        assert_eq!(kill_marked_processes(&marker), 1);
        let status = child.wait().unwrap();
        assert!(!status.success());
        assert!(marked_processes(&marker).is_empty());
    }
}
