//! `apply --stage rollback wave N`: from wave N's journal, every user whose removal was sent —
//! done, failed, or cut short by a crash — is read live, and each direct copy the wave asked to
//! remove that is missing now is assigned again with the disabled plans it had just before
//! (the journal's `before`, not the snapshot). Every user is tried; each result is journaled.

use super::journal::{read, Record, Steps};
use super::live::{self, USERS_PER_READ};
use super::{Detail, Run, Stage};
use crate::error::Result;
use crate::graph::wire::{self, BatchRequest};
use crate::model::Guid;

struct Restore {
    key: String,
    user: Guid,
    upn: String,
    add: Vec<wire::AssignedLicense>,
}

pub fn run(r: &mut Run, n: u32) -> Result<()> {
    let wave = Steps::of(&read(
        &r.run_dir.join(format!("{}.jsonl", Stage::Wave(n).name())),
    ));
    let mut todo: Vec<(String, Guid, String, Vec<wire::LicenseAssignmentState>)> = Vec::new();
    for rec in wave.intents.values() {
        let Record::Intent {
            key,
            user,
            body,
            before: Some(before),
            ..
        } = rec
        else {
            continue;
        };
        if r.earlier.settled(key) {
            continue;
        }
        let removed: Vec<String> = body
            .get("removeLicenses")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_ascii_lowercase))
                    .collect()
            })
            .unwrap_or_default();
        let was: Vec<wire::LicenseAssignmentState> = before
            .iter()
            .filter(|s| {
                s.assigned_by_group.is_none() && removed.contains(&s.sku_id.to_ascii_lowercase())
            })
            .cloned()
            .collect();
        let Some(id) = key.strip_prefix("user:").and_then(Guid::parse) else {
            continue;
        };
        todo.push((key.clone(), id, user.clone(), was));
    }
    for chunk in todo.chunks(USERS_PER_READ) {
        let ids: Vec<Guid> = chunk.iter().map(|c| c.1).collect();
        let now = live::users(r, &ids)?;
        let mut steps = Vec::new();
        for (key, id, upn, was) in chunk {
            let Some(u) = now.get(id) else {
                r.gone(key, upn)?;
                continue;
            };
            let add: Vec<wire::AssignedLicense> = was
                .iter()
                .filter(|s| live::direct(u, Guid::parse(&s.sku_id).unwrap_or_default()).is_none())
                .map(|s| wire::AssignedLicense {
                    disabled_plans: s.disabled_plans.clone(),
                    sku_id: s.sku_id.clone(),
                })
                .collect();
            if add.is_empty() {
                r.outcome(
                    key,
                    upn,
                    "already done",
                    Detail::reason("every direct copy the wave removed is there"),
                )?;
                continue;
            }
            let body = serde_json::to_value(wire::AssignLicense {
                add_licenses: add.clone(),
                remove_licenses: Vec::new(),
            })
            .unwrap_or_default();
            r.intent(Record::Intent {
                key: key.clone(),
                user: upn.clone(),
                method: "POST".into(),
                url: format!("/users/{id}/assignLicense"),
                body,
                before: Some(u.license_assignment_states.clone()),
            })?;
            steps.push(Restore {
                key: key.clone(),
                user: *id,
                upn: upn.clone(),
                add,
            });
        }
        if r.dry_run {
            for s in steps {
                r.outcome(
                    &s.key,
                    &s.upn,
                    "would do",
                    Detail::reason(format!("would restore {} SKU(s)", s.add.len())),
                )?;
            }
            continue;
        }
        send(r, steps)?;
    }
    Ok(())
}

fn send(r: &mut Run, steps: Vec<Restore>) -> Result<()> {
    if steps.is_empty() {
        return Ok(());
    }
    let requests: Vec<BatchRequest> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| BatchRequest {
            id: (i + 1).to_string(),
            method: "POST".into(),
            url: format!("/users/{}/assignLicense", s.user),
            headers: Some([("Content-Type".to_string(), "application/json".to_string())].into()),
            body: serde_json::to_value(wire::AssignLicense {
                add_licenses: s.add.clone(),
                remove_licenses: Vec::new(),
            })
            .ok(),
        })
        .collect();
    let answers = r.block(r.client.batch(requests)).unwrap_or_default();
    let mut unknown = Vec::new();
    for (i, s) in steps.into_iter().enumerate() {
        match answers.iter().find(|a| a.id == (i + 1).to_string()) {
            Some(a) if a.status == 200 => r.outcome(
                &s.key,
                &s.upn,
                "done",
                Detail {
                    request_id: a.headers.get("request-id").cloned(),
                    ..Default::default()
                },
            )?,
            Some(a) if a.status == 404 => r.gone(&s.key, &s.upn)?,
            Some(a) if a.status < 500 && a.status != 429 => {
                let (code, message) = super::wave::error_words(&a.body);
                r.outcome(
                    &s.key,
                    &s.upn,
                    "failed",
                    Detail {
                        error: Some(format!("{code}: {message}")),
                        request_id: a.headers.get("request-id").cloned(),
                        ..Default::default()
                    },
                )?;
            }
            _ => unknown.push(s),
        }
    }
    let ids: Vec<Guid> = unknown.iter().map(|s| s.user).collect();
    let now = live::users(r, &ids)?;
    for s in unknown {
        match now.get(&s.user) {
            None => r.gone(&s.key, &s.upn)?,
            Some(u)
                if s.add.iter().all(|l| {
                    live::direct(u, Guid::parse(&l.sku_id).unwrap_or_default()).is_some()
                }) =>
            {
                r.outcome(&s.key, &s.upn, "done", Detail::default())?
            }
            Some(_) => r.outcome(
                &s.key,
                &s.upn,
                "failed",
                Detail {
                    error: Some("Timeout: no answer, and the copy is still missing".into()),
                    ..Default::default()
                },
            )?,
        }
    }
    Ok(())
}
