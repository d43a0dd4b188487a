//! tests/malformed: a valid base snapshot and files that each carry one defect. Each replaces
//! the base's file of its kind; `inspect` must exit 2 with the located diagnostic pinned in
//! tests/snapshots/malformed/.

use crate::util::*;

fn run_case(file: &str) -> (i32, String) {
    let (case, kind_ext) = file.split_once('.').unwrap();
    let dir = temp_dir(&format!("malformed-{case}"));
    copy_dir(&root().join("tests/malformed/base"), &dir);
    std::fs::copy(
        root().join("tests/malformed").join(file),
        dir.join(kind_ext),
    )
    .unwrap();
    let out = licshift(&["inspect", dir.to_str().unwrap()]);
    (code(&out), stderr(&out))
}

#[test]
fn base_snapshot_is_valid() {
    let out = licshift(&[
        "inspect",
        root().join("tests/malformed/base").to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

macro_rules! corpus {
    ($($name:ident => $file:literal, $code:literal, $location:literal;)*) => {
        $(
            #[test]
            fn $name() {
                let (exit, err) = run_case($file);
                assert_eq!(exit, 2, "{err}");
                assert!(err.contains($code), "expected {} in:\n{err}", $code);
                assert!(err.contains($location), "expected location {} in:\n{err}", $location);
                assert!(err.contains("nothing was written"), "{err}");
                assert_snapshot(&format!("malformed/{}.stderr", $file), &err);
            }
        )*

        #[test]
        fn every_corpus_file_has_a_test() {
            let mut files: Vec<String> = std::fs::read_dir(root().join("tests/malformed")).unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|f| f != "base")
                .collect();
            files.sort();
            let mut tested = vec![$($file.to_string()),*];
            tested.sort();
            assert_eq!(files, tested);
        }
    };
}

corpus! {
    missing_column => "missing-column.users.csv", "licshift::input::missing_column", "users.csv:1:";
    alias_typo => "alias-typo.users.csv", "did you mean `UserPrincipalName`?", "users.csv:1:2";
    bad_guid => "bad-guid.users.csv", "licshift::input::bad_guid", "users.csv:3:1";
    unknown_user => "unknown-user.assignments.csv", "licshift::input::unknown_user", "assignments.csv:3:1";
    unknown_sku => "unknown-sku.templates.csv", "licshift::input::unknown_sku", "templates.csv:2:2";
    unknown_plan => "unknown-plan.assignments.csv", "licshift::input::unknown_plan", "assignments.csv:2:4";
    duplicate_user => "duplicate-user.users.csv", "licshift::input::duplicate", "users.csv:4:1";
    unbalanced_quote => "unbalanced-quote.users.csv", "licshift::input::unbalanced_quote", "users.csv:3:";
    invalid_utf8 => "invalid-utf8.users.csv", "licshift::input::encoding", "users.csv:3:";
    utf16_without_bom => "utf16-no-bom.users.csv", "UTF-16 without a byte-order mark", "users.csv";
    empty_file => "empty.users.csv", "licshift::input::empty_file", "users.csv";
    header_only => "header-only.users.csv", "licshift::input::header_only", "users.csv:1:1";
    ambiguous_group => "ambiguous-group.groups.csv", "licshift::input::ambiguous_group", "templates.csv:2:1";
    one_megabyte_field => "big-field.users.csv", "licshift::input::field_too_long", "users.csv:3:3";
}
