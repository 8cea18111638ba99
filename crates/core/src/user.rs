//! User accounts: unique login IDs, job types (職種), roles, status.

use crate::{InstitutionId, Message, UserId};
use std::fmt;
use std::str::FromStr;
use time::OffsetDateTime;

/// A login ID: 3 to 64 characters of lower-case ASCII letters, digits, `.`, `_` and `-`,
/// starting with a letter. Unique across the deployment and never reused.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LoginId(String);

impl LoginId {
    /// Checks and wraps a login ID.
    ///
    /// # Errors
    /// A bilingual message saying which rule the ID breaks.
    pub fn parse(raw: &str) -> Result<Self, Message> {
        let len = raw.chars().count();
        let starts_with_letter = raw.chars().next().is_some_and(|c| c.is_ascii_lowercase());
        let allowed = raw.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
        if !(3..=64).contains(&len) || !starts_with_letter || !allowed {
            return Err(Message::new(
                "ログインIDは英小文字で始まる3〜64文字（英小文字・数字・. _ -）にしてください。",
                "a login ID has 3 to 64 characters (a-z, 0-9, '.', '_', '-') and starts with a letter",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The ID as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LoginId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A person's display name: 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// Checks and wraps a display name.
    ///
    /// # Errors
    /// A bilingual message when the name is empty, too long or has control characters.
    pub fn parse(raw: &str) -> Result<Self, Message> {
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(Message::new(
                "表示名は1〜100文字（制御文字なし）にしてください。",
                "a display name has 1 to 100 characters and no control characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The stable text stored in the database and used in the API.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                text.parse().map_err(|m: Message| serde::de::Error::custom(m.en))
            }
        }

        impl FromStr for $name {
            type Err = Message;
            fn from_str(s: &str) -> Result<Self, Message> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(Message::new(
                        format!("不明な値です: {} （{}）", stringify!($name), Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")),
                        format!("unknown {} (expected one of: {})", stringify!($name), Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")),
                    )),
                }
            }
        }
    };
}

pub(crate) use text_enum;

text_enum!(
    /// 職種: what a person does at the institution.
    JobType {
        /// 医師
        Doctor = "doctor",
        /// 歯科医師
        Dentist = "dentist",
        /// 看護師
        Nurse = "nurse",
        /// 薬剤師
        Pharmacist = "pharmacist",
        /// 技師 (臨床検査技師, 放射線技師, …)
        Technician = "technician",
        /// 医療事務
        Clerk = "clerk",
        /// 医療情報システム安全管理責任者・管理者
        Manager = "manager",
        /// 監査担当
        Auditor = "auditor",
    }
);

text_enum!(
    /// A role granted to a user: a named bundle of permissions (see [`crate::authz`]). The
    /// defaults give least privilege for each 職種.
    Role {
        /// 医師: records of every built-in category; approves proxy entries; emergency access.
        Doctor = "doctor",
        /// 看護師: nursing records; reads most categories; emergency access.
        Nurse = "nurse",
        /// 薬剤師: prescriptions and what dispensing needs.
        Pharmacist = "pharmacist",
        /// 技師: lab results and images.
        Technician = "technician",
        /// 医療事務: proxy entry (pending a doctor's approval) and documents.
        Clerk = "clerk",
        /// システム管理者 / 医療情報システム安全管理責任者: accounts, roles, terminals, emergency
        /// review. No clinical rights. Few holders.
        SystemAdministrator = "system_admin",
        /// 監査担当者: reads the audit trail, nothing clinical.
        Auditor = "auditor",
    }
);

impl JobType {
    /// The Japanese name (職種).
    #[must_use]
    pub const fn label_ja(self) -> &'static str {
        match self {
            Self::Doctor => "医師",
            Self::Dentist => "歯科医師",
            Self::Nurse => "看護師",
            Self::Pharmacist => "薬剤師",
            Self::Technician => "技師",
            Self::Clerk => "医療事務",
            Self::Manager => "管理者",
            Self::Auditor => "監査担当者",
        }
    }
}

impl Role {
    /// The Japanese name.
    #[must_use]
    pub const fn label_ja(self) -> &'static str {
        match self {
            Self::Doctor => "医師",
            Self::Nurse => "看護師",
            Self::Pharmacist => "薬剤師",
            Self::Technician => "技師",
            Self::Clerk => "医療事務",
            Self::SystemAdministrator => "システム管理者",
            Self::Auditor => "監査担当者",
        }
    }
}

text_enum!(
    /// Account status. A retired account keeps its login ID forever.
    UserStatus {
        /// May log in.
        Active = "active",
        /// Temporarily may not log in.
        Disabled = "disabled",
        /// Left the institution; the ID is never given to anyone else.
        Retired = "retired",
    }
);

/// A user to be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Its identifier.
    pub id: UserId,
    /// Its login ID.
    pub login_id: LoginId,
    /// Its display name.
    pub display_name: DisplayName,
    /// Its job type.
    pub job_type: JobType,
    /// Roles granted at creation.
    pub roles: Vec<Role>,
    /// The argon2id PHC string of its password (never the password).
    pub password_hash: String,
    /// Whether the password must be changed at the next login (true for one-time passwords).
    pub password_change_required: bool,
    /// When it was created (UTC, microseconds).
    pub created_at: OffsetDateTime,
}

/// A user as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// The institution it belongs to.
    pub institution_id: InstitutionId,
    /// Its identifier.
    pub id: UserId,
    /// Its login ID.
    pub login_id: LoginId,
    /// Its display name.
    pub display_name: DisplayName,
    /// Its job type.
    pub job_type: JobType,
    /// Its roles, sorted.
    pub roles: Vec<Role>,
    /// Its status.
    pub status: UserStatus,
    /// The argon2id PHC string of its password.
    pub password_hash: String,
    /// Whether the password must be changed at the next login.
    pub password_change_required: bool,
    /// When it was created.
    pub created_at: OffsetDateTime,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("institution_id", &self.institution_id)
            .field("id", &self.id)
            .field("login_id", &self.login_id)
            .field("job_type", &self.job_type)
            .field("roles", &self.roles)
            .field("status", &self.status)
            .field("password_hash", &"<argon2id>")
            .field("password_change_required", &self.password_change_required)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_ids_follow_the_rules() {
        for ok in ["admin", "yamada.taro", "n-01", "abc"] {
            assert!(LoginId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["ab", "Admin", "1admin", "yamada taro", "やまだ", "", &"a".repeat(65)] {
            assert!(LoginId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn enums_round_trip_through_their_text() {
        for job in JobType::ALL {
            assert_eq!(job.as_str().parse::<JobType>().ok(), Some(*job));
        }
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().ok(), Some(*role));
        }
        let err = "root".parse::<Role>().err().map(|m| m.en).unwrap_or_default();
        assert!(err.contains("system_admin"), "{err}");
    }

    #[test]
    fn debug_of_a_user_hides_the_password_hash() {
        let user = User {
            institution_id: InstitutionId::from_uuid(uuid::Uuid::nil()),
            id: UserId::from_uuid(uuid::Uuid::nil()),
            login_id: LoginId("admin".into()),
            display_name: DisplayName("管理者".into()),
            job_type: JobType::Manager,
            roles: vec![Role::SystemAdministrator],
            status: UserStatus::Active,
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            password_change_required: true,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        };
        let shown = format!("{user:?}");
        assert!(!shown.contains("$argon2id$"), "{shown}");
        assert!(!shown.contains("管理者"), "display names are personal data: {shown}");
    }
}
