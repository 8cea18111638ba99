//! The checklist as a workbook in the layout of 保守委託機関編 ch.2 (項目区分 / 遵守項目 /
//! チェック), with the columns of a filled-in checklist: はい/いいえ, 確認日 and 目標日.

use crate::{CHECKLIST_NOTE, EvidenceRef, ReportError, ReportInput, answer, day, division, jst, target_date};
use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Workbook, Worksheet, XlsxError};

/// The checklist sheet's columns: (heading, width).
pub(crate) const COLUMNS: [(&str, f64); 9] = [
    ("項目区分", 8.0),
    ("項番", 6.0),
    ("遵守項目", 70.0),
    ("チェック（はい/いいえ）", 12.0),
    ("確認日", 12.0),
    ("目標日", 12.0),
    ("担当者", 14.0),
    ("状態", 8.0),
    ("備考", 40.0),
];

/// The row of the checklist's column headings (0-based).
pub(crate) const HEADER_ROW: u32 = 4;

/// The report as an xlsx workbook: sheet 「チェックリスト」 (one row per item in catalog order,
/// a row per section before its items), sheet 「根拠資料」 (every evidence revision) and sheet
/// 「mamoriの証跡」 (live evidence).
///
/// # Errors
/// [`ReportError::Xlsx`] if the workbook cannot be written.
pub fn xlsx(input: &ReportInput) -> Result<Vec<u8>, ReportError> {
    let mut book = Workbook::new();
    checklist(book.add_worksheet(), input)?;
    evidence(book.add_worksheet(), input)?;
    live(book.add_worksheet(), input)?;
    Ok(book.save_to_buffer()?)
}

fn header() -> Format {
    Format::new().set_bold().set_background_color("D9E2F3").set_border(FormatBorder::Thin).set_text_wrap()
}

fn cell() -> Format {
    Format::new().set_text_wrap().set_align(FormatAlign::Top).set_border(FormatBorder::Thin)
}

fn checklist(sheet: &mut Worksheet, input: &ReportInput) -> Result<(), XlsxError> {
    sheet.set_name("チェックリスト")?;
    let a = &input.assessment;
    let bold = Format::new().set_bold().set_font_size(14);
    sheet.write_string_with_format(0, 0, format!("{} 2. 保守委託機関における遵守項目", a.catalog_title), &bold)?;
    sheet.write_string(
        1,
        0,
        format!(
            "医療機関: {}　点検: {}（{} 〜 {}）　作成: {}",
            input.institution_name,
            a.title,
            a.period_start,
            a.period_end,
            jst(input.generated_at)
        ),
    )?;
    sheet.write_string(2, 0, CHECKLIST_NOTE)?;
    let header = header();
    for (c, (name, width)) in (0u16..).zip(COLUMNS) {
        sheet.write_string_with_format(HEADER_ROW, c, name, &header)?;
        sheet.set_column_width(c, width)?;
    }
    let cell = cell();
    let section = Format::new().set_bold().set_background_color("F2F2F2").set_border(FormatBorder::Thin);
    let mut row = HEADER_ROW + 1;
    let mut current: Option<&str> = None;
    for item in &input.items {
        if current != Some(item.section.as_str()) {
            current = Some(&item.section);
            sheet.merge_range(row, 0, row, 8, &format!("{}. {}", item.section, item.section_title), &section)?;
            row += 1;
        }
        let cells = [
            division(item),
            item.number.clone(),
            item.text.clone(),
            answer(item.state).to_owned(),
            day(item.checked_on),
            day(target_date(item)),
            item.owner_name.clone().unwrap_or_default(),
            item.state.label_ja().to_owned(),
            item.notes.clone(),
        ];
        for (c, value) in (0u16..).zip(cells) {
            sheet.write_string_with_format(row, c, value, &cell)?;
        }
        row += 1;
    }
    sheet.set_freeze_panes(HEADER_ROW + 1, 0)?;
    Ok(())
}

