//! The plan as apply needs it: the snapshot loaded and simulated as `verify` loads it (the plan's
//! rules file, tenant location, seat formula; the bridged tenant for a plan made with
//! `--bridge`), each planned removal resolved, the covering groups of each, and prepare's rows.

use super::Stage;
use crate::engine::{self, Outcome};
use crate::error::{Error, Result};
use crate::ingest::plan_files::{self, PrepareRow};
use crate::model::{Country, GroupIdx, Tenant};
use crate::settings::Simulation;
use crate::verify::Resolved;
use std::path::Path;

pub(crate) struct PlanModel {
    pub plan_id: String,
    pub tenant: Tenant,
    pub outcome: Outcome,
    pub removals: Vec<Resolved>,
    pub prepare: Vec<PrepareRow>,
    pub waves: u32,
    /// The bridge stage of a plan made with `--bridge` (its swaps index `tenant`).
    pub bridge: Option<engine::bridge::Bridge>,
}

impl PlanModel {
    pub fn load(plan: &Path, snapshot: &Path, sim_args: &crate::cli::SimArgs) -> Result<PlanModel> {
        let read = plan_files::read(plan).map_err(Error::Input)?;
        if read.folder.is_none() {
            return Err(Error::Usage(
                format!("{} is not a plan folder", plan.display()),
                Some("apply runs a sealed plan folder that `licshift plan` wrote".into()),
            ));
        }
        let manifest = read.manifest.clone().unwrap_or_default();
        let mut sim = Simulation::from_args(snapshot, sim_args, None)?;
        if sim.tenant_location.is_none() {
            sim.tenant_location = manifest.tenant_location.as_deref().and_then(Country::parse);
        }
        if manifest.strict_seats {
            sim.seat_formula = crate::cli::SeatFormula::Strict;
        }
        let _ = super::super::verify::plan_rules(&mut sim, &manifest);
        let base = super::super::load(&sim)?;
        let params = engine::Params {
            exact: manifest.exact,
            ..super::super::params(&sim, false)
        };
        let first = engine::simulate(&base.tenant, params);
        let (tenant, outcome, bridge) = if manifest.bridge {
            let (t2, o2, b) = engine::bridge::bridged(&base.tenant, &first, params);
            (t2, o2, Some(b))
        } else {
            (base.tenant, first, None)
        };
        let (removals, bad) = crate::verify::resolve(&tenant, &read.removals, None);
        if !bad.is_empty() {
            return Err(Error::usage(format!(
                "{} removal(s) of the plan do not resolve against the snapshot",
                bad.len()
            )));
        }
        let prepare = plan_files::read_prepare(&plan.join("prepare.csv")).map_err(Error::io(
            format!("reading {}", plan.join("prepare.csv").display()),
        ))?;
        let waves = removals.iter().map(|r| r.wave).max().unwrap_or(0);
        Ok(PlanModel {
            plan_id: manifest.plan_id.unwrap_or_default(),
            tenant,
            outcome,
            removals,
            prepare,
            waves,
            bridge,
        })
    }

    /// The groups whose assignments give the plans of a planned removal.
    pub fn covering(&self, r: &Resolved) -> Vec<GroupIdx> {
        let t = &self.tenant;
        let enabled = t.enabled(r.sku, &t.assignments[r.assignment.ix()].disabled);
        self.outcome.users[r.user.ix()]
            .groups
            .iter()
            .filter(|g| g.status.is_ok() && g.plans().intersects(&enabled))
            .map(|g| g.group)
            .collect()
    }

    /// The removals of wave `n`, grouped by user (one assignLicense per user).
    pub fn wave(&self, n: u32) -> Vec<Vec<&Resolved>> {
        let mut by_user: std::collections::BTreeMap<crate::model::UserIdx, Vec<&Resolved>> =
            Default::default();
        for r in self.removals.iter().filter(|r| r.wave == n) {
            by_user.entry(r.user).or_default().push(r);
        }
        let order = self.tenant.user_order();
        let mut out: Vec<Vec<&Resolved>> = Vec::new();
        for u in order {
            if let Some(v) = by_user.remove(&u) {
                out.push(v);
            }
        }
        out
    }

    /// Users and changes a stage will touch, for the confirmation.
    pub fn counts(&self, stage: Stage, run_dir: &Path) -> (usize, usize) {
        match stage {
            Stage::Prepare => {
                let mut users: Vec<_> = self.prepare.iter().filter_map(|r| r.user_id).collect();
                users.sort();
                users.dedup();
                (users.len(), self.prepare.len())
            }
            Stage::Wave(n) => {
                let w = self.wave(n);
                (w.len(), w.iter().map(Vec::len).sum())
            }
            Stage::Bridge => {
                let n = self.bridge.as_ref().map_or(0, |b| b.swaps.len());
                (n, n)
            }
            Stage::RollbackWave(n) => self.journaled(run_dir, Stage::Wave(n)),
            Stage::RollbackBridge => self.journaled(run_dir, Stage::Bridge),
            Stage::RollbackPrepare => self.journaled(run_dir, Stage::Prepare),
        }
    }

    /// Keys a stage's journal holds intents of: what its rollback may touch.
    fn journaled(&self, run_dir: &Path, stage: Stage) -> (usize, usize) {
        let steps = super::journal::Steps::of(&super::journal::read(
            &run_dir.join(stage.name() + ".jsonl"),
        ));
        (steps.intents.len(), steps.intents.len())
    }

    /// The plan has swaps to make before wave 1.
    pub fn bridges(&self) -> bool {
        self.bridge.as_ref().is_some_and(|b| !b.swaps.is_empty())
    }
}
