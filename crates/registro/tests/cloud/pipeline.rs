//! End to end on the emulators: `registro-api`, `registro-outbox` and `registro-worker` as
//! separate processes; Firestore and Cloud Storage (fake-gcs-server) behind the API; outbox rows
//! published both by CloudEvents posted the way Eventarc posts them and by a Scheduler-like
//! sweep; a real Pub/Sub push subscription (with a dead-letter topic) delivering to the worker;
//! Google Sheets and Resend on their fakes. A burst with duplicates and conflicts, each service
//! killed with SIGKILL and restarted once mid-burst → every accepted submission gets exactly one
//! row set and one confirmation + one internal e-mail; nothing is lost or dead-lettered.

use super::*;
use crate::support::{DELEGACIONES, FACULTY, Posted, key};
use domain::ports::{PipelineStore, Store};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::forms::FormFixture;
use testkit::resend_fake::{self, ResendFake};
use testkit::sheets_fake::{
    self, DELEGACIONES_SPREADSHEET, FACULTY_DELEGACIONES_TABLE, FACULTY_SPREADSHEET, FACULTY_TABLE,
    SheetsFake,
};

/// Submissions in the burst (the acceptance figure of the issue).
const BURST: u32 = 300;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A service that the test may kill and start again on the same port.
struct Restartable {
    name: &'static str,
    env: Vec<(String, String)>,
    port: u16,
    running: Mutex<Option<Registro>>,
}

impl Restartable {
    fn start(name: &'static str, env: Vec<(String, String)>) -> Self {
        let port = free_port();
        let s = Self {
            name,
            env,
            port,
            running: Mutex::new(None),
        };
        s.spawn();
        s
    }

