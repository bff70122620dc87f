//! What one batch of submissions does to one spreadsheet: read what is there, write what is
//! missing in ONE `batchUpdate`, and answer each submission only once its rows are in.
//!
//! - **Presence** is checked by content, never by position: a submission's rows are in a table
//!   when any cell of that tab equals its id (every row we write carries it), and its own tab
//!   is there when a tab has its sheet id or its title. Staff may sort, filter, insert or
//!   delete rows and add or move columns; none of that hides an id or fakes one (ids are 20
//!   random characters).
//! - **Atomicity**: a faculty submission's tab, general row and delegate rows go in the same
//!   `batchUpdate` as everything else of the batch, and Sheets applies a `batchUpdate` whole or
//!   not at all, so a failure leaves no orphan tab and no half registration.
//! - **Lost responses**: after a retryable failure (429, 5xx, a timeout after the write was
//!   applied) the next attempt reads again and writes only what is still missing.
//! - **One bad submission fails alone**: a 400 for a batch of several is retried one submission
//!   at a time, so only the submission the API refuses is answered `Permanent`.

use crate::api::{Api, ApiError};
use crate::cells::{append_cells, sheet_request};
use crate::config::Config;
use domain::SubmissionId;
use domain::ports::{SheetWrite, SideEffectError};
use domain::sheets::SheetRows;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use tokio::sync::oneshot;
use tokio::time::Instant;

/// One `append` call waiting for its answer.
pub(crate) struct Job {
    pub(crate) submission_id: SubmissionId,
    /// Each group resolved to where it goes.
    pub(crate) groups: Vec<(Place, SheetRows)>,
    pub(crate) reply: oneshot::Sender<Result<SheetWrite, SideEffectError>>,
}

/// Where a group of rows goes in the spreadsheet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Place {
    Table { sheet_id: i32, table_id: String },
    Own { sheet_id: i32, title: String },
}

/// The submissions of one batch, deduplicated: calls for the same id share one outcome.
struct Entry {
    groups: Vec<(Place, SheetRows)>,
    replies: Vec<oneshot::Sender<Result<SheetWrite, SideEffectError>>>,
    wrote: bool,
}

/// What the spreadsheet holds, as far as presence goes.
struct Snapshot {
    /// Every string cell, per tab (by sheet id).
    cells: HashMap<i32, HashSet<String>>,
    sheet_ids: HashSet<i32>,
    /// Titles, lowercased (Sheets refuses two titles that differ only in case).
    titles: HashSet<String>,
}

impl Snapshot {
    fn has(&self, place: &Place, id: &str) -> bool {
        match place {
            Place::Table { sheet_id, .. } => {
                self.cells.get(sheet_id).is_some_and(|c| c.contains(id))
            }
            Place::Own { sheet_id, title } => {
                self.sheet_ids.contains(sheet_id) || self.titles.contains(&title.to_lowercase())
            }
        }
    }
}

fn cell_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_owned()),
        _ => None,
    }
}

/// The batcher of one spreadsheet: batches run one after the other, so the tab list it keeps
/// between them is only ever changed by its own writes or by staff. It is read again whenever
/// a write's outcome is unknown, and when a range no longer parses (a renamed tab), so a
/// steady stream of batches costs one read and one write each.
pub(crate) struct Batcher {
    pub(crate) api: std::sync::Arc<Api>,
    pub(crate) config: std::sync::Arc<Config>,
    pub(crate) spreadsheet: String,
    tabs: Option<Vec<(i32, String)>>,
}

type Outcome = Result<SheetWrite, SideEffectError>;

impl Batcher {
    pub(crate) fn new(
        api: std::sync::Arc<Api>,
        config: std::sync::Arc<Config>,
        spreadsheet: String,
    ) -> Self {
        Self {
            api,
            config,
            spreadsheet,
            tabs: None,
        }
    }

    /// Processes one batch and answers every job.
    pub(crate) async fn run(&mut self, jobs: Vec<Job>) {
        let mut entries: Vec<(SubmissionId, Entry)> = Vec::new();
        for job in jobs {
            match entries.iter_mut().find(|(id, _)| *id == job.submission_id) {
                Some((_, e)) => e.replies.push(job.reply),
                None => entries.push((
                    job.submission_id,
                    Entry {
                        groups: job.groups,
                        replies: vec![job.reply],
                        wrote: false,
                    },
                )),
            }
        }
        let outcomes = self.write_entries(&mut entries).await;
        for ((_, entry), outcome) in entries.into_iter().zip(outcomes) {
            // Calls for one submission share one write: the first is told it appended, the
            // others that the rows are there.
            for (i, reply) in entry.replies.into_iter().enumerate() {
                let outcome = match &outcome {
                    Ok(SheetWrite::Appended) if i > 0 => Ok(SheetWrite::AlreadyPresent),
                    other => other.clone(),
                };
                let _ = reply.send(outcome);
            }
        }
    }

