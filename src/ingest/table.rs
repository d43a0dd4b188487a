//! One input table, from a CSV file or a spreadsheet sheet, read as rows of text cells that
//! remember their file, row and column.

use super::text::{self, Undecodable};
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
}

/// One row handed to a file loader.
pub struct Row<'a> {
    pub origin: Origin,
    cells: RowCells<'a>,
    line: &'a str,
}

enum RowCells<'a> {
    Csv(&'a csv::StringRecord),
    Sheet(&'a [String]),
}

impl Row<'_> {
    pub fn get(&self, col: usize) -> &str {
        match &self.cells {
            RowCells::Csv(r) => r.get(col).unwrap_or(""),
            RowCells::Sheet(c) => c.get(col).map_or("", String::as_str),
        }
    }

    pub fn len(&self) -> usize {
        match &self.cells {
            RowCells::Csv(r) => r.len(),
            RowCells::Sheet(c) => c.len(),
        }
    }

    /// The whole row as it stands in the file, for the snippet under a message.
    pub fn line_text(&self) -> Cow<'_, str> {
        if !self.line.is_empty() {
            return Cow::Borrowed(self.line);
        }
        let cells: Vec<&str> = (0..self.len()).map(|i| self.get(i)).collect();
        Cow::Owned(cells.join(","))
    }
}

impl Table {
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
                let mut reader = csv_reader(*delim, body);
                let mut rec = csv::StringRecord::new();
                // The header was read by `from_csv`; skip it.
                let _ = reader.read_record(&mut rec);
                loop {
                    match reader.read_record(&mut rec) {
                        Ok(false) => break,
                        Ok(true) => {}
                        Err(e) => {
                            bad(Problem::error(
                                Code::Encoding,
                                format!("cannot read {}: {e}", self.name),
                            )
                            .at(self.name.clone()));
                            break;
                        }
                    }
                    let pos = rec.position().cloned().unwrap_or_else(csv::Position::new);
                    let line_no = pos.line() as u32 + line_offset;
                    let byte = pos.byte() as usize;
                    let line = body[byte..].split(['\n', '\r']).next().unwrap_or("");
                    if rec.len() == 1 && rec.get(0).is_some_and(|c| c.is_empty()) {
                        continue;
                    }
                    let row = Row {
                        origin: Origin {
                            file: self.file,
                            row: line_no,
                            col: 0,
                        },
                        cells: RowCells::Csv(&rec),
                        line,
                    };
                    if self.row_ok(&row, width, &mut bad) {
                        count += 1;
                        f(&row);
                    }
                }
            }
            Body::Cells(rows) => {
                for (r, cells) in rows {
                    if cells.iter().all(|c| c.trim().is_empty()) {
                        continue;
                    }
                    let row = Row {
                        origin: Origin {
                            file: self.file,
                            row: *r,
                            col: 0,
                        },
                        cells: RowCells::Sheet(cells),
                        line: "",
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
                .help("a quote in an earlier field probably swallowed the rest of the file"));
                return false;
            }
        }
        true
    }

    pub fn locate(&self, o: Origin) -> String {
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
        }
    }

    pub fn header_line(&self) -> String {
        self.headers.join(",")
    }
}

fn csv_reader(delim: u8, text: &str) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delim)
        .from_reader(text.as_bytes())
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
