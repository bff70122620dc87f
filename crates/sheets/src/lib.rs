//! The organizers' Google Sheet: the `Sheet` port on the Sheets REST API v4 (reqwest, with a
//! bearer token from Application Default Credentials through `google-cloud-auth`: the metadata
//! server on Cloud Run, a key file or `gcloud auth application-default login` elsewhere).
//!
//! Why it is shaped like this (reference/pipeline.md §3 and §11 items 1, 2 and 11):
//! - **Idempotent per submission** whatever staff do to the sheet: before writing, the adapter
//!   reads the target tabs and looks for the submission id in any cell (`batch`).
//! - **Atomic**: all of a submission's rows, and for a faculty registration its own tab, go in
//!   one `batchUpdate`.
//! - **RAW typed values** (`cells`): no formula injection, no reinterpretation.
//! - **Quota-aware** (`api`): sliding per-minute windows for reads and writes (60 each by
//!   default, the API's per-user quota), 429 and 5xx retried with backoff honouring
//!   `Retry-After`, and **coalescing**: one batcher task per spreadsheet collects the
//!   submissions that arrive while it waits for quota and writes them in one request, so a
//!   burst of registrations costs a handful of requests instead of one each. Each caller is
//!   answered only once its own rows are confirmed written (or found present).
//! - Errors name the HTTP status and the API's reason, never cell text.

mod api;
mod batch;
mod cells;
mod config;

pub use config::{Config, ConfigError, DEFAULT_API_URL, TableRef, VARIABLES};
pub use google_cloud_auth::credentials::AccessTokenCredentials;

use async_trait::async_trait;
use batch::{Job, Place};
use domain::SubmissionId;
use domain::ports::{Sheet, SheetWrite, SideEffectError};
use domain::sheets::{DELEGACIONES_TAB, FACULTY_DELEGACIONES_TAB, FACULTY_TAB, SheetRows, Tab};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The OAuth scope the adapter asks for.
pub const SCOPE: &str = "https://www.googleapis.com/auth/spreadsheets";

/// Application Default Credentials with the Sheets scope.
pub fn adc_credentials() -> Result<AccessTokenCredentials, ConfigError> {
    google_cloud_auth::credentials::Builder::default()
        .with_scopes([SCOPE])
        .build_access_token_credentials()
        .map_err(|e| ConfigError::Credentials(e.to_string()))
}

/// Credentials from the JSON of an `authorized_user` file (what `gcloud auth
/// application-default login` writes; tests point its `token_uri` at a fake).
pub fn authorized_user_credentials(
    json: serde_json::Value,
) -> Result<AccessTokenCredentials, ConfigError> {
    google_cloud_auth::credentials::user_account::Builder::new(json)
        .with_scopes([SCOPE])
        .build_access_token_credentials()
        .map_err(|e| ConfigError::Credentials(e.to_string()))
}

#[derive(Clone)]
pub struct SheetsSheet {
    config: Arc<Config>,
    /// The batcher of each spreadsheet.
    queues: Arc<HashMap<String, mpsc::UnboundedSender<Job>>>,
}

impl std::fmt::Debug for SheetsSheet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SheetsSheet")
            .field("api_url", &self.config.api_url.as_str())
            .finish_non_exhaustive()
    }
}

impl SheetsSheet {
    /// Starts one batcher task per spreadsheet; must be called inside a Tokio runtime. The
    /// tasks end when the last clone of the sheet is dropped.
    pub fn new(config: Config, credentials: AccessTokenCredentials) -> Result<Self, ConfigError> {
        let api = Arc::new(
            api::Api::new(
                config.api_url.clone(),
                credentials,
                config.request_timeout,
                config.reads_per_minute,
                config.writes_per_minute,
            )
            .map_err(|e| ConfigError::Client(e.to_string()))?,
        );
        let config = Arc::new(config);
        let mut queues = HashMap::new();
        for table in [
            &config.delegaciones,
            &config.faculty_general,
            &config.faculty_delegaciones,
        ] {
            if queues.contains_key(&table.spreadsheet_id) {
                continue;
            }
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(batcher(
                api.clone(),
                config.clone(),
                table.spreadsheet_id.clone(),
                rx,
            ));
            queues.insert(table.spreadsheet_id.clone(), tx);
        }
        Ok(Self {
            config,
            queues: Arc::new(queues),
        })
    }

