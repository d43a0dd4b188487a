//! What the change board signs for the bridge (`plan --bridge`): bridge.csv, one row per
//! replaced plan pair of each swapped user; the report.md section; and, on blocked.csv, the
//! plan that keeps a conflict-blocked user from being bridged.

use super::markdown::cell;
use super::plan_files::BlockedRow;
use super::SafeCsv;
use crate::engine::bridge::{Bridge, Refusal, Swap};
use crate::engine::Reason;
use crate::model::{SkuIdx, Tenant};
use std::collections::BTreeMap;
use std::fmt::Write;

pub const BRIDGE_HEADER: [&str; 11] = [
    "userId",
    "userPrincipalName",
    "group",
    "source",
    "steps",
    "removedSkuIds",
    "removedSkus",
    "addedSkuIds",
    "addedSkus",
    "replacedPlan",
    "supersedingPlan",
];

fn skus(t: &Tenant, list: impl Iterator<Item = SkuIdx> + Clone) -> (String, String) {
    let ids: Vec<String> = list
        .clone()
        .map(|k| t.skus[k.ix()].id.to_string())
        .collect();
    let names: Vec<&str> = list.map(|k| t.sku_label(k)).collect();
    (ids.join(";"), names.join(";"))
}

/// The steps the script takes for the user, in order.
pub fn steps(t: &Tenant, s: &Swap) -> String {
    let mut v = Vec::new();
    if !s.pins.is_empty() {
        v.push(if s.widened.is_empty() {
            "pin direct copy".to_string()
        } else {
            "pin by widening the direct copy".to_string()
        });
        for g in &s.leave {
            v.push(format!("leave {}", t.group_label(*g)));
        }
    }
    v.push("swap".into());
    v.push("reprocess".into());
    v.join("; ")
}

/// bridge.csv's rows: one per replaced plan pair of each swapped user (one with the pair
/// empty when every plan is given again).
pub fn rows(t: &Tenant, b: &Bridge) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for s in &b.swaps {
        let user = &t.users[s.user.ix()];
        let (removed_ids, removed) = skus(t, s.remove.iter().copied());
        let (added_ids, added) = skus(t, s.add.iter().map(|a| a.0));
        let steps = steps(t, s);
        let mut pairs: Vec<(&str, &str)> = s
            .replaced
            .iter()
            .map(|(p, q)| (t.plan_label(*p), t.plan_label(*q)))
            .collect();
        pairs.sort();
        if pairs.is_empty() {
            pairs.push(("", ""));
        }
        for (p, q) in pairs {
            out.push(vec![
                user.id.to_string(),
                user.upn.clone(),
                t.group_label(s.group).to_string(),
                s.source_kind().to_string(),
                steps.clone(),
                removed_ids.clone(),
                removed.clone(),
                added_ids.clone(),
                added.clone(),
                p.to_string(),
                q.to_string(),
            ]);
        }
    }
    out
}

pub fn write_csv<W: std::io::Write>(w: W, t: &Tenant, b: &Bridge) -> std::io::Result<W> {
    let mut w = SafeCsv::new(w);
    w.row(BRIDGE_HEADER)?;
    for row in rows(t, b) {
        w.row(row)?;
    }
    w.finish()
}

/// Every replaced plan pair (taken away, superseding) with the number of users, in name order:
/// the table the change board signs, in report.md and report.html alike.
pub fn replaced_pairs<'t>(t: &'t Tenant, b: &Bridge) -> BTreeMap<(&'t str, &'t str), usize> {
    let mut pairs = BTreeMap::new();
    for w in &b.swaps {
        for (p, q) in &w.replaced {
            *pairs
                .entry((t.plan_label(*p), t.plan_label(*q)))
                .or_default() += 1;
        }
    }
    pairs
}

/// Why the bridge leaves the user blocked, for blocked.csv and the report.
pub fn refusal_words(t: &Tenant, r: &Refusal) -> String {
    match r {
        Refusal::NoCounterpart { plan, sku } => format!(
            "bridge: swapping {} away would take {} with no plan added that supersedes it",
            t.sku_label(*sku),
            t.plan_label(*plan)
        ),
        Refusal::Seats { sku, needed, free } => format!(
            "bridge: {needed} swaps need a new seat of {}, {free} are left after prepare",
            t.sku_label(*sku)
        ),
        Refusal::NotAlone => "bridge: a swap alone would not let the group's assignment succeed (another conflict, its location or dependency check, or a group the user is not directly in)".into(),
        Refusal::NoPin { sku, group } => format!("bridge: the user's direct copy of {} gives nothing (Disabled or Error), so {}'s copy cannot be pinned and leaving {} would drop its plans until the swap; remove or repair that direct copy first", t.sku_label(*sku), t.group_label(*group), t.group_label(*group)),
        Refusal::PrepareGives { sku } => format!("bridge: the swap would take {} away while a group prepare licenses gives it again; resolve by hand", t.sku_label(*sku)),
    }
}

