//! Reading a Graph JSON file record by record, as Graph returns it and people save it: one page
//! `{"value": [...]}`, several pages one after the other (one per line, as `export-script`
//! writes them), a JSON array, or JSON Lines of records.
//!
//! The file is read a line at a time and hashed as it goes; a line is parsed in place and its
//! records handed over as they are parsed, borrowing their strings from the line, so a 1 GB
//! users.json costs one page of memory. A value that spans lines (a pretty-printed page) is
//! gathered until its brackets close, then parsed the same way.

use crate::diag::JsonAt;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::io::Read;

/// What is done with each record of one kind of file.
pub trait Visit {
    type Of<'de>: Deserialize<'de>;
    fn visit(&mut self, record: Self::Of<'_>, at: JsonAt);
}

/// A problem with the JSON itself (syntax, type, truncation): its line and JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    pub line: u32,
    pub path: String,
    pub message: String,
}

/// A value this long is no Graph page (Graph pages hold at most 999 records): a broken file.
/// One line or many, the same limit. `LICSHIFT_JSON_PAGE_BYTES` lowers it, so the tests can
/// show the limit without writing a quarter of a gigabyte.
fn max_value() -> usize {
    static LIMIT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(|| {
        std::env::var("LICSHIFT_JSON_PAGE_BYTES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256 << 20)
    })
}
const CHUNK: usize = 4 << 20;

/// Reads every record of `file`, calling `v` for each and `bad` for each malformed value; the
/// SHA-256 of the bytes read. Parsing goes on after a malformed value, with the next line.
pub fn read<V: Visit>(
    file: impl Read + Send,
    v: &mut V,
    bad: &mut dyn FnMut(Malformed),
) -> std::io::Result<String> {
    // The file is read and hashed on a second thread while this one parses: at a million
    // users that is a gigabyte of SHA-256 off the parsing thread.
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let hashing = scope.spawn(move || hash_chunks(file, tx));
        let parsed = parse_lines(Lines::new(Chunks::new(rx)), v, bad);
        let hashed = match hashing.join() {
            Ok(h) => h,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        parsed.and(hashed)
    })
}

