//! Section 10, `codexctl statusline` (issue 11): the run time of the Claude Code status-line
//! command, spawned as Claude Code spawns it (the status JSON on stdin), with no daemon
//! running and against daemons holding 0, 100 and 2,000 tasks of the project. Run alone with
//! `codexd-bench --only 10`.

use crate::daemon::{Codexd, populate};
use crate::report::{Report, Section, Target};
use crate::sections::{Ctx, fresh_dir};
use crate::stats::{Summary, dur, summarize};
use anyhow::Context;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Spawns `cmd` with `input` on stdin; returns its wall time (spawn to reap).
fn run_once(cmd: &mut Command, input: &[u8]) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("spawn codexctl statusline")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input)?;
    }
    let status = child.wait()?;
    let elapsed = t.elapsed();
    anyhow::ensure!(status.success(), "codexctl statusline exited with {status}");
    Ok(elapsed)
}

/// The 95th percentile of `samples` (nearest rank; at least one sample).
fn p95(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = (sorted.len() * 95).div_ceil(100).max(1);
    sorted[rank - 1]
}

/// Runs section 10.
pub async fn run(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let quick = ctx.plan.quick;
    let samples = if quick { 3 } else { 100 };
    let sizes: &[usize] = if quick { &[0, 5] } else { &[0, 100, 2000] };
    // What Claude Code sends (the fields statusline reads), without a session: the
    // project's tasks are counted, every task of the registry here.
    let input = serde_json::json!({
        "hook_event_name": "Status",
        "cwd": ctx.work,
        "workspace": {"current_dir": ctx.work, "project_dir": ctx.work},
        "model": {"id": "claude-sonnet", "display_name": "Sonnet"},
    })
    .to_string();
    let mut section = Section::new(
        "10. `codexctl statusline`",
        &format!(
            "Wall time of the `codexctl statusline` process (spawn to reap, {samples} \
             runs each), given Claude Code's status JSON on stdin for the project every task \
             ran in: with no daemon (nothing listens on the socket), and against a daemon \
             whose registry holds N ended tasks of that project."
        ),
        &["daemon", "n", "p50", "p95", "max"],
    );
    let row = |name: String, samples: &[Duration], s: &Summary| {
        vec![
            name,
            s.n.to_string(),
            dur(s.median),
            dur(p95(samples)),
            dur(s.max),
        ]
    };
    let dir = fresh_dir(ctx, "statusline")?;
    let mut worst = Duration::ZERO;
    let none: Vec<Duration> = (0..samples)
        .map(|_| {
            run_once(
                Command::new(&ctx.bins.codexctl)
                    .arg("--socket")
                    .arg(dir.join("nobody.sock"))
                    .arg("--no-autostart")
                    .arg("statusline")
                    .current_dir(&ctx.work),
                input.as_bytes(),
            )
        })
        .collect::<anyhow::Result<_>>()?;
    let s = summarize(&none);
    worst = worst.max(s.median);
    section.row(row("none running".into(), &none, &s));
    let daemon = Codexd::start(&ctx.bins, &dir.join("codexd"), &ctx.bins.fake_codex, 16)?;
    let client = daemon.client().await?;
    let mut have = 0;
    for &size in sizes {
        populate(&client, &ctx.work, size - have).await?;
        have = size;
        let times: Vec<Duration> = (0..samples)
            .map(|_| {
                run_once(
                    daemon.ctl().arg("statusline").current_dir(&ctx.work),
                    input.as_bytes(),
                )
            })
            .collect::<anyhow::Result<_>>()?;
        let s = summarize(&times);
        worst = worst.max(s.median);
        section.row(row(format!("{size} tasks"), &times, &s));
    }
    report.targets.push(Target {
        figure: "10. Status line".into(),
        target: "`codexctl statusline` p50 under 10 ms (no daemon, and up to the largest registry)"
            .into(),
        measured: format!("slowest p50 {}", dur(worst)),
        met: (!quick).then_some(worst < Duration::from_millis(10)),
    });
    report.sections.push(section);
    Ok(())
}
