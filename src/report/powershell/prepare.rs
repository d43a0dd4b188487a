//! The prepare stage's script and its rollback: create the new groups (security-enabled, not
//! mail-enabled), add their members in batches, assign each template line to its group, wait
//! for the groups' license processing, then point at the checkpoint.
//!
//! Idempotent: a group prepare already created (run/groups.json, or found by the unique
//! mailNickname licshift gave it — never by display name), a member already there, a license
//! line already assigned with the same disabled plans are left as they are. A SKU the group
//! already assigns with other disabled plans is reported and not overwritten: that would
//! change every member. The rollback undoes only what prepare's log says it added.

use super::{
    guid_list, head, ScriptCells, ScriptContext, READ_USERS, WRITE_GROUPS, WRITE_LICENSES,
};
use crate::model::{GroupIdx, Tenant};
use crate::plan::Prepare;
use crate::report::row::ps_str;
use std::collections::BTreeMap;

/// A mailNickname Graph accepts (ASCII letters, digits, `-`), unique to the group's name.
pub fn mail_nickname(name: &str) -> String {
    let mut s = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('-') && !s.is_empty() {
            s.push('-');
        }
    }
    let s: String = s.trim_end_matches('-').chars().take(40).collect();
    let hash = &crate::ingest::sha256(name.as_bytes())[..8];
    if s.is_empty() {
        format!("licshift-{hash}")
    } else {
        format!("{s}-{hash}")
    }
}

const BODY: &str = r#"
$groupsFile = Join-Path $RunDir 'groups.json'
$ids = @{}
foreach ($id in $ExistingGroups) { $ids[$id] = $id }
if (Test-Path -LiteralPath $groupsFile) {
    # ForEach-Object unrolls the array Windows PowerShell 5.1's ConvertFrom-Json passes as one object.
    foreach ($g in @([System.IO.File]::ReadAllText($groupsFile, $utf8) | ConvertFrom-Json | ForEach-Object { $_ })) { $ids[[string]$g.key] = [string]$g.id }
}
# The wave scripts read the new groups' ids from here: groups are never looked up by name.
function Save-GroupIds {
    $list = @($NewGroups | Where-Object { $ids.ContainsKey($_.Key) } | ForEach-Object { @{ key = $_.Key; id = $ids[$_.Key]; mailNickname = $_.MailNickname } })
    [System.IO.File]::WriteAllText($groupsFile, (ConvertTo-Json -InputObject $list -Depth 3), $utf8)
}
function Find-ByNickname([string]$Nickname) {
    $r = Invoke-Graph 'GET' ("/v1.0/groups?`$filter=mailNickname eq '{0}'&`$select=id" -f $Nickname)
    if ($r.Status -ge 200 -and $r.Status -lt 300) {
        $found = @($r.Body['value'])
        if ($found.Count -eq 1) { return [string]$found[0]['id'] }
    }
    return $null
}
$problems = 0

# 1. The new groups.
foreach ($g in $NewGroups) {
    if (-not $ids.ContainsKey($g.Key)) {
        $found = Find-ByNickname $g.MailNickname
        if ($found) { $ids[$g.Key] = $found; Save-GroupIds }
    }
    if ($ids.ContainsKey($g.Key)) {
        Write-Record @{ type = 'group'; key = $g.Key; groupId = $ids[$g.Key]; action = 'none'; outcome = 'done'; reason = 'exists (created by an earlier run)' }
        continue
    }
    if (-not $PSCmdlet.ShouldProcess($g.MailNickname, 'create a security group')) {
        Write-Record @{ type = 'group'; key = $g.Key; action = 'create'; outcome = 'whatif' }
        continue
    }
    $call = Invoke-Graph 'POST' '/v1.0/groups' @{ displayName = $g.DisplayName; mailEnabled = $false; mailNickname = $g.MailNickname; securityEnabled = $true; description = 'Group-based licensing (licshift prepare)' }
    $id = $null
    if ($call.Status -ge 200 -and $call.Status -lt 300) { $id = [string]$call.Body['id'] }
    elseif ($call.TimedOut) { $id = Find-ByNickname $g.MailNickname }
    if ($id) {
        $ids[$g.Key] = $id
        Save-GroupIds
        Write-Record @{ type = 'group'; key = $g.Key; groupId = $id; action = 'create'; outcome = 'done' }
    } else {
        $problems++
        Write-Record @{ type = 'group'; key = $g.Key; action = 'create'; outcome = 'failed'; reason = ('HTTP {0}' -f $call.Status) }
    }
}

