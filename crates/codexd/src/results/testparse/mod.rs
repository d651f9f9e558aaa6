//! Test-run counts read from the output of a shell command that Codex ran.
//!
//! Codex reports each command as a `command_execution` item whose `aggregated_output` is the
//! command's stdout and stderr merged. [`parse`] finds the summary lines that a test runner
//! prints about its own run and turns them into a [`TestRun`]; output that holds no such
//! summary (a build, a listing, prose that happens to say "3 passed") gives `None`.
//! [`TestSummary`] adds runs up. Detection relies on the output, so `make test` or
//! `npm test` wrapping a runner is recognised; the command is only a hint for output that
//! two runners print alike (mocha's TAP reporter prints node's TAP summary). ANSI escapes
//! and carriage-return redraws are removed before anything is matched, since Codex's
//! `NO_COLOR=1`/`TERM=dumb` does not stop every tool from colouring.
//!
//! Formats, and where each fixture under `fixtures/` came from (every fixture is
//! the whole merged output, `2>&1`, of a real run on a tiny throwaway project, generated
//! with `NO_COLOR=1 TERM=dumb CI=1` unless its name says `color`):
//!
//! - `cargo-test`: libtest's `test result: ok. 2 passed; 1 failed; 1 ignored; ...` lines,
//!   one per test binary and one for doc-tests, added up; ignored counts as skipped.
//!   Failing names from `---- name stdout ----` and the `failures:` list. Fixtures
//!   `cargo-test-*.txt`: cargo 1.95.0 (`cargo test`, `cargo test --no-fail-fast`,
//!   `cargo test --doc`, `cargo test --color=always -- --color=always`);
//!   `cargo-test-compile-error.txt` and `not-test-cargo-build.txt` are runs with no summary.
//! - `cargo-nextest`: `Summary [ 0.098s] 4 tests run: 3 passed, 1 failed, 1 skipped`
//!   (`failed`, `exec failed` and `timed out` count as failed); failing names are the
//!   `FAIL [ 0.097s] (4/4) binary-id test::name` status lines, as nextest names them
//!   (binary id, space, test path), less tests that passed on a retry. The libtest output
//!   that nextest echoes for a failure is not counted again; only a `Doc-tests` section of a
//!   separate `cargo test --doc` is. Fixtures `cargo-nextest-*.txt`: cargo-nextest 0.9.143.
//! - `pytest`: the final `1 failed, 2 passed, 1 skipped in 0.03s` line, bare (`-q`) or
//!   inside `=` rules; `error`/`errors` count as failed, `xfailed` as skipped, `xpassed`
//!   as passed. Failing names from the short summary's `FAILED id - msg` and `ERROR id`
//!   lines. Fixtures `pytest-*.txt`: pytest 9.2.0 on Python 3.11.7 (`pytest`, `pytest -q`,
//!   `pytest -rA`, `pytest -q --color=yes`, a setup error and a collection error).
//! - `unittest`: `Ran 5 tests in 0.001s` followed by `OK (skipped=1)` or
//!   `FAILED (failures=1, errors=1, skipped=1)`; errors and unexpected successes count as
//!   failed, expected failures as skipped. Failing names from `FAIL:`/`ERROR:` headers, as
//!   the dotted id in parentheses. Fixtures `unittest-*.txt`: Python 3.11.7
//!   (`python3 -m unittest`, `python3 -m unittest -v`).
//! - `go-test`: `--- PASS/FAIL/SKIP: TestName (0.00s)` lines (subtests included, as go
//!   reports them) and package lines `ok  \tpkg\t0.01s` / `FAIL\tpkg\t0.01s`. Plain
//!   `go test` prints nothing for a passing or skipped test, so for a package with no
//!   per-test lines an `ok` line counts as one pass (the package), and a `FAIL` line with no
//!   `--- FAIL` before it (build failure, panic in init) as one failure named by the
//!   package; passing tests of a package that also had failures are not knowable and are
//!   not counted. `-v` gives exact per-test counts. Fixtures `go-test-*.txt`: go 1.19.8
//!   (Debian golang-go; `go test ./...`, `go test -v ./...`; `go-test*-mixed.txt` adds a
//!   package that fails to build and a table test with a failing subtest).
//! - `jest`: `Tests:       1 failed, 1 skipped, 3 passed, 5 total` (todo counts as skipped);
//!   failing names from `● Suite › test` headers. A suite that fails to load
//!   (`● Test suite failed to run`) has no tests in that count, so it adds one failure named
//!   by its file. Fixtures `jest-*.txt`: jest 30.5.2 (`npx jest`, `npx jest --colors`).
//! - `vitest`: `Tests  1 failed | 3 passed | 1 skipped (5)` (todo counts as skipped);
//!   failing names from `FAIL  file > suite > test` lines. A suite that fails to load is
//!   listed under `Failed Suites N` and adds one failure named by its file. Fixtures
//!   `vitest-*.txt`: vitest 3.2.7 (`npx vitest run`).
//! - `mocha`: `2 passing (6ms)`, `1 failing`, `1 pending` (pending counts as skipped);
//!   failing names from the numbered failure titles, suite and test joined by spaces as
//!   mocha's `fullTitle()` does. Fixtures `mocha-*.txt`: mocha 12.0.3 (`npx mocha`, and
//!   `npx mocha --reporter tap`, which is read like node's TAP summary and named `mocha`
//!   when the command mentions mocha).
//! - `node-test`: node's built-in runner, TAP (`# pass 2`, `# fail 1`, `# skipped 1`,
//!   `# todo 0`, `# cancelled 0`) or the spec reporter (`ℹ pass 2`, ...); cancelled counts
//!   as failed, todo as skipped. Failing names from `not ok N - name` (suites left out) or
//!   `✖ name (1.2ms)` (suites left out). Fixtures `node-test-*.txt`: node v20.20.2
//!   (`node --test`, which prints TAP when piped, and `node --test --test-reporter=spec`).
//!
//! `not-test-ls.txt` is `ls -la` output. On the generating machine every `npx` run printed
//! an `npm warn Unknown user config "nodedir"` line first; it is left in, as real noise.

