//! One input table, from a CSV file or a spreadsheet sheet, read as rows of text cells that
//! remember their file, row and column.

use super::text::{self, Undecodable};
use super::{json, stream};
use crate::diag::{Code, Origin, Problem};
use std::borrow::Cow;

/// A cell longer than this is a broken export (a quote that swallowed the file), not data:
/// the longest real cell, a disabled-plans list of a 100-plan SKU, is under 4 KiB.
pub const MAX_CELL: usize = 64 * 1024;

pub struct Table {
    pub file: u16,
    /// `users.csv` or `users.xlsx#Users`.
    pub name: String,
    pub sheet: bool,
    pub headers: Vec<String>,
    pub header_row: u32,
    body: Body,
}

enum Body {
    Text {
        text: String,
        delim: u8,
        start: usize,
        line_offset: u32,
    },
    Cells(Vec<(u32, Vec<String>)>),
    /// A large file read as a stream (`stream`), from `path` again when its rows are wanted.
    Stream(Box<Streamed>),
    /// A Graph JSON file, read as one of its views (`json`) each time its rows are wanted.
    Json(Box<JsonBody>),
}

struct JsonBody {
    path: std::path::PathBuf,
    view: json::View,
    layout: std::sync::Arc<crate::diag::JsonLayout>,
    /// The SHA-256 of the file, once a pass has read it whole.
    sha256: std::sync::Mutex<Option<String>>,
}

struct Streamed {
    path: std::path::PathBuf,
    scanned: stream::Scanned,
    /// Kept open for the snippets under problems, read back at a row's offset.
    file: std::fs::File,
    /// The SHA-256 of the bytes parsed, once a full pass has read them all.
    sha256: std::sync::Mutex<Option<String>>,
}

/// One row handed to a file loader.
pub struct Row<'a> {
    pub origin: Origin,
    cells: RowCells<'a>,
    line: &'a str,
    /// Where a streamed row starts in its file, when `line` is not at hand.
    at: Option<(&'a std::fs::File, u64)>,
}

enum RowCells<'a> {
    Csv(&'a csv::StringRecord),
    Sheet(&'a [String]),
    Json(
        &'a [Cow<'a, str>],
        &'static [(&'static str, &'static str, bool)],
    ),
}

impl<'a> Row<'a> {
    pub fn get(&self, col: usize) -> &str {
        match &self.cells {
            RowCells::Csv(r) => r.get(col).unwrap_or(""),
            RowCells::Sheet(c) => c.get(col).map_or("", String::as_str),
            RowCells::Json(c, _) => c.get(col).map_or("", |c| c.as_ref()),
        }
    }

    pub fn len(&self) -> usize {
        match &self.cells {
            RowCells::Csv(r) => r.len(),
            RowCells::Sheet(c) => c.len(),
            RowCells::Json(c, _) => c.len(),
        }
    }

    /// A row of a JSON view: its cells and the JSON property each comes from.
    pub(super) fn json(
        origin: Origin,
        cells: &'a [Cow<'a, str>],
        columns: &'static [(&'static str, &'static str, bool)],
    ) -> Row<'a> {
        Row {
            origin,
            cells: RowCells::Json(cells, columns),
            line: "",
            at: None,
        }
    }

    /// The whole row as it stands in the file, for the snippet under a message.
    pub fn line_text(&self) -> Cow<'_, str> {
        if !self.line.is_empty() {
            return Cow::Borrowed(self.line);
        }
        if let Some((file, at)) = self.at {
            return Cow::Owned(stream::line_at(file, at));
        }
        if let RowCells::Json(cells, columns) = &self.cells {
            // The record's properties that gave the row, as JSON.
            let props: Vec<String> = columns
                .iter()
                .zip(cells.iter())
                .filter(|(_, v)| !v.is_empty())
                .map(|((_, name, _), v)| format!("{}: {}", json_string(name), json_string(v)))
                .collect();
            return Cow::Owned(format!("{{{}}}", props.join(", ")));
        }
        let cells: Vec<&str> = (0..self.len()).map(|i| self.get(i)).collect();
        Cow::Owned(cells.join(","))
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

