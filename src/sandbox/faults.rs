//! Faults as data: from one seed, the same schedule every run — 503 storms and single 503s, a
//! read answered 504, a write applied and then answered 504 (the client must read it back), one
//! user deleted mid-run and one group's license changed by "another admin" mid-run. Deletion and
//! the admin's change come only once writes have begun, so a read-only run sees only 503s and
//! 504s and must end with the same files as a run without faults.

use super::directory::Directory;
use crate::model::{PlanSet, SkuIdx};
use std::time::Duration;

#[derive(Debug, Default, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultCounts {
    pub unavailable: u64,
    pub timeouts: u64,
    pub deleted_users: Vec<String>,
    pub admin_changes: Vec<String>,
}

pub struct Faults {
    seed: u64,
    n: u64,
    storm: u32,
    writes: u64,
    delete_at: u64,
    admin_at: u64,
    admin_tried: bool,
    pub counts: FaultCounts,
}

/// What to do with a request before it is handled.
pub enum Before {
    Handle,
    Unavailable,
    ReadTimeout,
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// How long a 503 asks the client to wait.
pub const UNAVAILABLE_RETRY: Duration = Duration::from_millis(50);

impl Faults {
    pub fn new(seed: u64) -> Faults {
        Faults {
            seed,
            n: 0,
            storm: 0,
            writes: 0,
            delete_at: 5 + splitmix(seed ^ 1) % 40,
            admin_at: 10 + splitmix(seed ^ 2) % 60,
            admin_tried: false,
            counts: FaultCounts::default(),
        }
    }

    fn roll(&mut self) -> u64 {
        self.n += 1;
        splitmix(self.seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ self.n)
    }

    pub fn before(&mut self, write: bool) -> Before {
        if self.storm > 0 {
            self.storm -= 1;
            self.counts.unavailable += 1;
            return Before::Unavailable;
        }
        let r = self.roll() % 1000;
        if r < 40 {
            // A storm: this and the next few requests, whoever sends them.
            self.storm = 1 + (r % 4) as u32;
            self.counts.unavailable += 1;
            return Before::Unavailable;
        }
        if r < 100 {
            self.counts.unavailable += 1;
            return Before::Unavailable;
        }
        if !write && r < 140 {
            self.counts.timeouts += 1;
            return Before::ReadTimeout;
        }
        Before::Handle
    }

    /// After a write was applied: answer it with a timeout instead?
    pub fn after_write(&mut self) -> bool {
        let hit = self.roll() % 100 < 5;
        if hit {
            self.counts.timeouts += 1;
        }
        hit
    }

    /// A user deleted by someone else, at its turn among the writes. `target` is the user the
    /// current request is about (never the one deleted).
    pub fn between_writes(&mut self, d: &mut Directory, target: Option<usize>) {
        self.writes += 1;
        if self.writes == self.delete_at {
            let candidates: Vec<usize> = (0..d.users.len())
                .filter(|&u| {
                    Some(u) != target
                        && !d.users[u].deleted
                        && d.users[u].licenses.iter().any(|l| l.by.is_none())
                })
                .collect();
            if !candidates.is_empty() {
                let u = candidates[(splitmix(self.seed ^ 3) % candidates.len() as u64) as usize];
                self.counts.deleted_users.push(d.users[u].upn.clone());
                d.delete_user(u);
            }
        }
    }

    /// Another admin's change to a group's license, once writes have reached its turn, landing
    /// between a client's batches — as it reads its next users. A change landing while a batch
    /// is in flight is a race no client can close; `verify --after` reports what it costs.
    pub fn between_batches(&mut self, d: &mut Directory, delay: Duration) {
        if self.writes >= self.admin_at && self.counts.admin_changes.is_empty() && !self.admin_tried
        {
            self.admin_tried = true;
            if let Some(what) = admin_change(d, self.seed, delay) {
                self.counts.admin_changes.push(what);
            }
        }
    }
}

/// Another admin disables one plan in a group's license — one that every member holding it
/// through the group also holds from another source, so the change itself takes nothing from
/// anyone. What it tests is that licshift reads groups live, not that Entra hurts users.
fn admin_change(d: &mut Directory, seed: u64, delay: Duration) -> Option<String> {
    let mut options: Vec<(usize, SkuIdx, crate::model::PlanIdx)> = Vec::new();
    for g in 0..d.groups.len() {
        for (s, disabled) in &d.groups[g].licenses {
            for p in d.enabled(*s, disabled).iter() {
                let harmless = d.groups[g].members.iter().all(|&u| {
                    let user = &d.users[u];
                    user.deleted
                        || user.licenses.iter().any(|l| {
                            l.by != Some(g)
                                && l.state.provides_plans()
                                && d.enabled(l.sku, &l.disabled).contains(p)
                        })
                        || !user
                            .licenses
                            .iter()
                            .any(|l| l.by == Some(g) && l.state.provides_plans())
                });
                if harmless && !d.groups[g].members.is_empty() {
                    options.push((g, *s, p));
                }
            }
        }
    }
    if options.is_empty() {
        return None;
    }
    let (g, s, p) = options[(splitmix(seed ^ 4) % options.len() as u64) as usize];
    let mut disabled: PlanSet = d.groups[g]
        .licenses
        .iter()
        .find(|l| l.0 == s)
        .map(|l| l.1.clone())
        .unwrap_or_default();
    disabled.insert(p);
    let what = format!(
        "another admin disabled {} in {}'s license of {}",
        d.plan_label(p),
        d.groups[g].name,
        d.skus[s.ix()].part_number
    );
    d.assign_group(
        g,
        vec![(s, disabled)],
        Vec::new(),
        delay,
        &format!("fault: {what}"),
    )
    .ok()
    .map(|_| what)
}
