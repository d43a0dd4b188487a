//! tests/malformed: a valid base snapshot and files that each carry one defect. Each replaces
//! the base's file of its kind; `inspect` must exit 2 with the located diagnostic pinned in
//! tests/snapshots/malformed/.

use crate::util::*;

#[test]
fn base_snapshot_is_valid() {
    let out = licshift(&[
        "inspect",
        root().join("tests/malformed/base").to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

corpus! {
    "malformed", every_corpus_file_has_a_test;
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
