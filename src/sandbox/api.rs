//! One Graph v1.0 request against the sandbox's tenant, from method, path, query and body to
//! status, headers and body — the same whether it came over HTTP or inside a `$batch`.
//! Writes pass the write quota first, and faults come from the seed's schedule.

use super::faults::{Before, UNAVAILABLE_RETRY};
use super::licensing::{bad_request, not_found, Refused};
use super::reads::{filter, next_link, page, unsupported, Query};
use super::Sandbox;
use crate::graph::wire;
use crate::model::{Guid, PlanSet, SkuIdx};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// JSON, already serialised: a page of 999 users is written straight from the tenant.
    pub body: Option<Vec<u8>>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Some(body.to_string().into_bytes()),
        }
    }
    fn raw(status: u16, body: Vec<u8>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }
    fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
        }
    }
}

/// Graph's error body.
pub fn error(code: &str, message: &str, request_id: &str, client_id: &str) -> Value {
    json!({"error": {"code": code, "message": message, "innerError": {
        "date": crate::clock::utc_now().trim_end_matches('Z'),
        "request-id": request_id, "client-request-id": client_id}}})
}

fn refused(r: Refused, rid: &str, cid: &str) -> Reply {
    Reply::json(r.status, error(r.code, &r.message, rid, cid))
}

/// Retry-After in seconds, rounded up to the millisecond so a client that waits exactly that
/// long is never early.
fn seconds(d: Duration) -> String {
    let ms = d.as_micros().div_ceil(1000);
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

fn body_json(body: &[u8]) -> Result<Value, Refused> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_slice(body).map_err(|_| Refused {
        status: 400,
        code: "BadRequest",
        message: "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.".into(),
    })
}

fn is_write(method: &str) -> bool {
    matches!(method, "POST" | "PATCH" | "DELETE" | "PUT")
}

impl Sandbox {
    /// A request to `/v1.0{path}` (path without the version), after authentication.
    pub fn call(&mut self, method: &str, path: &str, query: &str, body: &[u8], cid: &str) -> Reply {
        let rid = crate::graph::new_uuid();
        let cid = if cid.is_empty() {
            rid.clone()
        } else {
            cid.to_string()
        };
        let now = Instant::now();
        self.requests += 1;
        self.tick(now);
        if path == "/$batch" && method == "POST" {
            if self.retry_until.is_some_and(|t| now < t) {
                self.quota_exceeded += 1;
            }
            self.in_batch = true;
            let reply = self.batch(body, &rid, &cid);
            self.in_batch = false;
            return reply;
        }
        let write = is_write(method);
        // Requests inside one $batch arrive together: only the batch itself can come early.
        if !self.in_batch && self.retry_until.is_some_and(|t| now < t) {
            self.quota_exceeded += 1;
        }
        let mut reply = self.guarded(method, path, query, body, write, now, &rid, &cid);
        reply.headers.push(("request-id".into(), rid));
        reply.headers.push(("client-request-id".into(), cid));
        reply
    }

