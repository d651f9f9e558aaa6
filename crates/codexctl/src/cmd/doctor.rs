//! `codexctl doctor`: is everything in place for a first task? Each check says ok, warn or
//! fail, and how to fix what is not ok.
//!
//! The checks, in the order a first task needs them: the codex binary (and its version),
//! Codex's login (a missing one is the most likely reason a task hangs: Codex then retries
//! "Reconnecting..." for a long time), the daemon (reachable, same version as this CLI),
//! the private modes of the socket and state directory, the service files, and Claude
//! Code's registration of the MCP server or the plugin. Nothing here starts a daemon.

use crate::cmd::print_json;
use crate::{CmdResult, Ctx, Failure, out};
use codexd_client::api::VersionInfo;
use serde::Serialize;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Longest a `codex` subprocess may take to answer.
const CODEX_TIMEOUT: Duration = Duration::from_secs(15);

/// Arguments of `doctor`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the checks as JSON: [{"check", "status", "detail", "fix"}].
    #[arg(long)]
    json: bool,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// In place.
    Ok,
    /// Works, but not as well as it could (or not checked).
    Warn,
    /// In the way of a first task.
    Fail,
}

/// One check's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked.
    pub check: &'static str,
    /// How it came out.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do when it is not ok.
    pub fix: Option<String>,
}

