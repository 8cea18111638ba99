//! The 保守委託機関編 data (`data/catalogs/hoshu-7.0.toml`, `data/flowcharts/hoshu-7.0-figure-1.toml`)
//! checked against the source text `sources/001_af92fb8030f266ae.txt`.
//!
//! Texts are compared after removing all whitespace (the extraction breaks lines and pads Latin
//! words and digits with spaces) and footnote reference marks (², ³, …, which the data leave out).
//! ch.2 and ch.3 are each read as a whole, in order: headings, items and commentaries must
//! account for every character of the chapter, so nothing is skipped, duplicated or out of order.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use mamori_compliance::flowchart::{self, NodeKind, Step};
use mamori_compliance::{CATALOG_FILES, Catalog, Item};
use std::collections::BTreeSet;
use std::path::Path;

const SOURCE_FILE: &str = "001_af92fb8030f266ae.txt";
const SOURCE: &str = include_str!("../sources/001_af92fb8030f266ae.txt");
const CATALOG_FILE: &str = "hoshu-7.0.toml";
const CATALOG: &str = include_str!("../data/catalogs/hoshu-7.0.toml");

const SUPERSCRIPTS: &str = "⁰¹²³⁴⁵⁶⁷⁸⁹";
const CIRCLED: [char; 10] = ['①', '②', '③', '④', '⑤', '⑥', '⑦', '⑧', '⑨', '⑩'];
const CHECKBOX: &str = r#"<input type="checkbox"/>"#;

/// The subsections of ch.2/ch.3 (sections 1 and 4), whose items are numbered ①, ② … afresh.
const SUBSECTIONS: [(&str, &str); 7] = [
    ("1.1", "安全管理に関する法令の遵守"),
    ("1.2", "医療機関等における責任"),
    ("1.3", "委託における責任"),
    ("1.4", "第三者提供における責任"),
    ("4.1", "統制"),
    ("4.2", "設計"),
    ("4.3", "安全管理対策の点検"),
];

