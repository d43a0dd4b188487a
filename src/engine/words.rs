//! The engine's verdicts in words: why a direct assignment is blocked, what a group's status
//! and evidence are. Shared by blocked.csv, `explain`, the reports and `verify`'s violations.

use super::{ConflictWith, Evidence, GroupStatus, Reason, Verdict};
use crate::model::{PlanSet, SkuIdx, Source, Tenant};

/// `ENTERPRISEPACK (direct)` or `ENTERPRISEPACK (HR Department)`.
pub fn source_label(t: &Tenant, source: Source, sku: SkuIdx) -> String {
    match source {
        Source::Direct => format!("{} (direct)", t.sku_label(sku)),
        Source::Group(g) => format!("{} ({})", t.sku_label(sku), t.group_label(g)),
    }
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
                &would_cover(t, uncovered, *group),
                group.map(|g| t.group_label(g).to_string()),
                evidence.as_deref(),
                *nested_via,
            ),
        )),
    }
}

/// Of the plans a direct assignment needs covered, those the named group's template enables:
/// "G would cover …" names only what G gives.
fn would_cover(t: &Tenant, uncovered: &PlanSet, group: Option<crate::model::GroupIdx>) -> PlanSet {
    let Some(g) = group else {
        return uncovered.clone();
    };
    let mut gives = PlanSet::new();
    for l in &t.templates[g.ix()] {
        gives.union_with(&t.enabled(l.sku, &l.disabled));
    }
    let shown = uncovered.intersection(&gives);
    if shown.is_empty() {
        uncovered.clone()
    } else {
        shown
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

pub fn disabled_note(t: &Tenant, disabled: &PlanSet) -> String {
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
