//! Clinical records: the steps the API, the pages, `mamori demo` and the benchmark share.
//!
//! Each step takes the store, the caller and the time (the monitored clock, passed in), checks
//! everything before it writes, and writes the change, its log leaf (for a version that becomes
//! final) and its audit event in one unit of work. A refused step writes a `denied` event
//! instead, naming the action and the reason's code ([`refused`]), and changes nothing.
//!
//! The rules, from the records issue:
//! - **Mix-up prevention (混同防止).** Every write names its patient and the chart it was made
//!   from; both must be the same patient, and the record's ([`same_patient`]).
//! - **Drafts** belong to their author: only the author edits, discards or finalizes one.
//! - **確定** needs the finalize permission for the record's category; the finalized version
//!   becomes a leaf of the log and never changes.
//! - **Corrections and cancellations** are new final versions of a final record, with a
//!   reason, from the latest version (a stale one is refused).
//! - **代行入力.** A user who may write but not finalize in a category enters a record for a
//!   named doctor; it waits for that doctor's approval (or rejection with a reason). Nobody
//!   else approves it.
//! - **Device data** (MDS 17) arrives final, finalized as the registered device.
//! - **Masters.** Codes resolve to the entry valid on the day of writing; the record keeps that
//!   version.

use crate::audit;
use crate::error::ApiError;
use axum::http::StatusCode;
use mamori_core::audit::{Actor, AuditEvent, Outcome};
use mamori_core::authz::{Action, Category, Principal, authorize};
use mamori_core::master::MasterRef;
use mamori_core::record::{
    Agent, Change, Content, ContentInput, Device, Record, RecordKind, RecordVersion, VersionState, check_reason,
};
use mamori_core::{InstitutionId, Message, PatientId, RecordId, User, UserId};
use mamori_store::{Store, StoreError, StoreTx};
use time::OffsetDateTime;

/// Who is acting: the user as stored and the principal the decisions are made for.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user.
    pub user: User,
    /// Their roles, grants and the institution's policy.
    pub principal: Principal,
}

impl Caller {
    /// The signed-in user of a request.
    #[must_use]
    pub fn of(auth: &crate::auth::Authenticated) -> Self {
        Self { user: auth.user.clone(), principal: auth.principal() }
    }

    pub(crate) fn institution(&self) -> InstitutionId {
        self.user.institution_id
    }

    /// Refuses (403) without an administrative permission.
    pub(crate) fn require(&self, permission: mamori_core::authz::AdminPermission) -> Result<(), ApiError> {
        mamori_core::authz::authorize_admin(&self.principal, self.institution(), permission)
            .map(|_| ())
            .map_err(ApiError::denied)
    }

    fn agent(&self) -> Agent {
        Agent::User(self.user.id)
    }

    fn may(&self, action: Action, category: &Category, patient: PatientId, now: OffsetDateTime) -> bool {
        authorize(&self.principal, self.institution(), action, category, Some(patient), now).is_ok()
    }

    pub(crate) fn event(&self, now: OffsetDateTime, action: &str, outcome: Outcome) -> AuditEvent {
        AuditEvent::new(self.institution(), now, audit::actor(&self.user), action, outcome)
    }
}

/// Where a write was made: the patient it names and the chart it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The patient the write is for.
    pub patient: PatientId,
    /// The patient whose chart was open when it was written.
    pub chart: PatientId,
}

/// A new record.
#[derive(Debug, Clone)]
pub struct NewRecord {
    /// Patient and chart.
    pub target: Target,
    /// The content (its kind is the record's).
    pub content: ContentInput,
    /// The category, if not the kind's default.
    pub category: Option<Category>,
    /// For a proxy entry: the doctor who must approve it.
    pub proxy_for: Option<UserId>,
}

fn mismatch() -> ApiError {
    ApiError::conflict(
        "patient_mismatch",
        Message::new(
            "患者とカルテが一致しません。開いているカルテの患者を確かめてください（記録は保存していません）。",
            "the patient and the chart do not match; check which chart is open (nothing was saved)",
        ),
    )
}

