//! How the sandbox's tenant changes, the way Entra changes it: a direct `assignLicense` at once
//! or refused whole; a group's licenses processed for its members after a delay, each member's
//! outcome decided by `engine::entra` (SPEC §3.2) and recorded in licenseAssignmentStates; and the
//! watch, which compares each changed user's effective plans before and after and records every
//! plan lost with the request that caused it.

use super::directory::{Directory, Lic, COMPLETE, QUEUED};
use crate::engine::entra::{self, Held, Refusal};
use crate::model::{LicenseError, PlanSet, SkuIdx, State};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, serde::Serialize)]
pub struct LostPlan {
    pub user: String,
    pub plan: String,
    pub request: String,
}

#[derive(Debug, Default)]
pub struct Watch {
    pub changes: u64,
    pub lost: Vec<LostPlan>,
}

/// A refusal as Graph answers it.
#[derive(Debug, Clone)]
pub struct Refused {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

pub fn bad_request(message: String) -> Refused {
    Refused {
        status: 400,
        code: "Request_BadRequest",
        message,
    }
}

pub fn not_found(id: &str) -> Refused {
    Refused {
        status: 404,
        code: "Request_ResourceNotFound",
        message: format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
    }
}

impl Directory {
    /// Runs `change` on user `u`; keeps seat counts and the watch up to date.
    fn changing(
        &mut self,
        u: usize,
        watch: &mut Watch,
        request: &str,
        change: impl FnOnce(&mut Directory),
    ) {
        let before = self.effective(u);
        let seats_before = self.seats_held(u);
        let licenses_before = self.users[u].licenses.clone();
        change(self);
        let after = self.effective(u);
        let seats_after = self.seats_held(u);
        for s in seats_after.iter().filter(|s| !seats_before.contains(s)) {
            self.skus[s.ix()].consumed += 1;
        }
        for s in seats_before.iter().filter(|s| !seats_after.contains(s)) {
            self.skus[s.ix()].consumed -= 1;
        }
        if self.users[u].licenses != licenses_before {
            watch.changes += 1;
        }
        // SPEC §4: a plan may leave only when a license given in the same change (the
        // bridge's swap) brings a plan that supersedes it; any other loss is a lost plan.
        let mut arrived = PlanSet::new();
        for l in self.users[u]
            .licenses
            .iter()
            .filter(|l| l.state.provides_plans() && !licenses_before.contains(l))
        {
            arrived.union_with(&self.enabled(l.sku, &l.disabled));
        }
        for p in before
            .minus(&after)
            .iter()
            .filter(|&p| !self.rules.superseding(p).intersects(&arrived))
        {
            watch.lost.push(LostPlan {
                user: self.users[u].upn.clone(),
                plan: self.plan_label(p),
                request: request.to_string(),
            });
        }
    }

    fn template(&self, g: usize) -> PlanSet {
        let mut p = PlanSet::new();
        for (s, d) in &self.groups[g].licenses {
            p.union_with(&self.enabled(*s, d));
        }
        p
    }

    /// Entra's processing of group `g` for member `u`: the group's licenses take whole or fail
    /// whole; an assignment already in effect with the same lines stays as it is.
    fn settle(&mut self, u: usize, g: usize, stamp: &str, watch: &mut Watch, cause: &str) {
        let lines = self.groups[g].licenses.clone();
        let current: Vec<&Lic> = self.users[u]
            .licenses
            .iter()
            .filter(|l| l.by == Some(g))
            .collect();
        let same = current.len() == lines.len()
            && lines.iter().all(|(s, d)| {
                current.iter().any(|l| {
                    l.sku == *s && l.disabled == *d && l.state == State::Active && l.error.is_none()
                })
            });
        if same {
            return;
        }
        let mut held = PlanSet::new();
        for l in self.users[u]
            .licenses
            .iter()
            .filter(|l| l.by != Some(g) && l.state.provides_plans())
        {
            held.union_with(&self.enabled(l.sku, &l.disabled));
        }
        let seats = self.seats_held(u);
        let short = lines
            .iter()
            .any(|(s, _)| !seats.contains(s) && self.skus[s.ix()].free() <= 0);
        let outcome = if lines.is_empty() {
            Ok(())
        } else {
            entra::group_takes(
                &self.rules,
                &self.template(g),
                &Held {
                    plans: &held,
                    location: self.users[u].location.or(self.location),
                },
                short,
            )
        };
        let stamp = stamp.to_string();
        self.changing(u, watch, cause, |d| {
            let user = &mut d.users[u];
            user.licenses.retain(|l| l.by != Some(g));
            for (s, disabled) in lines {
                user.licenses.push(Lic {
                    sku: s,
                    disabled,
                    by: Some(g),
                    state: if outcome.is_ok() {
                        State::Active
                    } else {
                        State::Error
                    },
                    error: outcome.err(),
                    updated: stamp.clone(),
                });
            }
            user.licenses
                .sort_by_key(|l| (l.sku, l.by.map_or(0, |g| g + 1)));
        });
    }

