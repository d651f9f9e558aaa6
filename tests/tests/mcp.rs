//! End to end: the `codexd-mcp` shim driven over stdio by the official Rust SDK's client
//! (rmcp), against the real `codexd`, the real Codex CLI (pinned 0.169.0) and the scripted
//! model server on 127.0.0.1.
//!
//! Every shim's stdout is recorded line by line on its way to the client, so the tests can
//! check that it carries nothing but JSON-RPC frames and that no progress notification of a
//! call comes after that call's response (Claude Code respawns a server that does that).

// MCP roots are deprecated by the 2026-07-28 spec, but they are what Claude Code and every
// client on the initialize handshake use; the test client offers them.
#![allow(deprecated)]

use codexd_tests::codex_cli::{MOCK_MODEL, mock_config_overrides};
use codexd_tests::daemon::{TestEnv, bin, eventually, git, output, task_processes};
use codexd_tests::model_server::{MockModelServer, Scenario, Step};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
    ListRootsResult, ProgressNotificationParam, ProtocolVersion, Root, RootsCapabilities,
};
use rmcp::service::{NotificationContext, RequestContext, RoleClient, RunningService};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{ClientHandler, ErrorData, ServiceExt};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Longest any single tool call may take before the test fails.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// The shim binary, up to date (see [`bin`]).
fn shim_bin() -> PathBuf {
    bin("codexd-mcp")
}

fn env_with_no_daemon(scenarios: Vec<Scenario>) -> TestEnv {
    let server = MockModelServer::start_blocking(scenarios).expect("model server");
    TestEnv::new(server).expect("test env")
}

fn env_with(scenarios: Vec<Scenario>) -> TestEnv {
    let mut env = env_with_no_daemon(scenarios);
    env.start_daemon(&[]).expect("start codexd");
    env
}

/// `codex_start` arguments for the mock model: its provider config, model and sandbox.
fn start_args(env: &TestEnv, prompt: &str) -> Value {
    json!({
        "prompt": prompt,
        "model": MOCK_MODEL,
        "sandbox": "workspace-write",
        "config": mock_config_overrides(&env.server.base_url()),
    })
}

fn file_uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// The test's MCP client: answers `roots/list` with its roots and records progress.
#[derive(Clone, Default)]
struct Recorder {
    roots: Vec<PathBuf>,
    progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
}

impl ClientHandler for Recorder {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress.lock().expect("progress lock").push(params);
    }

    async fn list_roots(
        &self,
        _context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        let roots = self.roots.iter().map(|p| Root::new(file_uri(p))).collect();
        Ok(ListRootsResult::new(roots))
    }

    fn get_info(&self) -> ClientConfig {
        let mut capabilities = ClientCapabilities::default();
        if !self.roots.is_empty() {
            capabilities.roots = Some(RootsCapabilities::default());
        }
        let mut config =
            ClientConfig::new(capabilities, Implementation::new("codexd-tests", "1.0"));
        // What Claude Code speaks on stdio: the initialize handshake.
        config.protocol_version = ProtocolVersion::V_2025_06_18;
        config
    }
}

/// One running shim, its client session, and everything it wrote on stdout.
struct Shim {
    client: RunningService<RoleClient, Recorder>,
    child: tokio::process::Child,
    wire: Arc<Mutex<Vec<String>>>,
    progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
}

/// How a shim is started.
struct ShimOptions<'a> {
    roots: Vec<PathBuf>,
    cwd: &'a Path,
    args: Vec<String>,
    env: Vec<(&'static str, PathBuf)>,
}

impl Shim {
    /// A shim on `env`'s daemon (no autostart), started in `env.root`, with `env.work` as
    /// the client's only root.
    async fn start(env: &TestEnv) -> Shim {
        Shim::start_with(
            env,
            ShimOptions {
                roots: vec![env.work.clone()],
                cwd: env.root.path(),
                args: vec!["--no-autostart".into()],
                env: Vec::new(),
            },
        )
        .await
    }

    async fn start_with(env: &TestEnv, options: ShimOptions<'_>) -> Shim {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(env.root.path().join("codexd-mcp.log"))
            .expect("shim log");
        let mut child = tokio::process::Command::new(shim_bin())
            .arg("--socket")
            .arg(&env.socket)
            .args(&options.args)
            .env("CODEX_HOME", &env.codex_home)
            .env("RUST_LOG", "codexd_mcp=debug,info")
            .env_remove("CODEXD_SOCKET")
            .envs(options.env.iter().map(|(k, v)| (*k, v.as_os_str())))
            .current_dir(options.cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn codexd-mcp");
        let stdout = child.stdout.take().expect("stdout");
        let stdin = child.stdin.take().expect("stdin");
        let (ours, mut theirs) = tokio::io::duplex(1 << 20);
        let wire = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&wire);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                recorded.lock().expect("wire lock").push(line.clone());
                if theirs
                    .write_all(format!("{line}\n").as_bytes())
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
        let recorder = Recorder {
            roots: options.roots,
            progress: Arc::default(),
        };
        let progress = Arc::clone(&recorder.progress);
        let client = recorder
            .serve((ours, stdin))
            .await
            .expect("MCP initialize with codexd-mcp");
        Shim {
            client,
            child,
            wire,
            progress,
        }
    }

    /// Calls a tool. rmcp's client puts a progress token of its own on every request (as
    /// Claude Code does), so the shim may send progress for any call.
    async fn call(&self, name: &str, args: Value) -> CallToolResult {
        let params = CallToolRequestParams::new(name.to_string())
            .with_arguments(args.as_object().cloned().expect("arguments are an object"));
        tokio::time::timeout(CALL_TIMEOUT, self.client.call_tool(params))
            .await
            .unwrap_or_else(|_| panic!("{name} did not answer within {CALL_TIMEOUT:?}"))
            .unwrap_or_else(|e| panic!("{name} failed at the protocol level: {e}"))
    }

