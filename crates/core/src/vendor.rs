//! Vendors' disclosures (製造業者/サービス事業者による医療情報セキュリティ開示書, MDS/SDS): an
//! institution records a vendor's answers to every row of an MDS or SDS catalog (`mds-7.0`,
//! `sds-7.0`) — はい, いいえ or 対象外, with the vendor's remark — for one product and the JAHIS
//! version of the form the vendor used. 保守委託機関編 ch.3 10⑨ asks that the 【別紙】 rows be
//! はい or 対象外; a vendor chosen with an いいえ needs a risk evaluation and a response that can
//! be explained at an inspection or audit, so every いいえ opens a [`VendorRisk`]: its
//! justification (リスク評価: why the いいえ is acceptable, what it means for the clinic), owner,
//! mitigation (リスク対応・代替策) and the day the acceptance must be reviewed. A risk changes
//! only by a new version.
//!
//! Answers arrive by form, JSON or an import file ([`parse_import`], header `id,answer,remark`,
//! read by [`crate::table::read`]); every catalog row must be answered exactly once.

use crate::table::{Format, Row, at_line, read};
use crate::{InstitutionId, Message, UserId, VendorDisclosureId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use time::{Date, OffsetDateTime};

/// An answer to an MDS/SDS row (mamori's own disclosure uses it too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Answer {
    /// Meets the row.
    #[serde(rename = "はい")]
    Yes,
    /// Does not meet it (yet).
    #[serde(rename = "いいえ")]
    No,
    /// Does not apply (the explanation or remark says why).
    #[serde(rename = "対象外")]
    NotApplicable,
}

impl Answer {
    /// Every answer, in the form's order.
    pub const ALL: [Self; 3] = [Self::Yes, Self::No, Self::NotApplicable];

    /// As printed.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Yes => "はい",
            Self::No => "いいえ",
            Self::NotApplicable => "対象外",
        }
    }

    /// The stable code stored in the database (`yes`, `no`, `not_applicable`).
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Self::Yes => "yes",
            Self::No => "no",
            Self::NotApplicable => "not_applicable",
        }
    }

    /// An answer as a person writes it: はい, いいえ, 対象外, or `yes`, `no`, `n/a` (any case),
    /// or the stored code.
    ///
    /// # Errors
    /// A bilingual message naming the field (never the value).
    pub fn parse(raw: &str) -> Result<Self, Message> {
        let t = raw.trim();
        match t {
            "はい" => return Ok(Self::Yes),
            "いいえ" => return Ok(Self::No),
            "対象外" => return Ok(Self::NotApplicable),
            _ => {}
        }
        match t.to_ascii_lowercase().as_str() {
            "yes" => Ok(Self::Yes),
            "no" => Ok(Self::No),
            "n/a" | "not_applicable" => Ok(Self::NotApplicable),
            _ => Err(Message::new(
                "answer: 「はい」「いいえ」「対象外」（yes / no / n/a）のいずれかにしてください。",
                "answer: one of はい, いいえ, 対象外 (yes, no, n/a)",
            )),
        }
    }
}

/// One row of the form being answered: a catalog item's ID and its number as printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormRow {
    /// `mds-7.0/21+21.1+21.2`.
    pub id: String,
    /// `21 / 21.1 / 21.2`.
    pub number: String,
}

/// A recorded disclosure: one vendor's answers for one product to one catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorDisclosure {
    /// The institution.
    pub institution: InstitutionId,
    /// Its identifier.
    pub id: VendorDisclosureId,
    /// The vendor (製造業者・サービス事業者), 1–100 characters.
    pub vendor: String,
    /// The product or service, 1–100 characters.
    pub product: String,
    /// The product's version, at most 50 characters (may be empty).
    pub product_version: String,
    /// `mds-7.0` or `sds-7.0`.
    pub catalog: String,
    /// The JAHIS 標準 version of the form the vendor used (e.g. `JAHIS 24-101`), 1–100.
    pub jahis_version: String,
    /// When the institution received it.
    pub received_on: Date,
    /// Notes, at most 4000 characters.
    pub notes: String,
    /// 1 for the first disclosure of this vendor, product and catalog, one more for each that
    /// supersedes it; the highest is current.
    pub generation: u32,
    /// Who recorded it (none when the operator imported it with `mamori vendor import`).
    pub entered_by: Option<UserId>,
    /// When.
    pub entered_at: OffsetDateTime,
}

