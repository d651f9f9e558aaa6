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
use std::sync::LazyLock;

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
    let nextest = parse_nextest(&lines);
    let mut found: Vec<Found> = [
        parse_cargo_test(&lines, nextest.is_some()),
        nextest,
        parse_pytest(&lines),
        parse_unittest(&lines),
        parse_go_test(&lines),
        parse_jest(&lines),
        parse_vitest(&lines),
        parse_mocha(&lines),
        parse_node_test(&lines, command),
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
    let triggers: [&Regex; 12] = [
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
        .map(|trigger| format!("(?:{})", trigger.as_str()))
        .collect();
    re(&format!("(?m){}", alternatives.join("|")))
});

/// A runner's result and the index of its first summary line.
struct Found {
    at: usize,
    run: TestRun,
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

fn num(s: &str) -> u64 {
    s.parse().unwrap_or(0)
}

static ANSI: LazyLock<Regex> =
    LazyLock::new(|| re(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-_])"));

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

static CARGO_RESULT: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^test result: (?:ok|FAILED)\. (\d+) passed; (\d+) failed; (\d+) ignored; (\d+) measured; (\d+) filtered out",
    )
});
static CARGO_FAIL_HEADER: LazyLock<Regex> = LazyLock::new(|| re(r"^---- (.+) stdout ----$"));
static CARGO_LIST_ITEM: LazyLock<Regex> = LazyLock::new(|| re(r"^    (\S.*?)\s*$"));
static CARGO_DOC_HEADER: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*Doc-tests \S+\s*$"));
static CARGO_RUNNING: LazyLock<Regex> = LazyLock::new(|| re(r"^\s+Running \S"));

/// libtest summaries. With `doc_only` (nextest also ran), only `Doc-tests` sections count:
/// nextest runs no doc-tests, and any other libtest output is nextest's own per-test echo.
fn parse_cargo_test(lines: &[&str], doc_only: bool) -> Option<Found> {
    let mut run = TestRun::new("cargo-test");
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
    at.map(|at| Found { at, run })
}

// ---- cargo nextest ----

static NEXTEST_SUMMARY: LazyLock<Regex> =
    LazyLock::new(|| re(r"^\s*Summary \[[^\]]*\] (?:\d+/)?\d+ tests? run: (.+)$"));
static NEXTEST_STATUS: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^\s*([A-Z][A-Z0-9 +/-]*?) \[[^\]]*\] (?:\(\s*\d+/\s*\d+\) )?(?:\[\d+(?:/\d+)?\] )?(\S.*?)\s*$",
    )
});
static PAREN_GROUP: LazyLock<Regex> = LazyLock::new(|| re(r"\([^)]*\)"));
static COUNT_WORDS: LazyLock<Regex> = LazyLock::new(|| re(r"^(\d+) ([a-z][a-z ]*?)$"));

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

fn parse_nextest(lines: &[&str]) -> Option<Found> {
    let mut run = TestRun::new("cargo-nextest");
    let mut at = None;
    for (i, line) in lines.iter().enumerate() {
        if let Some(c) = NEXTEST_SUMMARY.captures(line) {
            at.get_or_insert(i);
            let body = PAREN_GROUP.replace_all(&c[1], "");
            let body = body.split(';').next().unwrap_or("");
            for part in body.split(',') {
                let Some(p) = COUNT_WORDS.captures(part.trim()) else {
                    continue;
                };
                let n = num(&p[1]);
                match &p[2] {
                    "passed" => run.passed += n,
                    "failed" | "exec failed" | "timed out" => run.failed += n,
                    "skipped" => run.skipped += n,
                    _ => {}
                }
            }
        } else if let Some(c) = NEXTEST_STATUS.captures(line) {
            let (status, name) = (&c[1], &c[2]);
            if nextest_status_fails(status) {
                run.note_failing(name);
            } else if nextest_status_passes(status) {
                run.failing.retain(|n| n != name.trim());
            }
        }
    }
    at.map(|at| Found { at, run })
}

// ---- pytest ----

