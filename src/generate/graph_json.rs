//! A loaded snapshot written as the Graph JSON files `licshift export-script` saves (SPEC §2):
//! the JSON form of a tenant, for `generate --format json` and for the tests that hold the two
//! forms to the same plan.
//!
//! What no Graph request returns — proposed template lines, members of groups that do not exist
//! yet — goes where an engineer writes it: templates.csv, and members.json with `groupName`.

use crate::model::{Guid, LicenseError, PlanSet, Source, TemplateStatus, Tenant};
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Records per page, as Graph pages them with `$top=999`.
const PAGE: usize = 999;

fn text(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn ids(t: &Tenant, set: &PlanSet) -> String {
    let list: Vec<String> = set
        .iter()
        .map(|p| format!("\"{}\"", t.plans[p.ix()].id))
        .collect();
    format!("[{}]", list.join(","))
}

/// Writes `records` as Graph pages, one page per line, each but the last with a nextLink.
fn pages(
    path: &Path,
    context: &str,
    count: usize,
    mut record: impl FnMut(usize, &mut String),
) -> io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut line = String::new();
    let mut start = 0;
    loop {
        let end = (start + PAGE).min(count);
        line.clear();
        line += &format!(
            "{{\"@odata.context\":\"https://graph.microsoft.com/v1.0/$metadata#{context}\","
        );
        if end < count {
            line += &format!("\"@odata.nextLink\":\"https://graph.microsoft.com/v1.0/{context}?$skiptoken=page{}\",", end / PAGE);
        }
        line += "\"value\":[";
        for i in start..end {
            if i > start {
                line.push(',');
            }
            record(i, &mut line);
        }
        line += "]}\n";
        w.write_all(line.as_bytes())?;
        start = end;
        if start >= count {
            break;
        }
    }
    w.flush()
}

