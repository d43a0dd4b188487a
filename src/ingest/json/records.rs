//! Graph's records, as the requests in `json` return them, turned into the rows of each view.
//! Strings are borrowed from the line being parsed; only numbers, booleans and plan lists are
//! written out as text.

use super::read::{self, Malformed, Visit};
use super::View;
use crate::diag::{JsonAt, Origin};
use crate::ingest::table::Row;
use serde::Deserialize;
use std::borrow::Cow;

type Text<'a> = Option<Cow<'a, str>>;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscribedSku<'a> {
    #[serde(borrow)]
    sku_id: Text<'a>,
    #[serde(borrow)]
    sku_part_number: Text<'a>,
    consumed_units: Option<i64>,
    prepaid_units: Option<PrepaidUnits>,
    #[serde(borrow)]
    service_plans: Option<Vec<ServicePlanInfo<'a>>>,
}

#[derive(Deserialize)]
pub struct PrepaidUnits {
    enabled: Option<i64>,
    warning: Option<i64>,
    suspended: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePlanInfo<'a> {
    #[serde(borrow)]
    service_plan_id: Text<'a>,
    #[serde(borrow)]
    service_plan_name: Text<'a>,
    #[serde(borrow)]
    applies_to: Text<'a>,
    #[serde(borrow)]
    provisioning_status: Text<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User<'a> {
    #[serde(borrow)]
    id: Text<'a>,
    #[serde(borrow)]
    user_principal_name: Text<'a>,
    #[serde(borrow)]
    display_name: Text<'a>,
    #[serde(borrow)]
    usage_location: Text<'a>,
    account_enabled: Option<bool>,
    #[serde(borrow)]
    department: Text<'a>,
    #[serde(borrow)]
    city: Text<'a>,
    #[serde(borrow)]
    company_name: Text<'a>,
    #[serde(borrow)]
    country: Text<'a>,
    #[serde(borrow)]
    employee_id: Text<'a>,
    #[serde(borrow)]
    employee_type: Text<'a>,
    #[serde(borrow)]
    job_title: Text<'a>,
    #[serde(borrow)]
    office_location: Text<'a>,
    #[serde(borrow)]
    state: Text<'a>,
    #[serde(borrow)]
    mail: Text<'a>,
    #[serde(borrow)]
    license_assignment_states: Option<Vec<LicenseAssignmentState<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenseAssignmentState<'a> {
    #[serde(borrow)]
    sku_id: Text<'a>,
    #[serde(borrow)]
    assigned_by_group: Text<'a>,
    #[serde(borrow)]
    disabled_plans: Option<Vec<Cow<'a, str>>>,
    #[serde(borrow)]
    state: Text<'a>,
    #[serde(borrow)]
    error: Text<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group<'a> {
    #[serde(borrow)]
    id: Text<'a>,
    #[serde(borrow)]
    display_name: Text<'a>,
    security_enabled: Option<bool>,
    #[serde(borrow)]
    license_processing_state: Option<ProcessingState<'a>>,
    #[serde(borrow)]
    assigned_licenses: Option<Vec<AssignedLicense<'a>>>,
}

/// Graph's `licenseProcessingState` is `{"state": "ProcessingComplete"}`; flattened exports
/// saved as JSON hold the bare string.
pub struct ProcessingState<'a>(Text<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for ProcessingState<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either<'a> {
            Text(#[serde(borrow)] Cow<'a, str>),
            Object {
                #[serde(borrow)]
                state: Text<'a>,
            },
        }
        Ok(ProcessingState(match Either::deserialize(d)? {
            Either::Text(t) => Some(t),
            Either::Object { state } => state,
        }))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignedLicense<'a> {
    #[serde(borrow)]
    sku_id: Text<'a>,
    #[serde(borrow)]
    disabled_plans: Option<Vec<Cow<'a, str>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member<'a> {
    #[serde(borrow)]
    group_id: Text<'a>,
    /// Not Graph's: a member of a group the plan creates, which has no id yet.
    #[serde(borrow, alias = "groupDisplayName")]
    group_name: Text<'a>,
    #[serde(borrow)]
    id: Text<'a>,
    #[serde(borrow)]
    user_principal_name: Text<'a>,
    #[serde(borrow, rename = "@odata.type")]
    odata_type: Text<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization<'a> {
    #[serde(borrow)]
    id: Text<'a>,
    #[serde(borrow)]
    country_letter_code: Text<'a>,
}

fn text(t: Text<'_>) -> Cow<'_, str> {
    t.unwrap_or(Cow::Borrowed(""))
}

fn number(n: Option<i64>) -> Cow<'static, str> {
    n.map_or(Cow::Borrowed(""), |n| Cow::Owned(n.to_string()))
}

fn boolean(b: Option<bool>) -> Cow<'static, str> {
    Cow::Borrowed(match b {
        None => "",
        Some(true) => "true",
        Some(false) => "false",
    })
}

/// A plan list as the one cell the CSV loaders read (`;` separated).
fn plans<'a>(list: Option<Vec<Cow<'a, str>>>) -> Cow<'a, str> {
    match list {
        None => Cow::Borrowed(""),
        Some(mut l) if l.len() == 1 => l.pop().unwrap_or_default(),
        Some(l) => Cow::Owned(l.join(";")),
    }
}

