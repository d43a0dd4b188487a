//! The sandbox's tenant as it stands, written as a snapshot folder in the Graph JSON form
//! `licshift snapshot` saves — the pages its own endpoints would serve — so `verify --after`
//! and `plan` read the end of a rehearsal as they read a real export.

use super::Sandbox;
use crate::graph::wire;
use serde_json::{json, Value};
use std::io::{BufWriter, Write};
use std::path::Path;

fn pages(path: &Path, context: &str, items: impl Iterator<Item = Value>) -> std::io::Result<()> {
    let items: Vec<String> = items.map(|v| v.to_string()).collect();
    wire::write_pages(path, Some(context), &items)
}

impl Sandbox {
    /// Writes the five Graph JSON files into `dir`, which must exist.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        let d = &self.dir;
        let ctx = |what: &str| format!("{}/$metadata#{what}", self.base_url);
        let select = |s: &str| Some(s.split(',').map(str::to_string).collect::<Vec<_>>());
        pages(
            &dir.join("organization.json"),
            &ctx("organization"),
            std::iter::once(serde_json::to_value(d.organization_wire()).unwrap_or_default()),
        )?;
        pages(
            &dir.join("subscribedSkus.json"),
            &ctx("subscribedSkus"),
            d.skus_wire()
                .into_iter()
                .map(|s| serde_json::to_value(s).unwrap_or_default()),
        )?;
        let groups = select(wire::GROUP_SELECT);
        pages(
            &dir.join("groups.json"),
            &ctx("groups"),
            (0..d.groups.len())
                .filter(|&g| d.is_live_group(g))
                .map(|g| d.group_json(g, &groups)),
        )?;
        let users = select(wire::USER_SELECT);
        pages(
            &dir.join("users.json"),
            &ctx("users"),
            (0..d.users.len())
                .filter(|&u| !d.users[u].deleted)
                .map(|u| d.user_json(u, &users)),
        )?;
        let mut w = BufWriter::new(std::fs::File::create(dir.join("members.json"))?);
        let members = select(wire::MEMBER_SELECT);
        for g in (0..d.groups.len()).filter(|&g| d.is_live_group(g)) {
            let id = d.groups[g].id.to_string();
            for mut m in d.member_json(g, &members, 0..d.member_count(g)) {
                m["groupId"] = json!(id);
                serde_json::to_writer(&mut w, &m)?;
                w.write_all(b"\n")?;
            }
        }
        w.flush()
    }
}
