//! The compliance workbench's registers (台帳・一覧): the system inventory (情報システム一覧,
//! 保守委託機関編 ch.3 §2's example table), the responsibility demarcation (責任分界) per
//! checklist item, the asset, BYOD and IoT ledgers (7②⑤⑥), the incident contacts (8②), the
//! BCP, records of third-party provision (第三者提供) and the patient notices (004 ch.2).
//!
//! One mechanism serves every kind: each [`RegisterKind`] has a static schema of
//! [`FieldSpec`]s, and [`check`] validates and normalizes an entry's fields against it. An entry
//! is versioned: a change is a new version, retiring (廃止) is a new version marked retired with
//! its reason, and no version is ever changed.

use crate::master::parse_date;
use crate::user::text_enum;
use crate::{InstitutionId, Message, RegisterEntryId, UserId};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use time::{Date, OffsetDateTime};

text_enum!(
    /// What a register lists.
    RegisterKind {
        /// 情報システム一覧
        System = "system",
        /// 責任分界
        Demarcation = "demarcation",
        /// 情報機器台帳
        Asset = "asset",
        /// 私物端末（BYOD）
        Byod = "byod",
        /// IoT機器
        Iot = "iot",
        /// 連絡体制・連絡先
        Contact = "contact",
        /// BCP・事業継続計画
        Bcp = "bcp",
        /// 第三者提供の記録
        ThirdParty = "third_party",
        /// 患者への通知・公表
        PatientNotice = "patient_notice",
    }
);

/// What a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// One line of at most `max` characters.
    Text {
        /// The longest value.
        max: usize,
    },
    /// Text with line breaks, at most [`LONG_TEXT_MAX`] characters.
    LongText,
    /// A day, `YYYY-MM-DD`.
    Date,
    /// One of a list: (stored value, Japanese label, English label).
    Choice(&'static [(&'static str, &'static str, &'static str)]),
    /// `yes` or `no` (はい / いいえ are read as them).
    YesNo,
    /// A catalog item ID (`hoshu-7.0/9-4`); whether it exists is the caller's check.
    CatalogItem,
    /// The ID of an entry of another register.
    Ref(RegisterKind),
}

/// One field of a register's schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    /// Its name (the CSV column, the JSON key).
    pub name: &'static str,
    /// Japanese label.
    pub label_ja: &'static str,
    /// English label.
    pub label_en: &'static str,
    /// What it holds.
    pub kind: FieldKind,
    /// Whether it must have a value.
    pub required: bool,
}

/// The longest long text.
pub const LONG_TEXT_MAX: usize = 4000;

/// The longest retirement reason.
pub const REASON_MAX: usize = 500;

const fn f(name: &'static str, ja: &'static str, en: &'static str, kind: FieldKind, required: bool) -> FieldSpec {
    FieldSpec { name, label_ja: ja, label_en: en, kind, required }
}

const NAME: FieldKind = FieldKind::Text { max: 200 };
const SHORT: FieldKind = FieldKind::Text { max: 100 };
const LINE: FieldKind = FieldKind::Text { max: 500 };

const SYSTEM: &[FieldSpec] = &[
    f("name", "導入している医療情報システム", "System", NAME, true),
    f("category", "種別（電子カルテ、レセコン、PACS 等）", "Category", SHORT, false),
    f("vendor", "委託先事業者", "Vendor", NAME, true),
    f("product", "製品名・サービス名", "Product", NAME, false),
    f("version", "版", "Version", SHORT, false),
    f("location", "設置場所（院内・クラウド等）", "Location", SHORT, false),
    f("delegated_work", "委託業務概要", "Delegated work", FieldKind::LongText, false),
    f("contract_ref", "契約書・SLA の該当条項", "Contract / SLA reference", LINE, false),
    f("notes", "備考", "Notes", FieldKind::LongText, false),
];

/// The parties of a demarcation.
pub const PARTIES: &[(&str, &str, &str)] =
    &[("institution", "医療機関", "Institution"), ("vendor", "事業者", "Vendor"), ("shared", "共同", "Shared")];

const DEMARCATION: &[FieldSpec] = &[
    f("system", "医療情報システム", "System", FieldKind::Ref(RegisterKind::System), true),
    f("item", "遵守項目（hoshu-7.0/9-4 等）", "Checklist item", FieldKind::CatalogItem, true),
    f("party", "責任を負う者", "Responsible party", FieldKind::Choice(PARTIES), true),
    f("basis", "根拠（契約・SLA の条項）", "Basis (contract / SLA)", LINE, false),
    f("notes", "備考", "Notes", FieldKind::LongText, false),
];

