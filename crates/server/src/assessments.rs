//! The compliance workbench's assessments (自己点検): start one for a catalog (the annual
//! self-inspection carries last year's answers over, every state reset for review), change an
//! item (its state, owner, dates and notes, as a new version), add evidence (a link, or a file
//! kept by mamori), and read an assessment with **live evidence** from mamori's own data for the
//! items mamori fulfils itself (the user-ID ledger and its review, two-factor enrollment,
//! finalized records).
//!
//! Writes need `ManageCompliance` (system administrators, the 安全管理責任者's role), reads
//! `ReadCompliance` (also auditors). Every write is committed with its audit event; a read of an
//! assessment is an event too.

use crate::audit;
use crate::error::ApiError;
use mamori_core::assessment::{
    Assessment, Evidence, EvidenceKind, ItemAssessment, ItemState, carry_over, check_assessment,
};
use mamori_core::audit::Outcome;
use mamori_core::authz::AdminPermission;
use mamori_core::review::{review_account, too_many_administrators};
use mamori_core::{AssessmentId, InstitutionId, Message, User, UserId, UserStatus};
use mamori_store::{Store, StoreError};
use std::time::Duration;
use time::{Date, OffsetDateTime};

/// Who acts: the signed-in user and their principal (the records' [`Caller`]).
pub type Manager = crate::records::Caller;

fn no_assessment() -> ApiError {
    ApiError::no_such("点検", "assessment")
}

/// The items of a shipped catalog, or 400 for an unknown one.
fn catalog_items(catalog: &str) -> Result<Vec<mamori_compliance::Item>, ApiError> {
    let all = mamori_compliance::catalogs().map_err(|e| {
        tracing::error!(error = %e, "the shipped catalogs do not load");
        ApiError::internal()
    })?;
    all.into_iter().find(|c| c.catalog.id == catalog).map(|c| c.items).ok_or_else(|| {
        ApiError::bad_request(Message::new(
            format!("catalog: 「{catalog}」というカタログはありません。"),
            format!("catalog: no catalog {catalog}"),
        ))
    })
}

/// What a new assessment needs.
#[derive(Debug, Clone)]
pub struct NewAssessment {
    /// The catalog (`hoshu-7.0`).
    pub catalog: String,
    /// The title.
    pub title: String,
    /// The period.
    pub period_start: Date,
    /// The period's last day.
    pub period_end: Date,
    /// Whether to carry over the newest earlier assessment of the same catalog.
    pub carry_over: bool,
}

/// Starts an assessment: every item of the catalog, 未着手; with `carry_over`, the owners, next
/// reviews and notes of the newest earlier assessment of the same catalog come along.
///
/// # Errors
/// 403 without `ManageCompliance`, 400 for a bad field or unknown catalog.
pub async fn start(
    store: &dyn Store,
    who: &Manager,
    now: OffsetDateTime,
    new: NewAssessment,
) -> Result<(Assessment, Vec<ItemAssessment>), ApiError> {
    who.require(AdminPermission::ManageCompliance)?;
    let now = mamori_core::clock::to_micros(now);
    let title = check_assessment(&new.title, new.period_start, new.period_end).map_err(ApiError::bad_request)?;
    let items = catalog_items(&new.catalog)?;
    let previous = if new.carry_over {
        store.assessments(who.institution()).await?.into_iter().find(|a| a.catalog == new.catalog)
    } else {
        None
    };
    let last_year = match &previous {
        Some(p) => store.assessment_items(who.institution(), p.id).await?,
        None => Vec::new(),
    };
    let assessment = Assessment {
        institution: who.institution(),
        id: AssessmentId::generate(&mut rand_core::OsRng),
        catalog: new.catalog,
        title,
        period_start: new.period_start,
        period_end: new.period_end,
        carried_from: previous.map(|p| p.id),
        created_by: who.user.id,
        created_at: now,
    };
    let ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
    let first = carry_over(&assessment, &ids, &last_year);
    let mut tx = store.begin().await?;
    tx.create_assessment(&assessment, &first).await?;
    let event = who
        .event(now, "compliance.assessment.create", Outcome::Allowed)
        .resource(format!("assessment:{}", assessment.id))
        .detail("catalog", assessment.catalog.clone())
        .detail("carried_from", assessment.carried_from.map(|a| a.to_string()).unwrap_or_default());
    audit::commit_with(tx, event).await?;
    Ok((assessment, first))
}

/// An owner must be a user of the institution (400 otherwise, naming the field).
async fn check_owner(store: &dyn Store, who: &Manager, owner: Option<UserId>) -> Result<(), ApiError> {
    if let Some(owner) = owner
        && store.user(who.institution(), owner).await?.is_none()
    {
        return Err(ApiError::bad_request(Message::new(
            "owner: この医療機関の利用者を指定してください。",
            "owner: a user of this institution",
        )));
    }
    Ok(())
}