/// Writes the JSON form of `t` into `dir`: subscribedSkus.json, users.json, groups.json,
/// members.json, organization.json (when the tenant has a location), and templates.csv with
/// the proposed lines.
pub fn write(t: &Tenant, dir: &Path, tenant_id: Guid) -> io::Result<()> {
    pages(
        &dir.join("subscribedSkus.json"),
        "subscribedSkus",
        t.skus.len(),
        |i, s| {
            let sku = &t.skus[i];
            let seats = sku.seats.unwrap_or_default();
            let mut all = sku.plans.clone();
            all.union_with(&sku.company_plans);
            let plans: Vec<String> = all
            .iter()
            .map(|p| {
                let applies = if sku.company_plans.contains(p) { "Company" } else { "User" };
                format!(
                    "{{\"servicePlanId\":\"{}\",\"servicePlanName\":{},\"provisioningStatus\":\"Success\",\"appliesTo\":\"{applies}\"}}",
                    t.plans[p.ix()].id,
                    text(&t.plans[p.ix()].name)
                )
            })
            .collect();
            *s += &format!(
            "{{\"accountId\":\"{tenant_id}\",\"appliesTo\":\"User\",\"capabilityStatus\":\"Enabled\",\"consumedUnits\":{},\"id\":\"{tenant_id}_{}\",\"prepaidUnits\":{{\"enabled\":{},\"lockedOut\":0,\"suspended\":{},\"warning\":{}}},\"servicePlans\":[{}],\"skuId\":\"{}\",\"skuPartNumber\":{}}}",
            seats.consumed, sku.id, seats.enabled, seats.suspended, seats.warning, plans.join(","), sku.id, text(&sku.part_number)
        );
        },
    )?;
    pages(&dir.join("users.json"), "users", t.users.len(), |i, s| {
        let u = &t.users[i];
        let states: Vec<String> = t
            .user_assignments(crate::model::UserIdx(i as u32))
            .map(|(_, a)| {
                let by = match a.source {
                    Source::Direct => "null".to_string(),
                    Source::Group(g) => format!("\"{}\"", t.groups[g.ix()].id.unwrap_or_default()),
                };
                format!(
                    "{{\"assignedByGroup\":{by},\"disabledPlans\":{},\"error\":\"{}\",\"lastUpdatedDateTime\":\"2026-01-01T00:00:00Z\",\"skuId\":\"{}\",\"state\":\"{}\"}}",
                    ids(t, &a.disabled),
                    a.error.map_or("None", LicenseError::as_str),
                    t.skus[a.sku.ix()].id,
                    a.state.as_str()
                )
            })
            .collect();
        let location = u
            .location
            .map_or("null".to_string(), |c| format!("\"{c}\""));
        let department = t.department(u.department);
        let department = if department.is_empty() {
            "null".to_string()
        } else {
            text(department)
        };
        *s += &format!(
            "{{\"id\":\"{}\",\"userPrincipalName\":{},\"displayName\":{},\"usageLocation\":{location},\"accountEnabled\":{},\"department\":{department},\"licenseAssignmentStates\":[{}]}}",
            u.id, text(&u.upn), text(&u.display_name), u.account_enabled, states.join(",")
        );
    })?;
    let existing: Vec<usize> = (0..t.groups.len())
        .filter(|&g| t.groups[g].id.is_some())
        .collect();
    pages(
        &dir.join("groups.json"),
        "groups",
        existing.len(),
        |i, s| {
            let gi = existing[i];
            let g = &t.groups[gi];
            let licenses: Vec<String> = t.templates[gi]
                .iter()
                .filter(|l| l.status == TemplateStatus::Existing)
                .map(|l| {
                    format!(
                        "{{\"disabledPlans\":{},\"skuId\":\"{}\"}}",
                        ids(t, &l.disabled),
                        t.skus[l.sku.ix()].id
                    )
                })
                .collect();
            let state = g
                .processing_state
                .as_deref()
                .map_or("null".to_string(), |st| {
                    format!("{{\"state\":{}}}", text(st))
                });
            let security = g
                .security_enabled
                .map_or("null".to_string(), |b| b.to_string());
            *s += &format!(
            "{{\"id\":\"{}\",\"displayName\":{},\"securityEnabled\":{security},\"licenseProcessingState\":{state},\"assignedLicenses\":[{}]}}",
            g.id.unwrap_or_default(), text(&g.name), licenses.join(",")
        );
        },
    )?;
    let mut members =
        BufWriter::with_capacity(1 << 20, std::fs::File::create(dir.join("members.json"))?);
    let proposed = |gi: usize| {
        t.templates[gi]
            .iter()
            .any(|l| l.status == TemplateStatus::Proposed)
    };
    let group_ref = |gi: usize| match t.groups[gi].id {
        Some(id) => Some(format!("\"groupId\":\"{id}\"")),
        // A group the plan creates has no id: named, as an engineer names it.
        None if proposed(gi) => Some(format!("\"groupName\":{}", text(&t.groups[gi].name))),
        None => None,
    };
    for (i, u) in t.users.iter().enumerate() {
        for g in t.user_groups(crate::model::UserIdx(i as u32)) {
            if let Some(r) = group_ref(g.ix()) {
                writeln!(members, "{{\"@odata.type\":\"#microsoft.graph.user\",\"id\":\"{}\",\"userPrincipalName\":{},{r}}}", u.id, text(&u.upn))?;
            }
        }
    }
    for n in &t.nested {
        if let (Some(r), Some(child)) = (group_ref(n.parent.ix()), t.groups[n.child.ix()].id) {
            writeln!(
                members,
                "{{\"@odata.type\":\"#microsoft.graph.group\",\"id\":\"{child}\",{r}}}"
            )?;
        }
    }
    members.flush()?;
    if let Some(c) = t.tenant_location {
        std::fs::write(
            dir.join("organization.json"),
            format!("{{\"value\":[{{\"id\":\"{tenant_id}\",\"displayName\":\"Tenant\",\"countryLetterCode\":\"{c}\"}}]}}\n"),
        )?;
    }
    if !t
        .templates
        .iter()
        .flatten()
        .any(|l| l.status == TemplateStatus::Proposed)
    {
        return Ok(());
    }
    let mut w = BufWriter::new(std::fs::File::create(dir.join("templates.csv"))?);
    writeln!(w, "GroupId,GroupName,SkuId,DisabledPlans,Status")?;
    for (gi, lines) in t.templates.iter().enumerate() {
        for l in lines
            .iter()
            .filter(|l| l.status == TemplateStatus::Proposed)
        {
            let g = &t.groups[gi];
            let plans: Vec<String> = l
                .disabled
                .iter()
                .map(|p| t.plans[p.ix()].id.to_string())
                .collect();
            let name = if g.id.is_some() {
                String::new()
            } else {
                csv_cell(&g.name)
            };
            writeln!(
                w,
                "{},{name},{},{},proposed",
                g.id.map_or(String::new(), |i| i.to_string()),
                t.skus[l.sku.ix()].id,
                plans.join(";")
            )?;
        }
    }
    w.flush()
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
