//! Property-driven fuzzing of every reader (bytes in → a tenant or located problems out, never
//! a panic) and of the cell parsers. Cases per reader: LICSHIFT_FUZZ_CASES — 2,000 in the
//! README's `cargo test` (which must stay under 8 minutes on a fresh 2-core machine), 100,000
//! in the long run `.ci/run` adds after it (docs/reliability.md). A failure prints the shrunk
//! input; it then becomes a file in tests/adversarial/ with a test of its own.

use crate::util::root;
use licshift::ingest::{self, FileKind};
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("LICSHIFT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

fn base() -> Vec<(FileKind, Vec<u8>)> {
    let dir = root().join("tests/malformed/base");
    [
        FileKind::Skus,
        FileKind::Users,
        FileKind::Groups,
        FileKind::Members,
        FileKind::Templates,
        FileKind::Assignments,
    ]
    .into_iter()
    .map(|k| {
        (
            k,
            std::fs::read(dir.join(format!("{}.csv", k.name()))).unwrap(),
        )
    })
    .collect()
}

/// The optional files get small seeds of their own.
fn seed(kind: FileKind) -> Vec<u8> {
    match kind {
        FileKind::Rules => b"Rule,Plan,Other\nexcludes,YAMMER_ENTERPRISE,SHAREPOINTENTERPRISE\n!excludes,SHAREPOINTSTANDARD,SHAREPOINTENTERPRISE\nunavailable-in,YAMMER_ENTERPRISE,CN;IR\n".to_vec(),
        FileKind::Organization => b"Id,DisplayName,CountryLetterCode\n3c3c0000-0000-4000-8000-000000000001,Contoso,US\n".to_vec(),
        FileKind::Catalog => "Product_Display_Name,String_Id,GUID,Service_Plan_Name,Service_Plan_Id,Service_Plans_Included_Friendly_Names\nOffice 365 E3,ENTERPRISEPACK\t,6fd2c87f-b296-42f0-b197-1e91e994b900\u{a0},YAMMER_ENTERPRISE,7547a3fe-08ee-4ccb-b430-5077c5041653,Yammer Enterprise\n".as_bytes().to_vec(),
        k => base().into_iter().find(|f| f.0 == k).unwrap().1,
    }
}

/// Byte edits aimed at what breaks CSV readers: quotes, delimiters, line ends, NUL, a BOM,
/// invalid UTF-8, and any byte at all.
fn edits() -> impl Strategy<Value = Vec<(u8, usize, u8)>> {
    let byte = prop_oneof![
        Just(b'"'),
        Just(b','),
        Just(b';'),
        Just(b'\t'),
        Just(b'\n'),
        Just(b'\r'),
        Just(0u8),
        Just(0xEFu8),
        Just(0xFFu8),
        Just(b'-'),
        any::<u8>()
    ];
    proptest::collection::vec((0u8..4, any::<usize>(), byte), 1..8)
}

fn mutate(mut bytes: Vec<u8>, edits: &[(u8, usize, u8)]) -> Vec<u8> {
    for &(op, pos, b) in edits {
        let at = if bytes.is_empty() {
            0
        } else {
            pos % (bytes.len() + 1)
        };
        match op {
            0 => bytes.insert(at, b),
            1 if at < bytes.len() => {
                bytes.remove(at);
            }
            2 if at < bytes.len() => bytes[at] = b,
            _ => bytes.truncate(at),
        }
    }
    bytes
}

fn check(kind: FileKind, bytes: Vec<u8>) -> Result<(), TestCaseError> {
    let mut files: Vec<(FileKind, Vec<u8>)> = base().into_iter().filter(|f| f.0 != kind).collect();
    files.push((kind, bytes));
    match ingest::load_csv_bytes(files) {
        Ok(loaded) => {
            prop_assert!(!loaded.tenant.users.is_empty());
        }
        Err(failed) => {
            prop_assert!(failed.problems.errors > 0);
            for p in &failed.problems.list {
                prop_assert!(!p.message.is_empty());
                // Every error names its file (or is about the whole run).
                prop_assert!(
                    !p.is_error() || p.location.contains(".csv") || p.location.is_empty(),
                    "{}",
                    p
                );
                prop_assert!(
                    p.message.len() < 2_000,
                    "messages quote at most a short excerpt"
                );
            }
        }
    }
    Ok(())
}

macro_rules! fuzz_reader {
    ($($name:ident => $kind:expr;)*) => {$(
        #[test]
        fn $name() {
            let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() });
            let seed = seed($kind);
            runner.run(&edits(), |e| check($kind, mutate(seed.clone(), &e))).unwrap();
        }
    )*};
}

