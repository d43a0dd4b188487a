//! Issue #30's prepare through Graph for a group the plan creates: found again by the
//! mailNickname licshift gives it, its members added 20 to a request with several requests in
//! flight, a request refused for a deleted member split until that member is found and
//! journaled `gone`, and writes Entra refuses as concurrent sent again; a re-run sends nothing
//! again; `rollback prepare` deletes what it created.

use crate::apply::{apply, contoso_copy, journal, options, plan_of, tenant_state};
use crate::sandbox::serve;
use crate::util::*;
use licshift::sandbox::Options;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

const GROUP: &str = "LIC Pilot EMS";

/// contoso with a group to create, proposed by name with EMS (as "All users" gives it) and
/// contoso's first `n` users as members, as `suggest` writes one. Returns their (id, upn).
fn contoso_with_new_group(dir: &Path, n: usize) -> (PathBuf, Vec<(String, String)>) {
    let snap = contoso_copy(dir);
    let users: Vec<(String, String)> = read_csv(&snap.join("users.csv"))
        .iter()
        .take(n)
        .map(|r| (r["Object Id"].clone(), r["User principal name"].clone()))
        .collect();
    let append = |file: &str, lines: Vec<String>| {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(snap.join(file))
            .unwrap();
        for l in lines {
            writeln!(f, "{l}").unwrap();
        }
    };
    append("templates.csv", vec![format!("{GROUP},EMS,,proposed")]);
    append(
        "members.csv",
        users
            .iter()
            .map(|(id, upn)| format!(",{GROUP},{id},{upn},User"))
            .collect(),
    );
    (snap, users)
}

/// Each member key's last outcome in prepare's journal.
fn member_outcomes(plan: &Path) -> BTreeMap<String, (String, String)> {
    let mut last = BTreeMap::new();
    for r in journal(plan, "prepare") {
        let key = r["key"].as_str().unwrap_or("");
        if r["type"] == "outcome" && key.starts_with("member:") {
            last.insert(
                key.to_string(),
                (
                    r["user"].as_str().unwrap().to_string(),
                    r["outcome"].as_str().unwrap().to_string(),
                ),
            );
        }
    }
    last
}

#[test]
fn prepare_creates_a_group_and_finds_its_deleted_members() {
    let tmp = temp_dir("apply-prepare-members");
    let (snap, users) = contoso_with_new_group(&tmp, 130);
    let plan = tmp.join("plan");
    plan_of(&snap, &plan);
    let rows = read_csv(&plan.join("prepare.csv"));
    let adds = rows.iter().filter(|r| r["action"] == "add-member").count();
    assert_eq!(adds, 130);
    // Seven requests of up to 20, four in flight, each answered after Graph-like latency.
    let s = serve(
        &snap,
        Options {
            latency: Duration::from_millis(20),
            ..options(None)
        },
    );
    let at_start = tenant_state(&s);
    // Two members are deleted by someone else before prepare runs, in different requests.
    let deleted: BTreeSet<String> = [3, 90].iter().map(|&i| users[i].1.clone()).collect();
    s.with(|sb| {
        let d = sb.directory_mut();
        for upn in &deleted {
            let u = d.user(upn).unwrap();
            d.delete_user(u);
        }
    });
    // And Entra refuses the first writes as concurrent: each is sent again after a pause.
    s.with(|sb| sb.contend(4));
    let o = apply(&s, &plan, &snap, "prepare");
    assert!(code(&o) <= 1, "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(s.report().contended, 4);
    let outcomes = member_outcomes(&plan);
    assert_eq!(outcomes.len(), 130);
    let gone: BTreeSet<String> = outcomes
        .values()
        .filter(|(_, o)| o == "gone")
        .map(|(u, _)| u.clone())
        .collect();
    assert_eq!(gone, deleted);
    assert!(
        outcomes
            .values()
            .all(|(u, o)| o == "done" || gone.contains(u)),
        "{outcomes:?}"
    );
    // The group in the tenant: created once, under licshift's nickname, holding exactly the
    // members that exist.
    let (made, members) = s.with(|sb| {
        let d = sb.directory();
        let made: Vec<usize> = (0..d.groups.len())
            .filter(|&g| d.groups[g].name == GROUP && d.is_live_group(g))
            .collect();
        let members: BTreeSet<String> = made
            .first()
            .map(|&g| {
                d.groups[g]
                    .members
                    .iter()
                    .map(|&u| d.users[u].upn.clone())
                    .collect()
            })
            .unwrap_or_default();
        (made.len(), members)
    });
    assert_eq!(made, 1);
    let expected: BTreeSet<String> = users
        .iter()
        .map(|(_, upn)| upn.clone())
        .filter(|upn| !deleted.contains(upn))
        .collect();
    assert_eq!(members, expected);
    // A re-run asks nothing again of what is settled: no new group, no member request.
    let asked = |plan: &Path| {
        journal(plan, "prepare")
            .iter()
            .filter(|r| r["type"] == "intent" && r["method"] != "GET")
            .count()
    };
    let before = asked(&plan);
    let requests = s.report().requests;
    let o = apply(&s, &plan, &snap, "prepare");
    assert!(code(&o) <= 1, "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(asked(&plan), before, "a re-run sent again what was done");
    assert!(s.report().requests > requests, "the re-run read the tenant");
    assert_eq!(
        s.with(|sb| {
            let d = sb.directory();
            (0..d.groups.len())
                .filter(|&g| d.groups[g].name == GROUP)
                .count()
        }),
        1
    );
    // Undone: the created group goes with its members and license; the lines given to existing
    // groups are taken back. The tenant is as it was, less the two users deleted.
    let o = apply(&s, &plan, &snap, "rollback prepare");
    assert!(code(&o) <= 1, "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(
        s.with(|sb| {
            let d = sb.directory();
            (0..d.groups.len())
                .filter(|&g| d.groups[g].name == GROUP && d.is_live_group(g))
                .count()
        }),
        0,
        "the created group is deleted"
    );
    // Entra takes a deleted group's licenses off its members in its own time (the sandbox
    // after its processing delay); a re-run of the rollback, once that has passed, reads the
    // tenant and finds nothing left to undo.
    std::thread::sleep(Duration::from_millis(400));
    let undone = journal(&plan, "rollback-prepare").len();
    let o = apply(&s, &plan, &snap, "rollback prepare");
    assert!(code(&o) <= 1, "{}\n{}", stdout(&o), stderr(&o));
    let again = journal(&plan, "rollback-prepare");
    assert!(
        again[undone..]
            .iter()
            .all(|r| r["type"] != "intent" || r["method"] == "GET"),
        "the re-run undid something again: {:?}",
        &again[undone..]
    );
    let now = tenant_state(&s);
    let ids: BTreeSet<String> = users
        .iter()
        .filter(|(_, upn)| deleted.contains(upn))
        .map(|(id, _)| id.clone())
        .collect();
    let expected: Vec<String> = at_start
        .into_iter()
        .filter(|l| !ids.iter().any(|id| l.starts_with(id.as_str())))
        .collect();
    let extra: Vec<&String> = now
        .iter()
        .filter(|l| !expected.contains(l))
        .take(3)
        .collect();
    let missing: Vec<&String> = expected
        .iter()
        .filter(|l| !now.contains(l))
        .take(3)
        .collect();
    assert!(
        extra.is_empty() && missing.is_empty() && now.len() == expected.len(),
        "not as before: now {extra:#?}, was {missing:#?}"
    );
}
