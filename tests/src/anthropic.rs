//! A scripted loopback stand-in for Anthropic's Messages API, for driving the real Claude
//! Code CLI offline (`ANTHROPIC_BASE_URL=`[`AnthropicServer::base_url`]).
//!
//! It listens on `127.0.0.1` (a random port) and speaks just enough HTTP/1.1 for Claude Code
//! 2.1.197: keep-alive connections, `content-length` request bodies, `HEAD /` (Claude Code's
//! connectivity check) answered 200, and `POST /v1/messages` (with `?beta=true`) answered with
//! a streamed (SSE) message: `message_start`, per block `content_block_start` /
//! `content_block_delta` (`text_delta`, or `input_json_delta` for a `tool_use`) /
//! `content_block_stop`, then `message_delta` with the `stop_reason` (`tool_use` when the
//! turn calls a tool, else `end_turn`) and `message_stop`. Other requests get a 404.
//!
//! # Scripting
//! The test gives a responder: a closure from the [`Request`] received to the [`Turn`] to
//! answer, e.g. "if the last message is a tool result of `codex_start`, call `codex_wait`".
//! [`Request`] has helpers for that (the last tool result and the tool it answers, the text
//! of the last user message, the tools offered). Every request is recorded, headers and
//! body, so tests can assert on what Claude Code sent ([`AnthropicServer::requests`]).
//!
//! The server runs on its own threads (one per connection) and works from a plain `#[test]`;
//! dropping it stops accepting connections.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Largest request body accepted (Claude Code's first request is about 90 KB).
const MAX_BODY: usize = 32 << 20;

/// One block of a scripted assistant message.
#[derive(Debug, Clone)]
pub enum Block {
    /// Text.
    Text(String),
    /// A tool call: the tool's name (as Claude Code offered it) and its input.
    ToolUse {
        /// The tool's name, e.g. `mcp__plugin_codexd_codex__codex_start`.
        name: String,
        /// The input object.
        input: Value,
    },
}

/// One scripted assistant message (one response).
#[derive(Debug, Clone, Default)]
pub struct Turn {
    /// The content blocks, in order.
    pub blocks: Vec<Block>,
}

impl Turn {
    /// A message of text only (`end_turn`).
    pub fn text(text: impl Into<String>) -> Turn {
        Turn {
            blocks: vec![Block::Text(text.into())],
        }
    }

    /// A message calling one tool (`tool_use`).
    pub fn tool(name: impl Into<String>, input: Value) -> Turn {
        Turn {
            blocks: vec![Block::ToolUse {
                name: name.into(),
                input,
            }],
        }
    }

    /// Adds a text block before the others.
    pub fn with_text(mut self, text: impl Into<String>) -> Turn {
        self.blocks.insert(0, Block::Text(text.into()));
        self
    }

    fn stop_reason(&self) -> &'static str {
        if self
            .blocks
            .iter()
            .any(|b| matches!(b, Block::ToolUse { .. }))
        {
            "tool_use"
        } else {
            "end_turn"
        }
    }
}

/// A tool result found in a request: the tool it answers and its text content.
#[derive(Debug, Clone)]
pub struct ToolResult {
    /// The tool's name (from the matching `tool_use` in an earlier assistant message).
    pub name: String,
    /// The `tool_use` id.
    pub tool_use_id: String,
    /// The result's text (text blocks joined by newlines).
    pub text: String,
    /// The result's `is_error`.
    pub is_error: bool,
}

impl ToolResult {
    /// The text parsed as JSON (the codexd tools reply with JSON text).
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.text).ok()
    }
}

/// One request received.
#[derive(Debug, Clone)]
pub struct Request {
    /// Method and path, e.g. `POST /v1/messages?beta=true`.
    pub method: String,
    /// The path with its query.
    pub path: String,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The JSON body (`Null` when there is none or it is not JSON).
    pub body: Value,
}

impl Request {
    /// A header's value (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON text, for substring assertions.
    pub fn body_text(&self) -> String {
        self.body.to_string()
    }

