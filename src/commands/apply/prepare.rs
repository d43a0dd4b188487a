//! `apply --stage prepare`: the plan's new security groups (found again by the mailNickname
//! licshift gives them, never by display name), their members 20 to a request (a request refused
//! because one member is gone or already there is split until that member is found), each
//! group's template (a group already holding the SKU with other disabled plans is reported,
//! never overwritten); then the wait for licenseProcessingState, and the checkpoint: the users
//! the waves rely on, read back and checked as `verify --stage prepare` checks them.

use super::journal::Record;
use super::{Detail, Run};
use crate::error::{Error, Result};
use crate::graph::Method;
use crate::graph::{wire, GraphError};
use crate::ingest::plan_files::PrepareRow;
use crate::model::Guid;
use crate::report::powershell::prepare::mail_nickname;
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Graph's largest `members@odata.bind`.
const MEMBERS_PER_REQUEST: usize = 20;

/// Member requests out at once. Each is one write (a wave's `$batch` carries fifteen), so
/// keeping Graph's 20 writes a second with ~300 ms of latency needs at least six in flight; the
/// client's pacer keeps them under the limit.
const MEMBER_REQUESTS_IN_FLIGHT: usize = 8;

/// Member requests journaled before a round is sent: long enough that the gap between rounds
/// (one round trip) is a small part of it.
const MEMBER_REQUESTS_PER_ROUND: usize = 120;

pub fn run(r: &mut Run, timeout: Duration) -> Result<Option<(bool, String)>> {
    let rows = r.plan.prepare.clone();
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    for row in rows.iter().filter(|x| x.action == "create-group") {
        if let Some(id) = create(r, &row.group_name)? {
            ids.insert(row.group_name.clone(), id);
        }
    }
    r.forget_made();
    let id_of = |row: &PrepareRow, ids: &BTreeMap<String, String>| {
        row.group_id
            .map(|g| g.to_string())
            .or_else(|| ids.get(&row.group_name).cloned())
    };
    let mut touched: Vec<String> = Vec::new();
    // Members, group by group.
    let mut members: BTreeMap<String, Vec<&PrepareRow>> = BTreeMap::new();
    for row in rows.iter().filter(|x| x.action == "add-member") {
        match id_of(row, &ids) {
            Some(g) => members.entry(g).or_default().push(row),
            None => r.outcome(
                &member_key("?", row),
                &row.upn,
                "skipped",
                Detail::reason(format!("group {} was not created", row.group_name)),
            )?,
        }
    }
    // Requests of 20 members, several in flight at once: with Graph's latency, one at a time
    // would leave most of the write limit unused on a large tenant.
    let mut requests: Vec<(&String, Vec<&PrepareRow>)> = Vec::new();
    for (g, list) in &members {
        let todo: Vec<&PrepareRow> = list
            .iter()
            .copied()
            .filter(|row| !r.earlier.settled(&member_key(g, row)))
            .collect();
        for chunk in todo.chunks(MEMBERS_PER_REQUEST) {
            requests.push((g, chunk.to_vec()));
        }
        touched.push(g.clone());
    }
    let total: usize = requests.iter().map(|(_, rows)| rows.len()).sum();
    let mut seen = 0;
    for round in requests.chunks(MEMBER_REQUESTS_PER_ROUND) {
        add_members_at_once(r, round)?;
        seen += round.iter().map(|(_, rows)| rows.len()).sum::<usize>();
        (r.say)(&format!(
            "prepare: members: {seen} of {total} added or there"
        ));
    }
    // Template lines, group by group: one assignLicense per group.
    let mut lines: BTreeMap<String, Vec<&PrepareRow>> = BTreeMap::new();
    for row in rows.iter().filter(|x| x.action == "assign-license") {
        match id_of(row, &ids) {
            Some(g) => lines.entry(g).or_default().push(row),
            None => r.outcome(
                &format!("license:?:{}", row.group_name),
                &row.group_name,
                "skipped",
                Detail::reason("the group was not created"),
            )?,
        }
    }
    for (g, list) in &lines {
        assign(r, g, list)?;
        touched.push(g.clone());
    }
    touched.sort();
    touched.dedup();
    if !r.dry_run {
        wait(r, &touched, timeout)?;
        if reprocess_unassigned(r)? > 0 {
            wait(r, &touched, timeout)?;
        }
    }
    checkpoint(r).map(Some)
}