/// A vendor's answer to one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorAnswer {
    /// The catalog item.
    pub item: String,
    /// はい, いいえ or 対象外.
    pub answer: Answer,
    /// The vendor's remark, at most 2000 characters.
    pub remark: String,
}

/// One version of the risk record of an いいえ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorRisk {
    /// The institution.
    pub institution: InstitutionId,
    /// The disclosure.
    pub disclosure: VendorDisclosureId,
    /// The catalog item answered いいえ.
    pub item: String,
    /// リスク評価: why the いいえ is acceptable, or what it means for the clinic.
    pub justification: String,
    /// Who is responsible (a user of the institution).
    pub owner: Option<UserId>,
    /// リスク対応: the mitigation (代替策).
    pub mitigation: String,
    /// When the acceptance must be reviewed.
    pub expires_on: Option<Date>,
    /// 1 when opened, one more at each change.
    pub version: u32,
    /// Who wrote this version (version 1 is opened by whoever recorded the disclosure: none for
    /// the operator; every later version by a user).
    pub changed_by: Option<UserId>,
    /// When.
    pub changed_at: OffsetDateTime,
}

/// Where a risk stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RiskStatus {
    /// Not all four fields are filled in yet (未記入).
    Open,
    /// Justification, owner, mitigation and review date are set, and the date has not passed.
    Complete,
    /// The review date has passed (期限切れ): the acceptance must be reviewed.
    Expired,
}

impl RiskStatus {
    /// The stable code (`open`, `complete`, `expired`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Complete => "complete",
            Self::Expired => "expired",
        }
    }

    /// Japanese label.
    #[must_use]
    pub const fn label_ja(self) -> &'static str {
        match self {
            Self::Open => "未記入",
            Self::Complete => "記入済",
            Self::Expired => "期限切れ",
        }
    }
}

impl VendorRisk {
    /// Whether justification, owner, mitigation and review date are all set.
    #[must_use]
    pub fn complete(&self) -> bool {
        !self.justification.is_empty()
            && self.owner.is_some()
            && !self.mitigation.is_empty()
            && self.expires_on.is_some()
    }

    /// Where it stands on `today`: expired once the review date has passed, else complete or
    /// open.
    #[must_use]
    pub fn status(&self, today: Date) -> RiskStatus {
        match self.expires_on {
            Some(d) if d < today => RiskStatus::Expired,
            _ if self.complete() => RiskStatus::Complete,
            _ => RiskStatus::Open,
        }
    }
}

fn one_line(field: &str, raw: &str, min: usize, max: usize) -> Result<String, Message> {
    let t = raw.trim();
    let n = t.chars().count();
    if n < min || n > max || t.chars().any(char::is_control) {
        let (ja, en) = if min == 0 {
            (
                format!("{field}: {max}文字以内の1行で入力してください。"),
                format!("{field}: one line of at most {max} characters"),
            )
        } else {
            (
                format!("{field}: {min}〜{max}文字の1行で入力してください。"),
                format!("{field}: one line of {min} to {max} characters"),
            )
        };
        return Err(Message::new(ja, en));
    }
    Ok(t.to_owned())
}

/// Checks a text of several lines: at most `max` characters, no control characters but
/// newlines and tabs (`\r\n` becomes `\n`), trimmed.
///
/// # Errors
/// A bilingual message naming the field.
pub fn check_text(field: &str, raw: &str, max: usize) -> Result<String, Message> {
    let text = raw.replace("\r\n", "\n");
    let text = text.trim();
    if text.chars().count() > max || text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(Message::new(
            format!("{field}: {max}文字以内で、制御文字を含めないでください。"),
            format!("{field}: at most {max} characters, no control characters"),
        ));
    }
    Ok(text.to_owned())
}

