//! Redaction throughput on a realistic ~50 MB `codex exec --json` event log with few
//! secrets (one line in 2,000). Results go to BENCHMARKS.md.
//!
//! Run: `cargo bench -p codexd --bench redact` (add `-- --quick` for a fast smoke run).

use codexd::redact::{RedactConfig, Redactor};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use std::hint::black_box;

const ALPHABET: &[u8] = b"aB3dE5fG7hJ9kL2mN4pQ6rS8tU0vW1xY";

/// Deterministic filler with the character mix of a token (not a real credential).
fn fill(n: usize, seed: usize) -> String {
    (0..n)
        .map(|i| ALPHABET[(i * 7 + seed) % ALPHABET.len()] as char)
        .collect()
}

fn command_output(output: &str, i: usize) -> String {
    json!({"type": "item.completed", "item": {"id": format!("item_{i}"), "type": "command_execution",
        "command": "/bin/bash -c 'cargo test'", "aggregated_output": output, "exit_code": 0,
        "status": "completed"}})
    .to_string()
}

/// About `size` bytes of event lines shaped like a real coding session: reasoning, source
/// listings, test output, git logs, patches, messages, usage.
fn synthetic_log(size: usize) -> Vec<String> {
    let code = "fn next(&mut self) -> Option<Token> {\n    let token = self.lexer.next_token();\n    match token.kind {\n        TokenKind::Ident => Some(token),\n        _ => None,\n    }\n}\n";
    let tests = "running 42 tests\ntest lexer::tests::keywords ... ok\ntest parser::tests::expr ... ok\ntest result: ok. 42 passed; 0 failed; 0 ignored\n";
    let git_log = "9fceb02d0ae598e95dc970b74767f19372d61af8 fix lexer\n4b825dc642cb6eb9a060e54bf8d69288fbee4904 add parser\n";
    let prose = "The parser now handles nested expressions. I will run the test suite next and then check the formatting of the output files.";
    let mut lines = Vec::new();
    let mut total = 0;
    let mut i = 0usize;
    while total < size {
        let line = if i % 2000 == 1999 {
            command_output(&format!("GITHUB_TOKEN=ghp_{}\n", fill(36, i)), i)
        } else {
            match i % 10 {
                0 => json!({"type": "turn.started"}).to_string(),
                1 => json!({"type": "item.completed", "item": {"id": format!("item_{i}"), "type": "reasoning", "text": format!("**Planning step {i}**\n\n{prose} {prose}")}}).to_string(),
                2 => json!({"type": "item.started", "item": {"id": format!("item_{i}"), "type": "command_execution", "command": "bash -lc 'sed -n 1,200p src/lexer.rs'", "aggregated_output": "", "status": "in_progress"}}).to_string(),
                3 => command_output(&code.repeat(20 + i % 7), i),
                4 => command_output(&tests.repeat(10 + i % 5), i),
                5 => command_output(&git_log.repeat(30), i),
                6 => json!({"type": "item.completed", "item": {"id": format!("item_{i}"), "type": "file_change", "changes": [{"path": "/work/src/lexer.rs", "kind": "update"}], "status": "completed"}}).to_string(),
                7 => command_output(&format!("{prose}\n").repeat(25), i),
                8 => json!({"type": "item.completed", "item": {"id": format!("item_{i}"), "type": "agent_message", "text": format!("{prose}\n\n{prose}")}}).to_string(),
                _ => json!({"type": "turn.completed", "usage": {"input_tokens": 24763 + i, "cached_input_tokens": 24448, "output_tokens": 122}}).to_string(),
            }
        };
        total += line.len() + 1;
        lines.push(line);
        i += 1;
    }
    lines
}

fn bench_redaction(c: &mut Criterion) {
    let redactor = Redactor::new(&RedactConfig {
        extra_patterns: vec![("internal-ticket".into(), r"TCK-[0-9]{6}".into())],
        env_values: vec![
            ("OPENAI_API_KEY".into(), format!("sk-proj-{}", fill(64, 3))),
            ("DB_PASSWORD".into(), "hunter2hunter2".into()),
        ],
    })
    .expect("valid rules");
    let lines = synthetic_log(50 * 1024 * 1024);
    let bytes: u64 = lines.iter().map(|l| l.len() as u64 + 1).sum();
    let changed = lines
        .iter()
        .filter(|l| redactor.redact_json_line(l) != **l)
        .count();
    eprintln!(
        "event log: {} lines, {:.1} MiB, {changed} lines with a secret",
        lines.len(),
        bytes as f64 / 1048576.0
    );

    let mut group = c.benchmark_group("redaction");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("event_log_json_lines", |b| {
        b.iter(|| {
            for line in &lines {
                black_box(redactor.redact_json_line(black_box(line)));
            }
        })
    });
    let text = lines.join("\n");
    group.bench_function("plain_text_50MB", |b| {
        b.iter(|| black_box(redactor.redact(black_box(&text)).len()))
    });
    group.finish();
}

criterion_group!(benches, bench_redaction);
criterion_main!(benches);
