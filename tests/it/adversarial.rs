//! Hostile and messy input (tests/adversarial, plus cases too big to commit, built here): each
//! ends in a located error or a documented acceptance, with memory bounded.

use crate::util::*;

fn snapshot_with(name: &str, file: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = temp_dir(&format!("adv-{name}"));
    copy_dir(&root().join("tests/malformed/base"), &dir);
    std::fs::write(dir.join(file), bytes).unwrap();
    dir
}

fn corpus(file: &str) -> (i32, String, String) {
    let (case, kind) = file.split_once('.').unwrap();
    let bytes = std::fs::read(root().join("tests/adversarial").join(file)).unwrap();
    let dir = snapshot_with(case, kind, &bytes);
    let out = licshift(&["inspect", dir.to_str().unwrap(), "--format", "json"]);
    (code(&out), stdout(&out), message(&out))
}

fn rejected(file: &str, code_name: &str, location: &str) {
    let (exit, _, err) = corpus(file);
    assert_eq!(exit, 2, "{file}: {err}");
    assert!(
        err.contains(code_name),
        "{file}: expected {code_name} in\n{err}"
    );
    assert!(
        err.contains(location),
        "{file}: expected {location} in\n{err}"
    );
}

fn accepted(file: &str) -> serde_json::Value {
    let (exit, out, err) = corpus(file);
    assert_eq!(exit, 0, "{file}: {err}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn truncated_mid_row() {
    rejected(
        "truncated-mid-row.users.csv",
        "licshift::input::field_count",
        "users.csv:3",
    );
}

#[test]
fn nul_bytes() {
    rejected(
        "nul-bytes.users.csv",
        "licshift::input::nul_byte",
        "users.csv:3:55",
    );
}

#[test]
fn mixed_line_endings_are_read() {
    assert_eq!(accepted("mixed-crlf-lf.users.csv")["users"]["total"], 2);
}

#[test]
fn a_bom_in_the_middle_is_trimmed_like_whitespace() {
    assert_eq!(accepted("bom-in-middle.users.csv")["users"]["total"], 2);
}

#[test]
fn duplicate_headers() {
    rejected(
        "duplicate-headers.users.csv",
        "licshift::input::duplicate_column",
        "users.csv:1:3",
    );
}

#[test]
fn header_repeated_mid_file() {
    rejected(
        "header-repeated.users.csv",
        "licshift::input::header_repeated",
        "users.csv:3",
    );
}

#[test]
fn excel_localised_booleans_are_read() {
    let v = accepted("localised-booleans.users.csv");
    assert_eq!(v["users"]["disabled"], 1, "WAAR is true, FALSO is false");
}

#[test]
fn a_date_in_a_guid_column() {
    rejected(
        "date-in-guid.assignments.csv",
        "looks like a date",
        "assignments.csv:2:1",
    );
}

#[test]
fn scientific_notation_mangled_id() {
    rejected(
        "scientific-id.users.csv",
        "scientific notation",
        "users.csv:3:1",
    );
}

#[test]
fn every_committed_case_has_a_test() {
    let mut files: Vec<String> = std::fs::read_dir(root().join("tests/adversarial"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let src = std::fs::read_to_string(root().join("tests/it/adversarial.rs")).unwrap();
    for f in files {
        assert!(src.contains(&format!("\"{f}\"")), "{f} has no test");
    }
}

#[test]
fn a_hundred_thousand_columns_are_read() {
    let extra: String = (0..99_998).map(|i| format!(",Extra{i}")).collect();
    let commas = ",".repeat(99_998);
    let text = format!(
        "Id,UserPrincipalName{extra}\n1b1bd6b5-3a0e-4d5d-9a47-5a8a2f3e0001,ann@contoso.com{commas}\n1b1bd6b5-3a0e-4d5d-9a47-5a8a2f3e0002,bob@contoso.com{commas}\n"
    );
    let dir = snapshot_with("wide", "users.csv", text.as_bytes());
    let (out, peak) = licshift_peak_mb(&["inspect", dir.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(peak < 300, "peak {peak} MB");
}

#[test]
fn a_fifty_megabyte_field() {
    let text = format!("Id,UserPrincipalName,DisplayName\n1b1bd6b5-3a0e-4d5d-9a47-5a8a2f3e0001,ann@contoso.com,ann\n1b1bd6b5-3a0e-4d5d-9a47-5a8a2f3e0002,bob@contoso.com,\"{}\"\n", "x".repeat(50 << 20));
    let dir = snapshot_with("huge-field", "users.csv", text.as_bytes());
    let (out, peak) = licshift_peak_mb(&["inspect", dir.to_str().unwrap()]);
    assert_eq!(code(&out), 2);
    assert!(
        message(&out).contains("licshift::input::field_too_long")
            && message(&out).contains("users.csv:3:3"),
        "{}",
        stderr(&out)
    );
    assert!(peak < 400, "peak {peak} MB for a 50 MB file");
}

/// A users workbook built with `edit` applied to its sheet.
fn users_workbook(
    name: &str,
    edit: impl FnOnce(&mut rust_xlsxwriter::Workbook),
) -> std::path::PathBuf {
    let mut book = rust_xlsxwriter::Workbook::new();
    edit(&mut book);
    let path = temp_dir(&format!("adv-xlsx-{name}")).join("users.xlsx");
    book.save(&path).unwrap();
    path
}

fn inspect_users(path: &std::path::Path) -> std::process::Output {
    let base = root().join("tests/malformed/base");
    licshift(&[
        "inspect",
        base.to_str().unwrap(),
        "--users",
        path.to_str().unwrap(),
        "--format",
        "json",
    ])
}

fn header(s: &mut rust_xlsxwriter::Worksheet) {
    for (j, h) in ["Id", "UserPrincipalName", "DisplayName", "Department"]
        .iter()
        .enumerate()
    {
        s.write_string(0, j as u16, *h).unwrap();
    }
    s.write_string(1, 0, "1b1bd6b5-3a0e-4d5d-9a47-5a8a2f3e0001")
        .unwrap();
    s.write_string(1, 1, "ann@contoso.com").unwrap();
    s.write_string(2, 0, "1b1bd6b5-3a0e-4d5d-9a47-5a8a2f3e0002")
        .unwrap();
    s.write_string(2, 1, "bob@contoso.com").unwrap();
}

#[test]
fn formula_cells_are_read_as_their_cached_values() {
    let path = users_workbook("formula", |b| {
        let s = b.add_worksheet();
        header(s);
        s.write_formula(1, 2, rust_xlsxwriter::Formula::new("=1+2").set_result("3"))
            .unwrap();
    });
    let out = inspect_users(&path);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn merged_cells_are_read_top_left() {
    let path = users_workbook("merged", |b| {
        let s = b.add_worksheet();
        header(s);
        s.merge_range(1, 3, 2, 3, "Finance", &rust_xlsxwriter::Format::new())
            .unwrap();
    });
    let out = inspect_users(&path);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn a_hidden_sheet_is_read_and_reported() {
    let path = users_workbook("hidden", |b| {
        b.add_worksheet().set_name("Cover").unwrap();
        let s = b.add_worksheet();
        s.set_name("users").unwrap();
        header(s);
        s.set_hidden(true);
    });
    let out = inspect_users(&std::path::PathBuf::from(format!(
        "{}#users",
        path.display()
    )));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("is hidden; it is read like any other"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn an_empty_workbook() {
    let path = users_workbook("empty", |b| {
        b.add_worksheet();
    });
    let out = inspect_users(&path);
    assert_eq!(code(&out), 2);
    assert!(
        message(&out).contains("licshift::input::empty_file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_password_protected_workbook() {
    // Office wraps an encrypted .xlsx in an OLE compound file.
    let dir = temp_dir("adv-protected");
    let path = dir.join("users.xlsx");
    let mut bytes = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    bytes.resize(4096, 0);
    std::fs::write(&path, bytes).unwrap();
    let out = inspect_users(&path);
    assert_eq!(code(&out), 2);
    assert!(
        message(&out).contains("password-protected"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_zip_bomb_dressed_as_xlsx() {
    let path = root().join("tests/adversarial").join("zip-bomb.xlsx");
    let base = root().join("tests/malformed/base");
    let (out, peak) = licshift_peak_mb(&[
        "inspect",
        base.to_str().unwrap(),
        "--users",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2);
    assert!(
        message(&out).contains("decompression bomb"),
        "{}",
        stderr(&out)
    );
    assert!(peak < 100, "peak {peak} MB");
}

/// One edited reference in a workbook (`<dimension ref="A1:E99999999">`) used to make calamine
/// allocate the whole declared range: 24 GB and a kill. Its cells are streamed now, so the
/// few real ones are read, in seconds and a few MB.
#[test]
fn a_workbook_whose_declared_size_is_huge_is_read_by_its_real_cells() {
    for file in ["huge-dimension.users.xlsx", "wide-dimension.users.xlsx"] {
        let path = root().join("tests/adversarial").join(file);
        let base = root().join("tests/malformed/base");
        let start = std::time::Instant::now();
        let (out, peak) = licshift_peak_mb(&[
            "inspect",
            base.to_str().unwrap(),
            "--users",
            path.to_str().unwrap(),
            "--format",
            "json",
        ]);
        assert_eq!(code(&out), 0, "{file}: {}", stderr(&out));
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(v["users"]["total"], 2, "{file}");
        assert!(peak < 200, "{file}: peak {peak} MB");
        assert!(
            start.elapsed().as_secs() < 20,
            "{file}: {:?}",
            start.elapsed()
        );
    }
}

/// A real cell past the last column a worksheet has (ZZZZ1) is refused, located, quickly.
#[test]
fn a_cell_past_the_last_column_is_refused() {
    let path = root()
        .join("tests/adversarial")
        .join("cell-past-xfd.users.xlsx");
    let base = root().join("tests/malformed/base");
    let start = std::time::Instant::now();
    let (out, peak) = licshift_peak_mb(&[
        "inspect",
        base.to_str().unwrap(),
        "--users",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let m = message(&out);
    assert!(m.contains("licshift::input::spreadsheet"), "{m}");
    assert!(
        m.contains("ZZZZ1") && m.contains("cell-past-xfd.users.xlsx#Users"),
        "{m}"
    );
    assert!(peak < 200, "peak {peak} MB");
    assert!(start.elapsed().as_secs() < 20);
}

/// Two columns of one name: a warning for a column nothing reads, an error for one that is
/// read — `--wave-by`'s included.
#[test]
fn duplicate_headers_of_unread_columns_warn_and_of_wave_by_refuse() {
    let text = "Id,UserPrincipalName,Office,DisplayName,Office\n1b1bd6b5-3a0e-4d5d-9a47-5a8a2f3e0001,ann@contoso.com,Delft,ann,Leiden\n1b1bd6b5-3a0e-4d5d-9a47-5a8a2f3e0002,bob@contoso.com,Delft,bob,Leiden\n";
    let dir = snapshot_with("dup-office", "users.csv", text.as_bytes());
    let out = licshift(&["inspect", dir.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let s = stdout(&out) + &stderr(&out);
    assert!(
        s.contains("duplicate_column")
            && s.contains("users.csv:1:5")
            && s.contains("`Office` twice"),
        "{s}"
    );
    let plan_dir = temp_dir("adv-dup-office-plan").join("plan");
    let out = licshift(&[
        "plan",
        dir.to_str().unwrap(),
        "--out",
        plan_dir.to_str().unwrap(),
        "--wave-by",
        "Office",
    ]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let m = message(&out);
    assert!(
        m.contains("licshift::input::duplicate_column") && m.contains("users.csv:1:5"),
        "{m}"
    );
    assert!(!plan_dir.exists());
}

/// `inspect --format csv`: one row per problem, for a pipeline; on a broken snapshot too.
#[test]
fn inspect_writes_one_csv_row_per_problem() {
    let base = root().join("tests/malformed/base");
    let out = licshift(&["inspect", base.to_str().unwrap(), "--format", "csv"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).starts_with("severity,code,location,message,help\r\n"));
    let dir = snapshot_with(
        "csv-problems",
        "users.csv",
        std::fs::read(root().join("tests/malformed/bad-guid.users.csv"))
            .unwrap()
            .as_slice(),
    );
    let out = licshift(&["inspect", dir.to_str().unwrap(), "--format", "csv"]);
    assert_eq!(code(&out), 2);
    let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(out.stdout.as_slice())
        .records()
        .map(|r| r.unwrap())
        .collect();
    assert!(!rows.is_empty());
    assert_eq!(&rows[0][0], "error");
    assert_eq!(&rows[0][1], "licshift::input::bad_guid");
    assert!(rows[0][2].starts_with("users.csv:3:1"), "{:?}", rows[0]);
    // --help offers only what works.
    let help = stdout(&licshift(&["inspect", "--help"]));
    assert!(help.contains("one row per"), "{help}");
}
