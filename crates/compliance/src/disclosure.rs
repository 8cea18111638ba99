//! mamori's own disclosure (自己開示): its answer to each of the 99 MDS/SDS rows of the
//! 【別紙】 (`mds-7.0`, `sds-7.0`) — はい, いいえ or 対象外 — with an explanation and, for every
//! はい, the names of the automated tests that prove it. The answers are a data file
//! (`data/disclosure/mamori.toml`), not code; [`Disclosure::check`] requires one row per catalog
//! item and at least one test per はい, and [`verify_tests`] requires every named test to have
//! run and passed in a given `cargo test` output (CI runs it over the whole run's output).
//!
//! A test is named `<target>::<path>`: the test binary's target name as cargo prints it in its
//! `Running … (target/…/deps/<target>-<hash>)` line (`mamori_core` for a crate's unit tests,
//! `http` or `cli` for an integration test binary), then the test's path as printed in its
//! `test <path> ... ok` line.

use crate::{Catalog, DataError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// An answer (the type vendors' disclosures use too).
pub use mamori_core::vendor::Answer;

/// The file's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisclosureMeta {
    /// The product.
    pub product: String,
    /// Its version the answers are for.
    pub version: String,
    /// The catalogs answered.
    pub catalogs: Vec<String>,
}

/// One answered row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    /// The catalog item's ID (`mds-7.0/…`, `sds-7.0/…`).
    pub id: String,
    /// はい, いいえ or 対象外.
    pub answer: Answer,
    /// Why: what mamori does (はい), what is missing (いいえ), or why it does not apply.
    pub explanation: String,
    /// For はい: the tests that prove it.
    #[serde(default)]
    pub tests: Vec<String>,
}

/// The disclosure file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disclosure {
    /// Header.
    pub disclosure: DisclosureMeta,
    /// The rows.
    pub rows: Vec<Row>,
}

/// The shipped disclosure.
pub const FILE: (&str, &str) = ("disclosure/mamori.toml", include_str!("../data/disclosure/mamori.toml"));

fn well_formed_test(name: &str) -> bool {
    let mut parts = name.split("::");
    let target = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    !target.is_empty()
        && target.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !rest.is_empty()
        && rest.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

impl Disclosure {
    /// Parses and checks the disclosure against the catalogs it answers.
    ///
    /// # Errors
    /// A [`DataError`] naming the file and the problem.
    pub fn parse(file: &str, text: &str, catalogs: &[Catalog]) -> Result<Self, DataError> {
        let d: Self = toml::from_str(text).map_err(|e| DataError { file: file.to_owned(), problem: e.to_string() })?;
        d.check(file, catalogs)?;
        Ok(d)
    }

    /// One row per item of each answered catalog (no more, no fewer), each with an
    /// explanation, every はい with at least one well-formed test name.
    ///
    /// # Errors
    /// A [`DataError`].
    pub fn check(&self, file: &str, catalogs: &[Catalog]) -> Result<(), DataError> {
        let bad = |p: String| DataError { file: file.to_owned(), problem: p };
        let mut expected = BTreeSet::new();
        for id in &self.disclosure.catalogs {
            let c =
                catalogs.iter().find(|c| &c.catalog.id == id).ok_or_else(|| bad(format!("unknown catalog {id}")))?;
            expected.extend(c.items.iter().map(|i| i.id.clone()));
        }
        let mut seen = BTreeSet::new();
        for row in &self.rows {
            if !expected.contains(&row.id) {
                return Err(bad(format!("row {} is not an item of the answered catalogs", row.id)));
            }
            if !seen.insert(row.id.clone()) {
                return Err(bad(format!("row {} is answered twice", row.id)));
            }
            if row.explanation.trim().is_empty() {
                return Err(bad(format!("row {} has no explanation", row.id)));
            }
            if row.answer == Answer::Yes && row.tests.is_empty() {
                return Err(bad(format!("row {} says はい without a test", row.id)));
            }
            if let Some(t) = row.tests.iter().find(|t| !well_formed_test(t)) {
                return Err(bad(format!("row {}: {t} is not a test name (<target>::<path>)", row.id)));
            }
        }
        if let Some(missing) = expected.difference(&seen).next() {
            return Err(bad(format!("item {missing} has no answer")));
        }
        Ok(())
    }
}

/// The shipped disclosure, checked against the shipped catalogs.
///
/// # Errors
/// As [`Disclosure::parse`].
pub fn shipped() -> Result<Disclosure, DataError> {
    let catalogs = crate::catalogs()?;
    Disclosure::parse(FILE.0, FILE.1, &catalogs)
}

/// What each test did in a `cargo test` output: `ok`, `FAILED` or `ignored`, by
/// `<target>::<path>`. A test that ran more than once (as the PostgreSQL phase reruns some) keeps
/// its worst result.
#[must_use]
pub fn test_results(output: &str) -> BTreeMap<String, String> {
    let mut target = String::new();
    let mut results: BTreeMap<String, String> = BTreeMap::new();
    for line in output.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("Running ") {
            if let Some(deps) = rest.split("deps/").nth(1) {
                let name = deps.trim_end_matches(')');
                target = name.rsplit_once('-').map_or(name, |(t, _)| t).to_owned();
            }
            continue;
        }
        let Some(rest) = line.strip_prefix("test ") else { continue };
        let Some((path, status)) = rest.split_once(" ... ") else { continue };
        let status = status.split_whitespace().next().unwrap_or_default();
        if !matches!(status, "ok" | "FAILED" | "ignored") || target.is_empty() {
            continue;
        }
        let key = format!("{target}::{path}");
        let worse = results.get(&key).is_none_or(|old| old == "ok" || status == "FAILED");
        if worse {
            results.insert(key, status.to_owned());
        }
    }
    results
}