    /// Reads the tab list (unless known) and the cells of the tables the entries write to.
    /// Also says whether the tab list was read just now.
    async fn snapshot(&mut self, tables: &HashSet<i32>) -> Result<(Snapshot, bool), ApiError> {
        let mut wanted: Vec<i32> = tables.iter().copied().collect();
        wanted.sort_unstable();
        let mut fresh = false;
        loop {
            let tabs = match &self.tabs {
                Some(t) => t.clone(),
                None => {
                    let t = self.api.tabs(&self.spreadsheet).await?;
                    self.tabs = Some(t.clone());
                    fresh = true;
                    t
                }
            };
            let titles_by_id: HashMap<i32, String> = tabs.iter().cloned().collect();
            let mut titles = Vec::with_capacity(wanted.len());
            for sheet_id in &wanted {
                match titles_by_id.get(sheet_id) {
                    Some(t) => titles.push(t.clone()),
                    None if !fresh => break,
                    None => {
                        return Err(ApiError::Permanent(format!(
                            "sheets: the spreadsheet has no tab with sheet id {sheet_id} (check \
                             the *_SHEET_ID settings)"
                        )));
                    }
                }
            }
            if titles.len() < wanted.len() {
                self.tabs = None;
                continue;
            }
            let values = match self.api.values(&self.spreadsheet, &titles).await {
                Ok(v) => v,
                // A tab renamed since the list was read: read the list again, once.
                Err(ApiError::BadRequest(_)) if !fresh => {
                    self.tabs = None;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let cells = wanted
                .iter()
                .zip(values)
                .map(|(sheet_id, rows)| {
                    let set = rows.iter().flatten().filter_map(cell_string).collect();
                    (*sheet_id, set)
                })
                .collect();
            let snap = Snapshot {
                cells,
                sheet_ids: tabs.iter().map(|(id, _)| *id).collect(),
                titles: tabs.iter().map(|(_, t)| t.to_lowercase()).collect(),
            };
            return Ok((snap, fresh));
        }
    }

    /// Writes what is missing of every entry; on a 400 for several entries, retries them one
    /// by one. Returns one outcome per entry, in order.
    async fn write_entries(&mut self, entries: &mut [(SubmissionId, Entry)]) -> Vec<Outcome> {
        match self.attempt_all(entries).await {
            Ok(()) => entries
                .iter()
                .map(|(_, e)| {
                    Ok(if e.wrote {
                        SheetWrite::Appended
                    } else {
                        SheetWrite::AlreadyPresent
                    })
                })
                .collect(),
            Err(ApiError::BadRequest(m)) if entries.len() > 1 => {
                tracing::warn!(
                    submissions = entries.len(),
                    error = %m,
                    "sheets_batch_refused_retrying_one_by_one"
                );
                let mut out = Vec::with_capacity(entries.len());
                for one in entries.chunks_mut(1) {
                    out.extend(Box::pin(self.write_entries(one)).await);
                }
                out
            }
            Err(e) => {
                let error = match e {
                    ApiError::Retry { message, .. } => SideEffectError::Retryable(message),
                    ApiError::BadRequest(m) | ApiError::Permanent(m) => {
                        SideEffectError::Permanent(m)
                    }
                };
                vec![Err(error); entries.len()]
            }
        }
    }

    /// Check → write → (on a retryable failure) wait and check again, within the budget.
    async fn attempt_all(&mut self, entries: &mut [(SubmissionId, Entry)]) -> Result<(), ApiError> {
        let config = self.config.clone();
        let deadline = Instant::now() + config.retry_budget;
        let mut backoff = config.initial_backoff;
        let tables: HashSet<i32> = entries
            .iter()
            .flat_map(|(_, e)| e.groups.iter())
            .filter_map(|(p, _)| match p {
                Place::Table { sheet_id, .. } => Some(*sheet_id),
                Place::Own { .. } => None,
            })
            .collect();
        let mut attempt = 1;
        loop {
            let error = match self.snapshot(&tables).await {
                Err(e) => e,
                Ok((snap, fresh)) => {
                    let requests = missing_requests(&snap, entries);
                    if requests.is_empty() {
                        return Ok(());
                    }
                    let writers: Vec<usize> = requests.iter().map(|(i, _)| *i).collect();
                    let created = created_tabs(&requests);
                    let body: Vec<Value> = requests.into_iter().flat_map(|(_, r)| r).collect();
                    let count = body.len();
                    match self.api.batch_update(&self.spreadsheet, body).await {
                        Ok(()) => {
                            for i in &writers {
                                entries[*i].1.wrote = true;
                            }
                            if let Some(tabs) = &mut self.tabs {
                                tabs.extend(created);
                            }
                            tracing::info!(
                                submissions = writers.len(),
                                requests = count,
                                attempt,
                                "sheets_batch_written"
                            );
                            return Ok(());
                        }
                        // A tab list kept from an earlier batch may miss a tab another
                        // worker instance created (a redelivery that went elsewhere first):
                        // the `addSheet` is then refused. Read the list again before blaming
                        // the request.
                        Err(ApiError::BadRequest(_)) if !fresh && !created.is_empty() => {
                            tracing::info!("sheets_tab_list_refreshed_after_400");
                            self.tabs = None;
                            continue;
                        }
                        Err(e) => {
                            // The write may have been applied (a lost response): an entry
                            // found complete on the next check was written by this batch, and
                            // if it added tabs, the tab list must be read again.
                            if matches!(e, ApiError::Retry { .. }) {
                                if !created.is_empty() {
                                    self.tabs = None;
                                }
                                for i in &writers {
                                    entries[*i].1.wrote = true;
                                }
                            }
                            e
                        }
                    }
                }
            };
            let ApiError::Retry { message, after } = error else {
                return Err(error);
            };
            let delay = match after {
                Some(d) => {
                    self.api.writes.hold(d).await;
                    self.api.reads.hold(d).await;
                    d
                }
                None => {
                    let d = backoff;
                    backoff = backoff.saturating_mul(2);
                    d
                }
            };
            if attempt >= config.max_attempts || Instant::now() + delay > deadline {
                tracing::warn!(attempt, error = %message, "sheets_giving_up_for_now");
                return Err(ApiError::Retry { message, after });
            }
            tracing::info!(attempt, error = %message, ?delay, "sheets_retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
}

/// The own tabs a set of requests creates (`addSheet`), as `(sheetId, title)`.
fn created_tabs(requests: &[(usize, Vec<Value>)]) -> Vec<(i32, String)> {
    requests
        .iter()
        .flat_map(|(_, r)| r)
        .filter_map(|r| {
            let p = r.get("addSheet")?.get("properties")?;
            let id = i32::try_from(p.get("sheetId")?.as_i64()?).ok()?;
            Some((id, p.get("title")?.as_str()?.to_owned()))
        })
        .collect()
}

/// The requests that add what `snap` lacks, per entry index. An entry with nothing missing
/// has no requests. In the order of the groups: table rows (`appendCells`), an own tab
/// (`addSheet` + `updateCells`).
fn missing_requests(
    snap: &Snapshot,
    entries: &[(SubmissionId, Entry)],
) -> Vec<(usize, Vec<Value>)> {
    let mut out = Vec::new();
    for (i, (id, entry)) in entries.iter().enumerate() {
        let mut requests = Vec::new();
        for (place, group) in &entry.groups {
            if group.rows.is_empty() || snap.has(place, id.as_str()) {
                continue;
            }
            match place {
                Place::Own { sheet_id, title } => {
                    requests.extend(sheet_request(*sheet_id, title, &group.rows));
                }
                Place::Table { sheet_id, table_id } => {
                    requests.push(append_cells(*sheet_id, table_id, &group.rows));
                }
            }
        }
        if !requests.is_empty() {
            out.push((i, requests));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::sheets::{Cell, Tab};

    fn id(n: u32) -> SubmissionId {
        SubmissionId::parse(&format!("Sub{n:0>17}")).unwrap()
    }

    fn table(sheet_id: i32) -> Place {
        Place::Table {
            sheet_id,
            table_id: format!("t{sheet_id}"),
        }
    }

    fn entry(groups: Vec<(Place, SheetRows)>) -> Entry {
        Entry {
            groups,
            replies: Vec::new(),
            wrote: false,
        }
    }

    fn rows(id: &SubmissionId) -> SheetRows {
        SheetRows {
            tab: Tab::Table("delegaciones"),
            rows: vec![vec![Cell::Text("x".into()), Cell::Text(id.to_string())]],
        }
    }

    #[test]
    fn only_what_is_missing_is_written() {
        let (a, b) = (id(1), id(2));
        let own = Place::Own {
            sheet_id: 77,
            title: "Colegio_x".into(),
        };
        let own_rows = SheetRows {
            tab: Tab::Own {
                title: "Colegio_x".into(),
                sheet_id: 77,
            },
            rows: vec![vec![Cell::Text("Folio:".into())]],
        };
        let entries = vec![
            (a.clone(), entry(vec![(table(5), rows(&a))])),
            (
                b.clone(),
                entry(vec![(table(5), rows(&b)), (own, own_rows)]),
            ),
        ];
        let snap = Snapshot {
            cells: HashMap::from([(5, HashSet::from([a.to_string(), "x".into()]))]),
            sheet_ids: HashSet::from([0, 5]),
            titles: HashSet::from(["delegaciones".into()]),
        };
        let requests = missing_requests(&snap, &entries);
        assert_eq!(requests.len(), 1, "a is already there");
        assert_eq!(requests[0].0, 1);
        let kinds: Vec<&str> = requests[0]
            .1
            .iter()
            .map(|r| r.as_object().unwrap().keys().next().unwrap().as_str())
            .collect();
        assert_eq!(kinds, ["appendCells", "addSheet", "updateCells"]);

        let snap = Snapshot {
            titles: HashSet::from(["colegio_x".into()]),
            cells: HashMap::from([(5, HashSet::from([a.to_string(), b.to_string()]))]),
            sheet_ids: HashSet::new(),
        };
        assert!(
            missing_requests(&snap, &entries).is_empty(),
            "an own tab is found by title too, whatever its case"
        );
    }
}
