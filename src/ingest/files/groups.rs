//! `groups`, `templates` (the licenses each group assigns, existing or proposed) and `members`.

use super::{get, header, resolve_group, resolve_plans, resolve_sku, resolve_user, Col};
use crate::diag::{quote, Code, Problem};
use crate::ingest::cells::{self, clean, name_key};
use crate::ingest::columns::distance;
use crate::ingest::table::Table;
use crate::ingest::Ctx;
use crate::model::{Group, GroupIdx, NestedGroup, TemplateLine, TemplateStatus};

const G_ID: usize = 0;
const G_NAME: usize = 1;
const G_SECURITY: usize = 2;
const G_STATE: usize = 3;

const GROUP_COLS: &[Col] = &[
    Col {
        name: "Id",
        aliases: &["ObjectId", "Object Id", "GroupId"],
    },
    Col {
        name: "DisplayName",
        aliases: &["Display name", "GroupName", "Name"],
    },
    Col {
        name: "SecurityEnabled",
        aliases: &["Security enabled"],
    },
    Col {
        name: "LicenseProcessingState",
        aliases: &["LicenseProcessingState.State", "License processing state"],
    },
];

pub(crate) fn groups(ctx: &mut Ctx, table: &Table) -> u64 {
    let Some(cols) = header(ctx, table, GROUP_COLS, &[&[G_NAME]]) else {
        return 0;
    };
    let mut pending = Vec::new();
    let n = table.for_each_row(
        |p| pending.push(p),
        |row| {
            let raw_id = get(row, &cols, G_ID);
            let id = if clean(raw_id).is_empty() {
                None
            } else {
                match super::guid_cell(ctx, table, row, cols.get(G_ID).unwrap_or(0), "group id") {
                    Some(g) => Some(g),
                    None => return,
                }
            };
            let name = clean(get(row, &cols, G_NAME)).to_string();
            if name.is_empty() {
                ctx.cell(
                    table,
                    row,
                    cols.get(G_NAME).unwrap_or(0),
                    Problem::error(Code::MissingValue, "the group has no display name"),
                    "empty",
                );
                return;
            }
            if let Some(g) = id {
                if let Some(&first) = ctx.idx.group_by_id.get(&g) {
                    let at = ctx.names.locate(ctx.t.groups[first.ix()].origin);
                    ctx.cell(
                        table,
                        row,
                        cols.get(G_ID).unwrap_or(0),
                        Problem::error(
                            Code::DuplicateRecord,
                            format!("group {g} is listed twice (first at {at})"),
                        ),
                        "second time",
                    );
                    return;
                }
            }
            let raw_sec = get(row, &cols, G_SECURITY);
            let security_enabled = if clean(raw_sec).is_empty() {
                None
            } else {
                match cells::boolean(raw_sec) {
                    Some(b) => Some(b),
                    None => {
                        ctx.cell(
                            table,
                            row,
                            cols.get(G_SECURITY).unwrap_or(0),
                            Problem::error(
                                Code::BadValue,
                                format!("{} is not true or false", quote(raw_sec)),
                            ),
                            "not a boolean",
                        );
                        return;
                    }
                }
            };
            let state = clean(get(row, &cols, G_STATE));
            let gi = GroupIdx(ctx.t.groups.len() as u32);
            if let Some(g) = id {
                ctx.idx.group_by_id.insert(g, gi);
            }
            ctx.idx
                .group_by_name
                .entry(name_key(&name))
                .or_default()
                .push(gi);
            ctx.t.groups.push(Group {
                id,
                name,
                security_enabled,
                processing_state: (!state.is_empty()).then(|| state.to_string()),
                origin: row.origin,
            });
        },
    );
    for p in pending {
        ctx.problems.push(p);
    }
    ctx.t.templates = vec![Vec::new(); ctx.t.groups.len()];
    n
}

const T_GROUP_ID: usize = 0;
const T_GROUP_NAME: usize = 1;
const T_SKU_ID: usize = 2;
const T_PART: usize = 3;
const T_DISABLED: usize = 4;
const T_ENABLED: usize = 5;
const T_STATUS: usize = 6;

const TEMPLATE_COLS: &[Col] = &[
    Col {
        name: "GroupId",
        aliases: &["Group Id"],
    },
    Col {
        name: "GroupName",
        aliases: &["Group", "GroupDisplayName", "DisplayName"],
    },
    Col {
        name: "SkuId",
        aliases: &["Sku Id"],
    },
    Col {
        name: "SkuPartNumber",
        aliases: &["Sku", "SkuName", "Sku Name"],
    },
    Col {
        name: "DisabledPlans",
        aliases: &["Disabled Plans"],
    },
    Col {
        name: "EnabledPlans",
        aliases: &["Enabled Plans"],
    },
    Col {
        name: "Status",
        aliases: &["TemplateStatus"],
    },
];

