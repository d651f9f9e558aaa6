//! Running codexd as a service: the unit files and the launchd agent that `codexctl daemon
//! install` writes (validated by the platforms' own tools), socket activation through
//! `systemd-socket-activate`, `Type=notify` readiness, and the install/uninstall round trip.
//! Real processes throughout; nothing here talks to a real service manager.

use codexd_tests::daemon::{TestEnv, bin, eventually, output};
use codexd_tests::model_server::{MockModelServer, Scenario, Step};
use serde_json::Value;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Where a program is on PATH, if it is.
fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// A private directory `name` under `root`.
fn private_dir(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

/// A `codexctl` that sees only `home` (HOME, XDG_CONFIG_HOME, XDG_STATE_HOME and
/// XDG_RUNTIME_DIR under it), so that its default socket is one nobody serves and nothing
/// reaches a real daemon or the user's files.
fn ctl_in(home: &Path) -> Command {
    let mut cmd = Command::new(bin("codexctl"));
    cmd.arg("--no-autostart")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_RUNTIME_DIR", home.join("runtime"))
        .env_remove("CODEXD_SOCKET")
        .stdin(Stdio::null());
    cmd
}

/// Asserts that `out` succeeded and returns its stdout.
fn ok_stdout(out: &std::process::Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Installs the systemd units with `--no-start` under `home`; returns the unit directory.
fn install_units(home: &Path) -> PathBuf {
    let out =
        output(ctl_in(home).args(["daemon", "install", "--no-start", "--manager", "systemd"]));
    ok_stdout(&out, "daemon install --no-start");
    home.join("config/systemd/user")
}

/// `systemd-analyze verify --user --man=no FILES` (with a private runtime dir, as a user
/// manager has): exit status and every line it printed.
fn systemd_verify(analyze: &Path, runtime: &Path, files: &[PathBuf]) -> (bool, String) {
    let out = output(
        Command::new(analyze)
            .args(["verify", "--user", "--man=no"])
            .args(files)
            .env("XDG_RUNTIME_DIR", runtime),
    );
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn installed_units_pass_systemd_analyze_verify() {
    let Some(analyze) = which("systemd-analyze") else {
        eprintln!("SKIPPED: systemd-analyze is not installed (apt-get install systemd)");
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let runtime = private_dir(home.path(), "run");
    let units = install_units(home.path());
    let files = [units.join("codexd.service"), units.join("codexd.socket")];
    let service = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        service.contains(&format!("\nExecStart={}\n", bin("codexd").display())),
        "the unit runs this build's codexd:\n{service}"
    );
    let socket = std::fs::read_to_string(&files[1]).unwrap();
    assert!(socket.contains("\nListenStream=%t/codexd/codexd.sock\n"));
    let (ok, said) = systemd_verify(&analyze, &runtime, &files);
    assert!(ok, "systemd-analyze verify failed:\n{said}");
    // Unknown keys and bad values are only warnings (exit 0): any line about our units
    // is a failure.
    let about_ours: Vec<&str> = said.lines().filter(|l| l.contains("codexd")).collect();
    assert!(about_ours.is_empty(), "systemd-analyze complained:\n{said}");

    // The check is real here: a unit whose program does not exist fails it.
    let broken_dir = private_dir(home.path(), "broken");
    let broken = broken_dir.join("codexd.service");
    std::fs::write(
        &broken,
        service.replace(
            &format!("ExecStart={}", bin("codexd").display()),
            "ExecStart=/nonexistent/codexd",
        ),
    )
    .unwrap();
    let (ok, said) = systemd_verify(&analyze, &runtime, &[broken]);
    assert!(!ok, "a missing program must fail verification: {said}");
}

/// Validates `plist` with the platform tool if there is one (`plutil -lint`, or `plistutil`
/// from libplist-utils), and always parses it with Python's plistlib; returns the parsed
/// plist as JSON, or the validators' complaint.
fn validate_plist(plist: &Path) -> Result<Value, String> {
    let complaint = |what: &str, out: &std::process::Output| {
        format!(
            "{what}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    if let Some(plutil) = which("plutil") {
        let out = output(Command::new(plutil).arg("-lint").arg(plist));
        if !out.status.success() {
            return Err(complaint("plutil -lint", &out));
        }
    } else if let Some(plistutil) = which("plistutil") {
        let converted = plist.with_extension("bin");
        let out = output(
            Command::new(plistutil)
                .arg("-i")
                .arg(plist)
                .arg("-o")
                .arg(&converted),
        );
        if !out.status.success() || !converted.exists() {
            return Err(complaint("plistutil", &out));
        }
    }
    let script = "import json, plistlib, sys\n\
                  with open(sys.argv[1], 'rb') as f:\n    \
                      data = plistlib.load(f, fmt=plistlib.FMT_XML)\n\
                  print(json.dumps(data))\n";
    let out = output(Command::new("python3").args(["-c", script]).arg(plist));
    if !out.status.success() {
        return Err(complaint("python3 plistlib", &out));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

#[test]
fn installed_launchd_agent_is_a_valid_plist_that_survives_restarts() {
    let home = tempfile::tempdir().unwrap();
    let out = output(ctl_in(home.path()).args([
        "daemon",
        "install",
        "--no-start",
        "--manager",
        "launchd",
    ]));
    ok_stdout(&out, "daemon install --manager launchd --no-start");
    let plist = home.path().join("Library/LaunchAgents/dev.codexd.plist");
    let agent = validate_plist(&plist).expect("a valid plist");
    assert_eq!(agent["Label"], "dev.codexd");
    assert_eq!(
        agent["ProgramArguments"][0],
        bin("codexd").display().to_string()
    );
    assert_eq!(agent["RunAtLoad"], true);
    assert_eq!(agent["KeepAlive"]["SuccessfulExit"], false);
    assert_eq!(
        agent["AbandonProcessGroup"], true,
        "runs survive an agent restart"
    );
    let log = home.path().join("Library/Logs/codexd.log");
    assert_eq!(agent["StandardErrorPath"], log.display().to_string());
    assert_eq!(agent["StandardOutPath"], log.display().to_string());
    let path = agent["EnvironmentVariables"]["PATH"].as_str().unwrap();
    assert!(!path.contains('@'), "no placeholder left: {path}");

    // The validators do reject a broken plist.
    let broken = home.path().join("broken.plist");
    let text = std::fs::read_to_string(&plist).unwrap();
    std::fs::write(&broken, text.replace("</dict>\n</plist>", "</plist>")).unwrap();
    assert!(validate_plist(&broken).is_err(), "a broken plist must fail");
}

/// Spawns `program args`, stderr to `log`, with the systemd variables of the test's own
/// environment removed.
fn spawn_logged(program: &Path, args: &[&std::ffi::OsStr], log: &Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    Command::new(program)
        .args(args)
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_FDNAMES")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("SYSTEMD_EXEC_PID")
        .env("RUST_LOG", "codexd=debug,info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn")
}

/// Kills a child on drop (a failed test leaves no daemon behind).
struct Reaper(Option<Child>);

impl Reaper {
    /// The child's pid.
    fn pid(&self) -> u32 {
        self.0.as_ref().map(Child::id).unwrap_or(0)
    }

    /// Waits (at most 30 s) for the child to exit; returns its status.
    fn wait(&mut self) -> std::process::ExitStatus {
        let mut child = self.0.take().expect("child");
        let exited = eventually(Duration::from_secs(30), || {
            matches!(child.try_wait(), Ok(Some(_)))
        });
        assert!(exited, "the process did not exit");
        child.wait().unwrap()
    }

    /// Sends SIGTERM.
    fn terminate(&self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.pid() as i32, libc::SIGTERM) };
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The flags of descriptor `fd` of process `pid`, from `/proc/PID/fdinfo/FD` (octal).
fn fd_flags(pid: u32, fd: i32) -> u32 {
    let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap();
    let flags = info
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .expect("flags line");
    u32::from_str_radix(flags.trim(), 8).unwrap()
}

#[test]
fn socket_activation_serves_the_passed_socket_and_runs_tasks() {
    let Some(activate) = which("systemd-socket-activate") else {
        eprintln!("SKIPPED: systemd-socket-activate is not installed (apt-get install systemd)");
        return;
    };
    let server = MockModelServer::start_blocking(vec![Scenario::new(
        "[activated]",
        vec![
            Step::shell(
                "for v in LISTEN_PID LISTEN_FDS LISTEN_FDNAMES NOTIFY_SOCKET CONTROL_VAR; do \
                 printenv $v >/dev/null && echo leaked $v; done; echo clean",
            ),
            Step::message("ran under an activated daemon"),
        ],
    )])
    .unwrap();
    let env = TestEnv::new(server).unwrap();
    private_dir(env.root.path(), "run");
    let log = env.root.path().join("activated.log");
    let os = |s: &str| std::ffi::OsString::from(s);
    let daemon_args = |socket: &Path, fdname: &str| -> Vec<std::ffi::OsString> {
        vec![
            os("-l"),
            socket.as_os_str().to_owned(),
            os(&format!("--fdname={fdname}")),
            os("-E"),
            os("RUST_LOG"),
            os("-E"),
            os("CONTROL_VAR=1"),
            bin("codexd").into_os_string(),
            os("--state-dir"),
            env.state_dir.as_os_str().to_owned(),
            os("--codex-bin"),
            env.codex.as_os_str().to_owned(),
        ]
    };
    let args = daemon_args(&env.socket, "codexd");
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let mut daemon = Reaper(Some(spawn_logged(&activate, &args, &log)));
    let listening = activation_listening(&log, &env.socket);
    assert!(
        listening,
        "systemd-socket-activate did not create the socket"
    );
    let inode = std::fs::metadata(&env.socket).unwrap().ino();

    // The first connection starts codexd (systemd-socket-activate execs it, same pid).
    let out = output(env.codexctl().args(["daemon", "status", "--json"]));
    let status: Value = serde_json::from_str(&ok_stdout(&out, "daemon status")).unwrap();
    assert_eq!(status["pid"], daemon.pid());
    assert_eq!(status["socket"], env.socket.display().to_string());
    let daemon_log = std::fs::read_to_string(&log).unwrap();
    assert!(
        daemon_log.contains("socket activated"),
        "the daemon says it serves the passed socket:\n{daemon_log}"
    );
    assert!(
        !daemon_log.contains("removing a stale socket"),
        "{daemon_log}"
    );
    assert_eq!(
        std::fs::metadata(&env.socket).unwrap().ino(),
        inode,
        "codexd did not bind a socket of its own"
    );
    assert_ne!(
        fd_flags(daemon.pid(), 3) & libc::O_CLOEXEC as u32,
        0,
        "the passed socket is close-on-exec, so runs do not inherit it"
    );

    // A real Codex task runs, and its commands see none of systemd's variables.
    let id = env.start_task("[activated] show the environment", &[]);
    let (code, summary) = env.wait(&[&id]);
    assert_eq!(
        code,
        0,
        "{summary}\n{}",
        std::fs::read_to_string(&log).unwrap()
    );
    let command = env
        .events(&id)
        .into_iter()
        .find(|e| e["type"] == "item.completed" && e["item"]["type"] == "command_execution")
        .expect("the command ran");
    // (A login shell may print its own noise first.) CONTROL_VAR, set for the daemon like
    // the LISTEN_* variables, shows that the daemon's environment does reach the command.
    let said = command["item"]["aggregated_output"].as_str().unwrap_or("");
    let leaked: Vec<&str> = said
        .lines()
        .filter_map(|l| l.strip_prefix("leaked "))
        .collect();
    assert_eq!(leaked, ["CONTROL_VAR"], "{said}");
    assert!(said.ends_with("clean\n"), "{said}");

    // The state-dir lock still holds: a second activated daemon on another socket with the
    // same state directory exits with an error naming the first.
    let second_socket = env.root.path().join("run").join("second.sock");
    let second_log = env.root.path().join("second.log");
    let args = daemon_args(&second_socket, "codexd");
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let mut second = Reaper(Some(spawn_logged(&activate, &args, &second_log)));
    assert!(activation_listening(&second_log, &second_socket));
    let _poke = std::os::unix::net::UnixStream::connect(&second_socket).unwrap();
    assert!(!second.wait().success());
    let second_said = std::fs::read_to_string(&second_log).unwrap();
    assert!(
        second_said.contains("another codexd is already running"),
        "{second_said}"
    );

    // A clean stop leaves systemd's socket file in place.
    let out = output(env.codexctl().args(["daemon", "stop"]));
    ok_stdout(&out, "daemon stop");
    assert!(daemon.wait().success());
    assert_eq!(
        std::fs::metadata(&env.socket).map(|m| m.ino()).ok(),
        Some(inode),
        "the socket systemd owns is not unlinked"
    );
}

/// Waits (at most 20 s) until `systemd-socket-activate`, logging to `log`, listens on
/// `socket`. The socket file appears at bind(), before listen(): a connection in between
/// is refused, so the file alone does not say the socket is ready.
fn activation_listening(log: &Path, socket: &Path) -> bool {
    let said = format!("Listening on {} as ", socket.display());
    eventually(Duration::from_secs(20), || {
        std::fs::read_to_string(log).is_ok_and(|text| text.contains(&said))
    })
}

/// Receives one datagram (waiting at most 30 s for it); on failure, panics with the log of
/// the daemon in `root`.
fn receive(socket: &UnixDatagram, root: &Path) -> String {
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let received = loop {
        match socket.recv(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => break other,
        }
    };
    match received {
        Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
        Err(e) => panic!(
            "no notification from codexd ({e}); its log:\n{}",
            std::fs::read_to_string(root.join("codexd.log")).unwrap_or_default()
        ),
    }
}

/// Runs codexd (its own socket and state under `root`) with `NOTIFY_SOCKET=notify`.
fn notified_daemon(root: &Path, notify: &str) -> (Reaper, PathBuf) {
    private_dir(root, "run");
    let socket = root.join("run").join("codexd.sock");
    let state = root.join("state");
    let mut cmd = Command::new(bin("codexd"));
    cmd.arg("--socket")
        .arg(&socket)
        .arg("--state-dir")
        .arg(&state)
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDS")
        .env_remove("SYSTEMD_EXEC_PID")
        .env("NOTIFY_SOCKET", notify)
        .env("RUST_LOG", "codexd=debug,info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(root.join("codexd.log")).unwrap());
    (Reaper(Some(cmd.spawn().unwrap())), socket)
}

#[test]
fn type_notify_gets_ready_once_serving_and_stopping_on_sigterm() {
    let root = tempfile::tempdir().unwrap();
    let notify_path = root.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    let (mut daemon, socket) = notified_daemon(root.path(), notify_path.to_str().unwrap());
    let ready = receive(&notify, root.path());
    let lines: Vec<&str> = ready.lines().collect();
    assert!(lines.contains(&"READY=1"), "{ready}");
    assert!(
        lines.contains(&format!("MAINPID={}", daemon.pid()).as_str()),
        "{ready}"
    );
    // Ready means serving: the socket answers at once.
    let out = output(
        Command::new(bin("codexctl"))
            .arg("--socket")
            .arg(&socket)
            .args(["--no-autostart", "daemon", "status", "--json"]),
    );
    ok_stdout(&out, "daemon status right after READY=1");
    daemon.terminate();
    let stopping = receive(&notify, root.path());
    assert!(stopping.lines().any(|l| l == "STOPPING=1"), "{stopping}");
    assert!(daemon.wait().success());
}

#[cfg(target_os = "linux")]
#[test]
fn type_notify_reaches_an_abstract_notify_socket() {
    use std::os::linux::net::SocketAddrExt;
    let root = tempfile::tempdir().unwrap();
    let name = format!("codexd-service-test-{}", std::process::id());
    let address = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
    let notify = UnixDatagram::bind_addr(&address).unwrap();
    let (mut daemon, _socket) = notified_daemon(root.path(), &format!("@{name}"));
    assert!(
        receive(&notify, root.path())
            .lines()
            .any(|l| l == "READY=1")
    );
    daemon.terminate();
    assert!(
        receive(&notify, root.path())
            .lines()
            .any(|l| l == "STOPPING=1")
    );
    assert!(daemon.wait().success());
}

#[test]
fn install_and_uninstall_round_trip_in_a_temp_home() {
    let home = tempfile::tempdir().unwrap();
    let units = home.path().join("config/systemd/user");
    let state_marker = home.path().join("state/codexd/keep-me");
    std::fs::create_dir_all(state_marker.parent().unwrap()).unwrap();
    std::fs::write(&state_marker, "state").unwrap();

    // --dry-run shows the files and writes nothing.
    let out = output(ctl_in(home.path()).args(["daemon", "install", "--dry-run"]));
    let shown = ok_stdout(&out, "install --dry-run");
    assert!(
        shown.contains(&format!("ExecStart={}", bin("codexd").display())),
        "{shown}"
    );
    assert!(shown.contains("systemctl --user enable --now codexd.socket"));
    assert!(!units.exists(), "dry run wrote nothing");

    // A codexd that does not exist is refused before anything is written.
    let out = output(ctl_in(home.path()).args([
        "daemon",
        "install",
        "--no-start",
        "--codexd",
        "/nonexistent/codexd",
    ]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--codexd"));
    assert!(!units.exists());

    // systemd files with --no-start; then the launchd agent beside them.
    let dir = install_units(home.path());
    assert_eq!(dir, units);
    let service = std::fs::read_to_string(units.join("codexd.service")).unwrap();
    assert!(service.contains(&format!("\nExecStart={}\n", bin("codexd").display())));
    assert!(service.contains("codexctl daemon uninstall"));
    assert!(units.join("codexd.socket").is_file());
    let out = output(ctl_in(home.path()).args([
        "daemon",
        "install",
        "--no-start",
        "--manager",
        "launchd",
    ]));
    ok_stdout(&out, "install --manager launchd");
    let plist = home.path().join("Library/LaunchAgents/dev.codexd.plist");
    assert!(
        std::fs::read_to_string(&plist)
            .unwrap()
            .contains(&format!("<string>{}</string>", bin("codexd").display()))
    );

    // Uninstall removes exactly those files and leaves the state directory alone.
    let out = output(ctl_in(home.path()).args(["daemon", "uninstall", "--no-stop"]));
    let said = ok_stdout(&out, "uninstall");
    assert!(said.contains("removed"), "{said}");
    assert!(!units.join("codexd.service").exists());
    assert!(!units.join("codexd.socket").exists());
    let out = output(ctl_in(home.path()).args([
        "daemon",
        "uninstall",
        "--no-stop",
        "--manager",
        "launchd",
    ]));
    ok_stdout(&out, "uninstall --manager launchd");
    assert!(!plist.exists());
    assert_eq!(std::fs::read_to_string(&state_marker).unwrap(), "state");
    let out = output(ctl_in(home.path()).args(["daemon", "uninstall", "--no-stop"]));
    assert!(ok_stdout(&out, "second uninstall").contains("no systemd files were installed"));
}

#[test]
fn install_without_systemctl_says_so_and_gives_the_manual_commands() {
    let home = tempfile::tempdir().unwrap();
    let empty_path = private_dir(home.path(), "empty-bin");
    let out = output(
        ctl_in(home.path())
            .args(["daemon", "install"])
            .env("PATH", &empty_path),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("systemctl not found"), "{stderr}");
    assert!(
        stderr.contains(
            "systemctl --user daemon-reload && systemctl --user enable --now codexd.socket"
        ),
        "{stderr}"
    );
    let units = home.path().join("config/systemd/user");
    assert!(
        units.join("codexd.service").is_file(),
        "the files are written"
    );

    // Uninstall without systemctl removes the files and says there was nothing to stop.
    let out = output(
        ctl_in(home.path())
            .args(["daemon", "uninstall"])
            .env("PATH", &empty_path),
    );
    let said = ok_stdout(&out, "uninstall without systemctl");
    assert!(said.contains("systemctl not found"), "{said}");
    assert!(!units.join("codexd.service").exists());
}

#[test]
fn install_serves_the_socket_named_by_codexd_socket_or_the_flag() {
    let env = TestEnv::new(MockModelServer::start_blocking(vec![]).unwrap()).unwrap();
    let home = env.root.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let socket = private_dir(env.root.path(), "custom").join("my.sock");

    // CODEXD_SOCKET: the socket unit listens on it and the daemon is told it.
    let out = output(
        ctl_in(&home)
            .args(["daemon", "install", "--no-start", "--manager", "systemd"])
            .env("CODEXD_SOCKET", &socket),
    );
    ok_stdout(&out, "install with CODEXD_SOCKET");
    let units = home.join("config/systemd/user");
    let service = std::fs::read_to_string(units.join("codexd.service")).unwrap();
    let exec = format!(
        "ExecStart={} --socket {}",
        bin("codexd").display(),
        socket.display()
    );
    assert!(service.lines().any(|l| l == exec), "{service}");
    let unit = std::fs::read_to_string(units.join("codexd.socket")).unwrap();
    let listen = format!("ListenStream={}", socket.display());
    assert!(unit.lines().any(|l| l == listen), "{unit}");
    assert!(!unit.contains("%t/codexd"), "{unit}");
    if let Some(analyze) = which("systemd-analyze") {
        let runtime = private_dir(&home, "analyze-run");
        let files = [units.join("codexd.service"), units.join("codexd.socket")];
        let (ok, said) = systemd_verify(&analyze, &runtime, &files);
        let about_ours: Vec<&str> = said.lines().filter(|l| l.contains("codexd")).collect();
        assert!(ok && about_ours.is_empty(), "systemd-analyze: {said}");
    }
    // What the units say, run as systemd would: the daemon serves that socket.
    if let Some(activate) = which("systemd-socket-activate") {
        let mut args: Vec<std::ffi::OsString> = vec![
            "-l".into(),
            listen.trim_start_matches("ListenStream=").into(),
            "--fdname=codexd".into(),
        ];
        args.extend(
            exec.trim_start_matches("ExecStart=")
                .split(' ')
                .map(Into::into),
        );
        args.extend(["--state-dir".into(), env.state_dir.clone().into_os_string()]);
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let log = env.root.path().join("activated.log");
        let mut daemon = Reaper(Some(spawn_logged(&activate, &args, &log)));
        assert!(activation_listening(&log, &socket));
        let out = output(
            Command::new(bin("codexctl"))
                .args(["--no-autostart", "daemon", "status", "--json"])
                .env("CODEXD_SOCKET", &socket),
        );
        let status: Value = serde_json::from_str(&ok_stdout(&out, "status")).unwrap();
        assert_eq!(status["socket"], socket.display().to_string());
        assert_eq!(status["pid"], daemon.pid());
        let said = std::fs::read_to_string(&log).unwrap();
        assert!(said.contains("socket activated"), "{said}");
        assert!(!said.contains("not the configured path"), "{said}");
        daemon.terminate();
        daemon.wait();
    }

    // --socket, for launchd: the agent runs codexd with it.
    let out = output(
        ctl_in(&home)
            .args(["daemon", "install", "--no-start", "--manager", "launchd"])
            .arg("--socket")
            .arg(&socket),
    );
    ok_stdout(&out, "install --socket --manager launchd");
    let agent = validate_plist(&home.join("Library/LaunchAgents/dev.codexd.plist")).unwrap();
    assert_eq!(
        agent["ProgramArguments"],
        serde_json::json!([
            bin("codexd").display().to_string(),
            "--socket",
            socket.display().to_string()
        ])
    );

    // Without either, the committed templates' default socket is kept.
    let out =
        output(ctl_in(&home).args(["daemon", "install", "--no-start", "--manager", "systemd"]));
    ok_stdout(&out, "install");
    let unit = std::fs::read_to_string(units.join("codexd.socket")).unwrap();
    assert!(
        unit.contains("\nListenStream=%t/codexd/codexd.sock\n"),
        "{unit}"
    );
}
