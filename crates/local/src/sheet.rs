//! The embedded spreadsheet: one CSV file per tab under `DATA_DIR/sheets/<tab>.csv`, a header
//! row, then rows that carry the submission id.
//!
//! These files are the organizers' document: they open them in a spreadsheet program, sort,
//! add columns, delete rows and save them back. So an append must never remove or rewrite a
//! byte it did not write itself, and must cope with what spreadsheet programs produce:
//! - **Idempotency** per submission and tab: a row belongs to submission X when any of its cells
//!   is X (ids are 20 random characters), so a moved, inserted or added column still finds it.
//!   The file is scanned as a stream (memory independent of its size); the ids are cached with
//!   the file's length and modification time, and scanned again whenever either changes.
//! - **Torn writes** (a crash or a full disk in the middle of an append): before writing, the
//!   bytes about to be appended, the offset and a hash of the 4 KiB before it go to a journal
//!   (`.<tab>.csv.journal`, fsync'd). When the tab is next read, bytes after that offset are cut
//!   only if they are a strict prefix of what the journal says this process wrote *and* the
//!   bytes before the offset are still the same; anything else is somebody else's and stays.
//!   A whole append empties the journal, so later edits are never mistaken for a torn append.
//! - **Files saved by other programs**: a last record without a final newline is kept (a
//!   newline is written first); `;` or tab separators and CRLF line ends are detected and used
//!   for the new rows; a UTF-8 BOM is written when the file is created, so spreadsheet programs
//!   read the accents right. A file that ends inside a quoted cell, or that is not UTF-8 (a
//!   spreadsheet's "ANSI" export), cannot be appended to safely: that is a retryable error with
//!   a log line naming the tab, and the file is left as it is until someone fixes it.

use crate::LocalError;
use async_trait::async_trait;
use domain::SubmissionId;
use domain::ports::{Sheet, SheetWrite, SideEffectError};
use domain::sheets::{self, Cell, SheetRows, Tab as Target};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use tokio::sync::Mutex;

/// Written first in a file this process creates: spreadsheet programs then read it as UTF-8.
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
/// How much of the file before a journaled offset must be unchanged for the offset to count.
const TAIL_CHECK: u64 = 4096;
const JOURNAL_MAGIC: &str = "registro-sheet-journal v1";
/// File names are limited to 255 bytes; the journal adds a dot and `.journal`.
const MAX_STEM_BYTES: usize = 200;

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
    /// The file as of our last scan or write of it: any other length or time means a rescan.
    stamp: Stamp,
    format: Format,
}

#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

/// How the file writes its records, and how it ends.
#[derive(Clone, Copy, Debug)]
struct Format {
    delimiter: u8,
    crlf: bool,
    /// The last byte is a line end (or the file is empty).
    terminated: bool,
}

impl Default for Format {
    fn default() -> Self {
        Self {
            delimiter: b',',
            crlf: false,
            terminated: true,
        }
    }
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

    /// The file of a target: `<table>.csv`, or `<title>.csv` for a tab of a submission's own
    /// (titles hold no `/`, `\\`, control characters or leading dot; one too long for a file
    /// name falls back to `faculty_<id>.csv`).
    pub fn file_of(&self, target: &Target, submission_id: &SubmissionId) -> PathBuf {
        match target {
            Target::Table(name) => self.path_of(name),
            Target::Own { title, .. } if title.len() <= MAX_STEM_BYTES => self.path_of(title),
            Target::Own { .. } => self.path_of(&format!("faculty_{submission_id}")),
        }
    }

    /// Test support: what a crash in the middle of appending `rows` leaves behind (the journal
    /// and the first `keep` bytes of the append), without the rest.
    #[doc(hidden)]
    pub async fn torn_append_for_tests(
        &self,
        submission_id: &SubmissionId,
        rows: &SheetRows,
        keep: usize,
    ) -> Result<usize, SideEffectError> {
        let path = self.file_of(&rows.tab, submission_id);
        let (tab, _) = load_tab(&path, rows.tab.name())?;
        let bytes = encode(
            rows,
            submission_id.as_str(),
            &tab.format,
            tab.stamp.len == 0,
        )?;
        let keep = keep.min(bytes.len().saturating_sub(1));
        write_journal(&path, tab.stamp.len, &bytes)?;
        let mut f = open_append(&path)?;
        f.write_all(&bytes[..keep]).map_err(io)?;
        Ok(bytes.len())
    }
}

