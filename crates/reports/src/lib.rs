//! The self-inspection report (自己点検の報告書) of an assessment, in three forms:
//!
//! - [`xlsx`]: the 保守委託機関編 ch.2 checklist layout (項目区分 / 項番 / 遵守項目 / チェック),
//!   one row per 遵守項目 in catalog order, grouped by section, with the answer as はい/いいえ,
//!   確認日 and 目標日; a second sheet lists the evidence, a third mamori's live evidence.
//! - [`pdf`]: the same as a PDF typeset by typst with the IPAex fonts: a cover, a summary, the
//!   checklist, the evidence per item, the live evidence and any [`ExtraSection`]s.
//! - [`oscal_assessment_results`]: OSCAL 1.1.3 assessment-results referring to the controls of
//!   the catalog export (`hoshu-7.0_9-4`).
//!
//! The crate is pure: it reads nothing but the font files it is given ([`Fonts::load`]) and
//! never downloads anything (typst is used without packages: no `@preview/...` import can
//! resolve, and no downloader crate is linked). The server fills a [`ReportInput`] from an
//! assessment as read; every report is made from that one value.

mod oscal;
mod pdf;
mod xlsx;

pub use oscal::{OSCAL_VERSION, catalog_href, oscal_assessment_results};
pub use pdf::{DEBIAN_GOTHIC, DEBIAN_MINCHO, Fonts, pdf};
pub use xlsx::xlsx;

use mamori_core::assessment::ItemState;
use std::path::PathBuf;
use time::{Date, OffsetDateTime};

/// Everything a report shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportInput {
    /// The institution's name.
    pub institution_name: String,
    /// The assessment.
    pub assessment: ReportAssessment,
    /// Its items in catalog order.
    pub items: Vec<ReportItem>,
    /// When the report was made (the PDF's document date, the OSCAL `last-modified`).
    pub generated_at: OffsetDateTime,
    /// Further sections for the PDF (the applicability decision, vendor risks, registers …).
    pub sections: Vec<ExtraSection>,
}

/// The assessment a report is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportAssessment {
    /// Its ID (a UUID as text); the OSCAL UUIDs derive from it.
    pub id: String,
    /// Its title (2026年度 自己点検).
    pub title: String,
    /// The catalog's ID (`hoshu-7.0`).
    pub catalog: String,
    /// The catalog's title.
    pub catalog_title: String,
    /// First day of the period.
    pub period_start: Date,
    /// Last day.
    pub period_end: Date,
}

/// One item of the assessment with the catalog's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportItem {
    /// The catalog item's ID (`hoshu-7.0/9-4`).
    pub id: String,
    /// Its section's number (`9`).
    pub section: String,
    /// Its section's title as printed.
    pub section_title: String,
    /// Its number as printed (`④`).
    pub number: String,
    /// The 遵守項目's text.
    pub text: String,
    /// Where it stands.
    pub state: ItemState,
    /// The owner's display name.
    pub owner_name: Option<String>,
    /// When it is due (the checklist's 目標日 for いいえ).
    pub due_on: Option<Date>,
    /// When it was last confirmed (the date of the item's current version; none while it has
    /// not been touched in this assessment).
    pub checked_on: Option<Date>,
    /// When it is next reviewed.
    pub next_review: Option<Date>,
    /// Notes (備考).
    pub notes: String,
    /// Its evidence, every revision.
    pub evidence: Vec<ReportEvidence>,
    /// Live evidence lines from mamori's own data.
    pub live: Vec<String>,
}

/// One revision of a piece of evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportEvidence {
    /// The evidence's ID (shared by its revisions).
    pub id: String,
    /// The revision.
    pub revision: u32,
    /// Title.
    pub title: String,
    /// A file (by name and hash) or a link.
    pub kind: EvidenceRef,
    /// In effect from.
    pub effective: Option<Date>,
    /// Expires on.
    pub expires: Option<Date>,
}

/// Where a piece of evidence is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvidenceRef {
    /// A file kept by mamori.
    File {
        /// Its name as uploaded.
        name: String,
        /// SHA-256 of its bytes, lowercase hex.
        sha256: String,
    },
    /// A link (https).
    Link {
        /// The URL.
        url: String,
    },
}

/// A table of further content for the PDF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraSection {
    /// Its heading.
    pub title: String,
    /// Column headings.
    pub columns: Vec<String>,
    /// Rows (each as many cells as there are columns; short rows are padded, long ones cut).
    pub rows: Vec<Vec<String>>,
}

/// A report that could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// A font file could not be read or holds no usable font.
    #[error(
        "フォント {path} を読めません（{detail}）。fonts-ipaexfont をインストールするか、フォントのパスを設定してください / cannot read the font {path} ({detail}); install fonts-ipaexfont or configure the font paths"
    )]
    Font {
        /// The file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// Typesetting failed (a bug in the template, not the data).
    #[error("PDF を組版できません / the PDF could not be typeset: {0}")]
    Typeset(String),
    /// The workbook could not be written.
    #[error("xlsx を作成できません / the xlsx could not be written: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
}

