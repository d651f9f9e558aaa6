//! Secret redaction for everything codexd stores or shows from a task: the JSONL event
//! log codex writes, its stderr, prompts.
//!
//! One [`Redactor`] holds every rule, compiled once:
//!
//! * a fast path: one Aho-Corasick automaton over the literal *triggers* of every rule
//!   (`sk-`, `ghp_`, `-----BEGIN`, `://`, `token`/`Token`/`TOKEN`, ...), the literal
//!   prefixes of the user patterns and the exact environment values. Text without a
//!   trigger is returned as it is, borrowed; otherwise only the lines that hold a trigger
//!   are looked at further (a private-key block stretches its region over its lines);
//! * one multi-pattern regex (leftmost-first, a single pass) over each such line, with
//!   the shape rules first, then the user patterns, then the context rules;
//! * an exact-value automaton for the environment values.
//!
//! Each redaction is replaced by `[REDACTED:<name>]`. When matches overlap, their union
//! is redacted and named by the most specific rule: shape rules (`github-token`, `jwt`,
//! ...) before user patterns, before environment values (`env:NAME`), before the
//! context rules (`authorization`, `url-credentials`, `aws-secret-key`, `assignment`).
//! So `OPENAI_API_KEY=sk-proj-...` reads `OPENAI_API_KEY=[REDACTED:openai-key]`, and
//! `Authorization: Bearer <opaque>` reads `Authorization: Bearer [REDACTED:authorization]`.
//!
//! Matches never cross a line (except private-key blocks), and in
//! [`Redactor::redact_json_line`] never leave a JSON string: that method decodes the
//! string literals that hold a trigger, redacts the decoded text and splices the
//! re-encoded result back, leaving every other byte of the line as it was.
//!
//! The `assignment` rule (`NAME=value`, `NAME: value`, `"name": "value"`) is a heuristic
//! meant to leave code alone:
//!
//! * the name must end in `password`, `passwd`, `secret` or `token` (all-lower,
//!   Capitalised or UPPER), in `KEY` (upper case), or in `key`/`Key` right after one of a
//!   few qualifying words (`api`, `secret`, `access`, `private`, `client`, ...), so
//!   `monkey`, `cacheKey`, `max_tokens`, `TOKEN_TYPE` and `password_field` are not names;
//! * the separator is `=`, `:`, `:=`, `=>` or a typed declaration (`: &str =`,
//!   `: string =`); the value is a quoted string on one line, or a run of characters up
//!   to a space, a quote, `` ` ``, `,`, `;`, `&` or a bracket;
//! * the value must be at least 8 characters; quoted, it must hold no whitespace;
//!   unquoted, it must not be followed by `(`, `<`, `[` or `{` (a call, a generic type);
//! * it must not look like code or a reference: a dotted / `::` / `->` identifier path
//!   (`lexer.next_token`, `std::env::var`, `self.api_key`), a snake_case or
//!   SCREAMING_CASE identifier (`next_token`, `BEARER_TOKEN`), a plain identifier without
//!   digits unless it looks random (≥ 16 letters, both cases ≥ 30 %), a type after `:`
//!   (`key: Ed25519SecretKey,`), a variable or template (`$X`, `${X}`, `%s`, `{{ x }}`),
//!   a number, a file path (`/home/...`, `~/...`, `./...`), one repeated character
//!   (`********`) or an earlier redaction.
//!
//! What it knowingly lets through: letters-only values (`secret: topsecretvalue`),
//! quoted values with spaces (passphrases), and names outside the list
//! (`SECRET_KEY_BASE`). Values from the task's environment are caught by the exact-value
//! rule instead. What it knowingly redacts: values with digits that are code
//! (`api_key: sha256Digest`).
//!
//! Environment values ([`RedactConfig::env_values`]) are redacted as exact strings,
//! `[REDACTED:env:NAME]`, when the name ends in KEY, SECRET, TOKEN, PASSWORD, PASSWD or
//! CREDENTIALS (any case), or the value itself holds something a built-in rule redacts;
//! and the value is at least 8 characters, not a file path, and not one repeated
//! character. Such a value is redacted wherever it occurs, also inside a longer word: a
//! secret glued into a URL, a header or a concatenation is still the secret.

use aho_corasick::{AhoCorasick, MatchKind};
use regex_automata::meta::Regex as MetaRegex;
use regex_automata::util::captures::Captures;
use regex_automata::{Anchored, Input};
use std::borrow::Cow;
use std::fmt;

/// What a [`Redactor`] is built from, besides its built-in rules.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RedactConfig {
    /// Extra rules as `(name, regex)`; a match is replaced by `[REDACTED:name]`. A pattern
    /// is matched within one line (one JSON string in event lines).
    pub extra_patterns: Vec<(String, String)>,
    /// The task's environment as `(name, value)`; the values of secret-looking variables
    /// are redacted wherever they occur (see the module documentation).
    pub env_values: Vec<(String, String)>,
}

impl fmt::Debug for RedactConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the environment values: they are what we are hiding.
        let env_names: Vec<&str> = self.env_values.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("RedactConfig")
            .field("extra_patterns", &self.extra_patterns)
            .field("env_names", &env_names)
            .finish()
    }
}

/// Why a [`Redactor`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RedactError {
    /// A user pattern does not compile, matches the empty string, or has an empty name.
    #[error("invalid redaction pattern `{name}` ({pattern:?}): {message}")]
    InvalidPattern {
        /// The pattern's name, as configured.
        name: String,
        /// The pattern's regex, as configured.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// The combined engine could not be built (e.g. the patterns are too large together).
    #[error("cannot build the redaction engine: {0}")]
    Engine(String),
}

// ---------------------------------------------------------------------------------------
// Built-in rules
// ---------------------------------------------------------------------------------------

/// Rank of a match when overlapping matches are merged: the highest names the union.
const RANK_SPECIFIC: u8 = 4;
const RANK_USER: u8 = 3;
const RANK_ENV: u8 = 2;
const RANK_CONTEXT: u8 = 1;

/// Lines with a trigger this close after a region join it (see `Redactor::collect`).
const MERGE_GAP: usize = 256;

const PK_HEADER: &str =
    r"-----BEGIN (?:RSA |EC |OPENSSH |PGP |DSA |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?-----";
const PK_FOOTER: &str =
    r"-----END (?:RSA |EC |OPENSSH |PGP |DSA |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?-----";

/// A private-key block: header, body (any text without `--`), footer; or, when there
/// is no footer (a truncated key), the header and the base64-looking body after it.
fn private_key_pattern() -> String {
    format!(
        r"{PK_HEADER}(?:(?:[^-]|-[^-])*?{PK_FOOTER}|(?:[A-Za-z0-9+/=\s:,.]|\\[nrt]|-[A-Za-z0-9])*)"
    )
}

/// The shape rules: each match is a secret as a whole. Order matters for matches that
/// start at the same place (`sk-ant-` before `sk-`).
const SPECIFIC: &[(&str, &str)] = &[
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
];

/// The context rules; the part to redact is the group `s` (or, for `assignment`, the
/// value group `q1`, `q2` or `u`, checked by [`assignment_value_ok`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Context {
    AwsSecret,
    Authorization,
    UrlCredentials,
    Assignment,
}

