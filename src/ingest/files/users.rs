//! `users`: Graph exports, the Entra "Download users" CSV and both generations of the
//! Microsoft 365 admin center "Active users" export.

use super::{get, header, Col};
use crate::diag::{quote, Code, Problem};
use crate::ingest::cells::{self, clean};
use crate::ingest::columns::norm;
use crate::ingest::table::{Row, Table};
use crate::ingest::upn::key as upn_key;
use crate::ingest::Ctx;
use crate::model::{User, UserIdx};

const ID: usize = 0;
const UPN: usize = 1;
const NAME: usize = 2;
const LOCATION: usize = 3;
const ENABLED: usize = 4;
const BLOCKED: usize = 5;
const DEPARTMENT: usize = 6;

const COLS: &[Col] = &[
    Col {
        name: "Id",
        aliases: &["ObjectId", "Object Id", "UserId"],
    },
    Col {
        name: "UserPrincipalName",
        aliases: &["User principal name", "UPN", "SignInName"],
    },
    Col {
        name: "DisplayName",
        aliases: &["Display name", "Name"],
    },
    Col {
        name: "UsageLocation",
        aliases: &["Usage location"],
    },
    Col {
        name: "AccountEnabled",
        aliases: &["Account enabled"],
    },
    Col {
        name: "Block credential",
        aliases: &["BlockCredential", "Sign-in blocked", "SignInBlocked"],
    },
    Col {
        name: "Department",
        aliases: &[],
    },
];

pub(crate) fn users(ctx: &mut Ctx, table: &Table) -> u64 {
    let Some(mut loader) = UsersLoader::begin(ctx, table) else {
        return 0;
    };
    let mut pending = Vec::new();
    let n = table.for_each_row(|p| pending.push(p), |row| loader.row(ctx, table, row));
    for p in pending {
        ctx.problems.push(p);
    }
    n
}

/// `users.json`: each user and its licenseAssignmentStates in one pass over the file, so a
/// million-user export is read once. States of a user that did not load are passed over:
/// they would only repeat its problem as "unknown user".
pub(crate) fn users_and_assignments(ctx: &mut Ctx, users: &Table, states: &Table) -> u64 {
    let Some(mut user_loader) = UsersLoader::begin(ctx, users) else {
        return 0;
    };
    // As for a separate assignments file: once earlier files have errors, references to
    // what they define would only be noise.
    let mut state_loader = if ctx.problems.has_errors() {
        None
    } else {
        super::assignments::AssignmentsLoader::begin(ctx, states)
    };
    let mut pending = Vec::new();
    let mut user_loaded = false;
    let n = users.for_each_json_row(Some(states), &mut |p| pending.push(p), &mut |which, row| {
        if which == 0 {
            let before = ctx.t.users.len();
            user_loader.row(ctx, users, row);
            user_loaded = ctx.t.users.len() > before;
        } else if let (true, Some(l)) = (user_loaded, state_loader.as_mut()) {
            l.row(ctx, states, row);
        }
    });
    for p in pending {
        ctx.problems.push(p);
    }
    n
}

pub(crate) struct UsersLoader {
    cols: super::Columns,
    wave_col: Option<usize>,
}

impl UsersLoader {
    pub(crate) fn begin(ctx: &mut Ctx, table: &Table) -> Option<UsersLoader> {
        let cols = header(ctx, table, COLS, &[&[ID], &[UPN]])?;
        let wave_col = ctx.wave_by.as_ref().map(|w| {
            let w = norm(w);
            table.headers.iter().position(|h| norm(h) == w)
        });
        if let (Some(Some(first)), Some(w)) = (wave_col, &ctx.wave_by) {
            let again =
                (first + 1..table.headers.len()).find(|&i| norm(&table.headers[i]) == norm(w));
            if let Some(i) = again {
                let msg = format!(
                    "{} {}: the users file has two such columns",
                    ctx.wave_by_flag,
                    quote(w)
                );
                ctx.problems.push(
                    Problem::error(Code::DuplicateColumn, msg)
                        .at(table.locate(table.header_origin(i)))
                        .help(
                            "keep one of them: licshift will not guess which holds the right value",
                        ),
                );
                return None;
            }
        }
        if let (Some(None), Some(w)) = (wave_col, &ctx.wave_by) {
            let msg = format!(
                "{} {}: the users file has no such column",
                ctx.wave_by_flag,
                quote(w)
            );
            // A near miss or a shortening (`Dept`, `Departmnet`) of a column that is there.
            let want = norm(w);
            let near = table.headers.iter().find(|h| {
                let h = norm(h);
                (want.len() >= 3 && h.starts_with(&want[..1]) && {
                    // An abbreviation: its letters in order (`dept` in `department`).
                    let mut letters = h.chars();
                    want.chars().all(|c| letters.any(|l| l == c))
                }) || crate::ingest::columns::distance(&h, &want) <= (want.len() / 5).clamp(1, 3)
            });
            ctx.problems.push(
                Problem::error(Code::MissingColumn, msg)
                    .at(table.locate(table.header_origin(0)))
                    .help(match near {
                        Some(h) => format!(
                            "did you mean {}? The users file has: {}",
                            quote(h),
                            table.headers.join(", ")
                        ),
                        None => format!("the users file has: {}", table.headers.join(", ")),
                    }),
            );
            return None;
        }
        let expected = table.record_estimate();
        ctx.t.users.reserve(expected);
        ctx.idx.user_by_id.reserve(expected);
        ctx.idx.upn_index(&ctx.t.users).reserve(expected);
        Some(UsersLoader {
            cols,
            wave_col: wave_col.flatten(),
        })
    }

