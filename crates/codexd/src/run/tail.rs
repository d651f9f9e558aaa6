//! How the monitor learns that a run wrote to its event log: an inotify watch on the task's
//! directory (Linux), which wakes the monitor when the runner appends a line, instead of
//! polling every log on a short period. A slow safety poll ([`SAFETY_POLL`]) remains for
//! what inotify can miss (a watch that could not be set up, an overflowed queue). Where
//! inotify is unavailable the safety poll is shortened to [`FALLBACK_POLL`].

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::Duration;
use tokio::io::unix::AsyncFd;

/// The safety poll of a watched log: how often it is read even without a wake-up. Only a
/// missed inotify event (an overflowed queue) makes it matter, and then a line is seen at
/// most this late, never lost. Each poll of a quiet log costs a worker wake-up and a read;
/// at 30 s, 16 silent runs add little to an idle daemon (BENCHMARKS.md, section 9).
pub const SAFETY_POLL: Duration = Duration::from_secs(30);

/// The poll period of a log that could not be watched.
pub const FALLBACK_POLL: Duration = Duration::from_millis(20);

/// A wake-up source for one task directory.
pub(super) struct LogWatch {
    fd: Option<AsyncFd<OwnedFd>>,
}

impl LogWatch {
    /// Watches `dir` for files written or created in it; without inotify (or when it
    /// fails), a watch that never wakes (the caller polls at [`LogWatch::poll_period`]).
    pub(super) fn new(dir: &Path) -> LogWatch {
        let fd = match watch_dir(dir) {
            Ok(fd) => Some(fd),
            Err(e) => {
                tracing::debug!("no inotify watch on {}: {e}; polling", dir.display());
                None
            }
        };
        LogWatch { fd }
    }

    /// How often the caller reads the log without a wake-up.
    pub(super) fn poll_period(&self, safety_poll: Duration) -> Duration {
        match self.fd {
            Some(_) => safety_poll,
            None => FALLBACK_POLL,
        }
    }

    /// Waits until something in the directory was written (never, without a watch).
    pub(super) async fn changed(&mut self) {
        let Some(fd) = &self.fd else {
            return std::future::pending().await;
        };
        loop {
            let Ok(mut ready) = fd.readable().await else {
                return std::future::pending().await;
            };
            let mut buf = [0u8; 4096];
            // SAFETY: reading into a buffer we own from the inotify fd we own.
            let n =
                unsafe { libc::read(fd.get_ref().as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 {
                return;
            }
            ready.clear_ready();
        }
    }
}

/// An inotify instance watching `dir` for modified and created files.
fn watch_dir(dir: &Path) -> std::io::Result<AsyncFd<OwnedFd>> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: plain syscalls; the fd is owned at once.
    let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by inotify_init1 and is owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: a valid fd and a NUL-terminated path.
    let wd = unsafe {
        libc::inotify_add_watch(
            fd.as_raw_fd(),
            path.as_ptr(),
            libc::IN_MODIFY | libc::IN_CREATE | libc::IN_CLOSE_WRITE,
        )
    };
    if wd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: an OwnedFd is a valid open descriptor for its whole life and always
    // returns the same one.
    unsafe { AsyncFd::register(fd) }.map_err(|e| e.into_parts().1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_line_appended_to_the_log_wakes_the_watch() {
        let dir = tempfile::tempdir().unwrap();
        let mut watch = LogWatch::new(dir.path());
        assert_eq!(
            watch.poll_period(Duration::from_secs(3600)),
            Duration::from_secs(3600),
            "inotify works here: only the safety poll remains"
        );
        let path = dir.path().join("events.jsonl");
        let writer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            std::fs::write(&path, "{\"type\":\"turn.started\"}\n").unwrap();
        });
        // Generous: the point is that it wakes at all, long before any poll would.
        tokio::time::timeout(Duration::from_secs(30), watch.changed())
            .await
            .expect("woken by the write");
        writer.await.unwrap();
    }
}