/// The tests named by a はい that did not run or did not pass in `output`, with what happened
/// (`missing`, `FAILED`, `ignored`), by row.
#[must_use]
pub fn verify_tests(d: &Disclosure, output: &str) -> Vec<(String, String, String)> {
    let results = test_results(output);
    let mut problems = Vec::new();
    for row in d.rows.iter().filter(|r| r.answer == Answer::Yes) {
        for t in &row.tests {
            match results.get(t).map(String::as_str) {
                Some("ok") => {}
                Some(other) => problems.push((row.id.clone(), t.clone(), other.to_owned())),
                None => problems.push((row.id.clone(), t.clone(), "missing".to_owned())),
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    const OUTPUT: &str = "\
     Running unittests src/lib.rs (target/debug/deps/mamori_core-0123abcd)
test record::tests::diff ... ok
test record::tests::slow ... ignored
     Running tests/http/main.rs (target/debug/deps/http-89ef0123)
test records::a ... ok
test records::b ... FAILED
     Running tests/http/main.rs (target/debug/deps/http-89ef0123)
test records::a ... FAILED
";

    #[test]
    fn results_are_named_by_target_and_path_and_keep_the_worst() {
        let r = test_results(OUTPUT);
        assert_eq!(r["mamori_core::record::tests::diff"], "ok");
        assert_eq!(r["mamori_core::record::tests::slow"], "ignored");
        assert_eq!(r["http::records::a"], "FAILED", "the later failure wins");
        assert_eq!(r["http::records::b"], "FAILED");
    }

    #[test]
    fn the_shipped_disclosure_answers_all_99_rows() {
        let d = shipped().unwrap();
        assert_eq!(d.rows.len(), 41 + 58);
    }

    #[test]
    fn a_yes_needs_a_test_that_passed() {
        let catalogs = crate::catalogs().unwrap();
        let mut d = shipped().unwrap();
        let row = d.rows.iter_mut().find(|r| r.answer == Answer::Yes).unwrap();
        row.tests = vec!["http::records::a".into(), "http::records::nowhere".into()];
        let problems = verify_tests(&d, OUTPUT);
        assert!(problems.iter().any(|p| p.1 == "http::records::a" && p.2 == "FAILED"));
        assert!(problems.iter().any(|p| p.1 == "http::records::nowhere" && p.2 == "missing"));
        let row = d.rows.iter_mut().find(|r| r.answer == Answer::Yes).unwrap();
        row.tests.clear();
        assert!(d.check("f", &catalogs).unwrap_err().problem.contains("without a test"));
        d.rows.pop();
        assert!(d.check("f", &catalogs).is_err());
    }
}