    /// Kills the shim process (as an editor that goes away would).
    async fn kill(mut self) {
        self.child.kill().await.expect("kill codexd-mcp");
        let _ = self.client.cancel().await;
    }

    /// Every line the shim wrote on stdout so far, parsed (each must be JSON-RPC).
    fn frames(&self) -> Vec<Value> {
        let wire = self.wire.lock().expect("wire lock").clone();
        wire.iter()
            .map(|line| {
                let frame: Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("stdout carried a non-JSON line ({e}): {line}"));
                assert_eq!(frame["jsonrpc"], "2.0", "not a JSON-RPC frame: {line}");
                frame
            })
            .collect()
    }

    /// The messages of every progress notification received so far.
    fn progress_messages(&self) -> Vec<String> {
        self.progress
            .lock()
            .expect("progress lock")
            .iter()
            .filter_map(|p| p.message.clone())
            .collect()
    }
}

/// Checks, on the wire from frame `from` on, that every progress notification of a call
/// comes before that call's response (calls made one at a time), and that each token's
/// progress values increase. Returns how many progress notifications there were.
fn assert_progress_before_responses(frames: &[Value], from: usize) -> usize {
    let responses: Vec<usize> = (from..frames.len())
        .filter(|&i| frames[i].get("method").is_none() && frames[i].get("id").is_some())
        .collect();
    let progress: Vec<usize> = (from..frames.len())
        .filter(|&i| frames[i]["method"] == "notifications/progress")
        .collect();
    let mut tokens: Vec<&Value> = progress
        .iter()
        .map(|&i| &frames[i]["params"]["progressToken"])
        .collect();
    tokens.dedup();
    for token in tokens {
        let mine: Vec<usize> = progress
            .iter()
            .copied()
            .filter(|&i| &frames[i]["params"]["progressToken"] == token)
            .collect();
        let (first, last) = (mine[0], mine[mine.len() - 1]);
        let response = responses
            .iter()
            .copied()
            .find(|&r| r > first)
            .unwrap_or_else(|| panic!("no response after progress token {token}"));
        assert!(
            last < response,
            "progress (token {token}) at frame {last} after the response at frame {response}"
        );
        let values: Vec<f64> = mine
            .iter()
            .filter_map(|&i| frames[i]["params"]["progress"].as_f64())
            .collect();
        assert!(
            values.windows(2).all(|w| w[0] < w[1]),
            "progress increases: {values:?}"
        );
    }
    progress.len()
}

/// The structured content of a successful call; checks the text content says the same.
fn ok(result: &CallToolResult) -> Value {
    let text = result
        .content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default();
    assert_ne!(result.is_error, Some(true), "tool error: {text}");
    let value = result
        .structured_content
        .clone()
        .unwrap_or_else(|| panic!("no structured content: {text}"));
    let from_text: Value = serde_json::from_str(&text).expect("text content is the JSON");
    assert_eq!(from_text, value, "text and structured content agree");
    value
}

/// The sentence of a tool error (`isError: true`, text only).
fn tool_error(result: &CallToolResult) -> String {
    assert_eq!(
        result.is_error,
        Some(true),
        "expected a tool error: {result:?}"
    );
    assert!(result.structured_content.is_none());
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn state(value: &Value) -> &str {
    value["state"].as_str().unwrap_or("?")
}

/// `codex_wait` until the tasks end (each call waits at most 50 s).
async fn wait_done(shim: &Shim, ids: &[&str]) -> Value {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let reply = ok(&shim.call("codex_wait", json!({ "task_ids": ids })).await);
        if reply["done"] == true {
            return reply;
        }
        assert!(Instant::now() < deadline, "tasks never ended: {reply}");
    }
}

