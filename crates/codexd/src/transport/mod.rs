//! The local transport: newline-delimited JSON-RPC 2.0 over a Unix socket.
//!
//! jsonrpsee has no IPC transport, so this module drives its `RpcModule` directly: each
//! connection gets its own id and subscription budget, one message per line in each
//! direction, and its subscriptions end when it disconnects. Peers with another uid are
//! refused; frames over the size limit get an error and the rest of the line is skipped.
//!
//! Bounds on what a peer can hold: connections are capped; a connection with nothing in
//! flight (no call, no subscription) is closed after the idle timeout; a frame must keep
//! arriving (each stall timeout, or each MiB, whichever is later) and a response must be
//! taken by the peer within the stall timeout.

pub mod instance;
pub mod systemd;

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
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
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
    /// Outgoing bytes buffered per connection before it is throttled (a message larger
    /// than this still goes, alone).
    pub send_buffer_bytes: usize,
    /// A connection with no call in flight and no subscription is closed after this long
    /// without a message.
    pub idle_timeout: Duration,
    /// A started frame must be complete, and a response written, within this long.
    pub stall_timeout: Duration,
}

impl Limits {
    /// The stall bound: never longer than the idle timeout.
    fn stall(&self) -> Duration {
        self.stall_timeout.min(self.idle_timeout)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: codexd_api::MAX_FRAME_BYTES,
            max_response_bytes: 64 * 1024 * 1024,
            max_subscriptions: 1024,
            max_connections: 1024,
            send_buffer: 1024,
            send_buffer_bytes: 4 * 1024 * 1024,
            idle_timeout: Duration::from_secs(600),
            stall_timeout: Duration::from_secs(30),
        }
    }
}

/// Messages a subscription may have waiting for the connection's outbox: the handler
/// waits beyond that, so a fast producer is paced by the peer.
const SUBSCRIPTION_BUFFER: usize = 16;

/// One message queued for the peer, with the share of the byte budget it holds until it
/// is written.
struct Outgoing {
    message: Box<RawValue>,
    _budget: tokio::sync::OwnedSemaphorePermit,
}

/// A connection's queue of outgoing messages, bounded in messages and in bytes (KiB
/// permits of one semaphore), so that a peer that reads slowly holds at most a few MiB of
/// the daemon's memory however large the messages are.
#[derive(Clone)]
struct Outbox {
    queue: mpsc::Sender<Outgoing>,
    budget: Arc<Semaphore>,
    budget_kib: u32,
}

impl Outbox {
    /// An outbox within `limits` and the receiving end for the writer.
    fn new(limits: &Limits) -> (Outbox, mpsc::Receiver<Outgoing>) {
        let (queue, rx) = mpsc::channel(limits.send_buffer);
        let budget_kib = u32::try_from(limits.send_buffer_bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, Semaphore::MAX_PERMITS as u32);
        let outbox = Outbox {
            queue,
            budget: Arc::new(Semaphore::new(budget_kib as usize)),
            budget_kib,
        };
        (outbox, rx)
    }

    /// Queues `message`, waiting for room; `Err` once the writer is gone.
    async fn send(&self, message: Box<RawValue>) -> Result<(), ()> {
        let kib = u32::try_from(message.get().len().div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, self.budget_kib);
        let budget = self
            .budget
            .clone()
            .acquire_many_owned(kib)
            .await
            .map_err(|_| ())?;
        self.queue
            .send(Outgoing {
                message,
                _budget: budget,
            })
            .await
            .map_err(|_| ())
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
            tokio::spawn(refuse_overloaded(stream, limits.max_connections));
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

/// Tells a peer over the connection limit why it is turned away (one error line, given a
/// second to be taken), then closes its connection.
async fn refuse_overloaded(mut stream: Stream, limit: usize) {
    let err: ErrorObjectOwned = codexd_api::ApiError::new(
        codexd_api::ErrorKind::Overloaded,
        format!("codexd already serves {limit} connections; try again shortly"),
    )
    .into();
    let mut line = MethodResponse::error(Id::Null, err)
        .into_json()
        .get()
        .as_bytes()
        .to_vec();
    line.push(b'\n');
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(&line)).await;
}

fn peer_uid(stream: &Stream) -> Option<u32> {
    let creds = stream.peer_creds().ok()?;
    creds.euid()
}

/// What a connection is doing, shared by its reader, writer and in-flight calls.
struct Activity {
    /// When the connection was opened.
    epoch: Instant,
    /// Milliseconds since `epoch` of the last message in either direction.
    last_ms: AtomicU64,
    /// Calls and subscriptions in flight.
    in_flight: AtomicUsize,
}

impl Activity {
    fn new() -> Arc<Activity> {
        Arc::new(Activity {
            epoch: Instant::now(),
            last_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        })
    }

