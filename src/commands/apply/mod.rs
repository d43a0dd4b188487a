//! `licshift apply PLAN SNAPSHOT --stage STAGE`: the plan's stages carried out through Graph, the
//! way `terraform apply` follows `terraform plan` (SPEC §9). Before any write: the plan verifies
//! (its seal, every removal safe on the snapshot), the token is for the snapshot's tenant with the
//! permissions the stage needs, the stage's turn has come, and one confirmation names the tenant,
//! the stage and the counts. Every step is journaled (`journal`); a re-run resumes.

mod bridge;
mod journal;
mod live;
mod prepare;
mod readback;
mod rollback;
pub mod status;
mod undo;
mod wave;

use crate::cli::ApplyArgs;
use crate::error::{Error, Result};
use crate::graph::{self, Client};
use crate::model::{GroupIdx, Tenant};
use journal::{Journal, Lock, Record, Steps};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A stage of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Prepare,
    Bridge,
    Wave(u32),
    RollbackWave(u32),
    RollbackBridge,
    RollbackPrepare,
}

impl Stage {
    pub fn parse(words: &[String]) -> Result<Stage> {
        let text = words
            .join(" ")
            .to_ascii_lowercase()
            .replace(['-', '_'], " ");
        let parts: Vec<&str> = text.split_whitespace().collect();
        let number = |s: &str| s.parse::<u32>().ok().filter(|&n| n > 0);
        let stage = match parts.as_slice() {
            ["prepare"] => Some(Stage::Prepare),
            ["bridge"] => Some(Stage::Bridge),
            ["wave", n] => number(n).map(Stage::Wave),
            ["rollback", "wave", n] => number(n).map(Stage::RollbackWave),
            ["rollback", "bridge"] => Some(Stage::RollbackBridge),
            ["rollback", "prepare"] => Some(Stage::RollbackPrepare),
            _ => None,
        };
        stage.ok_or_else(|| {
            Error::Usage(
                format!("--stage {}: not a stage", words.join(" ")),
                Some("give prepare, bridge, wave N, rollback wave N, rollback bridge or rollback prepare".into()),
            )
        })
    }

    /// The journal's name: `prepare`, `wave-3`, `rollback-wave-3`.
    pub fn name(self) -> String {
        match self {
            Stage::Prepare => "prepare".into(),
            Stage::Bridge => "bridge".into(),
            Stage::Wave(n) => format!("wave-{n}"),
            Stage::RollbackWave(n) => format!("rollback-wave-{n}"),
            Stage::RollbackBridge => "rollback-bridge".into(),
            Stage::RollbackPrepare => "rollback-prepare".into(),
        }
    }

    fn permissions(self) -> &'static [&'static str] {
        match self {
            // Leaving and joining groups, and reprocessing a user (User.ReadWrite.All, the
            // least Graph documents for reprocessLicenseAssignment).
            Stage::Bridge | Stage::RollbackBridge => &[
                "User.ReadWrite.All",
                "Group.Read.All",
                "Organization.Read.All",
                "GroupMember.ReadWrite.All",
                "LicenseAssignment.ReadWrite.All",
            ],
            Stage::Prepare | Stage::RollbackPrepare => &[
                "User.Read.All",
                "Organization.Read.All",
                "Group.ReadWrite.All",
                "GroupMember.ReadWrite.All",
                "LicenseAssignment.ReadWrite.All",
            ],
            _ => &[
                "User.Read.All",
                "Group.Read.All",
                "Organization.Read.All",
                "LicenseAssignment.ReadWrite.All",
            ],
        }
    }
}

/// Counts of a run, for the summary, the journal's end and the exit code.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub done: usize,
    pub already: usize,
    pub skipped: usize,
    pub gone: usize,
    pub failed: usize,
}

impl Tally {
    fn add(&mut self, outcome: &str) {
        match outcome {
            "done" | "would do" => self.done += 1,
            "already done" => self.already += 1,
            "skipped" => self.skipped += 1,
            "gone" => self.gone += 1,
            _ => self.failed += 1,
        }
    }
}

/// What every stage works with.
pub(crate) struct Run<'a> {
    pub plan_dir: PathBuf,
    pub snapshot_dir: PathBuf,
    pub rt: &'a graph::Runtime,
    pub client: &'a Client,
    pub plan: &'a model_plan::PlanModel,
    pub run_dir: PathBuf,
    pub journal: Journal,
    /// The journal as it stood before this run: what a re-run resumes from.
    pub earlier: Steps,
    pub dry_run: bool,
    pub tally: Tally,
    /// Lines for the summary: users skipped or failed, with why.
    pub notes: Vec<String>,
    pub say: &'a (dyn Fn(&str) + Sync),
    /// First write sent, last answered, and how many: the pace a wave or its rollback kept.
    pub writes: Option<(std::time::Instant, std::time::Instant, usize)>,
    /// Prepare's journal, read once for `group_id`.
    pub made: std::sync::OnceLock<Steps>,
}

