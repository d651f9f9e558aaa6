//! codexd: the daemon that runs Codex CLI jobs in the background.
//!
//! Start-up order ([`run()`]): take the state-dir lock, open the registry, settle what an
//! earlier daemon left ([`run::Supervisor::recover`]), bind the socket (reclaiming a
//! stale one, never displacing a live daemon; or serve the one systemd passed), then serve
//! until SIGTERM/SIGINT or a `shutdown` call, telling systemd when ready and when stopping.
//! Running codex processes are left running on exit; the next daemon adopts them.
//!
//! Module map, each layer importing only those below it:
//! - [`transport`]: the socket, framing, limits, systemd activation, instance locks;
//! - [`service`]: the API methods (validation, id prefixes, wait/watch over the [`hub`]);
//! - [`run`](mod@run): the supervisor (queue, launch, monitor, settle, recovery, prune), the per-run
//!   `run-task` process, process identity, held values;
//! - [`results`]: codex's JSONL events, the structured result, test parsers, git
//!   snapshots, how a run ended;
//! - [`registry`]: the sled index, task directories, and the records written in them;
//! - [`redact`], [`files`], [`config`]: redaction, owner-only file helpers, settings.

pub mod config;
pub mod files;
pub mod hub;
pub mod options;
pub mod redact;
pub mod registry;
pub mod results;
pub mod run;
pub mod service;
pub mod service_worktree;
pub mod transport;
pub mod worktree;

use anyhow::Context;
use codexd_api::CodexdApiServer;
use config::Config;
use std::sync::Arc;
use transport::{instance, systemd};

/// Runs the daemon until it is asked to stop, binding its own socket.
pub async fn run(config: Config) -> anyhow::Result<()> {
    run_with(config, systemd::Handoff::default()).await
}

/// Runs the daemon until it is asked to stop, serving the socket systemd passed (if any) and
/// sending readiness notifications (if asked to).
pub async fn run_with(mut config: Config, handoff: systemd::Handoff) -> anyhow::Result<()> {
    // A passed socket is the truth about where we serve (status replies report it).
    if let Some(path) = handoff.socket.as_ref().and_then(|s| s.path())
        && path != config.socket
    {
        tracing::info!(
            configured = %config.socket.display(),
            activated = %path.display(),
            "serving the activated socket, not the configured path"
        );
        config.socket = path.to_path_buf();
    }
    let config = Arc::new(config);
    let state_lock = instance::lock_state_dir(&config.state_dir)?;
    files::private_dir(&config.tasks_root())?;
    let (registry, rebuild_all) = open_registry(&config)?;
    files::private_dir(&config.registry_path())?;
    remove_old_broken_registries(&config.state_dir);
    // The ring holds whole event lines (up to megabytes each); a subscriber that falls
    // further behind re-reads from the files, so a short ring bounds memory, not data.
    let hub = hub::Hub::new(256);
    let supervisor = run::Supervisor::new(config.clone(), registry.clone(), hub);
    let (listener, socket_guard) = match handoff.socket {
        Some(activated) => {
            tracing::info!(
                socket = %config.socket.display(),
                fd_name = activated.name().unwrap_or(""),
                "socket activated: serving the socket systemd passed"
            );
            instance::adopt_socket(activated)?
        }
        None => instance::bind_socket(&config.socket)?,
    };
    // This daemon owns the socket now: record its settings beside it, so that a client
    // cannot autostart one with other settings for it later without being told.
    if let Err(e) = transport::record::write(&config) {
        tracing::warn!("cannot record this daemon's settings beside the socket: {e}");
    }
    // Records the registry lacks (all of them after a rebuild) come back from the files.
    let restored = supervisor
        .restore_from_files(rebuild_all)
        .await
        .context("restore task records from the task directories")?;
    if restored > 0 {
        tracing::info!(restored, "restored task records from the task directories");
    }
    supervisor
        .recover()
        .await
        .context("settle tasks left by an earlier daemon")?;
    // Before serving: no start is in progress, so a directory without a request is
    // abandoned.
    supervisor.clean_leftovers();
    supervisor.clean_worktree_leftovers().await;
    if let Some(retention) = config.retention {
        let pruner = supervisor.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(pruner.config().prune_every);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                match pruner.prune(retention, false).await {
                    Ok((pruned, _notes)) if !pruned.is_empty() => {
                        tracing::info!(
                            pruned = pruned.len(),
                            "scheduled prune removed old finished tasks"
                        )
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!("scheduled prune failed: {e}"),
                }
            }
        });
    }
    let shutdown = Arc::new(tokio::sync::Notify::new());
    let service = service::Service::new(supervisor.clone(), shutdown.clone());
    let methods: jsonrpsee::Methods = service.into_rpc().into();
    tracing::info!(
        socket = %config.socket.display(),
        state_dir = %config.state_dir.display(),
        max_running = config.max_running,
        tasks = registry.len(),
        "codexd ready"
    );
    // The handlers are installed before anyone is told we are ready, so that a SIGTERM
    // right after READY=1 (or after the socket first answers) is a clean shutdown.
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        )
    };
    let stop = async move {
        let (mut term, mut int) = match signals {
            (Ok(term), Ok(int)) => (term, int),
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!("cannot listen for SIGTERM/SIGINT: {e}");
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
            _ = shutdown.notified() => {}
        }
    };
    let defaults = transport::Limits::default();
    // Waiters are bounded by open files: raise the soft limit, and fit the waiter budget.
    let fd_limit = transport::raise_fd_limit();
    let limits = transport::Limits {
        idle_timeout: config.idle_timeout,
        max_waiter_connections: transport::waiter_budget_for(
            fd_limit,
            defaults.max_connections,
            defaults.max_waiter_connections,
        ),
        ..defaults
    };
    tracing::debug!(
        fd_limit,
        short = limits.max_connections,
        waiters = limits.max_waiter_connections,
        "connection budgets"
    );
    if let Some(notifier) = &handoff.notifier {
        let status = format!("serving on {}", config.socket.display());
        match notifier.ready(&status) {
            Ok(()) => tracing::debug!("told systemd: READY=1"),
            Err(e) => tracing::warn!("cannot notify systemd of readiness: {e}"),
        }
    }
    transport::serve(listener, methods, limits, stop).await;
    if let Some(notifier) = &handoff.notifier
        && let Err(e) = notifier.stopping("stopping; running tasks are left running")
    {
        tracing::warn!("cannot notify systemd of the shutdown: {e}");
    }
    supervisor.stop_accepting().await;
    // Every state change was flushed when it was made; this is a last sync of the index.
    if let Err(e) = registry_flush(&registry).await {
        tracing::warn!("final registry flush: {e}");
    }
    drop(socket_guard);
    drop(state_lock);
    tracing::info!("codexd stopped; running tasks were left running");
    Ok(())
}

