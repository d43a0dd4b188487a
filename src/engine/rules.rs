//! The relations in force for a run: the built-in defaults, minus what the rules file switches
//! off (`!excludes`, `!requires`, `!unavailable-in`), plus what it adds.

use crate::model::{builtin_rules, Guid, PlanIdx, RuleKind, RuleSpec, Rules, Tenant};
use std::collections::HashMap;

/// Installs the rules in force into the tenant, resolved to its plans.
pub fn install(t: &mut Tenant, file_rules: Vec<RuleSpec>) {
    let (off, add): (Vec<RuleSpec>, Vec<RuleSpec>) =
        file_rules.into_iter().partition(|r| r.negated);
    let mut specs = Vec::new();
    let mut switched_off = Vec::new();
    for mut spec in builtin_rules() {
        let before = spec.clone();
        for o in off.iter().filter(|o| o.kind == spec.kind) {
            match spec.kind {
                RuleKind::Excludes => {
                    let pair = |a: Guid, b: Guid| {
                        (o.plan == a && o.others.iter().any(|x| x.0 == b))
                            || (o.plan == b && o.others.iter().any(|x| x.0 == a))
                    };
                    let plan = spec.plan;
                    spec.others.retain(|x| !pair(plan, x.0));
                }
                RuleKind::Requires if o.plan == spec.plan => spec.others.clear(),
                RuleKind::UnavailableIn if o.plan == spec.plan => {
                    spec.countries.retain(|c| !o.countries.contains(c))
                }
                _ => {}
            }
        }
        if spec != before {
            switched_off.push(before);
        }
        let empty = match spec.kind {
            RuleKind::UnavailableIn => spec.countries.is_empty(),
            _ => spec.others.is_empty(),
        };
        if !empty {
            specs.push(spec);
        }
    }
    specs.extend(add);
    let index: HashMap<Guid, PlanIdx> = t
        .plans
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id, PlanIdx(i as u32)))
        .collect();
    t.rules = Rules::resolve(specs, switched_off, t.plans.len(), |g| {
        index.get(&g).copied()
    });
}
