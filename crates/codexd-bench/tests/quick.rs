//! Runs the harness in `--quick` mode against the workspace's debug binaries, so CI keeps
//! it working. Nothing here judges a timing: only that every section ran and reported.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The directory holding the workspace binaries (`target/<profile>`), built if missing.
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test-binary>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps")
        .to_path_buf();
    let missing = ["codexd", "codexctl", "fake-codex"]
        .iter()
        .any(|name| !dir.join(name).is_file());
    if missing {
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--bins",
                "-p",
                "codexd",
                "-p",
                "codexctl",
                "-p",
                "fake-codex",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build of the binaries failed");
    }
    dir
}

/// `codexd-bench --quick` succeeds and reports every section.
#[test]
fn quick_mode_runs_every_section() {
    let out_dir = tempfile::tempdir().expect("tempdir");
    let report_path = out_dir.path().join("report.md");
    let output = Command::new(env!("CARGO_BIN_EXE_codexd-bench"))
        .arg("--quick")
        // CI has no pueue; leaving it out keeps the run as short there as anywhere.
        .arg("--no-pueue")
        .arg("--bin-dir")
        .arg(bin_dir())
        .arg("--out")
        .arg(&report_path)
        .output()
        .expect("run codexd-bench");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "codexd-bench --quick failed:\n{stderr}"
    );
    let report = std::fs::read_to_string(&report_path).expect("report written");
    for heading in [
        "### Targets",
        "### 1. RPC floor",
        "### 2. Durable start",
        "### 3. Whole-process CLI, side by side with pueue",
        "### 4. Completion notice",
        "### 5. Throughput",
        "### 6. Event ingestion",
        "### 7. Memory",
        "### 8. Overhead on the real Codex CLI",
    ] {
        assert!(
            report.contains(heading),
            "no {heading:?} in the report:\n{report}"
        );
    }
    assert!(report.contains("not judged (quick)"), "{report}");
    // Every measured table row carries numbers, not placeholders for failed runs.
    assert!(report.contains("`client.get` → codexd"), "{report}");
    assert!(report.contains("`codexctl wait` (process)"), "{report}");
}
