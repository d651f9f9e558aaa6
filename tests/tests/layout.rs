//! The code's layout keeps its promises (ARCHITECTURE.md): no import circles between the
//! modules of the daemon and of the MCP shim, and no source file of 1,000 lines or more
//! outside test modules.
//!
//! Imports are read from the source text: every `crate::…` and `super::…` path outside
//! comments and test-only files, resolved to the longest module it names. That is what a
//! reader follows too; a circle through such paths is a circle a newcomer has to untangle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Files that only hold tests (their imports and size do not count).
const TEST_FILES: [&str; 4] = ["tests.rs", "test_support.rs", "fuzz.rs", "bounds.rs"];

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read source dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The module path of a source file: `crate`, `crate::run`, `crate::run::queue`, ...
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("file under src");
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts == ["lib"] || parts == ["main"] {
        parts.clear();
    }
    let mut module = vec!["crate".to_string()];
    module.extend(parts);
    module
}

/// A file's text without an inline `#[cfg(test)] mod … { … }` at its end (test modules
/// come last in this code base).
fn without_test_module(text: &str) -> &str {
    match text.find("#[cfg(test)]\nmod ") {
        Some(at) if text[at..].lines().nth(1).is_some_and(|l| l.ends_with('{')) => &text[..at],
        _ => text,
    }
}

/// A file's code: no test module, no comment lines.
fn code_of(text: &str) -> String {
    without_test_module(text)
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `crate::a::b` / `super::b` paths in `code`, as segments.
fn paths_in(code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let bytes = code.as_bytes();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(start) {
            let begin = from + at;
            from = begin + start.len();
            // Only whole words: `my_crate::x` is not `crate::x`.
            if begin > 0 && (bytes[begin - 1].is_ascii_alphanumeric() || bytes[begin - 1] == b'_') {
                continue;
            }
            let mut end = begin;
            while end < bytes.len()
                && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_' || bytes[end] == b':')
            {
                end += 1;
            }
            let path: Vec<String> = code[begin..end]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            paths.push(path);
        }
    }
    paths
}

/// Module → the other modules its code names.
fn import_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let files = rust_files(src);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(src, f)).collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if TEST_FILES.contains(&name) || name == "main.rs" {
            continue;
        }
        let module = module_of(src, file);
        let code = code_of(&std::fs::read_to_string(file).expect("read source"));
        let mut deps = BTreeSet::new();
        for path in paths_in(&code) {
            let absolute: Vec<String> = if path[0] == "super" {
                let mut base = module.clone();
                base.pop();
                base.extend(path[1..].iter().cloned());
                base
            } else {
                path
            };
            if let Some(target) = (1..=absolute.len())
                .rev()
                .map(|n| absolute[..n].to_vec())
                .find(|candidate| modules.contains(candidate))
                && target != module
            {
                deps.insert(target.join("::"));
            }
        }
        graph.insert(module.join("::"), deps);
    }
    graph
}

/// A circle in `graph`, if there is one (as the modules along it).
fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut circle = stack[at..].to_vec();
            circle.push(node.to_string());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, stack, done) {
                return Some(circle);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

/// The source directory of a workspace crate.
fn crate_src(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates")
        .join(name)
        .join("src")
}

#[test]
fn the_checker_finds_a_circle_and_a_clean_graph() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    graph.insert("crate::a".into(), ["crate::b".to_string()].into());
    graph.insert("crate::b".into(), ["crate::c".to_string()].into());
    graph.insert("crate::c".into(), BTreeSet::new());
    assert_eq!(find_circle(&graph), None);
    graph.insert("crate::c".into(), ["crate::a".to_string()].into());
    assert_eq!(
        find_circle(&graph),
        Some(vec![
            "crate::a".to_string(),
            "crate::b".into(),
            "crate::c".into(),
            "crate::a".into()
        ])
    );
    let paths =
        paths_in("use super::x::Y;\nlet v = crate::run::held::RunEnv::default();\nmy_crate::z");
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert!(code_of("// crate::x\nfn f() {}").find("crate::").is_none());
}

#[test]
fn the_daemon_and_the_shim_have_no_import_circles() {
    for name in [
        "codexd",
        "codexd-mcp",
        "codexctl",
        "codexd-client",
        "codexd-api",
    ] {
        let graph = import_graph(&crate_src(name));
        assert!(graph.len() > 1, "{name}: modules were read");
        if let Some(circle) = find_circle(&graph) {
            panic!("{name}: import circle {}", circle.join(" → "));
        }
    }
}

#[test]
fn no_daemon_source_file_reaches_a_thousand_lines() {
    let src = crate_src("codexd");
    let mut large = Vec::new();
    for file in rust_files(&src) {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if TEST_FILES.contains(&name) {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read source");
        let lines = without_test_module(&text).lines().count();
        if lines >= 1000 {
            large.push(format!("{} ({lines} lines)", file.display()));
        }
    }
    assert!(large.is_empty(), "files of 1,000+ lines: {large:?}");
}
