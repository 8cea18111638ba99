//! Clinical records (診療記録) and their versions: what a record holds for each kind, the states
//! a version goes through (下書き → 確定, or 代行入力 → 承認待ち → 確定/差戻し), and the leaf a
//! finalized version becomes in the institution's log.
//!
//! # The model
//!
//! A **record** belongs to one patient and has one kind and one information category, fixed
//! when it is created. Its **versions** are numbered from 1:
//!
//! - Version 1 starts as a [`VersionState::Draft`] owned by its author (edited, then finalized
//!   or discarded), or, entered by proxy for a named doctor, as
//!   [`VersionState::PendingApproval`] (approved by that doctor, or rejected with a reason).
//! - A **correction** (訂正) or a **cancellation** (取消) of a finalized record is a new
//!   version, final at once, pointing to its predecessor and carrying a reason.
//! - A version that is [`VersionState::Final`] never changes: no code path updates it, and the
//!   database refuses it as well.
//!
//! The content of each kind is checked at the boundary ([`ContentInput::check`]); codes of the
//! master are resolved to the entry version valid that day ([`MasterRef`]), and the record keeps
//! that version, name and unit.
//!
//! # The leaf
//!
//! A finalized version is a leaf of the institution's log ([`RecordVersion::to_leaf`]): the
//! canonical JSON of its identifiers, state, people, times, reason and the SHA-256 of its
//! content. The content itself stays out of the log (the log is exported to auditors), but its
//! digest is in the tree, so changing one stored byte of a finalized version, content or
//! metadata, makes the stored row disagree with its leaf, which `mamori verify` reports.

use crate::audit::{AuditColumns, LogEntry, Outcome, format_micros};
use crate::authz::Category;
use crate::master::{MasterCode, MasterKind, MasterRef, parse_date};
use crate::user::text_enum;
use crate::{DeviceId, InstitutionId, Message, PatientId, RecordId, UserId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;
use time::OffsetDateTime;

text_enum!(
    /// The kind of a record.
    RecordKind {
        /// 経過記録 (SOAP)
        ProgressNote = "progress_note",
        /// 病名
        Diagnosis = "diagnosis",
        /// 処方
        Prescription = "prescription",
        /// 検査結果
        LabResult = "lab_result",
        /// 文書
        Document = "document",
    }
);

impl RecordKind {
    /// The category a record of this kind is filed in unless the author chooses another.
    #[must_use]
    pub fn default_category(self) -> Category {
        match self {
            Self::ProgressNote | Self::Diagnosis => Category::CLINICAL_RECORD,
            Self::Prescription => Category::PRESCRIPTION,
            Self::LabResult => Category::LAB_RESULT,
            Self::Document => Category::DOCUMENT,
        }
    }

    /// Japanese label.
    #[must_use]
    pub const fn label_ja(self) -> &'static str {
        match self {
            Self::ProgressNote => "経過記録",
            Self::Diagnosis => "病名",
            Self::Prescription => "処方",
            Self::LabResult => "検査結果",
            Self::Document => "文書",
        }
    }

    /// English label.
    #[must_use]
    pub const fn label_en(self) -> &'static str {
        match self {
            Self::ProgressNote => "Progress note",
            Self::Diagnosis => "Diagnosis",
            Self::Prescription => "Prescription",
            Self::LabResult => "Lab result",
            Self::Document => "Document",
        }
    }
}

text_enum!(
    /// Where a version stands.
    VersionState {
        /// 下書き: editable by its author only.
        Draft = "draft",
        /// 承認待ち: entered by proxy, waiting for the named doctor.
        PendingApproval = "pending_approval",
        /// 確定: never changes again.
        Final = "final",
        /// 破棄: a draft its author threw away (kept, never shown in the chart).
        Discarded = "discarded",
        /// 差戻し: a proxy entry the doctor rejected, with the reason.
        Rejected = "rejected",
    }
);

impl VersionState {
    /// Japanese label.
    #[must_use]
    pub const fn label_ja(self) -> &'static str {
        match self {
            Self::Draft => "下書き",
            Self::PendingApproval => "承認待ち",
            Self::Final => "確定",
            Self::Discarded => "破棄",
            Self::Rejected => "差戻し",
        }
    }
}

text_enum!(
    /// What a version does to its record.
    Change {
        /// The first version.
        Original = "original",
        /// 訂正: replaces the content of its predecessor.
        Correction = "correction",
        /// 取消: withdraws the record (the content is its predecessor's).
        Cancellation = "cancellation",
    }
);

/// Who wrote or finalized a version: a user, or a registered device (MDS 17).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Agent {
    /// A user of the institution.
    User(UserId),
    /// A registered device.
    Device(DeviceId),
}