impl Check {
    /// A check that passed.
    fn ok(check: &'static str, detail: impl Into<String>) -> Self {
        Check {
            check,
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    /// A check that did not pass (`status` warn or fail), with its fix.
    fn not_ok(
        check: &'static str,
        status: Status,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Check {
            check,
            status,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Runs `doctor`: every check, printed; exit 1 when one failed.
pub async fn run(ctx: &Ctx, args: Args) -> CmdResult {
    let daemon = daemon_info(&ctx.connect.socket).await;
    let mut checks = Vec::new();
    let codex = codex_binary(daemon.as_ref().ok());
    let codex_path = match &codex {
        Ok(path) => Some(path.clone()),
        Err(check) => {
            checks.push(check.clone());
            None
        }
    };
    if let Some(path) = &codex_path {
        checks.push(codex_version(path).await);
        checks.push(codex_login(path).await);
    }
    checks.push(daemon_check(&ctx.connect.socket, &daemon));
    checks.push(modes_check(&ctx.connect.socket, daemon.as_ref().ok()));
    checks.push(service_check());
    checks.push(claude_check());
    let failed = checks.iter().any(|c| c.status == Status::Fail);
    if args.json {
        print_json(&checks)?;
    } else {
        out::text(&render(&checks))?;
    }
    if failed {
        Err(Failure::Code(1))
    } else {
        Ok(())
    }
}

/// The checks as lines for people: `ok   check: detail`, and `     fix: …` under the others.
pub fn render(checks: &[Check]) -> String {
    let mut text = String::new();
    for check in checks {
        let mark = match check.status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        text.push_str(&format!("{mark}  {}: {}\n", check.check, check.detail));
        if let Some(fix) = &check.fix {
            text.push_str(&format!("      fix: {fix}\n"));
        }
    }
    text
}

/// The daemon's `version` reply, without starting one; the error says why there is none.
async fn daemon_info(socket: &Path) -> Result<VersionInfo, String> {
    let client = tokio::time::timeout(
        Duration::from_secs(3),
        codexd_client::Client::connect(socket),
    )
    .await
    .map_err(|_| "no answer within 3 s".to_string())?
    .map_err(|e| e.to_string())?;
    client.version().await.map_err(|e| e.to_string())
}

/// The codex binary runs would use: the daemon's `--codex-bin` when it answers, else
/// `CODEXD_CODEX_BIN`, else `codex`; a bare name is looked up on this shell's PATH (which
/// runs started from here get).
fn codex_binary(daemon: Option<&VersionInfo>) -> Result<PathBuf, Check> {
    let configured = daemon
        .map(|d| d.codex_bin.clone())
        .or_else(|| std::env::var("CODEXD_CODEX_BIN").ok())
        .unwrap_or_else(|| "codex".into());
    let install = "install it: npm install -g @openai/codex (or point codexd at it with \
                   --codex-bin / CODEXD_CODEX_BIN)";
    if configured.contains('/') {
        let path = PathBuf::from(&configured);
        return if is_executable(&path) {
            Ok(path)
        } else {
            Err(Check::not_ok(
                "codex",
                Status::Fail,
                format!("{configured} does not exist or is not executable"),
                install,
            ))
        };
    }
    let search = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&search)
        .map(|dir| dir.join(&configured))
        .find(|p| is_executable(p))
        .ok_or_else(|| {
            Check::not_ok(
                "codex",
                Status::Fail,
                format!("{configured:?} is not on PATH"),
                install,
            )
        })
}

/// True for an executable regular file.
fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs `codex ARGS` with a time limit: (exit success, stdout + stderr).
async fn run_codex(path: &Path, args: &[&str]) -> Result<(bool, String), String> {
    let output = tokio::process::Command::new(path)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(CODEX_TIMEOUT, output).await {
        Err(_) => Err(format!("no answer within {}s", CODEX_TIMEOUT.as_secs())),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(out)) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            Ok((out.status.success(), text))
        }
    }
}

/// `codex --version`.
async fn codex_version(path: &Path) -> Check {
    match run_codex(path, &["--version"]).await {
        Ok((true, text)) => {
            let version = text
                .lines()
                .find(|l| l.starts_with("codex"))
                .unwrap_or("codex (version unknown)");
            Check::ok("codex", format!("{version} ({})", path.display()))
        }
        Ok((false, text)) | Err(text) => Check::not_ok(
            "codex",
            Status::Fail,
            format!("{} --version failed: {}", path.display(), last_line(&text)),
            "reinstall it: npm install -g @openai/codex",
        ),
    }
}

/// `codex login status`: exit 0 when Codex has credentials (an API key or a ChatGPT login).
async fn codex_login(path: &Path) -> Check {
    let fix = "run `codex login` (or `printenv OPENAI_API_KEY | codex login --with-api-key`); \
               without a login a task hangs, printing only \"Reconnecting...\"";
    match run_codex(path, &["login", "status"]).await {
        Ok((true, text)) => {
            // Only the kind of login: codex's own line shows part of the key.
            let how = if text.contains("API key") {
                "an API key"
            } else {
                "ChatGPT"
            };
            Check::ok("codex login", format!("logged in with {how}"))
        }
        Ok((false, text)) => Check::not_ok("codex login", Status::Fail, last_line(&text), fix),
        Err(e) => Check::not_ok(
            "codex login",
            Status::Warn,
            format!("could not ask codex: {e}"),
            fix,
        ),
    }
}

/// The daemon answers, with this CLI's version.
fn daemon_check(socket: &Path, daemon: &Result<VersionInfo, String>) -> Check {
    let mine = env!("CARGO_PKG_VERSION");
    match daemon {
        Ok(info) if info.version == mine => Check::ok(
            "daemon",
            format!(
                "codexd {} (pid {}) on {}",
                info.version,
                info.pid,
                info.socket.display()
            ),
        ),
        Ok(info) => Check::not_ok(
            "daemon",
            Status::Warn,
            format!(
                "codexd {} answers, but this codexctl is {mine}",
                info.version
            ),
            "restart it with the same build: codexctl daemon stop (the next command starts \
             the new one; running tasks are kept)",
        ),
        Err(e) => Check::not_ok(
            "daemon",
            Status::Warn,
            format!("not running on {} ({e})", socket.display()),
            "nothing to do: codexctl and the MCP server start it when needed \
             (or codexctl daemon install to run it as a service)",
        ),
    }
}

/// The socket's directory, the socket and the state directory are the user's alone.
fn modes_check(socket: &Path, daemon: Option<&VersionInfo>) -> Check {
    let mut paths: Vec<(PathBuf, u32)> = Vec::new();
    if let Some(dir) = socket.parent() {
        paths.push((dir.to_path_buf(), 0o700));
    }
    paths.push((socket.to_path_buf(), 0o600));
    if let Some(state) = daemon
        .map(|d| d.state_dir.clone())
        .or_else(codexd_client::api::paths::default_state_dir)
    {
        paths.push((state, 0o700));
    }
    let uid = codexd_client::api::paths::current_uid();
    let mut problems = Vec::new();
    let mut seen = 0;
    for (path, want) in &paths {
        let Ok(meta) = std::fs::metadata(path) else {
            continue;
        };
        seen += 1;
        let mode = meta.mode() & 0o777;
        if meta.uid() != uid {
            problems.push(format!("{} belongs to uid {}", path.display(), meta.uid()));
        } else if mode & 0o077 != 0 {
            problems.push(format!("{} is {mode:o} (want {want:o})", path.display()));
        }
    }
    if !problems.is_empty() {
        return Check::not_ok(
            "permissions",
            Status::Fail,
            problems.join("; "),
            "chmod the paths named to the modes wanted (codexd refuses paths of other users)",
        );
    }
    if seen == 0 {
        return Check::ok("permissions", "nothing created yet");
    }
    Check::ok("permissions", "socket and state directory are private")
}

/// The systemd user units or the launchd agent written by `daemon install`.
fn service_check() -> Check {
    let installed = super::daemon::service_files()
        .into_iter()
        .filter(|path| path.exists())
        .collect::<Vec<_>>();
    if installed.is_empty() {
        Check::not_ok(
            "service",
            Status::Warn,
            "not installed (the daemon is started on demand)",
            "codexctl daemon install, to start it at login",
        )
    } else {
        let names: Vec<String> = installed.iter().map(|p| p.display().to_string()).collect();
        Check::ok("service", format!("installed: {}", names.join(", ")))
    }
}

/// Claude Code knows the MCP server: registered with `claude mcp add` (in `~/.claude.json`)
/// or the codexd plugin installed (in `~/.claude/plugins/installed_plugins.json`).
fn claude_check() -> Check {
    let Some(home) = std::env::var_os("HOME").map(PathBuf::from) else {
        return Check::not_ok("claude code", Status::Warn, "HOME is not set", "set HOME");
    };
    let files = ClaudeFiles::new(
        &home,
        std::env::var_os("CLAUDE_CONFIG_DIR").map(PathBuf::from),
    );
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    if read(&files.installed_plugins).contains("\"codexd@") {
        return Check::ok("claude code", "the codexd plugin is installed");
    }
    let registered = files
        .user_configs
        .iter()
        .chain([&PathBuf::from(".mcp.json")])
        .any(|path| read(path).contains("codexd-mcp"));
    if registered {
        return Check::ok("claude code", "the codexd-mcp server is registered");
    }
    Check::not_ok(
        "claude code",
        Status::Warn,
        "neither the codexd plugin nor the codexd-mcp server is set up",
        "in Claude Code: /plugin marketplace add <this repository> then /plugin install \
         codexd@codexd (or: claude mcp add --scope user codex -- codexd-mcp)",
    )
}

/// Where Claude Code keeps what the check reads.
#[derive(Debug, PartialEq, Eq)]
struct ClaudeFiles {
    /// The installed plugins (`<config dir>/plugins/installed_plugins.json`).
    installed_plugins: PathBuf,
    /// The user's MCP servers (`claude mcp add --scope user`): `~/.claude.json`, and
    /// `$CLAUDE_CONFIG_DIR/.claude.json` first when that is set (where Claude Code keeps it
    /// then; the home one is still read, as older versions kept it there).
    user_configs: Vec<PathBuf>,
}

impl ClaudeFiles {
    /// The files for a user whose home is `home`, with `CLAUDE_CONFIG_DIR` if set.
    fn new(home: &Path, config_dir: Option<PathBuf>) -> Self {
        match config_dir {
            Some(dir) => ClaudeFiles {
                installed_plugins: dir.join("plugins/installed_plugins.json"),
                user_configs: vec![dir.join(".claude.json"), home.join(".claude.json")],
            },
            None => ClaudeFiles {
                installed_plugins: home.join(".claude/plugins/installed_plugins.json"),
                user_configs: vec![home.join(".claude.json")],
            },
        }
    }
}

/// The last non-empty line of `text`, trimmed (codex's own words for what went wrong).
fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("WARNING:"))
        .unwrap_or("no output")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_files_follow_claude_config_dir() {
        let home = Path::new("/home/u");
        assert_eq!(
            ClaudeFiles::new(home, None),
            ClaudeFiles {
                installed_plugins: "/home/u/.claude/plugins/installed_plugins.json".into(),
                user_configs: vec!["/home/u/.claude.json".into()],
            }
        );
        assert_eq!(
            ClaudeFiles::new(home, Some("/cfg".into())),
            ClaudeFiles {
                installed_plugins: "/cfg/plugins/installed_plugins.json".into(),
                user_configs: vec!["/cfg/.claude.json".into(), "/home/u/.claude.json".into()],
            }
        );
    }

    #[test]
    fn rendering_puts_the_fix_under_what_is_not_ok() {
        let text = render(&[
            Check::ok("codex", "codex-cli 0.169.0 (/bin/codex)"),
            Check::not_ok(
                "codex login",
                Status::Fail,
                "Not logged in",
                "run `codex login`",
            ),
        ]);
        assert_eq!(
            text,
            "ok    codex: codex-cli 0.169.0 (/bin/codex)\n\
             FAIL  codex login: Not logged in\n      fix: run `codex login`\n"
        );
    }

    #[test]
    fn codex_warnings_are_not_the_reason() {
        assert_eq!(
            last_line("Not logged in\nWARNING: proceeding, even though ...\n"),
            "Not logged in"
        );
        assert_eq!(last_line(""), "no output");
    }
}
