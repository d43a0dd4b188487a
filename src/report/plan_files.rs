//! The plan folder's files (SPEC §5): plan.json, waves.csv, blocked.csv, diff.csv, prepare.csv,
//! report.md and scripts/. Streamed into the hidden folder `plan::atomic_dir` renames into
//! place, so a million-user plan never sits in memory twice and nothing shows until all of it is
//! written.

use super::{diff, explain, markdown, powershell, table, SafeCsv};
use crate::engine::{Outcome, Reason, Verdict};
use crate::model::{GroupIdx, SkuIdx, Tenant, UserIdx};
use crate::plan::{replay::Checked, Plan};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

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
    pub sku: SkuIdx,
    pub reason: Reason,
    pub detail: String,
}

pub fn blocked_rows(t: &Tenant, o: &Outcome, order: &[UserIdx]) -> Vec<BlockedRow> {
    let mut rows = Vec::new();
    for &u in order {
        for d in &o.users[u.ix()].directs {
            if let Some((reason, detail)) = explain::verdict_detail(t, &d.verdict) {
                rows.push(BlockedRow {
                    user: u,
                    sku: d.sku,
                    reason,
                    detail,
                });
            }
        }
    }
    rows
}

fn group_id(t: &Tenant, g: GroupIdx) -> String {
    t.groups[g.ix()]
        .id
        .map_or_else(String::new, |i| i.to_string())
}

fn create(dir: &Path, rel: &str) -> io::Result<BufWriter<File>> {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    Ok(BufWriter::with_capacity(1 << 20, File::create(path)?))
}

/// Flushes and syncs, so the rename that publishes the folder never exposes a torn file.
fn finish(w: BufWriter<File>) -> io::Result<()> {
    let f = w.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SeatRow<'a> {
    sku_id: String,
    sku_part_number: &'a str,
    enabled: Option<i64>,
    before: i64,
    peak: i64,
    after: i64,
    requested_new: i64,
    short: bool,
}

/// One removal in plan.json, on one line.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RemovalJson<'a> {
    user_id: String,
    user_principal_name: &'a str,
    sku_id: String,
    sku_part_number: &'a str,
    disabled_plans: Vec<String>,
    covered_by: Vec<&'a str>,
}

pub fn render(
    t: &Tenant,
    o: &Outcome,
    plan: &Plan,
    checked: &Checked,
    dir: &Path,
) -> io::Result<()> {
    let order = &plan.by_upn;
    let blocked = blocked_rows(t, o, &order);
    // Independent files, written side by side: the largest (diff.csv, plan.json, the scripts)
    // take about the same time, so two cores halve the wall time.
    let ((a, b), (c, d)) = rayon::join(
        || {
            rayon::join(
                || write_csvs(t, plan, &blocked, dir),
                || {
                    finish(diff::write_csv_in(
                        create(dir, "diff.csv")?,
                        t,
                        o,
                        &order,
                        plan.options.diff_all,
                    )?)
                },
            )
        },
        || {
            rayon::join(
                || write_plan_json(create(dir, "plan.json")?, t, o, plan, checked, &blocked),
                || write_report_and_scripts(t, o, plan, checked, &blocked, dir),
            )
        },
    );
    a.and(b).and(c).and(d)
}

fn write_report_and_scripts(
    t: &Tenant,
    o: &Outcome,
    plan: &Plan,
    checked: &Checked,
    blocked: &[BlockedRow],
    dir: &Path,
) -> io::Result<()> {
    let mut w = create(dir, "report.md")?;
    w.write_all(markdown::plan_report(t, o, plan, checked, blocked).as_bytes())?;
    finish(w)?;
    use rayon::prelude::*;
    // One file per script: waves render and write on every core, in no order that shows.
    std::fs::create_dir_all(dir.join("scripts"))?;
    plan.waves.par_iter().try_for_each(|wave| {
        let mut w = create(dir, &powershell::script_name(wave.number, false))?;
        w.write_all(powershell::wave_script(t, wave).as_bytes())?;
        finish(w)?;
        let mut w = create(dir, &powershell::script_name(wave.number, true))?;
        w.write_all(powershell::rollback_script(t, wave).as_bytes())?;
        finish(w)
    })
}

fn write_csvs(t: &Tenant, plan: &Plan, blocked: &[BlockedRow], dir: &Path) -> io::Result<()> {
    let mut w = SafeCsv::new(create(dir, "waves.csv")?);
    w.row(WAVES_HEADER)?;
    for wave in &plan.waves {
        let number = wave.number.to_string();
        for r in &wave.removals {
            let user = &t.users[r.user.ix()];
            let by: Vec<&str> = r.covered_by.iter().map(|g| t.group_label(*g)).collect();
            w.row([
                number.as_str(),
                &user.id.to_string(),
                &user.upn,
                &t.skus[r.sku.ix()].id.to_string(),
                t.sku_label(r.sku),
                &by.join("; "),
            ])?;
        }
    }
    finish(w.finish()?)?;

    let mut w = SafeCsv::new(create(dir, "blocked.csv")?);
    w.row(BLOCKED_HEADER)?;
    for b in blocked {
        let user = &t.users[b.user.ix()];
        w.row([
            &user.id.to_string(),
            &user.upn,
            &t.skus[b.sku.ix()].id.to_string(),
            t.sku_label(b.sku),
            b.reason.code(),
            &b.detail,
        ])?;
    }
    finish(w.finish()?)?;

    let mut w = SafeCsv::new(create(dir, "prepare.csv")?);
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
            "assign-license",
            &group_id(t, g),
            t.group_label(g),
            &t.skus[line.sku.ix()].id.to_string(),
            t.sku_label(line.sku),
            &disabled.join(";"),
            "",
            "",
        ])?;
    }
    for &(g, u) in &plan.prepare.add_members {
        let user = &t.users[u.ix()];
        w.row([
            "add-member",
            &group_id(t, g),
            t.group_label(g),
            "",
            "",
            "",
            &user.id.to_string(),
            &user.upn,
        ])?;
    }
    finish(w.finish()?)?;

    Ok(())
}

