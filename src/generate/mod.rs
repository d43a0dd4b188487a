//! `licshift generate`: a realistic synthetic tenant in the SPEC §2 formats, for demos and
//! benchmarks. Real products and plans (Microsoft's ids, from products.csv), departments and
//! countries, existing and proposed groups, direct assignments that mirror the templates with
//! the noise real tenants have. Deterministic for a seed; streamed, so a million users take
//! seconds and little memory.

mod tenant;

use crate::error::{Error, Result};
use crate::run::Ran;
use std::io::Write;
use std::path::Path;

pub fn run(users: u64, dir: &Path, seed: u64, force: bool, out: &mut dyn Write) -> Result<Ran> {
    if users == 0 {
        return Err(Error::usage("--users must be at least 1"));
    }
    crate::plan::check_out_dir(dir, force)?;
    let stats = crate::plan::atomic_dir(dir, force, |tmp| tenant::write(tmp, users, seed))?;
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
