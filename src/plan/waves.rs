//! Choosing who goes when: a pilot that holds every shape of user, then waves that grow, with
//! excluded users (VIPs) last. Deterministic for a seed; no hash-map order anywhere.

use crate::engine::{Outcome, Verdict};
use crate::error::{Error, Result};
use crate::model::{AssignmentIdx, GroupIdx, GroupList, IdMap, PlanSet, SkuIdx, Tenant, UserIdx};
use rayon::prelude::*;
use std::collections::BTreeMap;

#[derive(Debug, Clone, serde::Serialize)]
pub struct PlanOptions {
    pub pilot: usize,
    pub growth: f64,
    pub max_wave: usize,
    /// Sorted (`read_exclude` sorts it): a VIP list of thousands is searched per candidate.
    #[serde(skip)]
    pub exclude: Vec<UserIdx>,
    pub exclude_file: Option<String>,
    pub wave_by: Option<String>,
    pub seed: u64,
    pub exact: bool,
    pub diff_all: bool,
    pub seat_formula: crate::cli::SeatFormula,
    pub tenant_location: Option<String>,
    /// `--rules FILE` as given: verify and scripts use the same file unless told otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules_file: Option<String>,
    /// `--bridge`; left out of plan.json when off, so a plan without it reads as before.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub bridge: bool,
}

impl PlanOptions {
    /// The options as the plan's id hashes them. `bridge` is named only when on, so a plan
    /// made without it keeps the id it had before the option existed.
    pub fn identity(&self) -> String {
        // A rules file is in the id through its digest (an input), not its path.
        let all = format!("{self:?}").replace(", rules_file: None", "");
        if self.bridge {
            all
        } else {
            all.replace(", bridge: false }", " }")
        }
    }
}

/// The smallest `--max-wave` that plans `users` users in about `target` waves: the pilot
/// (`pilot_users`), then waves growing by `growth` from `pilot` up to the cap. Grouping by
/// `--wave-by` and the excluded users' own waves are left out: it is advice, not a plan.
pub fn max_wave_for(
    users: usize,
    pilot_users: usize,
    pilot: usize,
    growth: f64,
    target: usize,
) -> Option<usize> {
    let waves = |cap: usize| {
        let mut left = users.saturating_sub(pilot_users);
        let mut size = pilot as f64;
        let mut n = usize::from(pilot_users > 0);
        while left > 0 {
            size = (size * growth).min(cap as f64);
            left = left.saturating_sub((size.ceil() as usize).clamp(1, cap));
            n += 1;
        }
        n
    };
    // With waves that never grow, no cap shortens the plan: --pilot or --growth must change.
    if waves(users.max(1)) > target {
        return None;
    }
    let (mut lo, mut hi) = (1usize, users.max(1));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if waves(mid) <= target {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Some(lo)
}

/// One direct assignment to remove.
#[derive(Debug, Clone)]
pub struct Removal {
    pub user: UserIdx,
    pub assignment: AssignmentIdx,
    pub sku: SkuIdx,
    pub covered_by: GroupList,
}

impl Removal {
    /// The assignment's own disabled plans, which rollback restores. Looked up rather than
    /// copied: a million-user plan holds 1.8M removals, and a copy each was 74 MB.
    pub fn disabled<'t>(&self, t: &'t Tenant) -> &'t PlanSet {
        &t.assignments[self.assignment.ix()].disabled
    }
}

#[derive(Debug, Clone)]
pub struct Wave {
    pub number: u32,
    pub pilot: bool,
    pub users: Vec<UserIdx>,
    pub removals: Vec<Removal>,
}

/// What the prepare stage creates before any removal.
#[derive(Debug, Clone, Default)]
pub struct Prepare {
    pub create_groups: Vec<GroupIdx>,
    /// (group, template line index) of every proposed template line.
    pub assign: Vec<(GroupIdx, usize)>,
    pub add_members: Vec<(GroupIdx, UserIdx)>,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub options: PlanOptions,
    pub prepare: Prepare,
    pub waves: Vec<Wave>,
    /// Every user by user principal name (`Tenant::user_order`): sorted once, used by every
    /// listing.
    pub by_upn: Vec<UserIdx>,
    /// Number of distinct shapes, and how many of them the pilot holds.
    pub shapes: usize,
    pub shapes_in_pilot: usize,
    /// With `--bridge`: the swaps between prepare and the waves. The waves, the outcome and the
    /// tenant they are built on are then the tenant as the bridge leaves it.
    pub bridge: Option<crate::engine::bridge::Bridge>,
}