/// Hands each row of a view to `f`, with which of the file's views it belongs to (0; 1 for
/// the assignments of `UsersAndAssignments`). `files` are the source ids of those views.
pub(crate) fn rows(
    file: impl std::io::Read + Send,
    view: View,
    files: [u16; 2],
    bad: &mut dyn FnMut(Malformed),
    f: &mut dyn FnMut(usize, &Row),
) -> std::io::Result<String> {
    let mut emit = Emit { view, files, f };
    match view {
        View::Skus => read::read(file, &mut Skus(emit), bad),
        View::Users | View::UsersAndAssignments | View::Assignments => {
            read::read(file, &mut Users(emit), bad)
        }
        View::Groups | View::GroupTemplates => read::read(file, &mut Groups(emit), bad),
        View::Members => read::read(file, &mut Members(emit), bad),
        View::Organization => {
            emit.view = View::Organization;
            read::read(file, &mut Organizations(emit), bad)
        }
    }
}

struct Emit<'f> {
    view: View,
    files: [u16; 2],
    f: &'f mut dyn FnMut(usize, &Row),
}

impl Emit<'_> {
    fn row(&mut self, which: usize, view: View, at: JsonAt, cells: &[Cow<'_, str>]) {
        let origin = Origin::json(self.files[which], at);
        (self.f)(which, &Row::json(origin, cells, view.columns()));
    }
}

struct Skus<'f>(Emit<'f>);

impl Visit for Skus<'_> {
    type Of<'de> = SubscribedSku<'de>;
    fn visit(&mut self, s: SubscribedSku<'_>, at: JsonAt) {
        let units = s.prepaid_units.as_ref();
        let seats = [
            number(units.and_then(|u| u.enabled)),
            number(units.and_then(|u| u.warning)),
            number(units.and_then(|u| u.suspended)),
            number(s.consumed_units),
        ];
        let (id, part) = (text(s.sku_id), text(s.sku_part_number));
        let plans = s.service_plans.unwrap_or_default();
        if plans.is_empty() {
            let mut cells = vec![id, part];
            cells.extend(std::iter::repeat_n(Cow::Borrowed(""), 4));
            cells.extend(seats);
            self.0.row(0, View::Skus, at, &cells);
            return;
        }
        for (k, p) in plans.into_iter().enumerate() {
            let mut cells = vec![id.clone(), part.clone()];
            cells.extend([
                text(p.service_plan_id),
                text(p.service_plan_name),
                text(p.applies_to),
                text(p.provisioning_status),
            ]);
            cells.extend(seats.iter().cloned());
            let at = JsonAt {
                sub: Some(k as u32),
                ..at
            };
            self.0.row(0, View::Skus, at, &cells);
        }
    }
}

struct Users<'f>(Emit<'f>);

impl Visit for Users<'_> {
    type Of<'de> = User<'de>;
    fn visit(&mut self, u: User<'_>, at: JsonAt) {
        let view = self.0.view;
        let id = text(u.id);
        if view != View::Assignments {
            let cells = [
                id.clone(),
                text(u.user_principal_name),
                text(u.display_name),
                text(u.usage_location),
                boolean(u.account_enabled),
                text(u.department),
                text(u.city),
                text(u.company_name),
                text(u.country),
                text(u.employee_id),
                text(u.employee_type),
                text(u.job_title),
                text(u.office_location),
                text(u.state),
                text(u.mail),
            ];
            self.0.row(0, View::Users, at, &cells);
        }
        if view == View::Users {
            return;
        }
        let which = usize::from(view == View::UsersAndAssignments);
        for (k, s) in u
            .license_assignment_states
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let cells = [
                id.clone(),
                text(s.sku_id),
                text(s.assigned_by_group),
                plans(s.disabled_plans),
                text(s.state),
                text(s.error),
            ];
            let at = JsonAt {
                sub: Some(k as u32),
                ..at
            };
            self.0.row(which, View::Assignments, at, &cells);
        }
    }
}

struct Groups<'f>(Emit<'f>);

impl Visit for Groups<'_> {
    type Of<'de> = Group<'de>;
    fn visit(&mut self, g: Group<'_>, at: JsonAt) {
        let id = text(g.id);
        if self.0.view == View::Groups {
            let cells = [
                id,
                text(g.display_name),
                boolean(g.security_enabled),
                text(g.license_processing_state.and_then(|s| s.0)),
            ];
            self.0.row(0, View::Groups, at, &cells);
            return;
        }
        for (k, l) in g
            .assigned_licenses
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let cells = [
                id.clone(),
                text(l.sku_id),
                plans(l.disabled_plans),
                Cow::Borrowed("existing"),
            ];
            let at = JsonAt {
                sub: Some(k as u32),
                ..at
            };
            self.0.row(0, View::GroupTemplates, at, &cells);
        }
    }
}

struct Members<'f>(Emit<'f>);

impl Visit for Members<'_> {
    type Of<'de> = Member<'de>;
    fn visit(&mut self, m: Member<'_>, at: JsonAt) {
        let cells = [
            text(m.group_id),
            text(m.group_name),
            text(m.id),
            text(m.user_principal_name),
            text(m.odata_type),
        ];
        self.0.row(0, View::Members, at, &cells);
    }
}

struct Organizations<'f>(Emit<'f>);

impl Visit for Organizations<'_> {
    type Of<'de> = Organization<'de>;
    fn visit(&mut self, o: Organization<'_>, at: JsonAt) {
        let cells = [text(o.id), text(o.country_letter_code)];
        self.0.row(0, View::Organization, at, &cells);
    }
}
