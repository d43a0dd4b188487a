//! fixtures/scenarios: one small snapshot per Entra rule, with the verdicts in expect.txt.

use crate::util::*;
use std::collections::BTreeMap;

/// (upn, sku) → verdict, from a plan folder.
pub fn verdicts(
    dir: &std::path::Path,
) -> (
    BTreeMap<(String, String), String>,
    BTreeMap<(String, String), String>,
) {
    let gained: std::collections::BTreeSet<String> = read_csv(&dir.join("diff.csv"))
        .into_iter()
        .filter(|r| r["change"] == "gained")
        .map(|r| r["userPrincipalName"].clone())
        .collect();
    let mut v = BTreeMap::new();
    let mut detail = BTreeMap::new();
    for r in read_csv(&dir.join("waves.csv")) {
        let verdict = if gained.contains(&r["userPrincipalName"]) {
            "GAINS"
        } else {
            "REMOVABLE"
        };
        v.insert(
            (r["userPrincipalName"].clone(), r["skuPartNumber"].clone()),
            verdict.to_string(),
        );
    }
    for r in read_csv(&dir.join("blocked.csv")) {
        v.insert(
            (r["userPrincipalName"].clone(), r["skuPartNumber"].clone()),
            r["reason"].clone(),
        );
        detail.insert(
            (r["userPrincipalName"].clone(), r["skuPartNumber"].clone()),
            r["detail"].clone(),
        );
    }
    (v, detail)
}

fn check(name: &str) {
    let snap = fixture(&format!("scenarios/{name}"));
    let out_dir = temp_dir(&format!("scenario-{name}")).join("plan");
    let out = licshift(&[
        "plan",
        snap.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let (got, detail) = verdicts(&out_dir);
    let expect = std::fs::read_to_string(snap.join("expect.txt")).unwrap();
    let mut expected = BTreeMap::new();
    for line in expect.lines().filter(|l| !l.trim().is_empty()) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts[0] == "mention" {
            let d = detail
                .get(&(parts[1].to_string(), parts[2].to_string()))
                .unwrap_or_else(|| panic!("{name}: {} {} is not blocked", parts[1], parts[2]));
            assert!(
                d.contains(parts[3]),
                "{name}: detail of {} {} should name {}: {d}",
                parts[1],
                parts[2],
                parts[3]
            );
            continue;
        }
        expected.insert(
            (parts[0].to_string(), parts[1].to_string()),
            parts[2].to_string(),
        );
    }
    assert_eq!(got, expected, "{name}: verdicts");
    for f in PLAN_FILES {
        assert_snapshot(
            &format!("scenarios/{name}/{f}"),
            &std::fs::read_to_string(out_dir.join(f)).unwrap(),
        );
    }
}

macro_rules! scenarios {
    ($($test:ident => $dir:literal;)*) => {
        $( #[test] fn $test() { check($dir); } )*

        #[test]
        fn every_scenario_has_a_test() {
            let mut dirs: Vec<String> = std::fs::read_dir(fixture("scenarios")).unwrap()
                .map(|e| e.unwrap()).filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned()).collect();
            dirs.sort();
            let mut tested = vec![$($dir.to_string()),*];
            tested.sort();
            assert_eq!(dirs, tested);
        }
    };
}

scenarios! {
    same_sku_equal_plans_is_removable => "same-sku-equal";
    yammer_enabled_directly_but_disabled_by_group => "yammer-not-covered";
    group_enables_a_plan_the_direct_disabled => "gains-yammer";
    other_sku_with_the_same_plan_ids_covers => "other-sku-same-plans";
    union_of_two_groups_covers => "union-of-two-groups";
    direct_e1_conflicts_with_group_e3 => "e1-direct-e3-group";
    two_new_templates_in_conflict_both_fail => "two-new-templates-conflict";
    seat_shortage_fails_the_whole_group => "seats-all-or-nothing";
    usage_location_and_tenant_fallback => "usage-location";
    add_on_without_prerequisite => "dependency-missing";
    existing_group_assignment_in_error => "group-failing";
    member_only_through_nested_group => "nested-group";
    direct_assignment_in_error_state => "direct-in-error";
    disabled_user_is_planned_like_any_other => "disabled-user";
    proposed_group_named_only_in_templates_and_members => "proposed-group-by-name";
    rules_naming_absent_plans_are_inert => "rules-name-absent-plans";
}

#[test]
fn explain_names_the_conflicting_plan() {
    let out = licshift(&[
        "explain",
        fixture("scenarios/e1-direct-e3-group").to_str().unwrap(),
        "ann@t.test",
    ]);
    assert_eq!(code(&out), 0);
    let text = stdout(&out);
    assert!(text.contains("STANDARDPACK: BLOCKED (CONFLICT)"), "{text}");
    assert!(
        text.contains("SHAREPOINTENTERPRISE cannot be enabled beside SHAREPOINTSTANDARD"),
        "{text}"
    );
    assert_snapshot("explain-e1-direct-e3-group.txt", &text);
}

#[test]
fn diff_for_one_user_as_csv() {
    let out = licshift(&[
        "diff",
        fixture("scenarios/gains-yammer").to_str().unwrap(),
        "--user",
        "ann@t.test",
        "--format",
        "csv",
    ]);
    assert_eq!(code(&out), 0);
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.contains("YAMMER_ENTERPRISE,,ENTERPRISEPACK (E3 group),gained"),
        "{text}"
    );
}