/// The mix-up check: the write's patient, its chart and the record's patient are one patient.
///
/// # Errors
/// 409 `patient_mismatch`.
pub fn same_patient(target: Target, record_patient: PatientId) -> Result<(), ApiError> {
    if target.patient == target.chart && target.patient == record_patient { Ok(()) } else { Err(mismatch()) }
}

pub(crate) fn no_record() -> ApiError {
    ApiError::no_such("記録", "record")
}

fn stale() -> ApiError {
    ApiError::conflict(
        "stale_version",
        Message::new(
            "記録は先に変更されています。開き直してから操作してください。",
            "the record changed first; reload it and try again",
        ),
    )
}

fn refuse(code: &'static str, ja: &str, en: &str) -> ApiError {
    ApiError::forbidden(code, Message::new(ja, en))
}

fn not_allowed(what_ja: &str, what_en: &str) -> ApiError {
    refuse(
        "forbidden",
        &format!("この情報区分の{what_ja}権限がありません。"),
        &format!("your roles do not allow {what_en} in this category"),
    )
}

fn finalized_no_change() -> ApiError {
    ApiError::conflict(
        "record_final",
        Message::new(
            "確定した記録は変更できません。訂正または取消として新しい版を作成してください。",
            "a finalized record cannot be changed; write a correction or a cancellation as a new version",
        ),
    )
}

fn store_failure(e: StoreError) -> ApiError {
    e.into()
}

/// Writes the `denied` event for a refused step (4xx other than authentication), with the
/// action, the patient and record if known and the refusal's code; passes the error on.
pub async fn refused(
    store: &dyn Store,
    caller: &Caller,
    now: OffsetDateTime,
    action: &str,
    patient: Option<PatientId>,
    record: Option<RecordId>,
    error: ApiError,
) -> ApiError {
    let status = error.status();
    if !status.is_client_error() || status == StatusCode::UNAUTHORIZED || status == StatusCode::LOCKED {
        return error;
    }
    let mut event = caller.event(now, action, Outcome::Denied).detail("code", error.code());
    if let Some(p) = patient {
        event = event.patient(p);
    }
    if let Some(r) = record {
        event = event.resource(format!("record:{r}"));
    }
    match store.begin().await {
        Ok(mut tx) => {
            if let Err(e) = audit::append(tx.as_mut(), vec![event]).await {
                return e;
            }
            if let Err(e) = tx.commit().await {
                return e.into();
            }
            error
        }
        Err(e) => e.into(),
    }
}

/// Runs a request's step for the signed-in user; a refusal is written as a `denied` event of
/// `action` first ([`refused`]). Shared by the API and the pages.
///
/// # Errors
/// The step's error (403 `password_change_required` first, before the step runs).
pub async fn guarded<T>(
    state: &crate::state::AppState,
    auth: &crate::auth::Authenticated,
    action: &str,
    patient: Option<PatientId>,
    record: Option<RecordId>,
    step: impl std::future::Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    auth.ready()?;
    match step.await {
        Ok(v) => Ok(v),
        Err(e) => {
            let who = Caller::of(auth);
            Err(refused(state.store.as_ref(), &who, state.clock.now(), action, patient, record, e).await)
        }
    }
}

/// Resolves the master codes of `input` to the entries valid on the day of `now` (JST).
///
/// # Errors
/// 400 `unknown_master_code` naming the master and the code.
pub async fn resolve(
    store: &dyn Store,
    institution: InstitutionId,
    input: ContentInput,
    now: OffsetDateTime,
) -> Result<Content, ApiError> {
    let day = now.to_offset(time::macros::offset!(+9)).date();
    // Two passes, because the lookups are asynchronous and `try_map` is not: collect the codes in
    // the order `try_map` visits them (this pass cannot fail), look each up, then map the content
    // again, handing out the entries in that same order.
    let mut wanted = Vec::new();
    let _ = input.clone().try_map(|kind, code| {
        wanted.push((kind, code));
        Ok(())
    });
    let mut found: Vec<MasterRef> = Vec::with_capacity(wanted.len());
    for (kind, code) in &wanted {
        match store.master_entry(institution, *kind, code, day).await? {
            Some(entry) => found.push(entry.reference()),
            None => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "unknown_master_code",
                    Message::new(
                        format!("{}マスタに有効なコード「{}」がありません。", kind.label_ja(), code.as_str()),
                        format!("no valid {kind} master entry with the code {}", code.as_str()),
                    ),
                ));
            }
        }
    }
    let mut refs = found.into_iter();
    input.try_map(|_, _| refs.next().ok_or_else(|| Message::new("マスタ", "master"))).map_err(|_| ApiError::internal())
}