# 2. Members of the new groups, 20 to a request.
foreach ($m in $Members) {
    if (-not $ids.ContainsKey($m.Group)) { continue }
    $gid = $ids[$m.Group]
    # A group created a moment ago may answer 404 until it has replicated: asked again.
    $current = $null
    for ($try = 1; $try -le 6 -and $null -eq $current; $try++) {
        try {
            $found = @{}
            foreach ($x in (Get-GraphAll ('/v1.0/groups/{0}/members?$select=id&$top=999' -f $gid))) { $found[[string]$x['id']] = $true }
            $current = $found
        } catch {
            if ($try -lt 6) { Start-Sleep -Seconds 10 }
        }
    }
    if ($null -eq $current) {
        $problems++
        Write-Record @{ type = 'members'; groupId = $gid; key = $m.Group; action = 'none'; outcome = 'failed'; reason = 'cannot read the group''s members' }
        continue
    }
    $add = @($m.Users | Where-Object { -not $current.ContainsKey($_) })
    Write-Record @{ type = 'members'; groupId = $gid; key = $m.Group; action = 'none'; outcome = 'done'; already = ($m.Users.Count - $add.Count) }
    for ($i = 0; $i -lt $add.Count; $i += 20) {
        $batch = @($add[$i..([math]::Min($i + 19, $add.Count - 1))])
        if (-not $PSCmdlet.ShouldProcess($gid, ('add {0} members' -f $batch.Count))) {
            Write-Record @{ type = 'members'; groupId = $gid; key = $m.Group; action = 'add'; outcome = 'whatif'; users = $batch }
            continue
        }
        $binds = @($batch | ForEach-Object { $GraphHost + '/v1.0/directoryObjects/' + $_ })
        $call = Invoke-Graph 'PATCH' ('/v1.0/groups/{0}' -f $gid) @{ 'members@odata.bind' = $binds }
        if ($call.Status -ge 200 -and $call.Status -lt 300) {
            Write-Record @{ type = 'members'; groupId = $gid; key = $m.Group; action = 'add'; outcome = 'done'; users = $batch; requestId = $call.RequestId }
        } elseif ($batch.Count -gt 1 -and @(400, 404) -contains $call.Status) {
            # One member deleted since the snapshot fails the whole batch, on every re-run:
            # each is added alone, and the one that is gone is said.
            foreach ($one in $batch) {
                $c1 = Invoke-Graph 'POST' ('/v1.0/groups/{0}/members/$ref' -f $gid) @{ '@odata.id' = ($GraphHost + '/v1.0/directoryObjects/' + $one) }
                if ($c1.Status -ge 200 -and $c1.Status -lt 300) {
                    Write-Record @{ type = 'members'; groupId = $gid; key = $m.Group; action = 'add'; outcome = 'done'; users = @($one); requestId = $c1.RequestId }
                } elseif ($c1.Status -eq 404) {
                    Write-Record @{ type = 'members'; groupId = $gid; key = $m.Group; action = 'none'; outcome = 'gone'; users = @($one); reason = 'the user no longer exists' }
                } elseif ($c1.Status -eq 400 -and $c1.Error -like '*already exist*') {
                    Write-Record @{ type = 'members'; groupId = $gid; key = $m.Group; action = 'none'; outcome = 'done'; users = @($one); reason = 'a member already' }
                } else {
                    $problems++
                    Write-Record @{ type = 'members'; groupId = $gid; key = $m.Group; action = 'add'; outcome = 'failed'; users = @($one); reason = (Get-Why $c1) }
                }
            }
        } else {
            $problems++
            Write-Record @{ type = 'members'; groupId = $gid; key = $m.Group; action = 'add'; outcome = 'failed'; users = $batch; reason = (Get-Why $call) }
        }
    }
}

