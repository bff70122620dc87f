//! The [`Mailer`] contract: one message per idempotency key whatever happens (a retry, a lost
//! answer, concurrent sends), the first message id on every later send, and retryable versus
//! permanent errors.

use super::faults::{FailNext, FaultKind};
use super::sheet::receipt_link;
use super::{sample_submission, submission_id};
use domain::SubmissionType;
use domain::catalog::Catalog;
use domain::mail::{self, Email, MailKind, MailSettings};
use domain::ports::{Mailer, SideEffectError};
use futures_util::future::{BoxFuture, join_all};
use std::any::Any;
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

/// A message as the backend delivered (stored, sent) it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveredMail {
    pub idempotency_key: Option<String>,
    /// The message id the mailer returned for it.
    pub id: String,
    pub to: Vec<String>,
    pub subject: String,
    /// A non-empty plain-text part.
    pub has_text: bool,
    /// A non-empty HTML part.
    pub has_html: bool,
}

/// Every message delivered so far, in any order.
pub type ReadDelivered = Box<dyn Fn() -> BoxFuture<'static, Vec<DeliveredMail>> + Send + Sync>;

/// A fresh mailer with nothing delivered, plus the backend's hooks.
pub struct MailerUnderTest {
    pub mailer: Arc<dyn Mailer>,
    pub delivered: ReadDelivered,
    pub fail_next: FailNext,
    /// Dropped last: temp directories, fakes, anything the mailer needs alive.
    pub keep_alive: Option<Box<dyn Any + Send + Sync>>,
}

/// Builds a [`MailerUnderTest`]. Implemented by every
/// `Fn() -> impl Future<Output = MailerUnderTest>`.
pub trait MakeMailer {
    fn make(&self) -> impl Future<Output = MailerUnderTest>;
}

