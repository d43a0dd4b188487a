//! The replay: apply prepare and each wave, in order, to the tenant's assignments and check
//! SPEC I1–I4 at every boundary. It recomputes effective plans from the assignment states
//! alone — not from the engine's verdicts — so an engine bug shows up here as a refused plan.

use super::Plan;
use crate::engine::{GroupStatus, Outcome};
use crate::error::{Error, Result};
use crate::model::{GroupIdx, PlanSet, SkuIdx, Source, Tenant, UserIdx};
use rayon::prelude::*;

/// What the replay proved, for plan.json and the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Checked {
    pub boundaries: usize,
    pub users_checked: usize,
    pub removals: usize,
    /// Consumed seats per SKU at each boundary: before, after prepare, after each wave.
    pub seats: Vec<Vec<i64>>,
}

/// One user's assignments during the replay.
#[derive(Clone)]
struct Held {
    sku: SkuIdx,
    source: Source,
    plans: PlanSet,
    provides: bool,
    removed: bool,
}

fn effective(held: &[Held]) -> PlanSet {
    let mut s = PlanSet::new();
    for h in held.iter().filter(|h| h.provides && !h.removed) {
        s.union_with(&h.plans);
    }
    s
}

/// A user's SKUs: a handful, so inline; the replay keeps one list per user.
type Skus = smallvec::SmallVec<[SkuIdx; 4]>;

