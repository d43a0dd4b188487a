//! Entra's decision for one user, one change at a time: does a group's template take, and may a
//! direct assignment be written? The sandbox asks these while it serves a tenant; they apply the
//! checks of SPEC §3.2 (mutual exclusion, usage location, dependencies, seats) to the user's state
//! at that moment instead of to a whole snapshot, so a rehearsal and a plan answer alike.

use crate::model::{Country, LicenseError, PlanIdx, PlanSet, Rules, SkuIdx};

/// What the user holds from every source other than the assignment being decided.
pub struct Held<'a> {
    pub plans: &'a PlanSet,
    pub location: Option<Country>,
}

/// Why a direct `assignLicense` is refused, with the plans that make it so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `plan` (being added) and `with` (held) exclude each other.
    Conflict {
        plan: PlanIdx,
        with: PlanIdx,
    },
    Dependency {
        plan: PlanIdx,
        needs: PlanSet,
    },
    Location,
    Seats {
        sku: SkuIdx,
    },
}

/// Plans of `adding` that exclude, or are excluded by, a plan of `held` (relations may be stated
/// one way only).
fn conflicting(rules: &Rules, adding: &PlanSet, held: &PlanSet) -> PlanSet {
    let mut both = rules.excluded_by(adding).intersection(held);
    both.union_with(&rules.excluded_by(held).intersection(adding));
    both
}

/// A group template's processing for one member (SPEC §3.2, checks 1–4 in order): `Ok` when it
/// takes, else the error Entra records on each of the group's SKUs for that user.
/// `needs_seat_short`: a SKU the user does not hold yet has no free seat.
pub fn group_takes(
    rules: &Rules,
    template: &PlanSet,
    held: &Held,
    needs_seat_short: bool,
) -> Result<(), LicenseError> {
    if !conflicting(rules, template, held.plans).is_empty()
        || !rules
            .excluded_by(template)
            .intersection(template)
            .is_empty()
    {
        return Err(LicenseError::MutuallyExclusiveViolation);
    }
    match held.location {
        None => return Err(LicenseError::ProhibitedInUsageLocationViolation),
        Some(c) if !rules.unavailable_in(template, c).is_empty() => {
            return Err(LicenseError::ProhibitedInUsageLocationViolation)
        }
        Some(_) => {}
    }
    if !rules.unmet_requirements(template).is_empty() {
        return Err(LicenseError::DependencyViolation);
    }
    if needs_seat_short {
        return Err(LicenseError::CountViolation);
    }
    Ok(())
}

/// A direct assignment of `adding` beside `held` (what stays of the user's other assignments):
/// refused as Graph refuses `assignLicense`, all or nothing. A direct assignment's prerequisites
/// may come from any of the user's assignments.
pub fn direct_allowed(
    rules: &Rules,
    adding: &PlanSet,
    held: &Held,
    short: Option<SkuIdx>,
) -> Result<(), Refusal> {
    // A usage location is needed to assign, not to remove.
    if adding.is_empty() {
        return Ok(());
    }
    match held.location {
        None => return Err(Refusal::Location),
        Some(c) if !rules.unavailable_in(adding, c).is_empty() => return Err(Refusal::Location),
        Some(_) => {}
    }
    for plan in adding.iter() {
        let one = PlanSet::from_iter_idx([plan]);
        let with = rules
            .excluded_by(&one)
            .intersection(held.plans)
            .iter()
            .next()
            .or_else(|| {
                held.plans.iter().find(|&q| {
                    rules
                        .excluded_by(&PlanSet::from_iter_idx([q]))
                        .contains(plan)
                })
            });
        if let Some(with) = with {
            return Err(Refusal::Conflict { plan, with });
        }
    }
    let all = adding.union(held.plans);
    if let Some((plan, needs)) = rules
        .unmet_requirements(&all)
        .into_iter()
        .find(|(p, _)| adding.contains(*p))
    {
        return Err(Refusal::Dependency { plan, needs });
    }
    if let Some(sku) = short {
        return Err(Refusal::Seats { sku });
    }
    Ok(())
}

/// One of a user's group-based assignments as read live, with the group's own license of that
/// SKU as read live.
pub struct LiveGroupState {
    pub group: String,
    /// `Active` with no error.
    pub healthy: bool,
    /// How it stands, in words, when not healthy (`Error (CountViolation)`).
    pub words: String,
    /// What the user's assignment enables.
    pub plans: PlanSet,
    /// What the group's license of that SKU enables now (None: the group no longer assigns
    /// the SKU).
    pub template: Option<PlanSet>,
    /// The group's licenseProcessingState is `ProcessingComplete`.
    pub processed: bool,
}

/// The rule a direct assignment is removed by, live (SPEC §9): every covering group's
/// assignment is `Active` with no error, the group is not in the middle of processing a change,
/// and together they still enable every plan the direct assignment does. `Err` says why not.
pub fn may_remove(direct: &PlanSet, covering: &[LiveGroupState]) -> Result<(), String> {
    let mut why = Vec::new();
    for s in covering {
        if !s.healthy {
            why.push(format!("{}'s assignment is {}", s.group, s.words));
        } else if !s.processed {
            why.push(format!("{} is still processing a license change", s.group));
        }
    }
    if !why.is_empty() {
        return Err(why.join("; "));
    }
    let mut given = PlanSet::new();
    for s in covering {
        if let Some(t) = &s.template {
            given.union_with(&s.plans.intersection(t));
        }
    }
    let missing = direct.minus(&given);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the covering groups no longer give {} plan(s) of the direct assignment",
            missing.len()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[u32]) -> PlanSet {
        PlanSet::from_iter_idx(ids.iter().map(|&i| PlanIdx(i)))
    }

    fn state(plans: &[u32], template: Option<&[u32]>) -> LiveGroupState {
        LiveGroupState {
            group: "G".into(),
            healthy: true,
            words: "Active".into(),
            plans: set(plans),
            template: template.map(set),
            processed: true,
        }
    }

    #[test]
    fn a_removal_needs_every_plan_from_healthy_settled_groups() {
        let direct = set(&[1, 2]);
        assert!(may_remove(&direct, &[state(&[1, 2, 3], Some(&[1, 2, 3]))]).is_ok());
        // Another admin disabled plan 2 in the group's license; members not yet reprocessed.
        assert!(may_remove(&direct, &[state(&[1, 2], Some(&[1]))]).is_err());
        // The group no longer assigns the SKU at all.
        assert!(may_remove(&direct, &[state(&[1, 2], None)]).is_err());
        let mut failing = state(&[1, 2], Some(&[1, 2]));
        failing.healthy = false;
        failing.words = "Error (CountViolation)".into();
        assert!(may_remove(&direct, &[failing])
            .unwrap_err()
            .contains("CountViolation"));
        let mut busy = state(&[1, 2], Some(&[1, 2]));
        busy.processed = false;
        assert!(may_remove(&direct, &[busy]).is_err());
        assert!(may_remove(&direct, &[]).is_err());
    }
}
