//! One loader per snapshot file. Each reads its table row by row, resolves what the row names
//! against what earlier files defined, and reports a located problem for anything it cannot.

mod assignments;
mod groups;
mod rules;
mod skus;
mod users;

pub(crate) use assignments::assignments;
pub(crate) use groups::{groups, members, templates};
pub(crate) use rules::{organization, rules};
pub(crate) use skus::{catalog, skus};
pub(crate) use users::{users, users_and_assignments};

use super::cells::{self, clean, name_key};
pub(crate) use super::columns::Columns;
use super::columns::{self, Col};
use super::table::{Row, Table};
use super::Ctx;
use crate::diag::{quote, Code, Problem};
use crate::model::{GroupIdx, PlanSet, SkuIdx, UserIdx};

/// Resolves the header, reporting duplicate columns; `None` when a required column is missing
/// (reported too). `required` lists groups of alternatives: one of each group must be present.
pub(super) fn header(
    ctx: &mut Ctx,
    table: &Table,
    cols: &[Col],
    required: &[&[usize]],
) -> Option<Columns> {
    let mut problems = Vec::new();
    let found = Columns::resolve(table, cols, &mut problems);
    let dup = problems.iter().any(|p| p.is_error());
    for p in problems {
        ctx.problems.push(p);
    }
    let mut ok = !dup;
    for alts in required {
        if alts.iter().all(|&i| found.get(i).is_none()) {
            ctx.problems.push(columns::missing(
                table,
                &cols[alts[0]],
                alts.get(1).map(|&i| &cols[i]),
            ));
            ok = false;
        }
    }
    ok.then_some(found)
}

/// The cell of a column, or "" when the column is absent.
pub(super) fn get<'r>(row: &'r Row, cols: &Columns, i: usize) -> &'r str {
    cols.get(i).map_or("", |c| row.get(c))
}

pub(super) fn resolve_user(
    ctx: &mut Ctx,
    table: &Table,
    row: &Row,
    cols: &Columns,
    id: usize,
    upn: usize,
) -> Option<UserIdx> {
    if let Some(c) = cols.get(id).filter(|&c| !clean(row.get(c)).is_empty()) {
        let g = guid_cell(ctx, table, row, c, "user id")?;
        // Exports list a user's rows together, and mostly in the users file's order: the last
        // user, or the one after it, saves a lookup that misses the cache.
        if let Some((last, u)) = ctx.idx.last_user {
            if last == g {
                return Some(u);
            }
            let next = UserIdx(u.0 + 1);
            if ctx.t.users.get(next.ix()).is_some_and(|n| n.id == g) {
                ctx.idx.last_user = Some((g, next));
                return Some(next);
            }
        }
        return match ctx.idx.user_by_id.get(&g) {
            Some(&u) => {
                ctx.idx.last_user = Some((g, u));
                Some(u)
            }
            None => {
                ctx.cell(
                    table,
                    row,
                    c,
                    Problem::error(
                        Code::UnknownUser,
                        format!("user {g} is not in the users file"),
                    )
                    .help("export users and assignments at the same moment, or add the user"),
                    "unknown user",
                );
                None
            }
        };
    }
    if let Some(c) = cols.get(upn) {
        let key = crate::ingest::upn::key(row.get(c));
        if key.is_empty() {
            ctx.cell(
                table,
                row,
                c,
                Problem::error(Code::MissingValue, "the row names no user"),
                "empty",
            );
            return None;
        }
        return match ctx.idx.upn_index(&ctx.t.users).get(&ctx.t.users, &key) {
            Some(u) => Some(u),
            None => {
                ctx.cell(
                    table,
                    row,
                    c,
                    Problem::error(
                        Code::UnknownUser,
                        format!("user {} is not in the users file", quote(row.get(c))),
                    )
                    .help("export users and assignments at the same moment, or add the user"),
                    "unknown user",
                );
                None
            }
        };
    }
    ctx.problems.push(
        Problem::error(Code::MissingValue, "the row names no user").at(table.locate(row.origin)),
    );
    None
}

