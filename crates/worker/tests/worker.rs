//! The worker on the embedded backend (SQLite store, CSV sheet, `.eml` mailer in a temp dir),
//! with fault injection wrapped around the sheet and the mailer: one delivery end to end,
//! redeliveries, retryable and permanent failures, the attempt budget, lease contention, poison
//! messages, and the Pub/Sub push endpoint.

use async_trait::async_trait;
use axum::body::Body;
use base64::Engine;
use chrono::Duration;
use domain::catalog::EXAMPLE_JSON;
use domain::failpoints::Failpoints;
use domain::form::parse_delegaciones;
use domain::mail::{Email, MailSettings};
use domain::outbox::WorkMessage;
use domain::ports::{Clock, Mailer, PipelineStore, Sheet, SheetWrite, SideEffectError, Store};
use domain::sheets::{DELEGACIONES_TAB, FACULTY_DELEGACIONES_TAB, FACULTY_TAB, SheetRows};
use domain::worker::{
    self as machine, CP_COMPLETED, CP_FAILED, STEP_CONFIRMATION, STEP_INTERNAL, STEP_SHEETS,
};
use domain::{Catalog, Submission, SubmissionId, SubmissionStatus, SubmissionType};
use http::{Request, StatusCode};
use local::{CsvSheet, DB_FILE, FileMailer, MAIL_DIR, SHEETS_DIR, SqliteStore};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use testkit::clock::ManualClock;
use testkit::contract::{sample_acceptance, submission_id};
use testkit::forms::FormFixture;
use tower::ServiceExt;
use worker::{Delivery, Deps, ReceiptLinks, Worker, WorkerConfig};

// ---------------------------------------------------------------------------------------------
// Fault injection

#[derive(Debug, Clone, Copy)]
enum Fault {
    Retryable,
    Permanent,
    /// The side effect happens, but its answer is lost (a timeout after the write).
    LostAnswer,
}

/// What the next calls do, one entry per call (`None` goes through); calls past the plan go
/// through.
#[derive(Default)]
struct Faults {
    plan: Mutex<VecDeque<Option<Fault>>>,
    calls: AtomicUsize,
}

impl Faults {
    /// The next `n` calls (after those already planned) fail with `fault`.
    fn inject(&self, n: usize, fault: Fault) {
        self.plan
            .lock()
            .unwrap()
            .extend(std::iter::repeat_n(Some(fault), n));
    }

    /// The next `n` calls (after those already planned) go through.
    fn pass(&self, n: usize) {
        self.plan
            .lock()
            .unwrap()
            .extend(std::iter::repeat_n(None, n));
    }

