//! The lake: a root URL (`file://` or `s3://`), its object store, where each table's files live,
//! and uploads (one atomic put, or a multipart upload above the threshold, aborted on failure).
//! Which files are *visible* is decided by the commit log (`commit_log.rs`), not by listing.

use crate::error::SinkError;
use crate::schema::Table;
use bytes::Bytes;
use itscam_types::config::{PartitionBy, S3Config};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where the lake lives.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Place {
    /// A local directory (absolute, canonical).
    Local(PathBuf),
    /// An S3 bucket; the prefix is the lake's root path.
    S3 { bucket: String },
}

/// An opened lake.
#[derive(Clone, Debug)]
pub struct Lake {
    url: String,
    root: Path,
    place: Place,
    store: Arc<dyn ObjectStore>,
    /// (threshold, part size) for multipart uploads; `None` for local lakes.
    multipart: Option<(u64, u64)>,
    /// The directories new files are written to (`[lake] partition_by`).
    partition_by: PartitionBy,
}

impl Lake {
    /// Opens a lake: `file://./lake` (relative to the working directory), `file:///abs`, a plain
    /// path, or `s3://bucket/prefix` with its settings from the environment only (see
    /// [`Lake::open_with`]). A local lake directory is created when missing. Opening does no
    /// network I/O: call [`Lake::verify`] (readers) or [`Lake::init_log`] (writers) to find a
    /// missing bucket or bad credentials at start-up.
    pub fn open(url: &str) -> Result<Lake, SinkError> {
        Lake::open_with(url, &S3Config::default())
    }

