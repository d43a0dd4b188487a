//! Issue #25 item 17: every `licshift` command shown in README.md and docs/*.md runs on the
//! fixtures, in the order a reader meets them, and exits 0 or 1 (never 2, a usage error or bad
//! input: the sample drifted from the binary). A ```text block right after a ```sh block of one
//! command is that command's output, compared whole.

use crate::util::*;
use std::path::Path;

/// The docs in the order a reader follows them; they share one working folder, so a later
/// page may use what an earlier one wrote (`contoso-plan`).
const DOCS: [&str; 6] = [
    "README.md",
    "docs/inputs.md",
    "docs/plan.md",
    "docs/verify.md",
    "docs/performance.md",
    "docs/reliability.md",
];

/// A command of a page: where it is, its words, and the output sample that follows it.
struct Sample {
    line: usize,
    words: Vec<String>,
    output: Option<String>,
}

/// Shell words, with double and single quotes; no expansion is needed by the docs' commands.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn samples(text: &str) -> Vec<Sample> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<Sample> = Vec::new();
    // The closing fence of the last ```sh block and how many commands it held.
    let mut last_sh: Option<(usize, usize)> = None;
    let mut i = 0;
    while i < lines.len() {
        let fence = lines[i].trim_start();
        if !fence.starts_with("```") {
            i += 1;
            continue;
        }
        let kind = fence.trim_start_matches('`').trim().to_string();
        let start = i + 1;
        let mut end = start;
        while end < lines.len() && !lines[end].trim_start().starts_with("```") {
            end += 1;
        }
        let body = &lines[start..end.min(lines.len())];
        match kind.as_str() {
            "sh" => {
                let before = out.len();
                let mut k = 0;
                while k < body.len() {
                    let mut cmd = body[k].to_string();
                    let at = start + k + 1;
                    while cmd.trim_end().ends_with('\\') && k + 1 < body.len() {
                        cmd = cmd.trim_end().trim_end_matches('\\').to_string();
                        k += 1;
                        cmd.push(' ');
                        cmd.push_str(body[k].trim());
                    }
                    k += 1;
                    // Only commands at the start of a line: a loop's body is an illustration.
                    let first = cmd.split_whitespace().find(|w| !w.contains('='));
                    if first != Some("licshift") || cmd.starts_with(' ') {
                        continue;
                    }
                    let cmd = cmd.split(" #").next().unwrap().to_string();
                    // `[--groups …]`: an optional part, shown in brackets.
                    let mut plain = String::new();
                    let mut depth = 0;
                    for c in cmd.chars() {
                        match c {
                            '[' => depth += 1,
                            ']' => depth -= 1,
                            c if depth == 0 => plain.push(c),
                            _ => {}
                        }
                    }
                    out.push(Sample {
                        line: at,
                        words: words(&plain),
                        output: None,
                    });
                }
                last_sh = Some((end, out.len() - before));
            }
            "text" => {
                // The output of the one command of a ```sh block just above (a blank line
                // between them at most).
                if let Some((sh_end, 1)) = last_sh {
                    if i <= sh_end + 2 {
                        let last = out.last_mut().expect("the block's command");
                        last.output = Some(body.join("\n") + "\n");
                    }
                }
            }
            _ => {}
        }
        i = end + 1;
    }
    out
}

/// The fresh exports and reviewer's files the docs name, made from the fixtures.
fn placeholders(work: &Path) {
    for fresh in ["fresh", "fresh-export"] {
        if !work.join(fresh).exists() {
            copy_dir(&root().join("fixtures/contoso"), &work.join(fresh));
        }
    }
    if work.join("contoso-plan/waves.csv").exists() && !work.join("edited/waves.csv").exists() {
        std::fs::create_dir_all(work.join("edited")).unwrap();
        std::fs::copy(
            work.join("contoso-plan/waves.csv"),
            work.join("edited/waves.csv"),
        )
        .unwrap();
    }
}

#[test]
fn every_command_in_the_docs_runs_on_the_fixtures() {
    let work = temp_dir("docs-commands");
    #[cfg(unix)]
    std::os::unix::fs::symlink(root().join("fixtures"), work.join("fixtures")).unwrap();
    #[cfg(not(unix))]
    copy_dir(&root().join("fixtures"), &work.join("fixtures"));
    let mut ran = 0;
    for doc in DOCS {
        let text = std::fs::read_to_string(root().join(doc)).unwrap();
        for s in samples(&text) {
            placeholders(&work);
            let mut env = Vec::new();
            let mut args = s.words.clone();
            while args
                .first()
                .is_some_and(|w| w.contains('=') && !w.starts_with('-'))
            {
                let w = args.remove(0);
                let (k, v) = w.split_once('=').unwrap();
                env.push((k.to_string(), v.to_string()));
            }
            assert_eq!(args.remove(0), "licshift");
            // A million-user example runs here with 20,000: the same command, a smaller tenant.
            if let Some(i) = args.iter().position(|a| a == "--users") {
                if args[i + 1].parse::<u64>().unwrap_or(0) > 20_000 {
                    args[i + 1] = "20000".into();
                }
            }
            let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_licshift"));
            c.args(&args).current_dir(&work).env("NO_COLOR", "1");
            for (k, v) in &env {
                c.env(k, v);
            }
            let o = c.output().unwrap();
            let code = o.status.code().unwrap_or(-1);
            assert!(
                code == 0 || code == 1,
                "{doc}:{}: `licshift {}` exited {code}\n{}{}",
                s.line,
                args.join(" "),
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            if let Some(expected) = &s.output {
                assert_eq!(
                    &String::from_utf8_lossy(&o.stdout),
                    expected,
                    "{doc}:{}: the sample output differs from what `licshift {}` prints",
                    s.line,
                    args.join(" ")
                );
            }
            ran += 1;
        }
    }
    assert!(ran >= 15, "{ran} commands");
}