fn io(e: std::io::Error) -> SideEffectError {
    SideEffectError::Retryable(format!("sheet file: {e}"))
}

/// A refusal to touch a file that is not safe to append to, logged once per attempt.
fn unsafe_file(tab: &str, why: &'static str) -> SideEffectError {
    tracing::error!(
        tab,
        reason = why,
        "sheet_file_unsafe_to_append: fix the file (or move it away to start a new one); the row is retried"
    );
    SideEffectError::Retryable(format!("sheet tab {tab}: {why}; not appending"))
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

fn stamp_of(path: &Path) -> Result<Stamp, SideEffectError> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(Stamp {
            len: m.len(),
            modified: m.modified().ok(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Stamp::default()),
        Err(e) => Err(io(e)),
    }
}

/// Counts what the CSV parser cannot tell us while it reads: quote parity (odd = the file ends
/// inside a quoted cell), CRLF line ends and the last byte.
struct Tap<R> {
    inner: R,
    quotes: u64,
    crlf: bool,
    last: Option<u8>,
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            if b == b'"' {
                self.quotes += 1;
            } else if b == b'\n' && self.last == Some(b'\r') {
                self.crlf = true;
            }
            self.last = Some(b);
        }
        Ok(n)
    }
}

/// The separator of the header line: the most frequent of `,` `;` tab outside quotes.
fn sniff_delimiter(path: &Path) -> Result<u8, SideEffectError> {
    let mut head = Vec::with_capacity(8192);
    if let Ok(f) = std::fs::File::open(path) {
        f.take(8192).read_to_end(&mut head).map_err(io)?;
    }
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &b in head.strip_prefix(UTF8_BOM).unwrap_or(&head) {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => break,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let best = (0..3)
        .max_by_key(|i| (counts[*i], usize::from(*i == 0)))
        .unwrap_or(0);
    Ok([b',', b';', b'\t'][best])
}

/// Reads a tab file as a stream: the ids it holds and its format. Runs the journal recovery
/// first, so a torn append of ours is gone before anything is decided.
fn load_tab(path: &Path, tab: &str) -> Result<(Tab, bool), SideEffectError> {
    recover_journal(path, tab)?;
    let stamp = stamp_of(path)?;
    if stamp.len == 0 {
        return Ok((
            Tab {
                stamp,
                ..Tab::default()
            },
            true,
        ));
    }
    let delimiter = sniff_delimiter(path)?;
    let file = std::fs::File::open(path).map_err(io)?;
    let mut tap = Tap {
        inner: std::io::BufReader::new(file),
        quotes: 0,
        crlf: false,
        last: None,
    };
    let mut ids = HashSet::new();
    let mut utf8 = true;
    {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .from_reader(&mut tap);
        let mut record = csv::ByteRecord::new();
        loop {
            match reader.read_byte_record(&mut record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => return Err(SideEffectError::Retryable(format!("sheet file: {e}"))),
            }
            for cell in record.iter() {
                match std::str::from_utf8(cell) {
                    Ok(text) if SubmissionId::parse(text).is_ok() => {
                        ids.insert(text.to_owned());
                    }
                    Ok(_) => {}
                    Err(_) => utf8 = false,
                }
            }
        }
    }
    if tap.quotes % 2 == 1 {
        return Err(unsafe_file(tab, "the file ends inside a quoted cell"));
    }
    if !utf8 {
        return Err(unsafe_file(
            tab,
            "the file is not UTF-8 (save it as \"CSV UTF-8\")",
        ));
    }
    let format = Format {
        delimiter,
        crlf: tap.crlf,
        terminated: matches!(tap.last, None | Some(b'\n' | b'\r')),
    };
    Ok((Tab { ids, stamp, format }, false))
}

/// The bytes of one append: (a line end closing a last record that has none,) the BOM and the
/// header for a new file, then the rows, each carrying the id.
fn encode(
    group: &SheetRows,
    id: &str,
    format: &Format,
    new_file: bool,
) -> Result<Vec<u8>, SideEffectError> {
    let terminator = if format.crlf {
        csv::Terminator::CRLF
    } else {
        csv::Terminator::Any(b'\n')
    };
    let mut out = Vec::new();
    if new_file {
        out.extend_from_slice(UTF8_BOM);
    } else if !format.terminated {
        out.extend_from_slice(if format.crlf { b"\r\n" } else { b"\n" });
    }
    let mut w = csv::WriterBuilder::new()
        // An own tab's rows have different lengths (a title line, label/value lines, a table).
        .flexible(true)
        .delimiter(format.delimiter)
        .terminator(terminator)
        .from_writer(out);
    let csv_err = |e: csv::Error| SideEffectError::Permanent(format!("csv: {e}"));
    let Target::Table(table) = group.tab else {
        // A tab of its own: the rows are the whole document, the id is in its Folio line.
        for row in &group.rows {
            let cells: Vec<String> = row.iter().map(cell_text).collect();
            if cells.is_empty() {
                w.write_record([""]).map_err(csv_err)?;
            } else {
                w.write_record(&cells).map_err(csv_err)?;
            }
        }
        return w
            .into_inner()
            .map_err(|e| SideEffectError::Permanent(format!("csv: {e}")));
    };
    if new_file {
        let mut header: Vec<String> = sheets::header(table)
            .iter()
            .map(|h| (*h).to_owned())
            .collect();
        if header.last().map(String::as_str) != Some(sheets::SUBMISSION_ID_COLUMN) {
            header.push(sheets::SUBMISSION_ID_COLUMN.to_owned());
        }
        w.write_record(&header).map_err(csv_err)?;
    }
    for row in &group.rows {
        let mut cells: Vec<String> = row.iter().map(cell_text).collect();
        // The row builders put the id last; make sure it is there whatever they do.
        if cells.last().map(String::as_str) != Some(id) {
            cells.push(id.to_owned());
        }
        w.write_record(&cells).map_err(csv_err)?;
    }
    w.into_inner()
        .map_err(|e| SideEffectError::Permanent(format!("csv: {e}")))
}

fn journal_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.journal"))
}

