//! Authorization: roles × information categories (情報区分) × actions, decided by one pure
//! function that returns a proof value.
//!
//! A permission is either clinical — an [`Action`] on a [`Category`] — or administrative
//! ([`AdminPermission`]). Each [`Role`] has a default policy of least privilege
//! ([`role_policy`]). [`authorize`] decides from (principal, institution, action, category,
//! patient, time) and returns [`Authorized`], which only it can build: code that touches
//! patient data takes an `&Authorized` argument, so skipping the check does not compile.

use crate::{EmergencyGrantId, InstitutionId, JobType, Message, PatientId, Role, UserId, UserStatus};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use time::OffsetDateTime;

/// What is done to clinical information.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// 閲覧
    Read,
    /// 記載・入力 (a draft, or a proxy entry pending approval)
    Write,
    /// 確定
    Finalize,
    /// 承認 (of a proxy entry)
    Approve,
    /// 印刷
    Print,
    /// 出力 (bulk or standard-format export)
    Export,
}

impl Action {
    /// Every action.
    pub const ALL: [Self; 6] = [Self::Read, Self::Write, Self::Finalize, Self::Approve, Self::Print, Self::Export];

    /// Stable text.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Finalize => "finalize",
            Self::Approve => "approve",
            Self::Print => "print",
            Self::Export => "export",
        }
    }
}

/// An information category (情報区分). Six are built in; an institution may add its own
/// (lower-case ASCII letters, digits and `_`, 1–40 characters), on which no default role has
/// any right until the institution grants one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Category(Cow<'static, str>);

impl Category {
    /// 診療記録
    pub const CLINICAL_RECORD: Self = Self(Cow::Borrowed("clinical_record"));
    /// 検査結果
    pub const LAB_RESULT: Self = Self(Cow::Borrowed("lab_result"));
    /// 画像
    pub const IMAGING: Self = Self(Cow::Borrowed("imaging"));
    /// 処方
    pub const PRESCRIPTION: Self = Self(Cow::Borrowed("prescription"));
    /// 文書
    pub const DOCUMENT: Self = Self(Cow::Borrowed("document"));
    /// 精神科記録
    pub const PSYCHIATRIC: Self = Self(Cow::Borrowed("psychiatric"));

    /// The built-in categories.
    pub const BUILT_IN: [Self; 6] =
        [Self::CLINICAL_RECORD, Self::LAB_RESULT, Self::IMAGING, Self::PRESCRIPTION, Self::DOCUMENT, Self::PSYCHIATRIC];

