//! Isolated worktrees and best-of-N (issue 13), end to end: the real `codexd` and
//! `codexctl`, the real Codex CLI against the scripted model server, and real git
//! repositories. The user's tree, index and stash stay as they were until `apply`.

use codexd_tests::daemon::{TestEnv, git, output, peak_running};
use codexd_tests::model_server::{MockModelServer, Scenario, Step};
use serde_json::Value;
use std::path::Path;

fn env_with(scenarios: Vec<Scenario>) -> TestEnv {
    let server = MockModelServer::start_blocking(scenarios).expect("model server");
    TestEnv::new(server).expect("test env")
}

/// codexctl's stdout, asserting it exited 0.
fn ok(env: &TestEnv, args: &[&str]) -> String {
    let out = env.ctl(args);
    assert!(
        out.status.success(),
        "codexctl {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        env.daemon_log()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// codexctl's stdout as JSON, asserting it exited 0.
fn ok_json(env: &TestEnv, args: &[&str]) -> Value {
    serde_json::from_str(&ok(env, args)).expect("JSON output")
}

/// Everything of the user's repository that a task must not touch: status, the index
/// (`git diff --cached`), the unstaged diff, the stash, the branches and worktrees.
fn user_state(work: &Path) -> Vec<String> {
    vec![
        git(work, &["status", "--porcelain", "--untracked-files=all"]),
        git(work, &["diff", "--cached"]),
        git(work, &["diff"]),
        git(work, &["stash", "list"]),
        git(work, &["rev-parse", "HEAD"]),
    ]
}

/// A repository in `work` with `files` committed.
fn repo_with(work: &Path, files: &[(&str, &str)]) {
    git(work, &["init", "-q"]);
    for (name, text) in files {
        let path = work.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    git(work, &["add", "-A"]);
    git(work, &["commit", "-qm", "base"]);
}

/// The `codexd/*` branches of the repository.
fn codexd_branches(work: &Path) -> String {
    git(
        work,
        &["branch", "--list", "--format=%(refname:short)", "codexd/*"],
    )
}

#[test]
fn a_worktree_task_leaves_the_users_tree_index_and_stash_alone_until_apply() {
    let mut env = env_with(vec![Scenario::new(
        "[isolated]",
        vec![
            // Runs in the worktree's `sub/`: sees the user's uncommitted edits there.
            Step::shell("cat ../mine.txt ../tracked.txt ../staged.txt"),
            Step::patch(
                "*** Begin Patch\n*** Add File: new.txt\n+made by codex\n*** Update File: code.txt\n@@\n-fn old() {}\n+fn new() {}\n*** End Patch\n",
            ),
            Step::message("Changed code.txt, added new.txt."),
        ],
    )]);
    let work = env.work.clone();
    repo_with(
        &work,
        &[
            ("tracked.txt", "one\n"),
            ("staged.txt", "s1\n"),
            ("sub/code.txt", "fn old() {}\n"),
        ],
    );
    // The user's own uncommitted work: a modified tracked file, a staged change, an
    // untracked file, and a stash entry.
    std::fs::write(work.join("tracked.txt"), "one\nstashed\n").unwrap();
    git(&work, &["stash", "-q"]);
    std::fs::write(work.join("tracked.txt"), "one\nuser line\n").unwrap();
    std::fs::write(work.join("staged.txt"), "s1\nstaged line\n").unwrap();
    git(&work, &["add", "staged.txt"]);
    std::fs::write(work.join("mine.txt"), "untracked by the user\n").unwrap();
    let before = user_state(&work);

    env.start_daemon(&[]).unwrap();
    let id = env.start_task("[isolated] edit code.txt", &["--worktree", "--cd", "sub"]);
    let (code, summary) = env.wait(&[&id]);
    assert_eq!(code, 0, "{summary}\n{}", env.daemon_log());

    let task = env.show(&id);
    let wt = &task["worktree"];
    let path = Path::new(wt["path"].as_str().unwrap()).to_path_buf();
    assert_eq!(path, env.state_dir.join("worktrees").join(&id));
    assert_eq!(wt["branch"], format!("codexd/{id}"));
    assert_eq!(wt["repo"], work.display().to_string());
    assert_eq!(
        wt["head_commit"].as_str().unwrap(),
        git(&work, &["rev-parse", "HEAD"]).trim()
    );
    let base = wt["base_commit"].as_str().unwrap().to_string();
    assert_ne!(
        wt["head_commit"], wt["base_commit"],
        "the base is a snapshot commit of the uncommitted changes"
    );
    assert_eq!(
        task["cwd"],
        path.join("sub").display().to_string(),
        "the task runs in the same subdirectory of its worktree"
    );
    assert!(task["group"].is_null());
    // "This project's tasks" find it where it was started (the repository and its `sub/`),
    // not only by the worktree it runs in: `list --cwd`, and the count the status line and
    // the hooks use.
    for dir in [work.clone(), work.join("sub")] {
        let page = ok_json(&env, &["list", "--cwd", &dir.to_string_lossy(), "--json"]);
        let ids: Vec<&str> = page["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["id"].as_str())
            .collect();
        assert_eq!(ids, [id.as_str()], "list --cwd {}", dir.display());
    }
    let elsewhere = ok_json(
        &env,
        &["list", "--cwd", &env.state_dir.to_string_lossy(), "--json"],
    );
    assert_eq!(
        elsewhere["tasks"].as_array().unwrap().len(),
        0,
        "{elsewhere}"
    );
    let line = ok(&env, &["statusline", "--project", &work.to_string_lossy()]);
    assert!(
        line.contains("1 unread"),
        "the unread worktree task is counted: {line}"
    );
    // Codex saw the user's uncommitted changes (all three kinds) in its worktree.
    let seen = String::from_utf8_lossy(&env.ctl(&["logs", &id]).stdout).into_owned();
    for text in ["untracked by the user", "user line", "staged line"] {
        assert!(seen.contains(text), "{text} in {seen}");
    }
    assert_eq!(
        std::fs::read_to_string(path.join("sub/new.txt")).unwrap(),
        "made by codex\n"
    );

    // Nothing of the user's changed: tree, index, stash.
    assert_eq!(user_state(&work), before);
    assert!(!work.join("sub/new.txt").exists());
    assert_eq!(
        std::fs::read_to_string(work.join("sub/code.txt")).unwrap(),
        "fn old() {}\n"
    );

    // The diff is the task's change against the base, and only that.
    let patch = ok(&env, &["diff", &id]);
    assert!(patch.contains("+++ b/sub/new.txt"), "{patch}");
    assert!(
        patch.contains("-fn old() {}") && patch.contains("+fn new() {}"),
        "{patch}"
    );
    assert!(
        !patch.contains("mine.txt") && !patch.contains("staged"),
        "{patch}"
    );
    let diff = ok_json(&env, &["diff", &id, "--json"]);
    assert_eq!(diff["base_commit"], base.as_str());
    assert_eq!(
        diff["stat"]["files"],
        serde_json::json!(["sub/code.txt", "sub/new.txt"])
    );
    assert_eq!(diff["stat"]["insertions"], 2);
    assert_eq!(diff["stat"]["deletions"], 1);
    let stat = ok(&env, &["diff", &id, "--stat"]);
    assert!(stat.contains("2 files (+2 -1)"), "{stat}");
    // The structured result measures against the same base.
    let result = ok_json(&env, &["result", &id, "--json"]);
    assert_eq!(result["diffstat"]["files"], 2, "{result}");

    // Apply: exactly the task's change lands; the index and stash stay as they were.
    let applied = ok(&env, &["apply", &id]);
    assert!(applied.contains("applied 2 files"), "{applied}");
    assert_eq!(
        std::fs::read_to_string(work.join("sub/new.txt")).unwrap(),
        "made by codex\n"
    );
    assert_eq!(
        std::fs::read_to_string(work.join("sub/code.txt")).unwrap(),
        "fn new() {}\n"
    );
    let after = user_state(&work);
    assert_eq!(after[1], before[1], "the index is untouched by apply");
    assert_eq!(after[3], before[3], "the stash is untouched");
    assert_eq!(
        std::fs::read_to_string(work.join("tracked.txt")).unwrap(),
        "one\nuser line\n"
    );
    assert_eq!(
        std::fs::read_to_string(work.join("mine.txt")).unwrap(),
        "untracked by the user\n"
    );
    let mut expected: Vec<String> = before[0].lines().map(str::to_string).collect();
    expected.push(" M sub/code.txt".into());
    expected.push("?? sub/new.txt".into());
    expected.sort();
    let mut status: Vec<String> = after[0].lines().map(str::to_string).collect();
    status.sort();
    assert_eq!(status, expected);
    assert!(env.show(&id)["worktree"]["applied_at"].is_string());

    // Discard: no worktree, no branch; the record stays, marked.
    let discarded = ok(&env, &["discard", &id]);
    assert!(
        discarded.contains(&format!("discarded {id}")),
        "{discarded}"
    );
    assert!(!path.exists());
    assert_eq!(git(&work, &["worktree", "list"]).lines().count(), 1);
    assert_eq!(codexd_branches(&work), "");
    let task = env.show(&id);
    assert!(task["worktree"]["discarded_at"].is_string(), "{task}");
    let out = env.ctl(&["diff", &id]);
    assert!(!out.status.success());
}

#[test]
fn an_apply_that_conflicts_applies_nothing_and_names_the_conflicting_files() {
    let mut env = env_with(vec![Scenario::new(
        "[conflict]",
        vec![
            Step::patch(
                "*** Begin Patch\n*** Update File: f.txt\n@@\n a\n-b\n+B from codex\n*** Update File: g.txt\n@@\n-g\n+G from codex\n*** Add File: added.txt\n+new\n*** End Patch\n",
            ),
            Step::message("Edited f.txt and g.txt."),
        ],
    )]);
    let work = env.work.clone();
    repo_with(&work, &[("f.txt", "a\nb\nc\n"), ("g.txt", "g\n")]);
    env.start_daemon(&[]).unwrap();
    let id = env.start_task("[conflict] edit", &["--worktree"]);
    let (code, summary) = env.wait(&[&id]);
    assert_eq!(code, 0, "{summary}\n{}", env.daemon_log());

    // Meanwhile the user changed the same line.
    std::fs::write(work.join("f.txt"), "a\nB from the user\nc\n").unwrap();
    let before = user_state(&work);
    let out = env.ctl(&["apply", &id]);
    assert_eq!(out.status.code(), Some(1), "a conflict exits 1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("nothing was applied") && stderr.contains("conflicting files:\n  f.txt\n"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("g.txt"),
        "only the conflicting file: {stderr}"
    );
    // Nothing half-applied: not g.txt, not added.txt, f.txt as the user left it.
    assert_eq!(user_state(&work), before);
    assert!(!work.join("added.txt").exists());
    assert_eq!(std::fs::read_to_string(work.join("g.txt")).unwrap(), "g\n");
    assert_eq!(
        std::fs::read_to_string(work.join("f.txt")).unwrap(),
        "a\nB from the user\nc\n"
    );
    let out = env.ctl(&["apply", &id, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["applied"], false);
    assert_eq!(reply["conflicts"], serde_json::json!(["f.txt"]));
    assert!(env.show(&id)["worktree"]["applied_at"].is_null());

    // A worktree removed by hand: discard reports it and still cleans up git's list and
    // the branch.
    let path = env.state_dir.join("worktrees").join(&id);
    std::fs::remove_dir_all(&path).unwrap();
    let out = ok(&env, &["discard", &id]);
    assert!(out.contains("already gone"), "{out}");
    assert_eq!(git(&work, &["worktree", "list"]).lines().count(), 1);
    assert_eq!(codexd_branches(&work), "");
}

/// A unittest module with `pass` passing and `fail` failing tests.
fn test_module(pass: usize, fail: usize) -> String {
    let mut text = String::from("import unittest\n\nclass T(unittest.TestCase):\n");
    for i in 0..pass {
        text.push_str(&format!(
            "    def test_ok{i}(self):\n        self.assertTrue(True)\n\n"
        ));
    }
    for i in 0..fail {
        text.push_str(&format!(
            "    def test_bad{i}(self):\n        self.assertTrue(False)\n\n"
        ));
    }
    text
}

/// An apply_patch adding `test_fix.py` with `pass`/`fail` tests and `extra` more lines.
fn attempt_patch(pass: usize, fail: usize, extra: usize) -> Step {
    let mut body: String = test_module(pass, fail)
        .lines()
        .map(|l| format!("+{l}\n"))
        .collect();
    for i in 0..extra {
        body.push_str(&format!("+# padding {i}\n"));
    }
    Step::patch(format!(
        "*** Begin Patch\n*** Add File: test_fix.py\n{body}*** End Patch\n"
    ))
}

#[test]
fn best_of_three_runs_in_three_worktrees_and_compare_ranks_them_by_tests() {
    let mut env = env_with(vec![Scenario::new(
        "[best-of]",
        vec![
            // Each attempt gets a different patch: (passed, failed, padding lines).
            Step::rotate(vec![
                attempt_patch(1, 1, 0),
                attempt_patch(2, 0, 5),
                attempt_patch(2, 0, 0),
            ]),
            Step::shell("python3 -m unittest -v test_fix"),
            Step::message("Wrote test_fix.py and ran it."),
        ],
    )]);
    let work = env.work.clone();
    repo_with(&work, &[("README", "r\n")]);
    std::fs::write(work.join("README"), "r\nuncommitted\n").unwrap();
    let before = user_state(&work);
    env.start_daemon(&["--max-running", "2"]).unwrap();

    let mut args = env.start_args();
    args.extend(
        [
            "--worktree",
            "--attempts",
            "3",
            "--json",
            "[best-of] fix it",
        ]
        .map(String::from),
    );
    let out = output(env.codexctl().args(&args));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let started: Value = serde_json::from_slice(&out.stdout).unwrap();
    let group = started["group"].as_str().unwrap().to_string();
    let ids: Vec<String> = started["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 3);
    let tasks: Vec<Value> = ids.iter().map(|id| env.show(id)).collect();
    let bases: Vec<&str> = tasks
        .iter()
        .map(|t| t["worktree"]["base_commit"].as_str().unwrap())
        .collect();
    assert!(bases.iter().all(|b| *b == bases[0]), "one base: {bases:?}");
    let paths: std::collections::BTreeSet<&str> = tasks
        .iter()
        .map(|t| t["worktree"]["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths.len(), 3, "three worktrees");
    assert!(tasks.iter().all(|t| t["group"] == group.as_str()));

    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let (code, summary) = env.wait(&id_refs);
    assert_eq!(code, 0, "{summary}\n{}", env.daemon_log());
    assert_eq!(user_state(&work), before, "the user's tree untouched");
    // The attempts ran under the daemon's normal limit (--max-running 2), not all at once.
    let finished: Vec<Value> = ids.iter().map(|id| env.show(id)).collect();
    assert_eq!(peak_running(&finished), 2, "{finished:?}");

    let compare = ok_json(&env, &["compare", &group, "--json"]);
    assert_eq!(compare["group"], group.as_str());
    assert_eq!(compare["base_commit"], bases[0]);
    let entries = compare["entries"].as_array().unwrap();
    let ranked: Vec<(u64, u64, u64)> = entries
        .iter()
        .map(|e| {
            (
                e["tests_passed"].as_u64().unwrap(),
                e["tests_failed"].as_u64().unwrap(),
                e["stat"]["insertions"].as_u64().unwrap(),
            )
        })
        .collect();
    let lines = |pass: usize, fail: usize, extra: usize| {
        (test_module(pass, fail).lines().count() + extra) as u64
    };
    assert_eq!(
        ranked,
        [
            (2, 0, lines(2, 0, 0)),
            (2, 0, lines(2, 0, 5)),
            (1, 1, lines(1, 1, 0))
        ],
        "passed desc, failed asc, then the smaller diff: {compare}"
    );
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e["rank"], i as u64 + 1);
        assert_eq!(e["state"], "succeeded");
        assert_eq!(e["summary"], "Wrote test_fix.py and ran it.");
        assert!(e["tokens"].as_u64().unwrap() > 0);
        assert!(e["duration_ms"].is_u64());
        assert_eq!(e["stat"]["files"], serde_json::json!(["test_fix.py"]));
    }
    let table = ok(&env, &["compare", &group]);
    assert!(
        table.contains("RANK") && table.contains("unittest: 2/0"),
        "{table}"
    );

    // Apply the best, discard the rest in one command.
    let best = entries[0]["task_id"].as_str().unwrap().to_string();
    ok(&env, &["apply", &best]);
    let applied = std::fs::read_to_string(work.join("test_fix.py")).unwrap();
    assert_eq!(applied, test_module(2, 0));
    let out = ok_json(
        &env,
        &["discard", "--group", &group, "--except", &best, "--json"],
    );
    let gone: std::collections::BTreeSet<&str> = out["discarded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["task_id"].as_str().unwrap())
        .collect();
    let rest: std::collections::BTreeSet<&str> = ids
        .iter()
        .map(String::as_str)
        .filter(|id| *id != best)
        .collect();
    assert_eq!(gone, rest);
    assert_eq!(
        git(&work, &["worktree", "list"]).lines().count(),
        2,
        "the best one's stays"
    );
    assert_eq!(codexd_branches(&work).trim(), format!("codexd/{best}"));
    let compare = ok_json(&env, &["compare", &group, "--json"]);
    let discarded = compare["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["discarded"] == true)
        .count();
    assert_eq!(discarded, 2);
}

#[test]
fn worktree_tasks_survive_a_daemon_restart_and_resume_in_the_same_worktree() {
    let mut env = env_with(vec![
        Scenario::new(
            "[first]",
            vec![
                Step::patch("*** Begin Patch\n*** Add File: one.txt\n+1\n*** End Patch\n"),
                Step::message("one"),
            ],
        ),
        Scenario::new(
            "[second]",
            vec![
                Step::patch("*** Begin Patch\n*** Add File: two.txt\n+2\n*** End Patch\n"),
                Step::message("two"),
            ],
        ),
    ]);
    let work = env.work.clone();
    repo_with(&work, &[("base.txt", "b\n")]);
    env.start_daemon(&[]).unwrap();
    let id = env.start_task("[first] add one", &["--worktree"]);
    assert_eq!(env.wait(&[&id]).0, 0, "{}", env.daemon_log());
    let before = env.show(&id);

    env.stop_daemon().unwrap();
    // A worktree no task names (a start killed before recording its task) is removed at
    // start-up, with its branch.
    let stray = env.state_dir.join("worktrees").join("zzzzzzzz");
    git(
        &work,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "codexd/zzzzzzzz",
            stray.to_str().unwrap(),
            "HEAD",
        ],
    );
    env.start_daemon(&[]).unwrap();
    // Answered once the daemon serves, which is after its start-up cleaning.
    let after = env.show(&id);
    assert!(!stray.exists(), "{}", env.daemon_log());
    assert_eq!(codexd_branches(&work).trim(), format!("codexd/{id}"));
    assert_eq!(after["worktree"], before["worktree"], "the record survives");
    let diff = ok_json(&env, &["diff", &id, "--json"]);
    assert_eq!(diff["stat"]["files"], serde_json::json!(["one.txt"]));

    // A resume runs in the same worktree and adds to the same change.
    let out = env.ctl(&["resume", &id, "[second] add two"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let child = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(env.wait(&[&child]).0, 0, "{}", env.daemon_log());
    let resumed = env.show(&child);
    assert_eq!(resumed["cwd"], before["cwd"]);
    assert_eq!(resumed["worktree"]["path"], before["worktree"]["path"]);
    let path = Path::new(before["worktree"]["path"].as_str().unwrap());
    assert!(path.join("two.txt").exists());
    let diff = ok_json(&env, &["diff", &child, "--json"]);
    assert_eq!(
        diff["stat"]["files"],
        serde_json::json!(["one.txt", "two.txt"])
    );
    ok(&env, &["apply", &child]);
    assert!(work.join("one.txt").exists() && work.join("two.txt").exists());
    // Discarding one discards the shared worktree; both records say so.
    ok(&env, &["discard", &child]);
    assert!(!path.exists());
    assert!(env.show(&id)["worktree"]["discarded_at"].is_string());
    assert_eq!(codexd_branches(&work), "");
    // A registry rebuilt from the task directories keeps the applied and discarded marks.
    env.stop_daemon().unwrap();
    env.start_daemon(&["--rebuild-registry"]).unwrap();
    let rebuilt = env.show(&child);
    assert!(rebuilt["worktree"]["applied_at"].is_string(), "{rebuilt}");
    assert!(rebuilt["worktree"]["discarded_at"].is_string(), "{rebuilt}");
    assert!(env.show(&id)["worktree"]["discarded_at"].is_string());

    // Prune removes the worktree and branch of a pruned task; a worktree whose directory
    // was removed by hand is reported in the reply, and the prune goes on.
    let third = env.start_task("[first] once more", &["--worktree"]);
    let fourth = env.start_task("[first] and again", &["--worktree"]);
    assert_eq!(env.wait(&[&third, &fourth]).0, 0, "{}", env.daemon_log());
    let third_path = env.state_dir.join("worktrees").join(&third);
    let fourth_path = env.state_dir.join("worktrees").join(&fourth);
    assert!(third_path.is_dir() && fourth_path.is_dir());
    assert_eq!(git(&work, &["worktree", "list"]).lines().count(), 3);
    std::fs::remove_dir_all(&fourth_path).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let reply = ok_json(&env, &["prune", "--older-than", "1ms", "--json"]);
    let pruned: Vec<&str> = reply["pruned"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|id| id.as_str())
        .collect();
    assert!(
        pruned.contains(&third.as_str()) && pruned.contains(&fourth.as_str()),
        "{reply}"
    );
    let notes = reply["notes"].as_array().expect("notes on what was gone");
    assert!(
        notes.iter().any(|n| {
            let n = n.as_str().unwrap_or_default();
            n.starts_with(&format!("{fourth}: ")) && n.contains("already gone")
        }),
        "the hand-removed worktree is reported: {reply}"
    );
    assert!(
        !notes
            .iter()
            .any(|n| n.as_str().unwrap_or_default().starts_with(&third)),
        "nothing to report for the intact worktree: {reply}"
    );
    assert!(!third_path.exists(), "prune removed the worktree");
    assert_eq!(git(&work, &["worktree", "list"]).lines().count(), 1);
    assert_eq!(codexd_branches(&work), "");
    // Nothing was left to report on: the field is absent from an empty prune.
    let reply = ok_json(&env, &["prune", "--older-than", "1ms", "--json"]);
    assert_eq!(reply, serde_json::json!({"pruned": [], "dry_run": false}));
}

#[test]
fn bad_worktree_starts_are_refused_with_typed_errors_before_a_task_exists() {
    let mut env = env_with(vec![]);
    env.start_daemon(&[]).unwrap();
    let start = |extra: &[&str]| {
        let mut args = env.start_args();
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push("[none] x".into());
        output(env.codexctl().args(&args))
    };
    // env.work is not a git repository.
    let out = start(&["--worktree"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not in a git work tree"), "{stderr}");
    let out = start(&["--attempts", "2"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("attempts needs isolation"), "{stderr}");
    repo_with(&env.work, &[("a", "a\n")]);
    let out = start(&["--worktree", "--attempts", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("attempts: 0 is out of range"), "{stderr}");
    let listed = ok_json(&env, &["list", "--json"]);
    assert_eq!(
        listed["tasks"],
        serde_json::json!([]),
        "no task was created"
    );
    assert!(
        !env.state_dir.join("worktrees").exists()
            || std::fs::read_dir(env.state_dir.join("worktrees"))
                .unwrap()
                .count()
                == 0
    );
}
