//! Process-level helpers for supervising runs: identity (pid + start time), signalling a
//! whole process group, finding every process of a task, and waiting for the exit of a
//! process this daemon did not spawn.

use std::io;
use std::time::Duration;

/// Environment variable set on every run; inherited by everything codex starts, so the
/// processes of a task can be found even when they left its process group.
pub const TASK_MARKER_ENV: &str = "CODEXD_TASK_ID";

/// The umask the daemon was started with, given back to every run.
static USER_UMASK: std::sync::OnceLock<libc::mode_t> = std::sync::OnceLock::new();

/// Makes every file the daemon creates owner-only (sled's files among them, which take no
/// mode of ours), and keeps the user's umask for the runs: codex must create files in the
/// user's work tree with the user's own umask. Call once, at daemon start-up.
pub fn restrict_umask() {
    // SAFETY: umask(2) only swaps the process's file mode mask.
    let user = unsafe { libc::umask(0o077) };
    let _ = USER_UMASK.set(user);
}

/// The umask to give a run: the user's, if [`restrict_umask`] changed it.
pub fn user_umask() -> Option<libc::mode_t> {
    USER_UMASK.get().copied()
}

/// The fields of `/proc/PID/stat` from field 3 (the state) on. The command name (field 2)
/// is in parentheses and may contain spaces, so it is skipped past its last `)`.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = &stat[stat.rfind(')')? + 1..];
    Some(after_comm.split_whitespace().map(str::to_owned).collect())
}

/// The start time of `pid` in clock ticks since boot (field 22 of `/proc/PID/stat`).
pub fn start_time(pid: u32) -> Option<u64> {
    stat_fields(pid)?.get(19)?.parse().ok()
}

/// The session id of `pid` (field 6 of `/proc/PID/stat`). A run's supervisor leads its
/// own session (it calls setsid), which tells it apart from the processes it started.
pub fn session_id(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(3)?.parse().ok()
}

/// The process group id of `pid` (field 5 of `/proc/PID/stat`).
pub fn group_id(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(2)?.parse().ok()
}

/// True if process group `pgid` still holds a process of task `task_id` (so the group id
/// is not one reused since the task's supervisor, its leader, ended).
pub fn group_holds_task(pgid: u32, task_id: &str) -> bool {
    marked_processes(task_id)
        .into_iter()
        .any(|pid| group_id(pid) == Some(pgid))
}

/// True if `pid` is alive, not a zombie, and started at `expected_start` (so it is the same
/// process, not a reused pid).
///
/// Without `/proc` (macOS), start times are unknown (recorded as `None`) and liveness comes
/// from `kill(pid, 0)`: a weaker identity, as a reused pid cannot be told apart there.
pub fn is_same_process_alive(pid: u32, expected_start: Option<u64>) -> bool {
    let Some(fields) = stat_fields(pid) else {
        return !cfg!(target_os = "linux") && expected_start.is_none() && signal_reaches(pid);
    };
    if fields.first().map(String::as_str) == Some("Z") {
        return false;
    }
    match expected_start {
        Some(expected) => fields.get(19).and_then(|s| s.parse().ok()) == Some(expected),
        None => true,
    }
}

/// True if a process `pid` exists (signal 0 reaches it, or it exists under another user).
fn signal_reaches(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
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

/// The task id in `CODEXD_TASK_ID` of `pid`'s environment, if it has one.
fn task_marker(pid: u32) -> Option<String> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{TASK_MARKER_ENV}=");
    let id = env
        .split(|&b| b == 0)
        .find_map(|var| var.strip_prefix(prefix.as_bytes()))?;
    std::str::from_utf8(id).ok().map(str::to_owned)
}

/// Every live process but this one, with the task marker it carries.
fn marked_pids() -> impl Iterator<Item = (u32, String)> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(move |&pid| pid != me)
        .filter_map(|pid| Some((pid, task_marker(pid)?)))
        .filter(|&(pid, _)| is_same_process_alive(pid, None))
}