    fn spawn(&self) {
        let env = with(self.env.clone(), &[("PORT", &self.port.to_string())]);
        let app = Registro::spawn_service(&bin(self.name), &env);
        *self.running.lock().unwrap() = Some(app);
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// SIGKILL, then a fresh process on the same port.
    fn crash_and_restart(&self) {
        if let Some(mut app) = self.running.lock().unwrap().take() {
            app.kill();
        }
        self.spawn();
    }

    fn logs_text(&self) -> String {
        self.running
            .lock()
            .unwrap()
            .as_ref()
            .map(Registro::logs_text)
            .unwrap_or_default()
    }
}

/// Posts like a browser that keeps its key: a connection error (the API is down) or a
/// "retry with the same key" answer is posted again, for up to a minute.
async fn post_until_answered(api: &Restartable, path: &str, form: &FormFixture) -> Posted {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let sent = testkit::spawn::client()
            .post(api.url(path))
            .header("origin", crate::support::ORIGIN)
            .multipart(form.to_multipart())
            .send()
            .await;
        if let Ok(res) = sent {
            let posted = Posted {
                status: res.status().as_u16(),
                location: res
                    .headers()
                    .get("location")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default(),
            };
            if !posted.location.contains("keep_idempotency_key=1") && posted.status == 303 {
                return posted;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no answer for a post within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn rows_with(rows: &[Vec<serde_json::Value>], id: &str) -> usize {
    rows.iter()
        .filter(|r| r.iter().any(|c| c.as_str() == Some(id)))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_across_the_three_services_with_crashes_gives_each_submission_once() {
    if !(emulators() && testkit::emulators::storage()) {
        return;
    }
    let run = run_id();
    let project = "demo-registro";
    let storage = var(testkit::emulators::STORAGE_VAR);
    let storage = if storage.contains("://") {
        storage
    } else {
        format!("http://{storage}")
    };
    let bucket = format!("{run}-comprobantes");
    let made = reqwest::Client::new()
        .post(format!("{storage}/storage/v1/b?project={project}"))
        .json(&serde_json::json!({ "name": bucket }))
        .send()
        .await
        .expect("fake-gcs-server");
    assert!(made.status().is_success(), "bucket: {}", made.status());

    let sheets = Arc::new(
        SheetsFake::start_with(sheets_fake::FakeConfig {
            writes_per_minute: 60,
            reads_per_minute: 60,
            ..sheets_fake::FakeConfig::default()
        })
        .await,
    );
    let resend = Arc::new(
        ResendFake::start_with(resend_fake::FakeConfig {
            requests_per_second: 40,
            ..resend_fake::FakeConfig::default()
        })
        .await,
    );
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("adc.json");
    std::fs::write(&credentials, sheets.authorized_user_json()).unwrap();

    let common = with(
        base_env(&run),
        &[
            ("OIDC_DISABLED", "true"),
            ("PUB_SUB_TOPIC_NAME", &format!("{run}-work")),
        ],
    );
    let catalog = testkit::forms::example_catalog_path();
    let catalog_text = catalog.display().to_string();
    let api = Restartable::start(
        "registro-api",
        with(
            common.clone(),
            &[
                ("STORAGE_EMULATOR_HOST", &storage),
                ("COMPROBANTES_BUCKET_NAME", &bucket),
                ("REGISTRO_FRONTEND_URL", crate::support::ORIGIN),
                ("REGISTRO_ALLOWED_ORIGINS", crate::support::ORIGIN),
                ("REGISTRO_RATE_LIMIT_PER_MINUTE", "0"),
                ("REGISTRO_PUBLIC_URL", "https://registro-api.example"),
                ("RECEIPT_LINK_KEY", LINK_KEY),
                ("REGISTRO_CATALOG", &catalog_text),
            ],
        ),
    );
    let outbox = Restartable::start("registro-outbox", common.clone());
    let mut worker_env = with(
        worker_env(&run),
        &[
            ("OIDC_DISABLED", "true"),
            (
                "GOOGLE_APPLICATION_CREDENTIALS",
                credentials.to_str().unwrap(),
            ),
            ("RESEND_API_KEY", resend.api_key()),
            ("RESEND_API_URL", &resend.url()),
            ("RESEND_REQUESTS_PER_SECOND", "35"),
            ("SHEETS_REQUEST_TIMEOUT_SECS", "5"),
            ("REGISTRO_CATALOG", &catalog_text),
        ],
    );
    for (k, v) in sheets.add_registro_layout() {
        worker_env = with(worker_env, &[(k, &v)]);
    }
    let worker = Arc::new(Restartable::start("registro-worker", worker_env));

    // Pub/Sub as Terraform sets it up: the work topic, a push subscription to the worker with a
    // dead-letter topic after 5 attempts, and a subscription that keeps what is dead-lettered.
    let endpoint = format!("http://{}", var(testkit::emulators::PUBSUB_VAR));
    let admin = pubsub_bus::admin::Admin::connect(project, Some(&endpoint))
        .await
        .expect("pubsub admin");
    admin.ensure_topic(&format!("{run}-work")).await.unwrap();
    admin.ensure_topic(&format!("{run}-dead")).await.unwrap();
    admin
        .ensure_pull_subscription(&format!("{run}-dead-keep"), &format!("{run}-dead"))
        .await
        .unwrap();
    let mut push = pubsub_bus::admin::PushSubscription::new(
        format!("{run}-push"),
        format!("{run}-work"),
        worker.url("/pubsub/push"),
    );
    push.ack_deadline = Duration::from_secs(60);
    push.min_backoff = Duration::from_secs(1);
    push.max_backoff = Duration::from_secs(5);
    push.dead_letter = Some(pubsub_bus::admin::DeadLetter {
        topic: format!("{run}-dead"),
        max_delivery_attempts: 5,
    });
    admin.ensure_push_subscription(&push).await.unwrap();

    // Cloud Scheduler: a sweep every second. Eventarc: a CloudEvent per accepted row.
    let running = Arc::new(AtomicBool::new(true));
    let scheduler = {
        let (running, url) = (running.clone(), outbox.url("/sweep"));
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            while running.load(Ordering::Relaxed) {
                let _ = client.post(&url).body("{}").send().await;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    let outbox_collection = format!("{run}_inscripciones_outbox");
    let eventarc = |folio: String| {
        let url = outbox.url("/events/outbox");
        let subject = format!("documents/{outbox_collection}/{folio}");
        tokio::spawn(async move {
            // Eventarc retries; the sweep covers an event lost while the outbox was down.
            let _ = reqwest::Client::new()
                .post(&url)
                .header("ce-id", format!("evt-{folio}"))
                .header(
                    "ce-source",
                    "//firestore.googleapis.com/projects/demo-registro/databases/(default)",
                )
                .header("ce-specversion", "1.0")
                .header("ce-type", "google.cloud.firestore.document.v1.created")
                .header("ce-subject", subject)
                .header("content-type", "application/protobuf")
                .body(Vec::<u8>::new())
                .send()
                .await;
        })
    };

    let ex = testkit::forms::load_catalog(&catalog);
    let forms: Vec<(&str, FormFixture)> = (0..BURST)
        .map(|i| {
            let k = key(90_000 + i);
            match i % 10 {
                0..=4 => (DELEGACIONES, FormFixture::individual(&ex, &k)),
                5..=6 => (DELEGACIONES, FormFixture::pareja(&ex, &k)),
                _ => (FACULTY, FormFixture::faculty(&k, 4 + (i as usize % 3))),
            }
        })
        .collect();

    // Each service crashes once while the burst runs.
    let accepted = Arc::new(AtomicUsize::new(0));
    let crasher = {
        let accepted = accepted.clone();
        let worker = worker.clone();
        let (api, outbox) = (&api, &outbox);
        async move {
            for (at, service) in [(BURST / 4, api), (BURST / 2, outbox)] {
                while accepted.load(Ordering::Relaxed) < at as usize {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                tokio::task::block_in_place(|| service.crash_and_restart());
            }
            while accepted.load(Ordering::Relaxed) < (3 * BURST / 4) as usize {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            tokio::task::block_in_place(|| worker.crash_and_restart());
        }
    };

    let started = Instant::now();
    let burst = futures_util::stream::iter(forms.iter().enumerate())
        .map(|(i, (path, form))| {
            let (api, accepted, eventarc) = (&api, &accepted, &eventarc);
            async move {
                let first = post_until_answered(api, path, form).await;
                let folio = first
                    .folio()
                    .unwrap_or_else(|| panic!("accepted: {first:?}"));
                accepted.fetch_add(1, Ordering::Relaxed);
                if i % 3 == 0 {
                    eventarc(folio.clone());
                }
                // A tenth are posted twice (a double click): the same folio.
                if i % 10 == 3 {
                    let again = post_until_answered(api, path, form).await;
                    assert_eq!(again.folio().as_deref(), Some(folio.as_str()), "replay");
                }
                // Some reuse the key with another payload: refused, nothing written.
                if i % 25 == 0 {
                    let field = if *path == FACULTY {
                        "pais_faculty"
                    } else {
                        "pais_0"
                    };
                    let other = form.clone().set(field, "Perú");
                    let conflict = post_until_answered(api, path, &other).await;
                    assert!(
                        conflict.location.contains("rotate_idempotency_key=1"),
                        "conflict: {conflict:?}"
                    );
                }
                let ty = if *path == FACULTY {
                    "faculty"
                } else {
                    "delegacion"
                };
                (folio, ty, i)
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>();
    let (posted, ()) = tokio::join!(burst, crasher);
    let accepted_in = started.elapsed();

    // Read back what the pipeline did, through the store the services use.
    let config = firestore_store::FirestoreConfig::from_lookup(|k| {
        base_env(&run)
            .into_iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v)
    })
    .unwrap();
    let store =
        firestore_store::FirestoreStore::connect(&config, Arc::new(domain::ports::SystemClock))
            .await
            .unwrap();
    let deadline = Instant::now() + Duration::from_secs(420);
    loop {
        let mut unfinished = 0;
        for (folio, _, _) in &posted {
            let id = domain::SubmissionId::parse(folio).unwrap();
            let s = store.submission(&id).await.unwrap().expect("committed");
            assert_ne!(
                s.status,
                domain::SubmissionStatus::Failed,
                "{folio} failed: {:?}",
                s.worker.error_message
            );
            if s.status != domain::SubmissionStatus::Completed {
                unfinished += 1;
            }
        }
        if unfinished == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{unfinished} submissions unfinished after 420 s\nworker: {}",
            worker
                .logs_text()
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let drained_in = started.elapsed();
    running.store(false, Ordering::Relaxed);
    scheduler.await.unwrap();

    // Exactly one submission per accepted post, and nothing else.
    let mut listed = 0;
    let mut after = None;
    loop {
        let page = store
            .list_submissions(None, after.as_ref(), 200)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(domain::ports::SubmissionCursor::after(last));
        listed += page.len();
    }
    assert_eq!(listed, BURST as usize, "one submission per registration");

    let deleg = sheets.table_rows(DELEGACIONES_SPREADSHEET, sheets_fake::DELEGACIONES_TABLE);
    let fac = sheets.table_rows(FACULTY_SPREADSHEET, FACULTY_TABLE);
    let fac_del = sheets.table_rows(FACULTY_SPREADSHEET, FACULTY_DELEGACIONES_TABLE);
    let mut mails: HashMap<String, usize> = HashMap::new();
    for m in resend.messages() {
        *mails
            .entry(m.idempotency_key.unwrap_or_default())
            .or_default() += 1;
    }
    for (folio, ty, i) in &posted {
        if *ty == "faculty" {
            assert_eq!(rows_with(&fac, folio), 1, "faculty row of {folio}");
            assert_eq!(
                rows_with(&fac_del, folio),
                4 + (*i % 3),
                "delegates of {folio}"
            );
        } else {
            assert_eq!(rows_with(&deleg, folio), 1, "row of {folio}");
        }
        for kind in ["confirmation", "internal-notification"] {
            assert_eq!(
                mails.get(&format!("{ty}-{kind}/{folio}")),
                Some(&1),
                "{kind} of {folio}"
            );
        }
        let row = store
            .outbox_row(&domain::SubmissionId::parse(folio).unwrap())
            .await
            .unwrap()
            .expect("outbox row");
        assert_eq!(
            row.status,
            domain::OutboxStatus::Sent,
            "outbox row of {folio}"
        );
    }
    assert_eq!(
        mails.values().sum::<usize>(),
        2 * BURST as usize,
        "no e-mail beyond one confirmation and one notification each"
    );
    let dead = admin
        .receive(&format!("{run}-dead-keep"), 10, Duration::from_secs(2))
        .await
        .unwrap();
    assert!(dead.is_empty(), "dead-lettered: {}", dead.len());
    eprintln!(
        "cloud burst: {BURST} accepted in {:.1} s, all completed after {:.1} s (api, outbox, worker each SIGKILLed once)",
        accepted_in.as_secs_f64(),
        drained_in.as_secs_f64()
    );
    for name in [&api, &outbox] {
        assert!(
            !name.logs_text().contains("@example"),
            "no e-mail address in {} logs",
            name.name
        );
    }
    let _ = admin.delete_subscription(&format!("{run}-push")).await;
}