impl Run<'_> {
    /// The user is not in the tenant any more: journaled `gone`, never retried as failed.
    pub fn gone(&mut self, key: &str, user: &str) -> Result<()> {
        self.outcome(key, user, "gone", Detail::reason(GONE))
    }

    /// Journals an outcome and counts it.
    pub fn outcome(&mut self, key: &str, user: &str, outcome: &str, detail: Detail) -> Result<()> {
        self.tally.add(outcome);
        if outcome == "skipped" || outcome == "failed" {
            self.notes.push(format!(
                "{outcome}: {user}: {}",
                detail
                    .reason
                    .clone()
                    .or(detail.error.clone())
                    .unwrap_or_default()
            ));
        }
        self.journal
            .write(&Record::Outcome {
                key: key.into(),
                user: user.into(),
                outcome: outcome.into(),
                reason: detail.reason,
                error: detail.error,
                request_id: detail.request_id,
                after: detail.after,
                id: detail.id,
                at: crate::clock::utc_now(),
            })
            .map_err(Error::io(format!(
                "writing {}",
                self.journal.path().display()
            )))
    }

    pub fn intent(&mut self, r: Record) -> Result<()> {
        self.journal.write(&r).map_err(Error::io(format!(
            "writing {}",
            self.journal.path().display()
        )))
    }

    /// Counts `count` writes sent at `sent` and all answered now: the pace the stage kept.
    pub fn wrote(&mut self, sent: std::time::Instant, count: usize) {
        let done = std::time::Instant::now();
        self.writes = Some(match self.writes {
            None => (sent, done, count),
            Some((first, _, n)) => (first, done, n + count),
        });
    }

    pub fn block<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// A round's `$batch`es sent all at once while `alongside` (the next round's read) runs,
    /// the writes counted for the pace; their answers in the order of `batches`.
    pub fn send_batches<T>(
        &mut self,
        batches: Vec<Vec<graph::wire::BatchRequest>>,
        alongside: impl std::future::Future<Output = T>,
    ) -> (BatchAnswers, T) {
        let writes = batches.iter().map(Vec::len).sum();
        let sent = std::time::Instant::now();
        let client = self.client;
        let (answers, other) = self.block(futures_util::future::join(
            futures_util::future::join_all(batches.into_iter().map(|b| client.batch(b))),
            alongside,
        ));
        self.wrote(sent, writes);
        (answers, other)
    }

    /// The Graph id of a group of the plan: the snapshot's, or the one prepare created (found
    /// in prepare's journal by the mailNickname licshift gave it). Prepare's journal is read
    /// once per run, not per call: a wave asks this for every user's covering groups, and on a
    /// large tenant that journal is hundreds of megabytes.
    pub fn group_id(&self, g: GroupIdx) -> Option<String> {
        let t = &self.plan.tenant;
        if let Some(id) = t.groups[g.ix()].id {
            return Some(id.to_string());
        }
        let key = format!(
            "create:{}",
            crate::report::powershell::prepare::mail_nickname(&t.groups[g.ix()].name)
        );
        self.made
            .get_or_init(|| Steps::of(&journal::read(&self.run_dir.join("prepare.jsonl"))))
            .made_id(&key)
    }

    /// Prepare has created groups: `group_id` reads its journal again.
    pub fn forget_made(&mut self) {
        self.made.take();
    }
}

/// Each `$batch`'s answers, or why it has none.
pub type BatchAnswers =
    Vec<std::result::Result<Vec<graph::wire::BatchResponse>, graph::GraphError>>;

/// Why a user is journaled `gone`.
pub const GONE: &str = "the user is not in the tenant any more";

#[derive(Default)]
pub struct Detail {
    pub reason: Option<String>,
    pub error: Option<String>,
    pub request_id: Option<String>,
    pub after: Option<Vec<graph::wire::LicenseAssignmentState>>,
    pub id: Option<String>,
}

impl Detail {
    pub fn reason(r: impl Into<String>) -> Detail {
        Detail {
            reason: Some(r.into()),
            ..Default::default()
        }
    }
}

mod model_plan;

/// The journal key of a user's step.
pub fn user_key(t: &Tenant, u: crate::model::UserIdx) -> String {
    format!("user:{}", t.users[u.ix()].id)
}

