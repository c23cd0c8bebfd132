//! The documents point only at what exists: every relative link of the README files (with its
//! `#anchor`), and every repository path named in them, in the man pages, the unit and the
//! Cargo manifests (`src/…`, `tests/…`, `packaging/…`, `.ci/…`, and the unit's `man:` pages).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

const TOP: &str = env!("CARGO_MANIFEST_DIR");

/// Where a path named in running text starts.
const PREFIXES: [&str; 4] = ["src/", "tests/", "packaging/", ".ci/"];

/// One reference: the document it is in, and the path (relative to the top) it names.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Reference {
    document: String,
    target: String,
    anchor: Option<String>,
}

fn top() -> &'static Path {
    Path::new(TOP)
}

/// Every README.md under `dir`, skipping build output and the fuzz corpus.
fn readmes(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("directory entry").path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if path.is_dir() {
            if !matches!(name.as_ref(), "target" | "corpus" | ".git") {
                readmes(&path, found);
            }
        } else if name == "README.md" {
            found.push(path);
        }
    }
}

/// The documents to check, relative to the top.
fn documents() -> Vec<String> {
    let mut found = vec![top().join("README.md")];
    readmes(&top().join("tests"), &mut found);
    readmes(&top().join("packaging"), &mut found);
    let mut names: Vec<String> = found
        .iter()
        .map(|p| relative(p))
        .chain(
            [
                "packaging/man/cloud-network.8",
                "packaging/man/cnctl.1",
                "packaging/man/cloud-network.toml.5",
                "packaging/cloud-network.service",
                "Cargo.toml",
                "tests/fuzz/Cargo.toml",
            ]
            .map(String::from),
        )
        .collect();
    names.sort();
    names.dedup();
    names
}

fn relative(path: &Path) -> String {
    path.strip_prefix(top())
        .expect("under the top")
        .to_string_lossy()
        .into_owned()
}

/// A man page's text without font escapes, `\-` as `-` and `\&` removed.
fn man_text(text: &str) -> String {
    ["\\fB", "\\fI", "\\fR", "\\fP", "\\&"]
        .iter()
        .fold(text.replace("\\-", "-"), |t, escape| t.replace(escape, ""))
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-')
}

/// Paths under the top named in running text: a prefix at a word boundary, up to the first
/// character that cannot be in a path. A name that goes on as a pattern (`<cloud>`, `{a,b}`,
/// `*`, `…`) is a family of paths, not one, and is left out.
fn named_paths(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for prefix in PREFIXES {
        for (start, _) in text.match_indices(prefix) {
            let before = text[..start].chars().next_back();
            if before.is_some_and(|c| is_path_char(c) || c == '$') {
                continue;
            }
            let rest = &text[start..];
            let end = rest.find(|c: char| !is_path_char(c)).unwrap_or(rest.len());
            if rest[end..].starts_with(['<', '{', '*', '…', '$'])
                || names_a_repository(&text[..start])
            {
                continue;
            }
            let path = rest[..end].trim_end_matches(['.', '-']);
            found.push(path.to_string());
        }
    }
    found
}

