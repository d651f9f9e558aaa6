//! Tests of the runner parsers, mostly against the real outputs in `fixtures/`.

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
