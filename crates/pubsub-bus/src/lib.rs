//! The [`Bus`] port on Google Cloud Pub/Sub: the outbox publisher's work topic.
//!
//! One [`Bus::publish`] is one Pub/Sub message, sent at once (no batching delay: the batch is
//! full at one message) and awaited until the server returns its message id, so `Ok` means
//! the broker has the message. The body is the older system's work message, exactly
//! `{"submission_id","request_id","submission_type"}`; the same ids travel as attributes, with
//! the request's W3C `traceparent` when there is one, so subscribers can route and join traces
//! without decoding the body.
//!
//! Each publish is bounded ([`PUBLISH_TIMEOUT`]): the client retries what Pub/Sub documents as
//! transient inside that budget and no longer, so a publish that gave up does not go on
//! retrying in the background while the outbox row is retried too. Errors are classified here:
//! a missing topic, a refused permission or a refused message are permanent (operator work:
//! retrying will not fix them soon; the outbox keeps the row anyway); an unavailable or
//! overloaded service, a timeout, a broken connection are retryable.
//!
//! The client reads no environment itself: [`config`] maps the variables, and on the emulator
//! the client speaks plaintext gRPC without credentials. [`admin`] creates the topics and the
//! subscriptions (push with OIDC and a dead-letter topic, pull), for tests and for setup.

pub mod admin;
pub mod config;

pub use config::{ConfigError, PubSubConfig, VARIABLES};

use async_trait::async_trait;
use domain::outbox::WorkMessage;
use domain::ports::{Bus, SideEffectError};
use google_cloud_gax::error::Error as RpcError;
use google_cloud_gax::error::rpc::Code;
use google_cloud_gax::exponential_backoff::ExponentialBackoffBuilder;
use google_cloud_gax::retry_policy::RetryPolicyExt;
use google_cloud_pubsub::client::Publisher;
use google_cloud_pubsub::error::PublishError;
use google_cloud_pubsub::model::Message;
use google_cloud_pubsub::retry_policy::RetryableErrors;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest wait for the server's acknowledgement of one publish, retries included.
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);

/// Extra time the outer guard gives the client to report its own error at the end of the
/// budget (the guard only fires if the client itself hangs).
const GUARD_GRACE: Duration = Duration::from_millis(500);

/// The attributes every message carries (plus [`TRACEPARENT_ATTRIBUTE`] when known).
pub const SUBMISSION_ID_ATTRIBUTE: &str = "submission_id";
pub const SUBMISSION_TYPE_ATTRIBUTE: &str = "submission_type";
pub const REQUEST_ID_ATTRIBUTE: &str = "request_id";
pub const TRACEPARENT_ATTRIBUTE: &str = "traceparent";

#[derive(Debug, thiserror::Error)]
pub enum PubSubError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot build the Pub/Sub client: {0}")]
    Connect(String),
    /// An administrative call failed (`source.status()` has the gRPC code).
    #[error("cannot {action} {name}: {source}")]
    Rpc {
        action: &'static str,
        name: String,
        #[source]
        source: RpcError,
    },
    /// A subscription or a name the caller asked for that Pub/Sub would refuse, or an existing
    /// resource that cannot be brought to what was asked.
    #[error("{0}")]
    Invalid(String),
}

impl PubSubError {
    /// The gRPC code of a failed call, if it was one.
    pub fn code(&self) -> Option<Code> {
        match self {
            Self::Rpc { source, .. } => source.status().map(|s| s.code),
            _ => None,
        }
    }
}

/// Sets the emulator's endpoint and anonymous credentials on any of the client builders
/// (they share these methods but no trait); without an endpoint, the defaults: Google's
/// endpoint and Application Default Credentials.
macro_rules! with_endpoint {
    ($builder:expr, $endpoint:expr) => {
        match $endpoint {
            Some(endpoint) => $builder.with_endpoint(endpoint).with_credentials(
                google_cloud_auth::credentials::anonymous::Builder::new().build(),
            ),
            None => $builder,
        }
    };
}
pub(crate) use with_endpoint;

/// The Pub/Sub bus. Cheap to clone (the publisher and its connection are shared).
#[derive(Clone)]
pub struct PubSubBus {
    publisher: Publisher,
    topic: Arc<str>,
    timeout: Duration,
}

