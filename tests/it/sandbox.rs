//! Issue #28: the sandbox's own semantics, over HTTP as Graph is spoken — one rule per test on
//! fixtures/sandbox/rules-tenant (README there), and Graph's status codes, error bodies and
//! headers for what licshift sends.

use crate::util::*;
use licshift::sandbox::{self, Directory, Options, Running};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// The snapshot at `path`, loaded as `plan` loads it, served in-process on a free port.
pub fn serve(path: &std::path::Path, options: Options) -> Running {
    let sim = licshift::settings::Simulation::from_args(path, &Default::default(), None).unwrap();
    let snap = licshift::commands::load(&sim).unwrap();
    let dir = Directory::from_tenant(&snap.tenant, "2026-01-01T00:00:00Z");
    sandbox::start(dir, options).unwrap()
}

pub fn quick() -> Options {
    Options {
        processing_delay: Duration::from_millis(300),
        ..Options::default()
    }
}

pub struct Http {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Http {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on a fresh connection: what Graph's wire looks like, without a client
/// that would retry or hide a status.
pub fn http(method: &str, url: &str, token: Option<&str>, body: Option<&Value>) -> Http {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let path = path.replace(' ', "%20").replace('\'', "%27");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = token {
        req += &format!("Authorization: Bearer {t}\r\n");
    }
    if !body.is_empty() {
        req += "Content-Type: application/json\r\n";
    }
    req += "\r\n";
    req += &body;
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).unwrap()
    };
    Http {
        status,
        headers,
        body,
    }
}

const OFFICE: &str = "0b000000-0000-4000-8000-000000000001";
const E3: &str = "6fd2c87f-b296-42f0-b197-1e91e994b900";

fn rules_tenant(options: Options) -> Running {
    serve(&fixture("sandbox/rules-tenant"), options)
}

fn states(s: &Running, upn: &str) -> Vec<Value> {
    let r = http(
        "GET",
        &format!(
            "{}/users/{upn}?$select=id,licenseAssignmentStates",
            s.graph_url
        ),
        Some(&s.token),
        None,
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["licenseAssignmentStates"]
        .as_array()
        .unwrap()
        .clone()
}

fn from_office(s: &Running, upn: &str) -> Option<Value> {
    states(s, upn)
        .into_iter()
        .find(|st| st["assignedByGroup"] == OFFICE)
}

fn assign_office(s: &Running) -> Http {
    http(
        "POST",
        &format!("{}/groups/{OFFICE}/assignLicense", s.graph_url),
        Some(&s.token),
        Some(&json!({"addLicenses": [{"skuId": E3, "disabledPlans": []}], "removeLicenses": []})),
    )
}

fn wait_processed(s: &Running) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let g = http(
            "GET",
            &format!(
                "{}/groups/{OFFICE}?$select=id,licenseProcessingState",
                s.graph_url
            ),
            Some(&s.token),
            None,
        );
        if g.body["licenseProcessingState"]["state"] == "ProcessingComplete" {
            return;
        }
        assert!(Instant::now() < deadline, "the group was never processed");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_group_assignment_is_processed_after_the_delay() {
    let s = rules_tenant(quick());
    let r = assign_office(&s);
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert!(r.header("location").unwrap().contains(OFFICE));
    assert!(r.header("request-id").is_some());
    // Queued: nobody has it yet.
    let g = http(
        "GET",
        &format!(
            "{}/groups/{OFFICE}?$select=licenseProcessingState,assignedLicenses",
            s.graph_url
        ),
        Some(&s.token),
        None,
    );
    assert_eq!(
        g.body["licenseProcessingState"]["state"],
        "QueuedForProcessing"
    );
    assert_eq!(g.body["assignedLicenses"][0]["skuId"], E3);
    assert!(from_office(&s, "bob@t.test").is_none());
    wait_processed(&s);
    let bob = from_office(&s, "bob@t.test").expect("Bob's state from Office");
    assert_eq!(bob["state"], "Active");
    assert_eq!(bob["error"], "None");
    assert_eq!(s.report().lost_plans.len(), 0);
}

#[test]
fn the_last_seat_goes_to_the_first_member_and_the_next_gets_a_count_violation() {
    let s = rules_tenant(quick());
    assign_office(&s);
    wait_processed(&s);
    // Ann already held the SKU directly: no new seat. Bob took the one free seat.
    assert_eq!(from_office(&s, "ann@t.test").unwrap()["state"], "Active");
    assert_eq!(from_office(&s, "bob@t.test").unwrap()["state"], "Active");
    let dan = from_office(&s, "dan@t.test").unwrap();
    assert_eq!(
        (dan["state"].as_str(), dan["error"].as_str()),
        (Some("Error"), Some("CountViolation"))
    );
    let skus = http(
        "GET",
        &format!("{}/subscribedSkus", s.graph_url),
        Some(&s.token),
        None,
    );
    let e3 = skus.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["skuId"] == E3)
        .unwrap()
        .clone();
    assert_eq!(
        (
            e3["consumedUnits"].as_i64(),
            e3["prepaidUnits"]["enabled"].as_i64()
        ),
        (Some(2), Some(2))
    );
}

