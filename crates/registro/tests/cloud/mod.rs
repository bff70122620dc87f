//! The three Cloud Run binaries as separate processes on the emulators: startup checks, health,
//! and who may call the outbox and worker routes (Google OIDC tokens from a test issuer whose
//! keys are served on 127.0.0.1 through `OIDC_JWKS_URL`).
//!
//! Runs when the Firestore and Pub/Sub emulators are up (`scripts/emulators`); skips otherwise,
//! unless `REGISTRO_REQUIRE_EMULATORS=1`.

mod operate;
mod pipeline;

use reqwest::StatusCode;
use std::path::PathBuf;
use testkit::oidc::TestIssuer;
use testkit::spawn::{Registro, Spawned};

const CALLER: &str = "invoker@demo-registro.iam.gserviceaccount.com";

fn bin(name: &str) -> PathBuf {
    match name {
        "registro-api" => PathBuf::from(env!("CARGO_BIN_EXE_registro-api")),
        "registro-outbox" => PathBuf::from(env!("CARGO_BIN_EXE_registro-outbox")),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_registro-worker")),
    }
}

fn emulators() -> bool {
    testkit::emulators::firestore() && testkit::emulators::pubsub()
}

fn var(name: &str) -> String {
    testkit::emulators::host(name).unwrap_or_default()
}

