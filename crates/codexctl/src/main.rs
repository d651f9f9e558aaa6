//! `codexctl`: the command line of codexd, for people and scripts.
//!
//! One module per subcommand under `cmd/`; `render` holds the human output and `out` every
//! write to stdout and stderr.
//!
//! Exit codes:
//! - 0: success; also when stdout is closed early (`codexctl list | head -1`): codexctl
//!   then stops quietly;
//! - 1: a task did not succeed (`wait`) or the daemon refused the request;
//! - 2: usage errors (one line: `codexctl: MESSAGE (see 'codexctl SUB --help')`), unknown or
//!   ambiguous ids, and connection errors;
//! - 3: `daemon status` / `daemon stop` found no daemon running (they never start one);
//! - 124: `wait --timeout` expired.
#![deny(clippy::print_stdout, clippy::print_stderr)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod cmd;
mod out;
mod render;

use clap::Parser;
use clap::error::ErrorKind as ClapErrorKind;
use codexd_client::api::ErrorKind;
use codexd_client::{ClientError, ConnectOptions};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code of usage errors.
pub const EXIT_USAGE: u8 = 2;
/// Exit code of `daemon status` / `daemon stop` when no daemon runs.
pub const EXIT_NOT_RUNNING: u8 = 3;

/// Run OpenAI Codex jobs in the background through codexd.
#[derive(Debug, Parser)]
#[command(name = "codexctl", version, propagate_version = true)]
pub struct Cli {
    /// The daemon's socket [default: $XDG_RUNTIME_DIR/codexd/codexd.sock].
    #[arg(long, env = "CODEXD_SOCKET", global = true)]
    socket: Option<PathBuf>,
    /// Do not start codexd when no daemon answers.
    #[arg(long, global = true)]
    no_autostart: bool,
    #[command(subcommand)]
    command: cmd::Command,
}

/// Errors with their exit codes.
#[derive(Debug)]
pub enum Failure {
    /// Bad usage, unreachable daemon (exit 2).
    Usage(String),
    /// The daemon refused the request, or a task did not succeed (exit 1).
    Refused(String),
    /// No daemon answers on this socket (`daemon status`/`stop`: exit 3).
    NotRunning(PathBuf),
    /// Stdout was closed by its reader: stop quietly (exit 0).
    Closed,
    /// Exit with this code and no message (the command printed what it had to).
    Code(u8),
}