/// plan.json: the small parts pretty-printed, then one removal and one blocked assignment per
/// line, so a million-user plan stays greppable and is never held as a JSON tree.
fn write_plan_json(
    mut w: BufWriter<File>,
    t: &Tenant,
    o: &Outcome,
    plan: &Plan,
    checked: &Checked,
    blocked: &[BlockedRow],
) -> io::Result<()> {
    let seats: Vec<SeatRow> = t
        .skus
        .iter()
        .zip(&o.seats)
        .map(|(s, u)| SeatRow {
            sku_id: s.id.to_string(),
            sku_part_number: &s.part_number,
            enabled: u.known.then_some(u.enabled),
            before: u.before,
            peak: u.peak,
            after: u.after,
            requested_new: u.requested,
            short: u.short,
        })
        .collect();
    let mut by_reason: BTreeMap<&str, usize> = BTreeMap::new();
    for b in blocked {
        *by_reason.entry(b.reason.code()).or_default() += 1;
    }
    let removals: usize = plan.waves.iter().map(|w| w.removals.len()).sum();
    let head = json!({
        "schema": SCHEMA,
        "tool": {"name": "licshift", "version": env!("CARGO_PKG_VERSION")},
        "inputs": t.inputs,
        "options": plan.options,
        "simulation": o.params,
        "summary": {
            "users": t.users.len(),
            "usersPlanned": plan.waves.iter().map(|w| w.users.len()).sum::<usize>(),
            "removals": removals,
            "blocked": blocked.len(),
            "blockedByReason": by_reason,
            "usersWhoGainPlans": o.users.iter().filter(|u| !u.gains().is_empty()).count(),
            "waves": plan.waves.len(),
            "shapes": plan.shapes,
            "shapesInPilot": plan.shapes_in_pilot,
            "seats": seats,
        },
        "stages": std::iter::once(json!({
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
        .collect::<Vec<_>>(),
        "rollback": plan.waves.iter().map(|w| json!({"wave": w.number, "script": powershell::script_name(w.number, true), "restores": w.removals.len()})).collect::<Vec<_>>(),
        "invariants": {"checked": ["I1", "I2", "I3", "I4"], "boundaries": checked.boundaries, "removalsReplayed": checked.removals},
    });
    let head = serde_json::to_string_pretty(&head).map_err(io::Error::other)?;
    // Splice the two long lists in before the closing brace.
    w.write_all(head.trim_end().trim_end_matches('}').trim_end().as_bytes())?;
    w.write_all(b",\n  \"waves\": [")?;
    for (i, wave) in plan.waves.iter().enumerate() {
        write!(
            w,
            "{}\n    {{\"wave\": {}, \"pilot\": {}, \"removals\": [",
            if i == 0 { "" } else { "," },
            wave.number,
            wave.pilot
        )?;
        for (j, r) in wave.removals.iter().enumerate() {
            let user = &t.users[r.user.ix()];
            let item = RemovalJson {
                user_id: user.id.to_string(),
                user_principal_name: &user.upn,
                sku_id: t.skus[r.sku.ix()].id.to_string(),
                sku_part_number: t.sku_label(r.sku),
                disabled_plans: r
                    .disabled
                    .iter()
                    .map(|p| t.plans[p.ix()].id.to_string())
                    .collect(),
                covered_by: r.covered_by.iter().map(|g| t.group_label(*g)).collect(),
            };
            w.write_all(if j == 0 { b"\n      " } else { b",\n      " })?;
            serde_json::to_writer(&mut w, &item).map_err(io::Error::other)?;
        }
        w.write_all(b"\n    ]}")?;
    }
    w.write_all(b"\n  ],\n  \"blocked\": [")?;
    for (i, b) in blocked.iter().enumerate() {
        let user = &t.users[b.user.ix()];
        let item = json!({"userId": user.id.to_string(), "userPrincipalName": user.upn, "skuId": t.skus[b.sku.ix()].id.to_string(), "skuPartNumber": t.sku_label(b.sku), "reason": b.reason.code(), "detail": b.detail});
        w.write_all(if i == 0 { b"\n    " } else { b",\n    " })?;
        serde_json::to_writer(&mut w, &item).map_err(io::Error::other)?;
    }
    w.write_all(b"\n  ]\n}\n")?;
    finish(w)
}

/// What `licshift plan` prints when it is done.
pub fn terminal_summary(t: &Tenant, o: &Outcome, plan: &Plan, out: &Path) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for d in o.users.iter().flat_map(|u| &u.directs) {
        if let Verdict::Blocked { reason, .. } = &d.verdict {
            *counts.entry(reason.code()).or_default() += 1;
        }
    }
    let blocked: usize = counts.values().sum();
    let removals: usize = plan.waves.iter().map(|w| w.removals.len()).sum();
    let users: usize = plan.waves.iter().map(|w| w.users.len()).sum();
    let mut s = format!("Plan written to {}\n\n", out.display());
    s += &format!("{users} users, {removals} direct assignments to remove in {} waves; {blocked} blocked.\n\n", plan.waves.len());
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
    if !counts.is_empty() {
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