const ASSET_TYPES: &[(&str, &str, &str)] = &[
    ("server", "サーバ", "Server"),
    ("pc", "PC", "PC"),
    ("tablet", "タブレット・スマートフォン", "Tablet / phone"),
    ("network", "ネットワーク機器", "Network device"),
    ("storage", "記録媒体・ストレージ", "Storage / media"),
    ("medical_device", "医療機器", "Medical device"),
    ("other", "その他", "Other"),
];

const ASSET: &[FieldSpec] = &[
    f("name", "機器名", "Name", NAME, true),
    f("asset_type", "種別", "Type", FieldKind::Choice(ASSET_TYPES), true),
    f("location", "所在", "Location", SHORT, false),
    f("manager", "管理者", "Manager", SHORT, false),
    f("serial", "製造番号・資産番号", "Serial / asset number", SHORT, false),
    f("acquired_on", "導入日", "Acquired on", FieldKind::Date, false),
    f("disposal_on", "廃棄予定日", "Disposal due", FieldKind::Date, false),
    f("holds_medical_info", "医療情報を保存する", "Holds medical information", FieldKind::YesNo, false),
    f("notes", "備考", "Notes", FieldKind::LongText, false),
];

const BYOD: &[FieldSpec] = &[
    f("user_name", "利用者", "User", SHORT, true),
    f("device", "端末", "Device", NAME, true),
    f("purpose", "利用目的", "Purpose", LINE, true),
    f("approved_on", "許可日", "Approved on", FieldKind::Date, true),
    f("expires_on", "許可の期限", "Approval expires on", FieldKind::Date, false),
    f("conditions", "利用許諾条件・管理方法", "Conditions and management", FieldKind::LongText, false),
    f("notes", "備考", "Notes", FieldKind::LongText, false),
];

const IOT: &[FieldSpec] = &[
    f("name", "機器名", "Name", NAME, true),
    f("maker", "製造元", "Maker", SHORT, false),
    f("model", "型番", "Model", SHORT, false),
    f("location", "所在・貸出先", "Location / lent to", SHORT, false),
    f("network", "接続するネットワーク", "Network", SHORT, false),
    f("firmware", "ファームウェアの版", "Firmware", SHORT, false),
    f("support_ends_on", "サポート終了日", "Support ends on", FieldKind::Date, false),
    f("notes", "備考", "Notes", FieldKind::LongText, false),
];

const CONTACT_CATEGORIES: &[(&str, &str, &str)] = &[
    ("mhlw", "厚生労働省", "MHLW"),
    ("police", "警察", "Police"),
    ("vendor", "事業者", "Vendor"),
    ("internal", "院内", "Internal"),
    ("other", "その他（所管官庁等）", "Other"),
];

const CONTACT: &[FieldSpec] = &[
    f("organization", "連絡先（機関・部署）", "Organization", NAME, true),
    f("category", "区分", "Category", FieldKind::Choice(CONTACT_CATEGORIES), true),
    f("person", "担当者", "Person", SHORT, false),
    f("phone", "電話", "Phone", SHORT, false),
    f("email", "メール", "Email", NAME, false),
    f("when", "連絡する場面", "When to contact", FieldKind::LongText, false),
    f("reporting_duty", "8② の報告先（サイバー攻撃等）", "Reporting duty of 8②", FieldKind::YesNo, false),
    f("notes", "備考", "Notes", FieldKind::LongText, false),
];

const BCP: &[FieldSpec] = &[
    f("title", "文書名", "Title", NAME, true),
    f("version", "版", "Version", SHORT, true),
    f("approved_on", "承認日", "Approved on", FieldKind::Date, false),
    f("review_due", "次回見直し期限", "Review due", FieldKind::Date, true),
    f("document", "保管場所・URL", "Where it is kept", LINE, false),
    f("owner", "責任者", "Owner", SHORT, false),
    f("notes", "備考", "Notes", FieldKind::LongText, false),
];

const BASES: &[(&str, &str, &str)] = &[
    ("consent", "本人同意", "Consent"),
    ("law", "法令に基づく", "Required by law"),
    ("opt_out", "オプトアウト", "Opt-out"),
    ("other", "その他", "Other"),
];