    /// Checks and wraps a category name.
    ///
    /// # Errors
    /// A bilingual message when the name breaks the rules.
    pub fn parse(raw: &str) -> Result<Self, Message> {
        if let Some(builtin) = Self::BUILT_IN.iter().find(|c| c.as_str() == raw) {
            return Ok(builtin.clone());
        }
        let ok = (1..=40).contains(&raw.len())
            && raw.starts_with(|c: char| c.is_ascii_lowercase())
            && raw.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if ok {
            Ok(Self(Cow::Owned(raw.to_owned())))
        } else {
            Err(Message::new(
                "情報区分の名前は英小文字で始まる1〜40文字（英小文字・数字・_）にしてください。",
                "a category name has 1 to 40 characters (a-z, 0-9, '_') and starts with a letter",
            ))
        }
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The Japanese label of a built-in category (the name itself for others).
    #[must_use]
    pub fn label_ja(&self) -> &str {
        match self.as_str() {
            "clinical_record" => "診療記録",
            "lab_result" => "検査結果",
            "imaging" => "画像",
            "prescription" => "処方",
            "document" => "文書",
            "psychiatric" => "精神科記録",
            other => other,
        }
    }
}

impl Category {
    /// The English label of a built-in category (the name itself for others).
    #[must_use]
    pub fn label_en(&self) -> &str {
        match self.as_str() {
            "clinical_record" => "Clinical records",
            "lab_result" => "Lab results",
            "imaging" => "Imaging",
            "prescription" => "Prescriptions",
            "document" => "Documents",
            "psychiatric" => "Psychiatric records",
            other => other,
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Administrative permissions: nothing clinical.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AdminPermission {
    /// Create, disable and retire accounts; issue re-enrollment passes.
    ManageUsers,
    /// Change roles and categories.
    ManageRoles,
    /// Register and revoke terminals.
    ManageTerminals,
    /// Read the audit trail (reading it is itself audited).
    ReadAudit,
    /// Review emergency-access use (安全管理責任者).
    ReviewEmergency,
    /// Open a chart outside one's grants in an emergency, stating a reason.
    EmergencyAccess,
    /// Run the compliance workbench: assessments, evidence, applicability (安全管理責任者).
    ManageCompliance,
    /// Read the compliance workbench (its assessments, evidence and reports).
    ReadCompliance,
}

impl AdminPermission {
    /// Every administrative permission.
    pub const ALL: [Self; 8] = [
        Self::ManageUsers,
        Self::ManageRoles,
        Self::ManageTerminals,
        Self::ReadAudit,
        Self::ReviewEmergency,
        Self::EmergencyAccess,
        Self::ManageCompliance,
        Self::ReadCompliance,
    ];
}

/// A role's default policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolePolicy {
    /// Clinical rights: (action, category).
    pub clinical: BTreeSet<(Action, Category)>,
    /// Administrative rights.
    pub admin: BTreeSet<AdminPermission>,
}

fn grants(actions: &[Action], categories: &[Category]) -> BTreeSet<(Action, Category)> {
    actions.iter().flat_map(|a| categories.iter().map(move |c| (*a, c.clone()))).collect()
}

/// The default, least-privilege policy of a role.
///
/// | role | clinical | administrative |
/// | --- | --- | --- |
/// | doctor | read, write, finalize, approve, print on every built-in category | emergency access |
/// | nurse | read all but psychiatric; write/finalize records and documents; print records, results, documents | emergency access |
/// | pharmacist | read records, results, prescriptions; write/finalize/print prescriptions | — |
/// | technician | read records; read/write/finalize/print results and images | — |
/// | clerk | write (proxy entry) records, prescriptions, documents; read/print documents | — |
/// | system_admin | none | users, roles, terminals, emergency review |
/// | auditor | none | read the audit trail |
///
/// Export is granted to no default role: an institution grants it deliberately.
#[must_use]
pub fn role_policy(role: Role) -> RolePolicy {
    use Action::{Approve, Finalize, Print, Read, Write};
    let c = |cats: &[Category]| cats.to_vec();
    let all = Category::BUILT_IN;
    let (clinical, admin): (BTreeSet<(Action, Category)>, &[AdminPermission]) = match role {
        Role::Doctor => (grants(&[Read, Write, Finalize, Approve, Print], &all), &[AdminPermission::EmergencyAccess]),
        Role::Nurse => {
            let mut g = grants(
                &[Read],
                &c(&[
                    Category::CLINICAL_RECORD,
                    Category::LAB_RESULT,
                    Category::IMAGING,
                    Category::PRESCRIPTION,
                    Category::DOCUMENT,
                ]),
            );
            g.extend(grants(&[Write, Finalize], &c(&[Category::CLINICAL_RECORD, Category::DOCUMENT])));
            g.extend(grants(&[Print], &c(&[Category::CLINICAL_RECORD, Category::LAB_RESULT, Category::DOCUMENT])));
            (g, &[AdminPermission::EmergencyAccess])
        }
        Role::Pharmacist => {
            let mut g = grants(&[Read], &c(&[Category::CLINICAL_RECORD, Category::LAB_RESULT, Category::PRESCRIPTION]));
            g.extend(grants(&[Write, Finalize, Print], &c(&[Category::PRESCRIPTION])));
            (g, &[])
        }
        Role::Technician => {
            let mut g = grants(&[Read], &c(&[Category::CLINICAL_RECORD]));
            g.extend(grants(&[Read, Write, Finalize, Print], &c(&[Category::LAB_RESULT, Category::IMAGING])));
            (g, &[])
        }
        Role::Clerk => {
            let mut g = grants(&[Write], &c(&[Category::CLINICAL_RECORD, Category::PRESCRIPTION, Category::DOCUMENT]));
            g.extend(grants(&[Read, Print], &c(&[Category::DOCUMENT])));
            (g, &[])
        }
        Role::SystemAdministrator => (
            BTreeSet::new(),
            &[
                AdminPermission::ManageUsers,
                AdminPermission::ManageRoles,
                AdminPermission::ManageTerminals,
                AdminPermission::ReviewEmergency,
                AdminPermission::ManageCompliance,
                AdminPermission::ReadCompliance,
            ],
        ),
        Role::Auditor => (BTreeSet::new(), &[AdminPermission::ReadAudit, AdminPermission::ReadCompliance]),
    };
    RolePolicy { clinical, admin: admin.iter().copied().collect() }
}

/// A category an institution added, with its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryDef {
    /// The institution.
    pub institution: InstitutionId,
    /// Its name (never a built-in one).
    pub category: Category,
    /// Japanese label (1–50 characters).
    pub label_ja: String,
    /// English label (1–50 characters).
    pub label_en: String,
    /// When it was added.
    pub created_at: OffsetDateTime,
}

impl CategoryDef {
    /// Checks a new category: a name that is not built in, and both labels.
    ///
    /// # Errors
    /// A bilingual message naming the rule broken.
    pub fn check(name: &str, label_ja: &str, label_en: &str) -> Result<(Category, String, String), Message> {
        let category = Category::parse(name)?;
        if Category::BUILT_IN.contains(&category) {
            return Err(Message::new(
                "組み込みの情報区分と同じ名前は使えません。",
                "that name belongs to a built-in category",
            ));
        }
        let label = |raw: &str| {
            let t = raw.trim();
            (!t.is_empty() && t.chars().count() <= 50 && !t.chars().any(char::is_control)).then(|| t.to_owned())
        };
        match (label(label_ja), label(label_en)) {
            (Some(ja), Some(en)) => Ok((category, ja, en)),
            _ => Err(Message::new(
                "情報区分の表示名（日本語・英語）をそれぞれ1〜50文字で入力してください。",
                "give the category's Japanese and English labels, 1 to 50 characters each",
            )),
        }
    }
}

/// An institution's clinical rights per role: each role's default ([`role_policy`]) unless the
/// institution replaced that role's grants (administrative permissions are not editable).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    overrides: BTreeMap<Role, BTreeSet<(Action, Category)>>,
}

impl Policy {
    /// The defaults with the roles the institution changed.
    #[must_use]
    pub fn with_overrides(overrides: impl IntoIterator<Item = (Role, BTreeSet<(Action, Category)>)>) -> Self {
        Self { overrides: overrides.into_iter().collect() }
    }

