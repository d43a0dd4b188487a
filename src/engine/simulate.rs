//! SPEC §3: current effective plans, the group assignment each user will hold (existing-healthy,
//! existing-failing, or predicted under the four checks), and a verdict per direct assignment.

use super::outcome::*;
use super::Params;
use crate::model::{Assignment, GroupIdx, PlanSet, SkuIdx, Source, Tenant, UserIdx};
use rayon::prelude::*;
use std::sync::Arc;

/// What a group's template gives, computed once per group rather than once per member.
struct TemplateFacts {
    lines: Arc<Lines>,
    excluded: PlanSet,
    /// Check 3 fails for every member.
    dependency: Option<Evidence>,
    /// Two plans of the template exclude each other.
    self_conflict: Option<Evidence>,
}

fn template_facts(t: &Tenant) -> Vec<Option<TemplateFacts>> {
    t.templates
        .iter()
        .map(|lines| {
            if lines.is_empty() {
                return None;
            }
            let lines = Lines::new(
                lines
                    .iter()
                    .map(|l| (l.sku, t.enabled(l.sku, &l.disabled)))
                    .collect(),
            );
            let plans = lines.plans();
            let excluded = t.rules.excluded_by(&plans);
            let dependency = t
                .rules
                .unmet_requirements(&plans)
                .into_iter()
                .next()
                .map(|(plan, needs)| Evidence::Dependency { plan, needs });
            let self_conflict = excluded.intersection(&plans).iter().next().map(|q| {
                let p = plans
                    .iter()
                    .find(|&p| {
                        t.rules
                            .excluded_by(&PlanSet::from_iter_idx([p]))
                            .contains(q)
                    })
                    .unwrap_or(q);
                Evidence::Conflict {
                    plan: p,
                    excludes: q,
                    with: ConflictWith::SameTemplate,
                }
            });
            Some(TemplateFacts {
                lines: Arc::new(lines),
                excluded,
                dependency,
                self_conflict,
            })
        })
        .collect()
}

/// Seats asked in two turns, for the tenant as the conflict bridge leaves it: prepare's group
/// assignments take their seats first (as decided on the snapshot), and the groups a swap lets
/// through ask theirs only when the swapped user is reprocessed, from what prepare and the
/// swaps left. Without turns a bridged user's late assignment would compete with prepare's
/// for a seat it can never take first.
#[derive(Debug, Clone, Default)]
pub struct SeatTurns {
    /// (user, group) assignments that reach the seat check only after the bridge, sorted.
    pub later: Vec<(UserIdx, GroupIdx)>,
    /// Per SKU: prepare's turn was short (all of prepare's requests for it fail).
    pub first_short: Vec<bool>,
    /// Prepare's seat failures as the snapshot decided them — (user, group, SKU, needed,
    /// free), sorted: a swap changes what the user holds only after prepare has run.
    pub first_failed: Vec<(UserIdx, GroupIdx, SkuIdx, i64, i64)>,
    /// Per SKU: seats left for the later turn.
    pub left: Vec<i64>,
}

/// Runs the whole simulation.
pub fn simulate(t: &Tenant, params: Params) -> Outcome {
    run(t, params, None)
}

/// The simulation of a bridged tenant, its seats taken in `turns`.
pub fn simulate_in_turns(t: &Tenant, params: Params, turns: &SeatTurns) -> Outcome {
    run(t, params, Some(turns))
}

