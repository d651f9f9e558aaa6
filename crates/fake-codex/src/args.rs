//! Reading the command line the daemon gives codex: `exec [OPTIONS] -- PROMPT`, or
//! `exec [OPTIONS] resume [OPTIONS] -- THREAD PROMPT`. Options are skipped (with their values
//! where they take one); only what changes the fake's output is kept.

/// What the fake takes from its command line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// `--version` or `-V` was given.
    pub version: bool,
    /// The thread being resumed (`exec resume ... -- THREAD PROMPT`).
    pub resume_thread: Option<String>,
    /// The prompt, if one was given.
    pub prompt: Option<String>,
}

/// Options of `codex exec` (and `exec resume`) that take a separate value.
const VALUE_OPTIONS: &[&str] = &[
    "-C",
    "--cd",
    "-s",
    "--sandbox",
    "-m",
    "--model",
    "-c",
    "--config",
    "-p",
    "--profile",
    "-o",
    "--output-last-message",
    "--output-schema",
    "-i",
    "--image",
    "--color",
    "--enable",
    "--disable",
];

/// Parses the arguments after the program name. Unknown options are ignored; nothing here
/// fails, as real codex's flags change from release to release.
pub fn parse(args: &[String]) -> Invocation {
    let mut out = Invocation::default();
    let mut positionals: Vec<&str> = Vec::new();
    let mut resume = false;
    let mut index = 0;
    while index < args.len() {
        let arg = args[index].as_str();
        index += 1;
        if arg == "--" {
            positionals.extend(args[index..].iter().map(String::as_str));
            break;
        }
        if arg == "--version" || arg == "-V" {
            out.version = true;
        } else if VALUE_OPTIONS.contains(&arg) {
            index += 1;
        } else if arg.starts_with('-') && arg.len() > 1 {
            // A flag, or `--name=value`: nothing to skip.
        } else if arg == "exec" && positionals.is_empty() && !resume {
        } else if arg == "resume" && positionals.is_empty() && !resume {
            resume = true;
        } else {
            positionals.push(arg);
        }
    }
    let mut rest = positionals.into_iter();
    if resume {
        out.resume_thread = rest.next().map(str::to_string);
    }
    out.prompt = rest.next().map(str::to_string);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(text: &[&str]) -> Vec<String> {
        text.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn fresh_run_takes_the_prompt_after_the_separator() {
        let inv = parse(&argv(&[
            "exec",
            "--json",
            "--skip-git-repo-check",
            "-C",
            "/work",
            "-s",
            "workspace-write",
            "-c",
            "model_provider=mock",
            "--",
            "--help me",
        ]));
        assert_eq!(
            inv,
            Invocation {
                version: false,
                resume_thread: None,
                prompt: Some("--help me".into()),
            }
        );
    }

    #[test]
    fn resume_takes_thread_then_prompt_and_skips_option_values() {
        // `-m resume` is a model called "resume", not the subcommand.
        let inv = parse(&argv(&[
            "exec", "-C", "/w", "resume", "--json", "-m", "resume", "--", "T-1", "go on",
        ]));
        assert_eq!(inv.resume_thread.as_deref(), Some("T-1"));
        assert_eq!(inv.prompt.as_deref(), Some("go on"));
        let not_resume = parse(&argv(&["exec", "-m", "resume", "--", "hello"]));
        assert_eq!(not_resume.resume_thread, None);
        assert_eq!(not_resume.prompt.as_deref(), Some("hello"));
    }

    #[test]
    fn version_and_missing_prompt() {
        let inv = parse(&argv(&["--version"]));
        assert!(inv.version);
        assert_eq!(inv.prompt, None);
        assert_eq!(parse(&argv(&["exec", "--json"])).prompt, None);
        assert_eq!(
            parse(&argv(&["exec", "--json", "plain prompt"]))
                .prompt
                .as_deref(),
            Some("plain prompt")
        );
    }
}
