//! The run options of `start`, `resume` and `review` (issue 13): reasoning effort, config
//! profile, images, extra directories and an output schema. Paths are made absolute here;
//! the daemon checks everything else and answers a bad value with a typed error.

use crate::Failure;
use std::path::{Path, PathBuf};

/// Run option flags.
#[derive(Debug, clap::Args)]
pub struct OptionFlags {
    /// Reasoning effort (`model_reasoning_effort`): none, minimal, low, medium, high, xhigh.
    #[arg(long, value_name = "EFFORT")]
    pub effort: Option<String>,
    /// Codex config profile (`codex -p`: `$CODEX_HOME/NAME.config.toml`).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Image to attach to the prompt (repeatable; copied into the task directory).
    #[arg(long = "image", value_name = "FILE")]
    pub images: Vec<PathBuf>,
    /// Extra directory codex may write to (repeatable; must exist).
    #[arg(long = "add-dir", value_name = "DIR")]
    pub add_dirs: Vec<PathBuf>,
    /// JSON Schema for the final answer: a file, or the JSON itself. The result then
    /// carries `final_json` (or `schema_error`).
    #[arg(long, value_name = "FILE|JSON")]
    pub output_schema: Option<String>,
}

/// The options as the API takes them.
pub struct Options {
    /// `effort`.
    pub effort: Option<String>,
    /// `profile`.
    pub profile: Option<String>,
    /// `images`, absolute.
    pub images: Vec<PathBuf>,
    /// `add_dirs`, absolute.
    pub add_dirs: Vec<PathBuf>,
    /// `output_schema`, parsed.
    pub output_schema: Option<serde_json::Value>,
}

impl OptionFlags {
    /// Resolves paths against the current directory and reads the schema.
    pub fn resolve(self) -> Result<Options, Failure> {
        let cwd = std::env::current_dir()?;
        let absolute = |p: PathBuf| if p.is_absolute() { p } else { cwd.join(p) };
        let output_schema = match self.output_schema {
            Some(text) => Some(read_schema(&text)?),
            None => None,
        };
        Ok(Options {
            effort: self.effort,
            profile: self.profile,
            images: self.images.into_iter().map(absolute).collect(),
            add_dirs: self.add_dirs.into_iter().map(absolute).collect(),
            output_schema,
        })
    }
}

/// `--output-schema`: inline JSON when it starts with `{`, else a file holding JSON.
fn read_schema(text: &str) -> Result<serde_json::Value, Failure> {
    let (source, json) = if text.trim_start().starts_with('{') {
        ("the inline schema".to_string(), text.to_string())
    } else {
        let path = Path::new(text);
        let json = std::fs::read_to_string(path)
            .map_err(|e| Failure::Usage(format!("--output-schema {text}: {e}")))?;
        (path.display().to_string(), json)
    };
    serde_json::from_str(&json)
        .map_err(|e| Failure::Usage(format!("--output-schema: {source} is not valid JSON: {e}")))
}