    /// Records a message now.
    fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// When the connection becomes idle-closable if nothing happens before.
    fn idle_deadline(&self, idle: Duration) -> Instant {
        self.epoch + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)) + idle
    }

    /// Marks a call or subscription as in flight until the guard is dropped.
    fn busy(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }
}

/// A call or subscription in flight (see [`Activity::busy`]).
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// Waits until the peer has sent at least one byte (true) or closed (false), or until the
/// connection has been idle for `idle` with nothing in flight (`Err`).
async fn wait_for_input(
    reader: &mut BufReader<ReadHalf<Stream>>,
    activity: &Activity,
    idle: Duration,
) -> Result<std::io::Result<bool>, ()> {
    loop {
        // While a call or subscription is in flight the connection is not idle, whatever
        // the time since its last message: look again a whole period later (a deadline in
        // the past would make this loop spin).
        let now = Instant::now();
        let deadline = match activity.idle_deadline(idle) {
            at if at > now => at,
            _ => now + idle,
        };
        match tokio::time::timeout_at(deadline.into(), reader.fill_buf()).await {
            Ok(read) => return Ok(read.map(|bytes| !bytes.is_empty())),
            Err(_) => {
                let idle_now = activity.in_flight.load(Ordering::Relaxed) == 0
                    && activity.idle_deadline(idle) <= Instant::now();
                if idle_now {
                    return Err(());
                }
            }
        }
    }
}

