//! Columns are found by name, never by position: header and alias are compared with case,
//! spaces, `_`, `-` and `.` ignored, so `User principal name`, `userPrincipalName` and
//! `USER_PRINCIPAL_NAME` are one column. docs/inputs.md lists every alias and its export.

use super::table::Table;
use crate::diag::{quote, Code, Problem};

/// One logical column of an input file and the names real exports give it.
pub struct Col {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
}

pub fn norm(h: &str) -> String {
    h.chars()
        .filter(|c| {
            !matches!(
                c,
                ' ' | '_' | '-' | '.' | '\t' | '\u{a0}' | '\u{feff}' | '"'
            )
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// Where each wanted column stands in the table, if it does.
pub struct Columns {
    pub at: Vec<Option<usize>>,
}

impl Columns {
    /// Matches headers to columns; two headers naming one column are an error, since silently
    /// picking one could read the wrong value.
    pub fn resolve(table: &Table, cols: &[Col], problems: &mut Vec<Problem>) -> Columns {
        let normed: Vec<String> = table.headers.iter().map(|h| norm(h)).collect();
        let mut at = Vec::with_capacity(cols.len());
        for col in cols {
            let names: Vec<String> = std::iter::once(col.name)
                .chain(col.aliases.iter().copied())
                .map(norm)
                .collect();
            let hits: Vec<usize> = normed
                .iter()
                .enumerate()
                .filter(|(_, h)| names.contains(h))
                .map(|(i, _)| i)
                .collect();
            if hits.len() > 1 {
                let shown: Vec<String> = hits.iter().map(|&i| quote(&table.headers[i])).collect();
                problems.push(
                    Problem::error(
                        Code::DuplicateColumn,
                        format!(
                            "{} columns all mean `{}`: {}",
                            hits.len(),
                            col.name,
                            shown.join(", ")
                        ),
                    )
                    .at(table.locate(table.header_origin(hits[1])))
                    .snippet(
                        table.header_row as usize,
                        &table.header_line(),
                        &table.headers[hits[1]],
                        "second column with this meaning",
                    )
                    .help("keep one of them: licshift will not guess which holds the right value"),
                );
            }
            at.push(hits.first().copied());
        }
        // Two headers for a column licshift does not read change nothing today, but a
        // `--wave-by` or a later version could read the wrong one: a warning.
        // Each header's places, found once: a 100,000-column export compared every header
        // with every other.
        let mut places: std::collections::HashMap<&str, Vec<usize>> =
            std::collections::HashMap::with_capacity(normed.len());
        for (i, h) in normed.iter().enumerate() {
            places.entry(h.as_str()).or_default().push(i);
        }
        for (i, h) in normed.iter().enumerate() {
            let read = at.contains(&Some(i));
            let same = &places[h.as_str()];
            let first = same[0] == i;
            let again = &same[1..];
            if read || !first || again.is_empty() || h.is_empty() {
                continue;
            }
            problems.push(
                Problem::warning(
                    Code::DuplicateColumn,
                    format!(
                        "the header names {} twice; licshift does not read that column",
                        quote(&table.headers[i])
                    ),
                )
                .at(table.locate(table.header_origin(again[0])))
                .help("a column that is read (--wave-by included) may not be there twice"),
            );
        }
        Columns { at }
    }

    pub fn get(&self, i: usize) -> Option<usize> {
        self.at.get(i).copied().flatten()
    }
}

/// The problem for a required column that is not there, with a "did you mean" when a header
/// is a near miss of its name or one of its aliases.
pub fn missing(table: &Table, col: &Col, also: Option<&Col>) -> Problem {
    let what = match also {
        Some(o) => format!("`{}` or `{}`", col.name, o.name),
        None => format!("`{}`", col.name),
    };
    let mut p = Problem::error(
        Code::MissingColumn,
        format!("the header has no column {what}"),
    )
    .at(table.locate(table.header_origin(0)));
    let mut best: Option<(usize, usize)> = None;
    for (i, h) in table.headers.iter().enumerate() {
        let h = norm(h);
        for cand in std::iter::once(col).chain(also) {
            for name in std::iter::once(cand.name).chain(cand.aliases.iter().copied()) {
                let d = distance(&h, &norm(name));
                let limit = (norm(name).len() / 5).clamp(1, 3);
                if d <= limit && best.is_none_or(|(_, bd)| d < bd) {
                    best = Some((i, d));
                }
            }
        }
    }
    match best {
        Some((i, _)) => {
            p.location = table.locate(table.header_origin(i));
            p.snippet(table.header_row as usize, &table.header_line(), &table.headers[i], "this header is close")
                .help(format!("did you mean `{}`? (columns are matched by name; see docs/inputs.md for every alias)", col.name))
        }
        None => {
            let shown: Vec<&str> = table.headers.iter().take(12).map(String::as_str).collect();
            p.help(format!(
                "the header has: {}. See docs/inputs.md for the names each export uses",
                shown.join(", ")
            ))
        }
    }
}

/// Levenshtein distance, for hints only.
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises() {
        assert_eq!(norm("User principal name"), "userprincipalname");
        assert_eq!(norm("\u{feff}Display name"), "displayname");
        assert_eq!(norm("PrepaidUnits.Enabled"), "prepaidunitsenabled");
        assert_eq!(distance("userprinciplename", "userprincipalname"), 2);
    }
}
