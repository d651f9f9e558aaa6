//! Computing a task's structured result from its event log.
//!
//! Everything comes from Codex's own events: `file_change` items for files, each
//! `command_execution` for commands (and, through [`crate::results::testparse`], test counts),
//! `turn.completed` for usage, `todo_list` for the plan, `agent_message` for the answer.
//! Command durations come from the time each line was written, recorded by the runner in
//! `events.times`.

pub mod events;
pub mod gitsnap;
pub mod outcome;
pub mod review;
pub mod schema;
pub mod testparse;

use crate::results::events::{CodexEvent, ItemKind, ItemPhase, parse_line};
use codexd_api::result::{CommandRun, DiffStat, FileChange, TestSummary, TodoItem, Usage};
use codexd_api::shell::unwrap_command;
use codexd_api::{Task, TaskResult, Timestamp};
use std::collections::HashMap;
use std::path::Path;

/// Limits that keep a result small enough for an agent to read whole.
#[derive(Debug, Clone, Copy)]
pub struct TrimLimits {
    /// Characters of the final message and of the error.
    pub text_chars: usize,
    /// Characters of one command line.
    pub command_chars: usize,
    /// Commands kept (the last ones).
    pub commands: usize,
    /// Changed files kept.
    pub files: usize,
    /// Failing test names kept.
    pub failing: usize,
    /// Plan items kept.
    pub todo: usize,
}

impl Default for TrimLimits {
    fn default() -> Self {
        TrimLimits {
            text_chars: 4000,
            command_chars: 300,
            commands: 40,
            files: 200,
            failing: 50,
            todo: 50,
        }
    }
}

/// Net effect of two successive changes of one path; `None` means "no change left".
fn merge_kind(earlier: &str, later: &str) -> Option<&'static str> {
    match (earlier, later) {
        ("add", "delete") => None,
        ("add", _) => Some("add"),
        ("delete", "add") | ("delete", "update") => Some("update"),
        (_, "delete") => Some("delete"),
        (_, "add") => Some("add"),
        _ => Some("update"),
    }
}

fn static_kind(kind: &str) -> &'static str {
    match kind {
        "add" => "add",
        "delete" => "delete",
        _ => "update",
    }
}

/// `path` relative to `cwd` when inside it.
fn relative(path: &str, cwd: &Path) -> String {
    Path::new(path)
        .strip_prefix(cwd)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.to_string())
}

/// Reads `events.times` (`offset<TAB>unix_ms` per line) into a map.
pub fn parse_times(text: &str) -> HashMap<u64, u64> {
    text.lines()
        .filter_map(|line| {
            let (offset, ms) = line.split_once('\t')?;
            Some((offset.parse().ok()?, ms.trim().parse().ok()?))
        })
        .collect()
}

/// Folds event lines, in log order, into a result.
#[derive(Debug)]
pub struct ResultBuilder {
    cwd: std::path::PathBuf,
    files: Vec<(String, Option<&'static str>)>,
    commands: Vec<(String, CommandRun, Option<u64>)>,
    tests: TestSummary,
    thread_usage: Option<Usage>,
    todo: Option<Vec<TodoItem>>,
    final_message: Option<String>,
}

impl ResultBuilder {
    /// A builder for a task that ran in `cwd`.
    pub fn new(cwd: &Path) -> Self {
        ResultBuilder {
            cwd: cwd.to_path_buf(),
            files: Vec::new(),
            commands: Vec::new(),
            tests: TestSummary::default(),
            thread_usage: None,
            todo: None,
            final_message: None,
        }
    }

