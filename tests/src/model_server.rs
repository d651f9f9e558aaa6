//! A scriptable mock of the OpenAI Responses API for driving the real Codex CLI offline.
//!
//! [`MockModelServer`] listens on `127.0.0.1` (a random port) and answers `POST …/responses`
//! with server-sent events in the format Codex CLI 0.169.0 expects (see
//! `shared/codex-cli.md`). It is a small hand-written HTTP/1.1 server: keep-alive connections,
//! `content-length` and `chunked` request bodies, any number of concurrent clients. It owns a
//! background thread with its own tokio runtime, so it works the same from a plain `#[test]`
//! and from async code, and it shuts down (closing every connection) when dropped.
//!
//! # Scripting
//! The server holds a list of [`Scenario`]s. For each request it takes the text of the **last
//! user message** in the request's `input` (the prompt of the current turn) and picks the first
//! scenario whose [`Scenario::tag`] occurs in it as a substring. The step to play is the number
//! of model round trips already made in the current turn: the number of runs of consecutive
//! tool outputs (`function_call_output` / `custom_tool_call_output`) in `input` after that last
//! user message. With one tool call per step this is simply the number of tool outputs; a step
//! that makes several parallel tool calls still counts once. A resumed thread, whose `input`
//! carries its earlier turns, therefore starts again at step 0 for the new user message.
//!
//! * No scenario matches: HTTP 400 with body `mock: no scenario matches prompt "…"`, which
//!   Codex reports as the `turn.failed` message.
//! * The scenario has no step with that index: a final assistant message
//!   `mock: scenario TAG has no step N`, so a misconfigured script is visible in the output.
//!
//! Every completed response reports the same token usage, [`MOCK_USAGE`], so tests can assert
//! exact numbers.
//!
//! ```no_run
//! use codexd_tests::model_server::{MockModelServer, Scenario, Step};
//!
//! let server = MockModelServer::start_blocking(vec![Scenario::new(
//!     "[hello]",
//!     vec![Step::shell("echo hi"), Step::message("done")],
//! )])
//! .expect("start mock model server");
//! let base_url = server.base_url(); // http://127.0.0.1:PORT/v1
//! # let _ = base_url;
//! ```

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// Largest request head (request line and headers) the server accepts.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Largest request body the server accepts.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Token usage reported in every `response.completed` event.
///
/// Codex adds these up over all responses of a thread: a turn made of `n` model requests
/// reports `n` times these numbers in `turn.completed` (plus earlier turns after a resume).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MockUsage {
    /// `usage.input_tokens`.
    pub input_tokens: u64,
    /// `usage.input_tokens_details.cached_tokens`.
    pub cached_input_tokens: u64,
    /// `usage.output_tokens`.
    pub output_tokens: u64,
    /// `usage.output_tokens_details.reasoning_tokens`.
    pub reasoning_output_tokens: u64,
    /// `usage.total_tokens`.
    pub total_tokens: u64,
}

/// The usage every mock response reports.
pub const MOCK_USAGE: MockUsage = MockUsage {
    input_tokens: 100,
    cached_input_tokens: 20,
    output_tokens: 30,
    reasoning_output_tokens: 5,
    total_tokens: 130,
};

/// A script for the turns whose prompt contains [`Scenario::tag`].
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Substring looked for in the text of the last user message of a request.
    pub tag: String,
    /// What to answer to the 1st, 2nd, … model request of a turn.
    pub steps: Vec<Step>,
}

impl Scenario {
    /// A scenario chosen by `tag` that plays `steps` in order.
    pub fn new(tag: impl Into<String>, steps: Vec<Step>) -> Self {
        Scenario {
            tag: tag.into(),
            steps,
        }
    }
}

/// A base URL (`http://127.0.0.1:PORT/v1`) where nothing listens: connections to it are
/// refused. The port was bound and released, so it is free (and no other test's, as long
/// as the kernel does not hand it out again at once).
pub fn refusing_base_url() -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    drop(listener);
    Ok(format!("http://127.0.0.1:{port}/v1"))
}

