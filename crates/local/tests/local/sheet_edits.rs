//! `CsvSheet` on files that people edited: the sheet is the organizers' document, re-saved by
//! spreadsheet programs, and an append must keep every row they hold (hardening item 1).

use domain::ports::{Sheet, SheetWrite, SideEffectError};
use domain::sheets::{self, DELEGACIONES_TAB, SheetRows};
use domain::{Submission, SubmissionType};
use local::CsvSheet;
use std::path::Path;
use testkit::contract::{sample_submission, submission_id};

const LINK: &str = "https://registro.test/comprobantes/x";

fn submission(n: u32) -> Submission {
    sample_submission(&submission_id(n), SubmissionType::Delegacion)
}

fn rows(s: &Submission) -> Vec<SheetRows> {
    sheets::rows_for(s, LINK)
}

/// Appends submissions `1..=n` and returns the tab's path.
async fn sheet_with(dir: &Path, n: u32) -> std::path::PathBuf {
    let sheet = CsvSheet::new(dir).unwrap();
    for i in 1..=n {
        let s = submission(i);
        sheet.append(&s.submission_id, &rows(&s)).await.unwrap();
    }
    sheet.path_of(DELEGACIONES_TAB)
}

fn records(path: &Path, delimiter: u8) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_path(path)
        .unwrap()
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

/// Rewrites the tab the way a spreadsheet program saves it after an edit.
fn resave(path: &Path, delimiter: u8, crlf: bool, edit: impl Fn(&mut Vec<Vec<String>>)) {
    let mut recs = records(path, b',');
    edit(&mut recs);
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .delimiter(delimiter)
        .terminator(if crlf {
            csv::Terminator::CRLF
        } else {
            csv::Terminator::Any(b'\n')
        })
        .from_path(path)
        .unwrap();
    for r in recs {
        w.write_record(&r).unwrap();
    }
    w.flush().unwrap();
}

fn ids_in(recs: &[Vec<String>]) -> Vec<String> {
    let mut ids: Vec<String> = recs
        .iter()
        .skip(1)
        .filter_map(|r| {
            r.iter()
                .find(|c| domain::SubmissionId::parse(c).is_ok())
                .cloned()
        })
        .collect();
    ids.sort();
    ids
}

fn want_ids(ns: impl IntoIterator<Item = u32>) -> Vec<String> {
    let mut v: Vec<String> = ns
        .into_iter()
        .map(|n| submission_id(n).to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn item_01_a_column_added_by_a_spreadsheet_program_keeps_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = sheet_with(dir.path(), 3).await;
    // One more header cell, one more empty cell per row, CRLF line ends, no BOM.
    resave(&path, b',', true, |recs| {
        recs[0][0] = recs[0][0].trim_start_matches('\u{feff}').to_owned();
        recs[0].push("Notas".into());
        for r in recs.iter_mut().skip(1) {
            r.push(String::new());
        }
    });
    let sheet = CsvSheet::new(dir.path()).unwrap();
    let fourth = submission(4);
    assert_eq!(
        sheet
            .append(&fourth.submission_id, &rows(&fourth))
            .await
            .unwrap(),
        SheetWrite::Appended
    );
    for n in 1..=4 {
        let s = submission(n);
        assert_eq!(
            sheet.append(&s.submission_id, &rows(&s)).await.unwrap(),
            SheetWrite::AlreadyPresent,
            "submission {n} is found again"
        );
    }
    let recs = records(&path, b',');
    assert_eq!(recs[0].last().unwrap(), "Notas", "the edited header stays");
    assert_eq!(ids_in(&recs), want_ids(1..=4), "every row kept, one new");
    let text = std::fs::read(&path).unwrap();
    assert!(
        text.ends_with(b"\r\n"),
        "the new row uses the file's line ends"
    );
    assert!(
        !text.windows(2).any(|w| w == b"\n\n"),
        "no blank line inserted"
    );
}

#[tokio::test]
async fn item_01_a_sheet_without_a_final_newline_keeps_its_last_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = sheet_with(dir.path(), 2).await;
    let mut bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.pop(), Some(b'\n'));
    std::fs::write(&path, &bytes).unwrap();

    let sheet = CsvSheet::new(dir.path()).unwrap();
    let third = submission(3);
    assert_eq!(
        sheet
            .append(&third.submission_id, &rows(&third))
            .await
            .unwrap(),
        SheetWrite::Appended
    );
    let after = std::fs::read(&path).unwrap();
    assert!(
        after.starts_with(&bytes),
        "not a byte of the old file rewritten"
    );
    assert_eq!(ids_in(&records(&path, b',')), want_ids(1..=3));
}