use regex::Regex;
use std::ops::Deref;
use std::sync::{LazyLock, OnceLock};

pub use codexd_api::result::{TestRun, TestSummary};

/// Adds every run found in one command's output ([`parse_all`]) to `totals`; returns how
/// many.
pub fn add_output(totals: &mut TestSummary, command: &str, output: &str) -> usize {
    let runs = parse_all(command, output);
    let n = runs.len();
    for run in runs {
        totals.add(run);
    }
    n
}

/// Parses a command's output; `None` when the output holds no recognised test summary (a
/// command that is not a test run contributes nothing).
///
/// When summaries of several runners are present (say `cargo test && pytest`), this gives
/// the one whose summary comes first; [`parse_all`] gives them all.
pub fn parse(command: &str, output: &str) -> Option<TestRun> {
    parse_all(command, output).into_iter().next()
}

/// Parses a command's output into one [`TestRun`] per runner whose summary it holds, in
/// the order of their first summary line; several summaries of one runner are added up.
pub fn parse_all(command: &str, output: &str) -> Vec<TestRun> {
    let cleaned = clean(output);
    // Most command output holds no test summary at all: one pass of the summary gate over
    // the whole output rules that out before nine parsers look at every line.
    if !SUMMARY_GATE.is_match(&cleaned.join("\n")) {
        return Vec::new();
    }
    let lines: Vec<&str> = cleaned.iter().map(String::as_str).collect();
    let nextest = Found::scan("cargo-nextest", |run| parse_nextest(&lines, run));
    let mut found: Vec<Found> = [
        Found::scan("cargo-test", |run| {
            parse_cargo_test(&lines, nextest.is_some(), run)
        }),
        nextest,
        Found::scan("pytest", |run| parse_pytest(&lines, run)),
        Found::scan("unittest", |run| parse_unittest(&lines, run)),
        Found::scan("go-test", |run| parse_go_test(&lines, run)),
        Found::scan("jest", |run| parse_jest(&lines, run)),
        Found::scan("vitest", |run| parse_vitest(&lines, run)),
        Found::scan("mocha", |run| parse_mocha(&lines, run)),
        Found::scan(tap_runner(command), |run| parse_node_test(&lines, run)),
    ]
    .into_iter()
    .flatten()
    .collect();
    found.sort_by_key(|f| f.at);
    found.into_iter().map(|f| f.run).collect()
}

