//! Property tests over random tenants: removing every assignment the engine calls removable
//! never shrinks a user's effective plans, and every plan passes the replay.

use licshift::diag::Origin;
use licshift::engine::{self, Params};
use licshift::model::*;
use proptest::prelude::*;

/// A small deterministic generator: proptest draws the seed, the tenant follows from it.
pub struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

fn random_set(r: &mut Rng, from: &PlanSet, pct: u64) -> PlanSet {
    PlanSet::from_iter_idx(from.iter().filter(|_| r.chance(pct)))
}

fn tenant(seed: u64) -> Tenant {
    tenant_with(seed, false)
}

fn tenant_with(seed: u64, plant: bool) -> Tenant {
    let mut r = Rng(seed);
    let mut t = Tenant::default();
    let n_plans = 4 + r.below(10) as usize;
    for i in 0..n_plans {
        t.plans.push(ServicePlan {
            id: Guid(1000 + i as u128),
            name: format!("P{i}"),
            friendly_name: None,
        });
    }
    let all = PlanSet::from_iter_idx((0..n_plans as u32).map(PlanIdx));
    for i in 0..(2 + r.below(3)) {
        let mut plans = random_set(&mut r, &all, 50);
        plans.insert(PlanIdx(r.below(n_plans as u64) as u32));
        let enabled = 2 + r.below(12) as i64;
        let seats = r.chance(80).then(|| Seats {
            enabled,
            warning: 0,
            suspended: 0,
            consumed: r.below(enabled as u64 + 2) as i64,
        });
        t.skus.push(Sku {
            id: Guid(2000 + i as u128),
            part_number: format!("SKU{i}"),
            display_name: None,
            plans,
            company_plans: PlanSet::new(),
            seats,
            origin: Origin::default(),
        });
    }
    let n_users = 1 + r.below(10) as usize;
    for i in 0..n_users {
        let location = match r.below(4) {
            0 => None,
            1 => Country::parse("CN"),
            _ => Country::parse("US"),
        };
        t.users.push(User {
            id: Guid(3000 + i as u128),
            upn: format!("u{i}@t.test"),
            display_name: String::new(),
            location,
            account_enabled: r.chance(90),
            department: Default::default(),
            wave_key: None,
            origin: Origin::default(),
        });
    }
    let n_groups = 1 + r.below(4) as usize;
    for i in 0..n_groups {
        t.groups.push(Group {
            id: r.chance(80).then_some(Guid(4000 + i as u128)),
            name: format!("G{i}"),
            security_enabled: Some(true),
            processing_state: None,
            origin: Origin::default(),
        });
        let mut lines = Vec::new();
        for s in 0..t.skus.len() {
            if r.chance(40) {
                let sku = SkuIdx(s as u32);
                let disabled = random_set(&mut r, &t.skus[s].plans, 20);
                let status = if t.groups[i].id.is_some() && r.chance(40) {
                    TemplateStatus::Existing
                } else {
                    TemplateStatus::Proposed
                };
                lines.push(TemplateLine {
                    sku,
                    disabled,
                    status,
                    origin: Origin::default(),
                });
            }
        }
        t.templates.push(lines);
    }
    let mut members = Vec::new();
    for u in 0..n_users {
        for g in 0..n_groups {
            if r.chance(50) {
                members.push((UserIdx(u as u32), GroupIdx(g as u32)));
            }
        }
        for s in 0..t.skus.len() {
            if r.chance(40) {
                let state = [
                    State::Active,
                    State::Active,
                    State::Active,
                    State::ActiveWithError,
                    State::Error,
                    State::Disabled,
                ][r.below(6) as usize];
                let disabled = random_set(&mut r, &t.skus[s].plans, 25);
                t.assignments.push(Assignment {
                    user: UserIdx(u as u32),
                    sku: SkuIdx(s as u32),
                    source: Source::Direct,
                    disabled: disabled.into(),
                    state,
                    error: None,
                    origin: Origin::default(),
                });
            }
        }
        // Some existing group assignments, healthy or not.
        for g in 0..n_groups {
            if members.contains(&(UserIdx(u as u32), GroupIdx(g as u32))) && r.chance(40) {
                for line in t.templates[g].clone() {
                    let bad = r.chance(25);
                    t.assignments.push(Assignment {
                        user: UserIdx(u as u32),
                        sku: line.sku,
                        source: Source::Group(GroupIdx(g as u32)),
                        disabled: line.disabled.clone().into(),
                        state: if bad { State::Error } else { State::Active },
                        error: bad.then_some(LicenseError::CountViolation),
                        origin: Origin::default(),
                    });
                }
            }
        }
    }
    let mut specs = Vec::new();
    for _ in 0..r.below(6) {
        let a = r.below(n_plans as u64) as u128;
        let b = r.below(n_plans as u64) as u128;
        let kind = [
            RuleKind::Excludes,
            RuleKind::Requires,
            RuleKind::UnavailableIn,
            RuleKind::Supersedes,
        ][r.below(4) as usize];
        specs.push(RuleSpec {
            kind,
            plan: Guid(1000 + a),
            plan_name: String::new(),
            others: vec![(Guid(1000 + b), String::new())],
            countries: vec![Country::parse("CN").unwrap()],
            negated: false,
            source: RuleSource::Builtin("test"),
        });
    }
    if plant {
        crate::bridge_shapes::plant(&mut t, &mut members, &mut specs, &mut r);
    }
    let n_plans = t.plans.len();
    t.rules = Rules::resolve(specs, Vec::new(), n_plans, |g| {
        (g.0 >= 1000 && g.0 < 1000 + n_plans as u128).then(|| PlanIdx((g.0 - 1000) as u32))
    });
    t.tenant_location = if r.chance(50) {
        Country::parse("US")
    } else {
        None
    };
    t.finish(members);
    t
}

