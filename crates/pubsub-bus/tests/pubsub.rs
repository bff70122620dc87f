//! The Pub/Sub bus on the Pub/Sub emulator: the `Bus` contract suite every backend passes,
//! the message's shape as a subscriber sees it, the error classes, the publish latency, the
//! admin helpers, and what the emulator does with a push subscription that has a dead-letter
//! topic (the end-to-end tests rely on it).
//!
//! Messages are received the way production receives them: a PUSH subscription to a small
//! HTTP endpoint on 127.0.0.1 that records every envelope. The contract's "unavailable bus" is
//! a bus that reaches the emulator through a TCP relay, which is then cut.
//!
//! Runs when `PUBSUB_EMULATOR_HOST` is set (`gcloud beta emulators pubsub start
//! --host-port=127.0.0.1:8085`); skips otherwise, unless `REGISTRO_REQUIRE_EMULATORS=1`
//! (`.ci/run`), which makes a missing emulator a failure. Each test has topics and
//! subscriptions of its own (deleted at the end), so the tests share one emulator and run in
//! parallel.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use domain::outbox::WorkMessage;
use domain::ports::{Bus, SideEffectError};
use pubsub_bus::admin::{Admin, DeadLetter, PushAuth, PushSubscription};
use pubsub_bus::{PubSubBus, PubSubConfig};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::contract::{BusUnderTest, sample_message};
use tokio::task::{JoinHandle, JoinSet};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// The publish bound of the contract's buses: long enough for fifty concurrent publishes on a
/// busy machine, short enough that the unavailable-bus check (three publishes) is quick.
const CONTRACT_TIMEOUT: Duration = Duration::from_secs(3);

fn emulator() -> bool {
    testkit::emulators::pubsub()
}

fn emulator_host() -> String {
    testkit::emulators::host(testkit::emulators::PUBSUB_VAR)
        .expect("the guard checked the emulator")
}

fn project() -> String {
    std::env::var("GOOGLE_CLOUD_PROJECT").unwrap_or_else(|_| "demo-registro".into())
}

/// The bus's settings as `from_env` makes them on the emulator, for `topic`.
fn config(topic: &str) -> PubSubConfig {
    PubSubConfig::from_lookup(|k| match k {
        "GOOGLE_CLOUD_PROJECT" => Some(project()),
        "PUB_SUB_TOPIC_NAME" => Some(topic.to_owned()),
        "PUBSUB_EMULATOR_HOST" => Some(emulator_host()),
        _ => None,
    })
    .expect("valid settings")
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

async fn admin() -> Admin {
    Admin::connect(&project(), Some(&format!("http://{}", emulator_host())))
        .await
        .expect("admin clients")
}

/// A push subscription that redelivers quickly (1 s to 2 s backoff).
fn quick_push(name: &str, topic: &str, endpoint: &str) -> PushSubscription {
    PushSubscription {
        min_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(2),
        ..PushSubscription::new(name, topic, endpoint)
    }
}

/// Polls `check` until it returns something, or fails the test after `within`.
async fn eventually<T>(within: Duration, what: &str, check: impl Fn() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// A push endpoint

/// One push request as the endpoint saw it.
#[derive(Debug, Clone)]
struct Delivery {
    at: Instant,
    subscription: String,
    message_id: String,
    data: Vec<u8>,
    attributes: BTreeMap<String, String>,
    authorization: Option<String>,
}

impl Delivery {
    /// The work message of the body, with the traceparent from the attributes (as the worker
    /// reads it).
    fn work_message(&self) -> Option<WorkMessage> {
        let mut m: WorkMessage = serde_json::from_slice(&self.data).ok()?;
        m.traceparent = self.attributes.get("traceparent").cloned();
        Some(m)
    }
}

type Deliveries = Arc<Mutex<Vec<Delivery>>>;

/// An HTTP endpoint on 127.0.0.1 recording every push envelope and answering `status` to all.
struct PushEndpoint {
    url: String,
    deliveries: Deliveries,
    server: JoinHandle<()>,
}

impl PushEndpoint {
    async fn start(status: StatusCode) -> Self {
        let deliveries = Deliveries::default();
        let app = axum::Router::new()
            .route("/pubsub/push", post(record))
            .with_state((status, Arc::clone(&deliveries)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the push endpoint");
        let port = listener.local_addr().expect("local address").port();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://127.0.0.1:{port}/pubsub/push"),
            deliveries,
            server,
        }
    }

    fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.deliveries).clone()
    }
}

impl Drop for PushEndpoint {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock(d: &Deliveries) -> std::sync::MutexGuard<'_, Vec<Delivery>> {
    d.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The push handler: `{"subscription", "message": {"data": <base64>, "attributes",
/// "messageId", ...}}`.
async fn record(
    State((status, deliveries)): State<(StatusCode, Deliveries)>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    let message = &v["message"];
    let delivery = Delivery {
        at: Instant::now(),
        subscription: text(&v["subscription"]),
        message_id: text(&message["messageId"]),
        data: base64::engine::general_purpose::STANDARD
            .decode(text(&message["data"]))
            .unwrap_or_default(),
        attributes: message["attributes"]
            .as_object()
            .map(|a| a.iter().map(|(k, v)| (k.clone(), text(v))).collect())
            .unwrap_or_default(),
        authorization: headers
            .get("authorization")
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned),
    };
    lock(&deliveries).push(delivery);
    status
}

// ---------------------------------------------------------------------------------------------
// Test resources

/// Deletes the test's subscriptions and topics when dropped (on a thread of its own: the test's
/// runtime may be a single thread busy dropping this).
#[derive(Default)]
struct Cleanup {
    subscriptions: Vec<String>,
    topics: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let subscriptions = std::mem::take(&mut self.subscriptions);
        let topics = std::mem::take(&mut self.topics);
        let (project, host) = (project(), emulator_host());
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                let Ok(admin) = Admin::connect(&project, Some(&format!("http://{host}"))).await
                else {
                    return;
                };
                for s in &subscriptions {
                    let _ = admin.delete_subscription(s).await;
                }
                for t in &topics {
                    let _ = admin.delete_topic(t).await;
                }
            });
        })
        .join();
    }
}

