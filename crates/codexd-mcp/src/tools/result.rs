//! `codex_result`: the structured result of a task, compact by default, with pages for
//! everything long (the whole answer, every command, every file, failing tests, the event
//! log, codex's stderr).
//!
//! The summary is the daemon's compact result (`Client::result(id, false)`) cut further so
//! a reply stays well under 10k tokens; the sections page through the full result
//! (`Client::result(id, true)`) or the logs (`Client::read_log`).

use super::summary::{CommandView, FileView, Summary, TestsView, summary};
use crate::activity::render_event;
use crate::error::ToolError;
use crate::server::CodexServer;
use crate::view::{StateName, excerpt};
use codexd_client::api::LogStream;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::{Json, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Characters of text per page (final message, stderr, rendered events).
const PAGE_CHARS: usize = 12_000;
/// Commands per page.
const PAGE_COMMANDS: usize = 25;
/// Longest command text in the commands section.
const PAGE_COMMAND_CHARS: usize = 1000;
/// Files per page.
const PAGE_FILES: usize = 200;
/// Failing test names per page.
const PAGE_FAILING: usize = 100;
/// Longest rendering of one event.
const EVENT_CHARS: usize = 3000;
/// Bytes of log read per page (more than a page of text needs; the rest is left for the
/// next page).
const LOG_READ_BYTES: u64 = 256 * 1024;

/// What part of the result to return.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// The compact result: answer, files, diffstat, last commands, tests, tokens, plan.
    #[default]
    Summary,
    /// Codex's whole final answer, paged by character offset.
    FinalMessage,
    /// Every command Codex ran, paged by index.
    Commands,
    /// Every changed file, paged by index.
    Files,
    /// Test counts per runner and every failing test name, paged by index.
    Tests,
    /// Codex's event log rendered for reading, paged by byte offset.
    Events,
    /// Codex's stderr, paged by byte offset.
    Stderr,
}

/// Arguments of `codex_result`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ResultArgs {
    /// The task id (or unambiguous prefix).
    pub task_id: String,
    /// Part of the result to return; default `summary`. The others page through what the
    /// summary cuts.
    #[serde(default)]
    pub section: Option<Section>,
    /// Where to start in a paged section: pass the previous reply's `next_offset`.
    #[serde(default)]
    pub offset: Option<u64>,
}

/// One rendered event of the log.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EventView {
    /// Byte offset of the event in the log.
    pub offset: u64,
    /// The event, rendered for reading.
    pub text: String,
}

/// Reply of `codex_result`.
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct ResultReply {
    /// The task.
    pub task_id: String,
    /// Its state (a running task's result covers what it did so far).
    pub state: Option<StateName>,
    /// The section returned.
    pub section: Section,
    /// Section `summary`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
    /// Sections `final_message` and `stderr`: this page of text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Section `commands`: this page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commands: Option<Vec<CommandView>>,
    /// Section `files`: this page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<FileView>>,
    /// Section `tests`: counts, and this page of failing test names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tests: Option<TestsView>,
    /// Section `events`: this page of the event log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<EventView>>,
    /// Paged sections: where this page starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Paged sections: pass as `offset` for the next page; null on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<u64>,
    /// Paged sections: the section's size (characters, items, or bytes of the event log);
    /// absent for stderr.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// What to do next.
    pub next: String,
    /// Section `summary` of a review task: `{findings: [{title, body, file, line_start,
    /// line_end, priority, confidence}], explanation, overall_correctness}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<serde_json::Value>,
    /// Section `summary` of a task with an output schema: the answer parsed as JSON, when
    /// it conforms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_json: Option<serde_json::Value>,
    /// Section `summary` of a task with an output schema: why the answer does not conform.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_error: Option<String>,
}

