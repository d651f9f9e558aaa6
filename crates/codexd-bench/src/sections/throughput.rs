//! Section 5, throughput: 1,000 fake tasks of ~50 events each with max-running 16, from the
//! first submission to the last task's end, with the daemon's CPU seconds, the CPU of the
//! per-run supervisors and fake codex processes (the daemon's reaped children), and the
//! daemon's peak RSS; then the same number of tasks through pueue with parallel 16.

use crate::daemon::{Codexd, fake_request, until_idle};
use crate::procfs::{self, CpuTimes};
use crate::pueue::Pueued;
use crate::report::{Report, Section};
use crate::sections::{Ctx, fresh_dir, timed};
use crate::stats::{mib, secs};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// One measured batch.
struct Batch {
    name: String,
    submit: Duration,
    total: Duration,
    own_cpu: f64,
    children_cpu: f64,
    hwm_kib: u64,
}

/// Seconds since the Unix epoch of an RFC 3339 time with a `Z` or `±HH:MM` offset (the form
/// pueue prints), or `None`.
pub fn unix_seconds(text: &str) -> Option<f64> {
    let (date, rest) = text.split_once('T')?;
    let mut ymd = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (ymd.next()??, ymd.next()??, ymd.next()??);
    let (clock, offset) = match rest.find(['Z', '+', '-']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "Z"),
    };
    let mut hms = clock.split(':');
    let (h, min) = (
        hms.next()?.parse::<i64>().ok()?,
        hms.next()?.parse::<i64>().ok()?,
    );
    let s: f64 = hms.next()?.parse().ok()?;
    let offset_secs = match offset {
        "Z" => 0,
        o => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let (oh, om) = o[1..].split_once(':')?;
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60)
        }
    };
    // Days from 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + min * 60 - offset_secs) as f64 + s)
}

/// CPU seconds one fake-codex run with these settings costs on its own (average of `n`).
fn fake_cost(ctx: &Ctx, settings: &[(&str, String)], n: usize) -> anyhow::Result<f64> {
    let before = procfs::children_cpu();
    for _ in 0..n {
        let status = Command::new(&ctx.bins.fake_codex)
            .args(["exec", "--json", "--", "benchmark task"])
            .envs(settings.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "fake-codex failed: {status}");
    }
    Ok((procfs::children_cpu() - before) / n as f64)
}

/// The batch through codexd; `via_cli` submits with `codexctl start` processes, else
/// through one client connection.
async fn codexd_batch(
    ctx: &Ctx,
    settings: &[(&str, String)],
    via_cli: bool,
) -> anyhow::Result<Batch> {
    let n = ctx.plan.throughput_tasks;
    let dir = fresh_dir(
        ctx,
        if via_cli {
            "throughput-cli"
        } else {
            "throughput"
        },
    )?;
    let daemon = Codexd::start(&ctx.bins, &dir.join("codexd"), &ctx.bins.fake_codex, 16)?;
    let client = daemon.client().await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cpu0 = procfs::cpu_times(daemon.pid())?;
    let t0 = Instant::now();
    if via_cli {
        let env: Vec<String> = settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
        for _ in 0..n {
            let mut cmd = daemon.ctl();
            cmd.current_dir(&ctx.work).arg("start");
            for kv in &env {
                cmd.args(["--env", kv]);
            }
            timed(cmd.arg("benchmark task"))?;
        }
    } else {
        let request = fake_request(&ctx.work, settings);
        for _ in 0..n {
            client.start(request.clone()).await?;
        }
    }
    let submit = t0.elapsed();
    until_idle(&client).await?;
    let total = t0.elapsed();
    let cpu: CpuTimes = procfs::cpu_times(daemon.pid())? - cpu0;
    Ok(Batch {
        name: if via_cli {
            format!("codexd, {n} × `codexctl start` processes")
        } else {
            format!("codexd, {n} starts through one client connection")
        },
        submit,
        total,
        own_cpu: cpu.own,
        children_cpu: cpu.children,
        hwm_kib: procfs::hwm_kib(daemon.pid())?,
    })
}

