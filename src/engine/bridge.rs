//! The conflict bridge (SPEC §4, `plan --bridge`): a user whose group template conflicts with a
//! license they hold is moved with one `assignLicense` call that adds the group's SKUs directly
//! and removes the conflicting ones together, so there is no moment with neither product. A
//! conflicting license that comes from a group is first pinned as a direct copy of the same SKU
//! (no new seat) and the user leaves that group. The group assignment then succeeds on
//! reprocessing, and the direct copy goes in a normal wave.
//!
//! A swap may take a plan away only when a plan it adds supersedes it (`supersedes` rules);
//! otherwise the user stays `CONFLICT` and the plan is named. The bridge takes a new seat
//! before it frees the old one, so it only uses seats prepare leaves free.

use super::outcome::*;
use super::Params;
use crate::model::{
    Assignment, AssignmentIdx, GroupIdx, PlanIdx, PlanSet, SkuIdx, Source, State, Tenant, UserIdx,
};
use rayon::prelude::*;
use std::sync::Arc;

/// One user's move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swap {
    pub user: UserIdx,
    /// The group whose assignment the conflict blocks, and the bridge lets through.
    pub group: GroupIdx,
    /// The group's template lines, assigned directly by the swap: (SKU, disabled plans).
    pub add: Vec<(SkuIdx, PlanSet)>,
    /// SKUs the swap removes, each then held directly (a group's license is pinned first).
    pub remove: Vec<SkuIdx>,
    /// The conflicting licenses as the snapshot has them, which the script expects to find
    /// live: (SKU, the group it comes from or `None` for direct, disabled plans).
    pub conflicting: Vec<(SkuIdx, Option<GroupIdx>, PlanSet)>,
    /// Licenses of the groups the user leaves, pinned first as direct copies:
    /// (group, SKU, disabled plans as the group gives them).
    pub pins: Vec<(GroupIdx, SkuIdx, PlanSet)>,
    /// Pinned SKUs the user already holds directly: the pin widens that direct copy to what
    /// the group gave (one assignLicense re-adding the SKU with the disabled plans both
    /// copies disable), since a second direct copy of a SKU cannot exist.
    pub widened: Vec<SkuIdx>,
    /// Groups the user leaves once the pins are active.
    pub leave: Vec<GroupIdx>,
    /// (plan the swap removes, plan it adds that supersedes it): what the change board signs.
    pub replaced: Vec<(PlanIdx, PlanIdx)>,
    /// SKUs the swap takes a new seat of, and SKUs whose seat it frees.
    pub new_seats: Vec<SkuIdx>,
    pub freed: Vec<SkuIdx>,
    /// The snapshot's assignments of the user that are gone once the swap is done.
    pub gone: Vec<AssignmentIdx>,
}

impl Swap {
    /// `direct` when every conflicting license is held directly, `group` when one is pinned.
    pub fn source_kind(&self) -> &'static str {
        if self.leave.is_empty() {
            "direct"
        } else {
            "group"
        }
    }
}

/// Why a user the conflict blocks is not bridged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The swap would take this plan (of this SKU) away, and no plan it adds supersedes it.
    NoCounterpart { plan: PlanIdx, sku: SkuIdx },
    /// Not enough seats of the SKU left after prepare for every bridged user.
    Seats { sku: SkuIdx, needed: i64, free: i64 },
    /// The group's template also conflicts with another proposed template, fails its location
    /// or dependency check, or the conflicting license comes from a group the user is not a
    /// direct member of: a swap alone would not make the assignment succeed.
    NotAlone,
    /// The user holds this SKU directly in a state that gives nothing (`Disabled`, `Error`), so
    /// the group's copy cannot be pinned: leaving the group would drop its plans until the swap.
    NoPin { sku: SkuIdx, group: GroupIdx },
    /// The swap would take this SKU away while a group prepare licenses gives it the user
    /// again: her seat would move between sources mid-swap, which the seat count cannot
    /// follow, so the case is left to be resolved by hand.
    PrepareGives { sku: SkuIdx },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub user: UserIdx,
    pub group: GroupIdx,
    pub refusal: Refusal,
}