/// An item's change.
#[derive(Debug, Clone)]
pub struct ItemChange {
    /// The state.
    pub state: ItemState,
    /// The owner.
    pub owner: Option<UserId>,
    /// Due.
    pub due_on: Option<Date>,
    /// Next review.
    pub next_review_on: Option<Date>,
    /// Notes.
    pub notes: String,
    /// The version being changed (the current one).
    pub version: u32,
}

/// Changes one item of an assessment: a new version (the old ones are kept).
///
/// # Errors
/// 403, 404 (assessment or item), 400 (notes, owner), 409 (someone changed it first).
pub async fn change_item(
    store: &dyn Store,
    who: &Manager,
    now: OffsetDateTime,
    assessment: AssessmentId,
    item: &str,
    change: ItemChange,
) -> Result<ItemAssessment, ApiError> {
    who.require(AdminPermission::ManageCompliance)?;
    let now = mamori_core::clock::to_micros(now);
    let notes = mamori_core::assessment::check_notes(&change.notes).map_err(ApiError::bad_request)?;
    check_owner(store, who, change.owner).await?;
    let current = store
        .assessment_items(who.institution(), assessment)
        .await?
        .into_iter()
        .find(|i| i.item == item)
        .ok_or_else(|| ApiError::no_such("点検項目", "assessment item"))?;
    let stale = || {
        ApiError::conflict(
            "stale_version",
            Message::new(
                "他の人が先に変更しました。開き直してください。",
                "someone changed this item first; reload it",
            ),
        )
    };
    if change.version != current.version {
        return Err(stale());
    }
    let next = ItemAssessment {
        state: change.state,
        owner: change.owner,
        due_on: change.due_on,
        next_review_on: change.next_review_on,
        notes,
        version: current.version + 1,
        changed_by: who.user.id,
        changed_at: now,
        ..current
    };
    let mut tx = store.begin().await?;
    if !tx.update_item(&next).await? {
        return Err(stale());
    }
    let event = who
        .event(now, "compliance.item.update", Outcome::Allowed)
        .resource(format!("assessment:{assessment}"))
        .detail("item", next.item.clone())
        .detail("state", next.state.as_str())
        .detail("version", next.version.to_string());
    audit::commit_with(tx, event).await?;
    Ok(next)
}

/// Adds a revision of a piece of evidence (already checked with
/// [`mamori_core::assessment::check_evidence`]).
///
/// # Errors
/// 403, 404 (no such item), 409 (that revision exists).
pub async fn add_evidence(
    store: &dyn Store,
    who: &Manager,
    now: OffsetDateTime,
    evidence: Evidence,
) -> Result<Evidence, ApiError> {
    who.require(AdminPermission::ManageCompliance)?;
    check_owner(store, who, evidence.owner).await?;
    let now = mamori_core::clock::to_micros(now);
    let evidence = Evidence { added_by: who.user.id, added_at: now, institution: who.institution(), ..evidence };
    let mut tx = store.begin().await?;
    tx.add_evidence(&evidence).await.map_err(|e| match e {
        StoreError::NotFound { .. } => ApiError::no_such("点検項目", "assessment item"),
        StoreError::Conflict { .. } => ApiError::conflict(
            "stale_version",
            Message::new("この根拠資料は先に更新されています。", "this evidence was revised first"),
        ),
        other => other.into(),
    })?;
    let event = who
        .event(now, "compliance.evidence.add", Outcome::Allowed)
        .resource(format!("assessment:{}", evidence.assessment))
        .detail("item", evidence.item.clone())
        .detail("evidence", evidence.id.to_string())
        .detail("revision", evidence.revision.to_string());
    audit::commit_with(tx, event).await?;
    Ok(evidence)
}

/// Largest evidence file accepted (20 MiB).
pub const MAX_EVIDENCE_FILE: usize = 20 * 1024 * 1024;

fn file_failure(e: &crate::files::FileError) -> ApiError {
    // The digest names content, not a person; the error carries no file name.
    tracing::error!(error = %e, "evidence file store");
    ApiError::internal()
}