/// Members the waves rely on whose covering group has not assigned its license to them at all
/// (a membership Entra has not processed yet) are reprocessed, as an engineer would, before the
/// checkpoint judges them. Returns how many.
fn reprocess_unassigned(r: &mut Run) -> Result<usize> {
    let t = &r.plan.tenant;
    let mut want: BTreeMap<Guid, Vec<String>> = BTreeMap::new();
    for x in &r.plan.removals {
        for g in r.plan.covering(x) {
            if let Some(id) = r.group_id(g) {
                want.entry(t.users[x.user.ix()].id)
                    .or_default()
                    .push(id.to_ascii_lowercase());
            }
        }
    }
    let ids: Vec<Guid> = want.keys().copied().collect();
    let live = super::live::users(r, &ids)?;
    let mut todo: Vec<(Guid, String)> = Vec::new();
    for (id, groups) in &want {
        let Some(u) = live.get(id) else { continue };
        let has = |g: &String| {
            u.license_assignment_states.iter().any(|s| {
                s.assigned_by_group
                    .as_deref()
                    .is_some_and(|b| b.eq_ignore_ascii_case(g))
            })
        };
        if !groups.iter().all(has) {
            todo.push((*id, u.user_principal_name.clone().unwrap_or_default()));
        }
    }
    for chunk in todo.chunks(wire::MAX_BATCH) {
        let requests: Vec<wire::BatchRequest> = chunk
            .iter()
            .enumerate()
            .map(|(i, (id, _))| wire::BatchRequest {
                id: (i + 1).to_string(),
                method: "POST".into(),
                url: format!("/users/{id}/reprocessLicenseAssignment"),
                headers: Some(
                    [("Content-Type".to_string(), "application/json".to_string())].into(),
                ),
                body: Some(serde_json::json!({})),
            })
            .collect();
        for (id, upn) in chunk {
            let key = format!("reprocess:{id}");
            r.intent(Record::Intent {
                key,
                user: upn.clone(),
                method: "POST".into(),
                url: format!("/users/{id}/reprocessLicenseAssignment"),
                body: serde_json::json!({}),
                before: None,
            })?;
        }
        let answers = r.block(r.client.batch(requests)).unwrap_or_default();
        for (i, (id, upn)) in chunk.iter().enumerate() {
            let key = format!("reprocess:{id}");
            let a = answers.iter().find(|a| a.id == (i + 1).to_string());
            let (outcome, error) = match a.map(|a| a.status) {
                Some(200) => ("done", None),
                Some(404) => ("gone", None),
                Some(s) => ("failed", Some(format!("HTTP {s}"))),
                None => ("failed", Some("no answer".to_string())),
            };
            r.outcome(
                &key,
                upn,
                outcome,
                Detail {
                    reason: Some(
                        "a covering group had not assigned its license to the user: reprocessed"
                            .into(),
                    ),
                    error,
                    ..Default::default()
                },
            )?;
        }
    }
    if !todo.is_empty() {
        (r.say)(&format!(
            "prepare: {} member(s) a covering group had not assigned yet were reprocessed",
            todo.len()
        ));
    }
    Ok(todo.len())
}

fn member_key(g: &str, row: &PrepareRow) -> String {
    format!(
        "member:{g}:{}",
        row.user_id.map(|u| u.to_string()).unwrap_or_default()
    )
}

