//! Load: thousands of waiters do not starve short calls. With 2,000 `wait` connections held
//! open on the socket, starts and gets are all answered (none `overloaded`), `logs -f` ends
//! with the task's final state, and every waiter gets its answer once the tasks end.
//!
//! The runs are a small fake `codex` script that holds until the test opens a gate file, so
//! the waiters are connected for as long as the test needs, whatever the machine's speed.

use codexd_tests::daemon::{TestEnv, eventually, output};
use codexd_tests::model_server::MockModelServer;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// Waiter connections held open at once.
const WAITERS: usize = 2000;

/// A fake codex: a prompt starting `gate` holds until the file `gate` exists in `gates`;
/// any other prompt answers at once.
fn gated_codex(gates: &Path) -> String {
    format!(
        r#"#!/bin/sh
set -f
for arg; do prompt=$arg; done
[ "$prompt" = - ] && prompt=$(cat)
echo '{{"type":"thread.started","thread_id":"fake-thread"}}'
echo '{{"type":"turn.started"}}'
case "$prompt" in gate*)
  while [ ! -e {gates}/gate ]; do sleep 0.1; done;;
esac
echo '{{"type":"item.completed","item":{{"id":"m","type":"agent_message","text":"final answer for '"$prompt"'"}}}}'
echo '{{"type":"turn.completed","usage":{{"input_tokens":1,"cached_input_tokens":0,"output_tokens":1}}}}'
"#,
        gates = gates.display()
    )
}

/// Raises this process's soft open-file limit to the hard one (the waiters need fds).
fn raise_fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on a struct we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
    }
    limit.rlim_cur
}

/// How many file descriptors process `pid` holds.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Sends one JSON-RPC call on a new connection and reads the answer.
fn call(socket: &Path, method: &str, params: &str) -> Value {
    let mut stream = UnixStream::connect(socket).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    writeln!(
        stream,
        r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{params}}}"#
    )
    .unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).expect("answer");
    serde_json::from_str(&line).expect("the answer is JSON")
}

#[test]
fn two_thousand_waiters_do_not_starve_starts_gets_or_logs_follow() {
    let fd_limit = raise_fd_limit();
    assert!(
        fd_limit > WAITERS as u64 + 512,
        "this test needs an open-file limit over {} (hard limit {fd_limit})",
        WAITERS + 512
    );
    let server = MockModelServer::start_blocking(vec![]).expect("model server");
    let mut env = TestEnv::new(server).expect("test env");
    let gates = env.root.path().join("gates");
    std::fs::create_dir_all(&gates).unwrap();
    let codex = env.root.path().join("gated-codex");
    std::fs::write(&codex, gated_codex(&gates)).unwrap();
    std::fs::set_permissions(&codex, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.codex = codex;
    env.start_daemon(&["--max-running", "8"]).unwrap();
    let daemon = env.daemon_pid().unwrap();

    let start = |prompt: &str| {
        let out = output(env.codexctl().args(["start", prompt]));
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "start refused: {stderr}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let held: Vec<String> = (0..8).map(|i| start(&format!("gate {i}"))).collect();

    // 2,000 waiters, each on its own connection, spread over the held tasks.
    let mut waiters: Vec<(UnixStream, &str)> = Vec::with_capacity(WAITERS);
    for i in 0..WAITERS {
        let id = held[i % held.len()].as_str();
        let mut stream = UnixStream::connect(&env.socket).expect("a waiter connects");
        writeln!(
            stream,
            r#"{{"jsonrpc":"2.0","id":{i},"method":"codexd_wait","params":[["{id}"]]}}"#
        )
        .unwrap();
        waiters.push((stream, id));
    }
    assert!(
        eventually(Duration::from_secs(60), || open_fds(daemon) >= WAITERS),
        "the daemon holds {} fds, not the {WAITERS} waiters\n{}",
        open_fds(daemon),
        env.daemon_log()
    );

    // `logs -f` on a held task, started under that load.
    let follow = env
        .codexctl()
        .args(["logs", "-f", &held[0]])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("logs -f");

    // A batch of starts and gets: every one answered, none overloaded.
    let mut started = Vec::new();
    for i in 0..40 {
        started.push(start(&format!("quick {i}")));
        let got = call(
            &env.socket,
            "codexd_get",
            &format!(r#"["{}"]"#, held[i % 8]),
        );
        assert!(got["error"].is_null(), "get refused under load: {got}");
        assert_eq!(got["result"]["id"], held[i % 8].as_str(), "{got}");
    }
    assert_eq!(started.len(), 40);

    // Let the held runs end: the follower sees the final state, every waiter its answer.
    std::fs::write(gates.join("gate"), "").unwrap();
    let followed = follow.wait_with_output().expect("logs -f ends");
    let printed = String::from_utf8_lossy(&followed.stdout);
    assert!(
        followed.status.success(),
        "logs -f ended with {:?}: {}\n{printed}",
        followed.status,
        String::from_utf8_lossy(&followed.stderr)
    );
    assert!(
        printed.contains("final answer for gate 0"),
        "logs -f ended without the final message:\n{printed}"
    );
    for (stream, id) in waiters {
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut line = String::new();
        BufReader::new(stream)
            .read_line(&mut line)
            .expect("a waiter's answer");
        let reply: Value = serde_json::from_str(&line).expect("JSON");
        assert!(reply["error"].is_null(), "a waiter was refused: {reply}");
        let task = &reply["result"]["tasks"][0];
        assert_eq!(task["id"], id, "{reply}");
        assert_eq!(task["state"], "succeeded", "{reply}");
        assert_eq!(reply["result"]["timed_out"], false, "{reply}");
    }
    let (code, summary) = env.wait(&started.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0, "{summary}");
}
