//! Tool failures the model should read: each becomes a tool result with `isError: true`
//! and one clear sentence (never a JSON-RPC protocol error, which clients show opaquely).

use codexd_client::ClientError;
use codexd_client::api::ErrorKind;
use rmcp::model::{ContentBlock, IntoContents};
use std::path::PathBuf;

/// A tool failure, worded for the model.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// No task has this id.
    #[error("Unknown task: {0}. Use codex_list to see task ids.")]
    UnknownTask(String),
    /// The arguments make no sense (bad cwd, bad config override, ...).
    #[error("{0}")]
    Invalid(String),
    /// The daemon cannot be reached.
    #[error("codexd is not answering at {} ({detail}). {hint}", socket.display())]
    Unreachable {
        /// The socket tried.
        socket: PathBuf,
        /// The OS error.
        detail: String,
        /// What to do about it.
        hint: &'static str,
    },
    /// Starting the daemon failed.
    #[error("codexd could not be started: {0}")]
    Autostart(String),
    /// The connection broke mid-call.
    #[error("The connection to codexd was lost ({0}); try again.")]
    Disconnected(String),
    /// The daemon refused the request.
    #[error("{0}")]
    Refused(String),
    /// Codex could not run the task at all (e.g. the Codex CLI is not installed).
    #[error("Task {task_id} {state}: {message}")]
    TaskFailed {
        /// The task.
        task_id: String,
        /// Its state (`failed`, ...).
        state: String,
        /// The daemon's explanation.
        message: String,
    },
}

impl ToolError {
    /// Maps a client error to what the model should read.
    pub fn from_client(err: ClientError) -> Self {
        match err {
            ClientError::Connect { socket, source } => ToolError::Unreachable {
                socket,
                detail: source.to_string(),
                hint: "Start it (`codexd &`) or let this server start it (drop --no-autostart).",
            },
            ClientError::Autostart(message) => ToolError::Autostart(message),
            ClientError::SettingsDiffer(message) => ToolError::Refused(message),
            ClientError::Transport(message) => ToolError::Disconnected(message),
            ClientError::Api(api) => match api.kind {
                ErrorKind::TaskNotFound => ToolError::UnknownTask(api.message),
                ErrorKind::AmbiguousId | ErrorKind::InvalidParams | ErrorKind::Git => {
                    ToolError::Invalid(api.message)
                }
                ErrorKind::InvalidState => ToolError::Refused(api.message),
                ErrorKind::Storage
                | ErrorKind::ShuttingDown
                | ErrorKind::Overloaded
                | ErrorKind::BatchTooLarge
                | ErrorKind::ReplyTooLarge
                | ErrorKind::PermissionDenied
                | ErrorKind::Internal => {
                    ToolError::Refused(format!("codexd could not do it: {}", api.message))
                }
            },
        }
    }
}

impl From<ClientError> for ToolError {
    fn from(err: ClientError) -> Self {
        ToolError::from_client(err)
    }
}

impl IntoContents for ToolError {
    fn into_contents(self) -> Vec<ContentBlock> {
        vec![ContentBlock::text(self.to_string())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use codexd_client::api::ApiError;

    #[test]
    fn unknown_tasks_point_to_codex_list() {
        let err = ToolError::from_client(ClientError::Api(ApiError::new(
            ErrorKind::TaskNotFound,
            "no task zzzzzzzz",
        )));
        assert_eq!(
            err.to_string(),
            "Unknown task: no task zzzzzzzz. Use codex_list to see task ids."
        );
    }

    #[test]
    fn an_unreachable_daemon_names_the_socket() {
        let err = ToolError::from_client(ClientError::Connect {
            socket: PathBuf::from("/run/x.sock"),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
        let text = err.to_string();
        assert!(text.contains("/run/x.sock"), "{text}");
        assert!(text.contains("codexd &"), "{text}");
    }
}