fn run(t: &Tenant, params: Params, turns: Option<&SeatTurns>) -> Outcome {
    let facts = template_facts(t);
    let location = params.tenant_location.or(t.tenant_location);
    // Pass 1: per user, group statuses up to the seat check, and the new seats each asks for.
    let mut users: Vec<UserOutcome> = (0..t.users.len())
        .into_par_iter()
        .map(|u| first_pass(t, &facts, UserIdx(u as u32), location))
        .collect();

    // Pass 2: seats per SKU. Sums of integers: the same whatever the thread order.
    let mut seats: Vec<SeatUse> = t
        .skus
        .iter()
        .map(|s| match s.seats {
            Some(st) => {
                let free =
                    st.enabled - st.consumed - if params.strict_seats { st.warning } else { 0 };
                SeatUse {
                    known: true,
                    enabled: st.enabled,
                    free,
                    before: st.consumed,
                    ..Default::default()
                }
            }
            None => SeatUse {
                known: false,
                free: i64::MAX,
                ..Default::default()
            },
        })
        .collect();
    let requested = users
        .par_iter()
        .fold(
            || vec![0i64; t.skus.len()],
            |mut acc, uo| {
                for s in user_new_seats(uo) {
                    acc[s.ix()] += 1;
                }
                acc
            },
        )
        .reduce(
            || vec![0i64; t.skus.len()],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        );
    let mut later = vec![(0i64, 0i64, false); t.skus.len()];
    if let Some(turns) = turns {
        for &(u, g) in &turns.later {
            let ga = users[u.ix()].groups.iter().find(|ga| ga.group == g);
            for s in ga
                .filter(|ga| ga.status == GroupStatus::Predicted)
                .into_iter()
                .flat_map(|ga| &ga.new_seats)
            {
                later[s.ix()].0 += 1;
            }
        }
        for (s, l) in later.iter_mut().enumerate() {
            l.1 = turns.left[s].max(0);
            l.2 = seats[s].known && l.0 > l.1;
        }
    }
    for (s, use_) in seats.iter_mut().enumerate() {
        use_.requested = requested[s];
        use_.short = match turns {
            Some(turns) => turns.first_short[s],
            None => use_.known && requested[s] > use_.free.max(0),
        };
    }

    // Pass 3: seat failures, then verdicts.
    users.par_iter_mut().enumerate().for_each(|(u, uo)| {
        let u = UserIdx(u as u32);
        let is_later = |g: GroupIdx| turns.is_some_and(|x| x.later.binary_search(&(u, g)).is_ok());
        let short = |g: GroupIdx, s: SkuIdx| {
            let use_ = &seats[s.ix()];
            if is_later(g) {
                let (needed, free, short) = later[s.ix()];
                short.then_some((needed, free))
            } else if let Some(turns) = turns {
                let at = turns
                    .first_failed
                    .partition_point(|f| (f.0, f.1, f.2) < (u, g, s));
                turns
                    .first_failed
                    .get(at)
                    .filter(|f| (f.0, f.1, f.2) == (u, g, s))
                    .map(|f| (f.3, f.4))
            } else {
                use_.short.then_some((use_.requested, use_.free.max(0)))
            }
        };
        finish_user(t, short, u, uo, params.exact)
    });

    // Seats at the peak (after prepare) and after every removal.
    let deltas = users
        .par_iter()
        .enumerate()
        .fold(
            || vec![(0i64, 0i64); t.skus.len()],
            |mut acc, (u, uo)| {
                let (gained, released) = seat_changes(t, UserIdx(u as u32), uo);
                for s in gained {
                    acc[s.ix()].0 += 1;
                }
                for s in released {
                    acc[s.ix()].1 += 1;
                }
                acc
            },
        )
        .reduce(
            || vec![(0, 0); t.skus.len()],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| {
                    x.0 += y.0;
                    x.1 += y.1;
                });
                a
            },
        );
    for (s, use_) in seats.iter_mut().enumerate() {
        use_.peak = use_.before + deltas[s].0;
        use_.after = use_.peak - deltas[s].1;
    }
    Outcome {
        params,
        users,
        seats,
    }
}