/// Every swap, in user-principal-name order (the order the bridge script runs them in), and
/// every conflict-blocked user who is not bridged.
#[derive(Debug, Clone, Default)]
pub struct Bridge {
    pub swaps: Vec<Swap>,
    pub refused: Vec<Refused>,
    /// (user, position in `swaps`), by user: `verify` asks once per removal, millions of times.
    by_user: Vec<(UserIdx, u32)>,
    /// Per SKU: seats left once prepare and the swaps have taken theirs, and the swaps have
    /// freed theirs — what the groups a swap lets through draw on when reprocessed.
    left: Vec<i64>,
}

impl Bridge {
    pub fn swap_of(&self, u: UserIdx) -> Option<&Swap> {
        let i = self.by_user.binary_search_by_key(&u, |e| e.0).ok()?;
        Some(&self.swaps[self.by_user[i].1 as usize])
    }
}

/// The whole bridge step for `plan`, `verify` and `scripts` alike: who is bridged, the tenant
/// as the bridge leaves it, and the outcome there told from the snapshot.
pub fn bridged(t: &Tenant, first: &Outcome, params: Params) -> (Tenant, Outcome, Bridge) {
    let order = t.user_order();
    let b = plan(t, first, params, &order);
    let t2 = apply(t, &b);
    let turns = turns(first, &b);
    let mut o2 = super::simulate_in_turns(&t2, params, &turns);
    settle(&mut o2, first, &b, &turns);
    (t2, o2, b)
}

/// Prepare's group assignments keep the seats the snapshot's outcome gave them; the swapped
/// users' groups that failed at prepare for another reason ask theirs when reprocessed.
fn turns(first: &Outcome, b: &Bridge) -> super::SeatTurns {
    let mut later: Vec<(UserIdx, GroupIdx)> = b
        .swaps
        .iter()
        .flat_map(|s| {
            first.users[s.user.ix()]
                .groups
                .iter()
                .filter(|g| matches!(g.status, GroupStatus::Fails(r, _) if r != Reason::Seats))
                .map(move |g| (s.user, g.group))
        })
        .collect();
    later.sort_unstable();
    let mut first_failed: Vec<_> = first
        .users
        .iter()
        .enumerate()
        .flat_map(|(u, uo)| {
            uo.groups.iter().filter_map(move |g| match &g.status {
                GroupStatus::Fails(Reason::Seats, e) => match **e {
                    Evidence::Seats { sku, needed, free } => {
                        Some((UserIdx(u as u32), g.group, sku, needed, free))
                    }
                    _ => None,
                },
                _ => None,
            })
        })
        .collect();
    first_failed.sort_unstable();
    super::SeatTurns {
        later,
        first_failed,
        first_short: first.seats.iter().map(|s| s.short).collect(),
        left: b.left.clone(),
    }
}

/// Decides who is bridged. `order` is every user by principal name (`Tenant::user_order`).
pub fn plan(t: &Tenant, o: &Outcome, params: Params, order: &[UserIdx]) -> Bridge {
    let location = params.tenant_location.or(t.tenant_location);
    let found: Vec<Result<Swap, Refused>> = order
        .par_iter()
        .filter_map(|&u| candidate(t, o, u, location))
        .collect();
    let mut bridge = Bridge::default();
    let mut swaps = Vec::new();
    for f in found {
        match f {
            Ok(s) => swaps.push(s),
            Err(r) => bridge.refused.push(r),
        }
    }
    // Seats: prepare goes first, so the bridge has what prepare leaves. Users are served in the
    // script's order; a short SKU's remaining users stay blocked. The count may be below zero
    // (an over-assigned SKU): a freed seat then brings it nearer zero, not to one.
    let mut left: Vec<i64> = o
        .seats
        .iter()
        .map(|s| match (s.known, s.short) {
            (false, _) => i64::MAX,
            (true, true) => s.free.min(0),
            (true, false) => s.free - s.requested,
        })
        .collect();
    let start: Vec<i64> = left.iter().map(|l| (*l).max(0)).collect();
    let mut demand = vec![0i64; t.skus.len()];
    for s in &swaps {
        for k in &s.new_seats {
            demand[k.ix()] += 1;
        }
    }
    for s in swaps {
        match s.new_seats.iter().find(|k| left[k.ix()] < 1) {
            None => {
                for k in &s.new_seats {
                    left[k.ix()] -= 1;
                }
                bridge.swaps.push(s);
            }
            Some(&k) => bridge.refused.push(Refused {
                user: s.user,
                group: s.group,
                refusal: Refusal::Seats {
                    sku: k,
                    needed: demand[k.ix()],
                    free: start[k.ix()],
                },
            }),
        }
    }
    for s in &bridge.swaps {
        for k in &s.freed {
            left[k.ix()] = left[k.ix()].saturating_add(1);
        }
    }
    bridge.left = left;
    bridge.by_user = bridge
        .swaps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.user, i as u32))
        .collect();
    bridge.by_user.sort_unstable();
    bridge
}

