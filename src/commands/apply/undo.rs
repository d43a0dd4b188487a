//! `apply --stage rollback bridge` and `--stage rollback prepare`: undo what the stage's journal
//! says was really done, read live, every step tried and journaled. Both are refused while a
//! wave's removals stand (`status::check_turn`): users rely on what the stages gave.
//!
//! The bridge is undone as it was made, in reverse and without a gap: out of the group the swap
//! let through (its license would refuse the old one back; the swap's direct copy holds its
//! plans meanwhile), ONE assignLicense giving back the licenses the swap took (those from a
//! left group as direct copies) and taking away the SKUs it added, back into the groups left,
//! and once those license the user again, the stand-in direct copies removed. Prepare is undone
//! last step first: template lines taken off the groups, members added taken out, groups
//! created deleted.

use super::journal::{read, Record, Steps};
use super::live;
use super::{Detail, Run, Stage};
use crate::error::Result;
use crate::graph::wire::{self, LicenseAssignmentState};
use crate::graph::{GraphError, Method};
use crate::model::Guid;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Keys the journal of `stage` holds an intent of, with the first intent's `before`: what the
/// user held before the stage touched them.
fn first_before(r: &Run, stage: Stage) -> BTreeMap<String, (String, Vec<LicenseAssignmentState>)> {
    let mut out = BTreeMap::new();
    for rec in read(&r.run_dir.join(format!("{}.jsonl", stage.name()))) {
        if let Record::Intent {
            key,
            user,
            before: Some(before),
            ..
        } = rec
        {
            out.entry(key).or_insert((user, before));
        }
    }
    out
}

fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn from_group<'a>(
    u: &'a wire::User,
    g: &'a str,
) -> impl Iterator<Item = &'a LicenseAssignmentState> {
    u.license_assignment_states
        .iter()
        .filter(move |s| s.assigned_by_group.as_deref().is_some_and(|b| same(b, g)))
}

fn direct_of<'a>(u: &'a wire::User, sku: &str) -> Option<&'a LicenseAssignmentState> {
    u.license_assignment_states
        .iter()
        .find(|s| s.assigned_by_group.is_none() && same(&s.sku_id, sku))
}

/// Sends a write journaled under `key`.
fn send(
    r: &mut Run,
    key: &str,
    who: &str,
    method: Method,
    url: String,
    body: Option<serde_json::Value>,
    before: Option<Vec<LicenseAssignmentState>>,
) -> Result<std::result::Result<crate::graph::Response, GraphError>> {
    r.intent(Record::Intent {
        key: key.into(),
        user: who.into(),
        method: method.to_string(),
        url: url.clone(),
        body: body.clone().unwrap_or(serde_json::Value::Null),
        before,
    })?;
    Ok(r.block(r.client.write(method, &url, body.as_ref())))
}

fn failed(r: &mut Run, key: &str, who: &str, what: &str, e: GraphError) -> Result<()> {
    let why = match &e {
        GraphError::Status {
            status,
            code,
            message,
            ..
        } => format!("HTTP {status} {code}: {message}"),
        other => other.to_string(),
    };
    r.outcome(
        key,
        who,
        "failed",
        Detail {
            error: Some(format!("{what}: {why}")),
            ..Default::default()
        },
    )
}

/// Polls one user until `ready`, up to `timeout`; the user as last read, and whether it held.
fn wait_user(
    r: &Run,
    id: Guid,
    timeout: Duration,
    ready: impl Fn(&wire::User) -> bool,
) -> Result<Option<(wire::User, bool)>> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(100);
    loop {
        let Some(u) = live::users(r, &[id])?.remove(&id) else {
            return Ok(None);
        };
        if ready(&u) || start.elapsed() > timeout {
            let ok = ready(&u);
            return Ok(Some((u, ok)));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_secs(15));
    }
}

