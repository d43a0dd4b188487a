//! Checks against a fresh export taken after the prepare stage or after some waves ran.
//! Users, SKUs and plans are matched between the two snapshots by id; a group the prepare stage
//! created (no id in the baseline) by its name.

use super::{unsafe_reason, violation, Drift, NextWave, Pending, Resolved, Violation};
use crate::engine::Outcome;
use crate::model::{Assignment, GroupIdx, Guid, PlanSet, Source, Tenant, UserIdx};
use std::collections::{BTreeMap, BTreeSet};

pub(super) struct Match<'a> {
    pub base: &'a Tenant,
    pub fresh: &'a Tenant,
    users: BTreeMap<Guid, UserIdx>,
}

impl<'a> Match<'a> {
    pub fn new(base: &'a Tenant, fresh: &'a Tenant) -> Self {
        let users = fresh
            .users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.id, UserIdx(i as u32)))
            .collect();
        Match { base, fresh, users }
    }

    pub fn user(&self, u: UserIdx) -> Option<UserIdx> {
        self.users.get(&self.base.users[u.ix()].id).copied()
    }

    pub fn group(&self, g: GroupIdx) -> Option<GroupIdx> {
        let bg = &self.base.groups[g.ix()];
        let hit = |f: &crate::model::Group| match bg.id {
            Some(id) => f.id == Some(id),
            None => f.name.eq_ignore_ascii_case(&bg.name),
        };
        let hits: Vec<usize> = self
            .fresh
            .groups
            .iter()
            .enumerate()
            .filter(|(_, f)| hit(f))
            .map(|(i, _)| i)
            .collect();
        (hits.len() == 1).then(|| GroupIdx(hits[0] as u32))
    }
}

/// Plan ids of a set, to compare plans across two snapshots.
pub(super) fn ids(t: &Tenant, set: &PlanSet) -> BTreeSet<Guid> {
    set.iter().map(|p| t.plans[p.ix()].id).collect()
}

pub(super) fn names(t: &Tenant, base: &Tenant, ids: &BTreeSet<Guid>) -> Vec<String> {
    let mut v: Vec<String> = ids
        .iter()
        .map(|g| {
            t.plans
                .iter()
                .chain(base.plans.iter())
                .find(|p| p.id == *g)
                .map_or_else(|| g.to_string(), |p| p.name.clone())
        })
        .collect();
    v.sort();
    v
}

fn state_words(a: &Assignment) -> String {
    match a.error {
        Some(e) => format!("{} with {}", a.state.as_str(), e.as_str()),
        None => a.state.as_str().to_string(),
    }
}

/// The covering groups of a removal, from the baseline's verdict.
fn covering(t: &Tenant, o: &Outcome, r: &Resolved) -> Vec<GroupIdx> {
    let enabled = t.enabled(r.sku, &t.assignments[r.assignment.ix()].disabled);
    o.users[r.user.ix()]
        .groups
        .iter()
        .filter(|g| g.status.is_ok() && g.plans().intersects(&enabled))
        .map(|g| g.group)
        .collect()
}

/// How a covering group stands for a user in the fresh export: `None` when healthy.
pub(super) fn group_trouble(m: &Match, g: GroupIdx, fu: UserIdx) -> Option<String> {
    let name = m.base.group_label(g);
    let Some(fg) = m.group(g) else {
        return Some(format!(
            "group {name} is not in the fresh export (or not once)"
        ));
    };
    for line in &m.base.templates[g.ix()] {
        let sku_id = m.base.skus[line.sku.ix()].id;
        let part = m.base.sku_label(line.sku);
        match m
            .fresh
            .user_assignments(fu)
            .map(|(_, a)| a)
            .find(|a| a.source == Source::Group(fg) && m.fresh.skus[a.sku.ix()].id == sku_id)
        {
            None => return Some(format!("{name} has not assigned {part} to the user")),
            Some(a) if !a.is_healthy() => {
                return Some(format!("{name}'s {part} is {}", state_words(a)))
            }
            Some(_) => {}
        }
    }
    None
}

