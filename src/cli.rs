//! The command line as clap sees it: raw flags only. `settings` validates them before anything
//! runs. Doc comments here are the `--help` text.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "licshift",
    version,
    about = "Plan and verify the move of a Microsoft 365 / Entra ID tenant from direct license assignment to group-based licensing, service plan by service plan."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// No progress on stderr (it shows only when stderr is a terminal anyway); warnings and
    /// errors still do.
    #[arg(long, global = true)]
    pub quiet: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Load and validate a snapshot; summarise users, SKUs and seats, groups, templates and
    /// assignments, and list every problem found.
    Inspect {
        /// The snapshot: a folder of exports (CSV, workbooks or Graph JSON), or one workbook
        /// with a sheet per file.
        snapshot: PathBuf,
        /// `table`: the summary and every problem; `json`: the summary; `csv`: one row per
        /// problem (severity, code, location, message, help), for pipelines.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        #[command(flatten)]
        sim: SimArgs,
    },
    /// Per user and service plan: today's sources against what the groups alone will give.
    Diff {
        /// The snapshot: a folder of exports, or one workbook with a sheet per file.
        snapshot: PathBuf,
        /// Only this user (UPN or object id).
        #[arg(long)]
        user: Option<String>,
        /// `table` for reading, `csv` (diff.csv's columns) or `json` for a pipeline.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// `changed` rows (gained or lost plans) or `all` rows.
        #[arg(long = "diff", value_enum, default_value_t = DiffRows::Changed)]
        rows: DiffRows,
        #[command(flatten)]
        sim: SimArgs,
    },
    /// One user's every assignment, plan by plan, and why each direct assignment is removable
    /// or blocked.
    Explain {
        /// The snapshot: a folder of exports, or one workbook with a sheet per file.
        snapshot: PathBuf,
        /// UPN or object id.
        user: String,
        #[command(flatten)]
        sim: SimArgs,
    },
    /// Write the waved removal plan: prepare stage, pilot wave, later waves, sign-off report
    /// and per-wave Graph PowerShell scripts with their rollback.
    Plan(PlanArgs),
    /// Re-check a plan (or a hand-edited waves.csv) against a snapshot, or an executed stage or
    /// wave against a fresh export. Exit 0 all clear, 1 violations, 2 bad input.
    Verify(VerifyArgs),
    /// Propose group templates mined from today's direct assignments, proven by the engine:
    /// templates.csv, members.csv (ready to copy over the snapshot's) and suggest.md.
    Suggest(SuggestArgs),
    /// Write wave and rollback scripts for a waves.csv (the pending list `verify --after …
    /// --pending` wrote, or a reviewer's edit) after checking it as `verify` does: every
    /// removal safe on the snapshot, the waves replayed. Exit 1 and nothing written otherwise.
    Scripts(ScriptsArgs),
    /// Print the service-plan relations in force (built-in and from a rules file) with their source.
    Rules {
        /// A snapshot whose `rules` file (and plans) to include.
        snapshot: Option<PathBuf>,
        /// `table` for reading, `csv` or `json` for a pipeline.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        #[command(flatten)]
        files: FileArgs,
    },
    /// Write the read-only Microsoft Graph PowerShell script that saves a snapshot of a tenant
    /// (subscribedSkus, users with their license states, groups with their licenses, members,
    /// organization) as the Graph JSON files licshift reads.
    ExportScript {
        /// Write the script here instead of to standard output.
        #[arg(long, value_name = "FILE.ps1")]
        out: Option<PathBuf>,
        /// Groups (ids or display names, comma-separated) whose members to save besides every
        /// group that assigns licenses: the groups your proposed templates will use.
        #[arg(long, value_name = "LIST", value_delimiter = ',')]
        groups: Vec<String>,
    },
    /// Read the tenant through Microsoft Graph (GET requests only) into a snapshot folder: the
    /// Graph JSON files export-script saves, written whole or not at all.
    Snapshot(SnapshotArgs),
    /// Carry out one stage of a plan through Microsoft Graph: `prepare`, `bridge`, `wave N`,
    /// and their rollbacks. Live re-checks, a journal in PLAN/run/, resume after a crash. Exit 0 every user
    /// done, 1 some skipped or failed (listed), 2 pre-flight or usage.
    Apply(ApplyArgs),
    /// What the journals of PLAN/run/ say: per stage done, skipped, failed and pending, the last
    /// go/no-go, and what to run next.
    Status {
        /// The plan folder.
        plan: PathBuf,
    },
    /// Serve a snapshot's tenant on loopback as Microsoft Graph v1.0 does — group licensing
    /// processed asynchronously, writes throttled, faults from a seed, every lost plan watched —
    /// to rehearse a migration. Prints LICSHIFT_GRAPH_URL=… and LICSHIFT_GRAPH_TOKEN=… first.
    Sandbox(SandboxArgs),
    /// Write a realistic synthetic snapshot, for demos and benchmarks.
    Generate {
        /// Number of users.
        #[arg(long)]
        users: u64,
        /// The snapshot folder to write; written whole or not at all.
        #[arg(long)]
        out: PathBuf,
        /// The same seed writes the same tenant, byte for byte.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Replace a non-empty --out folder.
        #[arg(long)]
        force: bool,
        /// `csv` files, or the Graph `json` files `export-script` saves (plus templates.csv).
        #[arg(long, value_enum, default_value_t = SnapshotFormat::Csv)]
        format: SnapshotFormat,
    },
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotFormat {
    Csv,
    Json,
}

