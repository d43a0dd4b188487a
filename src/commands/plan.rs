//! `licshift plan`: simulate, (with --bridge) plan the bridge, build the waves, replay them,
//! then write the folder whole — report files, then plan.json's seal last.

use super::{Phases, Ran};
use crate::cli::PlanArgs;
use crate::engine::Outcome;
use crate::error::{Error, Result};
use crate::model::Tenant;
use crate::plan::{bridge, build, replay, Plan, PlanOptions};
use crate::publish;
use crate::settings::Simulation;
use std::io::Write;

/// `licshift plan`: simulate, build the waves, replay them, then write the folder whole.
pub fn run(args: PlanArgs, out: &mut dyn Write) -> Result<Ran> {
    run_with(args, out, |_, _, _| {})
}

/// `run`, with a hook that may change the plan after it is built and before it is replayed:
/// the seam through which a test slips in an unsafe removal and sees the replay refuse it
/// (exit 3, nothing written). The binary passes one that does nothing.
pub fn run_with(
    args: PlanArgs,
    out: &mut dyn Write,
    tamper: impl FnOnce(&Tenant, &Outcome, &mut Plan),
) -> Result<Ran> {
    let sim = Simulation::from_args(&args.snapshot, &args.sim, args.wave_by.clone())?;
    let mut inputs = publish::Inputs::new();
    inputs.add_snapshot(&sim.snapshot);
    if let Some(x) = &args.exclude {
        inputs.add(x, "the --exclude file");
    }
    publish::check_target(&args.out, &inputs, args.force)?;
    if !(args.growth.is_finite() && (1.0..=100.0).contains(&args.growth)) {
        return Err(Error::Usage(
            format!("--growth {} is out of range", args.growth),
            Some("later waves grow by a factor from 1.0 (equal waves) to 100".into()),
        ));
    }
    if args.pilot == 0 || args.max_wave == 0 {
        return Err(Error::usage("--pilot and --max-wave must be at least 1"));
    }
    let mut phases = Phases::new();
    let snap = super::load(&sim)?;
    phases.mark("ingest");
    phases.doing("simulating every user");
    let params = super::params(&sim, args.exact);
    let first = crate::engine::simulate(&snap.tenant, params);
    phases.mark("simulate");
    if args.bridge {
        phases.doing("planning the bridge");
    }
    // With --bridge, the waves are planned on the tenant as the bridge leaves it.
    let bridged = args
        .bridge
        .then(|| crate::engine::bridge::bridged(&snap.tenant, &first, params));
    let (t, outcome) = match &bridged {
        Some((t2, o2, _)) => (t2, o2),
        None => (&snap.tenant, &first),
    };
    if bridged.is_some() {
        phases.mark("bridge");
    }
    phases.doing("building the waves");
    let exclude = match &args.exclude {
        Some(path) => crate::plan::read_exclude(path, t)?,
        None => Vec::new(),
    };
    let options = PlanOptions {
        pilot: args.pilot,
        growth: args.growth,
        max_wave: args.max_wave,
        exclude,
        exclude_file: args.exclude.as_ref().map(|p| p.display().to_string()),
        wave_by: args.wave_by.clone(),
        seed: args.seed,
        exact: args.exact,
        diff_all: args.rows == crate::cli::DiffRows::All,
        seat_formula: sim.seat_formula,
        tenant_location: t.tenant_location.map(|c| c.to_string()),
        rules_file: args.sim.files.rules.clone(),
        bridge: args.bridge,
    };
    let mut plan = build(t, outcome, &options);
    plan.bridge = bridged.as_ref().map(|b| b.2.clone());
    phases.mark("waves");
    phases.doing("replaying the plan and writing the folder");
    tamper(t, outcome, &mut plan);
    // The replay runs while the files that do not depend on it are written into the hidden
    // folder: its checks are mostly one sequential pass, which leaves a core to the writers.
    // A broken invariant still publishes nothing (exit 3): the hidden folder is removed.
    let xlsx_written = publish::atomic_dir_or_nothing(&args.out, args.force, |dir| {
        let context = || format!("writing {}", args.out.display());
        let mut blocked = crate::report::plan_files::blocked_rows(t, outcome, &plan.by_upn);
        if let Some(b) = &plan.bridge {
            crate::report::bridge::note_refusals(t, &mut blocked, b);
        }
        let (written, checked) = rayon::join(
            || crate::report::plan_files::render(t, outcome, &plan, &blocked, dir),
            || {
                if let Some(b) = &plan.bridge {
                    bridge::replay(&snap.tenant, &first, b)?;
                }
                replay::replay(t, outcome, &plan)
            },
        );
        let checked = checked?;
        written.map_err(Error::io(context()))?;
        let removals: usize = plan.waves.iter().map(|w| w.removals.len()).sum();
        let xlsx = args.xlsx || removals <= crate::report::xlsx::DEFAULT_MAX_REMOVALS;
        crate::report::plan_files::render_report(t, outcome, &plan, &checked, &blocked, dir, xlsx)
            .map_err(Error::io(context()))?;
        crate::report::plan_files::seal(t, outcome, &plan, &blocked, dir)
            .map_err(Error::io(context()))?;
        Ok(xlsx)
    })?;
    phases.mark("replay+write");
    let summary =
        crate::report::plan_files::terminal_summary(t, outcome, &plan, &args.out, xlsx_written);
    super::write_out(out, &summary)?;
    let blocked = plan.blocked_count(outcome);
    let code = if args.fail_on_blocked && blocked > 0 {
        crate::exit::VIOLATIONS
    } else {
        crate::exit::OK
    };
    Ok(Ran {
        code,
        warnings: snap.warnings,
    })
}
