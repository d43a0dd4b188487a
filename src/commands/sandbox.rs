//! `licshift sandbox`: load a snapshot, serve its tenant on loopback until SIGINT/SIGTERM, then
//! write the tenant as it stands into a snapshot folder and say what the watch saw.

use crate::cli::SandboxArgs;
use crate::error::{Error, Result};
use crate::sandbox::{self, Directory};
use crate::settings::Simulation;
use std::io::Write;

pub fn run(args: &SandboxArgs, out: &mut dyn Write) -> Result<super::Ran> {
    let options = options(args)?;
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

/// The sandbox's flags, checked: loopback only, durations read.
fn options(a: &crate::cli::SandboxArgs) -> Result<crate::sandbox::Options> {
    let listen: std::net::SocketAddr = a.listen.trim().parse().map_err(|_| {
        Error::Usage(
            format!("--listen {:?} is not an address and port", a.listen),
            Some("write it as 127.0.0.1:8080 (port 0 picks a free one)".into()),
        )
    })?;
    if !listen.ip().is_loopback() {
        return Err(Error::Usage(
            format!("--listen {listen} is not a loopback address"),
            Some("the sandbox hands its token to anyone who asks its login stand-in: it listens on 127.0.0.1 or ::1 only".into()),
        ));
    }
    if a.write_quota == 0 {
        return Err(Error::usage("--write-quota must be at least 1"));
    }
    let quota_window = crate::settings::duration("--quota-window", &a.quota_window)?;
    if quota_window.is_zero() {
        return Err(Error::usage("--quota-window must be longer than zero"));
    }
    Ok(crate::sandbox::Options {
        listen,
        write_quota: a.write_quota,
        quota_window,
        read_quota: a.read_quota.max(1),
        read_window: crate::settings::duration("--read-window", &a.read_window)?,
        processing_delay: crate::settings::duration("--processing-delay", &a.processing_delay)?,
        faults: a.faults,
        latency: crate::settings::duration("--latency", &a.latency)?,
    })
}
