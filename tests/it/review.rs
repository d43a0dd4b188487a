//! What the change board signs: report.html and report.xlsx held against plan.json and the
//! CSVs, a hostile name rendered as text, the workbook's sheets as a reviewer gets them.

use crate::util::*;
use calamine::{Data, Reader};
use scraper::{Html, Selector};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn plan(name: &str, snapshot: &Path, extra: &[&str]) -> PathBuf {
    let out = temp_dir(name).join("plan");
    let mut args = vec![
        "plan",
        snapshot.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = licshift(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    out
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("plan.json")).unwrap()).unwrap()
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

fn text_of(e: scraper::ElementRef) -> String {
    e.text().collect::<String>().trim().to_string()
}

fn figure(doc: &Html, scope: &str, name: &str) -> i64 {
    let q = format!("{scope} [data-figure=\"{name}\"]");
    let e = doc
        .select(&sel(&q))
        .next()
        .unwrap_or_else(|| panic!("{q} missing"));
    text_of(e)
        .parse()
        .unwrap_or_else(|_| panic!("{q}: {}", text_of(e)))
}

/// Every figure of the page equals plan.json's; the page fetches nothing and runs nothing.
#[test]
fn report_html_figures_match_plan_json() {
    let rules = fixture("bridge/contoso-viva-engage.csv");
    let dir = plan(
        "review-html",
        &fixture("contoso"),
        &["--bridge", "--rules", rules.to_str().unwrap()],
    );
    let m = manifest(&dir);
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    let doc = Html::parse_document(&html);
    assert_eq!(doc.select(&sel("script")).count(), 0);
    for attr in ["src", "href"] {
        for e in doc.select(&sel(&format!("[{attr}]"))) {
            panic!("the page refers to {:?}", e.value().attr(attr));
        }
    }
    assert!(html.contains("@media print"), "a print stylesheet");
    assert_eq!(doc.select(&sel("svg")).count(), 4, "four charts");
    let summary = &m["summary"];
    for (name, key) in [
        ("usersPlanned", "usersPlanned"),
        ("removals", "removals"),
        ("waves", "waves"),
        ("blocked", "blocked"),
        ("usersWhoGainPlans", "usersWhoGainPlans"),
    ] {
        assert_eq!(
            figure(&doc, ".lede", name),
            summary[key].as_i64().unwrap(),
            "{name}"
        );
    }
    for seat in summary["seats"].as_array().unwrap() {
        let sku = seat["skuPartNumber"].as_str().unwrap();
        for k in ["before", "peak", "after"] {
            assert_eq!(
                figure(&doc, &format!("tr[data-sku=\"{sku}\"]"), k),
                seat[k].as_i64().unwrap(),
                "{sku} {k}"
            );
        }
    }
    let waves: Vec<&serde_json::Value> = m["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["stage"].as_str().unwrap().starts_with("wave "))
        .collect();
    assert_eq!(doc.select(&sel("tr[data-wave]")).count(), waves.len());
    for (i, w) in waves.iter().enumerate() {
        let scope = format!("tr[data-wave=\"{}\"]", i + 1);
        assert_eq!(figure(&doc, &scope, "users"), w["users"].as_i64().unwrap());
        assert_eq!(
            figure(&doc, &scope, "removals"),
            w["removals"].as_i64().unwrap()
        );
    }
    let by_reason = summary["blockedByReason"].as_object().unwrap();
    assert_eq!(doc.select(&sel("h3[data-reason]")).count(), by_reason.len());
    for (reason, n) in by_reason {
        assert_eq!(
            figure(&doc, &format!("h3[data-reason=\"{reason}\"]"), "count"),
            n.as_i64().unwrap(),
            "{reason}"
        );
    }
    assert_eq!(
        figure(&doc, "body", "bridged"),
        m["stages"][1]["users"].as_i64().unwrap()
    );
}

/// A display name and a UPN full of markup are shown as the text they are.
#[test]
fn a_hostile_display_name_renders_as_text() {
    let top = temp_dir("review-hostile");
    let snap = top.join("snap");
    copy_dir(&fixture("scenarios/gains-yammer"), &snap);
    let name = "<script>alert(1)</script><img src=x onerror=alert(2)> & \"Ann\"";
    let upn = "ann<b>@t.test";
    let users = std::fs::read_to_string(snap.join("users.csv")).unwrap();
    let users = users.replacen(",ann,", &format!(",\"{}\",", name.replace('"', "\"\"")), 1);
    std::fs::write(snap.join("users.csv"), users.replace("ann@t.test", upn)).unwrap();
    for f in ["members.csv", "assignments.csv"] {
        let text = std::fs::read_to_string(snap.join(f)).unwrap();
        std::fs::write(snap.join(f), text.replace("ann@t.test", upn)).unwrap();
    }
    let dir = plan("review-hostile-plan", &snap, &[]);
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    let doc = Html::parse_document(&html);
    assert_eq!(doc.select(&sel("script")).count(), 0);
    assert_eq!(doc.select(&sel("img")).count(), 0);
    assert_eq!(doc.select(&sel("td b")).count(), 0);
    let cells: Vec<String> = doc.select(&sel("td")).map(text_of).collect();
    assert!(cells.iter().any(|c| c == name), "{cells:?}");
    assert!(cells.iter().any(|c| c == upn), "{cells:?}");
}

/// A CSV cell as the spreadsheet guard wrote it, back to the value.
fn unguard(s: &str) -> String {
    match s.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest.to_string(),
        _ => s.to_string(),
    }
}

fn sheet_rows(path: &Path, name: &str) -> Vec<Vec<Data>> {
    let mut wb: calamine::Xlsx<_> = calamine::open_workbook(path).unwrap();
    let range = wb
        .worksheet_range(name)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    range.rows().map(|r| r.to_vec()).collect()
}

fn cell_text(d: &Data) -> String {
    match d {
        Data::String(s) => s.clone(),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Empty => String::new(),
        other => panic!("unexpected cell {other:?}"),
    }
}

/// Each sheet of report.xlsx is its CSV: the same header and rows, numbers as numbers and text
/// as strings; its header is frozen and filtered.
#[test]
fn report_xlsx_sheets_match_the_csvs() {
    let rules = fixture("bridge/contoso-viva-engage.csv");
    let dir = plan(
        "review-xlsx",
        &fixture("contoso"),
        &["--bridge", "--rules", rules.to_str().unwrap()],
    );
    let xlsx = dir.join("report.xlsx");
    for (sheet, csv) in [
        ("Waves", "waves.csv"),
        ("Blocked", "blocked.csv"),
        ("Prepare", "prepare.csv"),
        ("Bridge", "bridge.csv"),
    ] {
        let rows = sheet_rows(&xlsx, sheet);
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_path(dir.join(csv))
            .unwrap();
        let expected: Vec<Vec<String>> = rdr
            .records()
            .map(|r| r.unwrap().iter().map(unguard).collect())
            .collect();
        let got: Vec<Vec<String>> = rows
            .iter()
            .map(|r| r.iter().map(cell_text).collect())
            .collect();
        assert_eq!(got.len(), expected.len(), "{sheet}");
        assert_eq!(got, expected, "{sheet}");
        for r in rows.iter().skip(1) {
            for c in r {
                assert!(
                    matches!(c, Data::String(_) | Data::Float(_) | Data::Empty),
                    "{sheet}: {c:?}"
                );
            }
        }
    }
    // The wave number is a number, not text.
    assert!(matches!(sheet_rows(&xlsx, "Waves")[1][0], Data::Float(_)));
    let m = manifest(&dir);
    let seats = sheet_rows(&xlsx, "Seats");
    for (row, seat) in seats
        .iter()
        .skip(1)
        .zip(m["summary"]["seats"].as_array().unwrap())
    {
        assert_eq!(cell_text(&row[1]), seat["skuPartNumber"].as_str().unwrap());
        for (i, k) in [(3, "before"), (4, "peak"), (5, "after")] {
            assert_eq!(row[i], Data::Float(seat[k].as_f64().unwrap()), "{k}");
        }
    }
    let summary: BTreeMap<String, Data> = sheet_rows(&xlsx, "Summary")
        .into_iter()
        .skip(1)
        .map(|r| (cell_text(&r[0]), r[1].clone()))
        .collect();
    for (label, key) in [
        ("users planned", "usersPlanned"),
        ("removals", "removals"),
        ("waves", "waves"),
        ("blocked", "blocked"),
        ("users who gain plans", "usersWhoGainPlans"),
    ] {
        assert_eq!(
            summary[label],
            Data::Float(m["summary"][key].as_f64().unwrap()),
            "{label}"
        );
    }
    let gains = sheet_rows(&xlsx, "Gains");
    assert_eq!(
        gains.len() - 1,
        m["summary"]["usersWhoGainPlans"].as_u64().unwrap() as usize
    );
    // The sheets' XML: the header frozen, an autofilter over the rows.
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&xlsx).unwrap()).unwrap();
    for i in 1..=7 {
        let mut xml = String::new();
        std::io::Read::read_to_string(
            &mut zip.by_name(&format!("xl/worksheets/sheet{i}.xml")).unwrap(),
            &mut xml,
        )
        .unwrap();
        assert!(
            xml.contains("<pane ySplit=\"1\"") && xml.contains("state=\"frozen\""),
            "sheet{i}: frozen header"
        );
        assert!(
            xml.contains("<autoFilter ref=\"A1:"),
            "sheet{i}: autofilter"
        );
        assert!(xml.contains("<col "), "sheet{i}: widths");
        assert!(!xml.contains("<f>"), "sheet{i}: no formula");
    }
}

/// Past 100,000 removals the workbook is written only when asked: a million-user plan's time
/// does not change unless it is.
#[test]
fn a_large_plan_writes_the_workbook_only_with_xlsx() {
    let top = temp_dir("review-large");
    let snap = top.join("snap");
    let g = licshift(&[
        "generate",
        "--users",
        "60000",
        "--out",
        snap.to_str().unwrap(),
    ]);
    assert_eq!(code(&g), 0);
    let dir = temp_dir("review-large-plan").join("plan");
    let o = licshift(&[
        "plan",
        snap.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let removals = manifest(&dir)["summary"]["removals"].as_u64().unwrap();
    assert!(removals > 100_000, "{removals} removals");
    assert!(!dir.join("report.xlsx").exists());
    // The summary says it was skipped, and how to get it (issue #25 item 12).
    assert!(
        stdout(&o).contains("report.xlsx was not written: the plan has more than 100,000 removals; pass --xlsx to write it."),
        "{}",
        stdout(&o)
    );
    let dir = plan("review-large-plan-xlsx", &snap, &["--xlsx"]);
    let rows = sheet_rows(&dir.join("report.xlsx"), "Waves");
    assert_eq!(rows.len() as u64, removals + 1);
}
