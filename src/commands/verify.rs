//! `licshift verify`: a plan (or a reviewer's waves.csv, or an executed stage) against its
//! snapshot and, after a stage or wave, a fresh export. The checks are `crate::verify`'s;
//! this is the order they run in and what is printed.

use super::{Phases, Ran, Snapshot};
use crate::cli::{Format, VerifyArgs};
use crate::engine;
use crate::error::{Error, Result};
use crate::ingest::plan_files;
use crate::model::{Country, UserIdx};
use crate::settings::Simulation;
use crate::verify::{
    after, bridge, changed_inputs, check_plan, on_snapshot, replay_violation, resolve, seal,
    Verification,
};
use std::io::Write;

pub fn run(args: VerifyArgs, out: &mut dyn Write) -> Result<Ran> {
    let mut phases = Phases::new();
    let read = plan_files::read(&args.plan).map_err(Error::Input)?;
    phases.mark("read plan");
    let mut sim = Simulation::from_args(&args.snapshot, &args.sim, None)?;
    let manifest = read.manifest.clone().unwrap_or_default();
    if sim.tenant_location.is_none() {
        sim.tenant_location = manifest.tenant_location.as_deref().and_then(Country::parse);
    }
    if manifest.strict_seats {
        sim.seat_formula = crate::cli::SeatFormula::Strict;
    }
    let base = super::load(&sim)?;
    phases.mark("ingest");
    phases.doing("simulating every user");
    let changed = match &read.manifest {
        Some(m) => changed_inputs(&m.inputs, &base.tenant.inputs),
        None => Vec::new(),
    };
    if !changed.is_empty() && !args.allow_drift {
        return Err(Error::Usage(
            format!("the snapshot changed since the plan was made: {}", changed.join("; ")),
            Some("verify against the snapshot the plan was made from, or pass --allow-drift to re-check the plan against this one".into()),
        ));
    }
    let params = engine::Params {
        exact: manifest.exact,
        ..super::params(&sim, false)
    };
    let first = engine::simulate(&base.tenant, params);
    // A plan made with --bridge has its waves on the tenant as the bridge leaves it: the same
    // pure steps `plan` took rebuild it.
    let bridged = manifest
        .bridge
        .then(|| crate::engine::bridge::bridged(&base.tenant, &first, params));
    phases.mark("simulate");
    phases.doing("checking");
    let (tenant, outcome) = match &bridged {
        Some((t2, o2, _)) => (t2, o2),
        None => (&base.tenant, &first),
    };
    let bridge = bridged.as_ref().map(|b| &b.2);
    // The rows as read are not needed once resolved: at a million users they are a quarter
    // of a gigabyte the simulation can have.
    let (resolved, mut violations) = resolve(tenant, &read.removals, bridge);
    // The folder first: a file changed since it was signed is named before anything else.
    if let (Some(folder), Some(files)) = (&read.folder, &manifest.files) {
        let mut sealed = seal::check_folder(folder, files, read.waves_named);
        sealed.append(&mut violations);
        violations = sealed;
    }
    let removals_checked = read.removals.len();
    drop(read);

    let mut pending = Vec::new();
    let (mode, next_wave, drift) = match (&args.stage, args.after, &args.fresh) {
        (None, None, _) => {
            violations.extend(check_plan(tenant, outcome, &resolved));
            if let Some(b) = bridge {
                if let Err(Error::Invariant(id, msg)) =
                    crate::plan::bridge::replay(&base.tenant, &first, b)
                {
                    violations.push(replay_violation(id, msg));
                }
            }
            ("plan".to_string(), None, Vec::new())
        }
        (Some(stage), None, Some(fresh)) => {
            let fresh = load_fresh(&sim, fresh)?;
            match (stage.as_str(), bridge) {
                // Before the bridge runs, prepare's groups are checked as prepare alone leaves
                // them: the users still to bridge keep their conflict.
                ("prepare", _) => {
                    let unbridged = match bridge {
                        Some(b) => on_snapshot(&base.tenant, &resolved, b),
                        None => resolved.clone(),
                    };
                    violations.extend(after::check_prepare(
                        &base.tenant,
                        &first,
                        &unbridged,
                        &fresh.tenant,
                    ));
                }
                ("bridge", Some(b)) => {
                    violations.extend(after::check_prepare(
                        tenant,
                        outcome,
                        &resolved,
                        &fresh.tenant,
                    ));
                    violations.extend(bridge::check_bridge(&base.tenant, b, &fresh.tenant));
                }
                ("bridge", None) => return Err(Error::usage(
                    "--stage bridge: this plan has no bridge stage (it was made without --bridge)",
                )),
                _ => {
                    return Err(Error::Usage(
                        format!("--stage {stage:?}: the stages are `prepare` and `bridge`"),
                        Some("after a wave, use --after WAVE".into()),
                    ))
                }
            }
            (format!("stage {stage}"), None, Vec::new())
        }
        (None, Some(wave), Some(fresh)) => {
            let fresh = load_fresh(&sim, fresh)?;
            let fresh_outcome = engine::simulate(
                &fresh.tenant,
                engine::Params {
                    exact: manifest.exact,
                    ..super::params(&sim, false)
                },
            );
            let r = after::check_after(
                tenant,
                outcome,
                &resolved,
                wave,
                &fresh.tenant,
                &fresh_outcome,
            );
            violations.extend(r.violations);
            pending = r.pending;
            (format!("after wave {wave}"), r.next_wave, r.drift)
        }
        _ => {
            return Err(Error::usage(
                "--stage and --after need the fresh export as a third argument",
            ))
        }
    };
    phases.mark("check");
    let users: std::collections::BTreeSet<UserIdx> = resolved.iter().map(|r| r.user).collect();
    let result = Verification {
        mode,
        removals_checked,
        users_checked: users.len(),
        changed_inputs: changed,
        violations,
        drift,
        next_wave,
        pending,
    };
    if let Some(path) = &args.pending {
        let bytes = crate::report::verify::pending_waves(&result.pending)
            .map_err(Error::io("rendering the pending list"))?;
        std::fs::write(path, bytes).map_err(Error::io(format!("writing {}", path.display())))?;
    }
    let text = match args.format {
        Format::Json => {
            serde_json::to_string_pretty(&result).expect("verification serialises") + "\n"
        }
        Format::Csv => crate::report::verify::csv(&result).map_err(Error::io("rendering CSV"))?,
        Format::Table => crate::report::verify::table(&result),
    };
    out.write_all(text.as_bytes())
        .map_err(Error::io("writing output"))?;
    if let Some(path) = &args.report {
        std::fs::write(
            path,
            crate::report::verify::markdown(&result, &args.plan, &args.snapshot),
        )
        .map_err(Error::io(format!("writing {}", path.display())))?;
    }
    let code = if result.violations.is_empty() {
        crate::exit::OK
    } else {
        crate::exit::VIOLATIONS
    };
    Ok(Ran {
        code,
        warnings: base.warnings,
    })
}

fn load_fresh(sim: &Simulation, fresh: &std::path::Path) -> Result<Snapshot> {
    let mut s = sim.clone();
    s.snapshot.root = fresh.to_path_buf();
    s.snapshot.overrides.retain(|(k, _)| {
        matches!(
            k,
            crate::ingest::FileKind::Rules | crate::ingest::FileKind::Catalog
        )
    });
    super::load(&s)
}