/// Matches (in multi-line mode) every line on which some parser finds a summary: each
/// parser reports a run only from one of these lines, so output without any has no run.
/// Multi-line matching can only find more than line-by-line matching (`\s` may cross a
/// line end), never less, so the gate never hides a summary.
static SUMMARY_GATE: LazyLock<Regex> = LazyLock::new(|| {
    let triggers: [&Pattern; 12] = [
        &CARGO_RESULT,
        &NEXTEST_SUMMARY,
        &PYTEST_SUMMARY,
        &UNITTEST_RAN,
        &GO_TEST_LINE,
        &GO_PKG_OK,
        &GO_PKG_FAIL,
        &JEST_TESTS,
        &VITEST_TESTS,
        &VITEST_FILES,
        &MOCHA_PASSING,
        &NODE_SUMMARY,
    ];
    let alternatives: Vec<String> = triggers
        .iter()
        .map(|trigger| format!("(?:{})", trigger.source))
        .collect();
    re(&format!("(?m){}", alternatives.join("|")))
});

/// A runner's result and the index of its first summary line.
struct Found {
    at: usize,
    run: TestRun,
}

impl Found {
    /// Runs one runner's parser: it adds what it reads to a fresh run of `runner` and gives
    /// the index of its first summary line (`None`: there is none, so no run either).
    fn scan(runner: &str, parse: impl FnOnce(&mut TestRun) -> Option<usize>) -> Option<Found> {
        let mut run = TestRun::new(runner);
        let at = parse(&mut run)?;
        Some(Found { at, run })
    }
}

fn push_unique(names: &mut Vec<String>, name: &str) {
    let name = name.trim();
    if !name.is_empty() && !names.iter().any(|n| n == name) {
        names.push(name.to_string());
    }
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("testparse: built-in pattern is valid")
}

/// A built-in pattern, compiled the first time it is matched. [`SUMMARY_GATE`] joins the
/// triggers' sources without compiling each of them.
struct Pattern {
    source: &'static str,
    regex: OnceLock<Regex>,
}

impl Pattern {
    const fn new(source: &'static str) -> Self {
        Pattern {
            source,
            regex: OnceLock::new(),
        }
    }
}

impl Deref for Pattern {
    type Target = Regex;

    fn deref(&self) -> &Regex {
        self.regex.get_or_init(|| re(self.source))
    }
}

fn num(s: &str) -> u64 {
    s.parse().unwrap_or(0)
}

/// Passed, failed and skipped counts, before they are added to a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    passed: u64,
    failed: u64,
    skipped: u64,
}

/// Which count of a run a word of a summary adds to.
#[derive(Debug, Clone, Copy)]
enum Count {
    Passed,
    Failed,
    Skipped,
}

impl Counts {
    /// Adds up `(number, word)` pairs such as `("3", "passed")`, each number to the count
    /// that the runner's `count_of` gives for its word (to none for `None`).
    fn of_words<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        count_of: impl Fn(&str) -> Option<Count>,
    ) -> Counts {
        let mut counts = Counts::default();
        for (n, word) in pairs {
            let count = match count_of(word) {
                Some(Count::Passed) => &mut counts.passed,
                Some(Count::Failed) => &mut counts.failed,
                Some(Count::Skipped) => &mut counts.skipped,
                None => continue,
            };
            *count += num(n);
        }
        counts
    }

    /// Adds these counts to `run`'s.
    fn add_to(self, run: &mut TestRun) {
        run.passed += self.passed;
        run.failed += self.failed;
        run.skipped += self.skipped;
    }
}

