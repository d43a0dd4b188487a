//! The typed tenant: what `ingest` builds and every later stage reads.
//!
//! No text is parsed here and no string is compared in a hot loop: users, SKUs, plans and groups
//! are dense indices, plan sets are bitsets. Names stay only for output. Every record keeps the
//! `Origin` (file, row, column) it came from, so later stages can point back at the input.

mod builtin_rules;
mod ids;
mod planset;
mod rules;

pub use builtin_rules::{builtin_rules, known_plan_by_name};

pub use ids::{
    AssignmentIdx, Country, DepartmentIdx, GroupIdx, Guid, IdHasher, IdMap, PlanIdx, SkuIdx,
    UserIdx,
};
pub use planset::PlanSet;

/// The groups that cover one direct assignment: rarely more than four, and there is one list
/// per removal, millions of them, so they live inline.
pub type GroupList = smallvec::SmallVec<[GroupIdx; 4]>;
pub use rules::{RuleKind, RuleSource, RuleSpec, Rules};

use crate::diag::Origin;

/// One service plan known to the tenant (from the SKU export), compared by id.
#[derive(Debug, Clone)]
pub struct ServicePlan {
    pub id: Guid,
    pub name: String,
    /// From Microsoft's catalog when one was given.
    pub friendly_name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Sku {
    pub id: Guid,
    pub part_number: String,
    pub display_name: Option<String>,
    /// Plans with AppliesTo `User`: what an assignment of this SKU can enable.
    pub plans: PlanSet,
    /// AppliesTo `Company` plans: tenant-wide, never part of a user's effective plans.
    pub company_plans: PlanSet,
    pub seats: Option<Seats>,
    pub origin: Origin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Seats {
    pub enabled: i64,
    pub warning: i64,
    pub suspended: i64,
    pub consumed: i64,
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: Guid,
    pub upn: String,
    pub display_name: String,
    pub location: Option<Country>,
    pub account_enabled: bool,
    /// An index, not a shared string: 4 bytes instead of 16 per user, and no reference count
    /// bumped a million times while loading.
    pub department: DepartmentIdx,
    /// The value of the `--wave-by` attribute, when one was asked for.
    pub wave_key: Option<String>,
    pub origin: Origin,
}

#[derive(Debug, Clone)]
pub struct Group {
    /// `None` for a proposed group the plan has to create.
    pub id: Option<Guid>,
    pub name: String,
    pub security_enabled: Option<bool>,
    pub processing_state: Option<String>,
    pub origin: Origin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    Direct,
    Group(GroupIdx),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum State {
    Active,
    ActiveWithError,
    Disabled,
    Error,
}

impl State {
    /// Only these states give the user anything (SPEC §3.1).
    pub fn provides_plans(self) -> bool {
        matches!(self, State::Active | State::ActiveWithError)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            State::Active => "Active",
            State::ActiveWithError => "ActiveWithError",
            State::Disabled => "Disabled",
            State::Error => "Error",
        }
    }
}

/// Entra's `licenseAssignmentState.error` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum LicenseError {
    CountViolation,
    MutuallyExclusiveViolation,
    DependencyViolation,
    ProhibitedInUsageLocationViolation,
    UniquenessViolation,
    Other,
}

impl LicenseError {
    pub fn as_str(self) -> &'static str {
        match self {
            LicenseError::CountViolation => "CountViolation",
            LicenseError::MutuallyExclusiveViolation => "MutuallyExclusiveViolation",
            LicenseError::DependencyViolation => "DependencyViolation",
            LicenseError::ProhibitedInUsageLocationViolation => {
                "ProhibitedInUsageLocationViolation"
            }
            LicenseError::UniquenessViolation => "UniquenessViolation",
            LicenseError::Other => "Other",
        }
    }
}

/// One `licenseAssignmentState` of a user.
#[derive(Debug, Clone)]
pub struct Assignment {
    pub user: UserIdx,
    pub sku: SkuIdx,
    pub source: Source,
    /// Shared with every assignment that disables the same plans: a tenant has a few dozen
    /// such sets over millions of assignments.
    pub disabled: std::sync::Arc<PlanSet>,
    pub state: State,
    pub error: Option<LicenseError>,
    pub origin: Origin,
}

