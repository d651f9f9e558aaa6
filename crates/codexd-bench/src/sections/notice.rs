//! Section 4, completion notice: from the moment a task's process exits (the fake codex
//! stamps CLOCK_MONOTONIC just before it exits) to the moment a waiting client returns —
//! a `codexctl wait` process (reaped by a thread blocked in `wait`), or the client crate's
//! `wait_for_tasks` (a `watch` subscription) in this process — and the same for `pueue wait`.

use crate::daemon::{Codexd, fake_request};
use crate::procfs::monotonic_ns;
use crate::pueue::Pueued;
use crate::report::{Report, Section, Target};
use crate::sections::{Ctx, fresh_dir, read_stamp};
use crate::stats::{Summary, dur, summarize};
use anyhow::Context;
use codexd_client::ConnectOptions;
use codexd_client::wait::wait_for_tasks;
use std::process::{Child, Stdio};
use std::time::Duration;

/// Waits for `child` on a thread and returns the monotonic time at which it was reaped.
fn reap_time(mut child: Child) -> std::thread::JoinHandle<anyhow::Result<u128>> {
    std::thread::spawn(move || {
        let status = child.wait()?;
        let at = monotonic_ns();
        anyhow::ensure!(status.success(), "waiter exited with {status}");
        Ok(at)
    })
}

/// From stamp to waiter, as a duration (zero if the waiter was first: clock granularity).
fn latency(stamp: u128, returned: u128) -> Duration {
    Duration::from_nanos(returned.saturating_sub(stamp) as u64)
}

/// Runs section 4.
pub async fn run(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let dir = fresh_dir(ctx, "notice")?;
    let daemon = Codexd::start(&ctx.bins, &dir.join("codexd"), &ctx.bins.fake_codex, 4)?;
    let client = daemon.client().await?;
    let hold = ctx.plan.hold_ms.to_string();
    let (mut ctl, mut crate_wait) = (Vec::new(), Vec::new());
    for i in 0..ctx.plan.notice_samples * 2 {
        let stamp = dir.join(format!("stamp-{i}"));
        let request = fake_request(
            &ctx.work,
            &[
                ("FAKE_CODEX_HOLD_MS", hold.clone()),
                ("FAKE_CODEX_EXIT_STAMP", stamp.display().to_string()),
            ],
        );
        let task = client.start(request).await?;
        let id = task.id.to_string();
        if i % 2 == 0 {
            let child = daemon
                .ctl()
                .args(["wait", &id])
                .stdout(Stdio::null())
                .spawn()
                .context("spawn codexctl wait")?;
            let returned = tokio::task::spawn_blocking(move || reap_time(child).join())
                .await?
                .map_err(|_| anyhow::anyhow!("reaper panicked"))??;
            ctl.push(latency(read_stamp(&stamp)?, returned));
        } else {
            let mut options = ConnectOptions::new(Some(daemon.socket.clone()));
            options.autostart = false;
            let outcome = wait_for_tasks(&options, &[id], None, false, |_| {}).await?;
            let returned = monotonic_ns();
            anyhow::ensure!(!outcome.timed_out, "wait_for_tasks timed out");
            crate_wait.push(latency(read_stamp(&stamp)?, returned));
        }
    }
    let mut peer = Vec::new();
    if let Some(bins) = &ctx.pueue {
        let pueue = Pueued::start(bins, &dir.join("pueue"), 4)?;
        for i in 0..ctx.plan.pueue_notice_samples {
            let stamp = dir.join(format!("pueue-stamp-{i}"));
            let id = pueue.add(
                &[&ctx.bins.fake_codex.display().to_string()],
                &[
                    ("FAKE_CODEX_HOLD_MS", hold.clone()),
                    ("FAKE_CODEX_EXIT_STAMP", stamp.display().to_string()),
                ],
            )?;
            let child = pueue
                .cmd()
                .args(["wait", "--quiet", &id.to_string()])
                .stdout(Stdio::null())
                .spawn()
                .context("spawn pueue wait")?;
            let returned = tokio::task::spawn_blocking(move || reap_time(child).join())
                .await?
                .map_err(|_| anyhow::anyhow!("reaper panicked"))??;
            peer.push(latency(read_stamp(&stamp)?, returned));
        }
    }
    let mut section = Section::new(
        "4. Completion notice",
        &format!(
            "From the task process's exit (fake codex holding {hold} ms, then stamping \
         CLOCK_MONOTONIC and exiting) to the waiter's return: a `codexctl wait ID` process \
         started while the task runs (time at which it is reaped), or `wait_for_tasks` of the \
         client crate in the harness (a `watch` subscription). The codexd path: the run's \
         supervisor sees EOF and the exit, writes `exit.json` (fsync); the daemon reaps it, \
         reads the log tail, builds and stores the result (fsync), flushes the registry, \
         then publishes. pueue: `pueue wait ID` for the same fake process."
        ),
        &["waiter", "n", "p50", "p99", "max"],
    );
    let row = |name: &str, s: &Summary| {
        vec![
            name.to_string(),
            s.n.to_string(),
            dur(s.median),
            dur(s.p99),
            dur(s.max),
        ]
    };
    let (c, w) = (summarize(&ctl), summarize(&crate_wait));
    section.row(row("`codexctl wait` (process)", &c));
    section.row(row("client crate `wait_for_tasks` (watch)", &w));
    if !peer.is_empty() {
        section.row(row("`pueue wait` (process)", &summarize(&peer)));
        section.note("`pueue wait` polls the daemon every 2 s and pueued looks at its children every 300 ms.");
    }
    report.targets.push(Target {
        figure: "4. Completion notice".into(),
        target: "p50 under 10 ms".into(),
        measured: format!(
            "`codexctl wait` {}, client crate {}",
            dur(c.median),
            dur(w.median)
        ),
        met: Some(c.median < Duration::from_millis(10) && w.median < Duration::from_millis(10)),
    });
    report.sections.push(section);
    Ok(())
}
