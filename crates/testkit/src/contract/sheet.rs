//! The [`Sheet`] contract: a submission's rows land exactly once whatever happens (a retry, a
//! lost answer, concurrent deliveries), in the layout of `domain::sheets`, with user text kept
//! as literal text.
//!
//! The checks read tabs back through the backend's [`ReadTab`] hook and find a submission's
//! rows by its id in *any* cell (organizers may move columns), never by position. Cells are
//! compared as text, see [`SheetUnderTest::read`].

use super::faults::{FailNext, FaultKind};
use super::{sample_submission, submission_id};
use domain::model::{FacultyRow, SubmissionData};
use domain::ports::{Sheet, SheetWrite, SideEffectError};
use domain::sheets::{
    self, Cell, DELEGACIONES_TAB, FACULTY_DELEGACIONES_TAB, FACULTY_TAB, SheetRows, Tab,
};
use domain::{Submission, SubmissionId, SubmissionType};
use futures_util::future::{BoxFuture, join_all};
use std::any::Any;
use std::future::Future;
use std::sync::Arc;

/// Every row of a tab as text, in order.
pub type ReadTab = Box<dyn Fn(&Tab) -> BoxFuture<'static, Vec<Vec<String>>> + Send + Sync>;

/// A fresh, empty spreadsheet plus the backend's hooks.
pub struct SheetUnderTest {
    pub sheet: Arc<dyn Sheet>,
    /// All rows of a tab, its header row included if the backend writes one; a tab that does
    /// not exist reads as no rows. Cells as text: a [`Cell::Text`] as written, or with one
    /// leading `'` if it looks like a formula and the backend protects such text that way; a
    /// [`Cell::Number`] in decimal (`14`); a [`Cell::Bool`] as `TRUE`/`FALSE` in any case; an
    /// empty cell as `""`. Trailing empty cells and rows may be left out.
    pub read: ReadTab,
    pub fail_next: FailNext,
    /// Dropped last: temp directories, fakes, anything the sheet needs alive.
    pub keep_alive: Option<Box<dyn Any + Send + Sync>>,
}

/// Builds a [`SheetUnderTest`]. Implemented by every
/// `Fn() -> impl Future<Output = SheetUnderTest>`.
pub trait MakeSheet {
    fn make(&self) -> impl Future<Output = SheetUnderTest>;
}

