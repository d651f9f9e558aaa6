//! The per-run supervisor process (`codexd run-task`).
//!
//! The daemon does not run codex itself: it starts this small process, in a new session,
//! which runs codex and owns its output. That way a run does not depend on the daemon:
//! - what to run comes on this process's stdin, as one JSON [`RunSpec`] (codex's program and
//!   arguments, the prompt, the redaction settings), never on a command line: every local
//!   user can read a command line (`ps`, `/proc/PID/cmdline`). The prompt goes on to codex
//!   through a pipe to its stdin (`codex exec ... -`), which this process owns: once the
//!   spec is read, the daemon's end of the pipe may close (a daemon restart) harmlessly;
//! - codex's stdout (JSONL events) and stderr are appended line by line to the task's
//!   `events.jsonl` and `stderr.log`, so a daemon that restarts can pick up where it was;
//! - once codex is started, its pid and start time go to `run.json`;
//! - when codex ends, the exit status is written atomically to `exit.json`, which a daemon
//!   that did not spawn the run (and so cannot `wait` for it) reads.
//!
//! - every line is redacted ([`crate::redact`]) before it is written: secrets that pass
//!   through codex's output never reach the state directory;
//! - each file is bounded ([`LogBudget`]): past the limit, event lines are shortened, then
//!   only the events that settle a task (`thread.started`, `turn.*`, `error`, codex's
//!   messages) are kept, and a `codexd.log_truncated` event marks the point; stderr just
//!   stops, with a note.
//!
//! SIGINT/SIGTERM/SIGHUP sent to the process group reach codex; this process only notes them
//! (handlers are reset on exec, so codex gets default dispositions) and waits for codex, so
//! the exit status is always recorded. SIGKILL ends both.

use super::config_layer::{self, ConfigLayer};
use super::watchdog::{self, Progress, RunLimits};
use crate::files;
use crate::redact::{RedactConfig, RedactError, Redactor};
use crate::registry::records::{
    EVENTS_FILE, EXIT_FILE, ExitRecord, RUN_FILE, RunRecord, STDERR_FILE, TIMES_FILE,
    TRUNCATED_EVENT, unrecorded_exit_code,
};
use codexd_api::Timestamp;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// What the daemon sends a runner on its stdin, as one JSON document: everything that
/// must not be on a command line.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct RunSpec {
    /// The codex binary.
    pub program: OsString,
    /// Its arguments, with `-` for the prompt (read from its stdin).
    pub args: Vec<OsString>,
    /// The prompt, unredacted: written to codex's stdin.
    pub prompt: String,
    /// The overrides codex gets in a per-run profile file rather than as `-c` arguments
    /// (written before codex starts, removed when it ends).
    #[serde(default)]
    pub config_layer: Option<ConfigLayer>,
    /// The daemon's extra redaction rules, `(name, regex)`.
    pub redact_patterns: Vec<(String, String)>,
    /// Names of the environment variables the client set explicitly (`--env`): their
    /// values are redacted whatever they look like (see [`crate::redact::explicit_env`]).
    pub explicit_env: Vec<String>,
    /// Most bytes kept of each of the run's logs.
    pub max_log_bytes: u64,
    /// The wall-clock and stall limits this runner enforces itself.
    #[serde(default)]
    pub limits: RunLimits,
    /// Where the exit status goes when `exit.json` cannot be written, in order (see
    /// [`super::exit_fallback`]).
    #[serde(default)]
    pub exit_fallbacks: Vec<std::path::PathBuf>,
}

impl std::fmt::Debug for RunSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The prompt and the arguments (`-c` values) stay out of logs.
        f.debug_struct("RunSpec")
            .field("program", &self.program)
            .field("args", &self.args.len())
            .field("explicit_env", &self.explicit_env)
            .finish_non_exhaustive()
    }
}

/// The largest spec a runner reads (a prompt is at most 128 KiB; the rest is small).
const MAX_SPEC_BYTES: u64 = 64 * 1024 * 1024;

/// Reads the [`RunSpec`] from `input` to its end.
pub fn read_spec(input: impl Read) -> Result<RunSpec, String> {
    let mut bytes = Vec::new();
    input
        .take(MAX_SPEC_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the run's spec from stdin: {e}"))?;
    if bytes.len() as u64 > MAX_SPEC_BYTES {
        return Err(format!("the run's spec is over {MAX_SPEC_BYTES} bytes"));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        format!("the run's spec on stdin is incomplete or invalid (did the daemon stop?): {e}")
    })
}

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

