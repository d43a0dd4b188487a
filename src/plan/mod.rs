//! placeholder
use crate::cli::PlanArgs;
use crate::error::Result;
use crate::run::Ran;
pub fn run(_a: PlanArgs, _o: &mut dyn std::io::Write) -> Result<Ran> {
    todo!()
}
