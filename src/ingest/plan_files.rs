//! Reading a plan back for `verify`: `plan.json` (what was planned from what) and `waves.csv`
//! (the removals — possibly edited by a reviewer, so every row is checked and located).

use super::cells;
use super::columns::{Col, Columns};
use crate::diag::{quote, Code, Origin, Problem, Problems, SourceNames};
use crate::model::{Guid, InputFile};

/// One removal row of waves.csv.
#[derive(Debug, Clone)]
pub struct PlannedRemoval {
    pub wave: u32,
    pub user_id: Option<Guid>,
    pub upn: String,
    pub sku_id: Option<Guid>,
    pub sku_part: String,
    pub origin: Origin,
}

/// What plan.json says about how the plan was made.
#[derive(Debug, Clone, Default)]
pub struct PlanManifest {
    pub inputs: Vec<InputFile>,
    pub tenant_location: Option<String>,
    pub strict_seats: bool,
    pub exact: bool,
    /// Planned with `--bridge`: the waves follow a bridge stage.
    pub bridge: bool,
    /// Planned with `--rules FILE`: that file, as given.
    pub rules_file: Option<String>,
    /// The plan's id, as its scripts record it (plans written before it was recorded: none).
    pub plan_id: Option<String>,
    /// The folder's seal (v2): every file but plan.json and run/, with its digest. `None` for
    /// a v1 plan, which had none.
    pub files: Option<Vec<super::folder::SealedFile>>,
}

pub struct ReadPlan {
    pub manifest: Option<PlanManifest>,
    /// The plan folder the manifest came from.
    pub folder: Option<std::path::PathBuf>,
    /// PLAN named a waves.csv, not the folder: a reviewer's edit of it is expected.
    pub waves_named: bool,
    pub removals: Vec<PlannedRemoval>,
    pub names: SourceNames,
}

const COLS: &[Col] = &[
    Col {
        name: "wave",
        aliases: &[],
    },
    Col {
        name: "userId",
        aliases: &["UserId", "Id"],
    },
    Col {
        name: "userPrincipalName",
        aliases: &["UPN"],
    },
    Col {
        name: "skuId",
        aliases: &[],
    },
    Col {
        name: "skuPartNumber",
        aliases: &["Sku"],
    },
];

/// The largest waves.csv read: a million-user plan's is a quarter of a gigabyte.
const WAVES_CAP: u64 = 4 << 30;

