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

const SUPERSEDES_SOURCE: &str = "Microsoft product and service-plan catalog (licensing-service-plan-reference CSV): the tiers of one service across Office 365 F3, E1, E3 and E5, each id checked against the catalog";

/// (service, plans from the lowest tier to the highest): each plan supersedes every plan before
/// it. Used only by the conflict bridge (SPEC §3.4): a swap may take a plan away only when it
/// gives one of these in the same call.
const SUPERSEDING_TIERS: &[(&str, &[(&str, &str)])] = &[
    (
        "Exchange Online",
        &[
            (
                "EXCHANGE_S_DESKLESS",
                "4a82b400-a79f-41a4-b4e2-e94f5787b113",
            ),
            (
                "EXCHANGE_S_STANDARD",
                "9aaf7827-d63c-4b61-89c3-182f06f82e5c",
            ),
            (
                "EXCHANGE_S_ENTERPRISE",
                "efb87545-963c-4e0d-99df-69c6916d9eb0",
            ),
        ],
    ),
    (
        "SharePoint Online",
        &[
            ("SHAREPOINTDESKLESS", "902b47e5-dcb2-4fdc-858b-c63a90a2bdb9"),
            ("SHAREPOINTSTANDARD", "c7699d2e-19aa-44de-8edf-1736da088ca1"),
            (
                "SHAREPOINTENTERPRISE",
                "5dbe027f-2339-4123-9542-606e4d348a72",
            ),
        ],
    ),
    (
        "Azure Rights Management",
        &[
            ("RMS_S_BASIC", "31cf2cfc-6b0d-4adc-a336-88b724ed8122"),
            ("RMS_S_ENTERPRISE", "bea4c11e-220a-4e6d-8eb8-8ea15d019f90"),
        ],
    ),
    (
        "Microsoft 365 Apps",
        &[
            (
                "OFFICEMOBILE_SUBSCRIPTION",
                "c63d4d19-e8cb-460e-b37c-4d6c34603745",
            ),
            ("OFFICESUBSCRIPTION", "43de0ff5-c92c-492b-9116-175376d08c38"),
        ],
    ),
    (
        "Power Automate for Office 365",
        &[
            ("FLOW_O365_S1", "bd91b1a4-9f94-4ecf-b45b-3a65e5c8128a"),
            ("FLOW_O365_P1", "0f9b09cb-62d1-4ff4-9129-43f4996f83f4"),
            ("FLOW_O365_P2", "76846ad7-7776-4c40-a281-a386362dd1b9"),
            ("FLOW_O365_P3", "07699545-9485-468e-95b6-2fca3738be01"),
        ],
    ),
    (
        "Power Apps for Office 365",
        &[
            ("POWERAPPS_O365_S1", "e0287f9f-e222-4f98-9a83-f379e249159a"),
            ("POWERAPPS_O365_P1", "92f7a6f3-b89b-4bbd-8c30-809e6da5ad1c"),
            ("POWERAPPS_O365_P2", "c68f8d98-5534-41c8-bf36-22fa496fa792"),
            ("POWERAPPS_O365_P3", "9c0dab89-a30c-4117-86e7-97bda240acd2"),
        ],
    ),
    (
        "Microsoft Forms",
        &[
            ("FORMS_PLAN_K", "f07046bd-2a3c-4b96-b0be-dea79d7cbfb8"),
            ("FORMS_PLAN_E1", "159f4cd6-e380-449f-a816-af1a9ef76344"),
            ("FORMS_PLAN_E3", "2789c901-c14e-48ab-a76a-be334d9d793a"),
            ("FORMS_PLAN_E5", "e212cbc7-0961-4c40-9825-01117710dcb1"),
        ],
    ),
    (
        "Microsoft Stream",
        &[
            ("STREAM_O365_K", "3ffba0d2-38e5-4d5e-8ec0-98f2b05c09d9"),
            ("STREAM_O365_E1", "743dd19e-1ce3-4c62-a3ad-49ba8f63a2f6"),
            ("STREAM_O365_E3", "9e700747-8b1d-45e5-ab8d-ef187ceec156"),
            ("STREAM_O365_E5", "6c6042f5-6f01-4d67-b8c1-eb99d36eed3e"),
        ],
    ),
    (
        "Whiteboard",
        &[
            (
                "WHITEBOARD_FIRSTLINE1",
                "36b29273-c6d0-477a-aca6-6fbe24f538e3",
            ),
            ("WHITEBOARD_PLAN1", "b8afc642-032e-4de5-8c0a-507a7bba7e5d"),
            ("WHITEBOARD_PLAN2", "94a54592-cd8b-425e-87c6-97868b000b91"),
            ("WHITEBOARD_PLAN3", "4a51bca5-1eff-43f5-878c-177680f191af"),
        ],
    ),
    (
        "To Do",
        &[
            (
                "BPOS_S_TODO_FIRSTLINE",
                "80873e7a-cd2a-4e67-b061-1b5381a676a5",
            ),
            ("BPOS_S_TODO_1", "5e62787c-c316-451f-b873-1d05acd4d12c"),
            ("BPOS_S_TODO_2", "c87f142c-d1e9-4363-8630-aaea9c4d9ae5"),
            ("BPOS_S_TODO_3", "3fb82609-8c27-4f7b-bd51-30634711ee67"),
        ],
    ),
    (
        "Project for Office",
        &[
            ("PROJECT_O365_F3", "7f6f28c2-34bb-4d4b-be36-48ca2e77e1ec"),
            ("PROJECT_O365_P1", "a55dfd10-0864-46d9-a3cd-da5991a3e0e2"),
            ("PROJECT_O365_P2", "31b4e2fc-4cd6-4e7d-9c1b-41407303bd66"),
            ("PROJECT_O365_P3", "b21a6b06-1988-436e-a07b-51ec6d9f52ad"),
        ],
    ),
    (
        "Kaizala",
        &[
            ("KAIZALA_O365_P1", "73b2a583-6a59-42e3-8e83-54db46bc3278"),
            ("KAIZALA_O365_P2", "54fc630f-5a40-48ee-8965-af0503c1386e"),
            ("KAIZALA_O365_P3", "aebd3021-9f8f-4bf8-bbe3-0ed2f4f047a1"),
        ],
    ),
    (
        "Common Data Service for Office 365",
        &[
            ("CDS_O365_F1", "90db65a7-bf11-4904-a79f-ef657605145b"),
            ("CDS_O365_P1", "bed136c6-b799-4462-824d-fc045d3a9d25"),
            ("CDS_O365_P2", "95b76021-6a53-4741-ab8b-1d1f3d66a95a"),
            ("CDS_O365_P3", "afa73018-811e-46e9-988f-f75d2b1b8430"),
        ],
    ),
    (
        "Dataverse for Office 365",
        &[
            ("DYN365_CDS_O365_F1", "ca6e61ec-d4f4-41eb-8b88-d96e0e14323f"),
            ("DYN365_CDS_O365_P1", "40b010bb-0b69-4654-ac5e-ba161433f4b4"),
            ("DYN365_CDS_O365_P2", "4ff01e01-1ba7-4d71-8cf8-ce96c3bbcf14"),
            ("DYN365_CDS_O365_P3", "28b0fa46-c39a-4188-89e2-58e979a6b014"),
        ],
    ),
    (
        "Power Virtual Agents for Office 365",
        &[
            (
                "POWER_VIRTUAL_AGENTS_O365_F1",
                "ba2fdb48-290b-4632-b46a-e4ecc58ac11a",
            ),
            (
                "POWER_VIRTUAL_AGENTS_O365_P1",
                "0683001c-0492-4d59-9515-d9a6426b5813",
            ),
            (
                "POWER_VIRTUAL_AGENTS_O365_P2",
                "041fe683-03e4-45b6-b1af-c0cdc516daee",
            ),
            (
                "POWER_VIRTUAL_AGENTS_O365_P3",
                "ded3d325-1bdc-453e-8432-5bac26d7a014",
            ),
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
    for (_service, tiers) in SUPERSEDING_TIERS {
        for (i, (name, id)) in tiers.iter().enumerate().skip(1) {
            out.push(RuleSpec {
                kind: RuleKind::Supersedes,
                plan: guid(id),
                plan_name: name.to_string(),
                others: tiers[..i]
                    .iter()
                    .map(|(n, g)| (guid(g), n.to_string()))
                    .collect(),
                countries: Vec::new(),
                negated: false,
                source: RuleSource::Builtin(SUPERSEDES_SOURCE),
            });
        }
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
        .chain(SUPERSEDING_TIERS.iter().flat_map(|(_, tiers)| tiers.iter()))
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

    /// E1 → E3 needs every plan E1 has and E3 lacks superseded by one E3 has (issue #18);
    /// the names are Microsoft's catalog's.
    #[test]
    fn the_e1_to_e3_tiers_are_built_in() {
        let rules = builtin_rules();
        let supersedes = |hi: &str, lo: &str| {
            rules.iter().any(|r| {
                r.kind == RuleKind::Supersedes
                    && r.plan_name == hi
                    && r.others.iter().any(|o| o.1 == lo)
            })
        };
        for (lo, hi) in [
            ("EXCHANGE_S_STANDARD", "EXCHANGE_S_ENTERPRISE"),
            ("SHAREPOINTSTANDARD", "SHAREPOINTENTERPRISE"),
            ("RMS_S_BASIC", "RMS_S_ENTERPRISE"),
            ("OFFICEMOBILE_SUBSCRIPTION", "OFFICESUBSCRIPTION"),
            ("FLOW_O365_P1", "FLOW_O365_P2"),
            ("POWERAPPS_O365_P1", "POWERAPPS_O365_P2"),
            ("FORMS_PLAN_E1", "FORMS_PLAN_E3"),
            ("STREAM_O365_E1", "STREAM_O365_E3"),
            ("WHITEBOARD_PLAN1", "WHITEBOARD_PLAN2"),
            ("BPOS_S_TODO_1", "BPOS_S_TODO_2"),
            ("PROJECT_O365_P1", "PROJECT_O365_P2"),
            ("KAIZALA_O365_P2", "KAIZALA_O365_P3"),
            ("CDS_O365_P1", "CDS_O365_P2"),
            ("DYN365_CDS_O365_P1", "DYN365_CDS_O365_P2"),
            (
                "POWER_VIRTUAL_AGENTS_O365_P1",
                "POWER_VIRTUAL_AGENTS_O365_P2",
            ),
            ("EXCHANGE_S_DESKLESS", "EXCHANGE_S_ENTERPRISE"),
        ] {
            assert!(supersedes(hi, lo), "{hi} supersedes {lo}");
            assert!(!supersedes(lo, hi), "{lo} does not supersede {hi}");
        }
    }
}