impl std::fmt::Debug for PubSubBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PubSubBus")
            .field("topic", &self.topic)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl PubSubBus {
    /// The bus on `config.topic`, each publish bounded by [`PUBLISH_TIMEOUT`].
    ///
    /// Nothing is dialled here (the connection opens on the first publish), and the topic is
    /// not checked: a publisher's role cannot read topics. A wrong topic shows on the first
    /// publish as a permanent error. Must be called inside the Tokio runtime that will use
    /// the bus (the client's dispatcher task is spawned on it).
    pub async fn connect(config: &PubSubConfig) -> Result<Self, PubSubError> {
        Self::connect_with_timeout(config, PUBLISH_TIMEOUT).await
    }

    /// The same with another bound on each publish.
    pub async fn connect_with_timeout(
        config: &PubSubConfig,
        timeout: Duration,
    ) -> Result<Self, PubSubError> {
        let builder = Publisher::builder(config.topic.clone())
            // One message is a full batch: it leaves at once instead of after the 10 ms
            // default delay, and concurrent publishes go out as concurrent requests.
            .set_message_count_threshold(1)
            .with_retry_policy(RetryableErrors.with_time_limit(timeout))
            .with_backoff_policy(
                ExponentialBackoffBuilder::new()
                    .with_initial_delay(Duration::from_millis(100))
                    .with_maximum_delay(Duration::from_secs(2))
                    .clamp(),
            );
        let publisher = with_endpoint!(builder, config.emulator_endpoint.clone())
            .build()
            .await
            .map_err(|e| PubSubError::Connect(e.to_string()))?;
        Ok(Self {
            publisher,
            topic: Arc::from(config.topic.as_str()),
            timeout,
        })
    }

    /// The topic's full name.
    pub fn topic(&self) -> &str {
        &self.topic
    }
}

/// The Pub/Sub message of a work message: the three-key JSON body and the attributes.
pub fn encode(message: &WorkMessage) -> Result<Message, SideEffectError> {
    let body = serde_json::to_vec(message)
        .map_err(|e| SideEffectError::Permanent(format!("cannot encode the work message: {e}")))?;
    let mut attributes = vec![
        (SUBMISSION_ID_ATTRIBUTE, message.submission_id.as_str()),
        (SUBMISSION_TYPE_ATTRIBUTE, message.submission_type.as_str()),
        (REQUEST_ID_ATTRIBUTE, message.request_id.as_str()),
    ];
    if let Some(tp) = message.traceparent.as_deref().filter(|t| !t.is_empty()) {
        attributes.push((TRACEPARENT_ATTRIBUTE, tp));
    }
    Ok(Message::new().set_data(body).set_attributes(attributes))
}

#[async_trait]
impl Bus for PubSubBus {
    async fn publish(&self, message: &WorkMessage) -> Result<(), SideEffectError> {
        let pubsub_message = encode(message)?;
        let started = Instant::now();
        let outcome = tokio::time::timeout(
            self.timeout + GUARD_GRACE,
            self.publisher.publish(pubsub_message),
        )
        .await;
        match outcome {
            Ok(Ok(message_id)) => {
                tracing::debug!(
                    submission_id = %message.submission_id,
                    message_id = %message_id,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "pubsub_published"
                );
                Ok(())
            }
            Ok(Err(e)) => Err(publish_error(&self.topic, &e)),
            Err(_) => Err(SideEffectError::Retryable(format!(
                "publish to {}: no acknowledgement within {:?}",
                self.topic, self.timeout
            ))),
        }
    }
}

/// Classifies a failed publish.
fn publish_error(topic: &str, e: &PublishError) -> SideEffectError {
    match e {
        PublishError::Rpc(rpc) => {
            let text = format!("publish to {topic}: {rpc}");
            if is_retryable(rpc) {
                SideEffectError::Retryable(text)
            } else {
                SideEffectError::Permanent(text)
            }
        }
        // The client is shutting down (the process is stopping), or an ordering key is
        // paused (we set none): another attempt, later or elsewhere, can succeed.
        other => SideEffectError::Retryable(format!("publish to {topic}: {other}")),
    }
}

