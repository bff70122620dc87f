//! The embedded spreadsheet: one CSV file per tab under `DATA_DIR/sheets/<tab>.csv`, a header
//! row, then rows whose last column is the submission id.
//!
//! Appends are idempotent per submission and tab: before writing, the id is looked up in the
//! tab (an index loaded once from the file), so a crash between the write and its checkpoint
//! never duplicates a row. Each tab's rows go in one write followed by an fsync; a torn last
//! record left by a crash is cut off when the file is next opened, and one left by a failed
//! write (a full disk) before this instance appends again: the index remembers the file's
//! length, so any other length means the tab is read (and repaired) again.

use crate::LocalError;
use async_trait::async_trait;
use domain::SubmissionId;
use domain::ports::{Sheet, SheetWrite, SideEffectError};
use domain::sheets::{self, Cell, SheetRows};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use tokio::sync::Mutex;

pub struct CsvSheet {
    dir: PathBuf,
    /// Per tab (loaded lazily).
    index: Mutex<HashMap<String, Tab>>,
}

/// What this instance knows of a tab file.
#[derive(Default)]
struct Tab {
    /// Submission ids present.
    ids: HashSet<String>,
    /// The file's length after our last read or write of it.
    len: u64,
}

impl CsvSheet {
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, LocalError> {
        let dir = crate::ensure_dir(dir.into())?;
        Ok(Self {
            dir,
            index: Mutex::new(HashMap::new()),
        })
    }

    pub fn path_of(&self, tab: &str) -> PathBuf {
        self.dir.join(format!("{tab}.csv"))
    }
}

/// A cell as CSV text. Text that a spreadsheet would run as a formula when the file is opened
/// (`=`, `@`, or `+`/`-` not starting a number) gets a leading apostrophe.
pub fn cell_text(c: &Cell) -> String {
    match c {
        Cell::Empty => String::new(),
        Cell::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
        Cell::Number(n) => n.to_string(),
        Cell::Text(t) => {
            let risky = match t.chars().next() {
                Some('=' | '@' | '\t' | '\r') => true,
                Some('+' | '-') => {
                    !t[1..]
                        .chars()
                        .all(|ch| ch.is_ascii_digit() || " ()-".contains(ch))
                        || t.len() == 1
                }
                _ => false,
            };
            if risky { format!("'{t}") } else { t.clone() }
        }
    }
}

/// Where the last record starts when it is torn: not ended by a newline, or not ending with
/// a submission id (every row does; the header ends with the id column's name). Parsing, not
/// looking for the last newline, because a quoted cell (free text) may hold newlines.
fn torn_tail(bytes: &[u8]) -> Option<u64> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut record = csv::ByteRecord::new();
    let mut last = None;
    let mut first = true;
    while let Ok(true) = reader.read_byte_record(&mut record) {
        let start = record.position().map_or(0, csv::Position::byte);
        let end = record.iter().next_back().unwrap_or_default();
        let whole = if first {
            end == sheets::SUBMISSION_ID_COLUMN.as_bytes()
        } else {
            std::str::from_utf8(end).is_ok_and(|e| SubmissionId::parse(e).is_ok())
        };
        first = false;
        last = Some((start, whole));
    }
    match last {
        Some((start, whole)) if !whole || !bytes.ends_with(b"\n") => Some(start),
        _ => None,
    }
}

fn load_ids(path: &Path) -> Result<Tab, SideEffectError> {
    let io = |e: std::io::Error| SideEffectError::Retryable(format!("sheet file: {e}"));
    let Ok(bytes) = std::fs::read(path) else {
        return Ok(Tab::default());
    };
    // Repair a torn last record (a crash or a failed write in the middle of an append).
    if let Some(keep) = torn_tail(&bytes) {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io)?;
        f.set_len(keep).map_err(io)?;
        f.sync_all().map_err(io)?;
        return load_ids(path);
    }
    let mut ids = HashSet::new();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(&bytes[..]);
    for record in reader.records() {
        let record =
            record.map_err(|e| SideEffectError::Permanent(format!("corrupt sheet file: {e}")))?;
        if let Some(id) = record.iter().next_back() {
            ids.insert(id.to_owned());
        }
    }
    Ok(Tab {
        ids,
        len: bytes.len() as u64,
    })
}

