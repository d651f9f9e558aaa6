//! The local transport: newline-delimited JSON-RPC 2.0 over a Unix socket.
//!
//! jsonrpsee has no IPC transport, so this module drives its `RpcModule` directly: each
//! connection gets its own id and subscription budget, one message per line in each
//! direction, and its subscriptions end when it disconnects. Peers with another uid are
//! refused; frames over the size limit get an error and the rest of the line is skipped.

use interprocess::local_socket::tokio::{Listener, Stream};
use interprocess::local_socket::traits::StreamCommon as _;
use interprocess::local_socket::traits::tokio::Listener as _;
use jsonrpsee::core::server::{
    BoundedSubscriptions, ConnectionId, MethodCallback, MethodResponse, MethodSink, Methods,
    SubscriptionState,
};
use jsonrpsee::types::error::ErrorCode;
use jsonrpsee::types::{ErrorObject, ErrorObjectOwned, Id, Params, Request};
use serde_json::value::RawValue;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, ReadHalf, WriteHalf};
use tokio::sync::{Semaphore, mpsc};

/// Limits applied to every connection.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request line, in bytes.
    pub max_frame_bytes: usize,
    /// Largest response, in bytes.
    pub max_response_bytes: usize,
    /// Subscriptions one connection may hold.
    pub max_subscriptions: u32,
    /// Connections served at once.
    pub max_connections: usize,
    /// Outgoing messages buffered per connection before the connection is throttled.
    pub send_buffer: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: codexd_api::MAX_FRAME_BYTES,
            max_response_bytes: 64 * 1024 * 1024,
            max_subscriptions: 1024,
            max_connections: 1024,
            send_buffer: 1024,
        }
    }
}

/// Accepts connections until `shutdown` resolves.
pub async fn serve(
    listener: Listener,
    methods: Methods,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let uid = codexd_api::paths::current_uid();
    let next_id = AtomicUsize::new(1);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let limits = Arc::new(limits);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(stream) => stream,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        match peer_uid(&stream) {
            Some(peer) if peer == uid => {}
            other => {
                tracing::warn!(peer_uid = ?other, "refused a connection from another user");
                continue;
            }
        }
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!(
                "refused a connection: {} connections open",
                limits.max_connections
            );
            continue;
        };
        let conn_id = ConnectionId(next_id.fetch_add(1, Ordering::Relaxed));
        let methods = methods.clone();
        let limits = limits.clone();
        tokio::spawn(async move {
            serve_connection(stream, conn_id, methods, &limits).await;
            drop(permit);
        });
    }
}

fn peer_uid(stream: &Stream) -> Option<u32> {
    let creds = stream.peer_creds().ok()?;
    creds.euid()
}

/// Serves one connection until the peer closes it.
async fn serve_connection(
    stream: Stream,
    conn_id: ConnectionId,
    methods: Methods,
    limits: &Limits,
) {
    let (recv, send) = tokio::io::split(stream);
    let (tx, rx) = mpsc::channel::<Box<RawValue>>(limits.send_buffer);
    let writer = tokio::spawn(write_loop(send, rx));
    let subscriptions = BoundedSubscriptions::new(limits.max_subscriptions);
    let mut reader = BufReader::with_capacity(64 * 1024, recv);
    let mut line = Vec::new();
    loop {
        line.clear();
        match read_frame(&mut reader, &mut line, limits.max_frame_bytes).await {
            Ok(Frame::Eof) => break,
            Ok(Frame::TooLarge) => {
                let err = ErrorObject::owned(
                    ErrorCode::OversizedRequest.code(),
                    format!("request line over {} bytes", limits.max_frame_bytes),
                    None::<()>,
                );
                let _ = tx
                    .send(MethodResponse::error(Id::Null, err).into_json())
                    .await;
            }
            Ok(Frame::Line) => {
                dispatch_line(&line, conn_id, &methods, &tx, &subscriptions, limits).await;
            }
            Err(e) => {
                tracing::debug!(?conn_id, "connection read error: {e}");
                break;
            }
        }
    }
    // Dropping the last sender ends the writer; open subscriptions see the sink closed.
    drop(tx);
    let _ = writer.await;
}

enum Frame {
    Line,
    TooLarge,
    Eof,
}

