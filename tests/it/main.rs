//! licshift's integration tests: one binary, one module per concern.

mod util;

/// Hostile input: truncated, binary, huge, Excel-mangled, bombs.
mod adversarial;
/// `licshift apply` against the sandbox: the week, crashes, rollback, races, pace.
mod apply;
/// apply's prepare for groups it creates: members 20 to a request, several in flight.
mod apply_prepare;
/// `plan --bridge`: conflicting licenses swapped in one call, and verify of such a plan.
mod bridge;
/// Issue #26's shapes, planted in the bridge property's random tenants.
mod bridge_shapes;
/// The contoso example tenant, end to end.
mod contoso;
/// Every command the README and docs show, run on the fixtures.
mod docs;
/// Real export formats: admin center, Entra download, Microsoft's catalog, spreadsheets.
mod formats;
/// Fuzzing the readers and cell parsers (proptest-driven, runs in CI).
mod fuzz;
/// The synthetic tenant generator and a plan big enough to render in parallel chunks.
mod generate;
/// Issue #25: verify's go is earned; a newcomer's first week.
mod go;
/// Graph JSON snapshots: the same plans as CSV, documented shapes, malformed JSON.
mod graph_json;
/// `licshift snapshot` against the sandbox: round trips, throttling, faults, every sign-in.
mod graph_loop;
/// Issue #24: the write rule, verify that cannot be fooled, hostile JSON, escaped outputs.
mod hardening;
/// The one-way house: no module imports a layer above it.
mod layers;
/// One defect per file: each exits 2 with a located diagnostic.
mod malformed;
/// The plan folder: files, determinism, the replay guard, scripts.
mod plan;
/// Property tests of the engine's promise: a plan never shrinks anyone's plans.
mod props;
/// report.html and report.xlsx against plan.json and the CSVs.
mod review;
/// The sandbox's own semantics over HTTP: processing, seats, conflicts, the watch, Graph's errors.
mod sandbox;
/// The engine's verdicts on one small snapshot per Entra rule.
mod scenarios;
/// The known PowerShell pitfalls, looked for on every script's tree.
mod script_lint;
/// Every PowerShell script licshift writes, parsed by tree-sitter.
mod scripts;
/// Large files streamed instead of read whole: the same outputs and diagnostics.
mod streamed;
/// `licshift suggest`: templates mined from direct assignments, proven by the engine.
mod suggest;
/// `licshift verify` on hand-edited plans and fresh exports.
mod verify;
