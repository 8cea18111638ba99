//! The MDS/SDS catalogs (`data/catalogs/mds-7.0.toml`, `sds-7.0.toml`) and the correspondence
//! tables (`data/mappings/*.toml`), checked against the source texts they were read from.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use mamori_compliance::mapping::{self, MAPPING_FILES, MappingSet, Relationship};
use mamori_compliance::{CATALOG_FILES, Catalog};
use std::collections::{BTreeMap, BTreeSet};

const GUIDELINE: &str = include_str!("../sources/001_af92fb8030f266ae.txt");
const TABLE_52_TO_60: &str = include_str!("../sources/000_440e422744ed7759.txt");
const TABLE_PROVIDER_TO_60: &str = include_str!("../sources/002_f6062c0fd1f61885.txt");

/// The text with all whitespace (spaces, tabs, line breaks) removed, for comparisons that must
/// not depend on how the extraction wrapped or spaced things.
fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

fn catalog(id: &str) -> Catalog {
    let name = format!("{id}.toml");
    let (file, text) = CATALOG_FILES.iter().find(|(file, _)| *file == name).expect("catalog file listed");
    Catalog::parse(file, text).unwrap()
}

/// The 【別紙】 part of the guideline: from the last occurrence of its heading (the first is the
/// table of contents) to the end of the text.
fn annex() -> &'static str {
    let start = GUIDELINE.rfind("【別紙】 MDS/SDS におけるセキュリティ確認事項").expect("annex heading");
    &GUIDELINE[start..]
}

/// The MDS or SDS table of the annex.
fn table(kind: &str) -> &'static str {
    let annex = annex();
    let mds = annex.find("MDS における確認事項").expect("MDS heading");
    let sds = annex.find("SDS における確認事項").expect("SDS heading");
    match kind {
        "mds" => &annex[mds..sds],
        "sds" => &annex[sds..],
        _ => panic!("no table {kind}"),
    }
}

/// A row of an annex table as the source prints it.
#[derive(Debug)]
struct SourceRow {
    /// The 「ガイドライン項目」 cell in force for the row (carried down from the merged cell).
    group: String,
    /// The 「項番」 cell, e.g. "No.21 / 21.1 / 21.2".
    cell: String,
    /// The 「項目」 cell, with a continuation across a page break appended.
    text: String,
    /// The pieces `text` was joined from (one, or two for a row continued across a page break).
    parts: Vec<String>,
}

/// The rows of an annex table, read by this pattern: the extraction writes every table line as
/// four tab-separated cells (ガイドライン項目, 項番, 項目, 適合状況). A line whose 項番 cell starts
/// with "No." is a row; an empty ガイドライン項目 cell means the group above goes on (a merged
/// cell). The header line repeated on every page (ガイドライン項目 / 項番 / 項目 / 適合状況) is
/// skipped. A line with an empty 項番 cell continues the row above across a page break: its 項目
/// cell is appended to that row's text and its ガイドライン項目 cell to that row's group title.
fn source_rows(kind: &str) -> Vec<SourceRow> {
    let mut rows: Vec<SourceRow> = Vec::new();
    for line in table(kind).lines() {
        let cells: Vec<&str> = line.split('\t').map(str::trim).collect();
        if cells.len() != 4 || cells[0] == "ガイドライン項目" {
            continue;
        }
        let (group, cell, text) = (cells[0], cells[1], cells[2]);
        if cell.starts_with("No.") {
            let group = if group.is_empty() {
                rows.last().expect("a first row names its group").group.clone()
            } else {
                group.to_owned()
            };
            rows.push(SourceRow { group, cell: cell.to_owned(), text: text.to_owned(), parts: vec![text.to_owned()] });
        } else {
            let last = rows.last_mut().expect("a continuation follows a row");
            if !text.is_empty() {
                last.text.push_str(text);
                last.parts.push(text.to_owned());
            }
            if !group.is_empty() {
                let old = last.group.clone();
                let new = format!("{old}{group}");
                for row in rows.iter_mut().filter(|r| r.group == old) {
                    row.group.clone_from(&new);
                }
            }
        }
    }
    rows
}

