//! The shipped example tenant: inspect, the workbook copy, and what the seeds say happens.

use crate::util::*;

const KINDS: [&str; 8] = [
    "skus",
    "catalog",
    "users",
    "groups",
    "templates",
    "members",
    "assignments",
    "organization",
];

/// Writes fixtures/contoso.xlsx from the CSVs, one sheet per file, every cell as text.
fn build_workbook(path: &std::path::Path) {
    let mut book = rust_xlsxwriter::Workbook::new();
    for kind in KINDS {
        let sheet = book.add_worksheet();
        sheet.set_name(kind).unwrap();
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_path(fixture(&format!("contoso/{kind}.csv")))
            .unwrap();
        for (i, rec) in r.records().enumerate() {
            for (j, cell) in rec.unwrap().iter().enumerate() {
                sheet
                    .write_string(i as u32, j as u16, cell.trim_start_matches('\u{feff}'))
                    .unwrap();
            }
        }
    }
    book.save(path).unwrap();
}

#[test]
fn inspect_prints_the_summary() {
    let out = licshift(&["inspect", "fixtures/contoso"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("Users: 1000 (985 enabled, 15 disabled; 994 with usage location, 6 without)"),
        "{text}"
    );
    assert!(
        text.contains("Assignments: 1489 (1335 direct, 154 group-inherited, 7 in error)"),
        "{text}"
    );
    assert_snapshot("contoso-inspect.txt", &text);
}

#[test]
fn the_workbook_gives_the_same_numbers() {
    let xlsx = fixture("contoso.xlsx");
    if std::env::var_os("LICSHIFT_REGEN").is_some()
        || (!xlsx.exists() && std::env::var_os("CI").is_none())
    {
        build_workbook(&xlsx);
    }
    let json = |snap: &str| -> serde_json::Value {
        let out = licshift(&["inspect", snap, "--format", "json"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let mut v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        v.as_object_mut().unwrap().remove("inputs");
        v.as_object_mut().unwrap().remove("warnings");
        v
    };
    assert_eq!(json("fixtures/contoso"), json("fixtures/contoso.xlsx"));
}

#[test]
fn kiosk_users_e1_blocks_hr_e3_as_the_seeds_say() {
    // seeds/assign-licenses-to-group.md: "the user has the Office 365 Enterprise E1 license that
    // was inherited from the Kiosk users group. This conflicts with the E3 license that the
    // system tried to apply from the HR Department group."
    let dir = temp_dir("contoso-seeds").join("plan");
    let out = licshift(&["plan", "fixtures/contoso", "--out", dir.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let blocked = std::fs::read_to_string(dir.join("blocked.csv")).unwrap();
    let conflicts: Vec<&str> = blocked
        .lines()
        .filter(|l| l.contains(",CONFLICT,"))
        .collect();
    assert_eq!(conflicts.len(), 4, "{blocked}");
    assert!(
        conflicts
            .iter()
            .all(|l| l.contains("HR Department") && l.contains("STANDARDPACK (Kiosk users)")),
        "{conflicts:?}"
    );
    // The migration seed: EMS to All users covers every direct EMS of a member.
    let waves = std::fs::read_to_string(dir.join("waves.csv")).unwrap();
    // 997 direct EMS; the 5 users outside All users keep theirs, every other one goes.
    assert_eq!(
        waves
            .lines()
            .filter(|l| l.contains(",EMS,") && l.contains("All users"))
            .count(),
        992
    );
}