impl Agent {
    /// The user, if a user.
    #[must_use]
    pub const fn user(self) -> Option<UserId> {
        match self {
            Self::User(u) => Some(u),
            Self::Device(_) => None,
        }
    }

    /// The device, if a device.
    #[must_use]
    pub const fn device(self) -> Option<DeviceId> {
        match self {
            Self::Device(d) => Some(d),
            Self::User(_) => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Content
// ---------------------------------------------------------------------------------------------

/// Longest SOAP field, in characters.
pub const MAX_SOAP: usize = 4000;
/// Longest document body.
pub const MAX_BODY: usize = 20_000;
/// Most lines of a prescription.
pub const MAX_RX_ITEMS: usize = 20;
/// Most items of a lab result.
pub const MAX_LAB_ITEMS: usize = 50;

/// 経過記録: subjective, objective, assessment, plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Soap {
    /// S: what the patient says.
    #[serde(default)]
    pub s: String,
    /// O: findings.
    #[serde(default)]
    pub o: String,
    /// A: assessment.
    #[serde(default)]
    pub a: String,
    /// P: plan.
    #[serde(default)]
    pub p: String,
}

/// 病名.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Diagnosis<R> {
    /// The disease (master `disease`).
    pub disease: R,
    /// 疑い病名.
    #[serde(default)]
    pub suspected: bool,
    /// 発症日 (`YYYY-MM-DD`).
    #[serde(default)]
    pub onset: Option<String>,
    /// A note.
    #[serde(default)]
    pub note: String,
}

/// One line of a prescription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RxItem<R> {
    /// The drug (master `drug`).
    pub drug: R,
    /// Dose per day in the drug's unit, as written (`1`, `0.5`, `2`).
    pub dose: String,
    /// 用法 (`1日1回 朝食後`).
    pub usage: String,
    /// Days (1–365).
    pub days: u16,
}

/// 処方.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prescription<R> {
    /// The lines.
    pub items: Vec<RxItem<R>>,
    /// A note.
    #[serde(default)]
    pub note: String,
}

/// One measured item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabItem<R> {
    /// The item (master `lab_item`).
    pub item: R,
    /// The value as measured (`6.8`, `陰性`).
    pub value: String,
    /// `H` (high) or `L` (low), if flagged.
    #[serde(default)]
    pub flag: Option<String>,
}

/// 検査結果.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabResult<R> {
    /// 採取日 (`YYYY-MM-DD`).
    pub collected_on: String,
    /// The items.
    pub items: Vec<LabItem<R>>,
}

/// 文書.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// The title.
    pub title: String,
    /// The body.
    pub body: String,
}

/// A record's content, with master entries as `R`: codes as typed ([`ContentInput`]) or the
/// entry versions they resolved to ([`Content`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Body<R> {
    /// 経過記録.
    ProgressNote(Soap),
    /// 病名.
    Diagnosis(Diagnosis<R>),
    /// 処方.
    Prescription(Prescription<R>),
    /// 検査結果.
    LabResult(LabResult<R>),
    /// 文書.
    Document(Document),
}

/// Content as a client sends it: master entries by code.
pub type ContentInput = Body<MasterCode>;

/// Content as stored: master entries by the version used.
pub type Content = Body<MasterRef>;

fn field_error(field: &str, ja: &str, en: &str) -> Message {
    Message::new(format!("{field}: {ja}"), format!("{field}: {en}"))
}

/// Normalizes a free-text field: `\r\n` to `\n`, ends trimmed, at most `max` characters, no
/// control characters other than newline and tab.
fn free_text(field: &str, raw: &str, max: usize) -> Result<String, Message> {
    let t = raw.replace("\r\n", "\n");
    let t = t.trim();
    if t.chars().count() > max {
        return Err(field_error(
            field,
            &format!("{max}文字以内にしてください。"),
            &format!("at most {max} characters"),
        ));
    }
    if t.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(field_error(field, "制御文字は使えません。", "control characters are not allowed"));
    }
    Ok(t.to_owned())
}

/// A one-line field of 1 to `max` characters.
fn line(field: &str, raw: &str, max: usize) -> Result<String, Message> {
    let t = free_text(field, raw, max)?;
    if t.is_empty() || t.contains('\n') {
        return Err(field_error(
            field,
            &format!("1〜{max}文字の1行で入力してください。"),
            &format!("one line of 1 to {max} characters"),
        ));
    }
    Ok(t)
}