/// What every service gets on the emulators: its own collections (so tests run in parallel).
fn base_env(run: &str) -> Vec<(String, String)> {
    [
        ("GOOGLE_CLOUD_PROJECT", "demo-registro".to_owned()),
        (
            "FIRESTORE_EMULATOR_HOST",
            var(testkit::emulators::FIRESTORE_VAR),
        ),
        ("PUBSUB_EMULATOR_HOST", var(testkit::emulators::PUBSUB_VAR)),
        ("FIRESTORE_COLLECTION_NAME", format!("{run}_inscripciones")),
        (
            "IDEMPOTENCY_COLLECTION_NAME",
            format!("{run}_inscripciones_idempotencia"),
        ),
        (
            "OUTBOX_COLLECTION_NAME",
            format!("{run}_inscripciones_outbox"),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn with(mut env: Vec<(String, String)>, more: &[(&str, &str)]) -> Vec<(String, String)> {
    for (k, v) in more {
        env.retain(|(name, _)| name != k);
        env.push(((*k).to_owned(), (*v).to_owned()));
    }
    env
}

fn run_id() -> String {
    format!("t{:x}", rand_u64())
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish()
}

const LINK_KEY: &str = "0101010101010101010101010101010101010101010101010101010101010101";

/// An `authorized_user` credentials file whose token endpoint is never reached in these tests.
fn unused_credentials() -> String {
    let path = std::env::temp_dir().join("registro-cloud-test-adc.json");
    std::fs::write(
        &path,
        r#"{"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"r","token_uri":"http://127.0.0.1:9/token"}"#,
    )
    .unwrap();
    path.display().to_string()
}

fn worker_env(run: &str) -> Vec<(String, String)> {
    let credentials = unused_credentials();
    with(
        base_env(run),
        &[
            ("REGISTRO_PUBLIC_URL", "https://registro-api.example"),
            ("RECEIPT_LINK_KEY", LINK_KEY),
            ("REGISTRO_INTERNAL_EMAIL", "inscripciones@example.org"),
            ("DELEGACIONES_SPREADSHEET_ID", "sheet-d"),
            ("DELEGACIONES_SHEET_ID", "1"),
            ("DELEGACIONES_TABLE_ID", "t1"),
            ("FACULTY_SPREADSHEET_ID", "sheet-f"),
            ("FACULTY_GENERAL_SHEET_ID", "2"),
            ("FACULTY_GENERAL_TABLE_ID", "t2"),
            ("FACULTY_DELEGACIONES_SHEET_ID", "3"),
            ("FACULTY_DELEGACIONES_TABLE_ID", "t3"),
            ("SHEETS_API_URL", "http://127.0.0.1:9"),
            ("RESEND_API_KEY", "re_test"),
            ("RESEND_API_URL", "http://127.0.0.1:9"),
            // The token source is only built, never asked, in these tests.
            ("GOOGLE_APPLICATION_CREDENTIALS", &credentials),
        ],
    )
}

async fn post(app: &Registro, path: &str, token: Option<&str>, body: &str) -> StatusCode {
    let mut req = testkit::spawn::client()
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("request").status()
}

#[tokio::test]
async fn the_outbox_routes_take_only_a_google_token_for_their_audience_and_caller() {
    if !emulators() {
        return;
    }
    let issuer = TestIssuer::start().await;
    let run = run_id();
    let endpoint = format!("http://{}", var(testkit::emulators::PUBSUB_VAR));
    let admin = pubsub_bus::admin::Admin::connect("demo-registro", Some(&endpoint))
        .await
        .expect("pubsub admin");
    admin
        .ensure_topic(&format!("{run}-work"))
        .await
        .expect("topic");
    let audience = "https://registro-outbox.example";
    let outbox = Registro::spawn_service(
        &bin("registro-outbox"),
        &with(
            base_env(&run),
            &[
                ("PUB_SUB_TOPIC_NAME", &format!("{run}-work")),
                ("OIDC_AUDIENCE", audience),
                ("OIDC_SERVICE_ACCOUNT", CALLER),
                ("OIDC_JWKS_URL", &issuer.jwks_url()),
            ],
        ),
    );
    let health = testkit::spawn::client()
        .get(outbox.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK, "health needs no token");
    let cases = [
        ("no token", None, StatusCode::UNAUTHORIZED),
        (
            "another audience",
            Some(issuer.token("https://registro-worker.example", CALLER)),
            StatusCode::FORBIDDEN,
        ),
        (
            "another caller",
            Some(issuer.token(audience, "someone@evil.iam.gserviceaccount.com")),
            StatusCode::FORBIDDEN,
        ),
        (
            "valid",
            Some(issuer.token(audience, CALLER)),
            StatusCode::OK,
        ),
    ];
    for (name, token, want) in cases {
        assert_eq!(
            post(&outbox, "/sweep", token.as_deref(), "{}").await,
            want,
            "/sweep, {name}"
        );
    }
    // An Eventarc delivery with a valid token for a row that does not exist: acked, nothing sent.
    let event = testkit::spawn::client()
        .post(outbox.url("/events/outbox"))
        .bearer_auth(issuer.token(audience, CALLER))
        .header(
            "ce-subject",
            format!("documents/{run}_inscripciones_outbox/AAAAAAAAAAAAAAAAAAAA"),
        )
        .header("ce-type", "google.cloud.firestore.document.v1.created")
        .header("content-type", "application/protobuf")
        .body(Vec::<u8>::new())
        .send()
        .await
        .unwrap();
    assert_eq!(event.status(), StatusCode::NO_CONTENT);
    let refused = testkit::spawn::client()
        .post(outbox.url("/events/outbox"))
        .header(
            "ce-subject",
            format!("documents/{run}_inscripciones_outbox/AAAAAAAAAAAAAAAAAAAA"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(
        !outbox.logs_text().contains("eyJ"),
        "tokens are never logged"
    );
}

#[tokio::test]
async fn the_worker_push_route_takes_only_the_push_subscriptions_token() {
    if !emulators() {
        return;
    }
    let issuer = TestIssuer::start().await;
    let run = run_id();
    let audience = "https://registro-worker.example/pubsub/push";
    let worker = Registro::spawn_service(
        &bin("registro-worker"),
        &with(
            worker_env(&run),
            &[
                ("OIDC_AUDIENCE", audience),
                ("OIDC_SERVICE_ACCOUNT", CALLER),
                ("OIDC_JWKS_URL", &issuer.jwks_url()),
            ],
        ),
    );
    // A poison envelope: acked (204) once the caller is verified.
    let body = r#"{"message":{"data":"bm90IGpzb24=","messageId":"1"},"subscription":"s"}"#;
    assert_eq!(
        post(&worker, "/pubsub/push", None, body).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post(&worker, "/pubsub/push", Some("garbage"), body).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post(
            &worker,
            "/pubsub/push",
            Some(&issuer.token("https://registro-outbox.example", CALLER)),
            body
        )
        .await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(
            &worker,
            "/pubsub/push",
            Some(&issuer.token(audience, "other@evil.iam.gserviceaccount.com")),
            body
        )
        .await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(
            &worker,
            "/pubsub/push",
            Some(&issuer.token(audience, CALLER)),
            body
        )
        .await,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn a_service_with_a_bad_setting_does_not_start_and_names_it() {
    if !emulators() {
        return;
    }
    let run = run_id();
    type Case<'a> = (&'a str, Vec<(String, String)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "registro-outbox",
            with(
                base_env(&run),
                &[
                    ("PUB_SUB_TOPIC_NAME", "work"),
                    ("OIDC_DISABLED", "true"),
                    ("REGISTRO_ENV", "production"),
                ],
            ),
            "OIDC_DISABLED",
        ),
        (
            "registro-outbox",
            with(base_env(&run), &[("PUB_SUB_TOPIC_NAME", "work")]),
            "OIDC_AUDIENCE",
        ),
        (
            "registro-worker",
            with(
                worker_env(&run),
                &[("OIDC_DISABLED", "true"), ("RECEIPT_LINK_KEY", "abc")],
            ),
            "RECEIPT_LINK_KEY",
        ),
        (
            "registro-api",
            with(
                base_env(&run),
                &[
                    ("REGISTRO_FRONTEND_URL", "https://smmun.com"),
                    ("REGISTRO_PUBLIC_URL", "https://registro-api.example"),
                    ("RECEIPT_LINK_KEY", LINK_KEY),
                ],
            ),
            "COMPROBANTES_BUCKET_NAME",
        ),
        (
            "registro-api",
            with(base_env(&run), &[("PORT", "eighty")]),
            "PORT",
        ),
    ];
    for (name, env, setting) in cases {
        match Registro::try_spawn_service(&bin(name), &env) {
            Spawned::Exited { code, stderr } => {
                assert_eq!(code, Some(2), "{name}: {stderr}");
                assert!(stderr.contains(setting), "{name} names {setting}: {stderr}");
            }
            Spawned::Running(_) => panic!("{name} started despite a bad {setting}"),
        }
    }
}
