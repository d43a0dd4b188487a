//! `licshift scripts PLAN SNAPSHOT --waves FILE --out DIR`: wave and rollback scripts for a
//! waves.csv that is not the plan's own — the pending list `verify --after … --pending` wrote,
//! or a reviewer's edit — once it checks out as `verify` checks a plan: every removal safe on
//! the snapshot, and the waves replayed without breaking an invariant. Nothing is written
//! otherwise.

use super::Ran;
use crate::cli::ScriptsArgs;
use crate::error::{Error, Result};
use crate::ingest::plan_files;
use crate::model::Country;
use crate::report::powershell;
use crate::settings::Simulation;
use crate::verify::{changed_inputs, check_and_replay, resolve};
use std::io::Write;

pub fn run(args: ScriptsArgs, out: &mut dyn Write) -> Result<Ran> {
    let plan = plan_files::read(&args.plan).map_err(Error::Input)?;
    let Some(manifest) = plan.manifest else {
        return Err(Error::usage(format!(
            "{} is not a plan folder (no plan.json): give the folder licshift plan wrote",
            args.plan.display()
        )));
    };
    let rows = plan_files::read(&args.waves).map_err(Error::Input)?;
    let mut sim = Simulation::from_args(&args.snapshot, &args.sim, None)?;
    let mut inputs = crate::publish::Inputs::new();
    inputs
        .add(&args.plan, "the plan folder")
        .add(&args.waves, "the --waves file")
        .add_snapshot(&sim.snapshot);
    crate::publish::check_target(&args.out, &inputs, args.force)?;
    if sim.tenant_location.is_none() {
        sim.tenant_location = manifest.tenant_location.as_deref().and_then(Country::parse);
    }
    if manifest.strict_seats {
        sim.seat_formula = crate::cli::SeatFormula::Strict;
    }
    super::verify::plan_rules(&mut sim, &manifest);
    let base = super::load(&sim)?;
    let changed = changed_inputs(&manifest.inputs, &base.tenant.inputs);
    if !changed.is_empty() {
        return Err(Error::Usage(
            format!(
                "the snapshot changed since the plan was made: {}",
                changed.join("; ")
            ),
            Some("give the snapshot the plan was made from".into()),
        ));
    }
    let params = crate::engine::Params {
        exact: manifest.exact,
        ..super::params(&sim, false)
    };
    let first = crate::engine::simulate(&base.tenant, params);
    // The waves of a bridged plan run on the tenant as the bridge leaves it.
    let bridged = manifest
        .bridge
        .then(|| crate::engine::bridge::bridged(&base.tenant, &first, params));
    let (t, outcome) = match &bridged {
        Some((t2, o2, _)) => (t2, o2),
        None => (&base.tenant, &first),
    };
    let (resolved, mut violations) = resolve(t, &rows.removals, bridged.as_ref().map(|b| &b.2));
    let (more, mut checked) = check_and_replay(t, outcome, &resolved);
    violations.extend(more);
    if !violations.is_empty() {
        let result = crate::verify::Verification {
            mode: format!("scripts for {}", args.waves.display()),
            seal: "sealed",
            notes: Vec::new(),
            removals_checked: rows.removals.len(),
            users_checked: 0,
            changed_inputs: Vec::new(),
            violations,
            drift: Vec::new(),
            next_wave: None,
            pending: Vec::new(),
        };
        super::write_out(out, &crate::report::verify::table(&result))?;
        out.write_all(b"No scripts were written: fix the waves file, or re-plan.\n")
            .map_err(Error::io("writing output"))?;
        return Ok(Ran {
            code: crate::exit::VIOLATIONS,
            warnings: base.warnings,
        });
    }
    // A wave script takes each user's removals together, users in name order.
    for w in &mut checked.waves {
        w.removals
            .sort_by_cached_key(|r| (t.users[r.user.ix()].upn.to_lowercase(), r.user, r.sku));
        w.users
            .sort_by_cached_key(|u| (t.users[u.ix()].upn.to_lowercase(), *u));
    }
    let waves_bytes = std::fs::read(&args.waves)
        .map_err(Error::io(format!("reading {}", args.waves.display())))?;
    // Retry scripts log under the plan's own id, so they run in the plan's run folder.
    let mut ctx = powershell::ScriptContext::new(
        t,
        &format!(
            "scripts --waves sha256:{}",
            crate::ingest::sha256(&waves_bytes)
        ),
    );
    if let Some(id) = &manifest.plan_id {
        ctx.plan_id = id.clone();
    }
    let cells = powershell::ScriptCells::new(t);
    let retry = next_retry(&args.plan.join("run"));
    let written = crate::publish::atomic_dir(&args.out, args.force, |dir| {
        std::fs::create_dir_all(dir.join("scripts"))?;
        let mut names = Vec::new();
        for w in &checked.waves {
            let stage = powershell::stage_name(w.number, Some(retry));
            let mut buf = Vec::new();
            powershell::wave_script(&mut buf, t, &cells, &ctx, w, Some(retry));
            std::fs::write(dir.join(powershell::stage_script(&stage, false)), &buf)?;
            buf.clear();
            powershell::rollback_script(&mut buf, &ctx, w, Some(retry));
            std::fs::write(dir.join(powershell::stage_script(&stage, true)), &buf)?;
            names.push((stage, w.users.len(), w.removals.len()));
        }
        // Sealed like a plan: `scripts.json` names every script with its digest.
        let seal = crate::ingest::folder::seal(dir)?;
        let manifest = serde_json::json!({
            "schema": "licshift.scripts/v1",
            "licshift": env!("CARGO_PKG_VERSION"),
            "planId": ctx.plan_id,
            "retry": retry,
            "waves": {
                "path": args.waves.display().to_string(),
                "sha256": crate::ingest::sha256(&waves_bytes),
            },
            "files": seal,
        });
        let text = serde_json::to_string_pretty(&manifest).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("scripts.json"), text + "\n")?;
        Ok(names)
    })?;
    let mut text = format!(
        "Checked {} removals: all safe, the waves replay. Wrote to {}:\n",
        resolved.len(),
        args.out.display()
    );
    for (stage, users, removals) in written {
        text += &format!(
            "  {} ({removals} removals, {users} users) and its rollback\n",
            powershell::stage_script(&stage, false)
        );
    }
    text += "Run them with -RunDir <the plan folder>/run, so they find the ids prepare recorded and log beside the earlier runs.\n";
    super::write_out(out, &text)?;
    Ok(Ran {
        code: crate::exit::OK,
        warnings: base.warnings,
    })
}

/// The number of this retry: one more than any retry whose log is in the plan's run folder, so
/// a retry never logs into an earlier run's file (the earlier run's rollback reads it).
fn next_retry(run: &std::path::Path) -> u32 {
    let done = std::fs::read_dir(run)
        .map(|rd| {
            rd.filter_map(|e| {
                let name = e.ok()?.file_name().to_string_lossy().into_owned();
                let rest = name.strip_prefix("wave-")?.split_once("-retry-")?.1;
                rest.split('.').next()?.parse::<u32>().ok()
            })
            .max()
            .unwrap_or(0)
        })
        .unwrap_or(0);
    done + 1
}