pub(super) fn resolve_sku(
    ctx: &mut Ctx,
    table: &Table,
    row: &Row,
    cols: &Columns,
    id: usize,
    part: usize,
) -> Option<SkuIdx> {
    if let Some(c) = cols.get(id).filter(|&c| !clean(row.get(c)).is_empty()) {
        let g = guid_cell(ctx, table, row, c, "SKU id")?;
        return match ctx.idx.sku_by_id.get(&g) {
            Some(&s) => Some(s),
            None => {
                ctx.cell(table, row, c, Problem::error(Code::UnknownSku, format!("SKU {g} is not one the tenant has")).help("the skus file (Get-MgSubscribedSku) lists every SKU the tenant subscribes to"), "unknown SKU");
                None
            }
        };
    }
    if let Some(c) = cols.get(part) {
        let raw = row.get(c);
        // MSOnline's AccountSkuId is `tenant:PARTNUMBER`.
        let key = name_key(raw.rsplit(':').next().unwrap_or(raw));
        return match ctx.idx.sku_by_part.get(&key) {
            Some(&s) => Some(s),
            None if key.is_empty() => {
                ctx.cell(
                    table,
                    row,
                    c,
                    Problem::error(Code::MissingValue, "the row names no SKU"),
                    "empty",
                );
                None
            }
            None => {
                let known: Vec<&str> = ctx.t.skus.iter().map(|s| s.part_number.as_str()).collect();
                ctx.cell(
                    table,
                    row,
                    c,
                    Problem::error(
                        Code::UnknownSku,
                        format!("SKU {} is not one the tenant has", quote(raw)),
                    )
                    .help(format!("the tenant has: {}", known.join(", "))),
                    "unknown SKU",
                );
                None
            }
        };
    }
    ctx.problems.push(
        Problem::error(Code::MissingValue, "the row names no SKU").at(table.locate(row.origin)),
    );
    None
}

pub(super) fn resolve_group(
    ctx: &mut Ctx,
    table: &Table,
    row: &Row,
    cols: &Columns,
    id: usize,
    name: usize,
) -> Option<GroupIdx> {
    if let Some(c) = cols.get(id).filter(|&c| !clean(row.get(c)).is_empty()) {
        let g = guid_cell(ctx, table, row, c, "group id")?;
        return match ctx.idx.group_by_id.get(&g) {
            Some(&gi) => Some(gi),
            None => {
                ctx.cell(
                    table,
                    row,
                    c,
                    Problem::error(
                        Code::UnknownGroup,
                        format!("group {g} is not in the groups file"),
                    ),
                    "unknown group",
                );
                None
            }
        };
    }
    if let Some(c) = cols.get(name) {
        let key = name_key(row.get(c));
        let hits = ctx.idx.group_by_name.get(&key).cloned().unwrap_or_default();
        return match hits.as_slice() {
            [one] => Some(*one),
            [] => {
                let p = if key.is_empty() {
                    Problem::error(Code::MissingValue, "the row names no group")
                } else {
                    Problem::error(
                        Code::UnknownGroup,
                        format!("group {} is not in the groups file nor named by a proposed template line", quote(row.get(c))),
                    )
                };
                ctx.cell(table, row, c, p.help("a group must be in the groups file, or be named by a `proposed` template line (a new group the plan creates)"), "unknown group");
                None
            }
            many => {
                let ids: Vec<String> = many
                    .iter()
                    .map(|g| {
                        ctx.t.groups[g.ix()]
                            .id
                            .map_or("(new)".into(), |i| i.to_string())
                    })
                    .collect();
                ctx.cell(
                    table,
                    row,
                    c,
                    Problem::error(
                        Code::AmbiguousGroup,
                        format!("{} groups are named {}", many.len(), quote(row.get(c))),
                    )
                    .help(format!("name the group by id instead: {}", ids.join(", "))),
                    "ambiguous name",
                );
                None
            }
        };
    }
    ctx.problems.push(
        Problem::error(Code::MissingValue, "the row names no group").at(table.locate(row.origin)),
    );
    None
}

/// A plan list cell → the set of plans it names. Items are plan ids, plan names, or (with a
/// catalog) friendly names. A plan that is not in `sku` is harmless but worth a warning.
pub(super) fn resolve_plans(
    ctx: &mut Ctx,
    table: &Table,
    row: &Row,
    col: usize,
    sku: Option<SkuIdx>,
) -> Option<PlanSet> {
    // A friendly name holds spaces ("Yammer Enterprise"): a cell that is one known name is
    // that name, before whitespace could split it.
    let whole = clean(row.get(col));
    if !whole.is_empty() && !whole.contains([';', ',', '|', '[']) && whole.contains(' ') {
        if let Some(p) = lookup_plan(ctx, whole) {
            return Some(PlanSet::from_iter_idx([p]));
        }
    }
    let items = match cells::list(row.get(col)) {
        Ok(items) => items,
        Err(e) => {
            ctx.cell(
                table,
                row,
                col,
                Problem::error(Code::BadValue, format!("cannot read the plan list: {e}")),
                "plan list",
            );
            return None;
        }
    };
    let mut set = PlanSet::new();
    let mut ok = true;
    for item in items {
        let found = lookup_plan(ctx, &item);
        match found {
            Some(p) => {
                if let Some(s) = sku {
                    if !ctx.t.skus[s.ix()].plans.contains(p)
                        && !ctx.t.skus[s.ix()].company_plans.contains(p)
                    {
                        let sku_name = ctx.t.skus[s.ix()].part_number.clone();
                        ctx.cell(
                            table,
                            row,
                            col,
                            Problem::warning(
                                Code::UnknownPlan,
                                format!(
                                    "plan {} is not part of {sku_name}; it changes nothing",
                                    quote(&item)
                                ),
                            ),
                            "not in this SKU",
                        );
                    }
                }
                set.insert(p);
            }
            None => {
                ok = false;
                ctx.cell(
                    table,
                    row,
                    col,
                    Problem::error(
                        Code::UnknownPlan,
                        format!("plan {} is in none of the tenant's SKUs", quote(&item)),
                    )
                    .help(
                        "name plans by servicePlanId or servicePlanName as the skus file has them",
                    ),
                    "unknown plan",
                );
            }
        }
    }
    ok.then_some(set)
}

