//! One connection: the read loop and its idle timeout.
//!
//! The loop waits for a frame, reads it ([`super::frame`]), and hands it to the dispatcher
//! ([`super::dispatch`]); answers go out through the connection's outbox
//! ([`super::outbox`]). A connection is idle, and closed after the idle timeout, only when
//! nothing is in flight: a long `wait` or a live subscription keeps it open however quiet.

use super::Limits;
use super::activity::Activity;
use super::budget::Slot;
use super::dispatch::Dispatcher;
use super::frame::{Frame, FrameBudget, read_frame};
use super::outbox::{Outbox, write_loop};
use codexd_api::{ApiError, ErrorKind};
use interprocess::local_socket::tokio::Stream;
use jsonrpsee::core::server::{BoundedSubscriptions, ConnectionId, MethodResponse, Methods};
use jsonrpsee::types::error::ErrorCode;
use jsonrpsee::types::{ErrorObject, ErrorObjectOwned, Id};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader, ReadHalf};

/// The line buffer's capacity kept between frames; a larger one is freed.
const KEPT_LINE_CAPACITY: usize = 64 * 1024;

/// Serves one connection until the peer closes it, stalls, or stays idle too long.
pub(super) async fn serve_connection(
    stream: Stream,
    conn_id: ConnectionId,
    methods: Methods,
    limits: &Limits,
    frames: FrameBudget,
    slot: &Slot,
) {
    let (recv, send) = tokio::io::split(stream);
    let (tx, rx) = Outbox::new(limits);
    let activity = Activity::new();
    let mut writer = tokio::spawn(write_loop(send, rx, activity.clone(), limits.stall()));
    let subscriptions = BoundedSubscriptions::new(limits.max_subscriptions);
    let mut reader = BufReader::with_capacity(16 * 1024, recv);
    let dispatcher = Dispatcher {
        conn_id,
        methods: &methods,
        tx: &tx,
        subscriptions: &subscriptions,
        limits,
        slot,
    };
    let mut line = Vec::new();
    let mut charge = frames.charge();
    loop {
        // A large frame's memory goes back with its budget, not kept for the next one.
        if line.capacity() > KEPT_LINE_CAPACITY {
            line = Vec::new();
        }
        line.clear();
        charge.release();
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
            &mut charge,
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
            Ok(Frame::Overloaded) => {
                let err: ErrorObjectOwned = ApiError::new(
                    ErrorKind::Overloaded,
                    format!(
                        "codexd holds {} MiB of requests in progress across its connections, \
                         its limit: this request was dropped; send it again shortly",
                        frames.limit() / (1024 * 1024)
                    ),
                )
                .into();
                let _ = tx
                    .send(MethodResponse::error(Id::Null, err).into_json())
                    .await;
            }
            Ok(Frame::Line) => {
                let busy = activity.busy();
                dispatcher.dispatch_line(&line, busy).await;
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