fn date_field(field: &str, raw: &str) -> Result<String, Message> {
    parse_date(raw.trim())
        .map(|d| d.to_string())
        .map_err(|m| Message::new(format!("{field}: {}", m.ja), format!("{field}: {}", m.en)))
}

impl<R> Body<R> {
    /// The kind.
    #[must_use]
    pub const fn kind(&self) -> RecordKind {
        match self {
            Self::ProgressNote(_) => RecordKind::ProgressNote,
            Self::Diagnosis(_) => RecordKind::Diagnosis,
            Self::Prescription(_) => RecordKind::Prescription,
            Self::LabResult(_) => RecordKind::LabResult,
            Self::Document(_) => RecordKind::Document,
        }
    }

    /// The same content with each master entry mapped by `f` (in the order they appear).
    ///
    /// # Errors
    /// The first error `f` gives.
    pub fn try_map<S>(self, mut f: impl FnMut(MasterKind, R) -> Result<S, Message>) -> Result<Body<S>, Message> {
        Ok(match self {
            Self::ProgressNote(s) => Body::ProgressNote(s),
            Self::Document(d) => Body::Document(d),
            Self::Diagnosis(d) => Body::Diagnosis(Diagnosis {
                disease: f(MasterKind::Disease, d.disease)?,
                suspected: d.suspected,
                onset: d.onset,
                note: d.note,
            }),
            Self::Prescription(p) => Body::Prescription(Prescription {
                items: p
                    .items
                    .into_iter()
                    .map(|i| {
                        Ok(RxItem { drug: f(MasterKind::Drug, i.drug)?, dose: i.dose, usage: i.usage, days: i.days })
                    })
                    .collect::<Result<_, Message>>()?,
                note: p.note,
            }),
            Self::LabResult(l) => Body::LabResult(LabResult {
                collected_on: l.collected_on,
                items: l
                    .items
                    .into_iter()
                    .map(|i| Ok(LabItem { item: f(MasterKind::LabItem, i.item)?, value: i.value, flag: i.flag }))
                    .collect::<Result<_, Message>>()?,
            }),
        })
    }

    /// Checks and normalizes every field (lengths, counts, dates, flags), master entries aside.
    ///
    /// # Errors
    /// A bilingual message naming the field.
    pub fn check(self) -> Result<Self, Message> {
        Ok(match self {
            Self::ProgressNote(s) => {
                let soap = Soap {
                    s: free_text("S", &s.s, MAX_SOAP)?,
                    o: free_text("O", &s.o, MAX_SOAP)?,
                    a: free_text("A", &s.a, MAX_SOAP)?,
                    p: free_text("P", &s.p, MAX_SOAP)?,
                };
                if [&soap.s, &soap.o, &soap.a, &soap.p].iter().all(|f| f.is_empty()) {
                    return Err(Message::new(
                        "S・O・A・Pのいずれかを入力してください。",
                        "write at least one of S, O, A and P",
                    ));
                }
                Self::ProgressNote(soap)
            }
            Self::Document(d) => Self::Document(Document {
                title: line("title", &d.title, 100)?,
                body: {
                    let b = free_text("body", &d.body, MAX_BODY)?;
                    if b.is_empty() {
                        return Err(field_error("body", "本文を入力してください。", "the body is empty"));
                    }
                    b
                },
            }),
            Self::Diagnosis(d) => Self::Diagnosis(Diagnosis {
                disease: d.disease,
                suspected: d.suspected,
                onset: d.onset.as_deref().map(|o| date_field("onset", o)).transpose()?,
                note: free_text("note", &d.note, 1000)?,
            }),
            Self::Prescription(p) => {
                if p.items.is_empty() || p.items.len() > MAX_RX_ITEMS {
                    return Err(field_error(
                        "items",
                        &format!("処方は1〜{MAX_RX_ITEMS}行です。"),
                        &format!("a prescription has 1 to {MAX_RX_ITEMS} lines"),
                    ));
                }
                let items = p
                    .items
                    .into_iter()
                    .map(|i| {
                        let dose = line("dose", &i.dose, 10)?;
                        let numeric = dose.parse::<f64>().is_ok_and(|v| v > 0.0 && v.is_finite());
                        if !numeric || dose.starts_with('+') || dose.contains(['e', 'E']) {
                            return Err(field_error(
                                "dose",
                                "量は正の数で入力してください。",
                                "a dose is a positive number",
                            ));
                        }
                        if !(1..=365).contains(&i.days) {
                            return Err(field_error("days", "日数は1〜365です。", "days is 1 to 365"));
                        }
                        Ok(RxItem { drug: i.drug, dose, usage: line("usage", &i.usage, 100)?, days: i.days })
                    })
                    .collect::<Result<_, Message>>()?;
                Self::Prescription(Prescription { items, note: free_text("note", &p.note, 1000)? })
            }
            Self::LabResult(l) => {
                if l.items.is_empty() || l.items.len() > MAX_LAB_ITEMS {
                    return Err(field_error(
                        "items",
                        &format!("検査結果は1〜{MAX_LAB_ITEMS}項目です。"),
                        &format!("a lab result has 1 to {MAX_LAB_ITEMS} items"),
                    ));
                }
                let items = l
                    .items
                    .into_iter()
                    .map(|i| {
                        let flag = match i.flag.as_deref().map(str::trim) {
                            None | Some("") => None,
                            Some(f @ ("H" | "L")) => Some(f.to_owned()),
                            Some(_) => {
                                return Err(field_error("flag", "判定は H か L です。", "a flag is H or L"));
                            }
                        };
                        Ok(LabItem { item: i.item, value: line("value", &i.value, 30)?, flag })
                    })
                    .collect::<Result<_, Message>>()?;
                Self::LabResult(LabResult { collected_on: date_field("collected_on", &l.collected_on)?, items })
            }
        })
    }
}

