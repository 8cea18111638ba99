//! The compliance workbench's data: the MHLW guideline as versioned data files (in `data/`, not
//! code), read and checked here.
//!
//! - **Catalogs** (`data/catalogs/*.toml`): the 保守委託機関編 checklist (`hoshu-7.0`: 11
//!   sections, 52 遵守項目 with the ch.3 commentary) and the 【別紙】 MDS and SDS check rows
//!   (`mds-7.0`, `sds-7.0`), each file naming its source document, version and publication.
//! - **The applicability flowchart** (`data/flowcharts/*.toml`): 図1 as a question tree.
//! - **Correspondence tables** (`data/mappings/*.toml`): typed mappings between guideline
//!   versions in OSCAL's relationship vocabulary, which an institution may extend with files of
//!   its own in the same format.
//!
//! Every file is checked when it is read ([`Catalog::check`], [`Flowchart::check`],
//! [`MappingSet::check`]); `tests/hoshu.rs` and `tests/disclosure.rs` check the shipped files
//! against the source texts in `sources/`. [`oscal`] writes a catalog as OSCAL 1.1 JSON.
//!
//! Known gaps of the sources (see each file's header comment): no publication date is printed
//! in them; 図1 survives only as its caption, notes and one sentence, so the flowchart has the
//! one question the text names; the correspondence tables are partial pages.

pub mod disclosure;
pub mod flowchart;
pub mod mapping;
pub mod oscal;

pub use flowchart::Flowchart;
pub use mapping::MappingSet;

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Where a data file's content comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The document's title as printed.
    pub document: String,
    /// Its version (e.g. `7.0`).
    pub version: String,
    /// When it was published, as printed (e.g. `2023-05` or `2023-05-31`).
    pub published: String,
    /// Who published it (e.g. 厚生労働省).
    pub publisher: String,
    /// The source text it was read from (a file in `sources/`).
    pub file: String,
}

/// A catalog's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogMeta {
    /// Stable ID: `hoshu-7.0`, `mds-7.0`, `sds-7.0`.
    pub id: String,
    /// Title.
    pub title: String,
    /// Source.
    pub source: Source,
}

/// A section (a group of items) of a catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    /// As printed (`1` … `11`, or an MDS/SDS group's number).
    pub number: String,
    /// Its title as printed.
    pub title: String,
}

/// One item of a catalog: a 遵守項目 or an MDS/SDS row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// Stable ID: `<catalog>/<section>-<n>` for the checklist (`hoshu-7.0/9-4` for section 9
    /// item ④), `<catalog>/<number>` for MDS/SDS rows (`mds-7.0/21.1`).
    pub id: String,
    /// The section's number.
    pub section: String,
    /// The item's number as printed (`④`, `21.1`).
    pub number: String,
    /// The item's text.
    pub text: String,
    /// The commentary (ch.3 解説 for the checklist).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commentary: Option<String>,
    /// The guideline section it answers, as printed (MDS/SDS rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guideline_section: Option<String>,
}

/// A catalog file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Header.
    pub catalog: CatalogMeta,
    /// Sections, in order.
    pub sections: Vec<Section>,
    /// Items, in order.
    pub items: Vec<Item>,
}

/// A data file that does not hold together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {problem}")]
pub struct DataError {
    /// Which file.
    pub file: String,
    /// What is wrong.
    pub problem: String,
}

fn problem(file: &str, problem: impl Into<String>) -> DataError {
    DataError { file: file.to_owned(), problem: problem.into() }
}

impl Catalog {
    /// Parses and checks a catalog file.
    ///
    /// # Errors
    /// A [`DataError`] naming the file and the problem.
    pub fn parse(file: &str, text: &str) -> Result<Self, DataError> {
        let catalog: Self = toml::from_str(text).map_err(|e| problem(file, e.to_string()))?;
        catalog.check(file)?;
        Ok(catalog)
    }

