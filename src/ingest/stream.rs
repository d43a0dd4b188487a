//! Large CSV files read as a stream instead of whole into memory.
//!
//! Why: reading the inputs of a million-user tenant whole meant 577 MB of fresh memory, and on
//! the machines we measure on, the kernel zeroing those pages cost more than parsing them. A
//! large file is now read twice through one reused buffer, which costs a copy from the page
//! cache each time and no fresh memory:
//!
//! 1. `scan` checks everything the whole-file path checks before parsing (encoding, NUL bytes,
//!    unclosed quotes, the preamble and header) and counts the lines. Anything unusual and it
//!    declines: the caller reads the file whole and gives the same diagnostics as always.
//! 2. `Tee` feeds the csv reader, hashing every byte it reads, so the SHA-256 recorded is of
//!    the very bytes parsed. It notices a file that changed between the two reads (length,
//!    modification time), which the loader reports instead of trusting either read.
//!
//! The text of a row is only needed for the snippet under a problem; it is read back from the
//! file at the row's offset then (`line_at`).

use super::text;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::time::SystemTime;

/// Files at least this long are streamed; shorter ones are read whole, where the memory is
/// small and every fixture and malformed example takes the path that has always read them.
pub const STREAM_BYTES: u64 = 8 << 20;
/// Bytes read at a time by `scan`. The header must end within the first read.
const CHUNK: usize = 1 << 20;

/// What the first read found: where the header starts, and the file's shape.
pub struct Scanned {
    /// Byte offset of the header line (after a UTF-8 BOM and preamble lines).
    pub start: u64,
    /// Preamble lines skipped.
    pub skipped: usize,
    pub delim: u8,
    pub headers: Vec<String>,
    /// Line feeds after `start`, for `Table::record_estimate`.
    pub lines: usize,
    /// Every line ends in CRLF and none is blank (else no line has a CR at all).
    pub crlf: bool,
    pub len: u64,
    pub modified: Option<SystemTime>,
}

/// The identity of the file's content as far as the file system tells: a rewrite between the
/// two reads changes at least one of these.
fn stamp(f: &File) -> io::Result<(u64, Option<SystemTime>)> {
    let m = f.metadata()?;
    Ok((m.len(), m.modified().ok()))
}

/// Reads `file` once, checking it the way `Table::from_csv` checks a text. `None` means "read
/// it whole": the file is short, UTF-16, not clean UTF-8, holds a NUL or an unclosed quote,
/// or its header does not end within the first read. Read errors are errors.
pub fn scan(file: &mut File, at_least: u64) -> io::Result<Option<Scanned>> {
    scan_in(file, at_least, CHUNK, CHUNK)
}

