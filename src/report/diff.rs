//! The per-user, per-plan diff (SPEC §5 `diff.csv`) as CSV, JSON or a terminal table.

use super::row::CsvRow;
use super::{table, SafeCsv};
use crate::cli::Format;
use crate::engine::words::source_label;
use crate::engine::{diff_user, DiffRow, Outcome};
use crate::model::{GroupIdx, SkuIdx, Source, Tenant, UserIdx};
use smallvec::SmallVec;
use std::io::{self, Write};

pub const HEADER: [&str; 7] = [
    "userId",
    "userPrincipalName",
    "servicePlanId",
    "servicePlanName",
    "before",
    "after",
    "change",
];

fn cells(t: &Tenant, u: UserIdx, r: &DiffRow) -> [String; 7] {
    let user = &t.users[u.ix()];
    let plan = &t.plans[r.plan.ix()];
    let before: Vec<String> = r
        .before
        .iter()
        .map(|(s, k)| source_label(t, *s, *k))
        .collect();
    let after: Vec<String> = r
        .after
        .iter()
        .map(|(g, k): &(GroupIdx, SkuIdx)| source_label(t, Source::Group(*g), *k))
        .collect();
    [
        user.id.to_string(),
        user.upn.clone(),
        plan.id.to_string(),
        plan.name.clone(),
        before.join("; "),
        after.join("; "),
        r.change.as_str().to_string(),
    ]
}

/// The one user asked for, or every user in listing order.
fn users(t: &Tenant, only: Option<UserIdx>) -> Vec<UserIdx> {
    only.map_or_else(|| t.user_order(), |u| vec![u])
}

pub fn write_csv<W: Write>(
    w: W,
    t: &Tenant,
    o: &Outcome,
    only: Option<UserIdx>,
    all: bool,
) -> io::Result<W> {
    let order = users(t, only);
    write_csv_in(w, t, o, &order, all)
}

/// diff.csv for the users in `order`.
pub fn write_csv_in<W: Write>(
    w: W,
    t: &Tenant,
    o: &Outcome,
    order: &[UserIdx],
    all: bool,
) -> io::Result<W> {
    let mut csv = SafeCsv::new(w);
    csv.row(HEADER)?;
    let mut w = csv.finish()?;
    // The first cells of a row, written once: millions of rows repeat a user's id and name
    // for each of their plans, and a few hundred plans' ids and names between them.
    let plan_cells: Vec<Vec<u8>> = t
        .plans
        .iter()
        .map(|p| {
            let mut cells = Vec::new();
            CsvRow::new(&mut cells).guid(p.id).text(&p.name);
            cells
        })
        .collect();
    super::write_ordered(&mut w, order, 2048, |users, buf| {
        let mut user_cells = Vec::new();
        for &u in users {
            let rows = diff_user(t, u, &o.users[u.ix()], all);
            if rows.is_empty() {
                continue;
            }
            let user = &t.users[u.ix()];
            user_cells.clear();
            CsvRow::new(&mut user_cells).guid(user.id).text(&user.upn);
            for r in &rows {
                csv_row(buf, t, &user_cells, &plan_cells[r.plan.ix()], r);
            }
        }
        Ok(())
    })?;
    Ok(w)
}

/// One diff.csv row after its user's and plan's cells, the sources written piece by piece
/// (`E3 (direct); EMS (All users)`).
fn csv_row(buf: &mut Vec<u8>, t: &Tenant, user_cells: &[u8], plan_cells: &[u8], r: &DiffRow) {
    buf.extend_from_slice(user_cells);
    buf.push(b',');
    buf.extend_from_slice(plan_cells);
    let mut row = CsvRow::continuing(buf);
    let mut parts: SmallVec<[&str; 16]> = SmallVec::new();
    for (i, (source, sku)) in r.before.iter().enumerate() {
        if i > 0 {
            parts.push("; ");
        }
        parts.push(t.sku_label(*sku));
        parts.push(" (");
        parts.push(match source {
            Source::Direct => "direct",
            Source::Group(g) => t.group_label(*g),
        });
        parts.push(")");
    }
    row.parts(&parts);
    parts.clear();
    for (i, (g, sku)) in r.after.iter().enumerate() {
        if i > 0 {
            parts.push("; ");
        }
        parts.extend([t.sku_label(*sku), " (", t.group_label(*g), ")"]);
    }
    row.parts(&parts).text(r.change.as_str()).end();
}

pub fn write(
    out: &mut dyn Write,
    t: &Tenant,
    o: &Outcome,
    only: Option<UserIdx>,
    all: bool,
    format: Format,
) -> io::Result<()> {
    match format {
        Format::Csv => {
            write_csv(out, t, o, only, all)?;
        }
        Format::Json => {
            let mut rows = Vec::new();
            for u in users(t, only) {
                for r in diff_user(t, u, &o.users[u.ix()], all) {
                    let c = cells(t, u, &r);
                    let obj: serde_json::Map<String, serde_json::Value> = HEADER
                        .iter()
                        .zip(c)
                        .map(|(k, v)| (k.to_string(), serde_json::Value::String(v)))
                        .collect();
                    rows.push(serde_json::Value::Object(obj));
                }
            }
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&rows).map_err(io::Error::other)?
            )?;
        }
        Format::Table => {
            let mut rows = Vec::new();
            let mut counts = [0usize; 3];
            for u in users(t, only) {
                for r in diff_user(t, u, &o.users[u.ix()], all) {
                    counts[r.change as usize] += 1;
                    let c = cells(t, u, &r);
                    rows.push(vec![
                        c[1].clone(),
                        c[3].clone(),
                        c[4].clone(),
                        c[5].clone(),
                        c[6].clone(),
                    ]);
                }
            }
            if rows.is_empty() {
                writeln!(
                    out,
                    "No user gains or loses a plan once every direct assignment is gone."
                )?;
            } else {
                writeln!(
                    out,
                    "{}",
                    table(
                        &[
                            "user",
                            "plan",
                            "before (today)",
                            "after (groups only)",
                            "change"
                        ],
                        rows
                    )
                )?;
            }
            writeln!(
                out,
                "{} kept, {} gained, {} lost (lost = the reason a direct assignment must stay)",
                counts[0], counts[1], counts[2]
            )?;
        }
    }
    Ok(())
}
