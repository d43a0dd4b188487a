//! Orchestration only: settings → ingest → engine → plan → report. No logic of its own.

use crate::cli::{Cli, Command, Format, SeatFormula};
use crate::diag::Problems;
use crate::engine::{self, Outcome, Params};
use crate::error::{Error, Result};
use crate::ingest;
use crate::model::Tenant;
use crate::report;
use crate::settings::Simulation;
use std::io::Write;

pub mod apply;
pub mod plan;
pub mod sandbox;
pub mod scripts;
pub mod snapshot;
pub mod suggest;
pub mod verify;

pub use crate::exit::Ran;

/// `--quiet`, set once by `execute` before any command runs.
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Wall time per phase, printed to stderr when LICSHIFT_TIMINGS is set (the benchmark reads it),
/// and the spinner a person watching a long run sees.
pub struct Phases {
    start: std::time::Instant,
    last: std::time::Instant,
    /// CPU seconds (user, system) at the last mark: a phase whose CPU is well under twice its
    /// wall time on two cores is waiting on something.
    last_cpu: (f64, f64),
    enabled: bool,
    /// The spinner a person watching a long run sees (stderr a terminal, no --quiet).
    progress: Option<indicatif::ProgressBar>,
}

impl Phases {
    pub fn new() -> Phases {
        let now = std::time::Instant::now();
        use std::io::IsTerminal;
        let enabled = std::env::var_os("LICSHIFT_TIMINGS").is_some();
        let watched = std::io::stderr().is_terminal()
            && !QUIET.load(std::sync::atomic::Ordering::Relaxed)
            && !enabled;
        let progress = watched.then(|| {
            let pb = indicatif::ProgressBar::new_spinner();
            pb.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            pb.set_message("reading the snapshot");
            pb.enable_steady_tick(std::time::Duration::from_millis(120));
            pb
        });
        Phases {
            start: now,
            last: now,
            last_cpu: cpu_seconds(),
            enabled,
            progress,
        }
    }

    /// What runs now, for the spinner.
    pub fn doing(&self, what: &str) {
        if let Some(pb) = &self.progress {
            pb.set_message(what.to_string());
        }
    }

    pub fn mark(&mut self, phase: &str) {
        let now = std::time::Instant::now();
        if let Some(pb) = &self.progress {
            pb.println(format!(
                "licshift: {phase} done in {:.1}s (total {:.1}s)",
                (now - self.last).as_secs_f64(),
                (now - self.start).as_secs_f64()
            ));
            pb.set_message("working");
        }
        if !self.enabled {
            self.last = now;
        }
        if self.enabled {
            let cpu = cpu_seconds();
            let line = format!(
                "timing {phase:<12} {:>8.3}s (total {:.3}s)  rss {} MB, peak {} MB, cpu user {:.2}s sys {:.2}s\n",
                (now - self.last).as_secs_f64(),
                (now - self.start).as_secs_f64(),
                memory_mb("VmRSS:"),
                memory_mb("VmHWM:"),
                cpu.0 - self.last_cpu.0,
                cpu.1 - self.last_cpu.1,
            );
            let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
            self.last = now;
            self.last_cpu = cpu;
        }
    }
}

impl Drop for Phases {
    fn drop(&mut self) {
        if let Some(pb) = &self.progress {
            pb.finish_and_clear();
        }
    }
}

/// A line of /proc/self/status in MB, 0 where there is no /proc.
fn memory_mb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

/// This process's (user, system) CPU seconds from /proc/self/stat, zero where there is none.
fn cpu_seconds() -> (f64, f64) {
    // Fields 14 and 15, in clock ticks; the command name (field 2) may hold spaces, so count
    // from the parenthesis that closes it. Ticks are 100 a second on every Linux we run on.
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let mut rest = stat
        .rsplit_once(')')
        .map_or("", |(_, r)| r)
        .split_whitespace();
    let mut tick = |n: usize| {
        rest.nth(n)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 100.0
    };
    let user = tick(11);
    let sys = tick(0);
    (user, sys)
}

impl Default for Phases {
    fn default() -> Self {
        Self::new()
    }
}

/// A loaded, rule-resolved snapshot.
pub struct Snapshot {
    pub tenant: Tenant,
    pub warnings: Problems,
    pub names: crate::diag::SourceNames,
}

pub fn load(sim: &Simulation) -> Result<Snapshot> {
    // The tenant location in force (the flag's, or a plan's) is the one the checks speak of.
    let mut spec = sim.snapshot.clone();
    if sim.tenant_location.is_some() {
        spec.tenant_location = sim.tenant_location;
    }
    let loaded = ingest::load(&spec).map_err(|f| Error::Input(f.problems))?;
    let mut tenant = loaded.tenant;
    engine::rules::install(&mut tenant, loaded.file_rules);
    Ok(Snapshot {
        tenant,
        warnings: loaded.warnings,
        names: loaded.names,
    })
}

pub fn params(sim: &Simulation, exact: bool) -> Params {
    Params {
        tenant_location: sim.tenant_location,
        strict_seats: sim.seat_formula == SeatFormula::Strict,
        exact,
    }
}

pub fn simulate(sim: &Simulation, exact: bool) -> Result<(Snapshot, Outcome)> {
    let snap = load(sim)?;
    let outcome = engine::simulate(&snap.tenant, params(sim, exact));
    Ok((snap, outcome))
}

/// Text for a person: through the terminal sanitiser, whatever names it holds.
pub(crate) fn write_out(out: &mut dyn Write, s: &str) -> Result<()> {
    write_data(out, report::terminal(s).as_bytes())
}