    fn next(&self) -> Option<Fault> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.plan.lock().unwrap().pop_front().flatten()
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

const SHEET_RETRYABLE: &str = "sheets answered 503";
const SHEET_PERMANENT: &str = "sheets answered 400: unable to parse range";
const MAIL_RETRYABLE: &str = "resend answered 429";
const MAIL_PERMANENT: &str = "resend answered 422: invalid `to` field";
const LOST: &str = "timed out after the request was sent";

struct FlakySheet {
    inner: CsvSheet,
    faults: Faults,
}

#[async_trait]
impl Sheet for FlakySheet {
    async fn append(
        &self,
        submission_id: &SubmissionId,
        rows: &[SheetRows],
    ) -> Result<SheetWrite, SideEffectError> {
        match self.faults.next() {
            Some(Fault::Retryable) => Err(SideEffectError::Retryable(SHEET_RETRYABLE.into())),
            Some(Fault::Permanent) => Err(SideEffectError::Permanent(SHEET_PERMANENT.into())),
            Some(Fault::LostAnswer) => {
                self.inner.append(submission_id, rows).await?;
                Err(SideEffectError::Retryable(LOST.into()))
            }
            None => self.inner.append(submission_id, rows).await,
        }
    }
}

struct FlakyMailer {
    inner: FileMailer,
    faults: Faults,
    /// When set, the next call waits for this before doing anything (a slow provider).
    hold: Mutex<Option<tokio::sync::oneshot::Receiver<()>>>,
}

impl FlakyMailer {
    /// Makes the next call hang until the returned sender is used (or dropped).
    fn hold_next(&self) -> tokio::sync::oneshot::Sender<()> {
        let (release, held) = tokio::sync::oneshot::channel();
        *self.hold.lock().unwrap() = Some(held);
        release
    }
}

#[async_trait]
impl Mailer for FlakyMailer {
    async fn send(&self, email: &Email) -> Result<String, SideEffectError> {
        let fault = self.faults.next();
        let held = self.hold.lock().unwrap().take();
        if let Some(held) = held {
            let _ = held.await;
        }
        match fault {
            Some(Fault::Retryable) => Err(SideEffectError::Retryable(MAIL_RETRYABLE.into())),
            Some(Fault::Permanent) => Err(SideEffectError::Permanent(MAIL_PERMANENT.into())),
            Some(Fault::LostAnswer) => {
                self.inner.send(email).await?;
                Err(SideEffectError::Retryable(LOST.into()))
            }
            None => self.inner.send(email).await,
        }
    }
}

struct Links;

impl ReceiptLinks for Links {
    fn link(&self, submission: &Submission) -> String {
        format!(
            "https://registro.test/comprobantes/{}",
            submission.submission_id
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Harness

const MAX_ATTEMPTS: i64 = 3;

struct Harness {
    store: Arc<SqliteStore>,
    clock: Arc<ManualClock>,
    sheet: Arc<FlakySheet>,
    mailer: Arc<FlakyMailer>,
    worker: Worker,
    dir: tempfile::TempDir,
}

impl Harness {
    fn new() -> Self {
        Self::with_config(WorkerConfig {
            lease: machine::DEFAULT_LEASE,
            heartbeat_every: std::time::Duration::from_secs(30),
            max_attempts: MAX_ATTEMPTS,
        })
    }

    fn with_config(config: WorkerConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::default());
        let store = Arc::new(SqliteStore::open(&dir.path().join(DB_FILE), clock.clone()).unwrap());
        let sheet = Arc::new(FlakySheet {
            inner: CsvSheet::new(dir.path().join(SHEETS_DIR)).unwrap(),
            faults: Faults::default(),
        });
        let mailer = Arc::new(FlakyMailer {
            inner: FileMailer::new(dir.path().join(MAIL_DIR)).unwrap(),
            faults: Faults::default(),
            hold: Mutex::default(),
        });
        let worker = Worker::new(Deps {
            store: store.clone(),
            sheet: sheet.clone(),
            mailer: mailer.clone(),
            catalog: Arc::new(Catalog::from_json(EXAMPLE_JSON).unwrap()),
            mail: MailSettings::default(),
            links: Arc::new(Links),
            config,
            failpoints: Arc::new(Failpoints::default()),
        });
        Self {
            store,
            clock,
            sheet,
            mailer,
            worker,
            dir,
        }
    }

    /// Accepts the sample submission `n` of type `ty` through the store, as the API does.
    async fn accept(&self, n: u32, ty: SubmissionType) -> SubmissionId {
        testkit::contract::accept_sample(self.store.as_ref(), n, ty).await
    }

    async fn submission(&self, id: &SubmissionId) -> Submission {
        self.store.submission(id).await.unwrap().unwrap()
    }

    async fn deliver(&self, id: &SubmissionId) -> Delivery {
        self.worker.handle(&message(id)).await
    }

    fn sheet_path(&self, tab: &str) -> PathBuf {
        self.dir.path().join(SHEETS_DIR).join(format!("{tab}.csv"))
    }

    /// Data rows of a tab (header excluded); none when the file does not exist.
    fn sheet_rows(&self, tab: &str) -> Vec<csv::StringRecord> {
        let path = self.sheet_path(tab);
        if !path.exists() {
            return Vec::new();
        }
        csv::Reader::from_path(path)
            .unwrap()
            .records()
            .map(Result::unwrap)
            .collect()
    }

    fn mail_dir(&self) -> PathBuf {
        self.dir.path().join(MAIL_DIR)
    }

    /// Stems of the `.eml` files written, sorted.
    fn emails(&self) -> Vec<String> {
        files_with_extension(&self.mail_dir(), "eml")
    }

    fn mail_record(&self, stem: &str) -> serde_json::Value {
        let bytes = std::fs::read(self.mail_dir().join(format!("{stem}.json"))).unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }
}

fn files_with_extension(dir: &Path, ext: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn message(id: &SubmissionId) -> WorkMessage {
    WorkMessage {
        submission_id: id.to_string(),
        request_id: format!("req-{id}"),
        submission_type: "delegacion".into(),
        traceparent: None,
    }
}

fn mail_stems(ty: SubmissionType, id: &SubmissionId) -> Vec<String> {
    let t = ty.as_str();
    vec![
        format!("{t}-confirmation__{id}"),
        format!("{t}-internal-notification__{id}"),
    ]
}

fn checkpoint_status<'a>(s: &'a Submission, step: &str) -> &'a str {
    &s.worker.worker_checkpoints[step].status
}

fn completed(delivery: Delivery) {
    assert_eq!(delivery, Delivery::Ack("completed"));
}

// ---------------------------------------------------------------------------------------------
// Deliveries

#[tokio::test]
async fn a_delivery_completes_every_checkpoint_writes_one_row_and_two_emails_and_acks() {
    let h = Harness::new();
    let id = h.accept(1, SubmissionType::Delegacion).await;

    completed(h.deliver(&id).await);

    let s = h.submission(&id).await;
    assert_eq!(s.status, SubmissionStatus::Completed);
    assert_eq!(s.worker.worker_attempt_count, 1);
    assert_eq!(s.worker.worker_lease_owner, None);
    assert_eq!(s.worker.worker_lease_expires_at, None);
    assert_eq!(s.worker.error_message, None);
    assert_eq!(s.updated_at, h.clock.now());
    for step in [STEP_SHEETS, STEP_CONFIRMATION, STEP_INTERNAL] {
        let cp = &s.worker.worker_checkpoints[step];
        assert_eq!(cp.status, CP_COMPLETED, "{step}");
        assert_eq!(cp.completed_at, Some(h.clock.now()), "{step}");
        assert_eq!(cp.error_message, None, "{step}");
    }

    let rows = h.sheet_rows(DELEGACIONES_TAB);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].iter().next_back(), Some(id.as_str()));
    assert!(
        rows[0]
            .iter()
            .any(|c| c == format!("https://registro.test/comprobantes/{id}")),
        "the receipt link is in the row"
    );

