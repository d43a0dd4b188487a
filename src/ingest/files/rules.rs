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
    // A rules file is shared knowledge, not an export of this tenant: plans it names that the
    // tenant lacks, or names nobody knows, make one warning for the whole file.
    let mut absent = Absent::default();
    let n = table.for_each_row(
        |p| pending.push(p),
        |row| {
            let raw_rule = clean(get(row, &cols, RULE));
            let (negated, word) = match raw_rule.strip_prefix('!') {
                Some(w) => (true, w),
                None => (false, raw_rule),
            };
            let kind = match name_key(word).as_str() {
                "excludes" => RuleKind::Excludes,
                "requires" => RuleKind::Requires,
                "unavailable-in" | "unavailablein" => RuleKind::UnavailableIn,
                "supersedes" => RuleKind::Supersedes,
                _ => {
                    ctx.cell(
                        table,
                        row,
                        cols.get(RULE).unwrap_or(0),
                        Problem::error(
                            Code::BadValue,
                            format!(
                                "rule {} is not excludes, requires, unavailable-in or supersedes",
                                quote(raw_rule)
                            ),
                        )
                        .help("prefix a rule with ! to switch a built-in default off"),
                        "unknown rule",
                    );
                    return;
                }
            };
            let c_plan = cols.get(PLAN).unwrap_or(0);
            let raw_plan = clean(get(row, &cols, PLAN));
            if raw_plan.is_empty() {
                ctx.cell(
                    table,
                    row,
                    c_plan,
                    Problem::error(Code::MissingValue, "the rule names no plan"),
                    "empty",
                );
                return;
            }
            let plan = plan_ref(ctx, raw_plan);
            let c_other = cols.get(OTHER).unwrap_or(0);
            let items = match cells::list(get(row, &cols, OTHER)) {
                Ok(v) if !v.is_empty() => v,
                Ok(_) => {
                    ctx.cell(
                        table,
                        row,
                        c_other,
                        Problem::error(Code::MissingValue, "the rule names nothing in Other"),
                        "empty",
                    );
                    return;
                }
                Err(e) => {
                    ctx.cell(
                        table,
                        row,
                        c_other,
                        Problem::error(Code::BadValue, e),
                        "not a list",
                    );
                    return;
                }
            };
            let mut countries = Vec::new();
            let mut others = Vec::new();
            for item in items {
                if kind == RuleKind::UnavailableIn {
                    match Country::parse(&item) {
                        Some(c) => countries.push(c),
                        None => {
                            ctx.cell(
                                table,
                                row,
                                c_other,
                                Problem::error(
                                    Code::BadValue,
                                    format!("{} is not a two-letter country code", quote(&item)),
                                ),
                                "not a country",
                            );
                            return;
                        }
                    }
                } else {
                    match plan_ref(ctx, &item) {
                        Some(o) => others.push(o),
                        None => absent.unknown_name(&item),
                    }
                }
            }
            let Some((plan, plan_name)) = plan else {
                absent.unknown_name(raw_plan);
                absent.inert += 1;
                return;
            };
            let in_tenant = |g: &Guid| ctx.idx.plan_by_id.contains_key(g);
            for (g, name) in
                std::iter::once((&plan, &plan_name)).chain(others.iter().map(|(g, n)| (g, n)))
            {
                if !in_tenant(g) {
                    absent.not_in_tenant(name);
                }
            }
            // What the rule still says once the plans the tenant lacks are set aside: a rule left
            // with nothing to relate is inert (SPEC §3.4), a `requires` keeps the alternatives
            // that exist.
            let live = in_tenant(&plan)
                && match kind {
                    RuleKind::UnavailableIn => true,
                    _ => others.iter().any(|(g, _)| in_tenant(g)),
                };
            if !live && !negated {
                absent.inert += 1;
            }
            if kind == RuleKind::Requires && live {
                others.retain(|(g, _)| in_tenant(g));
            }
            if others.is_empty() && kind != RuleKind::UnavailableIn {
                return;
            }
            ctx.file_rules.push(RuleSpec {
                kind,
                plan,
                plan_name,
                others,
                countries,
                negated,
                source: RuleSource::File(row.origin),
            });
        },
    );
    for p in pending {
        ctx.problems.push(p);
    }
    if let Some(p) = absent.warning(&table.name) {
        ctx.problems.push(p);
    }
    n
}

/// The plans a rules file names that this tenant has no use for.
#[derive(Default)]
struct Absent {
    /// Known plans (by id, the catalog or the built-in rules) that no SKU of the tenant has.
    missing: std::collections::BTreeSet<String>,
    /// Names that resolve to no plan at all.
    unknown: std::collections::BTreeSet<String>,
    /// Rules left with nothing to act on.
    inert: usize,
}

impl Absent {
    fn not_in_tenant(&mut self, name: &str) {
        self.missing.insert(name.to_string());
    }

    fn unknown_name(&mut self, raw: &str) {
        self.unknown.insert(clean(raw).to_string());
    }

    fn warning(&self, file: &str) -> Option<Problem> {
        if self.missing.is_empty() && self.unknown.is_empty() {
            return None;
        }
        let few = |set: &std::collections::BTreeSet<String>| {
            let mut s: Vec<String> = set.iter().take(5).map(|n| quote(n)).collect();
            if set.len() > 5 {
                s.push(format!("and {} more", set.len() - 5));
            }
            s.join(", ")
        };
        let mut parts = Vec::new();
        if !self.missing.is_empty() {
            parts.push(format!(
                "{} plans that no SKU of the tenant has ({})",
                self.missing.len(),
                few(&self.missing)
            ));
        }
        if !self.unknown.is_empty() {
            parts.push(format!(
                "{} names that match no plan of the tenant, the catalog or the built-in rules ({})",
                self.unknown.len(),
                few(&self.unknown)
            ));
        }
        let msg = format!(
            "the rules name {}; {} rules are inert for this tenant",
            parts.join(" and "),
            self.inert
        );
        Some(
            Problem::warning(Code::UnknownPlan, msg)
                .at(file.to_string())
                .help("a rules file is shared knowledge: rules about plans this tenant lacks are kept and change nothing; check the spelling of the unknown names"),
        )
    }
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

const O_ID: usize = 0;
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
            if ctx.t.organization_id.is_none() {
                ctx.t.organization_id = cells::guid(get(row, &cols, O_ID));
            }
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
