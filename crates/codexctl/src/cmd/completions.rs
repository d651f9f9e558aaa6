//! `codexctl completions SHELL` and `codexctl man`: generated from the clap definition, so
//! they always match the flags. Neither talks to the daemon.

use crate::{CmdResult, Failure};
use clap::CommandFactory;
use clap_complete::Shell;

/// Arguments of `completions`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell: bash, zsh, fish, elvish or powershell.
    shell: Shell,
}

/// Prints the completion script for `args.shell`.
pub fn completions(args: Args) -> CmdResult {
    let mut command = crate::Cli::command();
    // Generated into memory first: clap_complete panics on a failed write, `out` does not.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "codexctl", &mut script);
    crate::out::bytes(&script)
}

/// Prints the man page (roff) of codexctl, with every subcommand.
pub fn man() -> CmdResult {
    let mut page = Vec::new();
    clap_mangen::Man::new(crate::Cli::command())
        .render(&mut page)
        .map_err(|e| Failure::Usage(format!("rendering the man page: {e}")))?;
    crate::out::bytes(&page)
}
