//! Self-tests of the test support: the real, pinned Codex CLI run directly (no daemon)
//! against [`MockModelServer`], plus a few raw-HTTP checks of the server itself.
//!
//! They also pin down CLI behaviour the daemon relies on: `--` before the positional prompt
//! (and before `THREAD_ID PROMPT` of `exec resume`), cumulative usage, failing fast with no
//! listener, and that a hanging model request holds only its own connection.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use codexd_tests::codex_cli::{codex_bin, codex_home, mock_config_overrides, mock_provider_args};
use codexd_tests::model_server::{MOCK_USAGE, MockModelServer, Scenario, Step, items};
use serde_json::{Value, json};

/// Longest a single codex run may take before the test kills it and fails.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// A temp dir with a CODEX_HOME and a work dir.
struct Sandbox {
    _dir: tempfile::TempDir,
    home: PathBuf,
    work: PathBuf,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = codex_home(dir.path());
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).expect("create work dir");
        let work = work.canonicalize().expect("canonicalize work dir");
        Sandbox {
            _dir: dir,
            home,
            work,
        }
    }

    /// `codex exec --json --skip-git-repo-check -s workspace-write -C WORK MOCK_ARGS -- PROMPT`.
    fn exec_args(&self, base_url: &str, prompt: &str) -> Vec<String> {
        let mut args = strings(&["exec", "--json", "--skip-git-repo-check", "-s"]);
        args.push("workspace-write".into());
        args.push("-C".into());
        args.push(self.work.display().to_string());
        args.extend(mock_provider_args(base_url));
        args.push("--".into());
        args.push(prompt.into());
        args
    }

    /// `codex exec -C WORK resume --json --skip-git-repo-check -c sandbox_mode=... MOCK_ARGS
    /// -- THREAD_ID PROMPT`.
    fn resume_args(&self, base_url: &str, thread_id: &str, prompt: &str) -> Vec<String> {
        let mut args = strings(&["exec", "-C"]);
        args.push(self.work.display().to_string());
        args.extend(strings(&[
            "resume",
            "--json",
            "--skip-git-repo-check",
            "-c",
            "sandbox_mode=\"workspace-write\"",
        ]));
        args.extend(mock_provider_args(base_url));
        args.extend(strings(&["--", thread_id, prompt]));
        args
    }

    fn command(&self, args: &[String]) -> Command {
        let mut cmd = Command::new(codex_bin().expect("codex binary"));
        cmd.args(args)
            .env("CODEX_HOME", &self.home)
            .current_dir(&self.work)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn run(&self, args: &[String]) -> Run {
        let child = self.command(args).spawn().expect("spawn codex");
        wait_run(child, RUN_TIMEOUT)
    }
}

