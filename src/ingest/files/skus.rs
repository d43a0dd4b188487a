//! `skus` (Get-MgSubscribedSku flattened: one row per SKU and service plan) and Microsoft's
//! product/service-plan `catalog`.

use super::{get, header, Col};
use crate::diag::{quote, Code, Problem};
use crate::ingest::cells::{self, clean, name_key};
use crate::ingest::table::Table;
use crate::ingest::Ctx;
use crate::model::{PlanIdx, PlanSet, Seats, ServicePlan, Sku, SkuIdx};

const SKU_ID: usize = 0;
const PART: usize = 1;
const PLAN_ID: usize = 2;
const PLAN_NAME: usize = 3;
const APPLIES: usize = 4;
const ENABLED: usize = 5;
const WARNING: usize = 6;
const SUSPENDED: usize = 7;
const CONSUMED: usize = 8;

const SKU_COLS: &[Col] = &[
    Col {
        name: "SkuId",
        aliases: &["Sku Id"],
    },
    Col {
        name: "SkuPartNumber",
        aliases: &["Sku Part Number", "PartNumber"],
    },
    Col {
        name: "ServicePlanId",
        aliases: &["ServicePlans.ServicePlanId", "Service Plan Id"],
    },
    Col {
        name: "ServicePlanName",
        aliases: &["ServicePlans.ServicePlanName", "Service Plan Name"],
    },
    Col {
        name: "AppliesTo",
        aliases: &["ServicePlans.AppliesTo", "ServicePlanAppliesTo"],
    },
    Col {
        name: "Enabled",
        aliases: &[
            "PrepaidUnits.Enabled",
            "PrepaidUnitsEnabled",
            "ActiveUnits",
            "EnabledUnits",
        ],
    },
    Col {
        name: "Warning",
        aliases: &[
            "PrepaidUnits.Warning",
            "PrepaidUnitsWarning",
            "WarningUnits",
        ],
    },
    Col {
        name: "Suspended",
        aliases: &[
            "PrepaidUnits.Suspended",
            "PrepaidUnitsSuspended",
            "SuspendedUnits",
        ],
    },
    Col {
        name: "ConsumedUnits",
        aliases: &["Consumed", "Consumed Units"],
    },
];

pub(crate) fn skus(ctx: &mut Ctx, table: &Table) -> u64 {
    let Some(cols) = header(
        ctx,
        table,
        SKU_COLS,
        &[&[SKU_ID], &[PART], &[PLAN_ID], &[PLAN_NAME]],
    ) else {
        return 0;
    };
    let has_seats = cols.get(ENABLED).is_some() && cols.get(CONSUMED).is_some();
    let mut pending = Vec::new();
    let n = table.for_each_row(|p| pending.push(p), |row| {
        let Some(sku_id) = super::guid_cell(ctx, table, row, cols.get(SKU_ID).unwrap_or(0), "SKU id") else { return };
        let part = clean(get(row, &cols, PART)).to_string();
        let mut seats = None;
        if has_seats {
            let mut vals = [0i64; 4];
            for (k, c) in [ENABLED, WARNING, SUSPENDED, CONSUMED].into_iter().enumerate() {
                let raw = get(row, &cols, c);
                match cells::count(raw) {
                    Some(v) if v >= 0 => vals[k] = v,
                    _ => {
                        ctx.cell(table, row, cols.get(c).unwrap_or(0), Problem::error(Code::BadValue, format!("{} is not a seat count", quote(raw))), "not a whole number");
                        return;
                    }
                }
            }
            seats = Some(Seats { enabled: vals[0], warning: vals[1], suspended: vals[2], consumed: vals[3] });
        }
        let sku = match ctx.idx.sku_by_id.get(&sku_id) {
            Some(&s) => {
                let existing = &ctx.t.skus[s.ix()];
                if name_key(&existing.part_number) != name_key(&part) {
                    let msg = format!("SKU {sku_id} is {} here but {} on an earlier row", quote(&part), quote(&existing.part_number));
                    ctx.cell(table, row, cols.get(PART).unwrap_or(0), Problem::error(Code::Inconsistent, msg), "differs");
                    return;
                }
                if seats.is_some() && existing.seats != seats {
                    let msg = format!("seat counts of {part} differ from an earlier row; the first row's are used");
                    ctx.cell(table, row, cols.get(ENABLED).unwrap_or(0), Problem::warning(Code::Inconsistent, msg), "differs");
                }
                s
            }
            None => {
                if part.is_empty() {
                    ctx.cell(table, row, cols.get(PART).unwrap_or(0), Problem::error(Code::MissingValue, "the SKU has no part number"), "empty");
                    return;
                }
                if let Some(&other) = ctx.idx.sku_by_part.get(&name_key(&part)) {
                    let msg = format!("part number {} names two SKUs: {} and {sku_id}", quote(&part), ctx.t.skus[other.ix()].id);
                    ctx.cell(table, row, cols.get(PART).unwrap_or(0), Problem::warning(Code::Inconsistent, msg).help("refer to these SKUs by SkuId"), "second SKU");
                }
                let s = SkuIdx(ctx.t.skus.len() as u32);
                let display_name = ctx.idx.catalog_sku_name.get(&sku_id).cloned();
                ctx.t.skus.push(Sku { id: sku_id, part_number: part.clone(), display_name, plans: PlanSet::new(), company_plans: PlanSet::new(), seats, origin: row.origin });
                ctx.idx.sku_by_id.insert(sku_id, s);
                ctx.idx.sku_by_part.entry(name_key(&part)).or_insert(s);
                s
            }
        };
        let raw_plan = get(row, &cols, PLAN_ID);
        if clean(raw_plan).is_empty() {
            return;
        }
        let Some(plan_id) = super::guid_cell(ctx, table, row, cols.get(PLAN_ID).unwrap_or(0), "service plan id") else { return };
        let plan_name = clean(get(row, &cols, PLAN_NAME)).to_string();
        let p = intern_plan(ctx, plan_id, &plan_name);
        let applies = name_key(get(row, &cols, APPLIES));
        let entry = &mut ctx.t.skus[sku.ix()];
        match applies.as_str() {
            "" | "user" => entry.plans.insert(p),
            "company" => entry.company_plans.insert(p),
            _ => {
                let raw = get(row, &cols, APPLIES).to_string();
                ctx.cell(table, row, cols.get(APPLIES).unwrap_or(0), Problem::error(Code::BadValue, format!("AppliesTo is {}; expected User or Company", quote(&raw))), "unknown value");
            }
        }
    });
    for p in pending {
        ctx.problems.push(p);
    }
    if !has_seats && !ctx.t.skus.is_empty() {
        ctx.problems.push(Problem::warning(Code::MissingColumn, format!("{} has no Enabled/ConsumedUnits columns: seats are not checked", table.name)).at(table.name.clone()).help("export PrepaidUnits.Enabled and ConsumedUnits with the SKUs so licshift can predict CountViolation"));
    }
    n
}

