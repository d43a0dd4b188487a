#Requires -Version 5.1
# 2.x: the version whose Invoke-MgGraphRequest has -SkipHttpErrorCheck, -StatusCodeVariable and
# -ResponseHeadersVariable, which every call below passes.
#Requires -Modules @{ ModuleName = 'Microsoft.Graph.Authentication'; ModuleVersion = '2.0.0' }
[CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'High')]
param(
    # Where the run's files go: the logs, and the ids of the groups prepare created.
    [string]$RunDir = '',
    [string]$LogPath = '',
    [int]$MaxAttempts = 6__PARAMS__
)
Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'

$Stage = '__STAGE__'
# The tenant the snapshot was taken from (its organization id), empty when the snapshot had none.
$ExpectedTenant = '__TENANT__'
$PlanSha256 = '__PLAN__'
# Each entry: the scopes of which one must be granted.
$NeedScopes = @(__SCOPES__)

$utf8 = New-Object System.Text.UTF8Encoding($false)
$DryRun = [bool]$WhatIfPreference
# Every path is resolved once, against the current location: .NET file calls resolve a
# relative path against the process's directory, Test-Path against $PWD — two folders.
function Resolve-RunPath([string]$Path) {
    if (-not $Path) { return '' }
    return $PSCmdlet.GetUnresolvedProviderPathFromPSPath($Path)
}
$RunDir = Resolve-RunPath $RunDir
$LogPath = Resolve-RunPath $LogPath
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

# The lock goes with the run (a .NET call: -WhatIf runs hold it too).
function Unlock-Run {
    if (Test-Path variable:script:LockPath) { try { [System.IO.File]::Delete($script:LockPath) } catch { } }
}

function Stop-Preflight([string]$Why) {
    Write-Record @{ type = 'preflight'; outcome = 'failed'; reason = $Why }
    Unlock-Run
    Write-Host ('pre-flight failed: ' + $Why)
    exit 2
}

# Calls in a row that ended in an exception, not an HTTP answer (an expired token, a parameter
# the installed module lacks): past $MaxFailures the run stops instead of trying every user.
$script:Failures = 0
$MaxFailures = 3

# One Graph call. 429 and 503 are retried after Retry-After (or a growing pause), a bounded
# number of times; so are a GET's 504 and dropped connections, with no pause after the last
# try. A write that timed out (504, or no answer) is not repeated: Graph may have applied it,
# so the caller reads it back. The answer carries Graph's request-id and error code and
# message, or the exception's message, for the log.
function Invoke-Graph([string]$Method, [string]$Uri, $Body = $null) {
    $status = 0
    $response = $null
    $failure = ''
    $headers = $null
    for ($attempt = 1; $attempt -le $MaxAttempts; $attempt++) {
        $status = 0
        $headers = $null
        $response = $null
        $failure = ''
        $call = @{ Method = $Method; Uri = $Uri; OutputType = 'HashTable'; SkipHttpErrorCheck = $true; StatusCodeVariable = 'status'; ResponseHeadersVariable = 'headers' }
        if ($null -ne $Body) {
            $call['Body'] = ConvertTo-Json -InputObject $Body -Compress -Depth 8
            $call['ContentType'] = 'application/json'
        }
        try {
            $response = Invoke-MgGraphRequest @call
        } catch {
            $status = 0
            $failure = [string]$_.Exception.Message
        }
        if ($failure) {
            $script:Failures++
            if ($script:Failures -ge $MaxFailures) {
                Write-Record @{ type = 'stopped'; outcome = 'failed'; reason = ('{0} calls in a row failed without an answer; the last: {1} {2}: {3}' -f $script:Failures, $Method, $Uri, $failure) }
                Write-Host ('stopped: {0} calls in a row failed without an answer (last: {1})' -f $script:Failures, $failure)
                exit 2
            }
        } else {
            $script:Failures = 0
        }
        $answer = @{ Status = $status; Body = $response; TimedOut = $false; Failure = $failure; RequestId = ''; Error = '' }
        if ($headers -and $headers.ContainsKey('request-id')) { $answer.RequestId = [string]@($headers['request-id'])[0] }
        if ($response -is [System.Collections.IDictionary] -and $response.ContainsKey('error')) {
            $e = $response['error']
            if ($e -is [System.Collections.IDictionary]) { $answer.Error = ('{0}: {1}' -f [string]$e['code'], [string]$e['message']) }
        }
        if ($status -ge 200 -and $status -lt 300) { return $answer }
        $answer.TimedOut = ($status -eq 0 -or $status -eq 504)
        if ($Method -ne 'GET' -and $answer.TimedOut) { return $answer }
        if (@(0, 429, 503, 504) -notcontains $status) { return $answer }
        if ($attempt -ge $MaxAttempts) { return $answer }
        $wait = [math]::Min(120, [math]::Pow(2, $attempt))
        if ($headers -and $headers.ContainsKey('Retry-After')) {
            $after = 0
            if ([int]::TryParse([string]@($headers['Retry-After'])[0], [ref]$after)) { $wait = $after }
        }
        Write-Host ('{0} {1}: HTTP {2}{3}, attempt {4} of {5}; waiting {6} s' -f $Method, $Uri, $status, $(if ($failure) { ' (' + $failure + ')' } else { '' }), $attempt, $MaxAttempts, $wait)
        Start-Sleep -Seconds $wait
    }
    return $answer
}

