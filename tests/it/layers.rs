//! The one-way house: data flows ingest → model → engine → plan → report, and commands are
//! orchestrated in one place. Each module may import only the modules before it in `ORDER`
//! (and the leaf modules every layer shares), so no import circle can come back.

use crate::util::root;
use std::collections::BTreeSet;

/// Shared leaves: diagnostics, errors, exit codes and the raw clap types.
const LEAVES: [&str; 5] = ["diag", "error", "exit", "cli", "clock"];
/// Lowest first. `graph` (the Graph client) is a way in beside `ingest`; the sandbox serves a
/// tenant with the engine and Graph's wire shapes, and never the client (a test below).
const ORDER: [&str; 12] = [
    "model", "graph", "ingest", "settings", "engine", "plan", "verify", "report", "publish",
    "generate", "sandbox", "commands",
];

fn sources(module: &str) -> Vec<std::path::PathBuf> {
    let src = root().join("src");
    let file = src.join(format!("{module}.rs"));
    if file.is_file() {
        return vec![file];
    }
    let mut out = Vec::new();
    let mut stack = vec![src.join(module)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn every_module_imports_only_the_layers_below_it() {
    let mut seen = BTreeSet::new();
    for (i, module) in ORDER.iter().enumerate() {
        let files = sources(module);
        assert!(!files.is_empty(), "src/{module} is missing");
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for (at, _) in text.match_indices("crate::") {
                let name: String = text[at + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if name == *module || LEAVES.contains(&name.as_str()) {
                    continue;
                }
                let Some(j) = ORDER.iter().position(|m| *m == name) else {
                    panic!("{}: crate::{name} is in no layer", f.display());
                };
                assert!(
                    j < i,
                    "{} imports crate::{name}, a layer above {module}",
                    f.display()
                );
                seen.insert((module.to_string(), name));
            }
        }
    }
    // The test reads real imports: the report renders the engine's and the plan's data.
    assert!(seen.contains(&("report".into(), "plan".into())));
    assert!(seen.contains(&("commands".into(), "report".into())));
}

/// The sandbox stands in for Graph and the client talks to Graph: neither may lean on the
/// other, or a defect in one could hide in both. The sandbox takes Graph's wire shapes only.
#[test]
fn the_sandbox_never_uses_the_graph_client() {
    for f in sources("sandbox") {
        let text = std::fs::read_to_string(&f).unwrap();
        for (at, _) in text.match_indices("crate::graph::") {
            let item: String = text[at + 14..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                ["wire", "new_uuid"].contains(&item.as_str()),
                "{} uses crate::graph::{item}",
                f.display()
            );
        }
    }
    for f in sources("graph") {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(!text.contains("crate::sandbox"), "{}", f.display());
    }
}
