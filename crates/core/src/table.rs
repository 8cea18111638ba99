//! Tabular import files (CSV and xlsx), read whole before anything is used.
//!
//! Every import mamori takes (masters, vendor disclosures, the workbench's registers) is a table
//! with a fixed header. [`read`] checks the header and the shape of every row and returns the
//! rows with their line numbers (the CSV line, or the spreadsheet row), so that each import can
//! then refuse a bad row by its line ([`at_line`]) before it loads anything.
//!
//! CSV: UTF-8 only (a byte-order mark is allowed); a file in another encoding is refused with the
//! line of its first invalid byte. Cells may be quoted (`"…"`, with `""` for a quote inside); a
//! quoted cell does not span lines. xlsx: the first worksheet; numbers and dates are read as the
//! text a person would type (`3`, `2026-04-01`).

use crate::Message;

/// A file format an import accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated, UTF-8.
    Csv,
    /// Office Open XML spreadsheet (the first worksheet).
    Xlsx,
}

impl Format {
    /// Guesses the format from a file's first bytes: xlsx files are ZIP archives (`PK\x03\x04`).
    #[must_use]
    pub fn sniff(bytes: &[u8]) -> Self {
        if bytes.starts_with(b"PK\x03\x04") { Self::Xlsx } else { Self::Csv }
    }
}

/// One data row: its line (1-based, the header being line 1) and its cells, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The line in the file (CSV) or the row in the sheet (xlsx).
    pub line: usize,
    /// One cell per header column, trimmed.
    pub cells: Vec<String>,
}

impl Row {
    /// The cell of column `i` (empty when absent).
    #[must_use]
    pub fn cell(&self, i: usize) -> &str {
        self.cells.get(i).map_or("", String::as_str)
    }
}

/// Prefixes a message with its line: `12行目: …` / `line 12: …`.
#[must_use]
pub fn at_line(line: usize, m: &Message) -> Message {
    Message::new(format!("{line}行目: {}", m.ja), format!("line {line}: {}", m.en))
}

/// Reads a table whose first line must be exactly `header` (column names, in order). Blank rows
/// are skipped; every other row must have exactly as many cells as the header.
///
/// # Errors
/// A bilingual message naming the line and the reason: wrong encoding, wrong header, wrong
/// number of cells, an unclosed quote, a file that is not a readable xlsx, or no data rows.
pub fn read(bytes: &[u8], format: Format, header: &[&str]) -> Result<Vec<Row>, Message> {
    let lines = match format {
        Format::Csv => csv_lines(bytes)?,
        Format::Xlsx => xlsx_lines(bytes)?,
    };
    let mut lines = lines.into_iter();
    let expected = header.join(",");
    let first = lines.next().map(|(line, mut cells)| {
        if format == Format::Xlsx {
            fit(&mut cells, header.len());
        }
        (line, cells)
    });
    let header_ok = first
        .as_ref()
        .is_some_and(|(_, cells)| cells.len() == header.len() && cells.iter().zip(header).all(|(c, h)| c.trim() == *h));
    if !header_ok {
        return Err(at_line(
            1,
            &Message::new(
                format!("見出しは「{expected}」にしてください。"),
                format!("the header must be \"{expected}\""),
            ),
        ));
    }
    let mut rows = Vec::new();
    for (line, mut cells) in lines {
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if format == Format::Xlsx {
            fit(&mut cells, header.len());
        }
        if cells.len() != header.len() {
            return Err(at_line(
                line,
                &Message::new(
                    format!("列の数が{}ではなく{}です。", header.len(), cells.len()),
                    format!("{} columns instead of {}", cells.len(), header.len()),
                ),
            ));
        }
        rows.push(Row { line, cells: cells.iter().map(|c| c.trim().to_owned()).collect() });
    }
    if rows.is_empty() {
        return Err(Message::new("取り込む行がありません。", "the file has no rows to import"));
    }
    Ok(rows)
}

/// A sheet has no line ends: its rows are as wide as its used range. Empty cells past the
/// header's columns are not data, and missing ones are empty.
fn fit(cells: &mut Vec<String>, width: usize) {
    while cells.len() > width && cells.last().is_some_and(|c| c.trim().is_empty()) {
        cells.pop();
    }
    if cells.len() < width {
        cells.resize(width, String::new());
    }
}

fn csv_lines(bytes: &[u8]) -> Result<Vec<(usize, Vec<String>)>, Message> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes.get(..e.valid_up_to()).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count()) + 1;
        at_line(
            line,
            &Message::new(
                "UTF-8ではありません（Shift_JISのファイルはUTF-8に変換してください）。",
                "not UTF-8 (convert Shift_JIS files to UTF-8)",
            ),
        )
    })?;
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    text.lines()
        .enumerate()
        .map(|(i, raw)| {
            let line = i + 1;
            split_csv_line(raw.trim_end_matches('\r')).map(|cells| (line, cells)).map_err(|m| at_line(line, &m))
        })
        .collect()
}

/// Splits one CSV line into cells (`"…"` quoting, `""` for a quote inside).
///
/// # Errors
/// A bilingual message for an unclosed quote.
pub fn split_csv_line(line: &str) -> Result<Vec<String>, Message> {
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut started = true;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (false, '"') if started && cell.is_empty() => quoted = true,
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (false, ',') => {
                cells.push(std::mem::take(&mut cell));
                started = true;
                continue;
            }
            (_, c) => cell.push(c),
        }
        started = false;
    }
    if quoted {
        return Err(Message::new("引用符「\"」が閉じていません。", "an unclosed quote"));
    }
    cells.push(cell);
    Ok(cells)
}

