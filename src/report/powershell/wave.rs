//! A wave's script and its rollback.
//!
//! The wave re-reads each user live and removes their direct SKUs in one assignLicense call
//! only when the groups the plan relies on give, Active and without error, every plan those
//! direct assignments enable now; it logs the live state first. A user whose direct
//! assignments are already gone and whose groups cover the plans is done, so a re-run is safe.
//! The rollback restores, from the wave's own log, exactly what the wave removed.

use super::{
    group_key, head, sku_entries, sku_plans, ScriptCells, ScriptContext, READ_USERS, WRITE_LICENSES,
};
use crate::model::{GroupIdx, Tenant};
use crate::plan::Wave;
use crate::report::row::ps_str;
use std::collections::BTreeSet;
use std::fmt::Write;

/// A wave's stage: the name of its log. A retry of the wave's skipped users (`licshift
/// scripts` for a pending list) is a stage of its own, so it logs into a file of its own and
/// its rollback reads only what the retry removed.
pub fn stage_name(wave: u32, retry: Option<u32>) -> String {
    match retry {
        None => format!("wave-{wave:03}"),
        Some(k) => format!("wave-{wave:03}-retry-{k}"),
    }
}

const BODY: &str = r#"
# The groups the removals rely on: existing ones by id, new ones by the id prepare recorded.
$Groups = @{}
foreach ($id in $ExistingGroups) { $Groups[$id] = $id }
if ($NewGroups.Count -gt 0) {
    $groupsFile = Join-Path $RunDir 'groups.json'
    if (-not (Test-Path -LiteralPath $groupsFile)) { Stop-Preflight ('{0} is missing: run prepare.ps1 first' -f $groupsFile) }
    # ForEach-Object unrolls the array Windows PowerShell 5.1's ConvertFrom-Json passes as one object.
    foreach ($g in @([System.IO.File]::ReadAllText($groupsFile, $utf8) | ConvertFrom-Json | ForEach-Object { $_ })) { $Groups[[string]$g.key] = [string]$g.id }
    foreach ($k in $NewGroups) {
        if (-not $Groups.ContainsKey($k)) { Stop-Preflight ('prepare.ps1 has not recorded the id of the new group {0}: run it first' -f $k) }
    }
}

# The plans the given groups' healthy assignments give the user now.
function Get-GroupPlans($States, [string[]]$GroupIds) {
    $plans = @{}
    foreach ($st in $States) {
        $by = [string]$st['assignedByGroup']
        if (-not $by -or $GroupIds -notcontains $by -or -not (Test-Healthy $st)) { continue }
        $sku = [string]$st['skuId']
        if (-not $SkuPlans.ContainsKey($sku)) { continue }
        $off = @($st['disabledPlans'] | ForEach-Object { [string]$_ })
        foreach ($p in $SkuPlans[$sku]) { if ($off -notcontains $p) { $plans[$p] = $true } }
    }
    return $plans
}

function Get-Direct($States, [string]$Sku) {
    return ,@($States | Where-Object { -not $_['assignedByGroup'] -and [string]$_['skuId'] -eq $Sku })
}

# Each group the wave relies on, read live before any removal: it still assigns each planned
# SKU with the planned disabled plans, and its license processing is complete. Otherwise the
# wave stops here and names the group: someone changed it since the checkpoint.
foreach ($key in @($GroupLines.Keys)) {
    $gid = $Groups[$key]
    $r = Invoke-Graph 'GET' ('/v1.0/groups/{0}?$select=id,assignedLicenses,licenseProcessingState' -f $gid)
    if ($r.Status -ne 200) { Stop-Preflight ('cannot read group {0}: {1}' -f $gid, (Get-Why $r)) }
    $processing = ''
    if ($r.Body['licenseProcessingState']) { $processing = [string]$r.Body['licenseProcessingState']['state'] }
    if ($processing -and $processing -ne 'ProcessingComplete') { Stop-Preflight ('group {0} is still processing its licenses ({1}): run the wave once it is complete' -f $gid, $processing) }
    foreach ($line in $GroupLines[$key]) {
        $has = @($r.Body['assignedLicenses'] | Where-Object { [string]$_['skuId'] -eq $line.Sku })
        if ($has.Count -eq 0) { Stop-Preflight ('group {0} no longer assigns SKU {1}: verify the plan again before any wave' -f $gid, $line.Sku) }
        $off = @($has[0]['disabledPlans'] | ForEach-Object { [string]$_ } | Sort-Object)
        $want = @($line.Disabled | Sort-Object)
        if (($off -join ',') -ne ($want -join ',')) { Stop-Preflight ('group {0} assigns SKU {1} with other disabled plans than planned: verify the plan again before any wave' -f $gid, $line.Sku) }
    }
}

