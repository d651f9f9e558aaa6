//! End to end: review tasks and the run options of issue 13 (effort, profile, images,
//! extra directories, output schemas) with the real Codex CLI against the loopback model
//! server.

use codexd_tests::PNG;
use codexd_tests::codex_cli::{MOCK_MODEL, mock_config_overrides};
use codexd_tests::daemon::{TestEnv, output};
use codexd_tests::model_server::{MockModelServer, Scenario, Step};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// The prompt codex 0.169.0 sends the model for `review --uncommitted`.
const UNCOMMITTED_PROMPT: &str = "Review the current code changes";

/// A review as codex's review mode expects it from the model (FILE is replaced).
const REVIEW_JSON: &str = r#"{"findings":[{"title":"[P1] Division by zero","body":"`div` divides by `b` without checking it.","confidence_score":0.8,"priority":1,"code_location":{"absolute_file_path":"FILE","line_range":{"start":2,"end":3}}},{"title":"[P3] Name","body":"`div` is a terse name.","confidence_score":0.4,"priority":3,"code_location":{"absolute_file_path":"FILE","line_range":{"start":1,"end":1}}}],"overall_correctness":"patch is incorrect","overall_explanation":"The new function can panic.","overall_confidence_score":0.7}"#;

/// A daemon-backed environment around `scenarios`, daemon started.
fn env_with(scenarios: Vec<Scenario>) -> TestEnv {
    let server = MockModelServer::start_blocking(scenarios).expect("model server");
    let mut env = TestEnv::new(server).expect("test env");
    env.start_daemon(&[]).expect("start daemon");
    env
}

/// `-c KV`... `-m MODEL`: the mock provider's flags for `review`.
fn mock_flags(env: &TestEnv) -> Vec<String> {
    let mut args = Vec::new();
    for kv in mock_config_overrides(&env.server.base_url()) {
        args.push("-c".to_string());
        args.push(kv);
    }
    args.extend(["-m".to_string(), MOCK_MODEL.to_string()]);
    args
}

/// Runs `git` in `dir`.
fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
        .args(args)
        .current_dir(dir)
        .status()
        .expect("run git");
    assert!(status.success(), "git {args:?}");
}