/// Reads a plan folder (plan.json + waves.csv) or a bare waves.csv.
pub fn read(path: &std::path::Path) -> Result<ReadPlan, Problems> {
    let mut problems = Problems::default();
    // A waves.csv inside a plan folder is read with that folder's plan.json: how the plan was
    // made, and the seal of every other file.
    let folder = if path.is_dir() {
        Some(path.to_path_buf())
    } else {
        path.parent()
            .filter(|d| d.join("plan.json").is_file())
            .map(|d| d.to_path_buf())
    };
    let waves_named = !path.is_dir();
    let waves_path = if path.is_dir() {
        path.join("waves.csv")
    } else {
        path.to_path_buf()
    };
    let json_path = folder.as_ref().map(|d| d.join("plan.json"));
    let manifest = match json_path.filter(|p| p.exists()) {
        Some(p) => match read_manifest(&p) {
            Ok(m) => Some(m),
            Err(e) => {
                problems.push(e);
                return Err(problems);
            }
        },
        None => None,
    };
    let mut names = SourceNames::default();
    let shown = waves_path.file_name().map_or_else(
        || waves_path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    if let Err(why) = super::folder::regular_file(&waves_path, WAVES_CAP) {
        problems.push(
            Problem::error(
                Code::FileUnreadable,
                format!("{}: {why}", waves_path.display()),
            )
            .help("PLAN is a folder written by `licshift plan`, or its waves.csv"),
        );
        return Err(problems);
    }
    // waves.csv is as long as the plan (256 MB at a million users): streamed like an input.
    let table = match super::open_csv(&waves_path, shown.clone()) {
        Ok((_, Ok(mut t))) => {
            t.file = names.add(shown, false);
            t
        }
        Ok((_, Err(p))) => {
            names.add(shown, false);
            problems.push(p);
            return Err(problems);
        }
        Err(e) => {
            problems.push(
                Problem::error(
                    Code::FileMissing,
                    format!("cannot read {}: {e}", waves_path.display()),
                )
                .help("PLAN is a folder written by `licshift plan`, or its waves.csv"),
            );
            return Err(problems);
        }
    };
    let mut header_problems = Vec::new();
    let cols = Columns::resolve(&table, COLS, &mut header_problems);
    for p in header_problems {
        problems.push(p);
    }
    for (need, alt) in [(0usize, None), (1, Some(2usize)), (3, Some(4usize))] {
        if cols.get(need).is_none() && alt.and_then(|a| cols.get(a)).is_none() {
            problems.push(super::columns::missing(
                &table,
                &COLS[need],
                alt.map(|a| &COLS[a]),
            ));
        }
    }
    if problems.has_errors() {
        return Err(problems);
    }
    fn get<'r>(cols: &Columns, row: &'r super::table::Row, i: usize) -> &'r str {
        cols.get(i).map_or("", |c| cells::clean(row.get(c)))
    }
    let mut removals = Vec::new();
    let mut bad = Vec::new();
    let mut row_problems = Vec::new();
    table.for_each_row(
        |p| row_problems.push(p),
        |row| {
            let wave_text = get(&cols, row, 0);
            let Ok(wave) = wave_text.parse::<u32>() else {
                bad.push(
                    Problem::error(
                        Code::BadValue,
                        format!("wave {} is not a wave number", quote(wave_text)),
                    )
                    .at(table.locate(row.origin.at_col(cols.get(0).unwrap_or(0)))),
                );
                return;
            };
            let user_text = get(&cols, row, 1);
            let sku_text = get(&cols, row, 3);
            let user_id = cells::guid(user_text);
            let sku_id = cells::guid(sku_text);
            if !user_text.is_empty() && user_id.is_none() {
                bad.push(
                    Problem::error(
                        Code::BadGuid,
                        format!("{} is not a user id", quote(user_text)),
                    )
                    .at(table.locate(row.origin.at_col(cols.get(1).unwrap_or(0)))),
                );
                return;
            }
            if !sku_text.is_empty() && sku_id.is_none() {
                bad.push(
                    Problem::error(
                        Code::BadGuid,
                        format!("{} is not a SKU id", quote(sku_text)),
                    )
                    .at(table.locate(row.origin.at_col(cols.get(3).unwrap_or(0)))),
                );
                return;
            }
            removals.push(PlannedRemoval {
                wave,
                user_id,
                upn: get(&cols, row, 2).to_string(),
                sku_id,
                sku_part: get(&cols, row, 4).to_string(),
                origin: row.origin,
            });
        },
    );
    for p in row_problems.into_iter().chain(bad) {
        problems.push(p);
    }
    if problems.has_errors() {
        return Err(problems);
    }
    Ok(ReadPlan {
        manifest,
        folder,
        waves_named,
        removals,
        names,
    })
}

/// The parts of plan.json `verify` reads. A million-user plan.json is half a gigabyte of
/// removals: read into a JSON tree it took 3.5 GB; read into this, serde checks the rest and
/// keeps none of it. The parts kept are read as leniently as before (a field of the wrong
/// type is as good as absent).
#[derive(serde::Deserialize)]
struct ManifestJson {
    #[serde(default)]
    schema: serde_json::Value,
    #[serde(default)]
    inputs: serde_json::Value,
    #[serde(default)]
    simulation: serde_json::Value,
    #[serde(default)]
    options: serde_json::Value,
    #[serde(default)]
    files: serde_json::Value,
    #[serde(default, rename = "planId")]
    plan_id: serde_json::Value,
}

/// The seal's entries, each checked before anything uses it: a path inside the folder
/// (relative, `/`-separated, no `..`), a SHA-256 of 64 hex digits and a size. A manifest is
/// data someone could have edited; nothing in it may send verify outside the folder.
fn sealed_files(files: &serde_json::Value) -> Result<Vec<super::folder::SealedFile>, Problem> {
    let bad = |i: usize, field: &str, why: String| {
        Problem::error(
            Code::BadValue,
            format!("plan.json $.files[{i}].{field}: {why}"),
        )
        .at("plan.json".into())
        .help("the seal was edited: take the plan folder as licshift plan wrote it")
    };
    let Some(list) = files.as_array() else {
        return Err(Problem::error(
            Code::BadValue,
            "plan.json $.files: a licshift.plan/v2 manifest seals its files in a list".to_string(),
        )
        .at("plan.json".into()));
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, f) in list.iter().enumerate() {
        let path = f["path"]
            .as_str()
            .ok_or_else(|| bad(i, "path", "missing or not text".into()))?;
        if !super::folder::is_sealable_path(path) {
            return Err(bad(
                i,
                "path",
                format!("{} is not a path inside the plan folder", quote(path)),
            ));
        }
        let sha256 = f["sha256"].as_str().unwrap_or_default();
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad(
                i,
                "sha256",
                format!("{} is not a SHA-256 (64 hex digits)", quote(sha256)),
            ));
        }
        let bytes = f["bytes"]
            .as_u64()
            .ok_or_else(|| bad(i, "bytes", "missing or not a whole number".into()))?;
        out.push(super::folder::SealedFile {
            path: path.to_string(),
            sha256: sha256.to_ascii_lowercase(),
            bytes,
        });
    }
    Ok(out)
}

