//! The periodic access review (002 ①-6, 棚卸し): does what each account holds match the policy
//! for its job type, is it still used, are administrators few? Pure: the ledger and the time
//! are arguments.

use crate::authz::roles_allowed_for;
use crate::{Role, User, UserStatus};
use std::time::Duration;
use time::OffsetDateTime;

/// Administrators above this number are reported (the guideline asks for few).
pub const MAX_ADMINISTRATORS: usize = 3;

/// Something the review found about one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The account holds a role its job type does not call for.
    RoleNotForJobType(Role),
    /// An active account unused for longer than the configured period (never used counts
    /// from its creation).
    Inactive {
        /// Whole days since the last login (or creation).
        days: i64,
    },
    /// A disabled or retired account still holds roles (harmless while it cannot log in, but
    /// the ledger should be clean).
    InactiveAccountHoldsRoles,
}

impl Finding {
    /// A stable code, for CSV and JSON.
    #[must_use]
    pub fn code(&self) -> String {
        match self {
            Self::RoleNotForJobType(role) => format!("role_not_for_job_type:{role}"),
            Self::Inactive { days } => format!("inactive:{days}d"),
            Self::InactiveAccountHoldsRoles => "inactive_account_holds_roles".to_owned(),
        }
    }

    /// A Japanese description for the report.
    #[must_use]
    pub fn description_ja(&self) -> String {
        match self {
            Self::RoleNotForJobType(role) => format!("職種に対応しないロール「{role}」を保持しています"),
            Self::Inactive { days } => format!("{days}日間ログインがありません"),
            Self::InactiveAccountHoldsRoles => "無効化・退職済みのアカウントがロールを保持しています".to_owned(),
        }
    }
}

/// The findings for one account at `now`.
#[must_use]
pub fn review_account(
    user: &User,
    last_login: Option<OffsetDateTime>,
    now: OffsetDateTime,
    inactive_after: Duration,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let allowed = roles_allowed_for(user.job_type);
    for role in &user.roles {
        if !allowed.contains(role) {
            findings.push(Finding::RoleNotForJobType(*role));
        }
    }
    match user.status {
        UserStatus::Active => {
            let since = last_login.unwrap_or(user.created_at);
            let idle = now - since;
            if idle >= inactive_after {
                findings.push(Finding::Inactive { days: idle.whole_days() });
            }
        }
        _ => {
            if !user.roles.is_empty() {
                findings.push(Finding::InactiveAccountHoldsRoles);
            }
        }
    }
    findings
}

/// Whether the institution has more active administrators than [`MAX_ADMINISTRATORS`].
#[must_use]
pub fn too_many_administrators(users: &[User]) -> Option<usize> {
    let n =
        users.iter().filter(|u| u.status == UserStatus::Active && u.roles.contains(&Role::SystemAdministrator)).count();
    (n > MAX_ADMINISTRATORS).then_some(n)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{DisplayName, InstitutionId, JobType, LoginId, UserId};
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-25 09:00 UTC);
    const NINETY_DAYS: Duration = Duration::from_secs(90 * 24 * 60 * 60);

    fn user(job: JobType, roles: &[Role], status: UserStatus) -> User {
        User {
            institution_id: InstitutionId::from_uuid(uuid::Uuid::from_u128(1)),
            id: UserId::from_uuid(uuid::Uuid::from_u128(2)),
            login_id: LoginId::parse("yamada").unwrap(),
            display_name: DisplayName::parse("山田").unwrap(),
            job_type: job,
            roles: roles.to_vec(),
            status,
            password_hash: String::new(),
            password_change_required: false,
            created_at: datetime!(2026-01-01 00:00 UTC),
        }
    }

    #[test]
    fn roles_outside_the_job_type_are_found() {
        let clerk_as_doctor = user(JobType::Clerk, &[Role::Clerk, Role::Doctor], UserStatus::Active);
        let found = review_account(&clerk_as_doctor, Some(NOW), NOW, NINETY_DAYS);
        assert_eq!(found, vec![Finding::RoleNotForJobType(Role::Doctor)]);
        assert_eq!(found.first().map(Finding::code), Some("role_not_for_job_type:doctor".to_owned()));
        let fine = user(JobType::Doctor, &[Role::Doctor], UserStatus::Active);
        assert!(review_account(&fine, Some(NOW), NOW, NINETY_DAYS).is_empty());
    }

    #[test]
    fn unused_accounts_are_found_from_their_last_login_or_creation() {
        let u = user(JobType::Nurse, &[Role::Nurse], UserStatus::Active);
        let last = NOW - time::Duration::days(90);
        assert_eq!(review_account(&u, Some(last), NOW, NINETY_DAYS), vec![Finding::Inactive { days: 90 }]);
        assert!(review_account(&u, Some(last + time::Duration::SECOND), NOW, NINETY_DAYS).is_empty());
        // Never logged in: counted from creation (2026-01-01 to 2026-11-25 is 328 days).
        assert_eq!(review_account(&u, None, NOW, NINETY_DAYS), vec![Finding::Inactive { days: 328 }]);
    }

    #[test]
    fn retired_accounts_with_roles_and_too_many_admins_are_found() {
        let retired = user(JobType::Nurse, &[Role::Nurse], UserStatus::Retired);
        assert_eq!(review_account(&retired, None, NOW, NINETY_DAYS), vec![Finding::InactiveAccountHoldsRoles]);
        let admin = user(JobType::Manager, &[Role::SystemAdministrator], UserStatus::Active);
        assert_eq!(too_many_administrators(&vec![admin.clone(); 3]), None);
        assert_eq!(too_many_administrators(&vec![admin; 4]), Some(4));
    }
}
