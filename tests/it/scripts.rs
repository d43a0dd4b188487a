//! Every PowerShell script licshift writes, parsed by the tree-sitter PowerShell grammar: no
//! ERROR or MISSING node. PowerShell cannot run on these machines; the grammar can.

use crate::util::*;
use std::path::Path;

/// The first ERROR or MISSING node of a script, with its line, if any.
pub fn parse_problem(text: &str) -> Option<String> {
    let mut parser = tree_sitter::Parser::new();
    parser
        .set_language(&tree_sitter_powershell::LANGUAGE.into())
        .expect("the PowerShell grammar loads");
    let tree = parser.parse(text, None).expect("the parser returns a tree");
    let mut cursor = tree.walk();
    let mut stack = vec![tree.root_node()];
    while let Some(node) = stack.pop() {
        if node.is_error() || node.is_missing() {
            let line = node.start_position().row;
            let src = text.lines().nth(line).unwrap_or("");
            return Some(format!("{} at line {}: {src}", node.kind(), line + 1));
        }
        if node.has_error() || node.child_count() > 0 {
            stack.extend(node.children(&mut cursor));
        }
    }
    None
}

/// A script as PowerShell reads it: UTF-8 with a byte-order mark.
fn script_text(bytes: &[u8], name: &str) -> String {
    assert!(
        bytes.starts_with(b"\xEF\xBB\xBF"),
        "{name} must start with a UTF-8 BOM"
    );
    String::from_utf8(bytes[3..].to_vec()).unwrap()
}

fn assert_parses(name: &str, text: &str) {
    if let Some(p) = parse_problem(text) {
        panic!("{name} does not parse: {p}");
    }
}

#[test]
fn the_grammar_finds_a_broken_script() {
    assert!(parse_problem("$x = 'ok'\r\nif ($x) { Write-Host 'yes' }\r\n").is_none());
    assert!(parse_problem("if ($x) { Write-Host 'unclosed'\r\n").is_some());
    assert!(parse_problem("$s = 'it's broken'\r\n").is_some());
}

fn export_script(args: &[&str]) -> String {
    let mut all = vec!["export-script"];
    all.extend_from_slice(args);
    let o = licshift(&all);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    script_text(&o.stdout, "export-script")
}

#[test]
fn export_script_parses_and_only_reads() {
    let hostile = "LIC-Sales,O'Brien ‘team’ $(Remove-Item C:\\),`whoami`,Zażółć \"gęślą\"";
    for text in [export_script(&[]), export_script(&["--groups", hostile])] {
        assert_parses("export-script", &text);
        // Read-only: GET requests and read scopes, no cmdlet or method that writes.
        let calls: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("Invoke-MgGraphRequest"))
            .collect();
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert!(calls[0].contains("-Method GET"));
        for word in [
            "-Method POST",
            "-Method PATCH",
            "-Method DELETE",
            "-Method PUT",
            "Set-Mg",
            "New-Mg",
            "Remove-Mg",
            "Update-Mg",
            "ReadWrite",
        ] {
            assert!(
                !text.contains(word),
                "the export script must not say {word}"
            );
        }
        assert!(text.contains("#Requires -Modules Microsoft.Graph.Authentication"));
        assert!(text
            .contains("$Scopes = @('User.Read.All', 'Group.Read.All', 'Organization.Read.All')"));
        // Every page, through its nextLink; retried after Retry-After on 429/503/504.
        assert!(text.contains("\"@odata\\.nextLink\""));
        assert!(text.contains("@(0, 429, 503, 504) -notcontains $status"));
        assert!(text.contains("$headers['Retry-After']"));
        for (file, select) in [
            ("users.json", "licenseAssignmentStates"),
            ("groups.json", "assignedLicenses"),
            ("organization.json", "countryLetterCode"),
            ("subscribedSkus.json", "/v1.0/subscribedSkus"),
            ("members.json", "/members?$select=id,userPrincipalName"),
        ] {
            assert!(
                text.lines().any(|l| l.contains(file) && l.contains(select)
                    || l.contains(select) && text.contains(file)),
                "{file}"
            );
        }
        assert!(text.contains("README.txt") && text.contains("$context.TenantId"));
        assert!(
            text.contains("\r\n") && !text.replace("\r\n", "").contains('\n'),
            "CRLF line ends"
        );
    }
    // Names given with --groups are data: single-quoted, quotes doubled.
    let text = export_script(&["--groups", hostile]);
    let line = text
        .lines()
        .find(|l| l.starts_with("$NamedGroups"))
        .unwrap();
    assert_eq!(
        line,
        "$NamedGroups = @('LIC-Sales', 'O''Brien ‘‘team’’ $(Remove-Item C:\\)', '`whoami`', 'Zażółć \"gęślą\"')"
    );
    let o = licshift(&[
        "export-script",
        "--out",
        temp_dir("export-script")
            .join("export.ps1")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(code(&o), 0);
}

fn plan_scripts(snapshot: &Path, name: &str) -> Vec<(String, Vec<u8>)> {
    let out = temp_dir(&format!("scripts-{name}")).join("plan");
    let o = licshift(&[
        "plan",
        snapshot.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{name}: {}", stderr(&o));
    read_tree(&out)
        .into_iter()
        .filter(|(p, _)| p.ends_with(".ps1"))
        .collect()
}

#[test]
fn every_plan_script_of_contoso_and_the_scenarios_parses() {
    let mut snapshots = vec![("contoso".to_string(), fixture("contoso"))];
    for e in std::fs::read_dir(fixture("scenarios")).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            snapshots.push((p.file_name().unwrap().to_string_lossy().into_owned(), p));
        }
    }
    snapshots.sort();
    let mut parsed = 0;
    for (name, snap) in &snapshots {
        for (path, bytes) in plan_scripts(snap, name) {
            let text = String::from_utf8(
                bytes
                    .strip_prefix(b"\xEF\xBB\xBF")
                    .unwrap_or(&bytes)
                    .to_vec(),
            )
            .unwrap();
            assert_parses(&format!("{name}/{path}"), &text);
            parsed += 1;
        }
    }
    assert!(parsed >= 2 * snapshots.len(), "{parsed} scripts");
}