/// A 項番 cell as an item's number: without the "No." prefix and without the stray "、" some
/// SDS cells end in.
fn number_of(cell: &str) -> String {
    let number = cell.strip_prefix("No.").expect("No. prefix").trim();
    number.strip_suffix('、').unwrap_or(number).trim().to_owned()
}

/// The individual numbers of a cell or an item's number ("21 / 21.1 / 21.2" → 21, 21.1, 21.2).
fn numbers_in(number: &str) -> Vec<String> {
    number.split('/').map(|n| n.trim().to_owned()).collect()
}

#[test]
fn both_catalogs_parse_with_the_printed_row_counts() {
    let mds = catalog("mds-7.0");
    let sds = catalog("sds-7.0");
    assert_eq!(mds.items.len(), 41);
    assert_eq!(sds.items.len(), 58);
    assert_eq!(mds.items.len() + sds.items.len(), 99);
    assert_eq!(source_rows("mds").len(), 41, "the source's MDS table has 41 rows");
    assert_eq!(source_rows("sds").len(), 58, "the source's SDS table has 58 rows");
    for (c, id) in [(&mds, "mds-7.0"), (&sds, "sds-7.0")] {
        assert_eq!(c.catalog.id, id);
        assert_eq!(c.catalog.source.version, "7.0");
        assert_eq!(c.catalog.source.publisher, "厚生労働省");
        assert_eq!(c.catalog.source.file, "001_af92fb8030f266ae.txt");
        assert!(c.catalog.source.document.contains("保守委託機関編"));
        c.check(id).unwrap();
    }
}

#[test]
fn the_publication_date_is_not_invented() {
    // The front matter (title page up to the table of contents) prints no date, and nothing
    // else in the text is the document's date; the catalogs say so rather than guess.
    let front = &GUIDELINE[..GUIDELINE.find("目次").unwrap()];
    assert!(front.contains("第 7.0 版"));
    assert!(!front.contains('年') && !front.contains("令和"));
    for id in ["mds-7.0", "sds-7.0"] {
        assert_eq!(catalog(id).catalog.source.published, "unknown");
    }
}

#[test]
fn ids_and_numbers_follow_the_printed_cells() {
    for id in ["mds-7.0", "sds-7.0"] {
        let c = catalog(id);
        let mut numbers = BTreeSet::new();
        for item in &c.items {
            // mds-7.0/21.1; a cell printing several numbers joins them with "+".
            assert_eq!(item.id, format!("{id}/{}", numbers_in(&item.number).join("+")), "{}", item.id);
            assert!(!item.number.starts_with("No.") && !item.number.ends_with('、'), "{}", item.id);
            assert!(numbers.insert(item.number.as_str()), "{} is listed twice", item.number);
        }
    }
}

#[test]
fn every_row_text_occurs_in_the_annex() {
    let annex = squash(annex());
    for id in ["mds-7.0", "sds-7.0"] {
        let rows = source_rows(&id[..3]);
        for item in catalog(id).items {
            let row = rows.iter().find(|r| number_of(&r.cell) == item.number).expect("a row for every item");
            // The item's text is the row's text (whitespace aside) ...
            assert_eq!(squash(&item.text), squash(&row.text), "{}", item.id);
            if row.parts.len() > 1 {
                // ... which for a row continued across a page break occurs in parts, separated
                // by the page's repeated header.
                for part in &row.parts {
                    assert!(annex.contains(&squash(part)), "{}: {part} not in the annex", item.id);
                }
            } else {
                assert!(annex.contains(&squash(&item.text)), "{}: text not in the annex", item.id);
            }
        }
    }
    // The rows joined across a page break are exactly the two the data files name.
    let joined: Vec<String> = ["mds", "sds"]
        .iter()
        .flat_map(|kind| {
            source_rows(kind).into_iter().filter(|r| r.parts.len() > 1).map(move |r| format!("{kind} {}", r.cell))
        })
        .collect();
    assert_eq!(joined, ["mds No.18", "sds No.98"]);
}

