//! A plan folder's files and their digests: what plan.json seals and what `verify` checks the
//! folder against. `run/` is the scripts' own (their logs and the ids prepare records), and
//! plan.json holds the seal itself: neither is sealed.

use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// One sealed file: its path inside the folder (`/`-separated), SHA-256 and size.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SealedFile {
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

/// Every file of the folder that is sealed, by path, sorted.
pub fn folder_files(dir: &Path) -> std::io::Result<Vec<String>> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) -> std::io::Result<()> {
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            let rel = format!("{prefix}{name}");
            if e.file_type()?.is_dir() {
                if rel != "run" {
                    walk(&e.path(), &format!("{rel}/"), out)?;
                }
            } else if rel != "plan.json" {
                out.push(rel);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, "", &mut out)?;
    out.sort();
    Ok(out)
}

/// A path a seal may name: relative, `/`-separated, inside the folder — no `..`, no root, no
/// drive, no backslash, nothing empty.
pub fn is_sealable_path(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && !p.contains('\\')
        && !p.contains(':')
        && !p.contains('\0')
        && p.split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

/// Checks that `path` is a regular file (not a link, FIFO, socket or device) of at most `cap`
/// bytes, before anything opens it: a FIFO or /dev/zero would hang a reader.
pub fn regular_file(path: &Path, cap: u64) -> Result<std::fs::Metadata, String> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "is missing".to_string(),
        _ => format!("is unreadable: {e}"),
    })?;
    if meta.file_type().is_symlink() {
        return Err("is a symbolic link, not a file (never followed)".into());
    }
    if !meta.is_file() {
        return Err("is not a regular file (a folder, FIFO, socket or device: never read)".into());
    }
    if meta.len() > cap {
        return Err(format!(
            "is {} bytes, more than the {cap} licshift reads",
            meta.len()
        ));
    }
    Ok(meta)
}

/// SHA-256 (hex) and size of one file, read in 1 MiB pieces.
pub fn file_digest(path: &Path) -> std::io::Result<(String, u64)> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    let hex = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((hex, bytes))
}

/// The seal of a folder: every sealed file with its digest, hashed side by side.
pub fn seal(dir: &Path) -> std::io::Result<Vec<SealedFile>> {
    folder_files(dir)?
        .into_par_iter()
        .map(|path| {
            let (sha256, bytes) = file_digest(&dir.join(&path))?;
            Ok(SealedFile {
                path,
                sha256,
                bytes,
            })
        })
        .collect()
}
