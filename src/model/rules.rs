//! Service-plan relations: mutual exclusion, prerequisites, locations where a plan is unavailable.
//!
//! `RuleSpec` is a relation as written (by id, with where it came from); `Rules` is the set in
//! force for one tenant, resolved to plan indices for the engine.

use super::{Country, Guid, PlanIdx, PlanSet};
use crate::diag::Origin;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleKind {
    /// The plans cannot be enabled on one user at the same time.
    Excludes,
    /// The plan needs one of the others enabled in the same template.
    Requires,
    /// The plan cannot be assigned in these usage locations.
    UnavailableIn,
    /// The plan replaces the others: a higher tier of one service. Only the conflict bridge
    /// reads it.
    Supersedes,
}

impl RuleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Excludes => "excludes",
            RuleKind::Requires => "requires",
            RuleKind::UnavailableIn => "unavailable-in",
            RuleKind::Supersedes => "supersedes",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleSource {
    /// Built in, with the published statement it rests on.
    Builtin(&'static str),
    /// A row of the snapshot's `rules` file.
    File(Origin),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub kind: RuleKind,
    pub plan: Guid,
    pub plan_name: String,
    /// Other plans (excludes: any of them; requires: one of them).
    pub others: Vec<(Guid, String)>,
    pub countries: Vec<Country>,
    /// `!excludes` and friends: switch a default off.
    pub negated: bool,
    pub source: RuleSource,
}

/// The relations in force, resolved to the tenant's plans.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// Every relation in force (defaults minus switched-off ones, plus the file's).
    pub specs: Vec<RuleSpec>,
    /// Specs switched off by the rules file, for `licshift rules` and the report.
    pub switched_off: Vec<RuleSpec>,
    excludes: Vec<PlanSet>,
    requires: Vec<Vec<PlanSet>>,
    unavailable: Vec<Vec<Country>>,
    /// Per plan, the plans that supersede it.
    superseded_by: Vec<PlanSet>,
}

impl Rules {
    /// Builds the lookup tables; `index` maps a plan id to the tenant's index, if it has the plan.
    pub fn resolve(
        specs: Vec<RuleSpec>,
        switched_off: Vec<RuleSpec>,
        plan_count: usize,
        index: impl Fn(Guid) -> Option<PlanIdx>,
    ) -> Rules {
        let mut excludes = vec![PlanSet::new(); plan_count];
        let mut requires = vec![Vec::new(); plan_count];
        let mut unavailable = vec![Vec::new(); plan_count];
        let mut superseded_by = vec![PlanSet::new(); plan_count];
        for spec in &specs {
            let Some(p) = index(spec.plan) else { continue };
            match spec.kind {
                RuleKind::Excludes => {
                    for q in spec.others.iter().filter_map(|o| index(o.0)) {
                        if q != p {
                            excludes[p.ix()].insert(q);
                            excludes[q.ix()].insert(p);
                        }
                    }
                }
                // Only the prerequisites the tenant has count; a requirement none of whose
                // alternatives the tenant has names only absent plans and is inert (SPEC §3.4).
                RuleKind::Requires => {
                    let alts =
                        PlanSet::from_iter_idx(spec.others.iter().filter_map(|o| index(o.0)));
                    if !alts.is_empty() {
                        requires[p.ix()].push(alts);
                    }
                }
                RuleKind::UnavailableIn => {
                    unavailable[p.ix()].extend(spec.countries.iter().copied())
                }
                RuleKind::Supersedes => {
                    for q in spec.others.iter().filter_map(|o| index(o.0)) {
                        if q != p {
                            superseded_by[q.ix()].insert(p);
                        }
                    }
                }
            }
        }
        Rules {
            specs,
            switched_off,
            excludes,
            requires,
            unavailable,
            superseded_by,
        }
    }

    /// The plans that supersede `plan` (a `supersedes` rule names them).
    pub fn superseding(&self, plan: PlanIdx) -> PlanSet {
        self.superseded_by
            .get(plan.ix())
            .cloned()
            .unwrap_or_default()
    }

    /// Every plan that cannot be enabled beside some plan of `set`.
    pub fn excluded_by(&self, set: &PlanSet) -> PlanSet {
        let mut out = PlanSet::new();
        for p in set.iter() {
            if let Some(x) = self.excludes.get(p.ix()) {
                out.union_with(x);
            }
        }
        out
    }

    /// Plans of `set` whose prerequisites are not met inside `set` itself.
    pub fn unmet_requirements(&self, set: &PlanSet) -> Vec<(PlanIdx, PlanSet)> {
        let mut out = Vec::new();
        for p in set.iter() {
            for alts in self.requires.get(p.ix()).into_iter().flatten() {
                if !alts.intersects(set) {
                    out.push((p, alts.clone()));
                }
            }
        }
        out
    }

    /// Plans of `set` that cannot be assigned in `location`.
    pub fn unavailable_in(&self, set: &PlanSet, location: Country) -> PlanSet {
        PlanSet::from_iter_idx(set.iter().filter(|p| {
            self.unavailable
                .get(p.ix())
                .is_some_and(|c| c.contains(&location))
        }))
    }
}
