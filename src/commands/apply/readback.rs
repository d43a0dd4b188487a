//! A partial snapshot read back live after a stage: the users it concerns (Graph JSON, as
//! `snapshot` saves them), every group, the SKUs and the organization — what `verify --after`
//! needs instead of a full export between waves. `read-back.json` marks it partial, so verify
//! compares only the users it holds and no memberships.

use super::live::USERS_PER_READ;
use super::Run;
use crate::error::{Error, Result};
use crate::graph::wire;
use crate::model::Guid;
use serde_json::value::RawValue;
use std::path::Path;

/// The marker file of a partial snapshot.
pub const MARKER: &str = "read-back.json";

fn pages_of(r: &Run, first: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut next = Some(first.to_string());
    while let Some(url) = next {
        let resp = r.block(r.client.get(&url))?;
        next = crate::graph::Client::next_link(&url, &resp.body)?;
        let page: wire::Page<Box<RawValue>> = serde_json::from_slice(&resp.body).map_err(|e| {
            Error::from(crate::graph::GraphError::Answer {
                url: url.clone(),
                why: e.to_string(),
            })
        })?;
        out.extend(page.value.into_iter().map(|v| v.get().to_string()));
    }
    Ok(out)
}

pub fn write(r: &Run, users: &[Guid], dir: &Path) -> Result<()> {
    let mut user_items = Vec::with_capacity(users.len());
    for chunk in users.chunks(USERS_PER_READ) {
        let list: Vec<String> = chunk.iter().map(|g| format!("'{g}'")).collect();
        user_items.extend(pages_of(
            r,
            &format!(
                "/users?$filter=id in ({})&$select={}&$top={USERS_PER_READ}",
                list.join(","),
                wire::USER_SELECT
            ),
        )?);
    }
    let groups = pages_of(
        r,
        &format!("/groups?$select={}&$top=999", wire::GROUP_SELECT),
    )?;
    let skus = pages_of(r, "/subscribedSkus")?;
    let org = pages_of(
        r,
        &format!("/organization?$select={}", wire::ORGANIZATION_SELECT),
    )?;
    let tmp = dir.with_extension("writing");
    let _ = std::fs::remove_dir_all(&tmp);
    let written = (|| {
        std::fs::create_dir_all(&tmp)?;
        wire::write_pages(&tmp.join("users.json"), None, &user_items)?;
        wire::write_pages(&tmp.join("groups.json"), None, &groups)?;
        wire::write_pages(&tmp.join("subscribedSkus.json"), None, &skus)?;
        wire::write_pages(&tmp.join("organization.json"), None, &org)?;
        wire::write_pages(&tmp.join("members.json"), None, &[])?;
        std::fs::write(
            tmp.join(MARKER),
            serde_json::json!({"readBack": true, "users": users.len(), "at": crate::clock::utc_now()}).to_string(),
        )?;
        let _ = std::fs::remove_dir_all(dir);
        std::fs::rename(&tmp, dir)
    })();
    written.map_err(Error::io(format!("writing {}", dir.display())))
}