/// Serves one connection until the peer closes it, stalls, or stays idle too long.
async fn serve_connection(
    stream: Stream,
    conn_id: ConnectionId,
    methods: Methods,
    limits: &Limits,
) {
    let (recv, send) = tokio::io::split(stream);
    let (tx, rx) = Outbox::new(limits);
    let activity = Activity::new();
    let mut writer = tokio::spawn(write_loop(send, rx, activity.clone(), limits.stall()));
    let subscriptions = BoundedSubscriptions::new(limits.max_subscriptions);
    let mut reader = BufReader::with_capacity(16 * 1024, recv);
    let mut line = Vec::new();
    loop {
        line.clear();
        let input = tokio::select! {
            // The writer ends only when the peer stopped taking responses.
            _ = &mut writer => {
                tracing::info!(?conn_id, "closed a connection whose peer stopped reading");
                return;
            }
            input = wait_for_input(&mut reader, &activity, limits.idle_timeout) => input,
        };
        match input {
            Err(()) => {
                tracing::debug!(?conn_id, "closed an idle connection");
                break;
            }
            Ok(Ok(false)) => break,
            Ok(Ok(true)) => {}
            Ok(Err(e)) => {
                tracing::debug!(?conn_id, "connection read error: {e}");
                break;
            }
        }
        let frame = read_frame(
            &mut reader,
            &mut line,
            limits.max_frame_bytes,
            limits.stall(),
        )
        .await;
        activity.touch();
        match frame {
            Ok(Frame::Stalled) => {
                tracing::info!(?conn_id, "closed a connection that stalled mid-frame");
                break;
            }
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
                let busy = activity.busy();
                dispatch_line(&line, conn_id, &methods, &tx, &subscriptions, limits, busy).await;
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

#[derive(Debug, Clone, PartialEq)]
enum Frame {
    Line,
    TooLarge,
    Eof,
    /// The frame stopped coming (see [`read_frame`]).
    Stalled,
}

/// A frame in progress earns another stall period with every this many bytes that arrive.
const FRAME_PROGRESS_BYTES: u64 = 1024 * 1024;

/// Reads one newline-terminated frame into `buf` (without the newline). A frame longer than
/// `max` is consumed and discarded. A frame must keep coming: it has `stall` to arrive, and
/// `stall` more whenever another [`FRAME_PROGRESS_BYTES`] of it have, so that a peer that
/// stops mid-frame is let go while a huge frame sent through a busy machine is only slow.
async fn read_frame(
    reader: &mut (impl tokio::io::AsyncBufRead + Unpin),
    buf: &mut Vec<u8>,
    max: usize,
    stall: Duration,
) -> std::io::Result<Frame> {
    let mut too_large = false;
    let mut deadline = tokio::time::Instant::now() + stall;
    let (mut received, mut credited) = (0u64, 0u64);
    loop {
        let Ok(filled) = tokio::time::timeout_at(deadline, reader.fill_buf()).await else {
            return Ok(Frame::Stalled);
        };
        let available = filled?;
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
        received += consumed as u64;
        if received - credited >= FRAME_PROGRESS_BYTES {
            credited = received;
            deadline = tokio::time::Instant::now() + stall;
        }
        if done.is_some() {
            return Ok(if too_large {
                Frame::TooLarge
            } else {
                Frame::Line
            });
        }
    }
}

/// Writes outgoing messages, one per line, until the connection ends or the peer stops
/// taking them for `stall`.
async fn write_loop(
    mut send: WriteHalf<Stream>,
    mut rx: mpsc::Receiver<Outgoing>,
    activity: Arc<Activity>,
    stall: Duration,
) {
    while let Some(outgoing) = rx.recv().await {
        let msg = &outgoing.message;
        let mut bytes = Vec::with_capacity(msg.get().len() + 1);
        bytes.extend_from_slice(msg.get().as_bytes());
        bytes.push(b'\n');
        match tokio::time::timeout(stall, send.write_all(&bytes)).await {
            Ok(Ok(())) => activity.touch(),
            Ok(Err(_)) | Err(_) => return,
        }
        // Dropping `outgoing` gives its bytes back to the budget.
    }
}

/// Handles one line: a request, a batch, or a notification.
async fn dispatch_line(
    line: &[u8],
    conn_id: ConnectionId,
    methods: &Methods,
    tx: &Outbox,
    subscriptions: &BoundedSubscriptions,
    limits: &Limits,
    busy: Busy,
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
        Ok(request) => {
            dispatch_request(request, conn_id, methods, tx, subscriptions, limits, busy).await
        }
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
/// connection); responses go to the connection's writer. `busy` marks the connection as
/// not idle until the call is answered or the subscription ends.
async fn dispatch_request(
    request: Request<'_>,
    conn_id: ConnectionId,
    methods: &Methods,
    tx: &Outbox,
    subscriptions: &BoundedSubscriptions,
    limits: &Limits,
    busy: Busy,
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
                drop(busy);
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
            let (sub_tx, mut sub_rx) = mpsc::channel::<Box<RawValue>>(SUBSCRIPTION_BUFFER);
            let sink = MethodSink::new_with_limit(sub_tx, max_response as u32);
            let state = SubscriptionState {
                conn_id,
                id_provider: &jsonrpsee::core::id_providers::RandomIntegerIdProvider,
                subscription_permit: permit,
            };
            let response_future = cb(id, params, sink, state, Default::default());
            let tx = tx.clone();
            tokio::spawn(async move {
                // The connection is busy for as long as the subscription lives.
                let _busy = busy;
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

async fn send_response(tx: &Outbox, response: MethodResponse) {
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

/// Generated-input tests ("fuzzing" with proptest) of the frame decoder and of request
/// dispatch. `cargo test` runs a short pass; for a long one:
///
/// ```sh
/// PROPTEST_CASES=200000 cargo test --release -p codexd --lib transport::fuzz
/// ```
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    /// Decodes `input` read through a buffer of `capacity` bytes, with frame limit `max`.
    fn decode(input: &[u8], capacity: usize, max: usize) -> Vec<(Frame, Vec<u8>)> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let mut reader = BufReader::with_capacity(capacity, input);
            let mut frames = Vec::new();
            loop {
                let mut buf = Vec::new();
                let frame = read_frame(&mut reader, &mut buf, max, Duration::from_secs(60))
                    .await
                    .expect("read");
                if frame == Frame::Eof {
                    return frames;
                }
                frames.push((frame, buf));
            }
        })
    }

    /// What `decode` must give: one frame per line; too-long lines flagged and emptied.
    fn expected(input: &[u8], max: usize) -> Vec<(Frame, Vec<u8>)> {
        let mut segments: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
        if input.is_empty() || input.ends_with(b"\n") {
            segments.pop();
        }
        segments
            .into_iter()
            .map(|seg| {
                if seg.len() > max {
                    (Frame::TooLarge, Vec::new())
                } else {
                    (Frame::Line, seg.to_vec())
                }
            })
            .collect()
    }

    /// A module with a sync method, an async one, and one that always fails.
    fn methods() -> Methods {
        let mut module = jsonrpsee::RpcModule::new(());
        module
            .register_method("echo", |params, _, _| params.parse::<serde_json::Value>())
            .expect("register echo");
        module
            .register_async_method("later", |params, _, _| async move {
                tokio::task::yield_now().await;
                params.one::<u64>()
            })
            .expect("register later");
        module
            .register_method("fails", |_, _, _| {
                Err::<(), _>(ErrorObject::owned(-32000, "always fails", None::<()>))
            })
            .expect("register fails");
        module.into()
    }

    /// Dispatches one line and returns every message written back.
    fn dispatch(line: &str) -> Vec<serde_json::Value> {
        let (out, answered) = dispatch_to(&methods(), line, Duration::from_secs(60));
        assert!(answered, "every call is answered");
        out
    }

    /// Dispatches one line to `methods`; returns the messages written back within `within`,
    /// and whether every call was answered by then.
    fn dispatch_to(
        methods: &Methods,
        line: &str,
        within: Duration,
    ) -> (Vec<serde_json::Value>, bool) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let limits = Limits {
                send_buffer: 64,
                ..Limits::default()
            };
            let (tx, mut rx) = Outbox::new(&limits);
            let subscriptions = BoundedSubscriptions::new(4);
            let activity = Activity::new();
            dispatch_line(
                line.as_bytes(),
                ConnectionId(1),
                methods,
                &tx,
                &subscriptions,
                &limits,
                activity.busy(),
            )
            .await;
            drop(tx);
            let mut out = Vec::new();
            let deadline = tokio::time::Instant::now() + within;
            while let Ok(Some(outgoing)) = tokio::time::timeout_at(deadline, rx.recv()).await {
                out.push(serde_json::from_str(outgoing.message.get()).expect("responses are JSON"));
            }
            let answered = activity.in_flight.load(Ordering::Relaxed) == 0;
            (out, answered)
        })
    }

    /// Cases per property: PROPTEST_CASES if set, else 256.
    fn long_run_cases() -> u32 {
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|cases| cases.parse().ok())
            .unwrap_or(256)
    }

    /// codexd's own API over a fresh state directory (no run ever starts), shared by the
    /// cases of one test run.
    fn codexd_methods() -> &'static Methods {
        static API: std::sync::OnceLock<(tempfile::TempDir, Methods)> = std::sync::OnceLock::new();
        let (_, methods) = API.get_or_init(|| {
            let state = tempfile::tempdir().expect("temp dir");
            let supervisor = crate::run::test_support::idle_supervisor(state.path());
            let service =
                crate::service::Service::new(supervisor, Arc::new(tokio::sync::Notify::new()));
            use codexd_api::rpc::CodexdApiServer as _;
            (state, service.into_rpc().into())
        });
        methods
    }

    /// Values that codexd's parameters take, right and wrong: ids, paths, states, numbers.
    fn api_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            json_value(),
            prop::sample::select(vec![
                "",
                "/",
                "/definitely/not/here",
                "relative/dir",
                "queued",
                "running",
                "succeeded",
                "nope",
                "workspace-write",
                "yolo",
                "a",
                "zzzzzzzz",
                "x=y",
                "=",
                "\u{0}",
                "ключ",
            ])
            .prop_map(serde_json::Value::from),
            "[a-z0-9]{1,8}".prop_map(serde_json::Value::from),
            any::<u64>().prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(2, 12, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map(
                    prop::sample::select(vec![
                        "prompt",
                        "cwd",
                        "sandbox",
                        "model",
                        "config",
                        "env",
                        "env_remove",
                        "timeout_ms",
                        "labels",
                        "task",
                        "limit",
                        "cursor",
                        "states",
                        "state",
                        "full",
                        "offset",
                        "max_bytes",
                        "older_than_ms",
                        "dry_run",
                        "ids",
                        "timeout_ms",
                        "thread_id",
                        "label",
                        "kill_tasks",
                    ])
                    .prop_map(String::from),
                    inner,
                    0..5,
                )
                .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
            ]
        })
    }

    /// Either a right value from `right` (three times in four) or any value.
    fn mostly(
        right: impl Strategy<Value = serde_json::Value> + 'static,
    ) -> impl Strategy<Value = serde_json::Value> {
        prop_oneof![3 => right.boxed(), 1 => api_value().boxed()]
    }

    /// A task id or prefix: short prefixes often name one task, or several.
    fn task_ref() -> impl Strategy<Value = serde_json::Value> {
        prop_oneof![
            "[a-z0-9]{1,2}".prop_map(serde_json::Value::from),
            "[a-z0-9]{8}".prop_map(serde_json::Value::from),
            Just(serde_json::Value::from("")),
        ]
    }

    fn text(options: &'static [&'static str]) -> impl Strategy<Value = serde_json::Value> {
        prop::sample::select(options).prop_map(serde_json::Value::from)
    }

    /// Calls shaped like real use: the right parameters, each sometimes wrong.
    fn shaped_call() -> impl Strategy<Value = serde_json::Value> {
        let start = (
            mostly(text(&["do x", "", "  ", "[ok] fix it", "ключ \u{0}"])),
            mostly(text(&[
                "/",
                "/definitely/not/here",
                "relative/dir",
                "/proc/self",
            ])),
            prop::option::of(mostly(text(&["read-only", "workspace-write", "yolo"]))),
            prop::option::of(mostly(
                prop::collection::vec(text(&["a=b", "=", "x", "model=\"m\""]), 0..3)
                    .prop_map(serde_json::Value::from),
            )),
            prop::option::of(mostly((0u64..100_000).prop_map(serde_json::Value::from))),
            prop::option::of(mostly(
                prop::collection::vec(text(&["l", "", "x y"]), 0..3)
                    .prop_map(serde_json::Value::from),
            )),
        )
            .prop_map(|(prompt, cwd, sandbox, config, timeout, labels)| {
                let mut request = serde_json::json!({"prompt": prompt, "cwd": cwd});
                for (key, value) in [
                    ("sandbox", sandbox),
                    ("config", config),
                    ("timeout_ms", timeout),
                    ("labels", labels),
                ] {
                    if let Some(value) = value {
                        request[key] = value;
                    }
                }
                ("codexd_start", serde_json::json!([request]))
            });
        let by_id = (
            prop::sample::select(vec!["codexd_get", "codexd_cancel", "codexd_result"]),
            mostly(task_ref()),
        )
            .prop_map(|(method, id)| (method, serde_json::json!([id])));
        let list = (
            prop::option::of(mostly(
                prop::collection::vec(text(&["queued", "running", "cancelled", "nope"]), 0..3)
                    .prop_map(serde_json::Value::from),
            )),
            prop::option::of(mostly((0u32..3000).prop_map(serde_json::Value::from))),
            prop::option::of(mostly(text(&["00", "zz", "0000000000000001"]))),
        )
            .prop_map(|(states, limit, cursor)| {
                let mut query = serde_json::json!({});
                for (key, value) in [("states", states), ("limit", limit), ("cursor", cursor)] {
                    if let Some(value) = value {
                        query[key] = value;
                    }
                }
                ("codexd_list", serde_json::json!([query]))
            });
        let wait = (
            prop::collection::vec(task_ref(), 0..3),
            mostly((0u64..50).prop_map(serde_json::Value::from)),
        )
            .prop_map(|(ids, timeout)| ("codexd_wait", serde_json::json!([ids, timeout])));
        let read_log = (
            mostly(task_ref()),
            mostly((0u64..1000).prop_map(serde_json::Value::from)),
            prop::option::of(mostly(text(&["events", "stderr", "x"]))),
        )
            .prop_map(|(id, offset, stream)| {
                (
                    "codexd_read_log",
                    serde_json::json!([id, offset, null, stream]),
                )
            });
        let prune = (
            mostly((0u64..10).prop_map(serde_json::Value::from)),
            mostly(any::<bool>().prop_map(serde_json::Value::from)),
        )
            .prop_map(|(age, dry)| ("codexd_prune", serde_json::json!([age, dry])));
        (
            prop_oneof![
                3 => start.boxed(),
                2 => by_id.boxed(),
                1 => list.boxed(),
                1 => wait.boxed(),
                1 => read_log.boxed(),
                1 => prune.boxed()
            ],
            any::<u32>(),
        )
            .prop_map(|((method, params), id)| {
                serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
            })
    }

    /// Calls of codexd's real methods with generated parameters.
    fn api_call() -> impl Strategy<Value = serde_json::Value> {
        prop_oneof![1 => generic_call().boxed(), 2 => shaped_call().boxed()]
    }

    /// Calls of codexd's real methods with any parameters.
    fn generic_call() -> impl Strategy<Value = serde_json::Value> {
        (
            prop::sample::select(vec![
                "codexd_version",
                "codexd_start",
                "codexd_get",
                "codexd_list",
                "codexd_cancel",
                "codexd_result",
                "codexd_resume",
                "codexd_wait",
                "codexd_read_log",
                "codexd_watch",
                "codexd_unwatch",
                "codexd_prune",
            ]),
            prop::option::of(prop_oneof![
                prop::collection::vec(api_value(), 0..4).prop_map(serde_json::Value::from),
                api_value(),
            ]),
            any::<u32>(),
        )
            .prop_map(|(method, params, id)| {
                let mut call = serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method});
                if let Some(params) = params {
                    call["params"] = params;
                }
                call
            })
    }

    /// A JSON value for ids and params, including wrong types.
    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<u32>().prop_map(serde_json::Value::from),
            "[a-z0-9\\\\\"]{0,8}".prop_map(serde_json::Value::from),
            prop::collection::vec(any::<u32>(), 0..3).prop_map(serde_json::Value::from),
            Just(serde_json::json!({"k": [1, "x"]})),
        ]
    }

    /// Requests that are almost right: every field may be missing or of the wrong kind.
    fn request() -> impl Strategy<Value = serde_json::Value> {
        (
            prop::option::of(prop_oneof![Just("2.0".into()), json_value()]),
            prop::option::of(prop_oneof![
                Just(serde_json::Value::from("echo")),
                Just(serde_json::Value::from("later")),
                Just(serde_json::Value::from("fails")),
                Just(serde_json::Value::from("codexd_nope")),
                json_value(),
            ]),
            prop::option::of(json_value()),
            prop::option::of(json_value()),
        )
            .prop_map(|(version, method, id, params)| {
                let mut map = serde_json::Map::new();
                if let Some(v) = version {
                    map.insert("jsonrpc".into(), v);
                }
                if let Some(m) = method {
                    map.insert("method".into(), m);
                }
                if let Some(i) = id {
                    map.insert("id".into(), i);
                }
                if let Some(p) = params {
                    map.insert("params".into(), p);
                }
                serde_json::Value::Object(map)
            })
    }

    /// True for a well-formed call that must get exactly one response with its id.
    fn is_valid_call(request: &serde_json::Value) -> bool {
        request.get("jsonrpc") == Some(&serde_json::Value::from("2.0"))
            && request.get("method").is_some_and(|m| m.is_string())
            && request
                .get("id")
                .is_some_and(|id| id.is_u64() || id.is_string())
            && request
                .get("params")
                .is_none_or(|p| p.is_array() || p.is_object() || p.is_null())
    }

    /// Checks one JSON-RPC response object.
    fn assert_response(response: &serde_json::Value) {
        assert_eq!(response["jsonrpc"], "2.0", "{response}");
        let has_result = response.get("result").is_some();
        let has_error = response.get("error").is_some();
        assert!(has_result != has_error, "result xor error: {response}");
        if has_error {
            assert!(response["error"]["code"].is_i64(), "{response}");
            assert!(response["error"]["message"].is_string(), "{response}");
        }
    }

    proptest! {
        // 256 cases by default; PROPTEST_CASES sets more for a long run (a `cases` given
        // here outright would override it).
        #![proptest_config(ProptestConfig { cases: long_run_cases(), ..ProptestConfig::default() })]

        #[test]
        fn frames_are_lines_and_long_ones_are_flagged(
            input in prop::collection::vec(prop_oneof![3 => any::<u8>(), 1 => Just(b'\n')], 0..600),
            capacity in 1usize..64,
            max in 0usize..80,
        ) {
            prop_assert_eq!(decode(&input, capacity, max), expected(&input, max));
        }

        #[test]
        fn arbitrary_bytes_get_at_most_one_error_and_never_a_panic(line in ".{0,200}") {
            let out = dispatch(&line);
            prop_assert!(out.len() <= 1);
            for response in &out {
                assert_response(response);
            }
        }

        #[test]
        fn near_miss_requests_get_exactly_the_right_answers(request in request()) {
            let out = dispatch(&request.to_string());
            if is_valid_call(&request) {
                prop_assert_eq!(out.len(), 1, "{} -> {:?}", request, out);
                prop_assert_eq!(&out[0]["id"], &request["id"]);
            }
            let is_notification = request.get("id").is_none()
                && request.get("method").is_some_and(|m| m.is_string());
            if is_notification {
                prop_assert!(out.is_empty(), "{} -> {:?}", request, out);
            }
            prop_assert!(out.len() <= 1);
            for response in &out {
                assert_response(response);
            }
        }

        #[test]
        fn codexd_methods_answer_generated_params_with_typed_results_or_errors(
            call in api_call(),
        ) {
            let method = call["method"].as_str().unwrap_or_default().to_string();
            let (out, answered) =
                dispatch_to(codexd_methods(), &call.to_string(), Duration::from_secs(1));
            // `wait` and `watch` on a real task may rightly go on; everything else answers.
            if !matches!(method.as_str(), "codexd_wait" | "codexd_watch") {
                prop_assert!(answered, "{} got no answer", call);
            }
            if answered {
                prop_assert!(!out.is_empty(), "{} answered nothing", call);
            }
            for response in &out {
                assert_response(response);
                if let Some(error) = response.get("error") {
                    let code = error["code"].as_i64().unwrap_or_default();
                    // jsonrpsee's own codes, or one of codexd's typed kinds.
                    prop_assert!(
                        (-32700..=-32600).contains(&code) || (-32010..=-32001).contains(&code),
                        "{} -> {}", call, response
                    );
                    prop_assert!(code != -32603, "an internal error: {} -> {}", call, response);
                }
            }
        }

        #[test]
        fn batches_answer_each_call_once(
            calls in prop::collection::vec(request(), 0..6),
        ) {
            let line = serde_json::Value::Array(calls.clone()).to_string();
            let out = dispatch(&line);
            prop_assert!(out.len() <= 1);
            let valid = calls.iter().filter(|c| is_valid_call(c)).count();
            match out.first() {
                Some(serde_json::Value::Array(responses)) => {
                    prop_assert!(responses.len() >= valid);
                    prop_assert!(responses.len() <= calls.len());
                    for response in responses {
                        assert_response(response);
                    }
                }
                Some(single) => assert_response(single),
                None => prop_assert_eq!(valid, 0),
            }
        }
    }
}

