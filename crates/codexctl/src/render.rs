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
    /// The worktree it runs in (`--worktree`), if any.
    pub worktree: Option<&'a codexd_client::api::WorktreeInfo>,
    /// Its best-of-N group (`--attempts`), if any.
    pub group: Option<&'a str>,
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
            worktree: task.worktree.as_ref(),
            group: task.group.as_deref(),
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

/// How human output is decorated: colours for task states, or plain text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Style {
    /// Colour task states (ANSI SGR codes).
    pub color: bool,
}

impl Style {
    /// The style for stdout: colour only on a terminal, never with `NO_COLOR` set.
    pub fn stdout() -> Style {
        use std::io::IsTerminal;
        Style {
            color: use_color(
                std::io::stdout().is_terminal(),
                std::env::var_os("NO_COLOR").as_deref(),
                std::env::var_os("TERM").as_deref(),
            ),
        }
    }

    /// `text` (the state's name, or e.g. `queued #2`) in the colour of `state`, padded with
    /// spaces to `width` columns (the padding stays outside the colour codes).
    pub fn state(self, state: TaskState, text: &str, width: usize) -> String {
        let pad = " ".repeat(width.saturating_sub(text.chars().count()));
        if !self.color {
            return format!("{text}{pad}");
        }
        let code = match state {
            TaskState::Queued => "2",
            TaskState::Running => "36",
            TaskState::Succeeded => "32",
            TaskState::Failed | TaskState::TimedOut => "31",
            TaskState::Cancelled | TaskState::Interrupted => "33",
        };
        format!("\x1b[{code}m{text}\x1b[0m{pad}")
    }
}

/// Whether to colour: only on a terminal, and not when `NO_COLOR` is set to anything
/// non-empty (<https://no-color.org>) or `TERM` is `dumb`.
pub fn use_color(
    is_terminal: bool,
    no_color: Option<&std::ffi::OsStr>,
    term: Option<&std::ffi::OsStr>,
) -> bool {
    is_terminal && no_color.is_none_or(|v| v.is_empty()) && term.is_none_or(|t| t != "dumb")
}

/// A time for people: local time with its UTC offset, `2026-12-03 15:05:09 +0100`.
pub fn time(at: Timestamp) -> String {
    let secs = (at.unix_ms() / 1000) as i64;
    civil_time(secs, local_offset(secs))
}

/// The local UTC offset in seconds at `unix_secs` (from the C library's time zone rules;
/// 0 if it cannot tell).
fn local_offset(unix_secs: i64) -> i64 {
    // (time_t is 64 bits wherever codexd runs.)
    let t = unix_secs as libc::time_t;
    // SAFETY: localtime_r writes only into `tm`, which outlives the call.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return 0;
    }
    tm.tm_gmtoff as i64
}

/// `unix_secs` as the wall-clock time at UTC offset `offset_secs`, with the offset:
/// `YYYY-MM-DD HH:MM:SS ±HHMM`.
pub fn civil_time(unix_secs: i64, offset_secs: i64) -> String {
    let local = unix_secs + offset_secs;
    let (days, secs) = (local.div_euclid(86_400), local.rem_euclid(86_400));
    // Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's civil_from_days).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let sign = if offset_secs < 0 { '-' } else { '+' };
    let off = offset_secs.unsigned_abs() / 60;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} {sign}{:02}{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        off / 60,
        off % 60
    )
}