/// Items whose restatement in ch.3 is worded differently from ch.2 (the catalog's `text` follows
/// ch.2, as printed); the catalog notes each of them. Any other difference fails the test.
const CH3_WORDING: [(&str, &str); 18] = [
    (
        "hoshu-7.0/1.1-1",
        "法令上求められる要件（個人情報保護法、e-文書法等）について、必要な技術的対応、手順、資料の作成を行うこと。または、事業者等に提出させて、その内容を確認すること。",
    ),
    (
        "hoshu-7.0/1.2-2",
        "非常時における責任：非常時における業務継続の可否の判断基準等を検討し、BCP（Business Continuity Plan：業務継続計画）を整備すること。",
    ),
    ("hoshu-7.0/1.3-1", "業務の一部等を事業者へ委託する場合は、法令等を遵守し、委託先事業者の選定や管理を適切に行うこと。"),
    (
        "hoshu-7.0/2-3",
        "委託先事業者等において複数の関係者が関与する場合には、その関係を整理し、医療機関等が直接責任分界を取り決める相手方を特定すること。また、関与する関係者への管理なども責任分界の取決めを含めること。さらに、責任分界の取決めの際には、委託先事業者間での役割分担なども含めて、取決め内容に漏れがないよう留意すること。",
    ),
    ("hoshu-7.0/3-2", "事業者から技術的対策等の情報（サービス仕様適合開示書、MDS/SDS 等）を収集すること。"),
    ("hoshu-7.0/4.1-2", "医療情報システム安全管理責任者を設置すること"),
    ("hoshu-7.0/4.2-3", "説明責任等を果たせるよう、法令で求められる医療情報の取扱いに関する証跡を、管理すること。"),
    (
        "hoshu-7.0/5-3",
        "外部保存の委託先事業者選定の際は、プライバシーマーク、ISMS 又はこれと同等の規格の認証を受けている事業者を選定すること。また、安全管理方針、体制、バックアップ状況、信用度、認証（ISMAP やプライバシーマーク、ISMS 等）の取得状況、保存場所を確認し、情報機器等が、国内法の適用及び執行の及ぶ範囲にあることを確実にすること。",
    ),
    (
        "hoshu-7.0/5-4",
        "医療情報の外部保存の委託先事業者との契約に、下記を含むことを事業者を確認すること。
- 事業者が安全管理ガイドラインと「医療情報を取り扱う情報システム・サービスの提供事業者における安全管理ガイドライン」（総務省、経済産業省）の遵守すること
- 許可なく分析等する等の、目的外利用をさせないこと
- 匿名化情報の取扱いの配慮
- 患者アクセス時の権限設定
- 第三者への情報提供は原則患者同意に基づくこと
- 委託契約終了に際しての医療情報の返却とその方法の取り決め
- サーバのセキュリティアップデートを含む保守責任が事業者にあること
- PC 等、端末の保守責任が医療機関等と事業者のいずれにあるか",
    ),
    ("hoshu-7.0/7-1", "医療情報システムの資産管理を行うのに必要な規程類を整備すること。"),
    (
        "hoshu-7.0/7-3",
        "医療情報システムは、可能な限りクラウドサービスを選定し、ソフトウェアアップデート等の保守管理を事業者へ委託すること。(困難な場合は医療機関等自ら、定期的なアップデートを要する。)",
    ),
    ("hoshu-7.0/7-5", "BYOD 端末の利用について、利用許諾条件や管理方法等を規程に含め台帳管理を行うこと。"),
    (
        "hoshu-7.0/8-1",
        "インシデント発生時は、ネットワーク切断、機器隔離、システム停止、バックアップからの復元（複数方式・数世代確保、オフライン管理等が重要）等を行うこと。",
    ),
    (
        "hoshu-7.0/8-2",
        "サイバー攻撃等により医療提供体制に支障が生じるおそれがある場合は、厚生労働省、都道府県警察、他所管官庁等への連絡を行うこと。",
    ),
    (
        "hoshu-7.0/9-4",
        "クライアント端末のアプリケーションログイン時には、令和 9 年度までに二要素認証を採用すること。対応が困難な場合には令和 9 年度以降のシステム更新時に対応可能な事業者を選定すること。",
    ),
    ("hoshu-7.0/10-1", "サーバルーム等のセキュリティ境界への入退室管理（施錠、識別、記録）を行うこと。"),
    (
        "hoshu-7.0/10-5",
        "医療機関等が用いる端末、ネットワーク機器については、医療機関等の責任で脆弱性対応（セキュリティパッチへの対応、マルウェア対策ソフトのパターンファイルの更新、ネットワーク機器のファームウェアの更新等）を行うこと。これらの対応を事業者に委託する場合には、委託内容・範囲を明確にすること。",
    ),
    (
        "hoshu-7.0/10-9",
        "医療情報システムを導入する際には、事業者にも MDS/SDS の提出を求め、本編別紙に示す部分について、「はい」又は「対象外」であることを確認すること。",
    ),
];

// ---- reading the source -------------------------------------------------------------------

/// Without whitespace and footnote reference marks.
fn flat(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace() && !SUPERSCRIPTS.contains(*c)).collect()
}

/// A footnote, printed at the foot of a page (and so, in the extracted text, between the two
/// halves of whatever paragraph the page break split).
fn is_footnote(line: &str) -> bool {
    line.trim_start().chars().next().is_some_and(|c| SUPERSCRIPTS.contains(c))
}

/// The lines between a chapter's heading and the next chapter's heading (the table of contents
/// has the same headings followed by a tab and a page number, so whole lines are matched).
fn chapter(heading: &str, next: &str) -> Vec<&'static str> {
    let lines: Vec<&str> = SOURCE.lines().collect();
    let start = lines.iter().position(|l| l.trim() == heading).unwrap_or_else(|| panic!("no heading {heading}"));
    let end = lines.iter().position(|l| l.trim() == next).unwrap_or_else(|| panic!("no heading {next}"));
    assert!(start < end);
    lines[start + 1..end].to_vec()
}

fn ch2_lines() -> Vec<&'static str> {
    chapter("2. 保守委託機関における遵守項目", "3. 遵守項目解説")
}

/// ch.2 (the table of items) flattened: footnotes, the table header repeated on every page and
/// the checkboxes dropped, so that rows split by a page break meet again.
fn ch2() -> String {
    let lines = ch2_lines();
    let table = lines.iter().position(|l| l.starts_with("項目区分")).unwrap();
    lines[table..]
        .iter()
        .filter(|l| !is_footnote(l) && !l.starts_with("項目区分"))
        .map(|l| flat(&l.replace(CHECKBOX, "")))
        .collect()
}

