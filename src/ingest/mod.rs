//! ingest: the only place that parses text. A snapshot folder (or one workbook) of exports
//! becomes one typed `Tenant`, or a list of located problems.
//!
//! Files are read in dependency order — SKUs and plans, the catalog, users, groups, templates,
//! members, assignments, rules, organization — so each reference is resolved as it is read and
//! an unknown one points at the row that names it.

mod cells;
mod columns;
mod files;
pub mod folder;
pub mod json;
pub mod plan_files;
mod sheet;
mod stream;
mod table;
mod text;
mod upn;

pub use cells::{boolean, guid, license_error, list, state};
pub use columns::norm;
pub use text::{decode, sniff_delimiter, unclosed_quote};

use crate::diag::{quote, Code, Origin, Problem, Problems, SourceNames};
use crate::model::{
    DepartmentIdx, GroupIdx, Guid, IdMap, InputFile, PlanIdx, PlanSet, RuleSpec, SkuIdx, Tenant,
    UserIdx,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use table::{Row, Table};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FileKind {
    Skus,
    Catalog,
    Users,
    Groups,
    Templates,
    Members,
    Assignments,
    Rules,
    Organization,
}

impl FileKind {
    pub const ALL: [FileKind; 9] = [
        FileKind::Skus,
        FileKind::Catalog,
        FileKind::Users,
        FileKind::Groups,
        FileKind::Templates,
        FileKind::Members,
        FileKind::Assignments,
        FileKind::Rules,
        FileKind::Organization,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FileKind::Skus => "skus",
            FileKind::Catalog => "catalog",
            FileKind::Users => "users",
            FileKind::Groups => "groups",
            FileKind::Templates => "templates",
            FileKind::Members => "members",
            FileKind::Assignments => "assignments",
            FileKind::Rules => "rules",
            FileKind::Organization => "organization",
        }
    }

    pub fn required(self) -> bool {
        !matches!(
            self,
            FileKind::Rules | FileKind::Catalog | FileKind::Organization
        )
    }
}

/// What to read: the snapshot and any per-file overrides (`--users PATH[#Sheet]`).
#[derive(Debug, Clone, Default)]
pub struct SnapshotSpec {
    pub root: PathBuf,
    pub overrides: Vec<(FileKind, String)>,
    /// The user attribute `--wave-by` groups on, kept per user when set.
    pub wave_by: Option<String>,
    /// The flag that named it, for the messages: `--wave-by` (plan), `--by` (suggest).
    pub wave_by_flag: Option<&'static str>,
    /// `--tenant-location`: in force before the checks that speak of it.
    pub tenant_location: Option<crate::model::Country>,
    /// `suggest` starts before any template is written: a missing or empty templates file
    /// is then no cut-short export.
    pub templates_optional: bool,
}

/// A tenant that loaded, with the warnings found on the way and the rules-file relations
/// (resolved against the built-in defaults by the engine).
pub struct Loaded {
    pub tenant: Tenant,
    pub warnings: Problems,
    pub file_rules: Vec<RuleSpec>,
    pub names: SourceNames,
}

/// The snapshot did not load: every problem found, errors and warnings.
#[derive(Debug)]
pub struct Failed {
    pub problems: Problems,
}

const EXTENSIONS: [&str; 8] = ["csv", "tsv", "txt", "xlsx", "xlsm", "xls", "ods", "xlsb"];

/// Where one input comes from.
#[derive(Debug, Clone)]
enum Located {
    File(PathBuf),
    /// CSV text already in memory (the fuzzer's way in).
    Bytes(String, Vec<u8>),
    Sheet(PathBuf, Option<String>),
    /// A Graph JSON file, read as one of its views.
    Json(PathBuf, json::View),
}

