//! placeholder
use crate::error::Result;
use crate::run::Ran;
pub fn run(
    _n: u64,
    _d: &std::path::Path,
    _s: u64,
    _f: bool,
    _o: &mut dyn std::io::Write,
) -> Result<Ran> {
    todo!()
}
