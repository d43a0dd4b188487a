//! `apply --stage bridge`: SPEC §4's swaps, as scripts/bridge.ps1 makes them, fifteen users at
//! a time (one live read): each user read live and skipped unless the conflicting licenses are
//! as planned; a license from a group pinned as a direct copy (a direct copy already there is
//! widened to what the group gave), then — once the copies are Active — the user leaves that
//! group, then — once the group's copy is gone — ONE assignLicense adds the group's SKUs and
//! removes the conflicting ones, and the user's group licenses are reprocessed. Every request
//! is journaled under the user's key before it is sent; a re-run reads the user live and takes
//! only the steps not yet taken. Then the checkpoint: the users the waves rely on and the
//! swapped users read back and checked as `verify --stage bridge` checks them.

use super::journal::Record;
use super::live::{self, USERS_PER_READ};
use super::{Detail, Run};
use crate::engine::bridge::Swap;
use crate::error::{Error, Result};
use crate::graph::wire::{self, LicenseAssignmentState};
use crate::graph::{GraphError, Method};
use crate::model::{Guid, PlanSet, SkuIdx, Tenant};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// A user whose swap is under way in this run.
struct Pending<'a> {
    swap: &'a Swap,
    key: String,
    id: Guid,
    upn: String,
    /// Ids of the groups the user leaves.
    leave: Vec<String>,
    now: wire::User,
}

pub fn run(r: &mut Run, timeout: Duration) -> Result<Option<(bool, String)>> {
    let Some(bridge) = r.plan.bridge.as_ref() else {
        return Err(Error::usage(
            "--stage bridge: this plan has no bridge stage (it was made without --bridge)",
        ));
    };
    let t = &r.plan.tenant;
    let total = bridge.swaps.len();
    let mut seen = 0;
    for chunk in bridge.swaps.chunks(USERS_PER_READ) {
        seen += chunk.len();
        let todo: Vec<&Swap> = chunk
            .iter()
            .filter(|s| !r.earlier.settled(&super::user_key(t, s.user)))
            .collect();
        if todo.is_empty() {
            continue;
        }
        let ids: Vec<Guid> = todo.iter().map(|s| t.users[s.user.ix()].id).collect();
        let now = live::users(r, &ids)?;
        let mut work = Vec::new();
        for s in todo {
            let user = &t.users[s.user.ix()];
            let key = super::user_key(t, s.user);
            let Some(u) = now.get(&user.id) else {
                r.gone(&key, &user.upn)?;
                continue;
            };
            let leave: Option<Vec<String>> = s
                .leave
                .iter()
                .map(|g| t.groups[g.ix()].id.map(|id| id.to_string()))
                .collect();
            let Some(leave) = leave else {
                r.outcome(
                    &key,
                    &user.upn,
                    "skipped",
                    Detail::reason("a group to leave has no id in the snapshot"),
                )?;
                continue;
            };
            let p = Pending {
                swap: s,
                key,
                id: user.id,
                upn: user.upn.clone(),
                leave,
                now: u.clone(),
            };
            if swapped(t, &p, &p.now) {
                finish(r, p, "already done")?;
                continue;
            }
            match as_planned(t, s, &p.now) {
                Ok(()) => work.push(p),
                Err(why) => r.outcome(&p.key, &p.upn, "skipped", Detail::reason(why))?,
            }
        }
        if r.dry_run {
            for p in work {
                r.outcome(
                    &p.key,
                    &p.upn,
                    "would do",
                    Detail::reason(format!(
                        "would swap {} for {}",
                        skus(t, p.swap.remove.iter().copied()),
                        skus(t, p.swap.add.iter().map(|a| a.0))
                    )),
                )?;
            }
            continue;
        }
        let work = pin(r, work)?;
        let work = wait_for(
            r,
            work,
            timeout,
            "the pinned copies are not Active yet",
            |p, u| p.swap.pins.iter().all(|pin| pinned(t, u, pin.1, &pin.2)),
        )?;
        let work = leave(r, work)?;
        let work = wait_for(
            r,
            work,
            timeout,
            "the left groups still license the user",
            |p, u| {
                !u.license_assignment_states.iter().any(|s| {
                    s.assigned_by_group
                        .as_deref()
                        .is_some_and(|g| p.leave.iter().any(|l| l.eq_ignore_ascii_case(g)))
                })
            },
        )?;
        let work = swap(r, work)?;
        for p in work {
            finish(r, p, "done")?;
        }
        (r.say)(&format!("bridge: {seen} of {total} users"));
    }
    checkpoint(r).map(Some)
}

