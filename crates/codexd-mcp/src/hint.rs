//! The next step, spelled out for the model: the ready-to-run `codexctl wait` line and the
//! one-sentence hints that close each reply.
//!
//! The wait line must reach the same daemon as this server, from the agent's own shell
//! (which does not have this server's environment): it names `codexctl` by absolute path
//! when it is not on `PATH` but sits next to this binary, and passes `--socket` when the
//! socket is not the default one.

use std::path::{Path, PathBuf};

/// Name of the CLI.
const CODEXCTL: &str = "codexctl";

/// How to run `codexctl` from the agent's shell, socket included.
#[derive(Debug, Clone)]
pub struct Codexctl {
    /// The program: `codexctl`, or an absolute path when it is not on PATH.
    program: String,
    /// `--socket PATH` when the socket is not the default.
    socket: Option<PathBuf>,
}

impl Codexctl {
    /// Finds `codexctl` for a server talking to `socket`.
    pub fn locate(socket: &Path) -> Self {
        let on_path = std::env::var_os("PATH").is_some_and(|path| {
            std::env::split_paths(&path).any(|dir| dir.join(CODEXCTL).is_file())
        });
        let program = if on_path {
            CODEXCTL.to_string()
        } else {
            std::env::current_exe()
                .ok()
                .and_then(|exe| exe.parent().map(|dir| dir.join(CODEXCTL)))
                .filter(|p| p.is_file())
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| CODEXCTL.to_string())
        };
        let socket =
            (socket != codexd_client::api::paths::default_socket()).then(|| socket.to_path_buf());
        Codexctl { program, socket }
    }

    /// The shell line `codexctl wait ID... [--socket S]`, quoted for a POSIX shell.
    ///
    /// `wait` comes right after the program and `--socket` last, so that a permission rule
    /// such as `Bash(codexctl wait *)` matches the line as it is.
    pub fn wait_command(&self, ids: &[&str]) -> String {
        let mut words = vec![shell_quote(&self.program), "wait".into()];
        words.extend(ids.iter().map(|id| shell_quote(id)));
        if let Some(socket) = &self.socket {
            words.push("--socket".into());
            words.push(shell_quote(&socket.display().to_string()));
        }
        words.join(" ")
    }
}

/// `text` as one word for a POSIX shell: unchanged when it is plain, else single-quoted.
pub fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The hint after a task was started or resumed.
pub fn after_start(task_id: &str, wait_command: &str) -> String {
    format!(
        "Codex is working on it in the background. Keep doing other work; to be told when it \
         ends without polling, run `{wait_command}` as a background shell command (it exits when \
         the task ends: 0 if it succeeded). Or call codex_wait (returns within 50 s). Then call \
         codex_result with task_id {task_id}."
    )
}

/// The hint after a wait that ended because every task ended.
pub fn after_done(ids: &[&str]) -> String {
    format!(
        "Finished. Call codex_result with task_id {} for the answer, changed files, commands \
         and test counts.",
        ids.join(" / ")
    )
}

/// The hint after a wait that reached its limit.
pub fn still_running(wait_command: &str) -> String {
    format!(
        "Still running. Do other work: run `{wait_command}` as a background shell command to be \
         notified when it ends, or call codex_wait again later."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_leaves_plain_words_alone() {
        assert_eq!(shell_quote("k7f3q9x2"), "k7f3q9x2");
        assert_eq!(shell_quote("/usr/bin/codexctl"), "/usr/bin/codexctl");
        assert_eq!(shell_quote("/tmp/my dir/s.sock"), "'/tmp/my dir/s.sock'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn wait_commands_carry_a_non_default_socket() {
        let ctl = Codexctl {
            program: "codexctl".into(),
            socket: Some(PathBuf::from("/tmp/x y/codexd.sock")),
        };
        assert_eq!(
            ctl.wait_command(&["abc12345"]),
            "codexctl wait abc12345 --socket '/tmp/x y/codexd.sock'"
        );
        let plain = Codexctl {
            program: "codexctl".into(),
            socket: None,
        };
        assert_eq!(plain.wait_command(&["a", "b"]), "codexctl wait a b");
    }
}