/// `codexctl ARGS`, which must succeed; its stdout.
fn ctl_ok(env: &TestEnv, args: &[String]) -> String {
    let out = output(env.codexctl().args(args));
    assert!(
        out.status.success(),
        "codexctl {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        env.daemon_log()
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `codexctl result ID --json`, parsed.
fn result_json(env: &TestEnv, id: &str) -> Value {
    let text = ctl_ok(env, &["result".into(), id.into(), "--json".into()]);
    serde_json::from_str(&text).expect("result --json is JSON")
}

/// The number of tasks the daemon has.
fn task_count(env: &TestEnv) -> usize {
    let text = ctl_ok(env, &["list".into(), "--json".into()]);
    let page: Value = serde_json::from_str(&text).expect("list --json");
    page["tasks"].as_array().map(Vec::len).unwrap_or(0)
}

#[test]
fn a_review_of_uncommitted_changes_returns_its_findings_as_data() {
    // Build the environment with the answer naming a file in its own work dir.
    let server = MockModelServer::start_blocking(vec![]).expect("model server");
    let mut env = TestEnv::new(server).expect("test env");
    let file = env.work.join("lib.rs");
    let answer = REVIEW_JSON.replace("FILE", &file.display().to_string());
    env.server = MockModelServer::start_blocking(vec![Scenario::new(
        UNCOMMITTED_PROMPT,
        vec![Step::message(answer)],
    )])
    .expect("model server");
    env.start_daemon(&[]).expect("start daemon");
    git(&env.work, &["init", "-q"]);
    git(&env.work, &["commit", "-q", "--allow-empty", "-m", "init"]);
    std::fs::write(&file, "fn div(a: i32, b: i32) -> i32 {\n    a / b\n}\n").expect("write");

    let mut args = vec!["review".to_string(), "--uncommitted".into()];
    args.extend(mock_flags(&env));
    args.extend(["--title".into(), "Add div".into(), "--json".into()]);
    let started: Value = serde_json::from_str(&ctl_ok(&env, &args)).expect("review --json");
    let id = started["task_id"].as_str().expect("an id").to_string();
    let (code, _) = env.wait(&[&id]);
    assert_eq!(code, 0, "the review succeeds: {}", env.daemon_log());

    let task = env.show(&id);
    assert_eq!(task["kind"], "review");
    assert_eq!(task["sandbox"], "read-only");
    assert_eq!(task["review"]["uncommitted"], true);
    assert_eq!(task["review"]["title"], "Add div");

    let result = result_json(&env, &id);
    let review = &result["review"];
    assert_eq!(review["explanation"], "The new function can panic.");
    let findings = review["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 2, "{review}");
    assert_eq!(findings[0]["title"], "Division by zero");
    assert_eq!(findings[0]["priority"], 1);
    assert_eq!(findings[0]["file"], file.display().to_string());
    assert_eq!(findings[0]["line_start"], 2);
    assert_eq!(findings[0]["line_end"], 3);
    assert_eq!(
        findings[0]["body"],
        "`div` divides by `b` without checking it."
    );
    assert_eq!(findings[1]["priority"], 3);

    // The human rendering lists the findings compactly.
    let text = ctl_ok(&env, &["result".into(), id.clone()]);
    assert!(text.contains("findings   2"), "{text}");
    assert!(
        text.contains("[P1] ") && text.contains("lib.rs:2-3  Division by zero"),
        "{text}"
    );

    // Filtered by kind; the review is read-only and left the tree alone.
    let reviews = ctl_ok(
        &env,
        &[
            "list".into(),
            "--kind".into(),
            "review".into(),
            "--json".into(),
        ],
    );
    assert!(reviews.contains(&id), "{reviews}");
    let execs = ctl_ok(
        &env,
        &[
            "list".into(),
            "--kind".into(),
            "exec".into(),
            "--json".into(),
        ],
    );
    assert!(!execs.contains(&id), "{execs}");
}

#[test]
fn effort_profile_image_and_add_dir_reach_codex_and_the_model() {
    let env = env_with(vec![Scenario::new(
        "[options]",
        vec![Step::message("seen")],
    )]);
    std::fs::write(
        env.codex_home.join("terse.config.toml"),
        "model_verbosity = \"high\"\n",
    )
    .expect("write profile");
    let image = env.root.path().join("pixel.png");
    std::fs::write(&image, PNG).expect("write image");
    let extra = env.root.path().join("extra-dir");
    std::fs::create_dir_all(&extra).expect("mkdir");
    let extra = extra.canonicalize().expect("canonical");
    let id = env.start_task(
        "[options] look at the picture",
        &[
            "--effort",
            "high",
            "--profile",
            "terse",
            "--image",
            image.to_str().expect("utf-8"),
            "--add-dir",
            extra.to_str().expect("utf-8"),
        ],
    );
    let (code, _) = env.wait(&[&id]);
    assert_eq!(code, 0, "the task succeeds: {}", env.daemon_log());
    let task = env.show(&id);
    assert_eq!(task["effort"], "high");
    assert_eq!(task["profile"], "terse");
    assert_eq!(task["add_dirs"][0], extra.display().to_string());
    let copy = task["images"][0].as_str().expect("an image copy");
    assert!(
        copy.starts_with(env.task_dir(&id).to_str().expect("utf-8")),
        "{copy}"
    );
    assert_eq!(std::fs::read(copy).expect("the copy"), PNG);

    let requests: Vec<_> = env
        .server
        .requests()
        .into_iter()
        .filter(|r| r.tag.as_deref() == Some("[options]"))
        .collect();
    let body = &requests.first().expect("a model request").body;
    assert_eq!(body["reasoning"]["effort"], "high", "{}", body["reasoning"]);
    assert_eq!(
        body["text"]["verbosity"], "high",
        "the profile applied: {}",
        body["text"]
    );
    let input = body["input"].to_string();
    assert!(input.contains("input_image"), "the image is in the request");
    assert!(
        body.to_string().contains(&extra.display().to_string()),
        "the extra directory is in codex's context for the model"
    );
}

#[test]
fn an_output_schema_gives_final_json_or_a_schema_error() {
    let env = env_with(vec![
        Scenario::new(
            "[good]",
            vec![Step::message(r#"{"verdict":"ok","score":3}"#)],
        ),
        Scenario::new("[bad]", vec![Step::message(r#"{"verdict":"maybe"}"#)]),
    ]);
    let schema = r#"{"type":"object","properties":{"verdict":{"type":"string","enum":["ok","bad"]},"score":{"type":"integer"}},"required":["verdict","score"],"additionalProperties":false}"#;
    let schema_file = env.root.path().join("schema.json");
    std::fs::write(&schema_file, schema).expect("write schema");
    let good = env.start_task(
        "[good] judge",
        &["--output-schema", schema_file.to_str().expect("utf-8")],
    );
    let bad = env.start_task("[bad] judge", &["--output-schema", schema]);
    let (code, _) = env.wait(&[&good, &bad]);
    assert_eq!(code, 0, "{}", env.daemon_log());
    let result = result_json(&env, &good);
    assert_eq!(result["final_json"]["verdict"], "ok", "{result}");
    assert_eq!(result["final_json"]["score"], 3);
    assert!(result.get("schema_error").is_none(), "{result}");
    let result = result_json(&env, &bad);
    assert!(result.get("final_json").is_none(), "{result}");
    let error = result["schema_error"].as_str().expect("a schema error");
    assert!(
        error.contains("$.verdict") || error.contains("score"),
        "{error}"
    );
    // The schema is kept in the task directory and reached codex's request.
    assert!(env.task_dir(&good).join("output-schema.json").is_file());
    let request = env
        .server
        .requests()
        .into_iter()
        .find(|r| r.tag.as_deref() == Some("[good]"))
        .expect("a request");
    assert!(
        request.body["text"].to_string().contains("verdict"),
        "codex sent the schema to the model: {}",
        request.body["text"]
    );
}

#[test]
fn bad_option_values_get_typed_errors_and_create_no_task() {
    let env = env_with(vec![]);
    let missing = env.root.path().join("missing.png");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--effort".into(), "extreme".into()], "effort"),
        (
            vec!["--image".into(), missing.display().to_string()],
            "images",
        ),
        (vec!["--add-dir".into(), "/no/such/dir".into()], "add_dirs"),
        (
            vec!["--output-schema".into(), "{not json".into()],
            "output-schema",
        ),
        (
            vec!["--output-schema".into(), r#"{"type":"thing"}"#.into()],
            "output_schema",
        ),
        (vec!["--profile".into(), "../etc".into()], "profile"),
    ];
    for (flags, field) in cases {
        let mut args = env.start_args();
        args.extend(flags.clone());
        args.push("[x] hi".into());
        let out = output(env.codexctl().args(&args));
        assert!(!out.status.success(), "{flags:?} is refused");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(field), "{flags:?}: {stderr}");
    }
    // A review needs a target or instructions, and takes one target only.
    let out = output(env.codexctl().args(["review"]));
    assert!(!out.status.success());
    let out = output(
        env.codexctl()
            .args(["review", "--uncommitted", "--base", "main"]),
    );
    assert!(!out.status.success());
    assert_eq!(task_count(&env), 0, "no task was created");
}

#[test]
fn a_focused_review_returns_schema_checked_json_and_a_target_with_instructions_is_refused() {
    let answer = r#"{"races":[{"file":"lib.rs","line":2,"why":"unsynchronised counter"}]}"#;
    let env = env_with(vec![Scenario::new(
        "[focused]",
        vec![Step::message(answer)],
    )]);
    git(&env.work, &["init", "-q", "-b", "main"]);
    std::fs::write(env.work.join("lib.rs"), "static mut N: u32 = 0;\n").expect("write");
    git(&env.work, &["add", "lib.rs"]);
    git(&env.work, &["commit", "-q", "-m", "init"]);
    git(&env.work, &["checkout", "-q", "-b", "feature"]);
    std::fs::write(
        env.work.join("lib.rs"),
        "static mut N: u32 = 0;\nfn bump() { unsafe { N += 1 } }\n",
    )
    .expect("write");
    git(&env.work, &["commit", "-q", "-am", "bump"]);
    let schema = r#"{"type":"object","properties":{"races":{"type":"array","items":{"type":"object","properties":{"file":{"type":"string"},"line":{"type":"integer"},"why":{"type":"string"}},"required":["file","line","why"],"additionalProperties":false}}},"required":["races"],"additionalProperties":false}"#;
    let instructions = "[focused] review the changes against main; look for data races only";

    // codex exec review refuses instructions beside a target: so do codexctl (a usage
    // error) and the daemon (a typed error through the API), and no task exists.
    let mut both = vec!["review".to_string(), "--base".into(), "main".into()];
    both.extend(mock_flags(&env));
    both.push(instructions.into());
    let out = output(env.codexctl().args(&both));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot be used with"),
        "{out:?}"
    );
    assert_eq!(task_count(&env), 0);

    let mut args = vec!["review".to_string()];
    args.extend(mock_flags(&env));
    args.extend([
        "--output-schema".into(),
        schema.into(),
        "--json".into(),
        instructions.into(),
    ]);
    let started: Value = serde_json::from_str(&ctl_ok(&env, &args)).expect("review --json");
    let id = started["task_id"].as_str().expect("an id").to_string();
    let (code, summary) = env.wait(&[&id]);
    assert_eq!(code, 0, "{summary}\n{}", env.daemon_log());

    let task = env.show(&id);
    assert_eq!(task["kind"], "review");
    assert_eq!(task["output_schema"], true);
    let result = result_json(&env, &id);
    assert!(result.get("schema_error").is_none(), "{result}");
    assert_eq!(
        result["final_json"]["races"][0]["file"], "lib.rs",
        "{result}"
    );
    assert_eq!(result["final_json"]["races"][0]["line"], 2);
    // Codex ran the review with the instructions and sent the schema to the model.
    let request = env
        .server
        .requests()
        .into_iter()
        .find(|r| r.tag.as_deref() == Some("[focused]"))
        .expect("a request tagged [focused]");
    // Review mode does not pass --output-schema to the model (no `text.format`), so codexd
    // puts the schema into the instructions.
    let instruction = request.body["input"]
        .as_array()
        .expect("input items")
        .iter()
        .flat_map(|item| item["content"].as_array().cloned().unwrap_or_default())
        .filter_map(|part| part["text"].as_str().map(str::to_string))
        .find(|text| text.starts_with("[focused]"))
        .expect("the instructions reached the model");
    assert!(
        instruction.contains("conforming to this JSON Schema")
            && instruction.contains(r#""races""#),
        "{instruction}"
    );
    // A target with a schema is refused before a task exists (codex's review of a target
    // answers in its own format).
    let mut target_and_schema = vec!["review".to_string(), "--uncommitted".into()];
    target_and_schema.extend(mock_flags(&env));
    target_and_schema.extend(["--output-schema".into(), schema.into()]);
    let out = output(env.codexctl().args(&target_and_schema));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("needs custom instructions"),
        "{out:?}"
    );
    assert_eq!(task_count(&env), 1);
}