    let stems = mail_stems(SubmissionType::Delegacion, &id);
    assert_eq!(h.emails(), stems);
    let confirmation = h.mail_record(&stems[0]);
    assert_eq!(confirmation["to"], serde_json::json!(["ana@example.com"]));
    assert_eq!(
        s.worker.worker_checkpoints[STEP_CONFIRMATION]
            .external_id
            .as_deref(),
        confirmation["id"].as_str(),
        "the checkpoint records the provider's message id"
    );
    let internal = h.mail_record(&stems[1]);
    assert_eq!(
        internal["to"],
        serde_json::json!([MailSettings::default().internal_recipient])
    );
    assert_eq!(
        s.worker.worker_checkpoints[STEP_INTERNAL]
            .external_id
            .as_deref(),
        internal["id"].as_str()
    );
}

#[tokio::test]
async fn a_codelegation_parsed_from_the_form_mails_both_participants() {
    let h = Harness::new();
    let catalog = Catalog::from_json(EXAMPLE_JSON).unwrap();
    let form = FormFixture::pareja(&catalog, "pareja-key").to_raw_form();
    let valid = parse_delegaciones(&form, &catalog).expect("a valid codelegation");
    let id = submission_id(1);
    let mut acceptance = sample_acceptance(
        valid.submission_type,
        valid.effective_key(),
        &valid.fingerprint,
        true,
        &id,
    );
    acceptance.submission.data = valid.data.clone();
    h.store.accept(acceptance).await.unwrap();

    completed(h.deliver(&id).await);

    let rows = h.sheet_rows(DELEGACIONES_TAB);
    assert_eq!(rows.len(), 1);
    assert_eq!(&rows[0][2], "TRUE", "the codelegación column");
    let domain::model::SubmissionData::Delegacion(d) = &valid.data else {
        unreachable!("a delegación")
    };
    let stems = mail_stems(SubmissionType::Delegacion, &id);
    assert_eq!(h.emails(), stems);
    let want: Vec<&str> = d.participantes.iter().map(|p| p.correo.as_str()).collect();
    assert_eq!(want.len(), 2);
    assert_eq!(h.mail_record(&stems[0])["to"], serde_json::json!(want));
}