/// The batch through pueue: `pueue add` processes, then until pueue's own end times show
/// every task done (polled each second; the end is the latest recorded end time).
fn pueue_batch(
    ctx: &Ctx,
    command: &[&str],
    settings: &[(&str, String)],
    label: &str,
) -> anyhow::Result<Batch> {
    let n = ctx.plan.throughput_tasks;
    let Some(bins) = &ctx.pueue else {
        anyhow::bail!("no pueue");
    };
    let dir = fresh_dir(ctx, &format!("throughput-pueue-{label}"))?;
    let pueue = Pueued::start(bins, &dir, 16)?;
    std::thread::sleep(Duration::from_millis(300));
    let cpu0 = procfs::cpu_times(pueue.pid())?;
    let wall0 = SystemTime::now();
    let t0 = Instant::now();
    for _ in 0..n {
        let mut cmd = pueue.cmd();
        cmd.current_dir(&ctx.work)
            .envs(settings.iter().map(|(k, v)| (*k, v.as_str())))
            .args(["add", "--"])
            .args(command);
        timed(&mut cmd)?;
    }
    let submit = t0.elapsed();
    let last_end = loop {
        std::thread::sleep(Duration::from_secs(1));
        let status: serde_json::Value = serde_json::from_str(&pueue.run(&["status", "--json"])?)?;
        let tasks = status["tasks"].as_object().cloned().unwrap_or_default();
        let ends: Vec<Option<f64>> = tasks
            .values()
            .map(|t| t["status"]["Done"]["end"].as_str().and_then(unix_seconds))
            .collect();
        if ends.len() == n && ends.iter().all(Option::is_some) {
            break ends.into_iter().flatten().fold(0.0, f64::max);
        }
    };
    let start = wall0.duration_since(SystemTime::UNIX_EPOCH)?.as_secs_f64();
    let cpu = procfs::cpu_times(pueue.pid())? - cpu0;
    Ok(Batch {
        name: format!(
            "pueue, {n} × `pueue add -- {}`",
            command
                .join(" ")
                .replace(&ctx.bins.dir.display().to_string(), "…")
        ),
        submit,
        total: Duration::from_secs_f64((last_end - start).max(0.0)),
        own_cpu: cpu.own,
        children_cpu: cpu.children,
        hwm_kib: procfs::hwm_kib(pueue.pid())?,
    })
}

/// Runs section 5.
pub async fn run(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let n = ctx.plan.throughput_tasks;
    let events = ctx.plan.throughput_events;
    let settings = [
        ("FAKE_CODEX_EVENTS", events.to_string()),
        ("FAKE_CODEX_PAYLOAD_BYTES", "512".to_string()),
    ];
    let fake_each = fake_cost(ctx, &settings, (n / 10).max(5))?;
    let mut batches = vec![
        codexd_batch(ctx, &settings, false).await?,
        codexd_batch(ctx, &settings, true).await?,
    ];
    let fake = ctx.bins.fake_codex.display().to_string();
    if ctx.pueue.is_some() {
        batches.push(pueue_batch(ctx, &["true"], &[], "true")?);
        batches.push(pueue_batch(ctx, &[&fake], &settings, "fake")?);
    }
    let mut section = Section::new(
        "5. Throughput",
        &format!(
            "{n} tasks, max-running / parallel 16, submitted one after another as fast as \
             each is acknowledged; total = first submission to the end of the last task. \
             codexd runs fake codex with {events} events (command items with 512 bytes of \
             output each). CPU is from /proc/PID/stat of the daemon: its own utime+stime, \
             and cutime+cstime of the children it reaped (for codexd: the `codexd run-task` \
             supervisors, which include the fake codex processes they reaped; for pueue: \
             `sh -c` and the command)."
        ),
        &[
            "batch",
            "submission",
            "total",
            "tasks/s",
            "daemon CPU",
            "children CPU",
            "peak daemon RSS (VmHWM)",
        ],
    );
    for b in &batches {
        section.row(vec![
            b.name.clone(),
            secs(b.submit),
            secs(b.total),
            format!("{:.0}", n as f64 / b.total.as_secs_f64()),
            format!(
                "{:.2} s ({:.1} ms/task)",
                b.own_cpu,
                b.own_cpu * 1000.0 / n as f64
            ),
            format!(
                "{:.2} s ({:.1} ms/task)",
                b.children_cpu,
                b.children_cpu * 1000.0 / n as f64
            ),
            mib(b.hwm_kib),
        ]);
    }
    section.note(format!(
        "fake codex alone (same settings, run directly, output to /dev/null): {:.1} ms CPU per \
         run, so the `codexd run-task` supervisors account for about {:.1} ms per task of the \
         children CPU of the first batch.",
        fake_each * 1000.0,
        (batches[0].children_cpu / n as f64 - fake_each).max(0.0) * 1000.0
    ));
    if ctx.pueue.is_some() {
        section.note("pueue's total uses its own recorded end times (polled each second until all were done); its 300 ms task loop paces starts and completions.");
    }
    report.sections.push(section);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::unix_seconds;

    #[test]
    fn rfc3339_with_offsets() {
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(
            unix_seconds("2000-03-01T00:00:00+00:00"),
            Some(951_868_800.0)
        );
        assert_eq!(
            unix_seconds("2000-03-01T01:00:00+01:00"),
            Some(951_868_800.0)
        );
        let t = unix_seconds("2026-11-23T23:06:19.5-02:30").unwrap();
        assert!((t - (1_795_475_179.5 + 9000.0)).abs() < 1e-6, "{t}");
        assert_eq!(unix_seconds("yesterday"), None);
    }
}