/// Opens the registry. If it is missing, will not open, or fails the consistency check (or a
/// rebuild was asked for), it is moved aside (never deleted) and a fresh one is opened; the
/// second value then says every record must be rebuilt from the task directories.
fn open_registry(config: &Config) -> anyhow::Result<(registry::Registry, bool)> {
    let path = config.registry_path();
    let existed = path.exists();
    if config.rebuild_registry {
        if existed {
            move_aside(&path, "rebuild requested")?;
        }
        return Ok((registry::Registry::open(&path)?, true));
    }
    let failure = match registry::Registry::open(&path) {
        Ok(registry) => match registry.check() {
            Ok(_) => return Ok((registry, !existed)),
            Err(e) => e,
        },
        Err(e) => e,
    };
    // A full or read-only disk is not corruption: the registry stays where it is. sled 0.34
    // cannot open a database read-only (opening writes), so the daemon does not serve.
    if let Some(errno) = storage_condition(&failure) {
        anyhow::bail!(
            "cannot open the task registry {}: {errno}. This is an I/O condition of the file \
             system holding {}, not corruption: the registry is not corrupt and was left \
             where it is. Free some space (or make it writable) and start codexd again",
            path.display(),
            config.state_dir.display()
        );
    }
    let failure = failure.to_string();
    tracing::error!("the task registry is unusable: {failure}");
    move_aside(&path, &failure)?;
    Ok((registry::Registry::open(&path)?, true))
}

/// The OS error of `failure` if it is a full or read-only file system (ENOSPC, EDQUOT,
/// EROFS), which says nothing about the registry's health.
fn storage_condition(failure: &registry::RegistryError) -> Option<std::io::Error> {
    const CONDITIONS: [i32; 3] = [libc::ENOSPC, libc::EDQUOT, libc::EROFS];
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(failure);
    while let Some(error) = source {
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && let Some(errno) = io.raw_os_error().filter(|e| CONDITIONS.contains(e))
        {
            return Some(std::io::Error::from_raw_os_error(errno));
        }
        source = error.source();
    }
    // sled sometimes keeps only the text of the OS error.
    let text = failure.to_string();
    CONDITIONS
        .into_iter()
        .find(|errno| text.contains(&format!("(os error {errno})")))
        .map(std::io::Error::from_raw_os_error)
}

/// How many moved-aside registries (`registry.broken-*`) are kept; older ones are removed
/// at start-up.
const KEEP_BROKEN_REGISTRIES: usize = 3;

/// Removes all but the newest [`KEEP_BROKEN_REGISTRIES`] moved-aside registries, logging
/// each one removed.
fn remove_old_broken_registries(state_dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(state_dir) else {
        return;
    };
    let mut broken: Vec<(u64, std::path::PathBuf)> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let ms = name.strip_prefix("registry.broken-")?.parse().ok()?;
            Some((ms, entry.path()))
        })
        .collect();
    broken.sort();
    let old = broken.len().saturating_sub(KEEP_BROKEN_REGISTRIES);
    for (_, path) in broken.into_iter().take(old) {
        match std::fs::remove_dir_all(&path) {
            Ok(()) => tracing::info!(
                removed = %path.display(),
                "removed an old moved-aside registry (the newest {KEEP_BROKEN_REGISTRIES} are kept)"
            ),
            Err(e) => tracing::warn!("cannot remove the old registry {}: {e}", path.display()),
        }
    }
}

/// Renames the registry directory to `registry.broken-<unix ms>` beside it.
fn move_aside(path: &std::path::Path, why: &str) -> anyhow::Result<()> {
    let aside = path.with_file_name(format!(
        "registry.broken-{}",
        codexd_api::Timestamp::now().unix_ms()
    ));
    std::fs::rename(path, &aside)
        .with_context(|| format!("move {} aside to {}", path.display(), aside.display()))?;
    tracing::warn!(
        moved_to = %aside.display(),
        "moved the task registry aside ({why}); rebuilding it from the task directories"
    );
    Ok(())
}

async fn registry_flush(registry: &registry::Registry) -> Result<(), registry::RegistryError> {
    registry.flush().await
}