pub(crate) fn check_prepare(
    base: &Tenant,
    o: &Outcome,
    resolved: &[Resolved],
    fresh: &Tenant,
) -> Vec<Violation> {
    let m = Match::new(base, fresh);
    let mut v = Vec::new();
    let mut reported: BTreeSet<(UserIdx, GroupIdx)> = BTreeSet::new();
    for r in resolved {
        if let Some((plans, detail)) = unsafe_reason(base, o, r.user, r.assignment) {
            v.push(violation(
                base,
                "UNSAFE_REMOVAL",
                Some(r.wave),
                r.user,
                base.sku_label(r.sku),
                plans,
                detail,
            ));
            continue;
        }
        let Some(fu) = m.user(r.user) else {
            v.push(violation(
                base,
                "USER_GONE",
                Some(r.wave),
                r.user,
                base.sku_label(r.sku),
                Vec::new(),
                "the user is not in the fresh export".into(),
            ));
            continue;
        };
        let groups = covering(base, o, r);
        for &g in &groups {
            if let Some(trouble) = group_trouble(&m, g, fu) {
                if reported.insert((r.user, g)) {
                    v.push(violation(
                        base,
                        "GROUP_NOT_HEALTHY",
                        Some(r.wave),
                        r.user,
                        base.sku_label(r.sku),
                        Vec::new(),
                        trouble,
                    ));
                }
            }
        }
        let need = ids(
            base,
            &base.enabled(r.sku, &base.assignments[r.assignment.ix()].disabled),
        );
        let mut have = BTreeSet::new();
        for g in groups.iter().filter_map(|g| m.group(*g)) {
            for (_, a) in fresh
                .user_assignments(fu)
                .filter(|(_, a)| a.source == Source::Group(g) && a.is_healthy())
            {
                have.extend(ids(fresh, &fresh.enabled(a.sku, &a.disabled)));
            }
        }
        let missing: BTreeSet<Guid> = need.difference(&have).copied().collect();
        if !missing.is_empty() && !groups.iter().any(|g| reported.contains(&(r.user, *g))) {
            v.push(violation(
                base,
                "PLANS_NOT_COVERED",
                Some(r.wave),
                r.user,
                base.sku_label(r.sku),
                names(fresh, base, &missing),
                "the covering groups' healthy assignments do not give these plans".into(),
            ));
        }
    }
    v.extend(templates_enabling_more(&m));
    v
}

/// Template lines that came out enabling plans they were to disable (YAMMER_ENTERPRISE was to
/// be off and is on): every member would silently gain a service. One violation per group and
/// SKU, with the first member seen as the example.
fn templates_enabling_more(m: &Match) -> Vec<Violation> {
    let (base, fresh) = (m.base, m.fresh);
    let mut lines: BTreeMap<(GroupIdx, Guid), (GroupIdx, BTreeSet<Guid>)> = BTreeMap::new();
    for (gi, ls) in base.templates.iter().enumerate() {
        let g = GroupIdx(gi as u32);
        let Some(fg) = m.group(g) else { continue };
        for line in ls {
            let planned = ids(base, &base.enabled(line.sku, &line.disabled));
            lines.insert((fg, base.skus[line.sku.ix()].id), (g, planned));
        }
    }
    let mut found: BTreeMap<(GroupIdx, Guid), (UserIdx, BTreeSet<Guid>)> = BTreeMap::new();
    for a in &fresh.assignments {
        let Source::Group(fg) = a.source else {
            continue;
        };
        let key = (fg, fresh.skus[a.sku.ix()].id);
        let Some((_, planned)) = lines.get(&key) else {
            continue;
        };
        if found.contains_key(&key) {
            continue;
        }
        let more: BTreeSet<Guid> = ids(fresh, &fresh.enabled(a.sku, &a.disabled))
            .difference(planned)
            .copied()
            .collect();
        if !more.is_empty() {
            found.insert(key, (a.user, more));
        }
    }
    let mut v = Vec::new();
    for (key, (fu, more)) in found {
        let (g, _) = &lines[&key];
        let fresh_user = &fresh.users[fu.ix()];
        let Some(u) = base.user_by_key(&fresh_user.id.to_string()) else {
            continue;
        };
        let sku = base
            .skus
            .iter()
            .find(|s| s.id == key.1)
            .map_or(String::new(), |s| s.part_number.clone());
        let plans = names(fresh, base, &more);
        let detail = format!(
            "{}'s {sku} enables {} that its template disables: every member would gain these services",
            base.group_label(*g),
            plans.join(", ")
        );
        v.push(violation(
            base,
            "TEMPLATE_ENABLES_MORE",
            None,
            u,
            &sku,
            plans,
            detail,
        ));
    }
    v
}