const THIRD_PARTY: &[FieldSpec] = &[
    f("provided_on", "提供日", "Provided on", FieldKind::Date, true),
    f("recipient", "提供先", "Recipient", NAME, true),
    f("items", "提供した項目", "Items provided", FieldKind::LongText, true),
    f("basis", "根拠", "Basis", FieldKind::Choice(BASES), true),
    f("patient_ref", "患者番号等", "Patient reference", SHORT, false),
    f("retention_until", "記録の保存期限", "Keep the record until", FieldKind::Date, false),
    f("notes", "備考", "Notes", FieldKind::LongText, false),
];

const METHODS: &[(&str, &str, &str)] = &[
    ("posting", "院内掲示", "Posting"),
    ("website", "ウェブサイト", "Website"),
    ("document", "書面", "Document"),
    ("other", "その他", "Other"),
];

const PATIENT_NOTICE: &[FieldSpec] = &[
    f("title", "表題", "Title", NAME, true),
    f("method", "方法", "Method", FieldKind::Choice(METHODS), true),
    f("published_on", "公表日", "Published on", FieldKind::Date, true),
    f("reviewed_on", "最終見直し日", "Reviewed on", FieldKind::Date, false),
    f("summary", "内容の要旨", "Summary", FieldKind::LongText, false),
    f("notes", "備考", "Notes", FieldKind::LongText, false),
];

impl RegisterKind {
    /// Japanese name.
    #[must_use]
    pub const fn label_ja(self) -> &'static str {
        match self {
            Self::System => "情報システム一覧",
            Self::Demarcation => "責任分界",
            Self::Asset => "情報機器台帳",
            Self::Byod => "私物端末（BYOD）台帳",
            Self::Iot => "IoT機器台帳",
            Self::Contact => "連絡体制・連絡先",
            Self::Bcp => "BCP・事業継続計画",
            Self::ThirdParty => "第三者提供の記録",
            Self::PatientNotice => "患者への通知・公表",
        }
    }

    /// English name.
    #[must_use]
    pub const fn label_en(self) -> &'static str {
        match self {
            Self::System => "System inventory",
            Self::Demarcation => "Responsibility demarcation",
            Self::Asset => "Asset ledger",
            Self::Byod => "BYOD ledger",
            Self::Iot => "IoT devices",
            Self::Contact => "Incident contacts",
            Self::Bcp => "Business continuity plan",
            Self::ThirdParty => "Third-party provision records",
            Self::PatientNotice => "Patient notices",
        }
    }

    /// Its fields, in order (the CSV header's order).
    #[must_use]
    pub const fn schema(self) -> &'static [FieldSpec] {
        match self {
            Self::System => SYSTEM,
            Self::Demarcation => DEMARCATION,
            Self::Asset => ASSET,
            Self::Byod => BYOD,
            Self::Iot => IOT,
            Self::Contact => CONTACT,
            Self::Bcp => BCP,
            Self::ThirdParty => THIRD_PARTY,
            Self::PatientNotice => PATIENT_NOTICE,
        }
    }

    /// The field names, in order.
    #[must_use]
    pub fn header(self) -> Vec<&'static str> {
        self.schema().iter().map(|s| s.name).collect()
    }

    /// The fields two live entries may not share (a demarcation's system and item), if any.
    #[must_use]
    pub const fn unique_key(self) -> Option<&'static [&'static str]> {
        match self {
            Self::Demarcation => Some(&["system", "item"]),
            _ => None,
        }
    }

    /// The field that names an entry on pages (its first field).
    #[must_use]
    pub fn title_field(self) -> &'static str {
        self.schema().first().map_or("", |s| s.name)
    }
}

/// An entry's fields, checked: every value non-empty and in normal form (trimmed, dates
/// `YYYY-MM-DD`, yes/no as `yes`/`no`); an empty field is absent.
pub type Fields = BTreeMap<String, String>;

fn field_error(field: &FieldSpec, ja: &str, en: &str) -> Message {
    Message::new(format!("{}（{}）: {ja}", field.name, field.label_ja), format!("{}: {en}", field.name))
}

fn normal_long(raw: &str) -> String {
    raw.replace("\r\n", "\n").replace('\r', "\n").trim().to_owned()
}

