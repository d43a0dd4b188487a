//! The Microsoft Graph PowerShell scripts of a plan folder (SPEC §5): prepare and its rollback,
//! each wave and its rollback. All of them share `runtime.ps1`.
//!
//! Safety rules: users, SKUs, plans and known groups appear only as GUIDs this tool parsed;
//! any name from an export appears only inside a single-quoted string with every quote
//! character doubled, so no value in an export can run as PowerShell. Each script re-reads the
//! user live and removes nothing unless a group assignment that is Active with no error still
//! gives every plan the direct assignment enables — else it logs and skips the user.

use super::row::ps_str;
use crate::model::{GroupIdx, Tenant};

/// The pieces of a script entry that name a SKU, a group or a plan, rendered once per plan
/// folder: 1.8M removals at a million users name a dozen SKUs, groups and plans between them.
pub struct ScriptCells {
    /// `'sku-guid'`
    sku: Vec<Vec<u8>>,
    /// `'plan-guid'`
    plan: Vec<Vec<u8>>,
}

impl ScriptCells {
    pub fn new(t: &Tenant) -> ScriptCells {
        let guid = |id: crate::model::Guid| {
            let mut b = vec![b'\''];
            b.extend_from_slice(&id.encode());
            b.push(b'\'');
            b
        };
        ScriptCells {
            sku: t.skus.iter().map(|s| guid(s.id)).collect(),
            plan: t.plans.iter().map(|p| guid(p.id)).collect(),
        }
    }
}

pub fn script_name(wave: u32, rollback: bool) -> String {
    stage_script(&stage_name(wave, None), rollback)
}

/// The script of a stage (`wave-001`, `wave-001-retry-1`), or its rollback.
pub fn stage_script(stage: &str, rollback: bool) -> String {
    format!(
        "scripts/{stage}{}.ps1",
        if rollback { "-rollback" } else { "" }
    )
}

/// A PowerShell single-quoted string literal. PowerShell also treats the typographic quotes
/// ‘ ’ ‚ ‛ as single quotes, so they are doubled too.
pub fn ps_quote(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len() + 2);
    super::row::ps_str(&mut out, s);
    String::from_utf8(out).expect("quoting keeps UTF-8")
}

mod bridge;
pub mod prepare;
mod wave;

pub use bridge::{bridge_rollback_script, bridge_script};

pub use prepare::{prepare_rollback_script, prepare_script};
pub use wave::{rollback_script, stage_name, wave_script};

/// What every operational script shares: parameters, the JSON Lines log, Graph calls retried
/// after Retry-After, the pre-flight (connected, the snapshot's tenant, the scopes).
const RUNTIME: &str = include_str!("runtime.ps1");

/// What a plan folder's scripts know of the plan: the tenant it was made for and its id.
pub struct ScriptContext {
    /// The snapshot's organization id, checked against the connection before anything runs.
    pub tenant: Option<crate::model::Guid>,
    /// The plan's id (a SHA-256 over its inputs and options), written in every log's header.
    pub plan_id: String,
}

impl ScriptContext {
    pub fn new(t: &Tenant, options: &str) -> ScriptContext {
        let mut basis: String = t
            .inputs
            .iter()
            .map(|i| format!("{}:{}\n", i.kind, i.sha256))
            .collect();
        basis += options;
        ScriptContext {
            tenant: t.organization_id,
            plan_id: crate::ingest::sha256(basis.as_bytes()),
        }
    }
}

