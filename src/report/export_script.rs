//! `licshift export-script`: the read-only Microsoft Graph PowerShell script that saves a
//! snapshot folder in the Graph JSON form licshift reads (SPEC §2).
//!
//! Only `Invoke-MgGraphRequest -Method GET` (Microsoft.Graph.Authentication), with read scopes.
//! Each page is written as one line the moment it arrives and only its nextLink is looked for,
//! so memory stays one page whatever the tenant's size (Windows PowerShell 5.1's ConvertFrom-Json
//! also refuses strings over 2 MB, which a page of users with their license states can reach).
//! HTTP 429, 503 and 504 and dropped connections are retried after `Retry-After` (or a growing
//! pause), a bounded number of times: a GET is safe to repeat. Group names given with `--groups`
//! appear only as single-quoted data.

use super::powershell::ps_quote;
use crate::graph::wire;

const SCRIPT: &str = r#"<#
.SYNOPSIS
    Saves a licshift snapshot of this tenant: subscribedSkus.json, users.json (with every
    licenseAssignmentState), groups.json (with assignedLicenses), members.json, organization.json
    and README.txt. Written by licshift __VERSION__ export-script.
.DESCRIPTION
    Read-only: it sends GET requests to Microsoft Graph and nothing else. Each page of results
    is written to its file as it arrives, so a tenant of any size needs one page of memory.
    Then: licshift inspect <OutDir>, add templates.csv (the proposed lines), licshift plan.
.PARAMETER OutDir
    The folder to write; created if missing. It must not hold an earlier snapshot's files.
.PARAMETER TenantId
    Connect to this tenant (Connect-MgGraph -TenantId); by default the current connection's.
#>
#Requires -Version 5.1
#Requires -Modules Microsoft.Graph.Authentication
[CmdletBinding()]
param(
    # The invariant culture: under th-TH the current one writes the Buddhist year (2569).
    [string]$OutDir = ('licshift-snapshot-' + (Get-Date).ToUniversalTime().ToString('yyyyMMdd-HHmmss', [Globalization.CultureInfo]::InvariantCulture)),
    [string]$TenantId = '',
    [int]$MaxAttempts = 8
)
Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'

# Least privilege for a read: users with their license states, groups with their licenses and
# members, the organization's country.
$Scopes = @('User.Read.All', 'Group.Read.All', 'Organization.Read.All')
# Groups to save the members of besides every group that assigns licenses (--groups): ids or
# display names, as data.
$NamedGroups = @(__GROUPS__)

$context = Get-MgContext
$missing = @()
if ($context) { $missing = @($Scopes | Where-Object { $context.Scopes -notcontains $_ }) }
if (-not $context -or $missing.Count -gt 0 -or ($TenantId -and $context.TenantId -ne $TenantId)) {
    $connect = @{ Scopes = $Scopes; NoWelcome = $true }
    if ($TenantId) { $connect['TenantId'] = $TenantId }
    Connect-MgGraph @connect
    $context = Get-MgContext
}
if (-not $context) { throw 'Not connected to Microsoft Graph.' }

if (Test-Path -LiteralPath $OutDir) {
    $existing = @(Get-ChildItem -LiteralPath $OutDir -Filter '*.json')
    if ($existing.Count -gt 0) { throw "$OutDir already holds a snapshot: choose another -OutDir." }
} else {
    New-Item -ItemType Directory -Path $OutDir | Out-Null
}
$OutDir = (Resolve-Path -LiteralPath $OutDir).Path
$utf8 = New-Object System.Text.UTF8Encoding($false)

# One GET, retried on throttling (429), unavailability (503, 504) and dropped connections.
function Get-GraphPage([string]$Uri) {
    for ($attempt = 1; $attempt -le $MaxAttempts; $attempt++) {
        $status = 0
        $headers = $null
        $body = $null
        try {
            $body = Invoke-MgGraphRequest -Method GET -Uri $Uri -OutputType Json -SkipHttpErrorCheck -StatusCodeVariable 'status' -ResponseHeadersVariable 'headers'
        } catch {
            Write-Warning ("GET {0}: {1}" -f $Uri, $_.Exception.Message)
            $status = 0
        }
        if ($status -ge 200 -and $status -lt 300) { return [string]$body }
        if (@(0, 429, 503, 504) -notcontains $status) {
            throw ("GET {0} failed with HTTP {1}: {2}" -f $Uri, $status, $body)
        }
        $wait = [math]::Min(120, [math]::Pow(2, $attempt))
        if ($headers -and $headers.ContainsKey('Retry-After')) {
            $after = 0
            if ([int]::TryParse([string]@($headers['Retry-After'])[0], [ref]$after)) { $wait = $after }
        }
        Write-Warning ("GET {0}: HTTP {1}, attempt {2} of {3}; retrying in {4} s" -f $Uri, $status, $attempt, $MaxAttempts, $wait)
        Start-Sleep -Seconds $wait
    }
    throw ("GET {0} still failed after {1} attempts" -f $Uri, $MaxAttempts)
}

