//! Per user and plan: the sources that enable it today against the groups that enable it once
//! every direct assignment is gone (the `diff.csv` view, SPEC §5).

use super::outcome::UserOutcome;
use crate::model::{GroupIdx, PlanIdx, PlanSet, SkuIdx, Source, Tenant, UserIdx};

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
    pub before: Vec<(Source, SkuIdx)>,
    pub after: Vec<(GroupIdx, SkuIdx)>,
    pub change: Change,
}

/// Rows for one user, by plan name. `all` includes kept plans.
pub fn diff_user(t: &Tenant, u: UserIdx, uo: &UserOutcome, all: bool) -> Vec<DiffRow> {
    let plans: PlanSet = uo.before.union(&uo.group_plans);
    let mut rows = Vec::new();
    for p in plans.iter() {
        let change = match (uo.before.contains(p), uo.group_plans.contains(p)) {
            (true, true) => Change::Kept,
            (false, _) => Change::Gained,
            (true, false) => Change::Lost,
        };
        if change == Change::Kept && !all {
            continue;
        }
        let mut before: Vec<(Source, SkuIdx)> = t
            .user_assignments(u)
            .filter(|(_, a)| a.state.provides_plans() && t.enabled(a.sku, &a.disabled).contains(p))
            .map(|(_, a)| (a.source, a.sku))
            .collect();
        before.sort();
        let mut after: Vec<(GroupIdx, SkuIdx)> = uo
            .groups
            .iter()
            .filter(|g| g.status.is_ok())
            .flat_map(|g| {
                g.lines
                    .iter()
                    .filter(|l| l.1.contains(p))
                    .map(move |l| (g.group, l.0))
            })
            .collect();
        after.sort();
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