/// `line` made to fit in `width` columns on one line: control characters become spaces,
/// and a longer line is cut with `…` as its last column. (Counts characters; wide
/// characters may take two columns.)
pub fn fit(line: &str, width: usize) -> String {
    let clean = line.chars().map(|c| if c.is_control() { ' ' } else { c });
    if line.chars().count() <= width {
        return clean.collect();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = clean.take(width - 1).collect();
    out.push('…');
    out
}

/// The width of the terminal: the window size the terminal reports (`ioctl_cols`), else
/// `COLUMNS`, else 80.
pub fn pick_width(ioctl_cols: Option<u16>, columns_env: Option<&str>) -> usize {
    ioctl_cols
        .filter(|&c| c > 0)
        .map(usize::from)
        .or_else(|| {
            columns_env
                .and_then(|c| c.trim().parse::<usize>().ok())
                .filter(|&c| c > 0)
        })
        .unwrap_or(80)
}

/// The width of the terminal on stderr (where `wait` draws its live line), else stdout.
pub fn terminal_width() -> usize {
    let ioctl = [libc::STDERR_FILENO, libc::STDOUT_FILENO]
        .into_iter()
        .find_map(|fd| {
            // SAFETY: TIOCGWINSZ writes a winsize into `ws`, which outlives the call.
            let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
            let ok = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0;
            (ok && ws.ws_col > 0).then_some(ws.ws_col)
        });
    pick_width(ioctl, std::env::var("COLUMNS").ok().as_deref())
}

/// `word` quoted for a POSIX shell when it needs it.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
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

/// The summary lines of `wait`, one per task in the order given, with aligned columns:
/// id, state, duration, first line of the answer or error.
pub fn summary_lines(tasks: &[Task], now: Timestamp, style: Style) -> Vec<String> {
    let took: Vec<String> = tasks
        .iter()
        .map(|t| t.duration(now).map(duration).unwrap_or_else(|| "-".into()))
        .collect();
    // At least as wide as the widest state name and a typical duration, so lines printed
    // one at a time line up too.
    let state_width = tasks
        .iter()
        .map(|t| t.state.as_str().len())
        .chain([11])
        .max()
        .unwrap_or(11);
    let took_width = took
        .iter()
        .map(|t| t.chars().count())
        .chain([7])
        .max()
        .unwrap_or(7);
    tasks
        .iter()
        .zip(&took)
        .map(|(task, took)| {
            let text = match (&task.error, &task.final_message) {
                (Some(error), _) if task.state != TaskState::Succeeded => first_line(error, 120),
                (_, Some(message)) => first_line(message, 120),
                _ => String::new(),
            };
            format!(
                "{}  {}  {took:>took_width$}  {text}",
                task.id,
                style.state(task.state, task.state.as_str(), state_width),
            )
            .trim_end()
            .to_string()
        })
        .collect()
}

/// The table of `list`.
pub fn task_table(tasks: &[Task], now: Timestamp, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<8}  {:<11}  {:>7}  {:<25}  PROMPT",
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
        let _ = writeln!(
            out,
            "{:<8}  {}  {:>7}  {:<25}  {}",
            task.id,
            style.state(task.state, &state, 11),
            took,
            time(task.created_at),
            first_line(&task.prompt, 60)
        );
    }
    out
}

