//! The Google Sheets adapter against `testkit::sheets_fake`, a fake of the v4 API that keeps
//! real sheet state, checks the bearer token and the request shapes, enforces per-minute
//! quotas and fails on demand. The token comes from the real `google-cloud-auth` path: an
//! `authorized_user` credential whose `token_uri` is the fake's.

#[path = "sheets/contract.rs"]
mod contract;

use domain::model::FacultyRow;
use domain::model::SubmissionData;
use domain::ports::{Sheet, SheetWrite, SideEffectError};
use domain::sheets::{self as layout, Cell, SheetRows, Tab};
use domain::{Submission, SubmissionId, SubmissionType};
use futures_util::future::join_all;
use serde_json::{Value, json};
use sheets::{Config, SheetsSheet};
use std::time::{Duration, Instant};
use testkit::contract::{sample_submission, submission_id};
use testkit::sheets_fake::{FakeConfig, Fault, SheetsFake};

pub use testkit::sheets_fake::{
    DELEGACIONES_SHEET, DELEGACIONES_SPREADSHEET as DELEGACIONES_SS,
    FACULTY_SPREADSHEET as FACULTY_SS,
};
pub const DELEGACIONES_TABLE: &str = testkit::sheets_fake::DELEGACIONES_TABLE;
pub const FACULTY_TABLE: &str = testkit::sheets_fake::FACULTY_TABLE;
pub const FACULTY_DELEGACIONES_TABLE: &str = testkit::sheets_fake::FACULTY_DELEGACIONES_TABLE;
pub const LINK: &str = "https://registro.example/comprobantes/x";

/// A fake holding the two spreadsheets as the conference sets them up, and the adapter's
/// configuration for it (short timeouts and backoff for tests).
pub async fn fake_with(config: FakeConfig) -> (SheetsFake, Config) {
    let fake = SheetsFake::start_with(config).await;
    let vars = fake.add_registro_layout();
    let mut c = Config::from_lookup(|k| {
        vars.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.clone())
            .or_else(|| (k == "SHEETS_REQUEST_TIMEOUT_SECS").then(|| "1".to_owned()))
    })
    .expect("valid config");
    c.initial_backoff = Duration::from_millis(100);
    c.batch_window = Duration::from_millis(100);
    (fake, c)
}

pub fn sheet_for(fake: &SheetsFake, config: Config) -> SheetsSheet {
    let json: Value = serde_json::from_str(&fake.authorized_user_json()).unwrap();
    let credentials = sheets::authorized_user_credentials(json).expect("credentials");
    SheetsSheet::new(config, credentials).expect("sheet")
}

async fn setup() -> (SheetsFake, SheetsSheet) {
    let (fake, config) = fake_with(FakeConfig {
        timeout_sleep: Duration::from_secs(2),
        ..FakeConfig::default()
    })
    .await;
    let sheet = sheet_for(&fake, config);
    (fake, sheet)
}

fn delegacion(n: u32) -> Submission {
    sample_submission(&submission_id(n), SubmissionType::Delegacion)
}

/// A faculty registration with `delegates` rows.
fn faculty(n: u32, delegates: usize) -> Submission {
    let mut sub = sample_submission(&submission_id(n), SubmissionType::Faculty);
    let SubmissionData::Faculty(f) = &mut sub.data else {
        unreachable!()
    };
    let first = f.delegaciones[0].clone();
    f.delegaciones = (0..delegates)
        .map(|i| FacultyRow {
            nombre: format!("Delegado{i}"),
            ..first.clone()
        })
        .collect();
    f.numero_delegaciones = delegates as i64;
    sub
}

async fn append(sheet: &SheetsSheet, sub: &Submission) -> Result<SheetWrite, SideEffectError> {
    sheet
        .append(&sub.submission_id, &layout::rows_for(sub, LINK))
        .await
}

/// How many rows of `rows` hold `id` in some cell.
pub fn rows_with(rows: &[Vec<Value>], id: &SubmissionId) -> usize {
    rows.iter()
        .filter(|r| r.iter().any(|c| c.as_str() == Some(id.as_str())))
        .count()
}

