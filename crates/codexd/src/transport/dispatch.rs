//! Running what a frame asks: a call, a batch or a subscription, handed to jsonrpsee's
//! `RpcModule` callbacks, with the answers queued on the connection's outbox.
//!
//! jsonrpsee has no IPC server, so this is the part of its server done here: parsing the
//! request, picking the callback, spawning what may take long, and pacing subscriptions.
//! Every call gets an answer (or none, for a notification), whatever the line held.

use super::Limits;
use super::activity::Busy;
use super::budget::Slot;
use super::outbox::Outbox;
use codexd_api::{ApiError, ErrorKind};
use jsonrpsee::core::server::{
    BoundedSubscriptions, ConnectionId, MethodCallback, MethodResponse, MethodSink, Methods,
    SubscriptionState,
};
use jsonrpsee::types::error::ErrorCode;
use jsonrpsee::types::{ErrorObject, ErrorObjectOwned, Id, Params, Request};
use serde_json::value::RawValue;
use tokio::sync::mpsc;

/// Messages a subscription may have waiting for the connection's outbox: the handler
/// waits beyond that, so a fast producer is paced by the peer.
const SUBSCRIPTION_BUFFER: usize = 16;

/// What dispatching needs from its connection: who is calling, what it may call, where the
/// answers go, and its limits. One per connection, lent to every line it reads.
pub(super) struct Dispatcher<'a> {
    pub(super) conn_id: ConnectionId,
    pub(super) methods: &'a Methods,
    pub(super) tx: &'a Outbox,
    pub(super) subscriptions: &'a BoundedSubscriptions,
    pub(super) limits: &'a Limits,
    /// What the connection holds of the connection budgets.
    pub(super) slot: &'a Slot,
}