fn plans_of(t: &Tenant, held: &[(SkuIdx, &PlanSet)]) -> PlanSet {
    let mut s = PlanSet::new();
    for (k, d) in held {
        s.union_with(&t.enabled(*k, d));
    }
    s
}

/// One user's swap, or why there is none; `None` when no conflict blocks the user.
///
/// Several groups may fail on a license the user holds, each named by a blocked row. The swap
/// is one call for one group: each is tried in the order of the rows that name them (the
/// snapshot's order of the user's direct licenses), and the first whose swap keeps every plan
/// and lets its assignment through is taken. The others are reprocessed with the user and
/// succeed or not on the tenant the swap leaves; a refusal names the first group.
fn candidate(
    t: &Tenant,
    o: &Outcome,
    u: UserIdx,
    location: Option<crate::model::Country>,
) -> Option<Result<Swap, Refused>> {
    let uo = &o.users[u.ix()];
    let held_conflict = |g: GroupIdx| {
        uo.groups.iter().any(|ga| {
            ga.group == g
                && matches!(&ga.status, GroupStatus::Fails(Reason::Conflict, ev)
                    if matches!(ev.as_ref(), Evidence::Conflict { with: ConflictWith::Held { .. }, .. }))
        })
    };
    let mut groups: Vec<GroupIdx> = Vec::new();
    for d in &uo.directs {
        if let Verdict::Blocked {
            reason: Reason::Conflict,
            group: Some(g),
            ..
        } = &d.verdict
        {
            if held_conflict(*g) && !groups.contains(g) {
                groups.push(*g);
            }
        }
    }
    let mut first_refusal = None;
    for g in groups {
        let ga = uo.groups.iter().find(|ga| ga.group == g)?;
        match swap_for(t, uo, u, ga, location) {
            Ok(s) => return Some(Ok(s)),
            Err(r) => {
                first_refusal.get_or_insert(r);
            }
        }
    }
    first_refusal.map(Err)
}

