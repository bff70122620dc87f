//! [`Store`] on SQLite. Each table keeps the domain document as JSON (`doc`, the same serde
//! shape the Firestore backend stores) plus a few mirrored columns for indexed queries, so
//! models evolve without migrations while operators can still filter by status and time.
//!
//! Writes go through the group-commit [`Writer`]; reads use a small pool of read-only
//! connections that WAL lets run alongside the writer on a consistent snapshot.

use crate::LocalError;
use crate::writer::Writer;
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use domain::accept;
use domain::outbox::OutboxRefusal;
use domain::ports::{
    AcceptOutcome, Acceptance, Clock, OutboxChange, PipelineStore, Store, StoreError,
    SubmissionChange, SubmissionCursor,
};
use domain::worker::WorkerRefusal;
use domain::{IdempotencyRecord, OutboxRow, Submission, SubmissionId, SubmissionStatus};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, TryLockError};
use std::time::Duration;

/// `PRAGMA user_version` of the schema this build writes.
pub const SCHEMA_VERSION: i64 = 1;

/// Read-only connections in the pool.
const READERS: usize = 4;

/// How long a connection waits for a lock held by another process before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Migrations, index = version reached - 1. Append only.
const MIGRATIONS: &[&str] = &["
    CREATE TABLE IF NOT EXISTS submissions (
        id TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS submissions_by_status ON submissions (status, created_at);
    CREATE INDEX IF NOT EXISTS submissions_by_created ON submissions (created_at);
    CREATE TABLE IF NOT EXISTS idempotency (
        id TEXT PRIMARY KEY,
        doc TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS outbox (
        id TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS outbox_by_status ON outbox (status, updated_at);
"];

const _: () = assert!(MIGRATIONS.len() as i64 == SCHEMA_VERSION);

/// The embedded [`Store`]: one SQLite file in WAL mode, every commit fsync'd, acceptances
/// group-committed by a dedicated writer thread.
pub struct SqliteStore {
    path: PathBuf,
    writer: Writer,
    readers: Arc<Readers>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path`, migrates its schema and starts the
    /// writer thread. `clock` stamps every write.
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<Self, LocalError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| LocalError::Dir {
                path: dir.to_owned(),
                source,
            })?;
        }
        let open_err = |source| LocalError::Open {
            path: path.to_owned(),
            source,
        };
        let existed = path.exists();
        let mut conn = Connection::open(path).map_err(open_err)?;
        restrict_permissions(path, existed);
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(open_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(LocalError::NoWal {
                path: path.to_owned(),
                mode,
            });
        }
        conn.execute_batch("PRAGMA synchronous=FULL;")
            .map_err(open_err)?;
        migrate(&mut conn, path)?;

        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let r = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI,
            )
            .map_err(open_err)?;
            r.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
            readers.push(Mutex::new(r));
        }
        let writer = Writer::spawn(conn, clock).map_err(LocalError::Thread)?;
        Ok(Self {
            path: path.to_owned(),
            writer,
            readers: Arc::new(Readers {
                conns: readers,
                next: AtomicUsize::new(0),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a submission with this id exists (the orphan sweeper's question).
    pub async fn submission_exists(&self, id: &SubmissionId) -> Result<bool, StoreError> {
        let id = id.as_str().to_owned();
        self.read(move |c| {
            c.prepare_cached("SELECT 1 FROM submissions WHERE id = ?1")
                .and_then(|mut s| s.exists([&id]))
                .map_err(sql_err)
        })
        .await
    }

    pub async fn count_submissions(&self) -> Result<u64, StoreError> {
        self.read(|c| {
            let n: i64 = c
                .query_row("SELECT COUNT(*) FROM submissions", [], |r| r.get(0))
                .map_err(sql_err)?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    /// One page of submissions in `(created_at, id)` order, optionally only those in
    /// `status`, after `after`.
    pub async fn list_submissions(
        &self,
        status: Option<SubmissionStatus>,
        after: Option<&SubmissionCursor>,
        limit: usize,
    ) -> Result<Vec<Submission>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let status = status.map(SubmissionStatus::as_str);
        // Before every stored time and id: the first page.
        let (after_at, after_id) = after.map_or((String::new(), String::new()), |a| {
            (ts(a.created_at), a.submission_id.as_str().to_owned())
        });
        self.read(move |c| {
            let docs: Vec<String> = c
                .prepare_cached(
                    "SELECT doc FROM submissions \
                     WHERE (?1 IS NULL OR status = ?1) \
                     AND (created_at > ?2 OR (created_at = ?2 AND id > ?3)) \
                     ORDER BY created_at, id LIMIT ?4",
                )
                .and_then(|mut s| {
                    s.query_map(params![status, after_at, after_id, limit], |r| r.get(0))?
                        .collect()
                })
                .map_err(sql_err)?;
            docs.iter().map(|d| from_doc(d)).collect()
        })
        .await
    }

    /// Writes an idempotency record as is (insert or replace). For importing records of the
    /// older system and for tests that need one in a given state; the API never calls it.
    pub async fn put_idempotency_record(
        &self,
        record_id: &str,
        record: IdempotencyRecord,
    ) -> Result<(), StoreError> {
        let record_id = record_id.to_owned();
        self.writer
            .write(move |c, _now| upsert_record(c, &record_id, &record))
            .await
    }

    /// Sets a submission's status (stamping `updated_at`); `false` when it does not exist.
    /// For tests and data repair; the worker and `registro admin` use fenced transitions.
    pub async fn set_submission_status(
        &self,
        id: &SubmissionId,
        status: SubmissionStatus,
    ) -> Result<bool, StoreError> {
        let id = id.clone();
        self.writer
            .write(move |c, now| {
                let Some(mut s) = read_submission(c, &id)? else {
                    return Ok(false);
                };
                s.status = status;
                s.updated_at = now;
                c.prepare_cached(
                    "UPDATE submissions SET status = ?2, updated_at = ?3, doc = ?4 WHERE id = ?1",
                )
                .and_then(|mut st| {
                    st.execute(params![id.as_str(), status.as_str(), ts(now), to_doc(&s)?])
                })
                .map_err(sql_err)?;
                Ok(true)
            })
            .await
    }

    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let readers = Arc::clone(&self.readers);
        tokio::task::spawn_blocking(move || readers.with(f))
            .await
            .map_err(|e| {
                if e.is_panic() {
                    StoreError::Permanent("database read panicked".into())
                } else {
                    StoreError::Unavailable("database read was cancelled".into())
                }
            })?
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn idempotency_record(
        &self,
        record_id: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let record_id = record_id.to_owned();
        self.read(move |c| read_record(c, &record_id)).await
    }

    async fn submission(&self, id: &SubmissionId) -> Result<Option<Submission>, StoreError> {
        let id = id.clone();
        self.read(move |c| read_submission(c, &id)).await
    }

    async fn outbox_row(&self, id: &SubmissionId) -> Result<Option<OutboxRow>, StoreError> {
        let id = id.clone();
        self.read(move |c| read_outbox(c, &id)).await
    }

    async fn accept(&self, acceptance: Acceptance) -> Result<AcceptOutcome, StoreError> {
        self.writer
            .write(move |c, now| accept_in_transaction(c, &acceptance, now))
            .await
    }
}

/// The acceptance transaction of DESIGN.md §4, run inside the writer's savepoint: the reads,
/// then the domain's plan, then its writes.
fn accept_in_transaction(
    c: &Connection,
    a: &Acceptance,
    now: DateTime<Utc>,
) -> Result<AcceptOutcome, StoreError> {
    let record = read_record(c, &a.record_id)?;
    let referenced = match accept::referenced_submission(record.as_ref()) {
        Some(id) => read_status(c, id)?,
        None => None,
    };
    let w = match accept::plan(a, record.as_ref(), referenced, now) {
        Ok(w) => w,
        Err(answer) => return Ok(AcceptOutcome::NotWritten(answer)),
    };
    let s = &w.submission;
    c.prepare_cached(
        "INSERT INTO submissions (id, type, status, created_at, updated_at, doc) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut st| {
        st.execute(params![
            s.submission_id.as_str(),
            s.submission_type.as_str(),
            s.status.as_str(),
            ts(s.created_at),
            ts(s.updated_at),
            to_doc(s)?,
        ])
    })
    .map_err(sql_err)?;
    upsert_record(c, &w.record_id, &w.record)?;
    let row = &w.outbox;
    c.prepare_cached("INSERT INTO outbox (id, status, updated_at, doc) VALUES (?1, ?2, ?3, ?4)")
        .and_then(|mut st| {
            st.execute(params![
                row.submission_id.as_str(),
                row.status.as_str(),
                ts(row.updated_at),
                to_doc(row)?,
            ])
        })
        .map_err(sql_err)?;
    Ok(w.outcome())
}

fn read_record(c: &Connection, record_id: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
    let doc: Option<String> = c
        .prepare_cached("SELECT doc FROM idempotency WHERE id = ?1")
        .and_then(|mut s| s.query_row([record_id], |r| r.get(0)).optional())
        .map_err(sql_err)?;
    doc.as_deref().map(from_doc).transpose()
}

fn upsert_record(
    c: &Connection,
    record_id: &str,
    record: &IdempotencyRecord,
) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO idempotency (id, doc) VALUES (?1, ?2) \
         ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
    )
    .and_then(|mut s| s.execute(params![record_id, to_doc(record)?]))
    .map_err(sql_err)?;
    Ok(())
}

fn read_submission(c: &Connection, id: &SubmissionId) -> Result<Option<Submission>, StoreError> {
    let doc: Option<String> = c
        .prepare_cached("SELECT doc FROM submissions WHERE id = ?1")
        .and_then(|mut s| s.query_row([id.as_str()], |r| r.get(0)).optional())
        .map_err(sql_err)?;
    doc.as_deref().map(from_doc).transpose()
}

fn read_status(c: &Connection, id: &SubmissionId) -> Result<Option<SubmissionStatus>, StoreError> {
    let status: Option<String> = c
        .prepare_cached("SELECT status FROM submissions WHERE id = ?1")
        .and_then(|mut s| s.query_row([id.as_str()], |r| r.get(0)).optional())
        .map_err(sql_err)?;
    status
        .map(|s| {
            SubmissionStatus::parse(&s)
                .ok_or_else(|| StoreError::Permanent(format!("unknown submission status {s:?}")))
        })
        .transpose()
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), LocalError> {
    let open_err = |source| LocalError::Open {
        path: path.to_owned(),
        source,
    };
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(open_err)?;
    let found: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(open_err)?;
    if found > SCHEMA_VERSION {
        return Err(LocalError::SchemaTooNew {
            path: path.to_owned(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i64::try_from(i).unwrap_or(i64::MAX) + 1;
        if version > found {
            tx.execute_batch(sql).map_err(open_err)?;
        }
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(open_err)?;
    tx.commit().map_err(open_err)
}

/// The database holds personal data: keep it readable by its owner only (SQLite gives the
/// `-wal`/`-shm` files the permissions of the main file).
fn restrict_permissions(path: &Path, existed: bool) {
    #[cfg(unix)]
    if !existed {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    #[cfg(not(unix))]
    let _ = (path, existed);
}

/// The pool of read-only connections. A free one is taken if any; otherwise callers queue on
/// one picked round-robin.
struct Readers {
    conns: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

impl Readers {
    fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        for conn in &self.conns {
            match conn.try_lock() {
                Ok(guard) => return f(&guard),
                Err(TryLockError::Poisoned(p)) => return f(&p.into_inner()),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len();
        let guard = self.conns[i].lock().unwrap_or_else(|p| p.into_inner());
        f(&guard)
    }
}

/// Mirrored timestamp columns: fixed-width RFC 3339 in UTC, so text order is time order.
fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn to_doc<T: serde::Serialize>(value: &T) -> rusqlite::Result<String> {
    serde_json::to_string(value).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

fn from_doc<T: serde::de::DeserializeOwned>(doc: &str) -> Result<T, StoreError> {
    serde_json::from_str(doc).map_err(|e| StoreError::Permanent(format!("corrupt document: {e}")))
}

/// Contention and I/O trouble are worth retrying; everything else (constraints, corruption,
/// schema mismatch, misuse) will fail again.
fn sql_err(e: rusqlite::Error) -> StoreError {
    let retryable = match &e {
        rusqlite::Error::SqliteFailure(f, _) => matches!(
            f.code,
            ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::SystemIoFailure
                | ErrorCode::DiskFull
                | ErrorCode::CannotOpen
                | ErrorCode::OutOfMemory
                | ErrorCode::OperationInterrupted
                | ErrorCode::FileLockingProtocolFailed
        ),
        _ => false,
    };
    if retryable {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Permanent(e.to_string())
    }
}

/// Candidate rows read per sweep before filtering with the domain's `is_due` (rows backing off
/// sit among due ones; reading more than `limit` keeps them from starving the due rows).
const SWEEP_CANDIDATES: i64 = 1000;

#[async_trait]
impl PipelineStore for SqliteStore {
    async fn change_submission(
        &self,
        id: &SubmissionId,
        change: SubmissionChange,
    ) -> Result<Result<Submission, WorkerRefusal>, StoreError> {
        let id = id.clone();
        self.writer
            .write(move |c, now| {
                let current = read_submission(c, &id)?;
                match change(current.as_ref(), now) {
                    Ok(next) => {
                        write_submission(c, &next)?;
                        Ok(Ok(next))
                    }
                    Err(refusal) => Ok(Err(refusal)),
                }
            })
            .await
    }

    async fn change_outbox(
        &self,
        id: &SubmissionId,
        change: OutboxChange,
    ) -> Result<Result<OutboxRow, OutboxRefusal>, StoreError> {
        let id = id.clone();
        self.writer
            .write(move |c, now| {
                let current = read_outbox(c, &id)?;
                match change(current.as_ref(), now) {
                    Ok(next) => {
                        write_outbox(c, &next)?;
                        Ok(Ok(next))
                    }
                    Err(refusal) => Ok(Err(refusal)),
                }
            })
            .await
    }

    async fn due_outbox(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        self.read(move |c| {
            let docs: Vec<(String, String)> = c
                .prepare_cached(
                    "SELECT id, doc FROM outbox WHERE status IN ('pending', 'publishing') \
                     ORDER BY updated_at, id LIMIT ?1",
                )
                .and_then(|mut s| {
                    s.query_map([SWEEP_CANDIDATES], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect()
                })
                .map_err(sql_err)?;
            let mut due = Vec::new();
            for (id, d) in &docs {
                // One unreadable row must not stop the sweep for every other row.
                let Ok(row) = from_doc::<OutboxRow>(d) else {
                    tracing::error!(submission_id = %id, "outbox_row_unreadable");
                    continue;
                };
                if domain::outbox::is_due(&row, now) {
                    due.push(row);
                    if due.len() >= limit {
                        break;
                    }
                }
            }
            Ok(due)
        })
        .await
    }

    async fn stuck_submissions(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Submission>, StoreError> {
        // A stuck row was last written at least STUCK_AFTER ago (a processing row's lease
        // expiry is never before its last write), so the index narrows the scan soundly.
        let cutoff = ts(now - domain::worker::STUCK_AFTER);
        self.read(move |c| {
            let docs: Vec<(String, String)> = c
                .prepare_cached(
                    "SELECT id, doc FROM submissions WHERE status IN ('pending', 'processing') \
                     AND updated_at <= ?1 ORDER BY updated_at, id LIMIT ?2",
                )
                .and_then(|mut s| {
                    s.query_map(params![cutoff, SWEEP_CANDIDATES], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?
                    .collect()
                })
                .map_err(sql_err)?;
            let mut stuck = Vec::new();
            for (id, d) in &docs {
                let Ok(s) = from_doc::<Submission>(d) else {
                    tracing::error!(submission_id = %id, "submission_unreadable");
                    continue;
                };
                if domain::worker::is_stuck(&s, now) {
                    stuck.push(s);
                    if stuck.len() >= limit {
                        break;
                    }
                }
            }
            Ok(stuck)
        })
        .await
    }

    async fn list_submissions(
        &self,
        status: Option<SubmissionStatus>,
        after: Option<&SubmissionCursor>,
        limit: usize,
    ) -> Result<Vec<Submission>, StoreError> {
        SqliteStore::list_submissions(self, status, after, limit).await
    }
}

fn write_submission(c: &Connection, s: &Submission) -> Result<(), StoreError> {
    let n = c
        .prepare_cached(
            "UPDATE submissions SET status = ?2, updated_at = ?3, doc = ?4 WHERE id = ?1",
        )
        .and_then(|mut st| {
            st.execute(params![
                s.submission_id.as_str(),
                s.status.as_str(),
                ts(s.updated_at),
                to_doc(s)?
            ])
        })
        .map_err(sql_err)?;
    if n == 1 {
        Ok(())
    } else {
        Err(StoreError::Permanent(
            "submission to update does not exist".into(),
        ))
    }
}

fn read_outbox(c: &Connection, id: &SubmissionId) -> Result<Option<OutboxRow>, StoreError> {
    let doc: Option<String> = c
        .prepare_cached("SELECT doc FROM outbox WHERE id = ?1")
        .and_then(|mut s| s.query_row([id.as_str()], |r| r.get(0)).optional())
        .map_err(sql_err)?;
    doc.as_deref().map(from_doc).transpose()
}

fn write_outbox(c: &Connection, row: &OutboxRow) -> Result<(), StoreError> {
    // An upsert: the reconciler may recreate a row that no longer exists.
    c.prepare_cached(
        "INSERT INTO outbox (id, status, updated_at, doc) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, \
         updated_at = excluded.updated_at, doc = excluded.doc",
    )
    .and_then(|mut st| {
        st.execute(params![
            row.submission_id.as_str(),
            row.status.as_str(),
            ts(row.updated_at),
            to_doc(row)?
        ])
    })
    .map_err(sql_err)?;
    Ok(())
}