fn sh(command: &str) -> std::process::Output {
    output(
        Command::new("sh")
            .arg("-c")
            .arg(command)
            .stdin(Stdio::null()),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn tools_list_offers_every_tool_honestly_with_object_schemas() {
    let env = env_with(vec![]);
    let shim = Shim::start(&env).await;
    let info = shim.client.peer_info().expect("server info");
    assert_eq!(
        info.server_info.as_ref().map(|i| i.name.as_str()),
        Some("codexd-mcp")
    );
    let instructions = info.instructions.clone().unwrap_or_default();
    assert!(instructions.contains("codexctl wait"), "{instructions}");

    let tools = shim.client.list_all_tools().await.expect("tools/list");
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "codex_apply",
            "codex_cancel",
            "codex_compare",
            "codex_diff",
            "codex_discard",
            "codex_list",
            "codex_result",
            "codex_resume",
            "codex_review",
            "codex_start",
            "codex_status",
            "codex_wait"
        ]
    );
    for tool in &tools {
        let name = tool.name.as_ref();
        let input = Value::Object((*tool.input_schema).clone());
        assert_eq!(input["type"], "object", "{name} input schema");
        assert!(input["properties"].is_object(), "{name} input properties");
        let output = Value::Object(
            tool.output_schema
                .as_deref()
                .cloned()
                .unwrap_or_else(|| panic!("{name} has an output schema")),
        );
        assert_eq!(output["type"], "object", "{name} output schema");
        let description = tool.description.as_deref().unwrap_or("");
        assert!(
            description.len() > 80,
            "{name} teaches its use: {description}"
        );
        let annotations = tool.annotations.as_ref().expect("annotations");
        let read_only = matches!(
            name,
            "codex_status"
                | "codex_wait"
                | "codex_result"
                | "codex_list"
                | "codex_diff"
                | "codex_compare"
                | "codex_review"
        );
        assert_eq!(annotations.read_only_hint, Some(read_only), "{name}");
        assert_eq!(annotations.destructive_hint, Some(!read_only), "{name}");
        assert!(annotations.title.is_some(), "{name}");
    }
    let start = tools
        .iter()
        .find(|t| t.name == "codex_start")
        .expect("start");
    let required = &start.input_schema["required"];
    assert_eq!(required, &json!(["prompt"]));
    let sandbox =
        serde_json::to_string(&start.input_schema["properties"]["sandbox"]).unwrap_or_default();
    assert!(sandbox.contains("workspace-write"), "{sandbox}");
    // stdout carried only JSON-RPC frames.
    assert!(!shim.frames().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn start_wait_result_with_progress_against_the_real_codex() {
    let env = env_with(vec![Scenario::new(
        "[mcp-flow]",
        vec![
            Step::patch(
                "*** Begin Patch\n*** Add File: hello.txt\n+hello from codex\n*** End Patch\n",
            ),
            Step::shell("sleep 3"),
            Step::shell("cat hello.txt"),
            Step::message("All done.\nhello.txt is written."),
        ],
    )]);
    let shim = Shim::start(&env).await;

    // No cwd: the client's root (env.work), not the shim's own directory (env.root).
    let started = ok(&shim
        .call(
            "codex_start",
            start_args(&env, "[mcp-flow] write hello.txt"),
        )
        .await);
    let id = started["task_id"].as_str().expect("task id").to_string();
    assert_eq!(id.len(), 8);
    assert_eq!(started["cwd"], env.work.display().to_string());
    let chosen = started["cwd_chosen"].as_str().unwrap_or("");
    assert!(chosen.contains("client root"), "{chosen}");
    assert!(matches!(state(&started), "queued" | "running"), "{started}");
    let wait_command = started["wait_command"].as_str().expect("wait_command");
    // `wait` first, so that the permission rule `Bash(codexctl wait *)` matches the line.
    assert!(
        wait_command.starts_with(&format!("codexctl wait {id}"))
            || wait_command.contains(&format!("/codexctl wait {id}")),
        "{wait_command}"
    );
    assert!(
        wait_command.contains("--socket"),
        "non-default socket: {wait_command}"
    );
    let next = started["next"].as_str().unwrap_or("");
    assert!(
        next.contains(wait_command) && next.contains("background"),
        "{next}"
    );

    // Wait: progress arrives during the call, none after it.
    let before = shim.frames().len();
    let mut waited = None;
    for _ in 0..5 {
        let reply = ok(&shim.call("codex_wait", json!({ "task_ids": [id] })).await);
        if reply["done"] == true {
            waited = Some(reply);
            break;
        }
    }
    let waited = waited.expect("the task ended within a few waits");
    let task = &waited["tasks"][0];
    assert_eq!(state(task), "succeeded", "{waited}\n{}", env.daemon_log());
    assert!(
        task["answer"]
            .as_str()
            .unwrap_or("")
            .starts_with("All done.")
    );
    let thread = task["thread_id"].as_str().expect("thread id");
    assert_eq!(thread.len(), 36);
    if let Some(early) = started["thread_id"].as_str() {
        assert_eq!(early, thread);
    }
    assert!(
        waited["next"]
            .as_str()
            .unwrap_or("")
            .contains("codex_result")
    );

    let messages = shim.progress_messages();
    assert!(!messages.is_empty(), "progress notifications were received");
    assert!(
        messages
            .iter()
            .all(|m| m.contains(&id) && !m.contains('\n')),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("running `sleep 3`")),
        "the current command shows in progress: {messages:?}"
    );
    // On the wire: every progress notification precedes its call's response, and none
    // follows it, even a while later.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let sent = assert_progress_before_responses(&shim.frames(), before);
    // No `total`: the share of the wait that passed is not the task's progress (Claude Code
    // shows progress/total as a percentage of the task).
    let frames = shim.frames();
    assert!(
        frames[before..]
            .iter()
            .filter(|f| f["method"] == "notifications/progress")
            .all(|f| f["params"].get("total").is_none_or(Value::is_null)),
        "progress without total"
    );
    assert_eq!(
        sent,
        messages.len(),
        "every progress on the wire reached the client"
    );

    // The ready-to-run wait line works from a plain shell (the task has ended: at once).
    let out = sh(wait_command);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(line.contains(&id) && line.contains("succeeded"), "{line}");

    // The result: compact summary.
    let result = ok(&shim.call("codex_result", json!({ "task_id": id })).await);
    assert_eq!(state(&result), "succeeded");
    let summary = &result["summary"];
    assert_eq!(summary["final_message"], "All done.\nhello.txt is written.");
    assert_eq!(
        summary["files_changed"],
        json!([{"path": "hello.txt", "kind": "add"}])
    );
    let commands: Vec<&str> = summary["commands"]
        .as_array()
        .expect("commands")
        .iter()
        .filter_map(|c| c["command"].as_str())
        .collect();
    assert_eq!(commands, ["sleep 3", "cat hello.txt"]);
    assert!(summary["usage"]["input_tokens"].as_u64().unwrap_or(0) > 0);
    assert_eq!(summary["trimmed"], json!([]));
    let size = serde_json::to_string(&result).unwrap_or_default().len();
    assert!(size < 8000, "compact: {size} bytes");

    // Paged sections.
    let message = ok(&shim
        .call(
            "codex_result",
            json!({ "task_id": id, "section": "final_message" }),
        )
        .await);
    assert_eq!(message["text"], "All done.\nhello.txt is written.");
    assert_eq!(message["next_offset"], Value::Null);
    let mut offset = 0u64;
    let mut rendered = Vec::new();
    for _ in 0..20 {
        let page = ok(&shim
            .call(
                "codex_result",
                json!({ "task_id": id, "section": "events", "offset": offset }),
            )
            .await);
        for event in page["events"].as_array().expect("events") {
            rendered.push(event["text"].as_str().unwrap_or("").to_string());
        }
        match page["next_offset"].as_u64() {
            Some(next) => offset = next,
            None => break,
        }
    }
    assert!(
        rendered.iter().any(|e| e.starts_with("thread ")),
        "{rendered:?}"
    );
    assert!(
        rendered
            .iter()
            .any(|e| e.contains("$ cat hello.txt → exit 0\nhello from codex")),
        "{rendered:?}"
    );
    assert!(rendered.iter().any(|e| e.starts_with("turn completed")));
    let commands = ok(&shim
        .call(
            "codex_result",
            json!({ "task_id": id, "section": "commands" }),
        )
        .await);
    assert_eq!(commands["total"], 2);
    assert_eq!(commands["commands"][1]["exit_code"], 0);
    let files = ok(&shim
        .call("codex_result", json!({ "task_id": id, "section": "files" }))
        .await);
    assert_eq!(
        files["files"],
        json!([{"path": "hello.txt", "kind": "add"}])
    );
    assert_eq!(
        (files["total"].as_u64(), files["next_offset"].as_u64()),
        (Some(1), None)
    );
    let tests = ok(&shim
        .call("codex_result", json!({ "task_id": id, "section": "tests" }))
        .await);
    assert_eq!(tests["tests"]["failing"], json!([]));
    let stderr = ok(&shim
        .call(
            "codex_result",
            json!({ "task_id": id, "section": "stderr" }),
        )
        .await);
    assert!(
        stderr["text"].is_string() && stderr["next_offset"].is_null(),
        "{stderr}"
    );

    // Status and list see it; codexctl sees it too.
    let status = ok(&shim
        .call("codex_status", json!({ "task_id": &id[..5] }))
        .await);
    assert_eq!(status["tasks"][0]["task_id"], id.as_str());
    assert_eq!(state(&status["tasks"][0]), "succeeded");
    let running_here = ok(&shim.call("codex_status", json!({})).await);
    assert_eq!(running_here["tasks"], json!([]));
    assert!(
        running_here["scope"]
            .as_str()
            .unwrap_or("")
            .contains(&env.work.display().to_string())
    );
    let list = ok(&shim
        .call("codex_list", json!({ "states": ["succeeded"], "cwd": "." }))
        .await);
    assert_eq!(list["tasks"][0]["task_id"], id.as_str());
    assert_eq!(env.show(&id)["state"], "succeeded");
    assert_eq!(
        std::fs::read_to_string(env.work.join("hello.txt")).unwrap_or_default(),
        "hello from codex\n"
    );
    // Everything the shim printed on stdout was a JSON-RPC frame.
    shim.frames();
}

#[tokio::test(flavor = "multi_thread")]
async fn clear_tool_errors_for_unknown_tasks_and_bad_arguments() {
    let env = env_with(vec![]);
    let shim = Shim::start(&env).await;
    for (tool, args) in [
        ("codex_result", json!({ "task_id": "zzzzzzzz" })),
        ("codex_status", json!({ "task_id": "zzzzzzzz" })),
        ("codex_wait", json!({ "task_ids": ["zzzzzzzz"] })),
        ("codex_cancel", json!({ "task_id": "zzzzzzzz" })),
        (
            "codex_resume",
            json!({ "task_id": "zzzzzzzz", "prompt": "more" }),
        ),
    ] {
        let text = tool_error(&shim.call(tool, args).await);
        assert!(
            text.starts_with("Unknown task: no task zzzzzzzz"),
            "{tool}: {text}"
        );
    }
    let text = tool_error(
        &shim
            .call("codex_status", json!({ "task_id": "NOT-AN-ID" }))
            .await,
    );
    assert!(text.contains("is not a task id"), "{text}");

    let cases = [
        (
            json!({ "prompt": "x", "cwd": "/definitely/not/here" }),
            "cwd /definitely/not/here is not a usable directory",
        ),
        (
            json!({ "prompt": "x", "cwd": "no-such-subdir" }),
            "cwd no-such-subdir is not a usable directory relative to",
        ),
        (json!({ "prompt": "   " }), "the prompt is empty"),
        (
            json!({ "prompt": "x", "config": ["novalue"] }),
            "\"novalue\" is not key=value",
        ),
    ];
    for (args, expected) in cases {
        let text = tool_error(&shim.call("codex_start", args.clone()).await);
        assert!(text.contains(expected), "{args}: {text}");
    }
    let text = tool_error(&shim.call("codex_resume", json!({ "prompt": "more" })).await);
    assert!(
        text.contains("exactly one of task_id and thread_id"),
        "{text}"
    );
    let text = tool_error(
        &shim
            .call(
                "codex_resume",
                json!({ "thread_id": "00000000-0000-0000-0000-000000000000", "prompt": "more" }),
            )
            .await,
    );
    assert!(text.contains("no task has Codex thread"), "{text}");
    let text = tool_error(&shim.call("codex_wait", json!({ "task_ids": [] })).await);
    assert!(text.contains("task_ids is empty"), "{text}");
    // No task was created by any of this.
    let list = ok(&shim.call("codex_list", json!({})).await);
    assert_eq!(list["tasks"], json!([]));
    shim.frames();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_daemon_and_a_missing_codex_are_tool_errors() {
    let mut env = env_with_no_daemon(vec![]);
    // Nothing listens on the socket and autostart is off.
    let shim = Shim::start(&env).await;
    let text = tool_error(&shim.call("codex_list", json!({})).await);
    assert!(
        text.contains("codexd is not answering at")
            && text.contains(&env.socket.display().to_string()),
        "{text}"
    );
    let text = tool_error(&shim.call("codex_start", start_args(&env, "anything")).await);
    assert!(text.contains("codexd is not answering"), "{text}");
    shim.kill().await;

    // A daemon whose codex binary does not exist: the start reply is the error.
    env.codex = env.root.path().join("no-such-codex");
    env.start_daemon(&[]).expect("start codexd");
    let shim = Shim::start(&env).await;
    let text = tool_error(&shim.call("codex_start", start_args(&env, "anything")).await);
    assert!(
        text.contains("failed")
            && text.contains("no-such-codex")
            && text.contains("does not exist"),
        "{text}"
    );
    let id = text
        .strip_prefix("Task ")
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the error names the task")
        .to_string();
    let result = ok(&shim.call("codex_result", json!({ "task_id": id })).await);
    assert_eq!(state(&result), "failed");
}

/// Stops a daemon the shim started (it runs detached, not as our child) when dropped.
struct StopDaemon<'a>(&'a TestEnv);

impl Drop for StopDaemon<'_> {
    fn drop(&mut self) {
        let _ = self.0.ctl(&["daemon", "stop"]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn autostart_starts_a_daemon_when_none_answers() {
    let env = env_with_no_daemon(vec![Scenario::new(
        "[mcp-auto]",
        vec![Step::message("auto answer")],
    )]);
    let _stop = StopDaemon(&env);
    // The autostarted daemon inherits the shim's environment: point it at this test's
    // state dir and codex binary.
    let shim = Shim::start_with(
        &env,
        ShimOptions {
            roots: vec![],
            cwd: &env.work,
            args: vec![],
            env: vec![
                ("CODEXD_STATE_DIR", env.state_dir.clone()),
                ("CODEXD_CODEX_BIN", env.codex.clone()),
            ],
        },
    )
    .await;
    let started = ok(&shim
        .call("codex_start", start_args(&env, "[mcp-auto] hi"))
        .await);
    let id = started["task_id"].as_str().expect("id").to_string();
    let done = wait_done(&shim, &[&id]).await;
    assert_eq!(done["tasks"][0]["answer"], "auto answer");
    let status = env.ctl(&["daemon", "status", "--json"]);
    let info: Value = serde_json::from_slice(&status.stdout).expect("daemon status --json");
    assert_eq!(info["state_dir"], env.state_dir.display().to_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_stops_a_running_task_and_wait_is_bounded() {
    let env = env_with(vec![Scenario::new(
        "[mcp-long]",
        vec![Step::shell("sleep 4343"), Step::message("never reached")],
    )]);
    let shim = Shim::start(&env).await;
    let mut args = start_args(&env, "[mcp-long] take forever");
    args["cwd"] = json!(env.work.display().to_string());
    let started = ok(&shim.call("codex_start", args).await);
    assert_eq!(started["cwd_chosen"], "as given");
    let id = started["task_id"].as_str().expect("id").to_string();

    // A short wait returns "still running" with the current command.
    let deadline = Instant::now() + Duration::from_secs(90);
    let still = loop {
        let begun = Instant::now();
        let reply = ok(&shim
            .call(
                "codex_wait",
                json!({ "task_ids": [id], "timeout_seconds": 2 }),
            )
            .await);
        let took = begun.elapsed();
        assert!(took < Duration::from_secs(10), "bounded: {took:?}");
        assert_eq!(reply["done"], false, "{reply}");
        if reply["tasks"][0]["activity"] == "running `sleep 4343`" {
            break reply;
        }
        assert!(
            Instant::now() < deadline,
            "the command never started: {reply}"
        );
    };
    let next = still["next"].as_str().unwrap_or("");
    assert!(next.starts_with("Still running"), "{next}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(assert_progress_before_responses(&shim.frames(), 0) > 0);
    assert!(next.contains(still["wait_command"].as_str().unwrap_or("?")));
    // A wait of 0 s only looks.
    let look = ok(&shim
        .call(
            "codex_wait",
            json!({ "task_ids": [id], "timeout_seconds": 0 }),
        )
        .await);
    assert_eq!(look["waited_seconds"], 0);
    let status = ok(&shim.call("codex_status", json!({})).await);
    assert_eq!(status["tasks"][0]["task_id"], id.as_str());
    assert_eq!(status["tasks"][0]["activity"], "running `sleep 4343`");

    let cancelled = ok(&shim.call("codex_cancel", json!({ "task_id": id })).await);
    assert_eq!(state(&cancelled["task"]), "cancelled");
    // Nothing of the run survives. (Rarely a short-lived child that codex forks while the
    // group is being killed, e.g. `sleep 0.1`, outlives the reply by a moment: see the
    // daemon's cancel; this test is about the shim, so it allows that moment.)
    assert!(
        eventually(Duration::from_secs(3), || task_processes(&id).is_empty()),
        "processes of the task survived the cancel: {:?}",
        task_processes(&id)
    );
    let again = tool_error(&shim.call("codex_cancel", json!({ "task_id": id })).await);
    assert!(again.contains("already ended"), "{again}");
    let waited = wait_done(&shim, &[&id]).await;
    assert_eq!(state(&waited["tasks"][0]), "cancelled");
    shim.frames();
}

#[tokio::test(flavor = "multi_thread")]
async fn resume_continues_the_thread_by_task_or_thread_id() {
    let env = env_with(vec![
        Scenario::new("[mcp-first]", vec![Step::message("first answer")]),
        Scenario::new(
            "[mcp-second]",
            vec![
                Step::shell("echo resumed > resumed.txt"),
                Step::message("second answer"),
            ],
        ),
        Scenario::new("[mcp-third]", vec![Step::message("third answer")]),
        Scenario::new("[mcp-fork]", vec![Step::message("fork answer")]),
    ]);
    let shim = Shim::start(&env).await;
    let first = ok(&shim
        .call("codex_start", start_args(&env, "[mcp-first] hi"))
        .await);
    let first_id = first["task_id"].as_str().expect("id").to_string();
    let done = wait_done(&shim, &[&first_id]).await;
    let thread = done["tasks"][0]["thread_id"]
        .as_str()
        .expect("thread")
        .to_string();

    let second = ok(&shim
        .call(
            "codex_resume",
            json!({ "task_id": first_id, "prompt": "[mcp-second] go on" }),
        )
        .await);
    let second_id = second["task_id"].as_str().expect("id").to_string();
    assert_ne!(second_id, first_id);
    assert_eq!(second["parent"], first_id.as_str());
    assert!(
        second["wait_command"]
            .as_str()
            .unwrap_or("")
            .contains(&second_id)
    );
    let done = wait_done(&shim, &[&second_id]).await;
    assert_eq!(state(&done["tasks"][0]), "succeeded", "{done}");
    assert_eq!(done["tasks"][0]["thread_id"], thread.as_str());
    let result = ok(&shim
        .call("codex_result", json!({ "task_id": second_id }))
        .await);
    assert_eq!(result["summary"]["final_message"], "second answer");
    assert!(env.work.join("resumed.txt").is_file());

    // By thread id: the newest task of the thread is continued.
    let third = ok(&shim
        .call(
            "codex_resume",
            json!({ "thread_id": thread, "prompt": "[mcp-third] and again" }),
        )
        .await);
    assert_eq!(third["parent"], second_id.as_str());
    let third_id = third["task_id"].as_str().expect("id").to_string();
    let done = wait_done(&shim, &[&third_id]).await;
    assert_eq!(done["tasks"][0]["answer"], "third answer");

    // `fork: true`: a new thread from this one's conversation (`codex exec fork`).
    let fork = ok(&shim
        .call(
            "codex_resume",
            json!({ "task_id": third_id, "prompt": "[mcp-fork] another way", "fork": true }),
        )
        .await);
    assert_eq!(fork["parent"], third_id.as_str());
    let fork_id = fork["task_id"].as_str().expect("id").to_string();
    let done = wait_done(&shim, &[&fork_id]).await;
    assert_eq!(state(&done["tasks"][0]), "succeeded", "{done}");
    assert_eq!(done["tasks"][0]["answer"], "fork answer");
    let fork_thread = done["tasks"][0]["thread_id"].as_str().expect("thread");
    assert_ne!(
        fork_thread,
        thread.as_str(),
        "the fork has a thread of its own"
    );
    assert_eq!(env.show(&fork_id)["forked"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_shim_loses_nothing_and_a_new_one_picks_the_task_up() {
    let env = env_with(vec![Scenario::new(
        "[mcp-restart]",
        vec![Step::shell("sleep 4"), Step::message("survived the shim")],
    )]);
    let shim = Shim::start(&env).await;
    let started = ok(&shim
        .call("codex_start", start_args(&env, "[mcp-restart] work"))
        .await);
    let id = started["task_id"].as_str().expect("id").to_string();
    // Mid-wait, the editor goes away: the shim is killed with a call in flight.
    let in_flight = {
        let peer = shim.client.peer().clone();
        let id = id.clone();
        tokio::spawn(async move {
            let params = CallToolRequestParams::new("codex_wait").with_arguments(
                json!({ "task_ids": [id] })
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            );
            peer.call_tool(params).await
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    shim.kill().await;
    let _ = tokio::time::timeout(Duration::from_secs(10), in_flight).await;
    assert_eq!(
        env.show(&id)["state"]
            .as_str()
            .map(|s| s == "running" || s == "queued"),
        Some(true),
        "the task runs on without the shim"
    );

    let fresh = Shim::start(&env).await;
    let done = wait_done(&fresh, &[&id]).await;
    assert_eq!(state(&done["tasks"][0]), "succeeded", "{done}");
    let result = ok(&fresh.call("codex_result", json!({ "task_id": id })).await);
    assert_eq!(result["summary"]["final_message"], "survived the shim");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_shims_share_one_daemon() {
    let env = env_with(vec![
        Scenario::new(
            "[mcp-a]",
            vec![Step::shell("sleep 1"), Step::message("from a")],
        ),
        Scenario::new("[mcp-b]", vec![Step::message("from b")]),
    ]);
    // Shim A through rmcp's own child-process transport; shim B through the recording one.
    let command = tokio::process::Command::new(shim_bin()).configure(|cmd| {
        cmd.arg("--socket")
            .arg(&env.socket)
            .arg("--no-autostart")
            .env("CODEX_HOME", &env.codex_home)
            .env_remove("CODEXD_SOCKET")
            .current_dir(&env.work);
    });
    let (transport, _stderr) = TokioChildProcess::builder(command)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn shim A");
    let a = ().serve(transport).await.expect("initialize shim A");
    let b = Shim::start(&env).await;

    let call = |name: &'static str, args: Value| {
        CallToolRequestParams::new(name)
            .with_arguments(args.as_object().cloned().unwrap_or_default())
    };
    let started_a = ok(&a
        .call_tool(call("codex_start", start_args(&env, "[mcp-a] one")))
        .await
        .expect("start via A"));
    let a_id = started_a["task_id"].as_str().expect("id").to_string();
    // A's cwd: its own working directory (this client declares no roots).
    assert_eq!(started_a["cwd"], env.work.display().to_string());
    assert!(
        started_a["cwd_chosen"]
            .as_str()
            .unwrap_or("")
            .contains("server working directory")
    );
    let started_b = ok(&b.call("codex_start", start_args(&env, "[mcp-b] two")).await);
    let b_id = started_b["task_id"].as_str().expect("id").to_string();

    // Each sees the other's task; B waits for both, A reads B's result.
    let listed = ok(&a
        .call_tool(call("codex_list", json!({})))
        .await
        .expect("list via A"));
    let ids: Vec<&str> = listed["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter_map(|t| t["task_id"].as_str())
        .collect();
    assert!(
        ids.contains(&a_id.as_str()) && ids.contains(&b_id.as_str()),
        "{ids:?}"
    );
    let done = wait_done(&b, &[&a_id, &b_id]).await;
    let states: Vec<&str> = done["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(state)
        .collect();
    assert_eq!(states, ["succeeded", "succeeded"], "{done}");
    let result = ok(&a
        .call_tool(call("codex_result", json!({ "task_id": b_id })))
        .await
        .expect("result via A"));
    assert_eq!(result["summary"]["final_message"], "from b");
    a.cancel().await.expect("close shim A");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wait_in_flight_survives_a_daemon_restart() {
    let mut env = env_with(vec![Scenario::new(
        "[mcp-restart-daemon]",
        vec![Step::shell("sleep 4"), Step::message("outlived the daemon")],
    )]);
    let shim = Shim::start(&env).await;
    let started = ok(&shim
        .call("codex_start", start_args(&env, "[mcp-restart-daemon] work"))
        .await);
    let id = started["task_id"].as_str().expect("id").to_string();
    let in_flight = {
        let peer = shim.client.peer().clone();
        let id = id.clone();
        tokio::spawn(async move {
            let params = CallToolRequestParams::new("codex_wait").with_arguments(
                json!({ "task_ids": [id] })
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            );
            peer.call_tool(params).await
        })
    };
    tokio::time::sleep(Duration::from_millis(1000)).await;
    // A clean daemon restart: the run goes on, the shim reconnects and keeps waiting.
    env.stop_daemon().expect("stop codexd");
    env.start_daemon(&[]).expect("restart codexd");
    let reply = tokio::time::timeout(CALL_TIMEOUT, in_flight)
        .await
        .expect("the wait answered")
        .expect("the wait task")
        .expect("the wait call");
    let reply = ok(&reply);
    if reply["done"] == true {
        assert_eq!(state(&reply["tasks"][0]), "succeeded", "{reply}");
    } else {
        // The 50 s cap came first on a slow machine: the next wait sees the end.
        let done = wait_done(&shim, &[&id]).await;
        assert_eq!(state(&done["tasks"][0]), "succeeded", "{done}");
    }
    let result = ok(&shim.call("codex_result", json!({ "task_id": id })).await);
    assert_eq!(result["summary"]["final_message"], "outlived the daemon");
    let log = std::fs::read_to_string(env.root.path().join("codexd-mcp.log")).unwrap_or_default();
    assert!(
        log.contains("codexd went away while waiting"),
        "the wait reconnected:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn codex_start_takes_the_config_files_client_defaults_below_its_arguments() {
    let env = env_with(vec![Scenario::new(
        "[mcp-defaults]",
        vec![Step::message("ok")],
    )]);
    let config = env.root.path().join("config.toml");
    std::fs::write(
        &config,
        format!("[client]\nsandbox = \"workspace-write\"\nmodel = \"{MOCK_MODEL}\"\n"),
    )
    .unwrap();
    let shim = Shim::start_with(
        &env,
        ShimOptions {
            roots: vec![env.work.clone()],
            cwd: env.root.path(),
            args: vec!["--no-autostart".into()],
            env: vec![("CODEXD_CONFIG", config.clone())],
        },
    )
    .await;
    // No sandbox or model in the arguments: both come from [client].
    let started = ok(&shim
        .call(
            "codex_start",
            json!({
                "prompt": "[mcp-defaults] go",
                "config": mock_config_overrides(&env.server.base_url()),
            }),
        )
        .await);
    let id = started["task_id"].as_str().expect("id").to_string();
    let task = env.show(&id);
    assert_eq!(task["sandbox"], "workspace-write", "{task}");
    assert_eq!(task["model"], MOCK_MODEL);
    // An argument wins over the file.
    let started = ok(&shim
        .call(
            "codex_start",
            json!({
                "prompt": "[mcp-defaults] again",
                "sandbox": "read-only",
                "config": mock_config_overrides(&env.server.base_url()),
            }),
        )
        .await);
    let task = env.show(started["task_id"].as_str().expect("id"));
    assert_eq!(task["sandbox"], "read-only");
    wait_done(&shim, &[&id]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn worktree_isolation_diff_apply_compare_and_discard_through_the_tools() {
    let env = env_with(vec![Scenario::new(
        "[mcp-worktree]",
        vec![
            Step::patch("*** Begin Patch\n*** Add File: made.txt\n+by codex\n*** End Patch\n"),
            Step::message("Added made.txt."),
        ],
    )]);
    let work = env.work.clone();
    git(&work, &["init", "-q"]);
    std::fs::write(work.join("base.txt"), "b\n").unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-qm", "base"]);
    let shim = Shim::start(&env).await;

    let mut args = start_args(&env, "[mcp-worktree] add made.txt");
    args["isolation"] = json!("worktree");
    args["attempts"] = json!(2);
    let started = ok(&shim.call("codex_start", args).await);
    let id = started["task_id"].as_str().unwrap().to_string();
    let group = started["group"].as_str().expect("a group").to_string();
    assert!(
        started["worktree"].as_str().unwrap().ends_with(&id),
        "{started}"
    );
    let compare = ok(&shim.call("codex_compare", json!({ "group": group })).await);
    let ids: Vec<String> = compare["compare"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["task_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2);
    for _ in 0..10 {
        let reply = ok(&shim.call("codex_wait", json!({ "task_ids": ids })).await);
        if reply["done"] == true {
            break;
        }
    }
    assert!(
        !work.join("made.txt").exists(),
        "the user's tree is untouched"
    );

    let diff = ok(&shim.call("codex_diff", json!({ "task_id": id })).await);
    assert_eq!(diff["diff"]["stat"]["files"], json!(["made.txt"]), "{diff}");
    assert!(
        diff["diff"]["patch"]
            .as_str()
            .unwrap()
            .contains("+by codex")
    );
    let applied = ok(&shim.call("codex_apply", json!({ "task_id": id })).await);
    assert_eq!(applied["apply"]["applied"], true, "{applied}");
    assert_eq!(
        std::fs::read_to_string(work.join("made.txt")).unwrap(),
        "by codex\n"
    );
    let discarded = ok(&shim
        .call(
            "codex_discard",
            json!({ "group": group, "except": [id.clone()] }),
        )
        .await);
    let gone = discarded["discard"]["discarded"].as_array().unwrap();
    assert_eq!(gone.len(), 1);
    assert_ne!(gone[0]["task_id"], id.as_str());
    // A task that ran in place has no worktree: a clear refusal.
    let failed = shim
        .call("codex_diff", json!({ "task_id": "zzzzzzzz" }))
        .await;
    assert_eq!(failed.is_error, Some(true));
}

/// The run options of issue 13 through the tools: effort, images, extra directories and an
/// output schema given to `codex_start` reach the task, codex and the model's request; the
/// answer comes back as `final_json`; `codex_resume` takes its own effort; a bad value is a
/// tool error and no task.
#[tokio::test(flavor = "multi_thread")]
async fn codex_start_and_resume_carry_effort_images_add_dirs_and_a_schema() {
    let env = env_with(vec![
        Scenario::new("[mcp-options]", vec![Step::message(r#"{"verdict":"ok"}"#)]),
        Scenario::new("[mcp-more]", vec![Step::message("plain words")]),
    ]);
    let image = env.root.path().join("pixel.png");
    std::fs::write(&image, codexd_tests::PNG).unwrap();
    let extra = env.root.path().join("extra-dir");
    std::fs::create_dir_all(&extra).unwrap();
    let extra = extra.canonicalize().unwrap();
    let shim = Shim::start(&env).await;

    let mut args = start_args(&env, "[mcp-options] judge the picture");
    args["effort"] = json!("high");
    args["images"] = json!([image.display().to_string()]);
    args["add_dirs"] = json!([extra.display().to_string()]);
    args["output_schema"] = json!({
        "type": "object",
        "properties": {"verdict": {"type": "string", "enum": ["ok", "bad"]}},
        "required": ["verdict"],
        "additionalProperties": false
    });
    let started = ok(&shim.call("codex_start", args).await);
    let id = started["task_id"].as_str().expect("id").to_string();
    let task = env.show(&id);
    assert_eq!(task["effort"], "high", "{task}");
    assert_eq!(task["add_dirs"][0], extra.display().to_string());
    let copy = task["images"][0].as_str().expect("an image copy");
    assert!(
        copy.starts_with(env.task_dir(&id).to_str().unwrap()),
        "{copy}"
    );
    assert!(env.task_dir(&id).join("output-schema.json").is_file());
    let done = wait_done(&shim, &[&id]).await;
    assert_eq!(state(&done["tasks"][0]), "succeeded", "{done}");
    let result = ok(&shim.call("codex_result", json!({ "task_id": id })).await);
    assert_eq!(result["final_json"], json!({"verdict": "ok"}), "{result}");
    assert!(
        result.get("schema_error").is_none_or(Value::is_null),
        "{result}"
    );

    let request_body = |tag: &str| {
        env.server
            .requests()
            .into_iter()
            .find(|r| r.tag.as_deref() == Some(tag))
            .unwrap_or_else(|| panic!("a model request for {tag}"))
            .body
    };
    let body = request_body("[mcp-options]");
    assert_eq!(body["reasoning"]["effort"], "high", "{}", body["reasoning"]);
    assert!(
        body["input"].to_string().contains("input_image"),
        "the image"
    );
    assert!(
        body.to_string().contains(&extra.display().to_string()),
        "the extra directory is in codex's context"
    );
    assert!(
        body["text"].to_string().contains("verdict"),
        "the schema: {}",
        body["text"]
    );

    // A resume takes its own effort.
    let resumed = ok(&shim
        .call(
            "codex_resume",
            json!({ "task_id": id, "prompt": "[mcp-more] and now?", "effort": "low" }),
        )
        .await);
    let resumed_id = resumed["task_id"].as_str().expect("id").to_string();
    assert_eq!(env.show(&resumed_id)["effort"], "low");
    let done = wait_done(&shim, &[&resumed_id]).await;
    assert_eq!(state(&done["tasks"][0]), "succeeded", "{done}");
    let body = request_body("[mcp-more]");
    assert_eq!(body["reasoning"]["effort"], "low", "{}", body["reasoning"]);

    // A bad value is refused before a task exists.
    let listed = |env: &TestEnv| {
        let out = output(env.codexctl().args(["list", "--json"]));
        serde_json::from_slice::<Value>(&out.stdout).expect("list --json")["tasks"]
            .as_array()
            .map_or(0, Vec::len)
    };
    let before = listed(&env);
    let mut args = start_args(&env, "[mcp-options] again");
    args["effort"] = json!("extreme");
    let error = tool_error(&shim.call("codex_start", args).await);
    assert!(error.contains("effort"), "{error}");
    let mut args = start_args(&env, "[mcp-options] again");
    args["images"] = json!(["/nonexistent/picture.png"]);
    let error = tool_error(&shim.call("codex_start", args).await);
    assert!(error.contains("/nonexistent/picture.png"), "{error}");
    assert_eq!(listed(&env), before, "no task was created");
}
