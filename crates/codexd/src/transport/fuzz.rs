//! Generated-input tests ("fuzzing" with proptest) of the frame decoder and of request
//! dispatch. `cargo test` runs a short pass; for a long one:
//!
//! ```sh
//! PROPTEST_CASES=200000 cargo test --release -p codexd --lib transport::fuzz
//! ```
//!
//! Failures proptest finds are kept in `proptest-regressions/transport/fuzz.txt` (the
//! default persistence, a path parallel to this file's) and run first next time.

use super::Limits;
use super::activity::Activity;
use super::dispatch::Dispatcher;
use super::frame::{Frame, FrameBudget, read_frame};
use super::outbox::Outbox;
use jsonrpsee::core::server::{BoundedSubscriptions, ConnectionId, Methods};
use jsonrpsee::types::ErrorObject;
use proptest::prelude::*;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::BufReader;

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
            let frame = read_frame(
                &mut reader,
                &mut buf,
                max,
                Duration::from_secs(60),
                &mut FrameBudget::new(usize::MAX).charge(),
            )
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
fn dispatch_to(methods: &Methods, line: &str, within: Duration) -> (Vec<serde_json::Value>, bool) {
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
        let slot = super::budget::Budgets::new(4, 4).slot();
        let dispatcher = Dispatcher {
            conn_id: ConnectionId(1),
            methods,
            tx: &tx,
            subscriptions: &subscriptions,
            limits: &limits,
            slot: &slot,
        };
        dispatcher
            .dispatch_line(line.as_bytes(), activity.busy())
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

/// One of `options` as a JSON string: the few values worth trying for a field.
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
            prop::collection::vec(text(&["l", "", "x y"]), 0..3).prop_map(serde_json::Value::from),
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

    /// Lines split across any read-buffer size decode the same; an over-limit line costs
    /// one flagged frame, never its neighbours.
    #[test]
    fn frames_are_lines_and_long_ones_are_flagged(
        input in prop::collection::vec(prop_oneof![3 => any::<u8>(), 1 => Just(b'\n')], 0..600),
        capacity in 1usize..64,
        max in 0usize..80,
    ) {
        prop_assert_eq!(decode(&input, capacity, max), expected(&input, max));
    }

    /// Any text on a line gets at most one answer and never panics the dispatcher.
    #[test]
    fn arbitrary_bytes_get_at_most_one_error_and_never_a_panic(line in ".{0,200}") {
        let out = dispatch(&line);
        prop_assert!(out.len() <= 1);
        for response in &out {
            assert_response(response);
        }
    }

    /// A request that is almost right gets what JSON-RPC says: a valid call one answer with
    /// its id, a notification none, anything else at most one error.
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

    /// codexd's own methods turn bad parameters into typed errors, never an internal error
    /// or silence.
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

    /// A batch is answered by one array with at most one response per call, and every
    /// valid call among them answered.
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
