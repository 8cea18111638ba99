//! Rows as read from either backend, and their checked conversion into core types.
//!
//! A stored value that no longer parses is reported as [`StoreError::Corrupt`] naming the
//! column, never the value.

use crate::StoreError;
use mamori_core::assessment::{
    Assessment, Evidence, EvidenceKind, ItemAssessment, ItemState, check_assessment, check_evidence, check_notes,
};
use mamori_core::audit::LogHead;
use mamori_core::authz::{Action, Category, CategoryDef};
use mamori_core::emergency::{EmergencyGrantRecord, EmergencyReview};
use mamori_core::factor::{ReenrollPass, TotpRecord, WebauthnCredential, WebauthnPurpose};
use mamori_core::lockout::Throttle;
use mamori_core::master::{MasterCode, MasterEntry, MasterFields, MasterKind};
use mamori_core::patient::{Contact, Patient, PatientName, PatientNumber, Sex};
use mamori_core::record::{
    Agent, Change, Content, Device, Record, RecordKind, RecordVersion, VersionState, check_device_name,
};
use mamori_core::sealed::{SealedAccount, SealedActivation};
use mamori_core::session::{SessionRecord, SessionStage};
use mamori_core::terminal::{Terminal, TerminalName};
use mamori_core::{
    AssessmentId, DeviceId, DisplayName, EmergencyGrantId, EvidenceId, Institution, InstitutionId, InstitutionName,
    JobType, LoginId, PatientId, RecordId, Role, SealedActivationId, TerminalId, User, UserId, UserStatus,
};
use mamori_ledger::Frontier;
use time::{Date, OffsetDateTime, UtcOffset};
use uuid::Uuid;

/// An `institutions` row with backend types already decoded.
pub(crate) struct InstitutionRow {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) created_at: OffsetDateTime,
}

impl InstitutionRow {
    pub(crate) fn into_institution(self) -> Result<Institution, StoreError> {
        Ok(Institution {
            id: InstitutionId::from_uuid(self.id),
            name: InstitutionName::parse(&self.name).map_err(|m| corrupt("institutions.name", &m.en))?,
            created_at: self.created_at,
        })
    }
}

/// One row of the users ⟕ user_roles join: a user with one of its roles (or none).
pub(crate) struct UserRow {
    pub(crate) institution_id: Uuid,
    pub(crate) id: Uuid,
    pub(crate) login_id: String,
    pub(crate) display_name: String,
    pub(crate) job_type: String,
    pub(crate) status: String,
    pub(crate) password_hash: String,
    pub(crate) password_change_required: bool,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) last_login_at: Option<OffsetDateTime>,
    pub(crate) role: Option<String>,
}

impl UserRow {
    /// The user and its last successful login.
    fn into_user(self) -> Result<(User, Option<OffsetDateTime>), StoreError> {
        let mut user = User {
            institution_id: InstitutionId::from_uuid(self.institution_id),
            id: UserId::from_uuid(self.id),
            login_id: LoginId::parse(&self.login_id).map_err(|m| corrupt("users.login_id", &m.en))?,
            display_name: DisplayName::parse(&self.display_name).map_err(|m| corrupt("users.display_name", &m.en))?,
            job_type: self.job_type.parse::<JobType>().map_err(|m| corrupt("users.job_type", &m.en))?,
            roles: Vec::new(),
            status: self.status.parse::<UserStatus>().map_err(|m| corrupt("users.status", &m.en))?,
            password_hash: self.password_hash,
            password_change_required: self.password_change_required,
            created_at: self.created_at,
        };
        if let Some(role) = self.role {
            user.roles.push(parse_role(&role)?);
        }
        Ok((user, self.last_login_at))
    }
}

fn parse_role(text: &str) -> Result<Role, StoreError> {
    text.parse::<Role>().map_err(|m| corrupt("user_roles.role", &m.en))
}

/// Folds join rows (grouped by user, as every user query orders them) into users with sorted
/// roles, each with its last successful login (the ID ledger), keeping the order in which users
/// first appear.
pub(crate) fn assemble_ledger(rows: Vec<UserRow>) -> Result<Vec<(User, Option<OffsetDateTime>)>, StoreError> {
    let mut users: Vec<(User, Option<OffsetDateTime>)> = Vec::new();
    for row in rows {
        match users.last_mut() {
            Some((last, _)) if last.id.as_uuid() == row.id && last.institution_id.as_uuid() == row.institution_id => {
                if let Some(role) = row.role {
                    last.roles.push(parse_role(&role)?);
                }
            }
            _ => users.push(row.into_user()?),
        }
    }
    for (user, _) in &mut users {
        user.roles.sort_unstable();
    }
    Ok(users)
}

/// [`assemble_ledger`] without the last logins.
pub(crate) fn assemble_users(rows: Vec<UserRow>) -> Result<Vec<User>, StoreError> {
    Ok(assemble_ledger(rows)?.into_iter().map(|(user, _)| user).collect())
}

/// At most one user from a query keyed by institution and user ID or login ID.
pub(crate) fn assemble_one_user(rows: Vec<UserRow>) -> Result<Option<User>, StoreError> {
    let mut users = assemble_users(rows)?;
    if users.len() > 1 {
        return Err(StoreError::Corrupt { detail: "a unique user lookup matched several users".to_owned() });
    }
    Ok(users.pop())
}

/// Why a status change guarded by "not retired" changed no row, from the user's status as read
/// afterwards: a retired account is final ([`StoreError::Conflict`]); no account (or one that
/// appeared only since) is [`StoreError::NotFound`].
pub(crate) fn status_unchanged(current: Option<String>) -> StoreError {
    match current.map(|s| s.parse::<UserStatus>()) {
        Some(Ok(UserStatus::Retired)) => StoreError::Conflict { what: "retired account" },
        Some(Err(m)) => corrupt("users.status", &m.en),
        _ => StoreError::NotFound { what: "user" },
    }
}

/// A `login_throttles` row.
pub(crate) struct ThrottleRow {
    pub(crate) login_id: String,
    pub(crate) failures: i64,
    pub(crate) last_failure_at: OffsetDateTime,
}

impl ThrottleRow {
    pub(crate) fn into_throttle(self) -> Result<Throttle, StoreError> {
        Ok(Throttle {
            login_id: self.login_id,
            failures: counter("login_throttles.failures", self.failures)?,
            last_failure_at: self.last_failure_at,
        })
    }
}

/// A `user_totp` row (without its key).
pub(crate) struct TotpRow {
    pub(crate) secret: Vec<u8>,
    pub(crate) confirmed: bool,
    pub(crate) last_used_step: Option<i64>,
    pub(crate) created_at: OffsetDateTime,
}

impl TotpRow {
    pub(crate) fn into_totp(self) -> TotpRecord {
        TotpRecord {
            secret: self.secret,
            confirmed: self.confirmed,
            last_used_step: self.last_used_step,
            created_at: self.created_at,
        }
    }
}

/// A `reenroll_passes` row.
pub(crate) struct ReenrollPassRow {
    pub(crate) institution_id: Uuid,
    pub(crate) user_id: Uuid,
    pub(crate) pass_hash: Vec<u8>,
    pub(crate) issued_by: Uuid,
    pub(crate) reason: String,
    pub(crate) issued_at: OffsetDateTime,
    pub(crate) expires_at: OffsetDateTime,
    pub(crate) used_at: Option<OffsetDateTime>,
}

impl ReenrollPassRow {
    pub(crate) fn into_pass(self) -> Result<ReenrollPass, StoreError> {
        if !(1..=REENROLL_REASON_MAX_CHARS).contains(&self.reason.chars().count()) {
            return Err(corrupt("reenroll_passes.reason", "not 1 to 500 characters"));
        }
        Ok(ReenrollPass {
            institution: InstitutionId::from_uuid(self.institution_id),
            user: UserId::from_uuid(self.user_id),
            pass_hash: digest("reenroll_passes.pass_hash", self.pass_hash)?,
            issued_by: UserId::from_uuid(self.issued_by),
            reason: self.reason,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            used_at: self.used_at,
        })
    }
}

/// The longest reason a re-enrollment pass keeps (the schema checks it too).
const REENROLL_REASON_MAX_CHARS: usize = 500;

/// A `user_webauthn` row (without its institution and user).
pub(crate) struct WebauthnCredentialRow {
    pub(crate) credential_id: Vec<u8>,
    pub(crate) name: String,
    pub(crate) credential_json: String,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) last_used_at: Option<OffsetDateTime>,
}

impl WebauthnCredentialRow {
    pub(crate) fn into_credential(self) -> Result<WebauthnCredential, StoreError> {
        if !(1..=WEBAUTHN_CREDENTIAL_ID_MAX_BYTES).contains(&self.credential_id.len()) {
            return Err(corrupt("user_webauthn.credential_id", "not 1 to 1023 bytes"));
        }
        if !(1..=WEBAUTHN_NAME_MAX_CHARS).contains(&self.name.chars().count()) {
            return Err(corrupt("user_webauthn.name", "not 1 to 100 characters"));
        }
        Ok(WebauthnCredential {
            credential_id: self.credential_id,
            name: self.name,
            credential_json: self.credential_json,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
        })
    }
}

