//! The source keeps the shape the README's "How it runs" gives it: no module of `src/` imports a
//! module of a layer above its own, `metrics` imports no other module of ours, and no circle of
//! imports runs between files of different directories. Read from the source text: every
//! `crate::`/`super::`/`self::` path outside comments and test code, resolved to the file that
//! defines it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// The layers, top first: a module may import its own layer's modules and those below.
const LAYERS: [&[&str]; 5] = [
    &["main"],
    &["daemon"],
    &["api", "cnctl", "emulator"],
    &[
        "plan", "netlink", "metadata", "state", "check", "config", "snapshot", "detect",
    ],
    &[
        "kernel",
        "net",
        "http",
        "metrics",
        "trigger",
        "logging",
        "usage",
        "privileges",
        "sys",
    ],
];

/// One source file: its module path (`["plan", "desired"]` for `src/plan/desired/mod.rs`), its
/// directory and its text without comments and test code.
struct Source {
    module: Vec<String>,
    dir: String,
    text: String,
}

fn src() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, as paths relative to `src/`.
fn files(dir: &Path, found: &mut Vec<String>) {
    for entry in fs::read_dir(dir).expect("read src") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path.strip_prefix(src()).expect("under src");
            found.push(relative.to_string_lossy().into_owned());
        }
    }
}

/// Test code: `tests.rs`, files under a `tests/` directory, `test_*.rs`.
fn is_test_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    path.split('/').any(|part| part == "tests") || name == "tests.rs" || name.starts_with("test_")
}

fn module_of(path: &str) -> Vec<String> {
    let mut parts: Vec<String> = path
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_string)
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The text before the file's `#[cfg(test)] mod tests`, without `//` comments.
fn code_of(text: &str) -> String {
    let mut code = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        let next = lines.peek().map(|l| l.trim_start()).unwrap_or("");
        if trimmed == "#[cfg(test)]" && next.starts_with("mod tests") {
            break;
        }
        let without_comment = match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        };
        code.push_str(without_comment);
        code.push('\n');
    }
    code
}

fn sources() -> Vec<Source> {
    let mut paths = Vec::new();
    files(&src(), &mut paths);
    paths
        .into_iter()
        .filter(|p| !is_test_file(p) && p != "lib.rs")
        .map(|path| {
            let text = fs::read_to_string(src().join(&path)).expect("read source");
            Source {
                module: module_of(&path),
                dir: path
                    .rsplit_once('/')
                    .map(|(d, _)| d)
                    .unwrap_or("")
                    .to_string(),
                text: code_of(&text),
            }
        })
        .collect()
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The paths a use tree names: `crate::{a, b::{c, d}}` gives `crate::a`, `crate::b::c`,
/// `crate::b::d`.
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head = tree[..open].trim_end_matches("::").trim();
        let body = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let prefix = join(prefix, head);
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in body.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&prefix, &body[start..i], out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        expand(&prefix, &body[start..], out);
    } else if !tree.is_empty() {
        let name = tree.split(" as ").next().unwrap_or(tree).trim();
        out.push(join(prefix, name));
    }
}

fn join(prefix: &str, rest: &str) -> String {
    match (prefix.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_string(),
        (_, true) => prefix.to_string(),
        _ => format!("{prefix}::{rest}"),
    }
}

/// Every path of ours the code names: the `use` trees and the paths written inline.
fn named_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for statement in code.split(';') {
        let statement = statement.trim();
        let tree = statement
            .strip_prefix("pub use ")
            .or_else(|| statement.strip_prefix("pub(crate) use "))
            .or_else(|| statement.strip_prefix("pub(super) use "))
            .or_else(|| statement.strip_prefix("use "));
        if let Some(tree) = tree.map(str::trim) {
            if ["crate", "super", "self"]
                .iter()
                .any(|r| tree.starts_with(r))
            {
                expand("", tree, &mut paths);
            }
        }
    }
    for root in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(root) {
            let start = from + at;
            from = start + root.len();
            if code[..start]
                .chars()
                .next_back()
                .is_some_and(|c| is_word(c) || c == ':')
            {
                continue;
            }
            let end = code[start..]
                .find(|c: char| !(is_word(c) || c == ':'))
                .map_or(code.len(), |e| start + e);
            paths.push(code[start..end].trim_end_matches(':').to_string());
        }
    }
    paths
}