const CONTEXT_NAMES: &[(&str, Context)] = &[
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

/// The name part of the `assignment` rule (see the module documentation).
const NAME: &str = concat!(
    r"[A-Za-z0-9_.-]*(?:",
    r"password|passwd|secret|token|Password|Passwd|Secret|Token|PASSWORD|PASSWD|SECRET|TOKEN",
    r"|KEY",
    r"|(?i:api|secret|access|private|signing|master|encryption|client|app|auth|license",
    r"|session|service|account|storage|subscription|webhook|hmac|shared|admin|deploy",
    r"|consumer|bot|jwt|openai|anthropic)[_.-]?(?:key|Key))"
);

fn context_pattern(ctx: Context) -> String {
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

/// Literal triggers: every built-in match contains one of these (case as written).
const TRIGGERS: &[&str] = &[
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
    "eyJ",
    // A `\u` escape in a JSON string can hide any of the above: decode and look.
    "\\u",
];

// ---------------------------------------------------------------------------------------
// The engine
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
struct Slot {
    label: u32,
    rank: u8,
    context: Option<Context>,
}

#[derive(Clone, Copy, Debug)]
struct Hit {
    start: usize,
    end: usize,
    rank: u8,
    label: u32,
}

/// The redaction engine: built once from a [`RedactConfig`], then shared (it is `Send`
/// and `Sync`; searches use per-thread caches).
#[derive(Clone)]
pub struct Redactor {
    /// Fast path: any trigger, user-pattern prefix or environment value.
    triggers: AhoCorasick,
    /// A user pattern has no literal prefix: every text must be searched in full.
    scan_all: bool,
    /// Shape rules, then user patterns, then context rules (pattern id = slot index).
    engine: MetaRegex,
    /// Shape rules and user patterns only, to search inside a context rule's value.
    inner: MetaRegex,
    /// The private-key rule alone, to find how far a block reaches.
    private_key: MetaRegex,
    /// Anchored `assignment` name rule, for JSON object keys.
    secret_name: MetaRegex,
    slots: Vec<Slot>,
    /// `[REDACTED:name]` by label id.
    labels: Vec<String>,
    /// Exact environment values (leftmost-longest) and their label ids.
    env: Option<AhoCorasick>,
    env_labels: Vec<u32>,
    /// Some environment value spans lines: search for values over the whole text.
    env_multiline: bool,
    /// The trigger literals of the rules and user patterns (without environment values),
    /// to rebuild `triggers` in [`Redactor::with_env_values`].
    base_triggers: std::sync::Arc<Vec<Vec<u8>>>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("rules", &self.slots.len())
            .field("env_values", &self.env_labels.len())
            .field("scan_all", &self.scan_all)
            .finish_non_exhaustive()
    }
}

fn label_text(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | ':') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("[REDACTED:{clean}]")
}

/// The JSON-escaped form of `s` (without quotes), if it differs from `s`.
fn json_escaped(s: &str) -> Option<String> {
    let quoted = serde_json::to_string(s).ok()?;
    let inner = quoted.get(1..quoted.len().saturating_sub(1))?;
    (inner != s).then(|| inner.to_string())
}

fn build_meta(patterns: &[String]) -> Result<MetaRegex, RedactError> {
    MetaRegex::new_many(patterns).map_err(|e| RedactError::Engine(e.to_string()))
}

/// Literal prefixes every match of `pattern` starts with, or `None` when there is no
/// such finite, non-empty set.
fn literal_prefixes(pattern: &str) -> Option<Vec<Vec<u8>>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .ok()?;
    let seq = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
    let lits = seq.literals()?;
    if lits.iter().any(|l| l.as_bytes().is_empty()) {
        return None;
    }
    Some(lits.iter().map(|l| l.as_bytes().to_vec()).collect())
}