fn owner_only(o: &mut std::fs::OpenOptions) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = o;
}

fn open_append(path: &Path) -> Result<std::fs::File, SideEffectError> {
    let mut o = std::fs::OpenOptions::new();
    o.create(true).append(true);
    owner_only(&mut o);
    o.open(path).map_err(io)
}

/// Hash of the (up to) [`TAIL_CHECK`] bytes before `offset`.
fn tail_hash(path: &Path, offset: u64) -> Result<String, SideEffectError> {
    use std::io::Seek;
    let start = offset.saturating_sub(TAIL_CHECK);
    let mut buf = Vec::new();
    if offset > 0 {
        let mut f = std::fs::File::open(path).map_err(io)?;
        f.seek(std::io::SeekFrom::Start(start)).map_err(io)?;
        f.take(offset - start).read_to_end(&mut buf).map_err(io)?;
    }
    Ok(hex::encode(Sha256::digest(&buf)))
}

/// Records, durably, what we are about to append and where: the only bytes a later recovery may
/// cut. The journal is overwritten by each append and emptied when the append is whole.
fn write_journal(path: &Path, offset: u64, bytes: &[u8]) -> Result<(), SideEffectError> {
    let jpath = journal_path(path);
    let created = !jpath.exists();
    let mut o = std::fs::OpenOptions::new();
    o.create(true).write(true).truncate(true);
    owner_only(&mut o);
    let mut f = o.open(&jpath).map_err(io)?;
    let head = format!(
        "{JOURNAL_MAGIC} {offset} {} {}\n",
        bytes.len(),
        tail_hash(path, offset)?
    );
    f.write_all(head.as_bytes()).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    if created && let Some(dir) = jpath.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
    }
    Ok(())
}

