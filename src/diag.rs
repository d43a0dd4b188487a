//! Diagnostics: every problem licshift finds in its input, with a stable code, the place it
//! points at (`users.csv:1042:3`, `users.xlsx#Users!C17`), the offending text and a hint.
//!
//! The library only builds `Problem`s; the binary renders them with miette. The source snippet
//! holds just the offending line, never the whole file, so a 1 GB export costs nothing here.

use miette::{
    Diagnostic, LabeledSpan, MietteSpanContents, Severity, SourceCode, SourceSpan, SpanContents,
};
use std::fmt;

/// Where a record or a cell came from. `col` 0 means the whole row.
///
/// A record of a JSON file (`json`) is placed by its line, its index in the page or array that
/// holds it, and its index in a list inside it (a user's `licenseAssignmentStates[2]`); those
/// ride in `sub` and the high bits of `col`, which a CSV origin leaves at zero, so every
/// origin stays 12 bytes (millions of records keep one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Origin {
    pub file: u16,
    /// JSON only: `JSON_BIT`, `ARRAY_BIT` (the record sits in a top-level array, not in a page's
    /// `value`) and the index + 1 in the record's inner list (0: none).
    pub sub: u16,
    pub row: u32,
    /// The column + 1; JSON: the column + 1 in the low 8 bits, the record's index + 1 in its
    /// page or array above them (0: the record is a value of its own, JSON Lines).
    pub col: u32,
}

const JSON_BIT: u16 = 0x8000;
const ARRAY_BIT: u16 = 0x4000;
const SUB_MASK: u16 = 0x3FFF;
const COL_BITS: u32 = 8;

/// Where a JSON record stands in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JsonAt {
    pub line: u32,
    /// Index in the page's `value` (or the top-level array); `None` for a record that is a
    /// value of its own.
    pub index: Option<u32>,
    pub array: bool,
    /// Index in the record's inner list (servicePlans, licenseAssignmentStates, …).
    pub sub: Option<u32>,
}

impl Origin {
    pub fn at_col(self, col: usize) -> Origin {
        let col = col as u32 + 1;
        let col = if self.sub & JSON_BIT != 0 {
            (self.col & !((1 << COL_BITS) - 1)) | col.min((1 << COL_BITS) - 1)
        } else {
            col
        };
        Origin { col, ..self }
    }

    pub fn json(file: u16, at: JsonAt) -> Origin {
        let item = at.index.map_or(0, |i| (i + 1).min(u32::MAX >> COL_BITS));
        let sub = at
            .sub
            .map_or(0, |i| (i + 1).min(u32::from(SUB_MASK)) as u16);
        Origin {
            file,
            sub: JSON_BIT | if at.array { ARRAY_BIT } else { 0 } | sub,
            row: at.line,
            col: item << COL_BITS,
        }
    }

    /// The JSON place of this origin and its column (0: the whole record), if it is one.
    pub fn json_parts(self) -> Option<(JsonAt, u32)> {
        if self.sub & JSON_BIT == 0 {
            return None;
        }
        let item = self.col >> COL_BITS;
        let sub = u32::from(self.sub & SUB_MASK);
        Some((
            JsonAt {
                line: self.row,
                index: item.checked_sub(1),
                array: self.sub & ARRAY_BIT != 0,
                sub: sub.checked_sub(1),
            },
            self.col & ((1 << COL_BITS) - 1),
        ))
    }
}

/// How a view of a JSON file names its columns: each column's JSON property, and whether it is
/// a property of the record or of an element of the record's inner list `sub`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonLayout {
    pub sub: Option<&'static str>,
    pub fields: Vec<(&'static str, bool)>,
}

impl JsonLayout {
    /// `$.value[17].licenseAssignmentStates[2].skuId`
    pub fn path(&self, at: JsonAt, col: u32) -> String {
        let mut p = String::from("$");
        match (at.index, at.array) {
            (Some(i), false) => p += &format!(".value[{i}]"),
            (Some(i), true) => p += &format!("[{i}]"),
            (None, _) => {}
        }
        let field = col.checked_sub(1).and_then(|c| self.fields.get(c as usize));
        let in_sub = field.is_none_or(|f| f.1);
        if let (Some(name), Some(k), true) = (self.sub, at.sub, in_sub) {
            p += &format!(".{name}[{k}]");
        }
        if let Some((name, _)) = field {
            p.push('.');
            p += name;
        }
        p
    }
}

#[derive(Debug, Clone)]
enum Shape {
    Csv,
    Sheet,
    Json(std::sync::Arc<JsonLayout>),
}