/// The head every operational script starts with: a UTF-8 byte-order mark (Windows PowerShell
/// 5.1 reads a file without one in the ANSI code page, where the bytes of `ł` or `Ñ` hold a
/// quote), the comment, then the shared runtime for `stage`.
fn head(
    out: &mut Vec<u8>,
    comment: &str,
    stage: &str,
    ctx: &ScriptContext,
    scopes: &[&[&str]],
    params: &str,
    summary: &str,
) {
    out.extend_from_slice(b"\xEF\xBB\xBF");
    out.extend_from_slice(comment.as_bytes());
    let scopes: Vec<String> = scopes
        .iter()
        .map(|alts| {
            let list: Vec<String> = alts.iter().map(|s| format!("'{s}'")).collect();
            format!("@({})", list.join(", "))
        })
        .collect();
    let runtime = RUNTIME
        .replace("__PARAMS__", params)
        .replace("__STAGE__", stage)
        .replace(
            "__TENANT__",
            &ctx.tenant.map_or(String::new(), |g| g.to_string()),
        )
        .replace("__PLAN__", &ctx.plan_id)
        .replace(
            "__SCOPES__",
            &format!("{},", scopes.join(", ")).trim_end_matches(','),
        )
        .replace("__VERSION__", env!("CARGO_PKG_VERSION"))
        .replace("__SUMMARY__", summary);
    out.extend_from_slice(runtime.as_bytes());
}

/// Scope sets: one of each inner list must be granted. Writing licenses needs
/// LicenseAssignment.ReadWrite.All at least; reading users, User.Read.All at least.
const WRITE_LICENSES: &[&str] = &[
    "LicenseAssignment.ReadWrite.All",
    "User.ReadWrite.All",
    "Directory.ReadWrite.All",
];
const READ_USERS: &[&str] = &[
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const WRITE_GROUPS: &[&str] = &["Group.ReadWrite.All", "Directory.ReadWrite.All"];

/// `'guid', 'guid'`
fn guid_list(out: &mut Vec<u8>, ids: impl Iterator<Item = crate::model::Guid>) {
    for (i, id) in ids.enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        out.push(b'\'');
        out.extend_from_slice(&id.encode());
        out.push(b'\'');
    }
}

/// `$SkuPlans`: each SKU's per-user plans as the snapshot has them, to tell what a live
/// assignment enables from its disabled plans.
fn sku_plans(out: &mut Vec<u8>, t: &Tenant) {
    out.extend_from_slice(
        b"\n# Each SKU's service plans that apply to users, from the snapshot.\n$SkuPlans = @{\n",
    );
    for sku in &t.skus {
        out.extend_from_slice(b"    '");
        out.extend_from_slice(&sku.id.encode());
        out.extend_from_slice(b"' = @(");
        guid_list(out, sku.plans.iter().map(|p| t.plans[p.ix()].id));
        out.extend_from_slice(b")\n");
    }
    out.extend_from_slice(b"}\n");
}

/// The key a script knows a group by: an existing group's id; a new group's name, which
/// prepare.ps1 records with the id it was created under (run/groups.json).
fn group_key(out: &mut Vec<u8>, t: &Tenant, g: GroupIdx) {
    match t.groups[g.ix()].id {
        Some(id) => {
            out.push(b'\'');
            out.extend_from_slice(&id.encode());
            out.push(b'\'');
        }
        None => ps_str(out, &t.groups[g.ix()].name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_cannot_escape() {
        assert_eq!(ps_quote("o'brien@x.com"), "'o''brien@x.com'");
        assert_eq!(ps_quote("a\u{2019}b"), "'a\u{2019}\u{2019}b'");
        assert_eq!(ps_quote("$(calc)"), "'$(calc)'");
    }
}

pub(super) fn plan_list(out: &mut Vec<u8>, cells: &ScriptCells, set: &crate::model::PlanSet) {
    for (k, p) in set.iter().enumerate() {
        if k > 0 {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(&cells.plan[p.ix()]);
    }
}

/// `@{ Sku = '…'; Disabled = @('…', …) }, …`: licenses as an assignLicense call lists them.
pub(super) fn sku_entries<'a>(
    out: &mut Vec<u8>,
    cells: &ScriptCells,
    items: impl Iterator<Item = (crate::model::SkuIdx, &'a crate::model::PlanSet)>,
) {
    for (j, (sku, disabled)) in items.enumerate() {
        if j > 0 {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(b"@{ Sku = ");
        out.extend_from_slice(&cells.sku[sku.ix()]);
        out.extend_from_slice(b"; Disabled = @(");
        plan_list(out, cells, disabled);
        out.extend_from_slice(b") }");
    }
}
