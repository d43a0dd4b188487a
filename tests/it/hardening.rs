//! Issue #24: nothing of the user's is ever overwritten, and no input can crash, hang or fool
//! verify. One test per finding of the second hostile-input campaign.

use crate::util::*;
use std::path::{Path, PathBuf};

const BASE: &str = "fixtures/verify/baseline";

/// A copy of the small verify baseline and its plan, in a folder of their own.
fn snapshot_and_plan(name: &str) -> (PathBuf, PathBuf) {
    let dir = temp_dir(name);
    let snap = dir.join("snap");
    copy_dir(&root().join(BASE), &snap);
    let plan = dir.join("plan");
    let o = licshift(&[
        "plan",
        snap.to_str().unwrap(),
        "--out",
        plan.to_str().unwrap(),
        "--pilot",
        "2",
        "--growth",
        "1",
        "--max-wave",
        "2",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    (snap, plan)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

// ---- 1–3: one write rule for every command -------------------------------------------------

/// Item 1: `scripts … --out SNAP --force` (or the plan folder) left SNAP holding only scripts/.
#[test]
fn scripts_never_replaces_its_inputs_even_with_force() {
    let (snap, plan) = snapshot_and_plan("hard-scripts-inputs");
    let before = read_tree(&snap);
    let plan_before = read_tree(&plan);
    let waves = plan.join("waves.csv");
    for target in [&snap, &plan, &snap.join("inner"), &plan.join("run")] {
        let o = licshift(&[
            "scripts",
            s(&plan),
            s(&snap),
            "--waves",
            s(&waves),
            "--out",
            s(target),
            "--force",
        ]);
        assert_eq!(code(&o), 2, "--out {}: {}", target.display(), stderr(&o));
        assert!(
            message(&o).contains("never writes into, or replaces, one of its inputs"),
            "{}",
            message(&o)
        );
    }
    // The parent of the snapshot holds it: replacing that would delete the snapshot too.
    let o = licshift(&[
        "plan",
        s(&snap),
        "--out",
        s(snap.parent().unwrap()),
        "--force",
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert_eq!(read_tree(&snap), before);
    assert_eq!(read_tree(&plan), plan_before);
}

/// Item 2: an --out that is a FIFO, a socket, a dangling link or a file is refused, with or
/// without --force, and left as it was; --force replaces only a folder licshift wrote.
#[cfg(unix)]
#[test]
fn force_replaces_only_a_folder_licshift_wrote() {
    use std::os::unix::fs::FileTypeExt;
    let dir = temp_dir("hard-force-kinds");
    let fifo = dir.join("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let dangling = dir.join("dangling");
    std::os::unix::fs::symlink(dir.join("nowhere"), &dangling).unwrap();
    let link_to_dir = dir.join("link-to-dir");
    std::fs::create_dir(dir.join("real")).unwrap();
    std::os::unix::fs::symlink(dir.join("real"), &link_to_dir).unwrap();
    let file = dir.join("file.txt");
    std::fs::write(&file, "mine").unwrap();
    let sock = dir.join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    for target in [&fifo, &dangling, &link_to_dir, &file, &sock] {
        for force in [false, true] {
            let mut args = vec!["plan", BASE, "--out", s(target)];
            if force {
                args.push("--force");
            }
            let o = licshift(&args);
            assert_eq!(code(&o), 2, "{} force={force}", target.display());
        }
    }
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    assert!(std::fs::symlink_metadata(&dangling)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");
    // Nothing moved aside and left behind.
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("licshift-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // A folder of the user's own, not empty: not even --force replaces it.
    let mine = dir.join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("notes.txt"), "keep").unwrap();
    let o = licshift(&["plan", BASE, "--out", s(&mine), "--force"]);
    assert_eq!(code(&o), 2);
    assert!(
        message(&o).contains("not a folder licshift wrote"),
        "{}",
        message(&o)
    );
    assert_eq!(
        std::fs::read_to_string(mine.join("notes.txt")).unwrap(),
        "keep"
    );
    // A plan folder: --force replaces it.
    let plan = dir.join("plan");
    assert_eq!(code(&licshift(&["plan", BASE, "--out", s(&plan)])), 0);
    assert_eq!(
        code(&licshift(&["plan", BASE, "--out", s(&plan), "--force"])),
        0
    );
    // A generated snapshot: --force replaces it too.
    let generated = dir.join("generated");
    for force in [false, true] {
        let mut args = vec!["generate", "--users", "20", "--out", s(&generated)];
        if force {
            args.push("--force");
        }
        assert_eq!(code(&licshift(&args)), 0);
    }
}

/// Item 3: verify's --pending and --report never land on an input.
#[test]
fn verify_never_writes_its_files_over_an_input() {
    let (snap, plan) = snapshot_and_plan("hard-verify-outputs");
    let snap_before = read_tree(&snap);
    let plan_before = read_tree(&plan);
    let fresh = root().join("fixtures/verify/after-wave-1-drift");
    for (flag, target) in [
        ("--pending", snap.join("users.csv")),
        ("--pending", plan.join("waves.csv")),
        ("--report", plan.join("report.md")),
        ("--report", snap.join("new-file.md")),
        ("--report", fresh.join("report.md")),
    ] {
        let o = licshift(&[
            "verify",
            s(&plan),
            s(&snap),
            "--after",
            "1",
            s(&fresh),
            flag,
            s(&target),
        ]);
        assert_eq!(code(&o), 2, "{flag} {}: {}", target.display(), stderr(&o));
        assert!(
            message(&o).contains("would write into or replace"),
            "{}",
            message(&o)
        );
    }
    assert_eq!(read_tree(&snap), snap_before);
    assert_eq!(read_tree(&plan), plan_before);
    assert!(!fresh.join("report.md").exists());
    // Beside the inputs, both are written.
    let out = temp_dir("hard-verify-outputs-ok");
    let o = licshift(&[
        "verify",
        s(&plan),
        s(&snap),
        "--report",
        s(&out.join("record.md")),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(out.join("record.md").is_file());
}

// ---- 4–7: verify that could be fooled, hung or crashed -------------------------------------

/// Item 4: every input is recorded and checked by its path. A Graph JSON snapshot with
/// suggest's members.csv beside its members.json verifies; a file added after planning is a
/// change.
#[test]
fn inputs_are_checked_by_path_not_by_kind() {
    let json = crate::graph_json::json_form(&root().join(BASE), "hard-by-path");
    let dir = temp_dir("hard-by-path-run");
    let snap = dir.join("snap");
    copy_dir(&json, &snap);
    // A second members source beside the first: the path a real tenant takes.
    std::fs::write(
        snap.join("members.csv"),
        "GroupName,UserPrincipalName\nOffice,u1@fabrikam.test\n",
    )
    .unwrap();
    let plan = dir.join("plan");
    let o = licshift(&["plan", s(&snap), "--out", s(&plan)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = licshift(&["verify", s(&plan), s(&snap)]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));

    // Planned without members.csv; the same file added afterwards is noticed.
    let plain = dir.join("plain");
    copy_dir(&json, &plain);
    let plan2 = dir.join("plan2");
    assert_eq!(code(&licshift(&["plan", s(&plain), "--out", s(&plan2)])), 0);
    std::fs::copy(snap.join("members.csv"), plain.join("members.csv")).unwrap();
    let o = licshift(&["verify", s(&plan2), s(&plain)]);
    assert_eq!(code(&o), 2, "{}", stdout(&o));
    assert!(
        message(&o).contains("members.csv (members) is new"),
        "{}",
        message(&o)
    );
}

/// Edits plan.json's value at `pointer` (a JSON pointer) and writes it back.
fn edit_manifest(plan: &Path, pointer: &str, value: serde_json::Value) {
    let path = plan.join("plan.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    *v.pointer_mut(pointer).unwrap() = value;
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

/// Item 5: a multibyte character in a sealed digest panicked verify ("not a char boundary").
#[test]
fn a_manifest_digest_that_is_no_digest_is_bad_input_not_a_panic() {
    let (snap, plan) = snapshot_and_plan("hard-digest");
    edit_manifest(
        &plan,
        "/files/0/sha256",
        serde_json::json!("ééééééééééééééééééééééééééééééééé"),
    );
    let o = licshift(&["verify", s(&plan), s(&snap)]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(message(&o).contains("$.files[0].sha256"), "{}", message(&o));
    assert!(!stderr(&o).contains("panicked"));
}

/// Item 6: a manifest path outside the folder is refused before anything is read.
#[test]
fn a_manifest_path_outside_the_folder_is_refused() {
    let (snap, plan) = snapshot_and_plan("hard-escape");
    for bad in [
        "../../../../etc/passwd",
        "/etc/passwd",
        "/dev/zero",
        "a/../../x",
    ] {
        edit_manifest(&plan, "/files/0/path", serde_json::json!(bad));
        let o = licshift(&["verify", s(&plan), s(&snap)]);
        assert_eq!(code(&o), 2, "{bad}: {}", stdout(&o));
        assert!(
            message(&o).contains("not a path inside the plan folder"),
            "{}",
            message(&o)
        );
        assert!(!stdout(&o).contains("root:"), "{}", stdout(&o));
    }
}

/// Item 6: a sealed file replaced by a FIFO or by a link to /dev/zero is named, never read
/// (verify used to hang on both).
#[cfg(unix)]
#[test]
fn a_sealed_file_that_is_a_fifo_or_a_link_is_named_not_read() {
    let (snap, plan) = snapshot_and_plan("hard-fifo");
    std::fs::remove_file(plan.join("report.md")).unwrap();
    assert!(std::process::Command::new("mkfifo")
        .arg(plan.join("report.md"))
        .status()
        .unwrap()
        .success());
    std::fs::remove_file(plan.join("diff.csv")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", plan.join("diff.csv")).unwrap();
    let started = std::time::Instant::now();
    let o = licshift(&["verify", s(&plan), s(&snap), "--format", "json"]);
    assert!(started.elapsed().as_secs() < 60);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let details: Vec<&str> = v["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["detail"].as_str().unwrap())
        .collect();
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("report.md: is not a regular file")),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("diff.csv: is a symbolic link")),
        "{details:?}"
    );
    // plan.json itself as a FIFO: refused, not waited on.
    std::fs::remove_file(plan.join("plan.json")).unwrap();
    assert!(std::process::Command::new("mkfifo")
        .arg(plan.join("plan.json"))
        .status()
        .unwrap()
        .success());
    let o = licshift(&["verify", s(&plan), s(&snap)]);
    assert_eq!(code(&o), 2);
    assert!(
        message(&o).contains("not a regular file"),
        "{}",
        message(&o)
    );
}

/// Item 7: a folder downgraded to v1 (seal deleted) with a tampered script is no ALL CLEAR.
#[test]
fn an_unsealed_folder_is_said_and_is_no_go_unless_allowed() {
    let (snap, plan) = snapshot_and_plan("hard-unsealed");
    let path = plan.join("plan.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["schema"] = serde_json::json!("licshift.plan/v1");
    v.as_object_mut().unwrap().remove("files");
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    let script = plan.join("scripts/wave-001.ps1");
    let mut text = std::fs::read(&script).unwrap();
    text.extend_from_slice(b"\nRemove-MgUser -UserId everyone\n");
    std::fs::write(&script, text).unwrap();

    let o = licshift(&["verify", s(&plan), s(&snap)]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(stdout(&o).contains("UNSEALED"), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("plan folder UNSEALED"),
        "{}",
        stdout(&o)
    );
    let o = licshift(&["verify", s(&plan), s(&snap), "--format", "json"]);
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["seal"], "unsealed");
    let o = licshift(&["verify", s(&plan), s(&snap), "--allow-unsealed"]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("plan folder UNSEALED"),
        "{}",
        stdout(&o)
    );
}

/// Item 7: a sealed file that cannot be read is "unreadable", not "missing".
#[cfg(unix)]
#[test]
fn an_unreadable_sealed_file_is_called_unreadable() {
    let (snap, plan) = snapshot_and_plan("hard-unreadable");
    // A folder where the file was: it exists, and is no file.
    std::fs::remove_file(plan.join("blocked.csv")).unwrap();
    std::fs::create_dir(plan.join("blocked.csv")).unwrap();
    let o = licshift(&["verify", s(&plan), s(&snap)]);
    assert_eq!(code(&o), 1);
    assert!(
        stdout(&o).contains("blocked.csv: is not a regular file"),
        "{}",
        stdout(&o)
    );
    assert!(
        !stdout(&o).contains("blocked.csv: is missing"),
        "{}",
        stdout(&o)
    );
}

// ---- 8–12: inputs that cost memory or corrupt outputs --------------------------------------

/// A JSON snapshot of the baseline with one group renamed.
fn json_with_group_name(name: &str, group_name: &str) -> PathBuf {
    let json = crate::graph_json::json_form(&root().join(BASE), name);
    let groups = std::fs::read_to_string(json.join("groups.json")).unwrap();
    let renamed = groups.replacen(
        "\"All users\"",
        &serde_json::to_string(group_name).unwrap(),
        1,
    );
    assert_ne!(groups, renamed);
    std::fs::write(json.join("groups.json"), renamed).unwrap();
    json
}

/// Item 8: the JSON reader keeps the 64 KiB cell limit of CSV, located.
#[test]
fn a_json_name_longer_than_any_cell_is_refused_where_it_is() {
    let json = json_with_group_name("hard-json-long", &"G".repeat(70_000));
    let (o, peak) = licshift_peak_mb(&["plan", s(&json), "--out", s(&json.join("../out-long"))]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let m = message(&o);
    assert!(
        m.contains("field_too_long") && m.contains("groups.json:"),
        "{m}"
    );
    assert!(peak == 0 || peak < 1024, "{peak} MB");
}

/// Item 8: a name longer than an Excel cell (32,767) but within the read limit plans, and the
/// workbook holds it cut with a marker; the CSVs hold it whole.
#[test]
fn a_name_longer_than_an_excel_cell_is_written_cut_in_the_workbook_only() {
    let dir = temp_dir("hard-excel-cell");
    let snap = dir.join("snap");
    copy_dir(&root().join(BASE), &snap);
    let users = std::fs::read_to_string(snap.join("users.csv")).unwrap();
    let long = format!("u1@{}.test", "x".repeat(40_000));
    std::fs::write(
        snap.join("users.csv"),
        users.replace("u1@fabrikam.test", &long),
    )
    .unwrap();
    for f in ["members.csv", "assignments.csv"] {
        let t = std::fs::read_to_string(snap.join(f)).unwrap();
        std::fs::write(snap.join(f), t.replace("u1@fabrikam.test", &long)).unwrap();
    }
    let plan = dir.join("plan");
    let o = licshift(&["plan", s(&snap), "--out", s(&plan)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(std::fs::read_to_string(plan.join("waves.csv"))
        .unwrap()
        .contains(&long));
    use calamine::Reader;
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(plan.join("report.xlsx")).unwrap();
    let sheet = book.worksheet_range("Waves").unwrap();
    let cut = sheet
        .rows()
        .flat_map(|r| r.iter())
        .map(|c| c.to_string())
        .find(|c| c.starts_with("u1@xxx"))
        .expect("the long UPN is in the Waves sheet");
    assert_eq!(cut.chars().count(), 32_767);
    assert!(
        cut.ends_with("[cut: longer than an Excel cell; see the CSV]"),
        "{}",
        &cut[cut.len() - 60..]
    );
}

/// Item 9: one page-size limit whatever the layout, located; the multi-line form says no
/// spurious "trailing characters" after it.
#[test]
fn one_page_size_limit_whatever_the_layout() {
    let json = crate::graph_json::json_form(&root().join(BASE), "hard-page-limit");
    let users = std::fs::read_to_string(json.join("users.json")).unwrap();
    let page: serde_json::Value = serde_json::from_str(users.lines().next().unwrap()).unwrap();
    let mut big = page.clone();
    // Padding the page past 1 MiB with a field licshift does not read.
    big["padding"] = serde_json::json!("p".repeat(1_200_000));
    for (layout, text) in [
        ("one line", serde_json::to_string(&big).unwrap()),
        ("many lines", serde_json::to_string_pretty(&big).unwrap()),
    ] {
        std::fs::write(json.join("users.json"), format!("{text}\n")).unwrap();
        let o = licshift_env(
            &["inspect", s(&json)],
            &[("LICSHIFT_JSON_PAGE_BYTES", "1048576")],
        );
        assert_eq!(code(&o), 2, "{layout}: {}", stderr(&o));
        let m = message(&o);
        assert!(
            m.contains("users.json:1 $") && m.contains("more than 1 MiB"),
            "{layout}: {m}"
        );
        assert!(!m.contains("trailing characters"), "{layout}: {m}");
    }
}

/// Item 10: control characters are refused in JSON as in CSV, located, so none reaches
/// waves.csv or a script.
#[test]
fn control_characters_are_refused_in_json_and_csv_alike() {
    let json = crate::graph_json::json_form(&root().join(BASE), "hard-nul-json");
    let users = std::fs::read_to_string(json.join("users.json")).unwrap();
    for (esc, code_name) in [("\\u0000", "nul_byte"), ("\\u001b[2J", "bad_value")] {
        let bad = users.replacen("u1@fabrikam.test", &format!("u1{esc}@fabrikam.test"), 1);
        std::fs::write(json.join("users.json"), bad).unwrap();
        let o = licshift(&["plan", s(&json), "--out", s(&json.join("../out-nul"))]);
        assert_eq!(code(&o), 2, "{esc}: {}", stderr(&o));
        let m = message(&o);
        assert!(
            m.contains(code_name) && m.contains("users.json:"),
            "{esc}: {m}"
        );
    }
    let dir = temp_dir("hard-esc-csv");
    copy_dir(&root().join(BASE), &dir);
    let users = std::fs::read_to_string(dir.join("users.csv")).unwrap();
    std::fs::write(
        dir.join("users.csv"),
        users.replacen(",U1,", ",U1\u{1b}[31m,", 1),
    )
    .unwrap();
    let o = licshift(&["inspect", s(&dir)]);
    assert_eq!(code(&o), 2);
    assert!(message(&o).contains("users.csv:2:3"), "{}", message(&o));
}

/// Item 10: suggest writes only names plan reads: a cohort value too long for a group name is
/// cut to Entra's 256 characters, with a digest so two never meet.
#[test]
fn suggest_names_fit_entra_and_plan_reads_them_back() {
    let dir = temp_dir("hard-suggest-long");
    let snap = dir.join("snap");
    copy_dir(&root().join("fixtures/contoso"), &snap);
    let users = std::fs::read_to_string(snap.join("users.csv")).unwrap();
    let long = "D".repeat(20_000);
    std::fs::write(
        snap.join("users.csv"),
        users.replace(",Sales,", &format!(",{long},")),
    )
    .unwrap();
    let out = dir.join("suggest");
    let o = licshift(&["suggest", s(&snap), "--by", "Department", "--out", s(&out)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let rows = read_csv(&out.join("templates.csv"));
    let names: Vec<&String> = rows.iter().map(|r| &r["GroupName"]).collect();
    assert!(names.iter().all(|n| n.chars().count() <= 256), "{names:?}");
    assert!(names.iter().any(|n| n.contains("DDDD…")), "{names:?}");
    for f in ["templates.csv", "members.csv"] {
        std::fs::copy(out.join(f), snap.join(f)).unwrap();
    }
    let o = licshift(&["plan", s(&snap), "--out", s(&dir.join("plan"))]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// Item 11: empty and UTF-16 JSON files are said as for CSV; a byte-order mark before a
/// second page is read through.
#[test]
fn empty_and_utf16_json_files_say_so() {
    for file in ["members.json", "organization.json", "groups.json"] {
        let json = crate::graph_json::json_form(&root().join(BASE), &format!("hard-empty-{file}"));
        if !json.join(file).exists() {
            continue;
        }
        std::fs::write(json.join(file), b"").unwrap();
        let o = licshift(&["inspect", s(&json)]);
        assert_eq!(code(&o), 2, "{file}");
        let m = message(&o);
        assert!(
            m.contains("empty_file") && m.contains(&format!("{file} is empty")),
            "{file}: {m}"
        );
        assert!(!m.contains("unknown_group"), "{m}");
    }
    let json = crate::graph_json::json_form(&root().join(BASE), "hard-utf16");
    let text = std::fs::read_to_string(json.join("users.json")).unwrap();
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
    std::fs::write(json.join("users.json"), utf16).unwrap();
    let o = licshift(&["inspect", s(&json)]);
    assert_eq!(code(&o), 2);
    assert!(
        message(&o).contains("users.json is UTF-16"),
        "{}",
        message(&o)
    );

    let json = crate::graph_json::json_form(&root().join(BASE), "hard-bom-page");
    let lines: Vec<String> = text.lines().map(String::from).collect();
    assert!(!lines.is_empty());
    let mut pages = String::new();
    for l in &lines {
        pages.push('\u{feff}');
        pages.push_str(l);
        pages.push('\n');
    }
    std::fs::write(json.join("users.json"), pages).unwrap();
    let o = licshift(&["inspect", s(&json)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// Item 12: names that start like a formula round-trip through the files licshift writes for
/// licshift to read: suggest's templates.csv, then plan.
#[test]
fn formula_guarded_names_round_trip() {
    let dir = temp_dir("hard-formula-names");
    let snap = dir.join("snap");
    copy_dir(&root().join("fixtures/contoso"), &snap);
    let users = std::fs::read_to_string(snap.join("users.csv")).unwrap();
    std::fs::write(snap.join("users.csv"), users.replace(",Sales,", ",+ZQX9,")).unwrap();
    let out = dir.join("suggest");
    let o = licshift(&[
        "suggest",
        s(&snap),
        "--by",
        "Department",
        "--prefix",
        "",
        "--out",
        s(&out),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let written = std::fs::read_to_string(out.join("templates.csv")).unwrap();
    assert!(
        written.contains("'+ZQX9 "),
        "guarded in the file: {written}"
    );
    for f in ["templates.csv", "members.csv"] {
        std::fs::copy(out.join(f), snap.join(f)).unwrap();
    }
    let plan = dir.join("plan");
    let o = licshift(&["plan", s(&snap), "--out", s(&plan)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let prepare = read_csv(&plan.join("prepare.csv"));
    let groups: std::collections::BTreeSet<String> = prepare
        .iter()
        .filter_map(|r| r.get("groupName").cloned())
        .collect();
    // prepare.csv guards the name once more: `'+ZQX9 …` is the name `+ZQX9 …`; a name read
    // back with its quote (`'+ZQX9 …`) would be written `''+ZQX9 …`.
    assert!(
        groups.iter().any(|g| g.starts_with("'+ZQX9 ")),
        "{groups:?}"
    );
    assert!(!groups.iter().any(|g| g.starts_with("''")), "{groups:?}");
}

// ---- 13–15: outputs ------------------------------------------------------------------------

/// Item 13: names are text in report.md, suggest.md and verify's change record, never HTML.
#[test]
fn markdown_outputs_escape_names() {
    let dir = temp_dir("hard-md-escape");
    let snap = dir.join("snap");
    copy_dir(&root().join(BASE), &snap);
    let evil = "<img src=x onerror=alert(1)>";
    for f in ["users.csv", "members.csv", "assignments.csv"] {
        let t = std::fs::read_to_string(snap.join(f)).unwrap();
        std::fs::write(
            snap.join(f),
            t.replace("u1@fabrikam.test", &format!("u1{evil}@fabrikam.test")),
        )
        .unwrap();
    }
    let groups = std::fs::read_to_string(snap.join("groups.csv")).unwrap();
    std::fs::write(
        snap.join("groups.csv"),
        groups.replace("Office", "<script>Office</script>"),
    )
    .unwrap();
    for f in ["templates.csv", "members.csv"] {
        let t = std::fs::read_to_string(snap.join(f)).unwrap();
        std::fs::write(snap.join(f), t.replace("Office", "<script>Office</script>")).unwrap();
    }
    let plan = dir.join("plan");
    let o = licshift(&[
        "plan",
        s(&snap),
        "--out",
        s(&plan),
        "--pilot",
        "2",
        "--max-wave",
        "2",
        "--growth",
        "1",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let record = dir.join("record.md");
    assert_eq!(
        code(&licshift(&[
            "verify",
            s(&plan),
            s(&snap),
            "--report",
            s(&record)
        ])),
        0
    );
    let suggest = dir.join("suggest");
    assert_eq!(
        code(&licshift(&[
            "suggest",
            s(&snap),
            "--min-users",
            "1",
            "--out",
            s(&suggest)
        ])),
        0
    );
    for md in [plan.join("report.md"), record, suggest.join("suggest.md")] {
        let text = std::fs::read_to_string(&md).unwrap();
        assert!(
            !text.contains("<script") && !text.contains("<img"),
            "{}",
            md.display()
        );
    }
    let report = std::fs::read_to_string(plan.join("report.md")).unwrap();
    assert!(
        report.contains("&lt;script&gt;Office&lt;/script&gt;"),
        "the name is shown, as text"
    );
}

/// Item 14: one sanitiser for every terminal line: a name that reorders text (bidi controls)
/// cannot disguise itself in inspect, diff or explain.
#[test]
fn terminal_lines_carry_no_control_or_bidi_characters() {
    let dir = temp_dir("hard-terminal");
    copy_dir(&root().join(BASE), &dir);
    let users = std::fs::read_to_string(dir.join("users.csv")).unwrap();
    std::fs::write(
        dir.join("users.csv"),
        users.replace(",U1,", ",U1\u{202E}gnp.exe,"),
    )
    .unwrap();
    for args in [
        vec!["inspect", s(&dir)],
        vec!["diff", s(&dir), "--diff", "all"],
        vec!["explain", s(&dir), "u1@fabrikam.test"],
    ] {
        let o = licshift(&args);
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
        let out = stdout(&o);
        assert!(!out.contains('\u{202E}'), "{args:?}");
        assert!(
            !out.chars().any(|c| c.is_control() && c != '\n'),
            "{args:?}"
        );
    }
    assert_eq!(
        licshift::report::terminal("a\u{1b}[2Jb\u{7}\tc\n"),
        "a\u{FFFD}[2Jb\u{FFFD}\tc\n"
    );
}

/// Item 15: a failed write to stdout is exit 2 with the reason, never exit 0.
#[cfg(target_os = "linux")]
#[test]
fn a_failed_write_to_stdout_is_an_error() {
    let (snap, plan) = snapshot_and_plan("hard-dev-full");
    for args in [
        vec!["verify", s(&plan), s(&snap), "--format", "json"],
        vec!["export-script"],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_licshift"))
            .args(&args)
            .current_dir(root())
            .stdout(full)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("No space left on device"),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