fn intern_plan(ctx: &mut Ctx, id: crate::model::Guid, name: &str) -> PlanIdx {
    if let Some(&p) = ctx.idx.plan_by_id.get(&id) {
        return p;
    }
    let p = PlanIdx(ctx.t.plans.len() as u32);
    let friendly_name = ctx.idx.catalog_plan_friendly.get(&id).cloned();
    let name = if name.is_empty() {
        id.to_string()
    } else {
        name.to_string()
    };
    ctx.idx.plan_by_name.entry(name_key(&name)).or_insert(p);
    ctx.t.plans.push(ServicePlan {
        id,
        name,
        friendly_name,
    });
    ctx.idx.plan_by_id.insert(id, p);
    p
}

const C_PRODUCT: usize = 0;
const C_STRING_ID: usize = 1;
const C_GUID: usize = 2;
const C_PLAN_NAME: usize = 3;
const C_PLAN_ID: usize = 4;
const C_FRIENDLY: usize = 5;

const CATALOG_COLS: &[Col] = &[
    Col {
        name: "Product_Display_Name",
        aliases: &[],
    },
    Col {
        name: "String_Id",
        aliases: &[],
    },
    Col {
        name: "GUID",
        aliases: &[],
    },
    Col {
        name: "Service_Plan_Name",
        aliases: &[],
    },
    Col {
        name: "Service_Plan_Id",
        aliases: &[],
    },
    Col {
        name: "Service_Plans_Included_Friendly_Names",
        aliases: &[],
    },
];

/// Microsoft's catalog gives names only: product names for SKUs and friendly names for plans,
/// and lets plan lists name plans by friendly name. Its quirks (NBSP, TAB, trailing spaces in
/// ids) are absorbed by the identifier trimming every cell gets.
pub(crate) fn catalog(ctx: &mut Ctx, table: &Table) -> u64 {
    let Some(cols) = header(
        ctx,
        table,
        CATALOG_COLS,
        &[
            &[C_PRODUCT],
            &[C_STRING_ID],
            &[C_GUID],
            &[C_PLAN_NAME],
            &[C_PLAN_ID],
            &[C_FRIENDLY],
        ],
    ) else {
        return 0;
    };
    let mut pending = Vec::new();
    let mut bad = 0usize;
    let n = table.for_each_row(
        |p| pending.push(p),
        |row| {
            let (Some(sku), Some(plan)) = (
                cells::guid(get(row, &cols, C_GUID)),
                cells::guid(get(row, &cols, C_PLAN_ID)),
            ) else {
                bad += 1;
                return;
            };
            let product = clean(get(row, &cols, C_PRODUCT)).replace('\u{a0}', " ");
            let plan_name = clean(get(row, &cols, C_PLAN_NAME)).to_string();
            let friendly = clean(get(row, &cols, C_FRIENDLY)).replace('\u{a0}', " ");
            ctx.idx.catalog_sku_name.entry(sku).or_insert(product);
            ctx.idx
                .catalog_plan_friendly
                .entry(plan)
                .or_insert_with(|| friendly.clone());
            ctx.idx
                .catalog_plan_by_name
                .entry(name_key(&friendly))
                .or_insert((plan, plan_name.clone()));
            ctx.idx
                .catalog_plan_by_name
                .entry(name_key(&plan_name))
                .or_insert((plan, plan_name));
        },
    );
    for p in pending {
        ctx.problems.push(p);
    }
    if bad > 0 {
        ctx.problems.push(
            Problem::warning(
                Code::BadGuid,
                format!("{bad} catalog rows have no readable SKU or plan id and were skipped"),
            )
            .at(table.name.clone()),
        );
    }
    for s in ctx.t.skus.iter_mut() {
        if s.display_name.is_none() {
            s.display_name = ctx.idx.catalog_sku_name.get(&s.id).cloned();
        }
    }
    for p in ctx.t.plans.iter_mut() {
        if p.friendly_name.is_none() {
            p.friendly_name = ctx.idx.catalog_plan_friendly.get(&p.id).cloned();
        }
    }
    n
}