#[tool_router(router = result_router, vis = "pub(crate)")]
impl CodexServer {
    #[tool(
        name = "codex_result",
        description = "The result of a Codex task: its final answer, changed files, git \
                       diffstat, commands run with exit codes, test counts, token usage, plan. \
                       Compact by default; pass section (final_message, commands, files, \
                       tests, events, stderr) and offset to page through what the summary \
                       cuts. Works while the task runs too (what it did so far).",
        annotations(
            title = "Codex task result",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn codex_result(
        &self,
        Parameters(args): Parameters<ResultArgs>,
    ) -> Result<Json<ResultReply>, ToolError> {
        let id = args.task_id.trim();
        let section = args.section.unwrap_or_default();
        let offset = args.offset.unwrap_or(0);
        let client = self.client().await?;
        let task = client.get(id).await?;
        let id = task.id.to_string();
        let mut reply = ResultReply {
            task_id: id.clone(),
            state: Some(task.state.into()),
            section,
            ..ResultReply::default()
        };
        match section {
            Section::Summary => {
                let result = client.result(&id, false).await?;
                reply.review = result
                    .review
                    .as_ref()
                    .and_then(|r| serde_json::to_value(r).ok());
                reply.final_json = result.final_json.clone();
                reply.schema_error = result.schema_error.clone();
                let summary = summary(&result);
                let complete = summary.trimmed.is_empty();
                reply.summary = Some(summary);
                reply.next = if task.state.is_terminal() && complete {
                    "This is the whole result; section events shows every step Codex took, \
                     with command output."
                        .into()
                } else if task.state.is_terminal() {
                    "This is the compact result; the sections named in trimmed have the rest."
                        .into()
                } else {
                    format!(
                        "The task is still {}: this is what it did so far. Wait for it with `{}` \
                         as a background shell command.",
                        task.state,
                        self.codexctl().wait_command(&[&id])
                    )
                };
            }
            Section::FinalMessage => {
                let result = client.result(&id, true).await?;
                let text = result.final_message.unwrap_or_default();
                let (page, next) = char_page(&text, offset, PAGE_CHARS);
                reply.text = Some(page);
                paged(&mut reply, offset, next, Some(text.chars().count() as u64));
            }
            Section::Commands => {
                let result = client.result(&id, true).await?;
                let (items, next) = item_page(&result.commands, offset, PAGE_COMMANDS);
                reply.commands = Some(
                    items
                        .iter()
                        .map(|c| CommandView::new(c, PAGE_COMMAND_CHARS))
                        .collect(),
                );
                paged(&mut reply, offset, next, Some(result.commands.len() as u64));
            }
            Section::Files => {
                let result = client.result(&id, true).await?;
                let (items, next) = item_page(&result.files_changed, offset, PAGE_FILES);
                reply.files = Some(
                    items
                        .iter()
                        .map(|f| FileView {
                            path: f.path.clone(),
                            kind: f.kind.clone(),
                        })
                        .collect(),
                );
                paged(
                    &mut reply,
                    offset,
                    next,
                    Some(result.files_changed.len() as u64),
                );
            }
            Section::Tests => {
                let result = client.result(&id, true).await?;
                let tests = result.tests.unwrap_or_default();
                let (names, next) = item_page(&tests.failing, offset, PAGE_FAILING);
                reply.tests = Some(TestsView::new(&tests, names.to_vec()));
                paged(&mut reply, offset, next, Some(tests.failing.len() as u64));
            }
            Section::Events => {
                let chunk = client
                    .read_log(&id, offset, Some(LOG_READ_BYTES), LogStream::Events)
                    .await?;
                let mut events = Vec::new();
                let mut used = 0usize;
                let mut next = Some(chunk.next_offset);
                for line in &chunk.lines {
                    if !events.is_empty() && used >= PAGE_CHARS {
                        next = Some(line.offset);
                        break;
                    }
                    if let Some(text) = render_event(&line.line, &task.cwd, EVENT_CHARS) {
                        used += text.len();
                        events.push(EventView {
                            offset: line.offset,
                            text,
                        });
                    }
                }
                let at_end = next == Some(chunk.next_offset);
                if at_end && chunk.complete {
                    next = None;
                }
                reply.events = Some(events);
                paged(&mut reply, offset, next, Some(task.log_bytes));
                if at_end && !chunk.complete && !task.state.is_terminal() {
                    reply.next = format!(
                        "End of the log so far; the task is {}: call again with offset {} later \
                         for more.",
                        task.state, chunk.next_offset
                    );
                }
            }
            Section::Stderr => {
                let chunk = client
                    .read_log(&id, offset, Some(LOG_READ_BYTES), LogStream::Stderr)
                    .await?;
                let mut text = String::new();
                let mut next = Some(chunk.next_offset);
                for line in &chunk.lines {
                    if !text.is_empty() && text.len() + line.line.len() > PAGE_CHARS {
                        next = Some(line.offset);
                        break;
                    }
                    text.push_str(&excerpt(&line.line, PAGE_CHARS));
                    text.push('\n');
                }
                let at_end = next == Some(chunk.next_offset);
                if at_end && chunk.complete {
                    next = None;
                }
                reply.text = Some(text);
                paged(&mut reply, offset, next, None);
                if at_end && !chunk.complete && !task.state.is_terminal() {
                    reply.next = format!(
                        "End of codex's stderr so far; the task is {}: call again with offset {} \
                         later for more.",
                        task.state, chunk.next_offset
                    );
                }
            }
        }
        Ok(Json(reply))
    }
}

/// Sets the paging fields and the default next step of a paged section.
fn paged(reply: &mut ResultReply, offset: u64, next: Option<u64>, total: Option<u64>) {
    reply.offset = Some(offset);
    reply.next_offset = next;
    reply.total = total;
    reply.next = match next {
        Some(n) => format!(
            "More follows: call codex_result again with section {:?} and offset {n}.",
            section_name(reply.section)
        ),
        None => "This is the last page.".into(),
    };
}

fn section_name(section: Section) -> String {
    serde_json::to_value(section)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The page of `text` starting at character `offset`, and the next offset if more follows.
fn char_page(text: &str, offset: u64, size: usize) -> (String, Option<u64>) {
    let start = usize::try_from(offset).unwrap_or(usize::MAX);
    let page: String = text.chars().skip(start).take(size).collect();
    let total = text.chars().count();
    let end = start.saturating_add(page.chars().count());
    (page, (end < total).then_some(end as u64))
}

/// The page of `items` starting at index `offset`, and the next offset if more follows.
fn item_page<T>(items: &[T], offset: u64, size: usize) -> (&[T], Option<u64>) {
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(items.len());
    let end = start.saturating_add(size).min(items.len());
    (
        &items[start..end],
        (end < items.len()).then_some(end as u64),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_pages_cover_the_text_once() {
        let text = "héllo wörld";
        let (a, next) = char_page(text, 0, 4);
        assert_eq!(a, "héll");
        assert_eq!(next, Some(4));
        let (b, next) = char_page(text, 4, 4);
        assert_eq!(b, "o wö");
        let (c, next) = char_page(text, next.unwrap_or_default(), 4);
        assert_eq!(c, "rld");
        assert_eq!(next, None);
        let (d, next) = char_page(text, 999, 4);
        assert_eq!((d.as_str(), next), ("", None));
    }

    #[test]
    fn item_pages_stop_at_the_end() {
        let items = [1, 2, 3, 4, 5];
        assert_eq!(item_page(&items, 0, 2), (&items[0..2], Some(2)));
        assert_eq!(item_page(&items, 4, 2), (&items[4..5], None));
        assert_eq!(item_page(&items, 9, 2), (&items[5..5], None));
    }
}
