//! Strict parameters over the real socket (issue #14, item 17): unknown fields and extra
//! positional parameters are refused, numbers are bounded, and every refusal is a typed
//! `invalid_params` error naming the parameter or field.

use codexd_tests::daemon::TestEnv;
use codexd_tests::model_server::{MockModelServer, Scenario, Step};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;

fn call(env: &TestEnv, method: &str, params: Value) -> Value {
    let mut stream = UnixStream::connect(&env.socket).unwrap();
    let request = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    writeln!(stream, "{request}").unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap()
}

fn refusal(reply: &Value) -> (String, String) {
    let error = &reply["error"];
    assert!(error.is_object(), "not refused: {reply}");
    (
        error["data"]["kind"].as_str().unwrap_or("?").to_owned(),
        error["message"].as_str().unwrap_or("").to_owned(),
    )
}

#[test]
fn loose_parameters_are_refused_with_the_field_named() {
    let server =
        MockModelServer::start_blocking(vec![Scenario::new("[hi]", vec![Step::message("hello")])])
            .unwrap();
    let mut env = TestEnv::new(server).unwrap();
    env.start_daemon(&[]).unwrap();
    let cwd = env.work.to_string_lossy().into_owned();

    let cases = [
        (
            "codexd_start",
            json!([{"prompt": "x", "cwd": cwd, "timeout": 5}]),
            "timeout",
        ),
        (
            "codexd_start",
            json!([{"prompt": "x", "cwd": cwd, "timeout_ms": u64::MAX}]),
            "timeout_ms",
        ),
        (
            "codexd_start",
            json!([{"prompt": "x", "cwd": cwd, "timeout_ms": "5"}]),
            "timeout_ms",
        ),
        ("codexd_get", json!(["abc", "extra"]), "at most 1"),
        (
            "codexd_wait",
            json!({"ids": ["abc"], "timeout": 5}),
            "timeout",
        ),
        ("codexd_wait", json!([["abc"], u64::MAX]), "timeout_ms"),
        ("codexd_list", json!([{"limit": "ten"}]), "limit"),
    ];
    for (method, params, named) in cases {
        let (kind, message) = refusal(&call(&env, method, params.clone()));
        assert_eq!(kind, "invalid_params", "{method} {params}: {message}");
        assert!(message.contains(named), "{method} {params}: {message}");
    }

    let id = env.start_task("[hi] say hello", &[]);
    env.wait(&[&id]);
    let (kind, message) = refusal(&call(&env, "codexd_read_log", json!([id, u64::MAX])));
    assert_eq!(kind, "invalid_params", "{message}");
    assert!(message.contains("offset"), "{message}");
    // What the clients send is still accepted.
    let ok = call(&env, "codexd_read_log", json!([id, 0, null, "events"]));
    assert!(ok["result"]["lines"].is_array(), "{ok}");
}