/// What is wrong with a JSON body's shape, naming a field but never echoing a value (serde's
/// own messages quote the offending value, which may be patient data).
#[must_use]
pub fn json_shape_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let text = text.split(" at line ").next().unwrap_or_default();
    // serde quotes the value in these; its field messages and mamori's own checks do not.
    let quotes_value = ["invalid type", "invalid value", "invalid length", "unknown variant"];
    if quotes_value.iter().any(|p| text.starts_with(p)) {
        "a field has the wrong type or value".to_owned()
    } else {
        text.split(", expected").next().unwrap_or(text).to_owned()
    }
}

impl ContentInput {
    /// Parses a client's content as JSON for `kind` (an object with the kind's fields; unknown
    /// fields are refused) and checks it.
    ///
    /// # Errors
    /// A bilingual message naming what is wrong.
    pub fn parse(kind: RecordKind, value: &serde_json::Value) -> Result<Self, Message> {
        let serde_json::Value::Object(map) = value else {
            return Err(Message::new("内容はJSONのオブジェクトです。", "content must be a JSON object"));
        };
        let mut map = map.clone();
        map.insert("kind".to_owned(), serde_json::Value::String(kind.as_str().to_owned()));
        let body: Self = serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| {
            let why = json_shape_error(&e);
            Message::new(
                format!("内容の形式が正しくありません（{why}）。"),
                format!("the content does not fit a {kind}: {why}"),
            )
        })?;
        body.check()
    }
}

impl Content {
    /// The stored bytes: canonical JSON (keys sorted, no whitespace).
    #[must_use]
    pub fn canonical(&self) -> Vec<u8> {
        // A `Value` keeps keys in a BTreeMap, so this sorts every object's keys. Serializing
        // these types cannot fail (string keys only).
        serde_json::to_value(self).and_then(|v| serde_json::to_vec(&v)).unwrap_or_default()
    }

