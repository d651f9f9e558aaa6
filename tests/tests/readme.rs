//! The README's "First task" block, run as written by a new user: a fresh home directory,
//! `codexctl` on `PATH` starting the daemon itself, the real Codex CLI configured in
//! `~/.codex/config.toml` to use the loopback model server (standing in for a logged-in
//! Codex), and the commands of the block unchanged.

use codexd_tests::codex_cli::{MOCK_MODEL, codex_bin};
use codexd_tests::daemon::bin_dir;
use codexd_tests::model_server::{MockModelServer, Scenario, Step};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The first ```sh block under `## First task` in README.md.
fn first_task_block() -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("read README.md");
    let section = readme
        .split("\n## First task\n")
        .nth(1)
        .expect("README has a '## First task' section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("the section has a ```sh block");
    block.to_string()
}

/// A new user's home, with the project the block works on and the daemon's directories.
struct Home {
    _root: tempfile::TempDir,
    home: PathBuf,
    path: String,
}

impl Home {
    /// A home whose `~/.codex/config.toml` points codex at `server`, with `codex` and the
    /// workspace binaries on `PATH`.
    fn new(server: &MockModelServer) -> Home {
        let root = tempfile::tempdir().expect("temp dir");
        let home = root.path().join("home");
        let project = home.join("src/myproject");
        std::fs::create_dir_all(&project).unwrap();
        std::fs::write(project.join("hello.sh"), "#!/bin/sh\necho hello\n").unwrap();
        let codex_dir = home.join(".codex");
        std::fs::create_dir_all(&codex_dir).unwrap();
        let base_url = serde_json::Value::String(server.base_url()).to_string();
        std::fs::write(
            codex_dir.join("config.toml"),
            format!(
                "model = \"{MOCK_MODEL}\"\nmodel_provider = \"mock\"\n\n\
                 [model_providers.mock]\nname = \"mock\"\nbase_url = {base_url}\n\
                 wire_api = \"responses\"\nrequest_max_retries = 0\nstream_max_retries = 0\n\
                 stream_idle_timeout_ms = 10000\n\n\
                 [features]\nunbounded_connection_retries = false\n"
            ),
        )
        .unwrap();
        let runtime = root.path().join("xdg-run");
        std::fs::create_dir_all(&runtime).unwrap();
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
        // `codex` on PATH, as `npm install -g @openai/codex` leaves it.
        let tools = root.path().join("npm-bin");
        std::fs::create_dir_all(&tools).unwrap();
        std::os::unix::fs::symlink(codex_bin().expect("codex CLI"), tools.join("codex")).unwrap();
        let path = format!(
            "{}:{}:/usr/local/bin:/usr/bin:/bin",
            bin_dir().display(),
            tools.display()
        );
        Home {
            _root: root,
            home,
            path,
        }
    }

    /// A shell in this home, with nothing of the test's own environment that codexd reads.
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        let root = self.home.parent().expect("home has a parent");
        cmd.env_clear()
            .env("HOME", &self.home)
            .env("PATH", &self.path)
            .env("XDG_RUNTIME_DIR", root.join("xdg-run"))
            .env("XDG_STATE_HOME", root.join("xdg-state"))
            .env("XDG_CONFIG_HOME", root.join("xdg-config"))
            .current_dir(&self.home)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `script` with bash in this home.
    fn bash(&self, script: &str) -> Output {
        self.command("bash")
            .arg("-c")
            .arg(script)
            .output()
            .expect("run bash")
    }
}

impl Drop for Home {
    /// Stops the daemon the block started (it would otherwise outlive the test).
    fn drop(&mut self) {
        let _ = self
            .command("codexctl")
            .args(["--no-autostart", "daemon", "stop"])
            .output();
    }
}

#[test]
fn the_first_task_block_runs_as_written_and_edits_the_file() {
    let block = first_task_block();
    assert!(
        block.contains("codexctl start") && block.contains("codexctl wait"),
        "the block starts and waits for a task: {block}"
    );
    let prompt_tag = "add a --verbose flag to hello.sh";
    assert!(
        block.contains(prompt_tag),
        "the scenario matches the README's prompt: {block}"
    );
    let server = MockModelServer::start_blocking(vec![Scenario::new(
        prompt_tag,
        vec![
            Step::patch(
                "*** Begin Patch\n*** Update File: hello.sh\n@@\n #!/bin/sh\n-echo hello\n\
                 +[ \"$1\" = --verbose ] && echo \"saying hello\" >&2\n+echo hello\n*** End Patch\n",
            ),
            Step::message("Added a --verbose flag to hello.sh."),
        ],
    )])
    .expect("model server");
    let home = Home::new(&server);

    let out = home.bash(&block);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the block failed:\n{stdout}\n{stderr}"
    );
    let script = std::fs::read_to_string(home.home.join("src/myproject/hello.sh")).unwrap();
    assert!(
        script.contains("--verbose") && script.contains("echo hello"),
        "Codex edited the file the prompt asks for: {script}\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("succeeded"),
        "wait's summary line: {stdout}"
    );
    assert!(
        stdout.contains("hello.sh") && stdout.contains("Added a --verbose flag"),
        "result names the changed file and the answer: {stdout}"
    );
}

#[test]
fn install_sh_puts_the_three_binaries_in_cargos_bin_directory() {
    // `--debug`: the same script and steps as the README's `./install.sh`, with the build
    // this test run already has (a release build would take minutes here).
    let _ = bin_dir(); // the debug binaries are up to date
    let root = tempfile::tempdir().expect("temp dir");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo_dir = Path::new(env!("CARGO"))
        .parent()
        .expect("cargo's directory");
    let out = Command::new("bash")
        .arg(repo.join("install.sh"))
        .arg("--debug")
        .env("CARGO_INSTALL_ROOT", root.path())
        .env("PATH", format!("{}:/usr/bin:/bin", cargo_dir.display()))
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .expect("run install.sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "install.sh failed:\n{stderr}");
    for bin in ["codexd", "codexctl", "codexd-mcp"] {
        let path = root.path().join("bin").join(bin);
        let version = Command::new(&path).arg("--version").output().expect(bin);
        assert!(version.status.success(), "{} --version", path.display());
        assert!(String::from_utf8_lossy(&version.stdout).starts_with(bin));
    }
    assert!(
        stderr.contains("is not on your PATH"),
        "the PATH hint when the directory is not on PATH: {stderr}"
    );
    let bad = Command::new("bash")
        .arg(repo.join("install.sh"))
        .arg("--bogus")
        .output()
        .expect("run install.sh");
    assert_eq!(bad.status.code(), Some(2));
}