/// The module a path names, made absolute from the file's own module.
fn absolute(path: &str, module: &[String]) -> Vec<String> {
    let mut parts = path.split("::").filter(|p| !p.is_empty());
    let mut base: Vec<String> = Vec::new();
    let mut rest: Vec<String> = Vec::new();
    match parts.next() {
        Some("crate") => {}
        Some(first) => {
            base = module.to_vec();
            let mut word = Some(first);
            while let Some(w) = word {
                match w {
                    "super" => {
                        base.pop();
                    }
                    "self" => {}
                    other => {
                        rest.push(other.to_string());
                        break;
                    }
                }
                word = parts.next();
            }
        }
        None => return Vec::new(),
    }
    base.extend(rest);
    base.extend(parts.map(str::to_string));
    base
}

/// The file (index into `sources`) that defines the longest prefix of `path`.
fn resolve(path: &[String], by_module: &BTreeMap<Vec<String>, usize>) -> Option<usize> {
    (1..=path.len())
        .rev()
        .find_map(|n| by_module.get(&path[..n]).copied())
}

fn edges(sources: &[Source]) -> Vec<BTreeSet<usize>> {
    let by_module: BTreeMap<Vec<String>, usize> = sources
        .iter()
        .enumerate()
        .map(|(i, s)| (s.module.clone(), i))
        .collect();
    sources
        .iter()
        .enumerate()
        .map(|(i, source)| {
            named_paths(&source.text)
                .iter()
                .filter_map(|p| resolve(&absolute(p, &source.module), &by_module))
                .filter(|t| *t != i)
                .collect()
        })
        .collect()
}

fn layer_of(top: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&top))
}

fn name(source: &Source) -> String {
    match source.module.is_empty() {
        true => "lib".to_string(),
        false => source.module.join("::"),
    }
}

#[test]
fn no_module_imports_one_above_its_layer() {
    let sources = sources();
    let edges = edges(&sources);
    let mut upward = Vec::new();
    for (from, targets) in edges.iter().enumerate() {
        let top = &sources[from].module[0];
        let Some(layer) = layer_of(top) else {
            upward.push(format!("{top} is in no layer of tests/layers.rs"));
            continue;
        };
        for &to in targets {
            let target_top = &sources[to].module[0];
            if layer_of(target_top).is_some_and(|l| l < layer) {
                upward.push(format!(
                    "{} imports {}",
                    name(&sources[from]),
                    name(&sources[to])
                ));
            }
        }
    }
    assert_eq!(upward, Vec::<String>::new());
}

#[test]
fn metrics_imports_nothing_of_ours() {
    let sources = sources();
    let edges = edges(&sources);
    let outside: Vec<String> = edges
        .iter()
        .enumerate()
        .filter(|(from, _)| sources[*from].module[0] == "metrics")
        .flat_map(|(from, targets)| targets.iter().map(move |to| (from, *to)))
        .filter(|(_, to)| sources[*to].module[0] != "metrics")
        .map(|(from, to)| format!("{} imports {}", name(&sources[from]), name(&sources[to])))
        .collect();
    assert_eq!(outside, Vec::<String>::new());
}

#[test]
fn no_circle_of_imports_crosses_a_directory() {
    let sources = sources();
    let edges = edges(&sources);
    let crossing: Vec<Vec<String>> = strongly_connected(&edges)
        .into_iter()
        .filter(|files| {
            let dirs: BTreeSet<&str> = files.iter().map(|f| sources[*f].dir.as_str()).collect();
            dirs.len() > 1
        })
        .map(|files| files.iter().map(|f| name(&sources[*f])).collect())
        .collect();
    assert_eq!(crossing, Vec::<Vec<String>>::new());
}

/// The strongly connected components of more than one file (Tarjan's algorithm, iterative).
fn strongly_connected(edges: &[BTreeSet<usize>]) -> Vec<Vec<usize>> {
    let n = edges.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut found = Vec::new();
    let mut next = 0;
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut work: Vec<(usize, Vec<usize>)> = vec![(root, Vec::new())];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        work[0].1 = edges[root].iter().copied().collect();
        while let Some((v, pending)) = work.last_mut() {
            let v = *v;
            if let Some(w) = pending.pop() {
                if index[w] == usize::MAX {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, edges[w].iter().copied().collect()));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some((parent, _)) = work.last() {
                low[*parent] = low[*parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    found.push(component);
                }
            }
        }
    }
    found
}
