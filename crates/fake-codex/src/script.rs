//! What the fake prints: a script read from a file (`FAKE_CODEX_SCRIPT`), or one generated
//! from the `FAKE_CODEX_*` settings, and the settings themselves.
//!
//! Script files are JSONL: every line is written to stdout as it is (JSON or not, so the
//! daemon's leniency can be tested), except blank lines and lines starting with `#`:
//! `# sleep MS` pauses, `# exit CODE` sets the exit code, `# stderr TEXT` writes a line to
//! stderr; any other `#` line is a comment.

use std::path::PathBuf;
use std::time::Duration;

/// One step of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A line for stdout (without its newline).
    Line(String),
    /// A pause.
    Sleep(Duration),
    /// The exit code to use at the end.
    Exit(i32),
    /// A line for stderr.
    Stderr(String),
}

/// Parses a script file's text into steps; `# sleep` and `# exit` with a bad number fail.
pub fn parse_script(text: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let Some(directive) = trimmed.strip_prefix('#') else {
            steps.push(Step::Line(line.to_string()));
            continue;
        };
        let directive = directive.trim_start();
        let (word, rest) = directive
            .split_once(char::is_whitespace)
            .map(|(w, r)| (w, r.trim()))
            .unwrap_or((directive, ""));
        let bad = |what: &str| format!("script line {}: {what}: {line:?}", number + 1);
        match word {
            "sleep" => {
                let ms: u64 = rest
                    .parse()
                    .map_err(|_| bad("`# sleep` needs milliseconds"))?;
                steps.push(Step::Sleep(Duration::from_millis(ms)));
            }
            "exit" => {
                let code: i32 = rest.parse().map_err(|_| bad("`# exit` needs a code"))?;
                steps.push(Step::Exit(code));
            }
            "stderr" => steps.push(Step::Stderr(rest.to_string())),
            _ => {}
        }
    }
    Ok(steps)
}

/// What generated command output looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadKind {
    /// Build lines, test result lines (`test a::b ... ok`) and warnings, in turn.
    Tests,
    /// Build lines and warnings only.
    Build,
}

/// The fake's settings, from `FAKE_CODEX_*` environment variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `FAKE_CODEX_SCRIPT`: a script file to replay instead of generating events.
    pub script: Option<PathBuf>,
    /// `FAKE_CODEX_EVENTS`: number of generated events (at least 4; default 4).
    pub events: usize,
    /// `FAKE_CODEX_PAYLOAD_BYTES`: bytes of command output in each generated command item
    /// (default 256).
    pub payload_bytes: usize,
    /// `FAKE_CODEX_PAYLOAD_KIND`: what the command output looks like: `tests` (default:
    /// build lines, `test ... ok` result lines and warnings) or `build` (build lines and
    /// warnings only, nothing a test-output parser counts).
    pub payload_kind: PayloadKind,
    /// `FAKE_CODEX_DELAY_MS`: pause before each event line (default 0).
    pub delay: Duration,
    /// `FAKE_CODEX_HOLD_MS`: pause after the last event, before exiting (default 0).
    pub hold: Duration,
    /// `FAKE_CODEX_EXIT_CODE`: exit code (default 0; a script's `# exit` wins).
    pub exit_code: i32,
    /// `FAKE_CODEX_EXIT_STAMP`: file that receives CLOCK_MONOTONIC in nanoseconds, written
    /// just before the process exits (for completion-latency measurements).
    pub exit_stamp: Option<PathBuf>,
}

