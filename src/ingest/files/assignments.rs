//! `assignments`: one row per `licenseAssignmentState`, as Graph PowerShell flattens them and as
//! AdminDroid's "license assignment path" report writes them.

use super::{get, header, resolve_group, resolve_plans, resolve_sku, resolve_user, Col};
use crate::diag::{quote, Code, Problem};
use crate::ingest::cells::{self, clean, name_key};
use crate::ingest::table::{Row, Table};
use crate::ingest::Ctx;
use crate::model::{Assignment, PlanSet, Source};

const USER_ID: usize = 0;
const UPN: usize = 1;
const SKU_ID: usize = 2;
const PART: usize = 3;
const BY_GROUP: usize = 4;
const BY_GROUP_NAME: usize = 5;
const PATH: usize = 6;
const DISABLED: usize = 7;
const STATE: usize = 8;
const ERROR: usize = 9;

const COLS: &[Col] = &[
    Col {
        name: "UserId",
        aliases: &["User Id", "ObjectId", "Id"],
    },
    Col {
        name: "UserPrincipalName",
        aliases: &["User principal name", "UPN"],
    },
    Col {
        name: "SkuId",
        aliases: &["Sku Id"],
    },
    Col {
        name: "SkuPartNumber",
        aliases: &["Sku Name", "SkuName", "Sku", "AccountSkuId"],
    },
    Col {
        name: "AssignedByGroup",
        aliases: &["AssignedByGroupId"],
    },
    Col {
        name: "AssignedByGroupName",
        aliases: &["Assigned via(group name)", "GroupName"],
    },
    Col {
        name: "License Assignment Path",
        aliases: &["AssignmentPath", "Method", "AssignmentType"],
    },
    Col {
        name: "DisabledPlans",
        aliases: &["Disabled Plans"],
    },
    Col {
        name: "State",
        aliases: &[],
    },
    Col {
        name: "Error",
        aliases: &[],
    },
];

pub(crate) fn assignments(ctx: &mut Ctx, table: &Table) -> u64 {
    let Some(mut loader) = AssignmentsLoader::begin(ctx, table) else {
        return 0;
    };
    let mut pending = Vec::new();
    let n = table.for_each_row(|p| pending.push(p), |row| loader.row(ctx, table, row));
    for p in pending {
        ctx.problems.push(p);
    }
    n
}

/// Duplicates are rare, and a user holds a handful of assignments: each user's assignments
/// are chained (first per user, next per assignment) and the chain is walked, which is
/// cheaper than a three-million-entry set and touches memory close by.
const END: u32 = u32::MAX;

pub(crate) struct AssignmentsLoader {
    cols: super::Columns,
    base: usize,
    first_of: Vec<u32>,
    next_of: Vec<u32>,
    unknown_errors: usize,
}

impl AssignmentsLoader {
    pub(crate) fn begin(ctx: &mut Ctx, table: &Table) -> Option<AssignmentsLoader> {
        let cols = header(ctx, table, COLS, &[&[USER_ID, UPN], &[SKU_ID, PART]])?;
        let expected = table.record_estimate();
        ctx.t.assignments.reserve(expected);
        Some(AssignmentsLoader {
            cols,
            base: ctx.t.assignments.len(),
            first_of: vec![END; ctx.t.users.len()],
            next_of: Vec::with_capacity(expected),
            unknown_errors: 0,
        })
    }

    pub(crate) fn row(&mut self, ctx: &mut Ctx, table: &Table, row: &Row) {
        let cols = &self.cols;

        let Some(user) = resolve_user(ctx, table, row, cols, USER_ID, UPN) else {
            return;
        };
        let Some(sku) = resolve_sku(ctx, table, row, cols, SKU_ID, PART) else {
            return;
        };
        let by_id = clean(get(row, cols, BY_GROUP));
        let by_name = clean(get(row, cols, BY_GROUP_NAME));
        let path = name_key(get(row, cols, PATH));
        let user_id = ctx.t.users[user.ix()].id;
        // MSOnline wrote the user's own id for a direct assignment; Graph writes null.
        let own_id = !table.is_json() && cells::guid(by_id) == Some(user_id);
        let source = if !cells::is_null(by_id) && !own_id {
            match resolve_group(ctx, table, row, cols, BY_GROUP, usize::MAX) {
                Some(g) => Source::Group(g),
                None => return,
            }
        } else if !cells::is_null(by_name) && !path.starts_with("direct") {
            match resolve_group(ctx, table, row, cols, usize::MAX, BY_GROUP_NAME) {
                Some(g) => Source::Group(g),
                None => return,
            }
        } else if path.starts_with("inherited") || path == "group" {
            ctx.cell(
                table,
                row,
                cols.get(PATH).unwrap_or(0),
                Problem::error(
                    Code::MissingValue,
                    "the assignment is inherited but names no group",
                ),
                "no group",
            );
            return;
        } else {
            Source::Direct
        };
        let disabled = match cols.get(DISABLED) {
            Some(c) => match resolve_plans(ctx, table, row, c, Some(sku)) {
                Some(s) => ctx.idx.disabled_set(s),
                None => return,
            },
            None => ctx.idx.disabled_set(PlanSet::new()),
        };
        let raw_state = get(row, cols, STATE);
        let Some(state) = cells::state(raw_state) else {
            ctx.cell(
                table,
                row,
                cols.get(STATE).unwrap_or(0),
                Problem::error(
                    Code::BadValue,
                    format!(
                        "state {} is not one of Active, ActiveWithError, Disabled, Error",
                        quote(raw_state)
                    ),
                ),
                "unknown state",
            );
            return;
        };
        let raw_error = get(row, cols, ERROR);
        let error = match cells::license_error(raw_error) {
            Ok(e) => e,
            Err(()) => {
                self.unknown_errors += 1;
                if self.unknown_errors <= 3 {
                    ctx.cell(
                        table,
                        row,
                        cols.get(ERROR).unwrap_or(0),
                        Problem::warning(
                            Code::BadValue,
                            format!(
                                "error {} is not one Graph documents; it is read as `Other`",
                                quote(raw_error)
                            ),
                        ),
                        "unknown error",
                    );
                }
                Some(crate::model::LicenseError::Other)
            }
        };
        if user.ix() >= self.first_of.len() {
            self.first_of.resize(ctx.t.users.len(), END);
        }
        let (base, first_of, next_of) = (self.base, &mut self.first_of, &mut self.next_of);
        let mut at = first_of[user.ix()];
        let mut duplicate = false;
        while at != END {
            let a = &ctx.t.assignments[base + at as usize];
            if a.sku == sku && a.source == source {
                duplicate = true;
                break;
            }
            at = next_of[at as usize];
        }
        if duplicate {
            let what = match source {
                Source::Direct => "directly".to_string(),
                Source::Group(g) => format!("by group {}", quote(&ctx.t.groups[g.ix()].name)),
            };
            let msg = format!(
                "{} is assigned {} {what} twice",
                ctx.t.users[user.ix()].upn,
                ctx.t.skus[sku.ix()].part_number
            );
            ctx.cell(
                table,
                row,
                cols.get(PART).or(cols.get(SKU_ID)).unwrap_or(0),
                Problem::error(Code::DuplicateRecord, msg)
                    .help("a user has one licenseAssignmentState per SKU and source"),
                "second time",
            );
            return;
        }
        next_of.push(first_of[user.ix()]);
        first_of[user.ix()] = (ctx.t.assignments.len() - base) as u32;
        ctx.t.assignments.push(Assignment {
            user,
            sku,
            source,
            disabled,
            state,
            error,
            origin: row.origin,
        });
    }
}
