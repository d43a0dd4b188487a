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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Origin {
    pub file: u16,
    pub row: u32,
    pub col: u32,
}

impl Origin {
    pub fn at_col(self, col: usize) -> Origin {
        Origin {
            col: col as u32 + 1,
            ..self
        }
    }
}

/// How the files of one run are named in messages.
#[derive(Debug, Clone, Default)]
pub struct SourceNames {
    names: Vec<(String, bool)>,
}

impl SourceNames {
    /// Registers a file (`sheet` = a spreadsheet, addressed by cell) and returns its id.
    pub fn add(&mut self, name: String, sheet: bool) -> u16 {
        self.names.push((name, sheet));
        (self.names.len() - 1) as u16
    }

    /// `users.csv:1042:3`, `users.xlsx#Users!C17`, or the bare name for a whole-file problem.
    pub fn locate(&self, o: Origin) -> String {
        let Some((name, sheet)) = self.names.get(o.file as usize) else {
            return "?".into();
        };
        match (o.row, o.col, sheet) {
            (0, _, _) => name.clone(),
            (r, 0, true) => format!("{name}!{r}"),
            (r, c, true) => format!("{name}!{}{r}", column_letters(c)),
            (r, 0, false) => format!("{name}:{r}"),
            (r, c, false) => format!("{name}:{r}:{c}"),
        }
    }
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
        }
    }

    pub const ALL: [Code; 27] = [
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
                col: 3
            }),
            "users.csv:1042:3"
        );
        assert_eq!(
            s.locate(Origin {
                file: xl,
                row: 17,
                col: 3
            }),
            "users.xlsx#Users!C17"
        );
        assert_eq!(column_letters(28), "AB");
    }

    #[test]
    fn excerpt_keeps_field_in_view() {
        let long = format!("{},needle,{}", "a".repeat(500), "b".repeat(500));
        let (text, start, len) = excerpt(&long, "needle");
        assert_eq!(&text[start..start + len], "needle");
        assert!(text.len() < 120);
    }
}
