//! Tests of the supervisor: recovery of runs that an earlier daemon started but died
//! before recording.

use super::test_support::idle_supervisor;
use super::*;
use crate::files::write_atomic;
use crate::registry::records::{EVENTS_FILE, EXIT_FILE, ExitRecord, RUN_FILE, RunRecord};
use crate::registry::taskdir::{StoredRequest, TaskDir};
use codexd_api::{TaskState, Timestamp};
use std::time::{Duration, Instant};

/// Records `id` as queued, with its directory, as `submit` leaves it.
async fn queued(sup: &Supervisor, id: &str) -> TaskDir {
    let request = StoredRequest::for_test(id, "/", Timestamp::now());
    let dir = TaskDir::new(&sup.config().tasks_root(), &request.id);
    std::fs::create_dir_all(sup.config().tasks_root()).unwrap();
    dir.create(&request).unwrap();
    sup.registry().save(&request.new_task()).await.unwrap();
    dir
}

/// A stand-in for a run's process: `sleep`, carrying the task's marker; leading its own
/// session, as a run's supervisor does, when `leader`.
fn marked_sleep(id: &str, leader: bool) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new("sleep");
    cmd.arg("30").env(process::TASK_MARKER_ENV, id);
    if leader {
        // SAFETY: setsid is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
    }
    let child = cmd.spawn().unwrap();
    process::wait_for_marker(child.id(), id);
    child
}

