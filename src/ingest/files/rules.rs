//! The optional `rules` file (relations that add to or switch off the built-in defaults) and
//! the optional `organization` file (the tenant's usage location).

use super::{get, header, Col};
use crate::diag::{quote, Code, Problem};
use crate::ingest::cells::{self, clean, name_key};
use crate::ingest::table::Table;
use crate::ingest::Ctx;
use crate::model::{Country, Guid, RuleKind, RuleSource, RuleSpec};

const RULE: usize = 0;
const PLAN: usize = 1;
const OTHER: usize = 2;

const COLS: &[Col] = &[
    Col {
        name: "Rule",
        aliases: &["Relation", "Kind"],
    },
    Col {
        name: "Plan",
        aliases: &["ServicePlan", "ServicePlanId", "ServicePlanName"],
    },
    Col {
        name: "Other",
        aliases: &["Others", "Value", "Target"],
    },
];

pub(crate) fn rules(ctx: &mut Ctx, table: &Table) -> u64 {
    let Some(cols) = header(ctx, table, COLS, &[&[RULE], &[PLAN], &[OTHER]]) else {
        return 0;
    };
    let mut pending = Vec::new();
    let n = table.for_each_row(|p| pending.push(p), |row| {
        let raw_rule = clean(get(row, &cols, RULE));
        let (negated, word) = match raw_rule.strip_prefix('!') {
            Some(w) => (true, w),
            None => (false, raw_rule),
        };
        let kind = match name_key(word).as_str() {
            "excludes" => RuleKind::Excludes,
            "requires" => RuleKind::Requires,
            "unavailable-in" | "unavailablein" => RuleKind::UnavailableIn,
            _ => {
                ctx.cell(table, row, cols.get(RULE).unwrap_or(0), Problem::error(Code::BadValue, format!("rule {} is not excludes, requires or unavailable-in", quote(raw_rule))).help("prefix a rule with ! to switch a built-in default off"), "unknown rule");
                return;
            }
        };
        let c_plan = cols.get(PLAN).unwrap_or(0);
        let Some((plan, plan_name)) = plan_ref(ctx, get(row, &cols, PLAN)) else {
            let raw = get(row, &cols, PLAN).to_string();
            ctx.cell(table, row, c_plan, Problem::error(Code::UnknownPlan, format!("plan {} is not known", quote(&raw))).help("name the plan by servicePlanId, or by a name from the skus file or the catalog"), "unknown plan");
            return;
        };
        let c_other = cols.get(OTHER).unwrap_or(0);
        let items = match cells::list(get(row, &cols, OTHER)) {
            Ok(v) if !v.is_empty() => v,
            Ok(_) => {
                ctx.cell(table, row, c_other, Problem::error(Code::MissingValue, "the rule names nothing in Other"), "empty");
                return;
            }
            Err(e) => {
                ctx.cell(table, row, c_other, Problem::error(Code::BadValue, e), "not a list");
                return;
            }
        };
        let mut spec = RuleSpec { kind, plan, plan_name, others: Vec::new(), countries: Vec::new(), negated, source: RuleSource::File(row.origin) };
        for item in items {
            if kind == RuleKind::UnavailableIn {
                match Country::parse(&item) {
                    Some(c) => spec.countries.push(c),
                    None => {
                        ctx.cell(table, row, c_other, Problem::error(Code::BadValue, format!("{} is not a two-letter country code", quote(&item))), "not a country");
                        return;
                    }
                }
            } else {
                match plan_ref(ctx, &item) {
                    Some(o) => spec.others.push(o),
                    None => {
                        ctx.cell(table, row, c_other, Problem::error(Code::UnknownPlan, format!("plan {} is not known", quote(&item))), "unknown plan");
                        return;
                    }
                }
            }
        }
        ctx.file_rules.push(spec);
    });
    for p in pending {
        ctx.problems.push(p);
    }
    n
}

/// A plan named in a rule: by id (it may be a plan the tenant lacks), by the tenant's plan
/// names, by the catalog, or by the built-in rules' own names.
fn plan_ref(ctx: &Ctx, raw: &str) -> Option<(Guid, String)> {
    if let Some(g) = cells::guid(raw) {
        let name = ctx
            .idx
            .plan_by_id
            .get(&g)
            .map(|p| ctx.t.plans[p.ix()].name.clone())
            .unwrap_or_else(|| g.to_string());
        return Some((g, name));
    }
    let key = name_key(raw);
    if key.is_empty() {
        return None;
    }
    if let Some(&p) = ctx.idx.plan_by_name.get(&key) {
        let plan = &ctx.t.plans[p.ix()];
        return Some((plan.id, plan.name.clone()));
    }
    if let Some((g, n)) = ctx.idx.catalog_plan_by_name.get(&key) {
        return Some((*g, n.clone()));
    }
    crate::model::known_plan_by_name(&key)
}

const O_COUNTRY: usize = 1;

const ORG_COLS: &[Col] = &[
    Col {
        name: "Id",
        aliases: &["TenantId"],
    },
    Col {
        name: "CountryLetterCode",
        aliases: &["Country", "UsageLocation"],
    },
];

pub(crate) fn organization(ctx: &mut Ctx, table: &Table) -> u64 {
    let Some(cols) = header(ctx, table, ORG_COLS, &[&[O_COUNTRY]]) else {
        return 0;
    };
    let mut pending = Vec::new();
    let n = table.for_each_row(
        |p| pending.push(p),
        |row| {
            let raw = get(row, &cols, O_COUNTRY);
            if ctx.t.tenant_location.is_some() || clean(raw).is_empty() {
                return;
            }
            match cells::country(raw) {
                Some(c) => ctx.t.tenant_location = Some(c),
                None => ctx.cell(
                    table,
                    row,
                    cols.get(O_COUNTRY).unwrap_or(0),
                    Problem::error(
                        Code::BadValue,
                        format!("{} is not a two-letter country code", quote(raw)),
                    ),
                    "not a country",
                ),
            }
        },
    );
    for p in pending {
        ctx.problems.push(p);
    }
    n
}