/// Without a list marker ("- ", " - ", "・ ") at the start.
fn unmarked(line: &str) -> &str {
    line.trim_start_matches(|c: char| c == '-' || c == '・' || c.is_whitespace())
}

/// ch.3 (the commentary) flattened line by line, without list markers and footnotes.
///
/// Page breaks split paragraphs (e.g. in 1.3, 2, 3, 5, 9, 10) and print the page's footnotes in
/// between; dropping the footnote lines brings the halves together again, so every commentary is
/// matched in full (no prefix matching is needed).
fn ch3() -> String {
    chapter("3. 遵守項目解説", "【別紙】 MDS/SDS におけるセキュリティ確認事項")
        .iter()
        .filter(|l| !is_footnote(l))
        .map(|l| flat(unmarked(l)))
        .collect()
}

/// A data text (item or commentary) flattened as [`ch3`] flattens the source: line by line,
/// without list markers; a Markdown table's rows become their cells, its rule is dropped.
fn flat_lines(text: &str) -> String {
    text.lines()
        .filter(|l| !(l.contains('|') && l.chars().all(|c| "|-: ".contains(c))))
        .map(|l| flat(unmarked(l)).replace('|', ""))
        .collect()
}

// ---- reading the catalog ------------------------------------------------------------------

fn catalog() -> Catalog {
    Catalog::parse(CATALOG_FILE, CATALOG).unwrap()
}

/// `1.2` for `hoshu-7.0/1.2-2`, `9` for `hoshu-7.0/9-4`.
fn group(item: &Item) -> &str {
    item.id.strip_prefix("hoshu-7.0/").unwrap().rsplit_once('-').unwrap().0
}

fn ordinal(number: &str) -> usize {
    let mut chars = number.chars();
    let c = chars.next().unwrap();
    assert!(chars.next().is_none(), "{number} is not one circled number");
    CIRCLED.iter().position(|&d| d == c).unwrap_or_else(|| panic!("{number} is not a circled number")) + 1
}

/// The items, grouped by (sub)section, in order.
fn groups(catalog: &Catalog) -> Vec<(String, Vec<&Item>)> {
    let mut groups: Vec<(String, Vec<&Item>)> = Vec::new();
    for item in &catalog.items {
        match groups.last_mut() {
            Some((g, items)) if g.as_str() == group(item) => items.push(item),
            _ => groups.push((group(item).to_owned(), vec![item])),
        }
    }
    groups
}

/// The headings printed before a group's first item: the section's (if the group opens it) and
/// the subsection's (if it is one).
fn headings(catalog: &Catalog, group: &str, opens_section: bool) -> String {
    let section = group.split('.').next().unwrap();
    let mut out = String::new();
    if opens_section {
        let s = catalog.sections.iter().find(|s| s.number == section).unwrap();
        out.push_str(&flat(&format!("{}. {}", s.number, s.title)));
    }
    if let Some((n, title)) = SUBSECTIONS.iter().find(|(n, _)| *n == group) {
        out.push_str(&flat(&format!("{n} {title}")));
    }
    out
}

// ---- the tests ----------------------------------------------------------------------------

#[test]
fn the_catalog_parses_with_11_sections_and_52_items() {
    let catalog = catalog();
    assert!(CATALOG_FILES.contains(&(CATALOG_FILE, CATALOG)));

    let meta = &catalog.catalog;
    assert_eq!(meta.id, "hoshu-7.0");
    assert_eq!(meta.source.document, "医療情報システムの安全管理に関するガイドライン 第7.0版 保守委託機関編");
    assert_eq!(meta.source.version, "7.0");
    assert_eq!(meta.source.publisher, "厚生労働省");
    assert_eq!(meta.source.file, SOURCE_FILE);
    assert!(!meta.source.published.contains("to be filled") && !meta.title.contains("to be filled"));
    let on_disk = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("sources").join(SOURCE_FILE));
    assert_eq!(on_disk.unwrap(), SOURCE);
    // The cover prints the document's title.
    assert!(flat(SOURCE).starts_with(&flat("医療情報システムの安全管理に関するガイドライン 第 7.0 版 保守委託機関編")));

    let numbers: Vec<&str> = catalog.sections.iter().map(|s| s.number.as_str()).collect();
    assert_eq!(numbers, ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"]);
    assert_eq!(catalog.items.len(), 52);
}

