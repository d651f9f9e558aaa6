//! The per-run supervisor process (`codexd run-task`).
//!
//! The daemon does not run codex itself: it starts this small process, in a new session,
//! which runs codex and owns its output. That way a run does not depend on the daemon:
//! - codex's stdout (JSONL events) and stderr are appended line by line to the task's
//!   `events.jsonl` and `stderr.log`, so a daemon that restarts can pick up where it was;
//! - once codex is started, its pid and start time go to `run.json`;
//! - when codex ends, the exit status is written atomically to `exit.json`, which a daemon
//!   that did not spawn the run (and so cannot `wait` for it) reads.
//!
//! - every line is redacted ([`crate::redact`]) before it is written: secrets that pass
//!   through codex's output never reach the state directory;
//!
//! SIGINT/SIGTERM/SIGHUP sent to the process group reach codex; this process only notes them
//! (handlers are reset on exec, so codex gets default dispositions) and waits for codex, so
//! the exit status is always recorded. SIGKILL ends both.

use crate::redact::{RedactConfig, RedactError, Redactor};
use crate::taskdir::{
    self, EVENTS_FILE, EXIT_FILE, ExitRecord, RUN_FILE, RunRecord, STDERR_FILE, TIMES_FILE,
};
use codexd_api::Timestamp;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};

extern "C" fn note_signal(_: libc::c_int) {}

fn install_signal_handlers() {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: installing a handler that does nothing is async-signal-safe.
        unsafe {
            libc::signal(signal, note_signal as *const () as libc::sighandler_t);
        }
    }
}

/// How a stream's lines are redacted before they are written.
#[derive(Clone, Copy)]
enum LineKind {
    /// JSON event lines: redacted inside string values, so each line stays valid JSON.
    JsonEvents,
    /// Plain text.
    Text,
}

/// Copies `input` to `output` one complete line at a time (a partial last line is completed
/// with a newline), so a reader never sees half a line followed by another line. Every line
/// is redacted first: no secret reaches the file. With `times`, records
/// `offset<TAB>unix_ms` of each line there (command durations come from it).
fn copy_lines(
    input: impl Read,
    mut output: std::fs::File,
    mut times: Option<std::fs::File>,
    redactor: &Redactor,
    kind: LineKind,
) -> std::io::Result<()> {
    let mut reader = BufReader::with_capacity(64 * 1024, input);
    let mut raw = Vec::new();
    let mut offset = output.metadata()?.len();
    loop {
        raw.clear();
        if reader.read_until(b'\n', &mut raw)? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&raw);
        let text = text.strip_suffix('\n').unwrap_or(&text);
        let mut line = match kind {
            LineKind::JsonEvents => redactor.redact_json_line(text),
            LineKind::Text => redactor.redact(text).into_owned(),
        }
        .into_bytes();
        line.push(b'\n');
        output.write_all(&line)?;
        if let Some(times) = &mut times {
            writeln!(times, "{offset}\t{}", Timestamp::now().unix_ms())?;
        }
        offset += line.len() as u64;
    }
}

/// The redactor of a run: the built-in rules, the daemon's extra `patterns`, and the
/// values of the secret-looking variables of this process's environment (which is the run's).
pub fn run_redactor(patterns: &[(String, String)]) -> Result<Redactor, RedactError> {
    Redactor::new(&RedactConfig {
        extra_patterns: patterns.to_vec(),
        env_values: std::env::vars().collect(),
    })
}

/// Runs `program args` with the task directory's files as its output; returns the process
/// exit code of this runner (0 once the exit status is recorded).
pub fn run(
    task_dir: &Path,
    patterns: &[(String, String)],
    program: &OsString,
    args: &[OsString],
) -> i32 {
    install_signal_handlers();
    let record = |record: ExitRecord| {
        let bytes = serde_json::to_vec(&record).unwrap_or_default();
        match taskdir::write_atomic(&task_dir.join(EXIT_FILE), &bytes) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("codexd run-task: {e}");
                1
            }
        }
    };
    let spawn_failed = |message: String| ExitRecord {
        code: None,
        signal: None,
        spawn_error: Some(message),
        finished_at: Timestamp::now(),
    };
    let (events, stderr_log) = match (
        taskdir::open_append(&task_dir.join(EVENTS_FILE)),
        taskdir::open_append(&task_dir.join(STDERR_FILE)),
    ) {
        (Ok(events), Ok(stderr)) => (events, stderr),
        (Err(e), _) | (_, Err(e)) => return record(spawn_failed(e.to_string())),
    };
    // Without its redactor a run must not start: its output would reach the disk raw.
    let redactor = match run_redactor(patterns) {
        Ok(redactor) => redactor,
        Err(e) => return record(spawn_failed(format!("cannot start redaction: {e}"))),
    };
    let mut child = match Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            return record(spawn_failed(format!(
                "could not start {}: {e}",
                Path::new(program).display()
            )));
        }
    };
    let run = RunRecord {
        runner_pid: std::process::id(),
        codex_pid: child.id(),
        started_at: Timestamp::now(),
    };
    if let Err(e) = serde_json::to_vec(&run)
        .map_err(|e| e.to_string())
        .and_then(|bytes| {
            taskdir::write_atomic(&task_dir.join(RUN_FILE), &bytes).map_err(|e| e.to_string())
        })
    {
        eprintln!("codexd run-task: {e}");
    }
    let stderr_copier = child.stderr.take().map(|stderr| {
        let redactor = redactor.clone();
        std::thread::spawn(move || copy_lines(stderr, stderr_log, None, &redactor, LineKind::Text))
    });
    let times = taskdir::open_append(&task_dir.join(TIMES_FILE)).ok();
    if let Some(stdout) = child.stdout.take()
        && let Err(e) = copy_lines(stdout, events, times, &redactor, LineKind::JsonEvents)
    {
        eprintln!("codexd run-task: copying events: {e}");
    }
    if let Some(copier) = stderr_copier {
        let _ = copier.join();
    }
    let status = loop {
        match child.wait() {
            Ok(status) => break status,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return record(spawn_failed(format!("waiting for codex: {e}"))),
        }
    };
    record(ExitRecord {
        code: status.code(),
        signal: status.signal(),
        spawn_error: None,
        finished_at: Timestamp::now(),
    })
}
