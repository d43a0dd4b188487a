//! Cell values → typed values. Small, pure and total: each returns a value or says what it
//! expected, and the caller turns that into a located diagnostic.

use crate::model::{Country, Guid, LicenseError, State};

/// Identifier trimming of SPEC §2: spaces, TAB and NO-BREAK SPACE (Microsoft's own catalog
/// carries all three), plus a stray BOM.
pub fn clean(s: &str) -> &str {
    // Nearly every cell starts and ends with a printable ASCII byte: nothing to trim, and this
    // runs for every cell of millions of rows.
    let b = s.as_bytes();
    if b.first()
        .is_some_and(|&c| c > b' ' && c < 0x80 && c != b'\'')
        && b.last().is_some_and(|&c| c > b' ' && c < 0x80)
    {
        return s;
    }
    unformula(
        s.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\u{a0}' | '\u{feff}' | '\r' | '\n')),
    )
}

/// The `'` a CSV writer (licshift's own, Excel's) puts before a value that would run as a
/// formula (`'=x`, `'+ZQX9`), taken off: the value is the name without it.
fn unformula(s: &str) -> &str {
    match s.strip_prefix('\'') {
        Some(rest)
            if matches!(
                rest.trim_start_matches('\'').as_bytes().first(),
                Some(b'=' | b'+' | b'-' | b'@')
            ) =>
        {
            rest
        }
        _ => s,
    }
}

/// The key under which a name is compared: trimmed, NBSP as space, lower case.
pub fn name_key(s: &str) -> String {
    let s = clean(s);
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    s.replace('\u{a0}', " ").to_lowercase()
}

/// `f` of `name_key(s)`, the key built on the stack when it is short plain ASCII: the cells
/// matched against keywords (states, booleans, member types) are on every row of the largest
/// files, and a heap copy each was a tenth of loading them.
pub fn keyword<R>(s: &str, f: impl FnOnce(&str) -> R) -> R {
    let c = clean(s);
    if c.len() <= 48 && c.is_ascii() {
        let mut buf = [0u8; 48];
        let key = &mut buf[..c.len()];
        key.copy_from_slice(c.as_bytes());
        key.make_ascii_lowercase();
        if let Ok(key) = std::str::from_utf8(key) {
            return f(key);
        }
    }
    f(&name_key(s))
}

pub fn guid(s: &str) -> Option<Guid> {
    Guid::parse(clean(s))
}

/// What a GUID cell holds when it is not a GUID, for the hint.
pub fn guid_hint(s: &str) -> &'static str {
    let s = clean(s);
    if s.is_empty() {
        "the cell is empty"
    } else if s.contains(['E', 'e'])
        && s.replace(['E', 'e', '+', '-', '.'], "")
            .chars()
            .all(|c| c.is_ascii_digit())
        && s.contains('+')
    {
        "this looks like a number Excel rewrote in scientific notation: export the ids as text"
    } else if s.chars().filter(|c| *c == '/').count() == 2
        || (s.len() == 10 && s.chars().filter(|c| *c == '-').count() == 2)
    {
        "this looks like a date: Excel converted the cell; export the ids as text"
    } else if s.starts_with('=') {
        "this is a formula, not an id"
    } else {
        "expected 32 hex digits as xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
    }
}

/// List cells (SPEC §2): a JSON array, or items separated by `;` `,` `|` — or, when none of
/// those occurs, by whitespace (friendly plan names hold spaces, so whitespace splits only
/// when nothing else does).
pub fn list(s: &str) -> Result<Vec<String>, String> {
    let t = clean(s);
    if t.is_empty() || t == "[]" {
        return Ok(Vec::new());
    }
    if t.starts_with('[') {
        let v: Vec<serde_json::Value> =
            serde_json::from_str(t).map_err(|e| format!("not a JSON array: {e}"))?;
        return v
            .into_iter()
            .map(|x| match x {
                serde_json::Value::String(s) => Ok(clean(&s).to_string()),
                other => Err(format!("a JSON list item must be a string, not {other}")),
            })
            .filter(|r| r.as_ref().map_or(true, |s| !s.is_empty()))
            .collect();
    }
    let items: Vec<String> = if t.contains([';', ',', '|']) {
        t.split([';', ',', '|'])
            .map(clean)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    } else {
        t.split_whitespace()
            .map(clean)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    };
    Ok(items)
}

/// Booleans as exports and localised Excel write them.
pub fn boolean(s: &str) -> Option<bool> {
    keyword(s, |k| match k {
        "true" | "yes" | "y" | "1" | "waar" | "verdadeiro" | "verdadero" | "wahr" | "vrai"
        | "vero" | "sant" | "tosi" | "prawda" => Some(true),
        "false" | "no" | "n" | "0" | "onwaar" | "falso" | "falsch" | "faux" | "falsk"
        | "epätosi" | "fałsz" => Some(false),
        _ => None,
    })
}