pub fn run(args: &ApplyArgs, out: &mut dyn Write) -> Result<super::Ran> {
    let stage = Stage::parse(&args.stage)?;
    let connection = graph::Connection {
        write_rate: args.write_rate.max(0.1),
        ..crate::settings::connection(&args.graph)?
    };
    let processing_timeout =
        crate::settings::duration("--processing-timeout", &args.processing_timeout)?;
    // The plan verifies as it stands: its seal, and every removal safe on the snapshot.
    let verified = verify_quietly(&args.plan, &args.snapshot, None)?;
    if verified != crate::exit::OK {
        return Err(Error::Usage(
            format!(
                "licshift verify {} {} does not give a go: nothing was changed",
                args.plan.display(),
                args.snapshot.display()
            ),
            Some("run that command to see why; apply runs only a plan that verifies".into()),
        ));
    }
    let plan = model_plan::PlanModel::load(&args.plan, &args.snapshot, &args.sim)?;
    let run_dir = args.plan.join("run");
    std::fs::create_dir_all(&run_dir)
        .map_err(Error::io(format!("creating {}", run_dir.display())))?;
    let _lock = Lock::take(&run_dir).map_err(|e| {
        Error::Usage(
            e,
            Some(
                "wait for it to finish; a lock left by a process that is gone is taken over".into(),
            ),
        )
    })?;
    check_run_folder(&run_dir, &plan.plan_id)?;
    status::check_turn(&run_dir, stage, &plan, args.out_of_order)?;

    let say = |line: &str| eprintln!("{}", crate::report::terminal(line));
    let rt = graph::Runtime::new().map_err(Error::io("starting the Graph client"))?;
    let expected = plan.tenant.organization_id.map(|g| g.to_string());
    let client = rt.block_on(async {
        let client = Client::connect(&connection, stage.permissions(), &say).await?;
        super::snapshot::preflight(
            &client,
            expected.as_deref(),
            stage.permissions(),
            &format!("apply --stage {}", stage.name()),
        )
        .await?;
        Ok::<_, graph::GraphError>(client)
    })?;
    let tenant = expected.unwrap_or_else(|| "(the snapshot names no tenant)".into());
    let (users, changes) = plan.counts(stage, &run_dir);
    confirm(
        args,
        stage,
        &tenant,
        &client.token().claims.account(),
        users,
        changes,
    )?;

    let earlier = Steps::of(&journal::read(
        &run_dir.join(format!("{}.jsonl", stage.name())),
    ));
    let journal = Journal::open(
        &run_dir,
        &stage.name(),
        Record::Header {
            plan_id: plan.plan_id.clone(),
            stage: stage.name(),
            tenant: tenant.clone(),
            account: client.token().claims.account(),
            version: env!("CARGO_PKG_VERSION").into(),
            dry_run: args.dry_run,
            started: crate::clock::utc_now(),
        },
    )
    .map_err(Error::io(format!(
        "opening the journal in {}",
        run_dir.display()
    )))?;
    let mut r = Run {
        plan_dir: args.plan.clone(),
        snapshot_dir: args.snapshot.clone(),
        rt: &rt,
        client: &client,
        plan: &plan,
        run_dir: run_dir.clone(),
        journal,
        earlier,
        dry_run: args.dry_run,
        tally: Tally::default(),
        notes: Vec::new(),
        say: &say,
        writes: None,
        made: Default::default(),
    };
    let go = match stage {
        Stage::Prepare => prepare::run(&mut r, processing_timeout)?,
        Stage::Bridge => bridge::run(&mut r, processing_timeout)?,
        Stage::Wave(n) => wave::run(&mut r, n)?,
        Stage::RollbackWave(n) => {
            rollback::run(&mut r, n)?;
            None
        }
        Stage::RollbackBridge => {
            undo::bridge(&mut r, processing_timeout)?;
            None
        }
        Stage::RollbackPrepare => {
            undo::prepare(&mut r, processing_timeout)?;
            None
        }
    };
    let t = r.tally;
    r.intent(Record::End {
        done: t.done,
        already: t.already,
        skipped: t.skipped,
        gone: t.gone,
        failed: t.failed,
        at: crate::clock::utc_now(),
    })?;
    let stats = client.stats();
    let mut text = format!(
        "{}{}: {} done, {} already done, {} skipped, {} gone, {} failed ({} requests, {} retried, {} throttled). Journal: {}\n",
        if args.dry_run { "Dry run of " } else { "" },
        stage.name(),
        t.done,
        t.already,
        t.skipped,
        t.gone,
        t.failed,
        stats.requests,
        stats.retries,
        stats.throttled,
        r.journal.path().display()
    );
    if let Some((first, last, n)) = r.writes {
        let secs = (last - first).as_secs_f64().max(0.001);
        text += &format!(
            "Writes: {n} in {secs:.2} s ({:.1} a second; the pace asked: {:.1}).\n",
            n as f64 / secs,
            args.write_rate
        );
    }
    for n in r.notes.iter().take(50) {
        text += &format!("  {}\n", crate::report::terminal(n));
    }
    if r.notes.len() > 50 {
        text += &format!("  … and {} more in the journal\n", r.notes.len() - 50);
    }
    if let Some((go, summary)) = &go {
        text += &format!("{}: {summary}\n", if *go { "GO" } else { "NO-GO" });
    }
    super::write_out(out, &text)?;
    let clean = t.skipped == 0 && t.failed == 0 && go.as_ref().is_none_or(|g| g.0);
    Ok(super::Ran {
        code: if clean {
            crate::exit::OK
        } else {
            crate::exit::VIOLATIONS
        },
        warnings: Default::default(),
    })
}