/// The GUID in a cell, or a located `bad_guid` problem naming what the id was for.
pub(super) fn guid_cell(
    ctx: &mut Ctx,
    table: &Table,
    row: &Row,
    col: usize,
    what: &str,
) -> Option<crate::model::Guid> {
    let raw = row.get(col);
    if let Some(g) = cells::guid(raw) {
        return Some(g);
    }
    let p = Problem::error(Code::BadGuid, format!("{} is not a {what}", quote(raw)))
        .help(cells::guid_hint(raw));
    ctx.cell(table, row, col, p, "not a GUID");
    None
}

/// A plan by id, by the skus file's name, or by the catalog's name or friendly name.
fn lookup_plan(ctx: &Ctx, item: &str) -> Option<crate::model::PlanIdx> {
    match cells::guid(item) {
        Some(g) => ctx.idx.plan_by_id.get(&g).copied(),
        None => {
            let key = name_key(item);
            ctx.idx.plan_by_name.get(&key).copied().or_else(|| {
                ctx.idx
                    .catalog_plan_by_name
                    .get(&key)
                    .and_then(|(g, _)| ctx.idx.plan_by_id.get(g).copied())
            })
        }
    }
}

/// Checks that need every file: reported as warnings, they do not stop a run.
pub(crate) fn whole_tenant_checks(ctx: &mut Ctx) {
    let t = &ctx.t;
    let no_location: Vec<&str> = t
        .users
        .iter()
        .filter(|u| u.location.is_none())
        .map(|u| u.upn.as_str())
        .collect();
    if !no_location.is_empty() {
        let example: Vec<&str> = no_location.iter().take(3).copied().collect();
        let fallback = match t.tenant_location {
            Some(c) => format!("group licensing gives them the tenant's location, {c}"),
            None => "with no tenant location (organization file or --tenant-location) every location check fails for them".to_string(),
        };
        let p = Problem::warning(
            Code::NoUsageLocation,
            format!(
                "{} users have no usage location (e.g. {}); {fallback}",
                no_location.len(),
                example.join(", ")
            ),
        );
        ctx.problems.push(p);
    }
    for n in &t.nested {
        let msg = format!("group {} is a member of group {}: nested groups do not pass licenses on, its members get nothing from {}", quote(&t.groups[n.child.ix()].name), quote(&t.groups[n.parent.ix()].name), quote(&t.groups[n.parent.ix()].name));
        let loc = ctx.names.locate(n.origin);
        ctx.problems
            .push(Problem::warning(Code::NestedGroup, msg).at(loc));
    }
    for s in &t.skus {
        if let Some(seats) = s.seats {
            if seats.consumed > seats.enabled {
                let loc = ctx.names.locate(s.origin);
                ctx.problems.push(Problem::warning(Code::SeatsOverConsumed, format!("{} has {} seats consumed but {} enabled", s.part_number, seats.consumed, seats.enabled)).at(loc).help("the tenant is over-assigned: no new seat of this SKU can be predicted to succeed"));
            }
        }
    }
    for (gi, g) in t.groups.iter().enumerate() {
        let licensed = t.templates.get(gi).is_some_and(|l| !l.is_empty());
        if licensed && g.security_enabled == Some(false) {
            let loc = ctx.names.locate(g.origin);
            ctx.problems.push(Problem::warning(Code::Inconsistent, format!("group {} is not security-enabled; group-based licensing works only with security groups", quote(&g.name))).at(loc));
        }
        if let Some(state) = &g.processing_state {
            let st = name_key(state);
            if licensed && !st.is_empty() && st != "processingcomplete" {
                let loc = ctx.names.locate(g.origin);
                ctx.problems.push(Problem::warning(Code::Inconsistent, format!("group {} is in license processing state {}; its members' states may still change", quote(&g.name), quote(state))).at(loc).help("wait for ProcessingComplete and export again before executing a plan"));
            }
        }
    }
}
