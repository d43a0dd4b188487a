//! `licshift status PLAN`: what the journals in PLAN/run/ say — per stage done, skipped,
//! failed and pending, the last go/no-go, what to run next — and the turn rule apply keeps
//! (prepare's checkpoint passed before wave 1; wave N−1 finished before wave N).

use super::journal::{read, Record, Steps};
use super::model_plan::PlanModel;
use super::Stage;
use crate::error::{Error, Result};
use std::path::Path;

/// A stage's journal, summed up.
#[derive(Debug, Default)]
pub struct StageState {
    pub name: String,
    pub runs: usize,
    pub done: usize,
    pub skipped: usize,
    pub failed: usize,
    pub gone: usize,
    /// Intents without an outcome: a run was cut short there.
    pub open: usize,
    pub finished: bool,
    pub go: Option<bool>,
    pub check: Option<String>,
    pub dry_run_only: bool,
}

pub fn stage_state(run_dir: &Path, name: &str) -> Option<StageState> {
    let records = read(&run_dir.join(format!("{name}.jsonl")));
    if records.is_empty() {
        return None;
    }
    let steps = Steps::of(&records);
    let mut s = StageState {
        name: name.into(),
        dry_run_only: true,
        ..Default::default()
    };
    for r in &records {
        match r {
            Record::Header { dry_run, .. } => {
                s.runs += 1;
                s.dry_run_only &= *dry_run;
                s.finished = false;
            }
            Record::End { .. } => s.finished = true,
            Record::Check { go, summary, .. } => {
                s.go = Some(*go);
                s.check = Some(summary.clone());
            }
            _ => {}
        }
    }
    for (key, _) in &steps.outcomes {
        match steps.outcome(key) {
            Some("done") | Some("already done") => s.done += 1,
            Some("skipped") => s.skipped += 1,
            Some("gone") => s.gone += 1,
            Some("would do") => {}
            _ => s.failed += 1,
        }
    }
    s.open = steps
        .intents
        .keys()
        .filter(|k| !steps.outcomes.contains_key(*k))
        .count();
    Some(s)
}

/// Refuses a stage whose turn has not come.
pub(crate) fn check_turn(
    run_dir: &Path,
    stage: Stage,
    plan: &PlanModel,
    out_of_order: bool,
) -> Result<()> {
    let real = |s: Option<StageState>| s.filter(|s| !s.dry_run_only);
    let prepare_go = || {
        plan.prepare.is_empty()
            || real(stage_state(run_dir, "prepare")).is_some_and(|p| p.go == Some(true))
    };
    match stage {
        Stage::Prepare => Ok(()),
        Stage::Bridge => {
            if plan.bridge.is_none() {
                return Err(Error::usage(
                    "--stage bridge: this plan has no bridge stage (it was made without --bridge)",
                ));
            }
            if out_of_order || prepare_go() {
                return Ok(());
            }
            Err(Error::Usage(
                "the bridge waits for prepare's checkpoint, which has not given a go".into(),
                Some("run `licshift apply PLAN SNAPSHOT --stage prepare` first, or pass --out-of-order if prepare ran by its PowerShell script and `verify --stage prepare` gave a go".into()),
            ))
        }
        Stage::Wave(n) => {
            if n > plan.waves {
                return Err(Error::Usage(
                    format!("the plan has no wave {n}"),
                    Some(format!("its waves are 1 to {}", plan.waves)),
                ));
            }
            if out_of_order {
                return Ok(());
            }
            if n == 1 && !prepare_go() {
                return Err(Error::Usage(
                    "wave 1 waits for prepare's checkpoint, which has not given a go".into(),
                    Some("run `licshift apply PLAN SNAPSHOT --stage prepare` (or pass --out-of-order if prepare ran by its PowerShell script and `verify --stage prepare` gave a go)".into()),
                ));
            }
            let bridge_go =
                || real(stage_state(run_dir, "bridge")).is_some_and(|b| b.go == Some(true));
            if n == 1 && plan.bridges() && !bridge_go() {
                return Err(Error::Usage(
                    "wave 1 waits for the bridge's checkpoint, which has not given a go".into(),
                    Some("run `licshift apply PLAN SNAPSHOT --stage bridge` (or pass --out-of-order if bridge.ps1 ran and `verify --stage bridge` gave a go)".into()),
                ));
            }
            if n > 1 {
                match real(stage_state(run_dir, &Stage::Wave(n - 1).name())) {
                    Some(w) if w.finished => {}
                    _ => {
                        return Err(Error::Usage(
                            format!("wave {n} waits for wave {} to finish", n - 1),
                            Some(format!(
                                "run --stage wave {} first, or pass --out-of-order",
                                n - 1
                            )),
                        ))
                    }
                }
            }
            Ok(())
        }
        Stage::RollbackWave(n) => match stage_state(run_dir, &Stage::Wave(n).name()) {
            Some(_) => Ok(()),
            None => Err(Error::Usage(
                format!("wave {n} has no journal: there is nothing to roll back"),
                None,
            )),
        },
        Stage::RollbackBridge | Stage::RollbackPrepare => {
            let of = if stage == Stage::RollbackBridge {
                Stage::Bridge
            } else {
                Stage::Prepare
            };
            if real(stage_state(run_dir, &of.name())).is_none() {
                return Err(Error::Usage(
                    format!(
                        "{} has no journal: there is nothing to roll back",
                        of.name()
                    ),
                    None,
                ));
            }
            // While a wave's removals stand, users rely on what prepare and the bridge gave:
            // undoing either would strip them.
            for n in 1..=plan.waves {
                let removed =
                    real(stage_state(run_dir, &Stage::Wave(n).name())).is_some_and(|w| w.done > 0);
                let back = real(stage_state(run_dir, &Stage::RollbackWave(n).name()))
                    .is_some_and(|b| b.finished && b.failed == 0 && b.open == 0);
                if removed && !back {
                    return Err(Error::Usage(
                        format!(
                            "wave {n}'s removals stand: users rely on what {} gave",
                            of.name()
                        ),
                        Some(format!(
                            "roll that wave back first: --stage rollback wave {n}"
                        )),
                    ));
                }
            }
            Ok(())
        }
    }
}

