//! The benchmark: `cargo bench` (sizes: LICSHIFT_BENCH_SIZES, default 10000,100000,1000000).
//!
//! For each size it generates a tenant once (target/bench-data/N), then measures in the same
//! run — the machines are shared and noisy, so only ratios are comparable:
//! - floor: parse every input file with the csv crate and do nothing else (in process);
//! - write floor: write the bytes of the plan folder `plan` made, file by file, the way `plan`
//!   writes them (`report::disk`, synced), and do nothing else (in process). SPEC §5 asks for
//!   an output three times the size of the input, so writing it is a cost no plan can avoid;
//!   `plan / (floor + write floor)` compares `plan` with the least any tool could do;
//! - inspect, diff (CSV of changed rows), plan, and verify of that plan: the release binary,
//!   wall time and peak RSS;
//! - the ratio plan / floor.
//!
//! Each timing is the best of several runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn floor(dir: &Path) -> (Duration, u64) {
    let start = Instant::now();
    let mut records = 0u64;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    entries.sort();
    for p in entries {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_path(&p)
            .unwrap();
        let mut rec = csv::ByteRecord::new();
        while r.read_byte_record(&mut rec).unwrap() {
            records += 1;
        }
    }
    (start.elapsed(), records)
}

/// The SHA-256 of every input file, which plan.json must record (SPEC §5): read as `floor`
/// reads them, hashed, nothing else.
fn hash_floor(dir: &Path) -> (Duration, u64) {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let start = Instant::now();
    let mut bytes = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|e| e != "csv") {
            continue;
        }
        let mut f = std::fs::File::open(&p).unwrap();
        let mut h = Sha256::new();
        loop {
            let n = f.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            bytes += n as u64;
        }
        std::hint::black_box(h.finalize());
    }
    (start.elapsed(), bytes)
}

