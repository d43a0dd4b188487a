//! The built-in service-plan relations: Microsoft's published "Service plans that cannot be
//! assigned at the same time" table (licensing-service-plan-reference.md, revision of July 2025)
//! and the prerequisites Microsoft documents. Microsoft publishes no machine-readable list and
//! says the table is not kept up to date, so a snapshot's `rules` file can add relations or
//! switch any of these off (`!excludes`). docs/semantics.md quotes each source.

use super::{Guid, RuleKind, RuleSource, RuleSpec};

const EXCLUSION_SOURCE: &str = "Microsoft Learn, licensing-service-plan-reference: \"Service plans that cannot be assigned at the same time\" (2025)";

/// (service, plans) — every pair inside one set excludes each other.
const EXCLUSIVE_SETS: &[(&str, &[(&str, &str)])] = &[
    (
        "Dynamics CRM",
        &[
            ("CRMPLAN1", "119cf168-b6cf-41fb-b82e-7fee7bae5814"),
            ("CRMPLAN2", "bf36ca64-95c6-4918-9275-eb9f4ce2c04f"),
            ("CRMSTANDARD", "f9646fb2-e3b2-4309-95de-dc4833737456"),
            (
                "DYN365_ENTERPRISE_P1_IW",
                "056a5f80-b4e0-4983-a8be-7ad254a113c9",
            ),
            (
                "DYN365_ENTERPRISE_SALES",
                "2da8e897-7791-486b-b08f-cc63c8129df7",
            ),
            (
                "DYN365_ENTERPRISE_TEAM_MEMBERS",
                "6a54b05e-4fab-40e7-9828-428db3b336fa",
            ),
            (
                "EMPLOYEE_SELF_SERVICE",
                "ba5f0cfa-d54a-4ea0-8cf4-a7e1dc4423d8",
            ),
        ],
    ),
    (
        "Exchange Online",
        &[
            (
                "EXCHANGE_B_STANDARD",
                "90927877-dcff-4af6-b346-2332c0b15bb7",
            ),
            ("EXCHANGE_S_ARCHIVE", "da040e0a-b393-4bea-bb76-928b3fa1cf5a"),
            (
                "EXCHANGE_S_DESKLESS",
                "4a82b400-a79f-41a4-b4e2-e94f5787b113",
            ),
            (
                "EXCHANGE_S_ESSENTIALS",
                "1126bef5-da20-4f07-b45e-ad25d2581aa8",
            ),
            (
                "EXCHANGE_S_STANDARD",
                "9aaf7827-d63c-4b61-89c3-182f06f82e5c",
            ),
            (
                "EXCHANGE_S_STANDARD_MIDMARKET",
                "fc52cc4b-ed7d-472d-bbe7-b081c23ecc56",
            ),
        ],
    ),
    (
        "Microsoft 365 (Rights Management)",
        &[
            ("RMS_S_ENTERPRISE", "bea4c11e-220a-4e6d-8eb8-8ea15d019f90"),
            (
                "RMS_S_ENTERPRISE_GOV",
                "6a76346d-5d6e-4051-9fe3-ed3f312b5597",
            ),
        ],
    ),
    (
        "Intune",
        &[
            ("INTUNE_A", "c1ec4a95-1f05-45b3-a911-aa3fa01094f5"),
            ("INTUNE_A_VL", "3e170737-c728-4eae-bbb9-3f3360f7184c"),
            ("INTUNE_B", "2dc63b8a-df3d-448f-b683-8655877c9360"),
        ],
    ),
    (
        "SharePoint Online",
        &[
            ("ONEDRIVEENTERPRISE", "afcafa6a-d966-4462-918c-ec0b4e0fe642"),
            (
                "SHAREPOINT_S_DEVELOPER",
                "a361d6e2-509e-4e25-a8ad-950060064ef4",
            ),
            ("SHAREPOINTDESKLESS", "902b47e5-dcb2-4fdc-858b-c63a90a2bdb9"),
            (
                "SHAREPOINTENTERPRISE",
                "5dbe027f-2339-4123-9542-606e4d348a72",
            ),
            (
                "SHAREPOINTENTERPRISE_EDU",
                "63038b2c-28d0-45f6-bc36-33062963b498",
            ),
            (
                "SHAREPOINTENTERPRISE_MIDMARKET",
                "6b5b6a67-fc72-4a1f-a2b5-beecf05de761",
            ),
            ("SHAREPOINTLITE", "a1f3d0a8-84c0-4ae0-bae4-685917b8ab48"),
            ("SHAREPOINTSTANDARD", "c7699d2e-19aa-44de-8edf-1736da088ca1"),
            (
                "SHAREPOINTSTANDARD_EDU",
                "0a4983bb-d3e5-4a09-95d8-b2d0127b3df5",
            ),
            (
                "SHAREPOINTSTANDARD_YAMMERSHADOW",
                "4c9efd0c-8de7-4c71-8295-9f5fdb0dd048",
            ),
        ],
    ),
    (
        "Skype for Business (set 1)",
        &[
            ("MCOIMP", "afc06cb0-b4f4-4473-8286-d644f70d8faf"),
            (
                "MCOSTANDARD_MIDMARKET",
                "b2669e95-76ef-4e7e-a367-002f60a39f3e",
            ),
            ("MCOSTANDARD", "0feaeb32-d00e-4d66-bd5a-43b5b83db82c"),
            ("MCOLITE", "70710b6b-3ab4-4a38-9f6d-9f169461650a"),
        ],
    ),
    (
        "Skype for Business (set 2)",
        &[
            ("MCOPSTN1", "4ed3ff63-69d7-4fb7-b984-5aec7f605ca8"),
            ("MCOPSTN2", "5a10155d-f5c1-411a-a8ec-e99aae125390"),
            ("MCOPSTN5", "54a152dc-90de-4996-93d2-bc47e670fc06"),
        ],
    ),
    (
        "Yammer",
        &[
            ("YAMMER_ENTERPRISE", "7547a3fe-08ee-4ccb-b430-5077c5041653"),
            ("YAMMER_EDU", "2078e8df-cff6-4290-98cb-5408261a760a"),
            ("YAMMER_MIDSIZE", "41bf139a-4e60-409f-9346-a1361efc6dfb"),
        ],
    ),
];