/// A fresh topic with a push subscription to a fresh endpoint answering `status`.
struct PushedTopic {
    topic: String,
    endpoint: PushEndpoint,
    _cleanup: Cleanup,
}

async fn pushed_topic(admin: &Admin, status: StatusCode) -> PushedTopic {
    let topic = admin
        .ensure_topic(&unique("bus"))
        .await
        .expect("create topic");
    let endpoint = PushEndpoint::start(status).await;
    let sub = admin
        .ensure_push_subscription(&quick_push(&unique("bus-push"), &topic, &endpoint.url))
        .await
        .expect("create push subscription");
    PushedTopic {
        _cleanup: Cleanup {
            subscriptions: vec![sub],
            topics: vec![topic.clone()],
        },
        topic,
        endpoint,
    }
}

/// A TCP relay to the emulator that can be cut: the listener closes and every open connection
/// is dropped, as when the broker goes away under a live client.
#[derive(Clone)]
struct Relay {
    addr: String,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl Relay {
    async fn start(target: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the relay");
        let addr = listener.local_addr().expect("local address").to_string();
        let task = tokio::spawn(async move {
            // Owned by this task: aborting it drops the listener and every connection.
            let mut connections = JoinSet::new();
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                let target = target.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                while connections.try_join_next().is_some() {}
            }
        });
        Self {
            addr,
            task: Arc::new(Mutex::new(Some(task))),
        }
    }