/// Pids of live processes whose environment carries `CODEXD_TASK_ID=<task_id>`.
pub fn marked_processes(task_id: &str) -> Vec<u32> {
    marked_pids()
        .filter(|(_, marker)| marker == task_id)
        .map(|(pid, _)| pid)
        .collect()
}

/// Every live process that carries a task marker, by task id: one pass over `/proc` for
/// many tasks (start-up recovery), instead of one pass per task.
pub fn processes_by_task() -> std::collections::HashMap<String, Vec<u32>> {
    let mut found: std::collections::HashMap<String, Vec<u32>> = Default::default();
    for (pid, marker) in marked_pids() {
        found.entry(marker).or_default().push(pid);
    }
    found
}

/// True if `pid` is alive (not a zombie) and carries `CODEXD_TASK_ID=<task_id>` in its
/// environment: a process of that task, not one that reused the pid.
pub fn is_task_process(pid: u32, task_id: &str) -> bool {
    task_marker(pid).as_deref() == Some(task_id) && is_same_process_alive(pid, None)
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

/// SIGKILLs the task's marked processes until two passes in a row, 20 ms apart, find
/// none (at most 50 passes): a process may fork while it is swept, and a child caught
/// inside execve shows an empty environment for a moment. Returns how many were killed.
pub async fn sweep_marked_processes(task_id: &str) -> usize {
    let (mut killed, mut empty_passes) = (0, 0);
    for _ in 0..50 {
        match kill_marked_processes(task_id) {
            0 => {
                empty_passes += 1;
                if empty_passes == 2 {
                    break;
                }
            }
            n => {
                killed += n;
                empty_passes = 0;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    killed
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

/// Waits (at most 10 s) until `pid` shows the task marker `task_id`: `spawn` returns once
/// the child has called execve, but the kernel fills in the new program's environment
/// (what /proc/PID/environ shows) a moment later.
#[cfg(test)]
pub(crate) fn wait_for_marker(pid: u32, task_id: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !is_task_process(pid, task_id) {
        assert!(
            std::time::Instant::now() < deadline,
            "the marker of {pid} never appeared"
        );
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_leader_is_told_apart() {
        use std::os::unix::process::CommandExt;
        let mut plain = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let mut leader = std::process::Command::new("sleep");
        leader.arg("30");
        // SAFETY: setsid is async-signal-safe.
        unsafe {
            leader.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        let mut leader = leader.spawn().unwrap();
        assert_eq!(session_id(leader.id()), Some(leader.id()));
        assert_ne!(session_id(plain.id()), Some(plain.id()));
        assert_eq!(session_id(plain.id()), session_id(std::process::id()));
        for child in [&mut plain, &mut leader] {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

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
        wait_for_marker(child.id(), &marker);
        assert_eq!(marked_processes(&marker), vec![child.id()]);
        assert_eq!(kill_marked_processes(&marker), 1);
        let status = child.wait().unwrap();
        assert!(!status.success());
        assert!(marked_processes(&marker).is_empty());
    }

    #[test]
    fn processes_are_grouped_by_their_marker() {
        let markers = [
            format!("group-a{}", std::process::id()),
            format!("group-b{}", std::process::id()),
        ];
        let mut children: Vec<_> = [&markers[0], &markers[0], &markers[1]]
            .iter()
            .map(|marker| {
                std::process::Command::new("sleep")
                    .arg("30")
                    .env(TASK_MARKER_ENV, marker)
                    .spawn()
                    .unwrap()
            })
            .collect();
        for (child, marker) in children.iter().zip([&markers[0], &markers[0], &markers[1]]) {
            wait_for_marker(child.id(), marker);
        }
        let grouped = processes_by_task();
        let mut a = grouped[&markers[0]].clone();
        a.sort_unstable();
        let mut expected = vec![children[0].id(), children[1].id()];
        expected.sort_unstable();
        assert_eq!(a, expected);
        assert_eq!(grouped[&markers[1]], vec![children[2].id()]);
        for child in &mut children {
            child.kill().unwrap();
            child.wait().unwrap();
        }
        let after = processes_by_task();
        assert!(!after.contains_key(&markers[0]) && !after.contains_key(&markers[1]));
    }
}
