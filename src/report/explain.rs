//! `licshift explain USER`: everything a reviewer needs about one user, in plain words.

use super::diff::source_label;
use crate::engine::{ConflictWith, Evidence, GroupStatus, Outcome, Reason, Verdict};
use crate::model::{PlanSet, Source, Tenant, UserIdx};
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
    s
}

/// A blocked verdict in words (the `detail` of blocked.csv); `None` for a removable one.
pub fn verdict_detail(t: &Tenant, v: &Verdict) -> Option<(Reason, String)> {
    match v {
        Verdict::Removable { .. } => None,
        Verdict::Blocked {
            reason,
            uncovered,
            group,
            evidence,
            nested_via,
        } => Some((
            *reason,
            blocked_words(
                t,
                *reason,
                uncovered,
                group.map(|g| t.group_label(g).to_string()),
                evidence.as_deref(),
                *nested_via,
            ),
        )),
    }
}

/// Up to `max` plan names, then how many more: a reviewer needs the first few, not 36.
pub fn plan_list(t: &Tenant, set: &PlanSet, max: usize) -> String {
    let names = t.plan_names(set);
    if names.len() <= max {
        return names.join(", ");
    }
    format!("{} and {} more", names[..max].join(", "), names.len() - max)
}

fn disabled_note(t: &Tenant, disabled: &PlanSet) -> String {
    if disabled.is_empty() {
        String::new()
    } else {
        format!(" (disabled: {})", t.plan_names(disabled).join(", "))
    }
}

pub fn status_words(t: &Tenant, st: &GroupStatus) -> String {
    match st {
        GroupStatus::Healthy => "healthy (Active, no error)".into(),
        GroupStatus::Predicted => "predicted to succeed".into(),
        GroupStatus::Failing(ev) | GroupStatus::Fails(_, ev) => {
            let head = if matches!(st, GroupStatus::Failing(_)) {
                "failing in the tenant"
            } else {
                "predicted to FAIL"
            };
            format!("{head}: {}", evidence_words(t, ev))
        }
    }
}

pub fn evidence_words(t: &Tenant, ev: &Evidence) -> String {
    match ev {
        Evidence::Failing { sku, state, error } => format!("{} is {}{}", t.sku_label(*sku), state.as_str(), error.map_or(String::new(), |e| format!(" with {}", e.as_str()))),
        Evidence::Conflict { plan, excludes, with } => {
            let whom = match with {
                ConflictWith::Held { sku, group } => format!("which the user holds from {}", source_label(t, group.map_or(Source::Direct, Source::Group), *sku)),
                ConflictWith::Proposed { group } => format!("which proposed group {} would also give (both fail)", t.group_label(*group)),
                ConflictWith::SameTemplate => "in the same template".into(),
            };
            format!("MutuallyExclusiveViolation: {} cannot be enabled beside {}, {whom}", t.plan_label(*plan), t.plan_label(*excludes))
        }
        Evidence::Location { location: None, .. } => "ProhibitedInUsageLocationViolation: the user has no usage location and the tenant has none".into(),
        Evidence::Location { location: Some(c), plans } => format!("ProhibitedInUsageLocationViolation: {} not available in {c}", t.plan_names(plans).join(", ")),
        Evidence::Dependency { plan, needs } => {
            let needs = if needs.is_empty() { "a prerequisite the tenant does not have".to_string() } else { format!("one of {}", t.plan_names(needs).join(", ")) };
            format!("DependencyViolation: {} needs {needs} in the same template", t.plan_label(*plan))
        }
        Evidence::Seats { sku, needed, free } => format!("CountViolation risk: members need {needed} new {} seats, {free} free", t.sku_label(*sku)),
    }
}

pub fn blocked_words(
    t: &Tenant,
    reason: Reason,
    uncovered: &PlanSet,
    group: Option<String>,
    ev: Option<&Evidence>,
    nested: Option<(crate::model::GroupIdx, crate::model::GroupIdx)>,
) -> String {
    let plans = plan_list(t, uncovered, 6);
    match reason {
        Reason::NotCovered => format!("no group gives {plans}"),
        Reason::NotMember => match nested {
            Some((parent, via)) => format!("the user is in no licensed group with these plans; {} reaches them only through nested group {}, and nested groups pass no licenses on", t.group_label(parent), t.group_label(via)),
            None => "the user is in no group whose template holds this SKU or its plans".into(),
        },
        Reason::Gains => "the user's groups would give plans they do not have today (--exact)".into(),
        _ => format!("{} would cover {plans}, but {}", group.unwrap_or_default(), ev.map_or(String::new(), |e| evidence_words(t, e))),
    }
}