#[tokio::test]
async fn a_faculty_delivery_writes_both_tabs_and_two_emails() {
    let h = Harness::new();
    let id = h.accept(1, SubmissionType::Faculty).await;
    completed(h.deliver(&id).await);
    assert_eq!(h.sheet_rows(FACULTY_TAB).len(), 1);
    assert_eq!(h.sheet_rows(FACULTY_DELEGACIONES_TAB).len(), 1);
    assert!(h.sheet_rows(DELEGACIONES_TAB).is_empty());
    assert_eq!(h.emails(), mail_stems(SubmissionType::Faculty, &id));
    assert_eq!(
        h.mail_record(&mail_stems(SubmissionType::Faculty, &id)[0])["to"],
        serde_json::json!(["jorge@example.com"])
    );
}

#[tokio::test]
async fn a_second_delivery_of_the_same_message_is_skipped_and_writes_nothing() {
    let h = Harness::new();
    let id = h.accept(1, SubmissionType::Delegacion).await;
    completed(h.deliver(&id).await);
    let done = h.submission(&id).await;
    let (sheet_calls, mail_calls) = (h.sheet.faults.calls(), h.mailer.faults.calls());
    let sheet_bytes = std::fs::read(h.sheet_path(DELEGACIONES_TAB)).unwrap();

    h.clock.advance(Duration::minutes(5));
    assert_eq!(h.deliver(&id).await, Delivery::Ack("skipped"));

    assert_eq!(h.submission(&id).await, done, "the submission is untouched");
    assert_eq!(h.sheet.faults.calls(), sheet_calls, "no sheet call");
    assert_eq!(h.mailer.faults.calls(), mail_calls, "no mailer call");
    assert_eq!(
        std::fs::read(h.sheet_path(DELEGACIONES_TAB)).unwrap(),
        sheet_bytes
    );
    assert_eq!(h.emails().len(), 2);
}

#[tokio::test]
async fn a_retryable_mailer_failure_asks_for_redelivery_and_keeps_the_sheet_checkpoint() {
    let h = Harness::new();
    let id = h.accept(1, SubmissionType::Delegacion).await;
    h.mailer.faults.inject(1, Fault::Retryable);

    assert_eq!(h.deliver(&id).await, Delivery::Retry("retryable failure"));

    let s = h.submission(&id).await;
    assert_eq!(
        s.status,
        SubmissionStatus::Pending,
        "released for the redelivery"
    );
    assert_eq!(s.worker.worker_lease_owner, None);
    assert_eq!(s.worker.error_message.as_deref(), Some(MAIL_RETRYABLE));
    assert_eq!(checkpoint_status(&s, STEP_SHEETS), CP_COMPLETED);
    assert_eq!(checkpoint_status(&s, STEP_CONFIRMATION), CP_FAILED);
    assert_eq!(
        s.worker.worker_checkpoints[STEP_CONFIRMATION]
            .error_message
            .as_deref(),
        Some(MAIL_RETRYABLE)
    );
    assert_eq!(h.sheet_rows(DELEGACIONES_TAB).len(), 1);
    assert!(h.emails().is_empty());

    h.clock.advance(Duration::seconds(10));
    completed(h.deliver(&id).await);

    let s = h.submission(&id).await;
    assert_eq!(s.status, SubmissionStatus::Completed);
    assert_eq!(s.worker.worker_attempt_count, 2);
    assert_eq!(s.worker.error_message, None);
    assert_eq!(h.sheet.faults.calls(), 1, "the sheet step is not run again");
    assert_eq!(h.sheet_rows(DELEGACIONES_TAB).len(), 1, "no second row");
    assert_eq!(h.emails().len(), 2);
}

