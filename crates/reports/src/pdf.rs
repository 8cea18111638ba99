//! The report as a PDF, typeset by typst with the IPAex fonts.
//!
//! The typst source (`report.typ`) is fixed; the report's data goes in as a JSON file it reads
//! (`/data.json`), and the template places every value as a string, so nothing a user typed is
//! ever parsed as typst markup or code. The world typst sees has exactly two files (the
//! template and the data) and the two fonts given: there are no packages (an
//! `@preview/...` import cannot resolve) and nothing is fetched.

use crate::{
    CHECKLIST_NOTE, EvidenceRef, ReportError, ReportInput, ReportItem, answer, day, division, jst, target_date,
};
use mamori_core::assessment::ItemState;
use serde_json::{Value, json};
use std::path::Path;
use typst::diag::{FileError, FileResult, SourceDiagnostic};
use typst::foundations::{Bytes, Datetime, Smart};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};
use typst_layout::PagedDocument;

/// Debian's `fonts-ipaexfont`: IPAexGothic (the `[reports]` configuration's default).
pub const DEBIAN_GOTHIC: &str = mamori_core::config::DEBIAN_IPAEX_GOTHIC;
/// Debian's `fonts-ipaexfont`: IPAexMincho.
pub const DEBIAN_MINCHO: &str = mamori_core::config::DEBIAN_IPAEX_MINCHO;

/// The fonts a PDF is typeset with: IPAexGothic (headings, tables' headings) and IPAexMincho
/// (text).
#[derive(Clone)]
pub struct Fonts {
    fonts: Vec<Font>,
}

impl std::fmt::Debug for Fonts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.fonts.iter().map(|f| f.info().family.as_str()).collect();
        f.debug_struct("Fonts").field("families", &names).finish()
    }
}

impl Fonts {
    /// Reads the two font files.
    ///
    /// # Errors
    /// [`ReportError::Font`] naming the file that is missing, unreadable or not a font.
    pub fn load(gothic: &Path, mincho: &Path) -> Result<Self, ReportError> {
        let mut fonts = Vec::new();
        for path in [gothic, mincho] {
            let bytes = std::fs::read(path)
                .map_err(|e| ReportError::Font { path: path.to_owned(), detail: e.kind().to_string() })?;
            let found: Vec<Font> = Font::iter(Bytes::new(bytes)).collect();
            if found.is_empty() {
                return Err(ReportError::Font { path: path.to_owned(), detail: "not a font file".into() });
            }
            fonts.extend(found);
        }
        Ok(Self { fonts })
    }

    /// Debian's IPAex fonts ([`DEBIAN_GOTHIC`], [`DEBIAN_MINCHO`]).
    ///
    /// # Errors
    /// As [`Fonts::load`].
    pub fn debian() -> Result<Self, ReportError> {
        Self::load(Path::new(DEBIAN_GOTHIC), Path::new(DEBIAN_MINCHO))
    }
}

/// The report as a PDF: a cover (institution, title, period, when it was made), a summary
/// (items per state), the checklist, the evidence per item, the live evidence and the extra
/// sections. The same input gives the same bytes (the document's date and identifier come
/// from the input).
///
/// # Errors
/// [`ReportError::Typeset`] if typst fails (a fault of the template, never of the data).
pub fn pdf(input: &ReportInput, fonts: &Fonts) -> Result<Vec<u8>, ReportError> {
    let document = typeset(input, fonts)?;
    let generated = datetime(input);
    let options = typst_pdf::PdfOptions {
        ident: Smart::Custom(format!("mamori-report-{}", input.assessment.id)),
        creator: Smart::Custom(Some(format!("mamori {}", env!("CARGO_PKG_VERSION")))),
        timestamp: generated.map(typst_pdf::Timestamp::new_utc),
        ..typst_pdf::PdfOptions::default()
    };
    typst_pdf::pdf(&document, &options).map_err(|e| ReportError::Typeset(diagnostics(&e)))
}

/// Typesets the report (the PDF's content before it is written out).
pub(crate) fn typeset(input: &ReportInput, fonts: &Fonts) -> Result<PagedDocument, ReportError> {
    let world = ReportWorld::new(input, fonts)?;
    typst::compile::<PagedDocument>(&world).output.map_err(|e| ReportError::Typeset(diagnostics(&e)))
}

fn diagnostics(errors: &[SourceDiagnostic]) -> String {
    errors.iter().map(|e| e.message.to_string()).collect::<Vec<_>>().join("; ")
}

fn datetime(input: &ReportInput) -> Option<Datetime> {
    let t = input.generated_at.to_offset(time::UtcOffset::UTC);
    Datetime::from_ymd_hms(t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute(), t.second())
}

/// The two files and the fonts typst sees.
struct ReportWorld {
    library: LazyHash<Library>,
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
    main: FileId,
    data_id: FileId,
    source: Source,
    data: Bytes,
    today: Option<Datetime>,
}

fn file_id(path: &str) -> Result<FileId, ReportError> {
    let vpath = VirtualPath::new(path).map_err(|e| ReportError::Typeset(format!("{path}: {e:?}")))?;
    Ok(RootedPath::new(VirtualRoot::Project, vpath).intern())
}

