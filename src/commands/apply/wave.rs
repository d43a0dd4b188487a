//! `apply --stage wave N`: per user, read live; remove the direct copies the plan names only if
//! every covering group's assignment is `Active`, error-free, settled and still enables every
//! plan the copy does; one assignLicense per user, 15 users to a `$batch` (the users one read
//! fetches), four `$batch`es in flight, paced by the client under the write limit. Then the users of waves 1..=N are read
//! back into `run/wave-N-after/` and checked as `verify --after N` checks them.

use super::live::{self, IN_FLIGHT, USERS_PER_READ};
use super::{Detail, Run};
use crate::error::{Error, Result};
use crate::graph::wire::{self, BatchRequest};
use crate::graph::GraphError;
use crate::model::Guid;
use crate::verify::Resolved;
use std::collections::BTreeMap;

/// One user's step: whom, what to remove, what to skip and why.
struct Step {
    key: String,
    user: Guid,
    upn: String,
    remove: Vec<Guid>,
    skipped: Vec<String>,
}

pub fn run(r: &mut Run, n: u32) -> Result<Option<(bool, String)>> {
    let plan = r.plan;
    let t = &plan.tenant;
    let users = plan.wave(n);
    if users.is_empty() {
        return Err(Error::Usage(
            format!("the plan has no wave {n}"),
            Some(format!("its waves are 1 to {}", plan.waves)),
        ));
    }
    let total = users.len();
    // Rounds of IN_FLIGHT chunks of 15 users, less those a run before settled. Each round is
    // read whole, decided and journaled, then sent as IN_FLIGHT `$batch`es at once while the
    // next round is read: Graph's latency hides behind the pacing of the writes.
    let mut seen = 0;
    let mut rounds = Vec::new();
    for chunk in users.chunks(USERS_PER_READ * IN_FLIGHT) {
        seen += chunk.len();
        let todo: Vec<&Vec<&Resolved>> = chunk
            .iter()
            .filter(|rs| !r.earlier.settled(&super::user_key(t, rs[0].user)))
            .collect();
        if !todo.is_empty() {
            rounds.push(Round::new(r, seen, todo));
        }
    }
    let mut next = match rounds.first() {
        Some(first) => Some(r.block(read(r.client, first))?),
        None => None,
    };
    for (i, round) in rounds.iter().enumerate() {
        let Some((now, groups)) = next.take() else {
            break;
        };
        let steps = decide(r, round, &now, &groups)?;
        let following = rounds.get(i + 1);
        let read_next = async {
            match following {
                Some(f) => Some(read(r.client, f).await),
                None => None,
            }
        };
        if r.dry_run {
            for s in steps {
                r.outcome(
                    &s.key,
                    &s.upn,
                    "would do",
                    Detail::reason(format!("would remove {} SKU(s)", s.remove.len())),
                )?;
            }
            next = r.block(read_next).transpose()?;
        } else {
            let (results, read) = r.send_batches(batches(&steps), read_next);
            // This round's answers are journaled before a failed read of the next one stops
            // the run.
            journal(r, steps, results)?;
            next = read.transpose()?;
        }
        (r.say)(&format!("wave {n}: {} of {total} users", round.seen));
    }
    let (go, summary) = read_back(r, n)?;
    Ok(Some((go, summary)))
}

/// A round's users, and the groups covering them: (id, name) per user, and every id once.
struct Round<'p> {
    seen: usize,
    todo: Vec<&'p Vec<&'p Resolved>>,
    ids: Vec<Guid>,
    covering: BTreeMap<crate::model::UserIdx, Vec<(String, String)>>,
    group_ids: Vec<String>,
}