    /// Queues group `g`'s processing: it completes `delay` after the first change queued.
    pub fn queue(&mut self, g: usize, delay: Duration, cause: &str) {
        let group = &mut self.groups[g];
        group.processing = QUEUED;
        if group.due.is_none() {
            group.due = Some(Instant::now() + delay);
            group.cause = cause.to_string();
        }
    }

    /// Completes the processing of every group whose time has come.
    pub fn process_due(&mut self, now: Instant, stamp: &str, watch: &mut Watch) {
        for g in 0..self.groups.len() {
            if self.groups[g].due.is_some_and(|d| d <= now) {
                self.process(g, stamp, watch);
            }
        }
    }

    fn process(&mut self, g: usize, stamp: &str, watch: &mut Watch) {
        let cause = format!(
            "processing of group {} ({}) queued by {}",
            self.groups[g].name, self.groups[g].id, self.groups[g].cause
        );
        for u in self.groups[g].members.clone() {
            if !self.users[u].deleted {
                self.settle(u, g, stamp, watch, &cause);
            }
        }
        for u in std::mem::take(&mut self.groups[g].left) {
            if !self.users[u].deleted && !self.users[u].groups.contains(&g) {
                self.changing(u, watch, &cause, |d| {
                    d.users[u].licenses.retain(|l| l.by != Some(g))
                });
            }
        }
        let group = &mut self.groups[g];
        group.processing = COMPLETE;
        group.due = None;
    }

    /// `POST /users/{id}/reprocessLicenseAssignment`: each of the user's groups processed again
    /// for this user now.
    pub fn reprocess(&mut self, u: usize, stamp: &str, watch: &mut Watch, request: &str) {
        for g in self.users[u].groups.clone() {
            if !self.groups[g].licenses.is_empty() {
                self.settle(u, g, stamp, watch, request);
            }
        }
    }

    /// `POST /users/{id}/assignLicense`: applied at once, or refused whole as Graph refuses it.
    pub fn assign_direct(
        &mut self,
        u: usize,
        add: Vec<(SkuIdx, PlanSet)>,
        remove: Vec<SkuIdx>,
        stamp: &str,
        watch: &mut Watch,
        request: &str,
    ) -> Result<(), Refused> {
        let user = &self.users[u];
        for s in &remove {
            if !user.licenses.iter().any(|l| l.sku == *s && l.by.is_none()) {
                return Err(bad_request(
                    "User does not have a corresponding license.".into(),
                ));
            }
        }
        // What stays: every other assignment, minus the direct ones removed or replaced.
        let added: Vec<SkuIdx> = add.iter().map(|(s, _)| *s).collect();
        let replaced = move |s: SkuIdx| remove.contains(&s) || added.contains(&s);
        let mut held = PlanSet::new();
        let mut seats: Vec<SkuIdx> = Vec::new();
        for l in user.licenses.iter().filter(|l| l.state.provides_plans()) {
            if l.by.is_none() && replaced(l.sku) {
                continue;
            }
            held.union_with(&self.enabled(l.sku, &l.disabled));
            seats.push(l.sku);
        }
        let mut adding = PlanSet::new();
        for (s, d) in &add {
            adding.union_with(&self.enabled(*s, d));
        }
        let short = add.iter().map(|(s, _)| *s).find(|s| {
            let had = user
                .licenses
                .iter()
                .any(|l| l.sku == *s && l.state.provides_plans());
            !had && !seats.contains(s) && self.skus[s.ix()].free() <= 0
        });
        let location = user.location;
        entra::direct_allowed(
            &self.rules,
            &adding,
            &Held {
                plans: &held,
                location,
            },
            short,
        )
        .map_err(|r| self.refusal(r))?;
        let stamp = stamp.to_string();
        self.changing(u, watch, request, |d| {
            let user = &mut d.users[u];
            user.licenses
                .retain(|l| !(l.by.is_none() && replaced(l.sku)));
            for (s, disabled) in add {
                user.licenses.push(Lic {
                    sku: s,
                    disabled,
                    by: None,
                    state: State::Active,
                    error: None,
                    updated: stamp.clone(),
                });
            }
            user.licenses
                .sort_by_key(|l| (l.sku, l.by.map_or(0, |g| g + 1)));
        });
        Ok(())
    }

