//! Sealed emergency accounts (非常時用ユーザーアカウント, MDS 11, SDS 57.x): accounts prepared
//! for outages whose password and TOTP secret are printed once and kept sealed (an envelope
//! in the safe). Knowing them is not enough: an account is usable only after a second person —
//! an active account of the same institution that may use or review emergency access — confirms
//! the activation with their own password and code, naming who uses the account and why. An
//! activation lasts `emergency.sealed_account_ttl` at most; `mamori emergency close` ends it,
//! signs the account's sessions out and re-keys it, so the opened envelope is worthless.

use crate::authz::{AdminPermission, role_policy};
use crate::{InstitutionId, Message, SealedActivationId, User, UserId, UserStatus};
use time::OffsetDateTime;

/// A sealed account as recorded: which user, and how many times it was (re-)keyed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedAccount {
    /// The institution.
    pub institution: InstitutionId,
    /// The account's user.
    pub user: UserId,
    /// 1 when created; one more at each re-key (`mamori emergency close`).
    pub generation: u32,
    /// When the current credentials were sealed.
    pub sealed_at: OffsetDateTime,
}

/// One activation of a sealed account, confirmed by a second person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedActivation {
    /// The institution.
    pub institution: InstitutionId,
    /// Its identifier.
    pub id: SealedActivationId,
    /// The sealed account.
    pub user: UserId,
    /// The credentials' generation it was opened with.
    pub generation: u32,
    /// The person using the account (1–100 characters): the account is not theirs, so the
    /// record names them.
    pub used_by: String,
    /// Why (1–500 characters).
    pub reason: String,
    /// The second person who confirmed it.
    pub confirmed_by: UserId,
    /// When.
    pub activated_at: OffsetDateTime,
    /// When it stops allowing anything.
    pub expires_at: OffsetDateTime,
    /// When `mamori emergency close` ended it.
    pub closed_at: Option<OffsetDateTime>,
}

impl SealedActivation {
    /// Whether it allows use at `now`.
    #[must_use]
    pub fn active_at(&self, now: OffsetDateTime) -> bool {
        self.closed_at.is_none() && now < self.expires_at
    }
}

/// Checks the name of the person using a sealed account.
///
/// # Errors
/// A bilingual message when it is empty or longer than 100 characters.
pub fn check_used_by(raw: &str) -> Result<String, Message> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(Message::new(
            "緊急用アカウントを使う人の氏名を1〜100文字で入力してください。",
            "give the name of the person using the emergency account (1 to 100 characters)",
        ));
    }
    Ok(name.to_owned())
}

/// Whether `confirmer` may confirm the activation of sealed account `account`: an active user
/// of the same institution, not the account itself nor another sealed account, whose roles
/// allow using or reviewing emergency access.
///
/// # Errors
/// A bilingual message naming the rule (it is shown only after the confirmer's password and
/// code were right, so it tells an attacker nothing).
pub fn may_confirm(
    confirmer: &User,
    confirmer_is_sealed: bool,
    account_institution: InstitutionId,
    account: UserId,
) -> Result<(), Message> {
    let refused = || {
        Message::new(
            "この利用者は緊急用アカウントの使用を承認できません（同じ医療機関の、緊急アクセスを使うか確認する権限のある本人のアカウントが必要です）。",
            "this user cannot confirm an emergency account (it takes a personal account of the same institution that may use or review emergency access)",
        )
    };
    if confirmer.institution_id != account_institution
        || confirmer.id == account
        || confirmer_is_sealed
        || confirmer.status != UserStatus::Active
    {
        return Err(refused());
    }
    let allowed = confirmer.roles.iter().any(|role| {
        let admin = role_policy(*role).admin;
        admin.contains(&AdminPermission::EmergencyAccess) || admin.contains(&AdminPermission::ReviewEmergency)
    });
    if allowed { Ok(()) } else { Err(refused()) }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{DisplayName, JobType, LoginId, Role};
    use time::macros::datetime;

    fn user(institution: InstitutionId, roles: &[Role], status: UserStatus) -> User {
        let mut rng = rand_core::OsRng;
        User {
            id: UserId::generate(&mut rng),
            institution_id: institution,
            login_id: LoginId::parse("kakunin").unwrap(),
            display_name: DisplayName::parse("確認 太郎").unwrap(),
            job_type: JobType::Nurse,
            roles: roles.to_vec(),
            status,
            password_hash: String::new(),
            password_change_required: false,
            created_at: datetime!(2026-11-25 00:00 UTC),
        }
    }

    #[test]
    fn a_second_person_with_emergency_rights_confirms() {
        let mut rng = rand_core::OsRng;
        let inst = InstitutionId::generate(&mut rng);
        let account = UserId::generate(&mut rng);
        for role in [Role::Doctor, Role::Nurse, Role::SystemAdministrator] {
            assert!(may_confirm(&user(inst, &[role], UserStatus::Active), false, inst, account).is_ok(), "{role:?}");
        }
        for role in [Role::Clerk, Role::Pharmacist, Role::Technician, Role::Auditor] {
            assert!(may_confirm(&user(inst, &[role], UserStatus::Active), false, inst, account).is_err(), "{role:?}");
        }
        let doctor = user(inst, &[Role::Doctor], UserStatus::Active);
        assert!(may_confirm(&doctor, false, inst, doctor.id).is_err(), "not oneself");
        assert!(may_confirm(&doctor, true, inst, account).is_err(), "not another sealed account");
        assert!(may_confirm(&doctor, false, InstitutionId::generate(&mut rng), account).is_err(), "same institution");
        assert!(may_confirm(&user(inst, &[Role::Doctor], UserStatus::Disabled), false, inst, account).is_err());
    }

    #[test]
    fn an_activation_ends_at_expiry_or_close() {
        let mut rng = rand_core::OsRng;
        let at = datetime!(2026-11-25 00:00 UTC);
        let mut a = SealedActivation {
            institution: InstitutionId::generate(&mut rng),
            id: SealedActivationId::generate(&mut rng),
            user: UserId::generate(&mut rng),
            generation: 1,
            used_by: "山田 花子".into(),
            reason: "停電".into(),
            confirmed_by: UserId::generate(&mut rng),
            activated_at: at,
            expires_at: at + time::Duration::hours(8),
            closed_at: None,
        };
        assert!(a.active_at(at + time::Duration::hours(7)));
        assert!(!a.active_at(at + time::Duration::hours(8)));
        a.closed_at = Some(at + time::Duration::hours(1));
        assert!(!a.active_at(at + time::Duration::hours(2)));
    }

    #[test]
    fn the_user_is_named() {
        assert_eq!(check_used_by("  山田 花子 ").unwrap(), "山田 花子");
        assert!(check_used_by("   ").is_err());
        assert!(check_used_by(&"あ".repeat(101)).is_err());
        assert!(check_used_by("a\u{0}b").is_err());
    }
}
