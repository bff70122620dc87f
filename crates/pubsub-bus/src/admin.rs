//! Creating the topics and subscriptions the pipeline needs, idempotently: for the tests on
//! the emulator and for a setup command against Google Cloud.
//!
//! Production delivers the work topic by PUSH to the worker's `/pubsub/push`, authenticated
//! with an OIDC token of a service account, with a retry backoff and a dead-letter topic after
//! a number of delivery attempts ([`PushSubscription`]). Each `ensure_*` creates what is
//! missing and leaves what exists, except that an existing push subscription is brought to the
//! settings asked (endpoint, token, ack deadline, dead-letter policy, backoff), so running the
//! setup again after a change converges. A subscription cannot move to another topic: that is
//! refused rather than deleted behind the operator's back.
//!
//! Names are short ids (put in the admin's project) or full `projects/<p>/topics/<id>` /
//! `projects/<p>/subscriptions/<id>` names, checked against Pub/Sub's rules before any call.
//!
//! On Google Cloud a dead-letter policy also needs IAM grants to the Pub/Sub service agent
//! (publisher on the dead-letter topic, subscriber on the source subscription); the emulator
//! has no IAM, and these helpers grant nothing.

use crate::config::{Kind, resource_path};
use crate::{PubSubConfig, PubSubError, with_endpoint};
use google_cloud_gax::error::rpc::Code;
use google_cloud_pubsub::client::{Subscriber, SubscriptionAdmin, TopicAdmin};
use google_cloud_pubsub::model::{
    DeadLetterPolicy, PushConfig, RetryPolicy, Subscription, push_config,
};
use std::collections::HashMap;
use std::time::Duration;

/// Pub/Sub's bounds on a subscription's settings.
pub const ACK_DEADLINE_RANGE: (Duration, Duration) =
    (Duration::from_secs(10), Duration::from_secs(600));
pub const MAX_BACKOFF_LIMIT: Duration = Duration::from_secs(600);
pub const DELIVERY_ATTEMPTS_RANGE: (i32, i32) = (5, 100);

/// The service account whose OIDC token Pub/Sub sends with each push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushAuth {
    pub service_account_email: String,
    /// The token's `aud`; `None`: Pub/Sub uses the push endpoint's URL.
    pub audience: Option<String>,
}

/// Where undeliverable messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The dead-letter topic (short id or full name). It needs a subscription of its own, or
    /// what reaches it is lost.
    pub topic: String,
    /// Deliveries before a message is forwarded there (5 to 100).
    pub max_delivery_attempts: i32,
}

/// A push subscription as the pipeline wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSubscription {
    pub name: String,
    pub topic: String,
    /// `https://…/pubsub/push` (plain `http://` only makes sense on the emulator).
    pub endpoint: String,
    pub auth: Option<PushAuth>,
    /// How long Pub/Sub waits for the endpoint's answer before redelivering (10 s to 600 s,
    /// whole seconds).
    pub ack_deadline: Duration,
    pub dead_letter: Option<DeadLetter>,
    /// Redelivery backoff after a refusal (0 to 600 s, `min_backoff <= max_backoff`).
    pub min_backoff: Duration,
    pub max_backoff: Duration,
}

impl PushSubscription {
    /// Pub/Sub's defaults: 10 s ack deadline, 10 s to 600 s backoff, no token, no dead-letter
    /// topic.
    pub fn new(
        name: impl Into<String>,
        topic: impl Into<String>,
        endpoint: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            topic: topic.into(),
            endpoint: endpoint.into(),
            auth: None,
            ack_deadline: Duration::from_secs(10),
            dead_letter: None,
            min_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(600),
        }
    }
}

/// A message taken from a pull subscription (and acknowledged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub message_id: String,
    pub data: Vec<u8>,
    pub attributes: HashMap<String, String>,
}

/// The administrative clients of one project. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Admin {
    project: String,
    topics: TopicAdmin,
    subscriptions: SubscriptionAdmin,
    subscriber: Subscriber,
}

impl Admin {
    /// The clients for `project`, on the emulator at `emulator_endpoint` (`http://host:port`)
    /// or, without one, on Google Cloud with Application Default Credentials.
    pub async fn connect(
        project: &str,
        emulator_endpoint: Option<&str>,
    ) -> Result<Self, PubSubError> {
        let connect =
            |e: google_cloud_gax::client_builder::Error| PubSubError::Connect(e.to_string());
        let endpoint = emulator_endpoint.map(str::to_owned);
        let topics = with_endpoint!(TopicAdmin::builder(), endpoint.clone())
            .build()
            .await
            .map_err(connect)?;
        let subscriptions = with_endpoint!(SubscriptionAdmin::builder(), endpoint.clone())
            .build()
            .await
            .map_err(connect)?;
        let subscriber = with_endpoint!(Subscriber::builder(), endpoint)
            .build()
            .await
            .map_err(connect)?;
        Ok(Self {
            project: project.to_owned(),
            topics,
            subscriptions,
            subscriber,
        })
    }