/// Whether another attempt may succeed. What the service refuses for good (a missing topic, a
/// refused permission or credential, a refused message) is permanent; the rest is retryable:
/// an unavailable or overloaded service, a timeout, a broken connection, a token that could
/// not be fetched, and retries exhausted on any of those (the client then returns the last
/// error, which keeps its code).
fn is_retryable(e: &RpcError) -> bool {
    if let Some(status) = e.status() {
        return !matches!(
            status.code,
            Code::NotFound
                | Code::PermissionDenied
                | Code::InvalidArgument
                | Code::Unauthenticated
                | Code::FailedPrecondition
                | Code::OutOfRange
                | Code::Unimplemented
                | Code::AlreadyExists
        );
    }
    if e.is_timeout() || e.is_exhausted() {
        return true;
    }
    if e.is_serialization() || e.is_binding() {
        return false;
    }
    match e.http_status_code() {
        Some(429 | 500..=599) | None => true,
        Some(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use google_cloud_gax::error::rpc::Status;

    fn status(code: Code) -> RpcError {
        RpcError::service(Status::default().set_code(code).set_message("m"))
    }

    fn work(traceparent: Option<&str>) -> WorkMessage {
        WorkMessage {
            submission_id: "AAAAAAAAAAAAAAAAAAAA".into(),
            request_id: "req-1".into(),
            submission_type: "faculty".into(),
            traceparent: traceparent.map(str::to_owned),
        }
    }

    #[test]
    fn the_body_is_exactly_the_three_keys_and_the_ids_are_attributes() {
        let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let m = encode(&work(Some(tp))).unwrap();
        let body: serde_json::Value = serde_json::from_slice(&m.data).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "submission_id": "AAAAAAAAAAAAAAAAAAAA",
                "request_id": "req-1",
                "submission_type": "faculty",
            })
        );
        let mut attributes: Vec<_> = m
            .attributes
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        attributes.sort();
        assert_eq!(
            attributes,
            [
                ("request_id", "req-1"),
                ("submission_id", "AAAAAAAAAAAAAAAAAAAA"),
                ("submission_type", "faculty"),
                ("traceparent", tp),
            ]
        );
        assert!(m.ordering_key.is_empty(), "no ordering key: no pausing");
    }

    #[test]
    fn without_a_traceparent_there_is_no_traceparent_attribute() {
        for tp in [None, Some("")] {
            let m = encode(&work(tp)).unwrap();
            assert_eq!(m.attributes.len(), 3, "{tp:?}");
            assert!(!m.attributes.contains_key(TRACEPARENT_ATTRIBUTE), "{tp:?}");
        }
    }

    #[test]
    fn operator_errors_are_permanent_and_service_trouble_is_retryable() {
        let cases = [
            (Code::NotFound, false),
            (Code::PermissionDenied, false),
            (Code::InvalidArgument, false),
            (Code::Unauthenticated, false),
            (Code::FailedPrecondition, false),
            (Code::Unavailable, true),
            (Code::DeadlineExceeded, true),
            (Code::ResourceExhausted, true),
            (Code::Internal, true),
            (Code::Aborted, true),
            (Code::Unknown, true),
            (Code::Cancelled, true),
        ];
        for (code, retryable) in cases {
            let e = PublishError::Rpc(Arc::new(status(code)));
            let got = publish_error("projects/p/topics/t", &e);
            match (retryable, &got) {
                (true, SideEffectError::Retryable(m)) | (false, SideEffectError::Permanent(m)) => {
                    assert!(m.contains("projects/p/topics/t"), "{code:?}: {m}");
                }
                _ => panic!("{code:?}: {got:?}"),
            }
        }
    }

    #[test]
    fn transport_trouble_timeouts_and_a_stopping_client_are_retryable() {
        let io = RpcError::io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let timeout = RpcError::timeout("deadline");
        let exhausted = RpcError::exhausted(status(Code::Unavailable));
        for e in [io, timeout, exhausted] {
            assert!(is_retryable(&e), "{e:?}");
        }
        assert!(matches!(
            publish_error("t", &PublishError::Shutdown),
            SideEffectError::Retryable(_)
        ));
        assert!(matches!(
            publish_error("t", &PublishError::OrderingKeyPaused),
            SideEffectError::Retryable(_)
        ));
    }
}