fuzz_reader! {
    fuzz_skus => FileKind::Skus;
    fuzz_users => FileKind::Users;
    fuzz_groups => FileKind::Groups;
    fuzz_members => FileKind::Members;
    fuzz_templates => FileKind::Templates;
    fuzz_assignments => FileKind::Assignments;
    fuzz_rules => FileKind::Rules;
    fuzz_catalog => FileKind::Catalog;
    fuzz_organization => FileKind::Organization;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

    #[test]
    fn cell_parsers_never_panic(s in "\\PC*") {
        let _ = ingest::guid(&s);
        let _ = ingest::list(&s);
        let _ = ingest::boolean(&s);
        let _ = ingest::state(&s);
        let _ = ingest::license_error(&s);
    }

    #[test]
    fn guids_round_trip(v in any::<u128>()) {
        let g = licshift::model::Guid(v);
        prop_assert_eq!(ingest::guid(&g.to_string().to_uppercase()), Some(g));
        prop_assert_eq!(ingest::guid(&format!(" {g}\u{a0}")), Some(g));
    }

    #[test]
    fn text_layer_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(text) = ingest::decode(bytes) {
            let d = ingest::sniff_delimiter(&text);
            let _ = ingest::unclosed_quote(&text, d);
        }
    }
}

/// The Graph JSON form of the base snapshot, written once per test into a folder of its own.
fn json_base(name: &str) -> std::path::PathBuf {
    let spec = ingest::SnapshotSpec {
        root: root().join("tests/malformed/base"),
        ..Default::default()
    };
    let loaded = ingest::load(&spec).unwrap_or_else(|f| panic!("{:?}", f.problems.list));
    let dir = crate::util::temp_dir(&format!("fuzz-json-{name}"));
    let tenant = licshift::model::Guid::parse("11111111-2222-4333-8444-555555555555").unwrap();
    licshift::generate::graph_json::write(&loaded.tenant, &dir, tenant).unwrap();
    std::fs::copy(
        root().join("tests/malformed/base/templates.csv"),
        dir.join("templates.csv"),
    )
    .unwrap();
    if !dir.join("organization.json").exists() {
        std::fs::write(
            dir.join("organization.json"),
            "{\"value\": [{\"id\": \"11111111-2222-4333-8444-555555555555\", \"displayName\": \"Contoso\", \"countryLetterCode\": \"US\"}]}\n",
        )
        .unwrap();
    }
    dir
}

/// Byte edits aimed at what breaks a JSON reader: brackets, quotes, escapes (`\u0000`
/// among them), separators, line ends, a BOM, and any byte at all.
fn json_edits() -> impl Strategy<Value = Vec<(u8, usize, Vec<u8>)>> {
    let piece = prop_oneof![
        Just(b"{".to_vec()),
        Just(b"}".to_vec()),
        Just(b"[".to_vec()),
        Just(b"]".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"\\".to_vec()),
        Just(b"\\u0000".to_vec()),
        Just(b"\\u001b".to_vec()),
        Just(b"\\ud800".to_vec()),
        Just(b":".to_vec()),
        Just(b",".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"null".to_vec()),
        Just(b"1e999".to_vec()),
        Just(b"\xEF\xBB\xBF".to_vec()),
        Just(vec![0u8]),
        any::<u8>().prop_map(|b| vec![b]),
    ];
    proptest::collection::vec((0u8..4, any::<usize>(), piece), 1..8)
}

fn json_mutate(mut bytes: Vec<u8>, edits: &[(u8, usize, Vec<u8>)]) -> Vec<u8> {
    for (op, pos, piece) in edits {
        let at = if bytes.is_empty() {
            0
        } else {
            pos % (bytes.len() + 1)
        };
        match op {
            0 => {
                bytes.splice(at..at, piece.iter().copied());
            }
            1 if at < bytes.len() => {
                bytes.remove(at);
            }
            2 if at < bytes.len() => bytes[at] = piece[0],
            _ => bytes.truncate(at),
        }
    }
    bytes
}

macro_rules! fuzz_json {
    ($($name:ident => $file:expr;)*) => {$(
        /// Mutated Graph JSON: a tenant or located `json`/input problems, never a panic.
        #[test]
        fn $name() {
            let dir = json_base(stringify!($name));
            let seed = std::fs::read(dir.join($file)).unwrap();
            let spec = ingest::SnapshotSpec { root: dir.clone(), ..Default::default() };
            let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
                cases: (cases() / 20).max(1),
                failure_persistence: None,
                ..ProptestConfig::default()
            });
            runner
                .run(&json_edits(), |e| {
                    std::fs::write(dir.join($file), json_mutate(seed.clone(), &e)).unwrap();
                    if let Err(failed) = ingest::load(&spec) {
                        prop_assert!(failed.problems.errors > 0);
                        for p in failed.problems.list.iter().filter(|p| p.is_error()) {
                            prop_assert!(!p.message.is_empty() && p.message.len() < 2_000, "{}", p);
                        }
                    }
                    Ok(())
                })
                .unwrap();
        }
    )*};
}

fuzz_json! {
    fuzz_json_skus => "subscribedSkus.json";
    fuzz_json_users => "users.json";
    fuzz_json_groups => "groups.json";
    fuzz_json_members => "members.json";
    fuzz_json_organization => "organization.json";
}
