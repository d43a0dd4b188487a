//! Issue #27: a check for the class of defect that only running a script would show, on the
//! tree-sitter tree of every script licshift writes. PowerShell cannot run here; these are
//! the patterns that crashed or misled the scripts of the past:
//!
//! - `record`: a member read on a record from `ConvertFrom-Json` before its fields are checked
//!   (`PSObject.Properties`): under `Set-StrictMode -Version 3.0` reading a field a record lacks
//!   (the log's header has no `outcome`) throws.
//! - `flat-array`: `@(@(a, b, c))` is the flat three-element array, not a list of one call.
//! - `comma-return`: a function that returns `,@(…)` hands one array object to a pipeline:
//!   piped on, `$_` is the whole array; inside `@(…)`, `.Count` is always 1.
//! - `post-without-body`: `Invoke-Graph 'POST' uri` with no body — Invoke-MgGraphRequest refuses
//!   a POST without one.
//! - `unresolved-path`: a path parameter (`-RunDir`, `-LogPath`, `-FromLog`) reaching a .NET
//!   file call without `GetUnresolvedProviderPathFromPSPath`: .NET resolves a relative path
//!   against the process's folder, PowerShell against `$PWD`.

use crate::util::*;
use tree_sitter::Node;

/// One finding: the rule, the line, the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static str,
    pub line: usize,
    pub text: String,
}

fn text<'a>(n: Node, src: &'a str) -> &'a str {
    &src[n.byte_range()]
}

fn all_nodes(root: Node) -> Vec<Node> {
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        out.push(n);
        let mut c = n.walk();
        stack.extend(n.children(&mut c));
    }
    out.sort_by_key(|n| (n.start_byte(), std::cmp::Reverse(n.end_byte())));
    out
}

/// The first descendant (or the node itself) of a kind.
fn first_of<'t>(n: Node<'t>, kind: &str) -> Option<Node<'t>> {
    all_nodes(n).into_iter().find(|d| d.kind() == kind)
}

/// The expression a pipeline of one element stands for, through the grammar's chain of
/// single-child precedence levels.
fn only_child_chain(mut n: Node) -> Node {
    while n.named_child_count() == 1 && n.child_count() == 1 {
        n = n.named_child(0).unwrap();
    }
    n
}

fn finding(rule: &'static str, n: Node, src: &str) -> Finding {
    Finding {
        rule,
        line: n.start_position().row + 1,
        text: text(n, src).lines().next().unwrap_or("").trim().to_string(),
    }
}