impl Assignment {
    pub fn is_healthy(&self) -> bool {
        self.state == State::Active && self.error.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TemplateStatus {
    Existing,
    Proposed,
}

/// One (group, SKU) line of a group license template, plans normalised to a deny-list.
#[derive(Debug, Clone)]
pub struct TemplateLine {
    pub sku: SkuIdx,
    pub disabled: PlanSet,
    pub status: TemplateStatus,
    pub origin: Origin,
}

/// A group member that is itself a group: kept so reports can say why it gets nothing.
#[derive(Debug, Clone)]
pub struct NestedGroup {
    pub parent: GroupIdx,
    pub child: GroupIdx,
    pub origin: Origin,
}

/// One input file as read: for provenance in plan.json and for `verify`'s drift check.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InputFile {
    pub kind: String,
    pub path: String,
    pub sha256: String,
    pub rows: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Tenant {
    pub inputs: Vec<InputFile>,
    pub plans: Vec<ServicePlan>,
    pub skus: Vec<Sku>,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    /// Department names, the first one empty (`DepartmentIdx::default`).
    pub departments: Vec<Box<str>>,
    /// Sorted by (user, sku, source); `user_assignments` indexes it.
    pub assignments: Vec<Assignment>,
    user_assignment_start: Vec<u32>,
    /// Direct user memberships: `user_groups_start[u]..[u+1]` into `user_groups`.
    user_groups: Vec<GroupIdx>,
    user_groups_start: Vec<u32>,
    pub nested: Vec<NestedGroup>,
    /// Template lines per group (empty when the group has no template).
    pub templates: Vec<Vec<TemplateLine>>,
    pub tenant_location: Option<Country>,
    /// The organization file's id: the tenant the scripts may run against.
    pub organization_id: Option<Guid>,
    pub rules: Rules,
    /// Rows in the catalog file when one was given.
    pub catalog_rows: Option<u64>,
}

impl Tenant {
    /// The name of a department, empty for none.
    pub fn department(&self, d: DepartmentIdx) -> &str {
        self.departments.get(d.ix()).map_or("", |n| n)
    }

    /// Freezes the indexes once every record is in. `memberships` are (user, group) pairs.
    pub fn finish(&mut self, mut memberships: Vec<(UserIdx, GroupIdx)>) {
        use rayon::prelude::*;
        // Keys are unique (a second user/SKU/source is refused at ingest, and origins differ),
        // so an unstable parallel sort gives one order whatever the thread count. Sequential,
        // these two sorts were a fifth of loading a million users.
        self.assignments
            .par_sort_unstable_by_key(|a| (a.user, a.sku, a.source, a.origin));
        self.user_assignment_start =
            csr_starts(self.users.len(), self.assignments.iter().map(|a| a.user));
        memberships.par_sort_unstable();
        memberships.dedup();
        self.user_groups_start = csr_starts(self.users.len(), memberships.iter().map(|m| m.0));
        self.user_groups = memberships.into_iter().map(|m| m.1).collect();
        if self.templates.len() < self.groups.len() {
            self.templates.resize(self.groups.len(), Vec::new());
        }
    }

    pub fn user_assignments(
        &self,
        u: UserIdx,
    ) -> impl Iterator<Item = (AssignmentIdx, &Assignment)> {
        let (s, e) = (
            self.user_assignment_start[u.ix()],
            self.user_assignment_start[u.ix() + 1],
        );
        (s..e).map(move |i| (AssignmentIdx(i), &self.assignments[i as usize]))
    }

    pub fn user_groups(&self, u: UserIdx) -> &[GroupIdx] {
        let (s, e) = (
            self.user_groups_start[u.ix()],
            self.user_groups_start[u.ix() + 1],
        );
        &self.user_groups[s as usize..e as usize]
    }

    /// Every user by user principal name, case-insensitively, then id: the order of every
    /// listing licshift writes.
    pub fn user_order(&self) -> Vec<UserIdx> {
        use rayon::prelude::*;
        // Sorting a million names by the names themselves fetched two scattered strings per
        // comparison, twenty million times. Their first 16 bytes, as a number, decide nearly
        // every comparison from one contiguous array; only names that share those bytes are
        // compared whole. Zero padding keeps the number's order the names' order: a name that
        // ends sooner is a prefix of the other, or already differs from it.
        // Most UPNs are lower-case ASCII already: those are compared as they stand, without a
        // lower-cased copy of each.
        let mut keys: Vec<(u128, std::borrow::Cow<str>, Guid, UserIdx)> = self
            .users
            .par_iter()
            .enumerate()
            .map(|(i, user)| {
                let upn = &user.upn;
                let key: std::borrow::Cow<str> =
                    if upn.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
                        upn.into()
                    } else {
                        upn.to_lowercase().into()
                    };
                (name_prefix(&key), key, user.id, UserIdx(i as u32))
            })
            .collect();
        // Ids are unique (a second user with one is refused at ingest), so no two keys are
        // equal and an unstable sort has one result.
        keys.par_sort_unstable();
        keys.into_iter().map(|k| k.3).collect()
    }

    pub fn membership_count(&self) -> usize {
        self.user_groups.len()
    }

    /// The plans an assignment or template line enables: the SKU's user plans minus its deny-list.
    pub fn enabled(&self, sku: SkuIdx, disabled: &PlanSet) -> PlanSet {
        self.skus[sku.ix()].plans.minus(disabled)
    }

    pub fn plan_label(&self, p: PlanIdx) -> &str {
        &self.plans[p.ix()].name
    }

    pub fn group_label(&self, g: GroupIdx) -> &str {
        &self.groups[g.ix()].name
    }

    pub fn sku_label(&self, s: SkuIdx) -> &str {
        &self.skus[s.ix()].part_number
    }

    /// Plan names of a set, sorted, for messages and reports.
    pub fn plan_names(&self, set: &PlanSet) -> Vec<String> {
        let mut v: Vec<String> = set
            .iter()
            .map(|p| self.plans[p.ix()].name.clone())
            .collect();
        v.sort();
        v
    }

    pub fn user_by_key(&self, key: &str) -> Option<UserIdx> {
        let key = key.trim();
        let g = Guid::parse(key);
        self.users
            .iter()
            .position(|u| Some(u.id) == g || u.upn.eq_ignore_ascii_case(key))
            .map(|i| UserIdx(i as u32))
    }
}

/// The first 16 bytes of `name`, zero-padded, as a big-endian number: comparing two of them
/// orders two names as comparing the names does, or ties.
fn name_prefix(name: &str) -> u128 {
    let mut b = [0u8; 16];
    let n = name.len().min(16);
    b[..n].copy_from_slice(&name.as_bytes()[..n]);
    u128::from_be_bytes(b)
}

fn csr_starts(n: usize, keys: impl Iterator<Item = UserIdx>) -> Vec<u32> {
    let mut counts = vec![0u32; n + 1];
    for k in keys {
        counts[k.ix() + 1] += 1;
    }
    for i in 1..=n {
        counts[i] += counts[i - 1];
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A million of each are held at once: growth here is a million times the growth.
    #[test]
    fn per_record_sizes_stay_small() {
        assert!(
            std::mem::size_of::<User>() <= 112,
            "{}",
            std::mem::size_of::<User>()
        );
        assert!(
            std::mem::size_of::<Assignment>() <= 40,
            "{}",
            std::mem::size_of::<Assignment>()
        );
    }

    /// The prefix order agrees with the names' order wherever it does not tie.
    #[test]
    fn name_prefixes_order_as_names_do() {
        let names = [
            "",
            "a",
            "a\u{0}",
            "a\u{1}",
            "ab",
            "abcdefghijklmnop",
            "abcdefghijklmnopq",
            "abcdefghijklmnoq",
            "zoë@x",
            "zo@x",
            "\u{7f}",
            "é",
        ];
        for a in names {
            for b in names {
                let (pa, pb) = (name_prefix(a), name_prefix(b));
                if pa != pb {
                    assert_eq!(pa.cmp(&pb), a.cmp(b), "{a:?} {b:?}");
                }
            }
        }
    }

    #[test]
    fn users_are_ordered_by_name_without_case_then_id() {
        let mut t = Tenant::default();
        for (id, upn) in [
            (3, "b@x"),
            (1, "B@x"),
            (2, "a@x"),
            (4, "abcdefghijklmnopz@x"),
            (5, "ABCDEFGHIJKLMNOPa@x"),
        ] {
            t.users.push(User {
                id: Guid(id),
                upn: upn.into(),
                display_name: String::new(),
                location: None,
                account_enabled: true,
                department: DepartmentIdx::default(),
                wave_key: None,
                origin: Origin::default(),
            });
        }
        let order: Vec<u32> = t.user_order().iter().map(|u| u.0).collect();
        // a@x, abc…pa@x, abc…pz@x, then the two b@x by id.
        assert_eq!(order, vec![2, 4, 3, 1, 0]);
    }

    #[test]
    fn departments_are_named_by_index() {
        let mut t = Tenant::default();
        assert_eq!(t.department(DepartmentIdx::default()), "");
        t.departments = vec!["".into(), "Sales".into()];
        assert_eq!(t.department(DepartmentIdx(1)), "Sales");
    }
}