/// `licshift verify` as a pipeline runs it; its exit code.
pub fn verify_quietly(plan: &Path, snapshot: &Path, fresh: Option<(&str, &Path)>) -> Result<u8> {
    let mut args = crate::cli::VerifyArgs {
        plan: plan.to_path_buf(),
        snapshot: snapshot.to_path_buf(),
        after: None,
        stage: None,
        fresh: None,
        allow_drift: false,
        allow_unsealed: false,
        format: crate::cli::Format::Json,
        report: None,
        pending: None,
        sim: Default::default(),
    };
    if let Some((mode, dir)) = fresh {
        args.fresh = Some(dir.to_path_buf());
        match mode.strip_prefix("after ") {
            Some(n) => args.after = n.parse().ok(),
            None => args.stage = Some(mode.into()),
        }
    }
    let mut sink = Vec::new();
    super::verify::run(args, &mut sink).map(|r| r.code)
}

/// The run folder belongs to this plan: one planned with the same folder name but another id
/// must not be resumed.
fn check_run_folder(run_dir: &Path, plan_id: &str) -> Result<()> {
    let mark = run_dir.join("plan-id");
    match std::fs::read_to_string(&mark) {
        Ok(id) if id.trim() != plan_id => Err(Error::Usage(
            format!("{} holds the runs of another plan ({})", run_dir.display(), id.trim()),
            Some("this plan was re-made after those runs: move that run folder aside, and verify the tenant before going on".into()),
        )),
        Ok(_) => Ok(()),
        Err(_) => std::fs::write(&mark, plan_id).map_err(Error::io(format!("writing {}", mark.display()))),
    }
}

fn confirm(
    args: &ApplyArgs,
    stage: Stage,
    tenant: &str,
    account: &str,
    users: usize,
    changes: usize,
) -> Result<()> {
    let what = format!(
        "{} {} in tenant {tenant} as {account}: {users} user(s), {changes} change(s)",
        if args.dry_run { "Dry run of" } else { "Apply" },
        stage.name()
    );
    if args.yes || args.dry_run {
        eprintln!("{}", crate::report::terminal(&what));
        return Ok(());
    }
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return Err(Error::Usage(
            format!("{what}: no terminal to confirm on"),
            Some("pass --yes to run without asking (pipelines), or --dry-run to see what would be done".into()),
        ));
    }
    eprint!("{}. Type yes to go on: ", crate::report::terminal(&what));
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(Error::io("reading the answer"))?;
    if answer.trim().eq_ignore_ascii_case("yes") {
        Ok(())
    } else {
        Err(Error::usage("not confirmed: nothing was changed"))
    }
}

#[cfg(test)]
mod tests {
    use super::Stage;

    fn parse(s: &str) -> Option<Stage> {
        Stage::parse(&s.split(' ').map(String::from).collect::<Vec<_>>()).ok()
    }

    #[test]
    fn every_stage_parses_in_words_or_as_its_journal_name() {
        for (text, stage) in [
            ("prepare", Stage::Prepare),
            ("bridge", Stage::Bridge),
            ("wave 3", Stage::Wave(3)),
            ("wave-3", Stage::Wave(3)),
            ("rollback wave 2", Stage::RollbackWave(2)),
            ("rollback-wave-2", Stage::RollbackWave(2)),
            ("rollback bridge", Stage::RollbackBridge),
            ("Rollback Prepare", Stage::RollbackPrepare),
        ] {
            assert_eq!(parse(text), Some(stage), "{text}");
            assert_eq!(parse(&stage.name()), Some(stage), "{}", stage.name());
        }
        for bad in ["wave", "wave 0", "rollback", "bridge 1", "rollback wave"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