impl Table {
    /// A Graph JSON file read as `view`.
    pub fn json(file: u16, name: String, path: std::path::PathBuf, view: json::View) -> Table {
        Table {
            file,
            name,
            sheet: false,
            headers: view.headers(),
            header_row: 0,
            body: Body::Json(Box::new(JsonBody {
                path,
                view,
                layout: std::sync::Arc::new(view.layout()),
                sha256: std::sync::Mutex::new(None),
            })),
        }
    }

    /// The layout of a JSON table's view, to register its name with.
    pub fn json_layout(&self) -> Option<std::sync::Arc<crate::diag::JsonLayout>> {
        match &self.body {
            Body::Json(j) => Some(j.layout.clone()),
            _ => None,
        }
    }

    /// The view a JSON table is read as.
    pub fn json_view(&self) -> Option<json::View> {
        match &self.body {
            Body::Json(j) => Some(j.view),
            _ => None,
        }
    }

    /// The file a JSON table is read from (empty for any other table).
    pub fn json_path(&self) -> std::path::PathBuf {
        match &self.body {
            Body::Json(j) => j.path.clone(),
            _ => std::path::PathBuf::new(),
        }
    }

    /// True for a table read from Graph JSON.
    pub fn is_json(&self) -> bool {
        matches!(self.body, Body::Json(_))
    }

    /// The rows of a JSON table and of `second`, a second view of the same file, in one pass:
    /// `f` hears which view (0: this one, 1: `second`) each row belongs to.
    pub fn for_each_json_row(
        &self,
        second: Option<&Table>,
        bad: &mut dyn FnMut(Problem),
        f: &mut dyn FnMut(usize, &Row),
    ) -> u64 {
        let Body::Json(j) = &self.body else {
            return 0;
        };
        let files = [self.file, second.map_or(self.file, |t| t.file)];
        if let Some(p) = self.json_start_problem(&j.path) {
            bad(p);
            return 0;
        }
        let mut count = 0u64;
        let mut cell_problems = Vec::new();
        let read = std::fs::File::open(&j.path).and_then(|file| {
            json::rows(
                file,
                j.view,
                files,
                &mut |m: json::Malformed| {
                    bad(Problem::error(Code::Json, m.message)
                        .at(format!("{}:{} {}", self.name, m.line, m.path))
                        .help("save the Graph response as it came (licshift export-script does), one page per line or as one JSON document"))
                },
                &mut |which, row| {
                    let table = if which == 0 { self } else { second.unwrap_or(self) };
                    if table.cells_ok(row, &mut |p| cell_problems.push(p)) {
                        count += u64::from(which == 0);
                        f(which, row)
                    }
                },
            )
        });
        for p in cell_problems {
            bad(p);
        }
        match read {
            Ok(hash) => {
                if let Ok(mut h) = j.sha256.lock() {
                    *h = Some(hash);
                }
            }
            Err(e) => bad(Problem::error(
                Code::FileUnreadable,
                format!("cannot read {}: {e}", self.name),
            )
            .at(self.name.clone())),
        }
        count
    }

    /// An empty file, or one in UTF-16 (what Windows PowerShell 5.1's `Out-File` and `>`
    /// write): said as for CSV, before the JSON reader would say "expected value".
    fn json_start_problem(&self, path: &std::path::Path) -> Option<Problem> {
        use std::io::Read;
        let mut head = [0u8; 4];
        let n = std::fs::File::open(path)
            .and_then(|mut f| f.read(&mut head))
            .unwrap_or(0);
        let head = &head[..n];
        if n == 0 || head == b"\xEF\xBB\xBF" {
            return Some(
                Problem::error(Code::EmptyFile, format!("{} is empty", self.name))
                    .at(self.name.clone())
                    .help("export the file again: a Graph JSON file holds at least one page or record"),
            );
        }
        let utf16 = head.starts_with(b"\xFF\xFE")
            || head.starts_with(b"\xFE\xFF")
            || (n >= 2 && (head[0] == 0 || head[1] == 0));
        utf16.then(|| {
            Problem::error(
                Code::Encoding,
                format!("{} is UTF-16, not UTF-8 JSON", self.name),
            )
            .at(self.name.clone())
            .help("save it as UTF-8 (PowerShell: Set-Content -Encoding utf8, or Out-File -Encoding utf8), as export-script does")
        })
    }