/// Adds a file as a revision of a piece of evidence: the bytes go to the content-addressed file
/// store first (so a row never names a missing file), then the row, with its event. `evidence`
/// names the file (its `kind` is replaced by the stored file's name, digest and size).
///
/// # Errors
/// 400 for an empty file, 413 for one over [`MAX_EVIDENCE_FILE`], as [`add_evidence`] otherwise.
pub async fn add_evidence_file(
    store: &dyn Store,
    files: &crate::files::FileStore,
    who: &Manager,
    now: OffsetDateTime,
    evidence: Evidence,
    bytes: axum::body::Bytes,
) -> Result<Evidence, ApiError> {
    who.require(AdminPermission::ManageCompliance)?;
    let EvidenceKind::File { name, .. } = &evidence.kind else {
        return Err(ApiError::internal());
    };
    if bytes.is_empty() {
        return Err(ApiError::bad_request(Message::new("file: ファイルが空です。", "file: the file is empty")));
    }
    if bytes.len() > MAX_EVIDENCE_FILE {
        return Err(too_large());
    }
    let name = name.clone();
    let size = bytes.len() as u64;
    let files = files.clone();
    let sha256 = tokio::task::spawn_blocking(move || files.put(&bytes))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|e| file_failure(&e))?;
    let evidence = Evidence { kind: EvidenceKind::File { name, sha256, size }, ..evidence };
    add_evidence(store, who, now, evidence).await
}

/// 413 for a file over [`MAX_EVIDENCE_FILE`].
#[must_use]
pub fn too_large() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::PAYLOAD_TOO_LARGE,
        "file_too_large",
        Message::new("file: ファイルは20MiBまでです。", "file: at most 20 MiB"),
    )
}

/// A stored evidence file: its name as uploaded and its bytes (checked against the digest).
#[derive(Debug)]
pub struct EvidenceFile {
    /// The name as uploaded.
    pub name: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// Reads the file of one evidence revision (recorded as `compliance.evidence.read`).
///
/// # Errors
/// 403 without `ReadCompliance`; 404 for an unknown assessment, evidence or revision, or one
/// that is a link; 500 when the stored file is missing or no longer matches its digest.
pub async fn evidence_file(
    store: &dyn Store,
    files: &crate::files::FileStore,
    who: &Manager,
    now: OffsetDateTime,
    assessment: AssessmentId,
    evidence: mamori_core::EvidenceId,
    revision: u32,
) -> Result<EvidenceFile, ApiError> {
    who.require(AdminPermission::ReadCompliance)?;
    let none = || ApiError::no_such("根拠資料", "evidence");
    let found = store
        .evidence(who.institution(), assessment)
        .await?
        .into_iter()
        .find(|e| e.id == evidence && e.revision == revision)
        .ok_or_else(none)?;
    let EvidenceKind::File { name, sha256, size } = found.kind else { return Err(none()) };
    let files = files.clone();
    let bytes = tokio::task::spawn_blocking(move || files.get(&sha256, size))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|e| file_failure(&e))?;
    let event = who
        .event(now, "compliance.evidence.read", Outcome::Allowed)
        .resource(format!("assessment:{assessment}"))
        .detail("item", found.item)
        .detail("evidence", evidence.to_string())
        .detail("revision", revision.to_string());
    audit::record_in(store, vec![event]).await?;
    Ok(EvidenceFile { name, bytes })
}

/// Evidence mamori derives from its own data for an item it fulfils itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveEvidence {
    /// The item.
    pub item: String,
    /// What it shows, in Japanese (one line each).
    pub lines: Vec<String>,
    /// Whether the data shows a problem to act on.
    pub attention: bool,
}

/// An assessment as read: the assessment, its items' current versions, every evidence
/// revision and the live evidence.
#[derive(Debug, Clone)]
pub struct AssessmentView {
    /// The assessment.
    pub assessment: Assessment,
    /// Items, by ID.
    pub items: Vec<ItemAssessment>,
    /// Evidence revisions.
    pub evidence: Vec<Evidence>,
    /// Live evidence.
    pub live: Vec<LiveEvidence>,
}

/// Reads an assessment (recorded as `compliance.read`).
///
/// # Errors
/// 403 without `ReadCompliance`, 404.
pub async fn read(
    store: &dyn Store,
    who: &Manager,
    now: OffsetDateTime,
    id: AssessmentId,
    inactive_after: Duration,
) -> Result<AssessmentView, ApiError> {
    who.require(AdminPermission::ReadCompliance)?;
    let assessment = store.assessment(who.institution(), id).await?.ok_or_else(no_assessment)?;
    let items = store.assessment_items(who.institution(), id).await?;
    let evidence = store.evidence(who.institution(), id).await?;
    let live = live_evidence(store, who.institution(), now, inactive_after).await?;
    let event = who.event(now, "compliance.read", Outcome::Allowed).resource(format!("assessment:{id}"));
    audit::record_in(store, vec![event]).await?;
    Ok(AssessmentView { assessment, items, evidence, live })
}

/// The institution's assessments (newest first).
///
/// # Errors
/// 403 without `ReadCompliance`.
pub async fn list(store: &dyn Store, who: &Manager) -> Result<Vec<Assessment>, ApiError> {
    who.require(AdminPermission::ReadCompliance)?;
    Ok(store.assessments(who.institution()).await?)
}