/// Event types kept whatever the log's size: a task's outcome is decided by them.
const ESSENTIAL_EVENTS: [&str; 5] = [
    "thread.started",
    "turn.started",
    "turn.completed",
    "turn.failed",
    "error",
];

/// Longest string kept in an event line once the log is over its limit.
const SHORTENED_STRING_CHARS: usize = 1024;

/// Longest string kept in an essential event (a final answer, an error) past the limit.
const ESSENTIAL_STRING_CHARS: usize = 16 * 1024;

/// True for events kept whatever the log's size: those that settle the task, and codex's
/// messages (the last one is the task's answer).
fn is_essential(event: &serde_json::Value) -> bool {
    let kind = event.get("type").and_then(|t| t.as_str()).unwrap_or("");
    let item = event
        .get("item")
        .and_then(|i| i.get("type"))
        .and_then(|t| t.as_str());
    ESSENTIAL_EVENTS.contains(&kind)
        || (kind == "item.completed" && matches!(item, Some("agent_message" | "error")))
}

/// How much of one output file is kept: everything up to `limit` bytes; then, for event
/// logs, shortened events within a reserve of an eighth of the limit; then only essential
/// events (a few hundred bytes each, a handful per run).
#[derive(Debug, Clone)]
pub struct LogBudget {
    limit: u64,
    reserve: u64,
    written: u64,
    truncated: bool,
}

impl LogBudget {
    /// A budget of `limit` bytes for a file that already holds `written` bytes.
    pub fn new(limit: u64, written: u64) -> LogBudget {
        LogBudget {
            limit,
            reserve: (limit / 8).clamp(64 * 1024, 64 * 1024 * 1024),
            written,
            truncated: false,
        }
    }

    /// The longest line read whole; longer ones are dropped as they arrive.
    fn max_line(&self) -> usize {
        usize::try_from(self.limit.clamp(64 * 1024, 64 * 1024 * 1024)).unwrap_or(usize::MAX)
    }

    /// What to write for one (redacted) event line, in order: maybe the truncation marker,
    /// then the line as is, shortened, or not at all.
    pub fn admit_event(&mut self, line: String) -> Vec<String> {
        let mut out = Vec::new();
        if self.written + (line.len() as u64) < self.limit && !self.truncated {
            self.written += line.len() as u64 + 1;
            out.push(line);
            return out;
        }
        if let Some(marker) = self.start_truncating() {
            out.push(marker);
        }
        let Ok(mut value) = serde_json::from_str::<serde_json::Value>(&line) else {
            return out;
        };
        let essential = is_essential(&value);
        let max_chars = if essential {
            ESSENTIAL_STRING_CHARS
        } else {
            SHORTENED_STRING_CHARS
        };
        shorten_strings(&mut value, max_chars);
        let short = value.to_string();
        let fits_reserve = self.written + (short.len() as u64) < self.limit + self.reserve;
        if essential || fits_reserve {
            self.written += short.len() as u64 + 1;
            out.push(short);
        }
        out
    }

    /// What to write for one text line: the line, the note that the rest is dropped, or
    /// nothing.
    pub fn admit_text(&mut self, line: String) -> Option<String> {
        if self.truncated {
            return None;
        }
        if self.written + (line.len() as u64) < self.limit {
            self.written += line.len() as u64 + 1;
            return Some(line);
        }
        self.truncated = true;
        Some(format!(
            "[codexd: this log reached its limit of {} bytes; the rest was dropped]",
            self.limit
        ))
    }

    /// Marks the log truncated (also when an event line too long to read whole is dropped);
    /// returns the marker event to write the first time.
    fn start_truncating(&mut self) -> Option<String> {
        if self.truncated {
            return None;
        }
        self.truncated = true;
        let marker = serde_json::json!({
            "type": TRUNCATED_EVENT,
            "limit_bytes": self.limit,
            "message": format!(
                "codexd: the event log reached its limit of {} bytes; later events are \
                 shortened, then only turn, error and message events are kept",
                self.limit
            ),
        })
        .to_string();
        self.written += marker.len() as u64 + 1;
        Some(marker)
    }
}

/// Shortens every string in `value` to at most `max` characters.
fn shorten_strings(value: &mut serde_json::Value, max: usize) {
    match value {
        serde_json::Value::String(text) if text.chars().count() > max => {
            let kept: String = text.chars().take(max).collect();
            *text = format!("{kept}…[shortened by codexd]");
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| shorten_strings(v, max)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|v| shorten_strings(v, max)),
        _ => {}
    }
}

