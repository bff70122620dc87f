//! `LocalBus`: the in-process work topic from the publisher to the worker dispatcher.

use domain::outbox::WorkMessage;
use domain::ports::{Bus, SideEffectError};
use local::LocalBus;
use testkit::contract::submission_id;

fn message(n: u32) -> WorkMessage {
    WorkMessage {
        submission_id: submission_id(n).to_string(),
        request_id: format!("req-{n}"),
        submission_type: "delegacion".into(),
        traceparent: None,
    }
}

#[tokio::test]
async fn published_messages_are_received_in_order() {
    let (bus, mut rx) = LocalBus::new();
    for n in 1..=3 {
        bus.publish(&message(n)).await.unwrap();
    }
    bus.sender().send(message(4)).unwrap();
    for n in 1..=4 {
        assert_eq!(rx.recv().await.unwrap(), message(n));
    }
    assert!(rx.try_recv().is_err(), "nothing else");
}

#[tokio::test]
async fn clones_publish_to_the_same_receiver() {
    let (bus, mut rx) = LocalBus::new();
    let clone = bus.clone();
    clone.publish(&message(1)).await.unwrap();
    bus.publish(&message(2)).await.unwrap();
    assert_eq!(rx.recv().await.unwrap(), message(1));
    assert_eq!(rx.recv().await.unwrap(), message(2));
}

#[tokio::test]
async fn publishing_after_the_receiver_is_dropped_is_a_retryable_error() {
    let (bus, rx) = LocalBus::new();
    drop(rx);
    assert!(matches!(
        bus.publish(&message(1)).await,
        Err(SideEffectError::Retryable(_))
    ));
}
