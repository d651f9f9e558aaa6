//! Human output: task tables, details, summary and live status lines, and a readable
//! rendering of codex's JSONL events. (`--json` output is the API's own types.)

use codexd_client::api::shell::unwrap_command;
use codexd_client::api::{Task, TaskState, Timestamp};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

/// `start --json` / `resume --json` output.
#[derive(Debug, Serialize)]
pub struct StartOutput<'a> {
    /// The task id.
    pub task_id: &'a str,
    /// Codex's thread id (null until known).
    pub thread_id: Option<&'a str>,
    /// Current state.
    pub state: TaskState,
    /// Position in the queue while queued.
    pub queue_position: Option<u32>,
    /// The parent task, for resumed turns.
    pub parent: Option<&'a str>,
    /// The directory codex runs in.
    pub cwd: &'a std::path::Path,
}

impl<'a> From<&'a Task> for StartOutput<'a> {
    fn from(task: &'a Task) -> Self {
        StartOutput {
            task_id: task.id.as_str(),
            thread_id: task.thread_id.as_deref(),
            state: task.state,
            queue_position: task.queue_position,
            parent: task.parent.as_ref().map(|p| p.as_str()),
            cwd: &task.cwd,
        }
    }
}

/// `12.3s`, `4m05s`, `2h03m`.
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        format!("{:.1}s", d.as_secs_f64())
    } else if secs < 3600 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60)
    }
}

fn first_line(text: &str, max: usize) -> String {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut out: String = line.chars().take(max).collect();
    if line.chars().count() > max {
        out.push('…');
    }
    out
}

/// One line per task for `wait`: id, state, duration, first line of the answer or error.
pub fn summary_line(task: &Task, now: Timestamp) -> String {
    let took = task
        .duration(now)
        .map(duration)
        .unwrap_or_else(|| "-".into());
    let text = match (&task.error, &task.final_message) {
        (Some(error), _) if task.state != TaskState::Succeeded => first_line(error, 120),
        (_, Some(message)) => first_line(message, 120),
        _ => String::new(),
    };
    format!("{}  {:<11}  {:>7}  {}", task.id, task.state, took, text)
        .trim_end()
        .to_string()
}

/// The table of `list`.
pub fn task_table(tasks: &[Task]) -> String {
    let now = Timestamp::now();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<8}  {:<11}  {:>7}  {:<19}  PROMPT",
        "ID", "STATE", "TIME", "CREATED"
    );
    for task in tasks {
        let state = match task.queue_position {
            Some(pos) => format!("queued #{pos}"),
            None => task.state.to_string(),
        };
        let took = task
            .duration(now)
            .map(duration)
            .unwrap_or_else(|| "-".into());
        let created: String = task.created_at.to_string().chars().take(19).collect();
        let _ = writeln!(
            out,
            "{:<8}  {:<11}  {:>7}  {:<19}  {}",
            task.id,
            state,
            took,
            created.replace('T', " "),
            first_line(&task.prompt, 60)
        );
    }
    out
}

/// The details of `show`.
pub fn task_details(task: &Task) -> String {
    let mut out = String::new();
    let mut field = |name: &str, value: String| {
        let _ = writeln!(out, "{name:<13}{value}");
    };
    field("id", task.id.to_string());
    let state = match task.queue_position {
        Some(pos) => format!("queued (position {pos})"),
        None => task.state.to_string(),
    };
    field("state", state);
    field(
        "thread",
        task.thread_id.clone().unwrap_or_else(|| "-".into()),
    );
    field("cwd", task.cwd.display().to_string());
    if let Some(parent) = &task.parent {
        field("parent", parent.to_string());
    }
    if let Some(sandbox) = &task.sandbox {
        field("sandbox", sandbox.clone());
    }
    if let Some(model) = &task.model {
        field("model", model.clone());
    }
    if !task.labels.is_empty() {
        field("labels", task.labels.join(", "));
    }
    field("created", task.created_at.to_string());
    if let Some(at) = task.started_at {
        field("started", at.to_string());
    }
    if let Some(at) = task.finished_at {
        field("finished", at.to_string());
    }
    if let Some(d) = task.duration(Timestamp::now()) {
        field("duration", duration(d));
    }
    if let Some(code) = task.exit_code {
        field("exit code", code.to_string());
    }
    if let Some(error) = &task.error {
        field("error", error.clone());
    }
    if task.log_truncated {
        field(
            "log",
            format!(
                "truncated at the daemon's limit ({} bytes kept)",
                task.log_bytes
            ),
        );
    }
    field("prompt", first_line(&task.prompt, 200));
    if let Some(message) = &task.final_message {
        let _ = writeln!(out, "\n{message}");
    }
    out
}

