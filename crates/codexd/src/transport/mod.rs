//! The local transport: newline-delimited JSON-RPC 2.0 over a Unix socket.
//!
//! jsonrpsee has no IPC transport, so this module drives its `RpcModule` directly: each
//! connection gets its own id and subscription budget, one message per line in each
//! direction, and its subscriptions end when it disconnects. Peers with another uid are
//! refused; frames over the size limit get an error and the rest of the line is skipped.
//!
//! Bounds on what a peer can hold: connections are capped, short calls and long-lived
//! waits each in their own budget (`budget`), so waiters never starve starts; a connection with nothing in
//! flight (no call, no subscription) is closed after the idle timeout; a frame must keep
//! arriving (each stall timeout, or each MiB, whichever is later) and a response must be
//! taken by the peer within the stall timeout. Memory: a batch holds at most
//! `max_batch_calls` calls and its reply at most `max_batch_reply_bytes`; the frames in
//! progress on all connections together hold at most `max_frames_bytes` (a frame past it is
//! answered `overloaded`, its line skipped, and the connection goes on).
//!
//! This file accepts connections ([`serve`]) and turns away what it must: peers of another
//! user, and any beyond the connection cap. The rest follows one connection down:
//! `connection` (its read loop and idle timeout), `frame` (reading one line), `dispatch`
//! (running what the line asks) and `outbox` (writing the answers back).

pub mod instance;
pub mod record;
pub mod systemd;

pub use budget::{raise_fd_limit, waiter_budget_for};

mod activity;
mod budget;
mod connection;
mod dispatch;
mod frame;
mod outbox;
mod params;

#[cfg(test)]
mod bounds;
#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod memory;

use connection::serve_connection;
use interprocess::local_socket::tokio::{Listener, Stream};
use interprocess::local_socket::traits::StreamCommon as _;
use interprocess::local_socket::traits::tokio::Listener as _;
use jsonrpsee::core::server::{ConnectionId, MethodResponse, Methods};
use jsonrpsee::types::{ErrorObjectOwned, Id};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;

/// Limits applied to every connection.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request line, in bytes.
    pub max_frame_bytes: usize,
    /// Largest response, in bytes.
    pub max_response_bytes: usize,
    /// Subscriptions one connection may hold.
    pub max_subscriptions: u32,
    /// Connections making short calls (everything but `wait` and `watch`) served at once.
    pub max_connections: usize,
    /// Connections holding a `wait` or `watch` served at once, apart from the short ones.
    pub max_waiter_connections: usize,
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
    /// Most calls in one batch; a larger batch gets one `batch_too_large` error.
    pub max_batch_calls: usize,
    /// Most bytes of a batch's reply; past it the reply is one `reply_too_large` error
    /// (and the batch's later calls are not run).
    pub max_batch_reply_bytes: usize,
    /// Most bytes of request frames in progress across all connections; a frame that would
    /// pass it gets an `overloaded` error and the rest of its line is skipped.
    pub max_frames_bytes: usize,
}

impl Limits {
    /// The stall bound: never longer than the idle timeout.
    fn stall(&self) -> Duration {
        self.stall_timeout.min(self.idle_timeout)
    }
}

impl Default for Limits {
    /// The daemon's defaults. The frame limit is the one the API crate publishes
    /// (`codexd_api::MAX_FRAME_BYTES`), so that clients can know it.
    fn default() -> Self {
        Limits {
            max_frame_bytes: codexd_api::MAX_FRAME_BYTES,
            max_response_bytes: 64 * 1024 * 1024,
            max_subscriptions: 1024,
            max_connections: 1024,
            max_waiter_connections: 16 * 1024,
            send_buffer: 1024,
            send_buffer_bytes: 4 * 1024 * 1024,
            idle_timeout: Duration::from_secs(600),
            stall_timeout: Duration::from_secs(30),
            max_batch_calls: codexd_api::MAX_BATCH_CALLS,
            // The outbox's byte budget: a batch's reply never makes a peer hold more.
            max_batch_reply_bytes: 4 * 1024 * 1024,
            max_frames_bytes: 64 * 1024 * 1024,
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
    // Every open connection, classed or not: both budgets together.
    let open_limit = limits.max_connections + limits.max_waiter_connections;
    let slots = Arc::new(Semaphore::new(open_limit));
    let budgets = budget::Budgets::new(limits.max_connections, limits.max_waiter_connections);
    let frames = frame::FrameBudget::new(limits.max_frames_bytes);
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
                let message = match other {
                    Some(peer) => format!(
                        "codexd refused this connection: it serves uid {uid} only, not uid {peer}"
                    ),
                    None => format!(
                        "codexd refused this connection: it serves uid {uid} only, and the caller's uid is unknown"
                    ),
                };
                tokio::spawn(refuse(
                    stream,
                    codexd_api::ApiError::new(codexd_api::ErrorKind::PermissionDenied, message),
                ));
                continue;
            }
        }
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!("refused a connection: {open_limit} connections open");
            tokio::spawn(refuse(
                stream,
                codexd_api::ApiError::new(
                    codexd_api::ErrorKind::Overloaded,
                    format!(
                        "codexd is overloaded: it already serves {open_limit} connections; try again shortly"
                    ),
                ),
            ));
            continue;
        };
        let conn_id = ConnectionId(next_id.fetch_add(1, Ordering::Relaxed));
        let methods = methods.clone();
        let limits = limits.clone();
        let frames = frames.clone();
        let slot = budgets.slot();
        tokio::spawn(async move {
            serve_connection(stream, conn_id, methods, &limits, frames, &slot).await;
            drop(permit);
        });
    }
}

/// Tells a refused peer why (one typed error line with id null, given a second to be
/// taken), then reads what it sent for up to a second before closing, so that its unread
/// request does not turn the close into a reset that hides the error line.
async fn refuse(mut stream: Stream, error: codexd_api::ApiError) {
    use tokio::io::AsyncReadExt;
    let err: ErrorObjectOwned = error.into();
    let mut line = MethodResponse::error(Id::Null, err)
        .into_json()
        .get()
        .as_bytes()
        .to_vec();
    line.push(b'\n');
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(&line)).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let mut sink = [0u8; 4096];
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// The peer's effective uid from the socket's credentials; `None` where they cannot be
/// read, which [`serve`] treats as another user.
fn peer_uid(stream: &Stream) -> Option<u32> {
    let creds = stream.peer_creds().ok()?;
    creds.euid()
}