    /// Reads CSV bytes. Every failure is a located problem.
    pub fn from_csv(file: u16, name: String, bytes: Vec<u8>) -> Result<Table, Problem> {
        let text = text::decode(bytes).map_err(|e| undecodable(&name, e))?;
        let (start, skipped, hinted) = text::skip_preamble(&text);
        let header_line = text[start..].lines().next().unwrap_or("");
        if text[start..].trim().is_empty() {
            return Err(Problem::error(Code::EmptyFile, format!("{name} is empty")).at(name.clone()).help("export the file again: a snapshot file needs a header row and at least one record"));
        }
        let delim = hinted.unwrap_or_else(|| text::sniff_delimiter(header_line));
        if let Some((line, col)) = text::unclosed_quote(&text[start..], delim) {
            let line = line + skipped;
            let line_text = text.lines().nth(line - 1).unwrap_or("");
            return Err(Problem::error(Code::UnbalancedQuote, "a quoted field is never closed")
                .at(format!("{name}:{line}:{col}"))
                .snippet(line, line_text, &line_text[line_text.char_indices().nth(col - 1).map_or(0, |c| c.0)..], "this quote opens a field that runs to the end of the file")
                .help("the file was probably cut off or hand-edited: export it again, or close the quote"));
        }
        let mut reader = csv_reader(delim, &text[start..]);
        let mut rec = csv::StringRecord::new();
        let headers = match reader.read_record(&mut rec) {
            Ok(true) => rec.iter().map(|h| h.to_string()).collect(),
            Ok(false) => Vec::new(),
            Err(e) => {
                return Err(Problem::error(
                    Code::Encoding,
                    format!("cannot read the header of {name}: {e}"),
                )
                .at(name.clone()))
            }
        };
        Ok(Table {
            file,
            name,
            sheet: false,
            headers,
            header_row: 1 + skipped as u32,
            body: Body::Text {
                text,
                delim,
                start,
                line_offset: skipped as u32,
            },
        })
    }

    /// A large CSV file `scan` found clean, parsed straight from the file (see `stream`).
    pub fn streamed(
        name: String,
        path: std::path::PathBuf,
        file: std::fs::File,
        scanned: stream::Scanned,
    ) -> Table {
        Table {
            file: 0,
            name,
            sheet: false,
            headers: scanned.headers.clone(),
            header_row: 1 + scanned.skipped as u32,
            body: Body::Stream(Box::new(Streamed {
                path,
                scanned,
                file,
                sha256: std::sync::Mutex::new(None),
            })),
        }
    }

    /// For a streamed table, the SHA-256 of its file: of the bytes parsed when a full pass
    /// read them all, else read now. `None` for a table read whole (its caller hashed it).
    pub fn streamed_sha256(&self) -> Option<std::io::Result<String>> {
        if let Body::Json(j) = &self.body {
            if let Some(h) = j.sha256.lock().ok().and_then(|h| h.clone()) {
                return Some(Ok(h));
            }
            return Some(std::fs::read(&j.path).map(|b| super::sha256(&b)));
        }
        let Body::Stream(s) = &self.body else {
            return None;
        };
        if let Some(h) = s.sha256.lock().ok().and_then(|h| h.clone()) {
            return Some(Ok(h));
        }
        Some((|| {
            let mut tee = stream::Tee::open(&s.path, 0)?;
            std::io::copy(&mut tee, &mut std::io::sink())?;
            Ok(tee.finish(&s.scanned).0)
        })())
    }

    /// A spreadsheet sheet: the first non-empty row is the header.
    pub fn from_cells(
        file: u16,
        name: String,
        mut rows: Vec<(u32, Vec<String>)>,
    ) -> Result<Table, Problem> {
        let first = rows
            .iter()
            .position(|(_, cells)| cells.iter().any(|c| !c.trim().is_empty()));
        let Some(first) = first else {
            return Err(Problem::error(Code::EmptyFile, format!("{name} is empty"))
                .at(name.clone())
                .help("the sheet has no header row"));
        };
        let mut body = rows.split_off(first);
        let (header_row, mut headers) = body.remove(0);
        while headers.last().is_some_and(|h| h.trim().is_empty()) {
            headers.pop();
        }
        Ok(Table {
            file,
            name,
            sheet: true,
            headers,
            header_row,
            body: Body::Cells(body),
        })
    }