fn state_of(sup: &Supervisor, id: &str) -> Task {
    sup.registry()
        .get(&TaskId::from_stored(id))
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn a_queued_record_whose_run_had_started_is_adopted_not_started_again() {
    let state = tempfile::tempdir().unwrap();
    let sup = idle_supervisor(state.path());
    let (live, ended, starting, orphaned, waiting) =
        ("aaaa1111", "bbbb2222", "cccc3333", "eeee5555", "dddd4444");

    // A run alive with its run.json: the daemon died between spawn and commit.
    let live_dir = queued(&sup, live).await;
    let mut live_runner = marked_sleep(live, true);
    let run = RunRecord {
        runner_pid: live_runner.id(),
        codex_pid: live_runner.id(),
        started_at: Timestamp::now(),
    };
    write_atomic(&live_dir.file(RUN_FILE), &serde_json::to_vec(&run).unwrap()).unwrap();

    // A run that also ended while no daemon watched: exit.json says how.
    let ended_dir = queued(&sup, ended).await;
    let exit = ExitRecord {
        code: Some(3),
        signal: None,
        spawn_error: None,
        not_recorded: None,
        finished_at: Timestamp::now(),
    };
    write_atomic(
        &ended_dir.file(EXIT_FILE),
        &serde_json::to_vec(&exit).unwrap(),
    )
    .unwrap();

    // A supervisor caught before it wrote run.json (it leads its own session): adopted.
    queued(&sup, starting).await;
    let mut starting_runner = marked_sleep(starting, true);

    // Processes of a run whose supervisor is gone, and its log: killed, interrupted.
    let orphaned_dir = queued(&sup, orphaned).await;
    std::fs::write(orphaned_dir.file(EVENTS_FILE), "").unwrap();
    let mut orphan = marked_sleep(orphaned, false);

    // A plain queued task: queued again, untouched.
    queued(&sup, waiting).await;

    sup.recover().await.unwrap();

    let adopted = state_of(&sup, live);
    assert_eq!(adopted.state, TaskState::Running);
    assert_eq!(adopted.pid, Some(live_runner.id()));
    assert_eq!(state_of(&sup, ended).state, TaskState::Failed);
    assert_eq!(state_of(&sup, ended).exit_code, Some(3));

    let caught = state_of(&sup, starting);
    assert_eq!(caught.state, TaskState::Running);
    assert_eq!(caught.pid, Some(starting_runner.id()));

    let killed = orphan.wait().unwrap();
    assert!(!killed.success(), "the orphaned process was killed");
    assert_eq!(state_of(&sup, orphaned).state, TaskState::Interrupted);

    assert_eq!(state_of(&sup, waiting).state, TaskState::Queued);
    let queue: Vec<String> = sup
        .inner
        .sched
        .lock()
        .await
        .queue
        .iter()
        .map(|id| id.to_string())
        .collect();
    assert_eq!(queue, [waiting]);

    // The adopted runs end without an exit status: interrupted, exactly once.
    for (id, runner) in [(live, &mut live_runner), (starting, &mut starting_runner)] {
        runner.kill().unwrap();
        runner.wait().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while state_of(&sup, id).state == TaskState::Running {
            assert!(Instant::now() < deadline, "the adopted run never settled");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(state_of(&sup, id).state, TaskState::Interrupted);
    }
}

/// The argv of a review and of a task with every run option (issue 13).
#[test]
fn codex_args_carry_the_review_target_and_the_run_options() {
    use crate::run::held::RunEnv;
    use std::path::{Path, PathBuf};
    let strings = |args: Vec<std::ffi::OsString>| -> Vec<String> {
        args.into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    };
    let mut request = StoredRequest::for_test("abcd1234", "/w", Timestamp::now());
    request.kind = codexd_api::TaskKind::Review;
    request.sandbox = Some("read-only".into());
    request.review = Some(codexd_api::ReviewTarget {
        base: Some("main".into()),
        title: Some("T".into()),
        ..Default::default()
    });
    let env = RunEnv::default();
    let args = strings(super::codex_args(
        &request.new_task(),
        &env,
        Path::new("/d"),
    ));
    assert_eq!(
        args,
        [
            "exec",
            "--skip-git-repo-check",
            "-C",
            "/w",
            "-s",
            "read-only",
            "review",
            "--json",
            "--base",
            "main",
            "--title",
            "T",
            "--"
        ]
    );
    let mut request = StoredRequest::for_test("abcd1234", "/w", Timestamp::now());
    request.effort = Some("high".into());
    request.profile = Some("p".into());
    request.add_dirs = vec![PathBuf::from("/x")];
    request.images = vec![PathBuf::from("/d/image-1.png")];
    request.output_schema = true;
    let args = strings(super::codex_args(
        &request.new_task(),
        &env,
        Path::new("/d"),
    ));
    assert_eq!(
        args,
        [
            "exec",
            "--skip-git-repo-check",
            "-C",
            "/w",
            "-p",
            "p",
            "--add-dir",
            "/x",
            "--json",
            "-c",
            "model_reasoning_effort=\"high\"",
            "--image=/d/image-1.png",
            "--output-schema",
            "/d/output-schema.json",
            "--",
            "-"
        ]
    );
    // An override that may hold a secret leaves the command line for the run's profile
    // file, which is layered over the user's profile; plain ones stay `-c` arguments.
    let secret = "model_providers.x.http_headers.Authorization=\"Bearer s3cr3t\"";
    let mut request = StoredRequest::for_test("abcd1234", "/w", Timestamp::now());
    request.profile = Some("p".into());
    request.config = vec!["model=\"m\"".into(), secret.into()];
    let task = request.new_task();
    let env = RunEnv {
        config: task.config.clone(),
        ..RunEnv::default()
    };
    let args = strings(super::codex_args(&task, &env, Path::new("/d")));
    assert_eq!(
        args,
        [
            "exec",
            "--skip-git-repo-check",
            "-C",
            "/w",
            "-p",
            "codexd-run-abcd1234",
            "--json",
            "-c",
            "model=\"m\"",
            "--",
            "-"
        ]
    );
    let layer = crate::run::config_layer::plan(&task, &env.config).unwrap();
    assert_eq!(layer.base_profile.as_deref(), Some("p"));
    assert_eq!(layer.overrides, [secret]);
}