impl Plan {
    pub fn blocked_count(&self, o: &Outcome) -> usize {
        o.users
            .iter()
            .flat_map(|u| &u.directs)
            .filter(|d| !d.verdict.is_removable())
            .count()
    }
}

/// SplitMix64: a fixed, portable mix so the seed picks the same users on every machine.
fn mix(seed: u64, id: u128) -> u64 {
    let mut z = seed ^ (id as u64) ^ ((id >> 64) as u64).rotate_left(17);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The kind of user, for the pilot: which direct SKUs (with their disabled plans) go, and
/// which groups cover them.
type Shape = (Vec<(SkuIdx, PlanSet)>, Vec<GroupIdx>);

fn shape(t: &Tenant, o: &Outcome, u: UserIdx) -> Shape {
    let mut skus = Vec::new();
    let mut groups = Vec::new();
    for d in &o.users[u.ix()].directs {
        if let Verdict::Removable { covered_by, .. } = &d.verdict {
            // A copy, not another reference: two threads counting references to one shared set
            // would fight over its cache line.
            skus.push((
                d.sku,
                PlanSet::clone(&t.assignments[d.assignment.ix()].disabled),
            ));
            groups.extend(covered_by.iter().copied());
        }
    }
    skus.sort();
    groups.sort();
    groups.dedup();
    (skus, groups)
}

fn min_some(a: Option<usize>, b: Option<usize>) -> Option<usize> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) | (None, x) => x,
    }
}

pub fn build(t: &Tenant, o: &Outcome, opt: &PlanOptions) -> Plan {
    let prepare = prepare(t);
    let is_excluded = |u: &UserIdx| opt.exclude.binary_search(u).is_ok();
    let key = |u: &UserIdx| (mix(opt.seed, t.users[u.ix()].id.0), t.users[u.ix()].id);
    let mut keyed: Vec<_> = (0..t.users.len() as u32)
        .into_par_iter()
        .map(UserIdx)
        .filter(|u| o.users[u.ix()].has_removals())
        .map(|u| (key(&u), u))
        .collect();
    // Keys are unique (they end in the user's id): unstable sorting is deterministic.
    keyed.par_sort_unstable();
    let candidates: Vec<UserIdx> = keyed.into_iter().map(|(_, u)| u).collect();
    let excluded: Vec<UserIdx> = candidates
        .iter()
        .copied()
        .filter(|u| is_excluded(u))
        .collect();
    let mut rest: Vec<UserIdx> = candidates
        .iter()
        .copied()
        .filter(|u| !is_excluded(u))
        .collect();

    // Every shape, with its first user in seeded order who is not excluded. A minimum is the
    // same whatever order the threads merge in, and the pilot is sorted below: the map's own
    // order never shows. Users are visited in index order, not seeded order: their records
    // then stream through the cache instead of being fetched at random.
    const NOT_CANDIDATE: u32 = u32::MAX;
    let mut position = vec![NOT_CANDIDATE; t.users.len()];
    for (i, u) in candidates.iter().enumerate() {
        position[u.ix()] = i as u32;
    }
    type Firsts = IdMap<Shape, Option<usize>>;
    let firsts: Firsts = position
        .par_iter()
        .enumerate()
        .filter(|(_, &i)| i != NOT_CANDIDATE)
        .fold(Firsts::default, |mut m, (u, &i)| {
            let u = UserIdx(u as u32);
            let first = (!is_excluded(&u)).then_some(i as usize);
            let e = m.entry(shape(t, o, u)).or_insert(first);
            *e = min_some(*e, first);
            m
        })
        .reduce(Firsts::default, |mut a, b| {
            for (k, v) in b {
                let e = a.entry(k).or_insert(v);
                *e = min_some(*e, v);
            }
            a
        });
    let shape_count = firsts.len();
    // One user of every shape first (the first in seeded order), then fill up to --pilot.
    let mut pilot: Vec<UserIdx> = firsts
        .into_values()
        .flatten()
        .map(|i| candidates[i])
        .collect();
    let shapes_in_pilot = pilot.len();
    pilot.sort_by_key(key);
    for &u in &rest {
        if pilot.len() >= opt.pilot {
            break;
        }
        if !pilot.contains(&u) {
            pilot.push(u);
        }
    }
    let in_pilot: std::collections::BTreeSet<UserIdx> = pilot.iter().copied().collect();
    rest.retain(|u| !in_pilot.contains(u));

    let mut user_waves: Vec<Vec<UserIdx>> = Vec::new();
    if !pilot.is_empty() {
        user_waves.push(pilot);
    }
    let mut target = opt.pilot as f64;
    let next_size = |target: &mut f64| {
        *target = (*target * opt.growth).min(opt.max_wave as f64);
        (target.ceil() as usize).clamp(1, opt.max_wave)
    };
    let by_value: Vec<Vec<UserIdx>> = match &opt.wave_by {
        Some(_) => {
            let mut by: BTreeMap<String, Vec<UserIdx>> = BTreeMap::new();
            for &u in &rest {
                by.entry(t.users[u.ix()].wave_key.clone().unwrap_or_default())
                    .or_default()
                    .push(u);
            }
            by.into_values().collect()
        }
        None => Vec::new(),
    };
    let groups: Vec<&[UserIdx]> = match &opt.wave_by {
        Some(_) => by_value.iter().map(Vec::as_slice).collect(),
        None => rest.chunks(1).collect(),
    };
    let mut current: Vec<UserIdx> = Vec::new();
    let mut size = next_size(&mut target);
    for g in groups {
        if !current.is_empty() && current.len() + g.len() > size {
            user_waves.push(std::mem::take(&mut current));
            size = next_size(&mut target);
        }
        // A value group bigger than a wave is split at --max-wave, never mixed with another.
        for chunk in g.chunks(opt.max_wave) {
            if !current.is_empty() && current.len() + chunk.len() > opt.max_wave {
                user_waves.push(std::mem::take(&mut current));
                size = next_size(&mut target);
            }
            current.extend_from_slice(chunk);
        }
    }
    if !current.is_empty() {
        user_waves.push(current);
    }
    for chunk in excluded.chunks(opt.max_wave) {
        user_waves.push(chunk.to_vec());
    }

    // Inside a wave users go by user principal name, as every listing does.
    let by_upn = t.user_order();
    let mut rank = vec![0u32; t.users.len()];
    for (r, u) in by_upn.iter().enumerate() {
        rank[u.ix()] = r as u32;
    }
    let waves = user_waves
        .into_par_iter()
        .enumerate()
        .map(|(i, mut users)| {
            users.sort_unstable_by_key(|u| rank[u.ix()]);
            let removals = users
                .iter()
                .flat_map(|&u| {
                    o.users[u.ix()]
                        .directs
                        .iter()
                        .filter_map(move |d| match &d.verdict {
                            Verdict::Removable { covered_by, .. } => Some(Removal {
                                user: u,
                                assignment: d.assignment,
                                sku: d.sku,
                                covered_by: covered_by.clone(),
                            }),
                            _ => None,
                        })
                })
                .collect();
            Wave {
                number: i as u32 + 1,
                pilot: i == 0,
                users,
                removals,
            }
        })
        .collect();
    Plan {
        by_upn,
        options: opt.clone(),
        prepare,
        waves,
        shapes: shape_count,
        shapes_in_pilot,
        bridge: None,
    }
}

