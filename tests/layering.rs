//! The layout rules a newcomer relies on, checked on the source itself: no module imports a
//! module that imports it (directly or through others), no file is over 500 lines, no room (a
//! directory or file of `src/`) holds more than a third of the code, and each room imports only
//! the rooms its doc's "May import:" line names.
//!
//! A module is a file of `src/`; it imports another when it names it by a `crate::` or
//! `super::` path. A module's use of its own ancestors (a child reading what its `mod.rs`
//! declares) is the tree itself, not an import, and is left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const LONGEST_FILE: usize = 500;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/telemetry/store/mod.rs` → `telemetry::store`; `src/lib.rs` → ``.
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts.join("::")
}

/// The paths a file names: `crate::a::b::C` as `a::b::C`, and `super::x` from `module` (in
/// `a/b.rs` and in `a/b/mod.rs` alike) as `a::x`.
fn named_paths(module: &str, text: &str) -> Vec<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or(text);
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut found = Vec::new();
    let mut parent: Vec<&str> = module.split("::").filter(|p| !p.is_empty()).collect();
    parent.pop();
    for (prefix, base) in [("crate::", Vec::new()), ("super::", parent)] {
        for (at, _) in code.match_indices(prefix) {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let rest: String = code[at + prefix.len()..]
                .chars()
                .take_while(|c| word(*c))
                .collect();
            let mut path: Vec<&str> = base.clone();
            path.extend(rest.split("::").filter(|p| !p.is_empty()));
            found.push(path.join("::"));
        }
    }
    found
}

#[test]
fn no_module_imports_one_that_imports_it_and_no_file_or_room_is_too_large() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let modules: BTreeMap<String, PathBuf> = files
        .iter()
        .map(|f| (module_of(&src, f), f.clone()))
        .collect();
    let mut imports: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut too_long = Vec::new();
    let mut room_lines: BTreeMap<String, usize> = BTreeMap::new();
    for (module, file) in &modules {
        let text = std::fs::read_to_string(file).unwrap();
        let lines = text.lines().count();
        if lines > LONGEST_FILE {
            too_long.push(format!("{} ({lines} lines)", file.display()));
        }
        let room = file.strip_prefix(&src).unwrap().iter().next().unwrap();
        *room_lines
            .entry(room.to_string_lossy().trim_end_matches(".rs").to_string())
            .or_default() += lines;
        for path in named_paths(module, &text) {
            let segments: Vec<&str> = path.split("::").collect();
            let target = (1..=segments.len())
                .rev()
                .map(|n| segments[..n].join("::"))
                .find(|candidate| modules.contains_key(candidate));
            if let Some(target) = target {
                let ancestor = module.starts_with(&format!("{target}::")) || target.is_empty();
                if target != *module && !ancestor {
                    let (key, _) = modules.get_key_value(&target).unwrap();
                    imports.entry(module).or_default().insert(key);
                }
            }
        }
    }
    assert!(
        too_long.is_empty(),
        "files over {LONGEST_FILE} lines: {too_long:?}"
    );
    let all: usize = room_lines.values().sum();
    let too_large: Vec<_> = room_lines
        .iter()
        .filter(|(_, lines)| **lines * 3 > all)
        .collect();
    assert!(
        too_large.is_empty(),
        "rooms over a third of the {all} lines of src/: {too_large:?}"
    );
    for start in imports.keys() {
        let mut path = vec![*start];
        if let Some(cycle) = cycle_from(start, &imports, &mut path) {
            panic!("an import circle: {}", cycle.join(" → "));
        }
    }
}

/// A path back to `path[0]`, if one exists (depth-first, each module once per path).
fn cycle_from<'a>(
    start: &'a str,
    imports: &BTreeMap<&'a str, BTreeSet<&'a str>>,
    path: &mut Vec<&'a str>,
) -> Option<Vec<&'a str>> {
    let current = *path.last().unwrap();
    for next in imports.get(current).into_iter().flatten() {
        if *next == start {
            let mut cycle = path.clone();
            cycle.push(next);
            return Some(cycle);
        }
        if !path.contains(next) && *next > start {
            path.push(next);
            if let Some(cycle) = cycle_from(start, imports, path) {
                return Some(cycle);
            }
            path.pop();
        }
    }
    None
}

/// The first segment of `src/…`: a directory of `src/` or a file of its own; `None` for the
/// crate's roots (`lib.rs`, `main.rs`, `bin/`), which are no room.
fn room_of(src: &Path, file: &Path) -> Option<String> {
    let first = file.strip_prefix(src).unwrap().iter().next()?;
    let room = first.to_string_lossy().trim_end_matches(".rs").to_string();
    (!matches!(room.as_str(), "lib" | "main" | "bin")).then_some(room)
}

/// The rooms named in a room's "May import:" sentence (its module doc, up to the sentence's
/// end: the words in backticks that could name a module); `the leaves` stands for every room
/// that imports no other. `None` without the line.
fn may_import(doc: &str) -> Option<(BTreeSet<String>, bool)> {
    let start = doc.find("May import:")? + "May import:".len();
    let sentence = &doc[start..];
    let end = sentence
        .find(". ")
        .or_else(|| sentence.find(".\n"))
        .unwrap_or(sentence.len());
    let sentence = sentence[..end].replace('\n', " ");
    let names = sentence
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|name| name.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .map(str::to_string)
        .collect();
    Some((names, sentence.contains("the leaves")))
}

/// Every room's doc says what it may import ("May import: `store`, `config`."), and says it
/// truly: a room that imports one it does not name fails, as does a name that is no room.
#[test]
fn each_room_imports_only_what_its_doc_says_it_may() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let rooms: BTreeSet<String> = files.iter().filter_map(|f| room_of(&src, f)).collect();
    let mut imports: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Some(room) = room_of(&src, file) else {
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        let named = imports.entry(room.clone()).or_default();
        for path in named_paths(&module_of(&src, file), &text) {
            let first = path.split("::").next().unwrap_or_default().to_string();
            if first != room && rooms.contains(&first) {
                named.insert(first);
            }
        }
    }
    let leaves: BTreeSet<&String> = imports
        .iter()
        .filter(|(_, named)| named.is_empty())
        .map(|(room, _)| room)
        .collect();
    let mut wrong = Vec::new();
    for (room, named) in &imports {
        let doc_file = if src.join(room).is_dir() {
            src.join(room).join("mod.rs")
        } else {
            src.join(format!("{room}.rs"))
        };
        let doc: String = std::fs::read_to_string(&doc_file)
            .unwrap()
            .lines()
            .take_while(|line| line.starts_with("//!"))
            .map(|line| format!("{}\n", line.trim_start_matches("//!").trim()))
            .collect();
        let Some((allowed, with_leaves)) = may_import(&doc) else {
            wrong.push(format!("{room}: no \"May import:\" line"));
            continue;
        };
        for name in allowed.iter().filter(|name| !rooms.contains(*name)) {
            wrong.push(format!("{room}: may import `{name}`, which is no room"));
        }
        for name in named {
            let named_in_doc = allowed.contains(name) || (with_leaves && leaves.contains(name));
            if !named_in_doc {
                wrong.push(format!(
                    "{room}: imports `{name}`, which its doc does not name"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the code map is not true:\n{}",
        wrong.join("\n")
    );
}