    pub(crate) fn row(&mut self, ctx: &mut Ctx, table: &Table, row: &Row) {
        let (cols, wave_col) = (&self.cols, self.wave_col);

        let Some(id) = super::guid_cell(ctx, table, row, cols.get(ID).unwrap_or(0), "user id")
        else {
            return;
        };
        let upn = clean(get(row, cols, UPN)).to_string();
        if upn.is_empty() {
            ctx.cell(
                table,
                row,
                cols.get(UPN).unwrap_or(0),
                Problem::error(Code::MissingValue, "the user has no user principal name"),
                "empty",
            );
            return;
        }
        if let Some(&first) = ctx.idx.user_by_id.get(&id) {
            let at = ctx.names.locate(ctx.t.users[first.ix()].origin);
            ctx.cell(
                table,
                row,
                cols.get(ID).unwrap_or(0),
                Problem::error(
                    Code::DuplicateRecord,
                    format!("user {id} is listed twice (first at {at})"),
                )
                .help("remove one of the rows: a snapshot lists each user once"),
                "second time",
            );
            return;
        }
        let key = upn_key(&upn);
        if let Some(first) = ctx.idx.upn_index(&ctx.t.users).get(&ctx.t.users, &key) {
            let at = ctx.names.locate(ctx.t.users[first.ix()].origin);
            ctx.cell(
                table,
                row,
                cols.get(UPN).unwrap_or(0),
                Problem::error(
                    Code::DuplicateRecord,
                    format!(
                        "user principal name {} is listed twice (first at {at})",
                        quote(&upn)
                    ),
                ),
                "second time",
            );
            return;
        }
        let raw_loc = get(row, cols, LOCATION);
        let location = if clean(raw_loc).is_empty() {
            None
        } else {
            match cells::country(raw_loc) {
                Some(c) => Some(c),
                None => {
                    ctx.cell(
                        table,
                        row,
                        cols.get(LOCATION).unwrap_or(0),
                        Problem::error(
                            Code::BadValue,
                            format!(
                                "usage location {} is not a two-letter country code",
                                quote(raw_loc)
                            ),
                        )
                        .help("usage locations are ISO 3166-1 alpha-2 codes such as US, NL, DE"),
                        "not a country code",
                    );
                    return;
                }
            }
        };
        let account_enabled = match (cols.get(ENABLED), cols.get(BLOCKED)) {
            (Some(c), _) if !clean(row.get(c)).is_empty() => cells::boolean(row.get(c)).ok_or(c),
            (_, Some(c)) if !clean(row.get(c)).is_empty() => {
                cells::boolean(row.get(c)).map(|b| !b).ok_or(c)
            }
            _ => Ok(true),
        };
        let account_enabled = match account_enabled {
            Ok(b) => b,
            Err(c) => {
                let raw = row.get(c).to_string();
                ctx.cell(table, row, c, Problem::error(Code::BadValue, format!("{} is not true or false", quote(&raw))).help("accepted: True/False, Yes/No, 1/0 and Excel's localised TRUE/FALSE (WAAR, VERDADEIRO, WAHR, VRAI …)"), "not a boolean");
                return;
            }
        };
        let u = UserIdx(ctx.t.users.len() as u32);
        ctx.idx.user_by_id.insert(id, u);
        if let Some(m) = ctx.idx.user_by_upn.as_mut() {
            m.insert(&key, u);
        }
        let department = ctx
            .idx
            .department(&mut ctx.t.departments, clean(get(row, cols, DEPARTMENT)));
        ctx.t.users.push(User {
            id,
            upn,
            display_name: clean(get(row, cols, NAME)).to_string(),
            location,
            account_enabled,
            department,
            wave_key: wave_col.map(|c| clean(row.get(c)).to_string()),
            origin: row.origin,
        });
    }
}