/// Live evidence for the 保守委託機関編 items mamori's own data speaks to: 9② (unneeded
/// accounts), 9① (roles against job types, administrators), 9④ (two-factor login for every
/// user), 10⑦ (the user-ID ledger).
///
/// # Errors
/// Store failures.
pub async fn live_evidence(
    store: &dyn Store,
    institution: InstitutionId,
    now: OffsetDateTime,
    inactive_after: Duration,
) -> Result<Vec<LiveEvidence>, ApiError> {
    let ledger = store.user_ledger(institution).await?;
    let users: Vec<User> = ledger.iter().map(|(u, _)| u.clone()).collect();
    let active: Vec<&(User, Option<OffsetDateTime>)> =
        ledger.iter().filter(|(u, _)| u.status == UserStatus::Active).collect();
    let findings: Vec<(String, Vec<mamori_core::review::Finding>)> = ledger
        .iter()
        .map(|(u, last)| (u.login_id.to_string(), review_account(u, *last, now, inactive_after)))
        .filter(|(_, f)| !f.is_empty())
        .collect();
    let stale: Vec<String> = findings
        .iter()
        .filter(|(_, f)| f.iter().any(|x| matches!(x, mamori_core::review::Finding::Inactive { .. })))
        .map(|(login, _)| login.clone())
        .collect();
    let holding: Vec<String> = findings
        .iter()
        .filter(|(_, f)| f.iter().any(|x| matches!(x, mamori_core::review::Finding::InactiveAccountHoldsRoles)))
        .map(|(login, _)| login.clone())
        .collect();
    let wrong_roles: Vec<String> = findings
        .iter()
        .filter(|(_, f)| f.iter().any(|x| matches!(x, mamori_core::review::Finding::RoleNotForJobType(_))))
        .map(|(login, _)| login.clone())
        .collect();
    let mut without_second_factor = Vec::new();
    for (u, _) in &active {
        let totp = store.totp(institution, u.id).await?.is_some_and(|t| t.confirmed);
        let keys = !store.webauthn_credentials(institution, u.id).await?.is_empty();
        if !totp && !keys {
            without_second_factor.push(u.login_id.to_string());
        }
    }
    let retired = users.iter().filter(|u| u.status == UserStatus::Retired).count();
    let disabled = users.iter().filter(|u| u.status == UserStatus::Disabled).count();
    let days = inactive_after.as_secs() / 86_400;
    let list = |v: &[String]| if v.is_empty() { "なし".to_owned() } else { v.join("、") };
    Ok(vec![
        LiveEvidence {
            item: "hoshu-7.0/9-2".into(),
            lines: vec![
                format!("有効なアカウント {} 件、無効化 {disabled} 件、退職 {retired} 件（退職したアカウントは再び有効にできません）。", active.len()),
                format!("{days}日以上ログインのない有効なアカウント: {}", list(&stale)),
                format!("無効化・退職済みでロールを保持しているアカウント: {}", list(&holding)),
            ],
            attention: !stale.is_empty() || !holding.is_empty(),
        },
        LiveEvidence {
            item: "hoshu-7.0/9-1".into(),
            lines: vec![
                format!("職種に対応しないロールを持つアカウント: {}", list(&wrong_roles)),
                match too_many_administrators(&users) {
                    Some(n) => format!("システム管理者が {n} 名います（{} 名以下を推奨）。", mamori_core::review::MAX_ADMINISTRATORS),
                    None => "システム管理者の数は推奨の範囲内です。".to_owned(),
                },
            ],
            attention: !wrong_roles.is_empty() || too_many_administrators(&users).is_some(),
        },
        LiveEvidence {
            item: "hoshu-7.0/9-4".into(),
            lines: vec![
                "mamori へのログインは全利用者がパスワードと第二要素（TOTPまたはセキュリティキー）の二要素で行います。第二要素を登録するまで、初回ログインでは登録以外の操作はできません。".to_owned(),
                format!("第二要素が未登録の有効なアカウント（初回ログイン前）: {}", list(&without_second_factor)),
            ],
            attention: !without_second_factor.is_empty(),
        },
        LiveEvidence {
            item: "hoshu-7.0/10-7".into(),
            lines: vec![
                format!("利用者ID台帳: {} 件（/admin/users、CSVは /api/v1/users/ledger.csv）。ログインIDは再利用されません。", users.len()),
                format!("棚卸しの指摘があるアカウント: {}", list(&findings.iter().map(|(l, _)| l.clone()).collect::<Vec<_>>())),
            ],
            attention: !findings.is_empty(),
        },
    ])
}