pub(crate) fn templates(ctx: &mut Ctx, table: &Table) -> u64 {
    let Some(cols) = header(
        ctx,
        table,
        TEMPLATE_COLS,
        &[&[T_GROUP_ID, T_GROUP_NAME], &[T_SKU_ID, T_PART]],
    ) else {
        return 0;
    };
    let mut pending = Vec::new();
    let n = table.for_each_row(|p| pending.push(p), |row| {
        let raw_status = get(row, &cols, T_STATUS);
        let status = match name_key(raw_status).as_str() {
            "" | "proposed" | "new" => TemplateStatus::Proposed,
            "existing" | "current" => TemplateStatus::Existing,
            _ => {
                ctx.cell(table, row, cols.get(T_STATUS).unwrap_or(0), Problem::error(Code::BadValue, format!("status {} is neither existing nor proposed", quote(raw_status))), "unknown status");
                return;
            }
        };
        if status == TemplateStatus::Proposed && clean(get(row, &cols, T_GROUP_ID)).is_empty() {
            if let Some(c) = cols.get(T_GROUP_NAME) {
                new_group(ctx, table, row, c);
            }
        }
        let Some(group) = resolve_group(ctx, table, row, &cols, T_GROUP_ID, T_GROUP_NAME) else { return };
        let Some(sku) = resolve_sku(ctx, table, row, &cols, T_SKU_ID, T_PART) else { return };
        let dis = cols.get(T_DISABLED).filter(|&c| !clean(row.get(c)).is_empty());
        let en = cols.get(T_ENABLED).filter(|&c| !clean(row.get(c)).is_empty());
        let disabled = match (dis, en) {
            (Some(_), Some(c)) => {
                ctx.cell(table, row, c, Problem::error(Code::Inconsistent, "the row gives both DisabledPlans and EnabledPlans").help("give one of them: DisabledPlans is what Graph stores"), "second list");
                return;
            }
            (Some(c), None) => match resolve_plans(ctx, table, row, c, Some(sku)) {
                Some(s) => s,
                None => return,
            },
            (None, Some(c)) if clean(row.get(c)) == "*" => Default::default(),
            (None, Some(c)) => match resolve_plans(ctx, table, row, c, Some(sku)) {
                Some(s) => ctx.t.skus[sku.ix()].plans.minus(&s),
                None => return,
            },
            (None, None) => Default::default(),
        };
        if status == TemplateStatus::Existing && ctx.t.groups[group.ix()].id.is_none() {
            let name = ctx.t.groups[group.ix()].name.clone();
            ctx.cell(table, row, cols.get(T_STATUS).unwrap_or(0), Problem::error(Code::Inconsistent, format!("template of {} is `existing`, but the group has no id (it does not exist yet)", quote(&name))), "existing");
            return;
        }
        if let Some(prev) = ctx.t.templates[group.ix()].iter().find(|l| l.sku == sku) {
            let at = ctx.names.locate(prev.origin);
            // groups.json gives each group's licenses as they are; a templates line may repeat
            // one, but not say otherwise.
            if prev.origin.json_parts().is_some() && !table.is_json() {
                if prev.disabled == disabled {
                    return;
                }
                let name = |set: &crate::model::PlanSet| -> String {
                    let names = ctx.t.plan_names(set);
                    if names.is_empty() {
                        "none".into()
                    } else {
                        names.join(", ")
                    }
                };
                let msg = format!(
                    "group {} assigns {} with disabled plans {} at {at}, but this line disables {}",
                    quote(&ctx.t.groups[group.ix()].name),
                    ctx.t.skus[sku.ix()].part_number,
                    name(&prev.disabled),
                    name(&disabled)
                );
                let col = cols.get(T_DISABLED).or(cols.get(T_ENABLED)).or(cols.get(T_PART)).unwrap_or(0);
                ctx.cell(table, row, col, Problem::error(Code::Inconsistent, msg).help("an existing group license is read from groups.json; remove the line, or make it agree"), "contradicts groups.json");
                return;
            }
            let msg = format!("group {} already assigns {} (at {at})", quote(&ctx.t.groups[group.ix()].name), ctx.t.skus[sku.ix()].part_number);
            ctx.cell(table, row, cols.get(T_PART).or(cols.get(T_SKU_ID)).unwrap_or(0), Problem::error(Code::DuplicateRecord, msg).help("a group assigns each SKU once; merge the two rows"), "second time");
            return;
        }
        ctx.t.templates[group.ix()].push(TemplateLine { sku, disabled, status, origin: row.origin });
    });
    for p in pending {
        ctx.problems.push(p);
    }
    n
}