impl<F, Fut> MakeMailer for F
where
    F: Fn() -> Fut,
    Fut: Future<Output = MailerUnderTest>,
{
    fn make(&self) -> impl Future<Output = MailerUnderTest> {
        self()
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures and assertions

/// E-mail `kind` of sample delegación `n`, rendered as the worker renders it (key
/// `delegacion-<kind>/<id>`).
pub fn sample_email(n: u32, kind: MailKind) -> Email {
    let sub = sample_submission(&submission_id(n), SubmissionType::Delegacion);
    mail::render(
        &sub,
        kind,
        &Catalog::example(),
        &MailSettings::default(),
        &receipt_link(&sub.submission_id),
    )
    .expect("the sample submission renders")
}

/// What delivering `email` under message id `id` must leave.
fn delivery_of(email: &Email, id: &str) -> DeliveredMail {
    DeliveredMail {
        idempotency_key: Some(email.idempotency_key.clone()),
        id: id.to_owned(),
        to: email.to.clone(),
        subject: email.subject.clone(),
        has_text: true,
        has_html: true,
    }
}

/// Arms `kind`; false (and a line on stderr) if the backend cannot simulate it.
async fn arm(sut: &MailerUnderTest, kind: FaultKind, check: &str) -> bool {
    let supported = (sut.fail_next)(kind).await;
    if !supported {
        eprintln!("{check}: skipped, the backend cannot simulate {kind:?}");
    }
    supported
}

async fn send(sut: &MailerUnderTest, email: &Email) -> Result<String, SideEffectError> {
    sut.mailer.send(email).await
}

async fn delivered(sut: &MailerUnderTest) -> Vec<DeliveredMail> {
    (sut.delivered)().await
}

// ---------------------------------------------------------------------------------------------
// Checks

pub async fn a_send_returns_an_id_and_delivers_exactly_that_message(make: impl MakeMailer) {
    let sut = make.make().await;
    let email = sample_email(1, MailKind::Confirmation);
    let id = send(&sut, &email).await.expect("send");
    assert!(!id.trim().is_empty(), "a message id");
    assert_eq!(delivered(&sut).await, [delivery_of(&email, &id)]);
}

pub async fn sending_the_same_email_again_returns_the_same_id_and_delivers_nothing_more(
    make: impl MakeMailer,
) {
    let sut = make.make().await;
    let email = sample_email(1, MailKind::Confirmation);
    let id = send(&sut, &email).await.expect("send");
    for _ in 0..2 {
        assert_eq!(send(&sut, &email).await, Ok(id.clone()), "the first id");
    }
    assert_eq!(delivered(&sut).await, [delivery_of(&email, &id)]);
}

pub async fn the_confirmation_and_the_internal_notification_of_one_submission_are_two_messages(
    make: impl MakeMailer,
) {
    let sut = make.make().await;
    let confirmation = sample_email(1, MailKind::Confirmation);
    let internal = sample_email(1, MailKind::InternalNotification);
    assert_ne!(confirmation.idempotency_key, internal.idempotency_key);
    let a = send(&sut, &confirmation).await.expect("send confirmation");
    let b = send(&sut, &internal).await.expect("send notification");
    assert_ne!(a, b, "two messages, two ids");
    let mut got = delivered(&sut).await;
    got.sort_by(|x, y| x.id.cmp(&y.id));
    let mut want = vec![delivery_of(&confirmation, &a), delivery_of(&internal, &b)];
    want.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(got, want);
}

pub async fn a_retryable_fault_then_a_retry_delivers_exactly_one_message(make: impl MakeMailer) {
    let sut = make.make().await;
    let check = "a_retryable_fault_then_a_retry_delivers_exactly_one_message";
    if !arm(&sut, FaultKind::Transient, check).await {
        return;
    }
    let email = sample_email(1, MailKind::Confirmation);
    let first = send(&sut, &email).await;
    assert!(
        matches!(first, Err(SideEffectError::Retryable(_))),
        "{first:?}"
    );
    assert_eq!(delivered(&sut).await, [], "nothing sent by the failed call");
    let id = send(&sut, &email).await.expect("the retry");
    assert_eq!(delivered(&sut).await, [delivery_of(&email, &id)]);
}

/// The crash between the send and the worker's checkpoint: the message went out, the answer
/// did not come back; the retry must get the first message's id, not send a second one.
pub async fn a_lost_response_then_a_retry_returns_the_first_id_and_delivers_exactly_one_message(
    make: impl MakeMailer,
) {
    let sut = make.make().await;
    let check =
        "a_lost_response_then_a_retry_returns_the_first_id_and_delivers_exactly_one_message";
    if !arm(&sut, FaultKind::LostResponse, check).await {
        return;
    }
    let email = sample_email(1, MailKind::InternalNotification);
    let first = send(&sut, &email).await;
    assert!(
        matches!(first, Err(SideEffectError::Retryable(_))),
        "{first:?}"
    );
    let sent = delivered(&sut).await;
    assert_eq!(sent.len(), 1, "the lost call delivered: {sent:?}");
    let id = send(&sut, &email).await.expect("the retry");
    assert_eq!(
        id, sent[0].id,
        "the retry answers with the first delivery's id"
    );
    assert_eq!(delivered(&sut).await, [delivery_of(&email, &id)]);
}

pub async fn a_permanent_fault_is_permanent_and_delivers_nothing(make: impl MakeMailer) {
    let sut = make.make().await;
    let check = "a_permanent_fault_is_permanent_and_delivers_nothing";
    if !arm(&sut, FaultKind::Permanent, check).await {
        return;
    }
    let email = sample_email(1, MailKind::Confirmation);
    let outcome = send(&sut, &email).await;
    assert!(
        matches!(outcome, Err(SideEffectError::Permanent(_))),
        "{outcome:?}"
    );
    assert_eq!(delivered(&sut).await, []);
}

/// Five deliveries of one step at once: every call answers the same id or fails retryably
/// (the provider's "same key still in flight"), and one message goes out.
pub async fn concurrent_sends_of_one_email_deliver_one_message(make: impl MakeMailer) {
    let sut = make.make().await;
    let email = sample_email(1, MailKind::Confirmation);
    let outcomes = join_all((0..5).map(|_| send(&sut, &email))).await;
    let ids: HashSet<&String> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    assert!(ids.len() <= 1, "one id: {outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Ok(_) | Err(SideEffectError::Retryable(_)))),
        "{outcomes:?}"
    );
    let id = send(&sut, &email).await.expect("a later send");
    if let Some(first) = ids.iter().next() {
        assert_eq!(&&id, first, "the same id afterwards");
    }
    assert_eq!(delivered(&sut).await, [delivery_of(&email, &id)]);
}

/// Ten different e-mails (five submissions, both kinds) at once: each delivered once.
pub async fn distinct_emails_sent_concurrently_are_each_delivered_once(make: impl MakeMailer) {
    let sut = make.make().await;
    let emails: Vec<Email> = (1..=5)
        .flat_map(|n| {
            [
                sample_email(n, MailKind::Confirmation),
                sample_email(n, MailKind::InternalNotification),
            ]
        })
        .collect();
    let ids = join_all(emails.iter().map(|e| send(&sut, e))).await;
    let mut want: Vec<DeliveredMail> = emails
        .iter()
        .zip(ids)
        .map(|(e, id)| delivery_of(e, &id.expect("send")))
        .collect();
    let mut got = delivered(&sut).await;
    want.sort_by(|a, b| a.idempotency_key.cmp(&b.idempotency_key));
    got.sort_by(|a, b| a.idempotency_key.cmp(&b.idempotency_key));
    assert_eq!(got, want);
}

/// Every mailer check, in sequence, each on a fresh mailer.
pub async fn mailer_contract<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = MailerUnderTest>,
{
    a_send_returns_an_id_and_delivers_exactly_that_message(&make).await;
    sending_the_same_email_again_returns_the_same_id_and_delivers_nothing_more(&make).await;
    the_confirmation_and_the_internal_notification_of_one_submission_are_two_messages(&make).await;
    a_retryable_fault_then_a_retry_delivers_exactly_one_message(&make).await;
    a_lost_response_then_a_retry_returns_the_first_id_and_delivers_exactly_one_message(&make).await;
    a_permanent_fault_is_permanent_and_delivers_nothing(&make).await;
    concurrent_sends_of_one_email_deliver_one_message(&make).await;
    distinct_emails_sent_concurrently_are_each_delivered_once(&make).await;
}
