//! Streaming multipart reader with hard limits, a shared memory budget, and drained rejections.
//!
//! The older system buffered whole bodies and checked the file size afterwards. Here the body
//! is read as a stream: text parts are capped at 1 MiB each (Starlette's default), the field
//! count at 1,000, the receipt at 5 MiB, and the whole body at a configured cap.
//!
//! Why the extra machinery:
//! - Memory is bounded for the whole process, not only per request: every buffered body holds
//!   a reservation on one [`BodyBudget`]; a request that cannot get one within a short wait is
//!   answered "busy, keep your key" instead of pushing the instance out of memory.
//! - Every rejection reaches the browser: a client that writes its whole body before reading
//!   (Python's `http.client`, some browsers on slow links) gets a broken pipe if we answer and
//!   close with its bytes unread. So after any early rejection the rest of the body is read
//!   and discarded, bounded in bytes and in time, and only then answered.
//! - Client-chosen part names never reach logs or redirects: a rejection names a declared
//!   field, or a placeholder with the name's length ([`field_label`]).

use domain::form::{RawForm, Rejection, Upload};
use domain::receipt;
use futures_util::{Stream, StreamExt, TryStreamExt};
use http::HeaderMap;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

pub const MAX_TEXT_PART: u64 = 1024 * 1024;
pub const MAX_FIELDS: usize = 1000;
pub use domain::form::FILE_FIELD;
/// Bodies above this size count as large for the budget (ordinary receipts are smaller).
pub const LARGE_BODY: u64 = 1024 * 1024;

/// Why a body was not turned into a form.
#[derive(Debug)]
pub enum FormError {
    /// The body is not an acceptable form (invalid-form page).
    Invalid(Rejection),
    /// The process-wide body budget stayed full for the whole wait (keep-key page).
    Busy,
}

impl From<Rejection> for FormError {
    fn from(r: Rejection) -> Self {
        FormError::Invalid(r)
    }
}

/// How a body is read: the caps, the budget it reserves from, and the drain bounds.
#[derive(Clone)]
pub struct BodyLimits {
    /// Whole-body cap in bytes.
    pub max_body_bytes: u64,
    /// Shared memory budget for buffered bodies.
    pub budget: Arc<BodyBudget>,
    /// After a rejection, read and discard at most this many further bytes…
    pub drain_max_bytes: u64,
    /// …for at most this long, before answering anyway.
    pub drain_timeout: Duration,
}

/// A process-wide budget of bytes for request bodies held in memory.
///
/// Not a FIFO semaphore on purpose: a large reservation waiting at the head of a fair queue
/// would block every small post behind it even when room for the small ones exists. Here any
/// request that fits takes its share; the others re-check each time some share is returned,
/// until their deadline. And large bodies (over [`LARGE_BODY`]) may fill only three quarters
/// of the budget: the last quarter is for ordinary posts, so a flood of big or stalled uploads
/// cannot starve them.
#[derive(Debug)]
pub struct BodyBudget {
    limit: u64,
    large_limit: u64,
    used: AtomicU64,
    freed: Notify,
    wait: Duration,
}

impl BodyBudget {
    /// `limit` bytes in all; a request waits at most `wait` (in total) for its share.
    pub fn new(limit: u64, wait: Duration) -> Arc<Self> {
        Arc::new(Self {
            limit,
            large_limit: limit / 4 * 3,
            used: AtomicU64::new(0),
            freed: Notify::new(),
            wait,
        })
    }

    /// Bytes currently reserved.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }

    /// `total` is the request's whole share after taking `n`.
    fn try_take(&self, n: u64, total: u64) -> bool {
        let cap = if total > LARGE_BODY {
            self.large_limit
        } else {
            self.limit
        };
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used.checked_add(n)? <= cap).then_some(used + n)
            })
            .is_ok()
    }

    fn give(&self, n: u64) {
        if n > 0 {
            self.used.fetch_sub(n, Ordering::AcqRel);
            self.freed.notify_waiters();
        }
    }

    async fn take(&self, n: u64, total: u64, deadline: Instant) -> Result<(), FormError> {
        if total > self.large_limit.max(LARGE_BODY) {
            return Err(FormError::Busy);
        }
        loop {
            let notified = self.freed.notified();
            tokio::pin!(notified);
            // Registered before the check, so a share returned in between is not missed.
            notified.as_mut().enable();
            if self.try_take(n, total) {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(FormError::Busy);
            }
        }
    }
}

/// A request's share of the budget, returned when dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<BodyBudget>,
    bytes: u64,
    deadline: Instant,
}

