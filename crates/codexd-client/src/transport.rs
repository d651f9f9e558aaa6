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
            if !text.is_empty() {
                return Ok(ReceivedMessage::Text(text.to_string()));
            }
        }
    }
}