async fn load_version(
    store: &dyn Store,
    institution: InstitutionId,
    record: RecordId,
    version: u32,
) -> Result<RecordVersion, ApiError> {
    store.record_version(institution, record, version).await?.ok_or_else(no_record)
}

/// Appends a final version's leaf and sets its index.
async fn leaf(tx: &mut (dyn StoreTx + '_), version: &mut RecordVersion) -> Result<(), ApiError> {
    let entry = version.entry().map_err(|m| {
        tracing::error!(error = %m.en, "cannot make a record leaf");
        ApiError::internal()
    })?;
    let head = tx.append_log(version.record.institution, &[entry]).await?;
    version.leaf_index = Some(head.size.saturating_sub(1));
    Ok(())
}

fn record_event(caller: &Caller, now: OffsetDateTime, action: &str, v: &RecordVersion) -> AuditEvent {
    caller
        .event(now, action, Outcome::Allowed)
        .patient(v.record.patient)
        .category(&v.record.category)
        .resource(format!("record:{}", v.record.id))
        .detail("version", v.version.to_string())
        .detail("kind", v.record.kind.as_str())
}

/// Whether `doctor` (a user of the caller's institution) may approve `category` for `patient`.
async fn check_proxy_doctor(
    store: &dyn Store,
    caller: &Caller,
    doctor: UserId,
    category: &Category,
    patient: PatientId,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    let refused = || {
        ApiError::bad_request(Message::new(
            "代行入力の依頼先は、この情報区分を承認できる医師にしてください。",
            "a proxy entry must name a doctor who may approve this category",
        ))
    };
    let user = store.user(caller.institution(), doctor).await?.ok_or_else(refused)?;
    let principal = Principal {
        institution: user.institution_id,
        user: user.id,
        roles: user.roles.clone(),
        status: user.status,
        emergency_grants: Vec::new(),
        policy: caller.principal.policy.clone(),
    };
    if doctor == caller.user.id
        || authorize(&principal, user.institution_id, Action::Approve, category, Some(patient), now).is_err()
    {
        return Err(refused());
    }
    Ok(())
}

/// Creates a record: a draft of its author, or, entered by proxy, a version waiting for the
/// named doctor's approval.
///
/// # Errors
/// 400 (content, master code, proxy doctor), 403 (no write permission; no finalize permission
/// and no doctor named), 404 (no such patient in the institution), 409 (mix-up).
pub async fn create(
    store: &dyn Store,
    caller: &Caller,
    now: OffsetDateTime,
    new: NewRecord,
) -> Result<RecordVersion, ApiError> {
    let now = mamori_core::clock::to_micros(now);
    same_patient(new.target, new.target.patient)?;
    let patient = new.target.patient;
    store.patient(caller.institution(), patient).await?.ok_or_else(|| ApiError::no_such("患者", "patient"))?;
    let kind = new.content.kind();
    let category = new.category.unwrap_or_else(|| kind.default_category());
    if !caller.may(Action::Write, &category, patient, now) {
        return Err(not_allowed("記載", "writing"));
    }
    let may_finalize = caller.may(Action::Finalize, &category, patient, now);
    let state = match (new.proxy_for, may_finalize) {
        (Some(doctor), _) => {
            check_proxy_doctor(store, caller, doctor, &category, patient, now).await?;
            VersionState::PendingApproval
        }
        (None, true) => VersionState::Draft,
        (None, false) => {
            return Err(refuse(
                "proxy_doctor_required",
                "この情報区分は確定できないため、代行入力として承認する医師を指定してください。",
                "you may not finalize in this category: name the doctor who approves this proxy entry",
            ));
        }
    };
    let content = resolve(store, caller.institution(), new.content, now).await?;
    let version = RecordVersion {
        record: Record {
            institution: caller.institution(),
            id: RecordId::generate(&mut rand_core::OsRng),
            patient,
            kind,
            category,
            created_by: caller.agent(),
            created_at: now,
        },
        version: 1,
        change: Change::Original,
        state,
        content,
        reason: None,
        author: caller.agent(),
        proxy_for: new.proxy_for,
        entered_at: now,
        updated_at: now,
        finalized_by: None,
        finalized_at: None,
        rejected: None,
        leaf_index: None,
    };
    let mut tx = store.begin().await?;
    tx.create_record(&version).await.map_err(store_failure)?;
    let action = if state == VersionState::PendingApproval { "record.proxy_entry" } else { "record.draft" };
    let mut event = record_event(caller, now, action, &version);
    if let Some(doctor) = new.proxy_for {
        event = event.detail("proxy_for", doctor.to_string());
    }
    audit::commit_with(tx, event).await?;
    Ok(version)
}

/// Loads a version for a write: the record must be the target's patient.
async fn for_write(
    store: &dyn Store,
    caller: &Caller,
    record: RecordId,
    version: u32,
    target: Target,
) -> Result<RecordVersion, ApiError> {
    let v = load_version(store, caller.institution(), record, version).await?;
    same_patient(target, v.record.patient)?;
    Ok(v)
}

fn own_draft(caller: &Caller, v: &RecordVersion) -> Result<(), ApiError> {
    match v.state {
        VersionState::Draft if v.author == caller.agent() => Ok(()),
        VersionState::Draft => Err(refuse(
            "not_your_draft",
            "他の人の下書きは変更・確定できません。",
            "only its author may change or finalize a draft",
        )),
        VersionState::Final => Err(finalized_no_change()),
        _ => Err(ApiError::conflict(
            "not_a_draft",
            Message::new("この版は下書きではありません。", "this version is not a draft"),
        )),
    }
}

/// Replaces a draft's content (its author only).
///
/// # Errors
/// 403, 404, 409 (mix-up, not a draft, finalized), 400 (content).
pub async fn edit_draft(
    store: &dyn Store,
    caller: &Caller,
    now: OffsetDateTime,
    record: RecordId,
    version: u32,
    target: Target,
    content: ContentInput,
) -> Result<RecordVersion, ApiError> {
    let now = mamori_core::clock::to_micros(now);
    let v = for_write(store, caller, record, version, target).await?;
    own_draft(caller, &v)?;
    if !caller.may(Action::Write, &v.record.category, v.record.patient, now) {
        return Err(not_allowed("記載", "writing"));
    }
    if content.kind() != v.record.kind {
        return Err(ApiError::bad_request(Message::new(
            "記録の種類は変えられません。",
            "a record's kind cannot change",
        )));
    }
    let content = resolve(store, caller.institution(), content, now).await?;
    let mut tx = store.begin().await?;
    if !tx.update_draft(caller.institution(), record, version, caller.user.id, &content, now).await? {
        return Err(stale());
    }
    let next = RecordVersion { content, updated_at: now, ..v };
    audit::commit_with(tx, record_event(caller, now, "record.draft_update", &next)).await?;
    Ok(next)
}

/// Discards a draft (its author only); the row is kept, marked discarded.
///
/// # Errors
/// As [`edit_draft`].
pub async fn discard(
    store: &dyn Store,
    caller: &Caller,
    now: OffsetDateTime,
    record: RecordId,
    version: u32,
    target: Target,
) -> Result<(), ApiError> {
    let now = mamori_core::clock::to_micros(now);
    let v = for_write(store, caller, record, version, target).await?;
    own_draft(caller, &v)?;
    let mut tx = store.begin().await?;
    if !tx.discard_draft(caller.institution(), record, version, caller.user.id, now).await? {
        return Err(stale());
    }
    audit::commit_with(tx, record_event(caller, now, "record.discard", &v)).await
}

/// Finalizes (確定) the caller's draft: the version becomes a leaf of the log and never
/// changes again.
///
/// # Errors
/// 403 (no finalize permission, someone else's draft), 404, 409 (mix-up, already final,
/// changed meanwhile).
pub async fn finalize(
    store: &dyn Store,
    caller: &Caller,
    now: OffsetDateTime,
    record: RecordId,
    version: u32,
    target: Target,
) -> Result<RecordVersion, ApiError> {
    let now = mamori_core::clock::to_micros(now);
    let v = for_write(store, caller, record, version, target).await?;
    own_draft(caller, &v)?;
    if !caller.may(Action::Finalize, &v.record.category, v.record.patient, now) {
        return Err(not_allowed("確定", "finalizing"));
    }
    settle(store, caller, now, v, VersionState::Draft, "record.finalize").await
}

/// Makes `v` final as the caller (from a draft or a pending proxy entry) in one unit: leaf,
/// conditional update, audit event.
async fn settle(
    store: &dyn Store,
    caller: &Caller,
    now: OffsetDateTime,
    v: RecordVersion,
    from: VersionState,
    action: &str,
) -> Result<RecordVersion, ApiError> {
    let mut finalized = RecordVersion {
        state: VersionState::Final,
        finalized_by: Some(caller.agent()),
        finalized_at: Some(now),
        updated_at: now,
        ..v
    };
    let mut tx = store.begin().await?;
    leaf(tx.as_mut(), &mut finalized).await?;
    if !tx.finalize_version(&finalized, from).await? {
        return Err(stale());
    }
    let mut event = record_event(caller, now, action, &finalized);
    if let Some(index) = finalized.leaf_index {
        event = event.detail("leaf_index", index.to_string());
    }
    audit::commit_with(tx, event).await?;
    Ok(finalized)
}

/// Approves a proxy entry: only the doctor it names, with the approve permission.
///
/// # Errors
/// 403 (someone else's entry, no permission), 404, 409 (mix-up, not pending).
pub async fn approve(
    store: &dyn Store,
    caller: &Caller,
    now: OffsetDateTime,
    record: RecordId,
    version: u32,
    target: Target,
) -> Result<RecordVersion, ApiError> {
    let now = mamori_core::clock::to_micros(now);
    let v = for_write(store, caller, record, version, target).await?;
    own_proxy_entry(caller, &v, now)?;
    settle(store, caller, now, v, VersionState::PendingApproval, "record.approve").await
}

fn own_proxy_entry(caller: &Caller, v: &RecordVersion, now: OffsetDateTime) -> Result<(), ApiError> {
    if v.state != VersionState::PendingApproval {
        return Err(if v.state == VersionState::Final {
            finalized_no_change()
        } else {
            ApiError::conflict(
                "not_pending",
                Message::new("この記録は承認待ちではありません。", "this record is not waiting for approval"),
            )
        });
    }
    if v.proxy_for != Some(caller.user.id) {
        return Err(refuse(
            "not_your_proxy_entry",
            "他の医師に依頼された代行入力は承認・差戻しできません。",
            "only the doctor a proxy entry names may approve or reject it",
        ));
    }
    if !caller.may(Action::Approve, &v.record.category, v.record.patient, now) {
        return Err(not_allowed("承認", "approving"));
    }
    Ok(())
}

/// Rejects (差戻し) a proxy entry with a reason: only the doctor it names.
///
/// # Errors
/// As [`approve`], and 400 for the reason.
pub async fn reject(
    store: &dyn Store,
    caller: &Caller,
    now: OffsetDateTime,
    record: RecordId,
    version: u32,
    target: Target,
    reason: &str,
) -> Result<(), ApiError> {
    let now = mamori_core::clock::to_micros(now);
    let reason = check_reason(reason).map_err(ApiError::bad_request)?;
    let v = for_write(store, caller, record, version, target).await?;
    own_proxy_entry(caller, &v, now)?;
    let mut tx = store.begin().await?;
    if !tx.reject_version(caller.institution(), record, version, caller.user.id, &reason, now).await? {
        return Err(stale());
    }
    audit::commit_with(tx, record_event(caller, now, "record.reject", &v)).await
}

/// Corrects (訂正) or cancels (取消) a final record: a new final version after the latest
/// one, with the reason. A cancellation keeps the predecessor's content.
///
/// # Errors
/// 400 (reason, content), 403 (no finalize permission), 404, 409 (mix-up, `from` not the
/// latest final version, the record cancelled, someone else first).
#[allow(clippy::too_many_arguments)]
pub async fn amend(
    store: &dyn Store,
    caller: &Caller,
    now: OffsetDateTime,
    record: RecordId,
    from: u32,
    target: Target,
    reason: &str,
    content: Option<ContentInput>,
) -> Result<RecordVersion, ApiError> {
    let now = mamori_core::clock::to_micros(now);
    let reason = check_reason(reason).map_err(ApiError::bad_request)?;
    let versions = store.record_versions(caller.institution(), record).await?;
    let latest = versions.last().ok_or_else(no_record)?;
    same_patient(target, latest.record.patient)?;
    let last_final = versions.iter().rev().find(|v| v.state == VersionState::Final);
    let Some(previous) = last_final.filter(|v| v.version == from && latest.version == from) else {
        return Err(ApiError::conflict(
            "not_latest_final",
            Message::new(
                "訂正・取消は確定済みの最新版に対してのみ行えます。開き直してください。",
                "only the latest finalized version can be corrected or cancelled; reload the record",
            ),
        ));
    };
    if previous.change == Change::Cancellation {
        return Err(ApiError::conflict(
            "record_cancelled",
            Message::new("取り消された記録は訂正できません。", "a cancelled record cannot be corrected"),
        ));
    }
    if !caller.may(Action::Finalize, &previous.record.category, previous.record.patient, now) {
        return Err(not_allowed("確定", "finalizing"));
    }
    let (change, content) = match content {
        Some(input) => {
            if input.kind() != previous.record.kind {
                return Err(ApiError::bad_request(Message::new(
                    "記録の種類は変えられません。",
                    "a record's kind cannot change",
                )));
            }
            (Change::Correction, resolve(store, caller.institution(), input, now).await?)
        }
        None => (Change::Cancellation, previous.content.clone()),
    };
    if change == Change::Correction && content == previous.content {
        return Err(ApiError::bad_request(Message::new(
            "訂正の内容が前の版と同じです。",
            "the correction is the same as the version it corrects",
        )));
    }
    let mut next = RecordVersion {
        record: previous.record.clone(),
        version: from + 1,
        change,
        state: VersionState::Final,
        content,
        reason: Some(reason),
        author: caller.agent(),
        proxy_for: None,
        entered_at: now,
        updated_at: now,
        finalized_by: Some(caller.agent()),
        finalized_at: Some(now),
        rejected: None,
        leaf_index: None,
    };
    let mut tx = store.begin().await?;
    leaf(tx.as_mut(), &mut next).await?;
    tx.add_version(&next).await.map_err(|e| match e {
        StoreError::Conflict { .. } => stale(),
        other => other.into(),
    })?;
    let action = if change == Change::Correction { "record.correct" } else { "record.cancel" };
    audit::commit_with(tx, record_event(caller, now, action, &next)).await?;
    Ok(next)
}

/// One record as a chart shows it.
#[derive(Debug, Clone)]
pub struct ChartEntry {
    /// The version shown: the latest final one, else the waiting or draft one.
    pub shown: RecordVersion,
    /// How many versions are final (more than one: corrected or cancelled).
    pub final_versions: u32,
    /// The caller's own draft or a waiting proxy entry (not final yet).
    pub open: Option<RecordVersion>,
}

impl ChartEntry {
    /// Whether the shown version corrects an earlier one.
    #[must_use]
    pub fn corrected(&self) -> bool {
        self.shown.state == VersionState::Final && self.final_versions > 1
    }

    /// Whether the record is cancelled.
    #[must_use]
    pub fn cancelled(&self) -> bool {
        self.shown.change == Change::Cancellation
    }

    /// When the entry sorts in the timeline: finalized, else last saved.
    #[must_use]
    pub fn at(&self) -> OffsetDateTime {
        self.shown.finalized_at.unwrap_or(self.shown.updated_at)
    }
}

/// A patient's chart: every record the caller may read, newest first. Drafts are shown only
/// to their author; proxy entries waiting and rejected ones to everyone who may read them.
/// The read is an audit event (one per chart view), written before the chart is returned.
///
/// # Errors
/// 403 when the caller may read no category of the patient, 404 for an unknown patient.
pub async fn chart(
    store: &dyn Store,
    caller: &Caller,
    now: OffsetDateTime,
    patient: PatientId,
) -> Result<Vec<ChartEntry>, ApiError> {
    gather(store, caller, now, patient, Action::Read).await
}

/// The chart for printing (見読性): the latest final version of every record in the categories
/// the caller may print (no drafts, nothing waiting), newest first; recorded as `record.print`
/// before it is returned.
///
/// # Errors
/// 403 when the caller may print no category of the patient, 404 for an unknown patient.
pub async fn print_chart(
    store: &dyn Store,
    caller: &Caller,
    now: OffsetDateTime,
    patient: PatientId,
) -> Result<Vec<ChartEntry>, ApiError> {
    gather(store, caller, now, patient, Action::Print).await
}

/// Every final version of every record of the patient in the categories the caller may
/// export, by record then version; recorded as `record.export` before it is returned.
///
/// # Errors
/// 403 when the caller may export no category of the patient, 404 for an unknown patient.
pub async fn export(
    store: &dyn Store,
    caller: &Caller,
    now: OffsetDateTime,
    patient: PatientId,
) -> Result<Vec<RecordVersion>, ApiError> {
    store.patient(caller.institution(), patient).await?.ok_or_else(|| ApiError::no_such("患者", "patient"))?;
    if !Category::BUILT_IN.iter().any(|c| caller.may(Action::Export, c, patient, now)) {
        return Err(not_allowed("出力", "exporting"));
    }
    let versions: Vec<RecordVersion> = store
        .patient_record_versions(caller.institution(), patient)
        .await?
        .into_iter()
        .filter(|v| v.state == VersionState::Final && caller.may(Action::Export, &v.record.category, patient, now))
        .collect();
    let event = caller
        .event(now, "record.export", Outcome::Allowed)
        .patient(patient)
        .resource(format!("chart:{patient}"))
        .detail("versions", versions.len().to_string());
    audit::record_in(store, vec![event]).await?;
    Ok(versions)
}

/// The chart for reading (`Action::Read`: drafts of the caller's, waiting and rejected entries
/// included) or printing (`Action::Print`: final versions only), with its audit event.
async fn gather(
    store: &dyn Store,
    caller: &Caller,
    now: OffsetDateTime,
    patient: PatientId,
    action: Action,
) -> Result<Vec<ChartEntry>, ApiError> {
    store.patient(caller.institution(), patient).await?.ok_or_else(|| ApiError::no_such("患者", "patient"))?;
    if !Category::BUILT_IN.iter().any(|c| caller.may(action, c, patient, now)) {
        return Err(if action == Action::Print {
            not_allowed("印刷", "printing")
        } else {
            not_allowed("閲覧", "reading")
        });
    }
    let finals_only = action != Action::Read;
    let versions = store.patient_record_versions(caller.institution(), patient).await?;
    let mut entries: Vec<ChartEntry> = Vec::new();
    let mut hidden = 0usize;
    let mut group: Vec<RecordVersion> = Vec::new();
    let flush = |group: &mut Vec<RecordVersion>, entries: &mut Vec<ChartEntry>, hidden: &mut usize| {
        let Some(first) = group.first() else { return };
        if !caller.may(action, &first.record.category, patient, now) {
            *hidden += 1;
            group.clear();
            return;
        }
        let visible = |v: &&RecordVersion| match v.state {
            VersionState::Final => true,
            VersionState::PendingApproval | VersionState::Rejected => !finals_only,
            VersionState::Draft => !finals_only && v.author == caller.agent(),
            _ => false,
        };
        let finals = group.iter().filter(|v| v.state == VersionState::Final).count();
        let latest_final = group.iter().rev().find(|v| v.state == VersionState::Final).cloned();
        let open = group.iter().rev().filter(visible).find(|v| v.state != VersionState::Final).cloned();
        let shown = latest_final.or_else(|| open.clone());
        if let Some(shown) = shown {
            let open = open.filter(|o| o.version != shown.version);
            entries.push(ChartEntry { shown, final_versions: u32::try_from(finals).unwrap_or(u32::MAX), open });
        }
        group.clear();
    };
    for v in versions {
        if group.first().is_some_and(|g| g.record.id != v.record.id) {
            flush(&mut group, &mut entries, &mut hidden);
        }
        group.push(v);
    }
    flush(&mut group, &mut entries, &mut hidden);
    entries.sort_by_key(|e| std::cmp::Reverse(e.at()));
    let name = if action == Action::Print { "record.print" } else { "record.read" };
    let event = caller
        .event(now, name, Outcome::Allowed)
        .patient(patient)
        .resource(format!("chart:{patient}"))
        .detail("records", entries.len().to_string())
        .detail("hidden", hidden.to_string());
    audit::record_in(store, vec![event]).await?;
    Ok(entries)
}

/// Every version of a record the caller may read (drafts of others left out), oldest first;
/// the read is an audit event.
///
/// # Errors
/// 403, 404.
pub async fn history(
    store: &dyn Store,
    caller: &Caller,
    now: OffsetDateTime,
    record: RecordId,
) -> Result<Vec<RecordVersion>, ApiError> {
    let versions = store.record_versions(caller.institution(), record).await?;
    let first = versions.first().ok_or_else(no_record)?;
    if !caller.may(Action::Read, &first.record.category, first.record.patient, now) {
        return Err(not_allowed("閲覧", "reading"));
    }
    let event = record_event(caller, now, "record.read", first).detail("view", "history");
    audit::record_in(store, vec![event]).await?;
    Ok(versions
        .into_iter()
        .filter(|v| v.state != VersionState::Draft || v.author == caller.agent())
        .filter(|v| v.state != VersionState::Discarded || v.author == caller.agent())
        .collect())
}

/// The caller's approval queue (proxy entries waiting for them), oldest first.
///
/// # Errors
/// Store failures.
pub async fn queue(store: &dyn Store, caller: &Caller) -> Result<Vec<RecordVersion>, ApiError> {
    Ok(store.approval_queue(caller.institution(), caller.user.id).await?)
}

/// Stores a result sent by a registered device, final at once, finalized as the device.
///
/// # Errors
/// 403 (a revoked device), 404 (no such patient), 400 (content, master code).
pub async fn device_result(
    store: &dyn Store,
    device: &Device,
    now: OffsetDateTime,
    patient: PatientId,
    content: ContentInput,
) -> Result<RecordVersion, ApiError> {
    let now = mamori_core::clock::to_micros(now);
    if device.revoked_at.is_some() {
        return Err(refuse("device_revoked", "この機器の登録は取り消されています。", "this device is revoked"));
    }
    let institution = device.institution;
    store.patient(institution, patient).await?.ok_or_else(|| ApiError::no_such("患者", "patient"))?;
    let kind = content.kind();
    if kind != RecordKind::LabResult {
        return Err(ApiError::bad_request(Message::new(
            "機器から送れるのは検査結果だけです。",
            "a device sends lab results only",
        )));
    }
    let content = resolve(store, institution, content, now).await?;
    let agent = Agent::Device(device.id);
    let mut version = RecordVersion {
        record: Record {
            institution,
            id: RecordId::generate(&mut rand_core::OsRng),
            patient,
            kind,
            category: kind.default_category(),
            created_by: agent,
            created_at: now,
        },
        version: 1,
        change: Change::Original,
        state: VersionState::Final,
        content,
        reason: None,
        author: agent,
        proxy_for: None,
        entered_at: now,
        updated_at: now,
        finalized_by: Some(agent),
        finalized_at: Some(now),
        rejected: None,
        leaf_index: None,
    };
    let mut tx = store.begin().await?;
    leaf(tx.as_mut(), &mut version).await?;
    tx.create_record(&version).await?;
    let event =
        AuditEvent::new(institution, now, Actor::Device { device: device.id }, "record.device", Outcome::Allowed)
            .patient(patient)
            .category(&version.record.category)
            .resource(format!("record:{}", version.record.id))
            .detail("version", "1");
    audit::commit_with(tx, event).await?;
    Ok(version)
}