/// Reads one newline-terminated frame into `buf` (without the newline). A frame longer than
/// `max` is consumed and discarded.
async fn read_frame(
    reader: &mut BufReader<ReadHalf<Stream>>,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Frame> {
    let mut too_large = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(if buf.is_empty() && !too_large {
                Frame::Eof
            } else if too_large {
                Frame::TooLarge
            } else {
                Frame::Line
            });
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(pos) => (&available[..pos], Some(pos + 1)),
            None => (available, None),
        };
        if !too_large {
            if buf.len() + chunk.len() > max {
                too_large = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        let consumed = done.unwrap_or(available.len());
        reader.consume(consumed);
        if done.is_some() {
            return Ok(if too_large {
                Frame::TooLarge
            } else {
                Frame::Line
            });
        }
    }
}

async fn write_loop(mut send: WriteHalf<Stream>, mut rx: mpsc::Receiver<Box<RawValue>>) {
    while let Some(msg) = rx.recv().await {
        let mut bytes = Vec::with_capacity(msg.get().len() + 1);
        bytes.extend_from_slice(msg.get().as_bytes());
        bytes.push(b'\n');
        if send.write_all(&bytes).await.is_err() {
            return;
        }
    }
}

/// Handles one line: a request, a batch, or a notification.
async fn dispatch_line(
    line: &[u8],
    conn_id: ConnectionId,
    methods: &Methods,
    tx: &mpsc::Sender<Box<RawValue>>,
    subscriptions: &BoundedSubscriptions,
    limits: &Limits,
) {
    let Ok(text) = std::str::from_utf8(line) else {
        let err = ErrorObject::owned(
            ErrorCode::ParseError.code(),
            "request is not valid UTF-8",
            None::<()>,
        );
        let _ = tx
            .send(MethodResponse::error(Id::Null, err).into_json())
            .await;
        return;
    };
    let text = text.trim();
    if text.is_empty() {
        return;
    }
    if text.starts_with('[') {
        let response = dispatch_batch(text, conn_id, methods, limits).await;
        if let Some(response) = response {
            let _ = tx.send(response).await;
        }
        return;
    }
    match serde_json::from_str::<Request>(text) {
        Ok(request) => dispatch_request(request, conn_id, methods, tx, subscriptions, limits).await,
        Err(_) => {
            if let Some(response) = invalid_request_response(text) {
                let _ = tx.send(response).await;
            }
        }
    }
}

/// The response for a line that is not a valid request: nothing for a notification, a parse
/// error for non-JSON, an invalid-request error otherwise.
fn invalid_request_response(text: &str) -> Option<Box<RawValue>> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Err(e) => {
            let err = ErrorObject::owned(
                ErrorCode::ParseError.code(),
                format!("request is not JSON: {e}"),
                None::<()>,
            );
            Some(MethodResponse::error(Id::Null, err).into_json())
        }
        Ok(value) => {
            let is_notification =
                value.get("method").is_some_and(|m| m.is_string()) && value.get("id").is_none();
            if is_notification {
                return None;
            }
            let id = match value.get("id") {
                Some(serde_json::Value::Number(n)) => {
                    n.as_u64().map(Id::Number).unwrap_or(Id::Null)
                }
                Some(serde_json::Value::String(s)) => Id::Str(s.clone().into()),
                _ => Id::Null,
            };
            let err = ErrorObject::owned(
                ErrorCode::InvalidRequest.code(),
                "invalid JSON-RPC 2.0 request (needs \"jsonrpc\":\"2.0\", a string \"method\" and an \"id\")",
                None::<()>,
            );
            Some(MethodResponse::error(id, err).into_json())
        }
    }
}

