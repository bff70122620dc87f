//! `ResendMailer` against the `Mailer` contract of `testkit::contract`, on the Resend fake with
//! its real faults: a 500 (transient), a message stored but answered with a 500 (lost
//! response) and a 422 `validation_error` (permanent). The mailer makes one attempt per send,
//! so each fault reaches the caller instead of being absorbed by the adapter's own retries.

use domain::ports::Mailer;
use resend::{Config, ResendMailer};
use std::sync::Arc;
use std::time::Duration;
use testkit::contract::{DeliveredMail, FaultKind, MailerUnderTest};
use testkit::resend_fake::{FakeConfig, Fault, ResendFake};

async fn make_mailer() -> MailerUnderTest {
    let fake = Arc::new(
        ResendFake::start_with(FakeConfig {
            requests_per_second: 1000,
            ..FakeConfig::default()
        })
        .await,
    );
    let mut config = Config::new(&fake.url(), fake.api_key()).expect("config");
    config.requests_per_second = 1000;
    config.request_timeout = Duration::from_secs(5);
    config.initial_backoff = Duration::from_millis(10);
    config.max_attempts = 1;
    let mailer = ResendMailer::new(config).expect("mailer");
    let (for_faults, for_delivered) = (Arc::clone(&fake), Arc::clone(&fake));
    MailerUnderTest {
        mailer: Arc::new(mailer) as Arc<dyn Mailer>,
        delivered: Box::new(move || {
            let messages = for_delivered.messages();
            Box::pin(async move {
                messages
                    .into_iter()
                    .map(|m| DeliveredMail {
                        idempotency_key: m.idempotency_key,
                        id: m.id,
                        to: m.to,
                        subject: m.subject,
                        has_text: m.text.is_some_and(|t| !t.is_empty()),
                        has_html: !m.html.is_empty(),
                    })
                    .collect()
            })
        }),
        fail_next: Box::new(move |kind| {
            for_faults.push_fault(match kind {
                FaultKind::Transient => Fault::Status500,
                FaultKind::LostResponse => Fault::LostResponse,
                FaultKind::Permanent => Fault::Status422,
            });
            Box::pin(async { true })
        }),
        keep_alive: Some(Box::new(fake)),
    }
}

testkit::mailer_contract_tests!(make_mailer);