fn prepare(t: &Tenant) -> Prepare {
    let mut p = Prepare::default();
    for (gi, lines) in t.templates.iter().enumerate() {
        let g = GroupIdx(gi as u32);
        for (li, line) in lines.iter().enumerate() {
            if line.status == crate::model::TemplateStatus::Proposed {
                p.assign.push((g, li));
            }
        }
        if t.groups[gi].id.is_none() && !lines.is_empty() {
            p.create_groups.push(g);
        }
    }
    for u in 0..t.users.len() {
        let u = UserIdx(u as u32);
        for &g in t.user_groups(u) {
            if t.groups[g.ix()].id.is_none() {
                p.add_members.push((g, u));
            }
        }
    }
    p.add_members.sort_by_cached_key(|(g, u)| {
        (
            t.groups[g.ix()].name.clone(),
            t.users[u.ix()].upn.to_lowercase(),
        )
    });
    p
}

/// `--exclude FILE`: one UPN or object id per line; `#` starts a comment.
pub fn read_exclude(path: &std::path::Path, t: &Tenant) -> Result<Vec<UserIdx>> {
    let text = std::fs::read_to_string(path)
        .map_err(Error::io(format!("reading --exclude {}", path.display())))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let key = line
            .split('#')
            .next()
            .unwrap_or("")
            .trim()
            .trim_start_matches('\u{feff}');
        if key.is_empty() || key.eq_ignore_ascii_case("userprincipalname") {
            continue;
        }
        match t.user_by_key(key) {
            Some(u) => out.push(u),
            None => {
                return Err(Error::Usage(
                    format!(
                        "{}:{}: no user {key:?} in the snapshot",
                        path.display(),
                        i + 1
                    ),
                    Some("list one user principal name or object id per line".into()),
                ))
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}
