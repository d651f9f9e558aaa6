//! Unit tests of the redaction engine and its built-in rules: a corpus of fabricated
//! secrets (one or more per rule) that must be redacted, a corpus of lookalikes that must
//! come through byte for byte, and the JSON-line, user-pattern and environment paths.

use super::*;
use serde_json::{Value, json};

// Every "secret" below is fabricated from a fixed cycle of characters with the shape
// of the real thing; none is a real credential.
const CYCLE: &[u8] = b"aB3dE6gH9jK2mN5pQ8sT1vW4yZ7cF0hJ";
const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ234567";
const B64: &[u8] = b"wJ7a/Lr+XuT9nFk2E/MbI0K7MD3ENGbP+xRfiCYz";

/// `n` characters from [`CYCLE`], starting at `seed`: secret-looking filler that is
/// the same on every run.
fn fill(n: usize, seed: usize) -> String {
    (0..n)
        .map(|i| CYCLE[(i * 7 + seed) % CYCLE.len()] as char)
        .collect()
}
/// `n` characters from [`UPPER`], for rules that want upper case and digits only.
fn upper(n: usize) -> String {
    (0..n)
        .map(|i| UPPER[(i * 7) % UPPER.len()] as char)
        .collect()
}
/// A 40-character base64 value, the shape of an AWS secret access key.
fn b64_40() -> String {
    String::from_utf8(B64.to_vec()).unwrap()
}
/// A JWT: the header and payload decode, the signature is made up.
fn jwt() -> String {
    // jwt.io's example header and payload, a made-up signature.
    format!(
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.{}",
        fill(43, 5)
    )
}
/// A PEM RSA private-key block over several lines.
fn rsa_key() -> String {
    let body: Vec<String> = (0..6).map(|i| fill(64, i)).collect();
    format!(
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA{}\n{}\n-----END RSA PRIVATE KEY-----",
        fill(48, 9),
        body.join("\n")
    )
}
/// An OpenSSH private-key block over several lines.
fn openssh_key() -> String {
    format!(
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU{}\n{}==\n-----END OPENSSH PRIVATE KEY-----",
        fill(40, 1),
        fill(60, 2)
    )
}

/// A redactor with the built-in rules only.
fn redactor() -> Redactor {
    Redactor::new(&RedactConfig::default()).unwrap()
}

/// (input, expected output, rule name) — one or more per built-in rule.
fn secret_corpus() -> Vec<(String, String, &'static str)> {
    let mut v: Vec<(String, String, &'static str)> = Vec::new();
    let mut add = |input: String, expected: String, rule: &'static str| {
        v.push((input, expected, rule));
    };
    add(
        format!("//registry.npmjs.org/:_authToken=npm_{} # ci", fill(36, 3)),
        "//registry.npmjs.org/:_authToken=[REDACTED:npm-token] # ci".into(),
        "npm-token",
    );
    add(
        format!("NPM publish with npm_{}", fill(36, 8)),
        "NPM publish with [REDACTED:npm-token]".into(),
        "npm-token",
    );
    add(
        format!("sendgrid: SG.{}.{}, sent", fill(22, 1), fill(43, 6)),
        "sendgrid: [REDACTED:sendgrid-key], sent".into(),
        "sendgrid-key",
    );
    add(
        format!("\"apiKey\": \"SG.{}-_.{}_-\"", fill(20, 2), fill(41, 7)),
        "\"apiKey\": \"[REDACTED:sendgrid-key]\"".into(),
        "sendgrid-key",
    );
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
        "curl -H 'Authorization: Bearer [REDACTED:authorization]' https://api.example.com".into(),
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

/// The daemon shares one redactor across threads and clones it per request.
#[test]
fn redactor_is_shareable() {
    /// Compiles only for a type that is `Send`, `Sync` and `Clone`.
    fn shareable<T: Send + Sync + Clone>() {}
    shareable::<Redactor>();
}

/// `rule_names` lists every built-in rule, and nothing else.
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
        "npm-token",
        "sendgrid-key",
        "private-key",
        "jwt",
        "authorization",
        "url-credentials",
        "assignment",
    ] {
        assert!(names.contains(&n), "{n}");
    }
    assert_eq!(names.len(), 16);
}

/// Every built-in rule has a sample in the corpus, and every sample is redacted
/// exactly as expected, under its rule's name.
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

/// Redacting a redacted text changes nothing: labels never look like secrets.
#[test]
fn redaction_is_idempotent() {
    let r = redactor();
    for (input, _, _) in secret_corpus() {
        let once = r.redact(&input).into_owned();
        assert_eq!(r.redact(&once), once, "{input:?}");
    }
}

/// Code, hashes, paths and prose that resemble secrets are left alone, in plain text,
/// in event lines and all together.
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

/// `text` in the places a codex event line carries text: command output (with and
/// without a final newline), messages, reasoning, nested errors, a command.
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

/// Checks that the redacted line is valid JSON and equals the redaction of the parsed
/// line; returns the redacted line.
fn assert_json_consistent(r: &Redactor, line: &str) -> String {
    let out = r.redact_json_line(line);
    let parsed_out: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("invalid JSON after redaction ({e}): {out}"));
    let mut expected: Value = serde_json::from_str(line).unwrap();
    r.redact_value(&mut expected);
    assert_eq!(parsed_out, expected, "line {line}");
    out
}

/// A redacted event line differs from the original only in the redacted strings;
/// secret-named keys and headers are redacted like their plain-text forms; a line that
/// is not JSON is redacted as text.
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

