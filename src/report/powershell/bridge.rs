//! The bridge stage's script and its rollback (`plan --bridge`).
//!
//! Per user, read live: the conflicting licenses must still be as the plan expects, else skip
//! and log. A license from a group is pinned as a direct copy of the same SKU (no new seat)
//! and, once the copy is Active, the user leaves the group; when the group's copy is gone, one
//! assignLicense call adds the group's SKUs and removes the conflicting ones together, and the
//! user's group licenses are reprocessed. Each step is looked for before it is taken, so a
//! re-run finishes what an earlier run began.

use super::{
    head, plan_list, sku_entries, sku_plans, ScriptCells, ScriptContext, READ_USERS, WRITE_LICENSES,
};
use crate::engine::bridge::Bridge;
use crate::model::{Guid, Tenant};
use crate::report::row::ps_str;
use std::fmt::Write;

pub const STAGE: &str = "bridge";

/// Removing a member needs one of these; reprocessing a user, User.ReadWrite.All at least.
const WRITE_MEMBERS: &[&str] = &[
    "GroupMember.ReadWrite.All",
    "Group.ReadWrite.All",
    "Directory.ReadWrite.All",
];
const REPROCESS: &[&str] = &["User.ReadWrite.All", "Directory.ReadWrite.All"];

const BODY: &str = r#"
# Polls the user's license states until $Test passes, up to $PollSeconds.
function Wait-States([string]$UserId, [scriptblock]$Test) {
    $deadline = (Get-Date).AddSeconds($PollSeconds)
    while ($true) {
        $states = Get-LiveStates $UserId
        if ($null -ne $states -and (& $Test $states)) { return $states }
        if ((Get-Date) -gt $deadline) { return $null }
        Start-Sleep -Seconds 10
    }
}

# These return their items one by one (never `,@(…)`): callers collect them with @(…) or
# filter them in a pipeline, item by item.
function Get-Disabled($State) { return @($State['disabledPlans'] | ForEach-Object { [string]$_ } | Sort-Object) }

function Test-SamePlans($State, [string[]]$Disabled) {
    $live = @(Get-Disabled $State)
    $want = @($Disabled | Sort-Object)
    return ($live -join ',') -eq ($want -join ',')
}

function Get-From($States, [string]$Sku, [string]$Group) {
    if ($Group) { return @($States | Where-Object { [string]$_['assignedByGroup'] -eq $Group -and [string]$_['skuId'] -eq $Sku }) }
    return @($States | Where-Object { -not $_['assignedByGroup'] -and [string]$_['skuId'] -eq $Sku })
}

# A pin holds when a direct copy of its SKU is Active and disables nothing the group's copy
# enabled: a copy made by the pin, or the user's own direct copy widened to it.
function Test-Pinned($States, $Pin) {
    foreach ($d in @(Get-From $States $Pin.Sku '')) {
        if (-not (Test-Healthy $d)) { continue }
        $more = @(Get-Disabled $d | Where-Object { @($Pin.Disabled) -notcontains $_ })
        if ($more.Count -eq 0) { return $true }
    }
    return $false
}

function Test-Swapped($States, $U) {
    foreach ($r in $U.Remove) { if (@(Get-From $States $r '').Count -gt 0) { return $false } }
    foreach ($g in $U.Leave) { if (@($States | Where-Object { [string]$_['assignedByGroup'] -eq $g }).Count -gt 0) { return $false } }
    foreach ($a in $U.Add) { if (@($States | Where-Object { [string]$_['skuId'] -eq $a.Sku -and (Test-Healthy $_) }).Count -eq 0) { return $false } }
    return $true
}

function Skip($U, [string]$Reason, $Before) {
    $script:skipped++
    Write-Record @{ type = 'user'; userId = $U.Id; upn = $U.Upn; action = 'none'; outcome = 'skipped'; reason = $Reason; before = $Before }
}