impl ReportWorld {
    fn new(input: &ReportInput, fonts: &Fonts) -> Result<Self, ReportError> {
        let main = file_id("/report.typ")?;
        let data_id = file_id("/data.json")?;
        let data = serde_json::to_vec(&template_data(input)).map_err(|e| ReportError::Typeset(format!("data: {e}")))?;
        Ok(Self {
            library: LazyHash::new(Library::default()),
            book: LazyHash::new(FontBook::from_fonts(&fonts.fonts)),
            fonts: fonts.fonts.clone(),
            main,
            data_id,
            source: Source::new(main, include_str!("report.typ").to_owned()),
            data: Bytes::new(data),
            today: datetime(input),
        })
    }
}

impl World for ReportWorld {
    fn library(&self) -> &LazyHash<Library> {
        &self.library
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &self.book
    }

    fn main(&self) -> FileId {
        self.main
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main { Ok(self.source.clone()) } else { Err(FileError::AccessDenied) }
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if id == self.data_id {
            Ok(self.data.clone())
        } else if id == self.main {
            Ok(Bytes::new(self.source.text().as_bytes().to_vec()))
        } else {
            Err(FileError::AccessDenied)
        }
    }

    fn font(&self, index: usize) -> Option<Font> {
        self.fonts.get(index).cloned()
    }

    fn today(&self, _offset: Option<typst::foundations::Duration>) -> Option<Datetime> {
        self.today
    }
}

/// The data the template reads: every value a string (or a list of them), already in the
/// shape it is shown in.
fn template_data(input: &ReportInput) -> Value {
    let a = &input.assessment;
    let t = input.generated_at.to_offset(time::UtcOffset::UTC);
    let counts: Vec<Value> = ItemState::ALL
        .iter()
        .map(|s| json!([s.label_ja(), input.items.iter().filter(|i| i.state == *s).count().to_string()]))
        .chain(std::iter::once(json!(["合計", input.items.len().to_string()])))
        .collect();
    let mut sections: Vec<Value> = Vec::new();
    let mut current: Option<(&str, String, Vec<Value>)> = None;
    for item in &input.items {
        if current.as_ref().is_none_or(|(s, ..)| *s != item.section) {
            if let Some((_, title, rows)) = current.take() {
                sections.push(json!({"title": title, "rows": rows}));
            }
            current = Some((&item.section, format!("{}. {}", item.section, item.section_title), Vec::new()));
        }
        if let Some((_, _, rows)) = current.as_mut() {
            rows.push(checklist_row(item));
        }
    }
    if let Some((_, title, rows)) = current {
        sections.push(json!({"title": title, "rows": rows}));
    }
    let label = |i: &ReportItem| format!("{} {}（{}）", division(i), i.number, i.id);
    let evidence: Vec<Value> = input
        .items
        .iter()
        .filter(|i| !i.evidence.is_empty())
        .map(|i| {
            let rows: Vec<Value> = i
                .evidence
                .iter()
                .map(|e| {
                    let (place, url) = match &e.kind {
                        EvidenceRef::File { name, sha256 } => (format!("ファイル {name} SHA-256 {sha256}"), ""),
                        EvidenceRef::Link { url } => (url.clone(), url.as_str()),
                    };
                    json!([e.title, format!("第{}版", e.revision), place, day(e.effective), day(e.expires), url])
                })
                .collect();
            json!({"heading": label(i), "rows": rows})
        })
        .collect();
    let live: Vec<Value> = input
        .items
        .iter()
        .filter(|i| !i.live.is_empty())
        .map(|i| json!({"heading": label(i), "lines": i.live}))
        .collect();
    let extra: Vec<Value> = input
        .sections
        .iter()
        .map(|s| {
            let n = s.columns.len();
            let rows: Vec<Vec<String>> =
                s.rows.iter().map(|r| (0..n).map(|c| r.get(c).cloned().unwrap_or_default()).collect()).collect();
            json!({"title": s.title, "columns": s.columns, "rows": rows})
        })
        .collect();
    json!({
        "date": {"year": t.year(), "month": u8::from(t.month()), "day": t.day(), "hour": t.hour(), "minute": t.minute(), "second": t.second()},
        "cover": {
            "title": format!("{} 報告書", a.title),
            "subtitle": "安全管理対策の自己点検（4.3①）",
            "catalog": a.catalog_title,
            "institution": input.institution_name,
            "rows": [
                ["医療機関", input.institution_name],
                ["点検", a.title],
                ["対象期間", format!("{} 〜 {}", a.period_start, a.period_end)],
                ["カタログ", a.catalog],
                ["作成日時", jst(input.generated_at)],
            ],
        },
        "summary": {
            "header": ["状態", "項目数"],
            "rows": counts,
            "note": "チェックは 対応済 を「はい」、未着手・対応中 を「いいえ」（目標日は期限）、対象外 を「対象外」とします。",
        },
        "checklist": {
            "note": CHECKLIST_NOTE,
            "header": ["項番", "遵守項目", "チェック", "確認日", "目標日", "担当者・備考"],
            "sections": sections,
        },
        "evidence_header": ["資料名", "版", "ファイル・URL", "効力発生日", "有効期限"],
        "evidence": evidence,
        "live": live,
        "sections": extra,
        "empty": "なし",
    })
}

