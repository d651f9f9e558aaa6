//! Showing the commands codex runs: codex reports each one wrapped in a shell call
//! (`/bin/bash -lc 'cargo test'`); people and agents want to see `cargo test`.

/// Shells codex wraps commands in.
const WRAPPERS: [&str; 7] = [
    "/bin/bash -lc ",
    "/bin/bash -c ",
    "bash -lc ",
    "bash -c ",
    "/bin/zsh -lc ",
    "/bin/sh -c ",
    "sh -c ",
];

/// The command inside codex's shell wrapper, unquoted when the argument is one shell word
/// (`'it'\''s'` → `it's`); anything else is returned as it is.
pub fn unwrap_command(command: &str) -> std::borrow::Cow<'_, str> {
    for prefix in WRAPPERS {
        if let Some(rest) = command.strip_prefix(prefix) {
            let rest = rest.trim();
            return match unquote_word(rest) {
                Some(word) => word.into(),
                None => rest.into(),
            };
        }
    }
    command.into()
}

/// Unquotes one POSIX shell word made of single-quoted, double-quoted (without `$`, `` ` ``
/// or `\`) and backslash-escaped parts; `None` if `text` is not exactly one such word.
fn unquote_word(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = text.chars();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => out.push(c),
                    }
                }
            }
            '"' => {
                quoted = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '$' | '`' | '\\' => return None,
                        c => out.push(c),
                    }
                }
            }
            '\\' => out.push(chars.next()?),
            c if c.is_whitespace() => return None,
            c => out.push(c),
        }
    }
    quoted.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrappers_are_removed_and_words_unquoted() {
        assert_eq!(unwrap_command("/bin/bash -lc 'cargo test'"), "cargo test");
        assert_eq!(unwrap_command("/bin/bash -c 'echo it'\\''s'"), "echo it's");
        assert_eq!(unwrap_command("bash -lc \"ls -la\""), "ls -la");
        assert_eq!(unwrap_command("/bin/sh -c ls"), "ls");
        assert_eq!(unwrap_command("/bin/bash -c 'a' && 'b'"), "'a' && 'b'");
        assert_eq!(
            unwrap_command("/bin/bash -lc \"echo $HOME\""),
            "\"echo $HOME\""
        );
        assert_eq!(unwrap_command("python3 -m pytest"), "python3 -m pytest");
        assert_eq!(
            unwrap_command("/bin/bash -c 'unterminated"),
            "'unterminated"
        );
    }
}