impl Dispatcher<'_> {
    /// Handles one line: a request, a batch, or a notification.
    pub(super) async fn dispatch_line(&self, line: &[u8], busy: Busy) {
        let tx = self.tx;
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
            let response = self.dispatch_batch(text).await;
            if let Some(response) = response {
                let _ = tx.send(response).await;
            }
            return;
        }
        match serde_json::from_str::<Request>(text) {
            Ok(request) => self.dispatch_request(request, busy).await,
            Err(_) => {
                if let Some(response) = invalid_request_response(text) {
                    let _ = tx.send(response).await;
                }
            }
        }
    }

    /// Runs one request. Method calls run on their own task (a slow `wait` must not hold up the
    /// connection); responses go to the connection's writer. `busy` marks the connection as
    /// not idle until the call is answered or the subscription ends.
    async fn dispatch_request(&self, request: Request<'_>, busy: Busy) {
        let Dispatcher {
            conn_id,
            methods,
            tx,
            subscriptions,
            limits,
            slot,
        } = *self;
        let Request {
            id, method, params, ..
        } = request;
        let id = id.into_owned();
        if let Err(message) = slot.admit(&method) {
            let err: ErrorObjectOwned = ApiError::new(ErrorKind::Overloaded, message).into();
            let _ = tx.send(MethodResponse::error(id, err).into_json()).await;
            return;
        }
        if let Err(e) = super::params::check(&method, params.as_ref().map(|p| p.get())) {
            let err: ErrorObjectOwned = e.into();
            let _ = tx.send(MethodResponse::error(id, err).into_json()).await;
            return;
        }
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

    /// Runs a batch: each call in order (subscriptions are not allowed in batches), one array
    /// of responses.
    async fn dispatch_batch(&self, text: &str) -> Option<Box<RawValue>> {
        let Dispatcher {
            conn_id,
            methods,
            limits,
            slot,
            ..
        } = *self;
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
            let err =
                ErrorObject::owned(ErrorCode::InvalidRequest.code(), "empty batch", None::<()>);
            return Some(MethodResponse::error(Id::Null, err).into_json());
        }
        if calls.len() > limits.max_batch_calls {
            return Some(api_error(
                ErrorKind::BatchTooLarge,
                format!(
                    "a batch of {} calls is over the limit of {} calls per batch; none was run \
                     (split it into smaller batches)",
                    calls.len(),
                    limits.max_batch_calls
                ),
            ));
        }
        let reply_limit = limits.max_batch_reply_bytes;
        let total_calls = calls.len();
        let mut responses: Vec<Box<RawValue>> = Vec::new();
        // The reply's bytes so far: brackets and commas included.
        let mut reply_bytes = 2usize;
        for (done, call) in calls.into_iter().enumerate() {
            if reply_bytes > reply_limit {
                return Some(reply_too_large(reply_limit, done, total_calls));
            }
            // No call may answer more than the reply has room for (jsonrpsee stops
            // serialising at its limit and answers "response too big" instead).
            let max_response = limits
                .max_response_bytes
                .min(reply_limit.saturating_sub(reply_bytes).max(1));
            let response = match serde_json::from_str::<Request>(call.get()) {
                Ok(request) => {
                    let Request {
                        id, method, params, ..
                    } = request;
                    if let Err(message) = slot.admit(&method) {
                        let err: ErrorObjectOwned =
                            ApiError::new(ErrorKind::Overloaded, message).into();
                        let response = MethodResponse::error(id, err).into_json();
                        reply_bytes += response.get().len() + 1;
                        responses.push(response);
                        continue;
                    }
                    let checked_params =
                        super::params::check(&method, params.as_ref().map(|p| p.get()));
                    let params = Params::new(params.as_ref().map(|p| p.get()));
                    match methods.method_with_name(&method).map(|(_, cb)| cb) {
                        _ if checked_params.is_err() => {
                            let err = ErrorObjectOwned::from(checked_params.unwrap_err());
                            Some(MethodResponse::error(id, err).into_json())
                        }
                        None => Some(
                            MethodResponse::error(id, ErrorObject::from(ErrorCode::MethodNotFound))
                                .into_json(),
                        ),
                        Some(MethodCallback::Sync(cb)) => match checked(
                            cb(id, params, max_response, Default::default()),
                            reply_limit,
                            done,
                            total_calls,
                        ) {
                            Ok(response) => Some(response),
                            Err(too_large) => return Some(too_large),
                        },
                        Some(MethodCallback::Async(cb)) => match checked(
                            cb(
                                id.into_owned(),
                                params.into_owned(),
                                conn_id,
                                max_response,
                                Default::default(),
                            )
                            .await,
                            reply_limit,
                            done,
                            total_calls,
                        ) {
                            Ok(response) => Some(response),
                            Err(too_large) => return Some(too_large),
                        },
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
            if let Some(response) = response {
                reply_bytes += response.get().len() + 1;
                responses.push(response);
            }
        }
        if reply_bytes > reply_limit {
            return Some(reply_too_large(reply_limit, total_calls, total_calls));
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
}

/// A typed API error for the whole line (id null).
fn api_error(kind: ErrorKind, message: String) -> Box<RawValue> {
    let err: ErrorObjectOwned = ApiError::new(kind, message).into();
    MethodResponse::error(Id::Null, err).into_json()
}

/// The error that replaces a batch's reply over `limit` bytes, after `done` of `total`
/// calls were run.
fn reply_too_large(limit: usize, done: usize, total: usize) -> Box<RawValue> {
    api_error(
        ErrorKind::ReplyTooLarge,
        format!(
            "the batch's reply is over the limit of {limit} bytes per reply; {done} of its \
             {total} calls were run, the rest were not (send fewer calls per batch, or ask for \
             less: smaller pages, shorter reads)"
        ),
    )
}

/// A batch call's response, or (as `Err`, to end the batch) the reply-too-large error when
/// jsonrpsee cut the response at the room the reply had left.
fn checked(
    response: MethodResponse,
    limit: usize,
    done: usize,
    total: usize,
) -> Result<Box<RawValue>, Box<RawValue>> {
    let oversized = response
        .as_error_code()
        .is_some_and(|code| code == jsonrpsee::types::error::OVERSIZED_RESPONSE_CODE);
    if oversized {
        Err(reply_too_large(limit, done + 1, total))
    } else {
        Ok(response.into_json())
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

/// Queues a call's response. A handler that asked to hear when its response was processed
/// (jsonrpsee's `notify_on_completion`) learns whether a success reached the outbox, so
/// whatever it starts afterwards follows an answer the peer will get.
async fn send_response(tx: &Outbox, response: MethodResponse) {
    let success = response.is_success();
    let (json, notify, _) = response.into_parts();
    let sent = tx.send(json).await.is_ok();
    if let Some(notify) = notify {
        notify.notify(sent && success);
    }
}