fn skus(t: &Tenant, k: impl Iterator<Item = SkuIdx>) -> String {
    k.map(|k| t.sku_label(k).to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Plan ids, as Graph writes them, of a disabled-plan set.
fn plan_ids(t: &Tenant, set: &PlanSet) -> BTreeSet<String> {
    set.iter().map(|p| t.plans[p.ix()].id.to_string()).collect()
}

fn disabled(s: &LicenseAssignmentState) -> BTreeSet<String> {
    s.disabled_plans
        .iter()
        .map(|d| d.to_ascii_lowercase())
        .collect()
}

fn healthy(s: &LicenseAssignmentState) -> bool {
    s.state == "Active" && (s.error == "None" || s.error.is_empty())
}

fn is_sku(s: &LicenseAssignmentState, t: &Tenant, k: SkuIdx) -> bool {
    Guid::parse(&s.sku_id) == Some(t.skus[k.ix()].id)
}

/// A pin holds when a direct copy of its SKU is Active and disables nothing the group's copy
/// enabled: a copy the pin made, or the user's own direct copy widened to it.
fn pinned(t: &Tenant, u: &wire::User, k: SkuIdx, off: &PlanSet) -> bool {
    let off = plan_ids(t, off);
    u.license_assignment_states.iter().any(|s| {
        s.assigned_by_group.is_none()
            && is_sku(s, t, k)
            && healthy(s)
            && disabled(s).is_subset(&off)
    })
}

/// The swap is made: no direct copy of a removed SKU, nothing from a left group, a working
/// direct copy of every added SKU with the template's plans (a conflicting SKU the template
/// also has is re-added with them, not removed: holding it is not enough).
fn swapped(t: &Tenant, p: &Pending, u: &wire::User) -> bool {
    let states = &u.license_assignment_states;
    p.swap.remove.iter().all(|k| {
        !states
            .iter()
            .any(|s| s.assigned_by_group.is_none() && is_sku(s, t, *k))
    }) && !states.iter().any(|s| {
        s.assigned_by_group
            .as_deref()
            .is_some_and(|g| p.leave.iter().any(|l| l.eq_ignore_ascii_case(g)))
    }) && p.swap.add.iter().all(|(k, off)| {
        let off = plan_ids(t, off);
        states.iter().any(|s| {
            s.assigned_by_group.is_none() && is_sku(s, t, *k) && healthy(s) && disabled(s) == off
        })
    })
}

/// The live re-check: every conflicting license as the plan expects it — from its group, or
/// already pinned (or widened) as a direct copy by an earlier run.
fn as_planned(t: &Tenant, s: &Swap, u: &wire::User) -> std::result::Result<(), String> {
    for (k, group, off) in &s.conflicting {
        let want = plan_ids(t, off);
        let group_id = group
            .and_then(|g| t.groups[g.ix()].id)
            .map(|g| g.to_string());
        let from = |st: &&LicenseAssignmentState| match (&group_id, &st.assigned_by_group) {
            (Some(g), Some(by)) => g.eq_ignore_ascii_case(by),
            (None, None) => true,
            _ => false,
        };
        let as_is = u
            .license_assignment_states
            .iter()
            .filter(from)
            .any(|st| is_sku(st, t, *k) && disabled(st) == want);
        let pinned_already = s
            .pins
            .iter()
            .any(|(_, pk, poff)| pk == k && pinned(t, u, *pk, poff));
        let direct_same = group_id.is_some()
            && u.license_assignment_states.iter().any(|st| {
                st.assigned_by_group.is_none() && is_sku(st, t, *k) && disabled(st) == want
            });
        if !(as_is || pinned_already || direct_same) {
            return Err(format!(
                "the user no longer holds {} as planned",
                t.sku_label(*k)
            ));
        }
    }
    Ok(())
}

fn license(sku: Guid, off: &BTreeSet<String>) -> wire::AssignedLicense {
    wire::AssignedLicense {
        sku_id: sku.to_string(),
        disabled_plans: off.iter().cloned().collect(),
    }
}

fn assign_body(add: Vec<wire::AssignedLicense>, remove: Vec<String>) -> serde_json::Value {
    serde_json::to_value(wire::AssignLicense {
        add_licenses: add,
        remove_licenses: remove,
    })
    .unwrap_or_default()
}

/// Journals the request under the user's key, then sends it.
fn send(
    r: &mut Run,
    p: &Pending,
    method: Method,
    url: String,
    body: Option<serde_json::Value>,
) -> Result<std::result::Result<crate::graph::Response, GraphError>> {
    r.intent(Record::Intent {
        key: p.key.clone(),
        user: p.upn.clone(),
        method: method.to_string(),
        url: url.clone(),
        body: body.clone().unwrap_or(serde_json::Value::Null),
        before: Some(p.now.license_assignment_states.clone()),
    })?;
    Ok(r.block(r.client.write(method, &url, body.as_ref())))
}

/// Step 1: each pin not made yet — a direct copy with the group's plans, or the user's own
/// direct copy re-added with only the plans both copies disable.
fn pin<'a>(r: &mut Run, work: Vec<Pending<'a>>) -> Result<Vec<Pending<'a>>> {
    let t = &r.plan.tenant;
    let mut kept = Vec::new();
    for p in work {
        let add: Vec<wire::AssignedLicense> = p
            .swap
            .pins
            .iter()
            .filter(|(_, k, off)| !pinned(t, &p.now, *k, off))
            .map(|(_, k, off)| {
                let mut off = plan_ids(t, off);
                if let Some(d) = live::direct(&p.now, t.skus[k.ix()].id) {
                    off = disabled(d).intersection(&off).cloned().collect();
                }
                license(t.skus[k.ix()].id, &off)
            })
            .collect();
        if add.is_empty() {
            kept.push(p);
            continue;
        }
        let url = format!("/users/{}/assignLicense", p.id);
        match send(r, &p, Method::POST, url, Some(assign_body(add, Vec::new())))? {
            // No answer: the wait reads whether the pin was made.
            Ok(_) | Err(GraphError::Unknown { .. }) => kept.push(p),
            Err(e) => refused(r, &p, "pinning failed", e)?,
        }
    }
    Ok(kept)
}

