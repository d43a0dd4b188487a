//! Microsoft Graph v1.0's JSON shapes for what licshift reads and writes, written once: the
//! client reads them, `snapshot` saves pages of them, the sandbox answers with them, and
//! `ingest::json` reads the files they make (a test holds the four to one schema).

use serde::{Deserialize, Serialize};

/// The user properties a snapshot saves: what licshift reads, and every attribute `--wave-by`
/// and `suggest --by` may name (ingest::json's user columns).
pub const USER_SELECT: &str = "id,userPrincipalName,displayName,usageLocation,accountEnabled,department,city,companyName,country,employeeId,employeeType,jobTitle,officeLocation,state,mail,assignedLicenses,licenseAssignmentStates";
pub const GROUP_SELECT: &str =
    "id,displayName,securityEnabled,licenseProcessingState,assignedLicenses";
pub const MEMBER_SELECT: &str = "id,userPrincipalName";
pub const ORGANIZATION_SELECT: &str = "id,displayName,countryLetterCode";
/// Graph's largest page of users and groups ("between 1 and 999 inclusive").
pub const MAX_PAGE: usize = 999;

/// Writes `items` (each a record's JSON) as Graph pages of at most 999, one per line — the files
/// a snapshot folder holds. `context` names the collection; the pages then link on as Graph's do.
pub fn write_pages(
    path: &std::path::Path,
    context: Option<&str>,
    items: &[String],
) -> std::io::Result<()> {
    use std::io::Write;
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    let chunks: Vec<&[String]> = if items.is_empty() {
        vec![&[]]
    } else {
        items.chunks(MAX_PAGE).collect()
    };
    for (i, c) in chunks.iter().enumerate() {
        w.write_all(b"{")?;
        if let Some(ctx) = context {
            write!(w, "\"@odata.context\":{},", serde_json::to_string(ctx)?)?;
            if i + 1 < chunks.len() {
                let next = format!("{ctx}?$skiptoken=page{}", i + 1);
                write!(w, "\"@odata.nextLink\":{},", serde_json::to_string(&next)?)?;
            }
        }
        writeln!(w, "\"value\":[{}]}}", c.join(","))?;
    }
    w.flush()
}

/// One page of a collection.
#[derive(Debug, Serialize, Deserialize)]
pub struct Page<T> {
    #[serde(
        rename = "@odata.context",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub context: Option<String>,
    #[serde(
        rename = "@odata.nextLink",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub next_link: Option<String>,
    pub value: Vec<T>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AssignedLicense {
    #[serde(default)]
    pub disabled_plans: Vec<String>,
    pub sku_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenseAssignmentState {
    pub assigned_by_group: Option<String>,
    #[serde(default)]
    pub disabled_plans: Vec<String>,
    pub error: String,
    pub last_updated_date_time: Option<String>,
    pub sku_id: String,
    pub state: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub user_principal_name: Option<String>,
    pub display_name: Option<String>,
    pub usage_location: Option<String>,
    pub account_enabled: Option<bool>,
    pub department: Option<String>,
    #[serde(default)]
    pub assigned_licenses: Vec<AssignedLicense>,
    #[serde(default)]
    pub license_assignment_states: Vec<LicenseAssignmentState>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcessingState {
    pub state: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: String,
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail_nickname: Option<String>,
    pub security_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail_enabled: Option<bool>,
    pub license_processing_state: Option<ProcessingState>,
    #[serde(default)]
    pub assigned_licenses: Vec<AssignedLicense>,
}

/// A member as `GET /groups/{id}/members?$select=id,userPrincipalName` lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    #[serde(rename = "@odata.type")]
    pub odata_type: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrepaidUnits {
    pub enabled: i64,
    pub locked_out: i64,
    pub suspended: i64,
    pub warning: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePlanInfo {
    pub service_plan_id: String,
    pub service_plan_name: String,
    pub provisioning_status: String,
    pub applies_to: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscribedSku {
    pub account_id: Option<String>,
    pub applies_to: String,
    pub capability_status: String,
    pub consumed_units: i64,
    pub id: String,
    pub prepaid_units: PrepaidUnits,
    pub service_plans: Vec<ServicePlanInfo>,
    pub sku_id: String,
    pub sku_part_number: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    pub id: String,
    pub display_name: Option<String>,
    pub country_letter_code: Option<String>,
}

/// `POST /users/{id}/assignLicense` and `/groups/{id}/assignLicense`. Both keys are always sent:
/// Graph answers 400 when `removeLicenses` is missing.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AssignLicense {
    pub add_licenses: Vec<AssignedLicense>,
    pub remove_licenses: Vec<String>,
}

/// Graph's error body: `{"error":{"code":…,"message":…,"innerError":{…}}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inner_error: Option<InnerError>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InnerError {
    pub date: String,
    #[serde(rename = "request-id")]
    pub request_id: String,
    #[serde(rename = "client-request-id")]
    pub client_request_id: String,
}

/// One request of a JSON `$batch` (at most 20).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchRequest {
    pub id: String,
    pub method: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Batch<T> {
    pub requests: Vec<T>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchResponse {
    pub id: String,
    pub status: u16,
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchResponses {
    pub responses: Vec<BatchResponse>,
}

/// Graph's largest `$batch`.
pub const MAX_BATCH: usize = 20;