impl<F, Fut> MakeSheet for F
where
    F: Fn() -> Fut,
    Fut: Future<Output = SheetUnderTest>,
{
    fn make(&self) -> impl Future<Output = SheetUnderTest> {
        self()
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures and assertions

/// The stable receipt link the worker puts in the rows of submission `id`.
pub fn receipt_link(id: &SubmissionId) -> String {
    format!("https://example.test/comprobantes/{id}")
}

/// [`sample_submission`] of a faculty with `delegates` delegates (at least its one; the
/// fourth has no age, so its row has an empty cell in the middle).
pub fn sample_faculty_submission(id: &SubmissionId, delegates: usize) -> Submission {
    let mut sub = sample_submission(id, SubmissionType::Faculty);
    let SubmissionData::Faculty(f) = &mut sub.data else {
        unreachable!("a faculty sample")
    };
    let names = [("Marta", "Chi"), ("Pablo", "Uc"), ("Sara", "Poot")];
    for k in f.delegaciones.len()..delegates {
        let (nombre, apellido) = names[k % names.len()];
        f.delegaciones.push(FacultyRow {
            nombre: format!("{nombre} {k}"),
            apellido: apellido.into(),
            edad: (k != 3).then_some(14 + k as i64),
            celular: format!("55{k:08}"),
            correo: format!("{}{k}@example.com", nombre.to_lowercase()),
            ..f.delegaciones[0].clone()
        });
    }
    f.numero_delegaciones = f.delegaciones.len() as i64;
    sub
}

fn delegacion(n: u32) -> Submission {
    sample_submission(&submission_id(n), SubmissionType::Delegacion)
}

fn faculty(n: u32) -> Submission {
    sample_faculty_submission(&submission_id(n), 4)
}

fn rows_of(sub: &Submission) -> Vec<SheetRows> {
    sheets::rows_for(sub, &receipt_link(&sub.submission_id))
}

async fn append(sut: &SheetUnderTest, sub: &Submission) -> Result<SheetWrite, SideEffectError> {
    sut.sheet.append(&sub.submission_id, &rows_of(sub)).await
}

/// Arms `kind`; false (and a line on stderr) if the backend cannot simulate it.
async fn arm(sut: &SheetUnderTest, kind: FaultKind, check: &str) -> bool {
    let supported = (sut.fail_next)(kind).await;
    if !supported {
        eprintln!("{check}: skipped, the backend cannot simulate {kind:?}");
    }
    supported
}

fn looks_like_formula(t: &str) -> bool {
    t.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// Whether `got` is how a backend may read `want` back (see [`SheetUnderTest::read`]).
pub fn cell_matches(want: &Cell, got: &str) -> bool {
    match want {
        Cell::Empty => got.is_empty(),
        Cell::Bool(b) => got.eq_ignore_ascii_case(if *b { "TRUE" } else { "FALSE" }),
        Cell::Number(n) => got == n.to_string(),
        Cell::Text(t) => {
            got == t || (looks_like_formula(t) && got.strip_prefix('\'') == Some(t.as_str()))
        }
    }
}

fn without_trailing<T>(row: &[T], empty: impl Fn(&T) -> bool) -> &[T] {
    let end = row.iter().rposition(|c| !empty(c)).map_or(0, |i| i + 1);
    &row[..end]
}

/// Whether a row read back is `want`, trailing empty cells aside.
pub fn row_matches(want: &[Cell], got: &[String]) -> bool {
    let want = without_trailing(want, |c| {
        matches!(c, Cell::Empty) || *c == Cell::Text("".into())
    });
    let got = without_trailing(got, String::is_empty);
    want.len() == got.len() && want.iter().zip(got).all(|(w, g)| cell_matches(w, g))
}

fn with_id(tab: &[Vec<String>], id: &str) -> Vec<Vec<String>> {
    tab.iter()
        .filter(|row| row.iter().any(|c| c == id))
        .cloned()
        .collect()
}

/// A tab's rows without the trailing empty ones.
fn content(tab: &[Vec<String>]) -> Vec<Vec<String>> {
    without_trailing(tab, |r| r.iter().all(String::is_empty)).to_vec()
}

/// Every group of `sub` is in its tab exactly once: a table holds exactly its rows carrying the
/// id, a tab of its own holds exactly its rows.
async fn assert_written_once(sut: &SheetUnderTest, sub: &Submission) {
    let id = sub.submission_id.as_str();
    for group in rows_of(sub) {
        let tab = (sut.read)(&group.tab).await;
        let (what, got) = match &group.tab {
            Tab::Table(name) => (format!("table {name}"), with_id(&tab, id)),
            Tab::Own { title, .. } => (format!("own tab {title}"), content(&tab)),
        };
        let want = without_trailing(&group.rows, Vec::is_empty);
        assert_eq!(
            got.len(),
            want.len(),
            "{what}: exactly the {} row(s) of {id}, got {got:#?}",
            want.len()
        );
        for (w, g) in want.iter().zip(&got) {
            assert!(row_matches(w, g), "{what}: read {g:?}, wrote {w:?}");
        }
    }
}

/// No group of `sub` left anything: no table row carries its id, its own tab is empty.
async fn assert_nothing_written(sut: &SheetUnderTest, sub: &Submission, why: &str) {
    let id = sub.submission_id.as_str();
    for group in rows_of(sub) {
        let tab = (sut.read)(&group.tab).await;
        let left = match &group.tab {
            Tab::Table(_) => with_id(&tab, id),
            Tab::Own { .. } => content(&tab),
        };
        assert!(
            left.is_empty(),
            "{why}: {} holds {left:?}",
            group.tab.name()
        );
    }
}

/// Every tab `sub` writes to, as read now.
async fn snapshot(sut: &SheetUnderTest, sub: &Submission) -> Vec<Vec<Vec<String>>> {
    join_all(rows_of(sub).iter().map(|g| (sut.read)(&g.tab))).await
}

async fn table(sut: &SheetUnderTest, name: &'static str) -> Vec<Vec<String>> {
    (sut.read)(&Tab::Table(name)).await
}

// ---------------------------------------------------------------------------------------------
// Checks

pub async fn a_first_append_writes_exactly_the_submissions_rows_to_each_tab(make: impl MakeSheet) {
    let sut = make.make().await;
    for sub in [delegacion(1), faculty(2)] {
        assert_eq!(append(&sut, &sub).await, Ok(SheetWrite::Appended));
        assert_written_once(&sut, &sub).await;
    }
}

pub async fn appending_the_same_submission_again_is_already_present_and_adds_nothing(
    make: impl MakeSheet,
) {
    let sut = make.make().await;
    for sub in [delegacion(1), faculty(2)] {
        assert_eq!(append(&sut, &sub).await, Ok(SheetWrite::Appended));
        let before = snapshot(&sut, &sub).await;
        for _ in 0..2 {
            assert_eq!(append(&sut, &sub).await, Ok(SheetWrite::AlreadyPresent));
        }
        assert_eq!(snapshot(&sut, &sub).await, before, "nothing added");
        assert_written_once(&sut, &sub).await;
    }
}

pub async fn a_delegacion_is_one_row_of_41_cells_in_delegaciones_ending_with_its_id(
    make: impl MakeSheet,
) {
    let sut = make.make().await;
    let sub = delegacion(1);
    let id = sub.submission_id.as_str();
    append(&sut, &sub).await.expect("append");
    let rows = with_id(&table(&sut, DELEGACIONES_TAB).await, id);
    assert_eq!(rows.len(), 1, "one row: {rows:?}");
    assert_eq!(
        rows[0].len(),
        41,
        "40 reference cells and the id: {:?}",
        rows[0]
    );
    assert_eq!(rows[0].last().map(String::as_str), Some(id));
    for other in [FACULTY_TAB, FACULTY_DELEGACIONES_TAB] {
        assert!(with_id(&table(&sut, other).await, id).is_empty(), "{other}");
    }
}

pub async fn a_faculty_registration_is_one_faculty_row_a_row_per_delegate_and_its_own_tab(
    make: impl MakeSheet,
) {
    let sut = make.make().await;
    let sub = faculty(1);
    let id = sub.submission_id.as_str();
    let SubmissionData::Faculty(f) = &sub.data else {
        unreachable!("a faculty sample")
    };
    assert!(f.delegaciones.len() >= 4);
    assert_eq!(append(&sut, &sub).await, Ok(SheetWrite::Appended));

    let general = with_id(&table(&sut, FACULTY_TAB).await, id);
    assert_eq!(general.len(), 1, "one faculty row: {general:?}");
    assert_eq!(general[0].len(), 12);
    assert_eq!(general[0].last().map(String::as_str), Some(id));
    let delegates = with_id(&table(&sut, FACULTY_DELEGACIONES_TAB).await, id);
    assert_eq!(delegates.len(), f.delegaciones.len(), "{delegates:?}");
    for (row, d) in delegates.iter().zip(&f.delegaciones) {
        assert_eq!(row.last().map(String::as_str), Some(id));
        assert!(row.contains(&d.nombre), "delegates in order: {row:?}");
    }
    assert!(with_id(&table(&sut, DELEGACIONES_TAB).await, id).is_empty());

    let own = rows_of(&sub)
        .into_iter()
        .find(|g| matches!(g.tab, Tab::Own { .. }))
        .expect("a faculty registration has its own tab");
    let tab = (sut.read)(&own.tab).await;
    assert!(
        tab.iter()
            .any(|r| r.first().map(String::as_str) == Some("Folio:") && r.iter().any(|c| c == id)),
        "a Folio line with the id in {}: {tab:?}",
        own.tab.name()
    );
    for d in &f.delegaciones {
        assert!(
            tab.iter().any(|r| r.first() == Some(&d.nombre)),
            "{}",
            d.nombre
        );
    }
    assert_written_once(&sut, &sub).await;
}

pub async fn formula_like_text_comes_back_as_literal_text(make: impl MakeSheet) {
    const FORMULAS: [&str; 5] = [
        "=HYPERLINK(\"http://x.test\";\"clic\")",
        "+52 999 123 4567",
        "=1+1",
        "@SUM(A1:A9)",
        "-2+3",
    ];
    let sut = make.make().await;
    let mut d = delegacion(1);
    let SubmissionData::Delegacion(data) = &mut d.data else {
        unreachable!("a delegación sample")
    };
    let p = &mut data.participantes[0];
    p.nombre = FORMULAS[0].into();
    p.celular = FORMULAS[1].into();
    p.info_extra = Some(FORMULAS[2].into());
    p.escuela = FORMULAS[3].into();
    p.apellido = FORMULAS[4].into();
    let mut f = faculty(2);
    let SubmissionData::Faculty(data) = &mut f.data else {
        unreachable!("a faculty sample")
    };
    data.institucion = "=IMPORTXML(\"http://x.test\";\"//a\")".into();
    data.faculty.celular = "+52 999 765 4321".into();
    data.delegaciones[0].nombre = FORMULAS[0].into();

    let id = d.submission_id.to_string();
    for sub in [d, f] {
        append(&sut, &sub).await.expect("append");
        assert_written_once(&sut, &sub).await;
    }
    let row = &with_id(&table(&sut, DELEGACIONES_TAB).await, &id)[0];
    for text in FORMULAS {
        assert!(
            row.iter()
                .any(|c| c == text || c.strip_prefix('\'') == Some(text)),
            "{text} kept as text: {row:?}"
        );
    }
}

pub async fn a_retryable_fault_writes_nothing_and_the_retry_writes_one_row_set(
    make: impl MakeSheet,
) {
    let sut = make.make().await;
    let check = "a_retryable_fault_writes_nothing_and_the_retry_writes_one_row_set";
    if !arm(&sut, FaultKind::Transient, check).await {
        return;
    }
    let sub = faculty(1);
    let outcome = append(&sut, &sub).await;
    assert!(
        matches!(outcome, Err(SideEffectError::Retryable(_))),
        "retryable: {outcome:?}"
    );
    assert_nothing_written(&sut, &sub, "after a transient fault").await;
    assert_eq!(append(&sut, &sub).await, Ok(SheetWrite::Appended));
    assert_written_once(&sut, &sub).await;
}

pub async fn a_lost_response_is_retryable_and_the_retry_finds_the_rows_already_present(
    make: impl MakeSheet,
) {
    let sut = make.make().await;
    let check = "a_lost_response_is_retryable_and_the_retry_finds_the_rows_already_present";
    for sub in [faculty(1), delegacion(2)] {
        if !arm(&sut, FaultKind::LostResponse, check).await {
            return;
        }
        let outcome = append(&sut, &sub).await;
        assert!(
            matches!(outcome, Err(SideEffectError::Retryable(_))),
            "retryable: {outcome:?}"
        );
        assert_written_once(&sut, &sub).await;
        assert_eq!(append(&sut, &sub).await, Ok(SheetWrite::AlreadyPresent));
        assert_written_once(&sut, &sub).await;
    }
}

pub async fn a_permanent_fault_is_permanent_and_writes_nothing(make: impl MakeSheet) {
    let sut = make.make().await;
    let check = "a_permanent_fault_is_permanent_and_writes_nothing";
    if !arm(&sut, FaultKind::Permanent, check).await {
        return;
    }
    let sub = faculty(1);
    let outcome = append(&sut, &sub).await;
    assert!(
        matches!(outcome, Err(SideEffectError::Permanent(_))),
        "permanent: {outcome:?}"
    );
    assert_nothing_written(&sut, &sub, "after a permanent fault").await;
}

/// Twenty submissions (every fifth a faculty) appended at once.
pub async fn many_distinct_submissions_appended_concurrently_all_land_exactly_once(
    make: impl MakeSheet,
) {
    let sut = make.make().await;
    let subs: Vec<Submission> = (1..=20u32)
        .map(|n| {
            if n.is_multiple_of(5) {
                faculty(n)
            } else {
                delegacion(n)
            }
        })
        .collect();
    let outcomes = join_all(subs.iter().map(|s| append(&sut, s))).await;
    for (sub, outcome) in subs.iter().zip(outcomes) {
        assert_eq!(outcome, Ok(SheetWrite::Appended), "{}", sub.submission_id);
    }
    for sub in &subs {
        assert_written_once(&sut, sub).await;
    }
}

/// Five deliveries of one submission at once: one row set. Each call appends, finds the rows
/// present, or fails retryably; at most one says it appended; a later call finds them present.
pub async fn the_same_submission_appended_concurrently_lands_once(make: impl MakeSheet) {
    let sut = make.make().await;
    for sub in [delegacion(1), faculty(2)] {
        let outcomes = join_all((0..5).map(|_| append(&sut, &sub))).await;
        let appended = outcomes
            .iter()
            .filter(|o| **o == Ok(SheetWrite::Appended))
            .count();
        assert!(appended <= 1, "one append at most: {outcomes:?}");
        assert!(
            outcomes
                .iter()
                .all(|o| matches!(o, Ok(_) | Err(SideEffectError::Retryable(_)))),
            "{outcomes:?}"
        );
        let last = append(&sut, &sub).await;
        let want = if appended == 1 {
            SheetWrite::AlreadyPresent
        } else {
            SheetWrite::Appended
        };
        assert_eq!(last, Ok(want), "after the race: {outcomes:?}");
        assert_written_once(&sut, &sub).await;
    }
}

/// Every sheet check, in sequence, each on a fresh sheet.
pub async fn sheet_contract<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = SheetUnderTest>,
{
    a_first_append_writes_exactly_the_submissions_rows_to_each_tab(&make).await;
    appending_the_same_submission_again_is_already_present_and_adds_nothing(&make).await;
    a_delegacion_is_one_row_of_41_cells_in_delegaciones_ending_with_its_id(&make).await;
    a_faculty_registration_is_one_faculty_row_a_row_per_delegate_and_its_own_tab(&make).await;
    formula_like_text_comes_back_as_literal_text(&make).await;
    a_retryable_fault_writes_nothing_and_the_retry_writes_one_row_set(&make).await;
    a_lost_response_is_retryable_and_the_retry_finds_the_rows_already_present(&make).await;
    a_permanent_fault_is_permanent_and_writes_nothing(&make).await;
    many_distinct_submissions_appended_concurrently_all_land_exactly_once(&make).await;
    the_same_submission_appended_concurrently_lands_once(&make).await;
}