pub fn lint(src: &str) -> Vec<Finding> {
    let mut parser = tree_sitter::Parser::new();
    parser
        .set_language(&tree_sitter_powershell::LANGUAGE.into())
        .unwrap();
    let tree = parser.parse(src, None).unwrap();
    let nodes = all_nodes(tree.root_node());
    let mut out = Vec::new();

    // record: `$V = … | ConvertFrom-Json`, then `$V.member` in the same statement list before
    // any `PSObject.Properties` check of it.
    for n in nodes.iter().filter(|n| n.kind() == "assignment_expression") {
        let Some(right) = n.child_by_field_name("value").or_else(|| n.named_child(2)) else {
            continue;
        };
        let from_json = all_nodes(right).iter().any(|d| {
            d.kind() == "command_name" && text(*d, src).eq_ignore_ascii_case("ConvertFrom-Json")
        });
        if !from_json {
            continue;
        }
        let Some(var) = first_of(n.named_child(0).unwrap(), "variable") else {
            continue;
        };
        let name = text(var, src).to_ascii_lowercase();
        // The statement list the assignment stands in: the rest of it is its scope here.
        let mut scope = n.parent();
        while let Some(s) = scope {
            if s.kind() == "statement_list" {
                break;
            }
            scope = s.parent();
        }
        let Some(scope) = scope else { continue };
        let guard = src[n.end_byte()..scope.end_byte()]
            .find("PSObject.Properties")
            .map(|at| n.end_byte() + at);
        for m in all_nodes(scope)
            .into_iter()
            .filter(|m| m.kind() == "member_access" && m.start_byte() > n.end_byte())
        {
            let Some(v) = m.named_child(0) else { continue };
            if v.kind() != "variable" || text(v, src).to_ascii_lowercase() != name {
                continue;
            }
            if guard.is_none_or(|g| m.start_byte() < g) {
                out.push(finding("record", m, src));
            }
        }
    }

    // flat-array: `@(@(a, b, …))`.
    for n in nodes.iter().filter(|n| n.kind() == "array_expression") {
        let Some(list) = n
            .named_children(&mut n.walk())
            .find(|c| c.kind() == "statement_list")
        else {
            continue;
        };
        if list.named_child_count() != 1 {
            continue;
        }
        let inner = only_child_chain(list.named_child(0).unwrap());
        if inner.kind() == "array_expression"
            && first_of(inner, "array_literal_expression")
                .is_some_and(|l| l.named_child_count() > 1 && text(l, src).contains(','))
        {
            out.push(finding("flat-array", *n, src));
        }
    }

    // comma-return: functions that return `,…`, then their calls piped on or inside @().
    let mut comma_fns = Vec::new();
    for f in nodes.iter().filter(|n| n.kind() == "function_statement") {
        let returns_comma = all_nodes(*f).iter().any(|r| {
            r.kind() == "flow_control_statement"
                && text(*r, src).starts_with("return")
                && r.named_child(0)
                    .is_some_and(|p| text(p, src).trim_start().starts_with(','))
        });
        if returns_comma {
            if let Some(name) = first_of(*f, "function_name") {
                comma_fns.push(text(name, src).to_ascii_lowercase());
            }
        }
    }
    for c in nodes.iter().filter(|n| n.kind() == "command") {
        let Some(name) = c
            .child_by_field_name("command_name")
            .or_else(|| first_of(*c, "command_name"))
        else {
            continue;
        };
        if !comma_fns.contains(&text(name, src).to_ascii_lowercase()) {
            continue;
        }
        let chain = c.parent().unwrap();
        let piped = chain.kind() == "pipeline_chain"
            && src[c.end_byte()..chain.end_byte()]
                .trim_start()
                .starts_with('|');
        // Directly the one statement of an @(…).
        let wrapped = chain
            .parent()
            .and_then(|p| p.parent())
            .and_then(|s| s.parent())
            .is_some_and(|a| a.kind() == "array_expression");
        if piped || wrapped {
            out.push(finding("comma-return", *c, src));
        }
    }

    // post-without-body: `Invoke-Graph 'POST' uri` with two arguments.
    for c in nodes.iter().filter(|n| n.kind() == "command") {
        let Some(name) = first_of(*c, "command_name") else {
            continue;
        };
        if !text(name, src).eq_ignore_ascii_case("Invoke-Graph") {
            continue;
        }
        let Some(elements) = c
            .named_children(&mut c.walk())
            .find(|e| e.kind() == "command_elements")
        else {
            continue;
        };
        let args: Vec<Node> = elements
            .named_children(&mut elements.walk())
            .filter(|e| e.kind() != "command_argument_sep")
            .collect();
        if args.first().is_some_and(|a| {
            text(*a, src)
                .trim_matches('\'')
                .eq_ignore_ascii_case("POST")
        }) && args.len() < 3
        {
            out.push(finding("post-without-body", *c, src));
        }
    }

    // unresolved-path: a path parameter used with no `$X = Resolve-RunPath $X` (which calls
    // GetUnresolvedProviderPathFromPSPath) in a script that makes .NET file calls.
    let dotnet_files =
        src.contains("[System.IO.File]::") || src.contains("[System.IO.Directory]::");
    let resolves = src.contains("GetUnresolvedProviderPathFromPSPath");
    for p in nodes.iter().filter(|n| n.kind() == "script_parameter") {
        let Some(v) = first_of(*p, "variable") else {
            continue;
        };
        let var = text(v, src);
        if !["$RunDir", "$LogPath", "$FromLog"].contains(&var) || !dotnet_files {
            continue;
        }
        let resolved = format!("{var} = Resolve-RunPath {var}");
        if !(resolves && src.contains(&resolved)) {
            out.push(finding("unresolved-path", *p, src));
        }
    }
    out.sort_by(|a, b| (a.line, a.rule).cmp(&(b.line, b.rule)));
    out.dedup();
    out
}

