//! Everything codexctl prints goes through here, so a closed pipe is handled in one place.
//!
//! Writes to stdout map `EPIPE` (the reader went away: `codexctl list | head -1`) to
//! [`Failure::Closed`], which `main` turns into a quiet exit 0; any other write error is a
//! normal failure. Writes to stderr never fail: there is nowhere left to report that. The
//! crate denies `print!`/`println!`/`eprintln!` (they panic on a closed pipe).

use crate::{CmdResult, Failure};
use std::fmt::Display;
use std::io::{self, Write};

/// The failure for an error writing to stdout.
pub fn stdout_error(err: io::Error) -> Failure {
    if err.kind() == io::ErrorKind::BrokenPipe {
        Failure::Closed
    } else {
        Failure::Usage(format!("writing to stdout: {err}"))
    }
}

/// Writes `text` to stdout as is and flushes it.
pub fn text(text: &str) -> CmdResult {
    bytes(text.as_bytes())
}

/// Writes `data` to stdout and flushes it.
pub fn bytes(data: &[u8]) -> CmdResult {
    let mut out = io::stdout().lock();
    out.write_all(data)
        .and_then(|()| out.flush())
        .map_err(stdout_error)
}

/// Writes one line (a newline is added) to stdout and flushes it.
pub fn line(text: impl Display) -> CmdResult {
    let mut out = io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(stdout_error)
}

/// Flushes stdout (at exit); a closed pipe is not an error.
pub fn flush() -> CmdResult {
    io::stdout().flush().map_err(stdout_error)
}

/// Writes `text` to stderr as is, ignoring errors.
pub fn err_text(text: &str) {
    let mut err = io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

/// Writes `codexctl: MESSAGE` and a newline to stderr, ignoring errors.
pub fn warn(message: impl Display) {
    err_text(&format!("codexctl: {message}\n"));
}