    /// SHA-256 of [`Content::canonical`].
    #[must_use]
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.canonical()).into()
    }

    /// Reads stored bytes back, refusing any that are not exactly the canonical form of valid
    /// content.
    ///
    /// # Errors
    /// A bilingual message.
    pub fn from_stored(bytes: &[u8]) -> Result<Self, Message> {
        let refused = || Message::new("記録の内容を読めません。", "stored record content does not parse");
        let content: Self = serde_json::from_slice(bytes).map_err(|_| refused())?;
        if content.canonical() != bytes {
            return Err(refused());
        }
        Ok(content)
    }

    /// The same content with master entries as codes (for editing a copy).
    #[must_use]
    pub fn as_input(&self) -> ContentInput {
        match self.clone().try_map(|_, r| Ok(r.code)) {
            Ok(c) => c,
            Err(_) => unreachable_input(),
        }
    }

    /// One line of text summarizing the content, for lists and the timeline.
    #[must_use]
    pub fn summary(&self) -> String {
        let s = match self {
            Self::ProgressNote(s) => {
                [&s.s, &s.o, &s.a, &s.p].into_iter().find(|f| !f.is_empty()).cloned().unwrap_or_default()
            }
            Self::Diagnosis(d) => format!("{}{}", d.disease.name, if d.suspected { "（疑い）" } else { "" }),
            Self::Prescription(p) => p.items.iter().map(|i| i.drug.name.as_str()).collect::<Vec<_>>().join("、"),
            Self::LabResult(l) => l
                .items
                .iter()
                .map(|i| format!("{} {}{}", i.item.name, i.value, i.flag.as_deref().unwrap_or("")))
                .collect::<Vec<_>>()
                .join("、"),
            Self::Document(d) => d.title.clone(),
        };
        let first = s.lines().next().unwrap_or_default();
        first.chars().take(80).collect()
    }

    /// The content as lines of `label: text`, for the difference between two versions.
    #[must_use]
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut push = |label: &str, text: &str| {
            for (i, l) in text.lines().enumerate() {
                out.push(if i == 0 { format!("{label}: {l}") } else { format!("{label}  {l}") });
            }
        };
        match self {
            Self::ProgressNote(s) => {
                push("S", &s.s);
                push("O", &s.o);
                push("A", &s.a);
                push("P", &s.p);
            }
            Self::Diagnosis(d) => {
                push("病名", &format!("{} [{} v{}]", d.disease.name, d.disease.code.as_str(), d.disease.version));
                push("疑い", if d.suspected { "あり" } else { "なし" });
                push("発症日", d.onset.as_deref().unwrap_or("-"));
                push("メモ", &d.note);
            }
            Self::Prescription(p) => {
                for (n, i) in p.items.iter().enumerate() {
                    push(
                        &format!("Rp{}", n + 1),
                        &format!(
                            "{} {}{} {} {}日分 [{} v{}]",
                            i.drug.name,
                            i.dose,
                            i.drug.unit.as_deref().unwrap_or(""),
                            i.usage,
                            i.days,
                            i.drug.code.as_str(),
                            i.drug.version
                        ),
                    );
                }
                push("メモ", &p.note);
            }
            Self::LabResult(l) => {
                push("採取日", &l.collected_on);
                for i in &l.items {
                    push(
                        &i.item.name,
                        &format!(
                            "{} {} {} [{} v{}]",
                            i.value,
                            i.item.unit.as_deref().unwrap_or(""),
                            i.flag.as_deref().unwrap_or(""),
                            i.item.code.as_str(),
                            i.item.version
                        ),
                    );
                }
            }
            Self::Document(d) => {
                push("題名", &d.title);
                push("本文", &d.body);
            }
        }
        out
    }
}

#[cold]
fn unreachable_input() -> ContentInput {
    Body::Document(Document { title: String::new(), body: String::new() })
}

/// A line-level difference between two versions' [`Content::lines`]: each line with `' '`
/// (both), `'-'` (only the older) or `'+'` (only the newer), by a longest common subsequence.
#[must_use]
pub fn diff(old: &[String], new: &[String]) -> Vec<(char, String)> {
    let (n, m) = (old.len(), new.len());
    // lcs[i][j]: the LCS length of old[i..] and new[j..]. Contents are small (bounded fields).
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            let v = if old.get(i) == new.get(j) {
                lcs.get(i + 1).and_then(|r| r.get(j + 1)).copied().unwrap_or(0) + 1
            } else {
                let down = lcs.get(i + 1).and_then(|r| r.get(j)).copied().unwrap_or(0);
                let right = lcs.get(i).and_then(|r| r.get(j + 1)).copied().unwrap_or(0);
                down.max(right)
            };
            if let Some(cell) = lcs.get_mut(i).and_then(|r| r.get_mut(j)) {
                *cell = v;
            }
        }
    }
    let at = |i: usize, j: usize| lcs.get(i).and_then(|r| r.get(j)).copied().unwrap_or(0);
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < n || j < m {
        match (old.get(i), new.get(j)) {
            (Some(a), Some(b)) if a == b => {
                out.push((' ', a.clone()));
                i += 1;
                j += 1;
            }
            (Some(a), Some(_)) if at(i + 1, j) >= at(i, j + 1) => {
                out.push(('-', a.clone()));
                i += 1;
            }
            (_, Some(b)) => {
                out.push(('+', b.clone()));
                j += 1;
            }
            (Some(a), None) => {
                out.push(('-', a.clone()));
                i += 1;
            }
            (None, None) => break,
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Records and versions
// ---------------------------------------------------------------------------------------------

/// A reason for a correction, cancellation or rejection: 1–500 characters.
///
/// # Errors
/// A bilingual message.
pub fn check_reason(raw: &str) -> Result<String, Message> {
    let t = raw.trim();
    if t.is_empty() || t.chars().count() > 500 || t.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Message::new("理由は1〜500文字で入力してください。", "a reason has 1 to 500 characters"));
    }
    Ok(t.to_owned())
}

