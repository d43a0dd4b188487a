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
/// formula in a reviewer's spreadsheet, so it gets a leading `'`. licshift's reader takes that
/// `'` off again (`ingest::cells::clean`), so a name that itself starts with quotes before
/// such a character gets one more: every file licshift writes reads back exactly.
pub fn formula_safe(cell: &str) -> Cow<'_, str> {
    if row::formula_start(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
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
/// Text for a person's terminal: every control character but the line break, and the bidi
/// controls that reorder what a terminal shows, becomes U+FFFD, so a name from an export can
/// neither move the cursor, recolour the screen nor disguise itself. The one sanitiser of
/// every line licshift prints for people (diagnostics quote names the same way).
pub fn terminal(s: &str) -> Cow<'_, str> {
    let bad = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    };
    if !s.chars().any(bad) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| if bad(c) { '\u{FFFD}' } else { c })
            .collect(),
    )
}

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