fn user_new_seats(uo: &UserOutcome) -> Vec<SkuIdx> {
    let mut v: Vec<SkuIdx> = uo
        .groups
        .iter()
        .filter(|g| g.status == GroupStatus::Predicted)
        .flat_map(|g| g.new_seats.iter().copied())
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// SKUs a user holds in an assignment that gives plans.
fn held_skus<'a>(assignments: impl Iterator<Item = &'a Assignment>) -> Vec<SkuIdx> {
    let mut v: Vec<SkuIdx> = assignments
        .filter(|a| a.state.provides_plans())
        .map(|a| a.sku)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn first_pass(
    t: &Tenant,
    facts: &[Option<TemplateFacts>],
    u: UserIdx,
    tenant_location: Option<crate::model::Country>,
) -> UserOutcome {
    let assignments: Vec<&Assignment> = t.user_assignments(u).map(|(_, a)| a).collect();
    let mut before = PlanSet::new();
    for a in assignments.iter().filter(|a| a.state.provides_plans()) {
        before.union_with(&t.enabled(a.sku, &a.disabled));
    }
    let held = held_skus(assignments.iter().copied());
    let location = t.users[u.ix()].location.or(tenant_location);

    let mut groups: Vec<GroupAssignment> = Vec::new();
    for &g in t.user_groups(u) {
        let Some(f) = &facts[g.ix()] else { continue };
        let from_g: Vec<&&Assignment> = assignments
            .iter()
            .filter(|a| a.source == Source::Group(g))
            .collect();
        if let Some(bad) = from_g.iter().find(|a| !a.is_healthy()) {
            let lines = f.lines.clone();
            let ev = Evidence::Failing {
                sku: bad.sku,
                state: bad.state,
                error: bad.error,
            };
            groups.push(GroupAssignment {
                group: g,
                status: GroupStatus::Failing(Box::new(ev)),
                lines,
                new_seats: Vec::new(),
            });
            continue;
        }
        let complete = f
            .lines
            .iter()
            .all(|(s, _)| from_g.iter().any(|a| a.sku == *s));
        if complete && !from_g.is_empty() {
            // Healthy: what the tenant really gives, which is what stays.
            let own: Vec<(SkuIdx, PlanSet)> = from_g
                .iter()
                .map(|a| (a.sku, t.enabled(a.sku, &a.disabled)))
                .collect();
            let lines = if own[..] == f.lines[..] {
                f.lines.clone()
            } else {
                Arc::new(Lines::new(own))
            };
            groups.push(GroupAssignment {
                group: g,
                status: GroupStatus::Healthy,
                lines,
                new_seats: Vec::new(),
            });
            continue;
        }
        let new_seats: Vec<SkuIdx> = f
            .lines
            .iter()
            .map(|(s, _)| *s)
            .filter(|s| held.binary_search(s).is_err())
            .collect();
        groups.push(GroupAssignment {
            group: g,
            status: GroupStatus::Predicted,
            lines: f.lines.clone(),
            new_seats,
        });
    }

    // Checks 1–3 for every predicted group (check 4, seats, needs every user: pass 3).
    let predicted: Vec<usize> = (0..groups.len())
        .filter(|&i| groups[i].status == GroupStatus::Predicted)
        .collect();
    for &i in &predicted {
        let g = groups[i].group;
        let f = facts[g.ix()]
            .as_ref()
            .expect("predicted groups have a template");
        if let Some(ev) = conflict(t, f, g, &assignments, &groups, &predicted) {
            groups[i].status = GroupStatus::Fails(Reason::Conflict, Box::new(ev));
            continue;
        }
        let bad_location = match location {
            None => Some(Evidence::Location {
                location: None,
                plans: PlanSet::new(),
            }),
            Some(c) => {
                let plans = t.rules.unavailable_in(&f.lines.plans(), c);
                (!plans.is_empty()).then_some(Evidence::Location {
                    location: Some(c),
                    plans,
                })
            }
        };
        if let Some(ev) = bad_location {
            groups[i].status = GroupStatus::Fails(Reason::Location, Box::new(ev));
            continue;
        }
        if let Some(ev) = &f.dependency {
            groups[i].status = GroupStatus::Fails(Reason::Dependency, Box::new(ev.clone()));
        }
    }
    // A million users' outcomes are held at once: no spare capacity.
    groups.shrink_to_fit();
    UserOutcome {
        before,
        groups,
        ..Default::default()
    }
}

/// Check 1: a plan of the template excludes a plan the user has from any other source — all
/// direct assignments are still in place — or one another proposed template would give.
fn conflict(
    t: &Tenant,
    f: &TemplateFacts,
    g: GroupIdx,
    assignments: &[&Assignment],
    groups: &[GroupAssignment],
    predicted: &[usize],
) -> Option<Evidence> {
    if let Some(ev) = &f.self_conflict {
        return Some(ev.clone());
    }
    let culprit = |q| {
        f.lines
            .plans()
            .iter()
            .find(|&p| {
                t.rules
                    .excluded_by(&PlanSet::from_iter_idx([p]))
                    .contains(q)
            })
            .unwrap_or(q)
    };
    for a in assignments
        .iter()
        .filter(|a| a.source != Source::Group(g) && a.state.provides_plans())
    {
        let held = t.enabled(a.sku, &a.disabled);
        if let Some(q) = f.excluded.intersection(&held).iter().next() {
            let group = match a.source {
                Source::Group(h) => Some(h),
                Source::Direct => None,
            };
            return Some(Evidence::Conflict {
                plan: culprit(q),
                excludes: q,
                with: ConflictWith::Held { sku: a.sku, group },
            });
        }
    }
    for &j in predicted {
        let other = &groups[j];
        if other.group == g {
            continue;
        }
        if let Some(q) = f.excluded.intersection(other.plans()).iter().next() {
            return Some(Evidence::Conflict {
                plan: culprit(q),
                excludes: q,
                with: ConflictWith::Proposed { group: other.group },
            });
        }
    }
    None
}

/// `short(group, sku)`: (seats asked, seats free) when the group's turn for the SKU is short.
fn finish_user(
    t: &Tenant,
    short: impl Fn(GroupIdx, SkuIdx) -> Option<(i64, i64)>,
    u: UserIdx,
    uo: &mut UserOutcome,
    exact: bool,
) {
    for ga in uo
        .groups
        .iter_mut()
        .filter(|g| g.status == GroupStatus::Predicted)
    {
        let g = ga.group;
        if let Some((s, (needed, free))) = ga
            .new_seats
            .iter()
            .find_map(|&s| short(g, s).map(|n| (s, n)))
        {
            ga.status = GroupStatus::Fails(
                Reason::Seats,
                Box::new(Evidence::Seats {
                    sku: s,
                    needed,
                    free,
                }),
            );
        }
    }
    let mut group_plans = PlanSet::new();
    for ga in uo.groups.iter().filter(|g| g.status.is_ok()) {
        group_plans.union_with(&ga.plans());
    }
    // Groups only add: whatever the user gains, the groups give (SPEC §3.3 GAINS).
    let gains = !group_plans.minus(&uo.before).is_empty();
    let mut directs = Vec::new();
    for (ai, a) in t.user_assignments(u) {
        if a.source != Source::Direct {
            continue;
        }
        let enabled = t.enabled(a.sku, &a.disabled);
        let mut verdict = verdict(t, u, a.sku, &enabled, &group_plans, &uo.groups);
        if let Verdict::Removable { gains: g, .. } = &mut verdict {
            *g = gains;
            if gains && exact {
                verdict = Verdict::Blocked {
                    reason: Reason::Gains,
                    uncovered: Box::default(),
                    group: None,
                    evidence: None,
                    nested_via: None,
                };
            }
        }
        directs.push(DirectVerdict {
            assignment: ai,
            sku: a.sku,
            verdict,
        });
    }
    directs.shrink_to_fit();
    let mut after = group_plans.clone();
    for (ai, a) in t.user_assignments(u) {
        let removed = directs
            .iter()
            .any(|d| d.assignment == ai && d.verdict.is_removable());
        if !removed && a.state.provides_plans() {
            after.union_with(&t.enabled(a.sku, &a.disabled));
        }
    }
    uo.group_plans = group_plans;
    uo.after = after;
    uo.directs = directs;
}

fn verdict(
    t: &Tenant,
    u: UserIdx,
    sku: SkuIdx,
    enabled: &PlanSet,
    group_plans: &PlanSet,
    groups: &[GroupAssignment],
) -> Verdict {
    let uncovered = enabled.minus(group_plans);
    if uncovered.is_empty() {
        let covered_by = groups
            .iter()
            .filter(|g| g.status.is_ok() && g.plans().intersects(enabled))
            .map(|g| g.group)
            .collect();
        return Verdict::Removable {
            covered_by,
            gains: false,
        };
    }
    // A failing group that would have covered some of the gap is the reason.
    let failing = groups
        .iter()
        .filter(|g| !g.status.is_ok() && g.plans().intersects(&uncovered))
        .max_by_key(|g| {
            (
                g.plans().intersection(&uncovered).len(),
                std::cmp::Reverse(g.group),
            )
        });
    if let Some(g) = failing {
        return Verdict::Blocked {
            reason: g.status.reason().unwrap_or(Reason::NotCovered),
            uncovered: Box::new(uncovered),
            group: Some(g.group),
            evidence: g.status.evidence().cloned().map(Box::new),
            nested_via: None,
        };
    }
    // A group "holds the SKU or its plans" when it assigns the SKU itself, or gives most of
    // the plans the direct assignment enables (another SKU built from the same plans). One
    // shared plan — RMS_S_ENTERPRISE sits in E3 and in EMS — does not make EMS's group an E3 group.
    let related = groups.iter().any(|g| {
        g.lines.iter().any(|(s, _)| *s == sku)
            || 2 * g.plans().intersection(enabled).len() > enabled.len()
    });
    if related {
        return Verdict::Blocked {
            reason: Reason::NotCovered,
            uncovered: Box::new(uncovered),
            group: None,
            evidence: None,
            nested_via: None,
        };
    }
    Verdict::Blocked {
        reason: Reason::NotMember,
        uncovered: Box::new(uncovered),
        group: None,
        evidence: None,
        nested_via: nested_via(t, u, enabled),
    }
}

/// A licensed group the user reaches only through nesting, whose template has some of `plans`.
fn nested_via(t: &Tenant, u: UserIdx, plans: &PlanSet) -> Option<(GroupIdx, GroupIdx)> {
    if t.nested.is_empty() {
        return None;
    }
    for &start in t.user_groups(u) {
        let mut frontier = vec![start];
        let mut seen = vec![start];
        while let Some(child) = frontier.pop() {
            for n in t.nested.iter().filter(|n| n.child == child) {
                if seen.contains(&n.parent) {
                    continue;
                }
                seen.push(n.parent);
                let gives = t.templates[n.parent.ix()]
                    .iter()
                    .any(|l| t.enabled(l.sku, &l.disabled).intersects(plans));
                if gives {
                    return Some((n.parent, start));
                }
                frontier.push(n.parent);
            }
        }
    }
    None
}

/// SKUs the user gets a new seat of in prepare, and SKUs whose seat the removals release.
fn seat_changes(t: &Tenant, u: UserIdx, uo: &UserOutcome) -> (Vec<SkuIdx>, Vec<SkuIdx>) {
    let before = held_skus(t.user_assignments(u).map(|(_, a)| a));
    let mut ok_group_skus: Vec<SkuIdx> = uo
        .groups
        .iter()
        .filter(|g| g.status == GroupStatus::Predicted || g.status == GroupStatus::Healthy)
        .flat_map(|g| g.lines.iter().map(|l| l.0))
        .collect();
    ok_group_skus.sort_unstable();
    ok_group_skus.dedup();
    let gained: Vec<SkuIdx> = ok_group_skus
        .iter()
        .copied()
        .filter(|s| before.binary_search(s).is_err())
        .collect();
    let removed: Vec<_> = uo
        .directs
        .iter()
        .filter(|d| d.verdict.is_removable())
        .map(|d| d.assignment)
        .collect();
    let staying = held_skus(
        t.user_assignments(u)
            .filter(|(ai, _)| !removed.contains(ai))
            .map(|(_, a)| a),
    );
    let released = before
        .iter()
        .copied()
        .filter(|s| staying.binary_search(s).is_err() && ok_group_skus.binary_search(s).is_err())
        .collect();
    (gained, released)
}
