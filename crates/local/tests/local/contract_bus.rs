//! `LocalBus` against the `Bus` contract of `testkit::contract`: the receiving end plays the
//! dispatcher; dropping it makes the bus unavailable.

use domain::outbox::WorkMessage;
use local::LocalBus;
use std::sync::{Arc, Mutex};
use testkit::contract::{self, BusUnderTest};
use tokio::sync::mpsc::UnboundedReceiver;

/// The receiving end (`None` once dropped) and everything taken from it so far.
type Subscriber = Arc<Mutex<(Option<UnboundedReceiver<WorkMessage>>, Vec<WorkMessage>)>>;

async fn make_bus() -> BusUnderTest {
    let (bus, rx) = LocalBus::new();
    let subscriber: Subscriber = Arc::new(Mutex::new((Some(rx), Vec::new())));
    let for_break = Arc::clone(&subscriber);
    BusUnderTest {
        bus: Arc::new(bus),
        received: Box::new(move || {
            let mut guard = subscriber.lock().expect("lock");
            let (rx, received) = &mut *guard;
            if let Some(rx) = rx {
                while let Ok(m) = rx.try_recv() {
                    received.push(m);
                }
            }
            let all = received.clone();
            Box::pin(async move { all })
        }),
        break_bus: Some(Box::new(move || {
            for_break.lock().expect("lock").0 = None;
            Box::pin(async {})
        })),
        keep_alive: None,
    }
}

#[tokio::test]
async fn a_published_message_is_received_with_the_same_fields() {
    contract::a_published_message_is_received_with_the_same_fields(make_bus).await;
}

#[tokio::test]
async fn every_one_of_many_published_messages_is_received() {
    contract::every_one_of_many_published_messages_is_received(make_bus).await;
}

#[tokio::test]
async fn publishing_on_an_unavailable_bus_is_a_retryable_error() {
    contract::publishing_on_an_unavailable_bus_is_a_retryable_error(make_bus).await;
}

#[tokio::test]
async fn the_whole_bus_contract_passes_in_sequence() {
    contract::bus_contract(make_bus).await;
}
