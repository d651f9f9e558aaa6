//! `codexd-bench`: the whole-process benchmark harness of issue 6. In one run it measures
//! the RPC floor, durable start against registry size, `codexctl` against pueue, completion
//! notice latency, throughput, event ingestion, memory and the overhead on the real Codex
//! CLI, and prints a Markdown report (or writes it with `--out`).
//!
//! `--quick` runs everything with tiny counts in a few seconds (CI runs it through
//! `tests/quick.rs`), skipping pueue and the real Codex CLI unless they are already
//! installed, and judges no targets.

mod daemon;
mod procfs;
mod pueue;
mod report;
mod sections;
mod setup;
mod stats;

use anyhow::Context;
use clap::Parser;
use report::Report;
use sections::Ctx;
use setup::{Bins, Plan, first_line};
use std::path::PathBuf;
use std::time::Instant;

/// Benchmarks codexd (release binaries next to this one by default) against pueue and
/// against the physical floor.
#[derive(Debug, Parser)]
#[command(name = "codexd-bench")]
struct Cli {
    /// Tiny counts, a few seconds, no targets judged; pueue and the real Codex CLI are used
    /// only if already installed.
    #[arg(long)]
    quick: bool,
    /// Write the Markdown report here instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Directory holding codexd, codexctl and fake-codex [default: this executable's].
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,
    /// Where pueue 4.0.4 is (or is installed to) [default: TARGET/bench-tools].
    #[arg(long, value_name = "DIR")]
    pueue_root: Option<PathBuf>,
    /// Leave pueue out.
    #[arg(long)]
    no_pueue: bool,
    /// Leave the real Codex CLI out (section 8).
    #[arg(long)]
    no_codex: bool,
    /// Only these sections (comma-separated numbers 1-10; 2, 3 and 7 share one run).
    #[arg(long, value_delimiter = ',', value_name = "N,...")]
    only: Vec<u32>,
    /// Keep the scratch directory (daemon logs and state) and print where it is.
    #[arg(long)]
    keep: bool,
}

/// Runs the selected sections and returns the report.
async fn run(cli: &Cli, ctx: &Ctx, codex: Option<PathBuf>) -> anyhow::Result<Report> {
    let wanted = |n: u32| cli.only.is_empty() || cli.only.contains(&n);
    let mut report = Report {
        quick: cli.quick,
        ..Report::default()
    };
    let began = Instant::now();
    let step = |n: u32, name: &str| {
        eprintln!(
            "codexd-bench: [{:6.1} s] section {n}: {name}",
            began.elapsed().as_secs_f64()
        )
    };
    if wanted(1) {
        step(1, "RPC floor");
        sections::rpc::run(ctx, &mut report)
            .await
            .context("section 1 (RPC floor)")?;
    }
    let registry = if wanted(2) || wanted(3) || wanted(7) {
        step(2, "durable start, CLI vs pueue, registry memory");
        Some(
            sections::growth::run(ctx, &mut report)
                .await
                .context("sections 2 and 3")?,
        )
    } else {
        None
    };
    if wanted(4) {
        step(4, "completion notice");
        sections::notice::run(ctx, &mut report)
            .await
            .context("section 4 (completion notice)")?;
    }
    if wanted(5) {
        step(5, "throughput");
        sections::throughput::run(ctx, &mut report)
            .await
            .context("section 5 (throughput)")?;
    }
    if wanted(6) {
        step(6, "event ingestion");
        sections::ingest::run(ctx, &mut report)
            .await
            .context("section 6 (ingestion)")?;
    }
    if let (true, Some(registry)) = (wanted(7), &registry) {
        step(7, "memory");
        sections::memory::run(ctx, &mut report, registry)
            .await
            .context("section 7 (memory)")?;
    }
    if wanted(8) {
        match &codex {
            Some(codex) => {
                step(8, "overhead on the real Codex CLI");
                sections::real_codex::run(ctx, &mut report, codex)
                    .await
                    .context("section 8 (real Codex CLI)")?;
            }
            None => {
                let mut section =
                    report::Section::new("8. Overhead on the real Codex CLI", "", &[]);
                section.note("Skipped: the Codex CLI is not installed (quick mode) or --no-codex.");
                report.sections.push(section);
            }
        }
    }
    if wanted(9) {
        step(9, "load: waiters and silent runs");
        sections::load::run(ctx, &mut report)
            .await
            .context("section 9 (load)")?;
    }
    if wanted(10) {
        step(10, "codexctl statusline");
        sections::statusline::run(ctx, &mut report)
            .await
            .context("section 10 (statusline)")?;
    }
    // Sections in their numbered order.
    report.sections.sort_by_key(|s| {
        s.title
            .split('.')
            .next()
            .and_then(|n| n.parse::<u32>().ok())
    });
    report.targets.sort_by_key(|t| {
        t.figure
            .split('.')
            .next()
            .and_then(|n| n.parse::<u32>().ok())
    });
    Ok(report)
}

