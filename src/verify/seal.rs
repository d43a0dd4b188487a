//! The plan folder against its seal (plan.json v2): each file changed, missing or not part of
//! the plan is a violation, so the folder an operator runs is the folder that was signed. A
//! waves.csv named as PLAN is a reviewer's edit and is checked row by row instead.

use super::Violation;
use crate::ingest::folder::{file_digest, folder_files, regular_file, SealedFile};
use std::path::Path;

fn changed(path: &str, detail: String) -> Violation {
    Violation {
        kind: "FOLDER_CHANGED",
        wave: None,
        user_id: String::new(),
        user: String::new(),
        sku: String::new(),
        plans: Vec::new(),
        detail: format!("{path}: {detail}"),
    }
}

pub(crate) fn check_folder(
    folder: &Path,
    sealed: &[SealedFile],
    waves_named: bool,
) -> Vec<Violation> {
    use rayon::prelude::*;
    let skip = |p: &str| waves_named && p == "waves.csv";
    let mut v: Vec<Violation> = sealed
        .par_iter()
        .filter(|f| !skip(&f.path))
        .filter_map(|f| {
            let path = folder.join(&f.path);
            // Only a regular file of the sealed size is read: a FIFO, a link to /dev/zero or
            // a file grown to gigabytes is named without being read.
            match regular_file(&path, f.bytes) {
                Err(why) if why == "is missing" => {
                    return Some(changed(&f.path, "is missing (it is part of the plan)".into()))
                }
                Err(why) => return Some(changed(&f.path, why)),
                Ok(_) => {}
            }
            match file_digest(&path) {
            Err(e) => Some(changed(&f.path, format!("is unreadable: {e}"))),
            Ok((sha, bytes)) if sha != f.sha256 || bytes != f.bytes => Some(changed(
                &f.path,
                format!(
                    "changed since the plan was written: SHA-256 {}… ({bytes} bytes), sealed {}… ({} bytes)",
                    &sha[..12],
                    &f.sha256[..12.min(f.sha256.len())],
                    f.bytes
                ),
            )),
            Ok(_) => None,
        }})
        .collect();
    match folder_files(folder) {
        Ok(now) => {
            for p in now.iter().filter(|p| !skip(p)) {
                if !sealed.iter().any(|f| &f.path == p) {
                    v.push(changed(
                        p,
                        "is not part of the plan (added after it was written)".into(),
                    ));
                }
            }
        }
        Err(e) => v.push(changed(".", format!("cannot list the folder: {e}"))),
    }
    v.sort_by(|a, b| a.detail.cmp(&b.detail));
    v
}