    /// Calls `f` for each record after the header. Rows whose field count differs from the
    /// header's, over-long cells and blank lines are reported to `bad` and skipped.
    pub fn for_each_row(&self, mut bad: impl FnMut(Problem), mut f: impl FnMut(&Row)) -> u64 {
        if self.is_json() {
            return self.for_each_json_row(None, &mut bad, &mut |_, row| f(row));
        }
        let mut count = 0u64;
        let width = self.headers.len();
        match &self.body {
            Body::Text {
                text,
                delim,
                start,
                line_offset,
            } => {
                let body = &text[*start..];
                let mut consume = |batch: &Batch| {
                    self.deliver(
                        batch,
                        width,
                        &mut bad,
                        &mut f,
                        &mut count,
                        |line_no, byte| {
                            let (line_no, byte) = record_start(body.as_bytes(), line_no, byte);
                            let line = body[byte..].split(['\n', '\r']).next().unwrap_or("");
                            (line_no + line_offset, line, None)
                        },
                    )
                };
                if body.len() < PIPELINE_BYTES {
                    tokenize(csv_reader(*delim, body), &mut Batch::default(), |b| {
                        consume(b)
                    });
                } else {
                    pipelined(csv_reader(*delim, body), consume);
                }
            }
            Body::Stream(s) => {
                let scanned = &s.scanned;
                let tee = match stream::Tee::open(&s.path, scanned.start) {
                    Ok(tee) => tee,
                    Err(e) => {
                        bad(Problem::error(
                            Code::FileUnreadable,
                            format!("cannot read {}: {e}", self.name),
                        )
                        .at(self.name.clone()));
                        return 0;
                    }
                };
                let reader = csv_builder(scanned.delim)
                    .buffer_capacity(1 << 20)
                    .from_reader(tee);
                let mut stopped = false;
                let mut consume = |batch: &Batch| {
                    let go_on = self.deliver(
                        batch,
                        width,
                        &mut bad,
                        &mut f,
                        &mut count,
                        |line_no, byte| {
                            // `scan` streams only files whose lines all end in LF, or all in
                            // CRLF with no blank line: a CRLF record's offset is then always
                            // the LF before it (see `record_start`).
                            let crlf = u32::from(scanned.crlf);
                            let at = scanned.start + byte as u64 + u64::from(crlf);
                            (
                                line_no + crlf + scanned.skipped as u32,
                                "",
                                Some((&s.file, at)),
                            )
                        },
                    );
                    stopped |= !go_on;
                    go_on
                };
                let reader = pipelined(reader, &mut consume);
                let tee = reader.into_inner();
                let whole = !stopped && tee.read() == scanned.len;
                let (hash, same) = tee.finish(scanned);
                if !same {
                    bad(Problem::error(
                        Code::FileUnreadable,
                        format!("{} changed while licshift read it", self.name),
                    )
                    .at(self.name.clone())
                    .help("let the export finish, then run licshift again"));
                } else if whole {
                    if let Ok(mut h) = s.sha256.lock() {
                        *h = Some(hash);
                    }
                }
            }
            Body::Json(_) => {}
            Body::Cells(rows) => {
                for (r, cells) in rows {
                    if cells.iter().all(|c| c.trim().is_empty()) {
                        continue;
                    }
                    let row = Row {
                        origin: Origin {
                            file: self.file,
                            row: *r,
                            ..Origin::default()
                        },
                        cells: RowCells::Sheet(cells),
                        line: "",
                        at: None,
                    };
                    if self.row_ok(&row, usize::MAX, &mut bad) {
                        count += 1;
                        f(&row);
                    }
                }
            }
        }
        count
    }

