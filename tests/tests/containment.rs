//! Nothing of a run outlives it: not when its supervisor (`codexd run-task`) is killed, not
//! when a command leaves the run's session and clears its environment (issue #14, items 4
//! and 5). The real Codex CLI runs the commands, against the loopback model server.

use codexd_tests::daemon::{TestEnv, eventually, task_processes};
use codexd_tests::model_server::{MockModelServer, Scenario, Step};
use serde_json::Value;
use std::time::{Duration, Instant};

fn env_with(scenarios: Vec<Scenario>) -> TestEnv {
    let server = MockModelServer::start_blocking(scenarios).expect("model server");
    TestEnv::new(server).expect("test env")
}

/// Pids of the processes whose command line is exactly `command`.
fn processes_running(command: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| {
                    s.rsplit_once(')')
                        .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
                })
                .unwrap_or(true);
            !zombie
                && std::fs::read(format!("/proc/{pid}/cmdline"))
                    .map(|c| String::from_utf8_lossy(&c).replace('\0', " ").trim() == command)
                    .unwrap_or(false)
        })
        .collect()
}

fn kill_all(pids: &[u32]) {
    for &pid in pids {
        // SAFETY: killing processes this test started (found by their unusual command).
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
}

fn command_running(env: &TestEnv, id: &str) -> bool {
    eventually(Duration::from_secs(60), || {
        std::fs::read_to_string(env.task_dir(id).join("events.jsonl"))
            .map(|log| log.contains("\"item.started\"") && log.contains("command_execution"))
            .unwrap_or(false)
    })
}

#[test]
fn killing_the_supervisor_ends_the_whole_run_before_it_is_interrupted() {
    let mut env = env_with(vec![Scenario::new(
        "[orphan]",
        vec![Step::shell("sleep 4311"), Step::message("never reached")],
    )]);
    env.start_daemon(&[]).unwrap();
    let id = env.start_task("[orphan] sleep a long time", &[]);
    assert!(command_running(&env, &id), "{}", env.daemon_log());
    assert!(eventually(Duration::from_secs(10), || !processes_running(
        "sleep 4311"
    )
    .is_empty()));
    let supervisor = env.show(&id)["pid"].as_u64().expect("a running task's pid") as i32;
    // SAFETY: the test's own run supervisor.
    unsafe { libc::kill(supervisor, libc::SIGKILL) };

    let begun = Instant::now();
    let settled = loop {
        // The state first, then the processes: a task recorded `interrupted` while anything
        // of it still runs fails here.
        let task: Value = env.show(&id);
        let left = task_processes(&id);
        let sleeping = processes_running("sleep 4311");
        if task["state"] == "interrupted" {
            assert!(
                left.is_empty() && sleeping.is_empty(),
                "interrupted while {left:?} (sleep: {sleeping:?}) still run"
            );
            break true;
        }
        if begun.elapsed() > Duration::from_secs(15) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let left = processes_running("sleep 4311");
    kill_all(&left);
    kill_all(&task_processes(&id));
    assert!(settled, "not interrupted within 15 s: {}", env.show(&id));
    assert!(left.is_empty(), "the command outlived its supervisor");
    // Nothing is left to cancel, and cancel says so.
    let again = env.ctl(&["cancel", &id]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already ended"));
}

#[test]
fn a_command_that_leaves_the_session_and_clears_its_environment_is_cancelled_too() {
    let mut env = env_with(vec![Scenario::new(
        "[escape]",
        vec![
            Step::shell("setsid env -i sleep 4321 </dev/null >/dev/null 2>&1 & sleep 4322"),
            Step::message("never reached"),
        ],
    )]);
    env.start_daemon(&[]).unwrap();
    let id = env.start_task("[escape] leave and hide", &[]);
    assert!(command_running(&env, &id), "{}", env.daemon_log());
    assert!(
        eventually(Duration::from_secs(10), || !processes_running("sleep 4321")
            .is_empty()),
        "the escaping command never started"
    );
    // Only a cgroup contains this; without a writable cgroup v2 hierarchy the documented
    // fallback (process group + marker) cannot, so there is nothing to check.
    let runner = env.show(&id)["pid"].as_u64().unwrap_or(0);
    let contained = std::fs::read_to_string(format!("/proc/{runner}/cgroup"))
        .is_ok_and(|c| c.contains(&format!("/codexd/{id}")));
    if !contained {
        eprintln!("skipped: runs are not in cgroups here (no writable cgroup v2)");
        let _ = env.ctl(&["cancel", &id]);
        kill_all(&processes_running("sleep 4321"));
        return;
    }
    let out = env.ctl(&["cancel", &id, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let task: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(task["state"], "cancelled");
    let escaped = processes_running("sleep 4321");
    kill_all(&escaped);
    kill_all(&processes_running("sleep 4322"));
    assert_eq!(
        escaped,
        Vec::<u32>::new(),
        "the escaped process survived the cancel"
    );
    assert_eq!(task_processes(&id), Vec::<u32>::new());
}