/// The group named `name`, created unless a group with its mailNickname is there already.
fn create(r: &mut Run, name: &str) -> Result<Option<String>> {
    let nick = mail_nickname(name);
    let key = format!("create:{nick}");
    if let Some(id) = r.earlier.made_id(&key) {
        return Ok(Some(id));
    }
    let found = |r: &Run| -> Result<Option<String>> {
        let page: wire::Page<wire::Group> = r.block(r.client.get_json(&format!(
            "/groups?$filter=mailNickname eq '{}'&$select=id,displayName",
            nick.replace('\'', "''")
        )))?;
        Ok(page.value.first().map(|g| g.id.clone()))
    };
    if let Some(id) = found(r)? {
        r.outcome(
            &key,
            name,
            "already done",
            Detail {
                id: Some(id.clone()),
                ..Default::default()
            },
        )?;
        return Ok(Some(id));
    }
    let body = serde_json::json!({
        "displayName": name, "mailEnabled": false, "mailNickname": nick,
        "securityEnabled": true, "description": "Group-based licensing (licshift apply prepare)"});
    r.intent(Record::Intent {
        key: key.clone(),
        user: name.into(),
        method: "POST".into(),
        url: "/groups".into(),
        body: body.clone(),
        before: None,
    })?;
    if r.dry_run {
        r.outcome(
            &key,
            name,
            "would do",
            Detail::reason("would create the group"),
        )?;
        return Ok(None);
    }
    match r.block(r.client.write(Method::POST, "/groups", Some(&body))) {
        Ok(resp) => {
            let g: wire::Group = serde_json::from_slice(&resp.body).map_err(|e| {
                Error::from(GraphError::Answer {
                    url: "/groups".into(),
                    why: e.to_string(),
                })
            })?;
            r.outcome(
                &key,
                name,
                "done",
                Detail {
                    id: Some(g.id.clone()),
                    request_id: Some(resp.request_id),
                    ..Default::default()
                },
            )?;
            Ok(Some(g.id))
        }
        // No answer: the group may be there; it is found by its nickname, never made twice.
        Err(GraphError::Unknown { .. }) => match found(r)? {
            Some(id) => {
                r.outcome(
                    &key,
                    name,
                    "done",
                    Detail {
                        id: Some(id.clone()),
                        ..Default::default()
                    },
                )?;
                Ok(Some(id))
            }
            None => {
                r.outcome(
                    &key,
                    name,
                    "failed",
                    Detail {
                        error: Some("Timeout: no answer, and no group has its nickname".into()),
                        ..Default::default()
                    },
                )?;
                Ok(None)
            }
        },
        Err(e) => {
            r.outcome(
                &key,
                name,
                "failed",
                Detail {
                    error: Some(format!("{}: {e}", e.code())),
                    ..Default::default()
                },
            )?;
            Ok(None)
        }
    }
}

/// A round of member requests: every intent journaled, then the requests sent with
/// `MEMBER_REQUESTS_IN_FLIGHT` out at any moment, then each settled as `add_members` settles
/// its own. (An intent whose request a crash kept from leaving is harmless: the re-run sends
/// it, and `rollback prepare` finds that member not there.)
fn add_members_at_once(r: &mut Run, round: &[(&String, Vec<&PrepareRow>)]) -> Result<()> {
    if r.dry_run {
        for (g, rows) in round {
            add_members(r, g, rows)?;
        }
        return Ok(());
    }
    let bodies: Vec<serde_json::Value> = round.iter().map(|(_, rows)| members_body(rows)).collect();
    for (g, rows) in round {
        member_intents(r, g, rows)?;
    }
    let client = r.client;
    let sent = Instant::now();
    let results: Vec<_> = r.block(
        futures_util::stream::iter(round.iter().zip(&bodies).map(|((g, _), body)| {
            let path = format!("/groups/{g}");
            async move { client.write(Method::PATCH, &path, Some(body)).await }
        }))
        .buffered(MEMBER_REQUESTS_IN_FLIGHT)
        .collect(),
    );
    r.wrote(sent, round.len());
    for ((g, rows), result) in round.iter().zip(results) {
        settle_members(r, g, rows, result)?;
    }
    Ok(())
}