/// The swap that lets `ga`'s group through, or why it cannot.
fn swap_for(
    t: &Tenant,
    uo: &UserOutcome,
    u: UserIdx,
    ga: &GroupAssignment,
    location: Option<crate::model::Country>,
) -> Result<Swap, Refused> {
    let g = ga.group;
    let refuse = |refusal| {
        Err(Refused {
            user: u,
            group: g,
            refusal,
        })
    };
    let plans = ga.plans();
    let excluded = t.rules.excluded_by(plans);
    let user_location = t.users[u.ix()].location.or(location);
    // Another template still to be assigned that excludes this one: once the held license is
    // gone, the two would fail each other.
    let clashes = uo
        .groups
        .iter()
        .filter(|h| {
            h.group != g && matches!(h.status, GroupStatus::Predicted | GroupStatus::Fails(..))
        })
        .any(|h| h.plans().intersects(&excluded));
    let location_fails = user_location.is_none_or(|c| !t.rules.unavailable_in(plans, c).is_empty());
    if clashes
        || location_fails
        || !t.rules.unmet_requirements(plans).is_empty()
        || excluded.intersects(plans)
    {
        return refuse(Refusal::NotAlone);
    }

    let assignments: Vec<(AssignmentIdx, &Assignment)> = t.user_assignments(u).collect();
    let conflicts = |a: &Assignment| {
        a.state.provides_plans()
            && a.source != Source::Group(g)
            && t.enabled(a.sku, &a.disabled).intersects(&excluded)
    };
    let mut remove: Vec<SkuIdx> = Vec::new();
    let mut leave: Vec<GroupIdx> = Vec::new();
    let mut conflicting = Vec::new();
    for (_, a) in assignments.iter().filter(|(_, a)| conflicts(a)) {
        remove.push(a.sku);
        let from = match a.source {
            Source::Group(k) => Some(k),
            Source::Direct => None,
        };
        conflicting.push((a.sku, from, PlanSet::clone(&a.disabled)));
        if let Source::Group(k) = a.source {
            if !t.user_groups(u).contains(&k) {
                return refuse(Refusal::NotAlone);
            }
            leave.push(k);
        }
    }
    leave.sort_unstable();
    leave.dedup();
    // Only the lines the user will hold no working direct license of once the conflicting
    // ones are gone: re-adding a direct SKU would rewrite its disabled plans. A SKU held only
    // through another group is added directly all the same (a direct copy may sit beside an
    // inherited one; no new seat). A conflicting SKU the template also has is not removed but
    // re-added with the template's plans, in the same call.
    // A direct copy of a SKU that conflicts through a group does not stay: the pin widens it
    // and the swap's call then takes that SKU away.
    let staying: Vec<SkuIdx> = assignments
        .iter()
        .filter(|(_, a)| a.source == Source::Direct && a.state.provides_plans() && !conflicts(a))
        .map(|(_, a)| a.sku)
        .filter(|k| !remove.contains(k))
        .collect();
    let add: Vec<(SkuIdx, PlanSet)> = t.templates[g.ix()]
        .iter()
        .filter(|l| !staying.contains(&l.sku))
        .map(|l| (l.sku, l.disabled.clone()))
        .collect();
    if add.is_empty() {
        return refuse(Refusal::NotAlone);
    }
    let is_added = |k: SkuIdx| add.iter().any(|(s, _)| *s == k);
    remove.retain(|k| !is_added(*k));
    remove.sort_unstable();
    remove.dedup();
    // What the user holds a seat of when the bridge runs: the snapshot's working licenses and
    // what prepare's groups give. One seat per user and SKU: adding a SKU held already (from a
    // group prepare licensed) takes no new one.
    let held_before: Vec<SkuIdx> = assignments
        .iter()
        .filter(|(_, a)| a.state.provides_plans())
        .map(|(_, a)| a.sku)
        .chain(
            uo.groups
                .iter()
                .filter(|h| h.status == GroupStatus::Predicted)
                .flat_map(|h| h.lines.iter().map(|(k, _)| *k)),
        )
        .collect();

    // What the user holds just before the call (prepare done: predicted groups given) and
    // just after it. A pin gives the plans its group gave, so it changes nothing here.
    let predicted = uo
        .groups
        .iter()
        .filter(|h| h.status == GroupStatus::Predicted)
        .fold(PlanSet::new(), |mut s, h| {
            s.union_with(h.plans());
            s
        });
    // A direct copy that gives nothing (Disabled, Error) cannot be counted on as a pin: what
    // re-adding it yields is not documented, so no pin is made and the plans it would keep
    // must be covered otherwise (or the swap is refused).
    let idle_direct = |k: SkuIdx| {
        assignments
            .iter()
            .any(|(_, a)| a.source == Source::Direct && a.sku == k && !a.state.provides_plans())
    };
    let mut before = predicted.clone();
    // What the user holds between leaving and the swap: a plan lost there is lost for as long
    // as the wait, whatever the swap gives back.
    let mut between = predicted.clone();
    let mut after_held: Vec<(SkuIdx, &PlanSet)> = Vec::new();
    let mut gone = Vec::new();
    let mut pins = Vec::new();
    for (ai, a) in &assignments {
        if a.state.provides_plans() {
            before.union_with(&t.enabled(a.sku, &a.disabled));
        }
        let from_left = matches!(a.source, Source::Group(k) if leave.contains(&k));
        let pinned = from_left && a.state.provides_plans() && !idle_direct(a.sku);
        if a.state.provides_plans() && (!from_left || pinned) {
            between.union_with(&t.enabled(a.sku, &a.disabled));
        }
        if pinned {
            if let Source::Group(k) = a.source {
                pins.push((k, a.sku, PlanSet::clone(&a.disabled)));
            }
        }
        let stays = match a.source {
            Source::Direct => !remove.contains(&a.sku) && !is_added(a.sku),
            Source::Group(_) => !from_left,
        };
        if !stays {
            gone.push(*ai);
        } else if a.state.provides_plans() {
            after_held.push((a.sku, &a.disabled));
        }
        // A pinned copy of a license that does not conflict stays direct after the swap.
        if pinned && !remove.contains(&a.sku) && !is_added(a.sku) {
            after_held.push((a.sku, &a.disabled));
        }
    }
    if let Some(p) = before.minus(&between).iter().next() {
        let unpinned = assignments.iter().find_map(|(_, a)| match a.source {
            Source::Group(k)
                if leave.contains(&k)
                    && a.state.provides_plans()
                    && t.enabled(a.sku, &a.disabled).contains(p) =>
            {
                Some((a.sku, k))
            }
            _ => None,
        });
        return refuse(match unpinned {
            Some((sku, group)) => Refusal::NoPin { sku, group },
            None => Refusal::NoCounterpart {
                plan: p,
                sku: conflicting[0].0,
            },
        });
    }
    let added = plans_of(t, &add.iter().map(|(k, d)| (*k, d)).collect::<Vec<_>>());
    let mut after = plans_of(t, &after_held);
    after.union_with(&added);
    after.union_with(&predicted);
    let mut replaced = Vec::new();
    for p in before.minus(&after).iter() {
        match t.rules.superseding(p).intersection(&added).iter().next() {
            Some(q) => replaced.push((p, q)),
            None => {
                // The license that gave it: a conflicting one, or else one the swap rewrites.
                let sku = assignments
                    .iter()
                    .filter(|(_, a)| t.enabled(a.sku, &a.disabled).contains(p))
                    .find(|(_, a)| conflicts(a) || (is_added(a.sku) && a.source == Source::Direct))
                    .map_or(conflicting[0].0, |(_, a)| a.sku);
                return refuse(Refusal::NoCounterpart { plan: p, sku });
            }
        }
    }
    let new_seats = add
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| !held_before.contains(k))
        .collect();
    // A seat is freed of every SKU the user held a working license of and holds none of
    // after the call: a removed one, or one held only from a group she left unpinned.
    let mut freed: Vec<SkuIdx> = assignments
        .iter()
        .filter(|(_, a)| a.state.provides_plans())
        .map(|(_, a)| a.sku)
        .filter(|k| !after_held.iter().any(|(s, _)| s == k) && !is_added(*k))
        .collect();
    freed.sort_unstable();
    freed.dedup();
    let prepare_gives = |k: &SkuIdx| {
        uo.groups
            .iter()
            .filter(|h| h.status == GroupStatus::Predicted)
            .any(|h| h.lines.iter().any(|(s, _)| s == k))
    };
    if let Some(&sku) = freed.iter().find(|k| prepare_gives(k)) {
        return refuse(Refusal::PrepareGives { sku });
    }
    pins.sort();
    pins.dedup();
    let mut widened: Vec<SkuIdx> = pins
        .iter()
        .map(|(_, k, _)| *k)
        .filter(|k| {
            assignments
                .iter()
                .any(|(_, a)| a.source == Source::Direct && a.sku == *k)
        })
        .collect();
    widened.dedup();
    Ok(Swap {
        user: u,
        group: g,
        add,
        remove,
        conflicting,
        pins,
        widened,
        leave,
        replaced,
        new_seats,
        freed,
        gone,
    })
}