    /// From the environment and Application Default Credentials.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::new(Config::from_env()?, adc_credentials()?)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The spreadsheet and place of a group of rows.
    fn place(&self, tab: &Tab) -> Result<(&str, Place), SideEffectError> {
        fn table(t: &TableRef) -> (&str, Place) {
            (
                t.spreadsheet_id.as_str(),
                Place::Table {
                    sheet_id: t.sheet_id,
                    table_id: t.table_id.clone(),
                },
            )
        }
        match tab {
            Tab::Table(DELEGACIONES_TAB) => Ok(table(&self.config.delegaciones)),
            Tab::Table(FACULTY_TAB) => Ok(table(&self.config.faculty_general)),
            Tab::Table(FACULTY_DELEGACIONES_TAB) => Ok(table(&self.config.faculty_delegaciones)),
            Tab::Table(other) => Err(SideEffectError::Permanent(format!(
                "sheets: no table is configured for {other}"
            ))),
            Tab::Own { title, sheet_id } => Ok((
                self.config.faculty_general.spreadsheet_id.as_str(),
                Place::Own {
                    sheet_id: *sheet_id,
                    title: title.clone(),
                },
            )),
        }
    }
}

/// Collects the jobs that arrive within the batch window (and while the previous batch waited
/// for quota), then writes them as one batch.
async fn batcher(
    api: Arc<api::Api>,
    config: Arc<Config>,
    spreadsheet: String,
    mut rx: mpsc::UnboundedReceiver<Job>,
) {
    let mut batcher = batch::Batcher::new(api, config.clone(), spreadsheet);
    while let Some(first) = rx.recv().await {
        tokio::time::sleep(config.batch_window).await;
        let mut jobs = vec![first];
        while jobs.len() < config.max_batch {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        batcher.run(jobs).await;
    }
}

#[async_trait]
impl Sheet for SheetsSheet {
    async fn append(
        &self,
        submission_id: &SubmissionId,
        rows: &[SheetRows],
    ) -> Result<SheetWrite, SideEffectError> {
        let mut by_spreadsheet: HashMap<&str, Vec<(Place, SheetRows)>> = HashMap::new();
        for group in rows {
            let (spreadsheet, place) = self.place(&group.tab)?;
            by_spreadsheet
                .entry(spreadsheet)
                .or_default()
                .push((place, group.clone()));
        }
        let mut waiting = Vec::new();
        for (spreadsheet, groups) in by_spreadsheet {
            let (reply, answer) = oneshot::channel();
            let job = Job {
                submission_id: submission_id.clone(),
                groups,
                reply,
            };
            self.queues
                .get(spreadsheet)
                .and_then(|q| q.send(job).ok())
                .ok_or_else(|| SideEffectError::Retryable("sheets: batcher stopped".into()))?;
            waiting.push(answer);
        }
        let mut outcome = SheetWrite::AlreadyPresent;
        let mut retryable = None;
        for answer in waiting {
            match answer.await {
                Ok(Ok(SheetWrite::Appended)) => outcome = SheetWrite::Appended,
                Ok(Ok(SheetWrite::AlreadyPresent)) => {}
                Ok(Err(e @ SideEffectError::Permanent(_))) => return Err(e),
                Ok(Err(e)) => retryable = Some(e),
                Err(_) => {
                    retryable = Some(SideEffectError::Retryable(
                        "sheets: batcher dropped the request".into(),
                    ))
                }
            }
        }
        match retryable {
            Some(e) => Err(e),
            None => Ok(outcome),
        }
    }
}