static ANSI: Pattern =
    Pattern::new(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-_])");

/// Strips ANSI escapes and keeps, of each line, what a terminal would show after its last
/// carriage return.
fn clean(output: &str) -> Vec<String> {
    let stripped = ANSI.replace_all(output, "");
    stripped
        .split('\n')
        .map(|line| {
            let line = line.strip_suffix('\r').unwrap_or(line);
            let shown = line.rsplit('\r').next().unwrap_or(line);
            shown.replace('\x1b', "")
        })
        .collect()
}

// ---- cargo test (libtest) ----

static CARGO_RESULT: Pattern = Pattern::new(
    r"^test result: (?:ok|FAILED)\. (\d+) passed; (\d+) failed; (\d+) ignored; (\d+) measured; (\d+) filtered out",
);
static CARGO_FAIL_HEADER: Pattern = Pattern::new(r"^---- (.+) stdout ----$");
static CARGO_LIST_ITEM: Pattern = Pattern::new(r"^    (\S.*?)\s*$");
static CARGO_DOC_HEADER: Pattern = Pattern::new(r"^\s*Doc-tests \S+\s*$");
static CARGO_RUNNING: Pattern = Pattern::new(r"^\s+Running \S");

/// libtest summaries. With `doc_only` (nextest also ran), only `Doc-tests` sections count:
/// nextest runs no doc-tests, and any other libtest output is nextest's own per-test echo.
fn parse_cargo_test(lines: &[&str], doc_only: bool, run: &mut TestRun) -> Option<usize> {
    let mut at = None;
    let mut in_doc = false;
    let mut in_list = false;
    for (i, line) in lines.iter().enumerate() {
        if CARGO_DOC_HEADER.is_match(line) {
            in_doc = true;
        } else if CARGO_RUNNING.is_match(line) {
            in_doc = false;
        }
        if doc_only && !in_doc {
            continue;
        }
        if in_list {
            match CARGO_LIST_ITEM.captures(line) {
                Some(c) => {
                    run.note_failing(&c[1]);
                    continue;
                }
                None => in_list = false,
            }
        }
        if *line == "failures:" {
            in_list = true;
        } else if let Some(c) = CARGO_FAIL_HEADER.captures(line) {
            run.note_failing(&c[1]);
        } else if let Some(c) = CARGO_RESULT.captures(line) {
            at.get_or_insert(i);
            run.passed += num(&c[1]);
            run.failed += num(&c[2]);
            run.skipped += num(&c[3]);
        }
    }
    at
}

// ---- cargo nextest ----

static NEXTEST_SUMMARY: Pattern =
    Pattern::new(r"^\s*Summary \[[^\]]*\] (?:\d+/)?\d+ tests? run: (.+)$");
static NEXTEST_STATUS: Pattern = Pattern::new(
    r"^\s*([A-Z][A-Z0-9 +/-]*?) \[[^\]]*\] (?:\(\s*\d+/\s*\d+\) )?(?:\[\d+(?:/\d+)?\] )?(\S.*?)\s*$",
);
static PAREN_GROUP: Pattern = Pattern::new(r"\([^)]*\)");
static COUNT_WORDS: Pattern = Pattern::new(r"^(\d+) ([a-z][a-z ]*?)$");

fn nextest_status_fails(status: &str) -> bool {
    let status = status.trim();
    let last = status.rsplit(' ').next().unwrap_or(status);
    status.contains("FAIL")
        || status.contains("FL+LK")
        || last == "TIMEOUT"
        || last == "TMT"
        || last == "ABORT"
        || last.starts_with("SIG")
}

fn nextest_status_passes(status: &str) -> bool {
    let status = status.trim();
    status.starts_with("FLAKY")
        || status.ends_with("PASS")
        || status.contains("SLOW")
        || status == "LEAK"
        || status.contains("TMPASS")
}