#[test]
fn rules_lists_defaults_and_the_files() {
    let out = licshift(&["rules"]);
    assert_eq!(code(&out), 0);
    let text = stdout(&out);
    assert!(
        text.contains("SHAREPOINTSTANDARD") && text.contains("licensing-service-plan-reference"),
        "{text}"
    );
    assert!(
        !text.contains("| excludes | EXCHANGE_S_ENTERPRISE"),
        "Exchange Plan 2 stacks"
    );
    let out = licshift(&[
        "rules",
        fixture("scenarios/usage-location").to_str().unwrap(),
    ]);
    assert!(
        stdout(&out).contains("unavailable-in") && stdout(&out).contains("rules file row 2"),
        "{}",
        stdout(&out)
    );
}

/// Issue #25 item 7: `explain` and `diff` say the same of every user — one definition of what
/// the groups alone give (engine::groups_alone) — on every scenario, contoso, and contoso with
/// suggest's templates copied in (where explain once said "none lost" beside 41 lost rows).
#[test]
fn explain_and_diff_agree_on_every_user() {
    let mut snapshots: Vec<std::path::PathBuf> = std::fs::read_dir(fixture("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    snapshots.sort();
    snapshots.push(fixture("contoso"));
    let suggested = temp_dir("explain-diff-suggest");
    let out = suggested.join("suggest");
    let o = licshift(&[
        "suggest",
        "fixtures/contoso",
        "--by",
        "Department",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let snap = suggested.join("snap");
    copy_dir(&fixture("contoso"), &snap);
    for f in ["templates.csv", "members.csv"] {
        std::fs::copy(out.join(f), snap.join(f)).unwrap();
    }
    snapshots.push(snap);
    let mut users_seen = 0;
    for dir in snapshots {
        let spec = licshift::ingest::SnapshotSpec {
            root: dir.clone(),
            ..Default::default()
        };
        let loaded = licshift::ingest::load(&spec)
            .unwrap_or_else(|f| panic!("{}: {:?}", dir.display(), f.problems.list));
        let mut t = loaded.tenant;
        licshift::engine::rules::install(&mut t, loaded.file_rules);
        let o = licshift::engine::simulate(&t, licshift::engine::Params::default());
        for u in 0..t.users.len() {
            let u = licshift::model::UserIdx(u as u32);
            let from_diff: Vec<String> = licshift::engine::diff_user(&t, u, &o.users[u.ix()], true)
                .into_iter()
                .filter(|r| r.change == licshift::engine::Change::Lost)
                .map(|r| t.plans[r.plan.ix()].name.clone())
                .collect();
            let text = licshift::report::explain::render(&t, &o, u);
            let line = text
                .lines()
                .find(|l| l.starts_with("From groups alone"))
                .unwrap_or_else(|| panic!("{text}"));
            let from_explain: Vec<String> = match line.split_once("; lost: ") {
                None => Vec::new(),
                Some((_, rest)) => rest
                    .split(" — ")
                    .next()
                    .unwrap()
                    .split(", ")
                    .map(String::from)
                    .collect(),
            };
            let (mut a, mut b) = (from_diff, from_explain);
            a.sort();
            b.sort();
            assert_eq!(a, b, "{}: {}", dir.display(), t.users[u.ix()].upn);
            users_seen += 1;
        }
    }
    assert!(users_seen > 2000, "{users_seen}");
}