/// A random tenant whose plans also supersede one another at random: random rules alone seldom
/// let a swap keep every plan, and the bridge properties need swaps to test.
fn bridge_tenant(seed: u64) -> Tenant {
    let mut t = tenant_with(seed, true);
    let mut r = Rng(seed ^ 0x5eed);
    let n = t.plans.len();
    let mut specs = t.rules.specs.clone();
    for a in 0..n {
        for b in 0..n {
            if a != b && r.chance(35) {
                specs.push(RuleSpec {
                    kind: RuleKind::Supersedes,
                    plan: t.plans[a].id,
                    plan_name: String::new(),
                    others: vec![(t.plans[b].id, String::new())],
                    countries: Vec::new(),
                    negated: false,
                    source: RuleSource::Builtin("test"),
                });
            }
        }
    }
    t.rules = Rules::resolve(specs, Vec::new(), n, |g| {
        (g.0 >= 1000 && g.0 < 1000 + n as u128).then(|| PlanIdx((g.0 - 1000) as u32))
    });
    t
}

/// Effective plans recomputed from assignment states alone (the oracle).
fn effective(t: &Tenant, u: UserIdx, skip: &[AssignmentIdx], extra: &PlanSet) -> PlanSet {
    let mut s = extra.clone();
    for (i, a) in t.user_assignments(u) {
        if a.state.provides_plans() && !skip.contains(&i) {
            s.union_with(&t.enabled(a.sku, &a.disabled));
        }
    }
    s
}

