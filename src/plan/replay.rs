//! The replay: apply prepare and each wave, in order, to the tenant's assignments and check
//! SPEC I1–I4 at every boundary. It recomputes effective plans from the assignment states
//! alone — not from the engine's verdicts — so an engine bug shows up here as a refused plan.

use super::Plan;
use crate::engine::{GroupStatus, Outcome, UserOutcome};
use crate::error::{Error, Result};
use crate::model::{AssignmentIdx, GroupIdx, PlanSet, SkuIdx, Source, Tenant, UserIdx};
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

/// One user's assignments during the replay. A million users hold some four and a half
/// million of these until the last wave, so the plans an assignment gives are named, not
/// copied: 28 bytes instead of 56.
#[derive(Clone)]
struct Held {
    sku: SkuIdx,
    source: Source,
    gives: Gives,
    provides: bool,
    removed: bool,
}

/// Where a held assignment's plans come from: an assignment of the snapshot (its SKU's plans
/// less its disabled ones), or a line of one of the user's group assignments in the outcome.
#[derive(Clone, Copy)]
enum Gives {
    Assignment(AssignmentIdx),
    Line { group: u32, line: u32 },
}

fn effective(t: &Tenant, uo: &UserOutcome, held: &[Held]) -> PlanSet {
    let mut s = PlanSet::new();
    for h in held.iter().filter(|h| h.provides && !h.removed) {
        match h.gives {
            Gives::Assignment(a) => {
                let a = &t.assignments[a.ix()];
                s.union_with(&t.enabled(a.sku, &a.disabled));
            }
            Gives::Line { group, line } => {
                s.union_with(&uo.groups[group as usize].lines[line as usize].1);
            }
        }
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
            // Room for what prepare adds too: growing a million lists then costs a million
            // reallocations.
            let predicted: usize = o.users[u]
                .groups
                .iter()
                .filter(|g| g.status == GroupStatus::Predicted)
                .map(|g| g.lines.len())
                .sum();
            let mut held =
                Vec::with_capacity(t.user_assignments(UserIdx(u as u32)).count() + predicted);
            held.extend(t.user_assignments(UserIdx(u as u32)).map(|(ai, a)| Held {
                sku: a.sku,
                source: a.source,
                gives: Gives::Assignment(ai),
                provides: a.state.provides_plans(),
                removed: false,
            }));
            held
        })
        .collect();
    let now = |u: usize, state: &[Vec<Held>]| effective(t, &o.users[u], &state[u]);
    let baseline: Vec<PlanSet> = (0..t.users.len())
        .into_par_iter()
        .map(|u| now(u, &state))
        .collect();
    let baseline_skus: Vec<Skus> = state.par_iter().map(|h| skus(h)).collect();
    let mut consumed: Vec<i64> = t
        .skus
        .iter()
        .map(|s| s.seats.map_or(0, |x| x.consumed))
        .collect();
    let limit = seat_limits(t);
    let mut seats_trace = vec![consumed.clone()];

    // Prepare: every group assignment predicted to succeed is added, whole.
    state.par_iter_mut().zip(&o.users).for_each(|(held, uo)| {
        let add: Vec<Held> = uo
            .groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.status == GroupStatus::Predicted)
            .flat_map(|(gi, g)| {
                g.lines.iter().enumerate().map(move |(li, (sku, _))| Held {
                    sku: *sku,
                    source: Source::Group(g.group),
                    gives: Gives::Line {
                        group: gi as u32,
                        line: li as u32,
                    },
                    provides: true,
                    removed: false,
                })
            })
            .filter(|h| !held.iter().any(|x| x.sku == h.sku && x.source == h.source))
            .collect();
        held.extend(add);
    });
    let bad = (0..t.users.len())
        .into_par_iter()
        .find_first(|&u| !baseline[u].is_subset(&now(u, &state)));
    if let Some(u) = bad {
        let lost = baseline[u].minus(&now(u, &state));
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
            let now = now(u.ix(), &state);
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
        boundaries: boundaries(plan),
        users_checked: t.users.len(),
        removals,
        seats: seats_trace,
    })
}

/// The stage boundaries a replay that passes checks: after prepare and after each wave.
/// plan.json states it while the replay is still running; a plan that fails is never published.
pub fn boundaries(plan: &Plan) -> usize {
    plan.waves.len() + 1
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

/// Per SKU, the seats a boundary may use: its enabled seats, or what an over-assigned SKU already
/// uses; `None` where the export gave no counts.
pub(super) fn seat_limits(t: &Tenant) -> Vec<Option<i64>> {
    t.skus
        .iter()
        .map(|s| s.seats.map(|x| x.enabled.max(x.consumed)))
        .collect()
}

/// I3: no SKU above its enabled seats — or above what it already used, for an over-assigned one.
pub(super) fn check_seats(
    t: &Tenant,
    consumed: &[i64],
    limit: &[Option<i64>],
    at: &str,
) -> Result<()> {
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

#[cfg(test)]
mod tests {
    #[test]
    fn a_held_assignment_stays_small() {
        // Four and a half million of them at a million users.
        assert!(std::mem::size_of::<super::Held>() <= 28);
    }
}
