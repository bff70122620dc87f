//! `SheetsSheet` on the Sheets fake against the `Sheet` contract of `testkit::contract`. The
//! faults are the fake's own: a 500 for a transient fault, a write applied whose answer is lost
//! for a lost response, and a spreadsheet not shared with the account (403) for a permanent one.
//! The adapter makes one attempt per call here, so each fault reaches the caller instead of being
//! absorbed by its own retries (which `tests/sheets.rs` covers).

use super::{fake_with, sheet_for};
use async_trait::async_trait;
use domain::SubmissionId;
use domain::ports::{Sheet, SheetWrite, SideEffectError};
use domain::sheets::{self as layout, SheetRows, Tab};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use testkit::contract::{FaultKind, SheetUnderTest};
use testkit::sheets_fake::{
    DELEGACIONES_SPREADSHEET, DELEGACIONES_TABLE, FACULTY_DELEGACIONES_TABLE, FACULTY_SPREADSHEET,
    FACULTY_TABLE, FakeConfig, Fault, SheetsFake,
};

/// The adapter, with the next append made to meet unshared spreadsheets when armed.
struct UnsharedOnce {
    sheet: sheets::SheetsSheet,
    fake: Arc<SheetsFake>,
    armed: AtomicBool,
}

#[async_trait]
impl Sheet for UnsharedOnce {
    async fn append(
        &self,
        submission_id: &SubmissionId,
        rows: &[SheetRows],
    ) -> Result<SheetWrite, SideEffectError> {
        if !self.armed.swap(false, Ordering::SeqCst) {
            return self.sheet.append(submission_id, rows).await;
        }
        for ss in [DELEGACIONES_SPREADSHEET, FACULTY_SPREADSHEET] {
            self.fake.set_shared(ss, false);
        }
        let outcome = self.sheet.append(submission_id, rows).await;
        for ss in [DELEGACIONES_SPREADSHEET, FACULTY_SPREADSHEET] {
            self.fake.set_shared(ss, true);
        }
        outcome
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
        other => other.to_string(),
    }
}

async fn make_sheet() -> SheetUnderTest {
    let (fake, mut config) = fake_with(FakeConfig::default()).await;
    config.max_attempts = 1;
    let fake = Arc::new(fake);
    let unshared = Arc::new(UnsharedOnce {
        sheet: sheet_for(&fake, config),
        fake: Arc::clone(&fake),
        armed: AtomicBool::new(false),
    });
    let (reader, faults) = (Arc::clone(&fake), Arc::clone(&fake));
    let arm = Arc::clone(&unshared);
    SheetUnderTest {
        sheet: unshared,
        read: Box::new(move |tab| {
            let rows = match tab {
                Tab::Table(layout::DELEGACIONES_TAB) => {
                    reader.table_rows(DELEGACIONES_SPREADSHEET, DELEGACIONES_TABLE)
                }
                Tab::Table(layout::FACULTY_TAB) => {
                    reader.table_rows(FACULTY_SPREADSHEET, FACULTY_TABLE)
                }
                Tab::Table(layout::FACULTY_DELEGACIONES_TAB) => {
                    reader.table_rows(FACULTY_SPREADSHEET, FACULTY_DELEGACIONES_TABLE)
                }
                Tab::Table(other) => panic!("no table {other}"),
                Tab::Own { sheet_id, .. } => {
                    if reader
                        .sheets(FACULTY_SPREADSHEET)
                        .iter()
                        .any(|(id, _)| id == sheet_id)
                    {
                        reader.rows(FACULTY_SPREADSHEET, *sheet_id)
                    } else {
                        Vec::new()
                    }
                }
            };
            let rows = rows.iter().map(|r| r.iter().map(text).collect()).collect();
            Box::pin(async move { rows })
        }),
        fail_next: Box::new(move |kind| {
            match kind {
                FaultKind::Transient => faults.inject_write([Fault::Status500]),
                FaultKind::LostResponse => faults.inject_write([Fault::LostResponse]),
                FaultKind::Permanent => arm.armed.store(true, Ordering::SeqCst),
            }
            Box::pin(async { true })
        }),
        keep_alive: Some(Box::new(fake)),
    }
}

testkit::sheet_contract_tests!(make_sheet);
