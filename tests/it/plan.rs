//! `licshift plan`: the folder, its determinism, the replay guard and the scripts.

use crate::util::*;
use std::collections::{BTreeMap, BTreeSet};

fn plan_into(
    name: &str,
    snapshot: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (std::process::Output, std::path::PathBuf) {
    let dir = temp_dir(name).join("plan");
    let mut args = vec!["plan", snapshot, "--out", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    (licshift_env(&args, env), dir)
}

#[test]
fn contoso_plan_files_are_pinned() {
    let (out, dir) = plan_into("contoso-plan", "fixtures/contoso", &[], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let tree = read_tree(&dir);
    let names: Vec<&str> = tree.iter().map(|(n, _)| n.as_str()).collect();
    for f in [
        "plan.json",
        "waves.csv",
        "blocked.csv",
        "diff.csv",
        "prepare.csv",
        "report.md",
        "scripts/wave-001.ps1",
        "scripts/wave-001-rollback.ps1",
    ] {
        assert!(names.contains(&f), "{f} missing from {names:?}");
    }
    // report.xlsx is read back cell by cell in review.rs; its bytes are no text to pin.
    for (name, bytes) in tree.iter().filter(|(n, _)| n != "report.xlsx") {
        if !name.starts_with("scripts/")
            || name.ends_with("001.ps1")
            || name.ends_with("001-rollback.ps1")
        {
            assert_snapshot(
                &format!("contoso-plan/{name}"),
                &String::from_utf8_lossy(bytes),
            );
        }
    }
    assert_snapshot(
        "contoso-plan-stdout.txt",
        &stdout(&out).replace(dir.to_str().unwrap(), "[OUT]"),
    );
    let plan: serde_json::Value =
        serde_json::from_slice(&tree.iter().find(|(n, _)| n == "plan.json").unwrap().1).unwrap();
    assert_eq!(plan["schema"], "licshift.plan/v2");
    assert_eq!(plan["inputs"].as_array().unwrap().len(), 8);
    assert!(plan["inputs"][0]["sha256"].as_str().unwrap().len() == 64);
    // The seal: every other file of the folder, with its SHA-256 and size, and nothing else.
    let sealed: BTreeMap<String, (String, u64)> = plan["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                (
                    f["sha256"].as_str().unwrap().to_string(),
                    f["bytes"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    let on_disk: BTreeMap<String, (String, u64)> = tree
        .iter()
        .filter(|(n, _)| n != "plan.json")
        .map(|(n, b)| {
            use sha2::Digest;
            let hex: String = sha2::Sha256::digest(b)
                .iter()
                .map(|x| format!("{x:02x}"))
                .collect();
            (n.clone(), (hex, b.len() as u64))
        })
        .collect();
    assert_eq!(sealed, on_disk);
}

/// A one-byte change to any file of the folder — a script, a CSV, the report — makes verify
/// exit 1 naming that file; so do a missing file and an added one.
#[test]
fn verify_names_any_file_changed_since_the_plan_was_sealed() {
    let (out, dir) = plan_into("sealed", "fixtures/contoso", &[], &[]);
    assert_eq!(code(&out), 0);
    let verify = || {
        licshift(&[
            "verify",
            dir.to_str().unwrap(),
            "fixtures/contoso",
            "--format",
            "json",
        ])
    };
    assert_eq!(code(&verify()), 0);
    let files: Vec<String> = read_tree(&dir)
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| n != "plan.json")
        .collect();
    assert!(files.len() >= 10, "{files:?}");
    for f in &files {
        let path = dir.join(f);
        let original = std::fs::read(&path).unwrap();
        let mut changed = original.clone();
        let at = changed.len() / 2;
        changed[at] ^= 0x20;
        std::fs::write(&path, &changed).unwrap();
        let o = verify();
        std::fs::write(&path, &original).unwrap();
        assert_eq!(code(&o), 1, "{f}: {}", stdout(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        let named = v["violations"].as_array().unwrap().iter().any(|x| {
            x["kind"] == "FOLDER_CHANGED"
                && x["detail"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{f}: changed"))
        });
        assert!(named, "{f} is not named: {}", stdout(&o));
    }
    std::fs::rename(dir.join("prepare.csv"), dir.join("prepare.bak")).unwrap();
    let o = verify();
    assert_eq!(code(&o), 1);
    let text = stdout(&o);
    assert!(text.contains("prepare.csv: is missing"), "{text}");
    assert!(
        text.contains("prepare.bak: is not part of the plan"),
        "{text}"
    );
    std::fs::rename(dir.join("prepare.bak"), dir.join("prepare.csv")).unwrap();
    // The scripts' own run/ folder (logs, group ids) is not part of the seal.
    std::fs::create_dir_all(dir.join("run")).unwrap();
    std::fs::write(dir.join("run/wave-001.log.jsonl"), "{}\n").unwrap();
    assert_eq!(code(&verify()), 0);
}

#[test]
fn one_thread_and_many_give_the_same_bytes() {
    let (a, da) = plan_into(
        "det-1",
        "fixtures/contoso",
        &[],
        &[("RAYON_NUM_THREADS", "1")],
    );
    let (b, db) = plan_into(
        "det-n",
        "fixtures/contoso",
        &[],
        &[("RAYON_NUM_THREADS", "8")],
    );
    assert_eq!((code(&a), code(&b)), (0, 0));
    assert_eq!(read_tree(&da), read_tree(&db));
    let (c, dc) = plan_into(
        "det-xlsx",
        "fixtures/contoso.xlsx",
        &[],
        &[("RAYON_NUM_THREADS", "3")],
    );
    assert_eq!(code(&c), 0, "{}", stderr(&c));
    // From the workbook every file but those that name the inputs (plan.json and the three
    // reports) is the same, and so are the scripts but for the plan id their logs record (a
    // hash of the inputs).
    let strip = |t: Vec<(String, Vec<u8>)>| {
        t.into_iter()
            .filter(|(n, _)| {
                !matches!(
                    n.as_str(),
                    "plan.json" | "report.md" | "report.html" | "report.xlsx"
                )
            })
            .map(|(n, b)| {
                let text = String::from_utf8_lossy(&b)
                    .lines()
                    .filter(|l| !l.starts_with("$PlanSha256 = '"))
                    .collect::<Vec<_>>()
                    .join("\n");
                (n, text)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(read_tree(&da)), strip(read_tree(&dc)));
}

#[test]
fn a_corrupted_replay_exits_3_and_writes_nothing() {
    use clap::Parser;
    use licshift::cli::{Cli, Command};
    // The seam: a plan with one blocked direct assignment slipped into wave 1, as an engine
    // bug would, must be refused by the replay (exit 3) with nothing published.
    let dir = temp_dir("fault").join("plan");
    let cli = Cli::parse_from([
        "licshift",
        "plan",
        "fixtures/contoso",
        "--out",
        dir.to_str().unwrap(),
    ]);
    let Command::Plan(args) = cli.command else {
        unreachable!()
    };
    let mut out = Vec::new();
    let result = licshift::commands::plan::run_with(args, &mut out, |t, o, plan| {
        let (u, d) = o
            .users
            .iter()
            .enumerate()
            .find_map(|(u, uo)| {
                uo.directs
                    .iter()
                    .find(|d| {
                        !d.verdict.is_removable() && !d.enabled(t).minus(&uo.group_plans).is_empty()
                    })
                    .map(|d| (u, d))
            })
            .expect("contoso has a blocked direct assignment");
        let user = licshift::model::UserIdx(u as u32);
        plan.waves[0].users.push(user);
        plan.waves[0].removals.push(licshift::plan::Removal {
            user,
            assignment: d.assignment,
            sku: d.sku,
            covered_by: Default::default(),
        });
    });
    let err = result.err().expect("the replay refuses the plan");
    assert_eq!(err.exit_code(), 3);
    assert!(err.to_string().contains("invariant I"), "{err}");
    assert!(!dir.exists(), "nothing may be written");
    let leftovers: Vec<_> = std::fs::read_dir(dir.parent().unwrap()).unwrap().collect();
    assert!(leftovers.is_empty(), "no temporary folder left behind");
}

fn removals(dir: &std::path::Path) -> Vec<BTreeMap<String, String>> {
    read_csv(&dir.join("waves.csv"))
}

#[test]
fn the_pilot_holds_every_shape_and_excluded_users_go_last() {
    let vip_dir = temp_dir("vip");
    let vips = vip_dir.join("vips.txt");
    std::fs::write(
        &vips,
        "# VIPs\nadele.vance.0000@contoso.com\nalex.braun.0001@contoso.com\n",
    )
    .unwrap();
    let (out, dir) = plan_into(
        "shapes",
        "fixtures/contoso",
        &["--exclude", vips.to_str().unwrap(), "--pilot", "5"],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // A shape: each direct SKU removed with its disabled plans (contoso's assignments.csv)
    // and the groups covering it (waves.csv).
    let disabled: BTreeMap<(String, String), String> =
        read_csv(&fixture("contoso/assignments.csv"))
            .into_iter()
            .filter(|r| r["AssignedByGroup"].is_empty())
            .map(|r| {
                (
                    (r["UserPrincipalName"].clone(), r["SkuId"].clone()),
                    r["DisabledPlans"].clone(),
                )
            })
            .collect();
    let rows = read_csv(&dir.join("waves.csv"));
    let last = rows
        .iter()
        .map(|r| r["wave"].parse::<u32>().unwrap())
        .max()
        .unwrap();
    let waves: Vec<Vec<&BTreeMap<String, String>>> = (1..=last)
        .map(|n| rows.iter().filter(|r| r["wave"] == n.to_string()).collect())
        .collect();
    let shape_of = |wave: &Vec<&BTreeMap<String, String>>| -> BTreeMap<String, BTreeSet<String>> {
        let mut per_user: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for r in wave {
            let key = (r["userPrincipalName"].clone(), r["skuId"].clone());
            per_user
                .entry(r["userPrincipalName"].clone())
                .or_default()
                .insert(format!(
                    "{}|{}|{}",
                    r["skuId"], disabled[&key], r["coveredBy"]
                ));
        }
        per_user
    };
    let mut all_shapes = BTreeSet::new();
    let mut vip_only = BTreeSet::new();
    for w in &waves {
        for (u, s) in shape_of(w) {
            let key = format!("{s:?}");
            if u.starts_with("adele.vance.0000") || u.starts_with("alex.braun.0001") {
                vip_only.insert(key);
            } else {
                all_shapes.insert(key);
            }
        }
    }
    let pilot: BTreeSet<String> = shape_of(&waves[0])
        .values()
        .map(|s| format!("{s:?}"))
        .collect();
    assert!(
        all_shapes.is_subset(&pilot),
        "pilot misses shapes: {:?}",
        all_shapes.difference(&pilot).collect::<Vec<_>>()
    );
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("plan.json")).unwrap()).unwrap();
    assert_eq!(
        plan["summary"]["shapes"].as_u64().unwrap() as usize,
        all_shapes.union(&vip_only).count()
    );
    let last = last.to_string();
    for r in removals(&dir) {
        let vip = r["userPrincipalName"] == "adele.vance.0000@contoso.com"
            || r["userPrincipalName"] == "alex.braun.0001@contoso.com";
        assert_eq!(vip, r["wave"] == last, "{r:?}");
    }
    // A user's removals sit in one wave.
    let mut wave_of: BTreeMap<String, String> = BTreeMap::new();
    for r in removals(&dir) {
        let w = wave_of
            .entry(r["userId"].clone())
            .or_insert(r["wave"].clone());
        assert_eq!(*w, r["wave"]);
    }
}

#[test]
fn wave_by_keeps_departments_together() {
    let (out, dir) = plan_into(
        "wave-by",
        "fixtures/contoso",
        &["--wave-by", "Department", "--max-wave", "400"],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let users = std::fs::read_to_string(fixture("contoso/users.csv")).unwrap();
    let dept: BTreeMap<String, String> = users
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            (c[2].to_string(), c[9].to_string())
        })
        .collect();
    let mut waves_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in removals(&dir).into_iter().filter(|r| r["wave"] != "1") {
        waves_of
            .entry(dept[&r["userPrincipalName"]].clone())
            .or_default()
            .insert(r["wave"].clone());
    }
    for (d, w) in &waves_of {
        assert_eq!(w.len(), 1, "department {d} spread over waves {w:?}");
    }
}

#[test]
fn refuses_to_overwrite_or_write_into_the_snapshot() {
    let (_, dir) = plan_into("force", "fixtures/contoso", &[], &[]);
    let again = licshift(&["plan", "fixtures/contoso", "--out", dir.to_str().unwrap()]);
    assert_eq!(code(&again), 2);
    assert!(message(&again).contains("--force"), "{}", stderr(&again));
    let forced = licshift(&[
        "plan",
        "fixtures/contoso",
        "--out",
        dir.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(code(&forced), 0, "{}", stderr(&forced));
    let inside = licshift(&["plan", "fixtures/contoso", "--out", "fixtures/contoso/plan"]);
    assert_eq!(code(&inside), 2);
    assert!(!fixture("contoso/plan").exists());
}

#[test]
fn fail_on_blocked_exits_1_for_pipelines() {
    let (out, _) = plan_into(
        "fail-on-blocked",
        "fixtures/contoso",
        &["--fail-on-blocked"],
        &[],
    );
    assert_eq!(code(&out), 1);
    let (out, dir) = plan_into(
        "exact",
        "fixtures/scenarios/gains-yammer",
        &["--exact"],
        &[],
    );
    assert_eq!(code(&out), 0);
    assert!(std::fs::read_to_string(dir.join("blocked.csv"))
        .unwrap()
        .contains(",GAINS,"));
}

#[test]
fn csv_cells_cannot_run_as_formulas() {
    let dir = temp_dir("injection");
    copy_dir(&fixture("scenarios/same-sku-equal"), &dir.join("snap"));
    for f in ["users.csv", "members.csv", "assignments.csv"] {
        let p = dir.join("snap").join(f);
        let s = std::fs::read_to_string(&p)
            .unwrap()
            .replace("ann@t.test", "=HYPERLINK(\"x\")@t.test");
        std::fs::write(&p, s).unwrap();
    }
    let out_dir = dir.join("plan");
    let out = licshift(&[
        "plan",
        dir.join("snap").to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--diff",
        "all",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for f in ["waves.csv", "diff.csv"] {
        let text = std::fs::read_to_string(out_dir.join(f)).unwrap();
        assert!(
            text.contains("\"'=HYPERLINK(\"\"x\"\")@t.test\""),
            "{f}: {text}"
        );
        for rec in csv::Reader::from_path(out_dir.join(f)).unwrap().records() {
            for cell in rec.unwrap().iter() {
                assert!(!cell.starts_with(['=', '+', '-', '@']), "{f}: {cell}");
            }
        }
    }
}

#[test]
fn killed_mid_write_the_folder_is_whole_or_absent() {
    // A tenant big enough that the debug build takes a while to write its plan.
    let data = temp_dir("kill-data").join("tenant");
    assert_eq!(
        code(&licshift(&[
            "generate",
            "--users",
            "20000",
            "--out",
            data.to_str().unwrap()
        ])),
        0
    );
    let out = temp_dir("kill").join("plan");
    let mut completed = false;
    for delay_ms in [
        20u64, 60, 150, 300, 600, 1000, 1600, 2500, 4000, 8000, 16000,
    ] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_licshift"))
            .args([
                "plan",
                data.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--force",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let finished = child.try_wait().unwrap().is_some();
        let _ = child.kill();
        let _ = child.wait();
        if out.exists() {
            // Whatever run put it there, it is whole.
            let plan: serde_json::Value =
                serde_json::from_slice(&std::fs::read(out.join("plan.json")).unwrap())
                    .expect("plan.json is complete");
            let waves = plan["summary"]["waves"].as_u64().unwrap();
            for f in PLAN_FILES {
                assert!(
                    out.join(f).is_file(),
                    "{f} missing after a kill at {delay_ms} ms"
                );
            }
            assert!(
                out.join(format!("scripts/wave-{waves:03}-rollback.ps1"))
                    .is_file(),
                "last script missing after a kill at {delay_ms} ms"
            );
        }
        if finished {
            completed = true;
            break;
        }
    }
    assert!(completed, "no run finished");
    assert!(out.join("report.md").is_file());
}

/// A run killed after moving the old plan aside leaves `.NAME.licshift-old-PID`; one killed
/// mid-write leaves `.NAME.licshift-tmp-PID`. The next run clears both when their process is
/// gone, and leaves a live process's alone.
#[test]
fn leftovers_of_dead_runs_are_cleared_and_live_ones_kept() {
    let top = temp_dir("leftovers");
    let out = top.join("plan");
    // No process has id 4194304 + n (Linux caps ids at 2^22); this test's own process is alive.
    let dead_old = top.join(".plan.licshift-old-4194399");
    let dead_tmp = top.join(".plan.licshift-tmp-4194398");
    let live = top.join(format!(".plan.licshift-tmp-{}", std::process::id()));
    let other = top.join(".other.licshift-old-4194397");
    for d in [&dead_old, &dead_tmp, &live, &other] {
        std::fs::create_dir_all(d.join("scripts")).unwrap();
        std::fs::write(d.join("waves.csv"), "x").unwrap();
    }
    let o = licshift(&[
        "plan",
        fixture("scenarios/same-sku-equal").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        !dead_old.exists() && !dead_tmp.exists(),
        "dead runs' folders are cleared"
    );
    assert!(live.exists(), "a live process's folder is left alone");
    assert!(
        other.exists(),
        "another plan's leftovers are not this run's to clear"
    );
    assert!(out.join("waves.csv").exists());
}

/// On a terminal a long run shows its phases (a spinner and a line per finished phase);
/// `--quiet` silences them, and a pipe (every other test here) never sees them. `script`
/// (util-linux, essential on Debian) gives the run a pseudo-terminal.
#[test]
fn progress_shows_on_a_terminal_and_quiet_silences_it() {
    let run = |quiet: bool| {
        let out = temp_dir(&format!("progress-{quiet}")).join("plan");
        let cmd = format!(
            "{} {}plan fixtures/contoso --out {}",
            env!("CARGO_BIN_EXE_licshift"),
            if quiet { "--quiet " } else { "" },
            out.display()
        );
        let o = std::process::Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .current_dir(root())
            .output()
            .expect("script runs");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let shown = run(false);
    assert!(shown.contains("licshift: ingest done in "), "{shown}");
    assert!(
        shown.contains("replaying the plan and writing the folder"),
        "{shown}"
    );
    let quiet = run(true);
    assert!(!quiet.contains("done in "), "{quiet}");
    assert!(quiet.contains("Plan written to"), "{quiet}");
    let piped = licshift(&[
        "plan",
        "fixtures/contoso",
        "--out",
        temp_dir("progress-pipe").join("plan").to_str().unwrap(),
    ]);
    assert!(!stderr(&piped).contains("done ("), "{}", stderr(&piped));
}