fn append_rows(
    path: &Path,
    tab: &str,
    rows: &[Vec<Cell>],
    id: &str,
) -> Result<u64, SideEffectError> {
    let io = |e: std::io::Error| SideEffectError::Retryable(format!("sheet file: {e}"));
    let new_file = std::fs::metadata(path)
        .map(|m| m.len() == 0)
        .unwrap_or(true);
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    let csv_err = |e: csv::Error| SideEffectError::Permanent(format!("csv: {e}"));
    if new_file {
        let mut header: Vec<String> = sheets::header(tab)
            .iter()
            .map(|h| (*h).to_owned())
            .collect();
        if header.last().map(String::as_str) != Some("submission_id") {
            header.push("submission_id".to_owned());
        }
        w.write_record(&header).map_err(csv_err)?;
    }
    for row in rows {
        let mut cells: Vec<String> = row.iter().map(cell_text).collect();
        // The last column is the id the index relies on; the row builders put it there.
        if cells.last().map(String::as_str) != Some(id) {
            cells.push(id.to_owned());
        }
        w.write_record(&cells).map_err(csv_err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| SideEffectError::Permanent(format!("csv: {e}")))?;
    let mut o = std::fs::OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(path).map_err(io)?;
    f.write_all(&bytes).map_err(io)?;
    f.sync_data().map_err(io)?;
    Ok(f.metadata().map_err(io)?.len())
}

#[async_trait]
impl Sheet for CsvSheet {
    async fn append(
        &self,
        submission_id: &SubmissionId,
        rows: &[SheetRows],
    ) -> Result<SheetWrite, SideEffectError> {
        let mut index = self.index.lock().await;
        let id = submission_id.to_string();
        let mut wrote = false;
        for group in rows {
            let path = self.path_of(group.tab);
            let len = tokio::fs::metadata(&path).await.map_or(0, |m| m.len());
            if index.get(group.tab).is_none_or(|t| t.len != len) {
                let p = path.clone();
                let tab = tokio::task::spawn_blocking(move || load_ids(&p))
                    .await
                    .map_err(|e| SideEffectError::Retryable(e.to_string()))??;
                index.insert(group.tab.to_owned(), tab);
            }
            let present = index.get(group.tab).is_some_and(|t| t.ids.contains(&id));
            if present || group.rows.is_empty() {
                continue;
            }
            let (p, tab, body, idc) = (path, group.tab, group.rows.clone(), id.clone());
            let len = tokio::task::spawn_blocking(move || append_rows(&p, tab, &body, &idc))
                .await
                .map_err(|e| SideEffectError::Retryable(e.to_string()))??;
            let tab = index.entry(group.tab.to_owned()).or_default();
            tab.ids.insert(id.clone());
            tab.len = len;
            wrote = true;
        }
        Ok(if wrote {
            SheetWrite::Appended
        } else {
            SheetWrite::AlreadyPresent
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_like_text_is_neutralised_but_phones_and_numbers_are_not() {
        for (input, want) in [
            ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("+529991234567", "+529991234567"),
            ("+52 (999) 123-4567", "+52 (999) 123-4567"),
            ("-cmd|calc", "'-cmd|calc"),
            ("Ana", "Ana"),
        ] {
            assert_eq!(cell_text(&Cell::Text(input.into())), want, "{input}");
        }
        assert_eq!(cell_text(&Cell::Bool(false)), "FALSE");
        assert_eq!(cell_text(&Cell::Empty), "");
    }
}