#[tokio::test]
async fn item_01_sorted_rows_and_an_inserted_column_are_still_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = sheet_with(dir.path(), 4).await;
    resave(&path, b',', false, |recs| {
        recs[1..].reverse();
        for r in recs.iter_mut() {
            r.insert(1, "Pagado".into());
        }
        // A row staff typed by hand, with no id at all.
        recs.push(vec!["a mano".into(), "sí".into()]);
    });
    let sheet = CsvSheet::new(dir.path()).unwrap();
    for n in 1..=4 {
        let s = submission(n);
        assert_eq!(
            sheet.append(&s.submission_id, &rows(&s)).await.unwrap(),
            SheetWrite::AlreadyPresent
        );
    }
    let recs = records(&path, b',');
    assert_eq!(recs.len(), 6, "header, four rows and the hand-typed one");
}

#[tokio::test]
async fn item_01_a_semicolon_separated_sheet_gets_semicolon_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = sheet_with(dir.path(), 2).await;
    resave(&path, b';', false, |_| {});
    let sheet = CsvSheet::new(dir.path()).unwrap();
    let s = submission(2);
    assert_eq!(
        sheet.append(&s.submission_id, &rows(&s)).await.unwrap(),
        SheetWrite::AlreadyPresent
    );
    let third = submission(3);
    sheet
        .append(&third.submission_id, &rows(&third))
        .await
        .unwrap();
    let recs = records(&path, b';');
    assert_eq!(ids_in(&recs), want_ids(1..=3));
    assert!(recs.iter().all(|r| r.len() == recs[0].len()), "same shape");
}

#[tokio::test]
async fn item_01_a_sheet_ending_inside_a_quote_is_a_retryable_error_and_is_left_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let path = sheet_with(dir.path(), 2).await;
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b"a mano,\"sin cerrar\n");
    std::fs::write(&path, &bytes).unwrap();

    let sheet = CsvSheet::new(dir.path()).unwrap();
    let third = submission(3);
    let err = sheet
        .append(&third.submission_id, &rows(&third))
        .await
        .unwrap_err();
    assert!(matches!(err, SideEffectError::Retryable(_)), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "untouched");
}

#[tokio::test]
async fn item_01_a_sheet_saved_as_latin1_is_a_retryable_error_and_is_left_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let path = sheet_with(dir.path(), 1).await;
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b"Jos\xe9,Mar\xeda\n");
    std::fs::write(&path, &bytes).unwrap();
    let sheet = CsvSheet::new(dir.path()).unwrap();
    let s = submission(2);
    let err = sheet.append(&s.submission_id, &rows(&s)).await.unwrap_err();
    assert!(matches!(err, SideEffectError::Retryable(_)), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "untouched");
}

#[tokio::test]
async fn item_01_bytes_that_look_torn_but_are_not_ours_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = sheet_with(dir.path(), 1).await;
    // A row typed by hand without its final newline and without an id: no journal claims it.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b"FALSE,escrito a mano");
    std::fs::write(&path, &bytes).unwrap();
    let sheet = CsvSheet::new(dir.path()).unwrap();
    let s = submission(2);
    sheet.append(&s.submission_id, &rows(&s)).await.unwrap();
    let after = std::fs::read(&path).unwrap();
    assert!(after.starts_with(&bytes), "the hand-typed row is kept");
    assert_eq!(records(&path, b',').len(), 4);
}

#[tokio::test]
async fn item_01_a_long_sheet_is_appended_to_without_reading_it_twice_into_memory() {
    // 1,500 rows, then one append on a fresh instance (a full scan) and one more (cached).
    let dir = tempfile::tempdir().unwrap();
    let path = sheet_with(dir.path(), 1500).await;
    let before = std::fs::read(&path).unwrap();
    let sheet = CsvSheet::new(dir.path()).unwrap();
    for n in [1501, 1502] {
        let s = submission(n);
        assert_eq!(
            sheet.append(&s.submission_id, &rows(&s)).await.unwrap(),
            SheetWrite::Appended
        );
    }
    assert!(std::fs::read(&path).unwrap().starts_with(&before));
    assert_eq!(records(&path, b',').len(), 1503);
}

#[tokio::test]
async fn item_14_a_new_sheet_starts_with_a_utf8_bom_for_spreadsheet_programs() {
    let dir = tempfile::tempdir().unwrap();
    let path = sheet_with(dir.path(), 1).await;
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.starts_with(local::UTF8_BOM));
    assert_eq!(
        bytes.iter().filter(|b| **b == 0xEF).count(),
        1,
        "one BOM, at the start only"
    );
}
