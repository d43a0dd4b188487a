//! The plan folder's files (SPEC §5): plan.json, waves.csv, blocked.csv, diff.csv, prepare.csv,
//! report.md and scripts/. Streamed into the hidden folder `plan::atomic_dir` renames into
//! place, so a million-user plan never sits in memory twice and nothing shows until all of it is
//! written.

use super::disk::{DiskFile, Spool};
use super::row::CsvRow;
use super::{diff, markdown, powershell, table, SafeCsv};
use crate::engine::{Outcome, Reason, Verdict};
use crate::model::{GroupIdx, SkuIdx, Tenant, UserIdx};
use crate::plan::{replay::Checked, Plan, Removal};
use serde::Serialize;
use serde_json::json;
use smallvec::SmallVec;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;

pub const SCHEMA: &str = "licshift.plan/v2";
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
            if let Some((reason, detail)) = crate::engine::words::verdict_detail(t, &d.verdict) {
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

fn create(spool: &Spool, dir: &Path, rel: &str) -> io::Result<DiskFile> {
    spool.create(&dir.join(rel), true)
}

/// Disk writers per plan folder. Two keep a request at the device while the other's bytes are
/// being handed over; more only queue behind them on a two-core machine.
const WRITERS: usize = 2;

/// Writes what is left and starts it on its way to the disk. The folder is synced whole before
/// the rename that publishes it, so a published folder never holds a torn file.
fn finish(w: DiskFile) -> io::Result<()> {
    w.finish()
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

/// Every file but the reports and plan.json: none of them needs the replay's findings, so they
/// are written while it runs (`commands::plan`).
pub fn render(
    t: &Tenant,
    o: &Outcome,
    plan: &Plan,
    blocked: &[BlockedRow],
    dir: &Path,
) -> io::Result<()> {
    let order = &plan.by_upn;
    // The cores render; the spool's threads wait for the disk.
    let spool = Spool::start(WRITERS);
    // Independent files, written side by side; each also renders its rows on every core, so
    // whichever finishes first leaves its core to the others.
    let ((a, b), c) = rayon::join(
        || {
            rayon::join(
                || write_csvs(&spool, t, plan, blocked, dir),
                || {
                    finish(diff::write_csv_in(
                        create(&spool, dir, "diff.csv")?,
                        t,
                        o,
                        order,
                        plan.options.diff_all,
                    )?)
                },
            )
        },
        || write_scripts(&spool, t, plan, dir),
    );
    // A failed write is the cause; what the renderers saw of it is only its echo.
    spool.close()?;
    a.and(b).and(c)
}

/// plan.json, written last: the manifest, with the SHA-256 and size of every other file of the
/// folder, so `verify` can tell the folder an operator runs from the one that was signed.
pub fn seal(
    t: &Tenant,
    o: &Outcome,
    plan: &Plan,
    blocked: &[BlockedRow],
    dir: &Path,
) -> io::Result<()> {
    let files = crate::ingest::folder::seal(dir)?;
    let mut w = DiskFile::create(&dir.join("plan.json"), true)?;
    write_plan_json(&mut w, t, o, plan, blocked, &files)?;
    finish(w)
}

/// report.md and report.html, the sign-off report: the files that show what the replay checked.
pub fn render_report(
    t: &Tenant,
    o: &Outcome,
    plan: &Plan,
    checked: &Checked,
    blocked: &[BlockedRow],
    dir: &Path,
    xlsx: bool,
) -> io::Result<()> {
    if xlsx {
        super::xlsx::write(&dir.join("report.xlsx"), t, o, plan, blocked)?;
    }
    let mut w = DiskFile::create(&dir.join("report.md"), true)?;
    w.write_all(markdown::plan_report(t, o, plan, checked, blocked).as_bytes())?;
    finish(w)?;
    let mut w = DiskFile::create(&dir.join("report.html"), true)?;
    w.write_all(super::html::plan_report(t, o, plan, checked, blocked).as_bytes())?;
    finish(w)
}

fn write_scripts(spool: &Spool, t: &Tenant, plan: &Plan, dir: &Path) -> io::Result<()> {
    use rayon::prelude::*;
    // One file per script: waves render on every core, in no order that shows.
    std::fs::create_dir_all(dir.join("scripts"))?;
    let cells = powershell::ScriptCells::new(t);
    let ctx = powershell::ScriptContext::new(t, &plan.options.identity());
    let mut buf = Vec::new();
    powershell::prepare_script(&mut buf, t, &cells, &ctx, &plan.prepare);
    let mut f = create(spool, dir, "scripts/prepare.ps1")?;
    f.write_all(&buf)?;
    finish(f)?;
    buf.clear();
    powershell::prepare_rollback_script(&mut buf, &ctx);
    let mut f = create(spool, dir, "scripts/prepare-rollback.ps1")?;
    f.write_all(&buf)?;
    finish(f)?;
    if let Some(b) = &plan.bridge {
        buf.clear();
        powershell::bridge_script(&mut buf, t, &cells, &ctx, b);
        let mut f = create(spool, dir, "scripts/bridge.ps1")?;
        f.write_all(&buf)?;
        finish(f)?;
        buf.clear();
        powershell::bridge_rollback_script(&mut buf, &ctx, b);
        let mut f = create(spool, dir, "scripts/bridge-rollback.ps1")?;
        f.write_all(&buf)?;
        finish(f)?;
    }
    // A buffer per worker, reused: fresh ones would fault in new pages each time (the spool
    // recycles the windows).
    plan.waves
        .par_iter()
        .try_for_each_init(Vec::new, |buf, wave| {
            for rollback in [false, true] {
                buf.clear();
                if rollback {
                    powershell::rollback_script(buf, &ctx, wave, None);
                } else {
                    powershell::wave_script(buf, t, &cells, &ctx, wave, None);
                }
                let rel = powershell::script_name(wave.number, rollback);
                let mut f = create(spool, dir, &rel)?;
                f.write_all(buf)?;
                finish(f)?;
            }
            Ok(())
        })
}

/// A SKU's id and name as the long lists write them, made once: 1.8M removals at a million
/// users name a dozen SKUs.
struct SkuCells {
    csv: Vec<Vec<u8>>,
}

impl SkuCells {
    fn new(t: &Tenant) -> SkuCells {
        let csv = (0..t.skus.len())
            .map(|i| {
                let sku = SkuIdx(i as u32);
                let mut b = Vec::new();
                CsvRow::new(&mut b)
                    .guid(t.skus[i].id)
                    .text(t.sku_label(sku));
                b
            })
            .collect();
        SkuCells { csv }
    }
}

fn write_csvs(
    spool: &Spool,
    t: &Tenant,
    plan: &Plan,
    blocked: &[BlockedRow],
    dir: &Path,
) -> io::Result<()> {
    let skus = SkuCells::new(t);
    let mut w = SafeCsv::new(create(spool, dir, "waves.csv")?);
    w.row(WAVES_HEADER)?;
    let mut w = w.finish()?;
    // Eight waves are at most 4,000 removals: enough per chunk to keep every core busy.
    super::write_ordered(&mut w, &plan.waves, 8, |waves, buf| {
        for wave in waves {
            for r in &wave.removals {
                waves_row(buf, t, &skus, wave.number, r);
            }
        }
        Ok(())
    })?;
    finish(w)?;

    let mut w = SafeCsv::new(create(spool, dir, "blocked.csv")?);
    w.row(BLOCKED_HEADER)?;
    let mut w = w.finish()?;
    super::write_ordered(&mut w, blocked, 512, |rows, buf| {
        for b in rows {
            let user = &t.users[b.user.ix()];
            CsvRow::new(buf)
                .guid(user.id)
                .text(&user.upn)
                .guid(t.skus[b.sku.ix()].id)
                .text(t.sku_label(b.sku))
                .text(b.reason.code())
                .text(&b.detail)
                .end();
        }
        Ok(())
    })?;
    finish(w)?;

    let mut w = SafeCsv::new(create(spool, dir, "prepare.csv")?);
    w.row(PREPARE_HEADER)?;
    for row in prepare_rows(t, plan) {
        w.row(row)?;
    }
    finish(w.finish()?)?;

    if let Some(b) = &plan.bridge {
        finish(super::bridge::write_csv(
            create(spool, dir, "bridge.csv")?,
            t,
            b,
        )?)?;
    }
    Ok(())
}

/// prepare.csv's rows: groups to create, template lines to assign, members to add.
pub fn prepare_rows(t: &Tenant, plan: &Plan) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for &g in &plan.prepare.create_groups {
        rows.push(vec![
            "create-group".into(),
            String::new(),
            t.group_label(g).to_string(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }
    for &(g, li) in &plan.prepare.assign {
        let line = &t.templates[g.ix()][li];
        let disabled: Vec<String> = line
            .disabled
            .iter()
            .map(|p| t.plans[p.ix()].id.to_string())
            .collect();
        rows.push(vec![
            "assign-license".into(),
            group_id(t, g),
            t.group_label(g).to_string(),
            t.skus[line.sku.ix()].id.to_string(),
            t.sku_label(line.sku).to_string(),
            disabled.join(";"),
            String::new(),
            String::new(),
        ]);
    }
    for &(g, u) in &plan.prepare.add_members {
        let user = &t.users[u.ix()];
        rows.push(vec![
            "add-member".into(),
            group_id(t, g),
            t.group_label(g).to_string(),
            String::new(),
            String::new(),
            String::new(),
            user.id.to_string(),
            user.upn.clone(),
        ]);
    }
    rows
}

fn waves_row(buf: &mut Vec<u8>, t: &Tenant, skus: &SkuCells, wave: u32, r: &Removal) {
    let user = &t.users[r.user.ix()];
    CsvRow::new(buf)
        .number(wave.into())
        .guid(user.id)
        .text(&user.upn);
    buf.push(b',');
    buf.extend_from_slice(&skus.csv[r.sku.ix()]);
    let mut row = CsvRow::continuing(buf);
    let mut by: SmallVec<[&str; 8]> = SmallVec::new();
    for (i, g) in r.covered_by.iter().enumerate() {
        if i > 0 {
            by.push("; ");
        }
        by.push(t.group_label(*g));
    }
    row.parts(&by).end();
}

/// plan.json (`licshift.plan/v2`): a manifest — inputs, options, summary, stages with their
/// counts, and the seal — not the rows: those are waves.csv and blocked.csv, sealed by hash.
fn write_plan_json(
    w: &mut DiskFile,
    t: &Tenant,
    o: &Outcome,
    plan: &Plan,
    blocked: &[BlockedRow],
    files: &[crate::ingest::folder::SealedFile],
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
        // The id every script's log header records: retry scripts carry it too, and a run
        // folder holding another plan's logs is refused.
        "planId": powershell::ScriptContext::new(t, &plan.options.identity()).plan_id,
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
        .chain(plan.bridge.iter().map(|b| json!({
            "stage": "bridge",
            "users": b.swaps.len(),
            "notBridged": b.refused.len(),
            "file": "bridge.csv",
            "script": "scripts/bridge.ps1",
            "rollback": "scripts/bridge-rollback.ps1",
            "checkpoint": "export the tenant again and run: licshift verify PLAN SNAPSHOT --stage bridge FRESH",
        })))
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
        "invariants": {"checked": ["I1", "I2", "I3", "I4"], "boundaries": crate::plan::replay::boundaries(plan), "removalsReplayed": removals},
        "files": files,
    });
    let mut text = serde_json::to_string_pretty(&head).map_err(io::Error::other)?;
    text.push('\n');
    w.write_all(text.as_bytes())
}

/// A count with thousands separators (`1,280`), as a reviewer reads it.
pub fn thousands(n: impl Into<i128>) -> String {
    let n: i128 = n.into();
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (k, c) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

/// Waves above which a plan is long to run and to review: the summary says which
/// `--max-wave` would give about [`TARGET_WAVES`].
pub const MANY_WAVES: usize = 50;
pub const TARGET_WAVES: usize = 20;

/// The sentence that advises a `--max-wave`, when a plan has more than [`MANY_WAVES`] waves.
pub fn wave_advice(plan: &Plan) -> Option<String> {
    if plan.waves.len() <= MANY_WAVES {
        return None;
    }
    let users: usize = plan.waves.iter().map(|w| w.users.len()).sum();
    let pilot = plan
        .waves
        .first()
        .filter(|w| w.pilot)
        .map_or(0, |w| w.users.len());
    let o = &plan.options;
    let waves = thousands(plan.waves.len() as u64);
    Some(
        match crate::plan::max_wave_for(users, pilot, o.pilot, o.growth, TARGET_WAVES) {
            Some(cap) => format!(
                "{waves} waves of at most {} users: --max-wave {} would give about {TARGET_WAVES}.",
                thousands(o.max_wave as u64),
                thousands(cap as u64)
            ),
            None => format!(
                "{waves} waves: with --growth {} the waves stay near --pilot's {} users whatever --max-wave says; a larger --pilot or --growth gives fewer.",
                o.growth, o.pilot
            ),
        },
    )
}

/// What `licshift plan` prints when it is done: what a reviewer must see before opening the
/// report — the counts, the waves, what blocks, the seats short and taken, the bridge, and
/// any file not written.
pub fn terminal_summary(
    t: &Tenant,
    o: &Outcome,
    plan: &Plan,
    out: &Path,
    xlsx_written: bool,
) -> String {
    let n = |v: usize| thousands(v as u64);
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
    s += &format!(
        "{} users, {} direct assignments to remove in {} waves; {} blocked.\n",
        n(users),
        n(removals),
        n(plan.waves.len()),
        n(blocked)
    );
    if let Some(advice) = wave_advice(plan) {
        s += &advice;
        s += "\n";
    }
    if let Some(b) = &plan.bridge {
        s += &format!(
            "Bridge: {} users swap a conflicting license for the group's in one call (bridge.csv, scripts/bridge.ps1); {} stay blocked.\n",
            n(b.swaps.len()),
            n(b.refused.len())
        );
    }
    let short: Vec<String> = t
        .skus
        .iter()
        .zip(&o.seats)
        .filter(|(_, u)| u.short)
        .map(|(k, u)| {
            format!(
                "{} ({} new seats asked, {} free)",
                k.part_number,
                thousands(u.requested),
                thousands(u.free.max(0))
            )
        })
        .collect();
    if !short.is_empty() {
        s += &format!(
            "Short of seats: {} — every member that needs one is blocked SEATS until seats are bought or freed.\n",
            short.join(", ")
        );
    }
    let new_seats: Vec<String> = t
        .skus
        .iter()
        .zip(&o.seats)
        .filter(|(_, u)| u.peak > u.before)
        .map(|(k, u)| format!("{} +{}", k.part_number, thousands(u.peak - u.before)))
        .collect();
    if !new_seats.is_empty() {
        s += &format!(
            "New seats taken at the peak (after prepare): {}.\n",
            new_seats.join(", ")
        );
    }
    if !xlsx_written {
        s += &format!(
            "report.xlsx was not written: the plan has more than {} removals; pass --xlsx to write it.\n",
            n(super::xlsx::DEFAULT_MAX_REMOVALS)
        );
    }
    s += "\n";
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
                    n(w.users.len()),
                    n(w.removals.len()),
                ]
            })
            .collect();
        if plan.waves.len() > 12 {
            let rest: usize = plan.waves.iter().skip(12).map(|w| w.users.len()).sum();
            rows.push(vec![
                format!("13–{}", plan.waves.len()),
                String::new(),
                n(rest),
                n(plan
                    .waves
                    .iter()
                    .skip(12)
                    .map(|w| w.removals.len())
                    .sum::<usize>()),
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
                .map(|(k, v)| vec![k.to_string(), n(v)])
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
                    thousands(u.enabled)
                } else {
                    "?".into()
                },
                thousands(u.before),
                thousands(u.peak),
                thousands(u.after),
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