    /// Hands a tokenised batch's records to `f` as rows. `place` turns the line and offset the
    /// csv reader gave a record into its row number, its text when at hand, and its offset in
    /// the file when not. False once the batch ended in a read error, reported to `bad`.
    fn deliver<'t>(
        &'t self,
        batch: &Batch,
        width: usize,
        bad: &mut impl FnMut(Problem),
        f: &mut impl FnMut(&Row),
        count: &mut u64,
        place: impl Fn(u32, usize) -> (u32, &'t str, Option<(&'t std::fs::File, u64)>),
    ) -> bool {
        for (rec, line_no, byte) in &batch.records {
            if rec.len() == 1 && rec.get(0).is_some_and(|c| c.is_empty()) {
                continue;
            }
            let (row_no, line, at) = place(*line_no, *byte);
            let row = Row {
                origin: Origin {
                    file: self.file,
                    row: row_no,
                    ..Origin::default()
                },
                cells: RowCells::Csv(rec),
                line,
                at,
            };
            if self.row_ok(&row, width, bad) {
                *count += 1;
                f(&row);
            }
        }
        if let Some(e) = &batch.error {
            bad(
                Problem::error(Code::Encoding, format!("cannot read {}: {e}", self.name))
                    .at(self.name.clone()),
            );
            return false;
        }
        true
    }

    fn row_ok(&self, row: &Row, width: usize, bad: &mut impl FnMut(Problem)) -> bool {
        // Two exports pasted into one file repeat the header; its words are no record.
        if row.len() == self.headers.len()
            && (0..row.len()).all(|i| row.get(i) == self.headers[i])
            && !self.headers.is_empty()
        {
            bad(
                Problem::error(Code::HeaderRepeated, "the header row repeats here")
                    .at(self.locate(row.origin))
                    .snippet(
                        row.origin.row as usize,
                        &row.line_text(),
                        "",
                        "header again",
                    )
                    .help("two exports were concatenated: keep one header, or split the file"),
            );
            return false;
        }
        if width != usize::MAX && row.len() != width {
            let n = row.len();
            bad(Problem::error(
                Code::FieldCount,
                format!("row has {n} fields, the header has {width}"),
            )
            .at(self.locate(row.origin))
            .snippet(
                row.origin.row as usize,
                &row.line_text(),
                "",
                format!("{n} fields"),
            )
            .help(if n < width {
                "the row is cut short: the file may be truncated, or a delimiter is missing"
            } else {
                "a value contains the delimiter without quotes around it"
            }));
            return false;
        }
        self.cells_ok(row, bad)
    }

    /// The rule every cell of every format keeps, CSV, spreadsheet and Graph JSON alike: at
    /// most 64 KiB, and no control character but TAB and line breaks (a NUL or ESC in a name
    /// would reach waves.csv, a script and the terminal).
    fn cells_ok(&self, row: &Row, bad: &mut dyn FnMut(Problem)) -> bool {
        for i in 0..row.len() {
            let cell = row.get(i);
            if cell.len() > MAX_CELL {
                bad(Problem::error(
                    Code::FieldTooLong,
                    format!(
                        "a field of {} bytes is longer than the {} KiB any export writes",
                        cell.len(),
                        MAX_CELL / 1024
                    ),
                )
                .at(self.locate(row.origin.at_col(i)))
                .help(if self.is_json() {
                    "no name, id or plan list of a tenant is this long: the export was damaged"
                } else {
                    "a quote in an earlier field probably swallowed the rest of the file"
                }));
                return false;
            }
            if let Some(c) = cell
                .chars()
                .find(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n'))
            {
                bad(Problem::error(
                    if c == '\0' {
                        Code::NulByte
                    } else {
                        Code::BadValue
                    },
                    format!(
                        "the value holds the control character U+{:04X}: {}",
                        c as u32,
                        crate::diag::quote(cell)
                    ),
                )
                .at(self.locate(row.origin.at_col(i)))
                .help(
                    "no name or id of a tenant holds one: the export was damaged or tampered with",
                ));
                return false;
            }
        }
        true
    }

    pub fn locate(&self, o: Origin) -> String {
        if let Body::Json(j) = &self.body {
            return crate::diag::locate_json(&self.name, &j.layout, o);
        }
        if self.sheet {
            if o.col == 0 {
                format!("{}!{}", self.name, o.row)
            } else {
                format!(
                    "{}!{}{}",
                    self.name,
                    crate::diag::column_letters(o.col),
                    o.row
                )
            }
        } else if o.col == 0 {
            format!("{}:{}", self.name, o.row)
        } else {
            format!("{}:{}:{}", self.name, o.row, o.col)
        }
    }

    /// The header cell of column `col`, as a location.
    pub fn header_origin(&self, col: usize) -> Origin {
        Origin {
            file: self.file,
            row: self.header_row,
            col: col as u32 + 1,
            ..Origin::default()
        }
    }

    /// About how many records follow the header, to size the tables a loader fills and spare
    /// them rehashing a million entries step by step. Every file this is asked of has a GUID
    /// per record, so a record is never under 32 bytes: a file of blank lines cannot make a
    /// loader reserve gigabytes.
    pub fn record_estimate(&self) -> usize {
        match &self.body {
            Body::Text { text, start, .. } => {
                let body = &text.as_bytes()[*start..];
                let lines = memchr::memchr_iter(b'\n', body).count();
                lines.min(body.len() / 32)
            }
            Body::Cells(rows) => rows.len(),
            Body::Json(j) => {
                let len = std::fs::metadata(&j.path).map_or(0, |m| m.len());
                (len / j.view.bytes_per_row()) as usize
            }
            Body::Stream(s) => {
                let body = s.scanned.len - s.scanned.start;
                s.scanned.lines.min((body / 32) as usize)
            }
        }
    }

    pub fn header_line(&self) -> String {
        self.headers.join(",")
    }
}

