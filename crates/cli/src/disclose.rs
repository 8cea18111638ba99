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
            println!("自己開示: 「はい」を裏付けるテスト {named} 件すべて合格 / disclosure: all {named} tests behind はい answers passed");
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
            println!("# mamori {} 自己開示 / self-disclosure (MDS/SDS, 第7.0版 保守委託機関編【別紙】)\n", d.disclosure.version);
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
        other => {
            return Err(Failure::refused(format!(
                "形式「{other}」には対応していません（json, md） / unknown format '{other}' (json, md)"
            )));
        }
    }
    Ok(())
}
