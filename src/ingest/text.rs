//! Bytes → text for CSV exports: BOMs, UTF-16, NUL bytes, the delimiter, preamble lines, and
//! quotes left open. Each failure says where, because "invalid file" helps nobody.

/// Why a file's bytes are not text we can read, with the 1-based line and column of the first bad byte.
#[derive(Debug, PartialEq, Eq)]
pub enum Undecodable {
    InvalidUtf8 { line: usize, col: usize, byte: u8 },
    Utf16WithoutBom,
    InvalidUtf16 { line: usize },
    Nul { line: usize, col: usize },
}

/// Decodes UTF-8 (BOM optional) and UTF-16 LE/BE with a BOM.
pub fn decode(bytes: Vec<u8>) -> Result<String, Undecodable> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return utf8(rest.to_vec());
    }
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        let le = bytes[0] == 0xFF;
        let units: Vec<u16> = bytes[2..]
            .chunks(2)
            .map(|c| {
                let pair = [c[0], *c.get(1).unwrap_or(&0)];
                if le {
                    u16::from_le_bytes(pair)
                } else {
                    u16::from_be_bytes(pair)
                }
            })
            .collect();
        let text = String::from_utf16(&units).map_err(|_| {
            let line = 1 + units
                .iter()
                .take_while(|&&u| !(0xD800..0xE000).contains(&u))
                .filter(|&&u| u == b'\n' as u16)
                .count();
            Undecodable::InvalidUtf16 { line }
        })?;
        return check_nul(text);
    }
    if looks_like_utf16(&bytes) {
        return Err(Undecodable::Utf16WithoutBom);
    }
    utf8(bytes)
}

fn utf8(bytes: Vec<u8>) -> Result<String, Undecodable> {
    match String::from_utf8(bytes) {
        Ok(s) => check_nul(s),
        Err(e) => {
            let bytes = e.as_bytes();
            let at = e.utf8_error().valid_up_to();
            let (line, col) = line_col(&bytes[..at]);
            Err(Undecodable::InvalidUtf8 {
                line,
                col,
                byte: bytes[at],
            })
        }
    }
}

fn check_nul(s: String) -> Result<String, Undecodable> {
    match memchr::memchr(0, s.as_bytes()) {
        None => Ok(s),
        Some(at) => {
            let (line, col) = line_col(&s.as_bytes()[..at]);
            Err(Undecodable::Nul { line, col })
        }
    }
}

/// 1-based line and character column of the position just after `prefix`.
fn line_col(prefix: &[u8]) -> (usize, usize) {
    let line = 1 + prefix.iter().filter(|&&b| b == b'\n').count();
    let start = prefix
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let col = 1 + String::from_utf8_lossy(&prefix[start..]).chars().count();
    (line, col)
}

/// UTF-16 text saved without a BOM has a NUL in every other byte of its ASCII part.
pub(super) fn looks_like_utf16(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(256)];
    if head.len() < 4 {
        return false;
    }
    let zeros_even = head.iter().step_by(2).filter(|&&b| b == 0).count();
    let zeros_odd = head.iter().skip(1).step_by(2).filter(|&&b| b == 0).count();
    let half = head.len() / 2;
    zeros_even * 10 >= half * 7 || zeros_odd * 10 >= half * 7
}

/// Lines before the header that tools write and no reader wants: PowerShell 5.1's
/// `#TYPE System.Management.Automation.PSCustomObject` and Excel's `sep=;` hint.
/// Returns the byte offset of the header, how many lines were skipped, and a delimiter the
/// hint named.
pub fn skip_preamble(text: &str) -> (usize, usize, Option<u8>) {
    let mut offset = 0;
    let mut skipped = 0;
    let mut hinted = None;
    loop {
        let rest = &text[offset..];
        let line_end = rest.find('\n').map_or(rest.len(), |p| p + 1);
        let line = rest[..line_end].trim_end_matches(['\r', '\n']);
        if line.starts_with("#TYPE") {
        } else if let Some(d) = line.strip_prefix("sep=") {
            hinted = d.bytes().next();
        } else {
            return (offset, skipped, hinted);
        }
        offset += line_end;
        skipped += 1;
    }
}

/// Picks `,` `;` or TAB: whichever occurs most in the header line outside quotes.
pub fn sniff_delimiter(header_line: &str) -> u8 {
    let mut counts = [0usize; 3];
    let mut in_quotes = false;
    for b in header_line.bytes() {
        match b {
            b'"' => in_quotes = !in_quotes,
            b'\n' if !in_quotes => break,
            b',' if !in_quotes => counts[0] += 1,
            b';' if !in_quotes => counts[1] += 1,
            b'\t' if !in_quotes => counts[2] += 1,
            _ => {}
        }
    }
    let delims = [b',', b';', b'\t'];
    let best = (0..3)
        .max_by_key(|&i| (counts[i], std::cmp::Reverse(i)))
        .unwrap_or(0);
    if counts[best] == 0 {
        b','
    } else {
        delims[best]
    }
}

