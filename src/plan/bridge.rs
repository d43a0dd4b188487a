//! The replay of the bridge stage: each swapped user's steps (pin, leave, swap, reprocess)
//! applied to the snapshot's assignments after prepare, with I1 in its bridge form checked at
//! every step — a plan leaves only when, in the same call, a plan that supersedes it arrives —
//! and I2/I3 at the stage's end. It reads the assignments and the rules, not the engine's list
//! of replaced plans, so an engine bug shows here as a refused plan.

use crate::engine::bridge::Bridge;
use crate::engine::{GroupStatus, Outcome};
use crate::error::{Error, Result};
use crate::model::{PlanSet, SkuIdx, Source, Tenant};
use rayon::prelude::*;

struct Held {
    sku: SkuIdx,
    source: Source,
    plans: PlanSet,
}

fn effective(held: &[Held]) -> PlanSet {
    let mut s = PlanSet::new();
    for h in held {
        s.union_with(&h.plans);
    }
    s
}

fn lost(t: &Tenant, user: crate::model::UserIdx, step: &str, lost: &PlanSet) -> Error {
    Error::Invariant(
        "I1",
        format!(
            "bridge, {step}: {} would lose {}",
            t.users[user.ix()].upn,
            t.plan_names(lost).join(", ")
        ),
    )
}

/// Checks the bridge stage of `o` (the outcome on the snapshot `t`). Returns the number of
/// swaps replayed.
pub fn replay(t: &Tenant, o: &Outcome, b: &Bridge) -> Result<usize> {
    let checked: Result<Vec<Vec<SkuIdx>>> = b
        .swaps
        .par_iter()
        .map(|s| {
            let u = s.user;
            let mut held: Vec<Held> = t
                .user_assignments(u)
                .filter(|(_, a)| a.state.provides_plans())
                .map(|(_, a)| Held {
                    sku: a.sku,
                    source: a.source,
                    plans: t.enabled(a.sku, &a.disabled),
                })
                .collect();
            for g in o.users[u.ix()]
                .groups
                .iter()
                .filter(|g| g.status == GroupStatus::Predicted)
            {
                for (sku, plans) in g.lines.iter() {
                    held.push(Held {
                        sku: *sku,
                        source: Source::Group(g.group),
                        plans: plans.clone(),
                    });
                }
            }
            let mut skus: Vec<SkuIdx> = held.iter().map(|h| h.sku).collect();
            skus.sort_unstable();
            skus.dedup();

            // The pin as the script makes it: a direct copy of the SKU with the group's plans,
            // or, where the user holds the SKU directly already, that copy widened to them. A
            // direct copy that gives nothing is not counted on to give anything once re-added.
            let idle = |k: SkuIdx| {
                t.user_assignments(u).any(|(_, a)| {
                    a.source == Source::Direct && a.sku == k && !a.state.provides_plans()
                })
            };
            for (_, sku, disabled) in s.pins.iter().filter(|(_, k, _)| !idle(*k)) {
                let plans = t.enabled(*sku, disabled);
                match held
                    .iter_mut()
                    .find(|h| h.source == Source::Direct && h.sku == *sku)
                {
                    Some(h) => h.plans.union_with(&plans),
                    None => held.push(Held {
                        sku: *sku,
                        source: Source::Direct,
                        plans,
                    }),
                }
            }
            let pinned = effective(&held);
            held.retain(|h| !matches!(h.source, Source::Group(k) if s.leave.contains(&k)));
            let left = effective(&held);
            if !pinned.is_subset(&left) {
                return Err(lost(
                    t,
                    u,
                    "leaving the conflicting group",
                    &pinned.minus(&left),
                ));
            }

            let is_added = |k: SkuIdx| s.add.iter().any(|(a, _)| *a == k);
            held.retain(|h| {
                !(h.source == Source::Direct && (s.remove.contains(&h.sku) || is_added(h.sku)))
            });
            let mut added = PlanSet::new();
            for (sku, disabled) in &s.add {
                let plans = t.enabled(*sku, disabled);
                added.union_with(&plans);
                held.push(Held {
                    sku: *sku,
                    source: Source::Direct,
                    plans,
                });
            }
            let swapped = effective(&held);
            let unreplaced = PlanSet::from_iter_idx(
                left.minus(&swapped)
                    .iter()
                    .filter(|&p| !t.rules.superseding(p).intersects(&added)),
            );
            if !unreplaced.is_empty() {
                return Err(lost(
                    t,
                    u,
                    "the swap, with no plan it adds superseding it,",
                    &unreplaced,
                ));
            }
            // Reprocessing gives the group's assignment: it only adds.
            let new: Vec<SkuIdx> = s
                .add
                .iter()
                .map(|(k, _)| *k)
                .filter(|k| skus.binary_search(k).is_err())
                .collect();
            Ok(new)
        })
        .collect();
    let taken = checked?;
    let mut consumed: Vec<i64> = o.seats.iter().map(|s| s.peak).collect();
    for new in &taken {
        for k in new {
            consumed[k.ix()] += 1;
        }
    }
    let limit = super::replay::seat_limits(t);
    super::replay::check_seats(t, &consumed, &limit, "the bridge's swaps")?;
    Ok(b.swaps.len())
}
