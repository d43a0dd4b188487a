//! report.xlsx: the sign-off figures as a workbook reviewers filter — Summary, Waves (one row per
//! removal), Blocked, Seats, Gains, Prepare (and Bridge with `--bridge`). Each sheet has its
//! header frozen, an autofilter and column widths from its content; numbers are numbers and
//! every text cell is written as a string, so no value from an export becomes a formula. A
//! sheet past Excel's 1,048,576 rows goes on in `Waves (2)`.

use super::plan_files::BlockedRow;
use crate::engine::Outcome;
use crate::model::Tenant;
use crate::plan::Plan;
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook, Worksheet, XlsxError};
use std::path::Path;

/// Removals up to which `plan` writes the workbook unasked (`--xlsx` writes it always).
pub const DEFAULT_MAX_REMOVALS: usize = 100_000;

/// Data rows per sheet: Excel's 1,048,576 rows less the header.
const ROWS_PER_SHEET: usize = 1_048_575;

pub enum Cell {
    Text(String),
    Number(f64),
    Empty,
}

impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell::Text(s.to_string())
    }
}
impl From<String> for Cell {
    fn from(s: String) -> Cell {
        Cell::Text(s)
    }
}
impl From<i64> for Cell {
    fn from(n: i64) -> Cell {
        Cell::Number(n as f64)
    }
}
impl From<usize> for Cell {
    fn from(n: usize) -> Cell {
        Cell::Number(n as f64)
    }
}

fn err(e: XlsxError) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// One table, as one sheet or as many as it needs.
fn table(
    wb: &mut Workbook,
    name: &str,
    header: &[&str],
    rows: impl Iterator<Item = Vec<Cell>>,
) -> Result<(), XlsxError> {
    table_in_sheets_of(wb, name, header, rows, ROWS_PER_SHEET)
}

fn table_in_sheets_of(
    wb: &mut Workbook,
    name: &str,
    header: &[&str],
    rows: impl Iterator<Item = Vec<Cell>>,
    rows_per_sheet: usize,
) -> Result<(), XlsxError> {
    let bold = Format::new().set_bold();
    let mut rows = rows.peekable();
    let mut part = 1;
    loop {
        let ws: &mut Worksheet = wb.add_worksheet_with_constant_memory();
        ws.set_name(if part == 1 {
            name.to_string()
        } else {
            format!("{name} ({part})")
        })?;
        let mut width: Vec<usize> = header.iter().map(|h| h.len()).collect();
        for (c, h) in header.iter().enumerate() {
            ws.write_string_with_format(0, c as u16, *h, &bold)?;
        }
        let mut n = 0usize;
        while n < rows_per_sheet {
            let Some(row) = rows.next() else { break };
            n += 1;
            for (c, cell) in row.into_iter().enumerate() {
                let (r, c16) = (n as u32, c as u16);
                match cell {
                    Cell::Text(s) => {
                        if c < width.len() {
                            width[c] = width[c].max(s.chars().count());
                        }
                        ws.write_string(r, c16, workbook_cell(&s))?;
                    }
                    Cell::Number(v) => {
                        ws.write_number(r, c16, v)?;
                    }
                    Cell::Empty => {}
                }
            }
        }
        ws.set_freeze_panes(1, 0)?;
        ws.autofilter(0, 0, n as u32, header.len().saturating_sub(1) as u16)?;
        for (c, w) in width.iter().enumerate() {
            ws.set_column_width(c as u16, (*w as f64 + 2.0).clamp(8.0, 60.0))?;
        }
        if rows.peek().is_none() {
            return Ok(());
        }
        part += 1;
    }
}

pub fn write(
    path: &Path,
    t: &Tenant,
    o: &Outcome,
    plan: &Plan,
    blocked: &[BlockedRow],
) -> std::io::Result<()> {
    build(path, t, o, plan, blocked).map_err(err)
}

