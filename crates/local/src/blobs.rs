//! [`Blobs`] on the local file system: one file per object under a root directory.
//!
//! Writes are create-only and durable before they return: the bytes go to a temporary file in
//! the target directory, are fsync'd and checked against their SHA-256, and are then
//! hard-linked into place (a link never replaces an existing file, so two writers of one name
//! cannot clobber each other) and the directory is fsync'd. A crash leaves at worst a
//! `.<name>.tmp-<random>` file, which listings skip and the orphan sweeper removes.

use crate::LocalError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::ports::{BlobError, BlobInfo, Blobs};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Marks temporary files: `.<file name>.tmp-<random hex>`.
const TEMP_MARKER: &str = ".tmp-";

/// Receipt objects as files under `root/<object name>`.
#[derive(Debug, Clone)]
pub struct FsBlobs {
    root: PathBuf,
}

/// One file found by a walk; `temp` for unfinished writes.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Path relative to the root, with `/` separators.
    pub name: String,
    pub size: u64,
    pub modified: DateTime<Utc>,
    pub temp: bool,
}

impl FsBlobs {
    /// Uses `root` (created if missing) as the bucket.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, LocalError> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(|source| LocalError::Dir {
            path: root.clone(),
            source,
        })?;
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, name: &str) -> Result<PathBuf, BlobError> {
        validate_name(name)?;
        Ok(self.root.join(name))
    }

    /// Every file (temporary ones included) whose name starts with `prefix`, sorted by name.
    pub(crate) async fn walk(&self, prefix: &str) -> Result<Vec<Entry>, BlobError> {
        // Start at the deepest directory the prefix names, so listing `uploads/x/` does not
        // read the whole tree.
        let dir_part = prefix.rfind('/').map_or("", |i| &prefix[..i]);
        if !dir_part.is_empty() {
            validate_name(dir_part)?;
        }
        let root = self.root.clone();
        let start = if dir_part.is_empty() {
            root.clone()
        } else {
            root.join(dir_part)
        };
        let prefix = prefix.to_owned();
        blocking(move || {
            let mut entries = walk_tree(&root, &start)?;
            entries.retain(|e| e.name.starts_with(&prefix));
            entries.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(entries)
        })
        .await
    }

    /// Removes a file found by [`FsBlobs::walk`] (temporary ones included); missing is fine.
    pub(crate) async fn remove_entry(&self, name: &str) -> Result<(), BlobError> {
        if name.is_empty()
            || name.starts_with('/')
            || name.contains('\\')
            || name
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(BlobError::Permanent("invalid object name".into()));
        }
        let path = self.root.join(name);
        blocking(move || remove_if_present(&path)).await
    }
}

#[async_trait]
impl Blobs for FsBlobs {
    async fn put_new(
        &self,
        name: &str,
        bytes: &[u8],
        _content_type: &str,
        sha256_hex: &str,
    ) -> Result<(), BlobError> {
        // The file system keeps no content type; readers sniff receipts by their magic bytes.
        let target = self.path_of(name)?;
        let root = self.root.clone();
        let bytes = bytes.to_vec();
        let sha = sha256_hex.to_owned();
        blocking(move || put_new_blocking(&root, &target, &bytes, &sha)).await
    }

    async fn get(&self, name: &str) -> Result<Vec<u8>, BlobError> {
        let path = self.path_of(name)?;
        blocking(move || {
            fs::read(&path).map_err(|e| match e.kind() {
                io::ErrorKind::NotFound | io::ErrorKind::IsADirectory => BlobError::NotFound,
                _ => io_err(&e),
            })
        })
        .await
    }

    async fn delete(&self, name: &str) -> Result<(), BlobError> {
        let path = self.path_of(name)?;
        blocking(move || remove_if_present(&path)).await
    }

    async fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<BlobInfo>, BlobError> {
        // `walk` sorts by name (String order is byte order).
        Ok(self
            .walk(prefix)
            .await?
            .into_iter()
            .filter(|e| !e.temp && after.is_none_or(|a| e.name.as_str() > a))
            .take(limit)
            .map(|e| BlobInfo {
                name: e.name,
                size: e.size,
                created_at: e.modified,
            })
            .collect())
    }
}

/// Object names are relative `/`-separated paths of plain segments. Segments starting with a
/// dot are refused too: that keeps `.`/`..` out and temporary files unambiguous.
fn validate_name(name: &str) -> Result<(), BlobError> {
    let ok = !name.is_empty()
        && !name.starts_with('/')
        && !name.contains('\\')
        && !name.contains('\0')
        && name
            .split('/')
            .all(|seg| !seg.is_empty() && !seg.starts_with('.'));
    if ok {
        Ok(())
    } else {
        Err(BlobError::Permanent("invalid object name".into()))
    }
}

