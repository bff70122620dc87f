//! `registro serve` with the real vendor adapters: the Sheets variables switch the embedded
//! pipeline from CSV files to the Sheets API and the `RESEND_*` ones from `.eml` files to
//! Resend (both on the fakes in `testkit`, the token through the real `google-cloud-auth`
//! path). The burst below is issue 7's acceptance: 300 submissions, a fifth of them delivered
//! twice, 429s, 500s, timeouts and lost responses injected into both services throughout →
//! exactly one row set and one confirmation + one internal e-mail per submission, none failed.

use crate::support::*;
use base64::Engine;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use testkit::forms::FormFixture;
use testkit::resend_fake::{self, ResendFake};
use testkit::sheets_fake::{self, SheetsFake};
use testkit::spawn::{Options, Registro, Spawned};

use testkit::sheets_fake::{
    DELEGACIONES_SPREADSHEET, DELEGACIONES_TABLE, FACULTY_DELEGACIONES_TABLE, FACULTY_SPREADSHEET,
    FACULTY_TABLE,
};

/// The settings `registro serve` gets, and the credentials file they point at.
fn services_env(
    sheets: &SheetsFake,
    resend: &ResendFake,
    dir: &std::path::Path,
    resend_rps: u32,
) -> Options {
    let credentials = dir.join("adc.json");
    std::fs::write(&credentials, sheets.authorized_user_json()).unwrap();
    let mut opts = Options::default();
    for (k, v) in sheets.add_registro_layout() {
        opts = opts.env(k, &v);
    }
    opts.env(
        "GOOGLE_APPLICATION_CREDENTIALS",
        credentials.to_str().unwrap(),
    )
    .env("SHEETS_REQUEST_TIMEOUT_SECS", "1")
    .env("RESEND_API_KEY", resend.api_key())
    .env("RESEND_API_URL", &resend.url())
    .env("RESEND_REQUESTS_PER_SECOND", &resend_rps.to_string())
}

/// How many rows of `rows` hold `id` in some cell.
fn rows_with(rows: &[Vec<Value>], id: &str) -> usize {
    rows.iter()
        .filter(|r| r.iter().any(|c| c.as_str() == Some(id)))
        .count()
}

/// A Pub/Sub push of the work message of `folio`, as a redelivery would bring it.
async fn push_again(client: &reqwest::Client, url: &str, folio: &str, ty: &str, n: usize) {
    let data =
        json!({"submission_id": folio, "request_id": format!("dup-{n}"), "submission_type": ty});
    let body = json!({
        "message": {
            "data": base64::engine::general_purpose::STANDARD.encode(data.to_string()),
            "messageId": format!("dup-{n}"),
        },
        "subscription": "projects/test/subscriptions/registro-worker",
    });
    let r = client.post(url).json(&body).send().await.unwrap();
    // 2xx (done or acked) or 429/503 (busy: Pub/Sub would redeliver later); never a 4xx.
    assert!(
        r.status().is_success() || r.status() == 429 || r.status() == 503,
        "push answered {}",
        r.status()
    );
}

