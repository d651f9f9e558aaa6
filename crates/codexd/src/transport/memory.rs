//! Tests of the memory bounds across a whole connection, over a real Unix socket served by
//! [`super::serve`]: the calls in a batch, the bytes of a batch's reply, and the bytes of
//! frames in progress over all connections. After each, the connection (and the daemon)
//! goes on serving.

use super::{Limits, serve};
use interprocess::local_socket::tokio::Listener;
use interprocess::local_socket::{GenericFilePath, ListenerOptions, ToFsName};
use jsonrpsee::core::server::Methods;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

/// A module with `echo` (its params back) and `list`, which answers with `n` bytes of
/// filler, like a page of tasks.
fn methods() -> Methods {
    let mut module = jsonrpsee::RpcModule::new(());
    module
        .register_method("echo", |params, _, _| params.parse::<Value>())
        .unwrap();
    module
        .register_async_method("list", |params, _, _| async move {
            let n: usize = params.one()?;
            Ok::<_, jsonrpsee::types::ErrorObjectOwned>("x".repeat(n))
        })
        .unwrap();
    module.into()
}

/// A daemon's transport on a fresh socket, serving until the test ends.
struct Server {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    _stop: tokio::sync::oneshot::Sender<()>,
}

fn listen(socket: &Path) -> Listener {
    ListenerOptions::new()
        .name(socket.to_fs_name::<GenericFilePath>().unwrap())
        .create_tokio()
        .unwrap()
}

fn start(limits: Limits) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("t.sock");
    let listener = listen(&socket);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        serve(listener, methods(), limits, async {
            let _ = stopped.await;
        })
        .await;
    });
    Server {
        _dir: dir,
        socket,
        _stop: stop,
    }
}

/// One client connection: send lines, read reply lines.
struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Client {
    async fn connect(server: &Server) -> Client {
        let (read, writer) = UnixStream::connect(&server.socket)
            .await
            .unwrap()
            .into_split();
        Client {
            reader: BufReader::new(read),
            writer,
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.unwrap();
    }

    /// The next reply line, parsed, and its size in bytes.
    async fn reply(&mut self) -> (Value, usize) {
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(20), self.reader.read_line(&mut line))
            .await
            .expect("a reply in time")
            .unwrap();
        (
            serde_json::from_str(&line).expect("a JSON reply"),
            line.len(),
        )
    }

    /// `echo` answers on this connection.
    async fn still_served(&mut self, id: u64) {
        let call = json!({"jsonrpc": "2.0", "id": id, "method": "echo", "params": ["ok"]});
        self.send(format!("{call}\n").as_bytes()).await;
        let (reply, _) = self.reply().await;
        assert_eq!(reply["id"], id, "{reply}");
        assert_eq!(reply["result"], json!(["ok"]), "{reply}");
    }
}

fn batch(calls: impl Iterator<Item = Value>) -> Vec<u8> {
    let mut line = serde_json::to_vec(&calls.collect::<Vec<_>>()).unwrap();
    line.push(b'\n');
    line
}

/// A batch of more calls than the limit is refused whole, with a typed error naming the
/// limit; one at the limit runs.
#[tokio::test]
async fn a_batch_over_the_call_limit_is_refused_whole() {
    let server = start(Limits::default());
    let mut client = Client::connect(&server).await;
    let limit = codexd_api::MAX_BATCH_CALLS;
    // The issue's case: 5,000 `list` calls in one line.
    let calls =
        (0..5000).map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "list", "params": [100]}));
    client.send(&batch(calls)).await;
    let (reply, size) = client.reply().await;
    assert_eq!(reply["error"]["data"]["kind"], "batch_too_large", "{reply}");
    assert_eq!(reply["error"]["code"], -32010);
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("limit of {limit} calls")),
        "{message}"
    );
    assert!(
        size < 1024,
        "one short error, not 5,000 replies: {size} bytes"
    );
    client.still_served(1).await;
    let calls =
        (0..limit).map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "echo", "params": [i]}));
    client.send(&batch(calls)).await;
    let (reply, _) = client.reply().await;
    assert_eq!(reply.as_array().map(Vec::len), Some(limit), "{reply}");
}

