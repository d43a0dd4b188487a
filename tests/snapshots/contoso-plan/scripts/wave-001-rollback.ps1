<#
  licshift rollback of wave-001: gives back each direct assignment the wave removed, with the
  disabled plans it had live, read from the wave's log (run/wave-001.log.jsonl, or -FromLog).
  Every user is tried; failures are logged. Exit: 0 all restored, 1 some failed, 2 pre-flight failed.
#>
#Requires -Version 5.1
#Requires -Modules Microsoft.Graph.Authentication
[CmdletBinding(SupportsShouldProcess = $true)]
param(
    # Where the run's files go: the logs, and the ids of the groups prepare created.
    [string]$RunDir = '',
    [string]$LogPath = '',
    [int]$MaxAttempts = 6,
    [string]$FromLog = ''
)
Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'

$Stage = 'wave-001-rollback'
# The tenant the snapshot was taken from (its organization id), empty when the snapshot had none.
$ExpectedTenant = '033bf333-b2f0-5833-b1d2-e85131a5bb6b'
$PlanSha256 = '521829018e53a6e164aaed6f732bdf693aa0c8ff8ff6b20e8b73053e232a2dbb'
# Each entry: the scopes of which one must be granted.
$NeedScopes = @(@('LicenseAssignment.ReadWrite.All', 'User.ReadWrite.All', 'Directory.ReadWrite.All'), @('User.Read.All', 'User.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'))

$utf8 = New-Object System.Text.UTF8Encoding($false)
$DryRun = [bool]$WhatIfPreference
if (-not $RunDir) { $RunDir = Join-Path (Split-Path -Parent $PSScriptRoot) 'run' }
# A .NET call, not a cmdlet: -WhatIf would skip a cmdlet, and the dry run logs into this folder.
[void][System.IO.Directory]::CreateDirectory($RunDir)
if (-not $LogPath) { $LogPath = Join-Path $RunDir ($Stage + '.log.jsonl') }

# One JSON line per record. Names from the exports are JSON strings in it, never new lines, and
# the log is written under -WhatIf too: a dry run records what it would do.
function Write-Record([hashtable]$Record) {
    $Record['time'] = (Get-Date).ToUniversalTime().ToString('o')
    $Record['stage'] = $Stage
    $line = ConvertTo-Json -InputObject $Record -Compress -Depth 8
    [System.IO.File]::AppendAllText($LogPath, $line + "`r`n", $utf8)
}

function Stop-Preflight([string]$Why) {
    Write-Record @{ type = 'preflight'; outcome = 'failed'; reason = $Why }
    Write-Host ('pre-flight failed: ' + $Why)
    exit 2
}

# One Graph call. 429 and 503 are retried after Retry-After (or a growing pause), a bounded
# number of times; so are a GET's 504 and dropped connections. A write that timed out (504, or
# no answer) is not repeated: Graph may have applied it, so the caller reads it back.
function Invoke-Graph([string]$Method, [string]$Uri, $Body = $null) {
    $status = 0
    $response = $null
    for ($attempt = 1; $attempt -le $MaxAttempts; $attempt++) {
        $status = 0
        $headers = $null
        $response = $null
        $call = @{ Method = $Method; Uri = $Uri; OutputType = 'HashTable'; SkipHttpErrorCheck = $true; StatusCodeVariable = 'status'; ResponseHeadersVariable = 'headers' }
        if ($null -ne $Body) {
            $call['Body'] = ConvertTo-Json -InputObject $Body -Compress -Depth 8
            $call['ContentType'] = 'application/json'
        }
        try {
            $response = Invoke-MgGraphRequest @call
        } catch {
            $status = 0
        }
        if ($status -ge 200 -and $status -lt 300) { return @{ Status = $status; Body = $response; TimedOut = $false } }
        $timedOut = ($status -eq 0 -or $status -eq 504)
        if ($Method -ne 'GET' -and $timedOut) { return @{ Status = $status; Body = $response; TimedOut = $true } }
        if (@(0, 429, 503, 504) -notcontains $status) { return @{ Status = $status; Body = $response; TimedOut = $false } }
        $wait = [math]::Min(120, [math]::Pow(2, $attempt))
        if ($headers -and $headers.ContainsKey('Retry-After')) {
            $after = 0
            if ([int]::TryParse([string]@($headers['Retry-After'])[0], [ref]$after)) { $wait = $after }
        }
        Write-Host ('{0} {1}: HTTP {2}, attempt {3} of {4}; waiting {5} s' -f $Method, $Uri, $status, $attempt, $MaxAttempts, $wait)
        Start-Sleep -Seconds $wait
    }
    return @{ Status = $status; Body = $response; TimedOut = ($status -eq 0 -or $status -eq 504) }
}

