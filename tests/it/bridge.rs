//! `plan --bridge`: users a conflicting license blocks, moved with one assignLicense call that
//! adds and removes together (fixtures/bridge/, contoso), and `verify` of such a plan.

use crate::scripts::parse_problem;
use crate::util::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn plan_bridge(snapshot: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let out = temp_dir(&format!("bridge-{name}")).join("plan");
    let mut args = vec![
        "plan",
        snapshot.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--bridge",
    ];
    args.extend_from_slice(extra);
    let o = licshift(&args);
    assert_eq!(code(&o), 0, "{name}: {}", stderr(&o));
    out
}

fn assert_scripts_parse(dir: &Path, name: &str) -> usize {
    let mut n = 0;
    for (path, bytes) in read_tree(dir)
        .into_iter()
        .filter(|(p, _)| p.ends_with(".ps1"))
    {
        let text =
            String::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap().to_vec()).unwrap();
        if let Some(p) = parse_problem(&text) {
            panic!("{name}/{path} does not parse: {p}");
        }
        n += 1;
    }
    n
}

/// (user, SKU) the bridge swaps away, from bridge.csv.
fn bridged(dir: &Path) -> BTreeSet<(String, String)> {
    read_csv(&dir.join("bridge.csv"))
        .into_iter()
        .flat_map(|r| {
            r["removedSkus"]
                .split(';')
                .map(|s| (r["userPrincipalName"].clone(), s.to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn check(name: &str) -> PathBuf {
    let snap = fixture(&format!("bridge/{name}"));
    let out = plan_bridge(&snap, name, &[]);
    let (got, detail) = crate::scenarios::verdicts(&out);
    let mut expected = std::collections::BTreeMap::new();
    let mut expect_bridged = BTreeSet::new();
    for line in std::fs::read_to_string(snap.join("expect.txt"))
        .unwrap()
        .lines()
    {
        let p: Vec<&str> = line.split_whitespace().collect();
        match p.as_slice() {
            ["bridged", u, s] => {
                expect_bridged.insert((u.to_string(), s.to_string()));
            }
            ["mention", u, s, text] => {
                let d = &detail[&(u.to_string(), s.to_string())];
                assert!(d.contains(text), "{name}: {u} {s} should name {text}: {d}");
            }
            [u, s, v] => {
                expected.insert((u.to_string(), s.to_string()), v.to_string());
            }
            _ => {}
        }
    }
    assert_eq!(got, expected, "{name}: verdicts");
    assert_eq!(bridged(&out), expect_bridged, "{name}: bridged");
    for f in PLAN_FILES.iter().chain(&["bridge.csv"]) {
        assert_snapshot(
            &format!("bridge/{name}/{f}"),
            &std::fs::read_to_string(out.join(f)).unwrap(),
        );
    }
    assert!(assert_scripts_parse(&out, name) >= 4);
    // The plan verifies against its snapshot: the bridge replays, the waves resolve on the
    // tenant as the bridge leaves it.
    let v = licshift(&["verify", out.to_str().unwrap(), snap.to_str().unwrap()]);
    assert_eq!(code(&v), 0, "{name}: {}{}", stdout(&v), stderr(&v));
    out
}

#[test]
fn direct_e1_against_group_e3_is_bridged() {
    let _ = check("direct-e1-group-e3");
}

#[test]
fn a_group_e1_is_pinned_then_left_then_swapped() {
    let out = check("group-e1-pinned-first");
    let rows = read_csv(&out.join("bridge.csv"));
    assert_eq!(rows[0]["source"], "group");
    assert_eq!(
        rows[0]["steps"],
        "pin direct copy; leave Kiosk; swap; reprocess"
    );
}

/// Issue #26 item 1: ann holds K directly with FORMS disabled and K again from Kiosk with
/// FORMS enabled. The pin cannot make a second direct copy: it widens ann's own to what Kiosk
/// gave, so leaving Kiosk takes FORMS away from nobody — and the script makes that very step
/// (it used to skip the pin whenever a direct copy existed).
#[test]
fn a_pin_widens_a_direct_copy_of_the_same_sku() {
    let out = check("direct-copy-widened-by-pin");
    let rows = read_csv(&out.join("bridge.csv"));
    assert_eq!(
        rows[0]["steps"],
        "pin by widening the direct copy; leave Kiosk; swap; reprocess"
    );
    assert!(rows.iter().any(|r| r["replacedPlan"] == "FORMS_PLAN_E1"));
    let script = std::fs::read_to_string(out.join("scripts/bridge.ps1")).unwrap();
    // The pin is never skipped for a direct copy: it is widened, and the wait checks the
    // widened copy disables nothing the group enabled.
    assert!(script.contains("if ($direct.Count -gt 0) { $disabled = @(Get-Disabled $direct[0] | Where-Object { @($p.Disabled) -contains $_ }) }"));
    assert!(script.contains("@($u.Pins | Where-Object { -not (Test-Pinned $s $_) }).Count -eq 0"));
    assert!(!script.contains("Where-Object { @(Get-From $states $_.Sku '').Count -eq 0 }"));
}

/// A direct copy that gives nothing (here `Disabled`) cannot pin the group's copy: re-adding it
/// is not known to revive it, so leaving the group would drop its plans until the swap. The
/// bridge refuses and says what to repair (it used to "widen" that copy and count on it).
#[test]
fn an_idle_direct_copy_is_no_pin() {
    let out = check("idle-direct-copy-is-no-pin");
    assert_eq!(read_csv(&out.join("bridge.csv")).len(), 0);
    let blocked = read_csv(&out.join("blocked.csv"));
    let ann = blocked
        .iter()
        .find(|r| r["userPrincipalName"] == "ann@t.test" && r["skuPartNumber"] == "ENTERPRISEPACK")
        .unwrap();
    assert!(
        ann["detail"].ends_with("bridge: the user's direct copy of STANDARDPACK gives nothing (Disabled or Error), so Kiosk's copy cannot be pinned and leaving Kiosk would drop its plans until the swap; remove or repair that direct copy first"),
        "{}",
        ann["detail"]
    );
}

/// The seat figures plan.json gives a SKU: (before, peak, after).
fn seats(out: &Path, sku: &str) -> (i64, i64, i64) {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("plan.json")).unwrap()).unwrap();
    let s = m["summary"]["seats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["skuPartNumber"] == sku)
        .unwrap()
        .clone();
    (
        s["before"].as_i64().unwrap(),
        s["peak"].as_i64().unwrap(),
        s["after"].as_i64().unwrap(),
    )
}

/// Issue #26 item 4: K (STANDARDPACK) is short at prepare — bob's new Kiosk seat cannot be
/// had — and the bridge swaps K away from ann: nobody holds K at the end, so its "after" is 0,
/// as a wave's removal would show (it stayed at "before").
#[test]
fn a_swapped_away_sku_short_at_prepare_is_free_after() {
    let out = check("swapped-away-sku-short");
    assert_eq!(seats(&out, "STANDARDPACK"), (1, 1, 0));
}

/// Issue #26 item 5: ann gets E3 from a prepare group, then her swap adds E3 directly: the
/// same user and SKU, no new seat. E3 has one seat: the bridge used to be refused ("1 swaps
/// need a new seat of E3, 0 are left after prepare") and the peak counted two.
#[test]
fn a_swap_adding_a_sku_held_from_a_prepare_group_takes_no_seat() {
    let out = check("seat-held-from-a-prepare-group");
    assert_eq!(seats(&out, "ENTERPRISEPACK"), (0, 1, 1));
    assert_eq!(bridged(&out).len(), 1);
}

/// Issue #26 item 3: ann holds E3 through group "E3 lite" (SharePoint disabled) and K directly;
/// "E3 group" gives E3 whole and conflicts with K. The swap adds E3 directly beside the
/// inherited copy (no new seat) and removes K; it used to be refused as "not alone".
#[test]
fn the_group_sku_held_through_another_group_is_still_bridged() {
    let out = check("group-sku-held-via-another-group");
    assert_eq!(seats(&out, "ENTERPRISEPACK"), (1, 1, 1));
}

/// Issue #26 item 2: ann holds K (E1) and Power BI directly; "E3 group" and "E5 group" both
/// fail on K, the K row naming the first, the Power BI row the second. Swapping K for E3 keeps
/// every plan and lets both groups through: she is bridged for the group her first blocked
/// row names, and the other succeeds when she is reprocessed (it used to be "not alone").
#[test]
fn two_blocked_rows_naming_two_groups_are_bridged_for_the_first() {
    let out = check("two-rows-naming-two-groups");
    let rows = read_csv(&out.join("bridge.csv"));
    assert!(rows.iter().all(|r| r["group"] == "E3 group"));
    // The E5 group's seat is asked after the bridge, when ann is reprocessed.
    assert_eq!(seats(&out, "ENTERPRISEPREMIUM"), (0, 1, 1));
    assert_eq!(seats(&out, "STANDARDPACK"), (1, 1, 0));
}

/// Issue #26 item 6: EMS has one free seat, which bob's "E3 and EMS" takes at prepare. ann,
/// bridged for "E3 group", is also in "E3 and EMS", which fails on her K at prepare and asks
/// its EMS seat only when she is reprocessed after the bridge — after bob has his. bob's
/// direct license is removable; only ann's second group is at risk (SEATS), and EMS ends with
/// bob's seat taken. It used to block bob as SEATS, both counted at prepare.
#[test]
fn a_bridged_users_second_group_asks_its_seat_after_prepare() {
    let out = check("late-seat-after-prepare");
    assert_eq!(seats(&out, "EMS"), (1, 2, 2));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("| E3 and EMS | SEATS | 1 |"), "{report}");
}

#[test]
fn a_removed_plan_without_counterpart_stays_conflict() {
    let out = check("removed-plan-without-counterpart");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("**0 users bridged, 1 not.**"), "{report}");
    assert!(report.contains("would take YAMMER_ENTERPRISE with no plan added that supersedes it"));
}

#[test]
fn seats_for_only_one_bridge_block_the_next_user() {
    let _ = check("seats-for-one-bridge");
}

#[test]
fn every_bridge_fixture_has_a_test() {
    let mut dirs: Vec<String> = std::fs::read_dir(fixture("bridge"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    assert_eq!(
        dirs,
        [
            "direct-copy-widened-by-pin",
            "direct-e1-group-e3",
            "group-e1-pinned-first",
            "group-sku-held-via-another-group",
            "idle-direct-copy-is-no-pin",
            "late-seat-after-prepare",
            "removed-plan-without-counterpart",
            "seat-held-from-a-prepare-group",
            "seats-for-one-bridge",
            "swapped-away-sku-short",
            "two-rows-naming-two-groups"
        ]
    );
}

const HR_STORE_USERS: [&str; 4] = [
    "omer.razor.0299@contoso.com",
    "wout.deyoung.0296@contoso.com",
    "yara.archie.0297@contoso.com",
    "zoe.holloway.0298@contoso.com",
];

/// Kiosk users' E1 gives YAMMER_ENTERPRISE, which HR's E3 disables: without a rule that
/// something supersedes it, the swap would take Yammer away, so the four stay blocked and the
/// report names the plan.
#[test]
fn contoso_bridge_keeps_the_store_users_whose_yammer_would_go() {
    let out = plan_bridge(&fixture("contoso"), "contoso-plain", &[]);
    assert!(bridged(&out).is_empty());
    let blocked = read_csv(&out.join("blocked.csv"));
    for u in HR_STORE_USERS {
        let row = blocked
            .iter()
            .find(|r| r["userPrincipalName"] == u && r["skuPartNumber"] == "ENTERPRISEPACK")
            .unwrap();
        assert_eq!(row["reason"], "CONFLICT");
        assert!(
            row["detail"].contains("would take YAMMER_ENTERPRISE"),
            "{}",
            row["detail"]
        );
    }
}

/// With a rules file saying Viva Engage Core supersedes Yammer Enterprise (the engineer's
/// call, signed in the report), the four HR store users are bridged from Kiosk users' E1; their
/// ENTERPRISEPACK goes in a wave after the bridge, and the whole plan replays and verifies.
#[test]
fn contoso_bridge_moves_the_hr_store_users_when_viva_engage_supersedes_yammer() {
    let rules = fixture("bridge/contoso-viva-engage.csv");
    let rules = rules.to_str().unwrap();
    let out = plan_bridge(&fixture("contoso"), "contoso-viva", &["--rules", rules]);
    let swapped: BTreeSet<String> = bridged(&out)
        .into_iter()
        .map(|(u, s)| {
            assert_eq!(s, "STANDARDPACK");
            u
        })
        .collect();
    assert_eq!(
        swapped,
        HR_STORE_USERS.iter().map(|s| s.to_string()).collect()
    );
    let rows = read_csv(&out.join("bridge.csv"));
    assert!(rows
        .iter()
        .all(|r| r["source"] == "group" && r["addedSkus"] == "ENTERPRISEPACK"));
    assert!(rows
        .iter()
        .any(|r| r["replacedPlan"] == "YAMMER_ENTERPRISE"
            && r["supersedingPlan"] == "VIVAENGAGE_CORE"));
    assert!(rows
        .iter()
        .any(|r| r["replacedPlan"] == "SHAREPOINTSTANDARD"
            && r["supersedingPlan"] == "SHAREPOINTENTERPRISE"));
    let waves = read_csv(&out.join("waves.csv"));
    for u in HR_STORE_USERS {
        assert!(
            waves
                .iter()
                .any(|r| r["userPrincipalName"] == u && r["skuPartNumber"] == "ENTERPRISEPACK"),
            "{u}'s ENTERPRISEPACK is removed in a wave"
        );
    }
    let blocked = read_csv(&out.join("blocked.csv"));
    assert!(!blocked.iter().any(|r| r["reason"] == "CONFLICT"));
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("plan.json")).unwrap()).unwrap();
    assert_eq!(plan["options"]["bridge"], true);
    assert_eq!(plan["stages"][1]["stage"], "bridge");
    assert_eq!(plan["stages"][1]["users"], 4);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("| YAMMER_ENTERPRISE | VIVAENGAGE_CORE | 4 |"));
    assert!(assert_scripts_parse(&out, "contoso-viva") >= 8);
    let v = licshift(&[
        "verify",
        out.to_str().unwrap(),
        fixture("contoso").to_str().unwrap(),
        "--rules",
        rules,
    ]);
    assert_eq!(code(&v), 0, "{}{}", stdout(&v), stderr(&v));
}

/// Without --bridge nothing changes: no bridge file, no bridge option in plan.json (the pinned
/// contoso plan in plan.rs holds the rest byte for byte).
#[test]
fn without_bridge_there_is_no_bridge_stage() {
    let out = temp_dir("bridge-off").join("plan");
    let o = licshift(&[
        "plan",
        fixture("contoso").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0);
    assert!(!out.join("bridge.csv").exists());
    assert!(!out.join("scripts/bridge.ps1").exists());
    let plan = std::fs::read_to_string(out.join("plan.json")).unwrap();
    assert!(!plan.contains("bridge"));
}

/// A reviewer who removes the bridged user's conflicting E1 in a wave instead — before the
/// bridge would swap it — gets exit 1: on its own that removal loses plans.
#[test]
fn a_hand_edit_that_removes_a_bridged_license_in_a_wave_fails_verify() {
    let snap = fixture("bridge/direct-e1-group-e3");
    let out = plan_bridge(&snap, "hand-edit", &[]);
    let waves = std::fs::read_to_string(out.join("waves.csv")).unwrap();
    let ann = read_csv(&out.join("waves.csv"))[0]["userId"].clone();
    let edited = format!(
        "{waves}1,{ann},ann@t.test,18181a46-0d4e-45cd-891e-60aabd171b4e,STANDARDPACK,E3 group\n"
    );
    let file = out.parent().unwrap().join("edited-waves.csv");
    std::fs::write(&file, edited).unwrap();
    let plan_copy = out.parent().unwrap().join("edited");
    copy_dir(&out, &plan_copy);
    std::fs::copy(&file, plan_copy.join("waves.csv")).unwrap();
    // The edited waves.csv is named as PLAN: the rest of the folder is checked against its seal.
    let edited_waves = plan_copy.join("waves.csv");
    let v = licshift(&[
        "verify",
        edited_waves.to_str().unwrap(),
        snap.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code(&v), 1, "{}", stdout(&v));
    let result: serde_json::Value = serde_json::from_str(&stdout(&v)).unwrap();
    let kinds: Vec<&str> = result["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["REMOVED_BY_BRIDGE"], "{}", stdout(&v));
}

/// A fresh export taken after bridge.ps1: the user holds E3 directly and from the group, no E1.
fn fresh_after_bridge(name: &str, swapped: bool) -> PathBuf {
    let snap = fixture("bridge/direct-e1-group-e3");
    let fresh = temp_dir(name).join("fresh");
    copy_dir(&snap, &fresh);
    if swapped {
        let group_id = read_csv(&snap.join("groups.csv"))[0]["Id"].clone();
        std::fs::write(
            fresh.join("assignments.csv"),
            format!("UserPrincipalName,SkuPartNumber,AssignedByGroup,DisabledPlans,State,Error\nann@t.test,ENTERPRISEPACK,,,Active,None\nann@t.test,ENTERPRISEPACK,{group_id},,Active,None\n"),
        )
        .unwrap();
    }
    fresh
}

#[test]
fn verify_stage_bridge_checks_the_swap_in_a_fresh_export() {
    let snap = fixture("bridge/direct-e1-group-e3");
    let out = plan_bridge(&snap, "stage", &[]);
    let run = |fresh: &Path| {
        licshift(&[
            "verify",
            out.to_str().unwrap(),
            snap.to_str().unwrap(),
            "--stage",
            "bridge",
            fresh.to_str().unwrap(),
            "--format",
            "json",
        ])
    };
    let done = run(&fresh_after_bridge("bridge-fresh-done", true));
    assert_eq!(code(&done), 0, "{}{}", stdout(&done), stderr(&done));
    let not_run = run(&fresh_after_bridge("bridge-fresh-not-run", false));
    assert_eq!(code(&not_run), 1);
    let result: serde_json::Value = serde_json::from_str(&stdout(&not_run)).unwrap();
    assert!(result["violations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["kind"] == "BRIDGE_NOT_DONE"
            && v["detail"]
                .as_str()
                .unwrap()
                .contains("still holds STANDARDPACK directly")));
    // A plan made without --bridge has no bridge stage to check.
    let plain = temp_dir("bridge-stage-plain").join("plan");
    assert_eq!(
        code(&licshift(&[
            "plan",
            snap.to_str().unwrap(),
            "--out",
            plain.to_str().unwrap()
        ])),
        0
    );
    let o = licshift(&[
        "verify",
        plain.to_str().unwrap(),
        snap.to_str().unwrap(),
        "--stage",
        "bridge",
        snap.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 2);
}

/// The bridge script against the Graph API's documented behaviour, line by line: a live
/// re-check, the pin and the membership removal for a group's license, ONE assignLicense call
/// that adds and removes, then reprocessLicenseAssignment; the rollback reads the log.
#[test]
fn the_bridge_script_rechecks_live_swaps_in_one_call_and_reprocesses() {
    let out = plan_bridge(&fixture("bridge/group-e1-pinned-first"), "script", &[]);
    let text = |f: &str| {
        let b = std::fs::read(out.join(f)).unwrap();
        assert!(b.starts_with(b"\xEF\xBB\xBF"), "{f}: BOM");
        String::from_utf8(b[3..].to_vec()).unwrap()
    };
    let s = text("scripts/bridge.ps1");
    assert!(s.contains("$states = Get-LiveStates $u.Id"));
    assert!(s.contains("foreach ($e in $u.Expect)"));
    assert!(
        s.contains("$reason = ('the user no longer holds SKU {0} as planned' -f $e.Sku); break")
    );
    assert!(s.contains("@{ addLicenses = $pin; removeLicenses = @() }"));
    assert!(s.contains("Invoke-Graph 'DELETE' ('/v1.0/groups/{0}/members/{1}/$ref' -f $g, $u.Id)"));
    assert!(s.contains("@{ addLicenses = $add; removeLicenses = @($u.Remove) }"));
    assert_eq!(
        s.matches("/assignLicense").count(),
        2,
        "the pin and the swap"
    );
    assert!(
        s.contains("Invoke-Graph 'POST' ('/v1.0/users/{0}/reprocessLicenseAssignment' -f $u.Id)")
    );
    assert!(s.contains(
        "@('GroupMember.ReadWrite.All', 'Group.ReadWrite.All', 'Directory.ReadWrite.All')"
    ));
    assert!(s.contains("@('User.ReadWrite.All', 'Directory.ReadWrite.All')"));
    assert!(
        s.contains("if (Test-Swapped $states $u) {"),
        "a re-run counts a swapped user as done"
    );
    // The data: ann's Kiosk E1 expected from the Kiosk group, pinned, left; E3 added.
    let kiosk = read_csv(&fixture("bridge/group-e1-pinned-first").join("groups.csv"))
        .into_iter()
        .find(|r| r["DisplayName"] == "Kiosk")
        .unwrap()["Id"]
        .clone();
    assert!(s.contains(&format!("Expect = @(@{{ Sku = '18181a46-0d4e-45cd-891e-60aabd171b4e'; Group = '{kiosk}'; Disabled = @() }})")));
    assert!(s.contains(&format!("Leave = @('{kiosk}')")));
    assert!(
        s.contains("Add = @(@{ Sku = '6fd2c87f-b296-42f0-b197-1e91e994b900'; Disabled = @() })")
    );
    assert!(s.contains("Remove = @('18181a46-0d4e-45cd-891e-60aabd171b4e')"));
    let r = text("scripts/bridge-rollback.ps1");
    assert!(
        r.contains("$rec.type -eq 'user' -and $rec.action -eq 'swap' -and @('done', 'failed') -contains $rec.outcome")
    );
    assert!(r.contains("@{ addLicenses = $add; removeLicenses = $remove }"));
    assert!(r.contains("Invoke-Graph 'POST' ('/v1.0/groups/{0}/members/$ref' -f $g) $body"));
    assert!(!r.contains("ann@t.test"), "the rollback holds no user data");
}

/// A generated tenant with --bridge: 1 and 4 threads give the same bytes, and verify agrees.
#[test]
fn a_generated_tenant_plans_the_same_bridge_on_any_thread_count() {
    let top = temp_dir("bridge-generated");
    let snap = top.join("snap");
    let g = licshift(&[
        "generate",
        "--users",
        "2000",
        "--out",
        snap.to_str().unwrap(),
    ]);
    assert_eq!(code(&g), 0, "{}", stderr(&g));
    let mut trees = Vec::new();
    for threads in ["1", "4"] {
        let out = top.join(format!("plan-{threads}"));
        let o = licshift_env(
            &[
                "plan",
                snap.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--bridge",
            ],
            &[("RAYON_NUM_THREADS", threads)],
        );
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        trees.push(read_tree(&out));
    }
    assert!(trees[0] == trees[1], "1 and 4 threads differ");
    let out = top.join("plan-4");
    let v = licshift(&["verify", out.to_str().unwrap(), snap.to_str().unwrap()]);
    assert_eq!(code(&v), 0, "{}", stdout(&v));
}

/// Issue #26 item 7: a CONFLICT row's "would cover" names only plans the group enables (E3
/// has no BPOS_S_TODO_1, E1's To Do), and with --tenant-location the warning for users without
/// a location names the location in force.
#[test]
fn conflict_details_name_what_the_group_gives_and_the_location_in_force() {
    let out = temp_dir("bridge-words").join("plan");
    let o = licshift(&[
        "plan",
        "fixtures/scenarios/e1-direct-e3-group",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let rows = read_csv(&out.join("blocked.csv"));
    let conflict = rows
        .iter()
        .find(|r| r["reason"] == "CONFLICT")
        .expect("a CONFLICT row");
    let covered = conflict["detail"].split(", but ").next().unwrap();
    assert!(covered.contains("would cover"), "{covered}");
    assert!(
        !covered.contains("BPOS_S_TODO_1"),
        "E3 does not give it: {covered}"
    );

    let snap = temp_dir("bridge-words-location");
    copy_dir(&fixture("scenarios/usage-location"), &snap);
    let _ = std::fs::remove_file(snap.join("organization.csv"));
    let o = licshift(&["inspect", snap.to_str().unwrap(), "--tenant-location", "US"]);
    let text = stdout(&o);
    assert!(
        text.contains("gives them the tenant's location, US"),
        "{text}"
    );
    assert!(!text.contains("with no tenant location"), "{text}");
}