    #[allow(clippy::too_many_arguments)]
    fn guarded(
        &mut self,
        method: &str,
        path: &str,
        query: &str,
        body: &[u8],
        write: bool,
        now: Instant,
        rid: &str,
        cid: &str,
    ) -> Reply {
        let down = self.outage_left > 0;
        if down {
            self.outage_left -= 1;
            self.outage_answered += 1;
        }
        let before = match &mut self.faults {
            _ if down => Some(Before::Unavailable),
            Some(f) => Some(f.before(write)),
            None => None,
        };
        if let Some(before) = before {
            match before {
                Before::Handle => {}
                Before::Unavailable => {
                    let mut r = Reply::json(
                        503,
                        error(
                            "serviceNotAvailable",
                            "Service unavailable, retry after the time given.",
                            rid,
                            cid,
                        ),
                    );
                    r.headers
                        .push(("Retry-After".into(), seconds(UNAVAILABLE_RETRY)));
                    return r;
                }
                Before::ReadTimeout => {
                    let mut r =
                        Reply::json(504, error("UnknownError", "Gateway timeout.", rid, cid));
                    r.headers
                        .push(("Retry-After".into(), seconds(UNAVAILABLE_RETRY)));
                    return r;
                }
            }
        }
        if write && self.contend_left > 0 {
            self.contend_left -= 1;
            self.contended += 1;
            return Reply::json(
                400,
                error(
                    "Directory_ConcurrencyViolation",
                    "Error due to concurrent requests being made to the tenant. Please wait briefly and retry.",
                    rid,
                    cid,
                ),
            );
        }
        let quota = if write {
            &mut self.quota
        } else {
            &mut self.reads
        };
        if let Some(wait) = quota.admit(now) {
            self.throttled += 1;
            self.retry_until = Some(self.retry_until.map_or(now + wait, |t| t.max(now + wait)));
            let mut r = Reply::json(
                429,
                error(
                    "TooManyRequests",
                    "Too many requests. Please retry again later.",
                    rid,
                    cid,
                ),
            );
            r.headers.push(("Retry-After".into(), seconds(wait)));
            let (limit, scope) = if write {
                ("WriteLimitExceeded", "ReadWrite")
            } else {
                ("ResourceUnitLimitExceeded", "Read")
            };
            r.headers
                .push(("x-ms-throttle-information".into(), limit.into()));
            r.headers.push((
                "x-ms-throttle-scope".into(),
                format!("Tenant_Application/{scope}/sandbox/{}", self.dir.tenant_id),
            ));
            return r;
        }
        if let Some(f) = &mut self.faults {
            if write {
                let target = user_target(path).and_then(|u| self.dir.user(u));
                f.between_writes(&mut self.dir, target);
            } else if method == "GET" && path == "/users" {
                // Between a client's batches: before it reads its next users live.
                f.between_batches(&mut self.dir, self.options.processing_delay);
            }
        }
        let request = format!("{method} /v1.0{path} (request-id {rid})");
        let reply = match self.route(method, path, query, body, &request) {
            Ok(r) => r,
            Err(e) => return refused(e, rid, cid),
        };
        if write && (200..300).contains(&reply.status) {
            if let Some(f) = &mut self.faults {
                if f.after_write() {
                    return Reply::json(
                        504,
                        error(
                            "UnknownError",
                            "The operation timed out before a response was returned.",
                            rid,
                            cid,
                        ),
                    );
                }
            }
        }
        reply
    }

