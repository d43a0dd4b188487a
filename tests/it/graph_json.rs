//! Graph JSON snapshots: the same plan as their CSV flattening, Microsoft's documented shapes,
//! and one defect per file located by line and JSON path.

use crate::util::*;
use std::path::{Path, PathBuf};

/// The Graph JSON form of a CSV snapshot, written by the same code as `generate --format json`,
/// with the files no Graph request returns (rules, catalog) copied over.
pub(crate) fn json_form(csv: &Path, name: &str) -> PathBuf {
    let spec = licshift::ingest::SnapshotSpec {
        root: csv.to_path_buf(),
        ..Default::default()
    };
    let loaded = licshift::ingest::load(&spec).unwrap_or_else(|f| panic!("{:?}", f.problems.list));
    let dir = temp_dir(&format!("json-form-{name}"));
    let tenant = licshift::model::Guid::parse("11111111-2222-4333-8444-555555555555").unwrap();
    licshift::generate::graph_json::write(&loaded.tenant, &dir, tenant).unwrap();
    for f in ["rules.csv", "catalog.csv"] {
        if csv.join(f).exists() {
            std::fs::copy(csv.join(f), dir.join(f)).unwrap();
        }
    }
    dir
}

fn plan(snapshot: &Path, out: &Path) {
    let o = licshift(&[
        "plan",
        snapshot.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// Plans a CSV snapshot and its JSON form; the removals, blocks and diff must be the same bytes.
fn same_plan(csv: &Path, name: &str) {
    let json = json_form(csv, name);
    assert!(!json.join("users.csv").exists() && json.join("users.json").exists());
    let out = temp_dir(&format!("json-plan-{name}"));
    plan(csv, &out.join("csv"));
    plan(&json, &out.join("json"));
    for f in ["waves.csv", "blocked.csv", "diff.csv"] {
        let a = std::fs::read_to_string(out.join("csv").join(f)).unwrap();
        let b = std::fs::read_to_string(out.join("json").join(f)).unwrap();
        assert_eq!(a, b, "{name}: {f} differs between the CSV and JSON forms");
    }
}

#[test]
fn every_scenario_and_contoso_plan_the_same_from_their_json_form() {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixture("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 16);
    for d in &dirs {
        same_plan(d, &d.file_name().unwrap().to_string_lossy());
    }
    same_plan(&fixture("contoso"), "contoso");
}

#[test]
fn generated_tenant_plans_the_same_in_both_formats() {
    let dir = temp_dir("json-generated");
    for (format, sub) in [("csv", "csv"), ("json", "json")] {
        let o = licshift(&[
            "generate",
            "--users",
            "3000",
            "--out",
            dir.join(sub).to_str().unwrap(),
            "--format",
            format,
        ]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    }
    let names: Vec<String> = read_tree(&dir.join("json"))
        .into_iter()
        .map(|f| f.0)
        .collect();
    assert_eq!(
        names,
        [
            "groups.json",
            "licshift-generate.json",
            "members.json",
            "organization.json",
            "subscribedSkus.json",
            "templates.csv",
            "users.json"
        ]
    );
    plan(&dir.join("csv"), &dir.join("plan-csv"));
    plan(&dir.join("json"), &dir.join("plan-json"));
    for f in ["waves.csv", "blocked.csv", "diff.csv", "prepare.csv"] {
        assert_eq!(
            std::fs::read(dir.join("plan-csv").join(f)).unwrap(),
            std::fs::read(dir.join("plan-json").join(f)).unwrap(),
            "{f}"
        );
    }
    // plan.json records users.json once, with its hash, and verify accepts the JSON snapshot.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("plan-json/plan.json")).unwrap()).unwrap();
    let users = manifest["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["path"] == "users.json")
        .unwrap();
    assert_eq!(users["kind"], "users");
    assert_eq!(users["rows"], 3000);
    let bytes = std::fs::read(dir.join("json/users.json")).unwrap();
    assert_eq!(
        users["sha256"].as_str().unwrap(),
        licshift::ingest::sha256(&bytes)
    );
    let o = licshift(&[
        "verify",
        dir.join("plan-json").to_str().unwrap(),
        dir.join("json").to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
}

/// Microsoft's documented response shapes (the samples of the Graph reference pages for
/// subscribedSkus and a user's licenseAssignmentStates, in fixtures/graph-samples) read as
/// they are.
#[test]
fn microsofts_documented_samples_load() {
    let skus = fixture("graph-samples/subscribedSkus.docs-sample.json");
    let user = fixture("graph-samples/user-licenseAssignmentStates.docs-sample.json");
    let dir = temp_dir("json-docs-samples");
    std::fs::copy(&skus, dir.join("subscribedSkus.json")).unwrap();
    let o = licshift(&[
        "inspect",
        dir.to_str().unwrap(),
        "--skus",
        dir.join("subscribedSkus.json").to_str().unwrap(),
    ]);
    // No users file yet: the SKUs load, the missing files are what is reported.
    assert_eq!(code(&o), 2);
    assert!(message(&o).contains("no `users` file"), "{}", message(&o));
    assert!(
        !message(&o).contains("subscribedSkus.json:"),
        "{}",
        message(&o)
    );
    // The user sample names SKUs of another tenant and a group by the user's own id: give it a
    // tenant that has them.
    let sample: serde_json::Value = serde_json::from_slice(&std::fs::read(&user).unwrap()).unwrap();
    let sku_ids: std::collections::BTreeSet<String> = sample["licenseAssignmentStates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["skuId"].as_str().unwrap().to_string())
        .collect();
    let group = sample["licenseAssignmentStates"][1]["assignedByGroup"]
        .as_str()
        .unwrap()
        .to_string();
    let disabled = sample["licenseAssignmentStates"][2]["disabledPlans"][0]
        .as_str()
        .unwrap()
        .to_string();
    let skus_json: Vec<serde_json::Value> = sku_ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            serde_json::json!({"skuId": id, "skuPartNumber": format!("SKU{i}"), "consumedUnits": 1,
                "prepaidUnits": {"enabled": 5, "warning": 0, "suspended": 0},
                "servicePlans": [{"servicePlanId": if i == 2 { disabled.clone() } else { format!("00000000-0000-4000-8000-00000000000{i}") },
                                  "servicePlanName": format!("PLAN{i}"), "appliesTo": "User"}]})
        })
        .collect();
    std::fs::write(
        dir.join("subscribedSkus.json"),
        serde_json::json!({"value": skus_json}).to_string(),
    )
    .unwrap();
    std::fs::copy(&user, dir.join("users.json")).unwrap();
    std::fs::write(
        dir.join("groups.json"),
        serde_json::json!({"value": [{"id": group, "displayName": "Docs group", "securityEnabled": true,
            "licenseProcessingState": {"state": "ProcessingComplete"}, "assignedLicenses": []}]})
        .to_string(),
    )
    .unwrap();
    // No member of any licensed group: Graph's empty page (an empty file is refused).
    std::fs::write(dir.join("members.json"), "{\"value\": []}\n").unwrap();
    let o = licshift(&["inspect", dir.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["users"]["total"], 1);
    let text = stdout(&o);
    // Four states: two direct, two from the group (Graph writes the group's id, never the user's).
    assert!(
        text.contains("\"direct\": 2") && text.contains("\"inherited\": 2"),
        "{text}"
    );
}

#[test]
fn a_templates_line_may_repeat_groups_json_but_not_contradict_it() {
    let base = root().join("tests/malformed-json/base");
    let dir = temp_dir("json-templates-agree");
    copy_dir(&base, &dir);
    let group = r#"{"value":[{"id":"2c2c0000-0000-4000-8000-000000000001","displayName":"Finance","securityEnabled":true,"licenseProcessingState":{"state":"ProcessingComplete"},"assignedLicenses":[{"skuId":"6fd2c87f-b296-42f0-b197-1e91e994b900","disabledPlans":["7547a3fe-08ee-4ccb-b430-5077c5041653"]}]}]}"#;
    std::fs::write(dir.join("groups.json"), group).unwrap();
    std::fs::write(dir.join("templates.csv"), "GroupName,SkuPartNumber,DisabledPlans,Status\nFinance,ENTERPRISEPACK,YAMMER_ENTERPRISE,existing\n").unwrap();
    let o = licshift(&["inspect", dir.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // Without a templates file, groups.json's licenses are the templates.
    std::fs::remove_file(dir.join("templates.csv")).unwrap();
    let o = licshift(&["inspect", dir.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    std::fs::write(
        dir.join("templates.csv"),
        "GroupName,SkuPartNumber,DisabledPlans,Status\nFinance,ENTERPRISEPACK,,existing\n",
    )
    .unwrap();
    let o = licshift(&["inspect", dir.to_str().unwrap()]);
    assert_eq!(code(&o), 2);
    let m = message(&o);
    assert!(m.contains("licshift::input::inconsistent"), "{m}");
    assert!(
        m.contains("groups.json:1 $.value[0].assignedLicenses[0]") && m.contains("templates.csv:2"),
        "{m}"
    );
}

#[test]
fn two_sources_of_one_input_are_refused() {
    let top = temp_dir("json-two-sources");
    let dir = top.join("snapshot");
    copy_dir(&root().join("tests/malformed-json/base"), &dir);
    std::fs::copy(
        root().join("tests/malformed/base/assignments.csv"),
        dir.join("assignments.csv"),
    )
    .unwrap();
    let o = licshift(&["inspect", dir.to_str().unwrap()]);
    assert_eq!(code(&o), 2);
    assert!(
        message(&o).contains("licshift::input::file_ambiguous"),
        "{}",
        message(&o)
    );
    std::fs::remove_file(dir.join("assignments.csv")).unwrap();
    std::fs::copy(
        root().join("tests/malformed/base/users.csv"),
        dir.join("users.csv"),
    )
    .unwrap();
    let o = licshift(&["inspect", dir.to_str().unwrap()]);
    assert_eq!(code(&o), 2);
    assert!(message(&o).contains("2 `users` files"), "{}", message(&o));
    // Members written by hand (of a group to be created) stand beside members.json.
    std::fs::remove_file(dir.join("users.csv")).unwrap();
    std::fs::write(
        dir.join("templates.csv"),
        "GroupName,SkuPartNumber,DisabledPlans,Status\nLIC-New,ENTERPRISEPACK,,proposed\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("members.csv"),
        "GroupName,UserPrincipalName\nLIC-New,bob@contoso.com\n",
    )
    .unwrap();
    let o = licshift(&[
        "plan",
        dir.to_str().unwrap(),
        "--out",
        top.join("plan").to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let waves = std::fs::read_to_string(top.join("plan/waves.csv")).unwrap();
    assert!(
        waves.contains("bob@contoso.com") && waves.contains("LIC-New"),
        "{waves}"
    );
}

/// Nothing is written for a malformed JSON snapshot either.
#[test]
fn a_malformed_json_snapshot_plans_nothing() {
    let top = temp_dir("malformed-json-plan");
    let dir = top.join("snapshot");
    copy_dir(&root().join("tests/malformed-json/base"), &dir);
    std::fs::copy(
        root().join("tests/malformed-json/truncated.users.json"),
        dir.join("users.json"),
    )
    .unwrap();
    let out = licshift(&[
        "plan",
        dir.to_str().unwrap(),
        "--out",
        top.join("plan").to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(!top.join("plan").exists());
}

#[test]
fn json_base_snapshot_is_valid() {
    let out = licshift(&[
        "inspect",
        root().join("tests/malformed-json/base").to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

corpus! {
    "malformed-json", every_json_corpus_file_has_a_test;
    json_truncated_last_page => "truncated.users.json", "licshift::input::json", "users.json:2 $";
    json_wrong_type => "wrong-type.users.json", "licshift::input::json", "users.json:2 $.value[0].accountEnabled";
    json_unknown_sku_in_a_state => "unknown-sku.users.json", "licshift::input::unknown_sku", "users.json:2 $.value[0].licenseAssignmentStates[0].skuId";
    json_bad_guid => "bad-guid.subscribedSkus.json", "licshift::input::bad_guid", "subscribedSkus.json:1 $.value[0].skuId";
    json_syntax_error => "bad-syntax.groups.json", "licshift::input::json", "groups.json:1 $.value[0]";
    json_unknown_group_of_a_member => "unknown-group.members.json", "licshift::input::unknown_group", "members.json:2 $.groupId";
    json_value_is_not_a_list => "not-a-page.organization.json", "licshift::input::json", "organization.json:1 $.value";
}
