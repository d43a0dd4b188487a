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
//! A plan folder's files are written through a `Spool`: full windows go to writer threads of
//! their own, so a thread that renders rows never sits waiting for the device. At 1M users
//! that took the write phase from 3.0–3.2 s to 2.8–2.9 s; the cores were waiting for the disk
//! a quarter of that phase before.
//!
//! Durability: on Linux a finished file only starts its writeback, and `settle` makes the
//! whole folder durable with one `syncfs` before it is published. An fsync per file costs a
//! device cache flush each; a plan folder has thousands of scripts, and on these machines
//! those flushes cost about 0.4 s at 1M users. Elsewhere each file is synced as it ends.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

/// Block alignment for direct writes: the largest logical block size in common use, so it
/// suits 512-byte devices too.
const ALIGN: usize = 4096;
/// Bytes gathered before a write; big enough that a direct write is one long disk request.
const WINDOW: usize = 2 << 20;
/// Full windows waiting for a spool's writers before a renderer has to wait: enough to ride
/// out one slow disk request, few enough that memory stays a few megabytes.
const QUEUE: usize = 4;

/// An aligned scratch window of `WINDOW` bytes, reusable from file to file.
struct Window {
    raw: Vec<u8>,
    start: usize,
}

impl Window {
    fn new() -> Window {
        // Over-allocate and start at the first aligned byte: safe code, and the Vec never
        // grows, so the window never moves.
        let raw = vec![0u8; WINDOW + ALIGN];
        let start = raw.as_ptr().align_offset(ALIGN);
        Window { raw, start }
    }

