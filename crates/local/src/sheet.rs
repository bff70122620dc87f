//! The embedded spreadsheet: one CSV file per tab under `DATA_DIR/sheets/<tab>.csv`, a header
//! row, then rows whose last column is the submission id.
//!
//! Appends are idempotent per submission and tab: before writing, the id is looked up in the
//! tab (an index loaded once from the file), so a crash between the write and its checkpoint
//! never duplicates a row. Each tab's rows go in one write followed by an fsync; a torn last
//! line left by a crash is cut off when the file is next opened.

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
    /// Submission ids present, per tab (loaded lazily).
    index: Mutex<HashMap<String, HashSet<String>>>,
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

fn load_ids(path: &Path) -> Result<HashSet<String>, SideEffectError> {
    let io = |e: std::io::Error| SideEffectError::Retryable(format!("sheet file: {e}"));
    let Ok(bytes) = std::fs::read(path) else {
        return Ok(HashSet::new());
    };
    // Repair a torn last line (a crash in the middle of an append).
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        let keep = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io)?;
        f.set_len(keep as u64).map_err(io)?;
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
    Ok(ids)
}

fn append_rows(
    path: &Path,
    tab: &str,
    rows: &[Vec<Cell>],
    id: &str,
) -> Result<(), SideEffectError> {
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
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    f.write_all(&bytes).map_err(io)?;
    f.sync_data().map_err(io)?;
    Ok(())
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
            if !index.contains_key(group.tab) {
                let p = path.clone();
                let ids = tokio::task::spawn_blocking(move || load_ids(&p))
                    .await
                    .map_err(|e| SideEffectError::Retryable(e.to_string()))??;
                index.insert(group.tab.to_owned(), ids);
            }
            let present = index.get(group.tab).is_some_and(|s| s.contains(&id));
            if present || group.rows.is_empty() {
                continue;
            }
            let (p, tab, body, idc) = (path, group.tab, group.rows.clone(), id.clone());
            tokio::task::spawn_blocking(move || append_rows(&p, tab, &body, &idc))
                .await
                .map_err(|e| SideEffectError::Retryable(e.to_string()))??;
            index
                .entry(group.tab.to_owned())
                .or_default()
                .insert(id.clone());
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
