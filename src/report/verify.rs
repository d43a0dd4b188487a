//! `licshift verify` output: a terminal table, CSV or JSON for pipelines, Markdown for the
//! change record.

use super::{table as tbl, SafeCsv};
use crate::verify::Verification;
use std::fmt::Write;

fn verdict(v: &Verification) -> String {
    if v.violations.is_empty() {
        "ALL CLEAR".into()
    } else {
        format!("{} VIOLATION(S)", v.violations.len())
    }
}

/// The first plans, then how many more: the table is for reading; JSON and CSV have them all.
fn short(plans: &[String]) -> String {
    if plans.len() <= 6 {
        return plans.join(", ");
    }
    format!("{} and {} more", plans[..6].join(", "), plans.len() - 6)
}

pub fn table(v: &Verification) -> String {
    let mut s = format!(
        "verify ({}): {} — {} removals of {} users checked\n",
        v.mode,
        verdict(v),
        v.removals_checked,
        v.users_checked
    );
    if !v.changed_inputs.is_empty() {
        s += "\nThe snapshot changed since planning (--allow-drift):\n";
        for c in &v.changed_inputs {
            let _ = writeln!(s, "  - {c}");
        }
    }
    if !v.violations.is_empty() {
        s += "\n";
        s += &tbl(
            &["violation", "wave", "user", "SKU", "plans", "why"],
            v.violations
                .iter()
                .map(|x| {
                    vec![
                        x.kind.to_string(),
                        x.wave.map_or(String::new(), |w| w.to_string()),
                        x.user.clone(),
                        x.sku.clone(),
                        short(&x.plans),
                        x.detail.clone(),
                    ]
                })
                .collect(),
        );
        s += "\n";
    }
    if let Some(n) = &v.next_wave {
        let _ = writeln!(
            s,
            "\nNext wave {} ({} removals): {}",
            n.wave,
            n.removals,
            if n.safe {
                "safe to run on the fresh export"
            } else {
                "NOT safe to run: see NEXT_WAVE_UNSAFE above"
            }
        );
    }
    if !v.pending.is_empty() {
        let _ = writeln!(
            s,
            "\nPending — skipped by the waves, still holding their direct assignment safely ({}; not violations).\nCarry them forward: verify … --pending pending.csv, then licshift scripts PLAN SNAPSHOT --waves pending.csv --out DIR:",
            v.pending.len()
        );
        s += &tbl(
            &["wave", "user", "SKU", "why"],
            v.pending
                .iter()
                .map(|p| {
                    vec![
                        p.wave.to_string(),
                        p.user.clone(),
                        p.sku.clone(),
                        p.reason.clone(),
                    ]
                })
                .collect(),
        );
        s += "\n";
    }
    if !v.drift.is_empty() {
        let _ = writeln!(
            s,
            "\nDrift — changed outside the plan since the baseline ({}; not violations):",
            v.drift.len()
        );
        s += &tbl(
            &["user", "change"],
            v.drift
                .iter()
                .map(|d| vec![d.user.clone(), d.change.clone()])
                .collect(),
        );
        s += "\n";
    }
    s
}

pub fn csv(v: &Verification) -> std::io::Result<String> {
    let mut w = SafeCsv::new(Vec::new());
    w.row([
        "kind",
        "wave",
        "userId",
        "userPrincipalName",
        "sku",
        "plans",
        "detail",
    ])?;
    for x in &v.violations {
        w.row([
            x.kind.to_string(),
            x.wave.map_or(String::new(), |w| w.to_string()),
            x.user_id.clone(),
            x.user.clone(),
            x.sku.clone(),
            x.plans.join(";"),
            x.detail.clone(),
        ])?;
    }
    for p in &v.pending {
        w.row([
            "PENDING".to_string(),
            p.wave.to_string(),
            p.user_id.clone(),
            p.user.clone(),
            p.sku.clone(),
            String::new(),
            p.reason.clone(),
        ])?;
    }
    for d in &v.drift {
        w.row([
            "DRIFT".to_string(),
            String::new(),
            String::new(),
            d.user.clone(),
            String::new(),
            String::new(),
            d.change.clone(),
        ])?;
    }
    Ok(String::from_utf8_lossy(&w.finish()?).into_owned())
}

/// The pending removals as a waves.csv (`wave,userId,userPrincipalName,skuId,skuPartNumber,
/// coveredBy`), each in the wave it was planned in: what `licshift scripts --waves` reads.
pub fn pending_waves(pending: &[crate::verify::Pending]) -> std::io::Result<Vec<u8>> {
    let mut w = SafeCsv::new(Vec::new());
    w.row([
        "wave",
        "userId",
        "userPrincipalName",
        "skuId",
        "skuPartNumber",
        "coveredBy",
    ])?;
    for p in pending {
        w.row([
            p.wave.to_string(),
            p.user_id.clone(),
            p.user.clone(),
            p.sku_id.clone(),
            p.sku.clone(),
            p.covered_by.join("; "),
        ])?;
    }
    w.finish()
}

pub fn markdown(v: &Verification, plan: &std::path::Path, snapshot: &std::path::Path) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace(['\n', '\r'], " ");
    let mut s = format!("# licshift verify — {}\n\n**{}**: {} removals of {} users checked.\n\n- plan: `{}`\n- snapshot: `{}`\n", v.mode, verdict(v), v.removals_checked, v.users_checked, plan.display(), snapshot.display());
    if !v.changed_inputs.is_empty() {
        s += "\n## Inputs changed since planning\n\n";
        for c in &v.changed_inputs {
            let _ = writeln!(s, "- {}", cell(c));
        }
    }
    s += "\n## Violations\n\n";
    if v.violations.is_empty() {
        s += "None.\n";
    } else {
        s += "| violation | wave | user | SKU | plans | why |\n|---|---:|---|---|---|---|\n";
        for x in &v.violations {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                x.kind,
                x.wave.map_or(String::new(), |w| w.to_string()),
                cell(&x.user),
                cell(&x.sku),
                cell(&x.plans.join(", ")),
                cell(&x.detail)
            );
        }
    }
    if let Some(n) = &v.next_wave {
        let _ = writeln!(
            s,
            "\n## Next wave\n\nWave {} ({} removals): {}.",
            n.wave,
            n.removals,
            if n.safe {
                "safe to run"
            } else {
                "**not safe to run**"
            }
        );
    }
    if !v.drift.is_empty() {
        s += "\n## Drift (changed outside the plan)\n\n| user | change |\n|---|---|\n";
        for d in &v.drift {
            let _ = writeln!(s, "| {} | {} |", cell(&d.user), cell(&d.change));
        }
    }
    s += "\n| role | name | date | go / no-go |\n|---|---|---|---|\n| operator | | | |\n";
    s
}