fn check_value(spec: &FieldSpec, raw: &str, known_item: &dyn Fn(&str) -> bool) -> Result<String, Message> {
    match spec.kind {
        FieldKind::Text { max } => {
            if raw.chars().count() > max || raw.chars().any(char::is_control) {
                return Err(field_error(
                    spec,
                    &format!("{max}文字以内の1行で入力してください。"),
                    &format!("one line of at most {max} characters"),
                ));
            }
            Ok(raw.to_owned())
        }
        FieldKind::LongText => {
            if raw.chars().count() > LONG_TEXT_MAX || raw.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                return Err(field_error(
                    spec,
                    &format!("{LONG_TEXT_MAX}文字以内で、制御文字を含めないでください。"),
                    &format!("at most {LONG_TEXT_MAX} characters, no control characters"),
                ));
            }
            Ok(raw.to_owned())
        }
        FieldKind::Date => parse_date(raw).map(|d| d.to_string()).map_err(|_| {
            field_error(spec, "日付は YYYY-MM-DD の形で入力してください。", "a date is written YYYY-MM-DD")
        }),
        FieldKind::Choice(choices) => {
            choices.iter().find(|(v, ..)| *v == raw).map(|(v, ..)| (*v).to_owned()).ok_or_else(|| {
                let list = choices.iter().map(|(v, ..)| *v).collect::<Vec<_>>().join(", ");
                field_error(spec, &format!("次のいずれかにしてください: {list}"), &format!("one of: {list}"))
            })
        }
        FieldKind::YesNo => match raw {
            "yes" | "はい" => Ok("yes".to_owned()),
            "no" | "いいえ" => Ok("no".to_owned()),
            _ => Err(field_error(spec, "yes または no にしてください。", "yes or no")),
        },
        FieldKind::CatalogItem => {
            let shaped = raw.chars().count() <= 100 && raw.contains('/') && !raw.chars().any(char::is_control);
            if !shaped || !known_item(raw) {
                return Err(field_error(
                    spec,
                    "チェックリストにない項目です（hoshu-7.0/9-4 の形）。",
                    "not an item of the checklist (like hoshu-7.0/9-4)",
                ));
            }
            Ok(raw.to_owned())
        }
        FieldKind::Ref(kind) => raw.parse::<RegisterEntryId>().map(|id| id.to_string()).map_err(|_| {
            field_error(
                spec,
                &format!("{}の項目のIDを指定してください。", kind.label_ja()),
                &format!("the id of an entry of the {} register", kind.as_str()),
            )
        }),
    }
}

/// Checks and normalizes an entry's fields against its kind's schema: unknown names are
/// refused, required fields must have a value, one-line texts have their length limit and no
/// control characters, dates are `YYYY-MM-DD`, choices come from their list, a reference is an
/// entry ID and a catalog item one `known_item` accepts. Values are trimmed; empty ones are
/// left out. A few fields are checked against each other (an expiry after its approval).
///
/// # Errors
/// A bilingual message naming the field (never its value).
pub fn check(
    kind: RegisterKind,
    raw: &BTreeMap<String, String>,
    known_item: &dyn Fn(&str) -> bool,
) -> Result<Fields, Message> {
    let schema = kind.schema();
    if let Some(unknown) = raw.keys().find(|k| !schema.iter().any(|s| s.name == k.as_str())) {
        let known = kind.header().join(", ");
        let name: String = unknown.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(40).collect();
        return Err(Message::new(
            format!("{name}: {}にない項目です（{known}）。", kind.label_ja()),
            format!("{name}: not a field of the {} register ({known})", kind.as_str()),
        ));
    }
    let mut fields = Fields::new();
    for spec in schema {
        let value = raw.get(spec.name).map(|v| normal_long(v)).unwrap_or_default();
        if value.is_empty() {
            if spec.required {
                return Err(field_error(spec, "入力してください。", "required"));
            }
            continue;
        }
        fields.insert(spec.name.to_owned(), check_value(spec, &value, known_item)?);
    }
    let order = |first: &str, then: &str, ja: &str, en: &str| -> Result<(), Message> {
        match (fields.get(first), fields.get(then)) {
            (Some(a), Some(b)) if b < a => Err(Message::new(ja, en)),
            _ => Ok(()),
        }
    };
    order(
        "approved_on",
        "expires_on",
        "expires_on: 許可の期限は許可日以後にしてください。",
        "expires_on: on or after approved_on",
    )?;
    order(
        "acquired_on",
        "disposal_on",
        "disposal_on: 廃棄予定日は導入日以後にしてください。",
        "disposal_on: on or after acquired_on",
    )?;
    Ok(fields)
}

