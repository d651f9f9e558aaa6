//! The real Codex CLI, pinned to [`CODEX_VERSION`], and the flags that point it at
//! [`MockModelServer`](crate::model_server::MockModelServer).
//!
//! [`codex_bin`] installs `@openai/codex@0.169.0` with npm once per workspace target dir
//! (`target/codex-cli/0.169.0`) and returns the native binary inside it. Set
//! `CODEXD_TEST_CODEX_BIN` to a codex binary to skip the install.
//!
//! # Passing prompts and thread ids safely (observed with 0.169.0; the self-tests use `--`)
//! * `codex exec [flags] -- PROMPT` works: `--` ends the options and a prompt that starts
//!   with `-` (even `--help`) is taken as the prompt. Without `--` such a prompt is parsed as
//!   an option: codex exits 2 with a clap usage error and prints nothing on stdout. So always
//!   put `--` right before the prompt.
//! * `codex exec resume [flags] -- THREAD_ID PROMPT` works the same way (both positionals
//!   after `--`); every option, including `--json`, `-c`, `-m`, must come before `--`.
//! * `exec resume` itself has no `-C` and no `-s`, and a resumed run otherwise uses the
//!   process's cwd and a read-only sandbox (a refused command shows no item at all). Options
//!   of `exec` placed **before** the `resume` subcommand do apply to it:
//!   `codex exec -s workspace-write -C DIR resume --json … -- THREAD_ID PROMPT` runs in `DIR`
//!   with a writable workspace; `-c sandbox_mode="workspace-write"` after `resume` works too.
//! * `codex exec [flags] -` reads the prompt from stdin instead (no argv limits).
//!
//! # Failing fast without a model server
//! With no listener at the provider's address codex normally retries forever ("Reconnecting...
//! waiting for network"). `--disable unbounded_connection_retries` stops that, and so does the
//! config override `features.unbounded_connection_retries=false`, which
//! [`mock_config_overrides`] includes: codex then fails the turn within a second with
//! "Connection failed: error sending request" (exit 1).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::bail;

use crate::npm::PinnedPackage;

/// The pinned Codex CLI version (npm package `@openai/codex`).
pub const CODEX_VERSION: &str = "0.169.0";

/// The model slug the mock provider is used with: it is in 0.169.0's bundled catalog, so
/// codex gives it the freeform `apply_patch` tool and no "unknown model" warning.
pub const MOCK_MODEL: &str = "gpt-5.5";

/// Environment variable naming a codex binary to use instead of installing one.
pub const CODEX_BIN_ENV: &str = "CODEXD_TEST_CODEX_BIN";

