//! Client side of the newline-delimited JSON-RPC transport: jsonrpsee's async client over
//! a Unix socket, one JSON message per line.

use interprocess::local_socket::tokio::Stream;
use interprocess::local_socket::traits::tokio::Stream as _;
use interprocess::local_socket::{GenericFilePath, ToFsName};
use jsonrpsee::core::client::{ReceivedMessage, TransportReceiverT, TransportSenderT};
use std::io;
use std::path::Path;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, ReadHalf, WriteHalf};

/// Writes one message per line.
pub struct Sender {
    inner: WriteHalf<Stream>,
}

/// Reads one message per line.
pub struct Receiver {
    inner: BufReader<ReadHalf<Stream>>,
    line: String,
}

/// Connects to the socket and returns the two halves of the transport.
pub async fn connect(socket: &Path) -> io::Result<(Sender, Receiver)> {
    let name = socket.to_fs_name::<GenericFilePath>()?;
    let stream = Stream::connect(name).await?;
    let (read, write) = tokio::io::split(stream);
    Ok((
        Sender { inner: write },
        Receiver {
            inner: BufReader::with_capacity(64 * 1024, read),
            line: String::new(),
        },
    ))
}

impl TransportSenderT for Sender {
    type Error = io::Error;

    async fn send(&mut self, msg: String) -> Result<(), Self::Error> {
        let mut bytes = msg.into_bytes();
        bytes.push(b'\n');
        self.inner.write_all(&bytes).await?;
        self.inner.flush().await
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.inner.shutdown().await
    }
}

impl TransportReceiverT for Receiver {
    type Error = io::Error;

    async fn receive(&mut self) -> Result<ReceivedMessage, Self::Error> {
        loop {
            self.line.clear();
            let n = self.inner.read_line(&mut self.line).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "codexd closed the connection",
                ));
            }
            let text = self.line.trim();
            if let Some(refused) = connection_error(text) {
                return Err(io::Error::other(refused));
            }
            if !text.is_empty() {
                return Ok(ReceivedMessage::Text(text.to_string()));
            }
        }
    }
}

/// A typed error the daemon sent for the connection itself (id null: another uid, too many
/// connections) before closing it. jsonrpsee would only say that no call has id null.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConnectionRefused(pub codexd_api::ApiError);

fn connection_error(text: &str) -> Option<ConnectionRefused> {
    if !text.starts_with('{') || !text.contains("\"error\"") {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    if !value.get("id")?.is_null() {
        return None;
    }
    let object: jsonrpsee::types::ErrorObjectOwned =
        serde_json::from_value(value.get("error")?.clone()).ok()?;
    Some(ConnectionRefused(codexd_api::ApiError::from_error_object(
        &object,
    )))
}

/// The typed error inside a jsonrpsee transport failure caused by [`ConnectionRefused`].
pub(crate) fn refused(err: &jsonrpsee::core::ClientError) -> Option<codexd_api::ApiError> {
    let jsonrpsee::core::ClientError::RestartNeeded(inner) = err else {
        return None;
    };
    let jsonrpsee::core::ClientError::Transport(source) = &**inner else {
        return None;
    };
    let io = source.downcast_ref::<io::Error>()?;
    let refused = io.get_ref()?.downcast_ref::<ConnectionRefused>()?;
    Some(refused.0.clone())
}

#[cfg(test)]
mod tests {
    use crate::{Client, ClientError};
    use codexd_api::ErrorKind;

    /// A daemon that refuses a connection (overloaded, another uid) sends one typed error
    /// with id null and closes: the caller gets that error, not "request ID=null is not a
    /// pending call" or "restart required".
    #[tokio::test]
    async fn a_refused_connection_reports_the_daemons_reason() {
        let dir =
            std::env::temp_dir().join(format!("codexd-client-refused-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("t.sock");
        let _ = std::fs::remove_file(&socket);
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let server = std::thread::spawn(move || {
            use std::io::Write;
            let (mut stream, _) = listener.accept().unwrap();
            let line = r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32006,"message":"codexd is overloaded: it already serves 1024 connections; try again shortly","data":{"kind":"overloaded"}}}"#;
            stream.write_all(format!("{line}\n").as_bytes()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(200));
        });
        let client = Client::connect(&socket).await.unwrap();
        let err = client.version().await.unwrap_err();
        server.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        match err {
            ClientError::Api(api) => {
                assert_eq!(api.kind, ErrorKind::Overloaded);
                assert!(api.message.starts_with("codexd is overloaded"), "{api}");
            }
            other => panic!("not the daemon's reason: {other}"),
        }
    }
}

#[cfg(test)]
mod retry_tests {
    use crate::{Client, ConnectOptions};
    use codexd_api::StartRequest;
    use std::io::{BufRead, BufReader, Write};

    /// Issue #14, item 11: a start whose connection is lost before the reply is sent again
    /// with the same idempotency key (so the daemon returns the task the first one created
    /// instead of running a second). The "daemon" here reads the first call and hangs up, then
    /// answers the second; both must carry the same `request_id`.
    #[tokio::test]
    async fn a_start_that_lost_its_connection_is_retried_with_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("t.sock");
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let server = std::thread::spawn(move || {
            let mut keys = Vec::new();
            for attempt in 0..2 {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let call: serde_json::Value = serde_json::from_str(&line).unwrap();
                assert_eq!(call["method"], "codexd_start");
                keys.push(
                    call["params"][0]["request_id"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                );
                if attempt == 0 {
                    // The daemon went away mid-call: no reply.
                    drop(stream);
                    continue;
                }
                let task = serde_json::json!({
                    "id": "abcd1234", "state": "queued", "prompt": "p", "cwd": "/",
                    "config": [], "env_keys": [], "created_at": "2026-01-01T00:00:00.000Z",
                    "log_bytes": 0, "transitions": []
                });
                let reply = serde_json::json!({"jsonrpc": "2.0", "id": call["id"], "result": task});
                let mut stream = stream;
                stream.write_all(format!("{reply}\n").as_bytes()).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            keys
        });
        let mut options = ConnectOptions::new(Some(socket));
        options.autostart = false;
        let request = StartRequest {
            prompt: "p".into(),
            cwd: "/".into(),
            ..Default::default()
        };
        let task = Client::start_keyed(&options, request).await.unwrap();
        assert_eq!(task.id.as_str(), "abcd1234");
        let keys = server.join().unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0], keys[1], "the retry carries the first call's key");
        assert!(!keys[0].is_empty());
    }
}
