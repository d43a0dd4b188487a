//! `licshift snapshot`: the tenant read through Graph into the files `export-script` saves
//! (SPEC §2, Graph JSON): organization.json, subscribedSkus.json, groups.json, users.json (one
//! Graph page per line, as Graph sent it) and members.json (JSON Lines, each member with the
//! `groupId` it was listed under), plus README.txt. Read-only: GET requests only. One page is
//! held at a time, whatever the tenant's size.

use super::wire::{self, MAX_PAGE};
use super::{Client, GraphError};
use std::io::{BufWriter, Write};
use std::path::Path;

/// What a snapshot read, for the summary line and the tests.
#[derive(Debug, Default, Clone)]
pub struct Saved {
    pub tenant: String,
    pub pages: u64,
    pub skus: u64,
    pub users: u64,
    pub groups: u64,
    pub members: u64,
    /// Groups whose members were saved.
    pub member_groups: u64,
    /// `--groups` names that matched no group.
    pub unmatched: Vec<String>,
}

/// Progress as it happens: the file being read and the running counts.
pub trait Progress: Sync {
    fn page(&self, file: &str, saved: &Saved);
}

impl<F: Fn(&str, &Saved) + Sync> Progress for F {
    fn page(&self, file: &str, saved: &Saved) {
        self(file, saved)
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> GraphError + '_ {
    move |e| GraphError::Answer {
        url: path.display().to_string(),
        why: format!("writing: {e}"),
    }
}

/// A page as one line: Graph's JSON has no raw line break inside a string, so dropping CR and LF
/// bytes only removes whitespace between tokens.
fn one_line(body: &[u8]) -> Vec<u8> {
    body.iter()
        .copied()
        .filter(|&b| b != b'\n' && b != b'\r')
        .collect()
}

/// Reads every page of `path`, handing each to `page` (its bytes), until no nextLink is left.
async fn each_page(
    client: &Client,
    path: &str,
    mut page: impl FnMut(&[u8]) -> Result<(), GraphError>,
    saved: &mut Saved,
    file: &str,
    progress: &dyn Progress,
) -> Result<(), GraphError> {
    let mut next = Some(path.to_string());
    while let Some(url) = next {
        let r = client.get(&url).await?;
        next = Client::next_link(&url, &r.body)?;
        page(&r.body)?;
        saved.pages += 1;
        progress.page(file, saved);
    }
    Ok(())
}

/// Saves every page of `url` into `dir/file`, a page per line as Graph sent it, showing each
/// page's records (read as `T`) to `see`; returns how many records there were.
async fn save_pages<T: serde::de::DeserializeOwned>(
    client: &Client,
    dir: &Path,
    file: &str,
    url: &str,
    saved: &mut Saved,
    progress: &dyn Progress,
    mut see: impl FnMut(&[T]),
) -> Result<u64, GraphError> {
    let path = dir.join(file);
    let mut w = BufWriter::new(std::fs::File::create(&path).map_err(io(&path))?);
    let mut count = 0u64;
    each_page(
        client,
        url,
        |b| {
            let page: wire::Page<T> = serde_json::from_slice(b).map_err(|e| bad(url, e))?;
            count += page.value.len() as u64;
            see(&page.value);
            w.write_all(&one_line(b))
                .and_then(|_| w.write_all(b"\n"))
                .map_err(io(&path))
        },
        saved,
        file,
        progress,
    )
    .await?;
    w.flush().map_err(io(&path))?;
    Ok(count)
}

/// The organization's id: the tenant the token reads.
pub async fn tenant_id(client: &Client) -> Result<String, GraphError> {
    let page: wire::Page<wire::Organization> = client
        .get_json(&format!(
            "/organization?$select={}",
            wire::ORGANIZATION_SELECT
        ))
        .await?;
    page.value
        .first()
        .map(|o| o.id.to_ascii_lowercase())
        .ok_or_else(|| GraphError::Answer {
            url: "/organization".into(),
            why: "no organization in the answer".into(),
        })
}

/// Writes the snapshot's files into `dir` (a new, empty folder). `groups`: ids or display names
/// of groups whose members to save besides every group that assigns licenses.
pub async fn save(
    client: &Client,
    dir: &Path,
    groups: &[String],
    progress: &dyn Progress,
) -> Result<Saved, GraphError> {
    let mut saved = Saved::default();
    let started = std::time::SystemTime::now();

    let mut tenant = None;
    save_pages::<wire::Organization>(
        client,
        dir,
        "organization.json",
        &format!("/organization?$select={}", wire::ORGANIZATION_SELECT),
        &mut saved,
        progress,
        |orgs| {
            if let Some(o) = orgs.first() {
                tenant.get_or_insert_with(|| o.id.to_ascii_lowercase());
            }
        },
    )
    .await?;
    saved.tenant = tenant.ok_or_else(|| GraphError::Answer {
        url: "/organization".into(),
        why: "no organization in the answer".into(),
    })?;

    saved.skus = save_pages::<serde::de::IgnoredAny>(
        client,
        dir,
        "subscribedSkus.json",
        "/subscribedSkus",
        &mut saved,
        progress,
        |_| {},
    )
    .await?;

    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct GroupRef {
        id: String,
        display_name: Option<String>,
        #[serde(default)]
        assigned_licenses: Vec<serde::de::IgnoredAny>,
    }
    let mut wanted: Vec<String> = Vec::new();
    let mut matched = vec![false; groups.len()];
    saved.groups = save_pages::<GroupRef>(
        client,
        dir,
        "groups.json",
        &format!("/groups?$select={}&$top={MAX_PAGE}", wire::GROUP_SELECT),
        &mut saved,
        progress,
        |page| {
            for g in page {
                let mut named = false;
                for (i, n) in groups.iter().enumerate() {
                    if n.eq_ignore_ascii_case(&g.id) || g.display_name.as_deref() == Some(n) {
                        matched[i] = true;
                        named = true;
                    }
                }
                if (named || !g.assigned_licenses.is_empty()) && !wanted.contains(&g.id) {
                    wanted.push(g.id.clone());
                }
            }
        },
    )
    .await?;
    saved.unmatched = groups
        .iter()
        .zip(&matched)
        .filter(|(_, m)| !**m)
        .map(|(n, _)| n.clone())
        .collect();

    saved.users = save_pages::<serde::de::IgnoredAny>(
        client,
        dir,
        "users.json",
        &format!("/users?$select={}&$top={MAX_PAGE}", wire::USER_SELECT),
        &mut saved,
        progress,
        |_| {},
    )
    .await?;

    let members_path = dir.join("members.json");
    let mut mw = BufWriter::new(std::fs::File::create(&members_path).map_err(io(&members_path))?);
    let mut member_count = 0u64;
    // Groups nested in a saved group are saved too: nested groups pass no licenses on, and
    // the plan says so of their members by name.
    let mut i = 0;
    while i < wanted.len() {
        let id = wanted[i].clone();
        i += 1;
        let mut nested: Vec<String> = Vec::new();
        let path = format!(
            "/groups/{id}/members?$select={}&$top={MAX_PAGE}",
            wire::MEMBER_SELECT
        );
        each_page(
            client,
            &path,
            |b| {
                #[derive(serde::Deserialize)]
                struct Kind<'a> {
                    #[serde(rename = "@odata.type", borrow)]
                    kind: Option<&'a str>,
                    #[serde(borrow)]
                    id: Option<&'a str>,
                }
                let page: wire::Page<&serde_json::value::RawValue> =
                    serde_json::from_slice(b).map_err(|e| bad(&path, e))?;
                let group_id = serde_json::to_string(&id).unwrap_or_default();
                for m in page.value {
                    let text = m.get().trim();
                    let k: Kind = serde_json::from_str(text).map_err(|e| bad(&path, e))?;
                    if k.kind == Some("#microsoft.graph.group") {
                        if let Some(child) = k.id {
                            nested.push(child.to_string());
                        }
                    }
                    // The member as Graph sent it, with the group it was listed under.
                    let open = text.strip_suffix('}').unwrap_or(text).trim_end();
                    let sep = if open.ends_with('{') { "" } else { "," };
                    writeln!(mw, "{open}{sep}\"groupId\":{group_id}}}")
                        .map_err(io(&members_path))?;
                    member_count += 1;
                }
                Ok(())
            },
            &mut saved,
            "members.json",
            progress,
        )
        .await?;
        for n in nested {
            if !wanted.contains(&n) {
                wanted.push(n);
            }
        }
    }
    mw.flush().map_err(io(&members_path))?;
    saved.members = member_count;
    saved.member_groups = wanted.len() as u64;

    let finished = std::time::SystemTime::now();
    let readme = format!(
        "licshift snapshot (Microsoft Graph JSON), saved by licshift {} snapshot.\r\n\
         Tenant:   {}\r\nAccount:  {}\r\nStarted:  {}\r\nFinished: {}\r\n\
         Groups whose members were saved: {}\r\n\
         Files: subscribedSkus.json, users.json, groups.json, members.json, organization.json.\r\n\
         Next: licshift inspect this folder; add templates.csv with the proposed template lines; licshift plan.\r\n",
        env!("CARGO_PKG_VERSION"),
        saved.tenant,
        client.token().claims.account(),
        crate::clock::utc_at(started),
        crate::clock::utc_at(finished),
        saved.member_groups
    );
    let readme_path = dir.join("README.txt");
    std::fs::write(&readme_path, readme).map_err(io(&readme_path))?;
    Ok(saved)
}

fn bad(url: &str, e: serde_json::Error) -> GraphError {
    GraphError::Answer {
        url: url.into(),
        why: format!("the page is not the Graph JSON expected: {e}"),
    }
}