/// The longest credential ID kept (WebAuthn allows at most 1023 bytes; the schema checks it too).
const WEBAUTHN_CREDENTIAL_ID_MAX_BYTES: usize = 1023;

/// The longest credential name kept (the schema checks it too).
const WEBAUTHN_NAME_MAX_CHARS: usize = 100;

/// A `webauthn_challenges` row as its `DELETE ... RETURNING` gave it back.
pub(crate) struct WebauthnChallengeRow {
    pub(crate) purpose: String,
    pub(crate) state: String,
    pub(crate) expires_at: OffsetDateTime,
}

impl WebauthnChallengeRow {
    /// The state of a taken challenge if it was for `purpose` and `at` (as stored: to the
    /// microsecond) is before its `expires_at`; at that instant it has expired. `None`
    /// otherwise: the row is gone either way, so a challenge is used at most once.
    pub(crate) fn into_state(self, purpose: WebauthnPurpose, at: OffsetDateTime) -> Result<Option<String>, StoreError> {
        let stored = [WebauthnPurpose::Register, WebauthnPurpose::Authenticate]
            .into_iter()
            .find(|p| p.as_str() == self.purpose)
            .ok_or_else(|| corrupt("webauthn_challenges.purpose", "unknown purpose"))?;
        Ok((stored == purpose && stored_time(at) < self.expires_at).then_some(self.state))
    }
}

/// A `sessions` row.
pub(crate) struct SessionRow {
    pub(crate) token_hash: Vec<u8>,
    pub(crate) institution_id: Uuid,
    pub(crate) user_id: Uuid,
    pub(crate) stage: String,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) last_seen_at: OffsetDateTime,
    pub(crate) expires_at: OffsetDateTime,
    pub(crate) locked: bool,
    pub(crate) csrf_token: String,
    pub(crate) previous_login_at: Option<OffsetDateTime>,
    pub(crate) failures_since_previous: i64,
    pub(crate) client_cert_sha256: Option<String>,
}

impl SessionRow {
    pub(crate) fn into_session(self) -> Result<SessionRecord, StoreError> {
        Ok(SessionRecord {
            token_hash: digest("sessions.token_hash", self.token_hash)?,
            institution: InstitutionId::from_uuid(self.institution_id),
            user: UserId::from_uuid(self.user_id),
            stage: SessionStage::parse(&self.stage).ok_or_else(|| corrupt("sessions.stage", "unknown stage"))?,
            created_at: self.created_at,
            last_seen_at: self.last_seen_at,
            expires_at: self.expires_at,
            locked: self.locked,
            csrf_token: self.csrf_token,
            previous_login_at: self.previous_login_at,
            failures_since_previous: counter("sessions.failures_since_previous", self.failures_since_previous)?,
            client_cert_sha256: self.client_cert_sha256,
        })
    }
}

/// A `terminals` row.
pub(crate) struct TerminalRow {
    pub(crate) institution_id: Uuid,
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) cert_sha256: String,
    pub(crate) issued_at: OffsetDateTime,
    pub(crate) revoked_at: Option<OffsetDateTime>,
}

impl TerminalRow {
    pub(crate) fn into_terminal(self) -> Result<Terminal, StoreError> {
        if !is_cert_fingerprint(&self.cert_sha256) {
            return Err(corrupt("terminals.cert_sha256", "not 32 upper-case hex pairs joined by ':'"));
        }
        Ok(Terminal {
            institution: InstitutionId::from_uuid(self.institution_id),
            id: TerminalId::from_uuid(self.id),
            name: TerminalName::parse(&self.name).map_err(|m| corrupt("terminals.name", &m.en))?,
            cert_sha256: self.cert_sha256,
            issued_at: self.issued_at,
            revoked_at: self.revoked_at,
        })
    }
}

/// An `emergency_grants` row.
pub(crate) struct EmergencyGrantRow {
    pub(crate) institution_id: Uuid,
    pub(crate) id: Uuid,
    pub(crate) user_id: Uuid,
    pub(crate) patient_id: Uuid,
    pub(crate) reason: String,
    pub(crate) granted_at: OffsetDateTime,
    pub(crate) expires_at: OffsetDateTime,
    pub(crate) reviewed_by: Option<Uuid>,
    pub(crate) reviewed_at: Option<OffsetDateTime>,
    pub(crate) review_note: Option<String>,
}

impl EmergencyGrantRow {
    pub(crate) fn into_grant(self) -> Result<EmergencyGrantRecord, StoreError> {
        if !(1..=EMERGENCY_REASON_MAX_CHARS).contains(&self.reason.chars().count()) {
            return Err(corrupt("emergency_grants.reason", "not 1 to 500 characters"));
        }
        if self.expires_at <= self.granted_at {
            return Err(corrupt("emergency_grants.expires_at", "not after granted_at"));
        }
        let review = match (self.reviewed_by, self.reviewed_at, self.review_note) {
            (None, None, None) => None,
            (Some(reviewed_by), Some(reviewed_at), Some(note)) => {
                if note.chars().count() > EMERGENCY_REVIEW_NOTE_MAX_CHARS {
                    return Err(corrupt("emergency_grants.review_note", "longer than 1000 characters"));
                }
                if reviewed_by == self.user_id {
                    return Err(corrupt("emergency_grants.reviewed_by", "the grant's own user"));
                }
                Some(EmergencyReview { reviewed_by: UserId::from_uuid(reviewed_by), reviewed_at, note })
            }
            _ => return Err(corrupt("emergency_grants.reviewed_by", "a review with some of its columns missing")),
        };
        Ok(EmergencyGrantRecord {
            institution: InstitutionId::from_uuid(self.institution_id),
            id: EmergencyGrantId::from_uuid(self.id),
            user: UserId::from_uuid(self.user_id),
            patient: PatientId::from_uuid(self.patient_id),
            reason: self.reason,
            granted_at: self.granted_at,
            expires_at: self.expires_at,
            review,
        })
    }
}

/// The longest reason an emergency grant keeps (the schema checks it too).
const EMERGENCY_REASON_MAX_CHARS: usize = 500;

/// The longest note a review of an emergency grant keeps (the schema checks it too).
const EMERGENCY_REVIEW_NOTE_MAX_CHARS: usize = 1000;

/// A `sealed_accounts` row.
pub(crate) struct SealedAccountRow {
    pub(crate) institution_id: Uuid,
    pub(crate) user_id: Uuid,
    pub(crate) generation: i64,
    pub(crate) sealed_at: OffsetDateTime,
}

impl SealedAccountRow {
    pub(crate) fn into_account(self) -> Result<SealedAccount, StoreError> {
        Ok(SealedAccount {
            institution: InstitutionId::from_uuid(self.institution_id),
            user: UserId::from_uuid(self.user_id),
            generation: generation("sealed_accounts.generation", self.generation)?,
            sealed_at: self.sealed_at,
        })
    }
}

/// A `sealed_activations` row.
pub(crate) struct SealedActivationRow {
    pub(crate) institution_id: Uuid,
    pub(crate) id: Uuid,
    pub(crate) user_id: Uuid,
    pub(crate) generation: i64,
    pub(crate) used_by: String,
    pub(crate) reason: String,
    pub(crate) confirmed_by: Uuid,
    pub(crate) activated_at: OffsetDateTime,
    pub(crate) expires_at: OffsetDateTime,
    pub(crate) closed_at: Option<OffsetDateTime>,
}

impl SealedActivationRow {
    pub(crate) fn into_activation(self) -> Result<SealedActivation, StoreError> {
        if !(1..=SEALED_USED_BY_MAX_CHARS).contains(&self.used_by.chars().count()) {
            return Err(corrupt("sealed_activations.used_by", "not 1 to 100 characters"));
        }
        if !(1..=SEALED_REASON_MAX_CHARS).contains(&self.reason.chars().count()) {
            return Err(corrupt("sealed_activations.reason", "not 1 to 500 characters"));
        }
        if self.confirmed_by == self.user_id {
            return Err(corrupt("sealed_activations.confirmed_by", "the account itself"));
        }
        if self.expires_at <= self.activated_at {
            return Err(corrupt("sealed_activations.expires_at", "not after activated_at"));
        }
        if self.closed_at.is_some_and(|closed_at| closed_at < self.activated_at) {
            return Err(corrupt("sealed_activations.closed_at", "before activated_at"));
        }
        Ok(SealedActivation {
            institution: InstitutionId::from_uuid(self.institution_id),
            id: SealedActivationId::from_uuid(self.id),
            user: UserId::from_uuid(self.user_id),
            generation: generation("sealed_activations.generation", self.generation)?,
            used_by: self.used_by,
            reason: self.reason,
            confirmed_by: UserId::from_uuid(self.confirmed_by),
            activated_at: self.activated_at,
            expires_at: self.expires_at,
            closed_at: self.closed_at,
        })
    }
}

