//! Per user and plan: the sources that enable it today against the groups that enable it once
//! every direct assignment is gone (the `diff.csv` view, SPEC §5).

use super::outcome::UserOutcome;
use crate::model::{GroupIdx, PlanIdx, PlanSet, SkuIdx, Source, Tenant, UserIdx};
use smallvec::SmallVec;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    Kept,
    Gained,
    Lost,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Kept => "kept",
            Change::Gained => "gained",
            Change::Lost => "lost",
        }
    }
}

#[derive(Debug, Clone)]
pub struct DiffRow {
    pub plan: PlanIdx,
    /// Inline: a plan has a source or two, and diff.csv holds millions of rows.
    pub before: SmallVec<[(Source, SkuIdx); 2]>,
    pub after: SmallVec<[(GroupIdx, SkuIdx); 2]>,
    pub change: Change,
}

/// What a user holds once every direct assignment is gone: the plans of the group
/// assignments the snapshot already has that give plans (the plan never removes one: the
/// replay keeps them), and of every group predicted to succeed. The one definition of
/// "after" that `diff`, diff.csv and `explain` share.
pub fn groups_alone(t: &Tenant, u: UserIdx, uo: &UserOutcome) -> PlanSet {
    let mut s = uo.group_plans.clone();
    for (_, a) in t.user_assignments(u) {
        if matches!(a.source, Source::Group(_)) && a.state.provides_plans() {
            s.union_with(&t.enabled(a.sku, &a.disabled));
        }
    }
    s
}

/// Rows for one user, by plan name. `all` includes kept plans.
pub fn diff_user(t: &Tenant, u: UserIdx, uo: &UserOutcome, all: bool) -> Vec<DiffRow> {
    let alone = groups_alone(t, u, uo);
    // Without kept rows only the plans on one side count; most users have none, and they
    // need no sources worked out.
    let plans: PlanSet = if all {
        uo.before.union(&alone)
    } else {
        let changed = uo.before.minus(&alone).union(&alone.minus(&uo.before));
        if changed.is_empty() {
            return Vec::new();
        }
        changed
    };
    // What each assignment enables, worked out once rather than once per plan.
    let sources: SmallVec<[(Source, SkuIdx, PlanSet); 4]> = t
        .user_assignments(u)
        .filter(|(_, a)| a.state.provides_plans())
        .map(|(_, a)| (a.source, a.sku, t.enabled(a.sku, &a.disabled)))
        .collect();
    let mut rows = Vec::new();
    for p in plans.iter() {
        let change = match (uo.before.contains(p), alone.contains(p)) {
            (true, true) => Change::Kept,
            (false, _) => Change::Gained,
            (true, false) => Change::Lost,
        };
        if change == Change::Kept && !all {
            continue;
        }
        let mut before: SmallVec<[(Source, SkuIdx); 2]> = sources
            .iter()
            .filter(|(_, _, enabled)| enabled.contains(p))
            .map(|(source, sku, _)| (*source, *sku))
            .collect();
        before.sort();
        let mut after: SmallVec<[(GroupIdx, SkuIdx); 2]> = uo
            .groups
            .iter()
            .filter(|g| g.status.is_ok())
            .flat_map(|g| {
                g.lines
                    .iter()
                    .filter(|l| l.1.contains(p))
                    .map(move |l| (g.group, l.0))
            })
            .chain(
                sources
                    .iter()
                    .filter_map(|(source, sku, enabled)| match source {
                        Source::Group(g) if enabled.contains(p) => Some((*g, *sku)),
                        _ => None,
                    }),
            )
            .collect();
        after.sort();
        after.dedup();
        rows.push(DiffRow {
            plan: p,
            before,
            after,
            change,
        });
    }
    rows.sort_by(|a, b| {
        t.plans[a.plan.ix()]
            .name
            .cmp(&t.plans[b.plan.ix()].name)
            .then(a.plan.cmp(&b.plan))
    });
    rows
}