fn skus(held: &[Held]) -> Skus {
    let mut v: Skus = held
        .iter()
        .filter(|h| h.provides && !h.removed)
        .map(|h| h.sku)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn user_name(t: &Tenant, u: UserIdx) -> String {
    t.users[u.ix()].upn.clone()
}

pub fn replay(t: &Tenant, o: &Outcome, plan: &Plan) -> Result<Checked> {
    // Baseline: the snapshot as it is.
    let mut state: Vec<Vec<Held>> = (0..t.users.len())
        .into_par_iter()
        .map(|u| {
            t.user_assignments(UserIdx(u as u32))
                .map(|(_, a)| Held {
                    sku: a.sku,
                    source: a.source,
                    plans: t.enabled(a.sku, &a.disabled),
                    provides: a.state.provides_plans(),
                    removed: false,
                })
                .collect()
        })
        .collect();
    let baseline: Vec<PlanSet> = state.par_iter().map(|h| effective(h)).collect();
    let baseline_skus: Vec<Skus> = state.par_iter().map(|h| skus(h)).collect();
    let mut consumed: Vec<i64> = t
        .skus
        .iter()
        .map(|s| s.seats.map_or(0, |x| x.consumed))
        .collect();
    let limit: Vec<Option<i64>> = t
        .skus
        .iter()
        .map(|s| s.seats.map(|x| x.enabled.max(x.consumed)))
        .collect();
    let mut seats_trace = vec![consumed.clone()];

    // Prepare: every group assignment predicted to succeed is added, whole.
    state.par_iter_mut().zip(&o.users).for_each(|(held, uo)| {
        let add: Vec<Held> = uo
            .groups
            .iter()
            .filter(|g| g.status == GroupStatus::Predicted)
            .flat_map(|g| {
                g.lines.iter().map(move |(sku, plans)| Held {
                    sku: *sku,
                    source: Source::Group(g.group),
                    plans: plans.clone(),
                    provides: true,
                    removed: false,
                })
            })
            .filter(|h| !held.iter().any(|x| x.sku == h.sku && x.source == h.source))
            .collect();
        // Exactly what is added: a million users' states are held until the last wave.
        held.reserve_exact(add.len());
        held.extend(add);
    });
    let bad = (0..t.users.len())
        .into_par_iter()
        .find_first(|&u| !baseline[u].is_subset(&effective(&state[u])));
    if let Some(u) = bad {
        let lost = baseline[u].minus(&effective(&state[u]));
        return Err(Error::Invariant(
            "I1",
            format!(
                "after prepare, {} would lose {}",
                user_name(t, UserIdx(u as u32)),
                t.plan_names(&lost).join(", ")
            ),
        ));
    }
    for (u, h) in state.iter().enumerate() {
        for s in skus(h) {
            if baseline_skus[u].binary_search(&s).is_err() {
                consumed[s.ix()] += 1;
            }
        }
    }
    check_seats(t, &consumed, &limit, "prepare")?;
    let peak = consumed.clone();
    seats_trace.push(consumed.clone());

    let mut removed_once = vec![false; t.assignments.len()];
    let mut removals = 0;
    for wave in &plan.waves {
        let mut touched: Vec<UserIdx> = Vec::new();
        for r in &wave.removals {
            let a = &t.assignments[r.assignment.ix()];
            if a.source != Source::Direct || a.user != r.user || a.sku != r.sku {
                return Err(Error::Invariant(
                    "I2",
                    format!(
                        "wave {} removes an assignment of {} that is not a direct {} assignment",
                        wave.number,
                        user_name(t, r.user),
                        t.sku_label(r.sku)
                    ),
                ));
            }
            if std::mem::replace(&mut removed_once[r.assignment.ix()], true) {
                return Err(Error::Invariant(
                    "I2",
                    format!(
                        "wave {} removes {}'s direct {} a second time",
                        wave.number,
                        user_name(t, r.user),
                        t.sku_label(r.sku)
                    ),
                ));
            }
            check_reliance(t, o, wave.number, r.user, &r.covered_by)?;
            let held = &mut state[r.user.ix()];
            let Some(pos) = held
                .iter()
                .position(|h| h.sku == r.sku && h.source == Source::Direct && !h.removed)
            else {
                return Err(Error::Invariant(
                    "I2",
                    format!(
                        "wave {}: {} holds no direct {} to remove",
                        wave.number,
                        user_name(t, r.user),
                        t.sku_label(r.sku)
                    ),
                ));
            };
            let before_skus = skus(held);
            held[pos].removed = true;
            let after_skus = skus(held);
            for s in before_skus
                .iter()
                .filter(|s| after_skus.binary_search(s).is_err())
            {
                consumed[s.ix()] -= 1;
            }
            touched.push(r.user);
            removals += 1;
        }
        touched.sort_unstable();
        touched.dedup();
        for &u in &touched {
            let now = effective(&state[u.ix()]);
            if !baseline[u.ix()].is_subset(&now) {
                let lost = baseline[u.ix()].minus(&now);
                return Err(Error::Invariant(
                    "I1",
                    format!(
                        "after wave {}, {} would lose {}",
                        wave.number,
                        user_name(t, u),
                        t.plan_names(&lost).join(", ")
                    ),
                ));
            }
        }
        check_seats(t, &consumed, &limit, &format!("wave {}", wave.number))?;
        if let Some(s) = (0..consumed.len()).find(|&s| consumed[s] > peak[s]) {
            return Err(Error::Invariant(
                "I3",
                format!(
                    "after wave {}, {} uses more seats than after prepare",
                    wave.number,
                    t.sku_label(SkuIdx(s as u32))
                ),
            ));
        }
        seats_trace.push(consumed.clone());
    }
    Ok(Checked {
        boundaries: plan.waves.len() + 1,
        users_checked: t.users.len(),
        removals,
        seats: seats_trace,
    })
}

/// I4: a removal relies only on groups that are healthy or predicted to succeed for that user.
fn check_reliance(
    t: &Tenant,
    o: &Outcome,
    wave: u32,
    u: UserIdx,
    covered_by: &[GroupIdx],
) -> Result<()> {
    for g in covered_by {
        let ok = o.users[u.ix()]
            .groups
            .iter()
            .any(|ga| ga.group == *g && ga.status.is_ok());
        if !ok {
            return Err(Error::Invariant("I4", format!("wave {wave} relies on group {} for {}, whose assignment is neither healthy nor predicted to succeed", t.group_label(*g), user_name(t, u))));
        }
    }
    Ok(())
}

/// I3: no SKU above its enabled seats — or above what it already used, for an over-assigned one.
fn check_seats(t: &Tenant, consumed: &[i64], limit: &[Option<i64>], at: &str) -> Result<()> {
    for (s, c) in consumed.iter().enumerate() {
        if let Some(l) = limit[s] {
            if *c > l {
                return Err(Error::Invariant(
                    "I3",
                    format!(
                        "after {at}, {} would use {c} seats of {l}",
                        t.sku_label(SkuIdx(s as u32))
                    ),
                ));
            }
        }
    }
    Ok(())
}