fn build(
    path: &Path,
    t: &Tenant,
    o: &Outcome,
    plan: &Plan,
    blocked: &[BlockedRow],
) -> Result<(), XlsxError> {
    let mut wb = Workbook::new();
    // A fixed creation date: the same inputs give the same bytes (SPEC I5), and plan.json seals
    // them; the clock's date would make every run's workbook differ.
    wb.set_properties(
        &DocProperties::new()
            .set_title("licshift plan: sign-off figures")
            .set_creation_datetime(&ExcelDateTime::from_ymd(2000, 1, 1)?),
    );
    let removals: usize = plan.waves.iter().map(|w| w.removals.len()).sum();
    let users: usize = plan.waves.iter().map(|w| w.users.len()).sum();
    let gaining = o.users.iter().filter(|u| !u.gains().is_empty()).count();
    let mut summary: Vec<Vec<Cell>> = vec![
        vec!["users".into(), t.users.len().into()],
        vec!["users planned".into(), users.into()],
        vec!["removals".into(), removals.into()],
        vec!["waves".into(), plan.waves.len().into()],
        vec!["blocked".into(), blocked.len().into()],
        vec!["users who gain plans".into(), gaining.into()],
        vec!["shapes".into(), plan.shapes.into()],
        vec!["shapes in the pilot".into(), plan.shapes_in_pilot.into()],
    ];
    if let Some(b) = &plan.bridge {
        summary.push(vec!["users bridged".into(), b.swaps.len().into()]);
    }
    for i in &t.inputs {
        summary.push(vec![
            format!("input {} ({})", i.kind, i.path).into(),
            i.sha256.clone().into(),
        ]);
    }
    table(
        &mut wb,
        "Summary",
        &["figure", "value"],
        summary.into_iter(),
    )?;

    let group_list = |gs: &[crate::model::GroupIdx]| {
        gs.iter()
            .map(|g| t.group_label(*g))
            .collect::<Vec<_>>()
            .join("; ")
    };
    table(
        &mut wb,
        "Waves",
        &super::plan_files::WAVES_HEADER,
        plan.waves.iter().flat_map(|w| {
            w.removals.iter().map(move |r| {
                let user = &t.users[r.user.ix()];
                vec![
                    Cell::Number(w.number as f64),
                    user.id.to_string().into(),
                    user.upn.as_str().into(),
                    t.skus[r.sku.ix()].id.to_string().into(),
                    t.sku_label(r.sku).into(),
                    group_list(&r.covered_by).into(),
                ]
            })
        }),
    )?;
    table(
        &mut wb,
        "Blocked",
        &super::plan_files::BLOCKED_HEADER,
        blocked.iter().map(|b| {
            let user = &t.users[b.user.ix()];
            vec![
                user.id.to_string().into(),
                user.upn.as_str().into(),
                t.skus[b.sku.ix()].id.to_string().into(),
                t.sku_label(b.sku).into(),
                b.reason.code().into(),
                b.detail.as_str().into(),
            ]
        }),
    )?;
    table(
        &mut wb,
        "Seats",
        &[
            "skuId",
            "skuPartNumber",
            "enabled",
            "before",
            "peak",
            "after",
            "requestedNew",
            "short",
        ],
        t.skus.iter().zip(&o.seats).map(|(k, u)| {
            vec![
                k.id.to_string().into(),
                k.part_number.as_str().into(),
                if u.known {
                    u.enabled.into()
                } else {
                    Cell::Empty
                },
                u.before.into(),
                u.peak.into(),
                u.after.into(),
                u.requested.into(),
                if u.short { "yes" } else { "no" }.into(),
            ]
        }),
    )?;
    table(
        &mut wb,
        "Gains",
        &["userId", "userPrincipalName", "gainedPlans"],
        plan.by_upn
            .iter()
            .filter(|u| !o.users[u.ix()].gains().is_empty())
            .map(|u| {
                let user = &t.users[u.ix()];
                vec![
                    user.id.to_string().into(),
                    user.upn.as_str().into(),
                    t.plan_names(&o.users[u.ix()].gains()).join(", ").into(),
                ]
            }),
    )?;
    table(
        &mut wb,
        "Prepare",
        &super::plan_files::PREPARE_HEADER,
        super::plan_files::prepare_rows(t, plan)
            .into_iter()
            .map(|r| r.into_iter().map(Cell::Text).collect()),
    )?;
    if let Some(b) = &plan.bridge {
        table(
            &mut wb,
            "Bridge",
            &super::bridge::BRIDGE_HEADER,
            super::bridge::rows(t, b)
                .into_iter()
                .map(|r| r.into_iter().map(Cell::Text).collect()),
        )?;
    }
    wb.save(path)
}

/// Excel holds at most 32,767 characters in a cell. A longer name (an export may carry up to
/// the 64 KiB licshift reads) is written cut, with a marker saying so: the workbook is a
/// reviewer's view; the CSVs beside it hold every name whole.
fn workbook_cell(s: &str) -> std::borrow::Cow<'_, str> {
    const EXCEL_MAX: usize = 32_767;
    const MARK: &str = "… [cut: longer than an Excel cell; see the CSV]";
    if s.chars().count() <= EXCEL_MAX {
        return std::borrow::Cow::Borrowed(s);
    }
    let keep = EXCEL_MAX - MARK.chars().count();
    let mut out: String = s.chars().take(keep).collect();
    out.push_str(MARK);
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::Reader;

    /// A table longer than a sheet goes on in `NAME (2)`, `NAME (3)`, each with the header.
    #[test]
    fn a_long_table_continues_on_the_next_sheet() {
        let path = std::env::temp_dir().join(format!("licshift-xlsx-{}.xlsx", std::process::id()));
        let mut wb = Workbook::new();
        let rows = (0..7).map(|i| vec![Cell::Number(i as f64), Cell::Text(format!("=row {i}"))]);
        table_in_sheets_of(&mut wb, "Waves", &["n", "text"], rows, 3).unwrap();
        wb.save(&path).unwrap();
        let mut book: calamine::Xlsx<_> = calamine::open_workbook(&path).unwrap();
        assert_eq!(book.sheet_names(), ["Waves", "Waves (2)", "Waves (3)"]);
        let last = book.worksheet_range("Waves (3)").unwrap();
        let cells: Vec<String> = last.rows().map(|r| r[1].to_string()).collect();
        // Text that looks like a formula stays text.
        assert_eq!(cells, ["text", "=row 6"]);
        let _ = std::fs::remove_file(&path);
    }
}
