//! `registro-bench vendor-drain`: how long `registro serve` takes to drain a burst of
//! registrations through the real Google Sheets and Resend adapters under the vendors' quotas.
//!
//! The vendors are the HTTP fakes of `testkit` (the Sheets fake keeps real sheet state and
//! enforces a per-minute write and read quota; the Resend fake a per-second limit), started in
//! this process on 127.0.0.1. `registro serve` is spawned on a fresh data directory with the
//! Sheets and `RESEND_*` settings pointing at them, the burst is posted, and the clock runs
//! until every submission's rows are in the sheet, every e-mail is sent and every submission is
//! `completed`.

use crate::pipeline;
use futures_util::StreamExt;
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use testkit::forms::FormFixture;
use testkit::resend_fake::{self, ResendFake};
use testkit::sheets_fake::{self, SheetsFake};
use testkit::spawn::{Options, Registro};

pub struct DrainOptions {
    pub registro_bin: PathBuf,
    pub submissions: u32,
    /// Every `faculty_every`-th submission is a faculty registration (the rest delegaciones).
    pub faculty_every: u32,
    pub sheets_per_minute: usize,
    pub resend_per_second: usize,
    pub worker_concurrency: usize,
    pub wait: Duration,
    pub label: String,
}

#[derive(Debug, Serialize)]
pub struct DrainReport {
    pub kind: &'static str,
    pub label: String,
    pub submissions: u32,
    pub faculty: u32,
    pub sheets_writes_per_minute: usize,
    pub sheets_reads_per_minute: usize,
    pub resend_per_second: usize,
    pub worker_concurrency: usize,
    /// From the first post to the last confirmation page.
    pub accepted_s: f64,
    /// From the first post until every submission's rows were in the sheet.
    pub sheet_rows_s: f64,
    /// From the first post until every e-mail was sent.
    pub emails_s: f64,
    /// From the first post until every submission was `completed` (or the wait ran out).
    pub completed_s: f64,
    pub completed: usize,
    pub failed: usize,
    pub sheets_batch_updates: u64,
    pub sheets_reads: u64,
    pub sheets_rate_limited: u64,
    pub resend_requests: u64,
    pub resend_rate_limited: u64,
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e3).round() / 1e3
}

fn rows_in_table(fake: &SheetsFake, spreadsheet: &str, table: &str) -> usize {
    fake.table_rows(spreadsheet, table).len().saturating_sub(1)
}

pub async fn run(opts: DrainOptions) -> Result<DrainReport, String> {
    let sheets = SheetsFake::start_with(sheets_fake::FakeConfig {
        writes_per_minute: opts.sheets_per_minute,
        reads_per_minute: opts.sheets_per_minute,
        ..sheets_fake::FakeConfig::default()
    })
    .await;
    let resend = ResendFake::start_with(resend_fake::FakeConfig {
        requests_per_second: opts.resend_per_second,
        ..resend_fake::FakeConfig::default()
    })
    .await;
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let credentials = work.path().join("adc.json");
    std::fs::write(&credentials, sheets.authorized_user_json()).map_err(|e| e.to_string())?;
    let data_dir = work.path().join("data");
    let mut env = Options::default()
        .env(
            "GOOGLE_APPLICATION_CREDENTIALS",
            &credentials.to_string_lossy(),
        )
        .env(
            "SHEETS_WRITES_PER_MINUTE",
            &opts.sheets_per_minute.to_string(),
        )
        .env(
            "SHEETS_READS_PER_MINUTE",
            &opts.sheets_per_minute.to_string(),
        )
        .env("RESEND_API_KEY", resend.api_key())
        .env("RESEND_API_URL", &resend.url())
        .env(
            "RESEND_REQUESTS_PER_SECOND",
            &opts.resend_per_second.to_string(),
        )
        .env(
            "REGISTRO_WORKER_CONCURRENCY",
            &opts.worker_concurrency.to_string(),
        )
        .env("REGISTRO_RATE_LIMIT_PER_MINUTE", "0");
    for (k, v) in sheets.add_registro_layout() {
        env = env.env(k, &v);
    }
    let app = Registro::spawn(&opts.registro_bin, &data_dir, &env);
    let catalog = testkit::forms::load_catalog(&testkit::forms::example_catalog_path());

    let started = Instant::now();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let every = opts.faculty_every.max(1);
    let faculty = (0..opts.submissions)
        .filter(|i| i % every == every - 1)
        .count() as u32;
    let results: Vec<Result<(), String>> = futures_util::stream::iter(0..opts.submissions)
        .map(|i| {
            let (client, app, catalog) = (&client, &app, &catalog);
            async move {
                let key = format!("{:032x}", 0xd7a1_0000u64 + u64::from(i));
                let (path, form) = if i % every == every - 1 {
                    (
                        "/registro/faculty",
                        FormFixture::faculty(&key, 4 + (i as usize % 3)),
                    )
                } else if i % 3 == 0 {
                    ("/registro/delegaciones", FormFixture::pareja(catalog, &key))
                } else {
                    (
                        "/registro/delegaciones",
                        FormFixture::individual(catalog, &key),
                    )
                };
                let r = client
                    .post(app.url(path))
                    .multipart(form.to_multipart())
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let location = r
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                if location.contains("folio=") {
                    Ok(())
                } else {
                    Err(format!("not accepted: {} {location}", r.status()))
                }
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
        return Err(e.clone());
    }
    let accepted = started.elapsed();

    let n = opts.submissions as usize;
    let deadline = started + opts.wait;
    let (mut sheet_rows, mut emails) = (None, None);
    let listing = pipeline::Options {
        registro_bin: opts.registro_bin.clone(),
        data_dir: data_dir.clone(),
        wait: Duration::ZERO,
        poll: Duration::ZERO,
        label: String::new(),
    };
    let (completed, failed, completed_at) = loop {
        let rows = rows_in_table(
            &sheets,
            sheets_fake::DELEGACIONES_SPREADSHEET,
            sheets_fake::DELEGACIONES_TABLE,
        ) + rows_in_table(
            &sheets,
            sheets_fake::FACULTY_SPREADSHEET,
            sheets_fake::FACULTY_TABLE,
        );
        if sheet_rows.is_none() && rows >= n {
            sheet_rows = Some(started.elapsed());
        }
        if emails.is_none() && resend.messages().len() >= 2 * n {
            emails = Some(started.elapsed());
        }
        if sheet_rows.is_some() && emails.is_some() || Instant::now() >= deadline {
            let listed = pipeline::list(&listing)?;
            let completed = listed.iter().filter(|s| s.status == "completed").count();
            let failed = listed.iter().filter(|s| s.status == "failed").count();
            if completed + failed >= n || Instant::now() >= deadline {
                break (completed, failed, started.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    drop(app);
    let stats = sheets.stats();
    Ok(DrainReport {
        kind: "vendor_drain",
        label: opts.label,
        submissions: opts.submissions,
        faculty,
        sheets_writes_per_minute: opts.sheets_per_minute,
        sheets_reads_per_minute: opts.sheets_per_minute,
        resend_per_second: opts.resend_per_second,
        worker_concurrency: opts.worker_concurrency,
        accepted_s: secs(accepted),
        sheet_rows_s: secs(sheet_rows.unwrap_or(completed_at)),
        emails_s: secs(emails.unwrap_or(completed_at)),
        completed_s: secs(completed_at),
        completed,
        failed,
        sheets_batch_updates: stats.batch_updates_applied,
        sheets_reads: stats.reads,
        sheets_rate_limited: stats.rate_limited,
        resend_requests: resend.requests(),
        resend_rate_limited: resend.rate_limited(),
    })
}
