//! The layering rule, read from the source: `lp/` imports nothing above
//! it, and no two modules import each other (at the top level, nor among
//! the siblings inside a directory module). Each failure names the file
//! and line of the import that breaks the rule.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What `src/lp/` must never import: every layer above the LPs.
const ABOVE_LP: &[&str] = &[
    "rfq", "config", "scenario", "venues", "desk", "app", "ui", "prompt", "output", "blotter",
    "bench", "recorder", "cli", "flags", "streams",
];

/// A module path from the crate root, e.g. `["lp", "fix", "session"]`.
type ModPath = Vec<String>;

/// One reference from a module to another, with where it is written.
#[derive(Debug, Clone)]
struct Reference {
    from: ModPath,
    to: ModPath,
    at: String,
}

#[test]
fn lp_imports_nothing_above_it() {
    let references = scan(&crate_src());
    let offences = lp_offences(&references);
    assert!(
        offences.is_empty(),
        "src/lp must not import the layers above it:\n{}",
        offences.join("\n")
    );
}

#[test]
fn no_two_modules_import_each_other() {
    let references = scan(&crate_src());
    let cycles = mutual_imports(&references);
    assert!(
        cycles.is_empty(),
        "modules that import each other:\n{}",
        cycles.join("\n")
    );
}

/// The scanner sees the imports that are there: were it blind, the two
/// rules above would pass on anything.
#[test]
fn the_scanner_sees_real_imports() {
    let references = scan(&crate_src());
    let sees = |from: &str, to: &str| {
        references
            .iter()
            .any(|r| r.from.join("::") == from && r.to.join("::") == to)
    };
    assert!(sees("rfq::engine", "lp"), "rfq::engine -> lp not seen");
    assert!(
        sees("rfq::engine", "rfq::book"),
        "rfq::engine -> rfq::book not seen"
    );
    assert!(
        sees("desk::registry", "lp::fix"),
        "desk::registry -> lp::fix not seen"
    );
}

#[test]
fn the_rules_name_the_file_and_line_that_break_them() {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("lib.rs", "pub mod lp;\npub mod rfq;\n");
    write("lp/mod.rs", "pub mod health;\npub mod http;\n");
    write(
        "lp/health.rs",
        "// crate::rfq in a comment is not an import\nuse crate::rfq::event::HealthState;\n",
    );
    write(
        "lp/http.rs",
        "pub const X: &str = \"crate::rfq\";\nuse super::health::Y;\n",
    );
    write(
        "rfq/mod.rs",
        "pub mod event;\nfn f() { let _ = crate::lp::{http::A, health::B}; }\n",
    );
    write(
        "rfq/event.rs",
        "use crate::lp::http::X;\n#[cfg(test)]\nmod tests {\n    use super::Z;\n}\n",
    );
    write("lp/fixture.rs", "");
    let references = scan(dir.path());
    assert_eq!(
        lp_offences(&references),
        vec!["src/lp/health.rs:2: use crate::rfq::event::HealthState;".to_string()]
    );
    assert_eq!(
        mutual_imports(&references),
        vec![
            "lp <-> rfq: src/lp/health.rs:2: use crate::rfq::event::HealthState; \
             / src/rfq/event.rs:1: use crate::lp::http::X;"
                .to_string()
        ]
    );
}