#[test]
fn a_plan_held_that_excludes_the_groups_is_a_mutually_exclusive_violation() {
    let s = rules_tenant(quick());
    assign_office(&s);
    wait_processed(&s);
    let cat = from_office(&s, "cat@t.test").unwrap();
    assert_eq!(
        (cat["state"].as_str(), cat["error"].as_str()),
        (Some("Error"), Some("MutuallyExclusiveViolation"))
    );
    // Directly, the same is refused at once with Graph's words.
    let r = http(
        "POST",
        &format!("{}/users/cat@t.test/assignLicense", s.graph_url),
        Some(&s.token),
        Some(&json!({"addLicenses": [{"skuId": E3, "disabledPlans": []}], "removeLicenses": []})),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["code"], "Request_BadRequest");
    let m = r.body["error"]["message"].as_str().unwrap();
    assert!(
        m.starts_with("License assignment failed because service plans ")
            && m.ends_with(" are mutually exclusive."),
        "{m}"
    );
    // Cat's STANDARDPACK removed and reprocessed: the group's assignment takes.
    let r = http(
        "POST",
        &format!("{}/users/cat@t.test/assignLicense", s.graph_url),
        Some(&s.token),
        Some(
            &json!({"addLicenses": [], "removeLicenses": ["18181a46-0d4e-45cd-891e-60aabd171b4e"]}),
        ),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    // Dan's CountViolation and Cat's conflict stand until reprocessed; Cat needs a seat too, and
    // there is none: Dan's error shows the same rule from the other side.
    let r = http(
        "POST",
        &format!(
            "{}/users/cat@t.test/reprocessLicenseAssignment",
            s.graph_url
        ),
        Some(&s.token),
        Some(&json!({})),
    );
    assert_eq!(r.status, 200);
    let cat = from_office(&s, "cat@t.test").unwrap();
    assert_eq!(cat["error"], "CountViolation");
}

#[test]
fn the_watch_catches_a_direct_license_removed_before_the_group_took_over() {
    let s = rules_tenant(Options {
        processing_delay: Duration::from_millis(600),
        ..Options::default()
    });
    assign_office(&s);
    // Too early: Office has not been processed, so Ann's plans come only from the direct copy.
    let r = http(
        "POST",
        &format!("{}/users/ann@t.test/assignLicense", s.graph_url),
        Some(&s.token),
        Some(&json!({"addLicenses": [], "removeLicenses": [E3]})),
    );
    assert_eq!(r.status, 200);
    let rid = r.header("request-id").unwrap().to_string();
    let report = http(
        "GET",
        &format!("{}/_sandbox/report", s.login_url),
        None,
        None,
    )
    .body;
    let lost = report["lostPlans"].as_array().unwrap();
    assert!(!lost.is_empty());
    assert!(lost.iter().all(|l| l["user"] == "ann@t.test"));
    assert!(
        lost.iter()
            .all(|l| l["request"].as_str().unwrap().contains(&rid)),
        "{lost:?}"
    );
    assert!(lost.iter().any(|l| l["plan"] == "EXCHANGE_S_ENTERPRISE"));
    assert_eq!(report["changes"], 1);
    // The same removal after processing loses nothing: Bob holds E3 from Office alone now.
    wait_processed(&s);
    let before = s.report().lost_plans.len();
    let r = http(
        "POST",
        &format!("{}/users/bob@t.test/assignLicense", s.graph_url),
        Some(&s.token),
        Some(&json!({"addLicenses": [], "removeLicenses": [E3]})),
    );
    assert_eq!(r.status, 400, "Bob has no direct copy to remove");
    assert_eq!(
        r.body["error"]["message"],
        "User does not have a corresponding license."
    );
    assert_eq!(s.report().lost_plans.len(), before);
}

#[test]
fn graphs_status_codes_and_error_bodies() {
    let s = rules_tenant(quick());
    let url = &s.graph_url;
    let t = Some(s.token.as_str());
    // 401 for any other token, as Graph does.
    let r = http("GET", &format!("{url}/users"), Some("not-the-token"), None);
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"]["code"], "InvalidAuthenticationToken");
    // 404 with Graph's message and the request id in the body and the header.
    let r = http("GET", &format!("{url}/users/nobody@t.test"), t, None);
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"]["code"], "Request_ResourceNotFound");
    assert_eq!(
        r.body["error"]["innerError"]["request-id"].as_str(),
        r.header("request-id")
    );
    // Page sizes and filters Graph refuses.
    let r = http("GET", &format!("{url}/users?$top=1000"), t, None);
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (400, Some("Request_UnsupportedQuery"))
    );
    let ids: Vec<String> = (0..16)
        .map(|i| format!("'0a000000-0000-4000-8000-{i:012}'"))
        .collect();
    let r = http(
        "GET",
        &format!("{url}/users?$filter=id in ({})", ids.join(",")),
        t,
        None,
    );
    assert_eq!(r.status, 400);
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Max allowed: 15"));
    // $select and paging by nextLink.
    let r = http(
        "GET",
        &format!("{url}/users?$select=id,userPrincipalName&$top=3"),
        t,
        None,
    );
    assert_eq!(r.body["value"].as_array().unwrap().len(), 3);
    assert_eq!(r.body["value"][0].as_object().unwrap().len(), 2);
    let next = r.body["@odata.nextLink"].as_str().unwrap().to_string();
    let r = http("GET", &next, t, None);
    assert_eq!(r.body["value"].as_array().unwrap().len(), 1);
    assert!(r.body.get("@odata.nextLink").is_none());
    // assignLicense without removeLicenses, and an unknown SKU.
    let r = http(
        "POST",
        &format!("{url}/users/dan@t.test/assignLicense"),
        t,
        Some(&json!({"addLicenses": []})),
    );
    assert_eq!(r.status, 400);
    let r = http(
        "POST",
        &format!("{url}/users/dan@t.test/assignLicense"),
        t,
        Some(
            &json!({"addLicenses": [{"skuId": "00000000-0000-4000-8000-000000000000", "disabledPlans": []}], "removeLicenses": []}),
        ),
    );
    assert_eq!(r.body["error"]["message"], "License 00000000-0000-4000-8000-000000000000 does not correspond to a valid company License.");
    // Members: a second add of the same member is 400; a missing object is 404.
    let r = http(
        "POST",
        &format!("{url}/groups/{OFFICE}/members/$ref"),
        t,
        Some(
            &json!({"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/0a000000-0000-4000-8000-000000000001"}),
        ),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["message"], "One or more added object references already exist for the following modified properties: 'members'.");
    let r = http(
        "POST",
        &format!("{url}/groups/{OFFICE}/members/$ref"),
        t,
        Some(
            &json!({"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/0a000000-0000-4000-8000-000000000099"}),
        ),
    );
    assert_eq!(r.status, 404);
    // A new group, members bound at once, removed by $ref.
    let r = http(
        "POST",
        &format!("{url}/groups"),
        t,
        Some(
            &json!({"displayName": "Pilot", "mailEnabled": false, "mailNickname": "pilot-1", "securityEnabled": true,
        "members@odata.bind": ["https://graph.microsoft.com/v1.0/directoryObjects/0a000000-0000-4000-8000-000000000004"]}),
        ),
    );
    assert_eq!(r.status, 201, "{:?}", r.body);
    let pilot = r.body["id"].as_str().unwrap().to_string();
    let r = http(
        "GET",
        &format!("{url}/groups?$filter=mailNickname eq 'pilot-1'&$select=id"),
        t,
        None,
    );
    assert_eq!(r.body["value"][0]["id"], pilot.as_str());
    let r = http(
        "DELETE",
        &format!("{url}/groups/{pilot}/members/0a000000-0000-4000-8000-000000000004/$ref"),
        t,
        None,
    );
    assert_eq!(r.status, 204);
    // $batch: answers by id, each throttled and judged on its own; more than 20 refused whole.
    let reqs: Vec<Value> = (1..=21)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/users/ann@t.test"}))
        .collect();
    let r = http(
        "POST",
        &format!("{url}/$batch"),
        t,
        Some(&json!({"requests": reqs})),
    );
    assert_eq!(r.status, 400);
    let r = http(
        "POST",
        &format!("{url}/$batch"),
        t,
        Some(&json!({"requests": [
        {"id": "a", "method": "GET", "url": "/users/ann@t.test?$select=id"},
        {"id": "b", "method": "GET", "url": "/users/nobody@t.test"}]})),
    );
    assert_eq!(r.status, 200);
    let answers = r.body["responses"].as_array().unwrap();
    assert_eq!(
        (answers[0]["id"].as_str(), answers[0]["status"].as_u64()),
        (Some("a"), Some(200))
    );
    assert_eq!(
        (answers[1]["id"].as_str(), answers[1]["status"].as_u64()),
        (Some("b"), Some(404))
    );
}

#[test]
fn writes_beyond_the_quota_are_answered_429_with_retry_after() {
    let s = rules_tenant(Options {
        write_quota: 2,
        quota_window: Duration::from_secs(2),
        ..quick()
    });
    let add = |upn: &str| {
        http(
            "POST",
            &format!("{}/users/{upn}/reprocessLicenseAssignment", s.graph_url),
            Some(&s.token),
            Some(&json!({})),
        )
    };
    assert_eq!(add("ann@t.test").status, 200);
    assert_eq!(add("bob@t.test").status, 200);
    let r = add("cat@t.test");
    assert_eq!(r.status, 429);
    assert_eq!(r.body["error"]["code"], "TooManyRequests");
    let after: f64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(after > 0.0 && after <= 2.0, "{after}");
    assert_eq!(
        r.header("x-ms-throttle-information"),
        Some("WriteLimitExceeded")
    );
    // Sent before the Retry-After elapsed: counted against the client.
    add("dan@t.test");
    let report = s.report();
    assert_eq!((report.throttled, report.quota_exceeded), (2, 1));
    std::thread::sleep(Duration::from_secs_f64(after + 0.05));
    assert_eq!(add("cat@t.test").status, 200);
}
