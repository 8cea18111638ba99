//! Patients of an institution (the records issue's first piece): the patient number, the name
//! in kanji and kana, birth date, sex and contact, each checked at the boundary; and the
//! normalization that makes names searchable (hiragana and katakana alike, full-width and
//! half-width ASCII alike, spaces ignored), so that a two-character name such as 「林」「王」
//! or 「リン」 is found as well as a long one.

use crate::{InstitutionId, Message, PatientId, UserId};
use time::{Date, OffsetDateTime};

/// A patient number (患者番号): 1–20 ASCII letters, digits or `-`, unique in its institution.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PatientNumber(String);

impl PatientNumber {
    /// Checks a patient number (full-width digits and letters are accepted and narrowed).
    ///
    /// # Errors
    /// A bilingual message when it breaks the rule.
    pub fn parse(raw: &str) -> Result<Self, Message> {
        let narrowed: String = raw.trim().chars().map(narrow).collect();
        let ok = (1..=20).contains(&narrowed.len()) && narrowed.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if ok {
            Ok(Self(narrowed))
        } else {
            Err(Message::new(
                "患者番号は1〜20文字の英数字と「-」で入力してください。",
                "a patient number has 1 to 20 letters, digits or '-'",
            ))
        }
    }

    /// The number.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A name in kanji (or as written) and in kana, family name first (氏名・フリガナ).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientName {
    /// 姓 as written (kanji, or letters for a foreign name).
    pub family: String,
    /// 名 as written.
    pub given: String,
    /// セイ in katakana (stored in katakana whatever was typed).
    pub family_kana: String,
    /// メイ in katakana.
    pub given_kana: String,
}

fn written(raw: &str) -> Option<String> {
    let t = raw.trim();
    (!t.is_empty() && t.chars().count() <= 50 && !t.chars().any(char::is_control)).then(|| t.to_owned())
}

fn kana(raw: &str) -> Option<String> {
    let t: String = raw.trim().chars().map(to_katakana).collect();
    let ok = !t.is_empty()
        && t.chars().count() <= 50
        && t.chars().all(|c| ('\u{30A1}'..='\u{30FA}').contains(&c) || matches!(c, 'ー' | '・' | '　' | ' '));
    ok.then_some(t)
}

impl PatientName {
    /// Checks a name: each part 1–50 characters, the kana parts in kana only (hiragana is
    /// turned into katakana).
    ///
    /// # Errors
    /// A bilingual message naming the part that is wrong.
    pub fn parse(family: &str, given: &str, family_kana: &str, given_kana: &str) -> Result<Self, Message> {
        let (Some(family), Some(given)) = (written(family), written(given)) else {
            return Err(Message::new(
                "氏名（姓・名）をそれぞれ1〜50文字で入力してください。",
                "give the family and given names, 1 to 50 characters each",
            ));
        };
        let (Some(family_kana), Some(given_kana)) = (kana(family_kana), kana(given_kana)) else {
            return Err(Message::new(
                "フリガナ（セイ・メイ）をカタカナかひらがなで、それぞれ1〜50文字で入力してください。",
                "give the family and given names in kana (katakana or hiragana), 1 to 50 characters each",
            ));
        };
        Ok(Self { family, given, family_kana, given_kana })
    }

    /// The whole name as written, family name first, separated by a space.
    #[must_use]
    pub fn full(&self) -> String {
        format!("{} {}", self.family, self.given)
    }

    /// The text a search matches against: the written name and the kana, normalized.
    #[must_use]
    pub fn search_text(&self) -> String {
        search_key(&format!("{}{}|{}{}", self.family, self.given, self.family_kana, self.given_kana))
    }
}

/// Sex as recorded for administration (HL7 FHIR AdministrativeGender codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sex {
    /// 男
    Male,
    /// 女
    Female,
    /// その他
    Other,
    /// 不明
    Unknown,
}

impl Sex {
    /// Every value.
    pub const ALL: [Self; 4] = [Self::Male, Self::Female, Self::Other, Self::Unknown];

    /// Stable text (the FHIR code).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Male => "male",
            Self::Female => "female",
            Self::Other => "other",
            Self::Unknown => "unknown",
        }
    }

    /// The Japanese label.
    #[must_use]
    pub const fn label_ja(self) -> &'static str {
        match self {
            Self::Male => "男",
            Self::Female => "女",
            Self::Other => "その他",
            Self::Unknown => "不明",
        }
    }

    /// From stable text.
    ///
    /// # Errors
    /// A bilingual message for anything else.
    pub fn parse(raw: &str) -> Result<Self, Message> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw.trim()).ok_or_else(|| {
            Message::new(
                "性別は male / female / other / unknown のいずれかです。",
                "sex is one of male, female, other, unknown",
            )
        })
    }
}

/// Checks a birth date: not after `today`, not before 1880-01-01.
///
/// # Errors
/// A bilingual message otherwise.
pub fn check_birth_date(date: Date, today: Date) -> Result<Date, Message> {
    let earliest = time::macros::date!(1880 - 01 - 01);
    if date < earliest || date > today {
        return Err(Message::new(
            "生年月日が正しくありません（未来の日付や1880年より前は入力できません）。",
            "the birth date is not plausible (not in the future, not before 1880)",
        ));
    }
    Ok(date)
}

/// How to reach the patient; each part optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    /// Telephone: digits, `-`, `+`, `(`, `)` and spaces, at most 20 characters.
    pub phone: Option<String>,
    /// Postal address, at most 200 characters.
    pub address: Option<String>,
}