fn crate_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `src/lp` reference to a layer above it, as `file:line: code`.
fn lp_offences(references: &[Reference]) -> Vec<String> {
    references
        .iter()
        .filter(|r| r.from.first().map(String::as_str) == Some("lp"))
        .filter(|r| ABOVE_LP.contains(&r.to[0].as_str()))
        .map(|r| r.at.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Every pair of sibling modules (top-level ones, or two inside the same
/// directory module) that reference each other, with one place each way.
fn mutual_imports(references: &[Reference]) -> Vec<String> {
    let mut edges: BTreeMap<(ModPath, ModPath), String> = BTreeMap::new();
    for r in references {
        let common = r.from.iter().zip(&r.to).take_while(|(a, b)| a == b).count();
        if common < r.from.len() && common < r.to.len() {
            let from = r.from[..=common].to_vec();
            let to = r.to[..=common].to_vec();
            edges.entry((from, to)).or_insert_with(|| r.at.clone());
        }
    }
    let mut cycles = Vec::new();
    for ((from, to), at) in &edges {
        if from < to {
            if let Some(back) = edges.get(&(to.clone(), from.clone())) {
                cycles.push(format!(
                    "{} <-> {}: {at} / {back}",
                    from.join("::"),
                    to.join("::")
                ));
            }
        }
    }
    cycles
}

/// Every reference (`crate::…` and `super::…`, in `use` lines and inline
/// paths) between the modules of the crate whose sources are in `src`.
fn scan(src: &Path) -> Vec<Reference> {
    let mut files = Vec::new();
    collect_rs(src, &mut files);
    let modules: BTreeSet<ModPath> = files.iter().map(|f| module_of(src, f)).collect();
    let mut references = Vec::new();
    for file in &files {
        // The binary is its own crate: its `crate::` is not the library's.
        if file == &src.join("main.rs") {
            continue;
        }
        let from = module_of(src, file);
        let text = std::fs::read_to_string(file).unwrap();
        let shown = format!("src/{}", relative(src, file));
        for (line_no, code, inline_depth) in code_lines(&text) {
            for target in paths_in(&code) {
                let Some(absolute) = resolve(&from, inline_depth, &target) else {
                    continue;
                };
                // The longest prefix that is a module: an item's module.
                let Some(to) = (1..=absolute.len())
                    .rev()
                    .map(|n| absolute[..n].to_vec())
                    .find(|prefix| modules.contains(prefix))
                else {
                    continue;
                };
                let source_line = text.lines().nth(line_no - 1).unwrap_or("").trim();
                references.push(Reference {
                    from: from.clone(),
                    to,
                    at: format!("{shown}:{line_no}: {source_line}"),
                });
            }
        }
    }
    references
}

fn collect_rs(dir: &Path, files: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_rs(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

fn relative(src: &Path, file: &Path) -> String {
    file.strip_prefix(src)
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/")
}

/// `lp/fix/mod.rs` is `lp::fix`, `blotter/figures/raw.rs` is
/// `blotter::figures::raw`, `lib.rs` the root.
fn module_of(src: &Path, file: &Path) -> ModPath {
    let relative = relative(src, file);
    let mut parts: ModPath = relative
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_string)
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// A path as written: `crate::a::b` or `super::super::a`.
enum Written {
    Crate(Vec<String>),
    Super(usize, Vec<String>),
}

/// `target` from module `from`, `inline_depth` inline modules deep (a
/// `mod tests { .. }`); `None` when it stays inside the file.
fn resolve(from: &ModPath, inline_depth: usize, target: &Written) -> Option<ModPath> {
    match target {
        Written::Crate(path) => Some(path.clone()),
        Written::Super(ups, path) => {
            let ups = ups.checked_sub(inline_depth).filter(|ups| *ups > 0)?;
            let base = from.len().checked_sub(ups)?;
            Some(from[..base].iter().chain(path).cloned().collect())
        }
    }
}

/// The paths written on one line of code, with `use` groups expanded:
/// `crate::lp::{http::A, health}` is `crate::lp::http::A` and
/// `crate::lp::health`.
fn paths_in(code: &str) -> Vec<Written> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    let mut at = 0;
    while at < code.len() {
        let rest = &code[at..];
        let word_start = at == 0 || !is_ident(bytes[at - 1]);
        if word_start && rest.starts_with("crate::") {
            let mut paths = Vec::new();
            use_tree(&code[at + "crate::".len()..], Vec::new(), &mut paths);
            found.extend(paths.into_iter().map(Written::Crate));
            at += "crate::".len();
        } else if word_start && rest.starts_with("super::") {
            let mut ups = 0;
            let mut tail = rest;
            while let Some(next) = tail.strip_prefix("super::") {
                ups += 1;
                tail = next;
            }
            let mut paths = Vec::new();
            use_tree(tail, Vec::new(), &mut paths);
            found.extend(paths.into_iter().map(|path| Written::Super(ups, path)));
            at += rest.len() - tail.len();
        } else {
            at += rest.chars().next().unwrap().len_utf8();
        }
    }
    found
}

fn is_ident(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// Expands the use-tree at the start of `text` (after a `crate::`) into
/// full paths appended to `prefix`; returns how much of `text` it read.
fn use_tree(text: &str, prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let mut path = prefix;
    let mut at = 0;
    loop {
        let rest = &text[at..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut read = 1;
            let mut inner = group;
            loop {
                let skipped = inner.len() - inner.trim_start().len();
                read += skipped;
                inner = &inner[skipped..];
                if inner.is_empty() {
                    return at + read;
                }
                if let Some(after) = inner.strip_prefix('}') {
                    let _ = after;
                    return at + read + 1;
                }
                if let Some(after) = inner.strip_prefix(',') {
                    read += 1;
                    inner = after;
                    continue;
                }
                let used = use_tree(inner, path.clone(), out);
                read += used.max(1);
                inner = &inner[used.max(1).min(inner.len())..];
            }
        }
        let ident_len = rest.bytes().take_while(|b| is_ident(*b)).count();
        if ident_len == 0 {
            break;
        }
        path.push(rest[..ident_len].to_string());
        at += ident_len;
        if text[at..].starts_with("::") {
            at += 2;
        } else {
            break;
        }
    }
    if !path.is_empty() {
        out.push(path);
    }
    at
}

/// The code of each line (comments and string, char literals blanked),
/// with its number from 1 and how many inline modules (`mod x { .. }`)
/// it sits in.
fn code_lines(text: &str) -> Vec<(usize, String, usize)> {
    let code = blank_comments_and_strings(text);
    let mut lines = Vec::new();
    let mut depth = 0usize;
    // Brace depths at which an inline module was opened.
    let mut inline_mods: Vec<usize> = Vec::new();
    for (index, line) in code.lines().enumerate() {
        let trimmed = line.trim_start();
        let opens_inline_mod = trimmed
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub ")
            .strip_prefix("mod ")
            .is_some_and(|rest| rest.trim_end().ends_with('{'));
        lines.push((index + 1, line.to_string(), inline_mods.len()));
        if opens_inline_mod {
            inline_mods.push(depth);
        }
        for ch in line.chars() {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth = depth.saturating_sub(1);
                    if inline_mods.last() == Some(&depth) {
                        inline_mods.pop();
                    }
                }
                _ => {}
            }
        }
    }
    lines
}

/// `text` with comments, strings and char literals replaced by spaces
/// (newlines kept), so that neither a path in a doc comment nor a brace in
/// a format string counts.
fn blank_comments_and_strings(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut nesting = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    nesting += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    nesting -= 1;
                    out.push_str("  ");
                    i += 2;
                    if nesting == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && (i == 0 || !is_ident(chars[i - 1] as u8))
            && raw_string_start(&chars[i + 1..]).is_some()
        {
            let hashes = raw_string_start(&chars[i + 1..]).unwrap();
            let open = 2 + hashes;
            for _ in 0..open {
                out.push(' ');
            }
            i += open;
            while i < chars.len() {
                if chars[i] == '"'
                    && chars[i + 1..].iter().take(hashes).all(|c| *c == '#')
                    && chars.len() >= i + 1 + hashes
                {
                    for _ in 0..=hashes {
                        out.push(' ');
                    }
                    i += 1 + hashes;
                    break;
                }
                out.push(blank(chars[i]));
                i += 1;
            }
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' {
            // A char literal ('{', '\n', '\u{7b}'); otherwise a lifetime.
            let close = if next == Some('\\') {
                chars[i + 2..]
                    .iter()
                    .position(|c| *c == '\'')
                    .map(|p| i + 2 + p)
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match close {
                Some(end) => {
                    for _ in i..=end {
                        out.push(' ');
                    }
                    i = end + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// After an `r`: `"` or `#..#"` opens a raw string; how many `#`.
fn raw_string_start(after_r: &[char]) -> Option<usize> {
    let hashes = after_r.iter().take_while(|c| **c == '#').count();
    (after_r.get(hashes) == Some(&'"')).then_some(hashes)
}