/// (plan, one-of prerequisites, source).
const REQUIRES: &[((&str, &str), &[(&str, &str)], &str)] = &[
    (
        ("WORKPLACE_ANALYTICS", "f477b0f0-3bb1-4890-940c-40fcee6ce05f"),
        &[("EXCHANGE_S_STANDARD", "9aaf7827-d63c-4b61-89c3-182f06f82e5c"), ("EXCHANGE_S_ENTERPRISE", "efb87545-963c-4e0d-99df-69c6916d9eb0")],
        "Microsoft Learn, licensing-groups-resolve-problems: Workplace Analytics needs Exchange Online (Plan 1) or (Plan 2) in the same group",
    ),
    (
        ("MCOMEETADV", "3e26ee1f-8a5f-4d52-aee2-b81ce45c8f40"),
        &[("MCOSTANDARD", "0feaeb32-d00e-4d66-bd5a-43b5b83db82c")],
        "Microsoft Learn, licensing-groups-resolve-problems: Audio Conferencing is dependent on Skype for Business",
    ),
    (
        ("SHAREPOINTWAC", "e95bec33-7c88-4a70-8e19-b10bd9d0c014"),
        &[("SHAREPOINTSTANDARD", "c7699d2e-19aa-44de-8edf-1736da088ca1"), ("SHAREPOINTENTERPRISE", "5dbe027f-2339-4123-9542-606e4d348a72"), ("SHAREPOINTDESKLESS", "902b47e5-dcb2-4fdc-858b-c63a90a2bdb9")],
        "Microsoft portal error quoted in OfficeDocs-Enterprise#627: Office for the web needs SharePoint Online (Plan 1), (Plan 2) or Kiosk",
    ),
    (
        ("SHAREPOINT_PROJECT", "fe71d6c3-a2ea-4499-9778-da042bf08063"),
        &[("SHAREPOINTENTERPRISE", "5dbe027f-2339-4123-9542-606e4d348a72")],
        "Graph dependency error quoted by the community: Project Online needs SharePoint Online (Plan 2)",
    ),
];

fn guid(s: &str) -> Guid {
    Guid::parse(s).expect("built-in rule ids are valid GUIDs")
}

/// Every built-in relation, in a fixed order.
pub fn builtin_rules() -> Vec<RuleSpec> {
    let mut out = Vec::new();
    for (_service, plans) in EXCLUSIVE_SETS {
        for (i, (name, id)) in plans.iter().enumerate() {
            let others: Vec<(Guid, String)> = plans
                .iter()
                .skip(i + 1)
                .map(|(n, g)| (guid(g), n.to_string()))
                .collect();
            if others.is_empty() {
                continue;
            }
            out.push(RuleSpec {
                kind: RuleKind::Excludes,
                plan: guid(id),
                plan_name: name.to_string(),
                others,
                countries: Vec::new(),
                negated: false,
                source: RuleSource::Builtin(EXCLUSION_SOURCE),
            });
        }
    }
    for ((name, id), alts, source) in REQUIRES {
        out.push(RuleSpec {
            kind: RuleKind::Requires,
            plan: guid(id),
            plan_name: name.to_string(),
            others: alts.iter().map(|(n, g)| (guid(g), n.to_string())).collect(),
            countries: Vec::new(),
            negated: false,
            source: RuleSource::Builtin(source),
        });
    }
    out
}

/// A plan the built-in rules name, looked up by its (lower-case) name.
pub fn known_plan_by_name(key: &str) -> Option<(Guid, String)> {
    EXCLUSIVE_SETS
        .iter()
        .flat_map(|(_, plans)| plans.iter())
        .chain(
            REQUIRES
                .iter()
                .flat_map(|(p, alts, _)| std::iter::once(p).chain(alts.iter())),
        )
        .find(|(n, _)| n.eq_ignore_ascii_case(key))
        .map(|(n, g)| (guid(g), n.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse_and_exchange_plan2_stacks() {
        let rules = builtin_rules();
        assert!(rules.len() > 30);
        let e2 = guid("efb87545-963c-4e0d-99df-69c6916d9eb0");
        assert!(
            !rules.iter().any(|r| r.kind == RuleKind::Excludes
                && (r.plan == e2 || r.others.iter().any(|o| o.0 == e2))),
            "Exchange Online Plan 1 and Plan 2 now stack"
        );
        assert_eq!(
            known_plan_by_name("sharepointstandard").unwrap().1,
            "SHAREPOINTSTANDARD"
        );
    }
}