/// The longest remark kept.
pub const REMARK_MAX: usize = 2000;
/// The longest notes, justification or mitigation kept.
pub const TEXT_MAX: usize = 4000;

/// A disclosure's header fields, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Vendor.
    pub vendor: String,
    /// Product.
    pub product: String,
    /// Product version.
    pub product_version: String,
    /// JAHIS version.
    pub jahis_version: String,
    /// Notes.
    pub notes: String,
}

/// Checks a disclosure's header: vendor and product 1–100 characters, product version at most
/// 50, JAHIS version 1–100 (one line each), notes at most 4000.
///
/// # Errors
/// A bilingual message naming the field.
pub fn check_header(
    vendor: &str,
    product: &str,
    product_version: &str,
    jahis_version: &str,
    notes: &str,
) -> Result<Header, Message> {
    Ok(Header {
        vendor: one_line("vendor", vendor, 1, 100)?,
        product: one_line("product", product, 1, 100)?,
        product_version: one_line("product_version", product_version, 0, 50)?,
        jahis_version: one_line("jahis_version", jahis_version, 1, 100)?,
        notes: check_text("notes", notes, TEXT_MAX)?,
    })
}

/// Checks a risk's fields (each may still be empty; [`VendorRisk::complete`] says whether all
/// are set): justification and mitigation at most 4000 characters.
///
/// # Errors
/// A bilingual message naming the field.
pub fn check_risk(justification: &str, mitigation: &str) -> Result<(String, String), Message> {
    Ok((check_text("justification", justification, TEXT_MAX)?, check_text("mitigation", mitigation, TEXT_MAX)?))
}

/// Finds the form row an ID names: the catalog item ID, or the number as printed (with or
/// without its spaces).
fn find_row<'a>(form: &'a [FormRow], raw: &str) -> Option<&'a FormRow> {
    let squeezed: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    if squeezed.is_empty() {
        return None;
    }
    form.iter()
        .find(|r| r.id == squeezed || r.number.chars().filter(|c| !c.is_whitespace()).collect::<String>() == squeezed)
}

/// Checks one answer per row of `form` from `(position, id, answer, remark)` entries, and names
/// a bad entry by `locate(position, reason)`: an unknown ID (another catalog's included), an
/// invalid answer or remark, a row answered twice, then rows left unanswered (the first few by
/// ID). The answers come back in the form's order.
///
/// # Errors
/// The first problem, as a bilingual message that never repeats the submitted value.
pub fn check_answers<'a>(
    form: &[FormRow],
    entries: impl IntoIterator<Item = (usize, &'a str, &'a str, &'a str)>,
    locate: impl Fn(usize, &Message) -> Message,
) -> Result<Vec<VendorAnswer>, Message> {
    let mut seen = BTreeSet::new();
    let mut answers = Vec::new();
    for (at, id, answer, remark) in entries {
        let row = find_row(form, id).ok_or_else(|| {
            locate(
                at,
                &Message::new(
                    "id: この開示書の項目ではありません（項目IDか項番で指定してください）。",
                    "id: not a row of this form (give the item ID or its number)",
                ),
            )
        })?;
        if !seen.insert(row.id.clone()) {
            return Err(locate(
                at,
                &Message::new(format!("{} の回答が2回あります。", row.id), format!("{} is answered twice", row.id)),
            ));
        }
        let answer = Answer::parse(answer).map_err(|m| locate(at, &m))?;
        let remark = check_text("remark", remark, REMARK_MAX).map_err(|m| locate(at, &m))?;
        answers.push(VendorAnswer { item: row.id.clone(), answer, remark });
    }
    let missing: Vec<&str> = form.iter().filter(|r| !seen.contains(&r.id)).map(|r| r.id.as_str()).collect();
    let first: Vec<&str> = missing.iter().take(5).copied().collect();
    if !first.is_empty() {
        let rest = missing.len() - first.len();
        let (more, more_en) = if rest > 0 {
            (format!(" ほか{rest}件"), format!(" and {rest} more"))
        } else {
            (String::new(), String::new())
        };
        return Err(Message::new(
            format!("回答のない項目があります（{} 件）: {}{more}", missing.len(), first.join(", ")),
            format!("{} rows are not answered: {}{more_en}", missing.len(), first.join(", ")),
        ));
    }
    answers.sort_by_key(|a| form.iter().position(|r| r.id == a.item));
    Ok(answers)
}

