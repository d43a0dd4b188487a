//! The plan folder's files (SPEC §5): plan.json, waves.csv, blocked.csv, diff.csv, prepare.csv,
//! report.md and scripts/. Rendered to memory first, so nothing is written unless all of it is.

use super::{diff, explain, markdown, powershell, table, SafeCsv};
use crate::engine::{Outcome, Reason, Verdict};
use crate::error::{Error, Result};
use crate::model::{Tenant, UserIdx};
use crate::plan::{replay::Checked, Plan};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;

pub const SCHEMA: &str = "licshift.plan/v1";
pub const WAVES_HEADER: [&str; 6] = [
    "wave",
    "userId",
    "userPrincipalName",
    "skuId",
    "skuPartNumber",
    "coveredBy",
];
pub const BLOCKED_HEADER: [&str; 6] = [
    "userId",
    "userPrincipalName",
    "skuId",
    "skuPartNumber",
    "reason",
    "detail",
];
pub const PREPARE_HEADER: [&str; 8] = [
    "action",
    "groupId",
    "groupName",
    "skuId",
    "skuPartNumber",
    "disabledPlans",
    "userId",
    "userPrincipalName",
];

/// One blocked direct assignment, as every output shows it.
pub struct BlockedRow {
    pub user: UserIdx,
    pub sku: crate::model::SkuIdx,
    pub reason: Reason,
    pub detail: String,
}

pub fn blocked_rows(t: &Tenant, o: &Outcome) -> Vec<BlockedRow> {
    let mut rows = Vec::new();
    for u in diff::user_order(t) {
        for d in &o.users[u.ix()].directs {
            if let Verdict::Blocked {
                reason,
                uncovered,
                group,
                evidence,
                nested_via,
            } = &d.verdict
            {
                let detail = explain::blocked_words(
                    t,
                    *reason,
                    uncovered,
                    group.map(|g| t.group_label(g).to_string()),
                    evidence.as_ref(),
                    *nested_via,
                );
                rows.push(BlockedRow {
                    user: u,
                    sku: d.sku,
                    reason: *reason,
                    detail,
                });
            }
        }
    }
    rows
}

fn group_id(t: &Tenant, g: crate::model::GroupIdx) -> String {
    t.groups[g.ix()]
        .id
        .map_or_else(String::new, |i| i.to_string())
}

fn csv_bytes(f: impl FnOnce(&mut SafeCsv<Vec<u8>>) -> std::io::Result<()>) -> Result<Vec<u8>> {
    let mut w = SafeCsv::new(Vec::new());
    f(&mut w).map_err(Error::io("rendering CSV"))?;
    w.finish().map_err(Error::io("rendering CSV"))
}

#[derive(Serialize)]
struct SeatRow {
    sku_id: String,
    sku_part_number: String,
    enabled: Option<i64>,
    before: i64,
    peak: i64,
    after: i64,
    requested_new: i64,
    short: bool,
}