/// The human rendering of `result`.
pub fn result_details(result: &codexd_client::api::TaskResult) -> String {
    let mut out = String::new();
    let state = result.state.map(|s| s.to_string()).unwrap_or_default();
    let took = result
        .duration_ms
        .map(|ms| duration(Duration::from_millis(ms)))
        .unwrap_or_else(|| "-".into());
    let _ = writeln!(out, "state      {state} in {took}");
    if let Some(error) = &result.error {
        let _ = writeln!(out, "error      {error}");
    }
    if !result.files_changed.is_empty() {
        let _ = writeln!(out, "files");
        for file in &result.files_changed {
            let _ = writeln!(out, "  {:<7} {}", file.kind, file.path);
        }
    }
    if let Some(stat) = &result.diffstat {
        let _ = writeln!(
            out,
            "diffstat   {} files, +{} -{}",
            stat.files, stat.insertions, stat.deletions
        );
    }
    if !result.commands.is_empty() {
        let _ = writeln!(out, "commands");
        for run in &result.commands {
            let code = run
                .exit_code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "-".into());
            let took = run
                .duration_ms
                .map(|ms| duration(Duration::from_millis(ms)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  [{code:>3}] {took:>6}  {}",
                first_line(&run.command, 100)
            );
        }
    }
    if let Some(tests) = &result.tests {
        let runners: Vec<&str> = tests.runs.iter().map(|r| r.runner.as_str()).collect();
        let _ = writeln!(
            out,
            "tests      {} passed, {} failed, {} skipped ({})",
            tests.passed,
            tests.failed,
            tests.skipped,
            runners.join(", ")
        );
        for name in &tests.failing {
            let _ = writeln!(out, "  FAILED {name}");
        }
    }
    if let Some(usage) = &result.usage {
        let _ = writeln!(
            out,
            "tokens     {} in ({} cached), {} out ({} reasoning)",
            usage.input_tokens,
            usage.cached_input_tokens,
            usage.output_tokens,
            usage.reasoning_output_tokens
        );
    }
    if let Some(todo) = &result.todo {
        let _ = writeln!(out, "plan");
        for item in todo {
            let mark = if item.completed { "x" } else { " " };
            let _ = writeln!(out, "  [{mark}] {}", item.text);
        }
    }
    if !result.trimmed.is_empty() {
        let _ = writeln!(out, "trimmed    {} (use --full)", result.trimmed.join(", "));
    }
    if result.log_truncated {
        let _ = writeln!(
            out,
            "log        truncated at the daemon's limit: later output was shortened or dropped"
        );
    }
    if let Some(message) = &result.final_message {
        let _ = writeln!(out, "\n{message}");
    }
    out
}

/// The live line of `wait` on a terminal.
pub fn live_status(
    tasks: &HashMap<String, Task>,
    activity: &HashMap<String, String>,
    now: Timestamp,
) -> String {
    let mut ids: Vec<&String> = tasks.keys().collect();
    ids.sort();
    let parts: Vec<String> = ids
        .into_iter()
        .map(|id| {
            let task = &tasks[id];
            let took = task.duration(now).map(duration).unwrap_or_default();
            let doing = activity
                .get(id)
                .map(|a| first_line(a, 50))
                .unwrap_or_default();
            format!("{id} {} {took} {doing}", task.state)
                .trim_end()
                .to_string()
        })
        .collect();
    let mut line = parts.join(" | ");
    if let Some(note) = activity.get("") {
        line = format!("{line} ({note})");
    }
    line.chars().take(200).collect()
}

/// What codex is doing, from one event line (for live status).
pub fn activity(line: &str) -> Option<String> {
    let event: Value = serde_json::from_str(line).ok()?;
    let item = event.get("item");
    let item_type = item.and_then(|i| i.get("type")).and_then(Value::as_str);
    match (event.get("type").and_then(Value::as_str)?, item_type) {
        ("item.started", Some("command_execution")) => {
            let command = item?.get("command")?.as_str()?;
            Some(format!("running {}", unwrap_command(command)))
        }
        (_, Some("file_change")) => Some("patching files".into()),
        (_, Some("agent_message")) => Some("writing the answer".into()),
        (_, Some("reasoning")) | ("turn.started", _) => Some("thinking".into()),
        _ => None,
    }
}