static PYTEST_SUMMARY: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^(?:=+ )?((?:\d+ [a-z]+(?:, )?)+|no tests ran) in \d+(?:\.\d+)?s(?: \([^)]*\))?(?: =+)?$")
});
static PYTEST_FAILED: LazyLock<Regex> = LazyLock::new(|| re(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$"));

fn parse_pytest(lines: &[&str]) -> Option<Found> {
    let mut run = TestRun::new("pytest");
    let mut at = None;
    for (i, line) in lines.iter().enumerate() {
        let line = line.trim_end();
        if let Some(c) = PYTEST_SUMMARY.captures(line) {
            at.get_or_insert(i);
            for part in c[1].split(", ") {
                let Some((n, word)) = part.split_once(' ') else {
                    continue;
                };
                let n = num(n);
                match word {
                    "passed" | "xpassed" => run.passed += n,
                    "failed" | "error" | "errors" => run.failed += n,
                    "skipped" | "xfailed" => run.skipped += n,
                    _ => {}
                }
            }
        } else if let Some(c) = PYTEST_FAILED.captures(line) {
            run.note_failing(&c[1]);
        }
    }
    at.map(|at| Found { at, run })
}

// ---- unittest ----

static UNITTEST_RAN: LazyLock<Regex> =
    LazyLock::new(|| re(r"^Ran (\d+) tests? in \d+(?:\.\d+)?s\s*$"));
static UNITTEST_STATUS: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(OK|FAILED|NO TESTS RAN)(?: \((.*)\))?\s*$"));
static UNITTEST_HEADER: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(?:FAIL|ERROR|UNEXPECTED SUCCESS): (\S+) \(([^)\s]+)\)"));

fn parse_unittest(lines: &[&str]) -> Option<Found> {
    let mut run = TestRun::new("unittest");
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
        let (mut failed, mut skipped) = (0, 0);
        if let Some(details) = status.get(2) {
            for part in details.as_str().split(", ") {
                let Some((key, n)) = part.split_once('=') else {
                    continue;
                };
                match key.trim() {
                    "failures" | "errors" | "unexpected successes" => failed += num(n),
                    "skipped" | "expected failures" => skipped += num(n),
                    _ => {}
                }
            }
        }
        run.failed += failed;
        run.skipped += skipped;
        run.passed += ran.saturating_sub(failed + skipped);
    }
    at.map(|at| Found { at, run })
}

// ---- go test ----

static GO_TEST_LINE: LazyLock<Regex> =
    LazyLock::new(|| re(r"^\s*--- (PASS|FAIL|SKIP): (\S+) \(\d+(?:\.\d+)?s\)"));
static GO_PKG_OK: LazyLock<Regex> =
    LazyLock::new(|| re(r"^ok\s+(\S+)\s+(?:\d+(?:\.\d+)?s|\(cached\))(.*)$"));
static GO_PKG_FAIL: LazyLock<Regex> =
    LazyLock::new(|| re(r"^FAIL\s+(\S+)\s+(?:\d+(?:\.\d+)?s|\[[^\]]+\])\s*$"));

fn parse_go_test(lines: &[&str]) -> Option<Found> {
    let mut run = TestRun::new("go-test");
    let mut at = None;
    // Per-test lines seen since the last package line: (passed, failed, skipped).
    let mut pending = (0u64, 0u64, 0u64);
    for (i, line) in lines.iter().enumerate() {
        if let Some(c) = GO_TEST_LINE.captures(line) {
            at.get_or_insert(i);
            match &c[1] {
                "PASS" => pending.0 += 1,
                "FAIL" => {
                    pending.1 += 1;
                    run.note_failing(&c[2]);
                }
                _ => pending.2 += 1,
            }
        } else if let Some(c) = GO_PKG_OK.captures(line) {
            at.get_or_insert(i);
            if pending == (0, 0, 0) {
                if !c[2].contains("[no tests to run]") {
                    run.passed += 1;
                }
            } else {
                run.passed += pending.0;
                run.failed += pending.1;
                run.skipped += pending.2;
            }
            pending = (0, 0, 0);
        } else if let Some(c) = GO_PKG_FAIL.captures(line) {
            at.get_or_insert(i);
            if pending.1 == 0 {
                run.failed += 1;
                run.note_failing(&c[1]);
            }
            run.passed += pending.0;
            run.failed += pending.1;
            run.skipped += pending.2;
            pending = (0, 0, 0);
        }
    }
    // Per-test lines without a package line (output cut short): count what was seen.
    run.passed += pending.0;
    run.failed += pending.1;
    run.skipped += pending.2;
    at.map(|at| Found { at, run })
}

