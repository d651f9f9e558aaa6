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
//!
//! Variables the client set explicitly (`codexctl start --env K=V`, see [`explicit_env`])
//! are redacted the same way whatever their name, `[REDACTED:env:NAME]`, when the value is
//! at least [`MIN_EXPLICIT_ENV_CHARS`] characters and not one repeated character (a file
//! path included): their values are never stored. The defaults a client forwards from its
//! shell (PATH, VIRTUAL_ENV, CODEX_HOME) follow the rule above.
//!
//! Layout: this file is the engine (*how* text is scanned and replaced: the fast path,
//! the regions, merging overlapping matches, JSON lines); `rules` holds the built-in rules
//! (*what* a secret is: the patterns, triggers, ranks and the `assignment` heuristic);
//! `tests` holds the unit tests with their corpus of fabricated secrets and lookalikes.

mod rules;
#[cfg(test)]
mod tests;

use aho_corasick::{AhoCorasick, MatchKind};
use regex_automata::meta::Regex as MetaRegex;
use regex_automata::{Anchored, Input};
use rules::{
    CONTEXT_NAMES, Context, NAME, PK_BODY_LINE, RANK_CONTEXT, RANK_ENV, RANK_SPECIFIC, RANK_USER,
    SPECIFIC, TRIGGERS, context_pattern, context_value, env_name_is_secret,
    env_value_can_be_secret, explicit_env_value_can_be_secret, private_key_footer,
    private_key_header, private_key_pattern, specific_patterns,
};
pub use rules::{MIN_EXPLICIT_ENV_CHARS, PUBLIC_FORWARDED_ENV};
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
    /// Shows the patterns and the environment's names, never its values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the environment values: they are what we are hiding.
        let env_names: Vec<&str> = self.env_values.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("RedactConfig")
            .field("extra_patterns", &self.extra_patterns)
            .field("env_names", &env_names)
            .finish()
    }
}

/// The variables of a request's environment whose values are redacted whatever their names
/// ([`Redactor::with_env`]): every one but the path-like defaults a client forwards
/// ([`PUBLIC_FORWARDED_ENV`]: PATH, VIRTUAL_ENV, CODEX_HOME, endpoints, CA files). The request does not tell explicit
/// `--env` values from forwarded ones, so forwarded keys and proxies are covered too.
pub fn explicit_env<'a>(
    set: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Vec<(String, String)> {
    set.into_iter()
        .filter(|(name, _)| !PUBLIC_FORWARDED_ENV.contains(&name.as_str()))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
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
// The engine
// ---------------------------------------------------------------------------------------

/// Lines with a trigger this close after a region join it (see `Redactor::collect`): a
/// performance knob of the scan, not of what is redacted.
const MERGE_GAP: usize = 256;

/// What a pattern of the combined regex stands for (pattern id = index in
/// `Redactor::slots`).
#[derive(Clone, Copy, Debug)]
struct Slot {
    /// Index of its `[REDACTED:name]` in `Redactor::labels`.
    label: u32,
    /// Which rule names a merged match (see the `RANK_*` constants in `rules`).
    rank: u8,
    /// For a context rule, which one: only part of its match is redacted.
    context: Option<Context>,
}

/// One span to redact, before overlapping spans are merged in `Redactor::apply`.
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
    /// A block's header, its footer, and a line of its body, for [`TextLines`].
    pk_header: MetaRegex,
    pk_footer: MetaRegex,
    pk_body_line: MetaRegex,
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
    /// Shows counts only: the compiled automata are large and say nothing useful.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("rules", &self.slots.len())
            .field("env_values", &self.env_labels.len())
            .field("scan_all", &self.scan_all)
            .finish_non_exhaustive()
    }
}

/// The replacement text `[REDACTED:<name>]`, with any character outside
/// `[A-Za-z0-9_.:-]` in the name made `_`, so that the label stays one recognisable token
/// whatever a configured name holds (`]`, spaces, quotes).
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

