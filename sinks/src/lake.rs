//! The lake: a root URL, its object store, and where each table's files live.

use crate::error::SinkError;
use crate::schema::Table;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use std::path::PathBuf;
use std::sync::Arc;

/// An opened lake.
#[derive(Clone, Debug)]
pub struct Lake {
    url: String,
    root: Path,
    store: Arc<dyn ObjectStore>,
}

impl Lake {
    /// Opens a lake: `file://./lake` (relative to the working directory), `file:///abs`, or a
    /// plain path. A local lake directory is created when missing.
    pub fn open(url: &str) -> Result<Lake, SinkError> {
        let invalid = |reason: String| SinkError::InvalidLake { url: url.to_string(), reason };
        if url.starts_with("s3://") {
            return Err(invalid("s3:// lakes are not available in this build yet".into()));
        }
        let path = match url.strip_prefix("file://") {
            Some(p) => PathBuf::from(p),
            None if url.contains("://") => return Err(invalid("unsupported scheme; use file://PATH or a plain path".into())),
            None => PathBuf::from(url),
        };
        if path.as_os_str().is_empty() {
            return Err(invalid("empty path".into()));
        }
        std::fs::create_dir_all(&path).map_err(|e| invalid(format!("cannot create {}: {e}", path.display())))?;
        let abs = path.canonicalize().map_err(|e| invalid(format!("cannot resolve {}: {e}", path.display())))?;
        let root = Path::from_absolute_path(&abs).map_err(|e| invalid(e.to_string()))?;
        Ok(Lake { url: format!("file://{}/", abs.display()), root, store: Arc::new(LocalFileSystem::new()) })
    }

    /// Normalised root URL, ending in `/` (e.g. `file:///home/me/lake/`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The object store holding the lake.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// URL of a table's directory, ending in `/`, for readers such as DataFusion.
    pub fn table_url(&self, table: Table) -> String {
        format!("{}{}/", self.url, table.name())
    }

    /// Object path of a table's directory.
    pub fn table_path(&self, table: Table) -> Path {
        self.root.clone().join(table.name())
    }
}

impl Lake {
    /// Creates every table's directory (local lakes), so that tables list as empty before the
    /// first file is written.
    pub fn ensure_table_dirs(&self) -> Result<(), SinkError> {
        if let Some(root) = self.url.strip_prefix("file://") {
            for t in Table::ALL {
                let dir = PathBuf::from(root).join(t.name());
                std::fs::create_dir_all(&dir)
                    .map_err(|e| SinkError::InvalidLake { url: self.url.clone(), reason: format!("cannot create {}: {e}", dir.display()) })?;
            }
        }
        Ok(())
    }
}
