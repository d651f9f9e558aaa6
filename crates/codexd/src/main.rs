//! The `codexd` binary: flags and environment, logging, and the hidden `run-task` mode used
//! as the per-run supervisor process.

use anyhow::Context;
use clap::{Parser, Subcommand};
use codexd::config::Config;
use std::path::PathBuf;
use std::time::Duration;

/// codexd runs OpenAI Codex CLI jobs (`codex exec --json`) in the background and serves a
/// JSON-RPC API on a Unix socket. Logs go to stderr (filter with RUST_LOG).
#[derive(Debug, Parser)]
#[command(name = "codexd", version)]
struct Cli {
    /// Unix socket to serve [default: $XDG_RUNTIME_DIR/codexd/codexd.sock, or
    /// /tmp/codexd-<uid>/codexd.sock].
    #[arg(long, env = "CODEXD_SOCKET", global = true)]
    socket: Option<PathBuf>,
    /// State directory: task registry and per-task logs [default: $XDG_STATE_HOME/codexd].
    #[arg(long, env = "CODEXD_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// The codex binary: a path, or a name looked up on each task's PATH.
    #[arg(long, env = "CODEXD_CODEX_BIN", default_value = "codex")]
    codex_bin: String,
    /// Most tasks running at once; the rest wait in a FIFO queue.
    #[arg(long, env = "CODEXD_MAX_RUNNING", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    max_running: u32,
    /// Wall-clock limit for tasks that do not set one (e.g. 30m, 2h). None by default.
    #[arg(long, env = "CODEXD_DEFAULT_TIMEOUT", value_parser = humantime::parse_duration)]
    default_timeout: Option<Duration>,
    /// Time between SIGINT and SIGKILL when a run is cancelled or times out.
    #[arg(long, env = "CODEXD_KILL_GRACE", default_value = "5s", value_parser = humantime::parse_duration)]
    kill_grace: Duration,
    /// Config file [default: $XDG_CONFIG_HOME/codexd/config.toml, if it exists].
    #[arg(long, env = "CODEXD_CONFIG")]
    config: Option<PathBuf>,
    /// Extra secret pattern to redact, as NAME=REGEX (repeatable); matches become
    /// [REDACTED:NAME].
    #[arg(long = "redact-pattern", value_name = "NAME=REGEX", value_parser = parse_pattern)]
    redact_patterns: Vec<(String, String)>,
    /// Finished tasks (and their directories) older than this are pruned on a schedule
    /// (see --prune-every); `off` keeps everything.
    #[arg(long, env = "CODEXD_RETENTION", default_value = "30d", value_parser = parse_retention)]
    retention: Retention,
    /// How often the scheduled prune runs (the first run is at start-up).
    #[arg(long, env = "CODEXD_PRUNE_EVERY", default_value = "1h", value_parser = parse_prune_every)]
    prune_every: Duration,
    /// Move the task registry aside (never deleted) and rebuild it from the task
    /// directories, then serve as usual.
    #[arg(long)]
    rebuild_registry: bool,
    /// Where the environment values and unredacted prompts of queued tasks are held so that
    /// they survive a daemon restart. Used only if it is a memory file system (tmpfs), since
    /// these values are never written to disk [default: the socket's directory].
    #[arg(long, env = "CODEXD_RUNTIME_DIR")]
    runtime_dir: Option<PathBuf>,
    /// Most bytes of event log kept per task (e.g. 256MiB, 1GiB); past it, output is dropped
    /// (structural events are still kept) and the task is marked truncated.
    #[arg(long, env = "CODEXD_MAX_LOG_SIZE", default_value = "512MiB", value_parser = parse_size)]
    max_log_size: u64,
    /// A connection with no request in flight and no subscription is closed after this long
    /// without a message (clients reconnect as needed).
    #[arg(long, env = "CODEXD_IDLE_TIMEOUT", default_value = "10m", value_parser = humantime::parse_duration)]
    idle_timeout: Duration,
    #[command(subcommand)]
    command: Option<Command>,
}

/// `--retention`: a duration, or `off`.
#[derive(Debug, Clone, Copy)]
struct Retention(Option<Duration>);

fn parse_retention(text: &str) -> Result<Retention, String> {
    if text == "off" {
        return Ok(Retention(None));
    }
    humantime::parse_duration(text)
        .map(|d| Retention(Some(d)))
        .map_err(|e| format!("{text:?}: {e} (or `off`)"))
}

