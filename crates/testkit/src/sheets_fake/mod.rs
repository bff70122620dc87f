//! A fake of the Google Sheets REST API v4 on 127.0.0.1:0, for the `sheets` adapter's tests and
//! the end-to-end tests. Unlike a canned-response mock it keeps REAL sheet state (spreadsheets,
//! tabs, cell grids and tables), so a test can check what landed, edit the sheet by hand the way
//! the staff do, and prove the adapter's idempotency survives it. It mimics the parts of the API
//! the adapter relies on: the OAuth2 token endpoint of an `authorized_user` credentials file,
//! bearer-token auth (401 `UNAUTHENTICATED`), `GET /v4/spreadsheets/{id}`,
//! `values:batchGet` with the API's trimming of empty cells, an ATOMIC `:batchUpdate`
//! (`addSheet`, `appendCells`, `updateCells`) that rejects unknown fields like the real proto
//! JSON parser, 404/403 for unknown or unshared spreadsheets, separate per-minute read and write
//! quotas (429 `RESOURCE_EXHAUSTED`), and faults injected on demand. Errors use the google.rpc
//! JSON shape. Stops when dropped.
//!
//! Simplifications: `fields` masks are not validated (a mask without `userEnteredValue` writes
//! no values), `majorDimension=COLUMNS` is refused, tables span whole rows, and the nominal grid
//! size is max(1000 × 26, the data).
//!
//! Where things are: this file holds the public types ([`Fault`], [`FakeConfig`], [`Stats`],
//! [`SheetsFake`]), starting and stopping, the control (faults, spreadsheets, tabs, tables) and
//! inspection methods, and the shared state; `grid` the spreadsheet/tab/table model, the staff
//! edits and the API's trimming of empty cells; `http` the axum routes, the token endpoint,
//! auth, the quota windows, fault handling, query validation and the google.rpc error bodies;
//! `batch_update` the validation and atomic application of `:batchUpdate` request bodies;
//! `layout` the spreadsheets `registro` is deployed against ([`SheetsFake::add_registro_layout`]).

mod batch_update;
mod grid;
mod http;
mod layout;
#[cfg(test)]
mod tests;

pub use layout::{
    DELEGACIONES_SHEET, DELEGACIONES_SPREADSHEET, DELEGACIONES_TABLE, FACULTY_DELEGACIONES_SHEET,
    FACULTY_DELEGACIONES_TABLE, FACULTY_SHEET, FACULTY_SPREADSHEET, FACULTY_TABLE,
};

use grid::{Book, Tab, Table, trim_grid, trim_row};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A failure the next READ or WRITE (after auth and quota pass) answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 429 `RESOURCE_EXHAUSTED` (with `retry-after` if configured), nothing applied.
    Status429,
    /// 500 `INTERNAL`, nothing applied.
    Status500,
    /// 503 `UNAVAILABLE`, nothing applied.
    Status503,
    /// Sleeps [`FakeConfig::timeout_sleep`] (longer than the client timeout), then 500; nothing
    /// applied.
    Timeout,
    /// A write is applied fully, then answered 500 (the response is "lost"). A read: 500.
    LostResponse,
}

#[derive(Debug, Clone)]
pub struct FakeConfig {
    pub access_token: String,
    pub refresh_token: String,
    pub reads_per_minute: usize,
    pub writes_per_minute: usize,
    /// Length of the sliding quota windows (60 s, as the API; shorter only in tests).
    pub quota_window: Duration,
    /// How long a [`Fault::Timeout`] sleeps.
    pub timeout_sleep: Duration,
    /// `retry-after` seconds on 429 answers, if any.
    pub retry_after_secs: Option<u64>,
    /// Sleep before applying and answering every write that passed auth, quota and faults.
    /// When set, every API request must carry `x-goog-user-project: <this>` (what Google asks
    /// of user credentials) or gets 403 `SERVICE_DISABLED`, and [`SheetsFake::authorized_user_json`]
    /// names it as the credentials' `quota_project_id`.
    pub user_project: Option<String>,
    pub processing_delay: Duration,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            access_token: "ya29.fake-sheets-token".into(),
            refresh_token: "1//fake-refresh".into(),
            reads_per_minute: 60,
            writes_per_minute: 60,
            quota_window: Duration::from_secs(60),
            timeout_sleep: Duration::from_secs(5),
            retry_after_secs: None,
            processing_delay: Duration::ZERO,
            user_project: None,
        }
    }
}

/// Counters. `reads`/`writes` count every authenticated request of that kind (quota-rejected
/// and faulted ones included).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub reads: u64,
    pub writes: u64,
    /// Refused by a quota window (injected [`Fault::Status429`]s are `faults_served`).
    pub rate_limited: u64,
    pub faults_served: u64,
    /// Every `POST /token`, granted or not.
    pub token_requests: u64,
    /// `batchUpdate`s applied (a [`Fault::LostResponse`] one included).
    pub batch_updates_applied: u64,
}

#[derive(Default)]
struct Inner {
    books: HashMap<String, Book>,
    read_faults: VecDeque<Fault>,
    write_faults: VecDeque<Fault>,
    read_window: VecDeque<Instant>,
    write_window: VecDeque<Instant>,
    stats: Stats,
    write_times: Vec<Instant>,
}