/// The longest name of the person using a sealed account (the schema checks it too).
const SEALED_USED_BY_MAX_CHARS: usize = 100;

/// The longest reason an activation keeps (the schema checks it too).
const SEALED_REASON_MAX_CHARS: usize = 500;

/// A stored generation of a sealed account's credentials: a counter of at least 1.
pub(crate) fn generation(column: &str, value: i64) -> Result<u32, StoreError> {
    match counter(column, value)? {
        0 => Err(corrupt(column, "below 1")),
        n => Ok(n),
    }
}

/// A `categories` row.
pub(crate) struct CategoryRow {
    pub(crate) institution_id: Uuid,
    pub(crate) name: String,
    pub(crate) label_ja: String,
    pub(crate) label_en: String,
    pub(crate) created_at: OffsetDateTime,
}

impl CategoryRow {
    pub(crate) fn into_category(self) -> Result<CategoryDef, StoreError> {
        let category = Category::parse(&self.name).map_err(|m| corrupt("categories.name", &m.en))?;
        if Category::BUILT_IN.contains(&category) {
            return Err(corrupt("categories.name", "a built-in category"));
        }
        if !(1..=CATEGORY_LABEL_MAX_CHARS).contains(&self.label_ja.chars().count()) {
            return Err(corrupt("categories.label_ja", "not 1 to 50 characters"));
        }
        if !(1..=CATEGORY_LABEL_MAX_CHARS).contains(&self.label_en.chars().count()) {
            return Err(corrupt("categories.label_en", "not 1 to 50 characters"));
        }
        Ok(CategoryDef {
            institution: InstitutionId::from_uuid(self.institution_id),
            category,
            label_ja: self.label_ja,
            label_en: self.label_en,
            created_at: self.created_at,
        })
    }
}

/// The longest label of a category (the schema checks it too).
const CATEGORY_LABEL_MAX_CHARS: usize = 50;

/// One row of the role_policies ⟕ role_grants join: a changed role with one of its grants (or
/// none).
pub(crate) struct RoleGrantRow {
    pub(crate) role: String,
    pub(crate) action: Option<String>,
    pub(crate) category: Option<String>,
}

/// The changed roles of an institution, each with its grants.
pub(crate) type RoleGrants = Vec<(Role, Vec<(Action, Category)>)>;

/// Folds join rows into the changed roles, by role ([`Role`]'s order), each with its grants
/// sorted by (action, category) in their own orders; a role changed to no grant at all has an
/// empty list.
pub(crate) fn assemble_role_grants(rows: Vec<RoleGrantRow>) -> Result<RoleGrants, StoreError> {
    let mut roles: std::collections::BTreeMap<Role, Vec<(Action, Category)>> = std::collections::BTreeMap::new();
    for row in rows {
        let role = row.role.parse::<Role>().map_err(|m| corrupt("role_policies.role", &m.en))?;
        let grants = roles.entry(role).or_default();
        match (row.action, row.category) {
            (None, None) => {}
            (Some(action), Some(category)) => {
                let action = Action::ALL
                    .into_iter()
                    .find(|a| a.as_str() == action)
                    .ok_or_else(|| corrupt("role_grants.action", "unknown action"))?;
                let category = Category::parse(&category).map_err(|m| corrupt("role_grants.category", &m.en))?;
                grants.push((action, category));
            }
            _ => return Err(corrupt("role_grants.category", "a grant with its action or category missing")),
        }
    }
    Ok(roles
        .into_iter()
        .map(|(role, mut grants)| {
            grants.sort_unstable();
            (role, grants)
        })
        .collect())
}

/// A `log_heads` row.
pub(crate) struct LogHeadRow {
    pub(crate) size: i64,
    pub(crate) root: Vec<u8>,
    pub(crate) frontier: Vec<u8>,
}

impl LogHeadRow {
    /// The head as stored: its size and root.
    pub(crate) fn into_head(self) -> Result<LogHead, StoreError> {
        Ok(LogHead { size: log_index("log_heads.size", self.size)?, root: digest("log_heads.root", self.root)? })
    }

    /// The frontier to append to, checked against the head's size and root: a frontier that
    /// does not parse, or describes another tree than the head, is corrupt.
    pub(crate) fn into_frontier(self) -> Result<Frontier, StoreError> {
        let frontier =
            Frontier::from_bytes(&self.frontier).map_err(|e| corrupt("log_heads.frontier", &e.to_string()))?;
        let head = self.into_head()?;
        if frontier.size() != head.size {
            return Err(corrupt("log_heads.frontier", "its size is not the head's size"));
        }
        if frontier.root().as_bytes() != &head.root {
            return Err(corrupt("log_heads.root", "not the root of the stored frontier"));
        }
        Ok(frontier)
    }
}

/// A `log_leaves` row as [`crate::Store::log_leaves`] returns it.
pub(crate) struct LogLeafRow {
    pub(crate) idx: i64,
    pub(crate) leaf: Vec<u8>,
    pub(crate) leaf_hash: Vec<u8>,
}

impl LogLeafRow {
    pub(crate) fn into_leaf(self) -> Result<(u64, Vec<u8>, [u8; 32]), StoreError> {
        Ok((log_index("log_leaves.idx", self.idx)?, self.leaf, digest("log_leaves.leaf_hash", self.leaf_hash)?))
    }
}

/// A `patients` row, or a `patient_versions` row (its `patient_id` read as `id`, with its
/// `reason`).
pub(crate) struct PatientRow {
    pub(crate) institution_id: Uuid,
    pub(crate) id: Uuid,
    pub(crate) number: String,
    pub(crate) family: String,
    pub(crate) given: String,
    pub(crate) family_kana: String,
    pub(crate) given_kana: String,
    pub(crate) birth_date: Date,
    pub(crate) sex: String,
    pub(crate) phone: Option<String>,
    pub(crate) address: Option<String>,
    pub(crate) version: i64,
    pub(crate) changed_by: Uuid,
    pub(crate) changed_at: OffsetDateTime,
}

impl PatientRow {
    /// The patient, its values checked by the core rules again.
    pub(crate) fn into_patient(self) -> Result<Patient, StoreError> {
        let name = PatientName::parse(&self.family, &self.given, &self.family_kana, &self.given_kana)
            .map_err(|m| corrupt("patients.name", &m.en))?;
        Ok(Patient {
            institution: InstitutionId::from_uuid(self.institution_id),
            id: PatientId::from_uuid(self.id),
            number: PatientNumber::parse(&self.number).map_err(|m| corrupt("patients.number", &m.en))?,
            name,
            birth_date: self.birth_date,
            sex: Sex::parse(&self.sex).map_err(|m| corrupt("patients.sex", &m.en))?,
            contact: Contact::parse(self.phone.as_deref(), self.address.as_deref())
                .map_err(|m| corrupt("patients.contact", &m.en))?,
            version: generation("patients.version", self.version)?,
            changed_by: UserId::from_uuid(self.changed_by),
            changed_at: self.changed_at,
        })
    }

    /// A version and its reason: none for version 1, 1 to 500 characters for every later one.
    pub(crate) fn into_version(self, reason: Option<String>) -> Result<(Patient, Option<String>), StoreError> {
        let patient = self.into_patient()?;
        let ok = match &reason {
            None => patient.version == 1,
            Some(reason) => patient.version > 1 && (1..=PATIENT_REASON_MAX_CHARS).contains(&reason.chars().count()),
        };
        if !ok {
            return Err(corrupt("patient_versions.reason", "not none for version 1 only, 1 to 500 characters"));
        }
        Ok((patient, reason))
    }
}

/// The longest reason a change of a patient's identity keeps (the schema checks it too).
const PATIENT_REASON_MAX_CHARS: usize = 500;

/// The `LIKE` pattern that matches numbers starting with `key` (lower case; `\`, `%` and `_`
/// escaped with `\`, so they match themselves), or `None` for an empty key, which matches
/// nothing.
pub(crate) fn patient_number_pattern(key: &str) -> Option<String> {
    (!key.is_empty()).then(|| prefix_pattern(key))
}