/// Reads `file` in chunks, hashing each and handing it on; once nobody takes them, reads on
/// to the end only to hash: the hash is of the whole file.
fn hash_chunks(
    mut file: impl Read,
    tx: std::sync::mpsc::SyncSender<Vec<u8>>,
) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut wanted = true;
    loop {
        let mut chunk = vec![0u8; CHUNK];
        let mut n = 0;
        while n < chunk.len() {
            match file.read(&mut chunk[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if n == 0 {
            break;
        }
        chunk.truncate(n);
        hasher.update(&chunk);
        if wanted && tx.send(chunk).is_err() {
            wanted = false;
        }
    }
    Ok(crate::ingest::hex(&hasher.finalize()))
}

/// The chunks `hash_chunks` hands on, read as one stream.
struct Chunks {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Chunks {
    fn new(rx: std::sync::mpsc::Receiver<Vec<u8>>) -> Chunks {
        Chunks {
            rx,
            chunk: Vec::new(),
            at: 0,
        }
    }
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.chunk.len() {
            match self.rx.recv() {
                Ok(c) => {
                    self.chunk = c;
                    self.at = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn parse_lines<V: Visit, R: Read>(
    mut lines: Lines<R>,
    v: &mut V,
    bad: &mut dyn FnMut(Malformed),
) -> std::io::Result<()> {
    // A value that did not close on its first line: its text so far, first line, depth, and
    // how many records the first try already handed over.
    let mut open: Option<(Vec<u8>, u32, i64, usize)> = None;
    // A value found too long is passed over to its end (its depth back to 0), so the lines
    // after it are not read as values of their own.
    let mut passing: Option<i64> = None;
    while let Some((line_no, line)) = lines.next()? {
        let Some(line) = line else {
            // One line longer than any page: the same limit as a page over many lines.
            if passing.is_none() {
                match open.take() {
                    Some((_, first, depth, _)) => {
                        bad(too_long(first));
                        passing = Some(depth);
                    }
                    None => bad(too_long(line_no)),
                }
            }
            continue;
        };
        if let Some(depth) = &mut passing {
            *depth += depth_change(line);
            if *depth <= 0 {
                passing = None;
            }
            continue;
        }
        if let Some((text, first, depth, _)) = &mut open {
            text.extend_from_slice(line);
            text.push(b'\n');
            *depth += depth_change(line);
            if text.len() > max_value() {
                bad(too_long(*first));
                passing = Some(*depth);
                open = None;
                continue;
            }
            if *depth <= 0 {
                let (text, first, _, done) = open.take().expect("open");
                if let Err(e) = parse_value(&text, first, done, v) {
                    bad(malformed::<V>(&text, first, e));
                }
            }
            continue;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse_value(line, line_no, 0, v) {
            Ok(_) => {}
            Err((e, done)) if e.is_eof() => {
                let mut text = line.to_vec();
                text.push(b'\n');
                open = Some((text, line_no, depth_change(line), done));
            }
            Err(e) => bad(malformed::<V>(line, line_no, e)),
        }
    }
    if let Some((_, first, _, _)) = open {
        bad(Malformed {
            line: first,
            path: "$".into(),
            message:
                "the file ends inside the JSON value that starts here: the export was cut short"
                    .into(),
        });
    }
    Ok(())
}

fn too_long(line: u32) -> Malformed {
    Malformed {
        line,
        path: "$".into(),
        message: format!(
            "a JSON value of more than {} MiB: no Graph page is this long",
            (max_value() >> 20).max(1)
        ),
    }
}

/// How much deeper the brackets are at the end of `line` than at its start. Strings cannot
/// hold a raw line break, so each line starts outside any string.
fn depth_change(line: &[u8]) -> i64 {
    let mut depth = 0i64;
    let mut in_string = false;
    let mut escaped = false;
    for &b in line {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth -= 1,
            _ => {}
        }
    }
    depth
}

/// Parses one top-level value, handing its records to `v` after the first `skip` (handed over
/// by an earlier try). Err carries how many records were handed over before the error.
fn parse_value<V: Visit>(
    text: &[u8],
    line: u32,
    skip: usize,
    v: &mut V,
) -> Result<usize, (serde_json::Error, usize)> {
    let mut seen = 0usize;
    let mut de = serde_json::Deserializer::from_slice(text);
    let top = Top {
        v: &mut *v,
        line,
        skip,
        seen: &mut seen,
    };
    let result = top
        .deserialize(&mut de)
        .and_then(|kind| de.end().map(|_| kind));
    match result {
        Ok(Kind::Records) => Ok(seen),
        // A value with no `value` list is a record of its own (JSON Lines).
        Ok(Kind::Alone) => {
            if skip == 0 {
                let record = V::Of::deserialize(&mut serde_json::Deserializer::from_slice(text))
                    .map_err(|e| (e, 0))?;
                v.visit(
                    record,
                    JsonAt {
                        line,
                        ..JsonAt::default()
                    },
                );
            }
            Ok(1)
        }
        Err(e) => Err((e, seen)),
    }
}

/// The problem for a value that did not parse, with the JSON path of where it broke.
fn malformed<V: Visit>(text: &[u8], line: u32, e: (serde_json::Error, usize)) -> Malformed {
    let (e, _) = e;
    // Parsed again with the path tracked: errors are rare, and tracking every value of a
    // million-user file would cost on every run.
    let mut track = serde_path_to_error::Track::new();
    let mut de = serde_json::Deserializer::from_slice(text);
    let mut nothing = Nothing::<V>(std::marker::PhantomData);
    let mut seen = 0;
    let top = Top {
        v: &mut nothing,
        line,
        skip: usize::MAX,
        seen: &mut seen,
    };
    let mut path = match top
        .deserialize(serde_path_to_error::Deserializer::new(&mut de, &mut track))
    {
        Ok(Kind::Alone) => {
            let mut track = serde_path_to_error::Track::new();
            let mut de = serde_json::Deserializer::from_slice(text);
            let _ = V::Of::deserialize(serde_path_to_error::Deserializer::new(&mut de, &mut track));
            track.path().to_string()
        }
        _ => track.path().to_string(),
    };
    // A key that did not parse is `?` to the path tracker.
    while let Some(p) = path.strip_suffix(".?").or(path.strip_suffix('?')) {
        path = p.to_string();
    }
    if path == "." || path.is_empty() {
        path = "$".into();
    } else if path.starts_with('[') {
        path = format!("${path}");
    } else {
        path = format!("$.{path}");
    }
    Malformed {
        line: line + e.line().saturating_sub(1) as u32,
        path,
        message: message(&e),
    }
}

/// serde_json's message without its "at line L column C" (the location says where).
fn message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    match e.classify() {
        serde_json::error::Category::Syntax => format!("not valid JSON: {text}"),
        serde_json::error::Category::Eof => format!("the JSON ends early: {text}"),
        serde_json::error::Category::Data => format!("unexpected JSON: {text}"),
        serde_json::error::Category::Io => text,
    }
}

/// A visitor that keeps nothing, for parsing a value again only to find where it broke.
struct Nothing<V>(std::marker::PhantomData<V>);

impl<V: Visit> Visit for Nothing<V> {
    type Of<'de> = V::Of<'de>;
    fn visit(&mut self, _: Self::Of<'_>, _: JsonAt) {}
}

enum Kind {
    Records,
    Alone,
}

/// The top-level value: a page (a map with `value`), an array of records, or a record.
struct Top<'a, V> {
    v: &'a mut V,
    line: u32,
    skip: usize,
    seen: &'a mut usize,
}

impl<'de, V: Visit> DeserializeSeed<'de> for Top<'_, V> {
    type Value = Kind;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Kind, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, V: Visit> Visitor<'de> for Top<'_, V> {
    type Value = Kind;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a Graph page {\"value\": [...]}, an array of records or a record")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Kind, A::Error> {
        Records {
            v: self.v,
            line: self.line,
            array: true,
            skip: self.skip,
            seen: self.seen,
        }
        .visit_seq(seq)?;
        Ok(Kind::Records)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
        let mut page = false;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "value" {
                map.next_value_seed(Records {
                    v: &mut *self.v,
                    line: self.line,
                    array: false,
                    skip: self.skip,
                    seen: &mut *self.seen,
                })?;
                page = true;
            } else {
                // `@odata.context`, `@odata.nextLink`, or a property of a record alone.
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(if page { Kind::Records } else { Kind::Alone })
    }
}

/// The records of a page's `value` or of a top-level array, each handed to `v` as parsed.
struct Records<'a, V> {
    v: &'a mut V,
    line: u32,
    array: bool,
    skip: usize,
    seen: &'a mut usize,
}

impl<'de, V: Visit> DeserializeSeed<'de> for Records<'_, V> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, V: Visit> Visitor<'de> for Records<'_, V> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0u32;
        while let Some(record) = seq.next_element::<V::Of<'de>>()? {
            if *self.seen >= self.skip {
                self.v.visit(
                    record,
                    JsonAt {
                        line: self.line,
                        index: Some(index),
                        array: self.array,
                        sub: None,
                    },
                );
            }
            *self.seen += 1;
            index += 1;
        }
        Ok(())
    }
}

/// The lines of a file. A byte-order mark at the start is skipped (it is hashed all the same,
/// as part of the file).
struct Lines<R> {
    file: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    line: u32,
    /// The line being read has passed the page limit: its bytes are dropped up to its end.
    overlong: bool,
}

impl<R: Read> Lines<R> {
    fn new(file: R) -> Self {
        Lines {
            file,
            buf: vec![0; CHUNK],
            start: 0,
            end: 0,
            eof: false,
            line: 0,
            overlong: false,
        }
    }

    /// The next line, or `None` in its place for a line longer than a page may be (never held
    /// whole: a 2 GB one-line file costs one page of memory, then is refused).
    #[allow(clippy::type_complexity)]
    fn next(&mut self) -> std::io::Result<Option<(u32, Option<&[u8]>)>> {
        loop {
            if let Some(nl) = memchr::memchr(b'\n', &self.buf[self.start..self.end]) {
                let (s, e) = (self.start, self.start + nl);
                self.start = e + 1;
                if std::mem::take(&mut self.overlong) || e - s > max_value() {
                    self.line += 1;
                    return Ok(Some((self.line, None)));
                }
                let (n, line) = self.emit(s, e);
                return Ok(Some((n, Some(line))));
            }
            if self.eof {
                if self.start == self.end && !self.overlong {
                    return Ok(None);
                }
                let (s, e) = (self.start, self.end);
                self.start = self.end;
                if std::mem::take(&mut self.overlong) || e - s > max_value() {
                    self.line += 1;
                    return Ok(Some((self.line, None)));
                }
                let (n, line) = self.emit(s, e);
                return Ok(Some((n, Some(line))));
            }
            // Keep the partial line, make room, read on.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.end >= max_value() {
                self.overlong = true;
                self.end = 0;
            }
            if self.end == self.buf.len() {
                let grow = self.buf.len().min(max_value());
                self.buf.resize(self.buf.len() + grow, 0);
            }
            let n = self.file.read(&mut self.buf[self.end..])?;
            if n == 0 {
                self.eof = true;
            } else {
                self.end += n;
            }
        }
    }

    fn emit(&mut self, s: usize, e: usize) -> (u32, &[u8]) {
        self.line += 1;
        let line = &self.buf[s..e];
        // Pages saved one by one and concatenated each bring their own byte-order mark.
        let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        (self.line, line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Rec<'a> {
        #[serde(borrow)]
        id: Cow<'a, str>,
        #[serde(default)]
        n: Option<i64>,
    }

    #[derive(Default)]
    struct Keep(Vec<(String, JsonAt)>);

    impl Visit for Keep {
        type Of<'de> = Rec<'de>;
        fn visit(&mut self, r: Rec<'_>, at: JsonAt) {
            let _ = r.n;
            self.0.push((r.id.into_owned(), at));
        }
    }

    fn run(text: &str) -> (Vec<(String, JsonAt)>, Vec<Malformed>) {
        let mut keep = Keep::default();
        let mut bad = Vec::new();
        read(text.as_bytes(), &mut keep, &mut |m| bad.push(m)).unwrap();
        (keep.0, bad)
    }

    fn at(line: u32, index: Option<u32>, array: bool) -> JsonAt {
        JsonAt {
            line,
            index,
            array,
            sub: None,
        }
    }

    #[test]
    fn every_saved_shape_gives_the_same_records() {
        let want = |ats: [JsonAt; 3]| {
            ["a", "b", "c"]
                .iter()
                .zip(ats)
                .map(|(s, a)| (s.to_string(), a))
                .collect::<Vec<_>>()
        };
        let page = r#"{"@odata.context":"x","value":[{"id":"a"},{"id":"b"},{"id":"c"}]}"#;
        assert_eq!(
            run(page),
            (
                want([
                    at(1, Some(0), false),
                    at(1, Some(1), false),
                    at(1, Some(2), false)
                ]),
                vec![]
            )
        );
        let pages = "\u{feff}{\"@odata.nextLink\":\"n\",\"value\":[{\"id\":\"a\"},{\"id\":\"b\"}]}\r\n\r\n{\"value\":[{\"id\":\"c\"}]}\r\n";
        assert_eq!(
            run(pages),
            (
                want([
                    at(1, Some(0), false),
                    at(1, Some(1), false),
                    at(3, Some(0), false)
                ]),
                vec![]
            )
        );
        let array = "[{\"id\":\"a\"},\n {\"id\":\"b\"},\n {\"id\":\"c\"}]\n";
        assert_eq!(
            run(array),
            (
                want([
                    at(1, Some(0), true),
                    at(1, Some(1), true),
                    at(1, Some(2), true)
                ]),
                vec![]
            )
        );
        let lines = "{\"id\":\"a\"}\n{\"id\":\"b\",\"n\":2}\n{\"id\":\"c\"}";
        assert_eq!(
            run(lines),
            (
                want([at(1, None, false), at(2, None, false), at(3, None, false)]),
                vec![]
            )
        );
        let pretty = "{\n  \"value\": [\n    {\"id\": \"a\"},\n    {\"id\": \"b\"},\n    {\"id\": \"c\"}\n  ]\n}\n";
        assert_eq!(
            run(pretty),
            (
                want([
                    at(1, Some(0), false),
                    at(1, Some(1), false),
                    at(1, Some(2), false)
                ]),
                vec![]
            )
        );
        // A page whose first line closes a record but not the page: no record twice.
        let split = "{\"value\":[{\"id\":\"a\"},\n{\"id\":\"b\"},{\"id\":\"c\"}]}";
        assert_eq!(run(split).0.len(), 3);
    }

    #[test]
    fn a_broken_value_is_located_by_line_and_path_and_reading_goes_on() {
        let text = "{\"value\":[{\"id\":\"a\"}]}\n{\"value\":[{\"id\":\"b\"},{\"id\":\"c\",\"n\":\"two\"}]}\n{\"value\":[{\"id\":\"d\"}]}\n";
        let (recs, bad) = run(text);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 2);
        assert_eq!(bad[0].path, "$.value[1].n");
        assert!(
            bad[0].message.contains("invalid type"),
            "{}",
            bad[0].message
        );
        assert_eq!(recs.last().unwrap().0, "d");
        let (_, bad) = run("{\"value\":[{\"id\":\"a\"},{\"id\":\"b\"");
        assert_eq!(bad.len(), 1);
        assert!(bad[0].message.contains("cut short"), "{}", bad[0].message);
        let (_, bad) = run("{\"value\":[{\"id\":\"a\"}]}\nnot json\n");
        assert_eq!(
            (bad[0].line, bad[0].message.starts_with("not valid JSON")),
            (2, true)
        );
        let (_, bad) = run("[{\"id\":\"a\"},{\"id\":7}]");
        assert_eq!(bad[0].path, "$[1].id");
    }

    #[test]
    fn the_hash_is_of_every_byte() {
        let text = "\u{feff}{\"value\":[{\"id\":\"a\"}]}\n";
        let mut keep = Keep::default();
        let h = read(text.as_bytes(), &mut keep, &mut |_| {}).unwrap();
        assert_eq!(h, crate::ingest::sha256(text.as_bytes()));
    }
}