# 3. The template lines.
$licensed = @()
foreach ($l in $Licenses) {
    if (-not $ids.ContainsKey($l.Group)) { continue }
    $gid = $ids[$l.Group]
    $want = @($l.Disabled | Sort-Object)
    $r = Invoke-Graph 'GET' ('/v1.0/groups/{0}?$select=id,assignedLicenses' -f $gid)
    if ($r.Status -lt 200 -or $r.Status -ge 300) {
        $problems++
        Write-Record @{ type = 'license'; groupId = $gid; key = $l.Group; skuId = $l.Sku; action = 'none'; outcome = 'failed'; reason = ('cannot read the group: HTTP {0}' -f $r.Status) }
        continue
    }
    $has = @($r.Body['assignedLicenses'] | Where-Object { [string]$_['skuId'] -eq $l.Sku })
    if ($has.Count -gt 0) {
        $off = @($has[0]['disabledPlans'] | ForEach-Object { [string]$_ } | Sort-Object)
        if (($off -join ',') -eq ($want -join ',')) {
            $licensed += $gid
            Write-Record @{ type = 'license'; groupId = $gid; key = $l.Group; skuId = $l.Sku; action = 'none'; outcome = 'done'; reason = 'assigned already, with the planned disabled plans' }
        } else {
            $problems++
            Write-Record @{ type = 'license'; groupId = $gid; key = $l.Group; skuId = $l.Sku; action = 'none'; outcome = 'conflict'; disabledPlans = $off; planned = $want; reason = 'the group assigns this SKU with other disabled plans: not overwritten, that would change every member' }
        }
        continue
    }
    if (-not $PSCmdlet.ShouldProcess($gid, ('assign {0}' -f $l.Sku))) {
        Write-Record @{ type = 'license'; groupId = $gid; key = $l.Group; skuId = $l.Sku; action = 'assign'; outcome = 'whatif'; disabledPlans = $want }
        continue
    }
    $call = Invoke-Graph 'POST' ('/v1.0/groups/{0}/assignLicense' -f $gid) @{ addLicenses = @(@{ skuId = $l.Sku; disabledPlans = $want }); removeLicenses = @() }
    $ok = ($call.Status -ge 200 -and $call.Status -lt 300)
    if (-not $ok -and $call.TimedOut) {
        $back = Invoke-Graph 'GET' ('/v1.0/groups/{0}?$select=id,assignedLicenses' -f $gid)
        $ok = ($back.Status -eq 200) -and (@($back.Body['assignedLicenses'] | Where-Object { [string]$_['skuId'] -eq $l.Sku }).Count -gt 0)
    }
    if ($ok) {
        $licensed += $gid
        Write-Record @{ type = 'license'; groupId = $gid; key = $l.Group; skuId = $l.Sku; action = 'assign'; outcome = 'done'; disabledPlans = $want }
    } else {
        $problems++
        Write-Record @{ type = 'license'; groupId = $gid; key = $l.Group; skuId = $l.Sku; action = 'assign'; outcome = 'failed'; reason = ('HTTP {0}' -f $call.Status) }
    }
}

# 4. Wait for the groups' license processing.
$pending = @($licensed | Select-Object -Unique)
if (-not $DryRun) {
    $deadline = (Get-Date).AddMinutes($WaitMinutes)
    while ($pending.Count -gt 0 -and (Get-Date) -lt $deadline) {
        $still = @()
        foreach ($gid in $pending) {
            $r = Invoke-Graph 'GET' ('/v1.0/groups/{0}?$select=id,licenseProcessingState' -f $gid)
            $state = ''
            if ($r.Status -eq 200 -and $r.Body['licenseProcessingState']) { $state = [string]$r.Body['licenseProcessingState']['state'] }
            if ($state -ne 'ProcessingComplete') { $still += $gid }
        }
        $pending = $still
        if ($pending.Count -gt 0) { Start-Sleep -Seconds 30 }
    }
    if ($pending.Count -gt 0) { Write-Host ('still processing licenses after {0} minutes: {1}' -f $WaitMinutes, ($pending -join ', ')) }
}
Write-Host 'Checkpoint: export the tenant again (licshift export-script), then run'
Write-Host '  licshift verify <this plan folder> <the snapshot> --stage prepare <the fresh export>'
Write-Host 'and go on to the waves only when it reports ALL CLEAR.'
Complete-Run @{ problems = $problems; stillProcessing = $pending } $(if ($problems -gt 0) { 1 } else { 0 })
"#;

