//! The sandbox's tenant as Graph's JSON: users with their license states, groups, members,
//! subscribedSkus and organization, with `$select`, `$top`, `$skiptoken` and the `$filter`s
//! licshift sends. Shapes are `graph::wire`'s, so the client and `ingest` read what they read
//! from Graph.

use super::directory::Directory;
use super::licensing::Refused;
use crate::graph::wire;
use crate::model::PlanSet;
use serde_json::{Map, Value};

/// A query string's `$select`, `$top`, `$skiptoken`, `$filter`.
#[derive(Default, Debug)]
pub struct Query {
    pub select: Option<Vec<String>>,
    pub top: Option<usize>,
    pub skip: usize,
    pub filter: Option<String>,
}

pub fn unsupported(message: String) -> Refused {
    Refused {
        status: 400,
        code: "Request_UnsupportedQuery",
        message,
    }
}

impl Query {
    pub fn parse(query: &str) -> Result<Query, Refused> {
        let mut q = Query::default();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "$select" => {
                    q.select = Some(v.split(',').map(|s| s.trim().to_string()).collect())
                }
                "$top" => {
                    let n: i64 = v.parse().unwrap_or(-1);
                    if !(1..=wire::MAX_PAGE as i64).contains(&n) {
                        return Err(unsupported(format!(
                            "Invalid page size specified: '{v}'. Must be between 1 and 999 inclusive."
                        )));
                    }
                    q.top = Some(n as usize);
                }
                "$skiptoken" => {
                    q.skip = v
                        .strip_prefix("RFNwdAoAAQAAAA")
                        .and_then(|n| n.parse().ok())
                        .ok_or_else(|| {
                            Refused {
                                status: 400,
                                code: "Directory_ExpiredPageToken",
                                message: "The specified page token value has expired and can no longer be included in your request.".into(),
                            }
                        })?
                }
                "$filter" => q.filter = Some(v.into_owned()),
                _ => {}
            }
        }
        Ok(q)
    }
}

/// A `$filter` licshift sends: `PROP eq 'v'` or `PROP in ('a','b',…)` (at most 15 values, as
/// Graph allows without advanced queries).
pub fn filter(f: &str) -> Result<(String, Vec<String>), Refused> {
    let f = f.trim();
    let bad = || unsupported(format!("Invalid filter clause: {f}"));
    let (prop, rest) = f.split_once(' ').ok_or_else(bad)?;
    let rest = rest.trim_start();
    let quoted = |s: &str| -> Option<String> {
        let s = s.trim();
        Some(s.strip_prefix('\'')?.strip_suffix('\'')?.replace("''", "'"))
    };
    let values = if let Some(v) = rest.strip_prefix("eq ") {
        vec![quoted(v).ok_or_else(bad)?]
    } else if let Some(v) = rest.strip_prefix("in ") {
        let inner = v
            .trim()
            .strip_prefix('(')
            .and_then(|s| s.strip_suffix(')'))
            .ok_or_else(bad)?;
        let vals: Option<Vec<String>> = inner.split(',').map(quoted).collect();
        let vals = vals.ok_or_else(bad)?;
        if vals.len() > 15 {
            return Err(unsupported(format!("Too many child clauses specified in search filter expression containing 'OR' operators: {}. Max allowed: 15.", vals.len())));
        }
        vals
    } else {
        return Err(bad());
    };
    Ok((prop.to_string(), values))
}

fn keep(mut v: Map<String, Value>, select: &Option<Vec<String>>, default: &[&str]) -> Value {
    let wanted: Vec<String> = match select {
        Some(s) => s.clone(),
        None => default.iter().map(|s| s.to_string()).collect(),
    };
    let mut out = Map::new();
    if let Some(t) = v.remove("@odata.type") {
        out.insert("@odata.type".into(), t);
    }
    for k in wanted {
        let value = v.remove(&k).unwrap_or(Value::Null);
        out.insert(k, value);
    }
    Value::Object(out)
}

