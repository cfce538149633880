//! The object store queries read local files through: `object_store`'s local file system, except
//! that a metadata request (`head`) reads the file's metadata without opening the file.
//!
//! A `ListingTable` given one URL per file asks for the metadata of all its files at once, and
//! the local file system answers a `head` by opening the file and handing back the open file
//! with the metadata. The answers of the files whose turn has not come yet keep their files
//! open, so a scan of more files than the process may open (a month of parts: tens of
//! thousands) failed with "Too many open files". Here no file is opened to answer a `head`.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

/// The local file system, with `head` answered from metadata alone.
#[derive(Debug, Default)]
pub struct LocalFiles {
    inner: LocalFileSystem,
}

impl LocalFiles {
    /// The whole local file system (`file:///`).
    pub fn new() -> LocalFiles {
        LocalFiles::default()
    }

    /// What a `head` of `location` answers: its metadata, the file not opened.
    async fn metadata(&self, location: &Path) -> Result<ObjectMeta> {
        let path = self.inner.path_to_filesystem(location)?;
        let location = location.clone();
        let read = tokio::task::spawn_blocking(move || std::fs::metadata(&path).map(|m| (path, m)));
        let (path, metadata) = match read.await {
            Ok(Ok(found)) => found,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(object_store::Error::NotFound {
                    path: location.to_string(),
                    source: Box::new(e),
                });
            }
            Ok(Err(e)) => {
                return Err(object_store::Error::Generic {
                    store: "LocalFiles",
                    source: Box::new(e),
                });
            }
            Err(e) => {
                return Err(object_store::Error::JoinError { source: e });
            }
        };
        if metadata.is_dir() {
            return Err(object_store::Error::NotFound {
                path: path.display().to_string(),
                source: "is a directory".into(),
            });
        }
        Ok(meta_of(location, &metadata))
    }
}

/// The metadata `object_store`'s local file system gives, from `metadata`: size, modification
/// time and an e-tag of inode, modification time (microseconds) and size.
fn meta_of(location: Path, metadata: &std::fs::Metadata) -> ObjectMeta {
    use std::os::unix::fs::MetadataExt;
    let modified = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let micros = modified
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros();
    ObjectMeta {
        location,
        last_modified: DateTime::<Utc>::from(modified),
        size: metadata.len(),
        e_tag: Some(format!("{:x}-{micros:x}-{:x}", metadata.ino(), metadata.len())),
        version: None,
    }
}

impl fmt::Display for LocalFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LocalFiles({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for LocalFiles {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        if !options.head {
            return self.inner.get_opts(location, options).await;
        }
        let meta = self.metadata(location).await?;
        options.check_preconditions(&meta)?;
        let range = match &options.range {
            Some(r) => r.as_range(meta.size).map_err(|source| object_store::Error::Generic {
                store: "LocalFiles",
                source: Box::new(source),
            })?,
            None => 0..meta.size,
        };
        Ok(GetResult {
            payload: GetResultPayload::Stream(Box::pin(futures::stream::empty())),
            attributes: Default::default(),
            range,
            meta,
        })
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

/// The store for the `file://` URLs of a runtime.
pub fn local_files() -> Arc<dyn ObjectStore> {
    Arc::new(LocalFiles::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;

    #[tokio::test]
    async fn head_gives_the_local_file_systems_metadata() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("part.parquet");
        std::fs::write(&file, b"0123456789").unwrap();
        let location = Path::from_filesystem_path(&file).unwrap();
        let ours = LocalFiles::new().head(&location).await.unwrap();
        let theirs = LocalFileSystem::new().head(&location).await.unwrap();
        assert_eq!(ours, theirs);
        let missing =
            Path::from_filesystem_path(tmp.path().join("gone.parquet")).unwrap_or_else(|_| Path::from("gone.parquet"));
        let err = LocalFiles::new().head(&missing).await.unwrap_err();
        assert!(matches!(err, object_store::Error::NotFound { .. }), "{err}");
        let dir = Path::from_filesystem_path(tmp.path()).unwrap();
        assert!(matches!(
            LocalFiles::new().head(&dir).await.unwrap_err(),
            object_store::Error::NotFound { .. }
        ));
        let bytes = LocalFiles::new().get_range(&location, 2..5).await.unwrap();
        assert_eq!(&bytes[..], b"234");
    }

    /// Many `head`s at once hold no file open: the flaw this store exists for.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_heads_at_once_open_no_file() {
        let tmp = tempfile::tempdir().unwrap();
        let locations: Vec<Path> = (0..2000)
            .map(|i| {
                let file = tmp.path().join(format!("{i}.parquet"));
                std::fs::write(&file, b"x").unwrap();
                Path::from_filesystem_path(&file).unwrap()
            })
            .collect();
        let store = LocalFiles::new();
        let open_before = open_files_under(tmp.path());
        let heads = locations.iter().map(|l| {
            store.get_opts(
                l,
                GetOptions {
                    head: true,
                    ..Default::default()
                },
            )
        });
        let results = futures::future::try_join_all(heads).await.unwrap();
        assert_eq!(results.len(), 2000);
        assert_eq!(
            open_files_under(tmp.path()),
            open_before,
            "a head answer holds its file open"
        );
    }

    /// Descriptors of this process open on files under `dir`.
    fn open_files_under(dir: &std::path::Path) -> usize {
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .flatten()
            .filter(|e| std::fs::read_link(e.path()).is_ok_and(|t| t.starts_with(dir)))
            .count()
    }
}
