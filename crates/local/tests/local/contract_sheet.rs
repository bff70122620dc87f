//! `CsvSheet` against the `Sheet` contract of `testkit::contract`. A transient fault is real:
//! the first tab the append writes to is made unsafe to append to (it ends inside an open
//! quote) for that one call, then restored. A lost response and a permanent fault go through
//! `FaultySheet`.

use async_trait::async_trait;
use domain::SubmissionId;
use domain::ports::{Sheet, SheetWrite, SideEffectError};
use domain::sheets::{SheetRows, Tab};
use local::{CsvSheet, UTF8_BOM};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use testkit::contract::{FaultKind, FaultySheet, SheetUnderTest};

/// The CSV sheet, with the next append's first tab file made unsafe when armed.
struct UnsafeFileOnce {
    csv: Arc<CsvSheet>,
    armed: AtomicBool,
}

#[async_trait]
impl Sheet for UnsafeFileOnce {
    async fn append(
        &self,
        submission_id: &SubmissionId,
        rows: &[SheetRows],
    ) -> Result<SheetWrite, SideEffectError> {
        let Some(first) = rows
            .first()
            .filter(|_| self.armed.swap(false, Ordering::SeqCst))
        else {
            return self.csv.append(submission_id, rows).await;
        };
        let path = self.csv.file_of(&first.tab, submission_id);
        let before = std::fs::read(&path).ok();
        let mut unsafe_bytes = before.clone().unwrap_or_default();
        unsafe_bytes.extend_from_slice(b"\"a cell an organizer never closed\n");
        std::fs::write(&path, unsafe_bytes).expect("make the tab unsafe");
        let outcome = self.csv.append(submission_id, rows).await;
        match before {
            Some(bytes) => std::fs::write(&path, bytes).expect("restore the tab"),
            None => std::fs::remove_file(&path).expect("remove the unsafe tab"),
        }
        outcome
    }
}

/// A tab file as text rows (BOM removed); no file reads as no rows.
fn read_csv(path: &std::path::Path) -> Vec<Vec<String>> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    let text = bytes.strip_prefix(UTF8_BOM).unwrap_or(&bytes);
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text)
        .records()
        .map(|r| r.expect("a CSV record").iter().map(str::to_owned).collect())
        .collect()
}

async fn make_sheet() -> SheetUnderTest {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = Arc::new(CsvSheet::new(dir.path().join(local::SHEETS_DIR)).expect("open sheet"));
    let unsafe_once = Arc::new(UnsafeFileOnce {
        csv: Arc::clone(&csv),
        armed: AtomicBool::new(false),
    });
    let faulty = FaultySheet::new(Arc::clone(&unsafe_once) as Arc<dyn Sheet>);
    let faults = Arc::clone(&faulty);
    SheetUnderTest {
        sheet: faulty,
        read: Box::new(move |tab| {
            let path = match tab {
                Tab::Table(name) => csv.path_of(name),
                Tab::Own { title, .. } => {
                    // The title ends with `_<submission id>`.
                    let id = title.rsplit('_').next().unwrap_or_default();
                    let id = SubmissionId::parse(id).expect("an own tab's title ends with its id");
                    csv.file_of(tab, &id)
                }
            };
            Box::pin(async move { read_csv(&path) })
        }),
        fail_next: Box::new(move |kind| {
            match kind {
                FaultKind::Transient => unsafe_once.armed.store(true, Ordering::SeqCst),
                other => faults.fail_next(other),
            }
            Box::pin(async { true })
        }),
        keep_alive: Some(Box::new(dir)),
    }
}

testkit::sheet_contract_tests!(make_sheet);