/// A record: what never changes once it is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The institution.
    pub institution: InstitutionId,
    /// Its identifier.
    pub id: RecordId,
    /// Whose record it is.
    pub patient: PatientId,
    /// What kind.
    pub kind: RecordKind,
    /// Its information category.
    pub category: Category,
    /// Who created it.
    pub created_by: Agent,
    /// When.
    pub created_at: OffsetDateTime,
}

/// One version of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordVersion {
    /// The record (patient, kind and category included).
    pub record: Record,
    /// 1, 2, …
    pub version: u32,
    /// What this version does.
    pub change: Change,
    /// Where it stands.
    pub state: VersionState,
    /// The content.
    pub content: Content,
    /// Why (corrections, cancellations): 1–500 characters.
    pub reason: Option<String>,
    /// Who wrote it (for a proxy entry, the clerk who typed it).
    pub author: Agent,
    /// For a proxy entry (代行入力): the doctor it was entered for, who must approve it.
    pub proxy_for: Option<UserId>,
    /// When it was first saved.
    pub entered_at: OffsetDateTime,
    /// When it was last saved (a draft's edits move it; equal to `entered_at` otherwise).
    pub updated_at: OffsetDateTime,
    /// Who finalized it (for a proxy entry, the approving doctor).
    pub finalized_by: Option<Agent>,
    /// When (the monitored clock).
    pub finalized_at: Option<OffsetDateTime>,
    /// A rejection: who and why (the time is `updated_at`).
    pub rejected: Option<(UserId, String)>,
    /// The index of its leaf in the institution's log, once final.
    pub leaf_index: Option<u64>,
}

/// The leaf format's version for records.
pub const RECORD_LEAF_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Leaf {
    kind: String,
    v: u32,
    institution: InstitutionId,
    record: RecordId,
    version: u32,
    patient: PatientId,
    record_kind: RecordKind,
    category: String,
    record_created_by: Agent,
    record_created_at: String,
    change: Change,
    content_sha256: String,
    reason: Option<String>,
    author: Agent,
    proxy_for: Option<UserId>,
    entered_at: String,
    finalized_by: Agent,
    finalized_at: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl RecordVersion {
    /// The leaf of a final version: canonical JSON tagged `"kind":"record"`, with the SHA-256 of
    /// the content (not the content).
    ///
    /// # Errors
    /// A bilingual message when the version is not final.
    pub fn to_leaf(&self) -> Result<Vec<u8>, Message> {
        let (Some(finalized_by), Some(finalized_at), VersionState::Final) =
            (self.finalized_by, self.finalized_at, self.state)
        else {
            return Err(Message::new("確定していない版は台帳に載りません。", "only a final version is a leaf"));
        };
        let leaf = Leaf {
            kind: "record".to_owned(),
            v: RECORD_LEAF_VERSION,
            institution: self.record.institution,
            record: self.record.id,
            version: self.version,
            patient: self.record.patient,
            record_kind: self.record.kind,
            category: self.record.category.as_str().to_owned(),
            record_created_by: self.record.created_by,
            record_created_at: format_micros(self.record.created_at),
            change: self.change,
            content_sha256: hex(&self.content.digest()),
            reason: self.reason.clone(),
            author: self.author,
            proxy_for: self.proxy_for,
            entered_at: format_micros(self.entered_at),
            finalized_by,
            finalized_at: format_micros(finalized_at),
        };
        serde_json::to_value(&leaf)
            .and_then(|v| serde_json::to_vec(&v))
            .map_err(|_| Message::new("記録を符号化できません。", "cannot encode the record"))
    }

    /// The leaf with its searchable columns: the finalizer (a user, or none for a device), the
    /// patient, the action `record.<change>` and the category.
    ///
    /// # Errors
    /// As [`RecordVersion::to_leaf`].
    pub fn entry(&self) -> Result<LogEntry, Message> {
        let leaf = self.to_leaf()?;
        let at = self.finalized_at.unwrap_or(self.updated_at);
        Ok(LogEntry::record(
            leaf,
            AuditColumns {
                at: crate::clock::to_micros(at),
                actor: self.finalized_by.and_then(Agent::user),
                patient: Some(self.record.patient),
                action: format!("record.{}", self.change),
                outcome: Outcome::Allowed,
                category: Some(self.record.category.as_str().to_owned()),
            },
        ))
    }
}

/// The identifiers a record leaf names, for `mamori verify` to find the stored version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeafRef {
    /// The institution.
    pub institution: InstitutionId,
    /// The record.
    pub record: RecordId,
    /// The version.
    pub version: u32,
}

