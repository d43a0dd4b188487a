//! `licshift suggest SNAPSHOT [--by ATTRIBUTE] --out DIR`: orchestration only — load, mine the
//! templates (engine::suggest), prove them with the engine, write the folder whole or not at
//! all.

use super::Ran;
use crate::cli::SuggestArgs;
use crate::engine::{self, suggest};
use crate::error::{Error, Result};
use crate::model::UserIdx;
use crate::report;
use crate::settings::Simulation;
use std::collections::BTreeMap;
use std::io::Write;

pub fn run(args: SuggestArgs, out: &mut dyn Write) -> Result<Ran> {
    let mut sim = Simulation::from_args(&args.snapshot, &args.sim, args.by.clone())?;
    sim.snapshot.templates_optional = true;
    sim.snapshot.wave_by_flag = Some("--by");
    crate::publish::check_target(
        &args.out,
        crate::publish::Inputs::new().add_snapshot(&sim.snapshot),
        args.force,
    )?;
    if args.min_users == 0 {
        return Err(Error::usage("--min-users must be at least 1"));
    }
    let mut snap = super::load(&sim)?;
    let warnings = snap.warnings;
    // The snapshot's own proposed lines: built on (the holders they already let go are left
    // to them), or with --replace-proposed taken out first.
    let proposed = snap
        .tenant
        .templates
        .iter()
        .flatten()
        .filter(|l| l.status == crate::model::TemplateStatus::Proposed)
        .count();
    if args.replace_proposed {
        for lines in &mut snap.tenant.templates {
            lines.retain(|l| l.status != crate::model::TemplateStatus::Proposed);
        }
    }
    let today = engine::simulate(&snap.tenant, super::params(&sim, args.exact));
    let already: std::collections::BTreeSet<(UserIdx, crate::model::SkuIdx)> = today
        .users
        .iter()
        .enumerate()
        .flat_map(|(u, uo)| {
            uo.directs
                .iter()
                .filter(|d| d.verdict.is_removable())
                .map(move |d| (UserIdx(u as u32), d.sku))
        })
        .collect();
    drop(today);
    let t = &snap.tenant;
    // Cohorts: all users, or those sharing a value of --by (users without one are in none).
    let mut cohorts: BTreeMap<String, Vec<UserIdx>> = BTreeMap::new();
    let mut without = 0usize;
    for u in t.user_order() {
        let key = match &args.by {
            None => "All users".to_string(),
            Some(_) => t.users[u.ix()].wave_key.clone().unwrap_or_default(),
        };
        if key.trim().is_empty() {
            without += 1;
            continue;
        }
        cohorts.entry(key).or_default().push(u);
    }
    let cohorts: Vec<(String, Vec<UserIdx>)> = cohorts.into_iter().collect();
    let options = suggest::SuggestOptions {
        min_users: args.min_users,
        exact: args.exact,
        prefix: args.prefix.clone(),
        already,
    };
    let suggestions = suggest::mine(t, &cohorts, &options);
    let (proven, groups) = suggest::apply(snap.tenant, &suggestions);
    let outcome = engine::simulate(&proven, super::params(&sim, args.exact));
    let figures = suggest::figures(&proven, &outcome, &suggestions, &groups);
    let settings = format!(
        "cohorts {}, at least {} users per SKU, {}, new groups named `{} <cohort> <SKU>`{}",
        args.by
            .as_deref()
            .map_or("all users".to_string(), |b| format!("by {b}")),
        args.min_users,
        if args.exact {
            "--exact (nobody gains a plan)"
        } else {
            "every holder covered (some may gain plans)"
        },
        args.prefix,
        if without > 0 {
            format!("; {without} users have no value of it and are in no cohort")
        } else {
            String::new()
        }
    ) + &match (proposed, args.replace_proposed) {
        (0, _) => String::new(),
        (n, false) => format!("; built on the snapshot's {n} proposed template lines, kept as they are: only direct assignments they do not already let go are mined (--replace-proposed replaces them)"),
        (n, true) => format!("; the snapshot's {n} proposed template lines replaced (--replace-proposed): every direct assignment mined afresh"),
    };
    let md = report::suggest::markdown(&proven, &outcome, &suggestions, &figures, &settings);
    let templates =
        report::suggest::templates_csv(&proven).map_err(Error::io("rendering templates.csv"))?;
    let members =
        report::suggest::members_csv(&proven).map_err(Error::io("rendering members.csv"))?;
    crate::publish::atomic_dir(&args.out, args.force, |dir| {
        std::fs::write(dir.join("templates.csv"), &templates)?;
        std::fs::write(dir.join("members.csv"), &members)?;
        std::fs::write(dir.join("suggest.md"), md.as_bytes())
    })?;
    let (removable, total) = outcome.removable_count();
    let text = format!(
        "Suggested {} template lines ({} new groups). With them: {removable} of {total} direct assignments removable.\nWrote templates.csv, members.csv and suggest.md to {}: copy the two CSV files over the snapshot's, review, then licshift plan.\n",
        suggestions.len(),
        suggestions.iter().filter(|s| matches!(s.target, suggest::Target::New(_))).count(),
        args.out.display()
    );
    super::write_out(out, &text)?;
    Ok(Ran {
        code: crate::exit::OK,
        warnings,
    })
}