    /// The names of the tools offered.
    pub fn tool_names(&self) -> Vec<String> {
        self.body["tools"]
            .as_array()
            .map(|tools| {
                tools
                    .iter()
                    .filter_map(|t| t["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The name of the offered tool ending in `suffix` (e.g. `__codex_start`).
    pub fn tool_named(&self, suffix: &str) -> Option<String> {
        self.tool_names().into_iter().find(|n| n.ends_with(suffix))
    }

    /// The conversation's messages.
    pub fn messages(&self) -> &[Value] {
        self.body["messages"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// True for a conversation request (it offers tools), false for side requests such as a
    /// session title.
    pub fn is_conversation(&self) -> bool {
        !self.tool_names().is_empty()
    }

    /// Every tool result in the conversation, oldest first.
    pub fn tool_results(&self) -> Vec<ToolResult> {
        let mut names = std::collections::HashMap::new();
        let mut results = Vec::new();
        for message in self.messages() {
            let Some(blocks) = message["content"].as_array() else {
                continue;
            };
            for block in blocks {
                match block["type"].as_str() {
                    Some("tool_use") => {
                        names.insert(
                            block["id"].as_str().unwrap_or_default().to_string(),
                            block["name"].as_str().unwrap_or_default().to_string(),
                        );
                    }
                    Some("tool_result") => {
                        let id = block["tool_use_id"].as_str().unwrap_or_default();
                        results.push(ToolResult {
                            name: names.get(id).cloned().unwrap_or_default(),
                            tool_use_id: id.to_string(),
                            text: content_text(&block["content"]),
                            is_error: block["is_error"].as_bool().unwrap_or(false),
                        });
                    }
                    _ => {}
                }
            }
        }
        results
    }

    /// The tool result in the last message, if the last message carries one (system-role
    /// messages that Claude Code appends after it, e.g. reminders, are skipped).
    pub fn last_tool_result(&self) -> Option<ToolResult> {
        let last = self
            .messages()
            .iter()
            .rev()
            .find(|m| m["role"] != "system")?;
        let ids: Vec<&str> = last["content"]
            .as_array()?
            .iter()
            .filter(|b| b["type"] == "tool_result")
            .filter_map(|b| b["tool_use_id"].as_str())
            .collect();
        let id = *ids.last()?;
        self.tool_results()
            .into_iter()
            .rev()
            .find(|r| r.tool_use_id == id)
    }

    /// The first `user` message as JSON text: what a slash command expanded to (its text,
    /// with the output of its `!` lines), whatever shape Claude Code gives its content.
    pub fn first_user_message(&self) -> String {
        self.messages()
            .iter()
            .find(|m| m["role"] == "user")
            .map(|m| m.to_string())
            .unwrap_or_default()
    }

    /// The text of the last `user` message (its text blocks, joined by newlines).
    pub fn last_user_text(&self) -> String {
        self.messages()
            .iter()
            .rev()
            .find(|m| m["role"] == "user")
            .map(|m| content_text(&m["content"]))
            .unwrap_or_default()
    }
}

/// The text of a message or tool-result `content`: a string, or text blocks.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

type Responder = dyn Fn(&Request) -> Turn + Send + Sync;

struct Shared {
    responder: Box<Responder>,
    requests: Mutex<Vec<Request>>,
    next_id: AtomicU64,
    stopped: AtomicBool,
}

/// The running stand-in; see the module docs. Dropping it stops it.
pub struct AnthropicServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl AnthropicServer {
    /// Starts a server answering each `POST /v1/messages` with `responder(request)`.
    pub fn start(
        responder: impl Fn(&Request) -> Turn + Send + Sync + 'static,
    ) -> std::io::Result<AnthropicServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            responder: Box::new(responder),
            requests: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            stopped: AtomicBool::new(false),
        });
        let accept_shared = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_shared.stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = Arc::clone(&accept_shared);
                std::thread::spawn(move || {
                    let _ = serve(stream, &shared);
                });
            }
        });
        Ok(AnthropicServer { addr, shared })
    }

    /// `http://127.0.0.1:PORT`, for `ANTHROPIC_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far (all methods), oldest first.
    pub fn requests(&self) -> Vec<Request> {
        self.shared
            .requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// The `POST /v1/messages` requests that offered tools (the conversation's), oldest first.
    pub fn conversation(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.is_conversation())
            .collect()
    }
}

impl Drop for AnthropicServer {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Serves one connection until it closes (keep-alive).
fn serve(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(300)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        if shared.stopped.load(Ordering::SeqCst) {
            return Ok(());
        }
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 {
                return Ok(());
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
            }
        }
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        if length > MAX_BODY {
            return Ok(());
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let request = Request {
            method: method.clone(),
            path: path.clone(),
            headers,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        };
        if let Ok(mut log) = shared.requests.lock() {
            log.push(request.clone());
        }
        let is_messages = method == "POST" && path.split('?').next() == Some("/v1/messages");
        if is_messages {
            let turn = (shared.responder)(&request);
            let model = request.body["model"].as_str().unwrap_or("claude-test");
            let sse = render_sse(&turn, model, &shared.next_id);
            write!(
                writer,
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\
                 request-id: req_test\r\ncontent-length: {}\r\n\r\n",
                sse.len()
            )?;
            writer.write_all(sse.as_bytes())?;
        } else if method == "HEAD" || (method == "GET" && path == "/") {
            writer.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")?;
        } else {
            let body =
                br#"{"type":"error","error":{"type":"not_found_error","message":"not here"}}"#;
            write!(
                writer,
                "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )?;
            writer.write_all(body)?;
        }
        writer.flush()?;
    }
}

/// The SSE stream of one message.
pub fn render_sse(turn: &Turn, model: &str, next_id: &AtomicU64) -> String {
    let mut out = String::new();
    let mut event = |name: &str, data: Value| {
        out.push_str(&format!("event: {name}\ndata: {data}\n\n"));
    };
    let n = next_id.fetch_add(1, Ordering::SeqCst);
    event(
        "message_start",
        json!({"type": "message_start", "message": {
            "id": format!("msg_test_{n}"), "type": "message", "role": "assistant",
            "model": model, "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 100, "output_tokens": 1,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}}),
    );
    for (index, block) in turn.blocks.iter().enumerate() {
        match block {
            Block::Text(text) => {
                event(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": index,
                           "content_block": {"type": "text", "text": ""}}),
                );
                event(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": index,
                           "delta": {"type": "text_delta", "text": text}}),
                );
            }
            Block::ToolUse { name, input } => {
                let id = format!("toolu_test_{n}_{index}");
                event(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": index,
                           "content_block": {"type": "tool_use", "id": id, "name": name,
                                             "input": {}}}),
                );
                // Split the JSON in two deltas, as the real API streams it in pieces.
                let text = input.to_string();
                let mid = text
                    .char_indices()
                    .map(|(i, _)| i)
                    .nth(text.chars().count() / 2)
                    .unwrap_or(0);
                for part in [&text[..mid], &text[mid..]] {
                    event(
                        "content_block_delta",
                        json!({"type": "content_block_delta", "index": index,
                               "delta": {"type": "input_json_delta", "partial_json": part}}),
                    );
                }
            }
        }
        event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        );
    }
    event(
        "message_delta",
        json!({"type": "message_delta",
               "delta": {"stop_reason": turn.stop_reason(), "stop_sequence": null},
               "usage": {"output_tokens": 20}}),
    );
    event("message_stop", json!({"type": "message_stop"}));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_turn_streams_its_input_in_pieces_and_stops_for_the_tool() {
        let turn = Turn::tool("t", json!({"a": "ü", "b": [1, 2]})).with_text("hi");
        let sse = render_sse(&turn, "m", &AtomicU64::new(1));
        assert!(sse.contains("\"stop_reason\":\"tool_use\""), "{sse}");
        let mut json = String::new();
        for line in sse.lines().filter_map(|l| l.strip_prefix("data: ")) {
            let v: Value = serde_json::from_str(line).unwrap();
            if let Some(p) = v["delta"]["partial_json"].as_str() {
                json.push_str(p);
            }
        }
        assert_eq!(
            serde_json::from_str::<Value>(&json).unwrap(),
            json!({"a": "ü", "b": [1, 2]})
        );
        let text = render_sse(&Turn::text("x"), "m", &AtomicU64::new(1));
        assert!(text.contains("\"stop_reason\":\"end_turn\""));
    }

    #[test]
    fn tool_results_are_matched_to_their_tools() {
        let request = Request {
            method: "POST".into(),
            path: "/v1/messages".into(),
            headers: vec![],
            body: json!({"tools": [{"name": "x__codex_start"}], "messages": [
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "t1", "name": "x__codex_start", "input": {}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "t1",
                     "content": [{"type": "text", "text": "{\"task_id\":\"abc\"}"}]}]}
            ]}),
        };
        let last = request.last_tool_result().unwrap();
        assert_eq!(last.name, "x__codex_start");
        assert_eq!(last.json().unwrap()["task_id"], "abc");
        assert_eq!(
            request.tool_named("__codex_start").unwrap(),
            "x__codex_start"
        );
        assert!(request.is_conversation());
    }
}
