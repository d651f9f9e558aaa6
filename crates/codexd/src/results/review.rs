//! Parses a review task's review from codex's final review message.
//!
//! `codex exec review --json` (0.169.0) emits no structured review item: the review comes as
//! the final `agent_message`, rendered as text (captured lines are in `review_fixtures/`):
//!
//! ```text
//! EXPLANATION
//!
//! Review comment:            (or "Full review comments:" when there are several)
//!
//! - [P1] TITLE — /abs/path:START-END
//!   BODY (indented two spaces, possibly several lines)
//! ```
//!
//! The priority comes from the title's `[Pn]` tag; the overall verdict and confidence
//! scores are not in that text (codex keeps them in its session file only).

use codexd_api::{Review, ReviewFinding};

/// The headers codex puts before the findings.
const HEADERS: [&str; 2] = ["Review comment:", "Full review comments:"];

/// The review in `message`; `None` when it is empty.
pub fn parse(message: &str) -> Option<Review> {
    if message.trim().is_empty() {
        return None;
    }
    let (explanation, findings_text) = split_header(message);
    let explanation = explanation.trim();
    let findings = findings_text.map(parse_findings).unwrap_or_default();
    Some(Review {
        findings,
        explanation: (!explanation.is_empty()).then(|| explanation.to_string()),
        overall_correctness: None,
    })
}

/// Splits `message` at the first findings header line: (explanation, findings text).
fn split_header(message: &str) -> (&str, Option<&str>) {
    let mut offset = 0;
    for line in message.split_inclusive('\n') {
        if HEADERS.contains(&line.trim()) {
            return (&message[..offset], Some(&message[offset + line.len()..]));
        }
        offset += line.len();
    }
    (message, None)
}

/// The findings: each starts at a line `- TITLE — LOCATION`, its body the indented lines
/// after it.
fn parse_findings(text: &str) -> Vec<ReviewFinding> {
    let mut findings: Vec<ReviewFinding> = Vec::new();
    let mut body: Vec<&str> = Vec::new();
    let flush = |findings: &mut Vec<ReviewFinding>, body: &mut Vec<&str>| {
        if let Some(last) = findings.last_mut() {
            last.body = body.join("\n").trim_end().to_string();
        }
        body.clear();
    };
    for line in text.lines() {
        if let Some(head) = line.strip_prefix("- ") {
            flush(&mut findings, &mut body);
            findings.push(parse_head(head));
        } else if !findings.is_empty() {
            body.push(line.strip_prefix("  ").unwrap_or(line));
        }
    }
    flush(&mut findings, &mut body);
    findings
}

/// One finding's first line: `[Pn] TITLE — PATH:START-END` (the location and tag optional).
fn parse_head(head: &str) -> ReviewFinding {
    let (title, location) = match head.rsplit_once(" — ") {
        Some((title, location)) => (title, Some(location)),
        None => (head, None),
    };
    let (priority, title) = split_priority(title.trim());
    let mut finding = ReviewFinding {
        title: title.to_string(),
        priority,
        ..Default::default()
    };
    if let Some(location) = location.map(str::trim) {
        match location.rsplit_once(':') {
            Some((file, range)) if parse_range(range).is_some() => {
                let (start, end) = parse_range(range).unwrap_or_default();
                finding.file = Some(file.to_string());
                finding.line_start = Some(start);
                finding.line_end = Some(end);
            }
            _ => finding.file = Some(location.to_string()),
        }
    }
    finding
}

/// `START-END` or `LINE`.
fn parse_range(range: &str) -> Option<(u64, u64)> {
    match range.split_once('-') {
        Some((start, end)) => Some((start.parse().ok()?, end.parse().ok()?)),
        None => range.parse().ok().map(|line| (line, line)),
    }
}

/// A `[Pn] ` tag at the start of a title: (n, the rest).
fn split_priority(title: &str) -> (Option<u8>, &str) {
    let tag = title
        .strip_prefix("[P")
        .and_then(|rest| rest.split_once(']'))
        .and_then(|(n, rest)| Some((n.parse::<u8>().ok()?, rest.trim_start())));
    match tag {
        Some((n, rest)) => (Some(n), rest),
        None => (None, title),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::taskdir::StoredRequest;
    use crate::results::compute;
    use codexd_api::Timestamp;
    use std::collections::HashMap;

    /// The final message of a captured event log, through the result builder.
    fn final_message(fixture: &str) -> String {
        let lines: Vec<(u64, String)> = fixture
            .lines()
            .enumerate()
            .map(|(n, l)| (n as u64, l.to_string()))
            .collect();
        let task = StoredRequest::for_test("abcd1234", "/w", Timestamp::now()).new_task();
        compute(&task, &lines, &HashMap::new(), None, None)
            .final_message
            .expect("a final message")
    }

    #[test]
    fn one_finding_from_real_review_lines() {
        let review = parse(&final_message(include_str!(
            "review_fixtures/one-finding.jsonl"
        )))
        .expect("a review");
        assert_eq!(
            review.explanation.as_deref(),
            Some("The new function can panic.")
        );
        assert_eq!(review.findings.len(), 1);
        let f = &review.findings[0];
        assert_eq!(f.title, "Division by zero");
        assert_eq!(f.priority, Some(1));
        assert_eq!(f.file.as_deref(), Some("/tmp/.tmpUP34U5/repo/lib.rs"));
        assert_eq!((f.line_start, f.line_end), (Some(2), Some(3)));
        assert_eq!(f.body, "`div` divides by `b` without checking it.");
    }

    #[test]
    fn several_findings_with_multi_line_bodies_and_no_priority() {
        let review = parse(&final_message(include_str!(
            "review_fixtures/two-findings.jsonl"
        )))
        .expect("a review");
        assert_eq!(review.findings.len(), 2);
        let first = &review.findings[0];
        assert_eq!(first.title, "Second thing");
        assert_eq!(first.priority, None);
        assert_eq!(first.body, "multi\nline body");
        assert_eq!((first.line_start, first.line_end), (Some(1), Some(1)));
        assert_eq!(review.findings[1].priority, Some(1));
    }

    #[test]
    fn a_message_without_findings_is_all_explanation() {
        let review = parse("Looks good to me.").expect("a review");
        assert!(review.findings.is_empty());
        assert_eq!(review.explanation.as_deref(), Some("Looks good to me."));
        assert!(parse("  ").is_none());
    }
}