/// One answer of the mock model.
#[derive(Debug, Clone)]
pub enum Step {
    /// A successful streamed response: `response.created`, one `response.output_item.done`
    /// per item, then `response.completed` with [`MOCK_USAGE`]. Build items with the
    /// functions in [`items`]. Missing `call_id`s (tool calls) and `id`s (messages, reasoning)
    /// are filled in with values unique within the server.
    Reply(Vec<Value>),
    /// An HTTP error: status code and body (sent as `application/json` when it parses as
    /// JSON, else `text/plain`). With a 400 Codex fails the turn with the body as message.
    HttpError(u16, String),
    /// A 200 stream that ends with `response.failed` carrying this message; Codex (with
    /// stream retries off) fails the turn with "stream disconnected before completion: MSG".
    StreamFailed(String),
    /// Read the request and never answer. Codex then waits forever: use it to test the
    /// daemon's own time limits. Only this connection is held; the server goes on serving
    /// others. [`MockModelServer::hanging`] counts such connections.
    Hang,
    /// Accept, send the headers of a 200 event stream, `response.created` and these
    /// items, then stop answering mid-turn (the connection stays open). Codex's stream idle
    /// timeout then makes it reconnect (its `Reconnecting... N/M` notices) when its provider
    /// allows stream retries. Counted by [`MockModelServer::hanging`] too.
    HangMidStream(Vec<Value>),
    /// Wait, then play the inner step.
    Delayed(Duration, Box<Step>),
    /// The inner steps in turn: the first request that reaches this step gets the first,
    /// the next one the second, and so on round the list (shared by every turn and
    /// thread). Attempts started with the same prompt (best-of-N) then get different
    /// answers; [`Step::rotate`] builds it.
    Rotate(Vec<Step>, Arc<AtomicUsize>),
}

impl Step {
    /// A final assistant message.
    pub fn message(text: impl Into<String>) -> Step {
        Step::Reply(vec![items::message(text)])
    }

    /// An `exec_command` shell tool call running `cmd`.
    pub fn shell(cmd: impl Into<String>) -> Step {
        Step::Reply(vec![items::shell(cmd)])
    }

    /// An `apply_patch` call with `patch` in Codex's patch format
    /// (`*** Begin Patch` … `*** End Patch`).
    pub fn patch(patch: impl Into<String>) -> Step {
        Step::Reply(vec![items::patch(patch)])
    }

    /// An `update_plan` call; each entry is `(step text, status)` with status
    /// `pending`, `in_progress` or `completed`.
    pub fn plan(entries: &[(&str, &str)]) -> Step {
        Step::Reply(vec![items::plan(entries)])
    }

    /// One of `steps` in turn, see [`Step::Rotate`].
    pub fn rotate(steps: Vec<Step>) -> Step {
        Step::Rotate(steps, Arc::new(AtomicUsize::new(0)))
    }

    /// This step, played after `delay`.
    pub fn delayed(self, delay: Duration) -> Step {
        Step::Delayed(delay, Box::new(self))
    }
}

/// Output items for [`Step::Reply`]. Tool calls are built without a `call_id`; the server gives
/// each a unique one when it sends it.
pub mod items {
    use serde_json::{Value, json};

    /// An assistant message with one `output_text` part.
    pub fn message(text: impl Into<String>) -> Value {
        json!({
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text.into()}],
        })
    }

    /// A reasoning item with one summary part (Codex shows it as a `reasoning` item).
    pub fn reasoning(text: impl Into<String>) -> Value {
        json!({
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": text.into()}],
        })
    }

    /// An `exec_command` function call running `cmd` without a login shell.
    pub fn shell(cmd: impl Into<String>) -> Value {
        let arguments = json!({"cmd": cmd.into(), "login": false}).to_string();
        json!({"type": "function_call", "name": "exec_command", "arguments": arguments})
    }

    /// An `apply_patch` freeform tool call.
    pub fn patch(patch: impl Into<String>) -> Value {
        json!({"type": "custom_tool_call", "name": "apply_patch", "input": patch.into()})
    }

    /// An `update_plan` function call; each entry is `(step text, status)`.
    pub fn plan(entries: &[(&str, &str)]) -> Value {
        let plan: Vec<Value> = entries
            .iter()
            .map(|(step, status)| json!({"step": step, "status": status}))
            .collect();
        let arguments = json!({ "plan": plan }).to_string();
        json!({"type": "function_call", "name": "update_plan", "arguments": arguments})
    }
}

