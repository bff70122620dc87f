//! `CsvSheet`: one CSV file per tab, appends idempotent per submission id, torn lines repaired.

use domain::model::SubmissionData;
use domain::ports::{Sheet, SheetWrite};
use domain::sheets::{self, DELEGACIONES_TAB, FACULTY_DELEGACIONES_TAB, FACULTY_TAB, SheetRows};
use domain::{Submission, SubmissionType};
use local::{CsvSheet, cell_text};
use std::path::Path;
use testkit::contract::{sample_submission, submission_id};

const LINK: &str = "https://registro.test/comprobantes/x";

fn submission(n: u32, ty: SubmissionType) -> Submission {
    sample_submission(&submission_id(n), ty)
}

fn rows(s: &Submission) -> Vec<SheetRows> {
    sheets::rows_for(s, LINK)
}

/// The header and the data rows of a tab file, as text.
fn read_tab(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(path)
        .expect("open tab");
    let header = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    let data = reader
        .records()
        .map(|r| r.expect("record").iter().map(str::to_owned).collect())
        .collect();
    (header, data)
}

/// The cells of `group` as the CSV holds them.
fn as_text(group: &SheetRows) -> Vec<Vec<String>> {
    group
        .rows
        .iter()
        .map(|r| r.iter().map(cell_text).collect())
        .collect()
}

fn header_of(tab: &str) -> Vec<String> {
    sheets::header(tab)
        .iter()
        .map(|h| (*h).to_owned())
        .collect()
}

#[tokio::test]
async fn appending_the_same_submission_twice_writes_one_row() {
    let dir = tempfile::tempdir().unwrap();
    let sheet = CsvSheet::new(dir.path()).unwrap();
    let s = submission(1, SubmissionType::Delegacion);

    assert_eq!(
        sheet.append(&s.submission_id, &rows(&s)).await.unwrap(),
        SheetWrite::Appended
    );
    assert_eq!(
        sheet.append(&s.submission_id, &rows(&s)).await.unwrap(),
        SheetWrite::AlreadyPresent
    );

    let (header, data) = read_tab(&sheet.path_of(DELEGACIONES_TAB));
    assert_eq!(header, header_of(DELEGACIONES_TAB));
    assert_eq!(data, as_text(&rows(&s)[0]), "one row, the cells as written");
    assert_eq!(data[0].last().unwrap(), s.submission_id.as_str());
}

#[tokio::test]
async fn a_torn_append_is_cut_on_next_open_and_the_retry_appends_exactly_one_row() {
    let dir = tempfile::tempdir().unwrap();
    let first = submission(1, SubmissionType::Delegacion);
    let second = submission(2, SubmissionType::Delegacion);
    let path = {
        let sheet = CsvSheet::new(dir.path()).unwrap();
        sheet
            .append(&first.submission_id, &rows(&first))
            .await
            .unwrap();
        // A crash in the middle of appending `second`: its journal, and half its bytes.
        let full = row_bytes(&second).await;
        sheet
            .torn_append_for_tests(&second.submission_id, &rows(&second)[0], full.len() / 2)
            .await
            .unwrap();
        sheet.path_of(DELEGACIONES_TAB)
    };
    let torn = std::fs::read(&path).unwrap();

    let sheet = CsvSheet::new(dir.path()).unwrap();
    assert_eq!(
        sheet
            .append(&second.submission_id, &rows(&second))
            .await
            .unwrap(),
        SheetWrite::Appended,
        "the torn line does not count as written"
    );
    for s in [&first, &second] {
        assert_eq!(
            sheet.append(&s.submission_id, &rows(s)).await.unwrap(),
            SheetWrite::AlreadyPresent
        );
    }
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > torn.len());
    assert!(bytes.ends_with(b"\n"));
    let (header, data) = read_tab(&path);
    assert_eq!(header, header_of(DELEGACIONES_TAB));
    let want: Vec<Vec<String>> = [as_text(&rows(&first)[0]), as_text(&rows(&second)[0])].concat();
    assert_eq!(data, want, "exactly one row per submission");
}

