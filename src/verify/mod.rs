//! verify: an independent check of a plan — the one licshift wrote, one a reviewer edited, or
//! one partly executed — against a snapshot and, after a stage or wave, a fresh export
//! (SPEC §6). Exit 0 all clear, 1 violations, 2 bad input.

pub(crate) mod after;
pub(crate) mod bridge;
pub(crate) mod seal;

use crate::engine::{Outcome, Verdict};
use crate::error::Error;
use crate::ingest::plan_files::PlannedRemoval;
use crate::model::{AssignmentIdx, GroupList, Guid, SkuIdx, Source, Tenant, UserIdx};
use crate::plan::{Plan, PlanOptions, Prepare, Removal, Wave};
use std::collections::BTreeMap;

/// One thing that is not safe or not as planned.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Violation {
    pub kind: &'static str,
    pub wave: Option<u32>,
    pub user_id: String,
    pub user: String,
    pub sku: String,
    /// Plans the user would lose, or has lost.
    pub plans: Vec<String>,
    pub detail: String,
}

/// A change made outside the plan since the baseline: listed, not a violation.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    pub user: String,
    pub change: String,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    pub mode: String,
    /// What verify took from the plan rather than the command line (its rules file).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// `sealed` (every file checked against plan.json v2), `unsealed` (a folder without a
    /// seal: nothing says its files are the ones signed) or `waves file` (a bare waves.csv).
    pub seal: &'static str,
    pub removals_checked: usize,
    pub users_checked: usize,
    pub changed_inputs: Vec<String>,
    pub violations: Vec<Violation>,
    pub drift: Vec<Drift>,
    /// After `--after N`: the next wave and whether it is safe to run on the fresh export.
    pub next_wave: Option<NextWave>,
    /// After `--after N`: removals the waves skipped whose users still hold the direct
    /// assignment safely. Carried forward (`--pending FILE`, then `licshift scripts`), not
    /// violations.
    pub pending: Vec<Pending>,
}

/// A removal a wave skipped; the user still holds the direct assignment and lost nothing.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pending {
    pub wave: u32,
    pub user_id: String,
    pub user: String,
    pub sku_id: String,
    pub sku: String,
    pub covered_by: Vec<String>,
    pub reason: String,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NextWave {
    pub wave: u32,
    pub removals: usize,
    pub safe: bool,
    /// Why it is not safe, when the reason is not the wave's own (violations of the waves
    /// that ran).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// A planned removal resolved against the baseline.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub wave: u32,
    pub user: UserIdx,
    pub sku: SkuIdx,
    pub assignment: AssignmentIdx,
}

/// Inputs whose bytes differ from what the plan recorded, or that appeared or went.
pub(crate) fn changed_inputs(
    planned: &[crate::model::InputFile],
    now: &[crate::model::InputFile],
) -> Vec<String> {
    let mut out = Vec::new();
    for p in planned {
        match now.iter().find(|n| n.kind == p.kind && n.path == p.path) {
            None => out.push(format!("{} ({}) is gone", p.path, p.kind)),
            Some(n) if n.sha256 != p.sha256 => out.push(format!(
                "{} ({}) changed: SHA-256 {}… was {}…",
                n.path,
                n.kind,
                &n.sha256[..12.min(n.sha256.len())],
                &p.sha256[..12.min(p.sha256.len())]
            )),
            _ => {}
        }
    }
    for n in now {
        if !planned.iter().any(|p| p.kind == n.kind && p.path == n.path) {
            out.push(format!("{} ({}) is new", n.path, n.kind));
        }
    }
    out
}

pub(crate) fn violation(
    t: &Tenant,
    kind: &'static str,
    wave: Option<u32>,
    u: UserIdx,
    sku: &str,
    plans: Vec<String>,
    detail: String,
) -> Violation {
    let user = &t.users[u.ix()];
    Violation {
        kind,
        wave,
        user_id: user.id.to_string(),
        user: user.upn.clone(),
        sku: sku.to_string(),
        plans,
        detail,
    }
}