/// prepare.ps1, appended to `out`.
pub fn prepare_script(
    out: &mut Vec<u8>,
    t: &Tenant,
    cells: &ScriptCells,
    ctx: &ScriptContext,
    p: &Prepare,
) {
    let comment = format!(
        "<#\n  licshift prepare: creates {} new groups, adds {} memberships, assigns {} template lines.\n  Idempotent: re-run it after a failure. Log: run/prepare.log.jsonl; new group ids: run/groups.json.\n  -WhatIf: a dry run that logs. Exit: 0 done, 1 something reported (see the log), 2 pre-flight failed.\n  Generated by licshift {}.\n#>\n",
        p.create_groups.len(),
        p.add_members.len(),
        p.assign.len(),
        env!("CARGO_PKG_VERSION")
    );
    head(
        out,
        &comment,
        "prepare",
        ctx,
        &[WRITE_GROUPS, WRITE_LICENSES, READ_USERS],
        ",\n    [int]$WaitMinutes = 30",
        &format!(
            "create {} groups, add {} memberships, assign {} template lines",
            p.create_groups.len(),
            p.add_members.len(),
            p.assign.len()
        ),
    );
    // Existing groups that get a template line, by id.
    let mut existing: Vec<GroupIdx> = p
        .assign
        .iter()
        .map(|(g, _)| *g)
        .filter(|g| t.groups[g.ix()].id.is_some())
        .collect();
    existing.dedup();
    out.extend_from_slice(b"\n$ExistingGroups = @(");
    guid_list(out, existing.iter().filter_map(|g| t.groups[g.ix()].id));
    out.extend_from_slice(b")\n$NewGroups = @(\n");
    for (i, g) in p.create_groups.iter().enumerate() {
        let name = &t.groups[g.ix()].name;
        out.extend_from_slice(b"    @{ Key = ");
        ps_str(out, name);
        out.extend_from_slice(b"; DisplayName = ");
        ps_str(out, name);
        out.extend_from_slice(b"; MailNickname = '");
        out.extend_from_slice(mail_nickname(name).as_bytes());
        out.extend_from_slice(if i + 1 < p.create_groups.len() {
            b"' },\n"
        } else {
            b"' }\n"
        });
    }
    out.extend_from_slice(b")\n$Members = @(\n");
    let mut by_group: BTreeMap<GroupIdx, Vec<crate::model::UserIdx>> = BTreeMap::new();
    for (g, u) in &p.add_members {
        by_group.entry(*g).or_default().push(*u);
    }
    for (i, (g, users)) in by_group.iter().enumerate() {
        out.extend_from_slice(b"    @{ Group = ");
        super::group_key(out, t, *g);
        out.extend_from_slice(b"; Users = @(");
        guid_list(out, users.iter().map(|u| t.users[u.ix()].id));
        out.extend_from_slice(if i + 1 < by_group.len() {
            b") },\n"
        } else {
            b") }\n"
        });
    }
    out.extend_from_slice(b")\n$Licenses = @(\n");
    for (i, (g, li)) in p.assign.iter().enumerate() {
        let line = &t.templates[g.ix()][*li];
        out.extend_from_slice(b"    @{ Group = ");
        super::group_key(out, t, *g);
        out.extend_from_slice(b"; Sku = ");
        out.extend_from_slice(&cells.sku[line.sku.ix()]);
        out.extend_from_slice(b"; Disabled = @(");
        guid_list(out, line.disabled.iter().map(|p| t.plans[p.ix()].id));
        out.extend_from_slice(if i + 1 < p.assign.len() {
            b") },\n"
        } else {
            b") }\n"
        });
    }
    out.extend_from_slice(b")\n");
    out.extend_from_slice(BODY.as_bytes());
}