/// Reads the identifiers of a record leaf, refusing bytes that are not a record leaf in
/// canonical form.
///
/// # Errors
/// A bilingual message.
pub fn leaf_ref(leaf: &[u8]) -> Result<LeafRef, Message> {
    let refused = || Message::new("記録の葉を読めません。", "not a canonical record leaf");
    let parsed: Leaf = serde_json::from_slice(leaf).map_err(|_| refused())?;
    let canonical = serde_json::to_value(&parsed).and_then(|v| serde_json::to_vec(&v)).map_err(|_| refused())?;
    if parsed.kind != "record" || parsed.v != RECORD_LEAF_VERSION || canonical != leaf {
        return Err(refused());
    }
    Ok(LeafRef { institution: parsed.institution, record: parsed.record, version: parsed.version })
}

/// A registered device (MDS 17): an analyzer or another system that sends results and cannot
/// finalize by a person's hand; its results are finalized as the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The institution.
    pub institution: InstitutionId,
    /// Its identifier.
    pub id: DeviceId,
    /// Its name (1–100 characters, unique in the institution).
    pub name: String,
    /// SHA-256 of its bearer token.
    pub token_hash: [u8; 32],
    /// Who registered it.
    pub registered_by: UserId,
    /// When.
    pub registered_at: OffsetDateTime,
    /// When it was revoked, if it was.
    pub revoked_at: Option<OffsetDateTime>,
}