/// CSV and JSON for a pipeline, as they are (JSON escapes control characters itself).
pub(crate) fn write_data(out: &mut dyn Write, bytes: &[u8]) -> Result<()> {
    out.write_all(bytes).map_err(Error::io("writing output"))
}

pub fn execute(cli: Cli, out: &mut dyn Write) -> Result<Ran> {
    QUIET.store(cli.quiet, std::sync::atomic::Ordering::Relaxed);
    match cli.command {
        Command::Inspect {
            snapshot,
            format,
            sim,
        } => {
            let sim = Simulation::from_args(&snapshot, &sim, None)?;
            let csv = |problems: &Problems, out: &mut dyn Write| {
                let text = report::inspect::problems_csv(problems)
                    .map_err(Error::io("writing the problems"))?;
                write_data(out, text.as_bytes())
            };
            let snap = match load(&sim) {
                Err(Error::Input(problems)) if format == Format::Csv => {
                    csv(&problems, out)?;
                    return Err(Error::Input(problems));
                }
                other => other?,
            };
            let summary = report::inspect::summarise(&snap.tenant, &snap.warnings);
            let text = match format {
                Format::Json => {
                    let json =
                        serde_json::to_string_pretty(&summary).expect("summary serialises") + "\n";
                    write_data(out, json.as_bytes())?;
                    return Ok(Ran {
                        code: crate::exit::OK,
                        warnings: Problems::default(),
                    });
                }
                // One row per problem: what a pipeline wants of inspect.
                Format::Csv => {
                    csv(&snap.warnings, out)?;
                    return Ok(Ran {
                        code: crate::exit::OK,
                        warnings: Problems::default(),
                    });
                }
                Format::Table => report::inspect::render_table(&summary),
            };
            write_out(out, &text)?;
            // The warnings are part of inspect's own output.
            Ok(Ran {
                code: crate::exit::OK,
                warnings: Problems::default(),
            })
        }
        Command::Diff {
            snapshot,
            user,
            format,
            rows,
            sim,
        } => {
            let sim = Simulation::from_args(&snapshot, &sim, None)?;
            let (snap, outcome) = simulate(&sim, false)?;
            let only = match &user {
                Some(key) => Some(snap.tenant.user_by_key(key).ok_or_else(|| {
                    Error::Usage(
                        format!("no user {key:?} in the snapshot"),
                        Some("give a user principal name or object id from the users file".into()),
                    )
                })?),
                None => None,
            };
            let all = rows == crate::cli::DiffRows::All;
            if format == Format::Table {
                let mut text = Vec::new();
                report::diff::write(&mut text, &snap.tenant, &outcome, only, all, format)
                    .map_err(Error::io("writing the diff"))?;
                write_out(out, &String::from_utf8_lossy(&text))?;
            } else {
                report::diff::write(out, &snap.tenant, &outcome, only, all, format)
                    .map_err(Error::io("writing the diff"))?;
            }
            Ok(Ran {
                code: crate::exit::OK,
                warnings: snap.warnings,
            })
        }
        Command::Explain {
            snapshot,
            user,
            sim,
        } => {
            let sim = Simulation::from_args(&snapshot, &sim, None)?;
            let (snap, outcome) = simulate(&sim, false)?;
            let u = snap.tenant.user_by_key(&user).ok_or_else(|| {
                Error::Usage(
                    format!("no user {user:?} in the snapshot"),
                    Some("give a user principal name or object id from the users file".into()),
                )
            })?;
            write_out(out, &report::explain::render(&snap.tenant, &outcome, u))?;
            Ok(Ran {
                code: crate::exit::OK,
                warnings: snap.warnings,
            })
        }
        Command::Rules {
            snapshot,
            format,
            files,
        } => {
            let (tenant, warnings) = match snapshot {
                Some(s) => {
                    let sim = crate::cli::SimArgs {
                        files,
                        ..Default::default()
                    };
                    let sim = Simulation::from_args(&s, &sim, None)?;
                    let snap = load(&sim)?;
                    (Some(snap.tenant), snap.warnings)
                }
                None => (None, Problems::default()),
            };
            let text = report::rules::render(tenant.as_ref(), format);
            match format {
                Format::Table => write_out(out, &text)?,
                _ => write_data(out, text.as_bytes())?,
            }
            Ok(Ran {
                code: crate::exit::OK,
                warnings,
            })
        }
        Command::ExportScript { out: file, groups } => {
            let groups: Vec<String> = groups
                .iter()
                .map(|g| g.trim().to_string())
                .filter(|g| !g.is_empty())
                .collect();
            let script = report::export_script::render(&groups);
            match file {
                Some(path) => {
                    crate::publish::check_file_target(
                        "--out",
                        &path,
                        &crate::publish::Inputs::new(),
                    )?;
                    crate::publish::write_file(&path, &script)?
                }
                None => out
                    .write_all(&script)
                    .map_err(Error::io("writing output"))?,
            }
            Ok(Ran {
                code: crate::exit::OK,
                warnings: Problems::default(),
            })
        }
        Command::Plan(args) => plan::run(args, out),
        Command::Verify(args) => verify::run(args, out),
        Command::Suggest(args) => suggest::run(args, out),
        Command::Scripts(args) => scripts::run(args, out),
        Command::Snapshot(args) => snapshot::run(&args, out),
        Command::Apply(args) => apply::run(&args, out),
        Command::Status { plan } => apply::status::run(&plan, out),
        Command::Sandbox(args) => sandbox::run(&args, out),
        Command::Generate {
            users,
            out: dir,
            seed,
            force,
            format,
        } => crate::generate::run(
            users,
            &dir,
            seed,
            force,
            format == crate::cli::SnapshotFormat::Json,
            out,
        ),
    }
}
