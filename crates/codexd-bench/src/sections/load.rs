//! Section 9, load (issue 12): daemon CPU per task with 10, 100 and 1,000 waiters
//! connected (each on its own connection, holding a `wait` on one of a few long runs); starts
//! refused while 2,000 waiters are connected; daemon CPU per minute idle and with 16 silent
//! runs (fake codex printing nothing, sleeping). Run alone with `codexd-bench --only 9`.

use crate::daemon::{Codexd, fake_request, until_idle};
use crate::procfs::{self, cpu_times};
use crate::report::{Report, Section, Target};
use crate::sections::{Ctx, fresh_dir};
use anyhow::Context;
use codexd_client::{Client, ClientError};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// Long runs the waiters wait on.
const HELD: usize = 8;

/// Raises the harness's soft open-file limit to the hard one (the waiters need fds).
fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on a struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// Starts `HELD` runs that hold for an hour (ended when the daemon is stopped).
async fn held_runs(client: &Client, work: &Path) -> anyhow::Result<Vec<String>> {
    let request = fake_request(work, &[("FAKE_CODEX_HOLD_MS", "3600000".into())]);
    let mut ids = Vec::new();
    for _ in 0..HELD {
        ids.push(client.start(request.clone()).await?.id.to_string());
    }
    Ok(ids)
}

/// Opens `n` connections, each sending a `wait` on one of `ids`; they stay open while the
/// returned streams live.
async fn waiters(socket: &Path, ids: &[String], n: usize) -> anyhow::Result<Vec<UnixStream>> {
    let mut streams = Vec::with_capacity(n);
    for i in 0..n {
        let mut stream = UnixStream::connect(socket).context("a waiter connects")?;
        let line = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":{i},\"method\":\"codexd_wait\",\"params\":[[\"{}\"]]}}\n",
            ids[i % ids.len()]
        );
        stream.write_all(line.as_bytes())?;
        streams.push(stream);
    }
    // Let the daemon take every wait in before measuring.
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(streams)
}

/// Daemon CPU (own, ms) per task over `tasks` quick fake tasks started and waited for.
async fn cpu_per_task(
    daemon: &Codexd,
    client: &Client,
    work: &Path,
    tasks: usize,
) -> anyhow::Result<f64> {
    let before = cpu_times(daemon.pid())?;
    let request = fake_request(work, &[]);
    let mut ids = Vec::with_capacity(tasks);
    for _ in 0..tasks {
        ids.push(client.start(request.clone()).await?.id.to_string());
    }
    for chunk in ids.chunks(100) {
        client.wait(chunk, None).await?;
    }
    let after = cpu_times(daemon.pid())?;
    Ok((after - before).own * 1000.0 / tasks as f64)
}

