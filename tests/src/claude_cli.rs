//! The real Claude Code CLI, pinned to [`CLAUDE_VERSION`], run offline against
//! [`AnthropicServer`](crate::anthropic::AnthropicServer).
//!
//! [`claude_bin`] installs `@anthropic-ai/claude-code@2.1.197` with npm once per target dir
//! (`target/claude-code/2.1.197`, into a temporary sibling renamed into place, under a lock,
//! see [`npm`](crate::npm)) and returns `node_modules/.bin/claude`. Set
//! `CODEXD_TEST_CLAUDE_BIN` to a claude binary to skip the install.
//!
//! [`ClaudeHome`] is a throw-away `HOME` pre-seeded so that no dialog shows (onboarding done,
//! the dummy API key approved, the project trusted) and [`ClaudeHome::command`] a `claude`
//! command with the environment that keeps it offline (see `shared/claude-code.md`).

use crate::npm::PinnedPackage;
use serde_json::{Value, json};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The pinned Claude Code version (npm package `@anthropic-ai/claude-code`).
pub const CLAUDE_VERSION: &str = "2.1.197";

/// Environment variable naming a claude binary to use instead of installing one.
pub const CLAUDE_BIN_ENV: &str = "CODEXD_TEST_CLAUDE_BIN";

/// The dummy API key the tests use (Claude Code only checks that it was approved).
pub const API_KEY: &str = "sk-ant-api03-codexd-test-0123456789abcdefghijklmnop";