impl Reservation {
    fn new(budget: &Arc<BodyBudget>) -> Self {
        Self {
            budget: budget.clone(),
            bytes: 0,
            deadline: Instant::now() + budget.wait,
        }
    }

    /// Makes the share at least `total` bytes.
    async fn grow_to(&mut self, total: u64) -> Result<(), FormError> {
        if total <= self.bytes {
            return Ok(());
        }
        // Grow in 64 KiB steps so a stream of small chunks does not wake every waiter.
        let step = 64 * 1024;
        let want = total.div_ceil(step) * step;
        let want = want.min(self.budget.limit).max(total);
        self.budget
            .take(want - self.bytes, want, self.deadline)
            .await?;
        self.bytes = want;
        Ok(())
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.give(self.bytes);
    }
}

type Source = Pin<Box<dyn Stream<Item = Result<bytes::Bytes, axum::Error>> + Send>>;

fn reject(code: &'static str, message: &'static str, field: Option<&str>) -> Rejection {
    Rejection {
        code,
        message,
        field: field.map(field_label),
    }
}

fn malformed() -> Rejection {
    reject("formulario_mal_formado", "Formulario inválido.", None)
}

/// What may be said about a part name: the name itself if the form declares it, otherwise
/// only its length (a client can name a part after a person).
pub fn field_label(name: &str) -> String {
    if domain::form::is_declared_field(name) {
        name.to_owned()
    } else {
        format!("<undeclared:{}>", name.len())
    }
}

/// Reads a `multipart/form-data` body into a [`RawForm`], holding a budget reservation for
/// what it buffered (keep the [`Reservation`] as long as the form's bytes live). On any
/// rejection the rest of the body has been drained (bounded) before this returns.
pub async fn read_form(
    headers: &HeaderMap,
    body: axum::body::Body,
    limits: &BodyLimits,
) -> Result<(RawForm, Reservation), FormError> {
    let mut source: Source = Box::pin(body.into_data_stream());
    let mut reservation = Reservation::new(&limits.budget);
    let result = read_from(headers, &mut source, limits, &mut reservation).await;
    match result {
        Ok(form) => Ok((form, reservation)),
        Err(e) => {
            // Nothing buffered is kept: give the share back before the (slow) drain.
            drop(reservation);
            drain_source(source, limits).await;
            Err(e)
        }
    }
}

async fn read_from(
    headers: &HeaderMap,
    source: &mut Source,
    limits: &BodyLimits,
    reservation: &mut Reservation,
) -> Result<RawForm, FormError> {
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(malformed)?;
    let boundary = multer::parse_boundary(content_type).map_err(|_| malformed())?;
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(len) = declared {
        // The server enforces Content-Length framing, so the declared length is all this
        // request can ever buffer: reserve it up front. A request then either gets its whole
        // share or waits; it never starves half-way while others hold the rest. (A body
        // declared over the limit is still parsed up to it, so an oversized receipt is
        // named as such.)
        reservation.grow_to(len.min(limits.max_body_bytes)).await?;
    }
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(limits.max_body_bytes)
            .per_field(MAX_TEXT_PART)
            // The receipt's own cap is enforced below so the excess can be drained.
            .for_field(FILE_FIELD, limits.max_body_bytes),
    );
    let mut multipart = multer::Multipart::with_constraints(source, boundary, constraints);

    let mut form = RawForm::default();
    let mut buffered = 0u64;
    let mut file_too_large = false;
    let mut parts = 0usize;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(map_multer(e).into()),
        };
        parts += 1;
        if parts > MAX_FIELDS {
            return Err(reject("demasiados_campos", "Formulario inválido.", None).into());
        }
        // A part without a Content-Disposition name is a malformed body, not a part to skip.
        let Some(name) = field.name().map(str::to_owned) else {
            return Err(malformed().into());
        };
        if field.file_name().is_some() || name == FILE_FIELD {
            if name != FILE_FIELD {
                return Err(
                    reject("archivo_inesperado", "Formulario inválido.", Some(&name)).into(),
                );
            }
            if form.file.is_some() || file_too_large {
                return Err(reject(
                    "multiples_comprobantes",
                    "Imagen inválida.",
                    Some(FILE_FIELD),
                )
                .into());
            }
            let filename = field.file_name().map(str::to_owned);
            let content_type = field.content_type().map(|m| m.to_string());
            let mut bytes = Vec::new();
            let mut stream = field;
            while let Some(chunk) = stream.try_next().await.map_err(map_multer)? {
                if bytes.len() + chunk.len() > receipt::MAX_BYTES {
                    file_too_large = true;
                    buffered -= bytes.len() as u64;
                    bytes = Vec::new();
                    // Keep reading so the client can read our answer; if the body ends up
                    // over the whole-body limit inside this part, the receipt is the cause.
                    loop {
                        match stream.try_next().await {
                            Ok(Some(_)) => {}
                            Ok(None) => break,
                            Err(multer::Error::StreamSizeExceeded { .. }) => {
                                return Err(receipt_too_large().into());
                            }
                            Err(e) => return Err(map_multer(e).into()),
                        }
                    }
                    break;
                }
                buffered += chunk.len() as u64;
                reservation.grow_to(buffered).await?;
                bytes.extend_from_slice(&chunk);
            }
            if !file_too_large {
                form.file = Some(Upload {
                    filename,
                    content_type,
                    bytes,
                });
            }
        } else {
            let bytes = field.bytes().await.map_err(map_multer)?;
            // The text is copied once into a String: count it twice while both exist.
            buffered += 2 * bytes.len() as u64;
            reservation.grow_to(buffered).await?;
            buffered -= bytes.len() as u64;
            let value = String::from_utf8(bytes.to_vec())
                .map_err(|_| reject("utf8_invalido", "Formulario inválido.", Some(&name)))?;
            form.push(name, value);
        }
    }
    if file_too_large {
        return Err(receipt_too_large().into());
    }
    Ok(form)
}

