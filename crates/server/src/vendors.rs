//! Vendors' disclosures (MDS/SDS, [`mamori_core::vendor`]) in the compliance workbench: record a
//! vendor's answers to every row of `mds-7.0` or `sds-7.0` for one product — by form, JSON or an
//! import file (CSV or xlsx) — with a risk record opened for every いいえ (保守委託機関編 ch.3
//! 10⑨); fill a risk in (justification, owner, mitigation, review date) as a new version; read
//! them back; hand out the blank form.
//!
//! A new disclosure of the same vendor, product and catalog supersedes the old one (its
//! generation is one more); the old one and its risks stay readable. Writes need
//! `ManageCompliance`, reads `ReadCompliance` (auditors too). Every write is committed with its
//! event (`compliance.vendor.record`, `.import`, `.risk`), and a read of a disclosure is an event
//! (`compliance.vendor.read`); events carry IDs, never the vendor's or the clinic's text.

use crate::assessments::Manager;
use crate::audit;
use crate::error::ApiError;
use mamori_core::audit::{Actor, AuditEvent, Outcome};
use mamori_core::authz::AdminPermission;
use mamori_core::vendor::{
    Answer, FormRow, RiskStatus, VendorAnswer, VendorDisclosure, VendorRisk, check_answers, check_header, check_risk,
    is_current, open_risks, parse_file,
};
use mamori_core::{InstitutionId, Message, UserId, VendorDisclosureId};
use mamori_store::{Store, StoreError};
use time::{Date, OffsetDateTime};

/// The catalogs a vendor answers: the MDS and SDS rows of the 【別紙】.
pub const CATALOGS: [&str; 2] = ["mds-7.0", "sds-7.0"];

/// The rows of an MDS or SDS catalog, or 400 for any other catalog.
///
/// # Errors
/// 400 naming the field; 500 when the shipped catalogs do not load.
pub fn catalog_rows(catalog: &str) -> Result<Vec<mamori_compliance::Item>, ApiError> {
    let unknown = || {
        ApiError::bad_request(Message::new(
            "catalog: mds-7.0 か sds-7.0 を指定してください。",
            "catalog: mds-7.0 or sds-7.0",
        ))
    };
    if !CATALOGS.contains(&catalog) {
        return Err(unknown());
    }
    let all = mamori_compliance::catalogs().map_err(|e| {
        tracing::error!(error = %e, "the shipped catalogs do not load");
        ApiError::internal()
    })?;
    all.into_iter().find(|c| c.catalog.id == catalog).map(|c| c.items).ok_or_else(unknown)
}

fn form_of(items: &[mamori_compliance::Item]) -> Vec<FormRow> {
    items.iter().map(|i| FormRow { id: i.id.clone(), number: i.number.clone() }).collect()
}

fn no_disclosure() -> ApiError {
    ApiError::no_such("開示書", "vendor disclosure")
}

/// A disclosure's header as submitted.
#[derive(Debug, Clone)]
pub struct NewDisclosure {
    /// The vendor.
    pub vendor: String,
    /// The product.
    pub product: String,
    /// Its version.
    pub product_version: String,
    /// `mds-7.0` or `sds-7.0`.
    pub catalog: String,
    /// The JAHIS version of the vendor's form.
    pub jahis_version: String,
    /// When it was received.
    pub received_on: Date,
    /// Notes.
    pub notes: String,
}

/// One answer as submitted (JSON or a form).
#[derive(Debug, Clone)]
pub struct AnswerEntry {
    /// The item ID or its printed number.
    pub id: String,
    /// はい, いいえ, 対象外 (or yes, no, n/a).
    pub answer: String,
    /// The vendor's remark.
    pub remark: String,
}

/// A recorded disclosure.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The disclosure.
    pub disclosure: VendorDisclosure,
    /// The risks its いいえ opened.
    pub risks: Vec<VendorRisk>,
    /// How many はい, いいえ, 対象外.
    pub answers: [usize; 3],
}