/// Adds up to 20 members in one request; a refused request is split until each member's own
/// answer is known (already a member, gone, or added).
fn add_members(r: &mut Run, g: &str, rows: &[&PrepareRow]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    if r.dry_run {
        for row in rows {
            r.outcome(
                &member_key(g, row),
                &row.upn,
                "would do",
                Detail::reason("would add to the group"),
            )?;
        }
        return Ok(());
    }
    member_intents(r, g, rows)?;
    let body = members_body(rows);
    let result = r.block(
        r.client
            .write(Method::PATCH, &format!("/groups/{g}"), Some(&body)),
    );
    settle_members(r, g, rows, result)
}

fn members_body(rows: &[&PrepareRow]) -> serde_json::Value {
    let refs: Vec<String> = rows
        .iter()
        .filter_map(|row| row.user_id)
        .map(|u| format!("https://graph.microsoft.com/v1.0/directoryObjects/{u}"))
        .collect();
    serde_json::json!({"members@odata.bind": refs})
}

/// An intent per member: rollback undoes a membership a run cut short had asked for, and only
/// those.
fn member_intents(r: &mut Run, g: &str, rows: &[&PrepareRow]) -> Result<()> {
    for row in rows {
        r.intent(Record::Intent {
            key: member_key(g, row),
            user: row.upn.clone(),
            method: "PATCH".into(),
            url: format!("/groups/{g}"),
            body: serde_json::Value::Null,
            before: None,
        })?;
    }
    Ok(())
}

/// Journals a members request's answer; a refused request of several is split and sent again
/// until each member's own answer is known.
fn settle_members(
    r: &mut Run,
    g: &str,
    rows: &[&PrepareRow],
    result: std::result::Result<crate::graph::Response, GraphError>,
) -> Result<()> {
    match result {
        Ok(resp) => {
            for row in rows {
                r.outcome(
                    &member_key(g, row),
                    &row.upn,
                    "done",
                    Detail {
                        request_id: Some(resp.request_id.clone()),
                        ..Default::default()
                    },
                )?;
            }
            Ok(())
        }
        Err(e @ (GraphError::Status { .. } | GraphError::Unknown { .. })) if rows.len() > 1 => {
            let _ = e;
            let (a, b) = rows.split_at(rows.len() / 2);
            add_members(r, g, a)?;
            add_members(r, g, b)
        }
        Err(GraphError::Status {
            status: 400,
            message,
            ..
        }) if message.contains("already exist") => r.outcome(
            &member_key(g, rows[0]),
            &rows[0].upn,
            "already done",
            Detail::default(),
        ),
        Err(GraphError::Status { status: 404, .. }) => {
            r.gone(&member_key(g, rows[0]), &rows[0].upn)
        }
        Err(GraphError::Unknown { .. }) => {
            // One member, no answer: a re-run adds it or finds it there.
            r.outcome(
                &member_key(g, rows[0]),
                &rows[0].upn,
                "failed",
                Detail {
                    error: Some("Timeout".into()),
                    ..Default::default()
                },
            )
        }
        Err(e) => r.outcome(
            &member_key(g, rows[0]),
            &rows[0].upn,
            "failed",
            Detail {
                error: Some(format!("{}: {e}", e.code())),
                ..Default::default()
            },
        ),
    }
}