/// Where a record really starts, and on which line. The csv reader gives the offset where it
/// began reading the record: after a CRLF that is the LF (the reader ended the last record at
/// the CR), and after a blank CRLF line that is the blank line too. A record never starts with a
/// line end, so the line ends before it are skipped and counted.
fn record_start(body: &[u8], line_no: u32, byte: usize) -> (u32, usize) {
    let (mut line_no, mut byte) = (line_no, byte);
    while let Some(&c @ (b'\r' | b'\n')) = body.get(byte) {
        line_no += u32::from(c == b'\n');
        byte += 1;
    }
    (line_no, byte)
}

/// A body this long is split between two threads: one tokenises records while the other loads
/// them. Shorter ones are read on the calling thread, where a thread would cost more than it
/// saves.
const PIPELINE_BYTES: usize = 1 << 20;
/// Records per batch handed from the tokenising thread to the loading one.
const BATCH_RECORDS: usize = 4096;

/// Records tokenised ahead of the loader, each with its line and byte offset in the body; a
/// read error ends the batch and the table.
#[derive(Default)]
struct Batch {
    records: Vec<(csv::StringRecord, u32, usize)>,
    len: usize,
    error: Option<csv::Error>,
}

/// Reads the body's records after the header into `batch`, calling `deliver` each time it is
/// full (and once at the end). `deliver` returns false to stop; the batch it gets back is
/// refilled in place, so the records' buffers are reused.
fn tokenize<R: std::io::Read>(
    mut reader: csv::Reader<R>,
    batch: &mut Batch,
    mut deliver: impl FnMut(&mut Batch) -> bool,
) -> csv::Reader<R> {
    let mut header = csv::StringRecord::new();
    // The header was read by `from_csv`; skip it.
    let _ = reader.read_record(&mut header);
    loop {
        if batch.len == batch.records.len() {
            batch.records.push(Default::default());
        }
        let slot = &mut batch.records[batch.len];
        match reader.read_record(&mut slot.0) {
            Ok(true) => {
                let pos = slot
                    .0
                    .position()
                    .cloned()
                    .unwrap_or_else(csv::Position::new);
                slot.1 = pos.line() as u32;
                slot.2 = pos.byte() as usize;
                batch.len += 1;
                if batch.len == BATCH_RECORDS {
                    if !deliver(batch) {
                        return reader;
                    }
                    batch.len = 0;
                }
            }
            Ok(false) => break,
            Err(e) => {
                batch.error = Some(e);
                break;
            }
        }
    }
    batch.records.truncate(batch.len);
    deliver(batch);
    reader
}

