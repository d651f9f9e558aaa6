//! Sections 2 and 3 and the registry-size part of section 7. One daemon per registry size
//! of section 2 (the largest also serves section 3 at its size and section 7), filled
//! through the client crate; then every measurement is interleaved across the daemons
//! (and pueue), so background noise on this shared machine hits every point alike:
//! durable start at each size, `codexctl` against pueue on empty states and with the big
//! CLI state, and the daemon's memory with the most tasks, live and after a restart.

use crate::daemon::{Codexd, fake_request, populate};
use crate::procfs;
use crate::pueue::Pueued;
use crate::report::{Report, Section, Target};
use crate::sections::{Ctx, fresh_dir, timed};
use crate::stats::{Summary, dur, permutation, ratio, summarize, times};
use codexd_client::Client;
use std::path::Path;
use std::time::{Duration, Instant};

/// Memory figures taken on the biggest registry, for section 7.
#[derive(Debug, Clone, Default)]
pub struct RegistryMemory {
    /// VmRSS of a fresh daemon, idle, no task (KiB).
    pub idle_kib: u64,
    /// Tasks in the registry for the next figures.
    pub tasks: usize,
    /// VmRSS of the daemon that recorded them, idle afterwards (KiB).
    pub live_kib: u64,
    /// Its VmHWM (KiB).
    pub live_hwm_kib: u64,
    /// VmRSS of a daemon restarted on that registry, idle (KiB).
    pub restarted_kib: u64,
    /// Its VmHWM (KiB).
    pub restarted_hwm_kib: u64,
    /// Time from spawning the restarted daemon to its socket answering.
    pub restart_time: Duration,
    /// `(tasks recorded, VmRSS KiB)` of every section-2 daemon at the end, idle.
    pub by_size: Vec<(usize, u64)>,
}

/// A daemon of section 2 with the number of tasks it holds.
struct Sized {
    daemon: Codexd,
    client: Client,
    tasks: usize,
}

impl Sized {
    /// Fills the registry up to `target` tasks.
    async fn fill_to(&mut self, ctx: &Ctx, target: usize) -> anyhow::Result<Option<String>> {
        if target <= self.tasks {
            return Ok(None);
        }
        let t = Instant::now();
        let n = target - self.tasks;
        populate(&self.client, &ctx.work, n).await?;
        self.tasks = target;
        Ok(Some(format!("{n} tasks in {}", dur(t.elapsed()))))
    }

    /// One durable start: timed through the client, then waited for.
    async fn start_sample(&mut self, work: &Path) -> anyhow::Result<Duration> {
        let t = Instant::now();
        let task = self.client.start(fake_request(work, &[])).await?;
        let elapsed = t.elapsed();
        self.client.wait(&[task.id.to_string()], None).await?;
        self.tasks += 1;
        Ok(elapsed)
    }
}

/// One `codexctl start` on `daemon` (waited for through `client`), timed.
async fn ctl_start(daemon: &Codexd, client: &Client, work: &Path) -> anyhow::Result<Duration> {
    let (t, out) = timed(
        daemon
            .ctl()
            .current_dir(work)
            .args(["start", "benchmark task"]),
    )?;
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    client.wait(&[id], None).await?;
    Ok(t)
}

/// One `pueue add -- true`, timed.
fn pueue_add(pueue: &Pueued, work: &Path) -> anyhow::Result<Duration> {
    Ok(timed(pueue.cmd().current_dir(work).args(["add", "--", "true"]))?.0)
}

/// `codexctl list --json` (and with `--limit 1000`) against `pueue status --json`,
/// interleaved.
fn list_samples(
    daemon: &Codexd,
    pueue: Option<&Pueued>,
    n: usize,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>, Vec<Duration>)> {
    let (mut ctl, mut ctl_big, mut peer) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        ctl.push(timed(daemon.ctl().args(["list", "--json"]))?.0);
        ctl_big.push(timed(daemon.ctl().args(["list", "--json", "--limit", "1000"]))?.0);
        if let Some(pueue) = pueue {
            peer.push(timed(pueue.cmd().args(["status", "--json"]))?.0);
        }
    }
    Ok((ctl, ctl_big, peer))
}

