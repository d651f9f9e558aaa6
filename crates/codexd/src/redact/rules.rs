//! The built-in rules: *what* counts as a secret, apart from the engine in the parent
//! module that decides *how* text is scanned and replaced.
//!
//! Here are the shape rules (a match is a secret as a whole), the context rules (a name or
//! a header, and the part of what follows that is the secret), the literal triggers every
//! built-in match contains (the engine's fast path relies on them), the ranks that decide
//! which rule names a merged match, and the heuristics that tell a literal secret from
//! code in the `assignment` rule. The parent module's documentation describes the rules
//! in prose; keep the two in step.

use regex_automata::util::captures::Captures;

// Rank of a match when overlapping matches are merged: the highest names the union, so
// the most specific rule that found a part of it gives the redaction its name.

/// Rank of a shape rule: its name says exactly what the secret is.
pub(super) const RANK_SPECIFIC: u8 = 4;
/// Rank of a user pattern: the user named it, but it may be broad.
pub(super) const RANK_USER: u8 = 3;
/// Rank of an environment value: `env:NAME` says where it came from, not what it is.
pub(super) const RANK_ENV: u8 = 2;
/// Rank of a context rule: it only knows the value sits where a secret is expected.
pub(super) const RANK_CONTEXT: u8 = 1;

/// The first line of a private-key block (PEM, OpenSSH, PGP).
const PK_HEADER: &str =
    r"-----BEGIN (?:RSA |EC |OPENSSH |PGP |DSA |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?-----";
/// The last line of a private-key block, matching [`PK_HEADER`].
const PK_FOOTER: &str =
    r"-----END (?:RSA |EC |OPENSSH |PGP |DSA |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?-----";

/// The header of a private-key block (for the line-by-line state of plain-text logs).
pub(super) fn private_key_header() -> &'static str {
    PK_HEADER
}

/// The footer of a private-key block (for the line-by-line state of plain-text logs).
pub(super) fn private_key_footer() -> &'static str {
    PK_FOOTER
}

/// A line inside a private-key block printed line by line: base64 (with PGP's `=` checksum
/// line), an armor header (`Proc-Type: 4,ENCRYPTED`, `DEK-Info: ...`, `Version: ...`,
/// `Comment: ...`), or blank. The first other line ends a block cut short.
pub(super) const PK_BODY_LINE: &str =
    r"^[ \t]*(?:[A-Za-z0-9+/=]+|(?:Proc-Type|DEK-Info|Version|Comment|Hash|Charset): .*)?[ \t\r]*$";

/// A private-key block: header, body (any text without `--`), footer; or, when there
/// is no footer (a truncated key), the header and the base64-looking body after it.
pub(super) fn private_key_pattern() -> String {
    format!(
        r"{PK_HEADER}(?:(?:[^-]|-[^-])*?{PK_FOOTER}|(?:[A-Za-z0-9+/=\s:,.]|\\[nrt]|-[A-Za-z0-9])*)"
    )
}

/// The shape rules: each match is a secret as a whole. Order matters for matches that
/// start at the same place (`sk-ant-` before `sk-`). Take the patterns from
/// [`specific_patterns`], which fills in the private-key placeholder.
pub(super) const SPECIFIC: &[(&str, &str)] = &[
    ("private-key", ""), // filled in by private_key_pattern()
    (
        "jwt",
        r"(?-u:\b)eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
    ),
    ("anthropic-key", r"(?-u:\b)sk-ant-[A-Za-z0-9_-]{24,}"),
    (
        "openai-key",
        r"(?-u:\b)sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}|[A-Za-z0-9]{32,})",
    ),
    (
        "github-token",
        r"(?-u:\b)(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})",
    ),
    ("gitlab-token", r"(?-u:\b)glpat-[A-Za-z0-9_-]{20,}"),
    ("slack-token", r"(?-u:\b)xox[abposr]-[A-Za-z0-9-]{10,}"),
    ("stripe-key", r"(?-u:\b)[sr]k_live_[A-Za-z0-9]{16,}"),
    (
        "aws-access-key-id",
        r"(?-u:\b)(?:AKIA|ASIA)[A-Z0-9]{16}(?-u:\b)",
    ),
    ("google-api-key", r"(?-u:\b)AIza[0-9A-Za-z_-]{35}"),
    ("npm-token", r"(?-u:\b)npm_[A-Za-z0-9]{36}(?-u:\b)"),
    (
        "sendgrid-key",
        r"(?-u:\b)SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}",
    ),
];