/// Per SKU with known seats: the snapshot's consumed count, plus the users who hold it at the
/// end, less those who held it in the snapshot (one seat per user and SKU).
fn seats_at_the_end(t: &Tenant, t2: &Tenant, o2: &engine::Outcome) -> Vec<Option<i64>> {
    let holders = |held: &dyn Fn(UserIdx) -> Vec<SkuIdx>| {
        let mut n = vec![0i64; t.skus.len()];
        for u in 0..t.users.len() {
            let mut skus = held(UserIdx(u as u32));
            skus.sort_unstable();
            skus.dedup();
            for k in skus {
                n[k.ix()] += 1;
            }
        }
        n
    };
    let start = holders(&|u| {
        t.user_assignments(u)
            .filter(|(_, a)| a.state.provides_plans())
            .map(|(_, a)| a.sku)
            .collect()
    });
    let end = holders(&|u| {
        let uo = &o2.users[u.ix()];
        let removed: Vec<AssignmentIdx> = uo
            .directs
            .iter()
            .filter(|d| d.verdict.is_removable())
            .map(|d| d.assignment)
            .collect();
        t2.user_assignments(u)
            .filter(|(i, a)| a.state.provides_plans() && !removed.contains(i))
            .map(|(_, a)| a.sku)
            .chain(
                uo.groups
                    .iter()
                    .filter(|g| g.status == engine::GroupStatus::Predicted)
                    .flat_map(|g| g.lines.iter().map(|(k, _)| *k)),
            )
            .collect()
    });
    t.skus
        .iter()
        .enumerate()
        .map(|(k, s)| s.seats.map(|st| st.consumed + end[k] - start[k]))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn removing_every_removable_never_shrinks_plans(seed in any::<u64>(), exact in any::<bool>()) {
        let t = tenant(seed);
        let o = engine::simulate(&t, Params { tenant_location: None, strict_seats: seed % 2 == 0, exact });
        for u in 0..t.users.len() {
            let u = UserIdx(u as u32);
            let uo = &o.users[u.ix()];
            let before = effective(&t, u, &[], &PlanSet::new());
            prop_assert_eq!(&before, &uo.before);
            let removed: Vec<AssignmentIdx> = uo.directs.iter().filter(|d| d.verdict.is_removable()).map(|d| d.assignment).collect();
            // Only the groups the engine relies on: healthy or predicted to succeed.
            let mut groups = PlanSet::new();
            for g in uo.groups.iter().filter(|g| g.status.is_ok()) {
                groups.union_with(g.plans());
            }
            let after = effective(&t, u, &removed, &groups);
            prop_assert!(before.is_subset(&after), "user {} loses {:?}", u.0, before.minus(&after));
            for d in &uo.directs {
                prop_assert_eq!(t.assignments[d.assignment.ix()].source, Source::Direct);
            }
        }
        // And the replay agrees.
        let options = licshift::plan::PlanOptions { pilot: 2, growth: 2.0, max_wave: 3, exclude: vec![], exclude_file: None, rules_file: None, wave_by: None, seed, exact, diff_all: false, seat_formula: Default::default(), tenant_location: None, bridge: false };
        let plan = licshift::plan::build(&t, &o, &options);
        prop_assert!(licshift::plan::replay::replay(&t, &o, &plan).is_ok());
    }

    /// The bridge: every swap replays (a plan leaves only for one that supersedes it), the
    /// bridged user's group is predicted to succeed on the tenant the bridge leaves, and the
    /// waves planned there replay too.
    #[test]
    fn every_bridge_replays_and_lets_its_group_through(seed in any::<u64>()) {
        let t = bridge_tenant(seed);
        let params = Params { tenant_location: None, strict_seats: false, exact: false };
        let o = engine::simulate(&t, params);
        let (t2, o2, b) = engine::bridge::bridged(&t, &o, params);
        prop_assert!(licshift::plan::bridge::replay(&t, &o, &b).is_ok(), "{:?}", licshift::plan::bridge::replay(&t, &o, &b).err());
        for s in &b.swaps {
            let g = o2.users[s.user.ix()].groups.iter().find(|g| g.group == s.group);
            prop_assert!(g.is_some_and(|g| g.status.is_ok()), "user {} group {:?}: {:?}", s.user.0, s.group, g.map(|g| &g.status));
        }
        let options = licshift::plan::PlanOptions { pilot: 2, growth: 2.0, max_wave: 3, exclude: vec![], exclude_file: None, rules_file: None, wave_by: None, seed, exact: false, diff_all: false, seat_formula: Default::default(), tenant_location: None, bridge: true };
        let plan = licshift::plan::build(&t2, &o2, &options);
        let replayed = licshift::plan::replay::replay(&t2, &o2, &plan);
        prop_assert!(replayed.is_ok(), "{:?}", replayed.err());
        // The bridge runs after prepare and changes nobody else: a user neither swapped nor
        // refused for seats keeps every group status and verdict prepare gave.
        for u in 0..t.users.len() {
            let u = UserIdx(u as u32);
            if b.swap_of(u).is_some() || b.refused.iter().any(|r| r.user == u) {
                continue;
            }
            let status = |o: &engine::Outcome| o.users[u.ix()].groups.iter().map(|g| (g.group, g.status.clone())).collect::<Vec<_>>();
            prop_assert_eq!(status(&o), status(&o2), "user {}", t.users[u.ix()].upn);
            // Assignment indices differ between the two tenants; a user's direct SKUs do not.
            let verdicts = |o: &engine::Outcome| { let mut v = o.users[u.ix()].directs.iter().map(|d| (d.sku, d.verdict.is_removable())).collect::<Vec<_>>(); v.sort(); v };
            prop_assert_eq!(verdicts(&o), verdicts(&o2), "user {}", t.users[u.ix()].upn);
        }
        // The seats at the end, counted from the final tenant: who holds each SKU once the
        // groups are given, the swaps made and every removal done.
        for (k, after) in seats_at_the_end(&t, &t2, &o2).into_iter().enumerate() {
            if let Some(after) = after {
                prop_assert_eq!(o2.seats[k].after, after, "SKU {}", t.skus[k].part_number);
            }
        }
    }
}

