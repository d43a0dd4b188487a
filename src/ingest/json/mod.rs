//! Microsoft Graph JSON snapshots (SPEC §2): each file's records become rows of the table the
//! CSV loaders already read, so JSON and CSV share every check and every diagnostic.
//!
//! | file | Graph request | views |
//! |---|---|---|
//! | `subscribedSkus.json` | `GET /subscribedSkus` | skus: a row per service plan |
//! | `users.json` | `GET /users?$select=…,licenseAssignmentStates` | users, and assignments: a row per state |
//! | `groups.json` | `GET /groups?$select=…,assignedLicenses` | groups, and templates: a row per license, `existing` |
//! | `members.json` | `GET /groups/{id}/members`, each record with its `groupId` | members |
//! | `organization.json` | `GET /organization` | organization |

mod read;
mod records;

pub use read::Malformed;
pub(crate) use records::rows;

use crate::diag::JsonLayout;

/// One way of reading a JSON file as a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Skus,
    Users,
    /// Users and their licenseAssignmentStates, read together in one pass.
    UsersAndAssignments,
    Assignments,
    Groups,
    /// Each group's assignedLicenses, as `existing` template lines.
    GroupTemplates,
    Members,
    Organization,
}

/// A column: the header the CSV loader knows it by, the JSON property it comes from, and
/// whether that is a property of an element of the record's inner list.
type Column = (&'static str, &'static str, bool);

/// User properties a `--wave-by` may name, besides the ones licshift reads.
const USER_COLUMNS: &[Column] = &[
    ("Id", "id", false),
    ("UserPrincipalName", "userPrincipalName", false),
    ("DisplayName", "displayName", false),
    ("UsageLocation", "usageLocation", false),
    ("AccountEnabled", "accountEnabled", false),
    ("Department", "department", false),
    ("City", "city", false),
    ("CompanyName", "companyName", false),
    ("Country", "country", false),
    ("EmployeeId", "employeeId", false),
    ("EmployeeType", "employeeType", false),
    ("JobTitle", "jobTitle", false),
    ("OfficeLocation", "officeLocation", false),
    ("State", "state", false),
    ("Mail", "mail", false),
];

impl View {
    /// The file a view is read from, and the input kinds it serves.
    pub fn columns(self) -> &'static [Column] {
        match self {
            View::Skus => &[
                ("SkuId", "skuId", false),
                ("SkuPartNumber", "skuPartNumber", false),
                ("ServicePlanId", "servicePlanId", true),
                ("ServicePlanName", "servicePlanName", true),
                ("AppliesTo", "appliesTo", true),
                ("ProvisioningStatus", "provisioningStatus", true),
                ("Enabled", "prepaidUnits.enabled", false),
                ("Warning", "prepaidUnits.warning", false),
                ("Suspended", "prepaidUnits.suspended", false),
                ("ConsumedUnits", "consumedUnits", false),
            ],
            View::Users | View::UsersAndAssignments => USER_COLUMNS,
            View::Assignments => &[
                ("UserId", "id", false),
                ("SkuId", "skuId", true),
                ("AssignedByGroup", "assignedByGroup", true),
                ("DisabledPlans", "disabledPlans", true),
                ("State", "state", true),
                ("Error", "error", true),
            ],
            View::Groups => &[
                ("Id", "id", false),
                ("DisplayName", "displayName", false),
                ("SecurityEnabled", "securityEnabled", false),
                (
                    "LicenseProcessingState",
                    "licenseProcessingState.state",
                    false,
                ),
            ],
            View::GroupTemplates => &[
                ("GroupId", "id", false),
                ("SkuId", "skuId", true),
                ("DisabledPlans", "disabledPlans", true),
                ("Status", "assignedLicenses", false),
            ],
            View::Members => &[
                ("GroupId", "groupId", false),
                ("GroupName", "groupName", false),
                ("MemberId", "id", false),
                ("UserPrincipalName", "userPrincipalName", false),
                ("MemberType", "@odata.type", false),
            ],
            View::Organization => &[
                ("Id", "id", false),
                ("CountryLetterCode", "countryLetterCode", false),
            ],
        }
    }

    /// The record's inner list whose elements are rows of their own.
    fn sub(self) -> Option<&'static str> {
        match self {
            View::Skus => Some("servicePlans"),
            View::Assignments => Some("licenseAssignmentStates"),
            View::GroupTemplates => Some("assignedLicenses"),
            _ => None,
        }
    }

    pub fn headers(self) -> Vec<String> {
        self.columns().iter().map(|c| c.0.to_string()).collect()
    }

    pub fn layout(self) -> JsonLayout {
        JsonLayout {
            sub: self.sub(),
            fields: self.columns().iter().map(|c| (c.1, c.2)).collect(),
        }
    }

    /// About how many bytes of JSON one row takes, to size the loaders' tables.
    pub fn bytes_per_row(self) -> u64 {
        match self {
            View::Skus => 120,
            View::Users | View::UsersAndAssignments => 700,
            View::Assignments => 200,
            View::Groups => 300,
            View::GroupTemplates => 200,
            View::Members => 150,
            View::Organization => 500,
        }
    }
}

/// The JSON file names of a snapshot folder (compared without case), and the view each is read
/// with for an input kind.
pub fn file_for(kind: crate::ingest::FileKind) -> Option<(&'static [&'static str], View)> {
    use crate::ingest::FileKind as K;
    Some(match kind {
        K::Skus => (&["subscribedSkus", "skus"], View::Skus),
        K::Users => (&["users"], View::UsersAndAssignments),
        K::Assignments => (&["users"], View::Assignments),
        K::Groups => (&["groups"], View::Groups),
        K::Templates => (&["groups"], View::GroupTemplates),
        K::Members => (&["members"], View::Members),
        K::Organization => (&["organization"], View::Organization),
        K::Rules | K::Catalog => return None,
    })
}
