//! The sandbox's tenant: users with their license states, groups with their licenses and members,
//! SKUs with their seats — what Graph keeps and a snapshot only pictures. Built from a loaded
//! snapshot; changed only through `licensing` (Entra's processing and direct assignment), which
//! reports every change to the watch.

use crate::model::{
    Country, Guid, LicenseError, PlanIdx, PlanSet, Rules, SkuIdx, Source, State, TemplateStatus,
    Tenant,
};
use std::collections::HashMap;
use std::time::Instant;

pub struct SkuRec {
    pub id: Guid,
    pub part_number: String,
    /// Plans assigned to users, and plans that apply to the company.
    pub plans: PlanSet,
    pub company_plans: PlanSet,
    pub enabled: i64,
    pub warning: i64,
    pub suspended: i64,
    pub consumed: i64,
    /// No seat figures in the snapshot: never short.
    pub unlimited: bool,
}

impl SkuRec {
    pub fn free(&self) -> i64 {
        if self.unlimited {
            i64::MAX
        } else {
            self.enabled - self.consumed
        }
    }
}

/// One `licenseAssignmentState`.
#[derive(Clone, Debug, PartialEq)]
pub struct Lic {
    pub sku: SkuIdx,
    pub disabled: PlanSet,
    /// The group it comes from; None for a direct assignment.
    pub by: Option<usize>,
    pub state: State,
    pub error: Option<LicenseError>,
    pub updated: String,
}

pub struct UserRec {
    pub id: Guid,
    pub upn: String,
    pub display_name: String,
    pub location: Option<Country>,
    pub account_enabled: bool,
    pub department: String,
    pub licenses: Vec<Lic>,
    /// Groups the user is a direct member of.
    pub groups: Vec<usize>,
    pub deleted: bool,
}

pub struct GroupRec {
    pub id: Guid,
    pub name: String,
    pub nickname: Option<String>,
    pub security_enabled: Option<bool>,
    pub mail_enabled: bool,
    pub licenses: Vec<(SkuIdx, PlanSet)>,
    /// Direct user members (indexes into `users`), in the order they joined.
    pub members: Vec<usize>,
    /// Groups nested in this one: listed as members, given no licenses (SPEC §3.2).
    pub nested: Vec<usize>,
    pub processing: &'static str,
    /// When queued processing completes.
    pub due: Option<Instant>,
    /// Users who left since the last processing: their licenses from this group go then.
    pub left: Vec<usize>,
    /// The request that queued the processing, for the watch.
    pub cause: String,
}

pub const COMPLETE: &str = "ProcessingComplete";
pub const QUEUED: &str = "QueuedForProcessing";

pub struct Directory {
    pub tenant_id: Guid,
    pub tenant_name: String,
    pub location: Option<Country>,
    pub rules: Rules,
    pub plan_ids: Vec<Guid>,
    pub plan_names: Vec<String>,
    pub plan_by_id: HashMap<Guid, PlanIdx>,
    pub skus: Vec<SkuRec>,
    pub sku_by_id: HashMap<Guid, SkuIdx>,
    pub users: Vec<UserRec>,
    pub user_by_key: HashMap<String, usize>,
    pub groups: Vec<GroupRec>,
    pub group_by_id: HashMap<Guid, usize>,
}

/// Users and groups are looked up by id, and users also by UPN, without case.
pub fn key(s: &str) -> String {
    s.trim().to_ascii_lowercase()
}