#[test]
fn item_ids_are_as_specified() {
    let catalog = catalog();
    let subsections: BTreeSet<&str> = SUBSECTIONS.iter().map(|(n, _)| *n).collect();
    for (group, items) in groups(&catalog) {
        for (i, item) in items.iter().enumerate() {
            // Numbered ①, ② … within the (sub)section, as printed.
            assert_eq!(ordinal(&item.number), i + 1, "{}", item.id);
            assert_eq!(item.id, format!("hoshu-7.0/{group}-{}", i + 1));
            if ["1", "4"].contains(&item.section.as_str()) {
                assert!(subsections.contains(group.as_str()), "{}: sections 1 and 4 have subsections", item.id);
                assert!(group.starts_with(&format!("{}.", item.section)), "{}", item.id);
            } else {
                assert_eq!(group, item.section, "{}", item.id);
            }
        }
    }
    // Each (sub)section appears once, in order.
    let order: Vec<String> = groups(&catalog).into_iter().map(|(g, _)| g).collect();
    let expected = ["1.1", "1.2", "1.3", "1.4", "2", "3", "4.1", "4.2", "4.3", "5", "6", "7", "8", "9", "10", "11"];
    assert_eq!(order, expected);
    assert!(
        catalog.catalog.id == "hoshu-7.0" && catalog.items.iter().any(|i| i.id == "hoshu-7.0/9-4" && i.number == "④")
    );
}

#[test]
fn ch2_holds_52_numbered_items_with_checkboxes() {
    let lines = ch2_lines();
    let checkboxes: usize = lines.iter().map(|l| l.matches(CHECKBOX).count()).sum();
    assert_eq!(checkboxes, 52);
    // Every row with a checkbox starts an item (a circled number) and every circled number has one.
    let circled_rows = lines.iter().filter(|l| l.contains(CHECKBOX) && l.contains(CIRCLED)).count();
    assert_eq!(circled_rows, 52);
    let circled_numbers: usize = lines.iter().map(|l| l.matches(CIRCLED).count()).sum();
    assert_eq!(circled_numbers, 52);
    assert_eq!(catalog().items.len(), circled_numbers);
}

#[test]
fn every_item_text_is_ch2_as_printed_in_order() {
    let catalog = catalog();
    let ch2 = ch2();
    // ch.2, read from the first row to the last: (sub)section headings and items, nothing else.
    let mut rest = ch2.as_str();
    let mut section = "";
    for (group, items) in groups(&catalog) {
        let first = items[0];
        let headings = headings(&catalog, &group, first.section != section);
        section = &first.section;
        rest = rest.strip_prefix(&headings).unwrap_or_else(|| panic!("ch.2: expected {headings} at {rest:.80}"));
        for item in items {
            let expected = format!("{}{}", item.number, flat(&item.text));
            rest = rest
                .strip_prefix(&expected)
                .unwrap_or_else(|| panic!("ch.2: {} is\n{expected}\nnot\n{rest:.200}", item.id));
        }
    }
    assert_eq!(rest, "", "ch.2 goes on after the last item");

    let mut texts = BTreeSet::new();
    for item in &catalog.items {
        let text = flat(&item.text);
        assert_eq!(ch2.matches(&text).count(), 1, "{} occurs once in ch.2", item.id);
        assert!(texts.insert(text), "{} occurs once in the catalog", item.id);
        assert_eq!(item.text.trim(), item.text, "{}", item.id);
        assert!(item.guideline_section.is_none(), "{}", item.id);
    }
}

