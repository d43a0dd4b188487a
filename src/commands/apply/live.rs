//! Reading the tenant live for apply: users 15 at a time (Graph's `id in (…)` limit), groups
//! with their licenses and processing state, and the rule each removal is decided by
//! (`engine::entra::may_remove`) fed from what was read.

use super::Run;
use crate::engine::entra::{self, LiveGroupState};
use crate::error::Result;
use crate::graph::wire::{self, LicenseAssignmentState};
use crate::model::{Guid, PlanSet, SkuIdx, Tenant};
use futures_util::StreamExt;
use std::collections::BTreeMap;

/// Graph's largest `id in (…)` filter without advanced queries.
pub const USERS_PER_READ: usize = 15;

const USER_FIELDS: &str = "id,userPrincipalName,assignedLicenses,licenseAssignmentStates";

/// Reads (and `$batch`es) kept in flight at once: with Graph's latency, one at a time would
/// leave most of the write limit unused; the client's pacer keeps them all under it.
pub const IN_FLIGHT: usize = 4;

/// The users of `ids` as they stand now; an id missing from the answer is a user who is gone.
pub fn users(r: &Run, ids: &[Guid]) -> Result<BTreeMap<Guid, wire::User>> {
    r.block(read_users(&r.client, ids))
}

/// `users`, as a future: a wave reads the next users while the last ones' writes are out.
pub async fn read_users(
    client: &crate::graph::Client,
    ids: &[Guid],
) -> Result<BTreeMap<Guid, wire::User>> {
    let mut out = BTreeMap::new();
    let paths: Vec<String> = ids
        .chunks(USERS_PER_READ)
        .map(|chunk| {
            let list: Vec<String> = chunk.iter().map(|g| format!("'{g}'")).collect();
            format!(
                "/users?$filter=id in ({})&$select={USER_FIELDS}&$top={}",
                list.join(","),
                USERS_PER_READ
            )
        })
        .collect();
    let mut pages = futures_util::stream::iter(
        paths
            .iter()
            .map(|path| client.get_json::<wire::Page<wire::User>>(path)),
    )
    .buffered(IN_FLIGHT);
    while let Some(page) = pages.next().await {
        for u in page?.value {
            if let Some(g) = Guid::parse(&u.id) {
                out.insert(g, u);
            }
        }
    }
    Ok(out)
}

/// A group's licenses and processing state as they stand now; None when it is gone.
pub fn group(r: &Run, id: &str) -> Result<Option<wire::Group>> {
    let read = r.block(read_groups(&r.client, &[id.to_string()]));
    Ok(read?.remove(id).flatten())
}

/// Groups as they stand now, `IN_FLIGHT` reads out at once; None for one that is gone.
pub async fn read_groups(
    client: &crate::graph::Client,
    ids: &[String],
) -> Result<BTreeMap<String, Option<wire::Group>>> {
    let mut out = BTreeMap::new();
    let mut reads = futures_util::stream::iter(ids.iter().map(|id| async move {
        let path =
            format!("/groups/{id}?$select=id,displayName,assignedLicenses,licenseProcessingState");
        (id, client.get_json::<wire::Group>(&path).await)
    }))
    .buffered(IN_FLIGHT);
    while let Some((id, read)) = reads.next().await {
        let group = match read {
            Ok(g) => Some(g),
            Err(crate::graph::GraphError::Status { status: 404, .. }) => None,
            Err(e) => return Err(e.into()),
        };
        out.insert(id.clone(), group);
    }
    Ok(out)
}

/// Plans a SKU enables with `disabled` off, in the snapshot's terms.
pub fn enabled(t: &Tenant, sku: &str, disabled: &[String]) -> Option<(SkuIdx, PlanSet)> {
    let g = Guid::parse(sku)?;
    let s = t.skus.iter().position(|k| k.id == g)?;
    let mut off = PlanSet::new();
    for d in disabled {
        if let Some(p) = Guid::parse(d).and_then(|d| t.plans.iter().position(|p| p.id == d)) {
            off.insert(crate::model::PlanIdx(p as u32));
        }
    }
    let s = SkuIdx(s as u32);
    Some((s, t.enabled(s, &off)))
}

/// The user's direct copy of `sku`, live.
pub fn direct<'a>(u: &'a wire::User, sku: Guid) -> Option<&'a LicenseAssignmentState> {
    u.license_assignment_states
        .iter()
        .find(|s| s.assigned_by_group.is_none() && Guid::parse(&s.sku_id) == Some(sku))
}

/// May the direct copy of `sku` go now? `groups`: the covering groups' ids and names, and
/// each group as read live.
pub fn decide(
    t: &Tenant,
    user: &wire::User,
    sku: SkuIdx,
    covering: &[(String, String)],
    live: &BTreeMap<String, Option<wire::Group>>,
) -> std::result::Result<(), String> {
    let Some(d) = direct(user, t.skus[sku.ix()].id) else {
        return Ok(());
    };
    let Some((_, want)) = enabled(t, &d.sku_id, &d.disabled_plans) else {
        return Err("the direct assignment's SKU is not in the snapshot".into());
    };
    let mut states = Vec::new();
    for (id, name) in covering {
        let group = live.get(id).and_then(Option::as_ref);
        let Some(group) = group else {
            return Err(format!("group {name} is gone"));
        };
        let processed = group
            .license_processing_state
            .as_ref()
            .is_none_or(|p| p.state == "ProcessingComplete");
        let mut any = false;
        for s in user.license_assignment_states.iter().filter(|s| {
            s.assigned_by_group
                .as_deref()
                .is_some_and(|g| g.eq_ignore_ascii_case(id))
        }) {
            any = true;
            let Some((_, plans)) = enabled(t, &s.sku_id, &s.disabled_plans) else {
                continue;
            };
            let template = group
                .assigned_licenses
                .iter()
                .find(|l| l.sku_id.eq_ignore_ascii_case(&s.sku_id))
                .and_then(|l| enabled(t, &l.sku_id, &l.disabled_plans))
                .map(|(_, p)| p);
            let healthy = s.state == "Active" && (s.error == "None" || s.error.is_empty());
            states.push(LiveGroupState {
                group: name.clone(),
                healthy,
                words: if s.error == "None" {
                    s.state.clone()
                } else {
                    format!("{} ({})", s.state, s.error)
                },
                plans,
                template,
                processed,
            });
        }
        if !any {
            return Err(format!("{name} has not assigned its license to the user"));
        }
    }
    entra::may_remove(&want, &states)
}