#[cfg(test)]
mod bounds {
    use super::*;
    use tokio::io::AsyncWriteExt;

    fn message(bytes: usize) -> Box<RawValue> {
        RawValue::from_string(format!("\"{}\"", "x".repeat(bytes - 2))).unwrap()
    }

    #[tokio::test]
    async fn the_outbox_holds_a_byte_budget_until_messages_are_written() {
        let limits = Limits {
            send_buffer_bytes: 8 * 1024,
            ..Limits::default()
        };
        let (outbox, mut rx) = Outbox::new(&limits);
        outbox.send(message(6 * 1024)).await.unwrap();
        // 6 KiB are held: 4 KiB more do not fit until the first message is taken.
        let second = {
            let outbox = outbox.clone();
            tokio::spawn(async move { outbox.send(message(4 * 1024)).await })
        };
        tokio::task::yield_now().await;
        assert!(!second.is_finished());
        let first = rx.recv().await.unwrap();
        assert_eq!(first.message.get().len(), 6 * 1024);
        assert!(
            !second.is_finished(),
            "the budget is held until the message is dropped"
        );
        drop(first);
        second.await.unwrap().unwrap();
        drop(rx.recv().await.unwrap());
        // A message over the whole budget still goes, alone.
        outbox.send(message(100 * 1024)).await.unwrap();
        assert_eq!(rx.recv().await.unwrap().message.get().len(), 100 * 1024);
        drop(rx);
        assert!(outbox.send(message(10)).await.is_err());
    }