/// `--prune-every`: a duration of at least one second.
fn parse_prune_every(text: &str) -> Result<Duration, String> {
    let every = humantime::parse_duration(text).map_err(|e| format!("{text:?}: {e}"))?;
    if every < Duration::from_secs(1) {
        return Err(format!("{text:?}: the prune interval must be at least 1s"));
    }
    Ok(every)
}

/// Parses a byte size: a number with an optional K, M, G (powers of 1000) or KiB, MiB,
/// GiB (powers of 1024) suffix.
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 512MiB, 2G, 1000000)"))?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "K" | "KB" => 1000,
        "M" | "MB" => 1000 * 1000,
        "G" | "GB" => 1000 * 1000 * 1000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => return Err(format!("unknown size unit {other:?} in {text:?}")),
    };
    let bytes = number
        .checked_mul(factor)
        .ok_or_else(|| format!("{text:?} is too large"))?;
    if bytes == 0 {
        return Err("the size must be more than 0".into());
    }
    Ok(bytes)
}

fn parse_pattern(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, regex)) if !name.trim().is_empty() && !regex.is_empty() => {
            Ok((name.trim().to_string(), regex.to_string()))
        }
        _ => Err(format!("expected NAME=REGEX, got {text:?}")),
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Internal: supervise one codex run (started by the daemon, not by people).
    #[command(hide = true)]
    RunTask {
        /// The task's directory. What to run (codex, its arguments, the prompt, the
        /// redaction settings) comes on stdin as JSON, never on the command line.
        #[arg(long)]
        task_dir: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::RunTask { task_dir }) = &cli.command {
        std::process::exit(codexd::run::runner::run_from_stdin(task_dir));
    }
    codexd::run::process::restrict_umask();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    // SAFETY: no other thread has been started yet (the async runtime is built below).
    let handoff = unsafe { codexd::transport::systemd::Handoff::take_from_env() }?;
    let state_dir = match cli.state_dir {
        Some(dir) => dir,
        None => codexd_api::paths::default_state_dir().context(
            "no state directory: set --state-dir, CODEXD_STATE_DIR, XDG_STATE_HOME or HOME",
        )?,
    };
    let absolute = |p: PathBuf| -> anyhow::Result<PathBuf> {
        Ok(if p.is_absolute() {
            p
        } else {
            std::env::current_dir()?.join(p)
        })
    };
    let codex_bin = if cli.codex_bin.contains('/') {
        absolute(PathBuf::from(&cli.codex_bin))?
            .display()
            .to_string()
    } else {
        cli.codex_bin
    };
    let (config_path, explicit) = match cli.config {
        Some(path) => (Some(path), true),
        None => (codexd::config::default_config_file(), false),
    };
    let file = match &config_path {
        Some(path) => codexd::config::load_file(path, explicit)?,
        None => codexd::config::FileConfig::default(),
    };
    let mut redact_patterns: Vec<(String, String)> = file.redact.patterns.into_iter().collect();
    redact_patterns.extend(cli.redact_patterns);
    // An invalid pattern is a start-up error that names it.
    codexd::redact::Redactor::new(&codexd::redact::RedactConfig {
        extra_patterns: redact_patterns.clone(),
        env_values: Vec::new(),
    })?;
    let config = Config {
        redact_patterns,
        rebuild_registry: cli.rebuild_registry,
        retention: cli.retention.0,
        prune_every: cli.prune_every,
        socket: absolute(cli.socket.unwrap_or_else(codexd_api::paths::default_socket))?,
        state_dir: absolute(state_dir)?,
        codex_bin,
        max_running: cli.max_running,
        default_timeout: cli.default_timeout,
        kill_grace: cli.kill_grace,
        runtime_dir: cli.runtime_dir.map(absolute).transpose()?,
        max_log_bytes: cli.max_log_size,
        idle_timeout: cli.idle_timeout,
        runner_exe: std::env::current_exe().context("cannot find the codexd executable")?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    let result = runtime.block_on(codexd::run_with(config, handoff));
    // Monitors of running tasks are abandoned here on purpose: the runs go on.
    runtime.shutdown_timeout(Duration::from_millis(100));
    if let Err(e) = &result {
        tracing::error!("{e:#}");
        eprintln!("codexd: {e:#}");
        std::process::exit(1);
    }
    Ok(())
}