pub(crate) struct AfterResult {
    pub violations: Vec<Violation>,
    pub drift: Vec<Drift>,
    pub next_wave: Option<NextWave>,
    pub pending: Vec<Pending>,
}

pub(crate) fn check_after(
    base: &Tenant,
    o: &Outcome,
    resolved: &[Resolved],
    wave: u32,
    fresh: &Tenant,
    fo: &Outcome,
    partial: bool,
) -> AfterResult {
    let m = Match::new(base, fresh);
    let mut v = Vec::new();
    let mut pending = Vec::new();
    let done: Vec<&Resolved> = resolved.iter().filter(|r| r.wave <= wave).collect();
    let mut users: Vec<UserIdx> = done.iter().map(|r| r.user).collect();
    users.sort();
    users.dedup();
    for &u in &users {
        let Some(fu) = m.user(u) else {
            v.push(violation(
                base,
                "USER_GONE",
                None,
                u,
                "",
                Vec::new(),
                "the user is not in the fresh export".into(),
            ));
            continue;
        };
        let mine: Vec<&&Resolved> = done.iter().filter(|r| r.user == u).collect();
        let w = mine.first().map(|r| r.wave);
        let mut troubles = Vec::new();
        let mut groups: Vec<GroupIdx> = mine.iter().flat_map(|r| covering(base, o, r)).collect();
        groups.sort();
        groups.dedup();
        for &g in &groups {
            if let Some(t) = group_trouble(&m, g, fu) {
                troubles.push(t);
            }
        }
        let before = ids(base, &o.users[u.ix()].before);
        let now = ids(fresh, &fo.users[fu.ix()].before);
        let lost: BTreeSet<Guid> = before.difference(&now).copied().collect();
        // A removal the wave skipped leaves the direct assignment in place: nothing is lost,
        // the user is pending (carried forward), not a violation.
        let (kept, removed): (Vec<&&Resolved>, Vec<&&Resolved>) = mine.iter().partition(|r| {
            let sku_id = base.skus[r.sku.ix()].id;
            fresh
                .user_assignments(fu)
                .any(|(_, a)| a.source == Source::Direct && fresh.skus[a.sku.ix()].id == sku_id)
        });
        if lost.is_empty() {
            for r in &kept {
                let why = if troubles.is_empty() {
                    "the wave skipped the user (see its log); the direct assignment still gives the plans".to_string()
                } else {
                    troubles.join("; ")
                };
                pending.push(Pending {
                    wave: r.wave,
                    user_id: base.users[u.ix()].id.to_string(),
                    user: base.users[u.ix()].upn.clone(),
                    sku_id: base.skus[r.sku.ix()].id.to_string(),
                    sku: base.sku_label(r.sku).to_string(),
                    covered_by: covering(base, o, r)
                        .iter()
                        .map(|g| base.group_label(*g).to_string())
                        .collect(),
                    reason: why,
                });
            }
            if removed.is_empty() {
                continue;
            }
        }
        let skus: Vec<&str> = mine.iter().map(|r| base.sku_label(r.sku)).collect();
        if !lost.is_empty() {
            let why = if troubles.is_empty() {
                "its plans are gone from every source".to_string()
            } else {
                troubles.join("; ")
            };
            v.push(violation(
                base,
                "PLANS_LOST",
                w,
                u,
                &skus.join("+"),
                names(fresh, base, &lost),
                why,
            ));
        } else {
            for t in troubles {
                v.push(violation(
                    base,
                    "GROUP_NOT_HEALTHY",
                    w,
                    u,
                    &skus.join("+"),
                    Vec::new(),
                    t,
                ));
            }
        }
    }
    let drift = drift(&m, o, &done, partial);

    // Re-check the next wave on the fresh export.
    let next = resolved.iter().map(|r| r.wave).filter(|&w| w > wave).min();
    let next_wave = next.map(|nw| {
        let mut safe = true;
        let mut count = 0;
        for r in resolved.iter().filter(|r| r.wave == nw) {
            count += 1;
            let Some(fu) = m.user(r.user) else { continue };
            let sku_id = base.skus[r.sku.ix()].id;
            let Some((fa, _)) = fresh
                .user_assignments(fu)
                .find(|(_, a)| a.source == Source::Direct && fresh.skus[a.sku.ix()].id == sku_id)
            else {
                continue;
            };
            if let Some((plans, detail)) = unsafe_reason(fresh, fo, fu, fa) {
                safe = false;
                v.push(violation(
                    base,
                    "NEXT_WAVE_UNSAFE",
                    Some(nw),
                    r.user,
                    base.sku_label(r.sku),
                    plans,
                    format!("on the fresh export: {detail}"),
                ));
            }
        }
        NextWave {
            wave: nw,
            removals: count,
            safe,
            why: None,
        }
    });
    pending.sort_by(|a, b| {
        (a.wave, a.user.to_lowercase(), &a.sku).cmp(&(b.wave, b.user.to_lowercase(), &b.sku))
    });
    AfterResult {
        violations: v,
        drift,
        next_wave,
        pending,
    }
}