/// Reads one line (without its newline) into `buf`, reading at most `max` bytes of it: a
/// longer line is consumed and dropped. Returns `None` at the end of input, else whether
/// the line was whole.
fn read_line_limited(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<bool>> {
    buf.clear();
    let mut whole = true;
    let mut seen_any = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(seen_any.then_some(whole));
        }
        seen_any = true;
        let (chunk, end) = match available.iter().position(|&b| b == b'\n') {
            Some(pos) => (&available[..pos], Some(pos + 1)),
            None => (available, None),
        };
        if whole && buf.len() + chunk.len() <= max {
            buf.extend_from_slice(chunk);
        } else if whole {
            whole = false;
            buf.clear();
        }
        let consumed = end.unwrap_or(available.len());
        reader.consume(consumed);
        if end.is_some() {
            return Ok(Some(whole));
        }
    }
}

/// Copies `input` to `output` one complete line at a time (a partial last line is completed
/// with a newline), so a reader never sees half a line followed by another line. Every line
/// is redacted first: no secret reaches the file. The file is bounded by `limit` bytes. With
/// `times`, records `offset<TAB>unix_ms` of each line there (command durations come from it).
/// If writing fails (a full disk), the input is still read to its end, so codex never blocks
/// on its output, and the error is returned then.
fn copy_lines(
    input: impl Read,
    mut output: std::fs::File,
    mut times: Option<std::fs::File>,
    redactor: &Redactor,
    kind: LineKind,
    limit: u64,
    progress: Option<&Progress>,
) -> std::io::Result<()> {
    let mut reader = BufReader::with_capacity(64 * 1024, input);
    let mut raw = Vec::new();
    let mut offset = output.metadata()?.len();
    let mut budget = LogBudget::new(limit, offset);
    // Plain text is redacted line by line, with what an earlier line opened (a key block).
    let mut text_lines = redactor.text_lines();
    let mut write_failed: Option<std::io::Error> = None;
    loop {
        let Some(whole) = read_line_limited(&mut reader, &mut raw, budget.max_line())? else {
            return write_failed.map_or(Ok(()), Err);
        };
        let admitted: Vec<String> = if !whole {
            match kind {
                LineKind::JsonEvents => budget.start_truncating().into_iter().collect(),
                LineKind::Text => budget
                    .admit_text("[codexd: a line too long to keep was dropped]".into())
                    .into_iter()
                    .collect(),
            }
        } else {
            let text = String::from_utf8_lossy(&raw);
            match kind {
                LineKind::JsonEvents => budget.admit_event(redactor.redact_json_line(&text)),
                LineKind::Text => budget
                    .admit_text(text_lines.redact_line(&text).into_owned())
                    .into_iter()
                    .collect(),
            }
        };
        if let Some(progress) = progress {
            for line in &admitted {
                progress.observe(line);
            }
        }
        if write_failed.is_some() {
            // Keep draining: codex must never block on a full pipe because the disk is.
            continue;
        }
        for line in admitted {
            let mut line = line.into_bytes();
            line.push(b'\n');
            let written = output.write_all(&line).and_then(|()| match &mut times {
                Some(times) => writeln!(times, "{offset}\t{}", Timestamp::now().unix_ms()),
                None => Ok(()),
            });
            if let Err(e) = written {
                eprintln!("codexd run-task: cannot write the log ({e}); the rest is dropped");
                write_failed = Some(e);
                break;
            }
            offset += line.len() as u64;
        }
    }
}

/// The redactor of a run: the built-in rules, the daemon's extra `patterns`, the values of
/// the secret-looking variables of this process's environment (which is the run's), and
/// the values of the variables named in `explicit` whatever they look like.
pub fn run_redactor(
    patterns: &[(String, String)],
    explicit: &[String],
) -> Result<Redactor, RedactError> {
    let vars: Vec<(String, String)> = std::env::vars().collect();
    let explicit: Vec<(String, String)> = vars
        .iter()
        .filter(|(name, _)| explicit.contains(name))
        .cloned()
        .collect();
    Redactor::new(&RedactConfig {
        extra_patterns: patterns.to_vec(),
        env_values: Vec::new(),
    })?
    .with_env(&vars, &explicit)
}

