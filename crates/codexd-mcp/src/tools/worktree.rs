//! The worktree tools (issue 13), kept together as they act on one thing, a task's own git
//! worktree: `codex_diff` (its change as a patch), `codex_apply` (into the user's tree),
//! `codex_discard` (remove worktrees, or every attempt of a group but the chosen one) and
//! `codex_compare` (the attempts of a best-of-N group, best first).

use crate::error::ToolError;
use crate::server::CodexServer;
use codexd_client::api::worktree::{ApplyReply, CompareReply, DiffReply, DiscardReply};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::{Json, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Largest patch `codex_diff` returns whole; a longer one is cut (the stat stays whole).
const MAX_PATCH_CHARS: usize = 64 * 1024;

/// Arguments naming one task.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct TaskArgs {
    /// The task id (or unambiguous prefix) of a task started with isolation "worktree".
    pub task_id: String,
}

/// Reply of `codex_diff`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DiffToolReply {
    /// The change against the task's base commit (see `patch_truncated`).
    #[schemars(with = "serde_json::Value")]
    pub diff: DiffReply,
    /// True when the patch was cut at 64 KiB (`codexctl diff ID` prints it whole).
    pub patch_truncated: bool,
    /// What to do next.
    pub next: String,
}

/// Reply of `codex_apply`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ApplyToolReply {
    /// What happened: `applied`, and on a conflict the conflicting files.
    #[schemars(with = "serde_json::Value")]
    pub apply: ApplyReply,
    /// What to do next.
    pub next: String,
}

/// Arguments of `codex_discard`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct DiscardArgs {
    /// Task ids whose worktrees to remove.
    #[serde(default)]
    pub task_ids: Vec<String>,
    /// A best-of-N group: remove the worktree of every attempt in it...
    #[serde(default)]
    pub group: Option<String>,
    /// ...except these task ids (e.g. the one you applied).
    #[serde(default)]
    pub except: Vec<String>,
}

/// Reply of `codex_discard`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DiscardToolReply {
    /// The worktrees removed, with notes on anything already gone.
    #[schemars(with = "serde_json::Value")]
    pub discard: DiscardReply,
}

/// Arguments of `codex_compare`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CompareArgs {
    /// The group id (the `group` of a task started with `attempts`).
    pub group: String,
}

/// Reply of `codex_compare`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CompareToolReply {
    /// The attempts, best first (tests passed desc, failed asc, then the smaller diff).
    #[schemars(with = "serde_json::Value")]
    pub compare: CompareReply,
    /// What to do next.
    pub next: String,
}

#[tool_router(router = worktree_router, vis = "pub(crate)")]
impl CodexServer {
    #[tool(
        name = "codex_diff",
        description = "The change a worktree task (started with isolation \"worktree\") made, \
                       as a git patch against its base (your HEAD plus your uncommitted \
                       changes when it started), with the files and line counts. Your own \
                       tree is not touched until codex_apply.",
        annotations(
            title = "Diff of a worktree task",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn codex_diff(
        &self,
        Parameters(args): Parameters<TaskArgs>,
    ) -> Result<Json<DiffToolReply>, ToolError> {
        let client = self.client().await?;
        let mut diff = client.diff(args.task_id.trim()).await?;
        let patch_truncated = diff.patch.len() > MAX_PATCH_CHARS;
        if patch_truncated {
            let mut cut = MAX_PATCH_CHARS;
            while !diff.patch.is_char_boundary(cut) {
                cut -= 1;
            }
            diff.patch.truncate(cut);
        }
        let next = format!(
            "codex_apply with task_id {} applies it to your tree; codex_discard removes the worktree.",
            diff.task_id
        );
        Ok(Json(DiffToolReply {
            diff,
            patch_truncated,
            next,
        }))
    }

    #[tool(
        name = "codex_apply",
        description = "Apply a finished worktree task's change to the user's current tree \
                       (3-way, files only; the index is not touched). On a conflict nothing is \
                       applied and the reply lists the conflicting files (applied: false).",
        annotations(
            title = "Apply a worktree task",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn codex_apply(
        &self,
        Parameters(args): Parameters<TaskArgs>,
    ) -> Result<Json<ApplyToolReply>, ToolError> {
        let client = self.client().await?;
        let apply = client.apply(args.task_id.trim()).await?;
        let next = if apply.applied {
            format!(
                "Applied. codex_discard with task_ids [\"{}\"] removes its worktree.",
                apply.task_id
            )
        } else {
            "Nothing was applied: resolve the conflicting files (or discard the task) and try again."
                .to_string()
        };
        Ok(Json(ApplyToolReply { apply, next }))
    }

    #[tool(
        name = "codex_discard",
        description = "Remove the git worktrees and branches of finished worktree tasks: \
                       task_ids, or every attempt of a best-of-N group except the ones in \
                       except. The task records stay, marked discarded.",
        annotations(
            title = "Discard worktrees",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn codex_discard(
        &self,
        Parameters(args): Parameters<DiscardArgs>,
    ) -> Result<Json<DiscardToolReply>, ToolError> {
        let client = self.client().await?;
        let ids: Vec<String> = args.task_ids.iter().map(|s| s.trim().to_string()).collect();
        let discard = client
            .discard(&ids, args.group.as_deref(), &args.except)
            .await?;
        Ok(Json(DiscardToolReply { discard }))
    }

    #[tool(
        name = "codex_compare",
        description = "The attempts of a best-of-N group (codex_start with attempts) side by \
                       side, best first: state, tests passed/failed, diffstat, duration, \
                       tokens and the first line of each final answer. Then codex_apply the \
                       best and codex_discard the group except it.",
        annotations(
            title = "Compare best-of-N attempts",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn codex_compare(
        &self,
        Parameters(args): Parameters<CompareArgs>,
    ) -> Result<Json<CompareToolReply>, ToolError> {
        let client = self.client().await?;
        let compare = client.compare(args.group.trim()).await?;
        let next = match compare.entries.first() {
            Some(best) => format!(
                "codex_apply with task_id {} applies the best; codex_discard with group {} and except [\"{}\"] removes the rest.",
                best.task_id, compare.group, best.task_id
            ),
            None => "The group has no attempts.".to_string(),
        };
        Ok(Json(CompareToolReply { compare, next }))
    }
}