    /// The clients for the bus's project and endpoint.
    pub async fn for_config(config: &PubSubConfig) -> Result<Self, PubSubError> {
        Self::connect(&config.project, config.emulator_endpoint.as_deref()).await
    }

    pub fn project(&self) -> &str {
        &self.project
    }

    /// The full name of a topic (a short id is put in this project).
    pub fn topic_path(&self, name: &str) -> Result<String, PubSubError> {
        path(&self.project, Kind::Topic, name)
    }

    /// The full name of a subscription (a short id is put in this project).
    pub fn subscription_path(&self, name: &str) -> Result<String, PubSubError> {
        path(&self.project, Kind::Subscription, name)
    }

    /// Creates the topic unless it exists; returns its full name.
    pub async fn ensure_topic(&self, name: &str) -> Result<String, PubSubError> {
        let topic = self.topic_path(name)?;
        match self.topics.create_topic().set_name(&topic).send().await {
            Ok(_) => Ok(topic),
            Err(e) if code(&e) == Some(Code::AlreadyExists) => Ok(topic),
            Err(e) => Err(rpc("create topic", &topic, e)),
        }
    }

    /// Deletes the topic; a missing topic is not an error. Its subscriptions stay, detached.
    pub async fn delete_topic(&self, name: &str) -> Result<(), PubSubError> {
        let topic = self.topic_path(name)?;
        match self.topics.delete_topic().set_topic(&topic).send().await {
            Ok(_) => Ok(()),
            Err(e) if code(&e) == Some(Code::NotFound) => Ok(()),
            Err(e) => Err(rpc("delete topic", &topic, e)),
        }
    }

    /// Creates a pull subscription on `topic` unless it exists (an existing push subscription
    /// on that topic becomes a pull one); returns its full name.
    pub async fn ensure_pull_subscription(
        &self,
        name: &str,
        topic: &str,
    ) -> Result<String, PubSubError> {
        let wanted = Subscription::new()
            .set_name(self.subscription_path(name)?)
            .set_topic(self.topic_path(topic)?);
        self.ensure_subscription(wanted, &["push_config"]).await
    }

    /// Creates the push subscription, or brings an existing one on the same topic to these
    /// settings; returns its full name.
    pub async fn ensure_push_subscription(
        &self,
        spec: &PushSubscription,
    ) -> Result<String, PubSubError> {
        let wanted = push_subscription(&self.project, spec)?;
        self.ensure_subscription(
            wanted,
            &[
                "push_config",
                "ack_deadline_seconds",
                "dead_letter_policy",
                "retry_policy",
            ],
        )
        .await
    }

    /// Deletes the subscription; a missing one is not an error.
    pub async fn delete_subscription(&self, name: &str) -> Result<(), PubSubError> {
        let sub = self.subscription_path(name)?;
        match self
            .subscriptions
            .delete_subscription()
            .set_subscription(&sub)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if code(&e) == Some(Code::NotFound) => Ok(()),
            Err(e) => Err(rpc("delete subscription", &sub, e)),
        }
    }

    /// Takes up to `at_most` messages from a pull subscription, acknowledging each, waiting at
    /// most `wait` in all (for tests and for inspecting a dead-letter subscription).
    pub async fn receive(
        &self,
        subscription: &str,
        at_most: usize,
        wait: Duration,
    ) -> Result<Vec<Received>, PubSubError> {
        let sub = self.subscription_path(subscription)?;
        let mut stream = self.subscriber.subscribe(&sub).build();
        let deadline = tokio::time::Instant::now() + wait;
        let mut got = Vec::new();
        let mut failure = None;
        while got.len() < at_most {
            match tokio::time::timeout_at(deadline, stream.next()).await {
                Ok(Some(Ok((message, handler)))) => {
                    handler.ack();
                    got.push(Received {
                        message_id: message.message_id,
                        data: message.data.to_vec(),
                        attributes: message.attributes,
                    });
                }
                Ok(Some(Err(e))) => {
                    failure = Some(rpc("receive from", &sub, e));
                    break;
                }
                Ok(None) | Err(_) => break,
            }
        }
        // Sends the pending acknowledgements before returning (bounded: the messages are
        // already in hand; an ack lost here means a redelivery, nothing worse).
        let _ =
            tokio::time::timeout(Duration::from_secs(5), stream.shutdown_token().shutdown()).await;
        match failure {
            Some(e) if got.is_empty() => Err(e),
            _ => Ok(got),
        }
    }

    /// Creates `wanted`; if it exists on the same topic, updates the `fields` of it.
    async fn ensure_subscription(
        &self,
        wanted: Subscription,
        fields: &[&str],
    ) -> Result<String, PubSubError> {
        let name = wanted.name.clone();
        let created = self
            .subscriptions
            .create_subscription()
            .with_request(wanted.clone())
            .send()
            .await;
        match created {
            Ok(_) => return Ok(name),
            Err(e) if code(&e) == Some(Code::AlreadyExists) => {}
            Err(e) => return Err(rpc("create subscription", &name, e)),
        }
        let existing = self
            .subscriptions
            .get_subscription()
            .set_subscription(&name)
            .send()
            .await
            .map_err(|e| rpc("read subscription", &name, e))?;
        if existing.topic != wanted.topic {
            return Err(PubSubError::Invalid(format!(
                "subscription {name} exists on {} instead of {}: a subscription cannot change \
                 topics; delete it first",
                existing.topic, wanted.topic
            )));
        }
        self.subscriptions
            .update_subscription()
            .set_subscription(wanted)
            .set_update_mask(google_cloud_wkt::FieldMask::default().set_paths(fields.to_vec()))
            .send()
            .await
            .map_err(|e| rpc("update subscription", &name, e))?;
        Ok(name)
    }
}

