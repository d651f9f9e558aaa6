//! The documentation names what the binaries offer, checked against the binaries themselves:
//! every `codexctl` command and each of its long options appear in README's command table,
//! every MCP tool and each of its arguments in README's tools table, and the plugin's skill
//! names every tool and keeps its name and description within Claude Code's limit.
//!
//! A flag or tool added without its documentation fails here, so the README cannot fall
//! behind the code again (it had: `review`, `--effort`, `codex_review` were missing).

use codexd_tests::daemon::bin;
use std::path::Path;
use std::process::Command;

/// Options every command has, documented once in the README (not per row).
const GLOBAL_OPTIONS: &[&str] = &["--help", "--version", "--socket", "--no-autostart"];

/// Claude Code's limit on a skill's name plus description, in characters.
const SKILL_LISTING_LIMIT: usize = 1536;

/// A file of the repository, as text.
fn repo_file(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// `codexctl <path> --help`, as text.
fn codexctl_help(path: &[String]) -> String {
    let out = Command::new(bin("codexctl"))
        .args(path)
        .arg("--help")
        .output()
        .expect("run codexctl --help");
    assert!(out.status.success(), "codexctl {path:?} --help failed");
    String::from_utf8(out.stdout).expect("help is UTF-8")
}

/// The lines of a help text's section (`Commands:`, `Options:`) up to the next blank line.
fn help_section<'a>(help: &'a str, heading: &str) -> Vec<&'a str> {
    help.lines()
        .skip_while(|line| line.trim() != heading)
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .collect()
}

/// Every leaf command of `codexctl` (e.g. `["start"]`, `["daemon", "status"]`) with the
/// options its help lists, global ones left out: each as its spellings (`["-c",
/// "--config"]`), either of which documents it.
fn leaf_commands() -> Vec<(Vec<String>, Vec<Vec<String>>)> {
    let mut leaves = Vec::new();
    let mut pending = vec![Vec::<String>::new()];
    while let Some(path) = pending.pop() {
        let help = codexctl_help(&path);
        let commands: Vec<String> = help_section(&help, "Commands:")
            .iter()
            .filter_map(|line| line.split_whitespace().next())
            .filter(|name| *name != "help")
            .map(str::to_string)
            .collect();
        if !commands.is_empty() {
            for name in commands {
                let mut child = path.clone();
                child.push(name);
                pending.push(child);
            }
            continue;
        }
        let options = help_section(&help, "Options:")
            .iter()
            .map(|line| {
                line.split_whitespace()
                    .take_while(|w| w.starts_with('-'))
                    .map(|w| w.trim_end_matches(',').to_string())
                    .collect::<Vec<_>>()
            })
            .filter(|spellings| {
                spellings.iter().any(|w| w.starts_with("--"))
                    && !spellings
                        .iter()
                        .any(|w| GLOBAL_OPTIONS.contains(&w.as_str()))
            })
            .collect();
        leaves.push((path, options));
    }
    leaves.sort();
    leaves
}

/// README's table rows (lines starting with `| `).
fn table_rows(readme: &str) -> Vec<&str> {
    readme.lines().filter(|l| l.starts_with("| ")).collect()
}

/// True when `text` contains `word` not followed by another word character or `-` (so
/// `--image` does not count as `--image-dir`).
fn mentions(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| {
        text[at + word.len()..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '-' || c == '_'))
    })
}

#[test]
fn every_codexctl_command_and_option_is_in_the_readme_table() {
    let readme = repo_file("README.md");
    let rows = table_rows(&readme);
    let leaves = leaf_commands();
    assert!(
        leaves
            .iter()
            .any(|(path, _)| path == &["start".to_string()]),
        "the walk found the commands: {leaves:?}"
    );
    let mut missing = Vec::new();
    for (path, options) in &leaves {
        let parent = format!("codexctl {}", path[..path.len() - 1].join(" "));
        let parent = parent.trim_end();
        let leaf = path.last().expect("a leaf has a name");
        // The rows whose first cell names this command (`codexctl daemon status ...`, or
        // `codexctl hook session-start|user-prompt-submit|stop`).
        let own: Vec<&str> = rows
            .iter()
            .filter(|row| {
                let first = row.split(" | ").next().unwrap_or_default();
                mentions(first, &format!("{parent} {leaf}"))
                    || (path.len() > 1 && mentions(first, parent) && mentions(first, leaf))
            })
            .copied()
            .collect();
        if own.is_empty() {
            missing.push(format!("no README row for `codexctl {}`", path.join(" ")));
            continue;
        }
        let text = own.join("\n");
        for spellings in options {
            if !spellings.iter().any(|option| mentions(&text, option)) {
                missing.push(format!(
                    "`codexctl {}` {}",
                    path.join(" "),
                    spellings.join(", ")
                ));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "README's command table lacks:\n{}",
        missing.join("\n")
    );
}

/// The tools `codexd-mcp --list-tools` prints: name and argument names.
fn mcp_tools() -> Vec<(String, Vec<String>)> {
    let out = Command::new(bin("codexd-mcp"))
        .arg("--list-tools")
        .output()
        .expect("run codexd-mcp --list-tools");
    assert!(out.status.success());
    let tools: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    tools
        .as_array()
        .expect("an array of tools")
        .iter()
        .map(|tool| {
            let name = tool["name"].as_str().expect("a name").to_string();
            let arguments = tool["inputSchema"]["properties"]
                .as_object()
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default();
            (name, arguments)
        })
        .collect()
}

#[test]
fn every_mcp_tool_and_argument_is_in_the_readme_table() {
    let readme = repo_file("README.md");
    let rows = table_rows(&readme);
    let tools = mcp_tools();
    assert!(tools.len() >= 12, "the shim lists its tools: {tools:?}");
    let mut missing = Vec::new();
    for (name, arguments) in &tools {
        let Some(row) = rows
            .iter()
            .find(|row| row.starts_with(&format!("| `{name}` |")))
        else {
            missing.push(format!("no README row for `{name}`"));
            continue;
        };
        for argument in arguments {
            if !row.contains(&format!("`{argument}`")) {
                missing.push(format!("`{name}` argument `{argument}`"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "README's tools table lacks:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_skill_names_every_tool_within_claude_codes_listing_limit() {
    let skill = repo_file("claude-plugin/skills/delegate-to-codex/SKILL.md");
    let front = skill
        .strip_prefix("---\n")
        .and_then(|rest| rest.split("\n---\n").next())
        .expect("SKILL.md opens with front matter");
    let field = |key: &str| {
        front
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{key}: ")))
            .unwrap_or_else(|| panic!("front matter has {key}"))
            .trim()
            .to_string()
    };
    let listing = field("name").chars().count() + field("description").chars().count();
    assert!(
        listing <= SKILL_LISTING_LIMIT,
        "name + description: {listing} characters (limit {SKILL_LISTING_LIMIT})"
    );
    let missing: Vec<String> = mcp_tools()
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| !mentions(&skill, name))
        .collect();
    assert!(missing.is_empty(), "SKILL.md does not name {missing:?}");
}
