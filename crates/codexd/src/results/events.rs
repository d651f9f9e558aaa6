//! Parsing of `codex exec --json` event lines.
//!
//! Lenient by design: a line is parsed into a `serde_json::Value` first (which tolerates the
//! duplicate `"id"` key codex emits on `web_search` items), then the fields we use are picked
//! out. Event and item types we do not know become `Unknown` and are kept: the format grows
//! with every Codex release, and an unknown line must never fail a task.

use codexd_api::shell::unwrap_command;
use serde_json::Value;

/// One parsed event line.
#[derive(Debug, Clone, PartialEq)]
pub enum CodexEvent {
    /// `thread.started`: the id to resume with.
    ThreadStarted {
        /// Codex's thread id.
        thread_id: String,
    },
    /// `turn.started`.
    TurnStarted,
    /// `turn.completed` with the thread's cumulative token usage.
    TurnCompleted {
        /// Cumulative usage for the thread.
        usage: Usage,
    },
    /// `turn.failed` with codex's message.
    TurnFailed {
        /// Codex's error message.
        message: String,
    },
    /// A top-level `error` event (also used for "Reconnecting..." notices).
    Error {
        /// The message.
        message: String,
    },
    /// `item.started`, `item.updated` or `item.completed`.
    Item {
        /// Which of the three.
        phase: ItemPhase,
        /// The item.
        item: Item,
    },
    /// An event type this version does not know; kept as it is.
    Unknown {
        /// Its `type` field.
        event_type: String,
    },
}

/// The phase of an item event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemPhase {
    /// `item.started`
    Started,
    /// `item.updated`
    Updated,
    /// `item.completed`
    Completed,
}

/// Token usage as reported by `turn.completed` (cumulative for the thread).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Input tokens.
    pub input_tokens: u64,
    /// Of which served from cache.
    pub cached_input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Of which reasoning.
    pub reasoning_output_tokens: u64,
}

/// An item of a turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The item id (`item_0`, ...), unique within one process run.
    pub id: String,
    /// What the item is.
    pub kind: ItemKind,
}

/// The item types codex emits, with the fields codexd uses.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemKind {
    /// An assistant message; the last one is the final answer.
    AgentMessage {
        /// The text.
        text: String,
    },
    /// A reasoning summary.
    Reasoning {
        /// The text.
        text: String,
    },
    /// A shell command.
    CommandExecution {
        /// The (shell-wrapped) command line.
        command: String,
        /// Exit code once finished.
        exit_code: Option<i64>,
        /// `in_progress`, `completed` or `failed`.
        status: String,
        /// stdout and stderr, merged.
        aggregated_output: String,
    },
    /// A patch applied to files.
    FileChange {
        /// `(absolute path, kind)` pairs; kind is `add`, `update` or `delete`.
        changes: Vec<(String, String)>,
        /// Item status.
        status: String,
    },
    /// The plan.
    TodoList {
        /// `(text, completed)` pairs.
        items: Vec<(String, bool)>,
    },
    /// A call to an MCP tool.
    McpToolCall {
        /// Server name.
        server: String,
        /// Tool name.
        tool: String,
        /// Status.
        status: String,
    },
    /// A web search.
    WebSearch {
        /// The query.
        query: String,
    },
    /// A non-fatal warning.
    Error {
        /// The message.
        message: String,
    },
    /// An item type this version does not know.
    Unknown {
        /// Its `type` field.
        item_type: String,
    },
}

/// Why a line could not be parsed at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON.
    #[error("event line is not JSON: {0}")]
    NotJson(String),
    /// JSON without a string `type`.
    #[error("event line has no \"type\" field")]
    NoType,
}