/// One request the server received, as recorded by [`MockModelServer::requests`].
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Request target, e.g. `/v1/responses`.
    pub path: String,
    /// Text of the last user message in `input` (empty when there is none or the request
    /// was not a Responses API call).
    pub prompt: String,
    /// Tag of the scenario that answered, if one matched.
    pub tag: Option<String>,
    /// Step index computed for the request (see the module docs).
    pub step: Option<usize>,
    /// The JSON body (`Value::Null` when it was not JSON).
    pub body: Value,
    /// The request's headers, names in lower case.
    pub headers: HashMap<String, String>,
}

/// A running mock model server; see the module docs. Dropping it stops the server.
pub struct MockModelServer {
    addr: SocketAddr,
    state: Arc<State>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for MockModelServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockModelServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl MockModelServer {
    /// Starts a server playing `scenarios`. Usable from a plain `#[test]`: the server runs on
    /// its own thread and runtime, and needs no runtime from the caller.
    pub fn start_blocking(scenarios: Vec<Scenario>) -> anyhow::Result<MockModelServer> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
            .context("mock model server: bind 127.0.0.1:0")?;
        listener
            .set_nonblocking(true)
            .context("mock model server: set_nonblocking")?;
        let addr = listener
            .local_addr()
            .context("mock model server: local_addr")?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("mock model server: build tokio runtime")?;
        let state = Arc::new(State {
            scenarios,
            log: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            hanging: AtomicUsize::new(0),
        });
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let thread_state = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name(format!("mock-model-server-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(err) => {
                            eprintln!("mock model server: cannot register listener: {err}");
                            return;
                        }
                    };
                    tokio::select! {
                        _ = shutdown_rx => {}
                        _ = accept_loop(listener, thread_state) => {}
                    }
                });
                // Dropping the runtime here cancels every connection task.
            })
            .context("mock model server: spawn thread")?;
        Ok(MockModelServer {
            addr,
            state,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        })
    }

    /// Same as [`MockModelServer::start_blocking`], for async callers. The server still runs
    /// on its own thread, independent of the caller's runtime.
    pub async fn start(scenarios: Vec<Scenario>) -> anyhow::Result<MockModelServer> {
        Self::start_blocking(scenarios)
    }

    /// The socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The provider `base_url` for Codex, `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Number of Responses API requests (`POST …/responses`) received so far, whatever the
    /// answer.
    pub fn request_count(&self) -> usize {
        self.state
            .log()
            .iter()
            .filter(|r| is_responses_request(&r.method, &r.path))
            .count()
    }

    /// Number of requests answered by the scenario with this tag.
    pub fn requests_for(&self, tag: &str) -> usize {
        self.state
            .log()
            .iter()
            .filter(|r| r.tag.as_deref() == Some(tag))
            .count()
    }

    /// Every request received so far (any path), oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.log().clone()
    }

    /// Number of connections currently held open by a [`Step::Hang`] (a connection the
    /// client closed no longer counts).
    pub fn hanging(&self) -> usize {
        self.state.hanging.load(Ordering::SeqCst)
    }
}

impl Drop for MockModelServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// State shared by the server thread and the [`MockModelServer`] handle.
struct State {
    scenarios: Vec<Scenario>,
    log: Mutex<Vec<RecordedRequest>>,
    next_id: AtomicU64,
    hanging: AtomicUsize,
}