/// Adds the bridge's word to the blocked rows of users it refused.
pub fn note_refusals(t: &Tenant, rows: &mut [BlockedRow], b: &Bridge) {
    if b.refused.is_empty() {
        return;
    }
    let mut by_user: BTreeMap<u32, &Refusal> = BTreeMap::new();
    for r in &b.refused {
        by_user.insert(r.user.0, &r.refusal);
    }
    for row in rows
        .iter_mut()
        .filter(|r| matches!(r.reason, Reason::Conflict | Reason::Seats))
    {
        if let Some(r) = by_user.get(&row.user.0) {
            row.detail = format!("{}; {}", row.detail, refusal_words(t, r));
        }
    }
}

/// The report.md section: what the bridge does, every replaced plan pair to sign, who is not
/// bridged and why.
pub fn markdown(t: &Tenant, b: &Bridge) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "\n## Stage 1 — bridge\n\nUsers a conflicting license blocks are moved without a gap: a license from a group is first pinned as a direct copy (same SKU, no new seat) and the user leaves that group; then ONE assignLicense call adds the group's SKUs directly and removes the conflicting ones, and the user's group licenses are reprocessed. The direct copies go in the waves below. `scripts/bridge.ps1` runs it after prepare.ps1 and the prepare checkpoint, `scripts/bridge-rollback.ps1` reverses it from the bridge's log; bridge.csv lists every user.\n");
    let _ = writeln!(
        s,
        "**{} users bridged, {} not.**\n",
        b.swaps.len(),
        b.refused.len()
    );
    if !b.swaps.is_empty() {
        let mut moves: BTreeMap<(String, String, &str), usize> = BTreeMap::new();
        for w in &b.swaps {
            let removed = skus(t, w.remove.iter().copied()).1;
            let added = skus(t, w.add.iter().map(|a| a.0)).1;
            *moves.entry((removed, added, w.source_kind())).or_default() += 1;
        }
        let pairs = replaced_pairs(t, b);
        let _ = writeln!(
            s,
            "| removed | added | conflicting license from | users |\n|---|---|---|---:|"
        );
        for ((r, a, k), n) in &moves {
            let _ = writeln!(s, "| {} | {} | {k} | {n} |", cell(r), cell(a));
        }
        let _ = writeln!(s, "\nEvery plan a swap takes away is given again by the SKUs it adds, or replaced by a plan that supersedes it (`supersedes` rules, `licshift rules`). The replaced plans, for sign-off:\n\n| plan taken away | replaced by | users |\n|---|---|---:|");
        if pairs.is_empty() {
            let _ = writeln!(s, "| (none: every plan is given again) | | |");
        }
        for ((p, q), n) in &pairs {
            let _ = writeln!(s, "| {} | {} | {n} |", cell(p), cell(q));
        }
    }
    if !b.refused.is_empty() {
        let _ = writeln!(
            s,
            "\nNot bridged (they stay blocked):\n\n| user | group | why |\n|---|---|---|"
        );
        let mut rows: Vec<(&str, &str, String)> = b
            .refused
            .iter()
            .map(|r| {
                (
                    t.users[r.user.ix()].upn.as_str(),
                    t.group_label(r.group),
                    refusal_words(t, &r.refusal),
                )
            })
            .collect();
        rows.sort();
        for (u, g, why) in rows.iter().take(20) {
            let _ = writeln!(s, "| {} | {} | {} |", cell(u), cell(g), cell(why));
        }
        if rows.len() > 20 {
            let _ = writeln!(s, "\n…and {} more in blocked.csv.", rows.len() - 20);
        }
    }
    let _ = writeln!(s, "\n**Checkpoint:** once the bridge has run and Entra shows the groups' processing complete, export the tenant again and run `licshift verify PLAN SNAPSHOT --stage bridge FRESH`. Go on to the waves only when it exits 0.");
    s
}
