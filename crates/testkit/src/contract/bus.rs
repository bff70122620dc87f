//! The [`Bus`] contract: what is published reaches the subscribers intact, at least once, and
//! an unavailable bus is a retryable error (the outbox row is retried; the reconciler re-publishes
//! anyway), never a permanent one.

use super::submission_id;
use domain::outbox::WorkMessage;
use domain::ports::{Bus, SideEffectError};
use futures_util::future::{BoxFuture, join_all};
use std::any::Any;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Everything delivered to the subscribers so far (cumulative, duplicates included).
pub type ReadReceived = Box<dyn Fn() -> BoxFuture<'static, Vec<WorkMessage>> + Send + Sync>;

/// Makes the bus unavailable for every later publish.
pub type BreakBus = Box<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// A fresh topic with a subscriber and nothing published, plus the backend's hooks.
pub struct BusUnderTest {
    pub bus: Arc<dyn Bus>,
    pub received: ReadReceived,
    /// `None` if the backend cannot be made unavailable (the check skips itself).
    pub break_bus: Option<BreakBus>,
    /// Dropped last: receivers, emulator handles, anything the bus needs alive.
    pub keep_alive: Option<Box<dyn Any + Send + Sync>>,
}

/// Builds a [`BusUnderTest`]. Implemented by every
/// `Fn() -> impl Future<Output = BusUnderTest>`.
pub trait MakeBus {
    fn make(&self) -> impl Future<Output = BusUnderTest>;
}

impl<F, Fut> MakeBus for F
where
    F: Fn() -> Fut,
    Fut: Future<Output = BusUnderTest>,
{
    fn make(&self) -> impl Future<Output = BusUnderTest> {
        self()
    }
}

/// How long a published message may take to reach the subscriber (an emulator's push).
const DELIVERY_DEADLINE: Duration = Duration::from_secs(10);

/// The work message of sample submission `n`, as the outbox publisher builds it.
pub fn sample_message(n: u32) -> WorkMessage {
    WorkMessage {
        submission_id: submission_id(n).to_string(),
        request_id: format!("req-{n}"),
        submission_type: if n.is_multiple_of(2) {
            "faculty"
        } else {
            "delegacion"
        }
        .into(),
        traceparent: None,
    }
}

/// Waits until every message of `want` was received; returns everything received.
async fn wait_for(sut: &BusUnderTest, want: &[WorkMessage]) -> Vec<WorkMessage> {
    let deadline = tokio::time::Instant::now() + DELIVERY_DEADLINE;
    loop {
        let got = (sut.received)().await;
        let missing: Vec<&WorkMessage> = want.iter().filter(|m| !got.contains(m)).collect();
        if missing.is_empty() {
            return got;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not received within {DELIVERY_DEADLINE:?}: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn a_published_message_is_received_with_the_same_fields(make: impl MakeBus) {
    let sut = make.make().await;
    let message = sample_message(1);
    sut.bus.publish(&message).await.expect("publish");
    let got = wait_for(&sut, std::slice::from_ref(&message)).await;
    assert!(
        got.iter().all(|m| *m == message),
        "only that message, intact (duplicates allowed): {got:?}"
    );
}

/// Fifty messages published at once all arrive: at least once, duplicates allowed, nothing
/// missing and nothing that was not published.
pub async fn every_one_of_many_published_messages_is_received(make: impl MakeBus) {
    let sut = make.make().await;
    let messages: Vec<WorkMessage> = (1..=50).map(sample_message).collect();
    let outcomes = join_all(messages.iter().map(|m| sut.bus.publish(m))).await;
    for outcome in outcomes {
        outcome.expect("publish");
    }
    let got = wait_for(&sut, &messages).await;
    assert!(
        got.iter().all(|m| messages.contains(m)),
        "nothing else received: {got:?}"
    );
}

pub async fn publishing_on_an_unavailable_bus_is_a_retryable_error(make: impl MakeBus) {
    let sut = make.make().await;
    let Some(break_bus) = &sut.break_bus else {
        eprintln!(
            "publishing_on_an_unavailable_bus_is_a_retryable_error: skipped, \
             the backend cannot be made unavailable"
        );
        return;
    };
    break_bus().await;
    for n in 1..=3 {
        let outcome = sut.bus.publish(&sample_message(n)).await;
        assert!(
            matches!(outcome, Err(SideEffectError::Retryable(_))),
            "retryable, never permanent: {outcome:?}"
        );
    }
}

/// Every bus check, in sequence, each on a fresh bus.
pub async fn bus_contract<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = BusUnderTest>,
{
    a_published_message_is_received_with_the_same_fields(&make).await;
    every_one_of_many_published_messages_is_received(&make).await;
    publishing_on_an_unavailable_bus_is_a_retryable_error(&make).await;
}