fn str_field(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn u64_field(value: &Value, key: &str) -> u64 {
    value.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// What `element` makes of each element of an array field (nothing if absent or not an
/// array).
fn array_field<T>(value: &Value, key: &str, element: impl Fn(&Value) -> T) -> Vec<T> {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(|elements| elements.iter().map(element).collect())
        .unwrap_or_default()
}

/// Parses one line of `codex exec --json` output.
pub fn parse_line(line: &str) -> Result<CodexEvent, ParseError> {
    let mut value: Value =
        serde_json::from_str(line.trim()).map_err(|e| ParseError::NotJson(e.to_string()))?;
    let event_type = value
        .get("type")
        .and_then(Value::as_str)
        .ok_or(ParseError::NoType)?;
    let event = match event_type {
        "thread.started" => CodexEvent::ThreadStarted {
            thread_id: str_field(&value, "thread_id"),
        },
        "turn.started" => CodexEvent::TurnStarted,
        "turn.completed" => {
            let usage = value.get("usage").cloned().unwrap_or(Value::Null);
            CodexEvent::TurnCompleted {
                usage: Usage {
                    input_tokens: u64_field(&usage, "input_tokens"),
                    cached_input_tokens: u64_field(&usage, "cached_input_tokens"),
                    output_tokens: u64_field(&usage, "output_tokens"),
                    reasoning_output_tokens: u64_field(&usage, "reasoning_output_tokens"),
                },
            }
        }
        "turn.failed" => CodexEvent::TurnFailed {
            message: value
                .get("error")
                .map(|e| str_field(e, "message"))
                .unwrap_or_default(),
        },
        "error" => CodexEvent::Error {
            message: str_field(&value, "message"),
        },
        "item.started" | "item.updated" | "item.completed" => {
            let phase = match event_type {
                "item.started" => ItemPhase::Started,
                "item.updated" => ItemPhase::Updated,
                _ => ItemPhase::Completed,
            };
            let item = value
                .get_mut("item")
                .map(Value::take)
                .unwrap_or(Value::Null);
            CodexEvent::Item {
                phase,
                item: parse_item(item),
            }
        }
        other => CodexEvent::Unknown {
            event_type: other.to_string(),
        },
    };
    Ok(event)
}

/// Moves a string field out of `value` (empty if absent or not a string): large fields
/// such as a command's output are not copied.
fn take_str(value: &mut Value, key: &str) -> String {
    match value.get_mut(key) {
        Some(Value::String(text)) => std::mem::take(text),
        _ => String::new(),
    }
}

fn parse_item(mut item: Value) -> Item {
    let item = &mut item;
    let id = take_str(item, "id");
    let item_type = take_str(item, "type");
    let kind = match item_type.as_str() {
        "agent_message" => ItemKind::AgentMessage {
            text: take_str(item, "text"),
        },
        "reasoning" => ItemKind::Reasoning {
            text: take_str(item, "text"),
        },
        "command_execution" => ItemKind::CommandExecution {
            command: take_str(item, "command"),
            exit_code: item.get("exit_code").and_then(Value::as_i64),
            status: take_str(item, "status"),
            aggregated_output: take_str(item, "aggregated_output"),
        },
        "file_change" => ItemKind::FileChange {
            changes: array_field(item, "changes", |c| {
                (str_field(c, "path"), str_field(c, "kind"))
            }),
            status: take_str(item, "status"),
        },
        "todo_list" => ItemKind::TodoList {
            items: array_field(item, "items", |i| {
                let done = i.get("completed").and_then(Value::as_bool);
                (str_field(i, "text"), done.unwrap_or(false))
            }),
        },
        "mcp_tool_call" => ItemKind::McpToolCall {
            server: take_str(item, "server"),
            tool: take_str(item, "tool"),
            status: take_str(item, "status"),
        },
        "web_search" => ItemKind::WebSearch {
            query: take_str(item, "query"),
        },
        "error" => ItemKind::Error {
            message: take_str(item, "message"),
        },
        _ => ItemKind::Unknown { item_type },
    };
    Item { id, kind }
}

/// A one-line description of what codex is doing, for live status lines.
pub fn activity(event: &CodexEvent) -> Option<String> {
    match event {
        CodexEvent::TurnStarted => Some("thinking".into()),
        CodexEvent::Item { phase, item } => match (&item.kind, phase) {
            (ItemKind::CommandExecution { command, .. }, ItemPhase::Started) => {
                Some(format!("running {}", unwrap_command(command)))
            }
            (ItemKind::FileChange { changes, .. }, _) => {
                let paths: Vec<&str> = changes.iter().map(|(p, _)| p.as_str()).collect();
                Some(format!("patching {}", paths.join(", ")))
            }
            (ItemKind::McpToolCall { server, tool, .. }, ItemPhase::Started) => {
                Some(format!("calling {server}.{tool}"))
            }
            (ItemKind::WebSearch { query }, _) => Some(format!("searching {query}")),
            (ItemKind::AgentMessage { .. }, _) => Some("writing the answer".into()),
            (ItemKind::Reasoning { .. }, _) => Some("thinking".into()),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Lines as documented in ../shared/codex-cli.md (Codex CLI 0.169.0).

    #[test]
    fn thread_started_carries_the_thread_id() {
        let e = parse_line(
            r#"{"type":"thread.started","thread_id":"0199a213-81c0-7800-8aa1-bbab2a035a53"}"#,
        )
        .unwrap();
        assert_eq!(
            e,
            CodexEvent::ThreadStarted {
                thread_id: "0199a213-81c0-7800-8aa1-bbab2a035a53".into()
            }
        );
    }

    #[test]
    fn turn_events() {
        assert_eq!(
            parse_line(r#"{"type":"turn.started"}"#).unwrap(),
            CodexEvent::TurnStarted
        );
        let done = parse_line(
            r#"{"type":"turn.completed","usage":{"input_tokens":100,"cached_input_tokens":20,"cache_write_input_tokens":0,"output_tokens":30,"reasoning_output_tokens":5}}"#,
        )
        .unwrap();
        assert_eq!(
            done,
            CodexEvent::TurnCompleted {
                usage: Usage {
                    input_tokens: 100,
                    cached_input_tokens: 20,
                    output_tokens: 30,
                    reasoning_output_tokens: 5
                }
            }
        );
        let failed =
            parse_line(r#"{"type":"turn.failed","error":{"message":"model overloaded"}}"#).unwrap();
        assert_eq!(
            failed,
            CodexEvent::TurnFailed {
                message: "model overloaded".into()
            }
        );
        let err = parse_line(r#"{"type":"error","message":"Reconnecting... 1/5"}"#).unwrap();
        assert_eq!(
            err,
            CodexEvent::Error {
                message: "Reconnecting... 1/5".into()
            }
        );
    }

    #[test]
    fn command_execution_items() {
        let started = parse_line(r#"{"type":"item.started","item":{"id":"item_1","type":"command_execution","command":"/bin/bash -lc 'echo hi'","aggregated_output":"","exit_code":null,"status":"in_progress"}}"#).unwrap();
        assert_eq!(activity(&started).as_deref(), Some("running echo hi"));
        let done = parse_line(r#"{"type":"item.completed","item":{"id":"item_1","type":"command_execution","command":"/bin/bash -lc 'false'","aggregated_output":"","exit_code":1,"status":"failed"}}"#).unwrap();
        match done {
            CodexEvent::Item {
                phase: ItemPhase::Completed,
                item:
                    Item {
                        id,
                        kind:
                            ItemKind::CommandExecution {
                                exit_code, status, ..
                            },
                    },
            } => {
                assert_eq!(id, "item_1");
                assert_eq!(exit_code, Some(1));
                assert_eq!(status, "failed");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn file_change_todo_message_reasoning() {
        let fc = parse_line(r#"{"type":"item.completed","item":{"id":"item_2","type":"file_change","changes":[{"path":"/tmp/w/a.txt","kind":"add"}],"status":"completed"}}"#).unwrap();
        let CodexEvent::Item { item, .. } = &fc else {
            panic!("not an item: {fc:?}")
        };
        assert_eq!(
            item.kind,
            ItemKind::FileChange {
                changes: vec![("/tmp/w/a.txt".into(), "add".into())],
                status: "completed".into()
            }
        );
        assert_eq!(activity(&fc).as_deref(), Some("patching /tmp/w/a.txt"));

        let todo = parse_line(r#"{"type":"item.updated","item":{"id":"item_0","type":"todo_list","items":[{"text":"write","completed":true},{"text":"test","completed":false}]}}"#).unwrap();
        let CodexEvent::Item { phase, item } = todo else {
            panic!()
        };
        assert_eq!(phase, ItemPhase::Updated);
        assert_eq!(
            item.kind,
            ItemKind::TodoList {
                items: vec![("write".into(), true), ("test".into(), false)]
            }
        );

        let msg = parse_line(r#"{"type":"item.completed","item":{"id":"item_3","type":"agent_message","text":"Done."}}"#).unwrap();
        let CodexEvent::Item { item, .. } = msg else {
            panic!()
        };
        assert_eq!(
            item.kind,
            ItemKind::AgentMessage {
                text: "Done.".into()
            }
        );
        let reasoning = parse_line(r#"{"type":"item.completed","item":{"id":"item_4","type":"reasoning","text":"**Planning**"}}"#).unwrap();
        assert!(matches!(
            reasoning,
            CodexEvent::Item {
                item: Item {
                    kind: ItemKind::Reasoning { .. },
                    ..
                },
                ..
            }
        ));
    }

    #[test]
    fn web_search_with_duplicate_id_key_is_accepted() {
        let line = r#"{"type":"item.completed","item":{"id":"item_5","type":"web_search","id":"ws_123","query":"rust sled","action":{"type":"search","query":"rust sled"}}}"#;
        let e = parse_line(line).unwrap();
        let CodexEvent::Item { item, .. } = e else {
            panic!()
        };
        assert_eq!(
            item.kind,
            ItemKind::WebSearch {
                query: "rust sled".into()
            }
        );
    }

    #[test]
    fn mcp_and_error_items() {
        let mcp = parse_line(r#"{"type":"item.started","item":{"id":"item_6","type":"mcp_tool_call","server":"docs","tool":"search","arguments":{},"result":null,"error":null,"status":"in_progress"}}"#).unwrap();
        assert_eq!(activity(&mcp).as_deref(), Some("calling docs.search"));
        let warn = parse_line(r#"{"type":"item.completed","item":{"id":"item_7","type":"error","message":"model metadata not found"}}"#).unwrap();
        let CodexEvent::Item { item, .. } = warn else {
            panic!()
        };
        assert_eq!(
            item.kind,
            ItemKind::Error {
                message: "model metadata not found".into()
            }
        );
    }

    #[test]
    fn unknown_types_are_kept_not_fatal() {
        assert_eq!(
            parse_line(r#"{"type":"session.configured","x":1}"#).unwrap(),
            CodexEvent::Unknown {
                event_type: "session.configured".into()
            }
        );
        let item =
            parse_line(r#"{"type":"item.completed","item":{"id":"item_9","type":"hologram"}}"#)
                .unwrap();
        let CodexEvent::Item { item, .. } = item else {
            panic!()
        };
        assert_eq!(
            item.kind,
            ItemKind::Unknown {
                item_type: "hologram".into()
            }
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(matches!(
            parse_line("not json"),
            Err(ParseError::NotJson(_))
        ));
        assert_eq!(parse_line(r#"{"no":"type"}"#), Err(ParseError::NoType));
        assert_eq!(parse_line(r#"[1,2]"#), Err(ParseError::NoType));
    }
}
