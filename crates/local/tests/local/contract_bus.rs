//! `LocalBus` against the `Bus` contract of `testkit::contract`: the receiving end plays the
//! dispatcher; dropping it makes the bus unavailable.

use domain::outbox::WorkMessage;
use local::LocalBus;
use std::sync::{Arc, Mutex};
use testkit::contract::BusUnderTest;
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

testkit::bus_contract_tests!(make_bus);