/// The shape rules as `(name, pattern)`, in [`SPECIFIC`]'s order: the private-key pattern
/// is built from its header and footer, so the table holds only a placeholder for it.
pub(super) fn specific_patterns() -> impl Iterator<Item = (&'static str, String)> {
    SPECIFIC.iter().map(|&(name, pattern)| {
        let pattern = if name == "private-key" {
            private_key_pattern()
        } else {
            pattern.to_string()
        };
        (name, pattern)
    })
}

/// The context rules; the part to redact is the group `s` (or, for `assignment`, the
/// value group `q1`, `q2` or `u`, checked by [`assignment_value`]). [`context_value`]
/// reads the groups, so only this file knows their names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Context {
    /// `aws_secret_access_key = <40 base64 characters>`.
    AwsSecret,
    /// `Authorization: Bearer <token>` (also `Basic`, `Token`, `Bot`).
    Authorization,
    /// The password in `scheme://user:password@host`.
    UrlCredentials,
    /// `NAME=value` and its kin, for secret-looking names (see the parent module).
    Assignment,
}

/// The context rules' names, in the order the engine tries them.
pub(super) const CONTEXT_NAMES: &[(&str, Context)] = &[
    ("aws-secret-key", Context::AwsSecret),
    ("authorization", Context::Authorization),
    ("url-credentials", Context::UrlCredentials),
    ("assignment", Context::Assignment),
];

/// Between a name and its value: an optional closing quote (maybe backslash-escaped, as
/// in JSON held in a string), then `:=`, `=>`, `=` or `:`.
const SEP: &str = r#"\\?["']?[ \t]*(?P<sep>:=|=>|=|:)[ \t]*"#;

/// A typed declaration between name and value: `: &str =`, `: &'static str =`,
/// `: string =`, `: Option<String> =`.
const TYPED_SEP: &str = r"[ \t]*:[ \t]*&?(?:'static[ \t]+)?[A-Za-z_][A-Za-z0-9_:<>]*[ \t]*=[ \t]*";

/// The name part of the `assignment` rule (see the parent module's documentation).
pub(super) const NAME: &str = concat!(
    r"[A-Za-z0-9_.-]*(?:",
    r"password|passwd|secret|token|Password|Passwd|Secret|Token|PASSWORD|PASSWD|SECRET|TOKEN",
    r"|KEY",
    r"|(?i:api|secret|access|private|signing|master|encryption|client|app|auth|license",
    r"|session|service|account|storage|subscription|webhook|hmac|shared|admin|deploy",
    r"|consumer|bot|jwt|openai|anthropic)[_.-]?(?:key|Key))"
);

/// The regex of a context rule, with its named groups (`s`, or `n`, `sep`, `q1`, `q2`,
/// `u` for `assignment`) for [`context_value`] to read.
pub(super) fn context_pattern(ctx: Context) -> String {
    match ctx {
        Context::AwsSecret => format!(
            r#"[A-Za-z0-9_.-]*(?i:aws_?secret_?access_?key|aws_?secret_?key|secret_?access_?key){SEP}\\?["']?(?P<s>[A-Za-z0-9/+=]{{40}})(?:[^A-Za-z0-9/+=]|(?m:$))"#
        ),
        Context::Authorization => format!(
            r#"(?:authorization|Authorization|AUTHORIZATION){SEP}\\?["']?(?i:bearer|basic|token|bot)[ \t]+(?P<s>[A-Za-z0-9._~+/=:-]{{8,}})"#
        ),
        Context::UrlCredentials => r#"://[^\s:/?#@"'<>\[\]]*:(?P<s>[^\s/?#@"'<>]+)@"#.to_string(),
        Context::Assignment => format!(
            r#"(?P<n>{NAME})(?:{SEP}|{TYPED_SEP})(?:\\?"(?P<q1>[^"\n]{{8,}}?)\\?"|\\?'(?P<q2>[^'\n]{{8,}}?)\\?'|(?P<u>[^\s"'`,;(){{}}<>\[\]&]{{8,}})(?:[\s"'`,;)\]}}>&]|(?m:$)))"#
        ),
    }
}