const ROLLBACK: &str = r#"
$FromLog = Resolve-RunPath $FromLog
if (-not $FromLog) { $FromLog = Join-Path $RunDir 'prepare.log.jsonl' }
if (-not (Test-Path -LiteralPath $FromLog)) { Stop-Preflight ('{0} is missing: prepare did not run here, or pass -FromLog' -f $FromLog) }
# While any wave's removals stand, users depend on what prepare gave: undoing it would strip them.
foreach ($wave in @(Get-ChildItem -LiteralPath $RunDir -Filter 'wave-*.log.jsonl' -ErrorAction SilentlyContinue | Where-Object { $_.Name -notlike '*-rollback.log.jsonl' })) {
    $removed = @([System.IO.File]::ReadAllLines($wave.FullName, $utf8) | Where-Object { $_ -like '*"action":"remove"*' -and $_ -like '*"outcome":"done"*' }).Count
    $back = Join-Path $RunDir ($wave.BaseName -replace '\.log$', '' ) 
    $rolledBack = Test-Path -LiteralPath ($back + '-rollback.log.jsonl')
    if ($removed -gt 0 -and -not $rolledBack) { Stop-Preflight ('{0} removed direct assignments that the groups now cover: roll that wave back first' -f $wave.Name) }
}
# Only what prepare's log says it added, undone last first. Records are read by their fields'
# presence (the header has no action or outcome: StrictMode would throw on reading one); a
# line cut short is passed over and said.
$added = @()
$unreadable = 0
foreach ($line in [System.IO.File]::ReadAllLines($FromLog, $utf8)) {
    if (-not $line.Trim()) { continue }
    try { $rec = $line | ConvertFrom-Json } catch { $unreadable++; continue }
    $names = @($rec.PSObject.Properties | ForEach-Object { $_.Name })
    if ($names -notcontains 'outcome' -or $names -notcontains 'action') { continue }
    if ($rec.outcome -eq 'done' -and @('create', 'add', 'assign') -contains $rec.action) { $added += $rec }
}
if ($unreadable -gt 0) { Write-Host ('{0} lines of {1} could not be read (cut short?) and were passed over' -f $unreadable, $FromLog) }
[array]::Reverse($added)
$done = 0; $failed = 0; $would = 0
foreach ($rec in $added) {
    # Every step is tried: one failure is logged, never the end of the rollback.
    try {
        $what = ''
        $calls = @()
        switch ($rec.action) {
            'assign' { $what = 'remove the group license ' + $rec.skuId; $calls = @(,@('POST', ('/v1.0/groups/{0}/assignLicense' -f $rec.groupId), @{ addLicenses = @(); removeLicenses = @([string]$rec.skuId) })) }
            'add' { $what = 'remove {0} members' -f @($rec.users).Count; $calls = @(@($rec.users) | ForEach-Object { ,@('DELETE', ('/v1.0/groups/{0}/members/{1}/$ref' -f $rec.groupId, $_), $null) }) }
            'create' { $what = 'delete the group'; $calls = @(,@('DELETE', ('/v1.0/groups/{0}' -f $rec.groupId), $null)) }
        }
        if (-not $PSCmdlet.ShouldProcess([string]$rec.groupId, $what)) {
            $would++
            Write-Record @{ type = 'undo'; groupId = [string]$rec.groupId; action = [string]$rec.action; outcome = 'whatif' }
            continue
        }
        $bad = @()
        foreach ($c in $calls) {
            $r = Invoke-Graph $c[0] $c[1] $c[2]
            # 404: already gone. A license already removed is refused with 400 on a re-run:
            # done too, once a read shows the group no longer assigns it.
            if ($r.Status -eq 400 -and $rec.action -eq 'assign') {
                $g = Invoke-Graph 'GET' ('/v1.0/groups/{0}?$select=id,assignedLicenses' -f $rec.groupId)
                if ($g.Status -eq 200 -and @($g.Body['assignedLicenses'] | Where-Object { [string]$_['skuId'] -eq [string]$rec.skuId }).Count -eq 0) { continue }
            }
            if (($r.Status -lt 200 -or $r.Status -ge 300) -and $r.Status -ne 404) { $bad += ('{0} {1}: {2}' -f $c[0], $c[1], (Get-Why $r)) }
        }
        if ($bad.Count -gt 0) { throw ($bad -join '; ') }
        $done++
        Write-Record @{ type = 'undo'; groupId = [string]$rec.groupId; action = [string]$rec.action; outcome = 'done' }
    } catch {
        $failed++
        Write-Record @{ type = 'undo'; groupId = [string]$rec.groupId; action = [string]$rec.action; outcome = 'failed'; reason = [string]$_.Exception.Message }
    }
}
Write-Host ('prepare rollback: {0} steps undone, {1} failed (see {2})' -f $done, $failed, $LogPath)
Complete-Run @{ done = $done; failed = $failed; would = $would } $(if ($failed -gt 0) { 1 } else { 0 })
"#;

/// prepare-rollback.ps1: undoes, from prepare's own log, what prepare added.
pub fn prepare_rollback_script(out: &mut Vec<u8>, ctx: &ScriptContext) {
    let comment = "<#\n  licshift rollback of prepare: removes the group licenses, memberships and groups that\n  prepare's log (run/prepare.log.jsonl, or -FromLog) says it added, last first; nothing else.\n  Every step is tried; failures are logged. Exit: 0 all undone, 1 some failed, 2 pre-flight failed.\n#>\n";
    head(
        out,
        comment,
        "prepare-rollback",
        ctx,
        &[WRITE_GROUPS, WRITE_LICENSES],
        ",\n    [string]$FromLog = ''",
        "undo what run/prepare.log.jsonl says prepare added",
    );
    out.extend_from_slice(ROLLBACK.as_bytes());
}