/// An input made ready for parsing. CSV files are read, hashed and decoded on a second thread
/// while the previous file is parsed: at a million users that work is a fifth of ingest.
enum Ready {
    Csv {
        name: String,
        sha256: String,
        /// Its `file` is set when it is registered, in input order, on the parsing thread.
        table: Result<Table, Problem>,
    },
    Unreadable {
        name: String,
        error: std::io::Error,
    },
    /// A sheet of a workbook (path, sheet name): opened on the parsing thread, where one book
    /// serves several files.
    Sheet(PathBuf, Option<String>),
    Json {
        name: String,
        path: PathBuf,
        view: json::View,
    },
}

fn shown(spec: &SnapshotSpec, p: &Path) -> String {
    p.strip_prefix(&spec.root)
        .ok()
        .filter(|r| !r.as_os_str().is_empty())
        .map_or_else(|| p.display().to_string(), |r| r.display().to_string())
}

fn make_ready(spec: &SnapshotSpec, located: Located) -> Ready {
    match located {
        Located::Bytes(name, bytes) => Ready::Csv {
            sha256: sha256(&bytes),
            table: Table::from_csv(0, name.clone(), bytes),
            name,
        },
        Located::File(path) => {
            let name = shown(spec, &path);
            match open_csv(&path, name.clone()) {
                // A streamed table is hashed as it is parsed: see `Table::streamed_sha256`.
                Ok((sha256, table)) => Ready::Csv {
                    sha256: sha256.unwrap_or_default(),
                    table,
                    name,
                },
                Err(error) => Ready::Unreadable { name, error },
            }
        }
        Located::Sheet(path, sheet) => Ready::Sheet(path, sheet),
        Located::Json(path, view) => Ready::Json {
            name: shown(spec, &path),
            path,
            view,
        },
    }
}

/// A CSV file made ready to parse: streamed when it is large and clean (`stream`), else read
/// whole, checked and hashed (the hash is `None` for a streamed file, known once parsed).
pub(crate) fn open_csv(
    path: &Path,
    name: String,
) -> std::io::Result<(Option<String>, Result<Table, Problem>)> {
    let mut file = std::fs::File::open(path)?;
    if let Some(scanned) = stream::scan(&mut file, stream_threshold())? {
        let table = Table::streamed(name, path.to_path_buf(), file, scanned);
        return Ok((None, Ok(table)));
    }
    drop(file);
    let bytes = std::fs::read(path)?;
    Ok((Some(sha256(&bytes)), Table::from_csv(0, name, bytes)))
}

/// Files from this size on are streamed (`stream`). Debug builds take another size from
/// `LICSHIFT_STREAM_BYTES`, so the tests can send every fixture and malformed file down the
/// streamed path and compare.
fn stream_threshold() -> u64 {
    #[cfg(debug_assertions)]
    if let Some(n) = std::env::var("LICSHIFT_STREAM_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return n;
    }
    stream::STREAM_BYTES
}

