//! Group commit: one OS thread owns the only write connection and commits queued writes in
//! batches.
//!
//! With `synchronous=FULL` every COMMIT costs an fsync, which dominates the cost of an
//! acceptance. Instead of one transaction per request, the thread takes every job already
//! waiting (up to [`MAX_BATCH`]), runs each inside its own SAVEPOINT of ONE transaction and
//! commits once: throughput grows with concurrency while each caller still gets its answer only
//! after its writes are durable. A job that fails rolls back to its savepoint alone; a failed
//! COMMIT fails the whole batch (the caller sees `Unavailable` and re-reads before deciding).

use chrono::{DateTime, Utc};
use domain::ports::{Clock, StoreError};
use rusqlite::Connection;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// Most jobs committed by one transaction.
pub(crate) const MAX_BATCH: usize = 256;

/// A unit of work queued for the writer thread. Type-erased so acceptances and operator writes
/// share one queue (and one ordering).
trait Job: Send {
    /// Runs inside the job's savepoint; `true` when the work succeeded (savepoint released).
    fn run(&mut self, conn: &Connection, now: DateTime<Utc>) -> bool;
    /// Answers the caller once the batch's fate is known (`Err` = the batch did not commit).
    fn answer(self: Box<Self>, batch: Result<(), &str>);
}

type Work<T> = Box<dyn FnOnce(&Connection, DateTime<Utc>) -> Result<T, StoreError> + Send>;

struct TypedJob<T> {
    work: Option<Work<T>>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T: Send> Job for TypedJob<T> {
    fn run(&mut self, conn: &Connection, now: DateTime<Utc>) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        let result = catch_unwind(AssertUnwindSafe(|| work(conn, now))).unwrap_or_else(|_| {
            Err(StoreError::Permanent(
                "write job panicked; its savepoint was rolled back".into(),
            ))
        });
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn answer(self: Box<Self>, batch: Result<(), &str>) {
        let this = *self;
        let answer = match batch {
            Ok(()) => this
                .result
                .unwrap_or_else(|| Err(StoreError::Unavailable("write job was not run".into()))),
            Err(why) => Err(StoreError::Unavailable(why.to_owned())),
        };
        // The caller may have gone away (request cancelled); its writes stand regardless.
        let _ = this.reply.send(answer);
    }
}

/// Handle to the writer thread. Dropping it closes the queue; the thread finishes what was
/// queued, closes the connection and is joined.
pub(crate) struct Writer {
    queue: Option<mpsc::Sender<Box<dyn Job>>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    pub(crate) fn spawn(conn: Connection, clock: Arc<dyn Clock>) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        let thread = std::thread::Builder::new()
            .name("registro-sqlite-writer".into())
            .spawn(move || writer_loop(conn, &rx, clock.as_ref()))?;
        Ok(Self {
            queue: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues `work` and waits until its batch committed (or failed).
    ///
    /// `work` runs on the writer thread inside a savepoint; `now` is the clock reading taken at
    /// the start of the batch transaction, shared by every job of the batch.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, DateTime<Utc>) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(TypedJob {
            work: Some(Box::new(work) as Work<T>),
            result: None,
            reply,
        });
        self.queue
            .as_ref()
            .ok_or_else(stopped)?
            .send(job)
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| {
            StoreError::Unavailable(
                "database writer stopped before answering; outcome unknown".into(),
            )
        })?
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("database writer is not running".into())
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            // Returns once the queued batches are committed and the connection is closed, so a
            // store reopened right after sees everything.
            let _ = thread.join();
        }
    }
}

fn writer_loop(conn: Connection, queue: &mpsc::Receiver<Box<dyn Job>>, clock: &dyn Clock) {
    while let Ok(first) = queue.recv() {
        let mut batch = Vec::with_capacity(16);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&conn, clock, batch);
    }
}

fn run_batch(conn: &Connection, clock: &dyn Clock, mut batch: Vec<Box<dyn Job>>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        tracing::warn!(error = %e, jobs = batch.len(), "sqlite_batch_begin_failed");
        return answer_all(batch, Err(&format!("cannot begin transaction: {e}")));
    }
    // Read inside the transaction: every timestamp of the batch is the moment it holds the lock.
    let now = clock.now();
    for job in &mut batch {
        if let Err(why) = run_in_savepoint(conn, job.as_mut(), now) {
            tracing::warn!(error = %why, jobs = batch.len(), "sqlite_batch_aborted");
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            return answer_all(batch, Err(&why));
        }
    }
    match conn.execute_batch("COMMIT") {
        Ok(()) => answer_all(batch, Ok(())),
        Err(e) => {
            tracing::warn!(error = %e, jobs = batch.len(), "sqlite_batch_commit_failed");
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            answer_all(batch, Err(&format!("commit failed: {e}")));
        }
    }
}

/// Runs one job in its savepoint. `Err` means the whole transaction is no longer usable.
fn run_in_savepoint(
    conn: &Connection,
    job: &mut dyn Job,
    now: DateTime<Utc>,
) -> Result<(), String> {
    conn.execute_batch("SAVEPOINT job")
        .map_err(|e| format!("cannot open savepoint: {e}"))?;
    let ok = job.run(conn, now);
    // Some errors (I/O, full disk) make SQLite roll back the whole transaction by itself.
    if conn.is_autocommit() {
        return Err("transaction rolled back by sqlite".into());
    }
    let end = if ok {
        "RELEASE job"
    } else {
        "ROLLBACK TO job; RELEASE job"
    };
    conn.execute_batch(end)
        .map_err(|e| format!("cannot close savepoint: {e}"))
}

fn answer_all(batch: Vec<Box<dyn Job>>, outcome: Result<(), &str>) {
    for job in batch {
        job.answer(outcome);
    }
}