pub fn bridge(r: &mut Run, timeout: Duration) -> Result<()> {
    let plan = r.plan;
    let t = &plan.tenant;
    let Some(b) = plan.bridge.as_ref() else {
        return Err(crate::error::Error::usage(
            "--stage rollback bridge: this plan has no bridge stage",
        ));
    };
    let by_id: BTreeMap<Guid, crate::model::UserIdx> = b
        .swaps
        .iter()
        .map(|s| (t.users[s.user.ix()].id, s.user))
        .collect();
    for (key, (upn, before)) in first_before(r, Stage::Bridge) {
        if r.earlier.settled(&key) {
            continue;
        }
        let Some(id) = key.strip_prefix("user:").and_then(Guid::parse) else {
            continue;
        };
        let Some(s) = by_id.get(&id).and_then(|u| b.swap_of(*u)) else {
            continue;
        };
        let Some(now) = live::users(r, &[id])?.remove(&id) else {
            r.gone(&key, &upn)?;
            continue;
        };
        let left: Vec<String> = s
            .leave
            .iter()
            .filter_map(|g| t.groups[g.ix()].id.map(|g| g.to_string()))
            .collect();
        let the_group = r.group_id(s.group);
        let sku = |k: crate::model::SkuIdx| t.skus[k.ix()].id.to_string();
        let touched: Vec<String> = s
            .remove
            .iter()
            .chain(s.pins.iter().map(|p| &p.1))
            .map(|k| sku(*k))
            .collect();
        // What the swap took: before, directly or from a group left, of a SKU it touched.
        let mut took: BTreeMap<String, (Vec<String>, bool)> = BTreeMap::new();
        for st in before
            .iter()
            .filter(|st| touched.iter().any(|k| same(k, &st.sku_id)))
        {
            let direct = st.assigned_by_group.is_none();
            let from_left = st
                .assigned_by_group
                .as_deref()
                .is_some_and(|g| left.iter().any(|l| same(l, g)));
            if direct || from_left {
                let e = took
                    .entry(st.sku_id.to_ascii_lowercase())
                    .or_insert((st.disabled_plans.clone(), direct));
                if direct {
                    *e = (st.disabled_plans.clone(), true);
                }
            }
        }
        let give_back: Vec<wire::AssignedLicense> = took
            .iter()
            .filter(|(k, _)| direct_of(&now, k).is_none())
            .map(|(k, (off, _))| wire::AssignedLicense {
                disabled_plans: off.clone(),
                sku_id: k.clone(),
            })
            .collect();
        let take_away: Vec<String> = s
            .add
            .iter()
            .map(|(k, _)| sku(*k))
            // A direct copy in error before gave nothing and cannot be made again (Graph makes
            // a direct assignment working, or refuses it): it counts as none.
            .filter(|k| {
                !before.iter().any(|st| {
                    st.assigned_by_group.is_none()
                        && same(&st.sku_id, k)
                        && (st.state == "Active" || st.state == "ActiveWithError")
                }) && direct_of(&now, k).is_some()
            })
            .collect();
        // Direct copies standing in for a group's until it licenses the user again.
        let stand_ins: Vec<String> = took
            .iter()
            .filter(|(_, (_, direct))| !direct)
            .map(|(k, _)| k.clone())
            .collect();
        let rejoin: Vec<String> = left
            .iter()
            .filter(|g| from_group(&now, g).next().is_none())
            .cloned()
            .collect();
        if give_back.is_empty() && take_away.is_empty() && rejoin.is_empty() {
            r.outcome(
                &key,
                &upn,
                "already done",
                Detail::reason("the user holds what the bridge took"),
            )?;
            continue;
        }
        if r.dry_run {
            r.outcome(
                &key,
                &upn,
                "would do",
                Detail::reason(format!(
                    "would give back {} SKU(s), take away {}, rejoin {} group(s)",
                    give_back.len(),
                    take_away.len(),
                    rejoin.len()
                )),
            )?;
            continue;
        }
        let mut rejoin_the_group = false;
        let mut now = now;
        if let Some(g) = the_group
            .as_deref()
            .filter(|g| from_group(&now, g).next().is_some() && !give_back.is_empty())
        {
            let url = format!("/groups/{g}/members/{id}/$ref");
            match send(
                r,
                &key,
                &upn,
                Method::DELETE,
                url,
                None,
                Some(now.license_assignment_states.clone()),
            )? {
                Ok(_)
                | Err(GraphError::Unknown { .. })
                | Err(GraphError::Status { status: 404, .. }) => {}
                Err(e) => {
                    failed(r, &key, &upn, "leaving the bridged group failed", e)?;
                    continue;
                }
            }
            rejoin_the_group = true;
            match wait_user(r, id, timeout, |u| from_group(u, g).next().is_none())? {
                Some((u, true)) => now = u,
                Some(_) => {
                    r.outcome(&key, &upn, "failed", Detail { error: Some("the bridged group still licenses the user: run the rollback again later".into()), ..Default::default() })?;
                    continue;
                }
                None => {
                    r.gone(&key, &upn)?;
                    continue;
                }
            }
        }
        if !give_back.is_empty() || !take_away.is_empty() {
            let body = serde_json::to_value(wire::AssignLicense {
                add_licenses: give_back.clone(),
                remove_licenses: take_away.clone(),
            })
            .unwrap_or_default();
            let url = format!("/users/{id}/assignLicense");
            match send(
                r,
                &key,
                &upn,
                Method::POST,
                url,
                Some(body),
                Some(now.license_assignment_states.clone()),
            )? {
                Ok(_) | Err(GraphError::Unknown { .. }) => {}
                Err(e) => {
                    failed(r, &key, &upn, "giving back the licenses failed", e)?;
                    continue;
                }
            }
        }
        let mut groups = rejoin.clone();
        if rejoin_the_group {
            groups.extend(the_group.clone());
        }
        let mut bad = None;
        for g in &groups {
            let body = serde_json::json!({ "@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}") });
            let url = format!("/groups/{g}/members/$ref");
            match send(r, &key, &upn, Method::POST, url, Some(body), None)? {
                Ok(_) | Err(GraphError::Unknown { .. }) => {}
                Err(GraphError::Status {
                    status: 400,
                    message,
                    ..
                }) if message.contains("already exist") => {}
                Err(e) => {
                    bad = Some((g.clone(), e));
                    break;
                }
            }
        }
        if let Some((g, e)) = bad {
            failed(r, &key, &upn, &format!("rejoining group {g} failed"), e)?;
            continue;
        }
        // The stand-ins go once the groups left license the user again.
        if !stand_ins.is_empty() {
            let back = wait_user(r, id, timeout, |u| {
                stand_ins.iter().all(|k| {
                    left.iter().any(|g| {
                        from_group(u, g).any(|st| same(&st.sku_id, k) && st.state == "Active")
                    })
                })
            })?;
            match back {
                Some((u, true)) => {
                    let remove: Vec<String> = stand_ins
                        .iter()
                        .filter(|k| direct_of(&u, k).is_some())
                        .cloned()
                        .collect();
                    if !remove.is_empty() {
                        let body = serde_json::to_value(wire::AssignLicense {
                            add_licenses: Vec::new(),
                            remove_licenses: remove,
                        })
                        .unwrap_or_default();
                        let url = format!("/users/{id}/assignLicense");
                        if let Err(e) = send(
                            r,
                            &key,
                            &upn,
                            Method::POST,
                            url,
                            Some(body),
                            Some(u.license_assignment_states.clone()),
                        )? {
                            if !matches!(e, GraphError::Unknown { .. }) {
                                failed(
                                    r,
                                    &key,
                                    &upn,
                                    "removing the stand-in direct copies failed",
                                    e,
                                )?;
                                continue;
                            }
                        }
                    }
                }
                Some(_) => {
                    r.outcome(&key, &upn, "skipped", Detail::reason("the groups left do not license the user again yet: run the rollback again later to remove the stand-in direct copies"))?;
                    continue;
                }
                None => {
                    r.gone(&key, &upn)?;
                    continue;
                }
            }
        }
        r.outcome(&key, &upn, "done", Detail::default())?;
    }
    Ok(())
}