    /// Folds in one event line; `at` is when it was written (unix ms), if known.
    pub fn observe(&mut self, line: &str, at: Option<u64>) {
        let Ok(event) = parse_line(line) else {
            return;
        };
        match event {
            CodexEvent::TurnCompleted { usage } => {
                self.thread_usage = Some(Usage {
                    input_tokens: usage.input_tokens,
                    cached_input_tokens: usage.cached_input_tokens,
                    output_tokens: usage.output_tokens,
                    reasoning_output_tokens: usage.reasoning_output_tokens,
                });
            }
            CodexEvent::Item { phase, item } => match item.kind {
                ItemKind::AgentMessage { text } if phase == ItemPhase::Completed => {
                    self.final_message = Some(text);
                }
                ItemKind::FileChange { changes, status }
                    if status != "failed" && phase == ItemPhase::Completed =>
                {
                    self.file_changes(changes);
                }
                ItemKind::CommandExecution {
                    command,
                    exit_code,
                    status,
                    aggregated_output,
                } => {
                    let index = self.command_index(&item.id, &command, at);
                    if phase == ItemPhase::Completed {
                        let (_, run, started) = &mut self.commands[index];
                        run.exit_code = exit_code;
                        run.status = status;
                        run.duration_ms = match (*started, at) {
                            (Some(start), Some(end)) => Some(end.saturating_sub(start)),
                            _ => None,
                        };
                        crate::results::testparse::add_output(
                            &mut self.tests,
                            &command,
                            &aggregated_output,
                        );
                    }
                }
                ItemKind::TodoList { items } => {
                    self.todo = Some(
                        items
                            .into_iter()
                            .map(|(text, completed)| TodoItem { text, completed })
                            .collect(),
                    );
                }
                _ => {}
            },
            _ => {}
        }
    }

    fn file_changes(&mut self, changes: Vec<(String, String)>) {
        for (path, kind) in changes {
            let path = relative(&path, &self.cwd);
            let kind = static_kind(&kind);
            match self.files.iter_mut().find(|(p, _)| *p == path) {
                Some((_, net)) => {
                    *net = match *net {
                        Some(earlier) => merge_kind(earlier, kind),
                        None => Some(kind),
                    }
                }
                None => self.files.push((path, Some(kind))),
            }
        }
    }

    /// The index of the command item `id`, adding it (as started at `at`) if new. Items
    /// are keyed by id: parallel commands may complete out of order.
    fn command_index(&mut self, id: &str, command: &str, at: Option<u64>) -> usize {
        if let Some(index) = self.commands.iter().position(|(known, ..)| known == id) {
            return index;
        }
        self.commands.push((
            id.to_string(),
            CommandRun {
                command: unwrap_command(command).into_owned(),
                exit_code: None,
                status: "in_progress".into(),
                duration_ms: None,
            },
            at,
        ));
        self.commands.len() - 1
    }

