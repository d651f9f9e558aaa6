//! The measured sections of issue 6, one module each (sections 2, 3 and the registry-size
//! part of 7 share one growing registry in `growth`; 9 is issue 12's load, 10 the status line), and what they
//! share.

pub mod growth;
pub mod ingest;
pub mod load;
pub mod memory;
pub mod notice;
pub mod real_codex;
pub mod rpc;
pub mod statusline;
pub mod throughput;

use crate::pueue::PueueBins;
use crate::setup::{Bins, Plan};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// What every section needs.
pub struct Ctx {
    /// The workspace binaries.
    pub bins: Bins,
    /// Sizes of this run.
    pub plan: Plan,
    /// Scratch directory of the run (daemons' state, sockets, stamps).
    pub scratch: PathBuf,
    /// Working directory of the fake tasks (not in a git work tree).
    pub work: PathBuf,
    /// pueue, when available.
    pub pueue: Option<PueueBins>,
}

/// Runs `cmd` to completion with captured output; returns its wall time (spawn to reap)
/// and the output. Fails when it exits non-zero.
pub fn timed(cmd: &mut Command) -> anyhow::Result<(Duration, Output)> {
    let t = Instant::now();
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()?;
    let elapsed = t.elapsed();
    if !out.status.success() {
        anyhow::bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok((elapsed, out))
}

/// A fresh directory under the scratch directory.
pub fn fresh_dir(ctx: &Ctx, name: &str) -> anyhow::Result<PathBuf> {
    let dir = ctx.scratch.join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Reads the CLOCK_MONOTONIC stamp (ns) `fake-codex` wrote at exit.
pub fn read_stamp(path: &Path) -> anyhow::Result<u128> {
    let text = std::fs::read_to_string(path)?;
    Ok(text.trim().parse()?)
}