#[tokio::test]
async fn a_delegacion_is_one_row_of_typed_literal_cells_in_its_table() {
    let (fake, sheet) = setup().await;
    let mut sub = delegacion(1);
    let SubmissionData::Delegacion(d) = &mut sub.data else {
        unreachable!()
    };
    d.participantes[0].nombre = "=HYPERLINK(\"http://x\";\"y\")".into();
    d.participantes[0].celular = "+52 999 123 4567".into();
    assert_eq!(append(&sheet, &sub).await, Ok(SheetWrite::Appended));
    let rows = fake.table_rows(DELEGACIONES_SS, DELEGACIONES_TABLE);
    assert_eq!(rows.len(), 2, "header + one row");
    let row = &rows[1];
    assert_eq!(row[0], json!(false), "the staff checkbox column");
    assert_eq!(row[2], json!(false), "not a codelegación");
    assert_eq!(
        row[5],
        json!("=HYPERLINK(\"http://x\";\"y\")"),
        "text, not a formula"
    );
    assert_eq!(row[7], json!(17), "the age is a number");
    assert_eq!(
        row[8],
        json!("+52 999 123 4567"),
        "the phone is not reinterpreted"
    );
    assert_eq!(row[39], json!(LINK));
    assert_eq!(row[40], json!(sub.submission_id.as_str()));
}

#[tokio::test]
async fn a_faculty_registration_is_one_atomic_batch_update_with_its_own_tab() {
    let (fake, sheet) = setup().await;
    let sub = faculty(2, 5);
    assert_eq!(append(&sheet, &sub).await, Ok(SheetWrite::Appended));
    assert_eq!(fake.stats().batch_updates_applied, 1, "one request");
    let id = &sub.submission_id;
    assert_eq!(
        rows_with(&fake.table_rows(FACULTY_SS, FACULTY_TABLE), id),
        1
    );
    assert_eq!(
        rows_with(&fake.table_rows(FACULTY_SS, FACULTY_DELEGACIONES_TABLE), id),
        5
    );
    let title = domain::faculty_tab::title("Escuela Modelo", id);
    let own = domain::faculty_tab::sheet_id(id);
    assert!(fake.sheets(FACULTY_SS).contains(&(own, title)));
    let tab = fake.rows(FACULTY_SS, own);
    assert_eq!(tab[0], vec![json!("Escuela Modelo")]);
    assert!(tab.contains(&vec![json!("Folio:"), json!(id.as_str())]));
    assert_eq!(
        tab.len(),
        11 + 5,
        "the reference's lines, the folio, a header, 5 rows"
    );
}

#[tokio::test]
async fn the_same_submission_twice_is_written_once() {
    let (fake, sheet) = setup().await;
    let (a, b) = (delegacion(3), faculty(4, 4));
    for sub in [&a, &b] {
        assert_eq!(append(&sheet, sub).await, Ok(SheetWrite::Appended));
        assert_eq!(append(&sheet, sub).await, Ok(SheetWrite::AlreadyPresent));
    }
    // And at the same time: one write, every caller answered.
    let c = delegacion(5);
    let results = join_all((0..5).map(|_| append(&sheet, &c))).await;
    assert_eq!(
        results
            .iter()
            .filter(|r| **r == Ok(SheetWrite::Appended))
            .count(),
        1,
        "calls coalesced into one batch share one write: {results:?}"
    );
    assert!(results.iter().all(Result::is_ok));
    let rows = fake.table_rows(DELEGACIONES_SS, DELEGACIONES_TABLE);
    for sub in [&a, &c] {
        assert_eq!(rows_with(&rows, &sub.submission_id), 1);
    }
    assert_eq!(
        fake.sheets(FACULTY_SS).len(),
        3,
        "the two tables' tabs and one own tab"
    );
}

