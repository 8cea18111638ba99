//! Vendors' disclosures (migration 0013, [`mamori_core::vendor`]): the rows as read from either
//! backend, their checked conversion into core types, the checks a recording passes before
//! anything is written, and the statements both backends run.
//!
//! Every statement binds `institution_id` in its `WHERE` clause or its key.

use crate::StoreError;
use crate::rows::{corrupt, generation};
use mamori_core::vendor::{
    Answer, REMARK_MAX, TEXT_MAX, VendorAnswer, VendorDisclosure, VendorRisk, check_header, check_text,
};
use mamori_core::{InstitutionId, UserId, VendorDisclosureId};
use std::collections::BTreeSet;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

/// A `vendor_disclosures` row.
pub(crate) struct DisclosureRow {
    pub(crate) institution_id: Uuid,
    pub(crate) id: Uuid,
    pub(crate) vendor: String,
    pub(crate) product: String,
    pub(crate) product_version: String,
    pub(crate) catalog: String,
    pub(crate) jahis_version: String,
    pub(crate) received_on: Date,
    pub(crate) notes: String,
    pub(crate) generation: i64,
    pub(crate) entered_by: Option<Uuid>,
    pub(crate) entered_at: OffsetDateTime,
}

impl DisclosureRow {
    /// The disclosure, its header as [`check_header`] leaves it (a stored value the check would
    /// change is corrupt).
    pub(crate) fn into_disclosure(self) -> Result<VendorDisclosure, StoreError> {
        let header = check_header(&self.vendor, &self.product, &self.product_version, &self.jahis_version, &self.notes)
            .map_err(|m| corrupt("vendor_disclosures", &m.en))?;
        if header.vendor != self.vendor
            || header.product != self.product
            || header.product_version != self.product_version
            || header.jahis_version != self.jahis_version
            || header.notes != self.notes
        {
            return Err(corrupt("vendor_disclosures", "not in checked form"));
        }
        if !is_catalog_name(&self.catalog) {
            return Err(corrupt("vendor_disclosures.catalog", "not a catalog name"));
        }
        Ok(VendorDisclosure {
            institution: InstitutionId::from_uuid(self.institution_id),
            id: VendorDisclosureId::from_uuid(self.id),
            vendor: header.vendor,
            product: header.product,
            product_version: header.product_version,
            catalog: self.catalog,
            jahis_version: header.jahis_version,
            received_on: self.received_on,
            notes: header.notes,
            generation: generation("vendor_disclosures.generation", self.generation)?,
            entered_by: self.entered_by.map(UserId::from_uuid),
            entered_at: self.entered_at,
        })
    }
}

/// A `vendor_answers` row.
pub(crate) struct AnswerRow {
    pub(crate) item: String,
    pub(crate) answer: String,
    pub(crate) remark: String,
}

impl AnswerRow {
    pub(crate) fn into_answer(self) -> Result<VendorAnswer, StoreError> {
        if !is_item_name(&self.item) {
            return Err(corrupt("vendor_answers.item", "not 1 to 100 characters without control characters"));
        }
        let answer = answer_of_code(&self.answer).ok_or_else(|| corrupt("vendor_answers.answer", "not an answer"))?;
        let remark =
            check_text("remark", &self.remark, REMARK_MAX).map_err(|m| corrupt("vendor_answers.remark", &m.en))?;
        if remark != self.remark {
            return Err(corrupt("vendor_answers.remark", "not in checked form"));
        }
        Ok(VendorAnswer { item: self.item, answer, remark })
    }
}

/// A `vendor_risks` or `vendor_risk_versions` row.
pub(crate) struct RiskRow {
    pub(crate) institution_id: Uuid,
    pub(crate) disclosure_id: Uuid,
    pub(crate) item: String,
    pub(crate) justification: String,
    pub(crate) owner: Option<Uuid>,
    pub(crate) mitigation: String,
    pub(crate) expires_on: Option<Date>,
    pub(crate) version: i64,
    pub(crate) changed_by: Option<Uuid>,
    pub(crate) changed_at: OffsetDateTime,
}

impl RiskRow {
    pub(crate) fn into_risk(self) -> Result<VendorRisk, StoreError> {
        if !is_item_name(&self.item) {
            return Err(corrupt("vendor_risks.item", "not 1 to 100 characters without control characters"));
        }
        for (column, text) in
            [("vendor_risks.justification", &self.justification), ("vendor_risks.mitigation", &self.mitigation)]
        {
            let checked = check_text("text", text, TEXT_MAX).map_err(|m| corrupt(column, &m.en))?;
            if &checked != text {
                return Err(corrupt(column, "not in checked form"));
            }
        }
        Ok(VendorRisk {
            institution: InstitutionId::from_uuid(self.institution_id),
            disclosure: VendorDisclosureId::from_uuid(self.disclosure_id),
            item: self.item,
            justification: self.justification,
            owner: self.owner.map(UserId::from_uuid),
            mitigation: self.mitigation,
            expires_on: self.expires_on,
            version: generation("vendor_risks.version", self.version)?,
            changed_by: self.changed_by.map(UserId::from_uuid),
            changed_at: self.changed_at,
        })
    }
}