#[tokio::test]
async fn a_sheet_write_whose_answer_was_lost_is_not_written_twice() {
    let h = Harness::new();
    let id = h.accept(1, SubmissionType::Faculty).await;
    h.sheet.faults.inject(1, Fault::LostAnswer);

    assert_eq!(h.deliver(&id).await, Delivery::Retry("retryable failure"));
    assert_eq!(
        checkpoint_status(&h.submission(&id).await, STEP_SHEETS),
        CP_FAILED
    );
    assert_eq!(h.sheet_rows(FACULTY_TAB).len(), 1, "the write happened");

    completed(h.deliver(&id).await);
    assert_eq!(h.sheet.faults.calls(), 2, "the step ran again");
    assert_eq!(h.sheet_rows(FACULTY_TAB).len(), 1, "but wrote nothing new");
    assert_eq!(h.sheet_rows(FACULTY_DELEGACIONES_TAB).len(), 1);
}

#[tokio::test]
async fn an_email_whose_answer_was_lost_is_not_sent_twice() {
    let h = Harness::new();
    let id = h.accept(1, SubmissionType::Delegacion).await;
    h.mailer.faults.inject(1, Fault::LostAnswer);

    assert_eq!(h.deliver(&id).await, Delivery::Retry("retryable failure"));
    let stems = mail_stems(SubmissionType::Delegacion, &id);
    assert_eq!(h.emails(), stems[..1], "the e-mail went out");
    let first_id = h.mail_record(&stems[0])["id"].clone();

    completed(h.deliver(&id).await);
    assert_eq!(h.emails(), stems, "one file pair per e-mail");
    let s = h.submission(&id).await;
    assert_eq!(
        s.worker.worker_checkpoints[STEP_CONFIRMATION]
            .external_id
            .as_deref(),
        first_id.as_str(),
        "the retry got the first message id back"
    );
}

#[tokio::test]
async fn a_permanent_failure_acks_and_marks_the_submission_failed_with_the_error() {
    let h = Harness::new();
    let id = h.accept(1, SubmissionType::Delegacion).await;
    // The confirmation goes out; the internal notification is refused for good.
    h.mailer.faults.pass(1);
    h.mailer.faults.inject(1, Fault::Permanent);

    assert_eq!(h.deliver(&id).await, Delivery::Ack("failed"));

    let s = h.submission(&id).await;
    assert_eq!(s.status, SubmissionStatus::Failed);
    assert_eq!(s.worker.error_message.as_deref(), Some(MAIL_PERMANENT));
    assert_eq!(s.worker.worker_lease_owner, None);
    assert_eq!(s.worker.worker_attempt_count, 1, "no retry");
    assert_eq!(checkpoint_status(&s, STEP_SHEETS), CP_COMPLETED);
    assert_eq!(checkpoint_status(&s, STEP_CONFIRMATION), CP_COMPLETED);
    assert_eq!(checkpoint_status(&s, STEP_INTERNAL), CP_FAILED);
    assert_eq!(
        s.worker.worker_checkpoints[STEP_INTERNAL]
            .error_message
            .as_deref(),
        Some(MAIL_PERMANENT)
    );

    assert_eq!(
        h.deliver(&id).await,
        Delivery::Ack("skipped"),
        "failed is terminal"
    );
    assert_eq!(h.mailer.faults.calls(), 2);
    assert_eq!(h.submission(&id).await, s);
}