#[derive(Args, Debug, Clone, Default)]
pub struct SimArgs {
    /// The tenant's usage location (ISO 3166 alpha-2) for users without one; overrides the
    /// organization file.
    #[arg(long, value_name = "CC")]
    pub tenant_location: Option<String>,
    /// Free seats: `standard` = Enabled − ConsumedUnits; `strict` also subtracts Warning.
    #[arg(long, value_enum, default_value_t = SeatFormula::Standard)]
    pub seat_formula: SeatFormula,
    #[command(flatten)]
    pub files: FileArgs,
}

/// Where each input file is, when not in the snapshot folder under its own name.
#[derive(Args, Debug, Clone, Default)]
pub struct FileArgs {
    /// A rules file (overrides the snapshot's).
    #[arg(long, value_name = "PATH")]
    pub rules: Option<String>,
    /// Microsoft's product/service-plan catalog CSV (overrides the snapshot's).
    #[arg(long, value_name = "PATH")]
    pub catalog: Option<String>,
    /// The SKUs and their service plans (`Get-MgSubscribedSku`, or subscribedSkus.json).
    #[arg(long, value_name = "PATH[#SHEET]")]
    pub skus: Option<String>,
    /// The users (an admin center or Entra export, or users.json).
    #[arg(long, value_name = "PATH[#SHEET]")]
    pub users: Option<String>,
    /// Each user's license assignment states (direct or from a group).
    #[arg(long, value_name = "PATH[#SHEET]")]
    pub assignments: Option<String>,
    /// The groups (groups.json also gives their existing license templates).
    #[arg(long, value_name = "PATH[#SHEET]")]
    pub groups: Option<String>,
    /// Group memberships (members.json, or suggest's members.csv).
    #[arg(long, value_name = "PATH[#SHEET]")]
    pub members: Option<String>,
    /// The group license templates, existing and proposed (suggest's templates.csv).
    #[arg(long, value_name = "PATH[#SHEET]")]
    pub templates: Option<String>,
    /// The tenant itself (its id and country: the usage location of users without one).
    #[arg(long, value_name = "PATH[#SHEET]")]
    pub organization: Option<String>,
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    /// The snapshot: a folder of exports, or one workbook with a sheet per file.
    pub snapshot: PathBuf,
    /// Output folder; written beside it and renamed into place, so it appears whole or not at all.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace a non-empty --out folder.
    #[arg(long)]
    pub force: bool,
    /// Pilot wave size. The pilot also holds one user of every shape, even beyond this.
    #[arg(long, default_value_t = 25)]
    pub pilot: usize,
    /// Each later wave is this many times the one before.
    #[arg(long, default_value_t = 2.0)]
    pub growth: f64,
    /// Largest wave, in users (a user's removals are one call, so a wave of N users makes N
    /// writes). 500 keeps a wave reviewable and its script under Graph's throttling limits;
    /// a plan of more than 50 waves says which value would give about 20.
    #[arg(long, default_value_t = 500)]
    pub max_wave: usize,
    /// Users (UPN or object id, one per line) to put in the last wave(s), e.g. VIPs.
    #[arg(long, value_name = "FILE")]
    pub exclude: Option<PathBuf>,
    /// Keep the users that share this attribute's value (a users column, e.g. Department) in one wave.
    #[arg(long, value_name = "ATTRIBUTE")]
    pub wave_by: Option<String>,
    /// Seed for choosing which users go first; the same seed gives the same plan.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Block users whose groups would give them plans they do not have today.
    #[arg(long)]
    pub exact: bool,
    /// Exit 1 when any direct assignment is blocked (for pipelines).
    #[arg(long)]
    pub fail_on_blocked: bool,
    /// Plan a bridge stage for users a conflicting license blocks: one assignLicense call
    /// that adds the group's SKU and removes the conflicting one, where every plan it takes
    /// away is given again or superseded (bridge.csv, scripts/bridge.ps1).
    #[arg(long)]
    pub bridge: bool,
    /// Write report.xlsx whatever the plan's size (by default only up to 100,000 removals,
    /// so a million-user plan takes no longer unless asked).
    #[arg(long)]
    pub xlsx: bool,
    /// Rows of diff.csv: `changed` or `all`.
    #[arg(long = "diff", value_enum, default_value_t = DiffRows::Changed)]
    pub rows: DiffRows,
    #[command(flatten)]
    pub sim: SimArgs,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// A plan folder, or a bare waves.csv.
    pub plan: PathBuf,
    /// The snapshot the plan was made from.
    pub snapshot: PathBuf,
    /// Check a fresh export taken after waves 1..=WAVE ran.
    #[arg(
        long,
        value_name = "WAVE",
        requires = "fresh",
        conflicts_with = "stage"
    )]
    pub after: Option<u32>,
    /// Check a fresh export taken after a stage ran (`prepare` or `bridge`).
    #[arg(long, value_name = "STAGE", requires = "fresh")]
    pub stage: Option<String>,
    /// The fresh export (with --after or --stage).
    pub fresh: Option<PathBuf>,
    /// Accept a snapshot whose files changed since planning, listing what changed.
    #[arg(long)]
    pub allow_drift: bool,
    /// Accept a plan folder without a seal (a licshift.plan/v1 plan.json, or none): its files
    /// cannot be checked against what was signed. Without it such a folder is a violation.
    #[arg(long)]
    pub allow_unsealed: bool,
    /// `table` for reading, `csv` or `json` (camelCase keys) for a pipeline.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Also write the result as a Markdown change record.
    #[arg(long, value_name = "FILE.md")]
    pub report: Option<PathBuf>,
    /// With --after: write the removals the waves skipped (users who still hold their direct
    /// assignment safely) as a waves.csv, for `licshift scripts --waves FILE`.
    #[arg(long, value_name = "FILE.csv", requires = "after")]
    pub pending: Option<PathBuf>,
    #[command(flatten)]
    pub sim: SimArgs,
}

