//! Assessments (自己点検): an institution works through a catalog version item by item — each
//! item's state (未着手 / 対応中 / 対応済 / 対象外), owner, due date, next review and notes,
//! and its evidence (a file or a link, with owner, effective date, expiry and, for files, the
//! content's SHA-256; a new revision never replaces an old one). Every change to an item is a
//! new version, kept.
//!
//! The annual self-inspection (保守委託機関編 4.3①) starts as a copy of last year's assessment
//! with every state reset to 未着手 for review ([`carry_over`]); owners, notes, dates and
//! evidence references come along.

use crate::user::text_enum;
use crate::{AssessmentId, EvidenceId, InstitutionId, Message, UserId};
use std::fmt;
use std::str::FromStr;
use time::{Date, OffsetDateTime};

text_enum!(
    /// Where an item stands.
    ItemState {
        /// 未着手
        NotStarted = "not_started",
        /// 対応中
        InProgress = "in_progress",
        /// 対応済
        Done = "done",
        /// 対象外
        NotApplicable = "not_applicable",
    }
);

impl ItemState {
    /// Japanese label.
    #[must_use]
    pub const fn label_ja(self) -> &'static str {
        match self {
            Self::NotStarted => "未着手",
            Self::InProgress => "対応中",
            Self::Done => "対応済",
            Self::NotApplicable => "対象外",
        }
    }
}

/// An assessment: one catalog version, one period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// The institution.
    pub institution: InstitutionId,
    /// Its identifier.
    pub id: AssessmentId,
    /// The catalog assessed (`hoshu-7.0`).
    pub catalog: String,
    /// Its title (e.g. 2026年度 自己点検), 1–100 characters.
    pub title: String,
    /// First day of the period it covers.
    pub period_start: Date,
    /// Last day of the period.
    pub period_end: Date,
    /// The assessment it was carried over from (last year's).
    pub carried_from: Option<AssessmentId>,
    /// Who started it.
    pub created_by: UserId,
    /// When.
    pub created_at: OffsetDateTime,
}

/// One version of one item's assessment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemAssessment {
    /// The institution.
    pub institution: InstitutionId,
    /// The assessment.
    pub assessment: AssessmentId,
    /// The catalog item (`hoshu-7.0/9-4`).
    pub item: String,
    /// Its state.
    pub state: ItemState,
    /// Who is responsible (a user of the institution).
    pub owner: Option<UserId>,
    /// When it is due.
    pub due_on: Option<Date>,
    /// When it is next reviewed.
    pub next_review_on: Option<Date>,
    /// Notes, at most 4000 characters.
    pub notes: String,
    /// 1 when the assessment starts, one more at each change.
    pub version: u32,
    /// Who wrote this version.
    pub changed_by: UserId,
    /// When.
    pub changed_at: OffsetDateTime,
}

/// What a piece of evidence is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvidenceKind {
    /// A file kept by mamori (content-addressed by its SHA-256).
    File {
        /// The file name as uploaded (1–200 characters).
        name: String,
        /// SHA-256 of its bytes.
        sha256: [u8; 32],
        /// Its size in bytes.
        size: u64,
    },
    /// A link to where it is kept (https only).
    Link {
        /// The URL.
        url: String,
    },
}

/// One revision of a piece of evidence for an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// The institution.
    pub institution: InstitutionId,
    /// The evidence (shared by its revisions).
    pub id: EvidenceId,
    /// 1, 2, …
    pub revision: u32,
    /// The assessment.
    pub assessment: AssessmentId,
    /// The catalog item.
    pub item: String,
    /// Title, 1–200 characters.
    pub title: String,
    /// File or link.
    pub kind: EvidenceKind,
    /// Who is responsible for it.
    pub owner: Option<UserId>,
    /// From when it is in effect.
    pub effective_on: Option<Date>,
    /// When it expires (must be after `effective_on`).
    pub expires_on: Option<Date>,
    /// Who added this revision.
    pub added_by: UserId,
    /// When.
    pub added_at: OffsetDateTime,
}

fn one_line(field: &str, raw: &str, max: usize) -> Result<String, Message> {
    let t = raw.trim();
    let n = t.chars().count();
    if n == 0 || n > max || t.chars().any(char::is_control) {
        return Err(Message::new(
            format!("{field}: 1〜{max}文字の1行で入力してください。"),
            format!("{field}: one line of 1 to {max} characters"),
        ));
    }
    Ok(t.to_owned())
}

/// Checks an assessment's title and period.
///
/// # Errors
/// A bilingual message naming the field.
pub fn check_assessment(title: &str, start: Date, end: Date) -> Result<String, Message> {
    let title = one_line("title", title, 100)?;
    if end < start {
        return Err(Message::new("期間の終わりは始まりより後にしてください。", "the period must end after it starts"));
    }
    Ok(title)
}

/// Checks an item's notes: at most 4000 characters, newlines allowed.
///
/// # Errors
/// A bilingual message naming the field.
pub fn check_notes(notes: &str) -> Result<String, Message> {
    let notes = notes.replace("\r\n", "\n");
    let notes = notes.trim();
    if notes.chars().count() > 4000 || notes.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(Message::new(
            "notes: 4000文字以内で、制御文字を含めないでください。",
            "notes: at most 4000 characters, no control characters",
        ));
    }
    Ok(notes.to_owned())
}