/// Checks a retirement reason: one line of 1 to [`REASON_MAX`] characters.
///
/// # Errors
/// A bilingual message naming the field.
pub fn check_reason(raw: &str) -> Result<String, Message> {
    let t = raw.trim();
    let n = t.chars().count();
    if n == 0 || n > REASON_MAX || t.chars().any(char::is_control) {
        return Err(Message::new(
            format!("retire: 廃止の理由を1〜{REASON_MAX}文字の1行で入力してください。"),
            format!("retire: a reason of 1 to {REASON_MAX} characters on one line"),
        ));
    }
    Ok(t.to_owned())
}

/// The fields as canonical JSON (keys sorted): what the store keeps.
#[must_use]
pub fn to_json(fields: &Fields) -> String {
    serde_json::to_string(fields).unwrap_or_else(|_| "{}".to_owned())
}

/// Fields from their JSON.
///
/// # Errors
/// A message when the text is not a JSON object of strings.
pub fn from_json(text: &str) -> Result<BTreeMap<String, String>, Message> {
    serde_json::from_str(text)
        .map_err(|_| Message::new("項目の JSON が読めません。", "the fields are not a JSON object of strings"))
}

/// What needs acting on in an entry, as of `today`: a BCP past its review, a BYOD approval
/// past its expiry, an IoT device past its support, an asset past its disposal date, a patient
/// notice not reviewed for more than a year, a third-party record past its retention.
#[must_use]
pub fn attention(kind: RegisterKind, fields: &Fields, today: Date) -> Option<Message> {
    let day = |name: &str| fields.get(name).and_then(|v| parse_date(v).ok());
    let past = |name: &str| day(name).is_some_and(|d| d < today);
    match kind {
        RegisterKind::Bcp if past("review_due") => {
            Some(Message::new("見直し期限を過ぎています。", "past its review date"))
        }
        RegisterKind::Byod if past("expires_on") => {
            Some(Message::new("利用許可の期限を過ぎています。", "the approval has expired"))
        }
        RegisterKind::Iot if past("support_ends_on") => {
            Some(Message::new("サポートが終了しています。", "no longer supported by its maker"))
        }
        RegisterKind::Asset if past("disposal_on") => {
            Some(Message::new("廃棄予定日を過ぎています。", "past its disposal date"))
        }
        RegisterKind::ThirdParty if past("retention_until") => {
            Some(Message::new("記録の保存期限を過ぎています。", "past its retention date"))
        }
        RegisterKind::PatientNotice => {
            let last = day("reviewed_on").or_else(|| day("published_on"))?;
            let year_later = last.replace_year(last.year() + 1).unwrap_or(last);
            (year_later < today).then(|| Message::new("1年以上見直されていません。", "not reviewed for over a year"))
        }
        _ => None,
    }
}