/// The `run-task` process: reads its [`RunSpec`] from stdin, then [`run`]s it. Returns
/// the process exit code.
pub fn run_from_stdin(task_dir: &Path) -> i32 {
    match read_spec(std::io::stdin().lock()) {
        Ok(spec) => run(task_dir, spec),
        Err(message) => record_exit(
            task_dir,
            ExitRecord {
                code: None,
                signal: None,
                spawn_error: Some(message),
                not_recorded: None,
                finished_at: Timestamp::now(),
            },
            &[],
        ),
    }
}

/// Writes `exit.json`; returns this runner's exit code: 0 once it is written, else
/// [`unrecorded_exit_code`] of the failure (a full or read-only disk, a deleted
/// directory), which tells the daemon that spawned this runner why the record is missing.
/// The record then goes, with that reason, to the first of `fallbacks` that takes it, for
/// a daemon that is not this runner's parent (it restarted meanwhile).
fn record_exit(task_dir: &Path, record: ExitRecord, fallbacks: &[std::path::PathBuf]) -> i32 {
    let path = task_dir.join(EXIT_FILE);
    let bytes = serde_json::to_vec(&record).unwrap_or_default();
    match files::write_atomic(&path, &bytes) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("codexd run-task: the exit status could not be recorded: {e}");
            let kept = ExitRecord {
                not_recorded: Some(format!("cannot write {}: {}", path.display(), e.source)),
                ..record
            };
            super::exit_fallback::write(fallbacks, &kept);
            unrecorded_exit_code(&e.source)
        }
    }
}