    /// Opens a lake with `[lake.s3]` settings; unset keys come from the AWS environment
    /// variables (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, …).
    pub fn open_with(url: &str, s3: &S3Config) -> Result<Lake, SinkError> {
        let invalid = |reason: String| SinkError::InvalidLake { url: url.to_string(), reason };
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(invalid("no bucket; use s3://bucket/prefix".into()));
            }
            let prefix = prefix.trim_matches('/');
            let store = s3_store(bucket, s3).map_err(|e| invalid(e.to_string()))?;
            let url = if prefix.is_empty() { format!("s3://{bucket}/") } else { format!("s3://{bucket}/{prefix}/") };
            let multipart = Some((s3.multipart_threshold_bytes, s3.multipart_part_bytes));
            return Ok(Lake { url, root: Path::from(prefix), place: Place::S3 { bucket: bucket.into() }, store: Arc::new(store), multipart, partition_by: PartitionBy::default() });
        }
        let path = match url.strip_prefix("file://") {
            Some(p) => PathBuf::from(p),
            None if url.contains("://") => return Err(invalid("unsupported scheme; use file://PATH, a plain path or s3://bucket/prefix".into())),
            None => PathBuf::from(url),
        };
        if path.as_os_str().is_empty() {
            return Err(invalid("empty path".into()));
        }
        std::fs::create_dir_all(&path).map_err(|e| invalid(format!("cannot create {}: {e}", path.display())))?;
        let abs = path.canonicalize().map_err(|e| invalid(format!("cannot resolve {}: {e}", path.display())))?;
        let root = Path::from_absolute_path(&abs).map_err(|e| invalid(e.to_string()))?;
        Ok(Lake {
            url: format!("file://{}/", abs.display()),
            root,
            place: Place::Local(abs),
            store: Arc::new(LocalFileSystem::new()),
            multipart: None,
            partition_by: PartitionBy::default(),
        })
    }

    /// The same lake, writing new files laid out by `partition_by` (readers read every layout,
    /// whatever this says; compaction keeps each file's own).
    pub fn with_partition_by(mut self, partition_by: PartitionBy) -> Lake {
        self.partition_by = partition_by;
        self
    }

    /// How new files are laid out ([`PartitionBy::Date`] unless set).
    pub fn partition_by(&self) -> PartitionBy {
        self.partition_by
    }

    /// Whether the lake is remote (S3): its failures may pass, a local directory's do not.
    pub fn is_remote(&self) -> bool {
        matches!(self.place, Place::S3 { .. })
    }

    /// Normalised root URL, ending in `/` (e.g. `file:///home/me/lake/`, `s3://bucket/prefix/`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The object store holding the lake.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// URL of the object store as a whole, for registering it with readers such as DataFusion
    /// (`s3://bucket` or `file:///`); object paths ([`Lake::table_path`], [`Lake::path_of`]) are
    /// relative to it.
    pub fn store_url(&self) -> String {
        match &self.place {
            Place::Local(_) => "file:///".into(),
            Place::S3 { bucket } => format!("s3://{bucket}"),
        }
    }

    /// The bucket of an S3 lake.
    pub fn bucket(&self) -> Option<&str> {
        match &self.place {
            Place::S3 { bucket } => Some(bucket),
            Place::Local(_) => None,
        }
    }

    /// URL of a table's directory, ending in `/`.
    pub fn table_url(&self, table: Table) -> String {
        format!("{}{}/", self.url, table.name())
    }

    /// Object path of a table's directory.
    pub fn table_path(&self, table: Table) -> Path {
        self.root.clone().join(table.name())
    }

    /// Object path of the lake's root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Object path of a path relative to the lake root (`detections/camera_id=…/x.parquet`).
    pub fn path_of(&self, relative: &str) -> Path {
        if self.root.as_ref().is_empty() { Path::from(relative) } else { Path::from(format!("{}/{relative}", self.root)) }
    }

    /// A path relative to the lake root; `None` when outside it.
    pub fn relative<'a>(&self, path: &'a Path) -> Option<&'a str> {
        let p = path.as_ref();
        if self.root.as_ref().is_empty() {
            return Some(p);
        }
        p.strip_prefix(self.root.as_ref())?.strip_prefix('/')
    }

    /// Full URL of an object of this lake's store (`s3://bucket/key`, `file:///path`).
    pub fn object_url(&self, path: &Path) -> String {
        match &self.place {
            Place::Local(_) => format!("file:///{path}"),
            Place::S3 { bucket } => format!("s3://{bucket}/{path}"),
        }
    }

    /// Names an object for an error message: bucket and key on S3, the file path locally.
    pub fn describe(&self, path: &Path) -> String {
        match &self.place {
            Place::Local(_) => format!("/{path}"),
            Place::S3 { bucket } => format!("bucket {bucket:?}, key {:?}", path.as_ref()),
        }
    }

    /// A storage error on `path`, naming the bucket and key.
    pub(crate) fn storage_error(&self, path: &Path, source: object_store::Error) -> SinkError {
        SinkError::Storage { location: self.describe(path), reason: crate::error::short_reason(&source), source: Box::new(source) }
    }

    /// Start-up check for readers: lists the lake's root, so that a missing bucket, a wrong
    /// endpoint or bad credentials are an error naming the bucket and key now, not at the first
    /// query. Local lakes: also creates the table directories.
    pub async fn verify(&self) -> Result<(), SinkError> {
        self.ensure_table_dirs()?;
        let prefix = (!self.root.as_ref().is_empty()).then_some(&self.root);
        self.store.list_with_delimiter(prefix).await.map_err(|e| self.unreachable(&self.root, e))?;
        Ok(())
    }

    /// Turns a failure of the start-up check into an error saying what to check.
    pub(crate) fn unreachable(&self, path: &Path, e: object_store::Error) -> SinkError {
        let status = crate::error::http_status(&e);
        let hint = match (&self.place, &e, status) {
            (Place::S3 { .. }, object_store::Error::NotFound { .. }, _) | (Place::S3 { .. }, _, Some(404)) => "does the bucket exist?",
            (Place::S3 { .. }, object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. }, _)
            | (Place::S3 { .. }, _, Some(401 | 403)) => {
                "check the credentials ([lake.s3] access_key_id / secret_access_key or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) and the bucket's policy"
            }
            (Place::S3 { .. }, _, _) => "check [lake.s3] endpoint (or AWS_ENDPOINT_URL), the credentials and that the bucket exists",
            (Place::Local(_), _, _) => "check the directory and its permissions",
        };
        let reason = crate::error::short_reason(&e);
        SinkError::Unreachable { url: self.url.clone(), location: self.describe(path), reason, hint, source: Box::new(e) }
    }

    /// Creates every table's directory (local lakes), so that tables list as empty before the
    /// first file is written. Does nothing on S3 (no directories there).
    pub fn ensure_table_dirs(&self) -> Result<(), SinkError> {
        if let Place::Local(root) = &self.place {
            for t in Table::ALL {
                let dir = root.join(t.name());
                std::fs::create_dir_all(&dir)
                    .map_err(|e| SinkError::InvalidLake { url: self.url.clone(), reason: format!("cannot create {}: {e}", dir.display()) })?;
            }
        }
        Ok(())
    }

    /// Stores a finished file: one put (retried on transient failures), or a multipart upload
    /// when it is larger than `[lake.s3] multipart_threshold_bytes` — aborted on any failure,
    /// so no partial object is left behind. Either way the object appears whole or not at all.
    pub async fn put_file(&self, path: &Path, bytes: Bytes) -> Result<(), SinkError> {
        match self.multipart {
            Some((threshold, part)) if bytes.len() as u64 > threshold => self.put_multipart(path, bytes, part as usize).await,
            _ => self.put_with_retry(path, bytes).await,
        }
    }

    async fn put_with_retry(&self, path: &Path, bytes: Bytes) -> Result<(), SinkError> {
        let mut delay = Duration::from_millis(100);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.store.put(path, PutPayload::from_bytes(bytes.clone())).await {
                Ok(_) => return Ok(()),
                Err(e) if attempt < 4 && transient(&e) => {
                    tracing::warn!(%path, attempt, error = %e, "lake write failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 4;
                }
                Err(e) => return Err(self.storage_error(path, e)),
            }
        }
    }

    async fn put_multipart(&self, path: &Path, bytes: Bytes, part: usize) -> Result<(), SinkError> {
        let mut upload = self.store.put_multipart(path).await.map_err(|e| self.storage_error(path, e))?;
        let parts: Vec<_> = (0..bytes.len()).step_by(part).map(|at| upload.put_part(bytes.slice(at..(at + part).min(bytes.len())).into())).collect();
        let result = match futures::future::try_join_all(parts).await {
            Ok(_) => upload.complete().await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            if let Err(abort) = upload.abort().await {
                tracing::warn!(%path, error = %abort, "aborting a failed multipart upload failed too");
            }
            return Err(self.storage_error(path, e));
        }
        tracing::debug!(%path, bytes = bytes.len(), "multipart upload complete");
        Ok(())
    }
}