/// Cuts a torn append of ours, and only that: see the module header.
fn recover_journal(path: &Path, tab: &str) -> Result<(), SideEffectError> {
    let Ok(journal) = std::fs::read(journal_path(path)) else {
        return Ok(());
    };
    let Some(nl) = journal.iter().position(|b| *b == b'\n') else {
        return Ok(()); // torn journal: the append it announced never started
    };
    let head = String::from_utf8_lossy(&journal[..nl]).into_owned();
    let intended = &journal[nl + 1..];
    let mut words = head.rsplitn(4, ' ');
    let (Some(tail), Some(n), Some(offset), Some(magic)) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Ok(());
    };
    let (Ok(offset), Ok(n)) = (offset.parse::<u64>(), n.parse::<usize>()) else {
        return Ok(());
    };
    if magic != JOURNAL_MAGIC || intended.len() != n {
        return Ok(()); // torn journal
    }
    let len = stamp_of(path)?.len;
    if len <= offset || len >= offset + n as u64 {
        return Ok(()); // nothing of ours, or our append is whole
    }
    if tail_hash(path, offset)? != tail {
        return Ok(()); // the file was changed before the offset: the offset means nothing now
    }
    let mut written = Vec::new();
    {
        use std::io::Seek;
        let mut f = std::fs::File::open(path).map_err(io)?;
        f.seek(std::io::SeekFrom::Start(offset)).map_err(io)?;
        f.read_to_end(&mut written).map_err(io)?;
    }
    if !intended.starts_with(&written) {
        return Ok(()); // somebody else's bytes
    }
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io)?;
    f.set_len(offset).map_err(io)?;
    f.sync_all().map_err(io)?;
    tracing::warn!(tab, cut_bytes = written.len(), "sheet_torn_append_removed");
    Ok(())
}

fn append_bytes(path: &Path, offset: u64, bytes: &[u8]) -> Result<Stamp, SideEffectError> {
    write_journal(path, offset, bytes)?;
    let created = offset == 0;
    let mut f = open_append(path)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_data().map_err(io)?;
    if created && let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
    }
    drop(f);
    // The append is whole: retire the journal, so that a later edit by somebody else that makes
    // the file end like a prefix of our bytes (a removed final newline) is never taken for a
    // torn append of ours. No fsync: a journal that survives a crash here still finds the
    // append whole.
    std::fs::OpenOptions::new()
        .write(true)
        .open(journal_path(path))
        .and_then(|j| j.set_len(0))
        .map_err(io)?;
    stamp_of(path)
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
        let blocking = |e: tokio::task::JoinError| SideEffectError::Retryable(e.to_string());
        for group in rows {
            let path = self.file_of(&group.tab, submission_id);
            let key = path.to_string_lossy().into_owned();
            let p = path.clone();
            let now = tokio::task::spawn_blocking(move || stamp_of(&p))
                .await
                .map_err(blocking)??;
            if index.get(&key).is_none_or(|t| t.stamp != now) {
                let (p, tab) = (path.clone(), group.tab.name().to_owned());
                let (loaded, _) = tokio::task::spawn_blocking(move || load_tab(&p, &tab))
                    .await
                    .map_err(blocking)??;
                index.insert(key.clone(), loaded);
            }
            let tab = index.get_mut(&key).expect("loaded above");
            if tab.ids.contains(&id) || group.rows.is_empty() {
                continue;
            }
            let bytes = encode(group, &id, &tab.format, tab.stamp.len == 0)?;
            let (p, offset) = (path, tab.stamp.len);
            let stamp = tokio::task::spawn_blocking(move || append_bytes(&p, offset, &bytes))
                .await
                .map_err(blocking)??;
            tab.ids.insert(id.clone());
            tab.stamp = stamp;
            tab.format.terminated = true;
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

    #[test]
    fn the_separator_is_sniffed_from_the_header_line_outside_quotes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        for (text, want) in [
            ("a,b,c\n1;2;3;4;5\n", b','),
            ("\u{feff}a;b;\"c,d,e\"\n", b';'),
            ("a\tb\tc\n", b'\t'),
            ("solo\n", b','),
        ] {
            std::fs::write(&p, text).unwrap();
            assert_eq!(sniff_delimiter(&p).unwrap(), want, "{text:?}");
        }
    }
}
