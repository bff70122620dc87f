//! The embedded work topic: an in-process queue from the outbox publisher to the worker
//! dispatcher. It needs no durability of its own: a message lost with the process is
//! re-published by the reconciler, because the submission stays `pending`; the outbox table is
//! the durable queue.

use async_trait::async_trait;
use domain::outbox::WorkMessage;
use domain::ports::{Bus, SideEffectError};
use tokio::sync::mpsc;

#[derive(Clone)]
pub struct LocalBus {
    tx: mpsc::UnboundedSender<WorkMessage>,
}

impl LocalBus {
    /// The bus and the receiving end the dispatcher consumes.
    pub fn new() -> (Self, mpsc::UnboundedReceiver<WorkMessage>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, rx)
    }

    /// Another handle on the same queue (the dispatcher redelivers through it).
    pub fn sender(&self) -> mpsc::UnboundedSender<WorkMessage> {
        self.tx.clone()
    }
}

#[async_trait]
impl Bus for LocalBus {
    async fn publish(&self, message: &WorkMessage) -> Result<(), SideEffectError> {
        self.tx
            .send(message.clone())
            .map_err(|_| SideEffectError::Retryable("the worker dispatcher is not running".into()))
    }
}