impl Directory {
    /// The tenant a loaded snapshot pictures. Groups the plan would create (no id) are not in it.
    pub fn from_tenant(t: &Tenant, stamp: &str) -> Directory {
        let plan_ids: Vec<Guid> = t.plans.iter().map(|p| p.id).collect();
        let plan_names: Vec<String> = t.plans.iter().map(|p| p.name.clone()).collect();
        let plan_by_id = plan_ids
            .iter()
            .enumerate()
            .map(|(i, g)| (*g, PlanIdx(i as u32)))
            .collect();
        let skus: Vec<SkuRec> = t
            .skus
            .iter()
            .map(|s| {
                let seats = s.seats.unwrap_or_default();
                SkuRec {
                    id: s.id,
                    part_number: s.part_number.clone(),
                    plans: s.plans.clone(),
                    company_plans: s.company_plans.clone(),
                    enabled: seats.enabled,
                    warning: seats.warning,
                    suspended: seats.suspended,
                    consumed: seats.consumed,
                    unlimited: s.seats.is_none(),
                }
            })
            .collect();
        let sku_by_id = skus
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id, SkuIdx(i as u32)))
            .collect();
        // Model group index → sandbox group index, for groups that exist.
        let mut group_ix: Vec<Option<usize>> = vec![None; t.groups.len()];
        let mut groups: Vec<GroupRec> = Vec::new();
        for (gi, g) in t.groups.iter().enumerate() {
            let Some(id) = g.id else { continue };
            group_ix[gi] = Some(groups.len());
            groups.push(GroupRec {
                id,
                name: g.name.clone(),
                nickname: None,
                security_enabled: g.security_enabled,
                mail_enabled: false,
                licenses: t.templates[gi]
                    .iter()
                    .filter(|l| l.status == TemplateStatus::Existing)
                    .map(|l| (l.sku, l.disabled.clone()))
                    .collect(),
                members: Vec::new(),
                nested: Vec::new(),
                processing: COMPLETE,
                due: None,
                left: Vec::new(),
                cause: String::new(),
            });
        }
        let mut users = Vec::with_capacity(t.users.len());
        for (ui, u) in t.users.iter().enumerate() {
            let licenses = t
                .user_assignments(crate::model::UserIdx(ui as u32))
                .filter_map(|(_, a)| {
                    let by = match a.source {
                        Source::Direct => None,
                        Source::Group(g) => Some(group_ix[g.ix()]?),
                    };
                    Some(Lic {
                        sku: a.sku,
                        disabled: (*a.disabled).clone(),
                        by,
                        state: a.state,
                        error: a.error,
                        updated: stamp.to_string(),
                    })
                })
                .collect();
            let mut member_of = Vec::new();
            for g in t.user_groups(crate::model::UserIdx(ui as u32)) {
                if let Some(sg) = group_ix[g.ix()] {
                    groups[sg].members.push(ui);
                    member_of.push(sg);
                }
            }
            users.push(UserRec {
                id: u.id,
                upn: u.upn.clone(),
                display_name: u.display_name.clone(),
                location: u.location,
                account_enabled: u.account_enabled,
                department: t.department(u.department).to_string(),
                licenses,
                groups: member_of,
                deleted: false,
            });
        }
        for n in &t.nested {
            if let (Some(p), Some(c)) = (group_ix[n.parent.ix()], group_ix[n.child.ix()]) {
                groups[p].nested.push(c);
            }
        }
        let mut user_by_key = HashMap::with_capacity(users.len() * 2);
        for (i, u) in users.iter().enumerate() {
            user_by_key.insert(u.id.to_string(), i);
            user_by_key.insert(key(&u.upn), i);
        }
        let group_by_id = groups.iter().enumerate().map(|(i, g)| (g.id, i)).collect();
        Directory {
            tenant_id: t.organization_id.unwrap_or_default(),
            tenant_name: "Sandbox tenant".into(),
            location: t.tenant_location,
            rules: t.rules.clone(),
            plan_ids,
            plan_names,
            plan_by_id,
            skus,
            sku_by_id,
            users,
            user_by_key,
            groups,
            group_by_id,
        }
    }

    pub fn enabled(&self, sku: SkuIdx, disabled: &PlanSet) -> PlanSet {
        self.skus[sku.ix()].plans.minus(disabled)
    }

    /// What the user has now: the union of the plans every assignment in effect enables.
    pub fn effective(&self, u: usize) -> PlanSet {
        let mut p = PlanSet::new();
        for l in self.users[u]
            .licenses
            .iter()
            .filter(|l| l.state.provides_plans())
        {
            p.union_with(&self.enabled(l.sku, &l.disabled));
        }
        p
    }

    /// SKUs the user holds a seat of: one seat per SKU whatever the number of assignments.
    pub fn seats_held(&self, u: usize) -> Vec<SkuIdx> {
        let mut v: Vec<SkuIdx> = self.users[u]
            .licenses
            .iter()
            .filter(|l| l.state.provides_plans())
            .map(|l| l.sku)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    pub fn user(&self, id_or_upn: &str) -> Option<usize> {
        self.user_by_key
            .get(&key(id_or_upn))
            .copied()
            .filter(|&u| !self.users[u].deleted)
    }

    pub fn group(&self, id: &str) -> Option<usize> {
        self.group_by_id.get(&Guid::parse(id)?).copied()
    }

    /// The groups a user is a direct member of.
    pub fn groups_of(&self, u: usize) -> Vec<usize> {
        self.users[u].groups.clone()
    }

    pub fn plan_label(&self, p: PlanIdx) -> String {
        self.plan_names
            .get(p.ix())
            .filter(|n| !n.is_empty())
            .cloned()
            .unwrap_or_else(|| self.plan_ids[p.ix()].to_string())
    }
}
