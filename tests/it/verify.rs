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
            good.replacen("licshift.plan/v2", "licshift.plan/v9", 1),
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
    // A plan.json of the first schema (no seal) is still read.
    let mut v1: serde_json::Value = serde_json::from_str(&good).unwrap();
    v1["schema"] = "licshift.plan/v1".into();
    v1.as_object_mut().unwrap().remove("files");
    std::fs::write(&json, serde_json::to_string_pretty(&v1).unwrap()).unwrap();
    // Without a seal, nothing shows the files are the ones signed: a no-go unless allowed.
    let out = licshift(&["verify", dir.to_str().unwrap(), BASE]);
    assert_eq!(code(&out), 1, "v1: {}", stderr(&out));
    assert!(stdout(&out).contains("UNSEALED"), "{}", stdout(&out));
    let out = licshift(&["verify", dir.to_str().unwrap(), BASE, "--allow-unsealed"]);
    assert_eq!(code(&out), 0, "v1: {}", stderr(&out));
    std::fs::write(&json, &good).unwrap();
}

/// A template that was to disable YAMMER_ENTERPRISE came out enabling it: the checkpoint fails,
/// naming the group, the SKU and the plan (users would gain a service nobody signed off).
#[test]
fn the_prepare_checkpoint_catches_a_template_that_enables_more() {
    let top = temp_dir("verify-template-more");
    let base = top.join("baseline");
    copy_dir(&fixture("verify/baseline"), &base);
    std::fs::write(
        base.join("templates.csv"),
        "GroupName,SkuPartNumber,DisabledPlans,Status\nAll users,EMS,,proposed\nOffice,ENTERPRISEPACK,YAMMER_ENTERPRISE,proposed\n",
    )
    .unwrap();
    let plan = top.join("plan");
    let o = licshift(&[
        "plan",
        base.to_str().unwrap(),
        "--out",
        plan.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // after-prepare's Office assignments disable nothing: Yammer came out enabled.
    let bad = licshift(&[
        "verify",
        plan.to_str().unwrap(),
        base.to_str().unwrap(),
        "--stage",
        "prepare",
        "fixtures/verify/after-prepare",
        "--format",
        "csv",
    ]);
    assert_eq!(code(&bad), 1, "{}", stdout(&bad));
    let out = stdout(&bad);
    let row = out
        .lines()
        .find(|l| l.starts_with("TEMPLATE_ENABLES_MORE"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        row.contains("ENTERPRISEPACK")
            && row.contains("YAMMER_ENTERPRISE")
            && row.contains(
                "Office's ENTERPRISEPACK enables YAMMER_ENTERPRISE that its template disables"
            ),
        "{row}"
    );
    assert_eq!(
        out.matches("TEMPLATE_ENABLES_MORE").count(),
        1,
        "one violation per group and SKU: {out}"
    );
}

/// A wave skipped a user (their direct assignment is still there, nothing lost): after the
/// wave they are pending — listed, exit 0 — and `--pending` writes them as a waves.csv that
/// `licshift scripts` turns into scripts after checking it as verify does.
#[test]
fn skipped_users_are_pending_and_carried_forward_by_licshift_scripts() {
    let p = plan("verify-pending");
    let first = read_csv(&std::path::Path::new(&p).join("waves.csv"))
        .into_iter()
        .find(|r| r["wave"] == "1")
        .unwrap();
    let top = temp_dir("verify-pending-fresh");
    let fresh = top.join("fresh");
    copy_dir(&fixture("verify/after-wave-1-drift"), &fresh);
    let mut a = std::fs::read_to_string(fresh.join("assignments.csv")).unwrap();
    a += &format!(
        "{},{},{},,,Active,None\n",
        first["userId"], first["userPrincipalName"], first["skuId"]
    );
    std::fs::write(fresh.join("assignments.csv"), a).unwrap();
    let pending = top.join("pending.csv");
    let out = licshift(&[
        "verify",
        &p,
        BASE,
        "--after",
        "1",
        fresh.to_str().unwrap(),
        "--pending",
        pending.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("ALL CLEAR") && text.contains("Pending — skipped by the waves"),
        "{text}"
    );
    assert!(text.contains(&first["userPrincipalName"]), "{text}");
    let rows = read_csv(&pending);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (&rows[0]["wave"], &rows[0]["userId"], &rows[0]["skuId"]),
        (&first["wave"], &first["userId"], &first["skuId"])
    );
    // The pending list checks out on the baseline: scripts for wave 1 only.
    let scripts = top.join("scripts-out");
    let o = licshift(&[
        "scripts",
        &p,
        BASE,
        "--waves",
        pending.to_str().unwrap(),
        "--out",
        scripts.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let files: Vec<String> = read_tree(&scripts).into_iter().map(|f| f.0).collect();
    // A retry is a stage of its own: its own script names and log, so wave 1's rollback never
    // reads what the retry did; the folder is sealed like a plan's.
    assert_eq!(
        files,
        [
            "scripts/wave-001-retry-1-rollback.ps1",
            "scripts/wave-001-retry-1.ps1",
            "scripts.json",
        ]
    );
    let wave = std::fs::read_to_string(scripts.join("scripts/wave-001-retry-1.ps1")).unwrap();
    assert!(
        wave.contains("$Stage = 'wave-001-retry-1'"),
        "{}",
        &wave[..2000.min(wave.len())]
    );
    let rollback =
        std::fs::read_to_string(scripts.join("scripts/wave-001-retry-1-rollback.ps1")).unwrap();
    assert!(
        rollback.contains("'wave-001-retry-1.log.jsonl'"),
        "the retry's own log"
    );
    let seal: serde_json::Value =
        serde_json::from_slice(&std::fs::read(scripts.join("scripts.json")).unwrap()).unwrap();
    assert_eq!(seal["schema"], "licshift.scripts/v1");
    assert_eq!(seal["retry"], 1);
    assert_eq!(seal["files"].as_array().unwrap().len(), 2);
    // With a retry's log in the plan's run folder, the next retry is number 2.
    std::fs::create_dir_all(std::path::Path::new(&p).join("run")).unwrap();
    std::fs::write(
        std::path::Path::new(&p).join("run/wave-001-retry-1.log.jsonl"),
        "{}\n",
    )
    .unwrap();
    let again = top.join("scripts-again");
    let o = licshift(&[
        "scripts",
        &p,
        BASE,
        "--waves",
        pending.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(again.join("scripts/wave-001-retry-2.ps1").is_file());
    assert!(
        wave.contains(&format!("@{{ Id = '{}'", first["userId"])),
        "{wave}"
    );
    assert_eq!(
        wave.matches("@{ Id = '").count(),
        1,
        "only the pending user"
    );
    // A waves file with an unsafe removal writes nothing and exits 1.
    let bad = top.join("bad.csv");
    std::fs::copy("fixtures/verify/waves-added-uncovered.csv", &bad).unwrap();
    let refused = top.join("refused");
    let o = licshift(&[
        "scripts",
        &p,
        BASE,
        "--waves",
        bad.to_str().unwrap(),
        "--out",
        refused.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("UNSAFE_REMOVAL") && !refused.exists(),
        "{}",
        stdout(&o)
    );
}
