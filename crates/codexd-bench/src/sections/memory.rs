//! Section 7, memory: the daemon's RSS idle, with the big registry (live and after a
//! restart, from `growth`), and with 100 fake runs at once; the per-run supervisors are
//! separate processes and are reported on their own.

use crate::daemon::{Codexd, fake_request, until_idle};
use crate::procfs;
use crate::report::{Report, Section, Target};
use crate::sections::growth::RegistryMemory;
use crate::sections::{Ctx, fresh_dir};
use crate::stats::{dur, mib};
use std::time::{Duration, Instant};

/// Pids of the live children of `parent`.
fn children_of(parent: u32) -> Vec<u32> {
    crate::procfs::children(parent)
        .into_iter()
        .filter(|(_, state)| state != "Z")
        .map(|(pid, _)| pid)
        .collect()
}

/// Runs section 7 with the registry figures measured by `growth`.
pub async fn run(ctx: &Ctx, report: &mut Report, registry: &RegistryMemory) -> anyhow::Result<()> {
    let runs = ctx.plan.memory_runs;
    let dir = fresh_dir(ctx, "memory")?;
    let daemon = Codexd::start(
        &ctx.bins,
        &dir.join("codexd"),
        &ctx.bins.fake_codex,
        runs as u32,
    )?;
    let client = daemon.client().await?;
    let hold = ctx.plan.memory_hold_ms;
    let request = fake_request(&ctx.work, &[("FAKE_CODEX_HOLD_MS", hold.to_string())]);
    let t = Instant::now();
    for _ in 0..runs {
        client.start(request.clone()).await?;
    }
    // All running, and every run's events ingested.
    loop {
        let v = client.version().await?;
        if v.running as usize == runs {
            break;
        }
        anyhow::ensure!(
            t.elapsed() < Duration::from_millis(hold),
            "the runs did not all start while held"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let all_running = t.elapsed();
    let busy_kib = procfs::rss_kib(daemon.pid())?;
    let supervisors = children_of(daemon.pid());
    let supervisor_kib: u64 = supervisors
        .iter()
        .filter_map(|p| procfs::rss_kib(*p).ok())
        .sum();
    let fakes: Vec<u32> = supervisors.iter().flat_map(|p| children_of(*p)).collect();
    let fake_kib: u64 = fakes.iter().filter_map(|p| procfs::rss_kib(*p).ok()).sum();
    until_idle(&client).await?;
    let busy_hwm = procfs::hwm_kib(daemon.pid())?;

    let mut section = Section::new(
        "7. Memory",
        "Resident set (VmRSS; VmHWM = peak since start) of the daemon process alone, from \
         /proc/PID/status. The per-run `codexd run-task` supervisors are separate processes \
         and are listed separately.",
        &["state", "daemon VmRSS", "daemon VmHWM", "other"],
    );
    section.row(vec![
        "fresh daemon, idle, empty registry".into(),
        mib(registry.idle_kib),
        "–".into(),
        "–".into(),
    ]);
    let smaller = registry.by_size.len().saturating_sub(1);
    for (tasks, kib) in &registry.by_size[..smaller] {
        section.row(vec![
            format!("a daemon that recorded {tasks} tasks, idle afterwards"),
            mib(*kib),
            "–".into(),
            "–".into(),
        ]);
    }
    section.row(vec![
        format!(
            "the daemon that recorded {} tasks, idle afterwards",
            registry.tasks
        ),
        mib(registry.live_kib),
        mib(registry.live_hwm_kib),
        "–".into(),
    ]);
    section.row(vec![
        format!("daemon restarted on those {} tasks, idle", registry.tasks),
        mib(registry.restarted_kib),
        mib(registry.restarted_hwm_kib),
        format!(
            "start-up until the socket answers: {}",
            dur(registry.restart_time)
        ),
    ]);
    section.row(vec![
        format!("{runs} fake runs at once (max-running {runs})"),
        mib(busy_kib),
        mib(busy_hwm),
        format!(
            "{} supervisors: {} in all ({} each); {} fake codex: {}; all running {} after the first start",
            supervisors.len(),
            mib(supervisor_kib),
            mib(supervisor_kib / supervisors.len().max(1) as u64),
            fakes.len(),
            mib(fake_kib),
            dur(all_running)
        ),
    ]);
    // Targets are in MB (10^6 bytes).
    let idle_ok = registry.idle_kib * 1024 < 20_000_000;
    let big = registry.live_kib.max(registry.restarted_kib);
    report.targets.push(Target {
        figure: "7. Memory idle".into(),
        target: "daemon RSS idle under 20 MB".into(),
        measured: mib(registry.idle_kib),
        met: Some(idle_ok),
    });
    report.targets.push(Target {
        figure: "7. Memory with many tasks".into(),
        target: format!("daemon RSS with {} tasks under 40 MB", registry.tasks),
        measured: format!(
            "{} live, {} after restart",
            mib(registry.live_kib),
            mib(registry.restarted_kib)
        ),
        met: Some(big * 1024 < 40_000_000),
    });
    report.sections.push(section);
    Ok(())
}