/// The outcome of one codex process.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    events: Vec<Value>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    fn of_type(&self, kind: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["type"] == kind).collect()
    }

    fn thread_id(&self) -> String {
        let started = self.of_type("thread.started");
        assert_eq!(started.len(), 1, "one thread.started in {}", self.stdout);
        assert_eq!(self.events[0]["type"], "thread.started", "first event");
        started[0]["thread_id"]
            .as_str()
            .expect("thread_id string")
            .to_string()
    }

    /// Completed items of a given item type.
    fn completed_items(&self, item_type: &str) -> Vec<&Value> {
        self.of_type("item.completed")
            .into_iter()
            .map(|e| &e["item"])
            .filter(|i| i["type"] == item_type)
            .collect()
    }

    fn final_message(&self) -> String {
        let messages = self.completed_items("agent_message");
        messages
            .last()
            .unwrap_or_else(|| panic!("no agent_message in {}", self.stdout))["text"]
            .as_str()
            .expect("text")
            .to_string()
    }

    fn describe(&self) -> String {
        format!(
            "exit {:?} after {:?}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.elapsed, self.stdout, self.stderr
        )
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Waits for `child` (stdout/stderr piped), killing it after `timeout`.
fn wait_run(mut child: Child, timeout: Duration) -> Run {
    let start = Instant::now();
    let mut stdout = child.stdout.take().expect("stdout piped");
    let mut stderr = child.stderr.take().expect("stderr piped");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "codex did not finish within {timeout:?}; stderr:\n{}",
                err_reader.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out_reader.join().expect("stdout reader");
    let stderr = err_reader.join().expect("stderr reader");
    let events = stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSONL line {l:?}: {e}")))
        .collect();
    Run {
        code: status.code(),
        events,
        stdout,
        stderr,
        elapsed: start.elapsed(),
    }
}

/// `turn.completed.usage` for `n` mock responses in the thread so far.
fn usage_times(n: u64) -> Value {
    json!({
        "input_tokens": MOCK_USAGE.input_tokens * n,
        "cached_input_tokens": MOCK_USAGE.cached_input_tokens * n,
        "cache_write_input_tokens": 0,
        "output_tokens": MOCK_USAGE.output_tokens * n,
        "reasoning_output_tokens": MOCK_USAGE.reasoning_output_tokens * n,
    })
}

fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// (a) patch → shell → message, then (d) resume of that thread with a dash-prompt after `--`.
#[test]
fn patch_shell_message_then_resume() {
    let server = MockModelServer::start_blocking(vec![
        Scenario::new(
            "[build]",
            vec![
                Step::patch(
                    "*** Begin Patch\n*** Add File: hello.txt\n+hello from mock\n*** End Patch\n",
                ),
                Step::shell("cat hello.txt"),
                Step::message("all done"),
            ],
        ),
        Scenario::new("[followup]", vec![Step::message("resumed fine")]),
    ])
    .expect("start server");
    let sb = Sandbox::new();

    let run = sb.run(&sb.exec_args(&server.base_url(), "[build] create hello.txt"));
    assert_eq!(run.code, Some(0), "{}", run.describe());
    let thread_id = run.thread_id();
    assert_eq!(run.of_type("turn.started").len(), 1);

    let changes = run.completed_items("file_change");
    assert_eq!(changes.len(), 1, "{}", run.describe());
    let hello = sb.work.join("hello.txt");
    assert_eq!(changes[0]["status"], "completed");
    assert_eq!(
        changes[0]["changes"],
        json!([{"path": hello.display().to_string(), "kind": "add"}])
    );

    let commands = run.completed_items("command_execution");
    assert_eq!(commands.len(), 1, "{}", run.describe());
    assert_eq!(commands[0]["exit_code"], 0);
    assert_eq!(commands[0]["status"], "completed");
    assert_eq!(commands[0]["aggregated_output"], "hello from mock\n");
    // With login:false the command is wrapped as `bash -c`, not `bash -lc`.
    assert_eq!(commands[0]["command"], "/bin/bash -c 'cat hello.txt'");

    assert_eq!(run.final_message(), "all done");
    let completed = run.of_type("turn.completed");
    assert_eq!(completed.len(), 1);
    // Three model requests in this turn: usage is their sum.
    assert_eq!(completed[0]["usage"], usage_times(3));
    assert_eq!(
        run.events.last().map(|e| &e["type"]),
        Some(&json!("turn.completed"))
    );
    assert_eq!(
        std::fs::read_to_string(&hello).expect("hello.txt written"),
        "hello from mock\n"
    );
    assert_eq!(server.requests_for("[build]"), 3);
    let steps: Vec<_> = server.requests().iter().map(|r| r.step).collect();
    assert_eq!(steps, [Some(0), Some(1), Some(2)]);

    // (d) Resume: same thread, the step count restarts for the new user message, usage is
    // cumulative over the thread. The prompt starts with '-': `--` keeps it a positional.
    let prompt = "-[followup] and now?";
    let resumed = sb.run(&sb.resume_args(&server.base_url(), &thread_id, prompt));
    assert_eq!(resumed.code, Some(0), "{}", resumed.describe());
    assert_eq!(resumed.thread_id(), thread_id);
    assert_eq!(resumed.final_message(), "resumed fine");
    assert_eq!(
        resumed.of_type("turn.completed")[0]["usage"],
        usage_times(4)
    );
    let last = server.requests().pop().expect("a request");
    assert_eq!(last.prompt, prompt);
    assert_eq!(last.step, Some(0));
    // The resumed request carries the earlier turn.
    let input = last.body["input"].as_array().expect("input array");
    assert!(
        input.iter().any(|i| i["type"] == "custom_tool_call_output"),
        "resumed input has the first turn's tool outputs"
    );
}

/// (b) An HTTP 400 fails the turn with the body as message, exit 1; so do an unmatched
/// prompt and a `response.failed` stream.
#[test]
fn http_400_fails_the_turn() {
    let server = MockModelServer::start_blocking(vec![
        Scenario::new("[bad]", vec![Step::HttpError(400, "mock says no".into())]),
        Scenario::new("[broken]", vec![Step::StreamFailed("boom".into())]),
    ])
    .expect("start server");
    let sb = Sandbox::new();
    let run = sb.run(&sb.exec_args(&server.base_url(), "[bad] please"));
    assert_eq!(run.code, Some(1), "{}", run.describe());
    let failed = run.of_type("turn.failed");
    assert_eq!(failed.len(), 1, "{}", run.describe());
    assert_eq!(failed[0]["error"]["message"], "mock says no");
    assert!(run.of_type("turn.completed").is_empty());
    assert_eq!(server.request_count(), 1);

    // No scenario matches: 400 with a message naming the prompt.
    let run = sb.run(&sb.exec_args(&server.base_url(), "no tag here"));
    assert_eq!(run.code, Some(1), "{}", run.describe());
    let message = run.of_type("turn.failed")[0]["error"]["message"]
        .as_str()
        .expect("message")
        .to_string();
    assert_eq!(message, "mock: no scenario matches prompt \"no tag here\"");

    // An SSE `response.failed` (stream retries are off): the turn fails at once.
    let run = sb.run(&sb.exec_args(&server.base_url(), "[broken] stream"));
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert_eq!(
        run.of_type("turn.failed")[0]["error"]["message"],
        "stream disconnected before completion: boom"
    );
    assert_eq!(server.requests_for("[broken]"), 1);
}

/// (c) `--` before a prompt that starts with '-' is required and works.
#[test]
fn dash_prompt_needs_double_dash() {
    let server =
        MockModelServer::start_blocking(vec![Scenario::new("[dash]", vec![Step::message("ok")])])
            .expect("start server");
    let sb = Sandbox::new();

    let run = sb.run(&sb.exec_args(&server.base_url(), "--[dash] -x --help"));
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_eq!(run.final_message(), "ok");
    assert_eq!(server.requests()[0].prompt, "--[dash] -x --help");

    // Without `--` clap takes it for an option: usage error, exit 2, nothing on stdout.
    let mut args = sb.exec_args(&server.base_url(), "-[dash]");
    let dashdash = args.iter().position(|a| a == "--").expect("has --");
    args.remove(dashdash);
    let run = sb.run(&args);
    assert_eq!(run.code, Some(2), "{}", run.describe());
    assert!(run.events.is_empty());
    assert_eq!(server.request_count(), 1);
}

/// Parallel tool calls in one step count as one step; a step past the end of the script
/// answers with a message naming the missing step.
#[test]
fn parallel_calls_and_missing_step() {
    let server = MockModelServer::start_blocking(vec![Scenario::new(
        "[par]",
        vec![Step::Reply(vec![
            items::reasoning("thinking"),
            items::shell("echo a"),
            items::shell("echo b"),
        ])],
    )])
    .expect("start server");
    let sb = Sandbox::new();
    let run = sb.run(&sb.exec_args(&server.base_url(), "[par] two at once"));
    assert_eq!(run.code, Some(0), "{}", run.describe());
    let mut outputs: Vec<_> = run
        .completed_items("command_execution")
        .iter()
        .map(|i| i["aggregated_output"].as_str().expect("output").to_string())
        .collect();
    outputs.sort();
    assert_eq!(outputs, ["a\n", "b\n"]);
    assert_eq!(run.completed_items("reasoning")[0]["text"], "thinking");
    assert_eq!(run.final_message(), "mock: scenario [par] has no step 1");
}

/// With `mock_config_overrides` (features.unbounded_connection_retries=false) and nothing
/// listening, codex fails the turn at once instead of retrying forever.
#[test]
fn no_listener_fails_fast() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let base_url = format!("http://127.0.0.1:{port}/v1");
    assert!(
        mock_config_overrides(&base_url)
            .contains(&"features.unbounded_connection_retries=false".to_string())
    );
    let sb = Sandbox::new();
    let run = sb.run(&sb.exec_args(&base_url, "anything"));
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(
        run.elapsed < Duration::from_secs(20),
        "took {:?}",
        run.elapsed
    );
    let message = run.of_type("turn.failed")[0]["error"]["message"].clone();
    assert!(
        message
            .as_str()
            .is_some_and(|m| m.contains("Connection failed")),
        "{message}"
    );
    assert!(
        !run.stdout.contains("Reconnecting"),
        "no reconnect loop: {}",
        run.describe()
    );
}

