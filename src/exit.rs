//! Exit codes (SPEC §6), named once.

/// Done.
pub const OK: u8 = 0;
/// The check found violations (verify), or blocked users with --fail-on-blocked.
pub const VIOLATIONS: u8 = 1;
/// Bad input or usage.
pub const BAD_INPUT: u8 = 2;
/// An invariant failed inside licshift: a bug, and nothing was written.
pub const INVARIANT: u8 = 3;

/// What a finished command hands back to the binary: its exit code and the warnings to show.
pub struct Ran {
    pub code: u8,
    pub warnings: crate::diag::Problems,
}