/// The `LIKE` pattern that matches text starting with `key` (lower case; `\`, `%` and `_`
/// escaped with `\`, so they match themselves); an empty key matches everything.
fn prefix_pattern(key: &str) -> String {
    let mut pattern = String::with_capacity(key.len() + 1);
    for c in key.chars().flat_map(char::to_lowercase) {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The most patients a search returns, and the fewest it is asked for.
const PATIENT_SEARCH_MAX: u32 = 200;

/// A search's limit clamped to 1–200.
pub(crate) fn patient_search_limit(limit: u32) -> i64 {
    i64::from(limit.clamp(1, PATIENT_SEARCH_MAX))
}

/// A `records` row.
pub(crate) struct RecordRow {
    pub(crate) institution_id: Uuid,
    pub(crate) id: Uuid,
    pub(crate) patient_id: Uuid,
    pub(crate) kind: String,
    pub(crate) category: String,
    pub(crate) created_by_user: Option<Uuid>,
    pub(crate) created_by_device: Option<Uuid>,
    pub(crate) created_at: OffsetDateTime,
}

impl RecordRow {
    pub(crate) fn into_record(self) -> Result<Record, StoreError> {
        Ok(Record {
            institution: InstitutionId::from_uuid(self.institution_id),
            id: RecordId::from_uuid(self.id),
            patient: PatientId::from_uuid(self.patient_id),
            kind: self.kind.parse::<RecordKind>().map_err(|m| corrupt("records.kind", &m.en))?,
            category: Category::parse(&self.category).map_err(|m| corrupt("records.category", &m.en))?,
            created_by: agent("records.created_by", self.created_by_user, self.created_by_device)?
                .ok_or_else(|| corrupt("records.created_by", "neither a user nor a device"))?,
            created_at: self.created_at,
        })
    }
}

/// A `record_versions` row joined with its record's row.
pub(crate) struct RecordVersionRow {
    pub(crate) record: RecordRow,
    pub(crate) version: i64,
    pub(crate) change: String,
    pub(crate) state: String,
    pub(crate) content: String,
    pub(crate) reason: Option<String>,
    pub(crate) author_user: Option<Uuid>,
    pub(crate) author_device: Option<Uuid>,
    pub(crate) proxy_for: Option<Uuid>,
    pub(crate) entered_at: OffsetDateTime,
    pub(crate) updated_at: OffsetDateTime,
    pub(crate) finalized_by_user: Option<Uuid>,
    pub(crate) finalized_by_device: Option<Uuid>,
    pub(crate) finalized_at: Option<OffsetDateTime>,
    pub(crate) leaf_index: Option<i64>,
    pub(crate) rejected_by: Option<Uuid>,
    pub(crate) reject_reason: Option<String>,
}

impl RecordVersionRow {
    /// The version, every rule of the schema checked again, and its content read back only
    /// from its canonical form ([`Content::from_stored`]) and only of its record's kind.
    pub(crate) fn into_version(self) -> Result<RecordVersion, StoreError> {
        let record = self.record.into_record()?;
        let version = generation("record_versions.version", self.version)?;
        let change = self.change.parse::<Change>().map_err(|m| corrupt("record_versions.change", &m.en))?;
        let state = self.state.parse::<VersionState>().map_err(|m| corrupt("record_versions.state", &m.en))?;
        let content =
            Content::from_stored(self.content.as_bytes()).map_err(|m| corrupt("record_versions.content", &m.en))?;
        if content.kind() != record.kind {
            return Err(corrupt("record_versions.content", "not of the record's kind"));
        }
        let author = agent("record_versions.author", self.author_user, self.author_device)?
            .ok_or_else(|| corrupt("record_versions.author", "neither a user nor a device"))?;
        let finalized_by = agent("record_versions.finalized_by", self.finalized_by_user, self.finalized_by_device)?;
        let leaf_index = self.leaf_index.map(|i| log_index("record_versions.leaf_index", i)).transpose()?;
        if (version == 1) != (change == Change::Original) {
            return Err(corrupt("record_versions.change", "an original that is not version 1, or the reverse"));
        }
        if self.reason.as_ref().is_some_and(|r| !(1..=RECORD_REASON_MAX_CHARS).contains(&r.chars().count()))
            || (change != Change::Original && (self.reason.is_none() || state != VersionState::Final))
        {
            return Err(corrupt("record_versions.reason", "a change that is not final with a reason of 1 to 500"));
        }
        let final_whole = finalized_by.is_some() && self.finalized_at.is_some() && leaf_index.is_some();
        let not_final = finalized_by.is_none() && self.finalized_at.is_none() && leaf_index.is_none();
        if !(if state == VersionState::Final { final_whole } else { not_final }) {
            return Err(corrupt("record_versions.finalized_by", "finalizer, time and leaf not set for final only"));
        }
        if self.proxy_for.is_some() && author.user().is_none() {
            return Err(corrupt("record_versions.proxy_for", "a proxy entry by a device"));
        }
        if matches!(state, VersionState::PendingApproval | VersionState::Rejected) && self.proxy_for.is_none() {
            return Err(corrupt("record_versions.proxy_for", "a proxy entry without its doctor"));
        }
        let rejected = match (self.rejected_by, self.reject_reason) {
            (None, None) if state != VersionState::Rejected => None,
            (Some(by), Some(reason))
                if state == VersionState::Rejected
                    && (1..=RECORD_REASON_MAX_CHARS).contains(&reason.chars().count()) =>
            {
                Some((UserId::from_uuid(by), reason))
            }
            _ => return Err(corrupt("record_versions.rejected_by", "a rejection not whole, or not rejected")),
        };
        if self.updated_at < self.entered_at {
            return Err(corrupt("record_versions.updated_at", "before entered_at"));
        }
        Ok(RecordVersion {
            record,
            version,
            change,
            state,
            content,
            reason: self.reason,
            author,
            proxy_for: self.proxy_for.map(UserId::from_uuid),
            entered_at: self.entered_at,
            updated_at: self.updated_at,
            finalized_by,
            finalized_at: self.finalized_at,
            rejected,
            leaf_index,
        })
    }
}

/// The longest reason a version or a rejection keeps (the schema checks it too).
const RECORD_REASON_MAX_CHARS: usize = 500;

/// A user or a device from the pair of columns that hold one (`None` when both are NULL).
fn agent(column: &str, user: Option<Uuid>, device: Option<Uuid>) -> Result<Option<Agent>, StoreError> {
    match (user, device) {
        (None, None) => Ok(None),
        (Some(u), None) => Ok(Some(Agent::User(UserId::from_uuid(u)))),
        (None, Some(d)) => Ok(Some(Agent::Device(DeviceId::from_uuid(d)))),
        (Some(_), Some(_)) => Err(corrupt(column, "both a user and a device")),
    }
}

/// The most versions [`crate::Store::patient_record_versions`] returns.
pub(crate) const MAX_CHART_VERSIONS: usize = 5000;

/// The most versions [`crate::Store::approval_queue`] returns.
pub(crate) const MAX_APPROVAL_QUEUE: i64 = 500;

/// A patient's versions as read with a limit of one more than [`MAX_CHART_VERSIONS`]: more than
/// that is [`StoreError::TooMany`] (never a silently shorter chart).
pub(crate) fn chart_versions(versions: Vec<RecordVersion>) -> Result<Vec<RecordVersion>, StoreError> {
    if versions.len() > MAX_CHART_VERSIONS {
        return Err(StoreError::TooMany { what: "record versions", max: MAX_CHART_VERSIONS });
    }
    Ok(versions)
}

/// The limit a chart read asks the database for: one more than it answers.
pub(crate) fn chart_read_limit() -> i64 {
    i64::try_from(MAX_CHART_VERSIONS).map_or(i64::MAX, |max| max + 1)
}

/// A version's leaf index as the BIGINT column holds it.
pub(crate) fn leaf_index_column(index: Option<u64>) -> Result<Option<i64>, StoreError> {
    index
        .map(|i| {
            i64::try_from(i)
                .map_err(|_| StoreError::Database { detail: "a leaf index beyond the log's range".to_owned() })
        })
        .transpose()
}

/// A `master_entries` row.
pub(crate) struct MasterEntryRow {
    pub(crate) institution_id: Uuid,
    pub(crate) master: String,
    pub(crate) code: String,
    pub(crate) version: i64,
    pub(crate) name: String,
    pub(crate) unit: Option<String>,
    pub(crate) reference_range: Option<String>,
    pub(crate) valid_from: Date,
    pub(crate) valid_to: Option<Date>,
    pub(crate) imported_at: OffsetDateTime,
    pub(crate) imported_by: Option<Uuid>,
}

impl MasterEntryRow {
    /// The entry, its fields as [`MasterFields::check`] leaves them (a stored value the check
    /// would change is corrupt).
    pub(crate) fn into_entry(self) -> Result<MasterEntry, StoreError> {
        let code = MasterCode::parse(&self.code).map_err(|m| corrupt("master_entries.code", &m.en))?;
        if code.as_str() != self.code {
            return Err(corrupt("master_entries.code", "not in checked form"));
        }
        let fields = MasterFields {
            name: self.name,
            unit: self.unit,
            reference_range: self.reference_range,
            valid_from: self.valid_from,
            valid_to: self.valid_to,
        };
        let checked = fields.clone().check().map_err(|m| corrupt("master_entries.name", &m.en))?;
        if checked != fields {
            return Err(corrupt("master_entries.name", "fields not in checked form"));
        }
        Ok(MasterEntry {
            institution: InstitutionId::from_uuid(self.institution_id),
            master: self.master.parse::<MasterKind>().map_err(|m| corrupt("master_entries.master", &m.en))?,
            code,
            version: generation("master_entries.version", self.version)?,
            fields,
            imported_at: self.imported_at,
            imported_by: self.imported_by.map(UserId::from_uuid),
        })
    }
}

/// The LIKE pattern of a master search: codes starting with `key` (see [`prefix_pattern`]);
/// an empty key matches every code.
pub(crate) fn master_code_pattern(key: &str) -> String {
    prefix_pattern(key)
}

/// The most entries a master search returns, and the fewest it is asked for.
const MASTER_SEARCH_MAX: u32 = 200;

/// A master search's limit clamped to 1–200.
pub(crate) fn master_search_limit(limit: u32) -> i64 {
    i64::from(limit.clamp(1, MASTER_SEARCH_MAX))
}

/// A `devices` row.
pub(crate) struct DeviceRow {
    pub(crate) institution_id: Uuid,
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) token_hash: Vec<u8>,
    pub(crate) registered_by: Uuid,
    pub(crate) registered_at: OffsetDateTime,
    pub(crate) revoked_at: Option<OffsetDateTime>,
}

impl DeviceRow {
    pub(crate) fn into_device(self) -> Result<Device, StoreError> {
        let name = check_device_name(&self.name).map_err(|m| corrupt("devices.name", &m.en))?;
        if name != self.name {
            return Err(corrupt("devices.name", "not in checked form"));
        }
        if self.revoked_at.is_some_and(|revoked_at| revoked_at < self.registered_at) {
            return Err(corrupt("devices.revoked_at", "before registered_at"));
        }
        Ok(Device {
            institution: InstitutionId::from_uuid(self.institution_id),
            id: DeviceId::from_uuid(self.id),
            name,
            token_hash: digest("devices.token_hash", self.token_hash)?,
            registered_by: UserId::from_uuid(self.registered_by),
            registered_at: self.registered_at,
            revoked_at: self.revoked_at,
        })
    }
}

/// An `assessments` row.
pub(crate) struct AssessmentRow {
    pub(crate) institution_id: Uuid,
    pub(crate) id: Uuid,
    pub(crate) catalog: String,
    pub(crate) title: String,
    pub(crate) period_start: Date,
    pub(crate) period_end: Date,
    pub(crate) carried_from: Option<Uuid>,
    pub(crate) created_by: Uuid,
    pub(crate) created_at: OffsetDateTime,
}

impl AssessmentRow {
    /// The assessment, its catalog, title and period checked again (a title
    /// [`check_assessment`] would change is corrupt).
    pub(crate) fn into_assessment(self) -> Result<Assessment, StoreError> {
        if !is_catalog_name(&self.catalog) {
            return Err(corrupt("assessments.catalog", "not 1 to 40 of a-z, 0-9, '.', '-'"));
        }
        let title = check_assessment(&self.title, self.period_start, self.period_end)
            .map_err(|m| corrupt("assessments.title", &m.en))?;
        if title != self.title {
            return Err(corrupt("assessments.title", "not in checked form"));
        }
        Ok(Assessment {
            institution: InstitutionId::from_uuid(self.institution_id),
            id: AssessmentId::from_uuid(self.id),
            catalog: self.catalog,
            title,
            period_start: self.period_start,
            period_end: self.period_end,
            carried_from: self.carried_from.map(AssessmentId::from_uuid),
            created_by: UserId::from_uuid(self.created_by),
            created_at: self.created_at,
        })
    }
}

/// Whether `text` is a catalog name as the schema keeps it: 1 to 40 of a-z, 0-9, '.', '-'.
fn is_catalog_name(text: &str) -> bool {
    (1..=40).contains(&text.len()) && text.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-'))
}

/// Whether `text` is a catalog item ID as the schema keeps it: 1 to 100 characters, none of
/// them a control character.
fn is_item_name(text: &str) -> bool {
    (1..=ITEM_MAX_CHARS).contains(&text.chars().count()) && !text.chars().any(char::is_control)
}

/// The longest catalog item ID kept (the schema checks it too).
const ITEM_MAX_CHARS: usize = 100;

/// An `assessment_items` or `assessment_item_versions` row.
pub(crate) struct ItemRow {
    pub(crate) institution_id: Uuid,
    pub(crate) assessment_id: Uuid,
    pub(crate) item: String,
    pub(crate) state: String,
    pub(crate) owner: Option<Uuid>,
    pub(crate) due_on: Option<Date>,
    pub(crate) next_review_on: Option<Date>,
    pub(crate) notes: String,
    pub(crate) version: i64,
    pub(crate) changed_by: Uuid,
    pub(crate) changed_at: OffsetDateTime,
}

impl ItemRow {
    /// The item's version, its item ID, state and notes checked again (notes [`check_notes`]
    /// would change are corrupt).
    pub(crate) fn into_item(self) -> Result<ItemAssessment, StoreError> {
        if !is_item_name(&self.item) {
            return Err(corrupt("assessment_items.item", "not 1 to 100 characters without control characters"));
        }
        let notes = check_notes(&self.notes).map_err(|m| corrupt("assessment_items.notes", &m.en))?;
        if notes != self.notes {
            return Err(corrupt("assessment_items.notes", "not in checked form"));
        }
        Ok(ItemAssessment {
            institution: InstitutionId::from_uuid(self.institution_id),
            assessment: AssessmentId::from_uuid(self.assessment_id),
            item: self.item,
            state: self.state.parse::<ItemState>().map_err(|m| corrupt("assessment_items.state", &m.en))?,
            owner: self.owner.map(UserId::from_uuid),
            due_on: self.due_on,
            next_review_on: self.next_review_on,
            notes,
            version: generation("assessment_items.version", self.version)?,
            changed_by: UserId::from_uuid(self.changed_by),
            changed_at: self.changed_at,
        })
    }
}

/// Checks the first versions of a new assessment's items before anything is written: each is
/// version 1 of an item of `assessment` (its institution and ID).
pub(crate) fn check_first_items(assessment: &Assessment, items: &[ItemAssessment]) -> Result<(), StoreError> {
    for item in items {
        if item.version != 1 {
            return Err(StoreError::Database { detail: "an assessment's items start at version 1".to_owned() });
        }
        if item.institution != assessment.institution || item.assessment != assessment.id {
            return Err(StoreError::Database { detail: "an item of another assessment".to_owned() });
        }
    }
    Ok(())
}

/// An `evidence` row.
pub(crate) struct EvidenceRow {
    pub(crate) institution_id: Uuid,
    pub(crate) id: Uuid,
    pub(crate) revision: i64,
    pub(crate) assessment_id: Uuid,
    pub(crate) item: String,
    pub(crate) title: String,
    pub(crate) kind: String,
    pub(crate) file_name: Option<String>,
    pub(crate) file_sha256: Option<Vec<u8>>,
    pub(crate) file_size: Option<i64>,
    pub(crate) url: Option<String>,
    pub(crate) owner: Option<Uuid>,
    pub(crate) effective_on: Option<Date>,
    pub(crate) expires_on: Option<Date>,
    pub(crate) added_by: Uuid,
    pub(crate) added_at: OffsetDateTime,
}

impl EvidenceRow {
    /// The revision: a whole file or a whole link (never both), its title, name or URL and
    /// dates as [`check_evidence`] leaves them (a stored value the check would change is
    /// corrupt).
    pub(crate) fn into_evidence(self) -> Result<Evidence, StoreError> {
        if !is_item_name(&self.item) {
            return Err(corrupt("evidence.item", "not 1 to 100 characters without control characters"));
        }
        let kind = match (self.kind.as_str(), self.file_name, self.file_sha256, self.file_size, self.url) {
            ("file", Some(name), Some(sha256), Some(size), None) => EvidenceKind::File {
                name,
                sha256: digest("evidence.file_sha256", sha256)?,
                size: u64::try_from(size).map_err(|_| corrupt("evidence.file_size", "negative"))?,
            },
            ("link", None, None, None, Some(url)) => EvidenceKind::Link { url },
            _ => return Err(corrupt("evidence.kind", "not a whole file or a whole link")),
        };
        let (title, checked) = check_evidence(&self.title, kind.clone(), self.effective_on, self.expires_on)
            .map_err(|m| corrupt("evidence.title", &m.en))?;
        if title != self.title || checked != kind {
            return Err(corrupt("evidence.title", "not in checked form"));
        }
        Ok(Evidence {
            institution: InstitutionId::from_uuid(self.institution_id),
            id: EvidenceId::from_uuid(self.id),
            revision: generation("evidence.revision", self.revision)?,
            assessment: AssessmentId::from_uuid(self.assessment_id),
            item: self.item,
            title,
            kind,
            owner: self.owner.map(UserId::from_uuid),
            effective_on: self.effective_on,
            expires_on: self.expires_on,
            added_by: UserId::from_uuid(self.added_by),
            added_at: self.added_at,
        })
    }
}

/// The kind columns of an evidence row (`kind`, `file_name`, `file_sha256`, `file_size`,
/// `url`): a file's three, or a link's URL.
pub(crate) struct EvidenceColumns<'a> {
    pub(crate) kind: &'static str,
    pub(crate) file_name: Option<&'a str>,
    pub(crate) file_sha256: Option<&'a [u8]>,
    pub(crate) file_size: Option<i64>,
    pub(crate) url: Option<&'a str>,
}

