//! `licshift sandbox`: load a snapshot, serve its tenant on loopback until SIGINT/SIGTERM, then
//! write the tenant as it stands into a snapshot folder and say what the watch saw.

use crate::cli::SandboxArgs;
use crate::error::{Error, Result};
use crate::sandbox::{self, Directory};
use crate::settings::Simulation;
use std::io::Write;

pub fn run(args: &SandboxArgs, out: &mut dyn Write) -> Result<super::Ran> {
    let options = crate::settings::sandbox(args)?;
    let sim = Simulation::from_args(&args.snapshot, &args.sim, None)?;
    let save = args.save.clone().unwrap_or_else(|| {
        let stamp: String = crate::clock::utc_now()
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == 'T')
            .collect();
        format!("licshift-sandbox-{}", stamp.replace('T', "-")).into()
    });
    let mut inputs = crate::publish::Inputs::new();
    inputs.add_snapshot(&sim.snapshot);
    crate::publish::check_target(&save, &inputs, false)?;
    let snap = super::load(&sim)?;
    let mut dir = Directory::from_tenant(&snap.tenant, &crate::clock::utc_now());
    if snap.tenant.organization_id.is_none() {
        eprintln!("warning: the snapshot has no organization file: the sandbox makes up a tenant id, and a token for it");
        dir.tenant_id = crate::model::Guid::parse(&crate::graph::new_uuid()).unwrap_or_default();
    }
    let (users, groups, tenant) = (dir.users.len(), dir.groups.len(), dir.tenant_id);
    let running = sandbox::start(dir, options.clone())
        .map_err(Error::io(format!("listening on {}", options.listen)))?;
    // The first two lines are for `eval`; a pipeline reads them before the sandbox stops.
    writeln!(out, "LICSHIFT_GRAPH_URL={}", running.graph_url)
        .and_then(|_| writeln!(out, "LICSHIFT_GRAPH_TOKEN={}", running.token))
        .and_then(|_| writeln!(out, "LICSHIFT_LOGIN_URL={}", running.login_url))
        .and_then(|_| out.flush())
        .map_err(Error::io("writing to standard output"))?;
    eprintln!(
        "licshift sandbox: tenant {tenant} ({users} users, {groups} groups) on {}; writes {} per {:?}, group processing {:?}{}. Ctrl+C saves the tenant into {} and stops.",
        running.graph_url,
        options.write_quota,
        options.quota_window,
        options.processing_delay,
        options.faults.map_or(String::new(), |s| format!(", faults from seed {s}")),
        save.display()
    );
    running
        .wait_for_signal()
        .map_err(Error::io("waiting for Ctrl+C"))?;
    let report = running.report();
    crate::publish::atomic_dir(&save, false, |d| running.save(d))?;
    running.stop();
    eprintln!(
        "licshift sandbox: {} requests, {} writes, {} changes, {} throttled, {} sent before their Retry-After; {} plan(s) lost; tenant saved in {}",
        report.requests,
        report.writes,
        report.changes,
        report.throttled,
        report.quota_exceeded,
        report.lost_plans.len(),
        save.display()
    );
    for l in &report.lost_plans {
        eprintln!(
            "lost: {} lost {} by {}",
            crate::report::terminal(&l.user),
            crate::report::terminal(&l.plan),
            crate::report::terminal(&l.request)
        );
    }
    Ok(super::Ran {
        code: if report.lost_plans.is_empty() {
            crate::exit::OK
        } else {
            crate::exit::VIOLATIONS
        },
        warnings: snap.warnings,
    })
}