#[test]
fn every_commentary_is_ch3_as_printed_in_order() {
    let catalog = catalog();
    let ch3 = ch3();
    // ch.3, read from the first heading to 【別紙】: for each (sub)section its headings, the items
    // restated (① …, in ch.2's wording unless listed in CH3_WORDING), then their commentary.
    let mut rest = ch3.as_str();
    let mut section = "";
    let mut commentaries = BTreeSet::new();
    for (group, items) in groups(&catalog) {
        let first = items[0];
        let headings = headings(&catalog, &group, first.section != section);
        section = &first.section;
        rest = rest.strip_prefix(&headings).unwrap_or_else(|| panic!("ch.3: expected {headings} at {rest:.80}"));
        for item in &items {
            let wording = CH3_WORDING.iter().find(|(id, _)| *id == item.id).map_or(item.text.as_str(), |(_, w)| w);
            let expected = format!("{}{}", item.number, flat_lines(wording));
            rest =
                rest.strip_prefix(&expected).unwrap_or_else(|| panic!("ch.3: {} is restated as\n{rest:.200}", item.id));
        }
        // One commentary for the (sub)section, carried by each of its items.
        let commentary = first.commentary.as_deref().unwrap_or_else(|| panic!("{} has no commentary", first.id));
        for item in &items {
            assert_eq!(item.commentary.as_deref(), Some(commentary), "{} shares {}'s commentary", item.id, first.id);
        }
        assert!(!commentary.trim().is_empty(), "{}", first.id);
        assert!(commentary.starts_with("- "), "{}: the commentary is a list", first.id);
        let expected = flat_lines(commentary);
        assert!(ch3.contains(&expected), "{}: the commentary is not in ch.3", first.id);
        rest = rest.strip_prefix(&expected).unwrap_or_else(|| panic!("ch.3: {group}'s commentary is\n{rest:.300}"));
        assert!(commentaries.insert(expected), "{group}'s commentary is another's");
    }
    assert_eq!(rest, "", "ch.3 goes on after the last commentary");

    // Every listed variant is used (no stale entries).
    for (id, wording) in CH3_WORDING {
        let item = catalog.items.iter().find(|i| i.id == id).unwrap();
        assert_ne!(flat_lines(&item.text), flat_lines(wording), "{id} is worded alike in ch.2 and ch.3");
    }
}

#[test]
fn the_flowchart_is_figure_1_as_the_text_gives_it() {
    let chart = flowchart::figure_1().unwrap();
    let meta = &chart.flowchart;
    assert_eq!(meta.source, catalog().catalog.source);
    assert!(SOURCE.lines().any(|l| l.trim() == meta.title), "the caption {} is printed", meta.title);
    let source = flat(SOURCE);
    for note in &meta.notes {
        assert!(source.contains(&flat(note)), "note not in the source: {note}");
    }
    for node in &chart.nodes {
        if node.kind == NodeKind::Question {
            assert!(source.contains(&flat(&node.text)), "question not in the source: {}", node.text);
        }
        for note in &node.notes {
            assert!(source.contains(&flat(note)), "note of {} not in the source: {note}", node.id);
        }
    }

    // The one question the text names, asked first.
    let question = chart.node(&meta.start).unwrap();
    assert_eq!(question.text, "すべてのサーバのセキュリティアップデート責任を事業者に委託している");
    assert_eq!(chart.walk(&[]).unwrap(), Step::Ask(question));

    // YES: this edition applies. NO: it does not (the main guideline does).
    let yes = chart.walk(&[(question.id.clone(), true)]).unwrap();
    let Step::Outcome(yes) = yes else { panic!("YES leads to {yes:?}") };
    assert_eq!(yes.applies, Some(true));
    assert!(yes.notes.iter().any(|n| n.contains("「YES」を選んだ医療機関等を対象とする")));
    let no = chart.walk(&[(question.id.clone(), false)]).unwrap();
    let Step::Outcome(no) = no else { panic!("NO leads to {no:?}") };
    assert_eq!(no.applies, Some(false));
    assert!(no.text.contains("本編の対象とはならない") && no.text.contains("システム運用編"));

    // Every outcome is reached by some answers, and every combination of answers reaches one.
    let questions: Vec<&str> = chart.questions().map(|q| q.id.as_str()).collect();
    let mut reached = BTreeSet::new();
    for bits in 0..1_u32 << questions.len() {
        let answers: Vec<(String, bool)> =
            questions.iter().enumerate().map(|(i, q)| ((*q).to_owned(), (bits >> i) & 1 == 1)).collect();
        match chart.walk(&answers).unwrap() {
            Step::Outcome(node) => {
                reached.insert(node.id.as_str());
            }
            Step::Ask(node) => panic!("all questions answered, still asks {}", node.id),
        }
    }
    let outcomes: BTreeSet<&str> = chart.outcomes().map(|o| o.id.as_str()).collect();
    assert_eq!(reached, outcomes);
    assert_eq!(chart.outcomes().filter(|o| o.applies == Some(true)).count(), 1);
}