fn xlsx_lines(bytes: &[u8]) -> Result<Vec<(usize, Vec<String>)>, Message> {
    use calamine::{Data, Reader, Xlsx};
    let unreadable = || Message::new("xlsx ファイルとして読めません。", "not a readable xlsx file");
    let mut book = Xlsx::new(std::io::Cursor::new(bytes)).map_err(|_| unreadable())?;
    let range = book.worksheet_range_at(0).ok_or_else(unreadable)?.map_err(|_| unreadable())?;
    // The range starts at its first used cell; lines count from the sheet's row 1 and cells
    // from its column A.
    let (first_row, first_col) = range.start().map_or((0, 0), |(r, c)| (r as usize, c as usize));
    let mut lines = Vec::new();
    for (i, row) in range.rows().enumerate() {
        let mut cells: Vec<String> = vec![String::new(); first_col];
        cells.extend(row.iter().map(|d| match d {
            Data::Empty => String::new(),
            Data::String(s) => s.clone(),
            Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
            Data::Float(f) => f.to_string(),
            Data::Int(n) => n.to_string(),
            Data::Bool(b) => b.to_string(),
            Data::DateTime(dt) if dt.is_datetime() => {
                let (y, m, d, ..) = dt.to_ymd_hms_milli();
                format!("{y:04}-{m:02}-{d:02}")
            }
            Data::DateTime(dt) => dt.to_string(),
            Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
            Data::Error(e) => format!("#{e:?}"),
        }));
        lines.push((first_row + i + 1, cells));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    const HEADER: &[&str] = &["id", "answer", "remark"];

    #[test]
    fn csv_rows_keep_their_line_numbers_and_skip_blank_lines() {
        let rows =
            read("\u{FEFF}id,answer,remark\r\n1,はい,\r\n\r\n2,\"い,い\"\"え\",x\n".as_bytes(), Format::Csv, HEADER)
                .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0], Row { line: 2, cells: vec!["1".into(), "はい".into(), String::new()] });
        assert_eq!(rows[1].line, 4);
        assert_eq!(rows[1].cell(1), "い,い\"え");
        assert_eq!(rows[1].cell(7), "");
    }

    #[test]
    fn bad_tables_are_refused_with_their_line() {
        let e = read(b"id,answer\n1,x\n", Format::Csv, HEADER).unwrap_err();
        assert!(e.ja.starts_with("1行目: 見出しは「id,answer,remark」"), "{}", e.ja);
        let e = read(b"id,answer,remark\n1,x,y\n2,x\n", Format::Csv, HEADER).unwrap_err();
        assert_eq!(e.en, "line 3: 2 columns instead of 3");
        let e = read(b"id,answer,remark\n1,\"x,y\n", Format::Csv, HEADER).unwrap_err();
        assert_eq!(e.en, "line 2: an unclosed quote");
        // 「はい」 in Shift_JIS: 0x82CD 0x82A2.
        let e = read(b"id,answer,remark\n1,x,y\n2,\x82\xcd\x82\xa2,\n", Format::Csv, HEADER).unwrap_err();
        assert_eq!(e.en, "line 3: not UTF-8 (convert Shift_JIS files to UTF-8)");
        let e = read(b"id,answer,remark\n\n", Format::Csv, HEADER).unwrap_err();
        assert_eq!(e.en, "the file has no rows to import");
        let e = read(b"PK\x03\x04garbage", Format::Xlsx, HEADER).unwrap_err();
        assert_eq!(e.en, "not a readable xlsx file");
    }

    #[test]
    fn xlsx_sheets_read_like_csv() {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        for (c, h) in HEADER.iter().enumerate() {
            sheet.write_string(0, c as u16, *h).unwrap();
        }
        sheet.write_string(1, 0, "mds-7.0/1").unwrap();
        sheet.write_string(1, 1, "いいえ").unwrap();
        sheet.write_number(3, 0, 12.0).unwrap();
        let day = rust_xlsxwriter::ExcelDateTime::from_ymd(2026, 4, 1).unwrap();
        let format = rust_xlsxwriter::Format::new().set_num_format("yyyy/mm/dd");
        sheet.write_datetime_with_format(1, 2, &day, &format).unwrap();
        sheet.write_string(3, 1, "はい").unwrap();
        sheet.write_string(3, 2, "備考").unwrap();
        let bytes = book.save_to_buffer().unwrap();
        assert_eq!(Format::sniff(&bytes), Format::Xlsx);
        let rows = read(&bytes, Format::Xlsx, HEADER).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0], Row { line: 2, cells: vec!["mds-7.0/1".into(), "いいえ".into(), "2026-04-01".into()] });
        assert_eq!(rows[1].cells.len(), 3);
        assert_eq!(rows[1], Row { line: 4, cells: vec!["12".into(), "はい".into(), "備考".into()] });
        // A value past the header's columns is refused by its row.
        let sheet = book.worksheet_from_index(0).unwrap();
        sheet.write_string(3, 4, "x").unwrap();
        let e = read(&book.save_to_buffer().unwrap(), Format::Xlsx, HEADER).unwrap_err();
        assert_eq!(e.en, "line 4: 5 columns instead of 3");
    }
}