/// The subscription `spec` describes, checked against Pub/Sub's bounds.
fn push_subscription(project: &str, spec: &PushSubscription) -> Result<Subscription, PubSubError> {
    let invalid = |what: String| {
        Err(PubSubError::Invalid(format!(
            "push subscription {}: {what}",
            spec.name
        )))
    };
    if !(spec.endpoint.starts_with("https://") || spec.endpoint.starts_with("http://")) {
        return invalid(format!(
            "endpoint {:?} is not an http(s) URL",
            spec.endpoint
        ));
    }
    let (low, high) = ACK_DEADLINE_RANGE;
    if !(low..=high).contains(&spec.ack_deadline) || spec.ack_deadline.subsec_nanos() != 0 {
        return invalid(format!(
            "ack deadline {:?} is not a whole number of seconds from {low:?} to {high:?}",
            spec.ack_deadline
        ));
    }
    if spec.max_backoff > MAX_BACKOFF_LIMIT || spec.min_backoff > spec.max_backoff {
        return invalid(format!(
            "backoff {:?}..{:?} is not within 0..={MAX_BACKOFF_LIMIT:?} in order",
            spec.min_backoff, spec.max_backoff
        ));
    }
    let mut push = PushConfig::new().set_push_endpoint(&spec.endpoint);
    if let Some(auth) = &spec.auth {
        if auth.service_account_email.trim().is_empty() {
            return invalid("the OIDC token needs a service account".into());
        }
        push = push.set_oidc_token(
            push_config::OidcToken::new()
                .set_service_account_email(&auth.service_account_email)
                .set_audience(auth.audience.clone().unwrap_or_default()),
        );
    }
    let dead_letter = match &spec.dead_letter {
        Some(dl) => {
            let (low, high) = DELIVERY_ATTEMPTS_RANGE;
            if !(low..=high).contains(&dl.max_delivery_attempts) {
                return invalid(format!(
                    "max delivery attempts {} is not from {low} to {high}",
                    dl.max_delivery_attempts
                ));
            }
            Some(
                DeadLetterPolicy::new()
                    .set_dead_letter_topic(path(project, Kind::Topic, &dl.topic)?)
                    .set_max_delivery_attempts(dl.max_delivery_attempts),
            )
        }
        None => None,
    };
    let seconds = |d: Duration| -> Result<google_cloud_wkt::Duration, PubSubError> {
        google_cloud_wkt::Duration::try_from(d)
            .map_err(|e| PubSubError::Invalid(format!("backoff {d:?}: {e}")))
    };
    Ok(Subscription::new()
        .set_name(path(project, Kind::Subscription, &spec.name)?)
        .set_topic(path(project, Kind::Topic, &spec.topic)?)
        .set_push_config(push)
        .set_ack_deadline_seconds(spec.ack_deadline.as_secs() as i32)
        .set_or_clear_dead_letter_policy(dead_letter)
        .set_retry_policy(
            RetryPolicy::new()
                .set_minimum_backoff(seconds(spec.min_backoff)?)
                .set_maximum_backoff(seconds(spec.max_backoff)?),
        ))
}

fn path(project: &str, kind: Kind, name: &str) -> Result<String, PubSubError> {
    resource_path(project, kind, name)
        .map_err(|reason| PubSubError::Invalid(format!("{name:?}: {reason}")))
}