    async fn cut(&self) {
        let task = self
            .task
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(task) = self
            .task
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_ref()
        {
            task.abort();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The Bus contract

async fn make_bus() -> BusUnderTest {
    let admin = admin().await;
    let pushed = pushed_topic(&admin, StatusCode::NO_CONTENT).await;
    let relay = Relay::start(emulator_host()).await;
    let mut settings = config(&pushed.topic);
    settings.emulator_endpoint = Some(format!("http://{}", relay.addr));
    let bus = PubSubBus::connect_with_timeout(&settings, CONTRACT_TIMEOUT)
        .await
        .expect("connect the bus");
    let deliveries = Arc::clone(&pushed.endpoint.deliveries);
    let cut = relay.clone();
    BusUnderTest {
        bus: Arc::new(bus),
        received: Box::new(move || {
            let got: Vec<WorkMessage> = lock(&deliveries)
                .iter()
                .filter_map(Delivery::work_message)
                .collect();
            Box::pin(async move { got })
        }),
        break_bus: Some(Box::new(move || {
            let relay = cut.clone();
            Box::pin(async move { relay.cut().await })
        })),
        keep_alive: Some(Box::new((relay, pushed))),
    }
}

mod bus_contract {
    testkit::bus_contract_tests!(guard = super::emulator; super::make_bus);
}

// ---------------------------------------------------------------------------------------------
// The message as subscribers see it

#[tokio::test]
async fn the_ids_and_the_traceparent_arrive_as_attributes_and_the_body_has_exactly_three_keys() {
    if !emulator() {
        return;
    }
    let admin = admin().await;
    let pushed = pushed_topic(&admin, StatusCode::NO_CONTENT).await;
    let bus = PubSubBus::connect(&config(&pushed.topic)).await.unwrap();
    let traced = WorkMessage {
        traceparent: Some(TRACEPARENT.into()),
        ..sample_message(1)
    };
    let untraced = sample_message(2);
    bus.publish(&traced).await.expect("publish");
    bus.publish(&untraced).await.expect("publish");

    let deliveries = eventually(Duration::from_secs(15), "two deliveries", || {
        let d = pushed.endpoint.deliveries();
        (d.len() >= 2).then_some(d)
    })
    .await;
    let of = |m: &WorkMessage| {
        deliveries
            .iter()
            .find(|d| d.attributes.get("submission_id") == Some(&m.submission_id))
            .unwrap_or_else(|| panic!("{} was delivered", m.submission_id))
            .clone()
    };
    for (sent, traceparent) in [(&traced, Some(TRACEPARENT)), (&untraced, None)] {
        let d = of(sent);
        let mut want = BTreeMap::from([
            ("submission_id".to_owned(), sent.submission_id.clone()),
            ("submission_type".to_owned(), sent.submission_type.clone()),
            ("request_id".to_owned(), sent.request_id.clone()),
        ]);
        if let Some(tp) = traceparent {
            want.insert("traceparent".into(), tp.into());
        }
        assert_eq!(d.attributes, want, "exactly these attributes");
        let body: serde_json::Value = serde_json::from_slice(&d.data).expect("a JSON body");
        assert_eq!(
            body,
            serde_json::json!({
                "submission_id": sent.submission_id,
                "request_id": sent.request_id,
                "submission_type": sent.submission_type,
            }),
            "exactly the three keys, no traceparent in the body"
        );
        assert_eq!(d.work_message().as_ref(), Some(sent));
        assert!(!d.message_id.is_empty());
        assert!(
            d.subscription.starts_with("projects/"),
            "{}",
            d.subscription
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Errors and latency

#[tokio::test]
async fn publishing_to_a_topic_that_does_not_exist_is_a_permanent_error_at_once() {
    if !emulator() {
        return;
    }
    let topic = unique("missing");
    let bus = PubSubBus::connect(&config(&topic)).await.unwrap();
    for n in 1..=2 {
        let started = Instant::now();
        let outcome = bus.publish(&sample_message(n)).await;
        match &outcome {
            Err(SideEffectError::Permanent(m)) => {
                assert!(m.contains(&topic), "names the topic: {m}");
            }
            other => panic!("permanent: {other:?}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "not retried: {:?}",
            started.elapsed()
        );
    }
}

/// Nothing listening where the broker should be: the client retries within the publish bound,
/// then the publish fails as retryable, not much later than the bound.
#[tokio::test]
async fn an_unreachable_broker_is_a_retryable_error_within_the_publish_bound() {
    if !emulator() {
        return;
    }
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut settings = config(&unique("unreachable"));
    settings.emulator_endpoint = Some(format!("http://{closed}"));
    let bound = Duration::from_secs(2);
    let bus = PubSubBus::connect_with_timeout(&settings, bound)
        .await
        .unwrap();
    let started = Instant::now();
    let outcome = bus.publish(&sample_message(1)).await;
    let took = started.elapsed();
    eprintln!("unreachable broker: {outcome:?} after {took:?}");
    assert!(
        matches!(&outcome, Err(SideEffectError::Retryable(m)) if m.contains(&settings.topic)),
        "{outcome:?}"
    );
    assert!(
        took < bound + Duration::from_secs(2),
        "bounded by about {bound:?}: {took:?}"
    );
}

/// One publish goes out at once (no batching delay) and returns when the server has answered
/// with the message id. Prints the figures.
#[tokio::test]
async fn a_publish_goes_out_at_once_and_waits_for_the_servers_message_id() {
    if !emulator() {
        return;
    }
    let admin = admin().await;
    let pushed = pushed_topic(&admin, StatusCode::NO_CONTENT).await;
    let bus = PubSubBus::connect(&config(&pushed.topic)).await.unwrap();
    let started = Instant::now();
    bus.publish(&sample_message(1)).await.expect("publish");
    let first = started.elapsed();
    let mut times = Vec::new();
    for n in 2..=31 {
        let started = Instant::now();
        bus.publish(&sample_message(n)).await.expect("publish");
        times.push(started.elapsed());
    }
    times.sort();
    let median = times[times.len() / 2];
    let p90 = times[times.len() * 9 / 10];
    let max = times[times.len() - 1];
    eprintln!(
        "publish latency on the emulator: first (connects) {first:?}; then over {} publishes \
         min {:?}, median {median:?}, p90 {p90:?}, max {max:?}",
        times.len(),
        times[0]
    );
    assert!(median < Duration::from_millis(500), "median {median:?}");
    // Every one was acknowledged with a message id, so every one is delivered.
    eventually(Duration::from_secs(15), "31 deliveries", || {
        let ids: std::collections::HashSet<String> = pushed
            .endpoint
            .deliveries()
            .iter()
            .map(|d| d.message_id.clone())
            .collect();
        (ids.len() >= 31).then_some(())
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Dead letters on the emulator

/// What the end-to-end tests rely on: a push subscription with a dead-letter policy whose
/// endpoint always refuses gets the message exactly `max_delivery_attempts` (5) times, then the
/// emulator forwards it to the dead-letter topic, where a pull subscription finds it with its
/// body and attributes. The emulator sends no OIDC token although the subscription asks for
/// one, and no `deliveryAttempt`.
#[tokio::test]
async fn a_message_the_endpoint_always_refuses_reaches_the_dead_letter_topic_after_5_deliveries() {
    if !emulator() {
        return;
    }
    let admin = admin().await;
    let topic = admin.ensure_topic(&unique("dl-src")).await.unwrap();
    let dead_topic = admin.ensure_topic(&unique("dl-dlq")).await.unwrap();
    let dead_sub = admin
        .ensure_pull_subscription(&unique("dl-dlq-pull"), &dead_topic)
        .await
        .unwrap();
    let endpoint = PushEndpoint::start(StatusCode::SERVICE_UNAVAILABLE).await;
    let push_sub = admin
        .ensure_push_subscription(&PushSubscription {
            auth: Some(PushAuth {
                service_account_email: "pusher@demo-registro.iam.gserviceaccount.com".into(),
                audience: Some(endpoint.url.clone()),
            }),
            dead_letter: Some(DeadLetter {
                topic: dead_topic.clone(),
                max_delivery_attempts: 5,
            }),
            ..quick_push(&unique("dl-push"), &topic, &endpoint.url)
        })
        .await
        .unwrap();
    let _cleanup = Cleanup {
        subscriptions: vec![push_sub, dead_sub.clone()],
        topics: vec![topic.clone(), dead_topic],
    };
    let bus = PubSubBus::connect(&config(&topic)).await.unwrap();
    let message = WorkMessage {
        traceparent: Some(TRACEPARENT.into()),
        ..sample_message(7)
    };
    let published = Instant::now();
    bus.publish(&message).await.expect("publish");

    let dead = admin
        .receive(&dead_sub, 1, Duration::from_secs(40))
        .await
        .expect("pull the dead-letter subscription");
    let dead_after = published.elapsed();
    assert_eq!(dead.len(), 1, "dead-lettered within 40 s");
    let dead = &dead[0];
    let body: WorkMessage = serde_json::from_slice(&dead.data).expect("the same body");
    assert_eq!(
        body,
        WorkMessage {
            traceparent: None,
            ..message.clone()
        }
    );
    assert_eq!(dead.attributes["submission_id"], message.submission_id);
    assert_eq!(dead.attributes["traceparent"], TRACEPARENT);
    assert_eq!(
        dead.attributes
            .get("CloudPubSubDeadLetterSourceDeliveryCount")
            .map(String::as_str),
        Some("5")
    );

    // No delivery after the dead-lettering.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pushes = endpoint.deliveries();
    let offsets: Vec<Duration> = pushes.iter().map(|d| d.at - published).collect();
    eprintln!("pushes at {offsets:?}; dead-lettered and pulled after {dead_after:?}");
    assert_eq!(pushes.len(), 5, "exactly max_delivery_attempts pushes");
    assert!(pushes.iter().all(|d| d.message_id == pushes[0].message_id));
    assert!(
        pushes
            .iter()
            .all(|d| d.work_message() == Some(message.clone()))
    );
    assert!(
        pushes.iter().all(|d| d.authorization.is_none()),
        "the emulator sends no OIDC token"
    );
}

// ---------------------------------------------------------------------------------------------
// Admin helpers

#[tokio::test]
async fn ensuring_twice_is_harmless_and_brings_an_existing_push_subscription_to_the_new_settings() {
    if !emulator() {
        return;
    }
    let admin = admin().await;
    let name = unique("adm");
    let topic = admin.ensure_topic(&name).await.unwrap();
    assert_eq!(topic, format!("projects/{}/topics/{name}", project()));
    assert_eq!(admin.ensure_topic(&topic).await.unwrap(), topic);
    let other_topic = admin.ensure_topic(&unique("adm-other")).await.unwrap();
    let dead_topic = admin.ensure_topic(&unique("adm-dlq")).await.unwrap();

    let push_name = unique("adm-push");
    let first = quick_push(&push_name, &topic, "http://127.0.0.1:9/pubsub/push");
    let push_sub = admin.ensure_push_subscription(&first).await.unwrap();
    let second = PushSubscription {
        endpoint: "http://127.0.0.1:10/pubsub/push".into(),
        ack_deadline: Duration::from_secs(30),
        dead_letter: Some(DeadLetter {
            topic: dead_topic.clone(),
            max_delivery_attempts: 7,
        }),
        ..first.clone()
    };
    assert_eq!(
        admin.ensure_push_subscription(&second).await.unwrap(),
        push_sub
    );
    let pull_sub = admin
        .ensure_pull_subscription(&unique("adm-pull"), &topic)
        .await
        .unwrap();
    assert_eq!(
        admin
            .ensure_pull_subscription(&pull_sub, &topic)
            .await
            .unwrap(),
        pull_sub
    );
    let _cleanup = Cleanup {
        subscriptions: vec![push_sub.clone(), pull_sub.clone()],
        topics: vec![topic.clone(), other_topic.clone(), dead_topic.clone()],
    };

    let subs = with_emulator_sub_admin().await;
    let got = subs
        .get_subscription()
        .set_subscription(&push_sub)
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.push_config.map(|p| p.push_endpoint).as_deref(),
        Some("http://127.0.0.1:10/pubsub/push")
    );
    assert_eq!(got.ack_deadline_seconds, 30);
    let dl = got.dead_letter_policy.expect("dead-letter policy set");
    assert_eq!(
        (dl.dead_letter_topic.as_str(), dl.max_delivery_attempts),
        (dead_topic.as_str(), 7)
    );

    let moved = admin
        .ensure_pull_subscription(&pull_sub, &other_topic)
        .await
        .expect_err("a subscription cannot change topics");
    assert!(moved.to_string().contains("cannot change"), "{moved}");

    admin.delete_subscription(&pull_sub).await.unwrap();
    admin.delete_subscription(&pull_sub).await.unwrap();
    admin.delete_topic(&other_topic).await.unwrap();
    admin.delete_topic(&other_topic).await.unwrap();
}

/// A raw subscription admin client, to read back what the helpers wrote.
async fn with_emulator_sub_admin() -> google_cloud_pubsub::client::SubscriptionAdmin {
    google_cloud_pubsub::client::SubscriptionAdmin::builder()
        .with_endpoint(format!("http://{}", emulator_host()))
        .with_credentials(google_cloud_auth::credentials::anonymous::Builder::new().build())
        .build()
        .await
        .expect("subscription admin")
}