/// The group's template lines, in one assignLicense; a SKU the group holds already with other
/// disabled plans is reported and left as it is.
fn assign(r: &mut Run, g: &str, rows: &[&PrepareRow]) -> Result<()> {
    let live = super::live::group(r, g)?;
    let Some(live) = live else {
        for row in rows {
            r.outcome(
                &format!("license:{g}:{}", sku(row)),
                &row.group_name,
                "failed",
                Detail::reason("the group is not in the tenant"),
            )?;
        }
        return Ok(());
    };
    let mut add = Vec::new();
    let mut keys = Vec::new();
    for row in rows {
        let key = format!("license:{g}:{}", sku(row));
        if r.earlier.settled(&key) {
            continue;
        }
        let want: Vec<String> = row.disabled_plans.iter().map(Guid::to_string).collect();
        match live
            .assigned_licenses
            .iter()
            .find(|l| Guid::parse(&l.sku_id) == row.sku_id)
        {
            Some(l) => {
                let mut have: Vec<String> = l
                    .disabled_plans
                    .iter()
                    .map(|p| p.to_ascii_lowercase())
                    .collect();
                let mut w = want.clone();
                have.sort();
                w.sort();
                if have == w {
                    r.outcome(&key, &row.group_name, "already done", Detail::default())?;
                } else {
                    r.outcome(&key, &row.group_name, "skipped", Detail::reason(format!("{} holds this SKU already with other disabled plans: not overwritten; change the group or the plan", row.group_name)))?;
                }
            }
            None => {
                add.push(wire::AssignedLicense {
                    disabled_plans: want,
                    sku_id: sku(row),
                });
                keys.push((key, row.group_name.clone()));
            }
        }
    }
    if add.is_empty() {
        return Ok(());
    }
    let body = serde_json::to_value(wire::AssignLicense {
        add_licenses: add,
        remove_licenses: Vec::new(),
    })
    .unwrap_or_default();
    let path = format!("/groups/{g}/assignLicense");
    for (key, name) in &keys {
        r.intent(Record::Intent {
            key: key.clone(),
            user: name.clone(),
            method: "POST".into(),
            url: path.clone(),
            body: body.clone(),
            before: None,
        })?;
    }
    if r.dry_run {
        for (key, name) in &keys {
            r.outcome(
                key,
                name,
                "would do",
                Detail::reason("would assign the template line"),
            )?;
        }
        return Ok(());
    }
    let result = r.block(r.client.write(Method::POST, &path, Some(&body)));
    for (key, name) in &keys {
        match &result {
            Ok(resp) => r.outcome(
                key,
                name,
                "done",
                Detail {
                    request_id: Some(resp.request_id.clone()),
                    ..Default::default()
                },
            )?,
            Err(e) => r.outcome(
                key,
                name,
                "failed",
                Detail {
                    error: Some(format!("{}: {e}", e.code())),
                    ..Default::default()
                },
            )?,
        }
    }
    Ok(())
}

fn sku(row: &PrepareRow) -> String {
    row.sku_id.map(|s| s.to_string()).unwrap_or_default()
}

/// Waits until every touched group's licenseProcessingState is `ProcessingComplete`.
pub(super) fn wait(r: &mut Run, groups: &[String], timeout: Duration) -> Result<()> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(200);
    loop {
        let mut busy = Vec::new();
        let read = r.block(super::live::read_groups(r.client, groups))?;
        for (g, live) in read {
            let Some(live) = live else { continue };
            let state = live
                .license_processing_state
                .map(|p| p.state)
                .unwrap_or_default();
            if !state.is_empty() && state != "ProcessingComplete" {
                busy.push(live.display_name.unwrap_or(g));
            }
        }
        if busy.is_empty() {
            return Ok(());
        }
        if start.elapsed() > timeout {
            (r.say)(&format!(
                "prepare: still processing after {:?}: {}; the checkpoint decides",
                timeout,
                busy.join(", ")
            ));
            return Ok(());
        }
        (r.say)(&format!(
            "prepare: waiting for license processing ({:.0} s): {}",
            start.elapsed().as_secs_f64(),
            busy.join(", ")
        ));
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_secs(15));
    }
}

/// The users the waves rely on, read back and checked by `verify --stage prepare`.
fn checkpoint(r: &mut Run) -> Result<(bool, String)> {
    let t = &r.plan.tenant;
    let mut ids: Vec<Guid> = r
        .plan
        .removals
        .iter()
        .map(|x| t.users[x.user.ix()].id)
        .collect();
    ids.sort();
    ids.dedup();
    let dir = r.run_dir.join("prepare-after");
    super::readback::write(r, &ids, &dir)?;
    let code = super::verify_quietly(&r.plan_dir, &r.snapshot_dir, Some(("prepare", &dir)))?;
    let go = code == crate::exit::OK && !r.dry_run;
    let summary = if r.dry_run {
        "dry run: the checkpoint is made after a real prepare".to_string()
    } else {
        format!(
            "checkpoint: verify --stage prepare on the read-back of {} user(s) in {}: {}",
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