/// True when the text before a path ends with another repository's name (`owner/name`, as in
/// "canonical/cloud-init `tests/…`"): the path is in that repository, not in this one.
fn names_a_repository(before: &str) -> bool {
    let word = before
        .trim_end_matches(|c: char| c == '`' || c.is_whitespace())
        .rsplit(char::is_whitespace)
        .next()
        .unwrap_or_default();
    let mut parts = word.split('/');
    let (Some(owner), Some(name), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let is_name = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    is_name(owner) && is_name(name)
}

/// `[text](target)` links of a Markdown text that are not URLs.
fn markdown_links(text: &str) -> Vec<(String, Option<String>)> {
    let mut found = Vec::new();
    for (start, _) in text.match_indices("](") {
        let rest = &text[start + 2..];
        let Some(end) = rest.find(')') else { continue };
        let link = &rest[..end];
        if link.contains("://") || link.starts_with("mailto:") {
            continue;
        }
        let (path, anchor) = match link.split_once('#') {
            Some((path, anchor)) => (path, Some(anchor.to_string())),
            None => (link, None),
        };
        found.push((path.to_string(), anchor));
    }
    found
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(markdown: &str) -> BTreeSet<String> {
    markdown
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| slug(l.trim_start_matches('#')))
        .collect()
}

/// Every reference of one document.
fn references(document: &str) -> Vec<Reference> {
    let text = fs::read_to_string(top().join(document)).expect("read document");
    let dir = Path::new(document).parent().unwrap_or(Path::new(""));
    let mut found = Vec::new();
    let plain = if document.starts_with("packaging/man/") {
        man_text(&text)
    } else {
        text.clone()
    };
    for target in named_paths(&plain) {
        found.push(Reference {
            document: document.to_string(),
            target,
            anchor: None,
        });
    }
    if document.ends_with(".md") {
        for (path, anchor) in markdown_links(&text) {
            let target = if path.is_empty() {
                document.to_string()
            } else {
                normalize(&dir.join(&path))
            };
            found.push(Reference {
                document: document.to_string(),
                target,
                anchor,
            });
        }
    }
    for (start, _) in text.match_indices("man:") {
        let rest = &text[start + 4..];
        if let Some((name, tail)) = rest.split_once('(') {
            if let Some((section, _)) = tail.split_once(')') {
                found.push(Reference {
                    document: document.to_string(),
                    target: format!("packaging/man/{name}.{section}"),
                    anchor: None,
                });
            }
        }
    }
    found
}

/// `a/b/../c` as `a/c`, without touching the file system.
fn normalize(path: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for part in path.components() {
        match part.as_os_str().to_string_lossy().as_ref() {
            "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other.to_string()),
        }
    }
    parts.join("/")
}

/// Test names given as `` `file: name` ``, then `` , `name` `` for more in the same file, up to a
/// `;` or the end of the table cell.
fn named_tests(markdown: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for cell in markdown.split(['|', ';', '\n']) {
        let mut file: Option<String> = None;
        for (i, quoted) in cell.split('`').enumerate() {
            if i % 2 == 0 {
                if !quoted.trim().is_empty() && quoted.trim() != "," {
                    file = None;
                }
                continue;
            }
            if let Some((path, name)) = quoted.split_once(": ") {
                if PREFIXES.iter().any(|p| path.starts_with(p)) {
                    file = Some(path.to_string());
                    found.push((path.to_string(), name.to_string()));
                }
            } else if let Some(path) = &file {
                if quoted
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                {
                    found.push((path.clone(), quoted.to_string()));
                }
            }
        }
    }
    found
}

/// The Rust sources at `path`: the file, or every `.rs` file under the directory.
fn sources(path: &Path) -> String {
    if path.is_file() {
        return fs::read_to_string(path).unwrap_or_default();
    }
    let Ok(entries) = fs::read_dir(path) else {
        return String::new();
    };
    entries
        .map(|e| sources(&e.expect("directory entry").path()))
        .collect()
}

#[test]
fn every_test_the_readme_names_exists() {
    let readme = fs::read_to_string(top().join("README.md")).expect("README");
    let tests = named_tests(&readme);
    let missing: Vec<String> = tests
        .iter()
        .filter(|(path, name)| !sources(&top().join(path)).contains(&format!("fn {name}(")))
        .map(|(path, name)| format!("{path}: {name}"))
        .collect();
    println!("checked {} test names in README.md", tests.len());
    assert!(
        missing.is_empty(),
        "named in README.md, not found:\n{}",
        missing.join("\n")
    );
    assert!(
        tests.len() > 50,
        "too few test names found: {}",
        tests.len()
    );
}

#[test]
fn every_path_and_link_in_the_documents_exists() {
    let mut all: Vec<Reference> = documents().iter().flat_map(|d| references(d)).collect();
    all.sort();
    all.dedup();
    let broken: Vec<String> = all
        .iter()
        .filter_map(|r| {
            let path = top().join(&r.target);
            if fs::symlink_metadata(&path).is_err() {
                return Some(format!("{}: {} does not exist", r.document, r.target));
            }
            let anchor = r.anchor.as_ref()?;
            let text = fs::read_to_string(&path).unwrap_or_default();
            (!anchors(&text).contains(anchor))
                .then(|| format!("{}: {} has no heading #{anchor}", r.document, r.target))
        })
        .collect();
    println!(
        "checked {} references in {} documents",
        all.len(),
        documents().len()
    );
    assert!(
        broken.is_empty(),
        "broken references:\n{}",
        broken.join("\n")
    );
    assert!(all.len() > 80, "too few references found: {}", all.len());
}

#[test]
fn the_checker_finds_paths_links_and_anchors() {
    assert_eq!(
        named_paths("see `tests/e2e.rs: a_test`, tests/fixtures/<cloud>/ and src/plan/."),
        ["src/plan/", "tests/e2e.rs"]
    );
    assert!(named_paths("canonical/cloud-init\n  `tests/unittests/x.py`").is_empty());
    assert_eq!(
        markdown_links("[a](tests/lab/README.md) [b](https://x.org/) [c](#the-lab)"),
        [
            ("tests/lab/README.md".to_string(), None),
            (String::new(), Some("the-lab".to_string()))
        ]
    );
    assert_eq!(
        slug("What it promises, and the tests that check each"),
        "what-it-promises-and-the-tests-that-check-each"
    );
    assert_eq!(
        named_tests("| x | `tests/a.rs: one`, `two`; `src/b.rs: three` and `Cargo` |"),
        [
            ("tests/a.rs".to_string(), "one".to_string()),
            ("tests/a.rs".to_string(), "two".to_string()),
            ("src/b.rs".to_string(), "three".to_string())
        ]
    );
    assert_eq!(
        normalize(Path::new("tests/benches/../lab/README.md")),
        "tests/lab/README.md"
    );
    assert_eq!(
        man_text("\\fBpackaging/install.sh\\fR \\-\\-x"),
        "packaging/install.sh --x"
    );
}
