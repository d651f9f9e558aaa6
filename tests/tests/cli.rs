//! `codexctl` as a Unix tool: closed pipes, completions and the man page, one-line usage
//! errors and exit codes, `list` paging, `show` of a running task, and `wait` on a
//! terminal (a pty from util-linux `script`) and off one. The real daemon and `codexctl`
//! binaries; codex is a small shell script whose runs end when the test opens their gate.

use codexd_tests::daemon::{TestEnv, bin, eventually, output};
use codexd_tests::model_server::MockModelServer;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// A daemon whose codex is a script (reading its prompt as the real one does: the last
/// argument, or stdin when that is `-`): a prompt `gate:NAME ...` reports a running command
/// `wait-for-gate-NAME-to-open-before-answering` and ends once `<gates>/NAME` exists;
/// any other prompt ends at once. Every run answers `answer for NAME`.
struct Cli {
    env: TestEnv,
    gates: PathBuf,
}

impl Cli {
    fn start() -> Cli {
        let server = MockModelServer::start_blocking(vec![]).expect("model server");
        let mut env = TestEnv::new(server).expect("test env");
        let gates = env.root.path().join("gates");
        std::fs::create_dir_all(&gates).unwrap();
        let codex = env.root.path().join("fake-codex");
        std::fs::write(&codex, fake_codex(&gates)).unwrap();
        std::fs::set_permissions(&codex, std::fs::Permissions::from_mode(0o755)).unwrap();
        env.codex = codex;
        env.start_daemon(&[]).unwrap();
        Cli { env, gates }
    }

    fn open(&self, gate: &str) {
        std::fs::write(self.gates.join(gate), "").unwrap();
    }

    /// Starts a task with `prompt`; returns its id.
    fn task(&self, prompt: &str) -> String {
        let out = output(self.env.codexctl().args(["start", prompt]));
        assert!(out.status.success(), "start: {}", text(&out.stderr));
        text(&out.stdout).trim().to_string()
    }

    /// Waits until the task is running with its gate command started.
    fn until_gated(&self, id: &str) {
        let gated = eventually(Duration::from_secs(30), || {
            let log = std::fs::read_to_string(self.env.task_dir(id).join("events.jsonl"));
            log.is_ok_and(|l| l.contains("wait-for-gate-"))
        });
        assert!(
            gated,
            "task {id} never reached its gate\n{}",
            self.env.daemon_log()
        );
    }

    fn state(&self, id: &str) -> String {
        self.env.show(id)["state"]
            .as_str()
            .unwrap_or("?")
            .to_string()
    }

    fn finished(&self, id: &str) {
        let (code, summary) = self.env.wait(&[id]);
        assert_eq!(code, 0, "{summary}");
    }
}