/// Compiles `patterns` into one multi-pattern regex (pattern id = index in `patterns`).
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

        for (name, pattern) in specific_patterns() {
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
        let pk_header = build_meta(&[private_key_header().to_string()])?;
        let pk_footer = build_meta(&[private_key_footer().to_string()])?;
        let pk_body_line = build_meta(&[PK_BODY_LINE.to_string()])?;
        let secret_name = build_meta(&[format!("^(?:{NAME})$")])?;

        let base = Redactor {
            triggers: AhoCorasick::new(&trigger_patterns)
                .map_err(|e| RedactError::Engine(e.to_string()))?,
            scan_all,
            engine,
            inner,
            private_key,
            pk_header,
            pk_footer,
            pk_body_line,
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
        self.with_env(env_values, &[])
    }

    /// [`Redactor::with_env_values`] plus `explicit`: variables the client set explicitly
    /// (see [`explicit_env`]), whose values are redacted whatever their name, when they
    /// are at least [`MIN_EXPLICIT_ENV_CHARS`] characters and not one repeated character.
    pub fn with_env(
        &self,
        env_values: &[(String, String)],
        explicit: &[(String, String)],
    ) -> Result<Redactor, RedactError> {
        let mut redactor = self.clone();
        redactor.labels.truncate(redactor.slots.len());
        redactor.env = None;
        redactor.env_labels.clear();
        redactor.env_multiline = false;
        let mut trigger_patterns: Vec<Vec<u8>> = self.base_triggers.as_ref().clone();
        // Environment values: decided with the built-in rules (and user patterns).
        let mut values: Vec<&str> = Vec::new();
        let explicit = explicit
            .iter()
            .filter(|(_, value)| explicit_env_value_can_be_secret(value));
        let secret: Vec<&(String, String)> = env_values
            .iter()
            .filter(|(name, value)| redactor.env_value_is_secret(name, value))
            .collect();
        for (name, value) in explicit.chain(secret) {
            if values.contains(&value.as_str()) {
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

    /// Whether the environment value of `name` is to be redacted wherever it occurs: a
    /// value that can be one, under a secret-looking name or holding something the rules
    /// (and user patterns) redact. Only the latter needs a scan, so it comes last.
    fn env_value_is_secret(&self, name: &str, value: &str) -> bool {
        if !env_value_can_be_secret(value) {
            return false;
        }
        env_name_is_secret(name) || {
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

    /// A redactor of plain text that comes one line at a time (a stderr log): like
    /// [`Redactor::redact`] on each line, and a private-key block whose lines come one by
    /// one is redacted whole, its body and footer lines too.
    pub fn text_lines(&self) -> TextLines<'_> {
        TextLines {
            redactor: self,
            in_key: false,
        }
    }

    /// Whether `line` opens a private-key block that does not end on it.
    fn opens_key_block(&self, line: &str) -> bool {
        let Some(header) = self.pk_header.find_iter(line).last() else {
            return false;
        };
        !self
            .pk_footer
            .is_match(Input::new(line).span(header.end()..line.len()))
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

    /// Runs the combined regex over `text[start..end]` and records its hits: a shape rule
    /// or user pattern as matched, a context rule only for the part its rule says, with
    /// any shape inside that part found too; with `env`, the environment values as well.
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
            let (span, accepted) = context_value(ctx, text, &caps);
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

    /// Records the exact environment values found in `text[start..end]`.
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

/// Plain-text lines redacted in order (see [`Redactor::text_lines`]): remembers whether a
/// private-key block is open, so that its body and footer, which hold no trigger of their
/// own, are redacted too. The block ends at its footer, or at the first line that cannot
/// be part of a key (a block cut short).
pub struct TextLines<'r> {
    redactor: &'r Redactor,
    in_key: bool,
}

impl TextLines<'_> {
    /// The label of the lines of a private-key block.
    const KEY_LABEL: &'static str = "[REDACTED:private-key]";

    /// Redacts the next line (without its newline).
    pub fn redact_line<'a>(&mut self, line: &'a str) -> Cow<'a, str> {
        let r = self.redactor;
        if self.in_key {
            if let Some(footer) = r.pk_footer.find(line) {
                self.in_key = false;
                let rest = &line[footer.end()..];
                return Cow::Owned(format!("{}{}", Self::KEY_LABEL, self.redact_line(rest)));
            }
            if r.pk_body_line.is_match(line) {
                return if line.trim().is_empty() {
                    Cow::Borrowed(line)
                } else {
                    Cow::Borrowed(Self::KEY_LABEL)
                };
            }
            self.in_key = false;
        }
        let redacted = r.redact(line);
        self.in_key = r.opens_key_block(line);
        redacted
    }
}

/// Records a hit for `slot`, unless the span is empty (a context rule may give one).
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

/// The nearest character boundary at or before `i` (clamped to the text), so slicing
/// never panics.
fn floor_boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The nearest character boundary at or after `i` (clamped to the text), so slicing
/// never panics.
fn ceil_boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// The whitespace JSON allows between tokens.
const JSON_WS: [char; 4] = [' ', '\t', '\n', '\r'];

/// Index of the newline ending the line that holds `from`, or the end of `b`.
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