fn evidence(sheet: &mut Worksheet, input: &ReportInput) -> Result<(), XlsxError> {
    sheet.set_name("根拠資料")?;
    let columns = [
        ("項番", 10.0),
        ("項目ID", 18.0),
        ("資料名", 40.0),
        ("種別", 8.0),
        ("ファイル名・URL", 50.0),
        ("SHA-256", 66.0),
        ("版", 5.0),
        ("効力発生日", 12.0),
        ("有効期限", 12.0),
    ];
    let header = header();
    for (c, (name, width)) in (0u16..).zip(columns) {
        sheet.write_string_with_format(0, c, name, &header)?;
        sheet.set_column_width(c, width)?;
    }
    let cell = cell();
    let mut row = 1u32;
    for item in &input.items {
        for e in &item.evidence {
            let (kind, place, hash) = match &e.kind {
                EvidenceRef::File { name, sha256 } => ("ファイル", name.clone(), sha256.clone()),
                EvidenceRef::Link { url } => ("リンク", url.clone(), String::new()),
            };
            let cells = [
                format!("{} {}", division(item), item.number),
                item.id.clone(),
                e.title.clone(),
                kind.to_owned(),
                place,
                hash,
                e.revision.to_string(),
                day(e.effective),
                day(e.expires),
            ];
            for (c, value) in (0u16..).zip(cells) {
                sheet.write_string_with_format(row, c, value, &cell)?;
            }
            row += 1;
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    Ok(())
}

fn live(sheet: &mut Worksheet, input: &ReportInput) -> Result<(), XlsxError> {
    sheet.set_name("mamoriの証跡")?;
    let header = header();
    for (c, (name, width)) in (0u16..).zip([("項番", 10.0), ("項目ID", 18.0), ("mamori のデータによる証跡", 100.0)])
    {
        sheet.write_string_with_format(0, c, name, &header)?;
        sheet.set_column_width(c, width)?;
    }
    let cell = cell();
    let mut row = 1u32;
    for item in &input.items {
        for line in &item.live {
            sheet.write_string_with_format(row, 0, format!("{} {}", division(item), item.number), &cell)?;
            sheet.write_string_with_format(row, 1, &item.id, &cell)?;
            sheet.write_string_with_format(row, 2, line, &cell)?;
            row += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::sample;
    use calamine::{Data, Reader, Xlsx};

    fn sheet(bytes: &[u8], name: &str) -> Vec<Vec<String>> {
        let mut book: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
        let range = book.worksheet_range(name).unwrap();
        let (rows, cols) = range.get_size();
        let (r0, c0) = range.start().unwrap();
        let mut out = vec![vec![String::new(); cols + c0 as usize]; rows + r0 as usize];
        for (r, row) in range.rows().enumerate() {
            for (c, v) in row.iter().enumerate() {
                out[r + r0 as usize][c + c0 as usize] = match v {
                    Data::String(s) => s.clone(),
                    Data::Empty => String::new(),
                    other => other.to_string(),
                };
            }
        }
        out
    }

    #[test]
    fn the_checklist_has_the_sources_columns_and_one_row_per_item_grouped_by_section() {
        let input = sample::input();
        let bytes = xlsx(&input).unwrap();
        let rows = sheet(&bytes, "チェックリスト");
        assert!(rows[0][0].contains("保守委託機関編"), "{:?}", rows[0]);
        assert!(rows[1][0].contains("まもりクリニック") && rows[1][0].contains("2026年度 自己点検"));
        assert_eq!(rows[2][0], CHECKLIST_NOTE);
        let heads: Vec<&str> = rows[HEADER_ROW as usize].iter().map(String::as_str).collect();
        assert_eq!(heads, COLUMNS.map(|c| c.0).to_vec());
        let body = &rows[HEADER_ROW as usize + 1..];
        // Section 1's row, its two items, section 9's row, its two items, in catalog order.
        assert_eq!(body.len(), 6, "{body:?}");
        assert_eq!(body[0][0], "1. 第1区分");
        assert_eq!((body[1][0].as_str(), body[1][1].as_str()), ("1.1", "①"), "項目区分 is the subsection");
        assert_eq!(body[1][3], "いいえ", "対応中 is いいえ");
        assert_eq!(body[1][5], "2026-09-30", "いいえ carries the due date as 目標日");
        assert_eq!(body[1][4], "2026-05-01", "確認日 is the date of the current version");
        assert_eq!(
            (body[2][0].as_str(), body[2][1].as_str(), body[2][3].as_str()),
            ("1.2", "①", "いいえ"),
            "未着手 is いいえ"
        );
        assert_eq!((body[2][4].as_str(), body[2][5].as_str()), ("", ""), "not checked, no due date");
        assert_eq!(body[3][0], "9. 第9区分");
        assert_eq!(
            (body[4][0].as_str(), body[4][1].as_str(), body[4][3].as_str()),
            ("9", "④", "はい"),
            "対応済 is はい"
        );
        assert_eq!(body[4][5], "", "はい has no 目標日");
        assert_eq!((body[5][1].as_str(), body[5][3].as_str()), ("⑤", "対象外"));
        assert_eq!(body[5][8], "院内にオンプレミスのサーバはない", "the reason is the 備考");
        assert_eq!(body[4][2], "遵守項目 9-4 の本文");
        assert_eq!(body[4][7], "対応済");
    }

    #[test]
    fn evidence_and_live_evidence_have_their_sheets() {
        let bytes = xlsx(&sample::input()).unwrap();
        let ev = sheet(&bytes, "根拠資料");
        assert_eq!(ev.len(), 3, "a heading row and two revisions");
        assert_eq!(ev[1][2], "二要素認証の設定記録");
        assert_eq!((ev[1][3].as_str(), ev[1][4].as_str()), ("ファイル", "2fa.pdf"));
        assert_eq!(ev[1][5], "ab".repeat(32));
        assert_eq!(
            (ev[2][3].as_str(), ev[2][4].as_str(), ev[2][6].as_str()),
            ("リンク", "https://example.jp/policy.pdf", "2")
        );
        assert_eq!(ev[2][8], "2027-03-31");
        let live = sheet(&bytes, "mamoriの証跡");
        assert_eq!(live[1][1], "hoshu-7.0/9-4");
        assert!(live[1][2].contains("第二要素"));
    }
}