fn answer_of_code(code: &str) -> Option<Answer> {
    Answer::ALL.into_iter().find(|a| a.code() == code)
}

fn is_catalog_name(text: &str) -> bool {
    (1..=40).contains(&text.len()) && text.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-'))
}

fn is_item_name(text: &str) -> bool {
    (1..=100).contains(&text.chars().count()) && !text.chars().any(char::is_control)
}

/// Checks a recording before anything is written: at least one answer; the risks are exactly
/// version 1 of one per いいえ answer, of this disclosure.
pub(crate) fn check_recording(
    disclosure: &VendorDisclosure,
    answers: &[VendorAnswer],
    risks: &[VendorRisk],
) -> Result<(), StoreError> {
    let refuse = |detail: &str| Err(StoreError::Database { detail: detail.to_owned() });
    if answers.is_empty() {
        return refuse("a vendor disclosure needs its answers");
    }
    let noes: BTreeSet<&str> = answers.iter().filter(|a| a.answer == Answer::No).map(|a| a.item.as_str()).collect();
    let risked: BTreeSet<&str> = risks.iter().map(|r| r.item.as_str()).collect();
    if risks.len() != risked.len() || risked != noes {
        return refuse("a vendor disclosure opens exactly one risk per いいえ");
    }
    if risks.iter().any(|r| {
        r.version != 1
            || r.institution != disclosure.institution
            || r.disclosure != disclosure.id
            || r.changed_by != disclosure.entered_by
    }) {
        return refuse("a disclosure's risks start at version 1 of that disclosure, by its author");
    }
    Ok(())
}

/// One disclosure; the institution and user must exist (foreign key).
pub(crate) const INSERT_DISCLOSURE: &str = "INSERT INTO vendor_disclosures \
     (institution_id, id, vendor, product, product_version, catalog, jahis_version, received_on, notes, generation, \
      entered_by, entered_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

macro_rules! select_disclosures {
    ($tail:literal) => {
        concat!(
            "SELECT institution_id, id, vendor, product, product_version, catalog, jahis_version, received_on, notes, \
                    generation, entered_by, entered_at \
             FROM vendor_disclosures ",
            $tail
        )
    };
}

/// The institution's disclosures, newest first.
pub(crate) const SELECT_DISCLOSURES: &str =
    select_disclosures!("WHERE institution_id = $1 ORDER BY entered_at DESC, id DESC");

/// One disclosure.
pub(crate) const SELECT_DISCLOSURE: &str = select_disclosures!("WHERE institution_id = $1 AND id = $2");

/// One answer.
pub(crate) const INSERT_ANSWER: &str = "INSERT INTO vendor_answers (institution_id, disclosure_id, item, answer, remark) \
     VALUES ($1, $2, $3, $4, $5)";

/// A disclosure's answers, by item.
pub(crate) const SELECT_ANSWERS: &str = "SELECT item, answer, remark FROM vendor_answers \
     WHERE institution_id = $1 AND disclosure_id = $2 ORDER BY item";

/// A risk's current row (`$1` to `$10`: institution, disclosure, item, justification, owner,
/// mitigation, review date, version, author, time); it must name an いいえ answer (foreign key).
pub(crate) const INSERT_RISK: &str = "INSERT INTO vendor_risks \
     (institution_id, disclosure_id, item, justification, owner, mitigation, expires_on, version, changed_by, \
      changed_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// One conditional UPDATE: the risk becomes version `$8` only from version `$8 - 1`. Binds as
/// [`INSERT_RISK`].
pub(crate) const UPDATE_RISK: &str = "UPDATE vendor_risks \
     SET justification = $4, owner = $5, mitigation = $6, expires_on = $7, version = $8, changed_by = $9, \
         changed_at = $10 \
     WHERE institution_id = $1 AND disclosure_id = $2 AND item = $3 AND version = $8 - 1";

/// One version of a risk. Binds as [`INSERT_RISK`].
pub(crate) const INSERT_RISK_VERSION: &str = "INSERT INTO vendor_risk_versions \
     (institution_id, disclosure_id, item, justification, owner, mitigation, expires_on, version, changed_by, \
      changed_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// The current risks of the institution (all its disclosures), by disclosure and item.
pub(crate) const SELECT_RISKS: &str = "SELECT institution_id, disclosure_id, item, justification, owner, mitigation, \
            expires_on, version, changed_by, changed_at \
     FROM vendor_risks WHERE institution_id = $1 ORDER BY disclosure_id, item";

/// Every version of one risk, oldest first.
pub(crate) const SELECT_RISK_HISTORY: &str = "SELECT institution_id, disclosure_id, item, justification, owner, \
            mitigation, expires_on, version, changed_by, changed_at \
     FROM vendor_risk_versions WHERE institution_id = $1 AND disclosure_id = $2 AND item = $3 ORDER BY version";