fn as_map<T: serde::Serialize>(t: &T) -> Map<String, Value> {
    match serde_json::to_value(t) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

const USER_DEFAULT: &[&str] = &["id", "displayName", "userPrincipalName", "mail", "jobTitle"];
const GROUP_DEFAULT: &[&str] = &[
    "id",
    "displayName",
    "mailNickname",
    "mailEnabled",
    "securityEnabled",
    "groupTypes",
];

impl Directory {
    fn ids(&self, set: &PlanSet) -> Vec<String> {
        set.iter()
            .map(|p| self.plan_ids[p.ix()].to_string())
            .collect()
    }

    pub fn user_wire(&self, u: usize) -> wire::User {
        let user = &self.users[u];
        let mut assigned: Vec<(crate::model::SkuIdx, PlanSet)> = Vec::new();
        for l in user.licenses.iter().filter(|l| l.state.provides_plans()) {
            match assigned.iter_mut().find(|(s, _)| *s == l.sku) {
                // A plan enabled by any source is enabled.
                Some((_, d)) => *d = d.intersection(&l.disabled),
                None => assigned.push((l.sku, l.disabled.clone())),
            }
        }
        wire::User {
            id: user.id.to_string(),
            user_principal_name: Some(user.upn.clone()),
            display_name: Some(user.display_name.clone()),
            usage_location: user.location.map(|c| c.to_string()),
            account_enabled: Some(user.account_enabled),
            department: (!user.department.is_empty()).then(|| user.department.clone()),
            assigned_licenses: assigned
                .iter()
                .map(|(s, d)| wire::AssignedLicense {
                    disabled_plans: self.ids(d),
                    sku_id: self.skus[s.ix()].id.to_string(),
                })
                .collect(),
            license_assignment_states: user
                .licenses
                .iter()
                .map(|l| wire::LicenseAssignmentState {
                    assigned_by_group: l.by.map(|g| self.groups[g].id.to_string()),
                    disabled_plans: self.ids(&l.disabled),
                    error: l.error.map_or("None", |e| e.as_str()).to_string(),
                    last_updated_date_time: Some(l.updated.clone()),
                    sku_id: self.skus[l.sku.ix()].id.to_string(),
                    state: l.state.as_str().to_string(),
                })
                .collect(),
        }
    }

    pub fn user_json(&self, u: usize, select: &Option<Vec<String>>) -> Value {
        let mut out = Vec::new();
        self.write_user(u, select, &mut out);
        serde_json::from_slice(&out).unwrap_or_default()
    }

    /// One user as JSON with the selected properties (Graph's default ones without `$select`),
    /// written straight to `out`: a page of 999 users is most of what a snapshot costs.
    pub fn write_user(&self, u: usize, select: &Option<Vec<String>>, out: &mut Vec<u8>) {
        let w = self.user_wire(u);
        let default: Vec<String>;
        let keys = match select {
            Some(s) => s,
            None => {
                default = USER_DEFAULT.iter().map(|s| s.to_string()).collect();
                &default
            }
        };
        out.push(b'{');
        for (i, k) in keys.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let _ = serde_json::to_writer(&mut *out, k);
            out.push(b':');
            let _ = match k.as_str() {
                "id" => serde_json::to_writer(&mut *out, &w.id),
                "userPrincipalName" => serde_json::to_writer(&mut *out, &w.user_principal_name),
                "displayName" => serde_json::to_writer(&mut *out, &w.display_name),
                "usageLocation" => serde_json::to_writer(&mut *out, &w.usage_location),
                "accountEnabled" => serde_json::to_writer(&mut *out, &w.account_enabled),
                "department" => serde_json::to_writer(&mut *out, &w.department),
                "assignedLicenses" => serde_json::to_writer(&mut *out, &w.assigned_licenses),
                "licenseAssignmentStates" => {
                    serde_json::to_writer(&mut *out, &w.license_assignment_states)
                }
                _ => {
                    out.extend_from_slice(b"null");
                    Ok(())
                }
            };
        }
        out.push(b'}');
    }

    pub fn group_wire(&self, g: usize) -> wire::Group {
        let group = &self.groups[g];
        wire::Group {
            id: group.id.to_string(),
            display_name: Some(group.name.clone()),
            mail_nickname: group.nickname.clone(),
            security_enabled: group.security_enabled,
            mail_enabled: Some(group.mail_enabled),
            license_processing_state: Some(wire::ProcessingState {
                state: group.processing.to_string(),
            }),
            assigned_licenses: group
                .licenses
                .iter()
                .map(|(s, d)| wire::AssignedLicense {
                    disabled_plans: self.ids(d),
                    sku_id: self.skus[s.ix()].id.to_string(),
                })
                .collect(),
        }
    }

    pub fn group_json(&self, g: usize, select: &Option<Vec<String>>) -> Value {
        let mut m = as_map(&self.group_wire(g));
        m.insert("groupTypes".into(), Value::Array(Vec::new()));
        keep(m, select, GROUP_DEFAULT)
    }

    /// Group `g`'s members: users, then nested groups. `range` is the page (indexes into the
    /// list), so a page costs its own size, not the group's. Deleted users have left already.
    pub fn member_json(
        &self,
        g: usize,
        select: &Option<Vec<String>>,
        range: std::ops::Range<usize>,
    ) -> Vec<Value> {
        let group = &self.groups[g];
        let n = group.members.len();
        let users = &group.members[range.start.min(n)..range.end.min(n)];
        let nested = &group.nested[range.start.max(n) - n..range.end.max(n) - n];
        users
            .iter()
            .map(|&u| self.member_user(u, select))
            .chain(nested.iter().map(|&c| self.member_group(c, select)))
            .collect()
    }

    /// How many members `member_json` lists.
    pub fn member_count(&self, g: usize) -> usize {
        self.groups[g].members.len() + self.groups[g].nested.len()
    }

    fn member_user(&self, u: usize, select: &Option<Vec<String>>) -> Value {
        let m = as_map(&wire::Member {
            odata_type: "#microsoft.graph.user".into(),
            id: self.users[u].id.to_string(),
            user_principal_name: Some(self.users[u].upn.clone()),
        });
        keep(m, select, &["id", "userPrincipalName"])
    }

    fn member_group(&self, c: usize, select: &Option<Vec<String>>) -> Value {
        let mut m = Map::new();
        m.insert("@odata.type".into(), "#microsoft.graph.group".into());
        m.insert("id".into(), self.groups[c].id.to_string().into());
        m.insert("displayName".into(), self.groups[c].name.clone().into());
        let sel = select.as_ref().map(|s| {
            s.iter()
                .filter(|k| *k != "userPrincipalName")
                .cloned()
                .collect::<Vec<_>>()
        });
        keep(m, &sel, &["id", "displayName"])
    }

    pub fn skus_wire(&self) -> Vec<wire::SubscribedSku> {
        let tenant = self.tenant_id.to_string();
        self.skus
            .iter()
            .map(|s| {
                let mut plans: Vec<wire::ServicePlanInfo> = s
                    .plans
                    .union(&s.company_plans)
                    .iter()
                    .map(|p| wire::ServicePlanInfo {
                        service_plan_id: self.plan_ids[p.ix()].to_string(),
                        service_plan_name: self.plan_names[p.ix()].clone(),
                        provisioning_status: "Success".into(),
                        applies_to: if s.company_plans.contains(p) {
                            "Company".into()
                        } else {
                            "User".into()
                        },
                    })
                    .collect();
                plans.sort_by(|a, b| a.service_plan_id.cmp(&b.service_plan_id));
                wire::SubscribedSku {
                    account_id: Some(tenant.clone()),
                    applies_to: "User".into(),
                    capability_status: "Enabled".into(),
                    consumed_units: s.consumed,
                    id: format!("{tenant}_{}", s.id),
                    prepaid_units: wire::PrepaidUnits {
                        enabled: if s.unlimited {
                            s.consumed.max(0) + 1_000_000
                        } else {
                            s.enabled
                        },
                        locked_out: 0,
                        suspended: s.suspended,
                        warning: s.warning,
                    },
                    service_plans: plans,
                    sku_id: s.id.to_string(),
                    sku_part_number: s.part_number.clone(),
                }
            })
            .collect()
    }

    pub fn organization_wire(&self) -> wire::Organization {
        wire::Organization {
            id: self.tenant_id.to_string(),
            display_name: Some(self.tenant_name.clone()),
            country_letter_code: self.location.map(|c| c.to_string()),
        }
    }
}