    /// The full (untrimmed) result. `previous_thread_usage` is the thread's cumulative
    /// usage before this task (the parent's `thread_usage` for a resumed turn).
    pub fn finish(
        self,
        task: &Task,
        previous_thread_usage: Option<Usage>,
        diffstat: Option<DiffStat>,
    ) -> TaskResult {
        let usage = self.thread_usage.map(|total| match previous_thread_usage {
            Some(before) => total.since(before),
            None => total,
        });
        TaskResult {
            task_id: Some(task.id.clone()),
            state: Some(task.state),
            duration_ms: task
                .duration(Timestamp::now())
                .map(|d| d.as_millis() as u64),
            exit_code: task.exit_code,
            error: task.error.clone(),
            final_message: self.final_message,
            files_changed: self
                .files
                .into_iter()
                .filter_map(|(path, kind)| {
                    kind.map(|kind| FileChange {
                        path,
                        kind: kind.to_string(),
                    })
                })
                .collect(),
            diffstat,
            commands: self.commands.into_iter().map(|(_, run, _)| run).collect(),
            tests: (!self.tests.is_empty()).then_some(self.tests),
            usage,
            thread_usage: self.thread_usage,
            todo: self.todo,
            trimmed: Vec::new(),
            log_truncated: false,
            review: None,
            final_json: None,
            schema_error: None,
        }
    }
}

/// Computes the full result of `task` from all its event lines at once.
pub fn compute(
    task: &Task,
    lines: &[(u64, String)],
    times: &HashMap<u64, u64>,
    previous_thread_usage: Option<Usage>,
    diffstat: Option<DiffStat>,
) -> TaskResult {
    let mut builder = ResultBuilder::new(&task.cwd);
    for (offset, line) in lines {
        builder.observe(line, times.get(offset).copied());
    }
    builder.finish(task, previous_thread_usage, diffstat)
}

fn trim_text(text: &mut String, max: usize) -> bool {
    let count = text.chars().count();
    if count <= max {
        return false;
    }
    let kept: String = text.chars().take(max).collect();
    *text = format!("{kept}…[trimmed {} chars]", count - max);
    true
}

/// Shortens long fields to `limits`, naming each shortened field in `trimmed`.
pub fn trim(mut result: TaskResult, limits: &TrimLimits) -> TaskResult {
    let mut trimmed = Vec::new();
    if let Some(message) = &mut result.final_message
        && trim_text(message, limits.text_chars)
    {
        trimmed.push("final_message".to_string());
    }
    if let Some(error) = &mut result.error
        && trim_text(error, limits.text_chars)
    {
        trimmed.push("error".to_string());
    }
    if result.commands.len() > limits.commands {
        let dropped = result.commands.len() - limits.commands;
        result.commands.drain(..dropped);
        trimmed.push(format!("commands (first {dropped} omitted)"));
    }
    let mut long_command = false;
    for run in &mut result.commands {
        long_command |= trim_text(&mut run.command, limits.command_chars);
    }
    if long_command {
        trimmed.push("commands[].command".to_string());
    }
    if result.files_changed.len() > limits.files {
        let dropped = result.files_changed.len() - limits.files;
        result.files_changed.truncate(limits.files);
        trimmed.push(format!("files_changed ({dropped} more)"));
    }
    if let Some(tests) = &mut result.tests {
        if tests.failing.len() > limits.failing {
            let dropped = tests.failing.len() - limits.failing;
            tests.failing.truncate(limits.failing);
            trimmed.push(format!("tests.failing ({dropped} more)"));
        }
        for run in &mut tests.runs {
            run.failing.truncate(limits.failing);
        }
    }
    if let Some(todo) = &mut result.todo
        && todo.len() > limits.todo
    {
        let dropped = todo.len() - limits.todo;
        todo.truncate(limits.todo);
        trimmed.push(format!("todo ({dropped} more)"));
    }
    result.trimmed = trimmed;
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::taskdir::StoredRequest;

    fn task() -> Task {
        StoredRequest::for_test("abcd1234", "/w", Timestamp::now()).new_task()
    }

    fn lines(raw: &[&str]) -> Vec<(u64, String)> {
        let mut offset = 0;
        raw.iter()
            .map(|l| {
                let at = offset;
                offset += l.len() as u64 + 1;
                (at, l.to_string())
            })
            .collect()
    }

    #[test]
    fn files_commands_usage_todo_and_answer_come_from_events() {
        let events = lines(&[
            r#"{"type":"thread.started","thread_id":"t"}"#,
            r#"{"type":"item.started","item":{"id":"item_0","type":"todo_list","items":[{"text":"a","completed":false}]}}"#,
            r#"{"type":"item.completed","item":{"id":"item_1","type":"file_change","changes":[{"path":"/w/new.txt","kind":"add"},{"path":"/w/old.txt","kind":"update"},{"path":"/w/tmp.txt","kind":"add"}],"status":"completed"}}"#,
            r#"{"type":"item.completed","item":{"id":"item_2","type":"file_change","changes":[{"path":"/w/new.txt","kind":"update"},{"path":"/w/tmp.txt","kind":"delete"},{"path":"/w/gone.txt","kind":"delete"},{"path":"/elsewhere/x","kind":"update"}],"status":"completed"}}"#,
            r#"{"type":"item.started","item":{"id":"item_3","type":"command_execution","command":"/bin/bash -c 'make'","aggregated_output":"","exit_code":null,"status":"in_progress"}}"#,
            r#"{"type":"item.completed","item":{"id":"item_3","type":"command_execution","command":"/bin/bash -c 'make'","aggregated_output":"ok\n","exit_code":2,"status":"failed"}}"#,
            r#"{"type":"item.updated","item":{"id":"item_0","type":"todo_list","items":[{"text":"a","completed":true}]}}"#,
            r#"{"type":"item.completed","item":{"id":"item_4","type":"agent_message","text":"done"}}"#,
            r#"{"type":"turn.completed","usage":{"input_tokens":300,"cached_input_tokens":60,"output_tokens":90,"reasoning_output_tokens":15}}"#,
        ]);
        let mut times = HashMap::new();
        times.insert(events[4].0, 1000);
        times.insert(events[5].0, 1750);
        let previous = Usage {
            input_tokens: 100,
            cached_input_tokens: 20,
            output_tokens: 30,
            reasoning_output_tokens: 5,
        };
        let result = compute(&task(), &events, &times, Some(previous), None);
        let files: Vec<(&str, &str)> = result
            .files_changed
            .iter()
            .map(|f| (f.path.as_str(), f.kind.as_str()))
            .collect();
        assert_eq!(
            files,
            [
                ("new.txt", "add"),
                ("old.txt", "update"),
                ("gone.txt", "delete"),
                ("/elsewhere/x", "update")
            ]
        );
        assert_eq!(
            result.commands,
            [CommandRun {
                command: "make".into(),
                exit_code: Some(2),
                status: "failed".into(),
                duration_ms: Some(750)
            }]
        );
        assert_eq!(result.tests, None, "make's output holds no test summary");
        assert_eq!(
            result.usage,
            Some(Usage {
                input_tokens: 200,
                cached_input_tokens: 40,
                output_tokens: 60,
                reasoning_output_tokens: 10
            })
        );
        assert_eq!(result.thread_usage.unwrap().input_tokens, 300);
        assert_eq!(
            result.todo,
            Some(vec![TodoItem {
                text: "a".into(),
                completed: true
            }])
        );
        assert_eq!(result.final_message.as_deref(), Some("done"));
    }

    #[test]
    fn a_command_cut_off_by_the_end_of_the_run_stays_in_progress() {
        let events = lines(&[
            r#"{"type":"item.started","item":{"id":"item_0","type":"command_execution","command":"sleep 99","aggregated_output":"","exit_code":null,"status":"in_progress"}}"#,
        ]);
        let result = compute(&task(), &events, &HashMap::new(), None, None);
        assert_eq!(result.commands[0].status, "in_progress");
        assert_eq!(result.commands[0].exit_code, None);
        assert_eq!(result.usage, None);
    }

    #[test]
    fn trimming_marks_what_it_shortened() {
        let mut result = TaskResult {
            final_message: Some("x".repeat(10)),
            commands: (0..5)
                .map(|i| CommandRun {
                    command: format!("cmd {i}"),
                    exit_code: Some(0),
                    status: "completed".into(),
                    duration_ms: None,
                })
                .collect(),
            ..Default::default()
        };
        result = trim(
            result,
            &TrimLimits {
                text_chars: 4,
                commands: 2,
                ..Default::default()
            },
        );
        assert_eq!(
            result.final_message.as_deref(),
            Some("xxxx…[trimmed 6 chars]")
        );
        assert_eq!(result.commands.len(), 2);
        assert_eq!(result.commands[0].command, "cmd 3");
        assert_eq!(
            result.trimmed,
            ["final_message", "commands (first 3 omitted)"]
        );
    }

    #[test]
    fn times_file_parses_and_skips_garbage() {
        let times = parse_times("0\t100\n57\t180\nbad line\n");
        assert_eq!(times.get(&57), Some(&180));
        assert_eq!(times.len(), 2);
    }
}