# Every page of a collection.
function Get-GraphAll([string]$Uri) {
    $items = New-Object System.Collections.Generic.List[object]
    while ($Uri) {
        $r = Invoke-Graph 'GET' $Uri
        if ($r.Status -lt 200 -or $r.Status -ge 300) { throw ('GET {0} failed with HTTP {1}' -f $Uri, $r.Status) }
        foreach ($item in @($r.Body['value'])) { $items.Add($item) }
        $Uri = $null
        if ($r.Body.ContainsKey('@odata.nextLink')) { $Uri = [string]$r.Body['@odata.nextLink'] }
    }
    return ,$items
}

# The user's license states, live; $null when the user cannot be read.
function Get-LiveStates([string]$UserId) {
    $r = Invoke-Graph 'GET' ('/v1.0/users/{0}?$select=id,licenseAssignmentStates' -f $UserId)
    if ($r.Status -lt 200 -or $r.Status -ge 300) { return $null }
    return ,@($r.Body['licenseAssignmentStates'])
}

function Test-Healthy($State) {
    $err = [string]$State['error']
    return ([string]$State['state'] -eq 'Active') -and (-not $err -or $err -eq 'None')
}

$context = Get-MgContext
if (-not $context) { Stop-Preflight 'not connected to Microsoft Graph: run Connect-MgGraph first' }
if ($ExpectedTenant -and [string]$context.TenantId -ne $ExpectedTenant) {
    Stop-Preflight ('connected to tenant {0}, but the plan was made for tenant {1}' -f $context.TenantId, $ExpectedTenant)
}
$granted = @($context.Scopes)
foreach ($alternatives in $NeedScopes) {
    if (@($alternatives | Where-Object { $granted -contains $_ }).Count -eq 0) {
        Stop-Preflight ('the connection lacks the scope {0} (or one that includes it): Connect-MgGraph -Scopes {0}' -f $alternatives[0])
    }
}
Write-Record @{ type = 'header'; tenant = [string]$context.TenantId; account = [string]$context.Account; planSha256 = $PlanSha256; whatIf = $DryRun; script = [string]$PSCommandPath; licshift = '0.1.0' }

if (-not $FromLog) { $FromLog = Join-Path $RunDir 'wave-001.log.jsonl' }
if (-not (Test-Path -LiteralPath $FromLog)) { Stop-Preflight ('{0} is missing: nothing of this wave ran here, or pass -FromLog' -f $FromLog) }

# What the wave really removed: each user's last `remove` record that came out done, with the
# live state the wave read before it (not what the snapshot said).
$restore = [ordered]@{}
foreach ($line in [System.IO.File]::ReadAllLines($FromLog, $utf8)) {
    if (-not $line.Trim()) { continue }
    $rec = $line | ConvertFrom-Json
    if ($rec.type -eq 'user' -and $rec.action -eq 'remove' -and $rec.outcome -eq 'done') { $restore[[string]$rec.userId] = $rec }
}

$done = 0; $kept = 0; $failed = 0; $would = 0
foreach ($userId in @($restore.Keys)) {
    $rec = $restore[$userId]
    # Every user is tried: one failure is logged, never the end of the rollback.
    try {
        $states = Get-LiveStates $userId
        if ($null -eq $states) { throw 'cannot read the user' }
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
        if (-not $ok) { throw ('HTTP {0}' -f $call.Status) }
        $done++
        Write-Record @{ type = 'user'; userId = $userId; upn = [string]$rec.upn; action = 'restore'; outcome = 'done'; add = $add }
    } catch {
        $failed++
        Write-Record @{ type = 'user'; userId = $userId; upn = [string]$rec.upn; action = 'restore'; outcome = 'failed'; reason = [string]$_.Exception.Message }
    }
}
Write-Record @{ type = 'summary'; done = $done; kept = $kept; failed = $failed; would = $would }
if ($DryRun) { Write-Host ("would restore {0} users' direct assignments" -f $would) }
Write-Host ('{0}: {1} restored, {2} held them already, {3} failed (see {4})' -f $Stage, $done, $kept, $failed, $LogPath)
if ($failed -gt 0) { exit 1 }
exit 0
