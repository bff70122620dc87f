//! The embedded backend: every storage port on one machine, so `registro serve` runs the whole
//! pipeline with nothing but a data directory.
//!
//! It is not a toy: [`SqliteStore`] executes the same domain decisions inside real transactions
//! (WAL, `synchronous=FULL`, one fsync per group of acceptances) and passes the same contract
//! suite as the cloud backend; [`FsBlobs`] writes receipts create-only, verified and fsync'd.
//! Refusing this backend in production is the runtime's job, not this crate's.
//!
//! Layout of a data directory (`DATA_DIR`): [`DB_FILE`] (plus its `-wal`/`-shm` companions),
//! the [`BLOBS_DIR`] tree of receipt objects, `sheets/<tab>.csv` ([`CsvSheet`]) and
//! `mail/<key>.eml` + `.json` ([`FileMailer`]). Work messages travel on [`LocalBus`].

mod blobs;
mod bus;
mod mailer;
mod sheet;
mod store;
mod sweep;
mod writer;

pub use blobs::FsBlobs;
pub use bus::LocalBus;
pub use mailer::{FileMailer, to_eml};
pub use sheet::{CsvSheet, UTF8_BOM, cell_text};
pub use store::{SCHEMA_VERSION, SqliteStore};

use domain::ports::{BlobError, StoreError};
use std::path::PathBuf;

/// File name of the SQLite database inside the data directory.
pub const DB_FILE: &str = "registro.sqlite3";

/// Directory of the blob objects inside the data directory.
pub const BLOBS_DIR: &str = "blobs";

/// Directory of the CSV sheet tabs inside the data directory.
pub const SHEETS_DIR: &str = "sheets";

/// Directory of the written e-mails inside the data directory.
pub const MAIL_DIR: &str = "mail";

/// Errors of opening and maintaining the embedded backend. Port calls answer with the port's own
/// error types ([`StoreError`], [`BlobError`]); this enum covers setup and operator tasks.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database {path} has schema version {found}; this build understands up to {supported}")]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("database {path} refused WAL journaling (journal_mode is {mode})")]
    NoWal { path: PathBuf, mode: String },
    #[error("cannot prepare directory {path}: {source}")]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the database writer thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Blob(#[from] BlobError),
}

/// Creates a directory of the data directory (and its parents) if missing.
pub(crate) fn ensure_dir(dir: PathBuf) -> Result<PathBuf, LocalError> {
    std::fs::create_dir_all(&dir).map_err(|source| LocalError::Dir {
        path: dir.clone(),
        source,
    })?;
    Ok(dir)
}

/// Creates a new file readable by its owner only (sheets and e-mails hold personal data).
pub(crate) fn private_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}
