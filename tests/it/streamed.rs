//! Large CSV files are streamed instead of read whole (src/ingest/stream.rs). Debug builds
//! stream from the size `LICSHIFT_STREAM_BYTES` names, so here every fixture, malformed and
//! hostile file goes down both paths: the outputs, diagnostics and exit codes must not differ.

use crate::util::*;

const STREAMED: &[(&str, &str)] = &[("LICSHIFT_STREAM_BYTES", "1")];

/// `inspect` of the malformed base with `file` in place of its kind's file, both ways.
fn inspect_both(corpus: &str, file: &str) -> ((i32, String, String), (i32, String, String)) {
    let (case, kind_ext) = file.split_once('.').unwrap();
    let dir = temp_dir(&format!("streamed-{corpus}-{case}"));
    copy_dir(&root().join("tests/malformed/base"), &dir);
    std::fs::copy(
        root().join("tests").join(corpus).join(file),
        dir.join(kind_ext),
    )
    .unwrap();
    let run = |env: &[(&str, &str)]| {
        let out = licshift_env(&["inspect", dir.to_str().unwrap()], env);
        (code(&out), stdout(&out), stderr(&out))
    };
    (run(&[]), run(STREAMED))
}

#[test]
fn every_malformed_and_hostile_csv_reads_the_same_streamed() {
    let mut checked = 0;
    for corpus in ["malformed", "adversarial"] {
        let mut files: Vec<String> = std::fs::read_dir(root().join("tests").join(corpus))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|f| f.ends_with(".csv"))
            .collect();
        files.sort();
        for file in files {
            let (whole, streamed) = inspect_both(corpus, &file);
            assert_eq!(whole, streamed, "{corpus}/{file}");
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} files");
}

#[test]
fn plans_are_byte_identical_streamed() {
    let mut snapshots = vec!["fixtures/contoso".to_string()];
    let mut scenarios: Vec<String> = std::fs::read_dir(fixture("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| {
            format!(
                "fixtures/scenarios/{}",
                p.file_name().unwrap().to_string_lossy()
            )
        })
        .collect();
    scenarios.sort();
    snapshots.extend(scenarios);
    for snap in &snapshots {
        let name = snap.replace('/', "-");
        let whole = temp_dir(&format!("streamed-whole-{name}")).join("plan");
        let streamed = temp_dir(&format!("streamed-stream-{name}")).join("plan");
        let a = licshift(&["plan", snap, "--out", whole.to_str().unwrap()]);
        let b = licshift_env(
            &["plan", snap, "--out", streamed.to_str().unwrap()],
            STREAMED,
        );
        assert_eq!(code(&a), code(&b), "{snap}: {}", stderr(&b));
        let clean = |o: &std::process::Output, dir: &std::path::Path| {
            stdout(o).replace(dir.to_str().unwrap(), "OUT")
        };
        assert_eq!(clean(&a, &whole), clean(&b, &streamed), "{snap}");
        assert_eq!(stderr(&a), stderr(&b), "{snap}");
        assert_eq!(read_tree(&whole), read_tree(&streamed), "{snap}");
    }
}

/// A generated tenant, its files large enough to be tokenised in many batches: the same plan
/// read whole or streamed, and a problem deep in a streamed file is shown with its row.
#[test]
fn a_generated_tenant_plans_the_same_streamed_and_shows_late_rows() {
    let dir = temp_dir("streamed-generated");
    let snap = dir.join("tenant");
    let out = licshift(&[
        "generate",
        "--users",
        "3000",
        "--out",
        snap.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let whole = dir.join("whole");
    let streamed = dir.join("streamed");
    let a = licshift_env(
        &[
            "plan",
            snap.to_str().unwrap(),
            "--out",
            whole.to_str().unwrap(),
        ],
        &[("LICSHIFT_STREAM_BYTES", "1000000000")],
    );
    let b = licshift_env(
        &[
            "plan",
            snap.to_str().unwrap(),
            "--out",
            streamed.to_str().unwrap(),
        ],
        STREAMED,
    );
    assert_eq!((code(&a), code(&b)), (0, 0), "{}", stderr(&b));
    assert_eq!(read_tree(&whole), read_tree(&streamed));

    // Break a row near the end of users.csv: the streamed read names it, with its text.
    let users = snap.join("users.csv");
    let text = std::fs::read_to_string(&users).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let n = lines.len();
    lines[n - 2] = lines[n - 2].replacen('-', "x", 1);
    std::fs::write(&users, lines.join("\r\n") + "\r\n").unwrap();
    let whole = licshift_env(
        &["inspect", snap.to_str().unwrap()],
        &[("LICSHIFT_STREAM_BYTES", "1000000000")],
    );
    let streamed = licshift_env(&["inspect", snap.to_str().unwrap()], STREAMED);
    assert_eq!(code(&streamed), 2);
    assert_eq!(stderr(&whole), stderr(&streamed));
    assert!(
        message(&streamed).contains(&format!("users.csv:{}:1", n - 1)),
        "{}",
        stderr(&streamed)
    );
    assert!(stderr(&streamed).contains(&lines[n - 2][..20]));
}

/// Windows tools write CRLF. A problem on the third line is reported on line 3 (it was once
/// reported on line 2: the csv reader starts each record at the LF of the CRLF before it),
/// read whole or streamed.
#[test]
fn crlf_exports_name_the_right_row() {
    let dir = temp_dir("streamed-crlf");
    copy_dir(&root().join("tests/malformed/base"), &dir);
    let users = std::fs::read_to_string(dir.join("users.csv")).unwrap();
    let mut lines: Vec<String> = users.lines().map(str::to_string).collect();
    lines[2] = lines[2].replacen('-', "x", 1);
    std::fs::write(dir.join("users.csv"), lines.join("\r\n") + "\r\n").unwrap();
    for env in [&[][..], STREAMED] {
        let out = licshift_env(&["inspect", dir.to_str().unwrap()], env);
        assert_eq!(code(&out), 2);
        let err = stderr(&out);
        assert!(err.contains("users.csv:3:1"), "{err}");
        assert!(err.contains(&format!(" 3 │ {}", lines[2])), "{err}");
    }
}

/// `verify` reads waves.csv the way the inputs are read: a plan folder and hand-edited
/// waves.csv files give the same verdicts, streamed or not.
#[test]
fn verify_reads_waves_the_same_streamed() {
    let dir = temp_dir("streamed-verify").join("plan");
    let out = licshift(&[
        "plan",
        "fixtures/verify/baseline",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mut plans = vec![dir.to_str().unwrap().to_string()];
    for f in ["waves-added-uncovered.csv", "waves-moved-earlier.csv"] {
        plans.push(format!("fixtures/verify/{f}"));
    }
    for plan in &plans {
        let args = ["verify", plan.as_str(), "fixtures/verify/baseline"];
        let (a, b) = (licshift(&args), licshift_env(&args, STREAMED));
        assert!(matches!(code(&a), 0 | 1), "{plan}: {}", stderr(&a));
        assert_eq!(code(&a), code(&b), "{plan}");
        assert_eq!(stdout(&a), stdout(&b), "{plan}");
        assert_eq!(stderr(&a), stderr(&b), "{plan}");
    }
}