pub fn state(s: &str) -> Option<State> {
    keyword(s, |k| match k {
        "" | "active" => Some(State::Active),
        "activewitherror" => Some(State::ActiveWithError),
        "disabled" => Some(State::Disabled),
        "error" => Some(State::Error),
        _ => None,
    })
}

/// `None`, `null` and empty mean no error; `Others` is the old spelling of `Other`.
pub fn license_error(s: &str) -> Result<Option<LicenseError>, ()> {
    keyword(s, |k| {
        Ok(Some(match k {
            "" | "none" | "null" => return Ok(None),
            "countviolation" => LicenseError::CountViolation,
            "mutuallyexclusiveviolation" => LicenseError::MutuallyExclusiveViolation,
            "dependencyviolation" => LicenseError::DependencyViolation,
            "prohibitedinusagelocationviolation" => {
                LicenseError::ProhibitedInUsageLocationViolation
            }
            "uniquenessviolation" => LicenseError::UniquenessViolation,
            "other" | "others" => LicenseError::Other,
            _ => return Err(()),
        }))
    })
}

/// Seat counts; Excel may have turned `25` into `25.0`.
pub fn count(s: &str) -> Option<i64> {
    let t = clean(s);
    if t.is_empty() {
        return Some(0);
    }
    t.parse::<i64>().ok().or_else(|| {
        t.parse::<f64>()
            .ok()
            .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
            .map(|f| f as i64)
    })
}

pub fn country(s: &str) -> Option<Country> {
    Country::parse(clean(s))
}

/// True for the values that mean "nothing here" in a group-reference column: Graph's `null`,
/// AdminDroid's `NA`.
pub fn is_null(s: &str) -> bool {
    keyword(s, |k| matches!(k, "" | "null" | "na" | "n/a" | "none"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_nbsp_and_tab() {
        assert_eq!(
            clean("RIGHTSMANAGEMENT_CE_GOV\t"),
            "RIGHTSMANAGEMENT_CE_GOV"
        );
        assert_eq!(clean("MCOCAP_FACULTY\u{a0}"), "MCOCAP_FACULTY");
        assert!(guid("420c7602-7f70-4895-9394-d3d679ea36fb\u{a0}").is_some());
        assert_eq!(name_key("O365_w/o\u{a0}Teams"), "o365_w/o teams");
    }

    /// The stack key is `name_key`, whatever the length, case, padding or script.
    #[test]
    fn keywords_are_keyed_as_name_key_keys_them() {
        for s in [
            "",
            " Active ",
            "ProhibitedInUsageLocationViolation",
            "#microsoft.graph.Group",
            "\u{a0}WAAR\t",
            "EPÄTOSI",
            "FAŁSZ",
            "x".repeat(48).as_str(),
            "Y".repeat(49).as_str(),
        ] {
            assert_eq!(keyword(s, str::to_string), name_key(s), "{s:?}");
        }
        assert_eq!(boolean(" Epätosi"), Some(false));
        assert_eq!(
            license_error("PROHIBITEDINUSAGELOCATIONVIOLATION"),
            Ok(Some(LicenseError::ProhibitedInUsageLocationViolation))
        );
        assert_eq!(state("ActiveWithError"), Some(State::ActiveWithError));
        assert!(is_null(" N/A "));
    }

    #[test]
    fn lists() {
        assert_eq!(list("A;B").unwrap(), vec!["A", "B"]);
        assert_eq!(list("A, B |C").unwrap(), vec!["A", "B", "C"]);
        assert_eq!(list("A B\tC").unwrap(), vec!["A", "B", "C"]);
        assert_eq!(list(r#"["A", " B "]"#).unwrap(), vec!["A", "B"]);
        assert_eq!(
            list("Exchange Online (Plan 2), Sway").unwrap(),
            vec!["Exchange Online (Plan 2)", "Sway"]
        );
        assert!(list("").unwrap().is_empty());
        assert!(list("[1]").is_err());
        assert!(list("[").is_err());
    }

    #[test]
    fn values() {
        assert_eq!(boolean("VERDADEIRO"), Some(true));
        assert_eq!(boolean("WAAR"), Some(true));
        assert_eq!(boolean("False"), Some(false));
        assert_eq!(boolean("maybe"), None);
        assert_eq!(state(" Active "), Some(State::Active));
        assert_eq!(state(""), Some(State::Active));
        assert_eq!(license_error(" None"), Ok(None));
        assert_eq!(license_error("Others"), Ok(Some(LicenseError::Other)));
        assert!(license_error("Broken").is_err());
        assert_eq!(count("25.0"), Some(25));
        assert_eq!(count("x"), None);
        assert!(guid_hint("6.02E+23").contains("scientific"));
        assert!(guid_hint("3/14/2024").contains("date"));
    }
}