/// Makes the program SIGKILLed when this runner ends, however it ends (Linux:
/// `PR_SET_PDEATHSIG`), so a killed supervisor never leaves codex running unwatched. The
/// signal follows the death of the *thread* that forked, so this is called from the main
/// thread, which waits for codex to the end. Codex's own children are then killed by the
/// daemon (process group, cgroup, marker).
fn die_with_this_thread(command: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: getpid before the fork; prctl and getppid are async-signal-safe.
        let parent = unsafe { libc::getpid() };
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The runner died between the fork and the prctl: no signal would come.
                if libc::getppid() != parent {
                    libc::_exit(137);
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = command;
}

/// Runs the spec's program with the prompt on its stdin and the task directory's files as
/// its output; returns the process exit code of this runner (0 once the exit status is
/// recorded).
pub fn run(task_dir: &Path, spec: RunSpec) -> i32 {
    install_signal_handlers();
    let RunSpec {
        program,
        args,
        prompt,
        config_layer,
        redact_patterns: patterns,
        explicit_env,
        max_log_bytes,
        limits,
        exit_fallbacks,
    } = spec;
    let record = |record: ExitRecord| record_exit(task_dir, record, &exit_fallbacks);
    let spawn_failed = |message: String| ExitRecord {
        code: None,
        signal: None,
        spawn_error: Some(message),
        not_recorded: None,
        finished_at: Timestamp::now(),
    };
    let (events, stderr_log) = match (
        files::open_append(&task_dir.join(EVENTS_FILE)),
        files::open_append(&task_dir.join(STDERR_FILE)),
    ) {
        (Ok(events), Ok(stderr)) => (events, stderr),
        (Err(e), _) | (_, Err(e)) => return record(spawn_failed(e.to_string())),
    };
    // Removed when this function returns, however it returns: codex has ended by then.
    let _layer_file = match config_layer
        .as_ref()
        .map(|l| config_layer::write(l, task_dir))
    {
        Some(Ok(file)) => Some(file),
        Some(Err(message)) => return record(spawn_failed(message)),
        None => None,
    };
    // Codex is started before the redaction rules are compiled (a few milliseconds) so that
    // the compilation overlaps its start-up instead of delaying it. Nothing it prints is
    // read, let alone kept, until the redactor is ready: it waits in the pipes.
    let mut command = Command::new(&program);
    command
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    die_with_this_thread(&mut command);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            return record(spawn_failed(format!(
                "could not start {}: {e}",
                Path::new(&program).display()
            )));
        }
    };
    // The prompt goes to codex's stdin, then the pipe closes: codex reads it to the end
    // (`-` as the prompt). A thread, as a prompt can be larger than the pipe's buffer.
    if let Some(mut stdin) = child.stdin.take() {
        std::thread::spawn(move || {
            // A codex that exits before reading it all fails the write (EPIPE): its exit
            // status says why.
            let _ = stdin.write_all(prompt.as_bytes());
        });
    }
    let run = RunRecord {
        runner_pid: std::process::id(),
        codex_pid: child.id(),
        started_at: Timestamp::now(),
    };
    // Without its redactor a run must not go on: its output would reach the disk raw.
    let redactor = match run_redactor(&patterns, &explicit_env) {
        Ok(redactor) => redactor,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return record(spawn_failed(format!(
                "cannot start redaction: {e} (codex was stopped before any of its output was kept)"
            )));
        }
    };
    if let Err(e) = serde_json::to_vec(&run)
        .map_err(|e| e.to_string())
        .and_then(|bytes| {
            files::write_atomic(&task_dir.join(RUN_FILE), &bytes).map_err(|e| e.to_string())
        })
    {
        eprintln!("codexd run-task: {e}");
    }
    let stderr_copier = child.stderr.take().map(|stderr| {
        let redactor = redactor.clone();
        std::thread::spawn(move || {
            copy_lines(
                stderr,
                stderr_log,
                None,
                &redactor,
                LineKind::Text,
                max_log_bytes,
                None,
            )
        })
    });
    let progress = std::sync::Arc::new(Progress::default());
    let watchdog = watchdog::spawn(limits, progress.clone(), child.id(), task_dir);
    let times = files::open_append(&task_dir.join(TIMES_FILE)).ok();
    if let Some(stdout) = child.stdout.take()
        && let Err(e) = copy_lines(
            stdout,
            events,
            times,
            &redactor,
            LineKind::JsonEvents,
            max_log_bytes,
            Some(&progress),
        )
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
    progress.finish();
    if let Some(watchdog) = watchdog {
        let _ = watchdog.join();
    }
    record(ExitRecord {
        code: status.code(),
        signal: status.signal(),
        spawn_error: None,
        not_recorded: None,
        finished_at: Timestamp::now(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, text_len: usize) -> String {
        serde_json::json!({"type": kind, "item": {"text": "x".repeat(text_len)}}).to_string()
    }

    fn admit_all(budget: &mut LogBudget, lines: &[String]) -> Vec<String> {
        lines
            .iter()
            .flat_map(|l| budget.admit_event(l.clone()))
            .collect()
    }

    #[test]
    fn under_the_limit_every_line_is_kept_as_is() {
        let mut budget = LogBudget::new(1 << 20, 0);
        let lines: Vec<String> = (0..10).map(|_| event("item.completed", 100)).collect();
        assert_eq!(admit_all(&mut budget, &lines), lines);
    }

    #[test]
    fn past_the_limit_the_log_is_marked_shortened_then_only_essential_events_kept() {
        let limit = 256 * 1024;
        let mut budget = LogBudget::new(limit, 0);
        let mut lines = vec![event("thread.started", 10), event("turn.started", 0)];
        lines.extend((0..2000).map(|_| event("item.completed", 10_000)));
        lines.push(event("turn.completed", 0));
        let kept = admit_all(&mut budget, &lines);
        let total: usize = kept.iter().map(|l| l.len() + 1).sum();
        // Bounded: the limit, plus the reserve of shortened lines, plus the essentials.
        assert!(total as u64 <= limit + budget.reserve + 4096, "{total}");
        let markers: Vec<&String> = kept
            .iter()
            .filter(|l| l.contains(TRUNCATED_EVENT))
            .collect();
        assert_eq!(markers.len(), 1, "one marker");
        let marker_at = kept
            .iter()
            .position(|l| l.contains(TRUNCATED_EVENT))
            .unwrap();
        // Before the marker: untouched lines; after it: shortened ones.
        assert!(kept[..marker_at].iter().all(|l| lines.contains(l)));
        let after = &kept[marker_at + 1..];
        assert!(!after.is_empty());
        assert!(
            after[..after.len() - 1]
                .iter()
                .all(|l| l.contains("shortened by codexd") && l.len() < 2000)
        );
        // The event that settles the task is kept, last.
        let last: serde_json::Value = serde_json::from_str(kept.last().unwrap()).unwrap();
        assert_eq!(last["type"], "turn.completed");
        // Every kept line is still valid JSON.
        for line in &kept {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
    }

    #[test]
    fn an_existing_log_counts_against_the_limit() {
        let mut budget = LogBudget::new(100_000, 100_000);
        let kept = budget.admit_event(event("item.completed", 10));
        assert!(kept[0].contains(TRUNCATED_EVENT));
    }

    #[test]
    fn text_logs_stop_with_a_note() {
        let mut budget = LogBudget::new(100, 0);
        assert_eq!(budget.admit_text("a".repeat(50)), Some("a".repeat(50)));
        let note = budget.admit_text("b".repeat(60)).unwrap();
        assert!(note.contains("limit of 100 bytes"), "{note}");
        assert_eq!(budget.admit_text("c".into()), None);
    }

    #[test]
    fn long_lines_are_dropped_without_being_held_whole() {
        let input = format!("short\n{}\nafter\nlast-without-newline", "z".repeat(5000));
        let mut reader = BufReader::with_capacity(64, input.as_bytes());
        let mut buf = Vec::new();
        let mut read = Vec::new();
        while let Some(whole) = read_line_limited(&mut reader, &mut buf, 1000).unwrap() {
            assert!(buf.len() <= 1000);
            read.push((whole, String::from_utf8(buf.clone()).unwrap()));
        }
        assert_eq!(
            read,
            vec![
                (true, "short".to_string()),
                (false, String::new()),
                (true, "after".to_string()),
                (true, "last-without-newline".to_string()),
            ]
        );
    }

    #[test]
    fn copying_a_huge_run_output_stays_within_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let out = std::fs::File::create(&path).unwrap();
        let mut input = String::new();
        input.push_str(&event("thread.started", 5));
        input.push('\n');
        for _ in 0..500 {
            input.push_str(&event("item.completed", 20_000));
            input.push('\n');
        }
        input.push_str(&"q".repeat(200_000)); // one overlong non-JSON line
        input.push('\n');
        input.push_str(
            &serde_json::json!({"type": "item.completed",
                "item": {"id": "m", "type": "agent_message", "text": "the answer"}})
            .to_string(),
        );
        input.push('\n');
        input.push_str(&event("turn.completed", 0));
        input.push('\n');
        let redactor = run_redactor(&[], &[]).unwrap();
        copy_lines(
            input.as_bytes(),
            out,
            None,
            &redactor,
            LineKind::JsonEvents,
            128 * 1024,
            None,
        )
        .unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        assert!(
            written.len() < 128 * 1024 + 64 * 1024 + 4096,
            "{}",
            written.len()
        );
        let types: Vec<String> = written
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["type"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(types.first().unwrap(), "thread.started");
        assert_eq!(types.last().unwrap(), "turn.completed");
        assert!(written.contains("the answer"), "codex's message is kept");
        assert_eq!(types.iter().filter(|t| *t == TRUNCATED_EVENT).count(), 1);
    }

    #[test]
    fn the_spec_comes_on_stdin_and_the_prompt_goes_to_the_programs_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let spec = RunSpec {
            program: "/bin/sh".into(),
            // Prints what arrives on stdin as one JSON event line.
            args: vec![
                "-c".into(),
                r#"printf '{"type":"item.completed","text":"%s"}\n' "$(cat)""#.into(),
            ],
            prompt: "-starts with a dash; \"quoted\"".replace('"', "'"),
            config_layer: None,
            redact_patterns: vec![],
            explicit_env: vec![],
            max_log_bytes: u64::MAX,
            limits: RunLimits::default(),
            exit_fallbacks: vec![],
        };
        let wire = serde_json::to_vec(&spec).unwrap();
        let back = read_spec(wire.as_slice()).unwrap();
        assert_eq!(back.prompt, spec.prompt);
        assert_eq!(back.args, spec.args);
        // A spec cut short (a daemon killed while sending it) is refused, not half-run.
        let err = read_spec(&wire[..wire.len() / 2]).unwrap_err();
        assert!(err.contains("incomplete"), "{err}");
        assert!(!format!("{spec:?}").contains("dash"), "no prompt in Debug");

        assert_eq!(run(dir.path(), back), 0);
        let events = std::fs::read_to_string(dir.path().join(EVENTS_FILE)).unwrap();
        assert!(events.contains(&spec.prompt), "{events}");
        let exit: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(EXIT_FILE)).unwrap()).unwrap();
        assert_eq!(exit["code"], 0);
    }

    #[test]
    fn a_failing_log_write_still_drains_the_input() {
        // /dev/full fails every write with ENOSPC.
        let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
            eprintln!("skipped: no /dev/full");
            return;
        };
        let input = (0..10_000)
            .map(|i| format!("{{\"type\":\"item.completed\",\"n\":{i}}}\n"))
            .collect::<String>();
        let mut reader = std::io::Cursor::new(input.into_bytes());
        let redactor = run_redactor(&[], &[]).unwrap();
        let err = copy_lines(
            &mut reader,
            full,
            None,
            &redactor,
            LineKind::JsonEvents,
            u64::MAX,
            None,
        )
        .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
        assert_eq!(
            reader.position() as usize,
            reader.get_ref().len(),
            "all input consumed"
        );
    }
}