    /// Checks that item IDs are unique and start with the catalog's ID, that every item's
    /// section exists, and that no text is empty.
    ///
    /// # Errors
    /// A [`DataError`].
    pub fn check(&self, file: &str) -> Result<(), DataError> {
        let sections: BTreeSet<&str> = self.sections.iter().map(|s| s.number.as_str()).collect();
        if sections.len() != self.sections.len() {
            return Err(problem(file, "a section number is used twice"));
        }
        let mut ids = BTreeSet::new();
        for item in &self.items {
            if !ids.insert(item.id.as_str()) {
                return Err(problem(file, format!("item {} is listed twice", item.id)));
            }
            if !item.id.starts_with(&format!("{}/", self.catalog.id)) {
                return Err(problem(file, format!("item {} is not in catalog {}", item.id, self.catalog.id)));
            }
            if !sections.contains(item.section.as_str()) {
                return Err(problem(file, format!("item {} names an unknown section {}", item.id, item.section)));
            }
            if item.text.trim().is_empty() {
                return Err(problem(file, format!("item {} has no text", item.id)));
            }
        }
        Ok(())
    }
}

/// The catalog files shipped with mamori.
pub const CATALOG_FILES: [(&str, &str); 3] = [
    ("hoshu-7.0.toml", include_str!("../data/catalogs/hoshu-7.0.toml")),
    ("mds-7.0.toml", include_str!("../data/catalogs/mds-7.0.toml")),
    ("sds-7.0.toml", include_str!("../data/catalogs/sds-7.0.toml")),
];

/// Every shipped catalog, checked.
///
/// # Errors
/// The first file that does not hold together (a defect of the shipped data, caught by the
/// tests).
pub fn catalogs() -> Result<Vec<Catalog>, DataError> {
    CATALOG_FILES.iter().map(|(file, text)| Catalog::parse(file, text)).collect()
}

/// One row of `mamori catalog list --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListedItem {
    /// The catalog.
    pub catalog: String,
    /// The item's ID.
    pub id: String,
    /// Its section.
    pub section: String,
    /// Its number as printed.
    pub number: String,
    /// Its text.
    pub text: String,
}

/// Every item of every shipped catalog, in order.
///
/// # Errors
/// As [`catalogs`].
pub fn list() -> Result<Vec<ListedItem>, DataError> {
    Ok(catalogs()?
        .into_iter()
        .flat_map(|c| {
            let id = c.catalog.id.clone();
            c.items.into_iter().map(move |i| ListedItem {
                catalog: id.clone(),
                id: i.id,
                section: i.section,
                number: i.number,
                text: i.text,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn the_shipped_catalogs_hold_52_41_and_58_items() {
        let all = catalogs().unwrap();
        let counts: Vec<(String, usize)> = all.iter().map(|c| (c.catalog.id.clone(), c.items.len())).collect();
        assert_eq!(counts, [("hoshu-7.0".to_owned(), 52), ("mds-7.0".to_owned(), 41), ("sds-7.0".to_owned(), 58)]);
        let listed = list().unwrap();
        assert_eq!(listed.len(), 151);
        let ids: BTreeSet<&str> = listed.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids.len(), 151, "IDs are unique across catalogs");
        assert!(ids.contains("hoshu-7.0/9-4"));
    }

    #[test]
    fn a_broken_catalog_is_refused_with_the_file_and_the_problem() {
        let (file, text) = CATALOG_FILES[0];
        let mut c = Catalog::parse(file, text).unwrap();
        c.items[1].id = c.items[0].id.clone();
        assert!(c.check(file).unwrap_err().to_string().contains("listed twice"));
        let mut c = Catalog::parse(file, text).unwrap();
        c.items[0].section = "99".into();
        assert!(c.check(file).unwrap_err().problem.contains("unknown section 99"));
        assert!(Catalog::parse("x.toml", "[catalog]\nid = 1").unwrap_err().to_string().starts_with("x.toml: "));
    }
}