/// Returns the path of the native codex binary, version [`CODEX_VERSION`].
///
/// If `CODEXD_TEST_CODEX_BIN` is set, that path is returned (it must exist). Otherwise the
/// npm package is installed into `TARGET/codex-cli/0.169.0` unless it is already there (see
/// [`crate::npm`]: a temporary sibling renamed into place, under a lock). The result (or
/// error) is cached for the process.
pub fn codex_bin() -> anyhow::Result<PathBuf> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| locate_or_install().map_err(|err| format!("{err:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

/// Creates an empty directory `dir/codex-home` for use as `CODEX_HOME` and returns it.
///
/// # Panics
/// If the directory cannot be created (this is a test helper).
pub fn codex_home(dir: &Path) -> PathBuf {
    let home = dir.join("codex-home");
    if let Err(err) = fs::create_dir_all(&home) {
        panic!("cannot create CODEX_HOME {}: {err}", home.display());
    }
    home
}

/// The `key=value` config overrides (each to be passed after a `-c`) that make codex use the
/// mock model server at `base_url` (e.g. [`MockModelServer::base_url`]):
///
/// * `model_provider=mock`
/// * `model_providers.mock={name="mock", base_url="…", wire_api="responses",
///   request_max_retries=0, stream_max_retries=0, stream_idle_timeout_ms=10000}`
/// * `tools.update_plan={enabled=true}`
/// * `features.unbounded_connection_retries=false`: the same as
///   `--disable unbounded_connection_retries`, so codex fails fast when nothing listens.
///
/// Works for `codex exec` and `codex exec resume`. The model is passed separately:
/// `-m` [`MOCK_MODEL`].
///
/// [`MockModelServer::base_url`]: crate::model_server::MockModelServer::base_url
pub fn mock_config_overrides(base_url: &str) -> Vec<String> {
    // A JSON string literal is a valid TOML basic string.
    let base_url = serde_json::Value::String(base_url.to_string()).to_string();
    vec![
        "model_provider=mock".to_string(),
        format!(
            "model_providers.mock={{name=\"mock\", base_url={base_url}, wire_api=\"responses\", \
             request_max_retries=0, stream_max_retries=0, stream_idle_timeout_ms=10000}}"
        ),
        "tools.update_plan={enabled=true}".to_string(),
        "features.unbounded_connection_retries=false".to_string(),
    ]
}

/// `-c` overrides (after [`mock_config_overrides`], which they override) for a provider
/// that retries like a real one: codex reconnects (its `{"type":"error","message":
/// "Reconnecting... …"}` notices) instead of failing the turn, when the stream goes quiet for
/// `idle_ms` (stream retries: 100) or when nothing listens at `base_url` (unbounded connection
/// retries: "Reconnecting... waiting for network (Connection failed: …)").
pub fn retrying_provider_overrides(base_url: &str, idle_ms: u64) -> Vec<String> {
    let base_url = serde_json::Value::String(base_url.to_string()).to_string();
    vec![
        format!(
            "model_providers.mock={{name=\"mock\", base_url={base_url}, wire_api=\"responses\", \
             request_max_retries=0, stream_max_retries=100, stream_idle_timeout_ms={idle_ms}}}"
        ),
        "features.unbounded_connection_retries=true".to_string(),
    ]
}

/// The full argv fragment for the mock server: `-c KV` for each of
/// [`mock_config_overrides`], then `-m` [`MOCK_MODEL`]. Separate argv elements, to be put
/// after `exec` (or `exec resume`) and before `--` and the prompt. It needs no
/// `--disable unbounded_connection_retries`: the overrides include the equivalent
/// `features.unbounded_connection_retries=false`.
pub fn mock_provider_args(base_url: &str) -> Vec<String> {
    let mut args = Vec::new();
    for kv in mock_config_overrides(base_url) {
        args.push("-c".to_string());
        args.push(kv);
    }
    args.push("-m".to_string());
    args.push(MOCK_MODEL.to_string());
    args
}

/// The npm platform package and target triple of the native binary for this machine.
fn platform() -> anyhow::Result<(&'static str, &'static str)> {
    Ok(match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => ("codex-linux-x64", "x86_64-unknown-linux-musl"),
        ("linux", "aarch64") => ("codex-linux-arm64", "aarch64-unknown-linux-musl"),
        ("macos", "x86_64") => ("codex-darwin-x64", "x86_64-apple-darwin"),
        ("macos", "aarch64") => ("codex-darwin-arm64", "aarch64-apple-darwin"),
        (os, arch) => bail!("the Codex CLI npm package has no native binary for {os}/{arch}"),
    })
}

/// The native binary inside an npm `--prefix` directory.
fn binary_in(prefix: &Path) -> anyhow::Result<PathBuf> {
    let (package, triple) = platform()?;
    Ok(prefix
        .join("node_modules/@openai")
        .join(package)
        .join("vendor")
        .join(triple)
        .join("bin/codex"))
}

/// The pinned package: `@openai/codex` in `TARGET/codex-cli/`.
const PACKAGE: PinnedPackage = PinnedPackage {
    name: "@openai/codex",
    version: CODEX_VERSION,
    dir: "codex-cli",
    bin_env: CODEX_BIN_ENV,
    binary_in,
    version_env: &[],
};

/// [`PACKAGE`]'s binary, installed if needed.
fn locate_or_install() -> anyhow::Result<PathBuf> {
    PACKAGE.locate_or_install()
}