/// はい / いいえ / 対象外 for the checklist's チェック column: 対応済 is はい; 未着手 and 対応中
/// are いいえ (with the due date as 目標日); 対象外 is printed as 対象外 (see `docs/compliance.md`:
/// the guideline's own answer for an item that does not apply, as in its 【別紙】).
#[must_use]
pub const fn answer(state: ItemState) -> &'static str {
    match state {
        ItemState::Done => "はい",
        ItemState::NotStarted | ItemState::InProgress => "いいえ",
        ItemState::NotApplicable => "対象外",
        // A state added later is not a confirmed はい.
        _ => "いいえ",
    }
}

/// The 目標日 (target date) of an item: its due date while it is いいえ, none otherwise.
#[must_use]
pub fn target_date(item: &ReportItem) -> Option<Date> {
    match item.state {
        ItemState::NotStarted | ItemState::InProgress => item.due_on,
        ItemState::Done | ItemState::NotApplicable => None,
        _ => item.due_on,
    }
}

/// The item's 項目区分 as the source's checklist prints it: the subsection where the section
/// has them (`1.1` for `hoshu-7.0/1.1-1`), else the section (`9` for `hoshu-7.0/9-4`).
#[must_use]
pub fn division(item: &ReportItem) -> String {
    let local = item.id.rsplit_once('/').map_or(item.id.as_str(), |(_, l)| l);
    match local.rsplit_once('-') {
        Some((d, _)) if !d.is_empty() => d.to_owned(),
        _ => item.section.clone(),
    }
}

/// The header text of the source's checklist (保守委託機関編 ch.2).
pub const CHECKLIST_NOTE: &str = "※遵守項目の内容は医療機関等が運用管理規程等を作成する際に含めるべき項目";

/// A date as `YYYY-MM-DD`, or an empty string.
fn day(d: Option<Date>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

/// `generated_at` in JST as `YYYY-MM-DD HH:MM` (the reports are read in Japan).
fn jst(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::macros::offset!(+9));
    format!("{} {:02}:{:02} JST", t.date(), t.hour(), t.minute())
}

#[cfg(test)]
pub(crate) mod sample {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use time::macros::{date, datetime};

    pub fn item(section: &str, n: u32, number: &str, state: ItemState) -> ReportItem {
        ReportItem {
            id: format!("hoshu-7.0/{section}-{n}"),
            section: section.into(),
            section_title: format!("第{section}区分"),
            number: number.into(),
            text: format!("遵守項目 {section}-{n} の本文"),
            state,
            owner_name: Some("安全 管理子".into()),
            due_on: Some(date!(2026 - 09 - 30)),
            checked_on: Some(date!(2026 - 05 - 01)),
            next_review: Some(date!(2027 - 04 - 01)),
            notes: String::new(),
            evidence: Vec::new(),
            live: Vec::new(),
        }
    }

    pub fn input() -> ReportInput {
        let mut a = item("9", 4, "④", ItemState::Done);
        a.evidence = vec![
            ReportEvidence {
                id: "0191a3c0-0000-7000-8000-000000000001".into(),
                revision: 1,
                title: "二要素認証の設定記録".into(),
                kind: EvidenceRef::File { name: "2fa.pdf".into(), sha256: "ab".repeat(32) },
                effective: Some(date!(2026 - 04 - 01)),
                expires: None,
            },
            ReportEvidence {
                id: "0191a3c0-0000-7000-8000-000000000002".into(),
                revision: 2,
                title: "情報セキュリティ規程".into(),
                kind: EvidenceRef::Link { url: "https://example.jp/policy.pdf".into() },
                effective: None,
                expires: Some(date!(2027 - 03 - 31)),
            },
        ];
        a.live = vec!["第二要素が未登録の有効なアカウント: なし".into()];
        let mut b = item("9", 5, "⑤", ItemState::NotApplicable);
        b.notes = "院内にオンプレミスのサーバはない".into();
        let mut c = item("1", 1, "①", ItemState::InProgress);
        c.id = "hoshu-7.0/1.1-1".into();
        let mut d = item("1", 2, "①", ItemState::NotStarted);
        d.id = "hoshu-7.0/1.2-1".into();
        d.due_on = None;
        d.checked_on = None;
        ReportInput {
            institution_name: "まもりクリニック".into(),
            assessment: ReportAssessment {
                id: "0191a3c0-1111-7000-8000-00000000abcd".into(),
                title: "2026年度 自己点検".into(),
                catalog: "hoshu-7.0".into(),
                catalog_title: "医療情報システムの安全管理に関するガイドライン 第7.0版 保守委託機関編".into(),
                period_start: date!(2026 - 04 - 01),
                period_end: date!(2027 - 03 - 31),
            },
            items: vec![c, d, a, b],
            generated_at: datetime!(2026-11-25 03:04:05 UTC),
            sections: vec![ExtraSection {
                title: "委託先事業者".into(),
                columns: vec!["事業者".into(), "リスク".into()],
                rows: vec![vec!["クラウド電子カルテ株式会社".into(), "低".into()]],
            }],
        }
    }
}