fn parse_nextest(lines: &[&str], run: &mut TestRun) -> Option<usize> {
    let mut at = None;
    for (i, line) in lines.iter().enumerate() {
        if let Some(c) = NEXTEST_SUMMARY.captures(line) {
            at.get_or_insert(i);
            let body = PAREN_GROUP.replace_all(&c[1], "");
            let body = body.split(';').next().unwrap_or("");
            let parts = body
                .split(',')
                .filter_map(|part| COUNT_WORDS.captures(part.trim()))
                .map(|p| {
                    let (_, [n, word]) = p.extract();
                    (n, word)
                });
            Counts::of_words(parts, |word| match word {
                "passed" => Some(Count::Passed),
                "failed" | "exec failed" | "timed out" => Some(Count::Failed),
                "skipped" => Some(Count::Skipped),
                _ => None,
            })
            .add_to(run);
        } else if let Some(c) = NEXTEST_STATUS.captures(line) {
            let (status, name) = (&c[1], &c[2]);
            if nextest_status_fails(status) {
                run.note_failing(name);
            } else if nextest_status_passes(status) {
                run.failing.retain(|n| n != name.trim());
            }
        }
    }
    at
}

// ---- pytest ----

static PYTEST_SUMMARY: Pattern = Pattern::new(
    r"^(?:=+ )?((?:\d+ [a-z]+(?:, )?)+|no tests ran) in \d+(?:\.\d+)?s(?: \([^)]*\))?(?: =+)?$",
);
static PYTEST_FAILED: Pattern = Pattern::new(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$");

fn parse_pytest(lines: &[&str], run: &mut TestRun) -> Option<usize> {
    let mut at = None;
    for (i, line) in lines.iter().enumerate() {
        let line = line.trim_end();
        if let Some(c) = PYTEST_SUMMARY.captures(line) {
            at.get_or_insert(i);
            let parts = c[1].split(", ").filter_map(|part| part.split_once(' '));
            Counts::of_words(parts, |word| match word {
                "passed" | "xpassed" => Some(Count::Passed),
                "failed" | "error" | "errors" => Some(Count::Failed),
                "skipped" | "xfailed" => Some(Count::Skipped),
                _ => None,
            })
            .add_to(run);
        } else if let Some(c) = PYTEST_FAILED.captures(line) {
            run.note_failing(&c[1]);
        }
    }
    at
}

// ---- unittest ----

static UNITTEST_RAN: Pattern = Pattern::new(r"^Ran (\d+) tests? in \d+(?:\.\d+)?s\s*$");
static UNITTEST_STATUS: Pattern = Pattern::new(r"^(OK|FAILED|NO TESTS RAN)(?: \((.*)\))?\s*$");
static UNITTEST_HEADER: Pattern =
    Pattern::new(r"^(?:FAIL|ERROR|UNEXPECTED SUCCESS): (\S+) \(([^)\s]+)\)");

fn parse_unittest(lines: &[&str], run: &mut TestRun) -> Option<usize> {
    let mut at = None;
    for (i, line) in lines.iter().enumerate() {
        if let Some(c) = UNITTEST_HEADER.captures(line) {
            let (method, id) = (&c[1], &c[2]);
            // Python 3.11+ puts the full id in the parentheses; older ones only the class.
            if id.ends_with(&format!(".{method}")) {
                run.note_failing(id);
            } else {
                run.note_failing(&format!("{id}.{method}"));
            }
            continue;
        }
        let Some(c) = UNITTEST_RAN.captures(line) else {
            continue;
        };
        let Some(status) = lines[i + 1..]
            .iter()
            .find(|l| !l.trim().is_empty())
            .and_then(|l| UNITTEST_STATUS.captures(l))
        else {
            continue;
        };
        at.get_or_insert(i);
        let ran = num(&c[1]);
        let details = status.get(2).map_or("", |m| m.as_str());
        let parts = details.split(", ").filter_map(|part| part.split_once('='));
        let counts = Counts::of_words(parts.map(|(key, n)| (n, key.trim())), |key| match key {
            "failures" | "errors" | "unexpected successes" => Some(Count::Failed),
            "skipped" | "expected failures" => Some(Count::Skipped),
            _ => None,
        });
        run.failed += counts.failed;
        run.skipped += counts.skipped;
        run.passed += ran.saturating_sub(counts.failed + counts.skipped);
    }
    at
}

// ---- go test ----

static GO_TEST_LINE: Pattern = Pattern::new(r"^\s*--- (PASS|FAIL|SKIP): (\S+) \(\d+(?:\.\d+)?s\)");
static GO_PKG_OK: Pattern = Pattern::new(r"^ok\s+(\S+)\s+(?:\d+(?:\.\d+)?s|\(cached\))(.*)$");
static GO_PKG_FAIL: Pattern = Pattern::new(r"^FAIL\s+(\S+)\s+(?:\d+(?:\.\d+)?s|\[[^\]]+\])\s*$");

fn parse_go_test(lines: &[&str], run: &mut TestRun) -> Option<usize> {
    let mut at = None;
    // Per-test lines seen since the last package line.
    let mut pending = Counts::default();
    for (i, line) in lines.iter().enumerate() {
        if let Some(c) = GO_TEST_LINE.captures(line) {
            at.get_or_insert(i);
            match &c[1] {
                "PASS" => pending.passed += 1,
                "FAIL" => {
                    pending.failed += 1;
                    run.note_failing(&c[2]);
                }
                _ => pending.skipped += 1,
            }
        } else if let Some(c) = GO_PKG_OK.captures(line) {
            at.get_or_insert(i);
            let seen = std::mem::take(&mut pending);
            if seen == Counts::default() {
                if !c[2].contains("[no tests to run]") {
                    run.passed += 1;
                }
            } else {
                seen.add_to(run);
            }
        } else if let Some(c) = GO_PKG_FAIL.captures(line) {
            at.get_or_insert(i);
            if pending.failed == 0 {
                run.failed += 1;
                run.note_failing(&c[1]);
            }
            std::mem::take(&mut pending).add_to(run);
        }
    }
    // Per-test lines without a package line (output cut short): count what was seen.
    pending.add_to(run);
    at
}

// ---- jest ----

static JEST_TESTS: Pattern = Pattern::new(r"^Tests:\s+(.*?)\s*$");
static JEST_FILE: Pattern = Pattern::new(r"^\s*FAIL\s+(\S+)");
static JEST_BULLET: Pattern = Pattern::new(r"^\s*● (.+?)\s*$");

fn parse_jest(lines: &[&str], run: &mut TestRun) -> Option<usize> {
    let mut at = None;
    let mut file: Option<&str> = None;
    let mut broken_suites: Vec<String> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some(c) = JEST_TESTS.captures(line) {
            let body = c.get(1).map_or("", |m| m.as_str());
            if !body.ends_with(" total") {
                continue;
            }
            at.get_or_insert(i);
            let parts = body.split(", ").filter_map(|part| part.split_once(' '));
            Counts::of_words(parts, |word| match word {
                "passed" => Some(Count::Passed),
                "failed" => Some(Count::Failed),
                "skipped" | "todo" | "pending" => Some(Count::Skipped),
                _ => None,
            })
            .add_to(run);
        } else if let Some(c) = JEST_FILE.captures(line) {
            file = c.get(1).map(|m| m.as_str());
        } else if let Some(c) = JEST_BULLET.captures(line) {
            match &c[1] {
                "Test suite failed to run" => {
                    if let Some(file) = file {
                        push_unique(&mut broken_suites, file);
                        run.note_failing(file);
                    }
                }
                name if name.starts_with("Console") => {}
                name => run.note_failing(name),
            }
        }
    }
    run.failed += broken_suites.len() as u64;
    at
}

