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
    if args.fresh.is_some() && args.after.is_none() && args.stage.is_none() {
        return Err(Error::Usage(
            "a fresh export was given without saying what ran before it".into(),
            Some("name the mode: --stage prepare|bridge FRESH after a stage, or --after WAVE FRESH after waves 1..=WAVE".into()),
        ));
    }
    let mut sim = Simulation::from_args(&args.snapshot, &args.sim, None)?;
    // Nothing verify writes may land on what it reads.
    let mut inputs = crate::publish::Inputs::new();
    inputs
        .add(&args.plan, "the plan")
        .add_snapshot(&sim.snapshot);
    if let Some(fresh) = &args.fresh {
        inputs.add(fresh, "the fresh export");
    }
    if let Some(dir) = args.plan.parent().filter(|d| d.join("plan.json").is_file()) {
        inputs.add(dir, "the plan folder");
    }
    for (flag, path) in [("--pending", &args.pending), ("--report", &args.report)] {
        if let Some(path) = path {
            crate::publish::check_file_target(flag, path, &inputs)?;
        }
    }
    let mut phases = Phases::new();
    let read = plan_files::read(&args.plan).map_err(Error::Input)?;
    phases.mark("read plan");
    if let Some(wave) = args.after {
        let waves = read.removals.iter().map(|r| r.wave).max().unwrap_or(0);
        if wave == 0 || wave > waves {
            return Err(Error::Usage(
                format!("--after {wave}: the plan has {waves} wave(s)"),
                Some(if waves == 0 {
                    "this plan removes nothing: there is no wave to verify".into()
                } else {
                    format!("give the last wave that ran, from 1 to {waves}")
                }),
            ));
        }
    }
    let manifest = read.manifest.clone().unwrap_or_default();
    if sim.tenant_location.is_none() {
        sim.tenant_location = manifest.tenant_location.as_deref().and_then(Country::parse);
    }
    if manifest.strict_seats {
        sim.seat_formula = crate::cli::SeatFormula::Strict;
    }
    let notes = plan_rules(&mut sim, &manifest).into_iter().collect();
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
    let seal = match (&read.folder, &manifest.files) {
        (Some(_), Some(_)) => "sealed",
        (Some(_), None) => "unsealed",
        (None, _) => "waves file",
    };
    if seal == "unsealed" && !args.allow_unsealed {
        violations.insert(
            0,
            crate::verify::Violation {
                kind: "UNSEALED",
                wave: None,
                user_id: String::new(),
                user: String::new(),
                sku: String::new(),
                plans: Vec::new(),
                detail: "the plan folder has no seal (plan.json is licshift.plan/v1, or missing): nothing shows its scripts and files are the ones signed; re-plan, or pass --allow-unsealed".into(),
            },
        );
    }
    let removals_checked = read.removals.len();
    drop(read);

    let mut pending = Vec::new();
    // The fresh export's files, for the change record: which export a go was given on.
    let mut fresh_inputs: Option<(std::path::PathBuf, Vec<crate::model::InputFile>)> = None;
    // apply's read-back asks Graph for each user by id: a user missing from it is deleted, not
    // left out of an export, and is listed as drift instead of failing the check.
    let read_back = args
        .fresh
        .as_ref()
        .is_some_and(|f| f.join("read-back.json").is_file());
    let (mode, next_wave, mut drift) = match (&args.stage, args.after, &args.fresh) {
        (None, None, None) => {
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
            let fresh = load_fresh(&sim, fresh, &mut fresh_inputs)?;
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
            let fresh = load_fresh(&sim, fresh, &mut fresh_inputs)?;
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
                read_back,
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
    if read_back {
        let (gone, rest): (Vec<_>, Vec<_>) =
            violations.into_iter().partition(|v| v.kind == "USER_GONE");
        violations = rest;
        let mut seen = std::collections::BTreeSet::new();
        for v in gone {
            if seen.insert(v.user.clone()) {
                drift.push(crate::verify::Drift {
                    user: v.user,
                    change: "deleted: Graph has no user with this id (read back live)".into(),
                });
            }
        }
    }
    phases.mark("check");
    let users: std::collections::BTreeSet<UserIdx> = resolved.iter().map(|r| r.user).collect();
    // A next wave is a go only when this check found nothing at all.
    let next_wave = next_wave.map(|mut n| {
        if !violations.is_empty() {
            n.safe = false;
            n.why = Some(format!(
                "{} violation(s) above: resolve them first",
                violations.len()
            ));
        }
        n
    });
    let result = Verification {
        mode,
        notes,
        seal,
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
        crate::publish::write_file(path, &bytes)?;
    }
    let text = match args.format {
        Format::Json => {
            serde_json::to_string_pretty(&result).expect("verification serialises") + "\n"
        }
        Format::Csv => crate::report::verify::csv(&result).map_err(Error::io("rendering CSV"))?,
        Format::Table => crate::report::verify::table(&result),
    };
    match args.format {
        Format::Table => super::write_out(out, &text)?,
        _ => super::write_data(out, text.as_bytes())?,
    }
    if let Some(path) = &args.report {
        let record = crate::report::verify::Record {
            plan: &args.plan,
            plan_sha256: read_plan_digest(&args.plan),
            snapshot: &args.snapshot,
            snapshot_inputs: &base.tenant.inputs,
            fresh: fresh_inputs
                .as_ref()
                .map(|(p, i)| (p.as_path(), i.as_slice())),
            checked_at: crate::report::verify::utc_now(),
        };
        crate::publish::write_file(
            path,
            crate::report::verify::markdown(&result, &record).as_bytes(),
        )?;
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

/// A plan made with `--rules FILE` is checked with that file unless `--rules` says otherwise:
/// the simulation must be the one the plan was made with. Says so, for the output.
pub(super) fn plan_rules(
    sim: &mut Simulation,
    manifest: &crate::ingest::plan_files::PlanManifest,
) -> Option<String> {
    use crate::ingest::FileKind;
    let file = manifest.rules_file.as_ref()?;
    if sim
        .snapshot
        .overrides
        .iter()
        .any(|(k, _)| *k == FileKind::Rules)
    {
        return Some(format!(
            "rules: --rules given; the plan was made with {file}"
        ));
    }
    sim.snapshot.overrides.push((FileKind::Rules, file.clone()));
    Some(format!(
        "rules: the plan's own rules file {file} (recorded in plan.json; --rules overrides it)"
    ))
}

/// SHA-256 of the plan folder's plan.json (the plan's identity: it seals every other file),
/// or of the waves.csv named instead.
fn read_plan_digest(plan: &std::path::Path) -> Option<String> {
    let file = if plan.is_dir() {
        plan.join("plan.json")
    } else {
        plan.to_path_buf()
    };
    crate::ingest::folder::file_digest(&file)
        .ok()
        .map(|(sha, _)| sha)
}

fn load_fresh(
    sim: &Simulation,
    fresh: &std::path::Path,
    seen: &mut Option<(std::path::PathBuf, Vec<crate::model::InputFile>)>,
) -> Result<Snapshot> {
    let mut s = sim.clone();
    s.snapshot.root = fresh.to_path_buf();
    s.snapshot.overrides.retain(|(k, _)| {
        matches!(
            k,
            crate::ingest::FileKind::Rules | crate::ingest::FileKind::Catalog
        )
    });
    let snap = super::load(&s)?;
    *seen = Some((fresh.to_path_buf(), snap.tenant.inputs.clone()));
    Ok(snap)
}
