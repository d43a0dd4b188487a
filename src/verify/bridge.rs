//! `verify --stage bridge FRESH`: after bridge.ps1 ran, every swapped user is off the
//! conflicting licenses and out of the groups they left, holds the group's SKUs, the group's
//! assignment is healthy, and every plan they had is still there or replaced by one that
//! supersedes it.

use super::after::{group_trouble, ids, names, Match};
use super::{violation, Violation};
use crate::engine::bridge::Bridge;
use crate::model::{Guid, PlanSet, Source, Tenant};
use std::collections::BTreeSet;

pub(crate) fn check_bridge(base: &Tenant, b: &Bridge, fresh: &Tenant) -> Vec<Violation> {
    let m = Match::new(base, fresh);
    let mut v = Vec::new();
    for s in &b.swaps {
        let u = s.user;
        let sku = |k: crate::model::SkuIdx| base.sku_label(k).to_string();
        let removed: String = s
            .remove
            .iter()
            .map(|k| sku(*k))
            .collect::<Vec<_>>()
            .join(", ");
        let Some(fu) = m.user(u) else {
            v.push(violation(
                base,
                "USER_GONE",
                None,
                u,
                &removed,
                Vec::new(),
                "the user is not in the fresh export".into(),
            ));
            continue;
        };
        let fresh_sku = |k: crate::model::SkuIdx| base.skus[k.ix()].id;
        let states: Vec<&crate::model::Assignment> =
            fresh.user_assignments(fu).map(|(_, a)| a).collect();
        let left: Vec<Option<crate::model::GroupIdx>> =
            s.leave.iter().map(|g| m.group(*g)).collect();
        let mut undone = Vec::new();
        for k in &s.remove {
            if states
                .iter()
                .any(|a| a.source == Source::Direct && fresh.skus[a.sku.ix()].id == fresh_sku(*k))
            {
                undone.push(format!("still holds {} directly", sku(*k)));
            }
        }
        for (g, fg) in s.leave.iter().zip(&left) {
            if fg.is_some_and(|fg| states.iter().any(|a| a.source == Source::Group(fg))) {
                undone.push(format!("{} still licenses the user", base.group_label(*g)));
            }
        }
        for (k, _) in &s.add {
            if !states
                .iter()
                .any(|a| fresh.skus[a.sku.ix()].id == fresh_sku(*k) && a.is_healthy())
            {
                undone.push(format!("holds no working {}", sku(*k)));
            }
        }
        if !undone.is_empty() {
            v.push(violation(base, "BRIDGE_NOT_DONE", None, u, &removed, Vec::new(), format!("{}: the bridge skipped the user or has not run (see run/bridge.log.jsonl), run bridge.ps1 again", undone.join("; "))));
            continue;
        }
        if let Some(trouble) = group_trouble(&m, s.group, fu) {
            v.push(violation(
                base,
                "GROUP_NOT_HEALTHY",
                None,
                u,
                &removed,
                Vec::new(),
                format!("{trouble}: reprocess the user's licenses, or wait for Entra"),
            ));
        }
        let mut had = PlanSet::new();
        for (_, a) in base
            .user_assignments(u)
            .filter(|(_, a)| a.state.provides_plans())
        {
            had.union_with(&base.enabled(a.sku, &a.disabled));
        }
        let mut has: BTreeSet<Guid> = BTreeSet::new();
        for a in states.iter().filter(|a| a.state.provides_plans()) {
            has.extend(ids(fresh, &fresh.enabled(a.sku, &a.disabled)));
        }
        let lost: BTreeSet<Guid> = had
            .iter()
            .filter(|&p| !has.contains(&base.plans[p.ix()].id))
            .filter(|&p| {
                !ids(base, &base.rules.superseding(p))
                    .iter()
                    .any(|q| has.contains(q))
            })
            .map(|p| base.plans[p.ix()].id)
            .collect();
        if !lost.is_empty() {
            v.push(violation(
                base,
                "LOST_PLANS",
                None,
                u,
                &removed,
                names(fresh, base, &lost),
                "the user has lost plans that nothing they hold now supersedes".into(),
            ));
        }
    }
    v
}