function Get-NextLink([string]$Page) {
    if ($Page -match '"@odata\.nextLink"\s*:\s*"([^"]+)"') { return $Matches[1] }
    return $null
}

# Saves every page of a collection to one file, a page per line, as the pages arrive.
# $OnPage, when given, sees each page's text (to find licensed groups, to add groupId).
function Save-Collection([string]$Uri, [string]$File, [scriptblock]$OnPage = $null) {
    $path = Join-Path $OutDir $File
    $writer = New-Object System.IO.StreamWriter($path, $true, $utf8)
    $pages = 0
    try {
        while ($Uri) {
            $page = (Get-GraphPage $Uri) -replace "`r?`n", ''
            if ($OnPage) { & $OnPage $page $writer } else { $writer.WriteLine($page) }
            $writer.Flush()
            $pages++
            $Uri = Get-NextLink $page
            Write-Host ("{0}: page {1}" -f $File, $pages)
        }
    } finally {
        $writer.Close()
    }
}

$started = (Get-Date).ToUniversalTime()
Save-Collection '/v1.0/organization?$select=__ORGANIZATION_SELECT__' 'organization.json'
Save-Collection '/v1.0/subscribedSkus' 'subscribedSkus.json'

$licensedGroups = New-Object System.Collections.Generic.List[string]
$namedFound = New-Object System.Collections.Generic.List[string]
Save-Collection '/v1.0/groups?$select=__GROUP_SELECT__&$top=999' 'groups.json' {
    param($page, $writer)
    $writer.WriteLine($page)
    foreach ($g in @(($page | ConvertFrom-Json).value)) {
        $named = @($NamedGroups | Where-Object { $_ -eq $g.id -or $_ -eq $g.displayName }).Count -gt 0
        if (@($g.assignedLicenses).Count -gt 0 -or $named) {
            if (-not $licensedGroups.Contains([string]$g.id)) { $licensedGroups.Add([string]$g.id) }
        }
        if ($named) { $namedFound.Add([string]$g.displayName) }
    }
}
foreach ($n in $NamedGroups) {
    if (-not ($namedFound -contains $n) -and -not ($licensedGroups -contains $n)) {
        Write-Warning ("No group has the id or name '{0}': its members are not saved." -f $n)
    }
}

Save-Collection '/v1.0/users?$select=__USER_SELECT__&$top=999' 'users.json'

# members.json: JSON Lines, each member with the groupId it was listed under.
foreach ($groupId in $licensedGroups) {
    $uri = '/v1.0/groups/{0}/members?$select=__MEMBER_SELECT__&$top=999' -f $groupId
    Save-Collection $uri 'members.json' {
        param($page, $writer)
        foreach ($m in @(($page | ConvertFrom-Json).value)) {
            $m | Add-Member -NotePropertyName 'groupId' -NotePropertyValue $groupId -Force
            $writer.WriteLine(($m | ConvertTo-Json -Compress -Depth 4))
        }
    }
}
$membersPath = Join-Path $OutDir 'members.json'
if (-not (Test-Path -LiteralPath $membersPath)) { [System.IO.File]::WriteAllText($membersPath, '', $utf8) }

$readme = @(
    'licshift snapshot (Microsoft Graph JSON), saved by licshift __VERSION__ export-script.',
    ('Tenant:   {0}' -f $context.TenantId),
    ('Account:  {0}' -f $context.Account),
    ('Started:  {0:u}' -f $started),
    ('Finished: ' + (Get-Date).ToUniversalTime().ToString('u', [Globalization.CultureInfo]::InvariantCulture)),
    ('Groups whose members were saved: {0}' -f $licensedGroups.Count),
    'Files: subscribedSkus.json, users.json, groups.json, members.json, organization.json.',
    'Next: licshift inspect this folder; add templates.csv with the proposed template lines; licshift plan.'
)
[System.IO.File]::WriteAllLines((Join-Path $OutDir 'README.txt'), $readme, $utf8)
Write-Host ("Snapshot saved in {0}" -f $OutDir)
"#;

/// The script, UTF-8 with a byte-order mark (Windows PowerShell 5.1 reads a file without one
/// in the ANSI code page) and CRLF line ends.
pub fn render(groups: &[String]) -> Vec<u8> {
    let list: Vec<String> = groups.iter().map(|g| ps_quote(g)).collect();
    let text = SCRIPT
        .replace("__VERSION__", env!("CARGO_PKG_VERSION"))
        .replace("__GROUPS__", &list.join(", "))
        // The same properties `licshift snapshot` asks for: one format, two ways to save it.
        .replace("__USER_SELECT__", wire::USER_SELECT)
        .replace("__GROUP_SELECT__", wire::GROUP_SELECT)
        .replace("__MEMBER_SELECT__", wire::MEMBER_SELECT)
        .replace("__ORGANIZATION_SELECT__", wire::ORGANIZATION_SELECT)
        .replace('\n', "\r\n");
    let mut out = b"\xEF\xBB\xBF".to_vec();
    out.extend_from_slice(text.as_bytes());
    out
}