/// A readable rendering of one event line (`None` for lines not worth showing).
pub fn event_line(line: &str) -> Option<String> {
    let Ok(event) = serde_json::from_str::<Value>(line) else {
        return Some(format!("(unparsable) {line}"));
    };
    let kind = event.get("type").and_then(Value::as_str).unwrap_or("?");
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    match kind {
        "thread.started" => Some(format!("── thread {}", text(&event, "thread_id"))),
        "turn.started" => Some("── turn started".into()),
        "turn.completed" => {
            let usage = event.get("usage").cloned().unwrap_or(Value::Null);
            let n = |k: &str| usage.get(k).and_then(Value::as_u64).unwrap_or(0);
            Some(format!(
                "── turn completed (tokens: {} in, {} cached, {} out)",
                n("input_tokens"),
                n("cached_input_tokens"),
                n("output_tokens")
            ))
        }
        "turn.failed" => Some(format!(
            "── turn failed: {}",
            event
                .get("error")
                .map(|e| text(e, "message"))
                .unwrap_or_default()
        )),
        "error" => Some(format!("!! {}", text(&event, "message"))),
        "item.started" | "item.updated" | "item.completed" => {
            let item = event.get("item")?;
            let done = kind == "item.completed";
            match item.get("type").and_then(Value::as_str).unwrap_or("?") {
                "agent_message" if done => Some(format!("codex: {}", text(item, "text"))),
                "reasoning" if done => Some(format!(
                    "(thinking) {}",
                    first_line(&text(item, "text"), 120)
                )),
                "command_execution" if kind == "item.started" => {
                    Some(format!("$ {}", unwrap_command(&text(item, "command"))))
                }
                "command_execution" if done => {
                    let code = item
                        .get("exit_code")
                        .and_then(Value::as_i64)
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "?".into());
                    let output = text(item, "aggregated_output");
                    let mut out = String::new();
                    for line in output.lines() {
                        let _ = writeln!(out, "  │ {line}");
                    }
                    let _ = write!(out, "  └ exit {code}");
                    Some(out)
                }
                "file_change" if done => {
                    let changes = item.get("changes").and_then(Value::as_array)?;
                    let list: Vec<String> = changes
                        .iter()
                        .map(|c| format!("{} {}", text(c, "kind"), text(c, "path")))
                        .collect();
                    Some(format!("patch: {}", list.join(", ")))
                }
                "todo_list" => {
                    let items = item.get("items").and_then(Value::as_array)?;
                    let list: Vec<String> = items
                        .iter()
                        .map(|i| {
                            let mark = if i.get("completed").and_then(Value::as_bool) == Some(true)
                            {
                                "x"
                            } else {
                                " "
                            };
                            format!("[{mark}] {}", text(i, "text"))
                        })
                        .collect();
                    Some(format!("plan: {}", list.join("  ")))
                }
                "error" => Some(format!("warning: {}", text(item, "message"))),
                "web_search" if done => Some(format!("search: {}", text(item, "query"))),
                "mcp_tool_call" if done => Some(format!(
                    "mcp: {}.{} ({})",
                    text(item, "server"),
                    text(item, "tool"),
                    text(item, "status")
                )),
                _ => None,
            }
        }
        other => Some(format!("[{other}]")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(duration(Duration::from_secs(245)), "4m05s");
        assert_eq!(duration(Duration::from_secs(7380)), "2h03m");
    }

    #[test]
    fn events_render_readably() {
        assert_eq!(
            event_line(r#"{"type":"item.started","item":{"id":"item_1","type":"command_execution","command":"/bin/bash -lc 'cat a.txt'","status":"in_progress"}}"#).as_deref(),
            Some("$ cat a.txt")
        );
        assert_eq!(
            event_line(r#"{"type":"item.completed","item":{"id":"item_1","type":"command_execution","command":"x","aggregated_output":"hi\n","exit_code":0,"status":"completed"}}"#).as_deref(),
            Some("  │ hi\n  └ exit 0")
        );
        assert_eq!(
            event_line(r#"{"type":"turn.failed","error":{"message":"boom"}}"#).as_deref(),
            Some("── turn failed: boom")
        );
        assert_eq!(
            event_line(r#"{"type":"brand.new"}"#).as_deref(),
            Some("[brand.new]")
        );
        assert_eq!(
            event_line("garbage").as_deref(),
            Some("(unparsable) garbage")
        );
    }
}