/// The tenant as the bridge leaves it: the swapped users hold the group's SKUs directly, no
/// longer hold the conflicting ones, and are out of the groups they left. Seats follow; a seat
/// freed of a SKU that prepare is short of is not counted back, since prepare runs first.
pub fn apply(t: &Tenant, b: &Bridge) -> Tenant {
    let mut t2 = t.clone();
    if b.swaps.is_empty() {
        return t2;
    }
    let mut by_user: Vec<Option<&Swap>> = vec![None; t.users.len()];
    for s in &b.swaps {
        by_user[s.user.ix()] = Some(s);
    }
    let mut memberships = Vec::with_capacity(t.membership_count());
    for u in 0..t.users.len() {
        let u = UserIdx(u as u32);
        let leave = by_user[u.ix()].map_or(&[][..], |s| &s.leave[..]);
        memberships.extend(
            t.user_groups(u)
                .iter()
                .filter(|g| !leave.contains(g))
                .map(|g| (u, *g)),
        );
    }
    let mut gone = vec![false; t.assignments.len()];
    for s in &b.swaps {
        for a in &s.gone {
            gone[a.ix()] = true;
        }
    }
    // A pin of a SKU the user holds directly widens that copy to what the group gave.
    let mut widen: Vec<(UserIdx, SkuIdx, &PlanSet)> = b
        .swaps
        .iter()
        .flat_map(|s| {
            s.pins
                .iter()
                .filter(|(_, k, _)| s.widened.contains(k))
                .map(move |(_, k, d)| (s.user, *k, d))
        })
        .collect();
    widen.sort_by_key(|w| (w.0, w.1));
    let mut assignments: Vec<Assignment> = t
        .assignments
        .iter()
        .zip(&gone)
        .filter(|(_, g)| !**g)
        .map(|(a, _)| {
            let mut a = a.clone();
            if a.source == Source::Direct {
                let at = widen.partition_point(|w| (w.0, w.1) < (a.user, a.sku));
                for w in widen[at..]
                    .iter()
                    .take_while(|w| (w.0, w.1) == (a.user, a.sku))
                {
                    a.disabled = Arc::new(a.disabled.intersection(w.2));
                }
            }
            a
        })
        .collect();
    for s in &b.swaps {
        let origin = |k: SkuIdx| {
            t.templates[s.group.ix()]
                .iter()
                .find(|l| l.sku == k)
                .map(|l| l.origin)
                .unwrap_or_default()
        };
        let direct = |sku, disabled: &PlanSet, origin| Assignment {
            user: s.user,
            sku,
            source: Source::Direct,
            disabled: Arc::new(disabled.clone()),
            state: State::Active,
            error: None,
            origin,
        };
        let swapped = |k: &SkuIdx| s.remove.contains(k) || s.add.iter().any(|(a, _)| a == k);
        for (_, k, d) in s.pins.iter().filter(|(_, k, _)| !swapped(k)) {
            // A direct copy already there was widened above.
            if s.widened.contains(k) {
                continue;
            }
            let from = t
                .user_assignments(s.user)
                .find(|(_, a)| a.sku == *k && matches!(a.source, Source::Group(_)))
                .map(|(_, a)| a.origin)
                .unwrap_or_default();
            assignments.push(direct(*k, d, from));
        }
        for (k, d) in &s.add {
            assignments.push(direct(*k, d, origin(*k)));
        }
        // The bridged tenant counts seats from the snapshot's: a SKU the swap adds that the
        // user held no working license of there is one more seat in use (even when a prepare
        // group gave it first: the simulation of this tenant then asks no seat for it).
        for (k, _) in &s.add {
            let held = t
                .user_assignments(s.user)
                .any(|(_, a)| a.sku == *k && a.state.provides_plans());
            if !held {
                if let Some(seats) = &mut t2.skus[k.ix()].seats {
                    seats.consumed += 1;
                }
            }
        }
        // Freed seats are counted off even for a SKU prepare is short of: prepare's turn is
        // decided on the snapshot (`SeatTurns`), and a reprocessed group may take them.
        for k in &s.freed {
            if let Some(seats) = &mut t2.skus[k.ix()].seats {
                seats.consumed -= 1;
            }
        }
    }
    t2.assignments = assignments;
    t2.finish(memberships);
    t2
}

