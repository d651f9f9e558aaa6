//! Section 8, overhead on the real Codex CLI: a 2-step run (one shell command, one message)
//! against the loopback model server of `codexd-tests`, `codex exec` run directly against
//! `codexctl start` + `codexctl wait` through a codexd whose `--codex-bin` is the same binary,
//! interleaved.

use crate::daemon::Codexd;
use crate::report::{Report, Section, Target};
use crate::sections::{Ctx, fresh_dir, timed};
use crate::stats::{dur, ratio, summarize, times};
use codexd_tests::codex_cli::{
    CODEX_BIN_ENV, CODEX_VERSION, codex_home, mock_config_overrides, mock_provider_args,
};
use codexd_tests::model_server::{MockModelServer, Scenario, Step};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The tag that selects the benchmark scenario.
const TAG: &str = "[bench-2step]";

/// The codex binary if it is already there (quick mode never installs it): the
/// `CODEXD_TEST_CODEX_BIN` override, or the tests' install under the target directory.
pub fn installed_codex(target_dir: &Path) -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os(CODEX_BIN_ENV).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(bin)).filter(|p| p.is_file());
    }
    let (package, triple) = match std::env::consts::ARCH {
        "x86_64" => ("codex-linux-x64", "x86_64-unknown-linux-musl"),
        "aarch64" => ("codex-linux-arm64", "aarch64-unknown-linux-musl"),
        _ => return None,
    };
    let bin = target_dir
        .join("codex-cli")
        .join(CODEX_VERSION)
        .join("node_modules/@openai")
        .join(package)
        .join("vendor")
        .join(triple)
        .join("bin/codex");
    bin.is_file().then_some(bin)
}

/// Runs section 8 with `codex` as the CLI.
pub async fn run(ctx: &Ctx, report: &mut Report, codex: &Path) -> anyhow::Result<()> {
    let server = MockModelServer::start_blocking(vec![Scenario::new(
        TAG,
        vec![Step::shell("echo hi"), Step::message("done: printed hi")],
    )])?;
    let dir = fresh_dir(ctx, "real-codex")?;
    let home = codex_home(&dir);
    let work = dir.join("work");
    std::fs::create_dir_all(&work)?;
    let work = work.canonicalize()?;
    let daemon = Codexd::start(&ctx.bins, &dir.join("codexd"), codex, 4)?;
    let prompt = format!("print hi with a shell command, then say so {TAG}");
    let direct = |prompt: &str| -> anyhow::Result<Duration> {
        let (t, out) = timed(
            std::process::Command::new(codex)
                .args(["exec", "--json", "--skip-git-repo-check", "-C"])
                .arg(&work)
                .args(["-s", "workspace-write"])
                .args(mock_provider_args(&server.base_url()))
                .args(["--", prompt])
                .env("CODEX_HOME", &home)
                .current_dir(&work),
        )?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        anyhow::ensure!(
            stdout.contains("\"turn.completed\"") && stdout.contains("\"command_execution\""),
            "direct codex run did not complete its two steps:\n{stdout}"
        );
        Ok(t)
    };
    let through =
        |prompt: &str| -> anyhow::Result<(Duration, Duration, String, SystemTime, SystemTime)> {
            let began = SystemTime::now();
            let mut start = daemon.ctl();
            start.current_dir(&work).env("CODEX_HOME", &home).args([
                "start",
                "--sandbox",
                "workspace-write",
            ]);
            for kv in mock_config_overrides(&server.base_url()) {
                start.args(["-c", &kv]);
            }
            start.args(["-m", codexd_tests::codex_cli::MOCK_MODEL, prompt]);
            let (t_start, out) = timed(&mut start)?;
            let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
            let (t_wait, _) = timed(daemon.ctl().args(["wait", &id]))?;
            Ok((t_start, t_wait, id, began, SystemTime::now()))
        };
    // Warm-up: codex's first run in a fresh CODEX_HOME writes its files.
    if !ctx.plan.quick {
        direct(&prompt)?;
        through(&prompt)?;
    }
    let (mut d, mut c, mut c_start) = (Vec::new(), Vec::new(), Vec::new());
    let mut runs: Vec<(String, SystemTime, SystemTime)> = Vec::new();
    for i in 0..ctx.plan.codex_samples {
        for turn in 0..2 {
            if (i + turn) % 2 == 0 {
                d.push(direct(&prompt)?);
            } else {
                let (s, w, id, began, ended) = through(&prompt)?;
                c.push(s + w);
                c_start.push(s);
                runs.push((id, began, ended));
            }
        }
    }
    let phases = breakdown(&daemon, &runs).await?;
    let (ds, cs, ss) = (summarize(&d), summarize(&c), summarize(&c_start));
    let r = ratio(cs.median, ds.median);
    let mut section = Section::new(
        "8. Overhead on the real Codex CLI",
        &format!(
            "Codex CLI {CODEX_VERSION} against the loopback Responses server of `codexd-tests`, \
             a 2-step turn (an `echo hi` shell command, then a message), workspace-write \
             sandbox, in a directory outside git; `codex exec --json` run directly vs \
             `codexctl start` followed by `codexctl wait` (two processes, timed back to back), \
             interleaved, after one warm-up run of each (none in quick mode)."
        ),
        &["way", "n", "p50", "p99", "p50 ratio to direct"],
    );
    section.row(vec![
        "`codex exec` directly".into(),
        ds.n.to_string(),
        dur(ds.median),
        dur(ds.p99),
        "1.00x".into(),
    ]);
    section.row(vec![
        "`codexctl start` + `codexctl wait`".into(),
        cs.n.to_string(),
        dur(cs.median),
        dur(cs.p99),
        times(r),
    ]);
    section.row(vec![
        "… of which `codexctl start`".into(),
        ss.n.to_string(),
        dur(ss.median),
        dur(ss.p99),
        "–".into(),
    ]);
    for (name, samples) in &phases {
        let p = summarize(samples);
        section.row(vec![
            format!("… {name}"),
            p.n.to_string(),
            dur(p.median),
            dur(p.p99),
            "–".into(),
        ]);
    }
    section.note(
        "The phases come from the task's own timestamps (millisecond resolution): \
         `created_at`, the `running` transition, `run.json` (codex spawned by the run's \
         supervisor) and the exit record (codex exited); the first starts when `codexctl \
         start` is spawned, the last ends when `codexctl wait` is reaped.",
    );
    report.targets.push(Target {
        figure: "8. Overhead on real Codex".into(),
        target: "through codexd within 1.05x of direct".into(),
        measured: format!("{} vs {}: {}", dur(cs.median), dur(ds.median), times(r)),
        met: Some(r <= 1.05),
    });
    report.sections.push(section);
    drop(daemon);
    drop(server);
    Ok(())
}

