//! Issue #25: every "go" is earned — verify's false all-clears, and a newcomer's first week.
//! One test per item (items 4, 7, 8, 10 and 17 are held by `hardening`, `scenarios`, `verify`,
//! `formats`/`graph_json` and `docs`).

use crate::util::*;
use std::path::{Path, PathBuf};

const BASE: &str = "fixtures/verify/baseline";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The verify baseline's plan (8 users in waves of 2, as fixtures/verify/make.py made it).
fn base_plan(name: &str) -> PathBuf {
    let dir = temp_dir(name).join("plan");
    let o = licshift(&[
        "plan",
        BASE,
        "--out",
        s(&dir),
        "--pilot",
        "2",
        "--growth",
        "1",
        "--max-wave",
        "2",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    dir
}

/// Item 1: a FRESH export without --after or --stage was ignored (ALL CLEAR, exit 0).
#[test]
fn a_fresh_export_without_a_mode_is_a_usage_error() {
    let plan = base_plan("go-fresh-no-mode");
    let o = licshift(&[
        "verify",
        s(&plan),
        BASE,
        "fixtures/verify/after-wave-1-countviolation",
    ]);
    assert_eq!(code(&o), 2, "{}", stdout(&o));
    let m = message(&o);
    assert!(
        m.contains("--stage prepare|bridge FRESH") && m.contains("--after WAVE FRESH"),
        "{m}"
    );
    assert!(!stdout(&o).contains("ALL CLEAR"));
}

/// Item 2: `--after` beyond the last wave, or 0, was accepted.
#[test]
fn after_a_wave_the_plan_does_not_have_is_a_usage_error() {
    let plan = base_plan("go-after-range");
    let waves = read_csv(&plan.join("waves.csv"))
        .iter()
        .map(|r| r["wave"].parse::<u32>().unwrap())
        .max()
        .unwrap();
    for wave in ["0".to_string(), (waves + 1).to_string()] {
        let o = licshift(&[
            "verify",
            s(&plan),
            BASE,
            "--after",
            &wave,
            "fixtures/verify/after-wave-1-drift",
        ]);
        assert_eq!(code(&o), 2, "--after {wave}: {}", stdout(&o));
        assert!(
            message(&o).contains(&format!("the plan has {waves} wave(s)")),
            "{}",
            message(&o)
        );
    }
}

/// Item 3: with a violation, the next-wave line said "safe to run" all the same.
#[test]
fn no_safe_to_run_beside_a_violation() {
    let plan = base_plan("go-next-wave");
    let o = licshift(&[
        "verify",
        s(&plan),
        BASE,
        "--after",
        "1",
        "fixtures/verify/after-wave-1-countviolation",
    ]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let text = stdout(&o);
    assert!(text.contains("Next wave 2"), "{text}");
    assert!(!text.contains("safe to run"), "{text}");
    assert!(text.contains("NO-GO: "), "{text}");
    let o = licshift(&[
        "verify",
        s(&plan),
        BASE,
        "--after",
        "1",
        "fixtures/verify/after-wave-1-countviolation",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["nextWave"]["safe"], false, "{v}");
    assert!(
        v["nextWave"]["why"].as_str().unwrap().contains("violation"),
        "{v}"
    );
}

/// Item 5: a plan made with --rules failed every later verify that did not repeat --rules.
#[test]
fn verify_uses_the_plans_own_rules_file() {
    let plan = temp_dir("go-rules").join("plan");
    let o = plan_contoso_bridged(&plan);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = licshift(&["verify", s(&plan), "fixtures/contoso"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o)
            .contains("rules: the plan's own rules file fixtures/bridge/contoso-viva-engage.csv"),
        "{}",
        stdout(&o)
    );
    // The same for `licshift scripts`.
    let o = licshift(&[
        "scripts",
        s(&plan),
        "fixtures/contoso",
        "--waves",
        s(&plan.join("waves.csv")),
        "--out",
        s(&plan.parent().unwrap().join("scripts")),
    ]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
}

/// Item 6: drift listed pending users whose state was the baseline's: what the executed waves
/// may have left either way is no drift.
#[test]
fn drift_holds_only_what_the_plan_did_not_do() {
    let plan = base_plan("go-drift");
    let fresh = temp_dir("go-drift-fresh");
    copy_dir(&root().join("fixtures/verify/after-wave-1-drift"), &fresh);
    // One removal of wave 1 the wave skipped: the user still holds the direct assignment.
    let wave1 = read_csv(&plan.join("waves.csv"))
        .into_iter()
        .find(|r| r["wave"] == "1")
        .unwrap();
    let base_rows = std::fs::read_to_string(root().join(BASE).join("assignments.csv")).unwrap();
    let header = base_rows.lines().next().unwrap().to_string();
    let row = base_rows
        .lines()
        .find(|l| {
            l.contains(&wave1["userPrincipalName"])
                && l.contains(&wave1["skuId"])
                && l.contains(",,")
        })
        .unwrap_or_else(|| panic!("{header}\n{base_rows}"))
        .to_string();
    let mut fresh_rows = std::fs::read_to_string(fresh.join("assignments.csv")).unwrap();
    if !fresh_rows.ends_with('\n') {
        fresh_rows.push('\n');
    }
    fresh_rows.push_str(&row);
    fresh_rows.push('\n');
    std::fs::write(fresh.join("assignments.csv"), fresh_rows).unwrap();
    let o = licshift(&[
        "verify",
        s(&plan),
        BASE,
        "--after",
        "1",
        s(&fresh),
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let pending: Vec<&str> = v["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["user"].as_str().unwrap())
        .collect();
    assert!(
        pending.contains(&wave1["userPrincipalName"].as_str()),
        "{v}"
    );
    let drift: Vec<&str> = v["drift"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["user"].as_str().unwrap())
        .collect();
    assert!(
        !drift.contains(&wave1["userPrincipalName"].as_str()),
        "{drift:?}"
    );
    // What really changed outside the plan is still there.
    assert!(
        drift.contains(&"u7@fabrikam.test") && drift.contains(&"u9@fabrikam.test"),
        "{drift:?}"
    );
}

/// Item 9: the change record ties a go to a specific export.
#[test]
fn the_change_record_names_the_exports_their_digests_and_the_time() {
    let plan = base_plan("go-record");
    let record = plan.parent().unwrap().join("wave-1.md");
    let fresh = root().join("fixtures/verify/after-wave-1-drift");
    let o = licshift(&[
        "verify",
        s(&plan),
        BASE,
        "--after",
        "1",
        s(&fresh),
        "--report",
        s(&record),
    ]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let md = std::fs::read_to_string(&record).unwrap();
    let plan_sha = licshift::ingest::sha256(&std::fs::read(plan.join("plan.json")).unwrap());
    let users_sha = licshift::ingest::sha256(&std::fs::read(fresh.join("users.csv")).unwrap());
    assert!(
        md.contains(&format!("plan.json SHA-256 `{plan_sha}`")),
        "{md}"
    );
    assert!(
        md.contains("- fresh export: `") && md.contains(&users_sha),
        "{md}"
    );
    assert!(md.contains("- checked at: 20"), "{md}");
    assert!(md.contains("taken 20"), "{md}");
}

/// Item 12: the terminal summary says what a reviewer must see, with thousands separators.
#[test]
fn the_plan_summary_says_seats_short_and_taken_and_the_skipped_workbook() {
    let dir = temp_dir("go-summary");
    let o = licshift(&["generate", "--users", "5000", "--out", s(&dir.join("t"))]);
    assert_eq!(code(&o), 0);
    let o = licshift(&["plan", s(&dir.join("t")), "--out", s(&dir.join("p"))]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("Short of seats: "), "{text}");
    assert!(
        text.contains("New seats taken at the peak (after prepare): "),
        "{text}"
    );
    let headline = text.lines().nth(2).unwrap();
    assert!(headline.contains(','), "thousands separators: {headline}");
    // The workbook skipped above its limit is said, with how to get it:
    // review::a_large_plan_writes_the_workbook_only_with_xlsx.
    // --bridge: what it did.
    let o = plan_contoso_bridged(&dir.join("b"));
    assert!(
        stdout(&o).contains("Bridge: 4 users swap"),
        "{}",
        stdout(&o)
    );
}

/// Item 13: --max-wave caps users (the help says so), and a plan of more than 50 waves says
/// which --max-wave gives about 20, in the summary and report.md.
#[test]
fn many_waves_come_with_the_max_wave_that_gives_about_twenty() {
    let dir = temp_dir("go-many-waves");
    let o = licshift(&[
        "plan",
        "fixtures/contoso",
        "--out",
        s(&dir),
        "--max-wave",
        "10",
        "--pilot",
        "10",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    let advice = text
        .lines()
        .find(|l| l.contains("would give about 20"))
        .unwrap_or_else(|| panic!("{text}"));
    let cap: usize = advice
        .split("--max-wave ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .replace(',', "")
        .parse()
        .unwrap();
    assert!(std::fs::read_to_string(dir.join("report.md"))
        .unwrap()
        .contains(advice));
    // Taking the advice gives about 20 waves, and every wave holds at most that many users.
    let again = temp_dir("go-many-waves-again");
    let o = licshift(&[
        "plan",
        "fixtures/contoso",
        "--out",
        s(&again),
        "--max-wave",
        &cap.to_string(),
        "--pilot",
        "10",
    ]);
    assert_eq!(code(&o), 0);
    let rows = read_csv(&again.join("waves.csv"));
    let mut users: std::collections::BTreeMap<&str, std::collections::BTreeSet<&str>> =
        Default::default();
    for r in &rows {
        users.entry(&r["wave"]).or_default().insert(&r["userId"]);
    }
    assert!(
        (15..=25).contains(&users.len()),
        "{} waves with --max-wave {cap}",
        users.len()
    );
    assert!(users.values().all(|u| u.len() <= cap.max(10)));
    let help = stdout(&licshift(&["plan", "--help"]));
    assert!(help.contains("Largest wave, in users"), "{help}");
}

/// Item 14: suggest builds on the snapshot's proposed lines, or replaces them when told, and
/// says which.
#[test]
fn suggest_builds_on_proposed_lines_or_replaces_them() {
    let dir = temp_dir("go-suggest-proposed");
    let o = licshift(&[
        "suggest",
        "fixtures/contoso",
        "--by",
        "Department",
        "--out",
        s(&dir.join("on")),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let kept = std::fs::read_to_string(dir.join("on/templates.csv")).unwrap();
    assert!(
        kept.contains("HR Department,ENTERPRISEPACK,YAMMER_ENTERPRISE,proposed"),
        "{kept}"
    );
    assert!(
        !kept.contains("LIC Finance ENTERPRISEPACK"),
        "Finance department's own line covers them: {kept}"
    );
    let md = std::fs::read_to_string(dir.join("on/suggest.md")).unwrap();
    assert!(
        md.contains("built on the snapshot's 4 proposed template lines"),
        "{md}"
    );
    let o = licshift(&[
        "suggest",
        "fixtures/contoso",
        "--by",
        "Department",
        "--replace-proposed",
        "--out",
        s(&dir.join("replaced")),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let md = std::fs::read_to_string(dir.join("replaced/suggest.md")).unwrap();
    assert!(
        md.contains("proposed template lines replaced (--replace-proposed)"),
        "{md}"
    );
    let replaced = std::fs::read_to_string(dir.join("replaced/templates.csv")).unwrap();
    assert!(!replaced.contains("YAMMER_ENTERPRISE"), "{replaced}");
}

/// Item 15: every argument and option has a line of help; `rules` offers no simulation option
/// it does not use; `suggest --by Dept` names --by and offers Department; a file given for a
/// folder is said once.
#[test]
fn help_for_everything_and_messages_that_name_the_right_flag() {
    use clap::CommandFactory;
    let cli = licshift::cli::Cli::command();
    let mut missing = Vec::new();
    for sub in cli.get_subcommands() {
        for arg in sub.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                missing.push(format!("{} {id}", sub.get_name()));
            }
        }
    }
    assert!(missing.is_empty(), "no help: {missing:?}");
    let rules = cli.find_subcommand("rules").unwrap();
    let names: Vec<&str> = rules.get_arguments().map(|a| a.get_id().as_str()).collect();
    assert!(
        !names.contains(&"tenant_location") && !names.contains(&"seat_formula"),
        "{names:?}"
    );

    let o = licshift(&[
        "suggest",
        "fixtures/contoso",
        "--by",
        "Dept",
        "--out",
        s(&temp_dir("go-dept")),
    ]);
    assert_eq!(code(&o), 2);
    let m = message(&o);
    assert!(m.contains("--by `Dept`") && !m.contains("--wave-by"), "{m}");
    assert!(m.contains("did you mean `Department`?"), "{m}");

    let o = licshift(&[
        "plan",
        "fixtures/contoso/users.csv",
        "--out",
        s(&temp_dir("go-file")),
    ]);
    assert_eq!(code(&o), 2);
    let m = message(&o);
    assert_eq!(m.matches("is a file, not a folder").count(), 1, "{m}");
    assert!(!m.contains("no `skus` file"), "{m}");
}

/// Item 16: JSON keys are camelCase in inspect, diff and verify.
#[test]
fn json_keys_are_camel_case_everywhere() {
    fn keys(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    out.push(k.clone());
                    keys(x, out);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| keys(x, out)),
            _ => {}
        }
    }
    let plan = base_plan("go-camel");
    for args in [
        vec!["inspect", BASE, "--format", "json"],
        vec!["diff", BASE, "--format", "json", "--diff", "all"],
        vec!["verify", s(&plan), BASE, "--format", "json"],
        vec![
            "verify",
            s(&plan),
            BASE,
            "--after",
            "1",
            "fixtures/verify/after-wave-1-drift",
            "--format",
            "json",
        ],
    ] {
        let o = licshift(&args);
        assert!(code(&o) <= 1, "{args:?}: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        let mut all = Vec::new();
        keys(&v, &mut all);
        assert!(!all.is_empty());
        let snake: Vec<&String> = all.iter().filter(|k| k.contains('_')).collect();
        assert!(snake.is_empty(), "{args:?}: {snake:?}");
    }
}
