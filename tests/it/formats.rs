//! Real export formats and encodings read as `users` and friends.

use crate::util::*;

/// The malformed corpus's base snapshot with one file replaced.
fn with_file(name: &str, kind_file: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = temp_dir(name);
    copy_dir(&root().join("tests/malformed/base"), &dir);
    std::fs::write(dir.join(kind_file), bytes).unwrap();
    dir
}

fn inspect_json(dir: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["inspect", dir.to_str().unwrap(), "--format", "json"];
    args.extend_from_slice(extra);
    let out = licshift(&args);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

const ADMIN_2025: &str = "Display name,DirSyncEnabled,User principal name,Object Id,First name,Last name,When created,Soft deletion time stamp,Title,Department,Preferred data location,City,CountryOrRegion,Office,StateOrProvince,Usage location,Last dirsync time,Block credential,Licenses,Password never expires,Last password change time stamp,Mobile Phone,Phone number,Postal code,Preferred language,Street address,Fax,Proxy addresses";

#[test]
fn admin_center_2025_export_as_users() {
    assert_eq!(ADMIN_2025.split(',').count(), 28);
    let rows = "Ann,False,ann@contoso.com,1b1bd6b5-3a0e-4d5d-9a47-5a8a2f3e0001,Ann,,2022-03-18 19:49:35Z,,,Finance,,,,,,US,,False,Office 365 E3,False,2022-03-18 19:49:35Z,,,,,,,SMTP:ann@contoso.com\r\n\
Bob,False,bob@contoso.com,1b1bd6b5-3a0e-4d5d-9a47-5a8a2f3e0002,Bob,,2022-03-18 19:49:35Z,,,HR,,,,,,,,True,Unlicensed,False,2022-03-18 19:49:35Z,,,,,,,\r\n";
    let bytes = [
        b"\xEF\xBB\xBF".as_slice(),
        ADMIN_2025.as_bytes(),
        b"\r\n",
        rows.as_bytes(),
    ]
    .concat();
    let v = inspect_json(&with_file("admin-2025", "users.csv", &bytes), &[]);
    assert_eq!(v["users"]["total"], 2);
    assert_eq!(
        v["users"]["disabled"], 1,
        "Block credential True is a disabled account"
    );
    assert_eq!(v["users"]["withoutLocation"], 1);
}

#[test]
fn admin_center_older_export_as_users() {
    let header = "Block credential,City,Country/Region,Department,DirSyncEnabled,Display name,Fax,First name,Last dirsync time,Last name,Last password change time stamp,License assignment details,Licenses,Mobile Phone,Oath token meta data,Object Id,Office,Password never expires,Phone number,Postal code,Preferred data location,Preferred language,Proxy addresses,Release track,Soft deletion time stamp,State,Street address,Strong password required,Title,Usage location,User principal name,When created";
    let row = |block: &str, id: &str, upn: &str| {
        format!("{block},,,,False,X,,X,,,,,,,,{id},,False,,,,,,,,,,True,,NL,{upn},\n")
    };
    let text = format!(
        "{header}\n{}{}",
        row(
            "VERDADEIRO",
            "1b1bd6b5-3a0e-4d5d-9a47-5a8a2f3e0001",
            "ann@contoso.com"
        ),
        row(
            "False",
            "1b1bd6b5-3a0e-4d5d-9a47-5a8a2f3e0002",
            "bob@contoso.com"
        )
    );
    let v = inspect_json(&with_file("admin-old", "users.csv", text.as_bytes()), &[]);
    assert_eq!(
        v["users"]["disabled"], 1,
        "Excel's Portuguese TRUE in Block credential"
    );
}

#[test]
fn entra_download_users_as_users() {
    let header = "userPrincipalName,displayName,surname,mail,givenName,id,userType,jobTitle,department,accountEnabled,usageLocation,streetAddress,state,country,officeLocation,city,postalCode,telephoneNumber,mobilePhone,alternateEmailAddress,ageGroup,consentProvidedForMinor,legalAgeGroupClassification,companyName,creationType,directorySynced,invitationState,identityIssuer,createdDateTime";
    let row = |upn: &str, id: &str, enabled: &str| {
        format!("{upn},=1+3 X,X,,=1+3,{id},Member,,,{enabled},DE,,,,,,,,,,,,,,,,,contoso.onmicrosoft.com,8/19/2021 1:25:31 PM\n")
    };
    let text = format!(
        "{header}\n{}{}",
        row(
            "ann@contoso.com",
            "1b1bd6b5-3a0e-4d5d-9a47-5a8a2f3e0001",
            "True"
        ),
        row(
            "bob@contoso.com",
            "1b1bd6b5-3a0e-4d5d-9a47-5a8a2f3e0002",
            "False"
        )
    );
    let v = inspect_json(
        &with_file("entra-download", "users.csv", text.as_bytes()),
        &[],
    );
    assert_eq!(v["users"]["total"], 2);
    assert_eq!(v["users"]["disabled"], 1);
}

#[test]
fn encodings_and_delimiters() {
    let base = std::fs::read_to_string(root().join("tests/malformed/base/users.csv")).unwrap();
    let variants: Vec<(&str, Vec<u8>)> = vec![
        (
            "utf16le",
            [
                vec![0xFF, 0xFE],
                base.encode_utf16().flat_map(|u| u.to_le_bytes()).collect(),
            ]
            .concat(),
        ),
        (
            "utf16be",
            [
                vec![0xFE, 0xFF],
                base.encode_utf16().flat_map(|u| u.to_be_bytes()).collect(),
            ]
            .concat(),
        ),
        (
            "semicolon-crlf",
            base.replace(',', ";").replace('\n', "\r\n").into_bytes(),
        ),
        ("tab", base.replace(',', "\t").into_bytes()),
        (
            "powershell-type-line",
            format!("#TYPE System.Management.Automation.PSCustomObject\n{base}").into_bytes(),
        ),
        (
            "quoted-newline",
            base.replace(",ann,", ",\"ann\nsecond line\",").into_bytes(),
        ),
    ];
    for (name, bytes) in variants {
        let v = inspect_json(&with_file(&format!("enc-{name}"), "users.csv", &bytes), &[]);
        assert_eq!(v["users"]["total"], 2, "{name}");
        assert_eq!(v["users"]["withLocation"], 2, "{name}");
    }
}

#[test]
fn microsofts_catalog_loads_both_copies() {
    // Sixteen products cut from Microsoft's catalog, each copy as Microsoft serves it (one
    // plain, one with a byte-order mark and CRLF line ends).
    for (file, rows) in [
        ("catalog/ms-product-service-plans.sample.csv", 413),
        ("catalog/ms-product-service-plans.sample.bom-crlf.csv", 411),
    ] {
        let path = fixture(file);
        let v = inspect_json(
            &root().join("tests/malformed/base"),
            &["--catalog", path.to_str().unwrap()],
        );
        assert_eq!(v["catalogRows"], rows, "{file}");
        // Whitespace quirks absorbed: ENTERPRISEPACK gets its product name.
        let e3 = v["skus"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["skuPartNumber"] == "ENTERPRISEPACK")
            .unwrap()
            .clone();
        assert_eq!(e3["name"], "Office 365 E3", "{file}");
    }
}

#[test]
fn catalog_friendly_names_resolve_plan_lists() {
    let path = fixture("catalog/ms-product-service-plans.sample.csv");
    let text = "UserPrincipalName,SkuPartNumber,AssignedByGroup,DisabledPlans,State,Error\nann@contoso.com,ENTERPRISEPACK,,\"Yammer Enterprise\",Active,None\nbob@contoso.com,ENTERPRISEPACK,,,Active,None\n";
    let dir = with_file("catalog-friendly", "assignments.csv", text.as_bytes());
    inspect_json(&dir, &["--catalog", path.to_str().unwrap()]);
}

#[test]
fn a_workbook_sheet_per_file() {
    let dir = temp_dir("xlsx-snapshot");
    let mut book = rust_xlsxwriter::Workbook::new();
    for kind in [
        "skus",
        "users",
        "groups",
        "members",
        "templates",
        "assignments",
    ] {
        let sheet = book.add_worksheet();
        sheet.set_name(kind).unwrap();
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_path(root().join(format!("tests/malformed/base/{kind}.csv")))
            .unwrap();
        for (i, rec) in r.records().enumerate() {
            for (j, cell) in rec.unwrap().iter().enumerate() {
                // Numbers as numbers, as Excel stores them.
                match cell.parse::<f64>() {
                    Ok(n) => sheet.write_number(i as u32, j as u16, n).unwrap(),
                    Err(_) => sheet.write_string(i as u32, j as u16, cell).unwrap(),
                };
            }
        }
    }
    let path = dir.join("tenant.xlsx");
    book.save(&path).unwrap();
    let v = inspect_json(&path, &[]);
    assert_eq!(v["users"]["total"], 2);
    assert_eq!(v["skus"][0]["enabled"], 10);
    // And a bad cell is located by sheet and cell.
    let mut book = rust_xlsxwriter::Workbook::new();
    let s = book.add_worksheet();
    s.set_name("Users").unwrap();
    for (j, h) in ["Id", "UserPrincipalName"].iter().enumerate() {
        s.write_string(0, j as u16, *h).unwrap();
    }
    s.write_string(1, 0, "not-a-guid").unwrap();
    s.write_string(1, 1, "ann@contoso.com").unwrap();
    let users = dir.join("users.xlsx");
    book.save(&users).unwrap();
    let base = root().join("tests/malformed/base");
    let out = licshift(&[
        "inspect",
        base.to_str().unwrap(),
        "--users",
        users.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2);
    assert!(message(&out).contains("#Users!A2"), "{}", stderr(&out));
}
