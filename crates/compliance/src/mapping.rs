//! Correspondence tables between guideline versions, as typed mappings in OSCAL's mapping
//! vocabulary.
//!
//! A mapping file (`data/mappings/*.toml`) holds one [`MappingSet`]: a header naming what is
//! mapped to what and the document the table was read from, then one [`Mapping`] per row of the
//! table. Each mapping says how the source item (`from`) relates to its targets (`to`) with one of
//! OSCAL's relationship values ([`Relationship`]) and gives the reason in `rationale`.
//!
//! A file looks like this:
//!
//! ```toml
//! [mapping_set]
//! id = "5.2-to-6.0"
//! title = "第5.2版 → 第6.0版"
//! from = "5.2"
//! to = "6.0"
//!
//! [mapping_set.source]
//! document = "…"
//! version = "6.0"
//! published = "unknown"
//! publisher = "厚生労働省"
//! file = "000_440e422744ed7759.txt"
//!
//! [[mappings]]
//! from = "9.1. C 3."
//! from_text = "情報作成管理者は、…"
//! to = ["企画管理編 16④"]
//! relationship = "equivalent-to"
//! rationale = "…"
//! ```
//!
//! The shipped files are listed in [`MAPPING_FILES`] and read by [`mapping_sets`]; an
//! institution adds its own with [`load_extra`].

use crate::{DataError, Source};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// How a source item relates to its targets: the relationship values of the OSCAL mapping
/// model, read as "the source is … the target".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Relationship {
    /// The same requirement (possibly reworded).
    EquivalentTo,
    /// Everything the source asks is asked by the target, which asks more.
    SubsetOf,
    /// Everything the target asks is asked by the source, which asks more (the rest went
    /// elsewhere or was dropped).
    SupersetOf,
    /// Each asks something the other does not.
    IntersectsWith,
    /// The source has no counterpart among the targets; `to` is empty.
    NoRelationship,
}

/// A mapping file's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingMeta {
    /// Stable ID (e.g. `5.2-to-6.0`), unique among the loaded sets.
    pub id: String,
    /// Title.
    pub title: String,
    /// What the `from` references point into (e.g. `5.2`, `provider-guideline`).
    pub from: String,
    /// What the `to` references point into (e.g. `6.0`).
    pub to: String,
    /// The document the table was read from.
    pub source: Source,
}

/// One row of a correspondence table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// The source item's reference as printed.
    pub from: String,
    /// The source item's text, where the table gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_text: Option<String>,
    /// The target references as printed; several where the table lists several, none for
    /// [`Relationship::NoRelationship`].
    #[serde(default)]
    pub to: Vec<String>,
    /// The targets' text or titles, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_text: Option<String>,
    /// How `from` relates to `to`.
    pub relationship: Relationship,
    /// Why: what is the same and what differs.
    pub rationale: String,
}

/// A correspondence table: a mapping file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingSet {
    /// Header.
    pub mapping_set: MappingMeta,
    /// Rows, in order.
    #[serde(default)]
    pub mappings: Vec<Mapping>,
}

fn problem(file: &str, problem: impl Into<String>) -> DataError {
    DataError { file: file.to_owned(), problem: problem.into() }
}

impl MappingSet {
    /// Parses and checks a mapping file.
    ///
    /// # Errors
    /// A [`DataError`] naming the file and the problem.
    pub fn parse(file: &str, text: &str) -> Result<Self, DataError> {
        let set: Self = toml::from_str(text).map_err(|e| problem(file, e.to_string()))?;
        set.check(file)?;
        Ok(set)
    }

