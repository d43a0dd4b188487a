<#
  licshift rollback of wave 1: gives back each direct assignment the wave removed, with its
  original disabled plans. A user who holds the direct assignment already is left alone.
#>
[CmdletBinding(SupportsShouldProcess = $true)]
param([string]$LogPath = 'wave-001-rollback.log')
Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'

function Write-Log([string]$Message) {
    $line = '{0:o} {1}' -f (Get-Date), $Message
    Add-Content -LiteralPath $LogPath -Value $line
    Write-Host $line
}

if (-not (Get-MgContext)) { throw 'Connect-MgGraph -Scopes User.ReadWrite.All,Directory.Read.All first' }

$restores = @(
    @{ UserId = '212f6b1b-c902-50f4-b736-c15e968b0f3c'; Upn = 'adele.vance.0300@contoso.com'; SkuId = '18181a46-0d4e-45cd-891e-60aabd171b4e'; DisabledPlans = @() },
    @{ UserId = '212f6b1b-c902-50f4-b736-c15e968b0f3c'; Upn = 'adele.vance.0300@contoso.com'; SkuId = 'efccb6f7-5641-4e0e-bd10-b4976e1bf68e'; DisabledPlans = @() },
    @{ UserId = '528facf2-6fec-5954-b83a-4c7db488548c'; Upn = 'alex.braun.0751@contoso.com'; SkuId = 'efccb6f7-5641-4e0e-bd10-b4976e1bf68e'; DisabledPlans = @() },
    @{ UserId = 'e2a4074c-ef57-5f24-a526-aaee0ad3c9b1'; Upn = 'allan.sherman.0332@contoso.com'; SkuId = 'efccb6f7-5641-4e0e-bd10-b4976e1bf68e'; DisabledPlans = @() },
    @{ UserId = '50701866-ec1e-5e84-aa10-d65093631b8f'; Upn = 'ben.fernandez.0003@contoso.com'; SkuId = '6fd2c87f-b296-42f0-b197-1e91e994b900'; DisabledPlans = @('7547a3fe-08ee-4ccb-b430-5077c5041653') },
    @{ UserId = '50701866-ec1e-5e84-aa10-d65093631b8f'; Upn = 'ben.fernandez.0003@contoso.com'; SkuId = 'efccb6f7-5641-4e0e-bd10-b4976e1bf68e'; DisabledPlans = @() },
    @{ UserId = '398dd7cf-4859-5225-8dc1-edca242442fb'; Upn = 'bianca.ozdemir.0124@contoso.com'; SkuId = '6fd2c87f-b296-42f0-b197-1e91e994b900'; DisabledPlans = @() },
    @{ UserId = '398dd7cf-4859-5225-8dc1-edca242442fb'; Upn = 'bianca.ozdemir.0124@contoso.com'; SkuId = 'efccb6f7-5641-4e0e-bd10-b4976e1bf68e'; DisabledPlans = @() },
    @{ UserId = '60b55827-5826-53dd-882f-69e884b5ad93'; Upn = 'bianca.ozdemir.0274@contoso.com'; SkuId = '6fd2c87f-b296-42f0-b197-1e91e994b900'; DisabledPlans = @('7547a3fe-08ee-4ccb-b430-5077c5041653') },
    @{ UserId = '60b55827-5826-53dd-882f-69e884b5ad93'; Upn = 'bianca.ozdemir.0274@contoso.com'; SkuId = 'efccb6f7-5641-4e0e-bd10-b4976e1bf68e'; DisabledPlans = @() },
    @{ UserId = 'c03eba41-3307-52fc-b903-8ded37b35de6'; Upn = 'emily.graham.0607@contoso.com'; SkuId = 'efccb6f7-5641-4e0e-bd10-b4976e1bf68e'; DisabledPlans = @() },
    @{ UserId = '9525d3dd-d3b0-5fd0-b7e7-3d8f1d79d477'; Upn = 'grady.walters.0279@contoso.com'; SkuId = '6fd2c87f-b296-42f0-b197-1e91e994b900'; DisabledPlans = @('7547a3fe-08ee-4ccb-b430-5077c5041653') },
    @{ UserId = '9525d3dd-d3b0-5fd0-b7e7-3d8f1d79d477'; Upn = 'grady.walters.0279@contoso.com'; SkuId = 'efccb6f7-5641-4e0e-bd10-b4976e1bf68e'; DisabledPlans = @() },
    @{ UserId = '5e39bd77-6172-56d5-a6c9-3a5f68d7c53d'; Upn = 'irvin.cox.0071@contoso.com'; SkuId = '6fd2c87f-b296-42f0-b197-1e91e994b900'; DisabledPlans = @() },
    @{ UserId = '5e39bd77-6172-56d5-a6c9-3a5f68d7c53d'; Upn = 'irvin.cox.0071@contoso.com'; SkuId = 'efccb6f7-5641-4e0e-bd10-b4976e1bf68e'; DisabledPlans = @() },
    @{ UserId = 'd9691908-1d2b-5b47-b263-61feee8828ae'; Upn = 'irvin.cox.0791@contoso.com'; SkuId = 'efccb6f7-5641-4e0e-bd10-b4976e1bf68e'; DisabledPlans = @() },
    @{ UserId = '203ad469-1f15-509a-ae79-45996bd72bad'; Upn = 'joni.mills.0224@contoso.com'; SkuId = '6fd2c87f-b296-42f0-b197-1e91e994b900'; DisabledPlans = @('7547a3fe-08ee-4ccb-b430-5077c5041653') },
    @{ UserId = '203ad469-1f15-509a-ae79-45996bd72bad'; Upn = 'joni.mills.0224@contoso.com'; SkuId = 'efccb6f7-5641-4e0e-bd10-b4976e1bf68e'; DisabledPlans = @() },
    @{ UserId = '81e98c16-15f9-5b3d-8906-c7882f0d8fff'; Upn = 'joni.mills.0674@contoso.com'; SkuId = 'efccb6f7-5641-4e0e-bd10-b4976e1bf68e'; DisabledPlans = @() },
    @{ UserId = 'e0daff3e-b493-59d5-8f0b-a5e5fc4efa9a'; Upn = 'lee.gu.0555@contoso.com'; SkuId = 'efccb6f7-5641-4e0e-bd10-b4976e1bf68e'; DisabledPlans = @() },
    @{ UserId = '15e80be1-e824-5cb6-b1c7-2c39aadac0d9'; Upn = 'lee.gu.0615@contoso.com'; SkuId = 'efccb6f7-5641-4e0e-bd10-b4976e1bf68e'; DisabledPlans = @() },
    @{ UserId = '7a9ed357-2481-5f06-8bbf-60246181f3a2'; Upn = 'megan.zamora.0348@contoso.com'; SkuId = 'efccb6f7-5641-4e0e-bd10-b4976e1bf68e'; DisabledPlans = @() },
    @{ UserId = '88a2dd7c-06f7-5645-9ba8-6e446b5fc60e'; Upn = 'miriam.lambert.0559@contoso.com'; SkuId = 'efccb6f7-5641-4e0e-bd10-b4976e1bf68e'; DisabledPlans = @() },
    @{ UserId = 'fe3dab4b-38bd-539f-b0dd-ec21267241df'; Upn = 'pradeep.hansen.0112@contoso.com'; SkuId = '6fd2c87f-b296-42f0-b197-1e91e994b900'; DisabledPlans = @() },
    @{ UserId = 'fe3dab4b-38bd-539f-b0dd-ec21267241df'; Upn = 'pradeep.hansen.0112@contoso.com'; SkuId = 'efccb6f7-5641-4e0e-bd10-b4976e1bf68e'; DisabledPlans = @() },
    @{ UserId = '22781fca-fab7-5843-811d-0de2cddb0387'; Upn = 'pradeep.hansen.0382@contoso.com'; SkuId = 'efccb6f7-5641-4e0e-bd10-b4976e1bf68e'; DisabledPlans = @() },
    @{ UserId = '81924abd-26e8-5d4c-90a8-8c4a8ecaf27f'; Upn = 'pradeep.hansen.0772@contoso.com'; SkuId = 'efccb6f7-5641-4e0e-bd10-b4976e1bf68e'; DisabledPlans = @() },
    @{ UserId = 'c70ba6ef-9ccf-5248-a4f5-49782b0491a1'; Upn = 'raul.henry.0203@contoso.com'; SkuId = 'efccb6f7-5641-4e0e-bd10-b4976e1bf68e'; DisabledPlans = @() },
    @{ UserId = '5d23592d-feca-5ea7-8775-99390f790235'; Upn = 'raul.henry.0233@contoso.com'; SkuId = '6fd2c87f-b296-42f0-b197-1e91e994b900'; DisabledPlans = @('7547a3fe-08ee-4ccb-b430-5077c5041653') },
    @{ UserId = '5d23592d-feca-5ea7-8775-99390f790235'; Upn = 'raul.henry.0233@contoso.com'; SkuId = 'efccb6f7-5641-4e0e-bd10-b4976e1bf68e'; DisabledPlans = @() },
    @{ UserId = '43233429-38c4-5c02-be3a-c6a1a52783d0'; Upn = 'ties.jansen.0865@contoso.com'; SkuId = 'efccb6f7-5641-4e0e-bd10-b4976e1bf68e'; DisabledPlans = @() },
    @{ UserId = 'f2fe8e4f-39e8-547b-a4ac-6697bd306c31'; Upn = 'wout.deyoung.0476@contoso.com'; SkuId = 'efccb6f7-5641-4e0e-bd10-b4976e1bf68e'; DisabledPlans = @() },
    @{ UserId = 'dcd7cf18-4214-578d-a979-4a9061539bc7'; Upn = 'zoe.holloway.0598@contoso.com'; SkuId = 'efccb6f7-5641-4e0e-bd10-b4976e1bf68e'; DisabledPlans = @() },
    @{ UserId = '4d91cc7d-c41f-5a3e-9c5a-110622c72d9a'; Upn = 'zoe.holloway.0658@contoso.com'; SkuId = 'efccb6f7-5641-4e0e-bd10-b4976e1bf68e'; DisabledPlans = @() }
)

$done = 0; $failed = 0
foreach ($r in $restores) {
    $user = Get-MgUser -UserId $r.UserId -Property 'id,licenseAssignmentStates'
    $direct = @($user.LicenseAssignmentStates | Where-Object { -not $_.AssignedByGroup -and [string]$_.SkuId -eq $r.SkuId })
    if ($direct.Count -gt 0) { Write-Log ("KEEP {0}: already holds {1} directly" -f $r.Upn, $r.SkuId); continue }
    if ($PSCmdlet.ShouldProcess($r.Upn, "re-add direct $($r.SkuId)")) {
        try {
            Set-MgUserLicense -UserId $r.UserId -AddLicenses @(@{ SkuId = $r.SkuId; DisabledPlans = $r.DisabledPlans }) -RemoveLicenses @() | Out-Null
            Write-Log ("DONE {0}: re-added {1}" -f $r.Upn, $r.SkuId); $done++
        } catch {
            Write-Log ("FAIL {0}: {1}" -f $r.Upn, $_); $failed++
        }
    }
}
Write-Log "rollback of wave 1: $done restored, $failed failed"
if ($failed -gt 0) { exit 1 }