// ---- jest ----

static JEST_TESTS: LazyLock<Regex> = LazyLock::new(|| re(r"^Tests:\s+(.*?)\s*$"));
static JEST_FILE: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*FAIL\s+(\S+)"));
static JEST_BULLET: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*● (.+?)\s*$"));

fn parse_jest(lines: &[&str]) -> Option<Found> {
    let mut run = TestRun::new("jest");
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
            for part in body.split(", ") {
                let Some((n, word)) = part.split_once(' ') else {
                    continue;
                };
                let n = num(n);
                match word {
                    "passed" => run.passed += n,
                    "failed" => run.failed += n,
                    "skipped" | "todo" | "pending" => run.skipped += n,
                    _ => {}
                }
            }
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
    at.map(|at| Found { at, run })
}

// ---- vitest ----

static VITEST_TESTS: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*Tests\s+(.+?)\s+\(\d+\)\s*$"));
static VITEST_FILES: LazyLock<Regex> =
    LazyLock::new(|| re(r"^\s*Test Files\s+(.+?)\s+\(\d+\)\s*$"));
static VITEST_FAIL: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*FAIL\s+(.+?)\s*$"));
static VITEST_SECTION: LazyLock<Regex> =
    LazyLock::new(|| re(r"^⎯+ Failed (Suites|Tests) (\d+) ⎯+$"));
static VITEST_SUITE_SUFFIX: LazyLock<Regex> = LazyLock::new(|| re(r"^(.*?) \[ .* \]$"));