$done = 0; $skipped = 0; $would = 0; $gone = 0
foreach ($u in $Users) {
    $states = Get-LiveStates $u.Id
    if ($null -eq $states) {
        # A deleted user is gone, not a failure: nothing of theirs is left to move.
        if ($script:LastRead -eq 'gone') {
            $gone++
            Write-Record @{ type = 'user'; userId = $u.Id; upn = $u.Upn; action = 'none'; outcome = 'gone'; reason = 'the user no longer exists (404)' }
            continue
        }
        $skipped++
        Write-Record @{ type = 'user'; userId = $u.Id; upn = $u.Upn; action = 'none'; outcome = 'skipped'; reason = ('cannot read the user: {0}' -f $script:LastRead) }
        continue
    }
    $before = @(); $remove = @(); $reason = $null
    foreach ($r in $u.Remove) {
        if (-not $SkuPlans.ContainsKey($r.Sku)) { $reason = ('SKU {0} is not in the plan' -f $r.Sku); break }
        $ids = @($r.Groups | ForEach-Object { $Groups[$_] })
        $direct = Get-Direct $states $r.Sku
        # What the direct assignment enables now (or, once gone, enabled when planned).
        $off = @($r.Disabled)
        if ($direct.Count -gt 0) { $off = @($direct[0]['disabledPlans'] | ForEach-Object { [string]$_ }) }
        $needs = @($SkuPlans[$r.Sku] | Where-Object { $off -notcontains $_ })
        $have = Get-GroupPlans $states $ids
        $missing = @($needs | Where-Object { -not $have.ContainsKey($_) })
        if ($missing.Count -gt 0) {
            $reason = ('the groups do not give {0} of SKU {1} (Active, no error)' -f ($missing -join ', '), $r.Sku)
            break
        }
        if ($direct.Count -eq 0) { continue }
        $before += @{ skuId = $r.Sku; disabledPlans = $off }
        $remove += $r.Sku
    }
    if ($reason) {
        $skipped++
        Write-Record @{ type = 'user'; userId = $u.Id; upn = $u.Upn; action = 'none'; outcome = 'skipped'; reason = $reason; before = $before }
        continue
    }
    if ($remove.Count -eq 0) {
        $done++
        Write-Record @{ type = 'user'; userId = $u.Id; upn = $u.Upn; action = 'none'; outcome = 'done'; reason = 'no direct assignment left; the groups give its plans' }
        continue
    }
    if (-not $PSCmdlet.ShouldProcess($u.Id, ('remove direct {0}' -f ($remove -join ', ')))) {
        $would++
        Write-Record @{ type = 'user'; userId = $u.Id; upn = $u.Upn; action = 'remove'; outcome = 'whatif'; before = $before }
        continue
    }
    $call = Invoke-Graph 'POST' ('/v1.0/users/{0}/assignLicense' -f $u.Id) @{ addLicenses = @(); removeLicenses = $remove }
    $ok = ($call.Status -ge 200 -and $call.Status -lt 300)
    if (-not $ok -and $call.TimedOut) {
        # No answer is no failure: Graph may have applied the call. Read it back.
        $after = Get-LiveStates $u.Id
        if ($null -ne $after) { $ok = @($after | Where-Object { -not $_['assignedByGroup'] -and $remove -contains [string]$_['skuId'] }).Count -eq 0 }
    }
    if ($ok) {
        $done++
        Write-Record @{ type = 'user'; userId = $u.Id; upn = $u.Upn; action = 'remove'; outcome = 'done'; before = $before; requestId = $call.RequestId }
    } else {
        $skipped++
        Write-Record @{ type = 'user'; userId = $u.Id; upn = $u.Upn; action = 'remove'; outcome = 'failed'; reason = (Get-Why $call); before = $before; requestId = $call.RequestId }
    }
}
if ($DryRun) { Write-Host ("would remove {0} users' direct assignments" -f $would) }
Write-Host ('{0}: {1} users done, {2} skipped, {3} gone (see {4})' -f $Stage, $done, $skipped, $gone, $LogPath)
Complete-Run @{ done = $done; skipped = $skipped; gone = $gone; would = $would } $(if ($skipped -gt 0) { 1 } else { 0 })
"#;

