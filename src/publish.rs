//! What licshift writes, and where it may not. One rule for every command that writes
//! (SPEC §5): an output is never one of the command's inputs, never inside one and never holds
//! one, whatever `--force` says; `--force` replaces only a folder licshift wrote (or an empty
//! one), never a file, link, FIFO, socket or device. Folders appear whole or not at all: they
//! are written into a hidden sibling and renamed into place. Single files (`verify --report`,
//! `--pending`, `export-script --out`) are written beside their target and renamed too.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Files that mark a folder as one licshift wrote: a plan, a suggestion, retry scripts, a
/// generated snapshot.
pub const MARKERS: &[&str] = &[
    "plan.json",
    "suggest.md",
    "scripts.json",
    "licshift-generate.json",
];

/// Everything a command reads, as absolute paths with links resolved: no output may touch
/// one of them.
#[derive(Debug, Default, Clone)]
pub struct Inputs {
    /// (resolved path, the path as given — what a message shows — and what it is).
    paths: Vec<(PathBuf, String, &'static str)>,
}

impl Inputs {
    pub fn new() -> Inputs {
        Inputs::default()
    }

    /// `what` names the input in the refusal ("the snapshot", "the plan folder").
    pub fn add(&mut self, path: &Path, what: &'static str) -> &mut Inputs {
        self.paths
            .push((absolute(path), path.display().to_string(), what));
        self
    }

    /// The snapshot and every per-file override (`--users PATH[#Sheet]`, `--rules`, …).
    pub fn add_snapshot(&mut self, spec: &crate::ingest::SnapshotSpec) -> &mut Inputs {
        self.add(&spec.root, "the snapshot");
        for (_, given) in &spec.overrides {
            let path = given.split_once('#').map_or(given.as_str(), |(p, _)| p);
            self.add(Path::new(path), "an input file");
        }
        self
    }

    /// The input `out` would replace, write into or hold, if any.
    fn touched_by(&self, out: &Path) -> Option<&(PathBuf, String, &'static str)> {
        let target = absolute(out);
        self.paths
            .iter()
            .find(|(p, _, _)| target.starts_with(p) || p.starts_with(&target))
    }
}

/// An absolute path with `..` and links resolved as far as the path exists, so neither can
/// hide an input.
fn absolute(p: &Path) -> PathBuf {
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    let mut existing = p.clone();
    let mut rest = Vec::new();
    while std::fs::symlink_metadata(&existing).is_err() {
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
}

fn refuse_input(flag: &str, out: &Path, inputs: &Inputs) -> Result<()> {
    match inputs.touched_by(out) {
        Some((_, given, what)) => Err(Error::Usage(
            format!(
                "{flag} {} would write into or replace {what} ({given})",
                out.display(),
            ),
            Some(
                "licshift never writes into, or replaces, one of its inputs: choose a path outside them"
                    .into(),
            ),
        )),
        None => Ok(()),
    }
}

/// What stands at a path, in words, when it is not a folder or a regular file.
fn odd_kind(meta: &std::fs::Metadata) -> Option<&'static str> {
    let ft = meta.file_type();
    if ft.is_symlink() {
        return Some("a symbolic link");
    }
    if ft.is_dir() || ft.is_file() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return Some("a FIFO");
        }
        if ft.is_socket() {
            return Some("a socket");
        }
        if ft.is_block_device() || ft.is_char_device() {
            return Some("a device");
        }
    }
    Some("not a regular file or folder")
}

/// Refuses an --out folder that is or touches an input, is anything but a folder, or is a
/// non-empty folder that licshift did not write (or that --force was not given for). Called
/// before any work, and again just before the rename.
pub fn check_target(out: &Path, inputs: &Inputs, force: bool) -> Result<()> {
    refuse_input("--out", out, inputs)?;
    let meta = match std::fs::symlink_metadata(out) {
        Ok(m) => m,
        Err(_) => return Ok(()),
    };
    if let Some(kind) = odd_kind(&meta) {
        return Err(Error::Usage(
            format!("--out {} is {kind}", out.display()),
            Some("licshift writes a folder there and replaces only a folder it wrote: choose another path".into()),
        ));
    }
    if meta.is_file() {
        return Err(Error::Usage(
            format!("--out {} is a file", out.display()),
            Some("--out names a folder; licshift never replaces a file".into()),
        ));
    }
    let entries: Vec<String> = std::fs::read_dir(out)
        .map_err(Error::io(format!("reading {}", out.display())))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    if entries.is_empty() {
        return Ok(());
    }
    if !force {
        return Err(Error::Usage(
            format!("--out {} exists and is not empty", out.display()),
            Some("pass --force to replace it (only a folder licshift wrote), or choose another folder".into()),
        ));
    }
    if !entries.iter().any(|e| MARKERS.contains(&e.as_str())) {
        return Err(Error::Usage(
            format!(
                "--out {} is not a folder licshift wrote (it holds none of {}), so --force will not replace it",
                out.display(),
                MARKERS.join(", ")
            ),
            Some("choose an empty or new folder".into()),
        ));
    }
    Ok(())
}

/// Refuses a single output file that is or touches an input, or that stands where something
/// other than a regular file is (a folder, link, FIFO, socket or device).
pub fn check_file_target(flag: &str, out: &Path, inputs: &Inputs) -> Result<()> {
    refuse_input(flag, out, inputs)?;
    if let Ok(meta) = std::fs::symlink_metadata(out) {
        if let Some(kind) = odd_kind(&meta).or(meta.is_dir().then_some("a folder")) {
            return Err(Error::Usage(
                format!("{flag} {} is {kind}", out.display()),
                Some("licshift replaces only a regular file there: choose another path".into()),
            ));
        }
    }
    Ok(())
}

/// The name of `out` and the folder it stands in, where its hidden sibling is written.
fn name_and_parent(out: &Path, what: &str) -> Result<(String, PathBuf)> {
    let name = out
        .file_name()
        .ok_or_else(|| Error::usage(format!("{} names no {what}", out.display())))?
        .to_string_lossy()
        .into_owned();
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    Ok((name, parent))
}

/// Writes one file whole or not at all: beside it, synced, then renamed over it.
pub fn write_file(out: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let context = || format!("writing {}", out.display());
    let (name, parent) = name_and_parent(out, "file")?;
    let tmp = parent.join(format!(".{name}.licshift-tmp-{}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, out)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::Io {
            context: context(),
            source: e,
        });
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
    let (name, parent) = name_and_parent(out, "folder")?;
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
    // What stands at --out now may differ from what stood there before the work began.
    if let Err(e) = check_target(out, &Inputs::new(), force) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if std::fs::symlink_metadata(out).is_ok() {
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
