//! `licshift explain USER`: everything a reviewer needs about one user, in plain words.

use crate::engine::words::{disabled_note, source_label, status_words, verdict_detail};
use crate::engine::{Outcome, Verdict};
use crate::model::{Tenant, UserIdx};
use std::fmt::Write;

pub fn render(t: &Tenant, o: &Outcome, u: UserIdx) -> String {
    let user = &t.users[u.ix()];
    let uo = &o.users[u.ix()];
    let mut s = String::new();
    let loc = match (user.location, t.tenant_location) {
        (Some(c), _) => c.to_string(),
        (None, Some(c)) => format!("none (group licensing uses the tenant's, {c})"),
        (None, None) => {
            "none, and no tenant location: every group assignment fails the location check".into()
        }
    };
    let _ = writeln!(s, "{} ({})", user.upn, user.id);
    let _ = writeln!(
        s,
        "  display name: {}; department: {}; usage location: {loc}; account {}",
        user.display_name,
        match t.department(user.department) {
            "" => "-",
            d => d,
        },
        if user.account_enabled {
            "enabled"
        } else {
            "disabled (still licensed and still consuming seats)"
        }
    );

    let _ = writeln!(s, "\nAssignments today:");
    for (_, a) in t.user_assignments(u) {
        let state = match a.error {
            Some(e) => format!("{} / {}", a.state.as_str(), e.as_str()),
            None => a.state.as_str().to_string(),
        };
        let enabled = t.enabled(a.sku, &a.disabled);
        let _ = writeln!(
            s,
            "  {} — {state}{}",
            source_label(t, a.source, a.sku),
            if a.state.provides_plans() {
                ""
            } else {
                " (gives nothing)"
            }
        );
        let _ = writeln!(
            s,
            "    enables {} of {} plans{}",
            enabled.len(),
            t.skus[a.sku.ix()].plans.len(),
            disabled_note(t, &a.disabled)
        );
    }
    let groups = t.user_groups(u);
    let _ = writeln!(
        s,
        "\nGroups with a license template ({} direct memberships in all):",
        groups.len()
    );
    if uo.groups.is_empty() {
        let _ = writeln!(s, "  none");
    }
    for ga in &uo.groups {
        let skus: Vec<&str> = ga.lines.iter().map(|l| t.sku_label(l.0)).collect();
        let _ = writeln!(
            s,
            "  {} [{}]: {}",
            t.group_label(ga.group),
            skus.join(" + "),
            status_words(t, &ga.status)
        );
    }

    let _ = writeln!(s, "\nDirect assignments:");
    if uo.directs.is_empty() {
        let _ = writeln!(s, "  none");
    }
    for d in &uo.directs {
        let label = t.sku_label(d.sku);
        match &d.verdict {
            Verdict::Removable { covered_by, gains } => {
                let by: Vec<&str> = covered_by.iter().map(|g| t.group_label(*g)).collect();
                let by = if by.is_empty() {
                    "nothing to cover: it enables no plan".to_string()
                } else {
                    format!("every plan it enables comes from {}", by.join(" and "))
                };
                let _ = writeln!(
                    s,
                    "  {label}: REMOVABLE — {by}{}",
                    if *gains {
                        " (the user also GAINS plans, listed below)"
                    } else {
                        ""
                    }
                );
            }
            Verdict::Blocked { reason, .. } => {
                let (_, words) = verdict_detail(t, &d.verdict).unwrap_or((*reason, String::new()));
                let _ = writeln!(s, "  {label}: BLOCKED ({}) — {words}", reason.code());
                let _ = writeln!(s, "    fix: {}", reason.fix());
            }
        }
    }
    let gains = uo.gains();
    if !gains.is_empty() {
        let _ = writeln!(
            s,
            "\nGains once the groups apply: {}",
            t.plan_names(&gains).join(", ")
        );
    }
    let lost = uo.before.minus(&uo.after);
    let _ = writeln!(
        s,
        "\nEffective plans: {} today, {} after the plan{}",
        uo.before.len(),
        uo.after.len(),
        if lost.is_empty() { ", none lost" } else { "" }
    );
    // The diff's view (diff.csv): what the groups alone give once every direct assignment is
    // gone. A plan lost there is why a direct assignment stays.
    let alone = crate::engine::groups_alone(t, u, uo);
    let gone = uo.before.minus(&alone);
    let _ = writeln!(
        s,
        "From groups alone (every direct assignment gone, as diff shows): {}{}",
        alone.len(),
        if gone.is_empty() {
            ", none lost".to_string()
        } else {
            format!(
                "; lost: {} — why direct assignments stay",
                t.plan_names(&gone).join(", ")
            )
        }
    );
    s
}
