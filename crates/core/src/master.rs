//! Master data (マスタ): drugs, diseases and lab items, each entry versioned with a validity
//! period. A record keeps the version of the entry it used ([`MasterRef`]), so a later change
//! to the master never changes what a past record shows.
//!
//! Entries arrive from a CSV file (`mamori master import`, [`parse_csv`]); the columns are
//! `master,code,name,unit,reference_range,valid_from,valid_to`, with a header line, in UTF-8.

use crate::user::text_enum;
use crate::{InstitutionId, Message, UserId};
use std::fmt;
use std::str::FromStr;
use time::{Date, OffsetDateTime};

text_enum!(
    /// Which master.
    MasterKind {
        /// 医薬品
        Drug = "drug",
        /// 病名
        Disease = "disease",
        /// 検査項目
        LabItem = "lab_item",
    }
);

impl MasterKind {
    /// Japanese label.
    #[must_use]
    pub const fn label_ja(self) -> &'static str {
        match self {
            Self::Drug => "医薬品",
            Self::Disease => "病名",
            Self::LabItem => "検査項目",
        }
    }
}

/// A master code: 1–20 ASCII letters, digits, `-`, `.` or `_`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct MasterCode(String);

impl MasterCode {
    /// Checks a code.
    ///
    /// # Errors
    /// A bilingual message naming the rule.
    pub fn parse(raw: &str) -> Result<Self, Message> {
        let t = raw.trim();
        let ok =
            (1..=20).contains(&t.len()) && t.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
        if ok {
            Ok(Self(t.to_owned()))
        } else {
            Err(Message::new(
                "マスタのコードは1〜20文字の英数字と「-」「.」「_」です。",
                "a master code has 1 to 20 letters, digits, '-', '.' or '_'",
            ))
        }
    }

    /// The code.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> serde::Deserialize<'de> for MasterCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        Self::parse(&text).map_err(|m| serde::de::Error::custom(m.en))
    }
}

/// The fields of an entry that make one version differ from another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterFields {
    /// Name as shown (1–100 characters).
    pub name: String,
    /// Unit (drugs: 錠, mg…; lab items: mg/dL…), at most 20 characters.
    pub unit: Option<String>,
    /// Lab items: the reference range as printed (e.g. `4.6-6.2`), at most 30 characters.
    pub reference_range: Option<String>,
    /// First day the entry is valid.
    pub valid_from: Date,
    /// First day it is no longer valid (none: open-ended).
    pub valid_to: Option<Date>,
}

impl MasterFields {
    /// Checks the fields.
    ///
    /// # Errors
    /// A bilingual message naming the field.
    pub fn check(self) -> Result<Self, Message> {
        let name = text(&self.name, 1, 100).ok_or_else(|| {
            Message::new("マスタの名称は1〜100文字です。", "a master entry's name has 1 to 100 characters")
        })?;
        let opt = |v: Option<String>, max: usize, ja: &str, en: &str| match v.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(t) => text(t, 1, max).map(Some).ok_or_else(|| Message::new(ja, en)),
        };
        let unit = opt(self.unit, 20, "単位は20文字までです。", "a unit has at most 20 characters")?;
        let reference_range =
            opt(self.reference_range, 30, "基準値は30文字までです。", "a reference range has at most 30 characters")?;
        if self.valid_to.is_some_and(|to| to <= self.valid_from) {
            return Err(Message::new(
                "有効期間の終了日は開始日より後にしてください。",
                "valid_to must be after valid_from",
            ));
        }
        Ok(Self { name, unit, reference_range, valid_from: self.valid_from, valid_to: self.valid_to })
    }
}

/// One version of a master entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterEntry {
    /// The institution whose master this is.
    pub institution: InstitutionId,
    /// Which master.
    pub master: MasterKind,
    /// The code.
    pub code: MasterCode,
    /// 1 for the first version of the code, one more for each later one.
    pub version: u32,
    /// What this version says.
    pub fields: MasterFields,
    /// When it was loaded.
    pub imported_at: OffsetDateTime,
    /// Who loaded it (none: the sample master loaded by `mamori init`).
    pub imported_by: Option<UserId>,
}

impl MasterEntry {
    /// Whether the entry is valid on `day` (`valid_from <= day < valid_to`).
    #[must_use]
    pub fn valid_on(&self, day: Date) -> bool {
        self.fields.valid_from <= day && self.fields.valid_to.is_none_or(|to| day < to)
    }

    /// The reference a record keeps.
    #[must_use]
    pub fn reference(&self) -> MasterRef {
        MasterRef {
            code: self.code.clone(),
            version: self.version,
            name: self.fields.name.clone(),
            unit: self.fields.unit.clone(),
        }
    }
}

/// What a record keeps of the master entry it used: the code, the version, and the name and
/// unit as that version had them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MasterRef {
    /// The code.
    pub code: MasterCode,
    /// The entry's version.
    pub version: u32,
    /// The name as that version had it.
    pub name: String,
    /// The unit as that version had it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// One row of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    /// 1-based line number in the file (the header is line 1).
    pub line: usize,
    /// Which master.
    pub master: MasterKind,
    /// The code.
    pub code: MasterCode,
    /// The fields.
    pub fields: MasterFields,
}

/// The header an import file must start with.
pub const CSV_HEADER: &str = "master,code,name,unit,reference_range,valid_from,valid_to";