#[tokio::test]
async fn a_permanent_sheet_failure_sends_no_email() {
    let h = Harness::new();
    let id = h.accept(1, SubmissionType::Faculty).await;
    h.sheet.faults.inject(1, Fault::Permanent);

    assert_eq!(h.deliver(&id).await, Delivery::Ack("failed"));
    let s = h.submission(&id).await;
    assert_eq!(s.status, SubmissionStatus::Failed);
    assert_eq!(s.worker.error_message.as_deref(), Some(SHEET_PERMANENT));
    assert_eq!(h.mailer.faults.calls(), 0);
    assert!(h.sheet_rows(FACULTY_TAB).is_empty());
}

#[tokio::test]
async fn retryable_failures_become_terminal_after_max_attempts() {
    let h = Harness::new();
    let id = h.accept(1, SubmissionType::Delegacion).await;
    h.sheet.faults.inject(10, Fault::Retryable);

    for attempt in 1..MAX_ATTEMPTS {
        assert_eq!(
            h.deliver(&id).await,
            Delivery::Retry("retryable failure"),
            "attempt {attempt}"
        );
        let s = h.submission(&id).await;
        assert_eq!(s.status, SubmissionStatus::Pending, "attempt {attempt}");
        assert_eq!(s.worker.worker_attempt_count, attempt);
        h.clock.advance(Duration::seconds(10));
    }
    assert_eq!(h.deliver(&id).await, Delivery::Ack("failed"));

    let s = h.submission(&id).await;
    assert_eq!(s.status, SubmissionStatus::Failed);
    assert_eq!(s.worker.worker_attempt_count, MAX_ATTEMPTS);
    assert_eq!(s.worker.error_message.as_deref(), Some(SHEET_RETRYABLE));
    assert_eq!(checkpoint_status(&s, STEP_SHEETS), CP_FAILED);

    assert_eq!(h.deliver(&id).await, Delivery::Ack("skipped"));
    assert_eq!(
        h.sheet.faults.calls(),
        usize::try_from(MAX_ATTEMPTS).unwrap()
    );
    assert_eq!(h.mailer.faults.calls(), 0);
}

#[tokio::test]
async fn a_delivery_while_another_worker_holds_a_live_lease_is_retried() {
    let h = Harness::new();
    let id = h.accept(1, SubmissionType::Delegacion).await;
    let leased = h
        .store
        .change_submission(
            &id,
            Box::new(|s, now| machine::claim(s, "other-worker", now, machine::DEFAULT_LEASE)),
        )
        .await
        .unwrap()
        .unwrap();

    assert_eq!(h.deliver(&id).await, Delivery::Retry("lease active"));
    assert_eq!(h.submission(&id).await, leased, "the lease is untouched");
    assert_eq!(h.sheet.faults.calls(), 0);

    h.clock
        .advance(machine::DEFAULT_LEASE - Duration::seconds(1));
    assert_eq!(h.deliver(&id).await, Delivery::Retry("lease active"));

    h.clock.advance(Duration::seconds(1));
    completed(h.deliver(&id).await);
    let s = h.submission(&id).await;
    assert_eq!(
        s.worker.worker_attempt_count, 2,
        "the expired lease was taken over"
    );
    assert_eq!(h.sheet_rows(DELEGACIONES_TAB).len(), 1);
}