    /// Graph's words for a refused `assignLicense` (docs/sandbox.md gives the sources).
    fn refusal(&self, r: Refusal) -> Refused {
        let id = |p: crate::model::PlanIdx| self.plan_ids[p.ix()].to_string();
        bad_request(match r {
            Refusal::Conflict { plan, with } => format!(
                "License assignment failed because service plans {}, {} are mutually exclusive.",
                id(plan),
                id(with)
            ),
            Refusal::Dependency { plan, needs } => format!(
                "License assignment failed because service plan {} depends on the service plan(s) {}",
                id(plan),
                needs.iter().map(id).collect::<Vec<_>>().join(", ")
            ),
            Refusal::Location => {
                "License assignment cannot be done for user with invalid usage location.".into()
            }
            Refusal::Seats { sku } => format!(
                "Subscription with SKU {} does not have any available licenses.",
                self.skus[sku.ix()].id
            ),
        })
    }

    /// `POST /groups/{id}/assignLicense`: the group's licenses change now; its members' follow
    /// when the group is processed. A prerequisite missing from the group's own plans is refused
    /// at once.
    pub fn assign_group(
        &mut self,
        g: usize,
        add: Vec<(SkuIdx, PlanSet)>,
        remove: Vec<SkuIdx>,
        delay: Duration,
        request: &str,
    ) -> Result<(), Refused> {
        let mut lines = self.groups[g].licenses.clone();
        for s in &remove {
            if !lines.iter().any(|(l, _)| l == s) {
                return Err(bad_request(
                    "Group does not have a corresponding license.".into(),
                ));
            }
        }
        lines.retain(|(s, _)| !remove.contains(s) && !add.iter().any(|(a, _)| a == s));
        lines.extend(add);
        lines.sort_by_key(|l| l.0);
        let mut plans = PlanSet::new();
        for (s, d) in &lines {
            plans.union_with(&self.enabled(*s, d));
        }
        if let Some((plan, needs)) = self.rules.unmet_requirements(&plans).into_iter().next() {
            return Err(self.refusal(Refusal::Dependency { plan, needs }));
        }
        self.groups[g].licenses = lines;
        self.queue(g, delay, request);
        Ok(())
    }

    pub fn add_member(&mut self, g: usize, u: usize, delay: Duration, request: &str) {
        self.groups[g].members.push(u);
        self.groups[g].left.retain(|&x| x != u);
        self.users[u].groups.push(g);
        self.queue(g, delay, request);
    }

    /// `DELETE /groups/{id}`: its members leave (their licenses from it go when it is
    /// processed) and it is found no more.
    pub fn delete_group(&mut self, g: usize, delay: Duration, request: &str) {
        for u in self.groups[g].members.clone() {
            self.remove_member(g, u, delay, request);
        }
        self.groups[g].licenses.clear();
        self.group_by_id.remove(&self.groups[g].id);
    }

    /// The group is not deleted.
    pub fn is_live_group(&self, g: usize) -> bool {
        self.group_by_id.get(&self.groups[g].id) == Some(&g)
    }

    pub fn remove_member(&mut self, g: usize, u: usize, delay: Duration, request: &str) {
        self.groups[g].members.retain(|&x| x != u);
        self.groups[g].left.push(u);
        self.users[u].groups.retain(|&x| x != g);
        self.queue(g, delay, request);
    }

    /// A user deleted (by someone else, mid-run): gone from every group, seats freed. Not a
    /// lost plan: the account is gone.
    pub fn delete_user(&mut self, u: usize) {
        for s in self.seats_held(u) {
            self.skus[s.ix()].consumed -= 1;
        }
        for g in std::mem::take(&mut self.users[u].groups) {
            self.groups[g].members.retain(|&x| x != u);
        }
        let user = &mut self.users[u];
        user.licenses.clear();
        user.deleted = true;
    }

    /// The error a user's state shows, for tests and the report.
    pub fn errors_of(&self, u: usize) -> Vec<(SkuIdx, LicenseError)> {
        self.users[u]
            .licenses
            .iter()
            .filter_map(|l| Some((l.sku, l.error?)))
            .collect()
    }
}