impl Contact {
    /// Checks the contact details (empty parts become `None`).
    ///
    /// # Errors
    /// A bilingual message naming the part that is wrong.
    pub fn parse(phone: Option<&str>, address: Option<&str>) -> Result<Self, Message> {
        let phone = phone.map(|p| p.trim().chars().map(narrow).collect::<String>()).filter(|p| !p.is_empty());
        if let Some(p) = &phone
            && (p.chars().count() > 20 || !p.chars().all(|c| c.is_ascii_digit() || "-+() ".contains(c)))
        {
            return Err(Message::new(
                "電話番号は数字と「-」「+」「()」で20文字以内にしてください。",
                "a telephone number has at most 20 digits, '-', '+', '(', ')'",
            ));
        }
        let address = address.map(str::trim).filter(|a| !a.is_empty()).map(str::to_owned);
        if address.as_ref().is_some_and(|a| a.chars().count() > 200 || a.chars().any(char::is_control)) {
            return Err(Message::new("住所は200文字以内にしてください。", "an address has at most 200 characters"));
        }
        Ok(Self { phone, address })
    }
}

/// A patient as registered (one version of its identity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patient {
    /// The institution.
    pub institution: InstitutionId,
    /// Its identifier.
    pub id: PatientId,
    /// 患者番号.
    pub number: PatientNumber,
    /// Name in kanji and kana.
    pub name: PatientName,
    /// 生年月日.
    pub birth_date: Date,
    /// 性別.
    pub sex: Sex,
    /// 連絡先.
    pub contact: Contact,
    /// The identity's version: 1 when registered, one more at each change (every version is
    /// kept and audited).
    pub version: u32,
    /// Who registered or last changed it.
    pub changed_by: UserId,
    /// When.
    pub changed_at: OffsetDateTime,
}

/// Full-width ASCII (U+FF01–U+FF5E) and the ideographic space to their narrow forms.
fn narrow(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// Hiragana (U+3041–U+3096) to katakana; anything else unchanged.
fn to_katakana(c: char) -> char {
    match c {
        '\u{3041}'..='\u{3096}' => char::from_u32(u32::from(c) + 0x60).unwrap_or(c),
        _ => c,
    }
}

/// The normal form names and queries are compared in: narrow ASCII, lower case, katakana for
/// hiragana, and no spaces or middle dots. A query matches a name when its key is a substring
/// of the name's [`PatientName::search_text`].
#[must_use]
pub fn search_key(text: &str) -> String {
    text.chars()
        .map(narrow)
        .map(to_katakana)
        .filter(|c| !c.is_whitespace() && *c != '・')
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use time::macros::date;

    #[test]
    fn patient_numbers_are_narrowed_and_checked() {
        assert_eq!(PatientNumber::parse(" ００１２３ ").unwrap().as_str(), "00123");
        assert_eq!(PatientNumber::parse("A-12").unwrap().as_str(), "A-12");
        for bad in ["", "12 34", "番号1", &"1".repeat(21)] {
            assert!(PatientNumber::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_keep_the_writing_and_store_kana_in_katakana() {
        let n = PatientName::parse("林", "一", "はやし", "ハジメ").unwrap();
        assert_eq!((n.family.as_str(), n.family_kana.as_str()), ("林", "ハヤシ"));
        assert_eq!(n.full(), "林 一");
        assert!(PatientName::parse("", "一", "ハヤシ", "ハジメ").is_err());
        assert!(PatientName::parse("林", "一", "Hayashi", "ハジメ").is_err(), "kana only");
        assert!(PatientName::parse("林", "一", "ハヤシ", &"ア".repeat(51)).is_err());
        let foreign = PatientName::parse("Smith", "Anne", "スミス", "アン").unwrap();
        assert_eq!(foreign.full(), "Smith Anne");
    }

    #[test]
    fn two_character_names_are_found_by_kanji_and_kana() {
        let name = PatientName::parse("王", "林", "ワン", "リン").unwrap();
        let text = name.search_text();
        for query in ["王林", "王", "林", "ワン", "りん", "ワンリン", "わん りん"] {
            assert!(text.contains(&search_key(query)), "{query} in {text}");
        }
        assert!(!text.contains(&search_key("田中")));
        assert_eq!(search_key("Ｓｍｉｔｈ　Ａｎｎｅ"), "smithanne");
        assert_eq!(search_key("ヤマダ・ハナコ"), "ヤマダハナコ");
    }

    #[test]
    fn birth_dates_sex_and_contact_are_checked() {
        let today = date!(2026 - 11 - 25);
        assert!(check_birth_date(date!(1950 - 04 - 01), today).is_ok());
        assert!(check_birth_date(date!(2026 - 11 - 26), today).is_err(), "future");
        assert!(check_birth_date(date!(1879 - 12 - 31), today).is_err());
        assert_eq!(Sex::parse("female").unwrap(), Sex::Female);
        assert_eq!(Sex::Female.label_ja(), "女");
        assert!(Sex::parse("f").is_err());
        let c = Contact::parse(Some("０３-１２３４-５６７８"), Some("  ")).unwrap();
        assert_eq!(c.phone.as_deref(), Some("03-1234-5678"));
        assert_eq!(c.address, None);
        assert!(Contact::parse(Some("call me"), None).is_err());
        assert!(Contact::parse(None, Some(&"あ".repeat(201))).is_err());
    }
}