// ---- vitest ----

static VITEST_TESTS: Pattern = Pattern::new(r"^\s*Tests\s+(.+?)\s+\(\d+\)\s*$");
static VITEST_FILES: Pattern = Pattern::new(r"^\s*Test Files\s+(.+?)\s+\(\d+\)\s*$");
static VITEST_FAIL: Pattern = Pattern::new(r"^\s*FAIL\s+(.+?)\s*$");
static VITEST_SECTION: Pattern = Pattern::new(r"^⎯+ Failed (Suites|Tests) (\d+) ⎯+$");
static VITEST_SUITE_SUFFIX: Pattern = Pattern::new(r"^(.*?) \[ .* \]$");

fn parse_vitest(lines: &[&str], run: &mut TestRun) -> Option<usize> {
    let mut at = None;
    let mut in_failed_suites = false;
    let mut broken_suites: Vec<String> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some(c) = VITEST_TESTS.captures(line) {
            at.get_or_insert(i);
            let parts = c[1]
                .split(" | ")
                .filter_map(|part| part.trim().split_once(' '));
            Counts::of_words(parts, |word| match word {
                "passed" => Some(Count::Passed),
                "failed" => Some(Count::Failed),
                "skipped" | "todo" => Some(Count::Skipped),
                _ => None,
            })
            .add_to(run);
        } else if VITEST_FILES.is_match(line) {
            at.get_or_insert(i);
        } else if let Some(c) = VITEST_SECTION.captures(line) {
            in_failed_suites = &c[1] == "Suites";
        } else if let Some(c) = VITEST_FAIL.captures(line) {
            let name = &c[1];
            if in_failed_suites {
                let file = VITEST_SUITE_SUFFIX
                    .captures(name)
                    .and_then(|s| s.get(1))
                    .map_or(name, |m| m.as_str());
                push_unique(&mut broken_suites, file);
                run.note_failing(file);
            } else {
                run.note_failing(name);
            }
        }
    }
    run.failed += broken_suites.len() as u64;
    at
}

