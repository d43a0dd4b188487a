//! `licshift rules`: the relations in force and where each comes from.

use super::table;
use crate::cli::Format;
use crate::model::{builtin_rules, RuleSource, RuleSpec, Tenant};

fn row(r: &RuleSpec, t: Option<&Tenant>) -> Vec<String> {
    let other = if r.countries.is_empty() {
        r.others
            .iter()
            .map(|o| o.1.clone())
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        r.countries
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let source = match &r.source {
        RuleSource::Builtin(s) => format!("built-in: {s}"),
        RuleSource::File(o) => format!("rules file row {}", o.row),
    };
    let in_tenant = t.map(|t| {
        if t.plans.iter().any(|p| p.id == r.plan) {
            "yes"
        } else {
            "no"
        }
        .to_string()
    });
    let mut v = vec![
        r.kind.as_str().to_string(),
        r.plan_name.clone(),
        other,
        source,
    ];
    v.extend(in_tenant);
    v
}

pub fn render(t: Option<&Tenant>, format: Format) -> String {
    let (specs, off) = match t {
        Some(t) => (t.rules.specs.clone(), t.rules.switched_off.clone()),
        None => (builtin_rules(), Vec::new()),
    };
    if format == Format::Json {
        let v: Vec<serde_json::Value> = specs
            .iter()
            .map(|r| {
                let c = row(r, None);
                serde_json::json!({"rule": c[0], "plan": r.plan.to_string(), "planName": c[1], "other": c[2], "source": c[3]})
            })
            .collect();
        return serde_json::to_string_pretty(&v).unwrap_or_default() + "\n";
    }
    let mut header = vec!["rule", "plan", "other (any of)", "source"];
    if t.is_some() {
        header.push("plan in tenant");
    }
    let mut out = table(&header, specs.iter().map(|r| row(r, t)).collect());
    out.push('\n');
    if !off.is_empty() {
        out += "\nSwitched off by the rules file (as they were before):\n";
        out += &table(&header, off.iter().map(|r| row(r, t)).collect());
        out.push('\n');
    }
    out += "\nExchange Online Plan 1 and Plan 2 stack: Microsoft lifted that exclusion. A snapshot's `rules` file adds relations, or switches one off with a leading `!` (e.g. `!excludes`).\n";
    out
}
