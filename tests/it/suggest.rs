//! `licshift suggest`: one snapshot per rule (fixtures/suggest), compared whole, and contoso
//! re-designed from its direct assignments.

use crate::util::*;

fn suggest(case: &str, extra: &[&str]) -> std::path::PathBuf {
    let out = temp_dir(&format!("suggest-{case}")).join("out");
    let snap = fixture(&format!("suggest/{case}"));
    let mut args = vec![
        "suggest",
        snap.to_str().unwrap(),
        "--min-users",
        "3",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = licshift(&args);
    assert_eq!(code(&o), 0, "{case}: {}", stderr(&o));
    for f in ["templates.csv", "members.csv", "suggest.md"] {
        assert_snapshot(
            &format!("suggest/{case}/{f}"),
            &std::fs::read_to_string(out.join(f)).unwrap(),
        );
    }
    out
}

fn md(out: &std::path::Path) -> String {
    std::fs::read_to_string(out.join("suggest.md")).unwrap()
}

#[test]
fn a_prerequisite_is_pulled_into_the_same_template() {
    let out = suggest("prerequisite-pulled-in", &[]);
    let m = md(&out);
    assert!(
        m.contains("WORKPLACE_ANALYTICS + ENTERPRISEPACK with only EXCHANGE_S_ENTERPRISE"),
        "{m}"
    );
    assert!(
        m.contains("Prerequisites enabled in the same template: EXCHANGE_S_ENTERPRISE."),
        "{m}"
    );
    assert!(
        m.contains("**With these templates: 6 of 6 direct assignments removable**"),
        "{m}"
    );
}

#[test]
fn a_conflict_is_suggested_and_reported() {
    let m = md(&suggest("conflict-reported", &[]));
    assert!(
        m.contains("CONFLICT 3")
            && m.contains("Blocked, CONFLICT: ann@t.test, bob@t.test, cy@t.test (3)."),
        "{m}"
    );
}

#[test]
fn a_seat_shortfall_is_reported() {
    let m = md(&suggest("seat-shortfall", &[]));
    assert!(
        m.contains("New seats: 3 users would need one.") && m.contains("Blocked, SEATS"),
        "{m}"
    );
}

#[test]
fn an_existing_group_of_the_same_users_is_reused() {
    let out = suggest("existing-group-reused", &[]);
    assert!(md(&out).contains("Finance (existing, reused)"));
    let t = std::fs::read_to_string(out.join("templates.csv")).unwrap();
    assert!(
        t.lines()
            .any(|l| l.ends_with(",Finance,ENTERPRISEPACK,,proposed") && l.len() > 40),
        "by id: {t}"
    );
}

#[test]
fn exact_leaves_the_odd_user_direct_and_nobody_gains() {
    let out = suggest("exact-leaves-the-odd-user", &["--exact"]);
    let m = md(&out);
    assert!(
        m.contains("ENTERPRISEPACK without YAMMER_ENTERPRISE")
            && m.contains("Blocked, NOT_MEMBER: odd@t.test (1)."),
        "{m}"
    );
    assert!(!std::fs::read_to_string(out.join("members.csv"))
        .unwrap()
        .contains("odd@t.test"));
    // Without --exact the line covers every holder, and the three who disabled Yammer gain it.
    let all = temp_dir("suggest-odd-all").join("out");
    let snap = fixture("suggest/exact-leaves-the-odd-user");
    let o = licshift(&[
        "suggest",
        snap.to_str().unwrap(),
        "--min-users",
        "3",
        "--out",
        all.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let m = md(&all);
    assert!(
        m.contains("3 users would gain plans: YAMMER_ENTERPRISE (3).")
            && m.contains("4 of 4 direct assignments removable"),
        "{m}"
    );
}

#[test]
fn every_suggest_case_has_a_test() {
    let mut dirs: Vec<String> = std::fs::read_dir(fixture("suggest"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    let src = std::fs::read_to_string(root().join("tests/it/suggest.rs")).unwrap();
    for d in dirs {
        assert!(src.contains(&format!("\"{d}\"")), "{d} has no test");
    }
}

/// contoso without its proposed lines: suggest by department, copy the files in, plan. At least
/// as many direct assignments become removable as with the hand-written templates (1,280).
#[test]
fn contoso_redesigned_by_department_removes_at_least_as_much_as_by_hand() {
    let top = temp_dir("suggest-contoso");
    let snap = top.join("snapshot");
    copy_dir(&fixture("contoso"), &snap);
    let templates = std::fs::read_to_string(snap.join("templates.csv")).unwrap();
    let kept: Vec<&str> = templates
        .lines()
        .filter(|l| !l.ends_with(",proposed"))
        .collect();
    assert_eq!(
        kept,
        [
            "GroupName,SkuPartNumber,DisabledPlans,Status",
            "Kiosk users,STANDARDPACK,,existing"
        ]
    );
    std::fs::write(snap.join("templates.csv"), kept.join("\n") + "\n").unwrap();
    let out = top.join("suggested");
    let o = licshift(&[
        "suggest",
        snap.to_str().unwrap(),
        "--by",
        "Department",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    for f in ["templates.csv", "members.csv"] {
        std::fs::copy(out.join(f), snap.join(f)).unwrap();
    }
    let plan = top.join("plan");
    let o = licshift(&[
        "plan",
        snap.to_str().unwrap(),
        "--out",
        plan.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Invariants I1–I4 held"),
        "{}",
        stdout(&o)
    );
    let removals = read_csv(&plan.join("waves.csv")).len();
    assert!(removals >= 1280, "{removals} removals");
    // suggest's own figure is the plan's: the engine's verdicts, not an estimate.
    assert!(
        md(&out).contains(&format!(
            "**With these templates: {removals} of 1335 direct assignments removable**"
        )),
        "{}",
        md(&out)
    );
}

#[test]
fn suggest_gives_the_same_bytes_on_one_thread_and_many() {
    let snap = fixture("contoso");
    let mut trees = Vec::new();
    for threads in ["1", "4"] {
        let out = temp_dir(&format!("suggest-threads-{threads}")).join("out");
        let o = licshift_env(
            &[
                "suggest",
                snap.to_str().unwrap(),
                "--by",
                "Department",
                "--out",
                out.to_str().unwrap(),
            ],
            &[("RAYON_NUM_THREADS", threads)],
        );
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        trees.push(read_tree(&out));
    }
    assert_eq!(trees[0], trees[1]);
}