/// Runs the binary; returns wall time and peak resident memory (VmHWM, polled from /proc).
fn run(args: &[&str]) -> (Duration, u64) {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_licshift"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    loop {
        if let Ok(s) = std::fs::read_to_string(&status_path) {
            if let Some(l) = s.lines().find(|l| l.starts_with("VmHWM:")) {
                peak_kb = peak_kb.max(
                    l.split_whitespace()
                        .nth(1)
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0),
                );
            }
        }
        if let Some(st) = child.try_wait().unwrap() {
            assert!(
                st.success() || st.code() == Some(1),
                "licshift {args:?} failed: {st}"
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    (start.elapsed(), peak_kb * 1024)
}

/// Writes every file of the plan folder `plan` into the new folder `scratch`, as `plan` does. The bytes
/// are read into memory first, outside the timing.
fn write_floor(plan: &Path, scratch: &Path) -> (Duration, u64) {
    use licshift::report::disk::{settle, Spool};
    use std::io::Write;
    let mut files = Vec::new();
    for sub in ["", "scripts"] {
        let mut names: Vec<PathBuf> = std::fs::read_dir(plan.join(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        names.sort();
        for p in names {
            let rel = p.strip_prefix(plan).unwrap().to_str().unwrap().to_string();
            files.push((rel, std::fs::read(&p).unwrap()));
        }
    }
    let start = Instant::now();
    std::fs::create_dir_all(scratch.join("scripts")).unwrap();
    let mut bytes = 0;
    let spool = Spool::start(2);
    for (rel, data) in &files {
        let mut f = spool.create(&scratch.join(rel), true).unwrap();
        f.write_all(data).unwrap();
        f.finish().unwrap();
        bytes += data.len() as u64;
    }
    spool.close().unwrap();
    settle(scratch).unwrap();
    (start.elapsed(), bytes)
}

fn best<T: Copy>(n: usize, mut f: impl FnMut() -> (Duration, T)) -> (Duration, T) {
    (0..n).map(|_| f()).min_by_key(|r| r.0).unwrap()
}

fn main() {
    // `cargo bench` passes --bench; nothing else is expected.
    let sizes: Vec<u64> = std::env::var("LICSHIFT_BENCH_SIZES")
        .unwrap_or_else(|_| "10000,100000,1000000".into())
        .split(',')
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("bench-data");
    std::fs::create_dir_all(&root).unwrap();
    println!("licshift benchmark — {} cores; best of runs; ratios against the floor measured in this run\n", std::thread::available_parallelism().map_or(1, |n| n.get()));
    println!("| users | generate s | input MB | rows | floor s | hash floor s | inspect s | diff s | plan s | plan peak RSS MB | plan / floor | output MB | write floor s | plan / (floor + hash + write) | verify s | verify peak RSS MB |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut plan_times = Vec::new();
    let mut json_rows = Vec::new();
    for n in sizes {
        let dir = root.join(n.to_string());
        // Plan folders a stopped run left behind.
        for e in std::fs::read_dir(&root).unwrap().flatten() {
            if e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{n}-plan"))
            {
                std::fs::remove_dir_all(e.path()).unwrap();
            }
        }
        // Generated afresh every run: the data always matches the generator being measured.
        let (generate_t, _) = run(&[
            "generate",
            "--users",
            &n.to_string(),
            "--out",
            dir.to_str().unwrap(),
            "--force",
        ]);
        let bytes: u64 = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum();
        let reps = if n >= 1_000_000 { 2 } else { 3 };
        let (floor_t, rows) = best(reps, || floor(&dir));
        let (hash_t, _) = best(reps, || hash_floor(&dir));
        let snap = dir.to_str().unwrap();
        let (inspect_t, _) = best(reps, || run(&["inspect", snap]));
        let (diff_t, _) = best(reps, || run(&["diff", snap, "--format", "csv"]));
        // Each run plans into a folder of its own, and they are deleted only after the last
        // run: on a file system without a journal (this machine's), ext4 skips inodes freed in
        // the last few seconds when it creates files, so a run straight after deleting the
        // previous plan's 4,000 scripts pays a scan that an engineer re-planning minutes later
        // never does. docs/performance.md gives both figures.
        let mut plans = Vec::new();
        let (plan_t, rss) = best(reps, || {
            let fresh = root.join(format!("{n}-plan-{}", plans.len() + 1));
            let r = run(&["plan", snap, "--out", fresh.to_str().unwrap()]);
            plans.push(fresh);
            r
        });
        // The same tenant as Graph JSON (what export-script saves), planned in the same run.
        let json_dir = root.join(format!("{n}-json"));
        run(&[
            "generate",
            "--users",
            &n.to_string(),
            "--out",
            json_dir.to_str().unwrap(),
            "--force",
            "--format",
            "json",
        ]);
        let json_snap = json_dir.to_str().unwrap();
        let (json_t, json_rss) = best(reps, || {
            let fresh = root.join(format!("{n}-plan-{}", plans.len() + 1));
            let r = run(&["plan", json_snap, "--out", fresh.to_str().unwrap()]);
            plans.push(fresh);
            r
        });
        json_rows.push((n, json_t, json_rss, plan_t, rss));
        let out = plans.remove(reps - 1);
        let (verify_t, verify_rss) = best(reps, || run(&["verify", out.to_str().unwrap(), snap]));
        let mut copies = Vec::new();
        let (write_t, out_bytes) = best(reps, || {
            copies.push(root.join(format!("{n}-plan-copy-{}", copies.len() + 1)));
            write_floor(&out, copies.last().unwrap())
        });
        // What SPEC §4-5 make every plan do at the least, one after the other: read the
        // inputs, hash them, write the folder.
        let required = floor_t + hash_t + write_t;
        plan_times.push((n, plan_t));
        println!(
            "| {n} | {:.1} | {:.0} | {rows} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.0} | {:.2}× | {:.0} | {:.3} | {:.2}× | {:.3} | {:.0} |",
            generate_t.as_secs_f64(),
            bytes as f64 / 1e6,
            floor_t.as_secs_f64(),
            hash_t.as_secs_f64(),
            inspect_t.as_secs_f64(),
            diff_t.as_secs_f64(),
            plan_t.as_secs_f64(),
            rss as f64 / 1e6,
            plan_t.as_secs_f64() / floor_t.as_secs_f64(),
            out_bytes as f64 / 1e6,
            write_t.as_secs_f64(),
            plan_t.as_secs_f64() / required.as_secs_f64(),
            verify_t.as_secs_f64(),
            verify_rss as f64 / 1e6
        );
        for p in plans.iter().chain([&out]).chain(&copies) {
            std::fs::remove_dir_all(p).unwrap();
        }
    }
    println!("\n| users | plan CSV s | plan JSON s | JSON / CSV time | peak RSS CSV MB | peak RSS JSON MB | JSON / CSV memory |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for (n, json_t, json_rss, csv_t, csv_rss) in json_rows {
        println!(
            "| {n} | {:.3} | {:.3} | {:.2}× | {:.0} | {:.0} | {:.2}× |",
            csv_t.as_secs_f64(),
            json_t.as_secs_f64(),
            json_t.as_secs_f64() / csv_t.as_secs_f64(),
            csv_rss as f64 / 1e6,
            json_rss as f64 / 1e6,
            json_rss as f64 / csv_rss as f64
        );
    }
    for w in plan_times.windows(2) {
        let ((a, ta), (b, tb)) = (w[0], w[1]);
        println!(
            "\nplan {a} -> {b} users: {:.1}x the users, {:.1}x the time",
            b as f64 / a as f64,
            tb.as_secs_f64() / ta.as_secs_f64()
        );
    }
}
