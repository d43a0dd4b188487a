//! Output files written past the page cache (O_DIRECT), and made durable once per folder.
//!
//! Why: every file of a plan folder is made durable before the folder is published, so its
//! bytes must reach the disk before `plan` ends whatever we do; the only choice is whether they
//! are also copied into the page cache on the way. On the 2-core machines we measure on, that
//! copy is the dearest part of writing: 2 GB took 2.8–5 s buffered and synced, and 0.8 s
//! written direct. All files go direct, plan.json and waves.csv too: `verify` reads those two
//! back, and a `verify` straight after `plan` reads them from disk (3 GB/s here) instead of
//! memory, a few tenths of a second, where `plan` saved about a second at 1M users. A `verify`
//! run the next day finds nothing cached anyway.
//!
//! Direct writes must be whole aligned blocks, so bytes gather in an aligned window and only
//! whole blocks go direct; the tail under one block goes through the cache. Where the file
//! system refuses O_DIRECT (tmpfs, some network mounts), the file is simply written buffered.
//!
//! Durability: on Linux a finished file only starts its writeback, and `settle` makes the
//! whole folder durable with one `syncfs` before it is published. An fsync per file costs a
//! device cache flush each; a plan folder has thousands of scripts, and on these machines
//! those flushes cost about 0.4 s at 1M users. Elsewhere each file is synced as it ends.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Block alignment for direct writes: the largest logical block size in common use, so it
/// suits 512-byte devices too.
const ALIGN: usize = 4096;
/// Bytes gathered before a write; big enough that a direct write is one long disk request.
const WINDOW: usize = 2 << 20;

/// An aligned scratch window of `WINDOW` bytes, reusable from file to file.
pub struct Window {
    raw: Vec<u8>,
    start: usize,
}

impl Window {
    pub fn new() -> Window {
        // Over-allocate and start at the first aligned byte: safe code, and the Vec never
        // grows, so the window never moves.
        let raw = vec![0u8; WINDOW + ALIGN];
        let start = raw.as_ptr().align_offset(ALIGN);
        Window { raw, start }
    }

    fn bytes(&mut self) -> &mut [u8] {
        &mut self.raw[self.start..self.start + WINDOW]
    }
}

impl Default for Window {
    fn default() -> Self {
        Window::new()
    }
}

/// A file being written; `finish` writes what is left and starts it on its way to the disk
/// (`settle` waits for it). Dropping it unfinished
/// loses the bytes still in the window, which only happens when the whole folder is abandoned.
pub struct DiskFile {
    file: File,
    path: PathBuf,
    window: Window,
    /// Bytes waiting in the window.
    len: usize,
    /// Bytes already in the file.
    done: u64,
    direct: bool,
}

impl DiskFile {
    /// Creates `path`; `direct` asks for writes past the page cache where the system allows.
    pub fn create(path: &Path, direct: bool) -> io::Result<DiskFile> {
        DiskFile::create_in(path, direct, Window::new())
    }

    /// `create` with a window from an earlier file.
    pub fn create_in(path: &Path, direct: bool, window: Window) -> io::Result<DiskFile> {
        let (file, direct) = match direct.then(|| open_direct(path)) {
            Some(Ok(f)) => (f, true),
            _ => (File::create(path)?, false),
        };
        Ok(DiskFile {
            file,
            path: path.to_path_buf(),
            window,
            len: 0,
            done: 0,
            direct,
        })
    }

    /// Writes the rest and starts its writeback; hands back the window for the next file.
    pub fn finish(mut self) -> io::Result<Window> {
        if self.direct {
            self.drain(self.len / ALIGN * ALIGN)?;
            if self.len > 0 {
                self.buffered()?;
            }
        }
        self.drain(self.len)?;
        start_writeback(&self.file)?;
        Ok(self.window)
    }

    /// Writes the first `upto` bytes of the window and keeps the rest at its front.
    fn drain(&mut self, upto: usize) -> io::Result<()> {
        let mut at = 0;
        while at < upto {
            let start = self.window.start;
            match (&self.file).write(&self.window.raw[start + at..start + upto]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    at += n;
                    self.done += n as u64;
                    // A short direct write leaves the next one unaligned.
                    if self.direct && n % ALIGN != 0 {
                        self.buffered()?;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // The device wants a larger alignment than ours, or no direct writes at all.
                Err(e) if self.direct && e.raw_os_error() == Some(EINVAL) => self.buffered()?,
                Err(e) => return Err(e),
            }
        }
        let start = self.window.start;
        self.window
            .raw
            .copy_within(start + upto..start + self.len, start);
        self.len -= upto;
        Ok(())
    }

    /// Goes on through the page cache from where the direct writes stopped.
    fn buffered(&mut self) -> io::Result<()> {
        let mut f = OpenOptions::new().write(true).open(&self.path)?;
        f.seek(SeekFrom::Start(self.done))?;
        self.file = f;
        self.direct = false;
        Ok(())
    }
}

impl Write for DiskFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(WINDOW - self.len);
        let len = self.len;
        self.window.bytes()[len..len + n].copy_from_slice(&data[..n]);
        self.len += n;
        if self.len == WINDOW {
            self.drain(WINDOW)?;
        }
        Ok(n)
    }

    /// Nothing is pushed mid-file: a direct write must be whole blocks. `finish` writes all.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(target_os = "linux")]
