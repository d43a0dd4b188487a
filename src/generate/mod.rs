//! `licshift generate`: a realistic synthetic tenant in the SPEC §2 formats, for demos and
//! benchmarks. Real products and plans (Microsoft's ids, from products.csv), departments and
//! countries, existing and proposed groups, direct assignments that mirror the templates with
//! the noise real tenants have. Deterministic for a seed; streamed, so a million users take
//! seconds and little memory.

pub mod graph_json;
mod tenant;

use crate::error::{Error, Result};
use crate::exit::Ran;
use std::io::Write;
use std::path::Path;

pub fn run(
    users: u64,
    dir: &Path,
    seed: u64,
    force: bool,
    json: bool,
    out: &mut dyn Write,
) -> Result<Ran> {
    if users == 0 {
        return Err(Error::usage("--users must be at least 1"));
    }
    crate::publish::check_target(dir, &crate::publish::Inputs::new(), force)?;
    let stats = crate::publish::atomic_dir(dir, force, |tmp| {
        let stats = tenant::write(tmp, users, seed)?;
        if json {
            to_json(tmp, seed)?;
        }
        // The mark of a folder licshift wrote: `--force` replaces only such a folder.
        std::fs::write(
            tmp.join("licshift-generate.json"),
            format!(
                "{{\"generator\": \"licshift {}\", \"users\": {users}, \"seed\": {seed}, \"format\": \"{}\"}}\n",
                env!("CARGO_PKG_VERSION"),
                if json { "json" } else { "csv" }
            ),
        )?;
        Ok(stats)
    })?;
    let text = format!(
        "Generated {} users, {} assignments, {} memberships, {} groups in {}\n",
        stats.users,
        stats.assignments,
        stats.memberships,
        stats.groups,
        dir.display()
    );
    out.write_all(text.as_bytes())
        .map_err(Error::io("writing output"))?;
    Ok(Ran {
        code: crate::exit::OK,
        warnings: Default::default(),
    })
}

/// Replaces the CSV snapshot in `dir` by its Graph JSON form (templates.csv keeps the proposed
/// lines, which no Graph request returns).
fn to_json(dir: &Path, seed: u64) -> std::io::Result<()> {
    let spec = crate::ingest::SnapshotSpec {
        root: dir.to_path_buf(),
        ..Default::default()
    };
    let loaded = crate::ingest::load(&spec).map_err(|f| {
        let first = f
            .problems
            .list
            .first()
            .map_or(String::new(), |p| p.message.clone());
        std::io::Error::other(format!("the generated snapshot did not load: {first}"))
    })?;
    let tenant_id = crate::model::Guid::parse(&tenant::guid(seed, 99, 0)).unwrap_or_default();
    graph_json::write(&loaded.tenant, dir, tenant_id)?;
    for f in [
        "users",
        "assignments",
        "groups",
        "members",
        "skus",
        "organization",
    ] {
        std::fs::remove_file(dir.join(format!("{f}.csv")))?;
    }
    Ok(())
}
