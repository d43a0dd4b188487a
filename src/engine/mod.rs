//! engine: pure simulation and diff. Given a tenant, predict what every user holds once the
//! group templates are applied beside today's direct assignments (SPEC §3), and decide for
//! every direct assignment whether it can go without the user losing a single service plan.
//!
//! Never prints, never touches a file. Work is per user and runs in parallel with rayon; the
//! results are indexed by user, so the thread count never changes what comes out.

pub mod bridge;
mod diff;
pub mod entra;
mod outcome;
pub mod rules;
mod simulate;
pub mod suggest;
pub mod words;

pub use diff::{diff_user, groups_alone, Change, DiffRow};
pub use outcome::{
    ConflictWith, DirectVerdict, Evidence, GroupAssignment, GroupStatus, Outcome, Reason, SeatUse,
    UserOutcome, Verdict,
};
pub use simulate::{simulate, simulate_in_turns, SeatTurns};

use crate::model::Country;

/// How to simulate: the choices SPEC §3 leaves to the engineer.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Params {
    /// Overrides the organization file's country for users without a usage location.
    pub tenant_location: Option<Country>,
    /// Free seats also subtract units in Warning (grace period).
    pub strict_seats: bool,
    /// Block users who would gain plans instead of flagging them.
    pub exact: bool,
}

impl serde::Serialize for Country {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}