/// The removals of users the bridge does not move, resolved on the snapshot instead of the
/// tenant as the bridge leaves it: what the prepare checkpoint checks before the bridge runs.
pub(crate) fn on_snapshot(
    base: &Tenant,
    resolved: &[Resolved],
    b: &crate::engine::bridge::Bridge,
) -> Vec<Resolved> {
    resolved
        .iter()
        .filter(|r| b.swap_of(r.user).is_none())
        .filter_map(|r| {
            base.user_assignments(r.user)
                .find(|(_, a)| a.sku == r.sku && a.source == Source::Direct)
                .map(|(ai, _)| Resolved {
                    assignment: ai,
                    ..r.clone()
                })
        })
        .collect()
}

pub(crate) fn replay_violation(id: &str, msg: String) -> Violation {
    Violation {
        kind: "REPLAY",
        wave: None,
        user_id: String::new(),
        user: String::new(),
        sku: String::new(),
        plans: Vec::new(),
        detail: format!("{id}: {msg}"),
    }
}

/// Each waves.csv row → the baseline's user and direct assignment. With a bridge, a row that
/// removes a license the bridge swaps away is named as such.
pub(crate) fn resolve(
    t: &Tenant,
    rows: &[PlannedRemoval],
    bridge: Option<&crate::engine::bridge::Bridge>,
) -> (Vec<Resolved>, Vec<Violation>) {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    let by_id: BTreeMap<Guid, UserIdx> = t
        .users
        .iter()
        .enumerate()
        .map(|(i, u)| (u.id, UserIdx(i as u32)))
        .collect();
    for r in rows {
        let user = r
            .user_id
            .and_then(|g| by_id.get(&g).copied())
            .or_else(|| (!r.upn.is_empty()).then(|| t.user_by_key(&r.upn)).flatten());
        let sku = t
            .skus
            .iter()
            .position(|s| {
                Some(s.id) == r.sku_id
                    || (r.sku_id.is_none() && s.part_number.eq_ignore_ascii_case(&r.sku_part))
            })
            .map(|i| SkuIdx(i as u32));
        let who = if r.upn.is_empty() {
            r.user_id.map(|g| g.to_string()).unwrap_or_default()
        } else {
            r.upn.clone()
        };
        let (Some(u), Some(s)) = (user, sku) else {
            bad.push(Violation {
                kind: "NOT_IN_SNAPSHOT",
                wave: Some(r.wave),
                user_id: r.user_id.map(|g| g.to_string()).unwrap_or_default(),
                user: who,
                sku: r.sku_part.clone(),
                plans: Vec::new(),
                detail: format!(
                    "waves.csv row {}: {} is not in the snapshot",
                    r.origin.row,
                    if user.is_none() {
                        "the user"
                    } else {
                        "the SKU"
                    }
                ),
            });
            continue;
        };
        match t
            .user_assignments(u)
            .find(|(_, a)| a.sku == s && a.source == Source::Direct)
        {
            Some((ai, _)) => out.push(Resolved {
                wave: r.wave,
                user: u,
                sku: s,
                assignment: ai,
            }),
            None => {
                let bridged = bridge
                    .and_then(|b| b.swap_of(u))
                    .is_some_and(|w| w.remove.contains(&s));
                bad.push(if bridged {
                    violation(
                        t,
                        "REMOVED_BY_BRIDGE",
                        Some(r.wave),
                        u,
                        t.sku_label(s),
                        Vec::new(),
                        format!(
                            "waves.csv row {}: the bridge swaps {} away in the same call that adds the group's SKU (bridge.csv); removed in a wave instead, the user would lose its plans",
                            r.origin.row,
                            t.sku_label(s)
                        ),
                    )
                } else {
                    violation(
                        t,
                        "NO_DIRECT_ASSIGNMENT",
                        Some(r.wave),
                        u,
                        t.sku_label(s),
                        Vec::new(),
                        format!(
                            "waves.csv row {}: the user holds no direct {} to remove",
                            r.origin.row,
                            t.sku_label(s)
                        ),
                    )
                })
            }
        }
    }
    (out, bad)
}