/// Every corpus text in every event-line shape stays valid JSON and is redacted as its
/// parsed value is, also with escapes next to or inside a secret and in object keys.
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

/// User patterns redact under their own names; an invalid pattern, or one that matches
/// the empty string, is refused with its name.
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

/// Adding environment values to a built redactor (the daemon's per-request path)
/// gives the same redactor as building with them, without the base's own values.
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
    let text = "pw hunter2-but-longer tok tok-0123456789 key acme_abcd1234 old old-secret-value-1";
    assert_eq!(derived.redact(text), built.redact(text));
    assert!(derived.redact(text).contains("[REDACTED:env:DB_PASSWORD]"));
    // The base's own environment values are not carried over.
    assert!(derived.redact(text).contains("old-secret-value-1"));
    let line = r#"{"type":"x","text":"tok-0123456789"}"#;
    assert_eq!(derived.redact_json_line(line), built.redact_json_line(line));
}

/// Secret environment values are redacted as exact strings wherever they occur (a shape
/// rule names the ones it knows); short, path and non-secret values are not; `Debug`
/// never shows a value.
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

/// `is_secret_name` accepts secret-looking names and turns down their lookalikes.
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

/// Redacts `text` one line at a time, as the runner writes stderr.log.
fn redact_by_line(r: &Redactor, text: &str) -> String {
    let mut lines = r.text_lines();
    text.split('\n')
        .map(|l| lines.redact_line(l).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A private key printed line by line on stderr is redacted whole, body and footer, and
/// the lines after it are left alone; a block cut short ends at the first line that is
/// not part of a key.
#[test]
fn a_private_key_redacted_line_by_line_is_redacted_whole() {
    let r = redactor();
    for key in [rsa_key(), openssh_key()] {
        let text = format!("$ cat id\n{key}\ndone, next step\n");
        let out = redact_by_line(&r, &text);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "$ cat id");
        assert_eq!(lines.last(), Some(&"done, next step"));
        for line in &lines[1..lines.len() - 1] {
            assert_eq!(*line, "[REDACTED:private-key]", "{out}");
        }
        assert!(
            !out.contains("-----END") && !out.contains(&fill(64, 2)),
            "{out}"
        );
        // The same as redacting the text whole, line for line.
        assert_eq!(r.redact(&text).lines().next(), Some("$ cat id"));
    }
    // An encrypted PEM key: armor headers and a blank line inside the block.
    let pem = format!(
        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,{}\n\n{}\n{}\n-----END RSA PRIVATE KEY----- (end)",
        upper(32),
        fill(64, 3),
        fill(20, 4)
    );
    let out = redact_by_line(&r, &pem);
    assert!(
        !out.contains("DEK-Info") && !out.contains(&fill(64, 3)),
        "{out}"
    );
    assert!(out.ends_with("[REDACTED:private-key] (end)"), "{out}");
    // A block cut short: the first line that is not a key line ends it, and is kept.
    let cut = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\nerror: the key was truncated\n{}",
        fill(64, 5),
        "plain words after"
    );
    let out = redact_by_line(&r, &cut);
    assert_eq!(
        out,
        "[REDACTED:private-key]\n[REDACTED:private-key]\nerror: the key was truncated\nplain words after"
    );
    // A key whole on one line (escaped newlines) opens no block.
    let one = format!(
        "k=\"-----BEGIN PRIVATE KEY-----\\n{}\\n-----END PRIVATE KEY-----\"\nnext",
        fill(40, 1)
    );
    assert_eq!(
        redact_by_line(&r, &one),
        "k=\"[REDACTED:private-key]\"\nnext"
    );
}

/// Variables the client set explicitly are redacted whatever their names (values of at
/// least six characters); the forwarded defaults only when they look secret.
#[test]
fn explicit_env_values_are_redacted_whatever_their_names() {
    let set: std::collections::BTreeMap<String, String> = [
        ("DEPLOY_TARGET", "staging-eu-7"),
        ("REGION", "eu-west"),
        ("SHORT", "abc12"),
        ("MASK", "xxxxxxxx"),
        ("DATA_DIR", "/home/u/private-data"),
        ("PATH", "/usr/local/bin:/usr/bin"),
        ("VIRTUAL_ENV", "/home/u/venv"),
        ("CODEX_HOME", "/home/u/.codex"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let explicit = explicit_env(&set);
    let names: Vec<&str> = explicit.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["DATA_DIR", "DEPLOY_TARGET", "MASK", "REGION", "SHORT"]
    );
    let all: Vec<(String, String)> = set.into_iter().collect();
    let r = redactor().with_env(&all, &explicit).unwrap();
    assert_eq!(
        r.redact("to staging-eu-7 in eu-west from /home/u/private-data"),
        "to [REDACTED:env:DEPLOY_TARGET] in [REDACTED:env:REGION] from [REDACTED:env:DATA_DIR]"
    );
    for keep in [
        "abc12",
        "xxxxxxxx",
        "/usr/local/bin:/usr/bin",
        "/home/u/venv",
    ] {
        assert_eq!(r.redact(keep), keep);
    }
    // In JSON event lines too.
    let out = r.redact_json_line(&event_line("target staging-eu-7\n"));
    assert!(out.contains("[REDACTED:env:DEPLOY_TARGET]"), "{out}");
    // Without them, a value under a plain name is kept, as before.
    let plain = redactor().with_env_values(&all).unwrap();
    assert_eq!(plain.redact("staging-eu-7"), "staging-eu-7");
}