    fn route(
        &mut self,
        method: &str,
        path: &str,
        query: &str,
        body: &[u8],
        request: &str,
    ) -> Result<Reply, Refused> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let q = Query::parse(query)?;
        let delay = self.options.processing_delay;
        let base = self.base_url.clone();
        match (method, parts.as_slice()) {
            ("GET", ["organization"]) => Ok(Reply::json(
                200,
                json!({
                "@odata.context": format!("{base}/$metadata#organization"),
                "value": [serde_json::to_value(self.dir.organization_wire()).unwrap_or_default()]}),
            )),
            ("GET", ["subscribedSkus"]) => Ok(Reply::json(
                200,
                json!({
                "@odata.context": format!("{base}/$metadata#subscribedSkus"),
                "value": serde_json::to_value(self.dir.skus_wire()).unwrap_or_default()}),
            )),
            ("GET", ["users"]) => self.list_users(&q, path, query),
            ("GET", ["users", id]) => {
                let u = self.dir.user(id).ok_or_else(|| not_found(id))?;
                Ok(Reply::json(200, self.dir.user_json(u, &q.select)))
            }
            ("POST", ["users", id, "assignLicense"]) => {
                let u = self.dir.user(id).ok_or_else(|| not_found(id))?;
                let (add, remove) = self.licenses(body)?;
                let stamp = crate::clock::utc_now();
                self.dir
                    .assign_direct(u, add, remove, &stamp, &mut self.watch, request)?;
                Ok(Reply::json(200, self.dir.user_json(u, &None)))
            }
            ("POST", ["users", id, "reprocessLicenseAssignment"]) => {
                let u = self.dir.user(id).ok_or_else(|| not_found(id))?;
                body_json(body)?;
                let stamp = crate::clock::utc_now();
                self.dir.reprocess(u, &stamp, &mut self.watch, request);
                Ok(Reply::json(200, self.dir.user_json(u, &None)))
            }
            ("GET", ["groups"]) => self.list_groups(&q, path, query),
            ("POST", ["groups"]) => self.create_group(body, request),
            ("GET", ["groups", id]) => {
                let g = self.dir.group(id).ok_or_else(|| not_found(id))?;
                Ok(Reply::json(200, self.dir.group_json(g, &q.select)))
            }
            ("PATCH", ["groups", id]) => {
                let g = self.dir.group(id).ok_or_else(|| not_found(id))?;
                let v = body_json(body)?;
                let refs = v
                    .get("members@odata.bind")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let users = self.member_refs(g, &refs)?;
                for u in users {
                    self.dir.add_member(g, u, delay, request);
                }
                Ok(Reply::empty(204))
            }
            ("POST", ["groups", id, "assignLicense"]) => {
                let g = self.dir.group(id).ok_or_else(|| not_found(id))?;
                let (add, remove) = self.licenses(body)?;
                self.dir.assign_group(g, add, remove, delay, request)?;
                let mut r = Reply::json(
                    202,
                    serde_json::to_value(self.dir.group_wire(g)).unwrap_or_default(),
                );
                r.headers.push((
                    "Location".into(),
                    format!(
                        "{base}/directoryObjects/{}/Microsoft.DirectoryServices.Group",
                        self.dir.groups[g].id
                    ),
                ));
                Ok(r)
            }
            ("GET", ["groups", id, "members"]) => {
                let g = self.dir.group(id).ok_or_else(|| not_found(id))?;
                let top = q.top.unwrap_or(100);
                let count = self.dir.member_count(g);
                let end = (q.skip + top).min(count);
                let items = self.dir.member_json(g, &q.select, q.skip.min(end)..end);
                let next = (end < count).then(|| next_link(&base, path, query, end));
                Ok(Reply::raw(
                    200,
                    page_bytes(
                        &format!("{base}/$metadata#directoryObjects"),
                        next,
                        items.len(),
                        |i, out| {
                            let _ = serde_json::to_writer(out, &items[i]);
                        },
                    ),
                ))
            }
            ("POST", ["groups", id, "members", "$ref"]) => {
                let g = self.dir.group(id).ok_or_else(|| not_found(id))?;
                let v = body_json(body)?;
                let r = v.get("@odata.id").cloned().unwrap_or(Value::Null);
                let users = self.member_refs(g, &[r])?;
                for u in users {
                    self.dir.add_member(g, u, delay, request);
                }
                Ok(Reply::empty(204))
            }
            ("DELETE", ["groups", id]) => {
                let g = self.dir.group(id).ok_or_else(|| not_found(id))?;
                self.dir.delete_group(g, delay, request);
                Ok(Reply::empty(204))
            }
            ("DELETE", ["groups", id, "members", member, "$ref"]) => {
                let g = self.dir.group(id).ok_or_else(|| not_found(id))?;
                let u = self
                    .dir
                    .user(member)
                    .filter(|u| self.dir.users[*u].groups.contains(&g))
                    .ok_or_else(|| not_found(member))?;
                self.dir.remove_member(g, u, delay, request);
                Ok(Reply::empty(204))
            }
            _ => Err(Refused {
                status: 400,
                code: "BadRequest",
                message: format!(
                    "Resource not found for the segment '{}'.",
                    parts.last().unwrap_or(&"")
                ),
            }),
        }
    }

    fn list_users(&self, q: &Query, path: &str, query: &str) -> Result<Reply, Refused> {
        let base = &self.base_url;
        let d = &self.dir;
        let chosen: Vec<usize> = match &q.filter {
            Some(f) => {
                let (prop, values) = filter(f)?;
                match prop.as_str() {
                    "id" | "userPrincipalName" => values.iter().filter_map(|v| d.user(v)).collect(),
                    _ => return Err(unsupported(format!("Unsupported or invalid query filter clause specified for property '{prop}' of resource 'User'."))),
                }
            }
            None => (0..d.users.len()).collect(),
        };
        let (items, next) = page(&chosen, |u| !d.users[u].deleted, q, 100);
        // Written straight from the tenant: no JSON tree per user.
        let next = next.map(|n| next_link(base, path, query, n));
        Ok(Reply::raw(
            200,
            page_bytes(
                &format!("{base}/$metadata#users"),
                next,
                items.len(),
                |i, out| d.write_user(items[i], &q.select, out),
            ),
        ))
    }

    fn list_groups(&self, q: &Query, path: &str, query: &str) -> Result<Reply, Refused> {
        let base = &self.base_url;
        let d = &self.dir;
        let chosen: Vec<usize> = match &q.filter {
            Some(f) => {
                let (prop, values) = filter(f)?;
                (0..d.groups.len())
                    .filter(|&g| d.is_live_group(g))
                    .filter(|&g| {
                        let group = &d.groups[g];
                        values.iter().any(|v| match prop.as_str() {
                            "id" => Guid::parse(v) == Some(group.id),
                            "mailNickname" => group
                                .nickname
                                .as_deref()
                                .is_some_and(|n| n.eq_ignore_ascii_case(v)),
                            "displayName" => group.name == *v,
                            _ => false,
                        })
                    })
                    .collect()
            }
            None => (0..d.groups.len())
                .filter(|&g| d.is_live_group(g))
                .collect(),
        };
        let (items, next) = page(&chosen, |_| true, q, 100);
        let mut v = json!({
            "@odata.context": format!("{base}/$metadata#groups"),
            "value": items.iter().map(|&g| d.group_json(g, &q.select)).collect::<Vec<_>>()});
        if let Some(n) = next {
            v["@odata.nextLink"] = next_link(base, path, query, n).into();
        }
        Ok(Reply::json(200, v))
    }

    /// An assignLicense body as SKU indexes and disabled plan sets.
    fn licenses(&self, body: &[u8]) -> Result<(Vec<(SkuIdx, PlanSet)>, Vec<SkuIdx>), Refused> {
        let v = body_json(body)?;
        if v.get("addLicenses").is_none() || v.get("removeLicenses").is_none() {
            return Err(bad_request(
                "Invalid value specified for property 'removeLicenses' of resource 'User'.".into(),
            ));
        }
        let b: wire::AssignLicense = serde_json::from_value(v)
            .map_err(|e| bad_request(format!("Invalid request body: {e}")))?;
        let sku = |id: &str| -> Result<SkuIdx, Refused> {
            let g = Guid::parse(id).ok_or_else(|| bad_request("Cannot convert a primitive value to the expected type 'Edm.Guid'. See the inner exception for more details.".into()))?;
            self.dir.sku_by_id.get(&g).copied().ok_or_else(|| {
                bad_request(format!(
                    "License {id} does not correspond to a valid company License."
                ))
            })
        };
        let mut add = Vec::new();
        for l in &b.add_licenses {
            let s = sku(&l.sku_id)?;
            let mut disabled = PlanSet::new();
            for p in &l.disabled_plans {
                let plan = Guid::parse(p)
                    .and_then(|g| self.dir.plan_by_id.get(&g).copied())
                    .filter(|p| {
                        self.dir.skus[s.ix()].plans.contains(*p)
                            || self.dir.skus[s.ix()].company_plans.contains(*p)
                    })
                    .ok_or_else(|| {
                        bad_request(format!(
                            "Service plan {p} is not part of license {}.",
                            l.sku_id
                        ))
                    })?;
                disabled.insert(plan);
            }
            add.push((s, disabled));
        }
        let remove = b
            .remove_licenses
            .iter()
            .map(|r| sku(r))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((add, remove))
    }

    /// `https://graph.microsoft.com/v1.0/directoryObjects/{id}` references: all found and none a
    /// member already, or nothing is added.
    fn member_refs(&self, g: usize, refs: &[Value]) -> Result<Vec<usize>, Refused> {
        if refs.len() > 20 {
            return Err(bad_request(
                "The request contains more than 20 member references.".into(),
            ));
        }
        let mut users = Vec::new();
        for r in refs {
            let s = r.as_str().unwrap_or("");
            let id = s.rsplit('/').next().unwrap_or("");
            let u = self.dir.user(id).ok_or_else(|| not_found(id))?;
            if self.dir.users[u].groups.contains(&g) || users.contains(&u) {
                return Err(bad_request("One or more added object references already exist for the following modified properties: 'members'.".into()));
            }
            users.push(u);
        }
        Ok(users)
    }

    fn create_group(&mut self, body: &[u8], request: &str) -> Result<Reply, Refused> {
        let v = body_json(body)?;
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let flag = |k: &str| v.get(k).and_then(Value::as_bool);
        let (Some(name), Some(nick), Some(mail), Some(security)) = (
            text("displayName"),
            text("mailNickname"),
            flag("mailEnabled"),
            flag("securityEnabled"),
        ) else {
            return Err(bad_request("A value is required for property 'displayName', 'mailEnabled', 'mailNickname' and 'securityEnabled' of resource 'Group'.".into()));
        };
        if name.chars().count() > 256 {
            return Err(bad_request(
                "Invalid value specified for property 'displayName' of resource 'Group'.".into(),
            ));
        }
        if nick.is_empty()
            || nick.len() > 64
            || !nick
                .chars()
                .all(|c| c.is_ascii() && !c.is_ascii_control() && !"@()\\[]\";:<>, ".contains(c))
        {
            return Err(bad_request(
                "Invalid value specified for property 'mailNickname' of resource 'Group'.".into(),
            ));
        }
        let refs = v
            .get("members@odata.bind")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let id = Guid::parse(&crate::graph::new_uuid()).unwrap_or_default();
        let g = self.dir.groups.len();
        self.dir.groups.push(super::directory::GroupRec {
            id,
            name,
            nickname: Some(nick),
            security_enabled: Some(security),
            mail_enabled: mail,
            licenses: Vec::new(),
            members: Vec::new(),
            nested: Vec::new(),
            processing: super::directory::COMPLETE,
            due: None,
            left: Vec::new(),
            cause: String::new(),
        });
        self.dir.group_by_id.insert(id, g);
        match self.member_refs(g, &refs) {
            Ok(users) => {
                for u in users {
                    self.dir
                        .add_member(g, u, self.options.processing_delay, request);
                }
            }
            Err(e) => {
                self.dir.groups.pop();
                self.dir.group_by_id.remove(&id);
                return Err(e);
            }
        }
        Ok(Reply::json(201, self.dir.group_json(g, &None)))
    }

    fn batch(&mut self, body: &[u8], rid: &str, cid: &str) -> Reply {
        let bad = |m: &str| {
            let mut r = Reply::json(400, error("BadRequest", m, rid, cid));
            r.headers.push(("request-id".into(), rid.to_string()));
            r
        };
        let Ok(batch) = serde_json::from_slice::<wire::Batch<wire::BatchRequest>>(body) else {
            return bad("Invalid batch payload format.");
        };
        if batch.requests.is_empty() {
            return bad("Invalid batch payload format.");
        }
        if batch.requests.len() > wire::MAX_BATCH {
            return bad("The number of requests in a batch exceeds the limit of 20.");
        }
        let mut ids: Vec<&str> = batch.requests.iter().map(|r| r.id.as_str()).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            return bad("Batch request contains duplicate request ids.");
        }
        let mut responses = Vec::new();
        for r in &batch.requests {
            let url = r.url.trim_start_matches("/v1.0");
            let url = if url.starts_with('/') {
                url.to_string()
            } else {
                format!("/{url}")
            };
            let (path, query) = url.split_once('?').unwrap_or((&url, ""));
            let body = r.body.as_ref().map(|b| b.to_string()).unwrap_or_default();
            let inner_cid = r
                .headers
                .as_ref()
                .and_then(|h| h.get("client-request-id").cloned())
                .unwrap_or_default();
            let reply = self.call(
                &r.method.to_ascii_uppercase(),
                path,
                query,
                body.as_bytes(),
                &inner_cid,
            );
            responses.push(wire::BatchResponse {
                id: r.id.clone(),
                status: reply.status,
                headers: reply.headers.into_iter().collect(),
                body: reply.body.and_then(|b| serde_json::from_slice(&b).ok()),
            });
        }
        let mut r = Reply::json(
            200,
            serde_json::to_value(wire::BatchResponses { responses }).unwrap_or_default(),
        );
        r.headers.push(("request-id".into(), rid.to_string()));
        r.headers
            .push(("client-request-id".into(), cid.to_string()));
        r
    }
}

/// A collection page, each of its `n` records written by `record`.
fn page_bytes(
    context: &str,
    next: Option<String>,
    n: usize,
    mut record: impl FnMut(usize, &mut Vec<u8>),
) -> Vec<u8> {
    let mut out = Vec::with_capacity(n * 600 + 200);
    out.extend_from_slice(b"{\"@odata.context\":");
    let _ = serde_json::to_writer(&mut out, context);
    if let Some(n) = next {
        out.extend_from_slice(b",\"@odata.nextLink\":");
        let _ = serde_json::to_writer(&mut out, &n);
    }
    out.extend_from_slice(b",\"value\":[");
    for i in 0..n {
        if i > 0 {
            out.push(b',');
        }
        record(i, &mut out);
    }
    out.extend_from_slice(b"]}");
    out
}

/// The user a `/users/{id}/…` request is about.
fn user_target(path: &str) -> Option<&str> {
    let mut parts = path.trim_matches('/').split('/');
    (parts.next() == Some("users"))
        .then(|| parts.next())
        .flatten()
}