fn parse_vitest(lines: &[&str]) -> Option<Found> {
    let mut run = TestRun::new("vitest");
    let mut at = None;
    let mut in_failed_suites = false;
    let mut broken_suites: Vec<String> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some(c) = VITEST_TESTS.captures(line) {
            at.get_or_insert(i);
            for part in c[1].split(" | ") {
                let Some((n, word)) = part.trim().split_once(' ') else {
                    continue;
                };
                let n = num(n);
                match word {
                    "passed" => run.passed += n,
                    "failed" => run.failed += n,
                    "skipped" | "todo" => run.skipped += n,
                    _ => {}
                }
            }
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
    at.map(|at| Found { at, run })
}

// ---- mocha ----

static MOCHA_PASSING: LazyLock<Regex> =
    LazyLock::new(|| re(r"^\s*(\d+) passing \(\d+(?:\.\d+)?\w*\)\s*$"));
static MOCHA_FAILING: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*(\d+) failing\s*$"));
static MOCHA_PENDING: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*(\d+) pending\s*$"));
static MOCHA_TITLE: LazyLock<Regex> = LazyLock::new(|| re(r"^  (\d+)\) (.+?)\s*$"));

/// The longest a numbered failure title may run over lines (one line per nested suite).
const MOCHA_TITLE_MAX_LINES: usize = 12;

fn parse_mocha(lines: &[&str]) -> Option<Found> {
    let mut run = TestRun::new("mocha");
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
    at.map(|at| Found { at, run })
}

// ---- node --test (and other TAP summaries) ----

static NODE_SUMMARY: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(?:#|ℹ) (tests|suites|pass|fail|cancelled|skipped|todo) (\d+)\s*$"));
static TAP_NOT_OK: LazyLock<Regex> = LazyLock::new(|| re(r"^(\s*)not ok \d+(?: -)? (.*?)\s*$"));
static TAP_SKIP_OK: LazyLock<Regex> = LazyLock::new(|| re(r"^ok \d+ .*# (?i:skip)"));
static TAP_DIRECTIVE: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)\s+# (todo|skip)\b.*$"));
static SPEC_FAIL: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*✖ (.+?) \(\d+(?:\.\d+)?m?s\)(.*)$"));
static SPEC_SUITE: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*▶ (.+?)\s*$"));

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

fn parse_node_test(lines: &[&str], command: &str) -> Option<Found> {
    let runner = if command.contains("mocha") {
        "mocha"
    } else {
        "node-test"
    };
    let mut run = TestRun::new(runner);
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
    at.map(|at| Found { at, run })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(runner: &str, passed: u64, failed: u64, skipped: u64, failing: &[&str]) -> TestRun {
        TestRun {
            runner: runner.to_string(),
            passed,
            failed,
            skipped,
            failing: failing.iter().map(|s| s.to_string()).collect(),
        }
    }

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("fixtures/", $name))
        };
    }

    #[track_caller]
    fn check(command: &str, output: &str, expected: TestRun) {
        assert_eq!(parse(command, output), Some(expected));
    }

    #[test]
    fn cargo_test_fixtures() {
        let fail = run("cargo-test", 2, 1, 1, &["tests::adds_wrong"]);
        check(
            "/bin/bash -lc 'cargo test'",
            fixture!("cargo-test-fail.txt"),
            fail.clone(),
        );
        check(
            "/bin/bash -lc 'cargo test --color=always -- --color=always'",
            fixture!("cargo-test-color-fail.txt"),
            fail,
        );
        // Three binaries (lib, integration, doc-tests) after the failing one add up.
        check(
            "/bin/bash -lc 'cargo test --no-fail-fast'",
            fixture!("cargo-test-no-fail-fast.txt"),
            run("cargo-test", 4, 1, 1, &["tests::adds_wrong"]),
        );
        check(
            "/bin/bash -lc 'cargo test'",
            fixture!("cargo-test-pass.txt"),
            run("cargo-test", 4, 0, 1, &[]),
        );
        check(
            "/bin/bash -lc 'cargo test --doc'",
            fixture!("cargo-test-doc.txt"),
            run("cargo-test", 1, 0, 0, &[]),
        );
        assert_eq!(
            parse("cargo test", fixture!("cargo-test-compile-error.txt")),
            None
        );
    }

    #[test]
    fn cargo_nextest_fixtures() {
        check(
            "/bin/bash -lc 'cargo nextest run'",
            fixture!("cargo-nextest-fail.txt"),
            run("cargo-nextest", 3, 1, 1, &["failing tests::adds_wrong"]),
        );
        check(
            "/bin/bash -lc 'cargo nextest run'",
            fixture!("cargo-nextest-pass.txt"),
            run("cargo-nextest", 3, 0, 1, &[]),
        );
    }

    #[test]
    fn nextest_then_doc_tests_keeps_both_and_not_the_echo() {
        let output = format!(
            "{}{}",
            fixture!("cargo-nextest-fail.txt"),
            fixture!("cargo-test-doc.txt")
        );
        let runs = parse_all("cargo nextest run; cargo test --doc", &output);
        assert_eq!(
            runs,
            vec![
                run("cargo-nextest", 3, 1, 1, &["failing tests::adds_wrong"]),
                run("cargo-test", 1, 0, 0, &[]),
            ]
        );
        // The nextest output alone holds an echoed libtest summary; it is not a cargo-test run.
        assert_eq!(
            parse_all("cargo nextest run", fixture!("cargo-nextest-fail.txt")).len(),
            1
        );
    }

    #[test]
    fn nextest_retries_and_statuses() {
        let output = "\
    Starting 3 tests across 1 binary
  TRY 1 FAIL [   0.010s] (1/3) mycrate tests::flaky
  TRY 2 PASS [   0.010s] (1/3) mycrate tests::flaky
     TIMEOUT [  60.000s] (2/3) mycrate tests::hangs
     SIGSEGV [   0.010s] (3/3) mycrate tests::crashes
────────────
     Summary [  60.100s] 3/4 tests run: 1 passed (1 flaky), 1 failed, 1 timed out, 0 skipped
   FLAKY 2/2 [   0.010s] mycrate tests::flaky
     TIMEOUT [  60.000s] mycrate tests::hangs
     SIGSEGV [   0.010s] mycrate tests::crashes
";
        check(
            "cargo nextest run --retries 1",
            output,
            run(
                "cargo-nextest",
                1,
                2,
                0,
                &["mycrate tests::hangs", "mycrate tests::crashes"],
            ),
        );
    }

    #[test]
    fn pytest_fixtures() {
        let fail = run("pytest", 2, 1, 1, &["test_calc.py::test_add_wrong"]);
        check(
            "/bin/bash -lc pytest",
            fixture!("pytest-fail.txt"),
            fail.clone(),
        );
        check(
            "/bin/bash -lc 'pytest -q'",
            fixture!("pytest-q-fail.txt"),
            fail.clone(),
        );
        check(
            "/bin/bash -lc 'pytest -rA'",
            fixture!("pytest-ra-fail.txt"),
            fail.clone(),
        );
        check(
            "/bin/bash -lc 'pytest -q --color=yes'",
            fixture!("pytest-q-color-fail.txt"),
            fail,
        );
        let pass = run("pytest", 2, 0, 0, &[]);
        check(
            "/bin/bash -lc pytest",
            fixture!("pytest-pass.txt"),
            pass.clone(),
        );
        check(
            "/bin/bash -lc 'pytest -q'",
            fixture!("pytest-q-pass.txt"),
            pass,
        );
        // 1 failed, 1 passed, 1 xfailed, 1 error.
        check(
            "/bin/bash -lc 'pytest -q'",
            fixture!("pytest-q-errors.txt"),
            run(
                "pytest",
                1,
                2,
                1,
                &[
                    "test_errors.py::test_broken",
                    "test_errors.py::test_uses_db",
                ],
            ),
        );
        check(
            "/bin/bash -lc 'pytest -q'",
            fixture!("pytest-q-collect-error.txt"),
            run("pytest", 0, 1, 0, &["test_bad.py"]),
        );
    }

    #[test]
    fn pytest_found_behind_make() {
        // `make test` wrapping pytest: the command says nothing, the output says it all.
        let output = format!(
            "python -m pytest -q tests\n{}make: *** [Makefile:3: test] Error 1\n",
            fixture!("pytest-q-fail.txt")
        );
        check(
            "/bin/bash -lc 'make test'",
            &output,
            run("pytest", 2, 1, 1, &["test_calc.py::test_add_wrong"]),
        );
    }

    #[test]
    fn unittest_fixtures() {
        let fail = run(
            "unittest",
            2,
            2,
            1,
            &[
                "test_calc.CalcTest.test_add_error",
                "test_calc.CalcTest.test_add_wrong",
            ],
        );
        check(
            "python3 -m unittest",
            fixture!("unittest-fail.txt"),
            fail.clone(),
        );
        check(
            "python3 -m unittest -v",
            fixture!("unittest-v-fail.txt"),
            fail,
        );
        let pass = run("unittest", 2, 0, 1, &[]);
        check(
            "python3 -m unittest",
            fixture!("unittest-pass.txt"),
            pass.clone(),
        );
        check(
            "python3 -m unittest -v",
            fixture!("unittest-v-pass.txt"),
            pass,
        );
    }

    #[test]
    fn unittest_older_python_header() {
        // Before Python 3.11 the parentheses held only the class.
        let output = "\
======================================================================
FAIL: test_add_wrong (test_calc.CalcTest)
----------------------------------------------------------------------
AssertionError: 4 != 5

----------------------------------------------------------------------
Ran 3 tests in 0.001s

FAILED (failures=1, expected failures=1)
";
        check(
            "python -m unittest",
            output,
            run("unittest", 1, 1, 1, &["test_calc.CalcTest.test_add_wrong"]),
        );
    }

    #[test]
    fn go_test_fixtures() {
        // Plain mode: failing tests are listed, passing ones are not; the `ok` package counts as
        // one pass.
        check(
            "/bin/bash -lc 'go test ./...'",
            fixture!("go-test-fail.txt"),
            run("go-test", 1, 1, 0, &["TestAddWrong"]),
        );
        check(
            "/bin/bash -lc 'go test -v ./...'",
            fixture!("go-test-v-fail.txt"),
            run("go-test", 3, 1, 1, &["TestAddWrong"]),
        );
        check(
            "/bin/bash -lc 'go test ./...'",
            fixture!("go-test-pass.txt"),
            run("go-test", 2, 0, 0, &[]),
        );
        check(
            "/bin/bash -lc 'go test -v ./...'",
            fixture!("go-test-v-pass.txt"),
            run("go-test", 3, 0, 1, &[]),
        );
    }

    #[test]
    fn go_test_build_failure_and_subtests() {
        let failing = ["example.com/mixed/broken", "TestDouble", "TestDouble/two"];
        check(
            "/bin/bash -lc 'go test ./...'",
            fixture!("go-test-mixed.txt"),
            run("go-test", 1, 3, 0, &failing),
        );
        check(
            "/bin/bash -lc 'go test -v ./...'",
            fixture!("go-test-v-mixed.txt"),
            run("go-test", 3, 3, 1, &failing),
        );
    }

    #[test]
    fn jest_fixtures() {
        let fail = run("jest", 3, 1, 1, &["calc › adds wrong"]);
        check(
            "/bin/bash -lc 'npx jest'",
            fixture!("jest-fail.txt"),
            fail.clone(),
        );
        check(
            "/bin/bash -lc 'npx jest --colors'",
            fixture!("jest-color-fail.txt"),
            fail,
        );
        check(
            "/bin/bash -lc 'npx jest'",
            fixture!("jest-pass.txt"),
            run("jest", 2, 0, 0, &[]),
        );
        check(
            "/bin/bash -lc 'npx jest'",
            fixture!("jest-suite-error.txt"),
            run("jest", 2, 1, 0, &["./broken.test.js"]),
        );
    }

    #[test]
    fn vitest_fixtures() {
        check(
            "/bin/bash -lc 'npx vitest run'",
            fixture!("vitest-fail.txt"),
            run("vitest", 3, 1, 1, &["calc.test.js > calc > adds wrong"]),
        );
        check(
            "/bin/bash -lc 'npx vitest run'",
            fixture!("vitest-pass.txt"),
            run("vitest", 2, 0, 0, &[]),
        );
        check(
            "/bin/bash -lc 'npx vitest run'",
            fixture!("vitest-suite-error.txt"),
            run("vitest", 2, 1, 0, &["broken.test.js"]),
        );
    }

    #[test]
    fn mocha_fixtures() {
        check(
            "/bin/bash -lc 'npx mocha'",
            fixture!("mocha-fail.txt"),
            run("mocha", 2, 1, 1, &["calc adds wrong"]),
        );
        check(
            "/bin/bash -lc 'npx mocha'",
            fixture!("mocha-pass.txt"),
            run("mocha", 2, 0, 0, &[]),
        );
        // mocha's TAP reporter looks like node's; the command tells them apart.
        let tap = run("mocha", 2, 1, 1, &["calc adds wrong"]);
        check(
            "/bin/bash -lc 'npx mocha --reporter tap'",
            fixture!("mocha-tap-fail.txt"),
            tap.clone(),
        );
        check(
            "/bin/bash -lc 'npm test'",
            fixture!("mocha-tap-fail.txt"),
            TestRun {
                runner: "node-test".to_string(),
                ..tap
            },
        );
    }

    #[test]
    fn mocha_nested_suites() {
        let output = "

  outer
    inner
      ✔ works
      1) breaks


  1 passing (4ms)
  1 failing

  1) outer
       inner
         breaks:
     Error: nope
      at Context.<anonymous> (test/x.spec.js:5:11)



