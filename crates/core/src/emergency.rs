//! Emergency (break-glass) access (MDS 11, SDS 57–57.3): a user whose role allows it opens one
//! patient's chart outside their normal grants by stating a reason. The grant is time-limited,
//! shown on every page while it lasts, recorded, and queued for review by the safety manager
//! (安全管理責任者), who cannot review their own use.

use crate::authz::EmergencyGrant;
use crate::{EmergencyGrantId, InstitutionId, Message, PatientId, UserId};
use time::OffsetDateTime;

/// A grant as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmergencyGrantRecord {
    /// The institution.
    pub institution: InstitutionId,
    /// The grant.
    pub id: EmergencyGrantId,
    /// Who asked for it.
    pub user: UserId,
    /// Whose chart it opens.
    pub patient: PatientId,
    /// Why (1–500 characters).
    pub reason: String,
    /// When it was granted.
    pub granted_at: OffsetDateTime,
    /// When it stops allowing anything.
    pub expires_at: OffsetDateTime,
    /// Who reviewed it, when, and what they noted.
    pub review: Option<EmergencyReview>,
}

/// The safety manager's review of one grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmergencyReview {
    /// The reviewer.
    pub reviewed_by: UserId,
    /// When.
    pub reviewed_at: OffsetDateTime,
    /// The reviewer's note (0–1000 characters).
    pub note: String,
}

impl EmergencyGrantRecord {
    /// The grant as `authorize` uses it.
    #[must_use]
    pub fn grant(&self) -> EmergencyGrant {
        EmergencyGrant { id: self.id, patient: self.patient, expires_at: self.expires_at }
    }

    /// Whether it still allows access at `now`.
    #[must_use]
    pub fn active_at(&self, now: OffsetDateTime) -> bool {
        now < self.expires_at
    }
}

/// Checks a stated reason.
///
/// # Errors
/// A bilingual message when it is empty or longer than 500 characters.
pub fn check_reason(raw: &str) -> Result<String, Message> {
    let reason = raw.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(Message::new(
            "緊急アクセスの理由を1〜500文字で入力してください。",
            "state the reason for emergency access in 1 to 500 characters",
        ));
    }
    Ok(reason.to_owned())
}

/// Whether `reviewer` may review `grant`: nobody reviews their own emergency access.
#[must_use]
pub fn may_review(grant: &EmergencyGrantRecord, reviewer: UserId) -> bool {
    grant.user != reviewer && grant.review.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn record() -> EmergencyGrantRecord {
        EmergencyGrantRecord {
            institution: InstitutionId::from_uuid(uuid::Uuid::from_u128(1)),
            id: EmergencyGrantId::from_uuid(uuid::Uuid::from_u128(2)),
            user: UserId::from_uuid(uuid::Uuid::from_u128(3)),
            patient: PatientId::from_uuid(uuid::Uuid::from_u128(4)),
            reason: "夜間救急".into(),
            granted_at: datetime!(2026-11-25 02:00 UTC),
            expires_at: datetime!(2026-11-25 03:00 UTC),
            review: None,
        }
    }

    #[test]
    fn a_grant_lasts_until_its_expiry_and_is_reviewed_by_someone_else_once() {
        let r = record();
        assert!(r.active_at(datetime!(2026-11-25 02:59:59 UTC)));
        assert!(!r.active_at(datetime!(2026-11-25 03:00 UTC)));
        assert!(!may_review(&r, r.user));
        let other = UserId::from_uuid(uuid::Uuid::from_u128(9));
        assert!(may_review(&r, other));
        let reviewed = EmergencyGrantRecord {
            review: Some(EmergencyReview { reviewed_by: other, reviewed_at: r.expires_at, note: String::new() }),
            ..r
        };
        assert!(!may_review(&reviewed, other));
    }

    #[test]
    fn reasons_are_required_and_bounded() {
        assert_eq!(check_reason("  心肺停止で搬送  ").ok().as_deref(), Some("心肺停止で搬送"));
        assert!(check_reason("   ").is_err());
        assert!(check_reason(&"あ".repeat(501)).is_err());
    }
}