/// Writes a checked disclosure with its answers and the risks they open, and its event, as one
/// unit. The generation is one more than the newest of the same vendor, product and catalog.
async fn record_checked(
    store: &dyn Store,
    institution: InstitutionId,
    actor: Actor,
    now: OffsetDateTime,
    new: NewDisclosure,
    answers: Vec<VendorAnswer>,
    action: &str,
) -> Result<Recorded, ApiError> {
    let now = mamori_core::clock::to_micros(now);
    let header = check_header(&new.vendor, &new.product, &new.product_version, &new.jahis_version, &new.notes)
        .map_err(ApiError::bad_request)?;
    let previous = store
        .vendor_disclosures(institution)
        .await?
        .into_iter()
        .filter(|d| d.vendor == header.vendor && d.product == header.product && d.catalog == new.catalog)
        .map(|d| d.generation)
        .max()
        .unwrap_or(0);
    let disclosure = VendorDisclosure {
        institution,
        id: VendorDisclosureId::generate(&mut rand_core::OsRng),
        vendor: header.vendor,
        product: header.product,
        product_version: header.product_version,
        catalog: new.catalog,
        jahis_version: header.jahis_version,
        received_on: new.received_on,
        notes: header.notes,
        generation: previous.saturating_add(1),
        entered_by: actor.user(),
        entered_at: now,
    };
    let risks = open_risks(&disclosure, &answers);
    let counts = Answer::ALL.map(|a| answers.iter().filter(|x| x.answer == a).count());
    let mut tx = store.begin().await?;
    tx.record_vendor_disclosure(&disclosure, &answers, &risks).await.map_err(|e| match e {
        StoreError::Conflict { .. } => ApiError::conflict(
            "stale_version",
            Message::new(
                "同じ事業者・製品の開示書が同時に記録されました。一覧を確認してください。",
                "a disclosure of the same vendor and product was recorded at the same time; check the list",
            ),
        ),
        other => other.into(),
    })?;
    let event = AuditEvent::new(institution, now, actor, action, Outcome::Allowed)
        .resource(format!("vendor-disclosure:{}", disclosure.id))
        .detail("catalog", disclosure.catalog.clone())
        .detail("generation", disclosure.generation.to_string())
        .detail("risks", risks.len().to_string());
    audit::commit_with(tx, event).await?;
    Ok(Recorded { disclosure, risks, answers: counts })
}

/// Records a disclosure from answers given one by one (JSON or the form); a bad answer is named
/// by its position (`answers[3]`).
///
/// # Errors
/// 403 without `ManageCompliance`; 400 for a bad field, an unknown catalog or row, an invalid
/// answer, a row answered twice or rows left unanswered; 409 when a disclosure of the same
/// vendor and product was recorded at the same time.
pub async fn record(
    store: &dyn Store,
    who: &Manager,
    now: OffsetDateTime,
    new: NewDisclosure,
    entries: &[AnswerEntry],
) -> Result<Recorded, ApiError> {
    who.require(AdminPermission::ManageCompliance)?;
    let form = form_of(&catalog_rows(&new.catalog)?);
    let answers = check_answers(
        &form,
        entries.iter().enumerate().map(|(i, e)| (i, e.id.as_str(), e.answer.as_str(), e.remark.as_str())),
        |i, m| Message::new(format!("answers[{i}]: {}", m.ja), format!("answers[{i}]: {}", m.en)),
    )
    .map_err(ApiError::bad_request)?;
    record_checked(store, who.institution(), audit::actor(&who.user), now, new, answers, "compliance.vendor.record")
        .await
}

/// Records a disclosure from an import file (CSV or xlsx): checked whole first, a bad row
/// refused with its line and reason and nothing recorded.
///
/// # Errors
/// As [`record`], with the file's line in the message.
pub async fn import(
    store: &dyn Store,
    who: &Manager,
    now: OffsetDateTime,
    new: NewDisclosure,
    bytes: &[u8],
) -> Result<Recorded, ApiError> {
    who.require(AdminPermission::ManageCompliance)?;
    let form = form_of(&catalog_rows(&new.catalog)?);
    let answers = parse_file(&form, bytes).map_err(ApiError::bad_request)?;
    record_checked(store, who.institution(), audit::actor(&who.user), now, new, answers, "compliance.vendor.import")
        .await
}

/// Records a disclosure from an import file for the operator at the command line
/// (`mamori vendor import`), as [`import`] does for a user.
///
/// # Errors
/// As [`import`] (without the 403).
pub async fn import_as_operator(
    store: &dyn Store,
    institution: InstitutionId,
    now: OffsetDateTime,
    new: NewDisclosure,
    bytes: &[u8],
) -> Result<Recorded, ApiError> {
    let form = form_of(&catalog_rows(&new.catalog)?);
    let answers = parse_file(&form, bytes).map_err(ApiError::bad_request)?;
    record_checked(store, institution, Actor::Operator, now, new, answers, "compliance.vendor.import").await
}