#[tokio::test]
async fn a_torn_header_is_cut_and_written_again() {
    let dir = tempfile::tempdir().unwrap();
    let s = submission(1, SubmissionType::Delegacion);
    {
        let sheet = CsvSheet::new(dir.path()).unwrap();
        sheet
            .torn_append_for_tests(&s.submission_id, &rows(&s)[0], 20)
            .await
            .unwrap();
    }
    let sheet = CsvSheet::new(dir.path()).unwrap();
    let path = sheet.path_of(DELEGACIONES_TAB);
    assert_eq!(std::fs::read(&path).unwrap().len(), 20);
    sheet.append(&s.submission_id, &rows(&s)).await.unwrap();

    let (header, data) = read_tab(&path);
    assert_eq!(header, header_of(DELEGACIONES_TAB));
    assert_eq!(data, as_text(&rows(&s)[0]));
}

#[tokio::test]
async fn a_new_instance_on_the_same_directory_still_sees_existing_ids() {
    let dir = tempfile::tempdir().unwrap();
    let s = submission(1, SubmissionType::Faculty);
    {
        let sheet = CsvSheet::new(dir.path()).unwrap();
        assert_eq!(
            sheet.append(&s.submission_id, &rows(&s)).await.unwrap(),
            SheetWrite::Appended
        );
    }
    let sheet = CsvSheet::new(dir.path()).unwrap();
    assert_eq!(
        sheet.append(&s.submission_id, &rows(&s)).await.unwrap(),
        SheetWrite::AlreadyPresent
    );
    for tab in [FACULTY_TAB, FACULTY_DELEGACIONES_TAB] {
        let (_, data) = read_tab(&sheet.path_of(tab));
        assert_eq!(data.len(), 1, "{tab}");
    }
}

#[tokio::test]
async fn a_faculty_registration_writes_one_row_and_one_row_per_delegate_in_two_tabs() {
    let dir = tempfile::tempdir().unwrap();
    let sheet = CsvSheet::new(dir.path()).unwrap();
    let mut s = submission(1, SubmissionType::Faculty);
    let SubmissionData::Faculty(f) = &mut s.data else {
        unreachable!("a faculty sample")
    };
    let mut second = f.delegaciones[0].clone();
    second.nombre = "=HYPERLINK(\"http://evil\")".into();
    second.edad = None;
    f.delegaciones.push(second);
    f.numero_delegaciones = 2;
    let groups = rows(&s);

    assert_eq!(
        sheet.append(&s.submission_id, &groups).await.unwrap(),
        SheetWrite::Appended
    );
    let (header, data) = read_tab(&sheet.path_of(FACULTY_TAB));
    assert_eq!(header, header_of(FACULTY_TAB));
    assert_eq!(data, as_text(&groups[0]));
    let (header, data) = read_tab(&sheet.path_of(FACULTY_DELEGACIONES_TAB));
    assert_eq!(header, header_of(FACULTY_DELEGACIONES_TAB));
    assert_eq!(data, as_text(&groups[1]));
    assert_eq!(data.len(), 2, "one row per delegate");
    assert!(
        data.iter()
            .all(|r| r.last().unwrap() == s.submission_id.as_str())
    );
    assert_eq!(
        data[1][1], "'=HYPERLINK(\"http://evil\")",
        "a formula is stored as text"
    );
    assert!(
        !sheet.path_of(DELEGACIONES_TAB).exists(),
        "no other tab is touched"
    );
}

#[tokio::test]
async fn the_header_row_is_written_once_per_tab() {
    let dir = tempfile::tempdir().unwrap();
    let sheet = CsvSheet::new(dir.path()).unwrap();
    for n in 1..=3 {
        let s = submission(n, SubmissionType::Delegacion);
        sheet.append(&s.submission_id, &rows(&s)).await.unwrap();
    }
    let reopened = CsvSheet::new(dir.path()).unwrap();
    let s = submission(4, SubmissionType::Delegacion);
    reopened.append(&s.submission_id, &rows(&s)).await.unwrap();

    let path = sheet.path_of(DELEGACIONES_TAB);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(&path)
        .unwrap();
    let lines: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let header = csv::StringRecord::from(header_of(DELEGACIONES_TAB));
    assert_eq!(lines.len(), 5, "header + four rows");
    assert_eq!(lines[0], header);
    assert_eq!(
        lines.iter().filter(|l| **l == header).count(),
        1,
        "one header row"
    );
    let ids: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.iter().next_back().unwrap())
        .collect();
    let want: Vec<String> = (1..=4).map(|n| submission_id(n).to_string()).collect();
    assert_eq!(ids, want);
}