/// Failures worth another try (the S3 client already retried its own requests).
fn transient(e: &object_store::Error) -> bool {
    !matches!(
        e,
        object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. }
            | object_store::Error::NotFound { .. }
            | object_store::Error::NotImplemented { .. }
            | object_store::Error::AlreadyExists { .. }
            | object_store::Error::Precondition { .. }
    )
}

/// Builds the S3 client: `[lake.s3]` keys over the AWS environment variables.
fn s3_store(bucket: &str, s3: &S3Config) -> object_store::Result<object_store::aws::AmazonS3> {
    use object_store::aws::AmazonS3ConfigKey;
    let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
    if let Some(e) = &s3.endpoint {
        b = b.with_endpoint(e);
    }
    let endpoint = b.get_config_value(&AmazonS3ConfigKey::Endpoint);
    if let Some(r) = &s3.region {
        b = b.with_region(r);
    } else if b.get_config_value(&AmazonS3ConfigKey::Region).is_none() {
        let region = b.get_config_value(&AmazonS3ConfigKey::DefaultRegion).unwrap_or_else(|| "us-east-1".into());
        b = b.with_region(region);
    }
    if let (Some(k), Some(s)) = (&s3.access_key_id, &s3.secret_access_key) {
        b = b.with_access_key_id(k).with_secret_access_key(s);
    }
    let http = endpoint.as_deref().is_some_and(|e| e.starts_with("http://"));
    if let Some(allow) = s3.allow_http.or(http.then_some(true)) {
        b = b.with_allow_http(allow);
    }
    let path_style = s3.path_style.unwrap_or(endpoint.is_some());
    b = b.with_virtual_hosted_style_request(!path_style);
    // The defaults retry for up to 3 minutes; a lake that is down should be an error sooner.
    let retry = RetryConfig { max_retries: 4, retry_timeout: Duration::from_secs(30), ..RetryConfig::default() };
    b.with_retry(retry).build()
}