// ---- mocha ----

static MOCHA_PASSING: Pattern = Pattern::new(r"^\s*(\d+) passing \(\d+(?:\.\d+)?\w*\)\s*$");
static MOCHA_FAILING: Pattern = Pattern::new(r"^\s*(\d+) failing\s*$");
static MOCHA_PENDING: Pattern = Pattern::new(r"^\s*(\d+) pending\s*$");
static MOCHA_TITLE: Pattern = Pattern::new(r"^  (\d+)\) (.+?)\s*$");

/// The longest a numbered failure title may run over lines (one line per nested suite).
const MOCHA_TITLE_MAX_LINES: usize = 12;

fn parse_mocha(lines: &[&str], run: &mut TestRun) -> Option<usize> {
    let mut at = None;
    let mut next_failure = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(c) = MOCHA_PASSING.captures(line) {
            at.get_or_insert(i);
            run.passed += num(&c[1]);
        } else if let Some(c) = MOCHA_FAILING.captures(line) {
            if at.is_some() {
                run.failed += num(&c[1]);
                next_failure = Some(1);
            }
        } else if let Some(c) = MOCHA_PENDING.captures(line) {
            if at.is_some() {
                run.skipped += num(&c[1]);
            }
        } else if let (Some(expected), Some(c)) = (next_failure, MOCHA_TITLE.captures(line))
            && num(&c[1]) == expected
        {
            let mut parts = vec![c[2].to_string()];
            let mut j = i;
            while !parts.last().is_some_and(|p| p.ends_with(':'))
                && j + 1 < lines.len()
                && parts.len() < MOCHA_TITLE_MAX_LINES
            {
                j += 1;
                let more = lines[j].trim();
                if more.is_empty() {
                    break;
                }
                parts.push(more.to_string());
            }
            if parts.last().is_some_and(|p| p.ends_with(':')) {
                let title = parts.join(" ");
                run.note_failing(title.strip_suffix(':').unwrap_or(&title));
                i = j;
            }
            next_failure = Some(expected + 1);
        }
        i += 1;
    }
    at
}

// ---- node --test (and other TAP summaries) ----

