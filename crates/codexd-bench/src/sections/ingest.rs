//! Section 6, event ingestion: one fake codex run streaming ~100 MB as 64 KiB command
//! outputs (one JSON line each) through the run's supervisor (redaction, `events.jsonl`)
//! and the daemon (tail, parse, publish, result), with the daemon's RSS sampled throughout;
//! once with no client watching, once with a `watch` subscriber streaming every event.

use crate::daemon::{Codexd, fake_request};
use crate::procfs::{self, RssSampler};
use crate::report::{Report, Section};
use crate::sections::{Ctx, fresh_dir};
use crate::stats::{mib, secs};
use codexd_client::api::WatchItem;
use futures::StreamExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Size of each event's command output.
const EVENT_PAYLOAD: usize = 64 * 1024;

/// One ingestion run's figures.
struct Run {
    name: String,
    /// From the fake's exit (its recorded end) to `wait` returning.
    after_exit: Duration,
    bytes: u64,
    wall: Duration,
    own_cpu: f64,
    children_cpu: f64,
    peak_rss_kib: u64,
    streamed: u64,
}

/// Runs section 6.
pub async fn run(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let outputs = ctx.plan.ingest_bytes.div_ceil(EVENT_PAYLOAD);
    let settings_for = |kind: &str| {
        [
            ("FAKE_CODEX_EVENTS", (4 + 2 * outputs).to_string()),
            ("FAKE_CODEX_PAYLOAD_BYTES", EVENT_PAYLOAD.to_string()),
            ("FAKE_CODEX_PAYLOAD_KIND", kind.to_string()),
        ]
    };
    // The producer's own speed, output to /dev/null.
    let settings = settings_for("tests");
    let t = Instant::now();
    let status = Command::new(&ctx.bins.fake_codex)
        .envs(settings.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "fake-codex failed: {status}");
    let producer = t.elapsed();

    let dir = fresh_dir(ctx, "ingest")?;
    let daemon = Codexd::start(&ctx.bins, &dir.join("codexd"), &ctx.bins.fake_codex, 4)?;
    let client = daemon.client().await?;
    tokio::time::sleep(ctx.plan.settle).await;
    let idle_kib = procfs::rss_kib(daemon.pid())?;
    let mut runs = Vec::new();
    let mut plan: Vec<(String, &str, bool)> = (0..ctx.plan.ingest_runs)
        .map(|i| {
            (
                format!("`tests` output, run {} (no subscriber)", i + 1),
                "tests",
                false,
            )
        })
        .collect();
    plan.push((
        "`build` output: no test-result lines (no subscriber)".into(),
        "build",
        false,
    ));
    plan.push((
        "`tests` output, a `watch` subscriber streaming every event".into(),
        "tests",
        true,
    ));
    for (name, kind, watched) in plan {
        let sampler = RssSampler::start(daemon.pid(), Duration::from_millis(10));
        let cpu0 = procfs::cpu_times(daemon.pid())?;
        let t = Instant::now();
        let task = client
            .start(fake_request(&ctx.work, &settings_for(kind)))
            .await?;
        let id = task.id.to_string();
        let streamed = if watched {
            let mut stream = client.watch(&id, Some(0)).await?;
            let mut bytes = 0u64;
            while let Some(item) = stream.next().await {
                if let WatchItem::Event { line, .. } = item? {
                    bytes += line.len() as u64 + 1;
                }
            }
            bytes
        } else {
            0
        };
        let reply = client.wait(std::slice::from_ref(&id), None).await?;
        let wall = t.elapsed();
        let ended = std::time::SystemTime::now();
        let cpu = procfs::cpu_times(daemon.pid())? - cpu0;
        let task = reply
            .tasks
            .into_iter()
            .next()
            .ok_or_else(|| anyhow::anyhow!("no task"))?;
        anyhow::ensure!(
            task.state == codexd_client::api::TaskState::Succeeded,
            "ingestion task ended {} ({:?})",
            task.state,
            task.error
        );
        let exited = task.finished_at.map(|at| at.system_time()).unwrap_or(ended);
        runs.push(Run {
            name,
            after_exit: ended.duration_since(exited).unwrap_or_default(),
            bytes: task.log_bytes,
            wall,
            own_cpu: cpu.own,
            children_cpu: cpu.children,
            peak_rss_kib: sampler.finish(),
            streamed,
        });
    }
    let hwm = procfs::hwm_kib(daemon.pid())?;
    let mb = |b: u64| b as f64 / 1e6;
    let mut section = Section::new(
        "6. Event ingestion",
        &format!(
            "A fake codex writes {outputs} command items with {} KiB of output each (one JSON \
             line per event, {} events) as fast as it can; from `start` to the end of the task \
             as seen by `wait`. `tests` output is one third `test a::b ... ok` lines (as \
             `cargo test` prints), `build` output has none. The run's supervisor redacts each line and appends it to \
             `events.jsonl`; the daemon tails the log every 20 ms (1 MiB reads), parses each \
             line, publishes it, and builds the result at the end.",
            EVENT_PAYLOAD / 1024,
            4 + 2 * outputs
        ),
        &[
            "run",
            "log size",
            "wall",
            "MB/s",
            "of which after the fake exited",
            "daemon CPU",
            "supervisor + fake CPU",
            "daemon peak RSS (sampled)",
            "streamed to subscriber",
        ],
    );
    for r in &runs {
        section.row(vec![
            r.name.clone(),
            format!("{:.1} MB", mb(r.bytes)),
            secs(r.wall),
            format!("{:.0}", mb(r.bytes) / r.wall.as_secs_f64()),
            secs(r.after_exit),
            format!("{:.2} s", r.own_cpu),
            format!("{:.2} s", r.children_cpu),
            mib(r.peak_rss_kib),
            if r.streamed > 0 {
                format!("{:.1} MB", mb(r.streamed))
            } else {
                "–".into()
            },
        ]);
    }
    section.note(format!(
        "Daemon RSS idle before the runs: {}; VmHWM after all runs: {}. The producer alone \
         (fake codex to /dev/null) writes the same bytes in {} ({:.0} MB/s).",
        mib(idle_kib),
        mib(hwm),
        secs(producer),
        mb(runs[0].bytes) / producer.as_secs_f64()
    ));
    report.sections.push(section);
    Ok(())
}