/// Checks evidence: its title, a link's URL (https, at most 2000 characters, no spaces) or a
/// file's name, and that it expires after it takes effect.
///
/// # Errors
/// A bilingual message naming the field.
pub fn check_evidence(
    title: &str,
    kind: EvidenceKind,
    effective_on: Option<Date>,
    expires_on: Option<Date>,
) -> Result<(String, EvidenceKind), Message> {
    let title = one_line("title", title, 200)?;
    let kind = match kind {
        EvidenceKind::Link { url } => {
            let u = url.trim();
            let ok = u.starts_with("https://")
                && u.len() > "https://".len()
                && u.len() <= 2000
                && !u.chars().any(|c| c.is_whitespace() || c.is_control());
            if !ok {
                return Err(Message::new(
                    "url: https:// で始まる2000文字以内のURLを入力してください。",
                    "url: an https:// URL of at most 2000 characters",
                ));
            }
            EvidenceKind::Link { url: u.to_owned() }
        }
        EvidenceKind::File { name, sha256, size } => {
            let name = one_line("file", &name, 200)?;
            if name.contains(['/', '\\']) {
                return Err(Message::new("file: ファイル名にパスは含められません。", "file: a name, not a path"));
            }
            EvidenceKind::File { name, sha256, size }
        }
    };
    if let (Some(from), Some(to)) = (effective_on, expires_on)
        && to <= from
    {
        return Err(Message::new(
            "有効期限は効力発生日より後にしてください。",
            "expires_on must be after effective_on",
        ));
    }
    Ok((title, kind))
}

/// The first versions of a new assessment's items: every item of the catalog, 未着手, carrying
/// over owner, dates and notes from last year's assessment where it had the item (every state
/// reset for review).
#[must_use]
pub fn carry_over(
    assessment: &Assessment,
    catalog_items: &[String],
    last_year: &[ItemAssessment],
) -> Vec<ItemAssessment> {
    catalog_items
        .iter()
        .map(|item| {
            let before = last_year.iter().find(|i| &i.item == item);
            ItemAssessment {
                institution: assessment.institution,
                assessment: assessment.id,
                item: item.clone(),
                state: ItemState::NotStarted,
                owner: before.and_then(|b| b.owner),
                due_on: None,
                next_review_on: before.and_then(|b| b.next_review_on),
                notes: before.map(|b| b.notes.clone()).unwrap_or_default(),
                version: 1,
                changed_by: assessment.created_by,
                changed_at: assessment.created_at,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use time::macros::date;

    #[test]
    fn a_new_year_starts_from_last_years_answers_reset_for_review() {
        let u = UserId::from_uuid(uuid::Uuid::from_u128(7));
        let a = Assessment {
            institution: InstitutionId::from_uuid(uuid::Uuid::from_u128(1)),
            id: AssessmentId::from_uuid(uuid::Uuid::from_u128(2)),
            catalog: "hoshu-7.0".into(),
            title: "2027年度 自己点検".into(),
            period_start: date!(2027 - 04 - 01),
            period_end: date!(2028 - 03 - 31),
            carried_from: Some(AssessmentId::from_uuid(uuid::Uuid::from_u128(3))),
            created_by: u,
            created_at: OffsetDateTime::UNIX_EPOCH,
        };
        let last = ItemAssessment {
            institution: a.institution,
            assessment: AssessmentId::from_uuid(uuid::Uuid::from_u128(3)),
            item: "hoshu-7.0/9-4".into(),
            state: ItemState::Done,
            owner: Some(u),
            due_on: Some(date!(2026 - 06 - 30)),
            next_review_on: Some(date!(2027 - 06 - 30)),
            notes: "二要素認証を全員に設定済み".into(),
            version: 4,
            changed_by: u,
            changed_at: OffsetDateTime::UNIX_EPOCH,
        };
        let items = carry_over(&a, &["hoshu-7.0/9-4".into(), "hoshu-7.0/9-5".into()], &[last]);
        assert_eq!(items.len(), 2);
        assert_eq!((items[0].state, items[0].version, items[0].owner), (ItemState::NotStarted, 1, Some(u)));
        assert_eq!(items[0].notes, "二要素認証を全員に設定済み");
        assert_eq!(items[0].due_on, None, "due dates are set anew");
        assert_eq!((items[1].owner, items[1].notes.as_str()), (None, ""));
    }

    #[test]
    fn bad_fields_are_refused_with_the_field() {
        assert!(check_assessment("", date!(2026 - 04 - 01), date!(2027 - 03 - 31)).is_err());
        assert!(check_assessment("t", date!(2026 - 04 - 01), date!(2026 - 03 - 31)).is_err());
        assert!(check_notes(&"あ".repeat(4001)).is_err());
        let link = |u: &str| EvidenceKind::Link { url: u.into() };
        assert!(check_evidence("規程", link("http://example.jp/x"), None, None).is_err(), "https only");
        assert!(check_evidence("規程", link("https://example.jp/a b"), None, None).is_err());
        assert!(
            check_evidence(
                "規程",
                link("https://example.jp/x"),
                Some(date!(2026 - 01 - 01)),
                Some(date!(2025 - 01 - 01))
            )
            .is_err()
        );
        let file = EvidenceKind::File { name: "../etc/passwd".into(), sha256: [0; 32], size: 1 };
        assert!(check_evidence("規程", file, None, None).is_err());
        assert!(check_evidence("情報セキュリティ規程", link("https://example.jp/policy.pdf"), None, None).is_ok());
    }
}
