//! `licshift suggest`: group templates mined from today's direct assignments.
//!
//! Users fall into cohorts (all users, or those sharing a value of `--by`). For each cohort and
//! each SKU held directly by at least `min_users` of its users, one template line is chosen:
//! by default the line that covers every one of those direct assignments (it enables every plan
//! any of them enables, so some users gain plans); with `exact`, the line that covers the most
//! of them with nobody gaining a plan (their most common disabled-plan set). A line whose plans
//! need a prerequisite gets it in the same template. The line goes to an existing group whose
//! direct members are those holders, ≥ 90% both ways, else to a new group.
//!
//! Nothing here is an estimate: `apply` adds the suggestions to a copy of the tenant, and the
//! figures the report gives are the engine's verdicts on it.

use crate::model::{
    Group, GroupIdx, PlanIdx, PlanSet, SkuIdx, Source, TemplateLine, TemplateStatus, Tenant,
    UserIdx,
};
use std::collections::{BTreeMap, BTreeSet};

pub struct SuggestOptions {
    pub min_users: usize,
    pub exact: bool,
    /// New groups are named `PREFIX Cohort SKU`.
    pub prefix: String,
    /// Direct assignments the snapshot's own templates already let go: left to them.
    pub already: BTreeSet<(UserIdx, SkuIdx)>,
}

/// Where a suggested line goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Existing(GroupIdx),
    New(String),
}

#[derive(Debug, Clone)]
pub struct Suggestion {
    pub cohort: String,
    pub sku: SkuIdx,
    pub target: Target,
    /// The template: the mined SKU first, then any SKU a prerequisite was pulled in from.
    pub lines: Vec<(SkuIdx, PlanSet)>,
    /// Plans enabled only because a plan of the line requires them.
    pub pulled_in: Vec<PlanIdx>,
    /// The cohort's users who hold the SKU directly.
    pub holders: Vec<UserIdx>,
    /// A new group's members: every holder, or with `exact` those the line covers exactly (a
    /// holder whose copy disables more would gain plans as a member).
    pub members: Vec<UserIdx>,
    /// How many of their direct assignments the line covers, as mined.
    pub covered: usize,
    pub direct: usize,
}

/// Share of a group's members and of the holders that must overlap for the group to be reused.
pub const REUSE_OVERLAP: f64 = 0.9;

/// Mines the suggestions. `cohorts` are (name, users), in the order they are reported.
pub fn mine(t: &Tenant, cohorts: &[(String, Vec<UserIdx>)], o: &SuggestOptions) -> Vec<Suggestion> {
    let in_groups = group_members(t);
    let mut out = Vec::new();
    for (cohort, users) in cohorts {
        // Each SKU's direct assignments among the cohort, by user.
        let mut by_sku: BTreeMap<SkuIdx, Vec<(UserIdx, &PlanSet)>> = BTreeMap::new();
        for &u in users {
            for (_, a) in t.user_assignments(u) {
                if a.source == Source::Direct && !o.already.contains(&(u, a.sku)) {
                    by_sku.entry(a.sku).or_default().push((u, &a.disabled));
                }
            }
        }
        for (sku, held) in by_sku {
            let mut holders: Vec<UserIdx> = held.iter().map(|h| h.0).collect();
            holders.dedup();
            if holders.len() < o.min_users.max(1) {
                continue;
            }
            let disabled = if o.exact {
                most_common(held.iter().map(|h| h.1))
            } else {
                held.iter()
                    .skip(1)
                    .fold(held[0].1.clone(), |acc, h| acc.intersection(h.1))
            };
            let covers =
                |h: &PlanSet| disabled.is_subset(h) && (!o.exact || h.is_subset(&disabled));
            let covered = held.iter().filter(|h| covers(h.1)).count();
            // `held` lists each user's assignments together: one pass finds the users all of
            // whose copies the line covers.
            let mut members: Vec<UserIdx> = Vec::with_capacity(holders.len());
            for run in held.chunk_by(|a, b| a.0 == b.0) {
                if run.iter().all(|h| covers(h.1)) {
                    members.push(run[0].0);
                }
            }
            let (lines, pulled_in) = with_prerequisites(t, sku, disabled);
            let target = reuse(t, &in_groups, &holders, sku)
                .map(Target::Existing)
                .unwrap_or_else(|| Target::New(new_name(t, &o.prefix, cohort, sku)));
            out.push(Suggestion {
                cohort: cohort.clone(),
                sku,
                target,
                lines,
                pulled_in,
                holders,
                members,
                covered,
                direct: held.len(),
            });
        }
    }
    out
}