impl<'a> EvidenceColumns<'a> {
    /// The columns of `kind`; a file size beyond the BIGINT column is refused.
    pub(crate) fn of(kind: &'a EvidenceKind) -> Result<Self, StoreError> {
        Ok(match kind {
            EvidenceKind::File { name, sha256, size } => Self {
                kind: "file",
                file_name: Some(name.as_str()),
                file_sha256: Some(sha256.as_slice()),
                file_size: Some(i64::try_from(*size).map_err(|_| StoreError::Database {
                    detail: "a file size beyond the range the store keeps".to_owned(),
                })?),
                url: None,
            },
            EvidenceKind::Link { url } => {
                Self { kind: "link", file_name: None, file_sha256: None, file_size: None, url: Some(url.as_str()) }
            }
        })
    }
}

/// A stored log size or index (a u64 kept in a 64-bit signed column, never negative).
pub(crate) fn log_index(column: &str, value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| corrupt(column, "negative"))
}

/// A stored node hash of the log.
pub(crate) fn log_hash(column: &str, bytes: Vec<u8>) -> Result<[u8; 32], StoreError> {
    digest(column, bytes)
}

/// Whether `text` is a SHA-256 fingerprint as the server writes it: 32 upper-case hex pairs
/// joined by `:` (the schema checks it too).
fn is_cert_fingerprint(text: &str) -> bool {
    text.len() == 95
        && text.split(':').count() == 32
        && text.split(':').all(|pair| pair.len() == 2 && pair.bytes().all(|b| matches!(b, b'0'..=b'9' | b'A'..=b'F')))
}