#[test]
fn every_printed_number_cell_is_exactly_one_item() {
    for id in ["mds-7.0", "sds-7.0"] {
        let rows = source_rows(&id[..3]);
        let cells: Vec<String> = rows.iter().map(|r| number_of(&r.cell)).collect();
        let cell_set: BTreeSet<&str> = cells.iter().map(String::as_str).collect();
        assert_eq!(cell_set.len(), cells.len(), "{id}: no 項番 cell is printed twice");
        let c = catalog(id);
        let item_set: BTreeSet<&str> = c.items.iter().map(|i| i.number.as_str()).collect();
        assert_eq!(item_set, cell_set, "{id}");
        assert_eq!(c.items.len(), cells.len(), "{id}");

        // Number by number: every printed number is in the items as often as in the source.
        let mut printed: BTreeMap<String, usize> = BTreeMap::new();
        for n in cells.iter().flat_map(|c| numbers_in(c)) {
            *printed.entry(n).or_default() += 1;
        }
        let mut listed: BTreeMap<String, usize> = BTreeMap::new();
        for n in c.items.iter().flat_map(|i| numbers_in(&i.number)) {
            *listed.entry(n).or_default() += 1;
        }
        assert_eq!(listed, printed, "{id}");
        // The one number the source prints in two rows: SDS 57.1 (alone under 2., and in
        // "57.1 / 57.2" under 11.).
        let twice: Vec<&str> = printed.iter().filter(|(_, n)| **n > 1).map(|(k, _)| k.as_str()).collect();
        assert_eq!(twice, if id == "sds-7.0" { vec!["57.1"] } else { Vec::<&str>::new() }, "{id}");
    }
}

#[test]
fn sections_are_the_printed_groups() {
    for id in ["mds-7.0", "sds-7.0"] {
        let rows = source_rows(&id[..3]);
        let mut groups: Vec<&str> = Vec::new();
        for row in &rows {
            if groups.last() != Some(&row.group.as_str()) {
                groups.push(&row.group);
            }
        }
        let c = catalog(id);
        let printed: Vec<String> = c.sections.iter().map(|s| format!("{}. {}", s.number, s.title)).collect();
        assert_eq!(printed, groups, "{id}");
        for item in &c.items {
            let row = rows.iter().find(|r| number_of(&r.cell) == item.number).unwrap();
            assert_eq!(item.guideline_section.as_deref(), Some(row.group.as_str()), "{}", item.id);
            assert!(row.group.starts_with(&format!("{}. ", item.section)), "{}", item.id);
        }
    }
}

fn mapping_source(file: &str) -> &'static str {
    match file {
        "000_440e422744ed7759.txt" => TABLE_52_TO_60,
        "002_f6062c0fd1f61885.txt" => TABLE_PROVIDER_TO_60,
        _ => panic!("no source {file}"),
    }
}

#[test]
fn the_mapping_files_parse() {
    let sets = mapping::mapping_sets().unwrap();
    assert_eq!(sets.len(), MAPPING_FILES.len());
    let summary: Vec<(&str, &str, &str, usize)> = sets
        .iter()
        .map(|s| (s.mapping_set.id.as_str(), s.mapping_set.from.as_str(), s.mapping_set.to.as_str(), s.mappings.len()))
        .collect();
    assert_eq!(
        summary,
        [("5.2-to-6.0", "5.2", "6.0", 14), ("provider-guideline-to-6.0", "provider-guideline", "6.0", 12)]
    );
    for set in &sets {
        assert_eq!(set.mapping_set.source.published, "unknown", "no year is printed in either source");
        for m in &set.mappings {
            assert!(m.from_text.as_deref().is_some_and(|t| !t.trim().is_empty()), "{}", m.from);
        }
    }
}

