//! The output folder appears whole or not at all: everything is written into a hidden sibling
//! folder and renamed into place. Nothing is ever written inside the snapshot.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Refuses an --out that would overwrite work or write into the snapshot, before any work.
pub fn check_target(out: &Path, snapshot: &Path, force: bool) -> Result<()> {
    let abs = |p: &Path| -> PathBuf {
        let p = if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir().unwrap_or_default().join(p)
        };
        // Canonicalise the deepest part that exists, so `..` and links cannot hide the snapshot.
        let mut existing = p.clone();
        let mut rest = Vec::new();
        while !existing.exists() {
            match (
                existing.file_name().map(|n| n.to_os_string()),
                existing.parent(),
            ) {
                (Some(n), Some(parent)) => {
                    rest.push(n);
                    existing = parent.to_path_buf();
                }
                _ => break,
            }
        }
        let mut c = existing.canonicalize().unwrap_or(existing);
        for n in rest.into_iter().rev() {
            c.push(n);
        }
        c
    };
    let snap = abs(snapshot);
    let snap_dir = if snap.is_file() {
        snap.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        snap
    };
    let target = abs(out);
    if target.starts_with(&snap_dir) || snap_dir.starts_with(&target) {
        return Err(Error::Usage(
            format!(
                "--out {} is inside the snapshot folder (or holds it)",
                out.display()
            ),
            Some("licshift never writes into a snapshot: choose a folder outside it".into()),
        ));
    }
    check_out_dir(out, force)
}

/// Refuses an --out that is a file, or a non-empty folder without --force.
pub fn check_out_dir(out: &Path, force: bool) -> Result<()> {
    if out.is_file() {
        return Err(Error::Usage(
            format!("--out {} is a file", out.display()),
            None,
        ));
    }
    let non_empty = std::fs::read_dir(out)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if non_empty && !force {
        return Err(Error::Usage(
            format!("--out {} exists and is not empty", out.display()),
            Some("pass --force to replace it, or choose another folder".into()),
        ));
    }
    Ok(())
}

/// Runs `fill` on a hidden sibling folder of `out`, then renames it into place: `out` appears
/// whole or not at all, even if the process is killed mid-write.
pub fn atomic_dir<T>(
    out: &Path,
    force: bool,
    fill: impl FnOnce(&Path) -> std::io::Result<T>,
) -> Result<T> {
    let context = format!("writing {}", out.display());
    atomic_dir_or_nothing(out, force, |tmp| fill(tmp).map_err(Error::io(context)))
}

/// `atomic_dir` for a `fill` that may refuse for a reason of its own (an invariant the replay
/// finds broken while the files are being written): nothing is renamed into place then, and
/// the hidden folder goes.
pub fn atomic_dir_or_nothing<T>(
    out: &Path,
    force: bool,
    fill: impl FnOnce(&Path) -> Result<T>,
) -> Result<T> {
    let name = out
        .file_name()
        .ok_or_else(|| Error::usage(format!("--out {} names no folder", out.display())))?
        .to_string_lossy()
        .into_owned();
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    std::fs::create_dir_all(&parent)
        .map_err(Error::io(format!("creating {}", parent.display())))?;
    let pid = std::process::id();
    // A run killed mid-write leaves its hidden folder behind, and one killed while renaming
    // leaves the plan it was replacing: clear those of processes that are gone.
    if let Ok(entries) = std::fs::read_dir(&parent) {
        for e in entries.flatten() {
            let file = e.file_name().to_string_lossy().into_owned();
            let left = ["tmp", "old"].iter().find_map(|kind| {
                file.strip_prefix(&format!(".{name}.licshift-{kind}-"))?
                    .parse::<u32>()
                    .ok()
            });
            if let Some(owner) = left {
                if owner == pid || !process_alive(owner) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    }
    let tmp = parent.join(format!(".{name}.licshift-tmp-{pid}"));
    let _ = std::fs::remove_dir_all(&tmp);
    let result = std::fs::create_dir(&tmp)
        .map_err(Error::io(format!("writing {}", out.display())))
        .and_then(|_| fill(&tmp))
        .and_then(|v| {
            // Durable before it is renamed into place, so a crash never publishes a folder
            // whose files are not all on disk.
            crate::report::disk::settle(&tmp)
                .map_err(Error::io(format!("syncing {}", out.display())))?;
            Ok(v)
        });
    let value = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    if out.exists() {
        let non_empty = std::fs::read_dir(out)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false);
        if non_empty && !force {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(Error::Usage(
                format!("--out {} exists and is not empty", out.display()),
                Some("pass --force to replace it".into()),
            ));
        }
        let old = parent.join(format!(".{name}.licshift-old-{pid}"));
        std::fs::rename(out, &old)
            .map_err(Error::io(format!("moving the old {} aside", out.display())))?;
        if let Err(e) = std::fs::rename(&tmp, out) {
            let _ = std::fs::rename(&old, out);
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(Error::Io {
                context: format!("renaming into {}", out.display()),
                source: e,
            });
        }
        let _ = std::fs::remove_dir_all(&old);
    } else {
        std::fs::rename(&tmp, out)
            .map_err(Error::io(format!("renaming into {}", out.display())))?;
    }
    Ok(value)
}

/// Whether a process with this id runs now. Where that cannot be asked, no: a folder left
/// behind is cleared, as it was before this was asked.
fn process_alive(pid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        Path::new("/proc").join(pid.to_string()).exists()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        false
    }
}