/// A stored counter (a u32 kept in a 64-bit integer column).
pub(crate) fn counter(column: &str, value: i64) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| corrupt(column, "out of the range of a counter"))
}

/// A stored SHA-256 digest.
fn digest(column: &str, bytes: Vec<u8>) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes).map_err(|_| corrupt(column, "not 32 bytes"))
}

/// The timestamp the stores keep: UTC, truncated to whole microseconds.
pub(crate) fn stored_time(t: OffsetDateTime) -> OffsetDateTime {
    mamori_core::clock::to_micros(t.to_offset(UtcOffset::UTC))
}

/// The user `create_user` stored, as a read would return it.
pub(crate) fn created_user(institution: InstitutionId, new: &mamori_core::NewUser) -> User {
    let mut roles = new.roles.clone();
    roles.sort_unstable();
    User {
        institution_id: institution,
        id: new.id,
        login_id: new.login_id.clone(),
        display_name: new.display_name.clone(),
        job_type: new.job_type,
        roles,
        status: UserStatus::Active,
        password_hash: new.password_hash.clone(),
        password_change_required: new.password_change_required,
        created_at: stored_time(new.created_at),
    }
}

/// A version of an applicability decision as stored.
pub(crate) struct DecisionRow {
    pub(crate) institution_id: Uuid,
    pub(crate) version: i64,
    pub(crate) flowchart: String,
    pub(crate) answers: String,
    pub(crate) outcome: String,
    pub(crate) applies: bool,
    pub(crate) basis: String,
    pub(crate) notes: String,
    pub(crate) decided_by: Uuid,
    pub(crate) decided_at: OffsetDateTime,
}

impl DecisionRow {
    /// The decision, its answers parsed and its fields as
    /// [`mamori_core::applicability::check_decision`] leaves them (a stored value the check
    /// would change is corrupt).
    pub(crate) fn into_decision(self) -> Result<mamori_core::applicability::Decision, StoreError> {
        use mamori_core::applicability::{check_decision, parse_answers};
        let answers = parse_answers(&self.answers).map_err(|m| corrupt("applicability_decisions.answers", &m.en))?;
        let (basis, notes) = check_decision(&self.flowchart, &answers, &self.outcome, &self.basis, &self.notes)
            .map_err(|m| corrupt("applicability_decisions", &m.en))?;
        if basis != self.basis || notes != self.notes {
            return Err(corrupt("applicability_decisions.basis", "not in checked form"));
        }
        Ok(mamori_core::applicability::Decision {
            institution: InstitutionId::from_uuid(self.institution_id),
            version: generation("applicability_decisions.version", self.version)?,
            flowchart: self.flowchart,
            answers,
            outcome: self.outcome,
            applies: self.applies,
            basis,
            notes,
            decided_by: UserId::from_uuid(self.decided_by),
            decided_at: self.decided_at,
        })
    }
}

pub(crate) fn corrupt(column: &str, why: &str) -> StoreError {
    StoreError::Corrupt { detail: format!("{column}: {why}") }
}

/// A register entry's version as read (`register_entries` joined with
/// `register_entry_versions`).
pub(crate) struct RegisterRow {
    pub(crate) institution_id: Uuid,
    pub(crate) id: Uuid,
    pub(crate) kind: String,
    pub(crate) version: i64,
    pub(crate) fields: String,
    pub(crate) retired_reason: Option<String>,
    pub(crate) author: Option<Uuid>,
    pub(crate) at: OffsetDateTime,
}

impl RegisterRow {
    /// The version, its fields parsed back through [`mamori_core::register::check`] (fields the
    /// check would change, or JSON that is not their canonical form, are corrupt). A catalog
    /// item is checked for its shape only: the catalogs are not the store's.
    pub(crate) fn into_entry(self) -> Result<mamori_core::register::RegisterEntry, StoreError> {
        use mamori_core::register::{RegisterEntry, RegisterKind, check, check_reason, from_json, to_json};
        let kind = self.kind.parse::<RegisterKind>().map_err(|m| corrupt("register_entries.kind", &m.en))?;
        let raw = from_json(&self.fields).map_err(|m| corrupt("register_entry_versions.fields", &m.en))?;
        let fields = check(kind, &raw, &|_| true).map_err(|m| corrupt("register_entry_versions.fields", &m.en))?;
        if to_json(&fields) != self.fields {
            return Err(corrupt("register_entry_versions.fields", "not in checked form"));
        }
        let retired = match self.retired_reason {
            Some(reason) => {
                let checked =
                    check_reason(&reason).map_err(|m| corrupt("register_entry_versions.retired_reason", &m.en))?;
                if checked != reason {
                    return Err(corrupt("register_entry_versions.retired_reason", "not in checked form"));
                }
                Some(reason)
            }
            None => None,
        };
        Ok(RegisterEntry {
            institution: InstitutionId::from_uuid(self.institution_id),
            id: mamori_core::RegisterEntryId::from_uuid(self.id),
            kind,
            version: generation("register_entry_versions.version", self.version)?,
            fields,
            retired,
            author: self.author.map(UserId::from_uuid),
            at: self.at,
        })
    }
}