/// One version of a register entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterEntry {
    /// The institution.
    pub institution: InstitutionId,
    /// The entry (its versions share it).
    pub id: RegisterEntryId,
    /// Its register.
    pub kind: RegisterKind,
    /// 1, 2, …
    pub version: u32,
    /// Its fields as [`check`] leaves them.
    pub fields: Fields,
    /// Retired (廃止) by this version, with the reason.
    pub retired: Option<String>,
    /// Who wrote this version (none for an operator's import at the command line).
    pub author: Option<UserId>,
    /// When.
    pub at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use time::macros::date;

    fn raw(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn any(_: &str) -> bool {
        true
    }

    #[test]
    fn every_kind_has_a_schema_with_unique_names_and_a_required_first_field() {
        for kind in RegisterKind::ALL {
            let header = kind.header();
            let mut sorted = header.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), header.len(), "{kind}");
            assert!(kind.schema()[0].required, "{kind}");
            assert_eq!(kind.as_str().parse::<RegisterKind>().unwrap(), *kind);
        }
    }

    #[test]
    fn fields_are_trimmed_normalized_and_empty_ones_left_out() {
        let f = check(
            RegisterKind::Contact,
            &raw(&[
                ("organization", "  厚生労働省 医政局  "),
                ("category", "mhlw"),
                ("reporting_duty", "はい"),
                ("when", "サイバー攻撃で\r\n診療に支障"),
                ("phone", ""),
            ]),
            &any,
        )
        .unwrap();
        assert_eq!(f["organization"], "厚生労働省 医政局");
        assert_eq!(f["reporting_duty"], "yes");
        assert_eq!(f["when"], "サイバー攻撃で\n診療に支障");
        assert!(!f.contains_key("phone"));
        assert_eq!(from_json(&to_json(&f)).unwrap(), f, "canonical JSON round-trips");
    }

    #[test]
    fn each_kind_of_bad_field_is_refused_naming_the_field() {
        let sys = |pairs: &[(&str, &str)]| check(RegisterKind::System, &raw(pairs), &any);
        let e = sys(&[("name", "電子カルテ"), ("vendor", "A社"), ("colour", "x")]).unwrap_err();
        assert!(e.en.starts_with("colour: not a field"), "{}", e.en);
        let e = sys(&[("name", "電子カルテ")]).unwrap_err();
        assert_eq!(e.en, "vendor: required");
        let e = sys(&[("name", "電子カルテ"), ("vendor", "A社\tB")]).unwrap_err();
        assert!(e.en.starts_with("vendor: one line"), "{}", e.en);
        let e = sys(&[("name", &"あ".repeat(201)), ("vendor", "A社")]).unwrap_err();
        assert!(e.en.starts_with("name: one line of at most 200"), "{}", e.en);
        let e = sys(&[("name", "x"), ("vendor", "A社"), ("notes", &"あ".repeat(4001))]).unwrap_err();
        assert!(e.en.starts_with("notes: at most 4000"), "{}", e.en);
        let bcp = |due: &str| {
            check(RegisterKind::Bcp, &raw(&[("title", "BCP"), ("version", "1"), ("review_due", due)]), &any)
        };
        assert_eq!(bcp("2027/03/31").unwrap_err().en, "review_due: a date is written YYYY-MM-DD");
        assert!(bcp("2027-02-30").is_err());
        assert_eq!(bcp("2027-03-31").unwrap()["review_due"], "2027-03-31");
        let asset = |t: &str| check(RegisterKind::Asset, &raw(&[("name", "受付PC"), ("asset_type", t)]), &any);
        assert!(asset("laptop").unwrap_err().en.starts_with("asset_type: one of: server, pc"));
        assert!(asset("pc").is_ok());
        let e = check(
            RegisterKind::Asset,
            &raw(&[("name", "受付PC"), ("asset_type", "pc"), ("holds_medical_info", "maybe")]),
            &any,
        )
        .unwrap_err();
        assert_eq!(e.en, "holds_medical_info: yes or no");
        let dem = |system: &str, item: &str, known: &dyn Fn(&str) -> bool| {
            check(RegisterKind::Demarcation, &raw(&[("system", system), ("item", item), ("party", "vendor")]), known)
        };
        let sys_id = "00000000-0000-4000-8000-000000000001";
        assert!(dem("電子カルテ", "hoshu-7.0/9-4", &any).unwrap_err().en.starts_with("system: the id of an entry"));
        let only_9_4 = |i: &str| i == "hoshu-7.0/9-4";
        assert!(dem(sys_id, "hoshu-7.0/99-1", &only_9_4).unwrap_err().en.starts_with("item: not an item"));
        assert!(dem(sys_id, "hoshu-7.0/9-4", &only_9_4).is_ok());
        let byod = check(
            RegisterKind::Byod,
            &raw(&[
                ("user_name", "山田"),
                ("device", "iPhone"),
                ("purpose", "当直連絡"),
                ("approved_on", "2026-04-01"),
                ("expires_on", "2026-03-01"),
            ]),
            &any,
        );
        assert!(byod.unwrap_err().en.starts_with("expires_on: on or after"));
        assert!(check_reason("").is_err() && check_reason("a\nb").is_err() && check_reason(" 更新のため ").is_ok());
        assert!(from_json("[1]").is_err());
    }

    #[test]
    fn attention_marks_what_is_past_its_date() {
        let today = date!(2026 - 11 - 25);
        let bcp = |due: &str| {
            let f = check(RegisterKind::Bcp, &raw(&[("title", "BCP"), ("version", "1"), ("review_due", due)]), &any)
                .unwrap();
            attention(RegisterKind::Bcp, &f, today)
        };
        assert!(bcp("2026-11-24").is_some());
        assert!(bcp("2026-11-25").is_none());
        let notice = |published: &str| {
            let f = check(
                RegisterKind::PatientNotice,
                &raw(&[("title", "掲示"), ("method", "posting"), ("published_on", published)]),
                &any,
            )
            .unwrap();
            attention(RegisterKind::PatientNotice, &f, today)
        };
        assert!(notice("2025-11-01").is_some());
        assert!(notice("2026-01-01").is_none());
        let iot =
            check(RegisterKind::Iot, &raw(&[("name", "血圧計"), ("support_ends_on", "2025-12-31")]), &any).unwrap();
        assert!(attention(RegisterKind::Iot, &iot, today).is_some());
        assert!(attention(RegisterKind::System, &Fields::new(), today).is_none());
    }
}
