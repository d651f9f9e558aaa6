//! codexd: the daemon that runs Codex CLI jobs in the background.
//!
//! Start-up order ([`run`]): take the state-dir lock, open the registry, settle what an
//! earlier daemon left ([`supervisor::Supervisor::recover`]), bind the socket (reclaiming a
//! stale one, never displacing a live daemon), then serve until SIGTERM/SIGINT or a
//! `shutdown` call. Running codex processes are left running on exit; the next daemon
//! adopts them.
//!
//! Module map: `transport` (socket + JSON-RPC framing) → `service` (API methods) →
//! `supervisor` (queue, runs, stop) → `registry` (sled) and `taskdir` (per-task files);
//! `runner` is the per-run supervisor process; `events`/`outcome` read codex's JSONL.

pub mod config;
pub mod events;
pub mod gitsnap;
pub mod hub;
pub mod instance;
pub mod outcome;
pub mod process;
pub mod redact;
pub mod registry;
pub mod results;
pub mod runner;
pub mod service;
pub mod supervisor;
pub mod taskdir;
pub mod testparse;
pub mod transport;

use anyhow::Context;
use codexd_api::CodexdApiServer;
use config::Config;
use std::sync::Arc;

/// Runs the daemon until it is asked to stop.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let state_lock = instance::lock_state_dir(&config.state_dir)?;
    instance::private_dir(&config.tasks_root())?;
    let registry = registry::Registry::open(&config.registry_path())?;
    instance::private_dir(&config.registry_path())?;
    let hub = hub::Hub::new(4096);
    let supervisor = supervisor::Supervisor::new(config.clone(), registry.clone(), hub);
    let (listener, socket_guard) = instance::bind_socket(&config.socket)?;
    supervisor
        .recover()
        .await
        .context("settle tasks left by an earlier daemon")?;
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
    let stop = async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(e) => {
                    tracing::error!("cannot listen for SIGTERM: {e}");
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
            _ = shutdown.notified() => {}
        }
    };
    transport::serve(listener, methods, transport::Limits::default(), stop).await;
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

async fn registry_flush(registry: &registry::Registry) -> Result<(), registry::RegistryError> {
    registry.flush().await
}