/// The wave's script, appended to `out`.
pub fn wave_script(
    out: &mut Vec<u8>,
    t: &Tenant,
    cells: &ScriptCells,
    ctx: &ScriptContext,
    w: &Wave,
    retry: Option<u32>,
) {
    let stage = stage_name(w.number, retry);
    let mut comment = String::new();
    let _ = writeln!(
        comment,
        "<#\n  licshift {stage}{}: removes {} direct license assignments from {} users.",
        if w.pilot { " (pilot)" } else { "" },
        w.removals.len(),
        w.users.len()
    );
    comment += "  Each user is read live and their direct SKUs are removed in ONE assignLicense call only\n";
    comment +=
        "  when the groups the plan relies on give every plan those SKUs enable now, Active and\n";
    comment += "  without error; else the user is skipped and logged. A user already done counts as done.\n";
    comment += "  Log: run/<stage>.log.jsonl (the live state before each change: the rollback reads it).\n";
    comment += "  -WhatIf: a dry run that logs. Exit: 0 every user done, 1 some skipped, 2 pre-flight failed.\n";
    let _ = writeln!(
        comment,
        "  Generated by licshift {}. Do not edit: re-plan, or licshift scripts, then verify.\n#>",
        env!("CARGO_PKG_VERSION")
    );
    head(
        out,
        &comment,
        &stage,
        ctx,
        &[WRITE_LICENSES, READ_USERS],
        "",
        &format!(
            "remove {} direct license assignments from {} users",
            w.removals.len(),
            w.users.len()
        ),
    );
    sku_plans(out, t);
    let groups: BTreeSet<GroupIdx> = w
        .removals
        .iter()
        .flat_map(|r| r.covered_by.iter().copied())
        .collect();
    out.extend_from_slice(b"$ExistingGroups = @(");
    super::guid_list(out, groups.iter().filter_map(|g| t.groups[g.ix()].id));
    out.extend_from_slice(b")\n$NewGroups = @(");
    for (i, g) in groups
        .iter()
        .filter(|g| t.groups[g.ix()].id.is_none())
        .enumerate()
    {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        ps_str(out, &t.groups[g.ix()].name);
    }
    // Each relied-on group's template as planned: checked live before the first removal.
    out.extend_from_slice(b")\n\n# The template lines each group the wave relies on was planned to assign.\n$GroupLines = @{\n");
    for g in &groups {
        out.extend_from_slice(b"    ");
        group_key(out, t, *g);
        out.extend_from_slice(b" = @(");
        sku_entries(
            out,
            cells,
            t.templates[g.ix()].iter().map(|l| (l.sku, &l.disabled)),
        );
        out.extend_from_slice(b")\n");
    }
    out.extend_from_slice(b"}\n\n# Each user: the direct SKUs to remove, as planned, and the groups that cover each.\n$Users = @(\n");
    let mut runs = w.removals.chunk_by(|a, b| a.user == b.user).peekable();
    while let Some(rs) = runs.next() {
        let user = &t.users[rs[0].user.ix()];
        out.extend_from_slice(b"    @{ Id = '");
        out.extend_from_slice(&user.id.encode());
        out.extend_from_slice(b"'; Upn = ");
        ps_str(out, &user.upn);
        out.extend_from_slice(b"; Remove = @(\n");
        for (j, r) in rs.iter().enumerate() {
            out.extend_from_slice(b"        @{ Sku = ");
            out.extend_from_slice(&cells.sku[r.sku.ix()]);
            out.extend_from_slice(b"; Disabled = @(");
            for (k, p) in r.disabled(t).iter().enumerate() {
                if k > 0 {
                    out.extend_from_slice(b", ");
                }
                out.extend_from_slice(&cells.plan[p.ix()]);
            }
            out.extend_from_slice(b"); Groups = @(");
            for (k, g) in r.covered_by.iter().enumerate() {
                if k > 0 {
                    out.extend_from_slice(b", ");
                }
                group_key(out, t, *g);
            }
            out.extend_from_slice(if j + 1 < rs.len() {
                b") },\n"
            } else {
                b") }\n"
            });
        }
        out.extend_from_slice(if runs.peek().is_some() {
            b"    ) },\n"
        } else {
            b"    ) }\n"
        });
    }
    out.extend_from_slice(b")\n");
    out.extend_from_slice(BODY.as_bytes());
}

const ROLLBACK: &str = r#"
$FromLog = Resolve-RunPath $FromLog
if (-not $FromLog) { $FromLog = Join-Path $RunDir '__WAVE__.log.jsonl' }
if (-not (Test-Path -LiteralPath $FromLog)) { Stop-Preflight ('{0} is missing: nothing of this wave ran here, or pass -FromLog' -f $FromLog) }