fn locate_inputs(spec: &SnapshotSpec, problems: &mut Problems) -> Vec<(FileKind, Located)> {
    let mut out = Vec::new();
    let root = &spec.root;
    let workbook = root.is_file() && sheet::is_spreadsheet(root);
    if !root.exists() {
        problems.push(
            Problem::error(
                Code::FileMissing,
                format!("snapshot {} does not exist", root.display()),
            )
            .help("SNAPSHOT is a folder of exports or one workbook with a sheet per file"),
        );
        return out;
    }
    // One file where the folder was expected: said once, not once per missing file.
    if root.is_file() && !workbook {
        problems.push(
            Problem::error(
                Code::FileMissing,
                format!("snapshot {} is a file, not a folder", root.display()),
            )
            .help("SNAPSHOT is the folder that holds the exports (or one workbook with a sheet per file); name a single file with --users, --skus, …"),
        );
        return out;
    }
    let listing: Vec<PathBuf> = if root.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(root)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        v.sort();
        v
    } else {
        Vec::new()
    };
    for kind in FileKind::ALL {
        if let Some((_, given)) = spec.overrides.iter().find(|(k, _)| *k == kind) {
            let (path, sheet) = match given.split_once('#') {
                Some((p, s)) => (PathBuf::from(p), Some(s.to_string())),
                None => (PathBuf::from(given), None),
            };
            if !path.is_file() {
                problems.push(Problem::error(
                    Code::FileMissing,
                    format!("--{} {}: no such file", kind.name(), path.display()),
                ));
            } else if sheet::is_spreadsheet(&path) {
                out.push((kind, Located::Sheet(path, sheet)));
            } else if let (true, Some((_, view))) = (is_json(&path), json::file_for(kind)) {
                out.push((kind, Located::Json(path, view)));
            } else {
                out.push((kind, Located::File(path)));
            }
            continue;
        }
        if workbook {
            out.push((
                kind,
                Located::Sheet(root.clone(), Some(kind.name().to_string())),
            ));
            continue;
        }
        let found: Vec<&PathBuf> = listing
            .iter()
            .filter(|p| {
                let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("");
                let ext = p
                    .extension()
                    .and_then(|s| s.to_str())
                    .unwrap_or("")
                    .to_ascii_lowercase();
                stem.eq_ignore_ascii_case(kind.name())
                    && EXTENSIONS.contains(&ext.as_str())
                    && p.is_file()
            })
            .collect();
        // Graph JSON: users.json gives users and assignments, groups.json groups and their
        // existing templates (beside a templates file of proposed lines).
        let from_json = json::file_for(kind).and_then(|(stems, view)| {
            let hit = listing.iter().find(|p| {
                let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("");
                is_json(p) && stems.iter().any(|s| stem.eq_ignore_ascii_case(s)) && p.is_file()
            })?;
            Some((hit.clone(), view))
        });
        let found = match (from_json, found.as_slice()) {
            // Templates and members a person writes (proposed lines, members of new groups)
            // stand beside those the export saved.
            (Some((path, view @ (json::View::GroupTemplates | json::View::Members))), _) => {
                out.push((kind, Located::Json(path, view)));
                if found.is_empty() {
                    continue;
                }
                found
            }
            // The users.json pass reads the assignments too.
            (Some((_, json::View::Assignments)), []) => continue,
            (Some((path, view)), []) => {
                out.push((kind, Located::Json(path, view)));
                continue;
            }
            (Some((path, _)), [csv, ..]) => {
                problems.push(ambiguous(root, kind, &[&path, csv]));
                continue;
            }
            (None, _) => found,
        };
        match found.as_slice() {
            [] if kind.required()
                && !served_by_json(&out, kind)
                && !(kind == FileKind::Templates && spec.templates_optional) =>
            {
                problems.push(
                    Problem::error(
                        Code::FileMissing,
                        format!("the snapshot has no `{}` file", kind.name()),
                    )
                    .at(root.display().to_string())
                    .help(format!(
                        "expected {}.csv (or .xlsx, .xls, .ods) in {}; or name it with --{}",
                        kind.name(),
                        root.display(),
                        kind.name()
                    )),
                )
            }
            [] => {}
            [one] if sheet::is_spreadsheet(one) => {
                out.push((kind, Located::Sheet((*one).clone(), None)))
            }
            [one] => out.push((kind, Located::File((*one).clone()))),
            many => problems.push(ambiguous(root, kind, many)),
        }
    }
    let users_json = out
        .iter()
        .position(|(k, l)| *k == FileKind::Users && matches!(l, Located::Json(..)));
    if let Some(u) = users_json {
        if let Some((_, l)) = out.iter().find(|(k, _)| *k == FileKind::Assignments) {
            let other = match l {
                Located::File(p) | Located::Sheet(p, _) | Located::Json(p, _) => {
                    p.display().to_string()
                }
                Located::Bytes(n, _) => n.clone(),
            };
            problems.push(
                Problem::error(
                    Code::FileAmbiguous,
                    format!("the assignments come from the users JSON's licenseAssignmentStates and from {other}"),
                )
                .at(root.display().to_string())
                .help("keep one of them"),
            );
        }
        // Each user's states are read with the user and may name groups: groups first.
        if let Some(g) = out.iter().position(|(k, _)| *k == FileKind::Groups) {
            if g > u {
                let groups = out.remove(g);
                out.insert(u, groups);
            }
        }
    }
    out
}