/// Locates the binaries and tools, runs the sections and writes the report.
fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let began = Instant::now();
    let source = setup::source();
    let bins = Bins::locate(cli.bin_dir.clone())?;
    let plan = Plan::new(cli.quick);
    let pueue_root = cli
        .pueue_root
        .clone()
        .unwrap_or_else(|| bins.target_dir().join("bench-tools"));
    let wanted = |n: &[u32]| cli.only.is_empty() || n.iter().any(|n| cli.only.contains(n));
    let pueue = if cli.no_pueue || !wanted(&[3, 4, 5]) {
        None
    } else {
        pueue::locate(&pueue_root, !cli.quick)?
    };
    let codex = if cli.no_codex || !wanted(&[8]) {
        None
    } else if cli.quick {
        sections::real_codex::installed_codex(&bins.target_dir())
    } else {
        Some(codexd_tests::codex_cli::codex_bin().context("install the Codex CLI")?)
    };
    let scratch = tempfile::Builder::new().prefix("codexd-bench-").tempdir()?;
    let work = scratch.path().join("work");
    std::fs::create_dir_all(&work)?;
    let ctx = Ctx {
        work: work.canonicalize()?,
        scratch: scratch.path().to_path_buf(),
        bins,
        plan,
        pueue,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(run(&cli, &ctx, codex.clone()));
    if cli.keep {
        eprintln!(
            "codexd-bench: scratch directory kept: {}",
            scratch.keep().display()
        );
    }
    let mut report = result?;
    let version = |p: &std::path::Path| first_line(p, &["--version"]).unwrap_or_else(|| "?".into());
    let mut context = setup::machine();
    let args: Vec<String> = std::env::args().skip(1).collect();
    context.push((
        "Reproduce".into(),
        if cli.quick {
            "`cargo test -p codexd-bench` (runs `codexd-bench --quick` on the debug binaries)".into()
        } else {
            "`cargo build --release -p codexd -p codexctl -p fake-codex -p codexd-bench && target/release/codexd-bench --out bench.md`".into()
        },
    ));
    context.push((
        "This run".into(),
        format!(
            "`codexd-bench {}` ({} binaries, {})",
            args.join(" "),
            ctx.bins.profile(),
            ctx.bins.dir.display()
        ),
    ));
    let mut versions = vec![version(&ctx.bins.codexd), version(&ctx.bins.codexctl)];
    if let Some(p) = &ctx.pueue {
        versions.push(format!("{} / {}", version(&p.pueue), version(&p.pueued)));
    }
    if let Some(c) = &codex {
        versions.push(version(c));
    }
    context.push(("Versions".into(), versions.join("; ")));
    context.push((
        "Source".into(),
        format!(
            "{source} when the run began; binaries built {}",
            setup::built_at(&ctx.bins.codexd)
        ),
    ));
    context.push(("Harness time".into(), stats::secs(began.elapsed())));
    report.context = context;
    let markdown = report.markdown();
    match &cli.out {
        Some(path) => {
            std::fs::write(path, markdown).with_context(|| format!("write {}", path.display()))?
        }
        None => print!("{markdown}"),
    }
    Ok(())
}