/// Parses an import file: the header, then one entry per line. Fields may be quoted (`"…"`,
/// with `""` for a quote inside). The whole file is checked before anything is loaded; a
/// duplicate (master, code, valid_from) is refused.
///
/// # Errors
/// A bilingual message naming the line and the reason, for the first bad line.
pub fn parse_csv(bytes: &[u8]) -> Result<Vec<ImportRow>, Message> {
    let header: Vec<&str> = CSV_HEADER.split(',').collect();
    let table = crate::table::read(bytes, crate::table::Format::Csv, &header)?;
    let mut rows = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for row in table {
        let line = row.line;
        let at = |m: Message| crate::table::at_line(line, &m);
        let [master, code, name, unit, range, from, to] = <[String; 7]>::try_from(row.cells).map_err(|c| {
            at(Message::new(format!("列の数が7ではなく{}です。", c.len()), format!("{} columns instead of 7", c.len())))
        })?;
        let master = MasterKind::from_str(master.trim()).map_err(at)?;
        let code = MasterCode::parse(&code).map_err(at)?;
        let date = |s: &str| parse_date(s.trim()).map_err(at);
        let valid_from = date(&from)?;
        let valid_to = if to.trim().is_empty() { None } else { Some(date(&to)?) };
        let fields = MasterFields { name, unit: Some(unit), reference_range: Some(range), valid_from, valid_to }
            .check()
            .map_err(at)?;
        if !seen.insert((master, code.clone(), valid_from)) {
            return Err(at(Message::new(
                "同じマスタ・コード・開始日の行が重複しています。",
                "duplicate row (same master, code and valid_from)",
            )));
        }
        rows.push(ImportRow { line, master, code, fields });
    }
    Ok(rows)
}

/// A `YYYY-MM-DD` date.
///
/// # Errors
/// A bilingual message.
pub fn parse_date(s: &str) -> Result<Date, Message> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s, format)
        .map_err(|_| Message::new("日付は YYYY-MM-DD の形で入力してください。", "a date is written YYYY-MM-DD"))
}

fn text(raw: &str, min: usize, max: usize) -> Option<String> {
    let t = raw.trim();
    let n = t.chars().count();
    (n >= min && n <= max && !t.chars().any(char::is_control)).then(|| t.to_owned())
}

/// The sample master shipped with mamori and loaded by `mamori init`: a few dozen common
/// drugs, diseases and lab items under local codes (not YJ, ICD-10 or JLAC10 codes), enough to
/// try mamori. A real institution loads its full master with `mamori master import`.
pub const SAMPLE_CSV: &str = include_str!("../data/sample-master.csv");

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use time::macros::date;

    #[test]
    fn the_sample_master_parses() {
        let rows = parse_csv(SAMPLE_CSV.as_bytes()).unwrap();
        for kind in MasterKind::ALL {
            assert!(rows.iter().filter(|r| r.master == *kind).count() >= 10, "{kind}");
        }
    }

    #[test]
    fn bad_files_name_the_line_and_the_reason() {
        let h = CSV_HEADER;
        let cases: [(Vec<u8>, &str); 8] = [
            (b"master,code\n".to_vec(), "line 1"),
            (format!("{h}\ndrug,D1,x,,,2024-01-01\n").into_bytes(), "line 2: 6 columns"),
            (format!("{h}\nfood,D1,x,,,2024-01-01,\n").into_bytes(), "line 2: unknown MasterKind"),
            (format!("{h}\ndrug,D 1,x,,,2024-01-01,\n").into_bytes(), "line 2: a master code"),
            (format!("{h}\ndrug,D1,x,,,2024/01/01,\n").into_bytes(), "line 2: a date"),
            (format!("{h}\ndrug,D1,x,,,2024-01-01,\ndrug,D1,y,,,2024-01-01,\n").into_bytes(), "line 3: duplicate"),
            (format!("{h}\ndrug,D1,x,,,2024-01-01,2023-01-01\n").into_bytes(), "line 2: valid_to"),
            (
                b"master,code,name,unit,reference_range,valid_from,valid_to\ndrug,D1,\x83\x65,,,2024-01-01,\n".to_vec(),
                "line 2: not UTF-8",
            ),
        ];
        for (bytes, want) in cases {
            let e = parse_csv(&bytes).unwrap_err();
            assert!(e.en.starts_with(want), "{want}: {}", e.en);
        }
    }

    #[test]
    fn quoted_cells_and_validity() {
        let csv = format!("{CSV_HEADER}\r\nlab_item,L1,\"HbA1c, NGSP\",%,\"4.6-6.2\",2024-04-01,2026-04-01\r\n");
        let rows = parse_csv(csv.as_bytes()).unwrap();
        assert_eq!(rows[0].fields.name, "HbA1c, NGSP");
        let entry = MasterEntry {
            institution: crate::InstitutionId::from_uuid(uuid::Uuid::nil()),
            master: rows[0].master,
            code: rows[0].code.clone(),
            version: 1,
            fields: rows[0].fields.clone(),
            imported_at: OffsetDateTime::UNIX_EPOCH,
            imported_by: None,
        };
        assert!(!entry.valid_on(date!(2024 - 03 - 31)));
        assert!(entry.valid_on(date!(2024 - 04 - 01)));
        assert!(entry.valid_on(date!(2026 - 03 - 31)));
        assert!(!entry.valid_on(date!(2026 - 04 - 01)));
        assert_eq!(entry.reference().unit.as_deref(), Some("%"));
    }
}