/// The outcome on the bridged tenant, told from the snapshot: users the bridge had no seats
/// for are blocked `SEATS`, and the seat figures start from the snapshot's count, with the
/// bridge's new seats counted at the peak (taken before the old ones are freed), and the
/// reprocessed groups' seats only beyond those the swaps freed.
pub fn settle(o2: &mut Outcome, o1: &Outcome, b: &Bridge, turns: &super::SeatTurns) {
    let mut later = vec![0i64; o2.seats.len()];
    for &(u, g) in &turns.later {
        let ga = o2.users[u.ix()].groups.iter().find(|ga| ga.group == g);
        for k in ga
            .filter(|ga| ga.status == GroupStatus::Predicted)
            .into_iter()
            .flat_map(|ga| &ga.new_seats)
        {
            later[k.ix()] += 1;
        }
    }
    for r in &b.refused {
        let Refusal::Seats { sku, needed, free } = r.refusal else {
            continue;
        };
        for d in &mut o2.users[r.user.ix()].directs {
            if let Verdict::Blocked {
                reason,
                group: Some(g),
                evidence,
                ..
            } = &mut d.verdict
            {
                if *reason == Reason::Conflict && *g == r.group {
                    *reason = Reason::Seats;
                    *evidence = Some(Box::new(Evidence::Seats { sku, needed, free }));
                }
            }
        }
    }
    for (s, (now, then)) in o2.seats.iter_mut().zip(&o1.seats).enumerate() {
        let taken = b
            .swaps
            .iter()
            .filter(|w| w.new_seats.iter().any(|k| k.ix() == s))
            .count() as i64;
        let freed = b
            .swaps
            .iter()
            .filter(|w| w.freed.iter().any(|k| k.ix() == s))
            .count() as i64;
        now.before = then.before;
        now.free = then.free;
        now.requested = then.requested + taken;
        now.peak = then.peak + taken + (later[s] - freed).max(0);
    }
}