    /// A role's clinical rights in this institution.
    #[must_use]
    pub fn clinical(&self, role: Role) -> std::borrow::Cow<'_, BTreeSet<(Action, Category)>> {
        match self.overrides.get(&role) {
            Some(grants) => std::borrow::Cow::Borrowed(grants),
            None => std::borrow::Cow::Owned(role_policy(role).clinical),
        }
    }

    /// Whether the institution changed this role's grants.
    #[must_use]
    pub fn is_customized(&self, role: Role) -> bool {
        self.overrides.contains_key(&role)
    }
}

/// Checks new clinical grants for a role: the system administrator and the auditor hold no
/// clinical right (MDS 4.3.2: whoever manages accounts or reads the audit trail does not read
/// charts), and every category is built in or one of `known`.
///
/// # Errors
/// A bilingual message naming the rule broken.
pub fn check_role_grants(
    role: Role,
    grants: &[(Action, Category)],
    known: &[Category],
) -> Result<BTreeSet<(Action, Category)>, Message> {
    if matches!(role, Role::SystemAdministrator | Role::Auditor) && !grants.is_empty() {
        return Err(Message::new(
            "システム管理者と監査担当者には診療情報の権限を与えられません。",
            "the system administrator and auditor roles cannot hold clinical rights",
        ));
    }
    if let Some((_, unknown)) = grants.iter().find(|(_, c)| !Category::BUILT_IN.contains(c) && !known.contains(c)) {
        return Err(Message::new(
            format!("情報区分「{unknown}」は登録されていません。"),
            format!("the category '{unknown}' is not defined"),
        ));
    }
    Ok(grants.iter().cloned().collect())
}