/// The property above is only as good as its tenants: they must hold swaps, and refusals of
/// every kind.
#[test]
fn random_tenants_hold_bridges_and_refusals() {
    use licshift::engine::bridge::Refusal;
    let (mut swaps, mut group_swaps, mut no_counterpart, mut seats) = (0, 0, 0, 0);
    let (mut prepare_gives, mut no_pin) = (0, 0);
    // Issue #26's shapes among the swaps.
    let (mut widened, mut two_groups, mut via_group, mut short_away, mut from_prepare, mut late) =
        (0, 0, 0, 0, 0, 0);
    for seed in 0..3000u64 {
        let t = bridge_tenant(seed);
        let params = Params {
            tenant_location: None,
            strict_seats: false,
            exact: false,
        };
        let o = engine::simulate(&t, params);
        let (_, o2, b) = engine::bridge::bridged(&t, &o, params);
        swaps += b.swaps.len();
        for s in &b.swaps {
            let (u1, u2) = (&o.users[s.user.ix()], &o2.users[s.user.ix()]);
            let held_via_group = |k: SkuIdx| {
                t.user_assignments(s.user)
                    .any(|(_, a)| a.sku == k && matches!(a.source, Source::Group(_)))
            };
            let from_a_prepare_group = |k: SkuIdx| {
                u1.groups.iter().any(|g| {
                    g.status == engine::GroupStatus::Predicted && g.lines.iter().any(|l| l.0 == k)
                })
            };
            let named: std::collections::BTreeSet<GroupIdx> = u1
                .directs
                .iter()
                .filter_map(|d| match &d.verdict {
                    engine::Verdict::Blocked {
                        reason: engine::Reason::Conflict,
                        group,
                        ..
                    } => *group,
                    _ => None,
                })
                .collect();
            widened += usize::from(!s.widened.is_empty());
            two_groups += usize::from(named.len() >= 2);
            via_group += usize::from(s.add.iter().any(|(k, _)| held_via_group(*k)));
            short_away += usize::from(s.remove.iter().any(|k| o.seats[k.ix()].short));
            from_prepare += usize::from(s.add.iter().any(|(k, _)| from_a_prepare_group(*k)));
            late += usize::from(u2.groups.iter().any(|g| {
                g.group != s.group
                    && matches!(
                        g.status,
                        engine::GroupStatus::Fails(engine::Reason::Seats, _)
                    )
                    && u1.groups.iter().any(|h| {
                        h.group == g.group
                            && matches!(
                                h.status,
                                engine::GroupStatus::Fails(engine::Reason::Conflict, _)
                            )
                    })
            }));
        }
        group_swaps += b.swaps.iter().filter(|s| !s.leave.is_empty()).count();
        for r in &b.refused {
            match r.refusal {
                Refusal::NoCounterpart { .. } => no_counterpart += 1,
                Refusal::Seats { .. } => seats += 1,
                Refusal::PrepareGives { .. } => prepare_gives += 1,
                Refusal::NoPin { .. } => no_pin += 1,
                Refusal::NotAlone => {}
            }
        }
    }
    assert!(
        swaps >= 20
            && group_swaps >= 5
            && no_counterpart >= 20
            && seats >= 1
            && prepare_gives >= 1
            && no_pin >= 1,
        "swaps {swaps}, from a group {group_swaps}, no counterpart {no_counterpart}, seats {seats}, \
         taken away while a prepare group gives it {prepare_gives}, no pin {no_pin}"
    );
    let shapes = [
        widened,
        two_groups,
        via_group,
        short_away,
        from_prepare,
        late,
    ];
    assert!(
        shapes.iter().all(|&n| n >= 100),
        "pin widening a direct copy, two rows naming two groups, the SKU held via a group, \
         swapped-away SKU short, SKU from a prepare group, late seat: {shapes:?}"
    );
}