#[derive(Args, Debug)]
pub struct SuggestArgs {
    /// The snapshot: a folder of exports, or one workbook with a sheet per file.
    pub snapshot: PathBuf,
    /// Cohorts: the users sharing a value of this users column (e.g. Department); all users
    /// when absent.
    #[arg(long, value_name = "ATTRIBUTE")]
    pub by: Option<String>,
    /// Suggest a line for a SKU only when at least this many users of a cohort hold it directly.
    #[arg(long, default_value_t = 10)]
    pub min_users: usize,
    /// Nobody may gain a plan: users whose direct copy disables more than the chosen line stay
    /// direct. By default the line covers every holder and the plans some gain are reported.
    #[arg(long)]
    pub exact: bool,
    /// New groups are named `PREFIX Cohort SKU`.
    #[arg(long, default_value = "LIC")]
    pub prefix: String,
    /// Replace the snapshot's proposed template lines instead of building on them (by default
    /// they are kept and only the direct assignments they do not already let go are mined).
    #[arg(long)]
    pub replace_proposed: bool,
    /// Output folder; written whole or not at all.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace a non-empty --out folder.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub sim: SimArgs,
}

#[derive(Args, Debug)]
pub struct ScriptsArgs {
    /// The plan folder (its plan.json names the snapshot's hashes).
    pub plan: PathBuf,
    /// The snapshot the plan was made from.
    pub snapshot: PathBuf,
    /// The waves.csv to write scripts for.
    #[arg(long, value_name = "FILE.csv")]
    pub waves: PathBuf,
    /// Output folder for scripts/; written whole or not at all.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace a non-empty --out folder.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub sim: SimArgs,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SeatFormula {
    #[default]
    Standard,
    Strict,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DiffRows {
    Changed,
    All,
}

/// How to reach Microsoft Graph and sign in.
#[derive(Args, Debug, Clone, Default)]
pub struct GraphArgs {
    /// How to sign in. `auto`: LICSHIFT_GRAPH_TOKEN if set; else an app registration when
    /// AZURE_CLIENT_ID and AZURE_TENANT_ID are set with AZURE_CLIENT_CERTIFICATE_PATH or
    /// AZURE_CLIENT_SECRET; else device code when --client-id is given; else the Azure CLI.
    #[arg(long, value_enum, default_value_t = AuthMethod::Auto)]
    pub auth: AuthMethod,
    /// The national cloud: Graph's and the login host.
    #[arg(long, value_enum, default_value_t = CloudName::Global)]
    pub cloud: CloudName,
    /// Another Graph endpoint, e.g. the sandbox's (defaults to $LICSHIFT_GRAPH_URL when set).
    #[arg(long, value_name = "URL")]
    pub graph_url: Option<String>,
    /// Another login host, e.g. the sandbox's stand-in (defaults to $LICSHIFT_LOGIN_URL).
    #[arg(long, value_name = "URL", hide = true)]
    pub login_url: Option<String>,
    /// The tenant (id) to sign in to and to expect: licshift refuses a token for another.
    /// Defaults to $AZURE_TENANT_ID.
    #[arg(long, value_name = "TENANT_ID")]
    pub tenant: Option<String>,
    /// The tenant's own app registration for device code sign-in.
    #[arg(long, value_name = "APP_ID")]
    pub client_id: Option<String>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMethod {
    #[default]
    Auto,
    Token,
    AzureCli,
    Secret,
    Certificate,
    DeviceCode,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CloudName {
    #[default]
    Global,
    Usgov,
    Usgovdod,
    China,
}

impl CloudName {
    pub fn as_str(self) -> &'static str {
        match self {
            CloudName::Global => "global",
            CloudName::Usgov => "usgov",
            CloudName::Usgovdod => "usgovdod",
            CloudName::China => "china",
        }
    }
}

#[derive(Args, Debug)]
pub struct SnapshotArgs {
    /// The snapshot folder to write (new or empty); written whole or not at all.
    #[arg(long)]
    pub out: PathBuf,
    /// Groups (ids or display names, comma-separated) whose members to save besides every
    /// group that assigns licenses: the groups your proposed templates will use.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub groups: Vec<String>,
    #[command(flatten)]
    pub graph: GraphArgs,
}

#[derive(Args, Debug)]
pub struct SandboxArgs {
    /// The snapshot whose tenant to serve.
    pub snapshot: PathBuf,
    /// Address to listen on; loopback only. Port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// Writes allowed per quota window (Graph: 3,000 per 150 s per app per tenant); beyond it,
    /// 429 with Retry-After.
    #[arg(long, default_value_t = 3000)]
    pub write_quota: u64,
    /// The quota window, e.g. `150s`, `60s`, `500ms`.
    #[arg(long, default_value = "150s")]
    pub quota_window: String,
    /// Reads allowed per read window; beyond it, 429 with Retry-After.
    #[arg(long, default_value_t = 4000)]
    pub read_quota: u64,
    /// The read window.
    #[arg(long, default_value = "10s")]
    pub read_window: String,
    /// How long a group's license processing takes after a change, e.g. `2s`, `200ms`.
    #[arg(long, default_value = "2s")]
    pub processing_delay: String,
    /// How long each Graph request takes to be answered, e.g. `300ms`: Graph's own latency,
    /// for rehearsing the pace a run will really reach (default none).
    #[arg(long, default_value = "0s")]
    pub latency: String,
    /// Inject faults from this seed: 503 storms, reads and applied writes answered 504, a user
    /// deleted and a group's license changed by "another admin" mid-run.
    #[arg(long, value_name = "SEED")]
    pub faults: Option<u64>,
    /// Where to write the tenant as a snapshot folder on SIGINT/SIGTERM (default
    /// licshift-sandbox-YYYYMMDD-HHMMSS).
    #[arg(long, value_name = "DIR")]
    pub save: Option<PathBuf>,
    #[command(flatten)]
    pub sim: SimArgs,
}

#[derive(Args, Debug)]
pub struct ApplyArgs {
    /// The plan folder (sealed by `licshift plan`).
    pub plan: PathBuf,
    /// The snapshot the plan was made from.
    pub snapshot: PathBuf,
    /// `prepare`, `bridge`, `wave N`, `rollback wave N`, `rollback bridge`, `rollback prepare`
    /// (or `wave-N`, `rollback-wave-N`, …).
    #[arg(long, num_args = 1..=3, required = true, value_name = "STAGE")]
    pub stage: Vec<String>,
    /// Read live and journal what would be done; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (pipelines).
    #[arg(long)]
    pub yes: bool,
    /// Run a wave before the one before it is done.
    #[arg(long)]
    pub out_of_order: bool,
    /// Writes per second to stay under (Graph's limit per app per tenant is 3,000 per 150 s:
    /// 20 a second).
    #[arg(long, default_value_t = 20.0)]
    pub write_rate: f64,
    /// How long to wait for the groups' license processing after prepare.
    #[arg(long, default_value = "30m")]
    pub processing_timeout: String,
    #[command(flatten)]
    pub graph: GraphArgs,
    #[command(flatten)]
    pub sim: SimArgs,
}
