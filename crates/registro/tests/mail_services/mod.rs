//! `registro serve` with the real mail service: setting the `RESEND_*` variables switches the
//! embedded pipeline from `.eml` files to Resend's API (here the fake in `testkit`).

use crate::support::*;
use testkit::forms::FormFixture;
use testkit::resend_fake::{FakeConfig, Fault, ResendFake};
use testkit::spawn::{Options, Registro, Spawned};

fn resend_env(fake: &ResendFake) -> Options {
    Options::default()
        .env("RESEND_API_KEY", fake.api_key())
        .env("RESEND_API_URL", &fake.url())
        .env("RESEND_REQUESTS_PER_SECOND", "10")
}

#[tokio::test]
async fn with_resend_settings_every_submission_sends_its_two_emails_through_the_api_once() {
    let fake = ResendFake::start_with(FakeConfig {
        requests_per_second: 10,
        ..FakeConfig::default()
    })
    .await;
    // A 500 and a response lost after the message was stored: both retried, neither doubled.
    fake.push_fault(Fault::Status500);
    fake.push_fault(Fault::LostResponse);
    let env = Env::start(resend_env(&fake));
    let individual =
        FormFixture::individual(&env.catalog, &key(1)).set("correo_0", "zacarias.q@example.org");
    let a = env.post(DELEGACIONES, &individual).await.folio().unwrap();
    let b = env
        .post(FACULTY, &FormFixture::faculty(&key(2), 4))
        .await
        .folio()
        .unwrap();
    wait_status(&env, &a, "completed").await;
    wait_status(&env, &b, "completed").await;
    let mut keys: Vec<String> = fake
        .messages()
        .into_iter()
        .map(|m| m.idempotency_key.unwrap_or_default())
        .collect();
    keys.sort();
    let mut want = vec![
        format!("delegacion-confirmation/{a}"),
        format!("delegacion-internal-notification/{a}"),
        format!("faculty-confirmation/{b}"),
        format!("faculty-internal-notification/{b}"),
    ];
    want.sort();
    assert_eq!(keys, want);
    assert!(
        fake.requests() >= 6,
        "both injected faults were met and retried"
    );
    let confirmation = fake
        .messages()
        .into_iter()
        .find(|m| m.idempotency_key.as_deref() == Some(&format!("delegacion-confirmation/{a}")))
        .unwrap();
    assert_eq!(confirmation.to, vec!["zacarias.q@example.org".to_owned()]);
    assert!(
        confirmation.text.is_some_and(|t| !t.is_empty()),
        "a text part"
    );
    assert!(
        !env.app.data_dir.join("mail").exists()
            || std::fs::read_dir(env.app.data_dir.join("mail"))
                .unwrap()
                .next()
                .is_none(),
        "nothing is written to the file mailer"
    );
    let logs = env.app.logs_text();
    assert!(
        !logs.contains(fake.api_key()),
        "the API key leaked into the logs"
    );
    assert!(
        !logs.contains("zacarias.q"),
        "an address leaked into the logs"
    );
}

#[tokio::test]
async fn a_resend_setting_without_the_api_key_stops_serve_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options::default().env("RESEND_API_URL", "http://127.0.0.1:9");
    match Registro::try_spawn(&registro_bin(), dir.path(), &opts) {
        Spawned::Exited { code, stderr } => {
            assert_ne!(code, Some(0));
            assert!(stderr.contains("RESEND_API_KEY"), "{stderr}");
        }
        Spawned::Running(_) => panic!("serve started without RESEND_API_KEY"),
    }
}