/// `tokenize` on a second thread, `consume` on this one; batches go back and forth so only
/// three are ever allocated.
fn pipelined<R: std::io::Read + Send>(
    reader: csv::Reader<R>,
    mut consume: impl FnMut(&Batch) -> bool,
) -> csv::Reader<R> {
    use std::sync::mpsc::sync_channel;
    let (full_tx, full_rx) = sync_channel::<Batch>(2);
    let (empty_tx, empty_rx) = sync_channel::<Batch>(3);
    for _ in 0..3 {
        let _ = empty_tx.send(Batch::default());
    }
    std::thread::scope(|scope| {
        let tokenizer = scope.spawn(move || {
            let Ok(mut batch) = empty_rx.recv() else {
                return reader;
            };
            tokenize(reader, &mut batch, |b| {
                let mut next = match empty_rx.recv() {
                    Ok(next) => next,
                    Err(_) => return false,
                };
                next.len = 0;
                std::mem::swap(b, &mut next);
                full_tx.send(next).is_ok()
            })
        });
        // Owned here, so that stopping early drops them and the tokeniser, blocked on one of
        // them, returns before the scope waits for it.
        let (full_rx, empty_tx) = (full_rx, empty_tx);
        for mut batch in full_rx.iter() {
            batch.records.truncate(batch.len);
            let go_on = consume(&batch);
            if !go_on || batch.error.is_some() {
                break;
            }
            let _ = empty_tx.send(batch);
        }
        drop((full_rx, empty_tx));
        match tokenizer.join() {
            Ok(reader) => reader,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// How every CSV body is read: records of any width (the loader reports a wrong one), the
/// header as a record like the others.
fn csv_builder(delim: u8) -> csv::ReaderBuilder {
    let mut b = csv::ReaderBuilder::new();
    b.has_headers(false).flexible(true).delimiter(delim);
    b
}

pub(super) fn csv_reader(delim: u8, text: &str) -> csv::Reader<&[u8]> {
    csv_builder(delim).from_reader(text.as_bytes())
}

fn undecodable(name: &str, e: Undecodable) -> Problem {
    match e {
        Undecodable::InvalidUtf8 { line, col, byte } => Problem::error(Code::Encoding, format!("byte 0x{byte:02X} is not valid UTF-8"))
            .at(format!("{name}:{line}:{col}"))
            .help("save the export as UTF-8 (Excel: \"CSV UTF-8\"; Windows PowerShell: Export-Csv -Encoding UTF8)"),
        Undecodable::Utf16WithoutBom => Problem::error(Code::Encoding, "the file looks like UTF-16 without a byte-order mark")
            .at(name.to_string())
            .help("UTF-16 is read only with its BOM; save the export as UTF-8, or as UTF-16 with a BOM (PowerShell's Out-File writes one)"),
        Undecodable::InvalidUtf16 { line } => Problem::error(Code::Encoding, "the UTF-16 text holds an unpaired surrogate")
            .at(format!("{name}:{line}"))
            .help("export the file again"),
        Undecodable::Nul { line, col } => Problem::error(Code::NulByte, "the file contains a NUL byte")
            .at(format!("{name}:{line}:{col}"))
            .help("text exports never hold NUL bytes: this is a binary or damaged file"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows (line, cells) and the count of rows refused.
    type Read = (Vec<(u32, Vec<String>)>, usize);

    /// Rows as a loader sees them: line number and cells.
    fn collect(table: &Table) -> Read {
        let mut out = Vec::new();
        let mut bad = 0;
        table.for_each_row(
            |_| bad += 1,
            |row| {
                out.push((
                    row.origin.row,
                    (0..row.len()).map(|i| row.get(i).to_string()).collect(),
                ))
            },
        );
        (out, bad)
    }

    /// The rows of `csv` read whole.
    fn rows(csv: &str) -> Read {
        collect(&Table::from_csv(0, "t.csv".into(), csv.as_bytes().to_vec()).unwrap())
    }

    /// The rows of `csv` read from a file with the streamed path (`stream`); `None` when
    /// `stream::scan` leaves the file to the whole-file path.
    fn streamed_rows(csv: &str) -> Option<Read> {
        static FILES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("licshift-table-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("t-{n}.csv"));
        std::fs::write(&path, csv).unwrap();
        let mut file = std::fs::File::open(&path).unwrap();
        let scanned = stream::scan(&mut file, 1).unwrap()?;
        Some(collect(&Table::streamed(
            "t.csv".into(),
            path,
            file,
            scanned,
        )))
    }

    /// Windows tools end lines in CRLF. The csv reader takes each LF for the start of the next
    /// record; rows must still carry their own line numbers, blank lines and quoted line breaks
    /// included, read whole or streamed, and a problem's snippet is the row's own text.
    #[test]
    fn crlf_rows_carry_their_own_line_numbers() {
        let csv = "a,b\r\n1,x\r\n\r\n2,\"two\r\nlines\"\r\n3,y\r\n4\r\n5,z\r\n";
        let want = vec![
            (2, vec!["1".to_string(), "x".into()]),
            (4, vec!["2".into(), "two\r\nlines".into()]),
            (6, vec!["3".into(), "y".into()]),
            (8, vec!["5".into(), "z".into()]),
        ];
        assert_eq!(rows(csv), (want, 1));
        // A blank CRLF line is left to the whole-file path, which looks at every line end.
        assert_eq!(streamed_rows(csv), None);
        let no_blank = csv.replace("\r\n\r\n", "\r\n");
        let want = vec![
            (2, vec!["1".to_string(), "x".into()]),
            (3, vec!["2".into(), "two\r\nlines".into()]),
            (5, vec!["3".into(), "y".into()]),
            (7, vec!["5".into(), "z".into()]),
        ];
        assert_eq!(rows(&no_blank), (want.clone(), 1));
        assert_eq!(streamed_rows(&no_blank), Some((want, 1)));
        let table = Table::from_csv(0, "t.csv".into(), csv.as_bytes().to_vec()).unwrap();
        let mut lines = Vec::new();
        table.for_each_row(|_| {}, |row| lines.push(row.line_text().into_owned()));
        assert_eq!(lines, ["1,x", "2,\"two", "3,y", "5,z"]);
    }

    #[test]
    fn a_long_body_read_on_two_threads_gives_every_row_in_order_with_its_line() {
        // Past PIPELINE_BYTES, with the awkward cases on both sides of batch boundaries:
        // quoted line breaks (a record spans lines), blank lines, short rows.
        let mut csv = String::from("a,b,c\n");
        let mut want = Vec::new();
        let mut line = 2u32;
        let mut bad_rows = 0;
        for i in 0..60_000u32 {
            match i % 997 {
                0 => {
                    csv += &format!("{i},\"two\nlines\",x\n");
                    want.push((line, vec![i.to_string(), "two\nlines".into(), "x".into()]));
                    line += 2;
                }
                1 => {
                    csv += "\n";
                    line += 1;
                }
                2 => {
                    csv += &format!("{i},short\n");
                    bad_rows += 1;
                    line += 1;
                }
                _ => {
                    csv += &format!("{i},user{i}@contoso.test,\"q,{i}\"\n");
                    want.push((
                        line,
                        vec![
                            i.to_string(),
                            format!("user{i}@contoso.test"),
                            format!("q,{i}"),
                        ],
                    ));
                    line += 1;
                }
            }
        }
        assert!(csv.len() > PIPELINE_BYTES);
        let (got, bad) = rows(&csv);
        assert_eq!(bad, bad_rows);
        assert_eq!(got.len(), want.len());
        assert_eq!(got, want);
        // The same rows read on one thread, from a body short enough not to be split.
        let short: String = csv.lines().take(3000).map(|l| format!("{l}\n")).collect();
        assert!(short.len() < PIPELINE_BYTES);
        let (got_short, _) = rows(&short);
        assert_eq!(got_short[..], got[..got_short.len()]);
        // Streamed from a file, with LF and with CRLF line ends.
        assert_eq!(streamed_rows(&csv), Some((want.clone(), bad_rows)));
        let crlf = csv.replace('\n', "\r\n");
        assert_eq!(rows(&crlf).1, bad_rows);
        let want_crlf: Vec<_> = want
            .iter()
            .map(|(l, cells)| (*l, cells.iter().map(|c| c.replace('\n', "\r\n")).collect()))
            .collect();
        assert_eq!(rows(&crlf).0, want_crlf);
        assert_eq!(
            streamed_rows(&crlf),
            None,
            "blank CRLF lines are read whole"
        );
        let no_blank = crlf.replace("\r\n\r\n", "\r\n");
        assert_eq!(streamed_rows(&no_blank), Some(rows(&no_blank)));
    }
}