/// The bytes `CsvSheet` writes for `s` in a fresh directory (header excluded).
async fn row_bytes(s: &Submission) -> Vec<u8> {
    let scratch = tempfile::tempdir().unwrap();
    let sheet = CsvSheet::new(scratch.path()).unwrap();
    sheet.append(&s.submission_id, &rows(s)).await.unwrap();
    let bytes = std::fs::read(sheet.path_of(DELEGACIONES_TAB)).unwrap();
    let header_end = bytes.iter().position(|b| *b == b'\n').unwrap() + 1;
    bytes[header_end..].to_vec()
}

fn with_info_extra(mut s: Submission, text: &str) -> Submission {
    let SubmissionData::Delegacion(d) = &mut s.data else {
        unreachable!("a delegación sample")
    };
    d.participantes[0].info_extra = Some(text.into());
    s
}

#[tokio::test]
async fn a_row_torn_right_after_a_newline_inside_a_cell_is_repaired_too() {
    let dir = tempfile::tempdir().unwrap();
    let first = submission(1, SubmissionType::Delegacion);
    // Free text (a textarea) may hold newlines: the cell is quoted and spans lines.
    let second = with_info_extra(
        submission(2, SubmissionType::Delegacion),
        "Alergia a la nuez\nUsa lentes",
    );
    let path = {
        let sheet = CsvSheet::new(dir.path()).unwrap();
        sheet
            .append(&first.submission_id, &rows(&first))
            .await
            .unwrap();
        let full = row_bytes(&second).await;
        let cut = full
            .windows(2)
            .position(|w| w == b"z\n")
            .expect("the newline inside the cell")
            + 2;
        sheet
            .torn_append_for_tests(&second.submission_id, &rows(&second)[0], cut)
            .await
            .unwrap();
        sheet.path_of(DELEGACIONES_TAB)
    };
    assert!(
        std::fs::read(&path).unwrap().ends_with(b"z\n"),
        "the file still ends with a newline"
    );

    let sheet = CsvSheet::new(dir.path()).unwrap();
    assert_eq!(
        sheet
            .append(&second.submission_id, &rows(&second))
            .await
            .unwrap(),
        SheetWrite::Appended
    );
    let (_, data) = read_tab(&path);
    let want: Vec<Vec<String>> = [as_text(&rows(&first)[0]), as_text(&rows(&second)[0])].concat();
    assert_eq!(data, want, "exactly one intact row per submission");

    let reopened = CsvSheet::new(dir.path()).unwrap();
    for s in [&first, &second] {
        assert_eq!(
            reopened.append(&s.submission_id, &rows(s)).await.unwrap(),
            SheetWrite::AlreadyPresent
        );
    }
}

#[tokio::test]
async fn a_partial_write_left_by_a_failed_append_is_cut_before_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let sheet = CsvSheet::new(dir.path()).unwrap();
    let first = submission(1, SubmissionType::Delegacion);
    let second = submission(2, SubmissionType::Delegacion);
    sheet
        .append(&first.submission_id, &rows(&first))
        .await
        .unwrap();
    // The same instance failed half-way through a write (a full disk): the error was
    // retryable, so the worker retries the append on this instance, with its index loaded.
    let full = row_bytes(&second).await;
    sheet
        .torn_append_for_tests(&second.submission_id, &rows(&second)[0], full.len() / 2)
        .await
        .unwrap();

    assert_eq!(
        sheet
            .append(&second.submission_id, &rows(&second))
            .await
            .unwrap(),
        SheetWrite::Appended
    );
    let (_, data) = read_tab(&sheet.path_of(DELEGACIONES_TAB));
    let want: Vec<Vec<String>> = [as_text(&rows(&first)[0]), as_text(&rows(&second)[0])].concat();
    assert_eq!(data, want, "exactly one intact row per submission");
}