/// `PREFIX Cohort SKU`; marked when an existing group has that name already, so the files
/// never name two groups alike.
fn new_name(t: &Tenant, prefix: &str, cohort: &str, sku: SkuIdx) -> String {
    // Entra takes a group displayName of at most 256 characters: a long cohort value is cut,
    // with a digest of the whole value so two long cohorts never share a name.
    const ENTRA_MAX: usize = 256 - " (new)".len();
    let sku_label = t.sku_label(sku);
    let room = ENTRA_MAX.saturating_sub(prefix.chars().count() + sku_label.chars().count() + 2);
    let cohort = if cohort.chars().count() > room {
        let digest = &crate::ingest::sha256(cohort.as_bytes())[..8];
        let keep = room.saturating_sub(digest.len() + 2);
        format!(
            "{}… {digest}",
            cohort.chars().take(keep).collect::<String>()
        )
    } else {
        cohort.to_string()
    };
    let name = format!("{prefix} {cohort} {sku_label}").trim().to_string();
    if t.groups.iter().any(|g| g.name.eq_ignore_ascii_case(&name)) {
        format!("{name} (new)")
    } else {
        name
    }
}

/// The most common set; on a tie the smallest, then the first by plan index, so the choice
/// never depends on the order users were read in.
fn most_common<'a>(sets: impl Iterator<Item = &'a PlanSet>) -> PlanSet {
    let mut counts: BTreeMap<Vec<PlanIdx>, usize> = BTreeMap::new();
    for s in sets {
        *counts.entry(s.iter().collect()).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by(|a, b| {
            a.1.cmp(&b.1)
                .then_with(|| b.0.len().cmp(&a.0.len()))
                .then_with(|| b.0.cmp(&a.0))
        })
        .map(|(plans, _)| PlanSet::from_iter_idx(plans))
        .unwrap_or_default()
}

/// The line for `sku`, with every `requires` met inside the template: a prerequisite the SKU
/// has is enabled; one only another SKU has comes in as a line of that SKU enabling just it.
fn with_prerequisites(
    t: &Tenant,
    sku: SkuIdx,
    disabled: PlanSet,
) -> (Vec<(SkuIdx, PlanSet)>, Vec<PlanIdx>) {
    let mut lines = vec![(sku, disabled)];
    let mut pulled = Vec::new();
    // Each round meets at least one requirement or stops; a few rounds settle any chain.
    for _ in 0..8 {
        let mut enabled = PlanSet::new();
        for (s, off) in &lines {
            enabled.union_with(&t.skus[s.ix()].plans.minus(off));
        }
        let Some((_, alts)) = t.rules.unmet_requirements(&enabled).into_iter().next() else {
            break;
        };
        let mut met = false;
        for (s, off) in lines.iter_mut() {
            if let Some(p) = alts
                .iter()
                .find(|p| off.contains(*p) && t.skus[s.ix()].plans.contains(*p))
            {
                off.remove(p);
                pulled.push(p);
                met = true;
                break;
            }
        }
        if !met {
            let other = (0..t.skus.len()).map(|i| SkuIdx(i as u32)).find_map(|s| {
                alts.iter()
                    .find(|p| t.skus[s.ix()].plans.contains(*p))
                    .map(|p| (s, p))
            });
            match other {
                Some((s, p)) if !lines.iter().any(|l| l.0 == s) => {
                    let mut only = t.skus[s.ix()].plans.clone();
                    only.remove(p);
                    lines.push((s, only));
                    pulled.push(p);
                }
                // The tenant has no prerequisite: the engine will say DEPENDENCY.
                _ => break,
            }
        }
    }
    (lines, pulled)
}

/// Each group's direct user members.
fn group_members(t: &Tenant) -> Vec<Vec<UserIdx>> {
    let mut m = vec![Vec::new(); t.groups.len()];
    for u in 0..t.users.len() {
        let u = UserIdx(u as u32);
        for g in t.user_groups(u) {
            m[g.ix()].push(u);
        }
    }
    m
}

/// An existing group whose members are the holders (≥ 90% of each in the other) and that
/// assigns the SKU in no template yet; the best overlap, then the first.
fn reuse(
    t: &Tenant,
    members: &[Vec<UserIdx>],
    holders: &[UserIdx],
    sku: SkuIdx,
) -> Option<GroupIdx> {
    let holders: BTreeSet<UserIdx> = holders.iter().copied().collect();
    let mut best: Option<(usize, GroupIdx)> = None;
    for (gi, ms) in members.iter().enumerate() {
        let g = GroupIdx(gi as u32);
        if t.groups[gi].id.is_none()
            || ms.is_empty()
            || t.templates[gi].iter().any(|l| l.sku == sku)
        {
            continue;
        }
        let both = ms.iter().filter(|u| holders.contains(u)).count();
        let enough = |n: usize| both as f64 >= REUSE_OVERLAP * n as f64;
        if enough(ms.len()) && enough(holders.len()) && best.is_none_or(|(b, _)| both > b) {
            best = Some((both, g));
        }
    }
    best.map(|(_, g)| g)
}

/// The tenant with the suggestions in it as proposed template lines (new groups with their
/// members); and the group each suggestion went to.
/// Takes the tenant: a million-user tenant held twice would be half a gigabyte more.
pub fn apply(t: Tenant, suggestions: &[Suggestion]) -> (Tenant, Vec<GroupIdx>) {
    let mut t2 = t;
    let mut memberships: Vec<(UserIdx, GroupIdx)> = Vec::with_capacity(t2.membership_count());
    for u in 0..t2.users.len() {
        let u = UserIdx(u as u32);
        memberships.extend(t2.user_groups(u).iter().map(|g| (u, *g)));
    }
    let mut groups = Vec::new();
    for s in suggestions {
        let g = match &s.target {
            Target::Existing(g) => *g,
            Target::New(name) => {
                let g = GroupIdx(t2.groups.len() as u32);
                t2.groups.push(Group {
                    id: None,
                    name: name.clone(),
                    security_enabled: Some(true),
                    processing_state: None,
                    origin: Default::default(),
                });
                t2.templates.push(Vec::new());
                memberships.extend(s.members.iter().map(|u| (*u, g)));
                g
            }
        };
        for (sku, disabled) in &s.lines {
            if t2.templates[g.ix()].iter().any(|l| l.sku == *sku) {
                continue;
            }
            t2.templates[g.ix()].push(TemplateLine {
                sku: *sku,
                disabled: disabled.clone(),
                status: TemplateStatus::Proposed,
                origin: Default::default(),
            });
        }
        groups.push(g);
    }
    t2.finish(memberships);
    (t2, groups)
}

/// The engine's verdicts on one suggested line.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub members: usize,
    /// Direct assignments this group covers that the engine finds removable.
    pub removable: usize,
    /// Users of the group who would gain plans, and the plans, with how many gain each.
    pub gaining_users: usize,
    pub gained: BTreeMap<PlanIdx, usize>,
    /// Members the group would need a new seat for.
    pub new_seats: usize,
    /// The holders' direct assignments of the SKU that stay blocked: reason code → users.
    pub blocked: BTreeMap<&'static str, Vec<UserIdx>>,
}