impl From<ClientError> for Failure {
    fn from(err: ClientError) -> Self {
        match err {
            // A wrong id or parameter is a usage error (2); exit 1 is kept for "the daemon
            // could not do it" and, in `wait`, "a task did not succeed".
            ClientError::Api(e) => match e.kind {
                ErrorKind::TaskNotFound
                | ErrorKind::AmbiguousId
                | ErrorKind::InvalidParams
                | ErrorKind::Git => Failure::Usage(e.message),
                _ => Failure::Refused(e.message),
            },
            other => Failure::Usage(other.to_string()),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(err: std::io::Error) -> Self {
        Failure::Usage(err.to_string())
    }
}

impl From<serde_json::Error> for Failure {
    fn from(err: serde_json::Error) -> Self {
        Failure::Usage(err.to_string())
    }
}

/// Result of a subcommand.
pub type CmdResult = Result<(), Failure>;

/// Shared context of subcommands.
pub struct Ctx {
    /// How to reach the daemon.
    pub connect: ConnectOptions,
    /// The socket as given (`--socket` or `CODEXD_SOCKET`), to repeat it in hints.
    pub socket_arg: Option<PathBuf>,
}

impl Ctx {
    /// Connects (starting the daemon unless `--no-autostart`).
    pub async fn client(&self) -> Result<codexd_client::Client, Failure> {
        Ok(codexd_client::Client::connect_or_start(&self.connect).await?)
    }
}

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return clap_failure(err),
    };
    let mut connect = ConnectOptions::new(cli.socket.clone());
    connect.autostart = !cli.no_autostart;
    let ctx = Ctx {
        connect,
        socket_arg: cli.socket,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            out::warn(format_args!("cannot start: {e}"));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let result = runtime
        .block_on(cmd::run(&ctx, cli.command))
        .and_then(|()| out::flush());
    match result {
        Ok(()) | Err(Failure::Closed) => ExitCode::SUCCESS,
        Err(Failure::Code(code)) => ExitCode::from(code),
        Err(Failure::Usage(message)) => {
            out::warn(message);
            ExitCode::from(EXIT_USAGE)
        }
        Err(Failure::Refused(message)) => {
            out::warn(message);
            ExitCode::from(1)
        }
        Err(Failure::NotRunning(socket)) => {
            out::warn(format_args!(
                "codexd is not running (socket {})",
                socket.display()
            ));
            ExitCode::from(EXIT_NOT_RUNNING)
        }
    }
}

/// A backstop for code that still prints with `println!` (which panics when stdout is a
/// closed pipe): such a panic ends codexctl quietly with exit 0, as `out` does.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info.payload_as_str().unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// Handles a clap error: `--help` and `--version` print as clap prints them (exit 0); a
/// usage error becomes one line on stderr (exit 2).
fn clap_failure(err: clap::Error) -> ExitCode {
    match err.kind() {
        ClapErrorKind::DisplayHelp
        | ClapErrorKind::DisplayVersion
        | ClapErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // clap ignores a closed stdout here.
            let _ = err.print();
            ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(EXIT_USAGE))
        }
        _ => {
            let args: Vec<String> = std::env::args().skip(1).collect();
            let command = subcommand_path(&args);
            out::err_text(&format!(
                "codexctl: {}\n",
                one_line_usage(&err.render().to_string(), &command)
            ));
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// A clap error as rendered (`error: ...`, tips, `Usage: codexctl SUB ...`, a pointer to
/// `--help`) made one line: `MESSAGE[; TIP] (see 'codexctl SUB --help')`. The subcommand
/// is the one of clap's usage line, else `fallback_command`.
fn one_line_usage(rendered: &str, fallback_command: &str) -> String {
    let mut message = String::new();
    let mut tips = Vec::new();
    let mut command = fallback_command.to_string();
    for paragraph in rendered.split("\n\n") {
        let joined = paragraph
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if let Some(text) = joined.strip_prefix("error:") {
            message = text.trim().to_string();
        } else if let Some(tip) = joined.strip_prefix("tip:") {
            tips.push(tip.trim().to_string());
        } else if let Some(usage) = joined.strip_prefix("Usage:") {
            // The subcommand path: the leading lowercase words (`codexctl daemon status`).
            let words: Vec<&str> = usage
                .split_whitespace()
                .take_while(|w| {
                    w.starts_with(|c: char| c.is_ascii_lowercase())
                        && w.chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                })
                .collect();
            if !words.is_empty() {
                command = words.join(" ");
            }
        } else if message.is_empty() && !joined.starts_with("For more information") {
            message = joined;
        }
    }
    if message.is_empty() {
        message = "invalid usage".into();
    }
    for tip in tips {
        message = format!("{message}; {tip}");
    }
    format!("{message} (see '{command} --help')")
}

/// The subcommand that `args` (without the program name) name, as `codexctl daemon status`:
/// subcommand names are followed down the tree, skipping the values of options.
fn subcommand_path(args: &[String]) -> String {
    use clap::CommandFactory;
    let mut command = Cli::command();
    command.build();
    let mut path = vec!["codexctl".to_string()];
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        }
        let option = if let Some(long) = arg.strip_prefix("--") {
            (!long.contains('='))
                .then(|| command.get_arguments().find(|a| a.get_long() == Some(long)))
        } else if let Some(short) = arg.strip_prefix('-').filter(|s| s.chars().count() == 1) {
            short
                .chars()
                .next()
                .map(|c| command.get_arguments().find(|a| a.get_short() == Some(c)))
        } else {
            None
        };
        if let Some(option) = option {
            if option.is_some_and(|a| a.get_action().takes_values()) {
                args.next();
            }
            continue;
        }
        let Some(sub) = command.find_subcommand(arg).cloned() else {
            continue;
        };
        path.push(sub.get_name().to_string());
        command = sub;
    }
    path.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn usage_error(args: &[&str]) -> String {
        let err = Cli::try_parse_from(args).unwrap_err();
        let rest: Vec<String> = args[1..].iter().map(|a| a.to_string()).collect();
        one_line_usage(&err.render().to_string(), &subcommand_path(&rest))
    }

    #[test]
    fn clap_errors_become_one_line_naming_the_subcommand() {
        let line = usage_error(&["codexctl", "list", "--limt", "3"]);
        assert!(!line.contains('\n'), "{line}");
        assert!(
            line.starts_with("unexpected argument '--limt' found"),
            "{line}"
        );
        assert!(line.contains("'--limit'"), "the tip is kept: {line}");
        assert!(line.ends_with("(see 'codexctl list --help')"), "{line}");

        let line = usage_error(&["codexctl", "wait"]);
        assert!(!line.contains('\n'), "{line}");
        assert!(line.contains("<IDS>"), "{line}");
        assert!(line.ends_with("(see 'codexctl wait --help')"), "{line}");

        let line = usage_error(&["codexctl", "daemon", "status", "--bogus"]);
        assert!(
            line.ends_with("(see 'codexctl daemon status --help')"),
            "{line}"
        );

        let line = usage_error(&["codexctl", "frobnicate"]);
        assert!(line.contains("'frobnicate'"), "{line}");
        assert!(line.ends_with("(see 'codexctl --help')"), "{line}");
    }

    #[test]
    fn list_limit_is_range_checked() {
        let line = usage_error(&["codexctl", "list", "--limit", "0"]);
        assert!(line.contains("1..=1000"), "{line}");
        assert!(line.ends_with("(see 'codexctl list --help')"), "{line}");
        assert!(Cli::try_parse_from(["codexctl", "list", "--limit", "1000"]).is_ok());
        assert!(Cli::try_parse_from(["codexctl", "list", "--limit", "1001"]).is_err());
    }

    #[test]
    fn the_subcommand_path_skips_option_values() {
        let path = |args: &[&str]| {
            subcommand_path(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
        };
        assert_eq!(
            path(&["--socket", "list", "daemon", "stop"]),
            "codexctl daemon stop"
        );
        assert_eq!(
            path(&["list", "--label", "show", "--limit", "0"]),
            "codexctl list"
        );
        assert_eq!(
            path(&["--socket=/x", "daemon", "status", "--json"]),
            "codexctl daemon status"
        );
        assert_eq!(path(&["-c"]), "codexctl");
        assert_eq!(path(&[]), "codexctl");
    }

    #[test]
    fn the_cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