";
        check(
            "npx mocha",
            output,
            run("mocha", 1, 1, 0, &["outer inner breaks"]),
        );
    }

    #[test]
    fn node_test_fixtures() {
        let fail = run("node-test", 2, 1, 1, &["adds wrong"]);
        check(
            "/bin/bash -lc 'node --test'",
            fixture!("node-test-fail.txt"),
            fail.clone(),
        );
        check(
            "/bin/bash -lc 'node --test --test-reporter=spec'",
            fixture!("node-test-spec-fail.txt"),
            fail,
        );
        let pass = run("node-test", 2, 0, 0, &[]);
        check(
            "/bin/bash -lc 'node --test'",
            fixture!("node-test-pass.txt"),
            pass.clone(),
        );
        check(
            "/bin/bash -lc 'node --test --test-reporter=spec'",
            fixture!("node-test-spec-pass.txt"),
            pass,
        );
    }

    #[test]
    fn several_summaries_add_up() {
        // The same runner twice in one output (say, two pytest invocations).
        let output = format!(
            "{}{}",
            fixture!("pytest-q-fail.txt"),
            fixture!("pytest-q-errors.txt")
        );
        check(
            "pytest -q a; pytest -q b",
            &output,
            run(
                "pytest",
                3,
                3,
                2,
                &[
                    "test_calc.py::test_add_wrong",
                    "test_errors.py::test_broken",
                    "test_errors.py::test_uses_db",
                ],
            ),
        );
        // Two runners in one output: parse gives the first, parse_all both, in order.
        let output = format!(
            "{}{}",
            fixture!("cargo-test-pass.txt"),
            fixture!("jest-fail.txt")
        );
        assert_eq!(
            parse("make check", &output),
            Some(run("cargo-test", 4, 0, 1, &[]))
        );
        let mut totals = TestSummary::default();
        assert_eq!(add_output(&mut totals, "make check", &output), 2);
        assert_eq!((totals.passed, totals.failed, totals.skipped), (7, 1, 2));
        assert_eq!(totals.failing, vec!["calc › adds wrong".to_string()]);
        assert_eq!(
            totals
                .runs
                .iter()
                .map(|r| r.runner.as_str())
                .collect::<Vec<_>>(),
            ["cargo-test", "jest"]
        );
    }

    #[test]
    fn totals_add_and_group_by_runner() {
        let mut totals = TestSummary::default();
        assert!(totals.is_empty());
        for (command, output) in [
            ("cargo test", fixture!("cargo-test-fail.txt")),
            ("pytest -q", fixture!("pytest-q-fail.txt")),
            ("cargo test", fixture!("cargo-test-fail.txt")),
            ("ls -la", fixture!("not-test-ls.txt")),
        ] {
            if let Some(run) = parse(command, output) {
                totals.add(run);
            }
        }
        assert_eq!(totals.runs.len(), 3);
        assert_eq!((totals.passed, totals.failed, totals.skipped), (6, 3, 3));
        assert_eq!(
            totals.failing,
            vec![
                "tests::adds_wrong".to_string(),
                "test_calc.py::test_add_wrong".to_string()
            ]
        );
        assert_eq!(
            totals.by_runner(),
            vec![
                run("cargo-test", 4, 2, 2, &["tests::adds_wrong"]),
                run("pytest", 2, 1, 1, &["test_calc.py::test_add_wrong"]),
            ]
        );
        let json = serde_json::to_string(&totals).unwrap();
        assert_eq!(serde_json::from_str::<TestSummary>(&json).unwrap(), totals);
    }

    #[test]
    fn non_test_output_is_none() {
        for (command, output) in [
            ("/bin/bash -lc 'ls -la'", fixture!("not-test-ls.txt")),
            (
                "/bin/bash -lc 'cargo build'",
                fixture!("not-test-cargo-build.txt"),
            ),
            (
                "/bin/bash -lc 'cargo test'",
                fixture!("cargo-test-compile-error.txt"),
            ),
            ("/bin/bash -lc 'echo \"3 passed\"'", "3 passed\n"),
            (
                "/bin/bash -lc 'cat NOTES.md'",
                "Last time 3 passed, 1 failed and 2 passing tests were flaky.\n\
                 The test result: fine. Ran the tests in the morning.\nok done\nFAIL\n",
            ),
            ("/bin/bash -lc true", ""),
        ] {
            assert_eq!(parse(command, output), None, "{command}");
            assert!(parse_all(command, output).is_empty(), "{command}");
        }
    }

    #[test]
    fn ansi_coloured_input_parses() {
        // Colour every line the way a runner would, plus an erase-line and a CR redraw.
        for (command, plain) in [
            ("cargo nextest run", fixture!("cargo-nextest-fail.txt")),
            ("go test -v ./...", fixture!("go-test-v-fail.txt")),
            ("npx vitest run", fixture!("vitest-fail.txt")),
            ("node --test", fixture!("node-test-spec-fail.txt")),
            ("npx mocha", fixture!("mocha-fail.txt")),
            ("python -m unittest", fixture!("unittest-fail.txt")),
        ] {
            let coloured: String = plain
                .lines()
                .map(|l| format!("\x1b[2K\rprogress…\r\x1b[1m\x1b[31m{l}\x1b[0m\x1b]8;;\x07\r\n"))
                .collect();
            assert_eq!(
                parse(command, &coloured),
                parse(command, plain),
                "{command}"
            );
            assert!(parse(command, &coloured).is_some(), "{command}");
        }
    }

    #[test]
    fn clean_strips_escapes() {
        assert_eq!(
            clean("\x1b[32m5 passed\x1b[0m in 0.1s\r\nab\rcd\n\x1b]0;title\x07x"),
            vec!["5 passed in 0.1s", "cd", "x"]
        );
    }
}
