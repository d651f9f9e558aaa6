//! The `codexd` binary: flags and environment, logging, and the hidden `run-task` mode used
//! as the per-run supervisor process.

use anyhow::Context;
use clap::{Parser, Subcommand};
use codexd::config::{
    Config, Limit, Retention, parse_limit, parse_prune_every, parse_retention, parse_size,
};
use std::path::PathBuf;
use std::time::Duration;

/// codexd runs OpenAI Codex CLI jobs (`codex exec --json`) in the background and serves a
/// JSON-RPC API on a Unix socket. Logs go to stderr (filter with RUST_LOG).
///
/// Each setting comes from its flag, else its CODEXD_* variable, else the `[daemon]` table
/// of the config file, else its default.
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
    /// The codex binary: a path, or a name looked up on each task's PATH [default: codex].
    #[arg(long, env = "CODEXD_CODEX_BIN")]
    codex_bin: Option<String>,
    /// Most tasks running at once; the rest wait in a FIFO queue [default: 4].
    #[arg(long, env = "CODEXD_MAX_RUNNING", value_parser = clap::value_parser!(u32).range(1..))]
    max_running: Option<u32>,
    /// Wall-clock limit for tasks that do not set one (e.g. 30m, 2h); 0 for none
    /// [default: 2h].
    #[arg(long, env = "CODEXD_DEFAULT_TIMEOUT", value_parser = parse_limit)]
    default_timeout: Option<Limit>,
    /// Stall limit for tasks that do not set one: a run with no event but codex's
    /// error/reconnect notices for this long is stopped (timed_out); 0 for none
    /// [default: 15m].
    #[arg(long, env = "CODEXD_DEFAULT_STALL_TIMEOUT", value_parser = parse_limit)]
    default_stall_timeout: Option<Limit>,
    /// Time between SIGINT and SIGKILL when a run is cancelled or times out [default: 5s].
    #[arg(long, env = "CODEXD_KILL_GRACE", value_parser = humantime::parse_duration)]
    kill_grace: Option<Duration>,
    /// Config file [default: $XDG_CONFIG_HOME/codexd/config.toml, if it exists].
    #[arg(long, env = "CODEXD_CONFIG")]
    config: Option<PathBuf>,
    /// Extra secret pattern to redact, as NAME=REGEX (repeatable); matches become
    /// [REDACTED:NAME].
    #[arg(long = "redact-pattern", value_name = "NAME=REGEX", value_parser = parse_pattern)]
    redact_patterns: Vec<(String, String)>,
    /// Finished tasks (and their directories) older than this are pruned on a schedule
    /// (see --prune-every); `off` keeps everything [default: 30d].
    #[arg(long, env = "CODEXD_RETENTION", value_parser = parse_retention)]
    retention: Option<Retention>,
    /// How often the scheduled prune runs (the first run is at start-up) [default: 1h].
    #[arg(long, env = "CODEXD_PRUNE_EVERY", value_parser = parse_prune_every)]
    prune_every: Option<Duration>,
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
    /// (structural events are still kept) and the task is marked truncated [default: 512MiB].
    #[arg(long, env = "CODEXD_MAX_LOG_SIZE", value_parser = parse_size)]
    max_log_size: Option<u64>,
    /// A connection with no request in flight and no subscription is closed after this long
    /// without a message (clients reconnect as needed) [default: 10m].
    #[arg(long, env = "CODEXD_IDLE_TIMEOUT", value_parser = humantime::parse_duration)]
    idle_timeout: Option<Duration>,
    /// Set by clients that start the daemon on demand (autostart): refuse to start when the
    /// last daemon on this socket used another state directory or codex binary.
    #[arg(long, hide = true)]
    autostarted: bool,
    #[command(subcommand)]
    command: Option<Command>,
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

fn main() {
    // Errors are printed here, as one `codexd: ...` line (never Rust's `Error: ...` with a
    // backtrace under RUST_BACKTRACE): a client that started the daemon shows that line.
    if let Err(e) = run() {
        tracing::error!("{e:#}");
        eprintln!("codexd: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::RunTask { task_dir }) = &cli.command {
        std::process::exit(codexd::run::runner::run_from_stdin(task_dir));
    }
    codexd::run::process::restrict_umask();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colours only on a terminal: an autostarted daemon's stderr is codexd.log.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    // SAFETY: no other thread has been started yet (the async runtime is built below).
    let handoff = unsafe { codexd::transport::systemd::Handoff::take_from_env() }?;
    let (config_path, explicit) = match cli.config {
        Some(path) => (Some(path), true),
        None => (codexd::config::default_config_file(), false),
    };
    let (file, settings) = match &config_path {
        Some(path) => {
            let file = codexd::config::load_file(path, explicit)?;
            let settings = file.daemon.settings(path)?;
            (file, settings)
        }
        None => Default::default(),
    };
    let state_dir = match cli.state_dir.or(settings.state_dir) {
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
    let codex_bin = match cli.codex_bin {
        Some(bin) if bin.contains('/') => absolute(PathBuf::from(&bin))?.display().to_string(),
        Some(bin) => bin,
        None => settings.codex_bin.unwrap_or_else(|| "codex".to_string()),
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
        retention: cli
            .retention
            .or(settings.retention)
            .unwrap_or(Retention(Some(Duration::from_secs(30 * 24 * 3600))))
            .0,
        prune_every: cli
            .prune_every
            .or(settings.prune_every)
            .unwrap_or(Duration::from_secs(3600)),
        socket: absolute(cli.socket.unwrap_or_else(codexd_api::paths::default_socket))?,
        state_dir: absolute(state_dir)?,
        codex_bin,
        max_running: cli.max_running.or(settings.max_running).unwrap_or(4),
        default_timeout: cli
            .default_timeout
            .or(settings.default_timeout)
            .unwrap_or(Limit(Some(codexd::config::DEFAULT_TIMEOUT)))
            .0,
        default_stall_timeout: cli
            .default_stall_timeout
            .or(settings.default_stall_timeout)
            .unwrap_or(Limit(Some(codexd::config::DEFAULT_STALL)))
            .0,
        kill_grace: cli
            .kill_grace
            .or(settings.kill_grace)
            .unwrap_or(Duration::from_secs(5)),
        runtime_dir: cli
            .runtime_dir
            .map(absolute)
            .transpose()?
            .or(settings.runtime_dir),
        max_log_bytes: cli
            .max_log_size
            .or(settings.max_log_size)
            .unwrap_or(512 << 20),
        idle_timeout: cli
            .idle_timeout
            .or(settings.idle_timeout)
            .unwrap_or(Duration::from_secs(600)),
        runner_exe: std::env::current_exe().context("cannot find the codexd executable")?,
    };
    if cli.autostarted
        && let Err(differ) = codexd::transport::record::check_autostart(&config)
    {
        eprintln!("codexd: {differ}");
        std::process::exit(codexd_api::daemon_record::EXIT_SETTINGS_DIFFER);
    }
    if let Some(problem) = config.codex_bin_problem() {
        tracing::warn!("{problem}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    let result = runtime.block_on(codexd::run_with(config, handoff));
    // Monitors of running tasks are abandoned here on purpose: the runs go on.
    runtime.shutdown_timeout(Duration::from_millis(100));
    result
}