/// Literal triggers: every built-in match contains one of these (case as written), so
/// text without any of them cannot hold a built-in match.
pub(super) const TRIGGERS: &[&str] = &[
    "key",
    "Key",
    "KEY",
    "secret",
    "Secret",
    "SECRET",
    "token",
    "Token",
    "TOKEN",
    "password",
    "Password",
    "PASSWORD",
    "passwd",
    "Passwd",
    "PASSWD",
    "authorization",
    "Authorization",
    "AUTHORIZATION",
    "://",
    "-----BEGIN",
    "sk-",
    "sk_live_",
    "rk_live_",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xox",
    "AKIA",
    "ASIA",
    "AIza",
    "npm_",
    "SG.",
    "eyJ",
    // A `\u` escape in a JSON string can hide any of the above: decode and look.
    "\\u",
];

/// Environment variable names whose values are secrets by name alone (a suffix, compared
/// in upper case).
const ENV_SECRET_SUFFIXES: &[&str] = &[
    "KEY",
    "SECRET",
    "TOKEN",
    "PASSWORD",
    "PASSWD",
    "CREDENTIALS",
];

/// Whether an environment variable's name says its value is a secret: it ends in one of
/// [`ENV_SECRET_SUFFIXES`], in any case.
pub(super) fn env_name_is_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ENV_SECRET_SUFFIXES.iter().any(|s| upper.ends_with(s))
}

/// The variables a client forwards by default that hold no secret (paths, endpoints,
/// proxy exceptions, CA files): they appear in much of what codex prints, so they are only
/// redacted when they look secret. The rest of the client's forwarded list
/// (`codexd_client::FORWARDED_ENV`: API keys, and proxy URLs, which may carry a password)
/// is redacted like explicit `--env` values.
pub const PUBLIC_FORWARDED_ENV: [&str; 11] = [
    "PATH",
    "VIRTUAL_ENV",
    "CODEX_HOME",
    "OPENAI_BASE_URL",
    "OPENAI_ORGANIZATION",
    "OPENAI_PROJECT",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "CODEX_CA_CERTIFICATE",
];

/// The shortest value of an explicitly set variable that is redacted: shorter ones (`1`,
/// `true`, `dev`) would be found all over ordinary output and say little.
pub const MIN_EXPLICIT_ENV_CHARS: usize = 6;

/// Whether the value of an explicitly set variable is redacted as an exact string.
pub(super) fn explicit_env_value_can_be_secret(value: &str) -> bool {
    value.chars().count() >= MIN_EXPLICIT_ENV_CHARS && !is_repeated_char(value)
}

/// Whether an environment value may be redacted as an exact string at all: a short value,
/// a file path or one repeated character would be found all over ordinary output.
pub(super) fn env_value_can_be_secret(value: &str) -> bool {
    !(value.chars().count() < 8 || looks_like_path(value) || is_repeated_char(value))
}

// ---------------------------------------------------------------------------------------
// The context rules' values
// ---------------------------------------------------------------------------------------

/// The span a context rule's match redacts, and whether to redact it: the group `s`, or
/// for `assignment` the value when it looks like a literal secret. The span is also where
/// the engine looks for shape rules, so a value turned down still has its span.
pub(super) fn context_value(ctx: Context, text: &str, caps: &Captures) -> ((usize, usize), bool) {
    match ctx {
        Context::Assignment => assignment_value(text, caps),
        // An empty span: nothing to redact and nothing to search.
        _ => caps
            .get_group_by_name("s")
            .map_or(((0, 0), false), |g| ((g.start, g.end), true)),
    }
}

// ---------------------------------------------------------------------------------------
// The assignment heuristic: what a literal secret looks like, next to code
// ---------------------------------------------------------------------------------------

/// The value span of an `assignment` match and whether it looks like a literal secret.
fn assignment_value(text: &str, caps: &Captures) -> ((usize, usize), bool) {
    if let Some(g) = caps
        .get_group_by_name("q1")
        .or_else(|| caps.get_group_by_name("q2"))
    {
        return ((g.start, g.end), quoted_value_ok(&text[g.start..g.end]));
    }
    let Some(g) = caps.get_group_by_name("u") else {
        return ((0, 0), false);
    };
    let colon = caps
        .get_group_by_name("sep")
        .is_some_and(|s| &text[s.start..s.end] == ":");
    (
        (g.start, g.end),
        unquoted_value_ok(text, g.start, g.end, colon),
    )
}

/// Whether a quoted `assignment` value is a literal secret: long enough, no whitespace
/// (a quoted value with spaces is more often a message, `"Enter your password"`, than a
/// passphrase), and not code.
fn quoted_value_ok(v: &str) -> bool {
    v.chars().count() >= 8 && !v.chars().any(char::is_whitespace) && value_shape_ok(v)
}