/// The largest plan.json read: a v1 manifest of a million users is half a gigabyte.
const MANIFEST_CAP: u64 = 1 << 30;

fn read_manifest(path: &std::path::Path) -> Result<PlanManifest, Problem> {
    super::folder::regular_file(path, MANIFEST_CAP).map_err(|why| {
        Problem::error(Code::FileUnreadable, format!("{}: {why}", path.display()))
            .at("plan.json".into())
    })?;
    // Read whole: serde_json skims a slice several times faster than a reader.
    let bytes = std::fs::read(path).map_err(|e| {
        Problem::error(
            Code::FileUnreadable,
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let wrong_schema = |schema: &serde_json::Value| {
        Problem::error(
            Code::BadValue,
            format!("plan.json has schema {schema}, not licshift.plan/v2 or v1"),
        )
        .at("plan.json".into())
        .help("verify a plan with the licshift version that wrote it")
    };
    let not_json = |e: serde_json::Error| {
        Problem::error(Code::BadValue, format!("plan.json is not valid JSON: {e}")).at(format!(
            "plan.json:{}:{}",
            e.line(),
            e.column()
        ))
    };
    // JSON that is no object (a list, a number) has no schema; serde would read a list into
    // the struct field by field, so it is read as a tree, as small as it then is.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(not_json)?;
        return Err(wrong_schema(&v["schema"]));
    }
    let v: ManifestJson = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => return Err(not_json(e)),
    };
    if v.schema != "licshift.plan/v1" && v.schema != "licshift.plan/v2" {
        return Err(wrong_schema(&v.schema));
    }
    let files = if v.schema == "licshift.plan/v2" {
        Some(sealed_files(&v.files)?)
    } else {
        None
    };
    let inputs = v
        .inputs
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| InputFile {
                    kind: i["kind"].as_str().unwrap_or_default().to_string(),
                    path: i["path"].as_str().unwrap_or_default().to_string(),
                    sha256: i["sha256"].as_str().unwrap_or_default().to_string(),
                    rows: i["rows"].as_u64().unwrap_or(0),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(PlanManifest {
        inputs,
        tenant_location: v.simulation["tenant_location"].as_str().map(String::from),
        strict_seats: v.simulation["strict_seats"].as_bool().unwrap_or(false),
        exact: v.simulation["exact"].as_bool().unwrap_or(false),
        bridge: v.options["bridge"].as_bool().unwrap_or(false),
        rules_file: v.options["rules_file"].as_str().map(String::from),
        plan_id: v
            .plan_id
            .as_str()
            .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(String::from),
        files,
    })
}

/// One row of prepare.csv: a group to create, a template line to assign, a member to add.
#[derive(Debug, Clone, Default)]
pub struct PrepareRow {
    pub action: String,
    pub group_id: Option<Guid>,
    pub group_name: String,
    pub sku_id: Option<Guid>,
    pub disabled_plans: Vec<Guid>,
    pub user_id: Option<Guid>,
    pub upn: String,
}

/// prepare.csv as `plan` wrote it (the folder's seal vouches for it; apply checks the seal
/// first).
pub fn read_prepare(path: &std::path::Path) -> std::io::Result<Vec<PrepareRow>> {
    let mut r = csv::ReaderBuilder::new().from_path(path)?;
    let headers = r.headers()?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (a, gi, gn, si, dp, ui, up) = (
        col("action"),
        col("groupId"),
        col("groupName"),
        col("skuId"),
        col("disabledPlans"),
        col("userId"),
        col("userPrincipalName"),
    );
    let mut out = Vec::new();
    for rec in r.records() {
        let rec = rec?;
        let get = |i: Option<usize>| i.and_then(|i| rec.get(i)).unwrap_or("").trim().to_string();
        out.push(PrepareRow {
            action: get(a),
            group_id: Guid::parse(&get(gi)),
            group_name: get(gn),
            sku_id: Guid::parse(&get(si)),
            disabled_plans: get(dp).split(';').filter_map(Guid::parse).collect(),
            user_id: Guid::parse(&get(ui)),
            upn: get(up),
        });
    }
    Ok(out)
}
