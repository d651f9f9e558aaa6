//! Owner-only files and directories: the helpers every part of the daemon that writes to
//! the state or runtime directory shares (private directories, atomic replacement,
//! append-only logs) and the error that names the file and the operation.

use anyhow::{Context, bail};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// An I/O failure on a named file, with the operation that failed.
#[derive(Debug, thiserror::Error)]
#[error("{op} {}: {source}", path.display())]
pub struct FileError {
    /// What was being done.
    pub op: &'static str,
    /// The file.
    pub path: PathBuf,
    /// The OS error.
    #[source]
    pub source: io::Error,
}

impl FileError {
    /// A failure of `op` on `path`.
    pub fn new(op: &'static str, path: &Path, source: io::Error) -> Self {
        FileError {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Creates `dir` (and parents) with mode 0700, or checks that an existing one belongs to us
/// and is private (tightening its mode if it is ours, and refusing a shared directory such
/// as /tmp, which must keep its mode).
pub fn private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("create directory {}", dir.display()))?;
    let meta = std::fs::metadata(dir).with_context(|| format!("stat {}", dir.display()))?;
    let uid = codexd_api::paths::current_uid();
    if meta.uid() != uid {
        bail!(
            "{} belongs to uid {}, not to this user (uid {uid}): refusing to use it",
            dir.display(),
            meta.uid()
        );
    }
    // A shared directory (world-writable or sticky, like /tmp) is never made private: that
    // would lock every other user and program out of it.
    if meta.mode() & 0o1002 != 0 {
        bail!(
            "{} is a shared directory (mode {:o}): use a directory of its own, e.g. {}",
            dir.display(),
            meta.mode() & 0o7777,
            dir.join("codexd").display()
        );
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("make {} private (0700)", dir.display()))?;
    }
    Ok(())
}

/// Opens a file for appending, creating it owner-only.
pub fn open_append(path: &Path) -> Result<File, FileError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| FileError::new("open for append", path, e))
}

/// Writes `bytes` to `path` atomically and durably: a temporary file in the same directory,
/// fsync, rename, fsync of the directory. Readers see the old content or the new, never a
/// part, and the new content survives a power loss once this returns.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    replace_file(path, bytes, true)
}

/// Like [`write_atomic`], with the fsyncs only when `durable`: without them the file is
/// still replaced whole and survives any crash of a process, but not a power loss.
pub fn replace_file(path: &Path, bytes: &[u8], durable: bool) -> Result<(), FileError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("tmp");
    let result = (|| {
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(bytes)?;
        if durable {
            file.sync_all()?;
        }
        fs::rename(&tmp, path)?;
        if durable {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    result.map_err(|e: io::Error| FileError::new("write", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_directory_is_refused_and_left_as_it_is() {
        let root = tempfile::tempdir().unwrap();
        let shared = root.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let err = private_dir(&shared).unwrap_err().to_string();
        assert!(err.contains("is a shared directory"), "{err}");
        let mode = std::fs::metadata(&shared).unwrap().mode() & 0o7777;
        assert_eq!(mode, 0o1777, "a shared directory keeps its mode");
        // A directory of ours that is merely too open is tightened.
        let ours = root.path().join("ours");
        std::fs::create_dir(&ours).unwrap();
        std::fs::set_permissions(&ours, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&ours).unwrap();
        assert_eq!(std::fs::metadata(&ours).unwrap().mode() & 0o777, 0o700);
    }

    #[test]
    fn atomic_write_replaces_content_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exit.json");
        write_atomic(&path, b"1").unwrap();
        write_atomic(&path, b"22").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"22");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