#[tokio::test]
async fn staff_sorting_inserting_deleting_and_adding_columns_between_deliveries_hide_no_row() {
    let (fake, sheet) = setup().await;
    let subs: Vec<Submission> = (10..16).map(delegacion).collect();
    for sub in &subs {
        append(&sheet, sub).await.unwrap();
    }
    // What organizers do to a shared sheet during the registration window.
    fake.sort_table(DELEGACIONES_SS, DELEGACIONES_TABLE, 40, true);
    fake.insert_row(
        DELEGACIONES_SS,
        DELEGACIONES_SHEET,
        2,
        vec![json!(true), json!("fila escrita a mano")],
    );
    fake.insert_row(
        DELEGACIONES_SS,
        DELEGACIONES_SHEET,
        0,
        vec![json!("Título")],
    );
    fake.reverse_table(DELEGACIONES_SS, DELEGACIONES_TABLE);
    fake.insert_column(DELEGACIONES_SS, DELEGACIONES_SHEET, 0);
    fake.rename_sheet(DELEGACIONES_SS, DELEGACIONES_SHEET, "Inscripciones 2027");
    let before = fake.table_rows(DELEGACIONES_SS, DELEGACIONES_TABLE).len();
    for sub in &subs {
        assert_eq!(
            append(&sheet, sub).await,
            Ok(SheetWrite::AlreadyPresent),
            "a redelivery finds its row"
        );
    }
    let rows = fake.table_rows(DELEGACIONES_SS, DELEGACIONES_TABLE);
    assert_eq!(rows.len(), before, "no duplicate row");
    let new = delegacion(16);
    assert_eq!(append(&sheet, &new).await, Ok(SheetWrite::Appended));
    let rows = fake.table_rows(DELEGACIONES_SS, DELEGACIONES_TABLE);
    for sub in subs.iter().chain([&new]) {
        assert_eq!(rows_with(&rows, &sub.submission_id), 1);
    }
    // A deleted row is a staff decision the next delivery of *that* submission would undo;
    // other submissions are unaffected.
    let grid = fake.rows(DELEGACIONES_SS, DELEGACIONES_SHEET);
    let at = grid
        .iter()
        .position(|r| {
            r.iter()
                .any(|c| c.as_str() == Some(subs[0].submission_id.as_str()))
        })
        .unwrap();
    fake.delete_row(DELEGACIONES_SS, DELEGACIONES_SHEET, at);
    assert_eq!(
        append(&sheet, &subs[1]).await,
        Ok(SheetWrite::AlreadyPresent)
    );
}

#[tokio::test]
async fn throttling_errors_and_lost_responses_are_retried_without_a_second_row() {
    let (fake, sheet) = setup().await;
    fake.inject_write([Fault::Status429, Fault::Status500, Fault::Timeout]);
    let a = faculty(20, 4);
    assert_eq!(append(&sheet, &a).await, Ok(SheetWrite::Appended));
    // The write is applied but its answer is lost: the retry reads, finds it, writes nothing.
    fake.inject_write([Fault::LostResponse]);
    let b = faculty(21, 4);
    assert_eq!(append(&sheet, &b).await, Ok(SheetWrite::Appended));
    fake.inject_read([Fault::Status503]);
    let c = delegacion(22);
    assert_eq!(append(&sheet, &c).await, Ok(SheetWrite::Appended));
    for sub in [&a, &b] {
        let id = &sub.submission_id;
        assert_eq!(
            rows_with(&fake.table_rows(FACULTY_SS, FACULTY_TABLE), id),
            1
        );
        assert_eq!(
            rows_with(&fake.table_rows(FACULTY_SS, FACULTY_DELEGACIONES_TABLE), id),
            4
        );
        let own = domain::faculty_tab::sheet_id(id);
        assert_eq!(
            fake.sheets(FACULTY_SS)
                .iter()
                .filter(|(s, _)| *s == own)
                .count(),
            1
        );
    }
    assert!(fake.stats().faults_served >= 5, "{:?}", fake.stats());
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let (fake, config) = fake_with(FakeConfig {
        retry_after_secs: Some(2),
        ..FakeConfig::default()
    })
    .await;
    let sheet = sheet_for(&fake, config);
    fake.inject_write([Fault::Status429]);
    let started = Instant::now();
    assert_eq!(
        append(&sheet, &delegacion(30)).await,
        Ok(SheetWrite::Appended)
    );
    assert!(started.elapsed() >= Duration::from_secs(2));
}

#[tokio::test]
async fn a_submission_the_api_refuses_fails_alone_and_permanently() {
    let (fake, sheet) = setup().await;
    let bad_id = submission_id(40);
    // A tab title Sheets refuses (over 100 characters), as a bug upstream could produce.
    let bad = vec![SheetRows {
        tab: Tab::Own {
            title: "x".repeat(150),
            sheet_id: 4040,
        },
        rows: vec![vec![Cell::Text(bad_id.to_string())]],
    }];
    // In the same spreadsheet, so in the same batch as the bad one.
    let good: Vec<Submission> = (41..44).map(|n| faculty(n, 4)).collect();
    let (bad_result, good_results) = tokio::join!(
        sheet.append(&bad_id, &bad),
        join_all(good.iter().map(|s| append(&sheet, s)))
    );
    match bad_result {
        Err(SideEffectError::Permanent(m)) => {
            assert!(m.contains("400"), "{m}");
            assert!(!m.contains("xxxx"), "no cell text in errors: {m}");
        }
        other => panic!("expected a permanent error, got {other:?}"),
    }
    assert!(good_results.iter().all(|r| *r == Ok(SheetWrite::Appended)));
    let rows = fake.table_rows(FACULTY_SS, FACULTY_TABLE);
    assert_eq!(rows.len(), 1 + good.len());
    assert!(!fake.sheets(FACULTY_SS).iter().any(|(id, _)| *id == 4040));
}

