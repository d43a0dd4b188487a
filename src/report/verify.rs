//! `licshift verify` output: a terminal table, CSV or JSON for pipelines, Markdown for the
//! change record.

use super::markdown::cell;
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

/// The go or no-go for the next wave. "safe to run" is said only when the check found nothing.
fn next_wave_words(n: &crate::verify::NextWave) -> String {
    match (&n.why, n.safe) {
        (_, true) => "safe to run on the fresh export".into(),
        (Some(why), false) => format!("NO-GO: {why}"),
        (None, false) => "NO-GO: see NEXT_WAVE_UNSAFE above".into(),
    }
}

pub fn table(v: &Verification) -> String {
    let mut s = format!(
        "verify ({}): {} — {} removals of {} users checked ({})\n",
        v.mode,
        verdict(v),
        v.removals_checked,
        v.users_checked,
        match v.seal {
            "sealed" => "plan folder sealed",
            "unsealed" => "plan folder UNSEALED",
            _ => "a waves file: no seal",
        }
    );
    for n in &v.notes {
        let _ = writeln!(s, "  {n}");
    }
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
            next_wave_words(n)
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

/// What ties a change record to the exact files a go was given on.
pub struct Record<'a> {
    pub plan: &'a std::path::Path,
    /// SHA-256 of plan.json (or of the waves.csv named instead).
    pub plan_sha256: Option<String>,
    pub snapshot: &'a std::path::Path,
    pub snapshot_inputs: &'a [crate::model::InputFile],
    pub fresh: Option<(&'a std::path::Path, &'a [crate::model::InputFile])>,
    /// When the check ran, UTC, RFC 3339.
    pub checked_at: String,
}

pub use crate::clock::{utc, utc_now};

/// The files of an export with their digests, as Markdown list lines.
fn export_files(s: &mut String, inputs: &[crate::model::InputFile]) {
    for i in inputs {
        let _ = writeln!(
            s,
            "  - {} ({}): SHA-256 `{}`",
            cell(&i.path),
            i.kind,
            if i.sha256.is_empty() {
                "—"
            } else {
                &i.sha256
            }
        );
    }
}

/// The modification time of an export (its newest file), as the time it was taken.
fn exported_at(root: &std::path::Path, inputs: &[crate::model::InputFile]) -> String {
    let newest = inputs
        .iter()
        .filter_map(|i| {
            let file = i.path.split_once('#').map_or(i.path.as_str(), |(p, _)| p);
            let path = if root.is_dir() {
                root.join(file)
            } else {
                root.to_path_buf()
            };
            std::fs::metadata(&path).ok()?.modified().ok()
        })
        .max();
    newest
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or_else(|| "unknown".into(), |d| utc(d.as_secs()))
}

pub fn markdown(v: &Verification, r: &Record) -> String {
    let mut s = format!(
        "# licshift verify — {}\n\n**{}**: {} removals of {} users checked.\n\n- checked at: {}\n- plan: `{}` (plan.json SHA-256 `{}`)\n- snapshot: `{}`, taken {}\n",
        cell(&v.mode),
        verdict(v),
        v.removals_checked,
        v.users_checked,
        r.checked_at,
        cell(&r.plan.display().to_string()),
        r.plan_sha256.as_deref().unwrap_or("unreadable"),
        cell(&r.snapshot.display().to_string()),
        exported_at(r.snapshot, r.snapshot_inputs),
    );
    export_files(&mut s, r.snapshot_inputs);
    if let Some((fresh, inputs)) = r.fresh {
        let _ = writeln!(
            s,
            "- fresh export: `{}`, taken {}",
            cell(&fresh.display().to_string()),
            exported_at(fresh, inputs)
        );
        export_files(&mut s, inputs);
    }
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
                "safe to run".to_string()
            } else {
                format!("**{}**", next_wave_words(n))
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