/// What prepare's journal says licshift made: done, or found done after it had sent the
/// request (a run cut short between the two).
fn made(steps: &Steps, key: &str) -> bool {
    match steps.outcome(key) {
        Some("done") => true,
        Some("already done") => steps.intents.contains_key(key),
        _ => false,
    }
}

pub fn prepare(r: &mut Run, timeout: Duration) -> Result<()> {
    let steps = Steps::of(&read(&r.run_dir.join("prepare.jsonl")));
    let mut created: Vec<(String, String)> = Vec::new();
    let mut licenses: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut members: Vec<(String, String, String)> = Vec::new();
    for key in steps.outcomes.keys().filter(|k| made(&steps, k)) {
        let who = match steps.outcomes.get(key) {
            Some(Record::Outcome { user, .. }) => user.clone(),
            _ => String::new(),
        };
        let parts: Vec<&str> = key.splitn(3, ':').collect();
        match parts.as_slice() {
            ["create", _] => {
                if let Some(id) = steps.made_id(key) {
                    created.push((id, who));
                }
            }
            ["license", g, sku] => licenses
                .entry(g.to_string())
                .or_default()
                .push(sku.to_string()),
            ["member", g, user] => members.push((g.to_string(), user.to_string(), who)),
            _ => {}
        }
    }
    let deleted = |g: &str| created.iter().any(|(id, _)| same(id, g));
    // 1. Template lines off the groups that stay (a deleted group's go with it).
    for (g, skus) in licenses.iter().filter(|(g, _)| !deleted(g)) {
        let key = format!("undo:license:{g}");
        if r.earlier.settled(&key) {
            continue;
        }
        let live = live::group(r, g)?;
        let there: Vec<String> = skus
            .iter()
            .filter(|k| {
                live.as_ref()
                    .is_some_and(|l| l.assigned_licenses.iter().any(|a| same(&a.sku_id, k)))
            })
            .cloned()
            .collect();
        let name = live
            .as_ref()
            .and_then(|l| l.display_name.clone())
            .unwrap_or_else(|| g.clone());
        if there.is_empty() {
            r.outcome(&key, &name, "already done", Detail::default())?;
            continue;
        }
        if r.dry_run {
            r.outcome(
                &key,
                &name,
                "would do",
                Detail::reason(format!("would remove {} template line(s)", there.len())),
            )?;
            continue;
        }
        let body = serde_json::to_value(wire::AssignLicense {
            add_licenses: Vec::new(),
            remove_licenses: there,
        })
        .unwrap_or_default();
        match send(
            r,
            &key,
            &name,
            Method::POST,
            format!("/groups/{g}/assignLicense"),
            Some(body),
            None,
        )? {
            Ok(_) | Err(GraphError::Unknown { .. }) => {
                r.outcome(&key, &name, "done", Detail::default())?
            }
            Err(e) => failed(r, &key, &name, "removing the template lines failed", e)?,
        }
    }
    // 2. Members added to groups that stay.
    for (g, user, who) in members.iter().filter(|m| !deleted(&m.0)) {
        let key = format!("undo:member:{g}:{user}");
        if r.earlier.settled(&key) {
            continue;
        }
        if r.dry_run {
            r.outcome(
                &key,
                who,
                "would do",
                Detail::reason("would remove the member"),
            )?;
            continue;
        }
        match send(
            r,
            &key,
            who,
            Method::DELETE,
            format!("/groups/{g}/members/{user}/$ref"),
            None,
            None,
        )? {
            Ok(_) | Err(GraphError::Unknown { .. }) => {
                r.outcome(&key, who, "done", Detail::default())?
            }
            Err(GraphError::Status { status: 404, .. }) => {
                r.outcome(&key, who, "already done", Detail::default())?
            }
            Err(e) => failed(r, &key, who, "removing the member failed", e)?,
        }
    }
    // The groups that stay are processed before the rollback says it is done.
    let mut touched: Vec<String> = licenses
        .keys()
        .cloned()
        .chain(members.iter().map(|m| m.0.clone()))
        .filter(|g| !deleted(g))
        .collect();
    touched.sort();
    touched.dedup();
    if !r.dry_run {
        super::prepare::wait(r, &touched, timeout)?;
    }
    // 3. Groups prepare created: their members and licenses go with them.
    for (id, name) in &created {
        let key = format!("undo:create:{id}");
        if r.earlier.settled(&key) {
            continue;
        }
        if r.dry_run {
            r.outcome(
                &key,
                name,
                "would do",
                Detail::reason("would delete the group"),
            )?;
            continue;
        }
        match send(
            r,
            &key,
            name,
            Method::DELETE,
            format!("/groups/{id}"),
            None,
            None,
        )? {
            Ok(_) | Err(GraphError::Unknown { .. }) => {
                r.outcome(&key, name, "done", Detail::default())?
            }
            Err(GraphError::Status { status: 404, .. }) => {
                r.outcome(&key, name, "already done", Detail::default())?
            }
            Err(e) => failed(r, &key, name, "deleting the group failed", e)?,
        }
    }
    Ok(())
}
