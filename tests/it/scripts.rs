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

/// The byte ranges of single-quoted string contents: the only place a name may stand.
fn verbatim_ranges(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut parser = tree_sitter::Parser::new();
    parser
        .set_language(&tree_sitter_powershell::LANGUAGE.into())
        .unwrap();
    let tree = parser.parse(text, None).unwrap();
    let mut out = Vec::new();
    let mut cursor = tree.walk();
    let mut stack = vec![tree.root_node()];
    while let Some(node) = stack.pop() {
        if node.kind() == "verbatim_string_characters" {
            out.push(node.byte_range());
            continue;
        }
        stack.extend(node.children(&mut cursor));
    }
    out
}

/// A snapshot whose user and group names hold quotes, `$()`, backticks, a line break, `ł` and
/// `’`: every script must parse, and the names may stand only inside single-quoted strings.
#[test]
fn hostile_names_are_only_ever_data() {
    let base = fixture("scenarios/proposed-group-by-name");
    let top = temp_dir("scripts-hostile");
    let snap = top.join("snapshot");
    copy_dir(&base, &snap);
    let group = "LIC ’E3’ $(Remove-Item C:\\) `whoami` ł\nnext line";
    let upn = "o'ann$(calc)`ł’@t.test";
    let csv_cell = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    for f in ["templates.csv", "members.csv"] {
        let text = std::fs::read_to_string(snap.join(f)).unwrap();
        std::fs::write(snap.join(f), text.replace("LIC-E3", &csv_cell(group))).unwrap();
    }
    for f in ["users.csv", "members.csv", "assignments.csv"] {
        let text = std::fs::read_to_string(snap.join(f)).unwrap();
        std::fs::write(snap.join(f), text.replace("ann@t.test", upn)).unwrap();
    }
    let out = top.join("plan");
    let o = licshift(&[
        "plan",
        snap.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let scripts: Vec<(String, Vec<u8>)> = read_tree(&out)
        .into_iter()
        .filter(|(p, _)| p.ends_with(".ps1"))
        .collect();
    assert!(scripts.len() >= 4);
    let mut seen = 0;
    for (name, bytes) in &scripts {
        let text = script_text(bytes, name);
        assert_parses(name, &text);
        let strings = verbatim_ranges(&text);
        for marker in ["Remove-Item", "whoami", "calc", "next line"] {
            for (at, _) in text.match_indices(marker) {
                seen += 1;
                assert!(
                    strings
                        .iter()
                        .any(|r| r.start <= at && at + marker.len() <= r.end),
                    "{name}: {marker:?} at byte {at} is outside a single-quoted string"
                );
            }
        }
    }
    assert!(seen >= 4, "the names appear in the scripts ({seen} times)");
}

fn contoso_scripts(test: &str) -> Vec<(String, String)> {
    plan_scripts(&fixture("contoso"), test)
        .into_iter()
        .map(|(p, b)| {
            let t = script_text(&b, &p);
            (p, t)
        })
        .collect()
}

/// The runtime every operational script shares, asserted against the Graph SDK's documented
/// behaviour: Invoke-MgGraphRequest with -SkipHttpErrorCheck, -StatusCodeVariable and
/// -ResponseHeadersVariable gives the status and Retry-After without an exception.
#[test]
fn every_script_checks_tenant_and_scopes_logs_as_json_lines_and_retries() {
    for (name, s) in contoso_scripts("contoso-runtime") {
        assert!(
            s.contains("#Requires -Modules @{ ModuleName = 'Microsoft.Graph.Authentication'; ModuleVersion = '2.0.0' }"),
            "{name}"
        );
        assert!(
            s.contains("[CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'High')]"),
            "{name}: -WhatIf"
        );
        // The snapshot's tenant (contoso's organization.csv) and the least-privilege scopes.
        assert!(
            s.contains("$ExpectedTenant = '033bf333-b2f0-5833-b1d2-e85131a5bb6b'"),
            "{name}"
        );
        assert!(
            s.contains("[string]$context.TenantId -ne $ExpectedTenant"),
            "{name}"
        );
        assert!(s.contains("@('LicenseAssignment.ReadWrite.All', 'User.ReadWrite.All', 'Directory.ReadWrite.All')"), "{name}");
        assert!(
            s.contains("function Stop-Preflight") && s.contains("    exit 2\n"),
            "{name}: pre-flight exit 2"
        );
        // JSON Lines, written even under -WhatIf (File.AppendAllText is no cmdlet WhatIf reaches).
        assert!(
            s.contains("[System.IO.File]::AppendAllText($LogPath, $line + \"`r`n\", $utf8)"),
            "{name}"
        );
        for cmdlet in [
            "Add-Content",
            "Out-File",
            "Set-Content",
            "New-Item",
            "Get-MgGroup",
            "Set-MgUserLicense",
        ] {
            assert!(!s.contains(cmdlet), "{name} must not use {cmdlet}");
        }
        assert!(s.contains("type = 'header'; tenant = [string]$context.TenantId; account = [string]$context.Account; planSha256 = $PlanSha256; whatIf = $DryRun"), "{name}");
        // Throttling: 429/503 (and a GET's 504) retried after Retry-After, a bounded number of
        // times; a write that timed out is handed back to be read back, not repeated.
        assert!(
            s.contains("for ($attempt = 1; $attempt -le $MaxAttempts; $attempt++)"),
            "{name}"
        );
        assert!(
            s.contains("@(0, 429, 503, 504) -notcontains $status"),
            "{name}"
        );
        assert!(s.contains("$headers.ContainsKey('Retry-After')"), "{name}");
        assert!(
            s.contains("if ($Method -ne 'GET' -and $answer.TimedOut) { return $answer }"),
            "{name}"
        );
        // No pause after the last try; an exception's message kept, and a run of them stops
        // the script instead of trying every user (issue #27 item 6).
        assert!(
            s.contains("if ($attempt -ge $MaxAttempts) { return $answer }"),
            "{name}"
        );
        assert!(
            s.contains("$failure = [string]$_.Exception.Message"),
            "{name}"
        );
        assert!(
            s.contains("if ($script:Failures -ge $MaxFailures) {"),
            "{name}"
        );
        // Paths resolved once, against the current location (item 3).
        assert!(
            s.contains("$PSCmdlet.GetUnresolvedProviderPathFromPSPath($Path)"),
            "{name}"
        );
        assert!(s.contains("$RunDir = Resolve-RunPath $RunDir"), "{name}");
        assert!(s.contains("SkipHttpErrorCheck = $true; StatusCodeVariable = 'status'; ResponseHeadersVariable = 'headers'"), "{name}");
    }
}

#[test]
fn a_wave_rechecks_live_removes_in_one_call_and_is_safe_to_rerun() {
    let scripts = contoso_scripts("contoso-waves");
    let waves: Vec<&(String, String)> = scripts
        .iter()
        .filter(|(n, _)| n.starts_with("scripts/wave-") && !n.contains("rollback"))
        .collect();
    assert!(waves.len() >= 2);
    for (name, s) in waves {
        // Live, per user, then one assignLicense call that removes and adds nothing.
        assert!(s.contains("$states = Get-LiveStates $u.Id"), "{name}");
        assert!(
            s.contains("'/v1.0/users/{0}?$select=id,licenseAssignmentStates'"),
            "{name}"
        );
        assert_eq!(
            s.matches("/assignLicense").count(),
            1,
            "{name}: one call site"
        );
        assert!(s.contains("Invoke-Graph 'POST' ('/v1.0/users/{0}/assignLicense' -f $u.Id) @{ addLicenses = @(); removeLicenses = $remove }"), "{name}");
        // Only healthy assignments of the groups the plan relies on count.
        assert!(s.contains("return ([string]$State['state'] -eq 'Active') -and (-not $err -or $err -eq 'None')"), "{name}");
        assert!(s.contains("if (-not $by -or $GroupIds -notcontains $by -or -not (Test-Healthy $st)) { continue }"), "{name}");
        // The live direct assignment's own disabled plans decide what must be covered.
        assert!(s.contains("if ($direct.Count -gt 0) { $off = @($direct[0]['disabledPlans'] | ForEach-Object { [string]$_ }) }"), "{name}");
        // Logged before the change, with the live state the rollback restores.
        assert!(
            s.contains("$before += @{ skuId = $r.Sku; disabledPlans = $off }"),
            "{name}"
        );
        assert!(
            s.contains("action = 'remove'; outcome = 'done'; before = $before"),
            "{name}"
        );
        // A re-run: direct assignment gone and the groups cover it → done, not skipped.
        assert!(
            s.contains("if ($direct.Count -eq 0) { continue }"),
            "{name}"
        );
        assert!(
            s.contains(
                "outcome = 'done'; reason = 'no direct assignment left; the groups give its plans'"
            ),
            "{name}"
        );
        // A timed-out call is read back before it counts as failed.
        assert!(s.contains("if (-not $ok -and $call.TimedOut) {"), "{name}");
        // -WhatIf is a dry run that says what it would do.
        assert!(
            s.contains("if (-not $PSCmdlet.ShouldProcess($u.Id,"),
            "{name}"
        );
        assert!(
            s.contains("would remove {0} users' direct assignments"),
            "{name}"
        );
        // Exit codes: 0 all done, 1 some skipped (2 is the pre-flight's).
        assert!(
            s.trim_end().ends_with(
                "Complete-Run @{ done = $done; skipped = $skipped; gone = $gone; would = $would } $(if ($skipped -gt 0) { 1 } else { 0 })"
            ),
            "{name}"
        );
    }
}

#[test]
fn groups_are_addressed_by_id_and_new_ones_by_what_prepare_recorded() {
    let scripts = plan_scripts(
        &fixture("scenarios/proposed-group-by-name"),
        "new-group-ids",
    );
    let text = |n: &str| script_text(&scripts.iter().find(|(p, _)| p == n).unwrap().1, n);
    let wave = text("scripts/wave-001.ps1");
    assert!(wave.contains("$NewGroups = @('LIC-E3')"), "{wave}");
    assert!(wave.contains("Groups = @('LIC-E3')"));
    assert!(wave.contains("$groupsFile = Join-Path $RunDir 'groups.json'"));
    // Windows PowerShell 5.1's ConvertFrom-Json passes an array as one object: unrolled.
    assert!(wave.contains("[System.IO.File]::ReadAllText($groupsFile, $utf8) | ConvertFrom-Json | ForEach-Object { $_ }"));
    assert!(wave.contains("Stop-Preflight ('prepare.ps1 has not recorded the id of the new group {0}: run it first' -f $k)"));
    assert!(
        !wave.to_lowercase().contains("displayname"),
        "a wave never looks a group up by name"
    );
    let prepare = text("scripts/prepare.ps1");
    let nickname = format!(
        "MailNickname = 'lic-e3-{}'",
        &licshift::ingest::sha256(b"LIC-E3")[..8]
    );
    assert!(
        prepare.contains(&format!(
            "@{{ Key = 'LIC-E3'; DisplayName = 'LIC-E3'; {nickname} }}"
        )),
        "{prepare}"
    );
    // Created security-enabled, not mail-enabled; recorded by id at once.
    assert!(prepare.contains("@{ displayName = $g.DisplayName; mailEnabled = $false; mailNickname = $g.MailNickname; securityEnabled = $true;"));
    assert!(prepare.contains("$ids[$g.Key] = $id\n        Save-GroupIds"));
    // Idempotent: found again by its unique mailNickname, never by display name.
    assert!(prepare.contains("\"/v1.0/groups?`$filter=mailNickname eq '{0}'&`$select=id\""));
    assert!(!prepare.contains("displayName eq"));
    // Members in batches of 20, only those not there yet.
    assert!(prepare.contains("$add = @($m.Users | Where-Object { -not $current.ContainsKey($_) })"));
    assert!(prepare.contains("for ($i = 0; $i -lt $add.Count; $i += 20)"));
    assert!(prepare.contains("'members@odata.bind' = $binds"));
    // Template lines: a SKU assigned with other disabled plans is reported, not overwritten.
    assert!(prepare.contains("outcome = 'conflict'"));
    assert!(prepare.contains("Invoke-Graph 'POST' ('/v1.0/groups/{0}/assignLicense' -f $gid) @{ addLicenses = @(@{ skuId = $l.Sku; disabledPlans = $want }); removeLicenses = @() }"));
    // Then the processing state is polled and the checkpoint named.
    assert!(prepare.contains("licenseProcessingState") && prepare.contains("--stage prepare"));
    let rollback = text("scripts/prepare-rollback.ps1");
    // Records without an outcome (the header) are passed over before StrictMode reads one.
    assert!(rollback.contains(
        "if ($names -notcontains 'outcome' -or $names -notcontains 'action') { continue }"
    ));
    assert!(rollback.contains("if ($rec.outcome -eq 'done' -and @('create', 'add', 'assign') -contains $rec.action) { $added += $rec }"));
    assert!(rollback.contains("[array]::Reverse($added)"));
}

#[test]
fn a_rollback_restores_what_the_log_says_and_tries_every_user() {
    for (name, s) in contoso_scripts("contoso-rollbacks")
        .iter()
        .filter(|(n, _)| n.starts_with("scripts/wave-") && n.contains("rollback"))
    {
        let wave = &name["scripts/".len()..name.len() - "-rollback.ps1".len()];
        assert!(
            s.contains(&format!("$FromLog = Join-Path $RunDir '{wave}.log.jsonl'")),
            "{name}"
        );
        // From the wave's log: the live state before each removal that was done.
        // `failed` too: a timed-out write may have applied; what is missing live is restored.
        assert!(s.contains("if ($rec.type -eq 'user' -and $rec.action -eq 'remove' -and @('done', 'failed') -contains $rec.outcome) { $restore[[string]$rec.userId] = $rec }"), "{name}");
        assert!(s.contains("$add += @{ skuId = [string]$b.skuId; disabledPlans = @($b.disabledPlans | ForEach-Object { [string]$_ }) }"), "{name}");
        // No user data of its own: nothing from the snapshot to be stale.
        assert!(
            !s.contains("@t.test") && !s.contains("@contoso.com"),
            "{name}"
        );
        // Every user is tried, each failure logged.
        assert!(s.contains("    } catch {\n        $failed++"), "{name}");
        assert!(
            s.trim_end()
                .ends_with("$(if ($failed -gt 0) { 1 } else { 0 })"),
            "{name}"
        );
    }
}

/// Issue #27 items 7 and 8, and what an expert expects of scripts that change a tenant, held
/// against the scripts contoso's plan (with and without --bridge) and export-script write.
#[test]
fn scripts_survive_what_a_real_tenant_does_and_ask_once() {
    let mut all = contoso_scripts("contoso-expert");
    let bridged = temp_dir("contoso-expert-bridge").join("plan");
    let o = plan_contoso_bridged(&bridged);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    for (p, b) in read_tree(&bridged)
        .into_iter()
        .filter(|(p, _)| p.contains("bridge"))
    {
        if p.ends_with(".ps1") {
            let t = script_text(&b, &p);
            all.push((p, t));
        }
    }
    let get = |name: &str| {
        all.iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name}"))
            .1
            .clone()
    };
    for (name, s) in &all {
        // One confirmation naming tenant, stage and counts; a lock; another plan's run folder
        // refused; a machine-readable result; the request-id and Graph's error in the log.
        assert!(s.contains("if (-not $PSCmdlet.ShouldProcess(('tenant {0} as {1}' -f $context.TenantId, $context.Account), ('licshift {0}: {1}' -f $Stage, '"), "{name}");
        assert!(s.contains("$ConfirmPreference = 'None'"), "{name}");
        assert!(
            s.contains("$lockFile = Join-Path $RunDir ($Stage + '.lock')"),
            "{name}"
        );
        assert!(s.contains("holds the log of another plan"), "{name}");
        assert!(
            s.contains("(Join-Path $RunDir ($Stage + '.result.json'))"),
            "{name}"
        );
        assert!(
            s.contains("$answer.RequestId = [string]@($headers['request-id'])[0]"),
            "{name}"
        );
        assert!(
            s.contains("$answer.Error = ('{0}: {1}' -f [string]$e['code'], [string]$e['message'])"),
            "{name}"
        );
        // National clouds: the connection's Graph host, never a hard-coded one.
        assert!(
            !s.contains("'https://graph.microsoft.com/v1.0/directoryObjects"),
            "{name}"
        );
        assert!(
            !s.contains("-f $userId) }") || s.contains("$GraphHost"),
            "{name}"
        );
    }
    let wave = get("scripts/wave-001.ps1");
    // Item 8: a deleted user is gone, not a failure; the confirmation names the counts.
    assert!(wave.contains("if ($script:LastRead -eq 'gone') {"));
    assert!(
        wave.contains(
            "licshift {0}: {1}' -f $Stage, 'remove 34 direct license assignments from 25 users'"
        ),
        "the pilot's counts"
    );
    // Before any removal, each relied-on group is read live: planned SKUs and disabled plans,
    // processing complete.
    assert!(wave.contains("$GroupLines = @{"));
    assert!(wave.contains("is still processing its licenses"));
    assert!(wave.contains("assigns SKU {1} with other disabled plans than planned"));
    let prepare = get("scripts/prepare.ps1");
    // Item 7: a batch refused for one gone member is split; a new group's 404 waited out.
    assert!(
        prepare.contains("} elseif ($batch.Count -gt 1 -and @(400, 404) -contains $call.Status) {")
    );
    assert!(prepare.contains("outcome = 'gone'; users = @($one)"));
    assert!(prepare.contains("for ($try = 1; $try -le 6 -and $null -eq $current; $try++) {"));
    assert!(prepare.contains(
        "$binds = @($batch | ForEach-Object { $GraphHost + '/v1.0/directoryObjects/' + $_ })"
    ));
    let undo = get("scripts/prepare-rollback.ps1");
    // Refuses while a wave's removals stand; counts an already-removed license as done.
    assert!(undo.contains("roll that wave back first"));
    assert!(undo.contains("if ($r.Status -eq 400 -and $rec.action -eq 'assign') {"));
    assert!(
        undo.contains("try { $rec = $line | ConvertFrom-Json } catch { $unreadable++; continue }")
    );
    let bridge = get("scripts/bridge-rollback.ps1");
    // Item 8: a 400 is "already a member" only when Graph says so.
    assert!(bridge
        .contains("$member = ($join.Status -eq 400 -and $join.Error -like '*already exist*')"));
    let export = stdout(&licshift(&["export-script"]));
    assert!(export
        .contains("ToString('yyyyMMdd-HHmmss', [Globalization.CultureInfo]::InvariantCulture)"));
    assert!(!export.contains("{0:yyyyMMdd"));
}
