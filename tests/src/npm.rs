//! Pinned npm packages installed once per target dir, for the CLIs the tests drive for
//! real (the Codex CLI, the Claude Code CLI).
//!
//! [`PinnedPackage::locate_or_install`] installs `NAME@VERSION` with npm into
//! `TARGET/<dir>/VERSION`: into a temporary sibling first, renamed into place only once the
//! binary inside runs and reports the pinned version, all under an exclusive lock on
//! `TARGET/<dir>/VERSION.lock`. Concurrent test binaries and threads therefore never see or
//! use a half-finished install, and a complete one needs no lock to be used. `TARGET` is
//! `CARGO_TARGET_DIR` if set (relative to the workspace root), else the workspace's `target`.

use anyhow::{Context as _, bail};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One pinned npm package and where its binary is inside an install.
pub struct PinnedPackage {
    /// The npm package, e.g. `@openai/codex`.
    pub name: &'static str,
    /// The exact version, e.g. `0.169.0`.
    pub version: &'static str,
    /// The folder under `TARGET` holding its installs, e.g. `codex-cli`.
    pub dir: &'static str,
    /// The environment variable naming a binary to use instead of installing one.
    pub bin_env: &'static str,
    /// The binary inside an npm `--prefix` directory.
    pub binary_in: fn(&Path) -> anyhow::Result<PathBuf>,
    /// Environment for the `--version` check (e.g. no auto-updater).
    pub version_env: &'static [(&'static str, &'static str)],
}

impl PinnedPackage {
    /// The binary named by [`PinnedPackage::bin_env`] if set (it must exist), else the
    /// binary of the pinned install, installing it first when it is not there.
    pub fn locate_or_install(&self) -> anyhow::Result<PathBuf> {
        if let Some(bin) = std::env::var_os(self.bin_env).filter(|v| !v.is_empty()) {
            let bin = PathBuf::from(bin);
            if !bin.is_file() {
                bail!("{}={} is not a file", self.bin_env, bin.display());
            }
            return Ok(bin);
        }
        let root = target_dir().join(self.dir);
        let dest = root.join(self.version);
        let bin = (self.binary_in)(&dest)?;
        if bin.is_file() {
            // Complete installs only ever appear by rename, so no lock is needed to use one.
            return Ok(bin);
        }
        fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
        let lock_path = root.join(format!("{}.lock", self.version));
        let lock = fs::File::create(&lock_path)
            .with_context(|| format!("cannot create lock file {}", lock_path.display()))?;
        lock.lock()
            .with_context(|| format!("cannot lock {}", lock_path.display()))?;
        // Another process may have finished the install while we waited for the lock.
        if bin.is_file() {
            return Ok(bin);
        }
        self.install(&root, &dest)?;
        if !bin.is_file() {
            bail!(
                "npm installed {}@{} into {} but the binary {} is missing (was an optional \
                 platform package skipped, e.g. by --omit=optional?)",
                self.name,
                self.version,
                dest.display(),
                bin.display()
            );
        }
        drop(lock);
        Ok(bin)
    }

    /// Installs the package into a fresh temporary directory under `root`, checks its
    /// version and renames it to `dest`. The caller holds the install lock.
    fn install(&self, root: &Path, dest: &Path) -> anyhow::Result<()> {
        // Leftovers of installs that died half-way (we hold the lock: none is running).
        let tmp_prefix = format!(".tmp-{}-", self.version);
        if let Ok(entries) = fs::read_dir(root) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(&tmp_prefix) {
                    let _ = fs::remove_dir_all(entry.path());
                }
            }
        }
        // A directory without the binary (e.g. copied partially by hand) is not an install.
        if dest.exists() {
            fs::remove_dir_all(dest)
                .with_context(|| format!("cannot remove incomplete install {}", dest.display()))?;
        }
        let tmp = root.join(format!("{tmp_prefix}{}", std::process::id()));
        fs::create_dir_all(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        let result = self
            .npm_install(&tmp)
            .and_then(|()| self.check_version(&(self.binary_in)(&tmp)?));
        let version = match result {
            Ok(version) => version,
            Err(err) => {
                let _ = fs::remove_dir_all(&tmp);
                return Err(err);
            }
        };
        fs::rename(&tmp, dest)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), dest.display()))?;
        eprintln!("codexd-tests: installed {} {version}", self.name);
        Ok(())
    }

    /// Runs `npm install --prefix PREFIX NAME@VERSION`.
    fn npm_install(&self, prefix: &Path) -> anyhow::Result<()> {
        let package = format!("{}@{}", self.name, self.version);
        eprintln!(
            "codexd-tests: installing {package} into {} ...",
            prefix.display()
        );
        let output = Command::new("npm")
            .arg("install")
            .arg("--prefix")
            .arg(prefix)
            .args(["--no-audit", "--no-fund", "--loglevel=error"])
            .arg(&package)
            .stdin(Stdio::null())
            .output();
        let output = match output {
            Ok(output) => output,
            Err(err) if err.kind() == io::ErrorKind::NotFound => bail!(
                "npm not found on PATH: it is needed to install {package} for the e2e tests \
                 (install Node.js and npm, e.g. `apt-get install npm`), or set {} to a binary \
                 of version {}",
                self.bin_env,
                self.version
            ),
            Err(err) => return Err(err).context("cannot run npm"),
        };
        if !output.status.success() {
            bail!(
                "`npm install --prefix {} {package}` failed ({}):\n{}{}",
                prefix.display(),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    /// Runs `BIN --version` and returns its output when it names the pinned version.
    fn check_version(&self, bin: &Path) -> anyhow::Result<String> {
        let out = Command::new(bin)
            .arg("--version")
            .envs(self.version_env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {}", bin.display()))?;
        if !out.status.success() {
            bail!(
                "{} --version failed ({}): {}",
                bin.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !version.contains(self.version) {
            bail!(
                "npm installed {} reporting {version:?}, expected version {}",
                self.name,
                self.version
            );
        }
        Ok(version)
    }
}

/// The workspace's target directory (`CARGO_TARGET_DIR`, relative to the workspace root,
/// or `target`).
pub fn target_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace.join(dir),
        _ => workspace.join("target"),
    }
}
