//! `licshift generate`: deterministic, clean to inspect, every kind of noise it promises shows
//! up in the plan, and a plan big enough to be written in parallel chunks is the same bytes
//! on one thread and on many.

use crate::util::*;
use std::path::{Path, PathBuf};

fn generate(name: &str, users: &str, seed: &str) -> PathBuf {
    let dir = temp_dir(name).join("tenant");
    let out = licshift(&[
        "generate",
        "--users",
        users,
        "--out",
        dir.to_str().unwrap(),
        "--seed",
        seed,
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    dir
}

fn plan(tenant: &Path, name: &str, threads: &str) -> PathBuf {
    let out_dir = temp_dir(name).join("plan");
    let out = licshift_env(
        &[
            "plan",
            tenant.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
            // Every user in diff.csv, so its rows span many render chunks.
            "--diff",
            "all",
        ],
        &[("RAYON_NUM_THREADS", threads)],
    );
    // Exit 0 means the replay held I1–I4 at every boundary.
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    out_dir
}

#[test]
fn the_same_seed_gives_the_same_bytes() {
    let a = generate("gen-a", "3000", "7");
    let b = generate("gen-b", "3000", "7");
    let c = generate("gen-c", "3000", "8");
    assert_eq!(read_tree(&a), read_tree(&b));
    assert_ne!(
        std::fs::read(a.join("users.csv")).unwrap(),
        std::fs::read(c.join("users.csv")).unwrap()
    );
}

#[test]
fn a_generated_tenant_inspects_clean_and_plans_with_every_kind_of_blocker() {
    let tenant = generate("gen-big", "12000", "1");
    let out = licshift(&["inspect", tenant.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["users"]["total"], 12000, "{json}");
    // About three assignment rows and two memberships per user, as the issue sizes them.
    let rows = |f: &str| read_csv(&tenant.join(f)).len();
    let (assignments, members) = (rows("assignments.csv"), rows("members.csv"));
    assert!((33_000..40_000).contains(&assignments), "{assignments}");
    assert!((22_000..26_000).contains(&members), "{members}");

    let one = plan(&tenant, "gen-plan-1", "1");
    let mut reasons: Vec<String> = read_csv(&one.join("blocked.csv"))
        .into_iter()
        .map(|r| r["reason"].clone())
        .collect();
    reasons.sort();
    reasons.dedup();
    assert_eq!(
        reasons,
        [
            "CONFLICT",
            "DEPENDENCY",
            "NOT_COVERED",
            "NOT_MEMBER",
            "SEATS"
        ]
    );

    // diff.csv is rendered in chunks of users on every core: one header, users in order.
    let text = std::fs::read_to_string(one.join("diff.csv")).unwrap();
    assert_eq!(text.matches("userId,userPrincipalName").count(), 1);
    let upns: Vec<String> = read_csv(&one.join("diff.csv"))
        .into_iter()
        .map(|r| r["userPrincipalName"].to_lowercase())
        .collect();
    let mut users = upns.clone();
    users.dedup();
    assert!(
        users.len() > 4 * 2048,
        "{} users: too few to span chunks",
        users.len()
    );
    assert!(
        upns.windows(2).all(|w| w[0] <= w[1]),
        "diff.csv out of order"
    );

    // plan.json is the manifest: its counts are the CSVs' rows, and it seals both files.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(one.join("plan.json")).unwrap()).unwrap();
    assert!(
        manifest["summary"]["waves"].as_u64().unwrap() > 2 * 8,
        "too few waves to span chunks"
    );
    let removals = read_csv(&one.join("waves.csv")).len() as u64;
    assert_eq!(manifest["summary"]["removals"].as_u64().unwrap(), removals);
    let blocked = read_csv(&one.join("blocked.csv")).len() as u64;
    assert!(
        blocked > 2 * 512,
        "{blocked} blocked: too few to span chunks"
    );
    assert_eq!(manifest["summary"]["blocked"].as_u64().unwrap(), blocked);
    for f in ["waves.csv", "blocked.csv"] {
        let sealed = manifest["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["path"] == f)
            .unwrap();
        assert_eq!(
            sealed["bytes"].as_u64().unwrap(),
            std::fs::metadata(one.join(f)).unwrap().len()
        );
    }
    // And the plan verifies clean against the snapshot it came from.
    let out = licshift(&["verify", one.to_str().unwrap(), tenant.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));

    let many = plan(&tenant, "gen-plan-n", "4");
    assert_eq!(read_tree(&one), read_tree(&many));
}
