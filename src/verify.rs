//! placeholder
use crate::cli::VerifyArgs;
use crate::error::Result;
use crate::run::Ran;
pub fn run(_a: VerifyArgs, _o: &mut dyn std::io::Write) -> Result<Ran> {
    todo!()
}