pub fn render(
    t: &Tenant,
    o: &Outcome,
    plan: &Plan,
    checked: &Checked,
) -> Result<Vec<(String, Vec<u8>)>> {
    let blocked = blocked_rows(t, o);
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();

    let waves_csv = csv_bytes(|w| {
        w.row(WAVES_HEADER)?;
        for wave in &plan.waves {
            for r in &wave.removals {
                let user = &t.users[r.user.ix()];
                let by: Vec<&str> = r.covered_by.iter().map(|g| t.group_label(*g)).collect();
                w.row([
                    wave.number.to_string(),
                    user.id.to_string(),
                    user.upn.clone(),
                    t.skus[r.sku.ix()].id.to_string(),
                    t.sku_label(r.sku).to_string(),
                    by.join("; "),
                ])?;
            }
        }
        Ok(())
    })?;
    let blocked_csv = csv_bytes(|w| {
        w.row(BLOCKED_HEADER)?;
        for b in &blocked {
            let user = &t.users[b.user.ix()];
            w.row([
                user.id.to_string(),
                user.upn.clone(),
                t.skus[b.sku.ix()].id.to_string(),
                t.sku_label(b.sku).to_string(),
                b.reason.code().to_string(),
                b.detail.clone(),
            ])?;
        }
        Ok(())
    })?;
    let diff_csv = diff::write_csv(Vec::new(), t, o, None, plan.options.diff_all)
        .map_err(Error::io("rendering diff.csv"))?;
    let prepare_csv = csv_bytes(|w| {
        w.row(PREPARE_HEADER)?;
        for &g in &plan.prepare.create_groups {
            w.row(["create-group", "", t.group_label(g), "", "", "", "", ""])?;
        }
        for &(g, li) in &plan.prepare.assign {
            let line = &t.templates[g.ix()][li];
            let disabled: Vec<String> = line
                .disabled
                .iter()
                .map(|p| t.plans[p.ix()].id.to_string())
                .collect();
            w.row([
                "assign-license".to_string(),
                group_id(t, g),
                t.group_label(g).to_string(),
                t.skus[line.sku.ix()].id.to_string(),
                t.sku_label(line.sku).to_string(),
                disabled.join(";"),
                String::new(),
                String::new(),
            ])?;
        }
        for &(g, u) in &plan.prepare.add_members {
            let user = &t.users[u.ix()];
            w.row([
                "add-member".to_string(),
                group_id(t, g),
                t.group_label(g).to_string(),
                String::new(),
                String::new(),
                String::new(),
                user.id.to_string(),
                user.upn.clone(),
            ])?;
        }
        Ok(())
    })?;

    let seats: Vec<SeatRow> = t
        .skus
        .iter()
        .zip(&o.seats)
        .map(|(s, u)| SeatRow {
            sku_id: s.id.to_string(),
            sku_part_number: s.part_number.clone(),
            enabled: u.known.then_some(u.enabled),
            before: u.before,
            peak: u.peak,
            after: u.after,
            requested_new: u.requested,
            short: u.short,
        })
        .collect();
    let mut by_reason: BTreeMap<&str, usize> = BTreeMap::new();
    for b in &blocked {
        *by_reason.entry(b.reason.code()).or_default() += 1;
    }
    let gains_users = o.users.iter().filter(|u| !u.gains().is_empty()).count();
    let removals: usize = plan.waves.iter().map(|w| w.removals.len()).sum();
    let summary = json!({
        "users": t.users.len(),
        "usersPlanned": plan.waves.iter().map(|w| w.users.len()).sum::<usize>(),
        "removals": removals,
        "blocked": blocked.len(),
        "blockedByReason": by_reason,
        "usersWhoGainPlans": gains_users,
        "waves": plan.waves.len(),
        "shapes": plan.shapes,
        "shapesInPilot": plan.shapes_in_pilot,
        "seats": seats,
    });
    let stages: Vec<serde_json::Value> = std::iter::once(json!({
        "stage": "prepare",
        "createGroups": plan.prepare.create_groups.iter().map(|g| t.group_label(*g)).collect::<Vec<_>>(),
        "assignLicenses": plan.prepare.assign.len(),
        "addMembers": plan.prepare.add_members.len(),
        "file": "prepare.csv",
        "checkpoint": "export the tenant again and run: licshift verify PLAN SNAPSHOT --stage prepare FRESH",
    }))
    .chain(plan.waves.iter().map(|w| json!({
        "stage": format!("wave {}", w.number),
        "pilot": w.pilot,
        "users": w.users.len(),
        "removals": w.removals.len(),
        "script": powershell::script_name(w.number, false),
        "rollback": powershell::script_name(w.number, true),
        "checkpoint": format!("export the tenant again and run: licshift verify PLAN SNAPSHOT --after {} FRESH", w.number),
    })))
    .collect();
    let waves_json: Vec<serde_json::Value> = plan
        .waves
        .iter()
        .map(|w| {
            json!({
                "wave": w.number,
                "pilot": w.pilot,
                "removals": w.removals.iter().map(|r| {
                    let user = &t.users[r.user.ix()];
                    json!({
                        "userId": user.id.to_string(),
                        "userPrincipalName": user.upn,
                        "skuId": t.skus[r.sku.ix()].id.to_string(),
                        "skuPartNumber": t.sku_label(r.sku),
                        "disabledPlans": r.disabled.iter().map(|p| t.plans[p.ix()].id.to_string()).collect::<Vec<_>>(),
                        "coveredBy": r.covered_by.iter().map(|g| json!({"groupId": group_id(t, *g), "groupName": t.group_label(*g)})).collect::<Vec<_>>(),
                    })
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    let blocked_json: Vec<serde_json::Value> = blocked
        .iter()
        .map(|b| {
            let user = &t.users[b.user.ix()];
            json!({"userId": user.id.to_string(), "userPrincipalName": user.upn, "skuId": t.skus[b.sku.ix()].id.to_string(), "skuPartNumber": t.sku_label(b.sku), "reason": b.reason.code(), "detail": b.detail})
        })
        .collect();
    let doc = json!({
        "schema": SCHEMA,
        "tool": {"name": "licshift", "version": env!("CARGO_PKG_VERSION")},
        "inputs": t.inputs,
        "options": plan.options,
        "simulation": o.params,
        "summary": summary,
        "stages": stages,
        "waves": waves_json,
        "blocked": blocked_json,
        "rollback": plan.waves.iter().map(|w| json!({"wave": w.number, "script": powershell::script_name(w.number, true), "restores": w.removals.len()})).collect::<Vec<_>>(),
        "invariants": {"checked": ["I1", "I2", "I3", "I4"], "boundaries": checked.boundaries, "removalsReplayed": checked.removals},
    });
    let mut plan_json = serde_json::to_vec_pretty(&doc).map_err(|e| Error::Io {
        context: "rendering plan.json".into(),
        source: std::io::Error::other(e),
    })?;
    plan_json.push(b'\n');

    files.push(("plan.json".into(), plan_json));
    files.push(("waves.csv".into(), waves_csv));
    files.push(("blocked.csv".into(), blocked_csv));
    files.push(("diff.csv".into(), diff_csv));
    files.push(("prepare.csv".into(), prepare_csv));
    files.push((
        "report.md".into(),
        markdown::plan_report(t, o, plan, checked, &blocked).into_bytes(),
    ));
    for w in &plan.waves {
        files.push((
            powershell::script_name(w.number, false),
            powershell::wave_script(t, o, w).into_bytes(),
        ));
        files.push((
            powershell::script_name(w.number, true),
            powershell::rollback_script(t, w).into_bytes(),
        ));
    }
    Ok(files)
}

/// What `licshift plan` prints when it is done.
pub fn terminal_summary(t: &Tenant, o: &Outcome, plan: &Plan, out: &std::path::Path) -> String {
    let blocked = blocked_rows(t, o);
    let removals: usize = plan.waves.iter().map(|w| w.removals.len()).sum();
    let users: usize = plan.waves.iter().map(|w| w.users.len()).sum();
    let mut s = format!("Plan written to {}\n\n", out.display());
    s += &format!(
        "{users} users, {removals} direct assignments to remove in {} waves; {} blocked.\n\n",
        plan.waves.len(),
        blocked.len()
    );
    if !plan.waves.is_empty() {
        let mut rows: Vec<Vec<String>> = plan
            .waves
            .iter()
            .take(12)
            .map(|w| {
                vec![
                    w.number.to_string(),
                    if w.pilot {
                        "pilot".into()
                    } else {
                        String::new()
                    },
                    w.users.len().to_string(),
                    w.removals.len().to_string(),
                ]
            })
            .collect();
        if plan.waves.len() > 12 {
            let rest: usize = plan.waves.iter().skip(12).map(|w| w.users.len()).sum();
            rows.push(vec![
                format!("13–{}", plan.waves.len()),
                String::new(),
                rest.to_string(),
                plan.waves
                    .iter()
                    .skip(12)
                    .map(|w| w.removals.len())
                    .sum::<usize>()
                    .to_string(),
            ]);
        }
        s += &table(&["wave", "", "users", "removals"], rows);
        s += "\n\n";
    }
    if !blocked.is_empty() {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for b in &blocked {
            *counts.entry(b.reason.code()).or_default() += 1;
        }
        s += &table(
            &["blocked by", "direct assignments"],
            counts
                .into_iter()
                .map(|(k, v)| vec![k.to_string(), v.to_string()])
                .collect(),
        );
        s += "\n\n";
    }
    let rows: Vec<Vec<String>> = t
        .skus
        .iter()
        .zip(&o.seats)
        .map(|(k, u)| {
            vec![
                k.part_number.clone(),
                if u.known {
                    u.enabled.to_string()
                } else {
                    "?".into()
                },
                u.before.to_string(),
                u.peak.to_string(),
                u.after.to_string(),
            ]
        })
        .collect();
    s += &table(
        &[
            "SKU",
            "enabled",
            "consumed before",
            "at peak (after prepare)",
            "after",
        ],
        rows,
    );
    s += "\n\nInvariants I1–I4 held at every stage boundary. Review report.md, then run the prepare stage.\n";
    s
}
