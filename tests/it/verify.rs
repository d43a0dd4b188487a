//! `licshift verify`: fixtures/verify holds a baseline, reviewer edits of its waves.csv, and
//! fresh exports after prepare and after wave 1 (fixtures/verify/make.py says how each was made).

use crate::util::*;

const BASE: &str = "fixtures/verify/baseline";

/// The baseline's plan, made the way make.py made it.
fn plan(name: &str) -> String {
    let dir = temp_dir(name).join("plan");
    let out = licshift(&[
        "plan",
        BASE,
        "--out",
        dir.to_str().unwrap(),
        "--pilot",
        "2",
        "--growth",
        "1",
        "--max-wave",
        "2",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    dir.to_str().unwrap().to_string()
}

#[test]
fn the_contoso_plan_verifies_clean() {
    let dir = temp_dir("verify-contoso").join("plan");
    assert_eq!(
        code(&licshift(&[
            "plan",
            "fixtures/contoso",
            "--out",
            dir.to_str().unwrap()
        ])),
        0
    );
    let out = licshift(&["verify", dir.to_str().unwrap(), "fixtures/contoso"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("ALL CLEAR — 1280 removals of 992 users checked"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn an_added_uncovered_removal_is_a_violation() {
    let out = licshift(&[
        "verify",
        "fixtures/verify/waves-added-uncovered.csv",
        BASE,
        "--format",
        "json",
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let violations = v["violations"].as_array().unwrap();
    assert_eq!(violations.len(), 1, "{v}");
    assert_eq!(violations[0]["kind"], "UNSAFE_REMOVAL");
    assert_eq!(violations[0]["user"], "u6@fabrikam.test");
    assert_eq!(violations[0]["sku"], "ENTERPRISEPACK");
    assert_eq!(violations[0]["wave"], 2);
    assert!(
        violations[0]["plans"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "EXCHANGE_S_ENTERPRISE"),
        "{v}"
    );
}

#[test]
fn moving_a_user_to_an_earlier_wave_is_accepted_when_safe() {
    let out = licshift(&["verify", "fixtures/verify/waves-moved-earlier.csv", BASE]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
}

#[test]
fn the_prepare_checkpoint() {
    let p = plan("verify-prepare");
    let ok = licshift(&[
        "verify",
        &p,
        BASE,
        "--stage",
        "prepare",
        "fixtures/verify/after-prepare",
    ]);
    assert_eq!(code(&ok), 0, "{}", stdout(&ok));
    let bad = licshift(&[
        "verify",
        &p,
        BASE,
        "--stage",
        "prepare",
        "fixtures/verify/after-prepare-failing",
        "--format",
        "csv",
    ]);
    assert_eq!(code(&bad), 1);
    assert!(
        stdout(&bad).contains("GROUP_NOT_HEALTHY,1,"),
        "{}",
        stdout(&bad)
    );
    assert!(
        stdout(&bad).contains(
            "u5@fabrikam.test,ENTERPRISEPACK,,Office's ENTERPRISEPACK is Error with CountViolation"
        ),
        "{}",
        stdout(&bad)
    );
}

#[test]
fn a_group_assignment_in_count_violation_after_wave_1() {
    let p = plan("verify-after-cv");
    let report = temp_dir("verify-after-cv-report").join("wave-1.md");
    let out = licshift(&[
        "verify",
        &p,
        BASE,
        "--after",
        "1",
        "fixtures/verify/after-wave-1-countviolation",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("PLANS_LOST")
            && text.contains("u5@fabrikam.test")
            && text.contains("ATP_ENTERPRISE, BPOS_S_TODO_2"),
        "{text}"
    );
    assert!(
        text.contains("Office's ENTERPRISEPACK is Error with CountViolation"),
        "{text}"
    );
    let md = std::fs::read_to_string(report).unwrap();
    assert!(md.contains("| PLANS_LOST | 1 | u5@fabrikam.test |"), "{md}");
}

#[test]
fn unrelated_drift_is_listed_and_clear() {
    let p = plan("verify-after-drift");
    let out = licshift(&[
        "verify",
        &p,
        BASE,
        "--after",
        "1",
        "fixtures/verify/after-wave-1-drift",
    ]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("Next wave 2 (4 removals): safe to run"),
        "{text}"
    );
    assert!(
        text.contains("u7@fabrikam.test │ no longer: member of Project"),
        "{text}"
    );
    assert!(
        text.contains("u9@fabrikam.test │ new user since the baseline"),
        "{text}"
    );
}

#[test]
fn a_snapshot_changed_after_planning_is_refused_without_allow_drift() {
    let p = plan("verify-changed");
    let out = licshift(&["verify", &p, "fixtures/verify/changed-snapshot"]);
    assert_eq!(code(&out), 2);
    assert!(
        message(&out).contains("users.csv (users) changed")
            && message(&out).contains("--allow-drift"),
        "{}",
        stderr(&out)
    );
    let out = licshift(&[
        "verify",
        &p,
        "fixtures/verify/changed-snapshot",
        "--allow-drift",
    ]);
    assert_eq!(code(&out), 0);
    assert!(
        stdout(&out).contains("users.csv (users) changed"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_broken_waves_csv_is_bad_input() {
    let dir = temp_dir("verify-broken");
    let f = dir.join("waves.csv");
    std::fs::write(&f, "wave,userId,userPrincipalName,skuId,skuPartNumber,coveredBy\nfirst,x,u1@fabrikam.test,y,EMS,\n").unwrap();
    let out = licshift(&["verify", f.to_str().unwrap(), BASE]);
    assert_eq!(code(&out), 2);
    assert!(message(&out).contains("waves.csv:2:1"), "{}", stderr(&out));
}

#[test]
fn a_damaged_plan_json_is_refused_with_where_and_why() {
    let dir = std::path::PathBuf::from(plan("verify-bad-manifest"));
    let json = dir.join("plan.json");
    let good = std::fs::read_to_string(&json).unwrap();
    let cases: [(&str, String, &str); 4] = [
        // Cut off in the removals, long after the parts verify reads.
        (
            "cut short",
            good[..good.len() - 40].to_string(),
            "plan.json is not valid JSON",
        ),
        (
            "another schema",
            good.replacen("licshift.plan/v1", "licshift.plan/v9", 1),
            "plan.json has schema \"licshift.plan/v9\"",
        ),
        ("a list", "[1, 2]".to_string(), "plan.json has schema null"),
        (
            "no schema",
            "{\"waves\": []}".to_string(),
            "plan.json has schema null",
        ),
    ];
    for (what, text, said) in cases {
        std::fs::write(&json, text).unwrap();
        let out = licshift(&["verify", dir.to_str().unwrap(), BASE]);
        assert_eq!(code(&out), 2, "{what}: {}", stderr(&out));
        assert!(message(&out).contains(said), "{what}: {}", stderr(&out));
    }
    // Put back whole, the same plan verifies clean.
    std::fs::write(&json, &good).unwrap();
    let out = licshift(&["verify", dir.to_str().unwrap(), BASE]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}