impl State {
    fn log(&self) -> MutexGuard<'_, Vec<RecordedRequest>> {
        // A panic while holding the lock cannot leave the Vec inconsistent.
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let state = Arc::clone(&state);
                tokio::spawn(async move {
                    // Errors only mean the client went away.
                    let _ = serve_connection(stream, state).await;
                });
            }
            Err(err) => {
                // E.g. EMFILE: back off instead of spinning.
                eprintln!("mock model server: accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// A parsed HTTP/1.1 request.
struct Request {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    fn wants_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// What to do with a request.
enum Action {
    /// Send this complete HTTP response.
    Respond(Vec<u8>),
    /// Wait, then do the inner action.
    Delay(Duration, Box<Action>),
    /// Never answer.
    Hang,
    /// Send these bytes (the start of a response), then never send more.
    SendThenHang(Vec<u8>),
}

/// A buffered HTTP connection.
struct Connection {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Connection {
    /// Reads more bytes into the buffer; `Ok(false)` on end of stream.
    async fn fill(&mut self) -> io::Result<bool> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }

    /// Removes and returns the first `n` buffered bytes, reading as needed.
    async fn take(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if !self.fill().await? {
                return Err(unexpected_eof());
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Removes and returns bytes up to and including the first `delimiter`, reading as
    /// needed; `Ok(None)` on a clean end of stream before any byte.
    async fn take_until(&mut self, delimiter: &[u8], limit: usize) -> io::Result<Option<Vec<u8>>> {
        let mut searched = 0;
        loop {
            if let Some(pos) = find(&self.buf[searched..], delimiter) {
                let end = searched + pos + delimiter.len();
                return Ok(Some(self.buf.drain(..end).collect()));
            }
            searched = self.buf.len().saturating_sub(delimiter.len() - 1);
            if self.buf.len() > limit {
                return Err(invalid_data("request head too large"));
            }
            if !self.fill().await? {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(unexpected_eof())
                };
            }
        }
    }

    /// Reads the next request; `Ok(None)` when the client closed the connection.
    async fn read_request(&mut self) -> io::Result<Option<Request>> {
        let Some(head) = self.take_until(b"\r\n\r\n", MAX_HEAD_BYTES).await? else {
            return Ok(None);
        };
        let head = String::from_utf8(head).map_err(|_| invalid_data("request head not UTF-8"))?;
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default();
        let mut parts = request_line.split_whitespace();
        let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
            return Err(invalid_data("bad request line"));
        };
        let mut headers = HashMap::new();
        for line in lines.filter(|l| !l.is_empty()) {
            let Some((name, value)) = line.split_once(':') else {
                return Err(invalid_data("bad header line"));
            };
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
        let mut request = Request {
            method: method.to_string(),
            path: path.to_string(),
            headers,
            body: Vec::new(),
        };
        if request
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        {
            self.stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await?;
        }
        let chunked = request
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        if chunked {
            request.body = self.read_chunked_body().await?;
        } else if let Some(len) = request.header("content-length") {
            let len: usize = len
                .parse()
                .map_err(|_| invalid_data("bad content-length"))?;
            if len > MAX_BODY_BYTES {
                return Err(invalid_data("request body too large"));
            }
            request.body = self.take(len).await?;
        }
        Ok(Some(request))
    }

    async fn read_chunked_body(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line = self
                .take_until(b"\r\n", MAX_HEAD_BYTES)
                .await?
                .ok_or_else(unexpected_eof)?;
            let line = std::str::from_utf8(&line).map_err(|_| invalid_data("bad chunk size"))?;
            let size = line.trim_end().split(';').next().unwrap_or_default().trim();
            let size =
                usize::from_str_radix(size, 16).map_err(|_| invalid_data("bad chunk size"))?;
            if size == 0 {
                // Trailers, if any, end with an empty line.
                loop {
                    let trailer = self
                        .take_until(b"\r\n", MAX_HEAD_BYTES)
                        .await?
                        .ok_or_else(unexpected_eof)?;
                    if trailer == b"\r\n" {
                        return Ok(body);
                    }
                }
            }
            if body.len() + size > MAX_BODY_BYTES {
                return Err(invalid_data("request body too large"));
            }
            body.extend(self.take(size).await?);
            if self.take(2).await? != b"\r\n" {
                return Err(invalid_data("bad chunk terminator"));
            }
        }
    }

    /// Holds the connection without answering until the client closes it.
    async fn hang(&mut self, state: &State) {
        state.hanging.fetch_add(1, Ordering::SeqCst);
        while let Ok(true) = self.fill().await {
            // Discard whatever the client sends; it gets no answer.
            self.buf.clear();
        }
        state.hanging.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn serve_connection(stream: TcpStream, state: Arc<State>) -> io::Result<()> {
    let mut conn = Connection {
        stream,
        buf: Vec::new(),
    };
    while let Some(request) = conn.read_request().await? {
        let close = request.wants_close();
        let mut action = handle(&request, &state);
        loop {
            match action {
                Action::Respond(bytes) => {
                    conn.stream.write_all(&bytes).await?;
                    conn.stream.flush().await?;
                    break;
                }
                Action::Delay(delay, next) => {
                    tokio::time::sleep(delay).await;
                    action = *next;
                }
                Action::Hang => {
                    conn.hang(&state).await;
                    return Ok(());
                }
                Action::SendThenHang(bytes) => {
                    conn.stream.write_all(&bytes).await?;
                    conn.stream.flush().await?;
                    conn.hang(&state).await;
                    return Ok(());
                }
            }
        }
        if close {
            break;
        }
    }
    Ok(())
}

fn is_responses_request(method: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap_or_default();
    method == "POST" && path.trim_end_matches('/').ends_with("/responses")
}

/// Decides the answer to one request and records it.
fn handle(request: &Request, state: &State) -> Action {
    let mut record = RecordedRequest {
        method: request.method.clone(),
        path: request.path.clone(),
        prompt: String::new(),
        tag: None,
        step: None,
        body: serde_json::from_slice(&request.body).unwrap_or(Value::Null),
        headers: request.headers.clone(),
    };
    let action = decide(request, state, &mut record);
    state.log().push(record);
    action
}

fn decide(request: &Request, state: &State, record: &mut RecordedRequest) -> Action {
    if !is_responses_request(&request.method, &request.path) {
        return Action::Respond(http_response(
            404,
            &format!(
                "mock: no route for {} {} (only POST /v1/responses)",
                request.method, request.path
            ),
        ));
    }
    if let Some(encoding) = request
        .header("content-encoding")
        .filter(|e| !e.eq_ignore_ascii_case("identity"))
    {
        return Action::Respond(http_response(
            415,
            &format!("mock: unsupported request content-encoding {encoding:?}"),
        ));
    }
    if record.body.is_null() {
        return Action::Respond(http_response(400, "mock: request body is not JSON"));
    }
    let input = record
        .body
        .get("input")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let (prompt, step) = prompt_and_step(input);
    record.prompt = prompt;
    record.step = Some(step);
    let Some(scenario) = state
        .scenarios
        .iter()
        .find(|s| record.prompt.contains(&s.tag))
    else {
        return Action::Respond(http_response(
            400,
            &format!("mock: no scenario matches prompt {:?}", record.prompt),
        ));
    };
    record.tag = Some(scenario.tag.clone());
    match scenario.steps.get(step) {
        Some(step) => step_action(step, state),
        None => step_action(
            &Step::message(format!(
                "mock: scenario {} has no step {step}",
                scenario.tag
            )),
            state,
        ),
    }
}

fn step_action(step: &Step, state: &State) -> Action {
    match step {
        Step::Reply(items) => {
            let response_id = format!("resp_mock_{}", state.next_id());
            let mut events = vec![json!({
                "type": "response.created",
                "response": {"id": response_id},
            })];
            for item in items {
                events.push(json!({
                    "type": "response.output_item.done",
                    "item": with_ids(item, state),
                }));
            }
            events.push(json!({
                "type": "response.completed",
                "response": {"id": response_id, "usage": usage_json()},
            }));
            Action::Respond(sse_response(&events))
        }
        Step::HttpError(status, body) => Action::Respond(http_response(*status, body)),
        Step::StreamFailed(message) => {
            let response_id = format!("resp_mock_{}", state.next_id());
            let events = [
                json!({"type": "response.created", "response": {"id": response_id}}),
                json!({
                    "type": "response.failed",
                    "response": {
                        "id": response_id,
                        "error": {"code": "server_error", "message": message},
                    },
                }),
            ];
            Action::Respond(sse_response(&events))
        }
        Step::Hang => Action::Hang,
        Step::HangMidStream(items) => {
            let response_id = format!("resp_mock_{}", state.next_id());
            let mut head = String::from(
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                 cache-control: no-cache\r\nconnection: close\r\n\r\n",
            );
            let created = json!({"type": "response.created", "response": {"id": response_id}});
            head.push_str(&format!("event: response.created\ndata: {created}\n\n"));
            for item in items {
                let event = json!({
                    "type": "response.output_item.done",
                    "item": with_ids(item, state),
                });
                head.push_str(&format!(
                    "event: response.output_item.done\ndata: {event}\n\n"
                ));
            }
            Action::SendThenHang(head.into_bytes())
        }
        Step::Delayed(delay, inner) => Action::Delay(*delay, Box::new(step_action(inner, state))),
        Step::Rotate(steps, next) if !steps.is_empty() => {
            let at = next.fetch_add(1, Ordering::SeqCst) % steps.len();
            step_action(&steps[at], state)
        }
        Step::Rotate(..) => Action::Respond(http_response(400, "mock: an empty Step::Rotate")),
    }
}

/// The prompt (text of the last user message) and the step index (runs of tool outputs after
/// it) of a request's `input`.
fn prompt_and_step(input: &[Value]) -> (String, usize) {
    let last_user = input.iter().rposition(|item| {
        item.get("role").and_then(Value::as_str) == Some("user")
            && item
                .get("type")
                .and_then(Value::as_str)
                .is_none_or(|t| t == "message")
    });
    let Some(last_user) = last_user else {
        return (String::new(), 0);
    };
    let prompt = message_text(&input[last_user]);
    let mut step = 0;
    let mut in_outputs = false;
    for item in &input[last_user + 1..] {
        let is_output = matches!(
            item.get("type").and_then(Value::as_str),
            Some("function_call_output" | "custom_tool_call_output")
        );
        if is_output && !in_outputs {
            step += 1;
        }
        in_outputs = is_output;
    }
    (prompt, step)
}

/// The text parts of a message item, joined with newlines.
fn message_text(message: &Value) -> String {
    match message.get("content") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// `item` with a unique `call_id` (tool calls) or `id` (messages, reasoning) if it has none.
fn with_ids(item: &Value, state: &State) -> Value {
    let mut item = item.clone();
    let kind = item.get("type").and_then(Value::as_str).unwrap_or_default();
    let (key, prefix) = match kind {
        "function_call" | "custom_tool_call" | "local_shell_call" => ("call_id", "call_mock"),
        "message" => ("id", "msg_mock"),
        "reasoning" => ("id", "rs_mock"),
        _ => return item,
    };
    if let Some(object) = item.as_object_mut()
        && !object.contains_key(key)
    {
        object.insert(key.into(), json!(format!("{prefix}_{}", state.next_id())));
    }
    item
}

fn usage_json() -> Value {
    let u = MOCK_USAGE;
    json!({
        "input_tokens": u.input_tokens,
        "input_tokens_details": {"cached_tokens": u.cached_input_tokens},
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_output_tokens},
        "total_tokens": u.total_tokens,
    })
}

fn sse_response(events: &[Value]) -> Vec<u8> {
    let mut body = String::new();
    for event in events {
        let kind = event
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("message");
        body.push_str(&format!("event: {kind}\ndata: {event}\n\n"));
    }
    response_bytes(200, "text/event-stream", body.as_bytes())
}

fn http_response(status: u16, body: &str) -> Vec<u8> {
    let content_type = if serde_json::from_str::<Value>(body).is_ok() {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    response_bytes(status, content_type, body.as_bytes())
}

fn response_bytes(status: u16, content_type: &str, body: &[u8]) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Mock Status",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncache-control: no-cache\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn unexpected_eof() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "connection closed mid-request",
    )
}

fn invalid_data(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(text: &str) -> Value {
        json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
    }

    fn output(kind: &str) -> Value {
        json!({"type": kind, "call_id": "c", "output": "x"})
    }

    #[test]
    fn step_counts_runs_of_outputs_after_last_user_message() {
        let call = json!({"type": "function_call", "call_id": "c"});
        let input = vec![
            user("old [t]"),
            call.clone(),
            output("function_call_output"),
            user("new [t]"),
            call.clone(),
            call.clone(),
            output("function_call_output"),
            output("custom_tool_call_output"),
            call,
            output("function_call_output"),
        ];
        assert_eq!(prompt_and_step(&input), ("new [t]".to_string(), 2));
        assert_eq!(prompt_and_step(&input[..4]), ("new [t]".to_string(), 0));
        assert_eq!(prompt_and_step(&[]), (String::new(), 0));
    }
}