fn checklist_row(item: &ReportItem) -> Value {
    let mut remarks = Vec::new();
    if let Some(o) = &item.owner_name {
        remarks.push(format!("担当: {o}"));
    }
    remarks.push(format!("状態: {}", item.state.label_ja()));
    if let Some(d) = item.next_review {
        remarks.push(format!("次回見直し: {d}"));
    }
    if !item.notes.is_empty() {
        remarks.push(item.notes.clone());
    }
    json!([
        format!("{} {}", division(item), item.number),
        item.text,
        answer(item.state),
        day(item.checked_on),
        day(target_date(item)),
        remarks.join("\n")
    ])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;
    use crate::sample;
    use typst::layout::{Frame, FrameItem};

    fn text_of(frame: &Frame, out: &mut String) {
        for (_, item) in frame.items() {
            match item {
                FrameItem::Text(t) => out.push_str(&t.text),
                FrameItem::Group(g) => text_of(&g.frame, out),
                _ => {}
            }
        }
    }

    /// The document's text, page by page (what a reader of the PDF sees).
    fn document_text(doc: &PagedDocument) -> String {
        let mut out = String::new();
        for page in doc.pages() {
            text_of(&page.frame, &mut out);
            out.push('\n');
        }
        out
    }

    fn fonts() -> Fonts {
        Fonts::debian().unwrap()
    }

    #[test]
    fn the_pdf_is_a_pdf_with_the_ipaex_fonts_embedded() {
        let bytes = pdf(&sample::input(), &fonts()).unwrap();
        assert!(bytes.starts_with(b"%PDF-"));
        let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        assert!(has(b"IPAexGothic"), "the gothic face is embedded");
        assert!(has(b"IPAexMincho"), "the mincho face is embedded");
    }

    #[test]
    fn the_pdf_shows_the_cover_summary_checklist_evidence_and_extra_sections() {
        let doc = typeset(&sample::input(), &fonts()).unwrap();
        let text = document_text(&doc);
        for expected in [
            "まもりクリニック",
            "2026年度自己点検報告書",
            "2026-04-01〜2027-03-31",
            "2026-11-2512:04JST",
            "集計",
            "チェックリスト",
            "遵守項目9-4の本文",
            "はい",
            "いいえ",
            "対象外",
            "院内にオンプレミスのサーバはない",
            "二要素認証の設定記録",
            "第二要素が未登録の有効なアカウント:なし",
            "委託先事業者",
            "クラウド電子カルテ株式会社",
        ] {
            // Typst puts spaces between runs differently; compare without them.
            let squeezed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            let wanted: String = expected.chars().filter(|c| !c.is_whitespace()).collect();
            assert!(squeezed.contains(&wanted), "{expected} is missing from:\n{text}");
        }
    }

    #[test]
    fn typst_markup_in_user_text_is_printed_literally_not_run() {
        let mut input = sample::input();
        let hostile = r#"#panic("x") *太字* [link] $x^2$ #set page(width: 1cm) <l> @ref \ _a_"#;
        input.assessment.title = hostile.into();
        input.institution_name = "#read(\"/etc/passwd\")".into();
        input.items[0].notes = "= 見出し\n- 箇条 ]) #let x = 1".into();
        input.sections[0].rows[0][0] = "#import \"@preview/foo:0.1.0\": *".into();
        let doc = typeset(&input, &fonts()).expect("no markup ran: #panic would have failed the typesetting");
        let text: String = document_text(&doc).chars().filter(|c| !c.is_whitespace()).collect();
        for literal in [
            "#panic(\"x\")",
            "*太字*",
            "[link]",
            "$x^2$",
            "#set",
            "#read(\"/etc/passwd\")",
            "=見出し",
            "#import\"@preview/foo:0.1.0\":*",
        ] {
            assert!(text.contains(literal), "{literal} should be printed as written");
        }
        assert!(pdf(&input, &fonts()).unwrap().starts_with(b"%PDF-"));
    }

    #[test]
    fn the_same_input_gives_the_same_bytes() {
        let input = sample::input();
        assert_eq!(pdf(&input, &fonts()).unwrap(), pdf(&input, &fonts()).unwrap());
    }

    #[test]
    fn a_missing_font_is_named_in_a_clear_error() {
        let e = Fonts::load(Path::new("/nonexistent/ipaexg.ttf"), Path::new(DEBIAN_MINCHO)).unwrap_err();
        let shown = e.to_string();
        assert!(shown.contains("/nonexistent/ipaexg.ttf") && shown.contains("fonts-ipaexfont"), "{shown}");
        let e = Fonts::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"), Path::new(DEBIAN_MINCHO))
            .unwrap_err();
        assert!(e.to_string().contains("not a font"), "{e}");
    }
}