fn put_new_blocking(
    root: &Path,
    target: &Path,
    bytes: &[u8],
    sha256_hex: &str,
) -> Result<(), BlobError> {
    let (Some(dir), Some(file_name)) = (target.parent(), target.file_name()) else {
        return Err(BlobError::Permanent("invalid object name".into()));
    };
    if fs::symlink_metadata(target).is_ok() {
        return Err(BlobError::AlreadyExists);
    }
    ensure_dir(root, dir).map_err(|e| io_err(&e))?;

    let temp = dir.join(format!(
        ".{}{TEMP_MARKER}{:016x}",
        file_name.to_string_lossy(),
        rand::random::<u64>()
    ));
    let placed = write_verified(&temp, bytes, sha256_hex).and_then(|()| {
        fs::hard_link(&temp, target).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => BlobError::AlreadyExists,
            _ => io_err(&e),
        })
    });
    let cleaned = remove_if_present(&temp);
    placed?;
    cleaned?;
    // Makes both the new link and the removal of the temporary name durable.
    fsync_dir(dir).map_err(|e| io_err(&e))
}

fn write_verified(temp: &Path, bytes: &[u8], sha256_hex: &str) -> Result<(), BlobError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        // Receipts are personal data: owner-only.
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(temp).map_err(|e| io_err(&e))?;
    file.write_all(bytes).map_err(|e| io_err(&e))?;
    file.sync_all().map_err(|e| io_err(&e))?;
    drop(file);
    let written = fs::read(temp).map_err(|e| io_err(&e))?;
    let digest = hex::encode(Sha256::digest(&written));
    if !digest.eq_ignore_ascii_case(sha256_hex.trim()) {
        return Err(BlobError::Permanent(
            "stored bytes do not match the expected SHA-256".into(),
        ));
    }
    Ok(())
}

/// Creates `dir` if needed and, when it did, fsyncs its ancestors up to `root` so the new
/// directory entries survive a crash too.
fn ensure_dir(root: &Path, dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir)?;
    let mut current = dir;
    while current != root {
        let Some(parent) = current.parent() else {
            break;
        };
        if !parent.starts_with(root) {
            break;
        }
        fsync_dir(parent)?;
        current = parent;
    }
    Ok(())
}

fn fsync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

fn remove_if_present(path: &Path) -> Result<(), BlobError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(&e)),
    }
}

fn walk_tree(root: &Path, start: &Path) -> Result<Vec<Entry>, BlobError> {
    let mut out = Vec::new();
    let mut dirs = vec![start.to_owned()];
    while let Some(dir) = dirs.pop() {
        let read = match fs::read_dir(&dir) {
            Ok(read) => read,
            // The prefix names no directory, or a concurrent delete removed it.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                continue;
            }
            Err(e) => return Err(io_err(&e)),
        };
        for item in read {
            let item = item.map_err(|e| io_err(&e))?;
            let Ok(kind) = item.file_type() else {
                continue;
            };
            let path = item.path();
            if kind.is_dir() {
                dirs.push(path);
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let Some(name) = relative_name(root, &path) else {
                continue;
            };
            let meta = match item.metadata() {
                Ok(meta) => meta,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(&e)),
            };
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            let file = item.file_name();
            let file = file.to_string_lossy();
            out.push(Entry {
                temp: file.starts_with('.') && file.contains(TEMP_MARKER),
                name,
                size: meta.len(),
                modified: DateTime::<Utc>::from(modified),
            });
        }
    }
    Ok(out)
}

fn relative_name(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

/// Missing files, permissions and bad paths will not fix themselves; anything else (a full
/// disk, an interrupted call, I/O trouble) may.
fn io_err(e: &io::Error) -> BlobError {
    match e.kind() {
        io::ErrorKind::PermissionDenied
        | io::ErrorKind::InvalidInput
        | io::ErrorKind::InvalidData
        | io::ErrorKind::IsADirectory
        | io::ErrorKind::NotADirectory
        | io::ErrorKind::ReadOnlyFilesystem
        | io::ErrorKind::Unsupported => BlobError::Permanent(e.to_string()),
        _ => BlobError::Unavailable(e.to_string()),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BlobError> + Send + 'static,
) -> Result<T, BlobError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        if e.is_panic() {
            BlobError::Permanent("blob operation panicked".into())
        } else {
            BlobError::Unavailable("blob operation was cancelled".into())
        }
    })?
}