/// A hanging request holds its codex forever but not the server: another codex is served
/// meanwhile. Killing the hung codex releases its connection.
#[test]
fn hang_blocks_only_its_own_connection() {
    let server = MockModelServer::start_blocking(vec![
        Scenario::new("[hang]", vec![Step::Hang]),
        Scenario::new(
            "[quick]",
            vec![Step::message("quick").delayed(Duration::from_millis(50))],
        ),
    ])
    .expect("start server");
    let sb = Sandbox::new();
    let mut hung = sb
        .command(&sb.exec_args(&server.base_url(), "[hang] wait"))
        .spawn()
        .expect("spawn codex");
    wait_until("the hung request", Duration::from_secs(30), || {
        server.hanging() == 1
    });

    let run = sb.run(&sb.exec_args(&server.base_url(), "[quick] go"));
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_eq!(run.final_message(), "quick");
    assert_eq!(
        hung.try_wait().expect("try_wait"),
        None,
        "hung codex still waiting"
    );

    hung.kill().expect("kill");
    hung.wait().expect("wait");
    wait_until(
        "the hung connection to close",
        Duration::from_secs(10),
        || server.hanging() == 0,
    );
}

/// Raw HTTP: keep-alive, a chunked body, 404 for other paths, SSE framing and ids.
#[test]
fn raw_http_keep_alive_and_chunked() {
    let server = MockModelServer::start_blocking(vec![Scenario::new(
        "[raw]",
        vec![Step::shell("true"), Step::message("second")],
    )])
    .expect("start server");
    let mut stream = TcpStream::connect(server.addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));

    let body = json!({"input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "[raw] hi"}]}
    ]})
    .to_string();
    let request = format!(
        "POST /v1/responses HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("write");
    let (status, sse) = read_response(&mut reader);
    assert_eq!(status, 200);
    let events: Vec<Value> = sse
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).expect("event JSON"))
        .collect();
    let types: Vec<_> = events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        types,
        [
            "response.created",
            "response.output_item.done",
            "response.completed"
        ]
    );
    let call = &events[1]["item"];
    assert_eq!(call["name"], "exec_command");
    assert!(
        call["call_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("call_mock_"))
    );
    assert_eq!(
        serde_json::from_str::<Value>(call["arguments"].as_str().expect("arguments"))
            .expect("arguments JSON"),
        json!({"cmd": "true", "login": false})
    );
    assert_eq!(events[2]["response"]["usage"]["total_tokens"], 130);

    // Same connection, chunked body, one tool output after the user message: step 1.
    let body = json!({"input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "[raw] hi"}]},
        call,
        {"type": "function_call_output", "call_id": call["call_id"], "output": "ok"},
    ]})
    .to_string();
    let (a, b) = body.split_at(body.len() / 2);
    let request = format!(
        "POST /v1/responses HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    stream.write_all(request.as_bytes()).expect("write");
    let (status, sse) = read_response(&mut reader);
    assert_eq!(status, 200);
    assert!(sse.contains("\"text\":\"second\""), "{sse}");

    stream
        .write_all(b"GET /v1/models HTTP/1.1\r\nhost: x\r\n\r\n")
        .expect("write");
    let (status, body) = read_response(&mut reader);
    assert_eq!(status, 404);
    assert!(
        body.starts_with("mock: no route for GET /v1/models"),
        "{body}"
    );

    assert_eq!(server.request_count(), 2);
    assert_eq!(server.requests_for("[raw]"), 2);
    assert_eq!(server.requests().len(), 3);
}

/// Reads one `content-length` response: status and body.
fn read_response(reader: &mut BufReader<TcpStream>) -> (u16, String) {
    let mut status_line = String::new();
    reader.read_line(&mut status_line).expect("status line");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("header line");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().expect("content-length");
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("body");
    (status, String::from_utf8(body).expect("UTF-8 body"))
}

#[test]
fn codex_bin_is_pinned_version() {
    let bin = codex_bin().expect("codex binary");
    let out = Command::new(&bin)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .expect("run codex --version");
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(
        version.contains(codexd_tests::codex_cli::CODEX_VERSION),
        "{} --version: {version}",
        bin.display()
    );
}