# What the log records of an answer that was not a success: the status, Graph's request-id and
# error, or the exception.
function Get-Why($Answer) {
    $why = 'HTTP {0}' -f $Answer.Status
    if ($Answer.Error) { $why += ' ' + $Answer.Error }
    if ($Answer.Failure) { $why += ' (' + $Answer.Failure + ')' }
    if ($Answer.RequestId) { $why += ' request-id ' + $Answer.RequestId }
    return $why
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

# The user's license states, live; $null when the user cannot be read ($script:LastRead says
# why: 'gone' for a deleted user, 404, else the answer).
$script:LastRead = ''
function Get-LiveStates([string]$UserId) {
    $r = Invoke-Graph 'GET' ('/v1.0/users/{0}?$select=id,licenseAssignmentStates' -f $UserId)
    if ($r.Status -lt 200 -or $r.Status -ge 300) {
        $script:LastRead = $(if ($r.Status -eq 404) { 'gone' } else { Get-Why $r })
        return $null
    }
    $script:LastRead = ''
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
# The Graph host of the connection (national clouds have their own), for the absolute URLs
# `@odata.id` and `members@odata.bind` take.
$GraphHost = 'https://graph.microsoft.com'
try {
    $environment = Get-MgEnvironment -Name ([string]$context.Environment) -ErrorAction Stop
    if ($environment -and [string]$environment.GraphEndpoint) { $GraphHost = ([string]$environment.GraphEndpoint).TrimEnd('/') }
} catch { }
$granted = @($context.Scopes)
foreach ($alternatives in $NeedScopes) {
    if (@($alternatives | Where-Object { $granted -contains $_ }).Count -eq 0) {
        Stop-Preflight ('the connection lacks the scope {0} (or one that includes it): Connect-MgGraph -Scopes {0}' -f $alternatives[0])
    }
}
# The run folder is this plan's: a log of another plan in it is refused (its rollback would
# read ours). And one run of a stage at a time: a lock holds the process id.
foreach ($log in @(Get-ChildItem -LiteralPath $RunDir -Filter '*.log.jsonl' -ErrorAction SilentlyContinue)) {
    $other = @(Select-String -LiteralPath $log.FullName -Pattern '"planSha256":"([0-9a-f]{64})"' -List | ForEach-Object { $_.Matches[0].Groups[1].Value } | Where-Object { $_ -ne $PlanSha256 })
    if ($other.Count -gt 0) { Stop-Preflight ('{0} holds the log of another plan ({1}): give this plan''s own run folder with -RunDir' -f $log.FullName, $other[0]) }
}
$lockFile = Join-Path $RunDir ($Stage + '.lock')
if (Test-Path -LiteralPath $lockFile) {
    $holder = 0
    [void][int]::TryParse(([System.IO.File]::ReadAllText($lockFile, $utf8)).Trim(), [ref]$holder)
    # Another live run's lock is left to it; a dead run's is taken over.
    if ($holder -and $holder -ne $PID -and (Get-Process -Id $holder -ErrorAction SilentlyContinue)) { Stop-Preflight ('{0} runs already in process {1} ({2})' -f $Stage, $holder, $lockFile) }
}
[System.IO.File]::WriteAllText($lockFile, [string]$PID, $utf8)
$LockPath = $lockFile

Write-Record @{ type = 'header'; tenant = [string]$context.TenantId; account = [string]$context.Account; planSha256 = $PlanSha256; whatIf = $DryRun; script = [string]$PSCommandPath; licshift = '__VERSION__' }

# One confirmation for the whole run, naming the tenant, the stage and what it changes
# (-Confirm:$false for a pipeline); the steps after it ask nothing more. -WhatIf still holds.
if (-not $DryRun) {
    if (-not $PSCmdlet.ShouldProcess(('tenant {0} as {1}' -f $context.TenantId, $context.Account), ('licshift {0}: {1}' -f $Stage, '__SUMMARY__'))) {
        Write-Record @{ type = 'summary'; outcome = 'declined' }
        Unlock-Run
        exit 2
    }
    $ConfirmPreference = 'None'
}

# The end of every run: the summary record, a machine-readable result beside the log
# (run/STAGE.result.json), the lock released, and the exit code.
function Complete-Run([hashtable]$Counts, [int]$Code) {
    $Counts['type'] = 'summary'
    Write-Record $Counts
    $result = [ordered]@{ stage = $Stage; planSha256 = $PlanSha256; whatIf = $DryRun; exitCode = $Code; log = $LogPath; finished = (Get-Date).ToUniversalTime().ToString('o') }
    foreach ($k in @($Counts.Keys | Sort-Object)) { if ($k -ne 'type') { $result[$k] = $Counts[$k] } }
    [System.IO.File]::WriteAllText((Join-Path $RunDir ($Stage + '.result.json')), (ConvertTo-Json -InputObject $result -Depth 4), $utf8)
    Unlock-Run
    exit $Code
}
