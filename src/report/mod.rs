//! report: results → bytes. One module per output; every list is sorted before it is written,
//! never in hash order, so the same inputs give the same bytes.

pub mod bridge;
pub mod diff;
pub mod disk;
pub mod explain;
pub mod export_script;
pub mod html;
pub mod inspect;
pub mod markdown;
pub mod plan_files;
pub mod powershell;
pub mod row;
pub mod rules;
pub mod suggest;
pub mod verify;
pub mod xlsx;

use std::borrow::Cow;
use std::io::Write;

/// OWASP CSV injection: a cell that starts with `=`, `+`, `-`, `@`, TAB or CR would run as a
/// formula in a reviewer's spreadsheet, so it gets a leading `'`.
pub fn formula_safe(cell: &str) -> Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

/// A CSV writer whose every cell goes through `formula_safe`.
pub struct SafeCsv<W: Write> {
    inner: csv::Writer<W>,
}

impl<W: Write> SafeCsv<W> {
    pub fn new(w: W) -> SafeCsv<W> {
        SafeCsv {
            inner: csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(w),
        }
    }

    pub fn row<I, S>(&mut self, cells: I) -> std::io::Result<()>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for c in cells {
            self.inner
                .write_field(formula_safe(c.as_ref()).as_bytes())
                .map_err(std::io::Error::other)?;
        }
        self.inner
            .write_record(None::<&[u8]>)
            .map_err(std::io::Error::other)
    }

    pub fn finish(self) -> std::io::Result<W> {
        self.inner
            .into_inner()
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}

/// A plain table for the terminal.
pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut b = tabled::builder::Builder::default();
    b.push_record(header.iter().map(|s| s.to_string()));
    for r in rows {
        b.push_record(r);
    }
    let mut t = b.build();
    t.with(tabled::settings::Style::sharp());
    t.to_string()
}

/// Writes `items` in order, rendering chunks of `chunk` items on every core. Chunks are rendered
/// a batch at a time, so memory holds a batch, not the file, and the bytes are the same whatever
/// the number of threads.
pub fn write_ordered<T: Sync>(
    w: &mut impl Write,
    items: &[T],
    chunk: usize,
    render: impl Fn(&[T], &mut Vec<u8>) -> std::io::Result<()> + Sync,
) -> std::io::Result<()> {
    use rayon::prelude::*;
    const BATCH: usize = 32;
    // The buffers are reused from batch to batch: fresh ones would fault in new pages for every
    // byte of a file that may be half a gigabyte.
    let mut bufs: Vec<Vec<u8>> = vec![Vec::new(); BATCH];
    for batch in items.chunks(chunk * BATCH) {
        let used = batch.len().div_ceil(chunk);
        bufs[..used]
            .par_iter_mut()
            .zip(batch.par_chunks(chunk))
            .try_for_each(|(buf, part)| {
                buf.clear();
                render(part, buf)
            })?;
        for buf in &bufs[..used] {
            w.write_all(buf)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutralises_formulas() {
        for bad in ["=1+2", "+31 6", "-x", "@SUM(A1)", "\tx", "\rx"] {
            assert!(formula_safe(bad).starts_with('\''), "{bad}");
        }
        assert_eq!(formula_safe("alice@contoso.com"), "alice@contoso.com");
        let mut w = SafeCsv::new(Vec::new());
        w.row(["=cmd|' /C calc'!A0", "ok"]).unwrap();
        let out = String::from_utf8(w.finish().unwrap()).unwrap();
        assert_eq!(out, "'=cmd|' /C calc'!A0,ok\r\n");
    }
}