struct Shared {
    config: FakeConfig,
    inner: Mutex<Inner>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct SheetsFake {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SheetsFake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SheetsFake {
    pub async fn start() -> Self {
        Self::start_with(FakeConfig::default()).await
    }

    pub async fn start_with(config: FakeConfig) -> Self {
        let shared = Arc::new(Shared {
            config,
            inner: Mutex::new(Inner::default()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the Sheets fake");
        let addr = listener.local_addr().expect("fake address");
        let app = http::router(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, shared, task }
    }

    /// Base URL: the API root (`{url}/v4/...`) and the token endpoint (`{url}/token`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn config(&self) -> &FakeConfig {
        &self.shared.config
    }

    /// A google `authorized_user` credentials file whose `token_uri` is this fake.
    pub fn authorized_user_json(&self) -> String {
        let mut v = json!({
            "type": "authorized_user",
            "client_id": "fake-client.apps.googleusercontent.com",
            "client_secret": "fake-secret",
            "refresh_token": self.shared.config.refresh_token,
            "token_uri": format!("{}/token", self.url()),
        });
        if let Some(p) = &self.shared.config.user_project {
            v["quota_project_id"] = json!(p);
        }
        v.to_string()
    }

    /// Queue faults for the coming writes (`batchUpdate`), first in, first out.
    pub fn inject_write(&self, faults: impl IntoIterator<Item = Fault>) {
        self.lock().write_faults.extend(faults);
    }

    /// Queue faults for the coming reads (spreadsheet GET, `batchGet`), first in, first out.
    pub fn inject_read(&self, faults: impl IntoIterator<Item = Fault>) {
        self.lock().read_faults.extend(faults);
    }

    pub fn stats(&self) -> Stats {
        self.lock().stats.clone()
    }

    /// When each applied `batchUpdate` was applied.
    pub fn write_times(&self) -> Vec<Instant> {
        self.lock().write_times.clone()
    }

    /// A new spreadsheet without tabs, shared with the caller.
    pub fn add_spreadsheet(&self, id: &str) {
        let book = Book {
            shared: true,
            tabs: vec![],
        };
        self.lock().books.insert(id.to_string(), book);
    }

    /// Not shared: every request on it answers 403.
    pub fn set_shared(&self, id: &str, shared: bool) {
        self.lock()
            .books
            .get_mut(id)
            .expect("no such spreadsheet")
            .shared = shared;
    }

    /// An empty tab at the end. Panics if the id or title is taken.
    pub fn add_sheet(&self, spreadsheet: &str, sheet_id: i32, title: &str) {
        let mut inner = self.lock();
        let book = inner
            .books
            .get_mut(spreadsheet)
            .expect("no such spreadsheet");
        if let Err(e) = book.add_tab(sheet_id, title) {
            panic!("add_sheet: {e}");
        }
    }

    /// Writes `header` after the last non-empty row of the tab (row 0 of an empty tab) and makes
    /// a table covering just that row.
    pub fn add_table(&self, spreadsheet: &str, sheet_id: i32, table_id: &str, header: &[&str]) {
        self.with_tab(spreadsheet, sheet_id, |tab| {
            let at = tab.used_rows();
            tab.set_row(at, 0, header.iter().map(|h| json!(h)).collect());
            tab.tables.push(Table {
                id: table_id.to_string(),
                start: at,
                end: at + 1,
                col: 0,
            });
        });
    }

    pub fn sheets(&self, spreadsheet: &str) -> Vec<(i32, String)> {
        let inner = self.lock();
        let book = inner.books.get(spreadsheet).expect("no such spreadsheet");
        book.tabs
            .iter()
            .map(|t| (t.sheet_id, t.title.clone()))
            .collect()
    }

    /// The tab's cells, trimmed as `batchGet` does (empty cells in the middle are `""`).
    pub fn rows(&self, spreadsheet: &str, sheet_id: i32) -> Vec<Vec<Value>> {
        self.with_tab(spreadsheet, sheet_id, |tab| trim_grid(&tab.grid, false))
    }

    /// The rows of a table, header included, from the table's first column, each trimmed as
    /// `batchGet` does.
    pub fn table_rows(&self, spreadsheet: &str, table_id: &str) -> Vec<Vec<Value>> {
        self.with_table(spreadsheet, table_id, |tab, t| {
            let t = &tab.tables[t];
            let cells = |r: usize| tab.grid.get(r).and_then(|row| row.get(t.col..));
            (t.start..t.end)
                .map(|r| trim_row(cells(r).unwrap_or_default(), false))
                .collect()
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.shared.lock()
    }

    fn with_tab<R>(&self, spreadsheet: &str, sheet_id: i32, f: impl FnOnce(&mut Tab) -> R) -> R {
        let mut inner = self.lock();
        let book = inner
            .books
            .get_mut(spreadsheet)
            .expect("no such spreadsheet");
        f(book.tab_mut(sheet_id).expect("no such sheet"))
    }

    fn with_table<R>(
        &self,
        spreadsheet: &str,
        id: &str,
        f: impl FnOnce(&mut Tab, usize) -> R,
    ) -> R {
        let mut inner = self.lock();
        let book = inner
            .books
            .get_mut(spreadsheet)
            .expect("no such spreadsheet");
        for tab in &mut book.tabs {
            if let Some(t) = tab.tables.iter().position(|t| t.id == id) {
                return f(tab, t);
            }
        }
        panic!("no table {id}");
    }
}