/// A page of `items` (indexes into a list that may have holes) from `q.skip`, and the offset of
/// the next page when there is one.
pub fn page<T: Copy>(
    items: &[T],
    live: impl Fn(T) -> bool,
    q: &Query,
    default_top: usize,
) -> (Vec<T>, Option<usize>) {
    let top = q.top.unwrap_or(default_top);
    let mut out = Vec::with_capacity(top.min(items.len()));
    let mut i = q.skip;
    while i < items.len() && out.len() < top {
        if live(items[i]) {
            out.push(items[i]);
        }
        i += 1;
    }
    while i < items.len() && !live(items[i]) {
        i += 1;
    }
    (out, (i < items.len()).then_some(i))
}

/// The nextLink for `path` with `query`, its skiptoken set to `offset`.
pub fn next_link(base: &str, path: &str, query: &str, offset: usize) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if k != "$skiptoken" {
            s.append_pair(&k, &v);
        }
    }
    s.append_pair("$skiptoken", &format!("RFNwdAoAAQAAAA{offset}"));
    format!("{base}{path}?{}", s.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filters_licshift_sends_are_read_and_others_refused() {
        assert_eq!(
            filter("id in ('a','b''c')").unwrap(),
            ("id".to_string(), vec!["a".to_string(), "b'c".to_string()])
        );
        assert_eq!(filter("mailNickname eq 'x'").unwrap().1, vec!["x"]);
        assert!(filter("startswith(displayName,'a')").is_err());
        let many: Vec<String> = (0..16).map(|i| format!("'{i}'")).collect();
        assert!(filter(&format!("id in ({})", many.join(","))).is_err());
    }

    #[test]
    fn a_page_skips_deleted_records_and_links_on_only_when_more_remain() {
        let items: Vec<usize> = (0..5).collect();
        let q = Query {
            top: Some(2),
            ..Default::default()
        };
        assert_eq!(page(&items, |i| i != 1, &q, 100), (vec![0, 2], Some(3)));
        let q = Query {
            top: Some(2),
            skip: 3,
            ..Default::default()
        };
        assert_eq!(page(&items, |i| i != 4, &q, 100), (vec![3], None));
    }
}
