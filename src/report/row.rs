//! Rows appended straight to a byte buffer, for the files with a row per user, plan or removal
//! (diff.csv, waves.csv, blocked.csv, plan.json's lists, the wave scripts). A million-user plan
//! writes some fifteen million cells: a `String` per cell and the csv crate's per-field
//! bookkeeping were most of the time spent writing. The bytes are exactly those `SafeCsv` and
//! serde_json write; the tests below hold the two side by side.

use crate::model::Guid;

/// Bytes that make the csv crate quote a field (its `QuoteStyle::Necessary` with a comma
/// delimiter and CRLF terminator).
fn needs_quotes(s: &[u8]) -> bool {
    s.iter().any(|&b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
}

/// What `formula_safe` guards against: a first byte a spreadsheet would run as a formula, or
/// quotes before one (so the `'` the reader takes off leaves the name as it was).
pub(crate) fn formula_start(s: &str) -> bool {
    matches!(
        s.trim_start_matches('\'').as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    )
}

/// One CSV record being appended to a buffer. Every text cell is formula-safe.
pub struct CsvRow<'b> {
    buf: &'b mut Vec<u8>,
    first: bool,
}

impl<'b> CsvRow<'b> {
    pub fn new(buf: &'b mut Vec<u8>) -> CsvRow<'b> {
        CsvRow { buf, first: true }
    }

    /// A record whose first cells are already in `buf`.
    pub fn continuing(buf: &'b mut Vec<u8>) -> CsvRow<'b> {
        CsvRow { buf, first: false }
    }

    fn sep(&mut self) {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
    }

    pub fn text(&mut self, s: &str) -> &mut Self {
        self.parts(&[s])
    }

    /// One cell made of several pieces (`E3 (HR); EMS (direct)`), without joining them first.
    pub fn parts(&mut self, parts: &[&str]) -> &mut Self {
        self.sep();
        let lead = parts.iter().find(|p| !p.is_empty()).copied().unwrap_or("");
        let formula = formula_start(lead);
        let quote = parts.iter().any(|p| needs_quotes(p.as_bytes()));
        if quote {
            self.buf.push(b'"');
        }
        if formula {
            self.buf.push(b'\'');
        }
        for p in parts {
            if quote {
                for &b in p.as_bytes() {
                    if b == b'"' {
                        self.buf.push(b'"');
                    }
                    self.buf.push(b);
                }
            } else {
                self.buf.extend_from_slice(p.as_bytes());
            }
        }
        if quote {
            self.buf.push(b'"');
        }
        self
    }

    /// A GUID never needs quoting nor formula guarding: it starts with a hex digit.
    pub fn guid(&mut self, g: Guid) -> &mut Self {
        self.sep();
        self.buf.extend_from_slice(&g.encode());
        self
    }

    pub fn number(&mut self, n: u64) -> &mut Self {
        self.sep();
        push_number(self.buf, n);
        self
    }

    pub fn end(&mut self) {
        self.buf.extend_from_slice(b"\r\n");
    }
}

pub fn push_number(buf: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[i..]);
}

/// A PowerShell single-quoted literal (see `powershell::ps_quote`), appended.
pub fn ps_str(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'\'');
    // Every quote character is `'` or starts with 0xE2 (U+2018–U+201B): without either, the
    // text goes in as it is.
    if memchr::memchr2(b'\'', 0xE2, s.as_bytes()).is_none() {
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'\'');
        return;
    }
    for c in s.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}') {
            let mut tmp = [0u8; 4];
            buf.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
        }
        let mut tmp = [0u8; 4];
        buf.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
    }
    buf.push(b'\'');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::SafeCsv;

    const AWKWARD: &[&str] = &[
        "",
        "plain",
        "a,b",
        "say \"hi\"",
        "line\nbreak",
        "cr\rhere",
        "=1+2",
        "+31 6",
        "-x,y",
        "@SUM(A1)",
        "\tx",
        "\r\"q\"",
        "zoë",
        "'quoted'",
    ];

    #[test]
    fn csv_cells_are_the_bytes_safe_csv_writes() {
        for a in AWKWARD {
            for b in AWKWARD {
                let mut reference = SafeCsv::new(Vec::new());
                reference.row([*a, *b, "x"]).unwrap();
                let reference = reference.finish().unwrap();
                let mut buf = Vec::new();
                CsvRow::new(&mut buf).text(a).text(b).text("x").end();
                assert_eq!(buf, reference, "{a:?} {b:?}");
                // The same cell given in pieces.
                let joined = format!("{a}; {b}");
                let mut reference = SafeCsv::new(Vec::new());
                reference.row([joined.as_str()]).unwrap();
                let reference = reference.finish().unwrap();
                let mut buf = Vec::new();
                CsvRow::new(&mut buf).parts(&[a, "; ", b]).end();
                assert_eq!(buf, reference, "{a:?}; {b:?}");
            }
        }
    }

    #[test]
    fn guids_and_numbers_read_as_written() {
        let g = Guid::parse("5D4EFEB8-0613-448E-918A-3E4FD980C9F9").unwrap();
        let mut buf = Vec::new();
        CsvRow::new(&mut buf).number(0).guid(g).number(1958).end();
        assert_eq!(buf, b"0,5d4efeb8-0613-448e-918a-3e4fd980c9f9,1958\r\n");
        let mut buf = Vec::new();
        push_number(&mut buf, u64::MAX);
        assert_eq!(buf, u64::MAX.to_string().as_bytes());
    }

    #[test]
    fn powershell_literals_match_ps_quote() {
        for s in [
            "o'brien@x.com",
            "a\u{2019}b\u{2018}\u{201A}\u{201B}",
            "$(calc)",
            "",
        ] {
            let mut buf = Vec::new();
            ps_str(&mut buf, s);
            assert_eq!(buf, crate::report::powershell::ps_quote(s).as_bytes());
        }
    }
}
