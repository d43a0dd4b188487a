//! What the simulation decides: the single hand-off from the engine to plan and reports.

use std::sync::Arc;

use crate::model::{
    AssignmentIdx, Country, GroupIdx, GroupList, LicenseError, PlanIdx, PlanSet, SkuIdx, State,
};

/// SPEC §3.3 reason codes, plus `Gains` for `--exact`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    NotCovered,
    GroupFailing,
    Conflict,
    Seats,
    Location,
    Dependency,
    NotMember,
    Gains,
}

impl Reason {
    pub const ALL: [Reason; 8] = [
        Reason::NotCovered,
        Reason::GroupFailing,
        Reason::Conflict,
        Reason::Seats,
        Reason::Location,
        Reason::Dependency,
        Reason::NotMember,
        Reason::Gains,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Reason::NotCovered => "NOT_COVERED",
            Reason::GroupFailing => "GROUP_FAILING",
            Reason::Conflict => "CONFLICT",
            Reason::Seats => "SEATS",
            Reason::Location => "LOCATION",
            Reason::Dependency => "DEPENDENCY",
            Reason::NotMember => "NOT_MEMBER",
            Reason::Gains => "GAINS",
        }
    }

    /// What the engineer does about it; the report prints this beside each reason.
    pub fn fix(self) -> &'static str {
        match self {
            Reason::NotCovered => "enable the listed plans in a template of a group the user is in (or add the user to a group that has them), or keep the direct assignment",
            Reason::GroupFailing => "fix the group assignment's error in the tenant (free seats, resolve the conflict, set the usage location), reprocess the user, export again",
            Reason::Conflict => "the group's plans cannot be enabled beside a plan the user holds from another source; move the user with one assignLicense call that adds and removes together, or change the template",
            Reason::Seats => "buy or free seats of the short SKU before the prepare stage: Entra gives seats in no documented order, so every member who needs one is at risk",
            Reason::Location => "set the user's usage location to one where every plan of the template is offered, or disable the unavailable plans in the template",
            Reason::Dependency => "add a prerequisite plan to the same template: group licensing requires add-on and prerequisite in the same group",
            Reason::NotMember => "add the user (directly, not through a nested group) to a group whose template holds these plans",
            Reason::Gains => "the groups would give the user plans they do not have today; review and re-plan without --exact to accept",
        }
    }
}

/// The other side of a predicted mutual-exclusion conflict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConflictWith {
    /// A plan the user holds today from this SKU and source (`None` = direct).
    Held {
        sku: SkuIdx,
        group: Option<GroupIdx>,
    },
    /// A plan another proposed template would give.
    Proposed { group: GroupIdx },
    /// Two plans inside the template itself.
    SameTemplate,
}