/// Each rule catches the defect it was written for, in the very form the scripts of issue
/// #27 had it (taken from contoso's generated scripts before the fixes).
#[test]
fn each_rule_catches_the_defect_it_was_written_for() {
    let cases: [(&str, &str); 6] = [
        (
            "record",
            "foreach ($line in $lines) {\n    $rec = $line | ConvertFrom-Json\n    if ($rec.outcome -eq 'done' -and @('create', 'add', 'assign') -contains $rec.action) { $added += $rec }\n}\n",
        ),
        (
            "flat-array",
            "$calls = @(@('POST', ('/v1.0/groups/{0}/assignLicense' -f $rec.groupId), @{ addLicenses = @(); removeLicenses = @([string]$rec.skuId) }))\n",
        ),
        (
            "comma-return",
            "function Get-From($States, [string]$Sku, [string]$Group) {\n    return ,@($States | Where-Object { [string]$_['skuId'] -eq $Sku })\n}\n$found = @(Get-From $states $e.Sku $e.Group | Where-Object { Test-SamePlans $_ $e.Disabled })\n",
        ),
        (
            "comma-return",
            "function Get-From($States, [string]$Sku) {\n    return ,@($States | Where-Object { [string]$_['skuId'] -eq $Sku })\n}\nif (@(Get-From $States $r '').Count -gt 0) { return $false }\n",
        ),
        (
            "post-without-body",
            "$re = Invoke-Graph 'POST' ('/v1.0/users/{0}/reprocessLicenseAssignment' -f $u.Id)\n",
        ),
        (
            "unresolved-path",
            "param(\n    [string]$RunDir = '',\n    [string]$LogPath = ''\n)\n[void][System.IO.Directory]::CreateDirectory($RunDir)\n",
        ),
    ];
    for (rule, script) in cases {
        assert!(
            super::scripts::parse_problem(script).is_none(),
            "{rule}: the case parses"
        );
        let found = lint(script);
        assert!(
            found.iter().any(|f| f.rule == rule),
            "{rule} not caught in:\n{script}\n{found:?}"
        );
    }
    // The fixed forms pass.
    let fixed = [
        "foreach ($line in $lines) {\n    try { $rec = $line | ConvertFrom-Json } catch { continue }\n    $names = @($rec.PSObject.Properties | ForEach-Object { $_.Name })\n    if ($names -notcontains 'outcome') { continue }\n    if ($rec.outcome -eq 'done') { $added += $rec }\n}\n",
        "$calls = @(,@('POST', 'uri', @{ a = 1 }))\n",
        "function Get-From($States) {\n    return @($States | Where-Object { $_ })\n}\n$found = @(Get-From $states | Where-Object { $_ })\n",
        "$re = Invoke-Graph 'POST' ('/v1.0/users/{0}/reprocessLicenseAssignment' -f $u.Id) @{}\n",
    ];
    for script in fixed {
        assert_eq!(lint(script), Vec::new(), "{script}");
    }
}

/// The scripts of a plan folder, as text.
fn scripts_of(dir: &std::path::Path) -> Vec<(String, String)> {
    read_tree(dir)
        .into_iter()
        .filter(|(p, _)| p.ends_with(".ps1"))
        .map(|(p, b)| {
            let t =
                String::from_utf8(b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&b).to_vec()).unwrap();
            (p, t)
        })
        .collect()
}

/// Every script licshift writes is free of the class: contoso's, with and without `--bridge`,
/// every scenario's and bridge fixture's, retry scripts, and the export script.
#[test]
fn no_script_licshift_writes_has_a_known_pitfall() {
    let top = temp_dir("script-lint");
    let mut checked = 0;
    let mut plans: Vec<(String, Vec<String>)> = vec![
        ("fixtures/contoso".into(), vec![]),
        (
            "fixtures/contoso".into(),
            vec![
                "--bridge".into(),
                "--rules".into(),
                "fixtures/bridge/contoso-viva-engage.csv".into(),
            ],
        ),
    ];
    for group in ["scenarios", "bridge"] {
        let mut dirs: Vec<_> = std::fs::read_dir(fixture(group))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        for d in dirs {
            let extra = if group == "bridge" {
                vec!["--bridge".to_string()]
            } else {
                vec![]
            };
            plans.push((d.to_string_lossy().into_owned(), extra));
        }
    }
    let mut all: Vec<(String, String)> = Vec::new();
    for (i, (snap, extra)) in plans.iter().enumerate() {
        let out = top.join(format!("plan-{i}"));
        let mut args = vec!["plan", snap.as_str(), "--out", out.to_str().unwrap()];
        args.extend(extra.iter().map(String::as_str));
        let o = licshift(&args);
        assert!(code(&o) <= 1, "{snap}: {}", stderr(&o));
        for (p, t) in scripts_of(&out) {
            all.push((format!("{snap} {p}"), t));
        }
        if i == 0 {
            // Retry scripts for the contoso plan's own waves.csv.
            let retry = top.join("retry");
            let o = licshift(&[
                "scripts",
                out.to_str().unwrap(),
                snap,
                "--waves",
                out.join("waves.csv").to_str().unwrap(),
                "--out",
                retry.to_str().unwrap(),
            ]);
            assert_eq!(code(&o), 0, "{}", stderr(&o));
            for (p, t) in scripts_of(&retry) {
                assert!(p.contains("-retry-1"), "{p}");
                all.push((format!("retry {p}"), t));
            }
        }
    }
    let export = licshift(&["export-script", "--groups", "LIC-Sales-E3"]);
    all.push((
        "export-script".into(),
        String::from_utf8_lossy(
            export
                .stdout
                .strip_prefix(b"\xEF\xBB\xBF")
                .unwrap_or(&export.stdout),
        )
        .into_owned(),
    ));
    let mut problems = Vec::new();
    for (name, text) in &all {
        for f in lint(text) {
            problems.push(format!("{name}:{}: {} — {}", f.line, f.rule, f.text));
        }
        checked += 1;
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked > 100, "{checked} scripts");
}