/// Step 2: out of the groups whose licenses were pinned (already out is fine).
fn leave<'a>(r: &mut Run, work: Vec<Pending<'a>>) -> Result<Vec<Pending<'a>>> {
    let mut kept = Vec::new();
    'user: for p in work {
        for g in p.leave.clone() {
            let url = format!("/groups/{g}/members/{}/$ref", p.id);
            match send(r, &p, Method::DELETE, url, None)? {
                Ok(_)
                | Err(GraphError::Unknown { .. })
                | Err(GraphError::Status { status: 404, .. }) => {}
                Err(e) => {
                    refused(r, &p, &format!("leaving group {g} failed"), e)?;
                    continue 'user;
                }
            }
        }
        kept.push(p);
    }
    Ok(kept)
}

/// Step 3, the swap: ONE assignLicense that adds the group's SKUs and removes the conflicting
/// ones, so the user never holds neither; then step 4, the user's group licenses reprocessed
/// (with a body: Graph refuses the action without one).
fn swap<'a>(r: &mut Run, work: Vec<Pending<'a>>) -> Result<Vec<Pending<'a>>> {
    let t = &r.plan.tenant;
    let mut kept = Vec::new();
    let mut unknown = Vec::new();
    for p in work {
        let add = p
            .swap
            .add
            .iter()
            .map(|(k, off)| license(t.skus[k.ix()].id, &plan_ids(t, off)))
            .collect();
        let remove = p
            .swap
            .remove
            .iter()
            .map(|k| t.skus[k.ix()].id.to_string())
            .collect();
        let url = format!("/users/{}/assignLicense", p.id);
        match send(r, &p, Method::POST, url, Some(assign_body(add, remove)))? {
            Ok(_) => kept.push(p),
            // No answer, or an answer that the license to remove is not there (a re-sent
            // swap): a read says whether it was made.
            Err(GraphError::Unknown { .. }) => unknown.push(p),
            Err(GraphError::Status { message, .. })
                if message == "User does not have a corresponding license." =>
            {
                unknown.push(p)
            }
            Err(e) => refused(r, &p, "the swap failed", e)?,
        }
    }
    let ids: Vec<Guid> = unknown.iter().map(|p| p.id).collect();
    let now = live::users(r, &ids)?;
    for p in unknown {
        match now.get(&p.id) {
            Some(u) if swapped(t, &p, u) => kept.push(p),
            Some(_) => r.outcome(
                &p.key,
                &p.upn,
                "failed",
                Detail {
                    error: Some("Timeout: no answer, and the swap is not made".into()),
                    ..Default::default()
                },
            )?,
            None => r.gone(&p.key, &p.upn)?,
        }
    }
    Ok(kept)
}

