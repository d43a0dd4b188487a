//! report.html: the sign-off report as one self-contained page — no script, no style or font
//! fetched from anywhere (a change-review room has no network), charts as inline SVG, readable
//! printed. Every text from an export is HTML-escaped. Figures carry `data-figure` names so a
//! test can hold each one against plan.json.

use super::plan_files::BlockedRow;
use super::powershell::script_name;
use crate::engine::{Outcome, Reason};
use crate::model::Tenant;
use crate::plan::{replay::Checked, Plan};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root { --ink: #1b1f24; --muted: #57606a; --line: #d0d7de; --accent: #0b5cad; --warn: #b35900; --ok: #1a7f37; }
* { box-sizing: border-box; }
body { font: 15px/1.45 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: var(--ink); margin: 0 auto; max-width: 1100px; padding: 24px 32px 64px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 10px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 16px; margin: 20px 0 6px; }
.lede { font-size: 17px; margin: 14px 0; padding: 12px 16px; background: #f6f8fa; border-left: 4px solid var(--accent); }
.muted { color: var(--muted); }
table { border-collapse: collapse; width: 100%; margin: 8px 0 16px; font-size: 14px; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
code { font: 12px/1.3 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; word-break: break-all; }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 18px; }
figure { margin: 0; padding: 10px; border: 1px solid var(--line); border-radius: 6px; }
figcaption { font-weight: 600; margin-bottom: 6px; }
svg text { font: 11px sans-serif; fill: var(--ink); }
.tag { display: inline-block; padding: 0 6px; border-radius: 10px; background: #ddf4ff; font-size: 12px; }
.held { color: var(--ok); font-weight: 600; }
.short { color: var(--warn); font-weight: 600; }
.sign td { height: 38px; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  .charts { grid-template-columns: 1fr 1fr; }
  figure, table, tr { break-inside: avoid; }
  h2 { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
}
"#;

/// A horizontal bar chart: one bar per (label, value), with the value written beside it.
fn bars(items: &[(String, i64)], color: &str) -> String {
    let max = items.iter().map(|i| i.1).max().unwrap_or(0).max(1);
    let row = 22;
    let label_w = 200;
    let bar_w = 270;
    let h = (items.len().max(1) * row + 6) as i64;
    let mut s = format!(
        "<svg role=\"img\" viewBox=\"0 0 {} {h}\" width=\"100%\">",
        label_w + bar_w + 50
    );
    if items.is_empty() {
        s += "<text x=\"4\" y=\"16\">none</text>";
    }
    for (i, (label, v)) in items.iter().enumerate() {
        let y = i * row + 4;
        let w = (*v as f64 / max as f64 * bar_w as f64)
            .round()
            .max(if *v > 0 { 1.0 } else { 0.0 });
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text><rect x=\"{label_w}\" y=\"{y}\" width=\"{w}\" height=\"16\" fill=\"{color}\"/><text x=\"{}\" y=\"{}\">{v}</text>",
            label_w - 6,
            y + 12,
            esc(label),
            label_w as f64 + w + 4.0,
            y + 12
        );
    }
    s + "</svg>"
}

/// Grouped vertical bars: per group (a wave, a SKU), one bar per series. The drawing is 520
/// units wide whatever the number of groups, so its text keeps one size on the page.
fn grouped(groups: &[(String, Vec<i64>)], series: &[(&str, &str)]) -> String {
    const W: usize = 520;
    const PLOT_H: usize = 150;
    let max = groups
        .iter()
        .flat_map(|g| g.1.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    // Positions in fractions: a million-user plan has thousands of waves.
    let per = (W - 50) as f64 / groups.len().max(1) as f64;
    let bar = ((per - 8.0) / series.len().max(1) as f64).clamp(0.5, 22.0);
    // Labels shortened to the room under their group (about 6.5 units a character), and only
    // every so many when the groups are many.
    let room = ((per / 7.0) as usize).max(3);
    let every = groups.len().div_ceil(15).max(1);
    let mut s = format!(
        "<svg role=\"img\" viewBox=\"0 0 {W} {}\" width=\"100%\">",
        PLOT_H + 60
    );
    for (gi, (label, values)) in groups.iter().enumerate() {
        let x0 = 50.0 + gi as f64 * per + (per - bar * series.len() as f64).max(0.0) / 2.0;
        for (si, v) in values.iter().enumerate() {
            let h = (*v as f64 / max as f64 * PLOT_H as f64).round();
            let _ = write!(
                s,
                "<rect x=\"{:.1}\" y=\"{}\" width=\"{bar:.1}\" height=\"{h}\" fill=\"{}\"><title>{} {}: {v}</title></rect>",
                x0 + si as f64 * bar,
                10.0 + PLOT_H as f64 - h,
                series[si].1,
                esc(label),
                esc(series[si].0)
            );
        }
        if gi % every != 0 {
            continue;
        }
        let shown: String = if label.chars().count() > room * every {
            label.chars().take(room * every - 1).chain(['…']).collect()
        } else {
            label.clone()
        };
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\"><title>{}</title>{}</text>",
            50.0 + gi as f64 * per + per / 2.0,
            PLOT_H + 24,
            esc(label),
            esc(&shown)
        );
    }
    let _ = write!(
        s,
        "<text x=\"44\" y=\"18\" text-anchor=\"end\">{max}</text><text x=\"44\" y=\"{}\" text-anchor=\"end\">0</text><line x1=\"48\" y1=\"{}\" x2=\"{W}\" y2=\"{}\" stroke=\"#d0d7de\"/>",
        PLOT_H + 10,
        PLOT_H + 10,
        PLOT_H + 10
    );
    for (i, (name, color)) in series.iter().enumerate() {
        let x = 50 + i * 110;
        let _ = write!(
            s,
            "<rect x=\"{x}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"{}\" y=\"{}\">{}</text>",
            PLOT_H + 38,
            x + 14,
            PLOT_H + 47,
            esc(name)
        );
    }
    s + "</svg>"
}

pub fn plan_report(
    t: &Tenant,
    o: &Outcome,
    plan: &Plan,
    checked: &Checked,
    blocked: &[BlockedRow],
) -> String {
    let removals: usize = plan.waves.iter().map(|w| w.removals.len()).sum();
    let users: usize = plan.waves.iter().map(|w| w.users.len()).sum();
    let gaining: Vec<usize> = (0..t.users.len())
        .filter(|&u| !o.users[u].gains().is_empty())
        .collect();
    let mut s = String::new();
    s += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>licshift plan — sign-off report</title>\n<style>";
    s += STYLE;
    s += "</style>\n</head>\n<body>\n";
    let _ = writeln!(s, "<h1>Direct → group-based licensing: removal plan</h1>\n<p class=\"muted\">Generated by licshift {} (plan schema <code>licshift.plan/v2</code>). Every figure comes from the files under Inputs; <code>licshift verify</code> re-checks the plan and this folder against them.</p>", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(s, "<p class=\"lede\"><b><span data-figure=\"usersPlanned\">{users}</span> users, <span data-figure=\"removals\">{removals}</span> direct assignments removed in <span data-figure=\"waves\">{}</span> waves; <span data-figure=\"blocked\">{}</span> stay (blocked); <span data-figure=\"usersWhoGainPlans\">{}</span> users gain plans.</b> No user loses a service plan at any stage: checked by replay, see Invariants.</p>", plan.waves.len(), blocked.len(), gaining.len());

    // Charts.
    let mut by_reason: BTreeMap<&str, i64> = BTreeMap::new();
    for b in blocked {
        *by_reason.entry(b.reason.code()).or_default() += 1;
    }
    let mut gains_by_plan: BTreeMap<String, i64> = BTreeMap::new();
    for &u in &gaining {
        for p in o.users[u].gains().iter() {
            *gains_by_plan
                .entry(t.plan_label(p).to_string())
                .or_default() += 1;
        }
    }
    let mut gains_sorted: Vec<(String, i64)> = gains_by_plan.into_iter().collect();
    gains_sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    gains_sorted.truncate(12);
    let wave_groups: Vec<(String, Vec<i64>)> = plan
        .waves
        .iter()
        .map(|w| {
            (
                w.number.to_string(),
                vec![w.users.len() as i64, w.removals.len() as i64],
            )
        })
        .collect();
    let seat_groups: Vec<(String, Vec<i64>)> = t
        .skus
        .iter()
        .zip(&o.seats)
        .map(|(k, u)| (k.part_number.clone(), vec![u.before, u.peak, u.after]))
        .collect();
    s += "<h2>At a glance</h2>\n<div class=\"charts\">\n";
    let _ = writeln!(
        s,
        "<figure><figcaption>Users and removals per wave</figcaption>{}</figure>",
        grouped(
            &wave_groups,
            &[("users", "#0b5cad"), ("removals", "#54aeff")]
        )
    );
    let _ = writeln!(
        s,
        "<figure><figcaption>Blocked direct assignments by reason</figcaption>{}</figure>",
        bars(
            &by_reason
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect::<Vec<_>>(),
            "#b35900"
        )
    );
    let _ = writeln!(
        s,
        "<figure><figcaption>Seats per SKU: before, at the peak, after</figcaption>{}</figure>",
        grouped(
            &seat_groups,
            &[
                ("before", "#8c959f"),
                ("peak", "#b35900"),
                ("after", "#1a7f37")
            ]
        )
    );
    let _ = writeln!(
        s,
        "<figure><figcaption>Users who gain each plan</figcaption>{}</figure>",
        bars(&gains_sorted, "#8250df")
    );
    s += "</div>\n";

    s += "<h2>Inputs</h2>\n<table><tr><th>file</th><th>kind</th><th class=\"n\">rows</th><th>SHA-256</th></tr>\n";
    for i in &t.inputs {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td><code>{}</code></td></tr>",
            esc(&i.path),
            esc(&i.kind),
            i.rows,
            esc(&i.sha256)
        );
    }
    s += "</table>\n";
    let op = &plan.options;
    s += "<h2>Options</h2>\n<table>\n";
    for (k, v) in [
        ("pilot", op.pilot.to_string()),
        ("growth", op.growth.to_string()),
        ("max wave", op.max_wave.to_string()),
        ("seed", op.seed.to_string()),
        ("exact", op.exact.to_string()),
        ("wave by", op.wave_by.clone().unwrap_or_else(|| "-".into())),
        ("excluded users", op.exclude.len().to_string()),
        (
            "tenant usage location",
            op.tenant_location.clone().unwrap_or_else(|| "none".into()),
        ),
        ("seat formula", format!("{:?}", op.seat_formula)),
        ("bridge", op.bridge.to_string()),
    ] {
        let _ = writeln!(s, "<tr><th>{k}</th><td>{}</td></tr>", esc(&v));
    }
    s += "</table>\n";

    s += "<h2>Seats per SKU</h2>\n<p>The prepare stage is the peak: group assignments are added before any direct one is removed, and a user holding a SKU from several sources uses one seat.</p>\n<table><tr><th>SKU</th><th class=\"n\">enabled</th><th class=\"n\">before</th><th class=\"n\">peak</th><th class=\"n\">after</th><th class=\"n\">new seats asked</th><th>short</th></tr>\n";
    for (k, u) in t.skus.iter().zip(&o.seats) {
        let sku = esc(&k.part_number);
        let _ = writeln!(
            s,
            "<tr data-sku=\"{sku}\"><td>{sku}</td><td class=\"n\">{}</td><td class=\"n\" data-figure=\"before\">{}</td><td class=\"n\" data-figure=\"peak\">{}</td><td class=\"n\" data-figure=\"after\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            if u.known { u.enabled.to_string() } else { "?".into() },
            u.before,
            u.peak,
            u.after,
            u.requested,
            if u.short { "<span class=\"short\">yes</span>" } else { "no" }
        );
    }
    s += "</table>\n";

    s += "<h2>Stage 0 — prepare</h2>\n<ul>\n";
    if plan.prepare.create_groups.is_empty() && plan.prepare.assign.is_empty() {
        s += "<li>Nothing to prepare: every template is already assigned.</li>\n";
    }
    for g in &plan.prepare.create_groups {
        let _ = writeln!(
            s,
            "<li>create security group <b>{}</b></li>",
            esc(t.group_label(*g))
        );
    }
    for (g, li) in &plan.prepare.assign {
        let line = &t.templates[g.ix()][*li];
        let dis = t.plan_names(&line.disabled);
        let _ = writeln!(
            s,
            "<li>assign <b>{}</b> to group <b>{}</b>{}</li>",
            esc(t.sku_label(line.sku)),
            esc(t.group_label(*g)),
            if dis.is_empty() {
                String::new()
            } else {
                format!(" with {} disabled", esc(&dis.join(", ")))
            }
        );
    }
    if !plan.prepare.add_members.is_empty() {
        let _ = writeln!(s, "<li>add <span data-figure=\"addMembers\">{}</span> members to the new groups (prepare.csv)</li>", plan.prepare.add_members.len());
    }
    s += "</ul>\n<p><b>Checkpoint:</b> once Entra shows the groups' processing complete, export the tenant again and run <code>licshift verify PLAN SNAPSHOT --stage prepare FRESH</code>. Go on only when it exits 0.</p>\n";

    if let Some(b) = &plan.bridge {
        let _ = writeln!(s, "<h2>Stage 1 — bridge</h2>\n<p>One assignLicense call per user adds the group's SKUs and removes the conflicting ones together (a license from a group is pinned as a direct copy first); <code>scripts/bridge.ps1</code>, reversed by <code>scripts/bridge-rollback.ps1</code>. <b><span data-figure=\"bridged\">{}</span> users bridged, {} not</b> (bridge.csv).</p>", b.swaps.len(), b.refused.len());
        let pairs = super::bridge::replaced_pairs(t, b);
        s += "<table><tr><th>plan taken away</th><th>replaced by</th><th class=\"n\">users</th></tr>\n";
        for ((p, q), n) in &pairs {
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td>{}</td><td class=\"n\">{n}</td></tr>",
                esc(p),
                esc(q)
            );
        }
        s += "</table>\n";
    }

    let _ = writeln!(s, "<h2>Waves</h2>\n<p>The pilot holds at least one user of each of the {} shapes (direct SKUs with their disabled plans × covering groups); it holds {}. After each wave: export, <code>licshift verify PLAN SNAPSHOT --after N FRESH</code>, then the next wave.</p>", plan.shapes, plan.shapes_in_pilot);
    s += "<table><tr><th class=\"n\">wave</th><th class=\"n\">users</th><th class=\"n\">removals</th><th>script</th><th>rollback</th></tr>\n";
    for w in &plan.waves {
        let _ = writeln!(
            s,
            "<tr data-wave=\"{n}\"><td class=\"n\">{n}{}</td><td class=\"n\" data-figure=\"users\">{}</td><td class=\"n\" data-figure=\"removals\">{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
            if w.pilot { " <span class=\"tag\">pilot</span>" } else { "" },
            w.users.len(),
            w.removals.len(),
            script_name(w.number, false),
            script_name(w.number, true),
            n = w.number
        );
    }
    s += "</table>\n";

    s += "<h2>Blocked: direct assignments that stay</h2>\n";
    if blocked.is_empty() {
        s += "<p>None.</p>\n";
    }
    for r in Reason::ALL {
        let rows: Vec<&BlockedRow> = blocked.iter().filter(|b| b.reason == r).collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(s, "<h3 data-reason=\"{code}\">{code} — <span data-figure=\"count\">{}</span> direct assignments</h3>\n<p><b>Fix:</b> {}</p>\n<table><tr><th>user</th><th>SKU</th><th>why</th></tr>", rows.len(), esc(r.fix()), code = r.code());
        for b in rows.iter().take(5) {
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&t.users[b.user.ix()].upn),
                esc(t.sku_label(b.sku)),
                esc(&b.detail)
            );
        }
        s += "</table>\n";
        if rows.len() > 5 {
            let _ = writeln!(
                s,
                "<p class=\"muted\">…and {} more in blocked.csv.</p>",
                rows.len() - 5
            );
        }
    }

    s += "<h2>Users who gain plans</h2>\n<p>Groups can give a user services the direct assignment had disabled; every gain is in diff.csv (<code>change</code> = gained).</p>\n";
    if gaining.is_empty() {
        s += "<p>None.</p>\n";
    } else {
        s += "<table><tr><th>user</th><th>display name</th><th>gains</th></tr>\n";
        let shown = plan
            .by_upn
            .iter()
            .map(|u| u.ix())
            .filter(|&u| !o.users[u].gains().is_empty());
        for u in shown.take(10) {
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&t.users[u].upn),
                esc(&t.users[u].display_name),
                esc(&t.plan_names(&o.users[u].gains()).join(", "))
            );
        }
        s += "</table>\n";
    }

    let _ = writeln!(s, "<h2>Invariants checked</h2>\n<p>Before this folder was published, licshift replayed prepare{} and all {} waves against the snapshot's assignments ({} users, {} removals, {} stage boundaries), recomputing every user's effective plans from assignment states alone:</p>\n<ul>", if plan.bridge.is_some() { ", the bridge" } else { "" }, plan.waves.len(), checked.users_checked, checked.removals, checked.boundaries);
    for (id, text) in [
        ("I1", "no user's effective service plans shrink at any stage boundary"),
        ("I2", "only direct assignments are removed, each at most once"),
        ("I3", "no SKU's consumed seats exceed its enabled seats at any boundary"),
        ("I4", "every removal relies only on group assignments that are healthy or predicted to succeed"),
    ] {
        let _ = writeln!(s, "<li><b>{id}</b> {text} — <span class=\"held\">held</span></li>");
    }
    s += "<li><b>I5</b> the same inputs and options give byte-identical files, whatever the thread count — tested in licshift's own suite</li>\n</ul>\n<p>plan.json records the SHA-256 of every file of this folder; <code>licshift verify</code> names any file changed since.</p>\n";
    s += "<h2>Sign-off</h2>\n<table class=\"sign\"><tr><th>role</th><th>name</th><th>date</th><th>signature</th></tr>\n<tr><td>prepared by</td><td></td><td></td><td></td></tr>\n<tr><td>reviewed by</td><td></td><td></td><td></td></tr>\n<tr><td>approved by (change board)</td><td></td><td></td><td></td></tr>\n</table>\n</body>\n</html>\n";
    s
}
