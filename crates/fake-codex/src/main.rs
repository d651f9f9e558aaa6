//! `fake-codex`: a stand-in for `codex exec --json`, run by codexd (`--codex-bin`) in
//! benchmarks and load tests.
//!
//! It ignores codex's options, takes the prompt (and, for `exec resume`, the thread id) from
//! its command line, and writes JSONL events to stdout: the lines of `FAKE_CODEX_SCRIPT` if
//! set, else a generated run (`FAKE_CODEX_EVENTS` events, `FAKE_CODEX_PAYLOAD_BYTES` of command
//! output each, `FAKE_CODEX_PAYLOAD_KIND` `tests` or `build`). `FAKE_CODEX_DELAY_MS` pauses before each line, `FAKE_CODEX_HOLD_MS` before
//! exiting, `FAKE_CODEX_EXIT_CODE` sets the exit code and `FAKE_CODEX_EXIT_STAMP` names a file
//! that receives the CLOCK_MONOTONIC time (ns) at which it exits. With no settings it prints
//! `thread.started`, `turn.started`, one `agent_message` and `turn.completed`, and exits 0.

mod args;
mod script;

use anyhow::Context;
use script::{Generated, Settings, Step};
use std::io::Write;
use std::time::Duration;

/// Nanoseconds of CLOCK_MONOTONIC (one clock for every process on the machine).
fn monotonic_ns() -> u128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write into.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}

/// A thread id in the shape codex uses (a UUID), unique enough for one machine.
fn new_thread_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let pid = std::process::id() as u64;
    format!(
        "{:08x}-{:04x}-7{:03x}-8{:03x}-{:012x}",
        nanos >> 32,
        (nanos >> 16) & 0xffff,
        nanos & 0xfff,
        pid & 0xfff,
        (pid << 20 ^ nanos) & 0xffff_ffff_ffff
    )
}

/// Writes one line to `out` and flushes it, as codex does for each event.
fn emit(out: &mut impl Write, line: &str, delay: Duration) -> std::io::Result<()> {
    if !delay.is_zero() {
        std::thread::sleep(delay);
    }
    out.write_all(line.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Plays the run; returns the exit code.
fn run() -> anyhow::Result<i32> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let invocation = args::parse(&argv);
    if invocation.version {
        println!("codex-cli 0.0.0-fake ({})", env!("CARGO_PKG_VERSION"));
        return Ok(0);
    }
    let settings =
        Settings::from_vars(|name| std::env::var(name).ok()).map_err(anyhow::Error::msg)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(128 * 1024, stdout.lock());
    let mut exit_code = settings.exit_code;
    match &settings.script {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read FAKE_CODEX_SCRIPT {}", path.display()))?;
            for step in script::parse_script(&text).map_err(anyhow::Error::msg)? {
                match step {
                    Step::Line(line) => emit(&mut out, &line, settings.delay)?,
                    Step::Sleep(pause) => std::thread::sleep(pause),
                    Step::Exit(code) => exit_code = code,
                    Step::Stderr(text) => eprintln!("{text}"),
                }
            }
        }
        None => {
            let thread = invocation
                .resume_thread
                .clone()
                .unwrap_or_else(new_thread_id);
            let prompt: String = invocation
                .prompt
                .as_deref()
                .unwrap_or("")
                .chars()
                .take(60)
                .collect();
            let answer = format!("fake-codex: done ({prompt})");
            let generated = Generated::new(
                settings.events,
                settings.payload_bytes,
                settings.payload_kind,
                &thread,
                &answer,
            );
            for index in 0..generated.len() {
                emit(&mut out, &generated.line(index), settings.delay)?;
            }
        }
    }
    drop(out);
    if !settings.hold.is_zero() {
        std::thread::sleep(settings.hold);
    }
    if let Some(path) = &settings.exit_stamp {
        std::fs::write(path, monotonic_ns().to_string())
            .with_context(|| format!("cannot write FAKE_CODEX_EXIT_STAMP {}", path.display()))?;
    }
    Ok(exit_code)
}

/// Runs the fake and exits with its code (2 when a setting or the script is invalid).
fn main() {
    let code = match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fake-codex: {e:#}");
            2
        }
    };
    std::process::exit(code);
}