#[tokio::test]
async fn a_spreadsheet_not_shared_with_the_service_account_is_a_permanent_error_that_says_so() {
    let (fake, sheet) = setup().await;
    fake.set_shared(DELEGACIONES_SS, false);
    match append(&sheet, &delegacion(50)).await {
        Err(SideEffectError::Permanent(m)) => {
            assert!(m.contains("403"), "{m}");
            assert!(m.contains("shared"), "{m}");
        }
        other => panic!("expected a permanent error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_sheet_id_that_is_not_in_the_spreadsheet_is_permanent_and_names_the_settings() {
    let (fake, mut config) = fake_with(FakeConfig::default()).await;
    config.delegaciones.sheet_id = 999;
    let sheet = sheet_for(&fake, config);
    match append(&sheet, &delegacion(51)).await {
        Err(SideEffectError::Permanent(m)) => assert!(m.contains("SHEET_ID"), "{m}"),
        other => panic!("expected a permanent error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_burst_is_coalesced_and_drains_under_the_write_quota_without_failures() {
    let (fake, config) = fake_with(FakeConfig {
        writes_per_minute: 60,
        reads_per_minute: 60,
        ..FakeConfig::default()
    })
    .await;
    let sheet = sheet_for(&fake, config);
    let subs: Vec<Submission> = (100..220)
        .map(|n| {
            if n % 4 == 0 {
                faculty(n, 4)
            } else {
                delegacion(n)
            }
        })
        .collect();
    let results = join_all(subs.iter().map(|s| append(&sheet, s))).await;
    assert!(
        results.iter().all(|r| *r == Ok(SheetWrite::Appended)),
        "{results:?}"
    );
    let stats = fake.stats();
    assert_eq!(stats.rate_limited, 0, "paced under the quota: {stats:?}");
    assert!(
        stats.batch_updates_applied <= 12,
        "120 submissions in a handful of requests: {stats:?}"
    );
    let rows = fake.table_rows(DELEGACIONES_SS, DELEGACIONES_TABLE);
    let faculty_rows = fake.table_rows(FACULTY_SS, FACULTY_TABLE);
    for sub in &subs {
        let table = if sub.submission_type == SubmissionType::Faculty {
            &faculty_rows
        } else {
            &rows
        };
        assert_eq!(rows_with(table, &sub.submission_id), 1);
    }
}

#[tokio::test]
async fn a_tab_another_worker_instance_created_is_found_instead_of_failing_the_submission() {
    let (fake, config) = fake_with(FakeConfig::default()).await;
    let (a, b) = (sheet_for(&fake, config.clone()), sheet_for(&fake, config));
    // Instance b has read the tab list before a creates the faculty tab.
    assert_eq!(append(&b, &faculty(60, 4)).await, Ok(SheetWrite::Appended));
    let sub = faculty(61, 4);
    assert_eq!(append(&a, &sub).await, Ok(SheetWrite::Appended));
    // The redelivery reaches b: its addSheet is refused, b reads the tab list again and finds
    // everything there.
    assert_eq!(append(&b, &sub).await, Ok(SheetWrite::AlreadyPresent));
    let own = domain::faculty_tab::sheet_id(&sub.submission_id);
    assert_eq!(
        fake.sheets(FACULTY_SS)
            .iter()
            .filter(|(s, _)| *s == own)
            .count(),
        1
    );
}

#[tokio::test]
async fn user_credentials_send_their_quota_project_as_google_requires() {
    let (fake, config) = fake_with(FakeConfig {
        user_project: Some("smmun-registro".into()),
        ..FakeConfig::default()
    })
    .await;
    let sheet = sheet_for(&fake, config.clone());
    assert_eq!(
        append(&sheet, &delegacion(70)).await,
        Ok(SheetWrite::Appended)
    );
    // The same credentials without the project are refused, as Google refuses them.
    let mut json: Value = serde_json::from_str(&fake.authorized_user_json()).unwrap();
    json.as_object_mut().unwrap().remove("quota_project_id");
    let without =
        SheetsSheet::new(config, sheets::authorized_user_credentials(json).unwrap()).unwrap();
    match append(&without, &delegacion(71)).await {
        Err(SideEffectError::Permanent(m)) => assert!(m.contains("SERVICE_DISABLED"), "{m}"),
        other => panic!("expected a permanent 403, got {other:?}"),
    }
}