/// Why a group assignment fails, with what a reviewer needs to check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    Failing {
        sku: SkuIdx,
        state: State,
        error: Option<LicenseError>,
    },
    Conflict {
        plan: PlanIdx,
        excludes: PlanIdx,
        with: ConflictWith,
    },
    Location {
        location: Option<Country>,
        plans: PlanSet,
    },
    Dependency {
        plan: PlanIdx,
        needs: PlanSet,
    },
    Seats {
        sku: SkuIdx,
        needed: i64,
        free: i64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupStatus {
    /// In the snapshot, Active with no error.
    Healthy,
    /// In the snapshot in an error state. Evidence is boxed: most of a million users' groups
    /// are healthy, and an inline `Evidence` would make every status as big as the rare one.
    Failing(Box<Evidence>),
    /// Not in the snapshot yet; predicted to succeed.
    Predicted,
    /// Not in the snapshot yet; predicted to fail for this reason.
    Fails(Reason, Box<Evidence>),
}

impl GroupStatus {
    /// A removal may rely on this group (SPEC I4).
    pub fn is_ok(&self) -> bool {
        matches!(self, GroupStatus::Healthy | GroupStatus::Predicted)
    }

    pub fn reason(&self) -> Option<Reason> {
        match self {
            GroupStatus::Failing(_) => Some(Reason::GroupFailing),
            GroupStatus::Fails(r, _) => Some(*r),
            _ => None,
        }
    }

    pub fn evidence(&self) -> Option<&Evidence> {
        match self {
            GroupStatus::Failing(e) | GroupStatus::Fails(_, e) => Some(e.as_ref()),
            _ => None,
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            GroupStatus::Healthy => "healthy",
            GroupStatus::Failing(_) => "failing",
            GroupStatus::Predicted => "predicted",
            GroupStatus::Fails(..) => "predicted to fail",
        }
    }
}

/// One licensed group's assignment to one user: all of its template, or none of it.
#[derive(Debug, Clone)]
pub struct GroupAssignment {
    pub group: GroupIdx,
    pub status: GroupStatus,
    /// What the assignment gives — for a healthy group, as the tenant has it. Shared with the
    /// template whenever it is the template's: one copy per group, not one per member.
    pub lines: Arc<Lines>,
    /// SKUs of the template the user holds no assignment of yet.
    pub new_seats: Vec<SkuIdx>,
}

impl GroupAssignment {
    /// Every plan the assignment gives.
    pub fn plans(&self) -> &PlanSet {
        &self.lines.plans
    }
}

/// (SKU, enabled plans) per template line, and the plans of all of them together. Derefs to
/// the lines.
#[derive(Debug, PartialEq, Eq)]
pub struct Lines {
    lines: Box<[(SkuIdx, PlanSet)]>,
    plans: PlanSet,
}

impl Lines {
    pub fn new(lines: Vec<(SkuIdx, PlanSet)>) -> Lines {
        let mut plans = PlanSet::new();
        for (_, p) in &lines {
            plans.union_with(p);
        }
        Lines {
            lines: lines.into(),
            plans,
        }
    }

    pub fn plans(&self) -> &PlanSet {
        &self.plans
    }
}

impl std::ops::Deref for Lines {
    type Target = [(SkuIdx, PlanSet)];
    fn deref(&self) -> &Self::Target {
        &self.lines
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Removable {
        /// The groups (healthy or predicted) that give the plans it enables.
        covered_by: GroupList,
        /// The user's groups give plans the user does not have today.
        gains: bool,
    },
    Blocked {
        reason: Reason,
        /// Plans it enables that no healthy or predicted group gives. Boxed: most directs are
        /// removable, and an inline set would make every verdict as big as a blocked one.
        uncovered: Box<PlanSet>,
        /// The group whose failure is the reason, when there is one.
        group: Option<GroupIdx>,
        evidence: Option<Box<Evidence>>,
        /// For NOT_MEMBER: (licensed group, nested group the user is in).
        nested_via: Option<(GroupIdx, GroupIdx)>,
    },
}

impl Verdict {
    pub fn is_removable(&self) -> bool {
        matches!(self, Verdict::Removable { .. })
    }
}

#[derive(Debug, Clone)]
pub struct DirectVerdict {
    pub assignment: AssignmentIdx,
    pub sku: SkuIdx,
    pub verdict: Verdict,
}

impl DirectVerdict {
    /// The plans the direct assignment enables. Worked out when asked, not stored: a million
    /// users hold nearly two million of these, and the assignment has what it takes.
    pub fn enabled(&self, t: &crate::model::Tenant) -> PlanSet {
        t.enabled(self.sku, &t.assignments[self.assignment.ix()].disabled)
    }
}

#[derive(Debug, Clone, Default)]
pub struct UserOutcome {
    /// Effective plans today.
    pub before: PlanSet,
    /// Plans from healthy and predicted groups: what stays once every direct assignment is gone.
    pub group_plans: PlanSet,
    /// Effective plans once the plan has run (groups applied, removable directs gone).
    pub after: PlanSet,
    pub groups: Vec<GroupAssignment>,
    pub directs: Vec<DirectVerdict>,
}

impl UserOutcome {
    pub fn gains(&self) -> PlanSet {
        self.after.minus(&self.before)
    }
    pub fn has_removals(&self) -> bool {
        self.directs.iter().any(|d| d.verdict.is_removable())
    }
}

/// Seats of one SKU before, at the prepare peak, and after every planned removal.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct SeatUse {
    pub known: bool,
    pub enabled: i64,
    pub free: i64,
    pub before: i64,
    /// New seats predicted group assignments ask for (granted or not).
    pub requested: i64,
    pub peak: i64,
    pub after: i64,
    pub short: bool,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub params: super::Params,
    pub users: Vec<UserOutcome>,
    pub seats: Vec<SeatUse>,
}

impl Outcome {
    /// (removable, all) direct assignments.
    pub fn removable_count(&self) -> (usize, usize) {
        let all = self.users.iter().map(|u| u.directs.len()).sum();
        let removable = self
            .users
            .iter()
            .flat_map(|u| &u.directs)
            .filter(|d| d.verdict.is_removable())
            .count();
        (removable, all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A million users' outcomes are held at once; these sizes are what keeps a 1M-user plan
    /// under 2 GB. Growing one of them is a decision, not an accident.
    #[test]
    fn per_user_records_stay_small() {
        assert!(std::mem::size_of::<GroupStatus>() <= 16);
        assert!(std::mem::size_of::<Verdict>() <= 40);
        assert!(std::mem::size_of::<DirectVerdict>() <= 48);
        assert!(std::mem::size_of::<GroupAssignment>() <= 56);
        assert!(std::mem::size_of::<UserOutcome>() <= 168);
    }
}
