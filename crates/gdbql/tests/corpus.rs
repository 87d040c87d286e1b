//! Replays the regression corpus `tests/corpus/*.txt`: inputs that once
//! broke (or were built to stress) the lexer, parser or evaluator. Each file
//! holds one query text. The first line of a file may be a directive:
//! `#ok` (must parse), `#err L:C` (must fail at line L, column C), followed by
//! the query on the remaining lines; without a directive the whole file is
//! the input and only "no panic, terminates" is checked.

mod common;

use serde_json::json;
use std::path::PathBuf;

#[test]
fn replay_corpus() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "txt"));
    files.sort();
    assert!(files.len() >= 10, "corpus missing in {}", dir.display());
    let evs = [
        common::event(1, "/a", "x", json!({"n": 1, "x": "a"})),
        common::event(2, "/a/b", "t", json!({"n": 2.5, "x": [1, "a"]})),
    ];
    let mut failures = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let (directive, input) = match text.strip_prefix('#') {
            Some(rest) => match rest.split_once('\n') {
                Some((d, q)) => (Some(d.trim().to_string()), q.to_string()),
                None => (Some(rest.trim().to_string()), String::new()),
            },
            None => (None, text.clone()),
        };
        let parsed = genesisdb_gdbql::parse(&input);
        if let Ok(q) = &parsed {
            let _ = q.rows(evs.iter()).take(1000).count();
            let _ = q.holds_over(evs.iter());
        }
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match directive.as_deref() {
            None => {}
            Some("ok") => {
                if let Err(e) = parsed {
                    failures.push(format!("{name}: expected to parse, got {e}"));
                }
            }
            Some(d) if d.starts_with("err ") => {
                let want = d.trim_start_matches("err ").trim();
                match parsed {
                    Ok(_) => failures.push(format!("{name}: parsed, expected an error at {want}")),
                    Err(e) => {
                        if format!("{}:{}", e.line, e.column) != want {
                            failures.push(format!("{name}: expected an error at {want}, got {e}"));
                        }
                    }
                }
            }
            Some(d) => failures.push(format!("{name}: unknown directive {d:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