/// A risk's change.
#[derive(Debug, Clone)]
pub struct RiskChange {
    /// リスク評価.
    pub justification: String,
    /// The owner.
    pub owner: Option<UserId>,
    /// リスク対応・代替策.
    pub mitigation: String,
    /// When the acceptance is reviewed.
    pub expires_on: Option<Date>,
    /// The version being changed (the current one).
    pub version: u32,
}

/// Changes a risk record: a new version (the old ones are kept).
///
/// # Errors
/// 403; 404 (no such disclosure or risk); 400 (a field, an owner not of the institution); 409
/// (someone changed it first).
pub async fn change_risk(
    store: &dyn Store,
    who: &Manager,
    now: OffsetDateTime,
    disclosure: VendorDisclosureId,
    item: &str,
    change: RiskChange,
) -> Result<VendorRisk, ApiError> {
    who.require(AdminPermission::ManageCompliance)?;
    let now = mamori_core::clock::to_micros(now);
    let (justification, mitigation) =
        check_risk(&change.justification, &change.mitigation).map_err(ApiError::bad_request)?;
    if let Some(owner) = change.owner
        && store.user(who.institution(), owner).await?.is_none()
    {
        return Err(ApiError::bad_request(Message::new(
            "owner: この医療機関の利用者を指定してください。",
            "owner: a user of this institution",
        )));
    }
    let current = store
        .vendor_risks(who.institution())
        .await?
        .into_iter()
        .find(|r| r.disclosure == disclosure && r.item == item)
        .ok_or_else(|| ApiError::no_such("リスク記録", "vendor risk"))?;
    let stale = || {
        ApiError::conflict(
            "stale_version",
            Message::new(
                "他の人が先に変更しました。開き直してください。",
                "someone changed this risk first; reload it",
            ),
        )
    };
    if change.version != current.version {
        return Err(stale());
    }
    let next = VendorRisk {
        justification,
        owner: change.owner,
        mitigation,
        expires_on: change.expires_on,
        version: current.version.saturating_add(1),
        changed_by: Some(who.user.id),
        changed_at: now,
        ..current
    };
    let mut tx = store.begin().await?;
    if !tx.update_vendor_risk(&next).await? {
        return Err(stale());
    }
    let event = who
        .event(now, "compliance.vendor.risk", Outcome::Allowed)
        .resource(format!("vendor-disclosure:{disclosure}"))
        .detail("item", next.item.clone())
        .detail("version", next.version.to_string())
        .detail("complete", next.complete().to_string());
    audit::commit_with(tx, event).await?;
    Ok(next)
}

/// A disclosure as read.
#[derive(Debug, Clone)]
pub struct DisclosureView {
    /// The disclosure.
    pub disclosure: VendorDisclosure,
    /// Whether it is the current one of its vendor, product and catalog.
    pub current: bool,
    /// Its answers, in the catalog's order.
    pub answers: Vec<VendorAnswer>,
    /// Its risks (current versions), in the catalog's order.
    pub risks: Vec<VendorRisk>,
    /// The catalog's rows.
    pub rows: Vec<mamori_compliance::Item>,
}

/// Reads a disclosure with its answers and risks (recorded as `compliance.vendor.read`).
///
/// # Errors
/// 403 without `ReadCompliance`, 404.
pub async fn read(
    store: &dyn Store,
    who: &Manager,
    now: OffsetDateTime,
    id: VendorDisclosureId,
) -> Result<DisclosureView, ApiError> {
    who.require(AdminPermission::ReadCompliance)?;
    let all = store.vendor_disclosures(who.institution()).await?;
    let disclosure = all.iter().find(|d| d.id == id).cloned().ok_or_else(no_disclosure)?;
    let rows = mamori_compliance::catalogs()
        .ok()
        .and_then(|c| c.into_iter().find(|c| c.catalog.id == disclosure.catalog))
        .map(|c| c.items)
        .unwrap_or_default();
    let order = |item: &str| rows.iter().position(|r| r.id == item).unwrap_or(usize::MAX);
    let mut answers = store.vendor_answers(who.institution(), id).await?;
    answers.sort_by_key(|a| order(&a.item));
    let mut risks: Vec<VendorRisk> =
        store.vendor_risks(who.institution()).await?.into_iter().filter(|r| r.disclosure == id).collect();
    risks.sort_by_key(|r| order(&r.item));
    let event = who.event(now, "compliance.vendor.read", Outcome::Allowed).resource(format!("vendor-disclosure:{id}"));
    audit::record_in(store, vec![event]).await?;
    Ok(DisclosureView { current: is_current(&disclosure, &all), disclosure, answers, risks, rows })
}

