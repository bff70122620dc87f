//! Faults for the side-effect contracts ([`FaultKind`], the [`FailNext`] hook), and wrappers
//! that inject them into any [`Sheet`] or [`Mailer`] without a fault mechanism of its own.
//!
//! A backend with real faults (an HTTP fake that can answer 500, or a file it can make unsafe)
//! arms those instead: the check then exercises the adapter's own error classification. The
//! wrappers only simulate what the adapter would answer, so they are the fallback.

use domain::SubmissionId;
use domain::mail::Email;
use domain::ports::{Mailer, Sheet, SheetWrite, SideEffectError};
use domain::sheets::SheetRows;
use futures_util::future::BoxFuture;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// A failure of the next call to a side-effect port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// The call fails with [`SideEffectError::Retryable`] and writes or sends nothing.
    Transient,
    /// The call does its work (rows written, message accepted) but its answer is lost: the
    /// caller sees [`SideEffectError::Retryable`]. What a crash between the call and the
    /// worker's checkpoint leaves behind.
    LostResponse,
    /// The call fails with [`SideEffectError::Permanent`] and writes or sends nothing.
    Permanent,
}

/// Arms `kind` for the next call of the port under test. Returns whether the backend can
/// simulate that kind; a check that needs an unsupported kind skips itself, saying so on
/// stderr.
pub type FailNext = Box<dyn Fn(FaultKind) -> BoxFuture<'static, bool> + Send + Sync>;

/// A [`FailNext`] for a backend that can simulate no fault at all.
pub fn no_faults() -> FailNext {
    Box::new(|_| Box::pin(async { false }))
}

/// Faults armed for coming calls, first in, first out.
#[derive(Debug, Default)]
pub struct Faults {
    queue: Mutex<VecDeque<FaultKind>>,
}

impl Faults {
    pub fn push(&self, kind: FaultKind) {
        self.lock().push_back(kind);
    }

    fn take(&self) -> Option<FaultKind> {
        self.lock().pop_front()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<FaultKind>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A hook arming every kind on `faults`.
fn hook(faults: &Arc<Faults>) -> FailNext {
    let faults = Arc::clone(faults);
    Box::new(move |kind| {
        faults.push(kind);
        Box::pin(async { true })
    })
}

/// A port that delegates to `inner` and fails the calls faults were armed for:
/// `Transient` and `Permanent` before touching `inner`, `LostResponse` after a successful call
/// of `inner`. Implemented for the [`Sheet`] and [`Mailer`] ports.
pub struct Faulty<P: ?Sized> {
    inner: Arc<P>,
    faults: Arc<Faults>,
}

/// [`Faulty`] over a [`Sheet`].
pub type FaultySheet = Faulty<dyn Sheet>;
/// [`Faulty`] over a [`Mailer`].
pub type FaultyMailer = Faulty<dyn Mailer>;

impl<P: ?Sized> Faulty<P> {
    pub fn new(inner: Arc<P>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            faults: Arc::default(),
        })
    }

    pub fn fail_next(&self, kind: FaultKind) {
        self.faults.push(kind);
    }

    /// The [`FailNext`] hook of a [`super::SheetUnderTest`] or [`super::MailerUnderTest`]:
    /// every kind is supported.
    pub fn fail_next_hook(&self) -> FailNext {
        hook(&self.faults)
    }
}

#[async_trait::async_trait]
impl Sheet for FaultySheet {
    async fn append(
        &self,
        submission_id: &SubmissionId,
        rows: &[SheetRows],
    ) -> Result<SheetWrite, SideEffectError> {
        match self.faults.take() {
            None => self.inner.append(submission_id, rows).await,
            Some(FaultKind::Transient) => Err(SideEffectError::Retryable(
                "injected: sheet unavailable, nothing written".into(),
            )),
            Some(FaultKind::LostResponse) => {
                self.inner.append(submission_id, rows).await?;
                Err(SideEffectError::Retryable(
                    "injected: the answer to a successful append was lost".into(),
                ))
            }
            Some(FaultKind::Permanent) => Err(SideEffectError::Permanent(
                "injected: the sheet refused the rows".into(),
            )),
        }
    }
}

#[async_trait::async_trait]
impl Mailer for FaultyMailer {
    async fn send(&self, email: &Email) -> Result<String, SideEffectError> {
        match self.faults.take() {
            None => self.inner.send(email).await,
            Some(FaultKind::Transient) => Err(SideEffectError::Retryable(
                "injected: mail provider unavailable, nothing sent".into(),
            )),
            Some(FaultKind::LostResponse) => {
                self.inner.send(email).await?;
                Err(SideEffectError::Retryable(
                    "injected: the answer to a successful send was lost".into(),
                ))
            }
            Some(FaultKind::Permanent) => Err(SideEffectError::Permanent(
                "injected: the mail provider refused the message".into(),
            )),
        }
    }
}