/// Runs section 9.
pub async fn run(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    raise_fd_limit();
    let quick = ctx.plan.quick;
    let tasks = if quick { 10 } else { 300 };
    let counts: &[usize] = if quick { &[2, 5] } else { &[10, 100, 1000] };
    let crowd = if quick { 20 } else { 2000 };
    let window = if quick {
        Duration::from_secs(2)
    } else {
        Duration::from_secs(60)
    };

    let mut section = Section::new(
        "9. Load: waiters and silent runs",
        &format!(
            "One daemon (max 32 running) with {HELD} fake runs that hold; W waiter \
             connections, each holding a `wait` on one of them (raw JSON-RPC lines over the \
             socket). With W connected, {tasks} quick fake tasks are started and waited for \
             through one client; the figure is the daemon's own CPU time over them per \
             task. Then {crowd} waiters are connected and {tasks} starts are made, each on \
             a fresh connection; refused ones are counted. Last, the daemon's CPU over \
             {} s with no run (before the runs, and again after they are cancelled), and \
             over twice that with 16 runs of a fake codex that prints nothing and sleeps, \
             per minute, each reading taken a few seconds after the daemon's start, the 16 \
             starts or the cancels, from the threads' scheduler run times.",
            window.as_secs()
        ),
        &["measure", "value"],
    );
    let dir = fresh_dir(ctx, "load")?;
    let daemon = Codexd::start(&ctx.bins, &dir.join("codexd"), &ctx.bins.fake_codex, 32)?;
    let client = daemon.client().await?;
    let held = held_runs(&client, &ctx.work).await?;

    // CPU per task against the number of waiters.
    let mut per_task = Vec::new();
    for &w in counts {
        let streams = waiters(&daemon.socket, &held, w).await?;
        let ms = cpu_per_task(&daemon, &client, &ctx.work, tasks).await?;
        section.row(vec![
            format!("daemon CPU per task, {w} waiters"),
            format!("{ms:.2} ms"),
        ]);
        per_task.push((w, ms));
        drop(streams);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    if let (Some(first), Some(last)) = (per_task.first(), per_task.last()) {
        let r = last.1 / first.1.max(f64::EPSILON);
        report.targets.push(Target {
            figure: "9. CPU per task vs waiters".into(),
            target: format!("at {} waiters within 1.2x of {}", last.0, first.0),
            measured: format!("{:.2} ms vs {:.2} ms: {r:.2}x", last.1, first.1),
            met: (!quick).then_some(r <= 1.2),
        });
    }

    // Starts refused while a crowd of waiters is connected.
    let streams = waiters(&daemon.socket, &held, crowd).await?;
    let request = fake_request(&ctx.work, &[]);
    let mut refused = 0usize;
    let mut other_errors = 0usize;
    for _ in 0..tasks {
        let outcome = match Client::connect(&daemon.socket).await {
            Ok(fresh) => fresh.start(request.clone()).await.map(|_| ()),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => {}
            Err(e)
                if e.api()
                    .is_some_and(|a| a.kind == codexd_client::api::ErrorKind::Overloaded) =>
            {
                refused += 1
            }
            Err(e) => {
                if other_errors == 0 {
                    note_error(&mut section, &e);
                }
                other_errors += 1;
            }
        }
    }
    drop(streams);
    section.row(vec![
        format!("starts refused with {crowd} waiters connected"),
        format!("{refused} of {tasks} (other errors: {other_errors})"),
    ]);
    report.targets.push(Target {
        figure: "9. Starts under waiters".into(),
        target: format!("0 starts refused with {crowd} waiters"),
        measured: format!("{refused} refused of {tasks}"),
        met: (!quick).then_some(refused == 0 && other_errors == 0),
    });
    drop(client);
    drop(daemon);

    // Idle CPU: no runs, then 16 silent runs. Each reading starts after a pause, so that
    // neither the daemon's start-up nor the 16 starts (spawning runners, writing records)
    // fall in the window: the figure is what a daemon costs while it only waits.
    let silent = dir.join("silent.jsonl");
    std::fs::write(&silent, "")?;
    let daemon = Codexd::start(&ctx.bins, &dir.join("idle"), &ctx.bins.fake_codex, 32)?;
    let client = daemon.client().await?;
    tokio::time::sleep(ctx.plan.settle * 3).await;
    let (idle, idle_how) = cpu_per_minute(daemon.pid(), window).await?;
    let request = fake_request(
        &ctx.work,
        &[
            ("FAKE_CODEX_SCRIPT", silent.display().to_string()),
            ("FAKE_CODEX_HOLD_MS", "3600000".into()),
        ],
    );
    let mut silent_ids = Vec::with_capacity(16);
    for _ in 0..16 {
        silent_ids.push(client.start(request.clone()).await?.id);
    }
    tokio::time::sleep(ctx.plan.settle * 3).await;
    let (busy, busy_how) = cpu_per_minute(daemon.pid(), window * 2).await?;
    // Idle again once the runs are cancelled: an idle daemon uses a few milliseconds a
    // minute, so any stray wake-up moves one reading, and the baseline is the mean of one
    // window before the runs and one after.
    for id in &silent_ids {
        client.cancel(id.as_str()).await?;
    }
    until_idle(&client).await?;
    tokio::time::sleep(ctx.plan.settle * 3).await;
    let (idle_after, _) = cpu_per_minute(daemon.pid(), window).await?;
    let idle_before = idle;
    let idle = (idle_before + idle_after) / 2.0;
    section.row(vec![
        "daemon CPU per minute, idle (mean of before and after the runs)".into(),
        format!(
            "{:.1} ms ({:.1} before, {:.1} after; {idle_how})",
            idle * 1000.0,
            idle_before * 1000.0,
            idle_after * 1000.0
        ),
    ]);
    section.row(vec![
        "daemon CPU per minute, 16 silent runs".into(),
        format!("{:.1} ms ({busy_how})", busy * 1000.0),
    ]);
    let r = busy / idle.max(0.001);
    report.targets.push(Target {
        figure: "9. Silent runs".into(),
        target: "daemon CPU with 16 silent runs within 2x of idle".into(),
        measured: format!(
            "{:.1} ms/min vs {:.1} ms/min: {r:.1}x",
            busy * 1000.0,
            idle * 1000.0
        ),
        met: (!quick).then_some(r <= 2.0),
    });
    report.sections.push(section);
    Ok(())
}

/// The daemon's own CPU seconds per minute over `window`, from its threads' scheduler run
/// times (nanoseconds; `stat`'s 10 ms ticks are too coarse for an idle daemon, a few ticks
/// per window). Falls back to `stat` where `schedstat` is missing; says which was used and
/// how many threads exited during the window (their time in it is not counted).
async fn cpu_per_minute(pid: u32, window: Duration) -> anyhow::Result<(f64, String)> {
    let t = Instant::now();
    match procfs::thread_runtimes(pid) {
        Ok(before) if !before.is_empty() => {
            tokio::time::sleep(window).await;
            let after = procfs::thread_runtimes(pid)?;
            let (ns, exited) = procfs::runtime_between(&before, &after);
            let per_minute = ns as f64 / 1e9 * 60.0 / t.elapsed().as_secs_f64();
            Ok((per_minute, format!("schedstat, {exited} threads exited")))
        }
        _ => {
            let before = cpu_times(pid)?;
            tokio::time::sleep(window).await;
            let used = (cpu_times(pid)? - before).own;
            Ok((used * 60.0 / t.elapsed().as_secs_f64(), "stat ticks".into()))
        }
    }
}

/// Notes the first unexpected error of the refused-starts run in the section.
fn note_error(section: &mut Section, error: &ClientError) {
    section.note(format!("a start failed otherwise: {error}"));
}