fn code(e: &google_cloud_gax::error::Error) -> Option<Code> {
    e.status().map(|s| s.code)
}

fn rpc(action: &'static str, name: &str, source: google_cloud_gax::error::Error) -> PubSubError {
    PubSubError::Rpc {
        action,
        name: name.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use google_cloud_pubsub::model::push_config::AuthenticationMethod;

    fn spec() -> PushSubscription {
        PushSubscription {
            auth: Some(PushAuth {
                service_account_email: "pusher@p.iam.gserviceaccount.com".into(),
                audience: Some("https://worker.example/pubsub/push".into()),
            }),
            ack_deadline: Duration::from_secs(120),
            dead_letter: Some(DeadLetter {
                topic: "work-dlq".into(),
                max_delivery_attempts: 10,
            }),
            min_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(300),
            ..PushSubscription::new("work-push", "work", "https://worker.example/pubsub/push")
        }
    }

    #[test]
    fn a_push_subscription_carries_the_token_the_dead_letter_topic_and_the_backoff() {
        let s = push_subscription("p", &spec()).unwrap();
        assert_eq!(s.name, "projects/p/subscriptions/work-push");
        assert_eq!(s.topic, "projects/p/topics/work");
        assert_eq!(s.ack_deadline_seconds, 120);
        let push = s.push_config.expect("push config");
        assert_eq!(push.push_endpoint, "https://worker.example/pubsub/push");
        match push.authentication_method {
            Some(AuthenticationMethod::OidcToken(t)) => {
                assert_eq!(t.service_account_email, "pusher@p.iam.gserviceaccount.com");
                assert_eq!(t.audience, "https://worker.example/pubsub/push");
            }
            other => panic!("an OIDC token: {other:?}"),
        }
        let dl = s.dead_letter_policy.expect("dead-letter policy");
        assert_eq!(dl.dead_letter_topic, "projects/p/topics/work-dlq");
        assert_eq!(dl.max_delivery_attempts, 10);
        let retry = s.retry_policy.expect("retry policy");
        assert_eq!(retry.minimum_backoff.map(|d| d.seconds()), Some(10));
        assert_eq!(retry.maximum_backoff.map(|d| d.seconds()), Some(300));
    }

    #[test]
    fn without_a_token_or_a_dead_letter_topic_none_is_set() {
        let s = push_subscription(
            "p",
            &PushSubscription::new("s-1", "projects/q/topics/t-1", "http://127.0.0.1:9/push"),
        )
        .unwrap();
        assert_eq!(s.topic, "projects/q/topics/t-1");
        assert!(s.dead_letter_policy.is_none());
        assert!(
            s.push_config
                .expect("push config")
                .authentication_method
                .is_none()
        );
    }

    #[test]
    fn settings_pubsub_would_refuse_are_refused_before_any_call() {
        type Change = fn(&mut PushSubscription);
        let cases: &[(&str, Change)] = &[
            ("endpoint", |s| s.endpoint = "worker.example/push".into()),
            ("ack deadline", |s| s.ack_deadline = Duration::from_secs(9)),
            ("ack deadline", |s| {
                s.ack_deadline = Duration::from_secs(601)
            }),
            ("ack deadline", |s| {
                s.ack_deadline = Duration::from_millis(10_500)
            }),
            ("backoff", |s| s.max_backoff = Duration::from_secs(601)),
            ("backoff", |s| {
                s.min_backoff = Duration::from_secs(20);
                s.max_backoff = Duration::from_secs(10);
            }),
            ("delivery attempts", |s| {
                if let Some(d) = &mut s.dead_letter {
                    d.max_delivery_attempts = 4;
                }
            }),
            ("delivery attempts", |s| {
                if let Some(d) = &mut s.dead_letter {
                    d.max_delivery_attempts = 101;
                }
            }),
            ("service account", |s| {
                if let Some(a) = &mut s.auth {
                    a.service_account_email = " ".into();
                }
            }),
            ("goog", |s| s.name = "goog-push".into()),
            ("letter", |s| s.topic = "9work".into()),
            ("letter", |s| {
                if let Some(d) = &mut s.dead_letter {
                    d.topic = "_dlq".into();
                }
            }),
        ];
        for (what, change) in cases {
            let mut s = spec();
            change(&mut s);
            let e = push_subscription("p", &s).expect_err(what);
            assert!(e.to_string().contains(what), "{what}: {e}");
        }
        let mut edges = spec();
        edges.ack_deadline = Duration::from_secs(600);
        edges.min_backoff = Duration::ZERO;
        edges.max_backoff = Duration::from_secs(600);
        assert!(push_subscription("p", &edges).is_ok());
    }
}