/// Per suggestion, what the engine decided on the tenant with every suggestion in it. One pass
/// over the users: a million of them, each looked at once, not once per suggestion.
pub fn figures(
    t: &Tenant,
    o: &super::Outcome,
    suggestions: &[Suggestion],
    groups: &[GroupIdx],
) -> Vec<Figures> {
    use super::Verdict;
    let mut out = vec![Figures::default(); suggestions.len()];
    let enabled: Vec<PlanSet> = suggestions
        .iter()
        .map(|s| {
            let mut e = PlanSet::new();
            for (sku, off) in &s.lines {
                e.union_with(&t.skus[sku.ix()].plans.minus(off));
            }
            e
        })
        .collect();
    let mut of_group: BTreeMap<GroupIdx, Vec<usize>> = BTreeMap::new();
    for (i, g) in groups.iter().enumerate() {
        of_group.entry(*g).or_default().push(i);
    }
    // Holders a suggestion left out of its group (--exact): their copy stays, and the report
    // says why.
    let mut left_out: BTreeMap<UserIdx, Vec<usize>> = BTreeMap::new();
    for (i, s) in suggestions.iter().enumerate() {
        let members: BTreeSet<UserIdx> = s.members.iter().copied().collect();
        for u in s.holders.iter().filter(|u| !members.contains(u)) {
            left_out.entry(*u).or_default().push(i);
        }
    }
    for u in 0..t.users.len() {
        let u = UserIdx(u as u32);
        let uo = &o.users[u.ix()];
        for i in left_out.get(&u).into_iter().flatten() {
            for d in uo.directs.iter().filter(|d| d.sku == suggestions[*i].sku) {
                if let Verdict::Blocked { reason, .. } = &d.verdict {
                    out[*i].blocked.entry(reason.code()).or_default().push(u);
                }
            }
        }
        for g in t.user_groups(u) {
            for &i in of_group.get(g).into_iter().flatten() {
                let (s, f) = (&suggestions[i], &mut out[i]);
                f.members += 1;
                if uo
                    .groups
                    .iter()
                    .any(|ga| ga.group == *g && !ga.new_seats.is_empty())
                {
                    f.new_seats += 1;
                }
                let gains = uo.gains().intersection(&enabled[i]);
                if !gains.is_empty() {
                    f.gaining_users += 1;
                    for p in gains.iter() {
                        *f.gained.entry(p).or_default() += 1;
                    }
                }
                for d in &uo.directs {
                    match &d.verdict {
                        Verdict::Removable { covered_by, .. }
                            if covered_by.contains(g) && s.lines.iter().any(|l| l.0 == d.sku) =>
                        {
                            f.removable += 1
                        }
                        Verdict::Blocked { reason, .. } if d.sku == s.sku => {
                            f.blocked.entry(reason.code()).or_default().push(u)
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    out
}