/// Whether the unquoted `assignment` value `text[start..end]` is a literal secret. What
/// follows matters: a call or a generic type is code, and after `:` (`colon`) a
/// capitalised identifier followed by `,`, `)` ... is a type annotation.
fn unquoted_value_ok(text: &str, start: usize, end: usize, colon: bool) -> bool {
    let v = &text[start..end];
    if v.chars().count() < 8 || !value_shape_ok(v) {
        return false;
    }
    let rest = &text[end..];
    if rest.starts_with(['(', '<', '[', '{']) {
        return false; // a call, a generic type, an index, a struct literal
    }
    if colon && v.starts_with(|c: char| c.is_ascii_uppercase()) && is_ident(v) {
        // `key: Ed25519SecretKey,` — a type annotation.
        let after = rest.trim_start_matches([' ', '\t']);
        if after.starts_with([',', ')', '>', '=', ';', '{']) {
            return false;
        }
    }
    true
}

/// Whether a value could be a literal secret rather than a variable, a template, a number,
/// a path, a mask, an earlier redaction or code (see the parent module's documentation).
fn value_shape_ok(v: &str) -> bool {
    !(v.starts_with(['$', '%'])
        || v.contains("${")
        || v.contains("{{")
        || v.starts_with("[REDACTED")
        || is_number(v)
        || looks_like_path(v)
        || is_repeated_char(v)
        || is_code_like(v))
}

/// Whether `s` is an ASCII identifier (`[A-Za-z_][A-Za-z0-9_]*`), as code names things.
fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether a value reads as code: an identifier path (`a.b`, `a::b`, `a->b`), a
/// snake_case or SCREAMING_CASE name, or a plain identifier without digits that does not
/// look random. Secrets rarely look like that; names in source code always do.
fn is_code_like(v: &str) -> bool {
    let parts: Vec<&str> = v
        .split("::")
        .flat_map(|p| p.split("->"))
        .flat_map(|p| p.split('.'))
        .collect();
    if parts.len() > 1 {
        return parts.iter().all(|p| is_ident(p));
    }
    if !is_ident(v) {
        return false;
    }
    if v.contains('_')
        && v.split('_').all(|p| {
            p.len() <= 12
                && (p
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                    || p.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()))
        })
    {
        return true; // snake_case / SCREAMING_CASE
    }
    let has_digit = v.chars().any(|c| c.is_ascii_digit());
    !has_digit && !looks_random(v)
}

/// A letters-only value that still looks random: long, with both cases well mixed.
fn looks_random(v: &str) -> bool {
    let upper = v.chars().filter(char::is_ascii_uppercase).count();
    let lower = v.chars().filter(char::is_ascii_lowercase).count();
    let letters = upper + lower;
    letters >= 16 && upper * 10 >= letters * 3 && lower * 10 >= letters * 3
}

/// Whether a value is a number (signs, digits, `.`, `_`, `,`): counts and sizes, not
/// secrets.
fn is_number(v: &str) -> bool {
    let v = v.trim_start_matches(['-', '+']);
    v.chars().any(|c| c.is_ascii_digit())
        && v.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '_' | ','))
}

/// Whether a value is one character repeated (`********`): a mask, not a secret.
fn is_repeated_char(v: &str) -> bool {
    let mut chars = v.chars();
    chars.next().is_some_and(|first| chars.all(|c| c == first))
}

/// Whether a value is a file path (`~/`, `./`, `../`, or an absolute path under a usual
/// root): a path to a key file is not the key, and redacting it would hide useful output.
fn looks_like_path(v: &str) -> bool {
    const ROOTS: &[&str] = &[
        "home",
        "etc",
        "usr",
        "var",
        "tmp",
        "opt",
        "Users",
        "root",
        "run",
        "mnt",
        "srv",
        "private",
        "nix",
        "dev",
        "proc",
        "workspace",
        "work",
        "app",
        "data",
        "lib",
        "bin",
        "sys",
        "Library",
        "Volumes",
    ];
    if v.starts_with("~/") || v.starts_with("./") || v.starts_with("../") {
        return true;
    }
    let Some(rest) = v.strip_prefix('/') else {
        return false;
    };
    ROOTS.iter().any(|r| {
        rest.strip_prefix(r)
            .is_some_and(|after| after.is_empty() || after.starts_with('/'))
    })
}
