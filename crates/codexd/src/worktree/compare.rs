//! Ranking the attempts of a best-of-N group for `compare`: tests passed (more first),
//! tests failed (fewer first), then the smaller change (lines added + removed), then the
//! task id, so the order is total and stable.

use codexd_api::worktree::CompareEntry;
use std::cmp::Reverse;

/// Sorts `entries` best first and numbers their `rank` from 1.
pub fn rank(mut entries: Vec<CompareEntry>) -> Vec<CompareEntry> {
    entries.sort_by_key(|e| {
        (
            Reverse(e.tests_passed.unwrap_or(0)),
            e.tests_failed.unwrap_or(0),
            e.stat.insertions + e.stat.deletions,
            e.task_id.clone(),
        )
    });
    for (i, entry) in entries.iter_mut().enumerate() {
        entry.rank = i as u32 + 1;
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use codexd_api::worktree::PatchStat;
    use codexd_api::{TaskId, TaskState};

    fn entry(id: &str, passed: Option<u64>, failed: Option<u64>, lines: u64) -> CompareEntry {
        CompareEntry {
            rank: 0,
            task_id: TaskId::from_stored(id),
            state: TaskState::Succeeded,
            tests_passed: passed,
            tests_failed: failed,
            tests: vec![],
            stat: PatchStat {
                files: vec![],
                insertions: lines,
                deletions: 0,
            },
            duration_ms: None,
            tokens: None,
            summary: None,
            discarded: false,
        }
    }

    #[test]
    fn more_passed_then_fewer_failed_then_smaller_diff() {
        let ranked = rank(vec![
            entry("a", Some(1), Some(1), 1),
            entry("b", Some(2), Some(0), 9),
            entry("c", None, None, 0),
            entry("d", Some(2), Some(0), 3),
            entry("e", Some(1), Some(0), 50),
        ]);
        let order: Vec<_> = ranked
            .iter()
            .map(|e| (e.task_id.as_str(), e.rank))
            .collect();
        assert_eq!(order, [("d", 1), ("b", 2), ("e", 3), ("a", 4), ("c", 5)]);
    }
}
