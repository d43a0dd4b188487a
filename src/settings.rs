//! Raw clap arguments → validated settings. Nothing runs on an unchecked flag.

use crate::cli::{SeatFormula, SimArgs};
use crate::error::{Error, Result};
use crate::ingest::{FileKind, SnapshotSpec};
use crate::model::Country;
use std::path::Path;

/// What every simulating command shares: which files, and how to simulate.
#[derive(Debug, Clone)]
pub struct Simulation {
    pub snapshot: SnapshotSpec,
    pub tenant_location: Option<Country>,
    pub seat_formula: SeatFormula,
}

impl Simulation {
    pub fn from_args(
        snapshot: &Path,
        sim: &SimArgs,
        wave_by: Option<String>,
    ) -> Result<Simulation> {
        let tenant_location = match &sim.tenant_location {
            None => None,
            Some(s) => Some(Country::parse(s.trim()).ok_or_else(|| {
                Error::Usage(
                    format!("--tenant-location {s:?} is not a two-letter country code"),
                    Some("use an ISO 3166-1 alpha-2 code such as US, NL or DE".into()),
                )
            })?),
        };
        let pairs = [
            (FileKind::Skus, &sim.files.skus),
            (FileKind::Users, &sim.files.users),
            (FileKind::Assignments, &sim.files.assignments),
            (FileKind::Groups, &sim.files.groups),
            (FileKind::Members, &sim.files.members),
            (FileKind::Templates, &sim.files.templates),
            (FileKind::Organization, &sim.files.organization),
            (FileKind::Rules, &sim.files.rules),
            (FileKind::Catalog, &sim.files.catalog),
        ];
        let overrides = pairs
            .into_iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
            .collect();
        if let Some(w) = &wave_by {
            if w.trim().is_empty() {
                return Err(Error::usage(
                    "--wave-by needs a column name of the users file",
                ));
            }
        }
        Ok(Simulation {
            snapshot: SnapshotSpec {
                root: snapshot.to_path_buf(),
                overrides,
                wave_by,
                wave_by_flag: None,
                tenant_location,
                templates_optional: false,
            },
            tenant_location,
            seat_formula: sim.seat_formula,
        })
    }
}
