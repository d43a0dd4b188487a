//! Spreadsheets (xlsx, xlsm, xls, ods) through calamine: a sheet becomes rows of text cells
//! with their real row numbers, so a problem points at `Sheet!C17`.

use calamine::{Data, Reader, Sheets};
use std::io::Cursor;

/// A sheet larger than this many cells is refused: real exports stay far below, and a
/// decompression bomb dressed as a workbook must not take the machine's memory.
pub const MAX_CELLS: usize = 60_000_000;

pub struct Workbook {
    book: Sheets<Cursor<Vec<u8>>>,
}

pub fn is_spreadsheet(path: &std::path::Path) -> bool {
    matches!(ext(path).as_str(), "xlsx" | "xlsm" | "xls" | "ods" | "xlsb")
}

fn ext(path: &std::path::Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

impl Workbook {
    pub fn open(path: &std::path::Path, bytes: Vec<u8>) -> Result<Workbook, String> {
        if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) && ext(path) != "xls" {
            // Office encrypts a protected .xlsx into an OLE container.
            return Err("the workbook is password-protected (or not an .xlsx)".into());
        }
        check_zip(&bytes)?;
        let rs = Cursor::new(bytes);
        let book = match ext(path).as_str() {
            "xls" => calamine::open_workbook_from_rs(rs)
                .map(Sheets::Xls)
                .map_err(|e| e.to_string()),
            "ods" => calamine::open_workbook_from_rs(rs)
                .map(Sheets::Ods)
                .map_err(|e| e.to_string()),
            "xlsb" => calamine::open_workbook_from_rs(rs)
                .map(Sheets::Xlsb)
                .map_err(|e| e.to_string()),
            _ => calamine::open_workbook_from_rs(rs)
                .map(Sheets::Xlsx)
                .map_err(|e| e.to_string()),
        };
        book.map(|book| Workbook { book }).map_err(|e| {
            if e.contains("password") || e.contains("Encrypted") || e.contains("encrypt") {
                "the workbook is password-protected".to_string()
            } else {
                format!("not a readable workbook ({e})")
            }
        })
    }

    pub fn sheet_names(&self) -> Vec<String> {
        self.book.sheet_names()
    }

    /// Names of sheets hidden in the workbook: reported, since hidden data surprises people.
    pub fn hidden_sheets(&self) -> Vec<String> {
        self.book
            .sheets_metadata()
            .iter()
            .filter(|s| s.visible != calamine::SheetVisible::Visible)
            .map(|s| s.name.clone())
            .collect()
    }

    /// Rows of a sheet as text, numbered from 1 as in the spreadsheet.
    pub fn rows(&mut self, sheet: &str) -> Result<Vec<(u32, Vec<String>)>, String> {
        // An xlsx sheet declares its size (`<dimension ref="A1:A99999999">`), and a dense
        // range is allocated for it before a cell is read: one edited reference would take all
        // the machine's memory. Its cells are read as a stream instead, and only those there.
        if let Sheets::Xlsx(book) = &mut self.book {
            let mut reader = book
                .worksheet_cells_reader(sheet)
                .map_err(|e| e.to_string())?;
            let mut cells = Vec::new();
            while let Some(cell) = reader.next_cell().map_err(|e| e.to_string())? {
                let (r, c) = cell.get_position();
                let text = cell_text(&Data::from(cell.get_value().clone()));
                if text.is_empty() {
                    continue;
                }
                if r >= MAX_ROWS || c >= MAX_COLUMNS {
                    return Err(format!(
                        "cell {}{} is beyond the last one a worksheet can hold (XFD1048576)",
                        crate::diag::column_letters(c.saturating_add(1)),
                        u64::from(r) + 1
                    ));
                }
                cells.push((r, c, text));
                if cells.len() > MAX_CELLS {
                    return Err(format!(
                        "the sheet has more than {MAX_CELLS} cells, more than any export"
                    ));
                }
            }
            return sparse_rows(cells);
        }
        let range = self
            .book
            .worksheet_range(sheet)
            .map_err(|e| e.to_string())?;
        let (h, w) = range.get_size();
        if h.saturating_mul(w) > MAX_CELLS {
            return Err(format!(
                "the sheet has {h} × {w} cells, more than any export"
            ));
        }
        let (r0, c0) = range.start().unwrap_or((0, 0));
        let mut out = Vec::with_capacity(h);
        for (i, row) in range.rows().enumerate() {
            let mut cells = vec![String::new(); c0 as usize];
            cells.extend(row.iter().map(cell_text));
            out.push((r0 + i as u32 + 1, cells));
        }
        Ok(out)
    }
}