/// One comparable line per assignment and membership, by ids that survive a re-export.
fn facts(t: &Tenant, u: UserIdx) -> BTreeSet<String> {
    let mut s = BTreeSet::new();
    for (_, a) in t.user_assignments(u) {
        let source = match a.source {
            Source::Direct => "direct".to_string(),
            Source::Group(g) => format!("from group {}", t.group_label(g)),
        };
        let mut disabled: Vec<String> = t.plan_names(&a.disabled);
        disabled.sort();
        let dis = if disabled.is_empty() {
            String::new()
        } else {
            format!(" without {}", disabled.join(", "))
        };
        s.insert(format!(
            "{} {source}{dis}, {}",
            t.sku_label(a.sku),
            state_words(a)
        ));
    }
    for g in t.user_groups(u) {
        s.insert(format!("member of {}", t.group_label(*g)));
    }
    s
}

/// `partial`: the fresh export is apply's read-back of some users (read-back.json): only the
/// users it holds are compared, and memberships, which it does not read, are not.
fn drift(m: &Match, o: &Outcome, done: &[&Resolved], partial: bool) -> Vec<Drift> {
    let (base, fresh) = (m.base, m.fresh);
    let mut out = Vec::new();
    for (i, user) in base.users.iter().enumerate() {
        let u = UserIdx(i as u32);
        let Some(fu) = m.user(u) else {
            if !partial {
                out.push(Drift {
                    user: user.upn.clone(),
                    change: "not in the fresh export any more".into(),
                });
            }
            continue;
        };
        let mut was = facts(base, u);
        let mut is = facts(fresh, fu);
        if partial {
            was.retain(|f| !f.starts_with("member of "));
            is.retain(|f| !f.starts_with("member of "));
        }
        // What is new since the baseline; what prepare was to add is filtered from it below.
        let mut new: BTreeSet<String> = BTreeSet::new();
        // What the executed stages changed, or may have left either way, is not drift: a
        // removal of a wave that ran (done, or skipped and pending), the memberships prepare
        // adds, and the group assignments the engine predicted — Active where it predicted
        // success, in an error where it predicted failure.
        for r in done.iter().filter(|r| r.user == u) {
            let direct = format!("{} direct", base.sku_label(r.sku));
            was.retain(|f| !f.starts_with(&direct));
            is.retain(|f| !f.starts_with(&direct));
        }
        new.extend(is.difference(&was).cloned());
        for g in &o.users[i].groups {
            let label = base.group_label(g.group);
            let from = format!("from group {label}");
            let member = format!("member of {label}");
            let expected = |f: &String| {
                *f == member
                    || (f.contains(from.as_str())
                        && match g.status {
                            crate::engine::GroupStatus::Predicted => f.ends_with(", Active"),
                            crate::engine::GroupStatus::Fails(..) => !f.ends_with(", Active"),
                            _ => false,
                        })
            };
            if matches!(
                g.status,
                crate::engine::GroupStatus::Predicted | crate::engine::GroupStatus::Fails(..)
            ) {
                new.retain(|f| !expected(f));
            }
        }
        for f in &new {
            out.push(Drift {
                user: user.upn.clone(),
                change: format!("now: {f}"),
            });
        }
        for f in was.difference(&is) {
            out.push(Drift {
                user: user.upn.clone(),
                change: format!("no longer: {f}"),
            });
        }
    }
    let known: BTreeSet<Guid> = base.users.iter().map(|u| u.id).collect();
    for u in fresh.users.iter().filter(|u| !known.contains(&u.id)) {
        out.push(Drift {
            user: u.upn.clone(),
            change: "new user since the baseline".into(),
        });
    }
    out.sort_by(|a, b| {
        a.user
            .to_lowercase()
            .cmp(&b.user.to_lowercase())
            .then(a.change.cmp(&b.change))
    });
    out
}