    /// A placeholder while a window is on its way to be written; never written into.
    fn none() -> Window {
        Window {
            raw: Vec::new(),
            start: 0,
        }
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

/// Threads that do the disk writes of many files while the threads that render them go on
/// rendering. A direct write keeps its thread waiting for the device; on two cores, a renderer
/// waiting is half the machine idle. `close` waits for every write and says whether all of
/// them succeeded.
pub struct Spool {
    to_writers: Option<SyncSender<Job>>,
    writers: Vec<std::thread::JoinHandle<()>>,
    shared: Arc<Shared>,
}

/// What a spool's writers and its files share.
struct Shared {
    /// Windows the writers are done with, for the next file or the next window of a file.
    spare: Mutex<Vec<Window>>,
    /// The first write that failed, with its file; later writes are skipped.
    failure: Mutex<Option<io::Error>>,
    failed: AtomicBool,
}

/// One window's bytes for one file, at their place in it.
struct Job {
    target: Arc<Target>,
    window: Window,
    len: usize,
    offset: u64,
    /// The file's last bytes: its writeback is started once they are written.
    last: bool,
}

/// A file being written: the direct handle where the system gave one, and the handle through
/// the page cache for what cannot go direct.
struct Target {
    path: PathBuf,
    direct: Option<File>,
    /// The file created without O_DIRECT, or opened on demand for the tails of a direct one.
    cached: Mutex<Option<File>>,
    /// The device refused a direct write: the rest of the file goes through the cache.
    refused: AtomicBool,
}

impl Spool {
    /// Starts `threads` writers (at least one).
    pub fn start(threads: usize) -> Spool {
        let (to_writers, jobs) = sync_channel::<Job>(QUEUE);
        let jobs = Arc::new(Mutex::new(jobs));
        let shared = Arc::new(Shared {
            spare: Mutex::new(Vec::new()),
            failure: Mutex::new(None),
            failed: AtomicBool::new(false),
        });
        let writers = (0..threads.max(1))
            .map(|_| {
                let (jobs, shared) = (Arc::clone(&jobs), Arc::clone(&shared));
                std::thread::spawn(move || serve(&jobs, &shared))
            })
            .collect();
        Spool {
            to_writers: Some(to_writers),
            writers,
            shared,
        }
    }

    /// Creates `path` with its writes done by this spool's threads.
    pub fn create(&self, path: &Path, direct: bool) -> io::Result<DiskFile> {
        let window = self.shared.take_spare();
        let mut f = DiskFile::create_in(path, direct, window)?;
        f.spool = self
            .to_writers
            .clone()
            .map(|tx| (tx, Arc::clone(&self.shared)));
        Ok(f)
    }

    /// Waits for every write handed over, and returns the first that failed. Every file of
    /// the spool must be finished (or dropped) first.
    pub fn close(mut self) -> io::Result<()> {
        self.stop();
        let failure = self
            .shared
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        failure.map_or(Ok(()), Err)
    }

    fn stop(&mut self) {
        self.to_writers = None;
        for w in self.writers.drain(..) {
            // A writer only panics on a bug; its files are then missing bytes, and the
            // failure below is what the caller sees.
            if w.join().is_err() {
                self.shared
                    .fail(io::Error::other("a disk writer thread panicked"));
            }
        }
    }
}

impl Drop for Spool {
    /// A spool abandoned on an error path still waits for its writers: none may write into a
    /// folder that is being removed.
    fn drop(&mut self) {
        self.stop();
    }
}

impl Shared {
    fn take_spare(&self) -> Window {
        let spare = self.spare.lock().unwrap_or_else(|e| e.into_inner()).pop();
        spare.unwrap_or_default()
    }

    fn fail(&self, e: io::Error) {
        let mut first = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_none() {
            *first = Some(e);
        }
        self.failed.store(true, Ordering::Relaxed);
    }
}

/// A writer thread: takes jobs until the spool closes.
fn serve(jobs: &Mutex<Receiver<Job>>, shared: &Shared) {
    loop {
        // The lock is held only while waiting for the next job, not while writing it.
        let job = match jobs.lock().unwrap_or_else(|e| e.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        if !shared.failed.load(Ordering::Relaxed) {
            if let Err(e) = job.run() {
                let path = job.target.path.display();
                shared.fail(io::Error::new(e.kind(), format!("{path}: {e}")));
            }
        }
        shared
            .spare
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(job.window);
    }
}

impl Job {
    fn run(&self) -> io::Result<()> {
        let t = &self.target;
        let bytes = &self.window.raw[self.window.start..self.window.start + self.len];
        let mut at = 0;
        if let Some(direct) = t
            .direct
            .as_ref()
            .filter(|_| !t.refused.load(Ordering::Relaxed))
        {
            // Only whole blocks go direct; a window is whole blocks but for a file's tail.
            let whole = self.len / ALIGN * ALIGN;
            while at < whole {
                match write_at(direct, &bytes[at..whole], self.offset + at as u64) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    // A short direct write leaves the rest unaligned: the cache takes it.
                    Ok(n) if n % ALIGN != 0 => {
                        at += n;
                        break;
                    }
                    Ok(n) => at += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    // The device wants a larger alignment than ours, or no direct writes.
                    Err(e) if e.raw_os_error() == Some(EINVAL) => {
                        t.refused.store(true, Ordering::Relaxed);
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        let mut cached = t.cached.lock().unwrap_or_else(|e| e.into_inner());
        if at < self.len {
            if cached.is_none() {
                *cached = Some(OpenOptions::new().write(true).open(&t.path)?);
            }
            let f = cached.as_mut().expect("opened above");
            f.seek(SeekFrom::Start(self.offset + at as u64))?;
            f.write_all(&bytes[at..])?;
        }
        if self.last {
            match (cached.as_ref(), t.direct.as_ref()) {
                (Some(f), _) | (None, Some(f)) => start_writeback(f)?,
                (None, None) => {}
            }
        }
        Ok(())
    }
}

#[cfg(unix)]
fn write_at(f: &File, bytes: &[u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::write_at(f, bytes, offset)
}

/// Direct writes exist only on Linux; elsewhere no file has a direct handle.
#[cfg(not(unix))]
fn write_at(_: &File, _: &[u8], _: u64) -> io::Result<usize> {
    Err(io::ErrorKind::Unsupported.into())
}

/// A file being written; `finish` writes what is left and starts it on its way to the disk
/// (`settle` waits for it). Without a spool the writes happen on the caller's thread. Dropping
/// it unfinished loses the bytes still in the window, which only happens when the whole folder
/// is abandoned.
pub struct DiskFile {
    target: Arc<Target>,
    window: Window,
    /// Bytes waiting in the window.
    len: usize,
    /// Bytes handed to be written before them.
    sent: u64,
    spool: Option<(SyncSender<Job>, Arc<Shared>)>,
}

impl DiskFile {
    /// Creates `path`; `direct` asks for writes past the page cache where the system allows.
    pub fn create(path: &Path, direct: bool) -> io::Result<DiskFile> {
        DiskFile::create_in(path, direct, Window::new())
    }

    /// `create` with a window from an earlier file.
    fn create_in(path: &Path, direct: bool, window: Window) -> io::Result<DiskFile> {
        let (direct, cached) = match direct.then(|| open_direct(path)) {
            Some(Ok(f)) => (Some(f), None),
            _ => (None, Some(File::create(path)?)),
        };
        Ok(DiskFile {
            target: Arc::new(Target {
                path: path.to_path_buf(),
                direct,
                cached: Mutex::new(cached),
                refused: AtomicBool::new(false),
            }),
            window,
            len: 0,
            sent: 0,
            spool: None,
        })
    }

    /// Writes the rest (or hands it to the spool) and starts its writeback.
    pub fn finish(mut self) -> io::Result<()> {
        self.hand_over(true)
    }

    /// Has the window's bytes written, by the spool or here, and leaves a window to go on
    /// with unless these were the last: the same one when written here, a spare when the
    /// spool took it.
    fn hand_over(&mut self, last: bool) -> io::Result<()> {
        // Checked before the window leaves: a caller that goes on writing after an error
        // must find a window to write into, not a placeholder.
        if let Some((_, shared)) = &self.spool {
            if shared.failed.load(Ordering::Relaxed) {
                return Err(io::Error::other("an earlier write of this folder failed"));
            }
        }
        let job = Job {
            target: Arc::clone(&self.target),
            window: std::mem::replace(&mut self.window, Window::none()),
            len: self.len,
            offset: self.sent,
            last,
        };
        self.sent += self.len as u64;
        self.len = 0;
        match &self.spool {
            Some((to_writers, shared)) => {
                if !last {
                    self.window = shared.take_spare();
                }
                to_writers
                    .send(job)
                    .map_err(|_| io::Error::other("the disk writers stopped"))
            }
            None => {
                let written = job.run();
                self.window = job.window;
                written
            }
        }
    }
}

impl Write for DiskFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(WINDOW - self.len);
        let len = self.len;
        self.window.bytes()[len..len + n].copy_from_slice(&data[..n]);
        self.len += n;
        if self.len == WINDOW {
            self.hand_over(false)?;
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
                let mut f = DiskFile::create(&path, direct).unwrap();
                assert_eq!(f.target.direct.is_some(), direct && direct_here);
                for piece in bytes.chunks(1 + size / 5) {
                    f.write_all(piece).unwrap();
                }
                f.finish().unwrap();
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
        f.target.refused.store(true, Ordering::Relaxed);
        f.write_all(&bytes[WINDOW + 100..]).unwrap();
        f.finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Files written side by side through a spool, their windows handed to two writers in
    /// whatever order the threads reach them, each arrive whole; a spare window goes from file
    /// to file without carrying bytes over.
    #[test]
    fn a_spool_writes_every_file_whole() {
        let dir = std::env::temp_dir().join(format!("licshift-disk-spool-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let spool = Spool::start(2);
        let sizes = [0, 1, ALIGN + 1, WINDOW, 2 * WINDOW + 3, 3 * WINDOW + ALIGN];
        let content = |k: usize, size: usize| -> Vec<u8> {
            (0..size)
                .map(|i| (i * 31 + k * 7 + i / 4093) as u8)
                .collect()
        };
        std::thread::scope(|scope| {
            for (k, &size) in sizes.iter().enumerate() {
                let (spool, dir) = (&spool, &dir);
                scope.spawn(move || {
                    for round in 0..3 {
                        let bytes = content(k + round, size);
                        let path = dir.join(format!("f-{k}-{round}"));
                        let mut f = spool.create(&path, round != 1).unwrap();
                        for piece in bytes.chunks(1 + size / 7) {
                            f.write_all(piece).unwrap();
                        }
                        f.finish().unwrap();
                    }
                });
            }
        });
        spool.close().unwrap();
        for (k, &size) in sizes.iter().enumerate() {
            for round in 0..3 {
                let got = std::fs::read(dir.join(format!("f-{k}-{round}"))).unwrap();
                assert!(got == content(k + round, size), "file {k}, round {round}");
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A write the device refuses on a writer thread is not lost: `close` returns it, naming
    /// the file, and later files of the spool are refused rather than written.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_spool_reports_the_write_that_failed() {
        let full = Path::new("/dev/full");
        if !full.exists() {
            return;
        }
        let spool = Spool::start(1);
        let mut f = spool.create(full, false).unwrap();
        f.write_all(&[1u8; 100]).unwrap();
        f.finish().unwrap();
        // The failure shows on a later hand-over at the latest once the writer has met it.
        let mut later = Ok(());
        for _ in 0..1000 {
            let mut g = spool.create(full, false).unwrap();
            g.write_all(&[2u8; 10]).unwrap();
            later = g.finish();
            if later.is_err() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(later.is_err(), "files after a failed write are refused");
        let e = spool.close().unwrap_err();
        assert!(e.to_string().contains("/dev/full"), "{e}");
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
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
