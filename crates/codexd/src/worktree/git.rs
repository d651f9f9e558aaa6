//! Running git for worktree tasks: always `git -C DIR` with an explicit environment (no
//! inherited `GIT_DIR`/`GIT_WORK_TREE`/`GIT_INDEX_FILE`, no prompts, a fixed identity for
//! our own commits) and `-c core.hooksPath=/dev/null`, so the user's hooks never run for
//! what codexd does. Failures carry git's own message.

use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncWriteExt as _;
use tokio::process::Command;

/// Longest one git command may take.
const GIT_TIMEOUT: Duration = Duration::from_secs(120);

/// What can go wrong with a worktree task's git work.
#[derive(Debug, thiserror::Error)]
pub enum WorktreeError {
    /// git is not installed (or not on the daemon's PATH).
    #[error("git is not available to codexd ({0}); install git to use worktrees")]
    GitMissing(String),
    /// The directory is not inside a git work tree.
    #[error("{0} is not in a git work tree (--worktree needs a git repository)")]
    NotARepo(String),
    /// A git command failed.
    #[error("git {args} failed: {message}")]
    Failed {
        /// The arguments, for the message.
        args: String,
        /// git's stderr (trimmed).
        message: String,
    },
    /// A file operation of our own failed.
    #[error("{0}")]
    Io(String),
}

/// One git invocation.
pub(crate) struct Git<'a> {
    dir: &'a Path,
    index: Option<&'a Path>,
    stdin: Option<&'a [u8]>,
}

impl<'a> Git<'a> {
    /// git in `dir`.
    pub(crate) fn at(dir: &'a Path) -> Self {
        Git {
            dir,
            index: None,
            stdin: None,
        }
    }

    /// With `GIT_INDEX_FILE=index` (a temporary index: the user's is never touched).
    pub(crate) fn index(mut self, index: &'a Path) -> Self {
        self.index = Some(index);
        self
    }

    /// With `input` on git's stdin.
    pub(crate) fn input(mut self, input: &'a [u8]) -> Self {
        self.stdin = Some(input);
        self
    }

    /// Runs git with `args`; its stdout (untrimmed) on success.
    pub(crate) async fn run(self, args: &[&str]) -> Result<String, WorktreeError> {
        let out = self.output(args).await?;
        if !out.status.success() {
            return Err(WorktreeError::Failed {
                args: args.join(" "),
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs git with `args`; the first line of its stdout.
    pub(crate) async fn line(self, args: &[&str]) -> Result<String, WorktreeError> {
        Ok(self.run(args).await?.trim().to_string())
    }

    /// Runs git with `args` and returns the whole output, whatever the exit status.
    pub(crate) async fn output(self, args: &[&str]) -> Result<std::process::Output, WorktreeError> {
        let mut cmd = Command::new("git");
        cmd.arg("-C")
            .arg(self.dir)
            .args([
                "-c",
                "core.hooksPath=/dev/null",
                "-c",
                "core.fsmonitor=false",
            ])
            .args(args)
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .env_remove("GIT_OBJECT_DIRECTORY")
            .env_remove("GIT_ALTERNATE_OBJECT_DIRECTORIES")
            .env_remove("GIT_CEILING_DIRECTORIES")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_AUTHOR_NAME", "codexd")
            .env("GIT_AUTHOR_EMAIL", "codexd@localhost")
            .env("GIT_COMMITTER_NAME", "codexd")
            .env("GIT_COMMITTER_EMAIL", "codexd@localhost")
            .env("LC_ALL", "C")
            .stdin(if self.stdin.is_some() {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::null()
            })
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        if let Some(index) = self.index {
            cmd.env("GIT_INDEX_FILE", index);
        }
        let mut child = cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                WorktreeError::GitMissing(e.to_string())
            } else {
                WorktreeError::Io(format!("cannot run git: {e}"))
            }
        })?;
        if let (Some(input), Some(mut stdin)) = (self.stdin, child.stdin.take()) {
            // A git that stops reading early reports its own error below.
            let _ = stdin.write_all(input).await;
        }
        match tokio::time::timeout(GIT_TIMEOUT, child.wait_with_output()).await {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(e)) => Err(WorktreeError::Io(format!("git {}: {e}", args.join(" ")))),
            Err(_) => Err(WorktreeError::Failed {
                args: args.join(" "),
                message: format!("no answer within {GIT_TIMEOUT:?}"),
            }),
        }
    }
}
