//! `mamori disclose`: mamori's own MDS/SDS answers (`mamori_compliance::disclosure`).

use crate::{DiscloseArgs, Failure};
use mamori_compliance::disclosure::{self, Answer};
use serde::Serialize;

/// One printed row.
#[derive(Debug, Serialize)]
struct Printed<'a> {
    catalog: &'a str,
    id: &'a str,
    number: &'a str,
    text: &'a str,
    answer: &'static str,
    explanation: &'a str,
    tests: &'a [String],
}

/// `mamori disclose …`
#[allow(clippy::print_stdout)]
pub fn command(args: &DiscloseArgs) -> Result<(), Failure> {
    let d = disclosure::shipped().map_err(Failure::failed)?;
    if let Some(file) = &args.verify_tests {
        let output = std::fs::read_to_string(file).map_err(|e| {
            Failure::refused(format!("{} を読めません（{e}） / cannot read {} ({e})", file.display(), file.display()))
        })?;
        let problems = disclosure::verify_tests(&d, &output);
        let named: usize = d.rows.iter().filter(|r| r.answer == Answer::Yes).map(|r| r.tests.len()).sum();
        if problems.is_empty() {
            println!(
                "自己開示: 「はい」を裏付けるテスト {named} 件すべて合格 / disclosure: all {named} tests behind はい answers passed"
            );
            return Ok(());
        }
        for (row, test, what) in &problems {
            println!("  {row}: {test}: {what}");
        }
        return Err(Failure::failed(format!(
            "「はい」の根拠となるテストのうち {} 件が実行されていないか不合格です / {} tests behind はい answers did not run or did not pass",
            problems.len(),
            problems.len()
        )));
    }
    let catalogs = mamori_compliance::catalogs().map_err(Failure::failed)?;
    let item = |id: &str| catalogs.iter().flat_map(|c| c.items.iter().map(move |i| (c, i))).find(|(_, i)| i.id == id);
    let mut rows = Vec::new();
    for r in &d.rows {
        let (c, i) = item(&r.id).ok_or_else(|| Failure::failed(format!("{}: no such item", r.id)))?;
        rows.push(Printed {
            catalog: &c.catalog.id,
            id: &r.id,
            number: &i.number,
            text: &i.text,
            answer: r.answer.as_str(),
            explanation: &r.explanation,
            tests: &r.tests,
        });
    }
    match args.format.as_str() {
        "json" => println!("{}", serde_json::to_string_pretty(&rows).map_err(Failure::failed)?),
        "md" => {
            println!(
                "# mamori {} 自己開示 / self-disclosure (MDS/SDS, 第7.0版 保守委託機関編【別紙】)\n",
                d.disclosure.version
            );
            for answer in [Answer::Yes, Answer::No, Answer::NotApplicable] {
                let n = d.rows.iter().filter(|r| r.answer == answer).count();
                println!("- {}: {n}", answer.as_str());
            }
            println!("\n| 項目 | 内容 | 回答 | 説明 | テスト |\n| --- | --- | --- | --- | --- |");
            for r in &rows {
                let cell = |s: &str| s.replace('|', "\\|").replace('\n', "<br>");
                println!(
                    "| {} {} | {} | {} | {} | {} |",
                    r.catalog,
                    cell(r.number),
                    cell(r.text),
                    r.answer,
                    cell(r.explanation),
                    r.tests.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join("<br>")
                );
            }
        }
        "xlsx" => {
            let Some(out) = &args.out else {
                return Err(Failure::refused("xlsx には --out FILE が必要です / xlsx needs --out FILE"));
            };
            let bytes = xlsx(&rows, &d.disclosure.version).map_err(Failure::failed)?;
            std::fs::write(out, bytes).map_err(|e| {
                Failure::failed(format!("{} に書けません（{e}） / cannot write {} ({e})", out.display(), out.display()))
            })?;
        }
        other => {
            return Err(Failure::refused(format!(
                "形式「{other}」には対応していません（json, md, xlsx） / unknown format '{other}' (json, md, xlsx)"
            )));
        }
    }
    Ok(())
}

/// The rows as a workbook: one sheet, a header row, one row per MDS/SDS row.
fn xlsx(rows: &[Printed<'_>], version: &str) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, FormatAlign, Workbook};
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("自己開示")?;
    let header =
        Format::new().set_bold().set_background_color("D9E2F3").set_border(rust_xlsxwriter::FormatBorder::Thin);
    let wrap =
        Format::new().set_text_wrap().set_align(FormatAlign::Top).set_border(rust_xlsxwriter::FormatBorder::Thin);
    let title = format!("mamori {version} 自己開示（MDS/SDS 第7.0版 保守委託機関編【別紙】）");
    sheet.write_string_with_format(0, 0, &title, &Format::new().set_bold().set_font_size(14))?;
    let columns = [
        ("カタログ", 10.0),
        ("項目番号", 14.0),
        ("確認事項", 50.0),
        ("回答", 8.0),
        ("説明", 70.0),
        ("根拠となる自動テスト", 60.0),
    ];
    for (c, (name, width)) in (0u16..).zip(columns) {
        sheet.write_string_with_format(2, c, name, &header)?;
        sheet.set_column_width(c, width)?;
    }
    for (r, row) in (3u32..).zip(rows) {
        let cells = [row.catalog, row.number, row.text, row.answer, row.explanation];
        for (c, value) in (0u16..).zip(cells) {
            sheet.write_string_with_format(r, c, value, &wrap)?;
        }
        sheet.write_string_with_format(r, 5, row.tests.join("\n"), &wrap)?;
    }
    let last = u32::try_from(rows.len()).unwrap_or(u32::MAX).saturating_add(2);
    sheet.autofilter(2, 0, last, 5)?;
    sheet.set_freeze_panes(3, 0)?;
    book.save_to_buffer()
}