fn receipt_too_large() -> Rejection {
    receipt::ReceiptError::TooLarge.into()
}

fn too_large() -> Rejection {
    reject("cuerpo_demasiado_grande", "Formulario inválido.", None)
}

fn map_multer(e: multer::Error) -> Rejection {
    match e {
        multer::Error::StreamSizeExceeded { .. } => too_large(),
        multer::Error::FieldSizeExceeded { field_name, .. } => reject(
            "campo_demasiado_largo",
            "Formulario inválido.",
            field_name.as_deref(),
        ),
        _ => malformed(),
    }
}

/// Reads and discards the rest of a body we will not use, bounded by `drain_max_bytes` and
/// `drain_timeout`, so the client is reading when the answer comes.
pub async fn drain(body: axum::body::Body, limits: &BodyLimits) {
    drain_source(Box::pin(body.into_data_stream()), limits).await;
}

async fn drain_source(mut source: Source, limits: &BodyLimits) {
    let deadline = Instant::now() + limits.drain_timeout;
    let mut seen = 0u64;
    let drained = tokio::time::timeout_at(deadline, async {
        while let Some(Ok(chunk)) = source.next().await {
            seen += chunk.len() as u64;
            if seen > limits.drain_max_bytes {
                return false;
            }
        }
        true
    })
    .await;
    if drained != Ok(true) {
        tracing::warn!(drained_bytes = seen, "body_drain_gave_up");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_budget_share_is_refused_after_the_wait_and_given_back_on_drop() {
        let budget = BodyBudget::new(100 * 1024, Duration::from_millis(50));
        let mut a = Reservation::new(&budget);
        a.grow_to(90 * 1024).await.unwrap();
        let mut b = Reservation::new(&budget);
        assert!(matches!(b.grow_to(64 * 1024).await, Err(FormError::Busy)));
        drop(a);
        assert_eq!(budget.used(), 0);
        let mut c = Reservation::new(&budget);
        c.grow_to(64 * 1024).await.unwrap();
        assert!(budget.used() >= 64 * 1024);
    }

    #[tokio::test]
    async fn large_bodies_leave_the_last_quarter_of_the_budget_to_small_ones() {
        let budget = BodyBudget::new(8 * 1024 * 1024, Duration::from_millis(50));
        let mut big = Reservation::new(&budget);
        big.grow_to(6 * 1024 * 1024).await.unwrap();
        let mut second_big = Reservation::new(&budget);
        assert!(matches!(
            second_big.grow_to(2 * 1024 * 1024).await,
            Err(FormError::Busy)
        ));
        let mut small = Reservation::new(&budget);
        small.grow_to(1024 * 1024).await.unwrap();
    }

    #[tokio::test]
    async fn a_waiting_share_is_granted_when_another_is_returned() {
        let budget = BodyBudget::new(128 * 1024, Duration::from_secs(5));
        let mut a = Reservation::new(&budget);
        a.grow_to(128 * 1024).await.unwrap();
        let waiter = {
            let budget = budget.clone();
            tokio::spawn(async move {
                let mut b = Reservation::new(&budget);
                b.grow_to(1).await.map(|_| b.bytes)
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(a);
        assert!(waiter.await.unwrap().is_ok());
    }

    #[test]
    fn undeclared_part_names_are_reduced_to_their_length() {
        assert_eq!(field_label("comprobante"), "comprobante");
        assert_eq!(field_label("Juana juana@example.com"), "<undeclared:23>");
    }
}
