//! The harness: run the built binary, compare whole outputs with snapshot files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(rel: &str) -> PathBuf {
    root().join("fixtures").join(rel)
}

pub fn licshift(args: &[&str]) -> Output {
    licshift_env(args, &[])
}

pub fn licshift_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_licshift"));
    c.args(args)
        .env("NO_COLOR", "1")
        .env_remove("LICSHIFT_STREAM_BYTES")
        .current_dir(root());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("licshift runs")
}

/// contoso planned with `--bridge` and the engineer's Viva Engage rule (its four HR store users
/// bridged), into `out`.
pub fn plan_contoso_bridged(out: &Path) -> Output {
    licshift(&[
        "plan",
        "fixtures/contoso",
        "--out",
        out.to_str().unwrap(),
        "--bridge",
        "--rules",
        "fixtures/bridge/contoso-viva-engage.csv",
    ])
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// stderr with miette's wrapping undone: the renderer breaks long messages
/// at a width that depends on how long the machine's paths are, so a phrase
/// may straddle a line break on one machine and not on another.
pub fn message(o: &Output) -> String {
    stderr(o)
        .lines()
        .map(|l| {
            l.trim_start()
                .trim_start_matches(['│', '×', '├', '╰', '─', '▶'])
                .trim()
        })
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// A fresh, empty directory under the target folder, removed first if it exists.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = root().join("target").join("it-tmp").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        } else if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        }
    }
}

/// Compares `actual` with `tests/snapshots/NAME`. `UPDATE_SNAPSHOTS=1` rewrites it; a missing
/// snapshot is written on a developer's machine and fails under CI.
pub fn assert_snapshot(name: &str, actual: &str) {
    let path = root().join("tests").join("snapshots").join(name);
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    match std::fs::read_to_string(&path) {
        Ok(expected) if !update => {
            if expected != actual {
                let diff_at = expected
                    .lines()
                    .zip(actual.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or(expected.lines().count().min(actual.lines().count()));
                panic!(
                    "snapshot {name} differs at line {}:\n  expected: {:?}\n  actual:   {:?}\n(UPDATE_SNAPSHOTS=1 cargo test to accept)",
                    diff_at + 1,
                    expected.lines().nth(diff_at),
                    actual.lines().nth(diff_at)
                );
            }
        }
        Err(_) if std::env::var_os("CI").is_some() && !update => {
            panic!("snapshot {name} is missing")
        }
        _ => {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, actual).unwrap();
        }
    }
}

/// Every file under a folder, by relative path, for whole-folder comparisons.
pub fn read_tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    fn walk(base: &Path, d: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        let mut entries: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push((
                    p.strip_prefix(base)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

/// Runs licshift and returns its output with its peak resident memory in MB (Linux /proc;
/// 0 where that is not available).
pub fn licshift_peak_mb(args: &[&str]) -> (Output, u64) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_licshift"))
        .args(args)
        .env("NO_COLOR", "1")
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let err_t = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let code = loop {
        if let Ok(s) = std::fs::read_to_string(&status) {
            if let Some(kb) = s
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
            {
                peak = peak.max(kb / 1024);
            }
        }
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    let out = Output {
        status: code,
        stdout: out_t.join().unwrap().into_bytes(),
        stderr: err_t.join().unwrap().into_bytes(),
    };
    (out, peak)
}

/// A CSV file as rows of header → value.
pub fn read_csv(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let h = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            h.iter()
                .zip(rec.unwrap().iter())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// The files of a plan folder besides `plan.json` and the scripts.
pub const PLAN_FILES: [&str; 5] = [
    "waves.csv",
    "blocked.csv",
    "diff.csv",
    "prepare.csv",
    "report.md",
];

/// A malformed-input corpus: `tests/NAME/base` is a valid snapshot, every other file of
/// `tests/NAME` carries one defect and replaces the base's file of its kind (`case.users.csv`
/// replaces `users.csv`). `inspect` exits 2 with the located diagnostic, pinned in
/// tests/snapshots/NAME/.
pub fn run_corpus_case(corpus: &str, file: &str) -> (i32, String) {
    let (case, kind_file) = file.split_once('.').unwrap();
    let dir = temp_dir(&format!("{corpus}-{case}"));
    copy_dir(&root().join("tests").join(corpus).join("base"), &dir);
    std::fs::copy(
        root().join("tests").join(corpus).join(file),
        dir.join(kind_file),
    )
    .unwrap();
    let out = licshift(&["inspect", dir.to_str().unwrap()]);
    (code(&out), stderr(&out))
}

/// One test per corpus file (`name => file, code, location;`), and one that every file of the
/// corpus has its test.
macro_rules! corpus {
    ($corpus:literal, $every:ident; $($name:ident => $file:literal, $code:literal, $location:literal;)*) => {
        $(
            #[test]
            fn $name() {
                let (exit, err) = run_corpus_case($corpus, $file);
                assert_eq!(exit, 2, "{err}");
                assert!(err.contains($code), "expected {} in:\n{err}", $code);
                assert!(err.contains($location), "expected location {} in:\n{err}", $location);
                assert!(err.contains("nothing was written"), "{err}");
                assert_snapshot(&format!("{}/{}.stderr", $corpus, $file), &err);
            }
        )*

        #[test]
        fn $every() {
            let mut files: Vec<String> = std::fs::read_dir(root().join("tests").join($corpus)).unwrap()
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
pub(crate) use corpus;
