//! `licshift inspect`: what is in a snapshot, as a table or JSON.

use super::table;
use crate::diag::Problems;
use crate::model::{Source, TemplateStatus, Tenant};
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub users: UserCounts,
    pub skus: Vec<SkuRow>,
    pub groups: Vec<GroupRow>,
    pub assignments: AssignmentCounts,
    pub tenant_location: Option<String>,
    pub rules_in_force: usize,
    pub catalog_rows: Option<u64>,
    pub inputs: Vec<crate::model::InputFile>,
    pub warnings: Vec<WarningRow>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserCounts {
    pub total: usize,
    pub enabled: usize,
    pub disabled: usize,
    pub with_location: usize,
    pub without_location: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SkuRow {
    pub sku_part_number: String,
    pub sku_id: String,
    pub name: String,
    pub user_plans: usize,
    pub company_plans: usize,
    pub enabled: Option<i64>,
    pub consumed: Option<i64>,
    pub free: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRow {
    pub name: String,
    pub id: Option<String>,
    pub existing: Vec<String>,
    pub proposed: Vec<String>,
    pub user_members: usize,
    pub nested_groups: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentCounts {
    pub total: usize,
    pub direct: usize,
    pub inherited: usize,
    pub in_error: usize,
    pub memberships: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WarningRow {
    pub code: String,
    pub location: String,
    pub message: String,
}

pub fn summarise(t: &Tenant, warnings: &Problems) -> Summary {
    let users = UserCounts {
        total: t.users.len(),
        enabled: t.users.iter().filter(|u| u.account_enabled).count(),
        disabled: t.users.iter().filter(|u| !u.account_enabled).count(),
        with_location: t.users.iter().filter(|u| u.location.is_some()).count(),
        without_location: t.users.iter().filter(|u| u.location.is_none()).count(),
    };
    let mut skus: Vec<SkuRow> = t
        .skus
        .iter()
        .map(|s| SkuRow {
            sku_part_number: s.part_number.clone(),
            sku_id: s.id.to_string(),
            name: s.display_name.clone().unwrap_or_default(),
            user_plans: s.plans.len(),
            company_plans: s.company_plans.len(),
            enabled: s.seats.map(|x| x.enabled),
            consumed: s.seats.map(|x| x.consumed),
            free: s.seats.map(|x| x.enabled - x.consumed),
        })
        .collect();
    skus.sort_by(|a, b| {
        a.sku_part_number
            .cmp(&b.sku_part_number)
            .then(a.sku_id.cmp(&b.sku_id))
    });
    let mut members = vec![0usize; t.groups.len()];
    for u in 0..t.users.len() {
        for g in t.user_groups(crate::model::UserIdx(u as u32)) {
            members[g.ix()] += 1;
        }
    }
    let mut groups: Vec<GroupRow> = t
        .groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let lines = &t.templates[i];
            let names = |st: TemplateStatus| {
                let mut v: Vec<String> = lines
                    .iter()
                    .filter(|l| l.status == st)
                    .map(|l| t.skus[l.sku.ix()].part_number.clone())
                    .collect();
                v.sort();
                v
            };
            GroupRow {
                name: g.name.clone(),
                id: g.id.map(|x| x.to_string()),
                existing: names(TemplateStatus::Existing),
                proposed: names(TemplateStatus::Proposed),
                user_members: members[i],
                nested_groups: t.nested.iter().filter(|n| n.parent.ix() == i).count(),
            }
        })
        .collect();
    groups.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    let assignments = AssignmentCounts {
        total: t.assignments.len(),
        direct: t
            .assignments
            .iter()
            .filter(|a| a.source == Source::Direct)
            .count(),
        inherited: t
            .assignments
            .iter()
            .filter(|a| a.source != Source::Direct)
            .count(),
        in_error: t.assignments.iter().filter(|a| !a.is_healthy()).count(),
        memberships: t.membership_count(),
    };
    let warnings = warnings
        .list
        .iter()
        .map(|p| WarningRow {
            code: p.code.as_str().to_string(),
            location: p.location.clone(),
            message: p.message.clone(),
        })
        .collect();
    Summary {
        users,
        skus,
        groups,
        assignments,
        tenant_location: t.tenant_location.map(|c| c.to_string()),
        rules_in_force: t.rules.specs.len(),
        catalog_rows: t.catalog_rows,
        inputs: t.inputs.clone(),
        warnings,
    }
}

pub fn render_table(s: &Summary) -> String {
    let mut out = String::new();
    let u = &s.users;
    out += &format!(
        "Users: {} ({} enabled, {} disabled; {} with usage location, {} without)\nTenant usage location: {}\n\n",
        u.total,
        u.enabled,
        u.disabled,
        u.with_location,
        u.without_location,
        s.tenant_location.as_deref().unwrap_or("none")
    );
    let opt = |v: Option<i64>| v.map_or("?".to_string(), |x| x.to_string());
    out += &table(
        &["SKU", "name", "user plans", "enabled", "consumed", "free"],
        s.skus
            .iter()
            .map(|k| {
                vec![
                    k.sku_part_number.clone(),
                    k.name.clone(),
                    k.user_plans.to_string(),
                    opt(k.enabled),
                    opt(k.consumed),
                    opt(k.free),
                ]
            })
            .collect(),
    );
    out += "\n\n";
    out += &table(
        &[
            "group",
            "id",
            "existing template",
            "proposed template",
            "user members",
            "nested groups",
        ],
        s.groups
            .iter()
            .filter(|g| !g.existing.is_empty() || !g.proposed.is_empty() || g.user_members > 0)
            .map(|g| {
                vec![
                    g.name.clone(),
                    g.id.clone().unwrap_or_else(|| "(new)".into()),
                    g.existing.join(" + "),
                    g.proposed.join(" + "),
                    g.user_members.to_string(),
                    g.nested_groups.to_string(),
                ]
            })
            .collect(),
    );
    let a = &s.assignments;
    out += &format!(
        "\n\nAssignments: {} ({} direct, {} group-inherited, {} in error); memberships: {}\n",
        a.total, a.direct, a.inherited, a.in_error, a.memberships
    );
    out += &format!("Rules in force: {}", s.rules_in_force);
    if let Some(c) = s.catalog_rows {
        out += &format!("; catalog rows: {c}");
    }
    out += "\n";
    if s.warnings.is_empty() {
        out += "\nNo warnings.\n";
    } else {
        out += &format!("\nWarnings ({}):\n", s.warnings.len());
        out += &table(
            &["code", "where", "warning"],
            s.warnings
                .iter()
                .map(|w| {
                    vec![
                        w.code.trim_start_matches("licshift::input::").to_string(),
                        w.location.clone(),
                        w.message.clone(),
                    ]
                })
                .collect(),
        );
        out += "\n";
    }
    out
}

/// Every problem found, one CSV row each, for a pipeline: severity, stable code, location,
/// message and hint (cells from exports made formula-safe).
pub fn problems_csv(problems: &crate::diag::Problems) -> std::io::Result<String> {
    let mut w = super::SafeCsv::new(Vec::new());
    w.row(["severity", "code", "location", "message", "help"])?;
    for p in &problems.list {
        let severity = if p.is_error() { "error" } else { "warning" };
        w.row([
            severity,
            p.code.as_str(),
            p.location.as_str(),
            p.message.as_str(),
            p.help.as_deref().unwrap_or(""),
        ])?;
    }
    Ok(String::from_utf8_lossy(&w.finish()?).into_owned())
}
