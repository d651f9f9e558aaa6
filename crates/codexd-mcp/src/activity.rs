//! Reading codex's JSONL events lightly: the one-line "what is codex doing" shown in
//! progress notifications and status, and a compact rendering of event lines for paging
//! through a task's log in `codex_result`.
//!
//! Parsing is lenient on purpose: the event format grows with every Codex release, so an
//! unknown or malformed line is skipped (activity) or shown by its type (rendering), never
//! an error.

use crate::view::{excerpt, first_line};
use codexd_client::api::shell::unwrap_command;
use serde_json::Value;
use std::path::Path;

/// Longest command shown in an activity line.
const COMMAND_CHARS: usize = 80;

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Paths of a `file_change` item, relative to `cwd` when inside it.
fn changed_paths(item: &Value, cwd: &Path) -> Vec<String> {
    item.get("changes")
        .and_then(Value::as_array)
        .map(|changes| {
            changes
                .iter()
                .map(|c| {
                    let path = text(c, "path");
                    Path::new(path)
                        .strip_prefix(cwd)
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|_| path.to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

fn list(paths: &[String], max: usize) -> String {
    let mut out = paths
        .iter()
        .take(max)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if paths.len() > max {
        out.push_str(&format!(" and {} more", paths.len() - max));
    }
    out
}

/// What codex is doing, from one event line; `None` for lines that say nothing new.
pub fn activity(line: &str, cwd: &Path) -> Option<String> {
    let event: Value = serde_json::from_str(line).ok()?;
    let kind = event.get("type").and_then(Value::as_str)?;
    let item = event.get("item");
    let item_type = item.and_then(|i| i.get("type")).and_then(Value::as_str);
    match (kind, item_type, item) {
        ("thread.started", _, _) => Some("starting".into()),
        ("turn.started", _, _) => Some("thinking".into()),
        ("turn.completed", _, _) => Some("finishing".into()),
        ("turn.failed", _, _) => Some(format!(
            "turn failed: {}",
            first_line(text(event.get("error")?, "message"), 100)
        )),
        ("error", _, _)
            if codexd_client::api::task::is_reconnect_message(text(&event, "message")) =>
        {
            Some(format!(
                "Codex is reconnecting: {}",
                first_line(text(&event, "message"), 100)
            ))
        }
        ("error", _, _) => Some(format!(
            "error: {}",
            first_line(text(&event, "message"), 100)
        )),
        ("item.started", Some("command_execution"), Some(item)) => Some(format!(
            "running `{}`",
            first_line(&unwrap_command(text(item, "command")), COMMAND_CHARS)
        )),
        ("item.completed", Some("command_execution"), Some(item)) => {
            let code = item
                .get("exit_code")
                .and_then(Value::as_i64)
                .map(|c| format!("exit {c}"))
                .unwrap_or_else(|| text(item, "status").to_string());
            Some(format!(
                "ran `{}` ({code})",
                first_line(&unwrap_command(text(item, "command")), COMMAND_CHARS)
            ))
        }
        (_, Some("file_change"), Some(item)) => {
            let paths = changed_paths(item, cwd);
            if paths.is_empty() {
                Some("patching files".into())
            } else {
                Some(format!("patching {}", list(&paths, 3)))
            }
        }
        (_, Some("agent_message"), _) => Some("writing a message".into()),
        (_, Some("reasoning"), _) => Some("thinking".into()),
        (_, Some("todo_list"), Some(item)) => {
            let items = item.get("items").and_then(Value::as_array)?;
            let done = items
                .iter()
                .filter(|i| i.get("completed").and_then(Value::as_bool) == Some(true))
                .count();
            let next = items
                .iter()
                .find(|i| i.get("completed").and_then(Value::as_bool) != Some(true))
                .map(|i| first_line(text(i, "text"), 60));
            Some(match next {
                Some(next) => format!("plan {done}/{}: {next}", items.len()),
                None => format!("plan {done}/{} done", items.len()),
            })
        }
        ("item.started", Some("mcp_tool_call"), Some(item)) => Some(format!(
            "calling {}.{}",
            text(item, "server"),
            text(item, "tool")
        )),
        (_, Some("web_search"), Some(item)) => Some(format!(
            "searching: {}",
            first_line(text(item, "query"), 60)
        )),
        _ => None,
    }
}

/// A compact, readable rendering of one event line for the model, at most `max` characters;
/// `None` for lines not worth showing (`item.updated` noise, empty items).
pub fn render_event(line: &str, cwd: &Path, max: usize) -> Option<String> {
    let Ok(event) = serde_json::from_str::<Value>(line) else {
        return Some(excerpt(&format!("(not JSON) {line}"), max));
    };
    let kind = text(&event, "type");
    let out = match kind {
        "thread.started" => format!("thread {}", text(&event, "thread_id")),
        "turn.started" => "turn started".into(),
        "turn.completed" => {
            let usage = event.get("usage").cloned().unwrap_or(Value::Null);
            let n = |k: &str| usage.get(k).and_then(Value::as_u64).unwrap_or(0);
            format!(
                "turn completed (thread tokens: {} in, {} cached, {} out)",
                n("input_tokens"),
                n("cached_input_tokens"),
                n("output_tokens")
            )
        }
        "turn.failed" => format!(
            "turn failed: {}",
            event.get("error").map(|e| text(e, "message")).unwrap_or("")
        ),
        "error" => format!("error: {}", text(&event, "message")),
        "item.started" | "item.updated" | "item.completed" => {
            let item = event.get("item")?;
            let done = kind == "item.completed";
            match text(item, "type") {
                "agent_message" if done => format!("codex: {}", text(item, "text")),
                "reasoning" if done => format!("(thinking) {}", text(item, "text")),
                "command_execution" if kind == "item.started" => {
                    format!("$ {}", &unwrap_command(text(item, "command")))
                }
                "command_execution" if done => {
                    let code = item
                        .get("exit_code")
                        .and_then(Value::as_i64)
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "?".into());
                    format!(
                        "$ {} → exit {code}\n{}",
                        first_line(&unwrap_command(text(item, "command")), 200),
                        text(item, "aggregated_output").trim_end()
                    )
                }
                "file_change" if done => {
                    let kinds: Vec<String> = item
                        .get("changes")
                        .and_then(Value::as_array)
                        .map(|changes| {
                            changes
                                .iter()
                                .map(|c| text(c, "kind").to_string())
                                .collect()
                        })
                        .unwrap_or_default();
                    let paths = changed_paths(item, cwd);
                    let list: Vec<String> = kinds
                        .iter()
                        .zip(&paths)
                        .map(|(k, p)| format!("{k} {p}"))
                        .collect();
                    format!("patch ({}): {}", text(item, "status"), list.join(", "))
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
                    format!("plan: {}", list.join("  "))
                }
                "error" => format!("warning: {}", text(item, "message")),
                "web_search" if done => format!("search: {}", text(item, "query")),
                "mcp_tool_call" if done => format!(
                    "mcp {}.{} ({})",
                    text(item, "server"),
                    text(item, "tool"),
                    text(item, "status")
                ),
                _ => return None,
            }
        }
        other => format!("[{other}]"),
    };
    Some(excerpt(&out, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CWD: &str = "/work/project";

    fn act(line: &str) -> Option<String> {
        activity(line, Path::new(CWD))
    }

    #[test]
    fn commands_are_shown_without_the_shell_wrapper() {
        let line = r#"{"type":"item.started","item":{"id":"item_1","type":"command_execution","command":"/bin/bash -lc 'cargo test'","status":"in_progress"}}"#;
        assert_eq!(act(line).as_deref(), Some("running `cargo test`"));
        let done = r#"{"type":"item.completed","item":{"id":"item_1","type":"command_execution","command":"/bin/bash -lc 'cargo test'","exit_code":101,"status":"failed"}}"#;
        assert_eq!(act(done).as_deref(), Some("ran `cargo test` (exit 101)"));
    }

    #[test]
    fn patches_name_their_files_relative_to_the_cwd() {
        let line = r#"{"type":"item.completed","item":{"id":"item_2","type":"file_change","changes":[{"path":"/work/project/src/a.rs","kind":"update"},{"path":"/elsewhere/b.rs","kind":"add"}],"status":"completed"}}"#;
        assert_eq!(
            act(line).as_deref(),
            Some("patching src/a.rs, /elsewhere/b.rs")
        );
    }

    #[test]
    fn plans_show_the_next_step() {
        let line = r#"{"type":"item.updated","item":{"id":"item_0","type":"todo_list","items":[{"text":"write it","completed":true},{"text":"test it","completed":false}]}}"#;
        assert_eq!(act(line).as_deref(), Some("plan 1/2: test it"));
    }

    #[test]
    fn unknown_and_broken_lines_are_skipped() {
        assert_eq!(act(r#"{"type":"something.new","x":1}"#), None);
        assert_eq!(act("not json"), None);
        assert_eq!(act(r#"{"no_type":true}"#), None);
    }

    #[test]
    fn rendering_keeps_command_output_and_caps_length() {
        let line = r#"{"type":"item.completed","item":{"id":"item_1","type":"command_execution","command":"/bin/bash -lc 'echo hi'","aggregated_output":"hi\n","exit_code":0,"status":"completed"}}"#;
        assert_eq!(
            render_event(line, Path::new(CWD), 100).as_deref(),
            Some("$ echo hi → exit 0\nhi")
        );
        let long = format!(
            r#"{{"type":"item.completed","item":{{"type":"agent_message","text":"{}"}}}}"#,
            "a".repeat(500)
        );
        let rendered = render_event(&long, Path::new(CWD), 50).unwrap_or_default();
        assert!(rendered.ends_with("more characters]"), "{rendered}");
        assert_eq!(
            render_event(
                r#"{"type":"item.updated","item":{"type":"command_execution"}}"#,
                Path::new(CWD),
                50
            ),
            None
        );
        assert_eq!(
            render_event("garbage", Path::new(CWD), 50).as_deref(),
            Some("(not JSON) garbage")
        );
    }
}