/// A proposed template line names a group that exists nowhere yet: it is a new group the
/// prepare stage creates, named only where it is used (SPEC §2). A name close to an existing
/// group's is more likely a typo than a new group, so it is warned about.
fn new_group(ctx: &mut Ctx, table: &Table, row: &crate::ingest::table::Row, col: usize) {
    let name = clean(row.get(col));
    let key = name_key(name);
    if key.is_empty() || ctx.idx.group_by_name.contains_key(&key) {
        return;
    }
    if let Some(near) = nearest_group(ctx, &key) {
        let p = Problem::warning(
            Code::UnknownGroup,
            format!(
                "group {} is in no groups file, so the plan creates it as a new group; did you mean {}?",
                quote(name),
                quote(&near)
            ),
        )
        .help("a proposed template line may name a group that does not exist yet; correct the name if it should be the existing group");
        ctx.cell(table, row, col, p, "new group");
    }
    let gi = GroupIdx(ctx.t.groups.len() as u32);
    ctx.idx.group_by_name.entry(key).or_default().push(gi);
    ctx.t.groups.push(Group {
        id: None,
        name: name.to_string(),
        security_enabled: None,
        processing_state: None,
        origin: row.origin,
    });
    ctx.t.templates.push(Vec::new());
}

/// The existing group whose name is within a typo of `key` (a lower-cased name): the same but
/// for spaces, `-` and `_`, or a small edit distance away. Only groups with an id count: a
/// proposed group is no existing name to mistype.
fn nearest_group(ctx: &Ctx, key: &str) -> Option<String> {
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_whitespace() && *c != '-' && *c != '_')
            .collect()
    };
    let want = squash(key);
    let allowed = if want.chars().count() < 6 { 1 } else { 2 };
    ctx.t
        .groups
        .iter()
        .filter(|g| g.id.is_some())
        .map(|g| (distance(&squash(&name_key(&g.name)), &want), &g.name))
        .filter(|(d, _)| *d <= allowed)
        .min_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)))
        .map(|(_, n)| n.clone())
}

const M_GROUP_ID: usize = 0;
const M_GROUP_NAME: usize = 1;
const M_ID: usize = 2;
const M_UPN: usize = 3;
const M_TYPE: usize = 4;

const MEMBER_COLS: &[Col] = &[
    Col {
        name: "GroupId",
        aliases: &["Group Id"],
    },
    Col {
        name: "GroupName",
        aliases: &["Group", "GroupDisplayName"],
    },
    Col {
        name: "MemberId",
        aliases: &[
            "Member Id",
            "Object ID",
            "ObjectId",
            "Id",
            "UserId",
            "memberObjectIdOrUpn",
        ],
    },
    Col {
        name: "UserPrincipalName",
        aliases: &[
            "User principal name",
            "UPN",
            "MemberUserPrincipalName",
            "MemberUPN",
        ],
    },
    Col {
        name: "MemberType",
        aliases: &["Member type", "Type", "@odata.type", "ObjectType"],
    },
];

/// What a membership row's member type column says it is.
#[derive(PartialEq)]
enum Member {
    Unsaid,
    User,
    Group,
    Other,
}

pub(crate) fn members(ctx: &mut Ctx, table: &Table) -> u64 {
    let Some(cols) = header(
        ctx,
        table,
        MEMBER_COLS,
        &[&[M_GROUP_ID, M_GROUP_NAME], &[M_ID, M_UPN]],
    ) else {
        return 0;
    };
    ctx.memberships.reserve(table.record_estimate());
    let mut pending = Vec::new();
    let mut other_kinds = 0usize;
    let n = table.for_each_row(|p| pending.push(p), |row| {
        let Some(group) = resolve_group(ctx, table, row, &cols, M_GROUP_ID, M_GROUP_NAME) else { return };
        let kind = cells::keyword(get(row, &cols, M_TYPE), |k| match k.strip_prefix("#microsoft.graph.").unwrap_or(k) {
            "" => Member::Unsaid,
            "group" => Member::Group,
            "user" | "member" => Member::User,
            _ => Member::Other,
        });
        let id = cells::guid(get(row, &cols, M_ID));
        let is_group = kind == Member::Group || (kind == Member::Unsaid && id.is_some_and(|g| ctx.idx.group_by_id.contains_key(&g) && !ctx.idx.user_by_id.contains_key(&g)));
        if is_group {
            match id.and_then(|g| ctx.idx.group_by_id.get(&g).copied()) {
                Some(child) => ctx.t.nested.push(NestedGroup { parent: group, child, origin: row.origin }),
                None => {
                    let raw = get(row, &cols, M_ID).to_string();
                    ctx.cell(table, row, cols.get(M_ID).unwrap_or(0), Problem::warning(Code::NestedGroup, format!("nested group {} is not in the groups file; nested groups pass no licenses on, so it is ignored", quote(&raw))), "nested group");
                }
            }
            return;
        }
        if kind == Member::Other {
            other_kinds += 1;
            return;
        }
        let Some(user) = resolve_user(ctx, table, row, &cols, M_ID, M_UPN) else { return };
        ctx.memberships.push((user, group));
    });
    for p in pending {
        ctx.problems.push(p);
    }
    if other_kinds > 0 {
        ctx.problems.push(Problem::warning(Code::BadValue, format!("{other_kinds} members are neither users nor groups (devices, contacts …) and are ignored: only users are licensed")).at(table.name.clone()));
    }
    n
}
