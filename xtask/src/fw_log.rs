//! The board demo's log as data. The app (`firmware/boards/app`) writes one
//! record per fact — `KIND key=value …` after defmt's level — and free text
//! for people; this reads the records and ignores the text.
//!
//! | kind | fields |
//! |---|---|
//! | `selftest` | `mismatches` |
//! | `model` | `bytes`, `ops`, `arena`, `images` |
//! | `image` | `k`, `predicted`, `host`, `label` |
//! | `counter` | `units_per_kinstr` |
//! | `layer` | `i`, `op`, `per_image`, `unit` |
//! | `total` | `per_image`, `unit` |
//! | `ram` | `arena`, `stack_high_water` |
//! | `summary` | `images`, `host_equal`, `correct` |

use std::collections::BTreeMap;

use anyhow::{Context, Result};

/// One record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// What it is about (`image`, `layer`, …).
    pub kind: String,
    /// Its fields.
    pub fields: BTreeMap<String, String>,
}

impl Record {
    /// A numeric field.
    pub fn num(&self, key: &str) -> Result<u64> {
        let v = self
            .fields
            .get(key)
            .with_context(|| format!("`{}` record without `{key}`", self.kind))?;
        v.parse()
            .with_context(|| format!("`{}` record: {key}={v} is not a number", self.kind))
    }

    /// A text field.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }
}

const LEVELS: [&str; 5] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"];

/// The records of a decoded log, in order. A line is a record when, after
/// the level, it is a word followed by `key=value` tokens only (values
/// without spaces: the board logs names, not prose, in records).
pub fn records(lines: &[String]) -> Vec<Record> {
    lines
        .iter()
        .filter_map(|line| {
            let mut words = line.split_whitespace().peekable();
            if words.peek().is_some_and(|w| LEVELS.contains(w)) {
                words.next();
            }
            let kind = words.next()?;
            let mut fields = BTreeMap::new();
            for w in words {
                let (k, v) = w.split_once('=')?;
                fields.insert(k.to_string(), v.to_string());
            }
            (!fields.is_empty() && !kind.contains('=')).then(|| Record {
                kind: kind.to_string(),
                fields,
            })
        })
        .collect()
}

/// The records of one kind.
pub fn of_kind<'a>(recs: &'a [Record], kind: &'a str) -> impl Iterator<Item = &'a Record> + 'a {
    recs.iter().filter(move |r| r.kind == kind)
}

/// The single record of `kind` (the last, if the board wrote several).
pub fn one<'a>(recs: &'a [Record], kind: &str) -> Result<&'a Record> {
    recs.iter()
        .rev()
        .find(|r| r.kind == kind)
        .with_context(|| format!("the board logged no `{kind}` record"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn records_are_read_and_prose_is_skipped() {
        let log = lines(&[
            "INFO nyquist firmware demo: kernel helium",
            "INFO image k=3 predicted=7 host=7 label=5",
            "INFO layer i=0 op=conv per_image=1200 unit=instructions",
            "ERROR inference failed on image 4: op #2 is malformed",
            "summary images=20 host_equal=20 correct=17",
        ]);
        let r = records(&log);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].kind, "image");
        assert_eq!(r[0].num("predicted").unwrap(), 7);
        assert_eq!(r[1].text("op"), Some("conv"));
        assert_eq!(one(&r, "summary").unwrap().num("correct").unwrap(), 17);
        assert!(one(&r, "ram").is_err());
        assert!(r[0].num("missing").is_err());
        assert_eq!(of_kind(&r, "layer").count(), 1);
    }

    #[test]
    fn a_non_numeric_field_is_an_error() {
        let r = records(&lines(&["INFO total per_image=abc unit=cycles"]));
        let e = r[0].num("per_image").unwrap_err().to_string();
        assert!(e.contains("per_image=abc"), "{e}");
    }
}
