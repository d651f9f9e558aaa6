//! Nothing lost: runs and queued tasks across daemon crashes and restarts, crash storms,
//! capped event logs, idle and stalled connections, and a full or read-only state dir.
//!
//! Runs that must still be going when the daemon dies wait on a gate file the test creates
//! afterwards, so the order of events is fixed by the test, not by timing. Tests that need
//! a particular event stream use a small fake `codex` script; the restart tests use the real
//! Codex CLI against the loopback model server.

use codexd_tests::daemon::{TestEnv, eventually, output, wait_for_gate};
use codexd_tests::model_server::{MockModelServer, Scenario, Step};
use codexd_tests::mount::{SmallMount, fill_up};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn env_with(scenarios: Vec<Scenario>) -> TestEnv {
    let server = MockModelServer::start_blocking(scenarios).expect("model server");
    TestEnv::new(server).expect("test env")
}

fn state(task: &Value) -> &str {
    task["state"].as_str().unwrap_or("?")
}

/// A private directory on a memory file system for held values, if the machine has one.
fn shm_runtime_dir() -> Option<tempfile::TempDir> {
    let dir = tempfile::tempdir_in("/dev/shm").ok()?;
    let fs = output(
        Command::new("stat")
            .args(["-f", "-c", "%T"])
            .arg(dir.path()),
    );
    (String::from_utf8_lossy(&fs.stdout).trim() == "tmpfs").then_some(dir)
}