/// Waits (in real time) until `done` holds.
async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..2000 {
        if done().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn the_heartbeat_keeps_the_lease_while_a_slow_step_runs() {
    let h = Harness::with_config(WorkerConfig {
        heartbeat_every: std::time::Duration::from_millis(10),
        ..WorkerConfig::default()
    });
    let id = h.accept(1, SubmissionType::Delegacion).await;
    let release = h.mailer.hold_next();
    let slow = tokio::spawn({
        let worker = h.worker.clone();
        let m = message(&id);
        async move { worker.handle(&m).await }
    });
    eventually("the confirmation to be under way", async || {
        h.mailer.faults.calls() == 1
    })
    .await;

    // Twice most of a lease passes; each time the heartbeat extends it from the new now.
    for _ in 0..2 {
        let now = h
            .clock
            .advance(machine::DEFAULT_LEASE - Duration::seconds(10));
        eventually("a heartbeat", async || {
            h.submission(&id).await.worker.worker_lease_expires_at
                == Some(now + machine::DEFAULT_LEASE)
        })
        .await;
    }
    assert_eq!(
        h.deliver(&id).await,
        Delivery::Retry("lease active"),
        "the lease is still ours, though first taken 160 s ago with 90 s to live"
    );

    release.send(()).unwrap();
    completed(slow.await.unwrap());
    let s = h.submission(&id).await;
    assert_eq!(s.status, SubmissionStatus::Completed);
    assert_eq!(s.worker.worker_attempt_count, 1);
    assert_eq!(h.emails().len(), 2);
}

#[tokio::test]
async fn a_worker_whose_lease_was_taken_over_writes_nothing_after_its_step() {
    let h = Harness::with_config(WorkerConfig {
        heartbeat_every: std::time::Duration::from_secs(3600),
        ..WorkerConfig::default()
    });
    let id = h.accept(1, SubmissionType::Delegacion).await;
    let release = h.mailer.hold_next();
    let stalled = tokio::spawn({
        let worker = h.worker.clone();
        let m = message(&id);
        async move { worker.handle(&m).await }
    });
    eventually("the confirmation to be under way", async || {
        h.mailer.faults.calls() == 1
    })
    .await;

    h.clock.advance(machine::DEFAULT_LEASE);
    completed(h.deliver(&id).await);
    let done = h.submission(&id).await;
    assert_eq!(done.worker.worker_attempt_count, 2, "taken over");

    release.send(()).unwrap();
    assert_eq!(stalled.await.unwrap(), Delivery::Retry("lease lost"));
    assert_eq!(
        h.submission(&id).await,
        done,
        "the stalled worker's late completion is fenced off"
    );
    assert_eq!(h.emails().len(), 2, "the e-mail is not sent twice");
    assert_eq!(h.sheet_rows(DELEGACIONES_TAB).len(), 1);
}

#[tokio::test]
async fn a_message_with_an_invalid_id_is_acked_as_poison() {
    let h = Harness::new();
    for bad in [
        "",
        "not-an-id",
        "AAAAAAAAAAAAAAAAAAA",
        "../../../../etc/passwd",
    ] {
        let m = WorkMessage {
            submission_id: bad.into(),
            request_id: "r".into(),
            submission_type: "delegacion".into(),
            traceparent: None,
        };
        assert_eq!(
            h.worker.handle(&m).await,
            Delivery::Ack("poison"),
            "{bad:?}"
        );
    }
    assert_eq!(
        h.deliver(&submission_id(404)).await,
        Delivery::Ack("skipped"),
        "a well-formed id of no submission"
    );
    assert_eq!(h.sheet.faults.calls() + h.mailer.faults.calls(), 0);
}

// ---------------------------------------------------------------------------------------------
// HTTP

fn envelope_with_data(data: &str) -> Vec<u8> {
    serde_json::json!({
        "message": {"data": data, "messageId": "1234", "publishTime": "2026-03-01T12:00:00Z"},
        "subscription": "projects/p/subscriptions/s"
    })
    .to_string()
    .into_bytes()
}

fn envelope(id: &SubmissionId) -> Vec<u8> {
    let body = serde_json::to_vec(&message(id)).unwrap();
    envelope_with_data(&base64::engine::general_purpose::STANDARD.encode(body))
}

async fn push(h: &Harness, body: Vec<u8>) -> StatusCode {
    worker::http::router(h.worker.clone())
        .oneshot(
            Request::builder()
                .method("POST")
                .uri("/pubsub/push")
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_push_delivery_is_processed_and_answered_204() {
    let h = Harness::new();
    let id = h.accept(1, SubmissionType::Delegacion).await;
    assert_eq!(push(&h, envelope(&id)).await, StatusCode::NO_CONTENT);
    assert_eq!(h.submission(&id).await.status, SubmissionStatus::Completed);
    assert_eq!(h.emails().len(), 2);
}

#[tokio::test]
async fn poison_push_envelopes_are_acked_with_204() {
    let h = Harness::new();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    for (what, body) in [
        ("not json", b"not json".to_vec()),
        ("no message", br#"{"subscription":"s"}"#.to_vec()),
        ("empty data", envelope_with_data("")),
        ("bad base64", envelope_with_data("***")),
        ("bad json inside", envelope_with_data(&b64("{"))),
        (
            "no submission_id",
            envelope_with_data(&b64(r#"{"request_id":"r"}"#)),
        ),
        (
            "invalid submission_id",
            envelope_with_data(&b64(r#"{"submission_id":"nope"}"#)),
        ),
    ] {
        assert_eq!(push(&h, body).await, StatusCode::NO_CONTENT, "{what}");
    }
    assert_eq!(h.sheet.faults.calls() + h.mailer.faults.calls(), 0);
}

#[tokio::test]
async fn a_retryable_failure_answers_503_so_pubsub_redelivers() {
    let h = Harness::new();
    let id = h.accept(1, SubmissionType::Delegacion).await;
    h.mailer.faults.inject(1, Fault::Retryable);
    assert_eq!(
        push(&h, envelope(&id)).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(h.submission(&id).await.status, SubmissionStatus::Pending);

    assert_eq!(push(&h, envelope(&id)).await, StatusCode::NO_CONTENT);
    assert_eq!(h.submission(&id).await.status, SubmissionStatus::Completed);
}

#[tokio::test]
async fn a_permanent_failure_is_acked_with_204() {
    let h = Harness::new();
    let id = h.accept(1, SubmissionType::Delegacion).await;
    h.sheet.faults.inject(1, Fault::Permanent);
    assert_eq!(push(&h, envelope(&id)).await, StatusCode::NO_CONTENT);
    assert_eq!(h.submission(&id).await.status, SubmissionStatus::Failed);
}

#[tokio::test]
async fn a_shutting_down_worker_hands_its_lease_back_so_the_next_delivery_needs_no_wait() {
    let h = Harness::with_config(WorkerConfig {
        heartbeat_every: std::time::Duration::from_secs(3600),
        ..WorkerConfig::default()
    });
    let id = h.accept(1, SubmissionType::Delegacion).await;
    let release = h.mailer.hold_next();
    let stalled = tokio::spawn({
        let worker = h.worker.clone();
        let m = message(&id);
        async move { worker.handle(&m).await }
    });
    eventually("the confirmation to be under way", async || {
        h.mailer.faults.calls() == 1
    })
    .await;
    assert_eq!(h.deliver(&id).await, Delivery::Retry("lease active"));

    assert_eq!(h.worker.hand_back().await, 1);
    let handed = h.submission(&id).await;
    assert_eq!(handed.status, SubmissionStatus::Pending);
    assert_eq!(handed.worker.worker_lease_owner, None);
    assert_eq!(h.worker.hand_back().await, 0, "nothing held any more");

    // No clock movement: the next delivery claims at once and finishes.
    completed(h.deliver(&id).await);
    release.send(()).unwrap();
    assert_eq!(stalled.await.unwrap(), Delivery::Retry("lease lost"));
    let done = h.submission(&id).await;
    assert_eq!(done.status, SubmissionStatus::Completed);
    assert_eq!(done.worker.worker_attempt_count, 2);
    assert_eq!(h.sheet_rows(DELEGACIONES_TAB).len(), 1);
}
