//! plan: the engine's verdicts become stages — prepare, then waves of removals — that are
//! replayed against the model and checked against SPEC invariants I1–I4 before the folder is
//! published (SPEC §4).

pub mod bridge;
pub mod replay;
mod waves;

pub use waves::{build, max_wave_for, read_exclude, Plan, PlanOptions, Prepare, Removal, Wave};