/// Step 4 and the user's outcome: swapped, then reprocessed so the group's assignment that
/// failed on the conflict is processed again now.
fn finish(r: &mut Run, p: Pending, outcome: &str) -> Result<()> {
    let already = outcome == "already done";
    if already && p.now.license_assignment_states.iter().all(healthy) {
        return r.outcome(&p.key, &p.upn, outcome, Detail::reason("swapped already"));
    }
    let url = format!("/users/{}/reprocessLicenseAssignment", p.id);
    // Reprocessing changes nothing but Entra's queue: a call whose answer was lost is sent
    // again, a few times, rather than left for a re-run.
    let mut answer = send(
        r,
        &p,
        Method::POST,
        url.clone(),
        Some(serde_json::json!({})),
    )?;
    for _ in 0..3 {
        if !matches!(answer, Err(GraphError::Unknown { .. })) {
            break;
        }
        answer = send(
            r,
            &p,
            Method::POST,
            url.clone(),
            Some(serde_json::json!({})),
        )?;
    }
    match answer {
        Ok(resp) => {
            let after = serde_json::from_slice::<wire::User>(&resp.body)
                .ok()
                .map(|u| u.license_assignment_states);
            r.outcome(
                &p.key,
                &p.upn,
                outcome,
                Detail {
                    request_id: Some(resp.request_id),
                    after,
                    ..Default::default()
                },
            )
        }
        Err(e) => r.outcome(
            &p.key,
            &p.upn,
            "failed",
            Detail {
                error: Some(format!(
                    "swapped, but reprocessing failed: {}; run the bridge again",
                    words(&e)
                )),
                ..Default::default()
            },
        ),
    }
}

fn words(e: &GraphError) -> String {
    match e {
        GraphError::Status {
            status,
            code,
            message,
            ..
        } => format!("HTTP {status} {code}: {message}"),
        other => other.to_string(),
    }
}

fn refused(r: &mut Run, p: &Pending, what: &str, e: GraphError) -> Result<()> {
    match e {
        GraphError::Status { .. } | GraphError::GaveUp { .. } => r.outcome(
            &p.key,
            &p.upn,
            "skipped",
            Detail {
                reason: Some(format!("{what}: {}", words(&e))),
                ..Default::default()
            },
        ),
        other => Err(other.into()),
    }
}

/// Polls the users of `work` until `ready` holds for each, up to `timeout`; those it never
/// holds for are skipped with `why` (a re-run finishes them).
fn wait_for<'a>(
    r: &mut Run,
    work: Vec<Pending<'a>>,
    timeout: Duration,
    why: &str,
    ready: impl Fn(&Pending, &wire::User) -> bool,
) -> Result<Vec<Pending<'a>>> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(100);
    let mut waiting = work;
    let mut kept = Vec::new();
    loop {
        let ids: Vec<Guid> = waiting.iter().map(|p| p.id).collect();
        if ids.is_empty() {
            return Ok(kept);
        }
        let now = live::users(r, &ids)?;
        let mut still = Vec::new();
        for mut p in waiting {
            match now.get(&p.id) {
                None => r.gone(&p.key, &p.upn)?,
                Some(u) if ready(&p, u) => {
                    p.now = u.clone();
                    kept.push(p);
                }
                Some(u) => {
                    p.now = u.clone();
                    still.push(p);
                }
            }
        }
        if still.is_empty() {
            return Ok(kept);
        }
        if start.elapsed() > timeout {
            for p in still {
                r.outcome(
                    &p.key,
                    &p.upn,
                    "skipped",
                    Detail::reason(format!("{why}: run the bridge again later")),
                )?;
            }
            return Ok(kept);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_secs(15));
        waiting = still;
    }
}

/// The users the waves rely on and the swapped users, read back and checked by `verify --stage
/// bridge`.
fn checkpoint(r: &mut Run) -> Result<(bool, String)> {
    let t = &r.plan.tenant;
    let mut ids: Vec<Guid> = r
        .plan
        .removals
        .iter()
        .map(|x| t.users[x.user.ix()].id)
        .chain(
            r.plan
                .bridge
                .iter()
                .flat_map(|b| b.swaps.iter().map(|s| t.users[s.user.ix()].id)),
        )
        .collect();
    ids.sort();
    ids.dedup();
    let dir = r.run_dir.join("bridge-after");
    super::readback::write(r, &ids, &dir)?;
    let code = super::verify_quietly(&r.plan_dir, &r.snapshot_dir, Some(("bridge", &dir)))?;
    let go = code == crate::exit::OK && !r.dry_run;
    let summary = if r.dry_run {
        "dry run: the checkpoint is made after a real bridge".to_string()
    } else {
        format!(
            "checkpoint: verify --stage bridge on the read-back of {} user(s) in {}: {}",
            ids.len(),
            dir.display(),
            if go {
                "all clear, the waves may start"
            } else {
                "violations (run it to see them)"
            }
        )
    };
    r.intent(Record::Check {
        go,
        summary: summary.clone(),
        at: crate::clock::utc_now(),
    })?;
    Ok((go, summary))
}