/// The roles a job type may hold under the default policy (used by the rights review, 002 ①-6).
#[must_use]
pub fn roles_allowed_for(job: JobType) -> &'static [Role] {
    match job {
        JobType::Doctor | JobType::Dentist => &[Role::Doctor],
        JobType::Nurse => &[Role::Nurse],
        JobType::Pharmacist => &[Role::Pharmacist],
        JobType::Technician => &[Role::Technician],
        JobType::Clerk => &[Role::Clerk],
        JobType::Manager => &[Role::SystemAdministrator],
        JobType::Auditor => &[Role::Auditor],
    }
}

/// A time-limited emergency (break-glass) grant on one patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmergencyGrant {
    /// Its identifier (recorded with every access it allows).
    pub id: EmergencyGrantId,
    /// The patient it opens.
    pub patient: PatientId,
    /// When it stops allowing anything.
    pub expires_at: OffsetDateTime,
}

/// The actions an emergency grant allows on its patient: reading and writing to keep care
/// going, and printing. Never finalizing someone else's work, approving or exporting.
pub const EMERGENCY_ACTIONS: [Action; 3] = [Action::Read, Action::Write, Action::Print];

/// Who is asking: an authenticated user of an institution. The session layer builds it only
/// after both factors (and re-authentication after an idle lock).
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user's institution.
    pub institution: InstitutionId,
    /// The user.
    pub user: UserId,
    /// The user's roles.
    pub roles: Vec<Role>,
    /// The user's status (only active users are authorized).
    pub status: UserStatus,
    /// Emergency grants the user holds (expired ones are ignored).
    pub emergency_grants: Vec<EmergencyGrant>,
    /// The institution's clinical rights per role (the defaults unless it changed them).
    pub policy: Policy,
}

/// How an access was allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Basis {
    /// A role's policy.
    Role(Role),
    /// An emergency grant (flagged on every page, reviewed later).
    Emergency(EmergencyGrantId),
}

/// Proof that [`authorize`] allowed an action. Only `authorize` builds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorized {
    institution: InstitutionId,
    user: UserId,
    action: Action,
    category: Category,
    patient: Option<PatientId>,
    basis: Basis,
    at: OffsetDateTime,
}

impl Authorized {
    /// The institution whose data may be touched.
    #[must_use]
    pub fn institution(&self) -> InstitutionId {
        self.institution
    }
    /// Who is allowed.
    #[must_use]
    pub fn user(&self) -> UserId {
        self.user
    }
    /// What is allowed.
    #[must_use]
    pub fn action(&self) -> Action {
        self.action
    }
    /// On which category.
    #[must_use]
    pub fn category(&self) -> &Category {
        &self.category
    }
    /// For which patient (None: an action not about one patient, e.g. a search).
    #[must_use]
    pub fn patient(&self) -> Option<PatientId> {
        self.patient
    }
    /// Why it was allowed.
    #[must_use]
    pub fn basis(&self) -> &Basis {
        &self.basis
    }
    /// When it was decided.
    #[must_use]
    pub fn at(&self) -> OffsetDateTime {
        self.at
    }
}