/// One line of the list.
#[derive(Debug, Clone)]
pub struct Listed {
    /// The disclosure.
    pub disclosure: VendorDisclosure,
    /// Whether it is current.
    pub current: bool,
    /// How many はい, いいえ, 対象外.
    pub answers: [usize; 3],
    /// How many risks are open, complete, expired.
    pub risks: [usize; 3],
}

/// The institution's disclosures, newest first, with their counts on `today`.
///
/// # Errors
/// 403 without `ReadCompliance`.
pub async fn list(store: &dyn Store, who: &Manager, today: Date) -> Result<Vec<Listed>, ApiError> {
    who.require(AdminPermission::ReadCompliance)?;
    let all = store.vendor_disclosures(who.institution()).await?;
    let risks = store.vendor_risks(who.institution()).await?;
    let mut out = Vec::with_capacity(all.len());
    for d in &all {
        let answers = store.vendor_answers(who.institution(), d.id).await?;
        let count = |a| answers.iter().filter(|x| x.answer == a).count();
        let mine: Vec<&VendorRisk> = risks.iter().filter(|r| r.disclosure == d.id).collect();
        let status = |s| mine.iter().filter(|r| r.status(today) == s).count();
        out.push(Listed {
            disclosure: d.clone(),
            current: is_current(d, &all),
            answers: Answer::ALL.map(count),
            risks: [status(RiskStatus::Open), status(RiskStatus::Complete), status(RiskStatus::Expired)],
        });
    }
    Ok(out)
}

/// The blank form of a catalog as CSV: the header `id,number,text,answer,remark` and one line
/// per row, answer and remark empty (UTF-8 with a byte-order mark, so that Excel reads it).
///
/// # Errors
/// 400 for a catalog that is not MDS or SDS.
pub fn template_csv(catalog: &str) -> Result<Vec<u8>, ApiError> {
    let rows = catalog_rows(catalog)?;
    let quote = |s: &str| format!("\"{}\"", s.replace(['\r', '\n'], " ").replace('"', "\"\""));
    let mut out = String::from("\u{FEFF}");
    out.push_str(&mamori_core::vendor::TEMPLATE_HEADER.join(","));
    out.push('\n');
    for r in &rows {
        out.push_str(&format!("{},{},{},,\n", quote(&r.id), quote(&r.number), quote(&r.text)));
    }
    Ok(out.into_bytes())
}

/// The blank form of a catalog as xlsx: the same columns as [`template_csv`] on the first sheet,
/// the answer column offering はい / いいえ / 対象外.
///
/// # Errors
/// 400 for a catalog that is not MDS or SDS; 500 when the workbook cannot be written.
pub fn template_xlsx(catalog: &str) -> Result<Vec<u8>, ApiError> {
    let rows = catalog_rows(catalog)?;
    let failed = |e: rust_xlsxwriter::XlsxError| {
        tracing::error!(error = %e, "the vendor form cannot be written");
        ApiError::internal()
    };
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name(catalog).map_err(failed)?;
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let wrap = rust_xlsxwriter::Format::new().set_text_wrap();
    for (c, h) in (0u16..).zip(mamori_core::vendor::TEMPLATE_HEADER) {
        sheet.write_string_with_format(0, c, h, &bold).map_err(failed)?;
    }
    for (r, item) in (1u32..).zip(&rows) {
        sheet.write_string(r, 0, &item.id).map_err(failed)?;
        sheet.write_string(r, 1, &item.number).map_err(failed)?;
        sheet.write_string_with_format(r, 2, &item.text, &wrap).map_err(failed)?;
    }
    let last = u32::try_from(rows.len()).map_err(|_| ApiError::internal())?;
    let answers = rust_xlsxwriter::DataValidation::new()
        .allow_list_strings(&mamori_core::vendor::Answer::ALL.map(mamori_core::vendor::Answer::as_str))
        .map_err(failed)?;
    sheet.add_data_validation(1, 3, last.max(1), 3, &answers).map_err(failed)?;
    sheet.set_column_width(0, 24).map_err(failed)?;
    sheet.set_column_width(1, 14).map_err(failed)?;
    sheet.set_column_width(2, 70).map_err(failed)?;
    sheet.set_column_width(3, 10).map_err(failed)?;
    sheet.set_column_width(4, 40).map_err(failed)?;
    sheet.set_freeze_panes(1, 0).map_err(failed)?;
    book.save_to_buffer().map_err(failed)
}