/// Where the time of each run through codexd went, from the task's timestamps: (phase,
/// samples).
async fn breakdown(
    daemon: &Codexd,
    runs: &[(String, SystemTime, SystemTime)],
) -> anyhow::Result<Vec<(&'static str, Vec<Duration>)>> {
    #[derive(serde::Deserialize)]
    struct RunRecord {
        started_at: codexd_client::api::Timestamp,
    }
    let client = daemon.client().await?;
    let gap = |a: SystemTime, b: SystemTime| b.duration_since(a).unwrap_or_default();
    let mut phases: Vec<(&'static str, Vec<Duration>)> = vec![
        ("`codexctl start` spawned → task recorded", Vec::new()),
        (
            "daemon: recorded → running (git check, supervisor spawned)",
            Vec::new(),
        ),
        ("supervisor: running → codex spawned", Vec::new()),
        ("codex process: spawned → exited", Vec::new()),
        ("codex exited → `codexctl wait` reaped", Vec::new()),
    ];
    for (id, began, ended) in runs {
        let task = client.get(id).await?;
        let run: RunRecord = serde_json::from_slice(&std::fs::read(
            daemon
                .state_dir
                .join("tasks")
                .join(&id[..2])
                .join(id)
                .join("run.json"),
        )?)?;
        let created = task.created_at.system_time();
        let running = task
            .transitions
            .iter()
            .find(|t| t.state == codexd_client::api::TaskState::Running)
            .map(|t| t.at.system_time())
            .unwrap_or(created);
        let spawned = run.started_at.system_time();
        let exited = task.finished_at.map(|t| t.system_time()).unwrap_or(*ended);
        let values = [
            gap(*began, created),
            gap(created, running),
            gap(running, spawned),
            gap(spawned, exited),
            gap(exited, *ended),
        ];
        for (phase, value) in phases.iter_mut().zip(values) {
            phase.1.push(value);
        }
    }
    Ok(phases)
}