    /// Checks that the header names an ID and both sides, that every reference is non-empty,
    /// that every mapping has a rationale, that `no-relationship` mappings have no targets and
    /// all others at least one, that no (from, to) pair is given twice, and that a source item
    /// mapped with `no-relationship` is not also mapped to something.
    ///
    /// # Errors
    /// A [`DataError`].
    pub fn check(&self, file: &str) -> Result<(), DataError> {
        let meta = &self.mapping_set;
        for (what, value) in [("id", &meta.id), ("from", &meta.from), ("to", &meta.to)] {
            if value.trim().is_empty() {
                return Err(problem(file, format!("mapping_set.{what} is empty")));
            }
        }
        let mut pairs = BTreeSet::new();
        // For each source item: whether it was mapped with no-relationship, and whether to targets.
        let mut kinds: BTreeMap<&str, (bool, bool)> = BTreeMap::new();
        for (n, m) in self.mappings.iter().enumerate() {
            let row = n.saturating_add(1);
            if m.from.trim().is_empty() {
                return Err(problem(file, format!("mapping {row} has an empty `from`")));
            }
            if m.to.iter().any(|t| t.trim().is_empty()) {
                return Err(problem(file, format!("mapping {row} ({}) has an empty target", m.from)));
            }
            if m.rationale.trim().is_empty() {
                return Err(problem(file, format!("mapping {row} ({}) has no rationale", m.from)));
            }
            let none = m.relationship == Relationship::NoRelationship;
            if none && !m.to.is_empty() {
                return Err(problem(file, format!("mapping {row} ({}) is no-relationship but has targets", m.from)));
            }
            if !none && m.to.is_empty() {
                return Err(problem(file, format!("mapping {row} ({}) has no targets", m.from)));
            }
            let kind = kinds.entry(m.from.as_str()).or_insert((false, false));
            if none {
                kind.0 = true;
            } else {
                kind.1 = true;
            }
            if kind.0 && kind.1 {
                return Err(problem(file, format!("{} is mapped both with no-relationship and to targets", m.from)));
            }
            if none && !pairs.insert((m.from.as_str(), "")) {
                return Err(problem(file, format!("{} is mapped with no-relationship twice", m.from)));
            }
            for to in &m.to {
                if !pairs.insert((m.from.as_str(), to.as_str())) {
                    return Err(problem(file, format!("{} → {to} is given twice", m.from)));
                }
            }
        }
        Ok(())
    }
}

/// The mapping files shipped with mamori.
pub const MAPPING_FILES: [(&str, &str); 2] = [
    ("5.2-to-6.0.toml", include_str!("../data/mappings/5.2-to-6.0.toml")),
    ("provider-guideline-to-6.0.toml", include_str!("../data/mappings/provider-guideline-to-6.0.toml")),
];

/// Every shipped mapping set, checked.
///
/// # Errors
/// The first file that does not hold together (a defect of the shipped data, caught by the
/// tests), or two files with the same ID.
pub fn mapping_sets() -> Result<Vec<MappingSet>, DataError> {
    let sets = MAPPING_FILES.iter().map(|(file, text)| MappingSet::parse(file, text)).collect::<Result<Vec<_>, _>>()?;
    let mut ids = BTreeSet::new();
    for (set, (file, _)) in sets.iter().zip(MAPPING_FILES.iter()) {
        if !ids.insert(set.mapping_set.id.as_str()) {
            return Err(problem(file, format!("mapping set {} is shipped twice", set.mapping_set.id)));
        }
    }
    Ok(sets)
}

/// Reads a mapping file of an institution's own, e.g. its mapping from an in-house checklist to
/// the guideline or a correspondence table mamori does not ship.
///
/// The file has the format of the shipped ones (see the [module documentation](self)): a
/// `[mapping_set]` header with `id`, `title`, `from`, `to` and a `[mapping_set.source]` naming the
/// document it was read from, then `[[mappings]]` rows with `from`, optional `from_text`, `to`
/// (a list; empty only for `no-relationship`), optional `to_text`, `relationship` (one of
/// `equivalent-to`, `subset-of`, `superset-of`, `intersects-with`, `no-relationship`) and a
/// `rationale`. It is checked like a shipped file ([`MappingSet::check`]), and its ID must not be
/// one of the shipped sets' IDs, so that it adds to them rather than silently replacing one.
/// `file` is only used to name the file in errors.
///
/// # Errors
/// A [`DataError`] naming `file` and the problem.
pub fn load_extra(file: &str, text: &str) -> Result<MappingSet, DataError> {
    let set = MappingSet::parse(file, text)?;
    for shipped in mapping_sets()? {
        if shipped.mapping_set.id == set.mapping_set.id {
            return Err(problem(
                file,
                format!("mapping set {} is already shipped with mamori; choose another id", set.mapping_set.id),
            ));
        }
    }
    Ok(set)
}