/// `scan` with reads of `first` bytes, then of `chunk` (small in the tests, to cut the body at
/// every awkward place).
fn scan_in(
    file: &mut File,
    at_least: u64,
    first: usize,
    chunk: usize,
) -> io::Result<Option<Scanned>> {
    let (len, modified) = stamp(file)?;
    if len < at_least.max(1) {
        return Ok(None);
    }
    file.seek(SeekFrom::Start(0))?;
    let mut buf = vec![0u8; first.max(chunk + 4)];
    let first = fill(file, &mut buf[..first])?;
    let head = &buf[..first];
    if head.starts_with(b"\xFF\xFE")
        || head.starts_with(b"\xFE\xFF")
        || text::looks_like_utf16(head)
        || memchr::memchr(0, head).is_some()
    {
        return Ok(None);
    }
    let bom = if head.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    // The preamble and header must be whole, valid text within the first read.
    let valid = match std::str::from_utf8(&head[bom..]) {
        Ok(s) => s,
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&head[bom..bom + e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return Ok(None),
    };
    let (pre, skipped, hinted) = text::skip_preamble(valid);
    let body_head = &valid[pre..];
    if body_head.trim().is_empty() {
        return Ok(None);
    }
    let header_line = body_head.lines().next().unwrap_or("");
    let delim = hinted.unwrap_or_else(|| text::sniff_delimiter(header_line));
    let mut reader = super::table::csv_reader(delim, body_head);
    let mut rec = csv::StringRecord::new();
    let headers: Vec<String> = match reader.read_record(&mut rec) {
        // The header ended inside this read: its terminator came before the end.
        Ok(true) if (reader.position().byte() as usize) < body_head.len() => {
            rec.iter().map(str::to_string).collect()
        }
        _ => return Ok(None),
    };
    let start = bom + pre;
    let mut check = BodyCheck::new(delim);
    let mut total = first as u64;
    let (mut lo, mut hi) = (start, first);
    loop {
        let piece = &buf[lo..hi];
        // An incomplete UTF-8 sequence at the end of a read goes to the front of the next:
        // quotes, delimiters and line feeds are ASCII, never inside one.
        let whole = match std::str::from_utf8(piece) {
            Ok(_) => piece.len(),
            Err(e) if e.error_len().is_none() && total < len => e.valid_up_to(),
            Err(_) => return Ok(None),
        };
        if !check.feed(&piece[..whole]) {
            return Ok(None);
        }
        let tail = piece.len() - whole;
        if total >= len {
            break;
        }
        buf.copy_within(hi - tail..hi, 0);
        let n = fill(file, &mut buf[tail..tail + chunk])?;
        if n == 0 {
            return Ok(None);
        }
        total += n as u64;
        (lo, hi) = (0, tail + n);
    }
    // Line ends must be all LF or all CRLF: the row numbers of a streamed file are worked
    // out from that (`Table::for_each_row`), where a file read whole looks at each one.
    let crlf = check.crs > 0;
    if check.inside_quote()
        || (crlf && (check.crs != check.lines || check.crlfs != check.lines || check.blanks > 0))
        || total != len
        || stamp(file)? != (len, modified)
    {
        return Ok(None);
    }
    Ok(Some(Scanned {
        start: start as u64,
        skipped,
        delim,
        headers,
        lines: check.lines,
        crlf,
        len,
        modified,
    }))
}

/// Reads until `buf` is full or the file ends.
fn fill(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut at = 0;
    while at < buf.len() {
        match file.read(&mut buf[at..]) {
            Ok(0) => break,
            Ok(n) => at += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(at)
}

/// `text::unclosed_quote`, the NUL check and the line count over a body fed in pieces.
struct BodyCheck {
    delim: u8,
    /// Inside a quoted field.
    inside: bool,
    /// The last piece ended on a quote inside a field: it closes the field unless the next
    /// byte is a quote too (an escaped one).
    quote_at_end: bool,
    /// The byte before the current piece; a quote opens a field after the delimiter or a
    /// line feed, or at the very start.
    prev: Option<u8>,
    lines: usize,
    /// Carriage returns, and those followed by a line feed.
    crs: usize,
    crlfs: usize,
    /// Line feeds followed by a carriage return: blank CRLF lines.
    blanks: usize,
}

impl BodyCheck {
    fn new(delim: u8) -> BodyCheck {
        BodyCheck {
            delim,
            inside: false,
            quote_at_end: false,
            prev: None,
            lines: 0,
            crs: 0,
            crlfs: 0,
            blanks: 0,
        }
    }

    /// At the end of the body: a field opened and never closed.
    fn inside_quote(&self) -> bool {
        self.inside && !self.quote_at_end
    }

    /// Checks the next piece of the body; false at a NUL byte.
    fn feed(&mut self, b: &[u8]) -> bool {
        if b.is_empty() {
            return true;
        }
        if memchr::memchr(0, b).is_some() {
            return false;
        }
        self.lines += memchr::memchr_iter(b'\n', b).count();
        for r in memchr::memchr_iter(b'\r', b) {
            self.crs += 1;
            self.crlfs += usize::from(b.get(r + 1) == Some(&b'\n'));
            let after_lf = if r == 0 { self.prev } else { Some(b[r - 1]) };
            self.blanks += usize::from(after_lf == Some(b'\n'));
        }
        if self.prev == Some(b'\r') && b[0] == b'\n' {
            self.crlfs += 1;
        }
        let mut i = 0;
        if self.quote_at_end {
            self.quote_at_end = false;
            if b[0] == b'"' {
                i = 1;
            } else {
                self.inside = false;
            }
        }
        // As `text::unclosed_quote`: a quote opens a field only at its start; inside, `""` is
        // an escaped quote and any other quote closes it.
        while let Some(q) = memchr::memchr(b'"', &b[i..]).map(|p| i + p) {
            if !self.inside {
                let before = if q == 0 { self.prev } else { Some(b[q - 1]) };
                self.inside = before.is_none_or(|c| c == self.delim || c == b'\n');
                i = q + 1;
            } else if q + 1 == b.len() {
                self.quote_at_end = true;
                break;
            } else if b[q + 1] == b'"' {
                i = q + 2;
            } else {
                self.inside = false;
                i = q + 1;
            }
        }
        self.prev = b.last().copied();
        true
    }
}

/// The csv reader's input: the file from the header on, every byte of the whole file hashed.
pub struct Tee {
    file: File,
    hasher: Sha256,
    read: u64,
}

impl Tee {
    /// Opens the file again, hashing the bytes before `start` on the way.
    pub fn open(path: &std::path::Path, start: u64) -> io::Result<Tee> {
        let mut tee = Tee {
            file: File::open(path)?,
            hasher: Sha256::new(),
            read: 0,
        };
        let mut skip = vec![0u8; start as usize];
        tee.file.read_exact(&mut skip)?;
        tee.hasher.update(&skip);
        tee.read = start;
        Ok(tee)
    }

    /// Bytes read so far, from the start of the file.
    pub fn read(&self) -> u64 {
        self.read
    }

    /// The hash of every byte read, and whether the file still is what `scan` read.
    pub fn finish(self, scanned: &Scanned) -> (String, bool) {
        let same = self.read == scanned.len
            && stamp(&self.file).ok() == Some((scanned.len, scanned.modified));
        (super::hex(&self.hasher.finalize()), same)
    }
}

impl Read for Tee {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

/// The line that starts at byte `at` of the file, for the snippet under a problem.
pub fn line_at(file: &File, at: u64) -> String {
    let mut line = Vec::new();
    let mut buf = [0u8; 4096];
    let mut f = file;
    if f.seek(SeekFrom::Start(at)).is_err() {
        return String::new();
    }
    while let Ok(n @ 1..) = f.read(&mut buf) {
        let buf = &buf[..n];
        match memchr::memchr2(b'\n', b'\r', buf) {
            Some(end) => {
                line.extend_from_slice(&buf[..end]);
                break;
            }
            None => line.extend_from_slice(buf),
        }
    }
    String::from_utf8_lossy(&line).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every text over a small alphabet, cut into pieces of every size: the piecewise check
    /// says "unclosed" exactly when `text::unclosed_quote` finds a field left open.
    #[test]
    fn the_piecewise_quote_check_agrees_with_the_whole_text_one() {
        text::every_text(b"\",\na", 7, |t| {
            let want = text::unclosed_quote(t, b',').is_some();
            for piece in 1..=t.len().max(1) {
                let mut check = BodyCheck::new(b',');
                for p in t.as_bytes().chunks(piece) {
                    assert!(check.feed(p));
                }
                assert_eq!(check.inside_quote(), want, "{t:?} in pieces of {piece}");
                assert_eq!(check.lines, t.matches('\n').count());
            }
        });
    }

    fn file_with(name: &str, bytes: &[u8]) -> (std::path::PathBuf, File) {
        let dir = std::env::temp_dir().join(format!("licshift-stream-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let f = File::open(&path).unwrap();
        (path, f)
    }

    /// A clean file streams, whatever the read size; the header, preamble, delimiter and line
    /// count are those the whole-file path finds, and the hash is of the whole file.
    #[test]
    fn a_clean_file_streams_with_what_the_whole_file_path_finds() {
        let mut csv = String::from("\u{feff}sep=;\nId;Name\n");
        for i in 0..200 {
            csv += &format!("{i};\"zoë \"\"{i}\"\"\nline two\"\n");
        }
        let (path, mut f) = file_with("clean.csv", csv.as_bytes());
        for chunk in [1, 2, 3, 5, 64, 4096] {
            let s = scan_in(&mut f, 1, 64, chunk).unwrap().expect("streams");
            assert_eq!((s.start, s.skipped, s.delim), (3 + 6, 1, b';'));
            assert_eq!(s.headers, ["Id", "Name"]);
            assert_eq!(s.lines, 1 + 2 * 200);
            assert_eq!(s.len, csv.len() as u64);
        }
        let s = scan(&mut f, 1).unwrap().unwrap();
        let mut tee = Tee::open(&path, 0).unwrap();
        io::copy(&mut tee, &mut io::sink()).unwrap();
        let (hash, same) = tee.finish(&s);
        assert!(same);
        assert_eq!(hash, crate::ingest::sha256(csv.as_bytes()));
        assert_eq!(line_at(&f, s.start), "Id;Name");
    }

    /// Whatever the whole-file path reports a problem for, or reads differently, is left to it.
    #[test]
    fn anything_unusual_is_left_to_the_whole_file_path() {
        let body = "Id,Name\n1,a\n2,b\n".repeat(20);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            (
                "utf16.csv",
                [b"\xFF\xFE".as_slice(), "I\0d\0".as_bytes()].concat(),
            ),
            ("bad-utf8.csv", [body.as_bytes(), b"3,\xE9t\xE9\n"].concat()),
            ("cut-utf8.csv", [body.as_bytes(), b"3,\xC3"].concat()),
            ("nul.csv", [body.as_bytes(), b"3,\0\n"].concat()),
            (
                "open-quote.csv",
                format!("{body}3,\"never closed\n4,x\n").into_bytes(),
            ),
            ("only-header.csv", b"\n\n  \n".to_vec()),
            (
                "mixed-ends.csv",
                "Id,Name\r\n1,a\n2,b\r\n".repeat(9).into_bytes(),
            ),
            ("lone-cr.csv", "Id,Name\r1,a\r2,b\r".repeat(9).into_bytes()),
        ];
        for (name, bytes) in cases {
            let (_, mut f) = file_with(name, &bytes);
            for chunk in [1, 7, 4096] {
                assert!(
                    scan_in(&mut f, 1, 64, chunk).unwrap().is_none(),
                    "{name}, reads of {chunk}"
                );
            }
        }
        // Short files and headers longer than the first read are read whole too.
        let (_, mut f) = file_with("short.csv", body.as_bytes());
        assert!(scan(&mut f, 1 << 20).unwrap().is_none());
        assert!(scan_in(&mut f, 1, 4, 4).unwrap().is_none());
    }

    /// A file rewritten between the scan and the parse is noticed.
    #[test]
    fn a_file_that_changes_between_the_reads_is_noticed() {
        let (path, mut f) = file_with("changing.csv", b"Id,Name\n1,a\n2,b\n");
        let s = scan(&mut f, 1).unwrap().unwrap();
        std::fs::write(&path, b"Id,Name\n1,a\n2,b\n3,c\n").unwrap();
        let mut tee = Tee::open(&path, s.start).unwrap();
        io::copy(&mut tee, &mut io::sink()).unwrap();
        assert!(!tee.finish(&s).1);
    }
}