impl<'p> Round<'p> {
    fn new(r: &Run<'p>, seen: usize, todo: Vec<&'p Vec<&'p Resolved>>) -> Round<'p> {
        let plan = r.plan;
        let t = &plan.tenant;
        let ids = todo.iter().map(|rs| t.users[rs[0].user.ix()].id).collect();
        let mut covering: BTreeMap<crate::model::UserIdx, Vec<(String, String)>> = BTreeMap::new();
        let mut group_ids: Vec<String> = Vec::new();
        for rs in &todo {
            for res in rs.iter() {
                for g in plan.covering(res) {
                    let id = r.group_id(g).unwrap_or_default();
                    if !id.is_empty() {
                        group_ids.push(id.clone());
                    }
                    covering
                        .entry(res.user)
                        .or_default()
                        .push((id, t.group_label(g).to_string()));
                }
            }
        }
        group_ids.sort();
        group_ids.dedup();
        Round {
            seen,
            todo,
            ids,
            covering,
            group_ids,
        }
    }
}

type Live = (
    BTreeMap<Guid, wire::User>,
    BTreeMap<String, Option<wire::Group>>,
);

/// A round's users and covering groups, read live: a group another admin changed after the
/// checkpoint is seen before its members are touched.
async fn read(client: &crate::graph::Client, round: &Round<'_>) -> Result<Live> {
    let (users, groups) = futures_util::future::join(
        live::read_users(client, &round.ids),
        live::read_groups(client, &round.group_ids),
    )
    .await;
    Ok((users?, groups?))
}

/// Per user of the round: gone, already done, skipped (journaled now), or a step to send,
/// whose intent is journaled before anything is sent.
fn decide(
    r: &mut Run,
    round: &Round,
    now: &BTreeMap<Guid, wire::User>,
    groups: &BTreeMap<String, Option<wire::Group>>,
) -> Result<Vec<Step>> {
    let plan = r.plan;
    let t = &plan.tenant;
    let mut steps = Vec::new();
    for rs in &round.todo {
        let u = rs[0].user;
        let user = &t.users[u.ix()];
        let key = super::user_key(t, u);
        let Some(live_user) = now.get(&user.id) else {
            r.gone(&key, &user.upn)?;
            continue;
        };
        let mut cov = round.covering.get(&u).cloned().unwrap_or_default();
        cov.sort();
        cov.dedup();
        let mut step = Step {
            key,
            user: user.id,
            upn: user.upn.clone(),
            remove: Vec::new(),
            skipped: Vec::new(),
        };
        for res in rs.iter() {
            let sku = t.skus[res.sku.ix()].id;
            if live::direct(live_user, sku).is_none() {
                continue;
            }
            let mine: Vec<(String, String)> = plan
                .covering(res)
                .iter()
                .map(|g| {
                    (
                        r.group_id(*g).unwrap_or_default(),
                        t.group_label(*g).to_string(),
                    )
                })
                .collect();
            if let Some((_, missing)) = mine.iter().find(|(id, _)| id.is_empty()) {
                step.skipped.push(format!(
                    "{}: group {missing} was never created (run prepare)",
                    t.sku_label(res.sku)
                ));
                continue;
            }
            match live::decide(t, live_user, res.sku, &mine, &groups) {
                Ok(()) => step.remove.push(sku),
                Err(why) => step
                    .skipped
                    .push(format!("{}: {why}", t.sku_label(res.sku))),
            }
        }
        if step.remove.is_empty() {
            let (outcome, detail) = if step.skipped.is_empty() {
                ("already done", Detail::default())
            } else {
                ("skipped", Detail::reason(step.skipped.join("; ")))
            };
            r.outcome(&step.key, &step.upn, outcome, detail)?;
            continue;
        }
        let body = assign_body(&step.remove);
        r.intent(super::journal::Record::Intent {
            key: step.key.clone(),
            user: step.upn.clone(),
            method: "POST".into(),
            url: format!("/users/{}/assignLicense", step.user),
            body,
            before: Some(live_user.license_assignment_states.clone()),
        })?;
        steps.push(step);
    }
    Ok(steps)
}

fn assign_body(remove: &[Guid]) -> serde_json::Value {
    serde_json::to_value(wire::AssignLicense {
        add_licenses: Vec::new(),
        remove_licenses: remove.iter().map(Guid::to_string).collect(),
    })
    .unwrap_or_default()
}

/// The steps as `$batch`es of 15.
fn batches(steps: &[Step]) -> Vec<Vec<BatchRequest>> {
    steps
        .chunks(USERS_PER_READ)
        .map(|chunk| {
            chunk
                .iter()
                .enumerate()
                .map(|(i, s)| BatchRequest {
                    id: (i + 1).to_string(),
                    method: "POST".into(),
                    url: format!("/users/{}/assignLicense", s.user),
                    headers: Some(
                        [("Content-Type".to_string(), "application/json".to_string())].into(),
                    ),
                    body: Some(assign_body(&s.remove)),
                })
                .collect()
        })
        .collect()
}

/// Journals every `$batch`'s answers (`results` in the order of `batches(steps)`); an answer
/// that does not say whether the write was made (a timeout) is settled by reading the user
/// back.
fn journal(r: &mut Run, steps: Vec<Step>, results: super::BatchAnswers) -> Result<()> {
    let mut unknown = Vec::new();
    let mut steps = steps.into_iter();
    for result in results {
        let chunk: Vec<Step> = steps.by_ref().take(USERS_PER_READ).collect();
        let answers = match result {
            Ok(a) => a,
            // The whole batch's answer was lost: every step is read back.
            Err(GraphError::Unknown { .. }) | Err(GraphError::GaveUp { .. }) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        answer(r, chunk, &answers, &mut unknown)?;
    }
    settle_unknown(r, unknown)
}

/// Journals one `$batch`'s answers; the steps whose answer leaves the write open go to
/// `unknown`.
fn answer(
    r: &mut Run,
    steps: Vec<Step>,
    answers: &[wire::BatchResponse],
    unknown: &mut Vec<Step>,
) -> Result<()> {
    for (i, s) in steps.into_iter().enumerate() {
        let a = answers.iter().find(|a| a.id == (i + 1).to_string());
        let request_id = a.and_then(|a| a.headers.get("request-id").cloned());
        let detail = |reason: Option<String>, error: Option<String>, after| Detail {
            reason,
            error,
            request_id: request_id.clone(),
            after,
            id: None,
        };
        let skipped = (!s.skipped.is_empty()).then(|| s.skipped.join("; "));
        match a.map(|a| (a.status, a.body.clone())) {
            Some((200, body)) => {
                let after = body
                    .and_then(|b| serde_json::from_value::<wire::User>(b).ok())
                    .map(|u| u.license_assignment_states);
                let outcome = if skipped.is_some() { "skipped" } else { "done" };
                r.outcome(&s.key, &s.upn, outcome, detail(skipped, None, after))?;
            }
            Some((404, _)) => r.outcome(
                &s.key,
                &s.upn,
                "gone",
                detail(Some(super::GONE.into()), None, None),
            )?,
            Some((status, body)) if status < 500 && status != 429 => {
                let (code, message) = error_words(&body);
                if message == "User does not have a corresponding license." {
                    unknown.push(s);
                } else {
                    r.outcome(
                        &s.key,
                        &s.upn,
                        "failed",
                        detail(skipped, Some(format!("{code}: {message}")), None),
                    )?;
                }
            }
            _ => unknown.push(s),
        }
    }
    Ok(())
}

fn settle_unknown(r: &mut Run, unknown: Vec<Step>) -> Result<()> {
    // Read back what the answers left open: a write Graph applied but answered with a timeout
    // is done; one it did not apply has failed and is retried by a re-run.
    let ids: Vec<Guid> = unknown.iter().map(|s| s.user).collect();
    let now = live::users(r, &ids)?;
    for s in unknown {
        match now.get(&s.user) {
            None => r.gone(&s.key, &s.upn)?,
            Some(u) => {
                let left: Vec<&Guid> = s
                    .remove
                    .iter()
                    .filter(|g| live::direct(u, **g).is_some())
                    .collect();
                if left.is_empty() {
                    let outcome = if s.skipped.is_empty() {
                        "done"
                    } else {
                        "skipped"
                    };
                    let reason = (!s.skipped.is_empty()).then(|| s.skipped.join("; "));
                    r.outcome(
                        &s.key,
                        &s.upn,
                        outcome,
                        Detail {
                            reason,
                            after: Some(u.license_assignment_states.clone()),
                            ..Default::default()
                        },
                    )?;
                } else {
                    r.outcome(
                        &s.key,
                        &s.upn,
                        "failed",
                        Detail {
                            error: Some(
                                "Timeout: no answer, and the direct assignment is still there"
                                    .into(),
                            ),
                            ..Default::default()
                        },
                    )?;
                }
            }
        }
    }
    Ok(())
}

/// The users of waves 1..=N read back into `run/wave-N-after/` (a partial snapshot `verify
/// --after N` accepts), then checked by verify itself.
fn read_back(r: &mut Run, n: u32) -> Result<(bool, String)> {
    let plan = r.plan;
    let t = &plan.tenant;
    let mut ids: Vec<Guid> = plan
        .removals
        .iter()
        .filter(|x| x.wave <= n)
        .map(|x| t.users[x.user.ix()].id)
        .collect();
    ids.sort();
    ids.dedup();
    let dir = r.run_dir.join(format!("wave-{n}-after"));
    super::readback::write(r, &ids, &dir)?;
    let code = super::verify_quietly(
        &r.plan_dir,
        &r.snapshot_dir,
        Some((&format!("after {n}"), &dir)),
    )?;
    let go = code == crate::exit::OK;
    let summary = format!(
        "verify --after {n} on the read-back of {} user(s) in {}: {}",
        ids.len(),
        dir.display(),
        if go {
            "all clear"
        } else {
            "violations (run it to see them)"
        }
    );
    r.intent(super::journal::Record::Check {
        go,
        summary: summary.clone(),
        at: crate::clock::utc_now(),
    })?;
    Ok((go, summary))
}

/// Graph's error code and message from an inner `$batch` answer's body.
pub fn error_words(body: &Option<serde_json::Value>) -> (String, String) {
    let e = body.as_ref().and_then(|b| b.get("error"));
    let text = |k: &str| {
        e.and_then(|e| e.get(k))
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    (text("code"), text("message"))
}