impl Settings {
    /// Reads the settings through `var` (the environment, or a map in tests).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        /// A numeric setting, or `default` when unset or empty.
        fn number<T: std::str::FromStr>(
            var: &impl Fn(&str) -> Option<String>,
            name: &str,
            default: T,
        ) -> Result<T, String> {
            match var(name).filter(|v| !v.trim().is_empty()) {
                None => Ok(default),
                Some(text) => text
                    .trim()
                    .parse()
                    .map_err(|_| format!("{name}={text:?} is not a valid number")),
            }
        }
        let path = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let events: usize = number(&var, "FAKE_CODEX_EVENTS", 4)?;
        if events < 4 {
            return Err(format!(
                "FAKE_CODEX_EVENTS={events}: a run has at least 4 events (thread.started, \
                 turn.started, the answer, turn.completed)"
            ));
        }
        Ok(Settings {
            script: path("FAKE_CODEX_SCRIPT"),
            events,
            payload_bytes: number(&var, "FAKE_CODEX_PAYLOAD_BYTES", 256)?,
            payload_kind: match var("FAKE_CODEX_PAYLOAD_KIND").as_deref() {
                None | Some("") | Some("tests") => PayloadKind::Tests,
                Some("build") => PayloadKind::Build,
                Some(other) => {
                    return Err(format!(
                        "FAKE_CODEX_PAYLOAD_KIND={other:?}: expected `tests` or `build`"
                    ));
                }
            },
            delay: Duration::from_millis(number(&var, "FAKE_CODEX_DELAY_MS", 0)?),
            hold: Duration::from_millis(number(&var, "FAKE_CODEX_HOLD_MS", 0)?),
            exit_code: number(&var, "FAKE_CODEX_EXIT_CODE", 0)?,
            exit_stamp: path("FAKE_CODEX_EXIT_STAMP"),
        })
    }
}

/// A generated run: `thread.started`, `turn.started`, command items (started, then
/// completed with `payload_bytes` of output) filling the event count, the answer as an
/// `agent_message`, and `turn.completed` with usage. Lines are made on demand, so a run of
/// 100 MB is never held in memory.
pub struct Generated {
    events: usize,
    thread_id: String,
    answer: String,
    /// The command output, already JSON-escaped and quoted.
    output_json: String,
}

impl Generated {
    /// A run of `events` events (at least 4) on `thread_id`, answering `answer`.
    pub fn new(
        events: usize,
        payload_bytes: usize,
        kind: PayloadKind,
        thread_id: &str,
        answer: &str,
    ) -> Self {
        Generated {
            events: events.max(4),
            thread_id: thread_id.to_string(),
            answer: answer.to_string(),
            output_json: serde_json::Value::String(command_output(payload_bytes, kind)).to_string(),
        }
    }

    /// Number of lines.
    pub fn len(&self) -> usize {
        self.events
    }

    /// The line at `index` (0-based, below [`Generated::len`]). Keys come in codex's order
    /// (`type` first).
    pub fn line(&self, index: usize) -> String {
        let last = self.events - 1;
        let fillers = self.events - 4;
        let quote = |text: &str| serde_json::Value::String(text.to_string()).to_string();
        match index {
            0 => format!(
                r#"{{"type":"thread.started","thread_id":{}}}"#,
                quote(&self.thread_id)
            ),
            1 => r#"{"type":"turn.started"}"#.to_string(),
            i if i == last => r#"{"type":"turn.completed","usage":{"input_tokens":1200,"cached_input_tokens":200,"output_tokens":80,"reasoning_output_tokens":16}}"#.to_string(),
            i if i == last - 1 => format!(
                r#"{{"type":"item.completed","item":{{"id":"item_{}","type":"agent_message","text":{}}}}}"#,
                fillers.div_ceil(2),
                quote(&self.answer)
            ),
            i => {
                let filler = i - 2;
                let item = filler / 2;
                if filler + 1 == fillers && fillers % 2 == 1 {
                    // An odd count: the last filler is a reasoning item.
                    return format!(
                        r#"{{"type":"item.completed","item":{{"id":"item_{item}","type":"reasoning","text":"**Checking the tests**"}}}}"#
                    );
                }
                let command = r#""/bin/bash -lc 'cargo test --workspace'""#;
                if filler % 2 == 0 {
                    format!(
                        r#"{{"type":"item.started","item":{{"id":"item_{item}","type":"command_execution","command":{command},"aggregated_output":"","exit_code":null,"status":"in_progress"}}}}"#
                    )
                } else {
                    format!(
                        r#"{{"type":"item.completed","item":{{"id":"item_{item}","type":"command_execution","command":{command},"aggregated_output":{},"exit_code":0,"status":"completed"}}}}"#,
                        self.output_json
                    )
                }
            }
        }
    }
}