/// Two or more files for one input.
fn ambiguous(root: &Path, kind: FileKind, files: &[&PathBuf]) -> Problem {
    let names: Vec<String> = files
        .iter()
        .map(|p| {
            p.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    Problem::error(
        Code::FileAmbiguous,
        format!("the snapshot has {} `{}` files", files.len(), kind.name()),
    )
    .at(root.display().to_string())
    .help(format!("keep one of: {}", names.join(", ")))
}

fn is_json(p: &Path) -> bool {
    p.extension()
        .and_then(|s| s.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("json") || e.eq_ignore_ascii_case("jsonl"))
}

/// Assignments come with users.json; templates with groups.json (a templates file may add
/// proposed lines, and need not be there); members with members.json.
fn served_by_json(out: &[(FileKind, Located)], kind: FileKind) -> bool {
    let by = match kind {
        FileKind::Assignments => FileKind::Users,
        FileKind::Templates => FileKind::Groups,
        FileKind::Members => FileKind::Members,
        _ => return false,
    };
    out.iter()
        .any(|(k, l)| *k == by && matches!(l, Located::Json(..)))
}

/// Reads a snapshot into a typed tenant.
pub fn load(spec: &SnapshotSpec) -> Result<Loaded, Failed> {
    let mut ctx = Ctx::new(spec.wave_by.clone());
    ctx.wave_by_flag = spec.wave_by_flag.unwrap_or("--wave-by");
    let inputs = locate_inputs(spec, &mut ctx.problems);
    if ctx.problems.has_errors() {
        return Err(Failed {
            problems: ctx.problems,
        });
    }
    load_located(ctx, spec, inputs)
}

/// Parses the inputs in order as they arrive ready.
fn parse_inputs(
    ctx: &mut Ctx,
    spec: &SnapshotSpec,
    inputs: std::sync::mpsc::Receiver<(FileKind, Ready)>,
    books: &mut HashMap<PathBuf, (sheet::Workbook, String)>,
) {
    for (kind, ready) in inputs {
        // Templates, members and assignments refer to SKUs, users and groups: once those have
        // errors, every reference would repeat them as "unknown user" noise.
        if matches!(
            kind,
            FileKind::Templates | FileKind::Members | FileKind::Assignments
        ) && ctx.problems.has_errors()
        {
            break;
        }
        let Some(table) = ctx.open(spec, kind, ready, books) else {
            continue;
        };
        let view = table.json_view();
        let rows = match kind {
            FileKind::Users if view == Some(json::View::UsersAndAssignments) => {
                let mut states = Table::json(
                    0,
                    table.name.clone(),
                    table.json_path(),
                    json::View::Assignments,
                );
                let layout = states.json_layout().expect("a JSON table");
                states.file = ctx.names.add_json(table.name.clone(), layout);
                files::users_and_assignments(ctx, &table, &states)
            }
            FileKind::Skus => files::skus(ctx, &table),
            FileKind::Catalog => files::catalog(ctx, &table),
            FileKind::Users => files::users(ctx, &table),
            FileKind::Groups => files::groups(ctx, &table),
            FileKind::Templates => files::templates(ctx, &table),
            FileKind::Members => files::members(ctx, &table),
            FileKind::Assignments => files::assignments(ctx, &table),
            FileKind::Rules => files::rules(ctx, &table),
            FileKind::Organization => files::organization(ctx, &table),
        };
        let listed = view != Some(json::View::GroupTemplates);
        if let Some(input) = ctx.t.inputs.last_mut().filter(|_| listed) {
            input.rows = rows;
            match table.streamed_sha256() {
                Some(Ok(h)) => input.sha256 = h,
                Some(Err(e)) => {
                    let p = Problem::error(
                        Code::FileUnreadable,
                        format!("cannot read {}: {e}", table.name),
                    );
                    ctx.problems.push(p.at(table.name.clone()));
                }
                None => {}
            }
        }
        // A templates file of no lines beside groups.json, whose licenses are the templates,
        // is no cut-short export.
        let json_templates = kind == FileKind::Templates
            && (spec.templates_optional || ctx.t.templates.iter().any(|l| !l.is_empty()));
        if rows == 0
            && listed
            && !json_templates
            && matches!(kind, FileKind::Skus | FileKind::Users | FileKind::Templates)
            && !ctx.problems.has_errors()
        {
            let at = table.locate(table.header_origin(0));
            let p = Problem::error(
                Code::HeaderOnly,
                format!("{} has a header but no records", table.name),
            )
            .at(at)
            .help(format!(
                "a snapshot needs at least one {} record: was the export cut short?",
                kind.name()
            ));
            ctx.problems.push(p);
        }
        if kind == FileKind::Catalog {
            ctx.t.catalog_rows = Some(rows);
        }
        if ctx.problems.full() {
            break;
        }
    }
}

/// Reads CSV files held in memory, named `kind.csv`: the same checks as `load`, no file system.
pub fn load_csv_bytes(files: Vec<(FileKind, Vec<u8>)>) -> Result<Loaded, Failed> {
    let mut files = files;
    files.sort_by_key(|f| f.0);
    let inputs = files
        .into_iter()
        .map(|(k, b)| (k, Located::Bytes(format!("{}.csv", k.name()), b)))
        .collect();
    load_located(Ctx::new(None), &SnapshotSpec::default(), inputs)
}

fn load_located(
    mut ctx: Ctx,
    spec: &SnapshotSpec,
    inputs: Vec<(FileKind, Located)>,
) -> Result<Loaded, Failed> {
    let mut books: HashMap<PathBuf, (sheet::Workbook, String)> = HashMap::new();
    std::thread::scope(|scope| {
        // One file ready ahead of the one being parsed: overlap without holding every input.
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        scope.spawn(move || {
            for (kind, located) in inputs {
                if tx.send((kind, make_ready(spec, located))).is_err() {
                    break;
                }
            }
        });
        parse_inputs(&mut ctx, spec, rx, &mut books);
    });
    if ctx.problems.has_errors() {
        return Err(Failed {
            problems: ctx.problems,
        });
    }
    let memberships = std::mem::take(&mut ctx.memberships);
    ctx.t.finish(memberships);
    if let Some(c) = spec.tenant_location {
        ctx.t.tenant_location = Some(c);
    }
    files::whole_tenant_checks(&mut ctx);
    Ok(Loaded {
        tenant: ctx.t,
        warnings: ctx.problems,
        file_rules: ctx.file_rules,
        names: ctx.names,
    })
}

/// Departments looked up by comparison before hashing (`Lookup::department`).
const FEW_DEPARTMENTS: usize = 16;

/// Lookup tables built while reading; hash maps serve lookups only, never output order.
#[derive(Default)]
pub(crate) struct Lookup {
    plan_by_id: IdMap<Guid, PlanIdx>,
    plan_by_name: HashMap<String, PlanIdx>,
    sku_by_id: IdMap<Guid, SkuIdx>,
    sku_by_part: HashMap<String, SkuIdx>,
    user_by_id: IdMap<Guid, UserIdx>,
    /// The last user id resolved, and to whom.
    last_user: Option<(Guid, UserIdx)>,
    /// Built on first use: exports that name users by id never pay for it.
    user_by_upn: Option<upn::UpnIndex>,
    /// Departments beyond the first few (which are found by comparison, `department`).
    departments: HashMap<Box<str>, DepartmentIdx>,
    /// Disabled-plan sets, one shared copy each; the empty one, most assignments', apart.
    disabled_sets: std::collections::HashSet<std::sync::Arc<PlanSet>>,
    no_plans: std::sync::Arc<PlanSet>,
    group_by_id: IdMap<Guid, GroupIdx>,
    group_by_name: HashMap<String, Vec<GroupIdx>>,
    /// From the catalog: friendly plan name and plan name → plan id; product names by SKU id.
    catalog_plan_by_name: HashMap<String, (Guid, String)>,
    catalog_sku_name: HashMap<Guid, String>,
    catalog_plan_friendly: HashMap<Guid, String>,
}

impl Lookup {
    /// The user principal name index, built once when a file first names a user by UPN.
    pub fn upn_index(&mut self, users: &[crate::model::User]) -> &mut upn::UpnIndex {
        self.user_by_upn
            .get_or_insert_with(|| upn::UpnIndex::build(users))
    }

    /// The index of a department name in `names` (the tenant's), added when new.
    pub fn department(&mut self, names: &mut Vec<Box<str>>, name: &str) -> DepartmentIdx {
        if names.is_empty() {
            names.push("".into());
        }
        // Most tenants have a handful of departments: comparing a name with each of the first
        // few is cheaper than hashing it, once per user.
        let few = names.len().min(FEW_DEPARTMENTS);
        if let Some(i) = names[..few].iter().position(|d| **d == *name) {
            return DepartmentIdx(i as u32);
        }
        if let Some(&d) = self.departments.get(name) {
            return d;
        }
        let d = DepartmentIdx(names.len() as u32);
        names.push(name.into());
        if names.len() > FEW_DEPARTMENTS {
            self.departments.insert(name.into(), d);
        }
        d
    }

    /// The shared copy of a disabled-plan set.
    pub fn disabled_set(&mut self, set: PlanSet) -> std::sync::Arc<PlanSet> {
        if set.is_empty() {
            return self.no_plans.clone();
        }
        if let Some(s) = self.disabled_sets.get(&set) {
            return s.clone();
        }
        let s = std::sync::Arc::new(set);
        self.disabled_sets.insert(s.clone());
        s
    }
}

pub(crate) struct Ctx {
    pub names: SourceNames,
    pub problems: Problems,
    pub t: Tenant,
    pub idx: Lookup,
    pub memberships: Vec<(UserIdx, GroupIdx)>,
    pub file_rules: Vec<RuleSpec>,
    pub wave_by: Option<String>,
    pub wave_by_flag: &'static str,
}

impl Ctx {
    fn new(wave_by: Option<String>) -> Ctx {
        Ctx {
            names: SourceNames::default(),
            problems: Problems::default(),
            t: Tenant::default(),
            idx: Lookup::default(),
            memberships: Vec::new(),
            file_rules: Vec::new(),
            wave_by,
            wave_by_flag: "--wave-by",
        }
    }

    fn open(
        &mut self,
        spec: &SnapshotSpec,
        kind: FileKind,
        ready: Ready,
        books: &mut HashMap<PathBuf, (sheet::Workbook, String)>,
    ) -> Option<Table> {
        let shown = |p: &Path| shown(spec, p);
        let (path, wanted) = match ready {
            Ready::Json { name, path, view } => {
                let mut table = Table::json(0, name.clone(), path, view);
                let layout = table.json_layout()?;
                table.file = self.names.add_json(name.clone(), layout);
                // groups.json is listed once, as the groups it is read for first.
                if view != json::View::GroupTemplates {
                    self.t.inputs.push(InputFile {
                        kind: kind.name().into(),
                        path: name,
                        sha256: String::new(),
                        rows: 0,
                    });
                }
                return Some(table);
            }
            Ready::Csv {
                name,
                sha256,
                table,
            } => {
                self.t.inputs.push(InputFile {
                    kind: kind.name().into(),
                    path: name.clone(),
                    sha256,
                    rows: 0,
                });
                let file = self.names.add(name, false);
                return self.checked(table.map(|mut t| {
                    t.file = file;
                    t
                }));
            }
            Ready::Unreadable { name, error } => {
                self.problems.push(
                    Problem::error(Code::FileUnreadable, format!("cannot read {name}: {error}"))
                        .at(name),
                );
                return None;
            }
            Ready::Sheet(path, wanted) => (path, wanted),
        };
        let (path, wanted) = (&path, &wanted);
        let book_name = shown(path);
        if !books.contains_key(path) {
            let bytes = match std::fs::read(path) {
                Ok(b) => b,
                Err(e) => {
                    self.problems.push(
                        Problem::error(
                            Code::FileUnreadable,
                            format!("cannot read {book_name}: {e}"),
                        )
                        .at(book_name),
                    );
                    return None;
                }
            };
            let hash = sha256(&bytes);
            match sheet::Workbook::open(path, bytes) {
                Ok(b) => {
                    for hidden in b.hidden_sheets() {
                        self.problems.push(
                            Problem::warning(
                                Code::Spreadsheet,
                                format!(
                                    "sheet {} of {book_name} is hidden; it is read like any other",
                                    quote(&hidden)
                                ),
                            )
                            .at(book_name.clone()),
                        );
                    }
                    books.insert(path.clone(), (b, hash));
                }
                Err(e) => {
                    self.problems.push(Problem::error(Code::Spreadsheet, format!("cannot open {book_name}: {e}")).at(book_name).help("save the workbook again without a password, as .xlsx, or export the sheet as CSV"));
                    return None;
                }
            }
        }
        let (book, hash) = books.get_mut(path)?;
        let sheets = book.sheet_names();
        let sheet_name = match wanted {
            Some(w) => match sheets.iter().find(|s| s.trim().eq_ignore_ascii_case(w)) {
                Some(s) => s.clone(),
                None if !kind.required() => return None,
                None => {
                    self.problems.push(
                        Problem::error(
                            Code::FileMissing,
                            format!("{book_name} has no sheet `{w}`"),
                        )
                        .at(book_name)
                        .help(format!("its sheets are: {}", sheets.join(", "))),
                    );
                    return None;
                }
            },
            None => match sheets.first() {
                Some(s) => s.clone(),
                None => {
                    self.problems.push(
                        Problem::error(Code::EmptyFile, format!("{book_name} has no sheets"))
                            .at(book_name),
                    );
                    return None;
                }
            },
        };
        let name = format!("{book_name}#{sheet_name}");
        self.t.inputs.push(InputFile {
            kind: kind.name().into(),
            path: name.clone(),
            sha256: hash.clone(),
            rows: 0,
        });
        let file = self.names.add(name.clone(), true);
        match book.rows(&sheet_name) {
            Ok(rows) => self.checked(Table::from_cells(file, name, rows)),
            Err(e) => {
                self.problems.push(
                    Problem::error(
                        Code::Spreadsheet,
                        format!("cannot read sheet {sheet_name}: {e}"),
                    )
                    .at(name),
                );
                None
            }
        }
    }

    fn checked(&mut self, table: Result<Table, Problem>) -> Option<Table> {
        match table {
            Ok(t) => Some(t),
            Err(p) => {
                self.problems.push(p);
                None
            }
        }
    }

    /// A problem about one cell, shown with its row.
    pub fn cell(&mut self, table: &Table, row: &Row, col: usize, p: Problem, label: &str) {
        let o: Origin = row.origin.at_col(col);
        let loc = table.locate(o);
        let line = row.line_text();
        let field = row.get(col).to_string();
        self.problems
            .push(p.at(loc).snippet(o.row as usize, &line, &field, label));
    }
}

pub fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// A digest as lower-case hex, the form plan.json records.
pub(crate) fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