/// Runs one request. Method calls run on their own task (a slow `wait` must not hold up the
/// connection); responses go to the connection's writer.
async fn dispatch_request(
    request: Request<'_>,
    conn_id: ConnectionId,
    methods: &Methods,
    tx: &mpsc::Sender<Box<RawValue>>,
    subscriptions: &BoundedSubscriptions,
    limits: &Limits,
) {
    let Request {
        id, method, params, ..
    } = request;
    let id = id.into_owned();
    let params = Params::new(params.as_ref().map(|p| p.get())).into_owned();
    let max_response = limits.max_response_bytes;
    let Some((_, callback)) = methods.method_with_name(&method) else {
        let err = ErrorObject::owned(
            ErrorCode::MethodNotFound.code(),
            format!("unknown method {method:?}"),
            None::<()>,
        );
        let _ = tx.send(MethodResponse::error(id, err).into_json()).await;
        return;
    };
    match callback.clone() {
        MethodCallback::Sync(cb) => {
            let response = cb(id, params, max_response, Default::default());
            send_response(tx, response).await;
        }
        MethodCallback::Unsubscription(cb) => {
            let response = cb(id, params, conn_id, max_response, Default::default());
            send_response(tx, response).await;
        }
        MethodCallback::Async(cb) => {
            let tx = tx.clone();
            tokio::spawn(async move {
                let response = cb(id, params, conn_id, max_response, Default::default()).await;
                send_response(&tx, response).await;
            });
        }
        MethodCallback::Subscription(cb) => {
            let Some(permit) = subscriptions.acquire() else {
                let err = ErrorObject::owned(
                    ErrorCode::ServerError(-32010).code(),
                    format!(
                        "too many subscriptions on this connection (limit {})",
                        limits.max_subscriptions
                    ),
                    None::<()>,
                );
                let _ = tx.send(MethodResponse::error(id, err).into_json()).await;
                return;
            };
            // The handler writes its own response (accept or reject) to the sink. If it
            // drops the pending sink without either, nothing was written: forward its
            // fallback response so the client is never left waiting.
            let (sub_tx, mut sub_rx) = mpsc::channel::<Box<RawValue>>(limits.send_buffer);
            let sink = MethodSink::new_with_limit(sub_tx, max_response as u32);
            let state = SubscriptionState {
                conn_id,
                id_provider: &jsonrpsee::core::id_providers::RandomIntegerIdProvider,
                subscription_permit: permit,
            };
            let response_future = cb(id, params, sink, state, Default::default());
            let tx = tx.clone();
            tokio::spawn(async move {
                let response = response_future.await;
                match sub_rx.try_recv() {
                    Ok(first) => {
                        if tx.send(first).await.is_err() {
                            return;
                        }
                        let (_, notify, _) = response.into_parts();
                        if let Some(notify) = notify {
                            notify.notify(true);
                        }
                    }
                    Err(_) => {
                        send_response(&tx, response).await;
                    }
                }
                while let Some(msg) = sub_rx.recv().await {
                    if tx.send(msg).await.is_err() {
                        return;
                    }
                }
            });
        }
    }
}

async fn send_response(tx: &mpsc::Sender<Box<RawValue>>, response: MethodResponse) {
    let success = response.is_success();
    let (json, notify, _) = response.into_parts();
    let sent = tx.send(json).await.is_ok();
    if let Some(notify) = notify {
        notify.notify(sent && success);
    }
}

/// Runs a batch: each call in order (subscriptions are not allowed in batches), one array
/// of responses.
async fn dispatch_batch(
    text: &str,
    conn_id: ConnectionId,
    methods: &Methods,
    limits: &Limits,
) -> Option<Box<RawValue>> {
    let calls: Vec<&RawValue> = match serde_json::from_str(text) {
        Ok(calls) => calls,
        Err(e) => {
            let err = ErrorObject::owned(
                ErrorCode::ParseError.code(),
                format!("batch is not JSON: {e}"),
                None::<()>,
            );
            return Some(MethodResponse::error(Id::Null, err).into_json());
        }
    };
    if calls.is_empty() {
        let err = ErrorObject::owned(ErrorCode::InvalidRequest.code(), "empty batch", None::<()>);
        return Some(MethodResponse::error(Id::Null, err).into_json());
    }
    let mut responses: Vec<Box<RawValue>> = Vec::new();
    for call in calls {
        let response = match serde_json::from_str::<Request>(call.get()) {
            Ok(request) => {
                let Request {
                    id, method, params, ..
                } = request;
                let params = Params::new(params.as_ref().map(|p| p.get()));
                match methods.method_with_name(&method).map(|(_, cb)| cb) {
                    None => Some(
                        MethodResponse::error(id, ErrorObject::from(ErrorCode::MethodNotFound))
                            .into_json(),
                    ),
                    Some(MethodCallback::Sync(cb)) => Some(
                        cb(id, params, limits.max_response_bytes, Default::default()).into_json(),
                    ),
                    Some(MethodCallback::Async(cb)) => Some(
                        cb(
                            id.into_owned(),
                            params.into_owned(),
                            conn_id,
                            limits.max_response_bytes,
                            Default::default(),
                        )
                        .await
                        .into_json(),
                    ),
                    Some(_) => {
                        let err: ErrorObjectOwned = ErrorObject::owned(
                            ErrorCode::InvalidRequest.code(),
                            "subscriptions are not allowed in a batch",
                            None::<()>,
                        );
                        Some(MethodResponse::error(id, err).into_json())
                    }
                }
            }
            Err(_) => invalid_request_response(call.get()),
        };
        responses.extend(response);
    }
    if responses.is_empty() {
        return None;
    }
    let joined = format!(
        "[{}]",
        responses
            .iter()
            .map(|r| r.get())
            .collect::<Vec<_>>()
            .join(",")
    );
    RawValue::from_string(joined).ok()
}