/// How the files of one run are named in messages.
#[derive(Debug, Clone, Default)]
pub struct SourceNames {
    names: Vec<(String, Shape)>,
}

impl SourceNames {
    /// Registers a file (`sheet` = a spreadsheet, addressed by cell) and returns its id.
    pub fn add(&mut self, name: String, sheet: bool) -> u16 {
        self.names
            .push((name, if sheet { Shape::Sheet } else { Shape::Csv }));
        (self.names.len() - 1) as u16
    }

    /// Registers one view of a JSON file (its users, or its users' assignments).
    pub fn add_json(&mut self, name: String, layout: std::sync::Arc<JsonLayout>) -> u16 {
        self.names.push((name, Shape::Json(layout)));
        (self.names.len() - 1) as u16
    }

    /// `users.csv:1042:3`, `users.xlsx#Users!C17`, `users.json:12 $.value[17].skuId`, or the
    /// bare name for a whole-file problem.
    pub fn locate(&self, o: Origin) -> String {
        let Some((name, shape)) = self.names.get(o.file as usize) else {
            return "?".into();
        };
        locate_in(name, shape, o)
    }
}

fn locate_in(name: &str, shape: &Shape, o: Origin) -> String {
    match (o.row, o.col, shape) {
        (0, _, _) => name.to_string(),
        (_, _, Shape::Json(layout)) => match o.json_parts() {
            Some((at, col)) => format!("{name}:{} {}", at.line, layout.path(at, col)),
            None => format!("{name}:{}", o.row),
        },
        (r, 0, Shape::Sheet) => format!("{name}!{r}"),
        (r, c, Shape::Sheet) => format!("{name}!{}{r}", column_letters(c)),
        (r, 0, Shape::Csv) => format!("{name}:{r}"),
        (r, c, Shape::Csv) => format!("{name}:{r}:{c}"),
    }
}

/// Where a JSON file's record is, in the form `SourceNames::locate` gives.
pub fn locate_json(name: &str, layout: &std::sync::Arc<JsonLayout>, o: Origin) -> String {
    locate_in(name, &Shape::Json(layout.clone()), o)
}

/// 1 → A, 27 → AA: spreadsheet column names.
pub fn column_letters(mut c: u32) -> String {
    let mut s = Vec::new();
    while c > 0 {
        let r = (c - 1) % 26;
        s.push(b'A' + r as u8);
        c = (c - 1) / 26;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

/// Stable diagnostic codes: never renumber, never reuse. docs/inputs.md lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    FileMissing,
    FileAmbiguous,
    FileUnreadable,
    EmptyFile,
    HeaderOnly,
    Encoding,
    NulByte,
    UnbalancedQuote,
    FieldCount,
    FieldTooLong,
    HeaderRepeated,
    MissingColumn,
    DuplicateColumn,
    BadGuid,
    BadValue,
    MissingValue,
    DuplicateRecord,
    UnknownUser,
    UnknownSku,
    UnknownPlan,
    UnknownGroup,
    AmbiguousGroup,
    Inconsistent,
    SeatsOverConsumed,
    Spreadsheet,
    NestedGroup,
    NoUsageLocation,
    Json,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::FileMissing => "licshift::input::file_missing",
            Code::FileAmbiguous => "licshift::input::file_ambiguous",
            Code::FileUnreadable => "licshift::input::file_unreadable",
            Code::EmptyFile => "licshift::input::empty_file",
            Code::HeaderOnly => "licshift::input::header_only",
            Code::Encoding => "licshift::input::encoding",
            Code::NulByte => "licshift::input::nul_byte",
            Code::UnbalancedQuote => "licshift::input::unbalanced_quote",
            Code::FieldCount => "licshift::input::field_count",
            Code::FieldTooLong => "licshift::input::field_too_long",
            Code::HeaderRepeated => "licshift::input::header_repeated",
            Code::MissingColumn => "licshift::input::missing_column",
            Code::DuplicateColumn => "licshift::input::duplicate_column",
            Code::BadGuid => "licshift::input::bad_guid",
            Code::BadValue => "licshift::input::bad_value",
            Code::MissingValue => "licshift::input::missing_value",
            Code::DuplicateRecord => "licshift::input::duplicate",
            Code::UnknownUser => "licshift::input::unknown_user",
            Code::UnknownSku => "licshift::input::unknown_sku",
            Code::UnknownPlan => "licshift::input::unknown_plan",
            Code::UnknownGroup => "licshift::input::unknown_group",
            Code::AmbiguousGroup => "licshift::input::ambiguous_group",
            Code::Inconsistent => "licshift::input::inconsistent",
            Code::SeatsOverConsumed => "licshift::input::seats_over_consumed",
            Code::Spreadsheet => "licshift::input::spreadsheet",
            Code::NestedGroup => "licshift::input::nested_group",
            Code::NoUsageLocation => "licshift::input::no_usage_location",
            Code::Json => "licshift::input::json",
        }
    }

    pub const ALL: [Code; 28] = [
        Code::HeaderRepeated,
        Code::FileMissing,
        Code::FileAmbiguous,
        Code::FileUnreadable,
        Code::EmptyFile,
        Code::HeaderOnly,
        Code::Encoding,
        Code::NulByte,
        Code::UnbalancedQuote,
        Code::FieldCount,
        Code::FieldTooLong,
        Code::MissingColumn,
        Code::DuplicateColumn,
        Code::BadGuid,
        Code::BadValue,
        Code::MissingValue,
        Code::DuplicateRecord,
        Code::UnknownUser,
        Code::UnknownSku,
        Code::UnknownPlan,
        Code::UnknownGroup,
        Code::AmbiguousGroup,
        Code::Inconsistent,
        Code::SeatsOverConsumed,
        Code::Spreadsheet,
        Code::NestedGroup,
        Code::NoUsageLocation,
        Code::Json,
    ];
}