$done = 0; $skipped = 0; $would = 0; $failed = 0
foreach ($u in $Users) {
    $states = Get-LiveStates $u.Id
    if ($null -eq $states) { Skip $u ('cannot read the user: {0}' -f $script:LastRead) @(); continue }
    $before = @($states | Where-Object { $u.Remove -contains [string]$_['skuId'] -or $u.Leave -contains [string]$_['assignedByGroup'] } | ForEach-Object {
        @{ skuId = [string]$_['skuId']; group = [string]$_['assignedByGroup']; disabledPlans = @(Get-Disabled $_); state = [string]$_['state'] } })
    if (Test-Swapped $states $u) {
        # Swapped by an earlier run whose reprocessing failed: a state still in error is
        # reprocessed again.
        if (@($states | Where-Object { -not (Test-Healthy $_) }).Count -gt 0 -and -not $DryRun) {
            $re = Invoke-Graph 'POST' ('/v1.0/users/{0}/reprocessLicenseAssignment' -f $u.Id) @{}
            if ($re.Status -lt 200 -or $re.Status -ge 300) {
                $failed++
                Write-Record @{ type = 'user'; userId = $u.Id; upn = $u.Upn; action = 'reprocess'; outcome = 'failed'; reason = ('swapped already; reprocessing failed: {0}' -f (Get-Why $re)) }
                continue
            }
        }
        $done++
        Write-Record @{ type = 'user'; userId = $u.Id; upn = $u.Upn; action = 'none'; outcome = 'done'; reason = 'already swapped' }
        continue
    }
    # The live re-check: every conflicting license as planned — from its group, or already
    # pinned as a direct copy with the same plans by an earlier run.
    $reason = $null
    foreach ($e in $u.Expect) {
        $found = @(Get-From $states $e.Sku $e.Group | Where-Object { Test-SamePlans $_ $e.Disabled })
        if ($found.Count -eq 0 -and $e.Group) { $found = @(Get-From $states $e.Sku '' | Where-Object { Test-SamePlans $_ $e.Disabled }) }
        # A direct copy an earlier run widened for a pin of the same SKU.
        if ($found.Count -eq 0 -and -not $e.Group) { $found = @($u.Pins | Where-Object { $_.Sku -eq $e.Sku -and (Test-Pinned $states $_) }) }
        if ($found.Count -eq 0) { $reason = ('the user no longer holds SKU {0} as planned' -f $e.Sku); break }
    }
    if ($reason) { Skip $u $reason $before; continue }
    # Direct SKUs that work now: the rollback takes away only what the swap brought.
    $held = @($states | Where-Object { -not $_['assignedByGroup'] -and (Test-Healthy $_) } | ForEach-Object { [string]$_['skuId'] })
    if (-not $PSCmdlet.ShouldProcess($u.Id, ('swap {0} for {1}' -f ($u.Remove -join ', '), (@($u.Add | ForEach-Object { $_.Sku }) -join ', ')))) {
        $would++
        Write-Record @{ type = 'user'; userId = $u.Id; upn = $u.Upn; action = 'swap'; outcome = 'whatif'; before = $before }
        continue
    }
    # 1. Pin each license of a group the user leaves as a direct copy: same SKU, no new seat.
    # Where the user holds the SKU directly already, that copy is widened to what the group
    # gave (the SKU re-added with only the plans both copies disable): leaving the group then
    # takes nothing away. Never skipped: the step the replay checked is the step made here.
    $pin = @(foreach ($p in $u.Pins) {
        if (Test-Pinned $states $p) { continue }
        $direct = @(Get-From $states $p.Sku '')
        $disabled = @($p.Disabled)
        if ($direct.Count -gt 0) { $disabled = @(Get-Disabled $direct[0] | Where-Object { @($p.Disabled) -contains $_ }) }
        @{ skuId = $p.Sku; disabledPlans = $disabled }
    })
    if ($pin.Count -gt 0) {
        $call = Invoke-Graph 'POST' ('/v1.0/users/{0}/assignLicense' -f $u.Id) @{ addLicenses = $pin; removeLicenses = @() }
        if (-not $call.TimedOut -and ($call.Status -lt 200 -or $call.Status -ge 300)) { Skip $u ('pinning failed: HTTP {0}' -f $call.Status) $before; continue }
        Write-Record @{ type = 'user'; userId = $u.Id; upn = $u.Upn; action = 'pin'; outcome = 'done'; add = $pin }
    }
    if ($u.Pins.Count -gt 0) {
        $pinned = Wait-States $u.Id { param($s) @($u.Pins | Where-Object { -not (Test-Pinned $s $_) }).Count -eq 0 }
        if ($null -eq $pinned) { Skip $u 'the pinned copies are not Active yet: run the bridge again later' $before; continue }
    }
    # 2. Leave the conflicting groups; their licenses go once Entra processes the change.
    foreach ($g in $u.Leave) {
        $call = Invoke-Graph 'DELETE' ('/v1.0/groups/{0}/members/{1}/$ref' -f $g, $u.Id)
        if ($call.Status -ne 404 -and -not $call.TimedOut -and ($call.Status -lt 200 -or $call.Status -ge 300)) { $reason = ('leaving group {0} failed: HTTP {1}' -f $g, $call.Status); break }
        Write-Record @{ type = 'user'; userId = $u.Id; upn = $u.Upn; action = 'leave'; outcome = 'done'; group = $g }
    }
    if ($reason) { Skip $u $reason $before; continue }
    if ($u.Leave.Count -gt 0) {
        $gone = Wait-States $u.Id { param($s) @($s | Where-Object { $u.Leave -contains [string]$_['assignedByGroup'] }).Count -eq 0 }
        if ($null -eq $gone) { Skip $u 'the left groups still license the user: run the bridge again later' $before; continue }
    }
    # 3. The swap: add and remove in ONE call, so the user never holds neither product.
    $add = @($u.Add | ForEach-Object { @{ skuId = $_.Sku; disabledPlans = @($_.Disabled) } })
    $call = Invoke-Graph 'POST' ('/v1.0/users/{0}/assignLicense' -f $u.Id) @{ addLicenses = $add; removeLicenses = @($u.Remove) }
    $ok = ($call.Status -ge 200 -and $call.Status -lt 300)
    if (-not $ok -and $call.TimedOut) {
        $after = Get-LiveStates $u.Id
        if ($null -ne $after) { $ok = Test-Swapped $after $u }
    }
    if (-not $ok) { Skip $u ('the swap failed: HTTP {0}' -f $call.Status) $before; continue }
    $addedSkus = @($u.Add | ForEach-Object { $_.Sku } | Where-Object { $held -notcontains $_ })
    # 4. The group's assignment failed on the conflict: have Entra process it again now. The
    # action takes an empty JSON body (Invoke-MgGraphRequest refuses a POST without one).
    $re = Invoke-Graph 'POST' ('/v1.0/users/{0}/reprocessLicenseAssignment' -f $u.Id) @{}
    if ($re.Status -lt 200 -or $re.Status -ge 300) {
        $failed++
        Write-Record @{ type = 'user'; userId = $u.Id; upn = $u.Upn; action = 'swap'; outcome = 'failed'; before = $before; added = $addedSkus; left = @($u.Leave); requestId = $call.RequestId; reason = ('swapped, but reprocessing failed: {0}; run the bridge again' -f (Get-Why $re)) }
        continue
    }
    $done++
    Write-Record @{ type = 'user'; userId = $u.Id; upn = $u.Upn; action = 'swap'; outcome = 'done'; before = $before; added = $addedSkus; left = @($u.Leave); requestId = $call.RequestId; reprocess = $re.Status }
}
if ($DryRun) { Write-Host ('would swap {0} users' -f $would) }
Write-Host ('{0}: {1} users done, {2} skipped, {3} failed (see {4})' -f $Stage, $done, $skipped, $failed, $LogPath)
Complete-Run @{ done = $done; skipped = $skipped; failed = $failed; would = $would } $(if ($skipped -gt 0 -or $failed -gt 0) { 1 } else { 0 })
"#;