/// A worksheet's limits (Excel's): rows and columns past them are no export's.
const MAX_ROWS: u32 = 1 << 20;
const MAX_COLUMNS: u32 = 1 << 14;

/// The rows that hold cells, each as wide as its last cell; a sheet whose rows would hold more
/// than `MAX_CELLS` cells between them is refused before they are built.
fn sparse_rows(mut cells: Vec<(u32, u32, String)>) -> Result<Vec<(u32, Vec<String>)>, String> {
    cells.sort_by_key(|c| (c.0, c.1));
    let mut dense = 0usize;
    let mut last = None;
    for &(r, c, _) in cells.iter().rev() {
        if last != Some(r) {
            dense += c as usize + 1;
            last = Some(r);
        }
    }
    if dense > MAX_CELLS {
        return Err(format!(
            "the sheet's rows span {dense} cells, more than any export"
        ));
    }
    let mut out: Vec<(u32, Vec<String>)> = Vec::new();
    for (r, c, text) in cells {
        if out.last().is_none_or(|l| l.0 != r + 1) {
            out.push((r + 1, Vec::new()));
        }
        let row = &mut out.last_mut().expect("a row was pushed").1;
        row.resize(c as usize, String::new());
        row.push(text);
    }
    Ok(out)
}

/// A cell as the text an export would have held. Whole numbers lose Excel's `.0`.
pub fn cell_text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Bool(true) => "TRUE".into(),
        Data::Bool(false) => "FALSE".into(),
        other => other.to_string(),
    }
}

/// What a workbook's parts may inflate to, in all. Real exports are a few hundred MB at most.
pub const MAX_INFLATED: u64 = 1 << 30;

fn u16_at(b: &[u8], i: usize) -> Option<u64> {
    Some(u16::from_le_bytes(b.get(i..i + 2)?.try_into().ok()?) as u64)
}

fn u32_at(b: &[u8], i: usize) -> Option<u64> {
    Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?) as u64)
}

/// Reads a zip's central directory (xlsx, xlsm and ods are zips) and refuses one whose parts
/// would inflate beyond `MAX_INFLATED` — before anything is decompressed, so a bomb dressed as
/// a workbook costs nothing. Files that are not zips are left to calamine.
pub fn check_zip(b: &[u8]) -> Result<(), String> {
    if !b.starts_with(b"PK") {
        return Ok(());
    }
    let damaged = || "a damaged zip: the workbook's directory cannot be read".to_string();
    let lo = b.len().saturating_sub(65_557);
    let eocd = (lo..b.len().saturating_sub(21))
        .rev()
        .find(|&i| b[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
        .ok_or_else(damaged)?;
    let entries = u16_at(b, eocd + 10).ok_or_else(damaged)?;
    let mut p = u32_at(b, eocd + 16).ok_or_else(damaged)? as usize;
    let mut total = 0u64;
    for _ in 0..entries {
        if b.get(p..p + 4) != Some(&[0x50, 0x4b, 0x01, 0x02][..]) {
            return Err(damaged());
        }
        let (comp, size) = (
            u32_at(b, p + 20).ok_or_else(damaged)?,
            u32_at(b, p + 24).ok_or_else(damaged)?,
        );
        if comp == 0xFFFF_FFFF || size == 0xFFFF_FFFF {
            return Err("a part of the workbook is larger than 4 GB".into());
        }
        total += size;
        let skip = 46
            + u16_at(b, p + 28).ok_or_else(damaged)?
            + u16_at(b, p + 30).ok_or_else(damaged)?
            + u16_at(b, p + 32).ok_or_else(damaged)?;
        p += skip as usize;
    }
    if total > MAX_INFLATED {
        return Err(format!(
            "its parts would inflate to {} MB from {} KB: a decompression bomb, not an export",
            total >> 20,
            b.len() >> 10
        ));
    }
    Ok(())
}