fn fake_codex(gates: &Path) -> String {
    format!(
        r#"#!/bin/sh
set -f
for arg; do prompt=$arg; done
# As the real codex: `-` means the prompt comes on stdin (codexd sends it there).
[ "$prompt" = - ] && prompt=$(cat)
set -- $prompt
name=${{1#gate:}}
echo '{{"type":"thread.started","thread_id":"fake-thread"}}'
echo '{{"type":"turn.started"}}'
case "$1" in gate:*)
  echo '{{"type":"item.started","item":{{"id":"c","type":"command_execution","command":"wait-for-gate-'"$name"'-to-open-before-answering","status":"in_progress"}}}}'
  while [ ! -e {gates}/"$name" ]; do sleep 0.05; done;;
esac
echo '{{"type":"item.completed","item":{{"id":"m","type":"agent_message","text":"answer for '"$name"'"}}}}'
echo '{{"type":"turn.completed","usage":{{"input_tokens":1,"cached_input_tokens":0,"output_tokens":1}}}}'
"#,
        gates = gates.display()
    )
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The write end of a pipe whose read end is already closed: every write to it fails with
/// EPIPE, whenever the command gets to write.
fn closed_pipe() -> Stdio {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills `fds` with two new descriptors, which we own from here on.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both descriptors are ours; the read end is closed, the write end is owned.
    unsafe { libc::close(fds[0]) };
    Stdio::from(unsafe { OwnedFd::from_raw_fd(fds[1]) })
}

/// Runs `cmd` with stdout a closed pipe; returns (exit code, stderr).
fn into_closed_pipe(cmd: &mut Command) -> (Option<i32>, String) {
    let child = cmd
        .stdout(closed_pipe())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let out = child.wait_with_output().expect("wait");
    (out.status.code(), text(&out.stderr))
}

/// Runs `command` (a shell command line) on a pty `cols` columns wide, with `env` set;
/// returns what the terminal received.
fn on_a_pty(command: &str, cols: u16, env: &[(&str, &str)]) -> Output {
    let line = format!("stty cols {cols} rows 24; exec {command}");
    let mut cmd = Command::new("script");
    cmd.args(["-qefc", &line, "/dev/null"])
        .env_remove("COLUMNS")
        .env_remove("NO_COLOR")
        .env("TERM", "xterm")
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    output(&mut cmd)
}

fn have_script() -> bool {
    Command::new("script")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `codexctl --socket S --no-autostart ARGS...` as one shell command line.
fn ctl_line(env: &TestEnv, args: &[&str]) -> String {
    let mut words = vec![
        bin("codexctl").display().to_string(),
        "--socket".into(),
        env.socket.display().to_string(),
        "--no-autostart".into(),
    ];
    words.extend(args.iter().map(|a| a.to_string()));
    words.join(" ")
}

#[test]
fn every_printing_command_exits_quietly_into_a_closed_pipe() {
    let cli = Cli::start();
    let done = cli.task("quick one");
    cli.finished(&done);
    let held = cli.task("gate:held held until cancelled");
    cli.until_gated(&held);
    let cases: Vec<Vec<&str>> = vec![
        vec!["list"],
        vec!["list", "--json"],
        vec!["show", &done],
        vec!["show", &done, "--json"],
        vec!["show", &held],
        vec!["logs", &done],
        vec!["logs", &done, "--json"],
        vec!["logs", &done, "--stderr"],
        vec!["logs", &done, "--follow"],
        vec!["result", &done],
        vec!["result", "--json", "--full", &done],
        vec!["wait", &done],
        vec!["wait", &done, "--json"],
        vec!["prune", "--older-than", "1h", "--dry-run"],
        vec!["prune", "--older-than", "1h", "--json"],
        vec!["daemon", "status"],
        vec!["daemon", "status", "--json"],
        vec!["start", "quick two"],
        vec!["start", "--json", "quick three"],
        vec!["resume", &done, "quick four"],
        vec!["completions", "bash"],
        vec!["completions", "zsh"],
        vec!["man"],
        vec!["--help"],
        vec!["list", "--help"],
        vec!["--version"],
        vec!["doctor"],
        vec!["doctor", "--json"],
        // Every task is under `/`: the segment has something to print.
        vec!["statusline", "--project", "/"],
        vec!["daemon", "install", "--dry-run"],
        vec!["cancel", &held],
    ];
    for args in &cases {
        let (code, stderr) = into_closed_pipe(cli.env.codexctl().args(args));
        assert_eq!(
            code,
            Some(0),
            "codexctl {args:?} into a closed pipe: {stderr}"
        );
        assert_eq!(stderr, "", "codexctl {args:?} into a closed pipe");
    }
    // The command did its work all the same.
    assert_eq!(cli.state(&held), "cancelled");
    // As a shell pipeline; stopping the daemon comes last.
    for args in [vec!["list"], vec!["logs", &done], vec!["daemon", "stop"]] {
        let line = format!(
            "{} | true; echo \"status=${{PIPESTATUS[0]}}\"",
            ctl_line(&cli.env, &args)
        );
        let out = output(Command::new("bash").args(["-c", &line]));
        assert_eq!(text(&out.stdout).trim(), "status=0", "{args:?}");
        assert_eq!(text(&out.stderr), "", "{args:?}");
    }
}

#[test]
fn completions_and_the_man_page_are_generated() {
    let server = MockModelServer::start_blocking(vec![]).expect("model server");
    let env = TestEnv::new(server).expect("test env");
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = env.ctl(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        for sub in [
            "start",
            "wait",
            "list",
            "logs",
            "result",
            "daemon",
            "completions",
            "man",
        ] {
            assert!(script.contains(sub), "{shell} completions mention {sub}");
        }
        assert!(script.contains("limit"), "{shell} completions have flags");
    }
    let bash = env.ctl(&["completions", "bash"]);
    let file = env.root.path().join("codexctl.bash");
    std::fs::write(&file, &bash.stdout).unwrap();
    let check = output(Command::new("bash").arg("-n").arg(&file));
    assert!(check.status.success(), "bash -n: {}", text(&check.stderr));
    assert!(text(&bash.stdout).contains("complete -F _codexctl"));

    let man = env.ctl(&["man"]);
    assert_eq!(man.status.code(), Some(0));
    let page = text(&man.stdout);
    assert!(
        page.lines().any(|l| l.starts_with(".TH codexctl 1")),
        "{page}"
    );
    assert!(
        page.contains(".SH NAME") && page.contains(".SH SUBCOMMANDS"),
        "{page}"
    );
    assert!(
        page.contains("codexctl\\-wait") || page.contains("wait"),
        "{page}"
    );
    assert!(env.ctl(&["completions", "tcsh"]).status.code() == Some(2));
}

#[test]
fn usage_errors_are_one_line_with_exit_2_and_help_is_unchanged() {
    let server = MockModelServer::start_blocking(vec![]).expect("model server");
    let env = TestEnv::new(server).expect("test env");
    let cases: [(&[&str], &str, &str); 4] = [
        (&["list", "--limit", "0"], "1..=1000", "codexctl list"),
        (&["list", "--limt", "3"], "'--limit'", "codexctl list"),
        (&["wait"], "<IDS>", "codexctl wait"),
        (
            &["daemon", "status", "--bogus"],
            "--bogus",
            "codexctl daemon status",
        ),
    ];
    for (args, needle, sub) in cases {
        let out = env.ctl(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(text(&out.stdout), "", "{args:?}");
        let err = text(&out.stderr);
        assert_eq!(err.lines().count(), 1, "one line: {err:?}");
        assert!(err.starts_with("codexctl: "), "{err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(
            err.trim_end().ends_with(&format!("(see '{sub} --help')")),
            "{err}"
        );
    }
    assert_eq!(env.ctl(&["list", "--limit", "1001"]).status.code(), Some(2));
    for args in [&["--help"][..], &["list", "--help"], &["--version"]] {
        let out = env.ctl(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(!out.stdout.is_empty());
        assert_eq!(text(&out.stderr), "");
    }
    assert!(text(&env.ctl(&["list", "--help"]).stdout).contains("--cursor"));
}

#[test]
fn daemon_status_and_stop_without_a_daemon_exit_3_and_start_none() {
    let server = MockModelServer::start_blocking(vec![]).expect("model server");
    let env = TestEnv::new(server).expect("test env");
    for args in [
        &["daemon", "status"][..],
        &["daemon", "status", "--json"],
        &["daemon", "stop"],
    ] {
        // No --no-autostart: these never start a daemon by themselves.
        let out = output(
            Command::new(bin("codexctl"))
                .arg("--socket")
                .arg(&env.socket)
                .args(args)
                .env_remove("CODEXD_SOCKET")
                .stdin(Stdio::null()),
        );
        assert_eq!(
            out.status.code(),
            Some(3),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stdout), "");
        assert_eq!(
            text(&out.stderr),
            format!(
                "codexctl: codexd is not running (socket {})\n",
                env.socket.display()
            )
        );
        assert!(!env.socket.exists(), "no daemon was started");
    }
}

#[test]
fn list_pages_with_a_hint_that_runs_as_printed() {
    let cli = Cli::start();
    let ids: Vec<String> = (0..3).map(|i| cli.task(&format!("page {i}"))).collect();
    for id in &ids {
        cli.finished(id);
    }
    let first = output(cli.env.codexctl().args(["list", "--limit", "2"]));
    assert_eq!(first.status.code(), Some(0));
    let table = text(&first.stdout);
    assert!(
        table.contains(&ids[2]) && table.contains(&ids[1]),
        "{table}"
    );
    assert!(!table.contains(&ids[0]), "{table}");
    let hint = text(&first.stderr);
    let command = hint
        .strip_prefix("more tasks: ")
        .unwrap_or_else(|| panic!("a hint: {hint:?}"))
        .trim();
    assert!(command.contains("--limit 2 --cursor "), "{command}");
    // Run as printed, with codexctl on PATH.
    let path = format!(
        "{}:{}",
        codexd_tests::daemon::bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let next = output(
        Command::new("sh")
            .args(["-c", command])
            .env("PATH", path)
            .current_dir(&cli.env.work),
    );
    assert_eq!(next.status.code(), Some(0), "{}", text(&next.stderr));
    let table = text(&next.stdout);
    assert!(table.contains(&ids[0]), "{table}");
    assert!(
        !table.contains(&ids[1]) && !table.contains(&ids[2]),
        "{table}"
    );
    assert_eq!(text(&next.stderr), "", "the last page has no hint");
    // Times are local with their offset (`2026-12-03 15:05:09 +0100`), and no colour off a
    // terminal.
    let row = table.lines().find(|l| l.starts_with(&ids[0])).unwrap();
    let created = &row[32..57];
    assert!(
        created.as_bytes()[10] == b' ' && matches!(created.as_bytes()[20], b'+' | b'-'),
        "{row:?}"
    );
    assert!(!table.contains('\x1b'));
}

#[test]
fn show_of_a_running_task_has_the_whole_prompt_and_its_activity() {
    let cli = Cli::start();
    let long = "x".repeat(300);
    let prompt = format!("gate:show first line\nsecond line\n{long}\nlast line");
    let id = cli.task(&prompt);
    cli.until_gated(&id);
    let out = cli.env.ctl(&["show", &id]);
    assert_eq!(out.status.code(), Some(0));
    let details = text(&out.stdout);
    for part in [
        "gate:show first line",
        "second line",
        long.as_str(),
        "last line",
    ] {
        assert!(details.contains(part), "{part:?} in {details}");
    }
    let activity = details
        .lines()
        .find(|l| l.starts_with("activity"))
        .unwrap_or_else(|| panic!("an activity line: {details}"));
    assert!(
        activity.ends_with("running wait-for-gate-show-to-open-before-answering"),
        "{activity}"
    );
    cli.open("show");
    cli.finished(&id);
    let details = text(&cli.env.ctl(&["show", &id]).stdout);
    assert!(
        !details.contains("activity"),
        "a finished task has none: {details}"
    );
    assert!(details.contains("answer for show"), "{details}");
}

#[test]
fn wait_on_a_terminal_keeps_one_fitted_ticking_line_and_sums_up_in_argument_order() {
    if !have_script() {
        eprintln!("skipped: no util-linux script(1) for a pty");
        return;
    }
    let cli = Cli::start();
    let a = cli.task("gate:a first");
    let b = cli.task("gate:b second");
    cli.until_gated(&a);
    cli.until_gated(&b);
    let line = ctl_line(&cli.env, &["wait", &a, &b]);
    let waiter = std::thread::spawn(move || on_a_pty(&line, 100, &[]));
    // Let the clock tick a few times, then end b first and a after it.
    std::thread::sleep(Duration::from_millis(2500));
    cli.open("b");
    assert!(eventually(Duration::from_secs(30), || cli.state(&b) == "succeeded"));
    std::thread::sleep(Duration::from_millis(1500));
    cli.open("a");
    let out = waiter.join().unwrap();
    let screen = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{screen}");

    // Every redraw of the status line fits in 99 columns.
    let draws: Vec<String> = screen
        .split('\r')
        .map(|d| d.replace("\x1b[2K", ""))
        .filter(|d| d.contains(" running ") || d.contains(" succeeded "))
        .filter(|d| !d.contains('\n'))
        .collect();
    assert!(draws.len() >= 3, "{screen:?}");
    for draw in &draws {
        assert!(draw.chars().count() <= 99, "{draw:?}");
    }
    assert!(
        draws.iter().any(|d| d.ends_with('…')),
        "both tasks' activity is longer than the line: {draws:?}"
    );
    // The clock ticks with no event arriving.
    for second in ["1.", "2."] {
        assert!(
            draws
                .iter()
                .any(|d| d.starts_with(&format!("{a} running {second}"))),
            "a tick at {second}: {draws:?}"
        );
    }
    // b ended: its state, its time, and no activity.
    assert!(
        draws.iter().any(|d| {
            d.starts_with(&format!("{a} running "))
                && d.contains(&format!(" | {b} succeeded "))
                && d.ends_with('s')
        }),
        "{draws:?}"
    );
    assert!(
        !draws
            .iter()
            .any(|d| d.contains("succeeded") && d.contains("gate-b")),
        "{draws:?}"
    );
    // The summaries: a then b, as asked (b ended first), columns aligned.
    let summary: Vec<&str> = screen
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .map(|l| l.rsplit('\r').next().unwrap_or(l))
        .map(|l| l.trim_start_matches("\x1b[2K"))
        .filter(|l| l.contains("answer for"))
        .collect();
    assert_eq!(summary.len(), 2, "{screen:?}");
    let plain: Vec<String> = summary.iter().map(|l| strip_ansi(l)).collect();
    assert!(
        plain[0].starts_with(&a) && plain[0].ends_with("answer for a"),
        "{plain:?}"
    );
    assert!(
        plain[1].starts_with(&b) && plain[1].ends_with("answer for b"),
        "{plain:?}"
    );
    assert_eq!(
        plain[0].find("answer"),
        plain[1].find("answer"),
        "{plain:?}"
    );
    assert!(
        summary[0].contains("\x1b[32msucceeded\x1b[0m"),
        "coloured: {summary:?}"
    );
}

#[test]
fn colour_on_a_terminal_respects_no_color() {
    if !have_script() {
        eprintln!("skipped: no util-linux script(1) for a pty");
        return;
    }
    let cli = Cli::start();
    let id = cli.task("quick colour");
    cli.finished(&id);
    let line = ctl_line(&cli.env, &["list"]);
    let coloured = text(&on_a_pty(&line, 120, &[]).stdout);
    assert!(
        coloured.contains("\x1b[32msucceeded\x1b[0m"),
        "{coloured:?}"
    );
    let plain = text(&on_a_pty(&line, 120, &[("NO_COLOR", "1")]).stdout);
    assert!(
        plain.contains("succeeded") && !plain.contains('\x1b'),
        "{plain:?}"
    );
    let piped = text(&cli.env.ctl(&["list"]).stdout);
    assert!(piped.contains("succeeded") && !piped.contains('\x1b'));
}

#[test]
fn wait_off_a_terminal_writes_each_summary_as_its_task_ends() {
    let cli = Cli::start();
    let a = cli.task("gate:early first");
    let b = cli.task("gate:late second");
    cli.until_gated(&a);
    cli.until_gated(&b);
    let file = cli.env.root.path().join("wait.out");
    let mut waiter = cli
        .env
        .codexctl()
        .args(["wait", &a, &b])
        .stdout(std::fs::File::create(&file).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Subscribed and waiting: nothing is written while both run.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "");
    cli.open("early");
    let first = eventually(Duration::from_secs(30), || {
        std::fs::read_to_string(&file).is_ok_and(|t| t.ends_with('\n'))
    });
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(first, "a's line, written at once: {written:?}");
    assert_eq!(cli.state(&b), "running", "b has not ended");
    assert_eq!(written.lines().count(), 1, "{written:?}");
    assert!(
        written.starts_with(&a) && written.contains("answer for early"),
        "{written}"
    );
    cli.open("late");
    let status = waiter.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let written = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(lines.len(), 2, "{written}");
    assert!(lines[1].starts_with(&b) && lines[1].contains("answer for late"));
    assert_eq!(
        lines[0].find("answer"),
        lines[1].find("answer"),
        "aligned: {lines:?}"
    );
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut waiter.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(stderr, "");
}

/// `text` without ANSI SGR sequences.
fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn the_mcp_shim_lists_its_tools_into_a_closed_pipe_quietly() {
    // `codexd-mcp --list-tools | head` used to panic on the broken pipe.
    let (code, stderr) = into_closed_pipe(Command::new(bin("codexd-mcp")).arg("--list-tools"));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.is_empty(), "nothing on stderr: {stderr}");
}