/// Checks entries before anything is written: new ones are version 1 and not retired, later
/// versions are 2 or more.
pub(crate) fn check_register_versions(
    entries: &[mamori_core::register::RegisterEntry],
    first: bool,
) -> Result<(), StoreError> {
    for e in entries {
        if first && (e.version != 1 || e.retired.is_some()) {
            return Err(StoreError::Database { detail: "a new register entry is version 1, not retired".to_owned() });
        }
        if !first && e.version < 2 {
            return Err(StoreError::Database { detail: "a register entry's change is version 2 or more".to_owned() });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: u128, role: Option<&str>) -> UserRow {
        UserRow {
            institution_id: Uuid::from_u128(1),
            id: Uuid::from_u128(id),
            login_id: format!("user{id}"),
            display_name: "山田 太郎".to_owned(),
            job_type: "doctor".to_owned(),
            status: "active".to_owned(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
            password_change_required: false,
            created_at: OffsetDateTime::UNIX_EPOCH,
            last_login_at: id.is_multiple_of(2).then_some(OffsetDateTime::UNIX_EPOCH),
            role: role.map(str::to_owned),
        }
    }

    #[test]
    fn join_rows_fold_into_users_with_sorted_roles() {
        let users = assemble_users(vec![row(2, Some("system_admin")), row(2, Some("doctor")), row(3, None)]);
        let users = users.map_err(|e| e.to_string());
        assert_eq!(
            users.map(|u| u.into_iter().map(|u| (u.id.as_uuid().as_u128(), u.roles)).collect::<Vec<_>>()),
            Ok(vec![(2, vec![Role::Doctor, Role::SystemAdministrator]), (3, vec![])])
        );
    }

    #[test]
    fn the_ledger_keeps_each_users_last_login() {
        let ledger = assemble_ledger(vec![row(2, Some("doctor")), row(2, Some("clerk")), row(3, None)]);
        let ledger = ledger.map_err(|e| e.to_string());
        assert_eq!(
            ledger.map(|l| l.into_iter().map(|(u, at)| (u.id.as_uuid().as_u128(), u.roles, at)).collect::<Vec<_>>()),
            Ok(vec![(2, vec![Role::Doctor, Role::Clerk], Some(OffsetDateTime::UNIX_EPOCH)), (3, vec![], None),])
        );
    }

    #[test]
    fn a_stored_value_that_does_not_parse_is_corrupt_and_not_shown() {
        let mut bad = row(2, None);
        bad.job_type = "wizard".to_owned();
        let err = assemble_users(vec![bad]).err();
        assert!(
            matches!(&err, Some(StoreError::Corrupt { detail }) if detail.starts_with("users.job_type")),
            "{err:?}"
        );
        let mut bad = row(2, Some("root"));
        bad.login_id = "ok-login".to_owned();
        let err = assemble_users(vec![bad]).err();
        assert!(
            matches!(&err, Some(StoreError::Corrupt { detail }) if detail.starts_with("user_roles.role")),
            "{err:?}"
        );
        let mut bad = row(2, None);
        bad.login_id = "Secret Name".to_owned();
        let err = assemble_users(vec![bad]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("users.login_id") && !err.contains("Secret Name"), "{err}");
    }

    #[test]
    fn counters_digests_and_stages_are_checked() {
        assert_eq!(counter("c", 0).ok(), Some(0));
        assert_eq!(counter("c", 4_294_967_295).ok(), Some(u32::MAX));
        assert!(matches!(counter("c", -1), Err(StoreError::Corrupt { .. })));
        assert!(matches!(counter("c", 4_294_967_296), Err(StoreError::Corrupt { .. })));
        let session = |token_hash: Vec<u8>, stage: &str| SessionRow {
            token_hash,
            institution_id: Uuid::from_u128(1),
            user_id: Uuid::from_u128(2),
            stage: stage.to_owned(),
            created_at: OffsetDateTime::UNIX_EPOCH,
            last_seen_at: OffsetDateTime::UNIX_EPOCH,
            expires_at: OffsetDateTime::UNIX_EPOCH,
            locked: false,
            csrf_token: "csrf".to_owned(),
            previous_login_at: None,
            failures_since_previous: 0,
            client_cert_sha256: None,
        };
        assert!(session(vec![7; 32], "full").into_session().is_ok_and(|s| s.token_hash == [7; 32]));
        let err = session(vec![7; 31], "full").into_session().err();
        assert!(matches!(&err, Some(StoreError::Corrupt { detail }) if detail.starts_with("sessions.token_hash")));
        let err = session(vec![7; 32], "admin").into_session().err();
        assert!(matches!(&err, Some(StoreError::Corrupt { detail }) if detail.starts_with("sessions.stage")));
    }

    #[test]
    fn reenroll_pass_rows_are_checked() {
        let pass = |pass_hash: Vec<u8>, reason: &str| ReenrollPassRow {
            institution_id: Uuid::from_u128(1),
            user_id: Uuid::from_u128(2),
            pass_hash,
            issued_by: Uuid::from_u128(3),
            reason: reason.to_owned(),
            issued_at: OffsetDateTime::UNIX_EPOCH,
            expires_at: OffsetDateTime::UNIX_EPOCH,
            used_at: None,
        };
        assert!(pass(vec![7; 32], "端末紛失").into_pass().is_ok_and(|p| p.pass_hash == [7; 32]));
        assert!(pass(vec![7; 32], &"理".repeat(500)).into_pass().is_ok());
        let err = pass(vec![7; 31], "端末紛失").into_pass().err();
        assert!(
            matches!(&err, Some(StoreError::Corrupt { detail }) if detail.starts_with("reenroll_passes.pass_hash"))
        );
        for reason in [String::new(), "理".repeat(501)] {
            let err = pass(vec![7; 32], &reason).into_pass().err();
            assert!(
                matches!(&err, Some(StoreError::Corrupt { detail }) if detail.starts_with("reenroll_passes.reason"))
            );
        }
    }

    #[test]
    fn webauthn_rows_are_checked() {
        let credential = |credential_id: Vec<u8>, name: &str| WebauthnCredentialRow {
            credential_id,
            name: name.to_owned(),
            credential_json: "{}".to_owned(),
            created_at: OffsetDateTime::UNIX_EPOCH,
            last_used_at: None,
        };
        assert!(credential(vec![7], "鍵").into_credential().is_ok_and(|c| c.credential_id == [7]));
        assert!(credential(vec![7; 1023], &"鍵".repeat(100)).into_credential().is_ok());
        for id in [vec![], vec![7; 1024]] {
            let err = credential(id, "鍵").into_credential().err();
            assert!(
                matches!(&err, Some(StoreError::Corrupt { detail }) if detail.starts_with("user_webauthn.credential_id"))
            );
        }
        for name in [String::new(), "鍵".repeat(101)] {
            let err = credential(vec![7], &name).into_credential().err();
            assert!(matches!(&err, Some(StoreError::Corrupt { detail }) if detail.starts_with("user_webauthn.name")));
        }
    }

    #[test]
    fn a_taken_challenge_counts_only_for_its_purpose_before_it_expires() {
        let expires_at = time::macros::datetime!(2026-11-25 09:05:00.000001 UTC);
        let taken =
            |purpose: &str| WebauthnChallengeRow { purpose: purpose.to_owned(), state: "state".to_owned(), expires_at };
        let state = |purpose: &str, wanted, at| taken(purpose).into_state(wanted, at).ok().flatten();
        let before = expires_at - time::Duration::microseconds(1);
        assert_eq!(state("register", WebauthnPurpose::Register, before).as_deref(), Some("state"));
        assert_eq!(state("authenticate", WebauthnPurpose::Authenticate, before).as_deref(), Some("state"));
        assert_eq!(state("register", WebauthnPurpose::Authenticate, before), None, "the other purpose");
        assert_eq!(state("authenticate", WebauthnPurpose::Register, before), None, "the other purpose");
        assert_eq!(state("register", WebauthnPurpose::Register, expires_at), None, "at expiry");
        // Compared as stored: a nanosecond after the last valid microsecond is still that microsecond.
        let nanos_later = before + time::Duration::nanoseconds(999);
        assert_eq!(state("register", WebauthnPurpose::Register, nanos_later).as_deref(), Some("state"));
        let err = taken("login").into_state(WebauthnPurpose::Register, before).err();
        assert!(
            matches!(&err, Some(StoreError::Corrupt { detail }) if detail.starts_with("webauthn_challenges.purpose"))
        );
    }

    #[test]
    fn terminal_rows_are_checked() {
        let fingerprint = vec!["AB"; 32].join(":");
        let terminal = |name: &str, cert_sha256: &str| TerminalRow {
            institution_id: Uuid::from_u128(1),
            id: Uuid::from_u128(2),
            name: name.to_owned(),
            cert_sha256: cert_sha256.to_owned(),
            issued_at: OffsetDateTime::UNIX_EPOCH,
            revoked_at: None,
        };
        assert!(terminal("reception-1", &fingerprint).into_terminal().is_ok_and(|t| t.name.as_str() == "reception-1"));
        for bad in ["", ".hidden", "受付", &"a".repeat(65)] {
            let err = terminal(bad, &fingerprint).into_terminal().err();
            assert!(matches!(&err, Some(StoreError::Corrupt { detail }) if detail.starts_with("terminals.name")));
        }
        let lower = fingerprint.to_lowercase();
        let no_colons = fingerprint.replace(':', "");
        // 95 characters and 31 colons, but one in the wrong place.
        let misplaced = format!("ABC{}:A", ":AB".repeat(30));
        for bad in [lower.as_str(), no_colons.as_str(), misplaced.as_str(), "AB:CD", ""] {
            let err = terminal("reception-1", bad).into_terminal().err();
            assert!(
                matches!(&err, Some(StoreError::Corrupt { detail }) if detail.starts_with("terminals.cert_sha256")),
                "{bad}"
            );
        }
    }

    #[test]
    fn emergency_grant_rows_are_checked() {
        let t0 = time::macros::datetime!(2026-11-25 02:00 UTC);
        let grant = |reason: &str, review: (Option<u128>, Option<OffsetDateTime>, Option<&str>)| EmergencyGrantRow {
            institution_id: Uuid::from_u128(1),
            id: Uuid::from_u128(2),
            user_id: Uuid::from_u128(3),
            patient_id: Uuid::from_u128(4),
            reason: reason.to_owned(),
            granted_at: t0,
            expires_at: t0 + time::Duration::hours(1),
            reviewed_by: review.0.map(Uuid::from_u128),
            reviewed_at: review.1,
            review_note: review.2.map(str::to_owned),
        };
        let unreviewed = (None, None, None);
        assert!(grant("夜間救急", unreviewed).into_grant().is_ok_and(|g| g.review.is_none()));
        assert!(grant(&"救".repeat(500), unreviewed).into_grant().is_ok());
        let note = "確認".repeat(500);
        let reviewed = grant("夜間救急", (Some(9), Some(t0), Some(&note))).into_grant();
        assert!(reviewed.is_ok_and(|g| g.review.is_some_and(|r| r.reviewed_by.as_uuid() == Uuid::from_u128(9))));
        assert!(grant("夜間救急", (Some(9), Some(t0), Some(""))).into_grant().is_ok(), "an empty note");

        let is_corrupt = |row: EmergencyGrantRow, column: &str| matches!(row.into_grant(), Err(StoreError::Corrupt { detail }) if detail.starts_with(column));
        for reason in [String::new(), "救".repeat(501)] {
            assert!(is_corrupt(grant(&reason, unreviewed), "emergency_grants.reason"));
        }
        let expired_at_grant = EmergencyGrantRow { expires_at: t0, ..grant("夜間救急", unreviewed) };
        assert!(is_corrupt(expired_at_grant, "emergency_grants.expires_at"));
        let long_note = "確".repeat(1001);
        assert!(is_corrupt(grant("夜間救急", (Some(9), Some(t0), Some(&long_note))), "emergency_grants.review_note"));
        assert!(is_corrupt(grant("夜間救急", (Some(3), Some(t0), Some(""))), "emergency_grants.reviewed_by"));
        for partial in
            [(Some(9), None, None), (None, Some(t0), None), (None, None, Some("")), (Some(9), Some(t0), None)]
        {
            assert!(is_corrupt(grant("夜間救急", partial), "emergency_grants.reviewed_by"));
        }
    }

    #[test]
    fn sealed_rows_are_checked() {
        let t0 = time::macros::datetime!(2026-11-25 02:00 UTC);
        let account = |generation: i64| SealedAccountRow {
            institution_id: Uuid::from_u128(1),
            user_id: Uuid::from_u128(2),
            generation,
            sealed_at: t0,
        };
        assert!(account(1).into_account().is_ok_and(|a| a.generation == 1));
        assert!(account(4_294_967_295).into_account().is_ok_and(|a| a.generation == u32::MAX));
        for bad in [0, -1, 4_294_967_296] {
            let err = account(bad).into_account().err();
            assert!(
                matches!(&err, Some(StoreError::Corrupt { detail }) if detail.starts_with("sealed_accounts.generation")),
                "{bad}"
            );
        }

        let activation = || SealedActivationRow {
            institution_id: Uuid::from_u128(1),
            id: Uuid::from_u128(3),
            user_id: Uuid::from_u128(2),
            generation: 1,
            used_by: "山田 花子".to_owned(),
            reason: "停電".to_owned(),
            confirmed_by: Uuid::from_u128(4),
            activated_at: t0,
            expires_at: t0 + time::Duration::hours(8),
            closed_at: None,
        };
        assert!(activation().into_activation().is_ok_and(|a| a.closed_at.is_none()));
        let longest = SealedActivationRow {
            used_by: "花".repeat(100),
            reason: "停".repeat(500),
            closed_at: Some(t0),
            ..activation()
        };
        assert!(longest.into_activation().is_ok());
        let is_corrupt = |row: SealedActivationRow, column: &str| matches!(row.into_activation(), Err(StoreError::Corrupt { detail }) if detail.starts_with(column));
        for used_by in [String::new(), "花".repeat(101)] {
            assert!(is_corrupt(SealedActivationRow { used_by, ..activation() }, "sealed_activations.used_by"));
        }
        for reason in [String::new(), "停".repeat(501)] {
            assert!(is_corrupt(SealedActivationRow { reason, ..activation() }, "sealed_activations.reason"));
        }
        let own = SealedActivationRow { confirmed_by: Uuid::from_u128(2), ..activation() };
        assert!(is_corrupt(own, "sealed_activations.confirmed_by"));
        assert!(is_corrupt(SealedActivationRow { expires_at: t0, ..activation() }, "sealed_activations.expires_at"));
        let early = SealedActivationRow { closed_at: Some(t0 - time::Duration::microseconds(1)), ..activation() };
        assert!(is_corrupt(early, "sealed_activations.closed_at"));
        assert!(is_corrupt(SealedActivationRow { generation: 0, ..activation() }, "sealed_activations.generation"));
    }

    #[test]
    fn category_rows_are_checked() {
        let row = |name: &str, label_ja: &str, label_en: &str| CategoryRow {
            institution_id: Uuid::from_u128(1),
            name: name.to_owned(),
            label_ja: label_ja.to_owned(),
            label_en: label_en.to_owned(),
            created_at: OffsetDateTime::UNIX_EPOCH,
        };
        let ok = row("genetic_test", "遺伝子検査", "genetic tests").into_category();
        assert!(ok.is_ok_and(|c| c.category.as_str() == "genetic_test"));
        assert!(row(&"g".repeat(40), &"遺".repeat(50), &"g".repeat(50)).into_category().is_ok());
        let is_corrupt = |row: CategoryRow, column: &str| matches!(row.into_category(), Err(StoreError::Corrupt { detail }) if detail.starts_with(column));
        for bad in ["", "Genetic", "9lives", "genetic-test", "imaging", "psychiatric", &"g".repeat(41)] {
            assert!(is_corrupt(row(bad, "遺伝子検査", "genetic tests"), "categories.name"), "{bad}");
        }
        for bad in [String::new(), "遺".repeat(51)] {
            assert!(is_corrupt(row("genetic_test", &bad, "genetic tests"), "categories.label_ja"));
            assert!(is_corrupt(row("genetic_test", "遺伝子検査", &bad), "categories.label_en"));
        }
    }

    #[test]
    fn role_grant_rows_fold_into_sorted_roles_and_grants() {
        let row = |role: &str, grant: Option<(&str, &str)>| RoleGrantRow {
            role: role.to_owned(),
            action: grant.map(|(a, _)| a.to_owned()),
            category: grant.map(|(_, c)| c.to_owned()),
        };
        // As the database orders them: by role text, action text, category.
        let rows = vec![
            row("clerk", Some(("print", "document"))),
            row("clerk", Some(("read", "document"))),
            row("doctor", Some(("export", "clinical_record"))),
            row("doctor", Some(("read", "genetic_test"))),
            row("doctor", Some(("read", "clinical_record"))),
            row("nurse", None),
        ];
        let folded = assemble_role_grants(rows).map_err(|e| e.to_string());
        let genetic = Category::parse("genetic_test").map_err(|m| m.en);
        assert_eq!(
            folded,
            genetic.map(|genetic| vec![
                (
                    Role::Doctor,
                    vec![
                        (Action::Read, Category::CLINICAL_RECORD),
                        (Action::Read, genetic),
                        (Action::Export, Category::CLINICAL_RECORD),
                    ]
                ),
                (Role::Nurse, vec![]),
                (Role::Clerk, vec![(Action::Read, Category::DOCUMENT), (Action::Print, Category::DOCUMENT)]),
            ])
        );
        for (bad, column) in [
            (row("root", None), "role_policies.role"),
            (row("doctor", Some(("delete", "imaging"))), "role_grants.action"),
            (row("doctor", Some(("read", "Imaging"))), "role_grants.category"),
            (RoleGrantRow { action: Some("read".to_owned()), ..row("doctor", None) }, "role_grants.category"),
            (RoleGrantRow { category: Some("imaging".to_owned()), ..row("doctor", None) }, "role_grants.category"),
        ] {
            let err = assemble_role_grants(vec![bad]).err();
            assert!(matches!(&err, Some(StoreError::Corrupt { detail }) if detail.starts_with(column)), "{err:?}");
        }
    }

    #[test]
    fn stored_time_is_utc_microseconds() {
        let t = time::macros::datetime!(2026-11-25 18:00:00.123456789 +09:00);
        let s = stored_time(t);
        assert_eq!(s.offset(), UtcOffset::UTC);
        assert_eq!(s, time::macros::datetime!(2026-11-25 09:00:00.123456 UTC));
    }

    #[test]
    fn patient_search_patterns_escape_wildcards_and_limits_are_clamped() {
        assert_eq!(patient_number_pattern(""), None);
        assert_eq!(patient_number_pattern("A-12").as_deref(), Some("a-12%"));
        assert_eq!(patient_number_pattern("1%_\\").as_deref(), Some("1\\%\\_\\\\%"));
        assert_eq!(patient_search_limit(0), 1);
        assert_eq!(patient_search_limit(50), 50);
        assert_eq!(patient_search_limit(u32::MAX), 200);
    }
}
