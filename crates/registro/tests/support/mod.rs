//! Shared helpers of the `registro` integration tests: a running server with its data dir,
//! posting forms like a browser, and reading the embedded database directly to check exactly
//! what was written.
#![allow(dead_code)]

use domain::catalog::Catalog;
use serde_json::Value;
use std::path::{Path, PathBuf};
use testkit::forms::FormFixture;
use testkit::spawn::{Options, Registro};

pub const DELEGACIONES: &str = "/registro/delegaciones";
pub const FACULTY: &str = "/registro/faculty";
pub const ORIGIN: &str = "http://localhost:5173";

pub fn registro_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_registro"))
}

/// A distinct 32-hex key, like the browser's.
pub fn key(n: u32) -> String {
    format!("{n:032x}")
}

pub struct Env {
    pub app: Registro,
    pub catalog: Catalog,
    pub dir: tempfile::TempDir,
}

#[derive(Debug, Clone)]
pub struct Posted {
    pub status: u16,
    pub location: String,
}

impl Posted {
    pub fn is_confirmation(&self) -> bool {
        self.status == 303 && self.location.contains("/registro/confirmacion/?form=")
    }

    pub fn folio(&self) -> Option<String> {
        if !self.is_confirmation() {
            return None;
        }
        self.location
            .split("folio=")
            .nth(1)
            .map(|s| s.split('&').next().unwrap().to_owned())
    }
}

impl Env {
    pub fn start(opts: Options) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), opts)
    }

    pub fn start_in(dir: tempfile::TempDir, opts: Options) -> Self {
        let catalog_path = opts
            .catalog
            .clone()
            .unwrap_or_else(testkit::forms::example_catalog_path);
        let app = Registro::spawn(&registro_bin(), dir.path(), &opts);
        Self {
            app,
            catalog: testkit::forms::load_catalog(&catalog_path),
            dir,
        }
    }

    pub async fn post(&self, path: &str, form: &FormFixture) -> Posted {
        self.send(path, form, None).await
    }

    /// Posts with a chosen request id, to find this request's log lines.
    pub async fn post_with_id(&self, path: &str, form: &FormFixture, request_id: &str) -> Posted {
        self.send(path, form, Some(request_id)).await
    }

    async fn send(&self, path: &str, form: &FormFixture, request_id: Option<&str>) -> Posted {
        try_post(&self.app, path, form, request_id)
            .await
            .expect("post")
    }

    /// Whether the server logged `event`, waiting for it a little: log lines reach the test
    /// through a reader thread, possibly after the HTTP answer.
    pub fn logged(&self, event: &str) -> bool {
        self.app
            .wait_for_log(std::time::Duration::from_secs(5), |l| l["message"] == event)
            .is_some()
    }

    fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.dir.path().join("registro.sqlite3")).unwrap()
    }

    pub fn count(&self, table: &str) -> u64 {
        self.db()
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    fn doc(&self, table: &str, id: &str) -> Value {
        let text: String = self
            .db()
            .query_row(
                &format!("SELECT doc FROM {table} WHERE id = ?1"),
                [id],
                |r| r.get(0),
            )
            .unwrap_or_else(|e| panic!("{table}/{id}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    pub fn submission_doc(&self, id: &str) -> Value {
        self.doc("submissions", id)
    }

    pub fn outbox_doc(&self, id: &str) -> Value {
        self.doc("outbox", id)
    }

    pub fn record_doc(&self, id: &str) -> Value {
        self.doc("idempotency", id)
    }

    /// What the worker would do on a permanent failure (the worker arrives with a later issue).
    pub fn mark_failed(&self, id: &str) {
        let n = self
            .db()
            .execute(
                "UPDATE submissions SET status = 'failed', doc = json_set(doc, '$.status', 'failed') WHERE id = ?1",
                [id],
            )
            .unwrap();
        assert_eq!(n, 1);
    }

    /// A `claimed` record as the older system writes it, last touched `age_secs` ago.
    pub fn seed_claim(&self, record_id: &str, key: &str, fingerprint: &str, age_secs: i64) {
        let updated = chrono_like_now_minus(age_secs);
        let doc = serde_json::json!({
            "submission_type": "delegacion",
            "idempotency_key": key,
            "payload_hash": fingerprint,
            "request_id": "older-system-request",
            "status": "claimed",
            "submission_id": null,
            "created_at": updated,
            "updated_at": updated,
        });
        self.db()
            .execute(
                "INSERT INTO idempotency (id, doc) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET doc = excluded.doc",
                [record_id, &doc.to_string()],
            )
            .unwrap();
    }

    pub fn fingerprint_of(&self, form: &FormFixture) -> String {
        domain::form::parse_delegaciones(&form.to_raw_form(), &self.catalog)
            .expect("valid form")
            .fingerprint
    }

    pub fn blob_files(&self) -> Vec<String> {
        blob_files_in(self.dir.path())
    }
}

fn chrono_like_now_minus(secs: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::seconds(secs))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Stored receipts (relative object names), ignoring temp files.
pub fn blob_files_in(data_dir: &Path) -> Vec<String> {
    let root = data_dir.join("blobs");
    let mut out = vec![];
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if !e.file_name().to_string_lossy().starts_with('.') {
                let rel = p
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

/// Posts a form like a browser; `Err` when the connection drops (the server died).
pub async fn try_post(
    app: &Registro,
    path: &str,
    form: &FormFixture,
    request_id: Option<&str>,
) -> Result<Posted, reqwest::Error> {
    let mut req = testkit::spawn::client()
        .post(app.url(path))
        .header("origin", ORIGIN)
        .multipart(form.to_multipart());
    if let Some(id) = request_id {
        req = req.header("x-request-id", id);
    }
    let res = req.send().await?;
    Ok(Posted {
        status: res.status().as_u16(),
        location: res
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default(),
    })
}

/// Runs `registro admin --data-dir DIR ARGS…` to completion.
pub fn admin(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(registro_bin())
        .arg("admin")
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

/// Waits (up to 30 s) until submission `folio` has `status`.
pub async fn wait_status(env: &Env, folio: &str, status: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while env.submission_doc(folio)["status"] != status {
        assert!(
            std::time::Instant::now() < deadline,
            "never {status}: {}",
            env.submission_doc(folio)
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