/// Finds a quoted field that is never closed, the way RFC 4180 reads quotes: a quote opens a
/// field only at its start; inside, `""` is a quote and `"` closes. Returns the 1-based line and
/// column where the field opened. The csv crate reads such a file to the end as one field, so
/// this check is what turns a truncated export into an error instead of a silent loss.
pub fn unclosed_quote(text: &str, delim: u8) -> Option<(usize, usize)> {
    // Jumps from quote to quote (memchr) instead of walking every byte: this runs over every
    // input before it is parsed, half a gigabyte at a million users. A quote opens a field only
    // at the start of one (after the delimiter, a line feed, or at the very start); inside,
    // `""` is an escaped quote and any other quote closes it.
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(q) = memchr::memchr(b'"', &b[i..]).map(|p| i + p) {
        let opens = q == 0 || b[q - 1] == delim || b[q - 1] == b'\n';
        i = q + 1;
        if !opens {
            continue;
        }
        loop {
            match memchr::memchr(b'"', &b[i..]).map(|p| i + p) {
                None => {
                    let line = 1 + memchr::memchr_iter(b'\n', &b[..q]).count();
                    let line_start = memchr::memrchr(b'\n', &b[..q]).map_or(0, |p| p + 1);
                    return Some((line, q - line_start + 1));
                }
                Some(p) if b.get(p + 1) == Some(&b'"') => i = p + 2,
                Some(p) => {
                    i = p + 1;
                    break;
                }
            }
        }
    }
    None
}

/// Calls `f` with every text of up to `max_len` bytes over `alphabet` (ASCII), for the tests
/// that hold two readings of quotes against each other.
#[cfg(test)]
pub(super) fn every_text(alphabet: &[u8], max_len: u32, mut f: impl FnMut(&str)) {
    let mut text = Vec::new();
    for len in 0..=max_len {
        for n in 0..alphabet.len().pow(len) {
            text.clear();
            let mut k = n;
            for _ in 0..len {
                text.push(alphabet[k % alphabet.len()]);
                k /= alphabet.len();
            }
            f(std::str::from_utf8(&text).expect("an ASCII alphabet"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_boms() {
        assert_eq!(decode(b"\xEF\xBB\xBFa,b".to_vec()).unwrap(), "a,b");
        let le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("a;é".encode_utf16().flat_map(|u| u.to_le_bytes()))
            .collect();
        assert_eq!(decode(le).unwrap(), "a;é");
        let be: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain("x".encode_utf16().flat_map(|u| u.to_be_bytes()))
            .collect();
        assert_eq!(decode(be).unwrap(), "x");
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        let no_bom: Vec<u8> = "Id,UserPrincipalName\n"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        assert_eq!(decode(no_bom), Err(Undecodable::Utf16WithoutBom));
        assert_eq!(
            decode(b"a,b\nc,\xE9d".to_vec()),
            Err(Undecodable::InvalidUtf8 {
                line: 2,
                col: 3,
                byte: 0xE9
            })
        );
        assert_eq!(
            decode(b"a,b\nc,\0".to_vec()),
            Err(Undecodable::Nul { line: 2, col: 3 })
        );
    }

    #[test]
    fn sniffs() {
        assert_eq!(sniff_delimiter("a;b;c\n1,2;3"), b';');
        assert_eq!(sniff_delimiter("a\tb\tc"), b'\t');
        assert_eq!(sniff_delimiter("\"a;b\",c,d"), b',');
        assert_eq!(sniff_delimiter("single"), b',');
    }

    #[test]
    fn preamble() {
        let t = "#TYPE Selected.Object\nsep=;\nId;UPN\n";
        let (off, n, hint) = skip_preamble(t);
        assert_eq!((&t[off..off + 2], n, hint), ("Id", 2, Some(b';')));
    }

    #[test]
    fn quotes() {
        assert_eq!(unclosed_quote("a,b\n\"x\ny\",2\n", b','), None);
        assert_eq!(unclosed_quote("a,b\n1,\"open\n2,3\n", b','), Some((2, 3)));
        assert_eq!(
            unclosed_quote("a,b\n1,ab\"c\n", b','),
            None,
            "a quote inside a field is literal"
        );
        assert_eq!(unclosed_quote("a\n\"x\"\"\n", b','), Some((2, 1)));
    }

    /// The byte-by-byte walk `unclosed_quote` replaced: the two must agree on every text.
    fn walk(text: &str, delim: u8) -> Option<(usize, usize)> {
        let b = text.as_bytes();
        let (mut line, mut line_start) = (1usize, 0usize);
        let mut at_field_start = true;
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if at_field_start && c == b'"' {
                let (open_line, open_col) = (line, i - line_start + 1);
                i += 1;
                loop {
                    match b.get(i) {
                        None => return Some((open_line, open_col)),
                        Some(b'"') if b.get(i + 1) == Some(&b'"') => i += 2,
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\n') => {
                            line += 1;
                            i += 1;
                            line_start = i;
                        }
                        Some(_) => i += 1,
                    }
                }
                at_field_start = false;
                continue;
            }
            if c == b'\n' {
                line += 1;
                line_start = i + 1;
                at_field_start = true;
            } else {
                at_field_start = c == delim;
            }
            i += 1;
        }
        None
    }

    #[test]
    fn quote_jumping_agrees_with_the_byte_walk_on_every_short_text() {
        every_text(&[b'"', b',', b'\n', b'\r', b'a'], 8, |t| {
            assert_eq!(unclosed_quote(t, b','), walk(t, b','), "{t:?}");
            assert_eq!(
                unclosed_quote(t, b'a'),
                walk(t, b'a'),
                "{t:?} delimited by a"
            );
        });
    }
}