/// Why an access was refused. Shown to the user as a message that names the rule, never
/// whether the patient exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// The data belongs to another institution.
    OtherInstitution,
    /// The account is disabled or retired.
    Inactive,
    /// No role grants it and no emergency grant applies.
    NotGranted,
    /// The only emergency grant that would apply has expired.
    EmergencyExpired,
}

impl Denied {
    /// The message for the person.
    #[must_use]
    pub fn message(self) -> Message {
        match self {
            Self::OtherInstitution | Self::NotGranted => {
                Message::new("この操作の権限がありません。", "you do not have permission for this action")
            }
            Self::Inactive => Message::new("このアカウントは利用できません。", "this account cannot be used"),
            Self::EmergencyExpired => Message::new(
                "緊急アクセスの有効期限が切れました。必要なら理由を添えて再度申請してください。",
                "the emergency access has expired; request it again with a reason if still needed",
            ),
        }
    }
}

/// Decides whether `principal` may do `action` on `category` of `patient` in `institution` at
/// `now`. Pure: no I/O; every input is an argument.
///
/// # Errors
/// [`Denied`] with the rule that refused it.
pub fn authorize(
    principal: &Principal,
    institution: InstitutionId,
    action: Action,
    category: &Category,
    patient: Option<PatientId>,
    now: OffsetDateTime,
) -> Result<Authorized, Denied> {
    if principal.institution != institution {
        return Err(Denied::OtherInstitution);
    }
    if principal.status != UserStatus::Active {
        return Err(Denied::Inactive);
    }
    let proof = |basis| Authorized {
        institution,
        user: principal.user,
        action,
        category: category.clone(),
        patient,
        basis,
        at: now,
    };
    let key = (action, category.clone());
    if let Some(role) = principal.roles.iter().copied().find(|r| principal.policy.clinical(*r).contains(&key)) {
        return Ok(proof(Basis::Role(role)));
    }
    let emergency_capable =
        principal.roles.iter().any(|r| role_policy(*r).admin.contains(&AdminPermission::EmergencyAccess));
    if let Some(patient) = patient
        && emergency_capable
        && EMERGENCY_ACTIONS.contains(&action)
    {
        let mut matching = principal.emergency_grants.iter().filter(|g| g.patient == patient).peekable();
        if matching.peek().is_some() {
            return match matching.find(|g| now < g.expires_at) {
                Some(grant) => Ok(proof(Basis::Emergency(grant.id))),
                None => Err(Denied::EmergencyExpired),
            };
        }
    }
    Err(Denied::NotGranted)
}

/// Whether `principal` holds an administrative permission.
///
/// # Errors
/// [`Denied`] as for [`authorize`].
pub fn authorize_admin(
    principal: &Principal,
    institution: InstitutionId,
    permission: AdminPermission,
) -> Result<AdminAuthorized, Denied> {
    if principal.institution != institution {
        return Err(Denied::OtherInstitution);
    }
    if principal.status != UserStatus::Active {
        return Err(Denied::Inactive);
    }
    if principal.roles.iter().any(|r| role_policy(*r).admin.contains(&permission)) {
        Ok(AdminAuthorized { institution, user: principal.user, permission })
    } else {
        Err(Denied::NotGranted)
    }
}

/// Proof that [`authorize_admin`] allowed an administrative permission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminAuthorized {
    institution: InstitutionId,
    user: UserId,
    permission: AdminPermission,
}

impl AdminAuthorized {
    /// The institution.
    #[must_use]
    pub fn institution(&self) -> InstitutionId {
        self.institution
    }
    /// Who.
    #[must_use]
    pub fn user(&self) -> UserId {
        self.user
    }
    /// Which permission.
    #[must_use]
    pub fn permission(&self) -> AdminPermission {
        self.permission
    }
}

#[cfg(test)]
mod tests;