# What the wave may have removed: each user's last `remove` record with the live state the wave
# read before it (not what the snapshot said) — `done`, and `failed` too: a write that timed
# out, or an SDK retry answered 400 because the license was already gone, may have applied.
# What is missing live is restored; what is there is left. A line cut short is passed over.
$restore = [ordered]@{}
$unreadable = 0
foreach ($line in [System.IO.File]::ReadAllLines($FromLog, $utf8)) {
    if (-not $line.Trim()) { continue }
    try { $rec = $line | ConvertFrom-Json } catch { $unreadable++; continue }
    $names = @($rec.PSObject.Properties | ForEach-Object { $_.Name })
    if ($names -notcontains 'action' -or $names -notcontains 'before') { continue }
    if ($rec.type -eq 'user' -and $rec.action -eq 'remove' -and @('done', 'failed') -contains $rec.outcome) { $restore[[string]$rec.userId] = $rec }
}
if ($unreadable -gt 0) { Write-Host ('{0} lines of {1} could not be read (cut short?) and were passed over' -f $unreadable, $FromLog) }

$done = 0; $kept = 0; $failed = 0; $would = 0
foreach ($userId in @($restore.Keys)) {
    $rec = $restore[$userId]
    # Every user is tried: one failure is logged, never the end of the rollback.
    try {
        $states = Get-LiveStates $userId
        if ($null -eq $states) { throw ('cannot read the user: {0}' -f $script:LastRead) }
        $add = @()
        foreach ($b in @($rec.before)) {
            $held = @($states | Where-Object { -not $_['assignedByGroup'] -and [string]$_['skuId'] -eq [string]$b.skuId })
            if ($held.Count -gt 0) { continue }
            $add += @{ skuId = [string]$b.skuId; disabledPlans = @($b.disabledPlans | ForEach-Object { [string]$_ }) }
        }
        if ($add.Count -eq 0) {
            $kept++
            Write-Record @{ type = 'user'; userId = $userId; upn = [string]$rec.upn; action = 'none'; outcome = 'done'; reason = 'holds its direct assignments already' }
            continue
        }
        if (-not $PSCmdlet.ShouldProcess($userId, 'restore direct assignments')) {
            $would++
            Write-Record @{ type = 'user'; userId = $userId; upn = [string]$rec.upn; action = 'restore'; outcome = 'whatif'; add = $add }
            continue
        }
        $call = Invoke-Graph 'POST' ('/v1.0/users/{0}/assignLicense' -f $userId) @{ addLicenses = $add; removeLicenses = @() }
        $ok = ($call.Status -ge 200 -and $call.Status -lt 300)
        if (-not $ok -and $call.TimedOut) {
            $after = Get-LiveStates $userId
            if ($null -ne $after) {
                $ok = $true
                foreach ($a in $add) { if (@($after | Where-Object { -not $_['assignedByGroup'] -and [string]$_['skuId'] -eq $a.skuId }).Count -eq 0) { $ok = $false } }
            }
        }
        if (-not $ok) { throw (Get-Why $call) }
        $done++
        Write-Record @{ type = 'user'; userId = $userId; upn = [string]$rec.upn; action = 'restore'; outcome = 'done'; add = $add }
    } catch {
        $failed++
        Write-Record @{ type = 'user'; userId = $userId; upn = [string]$rec.upn; action = 'restore'; outcome = 'failed'; reason = [string]$_.Exception.Message }
    }
}
if ($DryRun) { Write-Host ("would restore {0} users' direct assignments" -f $would) }
Write-Host ('{0}: {1} restored, {2} held them already, {3} failed (see {4})' -f $Stage, $done, $kept, $failed, $LogPath)
Complete-Run @{ done = $done; kept = $kept; failed = $failed; would = $would; unreadableLines = $unreadable } $(if ($failed -gt 0) { 1 } else { 0 })
"#;

/// The wave's rollback: built from the wave's own log, so it holds no user data of its own.
pub fn rollback_script(out: &mut Vec<u8>, ctx: &ScriptContext, w: &Wave, retry: Option<u32>) {
    let wave = stage_name(w.number, retry);
    let stage = format!("{wave}-rollback");
    let comment = format!(
        "<#\n  licshift rollback of {wave}: gives back each direct assignment the wave removed, with the\n  disabled plans it had live, read from the wave's log (run/{wave}.log.jsonl, or -FromLog).\n  Every user is tried; failures are logged. Exit: 0 all restored, 1 some failed, 2 pre-flight failed.\n#>\n"
    );
    head(
        out,
        &comment,
        &stage,
        ctx,
        &[WRITE_LICENSES, READ_USERS],
        ",\n    [string]$FromLog = ''",
        &format!("give back what run/{wave}.log.jsonl says the wave removed"),
    );
    out.extend_from_slice(ROLLBACK.replace("__WAVE__", &wave).as_bytes());
}