/// The details of `show`: every field, the whole prompt, and for a running task what
/// codex is doing now (`activity`, from the end of its event log).
pub fn task_details(task: &Task, activity: Option<&str>, now: Timestamp, style: Style) -> String {
    let mut out = String::new();
    let mut field = |name: &str, value: String| {
        let _ = writeln!(out, "{name:<13}{value}");
    };
    field("id", task.id.to_string());
    let state = match task.queue_position {
        Some(pos) => format!("queued (position {pos})"),
        None => task.state.to_string(),
    };
    field("state", style.state(task.state, &state, 0));
    if task.kind != codexd_client::api::TaskKind::Exec {
        field("kind", task.kind.to_string());
    }
    if let (false, Some(doing)) = (task.state.is_terminal(), activity) {
        field("activity", fit(doing, 200));
    }
    field(
        "thread",
        task.thread_id.clone().unwrap_or_else(|| "-".into()),
    );
    field("cwd", task.cwd.display().to_string());
    if let Some(parent) = &task.parent {
        let how = if task.forked { " (forked)" } else { "" };
        field("parent", format!("{parent}{how}"));
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
    if let Some(w) = &task.worktree {
        let status = match (w.discarded_at, w.applied_at) {
            (Some(at), _) => format!(" (discarded {})", time(at)),
            (None, Some(at)) => format!(" (applied {})", time(at)),
            _ => String::new(),
        };
        field("worktree", format!("{}{status}", w.path.display()));
        field("branch", w.branch.clone());
        field("base", w.base_commit.clone());
        field("repo", w.repo.display().to_string());
    }
    if let Some(group) = &task.group {
        field("group", group.clone());
    }
    field("created", time(task.created_at));
    if let Some(at) = task.started_at {
        field("started", time(at));
    }
    if let Some(at) = task.finished_at {
        field("finished", time(at));
    }
    if let Some(d) = task.duration(now) {
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
    // The whole prompt; its later lines are indented under the first.
    let prompt = task
        .prompt
        .trim_end()
        .replace('\n', &format!("\n{:13}", ""));
    field("prompt", prompt);
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
    review_details(&mut out, result);
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

/// A review's findings, one line each (`[P1] file:2-3  title`), and an output schema's
/// outcome.
fn review_details(out: &mut String, result: &codexd_client::api::TaskResult) {
    if let Some(review) = &result.review {
        let _ = writeln!(out, "findings   {}", review.findings.len());
        for finding in &review.findings {
            let priority = finding
                .priority
                .map(|p| format!("[P{p}] "))
                .unwrap_or_default();
            let place = match (&finding.file, finding.line_start, finding.line_end) {
                (Some(file), Some(start), Some(end)) if start != end => {
                    format!("{file}:{start}-{end}")
                }
                (Some(file), Some(start), _) => format!("{file}:{start}"),
                (Some(file), None, _) => file.clone(),
                (None, ..) => "-".to_string(),
            };
            let _ = writeln!(out, "  {priority}{place}  {}", finding.title);
        }
    }
    if result.final_json.is_some() {
        let _ = writeln!(out, "final_json matches the output schema (see --json)");
    }
    if let Some(error) = &result.schema_error {
        let _ = writeln!(out, "schema     {error}");
    }
}

/// The live line of `wait` on a terminal: each task (in `order`) with its state, its
/// running time and, while it runs, what it is doing; cut to `width` columns.
pub fn live_status(
    order: &[String],
    tasks: &HashMap<String, Task>,
    activity: &HashMap<String, String>,
    note: Option<&str>,
    now: Timestamp,
    width: usize,
) -> String {
    let parts: Vec<String> = order
        .iter()
        .filter_map(|id| tasks.get(id))
        .map(|task| {
            let took = task.duration(now).map(duration).unwrap_or_default();
            let doing = match task.state.is_terminal() {
                true => String::new(),
                false => activity
                    .get(task.id.as_str())
                    .map(|a| first_line(a, 50))
                    .unwrap_or_default(),
            };
            format!("{} {} {took} {doing}", task.id, task.state)
                .trim_end()
                .to_string()
        })
        .collect();
    let mut line = parts.join(" | ");
    if let Some(note) = note {
        line = format!("{line} ({note})");
    }
    fit(&line, width)
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
        ("error", _) => {
            let message = event.get("message")?.as_str()?;
            codexd_client::api::task::is_reconnect_message(message)
                .then(|| format!("Codex is reconnecting: {message}"))
        }
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

/// `3 files (+10 -2)`.
pub fn patch_stat_line(stat: &codexd_client::api::worktree::PatchStat) -> String {
    let n = stat.files.len();
    format!(
        "{n} file{} (+{} -{})",
        if n == 1 { "" } else { "s" },
        stat.insertions,
        stat.deletions
    )
}

/// `diff --stat`: one changed file a line, then the totals.
pub fn patch_stat(stat: &codexd_client::api::worktree::PatchStat) -> String {
    let mut out = String::new();
    for file in &stat.files {
        let _ = writeln!(out, " {file}");
    }
    let _ = writeln!(out, "{}", patch_stat_line(stat));
    out
}

/// `compare`: the attempts of a group, best first, one a row.
pub fn compare_table(reply: &codexd_client::api::worktree::CompareReply) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "group {} (base {})",
        reply.group,
        reply
            .base_commit
            .as_deref()
            .map(|c| &c[..c.len().min(12)])
            .unwrap_or("-")
    );
    let _ = writeln!(
        out,
        "{:<4} {:<8} {:<11} {:>6} {:>6} {:<22} {:>8} {:>8}  SUMMARY",
        "RANK", "ID", "STATE", "PASSED", "FAILED", "DIFF", "TIME", "TOKENS"
    );
    let num = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
    for e in &reply.entries {
        let state = if e.discarded {
            format!("{} (discarded)", e.state)
        } else {
            e.state.to_string()
        };
        let _ = writeln!(
            out,
            "{:<4} {:<8} {:<11} {:>6} {:>6} {:<22} {:>8} {:>8}  {}",
            e.rank,
            e.task_id,
            state,
            num(e.tests_passed),
            num(e.tests_failed),
            patch_stat_line(&e.stat),
            e.duration_ms
                .map(|ms| duration(Duration::from_millis(ms)))
                .unwrap_or_else(|| "-".into()),
            num(e.tokens),
            fit(e.summary.as_deref().unwrap_or("-"), 60)
        );
        if !e.tests.is_empty() {
            let _ = writeln!(out, "     tests: {}", e.tests.join(", "));
        }
    }
    out
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

    #[test]
    fn times_are_civil_with_their_offset() {
        assert_eq!(civil_time(0, 0), "1970-01-01 00:00:00 +0000");
        assert_eq!(civil_time(1_700_000_000, 0), "2023-11-14 22:13:20 +0000");
        assert_eq!(civil_time(1_700_000_000, 3600), "2023-11-14 23:13:20 +0100");
        assert_eq!(
            civil_time(1_700_000_000, -19_800),
            "2023-11-14 16:43:20 -0530"
        );
        // Across midnight and a year end by the offset.
        assert_eq!(
            civil_time(1_704_067_200, -3600),
            "2023-12-31 23:00:00 -0100"
        );
        assert_eq!(civil_time(1_704_067_200, 0), "2024-01-01 00:00:00 +0000");
        assert_eq!(civil_time(1_709_164_800, 0), "2024-02-29 00:00:00 +0000");
        assert_eq!(civil_time(951_782_400, 0), "2000-02-29 00:00:00 +0000");
        assert_eq!(civil_time(-86_400, 0), "1969-12-31 00:00:00 +0000");
        assert_eq!(
            civil_time(1_700_000_000, 20_700),
            "2023-11-15 03:58:20 +0545"
        );
    }

    #[test]
    fn local_times_carry_the_local_offset() {
        let at = Timestamp::from_unix_ms(1_700_000_000_123);
        let text = time(at);
        assert_eq!(text, civil_time(1_700_000_000, local_offset(1_700_000_000)));
        let offset = text.rsplit(' ').next().unwrap_or("");
        assert!(
            offset.len() == 5 && (offset.starts_with('+') || offset.starts_with('-')),
            "{text}"
        );
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        use std::ffi::OsStr;
        let xterm = Some(OsStr::new("xterm-256color"));
        assert!(use_color(true, None, xterm));
        assert!(
            use_color(true, Some(OsStr::new("")), xterm),
            "empty NO_COLOR is unset"
        );
        assert!(!use_color(true, Some(OsStr::new("1")), xterm));
        assert!(
            !use_color(true, Some(OsStr::new("false")), xterm),
            "any value"
        );
        assert!(!use_color(false, None, xterm));
        assert!(!use_color(true, None, Some(OsStr::new("dumb"))));
        assert!(use_color(true, None, None));
    }

    #[test]
    fn coloured_states_pad_outside_the_codes() {
        let plain = Style { color: false };
        assert_eq!(plain.state(TaskState::Failed, "failed", 8), "failed  ");
        let colour = Style { color: true };
        assert_eq!(
            colour.state(TaskState::Succeeded, "succeeded", 11),
            "\x1b[32msucceeded\x1b[0m  "
        );
        assert_eq!(
            colour.state(TaskState::Failed, "failed", 0),
            "\x1b[31mfailed\x1b[0m"
        );
    }

    #[test]
    fn lines_are_cut_to_the_width() {
        assert_eq!(fit("short", 10), "short");
        assert_eq!(fit("exactly10!", 10), "exactly10!");
        assert_eq!(fit("eleven chars", 10), "eleven ch…");
        assert_eq!(fit("ééééé", 3), "éé…");
        assert_eq!(fit("a\tb\nc", 10), "a b c");
        assert_eq!(fit("abc", 0), "");
        assert_eq!(fit("abc", 1), "…");
    }

    #[test]
    fn the_width_comes_from_the_terminal_then_columns() {
        assert_eq!(pick_width(Some(42), Some("100")), 42);
        assert_eq!(pick_width(Some(0), Some("100")), 100);
        assert_eq!(pick_width(None, Some(" 30 ")), 30);
        assert_eq!(pick_width(None, Some("wide")), 80);
        assert_eq!(pick_width(None, Some("0")), 80);
        assert_eq!(pick_width(None, None), 80);
    }

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(shell_quote("00ab12cd"), "00ab12cd");
        assert_eq!(shell_quote("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
    }

    fn task(id: &str, state: TaskState, message: &str) -> Task {
        let json = serde_json::json!({
            "id": id, "state": state, "thread_id": null, "prompt": "p", "cwd": "/w",
            "sandbox": null, "model": null, "config": [], "env_keys": [], "timeout_ms": null,
            "parent": null, "labels": [], "created_at": "2026-01-01T00:00:00.000Z",
            "started_at": "2026-01-01T00:00:00.000Z", "finished_at": "2026-01-01T00:00:05.000Z",
            "exit_code": null, "exit_signal": null, "error": null,
            "final_message": message, "queue_position": null, "pid": null,
            "pid_start_time": null, "log_bytes": 0, "log_truncated": false,
            "git_base_tree": null, "transitions": []
        });
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn summary_lines_keep_the_order_and_align() {
        let now = Timestamp::now();
        let tasks = [
            task("bbbbbbbb", TaskState::Succeeded, "second\nmore"),
            task("aaaaaaaa", TaskState::Failed, "first"),
        ];
        let lines = summary_lines(&tasks, now, Style::default());
        assert_eq!(
            lines,
            [
                "bbbbbbbb  succeeded       5.0s  second",
                "aaaaaaaa  failed          5.0s  first",
            ]
        );
    }

    #[test]
    fn the_live_line_follows_the_order_fits_and_drops_finished_activity() {
        let now = Timestamp::now();
        let mut tasks = HashMap::new();
        tasks.insert(
            "bbbbbbbb".to_string(),
            task("bbbbbbbb", TaskState::Running, ""),
        );
        tasks.insert(
            "aaaaaaaa".to_string(),
            task("aaaaaaaa", TaskState::Succeeded, ""),
        );
        let mut activity = HashMap::new();
        activity.insert("bbbbbbbb".to_string(), "running cargo test".to_string());
        activity.insert("aaaaaaaa".to_string(), "writing the answer".to_string());
        let order = ["bbbbbbbb".to_string(), "aaaaaaaa".to_string()];
        let line = live_status(&order, &tasks, &activity, None, now, 200);
        assert!(line.starts_with("bbbbbbbb running "), "{line}");
        assert!(
            line.contains("running cargo test | aaaaaaaa succeeded"),
            "{line}"
        );
        assert!(!line.contains("writing the answer"), "{line}");
        let narrow = live_status(&order, &tasks, &activity, Some("reconnecting"), now, 20);
        assert_eq!(narrow.chars().count(), 20, "{narrow}");
        assert!(narrow.ends_with('…'));
    }
}