#[test]
fn every_mapping_reference_occurs_in_its_source() {
    // A reference is printed tokens joined by spaces: the 5.2 section, 区分 and item ("9.1. C 2."),
    // or the 6.0 column heading and cell ("企画管理編 16①②③"). The flattened tables separate a
    // cell from its column heading, so each token is looked for on its own.
    for set in mapping::mapping_sets().unwrap() {
        let source = squash(mapping_source(&set.mapping_set.source.file));
        for m in &set.mappings {
            for reference in std::iter::once(&m.from).chain(&m.to) {
                for part in reference.split_whitespace() {
                    assert!(
                        source.contains(&squash(part)),
                        "{}: {part} (of {reference}) is not in the source",
                        set.mapping_set.id
                    );
                }
            }
        }
    }
}

const GOOD: &str = r#"
[mapping_set]
id = "in-house-checklist-to-6.0"
title = "院内チェックリスト → 第6.0版"
from = "in-house-checklist"
to = "6.0"

[mapping_set.source]
document = "院内チェックリスト"
version = "2024"
published = "2024-04"
publisher = "当院"
file = "checklist.xlsx"

[[mappings]]
from = "A-1"
to = ["システム運用編 14"]
relationship = "subset-of"
rationale = "院内のID管理の一部"

[[mappings]]
from = "A-2"
relationship = "no-relationship"
rationale = "6.0に対応する記載がない"
"#;

fn altered(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from));
    GOOD.replacen(from, to, 1)
}

#[test]
fn an_institution_adds_its_own_mapping_file() {
    let set = mapping::load_extra("checklist.toml", GOOD).unwrap();
    assert_eq!(set.mappings[0].relationship, Relationship::SubsetOf);
    assert_eq!(set.mappings[1].relationship, Relationship::NoRelationship);
    assert!(set.mappings[1].to.is_empty());

    // It may not take a shipped set's ID.
    let clash = altered("in-house-checklist-to-6.0", "5.2-to-6.0");
    let e = mapping::load_extra("checklist.toml", &clash).unwrap_err();
    assert_eq!(e.file, "checklist.toml");
    assert!(e.problem.contains("already shipped"), "{e}");
}

#[test]
fn a_mapping_file_that_does_not_hold_together_is_refused() {
    let refused = [
        altered("rationale = \"院内のID管理の一部\"", "rationale = \" \""),
        altered("to = [\"システム運用編 14\"]", "to = []"),
        altered("to = [\"システム運用編 14\"]", "to = [\"\"]"),
        altered("from = \"A-1\"", "from = \"\""),
        altered("from = \"A-2\"\n", "from = \"A-2\"\nto = [\"企画管理編 6\"]\n"),
        altered("from = \"A-2\"", "from = \"A-1\""),
        altered("relationship = \"subset-of\"", "relationship = \"related-to\""),
        altered("relationship = \"subset-of\"", "relationship = \"subset-of\"\nstrength = 5"),
        format!(
            "{GOOD}\n[[mappings]]\nfrom = \"A-1\"\nto = [\"システム運用編 14\"]\nrelationship = \"equivalent-to\"\nrationale = \"重複\"\n"
        ),
        format!("{GOOD}\n[[mappings]]\nfrom = \"A-2\"\nrelationship = \"no-relationship\"\nrationale = \"重複\"\n"),
    ];
    for text in &refused {
        assert!(MappingSet::parse("x.toml", text).is_err(), "accepted:\n{text}");
    }
    // The OSCAL relationship values, spelt as in OSCAL.
    for value in ["equivalent-to", "subset-of", "superset-of", "intersects-with", "no-relationship"] {
        let text = altered("relationship = \"subset-of\"", &format!("relationship = \"{value}\""));
        let text = if value == "no-relationship" {
            text.replacen("to = [\"システム運用編 14\"]\n", "", 1)
        } else {
            text
        };
        MappingSet::parse("x.toml", &text).unwrap();
    }
}