/// The path of the pinned `claude`, installing it first if needed (cached per process).
pub fn claude_bin() -> anyhow::Result<PathBuf> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| locate_or_install().map_err(|err| format!("{err:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

/// The repository's root (the marketplace).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("repository root")
}

/// The plugin folder (`claude-plugin/`).
pub fn plugin_dir() -> PathBuf {
    repo_root().join("claude-plugin")
}

/// The pinned package: `@anthropic-ai/claude-code` in `TARGET/claude-code/`.
const PACKAGE: PinnedPackage = PinnedPackage {
    name: "@anthropic-ai/claude-code",
    version: CLAUDE_VERSION,
    dir: "claude-code",
    bin_env: CLAUDE_BIN_ENV,
    binary_in: bin_in,
    version_env: &[("DISABLE_AUTOUPDATER", "1")],
};

/// `node_modules/.bin/claude` inside an npm `--prefix` directory.
fn bin_in(prefix: &Path) -> anyhow::Result<PathBuf> {
    Ok(prefix.join("node_modules/.bin/claude"))
}

/// [`PACKAGE`]'s binary, installed if needed.
fn locate_or_install() -> anyhow::Result<PathBuf> {
    PACKAGE.locate_or_install()
}

/// A throw-away `HOME` for Claude Code, pre-seeded (no dialogs, `permissions.allow`).
pub struct ClaudeHome {
    /// The temp dir that is `HOME`.
    pub dir: tempfile::TempDir,
    /// The project directory Claude Code runs in (trusted).
    pub project: PathBuf,
    /// `ANTHROPIC_BASE_URL`.
    pub base_url: String,
    /// Extra environment for every command (e.g. `CODEXD_SOCKET`, `CODEX_HOME`).
    pub env: Vec<(String, String)>,
}

impl ClaudeHome {
    /// A home for a session in `project` talking to `base_url`, allowing `allow` (permission
    /// rules, e.g. `mcp__plugin_codexd_codex__codex_wait`).
    pub fn new(project: &Path, base_url: &str, allow: &[&str]) -> anyhow::Result<ClaudeHome> {
        let dir = tempfile::tempdir()?;
        let key_tail: String = {
            let chars: Vec<char> = API_KEY.chars().collect();
            chars[chars.len() - 20..].iter().collect()
        };
        let project = project.canonicalize()?;
        let config = json!({
            "hasCompletedOnboarding": true,
            "lastOnboardingVersion": CLAUDE_VERSION,
            "customApiKeyResponses": {"approved": [key_tail], "rejected": []},
            "projects": {
                project.to_string_lossy(): {
                    "hasTrustDialogAccepted": true,
                    "hasCompletedProjectOnboarding": true,
                }
            },
        });
        fs::write(
            dir.path().join(".claude.json"),
            serde_json::to_vec_pretty(&config)?,
        )?;
        fs::create_dir_all(dir.path().join(".claude"))?;
        let settings = json!({"permissions": {"allow": allow}});
        fs::write(
            dir.path().join(".claude/settings.json"),
            serde_json::to_vec_pretty(&settings)?,
        )?;
        Ok(ClaudeHome {
            dir,
            project,
            base_url: base_url.to_string(),
            env: Vec::new(),
        })
    }

    /// The `HOME` path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A `claude` command in the project with the offline environment; the workspace's
    /// binaries (codexd-mcp, codexctl) are first on `PATH`.
    pub fn command(&self) -> Command {
        let bin = claude_bin().expect("claude CLI");
        let mut cmd = Command::new(bin);
        let path = format!(
            "{}:{}",
            crate::daemon::bin_dir().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.current_dir(&self.project)
            .env("HOME", self.path())
            .env("PATH", path)
            .env("ANTHROPIC_BASE_URL", &self.base_url)
            .env("ANTHROPIC_API_KEY", API_KEY)
            .env("DISABLE_TELEMETRY", "1")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .env("DISABLE_AUTOUPDATER", "1")
            .env("DISABLE_ERROR_REPORTING", "1")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("CLAUDE_CONFIG_DIR")
            .env_remove("CLAUDE_CODE_SESSION_ID")
            .env_remove("CLAUDECODE")
            .env_remove("CLAUDE_CODE_ENTRYPOINT")
            .env_remove("CODEXD_SOCKET")
            .stdin(Stdio::null());
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        cmd
    }

    /// Runs `claude ARGS` to completion, killed after `timeout`.
    pub fn run(&self, args: &[&str], timeout: Duration) -> Output {
        let mut cmd = self.command();
        cmd.args(args);
        run_bounded(&mut cmd, timeout)
    }
}

/// Runs `cmd` with captured output, killing it (and failing the test) after `timeout`.
pub fn run_bounded(cmd: &mut Command, timeout: Duration) -> Output {
    use std::os::unix::process::CommandExt as _;
    // Its own process group, so everything it started can be killed with it.
    cmd.process_group(0);
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn command");
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(out) => out.expect("wait for command"),
        Err(_) => {
            // SAFETY: killing the process group of the child we spawned.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            let out = rx.recv_timeout(Duration::from_secs(5));
            let detail = out
                .ok()
                .and_then(Result::ok)
                .map(|o| {
                    format!(
                        "stdout:\n{}\nstderr:\n{}",
                        String::from_utf8_lossy(&o.stdout),
                        String::from_utf8_lossy(&o.stderr)
                    )
                })
                .unwrap_or_default();
            panic!("{cmd:?} did not finish within {timeout:?}\n{detail}");
        }
    }
}

/// The `permissions.allow` rules README.md documents for working with the plugin without
/// being asked: the JSON block under **Permissions.**, plus `codex_start` and
/// `codex_resume`, which the sentence after it says to add. The Claude Code tests run with
/// exactly these, so a tool or command the workflow needs but the README does not allow
/// shows up as a permission prompt (interactive) or a refused call (`-p`).
pub fn documented_permissions() -> Vec<String> {
    let readme = fs::read_to_string(repo_root().join("README.md")).expect("read README.md");
    let section = readme
        .split("**Permissions.**")
        .nth(1)
        .expect("README has a **Permissions.** paragraph");
    let block = section
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("the paragraph has a ```json block");
    let settings: Value = serde_json::from_str(block).expect("the block is JSON");
    let mut allow: Vec<String> = settings["permissions"]["allow"]
        .as_array()
        .expect("permissions.allow")
        .iter()
        .filter_map(|rule| rule.as_str().map(str::to_string))
        .collect();
    let after = section
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").nth(1))
        .unwrap_or_default();
    for tool in ["codex_start", "codex_resume"] {
        assert!(
            after.contains(&format!("{PLUGIN_TOOL_PREFIX}{tool}"))
                || after.contains(&format!("__{tool}")),
            "README says to add {tool}"
        );
        allow.push(format!("{PLUGIN_TOOL_PREFIX}{tool}"));
    }
    allow
}

/// How Claude Code 2.1.197 names the plugin's MCP tools: `mcp__plugin_<plugin>_<server>__`.
pub const PLUGIN_TOOL_PREFIX: &str = "mcp__plugin_codexd_codex__";

/// The text of a `--output-format json` result.
pub fn result_text(stdout: &[u8]) -> Value {
    serde_json::from_slice(stdout).unwrap_or(Value::Null)
}