/// A batch whose reply would pass the reply budget gets one typed error naming the limit,
/// and its later calls are not run; a smaller one is answered whole.
#[tokio::test]
async fn a_batch_reply_over_the_budget_is_one_typed_error() {
    let limits = Limits {
        max_batch_reply_bytes: 64 * 1024,
        ..Limits::default()
    };
    let server = start(limits);
    let mut client = Client::connect(&server).await;
    // 100 calls of 10 KiB each: 1 MB of reply against a 64 KiB budget.
    let calls = (0..100)
        .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "list", "params": [10 * 1024]}));
    client.send(&batch(calls)).await;
    let (reply, size) = client.reply().await;
    assert_eq!(reply["error"]["data"]["kind"], "reply_too_large", "{reply}");
    assert_eq!(reply["error"]["code"], -32011);
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains("limit of 65536 bytes"), "{message}");
    assert!(message.contains("of its 100 calls were run"), "{message}");
    assert!(size < 1024, "{size}");
    // One call that alone is larger than the budget is cut off the same way.
    let calls = (0..2)
        .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "list", "params": [100 * 1024]}));
    client.send(&batch(calls)).await;
    let (reply, _) = client.reply().await;
    assert_eq!(reply["error"]["data"]["kind"], "reply_too_large", "{reply}");
    client.still_served(1).await;
    // Within the budget the reply is whole.
    let calls =
        (0..4).map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "list", "params": [10 * 1024]}));
    client.send(&batch(calls)).await;
    let (reply, size) = client.reply().await;
    assert_eq!(reply.as_array().map(Vec::len), Some(4), "{reply}");
    assert!(size < 64 * 1024, "{size}");
}

/// Frames in progress share one budget over all connections: while one connection holds
/// most of it with an unfinished frame, another's large frame is answered `overloaded` and
/// skipped (its connection goes on, small frames still fit); once the first frame is done
/// its bytes are given back.
#[tokio::test]
async fn frames_in_progress_share_one_budget_across_connections() {
    let budget = 1024 * 1024;
    let limits = Limits {
        max_frames_bytes: budget,
        ..Limits::default()
    };
    let server = start(limits);
    let mut holder = Client::connect(&server).await;
    let mut other = Client::connect(&server).await;
    // 900 KiB of a frame, unfinished.
    let pad = "y".repeat(900 * 1024);
    let head = format!(r#"{{"jsonrpc":"2.0","id":7,"method":"echo","params":["{pad}"#);
    holder.send(head.as_bytes()).await;
    // Let the daemon read it all (it is charged as it arrives).
    tokio::time::sleep(Duration::from_millis(300)).await;
    // 200 KiB more on another connection do not fit.
    let big =
        json!({"jsonrpc": "2.0", "id": 8, "method": "echo", "params": ["z".repeat(200 * 1024)]});
    other.send(format!("{big}\n").as_bytes()).await;
    let (reply, _) = other.reply().await;
    assert_eq!(reply["error"]["data"]["kind"], "overloaded", "{reply}");
    assert_eq!(reply["error"]["code"], -32006);
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains("1 MiB"), "{message}");
    // The rest of that line was skipped: the next frame is read as its own.
    other.still_served(9).await;
    // The first frame ends and is answered; its bytes go back to the budget.
    holder.send(b"\"]}\n").await;
    let (reply, size) = holder.reply().await;
    assert_eq!(reply["id"], 7, "{}", &reply.to_string()[..200]);
    assert!(size > 900 * 1024);
    other.send(format!("{big}\n").as_bytes()).await;
    let (reply, _) = other.reply().await;
    assert_eq!(reply["id"], 8, "fits once the first frame is done");
    holder.still_served(10).await;
}
