//! The shapes of issue #26, planted in the bridge property's random tenants so each class of
//! bridge bug is generated, not only hoped for: a small world of its own (a low tier L and a
//! high tier H that excludes and supersedes it) beside the random one, one user per shape,
//! each shape present or not at random.

use crate::props::Rng;
use licshift::diag::Origin;
use licshift::model::*;

/// Plans of the world, by position: L, H, a, b, x, v.
const L: usize = 0;
const H: usize = 1;
const A: usize = 2;
const B: usize = 3;
const X: usize = 4;
const V: usize = 5;

struct World<'a> {
    t: &'a mut Tenant,
    members: &'a mut Vec<(UserIdx, GroupIdx)>,
    plan: Vec<PlanIdx>,
}

impl World<'_> {
    fn set(&self, of: &[usize]) -> PlanSet {
        PlanSet::from_iter_idx(of.iter().map(|&i| self.plan[i]))
    }
    fn sku(&mut self, name: &str, plans: &[usize], enabled: i64, consumed: i64) -> SkuIdx {
        let i = self.t.skus.len();
        self.t.skus.push(Sku {
            id: Guid(2100 + i as u128),
            part_number: name.into(),
            display_name: None,
            plans: self.set(plans),
            company_plans: PlanSet::new(),
            seats: Some(Seats {
                enabled,
                warning: 0,
                suspended: 0,
                consumed,
            }),
            origin: Origin::default(),
        });
        SkuIdx(i as u32)
    }
    fn user(&mut self, name: &str) -> UserIdx {
        let i = self.t.users.len();
        self.t.users.push(User {
            id: Guid(3100 + i as u128),
            upn: format!("{name}@shape.test"),
            display_name: String::new(),
            location: Country::parse("US"),
            account_enabled: true,
            department: Default::default(),
            wave_key: None,
            origin: Origin::default(),
        });
        UserIdx(i as u32)
    }
    /// A group and its template: (SKU, disabled plans); `existing` when Entra has it already.
    fn group(&mut self, name: &str, lines: &[(SkuIdx, &[usize])], existing: bool) -> GroupIdx {
        let i = self.t.groups.len();
        self.t.groups.push(Group {
            id: Some(Guid(4100 + i as u128)),
            name: name.into(),
            security_enabled: Some(true),
            processing_state: None,
            origin: Origin::default(),
        });
        let lines = lines
            .iter()
            .map(|(k, off)| TemplateLine {
                sku: *k,
                disabled: self.set(off),
                status: if existing {
                    TemplateStatus::Existing
                } else {
                    TemplateStatus::Proposed
                },
                origin: Origin::default(),
            })
            .collect();
        self.t.templates.push(lines);
        GroupIdx(i as u32)
    }
    fn holds(&mut self, u: UserIdx, k: SkuIdx, source: Source, off: &[usize]) {
        let disabled = self.set(off);
        self.t.assignments.push(Assignment {
            user: u,
            sku: k,
            source,
            disabled: disabled.into(),
            state: State::Active,
            error: None,
            origin: Origin::default(),
        });
    }
    fn join(&mut self, u: UserIdx, g: GroupIdx) {
        self.members.push((u, g));
    }
}

/// Adds the world and, at random, each shape. Call before `Rules::resolve` and `finish`.
pub fn plant(
    t: &mut Tenant,
    members: &mut Vec<(UserIdx, GroupIdx)>,
    specs: &mut Vec<RuleSpec>,
    r: &mut Rng,
) {
    let base = t.plans.len();
    for (j, name) in ["L", "H", "a", "b", "x", "v"].iter().enumerate() {
        t.plans.push(ServicePlan {
            id: Guid(1000 + (base + j) as u128),
            name: format!("shape_{name}"),
            friendly_name: None,
        });
    }
    let guid = |j: usize| Guid(1000 + (base + j) as u128);
    for kind in [RuleKind::Excludes, RuleKind::Supersedes] {
        specs.push(RuleSpec {
            kind,
            plan: guid(H),
            plan_name: String::new(),
            others: vec![(guid(L), String::new())],
            countries: Vec::new(),
            negated: false,
            source: RuleSource::Builtin("test"),
        });
    }
    let plan = (0..6).map(|j| PlanIdx((base + j) as u32)).collect();
    let mut w = World { t, members, plan };
    let short_k = r.chance(50);
    let k = if short_k {
        w.sku("K", &[L, A], 2, 2)
    } else {
        w.sku("K", &[L, A], 1000, 0)
    };
    let e = w.sku("E", &[H, A, B], 1000, 0);
    let e5 = w.sku("E5", &[H, A, B, X], 1000, 0);
    let bi = w.sku("BI", &[X], 1000, 0);
    let vv = w.sku("V", &[V], 4, 3);
    let wv = w.sku("W", &[V], 1000, 0);
    // Everyone bridged holds K and BI directly; BI's row names the group that would give x.
    let conflicted = |w: &mut World, name: &str| {
        let u = w.user(name);
        w.holds(u, k, Source::Direct, &[]);
        w.holds(u, bi, Source::Direct, &[]);
        u
    };
    // 1. A pinned SKU the user also holds directly (with a plan off): the pin widens it.
    if r.chance(50) {
        let u = w.user("pin-widens");
        let hk = w.group("Hk", &[(k, &[])], true);
        w.holds(u, k, Source::Direct, &[A]);
        w.holds(u, k, Source::Group(hk), &[]);
        w.holds(u, bi, Source::Direct, &[]);
        w.join(u, hk);
        let g = w.group("G1", &[(e5, &[])], false);
        w.join(u, g);
    }
    // 2. Two blocked rows naming two groups: K's row names G3, BI's names G5.
    if r.chance(50) {
        let u = conflicted(&mut w, "two-rows");
        let g3 = w.group("G3", &[(e, &[])], false);
        let g5 = w.group("G5", &[(e5, &[])], false);
        w.join(u, g3);
        w.join(u, g5);
    }
    // 3. The group's SKU held already through another (existing) group, H off there.
    if r.chance(50) {
        let u = conflicted(&mut w, "held-via-group");
        let hx = w.group("Hx", &[(e, &[H])], true);
        w.holds(u, e, Source::Group(hx), &[H]);
        w.join(u, hx);
        let g = w.group("GEB", &[(e, &[]), (bi, &[])], false);
        w.join(u, g);
    }
    // 4. The swapped-away SKU short at prepare: another user's new K seat cannot be had.
    if short_k {
        let u = conflicted(&mut w, "short-k");
        let g = w.group("G4", &[(e5, &[])], false);
        w.join(u, g);
        let other = w.user("wants-k");
        let gk = w.group("Gk", &[(k, &[])], false);
        w.join(other, gk);
    }
    // 5. A swap adding a SKU a prepare group gives the user first (no new seat).
    if r.chance(50) {
        let u = conflicted(&mut w, "prepare-gives");
        let ge = w.group("GE lite", &[(e, &[H])], false);
        let gb = w.group("GB", &[(e, &[]), (bi, &[])], false);
        w.join(u, ge);
        w.join(u, gb);
    }
    // 6. A bridged user's second group asks the one free V seat after prepare gave it away.
    if r.chance(50) {
        let ann = conflicted(&mut w, "late-seat");
        let g6 = w.group("G6", &[(e5, &[])], false);
        let gev = w.group("GEV", &[(e, &[]), (vv, &[])], false);
        w.join(ann, g6);
        w.join(ann, gev);
        let bob = w.user("takes-v");
        w.holds(bob, wv, Source::Direct, &[]);
        w.join(bob, gev);
    }
}