/// The offending line (or cell) as source code for miette, numbered as in the file.
#[derive(Debug, Clone)]
struct Snippet {
    name: String,
    text: String,
    line: usize,
}

impl SourceCode for Snippet {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        _before: usize,
        _after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, miette::MietteError> {
        if span.offset() + span.len() > self.text.len() {
            return Err(miette::MietteError::OutOfBounds);
        }
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            self.text.as_bytes(),
            SourceSpan::from((0, self.text.len())),
            self.line.saturating_sub(1),
            0,
            1,
        )))
    }
}

/// One problem in the input. Errors stop the run (exit 2); warnings are reported and it goes on.
#[derive(Debug, Clone)]
pub struct Problem {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    /// Rendered location, empty when the problem is about the run rather than a file.
    pub location: String,
    pub help: Option<String>,
    snippet: Option<(Snippet, SourceSpan, String)>,
}

/// Longest offending text quoted in a message; a 1 MB field must not become a 1 MB message.
const QUOTE_MAX: usize = 80;

pub fn quote(text: &str) -> String {
    let mut t: String = text
        .chars()
        .take(QUOTE_MAX)
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect();
    if text.chars().count() > QUOTE_MAX {
        t.push('…');
    }
    format!("`{t}`")
}

impl Problem {
    pub fn error(code: Code, message: impl Into<String>) -> Problem {
        Problem {
            code,
            severity: Severity::Error,
            message: message.into(),
            location: String::new(),
            help: None,
            snippet: None,
        }
    }

    pub fn warning(code: Code, message: impl Into<String>) -> Problem {
        Problem {
            severity: Severity::Warning,
            ..Problem::error(code, message)
        }
    }

    pub fn at(mut self, location: String) -> Problem {
        self.location = location;
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Problem {
        self.help = Some(help.into());
        self
    }

    /// Shows `line_text` (the offending line or cell, shortened around the field) under the
    /// message, with `field` underlined and labelled.
    pub fn snippet(
        mut self,
        line_no: usize,
        line_text: &str,
        field: &str,
        label: impl Into<String>,
    ) -> Problem {
        let (text, start, len) = excerpt(line_text, field);
        let name = if self.location.is_empty() {
            "input".to_string()
        } else {
            self.location.clone()
        };
        self.snippet = Some((
            Snippet {
                name,
                text,
                line: line_no,
            },
            SourceSpan::from((start, len)),
            label.into(),
        ));
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Cuts a long line down to a window around `field`, keeping char boundaries.
fn excerpt(line: &str, field: &str) -> (String, usize, usize) {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_control() && c != '\t' {
                    '\u{FFFD}'
                } else if c == '\t' {
                    ' '
                } else {
                    c
                }
            })
            .collect()
    };
    let line = clean(line);
    let field = clean(field);
    let field_short: String = field.chars().take(QUOTE_MAX).collect();
    let pos = if field.is_empty() {
        None
    } else {
        line.find(&field_short)
    };
    match pos {
        Some(p) if line.chars().count() <= 110 => {
            let len = field_short.len().max(1).min(line.len() - p);
            (line.clone(), p, len)
        }
        Some(p) => {
            let before: String = line[..p]
                .chars()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let after: String = line[p + field_short.len()..].chars().take(40).collect();
            let prefix = if before.len() < p { "…" } else { "" };
            let text = format!("{prefix}{before}{field_short}{after}");
            let start = prefix.len() + before.len();
            let len = field_short.len().max(1).min(text.len() - start);
            (text, start, len)
        }
        None => {
            let text: String = line.chars().take(120).collect();
            let len = text.len();
            (text, 0, len)
        }
    }
}