/// The import file's header.
pub const IMPORT_HEADER: [&str; 3] = ["id", "answer", "remark"];

/// The header of the blank form mamori hands out ([`IMPORT_HEADER`] with each row's number and
/// text, which the import reads past).
pub const TEMPLATE_HEADER: [&str; 5] = ["id", "number", "text", "answer", "remark"];

/// Reads an import file (CSV or xlsx, told apart by its first bytes) with either header,
/// [`IMPORT_HEADER`] or the blank form's [`TEMPLATE_HEADER`], and checks its rows as
/// [`check_answers`] does, naming a bad row by its line.
///
/// # Errors
/// The first problem, with its line: wrong encoding, header or number of cells (from
/// [`crate::table::read`]), an unknown ID, an invalid answer or remark, a row answered twice,
/// then rows left unanswered.
pub fn parse_file(form: &[FormRow], bytes: &[u8]) -> Result<Vec<VendorAnswer>, Message> {
    let format = Format::sniff(bytes);
    match read(bytes, format, &TEMPLATE_HEADER) {
        Ok(rows) => check_answers(form, rows.iter().map(|r| (r.line, r.cell(0), r.cell(3), r.cell(4))), at_line),
        // Only a header that is not the form's own is read again as the short one.
        Err(e) if e.en.starts_with("line 1: the header must be") => {
            let rows = read(bytes, format, &IMPORT_HEADER).map_err(|e| {
                if e.en.starts_with("line 1: the header must be") {
                    at_line(
                        1,
                        &Message::new(
                            format!(
                                "見出しは「{}」（または「{}」）にしてください。",
                                IMPORT_HEADER.join(","),
                                TEMPLATE_HEADER.join(",")
                            ),
                            format!(
                                "the header must be \"{}\" (or \"{}\")",
                                IMPORT_HEADER.join(","),
                                TEMPLATE_HEADER.join(",")
                            ),
                        ),
                    )
                } else {
                    e
                }
            })?;
            parse_import(form, &rows)
        }
        Err(e) => Err(e),
    }
}

/// Checks the rows of an import file (read with [`crate::table::read`] and [`IMPORT_HEADER`])
/// as [`check_answers`] does, naming a bad row by its line.
///
/// # Errors
/// The first problem, with its line.
pub fn parse_import(form: &[FormRow], rows: &[Row]) -> Result<Vec<VendorAnswer>, Message> {
    check_answers(form, rows.iter().map(|r| (r.line, r.cell(0), r.cell(1), r.cell(2))), at_line)
}

/// The risk records a new disclosure opens: version 1, empty, one per いいえ.
#[must_use]
pub fn open_risks(disclosure: &VendorDisclosure, answers: &[VendorAnswer]) -> Vec<VendorRisk> {
    answers
        .iter()
        .filter(|a| a.answer == Answer::No)
        .map(|a| VendorRisk {
            institution: disclosure.institution,
            disclosure: disclosure.id,
            item: a.item.clone(),
            justification: String::new(),
            owner: None,
            mitigation: String::new(),
            expires_on: None,
            version: 1,
            changed_by: disclosure.entered_by,
            changed_at: disclosure.entered_at,
        })
        .collect()
}