/// A device name: 1–100 characters on one line.
///
/// # Errors
/// A bilingual message.
pub fn check_device_name(raw: &str) -> Result<String, Message> {
    line("name", raw, 100)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use serde_json::json;

    fn resolve(kind: MasterKind, code: MasterCode) -> Result<MasterRef, Message> {
        Ok(MasterRef { name: format!("{kind}:{}", code.as_str()), code, version: 1, unit: Some("錠".into()) })
    }

    #[test]
    fn each_kind_parses_checks_and_resolves() {
        let cases = [
            (RecordKind::ProgressNote, json!({"s": " 頭痛が続く\r\n", "p": "経過観察"})),
            (RecordKind::Diagnosis, json!({"disease": "SB-0001", "onset": "2026-01-05"})),
            (
                RecordKind::Prescription,
                json!({"items": [{"drug": "SD-0001", "dose": "1", "usage": "1日1回 朝食後", "days": 28}]}),
            ),
            (
                RecordKind::LabResult,
                json!({"collected_on": "2026-11-20", "items": [{"item": "SL-0001", "value": "6.8", "flag": "H"}]}),
            ),
            (RecordKind::Document, json!({"title": "診療情報提供書", "body": "ご高診をお願いします。"})),
        ];
        for (kind, value) in cases {
            let input = ContentInput::parse(kind, &value).unwrap();
            assert_eq!(input.kind(), kind);
            let content = input.try_map(resolve).unwrap();
            let bytes = content.canonical();
            assert_eq!(Content::from_stored(&bytes).unwrap(), content);
            assert!(!content.summary().is_empty());
        }
        let soap = ContentInput::parse(RecordKind::ProgressNote, &json!({"s": " 頭痛が続く\r\n"})).unwrap();
        assert_eq!(
            soap,
            Body::ProgressNote(Soap {
                s: "頭痛が続く".into(), o: String::new(), a: String::new(), p: String::new()
            })
        );
    }

    #[test]
    fn bad_content_is_refused_with_the_field() {
        let cases = [
            (RecordKind::ProgressNote, json!({}), "at least one"),
            (RecordKind::ProgressNote, json!({"s": "a".repeat(MAX_SOAP + 1)}), "S: at most"),
            (RecordKind::ProgressNote, json!({"s": "x", "x": "y"}), "unknown field"),
            (RecordKind::ProgressNote, json!("text"), "JSON object"),
            (RecordKind::Diagnosis, json!({"disease": "bad code!"}), "master code"),
            (RecordKind::Diagnosis, json!({"disease": "SB-1", "onset": "1/2"}), "onset:"),
            (RecordKind::Prescription, json!({"items": []}), "items:"),
            (
                RecordKind::Prescription,
                json!({"items": [{"drug": "D", "dose": "-1", "usage": "u", "days": 3}]}),
                "dose:",
            ),
            (
                RecordKind::Prescription,
                json!({"items": [{"drug": "D", "dose": "1", "usage": "u", "days": 0}]}),
                "days:",
            ),
            (
                RecordKind::LabResult,
                json!({"collected_on": "2026-01-01", "items": [{"item": "L", "value": "1", "flag": "X"}]}),
                "flag:",
            ),
            (RecordKind::Document, json!({"title": "t\u{7}", "body": "b"}), "title:"),
            (RecordKind::Document, json!({"title": "t", "body": ""}), "body:"),
        ];
        for (kind, value, want) in cases {
            let e = ContentInput::parse(kind, &value).unwrap_err();
            assert!(e.en.contains(want), "{kind} {value}: {}", e.en);
        }
    }

    #[test]
    fn shape_errors_name_the_field_but_never_echo_a_value() {
        let e = ContentInput::parse(
            RecordKind::Prescription,
            &json!({"items": [{"drug": "SD-1", "dose": "1", "usage": "u", "days": "患者の秘密"}]}),
        )
        .unwrap_err();
        assert!(!e.ja.contains("患者の秘密") && !e.en.contains("患者の秘密"), "{e}");
        assert!(e.en.contains("wrong type or value"), "{e}");
        let e = ContentInput::parse(RecordKind::Document, &json!({"title": "t"})).unwrap_err();
        assert!(e.en.contains("missing field `body`"), "{e}");
    }

    #[test]
    fn stored_content_reads_back_only_in_canonical_form() {
        let content: Content = Body::Document(Document { title: "t".into(), body: "b".into() });
        let bytes = content.canonical();
        assert_eq!(bytes, br#"{"body":"b","kind":"document","title":"t"}"#);
        assert!(Content::from_stored(br#"{"title":"t","body":"b","kind":"document"}"#).is_err());
        assert!(Content::from_stored(br#"{"body":"c","kind":"document","title":"t"}"#).is_ok());
    }

    #[test]
    fn the_diff_marks_removed_and_added_lines() {
        let a: Vec<String> = ["S: 頭痛", "O: 血圧 150/90", "P: 経過観察"].map(String::from).to_vec();
        let b: Vec<String> = ["S: 頭痛", "O: 血圧 135/85", "P: 経過観察"].map(String::from).to_vec();
        let d = diff(&a, &b);
        assert_eq!(
            d,
            vec![
                (' ', "S: 頭痛".into()),
                ('-', "O: 血圧 150/90".into()),
                ('+', "O: 血圧 135/85".into()),
                (' ', "P: 経過観察".into())
            ]
        );
        assert_eq!(diff(&a, &[]).iter().filter(|(c, _)| *c == '-').count(), 3);
    }

    fn version() -> RecordVersion {
        let t = OffsetDateTime::UNIX_EPOCH;
        RecordVersion {
            record: Record {
                institution: InstitutionId::from_uuid(uuid::Uuid::from_u128(1)),
                id: RecordId::from_uuid(uuid::Uuid::from_u128(2)),
                patient: PatientId::from_uuid(uuid::Uuid::from_u128(3)),
                kind: RecordKind::Document,
                category: Category::DOCUMENT,
                created_by: Agent::User(UserId::from_uuid(uuid::Uuid::from_u128(4))),
                created_at: t,
            },
            version: 1,
            change: Change::Original,
            state: VersionState::Draft,
            content: Body::Document(Document { title: "t".into(), body: "b".into() }),
            reason: None,
            author: Agent::User(UserId::from_uuid(uuid::Uuid::from_u128(4))),
            proxy_for: None,
            entered_at: t,
            updated_at: t,
            finalized_by: None,
            finalized_at: None,
            rejected: None,
            leaf_index: None,
        }
    }

    #[test]
    fn only_final_versions_are_leaves_and_any_change_changes_the_leaf() {
        let mut v = version();
        assert!(v.to_leaf().is_err());
        v.state = VersionState::Final;
        v.finalized_by = Some(v.author);
        v.finalized_at = Some(OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(1));
        let leaf = v.to_leaf().unwrap();
        assert_eq!(crate::audit::leaf_kind(&leaf).as_deref(), Some("record"));
        let r = leaf_ref(&leaf).unwrap();
        assert_eq!((r.record, r.version), (v.record.id, 1));
        let entry = v.entry().unwrap();
        assert_eq!(entry.columns.action, "record.original");
        let mut changed = v.clone();
        changed.content = Body::Document(Document { title: "t".into(), body: "c".into() });
        assert_ne!(changed.to_leaf().unwrap(), leaf, "content digest is in the leaf");
        let mut changed = v.clone();
        changed.finalized_by = Some(Agent::Device(DeviceId::from_uuid(uuid::Uuid::from_u128(9))));
        assert_ne!(changed.to_leaf().unwrap(), leaf);
        let mut changed = v.clone();
        changed.record.created_at += time::Duration::microseconds(1);
        assert_ne!(changed.to_leaf().unwrap(), leaf, "the record's own columns are in the leaf too");
        let mut spaced = leaf.clone();
        spaced.insert(1, b' ');
        assert!(leaf_ref(&spaced).is_err());
    }
}