/// `licshift status PLAN`.
pub fn run(plan: &Path, out: &mut dyn std::io::Write) -> Result<super::super::Ran> {
    let run_dir = plan.join("run");
    if !plan.join("plan.json").is_file() {
        return Err(Error::Usage(
            format!("{} is not a plan folder", plan.display()),
            None,
        ));
    }
    let waves = crate::ingest::plan_files::read(plan)
        .map(|p| p.removals.iter().map(|r| r.wave).max().unwrap_or(0))
        .unwrap_or(0);
    let mut names = vec!["prepare".to_string()];
    let bridged = crate::ingest::plan_files::read(plan)
        .ok()
        .and_then(|p| p.manifest)
        .is_some_and(|m| m.bridge);
    if bridged {
        names.push(Stage::Bridge.name());
    }
    for n in 1..=waves {
        names.push(Stage::Wave(n).name());
        names.push(Stage::RollbackWave(n).name());
    }
    if bridged {
        names.push(Stage::RollbackBridge.name());
    }
    names.push(Stage::RollbackPrepare.name());
    let mut text = String::new();
    let mut next: Option<String> = None;
    for name in &names {
        let state = stage_state(&run_dir, name);
        match &state {
            None => {
                if next.is_none() && !name.starts_with("rollback") {
                    next = Some(name.replace('-', " "));
                }
                if !name.starts_with("rollback") {
                    text += &format!("{name:<18} not run\n");
                }
            }
            Some(s) => {
                text += &format!(
                    "{name:<18} {}: {} done, {} skipped, {} failed, {} gone{}{}\n",
                    if s.dry_run_only {
                        "dry run only"
                    } else if s.finished {
                        "finished"
                    } else {
                        "cut short"
                    },
                    s.done,
                    s.skipped,
                    s.failed,
                    s.gone,
                    if s.open > 0 {
                        format!(", {} in flight when it stopped", s.open)
                    } else {
                        String::new()
                    },
                    s.check
                        .as_ref()
                        .map(|c| format!(
                            "\n{:<18} {}: {c}",
                            "",
                            if s.go == Some(true) { "GO" } else { "NO-GO" }
                        ))
                        .unwrap_or_default()
                );
                let unfinished = s.dry_run_only
                    || !s.finished
                    || s.failed > 0
                    || s.open > 0
                    || s.go == Some(false);
                if next.is_none() && unfinished && !name.starts_with("rollback") {
                    next = Some(format!(
                        "{} (re-run: it resumes from its journal)",
                        name.replace('-', " ")
                    ));
                }
            }
        }
    }
    text += &match next {
        Some(n) => format!(
            "Next: licshift apply {} SNAPSHOT --stage {n}\n",
            plan.display()
        ),
        None => "Every stage has run.\n".into(),
    };
    super::super::write_out(out, &text)?;
    Ok(super::super::Ran {
        code: crate::exit::OK,
        warnings: Default::default(),
    })
}