/// Whether `d` is current among `all`: no disclosure of the same vendor, product and catalog
/// has a higher generation.
#[must_use]
pub fn is_current(d: &VendorDisclosure, all: &[VendorDisclosure]) -> bool {
    !all.iter().any(|o| {
        o.vendor == d.vendor && o.product == d.product && o.catalog == d.catalog && o.generation > d.generation
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use time::macros::date;

    fn form() -> Vec<FormRow> {
        [("mds-7.0/3", "3"), ("mds-7.0/21+21.1+21.2", "21 / 21.1 / 21.2"), ("mds-7.0/12.4.1", "12.4.1")]
            .iter()
            .map(|(id, n)| FormRow { id: (*id).into(), number: (*n).into() })
            .collect()
    }

    fn import(text: &[u8]) -> Result<Vec<VendorAnswer>, Message> {
        parse_file(&form(), text)
    }

    #[test]
    fn ids_and_printed_numbers_and_answer_spellings_are_accepted() {
        let a = import(
            "id,answer,remark\n21/21.1/21.2,No,冗長化なし\nmds-7.0/3,はい,\n12.4.1,n/a,リモートなし\n".as_bytes(),
        )
        .unwrap();
        assert_eq!(
            a.iter().map(|a| a.item.as_str()).collect::<Vec<_>>(),
            ["mds-7.0/3", "mds-7.0/21+21.1+21.2", "mds-7.0/12.4.1"]
        );
        assert_eq!(a[1].answer, Answer::No);
        assert_eq!(a[1].remark, "冗長化なし");
        assert_eq!(a[2].answer, Answer::NotApplicable);
        let a =
            import("id,answer,remark\n21 / 21.1 / 21.2,いいえ,\n3,YES,\nmds-7.0/12.4.1,対象外,\n".as_bytes()).unwrap();
        assert_eq!(a[0].answer, Answer::Yes);
        // The blank form's header, its number and text columns read past.
        let a = import(
            "id,number,text,answer,remark\nmds-7.0/3,3,離席時…,はい,\nmds-7.0/21+21.1+21.2,21 / 21.1 / 21.2,冗長化,いいえ,予定なし\nmds-7.0/12.4.1,12.4.1,リモート,対象外,\n"
                .as_bytes(),
        )
        .unwrap();
        assert_eq!((a[1].answer, a[1].remark.as_str()), (Answer::No, "予定なし"));
    }

    #[test]
    fn bad_imports_are_refused_with_their_line_and_reason() {
        let e = import(b"id,answer\n3,yes\n").unwrap_err();
        assert_eq!(e.en, "line 1: the header must be \"id,answer,remark\" (or \"id,number,text,answer,remark\")");
        let e = import(b"id,answer,remark\n3,yes,\n12.4.1,no\n").unwrap_err();
        assert_eq!(e.en, "line 3: 2 columns instead of 3");
        let e = import(b"id,number,text,answer,remark\n3,3,t,yes,\n12.4.1,no,\n").unwrap_err();
        assert_eq!(e.en, "line 3: 3 columns instead of 5", "a form's bad row is refused as the form's");
        let e = import(b"id,answer,remark\n3,yes,\n99,yes,\n").unwrap_err();
        assert_eq!(e.en, "line 3: id: not a row of this form (give the item ID or its number)");
        let e = import(b"id,answer,remark\nsds-7.0/3,yes,\n").unwrap_err();
        assert!(e.en.starts_with("line 2: id: not a row"), "another catalog's ID: {}", e.en);
        let e = import(b"id,answer,remark\n3,maybe,\n").unwrap_err();
        assert_eq!(e.en, "line 2: answer: one of はい, いいえ, 対象外 (yes, no, n/a)");
        assert!(!e.ja.contains("maybe") && !e.en.contains("maybe"), "the value is not echoed");
        let e = import(b"id,answer,remark\n3,yes,\n12.4.1,no,\nmds-7.0/3,no,\n").unwrap_err();
        assert_eq!(e.en, "line 4: mds-7.0/3 is answered twice");
        let e = import(b"id,answer,remark\n3,yes,\n").unwrap_err();
        assert_eq!(e.en, "2 rows are not answered: mds-7.0/21+21.1+21.2, mds-7.0/12.4.1");
        // 「はい」 in Shift_JIS.
        let e = import(b"id,answer,remark\n3,\x82\xcd\x82\xa2,\n").unwrap_err();
        assert_eq!(e.en, "line 2: not UTF-8 (convert Shift_JIS files to UTF-8)");
        let e = import(b"id,answer,remark\n3,yes,a\x07b\n").unwrap_err();
        assert!(e.en.starts_with("line 2: remark:"), "{}", e.en);
    }

    #[test]
    fn an_xlsx_form_imports_like_csv() {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        for (c, h) in IMPORT_HEADER.iter().enumerate() {
            sheet.write_string(0, c as u16, *h).unwrap();
        }
        sheet.write_number(1, 0, 3.0).unwrap();
        sheet.write_string(1, 1, "はい").unwrap();
        sheet.write_string(2, 0, "21 / 21.1 / 21.2").unwrap();
        sheet.write_string(2, 1, "いいえ").unwrap();
        sheet.write_string(2, 2, "予定なし").unwrap();
        sheet.write_string(3, 0, "mds-7.0/12.4.1").unwrap();
        sheet.write_string(3, 1, "対象外").unwrap();
        let a = import(&book.save_to_buffer().unwrap()).unwrap();
        assert_eq!(a.len(), 3);
        assert_eq!((a[1].answer, a[1].remark.as_str()), (Answer::No, "予定なし"));
    }

    #[test]
    fn every_no_opens_an_empty_risk_that_completes_and_expires() {
        let u = UserId::from_uuid(uuid::Uuid::from_u128(7));
        let d = VendorDisclosure {
            institution: InstitutionId::from_uuid(uuid::Uuid::from_u128(1)),
            id: VendorDisclosureId::from_uuid(uuid::Uuid::from_u128(2)),
            vendor: "A社".into(),
            product: "電子カルテ".into(),
            product_version: "3.1".into(),
            catalog: "mds-7.0".into(),
            jahis_version: "JAHIS 24-101".into(),
            received_on: date!(2026 - 04 - 01),
            notes: String::new(),
            generation: 1,
            entered_by: Some(u),
            entered_at: OffsetDateTime::UNIX_EPOCH,
        };
        let answers = import(b"id,answer,remark\n3,no,\n21/21.1/21.2,yes,\n12.4.1,no,\n").unwrap();
        let risks = open_risks(&d, &answers);
        assert_eq!(risks.iter().map(|r| r.item.as_str()).collect::<Vec<_>>(), ["mds-7.0/3", "mds-7.0/12.4.1"]);
        let today = date!(2026 - 05 - 01);
        assert_eq!(risks[0].status(today), RiskStatus::Open);
        let filled = VendorRisk {
            justification: "院内で画面ロックを設定".into(),
            owner: Some(u),
            mitigation: "OSのスクリーンロック5分".into(),
            expires_on: Some(date!(2027 - 03 - 31)),
            ..risks[0].clone()
        };
        assert_eq!(filled.status(today), RiskStatus::Complete);
        assert_eq!(filled.status(date!(2027 - 04 - 01)), RiskStatus::Expired);
        let newer = VendorDisclosure {
            generation: 2,
            id: VendorDisclosureId::from_uuid(uuid::Uuid::from_u128(3)),
            ..d.clone()
        };
        let all = [d.clone(), newer.clone()];
        assert!(!is_current(&d, &all) && is_current(&newer, &all));
    }

    #[test]
    fn bad_header_fields_name_the_field() {
        assert!(check_header("", "p", "", "JAHIS 24-101", "").unwrap_err().en.starts_with("vendor:"));
        assert!(check_header("v", "p", "", "", "").unwrap_err().en.starts_with("jahis_version:"));
        assert!(check_header("v", "p\nq", "", "J", "").unwrap_err().en.starts_with("product:"));
        assert!(check_header("v", "p", &"1".repeat(51), "J", "").unwrap_err().en.starts_with("product_version:"));
        assert!(check_risk(&"あ".repeat(4001), "").is_err());
        assert_eq!(check_header(" v ", "p", "", "J", "n\r\n").unwrap().vendor, "v");
    }
}
