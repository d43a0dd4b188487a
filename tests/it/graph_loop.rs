//! Issue #28: licshift against the sandbox on loopback — `snapshot` round trips give the plan
//! that planning the files gives, throttling is waited out, faults are survived, and every
//! sign-in is tried as a user would try it.

use crate::sandbox::{http, quick, serve};
use crate::util::*;
use licshift::sandbox::{Options, Running};
use std::path::Path;
use std::time::Duration;

fn env_for(s: &Running) -> Vec<(&'static str, String)> {
    vec![
        ("LICSHIFT_GRAPH_URL", s.graph_url.clone()),
        ("LICSHIFT_GRAPH_TOKEN", s.token.clone()),
    ]
}

fn run(args: &[&str], env: &[(&'static str, String)]) -> std::process::Output {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    licshift_env(args, &env)
}

fn snapshot(s: &Running, out: &Path, groups: &str) -> std::process::Output {
    let mut args = vec!["snapshot", "--out", out.to_str().unwrap()];
    if !groups.is_empty() {
        args.extend(["--groups", groups]);
    }
    run(&args, &env_for(s))
}

/// The engineer's own files beside the export: templates, the catalog, rules.
fn add_design_files(from: &Path, to: &Path) {
    for f in ["templates.csv", "catalog.csv", "rules.csv"] {
        if from.join(f).exists() {
            std::fs::copy(from.join(f), to.join(f)).unwrap();
        }
    }
}

fn same_plan(files: &Path, exported: &Path, tmp: &Path) {
    let a = tmp.join("plan-files");
    let b = tmp.join("plan-graph");
    let pa = licshift(&[
        "plan",
        files.to_str().unwrap(),
        "--out",
        a.to_str().unwrap(),
    ]);
    let pb = licshift(&[
        "plan",
        exported.to_str().unwrap(),
        "--out",
        b.to_str().unwrap(),
    ]);
    assert!(
        code(&pa) <= 1 && code(&pb) <= 1,
        "{}\n{}",
        stderr(&pa),
        stderr(&pb)
    );
    for f in ["waves.csv", "blocked.csv", "diff.csv"] {
        let x = std::fs::read(a.join(f)).unwrap();
        let y = std::fs::read(b.join(f)).unwrap();
        assert!(
            x == y,
            "{f} differs between planning the files and planning the Graph snapshot"
        );
    }
}

/// Groups whose members a plan needs: every group a proposed template line names.
fn template_groups(snapshot: &Path) -> String {
    let rows = read_csv(&snapshot.join("templates.csv"));
    let mut names: Vec<String> = rows
        .iter()
        .filter(|r| r.get("Status").map(String::as_str) == Some("proposed"))
        .map(|r| {
            r.get("GroupId")
                .or(r.get("GroupName"))
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    names.sort();
    names.dedup();
    names.join(",")
}

#[test]
fn a_snapshot_of_the_sandboxed_contoso_plans_byte_for_byte_as_its_files_do() {
    let tmp = temp_dir("graph-contoso");
    let s = serve(&fixture("contoso"), quick());
    let out = tmp.join("snapshot");
    let o = snapshot(&s, &out, &template_groups(&fixture("contoso")));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let said = stdout(&o);
    assert!(
        said.contains("1000 users") && said.contains("033bf333-b2f0-5833-b1d2-e85131a5bb6b"),
        "{said}"
    );
    for f in [
        "subscribedSkus.json",
        "users.json",
        "groups.json",
        "members.json",
        "organization.json",
        "README.txt",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    add_design_files(&fixture("contoso"), &out);
    same_plan(&fixture("contoso"), &out, &tmp);
    // Read-only: not one write reached the tenant.
    let report = s.report();
    assert_eq!((report.writes, report.changes), (0, 0));
}

#[test]
fn a_snapshot_of_a_sandboxed_5000_user_tenant_plans_as_its_files_do() {
    let tmp = temp_dir("graph-5000");
    let files = tmp.join("files");
    let g = licshift(&[
        "generate",
        "--users",
        "5000",
        "--seed",
        "28",
        "--out",
        files.to_str().unwrap(),
    ]);
    assert_eq!(code(&g), 0, "{}", stderr(&g));
    let s = serve(&files, quick());
    let out = tmp.join("snapshot");
    let o = snapshot(&s, &out, &template_groups(&files));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("5000 users"), "{}", stdout(&o));
    add_design_files(&files, &out);
    same_plan(&files, &out, &tmp);
}

#[test]
fn throttled_reads_are_waited_out_and_nothing_is_sent_early() {
    let tmp = temp_dir("graph-throttled");
    let s = serve(
        &fixture("contoso"),
        Options {
            read_quota: 3,
            read_window: Duration::from_millis(700),
            ..quick()
        },
    );
    let out = tmp.join("snapshot");
    let o = snapshot(&s, &out, &template_groups(&fixture("contoso")));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let report = s.report();
    assert!(
        report.throttled >= 2,
        "the quota was never reached: {report:?}"
    );
    assert_eq!(
        report.quota_exceeded, 0,
        "a request came before its Retry-After"
    );
    assert!(
        stdout(&o).contains(&format!("{} throttled", report.throttled)),
        "{}",
        stdout(&o)
    );
    add_design_files(&fixture("contoso"), &out);
    same_plan(&fixture("contoso"), &out, &tmp);
}

/// Graph down for longer than the client's ten attempts: every 503 asks to wait, and the client
/// follows for as long as its patience (ten minutes), so the snapshot completes unchanged.
#[test]
fn an_outage_longer_than_the_attempt_count_is_ridden_out() {
    let tmp = temp_dir("graph-outage");
    let s = serve(&fixture("contoso"), quick());
    let groups = template_groups(&fixture("contoso"));
    let calm = tmp.join("calm");
    assert_eq!(code(&snapshot(&s, &calm, &groups)), 0);
    s.with(|sb| sb.outage(25));
    let down = tmp.join("down");
    let o = snapshot(&s, &down, &groups);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(s.report().outage_answered, 25);
    for f in [
        "subscribedSkus.json",
        "users.json",
        "groups.json",
        "members.json",
    ] {
        assert!(
            std::fs::read(calm.join(f)).unwrap() == std::fs::read(down.join(f)).unwrap(),
            "{f} differs after the outage"
        );
    }
}

#[test]
fn faults_are_survived_with_the_same_files() {
    let tmp = temp_dir("graph-faults");
    let s = serve(&fixture("contoso"), quick());
    let groups = template_groups(&fixture("contoso"));
    let calm = tmp.join("calm");
    assert_eq!(code(&snapshot(&s, &calm, &groups)), 0);
    let mut faults = 0;
    for seed in 1..=5u64 {
        s.with(|sb| sb.set_faults(Some(seed)));
        let stormy = tmp.join(format!("stormy-{seed}"));
        let o = snapshot(&s, &stormy, &groups);
        assert_eq!(code(&o), 0, "seed {seed}: {}", stderr(&o));
        for f in [
            "subscribedSkus.json",
            "users.json",
            "groups.json",
            "members.json",
            "organization.json",
        ] {
            assert!(
                std::fs::read(calm.join(f)).unwrap() == std::fs::read(stormy.join(f)).unwrap(),
                "seed {seed}: {f} differs after faults"
            );
        }
        let c = s.report().faults;
        faults += c.unavailable + c.timeouts;
    }
    assert!(
        faults >= 5,
        "the seeds injected too few faults to test anything: {faults}"
    );
}

#[test]
fn a_wrong_token_is_refused_and_licshift_says_how_to_sign_in() {
    let tmp = temp_dir("graph-wrong-token");
    let s = serve(&fixture("sandbox/rules-tenant"), quick());
    let out = tmp.join("snapshot");
    let o = run(
        &["snapshot", "--out", out.to_str().unwrap()],
        &[
            ("LICSHIFT_GRAPH_URL", s.graph_url.clone()),
            ("LICSHIFT_GRAPH_TOKEN", "eyJhbGciOiJub25lIn0.e30.x".into()),
        ],
    );
    assert_eq!(code(&o), 2);
    let m = message(&o);
    assert!(m.contains("licshift::graph::refused"), "{m}");
    assert!(
        m.contains("the token in LICSHIFT_GRAPH_TOKEN") && m.contains("HTTP 401"),
        "{m}"
    );
    assert!(
        m.contains("--auth azure-cli") && m.contains("LICSHIFT_GRAPH_TOKEN it printed"),
        "{m}"
    );
    assert!(!out.exists(), "nothing is written after a refusal");
}

#[test]
fn a_token_for_another_tenant_or_without_the_permissions_is_refused_before_any_read() {
    let tmp = temp_dir("graph-preflight");
    let s = serve(&fixture("sandbox/rules-tenant"), quick());
    let out = tmp.join("snapshot");
    let o = run(
        &[
            "snapshot",
            "--out",
            out.to_str().unwrap(),
            "--tenant",
            "11111111-2222-4333-8444-555555555555",
        ],
        &env_for(&s),
    );
    assert_eq!(code(&o), 2);
    let m = message(&o);
    assert!(
        m.contains("licshift::graph::tenant") && m.contains("0c000000-0000-4000-8000-000000000001"),
        "{m}"
    );
    assert!(!out.exists());
    // A token whose permissions lack Group.Read.All: refused before a single request.
    use base64::Engine as _;
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let narrow = format!(
        "{}.{}.sig",
        b64(serde_json::json!({"alg": "none"})),
        b64(
            serde_json::json!({"tid": "0c000000-0000-4000-8000-000000000001", "scp": "User.Read.All Organization.Read.All"})
        )
    );
    let before = s.report().requests;
    let o = run(
        &["snapshot", "--out", out.to_str().unwrap()],
        &[
            ("LICSHIFT_GRAPH_URL", s.graph_url.clone()),
            ("LICSHIFT_GRAPH_TOKEN", narrow),
        ],
    );
    assert_eq!(code(&o), 2);
    let m = message(&o);
    assert!(
        m.contains("licshift::graph::permissions") && m.contains("Group.Read.All"),
        "{m}"
    );
    assert_eq!(
        s.report().requests,
        before,
        "a request was sent before the permissions were checked"
    );
}

const TENANT: &str = "0c000000-0000-4000-8000-000000000001";
const APP: &str = "0d000000-0000-4000-8000-000000000001";

/// A snapshot signed in another way than the sandbox's token.
fn sign_in(
    s: &Running,
    name: &str,
    args: &[&str],
    env: &[(&'static str, String)],
) -> std::process::Output {
    let tmp = temp_dir(&format!("graph-sign-in-{name}"));
    let out = tmp.join("snapshot");
    let mut all = vec!["snapshot", "--out", out.to_str().unwrap()];
    all.extend_from_slice(args);
    let mut env = env.to_vec();
    env.push(("LICSHIFT_GRAPH_URL", s.graph_url.clone()));
    env.push(("LICSHIFT_LOGIN_URL", s.login_url.clone()));
    let o = run(&all, &env);
    if code(&o) == 0 {
        assert!(out.join("users.json").is_file());
    }
    o
}

#[test]
fn an_app_registration_signs_in_with_a_secret_or_a_certificate() {
    let s = serve(&fixture("sandbox/rules-tenant"), quick());
    let app = |extra: (&'static str, String)| {
        vec![
            ("AZURE_TENANT_ID", TENANT.to_string()),
            ("AZURE_CLIENT_ID", APP.to_string()),
            extra,
        ]
    };
    let o = sign_in(
        &s,
        "secret",
        &[],
        &app(("AZURE_CLIENT_SECRET", "s3cret".into())),
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let pem = fixture("auth/test-app.pem").to_str().unwrap().to_string();
    let o = sign_in(
        &s,
        "certificate",
        &[],
        &app(("AZURE_CLIENT_CERTIFICATE_PATH", pem)),
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // A certificate file without a key says so.
    let o = sign_in(
        &s,
        "no-key",
        &["--auth", "certificate"],
        &app((
            "AZURE_CLIENT_CERTIFICATE_PATH",
            fixture("auth/README.md").to_str().unwrap().into(),
        )),
    );
    assert_eq!(code(&o), 2);
    assert!(
        message(&o).contains("holds no RSA private key"),
        "{}",
        message(&o)
    );
    // Another tenant's app: the login host refuses, and licshift says which sign-in failed.
    let o = sign_in(
        &s,
        "other-tenant",
        &[
            "--auth",
            "secret",
            "--tenant",
            "11111111-2222-4333-8444-555555555555",
        ],
        &app(("AZURE_CLIENT_SECRET", "s3cret".into())),
    );
    assert_eq!(code(&o), 2);
    let m = message(&o);
    assert!(
        m.contains("client secret") && m.contains("AADSTS90002"),
        "{m}"
    );
}

#[test]
fn device_code_shows_the_code_and_waits_for_the_sign_in() {
    let s = serve(&fixture("sandbox/rules-tenant"), quick());
    let o = sign_in(
        &s,
        "device",
        &["--client-id", APP, "--tenant", TENANT],
        &[("LICSHIFT_DEVICE_POLL_DIVISOR", "20".into())],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("https://microsoft.com/devicelogin") && stderr(&o).contains("SANDBOX1"),
        "{}",
        stderr(&o)
    );
}

#[cfg(unix)]
#[test]
fn the_azure_cli_sign_in_is_used_when_nothing_else_is_set() {
    let s = serve(&fixture("sandbox/rules-tenant"), quick());
    let az = fixture("auth/fake-az").to_str().unwrap().to_string();
    let o = sign_in(
        &s,
        "az",
        &[],
        &[
            ("LICSHIFT_AZ", az.clone()),
            ("FAKE_AZ_TOKEN", s.token.clone()),
            ("FAKE_AZ_TENANT", TENANT.into()),
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = sign_in(&s, "az-logged-out", &[], &[("LICSHIFT_AZ", az)]);
    assert_eq!(code(&o), 2);
    let m = message(&o);
    assert!(m.contains("az login") && m.contains("Azure CLI"), "{m}");
}

#[test]
fn snapshot_and_export_script_save_one_format() {
    use licshift::graph::wire;
    let script = stdout(&licshift(&["export-script"]));
    for select in [
        wire::USER_SELECT,
        wire::GROUP_SELECT,
        wire::MEMBER_SELECT,
        wire::ORGANIZATION_SELECT,
    ] {
        assert!(
            script.contains(&format!("$select={select}")),
            "export-script does not ask for {select}"
        );
    }
    // Every user property --wave-by may name is saved.
    for p in [
        "department",
        "city",
        "companyName",
        "country",
        "employeeId",
        "employeeType",
        "jobTitle",
        "officeLocation",
        "state",
        "mail",
    ] {
        assert!(wire::USER_SELECT.split(',').any(|s| s == p), "{p}");
    }
    // The sandbox's saved tenant is read by ingest as the files it came from: the same plan.
    let tmp = temp_dir("graph-saved-tenant");
    let s = serve(&fixture("contoso"), quick());
    let saved = tmp.join("saved");
    std::fs::create_dir_all(&saved).unwrap();
    let r = http(
        "POST",
        &format!("{}/_sandbox/snapshot?out={}", s.login_url, saved.display()),
        None,
        None,
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    add_design_files(&fixture("contoso"), &saved);
    same_plan(&fixture("contoso"), &saved, &tmp);
}