impl Redactor {
    /// The names of the built-in rules, as they appear in `[REDACTED:<name>]`. Besides
    /// these, environment values read `env:<NAME>` and user patterns their own name.
    pub fn rule_names() -> Vec<&'static str> {
        SPECIFIC
            .iter()
            .map(|(n, _)| *n)
            .chain(CONTEXT_NAMES.iter().map(|(n, _)| *n))
            .collect()
    }

    /// Builds the engine: the built-in rules, `config.extra_patterns` and the secret
    /// values among `config.env_values`. Fails on an invalid user pattern.
    pub fn new(config: &RedactConfig) -> Result<Redactor, RedactError> {
        let mut labels: Vec<String> = Vec::new();
        let mut slots: Vec<Slot> = Vec::new();
        let mut inner_patterns: Vec<String> = Vec::new();
        let mut trigger_patterns: Vec<Vec<u8>> =
            TRIGGERS.iter().map(|t| t.as_bytes().to_vec()).collect();
        let mut scan_all = false;

        for (name, pattern) in SPECIFIC {
            let pattern = if *name == "private-key" {
                private_key_pattern()
            } else {
                (*pattern).to_string()
            };
            slots.push(Slot {
                label: labels.len() as u32,
                rank: RANK_SPECIFIC,
                context: None,
            });
            labels.push(label_text(name));
            inner_patterns.push(pattern);
        }

        for (name, pattern) in &config.extra_patterns {
            let invalid = |message: String| RedactError::InvalidPattern {
                name: name.clone(),
                pattern: pattern.clone(),
                message,
            };
            if name.trim().is_empty() {
                return Err(invalid("the name is empty".into()));
            }
            let re = regex::Regex::new(pattern).map_err(|e| invalid(e.to_string()))?;
            if re.is_match("") {
                return Err(invalid("the pattern matches the empty string".into()));
            }
            match literal_prefixes(pattern) {
                Some(prefixes) => {
                    for p in prefixes {
                        if let Some(esc) = std::str::from_utf8(&p).ok().and_then(json_escaped) {
                            trigger_patterns.push(esc.into_bytes());
                        }
                        trigger_patterns.push(p);
                    }
                }
                None => scan_all = true,
            }
            slots.push(Slot {
                label: labels.len() as u32,
                rank: RANK_USER,
                context: None,
            });
            labels.push(label_text(name));
            inner_patterns.push(pattern.clone());
        }

        let mut engine_patterns = inner_patterns.clone();
        for (name, ctx) in CONTEXT_NAMES {
            slots.push(Slot {
                label: labels.len() as u32,
                rank: RANK_CONTEXT,
                context: Some(*ctx),
            });
            labels.push(label_text(name));
            engine_patterns.push(context_pattern(*ctx));
        }

        let engine = build_meta(&engine_patterns)?;
        let inner = build_meta(&inner_patterns)?;
        let private_key = build_meta(&[private_key_pattern()])?;
        let secret_name = build_meta(&[format!("^(?:{NAME})$")])?;

        let base = Redactor {
            triggers: AhoCorasick::new(&trigger_patterns)
                .map_err(|e| RedactError::Engine(e.to_string()))?,
            scan_all,
            engine,
            inner,
            private_key,
            secret_name,
            slots,
            labels,
            env: None,
            env_labels: Vec::new(),
            env_multiline: false,
            base_triggers: std::sync::Arc::new(trigger_patterns),
        };
        base.with_env_values(&config.env_values)
    }

    /// This redactor (without its environment values, if it had any) plus the secret
    /// values among `env_values`. Cheap next to [`Redactor::new`]: the compiled rules are
    /// shared, only the literal scanners are rebuilt. Used per request by the daemon.
    pub fn with_env_values(
        &self,
        env_values: &[(String, String)],
    ) -> Result<Redactor, RedactError> {
        let mut redactor = self.clone();
        redactor.labels.truncate(redactor.slots.len());
        redactor.env = None;
        redactor.env_labels.clear();
        redactor.env_multiline = false;
        let mut trigger_patterns: Vec<Vec<u8>> = self.base_triggers.as_ref().clone();
        // Environment values: decided with the built-in rules (and user patterns).
        let mut values: Vec<&str> = Vec::new();
        for (name, value) in env_values {
            if values.contains(&value.as_str()) || !redactor.env_value_is_secret(name, value) {
                continue;
            }
            values.push(value);
            redactor.env_labels.push(redactor.labels.len() as u32);
            redactor.labels.push(label_text(&format!("env:{name}")));
            if let Some(esc) = json_escaped(value) {
                trigger_patterns.push(esc.into_bytes());
            }
            trigger_patterns.push(value.as_bytes().to_vec());
        }
        if !values.is_empty() {
            redactor.env_multiline = values.iter().any(|v| v.contains('\n'));
            redactor.env = Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(&values)
                    .map_err(|e| RedactError::Engine(e.to_string()))?,
            );
        }
        redactor.triggers = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(&trigger_patterns)
            .map_err(|e| RedactError::Engine(e.to_string()))?;
        Ok(redactor)
    }

    fn env_value_is_secret(&self, name: &str, value: &str) -> bool {
        if value.chars().count() < 8 || looks_like_path(value) || is_repeated_char(value) {
            return false;
        }
        let upper = name.to_ascii_uppercase();
        let named = [
            "KEY",
            "SECRET",
            "TOKEN",
            "PASSWORD",
            "PASSWD",
            "CREDENTIALS",
        ]
        .iter()
        .any(|s| upper.ends_with(s));
        named || {
            let mut hits = Vec::new();
            self.collect(value, &mut hits);
            !hits.is_empty()
        }
    }

    /// Redacts plain text (a stderr line, a prompt, a whole log). Returns the text
    /// borrowed when nothing was redacted.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut hits = Vec::new();
        self.collect(text, &mut hits);
        self.apply(text, hits)
    }

    /// Redacts one JSON event line, keeping it valid JSON: only string values and object
    /// keys change, each to its redaction; every other byte stays as it was (a line with
    /// nothing to redact is returned unchanged). A string value is also seen with its key,
    /// as the text `"key": "value"` would be, so `{"password": "hunter2hunter2"}` and
    /// `{"Authorization": "Bearer ..."}` are redacted like their plain-text forms. A line
    /// that is not valid JSON is redacted with [`Redactor::redact`].
    pub fn redact_json_line(&self, line: &str) -> String {
        if !self.scan_all && self.triggers.find(line).is_none() {
            return line.to_owned();
        }
        if serde_json::from_str::<serde::de::IgnoredAny>(line).is_err() {
            return self.redact(line).into_owned();
        }
        let b = line.as_bytes();
        let mut out = String::new();
        let mut copied = 0;
        let mut pos = 0;
        // The last object key that holds a trigger: where it ends, and its text.
        let mut last_key: Option<(usize, String)> = None;
        while let Some(off) = memchr::memchr(b'"', &b[pos..]) {
            let s = pos + off;
            let Some(e) = string_end(b, s + 1) else {
                break; // cannot happen in valid JSON
            };
            pos = e;
            let raw = &line[s + 1..e - 1];
            let is_key = line[e..].trim_start_matches(JSON_WS).starts_with(':');
            let key = match &last_key {
                Some((k, key)) if !is_key && line[*k..s].trim_matches(JSON_WS) == ":" => {
                    Some(key.as_str())
                }
                _ => None,
            };
            let has_trigger = self.scan_all || self.triggers.find(raw).is_some();
            if !has_trigger && key.is_none() {
                if is_key {
                    last_key = None;
                }
                continue;
            }
            let Ok(decoded) = serde_json::from_str::<String>(&line[s..e]) else {
                continue;
            };
            let red = self.redact_keyed(key, &decoded);
            if let Cow::Owned(red) = red {
                let encoded =
                    serde_json::to_string(&red).unwrap_or_else(|_| String::from("\"[REDACTED]\""));
                out.push_str(&line[copied..s]);
                out.push_str(&encoded);
                copied = e;
            }
            if is_key {
                last_key = Some((e, decoded));
            }
        }
        if copied == 0 {
            return line.to_owned();
        }
        out.push_str(&line[copied..]);
        out
    }

    /// Redacts a parsed JSON value in place, as [`Redactor::redact_json_line`] does a
    /// line: string values (each seen with its key) and object keys.
    pub fn redact_value(&self, value: &mut serde_json::Value) {
        use serde_json::Value;
        match value {
            Value::String(s) => {
                if let Cow::Owned(r) = self.redact(s) {
                    *s = r;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_value(v)),
            Value::Object(map) => {
                let old = std::mem::take(map);
                for (key, mut v) in old {
                    match &mut v {
                        Value::String(s) => {
                            if let Cow::Owned(r) = self.redact_keyed(Some(&key), s) {
                                *s = r;
                            }
                        }
                        other => self.redact_value(other),
                    }
                    map.insert(self.redact(&key).into_owned(), v);
                }
            }
            _ => {}
        }
    }

    /// Whether an object key or variable name is one the `assignment` rule treats as
    /// naming a secret (`api_key`, `DB_PASSWORD`, `clientSecret`, ...).
    pub fn is_secret_name(&self, name: &str) -> bool {
        self.secret_name.is_match(name)
    }

    /// Redacts a JSON string value. With its object key, the context rules also see it as
    /// `"key": "value"` (when neither holds a quote or a newline), and what they find in
    /// the value part is redacted too.
    fn redact_keyed<'a>(&self, key: Option<&str>, value: &'a str) -> Cow<'a, str> {
        let mut hits = Vec::new();
        self.collect(value, &mut hits);
        if let Some(key) = key
            && (self.scan_all || self.triggers.find(key).is_some())
            && !key.contains(['"', '\n'])
            && !value.contains(['"', '\n'])
        {
            let framed = format!("\"{key}\": \"{value}\"");
            let off = key.len() + 5;
            let mut framed_hits = Vec::new();
            self.collect(&framed, &mut framed_hits);
            for h in framed_hits {
                if h.rank == RANK_CONTEXT && h.end > off {
                    let start = h.start.max(off) - off;
                    let end = (h.end - off).min(value.len());
                    if start < end && value.is_char_boundary(start) && value.is_char_boundary(end) {
                        hits.push(Hit { start, end, ..h });
                    }
                }
            }
        }
        self.apply(value, hits)
    }

    /// Finds every match in `text`.
    fn collect(&self, text: &str, hits: &mut Vec<Hit>) {
        let b = text.as_bytes();
        if self.scan_all {
            self.scan_region(text, 0, text.len(), !self.env_multiline, hits);
        } else {
            let mut pos = 0;
            while pos < text.len() {
                let Some(m) = self
                    .triggers
                    .find(aho_corasick::Input::new(text).span(pos..text.len()))
                else {
                    break;
                };
                let start = memchr::memrchr(b'\n', &b[pos..m.start()]).map_or(pos, |i| pos + i + 1);
                let mut end = line_end(b, m.end());
                // Take in the following lines while their triggers come close: one regex
                // call over a few lines costs less than one call per line.
                while end < text.len() {
                    let near = (end + MERGE_GAP).min(text.len());
                    let next = aho_corasick::Input::new(text).span(end..near);
                    match self.triggers.find(next) {
                        Some(m) => end = line_end(b, m.end()),
                        None => break,
                    }
                }
                let end = self.extend_for_private_keys(text, start, end);
                self.scan_region(text, start, end, !self.env_multiline, hits);
                pos = end;
            }
        }
        if self.env_multiline {
            self.scan_env(text, 0, text.len(), hits);
        }
    }

    /// A region holding `-----BEGIN` reaches to the end of the line where the block ends.
    fn extend_for_private_keys(&self, text: &str, start: usize, mut end: usize) -> usize {
        let b = text.as_bytes();
        let mut from = start;
        while let Some(i) = memchr::memmem::find(&b[from..end], b"-----BEGIN") {
            let at = from + i;
            let input = Input::new(text)
                .span(at..text.len())
                .anchored(Anchored::Yes);
            match self.private_key.find(input) {
                Some(m) => {
                    if m.end() > end {
                        end = line_end(b, m.end());
                    }
                    from = m.end().max(at + 1);
                }
                None => from = at + 1,
            }
            if from >= end {
                break;
            }
        }
        end
    }

    fn scan_region(&self, text: &str, start: usize, end: usize, env: bool, hits: &mut Vec<Hit>) {
        for caps in self.engine.captures_iter(Input::new(text).span(start..end)) {
            let Some(m) = caps.get_match() else { continue };
            let Some(slot) = self.slots.get(m.pattern().as_usize()) else {
                continue;
            };
            let Some(ctx) = slot.context else {
                push(hits, m.start(), m.end(), slot);
                continue;
            };
            let (span, accepted) = match ctx {
                Context::Assignment => assignment_value(text, &caps),
                _ => match caps.get_group_by_name("s") {
                    Some(g) => ((g.start, g.end), true),
                    None => ((m.end(), m.end()), false),
                },
            };
            if accepted {
                push(hits, span.0, span.1, slot);
            }
            // Name what the context rule found by a more specific rule, and catch shapes
            // inside a value the context rule turned down.
            if span.0 < span.1 {
                for inner in self.inner.find_iter(Input::new(text).span(span.0..span.1)) {
                    if let Some(slot) = self.slots.get(inner.pattern().as_usize()) {
                        push(hits, inner.start(), inner.end(), slot);
                    }
                }
            }
        }
        if env {
            self.scan_env(text, start, end, hits);
        }
    }

    fn scan_env(&self, text: &str, start: usize, end: usize, hits: &mut Vec<Hit>) {
        let Some(env) = &self.env else { return };
        for m in env.find_iter(aho_corasick::Input::new(text).span(start..end)) {
            if let Some(&label) = self.env_labels.get(m.pattern().as_usize()) {
                hits.push(Hit {
                    start: m.start(),
                    end: m.end(),
                    rank: RANK_ENV,
                    label,
                });
            }
        }
    }

    /// Replaces the union of overlapping hits by the label of the highest-ranked one.
    fn apply<'a>(&self, text: &'a str, mut hits: Vec<Hit>) -> Cow<'a, str> {
        if hits.is_empty() {
            return Cow::Borrowed(text);
        }
        hits.sort_by_key(|h| (h.start, std::cmp::Reverse(h.end)));
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        let mut i = 0;
        while i < hits.len() {
            let mut best = hits[i];
            let (start, mut end) = (hits[i].start, hits[i].end);
            i += 1;
            while i < hits.len() && hits[i].start < end {
                end = end.max(hits[i].end);
                if hits[i].rank > best.rank {
                    best = hits[i];
                }
                i += 1;
            }
            // Every hit lies on character boundaries; widen defensively all the same.
            let start = floor_boundary(text, start.max(copied));
            let end = ceil_boundary(text, end);
            let label = self.labels.get(best.label as usize);
            out.push_str(&text[copied..start]);
            out.push_str(label.map_or("[REDACTED]", String::as_str));
            copied = end;
        }
        out.push_str(&text[copied..]);
        Cow::Owned(out)
    }
}

