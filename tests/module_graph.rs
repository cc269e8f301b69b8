//! The structure rules of the source tree, checked on every run: the top-level
//! modules of `src/` import each other without a cycle (a feature never imports
//! the wiring in `controller/`, `runtime/` and `pki/` import no feature), and each
//! module file opens with a comment saying what it holds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`None` for lib.rs, main.rs).
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_string();
    (name != "lib" && name != "main").then_some(name)
}

/// The code of a file without comments and without its test module.
fn code_of(text: &str) -> String {
    let until_tests = text.split("#[cfg(test)]").next().unwrap_or("");
    until_tests
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules `code` names through `crate::`.
fn referenced(code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::c}`: the first segment of each path in the group.
            let inner = group.split('}').next().unwrap_or("");
            inner
                .split(',')
                .map(|p| p.trim().split("::").next().unwrap_or(""))
                .collect()
        } else {
            vec![
                rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .next()
                    .unwrap_or(""),
            ]
        };
        for n in names {
            if modules.contains(n) {
                out.insert(n.to_string());
            }
        }
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| top_module(&src, f)).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let Some(from) = top_module(&src, f) else {
            continue;
        };
        let text = std::fs::read_to_string(f).expect("source is UTF-8");
        let entry = edges.entry(from.clone()).or_default();
        for to in referenced(&code_of(&text), &modules) {
            if to != from {
                entry.insert(to);
            }
        }
    }
    edges
}

/// A cycle through the graph, if there is one (depth-first search).
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, edges, done, path) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        if let Some(c) = visit(node, edges, &mut done, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

#[test]
fn the_top_level_modules_import_each_other_without_a_cycle() {
    let edges = graph();
    assert!(
        edges.len() > 10,
        "the graph was not read: {:?}",
        edges.keys()
    );
    if let Some(cycle) = find_cycle(&edges) {
        panic!(
            "import cycle between top-level modules: {}",
            cycle.join(" -> ")
        );
    }
}

#[test]
fn the_layers_hold() {
    let edges = graph();
    let imports = |m: &str| edges.get(m).cloned().unwrap_or_default();
    // Nothing but the binaries' helpers (cli, demo) imports the wiring.
    for (from, to) in &edges {
        if to.contains("controller") {
            assert!(
                ["demo", "cli"].contains(&from.as_str()),
                "{from} imports the wiring (controller)"
            );
        }
    }
    // The bottom layers know no feature.
    let features = [
        "certificates",
        "issuers",
        "gateway",
        "ingress_shim",
        "intent",
        "cainjector",
        "dns01",
        "http01",
        "tlsalpn01",
        "controller",
    ];
    for base in ["api", "pki", "runtime", "gocompat", "metrics"] {
        let bad: Vec<_> = imports(base)
            .into_iter()
            .filter(|m| features.contains(&m.as_str()))
            .collect();
        assert!(bad.is_empty(), "{base} imports features {bad:?}");
    }
    // The shims meet only in the intent module.
    assert!(!imports("gateway").contains("ingress_shim"));
    assert!(!imports("ingress_shim").contains("gateway"));
    assert!(!imports("intent").contains("gateway") && !imports("intent").contains("ingress_shim"));
}

#[test]
fn the_checker_sees_a_cycle_when_there_is_one() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges.entry("a".into()).or_default().insert("b".into());
    edges.entry("b".into()).or_default().insert("c".into());
    assert_eq!(find_cycle(&edges), None);
    edges.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        find_cycle(&edges),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    let modules: BTreeSet<String> = ["api", "pki"].iter().map(|s| s.to_string()).collect();
    let code = code_of("use crate::{api::X, pki::key};\n// crate::runtime\nlet x = crate::api::y;");
    assert_eq!(referenced(&code, &modules), modules);
}

#[test]
fn every_module_file_says_what_it_holds() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    let silent: Vec<String> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        silent.is_empty(),
        "files without an opening //! comment: {silent:?}"
    );
}