static NODE_SUMMARY: Pattern =
    Pattern::new(r"^(?:#|ℹ) (tests|suites|pass|fail|cancelled|skipped|todo) (\d+)\s*$");
static TAP_NOT_OK: Pattern = Pattern::new(r"^(\s*)not ok \d+(?: -)? (.*?)\s*$");
static TAP_SKIP_OK: Pattern = Pattern::new(r"^ok \d+ .*# (?i:skip)");
static TAP_DIRECTIVE: Pattern = Pattern::new(r"(?i)\s+# (todo|skip)\b.*$");
static SPEC_FAIL: Pattern = Pattern::new(r"^\s*✖ (.+?) \(\d+(?:\.\d+)?m?s\)(.*)$");
static SPEC_SUITE: Pattern = Pattern::new(r"^\s*▶ (.+?)\s*$");

/// Whether the `not ok` at `lines[i]` is a suite: node's YAML block under it says
/// `type: 'suite'`.
fn tap_entry_is_suite(lines: &[&str], i: usize, indent: usize) -> bool {
    for line in lines.iter().skip(i + 1) {
        let trimmed = line.trim_start();
        let this_indent = line.len() - trimmed.len();
        if trimmed.is_empty() {
            continue;
        }
        if this_indent <= indent || trimmed == "..." {
            return false;
        }
        if trimmed == "type: 'suite'" {
            return true;
        }
    }
    false
}

/// The runner a TAP summary is named by: mocha's TAP reporter prints node's summary, so only
/// the command tells them apart.
fn tap_runner(command: &str) -> &'static str {
    if command.contains("mocha") {
        "mocha"
    } else {
        "node-test"
    }
}

fn parse_node_test(lines: &[&str], run: &mut TestRun) -> Option<usize> {
    let mut at = None;
    let mut block: Option<(usize, [Option<u64>; 5])> = None;
    let mut blocks: Vec<(usize, [Option<u64>; 5])> = Vec::new();
    let mut suites: Vec<&str> = Vec::new();
    let mut tap_skips = 0u64;
    for (i, line) in lines.iter().enumerate() {
        if let Some(c) = NODE_SUMMARY.captures(line) {
            let key = &c[1];
            let n = num(&c[2]);
            if key == "tests" {
                if let Some(done) = block.take() {
                    blocks.push(done);
                }
                block = Some((i, [None; 5]));
                continue;
            }
            let slot = match key {
                "pass" => 0,
                "fail" => 1,
                "cancelled" => 2,
                "skipped" => 3,
                "todo" => 4,
                _ => continue,
            };
            if let Some((_, counts)) = block.as_mut() {
                counts[slot] = Some(n);
            }
        } else if let Some(c) = TAP_NOT_OK.captures(line) {
            let name = c[2].to_string();
            if TAP_DIRECTIVE.is_match(&name) || tap_entry_is_suite(lines, i, c[1].len()) {
                continue;
            }
            run.note_failing(&name.replace("\\#", "#").replace("\\\\", "\\"));
        } else if TAP_SKIP_OK.is_match(line) {
            tap_skips += 1;
        } else if let Some(c) = SPEC_SUITE.captures(line) {
            suites.push(c.get(1).map_or("", |m| m.as_str()));
        } else if let Some(c) = SPEC_FAIL.captures(line)
            && !TAP_DIRECTIVE.is_match(&c[2])
            && !suites.contains(&&c[1])
        {
            run.note_failing(&c[1]);
        }
    }
    if let Some(done) = block.take() {
        blocks.push(done);
    }
    for (start, [pass, fail, cancelled, skipped, todo]) in blocks {
        let (Some(pass), Some(fail)) = (pass, fail) else {
            continue;
        };
        at.get_or_insert(start);
        run.passed += pass;
        run.failed += fail + cancelled.unwrap_or(0);
        // mocha's TAP reporter prints no skipped count; its skips are `ok N ... # SKIP`.
        run.skipped += skipped.unwrap_or(tap_skips) + todo.unwrap_or(0);
    }
    at
}

#[cfg(test)]
mod tests;