/// Adds `n` `true` tasks to pueue through its CLI (two at a time) and waits until all are done.
fn populate_pueue(pueue: &Pueued, work: &Path, n: usize) -> anyhow::Result<()> {
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let workers: Vec<_> = (0..2)
            .map(|w| {
                scope.spawn(move || -> anyhow::Result<()> {
                    for _ in (w..n).step_by(2) {
                        timed(pueue.cmd().current_dir(work).args(["add", "--", "true"]))?;
                    }
                    Ok(())
                })
            })
            .collect();
        for worker in workers {
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("pueue filler panicked"))??;
        }
        Ok(())
    })?;
    pueue.until_all_done(Duration::from_millis(500))
}

/// One row of the CLI table.
fn cli_row(what: &str, tasks: usize, ctl: &Summary, peer: Option<&Summary>) -> Vec<String> {
    vec![
        what.into(),
        format!("{tasks}"),
        dur(ctl.median),
        dur(ctl.p99),
        peer.map(|p| dur(p.median)).unwrap_or_else(|| "–".into()),
        peer.map(|p| dur(p.p99)).unwrap_or_else(|| "–".into()),
        peer.map(|p| times(ratio(ctl.median, p.median)))
            .unwrap_or_else(|| "–".into()),
    ]
}

/// Runs sections 2 and 3 and measures the registry part of section 7.
pub async fn run(ctx: &Ctx, report: &mut Report) -> anyhow::Result<RegistryMemory> {
    let plan = &ctx.plan;
    let settle = if plan.quick {
        Duration::from_millis(20)
    } else {
        // Two turns of pueued's 300 ms task loop: its `true` is started and reaped (each
        // followed by a rewrite of its whole state file) before the next round.
        Duration::from_millis(700)
    };
    let dir = fresh_dir(ctx, "growth")?;
    let mut memory = RegistryMemory::default();
    let mut fills: Vec<String> = Vec::new();

    // One daemon per registry size; the last (largest) also serves sections 3 and 7.
    let mut sizes = plan.start_points.clone();
    sizes.sort();
    let mut daemons: Vec<Sized> = Vec::new();
    for size in &sizes {
        let daemon = Codexd::start(
            &ctx.bins,
            &dir.join(format!("codexd-{size}")),
            &ctx.bins.fake_codex,
            16,
        )?;
        if daemons.is_empty() {
            tokio::time::sleep(plan.settle).await;
            memory.idle_kib = procfs::rss_kib(daemon.pid())?;
        }
        let client = daemon.client().await?;
        daemons.push(Sized {
            daemon,
            client,
            tasks: 0,
        });
    }

    // Section 3: a fresh codexd and pueued, and the big ones filled to `cli_tasks`.
    eprintln!("codexd-bench: filling registries for the CLI comparison");
    let empty = Codexd::start(
        &ctx.bins,
        &dir.join("codexd-cli-empty"),
        &ctx.bins.fake_codex,
        16,
    )?;
    let empty_client = empty.client().await?;
    let (empty_pueue, big_pueue) = match &ctx.pueue {
        Some(bins) => {
            let big = Pueued::start(bins, &dir.join("pueue-big"), 16)?;
            let t = Instant::now();
            populate_pueue(&big, &ctx.work, plan.cli_tasks)?;
            fills.push(format!(
                "pueue: {} tasks in {}",
                plan.cli_tasks,
                dur(t.elapsed())
            ));
            (
                Some(Pueued::start(bins, &dir.join("pueue-empty"), 16)?),
                Some(big),
            )
        }
        None => (None, None),
    };
    let big = daemons.last_mut().expect("at least one start point");
    if let Some(fill) = big.fill_to(ctx, plan.cli_tasks).await? {
        fills.push(format!("codexd: {fill}"));
    }
    let cli_tasks = big.tasks;
    eprintln!("codexd-bench: CLI side by side at 0 and {cli_tasks} tasks");
    let (mut ctl0, mut ctl_big, mut peer0, mut peer_big) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..plan.cli_pairs {
        for which in permutation(4, i) {
            match which {
                0 => ctl0.push(ctl_start(&empty, &empty_client, &ctx.work).await?),
                1 => {
                    if let Some(p) = &empty_pueue {
                        peer0.push(pueue_add(p, &ctx.work)?);
                    }
                }
                2 => {
                    ctl_big.push(ctl_start(&big.daemon, &big.client, &ctx.work).await?);
                    big.tasks += 1;
                }
                _ => {
                    if let Some(p) = &big_pueue {
                        peer_big.push(pueue_add(p, &ctx.work)?);
                    }
                }
            }
        }
        tokio::time::sleep(settle).await;
    }
    let (l_ctl, l_big, l_peer) =
        list_samples(&big.daemon, big_pueue.as_ref(), (plan.cli_pairs / 2).max(2))?;
    drop((empty_client, empty, empty_pueue, big_pueue));
    let some = |v: &Vec<Duration>| (!v.is_empty()).then(|| summarize(v));
    let (ctl0, ctl_big, peer0, peer_big) = (
        summarize(&ctl0),
        summarize(&ctl_big),
        some(&peer0),
        some(&peer_big),
    );
    let (l_ctl, l_big, l_peer) = (summarize(&l_ctl), summarize(&l_big), some(&l_peer));

    // Section 2: every daemon filled to its size, then samples interleaved across them.
    for (size, sized) in sizes.iter().zip(daemons.iter_mut()) {
        if let Some(fill) = sized.fill_to(ctx, *size).await? {
            fills.push(format!("codexd: {fill}"));
        }
    }
    eprintln!("codexd-bench: durable start at {sizes:?} tasks, interleaved");
    let at: Vec<usize> = daemons.iter().map(|d| d.tasks).collect();
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); daemons.len()];
    for i in 0..plan.start_samples {
        for index in permutation(daemons.len(), i) {
            samples[index].push(daemons[index].start_sample(&ctx.work).await?);
        }
    }

    // Section 7: every registry size, then the biggest after a restart.
    tokio::time::sleep(plan.settle).await;
    for sized in &daemons {
        memory
            .by_size
            .push((sized.tasks, procfs::rss_kib(sized.daemon.pid())?));
    }
    let big = daemons.last_mut().expect("at least one start point");
    memory.tasks = big.tasks;
    memory.live_kib = procfs::rss_kib(big.daemon.pid())?;
    memory.live_hwm_kib = procfs::hwm_kib(big.daemon.pid())?;
    let t = Instant::now();
    big.daemon.restart()?;
    memory.restart_time = t.elapsed();
    tokio::time::sleep(plan.settle).await;
    memory.restarted_kib = procfs::rss_kib(big.daemon.pid())?;
    memory.restarted_hwm_kib = procfs::hwm_kib(big.daemon.pid())?;

    // Section 2 table and target.
    let mut section = Section::new(
        "2. Durable start",
        "Latency of `start` through `codexd-client` (acknowledged once its sled registry \
         record is flushed; the request file is written but not synced), fake codex exiting at once. One daemon per registry \
         size, filled beforehand with the same fake tasks. Each round takes one sample from \
         every daemon, in an order that goes through every permutation in turn, and each \
         start is waited for before the next, so every sample is taken on \
         an idle daemon and disk or CPU noise hits every size alike.",
        &[
            "tasks in registry",
            "n",
            "p50",
            "p99",
            "p50 / p50 at the smallest",
        ],
    );
    let stats: Vec<Summary> = samples.iter().map(|s| summarize(s)).collect();
    let base = stats[0].median;
    for (tasks, s) in at.iter().zip(&stats) {
        section.row(vec![
            format!("{tasks} (+{} during the samples)", s.n),
            s.n.to_string(),
            dur(s.median),
            dur(s.p99),
            times(ratio(s.median, base)),
        ]);
    }
    let (last_tasks, last) = (*at.last().unwrap_or(&0), stats[stats.len() - 1]);
    let r = ratio(last.median, base);
    report.targets.push(Target {
        figure: "2. Durable start".into(),
        target: format!("p50 at {last_tasks} tasks within 1.2x of p50 at {}", at[0]),
        measured: format!("{} vs {}: {}", dur(last.median), dur(base), times(r)),
        met: Some(r <= 1.2),
    });
    report.sections.push(section);

    // Section 3 table and targets.
    let mut cli = Section::new(
        "3. Whole-process CLI, side by side with pueue",
        "Wall time of one CLI process (spawn to exit, output captured). Four daemons run at \
         once — codexd and pueued empty, codexd and pueued with the big state — and each \
         round runs one command on each, in an order that goes through every permutation \
         in turn. `codexctl start` returns after the task is durably recorded \
         (its request file written, then a sled flush); `pueue add` after \
         pueued has rewritten its whole `state.json` (no fsync). Each codexd task (fake \
         codex) is waited for, and every round ends with a 700 ms pause (two turns of \
         pueued's task loop) so pueue's `true` has run and its state was saved before the \
         next round.",
        &[
            "command",
            "tasks recorded",
            "codexctl p50",
            "codexctl p99",
            "pueue p50",
            "pueue p99",
            "codexctl / pueue (p50)",
        ],
    );
    cli.row(cli_row(
        "`codexctl start` / `pueue add -- true`",
        0,
        &ctl0,
        peer0.as_ref(),
    ));
    cli.row(cli_row(
        "`codexctl start` / `pueue add -- true`",
        cli_tasks,
        &ctl_big,
        peer_big.as_ref(),
    ));
    cli.row(cli_row(
        "`codexctl list --json` (first page, 50) / `pueue status --json` (all)",
        cli_tasks,
        &l_ctl,
        l_peer.as_ref(),
    ));
    cli.row(cli_row(
        "`codexctl list --json --limit 1000` / `pueue status --json` (all)",
        cli_tasks,
        &l_big,
        l_peer.as_ref(),
    ));
    cli.note(format!("Registries filled before measuring (codexd through the client crate, max-running 16; pueue through `pueue add`): {}.", fills.join("; ")));
    if ctx.pueue.is_none() {
        cli.note("pueue was not available in this run.");
    }
    if let (Some(p0), Some(pb), Some(lp)) = (&peer0, &peer_big, &l_peer) {
        let faster =
            ctl0.median < p0.median && ctl_big.median < pb.median && l_ctl.median < lp.median;
        report.targets.push(Target {
            figure: "3. CLI vs pueue".into(),
            target: "codexctl faster than pueue at every point".into(),
            measured: format!(
                "start {} vs {} (empty), {} vs {} ({cli_tasks} tasks); list {} vs status {}",
                dur(ctl0.median),
                dur(p0.median),
                dur(ctl_big.median),
                dur(pb.median),
                dur(l_ctl.median),
                dur(lp.median)
            ),
            met: Some(faster),
        });
    }
    let r = ratio(ctl_big.median, ctl0.median);
    report.targets.push(Target {
        figure: "3. CLI flat in task count".into(),
        target: format!("`codexctl start` p50 at {cli_tasks} tasks within 1.2x of empty"),
        measured: format!(
            "{} vs {}: {}",
            dur(ctl_big.median),
            dur(ctl0.median),
            times(r)
        ),
        met: Some(r <= 1.2),
    });
    report.sections.push(cli);
    Ok(memory)
}