/// Writes an executable script at `path`.
fn script(path: &Path, body: &str) -> PathBuf {
    std::fs::write(path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_path_buf()
}

/// A fake codex that prints a minimal successful run, after waiting for `gate` if given.
fn quick_fake_codex(dir: &Path, gate: Option<&Path>) -> PathBuf {
    fake_codex_with(dir, gate, None)
}

/// As [`quick_fake_codex`]; with `runs_log`, each run that reaches its end appends its
/// task id (the marker codexd puts in every run's environment) to that file.
fn fake_codex_with(dir: &Path, gate: Option<&Path>, runs_log: Option<&Path>) -> PathBuf {
    let wait = gate
        .map(|g| format!("while [ ! -e {} ]; do sleep 0.05; done\n", g.display()))
        .unwrap_or_default();
    let count = runs_log
        .map(|log| format!("echo \"$CODEXD_TASK_ID\" >> {}\n", log.display()))
        .unwrap_or_default();
    script(
        &dir.join("fake-codex"),
        &format!(
            r#"{wait}echo '{{"type":"thread.started","thread_id":"fake-thread"}}'
echo '{{"type":"turn.started"}}'
echo '{{"type":"item.completed","item":{{"id":"m","type":"agent_message","text":"fake done"}}}}'
echo '{{"type":"turn.completed","usage":{{"input_tokens":1,"cached_input_tokens":0,"output_tokens":1}}}}'
{count}"#
        ),
    )
}

/// Every task of the daemon, through `codexctl list --json`, following the pages.
fn all_tasks(env: &TestEnv) -> Vec<Value> {
    let mut tasks = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut args = vec!["list", "--json", "--limit", "200"];
        if let Some(c) = &cursor {
            args.extend(["--cursor", c.as_str()]);
        }
        let out = output(env.codexctl().args(&args));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let page: Value = serde_json::from_slice(&out.stdout).unwrap();
        tasks.extend(page["tasks"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return tasks,
        }
    }
}

/// Two runs held inside a long command and one queued task (with an environment value it
/// must still get) go through a daemon stop by `signal`; the next daemon finishes them all.
fn two_runs_and_a_queued_task_survive(signal: libc::c_int) {
    let Some(runtime) = shm_runtime_dir() else {
        eprintln!("skipped: no tmpfs at /dev/shm to hold queued tasks' values");
        return;
    };
    let gate_root = tempfile::tempdir().unwrap();
    let gate = gate_root.path().join("gate");
    let mut env = env_with(vec![
        Scenario::new(
            "[held]",
            vec![
                Step::shell(wait_for_gate(&gate, "gate-open")),
                Step::message("held run finished"),
            ],
        ),
        Scenario::new(
            "[queued]",
            vec![
                Step::shell("printf '%s' \"$VIRTUAL_ENV\" > venv-seen.txt"),
                Step::message("queued run finished"),
            ],
        ),
    ]);
    let runtime_flag = runtime.path().display().to_string();
    let flags = ["--max-running", "2", "--runtime-dir", &runtime_flag];
    env.start_daemon(&flags).unwrap();
    let first = env.start_task("[held] one", &[]);
    let second = env.start_task("[held] two", &[]);
    let queued = env.start_task(
        "[queued] three",
        &["--env", "VIRTUAL_ENV=/opt/venv-held-42"],
    );
    assert!(eventually(Duration::from_secs(90), || {
        [&first, &second]
            .iter()
            .all(|id| state(&env.show(id)) == "running")
    }));
    assert_eq!(state(&env.show(&queued)), "queued");
    let request = std::fs::read_to_string(env.task_dir(&queued).join("request.json")).unwrap();
    assert!(
        !request.contains("venv-held-42"),
        "env values never reach the state dir"
    );

    if signal == libc::SIGKILL {
        env.kill_daemon().unwrap();
    } else {
        let status = env.stop_daemon().unwrap();
        assert!(status.success(), "clean exit on SIGTERM");
        assert!(!env.socket.exists(), "socket removed on a clean exit");
    }
    env.start_daemon(&flags).unwrap();
    // The runs were re-adopted; the queued task is still queued, not interrupted.
    for id in [&first, &second] {
        assert_eq!(state(&env.show(id)), "running", "{}", env.daemon_log());
    }
    assert_eq!(state(&env.show(&queued)), "queued", "{}", env.show(&queued));

    std::fs::write(&gate, "").unwrap();
    let (code, out) = env.wait(&[&first, &second, &queued]);
    assert_eq!(code, 0, "{out}\n{}", env.daemon_log());
    for (id, message) in [
        (&first, "held run finished"),
        (&second, "held run finished"),
        (&queued, "queued run finished"),
    ] {
        let task = env.show(id);
        assert_eq!(state(&task), "succeeded", "{task}");
        assert_eq!(task["final_message"], message);
        let result: Value =
            serde_json::from_slice(&env.ctl(&["result", id, "--json"]).stdout).unwrap();
        assert_eq!(result["commands"][0]["exit_code"], 0, "{result}");
        let events = env.events(id);
        assert_eq!(events.first().unwrap()["type"], "thread.started");
        assert_eq!(events.last().unwrap()["type"], "turn.completed");
    }
    let seen = std::fs::read_to_string(env.work.join("venv-seen.txt")).unwrap();
    assert_eq!(
        seen, "/opt/venv-held-42",
        "the queued run got its environment"
    );
    // Held values are gone once their run started.
    let held: Vec<_> = walk(runtime.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert!(held.is_empty(), "{held:?}");
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn two_runs_and_a_queued_task_survive_sigkill_of_the_daemon() {
    two_runs_and_a_queued_task_survive(libc::SIGKILL);
}

#[test]
fn two_runs_and_a_queued_task_survive_sigterm_of_the_daemon() {
    two_runs_and_a_queued_task_survive(libc::SIGTERM);
}

#[test]
fn a_queued_task_whose_values_could_not_be_held_is_interrupted_not_lost() {
    let gate_root = tempfile::tempdir().unwrap();
    let gate = gate_root.path().join("gate");
    let mut env = env_with(vec![]);
    env.codex = quick_fake_codex(env.root.path(), Some(&gate));
    // A runtime dir on disk: values are never written there.
    let disk = env.root.path().join("disk-runtime");
    std::fs::create_dir_all(&disk).unwrap();
    let on_tmpfs = output(Command::new("stat").args(["-f", "-c", "%T"]).arg(&disk));
    if String::from_utf8_lossy(&on_tmpfs.stdout).trim() == "tmpfs" {
        eprintln!("skipped: the temp directory is itself a tmpfs here");
        return;
    }
    let disk_flag = disk.display().to_string();
    let flags = ["--max-running", "1", "--runtime-dir", &disk_flag];
    env.start_daemon(&flags).unwrap();
    let running = env.start_task("first", &[]);
    let queued = env.start_task("second", &["--env", "VIRTUAL_ENV=/x"]);
    assert!(eventually(Duration::from_secs(30), || {
        state(&env.show(&running)) == "running"
    }));
    env.kill_daemon().unwrap();
    env.start_daemon(&flags).unwrap();
    let task = env.show(&queued);
    assert_eq!(state(&task), "interrupted", "{task}");
    assert!(
        task["error"].as_str().unwrap().contains("--runtime-dir"),
        "{task}"
    );
    assert_eq!(
        walk(&disk),
        Vec::<PathBuf>::new(),
        "nothing was written there"
    );
    std::fs::write(&gate, "").unwrap();
    assert_eq!(env.wait(&[&running]).0, 0);
}

#[test]
fn fifty_crash_rounds_lose_no_acknowledged_task_and_leave_none_running() {
    let mut env = env_with(vec![]);
    let runs_log = env.root.path().join("runs.log");
    env.codex = fake_codex_with(env.root.path(), None, Some(&runs_log));
    let flags = ["--max-running", "4"];
    let mut acknowledged: Vec<String> = Vec::new();
    let mut per_round: Vec<usize> = Vec::new();
    // A small deterministic generator for the kill moments (no extra dependency).
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..50 {
        env.start_daemon(&flags).unwrap();
        let starters: Vec<_> = (0..6)
            .map(|i| {
                env.codexctl()
                    .args(["start", &format!("round {round} task {i}")])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        // The crash lands after a random number (0 to 6) of the starts have been answered,
        // the others being in flight: before, inside or after the burst.
        let answered_before_crash = (next() % 7) as usize;
        let before = acknowledged.len();
        let mut outputs = Vec::new();
        let mut starters = starters.into_iter();
        for starter in starters.by_ref().take(answered_before_crash) {
            outputs.push(starter.wait_with_output().unwrap());
        }
        env.kill_daemon().unwrap();
        outputs.extend(starters.map(|s| s.wait_with_output().unwrap()));
        for out in outputs {
            if out.status.success() {
                let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
                assert_eq!(id.len(), 8, "{id:?}");
                acknowledged.push(id);
            }
        }
        per_round.push(acknowledged.len() - before);
    }
    eprintln!("acknowledged per round: {per_round:?}");
    env.start_daemon(&flags).unwrap();
    // The crashes landed before, inside and after bursts.
    let mid_burst = per_round.iter().filter(|&&n| n > 0 && n < 6).count();
    assert!(
        mid_burst >= 3,
        "too few crashes inside a burst: {per_round:?}"
    );
    assert!(per_round.contains(&6), "no burst completed: {per_round:?}");
    let mut args = vec!["wait", "--timeout", "120s"];
    args.extend(acknowledged.iter().map(String::as_str));
    let out = output(env.codexctl().args(&args));
    let tasks = all_tasks(&env);
    let mut seen: HashMap<String, usize> = HashMap::new();
    for task in &tasks {
        *seen
            .entry(task["id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert!(seen.values().all(|&n| n == 1), "a task listed twice");
    for id in &acknowledged {
        assert!(seen.contains_key(id), "acknowledged task {id} is missing");
    }
    for task in &tasks {
        assert!(
            !matches!(state(task), "running" | "queued"),
            "stuck: {task}\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let unique: HashSet<&String> = acknowledged.iter().collect();
    assert_eq!(
        unique.len(),
        acknowledged.len(),
        "an id was handed out twice"
    );
    // No run was started twice, and every task that succeeded did run.
    let mut runs: HashMap<String, usize> = HashMap::new();
    for line in std::fs::read_to_string(&runs_log)
        .unwrap_or_default()
        .lines()
    {
        *runs.entry(line.to_string()).or_default() += 1;
    }
    assert!(
        runs.iter().all(|(_, &n)| n == 1),
        "runs started twice: {:?}",
        runs.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
    for task in tasks.iter().filter(|t| state(t) == "succeeded") {
        assert!(runs.contains_key(task["id"].as_str().unwrap()), "{task}");
    }
}

#[test]
fn a_run_that_prints_too_much_is_capped_and_marked_truncated() {
    let mut env = env_with(vec![]);
    // 200 command events of 60 KB each (12 MB) against a 1 MiB cap.
    env.codex = script(
        &env.root.path().join("chatty-codex"),
        r#"echo '{"type":"thread.started","thread_id":"chatty"}'
echo '{"type":"turn.started"}'
big=$(head -c 60000 /dev/zero | tr '\0' 'x')
i=0
while [ $i -lt 200 ]; do
  echo "{\"type\":\"item.completed\",\"item\":{\"id\":\"c$i\",\"type\":\"command_execution\",\"command\":\"yes\",\"aggregated_output\":\"$big\",\"exit_code\":0,\"status\":\"completed\"}}"
  i=$((i+1))
done
echo '{"type":"item.completed","item":{"id":"m","type":"agent_message","text":"all done"}}'
echo '{"type":"turn.completed","usage":{"input_tokens":1,"cached_input_tokens":0,"output_tokens":1}}'
"#,
    );
    env.start_daemon(&["--max-log-size", "1MiB"]).unwrap();
    let id = env.start_task("talk a lot", &[]);
    assert_eq!(env.wait(&[&id]).0, 0, "{}", env.daemon_log());
    let task = env.show(&id);
    assert_eq!(state(&task), "succeeded", "{task}");
    assert_eq!(task["log_truncated"], true);
    assert_eq!(task["final_message"], "all done");
    let size = std::fs::metadata(env.task_dir(&id).join("events.jsonl"))
        .unwrap()
        .len();
    assert!(size < 1024 * 1024 + 200 * 1024, "log kept small: {size}");
    assert_eq!(task["log_bytes"], size);
    let events = env.events(&id);
    let marker = events
        .iter()
        .position(|e| e["type"] == "codexd.log_truncated")
        .expect("the truncation point is marked in the log");
    assert_eq!(events[marker]["limit_bytes"], 1024 * 1024);
    assert_eq!(events.last().unwrap()["type"], "turn.completed");
    let result: Value =
        serde_json::from_slice(&env.ctl(&["result", &id, "--json"]).stdout).unwrap();
    assert_eq!(result["log_truncated"], true);
    assert_eq!(result["usage"]["output_tokens"], 1, "{result}");
    let shown = String::from_utf8_lossy(&env.ctl(&["show", &id]).stdout).into_owned();
    assert!(shown.contains("truncated"), "{shown}");
}

#[test]
fn a_bad_log_size_is_refused_at_start_up() {
    let env = env_with(vec![]);
    let out = output(
        Command::new(codexd_tests::daemon::bin("codexd"))
            .arg("--socket")
            .arg(&env.socket)
            .arg("--state-dir")
            .arg(&env.state_dir)
            .args(["--max-log-size", "12 parsecs"]),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown size unit"), "{err}");
}

/// Reads from `stream` until the daemon closes it; true if it did within `within`.
fn closed_by_daemon(stream: &mut UnixStream, within: Duration) -> bool {
    closed_by_daemon_after(stream, within).is_ok()
}

/// Like [`closed_by_daemon`]: `Ok(what the daemon sent before closing)`, or `Err` saying
/// why not: still open after `within`, or a read error other than a reset. A read cut
/// short by a signal (a socket with a read timeout is never restarted, whatever the
/// handler asks) is retried until the deadline.
fn closed_by_daemon_after(stream: &mut UnixStream, within: Duration) -> Result<Vec<u8>, String> {
    let deadline = std::time::Instant::now() + within;
    let mut received = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(format!("still open after {within:?}"));
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return Ok(received),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(received),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => return Err(format!("read failed: {e} ({:?})", e.kind())),
        }
    }
}

#[test]
fn idle_and_stalled_connections_are_closed_and_busy_ones_are_kept() {
    let gate_root = tempfile::tempdir().unwrap();
    let gate = gate_root.path().join("gate");
    let mut env = env_with(vec![]);
    env.codex = quick_fake_codex(env.root.path(), Some(&gate));
    env.start_daemon(&["--idle-timeout", "1s"]).unwrap();

    // Says nothing at all.
    let mut silent = UnixStream::connect(&env.socket).unwrap();
    // Starts a frame and never finishes it.
    let mut partial = UnixStream::connect(&env.socket).unwrap();
    partial
        .write_all(br#"{"jsonrpc":"2.0","id":1,"meth"#)
        .unwrap();
    // Asks for many answers and never reads them.
    let mut deaf = UnixStream::connect(&env.socket).unwrap();
    let request = br#"{"jsonrpc":"2.0","id":1,"method":"codexd_version"}"#;
    let mut burst = Vec::new();
    for _ in 0..20_000 {
        burst.extend_from_slice(request);
        burst.push(b'\n');
    }
    let writer = {
        let mut deaf = deaf.try_clone().unwrap();
        std::thread::spawn(move || {
            // The daemon stops reading once its replies back up; this write may fail then.
            let _ = deaf.write_all(&burst);
        })
    };
    // Waiters with a call in flight for longer than the idle timeout: more of them than
    // the daemon has worker threads.
    let id = env.start_task("wait on me", &[]);
    let waiters: Vec<_> = (0..4)
        .map(|_| {
            env.codexctl()
                .args(["wait", &id, "--timeout", "60s"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();

    assert!(closed_by_daemon(&mut silent, Duration::from_secs(20)));
    assert!(closed_by_daemon(&mut partial, Duration::from_secs(20)));
    assert!(env.daemon_log().contains("stalled mid-frame"));
    // Not a byte is read from the deaf client until the daemon has given up on it.
    assert!(
        eventually(Duration::from_secs(30), || env
            .daemon_log()
            .contains("closed a connection whose peer stopped reading")),
        "{}",
        env.daemon_log()
    );
    assert!(closed_by_daemon(&mut deaf, Duration::from_secs(30)));
    let _ = writer.join();

    // The waiters are now busy for longer than the idle timeout. The daemon still serves,
    // and holding them costs no CPU (a busy connection past its idle deadline once made the
    // daemon spin): over 2 s, well under half a second of CPU.
    assert!(env.ctl(&["daemon", "status"]).status.success());
    let pid = env.daemon_pid().unwrap();
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(pid) - before;
    assert!(used < 50, "the idle daemon used {used} CPU ticks in 2 s");
    assert!(env.ctl(&["daemon", "status"]).status.success());
    std::fs::write(&gate, "").unwrap();
    for waiter in waiters {
        let out = waiter.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("reconnecting"), "{stderr}");
    }
}

/// CPU time (user + system, in clock ticks) a process has used.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command (which is in parentheses and may contain spaces).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn a_full_or_read_only_state_dir_fails_starts_clearly_and_keeps_serving() {
    let Some(mount) = SmallMount::new("16m") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    let mut env = env_with(vec![]);
    env.codex = quick_fake_codex(env.root.path(), None);
    env.state_dir = mount.path().join("state");
    env.start_daemon(&[]).unwrap();
    let done = env.start_task("before the disk filled", &[]);
    let unread = env.start_task("read once the disk is full", &[]);
    assert_eq!(env.wait(&[&done, &unread]).0, 0);
    // (The first `result` records when it was read; the snapshot is taken after it.)
    let result_before = env.ctl(&["result", &done, "--json"]).stdout;
    let before = env.show(&done);

    let filler = fill_up(mount.path());
    let mut args = vec!["start".to_string(), "when full".to_string()];
    let mut refused = 0;
    // A few attempts: some may still fit in the space sled had reserved.
    for i in 0..5 {
        args[1] = format!("when full {i}");
        let out = output(env.codexctl().args(&args));
        if !out.status.success() {
            refused += 1;
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("cannot record the task"), "{err}");
            assert!(err.contains("No space left on device"), "{err}");
        }
    }
    assert!(refused > 0, "starts fail on a full disk");
    // Reads keep working and what was recorded is intact.
    assert_eq!(env.show(&done), before);
    assert_eq!(env.ctl(&["result", &done, "--json"]).stdout, result_before);
    assert!(env.ctl(&["list"]).status.success());
    // A result first read on the full disk is still answered (only its read time is lost).
    let out = env.ctl(&["result", &unread, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("fake done"));

    // Read-only: the same, with its own message.
    std::fs::remove_file(&filler).unwrap();
    let tasks_root = env.state_dir.join("tasks");
    assert!(mount.read_only(&tasks_root));
    let out = output(env.codexctl().args(["start", "when read-only"]));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Read-only file system"), "{err}");
    assert_eq!(env.show(&done), before);

    // Writable again: starts work, and after a restart everything is there.
    assert!(mount.writable(&tasks_root));
    let after = env.start_task("after", &[]);
    assert_eq!(env.wait(&[&after]).0, 0);
    env.stop_daemon().unwrap();
    env.start_daemon(&[]).unwrap();
    assert_eq!(env.show(&done), before);
    assert_eq!(state(&env.show(&after)), "succeeded");
    env.stop_daemon().unwrap();
}

/// Sends one line on a raw connection and reads one reply.
fn raw_call(stream: &mut UnixStream, line: &[u8]) -> Value {
    use std::io::BufRead;
    stream.write_all(line).unwrap();
    stream.write_all(b"\n").unwrap();
    let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
    let mut reply = String::new();
    reader.read_line(&mut reply).unwrap();
    serde_json::from_str(&reply).unwrap_or_else(|e| panic!("reply {reply:?}: {e}"))
}

#[test]
fn the_rest_of_the_bad_input_list_gets_typed_errors() {
    let mut env = env_with(vec![Scenario::new("[ok]", vec![Step::message("fine")])]);
    env.start_daemon(&["--idle-timeout", "3s"]).unwrap();

    // A 100 MB line: refused with an error, the connection goes on. (Built before
    // connecting: a slow build of it would leave the connection idle past its timeout.)
    let mut huge = br#"{"jsonrpc":"2.0","id":1,"method":"codexd_get","params":[""#.to_vec();
    huge.resize(huge.len() + 100 * 1024 * 1024, b'a');
    huge.extend_from_slice(br#""]}"#);
    let mut stream = UnixStream::connect(&env.socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let too_big = raw_call(&mut stream, &huge);
    assert_eq!(too_big["error"]["code"], -32007, "{too_big}");
    let ok = raw_call(
        &mut stream,
        br#"{"jsonrpc":"2.0","id":2,"method":"codexd_version"}"#,
    );
    assert_eq!(ok["id"], 2);
    drop(stream);

    // Thousands of connections at once: the daemon stays up, serves again once the idle
    // ones are closed, and closes every one of them.
    let mut crowd: Vec<UnixStream> = Vec::new();
    for _ in 0..3000 {
        match UnixStream::connect(&env.socket) {
            Ok(s) => crowd.push(s),
            Err(_) => break,
        }
    }
    assert!(crowd.len() >= 1000, "opened {}", crowd.len());
    assert!(
        eventually(Duration::from_secs(60), || env
            .ctl(&["daemon", "status"])
            .status
            .success()),
        "{}",
        env.daemon_log()
    );
    // Past the connection limit, a connection is told why before it is closed. Connections
    // that asked nothing yet are capped only at both budgets together (1,024 short + up to
    // 16,384 waiters), so a crowd this size may all be served.
    let mut overloaded = 0;
    for stream in &mut crowd {
        let said = closed_by_daemon_after(stream, Duration::from_secs(60)).unwrap_or_else(|why| {
            let log = env.daemon_log();
            let skip = log.chars().count().saturating_sub(4000);
            let tail: String = log.chars().skip(skip).collect();
            panic!("not closed by the daemon: {why}\n...{tail}")
        });
        if !said.is_empty() {
            let error: Value = serde_json::from_slice(said.trim_ascii_end()).unwrap();
            assert_eq!(error["error"]["code"], -32006, "{error}");
            assert_eq!(error["error"]["data"]["kind"], "overloaded", "{error}");
            overloaded += 1;
        }
    }
    if crowd.len() > 1024 + 16 * 1024 + 100 {
        assert!(overloaded > 0, "{} connections, none refused", crowd.len());
    }
    eprintln!(
        "{} connections, {overloaded} refused as overloaded",
        crowd.len()
    );
    drop(crowd);

    // Ambiguous id prefixes: enough tasks that two share a first character.
    let mut ids = Vec::new();
    for i in 0..40 {
        ids.push(env.start_task(&format!("[ok] {i}"), &[]));
    }
    let mut by_first: HashMap<char, usize> = HashMap::new();
    for id in &ids {
        *by_first.entry(id.chars().next().unwrap()).or_default() += 1;
    }
    let shared = by_first
        .iter()
        .find(|(_, n)| **n > 1)
        .unwrap()
        .0
        .to_string();
    let out = env.ctl(&["show", &shared]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ambiguous"));
    let mut raw = UnixStream::connect(&env.socket).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let call = format!(r#"{{"jsonrpc":"2.0","id":3,"method":"codexd_get","params":["{shared}"]}}"#);
    let ambiguous = raw_call(&mut raw, call.as_bytes());
    assert_eq!(ambiguous["error"]["code"], -32002, "{ambiguous}");
    assert_eq!(
        ambiguous["error"]["data"]["kind"], "ambiguous_id",
        "{ambiguous}"
    );
    drop(raw);

    // A cwd that is a file, and a prompt over the limit.
    let file = env.work.join("a-file");
    std::fs::write(&file, "").unwrap();
    let out = env.ctl(&["start", "--cd", file.to_str().unwrap(), "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a directory"));
    let mut big_prompt = env
        .codexctl()
        .args(["start", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    big_prompt
        .stdin
        .take()
        .unwrap()
        .write_all(&vec![b'p'; 300 * 1024])
        .unwrap();
    let out = big_prompt.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the limit is 131071 bytes"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A `-c` value Codex itself rejects: the task fails with Codex's own message.
    let rejected = env.start_task("[ok] bad config", &["-c", "sandbox_mode=\"nope\""]);
    let (code, _) = env.wait(&[&rejected]);
    assert_ne!(code, 0);
    let task = env.show(&rejected);
    assert_eq!(state(&task), "failed", "{task}");
    let error = task["error"].as_str().unwrap();
    assert!(
        error.contains("unknown variant `nope`") && error.contains("sandbox_mode"),
        "{error}"
    );
    assert_eq!(
        env.wait(&ids.iter().map(String::as_str).collect::<Vec<_>>())
            .0,
        0
    );
}
