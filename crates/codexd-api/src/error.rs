//! Typed errors carried in JSON-RPC error objects.
//!
//! The daemon turns every failure into an [`ApiError`]; its [`ErrorKind`] is the JSON-RPC
//! error `code` and a stable `data.kind` string, so clients can match on the kind instead of
//! parsing messages.

use jsonrpsee::types::ErrorObjectOwned;
use serde::{Deserialize, Serialize};

/// The kinds of API errors, each with its JSON-RPC error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// No task has this id or prefix.
    TaskNotFound,
    /// The prefix matches several tasks.
    AmbiguousId,
    /// A parameter is invalid (empty prompt, missing cwd, bad sandbox, ...).
    InvalidParams,
    /// The task is in a state that does not allow the operation.
    InvalidState,
    /// The state directory or registry failed.
    Storage,
    /// The daemon is shutting down.
    ShuttingDown,
    /// The daemon has as many connections open as it serves, or as many request bytes in
    /// progress across them as it holds: try again shortly.
    Overloaded,
    /// A batch has more calls than the daemon runs in one (the message names the limit).
    BatchTooLarge,
    /// A batch's reply would be larger than the daemon sends at once (the message names
    /// the limit): send fewer calls per batch.
    ReplyTooLarge,
    /// The daemon does not serve this caller (it serves only its own uid); sent once on
    /// the refused connection, which is then closed.
    PermissionDenied,
    /// Anything else.
    Internal,
    // --- isolated worktrees (issue 13) ---
    /// The directory is not in a git work tree, or git is missing or failed.
    Git,
}

impl ErrorKind {
    /// The JSON-RPC error code of this kind.
    pub fn code(self) -> i32 {
        match self {
            ErrorKind::TaskNotFound => -32001,
            ErrorKind::AmbiguousId => -32002,
            ErrorKind::InvalidParams => -32602,
            ErrorKind::InvalidState => -32003,
            ErrorKind::Storage => -32004,
            ErrorKind::ShuttingDown => -32005,
            ErrorKind::Overloaded => -32006,
            ErrorKind::BatchTooLarge => -32010,
            ErrorKind::ReplyTooLarge => -32011,
            ErrorKind::PermissionDenied => -32012,
            ErrorKind::Internal => -32603,
            ErrorKind::Git => -32020,
        }
    }
}

/// An API error: a kind and a message meant for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// What went wrong, for programs.
    pub kind: ErrorKind,
    /// What went wrong, for people: one clear sentence.
    pub message: String,
}

#[derive(Serialize, Deserialize)]
struct ErrorData {
    kind: ErrorKind,
}

impl ApiError {
    /// Builds an error.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
        }
    }

    /// Recovers a typed error from a JSON-RPC error object (any code).
    pub fn from_error_object(obj: &jsonrpsee::types::ErrorObject<'_>) -> Self {
        let kind = obj
            .data()
            .and_then(|raw| serde_json::from_str::<ErrorData>(raw.get()).ok())
            .map(|d| d.kind)
            .unwrap_or(match obj.code() {
                -32602 => ErrorKind::InvalidParams,
                _ => ErrorKind::Internal,
            });
        ApiError::new(kind, obj.message())
    }
}

impl From<ApiError> for ErrorObjectOwned {
    fn from(err: ApiError) -> Self {
        ErrorObjectOwned::owned(
            err.kind.code(),
            err.message,
            Some(ErrorData { kind: err.kind }),
        )
    }
}