/// The message, led by its location when no snippet shows it.
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.snippet.is_none() && !self.location.is_empty() {
            write!(f, "{}: {}", self.location, self.message)
        } else {
            f.write_str(&self.message)
        }
    }
}

impl std::error::Error for Problem {}

impl Diagnostic for Problem {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code.as_str()))
    }
    fn severity(&self) -> Option<Severity> {
        Some(self.severity)
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.snippet.as_ref().map(|s| &s.0 as &dyn SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let (_, span, label) = self.snippet.as_ref()?;
        Some(Box::new(std::iter::once(
            LabeledSpan::new_primary_with_span(Some(label.clone()), *span),
        )))
    }
}

/// Problems collected over a run: all of them up to a cap, then only counted.
#[derive(Debug, Default)]
pub struct Problems {
    pub list: Vec<Problem>,
    pub errors: usize,
    pub warnings: usize,
    pub suppressed: usize,
}

/// Beyond this many, problems are counted but not kept: a broken 1M-row file would otherwise
/// print a million messages.
pub const PROBLEM_CAP: usize = 50;

impl Problems {
    pub fn push(&mut self, p: Problem) {
        if p.is_error() {
            self.errors += 1;
        } else {
            self.warnings += 1;
        }
        if self.list.len() < PROBLEM_CAP {
            self.list.push(p);
        } else {
            self.suppressed += 1;
        }
    }

    pub fn has_errors(&self) -> bool {
        self.errors > 0
    }

    /// Stops collecting once the cap is full of errors: reading on would find nothing new.
    pub fn full(&self) -> bool {
        self.errors >= PROBLEM_CAP
    }

    pub fn extend(&mut self, other: Problems) {
        for p in other.list {
            self.push(p);
        }
        self.suppressed += other.suppressed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique() {
        let mut seen: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        seen.sort();
        let n = seen.len();
        seen.dedup();
        assert_eq!(seen.len(), n);
    }

    #[test]
    fn locations() {
        let mut s = SourceNames::default();
        let csv = s.add("users.csv".into(), false);
        let xl = s.add("users.xlsx#Users".into(), true);
        assert_eq!(
            s.locate(Origin {
                file: csv,
                row: 1042,
                col: 3,
                ..Origin::default()
            }),
            "users.csv:1042:3"
        );
        assert_eq!(
            s.locate(Origin {
                file: xl,
                row: 17,
                col: 3,
                ..Origin::default()
            }),
            "users.xlsx#Users!C17"
        );
        assert_eq!(column_letters(28), "AB");
        let layout = std::sync::Arc::new(JsonLayout {
            sub: Some("licenseAssignmentStates"),
            fields: vec![("id", false), ("skuId", true)],
        });
        let js = s.add_json("users.json".into(), layout);
        let at = JsonAt {
            line: 5123,
            index: Some(17),
            array: false,
            sub: Some(2),
        };
        let o = Origin::json(js, at);
        assert_eq!(o.json_parts(), Some((at, 0)));
        assert_eq!(
            s.locate(o.at_col(1)),
            "users.json:5123 $.value[17].licenseAssignmentStates[2].skuId"
        );
        assert_eq!(s.locate(o.at_col(0)), "users.json:5123 $.value[17].id");
        assert_eq!(
            s.locate(o),
            "users.json:5123 $.value[17].licenseAssignmentStates[2]"
        );
        let alone = Origin::json(
            js,
            JsonAt {
                line: 3,
                ..JsonAt::default()
            },
        );
        assert_eq!(s.locate(alone.at_col(0)), "users.json:3 $.id");
        let array = Origin::json(
            js,
            JsonAt {
                line: 1,
                index: Some(4),
                array: true,
                sub: None,
            },
        );
        assert_eq!(s.locate(array), "users.json:1 $[4]");
        assert_eq!(std::mem::size_of::<Origin>(), 12);
    }

    #[test]
    fn excerpt_keeps_field_in_view() {
        let long = format!("{},needle,{}", "a".repeat(500), "b".repeat(500));
        let (text, start, len) = excerpt(&long, "needle");
        assert_eq!(&text[start..start + len], "needle");
        assert!(text.len() < 120);
    }
}