const EINVAL: i32 = libc::EINVAL;
#[cfg(not(target_os = "linux"))]
const EINVAL: i32 = 22;

#[cfg(target_os = "linux")]
fn open_direct(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
}

#[cfg(not(target_os = "linux"))]
fn open_direct(_: &Path) -> io::Result<File> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Queues the file's cached bytes for writing without waiting: `settle` then finds most of
/// them on their way instead of starting them all at the end.
#[cfg(target_os = "linux")]
fn start_writeback(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain system call on a descriptor `file` owns for the whole call.
    let r = unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
    match r {
        0 => Ok(()),
        // Some file systems do not take the hint; `settle` still syncs everything.
        _ => match io::Error::last_os_error() {
            e if matches!(
                e.raw_os_error(),
                Some(libc::EINVAL | libc::ENOSYS | libc::ESPIPE)
            ) =>
            {
                Ok(())
            }
            e => Err(e),
        },
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(file: &File) -> io::Result<()> {
    file.sync_all()
}

/// Returns once every file finished in `dir` (and `dir` itself) is durable: the file
/// system's dirty data and metadata written and the device's cache flushed, in one call.
#[cfg(target_os = "linux")]
pub fn settle(dir: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let d = File::open(dir)?;
    // SAFETY: a plain system call on a descriptor `d` owns for the whole call.
    if unsafe { libc::syncfs(d.as_raw_fd()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Every file was synced as it finished; only the folder's own entries are left.
#[cfg(not(target_os = "linux"))]
pub fn settle(dir: &Path) -> io::Result<()> {
    // Windows cannot open a folder as a file to sync it; its entries are journaled by NTFS.
    if cfg!(unix) {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sizes around the block and window edges, written in awkward pieces, read back whole.
    #[test]
    fn every_byte_arrives_in_order_direct_or_not() {
        let dir = std::env::temp_dir().join(format!("licshift-disk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut window = Some(Window::new());
        // Where this file system takes O_DIRECT, the direct path is the one under test.
        let probe = dir.join("probe");
        let direct_here = open_direct(&probe).is_ok();
        for direct in [true, false] {
            for size in [
                0,
                1,
                ALIGN - 1,
                ALIGN,
                ALIGN + 1,
                WINDOW - 1,
                WINDOW,
                WINDOW + ALIGN + 7,
                3 * WINDOW + 5,
            ] {
                let bytes: Vec<u8> = (0..size).map(|i| (i * 7 + i / 4099) as u8).collect();
                let path = dir.join(format!("f-{direct}-{size}"));
                let mut f = DiskFile::create_in(&path, direct, window.take().unwrap()).unwrap();
                assert_eq!(f.direct, direct && direct_here);
                for piece in bytes.chunks(1 + size / 5) {
                    f.write_all(piece).unwrap();
                }
                window = Some(f.finish().unwrap());
                assert_eq!(
                    std::fs::read(&path).unwrap(),
                    bytes,
                    "direct {direct}, {size} bytes"
                );
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A file that switches to the cache half-way (as after a refused direct write) still
    /// gets every byte, in order.
    #[test]
    fn falling_back_mid_file_loses_nothing() {
        let dir = std::env::temp_dir().join(format!("licshift-disk-fb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        let bytes: Vec<u8> = (0..WINDOW + 3 * ALIGN + 11)
            .map(|i| (i % 251) as u8)
            .collect();
        let mut f = DiskFile::create(&path, true).unwrap();
        f.write_all(&bytes[..WINDOW + 100]).unwrap();
        f.buffered().unwrap();
        f.write_all(&bytes[WINDOW + 100..]).unwrap();
        f.finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The folder sync succeeds on a folder of finished files and reports a missing folder
    /// instead of passing over it.
    #[test]
    fn settling_a_folder_syncs_it_or_says_why_not() {
        let dir = std::env::temp_dir().join(format!("licshift-disk-settle-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut f = DiskFile::create(&dir.join("f"), true).unwrap();
        f.write_all(&[7u8; ALIGN + 3]).unwrap();
        f.finish().unwrap();
        settle(&dir).unwrap();
        assert_eq!(std::fs::read(dir.join("f")).unwrap(), vec![7u8; ALIGN + 3]);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(settle(&dir).unwrap_err().kind(), io::ErrorKind::NotFound);
    }
}
