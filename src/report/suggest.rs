//! `licshift suggest` output: templates.csv and members.csv in SPEC §2 form, ready to replace
//! the snapshot's (they hold its existing lines and memberships too), and suggest.md.

use super::markdown::cell;
use super::SafeCsv;
use crate::engine::suggest::{Figures, Suggestion, Target};
use crate::engine::Outcome;
use crate::model::{GroupIdx, PlanSet, TemplateStatus, Tenant, UserIdx};
use std::fmt::Write;

fn plan_names(t: &Tenant, set: &PlanSet) -> String {
    t.plan_names(set).join(";")
}

/// Every template line of the tenant with the suggestions in it, existing and proposed.
pub fn templates_csv(t: &Tenant) -> std::io::Result<Vec<u8>> {
    let mut w = SafeCsv::new(Vec::new());
    w.row([
        "GroupId",
        "GroupName",
        "SkuPartNumber",
        "DisabledPlans",
        "Status",
    ])?;
    for (gi, lines) in t.templates.iter().enumerate() {
        let g = &t.groups[gi];
        for l in lines {
            w.row([
                g.id.map_or(String::new(), |i| i.to_string()),
                g.name.clone(),
                t.skus[l.sku.ix()].part_number.clone(),
                plan_names(t, &l.disabled),
                match l.status {
                    TemplateStatus::Existing => "existing".to_string(),
                    TemplateStatus::Proposed => "proposed".to_string(),
                },
            ])?;
        }
    }
    w.finish()
}

/// Every membership of the tenant with the suggestions in it: users by principal name, groups
/// by id where they have one; nested groups kept as they were.
pub fn members_csv(t: &Tenant) -> std::io::Result<Vec<u8>> {
    let mut w = SafeCsv::new(Vec::new());
    w.row([
        "GroupId",
        "GroupName",
        "MemberId",
        "UserPrincipalName",
        "MemberType",
    ])?;
    let group = |g: GroupIdx| {
        let g = &t.groups[g.ix()];
        (
            g.id.map_or(String::new(), |i| i.to_string()),
            g.name.clone(),
        )
    };
    for u in t.user_order() {
        for &g in t.user_groups(u) {
            let (id, name) = group(g);
            w.row([
                id,
                name,
                t.users[u.ix()].id.to_string(),
                t.users[u.ix()].upn.clone(),
                "User".into(),
            ])?;
        }
    }
    for n in &t.nested {
        let (id, name) = group(n.parent);
        let child = t.groups[n.child.ix()]
            .id
            .map_or(String::new(), |i| i.to_string());
        w.row([id, name, child, String::new(), "Group".into()])?;
    }
    w.finish()
}

fn users(t: &Tenant, us: &[UserIdx]) -> String {
    let mut names: Vec<&str> = us.iter().map(|u| t.users[u.ix()].upn.as_str()).collect();
    names.sort_unstable();
    let shown: Vec<String> = names.iter().take(5).map(|n| cell(n)).collect();
    if names.len() > 5 {
        format!("{} and {} more", shown.join(", "), names.len() - 5)
    } else {
        shown.join(", ")
    }
}

/// suggest.md: per suggested line the engine's verdicts, then the total.
pub fn markdown(
    t: &Tenant,
    o: &Outcome,
    suggestions: &[Suggestion],
    figures: &[Figures],
    settings: &str,
) -> String {
    let (removable, total) = o.removable_count();
    let mut s = String::from("# licshift suggest\n\n");
    let _ = writeln!(s, "Settings: {settings}.\n");
    let _ = writeln!(
        s,
        "**With these templates: {removable} of {total} direct assignments removable** — the engine's verdicts on the snapshot with every suggestion below in it, not estimates.\n"
    );
    s += "Copy `templates.csv` and `members.csv` over the snapshot's (they hold its existing template lines and memberships too), review them, then `licshift plan`.\n\n";
    if suggestions.is_empty() {
        s += "No cohort holds a SKU directly in enough users to suggest a template.\n";
        return s;
    }
    s += "| cohort | group | template | users | removable | gain plans | new seats | blocked |\n|---|---|---|---:|---:|---:|---:|---|\n";
    for (sg, f) in suggestions.iter().zip(figures) {
        let group = match &sg.target {
            Target::Existing(g) => format!("{} (existing, reused)", cell(&t.groups[g.ix()].name)),
            Target::New(n) => format!("{} (new)", cell(n)),
        };
        let template: Vec<String> = sg
            .lines
            .iter()
            .map(|(sku, off)| {
                let part = &t.skus[sku.ix()].part_number;
                let on = t.skus[sku.ix()].plans.minus(off);
                if off.is_empty() {
                    part.clone()
                } else if on.len() < off.len() {
                    format!("{part} with only {}", plan_names(t, &on).replace(';', ", "))
                } else {
                    format!("{part} without {}", plan_names(t, off).replace(';', ", "))
                }
            })
            .collect();
        let blocked: Vec<String> = f
            .blocked
            .iter()
            .map(|(code, us)| format!("{code} {}", us.len()))
            .collect();
        let _ = writeln!(
            s,
            "| {} | {group} | {} | {} | {} | {} | {} | {} |",
            cell(&sg.cohort),
            cell(&template.join(" + ")),
            f.members,
            f.removable,
            f.gaining_users,
            f.new_seats,
            if blocked.is_empty() {
                "—".to_string()
            } else {
                blocked.join(", ")
            }
        );
    }
    s += "\n## Each line\n";
    for (sg, f) in suggestions.iter().zip(figures) {
        let name = match &sg.target {
            Target::Existing(g) => t.groups[g.ix()].name.clone(),
            Target::New(n) => n.clone(),
        };
        let _ = writeln!(s, "\n### {} — {}\n", cell(&name), t.sku_label(sg.sku));
        let _ = writeln!(
            s,
            "- {} users of cohort {} hold {} directly ({} assignments); the line covers {} of them as mined.",
            sg.holders.len(),
            cell(&sg.cohort),
            t.sku_label(sg.sku),
            sg.direct,
            sg.covered
        );
        if !sg.pulled_in.is_empty() {
            let names: Vec<&str> = sg
                .pulled_in
                .iter()
                .map(|p| t.plans[p.ix()].name.as_str())
                .collect();
            let _ = writeln!(
                s,
                "- Prerequisites enabled in the same template: {}.",
                names.join(", ")
            );
        }
        let _ = writeln!(
            s,
            "- Removable with it: {} direct assignments.",
            f.removable
        );
        if !f.gained.is_empty() {
            let plans: Vec<String> = f
                .gained
                .iter()
                .map(|(p, n)| format!("{} ({n})", t.plans[p.ix()].name))
                .collect();
            let _ = writeln!(
                s,
                "- {} users would gain plans: {}.",
                f.gaining_users,
                plans.join(", ")
            );
        }
        if f.new_seats > 0 {
            let _ = writeln!(s, "- New seats: {} users would need one.", f.new_seats);
        }
        for (code, us) in &f.blocked {
            let _ = writeln!(s, "- Blocked, {code}: {} ({}).", users(t, us), us.len());
        }
    }
    s
}