/// The removal's verdict on `o`: what it relies on, or why it is not safe.
pub(crate) fn unsafe_reason(
    t: &Tenant,
    o: &Outcome,
    u: UserIdx,
    ai: AssignmentIdx,
) -> Option<(Vec<String>, String)> {
    let d = o.users[u.ix()]
        .directs
        .iter()
        .find(|d| d.assignment == ai)?;
    let (reason, words) = crate::engine::words::verdict_detail(t, &d.verdict)?;
    let uncovered = match &d.verdict {
        Verdict::Blocked { uncovered, .. } => t.plan_names(uncovered),
        Verdict::Removable { .. } => Vec::new(),
    };
    Some((uncovered, format!("{}: {words}", reason.code())))
}

/// A plan (edited or not) against its snapshot: every removal must still be removable, and the
/// whole must pass the replay.
pub(crate) fn check_plan(t: &Tenant, o: &Outcome, resolved: &[Resolved]) -> Vec<Violation> {
    check_and_replay(t, o, resolved).0
}

/// The removals checked one by one and then replayed in their waves: the violations, and the
/// plan of the removals that are safe.
pub(crate) fn check_and_replay(
    t: &Tenant,
    o: &Outcome,
    resolved: &[Resolved],
) -> (Vec<Violation>, Plan) {
    let mut v = Vec::new();
    let mut safe = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for r in resolved {
        if !seen.insert(r.assignment) {
            v.push(violation(
                t,
                "DUPLICATE",
                Some(r.wave),
                r.user,
                t.sku_label(r.sku),
                Vec::new(),
                "the same removal is listed twice".into(),
            ));
            continue;
        }
        match unsafe_reason(t, o, r.user, r.assignment) {
            Some((plans, detail)) => v.push(violation(
                t,
                "UNSAFE_REMOVAL",
                Some(r.wave),
                r.user,
                t.sku_label(r.sku),
                plans,
                detail,
            )),
            None => safe.push(r.clone()),
        }
    }
    // Replay what is safe, in the (possibly edited) wave order.
    let mut waves: BTreeMap<u32, Wave> = BTreeMap::new();
    for r in &safe {
        let w = waves.entry(r.wave).or_insert_with(|| Wave {
            number: r.wave,
            pilot: false,
            users: Vec::new(),
            removals: Vec::new(),
        });
        let covered_by: GroupList = o.users[r.user.ix()]
            .groups
            .iter()
            .filter(|g| {
                g.status.is_ok()
                    && g.plans()
                        .intersects(&t.enabled(r.sku, &t.assignments[r.assignment.ix()].disabled))
            })
            .map(|g| g.group)
            .collect();
        if !w.users.contains(&r.user) {
            w.users.push(r.user);
        }
        w.removals.push(Removal {
            user: r.user,
            assignment: r.assignment,
            sku: r.sku,
            covered_by,
        });
    }
    let plan = Plan {
        by_upn: t.user_order(),
        options: PlanOptions {
            pilot: 0,
            growth: 1.0,
            max_wave: 0,
            exclude: Vec::new(),
            exclude_file: None,
            wave_by: None,
            seed: 0,
            exact: false,
            diff_all: false,
            seat_formula: Default::default(),
            tenant_location: None,
            rules_file: None,
            bridge: false,
        },
        prepare: Prepare::default(),
        waves: waves.into_values().collect(),
        shapes: 0,
        shapes_in_pilot: 0,
        bridge: None,
    };
    if let Err(Error::Invariant(id, msg)) = crate::plan::replay::replay(t, o, &plan) {
        v.push(replay_violation(id, msg));
    }
    (v, plan)
}