/// `bytes` bytes of plausible build (and test) output.
pub fn command_output(bytes: usize, kind: PayloadKind) -> String {
    let mut text = String::with_capacity(bytes + 64);
    let mut i = 0usize;
    while text.len() < bytes {
        let line = match (i % 3, kind) {
            (0, _) => format!("   Compiling crate-{i} v0.{}.{}\n", i % 10, i % 7),
            (1, PayloadKind::Tests) => format!("test module_{i}::case_{i} ... ok\n"),
            (1, PayloadKind::Build) => format!("    Checking crate-{i} v1.{}.0\n", i % 9),
            _ => format!("warning: unused variable `value_{i}` in src/lib.rs:{i}\n"),
        };
        text.push_str(&line);
        i += 1;
    }
    text.truncate(bytes);
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn script_lines_directives_and_errors() {
        let steps = parse_script(
            "{\"type\":\"thread.started\",\"thread_id\":\"t\"}\n\n# a comment\n# sleep 25\nnot json\n#   exit 3\n# stderr warn: slow\n",
        )
        .unwrap();
        assert_eq!(
            steps,
            vec![
                Step::Line("{\"type\":\"thread.started\",\"thread_id\":\"t\"}".into()),
                Step::Sleep(Duration::from_millis(25)),
                Step::Line("not json".into()),
                Step::Exit(3),
                Step::Stderr("warn: slow".into()),
            ]
        );
        let err = parse_script("{}\n# sleep soon\n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn settings_defaults_and_errors() {
        let none = Settings::from_vars(|_| None).unwrap();
        assert_eq!(none.events, 4);
        assert_eq!(none.exit_code, 0);
        assert_eq!(none.delay, Duration::ZERO);
        assert_eq!(none.script, None);
        let vars: HashMap<&str, &str> = [
            ("FAKE_CODEX_EVENTS", "50"),
            ("FAKE_CODEX_DELAY_MS", "5"),
            ("FAKE_CODEX_EXIT_CODE", "7"),
            ("FAKE_CODEX_EXIT_STAMP", "/tmp/stamp"),
        ]
        .into();
        let set = Settings::from_vars(|k| vars.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(set.events, 50);
        assert_eq!(set.delay, Duration::from_millis(5));
        assert_eq!(set.exit_code, 7);
        assert_eq!(set.exit_stamp, Some(PathBuf::from("/tmp/stamp")));
        assert!(Settings::from_vars(|k| (k == "FAKE_CODEX_EVENTS").then(|| "3".into())).is_err());
        assert!(Settings::from_vars(|k| (k == "FAKE_CODEX_HOLD_MS").then(|| "x".into())).is_err());
        assert!(
            Settings::from_vars(|k| (k == "FAKE_CODEX_PAYLOAD_KIND").then(|| "json".into()))
                .is_err()
        );
        let build =
            Settings::from_vars(|k| (k == "FAKE_CODEX_PAYLOAD_KIND").then(|| "build".into()));
        assert_eq!(build.unwrap().payload_kind, PayloadKind::Build);
    }

    #[test]
    fn payload_kinds() {
        let tests = command_output(4000, PayloadKind::Tests);
        let build = command_output(4000, PayloadKind::Build);
        assert_eq!((tests.len(), build.len()), (4000, 4000));
        assert!(tests.contains(" ... ok\n"));
        assert!(!build.contains(" ... ok"));
        assert!(!build.contains("test "));
    }

    #[test]
    fn generated_run_has_the_count_order_and_payload_asked_for() {
        for events in [4, 5, 50, 51] {
            let run = Generated::new(events, 1000, PayloadKind::Tests, "thread-1", "all done");
            let lines: Vec<serde_json::Value> = (0..run.len())
                .map(|i| serde_json::from_str(&run.line(i)).expect("every line is JSON"))
                .collect();
            assert_eq!(lines.len(), events);
            assert_eq!(lines[0]["type"], "thread.started");
            assert_eq!(lines[0]["thread_id"], "thread-1");
            assert_eq!(lines[1]["type"], "turn.started");
            assert_eq!(lines[events - 2]["item"]["type"], "agent_message");
            assert_eq!(lines[events - 2]["item"]["text"], "all done");
            assert_eq!(lines[events - 1]["type"], "turn.completed");
            assert_eq!(lines[events - 1]["usage"]["output_tokens"], 80);
            for line in &lines[2..events - 2] {
                let item = &line["item"];
                if item["type"] == "command_execution" && line["type"] == "item.completed" {
                    assert_eq!(item["aggregated_output"].as_str().unwrap().len(), 1000);
                }
            }
            // Item ids are unique per item and shared by started/completed.
            let completed: Vec<&str> = lines
                .iter()
                .filter(|l| l["type"] == "item.completed")
                .map(|l| l["item"]["id"].as_str().unwrap())
                .collect();
            let mut unique = completed.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), completed.len(), "{completed:?}");
        }
    }
}