fn guid(out: &mut Vec<u8>, id: Guid) {
    out.push(b'\'');
    out.extend_from_slice(&id.encode());
    out.push(b'\'');
}

/// The bridge's script: every swap, in bridge.csv's order.
pub fn bridge_script(
    out: &mut Vec<u8>,
    t: &Tenant,
    cells: &ScriptCells,
    ctx: &ScriptContext,
    b: &Bridge,
) {
    let mut comment = String::new();
    let _ = writeln!(
        comment,
        "<#\n  licshift bridge: moves {} users off a license that conflicts with their group's, with no gap.",
        b.swaps.len()
    );
    comment += "  Each user is read live and skipped (and logged) unless the conflicting licenses are as planned.\n";
    comment += "  A license from a group is pinned as a direct copy (same SKU, no new seat), the user leaves\n";
    comment += "  that group, then ONE assignLicense call adds the group's SKUs and removes the conflicting\n";
    comment += "  ones; the user's group licenses are then reprocessed. A re-run finishes what a run began.\n";
    comment +=
        "  Run after prepare.ps1 and its checkpoint, before wave 1. Log: run/bridge.log.jsonl.\n";
    comment += "  -WhatIf: a dry run that logs. Exit: 0 every user done, 1 some skipped, 2 pre-flight failed.\n";
    let _ = writeln!(
        comment,
        "  Generated by licshift {}. Do not edit: re-plan, then verify.\n#>",
        env!("CARGO_PKG_VERSION")
    );
    let leaves = b.swaps.iter().any(|s| !s.leave.is_empty());
    let mut scopes = vec![WRITE_LICENSES, READ_USERS, REPROCESS];
    if leaves {
        scopes.push(WRITE_MEMBERS);
    }
    head(
        out,
        &comment,
        STAGE,
        ctx,
        &scopes,
        ",\n    [int]$PollSeconds = 600",
        &format!(
            "swap the conflicting licenses of {} users for their groups licenses",
            b.swaps.len()
        ),
    );
    sku_plans(out, t);
    out.extend_from_slice(b"\n# Each user: the conflicting licenses as planned (Expect), the copies to pin, the groups to\n# leave, and the swap (Add with their disabled plans, Remove).\n$Users = @(\n");
    for (i, s) in b.swaps.iter().enumerate() {
        let user = &t.users[s.user.ix()];
        out.extend_from_slice(b"    @{ Id = '");
        out.extend_from_slice(&user.id.encode());
        out.extend_from_slice(b"'; Upn = ");
        ps_str(out, &user.upn);
        out.extend_from_slice(b"\n       Expect = @(");
        for (j, (sku, group, disabled)) in s.conflicting.iter().enumerate() {
            if j > 0 {
                out.extend_from_slice(b", ");
            }
            out.extend_from_slice(b"@{ Sku = ");
            out.extend_from_slice(&cells.sku[sku.ix()]);
            out.extend_from_slice(b"; Group = ");
            match group.and_then(|g| t.groups[g.ix()].id) {
                Some(id) => guid(out, id),
                None => out.extend_from_slice(b"''"),
            }
            out.extend_from_slice(b"; Disabled = @(");
            plan_list(out, cells, disabled);
            out.extend_from_slice(b") }");
        }
        out.extend_from_slice(b")\n       Pins = @(");
        sku_entries(out, cells, s.pins.iter().map(|(_, k, d)| (*k, d)));
        out.extend_from_slice(b")\n       Leave = @(");
        for (j, g) in s
            .leave
            .iter()
            .filter_map(|g| t.groups[g.ix()].id)
            .enumerate()
        {
            if j > 0 {
                out.extend_from_slice(b", ");
            }
            guid(out, g);
        }
        out.extend_from_slice(b")\n       Add = @(");
        sku_entries(out, cells, s.add.iter().map(|(k, d)| (*k, d)));
        out.extend_from_slice(b")\n       Remove = @(");
        for (j, sku) in s.remove.iter().enumerate() {
            if j > 0 {
                out.extend_from_slice(b", ");
            }
            out.extend_from_slice(&cells.sku[sku.ix()]);
        }
        out.extend_from_slice(if i + 1 < b.swaps.len() {
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
if (-not $FromLog) { $FromLog = Join-Path $RunDir 'bridge.log.jsonl' }
if (-not (Test-Path -LiteralPath $FromLog)) { Stop-Preflight ('{0} is missing: the bridge did not run here, or pass -FromLog' -f $FromLog) }

# What the bridge really did: each user's last swap that came out done (or done but not
# reprocessed), with the live state the bridge read before it. A line cut short is passed over.
$restore = [ordered]@{}
$unreadable = 0
foreach ($line in [System.IO.File]::ReadAllLines($FromLog, $utf8)) {
    if (-not $line.Trim()) { continue }
    try { $rec = $line | ConvertFrom-Json } catch { $unreadable++; continue }
    $names = @($rec.PSObject.Properties | ForEach-Object { $_.Name })
    if ($names -notcontains 'action' -or $names -notcontains 'before') { continue }
    if ($rec.type -eq 'user' -and $rec.action -eq 'swap' -and @('done', 'failed') -contains $rec.outcome) { $restore[[string]$rec.userId] = $rec }
}
if ($unreadable -gt 0) { Write-Host ('{0} lines of {1} could not be read (cut short?) and were passed over' -f $unreadable, $FromLog) }

$done = 0; $failed = 0; $would = 0
foreach ($userId in @($restore.Keys)) {
    $rec = $restore[$userId]
    try {
        # The licenses the swap took, given back directly with the plans they had; the SKUs it
        # added directly, taken away — in ONE call, the swap in reverse.
        $add = @(@($rec.before) | Group-Object skuId | ForEach-Object { $_.Group[0] } | ForEach-Object { @{ skuId = [string]$_.skuId; disabledPlans = @($_.disabledPlans | ForEach-Object { [string]$_ }) } })
        $remove = @(@($rec.added) | ForEach-Object { [string]$_ })
        if (-not $PSCmdlet.ShouldProcess($userId, 'reverse the swap')) {
            $would++
            Write-Record @{ type = 'user'; userId = $userId; upn = [string]$rec.upn; action = 'restore'; outcome = 'whatif'; add = $add; remove = $remove }
            continue
        }
        $call = Invoke-Graph 'POST' ('/v1.0/users/{0}/assignLicense' -f $userId) @{ addLicenses = $add; removeLicenses = $remove }
        if ($call.Status -lt 200 -or $call.Status -ge 300) {
            throw ('reversing the swap failed (HTTP {0}); if the group''s license conflicts with the restored one, run prepare-rollback.ps1 first or remove the user from the group' -f $call.Status)
        }
        # Back into the groups the user left; once the group licenses them again, the direct
        # copy restored above goes.
        foreach ($g in @($rec.left)) {
            $body = @{ '@odata.id' = ('{0}/v1.0/directoryObjects/{1}' -f $GraphHost, $userId) }
            $join = Invoke-Graph 'POST' ('/v1.0/groups/{0}/members/$ref' -f $g) $body
            # 400 is "already a member" only when Graph says so.
            $member = ($join.Status -eq 400 -and $join.Error -like '*already exist*')
            if (-not $member -and ($join.Status -lt 200 -or $join.Status -ge 300)) { throw ('rejoining group {0} failed: {1}' -f $g, (Get-Why $join)) }
        }
        # A SKU the user also held directly before keeps its direct assignment.
        $direct = @(@($rec.before) | Where-Object { -not [string]$_.group } | ForEach-Object { [string]$_.skuId })
        $pinned = @(@($rec.before) | Where-Object { [string]$_.group -and $direct -notcontains [string]$_.skuId } | ForEach-Object { [string]$_.skuId } | Sort-Object -Unique)
        if ($pinned.Count -gt 0) {
            $deadline = (Get-Date).AddSeconds($PollSeconds)
            $back = $false
            while (-not $back -and (Get-Date) -lt $deadline) {
                $states = Get-LiveStates $userId
                $back = ($null -ne $states) -and (@($pinned | Where-Object { $sku = $_; @($states | Where-Object { $_['assignedByGroup'] -and [string]$_['skuId'] -eq $sku -and (Test-Healthy $_) }).Count -eq 0 }).Count -eq 0)
                if (-not $back) { Start-Sleep -Seconds 10 }
            }
            if (-not $back) { throw 'the groups do not license the user again yet: the direct copies stay; remove them once they do' }
            $unpin = Invoke-Graph 'POST' ('/v1.0/users/{0}/assignLicense' -f $userId) @{ addLicenses = @(); removeLicenses = $pinned }
            if ($unpin.Status -lt 200 -or $unpin.Status -ge 300) { throw ('removing the direct copies failed: HTTP {0}' -f $unpin.Status) }
        }
        $done++
        Write-Record @{ type = 'user'; userId = $userId; upn = [string]$rec.upn; action = 'restore'; outcome = 'done'; add = $add; remove = $remove }
    } catch {
        $failed++
        Write-Record @{ type = 'user'; userId = $userId; upn = [string]$rec.upn; action = 'restore'; outcome = 'failed'; reason = [string]$_.Exception.Message }
    }
}
if ($DryRun) { Write-Host ('would reverse {0} swaps' -f $would) }
Write-Host ('{0}: {1} reversed, {2} failed (see {3})' -f $Stage, $done, $failed, $LogPath)
Complete-Run @{ done = $done; failed = $failed; would = $would } $(if ($failed -gt 0) { 1 } else { 0 })
"#;

/// The bridge's rollback: built from the bridge's own log, so it holds no user data.
pub fn bridge_rollback_script(out: &mut Vec<u8>, ctx: &ScriptContext, b: &Bridge) {
    let comment = "<#\n  licshift rollback of the bridge: reverses each swap the bridge's log (run/bridge.log.jsonl, or\n  -FromLog) records as done, in ONE assignLicense call per user, puts the user back in the groups\n  they left and, once those license them again, removes the direct copies. Every user is tried;\n  failures are logged. Exit: 0 all reversed, 1 some failed, 2 pre-flight failed.\n#>\n";
    let mut scopes = vec![WRITE_LICENSES, READ_USERS];
    if b.swaps.iter().any(|s| !s.leave.is_empty()) {
        scopes.push(WRITE_MEMBERS);
    }
    head(
        out,
        comment,
        "bridge-rollback",
        ctx,
        &scopes,
        ",\n    [string]$FromLog = '',\n    [int]$PollSeconds = 600",
        "reverse the swaps run/bridge.log.jsonl records",
    );
    out.extend_from_slice(ROLLBACK.as_bytes());
}
