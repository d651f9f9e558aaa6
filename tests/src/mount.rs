//! A small tmpfs for tests of a full or read-only state directory (mounting needs root;
//! [`SmallMount::new`] is `None` where it cannot mount, and the test then skips).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A small tmpfs mounted for the test (needs root); unmounted on drop.
pub struct SmallMount {
    dir: tempfile::TempDir,
}

impl SmallMount {
    /// A tmpfs of `size` (e.g. `16m`) on a new temporary directory; `None` when it cannot be
    /// mounted here.
    pub fn new(size: &str) -> Option<SmallMount> {
        let dir = tempfile::tempdir().ok()?;
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(SmallMount { dir })
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Makes `dir` (inside the mount) read-only with a read-only bind mount over it.
    pub fn read_only(&self, dir: &Path) -> bool {
        let run = |args: &[&str]| {
            Command::new("mount")
                .args(args)
                .arg(dir)
                .arg(dir)
                .status()
                .is_ok_and(|s| s.success())
        };
        run(&["--bind"])
            && Command::new("mount")
                .args(["-o", "remount,bind,ro"])
                .arg(dir)
                .status()
                .is_ok_and(|s| s.success())
    }

    /// Undoes [`SmallMount::read_only`].
    pub fn writable(&self, dir: &Path) -> bool {
        Command::new("umount")
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for SmallMount {
    /// Unmounts it (lazily: a test may still hold files open).
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the file system holding `dir` until a write fails; returns the filler's path.
pub fn fill_up(dir: &Path) -> PathBuf {
    let filler = dir.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while file.write_all(&chunk).is_ok() {}
    let _ = file.sync_all();
    filler
}
