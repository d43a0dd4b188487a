//! A partial snapshot read back live after a stage: the users it concerns (Graph JSON, as
//! `snapshot` saves them), every group, the SKUs and the organization — what `verify --after`
//! needs instead of a full export between waves. `read-back.json` marks it partial, so verify
//! compares only the users it holds and no memberships.

use super::live::{IN_FLIGHT, USERS_PER_READ};
use super::Run;
use crate::error::{Error, Result};
use crate::graph::wire;
use crate::model::Guid;
use futures_util::StreamExt;
use serde_json::value::RawValue;
use std::path::Path;

/// The marker file of a partial snapshot.
pub const MARKER: &str = "read-back.json";

fn pages_of(r: &Run, first: &str) -> Result<Vec<String>> {
    r.block(pages(r.client, first.to_string()))
}

/// Every item of a listing, following its nextLink, as Graph sent them.
async fn pages(client: &crate::graph::Client, first: String) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut next = Some(first);
    while let Some(url) = next {
        let resp = client.get(&url).await?;
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
    // 15 users to a read, IN_FLIGHT reads out at once (a wave's read-back covers every user
    // of the waves so far: one at a time, Graph's latency would set its length), kept in order.
    let reads = users.chunks(USERS_PER_READ).map(|chunk| {
        let list: Vec<String> = chunk.iter().map(|g| format!("'{g}'")).collect();
        pages(
            r.client,
            format!(
                "/users?$filter=id in ({})&$select={}&$top={USERS_PER_READ}",
                list.join(","),
                wire::USER_SELECT
            ),
        )
    });
    let read: Vec<Result<Vec<String>>> = r.block(
        futures_util::stream::iter(reads)
            .buffered(IN_FLIGHT)
            .collect(),
    );
    let mut user_items = Vec::with_capacity(users.len());
    for items in read {
        user_items.extend(items?);
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
