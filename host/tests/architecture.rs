//! The architecture invariants of `ARCHITECTURE.md` that are about source text, checked on the source
//! (rust-analyzer's "tidy" tests). Each failure names the file and line that breaks the rule.

use std::path::{Path, PathBuf};

fn host_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The lines of a file that are code (not comments), with their numbers; a file's `#[cfg(test)]`
/// module and everything after it is left out when `code_only`.
fn code_lines(path: &Path, code_only: bool) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if code_only && t.starts_with("#[cfg(test)]") {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push((i + 1, line.to_string()));
    }
    out
}

/// The string literals on a line (good enough for this code base: no raw strings with quotes inside).
fn string_literals(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            // A char literal or a lifetime: skip `'x'` and `'\''`.
            if chars.peek() == Some(&'\\') {
                chars.next();
            }
            chars.next();
            if chars.peek() == Some(&'\'') {
                chars.next();
            }
            continue;
        }
        if c != '"' {
            continue;
        }
        let mut lit = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    lit.push(c);
                    if let Some(n) = chars.next() {
                        lit.push(n);
                    }
                }
                '"' => break,
                c => lit.push(c),
            }
        }
        out.push(lit);
    }
    out
}

fn relative(p: &Path) -> String {
    p.strip_prefix(workspace())
        .unwrap_or(p)
        .display()
        .to_string()
}

#[test]
fn only_the_cli_knows_command_line_flags() {
    // A library message that says `--db` is wrong for an embedder, whose users have no such flag.
    let mut found = Vec::new();
    for file in rust_files(&host_src()) {
        for (n, line) in code_lines(&file, true) {
            for lit in string_literals(&line) {
                let flag = lit.match_indices("--").any(|(i, _)| {
                    lit[i + 2..]
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_lowercase())
                });
                if flag {
                    found.push(format!("{}:{n}: {lit:?}", relative(&file)));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "library strings naming flags:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_runtime_never_touches_the_database() {
    let mut found = Vec::new();
    for file in rust_files(&host_src().join("runtime")) {
        for (n, line) in code_lines(&file, false) {
            if ["rusqlite", "sqlite", "SqliteState"]
                .iter()
                .any(|w| line.contains(w))
            {
                found.push(format!("{}:{n}: {}", relative(&file), line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "runtime/ reaches a database:\n{}",
        found.join("\n")
    );
}

/// SQLite's locks are POSIX locks, held per process: closing any other descriptor of the database
/// file (or its `-wal`/`-shm`) in the process drops them, and another connection can then corrupt it.
/// So the SQLite backend never opens its own files; modes are changed by path.
#[test]
fn the_sqlite_backend_never_opens_its_own_files() {
    let mut found = Vec::new();
    for file in rust_files(&host_src().join("state/sqlite")) {
        if file.ends_with("runner.rs") {
            continue; // the runner lock is a separate file, never the database
        }
        for (n, line) in code_lines(&file, true) {
            if [
                "File::open",
                "File::create",
                "OpenOptions",
                "private_options",
                "files::tighten(",
            ]
            .iter()
            .any(|w| line.contains(w))
            {
                found.push(format!("{}:{n}: {}", relative(&file), line.trim()));
            }
        }
    }
    // The one exception: creating the file before SQLite does, when it does not exist yet.
    found.retain(|l| !l.contains("crate::files::private_options()"));
    assert!(
        found.is_empty(),
        "state/sqlite/ opens a file SQLite may hold locks on:\n{}",
        found.join("\n")
    );
}

#[test]
fn generated_wit_types_stay_inside_the_runtime() {
    // The bindings live in a private module of runtime/; only runtime/ may name them.
    let mut found = Vec::new();
    for file in rust_files(&host_src()) {
        if file.starts_with(host_src().join("runtime")) {
            continue;
        }
        for (n, line) in code_lines(&file, false) {
            if line.contains("bindings::") || line.contains("wit::") || line.contains("bindgen!") {
                found.push(format!("{}:{n}: {}", relative(&file), line.trim()));
            }
        }
    }
    let bindings = std::fs::read_to_string(host_src().join("runtime/bindings.rs")).unwrap();
    assert!(
        !bindings.contains("pub use") && !bindings.contains("pub mod"),
        "runtime/bindings.rs re-exports beyond runtime/"
    );
    assert!(
        found.is_empty(),
        "generated types used outside runtime/:\n{}",
        found.join("\n")
    );
}

#[test]
fn only_the_org_budget_knows_okta_api_paths_and_headers() {
    // The connector owns Okta's API semantics; the host's one exception is the per-org rate budget in
    // outbound/ (which reads the headers through the shared model).
    let mut found = Vec::new();
    for file in rust_files(&host_src()) {
        if file.starts_with(host_src().join("outbound")) {
            continue;
        }
        for (n, line) in code_lines(&file, true) {
            for lit in string_literals(&line) {
                let lower = lit.to_ascii_lowercase();
                if ["/api/v1/", "/oauth2/", "x-rate-limit", "private_key_jwt"]
                    .iter()
                    .any(|w| lower.contains(w))
                {
                    found.push(format!("{}:{n}: {lit:?}", relative(&file)));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "Okta API knowledge in the host:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_domain_model_is_defined_once() {
    // Okta's time format, the rate-limit header names and the category names have one home:
    // spec/model. (The emulator's and the e2e oracle's event classification stay independent.)
    let roots = [
        "connector/src",
        "host/src",
        "host/cli/src",
        "emulator/src",
        "tests/bench/src",
    ];
    let mut found = Vec::new();
    for root in roots {
        for file in rust_files(&workspace().join(root)) {
            // Tests may spell headers out (they are the fixture); product code may not.
            let in_tests = file.components().any(|c| c.as_os_str() == "tests");
            for (n, line) in code_lines(&file, true) {
                let defines = ["fn civil_from_days", "fn days_from_civil", "fn now_ms()"]
                    .iter()
                    .any(|w| line.contains(w))
                    || string_literals(&line).iter().any(|l| {
                        l == "x-rate-limit-remaining" && !root.starts_with("emulator") && !in_tests
                    });
                if defines {
                    found.push(format!("{}:{n}: {}", relative(&file), line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "a second definition of the model:\n{}",
        found.join("\n")
    );
}

#[test]
fn every_source_file_says_what_it_is_for() {
    let mut missing = Vec::new();
    for file in rust_files(&host_src()) {
        let text = std::fs::read_to_string(&file).unwrap();
        if !text.trim_start().starts_with("//!") {
            missing.push(relative(&file));
        }
    }
    assert!(
        missing.is_empty(),
        "files without a //! module doc:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_host_modules_import_each_other_without_cycles() {
    // Module A depends on B when A's code (not its tests or comments) names `crate::B`. A cycle would
    // mean neither can be understood, or tested, without the other.
    use std::collections::{BTreeMap, BTreeSet};
    let src = host_src();
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(&src) {
        let rel = file.strip_prefix(&src).unwrap();
        let module = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        let entry = deps.entry(module.clone()).or_default();
        for (_, line) in code_lines(&file, true) {
            for (i, _) in line.match_indices("crate::") {
                let name: String = line[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !name.is_empty() && name != module {
                    entry.insert(name);
                }
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit(
        m: &str,
        deps: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == m) {
            let mut cycle = path[at..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for d in deps.get(m).into_iter().flatten() {
            if let Some(c) = visit(d, deps, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for m in deps.keys() {
        if let Some(cycle) = visit(m, &deps, &mut Vec::new(), &mut done) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
    assert!(deps.len() > 10, "found the modules: {:?}", deps.keys());
}
