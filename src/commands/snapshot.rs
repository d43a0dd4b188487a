//! `licshift snapshot`: sign in, check the token's tenant and permissions, then read the tenant
//! into a new snapshot folder, whole or not at all.

use crate::cli::SnapshotArgs;
use crate::error::{Error, Result};
use crate::graph::{self, snapshot, Client};
use std::io::Write;

/// What a read needs (least privilege; broader permissions count).
pub const READ: &[&str] = &["User.Read.All", "Group.Read.All", "Organization.Read.All"];

pub fn run(args: &SnapshotArgs, out: &mut dyn Write) -> Result<super::Ran> {
    let connection = crate::settings::connection(&args.graph)?;
    let expected = args
        .graph
        .tenant
        .clone()
        .or_else(|| std::env::var("AZURE_TENANT_ID").ok())
        .filter(|t| crate::model::Guid::parse(t).is_some())
        .map(|t| t.to_ascii_lowercase());
    crate::publish::check_target(&args.out, &crate::publish::Inputs::new(), false)?;
    let phases = super::Phases::new();
    phases.doing("signing in to Microsoft Graph");
    let say = |line: &str| eprintln!("{}", crate::report::terminal(line));
    let started = std::time::Instant::now();
    let rt = graph::Runtime::new().map_err(Error::io("starting the Graph client"))?;
    let client = rt.block_on(async {
        let client = Client::connect(&connection, READ, &say).await?;
        preflight(&client, expected.as_deref(), READ, "reading the tenant").await?;
        Ok::<_, graph::GraphError>(client)
    })?;
    let progress = |file: &str, s: &snapshot::Saved| {
        phases.doing(&format!(
            "{file}: {} pages, {} users, {} groups, {} members",
            s.pages, s.users, s.groups, s.members
        ));
    };
    let saved = crate::publish::atomic_dir_or_nothing(&args.out, false, |dir| {
        rt.block_on(snapshot::save(&client, dir, &args.groups, &progress))
            .map_err(Error::from)
    })?;
    let stats = client.stats();
    drop(phases);
    for n in &saved.unmatched {
        eprintln!(
            "warning: no group has the id or name {}: its members were not saved",
            crate::report::terminal(n)
        );
    }
    let text = format!(
        "Snapshot of tenant {} saved in {}: {} users, {} groups ({} with their members: {} memberships), {} SKUs; {} pages in {:.1} s ({} requests, {} retried, {} throttled).\n",
        saved.tenant,
        args.out.display(),
        saved.users,
        saved.groups,
        saved.member_groups,
        saved.members,
        saved.skus,
        saved.pages,
        started.elapsed().as_secs_f64(),
        stats.requests,
        stats.retries,
        stats.throttled
    );
    super::write_out(out, &text)?;
    Ok(super::Ran {
        code: crate::exit::OK,
        warnings: Default::default(),
    })
}

/// Before anything else: the token carries what the command needs, and reads the tenant
/// expected (`--tenant`, or the snapshot's organization for a command that changes things).
pub async fn preflight(
    client: &Client,
    expected: Option<&str>,
    needed: &[&str],
    what: &str,
) -> std::result::Result<String, graph::GraphError> {
    let claims = &client.token().claims;
    let held = claims.permissions();
    // An opaque token says nothing of itself: Graph's answers will.
    if !held.is_empty() {
        let missing = graph::auth::missing(needed, &held);
        if !missing.is_empty() {
            return Err(graph::GraphError::Permissions {
                how: client.sign_in_name().into(),
                missing: missing.join(", "),
                what: what.into(),
            });
        }
    }
    let tenant = snapshot::tenant_id(client).await?;
    if let Some(e) = expected {
        if !e.eq_ignore_ascii_case(&tenant) {
            return Err(graph::GraphError::Tenant {
                expected: e.into(),
                got: tenant,
            });
        }
    }
    Ok(tenant)
}