    #[tokio::test]
    async fn a_huge_frame_that_keeps_coming_is_read_and_one_that_stops_is_stalled() {
        let stall = Duration::from_millis(500);
        // 8 chunks of 1.2 MiB, 100 ms apart: the whole frame takes longer than one stall
        // period, but every chunk earns the next one.
        let (client, server) = tokio::io::duplex(64 * 1024);
        let sender = tokio::spawn(async move {
            let mut client = client;
            let chunk = vec![b'a'; 1200 * 1024];
            for _ in 0..8 {
                client.write_all(&chunk).await.unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            client.write_all(b"\n").await.unwrap();
            client
        });
        let mut reader = BufReader::new(server);
        let mut buf = Vec::new();
        let frame = read_frame(&mut reader, &mut buf, 16 << 20, stall)
            .await
            .unwrap();
        assert_eq!(frame, Frame::Line);
        assert_eq!(buf.len(), 8 * 1200 * 1024);
        let _client = sender.await.unwrap();

        // A peer that sends part of a frame and then nothing is let go.
        let (mut client, server) = tokio::io::duplex(1024);
        client.write_all(b"{\"jsonrpc\":").await.unwrap();
        let mut reader = BufReader::new(server);
        buf.clear();
        let frame = read_frame(&mut reader, &mut buf, 16 << 20, stall)
            .await
            .unwrap();
        assert_eq!(frame, Frame::Stalled);
        drop(client);
    }
}
