//! The Resend adapter against the fake in `testkit::resend_fake`, and against the `Mailer`
//! contract (`contract`).

#[path = "resend/contract.rs"]
mod contract;

use domain::mail::{Email, MailKind};
use domain::ports::{Mailer, SideEffectError};
use resend::{Config, ResendMailer};
use std::time::{Duration, Instant};
use testkit::resend_fake::{FakeConfig, Fault, ResendFake};

fn email(key: &str) -> Email {
    Email {
        kind: MailKind::Confirmation,
        from: "Secretaría <secretaria@example.com>".into(),
        to: vec!["person@example.org".into()],
        subject: "Gracias".into(),
        html: "<p>Hola</p>".into(),
        text: "Hola".into(),
        idempotency_key: key.into(),
    }
}

fn config(fake: &ResendFake, rps: u32) -> Config {
    let mut c = Config::new(&fake.url(), fake.api_key()).unwrap();
    c.requests_per_second = rps;
    c.request_timeout = Duration::from_millis(500);
    c.initial_backoff = Duration::from_millis(20);
    c.max_attempts = 5;
    c.retry_budget = Duration::from_secs(10);
    c
}

fn mailer(fake: &ResendFake, rps: u32) -> ResendMailer {
    ResendMailer::new(config(fake, rps)).unwrap()
}

#[tokio::test]
async fn sends_the_message_and_returns_the_provider_id() {
    let fake = ResendFake::start().await;
    let id = mailer(&fake, 10)
        .send(&email("delegacion-confirmation/a"))
        .await
        .unwrap();
    let msgs = fake.messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].id, id);
    assert_eq!(
        msgs[0].idempotency_key.as_deref(),
        Some("delegacion-confirmation/a")
    );
    assert_eq!(msgs[0].to, vec!["person@example.org".to_string()]);
    assert_eq!(msgs[0].subject, "Gracias");
    assert_eq!(msgs[0].text.as_deref(), Some("Hola"));
}

#[tokio::test]
async fn the_same_key_twice_stores_one_message_and_returns_the_same_id() {
    let fake = ResendFake::start().await;
    let m = mailer(&fake, 10);
    let a = m.send(&email("k/1")).await.unwrap();
    let b = m.send(&email("k/1")).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(fake.messages().len(), 1);
}

#[tokio::test]
async fn a_500_then_success_sends_one_message() {
    let fake = ResendFake::start().await;
    fake.push_fault(Fault::Status500);
    let id = mailer(&fake, 10).send(&email("k/500")).await.unwrap();
    assert_eq!(fake.requests(), 2);
    assert_eq!(fake.messages().len(), 1);
    assert_eq!(fake.messages()[0].id, id);
}

#[tokio::test]
async fn a_lost_response_is_retried_and_returns_the_same_id_with_one_message() {
    let fake = ResendFake::start().await;
    fake.push_fault(Fault::LostResponse);
    let id = mailer(&fake, 10).send(&email("k/lost")).await.unwrap();
    let msgs = fake.messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].id, id);
    assert_eq!(fake.requests(), 2);
}

#[tokio::test]
async fn a_timeout_is_retried_and_sends_one_message() {
    let fake = ResendFake::start_with(FakeConfig {
        timeout_sleep: Duration::from_secs(2),
        ..FakeConfig::default()
    })
    .await;
    fake.push_fault(Fault::Timeout);
    let started = Instant::now();
    mailer(&fake, 10).send(&email("k/slow")).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(fake.messages().len(), 1);
}

#[tokio::test]
async fn a_429_is_honoured_by_waiting_retry_after() {
    let fake = ResendFake::start().await;
    fake.push_fault(Fault::Status429);
    let started = Instant::now();
    mailer(&fake, 10).send(&email("k/429")).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(fake.requests(), 2);
    assert_eq!(fake.messages().len(), 1);
}

#[tokio::test]
async fn a_concurrent_request_with_the_same_key_is_retried_to_the_same_id() {
    let fake = ResendFake::start_with(FakeConfig {
        requests_per_second: 10,
        processing_delay: Duration::from_millis(300),
        ..FakeConfig::default()
    })
    .await;
    let m = mailer(&fake, 10);
    let e = email("k/concurrent");
    let (a, b) = tokio::join!(m.send(&e), m.send(&e));
    assert_eq!(a.unwrap(), b.unwrap());
    assert_eq!(fake.messages().len(), 1);
    assert!(fake.requests() >= 3);
}

#[tokio::test]
async fn twenty_concurrent_sends_are_paced_under_the_rate_limit() {
    let fake = ResendFake::start_with(FakeConfig {
        requests_per_second: 10,
        ..FakeConfig::default()
    })
    .await;
    let m = mailer(&fake, 10);
    let sends = (0..20).map(|i| {
        let m = m.clone();
        tokio::spawn(async move { m.send(&email(&format!("k/many-{i}"))).await })
    });
    for r in futures_util::future::join_all(sends).await {
        r.unwrap().unwrap();
    }
    assert_eq!(fake.rate_limited(), 0);
    assert_eq!(fake.requests(), 20);
    assert_eq!(fake.messages().len(), 20);
}

#[tokio::test]
async fn a_422_is_permanent_and_names_validation_error() {
    let fake = ResendFake::start().await;
    let mut e = email("k/invalid");
    e.subject = String::new();
    let err = mailer(&fake, 10).send(&e).await.unwrap_err();
    let SideEffectError::Permanent(m) = &err else {
        panic!("expected Permanent, got {err:?}");
    };
    assert!(m.contains("validation_error"), "{m}");
    assert!(m.contains("422"), "{m}");
    assert_eq!(fake.requests(), 1);
    assert!(fake.messages().is_empty());
}

#[tokio::test]
async fn persistent_500s_give_up_as_retryable_within_the_budget() {
    let fake = ResendFake::start().await;
    for _ in 0..10 {
        fake.push_fault(Fault::Status500);
    }
    let mut c = config(&fake, 10);
    c.max_attempts = 3;
    let err = ResendMailer::new(c)
        .unwrap()
        .send(&email("k/down"))
        .await
        .unwrap_err();
    assert!(matches!(err, SideEffectError::Retryable(_)), "{err:?}");
    assert_eq!(fake.requests(), 3);
}

#[tokio::test]
async fn the_api_key_recipient_and_subject_never_appear_in_errors() {
    let fake = ResendFake::start().await;
    let secret = "re_wrong_secret_key_123";
    let mut c = config(&fake, 10);
    c.api_key = secret.into();
    assert!(!format!("{c:?}").contains(secret));
    let m = ResendMailer::new(c).unwrap();
    assert!(!format!("{m:?}").contains(secret));
    let err = m.send(&email("k/auth")).await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(matches!(err, SideEffectError::Permanent(_)), "{text}");
    assert!(text.contains("invalid_api_key"), "{text}");
    for leaked in [secret, "person@example.org", "Gracias"] {
        assert!(!text.contains(leaked), "{text}");
    }
}
