//! The Markdown report: the run's context (machine, versions, command), the targets with
//! their status, and one table per measured section.

use std::fmt::Write;

/// One section of measurements.
#[derive(Debug, Clone, Default)]
pub struct Section {
    /// Heading, e.g. "1. RPC floor".
    pub title: String,
    /// What was measured and how.
    pub what: String,
    /// Column names of the table.
    pub header: Vec<String>,
    /// Table rows.
    pub rows: Vec<Vec<String>>,
    /// Remarks printed under the table.
    pub notes: Vec<String>,
}

impl Section {
    /// A section with a title, a description and the table's columns.
    pub fn new(title: &str, what: &str, header: &[&str]) -> Section {
        Section {
            title: title.into(),
            what: what.into(),
            header: header.iter().map(|s| s.to_string()).collect(),
            ..Section::default()
        }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Adds a remark.
    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }
}

/// A target of issue 6 and how this run did against it.
#[derive(Debug, Clone)]
pub struct Target {
    /// Which figure (section number and name).
    pub figure: String,
    /// The target, in words.
    pub target: String,
    /// The measured value(s) the target is judged on.
    pub measured: String,
    /// Met or missed; `None` when not judged (quick mode, or not measured).
    pub met: Option<bool>,
}

/// The whole report.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// `(label, value)` pairs describing the run.
    pub context: Vec<(String, String)>,
    /// Targets with their status.
    pub targets: Vec<Target>,
    /// Measured sections, in order.
    pub sections: Vec<Section>,
    /// True for `--quick` (targets are not judged).
    pub quick: bool,
}

/// Escapes `|` so a cell cannot break a table.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

impl Report {
    /// Renders the report as Markdown (second-level heading first, so it can be pasted
    /// into BENCHMARKS.md as a section).
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "## Whole-process benchmarks (`codexd-bench`)\n");
        if self.quick {
            let _ = writeln!(
                out,
                "**Quick mode:** tiny counts to check that the harness works; these numbers \
                 say nothing about the targets.\n"
            );
        }
        for (label, value) in &self.context {
            let _ = writeln!(out, "- **{label}:** {value}");
        }
        let _ = writeln!(out, "\n### Targets\n");
        let _ = writeln!(out, "| figure | target | measured | status |");
        let _ = writeln!(out, "|---|---|---|---|");
        for t in &self.targets {
            let status = match (t.met, self.quick) {
                (_, true) => "not judged (quick)",
                (Some(true), _) => "**met**",
                (Some(false), _) => "**missed**",
                (None, _) => "not measured",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {status} |",
                cell(&t.figure),
                cell(&t.target),
                cell(&t.measured)
            );
        }
        for section in &self.sections {
            let _ = writeln!(out, "\n### {}\n", section.title);
            if !section.what.is_empty() {
                let _ = writeln!(out, "{}\n", section.what);
            }
            if !section.header.is_empty() {
                let _ = writeln!(out, "| {} |", section.header.join(" | "));
                let _ = writeln!(out, "|{}", "---|".repeat(section.header.len()));
                for row in &section.rows {
                    let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
                    let _ = writeln!(out, "| {} |", cells.join(" | "));
                }
            }
            if !section.notes.is_empty() {
                let _ = writeln!(out);
                for note in &section.notes {
                    let _ = writeln!(out, "- {note}");
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_targets_and_tables() {
        let mut section = Section::new("1. RPC floor", "Round trips.", &["what", "p50"]);
        section.row(vec!["get | one".into(), "40 µs".into()]);
        section.note("echo measured in the same run");
        let report = Report {
            context: vec![("Machine".into(), "2 cores".into())],
            targets: vec![Target {
                figure: "1".into(),
                target: "p50 within 5x".into(),
                measured: "3.1x".into(),
                met: Some(true),
            }],
            sections: vec![section],
            quick: false,
        };
        let md = report.markdown();
        assert!(md.contains("- **Machine:** 2 cores"), "{md}");
        assert!(
            md.contains("| 1 | p50 within 5x | 3.1x | **met** |"),
            "{md}"
        );
        assert!(md.contains("| get \\| one | 40 µs |"), "{md}");
        assert!(md.contains("|---|---|\n"), "{md}");
        assert!(md.contains("- echo measured in the same run"), "{md}");
        let quick = Report {
            quick: true,
            ..report
        };
        assert!(quick.markdown().contains("not judged (quick)"));
    }
}