fn push(hits: &mut Vec<Hit>, start: usize, end: usize, slot: &Slot) {
    if start < end {
        hits.push(Hit {
            start,
            end,
            rank: slot.rank,
            label: slot.label,
        });
    }
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

const JSON_WS: [char; 4] = [' ', '\t', '\n', '\r'];

fn line_end(b: &[u8], from: usize) -> usize {
    memchr::memchr(b'\n', &b[from..]).map_or(b.len(), |i| from + i)
}

/// Index just past the closing quote of a JSON string whose content starts at `i`.
fn string_end(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let k = i + memchr::memchr2(b'"', b'\\', b.get(i..)?)?;
        if b[k] == b'\\' {
            i = k + 2;
        } else {
            return Some(k + 1);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The assignment heuristic
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

fn quoted_value_ok(v: &str) -> bool {
    v.chars().count() >= 8 && !v.chars().any(char::is_whitespace) && value_shape_ok(v)
}

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

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

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

fn is_number(v: &str) -> bool {
    let v = v.trim_start_matches(['-', '+']);
    v.chars().any(|c| c.is_ascii_digit())
        && v.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '_' | ','))
}

fn is_repeated_char(v: &str) -> bool {
    let mut chars = v.chars();
    chars.next().is_some_and(|first| chars.all(|c| c == first))
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    // Every "secret" below is fabricated from a fixed cycle of characters with the shape
    // of the real thing; none is a real credential.
    const CYCLE: &[u8] = b"aB3dE6gH9jK2mN5pQ8sT1vW4yZ7cF0hJ";
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ234567";
    const B64: &[u8] = b"wJ7a/Lr+XuT9nFk2E/MbI0K7MD3ENGbP+xRfiCYz";

    fn fill(n: usize, seed: usize) -> String {
        (0..n)
            .map(|i| CYCLE[(i * 7 + seed) % CYCLE.len()] as char)
            .collect()
    }
    fn upper(n: usize) -> String {
        (0..n)
            .map(|i| UPPER[(i * 7) % UPPER.len()] as char)
            .collect()
    }
    fn b64_40() -> String {
        String::from_utf8(B64.to_vec()).unwrap()
    }
    fn jwt() -> String {
        // jwt.io's example header and payload, a made-up signature.
        format!(
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.{}",
            fill(43, 5)
        )
    }
    fn rsa_key() -> String {
        let body: Vec<String> = (0..6).map(|i| fill(64, i)).collect();
        format!(
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA{}\n{}\n-----END RSA PRIVATE KEY-----",
            fill(48, 9),
            body.join("\n")
        )
    }
    fn openssh_key() -> String {
        format!(
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU{}\n{}==\n-----END OPENSSH PRIVATE KEY-----",
            fill(40, 1),
            fill(60, 2)
        )
    }

    fn redactor() -> Redactor {
        Redactor::new(&RedactConfig::default()).unwrap()
    }

    /// (input, expected output, rule name) — one or more per built-in rule.
    fn secret_corpus() -> Vec<(String, String, &'static str)> {
        let mut v: Vec<(String, String, &'static str)> = Vec::new();
        let mut add = |input: String, expected: String, rule: &'static str| {
            v.push((input, expected, rule));
        };
        let k = format!("sk-proj-{}", fill(64, 0));
        add(
            format!("OPENAI_API_KEY={k}"),
            "OPENAI_API_KEY=[REDACTED:openai-key]".into(),
            "openai-key",
        );
        let k = format!("sk-{}", fill(48, 1));
        add(
            format!("using key {k} for now"),
            "using key [REDACTED:openai-key] for now".into(),
            "openai-key",
        );
        let k = format!("sk-svcacct-{}", fill(40, 2));
        add(
            format!("export OPENAI_KEY='{k}'"),
            "export OPENAI_KEY='[REDACTED:openai-key]'".into(),
            "openai-key",
        );
        let k = format!("sk-ant-api03-{}AA", fill(90, 3));
        add(
            format!("ANTHROPIC_API_KEY=\"{k}\""),
            "ANTHROPIC_API_KEY=\"[REDACTED:anthropic-key]\"".into(),
            "anthropic-key",
        );
        for prefix in ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"] {
            let k = format!("{prefix}{}", fill(36, 4));
            add(
                format!("GITHUB_TOKEN={k}"),
                "GITHUB_TOKEN=[REDACTED:github-token]".into(),
                "github-token",
            );
        }
        let k = format!("github_pat_{}_{}", fill(22, 5), fill(59, 6));
        add(
            format!("gh auth login --with-token {k}"),
            "gh auth login --with-token [REDACTED:github-token]".into(),
            "github-token",
        );
        let k = format!("glpat-{}", fill(20, 7));
        add(
            format!("token is {k}."),
            "token is [REDACTED:gitlab-token].".into(),
            "gitlab-token",
        );
        let k = format!("xoxb-1234567890-1234567890123-{}", fill(24, 8));
        add(
            format!("slack: {k}"),
            "slack: [REDACTED:slack-token]".into(),
            "slack-token",
        );
        let k = format!("xoxp-{}", fill(30, 9));
        add(
            format!("[{k}]"),
            "[[REDACTED:slack-token]]".into(),
            "slack-token",
        );
        let k = format!("sk_live_{}", fill(24, 10));
        add(
            format!("Stripe.api_key = \"{k}\""),
            "Stripe.api_key = \"[REDACTED:stripe-key]\"".into(),
            "stripe-key",
        );
        let k = format!("rk_live_{}", fill(24, 11));
        add(
            format!("restricted {k}"),
            "restricted [REDACTED:stripe-key]".into(),
            "stripe-key",
        );
        let k = format!("AKIA{}", upper(16));
        add(
            format!("aws_access_key_id = {k}"),
            "aws_access_key_id = [REDACTED:aws-access-key-id]".into(),
            "aws-access-key-id",
        );
        let k = format!("ASIA{}", upper(16));
        add(
            format!("\"AccessKeyId\": \"{k}\","),
            "\"AccessKeyId\": \"[REDACTED:aws-access-key-id]\",".into(),
            "aws-access-key-id",
        );
        let s = b64_40();
        add(
            format!("aws_secret_access_key = {s}\nregion = us-east-1"),
            "aws_secret_access_key = [REDACTED:aws-secret-key]\nregion = us-east-1".into(),
            "aws-secret-key",
        );
        add(
            format!("export AWS_SECRET_ACCESS_KEY={s}"),
            "export AWS_SECRET_ACCESS_KEY=[REDACTED:aws-secret-key]".into(),
            "aws-secret-key",
        );
        add(
            format!("\"SecretAccessKey\": \"{s}\","),
            "\"SecretAccessKey\": \"[REDACTED:aws-secret-key]\",".into(),
            "aws-secret-key",
        );
        let k = format!("AIza{}", fill(35, 12));
        add(
            format!("https://maps.googleapis.com/maps/api/js?key={k}&callback=init"),
            "https://maps.googleapis.com/maps/api/js?key=[REDACTED:google-api-key]&callback=init"
                .into(),
            "google-api-key",
        );
        add(
            format!("$ cat id_rsa\n{}\n$ ls", rsa_key()),
            "$ cat id_rsa\n[REDACTED:private-key]\n$ ls".into(),
            "private-key",
        );
        add(
            format!("{{\"k\":{}}}", serde_json::to_string(&rsa_key()).unwrap()),
            "{\"k\":\"[REDACTED:private-key]\"}".into(),
            "private-key",
        );
        add(
            format!("key:\n{}\n", openssh_key()),
            "key:\n[REDACTED:private-key]\n".into(),
            "private-key",
        );
        add(
            format!(
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\n{}\n{}",
                fill(64, 3),
                fill(20, 4)
            ),
            "[REDACTED:private-key]".into(),
            "private-key",
        );
        add(
            format!(
                "-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: GnuPG v2\n\n{}\n=abcd\n-----END PGP PRIVATE KEY BLOCK-----",
                fill(64, 5)
            ),
            "[REDACTED:private-key]".into(),
            "private-key",
        );
        add(
            format!("session={} ;", jwt()),
            "session=[REDACTED:jwt] ;".into(),
            "jwt",
        );
        add(
            format!(
                "curl -H 'Authorization: Bearer {}' https://api.example.com",
                fill(40, 13)
            ),
            "curl -H 'Authorization: Bearer [REDACTED:authorization]' https://api.example.com"
                .into(),
            "authorization",
        );
        add(
            "authorization: Basic dXNlcjpodW50ZXIyaHVudGVyMg==".into(),
            "authorization: Basic [REDACTED:authorization]".into(),
            "authorization",
        );
        add(
            format!("\"Authorization\": \"Bearer {}\"", jwt()),
            "\"Authorization\": \"Bearer [REDACTED:jwt]\"".into(),
            "jwt",
        );
        add(
            format!(
                "DATABASE_URL=postgres://app:{}@db.internal:5432/app",
                fill(16, 14)
            ),
            "DATABASE_URL=postgres://app:[REDACTED:url-credentials]@db.internal:5432/app".into(),
            "url-credentials",
        );
        add(
            "git clone https://x-access-token:s3cr3tP4ss@git.example.com/org/repo.git".into(),
            "git clone https://x-access-token:[REDACTED:url-credentials]@git.example.com/org/repo.git"
                .into(),
            "url-credentials",
        );
        add(
            "redis://:hunter2hunter2@cache:6379/0".into(),
            "redis://:[REDACTED:url-credentials]@cache:6379/0".into(),
            "url-credentials",
        );
        add(
            "DB_PASSWORD=hunter2hunter2".into(),
            "DB_PASSWORD=[REDACTED:assignment]".into(),
            "assignment",
        );
        add(
            "  db_password: s3cr3t-Pa55word\n".into(),
            "  db_password: [REDACTED:assignment]\n".into(),
            "assignment",
        );
        add(
            format!("{{\"clientSecret\": \"{}\"}}", fill(32, 15)),
            "{\"clientSecret\": \"[REDACTED:assignment]\"}".into(),
            "assignment",
        );
        add(
            "API_KEY=abc123def456ghi789".into(),
            "API_KEY=[REDACTED:assignment]".into(),
            "assignment",
        );
        add(
            "let api_key = \"Zx9Yw8Vu7Ts6\";".into(),
            "let api_key = \"[REDACTED:assignment]\";".into(),
            "assignment",
        );
        add(
            "settings = {'password': 'correct-Horse-42'}".into(),
            "settings = {'password': '[REDACTED:assignment]'}".into(),
            "assignment",
        );
        add(
            "const DB_PASSWORD: &str = \"hunter2hunter2\";".into(),
            "const DB_PASSWORD: &str = \"[REDACTED:assignment]\";".into(),
            "assignment",
        );
        add(
            "mysql -u root --password=S3cr3tP@ss! db".into(),
            "mysql -u root --password=[REDACTED:assignment] db".into(),
            "assignment",
        );
        add(
            "SLACK_BOT_TOKEN := 9f8e7d6c5b4a39281706".into(),
            "SLACK_BOT_TOKEN := [REDACTED:assignment]".into(),
            "assignment",
        );
        add(
            "https://api.example.com/v1?api_key=Q2x1ZXM3NDU2&page=2".into(),
            "https://api.example.com/v1?api_key=[REDACTED:assignment]&page=2".into(),
            "assignment",
        );
        v
    }

    /// Ordinary content that must come through byte for byte.
    fn lookalike_corpus() -> Vec<String> {
        let png: String = (0..4000)
            .map(|i| {
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                    [(i * 37 + i / 64) % 64] as char
            })
            .collect();
        vec![
            "commit 9fceb02d0ae598e95dc970b74767f19372d61af8".into(),
            "HEAD is now at 9fceb02 fix lexer".into(),
            "id 123e4567-e89b-12d3-a456-426614174000".into(),
            format!("<img src=\"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA{png}==\">"),
            "/home/u/src/sk-learn/x.py".into(),
            "task-sk-123 and task-sk-abc".into(),
            "let token = lexer.next_token();".into(),
            "fn get_api_key() -> String {".into(),
            "    password: Option<String>,".into(),
            "const TOKEN_KIND: u8 = 3;".into(),
            "if secret.is_empty() { return; }".into(),
            "risky-business desk-lamp whisk-bowl disk-usage".into(),
            "<div class=\"btn btn-primary task-sk-item\">".into(),
            "npm i @babel/core eslint-plugin-react-hooks lodash.debounce sk-table".into(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into(),
            "github.com/pkg/errors v0.9.1 h1:FEBLx1zS214owpjy7qsBeixbURkuhQAwrK5UwLGTwt4=".into(),
            "{\"max_tokens\": 1000}".into(),
            "{\"usage\":{\"input_tokens\":12345678,\"cached_input_tokens\":0,\"output_tokens\":99}}".into(),
            "TOKEN_TYPE=bearer".into(),
            "password_field: String".into(),
            "pub token: Option<Arc<str>>,".into(),
            "fn new(api_key: &str, secret_key: Ed25519SecretKey) -> Self".into(),
            "let key: Ed25519SecretKey = generate();".into(),
            "access_token: token.clone(),".into(),
            "api_key=self.api_key".into(),
            "password=os.environ[\"DB_PASSWORD\"]".into(),
            "GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}".into(),
            "export OPENAI_API_KEY=$OPENAI_API_KEY_PROD".into(),
            "token_count = 12345678".into(),
            "monkey = bananas123".into(),
            "cacheKey: \"user:123:profile\"".into(),
            "SSH_KEY=/home/u/.ssh/id_ed25519".into(),
            "password = \"********\"".into(),
            "let secret = SECRET_PLACEHOLDER;".into(),
            "self.token = next_token_value".into(),
            "password: \"Enter your password\"".into(),
            "{\"grant_type\": \"refresh_token\", \"token_type\": \"bearer\"}".into(),
            "git@github.com:org/repo.git https://github.com/org/repo http://localhost:8080/a@b".into(),
            "curl -H \"Authorization: Bearer $TOKEN\" https://x".into(),
            "\"authorization\": \"required\"".into(),
            "header eyJhbGciOiJIUzI1NiJ9 alone".into(),
            "AKIAFOO ASIAN markets AIzaSy short xoxo gossip glpat".into(),
            "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----".into(),
            "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBa\n-----END CERTIFICATE-----".into(),
            "the Key to success; keyboard shortcuts; tokens; Secrets Manager".into(),
            "error[E0425]: cannot find value `token` in this scope".into(),
            "primary_key: 1234567890123".into(),
            "secret_name: my-app-db-credentials".into(),
            "key = \"value\"".into(),
            "let api_key: String = compute_key();".into(),
            "auth_token = os.getenv('AUTH_TOKEN')".into(),
            "token = get_token()".into(),
            "api_key = settings.API_KEY".into(),
            "self.password = password".into(),
            "password=None token=undefined".into(),
            "private_key: PathBuf::from(\"/etc/ssl/key.pem\"),".into(),
            "ssh://git@github.com:22/org/repo.git postgresql://localhost:5432/db".into(),
            "let key_bytes = secret.as_bytes();".into(),
        ]
    }

    #[test]
    fn redactor_is_shareable() {
        fn shareable<T: Send + Sync + Clone>() {}
        shareable::<Redactor>();
    }

    #[test]
    fn rule_names_are_the_builtins() {
        let names = Redactor::rule_names();
        for n in [
            "openai-key",
            "anthropic-key",
            "github-token",
            "gitlab-token",
            "slack-token",
            "stripe-key",
            "aws-access-key-id",
            "aws-secret-key",
            "google-api-key",
            "private-key",
            "jwt",
            "authorization",
            "url-credentials",
            "assignment",
        ] {
            assert!(names.contains(&n), "{n}");
        }
        assert_eq!(names.len(), 14);
    }

    #[test]
    fn every_rule_redacts_its_sample_in_plain_text() {
        let r = redactor();
        let corpus = secret_corpus();
        for name in Redactor::rule_names() {
            assert!(
                corpus.iter().any(|(_, _, rule)| *rule == name),
                "no sample for {name}"
            );
        }
        for (input, expected, rule) in &corpus {
            let got = r.redact(input);
            assert_eq!(&got, expected, "rule {rule}, input {input:?}");
            assert!(got.contains(&format!("[REDACTED:{rule}]")));
        }
    }

    #[test]
    fn redaction_is_idempotent() {
        let r = redactor();
        for (input, _, _) in secret_corpus() {
            let once = r.redact(&input).into_owned();
            assert_eq!(r.redact(&once), once, "{input:?}");
        }
    }

    #[test]
    fn lookalikes_survive_byte_for_byte() {
        let r = redactor();
        for text in lookalike_corpus() {
            assert!(
                matches!(r.redact(&text), Cow::Borrowed(_)),
                "changed: {text:?} -> {:?}",
                r.redact(&text)
            );
            let line = event_line(&text);
            assert_eq!(r.redact_json_line(&line), line);
        }
        let all = lookalike_corpus().join("\n");
        assert_eq!(r.redact(&all), all);
    }

    /// A realistic codex event line carrying `output`, written as codex writes it.
    fn event_line(output: &str) -> String {
        format!(
            r#"{{"type":"item.completed","item":{{"id":"item_1","type":"command_execution","command":"/bin/bash -c 'env'","aggregated_output":{},"exit_code":0,"status":"completed"}}}}"#,
            serde_json::to_string(output).unwrap()
        )
    }

    fn event_lines(text: &str) -> Vec<String> {
        vec![
            event_line(text),
            event_line(&format!("{text}\n")),
            json!({"type": "item.completed", "item": {"id": "item_7", "type": "agent_message", "text": text}})
                .to_string(),
            json!({"type": "item.completed", "item": {"id": "item_3", "type": "reasoning", "text": format!("**Checking env**\n\nI saw `{text}` in the output.")}})
                .to_string(),
            json!({"type": "error", "message": text, "details": [text, 42, null, {"nested": text}]})
                .to_string(),
            json!({"type": "item.started", "item": {"id": "item_2", "type": "command_execution", "command": format!("bash -lc {text:?}"), "aggregated_output": "", "status": "in_progress"}})
                .to_string(),
        ]
    }

    fn assert_json_consistent(r: &Redactor, line: &str) -> String {
        let out = r.redact_json_line(line);
        let parsed_out: Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("invalid JSON after redaction ({e}): {out}"));
        let mut expected: Value = serde_json::from_str(line).unwrap();
        r.redact_value(&mut expected);
        assert_eq!(parsed_out, expected, "line {line}");
        out
    }

    #[test]
    fn json_event_line_exact_bytes() {
        let r = redactor();
        let token = format!("ghp_{}", fill(36, 4));
        let line = format!(
            r#"{{"type":"item.completed","item":{{"id":"item_1","type":"command_execution","command":"/bin/bash -c 'env'","aggregated_output":"HOME=/root\nGITHUB_TOKEN={token}\n","exit_code":0,"status":"completed"}}}}"#
        );
        let expected = r#"{"type":"item.completed","item":{"id":"item_1","type":"command_execution","command":"/bin/bash -c 'env'","aggregated_output":"HOME=/root\nGITHUB_TOKEN=[REDACTED:github-token]\n","exit_code":0,"status":"completed"}}"#;
        assert_eq!(r.redact_json_line(&line), expected);
        assert_json_consistent(&r, &line);

        // A private key with JSON-escaped newlines inside a string value.
        let escaped = serde_json::to_string(&format!("{}\n", rsa_key())).unwrap();
        let line = format!(
            r#"{{"type":"item.completed","item":{{"id":"item_4","aggregated_output":{escaped},"exit_code":0}}}}"#
        );
        assert_eq!(
            r.redact_json_line(&line),
            r#"{"type":"item.completed","item":{"id":"item_4","aggregated_output":"[REDACTED:private-key]\n","exit_code":0}}"#
        );

        // The value of a secret-named key, and a number that is not a secret.
        let line = r#"{"password": "hunter2hunter2", "user":"bob", "max_tokens": 1000}"#;
        assert_eq!(
            r.redact_json_line(line),
            r#"{"password": "[REDACTED:assignment]", "user":"bob", "max_tokens": 1000}"#
        );
        assert_json_consistent(&r, line);
        let line = format!(
            r#"{{"headers":{{"Authorization":"Bearer {}","Accept":"*/*"}},"SecretAccessKey":"{}"}}"#,
            fill(40, 13),
            b64_40()
        );
        assert_eq!(
            r.redact_json_line(&line),
            r#"{"headers":{"Authorization":"Bearer [REDACTED:authorization]","Accept":"*/*"},"SecretAccessKey":"[REDACTED:aws-secret-key]"}"#
        );
        assert_json_consistent(&r, &line);
        let line = r#"{"api_key":"next_token","token":"short"}"#;
        assert_eq!(r.redact_json_line(line), line);

        // Not JSON: falls back to plain redaction.
        let line = format!("not json GITHUB_TOKEN={token}");
        assert_eq!(
            r.redact_json_line(&line),
            "not json GITHUB_TOKEN=[REDACTED:github-token]"
        );
    }

    #[test]
    fn json_lines_stay_valid_and_match_value_redaction() {
        let r = redactor();
        for (input, _, rule) in secret_corpus() {
            for line in event_lines(&input) {
                let out = assert_json_consistent(&r, &line);
                assert!(
                    out.contains(&format!("[REDACTED:{rule}]")),
                    "rule {rule} not applied in {line} -> {out}"
                );
            }
        }
        for text in lookalike_corpus() {
            for line in event_lines(&text) {
                assert_eq!(assert_json_consistent(&r, &line), line);
            }
        }
        // Escapes next to and inside secrets, and a secret in an object key.
        let token = format!("ghp_{}", fill(36, 4));
        let tricky = [
            format!(r#"{{"a":"\"{token}\"","b":"x\\{token}\\y"}}"#),
            format!(r#"{{"a":"\u0067hp_{}"}}"#, fill(36, 4)),
            format!(r#"{{"{token}":1,"password":"\u0068unter2hunter2"}}"#),
            format!(r#"[ "{token}" , {{"k" : "v"}} ]"#),
            format!(r#""{token}""#),
        ];
        for line in &tricky {
            let out = assert_json_consistent(&r, line);
            assert!(!out.contains(&token[4..]), "{out}");
        }
    }

    /// Random JSON built from secret fragments, quotes, backslashes, escapes and
    /// multi-byte characters: every redacted line is valid JSON and equals the
    /// redaction of the parsed value.
    #[test]
    fn json_fuzz_stays_valid() {
        let r = Redactor::new(&RedactConfig {
            extra_patterns: vec![("ticket".into(), r"TCK-[0-9]{6}".into())],
            env_values: vec![("DB_PASSWORD".into(), "pa\"ss\\word99".into())],
        })
        .unwrap();
        let mut frags: Vec<String> = secret_corpus().into_iter().map(|(i, _, _)| i).collect();
        frags.extend(lookalike_corpus().into_iter().filter(|l| l.len() < 200));
        frags.extend(
            [
                "\"",
                "\\",
                "\n",
                "\r\n",
                "\t",
                "é",
                "🙂",
                "\u{1b}[31m",
                ":",
                "=",
                " ",
                "'",
                "password",
                "Authorization: Bearer ",
                "://u:",
                "@h",
                "TCK-123456",
                "pa\"ss\\word99",
                "-----BEGIN RSA PRIVATE KEY-----",
                "-----END RSA PRIVATE KEY-----",
                "\\n",
                "\\u0041",
                "{\"k\": \"",
            ]
            .map(String::from),
        );
        let keys = [
            "password",
            "api_key",
            "Authorization",
            "text",
            "SecretAccessKey",
            "x",
        ];
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for _ in 0..1500 {
            let random_string = |next: &mut dyn FnMut(usize) -> usize| {
                (0..1 + next(4))
                    .map(|_| frags[next(frags.len())].clone())
                    .collect::<String>()
            };
            let mut obj = serde_json::Map::new();
            for _ in 0..1 + next(4) {
                let key = if next(3) == 0 {
                    random_string(&mut next)
                } else {
                    keys[next(keys.len())].to_string()
                };
                let value = match next(4) {
                    0 => Value::Array(vec![Value::String(random_string(&mut next)), json!(7)]),
                    1 => json!({"inner": random_string(&mut next), "n": null}),
                    _ => Value::String(random_string(&mut next)),
                };
                obj.insert(key, value);
            }
            let v = Value::Object(obj);
            for line in [v.to_string(), serde_json::to_string_pretty(&v).unwrap()] {
                let out = assert_json_consistent(&r, &line);
                if out != line {
                    assert_ne!(serde_json::from_str::<Value>(&out).unwrap(), v);
                }
            }
        }
    }

    #[test]
    fn user_patterns_and_errors() {
        let config = RedactConfig {
            extra_patterns: vec![
                ("internal-ticket".into(), r"TCK-[0-9]{6}".into()),
                ("card".into(), r"\b[0-9]{4}(?: [0-9]{4}){3}\b".into()),
            ],
            env_values: vec![],
        };
        let r = Redactor::new(&config).unwrap();
        assert_eq!(
            r.redact("see TCK-123456 and 4111 1111 1111 1111 please"),
            "see [REDACTED:internal-ticket] and [REDACTED:card] please"
        );
        assert_json_consistent(&r, &event_line("paid with 4111 1111 1111 1111"));
        assert_eq!(r.redact("nothing here 1234"), "nothing here 1234");

        let bad = RedactConfig {
            extra_patterns: vec![("broken".into(), "(unclosed".into())],
            env_values: vec![],
        };
        match Redactor::new(&bad) {
            Err(RedactError::InvalidPattern {
                name,
                pattern,
                message,
            }) => {
                assert_eq!(name, "broken");
                assert_eq!(pattern, "(unclosed");
                assert!(!message.is_empty());
            }
            other => panic!("expected InvalidPattern, got {other:?}"),
        }
        let err = Redactor::new(&RedactConfig {
            extra_patterns: vec![("empty".into(), "x*".into())],
            env_values: vec![],
        })
        .unwrap_err();
        assert!(err.to_string().contains("`empty`"), "{err}");
    }

    #[test]
    fn with_env_values_is_the_same_as_building_with_them() {
        let env = vec![
            ("DB_PASSWORD".to_string(), "hunter2-but-longer".to_string()),
            ("OTHER_TOKEN".to_string(), "tok-0123456789".to_string()),
        ];
        let base = Redactor::new(&RedactConfig {
            extra_patterns: vec![("acme".into(), "acme_[a-z0-9]{8}".into())],
            env_values: vec![("OLD_SECRET".into(), "old-secret-value-1".into())],
        })
        .unwrap();
        let built = Redactor::new(&RedactConfig {
            extra_patterns: vec![("acme".into(), "acme_[a-z0-9]{8}".into())],
            env_values: env.clone(),
        })
        .unwrap();
        let derived = base.with_env_values(&env).unwrap();
        let text =
            "pw hunter2-but-longer tok tok-0123456789 key acme_abcd1234 old old-secret-value-1";
        assert_eq!(derived.redact(text), built.redact(text));
        assert!(derived.redact(text).contains("[REDACTED:env:DB_PASSWORD]"));
        // The base's own environment values are not carried over.
        assert!(derived.redact(text).contains("old-secret-value-1"));
        let line = r#"{"type":"x","text":"tok-0123456789"}"#;
        assert_eq!(derived.redact_json_line(line), built.redact_json_line(line));
    }

    #[test]
    fn env_values_are_redacted_exactly() {
        let gh = format!("ghp_{}", fill(36, 4));
        let slack = format!("xoxb-{}", fill(30, 2));
        let config = RedactConfig {
            extra_patterns: vec![],
            env_values: vec![
                ("GITHUB_TOKEN".into(), gh.clone()),
                ("DB_PASSWORD".into(), "plainwords".into()),
                ("Service_Credentials".into(), "a\"quoted\\value".into()),
                ("NOTIFY_HOOK".into(), slack.clone()), // not secret-named, but a slack token
                ("HOME".into(), "/root".into()),
                ("SHORT_TOKEN".into(), "abc".into()),
                ("SSH_KEY".into(), "/home/u/.ssh/id_ed25519".into()),
                ("EDITOR_THEME".into(), "solarized-dark".into()),
            ],
        };
        let r = Redactor::new(&config).unwrap();
        assert!(format!("{config:?}").contains("DB_PASSWORD"));
        assert!(!format!("{config:?}").contains("plainwords"));
        // Wherever the value occurs, also inside a longer word.
        assert_eq!(
            r.redact("login with plainwords; xxplainwordsyy"),
            "login with [REDACTED:env:DB_PASSWORD]; xx[REDACTED:env:DB_PASSWORD]yy"
        );
        // A shape rule names a value it recognises.
        assert_eq!(r.redact(&format!("t={gh}")), "t=[REDACTED:github-token]");
        assert_eq!(
            r.redact(&format!("hook {slack}")),
            "hook [REDACTED:slack-token]"
        );
        assert_eq!(
            r.redact("v=a\"quoted\\value!"),
            "v=[REDACTED:env:Service_Credentials]!"
        );
        for keep in ["abc", "/root", "/home/u/.ssh/id_ed25519", "solarized-dark"] {
            assert_eq!(r.redact(keep), keep);
        }
        // In JSON the value is found through its escaped form.
        let line = event_line("creds: a\"quoted\\value\nplainwords\n");
        let out = assert_json_consistent(&r, &line);
        assert!(out.contains("[REDACTED:env:Service_Credentials]"), "{out}");
        assert!(out.contains("[REDACTED:env:DB_PASSWORD]"), "{out}");
        assert!(
            !out.contains("plainwords") && !out.contains("quoted"),
            "{out}"
        );
    }

    #[test]
    fn secret_names() {
        let r = redactor();
        for n in [
            "api_key",
            "API_KEY",
            "apiKey",
            "x-api-key",
            "clientSecret",
            "DB_PASSWORD",
            "passwd",
            "access_token",
            "SecretAccessKey",
            "OPENAI_API_KEY",
        ] {
            assert!(r.is_secret_name(n), "{n}");
        }
        for n in [
            "monkey",
            "cacheKey",
            "max_tokens",
            "TOKEN_TYPE",
            "password_field",
            "key",
        ] {
            assert!(!r.is_secret_name(n), "{n}");
        }
    }
}