#[tokio::test]
async fn a_burst_of_300_with_redeliveries_and_faults_gives_one_row_set_and_two_emails_each() {
    let sheets = Arc::new(
        SheetsFake::start_with(sheets_fake::FakeConfig {
            writes_per_minute: 60,
            reads_per_minute: 60,
            timeout_sleep: Duration::from_secs(2),
            ..sheets_fake::FakeConfig::default()
        })
        .await,
    );
    let resend = Arc::new(
        ResendFake::start_with(resend_fake::FakeConfig {
            requests_per_second: 40,
            timeout_sleep: Duration::from_secs(1),
            ..resend_fake::FakeConfig::default()
        })
        .await,
    );
    let dir = tempfile::tempdir().unwrap();
    let opts =
        services_env(&sheets, &resend, dir.path(), 35).env("REGISTRO_WORKER_CONCURRENCY", "16");
    let env = Env::start_in(dir, opts);

    // Faults in both services all through the burst.
    let running = Arc::new(AtomicBool::new(true));
    let injector = {
        let (running, sheets, resend) = (running.clone(), sheets.clone(), resend.clone());
        tokio::spawn(async move {
            use resend_fake::Fault as R;
            use sheets_fake::Fault as S;
            let sheet_faults = [S::Status429, S::Status500, S::Timeout, S::LostResponse];
            let mail_faults = [R::Status500, R::Status429, R::LostResponse, R::Timeout];
            // Three rounds of each kind, spread over the burst.
            let mut i = 0;
            while running.load(Ordering::Relaxed) && i < 12 {
                sheets.inject_write([sheet_faults[i % 4]]);
                if i % 4 == 0 {
                    sheets.inject_read([S::Status503]);
                }
                resend.push_fault(mail_faults[i % 4]);
                i += 1;
                tokio::time::sleep(Duration::from_millis(1500)).await;
            }
        })
    };

    let started = Instant::now();
    let forms: Vec<(&str, FormFixture)> = (0..300u32)
        .map(|i| {
            let k = key(70_000 + i);
            match i % 10 {
                0..=4 => (DELEGACIONES, FormFixture::individual(&env.catalog, &k)),
                5..=6 => (DELEGACIONES, FormFixture::pareja(&env.catalog, &k)),
                _ => (FACULTY, FormFixture::faculty(&k, 4 + (i as usize % 3))),
            }
        })
        .collect();
    let posted: Vec<(String, &str, usize)> = futures_util::stream::iter(forms.iter().enumerate())
        .map(|(i, (path, form))| {
            let env = &env;
            async move {
                let folio = env.post(path, form).await.folio().expect("accepted");
                let ty = if *path == FACULTY {
                    "faculty"
                } else {
                    "delegacion"
                };
                (folio, ty, i)
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    // A fifth delivered twice: pushed again while the pipeline runs them, as Pub/Sub's
    // at-least-once delivery would.
    let redeliveries = {
        let client = reqwest::Client::new();
        let url = env.app.url("/pubsub/push");
        let twice: Vec<(String, &'static str, usize)> = posted
            .iter()
            .filter(|(_, _, i)| i % 5 == 0)
            .cloned()
            .collect();
        tokio::spawn(async move {
            futures_util::stream::iter(twice)
                .for_each_concurrent(8, |(folio, ty, i)| {
                    let (client, url) = (&client, &url);
                    async move { push_again(client, url, &folio, ty, i).await }
                })
                .await;
        })
    };
    let accepted_in = started.elapsed();

    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let unfinished = posted
            .iter()
            .filter(|(f, _, _)| env.submission_doc(f)["status"] != "completed")
            .count();
        if unfinished == 0 {
            break;
        }
        let failed: Vec<&String> = posted
            .iter()
            .map(|(f, _, _)| f)
            .filter(|f| env.submission_doc(f)["status"] == "failed")
            .collect();
        assert!(
            failed.is_empty(),
            "failed: {:?}",
            env.submission_doc(failed[0])
        );
        assert!(
            Instant::now() < deadline,
            "{unfinished} submissions unfinished after 240 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let drained_in = started.elapsed();
    running.store(false, Ordering::Relaxed);
    injector.await.unwrap();
    redeliveries.await.unwrap();

    let deleg = sheets.table_rows(DELEGACIONES_SPREADSHEET, DELEGACIONES_TABLE);
    let fac = sheets.table_rows(FACULTY_SPREADSHEET, FACULTY_TABLE);
    let fac_del = sheets.table_rows(FACULTY_SPREADSHEET, FACULTY_DELEGACIONES_TABLE);
    let tabs = sheets.sheets(FACULTY_SPREADSHEET);
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
                "delegate rows of {folio}"
            );
            assert_eq!(
                tabs.iter()
                    .filter(|(_, t)| t.ends_with(folio.as_str()))
                    .count(),
                1,
                "own tab of {folio}"
            );
        } else {
            assert_eq!(rows_with(&deleg, folio), 1, "row of {folio}");
        }
        for kind in ["confirmation", "internal-notification"] {
            assert_eq!(mails.get(&format!("{ty}-{kind}/{folio}")), Some(&1));
        }
    }
    assert_eq!(
        deleg.len(),
        1 + 210,
        "header + one row per delegación, nothing else"
    );
    assert_eq!(fac.len(), 1 + 90);
    assert_eq!(resend.messages().len(), 600);
    let stats = sheets.stats();
    assert!(stats.faults_served >= 12, "faults were met: {stats:?}");
    eprintln!(
        "burst: 300 accepted in {accepted_in:?}, all completed in {drained_in:?}; sheets {stats:?}; \
         resend requests {}",
        resend.requests()
    );
    let logs = env.app.logs_text();
    assert!(!logs.contains(resend.api_key()), "the Resend key leaked");
    assert!(!logs.contains("ya29."), "a Google token leaked");
    assert!(!logs.contains("@example"), "an address leaked");
}

#[tokio::test]
async fn a_sheets_setting_without_the_rest_stops_serve_naming_the_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    // Everything but one table id.
    let opts = Options::default()
        .env("DELEGACIONES_SPREADSHEET_ID", "1abc")
        .env("DELEGACIONES_SHEET_ID", "0")
        .env("FACULTY_SPREADSHEET_ID", "1def")
        .env("FACULTY_GENERAL_SHEET_ID", "1")
        .env("FACULTY_GENERAL_TABLE_ID", "t1")
        .env("FACULTY_DELEGACIONES_SHEET_ID", "2")
        .env("FACULTY_DELEGACIONES_TABLE_ID", "t2");
    match Registro::try_spawn(&registro_bin(), dir.path(), &opts) {
        Spawned::Exited { code, stderr } => {
            assert_ne!(code, Some(0));
            assert!(stderr.contains("DELEGACIONES_TABLE_ID"), "{stderr}");
        }
        Spawned::Running(_) => panic!("serve started with half the Sheets settings"),
    }
}
