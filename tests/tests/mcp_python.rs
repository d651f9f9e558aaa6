//! End to end with a second real MCP client: the official Python SDK (`mcp` 2.3.0, in
//! `mode="legacy"`, which matches Claude Code's stdio handshake) drives the `codexd-mcp`
//! shim against the real `codexd`, the real Codex CLI and the scripted model server.
//!
//! The SDK is installed from PyPI once per target directory into a virtualenv
//! (`TARGET/py-mcp/2.3.0`), under a lock, like the Codex CLI install in
//! `codexd_tests::codex_cli`. Set `CODEXD_TEST_PYTHON` to choose the interpreter that creates
//! it (default `python3`, which must be 3.10+ with the `venv` module). The checks themselves
//! are in `tests/python/mcp_client_check.py`.

use codexd_tests::codex_cli::{MOCK_MODEL, mock_config_overrides};
use codexd_tests::daemon::{TestEnv, bin};
use codexd_tests::model_server::{MockModelServer, Scenario, Step};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The pinned Python MCP SDK.
const MCP_VERSION: &str = "2.3.0";
/// Interpreter that creates the virtualenv.
const PYTHON_ENV: &str = "CODEXD_TEST_PYTHON";
/// Longest the Python checks may run.
const CHECK_TIMEOUT: Duration = Duration::from_secs(420);
/// Longest the install may take.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);

fn target_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace.join(dir),
        _ => workspace.join("target"),
    }
}

/// Runs `cmd` with captured output, killing it after `timeout`.
fn run(cmd: &mut Command, timeout: Duration) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(out) => out.expect("wait for command"),
        Err(_) => {
            // SAFETY: killing the child we spawned.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("{cmd:?} did not finish within {timeout:?}");
        }
    }
}

fn check_success(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The virtualenv's python with `mcp==2.3.0` installed (installed once, under a lock; a
/// `.complete` marker is written last, so a half-made venv is made again).
fn venv_python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let root = target_dir().join("py-mcp");
            let venv = root.join(MCP_VERSION);
            let python = venv.join("bin").join("python");
            let marker = venv.join(".complete");
            if marker.is_file() {
                return python;
            }
            std::fs::create_dir_all(&root).expect("create target/py-mcp");
            let lock = std::fs::File::create(root.join(format!("{MCP_VERSION}.lock")))
                .expect("create the install lock");
            lock.lock().expect("take the install lock");
            if marker.is_file() {
                return python;
            }
            if venv.exists() {
                std::fs::remove_dir_all(&venv).expect("remove a half-made venv");
            }
            let base = std::env::var(PYTHON_ENV).unwrap_or_else(|_| "python3".into());
            eprintln!("codexd-tests: creating {} with {base} ...", venv.display());
            let out = run(
                Command::new(&base).arg("-m").arg("venv").arg(&venv),
                INSTALL_TIMEOUT,
            );
            check_success(
                &format!("`{base} -m venv` (needs Python 3.10+ with venv; set {PYTHON_ENV})"),
                &out,
            );
            eprintln!("codexd-tests: installing mcp=={MCP_VERSION} from PyPI ...");
            let out = run(
                Command::new(&python).args([
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--no-input",
                    "--quiet",
                    &format!("mcp=={MCP_VERSION}"),
                ]),
                INSTALL_TIMEOUT,
            );
            check_success(&format!("pip install mcp=={MCP_VERSION}"), &out);
            std::fs::write(&marker, MCP_VERSION).expect("write the install marker");
            drop(lock);
            python
        })
        .clone()
}

/// The shim binary, up to date (see [`bin`]).
fn shim_bin() -> PathBuf {
    bin("codexd-mcp")
}

#[test]
fn the_python_sdk_drives_the_shim_end_to_end() {
    let python = venv_python();
    let server = MockModelServer::start_blocking(vec![
        Scenario::new(
            "[py-flow]",
            vec![
                Step::patch("*** Begin Patch\n*** Add File: py.txt\n+from python\n*** End Patch\n"),
                Step::shell("sleep 2"),
                Step::message("python flow done"),
            ],
        ),
        Scenario::new(
            "[py-long]",
            vec![Step::shell("sleep 4545"), Step::message("never reached")],
        ),
        Scenario::new("[py-more]", vec![Step::message("more from python")]),
        Scenario::new(
            "[py-order]",
            vec![Step::shell("sleep 2"), Step::message("ordered")],
        ),
    ])
    .expect("model server");
    let mut env = TestEnv::new(server).expect("test env");
    env.start_daemon(&[]).expect("start codexd");
    let config = json!({
        "shim": shim_bin(),
        "socket": env.socket,
        "codex_home": env.codex_home,
        "root": env.root.path(),
        "work": env.work,
        "model": MOCK_MODEL,
        "config": mock_config_overrides(&env.server.base_url()),
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/mcp_client_check.py");
    let out = run(
        Command::new(&python)
            .arg(&script)
            .arg(config.to_string())
            .current_dir(env.root.path()),
        CHECK_TIMEOUT,
    );
    assert!(
        out.status.success(),
        "the Python MCP client's checks failed ({}):\n{}\n{} (the shim logs above)\ncodexd log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        env.daemon_log()
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("checks ok"), "{stdout}");
    eprintln!("{stdout}");
}
